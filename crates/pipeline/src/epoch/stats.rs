//! The statistics of an epoch: a map unit's counts in the manifest's named form, and the sum
//! over units with each source's share.

use maskforge_masking::{MaskKind, MaskStats, PairSkip, PairStats, PairType, SIMILAR_FALLBACKS};
use maskforge_schema::EpochStats;
use std::collections::BTreeMap;

/// The statistics of one map unit: its pair building and masking counts, its examples by
/// length (64-token buckets) and, when binned, by length bin.
pub fn unit_stats(
    pairs: &PairStats,
    masks: &MaskStats,
    lengths: &BTreeMap<u32, u64>,
    bins: Option<&[u64]>,
) -> EpochStats {
    let named = |names: &mut dyn Iterator<Item = (&'static str, u64)>| -> BTreeMap<String, u64> {
        names.filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_owned(), n)).collect()
    };
    EpochStats {
        documents_in: 0, // counted by the route phase
        examples: masks.examples,
        tokens: masks.tokens,
        masked_tokens: masks.masked_tokens,
        mask_rate: rate(masks.masked_tokens, masks.tokens),
        // Every kind is listed, also with a count of 0.
        replacement: MaskKind::ALL
            .iter()
            .map(|k| (k.name().to_owned(), masks.kinds[*k as usize]))
            .collect(),
        ngram_lengths: (1..masks.ngram_lengths.len())
            .filter(|&n| masks.ngram_lengths[n] > 0)
            .map(|n| (n as u32, masks.ngram_lengths[n]))
            .collect(),
        pair_types: named(
            &mut [PairType::Next, PairType::RandomDoc, PairType::Swapped, PairType::None]
                .into_iter()
                .map(|t| (t.name(), pairs.pair_types[t as usize])),
        ),
        single_sentence_chunks: pairs.single_sentence_chunks,
        truncated_examples: pairs.truncated_examples,
        truncated_tokens: pairs.truncated_tokens,
        similar_fallbacks: named(&mut SIMILAR_FALLBACKS.into_iter().zip(masks.similar_fallbacks)),
        length_histogram: lengths.clone(),
        bins: bins
            .map(|b| b.iter().enumerate().map(|(i, n)| (i.to_string(), *n)).collect())
            .unwrap_or_default(),
        skipped: named(&mut PairSkip::ALL.into_iter().map(|r| (r.name(), pairs.skipped[r as usize]))),
        sources: Vec::new(),
    }
}

/// The sum of the units' statistics, with the mask rate of the totals, the documents read of
/// each source (`source_documents`, in source order) and each source's share of the tokens.
pub fn total(documents_in: u64, source_documents: &[u64], units: impl IntoIterator<Item = EpochStats>) -> EpochStats {
    let mut sum = EpochStats {
        documents_in,
        ..EpochStats::default()
    };
    for unit in units {
        merge(&mut sum, &unit);
    }
    sum.mask_rate = rate(sum.masked_tokens, sum.tokens);
    for (source, documents) in sum.sources.iter_mut().zip(source_documents) {
        source.documents = *documents;
        source.share = rate(source.tokens, sum.tokens);
    }
    sum
}

fn rate(masked: u64, tokens: u64) -> f64 {
    if tokens > 0 { masked as f64 / tokens as f64 } else { 0.0 }
}

/// Adds the counts of `other` into `into` (the rate is computed from the totals afterwards).
fn merge(into: &mut EpochStats, other: &EpochStats) {
    fn add<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, other: &BTreeMap<K, u64>) {
        for (k, v) in other {
            *into.entry(k.clone()).or_default() += v;
        }
    }
    into.documents_in += other.documents_in;
    into.examples += other.examples;
    into.tokens += other.tokens;
    into.masked_tokens += other.masked_tokens;
    into.single_sentence_chunks += other.single_sentence_chunks;
    into.truncated_examples += other.truncated_examples;
    into.truncated_tokens += other.truncated_tokens;
    add(&mut into.replacement, &other.replacement);
    add(&mut into.ngram_lengths, &other.ngram_lengths);
    add(&mut into.pair_types, &other.pair_types);
    add(&mut into.similar_fallbacks, &other.similar_fallbacks);
    add(&mut into.length_histogram, &other.length_histogram);
    add(&mut into.bins, &other.bins);
    add(&mut into.skipped, &other.skipped);
    if into.sources.is_empty() {
        into.sources = other.sources.clone();
    } else {
        for (into, other) in into.sources.iter_mut().zip(&other.sources) {
            into.drawn += other.drawn;
            into.examples += other.examples;
            into.tokens += other.tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maskforge_schema::SourceStats;

    #[test]
    fn units_sum_by_name_and_the_rate_is_of_the_totals() {
        let mut pairs = PairStats::default();
        pairs.pair_types[PairType::Swapped as usize] = 3;
        pairs.skipped[PairSkip::EmptySegment as usize] = 1;
        let masks = MaskStats {
            examples: 3,
            tokens: 100,
            masked_tokens: 10,
            kinds: [8, 0, 1, 1],
            ..MaskStats::default()
        };
        let unit = unit_stats(&pairs, &masks, &BTreeMap::from([(64, 3)]), None);
        assert_eq!(unit.pair_types, BTreeMap::from([("swapped".to_owned(), 3)]));
        assert_eq!(unit.skipped, BTreeMap::from([("empty_segment".to_owned(), 1)]));
        assert_eq!(unit.replacement.len(), 4, "every kind listed");
        let other = EpochStats {
            tokens: 300,
            masked_tokens: 50,
            ..EpochStats::default()
        };
        let sum = total(7, &[], [unit, other]);
        assert_eq!((sum.documents_in, sum.tokens, sum.masked_tokens), (7, 400, 60));
        assert!((sum.mask_rate - 0.15).abs() < 1e-12);
        assert_eq!(sum.replacement["mask"], 8);
        assert!(sum.sources.is_empty());
    }

    #[test]
    fn sources_add_up_and_share_the_tokens() {
        let unit = |drawn: [u64; 2], tokens: [u64; 2]| EpochStats {
            tokens: tokens.iter().sum(),
            sources: (0..2)
                .map(|s| SourceStats {
                    weight: [0.5, 2.0][s],
                    drawn: drawn[s],
                    examples: drawn[s],
                    tokens: tokens[s],
                    ..SourceStats::default()
                })
                .collect(),
            ..EpochStats::default()
        };
        let sum = total(10, &[4, 6], [unit([1, 4], [100, 300]), unit([1, 8], [0, 600])]);
        let got: Vec<_> = sum
            .sources
            .iter()
            .map(|s| (s.weight, s.documents, s.drawn, s.tokens))
            .collect();
        assert_eq!(got, [(0.5, 4, 2, 100), (2.0, 6, 12, 900)]);
        assert!((sum.sources[0].share - 0.1).abs() < 1e-12 && (sum.sources[1].share - 0.9).abs() < 1e-12);
    }
}
