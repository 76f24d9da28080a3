//! numpy `.npy` arrays and `.npz` archives (what `np.save` / `np.savez` write), enough for
//! FID statistics and feature files: little-endian f32/f64 (read also i64/i32/u8), C or
//! Fortran order, any rank; written as `.npy` version 1.0, C order.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use super::error::FidError;

/// An n-d array, row-major (C order), values widened to f64.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// The element type written to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    F32,
    F64,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses one `.npy` byte buffer; `what` names the source in errors.
pub fn parse_npy(bytes: &[u8], what: &str) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(format!("{what}: not a .npy array (no \\x93NUMPY magic)"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(format!("{what}: unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| format!("{what}: truncated or non-text .npy header"))?;
    let descr = header_value(header, "descr")
        .ok_or_else(|| format!("{what}: header has no descr: {header}"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = header_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .unwrap_or(false);
    let shape_txt = header_value(header, "shape")
        .ok_or_else(|| format!("{what}: header has no shape: {header}"))?;
    let shape: Vec<usize> = shape_txt
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: bad shape {shape_txt}: {e}"))?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + hlen..];
    let (size, conv): (usize, fn(&[u8]) -> f64) = match descr {
        "<f4" => (4, |b| f32::from_le_bytes(b.try_into().unwrap()) as f64),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap())),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f64),
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap()) as f64),
        "|u1" => (1, |b| b[0] as f64),
        d => {
            return Err(format!(
                "{what}: dtype {d} is not supported (expected little-endian float32/float64)"
            ));
        }
    };
    if body.len() < n * size {
        return Err(format!(
            "{what}: data holds {} bytes, shape {shape:?} of {descr} needs {}",
            body.len(),
            n * size
        ));
    }
    let mut data: Vec<f64> = body[..n * size].chunks_exact(size).map(conv).collect();
    if fortran && shape.len() > 1 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(NpyArray { shape, data })
}

/// The raw text of `'key': value` in a numpy header dict (value up to the next top-level comma).
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
        if depth == 0 && c == ')' {
            return Some(rest[..=i].trim());
        }
    }
    None
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut idx = vec![0usize; shape.len()];
    for v in data {
        // Fortran order: first index fastest.
        let mut c = 0;
        for (d, i) in idx.iter().enumerate() {
            c = c * shape[d] + i;
        }
        out[c] = *v;
        for d in 0..shape.len() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Serialises an array as `.npy` v1.0, C order.
pub fn npy_bytes(a: &NpyArray, dtype: NpyDtype) -> Vec<u8> {
    let descr = match dtype {
        NpyDtype::F32 => "<f4",
        NpyDtype::F64 => "<f8",
    };
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that magic + len + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + a.data.len() * 8);
    out.extend(MAGIC);
    out.extend([1u8, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in &a.data {
        match dtype {
            NpyDtype::F32 => out.extend((*v as f32).to_le_bytes()),
            NpyDtype::F64 => out.extend(v.to_le_bytes()),
        }
    }
    out
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, FidError> {
    let bytes =
        std::fs::read(path).map_err(|e| FidError::file(path, format!("cannot read: {e}")))?;
    parse_npy(&bytes, "array").map_err(|m| FidError::file(path, m))
}

/// Writes a `.npy` file atomically.
pub fn write_npy(path: &Path, a: &NpyArray, dtype: NpyDtype) -> Result<(), FidError> {
    write_atomic(path, &npy_bytes(a, dtype))
}

/// Reads every array of a `.npz` (stored or deflated), keyed without the `.npy` suffix.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>, FidError> {
    let file =
        std::fs::File::open(path).map_err(|e| FidError::file(path, format!("cannot read: {e}")))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| FidError::file(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| FidError::file(path, e.to_string()))?;
        let name = f
            .name()
            .map_err(|e| FidError::file(path, e.to_string()))?
            .into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| FidError::file(path, format!("{name}: {e}")))?;
        let key = name.trim_end_matches(".npy").to_owned();
        let arr = parse_npy(&bytes, &name).map_err(|m| FidError::file(path, m))?;
        out.insert(key, arr);
    }
    Ok(out)
}

/// Writes a `.npz` (stored, as `np.savez`) atomically.
pub fn write_npz(path: &Path, arrays: &[(&str, &NpyArray, NpyDtype)]) -> Result<(), FidError> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, a, dtype) in arrays {
            zip.start_file(format!("{name}.npy"), opts)
                .map_err(|e| FidError::file(path, e.to_string()))?;
            zip.write_all(&npy_bytes(a, *dtype))
                .map_err(|e| FidError::file(path, e.to_string()))?;
        }
        zip.finish()
            .map_err(|e| FidError::file(path, e.to_string()))?;
    }
    write_atomic(path, &buf.into_inner())
}

/// [`ifvit_data::fsio::write_atomic`] (temporary file, fsync, rename) with this crate's error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FidError> {
    ifvit_data::fsio::write_atomic(path, bytes)
        .map_err(|e| FidError::file(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_header_alignment() {
        let a = NpyArray {
            shape: vec![2, 3],
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5],
        };
        for dt in [NpyDtype::F32, NpyDtype::F64] {
            let b = npy_bytes(&a, dt);
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(parse_npy(&b, "t").unwrap(), a);
        }
        let v = NpyArray {
            shape: vec![3],
            data: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(parse_npy(&npy_bytes(&v, NpyDtype::F64), "t").unwrap(), v);
    }

    #[test]
    fn fortran_order_is_transposed_to_c() {
        let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n";
        let mut b = MAGIC.to_vec();
        b.extend([1u8, 0]);
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        for v in [1f64, 4., 2., 5., 3., 6.] {
            b.extend(v.to_le_bytes());
        }
        let a = parse_npy(&b, "t").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn npz_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.npz");
        let mu = NpyArray {
            shape: vec![2],
            data: vec![0.5, -1.0],
        };
        let sigma = NpyArray {
            shape: vec![2, 2],
            data: vec![1.0, 0.1, 0.1, 2.0],
        };
        write_npz(
            &p,
            &[("mu", &mu, NpyDtype::F64), ("sigma", &sigma, NpyDtype::F64)],
        )
        .unwrap();
        let r = read_npz(&p).unwrap();
        assert_eq!(r["mu"], mu);
        assert_eq!(r["sigma"], sigma);
    }

    #[test]
    fn garbage_is_an_error_naming_the_source() {
        assert!(
            parse_npy(b"hello world", "feats.npy")
                .unwrap_err()
                .contains("feats.npy")
        );
    }
}
