//! The prepare job: every input file (unit) is read as a stream of record batches, each batch
//! goes through the text path on the rayon pool, and the documents are written in input order to
//! the unit's Parquet shards. The manifest is written last.
//!
//! Output bytes depend only on the inputs and the configuration: batches are cut by record count
//! and size, rayon keeps the order of each batch, and units are written in listing order.

use crate::documents::document_id;
use crate::lease::Lease;
use crate::progress::Progress;
use crate::sources::{self, BatchLimits, Record, RecordBody};
use crate::units::{Unit, list_units};
use crate::workers::Workers;
use crate::{PipelineError, dataset, resources};
use documents::Document;
use maskforge_config::{BadRecordPolicy, PipelineConfig};
use maskforge_schema::{
    CONFIG_HASH_KEY, DocumentCounts, DocumentsManifest, InputEntry, MANIFEST_FILE, SCHEMA_VERSION_KEY, ShardEntry,
    TOOL_VERSION, documents,
};
use maskforge_store::{Location, ShardEncoder, ShardOptions, sha256_hex};
use maskforge_text::TextProcessor;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::runtime::Handle;

/// How to run the job (nothing here changes the output).
pub struct PrepareOptions {
    /// Worker threads of the text path.
    pub threads: usize,
    /// Which worker process this is.
    pub workers: Workers,
    /// Progress receiver.
    pub progress: Arc<dyn Progress>,
}

/// What a prepare process did.
#[derive(Debug)]
pub struct PrepareReport {
    /// URL of the documents dataset.
    pub dataset_url: String,
    /// The published manifest, once every unit is committed (by this or another worker).
    pub manifest: Option<DocumentsManifest>,
    /// Units committed so far, of all units.
    pub units_committed: usize,
    /// Number of units of the job.
    pub units: usize,
}

/// Folder of the per-unit completion markers inside the dataset.
const UNITS_FOLDER: &str = "_units";

/// The completion marker of one unit, written after its shards: what it produced and for which
/// input and configuration. A rerun skips units whose marker matches.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct UnitMarker {
    config_hash: String,
    fingerprint: String,
    input: InputEntry,
    shards: Vec<ShardEntry>,
    counts: DocumentCounts,
}

fn fingerprint(unit: &Unit) -> String {
    format!(
        "{}|{}|{}|{}",
        unit.origin,
        unit.file.name,
        unit.file.size,
        unit.file.e_tag.as_deref().unwrap_or("")
    )
}

/// Records per batch handed to the text path, and the text size that closes a batch early.
const BATCH_LIMITS: BatchLimits = BatchLimits {
    records: 1024,
    bytes: 4 << 20,
};
/// Skipped records logged per file before the rest are only counted.
const LOGGED_SKIPS_PER_FILE: u64 = 5;

/// Runs this worker's share of the prepare job of `config` into `<output.url>/documents/`:
/// units already committed with the same input and configuration (and whose shards are intact)
/// are skipped; the worker that finds every unit committed publishes the manifest (a
/// conditional create, so exactly once), after checking every shard it lists.
pub fn prepare(config: &PipelineConfig, options: &PrepareOptions) -> Result<PrepareReport, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let handle = runtime.handle().clone();
    let processor = handle.block_on(resources::load_text_processor(config))?;
    let units = handle.block_on(list_units(config))?;
    let dataset = Location::parse(&config.output.url)?.join("documents");
    let (content, config_hash) =
        dataset::documents_config(config, processor.tokenizer().hash(), processor.segmenter().hash());
    // Everything that decides the bytes: two runs of one identity write the same files.
    let identity = sha256_hex(
        units
            .iter()
            .fold(config_hash.clone(), |acc, u| acc + "\n" + &fingerprint(u))
            .as_bytes(),
    );
    let manifest_location = dataset.join(MANIFEST_FILE);
    let marker_of = |unit: usize| dataset.join(&format!("{UNITS_FOLDER}/{unit:05}.json"));
    let report = |manifest: Option<DocumentsManifest>, committed: usize| PrepareReport {
        dataset_url: dataset.url(),
        manifest,
        units_committed: committed,
        units: units.len(),
    };

    // An earlier dataset: the same job is done already when its inputs are unchanged (the unit
    // markers hold their fingerprints) and its shards are all there; another job is replaced by
    // a single process, but never mixed into by one of several workers.
    let existing = handle.block_on(read_manifest(&manifest_location))?;
    let markers: Vec<Option<UnitMarker>> = handle.block_on(async {
        let mut all = Vec::with_capacity(units.len());
        for unit in &units {
            all.push(read_marker(&marker_of(unit.index)).await?);
        }
        Ok::<_, PipelineError>(all)
    })?;
    let committed = |unit: &Unit| {
        markers[unit.index]
            .as_ref()
            .filter(|m| m.config_hash == config_hash && m.fingerprint == fingerprint(unit))
    };
    if let Existing::Published(manifest) = &existing {
        let current = manifest.config_hash == config_hash
            && manifest
                .inputs
                .iter()
                .map(|i| (&i.name, i.bytes))
                .eq(units.iter().map(|u| (&u.file.name, u.file.size)))
            && units.iter().all(|u| committed(u).is_some());
        if current {
            match handle.block_on(dataset::verify_shards(&dataset, &manifest.shards, false)) {
                Ok(()) => {
                    log::info!("{} is already prepared with this configuration", dataset.url());
                    return Ok(report(Some(manifest.as_ref().clone()), units.len()));
                }
                Err(problem) if options.workers.count > 1 => {
                    return Err(PipelineError::input(
                        &manifest_location.url(),
                        format!(
                            "the published dataset is damaged ({problem}); rerun prepare as one process to repair it"
                        ),
                    ));
                }
                Err(problem) => log::warn!("{problem}: the dataset is rebuilt"),
            }
        }
    }
    if options.workers.count > 1 {
        let refusal = match &existing {
            Existing::Published(_) => Some("a documents dataset of another configuration or input is published here"),
            Existing::Unreadable(_) => Some("the published manifest.json cannot be read"),
            Existing::Missing => None,
        };
        if let Some(refusal) = refusal {
            return Err(PipelineError::input(
                &manifest_location.url(),
                format!("{refusal}; several workers never replace it (remove it, or run one process)"),
            ));
        }
    }
    if let Existing::Unreadable(problem) = &existing {
        log::warn!("{}: {problem}; the dataset is rebuilt", manifest_location.url());
    }

    // Take the dataset: what earlier datasets listed becomes this run's to replace.
    let mut replaces: BTreeSet<String> = markers
        .iter()
        .flatten()
        .flat_map(|m| m.shards.iter().map(|s| s.path.clone()))
        .collect();
    if let Existing::Published(manifest) = &existing {
        replaces.extend(manifest.shards.iter().map(|s| s.path.clone()));
    }
    let lease = handle.block_on(Lease::acquire(
        &dataset,
        &identity,
        replaces,
        &handle,
        options.workers.count == 1,
    ))?;
    if options.workers.count == 1 {
        // Unpublish before touching shards: readers see a dataset whole or not at all.
        handle.block_on(manifest_location.delete())?;
    }

    let pool = dataset::worker_pool(options.threads)?;
    let context = UnitContext {
        config,
        processor: &processor,
        pool: &pool,
        handle: &handle,
        dataset: &dataset,
        shard_options: ShardOptions {
            zstd_level: config.output.zstd_level,
            row_group_rows: config.output.row_group_rows as usize,
            metadata: vec![
                (SCHEMA_VERSION_KEY.to_owned(), documents::SCHEMA_VERSION.to_owned()),
                (CONFIG_HASH_KEY.to_owned(), config_hash.clone()),
            ],
        },
        progress: options.progress.as_ref(),
    };
    let owners = Workers::assign(
        options.workers.count,
        &units.iter().map(|u| u.file.size).collect::<Vec<_>>(),
    );
    let mine: Vec<&Unit> = units
        .iter()
        .filter(|u| owners[u.index] == options.workers.index)
        .collect();
    options.progress.begin(mine.iter().map(|u| u.file.size).sum());
    for unit in mine {
        if let Some(marker) = committed(unit) {
            // Committed earlier: skipped only while its shards are as the marker records them.
            match handle.block_on(dataset::verify_shards(&dataset, &marker.shards, true)) {
                Ok(()) => {
                    log::info!("{}: committed earlier, skipped", unit.file.location.url());
                    options.progress.advance(unit.file.size, 0);
                    continue;
                }
                Err(problem) => log::warn!("{problem}: {} is read again", unit.file.location.url()),
            }
        }
        let output = context.run(unit)?;
        let marker = UnitMarker {
            config_hash: config_hash.clone(),
            fingerprint: fingerprint(unit),
            input: InputEntry {
                name: unit.file.name.clone(),
                bytes: unit.file.size,
                records: output.counts.records_in,
            },
            shards: output.shards,
            counts: output.counts,
        };
        handle.block_on(dataset::publish(&marker_of(unit.index), &marker))?;
    }
    options.progress.end();

    // Publish when every unit is committed.
    let mut markers = Vec::with_capacity(units.len());
    for unit in &units {
        let marker = handle.block_on(read_marker(&marker_of(unit.index)))?;
        match marker.filter(|m| m.config_hash == config_hash && m.fingerprint == fingerprint(unit)) {
            Some(m) => markers.push(m),
            None => {
                log::info!(
                    "{} of {} units committed; the worker that commits the last one publishes",
                    markers.len(),
                    units.len()
                );
                handle.block_on(lease.release(false))?;
                return Ok(report(None, markers.len()));
            }
        }
    }
    let mut counts = DocumentCounts::default();
    markers.iter().for_each(|m| counts.merge(&m.counts));
    let manifest = DocumentsManifest {
        schema_version: documents::SCHEMA_VERSION.to_owned(),
        tool_version: TOOL_VERSION.to_owned(),
        config_hash,
        config: content,
        tokenizer_hash: processor.tokenizer().hash().to_owned(),
        dictionary_hash: processor.segmenter().hash().to_owned(),
        inputs: markers.iter().map(|m| m.input.clone()).collect(),
        shards: markers.into_iter().flat_map(|m| m.shards).collect(),
        counts,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| PipelineError::Internal(e.to_string()))?;
    handle.block_on(async {
        // Every listed shard must be there as recorded: a manifest never names a missing file.
        dataset::verify_shards(&dataset, &manifest.shards, false)
            .await
            .map_err(|problem| {
                PipelineError::input(
                    &manifest_location.url(),
                    format!("not published: {problem}; rerun prepare"),
                )
            })?;
        lease.check().await?;
        if !manifest_location.create(json.into()).await? {
            match read_manifest(&manifest_location).await? {
                Existing::Published(other) if *other == manifest => {
                    log::info!("{} was published by another worker", manifest_location.url());
                }
                _ => {
                    return Err(PipelineError::input(
                        &manifest_location.url(),
                        "another manifest appeared here while this run was publishing; nothing was replaced",
                    ));
                }
            }
        }
        let keep: Vec<&str> = manifest.shards.iter().map(|s| s.path.as_str()).collect();
        dataset::remove_replaced(&dataset, &lease.replaces().await?, &keep).await?;
        remove_markers_beyond(&dataset, units.len()).await?;
        lease.release(true).await
    })?;
    Ok(report(Some(manifest), units.len()))
}

/// An earlier manifest of the dataset.
enum Existing {
    /// None.
    Missing,
    /// One that does not parse (truncated, edited): rebuilt by one process, refused by workers.
    Unreadable(String),
    /// A readable manifest.
    Published(Box<DocumentsManifest>),
}

async fn read_manifest(location: &Location) -> Result<Existing, PipelineError> {
    match location.read().await {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(manifest) => Existing::Published(Box::new(manifest)),
            Err(e) => Existing::Unreadable(format!("not a documents manifest ({e})")),
        }),
        Err(maskforge_store::StoreError::NotFound { .. }) => Ok(Existing::Missing),
        Err(e) => Err(e.into()),
    }
}

/// A unit marker; `None` when it does not exist or does not parse (the unit is redone).
async fn read_marker(location: &Location) -> Result<Option<UnitMarker>, PipelineError> {
    match location.read().await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(maskforge_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes the markers of units an earlier run had beyond this run's last (`_units/NNNNN.json`),
/// and the shards each of them names: a marker records what its unit wrote.
async fn remove_markers_beyond(dataset: &Location, units: usize) -> Result<(), PipelineError> {
    let folder = dataset.join(UNITS_FOLDER);
    for meta in folder.list().await? {
        let index = meta
            .location
            .filename()
            .and_then(|name| name.strip_suffix(".json"))
            .filter(|stem| stem.len() == 5)
            .and_then(|stem| stem.parse::<usize>().ok());
        if index.is_some_and(|i| i >= units) {
            let marker = folder.sibling(meta.location);
            if let Some(stale) = read_marker(&marker).await? {
                let written: Vec<String> = stale.shards.into_iter().map(|s| s.path).collect();
                dataset::remove_replaced(dataset, &written, &[]).await?;
            }
            marker.delete().await?;
        }
    }
    Ok(())
}

/// Everything a unit needs, shared by all units of a job.
struct UnitContext<'a> {
    config: &'a PipelineConfig,
    processor: &'a TextProcessor,
    pool: &'a rayon::ThreadPool,
    handle: &'a Handle,
    dataset: &'a Location,
    shard_options: ShardOptions,
    progress: &'a dyn Progress,
}

/// What one unit wrote.
struct UnitOutput {
    shards: Vec<ShardEntry>,
    counts: DocumentCounts,
}

/// The fate of one record.
enum Outcome {
    Document(Document),
    Skipped {
        reason: &'static str,
        message: String,
        malformed: bool,
    },
}

impl UnitContext<'_> {
    /// Reads, processes and writes one unit. A reader thread streams record batches through a
    /// small bounded channel, so memory holds at most a few batches.
    fn run(&self, unit: &Unit) -> Result<UnitOutput, PipelineError> {
        let source = &self.config.sources[unit.source];
        let url = unit.file.location.url();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = std::sync::mpsc::sync_channel(2);
        std::thread::scope(|scope| {
            let reader_bytes = bytes_read.clone();
            std::thread::Builder::new()
                .name("maskforge-read".into())
                .spawn_scoped(scope, move || {
                    // A panic inside a format library becomes an error naming the file.
                    let read = std::panic::AssertUnwindSafe(|| {
                        stream_batches(unit, source, self.handle, reader_bytes, &sender)
                    });
                    if let Err(panic) = std::panic::catch_unwind(read) {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned());
                        let message = format!("reader failed: {}", what.unwrap_or_else(|| "unknown panic".into()));
                        let _ = sender.send(Err(PipelineError::input(&unit.file.location.url(), message)));
                    }
                })
                .map_err(|e| PipelineError::Internal(format!("cannot start a reader thread: {e}")))?;

            let mut writer = ShardWriter::new(self, unit);
            let mut tally = Tally {
                url: &url,
                policy: source.on_bad_record,
                counts: DocumentCounts::default(),
                logged: 0,
            };
            let mut reported = 0;
            let mut write_batch = |records: &[Record], outcomes: Vec<Outcome>| -> Result<(), PipelineError> {
                let documents_before = tally.counts.documents_out;
                for (record, outcome) in records.iter().zip(outcomes) {
                    if let Some(row) = tally.account(record, outcome)? {
                        writer.push(row)?;
                    }
                }
                writer.end_batch()?;
                let read = bytes_read.load(Ordering::Relaxed);
                self.progress
                    .advance(read - reported, tally.counts.documents_out - documents_before);
                reported = read;
                Ok(())
            };
            // Batch N is processed on the pool while this thread writes batch N - 1, in order.
            let mut previous: Option<(Vec<Record>, Vec<Outcome>)> = None;
            for message in receiver.iter() {
                let records = message?;
                let mut outcomes: Vec<Outcome> = Vec::new();
                self.pool.in_place_scope(|scope| {
                    scope.spawn(|_| outcomes = records.par_iter().map(|r| self.process(unit, r)).collect());
                    match previous.take() {
                        Some((records, outcomes)) => write_batch(&records, outcomes),
                        None => Ok(()),
                    }
                })?;
                previous = Some((records, outcomes));
            }
            if let Some((records, outcomes)) = previous.take() {
                write_batch(&records, outcomes)?;
            }
            self.progress.advance(unit.file.size.saturating_sub(reported), 0);
            if tally.counts.records_in == 0 {
                log::warn!("{url}: no records (empty file)");
            }
            let counts = tally.counts;
            Ok(UnitOutput {
                shards: writer.finish()?,
                counts,
            })
        })
    }

    /// Runs the text path on one record.
    fn process(&self, unit: &Unit, record: &Record) -> Outcome {
        let text = match &record.body {
            RecordBody::Text(text) => text,
            RecordBody::Bad { reason, message } => {
                return Outcome::Skipped {
                    reason,
                    message: message.clone(),
                    malformed: *reason != "filtered",
                };
            }
        };
        match self.processor.process(text) {
            Ok(Ok(doc)) => {
                let doc_id = document_id(&unit.origin, &unit.file.name, record.id.as_deref(), record.index);
                Outcome::Document(Document {
                    doc_id,
                    input_ids: doc.input_ids,
                    sentence_ends: doc.sentence_ends,
                    word_starts: doc.word_starts,
                    text: doc.text,
                })
            }
            Ok(Err(rejection)) => Outcome::Skipped {
                reason: rejection.reason(),
                message: format!("no document ({})", rejection.reason()),
                malformed: false,
            },
            Err(e) => Outcome::Skipped {
                reason: "tokenizer_error",
                message: e.to_string(),
                malformed: true,
            },
        }
    }
}

/// Reads `unit` batch by batch into `sender` until the end, an error, or a closed channel.
fn stream_batches(
    unit: &Unit,
    source: &maskforge_config::SourceConfig,
    handle: &Handle,
    bytes_read: Arc<AtomicU64>,
    sender: &std::sync::mpsc::SyncSender<Result<Vec<Record>, PipelineError>>,
) {
    let mut reader = match sources::open(unit, source, BATCH_LIMITS, handle, bytes_read) {
        Ok(r) => r,
        Err(e) => {
            let _ = sender.send(Err(e));
            return;
        }
    };
    loop {
        let batch = reader.next_batch().transpose();
        let last = !matches!(batch, Some(Ok(_)));
        // A send fails only when the consumer stopped after an error.
        if batch.is_some_and(|message| sender.send(message).is_err()) || last {
            return;
        }
    }
}

/// Counts the fate of every record of a unit and applies the bad-record policy.
struct Tally<'a> {
    url: &'a str,
    policy: BadRecordPolicy,
    counts: DocumentCounts,
    logged: u64,
}

impl Tally<'_> {
    /// Counts `outcome`; returns the document to write, or fails on a malformed record under
    /// `on_bad_record = "fail"`. The first few malformed records of a file are logged.
    fn account(&mut self, record: &Record, outcome: Outcome) -> Result<Option<Document>, PipelineError> {
        self.counts.records_in += 1;
        match outcome {
            Outcome::Document(row) => {
                self.counts.documents_out += 1;
                self.counts.sentences += row.sentence_ends.len() as u64;
                self.counts.tokens += row.input_ids.len() as u64;
                Ok(Some(row))
            }
            Outcome::Skipped {
                reason,
                message,
                malformed,
            } => {
                if malformed {
                    if self.policy == BadRecordPolicy::Fail {
                        return Err(PipelineError::at_line(
                            self.url,
                            record.line,
                            format!("{message} ({reason})"),
                        ));
                    }
                    if self.logged < LOGGED_SKIPS_PER_FILE {
                        log::warn!("{}, line {}: skipped ({reason}): {message}", self.url, record.line);
                    } else if self.logged == LOGGED_SKIPS_PER_FILE {
                        log::warn!(
                            "{}: further malformed records are counted in the manifest, not logged",
                            self.url
                        );
                    }
                    self.logged += 1;
                }
                self.counts.skip(reason);
                Ok(None)
            }
        }
    }
}

/// Writes one unit's documents into shards `part-UUUUU-SSSS.parquet`, closing a shard once its
/// payload passes `output.documents_shard_bytes`.
struct ShardWriter<'a> {
    context: &'a UnitContext<'a>,
    unit: &'a Unit,
    schema: arrow::datatypes::SchemaRef,
    pending: Vec<Document>,
    encoder: Option<ShardEncoder>,
    shard_payload: u64,
    written: Vec<ShardEntry>,
}

impl<'a> ShardWriter<'a> {
    fn new(context: &'a UnitContext<'a>, unit: &'a Unit) -> Self {
        let schema = documents::schema(context.config.output.keep_text);
        Self {
            context,
            unit,
            schema,
            pending: Vec::new(),
            encoder: None,
            shard_payload: 0,
            written: Vec::new(),
        }
    }

    fn push(&mut self, row: Document) -> Result<(), PipelineError> {
        self.shard_payload += row.payload_bytes();
        self.pending.push(row);
        if self.shard_payload >= self.context.config.output.documents_shard_bytes {
            self.end_batch()?;
            self.close_shard()?;
        }
        Ok(())
    }

    /// Encodes the pending documents as one record batch of the current shard.
    fn end_batch(&mut self) -> Result<(), PipelineError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let keep_text = self.context.config.output.keep_text;
        let batch = documents::encode(&self.pending, &self.unit.file.name, keep_text)?;
        self.pending.clear();
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => {
                let name = self.shard_name();
                self.encoder.insert(ShardEncoder::new(
                    &name,
                    self.schema.clone(),
                    &self.context.shard_options,
                )?)
            }
        };
        encoder.write(&batch)?;
        Ok(())
    }

    fn shard_name(&self) -> String {
        format!("part-{:05}-{:04}.parquet", self.unit.index, self.written.len())
    }

    fn close_shard(&mut self) -> Result<(), PipelineError> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let name = self.shard_name();
        let rows = encoder.rows();
        let bytes = encoder.finish()?;
        let entry = ShardEntry {
            path: name.clone(),
            rows,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            bin: None,
        };
        self.context
            .handle
            .block_on(self.context.dataset.join(&name).write(bytes))?;
        self.written.push(entry);
        self.shard_payload = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<ShardEntry>, PipelineError> {
        self.end_batch()?;
        self.close_shard()?;
        Ok(self.written)
    }
}
