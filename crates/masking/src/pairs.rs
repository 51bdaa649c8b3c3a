//! Pair building (masking.md sections 3-5): NSP as BERT's `create_instances_from_document`, SOP
//! with the strict or ALBERT single-sentence rule, and RoBERTa's FULL-/DOC-SENTENCES packing.
//! Every random choice comes from the document's keyed streams.

use crate::example::{Instance, PairType, Segment};
use crate::rng::{KeyedRng, Purpose, mix64};
use crate::spec::{PairSpec, PairTask, SingleSentencePolicy};
use std::collections::BTreeMap;
use std::ops::Range;

/// A document of the documents dataset, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct DocumentRef<'a> {
    /// Stable id.
    pub doc_id: u64,
    /// Which copy of the document this is in the epoch (0 unless its source's weight repeats
    /// it): copies share `doc_id` but draw from streams of their own.
    pub copy: u32,
    /// Content tokens.
    pub input_ids: &'a [u32],
    /// Exclusive sentence ends.
    pub sentence_ends: &'a [u32],
    /// Word starts.
    pub word_starts: &'a [bool],
}

impl DocumentRef<'_> {
    /// The id its random streams and examples are keyed on (see [`copy_key`]).
    pub fn key(&self) -> u64 {
        copy_key(self.doc_id, self.copy)
    }

    /// Number of sentences.
    pub fn sentences(&self) -> usize {
        self.sentence_ends.len()
    }

    /// Token range of sentence `i`.
    pub fn sentence(&self, i: usize) -> Range<usize> {
        let start = if i == 0 { 0 } else { self.sentence_ends[i - 1] as usize };
        start..self.sentence_ends[i] as usize
    }

    fn append_sentence(&self, i: usize, segment: &mut Segment) {
        let r = self.sentence(i);
        segment.extend(&self.input_ids[r.clone()], &self.word_starts[r]);
    }
}

/// The key of copy `copy` of document `doc_id`: the id itself for the first copy (so an epoch
/// without repeated sources keys everything as before), a hash of both for the others.
pub fn copy_key(doc_id: u64, copy: u32) -> u64 {
    match copy {
        0 => doc_id,
        _ => mix64(doc_id, COPY_SALT ^ u64::from(copy)),
    }
}

/// Separates copy keys from other uses of [`mix64`] ("copy" in ASCII).
const COPY_SALT: u64 = 0x636f_7079_0000_0000;

/// Why a chunk of a document gave no instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairSkip {
    /// NSP or ALBERT's single-sentence rule needed another document and the pool had none.
    NoNegativeDocument = 0,
    /// Truncation or the split left a segment empty.
    EmptySegment = 1,
    /// Strict SOP: a one-sentence chunk of one word cannot be split.
    SingleWordSentence = 2,
}

impl PairSkip {
    /// Every reason, in [`PairStats::skipped`] order.
    pub const ALL: [PairSkip; 3] = [
        PairSkip::NoNegativeDocument,
        PairSkip::EmptySegment,
        PairSkip::SingleWordSentence,
    ];

    /// The name used in statistics.
    pub fn name(self) -> &'static str {
        match self {
            PairSkip::NoNegativeDocument => "no_negative_document",
            PairSkip::EmptySegment => "empty_segment",
            PairSkip::SingleWordSentence => "single_word_sentence",
        }
    }
}

/// Counts of what pair building did and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Instances by pair type (indexed by [`PairType`] as `usize`).
    pub pair_types: [u64; 4],
    /// Instances that lost tokens to truncation.
    pub truncated_examples: u64,
    /// Tokens removed by truncation.
    pub truncated_tokens: u64,
    /// Chunks of a single sentence (NSP pairs them with a random document).
    pub single_sentence_chunks: u64,
    /// Chunks that gave no instance, by reason (indexed by [`PairSkip`] as `usize`).
    pub skipped: [u64; 3],
}

impl PairStats {
    /// Adds another count into this one.
    pub fn merge(&mut self, other: &PairStats) {
        for (a, b) in self.pair_types.iter_mut().zip(other.pair_types) {
            *a += b;
        }
        for (a, b) in self.skipped.iter_mut().zip(other.skipped) {
            *a += b;
        }
        self.truncated_examples += other.truncated_examples;
        self.truncated_tokens += other.truncated_tokens;
        self.single_sentence_chunks += other.single_sentence_chunks;
    }

    /// Instances built, of every pair type.
    pub fn instances(&self) -> u64 {
        self.pair_types.iter().sum()
    }

    fn count(&mut self, instance: &Instance) {
        self.pair_types[instance.pair_type as usize] += 1;
        if instance.truncated_tokens > 0 {
            self.truncated_examples += 1;
            self.truncated_tokens += u64::from(instance.truncated_tokens);
        }
    }
}

/// Builds NSP or SOP instances of one document. Negatives come from `pool`, a data-defined
/// partition of the corpus; `pair_epoch` is 0 for static pairs.
pub fn pair_instances(
    doc: DocumentRef<'_>,
    pool: &[DocumentRef<'_>],
    spec: &PairSpec,
    seed: u64,
    pair_epoch: u32,
    stats: &mut PairStats,
) -> Vec<Instance> {
    let max_tokens = spec.max_seq_length as usize - 3;
    let mut chunker = Chunker {
        doc,
        pool,
        max_tokens,
        target: max_tokens,
        rng: KeyedRng::new(seed, Purpose::Pairs, pair_epoch, doc.key()),
        negatives: KeyedRng::new(seed, Purpose::Negative, pair_epoch, doc.key()),
        unused_sentences: 0,
    };
    if chunker.rng.chance(spec.short_seq_prob) {
        chunker.target = chunker.rng.between(2, max_tokens);
    }
    let mut out = Vec::new();
    let mut chunk: Vec<usize> = Vec::new();
    let mut chunk_len = 0;
    let mut i = 0;
    let n = doc.sentences();
    while i < n {
        chunk.push(i);
        chunk_len += doc.sentence(i).len();
        if i == n - 1 || chunk_len >= chunker.target {
            let ordinal = out.len() as u32;
            if chunk.len() == 1 {
                stats.single_sentence_chunks += 1;
            }
            let built = match spec.task {
                PairTask::Nsp => chunker.nsp(&chunk),
                _ => chunker.sop(&chunk, spec.single_sentence),
            };
            match built {
                Ok(built) => {
                    let instance = Instance {
                        doc_id: doc.doc_id,
                        copy: doc.copy,
                        ordinal,
                        a: built.a,
                        b: built.b,
                        pair_type: built.pair_type,
                        truncated_tokens: built.truncated,
                    };
                    stats.count(&instance);
                    out.push(instance);
                }
                Err(reason) => stats.skipped[reason as usize] += 1,
            }
            // The unused sentences of an NSP chunk go back: processing resumes after A.
            i -= std::mem::take(&mut chunker.unused_sentences);
            chunk.clear();
            chunk_len = 0;
        }
        i += 1;
    }
    out
}

/// What one chunk of sentences became.
struct Built {
    a: Segment,
    b: Segment,
    pair_type: PairType,
    truncated: u32,
}

/// The state pair building keeps across the chunks of one document: its keyed streams, the
/// pool of negatives and the length targets.
struct Chunker<'d, 'p> {
    doc: DocumentRef<'d>,
    pool: &'p [DocumentRef<'p>],
    max_tokens: usize,
    target: usize,
    rng: KeyedRng,
    negatives: KeyedRng,
    /// Sentences at the end of the last chunk that were not used and are read again.
    unused_sentences: usize,
}

impl Chunker<'_, '_> {
    /// BERT's NSP: A is a random prefix of the chunk; B the rest, or with probability 0.5 (and
    /// always for a one-sentence chunk) sentences of a random document.
    fn nsp(&mut self, chunk: &[usize]) -> Result<Built, PairSkip> {
        let doc = self.doc;
        let a_end = if chunk.len() >= 2 {
            self.rng.between(1, chunk.len() - 1)
        } else {
            1
        };
        let mut a = Segment::default();
        for &s in &chunk[..a_end] {
            doc.append_sentence(s, &mut a);
        }
        let mut b = Segment::default();
        let pair_type = if chunk.len() == 1 || self.rng.chance(0.5) {
            self.random_continuation(a.len(), &mut b)?;
            self.unused_sentences = chunk.len() - a_end;
            PairType::RandomDoc
        } else {
            for &s in &chunk[a_end..] {
                doc.append_sentence(s, &mut b);
            }
            PairType::Next
        };
        self.finish(a, b, pair_type)
    }

    /// SOP: the chunk split in two, swapped with probability 0.5; a one-sentence chunk is split
    /// at a word boundary (strict) or paired with a random document (compat).
    fn sop(&mut self, chunk: &[usize], policy: SingleSentencePolicy) -> Result<Built, PairSkip> {
        let doc = self.doc;
        let mut a = Segment::default();
        let mut b = Segment::default();
        let mut pair_type = PairType::Next;
        if chunk.len() >= 2 {
            let a_end = self.rng.between(1, chunk.len() - 1);
            chunk[..a_end].iter().for_each(|&s| doc.append_sentence(s, &mut a));
            chunk[a_end..].iter().for_each(|&s| doc.append_sentence(s, &mut b));
        } else {
            let sentence = doc.sentence(chunk[0]);
            match policy {
                SingleSentencePolicy::Strict => {
                    let boundaries: Vec<usize> = (sentence.start + 1..sentence.end)
                        .filter(|&k| doc.word_starts[k])
                        .collect();
                    if boundaries.is_empty() {
                        return Err(PairSkip::SingleWordSentence);
                    }
                    let k = boundaries[self.rng.below(boundaries.len())];
                    a.extend(&doc.input_ids[sentence.start..k], &doc.word_starts[sentence.start..k]);
                    b.extend(&doc.input_ids[k..sentence.end], &doc.word_starts[k..sentence.end]);
                }
                SingleSentencePolicy::Compat => {
                    doc.append_sentence(chunk[0], &mut a);
                    self.random_continuation(a.len(), &mut b)?;
                    pair_type = PairType::RandomDoc;
                }
            }
        }
        if pair_type == PairType::Next && self.rng.chance(0.5) {
            std::mem::swap(&mut a, &mut b);
            pair_type = PairType::Swapped;
        }
        self.finish(a, b, pair_type)
    }

    /// Fills `b` with sentences of a random other document from a keyed start, up to the
    /// target length left after A's `a_len` tokens.
    fn random_continuation(&mut self, a_len: usize, b: &mut Segment) -> Result<(), PairSkip> {
        let other =
            negative_document(self.doc.doc_id, self.pool, &mut self.negatives).ok_or(PairSkip::NoNegativeDocument)?;
        let target_b = self.target.saturating_sub(a_len).max(1);
        for s in self.negatives.below(other.sentences())..other.sentences() {
            other.append_sentence(s, b);
            if b.len() >= target_b {
                break;
            }
        }
        Ok(())
    }

    /// Truncates the pair to the longest example and checks that both segments kept tokens.
    fn finish(&mut self, mut a: Segment, mut b: Segment, pair_type: PairType) -> Result<Built, PairSkip> {
        let truncated = truncate_pair(&mut a, &mut b, self.max_tokens, &mut self.rng);
        if a.is_empty() || b.is_empty() {
            return Err(PairSkip::EmptySegment);
        }
        Ok(Built {
            a,
            b,
            pair_type,
            truncated,
        })
    }
}

/// A document of the pool other than `doc_id` (nor a copy of it), chosen by key (up to ten
/// tries, like BERT).
fn negative_document<'p>(doc_id: u64, pool: &[DocumentRef<'p>], rng: &mut KeyedRng) -> Option<DocumentRef<'p>> {
    if pool.is_empty() {
        return None;
    }
    (0..10)
        .map(|_| pool[rng.below(pool.len())])
        .find(|d| d.doc_id != doc_id && d.sentences() > 0)
}

/// BERT's `truncate_seq_pair`: while too long, take the longer segment (B on a tie) and drop
/// its first token with probability 0.5, else its last. Returns the number of tokens removed.
fn truncate_pair(a: &mut Segment, b: &mut Segment, max_tokens: usize, rng: &mut KeyedRng) -> u32 {
    let mut removed = 0;
    while a.len() + b.len() > max_tokens {
        let longer = if a.len() > b.len() { &mut *a } else { &mut *b };
        if longer.len() <= 1 {
            break;
        }
        if rng.chance(0.5) {
            longer.ids.remove(0);
            longer.word_starts.remove(0);
        } else {
            longer.ids.pop();
            longer.word_starts.pop();
        }
        removed += 1;
    }
    removed
}

/// RoBERTa packing: consecutive sentences up to `max_seq_length - 2` tokens; FULL-SENTENCES
/// crosses document boundaries with a separator token, DOC-SENTENCES never does. Sentences
/// longer than the limit are cut into pieces. Feed documents in dataset order. A sequence never
/// holds two copies of one document: a copy starts a new one.
pub struct Packer {
    max_tokens: usize,
    cross_documents: bool,
    separator: u32,
    current: Option<Instance>,
    /// Sequences begun per document copy (by [`DocumentRef::key`]).
    ordinals: BTreeMap<u64, u32>,
    /// Key of the document copy the current sequence ended with.
    last_doc: Option<u64>,
    /// Ids of the documents in the current sequence.
    in_current: Vec<u64>,
}

impl Packer {
    /// A packer for the spec's task (full or doc sentences), separating documents with
    /// `separator`.
    pub fn new(spec: &PairSpec, separator: u32) -> Self {
        Self {
            max_tokens: spec.max_seq_length as usize - 2,
            cross_documents: spec.task == PairTask::FullSentences,
            separator,
            current: None,
            ordinals: BTreeMap::new(),
            last_doc: None,
            in_current: Vec::new(),
        }
    }

    /// Adds a document; returns the sequences it completed.
    pub fn push(&mut self, doc: DocumentRef<'_>, stats: &mut PairStats) -> Vec<Instance> {
        let mut done = Vec::new();
        if !self.cross_documents || self.in_current.contains(&doc.doc_id) {
            done.extend(self.flush(stats));
        }
        for s in 0..doc.sentences() {
            let range = doc.sentence(s);
            let max = self.max_tokens;
            let pieces = range.clone().step_by(max).map(|p| p..(p + max).min(range.end));
            for piece in pieces {
                let separator = |packer: &Self| packer.current.is_some() && packer.last_doc != Some(doc.key());
                let needed = piece.len() + usize::from(separator(self));
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.a.len() + needed > self.max_tokens)
                {
                    done.extend(self.flush(stats));
                }
                let joins = separator(self);
                let ordinals = &mut self.ordinals;
                let current = self.current.get_or_insert_with(|| {
                    let ordinal = ordinals.entry(doc.key()).or_default();
                    *ordinal += 1;
                    Instance {
                        doc_id: doc.doc_id,
                        copy: doc.copy,
                        ordinal: *ordinal - 1,
                        a: Segment::default(),
                        b: Segment::default(),
                        pair_type: PairType::None,
                        truncated_tokens: 0,
                    }
                });
                if joins {
                    current.a.extend(&[self.separator], &[true]);
                }
                current.a.extend(&doc.input_ids[piece.clone()], &doc.word_starts[piece]);
                self.last_doc = Some(doc.key());
                if self.in_current.last() != Some(&doc.doc_id) {
                    self.in_current.push(doc.doc_id);
                }
            }
        }
        if !self.cross_documents {
            done.extend(self.flush(stats));
        }
        done
    }

    /// Emits the sequence in progress, if any.
    pub fn flush(&mut self, stats: &mut PairStats) -> Option<Instance> {
        self.in_current.clear();
        let instance = self.current.take().filter(|c| !c.a.is_empty())?;
        stats.count(&instance);
        Some(instance)
    }
}
