//! CSV with one record a line (`sources.N.csv_newlines_in_values = false`). The file's first
//! line is the header; the column types are inferred from the first 1000 records of the file
//! (within its first 64 MiB), so every piece of it sees the same schema. A piece parses the lines that start in it (like JSON
//! Lines) with arrow's CSV reader and hands them to datafusion as a streaming table with four
//! more columns: each row's byte offset, its line number (0 when the piece starts inside the
//! file), and why it is bad with a message (a line with the wrong number of fields, a value of
//! the wrong type, a quote left open, invalid UTF-8, a line over `max_record_bytes`). So every line is a row, good
//! or counted, and a document's id does not depend on the cuts.

use super::lines::{Line, LineReader};
use super::open_lines;
use crate::PipelineError;
use crate::units::{FileMetadata, Piece};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt8Builder, UInt64Builder, new_null_array};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use maskforge_config::{Compression, SourceConfig};
use maskforge_schema::SkipReason;
use maskforge_store::InputFile;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::runtime::Handle;

/// Byte offset of the row's line.
pub const OFFSET: &str = "__maskforge_offset";
/// 1-based line number of the row, 0 when unknown.
pub const LINE: &str = "__maskforge_line";
/// Why the row is bad: 0 good, else [`bad_reason`]'s code.
pub const BAD: &str = "__maskforge_bad";
/// What is wrong with a bad row.
pub const MESSAGE: &str = "__maskforge_message";

/// Records the column types are inferred from (datafusion's default for CSV).
const INFER_RECORDS: usize = 1000;
/// The most bytes of a file's start those records are looked for in.
const HEAD_BYTES: u64 = 64 << 20;

/// The skip reason of a [`BAD`] code.
pub fn bad_reason(code: u8) -> SkipReason {
    match code {
        1 => SkipReason::InvalidCsv,
        2 => SkipReason::InvalidUtf8,
        _ => SkipReason::RecordTooLarge,
    }
}

/// The piece as a one-partition streaming table; its lines are read and parsed on a thread of
/// their own, a batch of `batch_rows` lines at a time.
pub fn table(
    piece: &Piece,
    source: &SourceConfig,
    batch_rows: usize,
    handle: &Handle,
    bytes_read: Arc<AtomicU64>,
) -> Result<Arc<dyn TableProvider>, PipelineError> {
    let url = piece.file.location.url();
    let columns = match (&piece.metadata, piece.compression) {
        (FileMetadata::CsvColumns(columns), _) => columns.clone(),
        (_, Compression::None | Compression::Auto) => handle.block_on(head_columns(&piece.file, source))?,
        // A compressed file is one piece: its head is read through the decompressor.
        (_, _) => {
            let whole = Piece {
                part: crate::units::Part::Whole,
                ..piece.clone()
            };
            with_string_columns(
                columns_of(open_lines(&whole, source, handle, Arc::new(AtomicU64::new(0)))?.0)?,
                source,
            )
        }
    };
    let mut fields: Vec<Field> = columns.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend([
        Field::new(OFFSET, DataType::UInt64, false),
        Field::new(LINE, DataType::UInt64, false),
        Field::new(BAD, DataType::UInt8, false),
        Field::new(MESSAGE, DataType::Utf8, true),
    ]);
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let (lines, end) = open_lines(piece, source, handle, bytes_read)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
    let parser = Parser {
        columns,
        schema: schema.clone(),
    };
    std::thread::Builder::new()
        .name("maskforge-csv".into())
        .spawn(move || {
            if let Err(e) = parser.parse_lines(lines, end, batch_rows.max(1), &sender) {
                let _ = sender.blocking_send(Err(DataFusionError::External(Box::new(e))));
            }
        })
        .map_err(|e| PipelineError::input(&url, format!("cannot start the CSV reader: {e}")))?;
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|batch| (batch, receiver))
    });
    let partition = super::tabular::OnceStream::new(
        schema.clone(),
        Box::pin(RecordBatchStreamAdapter::new(schema.clone(), stream)),
    );
    StreamingTable::try_new(schema, vec![Arc::new(partition)])
        .map(|table| Arc::new(table) as Arc<dyn TableProvider>)
        .map_err(|e| PipelineError::input(&url, e.to_string()))
}

/// The columns of an uncompressed CSV file (its header, and the types of its first records),
/// read with ranged GETs from its start: computed once when the file is cut, so its pieces share
/// them.
pub async fn head_columns(file: &InputFile, source: &SourceConfig) -> Result<SchemaRef, PipelineError> {
    let max_record_bytes = source.max_record_bytes as usize;
    let mut length = (1u64 << 20).min(file.size);
    loop {
        let head = file.location.read_range(0..length).await?;
        let lines = head.iter().filter(|&&b| b == b'\n').count();
        if lines > INFER_RECORDS || length == file.size || length >= HEAD_BYTES {
            // A line cut off at the end of the head is not read.
            let whole = match head.iter().rposition(|&b| b == b'\n') {
                Some(last) if length < file.size => head.slice(..last + 1),
                _ => head,
            };
            let lines = LineReader::new(Box::new(Cursor::new(whole)), file.location.url(), max_record_bytes);
            return Ok(with_string_columns(columns_of(lines)?, source));
        }
        length = (length * 2).min(file.size).min(HEAD_BYTES);
    }
}

/// The header and the column types of the file `lines` reads from its start: the types of the
/// first [`INFER_RECORDS`] records that parse, within the first [`HEAD_BYTES`] bytes.
fn columns_of(mut lines: LineReader) -> Result<SchemaRef, PipelineError> {
    let mut head: Vec<Vec<u8>> = Vec::new();
    while head.len() <= INFER_RECORDS {
        let Some((start, line)) = lines.next_line()? else { break };
        if start.offset >= HEAD_BYTES {
            break;
        }
        match line {
            Line::Complete(bytes) if start.offset > 0 && bytes.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Complete(bytes) if std::str::from_utf8(bytes).is_ok() => head.push(bytes.to_vec()),
            _ if start.offset == 0 => {
                return Err(PipelineError::at(
                    lines.url(),
                    start.position(),
                    "the CSV header is not valid UTF-8 or passes max_record_bytes",
                ));
            }
            _ => {}
        }
    }
    let Some((header, records)) = head.split_first() else {
        return Err(PipelineError::input(lines.url(), "the CSV file has no header line"));
    };
    let infer = |records: &mut dyn Iterator<Item = &Vec<u8>>| {
        let mut text = header.clone();
        for record in records {
            text.push(b'\n');
            text.extend_from_slice(record);
        }
        Format::default()
            .with_header(true)
            .infer_schema(Cursor::new(text), None)
            .map(|(schema, _)| schema)
    };
    // Lines that do not parse (they are counted when read) do not decide the types.
    let schema = infer(&mut records.iter())
        .or_else(|_| infer(&mut records.iter().filter(|r| infer(&mut std::iter::once(*r)).is_ok())))
        .map_err(|e| PipelineError::input(lines.url(), format!("cannot read the CSV header: {e}")))?;
    Ok(Arc::new(schema))
}

/// `columns` with the source's text and id columns read as strings whatever the first records
/// looked like: an id that is not a number after 1000 numeric ones is an id, not a line that
/// fails to parse (ids fall back to the place only when absent), and a text is a text.
fn with_string_columns(columns: SchemaRef, source: &SourceConfig) -> SchemaRef {
    let strings = [Some(source.text_column()), source.id_column.as_deref()];
    let fields: Vec<Field> = columns
        .fields()
        .iter()
        .map(|f| match strings.contains(&Some(f.name().as_str())) {
            true => Field::new(f.name(), DataType::Utf8, true),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Parses lines into batches of the table's schema.
struct Parser {
    /// The CSV columns.
    columns: SchemaRef,
    /// The columns and the four of this module.
    schema: SchemaRef,
}

/// One line of a batch: where it starts and its bytes, or why it cannot be parsed.
struct PendingLine {
    offset: u64,
    number: u64,
    content: Result<Vec<u8>, (u8, String)>,
}

impl Parser {
    /// Sends the piece's records in batches until its end or until the table is dropped.
    fn parse_lines(
        &self,
        mut lines: LineReader,
        end: u64,
        batch_rows: usize,
        sender: &tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    ) -> Result<(), PipelineError> {
        let max_bytes = lines.max_bytes();
        let mut pending = Vec::new();
        loop {
            if sender.is_closed() {
                return Ok(()); // the query was dropped
            }
            let next = lines.next_line()?;
            let done = match next {
                None => true,
                Some((start, _)) if start.offset >= end => true,
                // The header line.
                Some((start, _)) if start.offset == 0 => false,
                Some((_, Line::Complete(bytes))) if bytes.iter().all(u8::is_ascii_whitespace) => false,
                Some((start, line)) => {
                    let content = match line {
                        Line::Complete(bytes) if std::str::from_utf8(bytes).is_err() => {
                            Err((2, "line is not valid UTF-8".to_owned()))
                        }
                        // Quotes pair up in a CSV record ("" inside a value is two).
                        Line::Complete(bytes) if bytes.iter().filter(|&&b| b == b'"').count() % 2 == 1 => Err((
                            1,
                            "a quoted value does not end on this line (set csv_newlines_in_values = true for values \
                             with line breaks)"
                                .to_owned(),
                        )),
                        Line::Complete(bytes) => Ok(bytes.to_vec()),
                        Line::TooLong => Err((3, format!("line passes {max_bytes} bytes"))),
                    };
                    pending.push(PendingLine {
                        offset: start.offset,
                        number: start.number.unwrap_or(0),
                        content,
                    });
                    false
                }
            };
            if (done && !pending.is_empty()) || pending.len() >= batch_rows {
                let batch = self.batch(std::mem::take(&mut pending));
                if sender.blocking_send(batch.map_err(DataFusionError::from)).is_err() {
                    return Ok(()); // the query was dropped
                }
            }
            if done {
                return Ok(());
            }
        }
    }

    /// The rows of `lines`: parsed together when they all parse, else one at a time so that each
    /// bad line becomes a row of nulls with its reason.
    fn batch(&self, lines: Vec<PendingLine>) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut text = Vec::new();
        for line in &lines {
            if let Ok(bytes) = &line.content {
                text.extend_from_slice(bytes);
                text.push(b'\n');
            }
        }
        let all_good = lines.iter().all(|l| l.content.is_ok());
        let together = all_good.then(|| self.parse(&text, lines.len())).and_then(Result::ok);
        let (columns, bad): (Vec<ArrayRef>, Vec<Option<(u8, String)>>) = match together {
            Some(batch) if batch.num_rows() == lines.len() => (batch.columns().to_vec(), vec![None; lines.len()]),
            _ => {
                let mut parts = Vec::with_capacity(lines.len());
                let mut bad = Vec::with_capacity(lines.len());
                for line in &lines {
                    let parsed = match &line.content {
                        Ok(bytes) => match self.parse(&[bytes.as_slice(), b"\n"].concat(), 1) {
                            Ok(batch) if batch.num_rows() == 1 => Ok(batch),
                            Ok(batch) => Err((1, format!("line holds {} records", batch.num_rows()))),
                            Err(e) => Err((1, format!("malformed CSV: {e}"))),
                        },
                        Err(why) => Err(why.clone()),
                    };
                    match parsed {
                        Ok(batch) => {
                            parts.push(batch);
                            bad.push(None);
                        }
                        Err(why) => {
                            parts.push(null_row(&self.columns)?);
                            bad.push(Some(why));
                        }
                    }
                }
                let joined = arrow::compute::concat_batches(&self.columns, &parts)?;
                (joined.columns().to_vec(), bad)
            }
        };
        let mut offsets = UInt64Builder::with_capacity(lines.len());
        let mut numbers = UInt64Builder::with_capacity(lines.len());
        let mut codes = UInt8Builder::with_capacity(lines.len());
        let mut messages = StringBuilder::new();
        for (line, why) in lines.iter().zip(&bad) {
            offsets.append_value(line.offset);
            numbers.append_value(line.number);
            codes.append_value(why.as_ref().map_or(0, |(code, _)| *code));
            messages.append_option(why.as_ref().map(|(_, message)| message.as_str()));
        }
        let mut all = columns;
        all.extend([
            Arc::new(offsets.finish()) as ArrayRef,
            Arc::new(numbers.finish()),
            Arc::new(codes.finish()),
            Arc::new(messages.finish()),
        ]);
        RecordBatch::try_new(self.schema.clone(), all)
    }

    /// Parses `rows` CSV lines (no header) into one batch of the columns.
    fn parse(&self, text: &[u8], rows: usize) -> Result<RecordBatch, arrow::error::ArrowError> {
        let reader = ReaderBuilder::new(self.columns.clone())
            .with_header(false)
            .with_batch_size(rows.max(1))
            .build(Cursor::new(text))?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        arrow::compute::concat_batches(&self.columns, &batches)
    }
}

/// A one-row batch of nulls of `schema` (the columns of a bad line).
fn null_row(schema: &SchemaRef) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), 1))
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}
