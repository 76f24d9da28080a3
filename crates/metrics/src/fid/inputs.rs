//! What `ifvit fid A B` / `ifvit kid A B` accept, like pytorch-fid: an image folder, a
//! statistics file (`.npz`, pytorch-fid layout) or a feature file (`.npy` `[N, D]`, as
//! `ifvit fid-features` writes).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_encoders::inception::{FEATURE_DIM, InceptionV3};

use super::error::FidError;
use super::images::{FeatureConfig, stream_folder_features};
use super::npy::read_npy;
use super::stats::{FidStats, StatsAccumulator};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FidInput {
    Images(PathBuf),
    Stats(PathBuf),
    Features(PathBuf),
}

impl FidInput {
    /// Classifies a path: a directory, `*.npz` or `*.npy`.
    pub fn parse(path: &Path) -> Result<Self, FidError> {
        if path.is_dir() {
            return Ok(FidInput::Images(path.to_owned()));
        }
        if !path.exists() {
            return Err(FidError::file(path, "no such file or folder"));
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Ok(FidInput::Stats(path.to_owned())),
            Some("npy") => Ok(FidInput::Features(path.to_owned())),
            _ => Err(FidError::file(
                path,
                "expected an image folder, statistics (.npz: mu, sigma) or features (.npy: [N, D])",
            )),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            FidInput::Images(p) | FidInput::Stats(p) | FidInput::Features(p) => p,
        }
    }

    pub fn needs_model(&self) -> bool {
        matches!(self, FidInput::Images(_))
    }
}

/// Features `[N, D]` of a `.npy` file, checked.
fn read_features(path: &Path) -> Result<(Vec<f64>, usize), FidError> {
    let a = read_npy(path)?;
    if a.shape.len() != 2 || a.shape[0] == 0 {
        return Err(FidError::file(
            path,
            format!(
                "features have shape {:?}, expected [N, D] (N >= 1), as `ifvit fid-features` writes",
                a.shape
            ),
        ));
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        let d = a.shape[1];
        return Err(FidError::file(
            path,
            format!(
                "feature row {} column {} is {}: regenerate the features",
                i / d,
                i % d,
                a.data[i]
            ),
        ));
    }
    Ok((a.data, a.shape[1]))
}

/// Statistics of any input; `model` is needed for image folders.
pub fn input_stats(
    input: &FidInput,
    model: Option<&InceptionV3>,
    cfg: &FeatureConfig,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FidStats, FidError> {
    let what = input.path().display().to_string();
    match input {
        FidInput::Stats(p) => FidStats::read_npz(p),
        FidInput::Features(p) => {
            let (data, d) = read_features(p)?;
            let mut acc = StatsAccumulator::new(d);
            acc.add_batch(&data, &what)?;
            acc.finish(&what)
        }
        FidInput::Images(dir) => {
            let model = model.ok_or_else(|| {
                FidError::invalid(&what, "an image folder needs the Inception network")
            })?;
            let mut acc = StatsAccumulator::new(FEATURE_DIM);
            stream_folder_features(
                model,
                dir,
                cfg,
                device,
                &mut |f, _| acc.add_batch(f, &what),
                progress,
            )?;
            acc.finish(&what)
        }
    }
}

/// Features `[N, D]` (row-major) of a folder or `.npy`; statistics files cannot give them.
pub fn input_features(
    input: &FidInput,
    model: Option<&InceptionV3>,
    cfg: &FeatureConfig,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<f64>, usize), FidError> {
    match input {
        FidInput::Stats(p) => Err(FidError::file(
            p,
            "KID needs the features themselves, not mean/covariance statistics: pass the image folder or a feats.npy from `ifvit fid-features`",
        )),
        FidInput::Features(p) => read_features(p),
        FidInput::Images(dir) => {
            let what = dir.display().to_string();
            let model = model.ok_or_else(|| {
                FidError::invalid(&what, "an image folder needs the Inception network")
            })?;
            let mut all = Vec::new();
            stream_folder_features(
                model,
                dir,
                cfg,
                device,
                &mut |f, _| {
                    all.extend(f.iter().map(|v| *v as f64));
                    Ok(())
                },
                progress,
            )?;
            Ok((all, FEATURE_DIM))
        }
    }
}
