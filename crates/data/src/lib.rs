//! Data sets, tokenizers and batching for ifvit.

pub mod batch;
pub mod cache;
pub mod coco;
pub mod encoders;
pub mod fashion_mnist;
pub mod shapes;
pub mod tokenizer;
