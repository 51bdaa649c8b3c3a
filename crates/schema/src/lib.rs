//! Arrow schemas and manifest types of the maskforge datasets: the data contracts that every job
//! writes and every reader (Rust or Python) relies on. `schemas/` in the repository documents them.

pub mod documents;
pub mod examples;
pub mod manifest;

pub use manifest::{
    DocumentCounts, DocumentsManifest, EpochStats, ExamplesManifest, InputEntry, ShardEntry, VocabEntry,
};

/// Parquet key-value metadata key holding the schema version of a shard.
pub const SCHEMA_VERSION_KEY: &str = "maskforge.schema_version";
/// Parquet key-value metadata key holding the config hash of a shard.
pub const CONFIG_HASH_KEY: &str = "maskforge.config_hash";
/// File name of the vocabulary (one token per line, in id order) stored with an examples dataset.
pub const VOCAB_FILE: &str = "vocab.txt";
/// File name of a dataset's manifest, written last.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the maskforge tool that wrote a dataset.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
