//! The ablation report: `report.md`, `results.csv`, `results.json` and the PNG plots.

use std::fmt::Write;
use std::path::Path;

use ifvit_metrics::Proportion;
use ifvit_metrics::shapes::report::AspectMeans;

use crate::ablate::{AblationResults, ArmResult};
use crate::checkpoint::write_atomic;
use crate::config::ExperimentConfig;
use crate::error::TrainError;
use crate::plot;
use crate::trainer::read_losses;

/// At least three significant digits, and at least two decimals: `16.23`, `0.0394` (GMACs
/// in tables).
pub fn sig3(x: f64) -> String {
    let decimals = if x == 0.0 || !x.is_finite() {
        2
    } else {
        (2 - x.abs().log10().floor() as i32).max(2) as usize
    };
    format!("{x:.decimals$}")
}

/// The unseen prompts' all-correct fraction (empty without unseen prompts).
fn unseen_cell(u: Option<&ifvit_metrics::AlignmentReport>) -> String {
    u.map(|u| format!("{:.4}", u.overall.all_correct))
        .unwrap_or_default()
}

/// Sampling milliseconds per evaluation image (guided, the evaluation sampler and batch).
fn sample_ms(x: &ArmResult, prompts: usize) -> Option<f64> {
    (prompts > 0 && x.sample_seconds > 0.0).then(|| 1e3 * x.sample_seconds / prompts as f64)
}

/// A fraction in percent with one decimal: "24.7".
pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}", 100.0 * v)
}

/// A rate with its 95% Wilson interval in percent: "24.7 [18.5, 32.1]".
pub(crate) fn interval(p: &Proportion) -> String {
    format!("{} [{}, {}]", pct(p.p), pct(p.lo), pct(p.hi))
}

/// All-correct with its 95% Wilson interval: "24.7 [18.5, 32.1]".
pub(crate) fn all_correct_ci(a: &AspectMeans) -> String {
    let p = a.intervals.all_correct;
    if p.n == 0 {
        // A report written before the intervals existed.
        return pct(a.all_correct);
    }
    interval(&p)
}

/// Percentages of `count, colour, shape, relation, all-correct` ("-" where absent).
fn cells(a: Option<&AspectMeans>) -> [String; 5] {
    match a {
        None => std::array::from_fn(|_| "-".to_string()),
        Some(a) => [
            pct(a.count),
            pct(a.color),
            pct(a.shape),
            a.relation.map(pct).unwrap_or_else(|| "-".into()),
            pct(a.all_correct),
        ],
    }
}

fn fractions(a: Option<&AspectMeans>) -> String {
    match a {
        None => ",,,,".into(),
        Some(a) => format!(
            "{:.4},{:.4},{:.4},{},{:.4}",
            a.count,
            a.color,
            a.shape,
            a.relation.map(|v| format!("{v:.4}")).unwrap_or_default(),
            a.all_correct
        ),
    }
}

/// `results.csv`: one row per arm (plus the untrained chance row where scored).
pub fn csv(r: &AblationResults) -> String {
    let mut s = String::from(
        "arm,params,gmacs,gmacs_ratio,train_steps,batch,train_seconds,train_img_per_s,step_ms,final_loss,\
         count,colour,shape,relation,all_correct,fid,clip_score,kid,kid_std,fid_n,seed_index,unseen_all_correct,sample_ms_per_img\n",
    );
    if let Some(b) = &r.bounds {
        let unseen = r.unseen_bounds.as_ref();
        for (label, rep, u) in [
            ("ceiling", &b.ceiling, unseen.map(|u| &u.ceiling)),
            ("chance", &b.chance, unseen.map(|u| &u.chance)),
        ] {
            let _ = writeln!(
                s,
                "real images ({label}),,,,0,,,,,,{},,,,,,,{},",
                fractions(Some(&rep.overall)),
                unseen_cell(u)
            );
        }
    }
    if let Some(c) = &r.chance {
        let _ = writeln!(
            s,
            "untrained (noise),,,,0,,,,,,{},,,,,,,{},",
            fractions(Some(&c.overall)),
            unseen_cell(r.unseen_chance.as_ref())
        );
    }
    for x in r.all_runs() {
        let _ = writeln!(
            s,
            "\"{}\",{},{:.5},{:.4},{},{},{:.1},{:.2},{:.2},{:.5},{},{},{},{},{},{},{}",
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
            fractions(x.alignment.as_ref().map(|a| &a.overall)),
            x.fid.map(|v| v.to_string()).unwrap_or_default(),
            x.clip_score
                .hessel()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            crate::report_quality::csv_cells(&x.quality),
            x.seed_index,
            unseen_cell(x.unseen.as_ref()),
            sample_ms(x, r.eval_prompts)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
        );
    }
    s
}

/// `report.md`.
pub fn markdown(r: &AblationResults, cfg: &ExperimentConfig, has_samples: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Fusion ablation: {}\n", r.name);
    let unseen = match r.unseen_prompts {
        0 => String::new(),
        n => format!(" plus {n} prompts with unseen compositions"),
    };
    let eval = if r.chance.is_some() {
        format!(
            "evaluated with its EMA weights on {} seen `shapes` prompts{unseen} (sampler {}, \
             guidance w = {}, U-ViT s = {})",
            r.eval_prompts,
            r.sampler,
            r.guidance,
            r.guidance - 1.0
        )
    } else {
        "not scored for alignment (only the built-in `shapes` data has an exact scorer)".to_string()
    };
    let runs = match r.seeds {
        1 => "Every arm trained once, with the same seed, data order and budget".to_string(),
        n => format!(
            "Every arm trained {n} times (seeds {}..={}; the tables below show run 0, \
             \"Over {n} seeds\" all runs), each run with the same seed, data order and budget \
             as the other arms",
            cfg.train.seed,
            cfg.train.seed + n as u64 - 1
        ),
    };
    let _ = writeln!(
        s,
        "{runs} ({} steps at batch {}), {eval}. Machine: {}. Device: {}. Wall time: {:.1} min.\n",
        cfg.train.steps,
        cfg.train.batch_size,
        r.machine,
        r.device,
        r.total_seconds / 60.0
    );
    let _ = writeln!(s, "Text: {}.\n", cfg.text_encoder.describe());
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "| arm | params | GMACs/img | vs first | img/s (train) | step ms | sample ms/img | final loss | count % | colour % | shape % | relation % | all correct % [95% CI] |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    if let Some(b) = &r.bounds {
        for (label, rep) in [
            ("real images, own caption (ceiling)", &b.ceiling),
            ("real images, another caption (chance)", &b.chance),
        ] {
            let [a, b, d, e, _] = cells(Some(&rep.overall));
            let f = all_correct_ci(&rep.overall);
            let _ = writeln!(s, "| {label} | | | | | | | | {a} | {b} | {d} | {e} | {f} |");
        }
    }
    if let Some(c) = &r.chance {
        let [a, b, d, e, _] = cells(Some(&c.overall));
        let f = all_correct_ci(&c.overall);
        let _ = writeln!(
            s,
            "| untrained (noise) | | | | | | | | {a} | {b} | {d} | {e} | {f} |"
        );
    }
    for x in &r.arms {
        let [a, b, d, e, _] = cells(x.alignment.as_ref().map(|a| &a.overall));
        let f = x
            .alignment
            .as_ref()
            .map(|a| all_correct_ci(&a.overall))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {:.3}M | {:.4} | {:.3} | {:.1} | {:.1} | {} | {:.4} | {a} | {b} | {d} | {e} | **{f}** |",
            x.arm,
            x.params as f64 / 1e6,
            x.gmacs,
            x.gmacs_ratio_to_first_arm,
            x.train_images_per_s,
            x.step_ms,
            sample_ms(x, r.eval_prompts).map_or("-".into(), |v| format!("{v:.1}")),
            x.final_loss,
        );
    }
    if r.chance.is_some() {
        let _ = writeln!(
            s,
            "\nBounds: \"ceiling\" scores real `shapes` images of the same prompts against \
             their own caption (where the scorer itself errs); \"chance\" scores them against \
             another caption of the same aspect (a model that draws plausible scenes but \
             ignores the text). \"Untrained\" is a random init of the first arm sampled and \
             scored like the trained ones (0% by construction: noise has no objects). \
             Percentages are over all prompts except relation, which is over the relation \
             prompts only; brackets are 95% Wilson intervals."
        );
    }
    let _ = writeln!(
        s,
        "GMACs are the analytic forward cost per image (`ifvit info`); img/s is measured \
         training throughput on this run's device (optimizer steps only; checkpoint writes \
         excluded); sample ms/img is the evaluation sampler's wall time per image (with \
         guidance, the evaluation batch size).\n"
    );
    if let Some(c) = &r.chance {
        let _ = writeln!(s, "### Alignment by caption aspect\n");
        for x in &r.arms {
            if let Some(a) = &x.alignment {
                let _ = writeln!(s, "**{}**\n\n{}", x.arm, a.to_markdown());
            }
        }
        let _ = writeln!(s, "**untrained (noise)**\n\n{}", c.to_markdown());
        if let Some(b) = &r.bounds {
            let _ = writeln!(
                s,
                "**real images, own caption (ceiling)**\n\n{}",
                b.ceiling.to_markdown()
            );
            let _ = writeln!(
                s,
                "**real images, another caption of the same aspect (chance)**\n\n{}",
                b.chance.to_markdown()
            );
        }
    }
    s.push_str(&crate::report_compare::splits_markdown(r));
    s.push_str(&crate::report_compare::seeds_markdown(r));
    s.push_str(&crate::report_compare::paired_markdown(r));
    s.push_str(&crate::report_compare::sweep_markdown(r));
    s.push_str(&crate::report_quality::markdown(r));
    let _ = writeln!(s, "## Figures\n");
    let _ = writeln!(s, "![loss](loss.png)\n");
    if r.chance.is_some() {
        let _ = writeln!(s, "![alignment vs GMACs](alignment_vs_gmacs.png)\n");
    }
    let _ = writeln!(s, "![throughput](throughput.png)\n");
    if has_samples {
        let _ = writeln!(
            s,
            "Samples for the same prompts and the same initial noise (rows: untrained, then \
             each arm):\n\n![samples](grids/all.png)\n"
        );
    }
    let _ = writeln!(
        s,
        "## Reproduce\n\n```\nifvit ablate --config <this folder>/config.ron --out <folder>\n```\n"
    );
    s
}

/// Writes the report files of the finished ablation in `out` again from its `results.json`
/// and `config.ron` (`ifvit report DIR`): after a change of the report's format, or to add
/// the statistics across runs to an older folder. Nothing is trained or sampled.
pub fn rewrite(out: &Path) -> Result<AblationResults, TrainError> {
    let path = out.join("results.json");
    let bytes = std::fs::read(&path).map_err(|e| crate::checkpoint::io_err(&path, e))?;
    let mut r: AblationResults =
        serde_json::from_slice(&bytes).map_err(|e| TrainError::Output {
            path: path.display().to_string(),
            message: format!("not the results.json of an ablation: {e}"),
        })?;
    let cfg = ExperimentConfig::load(&out.join("config.ron"))?;
    r.summary = crate::compare::summaries(&r);
    r.paired = crate::compare::paired(&r);
    write_all(&r, &cfg, out)?;
    Ok(r)
}

/// Writes every report file into `out`.
pub fn write_all(
    r: &AblationResults,
    cfg: &ExperimentConfig,
    out: &Path,
) -> Result<(), TrainError> {
    write_atomic(&out.join("results.csv"), csv(r).as_bytes())?;
    let json = serde_json::to_vec_pretty(r).map_err(|e| TrainError::Other(e.to_string()))?;
    write_atomic(&out.join("results.json"), &json)?;
    let has_samples = out.join("grids").join("all.png").exists();
    write_atomic(
        &out.join("report.md"),
        markdown(r, cfg, has_samples).as_bytes(),
    )?;
    let series: Vec<(String, Vec<(u64, f64)>)> = r
        .arms
        .iter()
        .map(|a| (a.arm.clone(), read_losses(&a.run_dir)))
        .collect();
    plot::loss_curves(&series, &out.join("loss.png"))?;
    if let Some(chance) = &r.chance {
        let points: Vec<(String, f64, f64)> = r
            .arms
            .iter()
            .filter_map(|a| {
                a.alignment
                    .as_ref()
                    .map(|al| (a.arm.clone(), a.gmacs, al.overall.all_correct))
            })
            .collect();
        plot::scatter(
            "All-correct alignment vs forward cost",
            "forward GMACs per image",
            "all-correct (fraction of prompts)",
            &points,
            Some(match &r.bounds {
                Some(b) => (
                    b.chance.overall.all_correct,
                    "real images, another caption (chance)",
                ),
                None => (chance.overall.all_correct, "untrained (noise)"),
            }),
            &out.join("alignment_vs_gmacs.png"),
        )?;
    }
    let bars: Vec<(String, f64)> = r
        .arms
        .iter()
        .map(|a| (a.arm.clone(), a.train_images_per_s))
        .collect();
    plot::bars(
        "Training throughput",
        "images / s",
        &bars,
        &out.join("throughput.png"),
    )?;
    crate::report_compare::sweep_plots(r, out)?;
    Ok(())
}

/// A compact text table for the terminal.
pub fn summary_table(r: &AblationResults) -> String {
    let mut s = format!(
        "{:<34} {:>9} {:>8} {:>9} {:>10} {:>8} {:>8}\n",
        "arm", "params", "GMACs", "img/s", "loss", "colour%", "all%"
    );
    let mut bound = |label: &str, rep: &AspectMeans| {
        let [_, col, _, _, all] = cells(Some(rep));
        let _ = writeln!(
            s,
            "{:<34} {:>9} {:>8} {:>9} {:>10} {:>8} {:>8}",
            label, "", "", "", "", col, all
        );
    };
    if let Some(b) = &r.bounds {
        bound("real images (ceiling)", &b.ceiling.overall);
        bound("real images, other caption (chance)", &b.chance.overall);
    }
    if let Some(c) = &r.chance {
        bound("untrained (noise)", &c.overall);
    }
    for a in &r.arms {
        let [_, col, _, _, all] = cells(a.alignment.as_ref().map(|x| &x.overall));
        let _ = writeln!(
            s,
            "{:<34} {:>8.2}M {:>8.4} {:>9.1} {:>10.5} {:>8} {:>8}",
            a.arm,
            a.params as f64 / 1e6,
            a.gmacs,
            a.train_images_per_s,
            a.final_loss,
            col,
            all
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(16.2301), "16.23");
        assert_eq!(sig3(0.039412), "0.0394");
        assert_eq!(sig3(0.0031234), "0.00312");
        assert_eq!(sig3(0.0), "0.00");
    }
}
