//! Loading a Hugging Face tokenizer from a `tokenizer.json`, a BERT `vocab.txt` or a GPT-2
//! `vocab.json` + `merges.txt`, and knowing how its pieces mark word boundaries.

use crate::TextError;
use crate::pieces::Pieces;
use crate::wordpiece::{BertNormalization, FastWordPiece};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, ModelWrapper, NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

/// Special tokens added to a GPT-2 `vocab.json` (in this order, after its last id) when missing.
pub const ROBERTA_SPECIAL_TOKENS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];

/// The bytes of the files a tokenizer is built from.
#[derive(Debug, Clone)]
pub enum TokenizerFiles {
    /// A Hugging Face `tokenizer.json`.
    Json(Vec<u8>),
    /// A BERT WordPiece `vocab.txt`; `lowercase` selects the uncased normalizer.
    BertVocab {
        /// File contents.
        vocab: Vec<u8>,
        /// Lower-case and strip accents.
        lowercase: bool,
    },
    /// A GPT-2 byte-level BPE `vocab.json` and `merges.txt`.
    Gpt2 {
        /// `vocab.json` contents.
        vocab: Vec<u8>,
        /// `merges.txt` contents.
        merges: Vec<u8>,
    },
}

/// Which kind of files a tokenizer was built from (what outside tools need to rebuild it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// A Hugging Face `tokenizer.json`.
    Json,
    /// A BERT WordPiece `vocab.txt`, lower-casing or not.
    BertVocab {
        /// Lower-case and strip accents.
        lowercase: bool,
    },
    /// A GPT-2 byte-level BPE `vocab.json` and `merges.txt`.
    Gpt2,
}

impl TokenizerFiles {
    /// The kind of these files.
    pub fn kind(&self) -> TokenizerKind {
        match self {
            TokenizerFiles::Json(_) => TokenizerKind::Json,
            TokenizerFiles::BertVocab { lowercase, .. } => TokenizerKind::BertVocab { lowercase: *lowercase },
            TokenizerFiles::Gpt2 { .. } => TokenizerKind::Gpt2,
        }
    }
}

/// How a tokenizer's pieces show that they continue a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceStyle {
    /// WordPiece: a continuation starts with this prefix (`##`).
    WordPiece(String),
    /// Byte-level BPE: a word-initial piece starts with `Ġ`.
    ByteLevel,
    /// SentencePiece style: a word-initial piece starts with `▁`.
    Metaspace,
    /// Anything else: a piece starts a word when white space precedes it.
    OffsetGap,
}

/// A loaded tokenizer with what the text path needs to know about it. BERT WordPiece
/// tokenizers encode through [`FastWordPiece`]; everything else, and the rare sentence the fast
/// path does not model, through Hugging Face `tokenizers`.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    fast: Option<FastWordPiece>,
    style: PieceStyle,
    kind: TokenizerKind,
    hash: String,
}

impl TextTokenizer {
    /// Builds the tokenizer from its files; padding and truncation are switched off.
    pub fn from_files(files: &TokenizerFiles) -> Result<Self, TextError> {
        let bad = |e: tokenizers::Error| TextError::Tokenizer(e.to_string());
        let mut hasher = Sha256::new();
        let mut tokenizer = match files {
            TokenizerFiles::Json(bytes) => {
                hasher.update(bytes);
                Tokenizer::from_bytes(bytes).map_err(bad)?
            }
            TokenizerFiles::BertVocab { vocab, lowercase } => {
                hasher.update(vocab);
                hasher.update([u8::from(*lowercase)]);
                let vocab = WordPiece::read_bytes(vocab).map_err(bad)?;
                let model = WordPiece::builder().vocab(vocab).build().map_err(bad)?;
                let mut t = Tokenizer::new(model);
                t.with_normalizer(Some(BertNormalizer::new(true, true, None, *lowercase)))
                    .map_err(bad)?;
                t.with_pre_tokenizer(Some(BertPreTokenizer));
                t.with_decoder(Some(WordPieceDecoder::default()));
                t
            }
            TokenizerFiles::Gpt2 { vocab, merges } => {
                hasher.update(vocab);
                hasher.update(merges);
                let vocab: HashMap<String, u32> = serde_json::from_slice(vocab)
                    .map_err(|e| TextError::Tokenizer(format!("vocab.json is not a JSON object of ids: {e}")))?;
                let merges = parse_merges(merges)?;
                let vocab: tokenizers::models::bpe::Vocab = vocab.into_iter().collect();
                let model = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(bad)?;
                let mut t = Tokenizer::new(model);
                t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
                t.with_decoder(Some(ByteLevelDecoder::default()));
                // GPT-2's own vocabulary has no RoBERTa special tokens: they are added after its
                // ids. A vocabulary that has them (RoBERTa's ids) keeps their ids; either way they
                // are declared special.
                let specials: Vec<AddedToken> = ROBERTA_SPECIAL_TOKENS
                    .iter()
                    .map(|s| AddedToken::from(*s, true))
                    .collect();
                t.add_special_tokens(specials).map_err(bad)?;
                t
            }
        };
        // Text that spells a special token (`[SEP]`) is text, not a special token.
        tokenizer.set_encode_special_tokens(true);
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(bad)?;
        let style = piece_style(&tokenizer);
        let fast = match fast_path(&tokenizer) {
            Ok(fast) => Some(fast),
            Err(reason) => {
                if matches!(tokenizer.get_model(), ModelWrapper::WordPiece(_)) {
                    log::info!(
                        "tokenizer: the fast WordPiece path is off ({reason}); encoding with Hugging Face tokenizers"
                    );
                }
                None
            }
        };
        Ok(Self {
            tokenizer,
            fast,
            style,
            kind: files.kind(),
            hash: hex::encode(hasher.finalize()),
        })
    }

    /// The kind of files the tokenizer was built from.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Whether sentences encode through the fast WordPiece path.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// The fast WordPiece path, when this tokenizer takes it.
    pub fn fast(&self) -> Option<&FastWordPiece> {
        self.fast.as_ref()
    }

    /// The token the model emits for what it cannot encode (`[UNK]`), when it has one.
    pub fn unknown_token(&self) -> Option<String> {
        use tokenizers::models::ModelWrapper;
        match self.tokenizer.get_model() {
            ModelWrapper::WordPiece(w) => Some(w.unk_token.clone()),
            ModelWrapper::WordLevel(w) => Some(w.unk_token.clone()),
            ModelWrapper::BPE(b) => b.unk_token.clone(),
            ModelWrapper::Unigram(_) => None,
        }
    }

    /// Encodes one sentence without special tokens; offsets are byte offsets into `sentence`.
    pub fn encode(&self, sentence: &str) -> Result<Pieces, TextError> {
        let mut pieces = Pieces::default();
        self.encode_into(sentence, &mut pieces)?;
        Ok(pieces)
    }

    /// Like [`encode`](Self::encode), appending to `out` (whose buffers are reused).
    pub fn encode_into(&self, sentence: &str, out: &mut Pieces) -> Result<(), TextError> {
        if let Some(fast) = &self.fast
            && fast.encode(sentence, out).is_ok()
        {
            return Ok(());
        }
        self.encode_reference_into(sentence, out)
    }

    /// Encodes through Hugging Face `tokenizers` alone (the reference of the fast path).
    pub fn encode_reference(&self, sentence: &str) -> Result<Pieces, TextError> {
        let mut pieces = Pieces::default();
        self.encode_reference_into(sentence, &mut pieces)?;
        Ok(pieces)
    }

    fn encode_reference_into(&self, sentence: &str, out: &mut Pieces) -> Result<(), TextError> {
        let encoding = self
            .tokenizer
            .encode(sentence, false)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        let offsets = encoding.get_offsets();
        for (i, (token, &id)) in encoding.get_tokens().iter().zip(encoding.get_ids()).enumerate() {
            let previous_end = if i == 0 { 0 } else { offsets[i - 1].1 };
            let continues = i > 0 && continues_piece(token, &self.style, previous_end, offsets[i].0);
            out.push(id, offsets[i], continues);
        }
        Ok(())
    }

    /// How pieces mark word continuation.
    pub fn style(&self) -> &PieceStyle {
        &self.style
    }

    /// Hex SHA-256 of the files the tokenizer was built from.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Id of a token, when the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Every token string indexed by id, added tokens included (gaps are empty strings).
    pub fn vocabulary(&self) -> Vec<String> {
        let vocab = self.tokenizer.get_vocab(true);
        let size = vocab.values().max().map_or(0, |&m| m as usize + 1);
        let mut tokens = vec![String::new(); size];
        for (token, id) in vocab {
            tokens[id as usize] = token;
        }
        tokens
    }

    /// Ids of the tokens the tokenizer declares special (added special tokens).
    pub fn special_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .tokenizer
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// This tokenizer as a Hugging Face `tokenizer.json`: the same normalizer, pre-tokenizer and
    /// model (so it gives the documents' ids for each sentence), `specials` registered as
    /// special tokens, and a post-processor with maskforge's layout: `cls A sep` for one
    /// sequence, `cls A sep B sep` (B with token type 1) for a pair.
    pub fn hugging_face_json(&self, cls: &str, sep: &str, specials: &[&str]) -> Result<String, TextError> {
        let bad = |e: tokenizers::Error| TextError::Tokenizer(e.to_string());
        let id = |token: &str| {
            self.tokenizer
                .token_to_id(token)
                .ok_or_else(|| TextError::Tokenizer(format!("the vocabulary has no `{token}`")))
        };
        let (cls_id, sep_id) = (id(cls)?, id(sep)?);
        let mut exported = self.tokenizer.clone();
        let known: Vec<AddedToken> = specials
            .iter()
            .filter(|t| exported.token_to_id(t).is_some())
            .map(|t| AddedToken::from(*t, true))
            .collect();
        exported.add_special_tokens(known).map_err(bad)?;
        let template = TemplateProcessing::builder()
            .try_single(format!("{cls} $A {sep}"))
            .and_then(|b| b.try_pair(format!("{cls} $A {sep} $B:1 {sep}:1")))
            .map_err(|e| TextError::Tokenizer(e.to_string()))?
            .special_tokens(vec![(cls.to_owned(), cls_id), (sep.to_owned(), sep_id)])
            .build()
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        exported.with_post_processor(Some(template));
        exported.to_string(true).map_err(bad)
    }

    /// The underlying Hugging Face tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

fn parse_merges(bytes: &[u8]) -> Result<Vec<(String, String)>, TextError> {
    let text = std::str::from_utf8(bytes).map_err(|e| TextError::Tokenizer(format!("merges.txt is not UTF-8: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with("#version") && !l.trim().is_empty())
        .map(|(i, l)| {
            l.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| TextError::Tokenizer(format!("merges.txt line {}: expected two pieces", i + 1)))
        })
        .collect()
}

/// Whether `token` continues the piece before it, as its tokenizer marks pieces.
fn continues_piece(token: &str, style: &PieceStyle, previous_end: usize, start: usize) -> bool {
    match style {
        PieceStyle::WordPiece(prefix) => token.starts_with(prefix.as_str()),
        PieceStyle::ByteLevel => !token.starts_with('Ġ'),
        PieceStyle::Metaspace => !token.starts_with('▁'),
        PieceStyle::OffsetGap => previous_end == start,
    }
}

/// The fast WordPiece path for a tokenizer whose whole pipeline it reproduces: a BERT
/// normalizer (or none), the BERT pre-tokenizer, a WordPiece model with its unknown token in
/// the vocabulary, and only special added tokens (which are encoded as text here).
fn fast_path(tokenizer: &Tokenizer) -> Result<FastWordPiece, String> {
    let ModelWrapper::WordPiece(model) = tokenizer.get_model() else {
        return Err("the model is not WordPiece".into());
    };
    let options = match tokenizer.get_normalizer() {
        Some(NormalizerWrapper::BertNormalizer(n)) => BertNormalization {
            clean_text: n.clean_text,
            handle_chinese_chars: n.handle_chinese_chars,
            strip_accents: n.strip_accents.unwrap_or(n.lowercase),
            lowercase: n.lowercase,
        },
        None => BertNormalization {
            clean_text: false,
            handle_chinese_chars: false,
            strip_accents: false,
            lowercase: false,
        },
        Some(_) => return Err("the normalizer is not BertNormalizer".into()),
    };
    if !matches!(
        tokenizer.get_pre_tokenizer(),
        Some(PreTokenizerWrapper::BertPreTokenizer(_))
    ) {
        return Err("the pre-tokenizer is not BertPreTokenizer".into());
    }
    if tokenizer.get_added_tokens_decoder().values().any(|t| !t.special) {
        return Err("it has added tokens that are not special".into());
    }
    FastWordPiece::new(model, options)
        .ok_or_else(|| format!("the unknown token {} is not in the vocabulary", model.unk_token))
}

fn piece_style(tokenizer: &Tokenizer) -> PieceStyle {
    match tokenizer.get_model() {
        ModelWrapper::WordPiece(wp) => PieceStyle::WordPiece(wp.continuing_subword_prefix.clone()),
        _ => {
            let vocab = tokenizer.get_vocab(false);
            if vocab.contains_key("Ġthe") || vocab.keys().any(|k| k.starts_with('Ġ')) {
                PieceStyle::ByteLevel
            } else if vocab.keys().any(|k| k.starts_with('▁')) {
                PieceStyle::Metaspace
            } else {
                PieceStyle::OffsetGap
            }
        }
    }
}
