//! Parquet and CSV through datafusion: the text is a column or an SQL expression, the filter an
//! SQL predicate evaluated per row (rows where it is not true are counted as `filtered`, so every
//! row is accounted for), read as a stream of record batches in file order. A piece of a
//! Parquet file (some of its row groups) is read with the parquet crate, and CSV with one record
//! a line by [`csv_lines`](super::csv_lines); both are queried as streaming tables, so that the
//! same SQL applies to every piece.

use super::csv_lines;
use super::{BatchLimits, Position, Record, RecordBody, RecordSource};
use crate::PipelineError;
use crate::documents::RecordKey;
use crate::units::{FileMetadata, Part, Piece, UnitFormat};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use maskforge_config::{Compression, SourceConfig};
use maskforge_schema::SkipReason;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::ParquetMetaData;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;

const TEXT: &str = "__maskforge_text";
const ID: &str = "__maskforge_id";
const KEEP: &str = "__maskforge_keep";

/// Rows of one Parquet or CSV file.
pub struct TabularRows {
    url: String,
    stream: SendableRecordBatchStream,
    handle: Handle,
    pending: VecDeque<Record>,
    limits: BatchLimits,
    max_record_bytes: usize,
    /// Row of the file of the next row read.
    next_row: u64,
    /// CSV only: the number of columns, to spot a quoted value that swallowed following rows.
    csv_columns: Option<usize>,
    /// Whether the swallowed-rows warning was given for this file.
    warned_quotes: bool,
    /// CSV read as lines: rows carry their byte offset, line number and validity.
    by_line: bool,
    done: bool,
}

impl TabularRows {
    /// Plans the query for `piece` and starts streaming it.
    pub fn open(
        piece: &Piece,
        source: &SourceConfig,
        limits: BatchLimits,
        handle: Handle,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<Self, PipelineError> {
        let url = piece.file.location.url();
        let fail = |message: String| PipelineError::input(&url, message);
        // A row-group piece reuses the footer listing decoded; a whole file's tail is checked.
        let metadata = match (&piece.metadata, &piece.part) {
            (FileMetadata::ParquetFooter(footer), Part::RowGroups { .. }) => Some(footer.clone()),
            (_, Part::RowGroups { .. }) => {
                Some(Arc::new(handle.block_on(crate::units::parquet_metadata(&piece.file))?))
            }
            _ if piece.format == UnitFormat::Parquet => {
                handle.block_on(crate::units::check_parquet_tail(&piece.file))?;
                None
            }
            _ => None,
        };
        let first_row = match &piece.part {
            Part::RowGroups { first_row, .. } => *first_row,
            _ => 0,
        };
        // CSV read as lines starts its reader before the query (it blocks on the store).
        let lines_table = match piece.format {
            UnitFormat::CsvLines => Some(csv_lines::table(piece, source, limits.records, &handle, bytes_read)?),
            _ => None,
        };
        let stream = handle.block_on(async {
            // One partition keeps the rows in file order.
            let config = SessionConfig::new()
                .with_target_partitions(1)
                .with_repartition_file_scans(false)
                .with_batch_size(limits.records.max(1));
            let ctx = SessionContext::new_with_config(config);
            ctx.register_object_store(piece.file.location.base_url(), piece.file.location.store().clone());
            let by_line = piece.format == UnitFormat::CsvLines;
            let registered = match (&piece.part, metadata) {
                _ if by_line => match lines_table {
                    Some(table) => ctx.register_table("source", table).map(|_| ()),
                    None => Err(DataFusionError::Internal("no CSV reader".into())),
                },
                (Part::RowGroups { groups, .. }, Some(metadata)) => {
                    row_groups_table(piece, metadata, groups.clone().collect(), limits.records.max(1))
                        .and_then(|table| ctx.register_table("source", table).map(|_| ()))
                }
                _ if piece.format == UnitFormat::Parquet => {
                    ctx.register_parquet("source", &url, ParquetReadOptions::default())
                        .await
                }
                _ => {
                    let compression = match piece.compression {
                        Compression::Gzip => FileCompressionType::GZIP,
                        Compression::Zstd => FileCompressionType::ZSTD,
                        Compression::None | Compression::Auto => FileCompressionType::UNCOMPRESSED,
                    };
                    let options = CsvReadOptions::new()
                        .has_header(true)
                        .file_extension("")
                        .file_compression_type(compression);
                    ctx.register_csv("source", &url, options).await
                }
            };
            registered.map_err(|e| fail(format!("cannot open as {}: {e}", piece.format.name())))?;
            let text = match &source.text_sql {
                Some(sql) => sql.clone(),
                None => quote(source.text_column()),
            };
            let id = source.id_column.as_deref().map_or_else(|| "NULL".to_owned(), quote);
            let keep = source
                .filter
                .as_deref()
                .map_or_else(|| "TRUE".to_owned(), |f| format!("({f})"));
            let lines = if by_line {
                format!(
                    ", {}, {}, {}, {}",
                    quote(csv_lines::OFFSET),
                    quote(csv_lines::LINE),
                    quote(csv_lines::BAD),
                    quote(csv_lines::MESSAGE)
                )
            } else {
                String::new()
            };
            let sql = format!("SELECT {text} AS {TEXT}, {id} AS {ID}, {keep} AS {KEEP}{lines} FROM source");
            let frame = ctx
                .sql(&sql)
                .await
                .map_err(|e| fail(format!("cannot select the text ({sql}): {e}")))?;
            let columns = match ctx.table("source").await {
                Ok(table) if by_line => table.schema().fields().len() - 4,
                Ok(table) => table.schema().fields().len(),
                Err(_) => 0,
            };
            let schema = frame.schema();
            let text_type = schema.field(0).data_type();
            if !is_string(text_type) {
                return Err(fail(format!(
                    "the text {} has type {text_type}, not a string",
                    source.text_sql.as_ref().map_or_else(
                        || format!("column `{}`", source.text_column()),
                        |s| format!("expression `{s}`")
                    )
                )));
            }
            let keep_type = schema.field(2).data_type();
            if !matches!(keep_type, DataType::Boolean | DataType::Null) {
                return Err(fail(format!("the filter yields {keep_type}, not true/false")));
            }
            let stream = frame
                .execute_stream()
                .await
                .map_err(|e| fail(format!("cannot read: {e}")))?;
            Ok::<_, PipelineError>((stream, columns))
        })?;
        let (stream, columns) = stream;
        Ok(Self {
            url,
            stream,
            handle,
            pending: VecDeque::new(),
            limits,
            max_record_bytes: source.max_record_bytes as usize,
            next_row: first_row,
            done: false,
            csv_columns: (piece.format == UnitFormat::Csv && columns >= 2).then_some(columns),
            warned_quotes: false,
            by_line: piece.format == UnitFormat::CsvLines,
        })
    }

    /// Pulls the next record batch of the query into `pending`; false at the end.
    fn pull(&mut self) -> Result<bool, PipelineError> {
        let Some(batch) = self.handle.block_on(self.stream.next()) else {
            return Ok(false);
        };
        let batch = batch.map_err(|e| {
            PipelineError::at(
                &self.url,
                Position::Row(self.next_row + 1),
                format!("cannot read row: {e}"),
            )
        })?;
        let as_text = |array: &ArrayRef| {
            arrow::compute::cast(array, &DataType::Utf8).map_err(|e| PipelineError::input(&self.url, e.to_string()))
        };
        let texts = as_text(batch.column(0))?;
        let ids = as_text(batch.column(1))?;
        let keep = batch.column(2);
        let (texts, ids) = (texts.as_string::<i32>(), ids.as_string::<i32>());
        let lines = self.by_line.then(|| {
            (
                batch.column(3).as_primitive::<arrow::datatypes::UInt64Type>(),
                batch.column(4).as_primitive::<arrow::datatypes::UInt64Type>(),
                batch.column(5).as_primitive::<arrow::datatypes::UInt8Type>(),
                batch.column(6).as_string::<i32>(),
            )
        });
        for row in 0..batch.num_rows() {
            let kept =
                matches!(keep.data_type(), DataType::Boolean) && keep.is_valid(row) && keep.as_boolean().value(row);
            let bad_line = lines.filter(|(_, _, bad, _)| bad.value(row) != 0);
            let body = if let Some((_, _, bad, message)) = bad_line {
                RecordBody::Bad {
                    reason: csv_lines::bad_reason(bad.value(row)),
                    message: message.value(row).to_owned(),
                }
            } else if !kept {
                RecordBody::Bad {
                    reason: SkipReason::Filtered,
                    message: "excluded by the filter".into(),
                }
            } else if texts.is_null(row) {
                RecordBody::Bad {
                    reason: SkipReason::MissingText,
                    message: "the text is NULL".into(),
                }
            } else if texts.value(row).len() > self.max_record_bytes {
                RecordBody::Bad {
                    reason: SkipReason::RecordTooLarge,
                    message: format!("the text passes {} bytes", self.max_record_bytes),
                }
            } else {
                self.warn_if_rows_swallowed(texts.value(row));
                RecordBody::Text(texts.value(row).to_owned())
            };
            let id = ids.is_valid(row).then(|| ids.value(row).to_owned());
            let (key, position) = match lines {
                Some((offsets, numbers, ..)) => {
                    let (offset, number) = (offsets.value(row), numbers.value(row));
                    let position = if number > 0 {
                        Position::Line(number)
                    } else {
                        Position::Byte(offset)
                    };
                    (RecordKey::Offset(offset), position)
                }
                None => (RecordKey::Row(self.next_row), Position::Row(self.next_row + 1)),
            };
            self.pending.push_back(Record {
                key,
                position,
                id,
                body,
            });
            self.next_row += 1;
        }
        Ok(true)
    }

    /// Warns (once per file) when a CSV value spans lines that look like whole rows of the file:
    /// the sign of an unbalanced quote that merged the following rows into one record.
    fn warn_if_rows_swallowed(&mut self, text: &str) {
        let Some(columns) = self.csv_columns else { return };
        if self.warned_quotes || !text.contains('\n') {
            return;
        }
        let row_like = text
            .lines()
            .skip(1)
            .filter(|l| l.matches(',').count() + 1 >= columns)
            .count();
        if row_like > 0 {
            self.warned_quotes = true;
            log::warn!(
                "{}, row {}: a quoted value spans {row_like} line(s) that look like rows of this file; an \
                 unbalanced quote may have merged them into one record",
                self.url,
                self.next_row + 1
            );
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>, PipelineError> {
        while self.pending.is_empty() && !self.done {
            self.done = !self.pull()?;
        }
        Ok(self.pending.pop_front())
    }
}

impl RecordSource for TabularRows {
    fn next_batch(&mut self) -> Result<Option<Vec<Record>>, PipelineError> {
        let limits = self.limits;
        super::fill_batch(limits, || self.next_record())
    }
}

/// Some row groups of a Parquet file as a table of one streaming partition, in file order.
fn row_groups_table(
    piece: &Piece,
    metadata: Arc<ParquetMetaData>,
    groups: Vec<usize>,
    batch_rows: usize,
) -> datafusion::error::Result<Arc<dyn TableProvider>> {
    let reader = LocationReader {
        location: piece.file.location.clone(),
        metadata: metadata.clone(),
    };
    let options = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::default())?;
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, options)
        .with_row_groups(groups)
        .with_batch_size(batch_rows)
        .build()?;
    let schema = stream.schema().clone();
    let partition = OnceStream {
        schema: schema.clone(),
        stream: Mutex::new(Some(Box::pin(RecordBatchStreamAdapter::new(
            schema.clone(),
            stream.map_err(DataFusionError::from),
        )))),
    };
    Ok(Arc::new(StreamingTable::try_new(schema, vec![Arc::new(partition)])?))
}

/// Byte ranges of a Parquet file in any store, with its footer read once beforehand.
struct LocationReader {
    location: maskforge_store::Location,
    metadata: Arc<ParquetMetaData>,
}

impl AsyncFileReader for LocationReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.location
                .read_range(range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let metadata = self.metadata.clone();
        async move { Ok(metadata) }.boxed()
    }
}

/// A partition that hands out one prepared stream (the table is queried once).
pub(super) struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    /// The partition of `stream`.
    pub(super) fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        Self {
            schema,
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        taken.unwrap_or_else(|| {
            let error = DataFusionError::Internal("the row groups were already read".into());
            Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async move { Err(error) }),
            ))
        })
    }
}

/// Text columns: plain, large and view strings, and dictionary-encoded strings (as pandas and
/// Spark write categorical columns); all are cast to plain strings when read.
fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_string(values),
        _ => false,
    }
}

/// Quotes a column name for SQL (keeps its case, allows any characters).
fn quote(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}
