//! One safetensors shard: write it atomically, read its header and slices of its tensors
//! without loading the whole file.
//!
//! Tensors of a shard with `n` images and `m` captions:
//! `moments` f32 `[n, 2C, h, w]`, `text` f32 `[m, L, D]`, `caption_offsets` i64 `[n + 1]`
//! (captions of image `i` are rows `offsets[i]..offsets[i+1]` of `text`), `image_ids` i64
//! `[n]`. Metadata (`__metadata__`) has one key, `items`: a JSON list of
//! `{"id", "file_name", "captions"}` per image (one key, because safetensors writes a
//! metadata map in hash order and shards must be byte-for-byte reproducible).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use super::manifest::tmp_path;
use super::{CacheError, io_err};

/// What goes into one shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardData {
    /// `[n, 2C, h, w]` flattened.
    pub moments: Vec<f32>,
    pub moments_shape: [usize; 3],
    /// `[m, L, D]` flattened.
    pub text: Vec<f32>,
    pub context_shape: [usize; 2],
    pub caption_offsets: Vec<i64>,
    pub image_ids: Vec<i64>,
    pub captions: Vec<Vec<String>>,
    pub file_names: Vec<String>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    v.iter()
        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    out
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 8);
    v.iter()
        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    out
}

fn view<'a>(
    path: &Path,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: &'a [u8],
) -> Result<TensorView<'a>, CacheError> {
    TensorView::new(dtype, shape, bytes).map_err(|e| CacheError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `tensors` (name, shape, little-endian bytes, dtype) and `metadata` to `path` atomically (temp file, fsync, rename);
/// returns the file size.
pub fn write_tensors(
    path: &Path,
    tensors: Vec<(&str, Vec<usize>, Vec<u8>, Dtype)>,
    metadata: HashMap<String, String>,
) -> Result<u64, CacheError> {
    let tmp = tmp_path(path);
    let views = tensors
        .iter()
        .map(|(name, shape, bytes, dtype)| Ok((*name, view(path, *dtype, shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>, CacheError>>()?;
    safetensors::tensor::serialize_to_file(views, Some(metadata), &tmp).map_err(|e| {
        CacheError::Io {
            path: tmp.clone(),
            error: std::io::Error::other(e.to_string()),
        }
    })?;
    let f = File::open(&tmp).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    let bytes = f.metadata().map_err(io_err(&tmp))?.len();
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(bytes)
}

/// Writes a shard atomically; returns its size in bytes.
pub fn write_shard(path: &Path, d: &ShardData) -> Result<u64, CacheError> {
    let n = d.image_ids.len();
    let m = d.caption_offsets.last().copied().unwrap_or(0) as usize;
    let [c2, h, w] = d.moments_shape;
    let [l, dim] = d.context_shape;
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"id": d.image_ids[i], "file_name": d.file_names[i], "captions": d.captions[i]}))
        .collect();
    let mut meta = HashMap::new();
    meta.insert("items".into(), serde_json::Value::Array(items).to_string());
    write_tensors(
        path,
        vec![
            (
                "moments",
                vec![n, c2, h, w],
                f32_bytes(&d.moments),
                Dtype::F32,
            ),
            ("text", vec![m, l, dim], f32_bytes(&d.text), Dtype::F32),
            (
                "caption_offsets",
                vec![n + 1],
                i64_bytes(&d.caption_offsets),
                Dtype::I64,
            ),
            ("image_ids", vec![n], i64_bytes(&d.image_ids), Dtype::I64),
        ],
        meta,
    )
}

/// Shape and byte range (from the start of the file) of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

/// A parsed safetensors header; checks that the file is as long as the header says.
#[derive(Clone, Debug)]
pub struct Header {
    pub tensors: HashMap<String, TensorEntry>,
    pub metadata: HashMap<String, String>,
}

impl Header {
    pub fn read(path: &Path) -> Result<Self, CacheError> {
        let corrupt = |message: String| CacheError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let mut f = File::open(path).map_err(io_err(path))?;
        let len = f.metadata().map_err(io_err(path))?.len();
        let mut n = [0u8; 8];
        f.read_exact(&mut n)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let n = u64::from_le_bytes(n);
        if n > 100_000_000 || 8 + n > len {
            return Err(corrupt(format!(
                "header size {n} does not fit a {len}-byte file"
            )));
        }
        let mut buf = vec![0u8; n as usize];
        f.read_exact(&mut buf)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let json: serde_json::Value =
            serde_json::from_slice(&buf).map_err(|e| corrupt(format!("header JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| corrupt("header is not a JSON object".into()))?;
        let mut tensors = HashMap::new();
        let mut metadata = HashMap::new();
        let mut data_end = 0;
        for (name, v) in obj {
            if name == "__metadata__" {
                metadata = serde_json::from_value(v.clone())
                    .map_err(|e| corrupt(format!("metadata: {e}")))?;
                continue;
            }
            let e: RawEntry = serde_json::from_value(v.clone())
                .map_err(|e| corrupt(format!("tensor {name}: {e}")))?;
            data_end = data_end.max(e.data_offsets[1]);
            tensors.insert(
                name.clone(),
                TensorEntry {
                    dtype: e.dtype,
                    shape: e.shape,
                    start: 8 + n + e.data_offsets[0],
                    end: 8 + n + e.data_offsets[1],
                },
            );
        }
        if 8 + n + data_end != len {
            return Err(corrupt(format!(
                "file is {len} bytes, header describes {}",
                8 + n + data_end
            )));
        }
        Ok(Self { tensors, metadata })
    }

    pub fn entry(&self, path: &Path, name: &str, dtype: &str) -> Result<&TensorEntry, CacheError> {
        match self.tensors.get(name) {
            Some(e) if e.dtype == dtype => Ok(e),
            Some(e) => Err(CacheError::Corrupt {
                path: path.to_path_buf(),
                message: format!("tensor `{name}` is {}, expected {dtype}", e.dtype),
            }),
            None => Err(CacheError::Corrupt {
                path: path.to_path_buf(),
                message: format!("no tensor `{name}`"),
            }),
        }
    }
}

#[derive(serde::Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// Reads elements `[from, to)` (flat, little-endian) of an f32 tensor.
pub fn read_f32(
    path: &Path,
    e: &TensorEntry,
    from: usize,
    to: usize,
) -> Result<Vec<f32>, CacheError> {
    let bytes = read_range(path, e, from * 4, to * 4)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect())
}

/// Reads a whole i64 tensor.
pub fn read_i64(path: &Path, e: &TensorEntry) -> Result<Vec<i64>, CacheError> {
    let bytes = read_range(path, e, 0, (e.end - e.start) as usize)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect())
}

fn read_range(path: &Path, e: &TensorEntry, from: usize, to: usize) -> Result<Vec<u8>, CacheError> {
    if e.start + to as u64 > e.end || from > to {
        return Err(CacheError::Corrupt {
            path: path.to_path_buf(),
            message: format!(
                "byte range {from}..{to} outside a {}-byte tensor",
                e.end - e.start
            ),
        });
    }
    let mut f = File::open(path).map_err(io_err(path))?;
    f.seek(SeekFrom::Start(e.start + from as u64))
        .map_err(io_err(path))?;
    let mut buf = vec![0u8; to - from];
    f.read_exact(&mut buf).map_err(io_err(path))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_round_trip_and_truncation_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.safetensors");
        let d = ShardData {
            moments: (0..8).map(|v| v as f32).collect(), // [2, 2, 1, 2]
            moments_shape: [2, 1, 2],
            text: (0..3 * 2 * 2).map(|v| -(v as f32)).collect(),
            context_shape: [2, 2],
            caption_offsets: vec![0, 1, 3],
            image_ids: vec![42, 7],
            captions: vec![vec!["a".into()], vec!["b".into(), "c".into()]],
            file_names: vec!["x.jpg".into(), "y.jpg".into()],
        };
        let bytes = write_shard(&path, &d).unwrap();
        assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
        assert!(!tmp_path(&path).exists());
        let h = Header::read(&path).unwrap();
        let text = h.entry(&path, "text", "F32").unwrap();
        assert_eq!(text.shape, vec![3, 2, 2]);
        assert_eq!(
            read_f32(&path, text, 4, 8).unwrap(),
            vec![-4.0, -5.0, -6.0, -7.0]
        );
        assert_eq!(
            read_i64(&path, h.entry(&path, "caption_offsets", "I64").unwrap()).unwrap(),
            vec![0, 1, 3]
        );
        assert!(
            h.metadata["items"].contains(r#""captions":["b","c"]"#),
            "{}",
            h.metadata["items"]
        );
        assert!(h.entry(&path, "text", "I64").is_err());
        // Cut the file short: the header no longer fits the length.
        let all = std::fs::read(&path).unwrap();
        std::fs::write(&path, &all[..all.len() - 3]).unwrap();
        assert!(matches!(
            Header::read(&path),
            Err(CacheError::Corrupt { .. })
        ));
    }
}
