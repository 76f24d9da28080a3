//! Image quality of generated samples: FID and KID against reference statistics of the
//! `shapes` generator's real images (docs/metrics.md, "FID of a run").
//!
//! The reference is computed once from `n` real images (`ShapesGenerator::item(0..n)`,
//! the training distribution) and cached as
//! `CACHE/fid-ref/<key>.npz` (pytorch-fid layout: `mu`, `sigma`, `n`) plus
//! `CACHE/fid-ref/<key>.features.npy` (`[n, 2048]` float32, for KID), both written
//! atomically. The key hashes the data config, `n`, the resize convention and the SHA-256 of
//! the Inception weights file, so a change of any of them computes a new reference.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_data::shapes::{ShapesConfig, ShapesGenerator};
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::inception::{FEATURE_DIM, InceptionV3, ResizeMode, WEIGHTS_FILE};
use ifvit_metrics::fid::npy::{NpyArray, NpyDtype, read_npy, write_npy};
use ifvit_metrics::fid::{
    Features, FidStats, KidConfig, StatsAccumulator, frechet_distance, kernel_inception_distance,
};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::checkpoint::sha256_hex;
use crate::error::TrainError;

/// Version of the reference recipe, part of the cache key.
const RECIPE: &str = "ifvit-fid-ref v1: ShapesGenerator::item(0..n), Inception pool3";

fn other(e: impl std::fmt::Display) -> TrainError {
    TrainError::Other(e.to_string())
}

/// The FID Inception with what identifies it.
pub struct Inception {
    pub model: InceptionV3,
    /// SHA-256 (hex) of the weights file the network was loaded from.
    pub weights_sha256: String,
    pub dir: PathBuf,
    pub resize: ResizeMode,
    pub batch_size: usize,
}

impl Inception {
    /// Loads the network from `dir` (default: the asset cache; an error says how to fetch
    /// it) and hashes its weights file for cache keys.
    pub fn load(dir: Option<&Path>, device: &Device) -> Result<Self, TrainError> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => assets::locate(Asset::FidInceptionV3).map_err(other)?,
        };
        let weights = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights).map_err(|e| {
            TrainError::Other(format!(
                "FID Inception weights {}: {e}; fetch them with `ifvit assets fetch fid-inception` \
                 or pass --inception DIR",
                weights.display()
            ))
        })?;
        let weights_sha256 = sha256_hex(&bytes);
        drop(bytes);
        let model = InceptionV3::load_dir(&dir, device)
            .map_err(|e| TrainError::Other(format!("FID Inception {}: {e}", dir.display())))?;
        Ok(Self {
            model,
            weights_sha256,
            dir,
            resize: ResizeMode::HalfPixel,
            batch_size: 32,
        })
    }

    /// Pool3 features `[N * 2048]` (row-major, f64) of in-memory images.
    pub fn features(&self, images: &[RgbImage], device: &Device) -> Result<Vec<f64>, TrainError> {
        let mut out = Vec::with_capacity(images.len() * FEATURE_DIM);
        for chunk in images.chunks(self.batch_size.max(1)) {
            let f = self.model.features(chunk, self.resize, device); // [B, 2048]
            let f = f.into_data().try_to_vec::<f32>().map_err(|e| {
                TrainError::Other(format!("reading the Inception output back: {e:?}"))
            })?;
            out.extend(f.into_iter().map(f64::from));
        }
        Ok(out)
    }
}

/// Reference statistics and features of real images.
pub struct Reference {
    pub stats: FidStats,
    /// `[n * 2048]` row-major.
    pub features: Vec<f64>,
    /// The `.npz` statistics file.
    pub path: PathBuf,
    pub key: String,
    /// Whether it was read from the cache (else computed now).
    pub cached: bool,
}

/// Where it came from, for `eval.json` and the ablation results.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceInfo {
    pub path: PathBuf,
    pub key: String,
    pub n: usize,
    pub source: String,
    pub inception_sha256: String,
    pub resize: String,
}

impl Reference {
    pub fn info(&self, inception: &Inception) -> ReferenceInfo {
        ReferenceInfo {
            path: self.path.clone(),
            key: self.key.clone(),
            n: self.stats.n,
            source: format!(
                "{} real images of the shapes generator (items 0..{}, the training distribution)",
                self.stats.n, self.stats.n
            ),
            inception_sha256: inception.weights_sha256.clone(),
            resize: inception.resize.name().to_string(),
        }
    }
}

/// The cache key of a shapes reference: the first 16 hex digits of a SHA-256 over the
/// recipe, the data config, `n`, the resize mode and the Inception weights' hash.
pub fn reference_key(
    shapes: &ShapesConfig,
    n: usize,
    inception_sha256: &str,
    resize: &str,
) -> String {
    let data = ron::to_string(shapes).unwrap_or_else(|_| format!("{shapes:?}"));
    let text =
        format!("{RECIPE}\ndata={data}\nn={n}\nresize={resize}\ninception={inception_sha256}\n");
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// The folder of cached references: `CACHE/fid-ref` (`CACHE`: `$IFVIT_CACHE_DIR`, else
/// `~/.cache/ifvit`).
pub fn reference_dir() -> PathBuf {
    assets::cache_root().join("fid-ref")
}

/// `n` real images of the shapes generator.
pub fn real_images(shapes: &ShapesConfig, n: usize) -> Result<Vec<RgbImage>, TrainError> {
    let generator =
        ShapesGenerator::new(shapes.clone()).map_err(|e| TrainError::Data(e.to_string()))?;
    Ok((0..n as u64).map(|i| generator.item(i).image).collect())
}

/// The shapes reference of `n` real images: read from `dir` when cached, else computed and
/// written atomically. A cache file that cannot be read is an error naming it (delete it
/// to recompute).
pub fn shapes_reference(
    inception: &Inception,
    shapes: &ShapesConfig,
    n: usize,
    dir: &Path,
    device: &Device,
) -> Result<Reference, TrainError> {
    if n < 2 {
        return Err(TrainError::Data(format!(
            "FID needs at least 2 reference images (a covariance), got {n}"
        )));
    }
    let key = reference_key(
        shapes,
        n,
        &inception.weights_sha256,
        inception.resize.name(),
    );
    let path = dir.join(format!("{key}.npz"));
    let feats_path = dir.join(format!("{key}.features.npy"));
    if path.is_file() && feats_path.is_file() {
        return read_cached(&path, &feats_path, n, key);
    }
    let images = real_images(shapes, n)?;
    let features = inception.features(&images, device)?;
    let stats = stats_of(&features, "shapes reference")?;
    std::fs::create_dir_all(dir).map_err(|e| crate::checkpoint::io_err(dir, e))?;
    let array = NpyArray {
        shape: vec![n, FEATURE_DIM],
        data: features,
    };
    write_npy(&feats_path, &array, NpyDtype::F32).map_err(other)?;
    stats.write_npz(&path).map_err(other)?;
    // The features as stored (float32), so a cached and a fresh reference agree exactly.
    let features = read_npy(&feats_path).map_err(other)?.data;
    let stats = stats_of(&features, "shapes reference")?;
    Ok(Reference {
        stats,
        features,
        path,
        key,
        cached: false,
    })
}

/// A cached reference; anything wrong with it is an error naming the file (delete it to
/// recompute).
fn read_cached(
    path: &Path,
    feats_path: &Path,
    n: usize,
    key: String,
) -> Result<Reference, TrainError> {
    let bad = |p: &Path, e: &dyn std::fmt::Display| {
        TrainError::Other(format!(
            "cached FID reference {}: {e}; delete it (and {}) to recompute",
            p.display(),
            feats_path.display()
        ))
    };
    let stats = FidStats::read_npz(path).map_err(|e| bad(path, &e))?;
    let f = read_npy(feats_path).map_err(|e| bad(feats_path, &e))?;
    if f.shape != [n, FEATURE_DIM] || stats.dim() != FEATURE_DIM || stats.n != n {
        return Err(bad(
            path,
            &format!(
                "expected {n}-sample statistics and [{n}, {FEATURE_DIM}] features, found n = {} and {:?}",
                stats.n, f.shape
            ),
        ));
    }
    Ok(Reference {
        stats,
        features: f.data,
        path: path.to_path_buf(),
        key,
        cached: true,
    })
}

/// Streaming f64 statistics of `[N * 2048]` features.
pub fn stats_of(features: &[f64], what: &str) -> Result<FidStats, TrainError> {
    let mut acc = StatsAccumulator::new(FEATURE_DIM);
    acc.add_batch(features, what).map_err(other)?;
    acc.finish(what).map_err(other)
}

/// FID and KID of one sample set against the reference.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FidKid {
    pub fid: f64,
    /// clean-fid's unbiased KID (cubic kernel), mean and standard deviation over subsets.
    pub kid: f64,
    pub kid_std: f64,
    pub kid_subset_size: usize,
    pub kid_subsets: usize,
    /// Generated images behind the numbers.
    pub n: usize,
}

/// FID and KID of sample features `[N * 2048]` against `reference`.
pub fn fid_kid(samples: &[f64], reference: &Reference, what: &str) -> Result<FidKid, TrainError> {
    let stats = stats_of(samples, what)?;
    let fid = frechet_distance(&stats, &reference.stats).map_err(other)?;
    let a = Features::new(samples, FEATURE_DIM, what).map_err(other)?;
    let b = Features::new(&reference.features, FEATURE_DIM, "shapes reference").map_err(other)?;
    let kid = kernel_inception_distance(a, b, KidConfig::default()).map_err(other)?;
    Ok(FidKid {
        fid,
        kid: kid.mean,
        kid_std: kid.std,
        kid_subset_size: kid.subset_size,
        kid_subsets: kid.num_subsets,
        n: stats.n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_key_changes_with_data_n_weights_and_resize() {
        let s = ShapesConfig::small();
        let k = reference_key(&s, 100, "abc", "half-pixel");
        assert_eq!(k.len(), 16);
        assert_eq!(k, reference_key(&s, 100, "abc", "half-pixel"));
        assert_ne!(k, reference_key(&s, 101, "abc", "half-pixel"));
        assert_ne!(k, reference_key(&s, 100, "abd", "half-pixel"));
        assert_ne!(k, reference_key(&s, 100, "abc", "tf-asymmetric"));
        let other = ShapesConfig {
            seed: s.seed + 1,
            ..s.clone()
        };
        assert_ne!(k, reference_key(&other, 100, "abc", "half-pixel"));
    }

    #[test]
    fn a_broken_cached_reference_is_an_error_naming_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let (npz, npy) = (dir.path().join("k.npz"), dir.path().join("k.features.npy"));
        let stats = FidStats {
            mu: vec![0.0; 4],
            sigma: vec![f64::NAN; 16],
            n: 3,
        };
        stats.write_npz(&npz).unwrap();
        let f = NpyArray {
            shape: vec![3, 4],
            data: vec![0.0; 12],
        };
        write_npy(&npy, &f, NpyDtype::F32).unwrap();
        let e = read_cached(&npz, &npy, 3, "k".into())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("k.npz") && e.contains("NaN") && e.contains("delete it"),
            "{e}"
        );
        let ok = FidStats {
            sigma: vec![0.0; 16],
            ..stats
        };
        ok.write_npz(&npz).unwrap();
        let e = read_cached(&npz, &npy, 3, "k".into())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("[3, 4]") && e.contains("to recompute"), "{e}");
    }

    #[test]
    fn real_images_are_the_generators_items() {
        let s = ShapesConfig::small();
        let imgs = real_images(&s, 3).unwrap();
        let g = ShapesGenerator::new(s).unwrap();
        assert_eq!(imgs[2], g.item(2).image);
    }

    #[test]
    fn fid_and_kid_of_a_set_against_itself_are_small() {
        // 40 random 2048-d features; reference = the same set.
        let mut x = 1u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f64 / 1000.0
        };
        let feats: Vec<f64> = (0..40 * FEATURE_DIM).map(|_| rnd()).collect();
        let reference = Reference {
            stats: stats_of(&feats, "r").unwrap(),
            features: feats.clone(),
            path: PathBuf::new(),
            key: String::new(),
            cached: false,
        };
        let r = fid_kid(&feats, &reference, "s").unwrap();
        assert!(r.fid.abs() < 1e-6, "{r:?}");
        assert_eq!((r.n, r.kid_subset_size), (40, 40));
    }
}
