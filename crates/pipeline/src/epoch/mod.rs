//! The epoch job: from the documents dataset, the examples of epoch E, in three phases that
//! exchange data through a folder (local for one process, the output's storage for several):
//! route (documents shards split by data-defined partition groups), map (each group's pairs
//! built and masked on the rayon pool, keyed random ranks, an external sort into one run indexed
//! by rank range) and reduce (each balanced output shard merged from the runs' ranges that hold
//! it). Keys depend only on documents and the epoch, so any split over workers writes the same
//! bytes. The manifest comes last.

mod codec;
mod documents;
mod exchange;
mod map;
mod partition;
mod reduce;
mod route;
mod shuffle;
mod writer;

use crate::lease::Lease;
use crate::progress::Progress;
use crate::scratch::Scratch;
use crate::workers::Workers;
use crate::{PipelineError, dataset, resources};
use documents::OwnedDocument;
use exchange::{Exchange, Phase, PhaseEnd};
use map::MapResult;
use maskforge_config::{PairTask, PipelineConfig};
use maskforge_masking::{
    Instance, MaskStats, Masker, Packer, PairStats, SIMILAR_FALLBACKS, SimilarWords, SpecialTokenNames, SynonymTable,
    Vocabulary, pair_instances,
};
use maskforge_schema::{
    CONFIG_HASH_KEY, DocumentsManifest, EpochStats, ExamplesManifest, MANIFEST_FILE, SCHEMA_VERSION_KEY, ShardEntry,
    TOOL_VERSION, VOCAB_FILE, VocabEntry, examples,
};
use maskforge_store::{Location, ShardOptions, sha256_hex};
use maskforge_text::TextTokenizer;
use partition::partition_count;
use rayon::prelude::*;
use reduce::{RangeStarts, ShardJob};
use route::{Grouping, RouteResult};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use writer::{ExamplesWriter, balanced};

/// Folder of an examples dataset holding the exchange between the workers of a run.
pub const EXCHANGE_FOLDER: &str = "_exchange";

/// How to run the job (nothing here changes the output).
pub struct EpochOptions {
    /// Worker threads.
    pub threads: usize,
    /// Progress receiver (bytes of document shards read, documents).
    pub progress: Arc<dyn Progress>,
    /// This process's share of the job.
    pub workers: Workers,
    /// How long a worker waits for units other workers claimed before it gives up.
    pub patience: Duration,
}

/// What a finished epoch wrote.
#[derive(Debug)]
pub struct EpochReport {
    /// URL of the examples dataset.
    pub dataset_url: String,
    /// Its manifest.
    pub manifest: ExamplesManifest,
}

/// Where an example's length falls: the first bin whose bound it does not pass.
struct Bins {
    bounds: Vec<u32>,
}

impl Bins {
    fn new(bounds: &[u32], max_seq_length: u32) -> Self {
        let mut bounds = bounds.to_vec();
        if bounds.last().is_some_and(|&b| b < max_seq_length) {
            bounds.push(max_seq_length);
        }
        Self { bounds }
    }

    fn count(&self) -> usize {
        self.bounds.len().max(1)
    }

    fn of(&self, length: usize) -> u8 {
        self.bounds.iter().position(|&b| length <= b as usize).unwrap_or(0) as u8
    }
}

/// The first epoch without a published manifest under `<output>/epochs/` (for schedules that
/// produce the next epoch's masks).
pub fn next_epoch(config: &PipelineConfig) -> Result<u32, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let epochs = Location::parse(&config.output.url)?.join("epochs");
    let prefix = epochs.path().clone();
    let published: std::collections::BTreeSet<u32> = runtime
        .block_on(epochs.list())?
        .into_iter()
        .filter_map(|meta| {
            let parts: Vec<String> = meta
                .location
                .prefix_match(&prefix)?
                .map(|p| p.as_ref().to_owned())
                .collect();
            match parts.as_slice() {
                [epoch, file] if file == MANIFEST_FILE => epoch.parse().ok(),
                _ => None,
            }
        })
        .collect();
    Ok((0..).find(|e| !published.contains(e)).unwrap_or(0))
}

/// Runs epoch `epoch` of `config`: reads `<output>/documents/`, writes `<output>/epochs/<epoch>/`.
pub fn run_epoch(config: &PipelineConfig, epoch: u32, options: &EpochOptions) -> Result<EpochReport, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let handle = runtime.handle().clone();
    let root = Location::parse(&config.output.url)?;
    let documents_dir = root.join("documents");
    let (documents_manifest, manifest_bytes) = handle.block_on(documents::read_manifest(&documents_dir))?;
    // The tokenizer, and which segmentation made the documents (jieba itself is not needed).
    let started = std::time::Instant::now();
    let tokenizer = handle.block_on(resources::load_tokenizer(config))?;
    log::debug!(
        "epoch {epoch}: tokenizer loaded in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let segmentation = handle.block_on(resources::segmentation_hash(config))?;
    let (current, _) = dataset::documents_config(config, tokenizer.hash(), &segmentation);
    let differing: Vec<&str> = ["sources", "text", "tokenizer_hash", "dictionary_hash"]
        .into_iter()
        .filter(|k| documents_manifest.config.get(*k) != current.get(*k))
        .collect();
    if !differing.is_empty() {
        return Err(PipelineError::input(
            &documents_dir.url(),
            format!(
                "the documents were prepared with another text or source configuration ({} differ); run prepare again",
                differing.join(", ")
            ),
        ));
    }
    let tokenizer = &tokenizer;
    // The vocabulary is stored as vocab.txt (one token a line): check that before any work.
    let tokens = tokenizer.vocabulary();
    if let Some(bad) = tokens.iter().find(|t| t.contains(['\n', '\r'])) {
        return Err(PipelineError::Resource {
            what: "text.tokenizer.path",
            location: config.text.tokenizer.path.clone(),
            message: format!("token {bad:?} contains a line break and cannot be stored in vocab.txt"),
        });
    }
    let vocab = vocabulary(config, tokenizer, tokens.clone())?;
    let pool = dataset::worker_pool(options.threads)?;
    let started = std::time::Instant::now();
    let (similar, synonyms_hash) = handle.block_on(similar_words(config, tokenizer, &pool))?;
    if similar.is_some() {
        log::debug!(
            "epoch {epoch}: similar-word table built in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }
    let masker = Masker::new(&config.masking, vocab.clone(), similar, config.seed);
    let pair_epoch = if config.pairs.rebuild_each_epoch { epoch } else { 0 };

    let mut content = serde_json::json!({
        "seed": config.seed,
        "pairs": config.pairs,
        "masking": config.masking,
        "output": {
            "example_shards": config.output.example_shards,
            "length_bins": config.output.length_bins,
            "row_group_rows": config.output.row_group_rows,
            "zstd_level": config.output.zstd_level,
        },
        "documents_config_hash": documents_manifest.config_hash,
        "tokenizer_hash": tokenizer.hash(),
        "synonyms_hash": synonyms_hash,
    });
    if let Some(masking) = content["masking"].as_object_mut() {
        masking.remove("synonyms"); // a location; the table is identified by its hash
    }
    let config_hash = sha256_hex(content.to_string().as_bytes());

    let dataset = root.join(&format!("epochs/{epoch}"));
    let manifest_location = dataset.join(MANIFEST_FILE);
    let documents_manifest_sha256 = sha256_hex(&manifest_bytes);
    let identity = sha256_hex(format!("{config_hash}/{documents_manifest_sha256}").as_bytes());
    let workers = options.workers;
    if workers.count > 1 {
        // Several workers finish one run; they never replace or mix with another.
        if let Some(published) = handle.block_on(read_published(&manifest_location))? {
            if published.config_hash == config_hash && published.documents_manifest_sha256 == documents_manifest_sha256
            {
                return Ok(EpochReport {
                    dataset_url: dataset.url(),
                    manifest: published,
                });
            }
            return Err(PipelineError::input(
                &manifest_location.url(),
                "this epoch was published with another configuration or documents; several workers never \
                 replace it (remove it, or run one process)",
            ));
        }
    }
    // Local scratch space (spill files; the exchange of one process), checked before anything
    // published is touched; what killed runs of this output left there is removed.
    let scratch = Scratch::create(config.output.temp_dir.as_deref(), &dataset.url())?;
    let replaces = handle.block_on(listed_shards(&manifest_location))?;
    let lease = handle.block_on(Lease::acquire(
        &dataset,
        &identity,
        replaces,
        &handle,
        options.workers.count == 1,
    ))?;

    // One process exchanges through its scratch folder; several through the output's storage.
    let exchange_root = match workers.count {
        1 => Location::parse(&scratch.path().join("exchange").to_string_lossy())?,
        _ => dataset.join(&format!("{EXCHANGE_FOLDER}/{}", &identity[..16])),
    };
    let exchange = Exchange::new(exchange_root, workers, manifest_location.clone(), options.patience);
    let job = EpochJob {
        config,
        handle: &handle,
        pool: &pool,
        masker: &masker,
        epoch,
        pair_epoch,
        sep: vocab.sep,
        config_hash: &config_hash,
        scratch: &scratch,
    };
    let output = EpochOutput {
        documents_dir: &documents_dir,
        documents: &documents_manifest,
        dataset: &dataset,
        exchange: &exchange,
        progress: options.progress.as_ref(),
        // One process replaces an earlier epoch: unpublished only when the first shard is
        // written, so that a failure before leaves it whole.
        unpublish: (workers.count == 1).then_some(&manifest_location),
    };
    let published = || -> Result<EpochReport, PipelineError> {
        let manifest = handle
            .block_on(read_published(&manifest_location))?
            .filter(|m| m.config_hash == config_hash)
            .ok_or_else(|| PipelineError::Internal("the manifest disappeared after publication".into()))?;
        Ok(EpochReport {
            dataset_url: dataset.url(),
            manifest,
        })
    };
    let (written, stats) = match build(&job, &output) {
        Ok(Some(built)) => built,
        Ok(None) => return published(),
        // Another worker may have finished and removed the exchange under this one.
        Err(e) if workers.count > 1 => return published().map_err(|_| e),
        Err(e) => return Err(e),
    };

    // 4. The vocabulary and the manifest, last; then the exchange and stale shards go.
    let vocab_text = tokens.join("\n") + "\n";
    let vocab_entry = VocabEntry {
        path: VOCAB_FILE.to_owned(),
        size: vocab.len() as u64,
        sha256: sha256_hex(vocab_text.as_bytes()),
    };
    let manifest = ExamplesManifest {
        schema_version: examples::SCHEMA_VERSION.to_owned(),
        tool_version: TOOL_VERSION.to_owned(),
        documents_manifest_sha256,
        config_hash: config_hash.clone(),
        config: content,
        seed: config.seed,
        epoch,
        pair_epoch,
        tokenizer_hash: tokenizer.hash().to_owned(),
        synonyms_hash: synonyms_hash.clone(),
        vocab: vocab_entry,
        shards: written,
        stats,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| PipelineError::Internal(e.to_string()))?;
    let created = handle.block_on(async {
        dataset::verify_shards(&dataset, &manifest.shards, false)
            .await
            .map_err(|problem| {
                PipelineError::input(
                    &manifest_location.url(),
                    format!("not published: {problem}; run the epoch again"),
                )
            })?;
        lease.check().await?;
        dataset.join(VOCAB_FILE).write(vocab_text.into()).await?;
        if workers.count > 1 {
            Ok::<_, PipelineError>(manifest_location.create(json.into()).await?)
        } else {
            manifest_location.write(json.into()).await?;
            Ok(true)
        }
    })?;
    if !created {
        handle.block_on(lease.release(false))?;
        return published();
    }
    handle.block_on(async {
        dataset.join(EXCHANGE_FOLDER).delete_all().await?;
        let keep: Vec<&str> = manifest.shards.iter().map(|s| s.path.as_str()).collect();
        dataset::remove_replaced(&dataset, &lease.replaces().await?, &keep).await?;
        lease.release(true).await
    })?;
    if manifest.stats.examples < manifest.shards.len() as u64 {
        log::warn!(
            "{}: {} examples in {} shards; some shards are empty (lower output.example_shards)",
            dataset.url(),
            manifest.stats.examples,
            manifest.shards.len()
        );
    }
    Ok(EpochReport {
        dataset_url: dataset.url(),
        manifest,
    })
}

/// Where an epoch run reads and writes.
struct EpochOutput<'a> {
    documents_dir: &'a Location,
    documents: &'a DocumentsManifest,
    dataset: &'a Location,
    exchange: &'a Exchange,
    progress: &'a dyn Progress,
    /// The earlier manifest to remove before the first shard is written (one process).
    unpublish: Option<&'a Location>,
}

/// Runs the three phases; the shards written and the statistics, or `None` when another worker
/// published the epoch meanwhile.
fn build(job: &EpochJob<'_>, output: &EpochOutput<'_>) -> Result<Option<(Vec<ShardEntry>, EpochStats)>, PipelineError> {
    let (config, handle, pool, exchange) = (job.config, job.handle, job.pool, output.exchange);
    let threads = pool.current_num_threads();
    let started = std::time::Instant::now();
    let phase_done = |name: &str| {
        log::debug!(
            "epoch {}: {name} done at {:.2}s",
            job.epoch,
            started.elapsed().as_secs_f64()
        )
    };

    // 1. Route: documents shards split by partition group.
    let grouping = Grouping::new(partition_count(
        output.documents.counts.documents_out,
        config.pairs.negative_pool,
    ));
    let shards = &output.documents.shards;
    output.progress.begin(shards.iter().map(|s| s.bytes).sum());
    let sizes: Vec<u64> = shards.iter().map(|s| s.bytes).collect();
    let end = exchange.run(handle, Phase::Route, &sizes, threads, |units| {
        pool.install(|| {
            units.par_iter().try_for_each(|&unit| {
                let shard = &shards[unit];
                let result = handle.block_on(route::route_shard(
                    output.documents_dir,
                    shard,
                    unit,
                    grouping,
                    exchange,
                ))?;
                handle.block_on(exchange.commit(Phase::Route, unit, &result))?;
                output.progress.advance(shard.bytes, result.documents);
                Ok(())
            })
        })
    })?;
    output.progress.end();
    if end == PhaseEnd::Published {
        return Ok(None);
    }
    let routed: Vec<RouteResult> = handle.block_on(exchange.results(Phase::Route, shards.len()))?;
    phase_done("route");

    // 2. Map: each group's pairs, masks and ranks into a sorted, range-indexed run.
    let group_sizes: Vec<u64> = (0..grouping.groups)
        .map(|g| routed.iter().map(|r| r.group_bytes[g]).sum())
        .collect();
    // Groups run side by side (each also masks on the pool), sharing the shuffle's memory.
    let end = exchange.run(handle, Phase::Map, &group_sizes, threads, |units| {
        pool.install(|| {
            units.par_iter().try_for_each(|&group| {
                let result = map::map_group(job, group, grouping, &routed, exchange)?;
                handle.block_on(exchange.commit(Phase::Map, group, &result))
            })
        })
    })?;
    if end == PhaseEnd::Published {
        return Ok(None);
    }
    let mapped: Vec<MapResult> = handle.block_on(exchange.results(Phase::Map, grouping.groups))?;
    phase_done("map");

    // 3. Reduce: balanced shards in the shuffled order.
    let bins = Bins::new(&config.output.length_bins, config.pairs.max_seq_length);
    let binned = !config.output.length_bins.is_empty();
    let mut stats = EpochStats {
        documents_in: routed.iter().map(|r| r.documents).sum(),
        ..EpochStats::default()
    };
    mapped.iter().for_each(|m| merge_stats(&mut stats, &m.stats));
    stats.mask_rate = if stats.tokens > 0 {
        stats.masked_tokens as f64 / stats.tokens as f64
    } else {
        0.0
    };
    let ranges = map::ranges_per_bin(config.output.example_shards);
    let bin_totals: Vec<u64> = (0..bins.count())
        .map(|b| {
            mapped
                .iter()
                .map(|m| m.counts[b * ranges..(b + 1) * ranges].iter().sum::<u64>())
                .sum()
        })
        .collect();
    let mut shard_jobs = Vec::new();
    let mut next_id = 0u64;
    for (bin, &count) in bin_totals.iter().enumerate() {
        if binned && count == 0 {
            continue;
        }
        let mut first = 0u64;
        for (k, rows) in balanced(count, config.output.example_shards).into_iter().enumerate() {
            let path = if binned {
                format!("bin-{bin:02}/part-{k:05}.parquet")
            } else {
                format!("part-{k:05}.parquet")
            };
            shard_jobs.push(ShardJob {
                path,
                bin: binned.then_some(bin as u8),
                bin_index: bin,
                first,
                rows,
                first_example_id: next_id,
            });
            first += rows;
            next_id += rows;
        }
    }
    let shard_options = ShardOptions {
        zstd_level: config.output.zstd_level,
        row_group_rows: config.output.row_group_rows as usize,
        metadata: vec![
            (SCHEMA_VERSION_KEY.to_owned(), examples::SCHEMA_VERSION.to_owned()),
            (CONFIG_HASH_KEY.to_owned(), job.config_hash.to_owned()),
        ],
    };
    let writer = ExamplesWriter::new(
        shard_options,
        binned,
        config.pairs.task == PairTask::Nsp,
        config.pairs.task == PairTask::Sop,
    );
    let starts = RangeStarts::new(&mapped, bins.count(), ranges);
    let runs = reduce::runs(exchange, grouping.groups);
    let rows: Vec<u64> = shard_jobs.iter().map(|j| j.rows).collect();
    if let Some(manifest) = output.unpublish {
        handle.block_on(manifest.delete())?;
    }
    let end = exchange.run(handle, Phase::Reduce, &rows, threads, |units| {
        pool.install(|| {
            units.par_iter().try_for_each(|&unit| {
                let entry =
                    reduce::reduce_shard(job, &shard_jobs[unit], &mapped, &starts, &writer, &runs, output.dataset)?;
                handle.block_on(exchange.commit(Phase::Reduce, unit, &entry))
            })
        })
    })?;
    if end == PhaseEnd::Published {
        return Ok(None);
    }
    let written: Vec<ShardEntry> = handle.block_on(exchange.results(Phase::Reduce, shard_jobs.len()))?;
    phase_done("reduce");
    Ok(Some((written, stats)))
}

/// What the jobs of one epoch share.
pub(crate) struct EpochJob<'a> {
    config: &'a PipelineConfig,
    handle: &'a tokio::runtime::Handle,
    pool: &'a rayon::ThreadPool,
    masker: &'a Masker,
    epoch: u32,
    pair_epoch: u32,
    sep: u32,
    config_hash: &'a str,
    scratch: &'a Scratch,
}

/// The shard paths an earlier manifest at `location` lists, read leniently (a damaged manifest
/// still names its shards where its JSON parses).
async fn listed_shards(location: &Location) -> Result<std::collections::BTreeSet<String>, PipelineError> {
    let bytes = match location.read().await {
        Ok(bytes) => bytes,
        Err(maskforge_store::StoreError::NotFound { .. }) => return Ok(Default::default()),
        Err(e) => return Err(e.into()),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(value["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str().map(str::to_owned))
        .collect())
}

/// The published manifest at `location`, if any.
async fn read_published(location: &Location) -> Result<Option<ExamplesManifest>, PipelineError> {
    match location.read().await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PipelineError::input(&location.url(), format!("not an examples manifest: {e}"))),
        Err(maskforge_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Adds the counts of `other` into `into` (the rate is computed from the totals afterwards).
fn merge_stats(into: &mut EpochStats, other: &EpochStats) {
    fn add<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, other: &BTreeMap<K, u64>) {
        for (k, v) in other {
            *into.entry(k.clone()).or_default() += v;
        }
    }
    into.documents_in += other.documents_in;
    into.examples += other.examples;
    into.tokens += other.tokens;
    into.masked_tokens += other.masked_tokens;
    into.single_sentence_chunks += other.single_sentence_chunks;
    into.truncated_examples += other.truncated_examples;
    into.truncated_tokens += other.truncated_tokens;
    add(&mut into.replacement, &other.replacement);
    add(&mut into.ngram_lengths, &other.ngram_lengths);
    add(&mut into.pair_types, &other.pair_types);
    add(&mut into.similar_fallbacks, &other.similar_fallbacks);
    add(&mut into.length_histogram, &other.length_histogram);
    add(&mut into.bins, &other.bins);
    add(&mut into.skipped, &other.skipped);
}

/// The pair (or packed) instances of one partition, in document order.
fn build_instances(
    docs: &[OwnedDocument],
    config: &PipelineConfig,
    pair_epoch: u32,
    sep: u32,
    stats: &mut PairStats,
) -> Vec<Instance> {
    let refs: Vec<_> = docs.iter().map(OwnedDocument::as_ref).collect();
    match config.pairs.task {
        PairTask::Nsp | PairTask::Sop => {
            let per_doc: Vec<(Vec<Instance>, PairStats)> = refs
                .par_iter()
                .map(|d| {
                    let mut s = PairStats::default();
                    (
                        pair_instances(*d, &refs, &config.pairs, config.seed, pair_epoch, &mut s),
                        s,
                    )
                })
                .collect();
            let mut out = Vec::new();
            for (instances, s) in per_doc {
                stats.merge(&s);
                out.extend(instances);
            }
            out
        }
        PairTask::FullSentences | PairTask::DocSentences => {
            let mut packer = Packer::new(&config.pairs, sep);
            let mut out = Vec::new();
            for d in &refs {
                out.extend(packer.push(*d, stats));
            }
            out.extend(packer.flush(stats));
            out
        }
    }
}

/// The masking view of the tokenizer's vocabulary.
fn vocabulary(
    config: &PipelineConfig,
    tokenizer: &TextTokenizer,
    tokens: Vec<String>,
) -> Result<Vocabulary, PipelineError> {
    let names = SpecialTokenNames {
        cls: config.pairs.cls_token.clone(),
        sep: config.pairs.sep_token.clone(),
        mask: config.masking.mask_token.clone(),
    };
    Vocabulary::new(tokens, &tokenizer.special_ids(), &names, config.masking.random_pool).map_err(|e| {
        PipelineError::Resource {
            what: "text.tokenizer.path",
            location: config.text.tokenizer.path.clone(),
            message: e.to_string(),
        }
    })
}

/// The similar-word table in token ids, and its hash, when similar-word replacement is on.
async fn similar_words(
    config: &PipelineConfig,
    tokenizer: &TextTokenizer,
    pool: &rayon::ThreadPool,
) -> Result<(Option<SimilarWords>, Option<String>), PipelineError> {
    let Some(location) = config
        .masking
        .synonyms
        .as_deref()
        .filter(|_| config.masking.replace.similar > 0.0)
    else {
        return Ok((None, None));
    };
    let resource_error = |message: String| PipelineError::Resource {
        what: "masking.synonyms",
        location: location.to_owned(),
        message,
    };
    let bytes = Location::parse(location)
        .map_err(|e| resource_error(e.to_string()))?
        .read()
        .await
        .map_err(|e| resource_error(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| resource_error(format!("not UTF-8: {e}")))?;
    let table = SynonymTable::parse(text).map_err(|e| resource_error(e.to_string()))?;
    let unk = tokenizer
        .token_to_id("[UNK]")
        .or_else(|| tokenizer.token_to_id("<unk>"));
    let ids = pool.install(|| {
        table
            .lexicon()
            .par_iter()
            .map(|word| {
                let ids = tokenizer.encode(word).ok()?.ids;
                (!ids.iter().any(|id| Some(*id) == unk)).then_some(ids)
            })
            .collect()
    });
    let similar = SimilarWords::from_ids(&table, ids);
    if similar.words() == 0 {
        return Err(resource_error(
            "no word of the table has a similar word the tokenizer can encode".into(),
        ));
    }
    Ok((Some(similar), Some(sha256_hex(&bytes))))
}

fn epoch_stats(
    documents_in: u64,
    pairs: &PairStats,
    masks: &MaskStats,
    lengths: &BTreeMap<u32, u64>,
    bins: Option<&Vec<u64>>,
) -> EpochStats {
    let names = ["mask", "similar", "random", "keep"];
    EpochStats {
        documents_in,
        examples: masks.examples,
        tokens: masks.tokens,
        masked_tokens: masks.masked_tokens,
        mask_rate: if masks.tokens > 0 {
            masks.masked_tokens as f64 / masks.tokens as f64
        } else {
            0.0
        },
        replacement: names
            .iter()
            .zip(masks.kinds)
            .map(|(n, c)| ((*n).to_owned(), c))
            .collect(),
        ngram_lengths: (1..masks.ngram_lengths.len())
            .filter(|&n| masks.ngram_lengths[n] > 0)
            .map(|n| (n as u32, masks.ngram_lengths[n]))
            .collect(),
        pair_types: pairs.pair_types.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        single_sentence_chunks: pairs.single_sentence_chunks,
        truncated_examples: pairs.truncated_examples,
        truncated_tokens: pairs.truncated_tokens,
        similar_fallbacks: SIMILAR_FALLBACKS
            .iter()
            .zip(masks.similar_fallbacks)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| ((*k).to_owned(), n))
            .collect(),
        length_histogram: lengths.clone(),
        bins: bins
            .map(|b| b.iter().enumerate().map(|(i, n)| (i.to_string(), *n)).collect())
            .unwrap_or_default(),
        skipped: pairs.skipped.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}
