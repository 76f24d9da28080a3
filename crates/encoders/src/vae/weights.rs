//! Reading PyTorch-named tensors from a safetensors file into burn layers, with shape checks
//! against the layer the config built. F32, F16 and BF16 files are converted to f32.
//!
//! Used by the autoencoder and by CLIP (`crate::clip`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, Metadata};

use super::error::LoadError;

/// An open safetensors file: header parsed once, tensors converted on demand.
pub struct Weights {
    path: PathBuf,
    bytes: Vec<u8>,
    header_len: usize,
    metadata: Metadata,
    device: Device,
    used: Mutex<BTreeSet<String>>,
}

impl Weights {
    /// Reads `path`; `expected` says what the file should be (for the error message).
    pub fn open(path: &Path, expected: &str, device: &Device) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            source,
        })?;
        Self::from_bytes(path, bytes, device)
    }

    /// Parses an in-memory safetensors buffer; `path` is only used in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, device: &Device) -> Result<Self, LoadError> {
        let (header_len, metadata) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
                LoadError::Safetensors {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                }
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            header_len,
            metadata,
            device: device.clone(),
            used: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the file holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.metadata.info(name).is_some()
    }

    /// Names in the file that no load call has read (sorted).
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().expect("not poisoned");
        let mut all: Vec<String> = self
            .metadata
            .tensors()
            .into_keys()
            .filter(|k| !used.contains(k))
            .collect();
        all.sort();
        all
    }

    /// The shape stored for `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.metadata.info(name).map(|i| i.shape.clone())
    }

    /// Tensor `name` as f32 values, checked against `expected` (row-major, PyTorch layout).
    pub fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let info = self
            .metadata
            .info(name)
            .ok_or_else(|| LoadError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
            })?;
        if info.shape != expected {
            return Err(LoadError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: info.shape.clone(),
            });
        }
        let (start, end) = info.data_offsets;
        let raw = &self.bytes[8 + self.header_len + start..8 + self.header_len + end];
        let values: Vec<f32> = match info.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(LoadError::Dtype {
                    path: self.path.clone(),
                    name: name.to_string(),
                    found: format!("{other:?}"),
                });
            }
        };
        self.used
            .lock()
            .expect("not poisoned")
            .insert(name.to_string());
        Ok(values)
    }

    /// Tensor `name` with shape `expected`.
    pub fn tensor<const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
    ) -> Result<Tensor<D>, LoadError> {
        let v = self.values(name, &expected)?;
        Ok(Tensor::from_data(
            TensorData::new(v, expected),
            &self.device,
        ))
    }

    fn param<const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
    ) -> Result<Param<Tensor<D>>, LoadError> {
        Ok(Param::from_tensor(self.tensor(name, expected)?))
    }

    /// `nn.Linear` at `prefix` (`.weight` `[out, in]`, transposed to burn's `[in, out]`, and
    /// `.bias` when the layer has one).
    pub fn linear(&self, layer: &mut Linear, prefix: &str) -> Result<(), LoadError> {
        let [d_in, d_out] = layer.weight.lazy_shape().dims::<2>();
        let w = self.tensor::<2>(&format!("{prefix}.weight"), [d_out, d_in])?;
        layer.weight = Param::from_tensor(w.transpose());
        if layer.bias.is_some() {
            layer.bias = Some(self.param(&format!("{prefix}.bias"), [d_out])?);
        }
        Ok(())
    }

    /// Like [`Weights::linear`], but also accepts the weight stored as a 1x1 convolution
    /// `[out, in, 1, 1]` (old LDM/diffusers attention checkpoints).
    pub fn linear_or_conv1x1(&self, layer: &mut Linear, prefix: &str) -> Result<(), LoadError> {
        let [d_in, d_out] = layer.weight.lazy_shape().dims::<2>();
        let name = format!("{prefix}.weight");
        if self.shape_of(&name).as_deref() == Some(&[d_out, d_in, 1, 1][..]) {
            let w = self.tensor::<4>(&name, [d_out, d_in, 1, 1])?;
            layer.weight = Param::from_tensor(w.reshape([d_out, d_in]).transpose());
            if layer.bias.is_some() {
                layer.bias = Some(self.param(&format!("{prefix}.bias"), [d_out])?);
            }
            return Ok(());
        }
        self.linear(layer, prefix)
    }

    /// `nn.Conv2d` at `prefix` (`.weight` `[out, in / groups, kh, kw]`, optional `.bias`).
    pub fn conv2d(&self, layer: &mut Conv2d, prefix: &str) -> Result<(), LoadError> {
        let shape = layer.weight.lazy_shape().dims::<4>();
        layer.weight = self.param(&format!("{prefix}.weight"), shape)?;
        if layer.bias.is_some() {
            layer.bias = Some(self.param(&format!("{prefix}.bias"), [shape[0]])?);
        }
        Ok(())
    }

    /// `nn.GroupNorm` at `prefix` (`.weight`, `.bias`).
    pub fn group_norm(&self, layer: &mut GroupNorm, prefix: &str) -> Result<(), LoadError> {
        let c = layer.num_channels;
        if layer.affine {
            layer.gamma = Some(self.param(&format!("{prefix}.weight"), [c])?);
            layer.beta = Some(self.param(&format!("{prefix}.bias"), [c])?);
        }
        Ok(())
    }

    /// `nn.LayerNorm` at `prefix` (`.weight`, `.bias`).
    pub fn layer_norm(&self, layer: &mut LayerNorm, prefix: &str) -> Result<(), LoadError> {
        let [d] = layer.gamma.lazy_shape().dims::<1>();
        layer.gamma = self.param(&format!("{prefix}.weight"), [d])?;
        if layer.beta.is_some() {
            layer.beta = Some(self.param(&format!("{prefix}.bias"), [d])?);
        }
        Ok(())
    }

    /// `nn.Embedding` at `prefix` (`.weight` `[n, d]`, same layout in burn).
    pub fn embedding(&self, layer: &mut Embedding, prefix: &str) -> Result<(), LoadError> {
        let shape = layer.weight.lazy_shape().dims::<2>();
        layer.weight = self.param(&format!("{prefix}.weight"), shape)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use safetensors::tensor::TensorView;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn linear_is_transposed_and_f16_converted() {
        let device = Device::flex();
        let w = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]); // [out 2, in 3]
        let b: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        let bytes = file(&[
            ("l.weight", Dtype::F32, vec![2, 3], w),
            ("l.bias", Dtype::F16, vec![2], b),
        ]);
        let ws = Weights::from_bytes(Path::new("m.safetensors"), bytes, &device).unwrap();
        let mut lin = LinearConfig::new(3, 2).init(&device);
        ws.linear(&mut lin, "l").unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [1, 3]), &device);
        let y = lin.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1.0 + 3.0 + 0.5, 4.0 + 6.0 - 1.0]);
        assert!(ws.unused().is_empty());
    }

    #[test]
    fn errors_name_file_tensor_and_shapes() {
        let device = Device::flex();
        let bytes = file(&[("l.weight", Dtype::F32, vec![3, 2], f32_bytes(&[0.0; 6]))]);
        let ws = Weights::from_bytes(Path::new("dir/m.safetensors"), bytes, &device).unwrap();
        let mut lin = LinearConfig::new(3, 2).init(&device);
        let e = ws.linear(&mut lin, "l").unwrap_err().to_string();
        assert!(
            e.contains("dir/m.safetensors")
                && e.contains("`l.weight`")
                && e.contains("[2, 3]")
                && e.contains("[3, 2]"),
            "{e}"
        );
        let e = ws.linear(&mut lin, "other").unwrap_err().to_string();
        assert!(e.contains("missing tensor `other.weight`"), "{e}");
        let e = Weights::from_bytes(Path::new("x.safetensors"), vec![1, 2, 3], &device)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("x.safetensors: not a safetensors file"), "{e}");
    }
}
