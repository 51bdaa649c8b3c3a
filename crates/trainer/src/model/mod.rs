//! The model: a configurable BERT encoder with MLM and sentence heads, and its named tensors.

mod bert;
mod config;
mod loss;
mod params;

pub use bert::{Bert, Inputs, Mode, Outputs};
pub use config::ModelConfig;
pub use params::{Init, Params};
