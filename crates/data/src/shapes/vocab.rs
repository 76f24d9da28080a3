//! The words of the shapes world: colours, shapes, spatial relations and counts.
//!
//! Colours are the seven non-black corners of the RGB cube, so every colour differs from
//! every other (and from the black background) by a full channel: the scorer can tell
//! them apart by the on/off pattern of the channels, whatever the brightness.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An object colour. Rendered fully saturated ([`Color::rgb`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Red,
    Green,
    Blue,
    Yellow,
    Cyan,
    Magenta,
    White,
}

impl Color {
    /// Every colour the grammar knows, in vocabulary order.
    pub const ALL: [Color; 7] = [
        Color::Red,
        Color::Green,
        Color::Blue,
        Color::Yellow,
        Color::Cyan,
        Color::Magenta,
        Color::White,
    ];

    /// The rendered pixel value.
    pub fn rgb(self) -> [u8; 3] {
        let [r, g, b] = self.channels();
        [r as u8 * 255, g as u8 * 255, b as u8 * 255]
    }

    /// Which of R, G, B are on.
    pub fn channels(self) -> [bool; 3] {
        match self {
            Color::Red => [true, false, false],
            Color::Green => [false, true, false],
            Color::Blue => [false, false, true],
            Color::Yellow => [true, true, false],
            Color::Cyan => [false, true, true],
            Color::Magenta => [true, false, true],
            Color::White => [true, true, true],
        }
    }

    /// The colour with this channel pattern; `None` for all-off (black, the background).
    pub fn from_channels(on: [bool; 3]) -> Option<Color> {
        Color::ALL.into_iter().find(|c| c.channels() == on)
    }

    pub fn name(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Yellow => "yellow",
            Color::Cyan => "cyan",
            Color::Magenta => "magenta",
            Color::White => "white",
        }
    }

    pub fn from_name(word: &str) -> Option<Color> {
        Color::ALL.into_iter().find(|c| c.name() == word)
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An object shape. Rendered axis-aligned; the triangle is isosceles with its apex up
/// (base = height = the object size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Circle, Shape::Square, Shape::Triangle];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Shape::Circle => "circles",
            Shape::Square => "squares",
            Shape::Triangle => "triangles",
        }
    }

    pub fn from_name(word: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == word)
    }

    pub fn from_plural(word: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.plural() == word)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the first object is relative to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    LeftOf,
    RightOf,
    Above,
    Below,
}

impl Relation {
    pub const ALL: [Relation; 4] = [
        Relation::LeftOf,
        Relation::RightOf,
        Relation::Above,
        Relation::Below,
    ];

    /// The caption words ("left of", "above", ...).
    pub fn phrase(self) -> &'static str {
        match self {
            Relation::LeftOf => "left of",
            Relation::RightOf => "right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    /// The same spatial fact with the objects swapped ("left of" <-> "right of").
    pub fn inverse(self) -> Self {
        match self {
            Relation::LeftOf => Relation::RightOf,
            Relation::RightOf => Relation::LeftOf,
            Relation::Above => Relation::Below,
            Relation::Below => Relation::Above,
        }
    }

    /// Whether an object at offset `(dx, dy)` (pixels, x right, y down) FROM the reference
    /// object stands in this relation to it. The offset must point mostly along the
    /// relation's axis (within 45 degrees): `left of` means `dx < 0` and `|dx| >= |dy|`.
    pub fn holds(self, dx: f32, dy: f32) -> bool {
        match self {
            Relation::LeftOf => dx < 0.0 && dx.abs() >= dy.abs(),
            Relation::RightOf => dx > 0.0 && dx.abs() >= dy.abs(),
            Relation::Above => dy < 0.0 && dy.abs() >= dx.abs(),
            Relation::Below => dy > 0.0 && dy.abs() >= dx.abs(),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

/// The largest count the grammar can say ("nine").
pub const MAX_COUNT: u32 = 9;

const NUMBER_WORDS: [&str; MAX_COUNT as usize] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// "one" ... "nine"; `None` outside 1..=9.
pub fn number_word(n: u32) -> Option<&'static str> {
    NUMBER_WORDS.get((n as usize).wrapping_sub(1)).copied()
}

/// The count a number word stands for.
pub fn parse_number(word: &str) -> Option<u32> {
    NUMBER_WORDS
        .iter()
        .position(|w| *w == word)
        .map(|i| i as u32 + 1)
}

/// Every word the caption grammar can produce, in a fixed order (the word tokenizer's ids
/// follow this order, so it never depends on a data-set config).
pub fn vocabulary() -> Vec<&'static str> {
    let mut words = vec!["a"];
    words.extend(NUMBER_WORDS);
    words.extend(Color::ALL.map(Color::name));
    words.extend(Shape::ALL.map(Shape::name));
    words.extend(Shape::ALL.map(Shape::plural));
    words.extend(["and", "left", "right", "of", "above", "below"]);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_distinct_rgb_corners() {
        for c in Color::ALL {
            assert_eq!(Color::from_channels(c.channels()), Some(c));
            assert_eq!(Color::from_name(c.name()), Some(c));
            assert!(c.rgb().iter().all(|&v| v == 0 || v == 255));
        }
        assert_eq!(Color::from_channels([false; 3]), None);
        assert_eq!(Color::Yellow.rgb(), [255, 255, 0]);
    }

    #[test]
    fn relations_use_the_dominant_axis() {
        // dx, dy: where the first object is, seen from the second.
        assert!(Relation::LeftOf.holds(-10.0, 3.0));
        assert!(!Relation::LeftOf.holds(-3.0, 10.0));
        assert!(Relation::Above.holds(-3.0, -10.0));
        assert!(Relation::Below.holds(0.0, 5.0));
        assert!(!Relation::RightOf.holds(-1.0, 0.0));
        for r in Relation::ALL {
            assert!(
                !r.holds(0.0, 0.0),
                "{r} must not hold for coincident objects"
            );
        }
    }

    #[test]
    fn numbers_round_trip() {
        for n in 1..=MAX_COUNT {
            assert_eq!(parse_number(number_word(n).unwrap()), Some(n));
        }
        assert_eq!(number_word(0), None);
        assert_eq!(number_word(10), None);
    }

    #[test]
    fn vocabulary_has_no_duplicates() {
        let v = vocabulary();
        let set: std::collections::BTreeSet<_> = v.iter().collect();
        assert_eq!(set.len(), v.len());
        assert_eq!(v.len(), 1 + 9 + 7 + 3 + 3 + 6);
    }
}
