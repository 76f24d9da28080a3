//! Loading a trained run for sampling: `RUN/config.ron` + a checkpoint's EMA weights.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_data::tokenizer::word::WordTokenizer;

use crate::checkpoint::{Checkpoint, CheckpointDir, CheckpointError};
use crate::config::{DataConfig, ExperimentConfig};
use crate::data::{fashion_vocabulary, text_side};
use crate::error::TrainError;
use crate::model::TextToImage;
use crate::text::TextSide;
use crate::weights::load_module;

/// A model ready to sample, with what it was trained with.
pub struct LoadedRun {
    pub config: ExperimentConfig,
    pub model: TextToImage,
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
    let config = ExperimentConfig::load(&run.join("config.ron"))?;
    let fusion = config.arms[0];
    let ucfg = config.uvit(fusion)?;
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
