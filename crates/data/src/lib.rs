//! Data sets, tokenizers and batching for ifvit.

pub mod tokenizer;
