//! The ablation report: `report.md`, `results.csv`, `results.json` and the PNG plots.

use std::fmt::Write;
use std::path::Path;

use crate::ablate::AblationResults;
use crate::checkpoint::write_atomic;
use crate::config::ExperimentConfig;
use crate::error::TrainError;
use crate::plot;
use crate::trainer::read_losses;

fn pct(v: f64) -> String {
    format!("{:.1}", 100.0 * v)
}

fn opt_pct(v: Option<f64>) -> String {
    v.map(pct).unwrap_or_else(|| "-".into())
}

/// `results.csv`: one row per arm (plus the untrained chance row).
pub fn csv(r: &AblationResults) -> String {
    let mut s = String::from(
        "arm,params,gmacs,gmacs_ratio,train_steps,batch,train_seconds,train_img_per_s,step_ms,final_loss,\
         count,colour,shape,relation,all_correct,fid,clip_score\n",
    );
    let a = &r.chance.overall;
    let _ = writeln!(
        s,
        "untrained (chance),,,,0,,,,,,{:.4},{:.4},{:.4},{},{:.4},,",
        a.count,
        a.color,
        a.shape,
        a.relation.map(|v| format!("{v:.4}")).unwrap_or_default(),
        a.all_correct
    );
    for x in &r.arms {
        let a = &x.alignment.overall;
        let _ = writeln!(
            s,
            "\"{}\",{},{:.5},{:.4},{},{},{:.1},{:.2},{:.2},{:.5},{:.4},{:.4},{:.4},{},{:.4},{},{}",
            x.arm,
            x.params,
            x.gmacs,
            x.gmacs_ratio_to_first_arm,
            x.train_steps,
            x.batch_size,
            x.train_seconds,
            x.train_images_per_s,
            x.step_ms,
            x.final_loss,
            a.count,
            a.color,
            a.shape,
            a.relation.map(|v| format!("{v:.4}")).unwrap_or_default(),
            a.all_correct,
            x.fid.map(|v| v.to_string()).unwrap_or_default(),
            x.clip_score.map(|v| v.to_string()).unwrap_or_default(),
        );
    }
    s
}

/// `report.md`.
pub fn markdown(r: &AblationResults, cfg: &ExperimentConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Fusion ablation: {}\n", r.name);
    let _ = writeln!(
        s,
        "Every arm trained with the same seed, data order and budget ({} steps at batch {}), \
         evaluated with its EMA weights on {} held-out `shapes` prompts, sampler {}, guidance \
         w = {} (U-ViT s = {}). Machine: {}. Device: {}. Wall time: {:.1} min.\n",
        cfg.train.steps,
        cfg.train.batch_size,
        r.eval_prompts,
        r.sampler,
        r.guidance,
        r.guidance - 1.0,
        r.machine,
        r.device,
        r.total_seconds / 60.0
    );
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "| arm | params | GMACs/img | vs first | img/s (train) | step ms | final loss | count % | colour % | shape % | relation % | all correct % |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let c = &r.chance.overall;
    let _ = writeln!(
        s,
        "| untrained (chance) | | | | | | | {} | {} | {} | {} | {} |",
        pct(c.count),
        pct(c.color),
        pct(c.shape),
        opt_pct(c.relation),
        pct(c.all_correct)
    );
    for x in &r.arms {
        let a = &x.alignment.overall;
        let _ = writeln!(
            s,
            "| {} | {:.3}M | {:.4} | {:.3} | {:.1} | {:.1} | {:.4} | {} | {} | {} | {} | **{}** |",
            x.arm,
            x.params as f64 / 1e6,
            x.gmacs,
            x.gmacs_ratio_to_first_arm,
            x.train_images_per_s,
            x.step_ms,
            x.final_loss,
            pct(a.count),
            pct(a.color),
            pct(a.shape),
            opt_pct(a.relation),
            pct(a.all_correct)
        );
    }
    let _ = writeln!(
        s,
        "\n\"Chance\" is an untrained model (random init of the first arm) sampled and scored \
         exactly like the trained ones. Percentages are over all prompts except relation, which \
         is over the relation prompts only. GMACs are the analytic forward cost per image \
         (`ifvit info`); img/s is measured training throughput on this run's device.\n"
    );
    let _ = writeln!(s, "### Alignment by caption aspect\n");
    for x in &r.arms {
        let _ = writeln!(s, "**{}**\n\n{}", x.arm, x.alignment.to_markdown());
    }
    let _ = writeln!(s, "**untrained (chance)**\n\n{}", r.chance.to_markdown());
    let _ = writeln!(s, "## Not computed yet\n");
    let _ = writeln!(
        s,
        "FID and CLIP score are not computed yet: they need the Inception-v3 and CLIP networks \
         and real images (a later issue). `results.json` has the fields `fid` and `clip_score` \
         (null for now) so the schema does not change when they arrive.\n"
    );
    let _ = writeln!(s, "## Figures\n");
    let _ = writeln!(s, "![loss](loss.png)\n\n![alignment vs GMACs](alignment_vs_gmacs.png)\n\n![throughput](throughput.png)\n");
    let _ = writeln!(s, "Samples for the same prompts and the same initial noise (rows: untrained, then each arm):\n\n![samples](grids/all.png)\n");
    let _ = writeln!(s, "## Reproduce\n\n```\nifvit ablate --config <this folder>/config.ron --out <folder>\n```\n");
    s
}

/// Writes every report file into `out`.
pub fn write_all(r: &AblationResults, cfg: &ExperimentConfig, out: &Path) -> Result<(), TrainError> {
    write_atomic(&out.join("results.csv"), csv(r).as_bytes())?;
    let json = serde_json::to_vec_pretty(r).map_err(|e| TrainError::Other(e.to_string()))?;
    write_atomic(&out.join("results.json"), &json)?;
    write_atomic(&out.join("report.md"), markdown(r, cfg).as_bytes())?;
    let series: Vec<(String, Vec<(u64, f64)>)> =
        r.arms.iter().map(|a| (a.arm.clone(), read_losses(&a.run_dir))).collect();
    plot::loss_curves(&series, &out.join("loss.png"))?;
    let points: Vec<(String, f64, f64)> =
        r.arms.iter().map(|a| (a.arm.clone(), a.gmacs, a.alignment.overall.all_correct)).collect();
    plot::scatter(
        "All-correct alignment vs forward cost",
        "forward GMACs per image",
        "all-correct (fraction of prompts)",
        &points,
        Some((r.chance.overall.all_correct, "untrained (chance)")),
        &out.join("alignment_vs_gmacs.png"),
    )?;
    let bars: Vec<(String, f64)> = r.arms.iter().map(|a| (a.arm.clone(), a.train_images_per_s)).collect();
    plot::bars("Training throughput", "images / s", &bars, &out.join("throughput.png"))?;
    Ok(())
}

/// A compact text table for the terminal.
pub fn summary_table(r: &AblationResults) -> String {
    let mut s = format!(
        "{:<34} {:>9} {:>8} {:>9} {:>10} {:>8} {:>8}\n",
        "arm", "params", "GMACs", "img/s", "loss", "colour%", "all%"
    );
    let c = &r.chance.overall;
    let _ = writeln!(s, "{:<34} {:>9} {:>8} {:>9} {:>10} {:>8} {:>8}", "untrained (chance)", "", "", "", "", pct(c.color), pct(c.all_correct));
    for a in &r.arms {
        let o = &a.alignment.overall;
        let _ = writeln!(
            s,
            "{:<34} {:>8.2}M {:>8.4} {:>9.1} {:>10.5} {:>8} {:>8}",
            a.arm,
            a.params as f64 / 1e6,
            a.gmacs,
            a.train_images_per_s,
            a.final_loss,
            pct(o.color),
            pct(o.all_correct)
        );
    }
    s
}
