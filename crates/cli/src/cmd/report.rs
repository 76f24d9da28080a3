//! `ifvit report DIR`: writes an ablation folder's report again from its results.

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A finished `ifvit ablate` folder (holds results.json and config.ron).
    pub dir: PathBuf,
}

/// Rewrites `report.md`, `results.csv`, `results.json` and the plots of `dir` from its
/// `results.json` (nothing is trained or sampled), with today's report format and the
/// statistics across runs.
pub fn run(args: &ReportArgs) -> Result<()> {
    anyhow::ensure!(
        args.dir.join("results.json").is_file(),
        "{}: no results.json here; point `ifvit report` at the folder of a finished `ifvit \
         ablate` (its --out)",
        args.dir.display()
    );
    let _lock = ifvit_train::runlock::RunLock::acquire(&args.dir)?;
    let r = ifvit_train::report::rewrite(&args.dir)?;
    println!("{}", ifvit_train::report::summary_table(&r));
    println!("report: {}", args.dir.join("report.md").display());
    Ok(())
}
