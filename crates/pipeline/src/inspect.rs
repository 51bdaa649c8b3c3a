//! `maskforge inspect`: examples of an examples dataset decoded with its stored vocabulary, the
//! masked positions marked with what was done and the original token.

use crate::{PipelineError, dataset};
use arrow::array::{AsArray, ListArray};
use arrow::datatypes::{Int8Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use maskforge_schema::{ExamplesManifest, MANIFEST_FILE, examples};
use maskforge_store::Location;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const KINDS: [&str; 4] = ["mask", "similar", "random", "keep"];
const PAIR_TYPES: [&str; 4] = ["next", "random_doc", "swapped", "none"];

/// Renders up to `limit` examples of shard `shard` of the examples dataset at `url`.
pub fn inspect(url: &str, limit: usize, shard: usize) -> Result<String, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let dataset = Location::parse(url)?;
    let manifest_location = dataset.join(MANIFEST_FILE);
    let bytes = runtime.block_on(manifest_location.read())?;
    let manifest: ExamplesManifest = serde_json::from_slice(&bytes).map_err(|e| {
        PipelineError::input(
            &manifest_location.url(),
            format!("not an examples manifest (inspect reads epochs/E): {e}"),
        )
    })?;
    let entry = manifest.shards.get(shard).ok_or_else(|| {
        PipelineError::input(
            url,
            format!("no shard {shard}: the dataset has {} shards", manifest.shards.len()),
        )
    })?;
    let vocab_bytes = runtime.block_on(dataset.join(&manifest.vocab.path).read())?;
    let vocab: Vec<&str> = std::str::from_utf8(&vocab_bytes)
        .map_err(|e| PipelineError::input(&dataset.join(&manifest.vocab.path).url(), e.to_string()))?
        .split('\n')
        .collect();
    let token = |id: u32| vocab.get(id as usize).copied().unwrap_or("?");
    let shard_url = dataset.join(&entry.path).url();
    let bad = |e: &dyn std::fmt::Display| PipelineError::input(&shard_url, e.to_string());
    let data = runtime.block_on(dataset.join(&entry.path).read())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| bad(&e))?;
    examples::check_schema(builder.schema()).map_err(|e| bad(&e))?;
    let reader = builder.build().map_err(|e| bad(&e))?;

    let mut out = format!(
        "{url}: epoch {}, {} examples in {} shards, mask rate {:.4}; shard {shard} ({}) has {} rows\n",
        manifest.epoch,
        manifest.stats.examples,
        manifest.shards.len(),
        manifest.stats.mask_rate,
        entry.path,
        entry.rows
    );
    let mut shown = 0;
    let mut row_number = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(&format!("no column {name}")))
        };
        let list = |name: &str| -> Result<ListArray, PipelineError> { Ok(col(name)?.as_list::<i32>().clone()) };
        let (types, starts) = (list(examples::TOKEN_TYPE_IDS)?, list(examples::WORD_STARTS)?);
        let (ids, positions, labels, kinds) = (
            list(examples::INPUT_IDS)?,
            list(examples::MASKED_POSITIONS)?,
            list(examples::MASKED_LABELS)?,
            list(examples::MASK_KINDS)?,
        );
        let (example_id, doc_id) = (col(examples::EXAMPLE_ID)?, col(examples::DOC_ID)?);
        let (pair_type, nsp, sop) = (
            col(examples::PAIR_TYPE)?,
            col(examples::NSP_LABEL)?,
            col(examples::SOP_LABEL)?,
        );
        for row in 0..batch.num_rows() {
            if shown == limit {
                return Ok(out);
            }
            let input = ids.value(row);
            let input = input.as_primitive::<UInt32Type>().values();
            let pos = positions.value(row);
            let pos = pos.as_primitive::<UInt16Type>().values();
            let lab = labels.value(row);
            let lab = lab.as_primitive::<UInt32Type>().values();
            let kind = kinds.value(row);
            let kind = kind.as_primitive::<UInt8Type>().values();
            row_number += 1;
            let shape = examples::RowShape {
                tokens: input.len(),
                token_types: types.value_length(row) as usize,
                word_starts: starts.value_length(row) as usize,
                labels: lab.len(),
                kinds: kind.len(),
            };
            examples::check_row(shape, pos).map_err(|e| bad(&format!("row {row_number}: {e}")))?;
            let pt = pair_type.as_primitive::<UInt8Type>().value(row) as usize;
            out.push_str(&format!(
                "\nexample {} (doc {}, {}, nsp {}, sop {}, {} tokens, {} masked)\n ",
                example_id.as_primitive::<UInt64Type>().value(row),
                doc_id.as_primitive::<UInt64Type>().value(row),
                PAIR_TYPES.get(pt).unwrap_or(&"?"),
                nsp.as_primitive::<Int8Type>().value(row),
                sop.as_primitive::<Int8Type>().value(row),
                input.len(),
                pos.len()
            ));
            for (i, &id) in input.iter().enumerate() {
                match pos.iter().position(|&p| p as usize == i) {
                    Some(m) => {
                        let k = KINDS.get(kind[m] as usize).unwrap_or(&"?");
                        if kind[m] == 3 {
                            out.push_str(&format!(" ⟨{k}:{}⟩", token(lab[m])));
                        } else {
                            out.push_str(&format!(" ⟨{k}:{}|{}⟩", token(id), token(lab[m])));
                        }
                    }
                    None => {
                        out.push(' ');
                        out.push_str(token(id));
                    }
                }
            }
            out.push('\n');
            shown += 1;
        }
    }
    Ok(out)
}
