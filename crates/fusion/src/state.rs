//! Named f32 tensors read from and written to safetensors files: test fixtures, the
//! inputs/outputs of `ifvit forward`, layout conversion of checkpoints.
//!
//! Model parameters do not go through here: modules load and save them with burn's own
//! store (`ifvit_uvit::checkpoint`), so a new module needs no hand-written mirror.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// What went wrong moving named tensors in or out.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "{origin}: tensor `{name}` has dtype {dtype}; supported dtypes are F32, F16, BF16, F64"
    )]
    Dtype {
        origin: String,
        name: String,
        dtype: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// One tensor in PyTorch layout, stored as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// An ordered map of named f32 tensors.
#[derive(Clone, Debug, Default)]
pub struct StateDict {
    origin: String,
    tensors: BTreeMap<String, NamedTensor>,
}

impl StateDict {
    /// An empty dict; `origin` names it in error messages (usually a file path).
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            ..Self::default()
        }
    }

    /// Reads a safetensors file (F32, F16, BF16 or F64 tensors; all converted to f32).
    pub fn read_safetensors(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref();
        let file_err = |message: String| StateError::File {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| file_err(format!("not a valid safetensors file: {e}")))?;
        let mut dict = Self::new(path.display().to_string());
        for (name, view) in st.tensors() {
            let data = to_f32(view.dtype(), view.data()).ok_or_else(|| StateError::Dtype {
                origin: dict.origin.clone(),
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            dict.insert(name, view.shape().to_vec(), data);
        }
        Ok(dict)
    }

    /// Writes all tensors as F32 safetensors, atomically (temp file + rename).
    pub fn write_safetensors(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        let file_err = |message: String| StateError::File {
            path: path.to_path_buf(),
            message,
        };
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                let b = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (n.clone(), b, t.shape.clone())
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, b, s)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| file_err(format!("tensor `{n}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = safetensors::serialize(views, None)
            .map_err(|e| file_err(format!("cannot serialise: {e}")))?;
        ifvit_data::fsio::write_atomic(path, &out)
            .map_err(|e| file_err(format!("cannot write: {e}")))
    }

    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors
            .insert(name.into(), NamedTensor { shape, data });
    }

    /// Removes and returns the tensor `name` (no bookkeeping).
    pub fn remove(&mut self, name: &str) -> Option<NamedTensor> {
        self.tensors.remove(name)
    }

    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Stores a burn tensor under `name` (PyTorch layout expected from the caller).
    pub fn put<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) {
        let shape = tensor.dims().to_vec();
        let data = tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 tensor data");
        self.insert(name, shape, data);
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}
