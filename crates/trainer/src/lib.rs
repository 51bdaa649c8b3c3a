//! The trainer side of maskforge: a streaming loader for examples datasets that any Rust trainer
//! can use ([`loader`]), a configurable BERT with MLM and NSP/SOP heads ([`model`]), and a
//! pretraining loop with evaluation and exact-resume checkpoints ([`train`]).

mod error;
pub mod loader;
pub mod model;
pub mod train;

pub use error::TrainerError;
