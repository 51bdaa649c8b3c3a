//! Word starts per token (masking.md section 2.4), from the tokenizer's pieces and jieba's words
//! aligned by byte offsets.

use crate::cjk::is_single_cjk;
use crate::pieces::Pieces;
use crate::segmenter::Segmenter;
use crate::tokenizer::PieceStyle;
use std::ops::Range;

/// One flag per piece of `sentence`: does a word start at this piece.
///
/// - the first piece starts a word;
/// - a continuation piece (WordPiece `##`, byte-level BPE without `Ġ`) does not;
/// - a single CJK character in the same jieba word as the previous single CJK character does not;
/// - every other piece does.
pub fn word_starts(sentence: &str, pieces: &Pieces, style: &PieceStyle, segmenter: &Segmenter) -> Vec<bool> {
    let mut starts = Vec::with_capacity(pieces.len());
    push_word_starts(sentence, pieces, style, segmenter, &mut starts);
    starts
}

/// Like [`word_starts`], appending to `starts`.
pub fn push_word_starts(
    sentence: &str,
    pieces: &Pieces,
    style: &PieceStyle,
    segmenter: &Segmenter,
    starts: &mut Vec<bool>,
) {
    let offsets = &pieces.offsets;
    let has_cjk = segmenter.enabled() && sentence.chars().any(crate::cjk::is_cjk);
    let words = if has_cjk { segmenter.words(sentence) } else { Vec::new() };
    let mut word_cursor = 0;
    let mut previous: Option<(bool, usize)> = None; // (single CJK, word index)
    for (i, (&continues, &(start, end))) in pieces.continues.iter().zip(offsets).enumerate() {
        let text = sentence.get(start..end).unwrap_or("");
        let word = if has_cjk {
            word_index(&words, &mut word_cursor, start)
        } else {
            None
        };
        let single_cjk = word.is_some() && is_single_cjk(text);
        // Byte-level and SentencePiece pieces run through Chinese text without a space marker;
        // there a piece that begins a jieba word over a CJK character starts a word.
        let begins_cjk_word = !matches!(style, PieceStyle::WordPiece(_))
            && word.is_some_and(|w| words[w].start == start)
            && (i == 0 || offsets[i - 1].1 <= start) // not the second byte piece of one character
            && text.chars().next().is_some_and(crate::cjk::is_cjk);
        let starts_word = if i == 0 || begins_cjk_word {
            true
        } else if continues {
            false
        } else {
            !(single_cjk && previous == Some((true, word.unwrap_or(usize::MAX))))
        };
        starts.push(starts_word);
        previous = Some((single_cjk, word.unwrap_or(usize::MAX)));
    }
}

/// Index of the word containing byte `pos`, scanning forward from `cursor` (positions increase).
fn word_index(words: &[Range<usize>], cursor: &mut usize, pos: usize) -> Option<usize> {
    while *cursor < words.len() && words[*cursor].end <= pos {
        *cursor += 1;
    }
    words.get(*cursor).filter(|w| w.contains(&pos)).map(|_| *cursor)
}
