//! Reading PyTorch-named tensors from a safetensors file into burn layers, with shape checks
//! against the layer the config built. F32, F16 and BF16 files are converted to f32.
//!
//! Shared by every network of this crate (BERT, CLIP, the SD autoencoder).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use crate::error::LoadError;

/// One header entry: element type, shape, byte range in the data section.
#[derive(Clone, Debug)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// Where the bytes are: a file read tensor by tensor (so loading one tower of a 1.7 GB CLIP
/// file reads only that tower), or a buffer.
enum Source {
    File(Mutex<File>),
    Bytes(Vec<u8>),
}

/// An open safetensors file: header parsed once, tensors read and converted on demand.
pub struct Weights {
    path: PathBuf,
    source: Source,
    /// Offset of the data section (8 + header length).
    data_start: u64,
    entries: BTreeMap<String, Entry>,
    device: Device,
    used: Mutex<BTreeSet<String>>,
}

impl Weights {
    /// Opens `path` and reads its header; `expected` says what the file should be (for the
    /// error message).
    pub fn open(path: &Path, expected: &str, device: &Device) -> Result<Self, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let bad = |message: String| LoadError::Safetensors {
            path: path.to_path_buf(),
            message,
        };
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|e| bad(format!("cannot read the 8-byte header length ({e})")))?;
        let n = u64::from_le_bytes(n);
        if n > len.saturating_sub(8) || n > 100_000_000 {
            return Err(bad(format!(
                "header length {n} does not fit the file ({len} bytes)"
            )));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header)
            .map_err(|e| bad(format!("cannot read the header ({e})")))?;
        let entries = parse_header(&header, len - 8 - n).map_err(bad)?;
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::File(Mutex::new(file)),
            data_start: 8 + n,
            entries,
            device: device.clone(),
            used: Mutex::new(BTreeSet::new()),
        })
    }

    /// Parses an in-memory safetensors buffer; `path` is only used in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, device: &Device) -> Result<Self, LoadError> {
        let bad = |message: String| LoadError::Safetensors {
            path: path.to_path_buf(),
            message,
        };
        let n = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| bad("shorter than the 8-byte header length".into()))?;
        let total = bytes.len() as u64;
        if n > total - 8 {
            return Err(bad(format!(
                "header length {n} does not fit the file ({total} bytes)"
            )));
        }
        let entries = parse_header(&bytes[8..8 + n as usize], total - 8 - n).map_err(bad)?;
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::Bytes(bytes),
            data_start: 8 + n,
            entries,
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
        self.entries.contains_key(name)
    }

    /// Names in the file that no load call has read (sorted).
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().expect("not poisoned");
        self.entries
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }

    /// Fails with [`LoadError::Unused`] if some tensor was never read.
    pub fn ensure_all_used(&self) -> Result<(), LoadError> {
        let unused = self.unused();
        if unused.is_empty() {
            return Ok(());
        }
        let examples: Vec<String> = unused.iter().take(3).map(|n| format!("`{n}`")).collect();
        Err(LoadError::Unused {
            path: self.path.clone(),
            count: unused.len(),
            examples: examples.join(", "),
        })
    }

    /// The shape stored for `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.entries.get(name).map(|e| e.shape.clone())
    }

    fn raw(&self, name: &str, e: &Entry) -> Result<Vec<u8>, LoadError> {
        match &self.source {
            Source::Bytes(b) => {
                let s = self.data_start as usize;
                Ok(b[s + e.start..s + e.end].to_vec())
            }
            Source::File(f) => {
                let mut f = f.lock().expect("not poisoned");
                let mut out = vec![0u8; e.end - e.start];
                f.seek(SeekFrom::Start(self.data_start + e.start as u64))
                    .and_then(|_| f.read_exact(&mut out))
                    .map_err(|err| LoadError::Safetensors {
                        path: self.path.clone(),
                        message: format!("tensor `{name}`: cannot read its bytes ({err})"),
                    })?;
                Ok(out)
            }
        }
    }

    /// Tensor `name` as f32 values, checked against `expected` (row-major, PyTorch layout).
    pub fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| LoadError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
            })?;
        if e.shape != expected {
            return Err(LoadError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: e.shape.clone(),
            });
        }
        let raw = self.raw(name, e)?;
        let values: Vec<f32> = match e.dtype.as_str() {
            "F32" => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            "F16" => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            "BF16" => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(LoadError::Dtype {
                    path: self.path.clone(),
                    name: name.to_string(),
                    found: other.to_string(),
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

/// The JSON header: `{name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": ..}`,
/// checked against the data section's length.
fn parse_header(header: &[u8], data_len: u64) -> Result<BTreeMap<String, Entry>, String> {
    let v: Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not JSON ({e})"))?;
    let map = v.as_object().ok_or("header is not a JSON object")?;
    let mut out = BTreeMap::new();
    for (name, info) in map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| format!("tensor `{name}`: {what} in the header: {info}");
        let dtype = info["dtype"].as_str().ok_or_else(|| bad("no dtype"))?;
        let shape = info["shape"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("no shape"))?;
        let offsets = info["data_offsets"]
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
            .ok_or_else(|| bad("no data_offsets"))?;
        let width = match dtype {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            _ => 1,
        };
        let bytes = shape.iter().product::<usize>() as u64 * width;
        if offsets.1 < offsets.0 || offsets.1 - offsets.0 != bytes || offsets.1 > data_len {
            return Err(bad(&format!(
                "byte range {offsets:?} does not hold {shape:?} x {dtype} within {data_len} data bytes"
            )));
        }
        out.insert(
            name.clone(),
            Entry {
                dtype: dtype.to_string(),
                shape,
                start: offsets.0 as usize,
                end: offsets.1 as usize,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use safetensors::tensor::{Dtype, TensorView};

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

    #[test]
    fn file_backed_reads_match_and_bad_files_are_named() {
        let device = Device::flex();
        let w = f32_bytes(&[1.0, 2.0, 3.0, 4.0]); // [out 2, in 2, 1, 1]
        let bytes = file(&[
            ("a.weight", Dtype::F32, vec![2, 2, 1, 1], w),
            ("a.bias", Dtype::BF16, vec![2], vec![0, 0, 0x80, 0x3f]), // 0, 1
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let ws = Weights::open(&path, "test weights", &device).unwrap();
        // Old attention checkpoints store linears as 1x1 convolutions.
        let mut lin = LinearConfig::new(2, 2).init(&device);
        ws.linear_or_conv1x1(&mut lin, "a").unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 2]), &device);
        let y = lin.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![3.0, 8.0]);

        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = Weights::open(&path, "test weights", &device)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("m.safetensors: not a safetensors file: tensor `a"),
            "{e}"
        );
        let e = Weights::open(
            &dir.path().join("none.safetensors"),
            "test weights",
            &device,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("none.safetensors: cannot read") && e.contains("expected test weights"),
            "{e}"
        );
    }
}
