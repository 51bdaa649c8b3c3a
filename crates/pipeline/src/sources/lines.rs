//! Line reading with numbering and a length limit: a line longer than the limit is skipped in
//! pieces and reported, never held in memory whole. Lines end at `\n`, `\r\n` or a lone `\r`
//! (classic Mac files), and a UTF-8 byte order mark before the first line is dropped.
//!
//! A reader can start inside a file (a piece of it): it then first skips to the next line
//! start, so that every line of the file is read by exactly one piece, the one its first byte
//! lies in. Each line comes with its byte offset; its number only when reading from the start.

use super::Position;
use crate::PipelineError;
use std::io::BufRead;

/// What one call of [`LineReader::next_line`] found.
pub enum Line<'a> {
    /// A whole line without its line break.
    Complete(&'a [u8]),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Where a line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineStart {
    /// Byte offset in the (decompressed) file.
    pub offset: u64,
    /// 1-based line number, known when the reader started at the beginning of the file.
    pub number: Option<u64>,
}

impl LineStart {
    /// The line for messages: its number, or its byte offset.
    pub fn position(self) -> Position {
        match self.number {
            Some(n) => Position::Line(n),
            None => Position::Byte(self.offset),
        }
    }
}

/// Numbered lines of a (decompressed) byte stream.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    url: String,
    max_bytes: usize,
    buffer: Vec<u8>,
    /// Lines returned so far.
    count: u64,
    /// Byte offset in the file of the next byte of `inner`.
    offset: u64,
    /// Whether line numbers are known (the stream starts at the file's first byte).
    from_start: bool,
    /// The stream starts one byte before a piece: skip to the first line start first.
    align: bool,
    /// The last line ended with `\r`: a `\n` right after it belongs to that line break.
    after_cr: bool,
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl LineReader {
    /// Reads lines of `inner`, a whole file; `url` names the file in errors.
    pub fn new(inner: Box<dyn BufRead + Send>, url: String, max_bytes: usize) -> Self {
        Self {
            inner,
            url,
            max_bytes,
            buffer: Vec::new(),
            count: 0,
            offset: 0,
            from_start: true,
            align: false,
            after_cr: false,
        }
    }

    /// Reads the lines that start at or after byte `start` of a file, from `inner` positioned
    /// at byte `start - 1` (the byte that tells whether a line starts at `start`).
    pub fn starting_at(inner: Box<dyn BufRead + Send>, url: String, max_bytes: usize, start: u64) -> Self {
        if start == 0 {
            return Self::new(inner, url, max_bytes);
        }
        Self {
            offset: start - 1,
            from_start: false,
            align: true,
            ..Self::new(inner, url, max_bytes)
        }
    }

    /// The file's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the reader started at the file's first byte.
    pub fn reads_from_start(&self) -> bool {
        self.from_start
    }

    /// The longest line (and record) accepted, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Where the next line will start (after any pending line break), for messages.
    fn next_start(&self) -> LineStart {
        LineStart {
            offset: self.offset,
            number: self.from_start.then_some(self.count + 1),
        }
    }

    fn read_error(&self, e: &std::io::Error) -> PipelineError {
        PipelineError::at(&self.url, self.next_start().position(), format!("cannot read: {e}"))
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.offset += n as u64;
    }

    /// Consumes a `\n` right after a `\r` that ended the previous line.
    fn finish_line_break(&mut self) -> Result<(), PipelineError> {
        if std::mem::take(&mut self.after_cr) {
            loop {
                match self.inner.fill_buf() {
                    Ok(available) => {
                        if available.first() == Some(&b'\n') {
                            self.consume(1);
                        }
                        return Ok(());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.read_error(&e)),
                }
            }
        }
        Ok(())
    }

    /// Skips the bytes before the first line start of a piece; false at the end of the stream.
    fn skip_partial_line(&mut self) -> Result<bool, PipelineError> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(&e)),
            };
            if available.is_empty() {
                return Ok(false);
            }
            match available.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.after_cr = available[i] == b'\r';
                    self.consume(i + 1);
                    return Ok(true);
                }
                None => {
                    let n = available.len();
                    self.consume(n);
                }
            }
        }
    }

    /// The next line with where it starts, or `None` at the end. Read errors (a truncated gzip
    /// stream, a dropped connection) name the file and line.
    pub fn next_line(&mut self) -> Result<Option<(LineStart, Line<'_>)>, PipelineError> {
        if std::mem::take(&mut self.align) && !self.skip_partial_line()? {
            return Ok(None);
        }
        self.finish_line_break()?;
        self.buffer.clear();
        let start = self.next_start();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(&e)),
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
            self.consume(take);
            if done {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.count += 1;
        if too_long {
            return Ok(Some((start, Line::TooLong)));
        }
        let mut line: &[u8] = &self.buffer;
        line = line
            .strip_suffix(b"\n")
            .or_else(|| line.strip_suffix(b"\r"))
            .unwrap_or(line);
        if start.offset == 0 {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.len() > self.max_bytes {
            return Ok(Some((start, Line::TooLong)));
        }
        Ok(Some((start, Line::Complete(line))))
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

    /// The lines (with offsets) that the piece `start..` of `text` reads before `end`.
    fn piece(text: &'static [u8], start: usize, end: u64) -> Vec<(u64, Vec<u8>)> {
        let from = start.saturating_sub(1);
        let mut r = LineReader::starting_at(
            Box::new(std::io::BufReader::with_capacity(3, &text[from..])),
            "mem://t".into(),
            100,
            start as u64,
        );
        let mut out = Vec::new();
        while let Some((at, line)) = r.next_line().unwrap() {
            if at.offset >= end {
                break;
            }
            let Line::Complete(b) = line else { panic!("too long") };
            out.push((at.offset, b.to_vec()));
        }
        out
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

    #[test]
    fn pieces_read_every_line_once_whatever_the_cuts() {
        let text: &'static [u8] = b"ab\ncd\r\n\r\nef\rgh\n\nlast";
        let whole = piece(text, 0, u64::MAX);
        assert_eq!(whole.len(), 7);
        assert_eq!(whole[1], (3, b"cd".to_vec()));
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut joined = piece(text, 0, a as u64);
                joined.extend(piece(text, a, b as u64));
                joined.extend(piece(text, b, u64::MAX));
                assert_eq!(joined, whole, "cuts at {a} and {b}");
            }
        }
    }

    #[test]
    fn numbers_only_from_the_start() {
        let mut r = reader(b"a\nb\n", 10);
        let (first, _) = r.next_line().unwrap().unwrap();
        assert_eq!(first.position(), Position::Line(1));
        let mut r = LineReader::starting_at(Box::new(&b"\nb\n"[..]), "mem://t".into(), 10, 2);
        let (at, _) = r.next_line().unwrap().unwrap();
        assert_eq!(at.position(), Position::Byte(2));
    }
}
