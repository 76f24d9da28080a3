//! `ifvit train / sample / ablate` end to end on a tiny config, as a user runs them: a real
//! SIGKILL mid-run and `--resume`, sampling, bad prompts and configs, the ablation report.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::{TINY, assert_csv_rectangular, config, ifvit, ok};

fn fails(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "expected failure");
    assert!(
        !stderr.contains("panicked"),
        "panic instead of an error: {stderr}"
    );
    stderr
}

fn losses(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("loss.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn a_killed_run_resumes_to_the_same_loss_curve_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let long = config(dir.path(), 400);
    // Uninterrupted reference: the first 10 steps.
    let reference = dir.path().join("reference");
    ok(ifvit()
        .args(["train", "--config"])
        .arg(&long)
        .arg("--out")
        .arg(&reference)
        .args(["--stop-at", "10"])
        .output()
        .unwrap());

    // The same run, killed with SIGKILL once a checkpoint exists.
    let run = dir.path().join("run");
    let mut child = ifvit()
        .args(["train", "--config"])
        .arg(&long)
        .arg("--out")
        .arg(&run)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !run.join("checkpoints/latest").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    // --out on an existing run is refused (no lost work), --resume continues.
    let e = fails(
        ifvit()
            .args(["train", "--config"])
            .arg(&long)
            .arg("--out")
            .arg(&run)
            .output()
            .unwrap(),
    );
    assert!(e.contains("--resume"), "{e}");
    ok(ifvit()
        .args(["train", "--resume"])
        .arg(&run)
        .args(["--stop-at", "10"])
        .output()
        .unwrap());
    assert_eq!(
        losses(&run),
        losses(&reference),
        "resumed loss curve differs"
    );

    // Sampling from the run; one prompt, then a file of prompts (batched, grid).
    let png = dir.path().join("x.png");
    ok(ifvit()
        .args(["sample", "--checkpoint"])
        .arg(&run)
        .args([
            "--prompt",
            "a red circle left of a blue square",
            "--sampler",
            "ddim",
            "--steps",
            "3",
        ])
        .args(["--guidance", "2", "--seed", "0", "--out"])
        .arg(&png)
        .output()
        .unwrap());
    assert_eq!(image::open(&png).unwrap().to_rgb8().dimensions(), (16, 16));
    let prompts = dir.path().join("prompts.txt");
    std::fs::write(&prompts, "# shapes\none red square\ntwo blue circles\n").unwrap();
    let grid = dir.path().join("grid.png");
    ok(ifvit()
        .args(["sample", "--checkpoint"])
        .arg(&run)
        .arg("--prompts")
        .arg(&prompts)
        .args(["--sampler", "dpm-solver++", "--steps", "3", "--out"])
        .arg(&grid)
        .output()
        .unwrap());
    assert!(grid.exists() && dir.path().join("grid-001.png").exists());

    // A word the tokenizer does not know is a clear error.
    let e = fails(
        ifvit()
            .args(["sample", "--checkpoint"])
            .arg(&run)
            .args(["--prompt", "a purple dragon", "--steps", "3", "--out"])
            .arg(dir.path().join("y.png"))
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("unknown word `purple`") && e.contains("a purple dragon"),
        "{e}"
    );
}

#[test]
fn the_ablation_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 3);
    // With the attention-rank analysis (cheap); FID stays off (the Inception is too slow
    // for a debug test).
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        "grid_prompts: 3, seed: 0)",
        "grid_prompts: 3, seed: 0, attention_rank: true)",
    );
    assert!(text.contains("attention_rank: true"));
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("abl");
    let stdout = ok(ifvit()
        .args(["ablate", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap());
    assert!(stdout.contains("untrained (noise)"), "{stdout}");
    assert!(stdout.contains("real images (ceiling)"), "{stdout}");
    for f in [
        "report.md",
        "results.csv",
        "results.json",
        "config.ron",
        "loss.png",
        "alignment_vs_gmacs.png",
        "throughput.png",
        "grids/all.png",
        "grids/early-concat.png",
        "grids/intermediate-crossattn-c1v1.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let arms = json["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    for a in arms {
        assert!(a["fid"].is_null(), "{a}");
        assert!(
            a["quality"]["fid_absent"]
                .as_str()
                .unwrap()
                .contains("fid_images is 0")
        );
        assert!(
            a["clip_score"]["absent"]
                .as_str()
                .unwrap()
                .contains("--clip")
        );
        let fig = a["quality"]["attention_rank_figure"].as_str().unwrap();
        assert!(std::path::Path::new(fig).is_file(), "{fig}");
        assert!(
            a["quality"]["attention_rank_verdict"]
                .as_str()
                .unwrap()
                .contains("effective rank")
        );
        assert!(
            a["params"].as_u64().unwrap() > 0 && a["train_images_per_s"].as_f64().unwrap() > 0.0
        );
        assert!(a["alignment"]["overall"]["n"].as_u64().unwrap() == 6);
        let ci = &a["alignment"]["overall"]["intervals"]["all_correct"];
        assert!(
            ci["n"].as_u64() == Some(6) && ci["lo"].as_f64().unwrap() <= ci["hi"].as_f64().unwrap()
        );
    }
    assert_eq!(json["bounds"]["ceiling"]["overall"]["n"].as_u64(), Some(6));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("FID/KID not computed: disabled") && report.contains("untrained (noise)")
    );
    assert!(
        report.contains("arms/early-concat/attention-rank/attention_rank.png"),
        "{report}"
    );
    assert_csv_rectangular(&std::fs::read_to_string(out.join("results.csv")).unwrap());
    assert!(
        report.contains("| real images, another caption (chance) |"),
        "{report}"
    );
    assert!(report.contains("[95% CI]"), "{report}");
    // Re-running resumes: nothing is retrained.
    let again = ok(ifvit()
        .args(["ablate", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap());
    assert!(again.contains("early-concat"));
}

#[test]
fn seeds_unseen_compositions_and_a_cv_sweep_reach_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("held.ron");
    let text = TINY
        .replace("STEPS", "2")
        .replace(
            "placement: canonical)",
            "placement: canonical,\n        holdout: (colour_shapes: 1, count_shapes: 1, relation_colours: 1))",
        )
        .replace("grid_prompts: 3, seed: 0)", "grid_prompts: 3, seed: 0, unseen_prompts: 3)");
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("sweep");
    let run = |extra: &[&str]| {
        ifvit()
            .args(["ablate", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    // Bad sweep arguments are errors that say what to write.
    let e = fails(run(&["--sweep", "x=1"]));
    assert!(
        e.contains("unknown knob `x`") && e.contains("c=0,1,2"),
        "{e}"
    );
    let e = fails(run(&["--sweep", "c=0,1"]));
    assert!(e.contains("--sweep v="), "{e}");
    let e = fails(run(&["--method", "concat"]));
    assert!(e.contains("only applies to a --sweep"), "{e}");
    let e = fails(run(&["--sweep", "c=0", "--sweep", "v=5"]));
    assert!(
        e.contains("sweep.c / sweep.v") && e.contains("v = 5"),
        "{e}"
    );

    ok(run(&[
        "--seeds",
        "2",
        "--sweep",
        "c=0,1",
        "--sweep",
        "v=0",
        "--method",
        "crossattn",
    ]));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let names: Vec<&str> = json["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["arm"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "intermediate-crossattn(c=0,v=0)",
            "intermediate-crossattn(c=1,v=0)"
        ]
    );
    let runs = json["seed_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["seed_index"].as_u64(), Some(1));
        assert_eq!(r["items"]["seen"].as_array().unwrap().len(), 6);
        assert_eq!(r["items"]["unseen"].as_array().unwrap().len(), 3);
        assert_eq!(r["unseen"]["overall"]["n"].as_u64(), Some(3));
    }
    assert!(
        out.join("arms/intermediate-crossattn-c1v0-seed1/config.ron")
            .is_file()
    );
    let seed1 =
        std::fs::read_to_string(out.join("arms/intermediate-crossattn-c1v0-seed1/config.ron"))
            .unwrap();
    assert!(
        seed1.contains("seed: 4,"),
        "run 1 trains with seed 3 + 1: {seed1}"
    );
    assert_eq!(json["summary"][0]["runs"].as_u64(), Some(2));
    assert_eq!(
        json["unseen_bounds"]["ceiling"]["overall"]["n"].as_u64(),
        Some(3)
    );
    // One pair, seen and unseen prompts, all and per aspect.
    let paired = json["paired"].as_array().unwrap();
    assert!(paired.len() >= 3, "{paired:?}");
    assert!(paired.iter().any(|p| p["split"] == "unseen"), "{paired:?}");
    assert!(paired.iter().all(|p| p["runs"].as_u64() == Some(2)));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## Seen and unseen compositions",
        "## Over 2 seeds",
        "## Paired differences between arms",
        "**unseen prompts**",
        "## c/v sweep: intermediate-crossattn",
        "![All-correct %, unseen prompts](sweep_unseen.png)",
    ] {
        assert!(report.contains(section), "missing {section}: {report}");
    }
    for f in ["sweep_alignment.png", "sweep_unseen.png", "sweep_gmacs.png"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    assert!(report.contains("sample ms/img"), "{report}");
    // The report is written again from results.json alone, with the same statistics.
    std::fs::remove_file(out.join("report.md")).unwrap();
    ok(ifvit().arg("report").arg(&out).output().unwrap());
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(again["paired"], json["paired"]);
    assert!(out.join("report.md").is_file());
    let e = fails(
        ifvit()
            .arg("report")
            .arg(dir.path().join("nothing"))
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("no results.json") && e.contains("ifvit ablate"),
        "{e}"
    );
    assert!(!dir.path().join("nothing").exists());
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_csv_rectangular(&csv);
    assert_eq!(
        csv.lines()
            .filter(|l| l.starts_with("\"intermediate"))
            .count(),
        4
    );
}

#[test]
fn bad_configs_and_outputs_are_reported_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        TINY.replace("STEPS", "3")
            .replace("seed: 3,", "seed: 3, sead: 4,"),
    )
    .unwrap();
    let e = fails(
        ifvit()
            .args(["train", "--config"])
            .arg(&bad)
            .arg("--out")
            .arg(dir.path().join("r"))
            .output()
            .unwrap(),
    );
    assert!(e.contains("bad.ron:10:") && e.contains("sead"), "{e}");

    let cfg = config(dir.path(), 3);
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = fails(
        ifvit()
            .args(["train", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(file.join("run"))
            .output()
            .unwrap(),
    );
    assert!(e.contains("cannot create the output folder"), "{e}");

    let e = fails(
        ifvit()
            .args(["train", "--resume"])
            .arg(dir.path())
            .output()
            .unwrap(),
    );
    assert!(e.contains("does not look like a run folder"), "{e}");
}

/// `ifvit eval` (the cheap metrics; FID runs the Inception, too slow for a debug test) and
/// `ifvit analyze attention` on a 2-step run, and their input errors.
#[test]
fn eval_and_attention_analysis_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = config(dir.path(), 2);
    let (c, r) = (cfg.to_str().unwrap(), run.to_str().unwrap());
    ok(ifvit()
        .args(["train", "--config", c, "--out", r])
        .output()
        .unwrap());
    let out = dir.path().join("e/eval.json");
    ok(ifvit()
        .args([
            "eval",
            "--checkpoint",
            r,
            "--metrics",
            "clip,alignment",
            "--n",
            "6",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap());
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["sampling"]["n"], 6);
    assert_eq!(j["sampling"]["sampler"], "ddim");
    assert_eq!(j["alignment"]["overall"]["n"], 6);
    assert!(
        j["clip_score"]["absent"]
            .as_str()
            .unwrap()
            .contains("--clip")
    );
    assert!(j["efficiency"]["params"].as_u64().unwrap() > 0);
    assert!(j["efficiency"]["forward_gmacs"].as_f64().unwrap() > 0.0);
    assert!(j["efficiency"]["train_images_per_s"].as_f64().unwrap() > 0.0);
    assert!(j.get("fid").is_none());
    assert!(dir.path().join("e/eval-grid.png").is_file());

    let caps = dir.path().join("caps.txt");
    std::fs::write(&caps, "a red circle\na blue square\n").unwrap();
    let e = fails(
        ifvit()
            .args([
                "eval",
                "--checkpoint",
                r,
                "--metrics",
                "alignment",
                "--n",
                "3",
            ])
            .args(["--captions", caps.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("caps.txt") && e.contains("lower --n to 2"),
        "{e}"
    );
    let e = fails(
        ifvit()
            .args([
                "eval",
                "--checkpoint",
                r,
                "--n",
                "2",
                "--metrics",
                "alignment",
            ])
            .args(["--fusion", "intermediate-crossattn", "--c", "1", "--v", "1"])
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("config.ron") && e.contains("--fusion early-concat"),
        "{e}"
    );

    // A config edited to another strategy than the weights hold.
    let cfg_file = run.join("config.ron");
    let saved = std::fs::read_to_string(&cfg_file).unwrap();
    std::fs::write(
        &cfg_file,
        saved.replacen("EarlyConcat", "IntermediateCrossAttn(c: 1, v: 1)", 1),
    )
    .unwrap();
    let e = fails(
        ifvit()
            .args([
                "eval",
                "--checkpoint",
                r,
                "--n",
                "2",
                "--metrics",
                "alignment",
            ])
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("ema.bpk") && e.contains("config.ron") && e.contains("another strategy"),
        "{e}"
    );
    std::fs::write(&cfg_file, saved).unwrap();

    let att = dir.path().join("att");
    ok(ifvit()
        .args(["analyze", "attention", "--checkpoint", r, "--captions", "2"])
        .args(["--timesteps", "100,900", "--out", att.to_str().unwrap()])
        .output()
        .unwrap());
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(att.join("attention_rank.json")).unwrap())
            .unwrap();
    // depth 2: in0, mid, out0, all joint for early concat; two timesteps each.
    assert_eq!(j["rows"].as_array().unwrap().len(), 6);
    assert!(att.join("attention_rank.png").is_file());
    assert!(att.join("attention_rank.md").is_file());
    let e = fails(
        ifvit()
            .args([
                "analyze",
                "attention",
                "--checkpoint",
                r,
                "--timesteps",
                "0",
            ])
            .output()
            .unwrap(),
    );
    assert!(e.contains("--timesteps") && e.contains("1..=1000"), "{e}");
}
