//! BERT encoders loaded from a Hugging Face / sentence-transformers directory
//! (all-MiniLM-L6-v2 and its family; sizes from `config.json`).

pub mod config;
pub mod encoder;
pub mod model;
pub mod tiny;

pub use config::BertConfig;
pub use encoder::{BertTextEncoder, mean_pool_normalized};
pub use model::BertModel;
