//! BERT: word, learned position and segment embeddings; post-norm transformer layers; an MLM
//! head tied to the word embeddings; a pooler and a two-way sentence head (NSP or SOP).
//! Layer norms use candle's composed `layer_norm_slow`, which passes gradients back (the fused
//! one does not, see docs/training.md). Dropout masks are keyed on (seed, step, site), so a
//! resumed run draws the same masks as an uninterrupted one.

use super::config::ModelConfig;
use super::loss::biased_cross_entropy;
use super::params::{Init, Params};
use crate::TrainerError;
use crate::loader::{Batch, IGNORE};
use candle_core::{D, DType, Device, IndexOp, Tensor};
use maskforge_masking::{KeyedRng, Purpose, mix64};
use std::cell::Cell;

/// A dense layer, weight `[out, in]`.
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn new(params: &mut Params, name: &str, inputs: usize, outputs: usize, std: f64) -> Result<Self, TrainerError> {
        Ok(Self {
            weight: params.create(&format!("{name}.weight"), &[outputs, inputs], Init::Normal(std))?,
            bias: params.create(&format!("{name}.bias"), &[outputs], Init::Zeros)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.broadcast_matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}

/// A layer norm with learned scale and shift.
struct Norm {
    scale: Tensor,
    shift: Tensor,
    eps: f32,
}

impl Norm {
    fn new(params: &mut Params, name: &str, width: usize, eps: f64) -> Result<Self, TrainerError> {
        Ok(Self {
            scale: params.create(&format!("{name}.weight"), &[width], Init::Ones)?,
            shift: params.create(&format!("{name}.bias"), &[width], Init::Zeros)?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, &self.scale, &self.shift, self.eps)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

/// Training or evaluation, and the keys of this step's dropout masks.
pub struct Mode {
    train: bool,
    seed: u64,
    step: u64,
    site: Cell<u64>,
}

impl Mode {
    /// A training step (dropout on, masks keyed on `seed` and `step`).
    pub fn train(seed: u64, step: u64) -> Self {
        Self {
            train: true,
            seed,
            step,
            site: Cell::new(0),
        }
    }

    /// Evaluation (no dropout).
    pub fn eval() -> Self {
        Self {
            train: false,
            seed: 0,
            step: 0,
            site: Cell::new(0),
        }
    }

    fn dropout(&self, x: &Tensor, p: f64) -> candle_core::Result<Tensor> {
        if !self.train || p == 0.0 {
            return Ok(x.clone());
        }
        let site = self.site.get();
        self.site.set(site + 1);
        let mut rng = KeyedRng::new(self.seed, Purpose::Dropout, 0, mix64(self.step, site));
        let keep = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.unit() < p { 0.0 } else { keep })
            .collect();
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
    }
}

/// A batch as tensors, with the positions and targets of both losses.
pub struct Inputs {
    input_ids: Tensor,
    token_type_ids: Tensor,
    /// `[batch, 1, 1, seq]`: 0 for tokens, -10000 for padding.
    attention_bias: Tensor,
    /// Flat indices (`row * seq_len + position`) of the predicted tokens.
    mlm_rows: Tensor,
    mlm_targets: Tensor,
    sentence_rows: Tensor,
    sentence_targets: Tensor,
    mlm_count: usize,
    sentence_count: usize,
}

impl Inputs {
    /// The tensors of `batch` on `device`.
    pub fn new(batch: &Batch, device: &Device) -> Result<Self, TrainerError> {
        let (b, l) = (batch.size, batch.seq_len);
        let input_ids = Tensor::from_vec(batch.input_ids.clone(), (b, l), device)?;
        let token_type_ids = Tensor::from_vec(batch.token_type_ids.clone(), (b, l), device)?;
        let bias: Vec<f32> = batch
            .attention_mask
            .iter()
            .map(|&m| if m == 1 { 0.0 } else { -10_000.0 })
            .collect();
        let attention_bias = Tensor::from_vec(bias, (b, 1, 1, l), device)?;
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        for (i, &label) in batch.mlm_labels.iter().enumerate() {
            if label != IGNORE {
                rows.push(i as u32);
                targets.push(label as u32);
            }
        }
        let (mut sentence_rows, mut sentence_targets) = (Vec::new(), Vec::new());
        for (i, &label) in batch.sentence_labels.iter().enumerate() {
            if label != IGNORE {
                sentence_rows.push(i as u32);
                sentence_targets.push(label as u32);
            }
        }
        let (mlm_count, sentence_count) = (rows.len(), sentence_rows.len());
        Ok(Self {
            input_ids,
            token_type_ids,
            attention_bias,
            mlm_rows: Tensor::from_vec(rows, mlm_count, device)?,
            mlm_targets: Tensor::from_vec(targets, mlm_count, device)?,
            sentence_rows: Tensor::from_vec(sentence_rows, sentence_count, device)?,
            sentence_targets: Tensor::from_vec(sentence_targets, sentence_count, device)?,
            mlm_count,
            sentence_count,
        })
    }
}

/// What one forward pass gives: the loss to minimise and counts for metrics.
pub struct Outputs {
    /// MLM loss plus sentence loss (scalar).
    pub loss: Tensor,
    /// Mean MLM cross-entropy over the predicted tokens (0 when there are none).
    pub mlm_loss: f32,
    /// Mean sentence cross-entropy (0 when there is no sentence label).
    pub sentence_loss: f32,
    /// Predicted tokens guessed right, and predicted tokens.
    pub mlm_correct: usize,
    /// Predicted tokens.
    pub mlm_count: usize,
    /// Sentence labels guessed right.
    pub sentence_correct: usize,
    /// Sentence labels.
    pub sentence_count: usize,
}

/// A BERT encoder with its pretraining heads.
pub struct Bert {
    config: ModelConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    mlm_transform: Linear,
    mlm_norm: Norm,
    mlm_bias: Tensor,
    pooler: Linear,
    sentence: Linear,
}

impl Bert {
    /// A model of `config` with its tensors created in `params`.
    pub fn new(config: &ModelConfig, params: &mut Params) -> Result<Self, TrainerError> {
        config.validate("model")?;
        let (h, std, eps) = (config.hidden_size, config.init_range, config.layer_norm_eps);
        let word = params.create("embeddings.word", &[config.vocab_size, h], Init::Normal(std))?;
        let position = params.create("embeddings.position", &[config.max_positions, h], Init::Normal(std))?;
        let token_type = params.create("embeddings.token_type", &[config.type_vocab_size, h], Init::Normal(std))?;
        let embedding_norm = Norm::new(params, "embeddings.norm", h, eps)?;
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("layer.{i}.{part}");
            layers.push(Layer {
                query: Linear::new(params, &name("attention.query"), h, h, std)?,
                key: Linear::new(params, &name("attention.key"), h, h, std)?,
                value: Linear::new(params, &name("attention.value"), h, h, std)?,
                attention_out: Linear::new(params, &name("attention.output"), h, h, std)?,
                attention_norm: Norm::new(params, &name("attention.norm"), h, eps)?,
                up: Linear::new(params, &name("ffn.up"), h, config.intermediate_size, std)?,
                down: Linear::new(params, &name("ffn.down"), config.intermediate_size, h, std)?,
                output_norm: Norm::new(params, &name("ffn.norm"), h, eps)?,
            });
        }
        Ok(Self {
            config: config.clone(),
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            mlm_transform: Linear::new(params, "mlm.transform", h, h, std)?,
            mlm_norm: Norm::new(params, "mlm.norm", h, eps)?,
            mlm_bias: params.create("mlm.bias", &[config.vocab_size], Init::Zeros)?,
            pooler: Linear::new(params, "pooler", h, h, std)?,
            sentence: Linear::new(params, "sentence", h, 2, std)?,
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The last layer's hidden states, `[batch, seq, hidden]`.
    fn encode(&self, inputs: &Inputs, mode: &Mode) -> candle_core::Result<Tensor> {
        let (b, l) = inputs.input_ids.dims2()?;
        let h = self.config.hidden_size;
        if l > self.config.max_positions {
            candle_core::bail!(
                "a batch of {l} positions is longer than max_positions {}",
                self.config.max_positions
            );
        }
        let words = self
            .word
            .index_select(&inputs.input_ids.flatten_all()?, 0)?
            .reshape((b, l, h))?;
        let types = self
            .token_type
            .index_select(&inputs.token_type_ids.flatten_all()?, 0)?
            .reshape((b, l, h))?;
        let positions = self.position.i(0..l)?.unsqueeze(0)?;
        let x = words.add(&types)?.broadcast_add(&positions)?;
        let mut x = mode.dropout(&self.embedding_norm.forward(&x)?, self.config.dropout)?;
        let heads = self.config.heads;
        let head_width = h / heads;
        let scale = 1.0 / (head_width as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, l, heads, head_width))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&inputs.attention_bias)?;
            let probs = mode.dropout(&candle_nn::ops::softmax(&scores, D::Minus1)?, self.config.dropout)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, l, h))?;
            let attended = mode.dropout(&layer.attention_out.forward(&context)?, self.config.dropout)?;
            x = layer.attention_norm.forward(&x.add(&attended)?)?;
            let inner = layer.up.forward(&x)?.gelu_erf()?;
            let out = mode.dropout(&layer.down.forward(&inner)?, self.config.dropout)?;
            x = layer.output_norm.forward(&x.add(&out)?)?;
        }
        Ok(x)
    }

    /// The forward pass with both losses.
    pub fn forward(&self, inputs: &Inputs, mode: &Mode) -> Result<Outputs, TrainerError> {
        let hidden = self.encode(inputs, mode)?;
        let (b, l, h) = hidden.dims3()?;
        let device = hidden.device().clone();
        let mut loss = Tensor::zeros((), DType::F32, &device)?;
        let (mut mlm_loss, mut mlm_correct) = (0.0, 0);
        if inputs.mlm_count > 0 {
            let picked = hidden.reshape((b * l, h))?.index_select(&inputs.mlm_rows, 0)?;
            let transformed = self
                .mlm_norm
                .forward(&self.mlm_transform.forward(&picked)?.gelu_erf()?)?;
            let logits = transformed.matmul(&self.word.t()?)?;
            let term = biased_cross_entropy(&logits, &self.mlm_bias, &inputs.mlm_targets)?;
            mlm_loss = term.to_scalar::<f32>()?;
            mlm_correct = correct(&logits.broadcast_add(&self.mlm_bias)?, &inputs.mlm_targets)?;
            loss = loss.add(&term)?;
        }
        let (mut sentence_loss, mut sentence_correct) = (0.0, 0);
        if inputs.sentence_count > 0 {
            let first = hidden.i((.., 0, ..))?.contiguous()?;
            let pooled = self.pooler.forward(&first)?.tanh()?;
            let pooled = mode.dropout(&pooled, self.config.dropout)?;
            let logits = self.sentence.forward(&pooled)?.index_select(&inputs.sentence_rows, 0)?;
            let term = candle_nn::loss::cross_entropy(&logits, &inputs.sentence_targets)?;
            sentence_loss = term.to_scalar::<f32>()?;
            sentence_correct = correct(&logits, &inputs.sentence_targets)?;
            loss = loss.add(&term)?;
        }
        Ok(Outputs {
            loss,
            mlm_loss,
            sentence_loss,
            mlm_correct,
            mlm_count: inputs.mlm_count,
            sentence_correct,
            sentence_count: inputs.sentence_count,
        })
    }
}

/// Rows whose highest logit is the target.
fn correct(logits: &Tensor, targets: &Tensor) -> candle_core::Result<usize> {
    let guesses = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let targets = targets.to_vec1::<u32>()?;
    Ok(guesses.iter().zip(&targets).filter(|(g, t)| g == t).count())
}
