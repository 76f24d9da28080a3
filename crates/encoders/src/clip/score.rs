//! CLIP score of images against captions, in the two conventions papers use (SPEC section 5):
//! Hessel et al.'s CLIPScore `2.5 * max(cos, 0)` with the text prefixed by "A photo depicts ",
//! and `100 * max(cos, 0)` (torchmetrics' `CLIPScore`). Always report which one.

use burn::tensor::{Device, Tensor};
use ifvit_data::tokenizer::{TextTokenizer, TokenizeError};

use super::model::ClipModel;
use super::preprocess::{Rgb8, preprocess};

/// Hessel et al. (2021) prepend this to every caption.
pub const HESSEL_PREFIX: &str = "A photo depicts ";
/// Hessel et al.'s rescaling weight `w`.
pub const HESSEL_WEIGHT: f64 = 2.5;

/// Per-pair cosines and their means in both conventions.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipScores {
    /// Cosine similarity of each image with its caption.
    pub cosines: Vec<f64>,
    /// CLIPScore (Hessel et al.): mean of `2.5 * max(cos, 0)`; captions prefixed with
    /// [`HESSEL_PREFIX`] when computed by [`ClipScorer::score`].
    pub hessel: f64,
    /// "CLIP score x 100" (torchmetrics): mean of `100 * max(cos, 0)`, same captions.
    pub cos100: f64,
}

impl ClipScores {
    /// From `[B, P]` image and text embeddings (unnormalised; row i of each is a pair).
    pub fn from_embeddings(image_embeds: Tensor<2>, text_embeds: Tensor<2>) -> Self {
        let [b, p] = image_embeds.dims();
        assert_eq!(text_embeds.dims(), [b, p], "one caption per image");
        let im = image_embeds.into_data().try_to_vec::<f32>().expect("f32");
        let tx = text_embeds.into_data().try_to_vec::<f32>().expect("f32");
        let cosines: Vec<f64> = im
            .chunks(p)
            .zip(tx.chunks(p))
            .map(|(a, t)| {
                let dot: f64 = a.iter().zip(t).map(|(x, y)| *x as f64 * *y as f64).sum();
                let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                let nt: f64 = t.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                dot / (na * nt)
            })
            .collect();
        Self::from_cosines(cosines)
    }

    pub fn from_cosines(cosines: Vec<f64>) -> Self {
        let n = cosines.len().max(1) as f64;
        let hessel = cosines
            .iter()
            .map(|c| HESSEL_WEIGHT * c.max(0.0))
            .sum::<f64>()
            / n;
        let cos100 = cosines.iter().map(|c| 100.0 * c.max(0.0)).sum::<f64>() / n;
        Self {
            cosines,
            hessel,
            cos100,
        }
    }

    /// One line naming both conventions, for logs and reports.
    pub fn describe(&self) -> String {
        format!(
            "CLIPScore (Hessel et al., 2.5*max(cos,0), prefix \"{}\") = {:.4}; 100*max(cos,0) = {:.2} (n = {})",
            HESSEL_PREFIX.trim_end(),
            self.hessel,
            self.cos100,
            self.cosines.len()
        )
    }
}

/// A CLIP model with its tokenizer, scoring images against captions.
pub struct ClipScorer<'a, T> {
    pub model: &'a ClipModel,
    pub tokenizer: &'a T,
}

impl<T: TextTokenizer> ClipScorer<'_, T> {
    /// Pairs `images[i]` with `captions[i]`; each caption is prefixed with
    /// [`HESSEL_PREFIX`] (Hessel et al.'s protocol), images are CLIP-preprocessed.
    pub fn score(
        &self,
        images: &[Rgb8],
        captions: &[&str],
        device: &Device,
    ) -> Result<ClipScores, TokenizeError> {
        assert_eq!(images.len(), captions.len(), "one caption per image");
        let mut ids = Vec::new();
        for c in captions {
            ids.extend(self.tokenizer.encode(&format!("{HESSEL_PREFIX}{c}"))?);
        }
        let text = self.model.text_embeds(&ids, captions.len(), device);
        let pixels = preprocess(images, self.model.config.vision.image_size, device);
        Ok(ClipScores::from_embeddings(
            self.model.image_embeds(pixels),
            text,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_clamp_negative_cosines() {
        let s = ClipScores::from_cosines(vec![0.3, -0.2]);
        assert!((s.hessel - 2.5 * 0.3 / 2.0).abs() < 1e-12);
        assert!((s.cos100 - 15.0).abs() < 1e-12);
        assert!(s.describe().contains("A photo depicts"));
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &device);
        let b = Tensor::<2>::from_floats([[2.0, 0.0], [-1.0, 0.0]], &device);
        let s = ClipScores::from_embeddings(a, b);
        assert!((s.cosines[0] - 1.0).abs() < 1e-9);
        assert!((s.cosines[1] + 0.5f64.sqrt()).abs() < 1e-7);
    }
}
