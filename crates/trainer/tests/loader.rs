//! The loader on real examples datasets: one global order whatever the world size, every example
//! exactly once, exact resume, padding and labels, checksums, and online re-masking.

mod common;

use common::english_nsp;
use maskforge_trainer::loader::{
    Batch, ExamplesDataset, IGNORE, Loader, LoaderOptions, LoaderState, Remasker, SentenceTask,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn options(rank: usize, world_size: usize, global_batch: usize) -> LoaderOptions {
    LoaderOptions {
        seed: 7,
        rank,
        world_size,
        global_batch,
        held_out: vec![0],
        remask: None,
    }
}

fn batches(dataset: &Arc<ExamplesDataset>, options: LoaderOptions, state: LoaderState) -> Vec<(Batch, LoaderState)> {
    Loader::new(dataset.clone(), options, state)
        .unwrap()
        .map(|step| step.unwrap())
        .collect()
}

/// Per step, the example ids of all ranks interleaved back into one sequence.
fn global_order(dataset: &Arc<ExamplesDataset>, world: usize, global_batch: usize) -> Vec<Vec<u64>> {
    let per_rank: Vec<Vec<(Batch, LoaderState)>> = (0..world)
        .map(|rank| batches(dataset, options(rank, world, global_batch), LoaderState::default()))
        .collect();
    let steps = per_rank[0].len();
    assert!(
        per_rank.iter().all(|r| r.len() == steps),
        "every rank takes the same number of steps"
    );
    (0..steps)
        .map(|s| {
            let mut merged = Vec::new();
            for i in 0.. {
                let rank = i % world;
                let Some(&id) = per_rank[rank][s].0.example_ids.get(i / world) else {
                    break;
                };
                merged.push(id);
            }
            merged
        })
        .collect()
}

#[test]
fn every_world_size_reads_one_global_order_once() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, set) in [("plain", vec![]), ("binned", vec!["output.length_bins=[64, 96]"])] {
        let dir = english_nsp(&tmp.path().join(name), &set);
        let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
        let manifest = dataset.manifest();
        let held: BTreeSet<u64> = dataset.read_shard(0).unwrap().iter().map(|e| e.example_id).collect();
        let training: BTreeSet<u64> = (0..manifest.stats.examples).filter(|id| !held.contains(id)).collect();

        let one = global_order(&dataset, 1, 12);
        for world in [2, 3] {
            assert_eq!(
                global_order(&dataset, world, 12),
                one,
                "{name}: world size {world} changes the order"
            );
        }
        let all: Vec<u64> = one.iter().flatten().copied().collect();
        let unique: BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len(), "{name}: an example came twice");
        assert_eq!(unique, training, "{name}: not every training example came");
        // The order is keyed: another seed or epoch reorders, the same ones repeat.
        let again = batches(&dataset, options(0, 1, 12), LoaderState::default());
        let next_epoch = batches(
            &dataset,
            options(0, 1, 12),
            LoaderState {
                epoch: 1,
                ..Default::default()
            },
        );
        assert_eq!(again[0].0.example_ids, one[0]);
        assert_ne!(next_epoch[0].0.example_ids, one[0]);
    }
}

#[test]
fn binned_steps_draw_one_bin_for_all_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &["output.length_bins=[64, 96]"]);
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    let bin_of: BTreeMap<u64, Option<u8>> = (0..dataset.manifest().shards.len())
        .flat_map(|i| {
            let bin = dataset.manifest().shards[i].bin;
            dataset
                .read_shard(i)
                .unwrap()
                .into_iter()
                .map(move |e| (e.example_id, bin))
        })
        .collect();
    for step in global_order(&dataset, 3, 12) {
        let bins: BTreeSet<Option<u8>> = step.iter().map(|id| bin_of[id]).collect();
        assert_eq!(bins.len(), 1, "a step mixes bins: {bins:?}");
    }
}

#[test]
fn resuming_after_k_batches_continues_the_same_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &[]);
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    for world in [1, 2] {
        let whole = batches(&dataset, options(world - 1, world, 8), LoaderState::default());
        assert!(whole.len() > 20);
        for k in [1, 7, 20] {
            let resumed = batches(&dataset, options(world - 1, world, 8), whole[k - 1].1);
            assert_eq!(resumed.len(), whole.len() - k);
            assert!(
                resumed == whole[k..],
                "world {world}: resuming after {k} batches differs"
            );
        }
        // Read ahead on a background thread: the same batches.
        let prefetched: Vec<_> = Loader::new(dataset.clone(), options(world - 1, world, 8), LoaderState::default())
            .unwrap()
            .prefetch(3)
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        assert!(prefetched == whole);
    }
    let bad = Loader::new(
        dataset.clone(),
        options(0, 1, 8),
        LoaderState {
            epoch: 0,
            steps: 3,
            samples: 5,
        },
    );
    assert!(bad.is_err(), "a state that does not fit the order is refused");
}

#[test]
fn batches_are_padded_and_labelled_from_the_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &[]);
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    let rows: BTreeMap<u64, _> = (0..dataset.manifest().shards.len())
        .flat_map(|i| dataset.read_shard(i).unwrap())
        .map(|e| (e.example_id, e))
        .collect();
    let loader = Loader::new(dataset.clone(), options(0, 1, 16), LoaderState::default()).unwrap();
    assert_eq!(loader.task(), SentenceTask::Nsp);
    let vocab = dataset.vocabulary().unwrap();
    let pad = vocab.iter().position(|t| t == "[PAD]").unwrap() as u32;
    let (mut labels_seen, mut sentence_labels) = (0, BTreeSet::new());
    for step in loader.take(10) {
        let (batch, _) = step.unwrap();
        let longest = batch
            .example_ids
            .iter()
            .map(|id| rows[id].input_ids.len())
            .max()
            .unwrap();
        assert_eq!(batch.seq_len % 8, 0);
        assert!(batch.seq_len >= longest && batch.seq_len < longest + 8);
        for (r, id) in batch.example_ids.iter().enumerate() {
            let e = &rows[id];
            let row = |v: &[u32]| v[r * batch.seq_len..(r + 1) * batch.seq_len].to_vec();
            let (ids, mask, types) = (
                row(&batch.input_ids),
                row(&batch.attention_mask),
                row(&batch.token_type_ids),
            );
            let n = e.input_ids.len();
            assert_eq!(&ids[..n], &e.input_ids[..]);
            assert!(ids[n..].iter().all(|&t| t == pad));
            assert!(mask[..n].iter().all(|&m| m == 1) && mask[n..].iter().all(|&m| m == 0));
            assert_eq!(
                types[..n],
                e.token_type_ids.iter().map(|&t| u32::from(t)).collect::<Vec<_>>()[..]
            );
            let labels = &batch.mlm_labels[r * batch.seq_len..(r + 1) * batch.seq_len];
            for (p, &label) in labels.iter().enumerate() {
                match e.masked_positions.iter().position(|&m| m as usize == p) {
                    Some(k) => {
                        assert_eq!(label, i64::from(e.masked_labels[k]));
                        labels_seen += 1;
                    }
                    None => assert_eq!(label, IGNORE),
                }
            }
            assert_eq!(batch.sentence_labels[r], i64::from(e.nsp_label));
            sentence_labels.insert(batch.sentence_labels[r]);
        }
    }
    assert!(labels_seen > 100);
    assert_eq!(sentence_labels, BTreeSet::from([0, 1]));
}

#[test]
fn a_changed_shard_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &[]);
    let dataset = ExamplesDataset::open(dir.to_str().unwrap()).unwrap();
    let shard = dir.join(&dataset.manifest().shards[2].path);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&shard, bytes).unwrap();
    let error = dataset.read_shard(2).unwrap_err().to_string();
    assert!(
        error.contains("part-00002.parquet") && error.contains("checksum"),
        "{error}"
    );
    let missing = ExamplesDataset::open(tmp.path().to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("no manifest.json"), "{missing}");
}

/// A shard rewritten with token types of 7 (footer, checksum and row count fixed, as a careful
/// forger would): the loader refuses it naming the file and row, before the model's embedding
/// lookup could fail on index 7.
#[test]
fn a_row_outside_the_contract_is_refused_by_file_and_row() {
    use arrow::array::{Array, AsArray, ListArray, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &[]);
    let dataset = ExamplesDataset::open(dir.to_str().unwrap()).unwrap();
    let entry = dataset.manifest().shards[0].clone();
    let shard = dir.join(&entry.path);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&shard).unwrap())
            .unwrap();
    let metadata = reader.metadata().file_metadata().key_value_metadata().cloned();
    let schema = reader.schema().clone();
    let batches: Vec<_> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let index = schema.index_of("token_type_ids").unwrap();
    let types = batch.column(index).as_list::<i32>().clone();
    let sevens = UInt8Array::from(vec![7u8; types.values().len()]);
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(ListArray::new(
        item,
        types.offsets().clone(),
        Arc::new(sevens),
        types.nulls().cloned(),
    ));
    let batch = arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::clone(&schema)), columns).unwrap();
    let mut bytes = Vec::new();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(&shard, &bytes).unwrap();
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["shards"][0]["bytes"] = bytes.len().into();
    manifest["shards"][0]["sha256"] = maskforge_store::sha256_hex(&bytes).into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    let reading_all = LoaderOptions {
        held_out: vec![],
        ..options(0, 1, 8)
    };
    let error = Loader::new(dataset, reading_all, LoaderState::default())
        .unwrap()
        .find_map(|step| step.err())
        .expect("the loader refuses the crafted shard")
        .to_string();
    assert!(
        error.contains("part-00000.parquet") && error.contains("row 1 (example") && error.contains("token type 7"),
        "{error}"
    );
}

#[test]
fn remasking_gives_fresh_masks_of_the_same_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = english_nsp(tmp.path(), &[]);
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    let remasker = Remasker::from_manifest(dataset.manifest(), dataset.vocabulary().unwrap().to_vec()).unwrap();
    let original = |e: &maskforge_trainer::loader::Example| {
        let mut ids = e.input_ids.clone();
        for (&p, &l) in e.masked_positions.iter().zip(&e.masked_labels) {
            ids[p as usize] = l;
        }
        ids
    };
    let (mut differ, mut masked, mut tokens) = (0, 0, 0);
    for e in dataset.read_shard(1).unwrap() {
        let (one, two) = (remasker.remask(&e, 1), remasker.remask(&e, 2));
        assert_eq!(original(&one), original(&e));
        assert_eq!(original(&two), original(&e));
        assert_eq!(remasker.remask(&e, 1), one, "re-masking is keyed");
        differ += usize::from(one.masked_positions != two.masked_positions);
        masked += one.masked_positions.len();
        tokens += e.input_ids.len();
    }
    assert!(differ > 50, "masks change between epochs");
    let rate = masked as f64 / tokens as f64;
    assert!((0.10..0.16).contains(&rate), "re-masked rate {rate}");
}
