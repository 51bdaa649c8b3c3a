//! The epoch job: from the documents dataset, the examples of epoch E, in three phases that
//! exchange data through a folder (local for one process, the output's storage for several):
//! route (documents shards split by data-defined partition groups), map (each group's pairs
//! built and masked on the rayon pool, keyed random ranks, an external sort into one run indexed
//! by rank range) and reduce (each balanced output shard merged from the runs' ranges that hold
//! it). Keys depend only on documents and the epoch, so any split over workers writes the same
//! bytes. With `output.validation_fraction` or `test_fraction`, documents are split by a keyed
//! hash of their id, and each split runs through the phases as its own section, with its own
//! partitions and shards. The manifest comes last.

mod codec;
mod exchange;
mod frame;
mod layout;
mod map;
mod mixture;
mod model_files;
mod partition;
mod plan;
mod publish;
mod reduce;
mod route;
mod shuffle;
mod stats;
mod writer;

use crate::lease::Lease;
use crate::progress::Progress;
use crate::scratch::Scratch;
use crate::workers::Workers;
use crate::{PipelineError, dataset};
use exchange::Exchange;
use layout::{Bins, ranges_per_bin, shard_slices};
use map::Map;
use maskforge_config::PipelineConfig;
use maskforge_schema::{CONFIG_HASH_KEY, ExamplesManifest, MANIFEST_FILE, SCHEMA_VERSION_KEY, examples};
use maskforge_store::{Location, ShardOptions};
use partition::Partitioning;
use plan::{EpochJob, EpochPlan};
use publish::SplitOutput;
use reduce::Reduce;
use route::{Grouping, Route};
use std::sync::Arc;
use std::time::Duration;
use writer::ExamplesWriter;

/// Folder of an examples dataset holding the exchange between the workers of a run.
pub const EXCHANGE_FOLDER: &str = "_exchange";

/// How to run the job (nothing here changes the output).
pub struct EpochOptions {
    /// Worker threads.
    pub threads: usize,
    /// Progress receiver (bytes of document shards read, documents).
    pub progress: Arc<dyn Progress>,
    /// This process's share of the job.
    pub workers: Workers,
    /// How long a worker waits for units other workers claimed before it gives up.
    pub patience: Duration,
}

/// What a finished epoch wrote.
#[derive(Debug)]
pub struct EpochReport {
    /// URL of the examples dataset.
    pub dataset_url: String,
    /// Its manifest.
    pub manifest: ExamplesManifest,
}

/// The first epoch without a published manifest under `<output>/epochs/` (for schedules that
/// produce the next epoch's masks).
pub fn next_epoch(config: &PipelineConfig) -> Result<u32, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let epochs = Location::parse(&config.output.url)?.join("epochs");
    let published: std::collections::BTreeSet<u32> = runtime
        .block_on(epochs.entries())?
        .into_iter()
        .filter_map(|entry| match entry.relative.split_once('/') {
            Some((epoch, MANIFEST_FILE)) => epoch.parse().ok(),
            _ => None,
        })
        .collect();
    Ok((0..).find(|e| !published.contains(e)).unwrap_or(0))
}

/// Runs epoch `epoch` of `config`: reads `<output>/documents/`, writes `<output>/epochs/<epoch>/`.
pub fn run_epoch(config: &PipelineConfig, epoch: u32, options: &EpochOptions) -> Result<EpochReport, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let handle = runtime.handle().clone();
    let pool = dataset::worker_pool(options.threads)?;
    let plan = EpochPlan::resolve(config, epoch, &handle, &pool)?;
    let workers = options.workers;
    if workers.count > 1 {
        // Several workers finish one run; they never replace or mix with another.
        if let Some(published) = handle.block_on(publish::published(&plan))? {
            if published.config_hash == plan.config_hash
                && published.documents_manifest_sha256 == plan.documents.manifest_sha256()
            {
                return Ok(plan.report(published));
            }
            return Err(PipelineError::input(
                &plan.manifest_location.url(),
                "this epoch was published with another configuration or documents; several workers never \
                 replace it (remove it, or run one process)",
            ));
        }
    }
    // Local scratch space (spill files; the exchange of one process), checked before anything
    // published is touched; what killed runs of this output left there is removed.
    let scratch = Scratch::create(config.output.temp_dir.as_deref(), &plan.dataset.url())?;
    let replaces = handle.block_on(publish::listed_shards(&plan.manifest_location))?;
    let lease = handle.block_on(Lease::acquire(
        &plan.dataset,
        &plan.identity,
        replaces,
        &handle,
        workers.count == 1,
    ))?;

    // One process exchanges through its scratch folder; several through the output's storage.
    let exchange_root = match workers.count {
        1 => Location::parse(&scratch.path().join("exchange").to_string_lossy())?,
        _ => plan
            .dataset
            .join(&format!("{EXCHANGE_FOLDER}/{}", &plan.identity[..16])),
    };
    let exchange = Exchange::new(exchange_root, workers, plan.manifest_location.clone(), options.patience);
    let job = EpochJob {
        config,
        plan: &plan,
        handle: &handle,
        pool: &pool,
        scratch: &scratch,
    };
    // One process replaces an earlier epoch: unpublished only when the first shard is
    // written, so that a failure before leaves it whole.
    let unpublish = workers.count == 1;
    let outputs = match build(&job, &exchange, options.progress.as_ref(), unpublish) {
        Ok(Some(outputs)) => outputs,
        Ok(None) => return publish::read_back(&plan, &handle),
        // Another worker may have finished and removed the exchange under this one.
        Err(e) if workers.count > 1 => return publish::read_back(&plan, &handle).map_err(|_| e),
        Err(e) => return Err(e),
    };
    publish::publish(&plan, lease, outputs, workers, &handle)
}

/// Runs the three phases; the shards and statistics of each split, or `None` when another
/// worker published the epoch meanwhile. With `unpublish`, the earlier manifest is removed
/// before the first shard is written.
fn build(
    job: &EpochJob<'_>,
    exchange: &Exchange,
    progress: &dyn Progress,
    unpublish: bool,
) -> Result<Option<Vec<SplitOutput>>, PipelineError> {
    let (config, plan, handle, pool) = (job.config, job.plan, job.handle, job.pool);
    let started = std::time::Instant::now();
    let phase_done = |name: &str| {
        log::debug!(
            "epoch {}: {name} done at {:.2}s",
            plan.epoch,
            started.elapsed().as_secs_f64()
        )
    };
    let documents = plan.documents.manifest();

    // 1. Route: documents shards split by partition group.
    let partitioning = Partitioning::new(documents.counts.documents_out, config.pairs.negative_pool, plan.split);
    let grouping = Grouping::new(partitioning);
    progress.begin(documents.shards.iter().map(|s| s.bytes).sum());
    let route = Route {
        documents: &plan.documents,
        grouping,
        mixture: &plan.mixture,
        exchange,
        handle,
        progress,
    };
    let routed = exchange.run_phase(&route, handle, pool)?;
    progress.end();
    let Some(routed) = routed else { return Ok(None) };
    phase_done("route");

    // 2. Map: each group's pairs, masks and ranks into a sorted, range-indexed run.
    let map = Map {
        job,
        grouping,
        routed: &routed,
        exchange,
    };
    let Some(mapped) = exchange.run_phase(&map, handle, pool)? else {
        return Ok(None);
    };
    phase_done("map");

    // 3. Reduce: balanced shards of each split in the shuffled order.
    let bins = Bins::new(&config.output.length_bins, config.pairs.max_seq_length);
    let ranges = ranges_per_bin(config.output.example_shards);
    let stream_total = |stream: usize| -> u64 {
        mapped
            .iter()
            .map(|m| m.counts[stream * ranges..(stream + 1) * ranges].iter().sum::<u64>())
            .sum()
    };
    let mut slices = Vec::new();
    for split in partitioning.splits() {
        let first = split as usize * bins.count();
        let totals: Vec<u64> = (first..first + bins.count()).map(stream_total).collect();
        slices.extend(shard_slices(
            split,
            first,
            &totals,
            plan::shards_of(config, split),
            bins.binned(),
        ));
    }
    let shard_options = ShardOptions {
        zstd_level: config.output.zstd_level,
        row_group_rows: config.output.row_group_rows as usize,
        metadata: vec![
            (SCHEMA_VERSION_KEY.to_owned(), examples::SCHEMA_VERSION.to_owned()),
            (CONFIG_HASH_KEY.to_owned(), plan.config_hash.clone()),
        ],
    };
    let writer = ExamplesWriter::new(shard_options, bins.binned());
    let streams = partitioning.sections() * bins.count();
    let reduce = Reduce::new(job, &slices, &mapped, streams, ranges, writer, exchange);
    if unpublish {
        handle.block_on(plan.manifest_location.delete())?;
    }
    let Some(written) = exchange.run_phase(&reduce, handle, pool)? else {
        return Ok(None);
    };
    phase_done("reduce");
    let outputs = partitioning
        .splits()
        .into_iter()
        .map(|split| {
            let section = split as usize;
            let sources = plan.mixture.sources();
            let source_documents: Vec<u64> = (0..sources)
                .map(|s| routed.iter().map(|r| r.source_documents[section * sources + s]).sum())
                .collect();
            let mut stats = stats::total(
                routed.iter().map(|r| r.documents[section]).sum(),
                &source_documents,
                mapped.iter().map(|m| m.stats[section].clone()),
            );
            if !plan.mixture.tracks_sources() {
                stats.sources.clear();
            }
            SplitOutput {
                split,
                shards: slices
                    .iter()
                    .zip(&written)
                    .filter(|(slice, _)| slice.split == split)
                    .map(|(_, entry)| entry.clone())
                    .collect(),
                stats,
            }
        })
        .collect();
    Ok(Some(outputs))
}
