//! Encoding record batches into one Parquet shard in memory, with the settings every maskforge
//! shard shares (zstd, bounded row groups, schema version and config hash in the footer).

use crate::StoreError;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

/// Settings shared by the shards of a dataset.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// zstd level.
    pub zstd_level: i32,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Key-value pairs stored in the Parquet footer.
    pub metadata: Vec<(String, String)>,
}

/// One shard being encoded. Bytes stay in memory until [`ShardEncoder::finish`].
pub struct ShardEncoder {
    name: String,
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
}

impl ShardEncoder {
    /// Starts a shard called `name` (used in errors) with `schema`.
    pub fn new(name: &str, schema: SchemaRef, options: &ShardOptions) -> Result<Self, StoreError> {
        let level = ZstdLevel::try_new(options.zstd_level).map_err(|source| StoreError::Parquet {
            name: name.to_owned(),
            source,
        })?;
        let metadata = options
            .metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
            .set_key_value_metadata(Some(metadata))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema, Some(props)).map_err(|source| StoreError::Parquet {
            name: name.to_owned(),
            source,
        })?;
        Ok(Self {
            name: name.to_owned(),
            writer,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|source| StoreError::Parquet {
            name: self.name.clone(),
            source,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file and returns its bytes.
    pub fn finish(self) -> Result<Bytes, StoreError> {
        let name = self.name;
        let bytes = self
            .writer
            .into_inner()
            .map_err(|source| StoreError::Parquet { name, source })?;
        Ok(Bytes::from(bytes))
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
