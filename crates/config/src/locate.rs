//! Finds the line of a dotted key in the pipeline file, for error messages.

use std::ops::Range;
use toml_edit::{Document, Item, Table, Value};

/// The 1-based line where `dotted` (for example `sources.0.filter`) is set in `text`, or of the
/// deepest enclosing key or table that exists, or `None` when nothing of it occurs.
pub fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    let mut node = Node::Table(doc.as_table());
    let mut found: Option<Range<usize>> = None;
    for part in dotted.split('.') {
        let (next, span) = node.child(part);
        if span.is_some() {
            found = span;
        }
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    found.map(|span| text[..span.start].matches('\n').count() + 1)
}

enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    /// The child named `part` and the span of its key (or table header).
    fn child(&self, part: &str) -> (Option<Node<'a>>, Option<Range<usize>>) {
        match self {
            Node::Table(t) => (t.get(part).map(Node::Item), t.key(part).and_then(|k| k.span())),
            Node::Item(Item::Table(t)) => Node::Table(t).child(part),
            Node::Item(Item::ArrayOfTables(a)) => match part.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(t) => (Some(Node::Table(t)), t.span()),
                None => (None, None),
            },
            Node::Item(Item::Value(v)) => Node::Value(v).child(part),
            Node::Value(Value::InlineTable(t)) => (t.get(part).map(Node::Value), t.key(part).and_then(|k| k.span())),
            Node::Value(Value::Array(a)) => match part.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => (Some(Node::Value(v)), v.span()),
                None => (None, None),
            },
            _ => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "seed = 1\n\n[[sources]]\nurls = ['a']\n\n[[sources]]\nurls = ['b']\nfilter = 'x'\n\n[masking]\nprobability = 2.0\nreplace = { mask = 0.5 }\n";

    #[test]
    fn finds_keys_tables_and_array_elements() {
        assert_eq!(line_of(TEXT, "seed"), Some(1));
        assert_eq!(line_of(TEXT, "sources.1.filter"), Some(8));
        assert_eq!(line_of(TEXT, "masking.probability"), Some(11));
        assert_eq!(line_of(TEXT, "masking.replace.mask"), Some(12));
        // A missing key falls back to its nearest enclosing table.
        assert_eq!(line_of(TEXT, "masking.ngram_max"), Some(10));
        assert_eq!(line_of(TEXT, "output.url"), None);
    }
}
