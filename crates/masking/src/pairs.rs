//! Pair building (masking.md sections 3-5): NSP as BERT's `create_instances_from_document`, SOP
//! with the strict or ALBERT single-sentence rule, and RoBERTa's FULL-/DOC-SENTENCES packing.
//! Every random choice comes from the document's keyed streams.

use crate::example::{Instance, PairType, Segment};
use crate::rng::{KeyedRng, Purpose};
use maskforge_config::{PairTask, PairsConfig, SingleSentencePolicy};
use std::collections::BTreeMap;
use std::ops::Range;

/// A document of the documents dataset, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct DocumentRef<'a> {
    /// Stable id.
    pub doc_id: u64,
    /// Content tokens.
    pub input_ids: &'a [u32],
    /// Exclusive sentence ends.
    pub sentence_ends: &'a [u32],
    /// Word starts.
    pub word_starts: &'a [bool],
}

impl DocumentRef<'_> {
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

/// Counts of what pair building did and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Instances by pair type name.
    pub pair_types: BTreeMap<&'static str, u64>,
    /// Instances that lost tokens to truncation.
    pub truncated_examples: u64,
    /// Tokens removed by truncation.
    pub truncated_tokens: u64,
    /// Chunks of a single sentence (NSP pairs them with a random document).
    pub single_sentence_chunks: u64,
    /// Chunks that gave no instance, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl PairStats {
    /// Adds another count into this one.
    pub fn merge(&mut self, other: &PairStats) {
        for (k, v) in &other.pair_types {
            *self.pair_types.entry(k).or_default() += v;
        }
        for (k, v) in &other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        self.truncated_examples += other.truncated_examples;
        self.truncated_tokens += other.truncated_tokens;
        self.single_sentence_chunks += other.single_sentence_chunks;
    }

    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    fn count(&mut self, instance: &Instance) {
        *self.pair_types.entry(instance.pair_type.name()).or_default() += 1;
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
    config: &PairsConfig,
    seed: u64,
    pair_epoch: u32,
    stats: &mut PairStats,
) -> Vec<Instance> {
    let mut rng = KeyedRng::new(seed, Purpose::Pairs, pair_epoch, doc.doc_id);
    let mut negatives = KeyedRng::new(seed, Purpose::Negative, pair_epoch, doc.doc_id);
    let max_tokens = config.max_seq_length as usize - 3;
    let target = if rng.chance(config.short_seq_prob) {
        rng.between(2, max_tokens)
    } else {
        max_tokens
    };
    let mut out = Vec::new();
    let mut chunk: Vec<usize> = Vec::new();
    let mut chunk_len = 0;
    let mut i = 0;
    let n = doc.sentences();
    while i < n {
        chunk.push(i);
        chunk_len += doc.sentence(i).len();
        if i == n - 1 || chunk_len >= target {
            let ordinal = out.len() as u32;
            if chunk.len() == 1 {
                stats.single_sentence_chunks += 1;
            }
            let built = match config.task {
                PairTask::Nsp => nsp_chunk(doc, &chunk, target, max_tokens, pool, &mut rng, &mut negatives, &mut i),
                _ => sop_chunk(
                    doc,
                    &chunk,
                    target,
                    max_tokens,
                    config.single_sentence,
                    pool,
                    &mut rng,
                    &mut negatives,
                ),
            };
            match built {
                Ok((a, b, pair_type, truncated)) => {
                    let instance = Instance {
                        doc_id: doc.doc_id,
                        ordinal,
                        a,
                        b,
                        pair_type,
                        truncated_tokens: truncated,
                    };
                    stats.count(&instance);
                    out.push(instance);
                }
                Err(reason) => stats.skip(reason),
            }
            chunk.clear();
            chunk_len = 0;
        }
        i += 1;
    }
    out
}

type Built = Result<(Segment, Segment, PairType, u32), &'static str>;

#[allow(clippy::too_many_arguments)]
fn nsp_chunk(
    doc: DocumentRef<'_>,
    chunk: &[usize],
    target: usize,
    max_tokens: usize,
    pool: &[DocumentRef<'_>],
    rng: &mut KeyedRng,
    negatives: &mut KeyedRng,
    i: &mut usize,
) -> Built {
    let a_end = if chunk.len() >= 2 {
        rng.between(1, chunk.len() - 1)
    } else {
        1
    };
    let mut a = Segment::default();
    for &s in &chunk[..a_end] {
        doc.append_sentence(s, &mut a);
    }
    let mut b = Segment::default();
    let pair_type = if chunk.len() == 1 || rng.chance(0.5) {
        let other = negative_document(doc.doc_id, pool, negatives).ok_or("no_negative_document")?;
        let target_b = target.saturating_sub(a.len()).max(1);
        let start = negatives.below(other.sentences());
        for s in start..other.sentences() {
            other.append_sentence(s, &mut b);
            if b.len() >= target_b {
                break;
            }
        }
        // The unused sentences of the chunk go back: processing resumes after `a_end`.
        *i -= chunk.len() - a_end;
        PairType::RandomDoc
    } else {
        for &s in &chunk[a_end..] {
            doc.append_sentence(s, &mut b);
        }
        PairType::Next
    };
    let truncated = truncate_pair(&mut a, &mut b, max_tokens, rng);
    if a.is_empty() || b.is_empty() {
        return Err("empty_segment");
    }
    Ok((a, b, pair_type, truncated))
}

#[allow(clippy::too_many_arguments)]
fn sop_chunk(
    doc: DocumentRef<'_>,
    chunk: &[usize],
    target: usize,
    max_tokens: usize,
    policy: SingleSentencePolicy,
    pool: &[DocumentRef<'_>],
    rng: &mut KeyedRng,
    negatives: &mut KeyedRng,
) -> Built {
    let mut a = Segment::default();
    let mut b = Segment::default();
    let mut pair_type = PairType::Next;
    if chunk.len() >= 2 {
        let a_end = rng.between(1, chunk.len() - 1);
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
                    return Err("single_word_sentence");
                }
                let k = boundaries[rng.below(boundaries.len())];
                a.extend(&doc.input_ids[sentence.start..k], &doc.word_starts[sentence.start..k]);
                b.extend(&doc.input_ids[k..sentence.end], &doc.word_starts[k..sentence.end]);
            }
            SingleSentencePolicy::Compat => {
                doc.append_sentence(chunk[0], &mut a);
                let other = negative_document(doc.doc_id, pool, negatives).ok_or("no_negative_document")?;
                let target_b = target.saturating_sub(a.len()).max(1);
                for s in negatives.below(other.sentences())..other.sentences() {
                    other.append_sentence(s, &mut b);
                    if b.len() >= target_b {
                        break;
                    }
                }
                pair_type = PairType::RandomDoc;
            }
        }
    }
    if pair_type == PairType::Next && rng.chance(0.5) {
        std::mem::swap(&mut a, &mut b);
        pair_type = PairType::Swapped;
    }
    let truncated = truncate_pair(&mut a, &mut b, max_tokens, rng);
    if a.is_empty() || b.is_empty() {
        return Err("empty_segment");
    }
    Ok((a, b, pair_type, truncated))
}

/// A document of the pool other than `doc_id`, chosen by key (up to ten tries, like BERT).
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
/// longer than the limit are cut into pieces. Feed documents in dataset order.
pub struct Packer {
    max_tokens: usize,
    cross_documents: bool,
    separator: u32,
    current: Option<Instance>,
    ordinals: BTreeMap<u64, u32>,
    last_doc: Option<u64>,
}

impl Packer {
    /// A packer for `task` (full or doc sentences), separating documents with `separator`.
    pub fn new(config: &PairsConfig, separator: u32) -> Self {
        Self {
            max_tokens: config.max_seq_length as usize - 2,
            cross_documents: config.task == PairTask::FullSentences,
            separator,
            current: None,
            ordinals: BTreeMap::new(),
            last_doc: None,
        }
    }

    /// Adds a document; returns the sequences it completed.
    pub fn push(&mut self, doc: DocumentRef<'_>, stats: &mut PairStats) -> Vec<Instance> {
        let mut done = Vec::new();
        if !self.cross_documents {
            done.extend(self.flush(stats));
        }
        for s in 0..doc.sentences() {
            let range = doc.sentence(s);
            let max = self.max_tokens;
            let pieces = range.clone().step_by(max).map(|p| p..(p + max).min(range.end));
            for piece in pieces {
                let separator = |packer: &Self| packer.current.is_some() && packer.last_doc != Some(doc.doc_id);
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
                    let ordinal = ordinals.entry(doc.doc_id).or_default();
                    *ordinal += 1;
                    Instance {
                        doc_id: doc.doc_id,
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
                self.last_doc = Some(doc.doc_id);
            }
        }
        if !self.cross_documents {
            done.extend(self.flush(stats));
        }
        done
    }

    /// Emits the sequence in progress, if any.
    pub fn flush(&mut self, stats: &mut PairStats) -> Option<Instance> {
        let instance = self.current.take().filter(|c| !c.a.is_empty())?;
        stats.count(&instance);
        Some(instance)
    }
}
