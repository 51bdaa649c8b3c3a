//! Plain text, in one of two layouts. `paragraphs` (the BERT layout): one sentence or paragraph
//! a line, blank (or white-space only) lines between documents. `lines`: every non-blank line
//! is a document.
//!
//! A piece of a file (a byte range) owns, in the `lines` layout, the lines that start in it; in
//! the `paragraphs` layout, the documents whose separating blank line (the one right before the
//! document's first line) starts in it, and the file's first document when it starts at byte 0.
//! So a piece starting inside a file skips to the first blank line at or after its start, and a
//! piece reads on past its end to finish its last document.

use super::lines::{Line, LineReader, LineStart};
use super::{BatchLimits, Record, RecordBody, RecordSource};
use crate::PipelineError;
use crate::documents::RecordKey;
use maskforge_config::TextLayout;
use maskforge_schema::SkipReason;

/// Documents of a text file (or of a piece of one).
pub struct TextDocuments {
    lines: LineReader,
    layout: TextLayout,
    /// The byte where the next piece starts.
    end: u64,
    limits: BatchLimits,
    /// The next non-blank line starts a document: a blank line was just read, or the file's
    /// first line is next.
    between: bool,
    /// Where the last blank line read starts (`None` before any).
    last_blank: Option<u64>,
    done: bool,
}

/// A document being collected.
struct Collected {
    start: LineStart,
    text: Vec<u8>,
    problem: Option<(SkipReason, String)>,
}

impl Collected {
    fn new(start: LineStart) -> Self {
        Self {
            start,
            text: Vec::new(),
            problem: None,
        }
    }

    /// Adds one line of the document, or notes why the document cannot be used.
    fn add(&mut self, start: LineStart, line: Line<'_>, max_bytes: usize) {
        if self.problem.is_some() {
            return;
        }
        let at = start.position();
        match line {
            Line::Complete(bytes) if std::str::from_utf8(bytes).is_err() => {
                self.problem = Some((SkipReason::InvalidUtf8, format!("{at} is not valid UTF-8")));
            }
            Line::Complete(bytes) if self.text.len() + bytes.len() > max_bytes => {
                self.problem = Some((SkipReason::RecordTooLarge, format!("document passes {max_bytes} bytes")));
            }
            Line::Complete(bytes) => {
                self.text.extend_from_slice(bytes);
                self.text.push(b'\n');
            }
            Line::TooLong => {
                self.problem = Some((SkipReason::RecordTooLarge, format!("{at} passes {max_bytes} bytes")));
            }
        }
    }

    fn into_record(self) -> Record {
        let body = match self.problem {
            Some((reason, message)) => RecordBody::Bad { reason, message },
            // Every line was checked when added, so this conversion cannot fail; keep it total anyway.
            None => match String::from_utf8(self.text) {
                Ok(s) => RecordBody::Text(s),
                Err(_) => RecordBody::Bad {
                    reason: SkipReason::InvalidUtf8,
                    message: "not valid UTF-8".into(),
                },
            },
        };
        Record {
            key: RecordKey::Offset(self.start.offset),
            position: self.start.position(),
            id: None,
            body,
        }
    }
}

fn is_blank(line: &Line<'_>) -> bool {
    matches!(line, Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace))
}

impl TextDocuments {
    /// Reads the documents of `lines` in `layout` that belong to the piece ending at `end`.
    pub fn new(lines: LineReader, layout: TextLayout, end: u64, limits: BatchLimits) -> Self {
        Self {
            between: lines.reads_from_start(),
            lines,
            layout,
            end,
            limits,
            last_blank: None,
            done: false,
        }
    }

    /// The next document of the piece, or `None` at its end.
    fn next_document(&mut self) -> Result<Option<Record>, PipelineError> {
        match self.layout {
            TextLayout::Paragraphs => self.next_paragraph(),
            TextLayout::Lines => self.next_line_document(),
        }
    }

    fn next_line_document(&mut self) -> Result<Option<Record>, PipelineError> {
        let max_bytes = self.lines.max_bytes();
        loop {
            let next = self.lines.next_line()?;
            let Some((start, line)) = next.filter(|(start, _)| start.offset < self.end) else {
                self.done = true;
                return Ok(None);
            };
            if is_blank(&line) {
                continue;
            }
            let mut document = Collected::new(start);
            document.add(start, line, max_bytes);
            return Ok(Some(document.into_record()));
        }
    }

    fn next_paragraph(&mut self) -> Result<Option<Record>, PipelineError> {
        let max_bytes = self.lines.max_bytes();
        let mut document: Option<Collected> = None;
        loop {
            let Some((start, line)) = self.lines.next_line()? else {
                self.done = true;
                break;
            };
            if is_blank(&line) {
                self.between = true;
                self.last_blank = Some(start.offset);
                // Documents after a blank line at or past the end belong to the next piece.
                self.done = start.offset >= self.end;
                if document.is_some() || self.done {
                    break;
                }
                continue;
            }
            match &mut document {
                Some(d) => d.add(start, line, max_bytes),
                None if self.between => {
                    self.between = false;
                    let mut d = Collected::new(start);
                    d.add(start, line, max_bytes);
                    document = Some(d);
                }
                // Inside a document an earlier piece owns: skipped up to the next blank line,
                // unless that cannot come before the end any more.
                None if start.offset >= self.end => {
                    self.done = true;
                    break;
                }
                None => {}
            }
        }
        Ok(document.map(Collected::into_record))
    }
}

impl RecordSource for TextDocuments {
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError> {
        let limits = self.limits;
        super::fill_batch(limits, || {
            if self.done {
                return Ok(None);
            }
            self.next_document()
        })
    }
}
