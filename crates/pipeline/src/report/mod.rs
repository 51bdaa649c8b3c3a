//! `maskforge report`: one self-contained HTML page of charts for documents datasets and
//! epochs. Epoch charts come from the manifest's statistics alone; per-source numbers and the
//! document length distribution are queried from the documents' `source` and `num_tokens`
//! columns (through datafusion, reading no other column).

mod page;
mod svg;

use crate::PipelineError;
use crate::dataset::{PublishedDataset, io_runtime};
use crate::query::{QueryLimits, TableSource, query_context};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use maskforge_masking::MaskStrategy;
use maskforge_schema::{Dataset, DocumentsManifest, EpochStats, ExamplesManifest, SkipReason, Split};
use maskforge_store::Location;
use page::{Fact, Page};
use std::collections::BTreeMap;
use svg::{Series, bars};

/// At most this many sources get their own bar; the rest are summed as `(other sources)`.
const TOP_SOURCES: usize = 20;

/// What `report` made: the page, and the same numbers as JSON for schedulers.
pub struct Report {
    /// The self-contained HTML page.
    pub html: String,
    /// `{"datasets": [...]}`: per dataset its URL, kind and manifest statistics (documents:
    /// `counts` and `sources`; epochs: `stats` per split).
    pub summary: serde_json::Value,
}

/// The report for the datasets at `urls` (documents datasets and examples epochs, in any
/// order and number).
pub fn report(urls: &[String]) -> Result<Report, PipelineError> {
    let runtime = io_runtime()?;
    runtime.block_on(async {
        let mut page = Page::new();
        let mut epochs = Vec::new();
        let mut summaries = Vec::new();
        for url in urls {
            let root = Location::parse(url)?;
            match PublishedDataset::open(root).await? {
                PublishedDataset::Documents(documents) => {
                    summaries.push(documents_section(&mut page, &documents, url).await?)
                }
                PublishedDataset::Examples(epoch) => {
                    summaries.push(epoch_section(&mut page, &epoch));
                    epochs.push(*epoch);
                }
            }
        }
        if epochs.len() > 1 {
            across_epochs(&mut page, &epochs);
        }
        Ok(Report {
            html: page.finish("maskforge report"),
            summary: serde_json::json!({ "datasets": summaries }),
        })
    })
}

async fn documents_section(
    page: &mut Page,
    documents: &Dataset<DocumentsManifest>,
    url: &str,
) -> Result<serde_json::Value, PipelineError> {
    let m = documents.manifest();
    let c = &m.counts;
    page.heading(2, &format!("Documents: {}", documents.root().url()));
    page.facts(&[
        ("schema_version", Fact::Text(m.schema_version.clone())),
        ("tool_version", Fact::Text(m.tool_version.clone())),
        ("config_hash", Fact::Text(m.config_hash.clone())),
        ("inputs", Fact::Number(m.inputs.len() as f64)),
        ("shards", Fact::Number(m.shards.len() as f64)),
        ("records_in", Fact::Number(c.records_in as f64)),
        ("documents_out", Fact::Number(c.documents_out as f64)),
        ("sentences", Fact::Number(c.sentences as f64)),
        ("tokens", Fact::Number(c.tokens as f64)),
        ("large_documents", Fact::Number(c.large_documents as f64)),
    ]);
    let reasons: Vec<String> = SkipReason::ALL.iter().map(|r| r.name().to_owned()).collect();
    let skipped: Vec<f64> = reasons
        .iter()
        .map(|r| c.skipped.get(r).copied().unwrap_or(0) as f64)
        .collect();
    page.chart(
        &bars("skipped records by reason", &reasons, &[series("records", skipped)]),
        "Input records that gave no document, by reason (counts.skipped).",
    );

    let ctx = query_context(
        &[TableSource {
            name: Some("documents".to_owned()),
            url: url.to_owned(),
        }],
        &QueryLimits::default(),
    )
    .await?;
    let per_source = rows(
        &ctx,
        "SELECT CAST(source AS VARCHAR), CAST(count(*) AS BIGINT), CAST(sum(num_tokens) AS BIGINT) \
         FROM documents GROUP BY 1 ORDER BY 3 DESC, 1",
    )
    .await?;
    let mut labels = Vec::new();
    let (mut docs, mut tokens) = (Vec::new(), Vec::new());
    for (i, row) in per_source.iter().enumerate() {
        if i < TOP_SOURCES {
            labels.push(row.0.clone());
            docs.push(row.1 as f64);
            tokens.push(row.2 as f64);
        } else {
            if i == TOP_SOURCES {
                labels.push("(other sources)".to_owned());
                docs.push(0.0);
                tokens.push(0.0);
            }
            docs[TOP_SOURCES] += row.1 as f64;
            tokens[TOP_SOURCES] += row.2 as f64;
        }
    }
    page.chart(
        &bars("documents per source", &labels, &[series("documents", docs)]),
        "Documents per input source (the documents' source column).",
    );
    page.chart(
        &bars("tokens per source", &labels, &[series("tokens", tokens)]),
        "Tokens per input source.",
    );
    let lengths = rows(
        &ctx,
        "SELECT CAST(CASE WHEN num_tokens <= 1 THEN 1 ELSE power(2, ceil(log2(CAST(num_tokens AS DOUBLE)))) END AS VARCHAR), \
                CAST(count(*) AS BIGINT), CAST(min(num_tokens) AS BIGINT) \
         FROM documents GROUP BY 1 ORDER BY 3",
    )
    .await?;
    let labels: Vec<String> = lengths.iter().map(|r| format!("≤{}", r.0)).collect();
    let counts: Vec<f64> = lengths.iter().map(|r| r.1 as f64).collect();
    page.chart(
        &bars("document lengths", &labels, &[series("documents", counts)]),
        "Documents by length in tokens, in power-of-two buckets.",
    );
    let sources: Vec<serde_json::Value> = per_source
        .iter()
        .map(|(source, documents, tokens)| serde_json::json!({"source": source, "documents": documents, "tokens": tokens}))
        .collect();
    Ok(serde_json::json!({
        "url": documents.root().url(),
        "kind": "documents",
        "schema_version": m.schema_version,
        "shards": m.shards.len(),
        "counts": m.counts,
        "sources": sources,
    }))
}

fn epoch_section(page: &mut Page, epoch: &Dataset<ExamplesManifest>) -> serde_json::Value {
    let m = epoch.manifest();
    let s = &m.stats;
    page.heading(2, &format!("Epoch {}: {}", m.epoch, epoch.root().url()));
    let mut facts = vec![
        ("schema_version", Fact::Text(m.schema_version.clone())),
        ("tool_version", Fact::Text(m.tool_version.clone())),
        ("config_hash", Fact::Text(m.config_hash.clone())),
        ("seed", Fact::Number(m.seed as f64)),
        ("epoch", Fact::Number(m.epoch as f64)),
        ("pair_epoch", Fact::Number(m.pair_epoch as f64)),
    ];
    if let Some(spec) = &m.spec {
        facts.push(("task", Fact::Text(json_name(&spec.pairs.task))));
        facts.push(("strategy", Fact::Text(json_name(&spec.masking.strategy))));
        facts.push(("probability", Fact::Number(spec.masking.probability)));
        facts.push(("max_seq_length", Fact::Number(spec.pairs.max_seq_length as f64)));
    }
    facts.extend([
        ("documents_in", Fact::Number(s.documents_in as f64)),
        ("examples", Fact::Number(s.examples as f64)),
        ("tokens", Fact::Number(s.tokens as f64)),
        ("masked_tokens", Fact::Number(s.masked_tokens as f64)),
        ("mask_rate", Fact::Number(s.mask_rate)),
        ("truncated_examples", Fact::Number(s.truncated_examples as f64)),
        ("single_sentence_chunks", Fact::Number(s.single_sentence_chunks as f64)),
    ]);
    page.facts(&facts);
    let (labels, counts) = counted(&s.length_histogram, |upper| format!("≤{upper}"));
    page.chart(
        &bars("example lengths", &labels, &[series("examples", counts)]),
        "Examples by length in 64-token buckets (stats.length_histogram).",
    );
    let kinds = ["mask", "similar", "random", "keep"];
    let labels: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let applied: Vec<f64> = kinds
        .iter()
        .map(|k| s.replacement.get(*k).copied().unwrap_or(0) as f64)
        .collect();
    page.chart(
        &bars("mask kinds", &labels, &[series("positions", applied.clone())]),
        "What was done at the masked positions (stats.replacement).",
    );
    if let Some(spec) = &m.spec {
        let r = &spec.masking.replace;
        let configured = [r.mask, r.similar, r.random, r.keep];
        page.chart(
            &bars(
                "mask kinds against the configuration",
                &labels,
                &[
                    series("applied share", shares(&applied)),
                    series("configured (masking.replace)", configured.to_vec()),
                ],
            ),
            "Share of masked positions by kind, against masking.replace (similar words that fall back count as random or lexicon words in their own kind).",
        );
    }
    let longest = s.ngram_lengths.keys().copied().max().unwrap_or(1) as usize;
    let weights = m
        .spec
        .as_ref()
        .map(|spec| spec.masking.ngram_weights.clone())
        .unwrap_or_default();
    let n_max = longest.max(weights.len()).max(1);
    let labels: Vec<String> = (1..=n_max).map(|n| format!("{n}")).collect();
    let chosen: Vec<f64> = (1..=n_max as u32)
        .map(|n| s.ngram_lengths.get(&n).copied().unwrap_or(0) as f64)
        .collect();
    page.chart(
        &bars(
            "masking units by length in words",
            &labels,
            &[series("units", chosen.clone())],
        ),
        "Chosen masking units by their length in words (stats.ngram_lengths).",
    );
    let uses_weights = m.spec.as_ref().is_some_and(|spec| {
        matches!(
            spec.masking.strategy,
            MaskStrategy::Ngram | MaskStrategy::MacbertSequential
        )
    });
    if uses_weights {
        let total: f64 = weights.iter().sum();
        let configured: Vec<f64> = (0..n_max)
            .map(|i| {
                if total > 0.0 {
                    weights.get(i).copied().unwrap_or(0.0) / total
                } else {
                    0.0
                }
            })
            .collect();
        page.chart(
            &bars(
                "n-gram lengths against the configured weights",
                &labels,
                &[series("chosen share", shares(&chosen)), series("configured weight", configured)],
            ),
            "Share of chosen units by length, against masking.ngram_weights normalised: long n-grams are chosen less often than weighted when they do not fit the budget or the sentence.",
        );
    }
    let (labels, counts) = counted(&s.pair_types, str::to_owned);
    page.chart(
        &bars("pair types", &labels, &[series("examples", counts)]),
        "Examples by pair type (stats.pair_types).",
    );
    counts_or_none(
        page,
        &s.similar_fallbacks,
        ("similar-word fallbacks", "replacements"),
        "Similar-word replacements that did not use a listed similar word, by reason (stats.similar_fallbacks).",
        "Similar-word fallbacks: none (no similar-word replacement fell back).",
    );
    counts_or_none(
        page,
        &s.skipped,
        ("skipped chunks", "chunks"),
        "Chunks that gave no example, by reason (stats.skipped).",
        "Skipped chunks: none.",
    );
    if !s.sources.is_empty() {
        let labels: Vec<String> = (0..s.sources.len()).map(|i| format!("source {i}")).collect();
        let realised: Vec<f64> = s.sources.iter().map(|m| m.share).collect();
        let drawn: Vec<f64> = s.sources.iter().map(|m| m.drawn as f64).collect();
        let expected: Vec<f64> = s.sources.iter().map(|m| m.weight * m.documents as f64).collect();
        page.chart(
            &bars(
                "sources: the mixture",
                &labels,
                &[
                    series("share of the tokens", realised),
                    series("share of the drawn copies", shares(&drawn)),
                    series("share weight x documents implies", shares(&expected)),
                ],
            ),
            "Each source's realised share of the epoch's tokens and drawn document copies (stats.sources), against the share its sources.N.weight implies for its documents.",
        );
    }
    let splits: Vec<Vec<String>> = Split::ALL
        .into_iter()
        .filter_map(|split| {
            let (shards, stats) = m.section(split)?;
            Some(vec![
                split.name().to_owned(),
                shards.len().to_string(),
                stats.examples.to_string(),
                stats.tokens.to_string(),
                format!("{:.4}", stats.mask_rate),
            ])
        })
        .collect();
    page.table(&["split", "shards", "examples", "tokens", "mask rate"], &splits);
    let mut stats = serde_json::Map::new();
    for split in Split::ALL {
        if let Some((_, s)) = m.section(split) {
            stats.insert(split.name().to_owned(), serde_json::json!(s));
        }
    }
    serde_json::json!({
        "url": epoch.root().url(),
        "kind": "examples",
        "schema_version": m.schema_version,
        "epoch": m.epoch,
        "seed": m.seed,
        "pair_epoch": m.pair_epoch,
        "shards": m.all_shards().count(),
        "stats": stats,
    })
}

/// Epochs side by side: how the masks change from epoch to epoch.
fn across_epochs(page: &mut Page, epochs: &[Dataset<ExamplesManifest>]) {
    page.heading(2, "Across epochs");
    let mut seen = BTreeMap::new();
    let labels: Vec<String> = epochs
        .iter()
        .map(|e| {
            let n = e.manifest().epoch;
            let count = seen.entry(n).or_insert(0);
            *count += 1;
            if *count == 1 {
                format!("epoch {n}")
            } else {
                format!("epoch {n} ({count})")
            }
        })
        .collect();
    let stats: Vec<&EpochStats> = epochs.iter().map(|e| &e.manifest().stats).collect();
    page.chart(
        &bars(
            "mask rate per epoch",
            &labels,
            &[series("mask rate", stats.iter().map(|s| s.mask_rate).collect())],
        ),
        "Masked tokens over tokens, per epoch: fresh masks keep the rate steady.",
    );
    let kinds = ["mask", "similar", "random", "keep"];
    let kind_series: Vec<Series> = kinds
        .iter()
        .map(|k| {
            let values = stats
                .iter()
                .map(|s| share_of(&s.replacement, &(*k).to_owned()))
                .collect();
            series(k, values)
        })
        .collect();
    page.chart(
        &bars("mask kinds per epoch", &labels, &kind_series),
        "Share of masked positions by kind, per epoch.",
    );
    let n_max = stats
        .iter()
        .flat_map(|s| s.ngram_lengths.keys().copied())
        .max()
        .unwrap_or(1);
    let unit_series: Vec<Series> = (1..=n_max)
        .map(|n| {
            let values = stats.iter().map(|s| share_of(&s.ngram_lengths, &n)).collect();
            series(&format!("{n}-word units"), values)
        })
        .collect();
    page.chart(
        &bars("masking unit lengths per epoch", &labels, &unit_series),
        "Share of chosen masking units by length in words, per epoch.",
    );
    let rows: Vec<Vec<String>> = epochs
        .iter()
        .zip(&labels)
        .map(|(e, label)| {
            let m = e.manifest();
            vec![
                label.clone(),
                m.pair_epoch.to_string(),
                m.stats.examples.to_string(),
                m.stats.masked_tokens.to_string(),
                format!("{:.4}", m.stats.mask_rate),
                m.config_hash.chars().take(12).collect(),
            ]
        })
        .collect();
    page.table(
        &[
            "epoch",
            "pair_epoch",
            "examples",
            "masked tokens",
            "mask rate",
            "config_hash",
        ],
        &rows,
    );
}

/// A chart of a map of counts by reason (`(title, series name)`), or a line saying there were none.
fn counts_or_none(page: &mut Page, map: &BTreeMap<String, u64>, names: (&str, &str), caption: &str, none: &str) {
    if map.is_empty() {
        page.paragraph(none);
    } else {
        let (labels, counts) = counted(map, str::to_owned);
        page.chart(&bars(names.0, &labels, &[series(names.1, counts)]), caption);
    }
}

fn series(name: &str, values: Vec<f64>) -> Series {
    Series {
        name: name.to_owned(),
        values,
    }
}

/// Labels and counts of a statistics map, in its order.
fn counted<K: std::fmt::Display>(map: &BTreeMap<K, u64>, label: impl Fn(&str) -> String) -> (Vec<String>, Vec<f64>) {
    map.iter().map(|(k, v)| (label(&k.to_string()), *v as f64)).unzip()
}

/// The count of `key` over the sum of the counts of `map` (0 when the sum is).
fn share_of<K: Ord>(map: &BTreeMap<K, u64>, key: &K) -> f64 {
    let total: u64 = map.values().sum();
    let count = map.get(key).copied().unwrap_or(0);
    if total > 0 { count as f64 / total as f64 } else { 0.0 }
}

/// Each value over their sum (all zero when the sum is).
fn shares(values: &[f64]) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    values
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect()
}

/// An enum's name as the manifest spells it.
fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A query's rows as `(text, number, number)`: the first column as text, the next two as
/// integers.
async fn rows(ctx: &SessionContext, query: &str) -> Result<Vec<(String, i64, i64)>, PipelineError> {
    let fail = |e: datafusion::error::DataFusionError| PipelineError::Query(format!("{query}: {e}"));
    let batches: Vec<RecordBatch> = ctx.sql(query).await.map_err(fail)?.collect().await.map_err(fail)?;
    let mut out = Vec::new();
    for batch in batches {
        let text = cast(batch.column(0), &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let a = cast(batch.column(1), &DataType::Int64)?;
        let b = cast(batch.column(2), &DataType::Int64)?;
        let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
        for row in 0..batch.num_rows() {
            let label = if text.is_null(row) {
                "(none)".to_owned()
            } else {
                text.value(row).to_owned()
            };
            out.push((label, a.value(row), b.value(row)));
        }
    }
    Ok(out)
}
