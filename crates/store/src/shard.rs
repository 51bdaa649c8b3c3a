//! Encoding record batches into one Parquet shard, in memory or into any writer, with the
//! settings every maskforge shard shares (zstd, bounded row groups, schema version and config
//! hash in the footer).

use crate::StoreError;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};
use std::io::Write;

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

/// One shard being encoded into `W`: in memory (the default) until [`ShardEncoder::finish`],
/// or streamed into a writer, holding one row group at a time.
pub struct ShardEncoder<W: Write + Send = Vec<u8>> {
    name: String,
    writer: ArrowWriter<W>,
    rows: u64,
}

impl ShardEncoder {
    /// Starts a shard called `name` (used in errors) with `schema`, in memory.
    pub fn new(name: &str, schema: SchemaRef, options: &ShardOptions) -> Result<Self, StoreError> {
        Self::with_sink(name, schema, options, Vec::new())
    }

    /// Closes the file and returns its bytes.
    pub fn finish(self) -> Result<Bytes, StoreError> {
        Ok(Bytes::from(self.finish_sink()?))
    }
}

impl<W: Write + Send> ShardEncoder<W> {
    /// Starts a shard called `name` (used in errors) with `schema`, written into `sink`.
    pub fn with_sink(name: &str, schema: SchemaRef, options: &ShardOptions, sink: W) -> Result<Self, StoreError> {
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
        let writer = ArrowWriter::try_new(sink, schema, Some(props)).map_err(|source| StoreError::Parquet {
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

    /// Closes the file and returns the sink.
    pub fn finish_sink(self) -> Result<W, StoreError> {
        let name = self.name;
        self.writer
            .into_inner()
            .map_err(|source| StoreError::Parquet { name, source })
    }
}

/// A writer that counts and hashes what passes through it.
pub struct DigestWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The wrapped writer, the bytes written and their hex SHA-256.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
