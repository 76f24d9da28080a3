//! The two bounds a reader needs beside a model's alignment (per aspect):
//!
//! * **ceiling**: real `shapes` images scored against their own caption: what a perfect
//!   generator gets from this scorer (below 100% only where the scorer errs);
//! * **chance**: real images scored against a *different* caption of the same aspect: what a
//!   model that draws plausible scenes but ignores the text gets.
//!
//! An untrained model (noise) scores 0% by construction, so it bounds nothing; these two do.

use ifvit_data::shapes::{CaptionSpec, Prompt, ShapesConfig, ShapesError, ShapesGenerator};
use serde::{Deserialize, Serialize};

use super::report::AlignmentReport;
use super::scorer::ShapesScorer;

/// Real images scored against their own and against another caption of the same aspect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Real image of prompt i scored against prompt i's caption.
    pub ceiling: AlignmentReport,
    /// Real image of prompt i scored against the next prompt of the same aspect with a
    /// different caption (cyclically; the image's own caption if the aspect has only one).
    pub chance: AlignmentReport,
}

/// Renders one real image per prompt (layout seed `seed + i`) with the config's generator
/// and scores it both ways.
pub fn bounds(
    config: &ShapesConfig,
    prompts: &[Prompt],
    scorer: &ShapesScorer,
    seed: u64,
) -> Result<Bounds, ShapesError> {
    let generator = ShapesGenerator::new(config.clone())?;
    let specs = prompts
        .iter()
        .map(|p| CaptionSpec::parse(&p.caption))
        .collect::<Result<Vec<_>, _>>()?;
    let mut own = Vec::with_capacity(prompts.len());
    let mut other = Vec::with_capacity(prompts.len());
    for (i, spec) in specs.iter().enumerate() {
        let image = generator
            .render_spec(spec.clone(), seed.wrapping_add(i as u64))?
            .image;
        own.push(scorer.score_spec(&image, spec));
        let n = specs.len();
        let j = (1..n)
            .map(|d| (i + d) % n)
            .find(|&j| prompts[j].aspect == prompts[i].aspect && specs[j] != *spec)
            .unwrap_or(i);
        other.push(scorer.score_spec(&image, &specs[j]));
    }
    Ok(Bounds {
        ceiling: AlignmentReport::from_scores(&own),
        chance: AlignmentReport::from_scores(&other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ifvit_data::shapes::{Aspect, held_out_prompts};

    #[test]
    fn ceiling_is_near_perfect_and_chance_is_low() {
        let cfg = ShapesConfig::default();
        let prompts = held_out_prompts(&cfg, 60).unwrap();
        let b = bounds(&cfg, &prompts, &ShapesScorer::default(), 0).unwrap();
        assert_eq!(b.ceiling.overall.n, 60);
        assert!(
            b.ceiling.overall.all_correct >= 0.98,
            "{:?}",
            b.ceiling.overall
        );
        for a in Aspect::ALL {
            let chance = b.chance.by_aspect[&a].all_correct;
            assert!(chance < 0.3, "{a}: chance {chance}");
        }
        // Chance is not zero by construction: some checks pass on another caption (the
        // colour of a one-group count caption, say), which is what makes it a bound.
        assert!(b.chance.overall.color > 0.0);
        // Deterministic.
        assert_eq!(
            b,
            bounds(&cfg, &prompts, &ShapesScorer::default(), 0).unwrap()
        );
    }
}
