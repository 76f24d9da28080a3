//! Property test of argument parsing: any value given to any numeric argument is either
//! accepted inside the argument's documented range, or refused by clap with exit code 2 and
//! a message naming the argument. Parsing only: nothing runs.

use clap::Parser;
use proptest::prelude::*;

use crate::Cli;

/// (arguments before the tested one, the numeric argument, inclusive range; `None` bounds:
/// the type's own)
type Case = (&'static [&'static str], &'static str, Option<(f64, f64)>);

const TRAIN: &[&str] = &["train", "--config", "c.ron", "--out", "o"];
const TRAIN_FUSION: &[&str] = &[
    "train",
    "--config",
    "c.ron",
    "--out",
    "o",
    "--fusion",
    "intermediate-concat",
];
const RESUME: &[&str] = &["train", "--resume", "r"];
const SAMPLE: &[&str] = &[
    "sample",
    "--checkpoint",
    "r",
    "--prompt",
    "a red circle",
    "--out",
    "x.png",
];
const PREVIEW: &[&str] = &["data", "preview", "shapes"];
const PREPARE: &[&str] = &[
    "prepare",
    "coco",
    "--images",
    "i",
    "--captions",
    "c.json",
    "--out",
    "o",
];

const CASES: &[Case] = &[
    (TRAIN, "--budget", Some((0.001, 1000.0))),
    (TRAIN, "--stop-at", Some((0.0, 1e9))),
    (TRAIN_FUSION, "--c", Some((0.0, 256.0))),
    (TRAIN_FUSION, "--v", Some((0.0, 256.0))),
    (RESUME, "--extend-to", Some((1.0, 1e9))),
    (SAMPLE, "--steps", Some((1.0, 1000.0))),
    (SAMPLE, "--guidance", Some((-100.0, 100.0))),
    (SAMPLE, "--batch", Some((1.0, 4096.0))),
    (SAMPLE, "--eta", Some((0.0, 1.0))),
    (SAMPLE, "--scale", Some((1.0, 64.0))),
    (SAMPLE, "--seed", None),
    (PREVIEW, "--n", Some((1.0, 1024.0))),
    (PREVIEW, "--start", Some((0.0, (1u64 << 48) as f64))),
    (PREVIEW, "--cols", Some((0.0, 64.0))),
    (PREVIEW, "--seed", None),
    (PREPARE, "--limit", Some((1.0, u32::MAX as f64))),
    (PREPARE, "--shard-size", Some((1.0, 65536.0))),
    (PREPARE, "--batch-size", Some((1.0, 4096.0))),
    (PREPARE, "--image-size", Some((8.0, 4096.0))),
    (PREPARE, "--max-shards", Some((1.0, u32::MAX as f64))),
    (PREPARE, "--pixel-factor", Some((1.0, 64.0))),
    (PREPARE, "--context-length", Some((1.0, 1024.0))),
    (PREPARE, "--text-dim", Some((1.0, 16384.0))),
    (PREPARE, "--seed", None),
    (
        &["info", "--fusion", "intermediate-concat"],
        "--c",
        Some((0.0, 256.0)),
    ),
    (&["ablate"], "--budget", Some((0.001, 1000.0))),
    (&["bench", "train"], "--dim", Some((1.0, 16384.0))),
    (&["bench", "train"], "--batch", Some((1.0, 4096.0))),
    (&["bench", "train"], "--steps", Some((1.0, 100_000.0))),
    (&["bench", "sampler"], "--order", Some((1.0, 3.0))),
    (&["bench", "sampler"], "--guidance", Some((-100.0, 100.0))),
    (&["bench", "sampler"], "--repeats", Some((1.0, 1000.0))),
];

/// Numbers and near-numbers of every kind a user (or a script) could type.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (0u64..70_000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v}")),
        (-200.0f64..200.0).prop_map(|v| format!("{v}")),
        (-2.0f64..2.0).prop_map(|v| format!("{v}")),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-0".to_string()),
        Just("18446744073709551616".to_string()),
        Just("".to_string()),
        "[-+.eE0-9a-z]{1,8}",
    ]
}

fn check(case: &Case, value: &str) -> Result<(), TestCaseError> {
    let (before, flag, range) = case;
    let args: Vec<String> = std::iter::once("ifvit")
        .chain(before.iter().copied())
        .map(String::from)
        .chain([format!("{flag}={value}")])
        .collect();
    let parsed = std::panic::catch_unwind(|| Cli::try_parse_from(&args));
    let Ok(parsed) = parsed else {
        return Err(TestCaseError::fail(format!("panic parsing {args:?}")));
    };
    // Whether the value is a number inside the documented range (integers must be whole).
    let accepted_number = value.trim().parse::<f64>().ok().filter(|v| match range {
        Some((lo, hi)) => v.is_finite() && *v >= *lo && *v <= *hi,
        None => value.parse::<u64>().is_ok(),
    });
    match parsed {
        Ok(_) => prop_assert!(
            accepted_number.is_some(),
            "{args:?} was accepted outside the range {range:?}"
        ),
        Err(e) => {
            prop_assert_eq!(e.exit_code(), 2, "{:?}", args);
            let msg = e.to_string();
            prop_assert!(
                msg.contains(flag),
                "{:?}: the message does not name {}: {}",
                args,
                flag,
                msg
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn numeric_arguments_are_accepted_in_range_or_refused_by_name(
        case in 0..CASES.len(),
        value in value(),
    ) {
        check(&CASES[case], &value)?;
    }
}

#[test]
fn the_base_command_lines_parse() {
    for (before, _, _) in CASES {
        let args = std::iter::once("ifvit").chain(before.iter().copied());
        Cli::try_parse_from(args).unwrap();
    }
}

#[test]
fn in_range_values_are_accepted_and_edges_refused() {
    for (args, ok) in [
        (SAMPLE, ["--guidance", "-5"]),
        (SAMPLE, ["--scale", "64"]),
        (PREVIEW, ["--start", "281474976710656"]),
        (PREPARE, ["--image-size", "8"]),
    ] {
        let v: Vec<&str> = std::iter::once("ifvit")
            .chain(args.iter().copied())
            .chain(ok)
            .collect();
        Cli::try_parse_from(&v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
    }
    for (args, bad, range) in [
        (SAMPLE, ["--scale", "100000"], "1..=64"),
        (PREVIEW, ["--cols", "100000"], "0..=64"),
        (
            PREVIEW,
            ["--start", "18446744073709551615"],
            "0..=281474976710656",
        ),
        (PREPARE, ["--image-size", "0"], "8..=4096"),
        (PREPARE, ["--text-dim", "0"], "1..=16384"),
        (PREPARE, ["--batch-size", "0"], "1..=4096"),
        (SAMPLE, ["--batch", "0"], "1..=4096"),
        (SAMPLE, ["--steps", "0"], "1..=1000"),
        (SAMPLE, ["--guidance", "nan"], "[-100, 100]"),
    ] {
        let v: Vec<&str> = std::iter::once("ifvit")
            .chain(args.iter().copied())
            .chain(bad)
            .collect();
        let e = Cli::try_parse_from(&v).unwrap_err();
        let msg = e.to_string();
        assert!(
            e.exit_code() == 2 && msg.contains(bad[0]) && msg.contains(range),
            "{v:?}: {msg}"
        );
    }
}
