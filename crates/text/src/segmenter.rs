//! Chinese word segmentation with jieba-rs (precise mode), used only to decide word starts.

use crate::TextError;
use jieba_rs::Jieba;
use sha2::{Digest, Sha256};
use std::ops::Range;

/// jieba-rs with its options, or nothing when segmentation is off.
pub struct Segmenter {
    jieba: Option<Jieba>,
    hmm: bool,
    hash: String,
}

/// Identifies the dictionary built into jieba-rs (it changes only with the crate version).
const BUILTIN_DICTIONARY: &str = "jieba-rs 0.11 default dictionary";

impl Segmenter {
    /// jieba with its built-in dictionary plus an optional user dictionary
    /// (`word [freq [tag]]` per line).
    pub fn jieba(hmm: bool, user_dict: Option<&[u8]>) -> Result<Self, TextError> {
        let mut jieba = Jieba::new();
        if let Some(dict) = user_dict {
            jieba
                .load_dict(&mut std::io::BufReader::new(dict))
                .map_err(|e| TextError::Dictionary(e.to_string()))?;
        }
        Ok(Self {
            jieba: Some(jieba),
            hmm,
            hash: Self::jieba_hash(hmm, user_dict),
        })
    }

    /// The [`hash`](Self::hash) [`jieba`](Self::jieba) gives for these options, without loading
    /// the dictionary (jobs that only check which segmentation produced a dataset).
    pub fn jieba_hash(hmm: bool, user_dict: Option<&[u8]>) -> String {
        let mut hasher = Sha256::new();
        hasher.update(BUILTIN_DICTIONARY);
        if let Some(dict) = user_dict {
            hasher.update(dict);
        }
        hasher.update([u8::from(hmm)]);
        hex::encode(hasher.finalize())
    }

    /// No segmentation: every CJK character is a word of its own.
    pub fn none() -> Self {
        Self {
            jieba: None,
            hmm: false,
            hash: "none".to_owned(),
        }
    }

    /// Byte ranges of the words of `sentence`, in order and covering it; empty when off.
    pub fn words(&self, sentence: &str) -> Vec<Range<usize>> {
        match &self.jieba {
            Some(j) => j
                .cut(sentence, self.hmm)
                .into_iter()
                .map(|t| t.byte_start..t.byte_end)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Whether segmentation is on.
    pub fn enabled(&self) -> bool {
        self.jieba.is_some()
    }

    /// Hash identifying the dictionary and options.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}
