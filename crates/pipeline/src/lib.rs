//! The maskforge jobs. `prepare` turns raw corpora into the epoch-independent documents dataset;
//! the epoch job (pairs, masks, shuffle) builds on it.

mod documents;
mod error;
mod prepare;
mod progress;
mod resources;
mod sources;
mod units;

pub use documents::document_id;
pub use error::PipelineError;
pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use progress::{Progress, Silent};
pub use resources::{load_text_processor, load_tokenizer};
