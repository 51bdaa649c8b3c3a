//! The epoch job: from the documents dataset, the examples of epoch E. Documents are read in
//! dataset order into data-defined partitions; each partition's pairs are built and masked on the
//! rayon pool (keys depend only on documents and the epoch); every example gets a keyed random
//! rank; an external sort orders them (by length bin, then rank); shards of balanced sizes are
//! written in that order; the manifest comes last.

mod codec;
mod documents;
mod partition;
mod shuffle;
mod writer;

use crate::progress::Progress;
use crate::{PipelineError, dataset, resources};
use documents::OwnedDocument;
use maskforge_config::{PairTask, PipelineConfig};
use maskforge_masking::{
    Instance, MaskStats, Masker, Packer, PairStats, Purpose, SIMILAR_FALLBACKS, SimilarWords, SpecialTokenNames,
    SynonymTable, Vocabulary, keyed_u64, pair_instances,
};
use maskforge_schema::{
    CONFIG_HASH_KEY, EpochStats, ExamplesManifest, MANIFEST_FILE, SCHEMA_VERSION_KEY, TOOL_VERSION, VOCAB_FILE,
    VocabEntry, examples,
};
use maskforge_store::{Location, ShardOptions, sha256_hex};
use maskforge_text::TextTokenizer;
use partition::{Partitions, partition_count};
use rayon::prelude::*;
use shuffle::{ExternalSorter, SortKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use writer::{ExamplesWriter, Placed, balanced};

/// How to run the job (nothing here changes the output).
pub struct EpochOptions {
    /// Worker threads.
    pub threads: usize,
    /// Progress receiver (bytes of document shards read, documents).
    pub progress: Arc<dyn Progress>,
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
    let processor = handle.block_on(resources::load_text_processor(config))?;
    let (current, _) = dataset::documents_config(config, &processor);
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
    let tokenizer = processor.tokenizer();
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
    let (similar, synonyms_hash) = handle.block_on(similar_words(config, tokenizer))?;
    let masker = Masker::new(&config.masking, vocab.clone(), similar, config.seed);
    let pool = dataset::worker_pool(options.threads)?;
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
    handle.block_on(manifest_location.delete())?;

    let spill = tempfile::Builder::new()
        .prefix("maskforge-epoch-")
        .tempdir()
        .map_err(|e| PipelineError::Internal(format!("cannot create a spill folder: {e}")))?;

    let started = std::time::Instant::now();
    let phase = |name: &str| log::debug!("epoch {epoch}: {name} done at {:.2}s", started.elapsed().as_secs_f64());
    // 1. Documents into partitions.
    options
        .progress
        .begin(documents_manifest.shards.iter().map(|s| s.bytes).sum());
    let mut partitions = Partitions::new(
        partition_count(documents_manifest.counts.documents_out, config.pairs.negative_pool),
        spill.path(),
    )?;
    let mut documents_in = 0u64;
    for shard in &documents_manifest.shards {
        let mut failed = None;
        let before = documents_in;
        handle.block_on(documents::read_shard(&documents_dir, shard, |doc| {
            documents_in += 1;
            if failed.is_none()
                && let Err(e) = partitions.push(doc)
            {
                failed = Some(e);
            }
        }))?;
        if let Some(e) = failed {
            return Err(e);
        }
        options.progress.advance(shard.bytes, documents_in - before);
    }
    options.progress.end();

    phase("reading documents");
    // 2. Pairs and masks per partition, ranked into the external sort.
    let bins = Bins::new(&config.output.length_bins, config.pairs.max_seq_length);
    let binned = !config.output.length_bins.is_empty();
    let mut bin_counts = vec![0u64; bins.count()];
    let mut sorter = ExternalSorter::new(config.output.shuffle_memory_mb as usize * (1 << 20), spill.path());
    let mut pair_stats = PairStats::default();
    let mut mask_stats = MaskStats::default();
    let mut lengths: BTreeMap<u32, u64> = BTreeMap::new();
    partitions.for_each(|docs| {
        let instances = pool.install(|| build_instances(&docs, config, pair_epoch, vocab.sep, &mut pair_stats));
        drop(docs);
        // Masking, ranking and encoding run in parallel; the sort does not care about order.
        let ranked: Vec<(SortKey, Vec<u8>, usize, MaskStats)> = pool.install(|| {
            instances
                .par_iter()
                .map(|inst| {
                    let mut stats = MaskStats::default();
                    let example = masker.mask_instance(inst, epoch, &mut stats);
                    let length = example.input_ids.len();
                    let bin = if binned { bins.of(length) } else { 0 };
                    let rank = keyed_u64(config.seed, Purpose::Shuffle, epoch, example.key);
                    let mut payload = Vec::with_capacity(length * 10 + 64);
                    codec::put_example(&mut payload, &example);
                    (
                        SortKey {
                            bin,
                            rank,
                            key: example.key,
                        },
                        payload,
                        length,
                        stats,
                    )
                })
                .collect()
        });
        for (key, payload, length, stats) in ranked {
            mask_stats.merge(&stats);
            bin_counts[key.bin as usize] += 1;
            *lengths.entry((length as u32).div_ceil(64) * 64).or_default() += 1;
            sorter.push(key, payload)?;
        }
        Ok(())
    })?;

    phase("pairs, masks and ranks");
    // 3. Balanced shards in the shuffled order.
    let shard_options = ShardOptions {
        zstd_level: config.output.zstd_level,
        row_group_rows: config.output.row_group_rows as usize,
        metadata: vec![
            (SCHEMA_VERSION_KEY.to_owned(), examples::SCHEMA_VERSION.to_owned()),
            (CONFIG_HASH_KEY.to_owned(), config_hash.clone()),
        ],
    };
    let nsp = config.pairs.task == PairTask::Nsp;
    let sop = config.pairs.task == PairTask::Sop;
    let writer = ExamplesWriter::new(shard_options, binned, nsp, sop);
    let mut jobs: Vec<(String, Option<u8>, u64)> = Vec::new();
    for (bin, &count) in bin_counts.iter().enumerate() {
        if binned && count == 0 {
            continue;
        }
        for (k, rows) in balanced(count, config.output.example_shards).into_iter().enumerate() {
            let path = if binned {
                format!("bin-{bin:02}/part-{k:05}.parquet")
            } else {
                format!("part-{k:05}.parquet")
            };
            jobs.push((path, binned.then_some(bin as u8), rows));
        }
    }
    // Shards are filled in order from the merge, then encoded a wave of `threads` at a time.
    let mut sorted = sorter.finish()?;
    let mut example_id = 0u64;
    let mut written = Vec::with_capacity(jobs.len());
    for wave in jobs.chunks(pool.current_num_threads()) {
        let mut filled = Vec::with_capacity(wave.len());
        for (path, bin, rows) in wave {
            let mut placed = Vec::with_capacity(*rows as usize);
            for _ in 0..*rows {
                let (key, payload) = sorted.next().ok_or_else(|| {
                    PipelineError::Internal("the shuffle returned fewer examples than it was given".into())
                })??;
                let example = codec::get_example(&mut codec::Reader::new(&payload))
                    .ok_or_else(|| PipelineError::Internal("a spilled example cannot be decoded".into()))?;
                placed.push(Placed {
                    example_id,
                    bin: key.bin,
                    example,
                });
                example_id += 1;
            }
            filled.push((path, *bin, placed));
        }
        let encoded: Vec<Result<(maskforge_schema::ShardEntry, bytes::Bytes), PipelineError>> = pool.install(|| {
            filled
                .par_iter()
                .map(|(path, bin, rows)| writer.encode(path, *bin, rows))
                .collect()
        });
        for result in encoded {
            let (entry, bytes) = result?;
            handle.block_on(dataset.join(&entry.path).write(bytes))?;
            written.push(entry);
        }
    }

    phase("writing shards");
    // 4. The vocabulary and the manifest, last.
    let vocab_text = tokens.join("\n") + "\n";
    let vocab_entry = VocabEntry {
        path: VOCAB_FILE.to_owned(),
        size: vocab.len() as u64,
        sha256: sha256_hex(vocab_text.as_bytes()),
    };
    let stats = epoch_stats(
        documents_in,
        &pair_stats,
        &mask_stats,
        &lengths,
        binned.then_some(&bin_counts),
    );
    let manifest = ExamplesManifest {
        schema_version: examples::SCHEMA_VERSION.to_owned(),
        tool_version: TOOL_VERSION.to_owned(),
        documents_manifest_sha256: sha256_hex(&manifest_bytes),
        config_hash,
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
    handle.block_on(async {
        dataset.join(VOCAB_FILE).write(vocab_text.into()).await?;
        dataset::publish(&manifest_location, &manifest).await?;
        let keep: Vec<&str> = manifest.shards.iter().map(|s| s.path.as_str()).collect();
        dataset::remove_stale_shards(&dataset, &keep).await
    })?;
    Ok(EpochReport {
        dataset_url: dataset.url(),
        manifest,
    })
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
    let similar = SimilarWords::build(&table, |word| {
        let ids = tokenizer.encode(word).ok()?.get_ids().to_vec();
        (!ids.iter().any(|id| Some(*id) == unk)).then_some(ids)
    });
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
