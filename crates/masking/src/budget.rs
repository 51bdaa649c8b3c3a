//! The mask budget (masking.md section 6).

use crate::spec::BudgetUnit;

/// How much may be masked in one example, and how much is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    unit: BudgetUnit,
    limit: usize,
    max_tokens: usize,
    words: usize,
    tokens: usize,
}

/// Python 3 rounding: `round(x)` rounds halves to even (30 tokens * 0.15 = 4.5 -> 4).
pub fn round_half_even(x: f64) -> usize {
    x.round_ties_even().max(0.0) as usize
}

impl Budget {
    /// Tokens: `min(M, max(1, round(len * p)))` with `len` counting special tokens.
    /// Words: `max(1, round(words * p))` words, never more than `M` tokens.
    pub fn new(unit: BudgetUnit, tokens: usize, words: usize, p: f64, max_predictions: usize) -> Self {
        let limit = match unit {
            BudgetUnit::Tokens => max_predictions.min(round_half_even(tokens as f64 * p).max(1)),
            BudgetUnit::Words => round_half_even(words as f64 * p).max(1),
        };
        Self {
            unit,
            limit,
            max_tokens: max_predictions,
            words: 0,
            tokens: 0,
        }
    }

    /// Whether a unit of `words` words and `tokens` tokens still fits.
    pub fn fits(&self, words: usize, tokens: usize) -> bool {
        match self.unit {
            BudgetUnit::Tokens => self.tokens + tokens <= self.limit,
            BudgetUnit::Words => self.words + words <= self.limit && self.tokens + tokens <= self.max_tokens,
        }
    }

    /// Takes a unit.
    pub fn take(&mut self, words: usize, tokens: usize) {
        self.words += words;
        self.tokens += tokens;
    }

    /// Whether nothing more can be taken.
    pub fn exhausted(&self) -> bool {
        match self.unit {
            BudgetUnit::Tokens => self.tokens >= self.limit,
            BudgetUnit::Words => self.words >= self.limit || self.tokens >= self.max_tokens,
        }
    }

    /// The limit in the budget's unit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(4.5), 4);
        assert_eq!(round_half_even(5.5), 6);
        assert_eq!(Budget::new(BudgetUnit::Tokens, 30, 10, 0.15, 20).limit(), 4);
        assert_eq!(Budget::new(BudgetUnit::Tokens, 3, 1, 0.15, 20).limit(), 1);
        assert_eq!(Budget::new(BudgetUnit::Tokens, 512, 300, 0.15, 20).limit(), 20);
        assert_eq!(Budget::new(BudgetUnit::Words, 512, 100, 0.15, 20).limit(), 15);
    }
}
