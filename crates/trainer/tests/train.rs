//! Training a tiny BERT on real NSP epochs (CPU): every tensor gets a gradient, the MLM loss
//! falls and the held-out NSP accuracy beats the majority class after 200 steps, and a run
//! stopped at a checkpoint and resumed gives the uninterrupted loss curve.

mod common;

use candle_core::Device;
use common::{english_nsp, epoch_dataset};
use maskforge_trainer::loader::{ExamplesDataset, Loader, LoaderOptions, LoaderState};
use maskforge_trainer::model::{Inputs, Mode, ModelConfig};
use maskforge_trainer::train::{StepReport, TrainConfig, Trainer};
use std::sync::Arc;

/// An NSP epoch of the King James Bible and the Chinese fortunes (the uncased vocabulary holds
/// the CJK characters): many of the random second segments of NSP negatives are in the other
/// language, a sentence-level signal that a tiny model picks up within 200 steps (on English
/// alone, Brown and the KJV, it needs more than 600, 7 minutes of a debug test). Sequences of
/// 64 tokens; shorter ones leave too few negatives.
fn kjv_and_chinese_fortunes() -> (tempfile::TempDir, Arc<ExamplesDataset>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = epoch_dataset(
        tmp.path(),
        "bert-nsp-en.toml",
        &["en/kjv.txt", "zh/fortunes-zh.txt"],
        &["output.example_shards=6", "pairs.max_seq_length=64"],
    );
    let dataset = Arc::new(ExamplesDataset::open(dir.to_str().unwrap()).unwrap());
    (tmp, dataset)
}

fn config(steps: u64) -> TrainConfig {
    TrainConfig {
        seed: 3,
        batch_size: 32,
        steps,
        learning_rate: 1e-3,
        warmup_steps: 20,
        weight_decay: 0.01,
        prefetch: 2,
        ..TrainConfig::default()
    }
}

#[test]
fn one_step_gives_every_trainable_tensor_a_gradient() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = Arc::new(ExamplesDataset::open(english_nsp(tmp.path(), &[]).to_str().unwrap()).unwrap());
    let trainer = Trainer::new(dataset.clone(), ModelConfig::tiny(), config(1), Device::Cpu).unwrap();
    let options = LoaderOptions {
        seed: 1,
        rank: 0,
        world_size: 1,
        global_batch: 16,
        held_out: vec![],
        remask: None,
    };
    let (batch, _) = Loader::new(dataset, options, LoaderState::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let inputs = Inputs::new(&batch, &Device::Cpu).unwrap();
    let out = trainer.model().forward(&inputs, &Mode::train(1, 0)).unwrap();
    let grads = out.loss.backward().unwrap();
    let mut without: Vec<&str> = Vec::new();
    for (name, var) in trainer.params().vars() {
        let norm = grads
            .get(var.as_tensor())
            .map(|g| g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap())
            .unwrap_or(0.0);
        if norm <= 0.0 {
            without.push(name);
        }
    }
    assert!(trainer.params().vars().len() > 30);
    assert!(without.is_empty(), "tensors without a gradient: {without:?}");
}

#[test]
fn a_tiny_model_learns_and_resumes_exactly() {
    let (tmp, dataset) = kjv_and_chinese_fortunes();
    let steps = 200;
    // 40 batches of the held-out shard: 1,280 examples, a standard error of about 1.4 points.
    let eval_batches = 40;
    let mut trainer = Trainer::new(dataset.clone(), ModelConfig::tiny(), config(steps), Device::Cpu).unwrap();
    let before = trainer.evaluate(eval_batches).unwrap();
    let mut curve: Vec<StepReport> = Vec::new();
    let checkpoints = tmp.path().join("checkpoints");
    let started = std::time::Instant::now();
    trainer.train(40, |r| curve.push(r.clone())).unwrap();
    let tokens: usize = curve.iter().map(|r| r.tokens).sum();
    println!(
        "40 steps in {:.1}s, {:.0} tokens/s (debug build)",
        started.elapsed().as_secs_f64(),
        tokens as f64 / started.elapsed().as_secs_f64()
    );
    let checkpoint = trainer.save_checkpoint(&checkpoints).unwrap();
    trainer.train(steps, |r| curve.push(r.clone())).unwrap();
    let after = trainer.evaluate(eval_batches).unwrap();

    let mean = |r: &[StepReport]| r.iter().map(|s| s.mlm_loss).sum::<f32>() / r.len() as f32;
    let (first, last) = (mean(&curve[..10]), mean(&curve[curve.len() - 20..]));
    println!(
        "MLM loss {first:.3} -> {last:.3}; held-out MLM accuracy {:.4} -> {:.4}, NSP accuracy {:.4} -> {:.4} ({} examples)",
        before.mlm_accuracy, after.mlm_accuracy, before.sentence_accuracy, after.sentence_accuracy, after.examples
    );
    for r in curve.iter().step_by(20) {
        println!(
            "step {:4} loss {:.4} mlm {:.4} nsp {:.4} lr {:.2e}",
            r.step, r.loss, r.mlm_loss, r.sentence_loss, r.learning_rate
        );
    }
    assert!(last < first - 2.0, "the MLM loss did not fall: {first} -> {last}");
    assert!(after.mlm_accuracy > before.mlm_accuracy + 0.05);

    // The held-out NSP labels' majority class is the bar to beat.
    let held = dataset.read_shard(dataset.manifest().shards.len() - 1).unwrap();
    let positives = held.iter().filter(|e| e.nsp_label == 1).count() as f64 / held.len() as f64;
    let majority = positives.max(1.0 - positives);
    assert!(
        after.sentence_accuracy > majority + 0.03,
        "NSP accuracy {} does not beat the majority class {majority}",
        after.sentence_accuracy
    );

    // Resume from step 40: the same curve.
    let mut resumed = Trainer::resume(dataset, &checkpoint, Device::Cpu).unwrap();
    assert_eq!(resumed.step(), 40);
    let mut again: Vec<StepReport> = Vec::new();
    resumed.train(80, |r| again.push(r.clone())).unwrap();
    for (a, b) in again.iter().zip(&curve[40..80]) {
        assert_eq!(a.step, b.step);
        assert!(
            (a.loss - b.loss).abs() <= 1e-4 * b.loss.abs().max(1.0),
            "step {}: {} vs {}",
            a.step,
            a.loss,
            b.loss
        );
    }
}
