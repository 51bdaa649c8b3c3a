//! `manifest.json`: the only file readers trust. It is written last, so a dataset without one
//! does not exist yet. Field names are a contract (see `schemas/documents-manifest.schema.json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One Parquet shard of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Path relative to the dataset folder, e.g. `part-00000-0000.parquet`.
    pub path: String,
    /// Number of rows.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// One input file that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    /// Name relative to the source pattern it matched (the value of the `source` column).
    pub name: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Records read from it (documents, lines or rows, by format).
    pub records: u64,
}

/// How every input record was accounted for: `records_in == documents_out + sum(skipped)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCounts {
    /// Records read (text documents, JSON lines, table rows).
    pub records_in: u64,
    /// Documents written.
    pub documents_out: u64,
    /// Sentences in the written documents.
    pub sentences: u64,
    /// Content tokens in the written documents.
    pub tokens: u64,
    /// Records not written, by reason.
    pub skipped: BTreeMap<String, u64>,
}

impl DocumentCounts {
    /// Adds another count into this one.
    pub fn merge(&mut self, other: &DocumentCounts) {
        self.records_in += other.records_in;
        self.documents_out += other.documents_out;
        self.sentences += other.sentences;
        self.tokens += other.tokens;
        for (reason, n) in &other.skipped {
            *self.skipped.entry(reason.clone()).or_default() += n;
        }
    }

    /// Counts one skipped record.
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    /// Whether every record read is a document or a counted skip.
    pub fn balanced(&self) -> bool {
        self.records_in == self.documents_out + self.skipped.values().sum::<u64>()
    }
}

/// The manifest of a documents dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsManifest {
    /// `maskforge.documents/N`.
    pub schema_version: String,
    /// maskforge version that wrote it.
    pub tool_version: String,
    /// Hex SHA-256 of `config`.
    pub config_hash: String,
    /// The content configuration (no locations, no secrets) and the hashes of the files it uses.
    pub config: serde_json::Value,
    /// Hex SHA-256 of the tokenizer files.
    pub tokenizer_hash: String,
    /// Hash identifying the jieba dictionary (built-in dictionary version and user dictionary).
    pub dictionary_hash: String,
    /// Shards in reading order.
    pub shards: Vec<ShardEntry>,
    /// Input files in reading order.
    pub inputs: Vec<InputEntry>,
    /// Record accounting.
    pub counts: DocumentCounts,
}
