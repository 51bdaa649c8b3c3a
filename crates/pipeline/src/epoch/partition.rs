//! Data-defined partitions of the corpus for pair building: a document's partition is a hash of
//! its id, and NSP negatives are drawn within it. A map unit holds one or more partitions: with
//! one, everything stays in memory; with more, documents are spilled to one file per partition
//! and read back one at a time, so memory holds one partition (about `pairs.negative_pool`
//! documents).

use super::codec::{Reader, get_document, put_document};
use super::frame::{put_record, records};
use crate::PipelineError;
use crate::scratch::spill_error;
use maskforge_masking::mix64;
use maskforge_schema::documents::Document;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

/// Where documents go until their partition is processed.
pub enum Partitions {
    /// One partition, kept in memory.
    Memory(Vec<Document>),
    /// One spill file per partition.
    Spilled {
        /// The files.
        paths: Vec<PathBuf>,
        /// Their writers while filling.
        writers: Vec<BufWriter<File>>,
    },
}

/// The number of partitions for `documents` documents with at least `pool` per partition.
pub fn partition_count(documents: u64, pool: u32) -> usize {
    (documents / u64::from(pool.max(1))).max(1) as usize
}

/// The partition of a document: a hash of its id, independent of where it was read.
pub fn partition_of(doc_id: u64, count: usize) -> usize {
    (mix64(doc_id, 0x7061_7274) % count as u64) as usize
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
    pub fn push(&mut self, doc: Document, p: usize) -> Result<(), PipelineError> {
        match self {
            Self::Memory(docs) => docs.push(doc),
            Self::Spilled { paths, writers } => {
                let mut record = Vec::new();
                put_document(&mut record, &doc);
                put_record(&mut writers[p], &record).map_err(|e| spill_error(&paths[p], e))?;
            }
        }
        Ok(())
    }

    /// Finishes writing and returns the documents of each partition in turn through `each`.
    pub fn for_each(
        self,
        mut each: impl FnMut(Vec<Document>) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Memory(docs) => each(docs),
            Self::Spilled { paths, writers } => {
                for (w, p) in writers.into_iter().zip(&paths) {
                    w.into_inner()
                        .map_err(|e| spill_error(p, e.into_error()))?
                        .sync_all()
                        .map_err(|e| spill_error(p, e))?;
                }
                for path in &paths {
                    let mut bytes = Vec::new();
                    File::open(path)
                        .and_then(|mut f| f.read_to_end(&mut bytes))
                        .map_err(|e| spill_error(path, e))?;
                    let damaged = || spill_error(path, std::io::ErrorKind::InvalidData.into());
                    let docs = records(&bytes)
                        .map(|record| {
                            get_document(&mut Reader::new(record.map_err(|_| damaged())?)).ok_or_else(damaged)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    drop(bytes);
                    std::fs::remove_file(path).map_err(|e| spill_error(path, e))?;
                    each(docs)?;
                }
                Ok(())
            }
        }
    }
}
