//! Reading the documents dataset back: its manifest, and its shards (checksums verified) as owned
//! documents in dataset order.

use crate::PipelineError;
use arrow::array::{AsArray, ListArray};
use arrow::datatypes::{UInt32Type, UInt64Type};
use maskforge_masking::DocumentRef;
use maskforge_schema::{DocumentsManifest, MANIFEST_FILE, documents};
use maskforge_store::{Location, StoreError, sha256_hex};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A document read from the documents dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedDocument {
    /// Stable id.
    pub doc_id: u64,
    /// Content tokens.
    pub input_ids: Vec<u32>,
    /// Exclusive sentence ends.
    pub sentence_ends: Vec<u32>,
    /// Word starts.
    pub word_starts: Vec<bool>,
}

impl OwnedDocument {
    /// Borrows it for pair building.
    pub fn as_ref(&self) -> DocumentRef<'_> {
        DocumentRef {
            doc_id: self.doc_id,
            input_ids: &self.input_ids,
            sentence_ends: &self.sentence_ends,
            word_starts: &self.word_starts,
        }
    }
}

/// Reads `manifest.json` of a documents dataset and its raw bytes.
pub async fn read_manifest(dataset: &Location) -> Result<(DocumentsManifest, Vec<u8>), PipelineError> {
    let location = dataset.join(MANIFEST_FILE);
    let bytes = match location.read().await {
        Ok(b) => b.to_vec(),
        Err(StoreError::NotFound { .. }) => {
            return Err(PipelineError::input(
                &dataset.url(),
                "no documents dataset here (no manifest.json); run `maskforge prepare` first",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let manifest: DocumentsManifest = serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::input(&location.url(), format!("not a documents manifest: {e}")))?;
    if manifest.schema_version != documents::SCHEMA_VERSION {
        return Err(PipelineError::input(
            &location.url(),
            format!(
                "schema version {} is not {}",
                manifest.schema_version,
                documents::SCHEMA_VERSION
            ),
        ));
    }
    Ok((manifest, bytes))
}

/// Reads one shard, checks it against the manifest, and calls `each` for every document.
pub async fn read_shard(
    dataset: &Location,
    shard: &maskforge_schema::ShardEntry,
    mut each: impl FnMut(OwnedDocument),
) -> Result<(), PipelineError> {
    let location = dataset.join(&shard.path);
    let url = location.url();
    let bytes = location.read().await?;
    if bytes.len() as u64 != shard.bytes || sha256_hex(&bytes) != shard.sha256 {
        return Err(PipelineError::input(
            &url,
            "size or checksum differs from the manifest (changed after prepare?)",
        ));
    }
    let bad = |e: &dyn std::fmt::Display| PipelineError::input(&url, format!("cannot read documents shard: {e}"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| bad(&e))?
        .build()
        .map_err(|e| bad(&e))?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| bad(&format!("no column `{name}`")))
        };
        let ids = column(documents::DOC_ID)?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| bad(&"doc_id is not uint64"))?
            .clone();
        let list = |name: &str| -> Result<ListArray, PipelineError> {
            column(name)?
                .as_list_opt::<i32>()
                .cloned()
                .ok_or_else(|| bad(&format!("{name} is not a list")))
        };
        let (tokens, ends, starts) = (
            list(documents::INPUT_IDS)?,
            list(documents::SENTENCE_ENDS)?,
            list(documents::WORD_STARTS)?,
        );
        for row in 0..batch.num_rows() {
            let u32s = |l: &ListArray| -> Result<Vec<u32>, PipelineError> {
                Ok(l.value(row)
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| bad(&"list items are not uint32"))?
                    .values()
                    .to_vec())
            };
            let word_starts = starts.value(row);
            let word_starts = word_starts
                .as_boolean_opt()
                .ok_or_else(|| bad(&"word_starts items are not bool"))?;
            let doc = OwnedDocument {
                doc_id: ids.value(row),
                input_ids: u32s(&tokens)?,
                sentence_ends: u32s(&ends)?,
                word_starts: (0..word_starts.len()).map(|i| word_starts.value(i)).collect(),
            };
            if doc.input_ids.len() != doc.word_starts.len()
                || doc
                    .sentence_ends
                    .last()
                    .is_none_or(|&e| e as usize != doc.input_ids.len())
            {
                return Err(bad(&format!("document {} is inconsistent", doc.doc_id)));
            }
            each(doc);
            rows += 1;
        }
    }
    if rows != shard.rows {
        return Err(bad(&format!("{rows} rows, the manifest says {}", shard.rows)));
    }
    Ok(())
}
