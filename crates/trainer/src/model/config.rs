//! The size of a BERT model: hidden size, layers, heads, feed-forward size, positions.

use crate::TrainerError;
use serde::{Deserialize, Serialize};

/// A BERT encoder's shape and regularisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Tokens in the vocabulary (0: take the dataset's `vocab.txt` size).
    #[serde(default)]
    pub vocab_size: usize,
    /// Width of every layer.
    pub hidden_size: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads per layer (must divide `hidden_size`).
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Learned positions (the longest sequence the model reads).
    #[serde(default = "default_max_positions")]
    pub max_positions: usize,
    /// Segment types (2 for sentence pairs).
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Dropout on embeddings, attention probabilities and layer outputs.
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Standard deviation of the initial weights.
    #[serde(default = "default_init_range")]
    pub init_range: f64,
    /// Layer norm epsilon.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn default_max_positions() -> usize {
    512
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_dropout() -> f64 {
    0.1
}
fn default_init_range() -> f64 {
    0.02
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl ModelConfig {
    /// A tiny model for tests and smoke runs: 2 layers of width 64.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 0,
            hidden_size: 64,
            layers: 2,
            heads: 2,
            intermediate_size: 256,
            max_positions: 512,
            type_vocab_size: 2,
            dropout: 0.1,
            init_range: 0.02,
            layer_norm_eps: 1e-12,
        }
    }

    /// BERT-base: 12 layers of width 768, 12 heads.
    pub fn base() -> Self {
        Self {
            hidden_size: 768,
            layers: 12,
            heads: 12,
            intermediate_size: 3072,
            ..Self::tiny()
        }
    }

    /// Checks the shape; `what` names the source in errors.
    pub fn validate(&self, what: &str) -> Result<(), TrainerError> {
        let fail = |m: &str| Err(TrainerError::config(what, m));
        if self.vocab_size == 0 {
            return fail("vocab_size is 0 (take it from the dataset before building the model)");
        }
        if self.hidden_size == 0 || self.layers == 0 || self.heads == 0 || self.intermediate_size == 0 {
            return fail("hidden_size, layers, heads and intermediate_size must be positive");
        }
        if !self.hidden_size.is_multiple_of(self.heads) {
            return fail("heads must divide hidden_size");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return fail("dropout must be in [0, 1)");
        }
        Ok(())
    }
}
