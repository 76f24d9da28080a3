//! Checks made before training starts: the output folder is writable and has room for the
//! checkpoints, so that a long run never dies at its first save.

use std::path::Path;

use crate::error::TrainError;

/// Free bytes on the file system holding `path` (Unix `statvfs`).
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Bytes one checkpoint takes: model, EMA and the two AdamW moments, f32, plus slack.
pub fn checkpoint_bytes(params: usize) -> u64 {
    params as u64 * 4 * 4 + (1 << 20)
}

/// Checkpoints a run must have room for: at the peak `keep + 1` exist (a new one is
/// complete before the oldest is pruned); `existing` complete ones (on resume) already
/// have their space.
pub fn checkpoints_to_fit(keep: usize, existing: usize) -> u64 {
    (keep.max(1) + 1).saturating_sub(existing).max(1) as u64
}

/// Creates `dir` if needed, proves it is writable, and that `needed` bytes are free.
pub fn check_output_dir(dir: &Path, needed: u64) -> Result<(), TrainError> {
    let err = |message: String| TrainError::Output {
        path: dir.display().to_string(),
        message,
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| err(format!("cannot create the output folder: {e}")))?;
    let probe = dir.join(".ifvit-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| {
        err(format!(
            "the output folder is not writable: {e}; choose another with --out"
        ))
    })?;
    let _ = std::fs::remove_file(&probe);
    if let Some(free) = free_bytes(dir)
        && free < needed
    {
        return Err(err(format!(
            "not enough disk space: {:.1} MiB free, training needs about {:.1} MiB for its \
             checkpoints; free space or choose another --out",
            free as f64 / 1048576.0,
            needed as f64 / 1048576.0
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_needs_room_only_for_the_checkpoints_it_adds() {
        assert_eq!(checkpoints_to_fit(1, 0), 2);
        // The report: keep 1, one checkpoint on disk, ~25 MB free: one more must fit.
        assert_eq!(checkpoints_to_fit(1, 1), 1);
        assert_eq!(checkpoints_to_fit(2, 1), 2);
        assert_eq!(checkpoints_to_fit(2, 5), 1);
        assert_eq!(checkpoints_to_fit(0, 0), 2);
    }

    #[test]
    fn unwritable_and_full_folders_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        check_output_dir(&tmp.path().join("run"), 1024).unwrap();
        let e = check_output_dir(&tmp.path().join("run"), u64::MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not enough disk space"), "{e}");
        // A file where the folder should be.
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let e = check_output_dir(&file.join("run"), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot create the output folder"), "{e}");
    }
}
