//! Choosing what to mask (masking.md section 7). Every strategy returns masking units: lists of
//! consecutive whole words (token ranges), never special tokens, within the budget.

use crate::budget::Budget;
use crate::rng::KeyedRng;
use crate::spec::MaskStrategy;
use std::ops::Range;

/// One masking unit: consecutive words.
pub type Unit = Vec<Range<usize>>;

/// Options of the selection step.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Strategy.
    pub strategy: MaskStrategy,
    /// Weights of n = 1..=N (n-gram, MacBERT sequential).
    pub ngram_weights: Vec<f64>,
    /// SpanBERT's geometric parameter.
    pub span_p: f64,
}

impl Selection {
    /// Chooses units among `words` (for the token strategy, pass single tokens as words).
    pub fn choose(&self, words: &[Range<usize>], budget: &mut Budget, rng: &mut KeyedRng) -> Vec<Unit> {
        match self.strategy {
            MaskStrategy::Token | MaskStrategy::WholeWord => whole_words(words, budget, rng),
            MaskStrategy::Ngram => ngrams(words, &self.ngram_weights, budget, rng),
            MaskStrategy::MacbertSequential => sequential(words, &self.ngram_weights, budget, rng),
            MaskStrategy::Span => spans(words, self.ngram_weights.len(), self.span_p, budget, rng),
        }
    }
}

fn tokens(words: &[Range<usize>]) -> usize {
    words.iter().map(|w| w.len()).sum()
}

/// BERT: shuffle the candidates, walk them, skip a word that would overflow the budget.
fn whole_words(words: &[Range<usize>], budget: &mut Budget, rng: &mut KeyedRng) -> Vec<Unit> {
    let mut order: Vec<usize> = (0..words.len()).collect();
    rng.shuffle(&mut order);
    let mut units = Vec::new();
    for i in order {
        if budget.exhausted() {
            break;
        }
        if budget.fits(1, words[i].len()) {
            budget.take(1, words[i].len());
            units.push(vec![words[i].clone()]);
        }
    }
    units
}

/// ALBERT / Megatron n-grams: candidate lists `words[i..i+1] .. words[i..i+N]`, shuffled; draw
/// `n` with the weights renormalised to what exists, shrink it while it overflows, skip on
/// overflow or overlap.
fn ngrams(words: &[Range<usize>], weights: &[f64], budget: &mut Budget, rng: &mut KeyedRng) -> Vec<Unit> {
    let mut starts: Vec<usize> = (0..words.len()).collect();
    rng.shuffle(&mut starts);
    let mut covered = vec![false; words.len()];
    let mut units = Vec::new();
    for start in starts {
        if budget.exhausted() {
            break;
        }
        let available = weights.len().min(words.len() - start);
        let n = rng.weighted(&weights[..available]) + 1;
        units.extend(take_span(words, start, n, &mut covered, budget));
    }
    units
}

/// Takes `words[start..start + n]`, shrinking `n` while it overflows the budget; `None` when
/// even one word overflows or the span overlaps a word already taken.
fn take_span(
    words: &[Range<usize>],
    start: usize,
    mut n: usize,
    covered: &mut [bool],
    budget: &mut Budget,
) -> Option<Unit> {
    while n > 1 && !budget.fits(n, tokens(&words[start..start + n])) {
        n -= 1;
    }
    let span = start..start + n;
    if !budget.fits(n, tokens(&words[span.clone()])) || covered[span.clone()].iter().any(|c| *c) {
        return None;
    }
    budget.take(n, tokens(&words[span.clone()]));
    covered[span.clone()].iter_mut().for_each(|c| *c = true);
    Some(words[span].to_vec())
}

/// MacBERT as its author describes it: walk left to right drawing `n`, cut the words into units,
/// shuffle the units and take them while the budget allows.
fn sequential(words: &[Range<usize>], weights: &[f64], budget: &mut Budget, rng: &mut KeyedRng) -> Vec<Unit> {
    let mut cuts: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let n = rng.weighted(&weights[..weights.len().min(words.len() - i)]) + 1;
        cuts.push(i..i + n);
        i += n;
    }
    rng.shuffle(&mut cuts);
    let mut units = Vec::new();
    for cut in cuts {
        if budget.exhausted() {
            break;
        }
        let t = tokens(&words[cut.clone()]);
        if budget.fits(cut.len(), t) {
            budget.take(cut.len(), t);
            units.push(words[cut].to_vec());
        }
    }
    units
}

/// SpanBERT: span lengths `min(Geometric(p), N)` in words at random starts, until the budget is
/// met or a bounded number of attempts fails.
fn spans(words: &[Range<usize>], max_n: usize, p: f64, budget: &mut Budget, rng: &mut KeyedRng) -> Vec<Unit> {
    let mut covered = vec![false; words.len()];
    let mut units = Vec::new();
    let mut attempts = 0;
    while !budget.exhausted() && !words.is_empty() && attempts < 10 * words.len() {
        attempts += 1;
        let start = rng.below(words.len());
        let n = rng.geometric(p).min(max_n.max(1)).min(words.len() - start);
        units.extend(take_span(words, start, n, &mut covered, budget));
    }
    units
}
