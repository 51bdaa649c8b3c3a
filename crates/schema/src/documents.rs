//! The documents dataset: one row per document, tokenized, with sentence ends and word starts.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// Schema version of the documents dataset; bump it on any change of columns or meaning.
pub const SCHEMA_VERSION: &str = "maskforge.documents/1";

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
