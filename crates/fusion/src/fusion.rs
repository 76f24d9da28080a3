//! [`Fusion`]: the config-file and command-line face of the built-in strategies.
//!
//! The serde/RON names (`EarlyConcat`, `IntermediateCrossAttn(c: 1, v: 1)`) and the CLI
//! names (`early-concat`, `intermediate-crossattn --c 1 --v 1`) live here, and so does the
//! only dispatch over the built-in strategies: `Fusion` itself implements
//! [`FusionStrategy`] by handing each call to the strategy it names, with [`FusionBlock`]
//! (a Module enum) as its joint block. Nothing else in the workspace asks which strategy
//! runs.
//!
//! | name                              | strategy            | c | v | pos-embed rows        |
//! |-----------------------------------|---------------------|---|---|-----------------------|
//! | `early-concat` (U-ViT)            | [`Concat`]          | 0 | 0 | `[time, text, image]` |
//! | `early-crossattn`                 | [`CrossAttn`]       | 0 | 0 | `[image, time, text]` |
//! | `intermediate-concat {c,v}`       | [`Concat`]          | c | v | `[image, time, text]` |
//! | `intermediate-crossattn {c,v}`    | [`CrossAttn`]       | c | v | `[image, time, text]` |
//! | `{early,intermediate}-pixart-crossattn` | [`PixArtCrossAttn`] | | | `[image, time, text]` |
//! | `{early,intermediate}-mmdit-joint`      | [`MmditJoint`]      | | | `[image, time, text]` |

use std::fmt;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockDims};
use crate::probe::TextAttention;
use crate::strategies::{
    Concat, CrossAttn, CrossBlock, MmditBlock, MmditJoint, PixArtBlock, PixArtCrossAttn,
};
use crate::strategy::{
    DEFAULT_C, DEFAULT_V, FusionError, FusionStrategy, JointBlock, JointCost, JointSlot, Placement,
    TokenGroup,
};
use crate::stream::Streams;

/// Where and how text enters the U-ViT: a built-in strategy, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fusion {
    /// U-ViT: text tokens join the sequence at the first block.
    EarlyConcat,
    /// The released cross-attention form from the first block (c = 0, v = 0).
    EarlyCrossAttn,
    /// `c` text-only blocks, `v` image-only blocks at each end, concatenation in between.
    IntermediateConcat { c: usize, v: usize },
    /// `c` text-only blocks, `v` image-only blocks at each end, cross-attention in between.
    IntermediateCrossAttn { c: usize, v: usize },
    /// PixArt-alpha's separate cross-attention sublayer from the first block.
    EarlyPixArtCrossAttn,
    /// PixArt-alpha's cross-attention in the middle of the U.
    IntermediatePixArtCrossAttn { c: usize, v: usize },
    /// SD3's MMDiT joint attention from the first block.
    EarlyMmditJoint,
    /// SD3's MMDiT joint attention in the middle of the U.
    IntermediateMmditJoint { c: usize, v: usize },
}

crate::constant_module!(Fusion);

/// The strategy a [`Fusion`] names.
#[derive(Clone, Copy, Debug)]
enum Builtin {
    Concat(Concat),
    CrossAttn(CrossAttn),
    PixArt(PixArtCrossAttn),
    Mmdit(MmditJoint),
}

/// Joint block of [`Fusion`]: the joint block of the strategy it names.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum FusionBlock {
    Concat(Block),
    CrossAttn(CrossBlock),
    PixArt(PixArtBlock),
    Mmdit(MmditBlock),
}

/// Calls `$body` with `$s` bound to the strategy a [`Fusion`] names.
macro_rules! with_strategy {
    ($fusion:expr, $s:ident => $body:expr) => {
        match $fusion.builtin() {
            Builtin::Concat($s) => $body,
            Builtin::CrossAttn($s) => $body,
            Builtin::PixArt($s) => $body,
            Builtin::Mmdit($s) => $body,
        }
    };
}

/// Method names (the part after `early-`/`intermediate-`), in table order.
const METHODS: [&str; 4] = ["concat", "crossattn", "pixart-crossattn", "mmdit-joint"];

impl Fusion {
    /// The paper's four strategies with the given intermediate knobs, in table order.
    pub fn all(c: usize, v: usize) -> [Fusion; 4] {
        [
            Fusion::EarlyConcat,
            Fusion::EarlyCrossAttn,
            Fusion::IntermediateConcat { c, v },
            Fusion::IntermediateCrossAttn { c, v },
        ]
    }

    /// The paper's four strategies and the two further arms (PixArt cross-attention, MMDiT
    /// joint attention; intermediate with the same knobs), in table order.
    pub fn catalogue(c: usize, v: usize) -> [Fusion; 6] {
        let [a, b, i, j] = Self::all(c, v);
        [
            a,
            b,
            i,
            j,
            Fusion::IntermediatePixArtCrossAttn { c, v },
            Fusion::IntermediateMmditJoint { c, v },
        ]
    }

    /// All accepted names, for help texts and errors.
    pub fn names() -> String {
        METHODS
            .iter()
            .flat_map(|m| [format!("early-{m}"), format!("intermediate-{m}")])
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn builtin(&self) -> Builtin {
        use Placement::{Early, Intermediate};
        match *self {
            Fusion::EarlyConcat => Builtin::Concat(Concat(Early)),
            Fusion::EarlyCrossAttn => Builtin::CrossAttn(CrossAttn(Early)),
            Fusion::IntermediateConcat { c, v } => Builtin::Concat(Concat(Intermediate { c, v })),
            Fusion::IntermediateCrossAttn { c, v } => {
                Builtin::CrossAttn(CrossAttn(Intermediate { c, v }))
            }
            Fusion::EarlyPixArtCrossAttn => Builtin::PixArt(PixArtCrossAttn(Early)),
            Fusion::IntermediatePixArtCrossAttn { c, v } => {
                Builtin::PixArt(PixArtCrossAttn(Intermediate { c, v }))
            }
            Fusion::EarlyMmditJoint => Builtin::Mmdit(MmditJoint(Early)),
            Fusion::IntermediateMmditJoint { c, v } => {
                Builtin::Mmdit(MmditJoint(Intermediate { c, v }))
            }
        }
    }

    /// The strategy of `method` (one of [`Fusion::names`] without its prefix) at `placement`.
    fn from_parts(method: &str, placement: Placement) -> Option<Fusion> {
        use Placement::{Early, Intermediate};
        Some(match (method, placement) {
            ("concat", Early) => Fusion::EarlyConcat,
            ("crossattn", Early) => Fusion::EarlyCrossAttn,
            ("pixart-crossattn", Early) => Fusion::EarlyPixArtCrossAttn,
            ("mmdit-joint", Early) => Fusion::EarlyMmditJoint,
            ("concat", Intermediate { c, v }) => Fusion::IntermediateConcat { c, v },
            ("crossattn", Intermediate { c, v }) => Fusion::IntermediateCrossAttn { c, v },
            ("pixart-crossattn", Intermediate { c, v }) => {
                Fusion::IntermediatePixArtCrossAttn { c, v }
            }
            ("mmdit-joint", Intermediate { c, v }) => Fusion::IntermediateMmditJoint { c, v },
            _ => return None,
        })
    }

    /// Parses a strategy name; `c`/`v` default to the paper's 3/3 for intermediate ones
    /// and are rejected for early ones.
    pub fn parse(name: &str, c: Option<usize>, v: Option<usize>) -> Result<Self, FusionError> {
        let norm = name.trim().to_ascii_lowercase().replace('_', "-");
        let norm = match norm.as_str() {
            "uvit" => "early-concat".to_string(),
            n => n
                .strip_suffix("-cross")
                .map_or(n.to_string(), |m| format!("{m}-crossattn")),
        };
        let unknown = || FusionError::UnknownName {
            name: name.to_string(),
            known: Self::names(),
        };
        if let Some(method) = norm.strip_prefix("early-") {
            let f = Self::from_parts(method, Placement::Early).ok_or_else(unknown)?;
            if c.is_some() || v.is_some() {
                return Err(FusionError::KnobsOnEarly { name: f.family() });
            }
            return Ok(f);
        }
        let method = norm.strip_prefix("intermediate-").ok_or_else(unknown)?;
        let (c, v) = (c.unwrap_or(DEFAULT_C), v.unwrap_or(DEFAULT_V));
        Self::from_parts(method, Placement::Intermediate { c, v }).ok_or_else(unknown)
    }

    /// The conditioning method without its placement: `concat`, `crossattn`,
    /// `pixart-crossattn` or `mmdit-joint`.
    pub fn method(&self) -> &'static str {
        let f = self.family();
        f.strip_prefix("early-")
            .or_else(|| f.strip_prefix("intermediate-"))
            .unwrap_or(f)
    }

    /// The strategy's family name (`intermediate-concat`), without knobs.
    pub fn family(&self) -> &'static str {
        match self {
            Fusion::EarlyConcat => "early-concat",
            Fusion::EarlyCrossAttn => "early-crossattn",
            Fusion::IntermediateConcat { .. } => "intermediate-concat",
            Fusion::IntermediateCrossAttn { .. } => "intermediate-crossattn",
            Fusion::EarlyPixArtCrossAttn => "early-pixart-crossattn",
            Fusion::IntermediatePixArtCrossAttn { .. } => "intermediate-pixart-crossattn",
            Fusion::EarlyMmditJoint => "early-mmdit-joint",
            Fusion::IntermediateMmditJoint { .. } => "intermediate-mmdit-joint",
        }
    }

    /// `(c, v)`: text-only blocks, image-only blocks at each end.
    pub fn knobs(&self) -> (usize, usize) {
        self.placement().knobs()
    }

    /// Short folder name: `early-concat`, `intermediate-concat-c1v4`.
    pub fn slug(&self) -> String {
        match self.placement() {
            Placement::Early => self.family().to_string(),
            Placement::Intermediate { c, v } => format!("{}-c{c}v{v}", self.family()),
        }
    }

    /// Checks the knobs against a U of `depth` (the U-ViT `depth`: in + out blocks).
    pub fn validate(&self, depth: usize) -> Result<(), FusionError> {
        self.placement().validate(depth)
    }
}

impl FusionStrategy for Fusion {
    type Block = FusionBlock;

    fn name(&self) -> String {
        with_strategy!(self, s => s.name())
    }

    fn placement(&self) -> Placement {
        with_strategy!(self, s => s.placement())
    }

    fn token_order(&self) -> [TokenGroup; 3] {
        with_strategy!(self, s => s.token_order())
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> FusionBlock {
        match self.builtin() {
            Builtin::Concat(s) => FusionBlock::Concat(s.joint_block(dims, slot, device)),
            Builtin::CrossAttn(s) => FusionBlock::CrossAttn(s.joint_block(dims, slot, device)),
            Builtin::PixArt(s) => FusionBlock::PixArt(s.joint_block(dims, slot, device)),
            Builtin::Mmdit(s) => FusionBlock::Mmdit(s.joint_block(dims, slot, device)),
        }
    }

    fn joint_cost(
        &self,
        dims: BlockDims,
        n_image: usize,
        n_text: usize,
        slot: JointSlot,
    ) -> JointCost {
        with_strategy!(self, s => s.joint_cost(dims, n_image, n_text, slot))
    }
}

impl JointBlock for FusionBlock {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        match self {
            FusionBlock::Concat(b) => JointBlock::forward(b, s, skip),
            FusionBlock::CrossAttn(b) => b.forward(s, skip),
            FusionBlock::PixArt(b) => b.forward(s, skip),
            FusionBlock::Mmdit(b) => b.forward(s, skip),
        }
    }

    fn text_attention(&self, s: &Streams, skip: Option<&Streams>) -> Option<TextAttention> {
        match self {
            FusionBlock::Concat(b) => JointBlock::text_attention(b, s, skip),
            FusionBlock::CrossAttn(b) => b.text_attention(s, skip),
            FusionBlock::PixArt(b) => b.text_attention(s, skip),
            FusionBlock::Mmdit(b) => b.text_attention(s, skip),
        }
    }
}

impl fmt::Display for Fusion {
    /// `early-concat`, `intermediate-crossattn(c=3,v=3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_named() {
        let e = Fusion::parse("late-fusion", None, None).unwrap_err();
        assert!(matches!(&e, FusionError::UnknownName { name, .. } if name == "late-fusion"));
        assert!(e.to_string().contains("intermediate-mmdit-joint"), "{e}");
        assert!(Fusion::parse("early-concat", Some(1), None).is_err());
        assert!(Fusion::parse("early-nothing", None, None).is_err());
    }

    #[test]
    fn parse_and_display_round_trip() {
        let mut all = Fusion::catalogue(1, 4).to_vec();
        all.extend([Fusion::EarlyPixArtCrossAttn, Fusion::EarlyMmditJoint]);
        for f in all {
            let knobs = matches!(f.placement(), Placement::Intermediate { .. }).then(|| f.knobs());
            let back = Fusion::parse(f.family(), knobs.map(|k| k.0), knobs.map(|k| k.1)).unwrap();
            assert_eq!(back, f);
            assert!(f.to_string().starts_with(f.family()));
            assert_eq!(Fusion::from_parts(f.method(), f.placement()), Some(f));
        }
        assert_eq!(
            Fusion::parse("intermediate-concat", None, None).unwrap(),
            Fusion::IntermediateConcat { c: 3, v: 3 }
        );
        assert_eq!(
            Fusion::parse("uvit", None, None).unwrap(),
            Fusion::EarlyConcat
        );
        assert_eq!(
            Fusion::parse("intermediate_cross", Some(1), Some(1)).unwrap(),
            Fusion::IntermediateCrossAttn { c: 1, v: 1 }
        );
        assert_eq!(
            Fusion::IntermediateCrossAttn { c: 1, v: 4 }.to_string(),
            "intermediate-crossattn(c=1,v=4)"
        );
        assert_eq!(
            Fusion::IntermediateMmditJoint { c: 1, v: 4 }.slug(),
            "intermediate-mmdit-joint-c1v4"
        );
    }

    #[test]
    fn serde_names_are_stable() {
        // Fixtures and experiment files use these spellings.
        let f = Fusion::IntermediateConcat { c: 1, v: 1 };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"IntermediateConcat":{"c":1,"v":1}}"#
        );
        assert_eq!(
            serde_json::to_string(&Fusion::EarlyConcat).unwrap(),
            r#""EarlyConcat""#
        );
    }
}
