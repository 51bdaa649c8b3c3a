//! The data contracts of the maskforge datasets, which every job writes and every reader (Rust
//! or Python) relies on: per dataset its Arrow schema, row type, encoding and checked decoding
//! ([`documents`], [`examples`]), the manifests ([`manifest`]), and [`Dataset`], which opens a
//! published dataset through its manifest and reads shards checked against it. `schemas/` in
//! the repository documents them.

mod columns;
mod dataset;
pub mod documents;
pub mod examples;
pub mod manifest;
mod row_rules;

pub use dataset::{Contract, Dataset, DatasetError};
pub use row_rules::RowRules;

pub use manifest::{
    DocumentCounts, DocumentsManifest, EpochSpec, EpochStats, ExamplesManifest, FileEntry, InputEntry,
    LARGE_DOCUMENT_BYTES, ShardEntry, SkipReason, SourceStats, Split, SplitSection, SplitSpec, VocabEntry,
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
