//! Encoding one shard of examples, a row group at a time, into a local file while hashing it.

use crate::PipelineError;
use maskforge_schema::ShardEntry;
use maskforge_schema::examples::{self, Example};
use maskforge_store::{DigestWriter, ShardEncoder, ShardOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Encodes shards of examples; shareable across threads, so shards encode in parallel.
pub struct ExamplesWriter {
    options: ShardOptions,
    with_bin: bool,
}

impl ExamplesWriter {
    /// A writer of shards with the `bin` column when `with_bin`.
    pub fn new(options: ShardOptions, with_bin: bool) -> Self {
        Self { options, with_bin }
    }

    /// Encodes shard `path` from `rows`, one row group at a time, into the local `file`;
    /// returns its manifest entry.
    pub fn encode_to_file(
        &self,
        path: &str,
        bin: Option<u8>,
        rows: impl Iterator<Item = Result<Example, PipelineError>>,
        file: &Path,
    ) -> Result<ShardEntry, PipelineError> {
        let io = |e: std::io::Error| PipelineError::Internal(format!("shard file {}: {e}", file.display()));
        let sink = DigestWriter::new(BufWriter::new(std::fs::File::create(file).map_err(io)?));
        let mut encoder = ShardEncoder::with_sink(path, examples::schema(self.with_bin), &self.options, sink)?;
        let group = self.options.row_group_rows.max(1);
        let mut chunk = Vec::with_capacity(group.min(1 << 16));
        let mut total = 0u64;
        for row in rows {
            chunk.push(row?);
            total += 1;
            if chunk.len() == group {
                encoder.write(&examples::encode(&chunk, self.with_bin)?)?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() || total == 0 {
            encoder.write(&examples::encode(&chunk, self.with_bin)?)?;
        }
        let (mut out, bytes, sha256) = encoder.finish_sink()?.finish();
        out.flush().map_err(io)?;
        Ok(ShardEntry {
            path: path.to_owned(),
            rows: total,
            bytes,
            sha256,
            bin,
            source: None,
        })
    }
}
