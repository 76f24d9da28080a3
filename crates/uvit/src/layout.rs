//! Which rows of the learned position embedding belong to which token group.
//!
//! The strategy gives the order of the three groups ([`FusionStrategy::token_order`]);
//! U-ViT's early concatenation uses `[time, text, image]` so that public U-ViT checkpoints
//! load unchanged, the fusion code uses `[image, time, text]`. Attention is
//! permutation-equivariant, so only the row mapping differs.
//!
//! [`FusionStrategy::token_order`]: ifvit_fusion::FusionStrategy::token_order

use ifvit_fusion::TokenGroup;

/// Row ranges `(start, len)` of the position embedding for each token group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLayout {
    pub image: (usize, usize),
    pub time: (usize, usize),
    pub text: (usize, usize),
}

impl TokenLayout {
    /// Rows for `n_image` image tokens, one time token and `n_text` text tokens in `order`.
    pub fn new(order: [TokenGroup; 3], n_image: usize, n_text: usize) -> Self {
        let len = |g: TokenGroup| match g {
            TokenGroup::Image => n_image,
            TokenGroup::Time => 1,
            TokenGroup::Text => n_text,
        };
        let start = |g: TokenGroup| {
            order
                .iter()
                .take_while(|&&o| o != g)
                .map(|&o| len(o))
                .sum::<usize>()
        };
        let rows = |g| (start(g), len(g));
        Self {
            image: rows(TokenGroup::Image),
            time: rows(TokenGroup::Time),
            text: rows(TokenGroup::Text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenGroup::{Image, Text, Time};

    #[test]
    fn rows_follow_the_order() {
        let uvit = TokenLayout::new([Time, Text, Image], 256, 77);
        assert_eq!(
            (uvit.time, uvit.text, uvit.image),
            ((0, 1), (1, 77), (78, 256))
        );
        let fusion = TokenLayout::new([Image, Time, Text], 256, 77);
        assert_eq!(
            (fusion.image, fusion.time, fusion.text),
            ((0, 256), (256, 1), (257, 77))
        );
    }
}
