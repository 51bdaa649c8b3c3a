//! Streaming examples into training batches: the keyed sample order of a training epoch, the
//! share of one rank, exact resume from a small state, padding and labels, optional online
//! re-masking, and prefetching on a background thread.

mod batch;
mod dataset;
mod order;
mod remask;

pub use batch::{Batch, IGNORE, SentenceTask};
pub use dataset::{Example, ExamplesDataset};
pub use order::{SampleOrder, StepSlice, Stream};
pub use remask::Remasker;

use crate::TrainerError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// Where a loader stands: enough to resume exactly (the order is recomputed from the seed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderState {
    /// Training epoch.
    pub epoch: u32,
    /// Steps (global batches) consumed in the epoch.
    pub steps: u64,
    /// Examples consumed in the epoch, all ranks together.
    pub samples: u64,
}

/// How to read the dataset.
#[derive(Clone)]
pub struct LoaderOptions {
    /// Seed of the sample order (and of re-masking through the re-masker).
    pub seed: u64,
    /// This process's rank, `0..world_size`.
    pub rank: usize,
    /// Number of ranks.
    pub world_size: usize,
    /// Examples per step, all ranks together (each rank gets `global_batch / world_size`).
    pub global_batch: usize,
    /// Manifest indices of shards left out (held out for evaluation).
    pub held_out: Vec<usize>,
    /// Re-mask every example for the training epoch.
    pub remask: Option<Arc<Remasker>>,
}

/// A rank's batches of one training epoch, in order.
pub struct Loader {
    dataset: Arc<ExamplesDataset>,
    options: LoaderOptions,
    order: SampleOrder,
    state: LoaderState,
    pad_id: u32,
    task: SentenceTask,
    /// Per stream: the loaded shard (position in the stream) and its rows in stream order.
    loaded: Vec<Option<(usize, Vec<Example>)>>,
}

impl Loader {
    /// A loader positioned at `state` (use `LoaderState { epoch, ..Default::default() }` for the
    /// start of an epoch).
    pub fn new(
        dataset: Arc<ExamplesDataset>,
        options: LoaderOptions,
        state: LoaderState,
    ) -> Result<Self, TrainerError> {
        if options.world_size == 0 || options.rank >= options.world_size {
            return Err(TrainerError::config(
                "rank",
                format!(
                    "rank {} is not below the world size {}",
                    options.rank, options.world_size
                ),
            ));
        }
        if !options.global_batch.is_multiple_of(options.world_size) {
            return Err(TrainerError::config(
                "global batch",
                format!(
                    "{} examples per step do not split evenly over {} ranks",
                    options.global_batch, options.world_size
                ),
            ));
        }
        let manifest = dataset.manifest();
        let mut order = SampleOrder::new(
            &manifest.shards,
            &options.held_out,
            options.seed,
            state.epoch,
            options.global_batch,
        );
        // Replay the plan to the saved step: cheap, no I/O.
        let mut samples = 0;
        while order.steps() < state.steps {
            match order.next_step() {
                Some(slice) => samples += slice.len,
                None => break,
            }
        }
        if order.steps() != state.steps || samples != state.samples {
            return Err(TrainerError::config(
                "loader state",
                format!(
                    "step {} / {} examples does not match this dataset's order of epoch {} ({} steps, {samples} examples)",
                    state.steps,
                    state.samples,
                    state.epoch,
                    order.steps()
                ),
            ));
        }
        let vocab = dataset.vocabulary()?;
        let pad_id = ["[PAD]", "<pad>"]
            .iter()
            .find_map(|t| vocab.iter().position(|v| v == t))
            .unwrap_or(0) as u32;
        let task = match manifest.config["pairs"]["task"].as_str() {
            Some("nsp") => SentenceTask::Nsp,
            Some("sop") => SentenceTask::Sop,
            _ => SentenceTask::None,
        };
        let streams = order.streams().len();
        Ok(Self {
            dataset,
            options,
            order,
            state,
            pad_id,
            task,
            loaded: vec![None; streams],
        })
    }

    /// The sentence task of the dataset.
    pub fn task(&self) -> SentenceTask {
        self.task
    }

    /// Where the loader stands (after the last batch it returned).
    pub fn state(&self) -> LoaderState {
        self.state
    }

    /// The example at stream position `p` of stream `s`.
    fn example(&mut self, s: usize, p: u64) -> Result<Example, TrainerError> {
        let stream = &self.order.streams()[s];
        let k = stream.shard_at(p);
        let offset = (p - stream.starts[k]) as usize;
        if self.loaded[s].as_ref().is_none_or(|(loaded, _)| *loaded != k) {
            let shard = stream.shards[k];
            let mut rows: Vec<Option<Example>> = self.dataset.read_shard(shard)?.into_iter().map(Some).collect();
            let permutation = self.order.row_permutation(shard, rows.len());
            let ordered = permutation.iter().filter_map(|&i| rows[i].take()).collect();
            self.loaded[s] = Some((k, ordered));
        }
        let (_, rows) = self.loaded[s]
            .as_ref()
            .ok_or_else(|| TrainerError::dataset(self.dataset.url(), "shard not loaded"))?;
        rows.get(offset)
            .cloned()
            .ok_or_else(|| TrainerError::dataset(self.dataset.url(), "a shard has fewer rows than its manifest entry"))
    }

    /// Moves the reading to a background thread that keeps up to `depth` batches ready.
    pub fn prefetch(self, depth: usize) -> Result<Prefetched, TrainerError> {
        let (sender, receiver) = sync_channel(depth.max(1));
        let loader = self;
        let thread = std::thread::Builder::new()
            .name("maskforge-loader".into())
            .spawn(move || {
                for item in loader {
                    let stop = item.is_err();
                    if sender.send(item).is_err() || stop {
                        break;
                    }
                }
            })
            .map_err(|e| TrainerError::config("loader", format!("cannot start the prefetch thread: {e}")))?;
        Ok(Prefetched {
            receiver,
            _thread: thread,
        })
    }
}

/// A batch and the loader state right after it (save that state to resume after this batch).
pub type Step = (Batch, LoaderState);

impl Iterator for Loader {
    type Item = Result<Step, TrainerError>;

    fn next(&mut self) -> Option<Self::Item> {
        let slice = self.order.next_step()?;
        let positions: Vec<u64> =
            SampleOrder::rank_positions(slice, self.options.rank, self.options.world_size).collect();
        let mut examples = Vec::with_capacity(positions.len());
        for p in positions {
            match self.example(slice.stream, p) {
                Ok(e) => examples.push(match &self.options.remask {
                    Some(remasker) => remasker.remask(&e, self.state.epoch),
                    None => e,
                }),
                Err(e) => return Some(Err(e)),
            }
        }
        self.state.steps += 1;
        self.state.samples += slice.len;
        Some(Ok((Batch::collate(&examples, self.pad_id, self.task), self.state)))
    }
}

/// Batches read ahead on a background thread.
pub struct Prefetched {
    receiver: Receiver<Result<Step, TrainerError>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Iterator for Prefetched {
    type Item = Result<Step, TrainerError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.recv().ok()
    }
}
