//! Loading a trained run for sampling: `RUN/config.ron` + a checkpoint's EMA weights.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_data::tokenizer::word::WordTokenizer;
use ifvit_fusion::{Fusion, FusionStrategy};

use crate::checkpoint::{Checkpoint, CheckpointDir, CheckpointError};
use crate::config::{DataConfig, ExperimentConfig};
use crate::data::text_side;
use crate::error::TrainError;
use crate::model::TextToImage;
use crate::text::TextSide;
use crate::trainer::CUSTOM_STRATEGY_FILE;
use crate::weights::load_module;
use ifvit_data::fashion_mnist::vocabulary as fashion_vocabulary;

/// A model ready to sample, with what it was trained with.
pub struct LoadedRun<S: FusionStrategy = Fusion> {
    pub config: ExperimentConfig,
    pub model: TextToImage<S>,
    /// The word tokenizer, or the frozen text encoder, the run was trained with.
    pub text: TextSide,
    pub checkpoint: Checkpoint,
}

/// The word tokenizer of a token-conditioned data config.
pub fn tokenizer_for(
    config: &ExperimentConfig,
    context_length: usize,
) -> Result<WordTokenizer, TrainError> {
    let err = |e: ifvit_data::tokenizer::TokenizeError| TrainError::Data(e.to_string());
    match &config.data {
        DataConfig::Shapes(_) => WordTokenizer::shapes(context_length).map_err(err),
        DataConfig::FashionMnist(_) => {
            WordTokenizer::new(fashion_vocabulary(), context_length).map_err(err)
        }
        DataConfig::CocoCache(_) => Err(TrainError::Data(
            "this run was trained on cached CLIP features: sampling it needs the CLIP text \
             encoder and the SD VAE decoder, which ifvit does not ship yet"
                .into(),
        )),
    }
}

/// `path` is a run folder (its latest checkpoint is used) or one checkpoint folder
/// (`RUN/checkpoints/step-NNNNNNNN`). `ema`: load the EMA weights (else the raw ones).
pub fn load_run(path: &Path, ema: bool, device: &Device) -> Result<LoadedRun, TrainError> {
    let (run, _) = locate(path)?;
    if let Ok(name) = std::fs::read_to_string(run.join(CUSTOM_STRATEGY_FILE)) {
        return Err(TrainError::Data(format!(
            "{}: this run was trained with the user-defined fusion strategy `{}`, which a \
             config file cannot name; load it from your code with \
             `ifvit_train::load::load_run_with(path, your_strategy, ema, device)`",
            run.display(),
            name.trim()
        )));
    }
    let config = ExperimentConfig::load(&run.join("config.ron"))?;
    load_run_with(path, config.arms[0], ema, device)
}

/// The run folder and checkpoint that `path` names (see [`load_run`]).
fn locate(path: &Path) -> Result<(PathBuf, Checkpoint), TrainError> {
    let (run, ck) = if path.join("checkpoints").is_dir() || path.join("config.ron").is_file() {
        (path.to_path_buf(), CheckpointDir::new(path).latest()?)
    } else if path.join("state.json").is_file() {
        let run: PathBuf = path
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.to_path_buf());
        (run, Checkpoint::open(path)?)
    } else {
        return Err(TrainError::Checkpoint(CheckpointError::NoCheckpoint {
            dir: path.to_path_buf(),
        }));
    };
    Ok((run, ck))
}

/// [`load_run`] for a run trained with any fusion strategy, a library user's own included:
/// `strategy` must be the one the run was trained with (the weights are checked against it).
pub fn load_run_with<S: FusionStrategy>(
    path: &Path,
    strategy: S,
    ema: bool,
    device: &Device,
) -> Result<LoadedRun<S>, TrainError> {
    let (run, ck) = locate(path)?;
    let config = ExperimentConfig::load(&run.join("config.ron"))?;
    let fusion = strategy.name();
    let ucfg = config.uvit_with(strategy)?;
    let text = match text_side(&config.text_encoder, &ucfg, device)? {
        Some(frozen) => frozen,
        None => TextSide::Learned(std::sync::Arc::new(tokenizer_for(
            &config,
            ucfg.num_text_tokens,
        )?)),
    };
    let model = TextToImage::new(&ucfg, text.vocab_size(), device)?;
    let name = if ema { "ema.bpk" } else { "model.bpk" };
    let model = load_module(model, ck.read(name)?).map_err(|e| {
        let mut why = e.to_string();
        if why.len() > 240 {
            why.truncate(why.char_indices().nth(240).map_or(why.len(), |(i, _)| i));
            why.push_str("...");
        }
        TrainError::Data(format!(
            "{}: the weights do not fit the model that {} describes (strategy `{fusion}`): \
             {why}. The checkpoint holds another strategy or size than its config says; \
             restore the run's config.ron or point --checkpoint at a run of `{fusion}`",
            ck.dir.join(name).display(),
            run.join("config.ron").display(),
        ))
    })?;
    Ok(LoadedRun {
        config,
        model,
        text,
        checkpoint: ck,
    })
}
