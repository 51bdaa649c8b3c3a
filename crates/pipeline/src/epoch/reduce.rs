//! Phase 3 of an epoch: one output shard from the map runs. Shard k of a bin holds a known
//! interval of the bin's global order (balanced sizes); the summed range counts of all runs
//! say which rank ranges hold that interval, so the reducer reads those byte ranges of every
//! run, merges them by (rank, key) and keeps the interval.

use super::map::{MapResult, run_object};
use super::shuffle::{SortKey, items};
use super::writer::{ExamplesWriter, Placed};
use super::{EpochJob, codec};
use crate::PipelineError;
use maskforge_schema::ShardEntry;
use maskforge_store::Location;

/// One output shard: where it goes and which interval of its bin's order it holds.
#[derive(Debug, Clone)]
pub struct ShardJob {
    /// Path inside the examples dataset.
    pub path: String,
    /// Length bin (`None` without binning).
    pub bin: Option<u8>,
    /// Index of the bin (0 without binning).
    pub bin_index: usize,
    /// Position within the bin of the shard's first example.
    pub first: u64,
    /// Examples in the shard.
    pub rows: u64,
    /// Global position (`example_id`) of the shard's first example.
    pub first_example_id: u64,
}

/// The global order's positions where each (bin, rank range) starts, from all map results.
pub struct RangeStarts {
    ranges: usize,
    /// Per bin: `ranges + 1` starting positions within the bin.
    starts: Vec<Vec<u64>>,
}

impl RangeStarts {
    /// Sums the counts of every map result.
    pub fn new(results: &[MapResult], bins: usize, ranges: usize) -> Self {
        let starts = (0..bins)
            .map(|b| {
                let mut starts = Vec::with_capacity(ranges + 1);
                let mut total = 0u64;
                for r in 0..ranges {
                    starts.push(total);
                    total += results.iter().map(|m| m.counts[b * ranges + r]).sum::<u64>();
                }
                starts.push(total);
                starts
            })
            .collect();
        Self { ranges, starts }
    }

    /// The ranges of `bin` that hold positions `first..first + rows` (rows > 0).
    fn covering(&self, bin: usize, first: u64, rows: u64) -> std::ops::RangeInclusive<usize> {
        let starts = &self.starts[bin];
        let holding = |position: u64| (0..self.ranges).find(|&r| starts[r + 1] > position).unwrap_or(0);
        holding(first)..=holding(first + rows - 1)
    }
}

/// Builds shard `job` from the runs and writes it into `dataset`.
pub fn reduce_shard(
    job: &EpochJob<'_>,
    shard: &ShardJob,
    results: &[MapResult],
    starts: &RangeStarts,
    writer: &ExamplesWriter,
    runs: &[Location],
    dataset: &Location,
) -> Result<ShardEntry, PipelineError> {
    let mut placed = Vec::with_capacity(shard.rows as usize);
    if shard.rows > 0 {
        let covering = starts.covering(shard.bin_index, shard.first, shard.rows);
        let skip = shard.first - starts.starts[shard.bin_index][*covering.start()];
        let (lo, hi) = (
            shard.bin_index * starts.ranges + covering.start(),
            shard.bin_index * starts.ranges + covering.end() + 1,
        );
        let mut chunks = Vec::new();
        for (result, run) in results.iter().zip(runs) {
            let range = result.offsets[lo]..result.offsets[hi];
            if !range.is_empty() {
                chunks.push((run.url(), job.handle.block_on(run.read_range(range))?));
            }
        }
        let mut merged: Vec<(SortKey, &[u8])> = Vec::new();
        for (url, bytes) in &chunks {
            merged.extend(
                items(bytes).ok_or_else(|| PipelineError::Internal(format!("exchange object {url} is damaged")))?,
            );
        }
        merged.sort_by_key(|(key, _)| *key);
        for (i, (key, payload)) in merged
            .into_iter()
            .skip(skip as usize)
            .take(shard.rows as usize)
            .enumerate()
        {
            let example = codec::get_example(&mut codec::Reader::new(payload))
                .ok_or_else(|| PipelineError::Internal("an exchanged example cannot be decoded".into()))?;
            placed.push(Placed {
                example_id: shard.first_example_id + i as u64,
                bin: key.bin,
                example,
            });
        }
        if placed.len() as u64 != shard.rows {
            return Err(PipelineError::Internal(format!(
                "shard {} got {} of its {} examples from the runs",
                shard.path,
                placed.len(),
                shard.rows
            )));
        }
    }
    let (entry, bytes) = writer.encode(&shard.path, shard.bin, &placed)?;
    job.handle.block_on(dataset.join(&entry.path).write(bytes))?;
    Ok(entry)
}

/// The run of every group, in group order.
pub fn runs(exchange: &super::exchange::Exchange, groups: usize) -> Vec<Location> {
    (0..groups).map(|g| run_object(exchange, g)).collect()
}
