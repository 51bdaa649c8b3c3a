//! Cleaning as BERT's BasicTokenizer does it: drop NUL, U+FFFD and control characters, map every
//! kind of white space to a plain space. Case and accents are left to the tokenizer's normalizer.

use std::borrow::Cow;
use unicode_general_category::{GeneralCategory, get_general_category};

/// Characters that end a line (and so a sentence) before cleaning.
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// BERT's `_is_whitespace`: space, tab, newline, carriage return, or a space separator (Zs).
pub fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || get_general_category(c) == GeneralCategory::SpaceSeparator
}

/// BERT's `_is_control`: any "C*" category except tab, newline and carriage return.
pub fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Unassigned
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
    )
}

/// Cleans one line; borrows when nothing changes (the common case).
pub fn clean(line: &str) -> Cow<'_, str> {
    let needs_work = line.chars().any(|c| !is_plain(c));
    if !needs_work {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        out.push(if is_whitespace(c) { ' ' } else { c });
    }
    Cow::Owned(out)
}

/// Whether cleaning keeps `c` as it is; printable ASCII is the fast path.
fn is_plain(c: char) -> bool {
    (' '..='~').contains(&c) || (c != '\u{fffd}' && !is_control(c) && !is_whitespace(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_controls_and_maps_spaces() {
        assert_eq!(clean("a\0b\u{fffd}c\u{200b}d\te\u{3000}f"), "abcd e f");
        assert!(matches!(clean("plain 中文"), Cow::Borrowed(_)));
    }
}
