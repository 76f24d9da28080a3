//! One process per run folder: an exclusive advisory lock (`flock`) on `RUN/.ifvit-lock`,
//! held while training, resuming or running an ablation, and released by the kernel when the
//! process ends (even on `kill -9`). The file holds the holder's PID for the error message.
//!
//! The lock file also marks a folder as written by ifvit: a new run refuses an `--out` that
//! holds other files ([`check_new_run_folder`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// Name of the lock file inside a run folder.
pub const LOCK_FILE: &str = ".ifvit-lock";

/// Held while a process owns a run folder; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir` (created if needed) or fails at once, naming the PID that
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<Self, TrainError> {
        let err = |message: String| TrainError::Output {
            path: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create the output folder: {e}")))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| err(format!("cannot open the lock file {LOCK_FILE}: {e}")))?;
        if let Err(e) = try_lock_exclusive(&file) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(err(format!("cannot lock {LOCK_FILE}: {e}")));
            }
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let holder = if pid.is_empty() {
                "another ifvit process".to_string()
            } else {
                format!("another ifvit process (PID {pid})")
            };
            return Err(err(format!(
                "this run folder is in use by {holder}; wait for it to finish, or stop it \
                 first (it saves a checkpoint on Ctrl-C or SIGTERM)"
            )));
        }
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{pid}"))
            .map_err(|e| err(format!("cannot write the lock file {LOCK_FILE}: {e}")))?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this process owns for the lifetime of `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn try_lock_exclusive(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Checks that `dir` may receive a new run: it does not exist, is empty, or was written by
/// ifvit (holds [`LOCK_FILE`]). Anything else is refused unless `force`, so that files
/// ifvit did not write (`loss.csv`, `config.ron` of something else) are never overwritten.
pub fn check_new_run_folder(dir: &Path, force: bool) -> Result<(), TrainError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // absent (or not a folder: creating it reports that)
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if force || names.is_empty() || names.iter().any(|n| n == LOCK_FILE) {
        return Ok(());
    }
    let mut shown: Vec<&str> = names.iter().map(String::as_str).collect();
    shown.sort_unstable();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    Err(TrainError::Output {
        path: dir.display().to_string(),
        message: format!(
            "the folder holds files ifvit did not write ({}{}); choose an empty or new \
             folder with --out, or pass --force to write into it anyway (files with the \
             names ifvit uses are overwritten)",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_and_freed_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(tmp.path()).unwrap();
        // flock locks belong to the open file description: a second open conflicts even
        // inside one process.
        let e = RunLock::acquire(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("PID {}", std::process::id())) && e.contains("in use"),
            "{e}"
        );
        drop(first);
        RunLock::acquire(tmp.path()).unwrap();
    }

    #[test]
    fn foreign_files_are_refused_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        check_new_run_folder(&dir, false).unwrap();
        std::fs::create_dir(&dir).unwrap();
        check_new_run_folder(&dir, false).unwrap();
        std::fs::write(dir.join("loss.csv"), "mine").unwrap();
        let e = check_new_run_folder(&dir, false).unwrap_err().to_string();
        assert!(e.contains("loss.csv") && e.contains("--force"), "{e}");
        check_new_run_folder(&dir, true).unwrap();
        drop(RunLock::acquire(&dir).unwrap());
        check_new_run_folder(&dir, false).unwrap();
    }
}
