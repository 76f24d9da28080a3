//! Reading a `model.safetensors` into burn tensors and layers, with errors that name the
//! file, the tensor, and the expected and found shapes.
//!
//! PyTorch layouts: `nn.Linear.weight` is `[out, in]` (burn's `Linear` stores `[in, out]`,
//! so [`Weights::linear`] transposes), `nn.LayerNorm` has `weight`/`bias`, `nn.Embedding`
//! has `weight` `[n, d]`. F16 and BF16 tensors are widened to F32.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::LoadError;

/// One safetensors file, read into memory; tensors are converted on request.
pub struct Weights {
    path: PathBuf,
    bytes: Vec<u8>,
    /// name -> (dtype, shape, byte range in `bytes`)
    index: HashMap<String, (Dtype, Vec<usize>, std::ops::Range<usize>)>,
}

impl Weights {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(LoadError::io(&path))?;
        let (header, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| LoadError::Parse {
            path: path.clone(),
            format: "safetensors".into(),
            message: e.to_string(),
        })?;
        let base = 8 + header;
        let index = meta
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (a, b) = info.data_offsets;
                (name, (info.dtype, info.shape.clone(), base + a..base + b))
            })
            .collect();
        Ok(Self { path, bytes, index })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.index.get(name).map(|(_, s, _)| s.as_slice())
    }

    /// The values of `name` as f32, checked against `expected`.
    pub fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let (dtype, shape, range) =
            self.index
                .get(name)
                .ok_or_else(|| LoadError::MissingTensor {
                    path: self.path.clone(),
                    tensor: name.into(),
                    expected: expected.to_vec(),
                })?;
        if shape.as_slice() != expected {
            return Err(LoadError::Shape {
                path: self.path.clone(),
                tensor: name.into(),
                expected: expected.to_vec(),
                found: shape.clone(),
            });
        }
        let raw = &self.bytes[range.clone()];
        let pairs = raw.chunks_exact(2).map(|c| [c[0], c[1]]);
        Ok(match dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => pairs
                .map(|b| half::f16::from_le_bytes(b).to_f32())
                .collect(),
            Dtype::BF16 => pairs
                .map(|b| half::bf16::from_le_bytes(b).to_f32())
                .collect(),
            other => {
                return Err(LoadError::Dtype {
                    path: self.path.clone(),
                    tensor: name.into(),
                    found: format!("{other:?}"),
                });
            }
        })
    }

    /// Tensor `name` of shape `expected`.
    pub fn tensor<const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, LoadError> {
        let v = self.values(name, &expected)?;
        Ok(Tensor::from_data(TensorData::new(v, expected), device))
    }

    /// `nn.Linear(d_in, d_out)` at `prefix` (`prefix.weight` `[out, in]`, `prefix.bias`).
    pub fn linear(
        &self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Linear, LoadError> {
        let w = self.tensor(&format!("{prefix}.weight"), [d_out, d_in], device)?;
        let b = if bias {
            Some(Param::from_tensor(self.tensor(
                &format!("{prefix}.bias"),
                [d_out],
                device,
            )?))
        } else {
            None
        };
        Ok(Linear {
            weight: Param::from_tensor(w.transpose()), // [in, out]
            bias: b,
        })
    }

    /// `nn.LayerNorm(d, eps)` at `prefix` (`prefix.weight`, `prefix.bias`).
    pub fn layer_norm(
        &self,
        prefix: &str,
        d: usize,
        eps: f64,
        device: &Device,
    ) -> Result<LayerNorm, LoadError> {
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(device);
        ln.gamma = Param::from_tensor(self.tensor(&format!("{prefix}.weight"), [d], device)?);
        ln.beta = Some(Param::from_tensor(self.tensor(
            &format!("{prefix}.bias"),
            [d],
            device,
        )?));
        Ok(ln)
    }

    /// `nn.Embedding(n, d)` at `name` (the weight tensor's full name).
    pub fn embedding(
        &self,
        name: &str,
        n: usize,
        d: usize,
        device: &Device,
    ) -> Result<Embedding, LoadError> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor(name, [n, d], device)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path) -> PathBuf {
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.5f32, -0.5]
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let views = vec![
            (
                "lin.weight",
                safetensors::tensor::TensorView::new(Dtype::F32, vec![2, 3], &w).unwrap(),
            ),
            (
                "lin.bias",
                safetensors::tensor::TensorView::new(Dtype::F16, vec![2], &b).unwrap(),
            ),
        ];
        let path = dir.join("model.safetensors");
        safetensors::serialize_to_file(views, None, &path).unwrap();
        path
    }

    #[test]
    fn linear_is_transposed_and_errors_name_file_and_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path());
        let device = Device::flex();
        let w = Weights::open(&path).unwrap();
        let lin = w.linear("lin", 3, 2, true, &device).unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [1, 3]), &device);
        let y = lin.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1.0 + 3.0 + 0.5, 4.0 + 6.0 - 0.5]);

        let e = w
            .linear("lin", 2, 3, true, &device)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("lin.weight"),
            "{e}"
        );
        assert!(e.contains("[3, 2]") && e.contains("[2, 3]"), "{e}");
        let e = w
            .linear("other", 3, 2, true, &device)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing tensor `other.weight`"), "{e}");
        let e = Weights::open(dir.path().join("nope.safetensors"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("nope.safetensors") && e.contains("missing"),
            "{e}"
        );
    }
}
