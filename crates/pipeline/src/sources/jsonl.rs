//! JSON Lines: one object a line with a text field and an optional id field. Blank lines are
//! not records; every other line is one, good or counted as bad with its line number. A piece
//! reads the lines that start before its end.

use super::lines::{Line, LineReader};
use super::{BatchLimits, Record, RecordBody, RecordSource};
use crate::PipelineError;
use crate::documents::RecordKey;
use maskforge_config::SourceConfig;
use maskforge_schema::SkipReason;
use serde_json::Value;

/// Records of a JSON Lines file.
pub struct JsonLines {
    lines: LineReader,
    text_field: String,
    id_field: Option<String>,
    /// Lines starting at or after this byte belong to the next piece.
    end: u64,
    limits: BatchLimits,
    first: bool,
}

impl JsonLines {
    /// Reads records from numbered lines with the source's field names, up to byte `end`.
    pub fn new(lines: LineReader, source: &SourceConfig, end: u64, limits: BatchLimits) -> Self {
        Self {
            lines,
            text_field: source.text_column().to_owned(),
            id_field: source.id_column.clone(),
            end,
            limits,
            first: true,
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>, PipelineError> {
        let max_bytes = self.lines.max_bytes();
        loop {
            let from_start = self.lines.reads_from_start();
            let Some((start, line)) = self.lines.next_line()? else {
                return Ok(None);
            };
            if start.offset >= self.end {
                return Ok(None);
            }
            let (id, body) = match line {
                Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Complete(bytes) if self.first && from_start && bytes.trim_ascii_start().starts_with(b"[") => {
                    let message = "this is a JSON array, not JSON Lines (one object a line)";
                    return Err(PipelineError::at(self.lines.url(), start.position(), message));
                }
                Line::Complete(bytes) => parse(bytes, &self.text_field, self.id_field.as_deref()),
                Line::TooLong => (
                    None,
                    bad(SkipReason::RecordTooLarge, format!("line passes {max_bytes} bytes")),
                ),
            };
            self.first = false;
            return Ok(Some(Record {
                key: RecordKey::Offset(start.offset),
                position: start.position(),
                id,
                body,
            }));
        }
    }
}

fn bad(reason: SkipReason, message: String) -> RecordBody {
    RecordBody::Bad { reason, message }
}

fn parse(bytes: &[u8], text_field: &str, id_field: Option<&str>) -> (Option<String>, RecordBody) {
    let Ok(line) = std::str::from_utf8(bytes) else {
        return (None, bad(SkipReason::InvalidUtf8, "line is not valid UTF-8".into()));
    };
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return (None, bad(SkipReason::InvalidJson, format!("broken JSON: {e}"))),
    };
    let Value::Object(mut object) = value else {
        return (
            None,
            bad(SkipReason::InvalidJson, "line is JSON but not an object".into()),
        );
    };
    let id = id_field.and_then(|f| match object.get(f) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    let body = match object.remove(text_field) {
        Some(Value::String(text)) => RecordBody::Text(text),
        Some(Value::Null) | None => bad(SkipReason::MissingText, format!("no `{text_field}` field")),
        Some(other) => bad(
            SkipReason::MissingText,
            format!("`{text_field}` is not a string but {}", kind(&other)),
        ),
    };
    (id, body)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl RecordSource for JsonLines {
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError> {
        let limits = self.limits;
        super::fill_batch(limits, || self.next_record())
    }
}
