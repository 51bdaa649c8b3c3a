//! Masking and pair building, shared by the epoch job and the trainer's online re-masking:
//! pure functions of (document, [`PairSpec`]/[`MaskSpec`], key). Every random decision goes through
//! [`rng::KeyedRng`]; nothing here reads files or knows about threads.

mod budget;
mod example;
mod masker;
mod pairs;
pub mod rng;
mod select;
mod spec;
mod synonyms;
mod vocab;

pub use budget::{Budget, round_half_even};
pub use example::{Assembled, Instance, MaskKind, MaskedExample, Masks, PairType, Segment};
pub use masker::{MaskStats, Masker, SIMILAR_FALLBACKS};
pub use pairs::{DocumentRef, Packer, PairSkip, PairStats, copy_key, pair_instances};
pub use rng::{KeyedRng, Purpose, keyed_u64, mix64};
pub use spec::{
    BudgetUnit, MaskSpec, MaskStrategy, PairSpec, PairTask, RandomPool, ReplaceShares, ReplacementUnit,
    SingleSentencePolicy,
};
pub use synonyms::{SimilarSource, SimilarWords, SynonymTable};
pub use vocab::{SpecialRole, SpecialTokenNames, Vocabulary};

/// Errors of setting masking up.
#[derive(Debug, thiserror::Error)]
pub enum MaskingError {
    /// A special token named by the spec is not in the vocabulary.
    #[error("the vocabulary has no `{token}` (the {role} token)")]
    MissingToken {
        /// The token.
        token: String,
        /// What it is for.
        role: SpecialRole,
    },
    /// A token named as special is ordinary text in the vocabulary.
    #[error("`{token}` (the {role} token) is an ordinary token of the vocabulary, not a special token")]
    NotSpecial {
        /// The token.
        token: String,
        /// What it is for.
        role: SpecialRole,
    },
    /// The random-token pool is empty.
    #[error("the vocabulary has no token to draw random replacements from")]
    EmptyPool,
    /// A synonym table line cannot be read.
    #[error("synonym table, line {line}: {message}")]
    Synonyms {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The key of an example: a function of its document and its position among the document's
/// examples only, so it is the same whatever worker or thread builds it.
pub fn example_key(doc_id: u64, ordinal: u32) -> u64 {
    mix64(doc_id, u64::from(ordinal))
}
