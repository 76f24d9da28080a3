//! Checkpoints of the released intermediate-fusion PyTorch code, renamed to this crate's
//! layout (`ifvit convert --from released-fusion`).
//!
//! The released code names its blocks by role; `UViT` names them by position in the U:
//!
//! | released                  | here                                   |
//! |---------------------------|----------------------------------------|
//! | `caption_blocks.i`        | `text_blocks.i`                        |
//! | `image_blocks.i`          | `in_blocks.i` (the `v` image-only ones) |
//! | `joint_blocks.j`          | `in_blocks.(v + j)`                    |
//! | `mid_block`               | `mid_block`                            |
//! | `joint_skip_blocks.j`     | `out_blocks.j`                         |
//! | `image_skip_blocks.i`     | `out_blocks.(n_joint + i)`             |
//!
//! Position-embedding rows are `[image, time, text]` there; they are reordered to the target
//! strategy's token order. In its cross-attention variants every block carries
//! `attn.q`/`attn.kv`; where the target block is a self-attention block (image-only and
//! text-only blocks) the two are stacked into `attn.qkv` (`[q ; k ; v]` rows: the same
//! product).

use burn::tensor::Device;
use ifvit_fusion::state::{NamedTensor, StateDict};
use ifvit_fusion::{FusionStrategy, TokenGroup};

use crate::config::UViTConfig;
use crate::layout::TokenLayout;

/// A released-layout file that does not fit the target model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "{origin}: tensor `{name}` is block {index} of `{group}`, but the model has only \
         {count} such blocks; check --preset, --c and --v against the checkpoint"
    )]
    BlockOutOfRange {
        origin: String,
        name: String,
        group: String,
        index: usize,
        count: usize,
    },
    #[error("{origin}: `pos_embed` has shape {found:?}, expected [1, {rows}, dim]; check --preset")]
    PosEmbed {
        origin: String,
        found: Vec<usize>,
        rows: usize,
    },
}

/// Renames a released intermediate-fusion state dict to the layout of the model `cfg`
/// describes. Names the mapping does not know are kept (the strict load reports them).
/// `device` only builds the (lazily initialised, never computed) target model to read its
/// parameter names.
pub fn from_released_fusion<S: FusionStrategy>(
    sd: &StateDict,
    cfg: &UViTConfig<S>,
    device: &Device,
) -> Result<StateDict, ConvertError> {
    let plan = cfg.fusion.plan(cfg.depth).expect("validated config");
    let v = plan
        .in_roles
        .iter()
        .take_while(|r| **r == ifvit_fusion::Role::ImageOnly)
        .count();
    let n_joint = plan.in_roles.len() - v;
    let origin = sd.origin().to_string();
    let mut out = StateDict::new(format!("{origin} (converted)"));
    for name in sd.names() {
        let t = sd.get(name).expect("listed").clone();
        let renamed =
            rename(name, v, n_joint, plan.text_blocks).map_err(|(group, index, count)| {
                ConvertError::BlockOutOfRange {
                    origin: origin.clone(),
                    name: name.to_string(),
                    group,
                    index,
                    count,
                }
            })?;
        let t = if renamed == "pos_embed" {
            reorder_pos_embed(t, cfg).map_err(|found| ConvertError::PosEmbed {
                origin: origin.clone(),
                found,
                rows: cfg.num_tokens(),
            })?
        } else {
            t
        };
        out.insert(renamed, t.shape, t.data);
    }
    stack_qkv(&mut out, cfg, device);
    Ok(out)
}

/// `image_blocks.2.attn.q.weight` -> `in_blocks.2.attn.q.weight`; errors with
/// `(group, index, count)` when the index does not fit the target plan.
fn rename(
    name: &str,
    v: usize,
    n_joint: usize,
    c: usize,
) -> Result<String, (String, usize, usize)> {
    let groups: [(&str, &str, usize, usize); 5] = [
        ("caption_blocks", "text_blocks", 0, c),
        ("image_blocks", "in_blocks", 0, v),
        ("joint_blocks", "in_blocks", v, n_joint),
        ("joint_skip_blocks", "out_blocks", 0, n_joint),
        ("image_skip_blocks", "out_blocks", n_joint, v),
    ];
    for (from, to, offset, count) in groups {
        let Some(rest) = name.strip_prefix(from).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        if index >= count {
            return Err((from.to_string(), index, count));
        }
        return Ok(format!("{to}.{}.{tail}", offset + index));
    }
    Ok(name.to_string())
}

/// Rows `[image, time, text]` -> the strategy's token order.
fn reorder_pos_embed<S: FusionStrategy>(
    t: NamedTensor,
    cfg: &UViTConfig<S>,
) -> Result<NamedTensor, Vec<usize>> {
    let (np, nt) = (cfg.num_patches(), cfg.num_text_tokens);
    let rows = cfg.num_tokens();
    if t.shape.len() != 3 || t.shape[0] != 1 || t.shape[1] != rows {
        return Err(t.shape);
    }
    let d = t.shape[2];
    let from = TokenLayout::new(
        [TokenGroup::Image, TokenGroup::Time, TokenGroup::Text],
        np,
        nt,
    );
    let to = TokenLayout::new(cfg.fusion.token_order(), np, nt);
    let mut data = vec![0f32; t.data.len()];
    for (a, b) in [
        (from.image, to.image),
        (from.time, to.time),
        (from.text, to.text),
    ] {
        data[b.0 * d..(b.0 + b.1) * d].copy_from_slice(&t.data[a.0 * d..(a.0 + a.1) * d]);
    }
    Ok(NamedTensor {
        shape: t.shape,
        data,
    })
}

/// `X.attn.q.*` + `X.attn.kv.*` -> `X.attn.qkv.*` where the target model has `attn.qkv`.
fn stack_qkv<S: FusionStrategy>(sd: &mut StateDict, cfg: &UViTConfig<S>, device: &Device) {
    let model = crate::UViT::new(cfg, device).expect("validated config");
    let expected = crate::checkpoint::expected_tensors(&model);
    for (name, _) in expected {
        let Some(prefix) = name
            .strip_suffix(".attn.qkv.weight")
            .map(|p| format!("{p}.attn"))
        else {
            continue;
        };
        for kind in ["weight", "bias"] {
            let (q, kv) = (format!("{prefix}.q.{kind}"), format!("{prefix}.kv.{kind}"));
            if sd.get(&q).is_none() || sd.get(&kv).is_none() {
                continue;
            }
            let (q, kv) = (sd.remove(&q).unwrap(), sd.remove(&kv).unwrap());
            // Rows (output features) stack: [D, ..] + [2D, ..] -> [3D, ..].
            let mut shape = q.shape.clone();
            shape[0] += kv.shape[0];
            let data = [q.data, kv.data].concat();
            sd.insert(format!("{prefix}.qkv.{kind}"), shape, data);
        }
    }
}
