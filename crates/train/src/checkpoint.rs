//! Step checkpoints, written atomically.
//!
//! ```text
//! RUN/checkpoints/step-00000500/   model.bpk  ema.bpk  optim.bpk  state.json
//! RUN/checkpoints/latest          "step-00000500"
//! ```
//! A checkpoint is first written to `.step-00000500.tmp/`, then renamed into place, and only
//! then does `latest` (itself written to a temp file and renamed) point at it. A crash or
//! Ctrl-C at any moment leaves the previous checkpoint intact and `latest` pointing at a
//! complete one; stray `.tmp` folders are removed on the next write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where things went wrong on disk.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{dir}: no checkpoint found (expected `checkpoints/latest`); is this a run folder \
         written by `ifvit train`?"
    )]
    NoCheckpoint { dir: PathBuf },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Non-tensor training state saved beside the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed. Data position and per-step randomness derive from it.
    pub step: u64,
    /// Samples consumed (`step * batch_size`).
    pub samples_seen: u64,
    /// Base seed of data and noise.
    pub seed: u64,
    /// Loss of the last completed step.
    pub last_loss: Option<f64>,
    /// Wall-clock seconds spent training so far (all sessions).
    pub train_seconds: f64,
}

/// Folder of step checkpoints of one run.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    root: PathBuf,
}

/// One complete checkpoint on disk.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: TrainState,
}

impl Checkpoint {
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.bpk")
    }
    pub fn ema_path(&self) -> PathBuf {
        self.dir.join("ema.bpk")
    }
    pub fn optim_path(&self) -> PathBuf {
        self.dir.join("optim.bpk")
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

impl CheckpointDir {
    /// `run_dir/checkpoints`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn name(step: u64) -> String {
        format!("step-{step:08}")
    }

    /// Writes a checkpoint: `fill` puts the weight files into the given (temporary) folder.
    /// Keeps the newest `keep` checkpoints (at least 1).
    pub fn save(
        &self,
        state: &TrainState,
        keep: usize,
        fill: impl FnOnce(&Path) -> Result<(), CheckpointError>,
    ) -> Result<Checkpoint, CheckpointError> {
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let name = Self::name(state.step);
        let tmp = self.root.join(format!(".{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        fill(&tmp)?;
        let json = serde_json::to_vec_pretty(state).expect("state serialises");
        write_atomic(&tmp.join("state.json"), &json)?;
        let dir = self.root.join(&name);
        if dir.exists() {
            // Re-saving the same step (e.g. interrupt right after a periodic save).
            fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
        fs::rename(&tmp, &dir).map_err(|e| io_err(&dir, e))?;
        write_atomic(&self.root.join("latest"), name.as_bytes())?;
        self.prune(keep.max(1), &name)?;
        Ok(Checkpoint {
            dir,
            state: state.clone(),
        })
    }

    fn prune(&self, keep: usize, latest: &str) -> Result<(), CheckpointError> {
        let mut steps: Vec<String> = fs::read_dir(&self.root)
            .map_err(|e| io_err(&self.root, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("step-") || (n.starts_with(".step-") && n.ends_with(".tmp")))
            .collect();
        steps.sort();
        let complete: Vec<&String> = steps.iter().filter(|n| n.starts_with("step-")).collect();
        let drop_n = complete.len().saturating_sub(keep);
        for n in complete
            .into_iter()
            .take(drop_n)
            .chain(steps.iter().filter(|n| n.starts_with('.')))
        {
            if n != latest {
                let p = self.root.join(n);
                fs::remove_dir_all(&p).map_err(|e| io_err(&p, e))?;
            }
        }
        Ok(())
    }

    /// The checkpoint `latest` points at.
    pub fn latest(&self) -> Result<Checkpoint, CheckpointError> {
        let latest = self.root.join("latest");
        let name = fs::read_to_string(&latest).map_err(|_| CheckpointError::NoCheckpoint {
            dir: self.root.parent().unwrap_or(&self.root).to_path_buf(),
        })?;
        let dir = self.root.join(name.trim());
        let state_path = dir.join("state.json");
        let bytes = fs::read(&state_path).map_err(|e| io_err(&state_path, e))?;
        let state: TrainState =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: state_path.clone(),
                message: e.to_string(),
            })?;
        for f in ["model.bpk", "ema.bpk", "optim.bpk"] {
            if !dir.join(f).is_file() {
                return Err(CheckpointError::Corrupt {
                    path: dir.join(f),
                    message: "missing file in checkpoint".into(),
                });
            }
        }
        Ok(Checkpoint { dir, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: u64) -> TrainState {
        TrainState {
            step,
            samples_seen: step * 4,
            seed: 0,
            last_loss: Some(0.5),
            train_seconds: 1.0,
        }
    }

    fn fill_ok(dir: &Path) -> Result<(), CheckpointError> {
        for f in ["model.bpk", "ema.bpk", "optim.bpk"] {
            write_atomic(&dir.join(f), b"w")?;
        }
        Ok(())
    }

    #[test]
    fn latest_points_at_the_newest_complete_checkpoint_and_old_ones_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let c = CheckpointDir::new(tmp.path());
        for s in [10, 20, 30] {
            c.save(&state(s), 2, fill_ok).unwrap();
        }
        assert_eq!(c.latest().unwrap().state.step, 30);
        assert!(!c.root().join("step-00000010").exists());
        assert!(c.root().join("step-00000020").exists());
    }

    #[test]
    fn a_failed_write_keeps_the_previous_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let c = CheckpointDir::new(tmp.path());
        c.save(&state(10), 3, fill_ok).unwrap();
        // A crash half-way through writing step 20's weights.
        let err = c.save(&state(20), 3, |dir| {
            write_atomic(&dir.join("model.bpk"), b"half")?;
            Err(CheckpointError::Io {
                path: dir.to_path_buf(),
                message: "disk full".into(),
            })
        });
        assert!(err.is_err());
        let latest = c.latest().unwrap();
        assert_eq!(latest.state.step, 10);
        assert!(!c.root().join("step-00000020").exists());
        // The next save cleans the stray temp folder.
        c.save(&state(30), 3, fill_ok).unwrap();
        assert!(!c.root().join(".step-00000020.tmp").exists());
    }

    #[test]
    fn no_checkpoint_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = CheckpointDir::new(tmp.path())
            .latest()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no checkpoint found"), "{e}");
    }
}
