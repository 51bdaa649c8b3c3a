//! Phase 2 of an epoch: one partition group becomes one sorted run of examples. The group's
//! documents are read back from the route phase in dataset order, pairs are built and masked per
//! partition, every example gets its keyed rank, and an external sort orders them by (split,
//! length bin, rank, key). The run `runs/g-GGGGG.bin` is indexed by rank range, so a reducer reads only
//! the ranges that can hold its shard's examples.

use super::codec;
use super::exchange::{Exchange, Phase, PhaseWork};
use super::frame::{item_size, put_item};
use super::layout::{Bins, range_of, ranges_per_bin};
use super::partition::Partitions;
use super::plan::EpochJob;
use super::route::{Grouping, RouteResult, decode_routed, routed_object};
use super::shuffle::{ExternalSorter, SortKey};
use super::stats::unit_stats;
use crate::PipelineError;
use crate::scratch::spill_error;
use maskforge_masking::{Instance, MaskStats, Packer, PairSpec, PairStats, Purpose, keyed_u64, pair_instances};
use maskforge_schema::EpochStats;
use maskforge_schema::documents::Document;
use maskforge_store::Location;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

/// What one map unit produced: its statistics and the index of its run.
#[derive(Debug, Serialize, Deserialize)]
pub struct MapResult {
    /// Statistics of the group's examples per section (split); `documents_in` is counted by
    /// the route phase.
    pub stats: Vec<EpochStats>,
    /// Examples per (stream, rank range), at `stream * ranges + range`, where a stream is
    /// `section * bins + bin`.
    pub counts: Vec<u64>,
    /// Byte offset in the run of the first example of each (stream, rank range), and the
    /// run's length last.
    pub offsets: Vec<u64>,
}

/// The counts of one section (split) of a map unit.
#[derive(Default)]
struct SectionCounts {
    pairs: PairStats,
    masks: MaskStats,
    lengths: BTreeMap<u32, u64>,
    bins: Vec<u64>,
}

/// The run of group `group`.
pub fn run_object(exchange: &Exchange, group: usize) -> Location {
    exchange.object(&format!("runs/g-{group:05}.bin"))
}

/// The map phase: one unit per partition group, built into one sorted run.
pub struct Map<'a> {
    /// What the phases share.
    pub job: &'a EpochJob<'a>,
    /// Partitions and groups.
    pub grouping: Grouping,
    /// The route phase's results, per documents shard.
    pub routed: &'a [RouteResult],
    /// Where the runs go.
    pub exchange: &'a Exchange,
}

impl PhaseWork for Map<'_> {
    const PHASE: Phase = Phase::Map;
    type Output = MapResult;

    fn unit_sizes(&self) -> Vec<u64> {
        (0..self.grouping.groups)
            .map(|g| self.routed.iter().map(|r| r.group_bytes[g]).sum())
            .collect()
    }

    // Groups run side by side (each also masks on the pool), sharing the shuffle's memory.
    fn run_unit(&self, group: usize) -> Result<MapResult, PipelineError> {
        map_group(self.job, group, self.grouping, self.routed, self.exchange)
    }
}

/// Builds group `group`'s run from the routed documents.
fn map_group(
    job: &EpochJob<'_>,
    group: usize,
    grouping: Grouping,
    routed: &[RouteResult],
    exchange: &Exchange,
) -> Result<MapResult, PipelineError> {
    let config = job.config;
    let (masker, epoch) = (&job.plan.masker, job.plan.epoch);
    let spill = job.scratch.subfolder("map-")?;
    // Documents of the group, in dataset order, into their partitions.
    let partitioning = grouping.partitioning;
    let partitions = grouping.partitions_of(group);
    let mut local = Partitions::new(partitions.len(), spill.path())?;
    for (shard, route) in routed.iter().enumerate() {
        if route.group_bytes.get(group).copied().unwrap_or(0) == 0 {
            continue;
        }
        let object = routed_object(exchange, group, shard);
        let bytes = job.handle.block_on(object.read())?;
        for doc in decode_routed(&bytes, &object.url())? {
            let p = partitioning.partition_of(doc.doc_id) - partitions.start;
            local.push(doc, p)?;
        }
    }

    // Pairs, masks and ranks per partition, into the sorter.
    let bins = Bins::new(&config.output.length_bins, config.pairs.max_seq_length);
    let mut sections: Vec<SectionCounts> = (0..partitioning.sections())
        .map(|_| SectionCounts {
            bins: vec![0; bins.count()],
            ..SectionCounts::default()
        })
        .collect();
    // Up to one group per worker thread runs at a time; they share the shuffle's budget.
    let budget = config.output.shuffle_memory_mb as usize * (1 << 20) / job.pool.current_num_threads().max(1);
    let mut sorter = ExternalSorter::new(budget, spill.path());
    local.for_each(|index, docs| {
        let section = partitioning.split_of_partition(partitions.start + index) as u8;
        let counts = &mut sections[usize::from(section)];
        let instances = job.pool.install(|| {
            build_instances(
                &docs,
                &job.plan.spec.pairs,
                config.seed,
                job.plan.pair_epoch,
                masker.vocab().sep,
                &mut counts.pairs,
            )
        });
        drop(docs);
        let ranked: Vec<(SortKey, Vec<u8>, usize, MaskStats)> = job.pool.install(|| {
            instances
                .par_iter()
                .map(|inst| {
                    let mut stats = MaskStats::default();
                    let example = masker.mask_instance(inst, epoch, &mut stats);
                    let length = example.input_ids.len();
                    let bin = bins.of(length);
                    let rank = keyed_u64(config.seed, Purpose::Shuffle, epoch, example.key);
                    let mut payload = Vec::with_capacity(length * 10 + 64);
                    codec::put_example(&mut payload, &example);
                    let key = SortKey {
                        section,
                        bin,
                        rank,
                        key: example.key,
                    };
                    (key, payload, length, stats)
                })
                .collect()
        });
        for (key, payload, length, stats) in ranked {
            counts.masks.merge(&stats);
            counts.bins[key.bin as usize] += 1;
            *counts.lengths.entry((length as u32).div_ceil(64) * 64).or_default() += 1;
            sorter.push(key, payload)?;
        }
        Ok(())
    })?;

    // The sorted run, indexed by (stream, rank range), uploaded from a local file.
    let ranges = ranges_per_bin(config.output.example_shards);
    let slots = sections.len() * bins.count() * ranges;
    let mut counts = vec![0u64; slots];
    let mut offsets = Vec::with_capacity(slots + 1);
    let path = spill.path().join("run.bin");
    let io = |e| spill_error(&path, e);
    let mut out = BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let mut written = 0u64;
    for item in sorter.finish()? {
        let (key, payload) = item?;
        let slot = key.stream(bins.count()) * ranges + range_of(key.rank, ranges);
        while offsets.len() <= slot {
            offsets.push(written);
        }
        counts[slot] += 1;
        put_item(&mut out, key, &payload).map_err(io)?;
        written += item_size(payload.len());
    }
    offsets.resize(slots + 1, written);
    out.flush().map_err(io)?;
    drop(out);
    job.handle.block_on(run_object(exchange, group).write_file(&path))?;

    let stats = sections
        .iter()
        .map(|c| {
            unit_stats(
                &c.pairs,
                &c.masks,
                &c.lengths,
                bins.binned().then_some(c.bins.as_slice()),
            )
        })
        .collect();
    Ok(MapResult { stats, counts, offsets })
}

/// The pair (or packed) instances of one partition, in document order.
fn build_instances(
    docs: &[Document],
    spec: &PairSpec,
    seed: u64,
    pair_epoch: u32,
    sep: u32,
    stats: &mut PairStats,
) -> Vec<Instance> {
    let refs: Vec<_> = docs.iter().map(Document::as_ref).collect();
    if spec.task.builds_pairs() {
        let per_doc: Vec<(Vec<Instance>, PairStats)> = refs
            .par_iter()
            .map(|d| {
                let mut s = PairStats::default();
                (pair_instances(*d, &refs, spec, seed, pair_epoch, &mut s), s)
            })
            .collect();
        let mut out = Vec::new();
        for (instances, s) in per_doc {
            stats.merge(&s);
            out.extend(instances);
        }
        out
    } else {
        let mut packer = Packer::new(spec, sep);
        let mut out = Vec::new();
        for d in &refs {
            out.extend(packer.push(*d, stats));
        }
        out.extend(packer.flush(stats));
        out
    }
}
