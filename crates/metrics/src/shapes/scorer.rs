//! `ShapesScorer`: images (u8 HWC or `RgbImage`) + captions -> scores and reports.

use ifvit_data::shapes::{CaptionError, CaptionSpec};
use image::RgbImage;

use super::features::{DetectedObject, describe};
use super::report::AlignmentReport;
use super::score::{AlignmentScore, score_objects};
use super::segment::{ScorerConfig, segment};

/// Why an image or caption could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("{}caption is outside the shapes grammar: {source}", index.map(|i| format!("item {i}: ")).unwrap_or_default())]
    Caption {
        /// Position in a batch, when scoring many.
        index: Option<usize>,
        source: CaptionError,
    },
    #[error("image buffer has {len} bytes but {width}x{height} RGB (HWC u8) needs {}", width * height * 3)]
    BadImage {
        len: usize,
        width: usize,
        height: usize,
    },
    #[error("{images} images but {captions} captions; pass one caption per image")]
    LengthMismatch { images: usize, captions: usize },
}

/// Finds objects in images and scores them against captions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ShapesScorer {
    pub config: ScorerConfig,
}

impl ShapesScorer {
    pub fn new(config: ScorerConfig) -> Self {
        ShapesScorer { config }
    }

    /// Objects in an RGB image.
    pub fn detect(&self, image: &RgbImage) -> Vec<DetectedObject> {
        let (w, h) = image.dimensions();
        describe(&segment(
            image.as_raw(),
            w as usize,
            h as usize,
            &self.config,
        ))
    }

    /// Objects in an HWC u8 RGB buffer.
    pub fn detect_hwc(
        &self,
        data: &[u8],
        width: usize,
        height: usize,
    ) -> Result<Vec<DetectedObject>, ScoreError> {
        if data.len() != width * height * 3 {
            return Err(ScoreError::BadImage {
                len: data.len(),
                width,
                height,
            });
        }
        Ok(describe(&segment(data, width, height, &self.config)))
    }

    /// Scores an image against a parsed caption.
    pub fn score_spec(&self, image: &RgbImage, spec: &CaptionSpec) -> AlignmentScore {
        score_objects(&self.detect(image), spec)
    }

    /// Scores an image against caption text.
    pub fn score(&self, image: &RgbImage, caption: &str) -> Result<AlignmentScore, ScoreError> {
        let spec = CaptionSpec::parse(caption).map_err(|source| ScoreError::Caption {
            index: None,
            source,
        })?;
        Ok(self.score_spec(image, &spec))
    }

    /// Scores an HWC u8 RGB buffer against caption text.
    pub fn score_hwc(
        &self,
        data: &[u8],
        width: usize,
        height: usize,
        caption: &str,
    ) -> Result<AlignmentScore, ScoreError> {
        let spec = CaptionSpec::parse(caption).map_err(|source| ScoreError::Caption {
            index: None,
            source,
        })?;
        Ok(score_objects(&self.detect_hwc(data, width, height)?, &spec))
    }

    /// Scores every (image, caption) pair. Captions are all parsed first, so a caption
    /// outside the grammar fails fast with its index.
    pub fn score_all<I, S>(
        &self,
        images: &[RgbImage],
        captions: I,
    ) -> Result<Vec<AlignmentScore>, ScoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let specs = captions
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                CaptionSpec::parse(c.as_ref()).map_err(|source| ScoreError::Caption {
                    index: Some(i),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if specs.len() != images.len() {
            return Err(ScoreError::LengthMismatch {
                images: images.len(),
                captions: specs.len(),
            });
        }
        Ok(images
            .iter()
            .zip(&specs)
            .map(|(img, spec)| self.score_spec(img, spec))
            .collect())
    }

    /// [`ShapesScorer::score_all`] aggregated per check and caption aspect.
    pub fn report<I, S>(
        &self,
        images: &[RgbImage],
        captions: I,
    ) -> Result<AlignmentReport, ScoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(AlignmentReport::from_scores(
            &self.score_all(images, captions)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors() {
        let s = ShapesScorer::default();
        assert_eq!(
            s.detect_hwc(&[0; 10], 2, 2),
            Err(ScoreError::BadImage {
                len: 10,
                width: 2,
                height: 2
            })
        );
        let img = RgbImage::new(8, 8);
        let e = s
            .score_all(
                &[img.clone(), img.clone()],
                ["one red circle", "a red blob"],
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("item 1: caption"), "{e}");
        let e = s
            .score_all(&[img], ["one red circle", "one red circle"])
            .unwrap_err();
        assert_eq!(
            e,
            ScoreError::LengthMismatch {
                images: 1,
                captions: 2
            }
        );
        assert!(!s.score_hwc(&[0; 12], 2, 2, "one red circle").unwrap().count);
    }
}
