//! Line reading with numbering and a length limit: a line longer than the limit is skipped in
//! pieces and reported, never held in memory whole. Lines end at `\n`, `\r\n` or a lone `\r`
//! (classic Mac files), and a UTF-8 byte order mark before the first line is dropped.

use crate::PipelineError;
use std::io::BufRead;

/// What one call of [`LineReader::next_line`] found.
pub enum Line<'a> {
    /// A whole line without its line break.
    Complete(&'a [u8]),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Numbered lines of a (decompressed) byte stream.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    url: String,
    max_bytes: usize,
    buffer: Vec<u8>,
    number: u64,
    /// The last line ended with `\r`: a `\n` right after it belongs to that line break.
    after_cr: bool,
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl LineReader {
    /// Reads lines of `inner`; `url` names the file in errors.
    pub fn new(inner: Box<dyn BufRead + Send>, url: String, max_bytes: usize) -> Self {
        Self {
            inner,
            url,
            max_bytes,
            buffer: Vec::new(),
            number: 0,
            after_cr: false,
        }
    }

    /// The file's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The longest line (and record) accepted, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The next line with its 1-based number, or `None` at the end. Read errors (a truncated gzip stream, a dropped
    /// connection) name the file and line.
    pub fn next_line(&mut self) -> Result<Option<(u64, Line<'_>)>, PipelineError> {
        self.buffer.clear();
        let mut too_long = false;
        let mut saw_any = false;
        if std::mem::take(&mut self.after_cr) {
            loop {
                match self.inner.fill_buf() {
                    Ok(available) => {
                        if available.first() == Some(&b'\n') {
                            self.inner.consume(1);
                        }
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // reported by the read below
                }
            }
        }
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(PipelineError::at_line(
                        &self.url,
                        self.number + 1,
                        format!("cannot read: {e}"),
                    ));
                }
            };
            if available.is_empty() {
                break;
            }
            saw_any = true;
            let (take, done) = match available.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.after_cr = available[i] == b'\r';
                    (i + 1, true)
                }
                None => (available.len(), false),
            };
            if !too_long {
                if self.buffer.len() + take > self.max_bytes + 2 {
                    too_long = true;
                    self.buffer.clear();
                } else {
                    self.buffer.extend_from_slice(&available[..take]);
                }
            }
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, Line::TooLong)));
        }
        let mut line: &[u8] = &self.buffer;
        line = line
            .strip_suffix(b"\n")
            .or_else(|| line.strip_suffix(b"\r"))
            .unwrap_or(line);
        if self.number == 1 {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.len() > self.max_bytes {
            return Ok(Some((self.number, Line::TooLong)));
        }
        Ok(Some((self.number, Line::Complete(line))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &'static [u8], max: usize) -> LineReader {
        LineReader::new(
            Box::new(std::io::BufReader::with_capacity(4, text)),
            "mem://t".into(),
            max,
        )
    }

    fn collect(mut r: LineReader) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some((_, line)) = r.next_line().unwrap() {
            out.push(match line {
                Line::Complete(b) => Some(b.to_vec()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn numbered_lines_crlf_and_no_final_newline() {
        let got = collect(reader(b"ab\r\n\ncd", 10));
        assert_eq!(got, [Some(b"ab".to_vec()), Some(vec![]), Some(b"cd".to_vec())]);
    }

    #[test]
    fn lone_carriage_returns_end_lines_and_a_bom_is_dropped() {
        let got = collect(reader(b"\xEF\xBB\xBFab\rcd\r\ref\r\ngh\r", 10));
        let expected: Vec<Option<Vec<u8>>> = [&b"ab"[..], b"cd", b"", b"ef", b"gh"]
            .iter()
            .map(|l| Some(l.to_vec()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn long_lines_are_skipped_without_buffering() {
        let got = collect(reader(b"short\nthis line is far too long\nok\n", 8));
        assert_eq!(got, [Some(b"short".to_vec()), None, Some(b"ok".to_vec())]);
    }
}
