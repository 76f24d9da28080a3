//! Word-level tokenizer for the `shapes` captions: one id per grammar word.
//!
//! Id 0 is padding; words get ids 1.. in vocabulary order. There are no start/end tokens:
//! a caption is its word ids followed by padding, so the empty caption `""` (the
//! classifier-free-guidance "no text" context) is all padding.

use std::collections::HashMap;

use super::{TextTokenizer, TokenizeError};
use crate::shapes::vocab;

/// Context length of the shapes tokenizer (the longest default caption has 8 words).
pub const DEFAULT_CONTEXT_LENGTH: usize = 16;

/// A fixed vocabulary of lowercase words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordTokenizer {
    /// `words[i]` has id `i + 1`.
    words: Vec<String>,
    ids: HashMap<String, u32>,
    context_length: usize,
}

impl WordTokenizer {
    /// The padding id.
    pub const PAD: u32 = 0;

    /// The whole shapes grammar's vocabulary (every colour, shape, count and relation
    /// word, whatever a config's palette), so ids do not change between configs.
    pub fn shapes(context_length: usize) -> Result<Self, TokenizeError> {
        Self::new(vocab::vocabulary(), context_length)
    }

    /// A tokenizer over `words` (lowercased; repeats are dropped), ids in order from 1.
    pub fn new<I, S>(words: I, context_length: usize) -> Result<Self, TokenizeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if context_length == 0 {
            return Err(TokenizeError::Other(
                "context_length must be at least 1".into(),
            ));
        }
        let mut out = WordTokenizer {
            words: Vec::new(),
            ids: HashMap::new(),
            context_length,
        };
        for w in words {
            let w = w.as_ref().to_lowercase();
            if w.is_empty() || w.contains(char::is_whitespace) {
                return Err(TokenizeError::Other(format!(
                    "vocabulary word {w:?} must be non-empty and contain no whitespace"
                )));
            }
            if !out.ids.contains_key(&w) {
                out.ids.insert(w.clone(), out.words.len() as u32 + 1);
                out.words.push(w);
            }
        }
        Ok(out)
    }

    /// The words, in id order (id = index + 1).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The id of a word (case-insensitive).
    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(&word.to_lowercase()).copied()
    }

    /// Ids back to text; padding is skipped, ids past the vocabulary show as `<id>`.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .filter(|&&id| id != Self::PAD)
            .map(|&id| match self.words.get(id as usize - 1) {
                Some(w) => w.clone(),
                None => format!("<{id}>"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl TextTokenizer for WordTokenizer {
    /// Lowercases, splits on whitespace, maps each word to its id and pads with 0.
    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut ids = Vec::with_capacity(self.context_length);
        for word in text.split_whitespace() {
            let id = self.id(word).ok_or_else(|| TokenizeError::UnknownWord {
                word: word.to_string(),
                text: text.to_string(),
                known: self.words.join(", "),
            })?;
            ids.push(id);
        }
        if ids.len() > self.context_length {
            return Err(TokenizeError::TooLong {
                text: text.to_string(),
                needed: ids.len(),
                max: self.context_length,
            });
        }
        ids.resize(self.context_length, Self::PAD);
        Ok(ids)
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn vocab_size(&self) -> usize {
        self.words.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{ShapesConfig, ShapesGenerator, held_out_prompts};

    fn tok() -> WordTokenizer {
        WordTokenizer::shapes(DEFAULT_CONTEXT_LENGTH).unwrap()
    }

    #[test]
    fn encodes_with_padding_and_fixed_ids() {
        let t = tok();
        assert_eq!(t.vocab_size(), 30);
        assert_eq!(t.context_length(), 16);
        // "a"=1, "one".."nine"=2..10, red=11 ... white=17, circle=18 ... triangles=23,
        // and=24, left=25, right=26, of=27, above=28, below=29.
        let ids = t.encode("A red circle left of a blue square").unwrap();
        assert_eq!(&ids[..8], &[1, 11, 18, 25, 27, 1, 13, 19]);
        assert!(ids[8..].iter().all(|&i| i == WordTokenizer::PAD));
        assert_eq!(t.decode(&ids), "a red circle left of a blue square");
        assert_eq!(t.encode("").unwrap(), vec![0; 16]);
        assert_eq!(t.encode("   ").unwrap(), vec![0; 16]);
    }

    #[test]
    fn every_generated_caption_encodes() {
        let cfg = ShapesConfig::default();
        let g = ShapesGenerator::new(cfg.clone()).unwrap();
        let t = tok();
        for i in 0..300 {
            let c = g.item(i).caption;
            assert_eq!(t.decode(&t.encode(&c).unwrap()), c);
        }
        for p in held_out_prompts(&cfg, 60).unwrap() {
            t.encode(&p.caption).unwrap();
        }
    }

    #[test]
    fn unknown_and_too_long_are_errors() {
        let t = tok();
        match t.encode("a purple circle") {
            Err(e @ TokenizeError::UnknownWord { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("`purple`") && msg.contains("triangle"),
                    "{msg}"
                );
            }
            other => panic!("{other:?}"),
        }
        let long = "a red circle and a blue square and a green triangle";
        let short = WordTokenizer::shapes(8).unwrap();
        assert_eq!(
            short.encode(long),
            Err(TokenizeError::TooLong {
                text: long.into(),
                needed: 11,
                max: 8
            })
        );
        assert!(WordTokenizer::shapes(0).is_err());
        assert!(WordTokenizer::new(["two words"], 4).is_err());
        let custom = WordTokenizer::new(["Cat", "dog", "cat"], 3).unwrap();
        assert_eq!(custom.vocab_size(), 3);
        assert_eq!(custom.encode("dog CAT").unwrap(), vec![2, 1, 0]);
    }
}
