//! Held-out compositions: combinations that training never shows, so that evaluation can ask
//! whether a model composes what it learned rather than recalling captions it saw.
//!
//! Three kinds, one per caption aspect (each off by default):
//!
//! | kind               | held out of training                         | an unseen prompt          |
//! |--------------------|----------------------------------------------|---------------------------|
//! | `colour_shapes`    | a colour-shape pair, in every aspect         | binding: "a red circle and a blue square" with (red, circle) held out |
//! | `count_shapes`     | a (count >= 2, shape) pair in count captions | count: "three triangles" (any colour) with (3, triangle) held out |
//! | `relation_colours` | an unordered colour pair in relation captions| relation: "a red .. left of a green .." with {red, green} held out |
//!
//! Which pairs are held out is a deterministic function of the config's palette, shapes and
//! object range (not of its seed): the first `n` pairs of a fixed "diagonal" order that takes
//! each colour, shape and count at most once, so every word still occurs in training with
//! other partners. An unseen prompt holds a composition of its own aspect's kind only (it is
//! novel in exactly one way); a seen prompt is drawn from the training distribution.

use serde::{Deserialize, Serialize};

use super::caption::{Aspect, CaptionSpec};
use super::config::ShapesConfig;
use super::error::ShapesError;
use super::vocab::{Color, Shape};

/// How many compositions of each kind training never shows (all 0: nothing held out).
/// RON: `holdout: (colour_shapes: 2, count_shapes: 2, relation_colours: 1)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Holdout {
    /// Colour-shape pairs drawn in no training caption (at most one per colour and per shape;
    /// needs two or more colours and shapes).
    pub colour_shapes: u32,
    /// (count, shape) pairs, count >= 2, drawn in no training count caption (at most one per
    /// count and per shape).
    pub count_shapes: u32,
    /// Unordered colour pairs that never stand in a training relation (at most half the
    /// palette; needs three or more colours).
    pub relation_colours: u32,
}

impl Holdout {
    /// True when nothing is held out.
    pub fn is_off(&self) -> bool {
        *self == Holdout::default()
    }

    /// Checks the counts against the config; the error names the field and the limit.
    pub fn validate(&self, cfg: &ShapesConfig) -> Result<(), ShapesError> {
        let err = |message: String| {
            Err(ShapesError::Config {
                field: "holdout",
                message,
            })
        };
        let (p, s) = (cfg.palette.len() as u32, cfg.shapes.len() as u32);
        if self.colour_shapes > 0 && (p < 2 || s < 2 || self.colour_shapes > p.min(s)) {
            return err(format!(
                "colour_shapes: {} with {p} colours and {s} shapes; use 0 to {} (each colour \
                 and shape must keep a partner in training)",
                self.colour_shapes,
                if p < 2 || s < 2 { 0 } else { p.min(s) }
            ));
        }
        let counts = held_counts(cfg).len() as u32;
        if self.count_shapes > 0 && (s < 2 || self.count_shapes > counts.min(s)) {
            return err(format!(
                "count_shapes: {} with counts {}..={} ({counts} of them >= 2) and {s} shapes; \
                 use 0 to {}",
                self.count_shapes,
                cfg.objects.min,
                cfg.objects.max,
                if s < 2 { 0 } else { counts.min(s) }
            ));
        }
        if self.relation_colours > 0 && (p < 3 || self.relation_colours > p / 2) {
            return err(format!(
                "relation_colours: {} with {p} colours; use 0 to {} (relations need colour \
                 pairs left for training)",
                self.relation_colours,
                if p < 3 { 0 } else { p / 2 }
            ));
        }
        Ok(())
    }
}

/// Counts a count caption can hold out (those >= 2 in the config's range).
fn held_counts(cfg: &ShapesConfig) -> Vec<u32> {
    (cfg.objects.min.max(2)..=cfg.objects.max).collect()
}

/// Why a caption is not in the training distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Novelty {
    ColourShape,
    CountShape,
    RelationColours,
}

impl Novelty {
    /// The kind of held-out composition an unseen prompt of `aspect` holds.
    pub fn of_aspect(aspect: Aspect) -> Novelty {
        match aspect {
            Aspect::Count => Novelty::CountShape,
            Aspect::Binding => Novelty::ColourShape,
            Aspect::Relation => Novelty::RelationColours,
        }
    }
}

/// The held-out compositions of one config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOut {
    pub colour_shapes: Vec<(Color, Shape)>,
    pub count_shapes: Vec<(u32, Shape)>,
    pub relation_colours: Vec<(Color, Color)>,
}

impl HeldOut {
    /// The compositions `cfg.holdout` asks for (validated by [`ShapesConfig::validate`]).
    pub fn of(cfg: &ShapesConfig) -> HeldOut {
        let h = cfg.holdout;
        let (pal, shp) = (&cfg.palette, &cfg.shapes);
        let counts = held_counts(cfg);
        // Diagonals: pair k takes the k-th colour (count) and the k-th shape.
        let colour_shapes = (0..h.colour_shapes as usize)
            .map(|k| (pal[k % pal.len()], shp[k % shp.len()]))
            .collect();
        let count_shapes = (0..h.count_shapes as usize)
            .map(|k| (counts[k % counts.len()], shp[(k + 1) % shp.len()]))
            .collect();
        // Disjoint colour pairs: (0, 1), (2, 3), ...
        let relation_colours = (0..h.relation_colours as usize)
            .map(|k| (pal[2 * k], pal[2 * k + 1]))
            .collect();
        HeldOut {
            colour_shapes,
            count_shapes,
            relation_colours,
        }
    }

    /// The kinds of held-out composition the caption holds (empty: training may draw it).
    pub fn novelties(&self, spec: &CaptionSpec) -> Vec<Novelty> {
        let mut out = Vec::new();
        let groups = spec.groups();
        if groups
            .iter()
            .any(|g| self.colour_shapes.contains(&(g.color, g.shape)))
        {
            out.push(Novelty::ColourShape);
        }
        match spec {
            CaptionSpec::Objects(g) if g.len() == 1 => {
                if self.count_shapes.contains(&(g[0].count, g[0].shape)) {
                    out.push(Novelty::CountShape);
                }
            }
            CaptionSpec::Relation { a, b, .. } => {
                let pair = |x, y| self.relation_colours.contains(&(x, y));
                if pair(a.color, b.color) || pair(b.color, a.color) {
                    out.push(Novelty::RelationColours);
                }
            }
            CaptionSpec::Objects(_) => {}
        }
        out
    }

    /// Whether training may show this caption.
    pub fn allows_training(&self, spec: &CaptionSpec) -> bool {
        self.novelties(spec).is_empty()
    }

    /// Whether the caption is an unseen prompt of its aspect: it holds that aspect's kind of
    /// held-out composition and no other.
    pub fn is_unseen(&self, spec: &CaptionSpec) -> bool {
        self.novelties(spec) == [Novelty::of_aspect(spec.aspect())]
    }

    /// Whether anything of the aspect's kind is held out (unseen prompts of it exist).
    pub fn has_unseen(&self, aspect: Aspect) -> bool {
        match Novelty::of_aspect(aspect) {
            Novelty::ColourShape => !self.colour_shapes.is_empty(),
            Novelty::CountShape => !self.count_shapes.is_empty(),
            Novelty::RelationColours => !self.relation_colours.is_empty(),
        }
    }

    /// Human-readable lists, for reports and `docs/shapes.md`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (c, s) in &self.colour_shapes {
            out.push(format!("colour-shape: {c} {s}"));
        }
        for (n, s) in &self.count_shapes {
            out.push(format!("count-shape: {n} {}", s.plural()));
        }
        for (a, b) in &self.relation_colours {
            out.push(format!("relation colours: {a} / {b}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{ShapesGenerator, Split, eval_prompts, held_out_prompts};

    fn with(h: Holdout) -> ShapesConfig {
        ShapesConfig {
            holdout: h,
            ..ShapesConfig::default()
        }
    }

    const ALL_KINDS: Holdout = Holdout {
        colour_shapes: 2,
        count_shapes: 2,
        relation_colours: 1,
    };

    #[test]
    fn the_held_out_set_is_fixed_by_the_vocabulary() {
        let h = HeldOut::of(&with(ALL_KINDS));
        assert_eq!(
            h.colour_shapes,
            vec![(Color::Red, Shape::Circle), (Color::Green, Shape::Square)]
        );
        assert_eq!(
            h.count_shapes,
            vec![(2, Shape::Square), (3, Shape::Triangle)]
        );
        assert_eq!(h.relation_colours, vec![(Color::Red, Color::Green)]);
        // The training seed does not change it.
        let mut other = with(ALL_KINDS);
        other.seed = 9;
        assert_eq!(HeldOut::of(&other), h);
    }

    /// Training never draws a held-out composition; every word still occurs in training.
    #[test]
    fn training_never_shows_a_held_out_composition() {
        let cfg = with(ALL_KINDS);
        let h = HeldOut::of(&cfg);
        let g = ShapesGenerator::new(cfg.clone()).unwrap();
        let mut colours_of_circles = std::collections::BTreeSet::new();
        let mut triangle_counts = std::collections::BTreeSet::new();
        for i in 0..3000 {
            let it = g.item(i);
            assert!(h.allows_training(&it.spec), "{}", it.caption);
            for gr in it.spec.groups() {
                if gr.shape == Shape::Circle {
                    colours_of_circles.insert(gr.color);
                }
                if gr.shape == Shape::Triangle && it.aspect == Aspect::Count {
                    triangle_counts.insert(gr.count);
                }
            }
        }
        assert!(!colours_of_circles.contains(&Color::Red));
        assert_eq!(colours_of_circles.len(), 3, "{colours_of_circles:?}");
        assert!(!triangle_counts.contains(&3));
        assert!(triangle_counts.contains(&2) && triangle_counts.contains(&4));
    }

    /// Unseen prompts hold exactly their aspect's novelty; seen prompts none.
    #[test]
    fn seen_and_unseen_prompts() {
        let cfg = with(ALL_KINDS);
        let h = HeldOut::of(&cfg);
        let unseen = eval_prompts(&cfg, 90, Split::Unseen).unwrap();
        assert_eq!(unseen.len(), 90);
        for p in &unseen {
            let spec = CaptionSpec::parse(&p.caption).unwrap();
            assert_eq!(spec.aspect(), p.aspect);
            assert!(h.is_unseen(&spec), "{}", p.caption);
        }
        let aspects: std::collections::BTreeSet<_> = unseen.iter().map(|p| p.aspect).collect();
        assert_eq!(aspects.len(), 3);
        for p in eval_prompts(&cfg, 90, Split::Seen).unwrap() {
            let spec = CaptionSpec::parse(&p.caption).unwrap();
            assert!(h.allows_training(&spec), "{}", p.caption);
        }
    }

    /// With nothing held out, data and seen prompts are exactly what they were before the
    /// holdout existed (the same random streams), and unseen prompts are an error.
    #[test]
    fn off_changes_nothing() {
        let cfg = ShapesConfig::default();
        assert!(cfg.holdout.is_off());
        assert_eq!(
            eval_prompts(&cfg, 30, Split::Seen).unwrap(),
            held_out_prompts(&cfg, 30).unwrap()
        );
        let e = eval_prompts(&cfg, 3, Split::Unseen)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holdout"), "{e}");
    }

    /// Only the aspects with something held out get unseen prompts.
    #[test]
    fn unseen_prompts_only_for_held_out_aspects() {
        let cfg = with(Holdout {
            relation_colours: 1,
            ..Holdout::default()
        });
        let p = eval_prompts(&cfg, 10, Split::Unseen).unwrap();
        assert!(p.iter().all(|p| p.aspect == Aspect::Relation));
    }

    #[test]
    fn limits_name_the_field() {
        let bad = |h: Holdout, cfg: ShapesConfig| {
            let e = ShapesConfig { holdout: h, ..cfg }
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains("`holdout`"), "{e}");
        };
        let d = ShapesConfig::default;
        bad(
            Holdout {
                colour_shapes: 4,
                ..Holdout::default()
            },
            d(),
        );
        bad(
            Holdout {
                relation_colours: 3,
                ..Holdout::default()
            },
            d(),
        );
        bad(
            Holdout {
                count_shapes: 1,
                ..Holdout::default()
            },
            ShapesConfig {
                shapes: vec![Shape::Circle],
                ..d()
            },
        );
        let r = ShapesConfig::from_ron("(holdout: (colour_shapes: 1, relation_colours: 2))", "t")
            .unwrap();
        assert_eq!(r.holdout.relation_colours, 2);
    }
}
