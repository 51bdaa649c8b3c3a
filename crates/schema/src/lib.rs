//! Arrow schemas and manifest types of the maskforge datasets: the data contracts that every job
//! writes and every reader (Rust or Python) relies on. `schemas/` in the repository documents them.

pub mod documents;
pub mod manifest;

pub use manifest::{DocumentCounts, DocumentsManifest, InputEntry, ShardEntry};

/// Parquet key-value metadata key holding the schema version of a shard.
pub const SCHEMA_VERSION_KEY: &str = "maskforge.schema_version";
/// Parquet key-value metadata key holding the config hash of a shard.
pub const CONFIG_HASH_KEY: &str = "maskforge.config_hash";
/// File name of a dataset's manifest, written last.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the maskforge tool that wrote a dataset.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
