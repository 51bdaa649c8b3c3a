//! The text path of the prepare job (masking.md section 2): clean like BERT's BasicTokenizer,
//! split sentences, tokenize each raw sentence with a Hugging Face tokenizer, segment it with
//! jieba, and align the two by byte offsets into one word-start flag per token.

mod cjk;
mod clean;
mod document;
mod pieces;
mod segmenter;
mod sentences;
mod tokenizer;
mod word_starts;
mod wordpiece;

pub use cjk::{is_cjk, is_single_cjk};
pub use clean::clean;
pub use document::{Rejection, TextProcessor, TokenizedDocument};
pub use pieces::Pieces;
pub use segmenter::Segmenter;
pub use sentences::{SplitRules, split_sentences};
pub use tokenizer::{PieceStyle, TextTokenizer, TokenizerFiles, TokenizerKind};
pub use word_starts::{push_word_starts, word_starts};
pub use wordpiece::{BertNormalization, FastWordPiece, Unsupported};

/// Errors of the text path.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The tokenizer files cannot be loaded, or encoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The jieba user dictionary cannot be loaded.
    #[error("jieba user dictionary: {0}")]
    Dictionary(String),
}
