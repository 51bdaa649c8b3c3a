//! One unit of the prepare job: a reader thread streams the record batches of its pieces in
//! order, the text path runs on the pool, and the records are accounted in order into documents
//! and counted skips.

use super::shards::ShardWriter;
use crate::PipelineError;
use crate::documents::document_id;
use crate::progress::Progress;
use crate::sources::{self, BatchLimits, Record, RecordBody};
use crate::units::{Piece, Unit};
use maskforge_config::{BadRecordPolicy, PipelineConfig};
use maskforge_schema::documents::Document;
use maskforge_schema::{DocumentCounts, InputEntry, LARGE_DOCUMENT_BYTES, ShardEntry, SkipReason};
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
    /// One entry per piece: its file and the records read from the piece.
    pub(super) inputs: Vec<InputEntry>,
}

/// A batch of records of the unit's piece `piece`, or why reading stopped.
type Message = Result<(usize, Vec<Record>), PipelineError>;

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
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Message>(2);
        std::thread::scope(|scope| {
            let reader_bytes = bytes_read.clone();
            std::thread::Builder::new()
                .name("maskforge-read".into())
                .spawn_scoped(scope, move || {
                    for (index, piece) in unit.pieces.iter().enumerate() {
                        // A panic inside a format library becomes an error naming the file.
                        let read = std::panic::AssertUnwindSafe(|| {
                            stream_batches(index, piece, source, self.handle, reader_bytes.clone(), &sender)
                        });
                        match std::panic::catch_unwind(read) {
                            Ok(true) => {}
                            Ok(false) => return,
                            Err(panic) => {
                                let what = panic
                                    .downcast_ref::<&str>()
                                    .map(|s| s.to_string())
                                    .or_else(|| panic.downcast_ref::<String>().cloned());
                                let message =
                                    format!("reader failed: {}", what.unwrap_or_else(|| "unknown panic".into()));
                                let _ = sender.send(Err(PipelineError::input(&piece.file.location.url(), message)));
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| PipelineError::Internal(format!("cannot start a reader thread: {e}")))?;

            let mut writer = ShardWriter::new(self, unit);
            let mut tally = Tally::new(&unit.pieces, source.on_bad_record);
            let mut reported = 0;
            let mut write_batch =
                |piece: usize, records: &[Record], outcomes: Vec<Outcome>| -> Result<(), PipelineError> {
                    tally.enter(piece);
                    writer.set_source(&unit.pieces[piece].file.name)?;
                    let documents_before = tally.counts.documents_out;
                    for (record, outcome) in records.iter().zip(outcomes) {
                        if let Some(row) = tally.account(record, outcome)? {
                            writer.push(row)?;
                        }
                    }
                    writer.end_batch()?;
                    let read = bytes_read.load(Ordering::Relaxed);
                    self.progress.advance(
                        read.saturating_sub(reported),
                        tally.counts.documents_out - documents_before,
                    );
                    reported = reported.max(read);
                    Ok(())
                };
            // Batch N is processed on the pool while this thread writes batch N - 1, in order.
            let mut previous: Option<(usize, Vec<Record>, Vec<Outcome>)> = None;
            for message in receiver.iter() {
                let (piece, records) = message?;
                let mut outcomes: Vec<Outcome> = Vec::new();
                let origin = &unit.pieces[piece];
                self.pool.in_place_scope(|scope| {
                    scope.spawn(|_| outcomes = records.par_iter().map(|r| self.process(origin, r)).collect());
                    match previous.take() {
                        Some((piece, records, outcomes)) => write_batch(piece, &records, outcomes),
                        None => Ok(()),
                    }
                })?;
                previous = Some((piece, records, outcomes));
            }
            if let Some((piece, records, outcomes)) = previous.take() {
                write_batch(piece, &records, outcomes)?;
            }
            self.progress.advance(unit.bytes().saturating_sub(reported), 0);
            let (counts, inputs) = tally.finish();
            Ok(UnitOutput {
                shards: writer.finish()?,
                counts,
                inputs,
            })
        })
    }

    /// Runs the text path on one record.
    fn process(&self, piece: &Piece, record: &Record) -> Outcome {
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
                let doc_id = document_id(&piece.origin, &piece.file.name, record.id.as_deref(), record.key);
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

/// Reads piece `index` batch by batch into `sender` until its end (true), or an error or a
/// closed channel (false: nothing more is to be read).
fn stream_batches(
    index: usize,
    piece: &Piece,
    source: &maskforge_config::SourceConfig,
    handle: &Handle,
    bytes_read: Arc<AtomicU64>,
    sender: &std::sync::mpsc::SyncSender<Message>,
) -> bool {
    let mut reader = match sources::open(piece, source, BATCH_LIMITS, handle, bytes_read) {
        Ok(r) => r,
        Err(e) => {
            let _ = sender.send(Err(e));
            return false;
        }
    };
    loop {
        let message = match reader.next_batch() {
            Ok(None) => return true,
            Ok(Some(batch)) => Ok((index, batch)),
            Err(e) => Err(e),
        };
        let failed = message.is_err();
        // A send fails only when the consumer stopped after an error.
        if sender.send(message).is_err() || failed {
            return false;
        }
    }
}

/// Counts the fate of every record of a unit, piece by piece, and applies the bad-record policy.
struct Tally<'a> {
    pieces: &'a [Piece],
    url: String,
    policy: BadRecordPolicy,
    counts: DocumentCounts,
    /// Pieces whose accounting is closed, with the records of each.
    inputs: Vec<InputEntry>,
    /// Records and documents counted when the current piece began.
    at_piece_start: (u64, u64),
    logged: u64,
}

impl<'a> Tally<'a> {
    fn new(pieces: &'a [Piece], policy: BadRecordPolicy) -> Self {
        Self {
            pieces,
            url: pieces.first().map(|p| p.file.location.url()).unwrap_or_default(),
            policy,
            counts: DocumentCounts::default(),
            inputs: Vec::new(),
            at_piece_start: (0, 0),
            logged: 0,
        }
    }

    /// Closes the pieces before `piece` (also those that gave no batch: empty files).
    fn enter(&mut self, piece: usize) {
        while self.inputs.len() < piece {
            self.close_piece();
        }
    }

    /// Ends the accounting of the current piece.
    fn close_piece(&mut self) {
        let piece = &self.pieces[self.inputs.len()];
        let (records_before, documents_before) = self.at_piece_start;
        let records = self.counts.records_in - records_before;
        let url = piece.file.location.url();
        if records == 0 && piece.is_whole() {
            log::warn!("{}: no records (empty file)", piece.describe());
        } else if records == 0 {
            // A record longer than the piece starts before it: normal with small units.
            log::debug!("{}: no record starts in this piece", piece.describe());
        }
        if piece.is_whole() && self.counts.documents_out - documents_before == 1 {
            self.counts.single_document_inputs += 1;
            log::warn!("{url}: the whole file became one document");
        }
        self.inputs.push(InputEntry {
            name: piece.file.name.clone(),
            bytes: piece.file.size,
            records,
        });
        self.at_piece_start = (self.counts.records_in, self.counts.documents_out);
        self.logged = 0;
        if let Some(next) = self.pieces.get(self.inputs.len()) {
            self.url = next.file.location.url();
        }
    }

    /// The unit's counts and one input entry per piece.
    fn finish(mut self) -> (DocumentCounts, Vec<InputEntry>) {
        self.enter(self.pieces.len());
        (self.counts, self.inputs)
    }

    /// Counts `outcome`; returns the document to write, or fails on a malformed record under
    /// `on_bad_record = "fail"`. The first few malformed records of a piece are logged.
    fn account(&mut self, record: &Record, outcome: Outcome) -> Result<Option<Document>, PipelineError> {
        self.counts.records_in += 1;
        let at = record.position;
        match outcome {
            Outcome::Document(row) => {
                if let RecordBody::Text(text) = &record.body
                    && text.len() > LARGE_DOCUMENT_BYTES
                {
                    self.counts.large_documents += 1;
                    log::warn!(
                        "{}, {at}: a document of {:.1} MB (one document per blank-line-separated block; \
                         is this file one document?)",
                        self.url,
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
                        return Err(PipelineError::at(&self.url, at, format!("{message} ({reason_name})")));
                    }
                    if self.logged < LOGGED_SKIPS_PER_FILE {
                        log::warn!("{}, {at}: skipped ({reason_name}): {message}", self.url);
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
