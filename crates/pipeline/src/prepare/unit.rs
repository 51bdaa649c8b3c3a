//! One unit of the prepare job: a reader thread streams the file's record batches, the text path
//! runs on the pool, and the records are accounted in order into documents and counted skips.

use super::shards::ShardWriter;
use crate::PipelineError;
use crate::documents::document_id;
use crate::progress::Progress;
use crate::sources::{self, BatchLimits, Record, RecordBody};
use crate::units::Unit;
use maskforge_config::{BadRecordPolicy, PipelineConfig};
use maskforge_schema::documents::Document;
use maskforge_schema::{DocumentCounts, LARGE_DOCUMENT_BYTES, ShardEntry, SkipReason};
use maskforge_store::{Location, ShardOptions};
use maskforge_text::{Rejection, TextProcessor};
use rayon::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::runtime::Handle;

/// Records per batch handed to the text path, and the text size that closes a batch early.
const BATCH_LIMITS: BatchLimits = BatchLimits {
    records: 1024,
    bytes: 4 << 20,
};
/// Skipped records logged per file before the rest are only counted.
const LOGGED_SKIPS_PER_FILE: u64 = 5;

/// Everything a unit needs, shared by all units of a job.
pub(super) struct UnitContext<'a> {
    pub(super) config: &'a PipelineConfig,
    pub(super) processor: &'a TextProcessor,
    pub(super) pool: &'a rayon::ThreadPool,
    pub(super) handle: &'a Handle,
    pub(super) dataset: &'a Location,
    pub(super) shard_options: ShardOptions,
    pub(super) progress: &'a dyn Progress,
}

/// What one unit wrote.
pub(super) struct UnitOutput {
    pub(super) shards: Vec<ShardEntry>,
    pub(super) counts: DocumentCounts,
}

/// The fate of one record.
enum Outcome {
    Document(Document),
    Skipped { reason: SkipReason, message: String },
}

impl UnitContext<'_> {
    /// Reads, processes and writes one unit. A reader thread streams record batches through a
    /// small bounded channel, so memory holds at most a few batches.
    pub(super) fn run(&self, unit: &Unit) -> Result<UnitOutput, PipelineError> {
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
            if tally.counts.documents_out == 1 {
                tally.counts.single_document_inputs = 1;
                log::warn!("{url}: the whole file became one document");
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
                    reason: *reason,
                    message: message.clone(),
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
            Ok(Err(rejection)) => {
                let reason = match rejection {
                    Rejection::Empty => SkipReason::Empty,
                    Rejection::TooShort => SkipReason::TooShort,
                };
                Outcome::Skipped {
                    reason,
                    message: format!("no document ({})", reason.name()),
                }
            }
            Err(e) => Outcome::Skipped {
                reason: SkipReason::TokenizerError,
                message: e.to_string(),
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
                if let RecordBody::Text(text) = &record.body
                    && text.len() > LARGE_DOCUMENT_BYTES
                {
                    self.counts.large_documents += 1;
                    log::warn!(
                        "{}, line {}: a document of {:.1} MB (one document per blank-line-separated block; \
                         is this file one document?)",
                        self.url,
                        record.line,
                        text.len() as f64 / 1e6
                    );
                }
                self.counts.documents_out += 1;
                self.counts.sentences += row.sentence_ends.len() as u64;
                self.counts.tokens += row.input_ids.len() as u64;
                Ok(Some(row))
            }
            Outcome::Skipped { reason, message } => {
                let reason_name = reason.name();
                if reason.malformed() {
                    if self.policy == BadRecordPolicy::Fail {
                        return Err(PipelineError::at_line(
                            self.url,
                            record.line,
                            format!("{message} ({reason_name})"),
                        ));
                    }
                    if self.logged < LOGGED_SKIPS_PER_FILE {
                        log::warn!("{}, line {}: skipped ({reason_name}): {message}", self.url, record.line);
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
