//! The ablation report's sections across splits, seeds and arms: seen against unseen
//! compositions, the spread over seeds, paired differences, and the c/v sweep's heat maps.

use std::fmt::Write;
use std::path::Path;

use ifvit_data::shapes::{Aspect, Split};
use ifvit_metrics::shapes::report::AspectMeans;
use ifvit_metrics::{AlignmentReport, Spread};

use crate::ablate::AblationResults;
use crate::compare::PairedRow;
use crate::error::TrainError;
use crate::plot;
use crate::report::{all_correct_ci, interval, pct};

/// All-correct with its interval: "24.7 [18.5, 32.1]" ("-" when nothing was scored).
fn ci(a: Option<&AspectMeans>) -> String {
    a.filter(|a| a.n > 0).map_or("-".into(), all_correct_ci)
}

/// All-correct of one aspect's prompts ("-" when the split has none of them).
fn aspect_all(r: Option<&AlignmentReport>, aspect: Aspect) -> String {
    r.and_then(|r| r.by_aspect.get(&aspect))
        .map_or("-".into(), |a| pct(a.all_correct))
}

/// "62.0 ± 4.1 (57.3-66.0)" in percent.
fn spread(s: Option<&Spread>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n == 1 => pct(s.mean),
        Some(s) => format!(
            "{} ± {} ({}-{})",
            pct(s.mean),
            pct(s.sd),
            pct(s.min),
            pct(s.max)
        ),
    }
}

/// `## Seen and unseen compositions` (when unseen prompts were scored).
pub fn splits_markdown(r: &AblationResults) -> String {
    if r.unseen_prompts == 0 {
        return String::new();
    }
    let mut s = String::from("## Seen and unseen compositions\n\n");
    let _ = writeln!(
        s,
        "{} seen prompts (compositions drawn from the training distribution) and {} unseen \
         ones (each holds one composition that `data.holdout` kept out of training: a \
         colour-shape pair in binding captions, a count-shape pair in count captions, a \
         colour pair in relation captions; `docs/shapes.md`). All-correct % with 95% Wilson \
         intervals; the unseen columns per aspect are all-correct % of that aspect's unseen \
         prompts. Run 0 of every arm.\n",
        r.eval_prompts, r.unseen_prompts
    );
    let _ = writeln!(
        s,
        "| model | seen all correct % | unseen all correct % | unseen count | unseen binding | unseen relation |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut row =
        |label: &str, seen: Option<&AlignmentReport>, unseen: Option<&AlignmentReport>| {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} | {} |",
                ci(seen.map(|a| &a.overall)),
                ci(unseen.map(|a| &a.overall)),
                aspect_all(unseen, Aspect::Count),
                aspect_all(unseen, Aspect::Binding),
                aspect_all(unseen, Aspect::Relation),
            );
        };
    if let (Some(b), Some(u)) = (&r.bounds, &r.unseen_bounds) {
        row(
            "real images, own caption (ceiling)",
            Some(&b.ceiling),
            Some(&u.ceiling),
        );
        row(
            "real images, another caption (chance)",
            Some(&b.chance),
            Some(&u.chance),
        );
    }
    if r.chance.is_some() {
        row(
            "untrained (noise)",
            r.chance.as_ref(),
            r.unseen_chance.as_ref(),
        );
    }
    for a in &r.arms {
        row(&a.arm, a.alignment.as_ref(), a.unseen.as_ref());
    }
    s.push('\n');
    s
}

/// `## Seeds` (when every arm ran more than once).
pub fn seeds_markdown(r: &AblationResults) -> String {
    if r.seeds <= 1 || r.summary.is_empty() {
        return String::new();
    }
    let mut s = format!("## Over {} seeds\n\n", r.seeds);
    let _ = writeln!(
        s,
        "Run k of every arm trains with seed `train.seed + k` (initialisation, data order, \
         noise) and samples its evaluation prompts with noise seed `eval.seed + k`. Mean ± \
         sample standard deviation over runs (min-max in brackets), and all runs' prompts \
         pooled with a 95% Wilson interval (pooled items are not independent across prompts \
         of one run; the paired tests below compare arms item by item).\n"
    );
    let _ = writeln!(
        s,
        "| arm | runs | seen all correct % | seen pooled [95% CI] | unseen all correct % | unseen pooled [95% CI] | relation check % (seen) | FID | attention eff. rank shallow / middle / deep (mean) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for x in &r.summary {
        let pooled = |p: Option<&ifvit_metrics::Proportion>| p.map_or("-".into(), interval);
        let fid = x.fid.map_or("-".into(), |f| {
            if f.n == 1 {
                format!("{:.1}", f.mean)
            } else {
                format!("{:.1} ± {:.1}", f.mean, f.sd)
            }
        });
        let rank = x
            .attention_profile
            .map_or("-".into(), |[a, b, c]| format!("{a:.2} / {b:.2} / {c:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {fid} | {rank} |",
            x.arm,
            x.runs,
            spread(x.seen.as_ref()),
            pooled(x.seen_pooled.as_ref()),
            spread(x.unseen.as_ref()),
            pooled(x.unseen_pooled.as_ref()),
            spread(x.relation.as_ref()),
        );
    }
    s.push('\n');
    s
}

/// "+12.0 [3.1, 20.4] p=0.008" in percentage points.
fn diff_cell(p: &PairedRow) -> String {
    let d = &p.paired;
    let star = if d.significant() && d.p_value < 0.05 {
        " *"
    } else {
        ""
    };
    format!(
        "{:+.1} [{:+.1}, {:+.1}] p{}{star}",
        100.0 * d.diff,
        100.0 * d.lo,
        100.0 * d.hi,
        p_value(d.p_value)
    )
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("={p:.3}")
    }
}

/// `## Paired differences between arms`.
pub fn paired_markdown(r: &AblationResults) -> String {
    if r.paired.is_empty() {
        return String::new();
    }
    let mut s = String::from("## Paired differences between arms\n\n");
    let _ = writeln!(
        s,
        "All-correct of arm A minus arm B in percentage points over the same prompts, initial \
         noise and seeds, with Newcombe's 95% interval for paired proportions and the exact \
         McNemar p-value over the discordant items; `*`: the interval excludes 0 and p < 0.05 \
         (the two can disagree near the edge; both must hold). Columns: all prompts of the \
         split, the same difference within each run (seed), then the split's binding and \
         relation prompts only. The test treats the (seed, prompt) items as independent: it \
         asks whether these trained models differ on such prompts; whether the difference \
         survives other training seeds shows in the per-run column and \"Over N seeds\".\n"
    );
    for split in [Split::Seen, Split::Unseen] {
        let rows: Vec<&PairedRow> = r.paired.iter().filter(|p| p.split == split).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "**{} prompts**\n\n| A - B | runs | all | per run (all) | binding | relation |\n|---|---:|---:|---:|---:|---:|",
            split.name()
        );
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for p in &rows {
            if !keys.contains(&(p.a.as_str(), p.b.as_str())) {
                keys.push((&p.a, &p.b));
            }
        }
        for (a, b) in keys {
            let cell = |aspect: Option<Aspect>| {
                rows.iter()
                    .find(|p| p.a == a && p.b == b && p.aspect == aspect)
                    .map_or("-".into(), |p| diff_cell(p))
            };
            let all = rows
                .iter()
                .find(|p| p.a == a && p.b == b && p.aspect.is_none());
            let runs = all.map_or(0, |p| p.runs);
            let per_run = all.map_or("-".into(), |p| {
                p.per_run
                    .iter()
                    .map(|d| format!("{:+.1}", 100.0 * d))
                    .collect::<Vec<_>>()
                    .join(" / ")
            });
            let _ = writeln!(
                s,
                "| {a} - {b} | {runs} | {} | {per_run} | {} | {} |",
                cell(None),
                cell(Some(Aspect::Binding)),
                cell(Some(Aspect::Relation))
            );
        }
        s.push('\n');
    }
    s
}

/// A sweep's grid of one statistic: rows `c`, columns `v`.
struct Grid {
    rows: Vec<String>,
    cols: Vec<String>,
    values: Vec<Vec<Option<f64>>>,
}

/// The sweep's grid of `stat` per arm (from the summary or run 0), `None` if no sweep.
fn sweep_grid(r: &AblationResults, stat: &dyn Fn(usize) -> Option<f64>) -> Option<Grid> {
    let sw = r.sweep.as_ref()?;
    let mut values = vec![vec![None; sw.v.len()]; sw.c.len()];
    for (k, a) in r.arms.iter().enumerate() {
        let Some(f) = a.fusion else { continue };
        let (c, v) = f.knobs();
        if let (Some(i), Some(j)) = (
            sw.c.iter().position(|&x| x == c),
            sw.v.iter().position(|&x| x == v),
        ) {
            values[i][j] = stat(k);
        }
    }
    Some(Grid {
        rows: sw.c.iter().map(|c| format!("c = {c}")).collect(),
        cols: sw.v.iter().map(|v| format!("v = {v}")).collect(),
        values,
    })
}

/// The sweep's statistics: (title, file, cell format, value of arm k).
type Stat<'a> = (
    String,
    &'static str,
    fn(f64) -> String,
    Box<dyn Fn(usize) -> Option<f64> + 'a>,
);

fn sweep_stats(r: &AblationResults) -> Vec<Stat<'_>> {
    let mean = |f: fn(&crate::compare::ArmSummary) -> Option<Spread>| {
        move |k: usize| r.summary.get(k).and_then(f).map(|s| s.mean)
    };
    let mut stats: Vec<Stat<'_>> = vec![
        (
            "All-correct %, seen prompts".into(),
            "sweep_alignment.png",
            |v| format!("{:.1}", 100.0 * v),
            Box::new(mean(|x| x.seen)),
        ),
        (
            "Forward GMACs per image".into(),
            "sweep_gmacs.png",
            crate::report::sig3,
            Box::new(move |k| r.arms.get(k).map(|a| a.gmacs)),
        ),
    ];
    if r.unseen_prompts > 0 {
        stats.insert(
            1,
            (
                "All-correct %, unseen prompts".into(),
                "sweep_unseen.png",
                |v| format!("{:.1}", 100.0 * v),
                Box::new(mean(|x| x.unseen)),
            ),
        );
    }
    stats
}

/// `## c/v sweep`: one Markdown grid and one heat map per statistic.
pub fn sweep_markdown(r: &AblationResults) -> String {
    let Some(sw) = &r.sweep else {
        return String::new();
    };
    let mut s = format!(
        "## c/v sweep: intermediate-{}\n\nEvery cell is one arm: `c` text-only blocks, `v` \
         image-only blocks at each end (c = 0, v = 0 fuses in every block like early fusion, \
         through the intermediate code path). Alignment is the mean over {} run(s).\n\n",
        sw.method, r.seeds
    );
    for (title, file, fmt, stat) in sweep_stats(r) {
        let Some(g) = sweep_grid(r, &*stat) else {
            continue;
        };
        let _ = writeln!(s, "**{title}**\n");
        let _ = writeln!(s, "| | {} |", g.cols.join(" | "));
        let _ = writeln!(s, "|---|{}", "---:|".repeat(g.cols.len()));
        for (label, row) in g.rows.iter().zip(&g.values) {
            let cells: Vec<String> = row.iter().map(|v| v.map_or("-".into(), &fmt)).collect();
            let _ = writeln!(s, "| {label} | {} |", cells.join(" | "));
        }
        let _ = writeln!(s, "\n![{title}]({file})\n");
    }
    s
}

/// The sweep's heat maps (nothing without a sweep).
pub fn sweep_plots(r: &AblationResults, out: &Path) -> Result<(), TrainError> {
    let Some(sw) = &r.sweep else {
        return Ok(());
    };
    for (title, file, fmt, stat) in sweep_stats(r) {
        if let Some(g) = sweep_grid(r, &*stat) {
            plot::heatmap(
                &format!("intermediate-{}: {title}", sw.method),
                "text-only blocks c",
                "image-only blocks v at each end",
                &g.rows,
                &g.cols,
                &g.values,
                &fmt,
                &out.join(file),
            )?;
        }
    }
    Ok(())
}
