//! `--vs-pytorch`: the committed PyTorch baselines (`scripts/bench/*.py`), run from this binary
//! right after ifvit's own measurement, so that both numbers and their ratio come from one
//! command on one machine state.
//!
//! The scripts are compiled into the binary (so the command works from any directory) and
//! written to a private temporary folder with the layout they expect
//! (`scripts/bench/..`, `scripts/parity/uvit_reference.py`). Python is `--python`, else
//! `$IFVIT_PYTHON`, else `python3`; it needs `torch` (and `diffusers` for the sampler).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use ifvit_fusion::Fusion;

/// The `--python` option of the `--vs-pytorch` benchmarks.
#[derive(clap::Args, Debug)]
pub struct PythonArgs {
    /// Python interpreter with PyTorch for `--vs-pytorch` (default: $IFVIT_PYTHON, else
    /// `python3`).
    #[arg(long)]
    pub python: Option<String>,
}

impl PythonArgs {
    /// `--python`, else `$IFVIT_PYTHON`, else `python3`.
    pub fn interpreter(&self) -> String {
        self.python
            .clone()
            .or_else(|| std::env::var("IFVIT_PYTHON").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "python3".to_string())
    }
}

/// A committed baseline script.
#[derive(Clone, Copy, Debug)]
pub enum Script {
    /// `scripts/bench/pytorch_train_step.py`: forward, MSE, backward, AdamW.
    TrainStep,
    /// `scripts/bench/pytorch_sampler.py`: DDIM with classifier-free guidance.
    Sampler,
}

const UVIT_REFERENCE: &str = include_str!("../../../../scripts/parity/uvit_reference.py");
const TRAIN_STEP: &str = include_str!("../../../../scripts/bench/pytorch_train_step.py");
const SAMPLER: &str = include_str!("../../../../scripts/bench/pytorch_sampler.py");

impl Script {
    fn file(self) -> &'static str {
        match self {
            Script::TrainStep => "pytorch_train_step.py",
            Script::Sampler => "pytorch_sampler.py",
        }
    }

    /// Python modules the script imports beyond the standard library.
    fn modules(self) -> &'static str {
        match self {
            Script::TrainStep => "torch",
            Script::Sampler => "torch, diffusers",
        }
    }
}

/// `--preset P --fusion F --c C --v V --threads N`: the model arguments both scripts take,
/// and PyTorch's thread count: that of ifvit's (rayon's) pool, so `RAYON_NUM_THREADS=1`
/// compares one thread with one thread.
pub fn model_args(preset: &str, fusion: Fusion) -> Vec<String> {
    let (c, v) = fusion.knobs();
    [
        "--preset",
        preset,
        "--fusion",
        fusion.family(),
        "--c",
        &c.to_string(),
        "--v",
        &v.to_string(),
        "--threads",
        &threads().to_string(),
    ]
    .map(str::to_string)
    .to_vec()
}

/// Threads of ifvit's pool: `RAYON_NUM_THREADS` when set to a positive number (as rayon
/// reads it), else the available parallelism.
pub fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The scripts, written once to a private temporary folder (removed on drop).
pub struct Baseline {
    python: String,
    dir: PathBuf,
}

impl Baseline {
    /// Writes the scripts and checks that `python` imports what `script` needs.
    pub fn new(args: &PythonArgs, script: Script) -> Result<Self> {
        let python = args.interpreter();
        let modules = script.modules();
        let probe = Command::new(&python)
            .args(["-c", &format!("import {modules}")])
            .output();
        match probe {
            Err(e) => bail!(
                "--vs-pytorch: cannot run the Python interpreter `{python}`: {e}. Pass --python \
                 /path/to/python (or set IFVIT_PYTHON) to an interpreter with {modules} installed"
            ),
            Ok(out) if !out.status.success() => bail!(
                "--vs-pytorch: `{python} -c \"import {modules}\"` failed: {}. Install PyTorch \
                 (CPU) there{}, or pass --python /path/to/python (or set IFVIT_PYTHON) to one \
                 that has it",
                last_line(&out.stderr),
                if matches!(script, Script::Sampler) {
                    " and diffusers"
                } else {
                    ""
                }
            ),
            Ok(_) => {}
        }
        let dir = std::env::temp_dir().join(format!(
            "ifvit-vs-pytorch-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        for (path, text) in [
            ("scripts/parity/uvit_reference.py", UVIT_REFERENCE),
            ("scripts/bench/pytorch_train_step.py", TRAIN_STEP),
            ("scripts/bench/pytorch_sampler.py", SAMPLER),
        ] {
            let file = dir.join(path);
            let parent = file.parent().expect("a script path has a folder");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(Self { python, dir })
    }

    /// Runs `script` with `args` and parses the JSON object it prints last.
    pub fn run(&self, script: Script, args: &[String]) -> Result<serde_json::Value> {
        let path = self.dir.join("scripts/bench").join(script.file());
        let shown = format!("{} {} {}", self.python, script.file(), args.join(" "));
        let out = Command::new(&self.python)
            .arg(&path)
            .args(args)
            .output()
            .with_context(|| format!("running {shown}"))?;
        if !out.status.success() {
            bail!(
                "{shown} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().rev().find(|l| l.starts_with('{'));
        let line = line.with_context(|| format!("{shown} printed no JSON object: {stdout}"))?;
        serde_json::from_str(line).with_context(|| format!("{shown}: parsing `{line}`"))
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A number the script reported, or an error naming it.
pub fn field(v: &serde_json::Value, name: &str) -> Result<f64> {
    v.get(name)
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("the PyTorch script reported no number `{name}`: {v}"))
}

/// Median of a non-empty list (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The larger of two optional numbers (either, when only one is present).
pub fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The last non-empty line of a program's error output (Python's exception line).
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no error output)")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_args_name_the_strategy_and_its_knobs() {
        let f = Fusion::parse("intermediate-concat", Some(1), Some(2)).unwrap();
        let n = threads();
        assert_eq!(
            model_args("uvit-tiny", f).join(" "),
            format!("--preset uvit-tiny --fusion intermediate-concat --c 1 --v 2 --threads {n}")
        );
        let early = model_args("uvit-s2", Fusion::EarlyCrossAttn).join(" ");
        assert_eq!(
            early,
            format!("--preset uvit-s2 --fusion early-crossattn --c 0 --v 0 --threads {n}")
        );
    }

    #[test]
    fn a_missing_interpreter_is_a_clear_error() {
        let args = PythonArgs {
            python: Some("/nonexistent/ifvit-python".into()),
        };
        let e = Baseline::new(&args, Script::TrainStep)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/nonexistent/ifvit-python") && e.contains("--python"),
            "{e}"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            last_line(b"Traceback\n  x\nModuleNotFoundError: torch\n\n"),
            "ModuleNotFoundError: torch"
        );
        assert_eq!(max_opt(Some(1.0), None), Some(1.0));
        assert_eq!(max_opt(Some(1.0), Some(3.0)), Some(3.0));
        assert_eq!(max_opt(None, None), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[0.9, 3.9]), 2.4);
    }
}
