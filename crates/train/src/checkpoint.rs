//! Step checkpoints, written atomically, checksummed, found again after a crash.
//!
//! ```text
//! RUN/checkpoints/step-00000500/   model.bpk  ema.bpk  optim.bpk  state.json
//! RUN/checkpoints/latest          "step-00000500"
//! ```
//! A checkpoint is first written to `.step-00000500.tmp/`, then renamed into place, and only
//! then does `latest` (itself written to a temp file and renamed) point at it. Files and
//! the folders they are renamed into are fsynced. A crash or
//! Ctrl-C at any moment leaves the previous checkpoint intact; stray `.tmp` folders are
//! removed on the next write. `state.json` records the SHA-256 of every file of its step
//! (`"files"`), checked when the file is read back ([`Checkpoint::read`]). When `latest` is
//! missing, unreadable or points at an incomplete folder, [`CheckpointDir::resume_point`]
//! falls back to the newest complete step folder and says so.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where things went wrong on disk.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "{dir}: no checkpoint found (expected `checkpoints/step-*/`); is this a run folder \
         written by `ifvit train`?"
    )]
    NoCheckpoint { dir: PathBuf },
    #[error(
        "{dir}: the run stopped before its first checkpoint was complete, so there is nothing \
         to resume; start it again with `ifvit train --config {dir}/config.ron --out {dir}`"
    )]
    NoCompleteCheckpoint { dir: PathBuf },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A budget change made on resume (`ifvit train --resume RUN --extend-to STEPS`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// Steps done when the budget changed.
    pub at_step: u64,
    /// `train.steps` before and after.
    pub from_steps: u64,
    pub to_steps: u64,
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
    /// Budget changes made on resume, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
}

/// `state.json`: the state plus the SHA-256 (hex) of each file of the step.
#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    state: TrainState,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

/// SHA-256 of `bytes`, lower-case hex (what `sha256sum` prints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// SHA-256 of each file, from `state.json` (empty for checkpoints written before
    /// checksums were recorded: those files are read unchecked).
    pub files: BTreeMap<String, String>,
}

/// The weight files every checkpoint holds.
pub const CHECKPOINT_FILES: [&str; 3] = ["model.bpk", "ema.bpk", "optim.bpk"];

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

    /// Reads a step folder's `state.json` and checks that its files are present.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let state_path = dir.join("state.json");
        let bytes = fs::read(&state_path).map_err(|e| io_err(&state_path, e))?;
        let file: StateFile =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: state_path.clone(),
                message: format!("not a checkpoint state: {e}"),
            })?;
        for f in CHECKPOINT_FILES {
            if !dir.join(f).is_file() {
                return Err(CheckpointError::Corrupt {
                    path: dir.join(f),
                    message: "missing file in checkpoint".into(),
                });
            }
            if !file.files.is_empty() && !file.files.contains_key(f) {
                return Err(CheckpointError::Corrupt {
                    path: state_path,
                    message: format!("no checksum recorded for {f}"),
                });
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            state: file.state,
            files: file.files,
        })
    }

    /// The bytes of one file of this checkpoint, verified against the SHA-256 recorded in
    /// `state.json`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let path = self.dir.join(name);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        if let Some(expected) = self.files.get(name) {
            let found = sha256_hex(&bytes);
            if &found != expected {
                return Err(CheckpointError::Corrupt {
                    path,
                    message: format!(
                        "checksum mismatch: state.json records SHA-256 {expected}, the file \
                         has {found}; the file is corrupt. Delete the folder {} to continue \
                         from an older checkpoint of the run, if there is one",
                        self.dir.display()
                    ),
                });
            }
        }
        Ok(bytes)
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
/// ([`ifvit_data::fsio::write_atomic`] with this crate's error.)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    ifvit_data::fsio::write_atomic(path, bytes).map_err(from_write)
}

fn from_write(e: ifvit_data::fsio::WriteError) -> CheckpointError {
    io_err(&e.path, e.source)
}

/// Flushes the folder holding `path`, so that a rename into it survives a power loss.
fn sync_parent(path: &Path) -> Result<(), CheckpointError> {
    ifvit_data::fsio::sync_parent(path).map_err(from_write)
}

/// Writes the files of one step into its temporary folder, recording their checksums.
pub struct StepWriter {
    dir: PathBuf,
    files: BTreeMap<String, String>,
}

impl StepWriter {
    /// Writes `name` with `bytes` (atomically) and records its SHA-256.
    pub fn file(&mut self, name: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        write_atomic(&self.dir.join(name), bytes)?;
        self.files.insert(name.to_string(), sha256_hex(bytes));
        Ok(())
    }

    /// The (temporary) folder being written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
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

    pub fn run_dir(&self) -> PathBuf {
        self.root.parent().unwrap_or(&self.root).to_path_buf()
    }

    fn name(step: u64) -> String {
        format!("step-{step:08}")
    }

    /// Writes a checkpoint: `fill` writes the weight files through the [`StepWriter`].
    /// Keeps the newest `keep` checkpoints (at least 1).
    pub fn save(
        &self,
        state: &TrainState,
        keep: usize,
        fill: impl FnOnce(&mut StepWriter) -> Result<(), CheckpointError>,
    ) -> Result<Checkpoint, CheckpointError> {
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let name = Self::name(state.step);
        let tmp = self.root.join(format!(".{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut writer = StepWriter {
            dir: tmp.clone(),
            files: BTreeMap::new(),
        };
        fill(&mut writer)?;
        let file = StateFile {
            state: state.clone(),
            files: writer.files,
        };
        let json = serde_json::to_vec_pretty(&file).expect("state serialises");
        write_atomic(&tmp.join("state.json"), &json)?;
        let dir = self.root.join(&name);
        if dir.exists() {
            // Re-saving the same step (e.g. interrupt right after a periodic save).
            fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
        fs::rename(&tmp, &dir).map_err(|e| io_err(&dir, e))?;
        sync_parent(&dir)?;
        write_atomic(&self.root.join("latest"), name.as_bytes())?;
        self.prune(keep.max(1), &name)?;
        Ok(Checkpoint {
            dir,
            state: state.clone(),
            files: file.files,
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

    /// Step folders (`step-*`), newest first.
    fn step_folders(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with("step-"))
            })
            .map(|e| e.path())
            .collect();
        v.sort();
        v.reverse();
        v
    }

    /// Complete checkpoints on disk (what a new write adds to).
    pub fn complete_count(&self) -> usize {
        self.step_folders()
            .iter()
            .filter(|d| Checkpoint::open(d).is_ok())
            .count()
    }

    /// The checkpoint `latest` points at, without any fallback.
    fn pointed_at(&self) -> Result<Checkpoint, String> {
        let latest = self.root.join("latest");
        let name = fs::read_to_string(&latest)
            .map_err(|e| format!("{}: cannot read: {e}", latest.display()))?;
        let name = name.trim();
        if !name.starts_with("step-") || name.contains(['/', '\\']) || name.contains("..") {
            return Err(format!(
                "{}: `{name}` is not a step folder name",
                latest.display()
            ));
        }
        Checkpoint::open(&self.root.join(name)).map_err(|e| e.to_string())
    }

    /// Where to resume: the checkpoint `latest` points at, or, when `latest` is missing,
    /// corrupt or points at an incomplete folder, the newest complete step folder. The second
    /// value explains a fallback (`None`: `latest` was used).
    pub fn resume_point(&self) -> Result<(Checkpoint, Option<String>), CheckpointError> {
        let why = match self.pointed_at() {
            Ok(ck) => return Ok((ck, None)),
            Err(why) => why,
        };
        let folders = self.step_folders();
        for dir in &folders {
            if let Ok(ck) = Checkpoint::open(dir) {
                return Ok((
                    ck,
                    Some(format!(
                        "{why}; using the newest complete checkpoint, {}, instead",
                        dir.display()
                    )),
                ));
            }
        }
        let run = self.run_dir();
        if run.join("config.ron").is_file() {
            Err(CheckpointError::NoCompleteCheckpoint { dir: run })
        } else {
            Err(CheckpointError::NoCheckpoint { dir: run })
        }
    }

    /// The checkpoint to use (see [`CheckpointDir::resume_point`]).
    pub fn latest(&self) -> Result<Checkpoint, CheckpointError> {
        self.resume_point().map(|r| r.0)
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
            extensions: vec![],
        }
    }

    fn fill_ok(w: &mut StepWriter) -> Result<(), CheckpointError> {
        for f in CHECKPOINT_FILES {
            w.file(f, f.as_bytes())?;
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
        let err = c.save(&state(20), 3, |w| {
            w.file("model.bpk", b"half")?;
            Err(CheckpointError::Io {
                path: w.dir().to_path_buf(),
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

    #[test]
    fn a_missing_or_corrupt_latest_falls_back_to_the_newest_complete_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let c = CheckpointDir::new(tmp.path());
        for s in [10, 20] {
            c.save(&state(s), 3, fill_ok).unwrap();
        }
        let latest = c.root().join("latest");
        for bad in [&b"garbage\xff"[..], b"step-00000099", b"../../etc"] {
            std::fs::write(&latest, bad).unwrap();
            let (ck, note) = c.resume_point().unwrap();
            assert_eq!(ck.state.step, 20);
            assert!(note.unwrap().contains("step-00000020"));
        }
        std::fs::remove_file(&latest).unwrap();
        // The newest folder lost a file (crash between rename and `latest` cannot do this,
        // but a user's `rm` can): the older complete one is used.
        std::fs::remove_file(c.root().join("step-00000020/optim.bpk")).unwrap();
        let (ck, note) = c.resume_point().unwrap();
        assert_eq!(ck.state.step, 10);
        assert!(note.unwrap().contains("latest"));
    }

    #[test]
    fn a_run_without_any_complete_checkpoint_says_how_to_restart() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.ron"), "()").unwrap();
        std::fs::create_dir_all(tmp.path().join("checkpoints/.step-00000000.tmp")).unwrap();
        let e = CheckpointDir::new(tmp.path())
            .resume_point()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("before its first checkpoint") && e.contains("--config"),
            "{e}"
        );
    }

    #[test]
    fn checksums_are_recorded_and_a_flipped_byte_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let c = CheckpointDir::new(tmp.path());
        let ck = c.save(&state(10), 3, fill_ok).unwrap();
        assert_eq!(ck.files["ema.bpk"], sha256_hex(b"ema.bpk"));
        let ck = c.latest().unwrap();
        assert_eq!(ck.read("model.bpk").unwrap(), b"model.bpk");
        std::fs::write(ck.model_path(), b"model.bpj").unwrap();
        let e = ck.read("model.bpk").unwrap_err().to_string();
        assert!(
            e.contains("model.bpk") && e.contains("checksum mismatch"),
            "{e}"
        );
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
