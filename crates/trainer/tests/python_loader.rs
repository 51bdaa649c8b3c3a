//! The Python loader (`python/maskforge_data`, pyarrow + numpy) reads the same batches as the
//! Rust loader: the same example ids per step and rank, the same padded arrays, for world sizes
//! 1, 2 and 3, with length bins, for NSP, SOP and packed epochs, for a validation split, and
//! after a resume.

mod common;

use common::{epoch_dataset, repo};
use maskforge_schema::Split;
use maskforge_trainer::loader::{Batch, ExamplesDataset, Loader, LoaderOptions, LoaderState, SentenceTask};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const SEED: u64 = 11;
const GLOBAL_BATCH: usize = 12;

/// One batch as `tests/python/loader_order.py` prints it.
fn describe(batch: &Batch, task: SentenceTask) -> Value {
    let array = |sum: i64, shape: Vec<usize>| json!({"shape": shape, "dtype": "int64", "sum": sum});
    let sum_u32 = |v: &[u32]| v.iter().map(|&x| i64::from(x)).sum::<i64>();
    let grid = vec![batch.size, batch.seq_len];
    let mut arrays = serde_json::Map::new();
    arrays.insert(
        "attention_mask".into(),
        array(sum_u32(&batch.attention_mask), grid.clone()),
    );
    arrays.insert("input_ids".into(), array(sum_u32(&batch.input_ids), grid.clone()));
    arrays.insert("labels".into(), array(batch.mlm_labels.iter().sum(), grid.clone()));
    let sentence = match task {
        SentenceTask::Nsp => Some("next_sentence_label"),
        SentenceTask::Sop => Some("sentence_order_label"),
        SentenceTask::None => None,
    };
    if let Some(name) = sentence {
        arrays.insert(name.into(), array(batch.sentence_labels.iter().sum(), vec![batch.size]));
    }
    arrays.insert("token_type_ids".into(), array(sum_u32(&batch.token_type_ids), grid));
    json!({"example_ids": batch.example_ids, "arrays": arrays})
}

/// The loader options both loaders are given.
fn options(world: usize, rank: usize, held_out: &[usize]) -> LoaderOptions {
    LoaderOptions {
        seed: SEED,
        rank,
        world_size: world,
        global_batch: GLOBAL_BATCH,
        held_out: held_out.to_vec(),
        remask: None,
    }
}

fn rust_steps(
    dataset: &Arc<ExamplesDataset>,
    world: usize,
    rank: usize,
    state: LoaderState,
    held_out: &[usize],
) -> Value {
    let loader = Loader::new(dataset.clone(), options(world, rank, held_out), state).unwrap();
    let task = loader.task();
    let mut last = state;
    let steps: Vec<Value> = loader
        .map(|step| {
            let (batch, state) = step.unwrap();
            last = state;
            describe(&batch, task)
        })
        .collect();
    json!({"steps": steps, "state": {"epoch": last.epoch, "steps": last.steps, "samples": last.samples}})
}

fn python_steps(dir: &Path, split: Split, world: usize, rank: usize, state: LoaderState, held_out: &[usize]) -> Value {
    let held: Vec<String> = held_out.iter().map(|i| i.to_string()).collect();
    let output = Command::new("python3")
        .arg(repo().join("tests/python/loader_order.py"))
        .arg(dir)
        .args(["--split", split.name()])
        .args(["--seed", &SEED.to_string(), "--global-batch", &GLOBAL_BATCH.to_string()])
        .args(["--world", &world.to_string(), "--rank", &rank.to_string()])
        .args(["--state", &serde_json::to_string(&state).unwrap()])
        .args(["--held-out", &held.join(",")])
        .output()
        .expect("python3 (scripts/test.sh installs pyarrow and numpy)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn assert_same_batches(dir: &Path, split: Split, what: &str) {
    let whole = ExamplesDataset::open(dir.to_str().unwrap()).unwrap();
    let dataset = Arc::new(whole.split(split).expect("the split"));
    for world in 1..=3 {
        for rank in 0..world {
            for held_out in [&[][..], &[1][..]] {
                let start = LoaderState::default();
                let rust = rust_steps(&dataset, world, rank, start, held_out);
                assert!(
                    rust["steps"].as_array().unwrap().len() > 3,
                    "{what}: too few steps to compare"
                );
                assert_eq!(
                    python_steps(dir, split, world, rank, start, held_out),
                    rust,
                    "{what}: world {world}, rank {rank}, held out {held_out:?}"
                );
            }
        }
        // A resume after three steps (and in a later training epoch) continues identically.
        let resumed = LoaderState {
            epoch: 2,
            steps: 3,
            samples: 3 * GLOBAL_BATCH as u64,
        };
        let rust = rust_steps(&dataset, world, world - 1, resumed, &[]);
        assert_eq!(
            python_steps(dir, split, world, world - 1, resumed, &[]),
            rust,
            "{what}: resumed, world {world}"
        );
    }
}

#[test]
fn python_and_rust_loaders_read_the_same_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let nsp = epoch_dataset(
        &tmp.path().join("nsp"),
        "bert-nsp-en.toml",
        &["en/fortunes.txt"],
        &[
            "output.length_bins=[64, 96]",
            "output.example_shards=3",
            "output.validation_fraction=0.1",
        ],
    );
    assert_same_batches(&nsp, Split::Train, "bert-nsp-en, binned");
    assert_same_batches(&nsp, Split::Validation, "bert-nsp-en, binned, validation split");
    let sop = epoch_dataset(
        &tmp.path().join("sop"),
        "albert-sop.toml",
        &["zh/fortunes-zh.txt"],
        &["output.example_shards=4"],
    );
    assert_same_batches(&sop, Split::Train, "albert-sop");
    let packed = epoch_dataset(
        &tmp.path().join("packed"),
        "roberta-en.toml",
        &["en/fortunes.txt"],
        &["output.example_shards=4"],
    );
    assert_same_batches(&packed, Split::Train, "roberta-en, packed");
}

#[test]
fn a_state_from_another_order_is_refused_by_both() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = epoch_dataset(&tmp.path().join("nsp"), "bert-nsp-en.toml", &["en/fortunes.txt"], &[]);
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    let bad = LoaderState {
        epoch: 0,
        steps: 2,
        samples: 5,
    };
    assert!(Loader::new(dataset, options(1, 0, &[]), bad).is_err());
    let output = Command::new("python3")
        .arg(repo().join("tests/python/loader_order.py"))
        .arg(&dir)
        .args(["--seed", "11", "--global-batch", "12"])
        .args(["--state", &serde_json::to_string(&bad).unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not match this dataset's order"));
}

#[test]
fn python_keyed_stream_matches_the_pinned_rust_stream() {
    let output = Command::new("python3")
        .arg(repo().join("python/tests/test_rng.py"))
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
