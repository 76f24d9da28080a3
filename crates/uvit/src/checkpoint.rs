//! Checkpoint IO in PyTorch layout (safetensors), through burn's own store.
//!
//! burn's `SafetensorsStore` does the work: the PyTorch adapter transposes `Linear` weights
//! (`[out, in]` in PyTorch, `[in, out]` in burn) and renames LayerNorm `weight`/`bias`
//! (burn's `gamma`/`beta`); enum variants (`UBlock::Joint`, `FusionBlock::Concat`) are left
//! out of the names. So any module, a user's fusion block included, loads and saves with no
//! hand-written mirror, under the names of its fields: `in_blocks.0.attn.qkv.weight`,
//! `mid_block.norm1.bias`, ... (the public U-ViT `nnet` names for early-concat).
//!
//! Loading is strict. Before anything is applied, the file's names and shapes are checked
//! against the ones the model expects, so that an error names the file, the tensor, the
//! expected and found shape, and the flags that fix it.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{
    BurnToPyTorchAdapter, ChainAdapter, FloatCastAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::{DType, Tensor};
use safetensors::SafeTensors;

/// Why a checkpoint could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error(
        "{}: missing tensor `{name}` (the model expects shape {expected:?}); the checkpoint \
         was saved for another model: check that --preset, --fusion, --c and --v match it",
        path.display()
    )]
    Missing {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    #[error(
        "{}: tensor `{name}` has shape {found:?}, but the model expects {expected:?}; check \
         that --preset (the model sizes) matches the checkpoint",
        path.display()
    )]
    Shape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error(
        "{}: {count} tensor(s) not used by the model, e.g. {names}; check that --preset, \
         --fusion, --c and --v match the checkpoint",
        path.display()
    )]
    Unused {
        path: PathBuf,
        count: usize,
        names: String,
    },
    #[error(
        "{}: tensor `{name}` is named in the layout of the released intermediate-fusion \
         PyTorch code; convert the file first: ifvit convert --from released-fusion \
         --fusion <strategy> --c <c> --v <v> {} <out.safetensors>",
        path.display(), path.display()
    )]
    ReleasedLayout { path: PathBuf, name: String },
}

/// Names that only the released intermediate-fusion code uses.
const RELEASED_PREFIXES: [&str; 5] = [
    "caption_blocks.",
    "image_blocks.",
    "joint_blocks.",
    "joint_skip_blocks.",
    "image_skip_blocks.",
];

/// The PyTorch names and shapes of a module's parameters, in module order.
///
/// The same names and layouts burn's store uses (enum variants left out; `Linear` weights
/// `[out, in]`; LayerNorm `weight`/`bias`), read off the lazy shapes: unlike burn's
/// `collect`, nothing is initialised (44M random values take 30 s in a debug build).
pub fn expected_tensors<M: Module>(model: &M) -> Vec<(String, Vec<usize>)> {
    let mut names = ExpectedNames::default();
    model.visit(&mut names);
    names.out
}

#[derive(Default)]
struct ExpectedNames {
    path: Vec<String>,
    containers: Vec<String>,
    out: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for ExpectedNames {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.containers.push(container_type.to_string());
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.containers.pop();
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let module = self
            .containers
            .iter()
            .rev()
            .find(|c| c.starts_with("Struct:") || c.starts_with("Enum:"))
            .map(String::as_str);
        let mut path = self.path.clone();
        let mut shape = param.lazy_shape().to_vec();
        let last = path.last().map(String::as_str);
        match (module, last) {
            (Some("Struct:Linear"), Some("weight")) => shape.reverse(),
            (Some("Struct:LayerNorm"), Some("gamma")) => {
                *path.last_mut().unwrap() = "weight".into()
            }
            (Some("Struct:LayerNorm"), Some("beta")) => *path.last_mut().unwrap() = "bias".into(),
            _ => {}
        }
        self.out.push((path.join("."), shape));
    }
}

/// Loads a PyTorch-layout safetensors file into `model` (strict: every tensor present,
/// shaped right and used). F16/BF16/F64 tensors are converted to f32.
pub fn load_safetensors<M: ModuleSnapshot>(
    mut model: M,
    path: impl AsRef<Path>,
) -> Result<M, CheckpointError> {
    let path = path.as_ref();
    let file_err = |message: String| CheckpointError::File {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
    let found: std::collections::BTreeMap<String, Vec<usize>> = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_err(format!("not a valid safetensors file: {e}")))?
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    check_names(path, &expected_tensors(&model), &found)?;

    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .with_from_adapter(ChainAdapter::new(
            PyTorchToBurnAdapter,
            FloatCastAdapter::to(DType::F32),
        ))
        .skip_enum_variants(true)
        .allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| file_err(format!("cannot load: {e}")))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(file_err(format!("cannot load: {result}")));
    }
    Ok(model)
}

/// Compares the file's names and shapes with the model's; the first problem in module
/// order wins, then unused tensors.
fn check_names(
    path: &Path,
    expected: &[(String, Vec<usize>)],
    found: &std::collections::BTreeMap<String, Vec<usize>>,
) -> Result<(), CheckpointError> {
    if let Some(name) = found
        .keys()
        .find(|n| RELEASED_PREFIXES.iter().any(|p| n.starts_with(p)))
    {
        return Err(CheckpointError::ReleasedLayout {
            path: path.to_path_buf(),
            name: name.clone(),
        });
    }
    for (name, shape) in expected {
        match found.get(name) {
            None => {
                return Err(CheckpointError::Missing {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    expected: shape.clone(),
                });
            }
            Some(f) if f != shape => {
                return Err(CheckpointError::Shape {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    found: f.clone(),
                    expected: shape.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let unused: Vec<&String> = found
        .keys()
        .filter(|n| !expected.iter().any(|(e, _)| e == *n))
        .collect();
    if unused.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = unused
        .iter()
        .take(5)
        .map(|n| format!("`{n}` {:?}", found[*n]))
        .collect();
    Err(CheckpointError::Unused {
        path: path.to_path_buf(),
        count: unused.len(),
        names: shown.join(", "),
    })
}

/// Writes a module's parameters as a PyTorch-layout safetensors file, atomically (temp file
/// then rename).
pub fn save_safetensors<M: ModuleSnapshot>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let file_err = |message: String| CheckpointError::File {
        path: path.to_path_buf(),
        message,
    };
    let tmp = ifvit_data::fsio::tmp_path(path);
    let mut store = SafetensorsStore::from_file(&tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .overwrite(true);
    store
        .collect_from(model)
        .map_err(|e| file_err(format!("cannot write: {e}")))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| file_err(format!("cannot flush {}: {e}", tmp.display())))?;
    ifvit_data::fsio::commit(&tmp, path).map_err(|e| file_err(format!("cannot write: {e}")))
}
