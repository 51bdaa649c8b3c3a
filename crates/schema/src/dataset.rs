//! Opening a published dataset through its manifest, and reading its shards checked against
//! it: the one way every reader (the epoch job, `inspect`, the trainer) gets at rows.

use crate::{DocumentsManifest, ExamplesManifest, MANIFEST_FILE, ShardEntry, Split, documents, examples};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use maskforge_store::{Location, StoreError, sha256_hex};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::de::DeserializeOwned;

/// A dataset that is not as its contract says, or storage that failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file of the dataset is missing, damaged, or breaks the contract.
    #[error("{url}: {message}")]
    Invalid {
        /// The file.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DatasetError {
    fn invalid(url: String, message: impl Into<String>) -> Self {
        DatasetError::Invalid {
            url,
            message: message.into(),
        }
    }
}

/// A manifest type and the rows its shards hold: what [`Dataset`] needs to open and decode a
/// dataset of that kind.
pub trait Contract: DeserializeOwned {
    /// One row of a shard.
    type Row;
    /// The dataset's name in errors (`documents`, `examples`).
    const KIND: &'static str;
    /// The schema version this build reads.
    const SCHEMA_VERSION: &'static str;
    /// What to run when there is no manifest.
    const MISSING_HINT: &'static str;
    /// The manifest's schema version.
    fn schema_version(&self) -> &str;
    /// The shards in reading order.
    fn shards(&self) -> &[ShardEntry];
    /// Every file the manifest names, relative to the dataset folder.
    fn listed_paths(&self) -> Vec<&str> {
        self.shards().iter().map(|s| s.path.as_str()).collect()
    }
    /// Checks a shard's Arrow schema.
    fn check_schema(schema: &Schema) -> Result<(), String>;
    /// Decodes one record batch, each row checked against this manifest's rules; `first_row`
    /// is the shard row of its first row.
    fn decode(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<Self::Row>, String>;
}

impl Contract for DocumentsManifest {
    type Row = documents::Document;
    const KIND: &'static str = "documents";
    const SCHEMA_VERSION: &'static str = documents::SCHEMA_VERSION;
    const MISSING_HINT: &'static str = "no documents dataset here (no manifest.json); run `maskforge prepare` first";
    fn schema_version(&self) -> &str {
        &self.schema_version
    }
    fn shards(&self) -> &[ShardEntry] {
        &self.shards
    }
    fn check_schema(schema: &Schema) -> Result<(), String> {
        documents::check_schema(schema)
    }
    fn decode(&self, batch: &RecordBatch, _first_row: u64) -> Result<Vec<Self::Row>, String> {
        documents::decode(batch)
    }
}

impl Contract for ExamplesManifest {
    type Row = examples::Example;
    const KIND: &'static str = "examples";
    const SCHEMA_VERSION: &'static str = examples::SCHEMA_VERSION;
    const MISSING_HINT: &'static str =
        "no manifest.json: not a published examples dataset (run `maskforge epoch` first)";
    fn schema_version(&self) -> &str {
        &self.schema_version
    }
    fn shards(&self) -> &[ShardEntry] {
        &self.shards
    }
    fn listed_paths(&self) -> Vec<&str> {
        let shards = self.all_shards().map(|s| s.path.as_str());
        let files = self.files.iter().map(|f| f.path.as_str());
        shards.chain(files).chain([self.vocab.path.as_str()]).collect()
    }
    fn check_schema(schema: &Schema) -> Result<(), String> {
        examples::check_schema(schema)
    }
    fn decode(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<Self::Row>, String> {
        examples::decode(batch, first_row, &self.row_rules())
    }
}

/// A published dataset: its folder and its checked manifest.
#[derive(Debug, Clone)]
pub struct Dataset<M> {
    root: Location,
    manifest: M,
    manifest_sha256: String,
}

impl<M: Contract> Dataset<M> {
    /// Opens the dataset in `root`: reads its manifest and checks its kind and schema version.
    pub async fn open(root: Location) -> Result<Self, DatasetError> {
        Self::open_published(root.clone())
            .await?
            .ok_or_else(|| DatasetError::invalid(root.url(), M::MISSING_HINT))
    }

    /// Like [`Dataset::open`], but `None` when nothing is published in `root`.
    pub async fn open_published(root: Location) -> Result<Option<Self>, DatasetError> {
        let location = root.join(MANIFEST_FILE);
        let bytes = match location.read().await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Self::from_manifest(root, &bytes).map(Some)
    }

    /// The dataset in `root` whose `manifest.json` holds `bytes` (read already), checked like
    /// [`Dataset::open`].
    pub fn from_manifest(root: Location, bytes: &[u8]) -> Result<Self, DatasetError> {
        let location = root.join(MANIFEST_FILE);
        let manifest: M = serde_json::from_slice(bytes)
            .map_err(|e| DatasetError::invalid(location.url(), format!("not {} manifest: {e}", article(M::KIND))))?;
        if manifest.schema_version() != M::SCHEMA_VERSION {
            return Err(DatasetError::invalid(
                location.url(),
                format!(
                    "schema version {} is not {} (the version this build reads)",
                    manifest.schema_version(),
                    M::SCHEMA_VERSION
                ),
            ));
        }
        if let Some(path) = manifest.listed_paths().into_iter().find(|p| !is_inside(p)) {
            return Err(DatasetError::invalid(
                location.url(),
                format!("lists {path:?}, which is not a path inside the dataset folder"),
            ));
        }
        Ok(Self {
            root,
            manifest,
            manifest_sha256: sha256_hex(bytes),
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &M {
        &self.manifest
    }

    /// The manifest, owned.
    pub fn into_manifest(self) -> M {
        self.manifest
    }

    /// Hex SHA-256 of `manifest.json` as read.
    pub fn manifest_sha256(&self) -> &str {
        &self.manifest_sha256
    }

    /// The dataset's folder.
    pub fn root(&self) -> &Location {
        &self.root
    }

    /// The manifest entry of shard `index`.
    pub fn shard(&self, index: usize) -> Result<&ShardEntry, DatasetError> {
        let shards = self.manifest.shards();
        shards.get(index).ok_or_else(|| {
            DatasetError::invalid(
                self.root.url(),
                format!("no shard {index}: the manifest lists {}", shards.len()),
            )
        })
    }

    /// The bytes of shard `index`, checked against the manifest's size and SHA-256.
    pub async fn read_shard_bytes(&self, index: usize) -> Result<Bytes, DatasetError> {
        let entry = self.shard(index)?;
        let location = self.root.join(&entry.path);
        let bytes = location.read().await?;
        if bytes.len() as u64 != entry.bytes || sha256_hex(&bytes) != entry.sha256 {
            return Err(DatasetError::invalid(
                location.url(),
                "size or checksum differs from the manifest (changed after it was written?)",
            ));
        }
        Ok(bytes)
    }

    /// Reads shard `index` (checked) and calls `each` with its rows a record batch at a time,
    /// in file order; checks the row count against the manifest at the end.
    pub async fn for_each_batch(&self, index: usize, each: impl FnMut(Vec<M::Row>)) -> Result<(), DatasetError> {
        let bytes = self.read_shard_bytes(index).await?;
        self.decode_shard(index, bytes, each)
    }

    /// Decodes `bytes`, the contents of shard `index` read by [`Dataset::read_shard_bytes`],
    /// like [`Dataset::for_each_batch`].
    pub fn decode_shard(
        &self,
        index: usize,
        bytes: Bytes,
        mut each: impl FnMut(Vec<M::Row>),
    ) -> Result<(), DatasetError> {
        let entry = self.shard(index)?;
        let url = self.root.join(&entry.path).url();
        let bad = |e: &dyn std::fmt::Display| {
            DatasetError::invalid(url.clone(), format!("cannot read {} shard: {e}", M::KIND))
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(&e))?;
        M::check_schema(builder.schema()).map_err(|e| bad(&e))?;
        let mut rows = 0u64;
        for batch in builder.build().map_err(|e| bad(&e))? {
            let batch = batch.map_err(|e| bad(&e))?;
            let decoded = self.manifest.decode(&batch, rows).map_err(|e| bad(&e))?;
            rows += decoded.len() as u64;
            each(decoded);
        }
        if rows != entry.rows {
            return Err(bad(&format!("{rows} rows, the manifest says {}", entry.rows)));
        }
        Ok(())
    }

    /// Reads shard `index` (checked) and decodes all its rows in file order.
    pub async fn read_shard(&self, index: usize) -> Result<Vec<M::Row>, DatasetError> {
        let mut rows = Vec::new();
        self.for_each_batch(index, |batch| rows.extend(batch)).await?;
        Ok(rows)
    }
}

impl Dataset<ExamplesManifest> {
    /// The stored vocabulary (`vocab.txt`), one token per id, checked against the manifest.
    pub async fn read_vocabulary(&self) -> Result<Vec<String>, DatasetError> {
        let location = self.root.join(&self.manifest.vocab.path);
        let bytes = location.read().await?;
        if sha256_hex(&bytes) != self.manifest.vocab.sha256 {
            return Err(DatasetError::invalid(
                location.url(),
                "checksum differs from the manifest",
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| DatasetError::invalid(location.url(), format!("not UTF-8: {e}")))?;
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// The dataset seen as one of its splits: the same folder and files, with the split's
    /// shards and statistics in the manifest's `shards` and `stats` (and no other split), so
    /// every reader reads a held-out split the way it reads train. `None` when the epoch has
    /// no such split.
    pub fn split(&self, split: Split) -> Option<Self> {
        let (shards, stats) = self.manifest.section(split)?;
        let mut manifest = self.manifest.clone();
        manifest.shards = shards.to_vec();
        manifest.stats = stats.clone();
        manifest.validation = None;
        manifest.test = None;
        Some(Self {
            root: self.root.clone(),
            manifest,
            manifest_sha256: self.manifest_sha256.clone(),
        })
    }
}

/// Whether a path from a manifest names a file inside the dataset folder: relative, with no
/// `..`, `.` or empty part and no backslash, so a damaged or hostile manifest cannot send a
/// reader elsewhere.
fn is_inside(path: &str) -> bool {
    !path.is_empty() && !path.contains('\\') && path.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::is_inside;

    #[test]
    fn manifest_paths_stay_inside_the_dataset_folder() {
        for path in [
            "part-00000-0000.parquet",
            "validation/part-00001-0000.parquet",
            "vocab.txt",
        ] {
            assert!(is_inside(path), "{path}");
        }
        for path in [
            "",
            "../documents/part-00000.parquet",
            "/etc/passwd",
            "a//b",
            "./vocab.txt",
            "a\\..\\b",
            "x/..",
        ] {
            assert!(!is_inside(path), "{path}");
        }
    }
}
