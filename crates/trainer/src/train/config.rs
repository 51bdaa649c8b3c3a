//! Training settings and the `--config` file (`[model]` and `[train]` tables).

use super::optimizer::AdamWConfig;
use crate::TrainerError;
use crate::model::ModelConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of the initial weights, the sample order and dropout.
    #[serde(default)]
    pub seed: u64,
    /// Examples per micro-batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    #[serde(default = "one")]
    pub accumulation: usize,
    /// Optimizer steps of the whole run (the schedule decays to 0 there).
    #[serde(default = "default_steps")]
    pub steps: u64,
    /// Peak learning rate.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Steps of linear warm-up.
    #[serde(default = "default_warmup")]
    pub warmup_steps: u64,
    /// Decoupled weight decay (not on biases and layer norms).
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Adam's beta1.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam's beta2.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam's epsilon.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    #[serde(default = "default_max_grad_norm")]
    pub max_grad_norm: f64,
    /// The last this-many shards of the manifest are held out for evaluation (only for a
    /// dataset without a validation split, which is evaluated on instead).
    #[serde(default = "one")]
    pub held_out_shards: usize,
    /// Evaluate every this-many steps (0: only at the end).
    #[serde(default = "default_eval_every")]
    pub eval_every: u64,
    /// Batches per evaluation (0: all held-out examples).
    #[serde(default)]
    pub eval_batches: usize,
    /// Write a checkpoint every this-many steps (0: only at the end).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Recompute the masks for every training epoch from the stored word starts.
    #[serde(default)]
    pub remask: bool,
    /// Batches read ahead on the loader thread.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
}

fn one() -> usize {
    1
}
fn default_batch_size() -> usize {
    32
}
fn default_steps() -> u64 {
    1000
}
fn default_learning_rate() -> f64 {
    1e-4
}
fn default_warmup() -> u64 {
    100
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-6
}
fn default_max_grad_norm() -> f64 {
    1.0
}
fn default_eval_every() -> u64 {
    100
}
fn default_checkpoint_every() -> u64 {
    500
}
fn default_prefetch() -> usize {
    4
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every key has a default"))
    }
}

impl TrainConfig {
    /// The optimizer's settings.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    /// Checks the settings against a dataset of `shards` train shards, with or without a
    /// validation split.
    pub fn validate(&self, shards: usize, has_validation: bool) -> Result<(), TrainerError> {
        let fail = |key: &str, m: String| Err(TrainerError::config(format!("train.{key}"), m));
        if self.batch_size == 0 {
            return fail("batch_size", "must be positive".into());
        }
        if !has_validation && self.held_out_shards >= shards {
            return fail(
                "held_out_shards",
                format!(
                    "{} of the dataset's {shards} shards leaves none to train on",
                    self.held_out_shards
                ),
            );
        }
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            return fail("learning_rate", "must be positive".into());
        }
        Ok(())
    }
}

/// The `--config` file: `[model]` (sizes) and `[train]` (optimisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The model.
    pub model: ModelConfig,
    /// Training.
    #[serde(default)]
    pub train: TrainConfig,
}

impl RunConfig {
    /// Reads a TOML file.
    pub fn read(path: &Path) -> Result<Self, TrainerError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainerError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainerError::config(path.display().to_string(), e.to_string()))
    }
}
