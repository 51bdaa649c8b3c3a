//! Phase 1 of an epoch: each documents shard is split by partition group. Group `g` of shard `s`
//! goes to `docs/g-GGGGG/s-SSSSS.bin` in the exchange: the documents the epoch draws (see
//! [`mixture`](super::mixture)), in dataset order, each as a little-endian `u32` length and its
//! [`codec`](super::codec) form.

use super::codec::{Reader, get_drawn, put_drawn};
use super::exchange::{Exchange, Phase, PhaseWork};
use super::frame::{put_record, records};
use super::mixture::{Drawn, Mixture};
use super::partition::Partitioning;
use crate::PipelineError;
use crate::progress::Progress;
use maskforge_schema::{Dataset, DocumentsManifest};
use maskforge_store::Location;
use serde::{Deserialize, Serialize};

/// How documents map to partitions (pair building draws negatives within one) and partitions
/// to groups (the units of the map phase: contiguous runs of partitions).
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Which partition (and split) each document belongs to.
    pub partitioning: Partitioning,
    /// Number of partitions.
    pub partitions: usize,
    /// Number of groups.
    pub groups: usize,
}

impl Grouping {
    /// At most this many groups, so the route phase writes at most this many objects per shard.
    pub const MAX_GROUPS: usize = 64;

    /// The grouping of the partitions of `partitioning`.
    pub fn new(partitioning: Partitioning) -> Self {
        let partitions = partitioning.count();
        Self {
            partitioning,
            partitions: partitions.max(1),
            groups: partitions.clamp(1, Self::MAX_GROUPS),
        }
    }

    /// The group of a partition.
    pub fn group_of(&self, partition: usize) -> usize {
        partition * self.groups / self.partitions
    }

    /// The partitions of group `g`.
    pub fn partitions_of(&self, group: usize) -> std::ops::Range<usize> {
        let first = (group * self.partitions).div_ceil(self.groups);
        let end = ((group + 1) * self.partitions).div_ceil(self.groups);
        first..end
    }
}

/// What routing one documents shard produced.
#[derive(Debug, Serialize, Deserialize)]
pub struct RouteResult {
    /// Documents read, per section (split) of the epoch.
    pub documents: Vec<u64>,
    /// Documents read per section and source, at `section * sources + source`.
    pub source_documents: Vec<u64>,
    /// Bytes written for each group (0: no object).
    pub group_bytes: Vec<u64>,
}

/// The object holding group `group`'s documents from shard `shard`.
pub fn routed_object(exchange: &Exchange, group: usize, shard: usize) -> Location {
    exchange.object(&format!("docs/g-{group:05}/s-{shard:05}.bin"))
}

/// The route phase: one unit per documents shard, split by group into the exchange.
pub struct Route<'a> {
    /// The documents dataset.
    pub documents: &'a Dataset<DocumentsManifest>,
    /// Partitions and groups.
    pub grouping: Grouping,
    /// The copies drawn of each document.
    pub mixture: &'a Mixture,
    /// Where the groups go.
    pub exchange: &'a Exchange,
    /// The I/O runtime.
    pub handle: &'a tokio::runtime::Handle,
    /// Receives the bytes and documents read.
    pub progress: &'a dyn Progress,
}

impl PhaseWork for Route<'_> {
    const PHASE: Phase = Phase::Route;
    type Output = RouteResult;

    fn unit_sizes(&self) -> Vec<u64> {
        self.documents.manifest().shards.iter().map(|s| s.bytes).collect()
    }

    fn run_unit(&self, index: usize) -> Result<RouteResult, PipelineError> {
        let result = self.handle.block_on(self.route_shard(index))?;
        let bytes = self.documents.shard(index)?.bytes;
        self.progress.advance(bytes, result.documents.iter().sum());
        Ok(result)
    }
}

impl Route<'_> {
    /// Splits documents shard `index` by group into the exchange.
    async fn route_shard(&self, index: usize) -> Result<RouteResult, PipelineError> {
        let grouping = self.grouping;
        let mut buffers = vec![Vec::new(); grouping.groups];
        let partitioning = grouping.partitioning;
        let mut counts = vec![0u64; partitioning.sections()];
        let sources = self.mixture.sources();
        let mut source_documents = vec![0u64; partitioning.sections() * sources];
        let source = self.mixture.source_of_shard(index);
        let mut record = Vec::new();
        self.documents
            .for_each_batch(index, |docs| {
                for doc in docs {
                    let (split, partition) = partitioning.place(doc.doc_id);
                    counts[split as usize] += 1;
                    source_documents[split as usize * sources + source as usize] += 1;
                    let copies = self.mixture.copies(source, doc.doc_id);
                    if copies == 0 {
                        continue;
                    }
                    let group = grouping.group_of(partition);
                    record.clear();
                    put_drawn(&mut record, &Drawn { doc, source, copies });
                    // Writing into a Vec cannot fail.
                    let _ = put_record(&mut buffers[group], &record);
                }
            })
            .await?;
        let mut group_bytes = Vec::with_capacity(buffers.len());
        for (group, bytes) in buffers.into_iter().enumerate() {
            group_bytes.push(bytes.len() as u64);
            if !bytes.is_empty() {
                routed_object(self.exchange, group, index).write(bytes.into()).await?;
            }
        }
        Ok(RouteResult {
            documents: counts,
            source_documents,
            group_bytes,
        })
    }
}

/// Reads back the documents of a routed object, in order.
pub fn decode_routed(bytes: &[u8], url: &str) -> Result<Vec<Drawn>, PipelineError> {
    let bad = || PipelineError::Internal(format!("exchange object {url} is damaged"));
    records(bytes)
        .map(|record| get_drawn(&mut Reader::new(record.map_err(|_| bad())?)).ok_or_else(bad))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Grouping, Partitioning};

    #[test]
    fn groups_cover_partitions_contiguously() {
        for partitions in [1, 2, 7, 64, 65, 1000] {
            let g = Grouping::new(Partitioning::new(partitions as u64, 1, None));
            let mut next = 0;
            for group in 0..g.groups {
                let range = g.partitions_of(group);
                assert_eq!(range.start, next);
                assert!(!range.is_empty());
                assert!(range.clone().all(|p| g.group_of(p) == group), "{partitions} {group}");
                next = range.end;
            }
            assert_eq!(next, partitions);
        }
    }
}
