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
    #[error("{operation} {url}: {message}")]
    Store {
        /// What was being done.
        operation: &'static str,
        /// Where.
        url: String,
        /// The cause, with any credential from the environment replaced by `***`.
        message: String,
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

/// Environment variables whose values are secrets and must never appear in a message.
const SECRET_VARIABLES: [&str; 8] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_SAS_KEY",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

/// `text` with the value of every secret environment variable replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for name in SECRET_VARIABLES {
        if let Ok(value) = std::env::var(name)
            && value.len() >= 4
        {
            out = out.replace(&value, "***");
        }
    }
    out
}
