//! The maskforge jobs. `prepare` turns raw corpora into the epoch-independent documents dataset;
//! the epoch job (pairs, masks, shuffle) builds on it.

mod dataset;
mod documents;
mod epoch;
mod error;
mod inspect;
mod lease;
mod prepare;
mod progress;
mod query;
mod report;
mod resources;
mod scratch;
mod sources;
mod units;
mod verify;
mod workers;

pub use documents::document_id;
pub use epoch::{EpochOptions, EpochReport, next_epoch, run_epoch};
pub use error::PipelineError;
pub use inspect::inspect;
pub use lease::{LEASE_FILE, LEASE_SECS_VARIABLE};
pub use maskforge_schema::Split;
pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use progress::{Progress, Silent};
pub use query::{QueryFormat, QueryLimits, TABLE_ROWS, TableSource, sql};
pub use report::{Report, report};
pub use resources::{load_text_processor, load_tokenizer};
pub use verify::{Problem, VerifyReport, verify};
pub use workers::Workers;
