//! What masking needs to know about the vocabulary: special token ids, which ids are CJK
//! characters, and the pool random replacements are drawn from.

use crate::MaskingError;
use crate::rng::KeyedRng;
use crate::spec::{MaskSpec, PairSpec, RandomPool};

/// The special tokens masking needs, by their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialRole {
    /// Starts every example.
    Cls,
    /// Ends each segment.
    Sep,
    /// Replaces masked tokens.
    Mask,
}

impl std::fmt::Display for SpecialRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpecialRole::Cls => "cls",
            SpecialRole::Sep => "sep",
            SpecialRole::Mask => "mask",
        })
    }
}

/// Names of the special tokens an example is assembled with.
#[derive(Debug, Clone)]
pub struct SpecialTokenNames {
    /// Starts every example (`[CLS]`, `<s>`).
    pub cls: String,
    /// Ends each segment (`[SEP]`, `</s>`).
    pub sep: String,
    /// Replaces masked tokens (`[MASK]`, `<mask>`).
    pub mask: String,
}

impl SpecialTokenNames {
    /// The names the specs give.
    pub fn of(pairs: &PairSpec, masks: &MaskSpec) -> Self {
        Self {
            cls: pairs.cls_token.clone(),
            sep: pairs.sep_token.clone(),
            mask: masks.mask_token.clone(),
        }
    }
}

/// The vocabulary as masking sees it.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    tokens: Vec<String>,
    cjk: Vec<bool>,
    special: Vec<bool>,
    pool: Vec<u32>,
    /// `[CLS]` id.
    pub cls: u32,
    /// `[SEP]` id.
    pub sep: u32,
    /// `[MASK]` id.
    pub mask: u32,
}

/// Tokens that are markup rather than text: `[PAD]`, `[unused12]`, `<s>`, `<|endoftext|>`.
fn looks_special(token: &str) -> bool {
    (token.starts_with('[') && token.ends_with(']') && token.len() > 2)
        || (token.starts_with('<') && token.ends_with('>') && token.len() > 2)
}

impl Vocabulary {
    /// Builds the vocabulary from its tokens (indexed by id), the ids the tokenizer declares
    /// special, the special token names, and the random pool choice.
    pub fn new(
        tokens: Vec<String>,
        declared_special: &[u32],
        names: &SpecialTokenNames,
        pool: RandomPool,
    ) -> Result<Self, MaskingError> {
        let id = |name: &str, role: SpecialRole| {
            tokens
                .iter()
                .position(|t| t == name)
                .map(|i| i as u32)
                .ok_or_else(|| MaskingError::MissingToken {
                    token: name.to_owned(),
                    role,
                })
        };
        let (cls, sep, mask) = (
            id(&names.cls, SpecialRole::Cls)?,
            id(&names.sep, SpecialRole::Sep)?,
            id(&names.mask, SpecialRole::Mask)?,
        );
        let mut special: Vec<bool> = tokens.iter().map(|t| looks_special(t)).collect();
        for (&id, role) in [cls, sep, mask]
            .iter()
            .zip([SpecialRole::Cls, SpecialRole::Sep, SpecialRole::Mask])
        {
            if !special[id as usize] && !declared_special.contains(&id) {
                return Err(MaskingError::NotSpecial {
                    token: tokens[id as usize].clone(),
                    role,
                });
            }
        }
        for &s in declared_special.iter().chain([cls, sep, mask].iter()) {
            if let Some(flag) = special.get_mut(s as usize) {
                *flag = true;
            }
        }
        let cjk = tokens
            .iter()
            .map(|t| t.chars().next().is_some_and(is_cjk) && t.chars().count() == 1)
            .collect();
        let pool: Vec<u32> = match pool {
            RandomPool::Content => (0..tokens.len() as u32)
                .filter(|&i| !special[i as usize] && !tokens[i as usize].is_empty())
                .collect(),
            RandomPool::Vocab => (0..tokens.len() as u32).collect(),
        };
        if pool.is_empty() {
            return Err(MaskingError::EmptyPool);
        }
        Ok(Self {
            tokens,
            cjk,
            special,
            pool,
            cls,
            sep,
            mask,
        })
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token string of an id.
    pub fn token(&self, id: u32) -> &str {
        self.tokens.get(id as usize).map_or("", String::as_str)
    }

    /// Whether the id is a single CJK character.
    pub fn is_cjk(&self, id: u32) -> bool {
        self.cjk.get(id as usize).copied().unwrap_or(false)
    }

    /// Whether the id is a special or markup token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// A random replacement token from the pool.
    pub fn random_token(&self, rng: &mut KeyedRng) -> u32 {
        self.pool[rng.below(self.pool.len())]
    }
}

/// BERT's CJK ranges (the text crate has the same test; masking stays free of it).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}
