//! Text tokenizers behind one trait: CLIP BPE, BERT WordPiece, and the word-level
//! tokenizer of the built-in `shapes` data.

pub mod bert;
pub mod clip;
pub mod word;

/// Why a text could not be tokenized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenizeError {
    /// A word-level tokenizer met a word outside its vocabulary.
    #[error(
        "unknown word `{word}` in \"{text}\"; a caption is words of the vocabulary separated \
         by spaces (case is ignored, no punctuation); known words: {known}"
    )]
    UnknownWord {
        word: String,
        text: String,
        known: String,
    },
    /// The text needs more tokens than the context holds (and the policy is to refuse).
    #[error("\"{text}\" needs {needed} tokens but the context holds {max}")]
    TooLong {
        text: String,
        needed: usize,
        max: usize,
    },
    #[error("{0}")]
    Other(String),
}

/// Turns a caption into a fixed-length sequence of token ids (padded to
/// [`context_length`](TextTokenizer::context_length)).
pub trait TextTokenizer: Send + Sync {
    /// Token ids, exactly `context_length()` of them.
    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError>;
    /// Length of every encoded sequence.
    fn context_length(&self) -> usize;
    /// Number of distinct ids (embedding table size).
    fn vocab_size(&self) -> usize;
}
