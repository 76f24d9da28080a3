//! Progress bars (indicatif) for training and the ablation.

use ifvit_train::TrainProgress;
use ifvit_train::ablate::AblationProgress;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

/// Bar over the optimizer steps of one run; on a terminal, burn-train's dashboard instead.
pub struct TrainBar {
    bar: ProgressBar,
    dashboard: bool,
}

impl TrainBar {
    pub fn new(label: &str) -> Self {
        let dashboard = std::io::stdout().is_terminal();
        let target = if dashboard {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(4)
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(style(
            "{prefix} [{bar:30}] {pos}/{len} steps  {per_sec}  ETA {eta}  {msg}",
        ));
        bar.set_prefix(label.to_string());
        Self { bar, dashboard }
    }
}

impl TrainProgress for TrainBar {
    fn dashboard(&self) -> bool {
        self.dashboard
    }
    fn start(&mut self, first: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(first);
        self.bar.reset_eta();
    }
    fn step(&mut self, step: u64, loss: Option<f64>) {
        self.bar.set_position(step);
        if let Some(l) = loss {
            self.bar.set_message(format!("loss {l:.4}"));
        }
    }
    fn checkpoint(&mut self, step: u64) {
        self.bar.set_message(format!("checkpoint at step {step}"));
    }
    fn note(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("note: {message}"));
    }
    fn finish(&mut self) {
        self.bar.finish();
    }
}

/// Two bars: the whole ablation (with its ETA) and the current phase.
pub struct AblationBars {
    _multi: MultiProgress,
    overall: ProgressBar,
    phase: ProgressBar,
}

impl AblationBars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let overall = multi.add(ProgressBar::new(1000));
        overall.set_style(style(
            "overall  [{bar:30}] {percent:>3}%  elapsed {elapsed}  ETA {eta}",
        ));
        let phase = multi.add(ProgressBar::new(0));
        phase.set_style(style("{prefix:<40} [{bar:30}] {pos}/{len}  {msg}"));
        Self {
            _multi: multi,
            overall,
            phase,
        }
    }
}

impl AblationProgress for AblationBars {
    fn plan(&mut self, total_units: f64) {
        self.overall.set_length((total_units * 10.0).round() as u64);
    }
    fn phase(&mut self, label: &str, len: u64) {
        self.phase.set_prefix(label.to_string());
        self.phase.set_length(len);
        self.phase.set_position(0);
        self.phase.set_message("");
    }
    fn advance(&mut self, pos: u64, units: f64, msg: Option<String>) {
        self.phase.set_position(pos);
        self.overall.set_position((units * 10.0).round() as u64);
        if let Some(m) = msg {
            self.phase.set_message(m);
        }
    }
    fn finish(&mut self) {
        self.phase.finish_and_clear();
        self.overall.finish();
    }
}
