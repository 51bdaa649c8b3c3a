//! `maskforge verify`: a published dataset (documents, or one examples epoch) checked against its
//! manifest, every problem listed with its file and row instead of stopping at the first.
//!
//! The plain check reads every listed file once (size, SHA-256, Parquet footer: row count,
//! schema, schema version) and lists the folder for stray shards; it decodes no row. `--deep`
//! also decodes every row through the contract's checked decoding (lengths, positions, sentence
//! ends), and checks ids against the vocabulary, dense `example_id`s, balanced shards, and that
//! each example's first segment, its masks undone, is a run of its document's tokens.

use crate::{PipelineError, dataset};
use bytes::Bytes;
use maskforge_schema::examples::Example;
use maskforge_schema::{
    Contract, Dataset, DatasetError, DocumentsManifest, ExamplesManifest, MANIFEST_FILE, SCHEMA_VERSION_KEY,
    ShardEntry, Split,
};
use maskforge_store::{Location, sha256_hex};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// One thing that does not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The file, relative to the dataset folder.
    pub file: String,
    /// The row of the file (0-based), when the problem is one row's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// What is wrong.
    pub what: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The dataset's URL.
    pub url: String,
    /// `documents` or `examples` (`unknown` when the manifest cannot be read).
    pub kind: &'static str,
    /// Whether rows were checked too.
    pub deep: bool,
    /// Shards listed.
    pub shards: usize,
    /// Rows the manifest lists.
    pub rows: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Everything that does not hold; empty when the dataset is sound.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether every check held.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: &str, row: Option<u64>, what: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_owned(),
            row,
            what: what.into(),
        });
    }
}

/// Checks the dataset at `url`; with `deep`, every row too. An unreadable manifest is a
/// problem of the report, not an error; errors are storage failures only.
pub fn verify(url: &str, deep: bool) -> Result<VerifyReport, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let root = Location::parse(url)?;
    let mut report = VerifyReport {
        url: root.url(),
        kind: "unknown",
        deep,
        shards: 0,
        rows: 0,
        bytes: 0,
        problems: Vec::new(),
    };
    let version = runtime.block_on(dataset::manifest_version(&root));
    match version.as_deref() {
        Ok(v) if v.starts_with("maskforge.documents/") => {
            report.kind = "documents";
            match runtime.block_on(Dataset::<DocumentsManifest>::open(root.clone())) {
                Ok(documents) => runtime.block_on(verify_documents(&documents, &mut report))?,
                Err(e) => report.problem(MANIFEST_FILE, None, e.to_string()),
            }
        }
        Ok(v) if v.starts_with("maskforge.examples/") => {
            report.kind = "examples";
            match runtime.block_on(Dataset::<ExamplesManifest>::open(root.clone())) {
                Ok(examples) => runtime.block_on(verify_examples(&examples, &mut report))?,
                Err(e) => report.problem(MANIFEST_FILE, None, e.to_string()),
            }
        }
        Ok(v) => report.problem(
            MANIFEST_FILE,
            None,
            format!("schema_version {v:?} is not a maskforge dataset"),
        ),
        Err(what) => report.problem(MANIFEST_FILE, None, what.clone()),
    }
    Ok(report)
}

async fn verify_documents(
    documents: &Dataset<DocumentsManifest>,
    report: &mut VerifyReport,
) -> Result<(), PipelineError> {
    let manifest = documents.manifest();
    // Deep: the contract's checked decoding (lengths agree, sentence ends increase and close
    // the document, word starts at sentence starts).
    let listed = check_shards(documents, report, |index, bytes, report| {
        if let Err(e) = documents.decode_shard(index, bytes, |_| {}) {
            report.problem(&manifest.shards[index].path, None, message(e));
        }
    })
    .await;
    check_strays(documents.root(), &listed, report).await?;
    let rows: u64 = manifest.shards.iter().map(|s| s.rows).sum();
    if rows != manifest.counts.documents_out {
        report.problem(
            MANIFEST_FILE,
            None,
            format!(
                "the shards hold {rows} rows, counts.documents_out is {}",
                manifest.counts.documents_out
            ),
        );
    }
    if !manifest.counts.balanced() {
        report.problem(
            MANIFEST_FILE,
            None,
            "records_in is not documents_out plus the skipped records",
        );
    }
    Ok(())
}

async fn verify_examples(examples: &Dataset<ExamplesManifest>, report: &mut VerifyReport) -> Result<(), PipelineError> {
    let manifest = examples.manifest();
    let root = examples.root();
    // The vocabulary and the files for outside trainers.
    match root.join(&manifest.vocab.path).read().await {
        Ok(bytes) if sha256_hex(&bytes) == manifest.vocab.sha256 => {}
        Ok(_) => report.problem(&manifest.vocab.path, None, "SHA-256 differs from the manifest"),
        Err(e) => report.problem(&manifest.vocab.path, None, e.to_string()),
    }
    for file in &manifest.files {
        match root.join(&file.path).read().await {
            Ok(bytes) if bytes.len() as u64 == file.bytes && sha256_hex(&bytes) == file.sha256 => {}
            Ok(_) => report.problem(&file.path, None, "size or SHA-256 differs from the manifest"),
            Err(e) => report.problem(&file.path, None, e.to_string()),
        }
    }
    let documents = if report.deep {
        documents_of(examples).await
    } else {
        None
    };
    let mut listed = BTreeSet::new();
    for split in Split::ALL {
        let Some(view) = examples.split(split) else { continue };
        let mut deep = DeepExamples::new(&view, documents.as_ref()).await;
        listed.extend(check_shards(&view, report, |index, bytes, report| deep.shard(index, bytes, report)).await);
        let shards = &view.manifest().shards;
        let rows: u64 = shards.iter().map(|s| s.rows).sum();
        if rows != view.manifest().stats.examples {
            report.problem(
                MANIFEST_FILE,
                None,
                format!(
                    "{}: the shards hold {rows} rows, stats.examples is {}",
                    split.name(),
                    view.manifest().stats.examples
                ),
            );
        }
        check_balanced(shards, report);
    }
    check_strays(root, &listed, report).await?;
    Ok(())
}

/// Reads every shard of the dataset once: size, SHA-256, footer row count, schema and schema
/// version; with `--deep`, hands the bytes of each readable shard to `rows`. Returns the
/// listed paths.
async fn check_shards<M: Contract>(
    dataset: &Dataset<M>,
    report: &mut VerifyReport,
    mut rows: impl FnMut(usize, Bytes, &mut VerifyReport),
) -> BTreeSet<String> {
    let shards = dataset.manifest().shards();
    for (index, entry) in shards.iter().enumerate() {
        report.shards += 1;
        report.rows += entry.rows;
        let bytes = match dataset.read_shard_bytes(index).await {
            Ok(bytes) => bytes,
            Err(e) => {
                report.problem(&entry.path, None, message(e));
                continue;
            }
        };
        report.bytes += bytes.len() as u64;
        let builder = match ParquetRecordBatchReaderBuilder::try_new(bytes.clone()) {
            Ok(b) => b,
            Err(e) => {
                report.problem(&entry.path, None, format!("not a Parquet file: {e}"));
                continue;
            }
        };
        if let Err(e) = M::check_schema(builder.schema()) {
            report.problem(&entry.path, None, format!("schema: {e}"));
        }
        let meta = builder.metadata().file_metadata();
        if meta.num_rows() as u64 != entry.rows {
            report.problem(
                &entry.path,
                None,
                format!(
                    "{} rows in the footer, the manifest says {}",
                    meta.num_rows(),
                    entry.rows
                ),
            );
        }
        let version = meta
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == SCHEMA_VERSION_KEY))
            .and_then(|k| k.value.clone());
        if version.as_deref() != Some(M::SCHEMA_VERSION) {
            report.problem(
                &entry.path,
                None,
                format!("footer schema version {version:?}, expected {}", M::SCHEMA_VERSION),
            );
        }
        if report.deep {
            rows(index, bytes, report);
        }
    }
    shards.iter().map(|s| s.path.clone()).collect()
}

/// Files below the dataset that look like shards (or any `.parquet`) but are not listed.
async fn check_strays(
    root: &Location,
    listed: &BTreeSet<String>,
    report: &mut VerifyReport,
) -> Result<(), PipelineError> {
    for entry in root.entries().await? {
        let name = &entry.relative;
        if name.starts_with('_') {
            continue; // a run's exchange or lease, not part of the dataset
        }
        let looks_like_shard = dataset::is_shard_name(name) || name.ends_with(".parquet");
        if looks_like_shard && !listed.contains(name) {
            report.problem(
                name,
                None,
                "not listed in the manifest (a reader globbing *.parquet would read it)",
            );
        }
    }
    Ok(())
}

/// Per length bin, shard sizes differ by at most one, larger first.
fn check_balanced(shards: &[ShardEntry], report: &mut VerifyReport) {
    let mut per_bin: HashMap<Option<u8>, Vec<&ShardEntry>> = HashMap::new();
    for shard in shards {
        per_bin.entry(shard.bin).or_default().push(shard);
    }
    for group in per_bin.values() {
        if group
            .windows(2)
            .any(|w| w[1].rows > w[0].rows || w[0].rows - w[1].rows > 1)
        {
            let rows: Vec<u64> = group.iter().map(|s| s.rows).collect();
            report.problem(&group[0].path, None, format!("unbalanced shards in its bin: {rows:?}"));
        }
    }
}

/// The deep check of one split's rows: decoded (every value range of the contract checked
/// there, against the manifest's vocabulary, task and sequence length), dense example ids, the
/// special tokens where the pipeline puts them, and each example's first segment, labels
/// restored, a run of its document's tokens (when the epoch's documents dataset is at hand).
struct DeepExamples<'a> {
    view: &'a Dataset<ExamplesManifest>,
    /// The ids of the first token and the segment separator, when the vocabulary names them.
    specials: Option<(u32, u32)>,
    /// The documents' tokens, when the documents dataset is at hand.
    documents: Option<&'a HashMap<u64, Vec<u32>>>,
    next_id: u64,
}

impl<'a> DeepExamples<'a> {
    async fn new(view: &'a Dataset<ExamplesManifest>, documents: Option<&'a HashMap<u64, Vec<u32>>>) -> Self {
        let vocab = view.read_vocabulary().await.unwrap_or_default();
        let id = |token: &str| vocab.iter().position(|t| t == token).map(|i| i as u32);
        let specials = view
            .manifest()
            .spec
            .as_ref()
            .and_then(|spec| id(&spec.pairs.cls_token).zip(id(&spec.pairs.sep_token)));
        Self {
            view,
            specials,
            documents,
            next_id: 0,
        }
    }

    /// Checks the rows of shard `index`, given its bytes.
    fn shard(&mut self, index: usize, bytes: Bytes, report: &mut VerifyReport) {
        let path = &self.view.manifest().shards[index].path;
        let mut bad: Vec<(u64, String)> = Vec::new();
        let mut row = 0u64;
        let result = self.view.decode_shard(index, bytes, |rows| {
            for e in rows {
                if let Some(what) = self.example(&e) {
                    bad.push((row, what));
                }
                row += 1;
            }
        });
        if let Err(e) = result {
            report.problem(path, None, message(e));
        }
        for (r, what) in bad {
            report.problem(path, Some(r), what);
        }
    }

    /// What is wrong with one example, if anything.
    fn example(&mut self, e: &Example) -> Option<String> {
        let expected = std::mem::replace(&mut self.next_id, e.example_id + 1);
        if e.example_id != expected {
            return Some(format!("example_id {}, expected {expected}", e.example_id));
        }
        let (cls, sep) = self.specials?;
        if let Some(what) = special_tokens(e, cls, sep) {
            return Some(what);
        }
        let documents = self.documents?;
        let mut restored = e.input_ids.clone();
        for (&p, &label) in e.masked_positions.iter().zip(&e.masked_labels) {
            if let Some(slot) = restored.get_mut(usize::from(p)) {
                *slot = label;
            }
        }
        let end = restored.iter().position(|&t| t == sep).unwrap_or(restored.len());
        let segment = &restored[1.min(end)..end];
        match documents.get(&e.doc_id) {
            None => Some(format!("document {} is not in the documents dataset", e.doc_id)),
            Some(tokens) if !contains(tokens, segment) => Some(format!(
                "its first segment, labels restored, is not in document {}",
                e.doc_id
            )),
            Some(_) => None,
        }
    }
}

/// Where the special tokens must be: `cls` first, `sep` last and at the end of the first
/// segment (just before the first token of type 1), none of them masked (a `sep` inside a
/// packed segment separates documents and is special too; text never encodes to either).
fn special_tokens(e: &Example, cls: u32, sep: u32) -> Option<String> {
    let ids = &e.input_ids;
    let (first, last) = (ids.first().copied(), ids.last().copied());
    if first != Some(cls) {
        return Some(format!("the first token is {first:?}, not the start token Some({cls})"));
    }
    if last != Some(sep) {
        return Some(format!("the last token is {last:?}, not the separator Some({sep})"));
    }
    let second = e.token_type_ids.iter().position(|&t| t == 1);
    if let Some(b) = second
        && ids.get(b.wrapping_sub(1)) != Some(&sep)
    {
        return Some(format!("segment 1 starts at token {b}, not after a separator"));
    }
    let masked_special = e
        .masked_positions
        .iter()
        .zip(&e.masked_labels)
        .find(|&(_, &l)| l == cls || l == sep);
    if let Some((p, label)) = masked_special {
        return Some(format!("masked position {p} holds the special token {label}"));
    }
    None
}

/// The tokens of every document of the documents dataset the epoch was built from
/// (`<output>/documents` beside `<output>/epochs/E`), when it is there and is that dataset.
async fn documents_of(examples: &Dataset<ExamplesManifest>) -> Option<HashMap<u64, Vec<u32>>> {
    let url = examples.root().url();
    let (output, _epoch) = url.trim_end_matches('/').rsplit_once("/epochs/")?;
    let root = Location::parse(&format!("{output}/documents")).ok()?;
    let documents = Dataset::<DocumentsManifest>::open(root).await.ok()?;
    if documents.manifest_sha256() != examples.manifest().documents_manifest_sha256 {
        return None;
    }
    let mut tokens = HashMap::new();
    for index in 0..documents.manifest().shards.len() {
        documents
            .for_each_batch(index, |docs| {
                for d in docs {
                    tokens.insert(d.doc_id, d.input_ids);
                }
            })
            .await
            .ok()?;
    }
    Some(tokens)
}

/// What a dataset error says, without the URL (the report names the file).
fn message(e: DatasetError) -> String {
    match e {
        DatasetError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

/// Whether `needle` is a contiguous run of `hay`.
fn contains(hay: &[u32], needle: &[u32]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
