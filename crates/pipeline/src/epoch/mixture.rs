//! Weighted sources (`sources.N.weight`): how many copies of each document an epoch draws, and
//! the form a drawn document travels in through the route and map phases. A weight `w` draws
//! `floor(w)` copies of every document of its source, and one more with probability
//! `w - floor(w)`, decided by a key of (seed, epoch, doc_id): reproducible, and another sample
//! each epoch. Copies share the document's id but are keyed apart
//! ([`copy_key`](maskforge_masking::copy_key)), so their pairs and masks differ.

use crate::PipelineError;
use maskforge_config::PipelineConfig;
use maskforge_masking::{KeyedRng, Purpose};
use maskforge_schema::DocumentsManifest;
use maskforge_schema::documents::Document;

/// The weights of an epoch and the source of every documents shard.
#[derive(Debug, Clone)]
pub struct Mixture {
    seed: u64,
    epoch: u32,
    /// `sources.N.weight`, in configuration order.
    weights: Vec<f64>,
    /// The source of each documents shard, when the manifest records it.
    shard_sources: Vec<Option<u32>>,
}

impl Mixture {
    /// The mixture of epoch `epoch` over `documents`. Documents prepared before shards recorded
    /// their source can only be drawn unweighted.
    pub fn new(
        config: &PipelineConfig,
        documents: &DocumentsManifest,
        documents_url: &str,
        epoch: u32,
    ) -> Result<Self, PipelineError> {
        let weights: Vec<f64> = config.sources.iter().map(|s| s.weight).collect();
        let shard_sources: Vec<Option<u32>> = documents.shards.iter().map(|s| s.source).collect();
        if let Some(bad) = shard_sources.iter().flatten().find(|&&s| s as usize >= weights.len()) {
            return Err(PipelineError::input(
                documents_url,
                format!(
                    "a documents shard is of source {bad}, the pipeline has {} sources",
                    weights.len()
                ),
            ));
        }
        let mixture = Self {
            seed: config.seed,
            epoch,
            weights,
            shard_sources,
        };
        if mixture.is_weighted() && !mixture.tracks_sources() {
            return Err(PipelineError::input(
                documents_url,
                "these documents were prepared before shards recorded their source, so sources.N.weight \
                 cannot apply; run prepare again",
            ));
        }
        Ok(mixture)
    }

    /// The documents an epoch draws in expectation: each documents shard's rows times its
    /// source's weight.
    pub fn expected_draws(&self, documents: &DocumentsManifest) -> f64 {
        documents
            .shards
            .iter()
            .zip(&self.shard_sources)
            .map(|(shard, source)| shard.rows as f64 * source.map_or(1.0, |s| self.weights[s as usize]))
            .sum()
    }

    /// Whether some source has a weight other than 1 (the epoch's content then names them).
    pub fn is_weighted(&self) -> bool {
        self.weights.iter().any(|&w| w != 1.0)
    }

    /// Whether every shard's source is known, so the manifest can report per source.
    pub fn tracks_sources(&self) -> bool {
        self.shard_sources.iter().all(Option::is_some)
    }

    /// The weights, in configuration order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The number of sources.
    pub fn sources(&self) -> usize {
        self.weights.len()
    }

    /// The source of documents shard `shard` (0 when unknown, which only unweighted epochs allow).
    pub fn source_of_shard(&self, shard: usize) -> u32 {
        self.shard_sources.get(shard).copied().flatten().unwrap_or(0)
    }

    /// How many copies of document `doc_id` of source `source` this epoch draws.
    pub fn copies(&self, source: u32, doc_id: u64) -> u32 {
        let weight = self.weights.get(source as usize).copied().unwrap_or(1.0);
        let whole = weight.floor();
        let fraction = weight - whole;
        let extra = fraction > 0.0 && KeyedRng::new(self.seed, Purpose::Weight, self.epoch, doc_id).chance(fraction);
        whole as u32 + u32::from(extra)
    }
}

/// A document on its way through an epoch: with its source and the copies drawn of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The document.
    pub doc: Document,
    /// Its `[[sources]]` entry.
    pub source: u32,
    /// Copies this epoch draws (at least 1: undrawn documents are not routed).
    pub copies: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixture(weights: &[f64]) -> Mixture {
        Mixture {
            seed: 7,
            epoch: 3,
            weights: weights.to_vec(),
            shard_sources: vec![Some(0)],
        }
    }

    #[test]
    fn whole_weights_draw_exactly_and_fractions_by_key() {
        let m = mixture(&[1.0, 0.0, 3.0, 0.25, 2.5]);
        let n = 20_000u64;
        let drawn = |source: u32| (0..n).map(|id| u64::from(m.copies(source, id))).sum::<u64>();
        assert_eq!((drawn(0), drawn(1), drawn(2)), (n, 0, 3 * n));
        // Binomial(n, p): within 5 standard deviations.
        for (source, whole, p) in [(3, 0, 0.25), (4, 2, 0.5)] {
            let extra = drawn(source) - whole * n;
            let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
            assert!((extra as f64 - mean).abs() < 5.0 * sd, "source {source}: {extra}");
        }
        // Keyed: the same answer again, another sample in another epoch.
        assert!((0..n).all(|id| m.copies(3, id) == mixture(&[1.0, 0.0, 3.0, 0.25]).copies(3, id)));
        let other = Mixture { epoch: 4, ..m.clone() };
        assert!((0..n).any(|id| m.copies(3, id) != other.copies(3, id)));
    }
}
