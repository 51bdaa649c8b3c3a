//! A whole document through the text path: sentences, tokens, sentence ends and word starts.

use crate::TextError;
use crate::pieces::Pieces;
use crate::segmenter::Segmenter;
use crate::sentences::{SplitRules, split_sentences};
use crate::tokenizer::{PieceStyle, TextTokenizer};
use crate::word_starts::push_word_starts;

/// A document ready for the documents dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizedDocument {
    /// Content token ids, no special tokens.
    pub input_ids: Vec<u32>,
    /// Exclusive end of each sentence in `input_ids`; increasing, the last equals its length.
    pub sentence_ends: Vec<u32>,
    /// One flag per token: a word starts here.
    pub word_starts: Vec<bool>,
    /// The cleaned sentences as they were encoded (for a byte-level tokenizer with the white
    /// space before them in their line), joined by newlines (filled only when asked for).
    pub text: String,
}

/// Why a record yields no document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing is left after cleaning and tokenization.
    Empty,
    /// Fewer tokens than the configured minimum.
    TooShort,
}

/// Runs the text path over documents; shareable across threads.
pub struct TextProcessor {
    tokenizer: TextTokenizer,
    segmenter: Segmenter,
    rules: SplitRules,
    min_tokens: u32,
    keep_text: bool,
}

impl TextProcessor {
    /// Puts the stages together.
    pub fn new(
        tokenizer: TextTokenizer,
        segmenter: Segmenter,
        rules: SplitRules,
        min_tokens: u32,
        keep_text: bool,
    ) -> Self {
        Self {
            tokenizer,
            segmenter,
            rules,
            min_tokens,
            keep_text,
        }
    }

    /// The tokenizer in use.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The segmenter in use.
    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// Cleans, splits, tokenizes and segments one document.
    pub fn process(&self, text: &str) -> Result<Result<TokenizedDocument, Rejection>, TextError> {
        let mut doc = TokenizedDocument::default();
        let mut failure = None;
        let mut pieces = Pieces::default();
        let byte_level = matches!(self.tokenizer.style(), PieceStyle::ByteLevel);
        let mut spaced = String::new();
        split_sentences(text, self.rules, |leading, sentence| {
            if failure.is_some() {
                return;
            }
            pieces.clear();
            // Byte-level BPE encodes a word after a space differently (`Ġ`): a sentence is encoded
            // as it stands in its line, with the space before it. WordPiece drops the space anyway.
            let encoded = if byte_level && !leading.is_empty() {
                spaced.clear();
                spaced.push_str(leading);
                spaced.push_str(sentence);
                spaced.as_str()
            } else {
                sentence
            };
            match self.tokenizer.encode_into(encoded, &mut pieces) {
                Ok(()) if pieces.is_empty() => {}
                Ok(()) => {
                    push_word_starts(
                        encoded,
                        &pieces,
                        self.tokenizer.style(),
                        &self.segmenter,
                        &mut doc.word_starts,
                    );
                    doc.input_ids.extend_from_slice(&pieces.ids);
                    doc.sentence_ends.push(doc.input_ids.len() as u32);
                    if self.keep_text {
                        if !doc.text.is_empty() {
                            doc.text.push('\n');
                        }
                        doc.text.push_str(encoded);
                    }
                }
                Err(e) => failure = Some(e),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(if doc.input_ids.is_empty() {
            Err(Rejection::Empty)
        } else if (doc.input_ids.len() as u64) < u64::from(self.min_tokens) {
            Err(Rejection::TooShort)
        } else {
            Ok(doc)
        })
    }
}
