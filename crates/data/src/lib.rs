//! Data sets, tokenizers and batching for ifvit.

pub mod batch;
pub mod cache;
pub mod coco;
pub mod fashion_mnist;
pub mod fsio;
pub mod seed;
pub mod shapes;
pub mod tokenizer;
