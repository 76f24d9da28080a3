//! The four fusion strategies of the paper and the block plan each one implies.
//!
//! Two knobs (SPEC section 3): `c` text-only blocks (a text tower on the text tokens alone,
//! run just before text first joins) and `v` image-only blocks at EACH end of the U. With
//! `depth` (even) the U has `depth/2` in-blocks, one mid-block and `depth/2` out-blocks; the
//! first `v` in-blocks and the last `v` out-blocks are image-only, the rest (and the mid
//! block) are joint: text enters them by concatenation or by cross-attention.
//!
//! | strategy                      | method | c | v | token layout of the pos-embed |
//! |-------------------------------|--------|---|---|-------------------------------|
//! | `early-concat` (U-ViT)        | concat | 0 | 0 | `[time, text, image]`         |
//! | `early-crossattn`             | cross  | 0 | 0 | `[image, time, text]`         |
//! | `intermediate-concat {c,v}`   | concat | c | v | `[image, time, text]`         |
//! | `intermediate-crossattn {c,v}`| cross  | c | v | `[image, time, text]`         |

use std::fmt;

use serde::{Deserialize, Serialize};

/// The paper's released default for the intermediate strategies.
pub const DEFAULT_C: usize = 3;
/// The paper's released default for the intermediate strategies.
pub const DEFAULT_V: usize = 3;

/// Where and how text enters the U-ViT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fusion {
    /// U-ViT: text tokens join the sequence at the first block.
    EarlyConcat,
    /// Cross-attention form from the first block (c = 0, v = 0).
    EarlyCrossAttn,
    /// `c` text-only blocks, `v` image-only blocks at each end, concatenation in between.
    IntermediateConcat { c: usize, v: usize },
    /// `c` text-only blocks, `v` image-only blocks at each end, cross-attention in between.
    IntermediateCrossAttn { c: usize, v: usize },
}

/// How text enters a joint block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// Text tokens join the sequence; attention and MLP update them too.
    Concat,
    /// Image tokens attend over `[image ; text]`; text tokens are not updated.
    CrossAttn,
}

/// Order of the rows of the learned position embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenLayout {
    /// U-ViT's `[time, text, image]` (so public U-ViT checkpoints load unchanged).
    UViT,
    /// The fusion code's `[image, time, text]`.
    ImageTimeText,
}

/// What a block of the U sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Image (+time) tokens only.
    ImageOnly,
    /// Image (+time) tokens fused with text by the strategy's [`Method`].
    Joint,
}

/// The roles of every block of a U of a given depth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub text_blocks: usize,
    pub in_roles: Vec<Role>,
    pub mid_role: Role,
    pub out_roles: Vec<Role>,
}

/// A strategy name or its knobs that do not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FusionError {
    #[error(
        "unknown fusion strategy `{0}`; expected one of: early-concat, early-crossattn, \
         intermediate-concat, intermediate-crossattn"
    )]
    UnknownName(String),
    #[error(
        "v = {v} image-only blocks at each end do not fit depth {depth}: the U has {half} \
         in-blocks and {half} out-blocks, so v must be at most {half}"
    )]
    VTooLarge { v: usize, depth: usize, half: usize },
    #[error("c = {c} text-only blocks is more than the model depth {depth}; use c <= {depth}")]
    CTooLarge { c: usize, depth: usize },
    #[error("{name} has no c/v knobs (it is c = 0, v = 0 by definition); drop --c/--v")]
    KnobsOnEarly { name: &'static str },
    #[error("depth must be a positive even number (in- and out-blocks pair up), got {0}")]
    BadDepth(usize),
}

impl Fusion {
    /// The four strategies with the given intermediate knobs, in table order.
    pub fn all(c: usize, v: usize) -> [Fusion; 4] {
        [
            Fusion::EarlyConcat,
            Fusion::EarlyCrossAttn,
            Fusion::IntermediateConcat { c, v },
            Fusion::IntermediateCrossAttn { c, v },
        ]
    }

    /// Parses a strategy name; `c`/`v` default to the paper's 3/3 for intermediate ones
    /// and are rejected for early ones.
    pub fn parse(name: &str, c: Option<usize>, v: Option<usize>) -> Result<Self, FusionError> {
        let early = |f: Fusion, n: &'static str| {
            if c.is_some() || v.is_some() {
                Err(FusionError::KnobsOnEarly { name: n })
            } else {
                Ok(f)
            }
        };
        let (c, v) = (c.unwrap_or(DEFAULT_C), v.unwrap_or(DEFAULT_V));
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "early-concat" | "uvit" => early(Fusion::EarlyConcat, "early-concat"),
            "early-crossattn" | "early-cross" => early(Fusion::EarlyCrossAttn, "early-crossattn"),
            "intermediate-concat" => Ok(Fusion::IntermediateConcat { c, v }),
            "intermediate-crossattn" | "intermediate-cross" => {
                Ok(Fusion::IntermediateCrossAttn { c, v })
            }
            _ => Err(FusionError::UnknownName(name.to_string())),
        }
    }

    /// The strategy's family name (`intermediate-concat`), without knobs.
    pub fn family(&self) -> &'static str {
        match self {
            Fusion::EarlyConcat => "early-concat",
            Fusion::EarlyCrossAttn => "early-crossattn",
            Fusion::IntermediateConcat { .. } => "intermediate-concat",
            Fusion::IntermediateCrossAttn { .. } => "intermediate-crossattn",
        }
    }

    pub fn method(&self) -> Method {
        match self {
            Fusion::EarlyConcat | Fusion::IntermediateConcat { .. } => Method::Concat,
            Fusion::EarlyCrossAttn | Fusion::IntermediateCrossAttn { .. } => Method::CrossAttn,
        }
    }

    /// `(c, v)`: text-only blocks, image-only blocks at each end.
    pub fn knobs(&self) -> (usize, usize) {
        match *self {
            Fusion::EarlyConcat | Fusion::EarlyCrossAttn => (0, 0),
            Fusion::IntermediateConcat { c, v } | Fusion::IntermediateCrossAttn { c, v } => (c, v),
        }
    }

    pub fn token_layout(&self) -> TokenLayout {
        match self {
            Fusion::EarlyConcat => TokenLayout::UViT,
            _ => TokenLayout::ImageTimeText,
        }
    }

    /// Checks the knobs against a U of `depth` (the U-ViT `depth`: in + out blocks).
    pub fn validate(&self, depth: usize) -> Result<(), FusionError> {
        if depth == 0 || !depth.is_multiple_of(2) {
            return Err(FusionError::BadDepth(depth));
        }
        let (c, v) = self.knobs();
        let half = depth / 2;
        if v > half {
            return Err(FusionError::VTooLarge { v, depth, half });
        }
        if c > depth {
            return Err(FusionError::CTooLarge { c, depth });
        }
        Ok(())
    }

    /// The role of every block for a U of `depth`.
    pub fn plan(&self, depth: usize) -> Result<Plan, FusionError> {
        self.validate(depth)?;
        let (c, v) = self.knobs();
        let half = depth / 2;
        let mut in_roles = vec![Role::ImageOnly; v];
        in_roles.extend(vec![Role::Joint; half - v]);
        let out_roles = in_roles.iter().rev().copied().collect();
        Ok(Plan {
            text_blocks: c,
            in_roles,
            mid_role: Role::Joint,
            out_roles,
        })
    }
}

impl fmt::Display for Fusion {
    /// `early-concat`, `intermediate-crossattn(c=3,v=3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fusion::EarlyConcat | Fusion::EarlyCrossAttn => f.write_str(self.family()),
            Fusion::IntermediateConcat { c, v } | Fusion::IntermediateCrossAttn { c, v } => {
                write!(f, "{}(c={c},v={v})", self.family())
            }
        }
    }
}

impl Plan {
    /// All roles in execution order: in-blocks, mid, out-blocks.
    pub fn roles(&self) -> impl Iterator<Item = Role> + '_ {
        self.in_roles
            .iter()
            .copied()
            .chain(std::iter::once(self.mid_role))
            .chain(self.out_roles.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_match_the_paper() {
        let p = Fusion::IntermediateConcat { c: 3, v: 3 }.plan(12).unwrap();
        assert_eq!(p.text_blocks, 3);
        assert_eq!(
            p.in_roles,
            [vec![Role::ImageOnly; 3], vec![Role::Joint; 3]].concat()
        );
        assert_eq!(
            p.out_roles,
            [vec![Role::Joint; 3], vec![Role::ImageOnly; 3]].concat()
        );
        let e = Fusion::EarlyConcat.plan(12).unwrap();
        assert!(e.roles().all(|r| r == Role::Joint));
        assert_eq!(e.roles().count(), 13);
        // v = depth/2 leaves only the mid block joint.
        let m = Fusion::IntermediateCrossAttn { c: 1, v: 6 }
            .plan(12)
            .unwrap();
        assert_eq!(m.roles().filter(|r| *r == Role::Joint).count(), 1);
    }

    #[test]
    fn bad_knobs_are_named() {
        let e = Fusion::IntermediateConcat { c: 3, v: 7 }
            .plan(12)
            .unwrap_err();
        assert_eq!(
            e,
            FusionError::VTooLarge {
                v: 7,
                depth: 12,
                half: 6
            }
        );
        assert!(e.to_string().contains("v = 7"), "{e}");
        assert!(Fusion::EarlyConcat.plan(7).is_err());
        assert_eq!(
            Fusion::parse("late-fusion", None, None).unwrap_err(),
            FusionError::UnknownName("late-fusion".into())
        );
        assert!(Fusion::parse("early-concat", Some(1), None).is_err());
    }

    #[test]
    fn parse_and_display_round_trip() {
        for f in Fusion::all(1, 4) {
            let (c, v) = f.knobs();
            let knobs = (f.family().starts_with("intermediate")).then_some((c, v));
            let back = Fusion::parse(f.family(), knobs.map(|k| k.0), knobs.map(|k| k.1)).unwrap();
            assert_eq!(back, f);
        }
        assert_eq!(
            Fusion::parse("intermediate-concat", None, None).unwrap(),
            Fusion::IntermediateConcat { c: 3, v: 3 }
        );
        assert_eq!(
            Fusion::IntermediateCrossAttn { c: 1, v: 4 }.to_string(),
            "intermediate-crossattn(c=1,v=4)"
        );
    }
}
