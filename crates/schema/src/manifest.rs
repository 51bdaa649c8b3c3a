//! `manifest.json`: the only file readers trust. It is written last, so a dataset without one
//! does not exist yet. Field names are a contract (see `schemas/documents-manifest.schema.json`).

use maskforge_masking::{MaskSpec, PairSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One Parquet shard of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Path relative to the dataset folder, e.g. `part-00000-0000.parquet`.
    pub path: String,
    /// Number of rows.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// Length bin of the shard (examples datasets with length bins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<u8>,
    /// Index of the `[[sources]]` entry whose documents the shard holds (documents datasets;
    /// absent in those written before weighted sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u32>,
}

/// One input file that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    /// Name relative to the source pattern it matched (the value of the `source` column).
    pub name: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Records read from it (documents, lines or rows, by format).
    pub records: u64,
}

/// How every input record was accounted for: `records_in == documents_out + sum(skipped)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCounts {
    /// Records read (text documents, JSON lines, table rows).
    pub records_in: u64,
    /// Documents written.
    pub documents_out: u64,
    /// Sentences in the written documents.
    pub sentences: u64,
    /// Content tokens in the written documents.
    pub tokens: u64,
    /// Records not written, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Documents whose text passes [`LARGE_DOCUMENT_BYTES`] (each logged as a warning).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub large_documents: u64,
    /// Input files that gave exactly one document (a text file without blank lines, say; each
    /// logged as a warning).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub single_document_inputs: u64,
    /// Input files left out because the object store cannot represent their names (a local
    /// name with a control character such as ESC, or not UTF-8; each logged as a warning).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unrepresentable_names: u64,
}

/// Text size above which a document is counted in `large_documents` and warned about.
pub const LARGE_DOCUMENT_BYTES: usize = 1 << 20;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl DocumentCounts {
    /// Adds another count into this one.
    pub fn merge(&mut self, other: &DocumentCounts) {
        self.records_in += other.records_in;
        self.documents_out += other.documents_out;
        self.sentences += other.sentences;
        self.tokens += other.tokens;
        self.large_documents += other.large_documents;
        self.single_document_inputs += other.single_document_inputs;
        self.unrepresentable_names += other.unrepresentable_names;
        for (reason, n) in &other.skipped {
            *self.skipped.entry(reason.clone()).or_default() += n;
        }
    }

    /// Counts one skipped record.
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason.name().to_owned()).or_default() += 1;
    }

    /// Whether every record read is a document or a counted skip.
    pub fn balanced(&self) -> bool {
        self.records_in == self.documents_out + self.skipped.values().sum::<u64>()
    }
}

/// Why prepare turned a record into no document; counted under [`SkipReason::name`] in
/// `counts.skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A line of a text document, a JSON line or a CSV line is not valid UTF-8.
    InvalidUtf8,
    /// A JSON line does not parse, or is not an object.
    InvalidJson,
    /// The text field is absent, null or not a string.
    MissingText,
    /// A record longer than `sources.N.max_record_bytes`.
    RecordTooLarge,
    /// The source's `filter` is false or NULL for the row.
    Filtered,
    /// No token is left after cleaning, sentence splitting and tokenizing.
    Empty,
    /// Fewer tokens than `text.min_tokens`.
    TooShort,
    /// The tokenizer returned an error.
    TokenizerError,
    /// A CSV line read as one record (`csv_newlines_in_values = false`) does not parse: another
    /// number of fields than the header, or a value of another type than its column.
    InvalidCsv,
}

impl SkipReason {
    /// Every reason.
    pub const ALL: [SkipReason; 9] = [
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::MissingText,
        Self::RecordTooLarge,
        Self::Filtered,
        Self::Empty,
        Self::TooShort,
        Self::TokenizerError,
        Self::InvalidCsv,
    ];

    /// The name counted in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::MissingText => "missing_text",
            Self::RecordTooLarge => "record_too_large",
            Self::Filtered => "filtered",
            Self::Empty => "empty",
            Self::TooShort => "too_short",
            Self::TokenizerError => "tokenizer_error",
            Self::InvalidCsv => "invalid_csv",
        }
    }

    /// Whether the record is malformed: logged, and fatal under `on_bad_record = "fail"`
    /// (`filtered`, `empty` and `too_short` are ordinary outcomes, only counted).
    pub fn malformed(self) -> bool {
        !matches!(self, Self::Filtered | Self::Empty | Self::TooShort)
    }
}

/// The manifest of a documents dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsManifest {
    /// `maskforge.documents/N`.
    pub schema_version: String,
    /// maskforge version that wrote it.
    pub tool_version: String,
    /// Hex SHA-256 of `config`.
    pub config_hash: String,
    /// The content configuration (no locations, no secrets) and the hashes of the files it uses.
    pub config: serde_json::Value,
    /// Hex SHA-256 of the tokenizer files.
    pub tokenizer_hash: String,
    /// Hash identifying the jieba dictionary (built-in dictionary version and user dictionary).
    pub dictionary_hash: String,
    /// Shards in reading order.
    pub shards: Vec<ShardEntry>,
    /// Input files in reading order.
    pub inputs: Vec<InputEntry>,
    /// Record accounting.
    pub counts: DocumentCounts,
}

/// The vocabulary file stored with an examples dataset, so that it decodes without the tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocabEntry {
    /// Path relative to the dataset folder (`vocab.txt`).
    pub path: String,
    /// Number of tokens.
    pub size: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// A file stored beside an examples dataset's shards for outside trainers (the Hugging Face
/// tokenizer files, the model hints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the dataset folder.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// Statistics of one epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Documents read from the documents dataset.
    pub documents_in: u64,
    /// Examples written.
    pub examples: u64,
    /// Tokens in the examples, special tokens included.
    pub tokens: u64,
    /// Masked positions.
    pub masked_tokens: u64,
    /// `masked_tokens / tokens`.
    pub mask_rate: f64,
    /// Masked positions by replacement kind (`mask`, `similar`, `random`, `keep`).
    pub replacement: BTreeMap<String, u64>,
    /// Masking units by their length in words (`"1"`, `"2"`, ...).
    pub ngram_lengths: BTreeMap<u32, u64>,
    /// Examples by pair type (`next`, `random_doc`, `swapped`, `none`).
    pub pair_types: BTreeMap<String, u64>,
    /// Chunks of a single sentence (NSP always pairs them with a random document).
    pub single_sentence_chunks: u64,
    /// Examples that lost tokens to truncation.
    pub truncated_examples: u64,
    /// Tokens removed by truncation.
    pub truncated_tokens: u64,
    /// Similar-word replacements that fell back, by reason.
    pub similar_fallbacks: BTreeMap<String, u64>,
    /// Examples by length, keyed by the upper bound of 64-token buckets (`"64"`, `"128"`, ...).
    pub length_histogram: BTreeMap<u32, u64>,
    /// Examples by length bin (only with length bins).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bins: BTreeMap<String, u64>,
    /// Chunks or documents that gave no example, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The mixture: one entry per `[[sources]]` entry, in configuration order (absent in
    /// manifests written before weighted sources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStats>,
}

/// What one source contributed to an epoch (or one split of it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    /// `sources.N.weight` the epoch was made with.
    pub weight: f64,
    /// Documents of the source read from the documents dataset.
    pub documents: u64,
    /// Document copies drawn: about `weight × documents` (exactly, for a whole weight).
    pub drawn: u64,
    /// Examples whose (first) document is of this source.
    pub examples: u64,
    /// Tokens of those examples, special tokens included.
    pub tokens: u64,
    /// The realised share: `tokens` over the epoch's (or split's) tokens.
    pub share: f64,
}

/// The resolved pair-building and masking specs an epoch was made with (what online
/// re-masking needs, typed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSpec {
    /// How examples were assembled.
    pub pairs: PairSpec,
    /// How they were masked.
    pub masking: MaskSpec,
}

/// The manifest of an examples dataset (one epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplesManifest {
    /// `maskforge.examples/N`.
    pub schema_version: String,
    /// maskforge version that wrote it.
    pub tool_version: String,
    /// Hex SHA-256 of the documents dataset's `manifest.json`.
    pub documents_manifest_sha256: String,
    /// Hex SHA-256 of `config`.
    pub config_hash: String,
    /// The epoch configuration (pairs, masking, seed, shards, bins; no locations) and file hashes.
    pub config: serde_json::Value,
    /// The resolved specs (absent in manifests of maskforge 0.1 before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<EpochSpec>,
    /// Seed of every keyed random stream.
    pub seed: u64,
    /// The epoch.
    pub epoch: u32,
    /// The epoch the pairs were built for (0 when pairs are static).
    pub pair_epoch: u32,
    /// Hex SHA-256 of the tokenizer files.
    pub tokenizer_hash: String,
    /// Hex SHA-256 of the synonym table, when one is used.
    pub synonyms_hash: Option<String>,
    /// The vocabulary stored with the dataset.
    pub vocab: VocabEntry,
    /// The Hugging Face tokenizer files and the model hints (absent before issue 12).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
    /// Shards in `example_id` order (the train split when the documents are split).
    pub shards: Vec<ShardEntry>,
    /// Statistics (of the train split when the documents are split).
    pub stats: EpochStats,
    /// How the documents were split into train, validation and test (absent: all train).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSpec>,
    /// The validation split, under `validation/` (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<SplitSection>,
    /// The test split, under `test/` (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<SplitSection>,
}

impl ExamplesManifest {
    /// The rules every row of this epoch keeps: ids inside its vocabulary, its task's token
    /// types and labels, its sequence length.
    pub fn row_rules(&self) -> crate::RowRules {
        crate::RowRules {
            vocab_size: self.vocab.size,
            task: self.spec.as_ref().map(|s| s.pairs.task),
            max_seq_length: self.spec.as_ref().map(|s| s.pairs.max_seq_length),
        }
    }

    /// The shards and statistics of `split` (`None` when the epoch has no such split).
    pub fn section(&self, split: Split) -> Option<(&[ShardEntry], &EpochStats)> {
        match split {
            Split::Train => Some((&self.shards, &self.stats)),
            Split::Validation => self.validation.as_ref().map(|s| (s.shards.as_slice(), &s.stats)),
            Split::Test => self.test.as_ref().map(|s| (s.shards.as_slice(), &s.stats)),
        }
    }

    /// Every shard of every split: train, then validation, then test.
    pub fn all_shards(&self) -> impl Iterator<Item = &ShardEntry> {
        Split::ALL
            .into_iter()
            .filter_map(|split| self.section(split))
            .flat_map(|(shards, _)| shards)
    }
}

/// The part of the corpus a document belongs to, fixed by the seed and its `doc_id` for every
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Trained on.
    Train,
    /// Evaluated on during training.
    Validation,
    /// Kept for the final evaluation.
    Test,
}

impl Split {
    /// Every split, in manifest order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The split's name: its manifest key and folder (`train` has neither: its shards are the
    /// dataset's own).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// The split called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The folder of its shards inside the examples dataset, with a trailing `/` (empty for
    /// train).
    pub fn folder(self) -> &'static str {
        match self {
            Split::Train => "",
            Split::Validation => "validation/",
            Split::Test => "test/",
        }
    }
}

/// The rule that split the documents: a document goes to validation when its keyed value
/// `keyed_u64(seed, Split, 0, doc_id) / 2^64` is below `validation_fraction`, to test when it
/// is below `validation_fraction + test_fraction`, and to train otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// The seed of the keyed value.
    pub seed: u64,
    /// Expected fraction of documents in validation.
    pub validation_fraction: f64,
    /// Expected fraction of documents in test.
    pub test_fraction: f64,
}

impl SplitSpec {
    /// The split of document `doc_id`.
    pub fn split_of(&self, doc_id: u64) -> Split {
        let value = maskforge_masking::keyed_u64(self.seed, maskforge_masking::Purpose::Split, 0, doc_id);
        let below = |fraction: f64| (value as f64) < fraction * 18_446_744_073_709_551_616.0;
        if below(self.validation_fraction) {
            Split::Validation
        } else if below(self.validation_fraction + self.test_fraction) {
            Split::Test
        } else {
            Split::Train
        }
    }

    /// The splits this rule can give, in manifest order: train, then each held-out split
    /// with a positive fraction.
    pub fn splits(&self) -> Vec<Split> {
        let mut splits = vec![Split::Train];
        if self.validation_fraction > 0.0 {
            splits.push(Split::Validation);
        }
        if self.test_fraction > 0.0 {
            splits.push(Split::Test);
        }
        splits
    }
}

/// The shards and statistics of a held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSection {
    /// Shards in `example_id` order (ids counted from 0 within the split).
    pub shards: Vec<ShardEntry>,
    /// Statistics of the split.
    pub stats: EpochStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract lists every skip reason prepare can count, in both places users read.
    #[test]
    fn every_skip_reason_is_documented() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        for file in ["documents.md", "documents-manifest.schema.json"] {
            let text = std::fs::read_to_string(root.join(file)).expect("schema file");
            for reason in SkipReason::ALL {
                assert!(text.contains(reason.name()), "{file} does not list {}", reason.name());
            }
        }
        let names: std::collections::BTreeSet<&str> = SkipReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), SkipReason::ALL.len(), "names are distinct");
    }

    #[test]
    fn the_split_rule_follows_the_fractions_and_only_the_seed_and_id() {
        let spec = SplitSpec {
            seed: 1,
            validation_fraction: 0.2,
            test_fraction: 0.1,
        };
        let mut counts = std::collections::BTreeMap::new();
        for id in 0..20_000u64 {
            *counts.entry(spec.split_of(id)).or_insert(0u32) += 1;
        }
        assert!((3_700..4_300).contains(&counts[&Split::Validation]), "{counts:?}");
        assert!((1_800..2_200).contains(&counts[&Split::Test]), "{counts:?}");
        // Pinned: a change of the rule moves documents between splits of existing corpora.
        let first: Vec<&str> = (0..12).map(|id| spec.split_of(id).name()).collect();
        assert_eq!(first, PINNED_SPLITS);
        let other_seed = SplitSpec { seed: 2, ..spec };
        assert!((0..200).any(|id| other_seed.split_of(id) != spec.split_of(id)));
        let none = SplitSpec {
            validation_fraction: 0.0,
            test_fraction: 0.0,
            ..spec
        };
        assert!((0..1000).all(|id| none.split_of(id) == Split::Train));
        assert_eq!(none.splits(), [Split::Train]);
        assert_eq!(spec.splits(), Split::ALL);
    }

    /// The splits of documents 0..12 (seed 1, validation 0.2, test 0.1), as the independent
    /// implementation in `tests/python/check_examples.py` (`split_of`) computes them.
    const PINNED_SPLITS: [&str; 12] = [
        "train",
        "train",
        "train",
        "validation",
        "test",
        "validation",
        "train",
        "validation",
        "validation",
        "train",
        "train",
        "validation",
    ];
}
