//! Value checks that serde cannot express: ranges, sums and combinations of keys.

use crate::model::{MaskStrategy, PipelineConfig, ReplacementUnit, SourceFormat, TextLayout};

/// The most shards an epoch may have (each is a file and a reducer's unit of work).
pub const MAX_EXAMPLE_SHARDS: u32 = 100_000;
/// The largest documents shard payload: a shard is encoded in memory.
pub const MAX_DOCUMENTS_SHARD_BYTES: u64 = 4 << 30;
/// The most rows of a Parquet row group.
pub const MAX_ROW_GROUP_ROWS: u32 = 1 << 20;
/// The most memory the shuffle may be given, in MiB (1 TiB).
pub const MAX_SHUFFLE_MEMORY_MB: u32 = 1 << 20;
/// The largest NSP negative pool (documents per partition).
pub const MAX_NEGATIVE_POOL: u32 = 10_000_000;
/// The largest record a source may accept (1 GiB).
pub const MAX_RECORD_BYTES: u64 = 1 << 30;
/// The smallest unit of work (1 KiB): below it, markers and shards outnumber documents.
pub const MIN_UNIT_BYTES: u64 = 1 << 10;
/// The largest unit of work (1 TiB).
pub const MAX_UNIT_BYTES: u64 = 1 << 40;

/// The largest source weight: each unit of weight is one more copy of every document.
pub const MAX_SOURCE_WEIGHT: f64 = 1000.0;

/// One failed check: the dotted key and what is wrong.
pub type Finding = (String, String);

/// Checks every value of a typed pipeline and returns all problems found.
pub fn validate(config: &PipelineConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bad = |key: &str, message: String| out.push((key.to_owned(), message));

    if config.sources.is_empty() {
        bad("sources", "at least one [[sources]] table is needed".into());
    }
    for (i, source) in config.sources.iter().enumerate() {
        let key = |k: &str| format!("sources.{i}.{k}");
        if source.urls.is_empty() {
            bad(&key("urls"), "at least one URL or glob is needed".into());
        }
        if source.urls.iter().any(|u| u.trim().is_empty()) {
            bad(&key("urls"), "a URL is empty".into());
        }
        let tabular = match source.format {
            SourceFormat::Auto => source
                .urls
                .iter()
                .all(|u| SourceFormat::from_file_name(u).is_some_and(SourceFormat::is_tabular)),
            f => f.is_tabular(),
        };
        for (name, value) in [("text_sql", &source.text_sql), ("filter", &source.filter)] {
            if value.is_some() && !tabular {
                bad(&key(name), "SQL options apply to Parquet and CSV sources only".into());
            }
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                bad(&key(name), "is empty".into());
            }
        }
        if source.text_sql.is_some() && source.text_column.is_some() {
            bad(&key("text_sql"), "set either text_column or text_sql, not both".into());
        }
        let known_not_text = match source.format {
            SourceFormat::Auto => source
                .urls
                .iter()
                .any(|u| SourceFormat::from_file_name(u).is_some_and(|f| f != SourceFormat::Text)),
            f => f != SourceFormat::Text,
        };
        if source.text_layout != TextLayout::Paragraphs && known_not_text {
            bad(&key("text_layout"), "applies to text sources only".into());
        }
        if !(MIN_UNIT_BYTES..=MAX_UNIT_BYTES).contains(&source.unit_bytes) {
            bad(
                &key("unit_bytes"),
                format!(
                    "must be between {MIN_UNIT_BYTES} and {MAX_UNIT_BYTES}, got {}",
                    source.unit_bytes
                ),
            );
        }
        let known_not_csv = match source.format {
            SourceFormat::Auto => source
                .urls
                .iter()
                .any(|u| SourceFormat::from_file_name(u).is_some_and(|f| f != SourceFormat::Csv)),
            f => f != SourceFormat::Csv,
        };
        if !source.csv_newlines_in_values && known_not_csv {
            bad(&key("csv_newlines_in_values"), "applies to CSV sources only".into());
        }
        if !(0.0..=MAX_SOURCE_WEIGHT).contains(&source.weight) {
            bad(
                &key("weight"),
                format!("must be between 0 and {MAX_SOURCE_WEIGHT}, got {}", source.weight),
            );
        }
        if !(1..=MAX_RECORD_BYTES).contains(&source.max_record_bytes) {
            bad(
                &key("max_record_bytes"),
                format!(
                    "must be between 1 and {MAX_RECORD_BYTES}, got {}",
                    source.max_record_bytes
                ),
            );
        }
    }

    if !config.sources.is_empty() && config.sources.iter().all(|s| s.weight == 0.0) {
        bad(
            "sources",
            "every source has weight 0: an epoch would have no documents".into(),
        );
    }

    let tok = &config.text.tokenizer;
    if tok.path.trim().is_empty() {
        bad("text.tokenizer.path", "is empty".into());
    }
    let is_vocab_json = tok.path.ends_with("vocab.json");
    if is_vocab_json && tok.merges.is_none() {
        bad(
            "text.tokenizer.merges",
            "a GPT-2 style vocab.json needs its merges.txt".into(),
        );
    }
    if tok.merges.is_some() && !is_vocab_json {
        bad(
            "text.tokenizer.merges",
            "merges apply only with a GPT-2 style vocab.json".into(),
        );
    }
    if tok.lowercase.is_some() && !tok.path.ends_with(".txt") {
        bad(
            "text.tokenizer.lowercase",
            "applies only to a vocab.txt; a tokenizer.json carries its own normalizer".into(),
        );
    }

    let pairs = &config.pairs;
    if !(8..=u16::MAX as u32).contains(&pairs.max_seq_length) {
        bad(
            "pairs.max_seq_length",
            format!("must be between 8 and 65535, got {}", pairs.max_seq_length),
        );
    }
    if !(0.0..=1.0).contains(&pairs.short_seq_prob) {
        bad(
            "pairs.short_seq_prob",
            format!("must be between 0 and 1, got {}", pairs.short_seq_prob),
        );
    }
    for (key, token) in [
        ("pairs.cls_token", &pairs.cls_token),
        ("pairs.sep_token", &pairs.sep_token),
    ] {
        if token.is_empty() {
            bad(key, "is empty".into());
        }
    }
    if !(1..=MAX_NEGATIVE_POOL).contains(&pairs.negative_pool) {
        bad(
            "pairs.negative_pool",
            format!("must be between 1 and {MAX_NEGATIVE_POOL}, got {}", pairs.negative_pool),
        );
    }

    let m = &config.masking;
    if !(m.probability > 0.0 && m.probability < 1.0) {
        bad(
            "masking.probability",
            format!("must be between 0 and 1 (exclusive), got {}", m.probability),
        );
    }
    if m.max_predictions == 0 || m.max_predictions > pairs.max_seq_length {
        bad(
            "masking.max_predictions",
            format!(
                "must be between 1 and pairs.max_seq_length ({}), got {}",
                pairs.max_seq_length, m.max_predictions
            ),
        );
    }
    let r = &m.replace;
    let shares = [
        ("mask", r.mask),
        ("similar", r.similar),
        ("random", r.random),
        ("keep", r.keep),
    ];
    for (name, p) in shares {
        if !(0.0..=1.0).contains(&p) {
            bad(
                &format!("masking.replace.{name}"),
                format!("must be between 0 and 1, got {p}"),
            );
        }
    }
    let sum: f64 = shares.iter().map(|(_, p)| p).sum();
    if (sum - 1.0).abs() > 1e-9 {
        bad(
            "masking.replace",
            format!("mask + similar + random + keep must be 1, got {sum}"),
        );
    }
    if r.similar > 0.0 && m.replacement_unit != ReplacementUnit::Word {
        bad(
            "masking.replacement_unit",
            "similar-word replacement needs replacement_unit = \"word\"".into(),
        );
    }
    if r.similar > 0.0 && m.synonyms.is_none() {
        bad(
            "masking.synonyms",
            "similar-word replacement (masking.replace.similar > 0) needs a synonym table".into(),
        );
    }
    if m.ngram_max == 0 || m.ngram_max > 16 {
        bad(
            "masking.ngram_max",
            format!("must be between 1 and 16, got {}", m.ngram_max),
        );
    }
    if let Some(w) = &m.ngram_weights {
        if w.len() != m.ngram_max as usize {
            bad(
                "masking.ngram_weights",
                format!("needs {} weights (masking.ngram_max), got {}", m.ngram_max, w.len()),
            );
        }
        if w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || w.iter().sum::<f64>() <= 0.0 {
            bad(
                "masking.ngram_weights",
                "weights must be non-negative with a positive sum".into(),
            );
        }
        if !matches!(m.strategy, MaskStrategy::Ngram | MaskStrategy::MacbertSequential) {
            bad(
                "masking.ngram_weights",
                "applies to the ngram and macbert_sequential strategies only".into(),
            );
        }
    }
    if !(m.span_p > 0.0 && m.span_p < 1.0) {
        bad(
            "masking.span_p",
            format!("must be between 0 and 1 (exclusive), got {}", m.span_p),
        );
    }
    if m.mask_token.is_empty() {
        bad("masking.mask_token", "is empty".into());
    }

    let o = &config.output;
    if o.url.trim().is_empty() {
        bad("output.url", "is empty".into());
    }
    if !(1024..=MAX_DOCUMENTS_SHARD_BYTES).contains(&o.documents_shard_bytes) {
        bad(
            "output.documents_shard_bytes",
            format!(
                "must be between 1024 and {MAX_DOCUMENTS_SHARD_BYTES} (a shard is built in memory), got {}",
                o.documents_shard_bytes
            ),
        );
    }
    if !(1..=MAX_ROW_GROUP_ROWS).contains(&o.row_group_rows) {
        bad(
            "output.row_group_rows",
            format!("must be between 1 and {MAX_ROW_GROUP_ROWS}, got {}", o.row_group_rows),
        );
    }
    if !(1..=22).contains(&o.zstd_level) {
        bad(
            "output.zstd_level",
            format!("must be between 1 and 22, got {}", o.zstd_level),
        );
    }
    if !(1..=MAX_EXAMPLE_SHARDS).contains(&o.example_shards) {
        bad(
            "output.example_shards",
            format!("must be between 1 and {MAX_EXAMPLE_SHARDS}, got {}", o.example_shards),
        );
    }
    for (key, fraction) in [
        ("output.validation_fraction", o.validation_fraction),
        ("output.test_fraction", o.test_fraction),
    ] {
        if !(0.0..1.0).contains(&fraction) {
            bad(key, format!("must be at least 0 and below 1, got {fraction}"));
        }
    }
    if o.validation_fraction + o.test_fraction >= 1.0 {
        bad(
            "output.test_fraction",
            format!(
                "validation_fraction + test_fraction must be below 1 (train needs documents), got {}",
                o.validation_fraction + o.test_fraction
            ),
        );
    }
    if o.split_shards > MAX_EXAMPLE_SHARDS {
        bad(
            "output.split_shards",
            format!("must be at most {MAX_EXAMPLE_SHARDS}, got {}", o.split_shards),
        );
    }
    if o.length_bins.first() == Some(&0) {
        bad("output.length_bins", "bin bounds must be positive".into());
    }
    if o.length_bins.len() > 255 {
        bad(
            "output.length_bins",
            format!("at most 255 bins, got {}", o.length_bins.len()),
        );
    }
    if o.length_bins.windows(2).any(|w| w[0] >= w[1]) {
        bad("output.length_bins", "bin bounds must increase".into());
    }
    if o.length_bins.last().is_some_and(|&b| b > pairs.max_seq_length) {
        bad(
            "output.length_bins",
            "the last bound cannot exceed pairs.max_seq_length".into(),
        );
    }
    if !(1..=MAX_SHUFFLE_MEMORY_MB).contains(&o.shuffle_memory_mb) {
        bad(
            "output.shuffle_memory_mb",
            format!(
                "must be between 1 and {MAX_SHUFFLE_MEMORY_MB}, got {}",
                o.shuffle_memory_mb
            ),
        );
    }
    if let Some(dir) = &o.temp_dir {
        let remote = dir.contains("://") && !dir.starts_with("file://");
        if dir.trim().is_empty() || remote {
            bad(
                "output.temp_dir",
                format!("must be a local folder (spill files are local), got {dir:?}"),
            );
        }
    }
    out
}
