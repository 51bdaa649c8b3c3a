//! Readers that turn one piece of an input file into batches of raw records, in file order.
//! Line-based formats (text, JSON Lines) are parsed here so that every problem names its line;
//! tabular formats (Parquet, CSV) go through datafusion.

mod csv_lines;
mod jsonl;
mod lines;
mod tabular;
mod text;

pub use csv_lines::head_columns as csv_head_columns;

use crate::PipelineError;
use crate::documents::RecordKey;
use crate::units::{Part, Piece, UnitFormat};
use maskforge_config::{Compression, SourceConfig};
use maskforge_store::StreamingReader;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::runtime::Handle;

/// Where a record starts, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line (text: the document's first line; JSON Lines).
    Line(u64),
    /// 1-based row (Parquet, CSV).
    Row(u64),
    /// The line starting at this byte offset, in a piece that starts inside the file (where the
    /// line number is not known without reading the file from its start).
    Byte(u64),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Row(n) => write!(f, "row {n}"),
            Self::Byte(b) => write!(f, "the line at byte {b}"),
        }
    }
}

/// One record of an input file.
#[derive(Debug, Clone)]
pub struct Record {
    /// Where it is in the file, independent of how the file was cut (part of its document id).
    pub key: RecordKey,
    /// Where it starts, for messages.
    pub position: Position,
    /// The record's own id, when the source names an id column and the record has one.
    pub id: Option<String>,
    /// The text, or why there is none.
    pub body: RecordBody,
}

/// The content of a record.
#[derive(Debug, Clone)]
pub enum RecordBody {
    /// Text to process.
    Text(String),
    /// A malformed or excluded record: the counted reason and a message for the log.
    Bad {
        /// Reason as counted in the manifest.
        reason: maskforge_schema::SkipReason,
        /// Details for the log line.
        message: String,
    },
}

/// Limits on what a reader hands over at once; batches are defined by data, never by timing.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most records per batch.
    pub records: usize,
    /// A batch is closed once its text passes this many bytes.
    pub bytes: usize,
}

/// A source of record batches for one file.
pub trait RecordSource {
    /// The next batch, or `None` at the end of the file.
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError>;
}

/// Opens the right reader for `piece`.
pub fn open(
    piece: &Piece,
    source: &SourceConfig,
    limits: BatchLimits,
    handle: &Handle,
    bytes_read: Arc<AtomicU64>,
) -> Result<Box<dyn RecordSource + Send>, PipelineError> {
    match piece.format {
        UnitFormat::Text | UnitFormat::Jsonl => {
            let (lines, end) = open_lines(piece, source, handle, bytes_read)?;
            Ok(if piece.format == UnitFormat::Text {
                Box::new(text::TextDocuments::new(lines, source.text_layout, end, limits))
            } else {
                Box::new(jsonl::JsonLines::new(lines, source, end, limits))
            })
        }
        UnitFormat::Csv | UnitFormat::CsvLines if csv_holds_no_record(piece, source, handle)? => {
            log::debug!("{}: a CSV file without records", piece.file.location.url());
            Ok(Box::new(NoRecords))
        }
        UnitFormat::Parquet | UnitFormat::Csv | UnitFormat::CsvLines => Ok(Box::new(tabular::TabularRows::open(
            piece,
            source,
            limits,
            handle.clone(),
            bytes_read,
        )?)),
    }
}

/// A piece without records.
struct NoRecords;

impl RecordSource for NoRecords {
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError> {
        Ok(None)
    }
}

/// Whether a whole CSV file holds no record: it is empty, or holds its header line and blank
/// lines only. Such a file gives no record, as an empty text file does, instead of a type
/// error from columns inferred from nothing. Reads until the first line after the header.
fn csv_holds_no_record(piece: &Piece, source: &SourceConfig, handle: &Handle) -> Result<bool, PipelineError> {
    if piece.part != Part::Whole {
        return Ok(false);
    }
    if piece.file.size == 0 {
        return Ok(true);
    }
    // Not counted as input read: the reader proper reads these bytes again.
    let (mut lines, _) = open_lines(piece, source, handle, Arc::new(AtomicU64::new(0)))?;
    let mut header = true;
    while let Some((_, line)) = lines.next_line()? {
        let blank = matches!(line, lines::Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace));
        if header {
            header = blank; // leading blank lines come before the header
        } else if !blank {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The lines of a line-based piece (decompressed), and the byte its lines must start before.
fn open_lines(
    piece: &Piece,
    source: &SourceConfig,
    handle: &Handle,
    bytes_read: Arc<AtomicU64>,
) -> Result<(lines::LineReader, u64), PipelineError> {
    let url = piece.file.location.url();
    let (start, end) = match &piece.part {
        Part::Bytes(range) => (range.start, range.end),
        _ => (0, u64::MAX),
    };
    // A piece reads from the byte before its start, which tells whether a line starts there.
    let raw = StreamingReader::open_at(
        &piece.file.location,
        start.saturating_sub(1),
        piece.file.e_tag.as_deref(),
        handle.clone(),
        bytes_read,
    )?;
    let decoded = decompress(raw, piece.compression, &url)?;
    let lines = lines::LineReader::starting_at(decoded, url, source.max_record_bytes as usize, start);
    Ok((lines, end))
}

fn decompress(
    raw: StreamingReader,
    compression: Compression,
    url: &str,
) -> Result<Box<dyn BufRead + Send>, PipelineError> {
    const BUFFER: usize = 256 << 10;
    Ok(match compression {
        Compression::Gzip => Box::new(BufReader::with_capacity(BUFFER, flate2::read::MultiGzDecoder::new(raw))),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(raw)
                .map_err(|e| PipelineError::input(url, format!("cannot start zstd decoding: {e}")))?;
            Box::new(BufReader::with_capacity(BUFFER, decoder))
        }
        Compression::None | Compression::Auto => Box::new(BufReader::with_capacity(BUFFER, raw)),
    })
}

/// Collects records from `next` until the batch limits are reached or the input ends.
fn fill_batch(
    limits: BatchLimits,
    mut next: impl FnMut() -> Result<Option<Record>, PipelineError>,
) -> Result<Option<Vec<Record>>, PipelineError> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < limits.records && bytes < limits.bytes {
        let Some(record) = next()? else { break };
        if let RecordBody::Text(t) = &record.body {
            bytes += t.len();
        }
        batch.push(record);
    }
    Ok((!batch.is_empty()).then_some(batch))
}
