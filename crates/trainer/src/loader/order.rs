//! The sample order of one training epoch and its split over ranks.
//!
//! Shards are grouped into streams, one per length bin (one stream without bins). Within a
//! stream the shards come in a keyed random order and each shard's rows in a keyed random
//! permutation, both keyed on (seed, epoch): the stream order is a pure function of the dataset,
//! the seed and the epoch. Step `t` takes the next `global_batch` positions of one stream (the
//! only stream, or one drawn with probability proportional to what is left, keyed on
//! (seed, epoch, t), so every rank draws the same); rank `r` of `w` gets the positions `r`,
//! `r + w`, `r + 2w`, ... of that slice. Over all ranks every example comes exactly once.

use maskforge_masking::{KeyedRng, Purpose, mix64};
use maskforge_schema::ShardEntry;

/// One stream: the shards of one length bin in their keyed order.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Manifest indices of the shards, in stream order.
    pub shards: Vec<usize>,
    /// Stream position of each shard's first row, and the stream length last.
    pub starts: Vec<u64>,
}

impl Stream {
    /// Examples in the stream.
    pub fn len(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Whether the stream has no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard (position in `shards`) holding stream position `p`.
    pub fn shard_at(&self, p: u64) -> usize {
        self.starts.partition_point(|&s| s <= p) - 1
    }
}

/// What one step reads: a slice of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSlice {
    /// The stream.
    pub stream: usize,
    /// First stream position of the step.
    pub first: u64,
    /// Positions in the step (all ranks together).
    pub len: u64,
}

/// The order of one epoch: streams and the per-step choice of stream.
#[derive(Debug, Clone)]
pub struct SampleOrder {
    seed: u64,
    epoch: u32,
    global_batch: u64,
    streams: Vec<Stream>,
    /// Next unread position of each stream.
    cursors: Vec<u64>,
    /// Steps planned so far.
    step: u64,
}

impl SampleOrder {
    /// The order of `shards` (manifest entries; `held_out` indices left out) for `epoch`.
    pub fn new(shards: &[ShardEntry], held_out: &[usize], seed: u64, epoch: u32, global_batch: usize) -> Self {
        let mut bins: Vec<Option<u8>> = shards.iter().map(|s| s.bin).collect();
        bins.sort();
        bins.dedup();
        let streams = bins
            .iter()
            .map(|&bin| {
                let mut members: Vec<usize> = (0..shards.len())
                    .filter(|i| shards[*i].bin == bin && !held_out.contains(i))
                    .collect();
                let bin_key = bin.map_or(u64::MAX, u64::from);
                KeyedRng::new(seed, Purpose::LoaderOrder, epoch, mix64(bin_key, 0)).shuffle(&mut members);
                let mut starts = vec![0];
                for &i in &members {
                    starts.push(starts.last().copied().unwrap_or(0) + shards[i].rows);
                }
                Stream {
                    shards: members,
                    starts,
                }
            })
            .collect::<Vec<_>>();
        let cursors = vec![0; streams.len()];
        Self {
            seed,
            epoch,
            global_batch: global_batch.max(1) as u64,
            streams,
            cursors,
            step: 0,
        }
    }

    /// The streams.
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    /// Steps planned so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Plans the next step, `None` at the end of the epoch.
    pub fn next_step(&mut self) -> Option<StepSlice> {
        let remaining: Vec<u64> = self
            .streams
            .iter()
            .zip(&self.cursors)
            .map(|(s, c)| s.len() - c)
            .collect();
        if remaining.iter().all(|&r| r == 0) {
            return None;
        }
        let stream = if remaining.len() == 1 {
            0
        } else {
            let weights: Vec<f64> = remaining.iter().map(|&r| r as f64).collect();
            KeyedRng::new(self.seed, Purpose::LoaderBin, self.epoch, self.step).weighted(&weights)
        };
        let first = self.cursors[stream];
        let len = self.global_batch.min(remaining[stream]);
        self.cursors[stream] += len;
        self.step += 1;
        Some(StepSlice { stream, first, len })
    }

    /// The positions of `slice` that rank `rank` of `world_size` reads, in order.
    pub fn rank_positions(slice: StepSlice, rank: usize, world_size: usize) -> impl Iterator<Item = u64> {
        (rank as u64..slice.len)
            .step_by(world_size.max(1))
            .map(move |i| slice.first + i)
    }

    /// The keyed permutation of the rows of manifest shard `shard` with `rows` rows: entry `i`
    /// is the file row at stream offset `i` within the shard.
    pub fn row_permutation(&self, shard: usize, rows: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..rows).collect();
        KeyedRng::new(self.seed, Purpose::LoaderOrder, self.epoch, mix64(shard as u64, 1)).shuffle(&mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(rows: &[(u64, Option<u8>)]) -> Vec<ShardEntry> {
        rows.iter()
            .enumerate()
            .map(|(i, &(rows, bin))| ShardEntry {
                path: format!("part-{i}"),
                rows,
                bytes: 0,
                sha256: String::new(),
                bin,
                source: None,
            })
            .collect()
    }

    #[test]
    fn ranks_split_every_step_and_cover_each_position_once() {
        let entries = shards(&[(7, Some(0)), (5, Some(0)), (9, Some(1)), (0, Some(2))]);
        for world in 1..=3 {
            let mut order = SampleOrder::new(&entries, &[], 3, 1, 6);
            let mut seen = std::collections::BTreeSet::new();
            while let Some(slice) = order.next_step() {
                for rank in 0..world {
                    for p in SampleOrder::rank_positions(slice, rank, world) {
                        assert!(seen.insert((slice.stream, p)), "position read twice");
                    }
                }
            }
            assert_eq!(seen.len(), 21);
        }
    }

    #[test]
    fn the_order_depends_on_seed_and_epoch_only() {
        let entries = shards(&[(4, None), (4, None), (4, None)]);
        let plan = |seed, epoch| {
            let order = SampleOrder::new(&entries, &[1], seed, epoch, 2);
            (order.streams()[0].shards.clone(), order.row_permutation(0, 4))
        };
        assert_eq!(plan(1, 0), plan(1, 0));
        assert_eq!(plan(1, 0).0.len(), 2, "the held-out shard is left out");
        assert!((0..8).any(|e| plan(1, e) != plan(1, 0)), "epochs reorder");
    }
}
