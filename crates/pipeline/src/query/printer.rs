//! The result of `maskforge sql` as a table, CSV or JSON: CSV and JSON streamed a batch at a
//! time, the table held (at most [`TABLE_ROWS`] rows) and printed at the end.

use super::QueryFormat;
use crate::PipelineError;
use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use std::io::Write;
use std::sync::Arc;

/// A CSV field as arrow's writer quotes it: in double quotes (doubled inside) when it holds a
/// comma, a quote or a line break.
fn csv_field(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

/// The most rows `--format table` holds and prints; a larger result is cut there, with a line
/// that says so (CSV and JSON stream every row).
pub const TABLE_ROWS: u64 = 10_000;

/// Writes record batches in one of the formats: CSV and JSON a batch at a time, the table at
/// the end.
pub(super) struct Printer<'a> {
    format: QueryFormat,
    /// The result's columns (a CSV header is written also when no row comes).
    schema: arrow::datatypes::SchemaRef,
    out: &'a mut dyn Write,
    /// Table: the batches of the first [`TABLE_ROWS`] rows, printed at the end.
    held: Vec<RecordBatch>,
    rows: u64,
    /// Table: rows were left out (the result has more than [`TABLE_ROWS`]).
    cut: bool,
}

impl<'a> Printer<'a> {
    pub(super) fn new(format: QueryFormat, schema: arrow::datatypes::SchemaRef, out: &'a mut dyn Write) -> Self {
        Self {
            format,
            schema,
            out,
            held: Vec::new(),
            rows: 0,
            cut: false,
        }
    }

    /// Whether the printer takes no more rows (a table that reached [`TABLE_ROWS`]).
    pub(super) fn is_full(&self) -> bool {
        self.cut
    }

    /// Takes the next batch of the result.
    pub(super) fn write(&mut self, batch: RecordBatch) -> Result<(), PipelineError> {
        let (first, rows) = (self.rows == 0, batch.num_rows() as u64);
        let text = match self.format {
            QueryFormat::Table => {
                let keep = rows.min(TABLE_ROWS - self.rows);
                self.cut = keep < rows;
                self.rows += keep;
                self.held.push(batch.slice(0, keep as usize));
                return Ok(());
            }
            _ if batch.num_rows() == 0 => return Ok(()),
            QueryFormat::Csv => {
                let batch = plain_strings(batch)?;
                if let Some(field) = batch.schema().fields().iter().find(|f| f.data_type().is_nested()) {
                    return Err(PipelineError::Query(format!(
                        "column `{}` is a list, which CSV cannot hold: use --format json, or a scalar of it (cardinality, array_element)",
                        field.name()
                    )));
                }
                let mut writer = arrow::csv::WriterBuilder::new().with_header(first).build(Vec::new());
                writer.write(&batch)?;
                writer.into_inner()
            }
            QueryFormat::Json => {
                // One array across batches: arrow writes one object per line, the brackets and
                // commas are written here.
                let mut lines = arrow::json::LineDelimitedWriter::new(Vec::new());
                lines.write(&plain_strings(batch)?)?;
                lines.finish()?;
                let objects = lines.into_inner();
                let mut text = Vec::with_capacity(objects.len() + 16);
                for (i, object) in objects.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                    text.extend_from_slice(if first && i == 0 { b"[\n" } else { b",\n" });
                    text.extend_from_slice(object);
                }
                text
            }
        };
        self.rows += rows;
        self.out.write_all(&text).map_err(PipelineError::Output)
    }

    pub(super) fn finish(self) -> Result<u64, PipelineError> {
        match self.format {
            QueryFormat::Table => {
                // Values are the datasets' text: control characters escaped, the table's lines kept.
                let text = arrow::util::pretty::pretty_format_batches(&self.held)?.to_string();
                writeln!(self.out, "{}", maskforge_store::printable_lines(&text)).map_err(PipelineError::Output)?;
                if self.cut {
                    writeln!(
                        self.out,
                        "(the first {TABLE_ROWS} rows; the result has more: add LIMIT, or use --format csv or json, which stream every row)"
                    )
                    .map_err(PipelineError::Output)?;
                }
            }
            QueryFormat::Csv if self.rows == 0 => {
                // No row: the header alone, so that readers still see the columns.
                let names: Vec<String> = self.schema.fields().iter().map(|f| csv_field(f.name())).collect();
                writeln!(self.out, "{}", names.join(",")).map_err(PipelineError::Output)?;
            }
            QueryFormat::Csv => {}
            QueryFormat::Json => {
                let close: &[u8] = if self.rows == 0 { b"[]\n" } else { b"\n]\n" };
                self.out.write_all(close).map_err(PipelineError::Output)?;
            }
        }
        self.out.flush().map_err(PipelineError::Output)?;
        Ok(self.rows)
    }
}

/// `batch` with dictionary-encoded string columns (the documents' `source`) as plain strings,
/// which every writer takes.
fn plain_strings(batch: RecordBatch) -> Result<RecordBatch, PipelineError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Dictionary(_, value) => {
                columns.push(cast(column, value)?);
                fields.push(Field::new(field.name(), value.as_ref().clone(), field.is_nullable()));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}
