//! `ShapesConfig`: what the procedural shapes data set draws, with validated defaults.
//!
//! The default is built to be learnable by a ~1.5M-parameter diffusion model in a few
//! CPU-minutes (SPEC section 7 found two-square relations at 16-32 px hard at that budget):
//! big (10-12 px in a 32 px image), flat, fully saturated objects on black; four colours
//! that differ by whole RGB channels; three shapes; at most 4 objects, each in its own
//! quadrant; relation pairs always in opposite image halves with distinct colours; 1 px of
//! position jitter. Every knob is here to make it easier or harder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::caption::Aspect;
use super::error::ShapesError;
use super::holdout::Holdout;
use super::vocab::{Color, MAX_COUNT, Shape};

/// Free pixels between two neighbouring objects, at least (when the grid cells are whole
/// pixels; otherwise snapping objects to the pixel grid can take half a pixel off each side).
pub const MIN_GAP: u32 = 2;
/// Smallest object the scorer classifies reliably (px).
pub const MIN_OBJECT_SIZE: u32 = 6;

/// How objects of count and binding captions are assigned to grid cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// A random permutation of the cells per item.
    #[default]
    Random,
    /// Cells in reading order.
    Canonical,
}

/// An inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinMax {
    pub min: u32,
    pub max: u32,
}

/// Relative frequencies of the caption aspects (need not sum to 1; 0 turns one off).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AspectWeights {
    pub count: f32,
    pub binding: f32,
    pub relation: f32,
}

impl Default for AspectWeights {
    fn default() -> Self {
        AspectWeights {
            count: 1.0,
            binding: 1.0,
            relation: 1.0,
        }
    }
}

impl AspectWeights {
    pub fn get(&self, aspect: Aspect) -> f32 {
        match aspect {
            Aspect::Count => self.count,
            Aspect::Binding => self.binding,
            Aspect::Relation => self.relation,
        }
    }

    /// Aspects with a positive weight, in [`Aspect::ALL`] order.
    pub fn enabled(&self) -> Vec<Aspect> {
        Aspect::ALL
            .into_iter()
            .filter(|a| self.get(*a) > 0.0)
            .collect()
    }
}

/// The procedural shapes data set. RON example (every field optional):
/// `(image_size: 32, palette: [red, green, blue, yellow], shapes: [circle, square, triangle],
///   object_size: (min: 10, max: 12), objects: (min: 1, max: 4), binding_objects: 2,
///   jitter: 1, aspects: (count: 1.0, binding: 1.0, relation: 1.0), seed: 0)`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapesConfig {
    /// Side of the square RGB images (px).
    pub image_size: u32,
    /// Colours objects are drawn in (any of red, green, blue, yellow, cyan, magenta, white).
    pub palette: Vec<Color>,
    /// Shapes objects are drawn as.
    pub shapes: Vec<Shape>,
    /// Object size: side of its bounding box (px), inclusive range.
    pub object_size: MinMax,
    /// Objects in a count caption ("three green squares"), inclusive range (at most 9).
    pub objects: MinMax,
    /// Objects in an attribute-binding caption ("a red circle and a blue triangle"); they
    /// get distinct colours, and distinct shapes while the shape list allows.
    pub binding_objects: u32,
    /// Largest offset (px, each axis) of an object from the centre of its slot.
    pub jitter: u32,
    /// Which grid cells count and binding objects take: `random` (shuffled per item) or
    /// `canonical` (reading order: the first objects fill the top row). Canonical placement
    /// makes the image a near-deterministic function of the caption, which a small model
    /// learns in far fewer steps; relations are placed by their halves either way.
    pub placement: Placement,
    /// How often each caption aspect is drawn.
    pub aspects: AspectWeights,
    /// Compositions training never shows (`shapes::holdout`); unseen evaluation prompts
    /// hold them. Nothing is held out by default.
    pub holdout: Holdout,
    /// Item `i` of the data set is a pure function of `(seed, i)`.
    pub seed: u64,
}

impl Default for ShapesConfig {
    fn default() -> Self {
        ShapesConfig {
            image_size: 32,
            palette: vec![Color::Red, Color::Green, Color::Blue, Color::Yellow],
            shapes: Shape::ALL.to_vec(),
            object_size: MinMax { min: 10, max: 12 },
            objects: MinMax { min: 1, max: 4 },
            binding_objects: 2,
            jitter: 1,
            placement: Placement::Random,
            aspects: AspectWeights::default(),
            holdout: Holdout::default(),
            seed: 0,
        }
    }
}

impl ShapesConfig {
    /// Named presets: `default` (32 px) and `small` (16 px, 6 px objects, no jitter).
    pub fn preset(name: &str) -> Result<Self, ShapesError> {
        match name {
            "default" => Ok(Self::default()),
            "small" => Ok(Self::small()),
            other => Err(ShapesError::UnknownPreset(other.to_string())),
        }
    }

    /// 16x16 images (4x fewer pixels than the default): 6 px objects, no jitter.
    pub fn small() -> Self {
        ShapesConfig {
            image_size: 16,
            object_size: MinMax { min: 6, max: 6 },
            jitter: 0,
            ..Self::default()
        }
    }

    /// Parses and validates a RON config; `origin` names the source in errors.
    pub fn from_ron(text: &str, origin: &str) -> Result<Self, ShapesError> {
        let cfg: ShapesConfig = ron::from_str(text).map_err(|e| ShapesError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and validates a RON config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ShapesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ShapesError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_ron(&text, &path.display().to_string())
    }

    /// The config as RON text (what [`ShapesConfig::from_ron`] reads back).
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .expect("a ShapesConfig always serialises")
    }

    /// Objects of count and binding captions sit in the cells of a `grid x grid` layout
    /// (at least 2x2, so relation halves and grid cells line up).
    pub fn grid(&self) -> u32 {
        let most = self.objects.max.max(self.binding_objects).max(1);
        let mut g = 2;
        while g * g < most {
            g += 1;
        }
        g
    }

    /// Side of a grid cell (px).
    pub fn cell(&self) -> f32 {
        self.image_size as f32 / self.grid() as f32
    }

    /// Checks every field; the error names the field and what would work.
    pub fn validate(&self) -> Result<(), ShapesError> {
        let err = |field, message: String| Err(ShapesError::Config { field, message });
        if !(8..=1024).contains(&self.image_size) {
            return err(
                "image_size",
                format!("{} px; use 8 to 1024", self.image_size),
            );
        }
        if self.palette.is_empty() {
            return err(
                "palette",
                "is empty; name at least one colour, e.g. [red]".into(),
            );
        }
        if has_duplicates(&self.palette) {
            return err("palette", format!("{:?} repeats a colour", self.palette));
        }
        if self.shapes.is_empty() {
            return err(
                "shapes",
                "is empty; name at least one of circle, square, triangle".into(),
            );
        }
        if has_duplicates(&self.shapes) {
            return err("shapes", format!("{:?} repeats a shape", self.shapes));
        }
        let s = self.object_size;
        if s.min < MIN_OBJECT_SIZE || s.min > s.max {
            return err(
                "object_size",
                format!(
                    "(min: {}, max: {}); need {MIN_OBJECT_SIZE} <= min <= max (smaller objects \
                     cannot be told apart by shape)",
                    s.min, s.max
                ),
            );
        }
        let o = self.objects;
        if o.min < 1 || o.min > o.max || o.max > MAX_COUNT {
            return err(
                "objects",
                format!(
                    "(min: {}, max: {}); need 1 <= min <= max <= {MAX_COUNT}",
                    o.min, o.max
                ),
            );
        }
        let w = self.aspects;
        if [w.count, w.binding, w.relation]
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
            || w.count + w.binding + w.relation <= 0.0
        {
            return err(
                "aspects",
                format!("{w:?}; weights must be finite, >= 0 and not all 0"),
            );
        }
        if w.binding > 0.0 && !(2..=MAX_COUNT).contains(&self.binding_objects) {
            return err(
                "binding_objects",
                format!("{}; use 2 to {MAX_COUNT}", self.binding_objects),
            );
        }
        if w.binding > 0.0 && self.binding_objects as usize > self.palette.len() {
            return err(
                "binding_objects",
                format!(
                    "{} objects need as many distinct colours but the palette has {}; add \
                     colours, lower binding_objects, or set aspects.binding to 0",
                    self.binding_objects,
                    self.palette.len()
                ),
            );
        }
        if w.relation > 0.0 && self.palette.len() < 2 {
            return err(
                "palette",
                "relation captions need two distinct colours; add a colour or set \
                 aspects.relation to 0"
                    .into(),
            );
        }
        let need = s.max + 2 * self.jitter + MIN_GAP;
        let cell = self.image_size / self.grid();
        if need > cell {
            return err(
                "object_size",
                format!(
                    "objects up to {} px with jitter {} need slots of {need} px ({MIN_GAP} px \
                     gap), but a {} px image split {g}x{g} (for up to {} objects) gives {cell} \
                     px; lower object_size.max or jitter, or raise image_size",
                    s.max,
                    self.jitter,
                    self.image_size,
                    self.objects.max.max(self.binding_objects),
                    g = self.grid(),
                ),
            );
        }
        self.holdout.validate(self)
    }
}

fn has_duplicates<T: PartialEq>(v: &[T]) -> bool {
    v.iter().enumerate().any(|(i, x)| v[..i].contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in ["default", "small"] {
            ShapesConfig::preset(name).unwrap().validate().unwrap();
        }
        assert!(matches!(
            ShapesConfig::preset("huge"),
            Err(ShapesError::UnknownPreset(_))
        ));
        assert_eq!(ShapesConfig::default().grid(), 2);
        assert_eq!(ShapesConfig::default().cell(), 16.0);
    }

    #[test]
    fn ron_round_trip_and_partial_files() {
        let cfg = ShapesConfig {
            palette: vec![Color::Cyan, Color::White],
            seed: 7,
            ..ShapesConfig::default()
        };
        assert_eq!(ShapesConfig::from_ron(&cfg.to_ron(), "test").unwrap(), cfg);
        let hand = "(palette: [red, cyan], shapes: [square], aspects: (relation: 0.0))";
        let hand = ShapesConfig::from_ron(hand, "test").unwrap();
        assert_eq!(hand.palette, vec![Color::Red, Color::Cyan]);
        assert_eq!(hand.shapes, vec![Shape::Square]);
        assert_eq!((hand.aspects.count, hand.aspects.relation), (1.0, 0.0));
        let partial = ShapesConfig::from_ron("(image_size: 64, jitter: 4)", "test").unwrap();
        assert_eq!(partial.image_size, 64);
        assert_eq!(partial.palette, ShapesConfig::default().palette);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_field() {
        let e = ShapesConfig::from_ron("(image_size: 32,\n colours: [red])", "x.ron").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("x.ron") && msg.contains("colours") && msg.contains("2:"),
            "{msg}"
        );

        let e = ShapesConfig::from_ron("(palette: [purple])", "x.ron")
            .unwrap_err()
            .to_string();
        assert!(e.contains("purple"), "{e}");

        let bad = |cfg: ShapesConfig, field: &str| {
            let msg = cfg.validate().unwrap_err().to_string();
            assert!(msg.contains(&format!("`{field}`")), "{msg}");
        };
        let d = ShapesConfig::default;
        bad(
            ShapesConfig {
                object_size: MinMax { min: 10, max: 14 },
                ..d()
            },
            "object_size",
        );
        bad(ShapesConfig { jitter: 2, ..d() }, "object_size");
        bad(
            ShapesConfig {
                object_size: MinMax { min: 4, max: 12 },
                ..d()
            },
            "object_size",
        );
        bad(
            ShapesConfig {
                objects: MinMax { min: 0, max: 4 },
                ..d()
            },
            "objects",
        );
        bad(
            ShapesConfig {
                objects: MinMax { min: 1, max: 10 },
                ..d()
            },
            "objects",
        );
        bad(
            ShapesConfig {
                palette: vec![],
                ..d()
            },
            "palette",
        );
        bad(
            ShapesConfig {
                palette: vec![Color::Red, Color::Red],
                ..d()
            },
            "palette",
        );
        bad(
            ShapesConfig {
                palette: vec![Color::Red],
                ..d()
            },
            "binding_objects",
        );
        bad(
            ShapesConfig {
                shapes: vec![],
                ..d()
            },
            "shapes",
        );
        bad(
            ShapesConfig {
                image_size: 4,
                ..d()
            },
            "image_size",
        );
        let no_weights = AspectWeights {
            count: 0.0,
            binding: 0.0,
            relation: 0.0,
        };
        bad(
            ShapesConfig {
                aspects: no_weights,
                ..d()
            },
            "aspects",
        );
        // Count-only worlds may have one colour.
        let count_only = AspectWeights {
            count: 1.0,
            binding: 0.0,
            relation: 0.0,
        };
        ShapesConfig {
            palette: vec![Color::Red],
            aspects: count_only,
            ..d()
        }
        .validate()
        .unwrap();
        // More objects need a finer grid: 9 objects in 32 px do not fit 10-12 px objects.
        bad(
            ShapesConfig {
                objects: MinMax { min: 1, max: 9 },
                ..d()
            },
            "object_size",
        );
        ShapesConfig {
            image_size: 48,
            objects: MinMax { min: 1, max: 9 },
            ..d()
        }
        .validate()
        .unwrap();
    }
}
