pub mod bench;
pub mod bench_sampler;
pub mod bench_train;
pub mod data;
pub mod info;
pub mod prepare;
pub mod schedulers;
