//! `ifvit data preview shapes`: writes a captioned PNG grid, and refuses bad input with a
//! message.

use std::path::Path;
use std::process::Command;

fn ifvit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(args)
        .output()
        .expect("run ifvit")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn preview_writes_a_captioned_grid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.png");
    let o = ifvit(&[
        "data",
        "preview",
        "shapes",
        "--n",
        "16",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // 4x4 cells of 32 px images shown at 4x (128 px) with captions under them.
    let (w, h) = png_size(&out);
    assert_eq!(w, 6 + 4 * (128 + 6));
    assert!(
        h > w,
        "caption strips make the grid taller than wide: {w}x{h}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("  ")).count(),
        16,
        "{stdout}"
    );
    assert!(stdout.contains("100.0% all correct"), "{stdout}");

    // Same seed, same grid; another seed, another grid.
    let again = dir.path().join("again.png");
    let o = ifvit(&[
        "data",
        "preview",
        "shapes",
        "--n",
        "16",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    let other = dir.path().join("other.png");
    let o = ifvit(&[
        "data",
        "preview",
        "shapes",
        "--n",
        "16",
        "--seed",
        "5",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_ne!(std::fs::read(&out).unwrap(), std::fs::read(&other).unwrap());
}

#[test]
fn preview_reads_a_ron_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.ron");
    std::fs::write(
        &cfg,
        "(image_size: 16, object_size: (min: 6, max: 6), jitter: 0)",
    )
    .unwrap();
    let out = dir.path().join("g.png");
    let o = ifvit(&[
        "data",
        "preview",
        "shapes",
        "--n",
        "3",
        "--cols",
        "3",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 16 px images shown at 8x (128 px), three in a row.
    assert_eq!(png_size(&out).0, 6 + 3 * (128 + 6));
}

#[test]
fn bad_input_is_an_error_that_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.ron");
    std::fs::write(&cfg, "(image_size: 32,\n colours: [red])").unwrap();
    let out = dir.path().join("g.png");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["--config", cfg.to_str().unwrap()], "colours"),
        (vec!["--n", "0"], "0 is not in 1..=1024"),
        (vec!["--preset", "huge"], "unknown shapes preset `huge`"),
        (vec!["--out", "grid.jpg"], "name the file *.png"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["data", "preview", "shapes"];
        if !extra.contains(&"--out") {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        args.extend(extra);
        let o = ifvit(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
