//! What pair building and masking do, as resolved values: built once from the pipeline file
//! (defaults applied, no locations) and stored in every examples manifest, so the trainer's
//! online re-masking reads the very spec the epoch used. The enums are the pipeline file's
//! spellings (`snake_case`).

use serde::{Deserialize, Serialize};

/// The sentence-level task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairTask {
    /// Next sentence prediction (BERT).
    Nsp,
    /// Sentence order prediction (ALBERT, MacBERT).
    #[default]
    Sop,
    /// RoBERTa FULL-SENTENCES packing across documents.
    FullSentences,
    /// RoBERTa DOC-SENTENCES packing within a document.
    DocSentences,
}

impl PairTask {
    /// Whether the task builds sentence pairs (NSP, SOP) rather than packed sequences.
    pub fn builds_pairs(self) -> bool {
        matches!(self, PairTask::Nsp | PairTask::Sop)
    }

    /// Whether the task packs sequences (RoBERTa) instead of building pairs.
    pub fn is_packing(self) -> bool {
        !self.builds_pairs()
    }
}

/// How SOP treats a chunk of one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SingleSentencePolicy {
    /// Split the sentence at a keyed word boundary, or skip and count it.
    #[default]
    Strict,
    /// ALBERT's behaviour: a random document as B, labelled swapped.
    Compat,
}

/// The unit that is chosen for masking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskStrategy {
    /// Single tokens (original BERT).
    Token,
    /// Whole words (BERT whole-word masking, Chinese WWM).
    #[default]
    WholeWord,
    /// N-grams of whole words (ALBERT, MacBERT).
    Ngram,
    /// MacBERT's left-to-right n-gram units.
    MacbertSequential,
    /// SpanBERT geometric spans of whole words.
    Span,
}

/// What the mask probability counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetUnit {
    /// Tokens, `[CLS]`/`[SEP]` included (BERT).
    #[default]
    Tokens,
    /// Words (MacBERT paper), never more than `max_predictions` tokens.
    Words,
}

/// Granularity of the replacement draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplacementUnit {
    /// One draw per token (BERT).
    #[default]
    Token,
    /// One draw per chosen word, applied to all its tokens (fairseq, MacBERT).
    Word,
}

/// Pool of random replacement tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomPool {
    /// The vocabulary without special and `[unused*]` tokens (fairseq).
    #[default]
    Content,
    /// The whole vocabulary (BERT compat).
    Vocab,
}

/// Shares of the replacement kinds of a chosen position; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplaceShares {
    /// Replace with the mask token.
    pub mask: f64,
    /// Replace with a similar word of the same token length (MacBERT).
    pub similar: f64,
    /// Replace with random tokens.
    pub random: f64,
    /// Keep the original tokens.
    pub keep: f64,
}

impl ReplaceShares {
    /// The shares in [`crate::MaskKind`] order, for a weighted draw.
    pub fn weights(&self) -> [f64; 4] {
        [self.mask, self.similar, self.random, self.keep]
    }
}

/// How examples are assembled from documents (masking.md sections 3-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSpec {
    /// The sentence task, or packing.
    pub task: PairTask,
    /// `L`: the longest example, special tokens included.
    pub max_seq_length: u32,
    /// Probability of a shorter target length per document.
    pub short_seq_prob: f64,
    /// SOP with a one-sentence chunk.
    pub single_sentence: SingleSentencePolicy,
    /// The token that starts every example.
    pub cls_token: String,
    /// The token that ends each segment (and separates packed documents).
    pub sep_token: String,
}

/// How an assembled example is masked (masking.md sections 6-8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskSpec {
    /// What a masking unit is.
    pub strategy: MaskStrategy,
    /// `p`, the share of the budget unit to mask.
    pub probability: f64,
    /// `M`, the most masked tokens per example.
    pub max_predictions: u32,
    /// Whether `p` counts tokens or words.
    pub budget_unit: BudgetUnit,
    /// Whether the replacement kind is drawn per token or once per chosen word.
    pub replacement_unit: ReplacementUnit,
    /// Shares of the four replacement kinds.
    pub replace: ReplaceShares,
    /// Weights of unit lengths n = 1..=len (the longest n-gram or span is their count).
    pub ngram_weights: Vec<f64>,
    /// SpanBERT's geometric parameter for the `span` strategy.
    pub span_p: f64,
    /// Pool of random replacement tokens.
    pub random_pool: RandomPool,
    /// The mask token of the vocabulary.
    pub mask_token: String,
}

impl MaskSpec {
    /// ALBERT's default n-gram weights, `1/n` for n = 1..=`ngram_max`.
    pub fn default_ngram_weights(ngram_max: u32) -> Vec<f64> {
        (1..=ngram_max).map(|n| 1.0 / f64::from(n)).collect()
    }

    /// Whether similar-word replacement is on (it needs a synonym table).
    pub fn uses_similar_words(&self) -> bool {
        self.replace.similar > 0.0
    }
}
