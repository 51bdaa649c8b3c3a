//! Publishing an epoch: the vocabulary and the manifest written last (by one worker only, with
//! a conditional create, when several finish one run), then the exchange and the shards of the
//! replaced epoch removed; and reading back what is published.

use super::EXCHANGE_FOLDER;
use super::EpochReport;
use super::plan::EpochPlan;
use crate::lease::Lease;
use crate::workers::Workers;
use crate::{PipelineError, dataset};
use maskforge_schema::{
    Dataset, EpochStats, ExamplesManifest, FileEntry, ShardEntry, Split, SplitSection, TOOL_VERSION, VOCAB_FILE,
    VocabEntry, examples,
};
use maskforge_store::{Location, StoreError, sha256_hex};
use std::collections::BTreeSet;

impl EpochPlan {
    /// The report of `manifest`, published in this plan's dataset.
    pub fn report(&self, manifest: ExamplesManifest) -> EpochReport {
        EpochReport {
            dataset_url: self.dataset.url(),
            manifest,
        }
    }
}

/// The manifest published in the plan's dataset, if any.
pub async fn published(plan: &EpochPlan) -> Result<Option<ExamplesManifest>, PipelineError> {
    Ok(Dataset::<ExamplesManifest>::open_published(plan.dataset.clone())
        .await?
        .map(Dataset::into_manifest))
}

/// The report of the epoch another worker published for this plan.
pub fn read_back(plan: &EpochPlan, handle: &tokio::runtime::Handle) -> Result<EpochReport, PipelineError> {
    let manifest = handle
        .block_on(published(plan))?
        .filter(|m| m.config_hash == plan.config_hash)
        .ok_or_else(|| PipelineError::Internal("the manifest disappeared after publication".into()))?;
    Ok(plan.report(manifest))
}

/// The shard paths an earlier manifest at `location` lists, read leniently (a damaged manifest
/// still names its shards where its JSON parses): what a new epoch here replaces.
pub async fn listed_shards(location: &Location) -> Result<BTreeSet<String>, PipelineError> {
    let bytes = match location.read().await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(BTreeSet::new()),
        Err(e) => return Err(e.into()),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let sections = [&value, &value["validation"], &value["test"]];
    Ok(sections
        .into_iter()
        .filter_map(|section| section["shards"].as_array())
        .flatten()
        .filter_map(|s| s["path"].as_str().map(str::to_owned))
        .collect())
}

/// What one split of a built epoch holds.
pub struct SplitOutput {
    /// The split.
    pub split: Split,
    /// Its shards, in `example_id` order.
    pub shards: Vec<ShardEntry>,
    /// Its statistics.
    pub stats: EpochStats,
}

/// Writes the vocabulary and the manifest of the built epoch, then removes the exchange and
/// the replaced epoch's shards and releases the lease. When another worker published first,
/// its manifest is the report.
pub fn publish(
    plan: &EpochPlan,
    lease: Lease,
    outputs: Vec<SplitOutput>,
    workers: Workers,
    handle: &tokio::runtime::Handle,
) -> Result<EpochReport, PipelineError> {
    let (dataset, manifest_location) = (&plan.dataset, &plan.manifest_location);
    let vocab_text = plan.tokens.join("\n") + "\n";
    let (mut shards, mut stats, mut validation, mut test) = (Vec::new(), EpochStats::default(), None, None);
    for output in outputs {
        let section = SplitSection {
            shards: output.shards,
            stats: output.stats,
        };
        match output.split {
            Split::Train => (shards, stats) = (section.shards, section.stats),
            Split::Validation => validation = Some(section),
            Split::Test => test = Some(section),
        }
    }
    let manifest = ExamplesManifest {
        schema_version: examples::SCHEMA_VERSION.to_owned(),
        tool_version: TOOL_VERSION.to_owned(),
        documents_manifest_sha256: plan.documents.manifest_sha256().to_owned(),
        config_hash: plan.config_hash.clone(),
        config: plan.content.clone(),
        spec: Some(plan.spec.clone()),
        seed: plan.seed,
        epoch: plan.epoch,
        pair_epoch: plan.pair_epoch,
        tokenizer_hash: plan.tokenizer_hash.clone(),
        synonyms_hash: plan.synonyms_hash.clone(),
        vocab: VocabEntry {
            path: VOCAB_FILE.to_owned(),
            size: plan.tokens.len() as u64,
            sha256: sha256_hex(vocab_text.as_bytes()),
        },
        files: plan
            .model_files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
        shards,
        stats,
        split: plan.split,
        validation,
        test,
    };
    let all_shards: Vec<ShardEntry> = manifest.all_shards().cloned().collect();
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| PipelineError::Internal(e.to_string()))?;
    let created = handle.block_on(async {
        dataset::verify_shards(dataset, &all_shards, false)
            .await
            .map_err(|problem| {
                PipelineError::input(
                    &manifest_location.url(),
                    format!("not published: {problem}; run the epoch again"),
                )
            })?;
        lease.check().await?;
        dataset.join(VOCAB_FILE).write(vocab_text.into()).await?;
        for (path, bytes) in &plan.model_files {
            dataset.join(path).write(bytes.clone().into()).await?;
        }
        if workers.count > 1 {
            Ok::<_, PipelineError>(manifest_location.create(json.into()).await?)
        } else {
            manifest_location.write(json.into()).await?;
            Ok(true)
        }
    })?;
    if !created {
        handle.block_on(lease.release(false))?;
        return read_back(plan, handle);
    }
    handle.block_on(async {
        dataset.join(EXCHANGE_FOLDER).delete_all().await?;
        let keep: Vec<&str> = all_shards.iter().map(|s| s.path.as_str()).collect();
        dataset::remove_replaced(dataset, &lease.replaces().await?, &keep).await?;
        lease.release(true).await
    })?;
    for split in Split::ALL {
        if let Some((_, stats)) = manifest.section(split)
            && stats.examples == 0
        {
            log::warn!(
                "{}: the {} split holds no example (its documents gave none); a trainer refuses it",
                dataset.url(),
                split.name()
            );
        }
    }
    if manifest.stats.examples < manifest.shards.len() as u64 {
        log::warn!(
            "{}: {} examples in {} shards; some shards are empty (lower output.example_shards)",
            dataset.url(),
            manifest.stats.examples,
            manifest.shards.len()
        );
    }
    Ok(plan.report(manifest))
}
