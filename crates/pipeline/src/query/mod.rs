//! `maskforge sql`: published datasets as SQL tables through datafusion. Each dataset is opened
//! through its manifest and only the shards it lists are registered (never a folder listing, so
//! a stray or half-written file is never read); queries are read-only, bounded in memory
//! ([`limits`]) and stopped by SIGINT; the result is printed by [`printer`].

mod limits;
mod printer;

pub use limits::QueryLimits;
use printer::Printer;
pub use printer::TABLE_ROWS;

use crate::PipelineError;
use crate::dataset::{PublishedDataset, io_runtime};
use arrow::datatypes::SchemaRef;
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
    /// An aligned text table (held to size the columns: at most [`TABLE_ROWS`] rows, then a
    /// line that says the result was cut).
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
    /// URL: a path such as `runs/a=1/documents` is a URL, since `runs/a` is not a name, and so
    /// is any argument that names an existing local path (`a=b/documents`, a folder called
    /// `a=b`); write `./a=b/documents` to say so for a path that is not there yet.
    pub fn parse(arg: &str) -> Self {
        if let Some((name, url)) = arg.split_once('=')
            && is_identifier(name)
            && !url.is_empty()
            && !std::path::Path::new(arg).exists()
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

/// Runs the read-only `query` over `sources` within `limits` and writes the result to `out` in
/// `format`; returns the number of rows written. An examples epoch registers its train shards
/// as the table and its held-out splits as `NAME_validation` and `NAME_test`. SIGINT (Ctrl-C)
/// stops it with [`PipelineError::Interrupted`], also where the shell started it ignoring SIGINT.
pub fn sql(
    sources: &[TableSource],
    query: &str,
    format: QueryFormat,
    limits: &QueryLimits,
    out: &mut dyn Write,
) -> Result<u64, PipelineError> {
    let runtime = io_runtime()?;
    runtime.block_on(async {
        let interrupt = tokio::signal::ctrl_c();
        let run = async {
            let ctx = query_context(sources, limits).await?;
            let fail = |e: datafusion::error::DataFusionError| PipelineError::Query(e.to_string());
            let read_only = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let frame = ctx.sql_with_options(query, read_only).await.map_err(fail)?;
            let mut stream = frame.execute_stream().await.map_err(fail)?;
            let mut printer = Printer::new(format, stream.schema(), out);
            while !printer.is_full()
                && let Some(batch) = stream.next().await
            {
                printer.write(batch.map_err(fail)?)?;
            }
            printer.finish()
        };
        tokio::select! {
            result = run => result,
            _ = interrupt => Err(PipelineError::Interrupted),
        }
    })
}

/// A datafusion session within `limits`, with every source registered as tables.
pub(crate) async fn query_context(
    sources: &[TableSource],
    limits: &QueryLimits,
) -> Result<SessionContext, PipelineError> {
    let fail = |e: datafusion::error::DataFusionError| PipelineError::Query(e.to_string());
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_information_schema(true),
        limits.runtime().map_err(fail)?,
    );
    limits.bound_functions(&ctx).map_err(fail)?;
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

#[cfg(test)]
mod tests {
    use super::TableSource;

    #[test]
    fn a_name_is_taken_only_when_it_is_an_identifier() {
        let named = TableSource::parse("epoch1=s3://b/out/epochs/1");
        assert_eq!(named.name.as_deref(), Some("epoch1"));
        assert_eq!(named.url, "s3://b/out/epochs/1");
        for plain in [
            "runs/a=1/documents",
            "s3://b/x=1",
            "=out",
            "1x=out",
            "x=",
            "./a=b/documents",
        ] {
            let source = TableSource::parse(plain);
            assert_eq!(source.name, None, "{plain}");
            assert_eq!(source.url, plain);
        }
        // A relative path that exists is a path, though it reads as NAME=URL.
        let local = format!("q=maskforge-test-{}", std::process::id());
        std::fs::create_dir(&local).unwrap();
        let parsed = TableSource::parse(&local);
        std::fs::remove_dir(&local).unwrap();
        assert_eq!(parsed.name, None, "an existing folder `{local}` is a path");
    }
}
