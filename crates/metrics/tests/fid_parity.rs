//! FID and KID against the reference implementations (pytorch-fid's scipy sqrtm FID,
//! clean-fid's KID) on two fixed feature sets; fixtures from
//! scripts/parity/make_fid_fixtures.py. Tolerance: 1e-4 relative (measured far below).

use std::path::{Path, PathBuf};

use ifvit_metrics::fid::npy::read_npy;
use ifvit_metrics::fid::{Features, FidStats, StatsAccumulator, frechet_distance, kid_on_subsets};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fid")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

/// Statistics of a feature file, streamed in batches of 64 rows.
fn stats_of(name: &str) -> FidStats {
    let a = read_npy(&fixture(name)).unwrap();
    let d = a.shape[1];
    let f: Vec<f32> = a.data.iter().map(|v| *v as f32).collect();
    let mut acc = StatsAccumulator::new(d);
    for chunk in f.chunks(64 * d) {
        acc.add_batch(chunk, name).unwrap();
    }
    acc.finish(name).unwrap()
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn fid_matches_pytorch_fid() {
    let (a, b) = (stats_of("feats_a.npy"), stats_of("feats_b.npy"));
    let want = expected()["fid_ab"].as_f64().unwrap();
    let got = frechet_distance(&a, &b).unwrap();
    eprintln!("FID {got} vs pytorch-fid {want}: rel {:e}", rel(got, want));
    assert!(rel(got, want) < 1e-4, "FID {got} vs {want}");
}

#[test]
fn statistics_match_numpy_and_read_pytorch_fid_npz() {
    // stats_a.npz was written by np.savez(mu=, sigma=) from np.mean / np.cov in float64.
    let file = FidStats::read_npz(&fixture("stats_a.npz")).unwrap();
    let ours = stats_of("feats_a.npy");
    let max_mu = file
        .mu
        .iter()
        .zip(&ours.mu)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let max_sigma = file
        .sigma
        .iter()
        .zip(&ours.sigma)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(
        max_mu < 1e-12 && max_sigma < 1e-12,
        "mu {max_mu:e} sigma {max_sigma:e}"
    );
    // FID from the file against features of B equals the all-features value.
    let got = frechet_distance(&file, &stats_of("feats_b.npy")).unwrap();
    assert!(rel(got, expected()["fid_ab"].as_f64().unwrap()) < 1e-4);
}

#[test]
fn a_set_against_itself_is_zero() {
    let a = stats_of("feats_a.npy");
    let fid = frechet_distance(&a, &a).unwrap();
    assert!(fid.abs() < 1e-9, "FID(a, a) = {fid}");
}

#[test]
fn kid_matches_clean_fid_on_the_same_subsets() {
    let e = expected();
    let (a, b) = (
        read_npy(&fixture("feats_a.npy")).unwrap(),
        read_npy(&fixture("feats_b.npy")).unwrap(),
    );
    let fa = Features::new(&a.data, a.shape[1], "feats_a.npy").unwrap();
    let fb = Features::new(&b.data, b.shape[1], "feats_b.npy").unwrap();
    let idx = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as usize)
            .collect()
    };
    let subsets: Vec<(Vec<usize>, Vec<usize>)> = e["kid_subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (idx(&s["a"]), idx(&s["b"])))
        .collect();
    let kid = kid_on_subsets(fa, fb, &subsets).unwrap();
    let want = e["kid_ab"].as_f64().unwrap();
    eprintln!(
        "KID {} vs clean-fid {want}: rel {:e}",
        kid.mean,
        rel(kid.mean, want)
    );
    assert!(rel(kid.mean, want) < 1e-4, "KID {} vs {want}", kid.mean);
    assert_eq!((kid.subset_size, kid.num_subsets), (100, 5));
}

#[test]
fn stats_with_wrong_shapes_or_nan_name_the_file() {
    use ifvit_metrics::fid::npy::{NpyArray, NpyDtype, write_npz};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.npz");
    let mu = NpyArray {
        shape: vec![3],
        data: vec![0.0; 3],
    };
    let sigma = NpyArray {
        shape: vec![2, 2],
        data: vec![1.0, 0.0, 0.0, 1.0],
    };
    write_npz(
        &p,
        &[("mu", &mu, NpyDtype::F64), ("sigma", &sigma, NpyDtype::F64)],
    )
    .unwrap();
    let err = FidStats::read_npz(&p).unwrap_err().to_string();
    assert!(
        err.contains("bad.npz") && err.contains("[2, 2]") && err.contains("[3, 3]"),
        "{err}"
    );

    let sigma = NpyArray {
        shape: vec![3, 3],
        data: vec![f64::NAN; 9],
    };
    write_npz(
        &p,
        &[("mu", &mu, NpyDtype::F64), ("sigma", &sigma, NpyDtype::F64)],
    )
    .unwrap();
    let err = FidStats::read_npz(&p).unwrap_err().to_string();
    assert!(
        err.contains("bad.npz") && err.contains("NaN") && err.contains("fid-stats"),
        "{err}"
    );

    write_npz(&p, &[("mean", &mu, NpyDtype::F64)]).unwrap();
    let err = FidStats::read_npz(&p).unwrap_err().to_string();
    assert!(err.contains("no `mu`"), "{err}");
}
