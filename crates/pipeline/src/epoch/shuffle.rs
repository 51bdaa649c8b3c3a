//! The global shuffle: every example gets a keyed random rank, and examples are sorted by
//! (length bin, rank, key). Sorting is external: beyond the memory budget, sorted runs are
//! spilled to files and merged, so memory does not grow with the corpus.

use super::frame::{put_item, read_item};
use crate::PipelineError;
use crate::scratch::spill_error;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where an example goes in the epoch's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    /// Section of the order: the example's split (`Split as u8`; 0 without a split).
    pub section: u8,
    /// Length bin (0 without binning).
    pub bin: u8,
    /// Keyed random rank.
    pub rank: u64,
    /// The example's key (breaks rank ties).
    pub key: u64,
}

impl SortKey {
    /// Bytes of [`SortKey::to_bytes`].
    pub const BYTES: usize = 18;

    /// The key's fixed-width form, which sorts like the key only field by field.
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0u8; Self::BYTES];
        b[0] = self.section;
        b[1] = self.bin;
        b[2..10].copy_from_slice(&self.rank.to_le_bytes());
        b[10..18].copy_from_slice(&self.key.to_le_bytes());
        b
    }

    /// Reads [`SortKey::to_bytes`].
    pub fn from_bytes(b: &[u8; Self::BYTES]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        Self {
            section: b[0],
            bin: b[1],
            rank: u64_at(2),
            key: u64_at(10),
        }
    }

    /// The (section, bin) stream of the key among `bins` bins per section.
    pub fn stream(self, bins: usize) -> usize {
        usize::from(self.section) * bins + usize::from(self.bin)
    }
}

/// Sorts (key, payload) pairs within a memory budget.
pub struct ExternalSorter {
    budget: usize,
    dir: PathBuf,
    buffer: Vec<(SortKey, Vec<u8>)>,
    buffered: usize,
    runs: Vec<PathBuf>,
}

impl ExternalSorter {
    /// A sorter holding up to `budget` bytes before it spills a run into `dir`.
    pub fn new(budget: usize, dir: &Path) -> Self {
        Self {
            budget: budget.max(1),
            dir: dir.to_path_buf(),
            buffer: Vec::new(),
            buffered: 0,
            runs: Vec::new(),
        }
    }

    /// Adds an item.
    pub fn push(&mut self, key: SortKey, payload: Vec<u8>) -> Result<(), PipelineError> {
        self.buffered += payload.len() + 48;
        self.buffer.push((key, payload));
        if self.buffered >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Number of runs spilled so far.
    #[cfg(test)]
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<(), PipelineError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.buffer.sort_unstable_by_key(|(k, _)| *k);
        let path = self.dir.join(format!("run-{:05}.bin", self.runs.len()));
        let mut w = BufWriter::new(File::create(&path).map_err(|e| spill_error(&path, e))?);
        for (key, payload) in self.buffer.drain(..) {
            put_item(&mut w, key, &payload).map_err(|e| spill_error(&path, e))?;
        }
        w.flush().map_err(|e| spill_error(&path, e))?;
        self.buffered = 0;
        self.runs.push(path);
        Ok(())
    }

    /// All items in key order.
    pub fn finish(mut self) -> Result<Sorted, PipelineError> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable_by_key(|(k, _)| *k);
            return Ok(Sorted::Memory(self.buffer.into_iter()));
        }
        self.spill()?;
        let mut readers = Vec::new();
        let mut heap = BinaryHeap::new();
        for (i, path) in self.runs.iter().enumerate() {
            let mut reader = RunReader {
                path: path.clone(),
                inner: BufReader::new(File::open(path).map_err(|e| spill_error(path, e))?),
            };
            if let Some((key, payload)) = reader.next()? {
                heap.push(Reverse((key, i, payload)));
            }
            readers.push(reader);
        }
        Ok(Sorted::Merge { readers, heap })
    }
}

/// Reads one spilled run back.
pub struct RunReader {
    path: PathBuf,
    inner: BufReader<File>,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<(SortKey, Vec<u8>)>, PipelineError> {
        let item = read_item(&mut self.inner).map_err(|e| spill_error(&self.path, e))?;
        if item.is_none() {
            let _ = std::fs::remove_file(&self.path);
        }
        Ok(item)
    }
}

/// The sorted items.
pub enum Sorted {
    /// Everything fit in memory.
    Memory(std::vec::IntoIter<(SortKey, Vec<u8>)>),
    /// A k-way merge of spilled runs.
    Merge {
        /// One reader per run.
        readers: Vec<RunReader>,
        /// The smallest unread item of each run.
        heap: BinaryHeap<Reverse<(SortKey, usize, Vec<u8>)>>,
    },
}

impl Iterator for Sorted {
    type Item = Result<(SortKey, Vec<u8>), PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(items) => items.next().map(Ok),
            Sorted::Merge { readers, heap } => {
                let Reverse((key, run, payload)) = heap.pop()?;
                match readers[run].next() {
                    Ok(Some((k, p))) => heap.push(Reverse((k, run, p))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok((key, payload)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_and_in_memory_sorts_agree() {
        let dir = tempfile::tempdir().unwrap();
        let items: Vec<(SortKey, Vec<u8>)> = (0..1000u64)
            .map(|i| {
                (
                    SortKey {
                        section: (i % 2) as u8,
                        bin: (i % 3) as u8,
                        rank: maskforge_masking::mix64(i, 1),
                        key: i,
                    },
                    i.to_le_bytes().to_vec(),
                )
            })
            .collect();
        let sort = |budget: usize| {
            let mut s = ExternalSorter::new(budget, dir.path());
            for (k, p) in &items {
                s.push(*k, p.clone()).unwrap();
            }
            let runs = s.runs();
            (runs, s.finish().unwrap().map(|r| r.unwrap()).collect::<Vec<_>>())
        };
        let (runs_memory, in_memory) = sort(usize::MAX);
        let (runs_spilled, spilled) = sort(2_000);
        assert_eq!(runs_memory, 0);
        assert!(runs_spilled > 10);
        assert_eq!(in_memory, spilled);
        assert!(in_memory.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "runs are deleted once read"
        );
    }
}
