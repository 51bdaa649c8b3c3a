//! Training on an epoch with a validation split: evaluation reads the validation shards (not
//! train shards), a resume onto the next epoch of the same split works, and a resume onto a
//! dataset split differently (or not at all) is refused, since its held-out documents would
//! have been trained on.

mod common;

use candle_core::Device;
use common::{build_epoch, english_nsp, pipeline_config};
use maskforge_schema::Split;
use maskforge_trainer::loader::ExamplesDataset;
use maskforge_trainer::model::ModelConfig;
use maskforge_trainer::train::{TrainConfig, Trainer};
use std::sync::Arc;

const SPLIT: [&str; 2] = ["output.validation_fraction=0.05", "pairs.rebuild_each_epoch=true"];

fn open(dir: &std::path::Path) -> Arc<ExamplesDataset> {
    Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap())
}

fn config() -> TrainConfig {
    TrainConfig {
        seed: 5,
        batch_size: 32,
        steps: 4,
        warmup_steps: 1,
        prefetch: 1,
        // Ignored with a validation split: every train shard is trained on.
        held_out_shards: 7,
        ..TrainConfig::default()
    }
}

#[test]
fn evaluation_reads_the_validation_split_and_resumes_need_the_same_split() {
    let tmp = tempfile::tempdir().unwrap();
    let split_out = tmp.path().join("split");
    let epoch0 = english_nsp(&split_out, &SPLIT);
    let epoch1 = build_epoch(
        &pipeline_config(&split_out, "bert-nsp-en.toml", &["en/fortunes.txt"], &SPLIT),
        1,
    );
    let dataset = open(&epoch0);
    let validation = dataset.split(Split::Validation).expect("a validation split");
    let held: usize = (0..validation.manifest().shards.len())
        .map(|i| validation.read_shard(i).unwrap().len())
        .sum();
    assert!(held > 50, "{held} validation examples");
    assert!(dataset.split(Split::Test).is_none());

    let mut trainer = Trainer::new(dataset.clone(), ModelConfig::tiny(), config(), Device::Cpu).unwrap();
    let eval = trainer.evaluate(0).unwrap();
    // Every validation example is evaluated, up to the last partial batch of each stream.
    assert!(
        eval.examples <= held && eval.examples + 32 > held,
        "{} of {held}",
        eval.examples
    );
    trainer.train(2, |_| {}).unwrap();
    let checkpoint = trainer.save_checkpoint(&tmp.path().join("ckpt")).unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkpoint.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["split"]["validation_fraction"], 0.05);

    // The next epoch of the same documents and split: resumes.
    let mut resumed = Trainer::resume(open(&epoch1), &checkpoint, Device::Cpu).unwrap();
    resumed.train(3, |_| {}).unwrap();

    // Another split, or none: refused, naming both.
    for (name, epoch, set) in [
        (
            "other",
            2,
            &["output.validation_fraction=0.1", "pairs.rebuild_each_epoch=true"][..],
        ),
        ("none", 3, &["pairs.rebuild_each_epoch=true"][..]),
    ] {
        // Epochs of the same documents, built with another split.
        let config = pipeline_config(&split_out, "bert-nsp-en.toml", &["en/fortunes.txt"], set);
        let other = build_epoch(&config, epoch);
        let err = match Trainer::resume(open(&other), &checkpoint, Device::Cpu) {
            Ok(_) => panic!("resumed onto a dataset with split {name}"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("another validation/test split") && err.contains("validation 0.05"),
            "{err}"
        );
        if name == "none" {
            assert!(err.contains("(no split)"), "{err}");
        }
    }
}
