//! Training examples: a pair (or packed sequence) of token segments, assembled with special
//! tokens, then masked.

use crate::spec::PairTask;

/// How the segments of an example relate (the `pair_type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PairType {
    /// B follows A in the document.
    Next = 0,
    /// B comes from another document (NSP negative, or ALBERT's compat single-sentence rule).
    RandomDoc = 1,
    /// B and A are the two halves of a chunk in swapped order (SOP positive).
    Swapped = 2,
    /// A packed sequence without a pair task.
    None = 3,
}

impl PairType {
    /// `nsp_label` under `task`: 1 random next, 0 true next, -1 not applicable.
    pub fn nsp_label(self, task: PairTask) -> i8 {
        match (task == PairTask::Nsp, self) {
            (true, PairType::RandomDoc) => 1,
            (true, PairType::Next) => 0,
            _ => -1,
        }
    }

    /// `sop_label` under `task`: 1 swapped, 0 in order, -1 not applicable.
    pub fn sop_label(self, task: PairTask) -> i8 {
        match (task == PairTask::Sop, self) {
            (true, PairType::Swapped | PairType::RandomDoc) => 1,
            (true, PairType::Next) => 0,
            _ => -1,
        }
    }

    /// The type of a `pair_type` code.
    pub fn from_code(code: u8) -> Option<Self> {
        [PairType::Next, PairType::RandomDoc, PairType::Swapped, PairType::None]
            .get(usize::from(code))
            .copied()
    }

    /// The name used in statistics.
    pub fn name(self) -> &'static str {
        match self {
            PairType::Next => "next",
            PairType::RandomDoc => "random_doc",
            PairType::Swapped => "swapped",
            PairType::None => "none",
        }
    }
}

/// Tokens of one segment with their word starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Segment {
    /// Token ids.
    pub ids: Vec<u32>,
    /// One flag per token.
    pub word_starts: Vec<bool>,
}

impl Segment {
    /// Appends tokens.
    pub fn extend(&mut self, ids: &[u32], word_starts: &[bool]) {
        self.ids.extend_from_slice(ids);
        self.word_starts.extend_from_slice(word_starts);
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// An example before masking, as built by the pair builders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The document it comes from (the first one, for packed sequences).
    pub doc_id: u64,
    /// Which copy of that document (see [`DocumentRef::copy`](crate::DocumentRef::copy)).
    pub copy: u32,
    /// Position among the instances of that document (part of the example's key).
    pub ordinal: u32,
    /// First segment.
    pub a: Segment,
    /// Second segment (empty for packed sequences).
    pub b: Segment,
    /// Relation of the segments.
    pub pair_type: PairType,
    /// Tokens removed to fit the length.
    pub truncated_tokens: u32,
}

/// An assembled, unmasked example: `[CLS] A [SEP] B [SEP]` or `[CLS] tokens [SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// Token ids with special tokens.
    pub input_ids: Vec<u32>,
    /// 0 for `[CLS]`, A and the first `[SEP]`; 1 after.
    pub token_type_ids: Vec<u8>,
    /// Word starts; the first token of each segment always starts a word; special tokens do too.
    pub word_starts: Vec<bool>,
    /// Whether each position is a special token (never masked).
    pub special: Vec<bool>,
}

impl Instance {
    /// Adds the special tokens. A segment that begins inside a word (after truncation from the
    /// front) begins a word of its own. Content never contains `sep` (the tokenizer encodes a
    /// spelled-out special token as text), so a `sep` inside a segment is a document separator.
    pub fn assemble(&self, cls: u32, sep: u32) -> Assembled {
        let n = self.a.len() + self.b.len() + 2 + usize::from(!self.b.is_empty());
        let mut out = Assembled {
            input_ids: Vec::with_capacity(n),
            token_type_ids: Vec::with_capacity(n),
            word_starts: Vec::with_capacity(n),
            special: Vec::with_capacity(n),
        };
        out.push(cls, 0, true, true);
        out.push_segment(&self.a, 0, sep);
        out.push(sep, 0, true, true);
        if !self.b.is_empty() {
            out.push_segment(&self.b, 1, sep);
            out.push(sep, 1, true, true);
        }
        out
    }
}

impl Assembled {
    fn push(&mut self, id: u32, token_type: u8, word_start: bool, special: bool) {
        self.input_ids.push(id);
        self.token_type_ids.push(token_type);
        self.word_starts.push(word_start);
        self.special.push(special);
    }

    /// Appends a segment; a separator inside it (between packed documents) is special.
    fn push_segment(&mut self, segment: &Segment, token_type: u8, sep: u32) {
        for (i, (&id, &start)) in segment.ids.iter().zip(&segment.word_starts).enumerate() {
            let separator = id == sep;
            self.push(id, token_type, start || i == 0 || separator, separator);
        }
    }

    /// Whole words as token ranges: a word starts at a flagged non-special token and runs over
    /// the following unflagged non-special tokens.
    pub fn words(&self) -> Vec<std::ops::Range<usize>> {
        let mut words: Vec<std::ops::Range<usize>> = Vec::new();
        for i in 0..self.input_ids.len() {
            if self.special[i] {
                continue;
            }
            match words.last_mut() {
                Some(w) if !self.word_starts[i] && w.end == i => w.end = i + 1,
                _ => words.push(i..i + 1),
            }
        }
        words
    }
}

/// Kind of replacement at a masked position (the `mask_kinds` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MaskKind {
    /// The mask token.
    Mask = 0,
    /// A similar word (MacBERT).
    Similar = 1,
    /// Random tokens.
    Random = 2,
    /// Left unchanged.
    Keep = 3,
}

impl MaskKind {
    /// Every kind, in code order (the order of [`crate::MaskStats::kinds`]).
    pub const ALL: [MaskKind; 4] = [MaskKind::Mask, MaskKind::Similar, MaskKind::Random, MaskKind::Keep];

    /// The kind of a `mask_kinds` code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The name used in statistics.
    pub fn name(self) -> &'static str {
        match self {
            MaskKind::Mask => "mask",
            MaskKind::Similar => "similar",
            MaskKind::Random => "random",
            MaskKind::Keep => "keep",
        }
    }
}

/// The masks of one example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masks {
    /// Token ids with masks applied.
    pub input_ids: Vec<u32>,
    /// Sorted, unique masked positions.
    pub masked_positions: Vec<u16>,
    /// Original ids at those positions.
    pub masked_labels: Vec<u32>,
    /// What was done at each position ([`MaskKind`] as `u8`).
    pub mask_kinds: Vec<u8>,
}

/// A masked example, as stored in the examples dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedExample {
    /// Source document.
    pub doc_id: u64,
    /// Key of the example: a function of the document and the ordinal only.
    pub key: u64,
    /// Token ids with masks applied.
    pub input_ids: Vec<u32>,
    /// Segment ids.
    pub token_type_ids: Vec<u8>,
    /// Word starts (for online re-masking).
    pub word_starts: Vec<bool>,
    /// Sorted, unique masked positions.
    pub masked_positions: Vec<u16>,
    /// Original ids at those positions.
    pub masked_labels: Vec<u32>,
    /// What was done at each position.
    pub mask_kinds: Vec<u8>,
    /// Relation of the segments.
    pub pair_type: PairType,
    /// Tokens removed by truncation.
    pub truncated_tokens: u32,
}
