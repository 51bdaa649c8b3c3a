//! An exact fast path for BERT WordPiece tokenizers: the BERT normalizer, the BERT
//! pre-tokenizer and greedy longest-match-first WordPiece in one pass over a sentence, with no
//! per-word allocation. It gives the ids and byte offsets of Hugging Face `tokenizers` (the
//! differential tests in `tests/fast_wordpiece.rs` hold it to that), and refuses what it does not
//! model, so the caller can hand such input to the reference.

mod chars;
mod trie;

pub use chars::{BertNormalization, Unsupported};

use crate::pieces::Pieces;
use chars::{Class, ClassTable, Cleaned, clean, is_chinese_char, is_punctuation, normalize};
use tokenizers::models::wordpiece::WordPiece;
use trie::PieceTrie;

/// A BERT WordPiece tokenizer that runs without `tokenizers` at encode time.
pub struct FastWordPiece {
    options: BertNormalization,
    classes: ClassTable,
    /// Per BMP character: the id of the one-character word-initial piece, or `u32::MAX`.
    single: Box<[u32]>,
    /// Word-initial pieces (every vocabulary entry).
    initial: PieceTrie,
    /// Continuation pieces, keyed without their prefix.
    continuation: PieceTrie,
    unk_id: u32,
    /// The unknown token is spelled like a continuation (`##`-prefixed).
    unk_continues: bool,
    prefix: Vec<u8>,
    max_chars_per_word: usize,
}

/// Scratch space for one word, reused across words.
#[derive(Default)]
struct Word {
    /// The word's normalized UTF-8 bytes.
    bytes: Vec<u8>,
    /// Per normalized byte: the original byte range of the character it came from.
    origin: Vec<(usize, usize)>,
    chars: usize,
}

impl Word {
    fn push(&mut self, c: char, origin: (usize, usize)) {
        let mut buf = [0u8; 4];
        let encoded = c.encode_utf8(&mut buf).as_bytes();
        self.bytes.extend_from_slice(encoded);
        self.origin.extend(std::iter::repeat_n(origin, encoded.len()));
        self.chars += 1;
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.origin.clear();
        self.chars = 0;
    }

    /// Original byte range of normalized bytes `start..end`.
    fn span(&self, start: usize, end: usize) -> (usize, usize) {
        (self.origin[start].0, self.origin[end - 1].1)
    }
}

impl FastWordPiece {
    /// Builds the fast path from a WordPiece model and the normalizer's options; `None` when
    /// the model's unknown token is not in its vocabulary (the reference then fails on words
    /// it cannot piece, and so should we, through the reference).
    pub fn new(model: &WordPiece, options: BertNormalization) -> Option<Self> {
        let vocab = tokenizers::Model::get_vocab(model);
        let unk_id = *vocab.get(&model.unk_token)?;
        let prefix = model.continuing_subword_prefix.as_str();
        let initial = PieceTrie::new(vocab.iter().map(|(p, &id)| (p.as_str(), id)));
        let mut single = vec![u32::MAX; 0x1_0000].into_boxed_slice();
        for (piece, &id) in &vocab {
            let mut chars = piece.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && let Some(slot) = single.get_mut(c as usize)
            {
                *slot = id;
            }
        }
        let continuation = PieceTrie::new(
            vocab
                .iter()
                .filter_map(|(p, &id)| p.strip_prefix(prefix).map(|rest| (rest, id))),
        );
        Some(Self {
            options,
            classes: ClassTable::new(options),
            single,
            initial,
            continuation,
            unk_id,
            unk_continues: model.unk_token.starts_with(prefix),
            prefix: prefix.as_bytes().to_vec(),
            max_chars_per_word: model.max_input_chars_per_word,
        })
    }

    /// Appends the pieces of `sentence` to `out`; offsets are byte offsets into `sentence`.
    /// On `Err` nothing is appended.
    pub fn encode(&self, sentence: &str, out: &mut Pieces) -> Result<(), Unsupported> {
        let before = out.len();
        let mut word = Word::default();
        let result = self.encode_words(sentence, &mut word, out);
        if result.is_err() {
            out.truncate(before);
        }
        result
    }

    fn encode_words(&self, sentence: &str, word: &mut Word, out: &mut Pieces) -> Result<(), Unsupported> {
        let options = self.options;
        for (start, c) in sentence.char_indices() {
            let origin = (start, start + c.len_utf8());
            if c.is_ascii() {
                self.ascii(c as u8, origin, word, out);
                continue;
            }
            match self.classes.of(c) {
                Class::Dropped => continue,
                Class::Space => {
                    self.finish(word, out);
                    continue;
                }
                Class::Word => {
                    word.push(c, origin);
                    continue;
                }
                Class::Punctuation => {
                    self.finish(word, out);
                    word.push(c, origin);
                    self.finish(word, out);
                    continue;
                }
                Class::Ideograph if self.max_chars_per_word > 0 => {
                    self.finish(word, out);
                    self.ideograph(c, origin, out);
                    continue;
                }
                Class::Ideograph | Class::Other => {}
            }
            let c = if options.clean_text {
                match clean(c) {
                    Cleaned::Dropped => continue,
                    Cleaned::Kept(c) => c,
                }
            } else {
                c
            };
            let alone = options.handle_chinese_chars && is_chinese_char(c);
            if alone {
                self.finish(word, out);
            }
            normalize(c, options, &mut |n| self.pre_tokenize(n, origin, word, out))?;
            if alone {
                self.finish(word, out);
            }
        }
        self.finish(word, out);
        Ok(())
    }

    /// One ASCII character through cleaning, lower-casing and pre-tokenization.
    #[inline]
    fn ascii(&self, b: u8, origin: (usize, usize), word: &mut Word, out: &mut Pieces) {
        let is_control = (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f;
        if self.options.clean_text && (b == 0 || is_control) {
            return;
        }
        if (b as char).is_whitespace() {
            self.finish(word, out);
        } else if b.is_ascii_punctuation() {
            self.finish(word, out);
            word.push(b as char, origin);
            self.finish(word, out);
        } else {
            let b = if self.options.lowercase {
                b.to_ascii_lowercase()
            } else {
                b
            };
            word.push(b as char, origin);
        }
    }

    /// A CJK ideograph that normalization leaves alone: a one-character word, looked up directly.
    #[inline]
    fn ideograph(&self, c: char, origin: (usize, usize), out: &mut Pieces) {
        match self.single[c as usize] {
            u32::MAX => out.push(self.unk_id, origin, self.unk_continues),
            id => {
                let mut buf = [0u8; 4];
                let continues = c.encode_utf8(&mut buf).as_bytes().starts_with(&self.prefix);
                out.push(id, origin, continues);
            }
        }
    }

    /// One normalized character through the pre-tokenizer: white space ends the word,
    /// punctuation is a word of its own.
    fn pre_tokenize(&self, c: char, origin: (usize, usize), word: &mut Word, out: &mut Pieces) {
        if c.is_whitespace() {
            self.finish(word, out);
        } else if is_punctuation(c) {
            self.finish(word, out);
            word.push(c, origin);
            self.finish(word, out);
        } else {
            word.push(c, origin);
        }
    }

    /// WordPiece on the word collected so far, then clears it.
    fn finish(&self, word: &mut Word, out: &mut Pieces) {
        if word.chars == 0 {
            return;
        }
        let whole = word.span(0, word.bytes.len());
        if word.chars > self.max_chars_per_word {
            out.push(self.unk_id, whole, self.unk_continues);
        } else {
            let before = out.len();
            let mut start = 0;
            while start < word.bytes.len() {
                let trie = if start == 0 { &self.initial } else { &self.continuation };
                let Some((id, len)) = trie.longest_prefix(&word.bytes[start..]) else {
                    out.truncate(before);
                    out.push(self.unk_id, whole, self.unk_continues);
                    break;
                };
                // The reference spells a piece after the first with the prefix; the first as
                // the word's own bytes.
                let continues = start > 0 || word.bytes[..len].starts_with(&self.prefix);
                out.push(id, word.span(start, start + len), continues);
                start += len;
            }
        }
        word.clear();
    }
}
