//! `maskforge sql`: published datasets as SQL tables through datafusion. Each dataset is opened
//! through its manifest and only the shards it lists are registered (never a folder listing, so
//! a stray or half-written file is never read); queries are read-only.

use crate::PipelineError;
use crate::dataset::{PublishedDataset, io_runtime};
use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use maskforge_schema::{ShardEntry, Split};
use maskforge_store::Location;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// How `sql` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    /// An aligned text table (the whole result is held to size the columns).
    Table,
    /// CSV with a header row, streamed; list columns cannot be written as CSV.
    Csv,
    /// One JSON array of row objects, streamed.
    Json,
}

/// One dataset argument of `sql`: `URL`, or `NAME=URL` to choose its table name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSource {
    /// The table name; `None` names it after its kind (`documents`, `examples`).
    pub name: Option<String>,
    /// The dataset's URL or path.
    pub url: String,
}

impl TableSource {
    /// Reads `NAME=URL` (a name is a letter or `_`, then letters, digits or `_`) or a plain
    /// URL: a path such as `runs/a=1/documents` is a URL, since `runs/a` is not a name.
    pub fn parse(arg: &str) -> Self {
        if let Some((name, url)) = arg.split_once('=')
            && is_identifier(name)
            && !url.is_empty()
        {
            return Self {
                name: Some(name.to_owned()),
                url: url.to_owned(),
            };
        }
        Self {
            name: None,
            url: arg.to_owned(),
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Runs the read-only `query` over `sources` and writes the result to `out` in `format`;
/// returns the number of rows written. An examples epoch registers its train shards as the
/// table and its held-out splits as `NAME_validation` and `NAME_test`.
pub fn sql(
    sources: &[TableSource],
    query: &str,
    format: QueryFormat,
    out: &mut dyn Write,
) -> Result<u64, PipelineError> {
    let runtime = io_runtime()?;
    runtime.block_on(async {
        let ctx = query_context(sources).await?;
        let fail = |e: datafusion::error::DataFusionError| PipelineError::Query(e.to_string());
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = ctx.sql_with_options(query, read_only).await.map_err(fail)?;
        let mut stream = frame.execute_stream().await.map_err(fail)?;
        let mut printer = Printer::new(format, stream.schema(), out);
        while let Some(batch) = stream.next().await {
            printer.write(batch.map_err(fail)?)?;
        }
        printer.finish()
    })
}

/// A datafusion session with every source registered as tables.
pub(crate) async fn query_context(sources: &[TableSource]) -> Result<SessionContext, PipelineError> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for source in sources {
        let root = Location::parse(&source.url)?;
        ctx.register_object_store(root.base_url(), root.store().clone());
        let dataset = PublishedDataset::open(root.clone()).await?;
        let name = source.name.clone().unwrap_or_else(|| dataset.kind().to_owned());
        for (table, shards, schema) in dataset_tables(&dataset, &name) {
            if let Some(first) = taken.insert(table.clone(), root.url()) {
                return Err(PipelineError::input(
                    &root.url(),
                    format!("table `{table}` is already {first}: name the datasets with NAME=URL"),
                ));
            }
            register(&ctx, &table, &root, shards, schema).await?;
        }
    }
    Ok(ctx)
}

/// The tables of one dataset: `(name, shards, schema for an empty table)`.
fn dataset_tables<'a>(dataset: &'a PublishedDataset, name: &str) -> Vec<(String, &'a [ShardEntry], SchemaRef)> {
    match dataset {
        PublishedDataset::Documents(d) => {
            let keeps_text = d.manifest().config["output"]["keep_text"].as_bool().unwrap_or(false);
            vec![(
                name.to_owned(),
                &d.manifest().shards[..],
                maskforge_schema::documents::schema(keeps_text),
            )]
        }
        PublishedDataset::Examples(e) => {
            let manifest = e.manifest();
            let with_bin = manifest.shards.iter().any(|s| s.bin.is_some());
            Split::ALL
                .into_iter()
                .filter_map(|split| {
                    let (shards, _) = manifest.section(split)?;
                    let table = match split {
                        Split::Train => name.to_owned(),
                        other => format!("{name}_{}", other.name()),
                    };
                    Some((table, shards, maskforge_schema::examples::schema(with_bin)))
                })
                .collect()
        }
    }
}

async fn register(
    ctx: &SessionContext,
    table: &str,
    root: &Location,
    shards: &[ShardEntry],
    empty_schema: SchemaRef,
) -> Result<(), PipelineError> {
    let fail = |e: datafusion::error::DataFusionError| {
        PipelineError::input(&root.url(), format!("cannot register table `{table}`: {e}"))
    };
    if shards.is_empty() {
        let empty = MemTable::try_new(empty_schema, vec![vec![]]).map_err(fail)?;
        ctx.register_table(table, Arc::new(empty)).map_err(fail)?;
        return Ok(());
    }
    let mut urls = Vec::with_capacity(shards.len());
    for shard in shards {
        let location = root.join(&shard.path);
        // datafusion would open a FIFO in place of a shard and wait on it forever.
        location.check_regular()?;
        urls.push(location.url());
    }
    let frame = ctx
        .read_parquet(urls, ParquetReadOptions::default())
        .await
        .map_err(fail)?;
    ctx.register_table(table, frame.into_view()).map_err(fail)?;
    Ok(())
}

/// A CSV field as arrow's writer quotes it: in double quotes (doubled inside) when it holds a
/// comma, a quote or a line break.
fn csv_field(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

/// Writes record batches in one of the formats: CSV and JSON a batch at a time, the table at
/// the end.
struct Printer<'a> {
    format: QueryFormat,
    /// The result's columns (a CSV header is written also when no row comes).
    schema: arrow::datatypes::SchemaRef,
    out: &'a mut dyn Write,
    /// Table: every batch, printed at the end.
    held: Vec<RecordBatch>,
    rows: u64,
}

impl<'a> Printer<'a> {
    fn new(format: QueryFormat, schema: arrow::datatypes::SchemaRef, out: &'a mut dyn Write) -> Self {
        Self {
            format,
            schema,
            out,
            held: Vec::new(),
            rows: 0,
        }
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), PipelineError> {
        let first = self.rows == 0;
        self.rows += batch.num_rows() as u64;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let text = match self.format {
            QueryFormat::Table => {
                self.held.push(batch);
                return Ok(());
            }
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
        self.out.write_all(&text).map_err(PipelineError::Output)
    }

    fn finish(self) -> Result<u64, PipelineError> {
        match self.format {
            QueryFormat::Table => {
                let text = arrow::util::pretty::pretty_format_batches(&self.held)?;
                writeln!(self.out, "{text}").map_err(PipelineError::Output)?;
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

#[cfg(test)]
mod tests {
    use super::TableSource;

    #[test]
    fn a_name_is_taken_only_when_it_is_an_identifier() {
        let named = TableSource::parse("epoch1=s3://b/out/epochs/1");
        assert_eq!(named.name.as_deref(), Some("epoch1"));
        assert_eq!(named.url, "s3://b/out/epochs/1");
        for plain in ["runs/a=1/documents", "s3://b/x=1", "=out", "1x=out", "x="] {
            let source = TableSource::parse(plain);
            assert_eq!(source.name, None, "{plain}");
            assert_eq!(source.url, plain);
        }
    }
}
