//! The typed pipeline definition. Every section has defaults, so a pipeline file names only what
//! differs; unknown keys are rejected.

pub use maskforge_masking::{
    BudgetUnit, MaskSpec, MaskStrategy, PairSpec, PairTask, RandomPool, ReplaceShares, ReplacementUnit,
    SingleSentencePolicy,
};
use serde::{Deserialize, Serialize};

/// A whole pipeline: where the corpus is, how text becomes tokens, how examples are built and
/// masked, where the datasets go, and the seed every random choice is keyed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Root of every keyed random stream (masking.md section 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Input corpora; at least one (`--input` can supply it).
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Cleaning, sentence splitting, segmentation and tokenization.
    pub text: TextConfig,
    /// How sentence pairs (or packed sequences) are built per epoch.
    #[serde(default)]
    pub pairs: PairsConfig,
    /// Which tokens are masked and how they are replaced.
    #[serde(default)]
    pub masking: MaskingConfig,
    /// Where the datasets are written and how they are sharded.
    #[serde(default)]
    pub output: OutputConfig,
}

fn default_seed() -> u64 {
    12345
}

/// One input corpus: a list of URLs or globs sharing the same format options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// URLs, plain paths or globs (`corpora/zh/*.txt`, `s3://bucket/data/**/*.jsonl.gz`).
    pub urls: Vec<String>,
    /// File format; `auto` decides by file extension.
    #[serde(default)]
    pub format: SourceFormat,
    /// Compression of text and JSON Lines files; `auto` decides by extension (`.gz`, `.zst`).
    #[serde(default)]
    pub compression: Compression,
    /// Field (JSON Lines) or column (Parquet, CSV) that holds the text. Default `text`.
    pub text_column: Option<String>,
    /// SQL expression over the columns that yields the text (Parquet and CSV only).
    pub text_sql: Option<String>,
    /// Field or column that holds a record's own id; the record index is used without it.
    pub id_column: Option<String>,
    /// SQL predicate; rows where it is not true are skipped and counted (Parquet and CSV only).
    pub filter: Option<String>,
    /// A record larger than this many bytes (a JSON line, a text document, a table cell) is
    /// skipped and counted as `record_too_large`. Line-based formats never hold it in memory.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
    /// What a malformed record (invalid UTF-8, broken JSON, text field missing) does.
    #[serde(default)]
    pub on_bad_record: BadRecordPolicy,
    /// How a text file is cut into documents (text sources only).
    #[serde(default)]
    pub text_layout: TextLayout,
    /// The size of a unit of work: larger files are cut into pieces of about this many bytes
    /// (uncompressed text and JSON Lines at line starts, Parquet at row groups), and smaller
    /// files of one source are grouped up to it. Only the data and this value decide the cuts.
    #[serde(default = "default_unit_bytes")]
    pub unit_bytes: u64,
    /// How many times each epoch draws this source's documents: 1.0 once, 0.5 a keyed half of
    /// them (another half each epoch), 2.0 twice (with masks of their own). An epoch setting: the
    /// documents dataset does not depend on it.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// CSV only: whether a quoted value may hold a line break. `false` reads every line after
    /// the header as one record, which lets a large file be cut at line starts.
    #[serde(default = "default_true")]
    pub csv_newlines_in_values: bool,
}

fn default_true() -> bool {
    true
}

fn default_unit_bytes() -> u64 {
    64 << 20
}

fn default_weight() -> f64 {
    1.0
}

/// How a text source is cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextLayout {
    /// The BERT layout: a blank (or white-space only) line between documents.
    #[default]
    Paragraphs,
    /// Every non-blank line is a document.
    Lines,
}

fn default_max_record_bytes() -> u64 {
    16 << 20
}

impl SourceConfig {
    /// The text column, or `text` when neither a column nor an SQL expression is configured.
    pub fn text_column(&self) -> &str {
        self.text_column.as_deref().unwrap_or("text")
    }
}

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Decided per file by its extension.
    #[default]
    Auto,
    /// BERT layout: one sentence or paragraph a line, a blank line between documents.
    Text,
    /// One JSON object a line.
    Jsonl,
    /// Apache Parquet, read through datafusion.
    Parquet,
    /// CSV with a header row, read through datafusion.
    Csv,
}

impl SourceFormat {
    /// The format a file name implies, looking through a `.gz` or `.zst` suffix.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let stem = lower
            .strip_suffix(".gz")
            .or_else(|| lower.strip_suffix(".zst"))
            .unwrap_or(&lower);
        let ext = stem.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "txt" | "text" => Some(Self::Text),
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "parquet" | "pq" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// Whether files of this format are read through datafusion (and so take SQL options).
    pub fn is_tabular(self) -> bool {
        matches!(self, Self::Parquet | Self::Csv)
    }
}

/// Stream compression of line-based inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Decided per file by its extension.
    #[default]
    Auto,
    /// Not compressed.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

impl Compression {
    /// The compression a file name implies.
    pub fn from_file_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") {
            Self::Gzip
        } else if lower.ends_with(".zst") {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// What happens to a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRecordPolicy {
    /// Skip it, count it by reason, and log its file and line.
    #[default]
    Skip,
    /// Stop the job with an error naming the file and line.
    Fail,
}

/// The text path (masking.md section 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// `zh`: Chinese sentence rules and jieba; `en`: adds the Latin `. ` + upper-case rule and
    /// skips jieba; `mixed` (default): both rules and jieba.
    #[serde(default)]
    pub language: Language,
    /// The Hugging Face tokenizer.
    pub tokenizer: TokenizerConfig,
    /// Chinese word segmentation for word starts.
    #[serde(default)]
    pub jieba: JiebaConfig,
    /// Documents with fewer content tokens are skipped and counted as `too_short`.
    #[serde(default = "default_min_tokens")]
    pub min_tokens: u32,
}

fn default_min_tokens() -> u32 {
    1
}

/// Which sentence-splitting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Chinese rules, jieba word starts.
    Zh,
    /// Chinese rules plus `.` followed by white space and an upper-case letter; no jieba.
    En,
    /// Both rule sets and jieba (the default).
    #[default]
    Mixed,
}

/// Where the tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// A `tokenizer.json`, a BERT `vocab.txt`, or a GPT-2 `vocab.json` (with `merges`).
    pub path: String,
    /// GPT-2 style `merges.txt`; required with a `vocab.json`.
    pub merges: Option<String>,
    /// For a `vocab.txt`: lower-case and strip accents (uncased models). Default true.
    pub lowercase: Option<bool>,
}

/// jieba-rs options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiebaConfig {
    /// Segment Chinese sentences for word starts; off means every CJK character starts a word.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Use the HMM for unknown words (jieba precise mode with HMM).
    #[serde(default = "yes")]
    pub hmm: bool,
    /// A jieba user dictionary (`word [freq [tag]]` per line) added to the default one.
    pub user_dict: Option<String>,
}

impl Default for JiebaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            hmm: true,
            user_dict: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Pair task of the epoch job (masking.md sections 3-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsConfig {
    /// `nsp` (BERT), `sop` (ALBERT, MacBERT), `full_sentences` or `doc_sentences` (RoBERTa).
    #[serde(default)]
    pub task: PairTask,
    /// `L`: the longest example, special tokens included.
    #[serde(default = "default_max_seq_length")]
    pub max_seq_length: u32,
    /// Probability of a shorter target length per document.
    #[serde(default = "default_short_seq_prob")]
    pub short_seq_prob: f64,
    /// Rebuild pairs every epoch (true) or keep epoch 0's pairs and only re-mask (false).
    #[serde(default)]
    pub rebuild_each_epoch: bool,
    /// SOP with a one-sentence chunk: `strict` splits it at a word boundary, `compat` follows
    /// ALBERT (a random document as B: pair type `random_doc`, `sop_label` 1).
    #[serde(default)]
    pub single_sentence: SingleSentencePolicy,
    /// Documents per data-defined partition (on average between this and twice this): NSP
    /// negatives are drawn within a partition, and packing restarts at partition boundaries.
    #[serde(default = "default_negative_pool")]
    pub negative_pool: u32,
    /// The token that starts every example.
    #[serde(default = "default_cls_token")]
    pub cls_token: String,
    /// The token that ends each segment (and separates packed documents).
    #[serde(default = "default_sep_token")]
    pub sep_token: String,
}

fn default_cls_token() -> String {
    "[CLS]".to_owned()
}
fn default_sep_token() -> String {
    "[SEP]".to_owned()
}

impl PairsConfig {
    /// The resolved spec pair building runs with.
    pub fn spec(&self) -> PairSpec {
        PairSpec {
            task: self.task,
            max_seq_length: self.max_seq_length,
            short_seq_prob: self.short_seq_prob,
            single_sentence: self.single_sentence,
            cls_token: self.cls_token.clone(),
            sep_token: self.sep_token.clone(),
        }
    }
}

impl Default for PairsConfig {
    fn default() -> Self {
        Self {
            task: PairTask::default(),
            max_seq_length: default_max_seq_length(),
            short_seq_prob: default_short_seq_prob(),
            rebuild_each_epoch: false,
            single_sentence: SingleSentencePolicy::default(),
            negative_pool: default_negative_pool(),
            cls_token: default_cls_token(),
            sep_token: default_sep_token(),
        }
    }
}

fn default_max_seq_length() -> u32 {
    512
}
fn default_short_seq_prob() -> f64 {
    0.1
}
fn default_negative_pool() -> u32 {
    10_000
}

/// Masking (masking.md sections 6-8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// What a masking unit is.
    #[serde(default)]
    pub strategy: MaskStrategy,
    /// `p`, the share of the budget unit to mask.
    #[serde(default = "default_mask_probability")]
    pub probability: f64,
    /// `M`, the most masked tokens per example. Absent (or 0) in a pipeline file, it is derived
    /// from `pairs.max_seq_length` when the file is read: [`MaskingConfig::derived_max_predictions`].
    #[serde(default)]
    pub max_predictions: u32,
    /// Whether `p` counts tokens or words.
    #[serde(default)]
    pub budget_unit: BudgetUnit,
    /// Whether the replacement kind is drawn per token or once per chosen word.
    #[serde(default)]
    pub replacement_unit: ReplacementUnit,
    /// Probabilities of the four replacement kinds; they sum to 1.
    #[serde(default)]
    pub replace: ReplaceProbabilities,
    /// Longest n-gram (n-gram, MacBERT sequential and span strategies).
    #[serde(default = "default_ngram_max")]
    pub ngram_max: u32,
    /// Weights of n = 1..=ngram_max; default `1/n` (ALBERT). MacBERT uses `[0.4, 0.3, 0.2, 0.1]`.
    pub ngram_weights: Option<Vec<f64>>,
    /// SpanBERT's geometric parameter for the `span` strategy.
    #[serde(default = "default_span_p")]
    pub span_p: f64,
    /// Synonym table for MacBERT similar-word replacement (path or URL).
    pub synonyms: Option<String>,
    /// Pool of random replacement tokens.
    #[serde(default)]
    pub random_pool: RandomPool,
    /// The mask token of the vocabulary.
    #[serde(default = "default_mask_token")]
    pub mask_token: String,
}

impl MaskingConfig {
    /// BERT's share of predictions per sequence, 20 for 128 tokens and 80 for 512: 5/32 of
    /// `max_seq_length` (about 15 %), rounded up, at least 1.
    pub fn derived_max_predictions(max_seq_length: u32) -> u32 {
        (u64::from(max_seq_length) * 5).div_ceil(32).max(1) as u32
    }

    /// The resolved spec masking runs with (the default n-gram weights filled in; the synonym
    /// table's location is not part of it).
    pub fn spec(&self) -> MaskSpec {
        let r = &self.replace;
        MaskSpec {
            strategy: self.strategy,
            probability: self.probability,
            max_predictions: self.max_predictions,
            budget_unit: self.budget_unit,
            replacement_unit: self.replacement_unit,
            replace: ReplaceShares {
                mask: r.mask,
                similar: r.similar,
                random: r.random,
                keep: r.keep,
            },
            ngram_weights: self
                .ngram_weights
                .clone()
                .unwrap_or_else(|| MaskSpec::default_ngram_weights(self.ngram_max)),
            span_p: self.span_p,
            random_pool: self.random_pool,
            mask_token: self.mask_token.clone(),
        }
    }
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            strategy: MaskStrategy::default(),
            probability: default_mask_probability(),
            // Derived from pairs.max_seq_length when the pipeline file is read.
            max_predictions: 0,
            budget_unit: BudgetUnit::default(),
            replacement_unit: ReplacementUnit::default(),
            replace: ReplaceProbabilities::default(),
            ngram_max: default_ngram_max(),
            ngram_weights: None,
            span_p: default_span_p(),
            synonyms: None,
            random_pool: RandomPool::default(),
            mask_token: default_mask_token(),
        }
    }
}

fn default_mask_probability() -> f64 {
    0.15
}
fn default_ngram_max() -> u32 {
    3
}
fn default_span_p() -> f64 {
    0.2
}
fn default_mask_token() -> String {
    "[MASK]".to_owned()
}

/// Probabilities of the replacement kinds of a chosen position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceProbabilities {
    /// Replace with the mask token.
    #[serde(default = "default_mask_share")]
    pub mask: f64,
    /// Replace with a similar word of the same token length (MacBERT).
    #[serde(default)]
    pub similar: f64,
    /// Replace with random tokens.
    #[serde(default = "default_tenth")]
    pub random: f64,
    /// Keep the original tokens.
    #[serde(default = "default_tenth")]
    pub keep: f64,
}

impl Default for ReplaceProbabilities {
    fn default() -> Self {
        Self {
            mask: 0.8,
            similar: 0.0,
            random: 0.1,
            keep: 0.1,
        }
    }
}

fn default_mask_share() -> f64 {
    0.8
}
fn default_tenth() -> f64 {
    0.1
}

/// Output locations and sharding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Root URL; the documents dataset goes to `<url>/documents/`, epoch E to `<url>/epochs/E/`.
    #[serde(default = "default_output_url")]
    pub url: String,
    /// A documents shard is closed once its uncompressed payload passes this many bytes.
    #[serde(default = "default_shard_bytes")]
    pub documents_shard_bytes: u64,
    /// Rows per Parquet row group (streaming granularity for readers).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: u32,
    /// zstd level of the Parquet pages.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// Also store the cleaned text of each document (for debugging and `inspect`).
    #[serde(default)]
    pub keep_text: bool,
    /// Number of shards of an epoch's examples dataset.
    #[serde(default = "default_example_shards")]
    pub example_shards: u32,
    /// Upper bounds (tokens) of the length bins of an epoch; empty means no binning.
    #[serde(default)]
    pub length_bins: Vec<u32>,
    /// Fraction of the documents held out as the validation split (`epochs/E/validation/`),
    /// chosen by a keyed hash of the seed and `doc_id`: the same documents in every epoch.
    #[serde(default)]
    pub validation_fraction: f64,
    /// Fraction of the documents held out as the test split (`epochs/E/test/`).
    #[serde(default)]
    pub test_fraction: f64,
    /// Shards of each held-out split (0: `example_shards` times the split's fraction, rounded
    /// up).
    #[serde(default)]
    pub split_shards: u32,
    /// Memory the epoch shuffle may hold before it spills, in MiB.
    #[serde(default = "default_shuffle_memory_mb")]
    pub shuffle_memory_mb: u32,
    /// Local folder for spill files and the one-process epoch exchange; default `$TMPDIR`.
    /// A rerun removes what killed runs of the same output left there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp_dir: Option<String>,
}

impl OutputConfig {
    /// Whether documents are split off for validation or test.
    pub fn splits_documents(&self) -> bool {
        self.validation_fraction > 0.0 || self.test_fraction > 0.0
    }

    /// The shards of a held-out split holding `fraction` of the documents.
    pub fn held_out_shards(&self, fraction: f64) -> u32 {
        if self.split_shards > 0 {
            return self.split_shards;
        }
        ((f64::from(self.example_shards) * fraction).ceil() as u32)
            .min(self.example_shards)
            .max(1)
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            url: default_output_url(),
            documents_shard_bytes: default_shard_bytes(),
            row_group_rows: default_row_group_rows(),
            zstd_level: default_zstd_level(),
            keep_text: false,
            example_shards: default_example_shards(),
            length_bins: Vec::new(),
            validation_fraction: 0.0,
            test_fraction: 0.0,
            split_shards: 0,
            shuffle_memory_mb: default_shuffle_memory_mb(),
            temp_dir: None,
        }
    }
}

fn default_output_url() -> String {
    "out".to_owned()
}
fn default_shard_bytes() -> u64 {
    128 << 20
}
fn default_row_group_rows() -> u32 {
    1024
}
fn default_zstd_level() -> i32 {
    3
}
fn default_example_shards() -> u32 {
    8
}
fn default_shuffle_memory_mb() -> u32 {
    1024
}
