//! CLIP byte-level BPE with the genuine OpenAI vocabulary (`bpe_simple_vocab_16e6`,
//! 49408 ids, embedded by `instant-clip-tokenizer`).
//!
//! Conventions follow Hugging Face's `CLIPTokenizer` for `openai/clip-vit-large-patch14`, which
//! U-ViT's `FrozenCLIPEmbedder` uses: normalise (NFC, runs of white space -> one space,
//! lower case), `<|startoftext|>` = 49406, tokens, `<|endoftext|>` = 49407, then padding to 77
//! with the end token 49407 (open_clip pads with 0 instead: [`ClipPadding::Zero`]).

use instant_clip_tokenizer::{Token, Tokenizer};
use tokenizers::normalizers::{Lowercase, NFC, Replace, Sequence};
use tokenizers::{NormalizedString, Normalizer, NormalizerWrapper};

use super::{TextTokenizer, TokenizeError};

/// `<|startoftext|>`.
pub const CLIP_START: u32 = 49406;
/// `<|endoftext|>`.
pub const CLIP_END: u32 = 49407;
/// Vocabulary size of the OpenAI CLIP models.
pub const CLIP_VOCAB_SIZE: usize = 49408;
/// Context length of the OpenAI CLIP text encoders.
pub const CLIP_CONTEXT_LENGTH: usize = 77;

/// What happens to a caption that needs more tokens than the context holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Keep the first `context - 2` tokens and close with the end token (CLIP's and BERT's
    /// `truncation=True`).
    #[default]
    Truncate,
    /// Refuse with [`TokenizeError::TooLong`].
    Error,
}

impl std::str::FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "truncate" => Ok(Self::Truncate),
            "error" => Ok(Self::Error),
            _ => Err(format!(
                "unknown overflow policy `{s}`; use `truncate` or `error`"
            )),
        }
    }
}

/// Which id fills the positions after the end token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClipPadding {
    /// Hugging Face `openai/clip-vit-*` (`pad_token = <|endoftext|>`): 49407.
    #[default]
    EndToken,
    /// open_clip / OpenAI `clip.tokenize`: 0.
    Zero,
}

/// The CLIP text tokenizer.
pub struct ClipTokenizer {
    bpe: Tokenizer,
    normalizer: NormalizerWrapper,
    context_length: usize,
    padding: ClipPadding,
    overflow: Overflow,
}

impl ClipTokenizer {
    /// 77 tokens, end-token padding, truncation. Building the merge table takes ~0.1 s
    /// in release: build once and share.
    pub fn new() -> Self {
        Self::with_options(
            CLIP_CONTEXT_LENGTH,
            ClipPadding::EndToken,
            Overflow::Truncate,
        )
        .expect("77 >= 2")
    }

    /// A tokenizer with another context length (at least 2: start and end), padding or
    /// overflow policy.
    pub fn with_options(
        context_length: usize,
        padding: ClipPadding,
        overflow: Overflow,
    ) -> Result<Self, TokenizeError> {
        if context_length < 2 {
            return Err(TokenizeError::Other(format!(
                "CLIP context length {context_length} cannot hold the start and end tokens; use >= 2"
            )));
        }
        // Same normaliser as transformers' CLIPTokenizer (tokenizers backend).
        let replace = Replace::new(
            tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
            " ",
        )
        .map_err(|e| TokenizeError::Other(format!("CLIP normaliser: {e}")))?;
        let normalizer = NormalizerWrapper::Sequence(Sequence::new(vec![
            NormalizerWrapper::NFC(NFC),
            NormalizerWrapper::Replace(replace),
            NormalizerWrapper::Lowercase(Lowercase),
        ]));
        Ok(Self {
            bpe: Tokenizer::new(),
            normalizer,
            context_length,
            padding,
            overflow,
        })
    }

    pub fn padding(&self) -> ClipPadding {
        self.padding
    }

    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The BPE ids of `text` without start, end or padding.
    pub fn encode_raw(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut n = NormalizedString::from(text);
        self.normalizer
            .normalize(&mut n)
            .map_err(|e| TokenizeError::Other(format!("normalising \"{text}\": {e}")))?;
        let mut tokens: Vec<Token> = Vec::new();
        self.bpe.encode(n.get(), &mut tokens);
        Ok(tokens.into_iter().map(|t| u32::from(t.to_u16())).collect())
    }
}

impl Default for ClipTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl TextTokenizer for ClipTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let body = self.encode_raw(text)?;
        let room = self.context_length - 2;
        if body.len() > room && self.overflow == Overflow::Error {
            return Err(TokenizeError::TooLong {
                text: text.to_string(),
                needed: body.len() + 2,
                max: self.context_length,
            });
        }
        let pad = match self.padding {
            ClipPadding::EndToken => CLIP_END,
            ClipPadding::Zero => 0,
        };
        let mut ids = Vec::with_capacity(self.context_length);
        ids.push(CLIP_START);
        ids.extend(body.iter().take(room));
        ids.push(CLIP_END);
        ids.resize(self.context_length, pad);
        Ok(ids)
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn vocab_size(&self) -> usize {
        CLIP_VOCAB_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_of_a_cat() {
        let t = ClipTokenizer::new();
        let ids = t.encode("a photo of a cat").unwrap();
        assert_eq!(ids.len(), 77);
        assert_eq!(&ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
        assert!(ids[7..].iter().all(|&i| i == CLIP_END));
    }

    #[test]
    fn zero_padding_and_short_context() {
        let t = ClipTokenizer::with_options(8, ClipPadding::Zero, Overflow::Truncate).unwrap();
        assert_eq!(
            t.encode("a cat").unwrap(),
            vec![49406, 320, 2368, 49407, 0, 0, 0, 0]
        );
        assert!(ClipTokenizer::with_options(1, ClipPadding::Zero, Overflow::Truncate).is_err());
    }

    #[test]
    fn overflow_truncates_keeping_end_or_errors() {
        let long = "a cat ".repeat(10); // 20 body tokens
        let t = ClipTokenizer::with_options(6, ClipPadding::EndToken, Overflow::Truncate).unwrap();
        assert_eq!(
            t.encode(&long).unwrap(),
            vec![49406, 320, 2368, 320, 2368, 49407]
        );
        let t = ClipTokenizer::with_options(6, ClipPadding::EndToken, Overflow::Error).unwrap();
        match t.encode(&long) {
            Err(TokenizeError::TooLong { needed, max, .. }) => assert_eq!((needed, max), (22, 6)),
            other => panic!("expected TooLong, got {other:?}"),
        }
        // Exactly full is not an overflow.
        assert_eq!(t.encode("a cat a cat").unwrap().len(), 6);
    }
}
