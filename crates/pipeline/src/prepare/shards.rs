//! The documents shards of one unit, `part-UUUUU-SSSS.parquet`, encoded through the documents
//! contract and written with one atomic put each.

use super::unit::UnitContext;
use crate::PipelineError;
use crate::units::Unit;
use maskforge_schema::ShardEntry;
use maskforge_schema::documents::{self, Document};
use maskforge_store::{ShardEncoder, sha256_hex};

/// Writes one unit's documents into shards `part-UUUUU-SSSS.parquet`, closing a shard once its
/// payload passes `output.documents_shard_bytes`.
pub(super) struct ShardWriter<'a> {
    context: &'a UnitContext<'a>,
    unit: &'a Unit,
    schema: arrow::datatypes::SchemaRef,
    /// The input file the pending documents come from (their `source` column).
    source: String,
    pending: Vec<Document>,
    encoder: Option<ShardEncoder>,
    shard_payload: u64,
    written: Vec<ShardEntry>,
}

impl<'a> ShardWriter<'a> {
    pub(super) fn new(context: &'a UnitContext<'a>, unit: &'a Unit) -> Self {
        let schema = documents::schema(context.config.output.keep_text);
        Self {
            context,
            unit,
            schema,
            source: String::new(),
            pending: Vec::new(),
            encoder: None,
            shard_payload: 0,
            written: Vec::new(),
        }
    }

    /// Names the input file of the documents pushed next; the pending ones are encoded first.
    pub(super) fn set_source(&mut self, name: &str) -> Result<(), PipelineError> {
        if self.source != name {
            self.end_batch()?;
            self.source = name.to_owned();
        }
        Ok(())
    }

    pub(super) fn push(&mut self, row: Document) -> Result<(), PipelineError> {
        self.shard_payload += row.payload_bytes();
        self.pending.push(row);
        if self.shard_payload >= self.context.config.output.documents_shard_bytes {
            self.end_batch()?;
            self.close_shard()?;
        }
        Ok(())
    }

    /// Encodes the pending documents as one record batch of the current shard.
    pub(super) fn end_batch(&mut self) -> Result<(), PipelineError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let keep_text = self.context.config.output.keep_text;
        let batch = documents::encode(&self.pending, &self.source, keep_text)?;
        self.pending.clear();
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => {
                let name = self.shard_name();
                self.encoder.insert(ShardEncoder::new(
                    &name,
                    self.schema.clone(),
                    &self.context.shard_options,
                )?)
            }
        };
        encoder.write(&batch)?;
        Ok(())
    }

    fn shard_name(&self) -> String {
        format!("part-{:05}-{:04}.parquet", self.unit.index, self.written.len())
    }

    fn close_shard(&mut self) -> Result<(), PipelineError> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let name = self.shard_name();
        let rows = encoder.rows();
        let bytes = encoder.finish()?;
        let entry = ShardEntry {
            path: name.clone(),
            rows,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            bin: None,
            source: Some(self.unit.source as u32),
        };
        self.context
            .handle
            .block_on(self.context.dataset.join(&name).write(bytes))?;
        self.written.push(entry);
        self.shard_payload = 0;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<Vec<ShardEntry>, PipelineError> {
        self.end_batch()?;
        self.close_shard()?;
        Ok(self.written)
    }
}
