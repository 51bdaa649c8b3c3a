//! Plain text in the BERT layout: one sentence or paragraph a line, blank (or white-space only)
//! lines between documents.

use super::lines::{Line, LineReader};
use super::{BatchLimits, Record, RecordBody, RecordSource};
use crate::PipelineError;
use maskforge_schema::SkipReason;

/// Documents of a text file.
pub struct TextDocuments {
    lines: LineReader,
    limits: BatchLimits,
    next_index: u64,
    done: bool,
}

impl TextDocuments {
    /// Reads documents from numbered lines.
    pub fn new(lines: LineReader, limits: BatchLimits) -> Self {
        Self {
            lines,
            limits,
            next_index: 0,
            done: false,
        }
    }

    /// The next document, or `None` at the end of the file.
    fn next_document(&mut self) -> Result<Option<Record>, PipelineError> {
        let max_bytes = self.lines.max_bytes();
        let mut text: Vec<u8> = Vec::new();
        let mut first_line = 0;
        let mut problem: Option<(SkipReason, String)> = None;
        loop {
            let Some((number, line)) = self.lines.next_line()? else {
                self.done = true;
                break;
            };
            match line {
                Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                    if first_line != 0 {
                        break;
                    }
                    continue; // blank lines before a document
                }
                Line::Complete(bytes) => {
                    if first_line == 0 {
                        first_line = number;
                    }
                    if problem.is_some() {
                        continue;
                    }
                    if std::str::from_utf8(bytes).is_err() {
                        problem = Some((SkipReason::InvalidUtf8, format!("line {number} is not valid UTF-8")));
                    } else if text.len() + bytes.len() > max_bytes {
                        problem = Some((SkipReason::RecordTooLarge, format!("document passes {max_bytes} bytes")));
                    } else {
                        text.extend_from_slice(bytes);
                        text.push(b'\n');
                    }
                }
                Line::TooLong => {
                    if first_line == 0 {
                        first_line = number;
                    }
                    if problem.is_none() {
                        problem = Some((
                            SkipReason::RecordTooLarge,
                            format!("line {number} passes {max_bytes} bytes"),
                        ));
                    }
                }
            }
        }
        if first_line == 0 {
            return Ok(None);
        }
        let body = match problem {
            Some((reason, message)) => RecordBody::Bad { reason, message },
            // Every line was checked above, so this conversion cannot fail; keep it total anyway.
            None => match String::from_utf8(text) {
                Ok(s) => RecordBody::Text(s),
                Err(_) => RecordBody::Bad {
                    reason: SkipReason::InvalidUtf8,
                    message: "not valid UTF-8".into(),
                },
            },
        };
        let record = Record {
            index: self.next_index,
            line: first_line,
            id: None,
            body,
        };
        self.next_index += 1;
        Ok(Some(record))
    }
}

impl RecordSource for TextDocuments {
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError> {
        if self.done {
            return Ok(None);
        }
        let limits = self.limits;
        super::fill_batch(limits, || self.next_document())
    }
}
