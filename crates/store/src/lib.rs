//! Everything maskforge knows about object storage: URLs to stores, glob expansion, whole-object
//! reads and atomic writes, a blocking reader over a streamed object, and Parquet shard encoding.
//! No other crate talks to object_store directly.

mod expand;
mod location;
mod printable;
mod reader;
mod redact;
mod shard;
mod tls;

pub use expand::{Expansion, InputFile, expand};
pub use location::{Entry, Location};
pub use printable::{printable, printable_lines};
pub use reader::StreamingReader;
pub use redact::{is_secret_variable, redact};
pub use shard::{DigestWriter, ShardEncoder, ShardOptions, sha256_hex};

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
    #[error("{operation} {url}: {message}")]
    Store {
        /// What was being done.
        operation: &'static str,
        /// Where.
        url: String,
        /// The cause, with any credential from the environment replaced by `***`.
        message: String,
    },
    /// A local path that is not a regular file (a FIFO, socket or device would block or never end).
    #[error("{url}: not a regular file ({kind}); maskforge reads and writes regular files only")]
    NotRegular {
        /// The location.
        url: String,
        /// What it is instead.
        kind: &'static str,
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
