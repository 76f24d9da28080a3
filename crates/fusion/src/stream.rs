//! The token streams that flow through the U: image(+time) tokens and text tokens.
//!
//! The backbone walks its blocks in order. Image-only blocks see the image stream alone
//! ([`Streams::image_only`]); joint blocks get the whole [`Streams`] and return it, updated
//! as their strategy decides. Concatenating strategies keep the text appended to `h` from
//! one joint block to the next (`joined`), so a run of joint blocks concatenates once, as
//! U-ViT does; out-blocks receive the matching in-block's streams as their skip.

use burn::tensor::Tensor;

/// The token streams of one forward pass.
#[derive(Clone, Debug)]
pub struct Streams {
    /// `[batch, n_image, dim]`, or `[batch, n_image + n_text, dim]` while `joined`.
    pub h: Tensor<3>,
    /// `[batch, n_text, dim]`: the text tokens (stale while `joined`: the current ones are
    /// the tail of `h`).
    pub text: Tensor<3>,
    /// Number of image(+time) tokens at the front of `h`.
    pub n_image: usize,
    /// Whether the text tokens are concatenated into `h`.
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

    /// The streams with text appended to `h` (`[image ; text]`), once.
    pub fn joined(mut self) -> Self {
        if !self.joined {
            self.h = Tensor::cat(vec![self.h, self.text.clone()], 1);
            self.joined = true;
        }
        self
    }

    /// The streams with `h` holding image(+time) tokens only; concatenated text tokens are
    /// split back into `text`.
    pub fn split(mut self) -> Self {
        if self.joined {
            let n_text = self.h.dims()[1] - self.n_image;
            self.text = self.h.clone().narrow(1, self.n_image, n_text);
            self.h = self.h.narrow(1, 0, self.n_image);
            self.joined = false;
        }
        self
    }

    /// The streams with `h` holding image(+time) tokens only (concatenated text dropped,
    /// as before an image-only block).
    pub fn image_only(mut self) -> Self {
        if self.joined {
            self.h = self.h.narrow(1, 0, self.n_image);
            self.joined = false;
        }
        self
    }

    /// The image(+time) tokens `[batch, n_image, dim]`, text dropped.
    pub fn into_image(self) -> Tensor<3> {
        self.image_only().h
    }
}
