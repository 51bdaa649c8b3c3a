//! The character rules of Hugging Face's BERT normalizer and BERT pre-tokenizer, with the same
//! Unicode tables (`unicode_categories`, `unicode-normalization-alignments`) that `tokenizers`
//! uses, so the fast path classifies every character exactly as the reference does.

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char::{canonical_combining_class, decompose_canonical};

/// The normalizer's options, as in a `BertNormalizer` of a `tokenizer.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertNormalization {
    /// Drop NUL, U+FFFD and control characters; map white space to a space.
    pub clean_text: bool,
    /// Make every CJK ideograph a word of its own.
    pub handle_chinese_chars: bool,
    /// Decompose (NFD) and drop non-spacing marks.
    pub strip_accents: bool,
    /// Lower-case every character.
    pub lowercase: bool,
}

/// What the cleaning step makes of one character.
pub(crate) enum Cleaned {
    /// Removed.
    Dropped,
    /// Kept (white space already mapped to a space).
    Kept(char),
}

/// The cleaning step of the normalizer for one character.
pub(crate) fn clean(c: char) -> Cleaned {
    if c == '\0' || c == '\u{fffd}' || is_control(c) {
        Cleaned::Dropped
    } else if is_whitespace(c) {
        Cleaned::Kept(' ')
    } else {
        Cleaned::Kept(c)
    }
}

/// The normalizer's white space: tab, newline, carriage return and Unicode `White_Space`.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// The normalizer's control characters: categories Cc, Cf, Cn, Co, Cs except tab, newline, CR.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The normalizer's CJK ideographs, with the ranges of `tokenizers`' BertNormalizer. Not
/// [`crate::is_cjk`]: that one follows Google's Python (`0x2B820..`), the Rust reference starts
/// that block at `0x2B920`, and the fast path must agree with the reference.
pub(crate) fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// The pre-tokenizer's punctuation: ASCII punctuation or a Unicode `P*` category.
pub(crate) fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// A character the fast path cannot place exactly: NFD would reorder it among the marks
/// around it and it survives accent stripping (a combining mark that is not non-spacing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub char);

/// Emits the characters the accent stripping and lower-casing steps make of `c` (after
/// cleaning). Fails on characters whose alignment after NFD the fast path does not model.
pub(crate) fn normalize(c: char, options: BertNormalization, emit: &mut impl FnMut(char)) -> Result<(), Unsupported> {
    if !options.strip_accents {
        lower(c, options.lowercase, emit);
        return Ok(());
    }
    let mut failure = None;
    decompose_canonical(c, |d| {
        if failure.is_some() || d.is_mark_nonspacing() {
            return;
        }
        if canonical_combining_class(d) != 0 {
            failure = Some(Unsupported(d));
            return;
        }
        lower(d, options.lowercase, emit);
    });
    failure.map_or(Ok(()), Err)
}

/// What the normalizer and pre-tokenizer make of one character of the Basic Multilingual
/// Plane, precomputed with the functions above, so common text needs one table lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Class {
    /// Removed by cleaning.
    Dropped,
    /// Ends the word (white space).
    Space,
    /// Unchanged by normalization and a word of its own (punctuation).
    Punctuation,
    /// Unchanged by normalization and part of a word.
    Word,
    /// Unchanged by normalization and a word of its own (a CJK ideograph).
    Ideograph,
    /// Anything else: normalized one character at a time.
    Other,
}

/// [`Class`] of every BMP character under `options`.
pub(crate) struct ClassTable(Box<[Class]>);

impl ClassTable {
    pub(crate) fn new(options: BertNormalization) -> Self {
        let classes = (0..=0xFFFFu32)
            .map(|u| char::from_u32(u).map_or(Class::Other, |c| classify(c, options)))
            .collect();
        Self(classes)
    }

    /// The class of `c`; [`Class::Other`] outside the BMP.
    #[inline]
    pub(crate) fn of(&self, c: char) -> Class {
        self.0.get(c as usize).copied().unwrap_or(Class::Other)
    }
}

fn classify(c: char, options: BertNormalization) -> Class {
    let c = if options.clean_text {
        match clean(c) {
            Cleaned::Dropped => return Class::Dropped,
            Cleaned::Kept(c) => c,
        }
    } else {
        c
    };
    let mut normalized = Vec::new();
    if normalize(c, options, &mut |n| normalized.push(n)).is_err() || normalized != [c] {
        return Class::Other;
    }
    if c.is_whitespace() {
        Class::Space
    } else if is_punctuation(c) {
        Class::Punctuation
    } else if options.handle_chinese_chars && is_chinese_char(c) {
        Class::Ideograph
    } else {
        Class::Word
    }
}

fn lower(c: char, lowercase: bool, emit: &mut impl FnMut(char)) {
    if lowercase {
        c.to_lowercase().for_each(emit);
    } else {
        emit(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_reference_definitions() {
        assert!(matches!(clean('\u{200b}'), Cleaned::Dropped), "Cf is a control");
        assert!(
            matches!(clean('\u{0b}'), Cleaned::Dropped),
            "vertical tab is Cc before white space"
        );
        assert!(matches!(clean('\u{3000}'), Cleaned::Kept(' ')));
        assert!(matches!(clean('\u{2028}'), Cleaned::Kept(' ')));
        assert!(is_punctuation('$') && is_punctuation('。') && !is_punctuation('中'));
        assert!(is_chinese_char('中') && !is_chinese_char('あ'));
    }

    #[test]
    fn strips_accents_then_lowercases() {
        let options = BertNormalization {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        };
        let run = |options| {
            let mut out = String::new();
            for c in "Éİ".chars() {
                normalize(c, options, &mut |n| out.push(n)).unwrap();
            }
            out
        };
        // NFD splits İ into I + U+0307, which stripping drops.
        assert_eq!(run(options), "ei");
        // Without stripping, lower-casing İ itself adds U+0307.
        let cased = BertNormalization {
            strip_accents: false,
            ..options
        };
        assert_eq!(run(cased), "éi\u{307}");
    }
}
