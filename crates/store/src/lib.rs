//! Everything maskforge knows about object storage: URLs to stores, glob expansion, whole-object
//! reads and atomic writes, a blocking reader over a streamed object, and Parquet shard encoding.
//! No other crate talks to object_store directly.

mod expand;
mod location;
mod reader;
mod shard;

pub use expand::{InputFile, expand};
pub use location::Location;
pub use reader::StreamingReader;
pub use shard::{ShardEncoder, ShardOptions, sha256_hex};

/// Errors of storage access; every variant names the URL involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL cannot be understood.
    #[error("invalid location `{url}`: {message}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing exists at the URL, or a glob matches nothing.
    #[error("not found: {url}")]
    NotFound {
        /// The URL or glob.
        url: String,
    },
    /// The store reported an error.
    #[error("{operation} {url}: {source}")]
    Store {
        /// What was being done.
        operation: &'static str,
        /// Where.
        url: String,
        /// The cause.
        source: object_store::Error,
    },
    /// Parquet encoding failed.
    #[error("writing Parquet shard {name}: {source}")]
    Parquet {
        /// The shard.
        name: String,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
}
