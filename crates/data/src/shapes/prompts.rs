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

/// `n` evaluation captions, split evenly over the aspects with a positive weight (in the
/// order count, binding, relation; the first `n % k` aspects get one more), each drawn
/// with the config's caption distribution for its aspect.
///
/// They depend on the config's vocabulary and ranges (palette, shapes, object counts) but
/// not on its `seed` or aspect weights' values, so training randomness never changes
/// them. Prompt `j` of an aspect is the same for every `n > j`. The grammar is small
/// (about 550 distinct captions by default), so these captions also occur in training:
/// they measure alignment on fixed prompts, not generalisation to unseen ones.
pub fn held_out_prompts(config: &ShapesConfig, n: usize) -> Result<Vec<Prompt>, ShapesError> {
    let generator = ShapesGenerator::new(config.clone())?;
    let aspects = config.aspects.enabled();
    let k = aspects.len();
    let mut out = Vec::with_capacity(n);
    for (ai, &aspect) in aspects.iter().enumerate() {
        let count = n / k + usize::from(ai < n % k);
        for j in 0..count {
            let mut rng = item_rng(HELD_OUT_SEED ^ (aspect as u64), j as u64);
            let spec = generator.sample_spec(aspect, &mut rng);
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
