//! Writing examples in their shuffled order into balanced shards: shard k of S (per length bin)
//! holds `N div S` or `N div S + 1` examples.

use crate::PipelineError;
use arrow::array::{
    ArrayRef, BooleanBuilder, Int8Builder, ListBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::record_batch::RecordBatch;
use maskforge_masking::MaskedExample;
use maskforge_schema::ShardEntry;
use maskforge_store::{DigestWriter, ShardEncoder, ShardOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

/// The rows of each shard of a bin with `n` examples in `shards` shards.
pub fn balanced(n: u64, shards: u32) -> Vec<u64> {
    let s = u64::from(shards.max(1));
    (0..s).map(|k| n / s + u64::from(k < n % s)).collect()
}

/// An example with its place in the epoch.
pub struct Placed {
    /// Global position.
    pub example_id: u64,
    /// Length bin.
    pub bin: u8,
    /// The example.
    pub example: MaskedExample,
}

/// Encodes shards of examples; shareable across threads, so shards encode in parallel.
pub struct ExamplesWriter {
    options: ShardOptions,
    schema: SchemaRef,
    with_bin: bool,
    nsp: bool,
    sop: bool,
}

impl ExamplesWriter {
    /// A writer; `nsp`/`sop` decide which label columns apply.
    pub fn new(options: ShardOptions, with_bin: bool, nsp: bool, sop: bool) -> Self {
        Self {
            options,
            schema: maskforge_schema::examples::schema(with_bin),
            with_bin,
            nsp,
            sop,
        }
    }

    /// Encodes shard `path` from `rows`, one row group at a time, into the local `file`;
    /// returns its manifest entry.
    pub fn encode_to_file(
        &self,
        path: &str,
        bin: Option<u8>,
        rows: impl Iterator<Item = Result<Placed, PipelineError>>,
        file: &Path,
    ) -> Result<ShardEntry, PipelineError> {
        let io = |e: std::io::Error| PipelineError::Internal(format!("shard file {}: {e}", file.display()));
        let sink = DigestWriter::new(BufWriter::new(std::fs::File::create(file).map_err(io)?));
        let mut encoder = ShardEncoder::with_sink(path, self.schema.clone(), &self.options, sink)?;
        let group = self.options.row_group_rows.max(1);
        let mut chunk = Vec::with_capacity(group.min(1 << 16));
        let mut total = 0u64;
        for row in rows {
            chunk.push(row?);
            total += 1;
            if chunk.len() == group {
                encoder.write(&self.batch(&chunk)?)?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() || total == 0 {
            encoder.write(&self.batch(&chunk)?)?;
        }
        let (mut out, bytes, sha256) = encoder.finish_sink()?.finish();
        out.flush().map_err(io)?;
        Ok(ShardEntry {
            path: path.to_owned(),
            rows: total,
            bytes,
            sha256,
            bin,
        })
    }

    fn batch(&self, rows: &[Placed]) -> Result<RecordBatch, PipelineError> {
        let item = |t: DataType| Arc::new(Field::new("item", t, false));
        let mut example_id = UInt64Builder::new();
        let mut doc_id = UInt64Builder::new();
        let mut input_ids = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
        let mut token_types = ListBuilder::new(UInt8Builder::new()).with_field(item(DataType::UInt8));
        let mut word_starts = ListBuilder::new(BooleanBuilder::new()).with_field(item(DataType::Boolean));
        let mut positions = ListBuilder::new(UInt16Builder::new()).with_field(item(DataType::UInt16));
        let mut labels = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
        let mut kinds = ListBuilder::new(UInt8Builder::new()).with_field(item(DataType::UInt8));
        let (mut pair_type, mut nsp, mut sop) = (UInt8Builder::new(), Int8Builder::new(), Int8Builder::new());
        let (mut num_tokens, mut bins) = (UInt16Builder::new(), UInt8Builder::new());
        for row in rows {
            let e = &row.example;
            example_id.append_value(row.example_id);
            doc_id.append_value(e.doc_id);
            input_ids.values().append_slice(&e.input_ids);
            input_ids.append(true);
            token_types.values().append_slice(&e.token_type_ids);
            token_types.append(true);
            word_starts.values().append_slice(&e.word_starts);
            word_starts.append(true);
            positions.values().append_slice(&e.masked_positions);
            positions.append(true);
            labels.values().append_slice(&e.masked_labels);
            labels.append(true);
            kinds.values().append_slice(&e.mask_kinds);
            kinds.append(true);
            pair_type.append_value(e.pair_type as u8);
            nsp.append_value(e.pair_type.nsp_label(self.nsp));
            sop.append_value(e.pair_type.sop_label(self.sop));
            num_tokens.append_value(e.input_ids.len() as u16);
            bins.append_value(row.bin);
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(example_id.finish()),
            Arc::new(doc_id.finish()),
            Arc::new(input_ids.finish()),
            Arc::new(token_types.finish()),
            Arc::new(word_starts.finish()),
            Arc::new(positions.finish()),
            Arc::new(labels.finish()),
            Arc::new(kinds.finish()),
            Arc::new(pair_type.finish()),
            Arc::new(nsp.finish()),
            Arc::new(sop.finish()),
            Arc::new(num_tokens.finish()),
        ];
        if self.with_bin {
            columns.push(Arc::new(bins.finish()));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::balanced;

    #[test]
    fn shards_differ_by_at_most_one() {
        assert_eq!(balanced(10, 3), [4, 3, 3]);
        assert_eq!(balanced(2, 4), [1, 1, 0, 0]);
        assert_eq!(balanced(9, 3), [3, 3, 3]);
    }
}
