//! Checkpoint file bytes: model, EMA and optimizer state as burnpack, byte-identical for
//! identical runs.
//!
//! burn gives every parameter a random id ([`ParamId::new`]) and keys the AdamW state by it,
//! and the optimizer record lists its tensors in hash-map order. Two identical runs therefore
//! wrote different bytes. Here parameter ids are derived from the parameter's module path
//! ([`stable_param_ids`]) and the optimizer record's tensors are written sorted by name
//! ([`optim_bytes`]), so equal weights give equal files and a user can compare runs with
//! `sha256sum`.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::{Bytes, Int, Tensor};

/// FNV-1a of the dotted module path: a parameter id that is the same in every process.
fn path_id(path: &[String]) -> ParamId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            h = (h ^ u64::from(b'.')).wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    ParamId::from(h)
}

struct PathIds {
    path: Vec<String>,
}

impl ModuleMapper for PathIds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = path_id(&self.path);
        param
    }
    fn map_int<const D: usize>(
        &mut self,
        mut param: Param<Tensor<D, Int>>,
    ) -> Param<Tensor<D, Int>> {
        param.id = path_id(&self.path);
        param
    }
}

/// Gives every parameter an id derived from its module path (instead of a random one), so
/// that records and optimizer state are the same bytes in every run.
pub fn stable_param_ids<M: Module>(module: M) -> M {
    module.map(&mut PathIds { path: Vec::new() })
}

/// A module's parameters as burnpack bytes (in module order).
pub fn module_bytes<M: Module>(module: M) -> Result<Vec<u8>, RecordError> {
    Ok(module.into_record().into_bytes()?.to_vec())
}

/// Applies burnpack bytes to `module` (shapes and names must match).
pub fn load_module<M: Module>(module: M, bytes: Vec<u8>) -> Result<M, RecordError> {
    module.try_load_record(ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))?)
}

/// The optimizer state as burnpack bytes, tensors sorted by name.
pub fn optim_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>, RecordError> {
    optim_record_bytes(optim.to_record())
}

/// An optimizer record as burnpack bytes, tensors sorted by name (the same bytes in every
/// run).
pub fn optim_record_bytes(record: OptimizerRecord) -> Result<Vec<u8>, RecordError> {
    let raw = record.into_bytes()?;
    let reader = burn_pack::Reader::from_bytes(raw)?;
    let scalars = reader.scalars().clone();
    let metadata = reader.metadata().clone();
    let mut tensors = reader.into_tensors()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, v) in &scalars {
        writer = writer.with_scalar(k, *v);
    }
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    Ok(writer.into_bytes()?.to_vec())
}

/// Restores the optimizer state from [`optim_bytes`].
pub fn load_optim(optim: ModuleOptimizer, bytes: Vec<u8>) -> Result<ModuleOptimizer, RecordError> {
    Ok(optim.load_record(OptimizerRecord::from_bytes(Bytes::from_bytes_vec(bytes))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Initializer, Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
    }

    fn net(device: &Device) -> Net {
        // Constant weights: no global generator (other tests run in parallel threads).
        let init = Initializer::Constant { value: 0.1 };
        let n = Net {
            a: LinearConfig::new(3, 4)
                .with_initializer(init.clone())
                .init(device),
            b: LinearConfig::new(4, 2).with_initializer(init).init(device),
        };
        stable_param_ids(n)
    }

    /// Two independently built and trained nets (fresh random ids underneath) give the same
    /// model and optimizer bytes; the bytes load back.
    #[test]
    fn identical_training_gives_identical_bytes() {
        let run = || {
            let device = Device::flex().autodiff();
            let mut model = net(&device);
            let mut optim = AdamWConfig::new().init();
            for _ in 0..2 {
                let x = Tensor::<2>::ones([2, 3], &device);
                let loss = model.b.forward(model.a.forward(x)).sum();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-2, model, grads);
            }
            (
                module_bytes(model.clone()).unwrap(),
                optim_bytes(&optim).unwrap(),
            )
        };
        let (m1, o1) = run();
        let (m2, o2) = run();
        assert_eq!(m1, m2, "model bytes differ between identical runs");
        assert_eq!(o1, o2, "optimizer bytes differ between identical runs");
        assert!(
            o1.len() > 4 * (12 + 4 + 8 + 2) * 2,
            "optimizer state missing"
        );
        // The bytes load back into a fresh net and re-save identically.
        let fresh = net(&Device::flex().autodiff());
        let loaded = load_module(fresh, m1.clone()).unwrap();
        assert_eq!(module_bytes(loaded).unwrap(), m1);
        let restored = load_optim(AdamWConfig::new().init(), o1.clone()).unwrap();
        assert_eq!(optim_bytes(&restored).unwrap(), o1);
    }
}
