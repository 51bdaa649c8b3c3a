//! Pretraining: the loop (gradient accumulation, clipping, warm-up and decay), evaluation on
//! the validation split (or held-out shards), and checkpoints that resume exactly.

mod checkpoint;
mod config;
mod optimizer;

pub use checkpoint::CheckpointState;
pub use config::{RunConfig, TrainConfig};
pub use optimizer::{AdamW, AdamWConfig, clip_by_global_norm, learning_rate};

use crate::TrainerError;
use crate::loader::{ExamplesDataset, Loader, LoaderOptions, LoaderState, Prefetched, Remasker, Step};
use crate::model::{Bert, Inputs, Mode, ModelConfig, Params};
use candle_core::{Device, Tensor};
use maskforge_schema::{Split, SplitSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepReport {
    /// Optimizer steps done, this one included.
    pub step: u64,
    /// Training epoch of the step's last batch.
    pub epoch: u32,
    /// Mean loss over the step's micro-batches (MLM + sentence).
    pub loss: f32,
    /// Mean MLM loss.
    pub mlm_loss: f32,
    /// Mean sentence loss.
    pub sentence_loss: f32,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Real tokens in the step.
    pub tokens: usize,
    /// Seconds the step took.
    pub seconds: f64,
}

/// Accuracy on the validation split (or the held-out shards).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalReport {
    /// Examples evaluated.
    pub examples: usize,
    /// Masked tokens predicted right / masked tokens.
    pub mlm_accuracy: f64,
    /// Mean MLM loss per batch.
    pub mlm_loss: f64,
    /// Sentence labels predicted right / sentence labels (0 without a sentence task).
    pub sentence_accuracy: f64,
    /// Sentence labels evaluated.
    pub sentence_examples: usize,
}

/// A model, its optimizer and its place in the data.
pub struct Trainer {
    dataset: Arc<ExamplesDataset>,
    /// The dataset's validation split, evaluated on instead of held-out shards when present.
    validation: Option<Arc<ExamplesDataset>>,
    config: TrainConfig,
    params: Params,
    model: Bert,
    optimizer: AdamW,
    step: u64,
    loader_state: LoaderState,
    remasker: Option<Arc<Remasker>>,
}

impl Trainer {
    /// A fresh model of `model` on `device` (the vocabulary size comes from the dataset when
    /// `model.vocab_size` is 0).
    pub fn new(
        dataset: Arc<ExamplesDataset>,
        mut model: ModelConfig,
        config: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainerError> {
        let validation = dataset.split(Split::Validation).map(Arc::new);
        config.validate(dataset.manifest().shards.len(), validation.is_some())?;
        check_not_empty(&dataset, validation.as_deref(), config.held_out_shards)?;
        let vocab = dataset.vocabulary()?;
        if model.vocab_size == 0 {
            model.vocab_size = vocab.len();
        }
        if model.vocab_size < vocab.len() {
            return Err(TrainerError::config(
                "model.vocab_size",
                format!(
                    "{} is smaller than the dataset's vocabulary ({})",
                    model.vocab_size,
                    vocab.len()
                ),
            ));
        }
        let remasker = if config.remask {
            Some(Arc::new(Remasker::from_manifest(dataset.manifest(), vocab.to_vec())?))
        } else {
            None
        };
        let mut params = Params::new(device, config.seed);
        let bert = Bert::new(&model, &mut params)?;
        let optimizer = AdamW::new(params.vars(), config.adamw())?;
        Ok(Self {
            dataset,
            validation,
            config,
            params,
            model: bert,
            optimizer,
            step: 0,
            loader_state: LoaderState::default(),
            remasker,
        })
    }

    /// The trainer saved in checkpoint folder `dir`, ready to continue.
    pub fn resume(dataset: Arc<ExamplesDataset>, dir: &Path, device: Device) -> Result<Self, TrainerError> {
        let state = CheckpointState::read(dir)?;
        if state.split != dataset.manifest().split {
            let describe = |split: &Option<SplitSpec>| match split {
                Some(s) => format!(
                    "seed {}, validation {}, test {}",
                    s.seed, s.validation_fraction, s.test_fraction
                ),
                None => "no split".to_owned(),
            };
            return Err(TrainerError::config(
                dir.display().to_string(),
                format!(
                    "the checkpoint was trained with another validation/test split ({}) than this dataset has ({}): \
                     its held-out documents would not be held out",
                    describe(&state.split),
                    describe(&dataset.manifest().split)
                ),
            ));
        }
        if state.dataset_config_hash != dataset.manifest().config_hash {
            return Err(TrainerError::config(
                dir.display().to_string(),
                "the checkpoint was trained on another dataset (its config hash differs)",
            ));
        }
        let mut trainer = Self::new(dataset, state.model.clone(), state.train.clone(), device)?;
        trainer.params.load(&dir.join(checkpoint::MODEL_FILE))?;
        trainer.optimizer.load(&dir.join(checkpoint::OPTIMIZER_FILE))?;
        trainer.step = state.step;
        trainer.loader_state = state.loader;
        Ok(trainer)
    }

    /// Optimizer steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The model's tensors.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The model.
    pub fn model(&self) -> &Bert {
        &self.model
    }

    /// The training settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Train shards held out for evaluation: none when the dataset has a validation split,
    /// else the last `held_out_shards`.
    fn held_out(&self) -> Vec<usize> {
        if self.validation.is_some() {
            return Vec::new();
        }
        let shards = self.dataset.manifest().shards.len();
        (shards - self.config.held_out_shards..shards).collect()
    }

    fn loader(&self, state: LoaderState) -> Result<Prefetched, TrainerError> {
        let options = LoaderOptions {
            seed: self.config.seed,
            rank: 0,
            world_size: 1,
            global_batch: self.config.batch_size,
            held_out: self.held_out(),
            remask: self.remasker.clone(),
        };
        Loader::new(self.dataset.clone(), options, state)?.prefetch(self.config.prefetch)
    }

    /// Trains until `until` optimizer steps are done, calling `on_step` after each.
    pub fn train(&mut self, until: u64, mut on_step: impl FnMut(&StepReport)) -> Result<(), TrainerError> {
        let mut batches = self.loader(self.loader_state)?;
        let accumulation = self.config.accumulation.max(1);
        while self.step < until {
            let started = Instant::now();
            let mut summed: Vec<Option<Tensor>> = vec![None; self.params.vars().len()];
            let (mut loss, mut mlm, mut sentence, mut tokens) = (0.0f32, 0.0f32, 0.0f32, 0usize);
            for micro in 0..accumulation {
                let (batch, state) = match batches.next() {
                    Some(step) => step?,
                    None => {
                        // End of the epoch: the next one, in a new order (and with new masks).
                        let next = LoaderState {
                            epoch: self.loader_state.epoch + 1,
                            ..LoaderState::default()
                        };
                        self.loader_state = next;
                        batches = self.loader(next)?;
                        let step: Step = batches
                            .next()
                            .ok_or_else(|| TrainerError::config("data", "the training shards hold no example"))??;
                        step
                    }
                };
                self.loader_state = state;
                if batch.size == 0 {
                    continue;
                }
                let inputs = Inputs::new(&batch, self.params.device())?;
                let mode = Mode::train(self.config.seed, self.step * accumulation as u64 + micro as u64);
                let out = self.model.forward(&inputs, &mode)?;
                let grads = (out.loss.clone() / accumulation as f64)?.backward()?;
                for (slot, (_, var)) in summed.iter_mut().zip(self.params.vars()) {
                    if let Some(g) = grads.get(var.as_tensor()) {
                        *slot = Some(match slot.take() {
                            Some(s) => (s + g)?,
                            None => g.clone(),
                        });
                    }
                }
                loss += out.loss.to_scalar::<f32>()? / accumulation as f32;
                mlm += out.mlm_loss / accumulation as f32;
                sentence += out.sentence_loss / accumulation as f32;
                tokens += batch.tokens();
            }
            let grad_norm = clip_by_global_norm(&mut summed, self.config.max_grad_norm)?;
            let lr = learning_rate(
                self.step,
                self.config.learning_rate,
                self.config.warmup_steps,
                self.config.steps,
            );
            self.optimizer.step(&summed, lr)?;
            self.step += 1;
            on_step(&StepReport {
                step: self.step,
                epoch: self.loader_state.epoch,
                loss,
                mlm_loss: mlm,
                sentence_loss: sentence,
                learning_rate: lr,
                grad_norm,
                tokens,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Accuracy on the validation split, or on the held-out shards of a dataset without one
    /// (at most `max_batches` batches; 0 for all), no dropout.
    pub fn evaluate(&self, max_batches: usize) -> Result<EvalReport, TrainerError> {
        let (dataset, left_out) = match &self.validation {
            Some(validation) => (validation.clone(), Vec::new()),
            None => {
                let held = self.held_out();
                let shards = self.dataset.manifest().shards.len();
                (
                    self.dataset.clone(),
                    (0..shards).filter(|i| !held.contains(i)).collect(),
                )
            }
        };
        let options = LoaderOptions {
            seed: self.config.seed,
            rank: 0,
            world_size: 1,
            global_batch: self.config.batch_size,
            held_out: left_out,
            remask: None,
        };
        let loader = Loader::new(dataset, options, LoaderState::default())?;
        let limit = if max_batches == 0 { usize::MAX } else { max_batches };
        let (mut examples, mut batches) = (0, 0);
        let (mut mlm_right, mut mlm_total, mut mlm_loss) = (0, 0, 0.0);
        let (mut sentence_right, mut sentence_total) = (0, 0);
        for step in loader.take(limit) {
            let (batch, _) = step?;
            if batch.size == 0 {
                continue;
            }
            let out = self
                .model
                .forward(&Inputs::new(&batch, self.params.device())?, &Mode::eval())?;
            examples += batch.size;
            batches += 1;
            mlm_right += out.mlm_correct;
            mlm_total += out.mlm_count;
            mlm_loss += f64::from(out.mlm_loss);
            sentence_right += out.sentence_correct;
            sentence_total += out.sentence_count;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Ok(EvalReport {
            examples,
            mlm_accuracy: ratio(mlm_right, mlm_total),
            mlm_loss: if batches == 0 { 0.0 } else { mlm_loss / batches as f64 },
            sentence_accuracy: ratio(sentence_right, sentence_total),
            sentence_examples: sentence_total,
        })
    }

    /// Writes a checkpoint folder `step-NNNNNNN` under `root`: weights, optimizer moments and
    /// the state to resume from. Written to a temporary folder and renamed, so a checkpoint
    /// folder is always complete.
    pub fn save_checkpoint(&self, root: &Path) -> Result<PathBuf, TrainerError> {
        let state = CheckpointState {
            step: self.step,
            loader: self.loader_state,
            model: self.model.config().clone(),
            train: self.config.clone(),
            dataset_config_hash: self.dataset.manifest().config_hash.clone(),
            split: self.dataset.manifest().split,
        };
        checkpoint::write(root, &state, |dir| {
            self.params.save(&dir.join(checkpoint::MODEL_FILE))?;
            self.optimizer.save(&dir.join(checkpoint::OPTIMIZER_FILE))
        })
    }
}
/// Refuses a dataset whose training or evaluation examples are none (an epoch built with a
/// `validation_fraction` too small for its corpus, say), instead of training or evaluating on
/// nothing and reporting a loss of 0.
fn check_not_empty(
    dataset: &ExamplesDataset,
    validation: Option<&ExamplesDataset>,
    held_out_shards: usize,
) -> Result<(), TrainerError> {
    let rows = |shards: &[maskforge_schema::ShardEntry]| shards.iter().map(|s| s.rows).sum::<u64>();
    let shards = &dataset.manifest().shards;
    let (train, evaluation, what) = match validation {
        Some(v) => (
            rows(shards),
            rows(&v.manifest().shards),
            "the validation split (output.validation_fraction)",
        ),
        None => {
            let cut = shards.len().saturating_sub(held_out_shards);
            (
                rows(&shards[..cut]),
                rows(&shards[cut..]),
                "the held-out shards (train.held_out_shards)",
            )
        }
    };
    if train == 0 {
        return Err(TrainerError::config(
            "data",
            format!("the training shards of {} hold no example", dataset.url()),
        ));
    }
    let evaluates = validation.is_some() || held_out_shards > 0;
    if evaluates && evaluation == 0 {
        return Err(TrainerError::config(
            "data",
            format!("{what} of {} holds no example to evaluate on", dataset.url()),
        ));
    }
    Ok(())
}
