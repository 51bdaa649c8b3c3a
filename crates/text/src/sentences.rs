//! Sentence splitting (masking.md section 2.2). Chinese: split after runs of `。！？!?；;…`,
//! keeping closing quotes and brackets with the sentence. Latin scripts add `.` followed by white
//! space and an upper-case letter. Lines always end sentences; empty sentences are dropped.

use crate::clean::{clean, is_line_break};

/// Which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitRules {
    /// Also split at `.` followed by white space and an upper-case letter.
    pub latin_period: bool,
}

fn is_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '!' | '?' | '；' | ';' | '…')
}

fn is_closer(c: char) -> bool {
    matches!(c, '”' | '’' | '」' | '』' | '）' | ')' | '》')
}

/// Cleans `text` and splits it into trimmed, non-empty sentences, calling `emit(leading,
/// sentence)` for each: `leading` is the white space that stood before the sentence in its line
/// (empty for a line's first sentence), which a byte-level tokenizer must see to encode the
/// sentence's first word as it stands in the text (RoBERTa's `Ġ`).
pub fn split_sentences(text: &str, rules: SplitRules, mut emit: impl FnMut(&str, &str)) {
    for line in text.split(is_line_break) {
        let cleaned = clean(line);
        split_line(&cleaned, rules, &mut emit);
    }
}

fn split_line(line: &str, rules: SplitRules, emit: &mut impl FnMut(&str, &str)) {
    let mut first = true;
    let mut emit_piece = |piece: &str| {
        let sentence = piece.trim_matches(' ');
        if sentence.is_empty() {
            return;
        }
        let leading = if first {
            ""
        } else {
            &piece[..piece.len() - piece.trim_start_matches(' ').len()]
        };
        first = false;
        emit(leading, sentence);
    };
    let mut start = 0;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = if is_terminator(c) {
            while chars.next_if(|&(_, c)| is_terminator(c)).is_some() {}
            true
        } else if c == '.' && rules.latin_period {
            latin_period_ends_sentence(&line[i + 1..])
        } else {
            false
        };
        if ends {
            while chars.next_if(|&(_, c)| is_closer(c)).is_some() {}
            let end = chars.peek().map_or(line.len(), |&(j, _)| j);
            emit_piece(&line[start..end]);
            start = end;
        }
    }
    emit_piece(&line[start..]);
}

/// `rest` is what follows a `.`: closers, then white space, then an upper-case letter.
fn latin_period_ends_sentence(rest: &str) -> bool {
    let after_closers = rest.trim_start_matches(is_closer);
    let after_space = after_closers.trim_start_matches(' ');
    after_space.len() < after_closers.len() && after_space.chars().next().is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, latin: bool) -> Vec<String> {
        let mut out = Vec::new();
        split_sentences(text, SplitRules { latin_period: latin }, |_, s| out.push(s.to_owned()));
        out
    }

    #[test]
    fn each_sentence_comes_with_the_white_space_before_it_in_its_line() {
        let mut out = Vec::new();
        split_sentences(
            "  I complain.  So it goes. Fine\nNext line. Yes",
            SplitRules { latin_period: true },
            |lead, s| out.push(format!("{lead}|{s}")),
        );
        assert_eq!(
            out,
            ["|I complain.", "  |So it goes.", " |Fine", "|Next line.", " |Yes"]
        );
    }

    #[test]
    fn chinese_terminators_runs_and_closers() {
        assert_eq!(
            split("你好。“我很好！”他说？？好吧……再见", false),
            ["你好。", "“我很好！”", "他说？？", "好吧……", "再见"]
        );
        assert_eq!(split("（注意！）然后；继续", false), ["（注意！）", "然后；", "继续"]);
    }

    #[test]
    fn lines_split_and_empty_sentences_vanish() {
        assert_eq!(split("第一行\n\n  \r\n第二行。 ", false), ["第一行", "第二行。"]);
    }

    #[test]
    fn latin_period_needs_space_and_upper_case() {
        assert_eq!(
            split("It costs 3.5 dollars. Then we go. and on", true),
            ["It costs 3.5 dollars.", "Then we go. and on"]
        );
        assert_eq!(split("Stop. Go", false), ["Stop. Go"]);
        assert_eq!(split("He left.) Then", true), ["He left.)", "Then"]);
    }
}
