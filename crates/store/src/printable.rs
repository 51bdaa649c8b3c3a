//! Untrusted text (file names, manifest entries, messages that quote them) made safe to print on
//! a terminal: control characters (ESC sequences, carriage returns, line breaks), Unicode's line
//! and paragraph separators and the bidirectional overrides are written as `\u{..}` escapes, so
//! a crafted name can neither move the cursor, recolour the screen nor forge an output line.

use std::borrow::Cow;

/// Whether `c` would change what a terminal shows beyond its own glyph.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character escaped as `\u{XX}`; unchanged, and not copied, when
/// there is none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for a message that may span lines on purpose (a list of problems): its line
/// breaks are kept, every other unsafe character escaped.
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| printable(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on_and_nothing_else() {
        assert!(matches!(printable("part-00000.parquet 中文 #%"), Cow::Borrowed(_)));
        assert_eq!(printable("bad\u{1b}[31mred"), "bad\\u{1b}[31mred");
        assert_eq!(printable("a\nfake: ok\r"), "a\\u{a}fake: ok\\u{d}");
        assert_eq!(printable("x\u{202e}txt.exe"), "x\\u{202e}txt.exe");
        assert_eq!(printable("c:\\dir\u{7}"), "c:\\dir\\u{7}");
        assert_eq!(printable_lines("one\u{1b}\ntwo"), "one\\u{1b}\ntwo");
    }
}
