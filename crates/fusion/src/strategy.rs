//! The fusion-strategy trait: everything that differs between ways of bringing text into a
//! U-shaped ViT.
//!
//! A strategy decides
//!
//! * where text enters: its [`Placement`] gives the role of every block of a U of depth `d`
//!   (image-only, joint) and the `c` text-only blocks run on the text tokens first;
//! * how: the joint block's module type ([`FusionStrategy::Block`]) and its forward over the
//!   image and text [`Streams`] (whether text is updated is up to the block);
//! * the row order of the learned position embedding ([`FusionStrategy::token_order`]);
//! * its cost: parameters and forward multiply-accumulates of one joint block, for the cost
//!   model ([`FusionStrategy::joint_cost`]).
//!
//! The backbone (`ifvit_uvit::UViT<S>`) is generic over it and never asks which strategy it
//! runs. The paper's strategies ([`crate::Concat`], [`crate::CrossAttn`]) and the further arms
//! ([`crate::PixArtCrossAttn`], [`crate::MmditJoint`]) implement it, one file each under
//! `strategies/`; [`crate::Fusion`] is the serde/CLI face that names and builds them. A
//! library user implements the trait for a new strategy in their own crate (see
//! `examples/custom_strategy.rs`).

use burn::module::{Module, ModuleDisplay};
use burn::tensor::Device;

use crate::block::BlockDims;
use crate::probe::TextAttention;
use crate::stream::Streams;

/// The paper's released default for the intermediate strategies.
pub const DEFAULT_C: usize = 3;
/// The paper's released default for the intermediate strategies.
pub const DEFAULT_V: usize = 3;

/// A fusion strategy for a U-shaped ViT. See the module docs.
///
/// A strategy value is also a (parameter-free) burn [`Module`], so that a user's own
/// `#[derive(Module)] struct Net<S: FusionStrategy> { uvit: UViT<S>, .. }` compiles (burn's
/// derive asks every generic of a module field to be a module): implement it with
/// [`constant_module!`](crate::constant_module).
pub trait FusionStrategy: Module + ModuleDisplay + Sync + 'static {
    /// The module of one joint block (image and text meet in it).
    type Block: JointBlock;

    /// Display name with knobs, e.g. `intermediate-concat(c=1,v=1)`.
    fn name(&self) -> String;

    /// Where text enters the U.
    fn placement(&self) -> Placement;

    /// The roles of every block of a U of `depth` (in- plus out-blocks).
    fn plan(&self, depth: usize) -> Result<Plan, FusionError> {
        self.placement().plan(depth)
    }

    /// Row order of the learned position embedding. Most strategies use the fusion code's
    /// `[image, time, text]`; U-ViT's early concatenation uses `[time, text, image]`.
    fn token_order(&self) -> [TokenGroup; 3] {
        [TokenGroup::Image, TokenGroup::Time, TokenGroup::Text]
    }

    /// A freshly initialised joint block for `slot`.
    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> Self::Block;

    /// Parameters and forward MACs of one joint block in `slot` that sees `n_image`
    /// image(+time) tokens and `n_text` text tokens. Tests check `params` against the module.
    fn joint_cost(
        &self,
        dims: BlockDims,
        n_image: usize,
        n_text: usize,
        slot: JointSlot,
    ) -> JointCost;
}

/// Where a joint block sits in the U.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JointSlot {
    /// An out-block of the U: it receives the matching in-block's streams as its skip.
    pub skip: bool,
    /// The last joint block: its text output is never used (SD3's `context_pre_only`), so a
    /// strategy that updates text may leave that part out.
    pub last: bool,
}

/// Implements burn's `Module` (no parameters, nothing to load or save) and `ModuleDisplay`
/// for a strategy type, as burn does for its primitive constants.
#[macro_export]
macro_rules! constant_module {
    ($t:ty) => {
        impl burn::module::Module for $t {
            fn visit<V: burn::module::ModuleVisitor>(&self, _visitor: &mut V) {}
            fn map<M: burn::module::ModuleMapper>(self, _mapper: &mut M) -> Self {
                self
            }
            fn to_device(self, _: &burn::tensor::Device) -> Self {
                self
            }
            fn fork(self, _: &burn::tensor::Device) -> Self {
                self
            }
            fn collect_devices(&self, devices: burn::module::Devices) -> burn::module::Devices {
                devices
            }
            fn materialize(self) -> Self {
                self
            }
            fn valid(&self) -> Self {
                self.clone()
            }
            fn train(self) -> Self {
                self
            }
        }
        impl burn::module::ModuleDisplayDefault for $t {
            fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
                content.add_formatted(&format!("{self:?}")).optional()
            }
        }
        impl burn::module::ModuleDisplay for $t {}
    };
}

/// The module of a joint block: one step of the image and text streams.
pub trait JointBlock: Module + ModuleDisplay {
    /// `s`: the streams entering the block; `skip`: the streams the matching in-block put
    /// out (out-blocks of the U only). Returns the streams leaving the block.
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams;

    /// Analysis only (never called by `forward`): the text-to-image attention this block
    /// computes on the same inputs (see [`crate::probe`]). `None` for a block without a
    /// probe; the analysis then skips it.
    fn text_attention(&self, _s: &Streams, _skip: Option<&Streams>) -> Option<TextAttention> {
        None
    }
}

/// Cost of one joint block (per sample).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JointCost {
    /// Short label for cost tables, e.g. `joint-concat`.
    pub label: &'static str,
    /// Tokens the block computes on (queries).
    pub tokens: usize,
    /// Tokens attended over (keys/values).
    pub kv_tokens: usize,
    /// Matrix products of all Linear layers.
    pub linear_macs: u64,
    /// The two attention matmuls (`QK^T` and `AV`).
    pub attn_macs: u64,
    /// Parameters of the block.
    pub params: u64,
}

/// A group of tokens with its own rows of the position embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenGroup {
    Image,
    Time,
    Text,
}

/// Where text enters the U: from the first block, or only in its middle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Every block is joint; no text-only blocks (c = 0, v = 0).
    Early,
    /// `c` text-only blocks, then `v` image-only blocks at each end of the U and joint
    /// blocks in between (SPEC section 3).
    Intermediate { c: usize, v: usize },
}

/// What a block of the U sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Image (+time) tokens only.
    ImageOnly,
    /// Image (+time) tokens fused with text by the strategy's joint block.
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
    #[error("unknown fusion strategy `{name}`; expected one of: {known}")]
    UnknownName { name: String, known: String },
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

impl Placement {
    /// `(c, v)`: text-only blocks, image-only blocks at each end.
    pub fn knobs(&self) -> (usize, usize) {
        match *self {
            Placement::Early => (0, 0),
            Placement::Intermediate { c, v } => (c, v),
        }
    }

    /// Checks the knobs against a U of `depth`.
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

    /// `early-concat` or `intermediate-concat(c=1,v=4)` for the method `concat`.
    pub fn name(&self, method: &str) -> String {
        match *self {
            Placement::Early => format!("early-{method}"),
            Placement::Intermediate { c, v } => format!("intermediate-{method}(c={c},v={v})"),
        }
    }
}

impl Plan {
    /// Index (in execution order, text blocks not counted) of the last joint block.
    pub fn last_joint(&self) -> Option<usize> {
        self.roles()
            .enumerate()
            .filter(|(_, r)| *r == Role::Joint)
            .map(|(i, _)| i)
            .last()
    }

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
        let p = Placement::Intermediate { c: 3, v: 3 }.plan(12).unwrap();
        assert_eq!(p.text_blocks, 3);
        assert_eq!(
            p.in_roles,
            [vec![Role::ImageOnly; 3], vec![Role::Joint; 3]].concat()
        );
        assert_eq!(
            p.out_roles,
            [vec![Role::Joint; 3], vec![Role::ImageOnly; 3]].concat()
        );
        let e = Placement::Early.plan(12).unwrap();
        assert!(e.roles().all(|r| r == Role::Joint));
        assert_eq!(e.roles().count(), 13);
        // v = depth/2 leaves only the mid block joint.
        let m = Placement::Intermediate { c: 1, v: 6 }.plan(12).unwrap();
        assert_eq!(m.roles().filter(|r| *r == Role::Joint).count(), 1);
    }

    #[test]
    fn bad_knobs_are_named() {
        let e = Placement::Intermediate { c: 3, v: 7 }.plan(12).unwrap_err();
        assert_eq!(
            e,
            FusionError::VTooLarge {
                v: 7,
                depth: 12,
                half: 6
            }
        );
        assert!(e.to_string().contains("v = 7"), "{e}");
        assert!(Placement::Early.plan(7).is_err());
        assert!(matches!(
            Placement::Intermediate { c: 13, v: 1 }.plan(12),
            Err(FusionError::CTooLarge { .. })
        ));
    }
}
