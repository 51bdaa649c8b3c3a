//! The examples dataset's contract: one row per training example of an epoch, unpadded, masks
//! applied; its Arrow schema, row type, encoding and checked decoding.

use crate::RowRules;
use crate::columns::{Columns, booleans, values};
use arrow::array::{
    ArrayRef, BooleanBuilder, Int8Builder, ListBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use maskforge_masking::{MaskKind, MaskedExample, PairTask, PairType};
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
    crate::columns::check_columns(&schema(actual.field_with_name(BIN).is_ok()), actual, "examples")
}

/// One row of the examples dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Example {
    /// Global position in the epoch's shuffled order.
    pub example_id: u64,
    /// Source document (the first one for packed sequences).
    pub doc_id: u64,
    /// Token ids with special tokens, masks applied.
    pub input_ids: Vec<u32>,
    /// Segment ids.
    pub token_type_ids: Vec<u8>,
    /// Word starts.
    pub word_starts: Vec<bool>,
    /// Sorted, unique masked positions.
    pub masked_positions: Vec<u16>,
    /// Original ids at the masked positions.
    pub masked_labels: Vec<u32>,
    /// What was done at each masked position ([`MaskKind`] codes).
    pub mask_kinds: Vec<u8>,
    /// [`PairType`] code.
    pub pair_type: u8,
    /// 1 random next, 0 true next, -1 not applicable.
    pub nsp_label: i8,
    /// 1 swapped, 0 in order, -1 not applicable.
    pub sop_label: i8,
    /// Length bin (0 without length bins).
    pub bin: u8,
}

impl Example {
    /// The row of a masked example placed at `example_id` in length bin `bin`, with the
    /// sentence labels of `task`.
    pub fn placed(example: MaskedExample, example_id: u64, bin: u8, task: PairTask) -> Self {
        Self {
            example_id,
            doc_id: example.doc_id,
            input_ids: example.input_ids,
            token_type_ids: example.token_type_ids,
            word_starts: example.word_starts,
            masked_positions: example.masked_positions,
            masked_labels: example.masked_labels,
            mask_kinds: example.mask_kinds,
            pair_type: example.pair_type as u8,
            nsp_label: example.pair_type.nsp_label(task),
            sop_label: example.pair_type.sop_label(task),
            bin,
        }
    }

    /// The invariants every reader relies on: one token type and word start per token, one
    /// label and known kind per masked position, positions inside the sequence and increasing,
    /// a known pair type.
    pub fn check(&self) -> Result<(), String> {
        let tokens = self.input_ids.len();
        for (name, len) in [
            (TOKEN_TYPE_IDS, self.token_type_ids.len()),
            (WORD_STARTS, self.word_starts.len()),
        ] {
            if len != tokens {
                return Err(format!("{name} has {len} entries for {tokens} tokens"));
            }
        }
        let positions = &self.masked_positions;
        for (name, len) in [
            (MASKED_LABELS, self.masked_labels.len()),
            (MASK_KINDS, self.mask_kinds.len()),
        ] {
            if len != positions.len() {
                return Err(format!(
                    "{name} has {len} entries for {} masked positions",
                    positions.len()
                ));
            }
        }
        if let Some(&p) = positions.iter().find(|&&p| p as usize >= tokens) {
            return Err(format!("masked position {p} is outside the {tokens} tokens"));
        }
        if positions.windows(2).any(|w| w[0] >= w[1]) {
            return Err("masked positions do not increase".into());
        }
        if let Some(&k) = self.mask_kinds.iter().find(|&&k| MaskKind::from_code(k).is_none()) {
            return Err(format!("mask kind {k} is not one of 0-3"));
        }
        if PairType::from_code(self.pair_type).is_none() {
            return Err(format!("pair type {} is not one of 0-3", self.pair_type));
        }
        Ok(())
    }
}

/// Encodes rows into one record batch of [`schema`]`(with_bin)`.
pub fn encode(rows: &[Example], with_bin: bool) -> Result<RecordBatch, ArrowError> {
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
    for e in rows {
        example_id.append_value(e.example_id);
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
        pair_type.append_value(e.pair_type);
        nsp.append_value(e.nsp_label);
        sop.append_value(e.sop_label);
        num_tokens.append_value(e.input_ids.len() as u16);
        bins.append_value(e.bin);
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
    if with_bin {
        columns.push(Arc::new(bins.finish()));
    }
    RecordBatch::try_new(schema(with_bin), columns)
}

/// Decodes a record batch of the examples schema (checked with [`check_schema`] first) into
/// rows, each checked with [`Example::check`] and the epoch's `rules`; `first_row` numbers the
/// rows in errors.
pub fn decode(batch: &RecordBatch, first_row: u64, rules: &RowRules) -> Result<Vec<Example>, String> {
    let columns = Columns(batch);
    let (example_ids, doc_ids) = (
        columns.primitive::<UInt64Type>(EXAMPLE_ID)?,
        columns.primitive::<UInt64Type>(DOC_ID)?,
    );
    let pair_types = columns.primitive::<UInt8Type>(PAIR_TYPE)?;
    let (nsp, sop) = (
        columns.primitive::<Int8Type>(NSP_LABEL)?,
        columns.primitive::<Int8Type>(SOP_LABEL)?,
    );
    let bins = match batch.column_by_name(BIN) {
        Some(_) => Some(columns.primitive::<UInt8Type>(BIN)?),
        None => None,
    };
    let (ids, types, starts) = (
        columns.list(INPUT_IDS)?,
        columns.list(TOKEN_TYPE_IDS)?,
        columns.list(WORD_STARTS)?,
    );
    let (positions, labels, kinds) = (
        columns.list(MASKED_POSITIONS)?,
        columns.list(MASKED_LABELS)?,
        columns.list(MASK_KINDS)?,
    );
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let example = Example {
            example_id: example_ids.value(row),
            doc_id: doc_ids.value(row),
            input_ids: values::<UInt32Type>(ids, row, INPUT_IDS)?,
            token_type_ids: values::<UInt8Type>(types, row, TOKEN_TYPE_IDS)?,
            word_starts: booleans(starts, row, WORD_STARTS)?,
            masked_positions: values::<UInt16Type>(positions, row, MASKED_POSITIONS)?,
            masked_labels: values::<UInt32Type>(labels, row, MASKED_LABELS)?,
            mask_kinds: values::<UInt8Type>(kinds, row, MASK_KINDS)?,
            pair_type: pair_types.value(row),
            nsp_label: nsp.value(row),
            sop_label: sop.value(row),
            bin: bins.map_or(0, |b| b.value(row)),
        };
        example.check().and_then(|()| rules.check(&example)).map_err(|e| {
            format!(
                "row {} (example {}): {e}",
                first_row + row as u64 + 1,
                example.example_id
            )
        })?;
        out.push(example);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: RowRules = RowRules {
        vocab_size: 1000,
        task: Some(maskforge_masking::PairTask::Nsp),
        max_seq_length: Some(16),
    };

    fn example(id: u64) -> Example {
        Example {
            example_id: id,
            doc_id: 40 + id,
            input_ids: vec![101, 7, 8, 102, 9, 102],
            token_type_ids: vec![0, 0, 0, 0, 1, 1],
            word_starts: vec![true, true, false, true, true, true],
            masked_positions: vec![1, 4],
            masked_labels: vec![7, 9],
            mask_kinds: vec![0, 3],
            pair_type: 1,
            nsp_label: 1,
            sop_label: -1,
            bin: 2,
        }
    }

    #[test]
    fn rows_round_trip_with_and_without_the_bin() {
        let rows = vec![example(0), example(1)];
        let batch = encode(&rows, true).unwrap();
        check_schema(batch.schema().as_ref()).unwrap();
        assert_eq!(decode(&batch, 0, &RULES).unwrap(), rows);
        let batch = encode(&rows, false).unwrap();
        check_schema(batch.schema().as_ref()).unwrap();
        let back = decode(&batch, 0, &RULES).unwrap();
        assert!(back.iter().all(|e| e.bin == 0), "without the column the bin reads as 0");
        assert_eq!(back[1].input_ids, rows[1].input_ids);
    }

    #[test]
    fn decode_rejects_rows_that_break_the_contract_naming_the_row() {
        type Breaks = fn(&mut Example);
        let broken: [(&str, Breaks); 7] = [
            ("token type 7", |e| e.token_type_ids[5] = 7),
            ("outside the 6 tokens", |e| e.masked_positions[1] = 6),
            ("do not increase", |e| e.masked_positions = vec![4, 1]),
            ("mask kind 7", |e| e.mask_kinds[0] = 7),
            ("pair type 9", |e| e.pair_type = 9),
            ("word_starts has 5 entries", |e| {
                e.word_starts.pop();
            }),
            ("masked_labels has 1 entries", |e| {
                e.masked_labels.pop();
            }),
        ];
        for (expected, breaks) in broken {
            let mut bad = example(5);
            breaks(&mut bad);
            let batch = encode(&[example(4), bad], true).unwrap();
            let err = decode(&batch, 100, &RULES).unwrap_err();
            assert!(
                err.contains("row 102 (example 5)") && err.contains(expected),
                "{expected}: {err}"
            );
        }
    }

    #[test]
    fn a_changed_column_type_fails_the_schema_check() {
        let batch = encode(&[example(0)], false).unwrap();
        let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[9] = Field::new(NSP_LABEL, DataType::Int64, false);
        let err = check_schema(&Schema::new(fields)).unwrap_err();
        assert!(err.contains(NSP_LABEL), "{err}");
        let without: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .skip(1)
            .map(|f| f.as_ref().clone())
            .collect();
        assert!(check_schema(&Schema::new(without)).unwrap_err().contains(EXAMPLE_ID));
    }
}
