//! The loss log `RUN/loss.csv` (`step,loss,lr`): the CSV the report and plots read.

use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomic;
use crate::error::TrainError;

pub(crate) struct LossLog {
    path: PathBuf,
    /// `(step, loss, lr)`, step = optimizer steps done after it.
    pub rows: Vec<(u64, f64, f64)>,
}

impl LossLog {
    /// The run's log, rows after `keep_upto` dropped (a resumed run rewrites them).
    pub fn open(run: &Path, keep_upto: u64) -> Self {
        let path = run.join("loss.csv");
        let mut rows = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                if let [s, l, r] = f[..]
                    && let (Ok(s), Ok(l), Ok(r)) =
                        (s.parse::<u64>(), l.parse::<f64>(), r.parse::<f64>())
                    && s <= keep_upto
                {
                    rows.push((s, l, r));
                }
            }
        }
        Self { path, rows }
    }

    pub fn write(&self) -> Result<(), TrainError> {
        let mut s = String::from("step,loss,lr\n");
        for (step, loss, lr) in &self.rows {
            s.push_str(&format!("{step},{loss},{lr}\n"));
        }
        write_atomic(&self.path, s.as_bytes())?;
        Ok(())
    }
}

/// Reads `(step, loss)` rows of a run's `loss.csv`.
pub fn read_losses(run: &Path) -> Vec<(u64, f64)> {
    LossLog::open(run, u64::MAX)
        .rows
        .iter()
        .map(|r| (r.0, r.1))
        .collect()
}
