//! Data-defined partitions of the corpus for pair building: a document's partition is a hash of
//! its id within its split, and NSP negatives are drawn within it. A map unit holds one or more partitions: with
//! one, everything stays in memory; with more, documents are spilled to one file per partition
//! and read back one at a time, so memory holds one partition (about `pairs.negative_pool`
//! documents).

use super::codec::{Reader, get_drawn, put_drawn};
use super::frame::{put_record, records};
use super::mixture::Drawn;
use crate::PipelineError;
use crate::scratch::spill_error;
use maskforge_masking::mix64;
use maskforge_schema::{Split, SplitSpec};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

/// Where documents go until their partition is processed.
pub enum Partitions {
    /// One partition, kept in memory.
    Memory(Vec<Drawn>),
    /// One spill file per partition.
    Spilled {
        /// The files.
        paths: Vec<PathBuf>,
        /// Their writers while filling.
        writers: Vec<BufWriter<File>>,
    },
}

/// How documents map to partitions. Each split (train, validation, test) has partitions of
/// its own, so pair building and packing never mix documents of two splits; within a split a
/// document's partition is a hash of its id, independent of where it was read.
#[derive(Debug, Clone, Copy)]
pub struct Partitioning {
    /// The split rule (`None`: every document is train).
    split: Option<SplitSpec>,
    /// Partitions per split, indexed by `Split as usize` (0 for a split that is not made).
    counts: [usize; 3],
}

impl Partitioning {
    /// The partitioning of `documents` documents with about `pool` per partition, split by
    /// `split`. A split's partition count comes from its expected share of the documents, so
    /// it is fixed by the documents manifest and the configuration.
    pub fn new(documents: u64, pool: u32, split: Option<SplitSpec>) -> Self {
        let per = |n: u64| (n / u64::from(pool.max(1))).max(1) as usize;
        let counts = match split {
            None => [per(documents), 0, 0],
            Some(spec) => {
                let share = |fraction: f64| (documents as f64 * fraction) as u64;
                let (validation, test) = (share(spec.validation_fraction), share(spec.test_fraction));
                let train = documents.saturating_sub(validation + test);
                let made = |fraction: f64, n: u64| if fraction > 0.0 { per(n) } else { 0 };
                [
                    per(train),
                    made(spec.validation_fraction, validation),
                    made(spec.test_fraction, test),
                ]
            }
        };
        Self { split, counts }
    }

    /// Partitions in all.
    pub fn count(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Sections of the epoch's order: one per split when the documents are split (also for a
    /// split that is not made, whose section stays empty), else one. An example's section is
    /// `Split as usize`.
    pub fn sections(&self) -> usize {
        if self.split.is_some() { 3 } else { 1 }
    }

    /// The splits made, in manifest order.
    pub fn splits(&self) -> Vec<Split> {
        Split::ALL
            .into_iter()
            .filter(|s| self.counts[*s as usize] > 0)
            .collect()
    }

    /// The split of a document and its partition (one hash of the split rule per call).
    pub fn place(&self, doc_id: u64) -> (Split, usize) {
        let split = self.split.map_or(Split::Train, |spec| spec.split_of(doc_id));
        let first: usize = self.counts[..split as usize].iter().sum();
        let within = mix64(doc_id, 0x7061_7274) % self.counts[split as usize] as u64;
        (split, first + within as usize)
    }

    /// The partition of a document.
    pub fn partition_of(&self, doc_id: u64) -> usize {
        self.place(doc_id).1
    }

    /// The split whose documents partition `partition` holds.
    pub fn split_of_partition(&self, partition: usize) -> Split {
        let mut end = 0;
        for split in Split::ALL {
            end += self.counts[split as usize];
            if partition < end {
                return split;
            }
        }
        Split::Train
    }
}

impl Partitions {
    /// `count` partitions, spilled under `dir` when more than one.
    pub fn new(count: usize, dir: &Path) -> Result<Self, PipelineError> {
        if count <= 1 {
            return Ok(Self::Memory(Vec::new()));
        }
        let paths: Vec<PathBuf> = (0..count).map(|p| dir.join(format!("partition-{p:05}.bin"))).collect();
        let writers = paths
            .iter()
            .map(|p| File::create(p).map(BufWriter::new).map_err(|e| spill_error(p, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self::Spilled { paths, writers })
    }

    /// Adds a document to partition `p` of this set (documents keep their order within a
    /// partition).
    pub fn push(&mut self, doc: Drawn, p: usize) -> Result<(), PipelineError> {
        match self {
            Self::Memory(docs) => docs.push(doc),
            Self::Spilled { paths, writers } => {
                let mut record = Vec::new();
                put_drawn(&mut record, &doc);
                put_record(&mut writers[p], &record).map_err(|e| spill_error(&paths[p], e))?;
            }
        }
        Ok(())
    }

    /// Finishes writing and returns the documents of each partition in turn through `each`,
    /// with the partition's index in this set.
    pub fn for_each(
        self,
        mut each: impl FnMut(usize, Vec<Drawn>) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Memory(docs) => each(0, docs),
            Self::Spilled { paths, writers } => {
                for (w, p) in writers.into_iter().zip(&paths) {
                    w.into_inner()
                        .map_err(|e| spill_error(p, e.into_error()))?
                        .sync_all()
                        .map_err(|e| spill_error(p, e))?;
                }
                for (index, path) in paths.iter().enumerate() {
                    let mut bytes = Vec::new();
                    File::open(path)
                        .and_then(|mut f| f.read_to_end(&mut bytes))
                        .map_err(|e| spill_error(path, e))?;
                    let damaged = || spill_error(path, std::io::ErrorKind::InvalidData.into());
                    let docs = records(&bytes)
                        .map(|record| get_drawn(&mut Reader::new(record.map_err(|_| damaged())?)).ok_or_else(damaged))
                        .collect::<Result<Vec<_>, _>>()?;
                    drop(bytes);
                    std::fs::remove_file(path).map_err(|e| spill_error(path, e))?;
                    each(index, docs)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(validation_fraction: f64, test_fraction: f64) -> SplitSpec {
        SplitSpec {
            seed: 7,
            validation_fraction,
            test_fraction,
        }
    }

    #[test]
    fn without_a_split_every_document_is_train_as_before() {
        let p = Partitioning::new(10_000, 1000, None);
        assert_eq!((p.count(), p.sections(), p.splits()), (10, 1, vec![Split::Train]));
        for id in 0..1000u64 {
            assert_eq!(p.partition_of(id), (mix64(id, 0x7061_7274) % 10) as usize);
        }
    }

    #[test]
    fn each_partition_holds_documents_of_one_split() {
        let p = Partitioning::new(100_000, 1000, Some(spec(0.1, 0.05)));
        assert_eq!(p.counts, [85, 10, 5]);
        assert_eq!(p.splits(), Split::ALL);
        let mut seen = [0u64; 3];
        for id in 0..100_000u64 {
            let (split, partition) = p.place(id);
            assert_eq!(p.split_of_partition(partition), split, "document {id}");
            seen[split as usize] += 1;
        }
        // The keyed split follows the fractions (within a few standard deviations).
        assert!((9_000..11_000).contains(&seen[1]), "{seen:?}");
        assert!((4_300..5_700).contains(&seen[2]), "{seen:?}");
        let only_validation = Partitioning::new(50, 1000, Some(spec(0.2, 0.0)));
        assert_eq!(only_validation.splits(), [Split::Train, Split::Validation]);
        assert_eq!(only_validation.sections(), 3);
    }
}
