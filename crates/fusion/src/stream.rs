//! How text enters each block: the token streams that flow through the U.
//!
//! The backbone walks its blocks in order and hands each one to [`Streams::run`] with the
//! block's [`Role`]; the strategy's [`Method`] decides the rest:
//!
//! * image-only block: the image(+time) stream alone (text is dropped first if it had been
//!   concatenated in);
//! * concat joint block: text is appended to the stream once (`[image ; text]`), then the
//!   block updates all tokens, text included;
//! * cross joint block: the image stream attends over `[image ; text]`, text stays fixed.

use burn::tensor::Tensor;

use crate::block::Block;
use crate::strategy::{Method, Role};

/// The token streams of one forward pass.
#[derive(Clone, Debug)]
pub struct Streams {
    /// `[batch, n_image, dim]`, or `[batch, n_image + n_text, dim]` while concat-joined.
    pub h: Tensor<3>,
    /// `[batch, n_text, dim]`: the text tokens as they enter the joint blocks.
    pub text: Tensor<3>,
    /// Number of image(+time) tokens at the front of `h`.
    pub n_image: usize,
    /// Whether `text` is currently concatenated into `h`.
    pub joined: bool,
}

impl Streams {
    /// `image: [batch, n_image, dim]`, `text: [batch, n_text, dim]`.
    pub fn new(image: Tensor<3>, text: Tensor<3>) -> Self {
        let n_image = image.dims()[1];
        Self {
            h: image,
            text,
            n_image,
            joined: false,
        }
    }

    /// Runs `block` in `role`; `skip` is the matching in-block output for out-blocks.
    pub fn run(
        mut self,
        block: &Block,
        role: Role,
        method: Method,
        skip: Option<Tensor<3>>,
    ) -> Self {
        match (role, method) {
            (Role::ImageOnly, _) => {
                if self.joined {
                    self.h = self.h.narrow(1, 0, self.n_image);
                    self.joined = false;
                }
                self.h = block.forward(self.h, None, skip);
            }
            (Role::Joint, Method::Concat) => {
                if !self.joined {
                    self.h = Tensor::cat(vec![self.h, self.text.clone()], 1);
                    self.joined = true;
                }
                self.h = block.forward(self.h, None, skip);
            }
            (Role::Joint, Method::CrossAttn) => {
                self.h = block.forward(self.h, Some(self.text.clone()), skip);
            }
        }
        self
    }

    /// The image(+time) tokens `[batch, n_image, dim]`, text dropped.
    pub fn into_image(self) -> Tensor<3> {
        if self.joined {
            self.h.narrow(1, 0, self.n_image)
        } else {
            self.h
        }
    }
}
