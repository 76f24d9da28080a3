//! Atomic file writes, the one implementation every crate uses: the bytes go to a temporary
//! file beside the target, are fsynced, renamed over the target, and the folder is fsynced,
//! so readers (and a machine that loses power) see the old file or the new one, never a part.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A failed write, naming the file it failed on (the temporary file or the target).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// `dir/name` -> `dir/.name.tmp`: the temporary file of an atomic write of `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let tmp = tmp_path(path);
    let mut f = fs::File::create(&tmp).map_err(at(&tmp))?;
    f.write_all(bytes).map_err(at(&tmp))?;
    f.sync_all().map_err(at(&tmp))?;
    drop(f);
    commit(&tmp, path)
}

/// Renames a written and fsynced temporary file (or folder) `tmp` over `path`, then fsyncs
/// the folder holding `path`.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), WriteError> {
    fs::rename(tmp, path).map_err(at(path))?;
    sync_parent(path)
}

/// Flushes the folder holding `path`, so that a rename into it survives a power loss.
pub fn sync_parent(path: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(at(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!tmp_path(&p).exists());
        let e = write_atomic(&dir.path().join("no/such/dir/x"), b"").unwrap_err();
        assert!(e.to_string().contains(".x.tmp"), "{e}");
    }
}
