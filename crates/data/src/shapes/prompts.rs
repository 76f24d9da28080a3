//! The fixed evaluation prompts.

use serde::{Deserialize, Serialize};

use super::caption::Aspect;
use super::config::ShapesConfig;
use super::error::ShapesError;
use super::generate::{ShapesGenerator, item_rng};

/// Seed of the evaluation prompts; independent of `ShapesConfig::seed`.
pub const HELD_OUT_SEED: u64 = 0x5eed_e7a1;

/// A prompt to sample and score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub caption: String,
    pub aspect: Aspect,
}

/// Which evaluation captions: from the training distribution, or holding a composition
/// training never shows (`ShapesConfig::holdout`, `shapes::holdout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Seen,
    Unseen,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Seen => "seen",
            Split::Unseen => "unseen",
        }
    }
}

/// The seen evaluation prompts: [`eval_prompts`] with [`Split::Seen`].
///
/// The grammar is small (about 550 distinct captions by default), so these captions also
/// occur in training: they measure alignment on fixed prompts. [`Split::Unseen`] prompts
/// measure generalisation to compositions training never showed.
pub fn held_out_prompts(config: &ShapesConfig, n: usize) -> Result<Vec<Prompt>, ShapesError> {
    eval_prompts(config, n, Split::Seen)
}

/// `n` evaluation captions, split evenly over the aspects (in the order count, binding,
/// relation; the first `n % k` aspects get one more), each drawn with the config's caption
/// distribution for its aspect and kept if it belongs to `split`. Seen prompts use the
/// aspects with a positive weight; unseen prompts those of them with something held out
/// (an error names `holdout` when there is none).
///
/// They depend on the config's vocabulary, ranges and holdout (palette, shapes, object
/// counts) but not on its `seed` or aspect weights' values, so training randomness never
/// changes them. Prompt `j` of an aspect is the same for every `n > j`. With nothing held
/// out, seen prompts are the plain sampler's draws.
pub fn eval_prompts(
    config: &ShapesConfig,
    n: usize,
    split: Split,
) -> Result<Vec<Prompt>, ShapesError> {
    let generator = ShapesGenerator::new(config.clone())?;
    let held = generator.held_out();
    let mut aspects = config.aspects.enabled();
    if split == Split::Unseen {
        aspects.retain(|&a| held.has_unseen(a));
        if aspects.is_empty() {
            return Err(ShapesError::Config {
                field: "holdout",
                message: "nothing is held out for the enabled aspects, so there are no unseen \
                          prompts; set e.g. holdout: (colour_shapes: 2, count_shapes: 2, \
                          relation_colours: 1)"
                    .into(),
            });
        }
    }
    let k = aspects.len();
    let mut out = Vec::with_capacity(n);
    for (ai, &aspect) in aspects.iter().enumerate() {
        let count = n / k + usize::from(ai < n % k);
        for j in 0..count {
            let mut rng = item_rng(HELD_OUT_SEED ^ (aspect as u64), j as u64);
            let spec = generator.sample_where(aspect, &mut rng, |s| match split {
                Split::Seen => held.allows_training(s),
                Split::Unseen => held.is_unseen(s),
            });
            out.push(Prompt {
                caption: spec.to_string(),
                aspect,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::caption::CaptionSpec;
    use crate::shapes::config::AspectWeights;

    #[test]
    fn split_by_aspect_and_independent_of_the_training_seed() {
        let cfg = ShapesConfig::default();
        let p = held_out_prompts(&cfg, 500).unwrap();
        assert_eq!(p.len(), 500);
        let n = |a| p.iter().filter(|x| x.aspect == a).count();
        assert_eq!(
            (n(Aspect::Count), n(Aspect::Binding), n(Aspect::Relation)),
            (167, 167, 166)
        );
        for x in &p {
            assert_eq!(CaptionSpec::parse(&x.caption).unwrap().aspect(), x.aspect);
        }
        let reseeded = ShapesConfig {
            seed: 99,
            ..cfg.clone()
        };
        assert_eq!(held_out_prompts(&reseeded, 500).unwrap(), p);
        let reweighted = ShapesConfig {
            aspects: AspectWeights {
                count: 5.0,
                binding: 0.5,
                relation: 1.0,
            },
            ..cfg.clone()
        };
        assert_eq!(held_out_prompts(&reweighted, 500).unwrap(), p);
        // A prefix per aspect: the first 10 count prompts do not depend on n.
        let small = held_out_prompts(&cfg, 30).unwrap();
        assert_eq!(small[..10], p[..10]);
        // Varied: many distinct captions.
        let distinct: std::collections::HashSet<_> = p.iter().map(|x| &x.caption).collect();
        assert!(distinct.len() > 200, "{} distinct", distinct.len());
    }

    #[test]
    fn disabled_aspects_get_no_prompts() {
        let cfg = ShapesConfig {
            aspects: AspectWeights {
                count: 1.0,
                binding: 0.0,
                relation: 1.0,
            },
            ..ShapesConfig::default()
        };
        let p = held_out_prompts(&cfg, 7).unwrap();
        assert_eq!(p.iter().filter(|x| x.aspect == Aspect::Count).count(), 4);
        assert_eq!(p.iter().filter(|x| x.aspect == Aspect::Relation).count(), 3);
    }
}
