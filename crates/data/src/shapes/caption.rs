//! The caption grammar: structured caption specs, their canonical text, and a parser that
//! turns caption text back into a spec (or says exactly where it leaves the grammar).
//!
//! ```text
//! caption  := objects | relation
//! objects  := group ( "and" group )*
//! relation := group ( "left of" | "right of" | "above" | "below" ) group
//! group    := ( "a" | "one" ) COLOUR SHAPE          e.g. "a red circle"
//!           | NUMBER COLOUR SHAPE-PLURAL             e.g. "three green squares"
//! NUMBER   := "two" | ... | "nine"
//! ```
//!
//! Canonical text (what the generator writes): a caption with a single group says its
//! number ("one red circle", "three green squares"); in longer captions a group of one
//! is "a" ("a red circle and a blue triangle", "a yellow square above a red circle").

use std::fmt;

use serde::{Deserialize, Serialize};

use super::vocab::{Color, MAX_COUNT, Relation, Shape, number_word, parse_number};

/// Which compositional skill a caption tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aspect {
    /// One group: N objects of one colour and shape ("three green squares").
    Count,
    /// Two or more groups joined by "and" ("a red circle and a blue triangle").
    Binding,
    /// Two groups in a spatial relation ("a yellow square above a red circle").
    Relation,
}

impl Aspect {
    pub const ALL: [Aspect; 3] = [Aspect::Count, Aspect::Binding, Aspect::Relation];

    pub fn name(self) -> &'static str {
        match self {
            Aspect::Count => "count",
            Aspect::Binding => "binding",
            Aspect::Relation => "relation",
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `count` objects of one colour and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Group {
    pub count: u32,
    pub color: Color,
    pub shape: Shape,
}

impl Group {
    pub fn one(color: Color, shape: Shape) -> Self {
        Group {
            count: 1,
            color,
            shape,
        }
    }

    /// "a red circle" / "one red circle" / "two red circles".
    fn write(&self, f: &mut fmt::Formatter<'_>, say_one: bool) -> fmt::Result {
        let shape = if self.count == 1 {
            self.shape.name()
        } else {
            self.shape.plural()
        };
        let det = match self.count {
            1 if !say_one => "a",
            n => number_word(n).unwrap_or("?"),
        };
        write!(f, "{det} {} {shape}", self.color)
    }
}

/// What a caption says, structurally.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaptionSpec {
    /// Groups joined by "and" (one group: [`Aspect::Count`]; several: [`Aspect::Binding`]).
    Objects(Vec<Group>),
    /// `a` stands in `relation` to `b`.
    Relation {
        a: Group,
        relation: Relation,
        b: Group,
    },
}

impl CaptionSpec {
    pub fn aspect(&self) -> Aspect {
        match self {
            CaptionSpec::Objects(g) if g.len() == 1 => Aspect::Count,
            CaptionSpec::Objects(_) => Aspect::Binding,
            CaptionSpec::Relation { .. } => Aspect::Relation,
        }
    }

    /// The groups, in caption order.
    pub fn groups(&self) -> Vec<Group> {
        match self {
            CaptionSpec::Objects(g) => g.clone(),
            CaptionSpec::Relation { a, b, .. } => vec![*a, *b],
        }
    }

    /// Total number of objects the caption names.
    pub fn object_count(&self) -> u32 {
        self.groups().iter().map(|g| g.count).sum()
    }

    /// The canonical caption text (same as `to_string()`).
    pub fn caption(&self) -> String {
        self.to_string()
    }

    /// Parses caption text (case-insensitive, words separated by whitespace).
    pub fn parse(caption: &str) -> Result<CaptionSpec, CaptionError> {
        Parser::new(caption).parse()
    }
}

impl fmt::Display for CaptionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptionSpec::Objects(groups) => {
                let single = groups.len() == 1;
                for (i, g) in groups.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    g.write(f, single)?;
                }
                Ok(())
            }
            CaptionSpec::Relation { a, relation, b } => {
                a.write(f, false)?;
                write!(f, " {relation} ")?;
                b.write(f, false)
            }
        }
    }
}

impl std::str::FromStr for CaptionSpec {
    type Err = CaptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaptionSpec::parse(s)
    }
}

const GRAMMAR_HINT: &str = "shapes captions look like \"three green squares\", \"a red circle \
                            and a blue triangle\" or \"a yellow square above a red circle\" \
                            (grammar in docs/shapes.md)";

/// A caption outside the shapes grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptionError {
    #[error("empty caption: {GRAMMAR_HINT}")]
    Empty,
    #[error("caption \"{caption}\": word {position} `{word}` should be {expected}; {GRAMMAR_HINT}")]
    Unexpected {
        caption: String,
        /// 1-based word index.
        position: usize,
        word: String,
        expected: String,
    },
    #[error("caption \"{caption}\" ends too early: expected {expected}; {GRAMMAR_HINT}")]
    UnexpectedEnd { caption: String, expected: String },
}

struct Parser<'a> {
    caption: &'a str,
    words: Vec<String>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(caption: &'a str) -> Self {
        let words = caption
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
        Parser {
            caption,
            words,
            pos: 0,
        }
    }

    fn parse(mut self) -> Result<CaptionSpec, CaptionError> {
        if self.words.is_empty() {
            return Err(CaptionError::Empty);
        }
        let first = self.group()?;
        let Some(word) = self.peek() else {
            return Ok(CaptionSpec::Objects(vec![first]));
        };
        let spec = match word {
            "and" => {
                let mut groups = vec![first];
                while self.peek() == Some("and") {
                    self.pos += 1;
                    groups.push(self.group()?);
                }
                CaptionSpec::Objects(groups)
            }
            "left" | "right" | "above" | "below" => {
                let relation = self.relation()?;
                let b = self.group()?;
                CaptionSpec::Relation {
                    a: first,
                    relation,
                    b,
                }
            }
            _ => {
                return Err(self.unexpected(
                    "`and`, a relation (left of, right of, above, below) or the end".into(),
                ));
            }
        };
        if self.peek().is_some() {
            let expected = match spec {
                CaptionSpec::Objects(_) => "`and` or the end (a relation cannot follow `and`)",
                CaptionSpec::Relation { .. } => "the end (a relation caption has two groups)",
            };
            return Err(self.unexpected(expected.into()));
        }
        Ok(spec)
    }

    fn peek(&self) -> Option<&str> {
        self.words.get(self.pos).map(String::as_str)
    }

    fn next(&mut self, expected: &str) -> Result<&str, CaptionError> {
        match self.words.get(self.pos) {
            Some(w) => {
                self.pos += 1;
                Ok(w)
            }
            None => Err(CaptionError::UnexpectedEnd {
                caption: self.caption.to_string(),
                expected: expected.to_string(),
            }),
        }
    }

    /// The error for the word just before `self.pos` (or at it, if nothing was consumed).
    fn unexpected_at(&self, index: usize, expected: String) -> CaptionError {
        CaptionError::Unexpected {
            caption: self.caption.to_string(),
            position: index + 1,
            word: self.words[index].clone(),
            expected,
        }
    }

    fn unexpected(&self, expected: String) -> CaptionError {
        self.unexpected_at(self.pos, expected)
    }

    fn group(&mut self) -> Result<Group, CaptionError> {
        let counts = format!(
            "a count word (a, one, two, ..., {})",
            number_word(MAX_COUNT).unwrap()
        );
        let det = self.next(&counts)?.to_string();
        let count = match det.as_str() {
            "a" | "one" => 1,
            w => match parse_number(w) {
                Some(n) => n,
                None => return Err(self.unexpected_at(self.pos - 1, counts)),
            },
        };
        let colours = Color::ALL.map(Color::name).join(", ");
        let expected = format!("a colour ({colours})");
        let word = self.next(&expected)?.to_string();
        let color =
            Color::from_name(&word).ok_or_else(|| self.unexpected_at(self.pos - 1, expected))?;
        let (expected, parse): (String, fn(&str) -> Option<Shape>) = if count == 1 {
            let names = Shape::ALL.map(Shape::name).join(", ");
            (
                format!("a singular shape after `{det}` ({names})"),
                Shape::from_name,
            )
        } else {
            let names = Shape::ALL.map(Shape::plural).join(", ");
            (
                format!("a plural shape after `{det}` ({names})"),
                Shape::from_plural,
            )
        };
        let word = self.next(&expected)?.to_string();
        let shape = parse(&word).ok_or_else(|| self.unexpected_at(self.pos - 1, expected))?;
        Ok(Group {
            count,
            color,
            shape,
        })
    }

    fn relation(&mut self) -> Result<Relation, CaptionError> {
        let first = self.next("a relation")?.to_string();
        let relation = match first.as_str() {
            "above" => return Ok(Relation::Above),
            "below" => return Ok(Relation::Below),
            "left" => Relation::LeftOf,
            _ => Relation::RightOf,
        };
        let expected = format!("`of` (as in `{first} of`)");
        if self.next(&expected)? != "of" {
            return Err(self.unexpected_at(self.pos - 1, expected));
        }
        Ok(relation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> CaptionSpec {
        CaptionSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_three_aspects() {
        assert_eq!(
            parse("three green squares"),
            CaptionSpec::Objects(vec![Group {
                count: 3,
                color: Color::Green,
                shape: Shape::Square
            }])
        );
        assert_eq!(
            parse("a red circle and a blue triangle"),
            CaptionSpec::Objects(vec![
                Group::one(Color::Red, Shape::Circle),
                Group::one(Color::Blue, Shape::Triangle)
            ])
        );
        assert_eq!(
            parse("a yellow square above a red circle"),
            CaptionSpec::Relation {
                a: Group::one(Color::Yellow, Shape::Square),
                relation: Relation::Above,
                b: Group::one(Color::Red, Shape::Circle),
            }
        );
        let s = parse("Two red circles  LEFT of a blue square");
        assert_eq!(s.aspect(), Aspect::Relation);
        assert_eq!(s.object_count(), 3);
        assert_eq!(s.to_string(), "two red circles left of a blue square");
        assert_eq!(parse("a red circle").to_string(), "one red circle");
        assert_eq!(parse("one red circle").aspect(), Aspect::Count);
        assert_eq!(
            parse("a red circle right of a red square").aspect(),
            Aspect::Relation
        );
        assert_eq!(
            parse("a red circle below a red square").aspect(),
            Aspect::Relation
        );
    }

    #[test]
    fn canonical_text_round_trips() {
        for s in [
            "one red circle",
            "four yellow triangles",
            "a red circle and a blue triangle",
            "a red circle and two cyan squares and a white triangle",
            "a yellow square right of a red circle",
            "a green triangle below three magenta circles",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_captions_outside_the_grammar_with_the_place_and_the_fix() {
        let cases: [(&str, usize, &str); 7] = [
            ("a purple circle", 2, "a colour"),
            ("two red circle", 3, "a plural shape after `two`"),
            ("a red circles", 3, "a singular shape after `a`"),
            ("ten red circles", 1, "a count word"),
            ("a red circle near a blue square", 4, "`and`, a relation"),
            ("a red circle left a blue square", 5, "`of`"),
            (
                "a red circle above a blue square and a green circle",
                8,
                "the end",
            ),
        ];
        for (caption, position, expected) in cases {
            match CaptionSpec::parse(caption) {
                Err(CaptionError::Unexpected {
                    position: p,
                    expected: e,
                    ..
                }) => {
                    assert_eq!(p, position, "{caption}");
                    assert!(e.starts_with(expected), "{caption}: {e}");
                }
                other => panic!("{caption}: expected an Unexpected error, got {other:?}"),
            }
        }
        assert_eq!(CaptionSpec::parse("  "), Err(CaptionError::Empty));
        let e = CaptionSpec::parse("a red circle and").unwrap_err();
        assert!(matches!(e, CaptionError::UnexpectedEnd { .. }), "{e:?}");
        assert!(e.to_string().contains("a count word"), "{e}");
        let e = CaptionSpec::parse("a red").unwrap_err().to_string();
        assert!(
            e.contains("singular shape") && e.contains("docs/shapes.md"),
            "{e}"
        );
    }
}
