//! The documents dataset's contract: one row per document, tokenized, with sentence ends and
//! word starts; its Arrow schema, row type, encoding and checked decoding.

use crate::columns::{Columns, booleans, values};
use arrow::array::{
    ArrayRef, AsArray, BooleanBuilder, ListBuilder, StringBuilder, StringDictionaryBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use maskforge_masking::DocumentRef;
use std::sync::Arc;

/// Schema version of the documents dataset; bump it on any change of columns or meaning.
pub const SCHEMA_VERSION: &str = "maskforge.documents/2";

/// Stable id of the document (see `schemas/documents.md`).
pub const DOC_ID: &str = "doc_id";
/// Input file the document came from, relative to its source pattern.
pub const SOURCE: &str = "source";
/// Content token ids, no special tokens.
pub const INPUT_IDS: &str = "input_ids";
/// Exclusive end offset of each sentence in `input_ids`.
pub const SENTENCE_ENDS: &str = "sentence_ends";
/// One flag per token: a word starts here.
pub const WORD_STARTS: &str = "word_starts";
/// Number of tokens.
pub const NUM_TOKENS: &str = "num_tokens";
/// Cleaned text of the document (only with `output.keep_text`).
pub const TEXT: &str = "text";

/// The Arrow schema of a documents shard; `with_text` adds the optional `text` column.
pub fn schema(with_text: bool) -> SchemaRef {
    let list_of = |t: DataType| DataType::List(Arc::new(Field::new("item", t, false)));
    let mut fields = vec![
        Field::new(DOC_ID, DataType::UInt64, false),
        Field::new(
            SOURCE,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new(INPUT_IDS, list_of(DataType::UInt32), false),
        Field::new(SENTENCE_ENDS, list_of(DataType::UInt32), false),
        Field::new(WORD_STARTS, list_of(DataType::Boolean), false),
        Field::new(NUM_TOKENS, DataType::UInt32, false),
    ];
    if with_text {
        fields.push(Field::new(TEXT, DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// One row of the documents dataset (the `source` column is per batch: see [`encode`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Stable id.
    pub doc_id: u64,
    /// Content tokens.
    pub input_ids: Vec<u32>,
    /// Exclusive sentence ends.
    pub sentence_ends: Vec<u32>,
    /// Word starts, one per token.
    pub word_starts: Vec<bool>,
    /// Cleaned text (empty unless the dataset keeps it).
    pub text: String,
}

impl Document {
    /// Borrows it for pair building.
    pub fn as_ref(&self) -> DocumentRef<'_> {
        DocumentRef {
            doc_id: self.doc_id,
            copy: 0,
            input_ids: &self.input_ids,
            sentence_ends: &self.sentence_ends,
            word_starts: &self.word_starts,
        }
    }

    /// Uncompressed bytes this row adds to a shard (what shard rolling counts).
    pub fn payload_bytes(&self) -> u64 {
        (8 + 4
            + self.input_ids.len() * 4
            + self.sentence_ends.len() * 4
            + self.word_starts.len().div_ceil(8)
            + self.text.len()) as u64
    }

    /// The invariants every reader relies on: one word start per token, sentence ends
    /// increasing and the last one at the end of the tokens.
    pub fn check(&self) -> Result<(), String> {
        let tokens = self.input_ids.len();
        if self.word_starts.len() != tokens {
            return Err(format!(
                "document {}: {} word starts for {tokens} tokens",
                self.doc_id,
                self.word_starts.len()
            ));
        }
        if self.sentence_ends.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("document {}: sentence ends do not increase", self.doc_id));
        }
        if self.sentence_ends.last().is_none_or(|&e| e as usize != tokens) {
            return Err(format!(
                "document {}: the last sentence end is not the token count {tokens}",
                self.doc_id
            ));
        }
        Ok(())
    }
}

/// Encodes documents that all came from the input file `source` into one record batch of
/// [`schema`]`(with_text)`.
pub fn encode(rows: &[Document], source: &str, with_text: bool) -> Result<RecordBatch, ArrowError> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    let mut ids = UInt64Builder::with_capacity(rows.len());
    let mut sources = StringDictionaryBuilder::<Int32Type>::new();
    let mut input_ids = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
    let mut ends = ListBuilder::new(UInt32Builder::new()).with_field(item(DataType::UInt32));
    let mut starts = ListBuilder::new(BooleanBuilder::new()).with_field(item(DataType::Boolean));
    let mut num_tokens = UInt32Builder::with_capacity(rows.len());
    let mut texts = StringBuilder::new();
    for d in rows {
        ids.append_value(d.doc_id);
        sources.append_value(source);
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
    RecordBatch::try_new(schema(with_text), columns)
}

/// Checks a shard's Arrow schema against the contract (`text` only where the shard has it).
pub fn check_schema(actual: &Schema) -> Result<(), String> {
    crate::columns::check_columns(&schema(actual.field_with_name(TEXT).is_ok()), actual, "documents")
}

/// Decodes a record batch of the documents schema (checked with [`check_schema`] first) into
/// rows, each checked with [`Document::check`]; the text is read where the shard has it.
pub fn decode(batch: &RecordBatch) -> Result<Vec<Document>, String> {
    let columns = Columns(batch);
    let doc_ids = columns.primitive::<UInt64Type>(DOC_ID)?;
    let (tokens, ends, starts) = (
        columns.list(INPUT_IDS)?,
        columns.list(SENTENCE_ENDS)?,
        columns.list(WORD_STARTS)?,
    );
    let texts = match batch.column_by_name(TEXT) {
        Some(column) => Some(column.as_string_opt::<i32>().ok_or("`text` is not a string column")?),
        None => None,
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let doc = Document {
            doc_id: doc_ids.value(row),
            input_ids: values::<UInt32Type>(tokens, row, INPUT_IDS)?,
            sentence_ends: values::<UInt32Type>(ends, row, SENTENCE_ENDS)?,
            word_starts: booleans(starts, row, WORD_STARTS)?,
            text: texts.map(|t| t.value(row).to_owned()).unwrap_or_default(),
        };
        doc.check()?;
        out.push(doc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(doc_id: u64) -> Document {
        Document {
            doc_id,
            input_ids: vec![5, 6, 7, 8, 9],
            sentence_ends: vec![2, 5],
            word_starts: vec![true, false, true, true, false],
            text: "第一句。Second one.".into(),
        }
    }

    #[test]
    fn rows_round_trip_with_and_without_text() {
        let rows = vec![document(3), document(9)];
        let batch = encode(&rows, "zh", true).unwrap();
        check_schema(batch.schema().as_ref()).unwrap();
        assert_eq!(decode(&batch).unwrap(), rows);
        let batch = encode(&rows, "zh", false).unwrap();
        check_schema(batch.schema().as_ref()).unwrap();
        let back = decode(&batch).unwrap();
        assert_eq!(back[0].text, "");
        assert_eq!(back[1].input_ids, rows[1].input_ids);
        assert_eq!(
            rows[0].payload_bytes(),
            (8 + 4 + 20 + 8 + 1 + rows[0].text.len()) as u64
        );
    }

    #[test]
    fn decode_rejects_documents_that_break_the_contract() {
        type Breaks = fn(&mut Document);
        let broken: [(&str, Breaks); 4] = [
            ("4 word starts for 5 tokens", |d| {
                d.word_starts.pop();
            }),
            ("sentence ends do not increase", |d| d.sentence_ends = vec![3, 3, 5]),
            ("not the token count 5", |d| d.sentence_ends = vec![2, 4]),
            ("not the token count 5", |d| d.sentence_ends.clear()),
        ];
        for (expected, breaks) in broken {
            let mut bad = document(8);
            breaks(&mut bad);
            let batch = encode(&[document(1), bad], "en", false).unwrap();
            let err = decode(&batch).unwrap_err();
            assert!(
                err.contains("document 8") && err.contains(expected),
                "{expected}: {err}"
            );
        }
    }
}
