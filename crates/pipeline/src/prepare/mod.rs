//! The prepare job: every input file (unit) is read as a stream of record batches, each batch
//! goes through the text path on the rayon pool, and the documents are written in input order to
//! the unit's Parquet shards. The manifest is written last.
//!
//! Output bytes depend only on the inputs and the configuration: batches are cut by record count
//! and size, rayon keeps the order of each batch, and units are written in listing order.
//!
//! This file is the job's protocol (resume, lease, units, publish); `unit.rs` runs one unit,
//! `shards.rs` writes its shards, `markers.rs` reads back what earlier runs committed.

mod markers;
mod shards;
mod unit;

use crate::lease::Lease;
use crate::progress::Progress;
use crate::units::{Piece, Unit, list_units};
use crate::workers::Workers;
use crate::{PipelineError, dataset, resources};
use markers::{Existing, UnitMarker, fingerprint, marker_location, read_manifest, read_marker, remove_markers_beyond};
use maskforge_config::PipelineConfig;
use maskforge_schema::{
    CONFIG_HASH_KEY, DocumentCounts, DocumentsManifest, InputEntry, MANIFEST_FILE, SCHEMA_VERSION_KEY, TOOL_VERSION,
    documents,
};
use maskforge_store::{Location, ShardOptions, sha256_hex};
use maskforge_text::TextProcessor;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::runtime::Handle;
use unit::UnitContext;

/// How to run the job (nothing here changes the output).
pub struct PrepareOptions {
    /// Worker threads of the text path.
    pub threads: usize,
    /// Which worker process this is.
    pub workers: Workers,
    /// Progress receiver.
    pub progress: Arc<dyn Progress>,
}

/// What a prepare process did.
#[derive(Debug)]
pub struct PrepareReport {
    /// URL of the documents dataset.
    pub dataset_url: String,
    /// The published manifest, once every unit is committed (by this or another worker).
    pub manifest: Option<DocumentsManifest>,
    /// Units committed so far, of all units.
    pub units_committed: usize,
    /// Number of units of the job.
    pub units: usize,
}

/// Runs this worker's share of the prepare job of `config` into `<output.url>/documents/`:
/// units already committed with the same input and configuration (and whose shards are intact)
/// are skipped; the worker that finds every unit committed publishes the manifest (a
/// conditional create, so exactly once), after checking every shard it lists.
pub fn prepare(config: &PipelineConfig, options: &PrepareOptions) -> Result<PrepareReport, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let handle = runtime.handle().clone();
    let job = PrepareJob::resolve(config, &handle)?;
    let existing = handle.block_on(read_manifest(&job.manifest_location))?;
    if let Some(done) = job.already_prepared(&existing, options)? {
        return Ok(job.report(Some(done), job.units.len()));
    }
    let lease = job.take_dataset(&existing, options)?;
    job.run_units(options)?;
    match job.all_committed()? {
        Ok(markers) => {
            let manifest = job.publish(markers, lease)?;
            Ok(job.report(Some(manifest), job.units.len()))
        }
        Err(committed) => {
            log::info!(
                "{committed} of {} units committed; the worker that commits the last one publishes",
                job.units.len()
            );
            handle.block_on(lease.release(false))?;
            Ok(job.report(None, committed))
        }
    }
}

/// What the job resolved before any work: the text path, the units, where the dataset goes, the
/// configuration hash and identity, and what earlier runs committed.
struct PrepareJob<'a> {
    config: &'a PipelineConfig,
    handle: &'a Handle,
    processor: TextProcessor,
    units: Vec<Unit>,
    /// Files below the input patterns whose names the store cannot represent (skipped).
    unrepresentable_names: u64,
    dataset: Location,
    manifest_location: Location,
    content: serde_json::Value,
    config_hash: String,
    /// Everything that decides the bytes: two runs of one identity write the same files.
    identity: String,
    /// The marker each unit had when the job started.
    markers: Vec<Option<UnitMarker>>,
}

impl<'a> PrepareJob<'a> {
    /// Loads the tokenizer and jieba, lists the units and reads their markers.
    fn resolve(config: &'a PipelineConfig, handle: &'a Handle) -> Result<Self, PipelineError> {
        let processor = handle.block_on(resources::load_text_processor(config))?;
        let listing = handle.block_on(list_units(config))?;
        let (units, unrepresentable_names) = (listing.units, listing.unrepresentable.len() as u64);
        let dataset = Location::parse(&config.output.url)?.join("documents");
        let (content, config_hash) =
            dataset::documents_config(config, processor.tokenizer().hash(), processor.segmenter().hash());
        let identity = sha256_hex(
            units
                .iter()
                .fold(config_hash.clone(), |acc, u| acc + "\n" + &fingerprint(u))
                .as_bytes(),
        );
        let markers = handle.block_on(async {
            let mut all = Vec::with_capacity(units.len());
            for unit in &units {
                all.push(read_marker(&marker_location(&dataset, unit.index)).await?);
            }
            Ok::<_, PipelineError>(all)
        })?;
        Ok(Self {
            config,
            handle,
            processor,
            manifest_location: dataset.join(MANIFEST_FILE),
            units,
            unrepresentable_names,
            dataset,
            content,
            config_hash,
            identity,
            markers,
        })
    }

    fn report(&self, manifest: Option<DocumentsManifest>, committed: usize) -> PrepareReport {
        PrepareReport {
            dataset_url: self.dataset.url(),
            manifest,
            units_committed: committed,
            units: self.units.len(),
        }
    }

    /// The input files of the job in order, one entry each, from one entry per piece
    /// (`entry`): the pieces of a file cut into several add up their records.
    fn inputs(&self, mut entry: impl FnMut(&Piece) -> InputEntry) -> Vec<InputEntry> {
        let mut files: Vec<InputEntry> = Vec::new();
        let mut previous: Option<&Piece> = None;
        for piece in self.units.iter().flat_map(|u| &u.pieces) {
            let next = entry(piece);
            let same_file = previous.is_some_and(|p| p.origin == piece.origin && p.file.name == piece.file.name);
            match files.last_mut() {
                Some(last) if same_file => last.records += next.records,
                _ => files.push(next),
            }
            previous = Some(piece);
        }
        files
    }

    /// The marker that committed `unit` before this run, if it still matches.
    fn committed(&self, unit: &Unit) -> Option<&UnitMarker> {
        self.markers[unit.index]
            .as_ref()
            .filter(|m| m.commits(unit, &self.config_hash))
    }

    /// The published manifest when the same job is done already: its inputs unchanged (the unit
    /// markers hold their fingerprints) and its shards all there. A damaged one is rebuilt by a
    /// single process and refused by several workers, as is any other job's dataset.
    fn already_prepared(
        &self,
        existing: &Existing,
        options: &PrepareOptions,
    ) -> Result<Option<DocumentsManifest>, PipelineError> {
        if let Existing::Published(manifest) = existing {
            let files = self.inputs(|piece| InputEntry {
                name: piece.file.name.clone(),
                bytes: piece.file.size,
                records: 0,
            });
            let current = manifest.config_hash == self.config_hash
                && manifest
                    .inputs
                    .iter()
                    .map(|i| (&i.name, i.bytes))
                    .eq(files.iter().map(|i| (&i.name, i.bytes)))
                && self.units.iter().all(|u| self.committed(u).is_some());
            if current {
                match self
                    .handle
                    .block_on(dataset::verify_shards(&self.dataset, &manifest.shards, false))
                {
                    Ok(()) => {
                        log::info!("{} is already prepared with this configuration", self.dataset.url());
                        return Ok(Some(manifest.as_ref().clone()));
                    }
                    Err(problem) if options.workers.count > 1 => {
                        return Err(PipelineError::input(
                            &self.manifest_location.url(),
                            format!(
                                "the published dataset is damaged ({problem}); rerun prepare as one process to repair it"
                            ),
                        ));
                    }
                    Err(problem) => log::warn!("{problem}: the dataset is rebuilt"),
                }
            }
        }
        if options.workers.count > 1 {
            let refusal = match existing {
                Existing::Published(_) => {
                    Some("a documents dataset of another configuration or input is published here")
                }
                Existing::Unreadable(_) => Some("the published manifest.json cannot be read"),
                Existing::Missing => None,
            };
            if let Some(refusal) = refusal {
                return Err(PipelineError::input(
                    &self.manifest_location.url(),
                    format!("{refusal}; several workers never replace it (remove it, or run one process)"),
                ));
            }
        }
        if let Existing::Unreadable(problem) = existing {
            log::warn!("{}: {problem}; the dataset is rebuilt", self.manifest_location.url());
        }
        Ok(None)
    }

    /// Takes the dataset's lease: what earlier datasets listed becomes this run's to replace.
    /// A single process then unpublishes the old manifest before touching shards, so readers
    /// see a dataset whole or not at all.
    fn take_dataset(&self, existing: &Existing, options: &PrepareOptions) -> Result<Lease, PipelineError> {
        let mut replaces: BTreeSet<String> = self
            .markers
            .iter()
            .flatten()
            .flat_map(|m| m.shards.iter().map(|s| s.path.clone()))
            .collect();
        if let Existing::Published(manifest) = existing {
            replaces.extend(manifest.shards.iter().map(|s| s.path.clone()));
        }
        let single = options.workers.count == 1;
        let lease = self.handle.block_on(Lease::acquire(
            &self.dataset,
            &self.identity,
            replaces,
            self.handle,
            single,
        ))?;
        if single {
            self.handle.block_on(self.manifest_location.delete())?;
        }
        Ok(lease)
    }

    /// Runs this worker's units one after another, skipping those committed earlier whose
    /// shards are as their marker records them; each ends with its completion marker.
    fn run_units(&self, options: &PrepareOptions) -> Result<(), PipelineError> {
        let pool = dataset::worker_pool(options.threads)?;
        let context = UnitContext {
            config: self.config,
            processor: &self.processor,
            pool: &pool,
            handle: self.handle,
            dataset: &self.dataset,
            shard_options: ShardOptions {
                zstd_level: self.config.output.zstd_level,
                row_group_rows: self.config.output.row_group_rows as usize,
                metadata: vec![
                    (SCHEMA_VERSION_KEY.to_owned(), documents::SCHEMA_VERSION.to_owned()),
                    (CONFIG_HASH_KEY.to_owned(), self.config_hash.clone()),
                ],
            },
            progress: options.progress.as_ref(),
        };
        let owners = Workers::assign(
            options.workers.count,
            &self.units.iter().map(Unit::work).collect::<Vec<_>>(),
        );
        let mine: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| owners[u.index] == options.workers.index)
            .collect();
        let my_bytes: u64 = mine.iter().map(|u| u.bytes()).sum();
        log::info!(
            "worker {} of {}: {} of {} units, {my_bytes} input bytes",
            options.workers.index,
            options.workers.count,
            mine.len(),
            self.units.len()
        );
        options.progress.begin(my_bytes);
        for unit in mine {
            if let Some(marker) = self.committed(unit) {
                match self
                    .handle
                    .block_on(dataset::verify_shards(&self.dataset, &marker.shards, true))
                {
                    Ok(()) => {
                        log::info!("{}: committed earlier, skipped", unit.describe());
                        options.progress.advance(unit.bytes(), 0);
                        continue;
                    }
                    Err(problem) => log::warn!("{problem}: {} is read again", unit.describe()),
                }
            }
            let output = context.run(unit)?;
            let marker = UnitMarker {
                config_hash: self.config_hash.clone(),
                fingerprint: fingerprint(unit),
                inputs: output.inputs,
                shards: output.shards,
                counts: output.counts,
            };
            self.handle
                .block_on(dataset::publish(&marker_location(&self.dataset, unit.index), &marker))?;
        }
        options.progress.end();
        Ok(())
    }

    /// Every unit's marker when all are committed (by any worker); otherwise how many are.
    fn all_committed(&self) -> Result<Result<Vec<UnitMarker>, usize>, PipelineError> {
        let mut markers = Vec::with_capacity(self.units.len());
        for unit in &self.units {
            let marker = self
                .handle
                .block_on(read_marker(&marker_location(&self.dataset, unit.index)))?;
            match marker.filter(|m| m.commits(unit, &self.config_hash)) {
                Some(m) => markers.push(m),
                None => return Ok(Err(markers.len())),
            }
        }
        Ok(Ok(markers))
    }

    /// Assembles the manifest from the markers and publishes it, last: every listed shard must
    /// be there as recorded and this run must still hold the lease; a conditional create that
    /// finds a manifest accepts only the same one. Then removes what this dataset replaced.
    fn publish(&self, markers: Vec<UnitMarker>, lease: Lease) -> Result<DocumentsManifest, PipelineError> {
        let mut counts = DocumentCounts::default();
        markers.iter().for_each(|m| counts.merge(&m.counts));
        counts.unrepresentable_names = self.unrepresentable_names;
        let manifest = DocumentsManifest {
            schema_version: documents::SCHEMA_VERSION.to_owned(),
            tool_version: TOOL_VERSION.to_owned(),
            config_hash: self.config_hash.clone(),
            config: self.content.clone(),
            tokenizer_hash: self.processor.tokenizer().hash().to_owned(),
            dictionary_hash: self.processor.segmenter().hash().to_owned(),
            inputs: {
                let mut entries = markers.iter().flat_map(|m| m.inputs.iter());
                self.inputs(|piece| match entries.next() {
                    Some(entry) => entry.clone(),
                    None => InputEntry {
                        name: piece.file.name.clone(),
                        bytes: piece.file.size,
                        records: 0,
                    },
                })
            },
            shards: markers.into_iter().flat_map(|m| m.shards).collect(),
            counts,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| PipelineError::Internal(e.to_string()))?;
        let location = &self.manifest_location;
        self.handle.block_on(async {
            dataset::verify_shards(&self.dataset, &manifest.shards, false)
                .await
                .map_err(|problem| {
                    PipelineError::input(&location.url(), format!("not published: {problem}; rerun prepare"))
                })?;
            lease.check().await?;
            if !location.create(json.into()).await? {
                match read_manifest(location).await? {
                    Existing::Published(other) if *other == manifest => {
                        log::info!("{} was published by another worker", location.url());
                    }
                    _ => {
                        return Err(PipelineError::input(
                            &location.url(),
                            "another manifest appeared here while this run was publishing; nothing was replaced",
                        ));
                    }
                }
            }
            let keep: Vec<&str> = manifest.shards.iter().map(|s| s.path.as_str()).collect();
            dataset::remove_replaced(&self.dataset, &lease.replaces().await?, &keep).await?;
            remove_markers_beyond(&self.dataset, self.units.len()).await?;
            lease.release(true).await
        })?;
        Ok(manifest)
    }
}
