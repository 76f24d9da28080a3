//! The shapes generator as a burn [`Dataset`] of a chosen length.

use burn::data::dataset::{Dataset, DatasetError};

use super::config::ShapesConfig;
use super::error::ShapesError;
use super::generate::{ShapesGenerator, ShapesItem};

/// `len` items of an unlimited, deterministic generator. Items are rendered on access
/// (nothing is stored), so any length costs no memory.
#[derive(Clone, Debug)]
pub struct ShapesDataset {
    generator: ShapesGenerator,
    len: usize,
}

impl ShapesDataset {
    pub fn new(cfg: ShapesConfig, len: usize) -> Result<Self, ShapesError> {
        Ok(ShapesDataset {
            generator: ShapesGenerator::new(cfg)?,
            len,
        })
    }

    pub fn generator(&self) -> &ShapesGenerator {
        &self.generator
    }
}

impl Dataset<ShapesItem> for ShapesDataset {
    /// Item `index` of the generator. Indices past `len` are valid items too (the data set
    /// is unlimited); `len` only bounds iteration.
    fn get(&self, index: usize) -> Result<ShapesItem, DatasetError> {
        Ok(self.generator.item(index as u64))
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_matches_the_generator() {
        let ds = ShapesDataset::new(ShapesConfig::default(), 5).unwrap();
        assert_eq!(ds.len(), 5);
        let items: Vec<_> = ds.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[3], ds.generator().item(3));
        assert_eq!(ds.get(4).unwrap(), items[4]);
    }
}
