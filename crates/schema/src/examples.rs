//! The examples dataset of one epoch: one row per training example, unpadded, masks applied.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// Schema version of the examples dataset; bump it on any change of columns or meaning.
pub const SCHEMA_VERSION: &str = "maskforge.examples/1";

/// Global position in the epoch's shuffled order, dense from 0.
pub const EXAMPLE_ID: &str = "example_id";
/// Source document (the first one for packed sequences).
pub const DOC_ID: &str = "doc_id";
/// Token ids with special tokens, masks applied.
pub const INPUT_IDS: &str = "input_ids";
/// 0 for `[CLS]` A `[SEP]`, 1 for B `[SEP]`.
pub const TOKEN_TYPE_IDS: &str = "token_type_ids";
/// Word starts, for trainers that re-mask online.
pub const WORD_STARTS: &str = "word_starts";
/// Sorted, unique masked positions.
pub const MASKED_POSITIONS: &str = "masked_positions";
/// Original ids at the masked positions.
pub const MASKED_LABELS: &str = "masked_labels";
/// 0 mask token, 1 similar word, 2 random, 3 unchanged.
pub const MASK_KINDS: &str = "mask_kinds";
/// 0 next, 1 random document, 2 swapped, 3 none (packing).
pub const PAIR_TYPE: &str = "pair_type";
/// 1 random next, 0 true next, -1 not applicable.
pub const NSP_LABEL: &str = "nsp_label";
/// 1 swapped, 0 in order, -1 not applicable.
pub const SOP_LABEL: &str = "sop_label";
/// `len(input_ids)`.
pub const NUM_TOKENS: &str = "num_tokens";
/// Length bin (only when length bins are configured).
pub const BIN: &str = "bin";

/// The Arrow schema of an examples shard; `with_bin` adds the `bin` column.
pub fn schema(with_bin: bool) -> SchemaRef {
    let list_of = |t: DataType| DataType::List(Arc::new(Field::new("item", t, false)));
    let mut fields = vec![
        Field::new(EXAMPLE_ID, DataType::UInt64, false),
        Field::new(DOC_ID, DataType::UInt64, false),
        Field::new(INPUT_IDS, list_of(DataType::UInt32), false),
        Field::new(TOKEN_TYPE_IDS, list_of(DataType::UInt8), false),
        Field::new(WORD_STARTS, list_of(DataType::Boolean), false),
        Field::new(MASKED_POSITIONS, list_of(DataType::UInt16), false),
        Field::new(MASKED_LABELS, list_of(DataType::UInt32), false),
        Field::new(MASK_KINDS, list_of(DataType::UInt8), false),
        Field::new(PAIR_TYPE, DataType::UInt8, false),
        Field::new(NSP_LABEL, DataType::Int8, false),
        Field::new(SOP_LABEL, DataType::Int8, false),
        Field::new(NUM_TOKENS, DataType::UInt16, false),
    ];
    if with_bin {
        fields.push(Field::new(BIN, DataType::UInt8, false));
    }
    Arc::new(Schema::new(fields))
}

/// Checks a shard's Arrow schema against the contract: every column of [`schema`] present with
/// its type (`bin` only where the shard has it). Readers call this before decoding, so that a
/// crafted or foreign file is an error naming the column, never a panic.
pub fn check_schema(actual: &Schema) -> Result<(), String> {
    let expected = schema(actual.field_with_name(BIN).is_ok());
    for field in expected.fields() {
        let found = actual
            .field_with_name(field.name())
            .map_err(|_| format!("no column `{}`", field.name()))?;
        if !same_type(found.data_type(), field.data_type()) {
            return Err(format!(
                "column `{}` is {}, the examples schema says {}",
                field.name(),
                found.data_type(),
                field.data_type()
            ));
        }
    }
    Ok(())
}

/// Types equal up to the names and nullability of list items.
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => same_type(x.data_type(), y.data_type()),
        _ => a == b,
    }
}

/// The list lengths of one example row.
#[derive(Debug, Clone, Copy)]
pub struct RowShape {
    /// `len(input_ids)`.
    pub tokens: usize,
    /// `len(token_type_ids)`.
    pub token_types: usize,
    /// `len(word_starts)`.
    pub word_starts: usize,
    /// `len(masked_labels)`.
    pub labels: usize,
    /// `len(mask_kinds)`.
    pub kinds: usize,
}

/// Checks the invariants every reader relies on: one token type and word start per token, one
/// label and kind per masked position, positions inside the sequence and increasing.
pub fn check_row(shape: RowShape, positions: &[u16]) -> Result<(), String> {
    let per_token = [
        ("token_type_ids", shape.token_types),
        ("word_starts", shape.word_starts),
    ];
    for (name, len) in per_token {
        if len != shape.tokens {
            return Err(format!("{name} has {len} entries for {} tokens", shape.tokens));
        }
    }
    for (name, len) in [("masked_labels", shape.labels), ("mask_kinds", shape.kinds)] {
        if len != positions.len() {
            return Err(format!(
                "{name} has {len} entries for {} masked positions",
                positions.len()
            ));
        }
    }
    if let Some(&p) = positions.iter().find(|&&p| p as usize >= shape.tokens) {
        return Err(format!("masked position {p} is outside the {} tokens", shape.tokens));
    }
    if positions.windows(2).any(|w| w[0] >= w[1]) {
        return Err("masked positions do not increase".into());
    }
    Ok(())
}
