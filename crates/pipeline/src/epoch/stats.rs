//! The statistics of an epoch: a map unit's counts in the manifest's named form, and the sum
//! over units.

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
    }
}

/// The sum of the units' statistics, with the mask rate of the totals.
pub fn total(documents_in: u64, units: impl IntoIterator<Item = EpochStats>) -> EpochStats {
    let mut sum = EpochStats {
        documents_in,
        ..EpochStats::default()
    };
    for unit in units {
        merge(&mut sum, &unit);
    }
    sum.mask_rate = rate(sum.masked_tokens, sum.tokens);
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let sum = total(7, [unit, other]);
        assert_eq!((sum.documents_in, sum.tokens, sum.masked_tokens), (7, 400, 60));
        assert!((sum.mask_rate - 0.15).abs() < 1e-12);
        assert_eq!(sum.replacement["mask"], 8);
    }
}
