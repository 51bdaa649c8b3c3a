//! What an epoch run decides before any work: the documents it reads (checked against the
//! pipeline's text configuration), the masker, the content configuration and its hash, the
//! resolved specs, the split, and the run's identity; and [`EpochJob`], what the phases share.

use super::mixture::Mixture;
use crate::scratch::Scratch;
use crate::{PipelineError, dataset, resources};
use maskforge_config::PipelineConfig;
use maskforge_masking::Masker;
use maskforge_schema::{Dataset, DocumentsManifest, EpochSpec, MANIFEST_FILE, Split, SplitSpec};
use maskforge_store::{Location, sha256_hex};

/// The resolved inputs of one epoch.
pub struct EpochPlan {
    /// The epoch.
    pub epoch: u32,
    /// Seed of every keyed random stream.
    pub seed: u64,
    /// The epoch the pairs are built for (0 when pairs are static).
    pub pair_epoch: u32,
    /// The documents dataset.
    pub documents: Dataset<DocumentsManifest>,
    /// The examples dataset's folder (`<output>/epochs/<epoch>`).
    pub dataset: Location,
    /// Its `manifest.json`.
    pub manifest_location: Location,
    /// The tokenizer's vocabulary, one token per id (stored as `vocab.txt`).
    pub tokens: Vec<String>,
    /// Hex SHA-256 of the tokenizer files.
    pub tokenizer_hash: String,
    /// The files for outside trainers (Hugging Face tokenizer, model hints): name and bytes.
    pub model_files: Vec<(String, Vec<u8>)>,
    /// Hex SHA-256 of the synonym table, when similar-word replacement is on.
    pub synonyms_hash: Option<String>,
    /// The masker of the epoch.
    pub masker: Masker,
    /// The resolved pair and mask specs.
    pub spec: EpochSpec,
    /// How documents are split into train, validation and test (`None`: all train).
    pub split: Option<SplitSpec>,
    /// The source weights and the source of every documents shard.
    pub mixture: Mixture,
    /// The epoch's content configuration (no locations) and its hash.
    pub content: serde_json::Value,
    /// Hex SHA-256 of `content`.
    pub config_hash: String,
    /// Hash of the configuration and the documents: the same for every worker of one run.
    pub identity: String,
}

impl EpochPlan {
    /// Resolves epoch `epoch` of `config`: reads the documents manifest and checks that the
    /// documents were made with this text configuration, loads the tokenizer (not jieba: only
    /// its hash is compared) and the similar-word table, and hashes the content configuration.
    pub fn resolve(
        config: &PipelineConfig,
        epoch: u32,
        handle: &tokio::runtime::Handle,
        pool: &rayon::ThreadPool,
    ) -> Result<Self, PipelineError> {
        let root = Location::parse(&config.output.url)?;
        let documents = handle.block_on(Dataset::<DocumentsManifest>::open(root.join("documents")))?;
        let started = std::time::Instant::now();
        let tokenizer = handle.block_on(resources::load_tokenizer(config))?;
        log::debug!(
            "epoch {epoch}: tokenizer loaded in {:.2}s",
            started.elapsed().as_secs_f64()
        );
        let segmentation = handle.block_on(resources::segmentation_hash(config))?;
        check_documents_config(config, &documents, tokenizer.hash(), &segmentation)?;
        // The vocabulary is stored as vocab.txt (one token a line): check that before any work.
        let tokens = tokenizer.vocabulary();
        if let Some(bad) = tokens.iter().find(|t| t.contains(['\n', '\r'])) {
            return Err(PipelineError::Resource {
                what: "text.tokenizer.path",
                location: config.text.tokenizer.path.clone(),
                message: format!("token {bad:?} contains a line break and cannot be stored in vocab.txt"),
            });
        }
        let vocab = resources::masking_vocabulary(config, &tokenizer, tokens.clone())?;
        let started = std::time::Instant::now();
        let (similar, synonyms_hash) = handle.block_on(resources::similar_words(config, &tokenizer, pool))?;
        if similar.is_some() {
            log::debug!(
                "epoch {epoch}: similar-word table built in {:.2}s",
                started.elapsed().as_secs_f64()
            );
        }
        let spec = EpochSpec {
            pairs: config.pairs.spec(),
            masking: config.masking.spec(),
        };
        let masker = Masker::new(&spec.masking, vocab, similar, config.seed);
        let mixture = Mixture::new(config, documents.manifest(), &documents.root().url(), epoch)?;
        check_splits_fill(config, &documents, &mixture)?;
        let model_files = super::model_files::model_files(config, &tokenizer, &spec)?;

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
            "documents_config_hash": documents.manifest().config_hash,
            "tokenizer_hash": tokenizer.hash(),
            "synonyms_hash": synonyms_hash,
        });
        if let Some(masking) = content["masking"].as_object_mut() {
            masking.remove("synonyms"); // a location; the table is identified by its hash
        }
        // Only a split changes the content; epochs without one keep the hash they had before.
        let output = &config.output;
        let split = output.splits_documents().then_some(SplitSpec {
            seed: config.seed,
            validation_fraction: output.validation_fraction,
            test_fraction: output.test_fraction,
        });
        if split.is_some() {
            content["output"]["validation_fraction"] = output.validation_fraction.into();
            content["output"]["test_fraction"] = output.test_fraction.into();
            content["output"]["split_shards"] = output.split_shards.into();
        }
        // Likewise only weights other than 1 do.
        if mixture.is_weighted() {
            content["weights"] = mixture.weights().into();
        }
        let config_hash = sha256_hex(content.to_string().as_bytes());
        let identity = sha256_hex(format!("{config_hash}/{}", documents.manifest_sha256()).as_bytes());
        let dataset = root.join(&format!("epochs/{epoch}"));
        Ok(Self {
            epoch,
            seed: config.seed,
            pair_epoch: if config.pairs.rebuild_each_epoch { epoch } else { 0 },
            documents,
            manifest_location: dataset.join(MANIFEST_FILE),
            dataset,
            tokens,
            tokenizer_hash: tokenizer.hash().to_owned(),
            model_files,
            synonyms_hash,
            masker,
            spec,
            split,
            mixture,
            content,
            config_hash,
            identity,
        })
    }
}

/// Refuses documents prepared with another source or text configuration, tokenizer or
/// segmentation than `config` names now.
fn check_documents_config(
    config: &PipelineConfig,
    documents: &Dataset<DocumentsManifest>,
    tokenizer_hash: &str,
    segmentation_hash: &str,
) -> Result<(), PipelineError> {
    let (current, _) = dataset::documents_config(config, tokenizer_hash, segmentation_hash);
    let prepared = &documents.manifest().config;
    let differing: Vec<&str> = ["sources", "text", "tokenizer_hash", "dictionary_hash"]
        .into_iter()
        .filter(|k| prepared.get(*k) != current.get(*k))
        .collect();
    if differing.is_empty() {
        return Ok(());
    }
    Err(PipelineError::input(
        &documents.root().url(),
        format!(
            "the documents were prepared with another text or source configuration ({} differ); run prepare again",
            differing.join(", ")
        ),
    ))
}

/// Refuses, before any work, settings under which a split would get no document: the
/// documents drawn into each split in expectation (documents times their source's weight
/// times the split's fraction) must be at least one, or the epoch would be published with an
/// empty split (a trainer then reports a loss of 0 on 0 examples).
fn check_splits_fill(
    config: &PipelineConfig,
    documents: &Dataset<DocumentsManifest>,
    mixture: &Mixture,
) -> Result<(), PipelineError> {
    let drawn = mixture.expected_draws(documents.manifest());
    let location = documents.root().url();
    if drawn < 1.0 {
        return Err(PipelineError::Resource {
            what: "sources.N.weight",
            location,
            message: format!(
                "the source weights {:?} draw {drawn:.3e} of the {} documents in expectation: the epoch would hold no example",
                mixture.weights(),
                documents.manifest().counts.documents_out
            ),
        });
    }
    let output = &config.output;
    let (v, t) = (output.validation_fraction, output.test_fraction);
    let splits = [
        (
            "train",
            1.0 - v - t,
            if v >= t {
                "output.validation_fraction"
            } else {
                "output.test_fraction"
            },
        ),
        ("validation", v, "output.validation_fraction"),
        ("test", t, "output.test_fraction"),
    ];
    for (split, fraction, key) in splits {
        let expected = drawn * fraction;
        if (split == "train" || fraction > 0.0) && expected < 1.0 {
            let message = if split == "train" {
                format!(
                    "validation_fraction {v:?} and test_fraction {t:?} leave the train split empty: \
                     {expected:.3e} of the {drawn:.0} documents drawn in expectation"
                )
            } else {
                format!(
                    "{fraction:?} leaves the {split} split empty: {expected:.3e} of the {drawn:.0} documents drawn \
                     in expectation; at least {:.3e} gives it one document (0 turns it off)",
                    1.0 / drawn
                )
            };
            return Err(PipelineError::Resource {
                what: key,
                location,
                message,
            });
        }
    }
    Ok(())
}

/// Output shards of `split` (per length bin) under `config`.
pub fn shards_of(config: &PipelineConfig, split: Split) -> u32 {
    let output = &config.output;
    match split {
        Split::Train => output.example_shards,
        Split::Validation => output.held_out_shards(output.validation_fraction),
        Split::Test => output.held_out_shards(output.test_fraction),
    }
}

/// What the phases of one epoch run share.
pub struct EpochJob<'a> {
    /// The pipeline.
    pub config: &'a PipelineConfig,
    /// The plan.
    pub plan: &'a EpochPlan,
    /// The I/O runtime.
    pub handle: &'a tokio::runtime::Handle,
    /// The CPU pool.
    pub pool: &'a rayon::ThreadPool,
    /// Local scratch space for spill files.
    pub scratch: &'a Scratch,
}
