//! Masking one assembled example: budget, selection, replacement (masking.md sections 6-8).

use crate::budget::Budget;
use crate::example::{Assembled, Instance, MaskKind, MaskedExample, Masks};
use crate::example_key;
use crate::rng::{KeyedRng, Purpose};
use crate::select::Selection;
use crate::spec::{MaskSpec, MaskStrategy, ReplacementUnit};
use crate::synonyms::{SimilarSource, SimilarWords};
use crate::vocab::Vocabulary;
use std::ops::Range;

/// Statistics of masking, summed over examples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskStats {
    /// Examples masked.
    pub examples: u64,
    /// Tokens in them, special tokens included.
    pub tokens: u64,
    /// Masked positions.
    pub masked_tokens: u64,
    /// Positions by kind: mask, similar, random, keep.
    pub kinds: [u64; 4],
    /// Masking units by their length in words (index = words; units are at most 16 words).
    pub ngram_lengths: [u64; 17],
    /// Similar-word replacements that fell back, by reason ([`SIMILAR_FALLBACKS`] order).
    pub similar_fallbacks: [u64; 3],
}

/// Names of the similar-word fallbacks, in the order of [`MaskStats::similar_fallbacks`]:
/// a random lexicon word of the same token length; random tokens for a word that is not CJK;
/// random tokens when no word of that length exists.
pub const SIMILAR_FALLBACKS: [&str; 3] = ["lexicon_word", "non_cjk_random", "random_tokens"];

impl MaskStats {
    /// Adds another count into this one.
    pub fn merge(&mut self, other: &MaskStats) {
        self.examples += other.examples;
        self.tokens += other.tokens;
        self.masked_tokens += other.masked_tokens;
        for (a, b) in self.kinds.iter_mut().zip(other.kinds) {
            *a += b;
        }
        for (a, b) in self.ngram_lengths.iter_mut().zip(other.ngram_lengths) {
            *a += b;
        }
        for (a, b) in self.similar_fallbacks.iter_mut().zip(other.similar_fallbacks) {
            *a += b;
        }
    }
}

/// Masks examples with one spec; shareable across threads.
pub struct Masker {
    spec: MaskSpec,
    selection: Selection,
    vocab: Vocabulary,
    similar: Option<SimilarWords>,
    seed: u64,
}

impl Masker {
    /// A masker; `similar` is needed when the spec uses similar words.
    pub fn new(spec: &MaskSpec, vocab: Vocabulary, similar: Option<SimilarWords>, seed: u64) -> Self {
        let selection = Selection {
            strategy: spec.strategy,
            ngram_weights: spec.ngram_weights.clone(),
            span_p: spec.span_p,
        };
        Self {
            spec: spec.clone(),
            selection,
            vocab,
            similar,
            seed,
        }
    }

    /// The spec it masks with.
    pub fn spec(&self) -> &MaskSpec {
        &self.spec
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Assembles and masks a pair-building instance for `epoch`.
    pub fn mask_instance(&self, instance: &Instance, epoch: u32, stats: &mut MaskStats) -> MaskedExample {
        let assembled = instance.assemble(self.vocab.cls, self.vocab.sep);
        let key = example_key(crate::copy_key(instance.doc_id, instance.copy), instance.ordinal);
        let masks = self.mask(&assembled, key, epoch, stats);
        MaskedExample {
            doc_id: instance.doc_id,
            key,
            input_ids: masks.input_ids,
            token_type_ids: assembled.token_type_ids,
            word_starts: assembled.word_starts,
            masked_positions: masks.masked_positions,
            masked_labels: masks.masked_labels,
            mask_kinds: masks.mask_kinds,
            pair_type: instance.pair_type,
            truncated_tokens: instance.truncated_tokens,
        }
    }

    /// Masks an assembled example for `epoch`; `key` names the example. This is also the entry
    /// point for online re-masking: restore the labels, then mask again with another epoch.
    pub fn mask(&self, assembled: &Assembled, key: u64, epoch: u32, stats: &mut MaskStats) -> Masks {
        let mut rng = KeyedRng::new(self.seed, Purpose::Mask, epoch, key);
        let words = match self.spec.strategy {
            MaskStrategy::Token => (0..assembled.input_ids.len())
                .filter(|&i| !assembled.special[i])
                .map(|i| i..i + 1)
                .collect(),
            _ => assembled.words(),
        };
        let mut budget = Budget::new(
            self.spec.budget_unit,
            assembled.input_ids.len(),
            words.len(),
            self.spec.probability,
            self.spec.max_predictions as usize,
        );
        let units = self.selection.choose(&words, &mut budget, &mut rng);

        let mut input_ids = assembled.input_ids.clone();
        let mut chosen: Vec<(usize, MaskKind)> = Vec::new();
        for unit in &units {
            stats.ngram_lengths[unit.len().min(16)] += 1;
            for word in unit {
                self.replace_word(word.clone(), &mut input_ids, &mut chosen, &mut rng, stats);
            }
        }
        chosen.sort_unstable_by_key(|(p, _)| *p);
        stats.examples += 1;
        stats.tokens += input_ids.len() as u64;
        stats.masked_tokens += chosen.len() as u64;
        for (_, kind) in &chosen {
            stats.kinds[*kind as usize] += 1;
        }
        Masks {
            masked_labels: chosen.iter().map(|(p, _)| assembled.input_ids[*p]).collect(),
            masked_positions: chosen.iter().map(|(p, _)| *p as u16).collect(),
            mask_kinds: chosen.iter().map(|(_, k)| *k as u8).collect(),
            input_ids,
        }
    }

    fn draw_kind(&self, rng: &mut KeyedRng) -> MaskKind {
        match rng.weighted(&self.spec.replace.weights()) {
            0 => MaskKind::Mask,
            1 => MaskKind::Similar,
            2 => MaskKind::Random,
            _ => MaskKind::Keep,
        }
    }

    /// Replaces one chosen word, per word or per token as configured.
    fn replace_word(
        &self,
        word: Range<usize>,
        ids: &mut [u32],
        chosen: &mut Vec<(usize, MaskKind)>,
        rng: &mut KeyedRng,
        stats: &mut MaskStats,
    ) {
        if self.spec.replacement_unit == ReplacementUnit::Token {
            for p in word {
                let kind = self.draw_kind(rng);
                let kind = self.apply(kind, p..p + 1, ids, rng, stats);
                chosen.push((p, kind));
            }
        } else {
            let kind = self.draw_kind(rng);
            let kind = self.apply(kind, word.clone(), ids, rng, stats);
            chosen.extend(word.map(|p| (p, kind)));
        }
    }

    /// Applies `kind` to the tokens of `span`; returns the kind actually applied (a similar
    /// word that falls back to random tokens is recorded as random).
    fn apply(
        &self,
        kind: MaskKind,
        span: Range<usize>,
        ids: &mut [u32],
        rng: &mut KeyedRng,
        stats: &mut MaskStats,
    ) -> MaskKind {
        match kind {
            MaskKind::Mask => ids[span].iter_mut().for_each(|t| *t = self.vocab.mask),
            MaskKind::Keep => {}
            MaskKind::Random => ids[span].iter_mut().for_each(|t| *t = self.vocab.random_token(rng)),
            MaskKind::Similar => {
                let mut fallback = |reason: usize| stats.similar_fallbacks[reason] += 1;
                if !ids[span.clone()].iter().all(|&t| self.vocab.is_cjk(t)) {
                    fallback(1);
                } else {
                    match self.similar.as_ref().and_then(|s| s.pick(&ids[span.clone()], rng)) {
                        Some((word, source)) => {
                            if source == SimilarSource::Lexicon {
                                fallback(0);
                            }
                            ids[span].copy_from_slice(word);
                            return MaskKind::Similar;
                        }
                        None => fallback(2),
                    }
                }
                return self.apply(MaskKind::Random, span, ids, rng, stats);
            }
        }
        kind
    }
}
