//! Turning tokenized documents into Arrow record batches of the documents schema.

use arrow::array::{
    ArrayRef, BooleanBuilder, ListBuilder, StringBuilder, StringDictionaryBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use maskforge_text::TokenizedDocument;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A document with its id, ready to be written.
#[derive(Debug, Clone)]
pub struct DocumentRow {
    /// Stable id (see [`document_id`]).
    pub doc_id: u64,
    /// The tokenized content.
    pub doc: TokenizedDocument,
}

impl DocumentRow {
    /// Uncompressed bytes this row adds to a shard (what shard rolling counts).
    pub fn payload_bytes(&self) -> u64 {
        let d = &self.doc;
        (8 + 4 + d.input_ids.len() * 4 + d.sentence_ends.len() * 4 + d.word_starts.len().div_ceil(8) + d.text.len())
            as u64
    }
}

/// The id of a document: the first 8 bytes (little endian) of SHA-256 over the pattern it came
/// from (`source.url` positions), its file name relative to the pattern, and its own id or its
/// record index. It does not depend on where the corpus is stored.
pub fn document_id(origin: &str, file_name: &str, own_id: Option<&str>, index: u64) -> u64 {
    let key = match own_id {
        Some(id) => format!("id:{id}"),
        None => format!("#{index}"),
    };
    let digest = Sha256::new()
        .chain_update(origin)
        .chain_update([0])
        .chain_update(file_name)
        .chain_update([0])
        .chain_update(key)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Builds one record batch of `rows`, all from the file `source_name`.
pub fn build_batch(
    schema: &SchemaRef,
    source_name: &str,
    rows: &[DocumentRow],
    with_text: bool,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    let mut ids = UInt64Builder::with_capacity(rows.len());
    let mut sources = StringDictionaryBuilder::<Int32Type>::new();
    let mut input_ids = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
    let mut ends = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
    let mut starts = ListBuilder::new(BooleanBuilder::new()).with_field(item(DataType::Boolean));
    let mut num_tokens = UInt32Builder::with_capacity(rows.len());
    let mut texts = StringBuilder::new();
    for row in rows {
        let d = &row.doc;
        ids.append_value(row.doc_id);
        sources.append_value(source_name);
        input_ids.values().append_slice(&d.input_ids);
        input_ids.append(true);
        ends.values().append_slice(&d.sentence_ends);
        ends.append(true);
        starts.values().append_slice(&d.word_starts);
        starts.append(true);
        num_tokens.append_value(d.input_ids.len() as u32);
        if with_text {
            texts.append_value(&d.text);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(sources.finish()),
        Arc::new(input_ids.finish()),
        Arc::new(ends.finish()),
        Arc::new(starts.finish()),
        Arc::new(num_tokens.finish()),
    ];
    if with_text {
        columns.push(Arc::new(texts.finish()));
    }
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_origin_name_and_key_only() {
        let a = document_id("0.0", "a.txt", None, 3);
        assert_eq!(a, document_id("0.0", "a.txt", None, 3));
        assert_ne!(a, document_id("0.1", "a.txt", None, 3));
        assert_ne!(a, document_id("0.0", "b.txt", None, 3));
        assert_ne!(a, document_id("0.0", "a.txt", Some("3"), 3));
    }

    #[test]
    fn batch_matches_schema() {
        let doc = TokenizedDocument {
            input_ids: vec![1, 2, 3],
            sentence_ends: vec![1, 3],
            word_starts: vec![true, true, false],
            text: "x".into(),
        };
        let rows = vec![DocumentRow { doc_id: 7, doc }];
        for with_text in [false, true] {
            let batch = build_batch(
                &maskforge_schema::documents::schema(with_text),
                "f.txt",
                &rows,
                with_text,
            )
            .unwrap();
            assert_eq!(batch.num_rows(), 1);
            assert_eq!(batch.num_columns(), 6 + usize::from(with_text));
        }
    }
}
