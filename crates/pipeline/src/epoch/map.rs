//! Phase 2 of an epoch: one partition group becomes one sorted run of examples. The group's
//! documents are read back from the route phase in dataset order, pairs are built and masked per
//! partition (each drawn copy of a document on its own keys), every example gets its keyed rank, and an external sort orders them by (split,
//! length bin, rank, key). The run `runs/g-GGGGG.bin` is indexed by rank range, so a reducer reads only
//! the ranges that can hold its shard's examples.

use super::codec;
use super::exchange::{Exchange, Phase, PhaseWork};
use super::frame::{item_size, put_item};
use super::layout::{Bins, range_of, ranges_per_bin};
use super::mixture::Drawn;
use super::partition::Partitions;
use super::plan::EpochJob;
use super::route::{Grouping, RouteResult, decode_routed, routed_object};
use super::shuffle::{ExternalSorter, SortKey};
use super::stats::unit_stats;
use crate::PipelineError;
use crate::scratch::spill_error;
use maskforge_masking::{
    DocumentRef, Instance, MaskStats, Packer, PairSpec, PairStats, Purpose, keyed_u64, pair_instances,
};
use maskforge_schema::{EpochStats, SourceStats};
use maskforge_store::Location;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    /// Per source: copies drawn, examples and tokens (`documents` is counted by the route phase).
    sources: Vec<SourceStats>,
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
    let (masker, epoch, mixture) = (&job.plan.masker, job.plan.epoch, &job.plan.mixture);
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
            let p = partitioning.partition_of(doc.doc.doc_id) - partitions.start;
            local.push(doc, p)?;
        }
    }

    // Pairs, masks and ranks per partition, into the sorter.
    let bins = Bins::new(&config.output.length_bins, config.pairs.max_seq_length);
    let mut sections: Vec<SectionCounts> = (0..partitioning.sections())
        .map(|_| SectionCounts {
            bins: vec![0; bins.count()],
            sources: mixture
                .weights()
                .iter()
                .map(|&weight| SourceStats {
                    weight,
                    ..SourceStats::default()
                })
                .collect(),
            ..SectionCounts::default()
        })
        .collect();
    // Up to one group per worker thread runs at a time; they share the shuffle's budget.
    let budget = config.output.shuffle_memory_mb as usize * (1 << 20) / job.pool.current_num_threads().max(1);
    let mut sorter = ExternalSorter::new(budget, spill.path());
    local.for_each(|index, docs| {
        let section = partitioning.split_of_partition(partitions.start + index) as u8;
        let counts = &mut sections[usize::from(section)];
        let source_of: HashMap<u64, u32> = docs.iter().map(|d| (d.doc.doc_id, d.source)).collect();
        for d in &docs {
            counts.sources[d.source as usize].drawn += u64::from(d.copies);
        }
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
        let ranked: Vec<(SortKey, Vec<u8>, usize, MaskStats, u32)> = job.pool.install(|| {
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
                    let source = source_of.get(&inst.doc_id).copied().unwrap_or(0);
                    (key, payload, length, stats, source)
                })
                .collect()
        });
        for (key, payload, length, stats, source) in ranked {
            let of_source = &mut counts.sources[source as usize];
            of_source.examples += 1;
            of_source.tokens += length as u64;
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
            let mut stats = unit_stats(
                &c.pairs,
                &c.masks,
                &c.lengths,
                bins.binned().then_some(c.bins.as_slice()),
            );
            stats.sources = c.sources.clone();
            stats
        })
        .collect();
    Ok(MapResult { stats, counts, offsets })
}

/// The pair (or packed) instances of one partition's drawn copies: the first copies in document
/// order, then the second ones, and so on, so that a packed sequence never holds a document
/// next to its own copy (and NSP never draws a copy of a document as its negative).
fn build_instances(
    docs: &[Drawn],
    spec: &PairSpec,
    seed: u64,
    pair_epoch: u32,
    sep: u32,
    stats: &mut PairStats,
) -> Vec<Instance> {
    let most = docs.iter().map(|d| d.copies).max().unwrap_or(0);
    let refs: Vec<DocumentRef<'_>> = (0..most)
        .flat_map(|copy| {
            docs.iter()
                .filter(move |d| d.copies > copy)
                .map(move |d| DocumentRef { copy, ..d.doc.as_ref() })
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use maskforge_masking::{PairTask, SingleSentencePolicy};
    use maskforge_schema::documents::Document;

    fn drawn(doc_id: u64, copies: u32) -> Drawn {
        Drawn {
            doc: Document {
                doc_id,
                input_ids: vec![10 + doc_id as u32; 3],
                sentence_ends: vec![3],
                word_starts: vec![true; 3],
                text: String::new(),
            },
            source: 0,
            copies,
        }
    }

    #[test]
    fn copies_follow_all_first_copies_so_a_packed_sequence_never_repeats_its_document() {
        let spec = PairSpec {
            task: PairTask::FullSentences,
            max_seq_length: 10,
            short_seq_prob: 0.0,
            single_sentence: SingleSentencePolicy::Strict,
            cls_token: "[CLS]".into(),
            sep_token: "[SEP]".into(),
        };
        let docs = [drawn(1, 2), drawn(2, 0), drawn(3, 1), drawn(4, 3)];
        let mut stats = PairStats::default();
        let instances = build_instances(&docs, &spec, 7, 0, 99, &mut stats);
        // Order of the copies: 1, 3, 4 (first copies), 1, 4 (second), 4 (third); two
        // three-token documents and a separator fit an eight-token sequence, and the third copy
        // of 4 starts a sequence of its own rather than join the second.
        let starts: Vec<(u64, u32)> = instances.iter().map(|i| (i.doc_id, i.copy)).collect();
        assert_eq!(starts, [(1, 0), (4, 0), (4, 1), (4, 2)]);
        for instance in &instances {
            let ids = &instance.a.ids;
            let docs_in: Vec<u32> = ids.iter().copied().filter(|&t| t != 99).step_by(3).collect();
            let distinct: std::collections::BTreeSet<u32> = docs_in.iter().copied().collect();
            assert_eq!(distinct.len(), docs_in.len(), "{ids:?} holds one document twice");
        }
        assert!(instances.iter().all(|i| !i.a.ids.is_empty()));
        assert!(
            !instances.iter().any(|i| i.doc_id == 2),
            "a document drawn 0 times is not used"
        );
    }
}
