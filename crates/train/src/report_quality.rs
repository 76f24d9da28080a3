//! The ablation report's image-quality and attention-rank section (`arm_quality`).

use std::fmt::Write;

use crate::ablate::AblationResults;
use crate::arm_quality::ArmQuality;
use crate::eval_run::ClipField;

/// `kid,kid_std,fid_n` cells of `results.csv` (empty when absent).
pub fn csv_cells(q: &ArmQuality) -> String {
    match &q.fid {
        Some(f) => format!("{:.6},{:.6},{}", f.kid, f.kid_std, f.n),
        None => ",,".into(),
    }
}

fn profile(q: &ArmQuality) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    match q.attention_rank_profile {
        Some([s, m, d]) => format!("{} / {} / {}", f(s), f(m), f(d)),
        None => "-".into(),
    }
}

/// The `## Image quality and attention rank` section of `report.md`.
pub fn markdown(r: &AblationResults) -> String {
    let mut s = String::from("## Image quality (FID/KID) and attention rank\n\n");
    let absent = r.arms.iter().find_map(|a| a.quality.fid_absent.clone());
    if let Some(reason) = &absent {
        let _ = writeln!(s, "FID/KID not computed: {reason}.\n");
    }
    if let Some(reference) = &r.fid_reference {
        let n = r
            .arms
            .iter()
            .find_map(|a| a.quality.fid.as_ref().map(|f| f.n))
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "FID and KID (clean-fid's unbiased KID, cubic kernel) of {n} guided evaluation \
             samples per arm (the first prompts of each aspect of the alignment set; w = {}) \
             against {} (Inception `{}`..., resize {}; cached as `{}`). With so few samples \
             FID is strongly biased upwards: compare arms with each other, not with published \
             numbers; KID is unbiased. KID's subsets hold min(n, 1000) samples, so with \
             n below 1000 every subset is the whole set and its std is 0.\n",
            r.guidance,
            reference.source,
            &reference.inception_sha256[..12.min(reference.inception_sha256.len())],
            reference.resize,
            reference.path.display()
        );
    }
    let _ = writeln!(
        s,
        "| arm | FID | KID x 1000 (± std) | attention eff. rank shallow / middle / deep | extra s |\n|---|---:|---:|---:|---:|"
    );
    let mut extra = r.quality_setup_seconds;
    for a in &r.arms {
        let q = &a.quality;
        extra += q.extra_seconds;
        let (fid, kid) = match &q.fid {
            Some(f) => (
                format!("{:.2}", f.fid),
                format!("{:.2} ± {:.2}", 1e3 * f.kid, 1e3 * f.kid_std),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {fid} | {kid} | {} | {:.1} |",
            a.arm,
            profile(q),
            q.extra_seconds
        );
    }
    let _ = writeln!(
        s,
        "\nThese metrics added {extra:.1} s to this run's {:.1} min wall time (Inception \
         and reference: {:.1} s; per arm: features, FID/KID and the attention analysis), \
         measured on this machine.\n",
        r.total_seconds / 60.0,
        r.quality_setup_seconds
    );
    match r.arms.first().map(|a| &a.clip_score) {
        Some(ClipField::Absent { absent }) => {
            let _ = writeln!(s, "CLIP score: absent. {absent}\n");
        }
        Some(ClipField::Scores { .. }) | None => {}
    }
    let analysed: Vec<_> = r
        .arms
        .iter()
        .filter(|a| a.quality.attention_rank_figure.is_some())
        .collect();
    if !analysed.is_empty() {
        let _ = writeln!(
            s,
            "### Attention rank\n\nEffective rank (Roy & Vetterli) of the image-query x \
             text-key attention probabilities per block, averaged over 8 evaluation captions \
             (real images noised to each timestep) and heads; one line per timestep. The \
             paper fuses text only in the middle because it found this attention low-rank in \
             the shallow and deep blocks. Tables: `arms/<arm>/attention-rank/attention_rank.md`.\n"
        );
        for a in analysed {
            let slug = a
                .run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "**{}**: {}\n\n![attention rank {}](arms/{slug}/attention-rank/attention_rank.png)\n",
                a.arm,
                a.quality.attention_rank_verdict.clone().unwrap_or_default(),
                a.arm
            );
        }
    }
    s
}
