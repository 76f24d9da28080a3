//! End-to-end tests of the `ifvit` command line, across the crates, as a user meets them:
//! every subcommand on tiny inputs, training with real SIGKILLs and resume, run folders under
//! concurrency, signals, corruption and foreign files, the ablation report, bad input.
//!
//! One test binary (each binary links all of burn: one instead of nine saves ~1 GB of disk
//! and most of the link time). It is compiled as an integration test of `ifvit-cli`
//! (`crates/cli/Cargo.toml`, `[[test]] e2e`) because Cargo hands a binary's path
//! (`CARGO_BIN_EXE_ifvit`) only to the tests of the package that owns the binary.
//!
//! ```sh
//! cargo test -p ifvit-cli --test e2e                          # all (the 20-kill test is ignored)
//! cargo test -p ifvit-cli --test e2e run_folder               # one module
//! cargo test -p ifvit-cli --test e2e run_folder -- --ignored  # 20 random kill -9s (~2 min)
//! ```

mod common;
mod convert_forward;
mod data_preview;
mod diffusion_cli;
mod encode_text;
mod fid_cli;
mod info_cli;
mod prepare;
mod run_folder;
mod train_cli;
