//! Phase 3 of an epoch: one output shard from the map runs. Shard k of a stream (a length bin
//! of a split) holds a known interval of the stream's order (balanced sizes); the summed range
//! counts of all runs say which rank ranges hold that interval, so the reducer reads those byte
//! ranges of every run, merges them by (rank, key) and keeps the interval.

use super::codec;
use super::exchange::{Exchange, Phase, PhaseWork};
use super::frame::parse_item;
use super::layout::ShardSlice;
use super::map::{MapResult, run_object};
use super::plan::EpochJob;
use super::shuffle::SortKey;
use super::writer::ExamplesWriter;
use crate::PipelineError;
use maskforge_schema::ShardEntry;
use maskforge_schema::examples::Example;
use maskforge_store::Location;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The reduce phase: one unit per output shard, merged from the runs.
pub struct Reduce<'a> {
    /// What the phases share.
    pub job: &'a EpochJob<'a>,
    /// The output shards.
    pub slices: &'a [ShardSlice],
    /// The map phase's results, per group.
    pub mapped: &'a [MapResult],
    /// Where each (stream, rank range) starts in its stream's order.
    pub starts: RangeStarts,
    /// Encodes the shards.
    pub writer: ExamplesWriter,
    /// The runs, per group.
    pub runs: Vec<Location>,
}

impl<'a> Reduce<'a> {
    /// The reduce phase of `slices` from the map results, with the runs in `exchange`.
    pub fn new(
        job: &'a EpochJob<'a>,
        slices: &'a [ShardSlice],
        mapped: &'a [MapResult],
        streams: usize,
        ranges: usize,
        writer: ExamplesWriter,
        exchange: &Exchange,
    ) -> Self {
        Self {
            job,
            slices,
            mapped,
            starts: RangeStarts::new(mapped, streams, ranges),
            writer,
            runs: (0..mapped.len()).map(|g| run_object(exchange, g)).collect(),
        }
    }
}

impl PhaseWork for Reduce<'_> {
    const PHASE: Phase = Phase::Reduce;
    type Output = ShardEntry;

    fn unit_sizes(&self) -> Vec<u64> {
        self.slices.iter().map(|s| s.rows).collect()
    }

    fn run_unit(&self, unit: usize) -> Result<ShardEntry, PipelineError> {
        self.reduce_shard(&self.slices[unit])
    }
}

/// The positions where each (stream, rank range) starts in its stream's order, from all map
/// results.
pub struct RangeStarts {
    ranges: usize,
    /// Per stream: `ranges + 1` starting positions within the stream.
    starts: Vec<Vec<u64>>,
}

impl RangeStarts {
    /// Sums the counts of every map result.
    pub fn new(results: &[MapResult], streams: usize, ranges: usize) -> Self {
        let starts = (0..streams)
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

    /// The ranges of `stream` that hold positions `first..first + rows` (rows > 0).
    fn covering(&self, stream: usize, first: u64, rows: u64) -> std::ops::RangeInclusive<usize> {
        let starts = &self.starts[stream];
        let holding = |position: u64| (0..self.ranges).find(|&r| starts[r + 1] > position).unwrap_or(0);
        holding(first)..=holding(first + rows - 1)
    }
}

impl Reduce<'_> {
    /// Builds shard `shard` from the runs and writes it into the dataset. The runs' ranges are
    /// merged lazily, a window at a time, and the shard is encoded a row group at a time into a
    /// scratch file, so memory does not grow with the shard.
    fn reduce_shard(&self, shard: &ShardSlice) -> Result<ShardEntry, PipelineError> {
        let (job, starts, results) = (self.job, &self.starts, self.mapped);
        let task = job.plan.spec.pairs.task;
        let mut cursors = Vec::new();
        let mut skip = 0;
        if shard.rows > 0 {
            let covering = starts.covering(shard.stream, shard.first, shard.rows);
            skip = shard.first - starts.starts[shard.stream][*covering.start()];
            let (lo, hi) = (
                shard.stream * starts.ranges + covering.start(),
                shard.stream * starts.ranges + covering.end() + 1,
            );
            let holding = results.iter().filter(|r| r.offsets[hi] > r.offsets[lo]).count();
            let window = (WINDOW_BUDGET / holding.max(1)).max(MIN_WINDOW);
            for (result, run) in results.iter().zip(&self.runs) {
                let range = result.offsets[lo]..result.offsets[hi];
                if !range.is_empty() {
                    cursors.push(RangeItems::new(run, range, window, job.handle));
                }
            }
        }
        let mut merge = Merge::new(cursors)?;
        for _ in 0..skip {
            if merge.next().transpose()?.is_none() {
                break;
            }
        }
        let mut taken = 0u64;
        let rows = std::iter::from_fn(|| {
            if taken == shard.rows {
                return None;
            }
            taken += 1;
            let (key, payload) = match merge.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            Some(
                codec::get_example(&mut codec::Reader::new(&payload))
                    .ok_or_else(|| PipelineError::Internal("an exchanged example cannot be decoded".into()))
                    .map(|example| Example::placed(example, shard.first_example_id + taken - 1, key.bin, task)),
            )
        });
        let spill = job.scratch.subfolder("reduce-")?;
        let file = spill.path().join("shard.parquet");
        let entry = self.writer.encode_to_file(&shard.path, shard.bin, rows, &file)?;
        if entry.rows != shard.rows {
            return Err(PipelineError::Internal(format!(
                "shard {} got {} of its {} examples from the runs",
                shard.path, entry.rows, shard.rows
            )));
        }
        job.handle
            .block_on(job.plan.dataset.join(&entry.path).write_file(&file))?;
        Ok(entry)
    }
}

/// Bytes of run windows one reducer holds at most (split over the runs it reads).
const WINDOW_BUDGET: usize = 4 << 20;
/// The smallest window read from a run.
const MIN_WINDOW: usize = 64 << 10;

/// The items of one byte range of a run, read a window at a time.
struct RangeItems<'a> {
    run: &'a Location,
    handle: &'a tokio::runtime::Handle,
    /// Next byte of the range to read, and its end.
    next: u64,
    end: u64,
    window: usize,
    buffer: Vec<u8>,
    /// Start of the unparsed bytes in `buffer`.
    at: usize,
}

impl<'a> RangeItems<'a> {
    fn new(run: &'a Location, range: std::ops::Range<u64>, window: usize, handle: &'a tokio::runtime::Handle) -> Self {
        Self {
            run,
            handle,
            next: range.start,
            end: range.end,
            window,
            buffer: Vec::new(),
            at: 0,
        }
    }

    fn damaged(&self) -> PipelineError {
        PipelineError::Internal(format!("exchange object {} is damaged", self.run.url()))
    }

    /// The next item, `None` at the end of the range.
    fn next_item(&mut self) -> Result<Option<(SortKey, Vec<u8>)>, PipelineError> {
        loop {
            let unread = &self.buffer[self.at..];
            let needed = match parse_item(unread) {
                Ok((key, payload, size)) => {
                    let item = (key, payload.to_vec());
                    self.at += size;
                    return Ok(Some(item));
                }
                Err(needed) => needed,
            };
            if self.next >= self.end {
                return if unread.is_empty() {
                    Ok(None)
                } else {
                    Err(self.damaged())
                };
            }
            self.buffer.drain(..self.at);
            self.at = 0;
            let want = (self.window.max(needed - self.buffer.len()) as u64).min(self.end - self.next);
            let bytes = self.handle.block_on(self.run.read_range(self.next..self.next + want))?;
            if bytes.len() as u64 != want {
                return Err(self.damaged());
            }
            self.buffer.extend_from_slice(&bytes);
            self.next += want;
        }
    }
}

/// A k-way merge of run ranges by sort key.
struct Merge<'a> {
    cursors: Vec<RangeItems<'a>>,
    heap: BinaryHeap<Reverse<(SortKey, usize, Vec<u8>)>>,
}

impl<'a> Merge<'a> {
    fn new(mut cursors: Vec<RangeItems<'a>>) -> Result<Self, PipelineError> {
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (i, cursor) in cursors.iter_mut().enumerate() {
            if let Some((key, payload)) = cursor.next_item()? {
                heap.push(Reverse((key, i, payload)));
            }
        }
        Ok(Self { cursors, heap })
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<(SortKey, Vec<u8>), PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((key, i, payload)) = self.heap.pop()?;
        match self.cursors[i].next_item() {
            Ok(Some((k, p))) => self.heap.push(Reverse((k, i, p))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok((key, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch::frame::put_item;

    /// Items written like a map run, read back through windows far smaller than one item.
    #[test]
    fn ranges_read_in_small_windows_merge_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = crate::dataset::io_runtime().unwrap();
        let handle = runtime.handle().clone();
        let mut runs = Vec::new();
        let mut expected = Vec::new();
        for run in 0..3u64 {
            let mut items: Vec<(SortKey, Vec<u8>)> = (0..50u64)
                .map(|i| {
                    let key = SortKey {
                        section: (i % 2) as u8,
                        bin: 0,
                        rank: maskforge_masking::mix64(run * 100 + i, 3),
                        key: run * 100 + i,
                    };
                    (key, vec![(i % 251) as u8; 1 + (i as usize * 37) % 300])
                })
                .collect();
            items.sort_by_key(|(k, _)| *k);
            let mut bytes = Vec::new();
            for (key, payload) in &items {
                put_item(&mut bytes, *key, payload).unwrap();
            }
            let path = dir.path().join(format!("run-{run}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            runs.push((Location::parse(&path.to_string_lossy()).unwrap(), bytes.len() as u64));
            expected.extend(items);
        }
        expected.sort_by_key(|(k, _)| *k);
        for window in [1, 7, 21, 500, 1 << 20] {
            let cursors = runs
                .iter()
                .map(|(location, len)| RangeItems::new(location, 0..*len, window, &handle))
                .collect();
            let merged: Vec<(SortKey, Vec<u8>)> = Merge::new(cursors).unwrap().map(|r| r.unwrap()).collect();
            assert_eq!(merged, expected, "window {window}");
        }
        // A range cut inside an item is damage, not a shorter run.
        let (location, len) = &runs[0];
        let mut cut = RangeItems::new(location, 0..len - 3, 64, &handle);
        let mut failed = false;
        loop {
            match cut.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    assert!(e.to_string().contains("damaged"), "{e}");
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "a cut range must fail");
    }
}
