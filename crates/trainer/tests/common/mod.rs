//! Shared helpers of the trainer tests: examples datasets built from the shared corpora with the
//! repository's pipelines, through the pipeline library.
#![allow(dead_code)]

use maskforge_pipeline::{EpochOptions, PrepareOptions, Silent, Workers, prepare, run_epoch};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared corpora (`$MASKFORGE_CORPORA`, else `../shared/corpora` beside the repository).
pub fn corpora() -> PathBuf {
    match std::env::var_os("MASKFORGE_CORPORA") {
        Some(dir) => PathBuf::from(dir),
        None => repo().join("../shared/corpora"),
    }
}

/// Pipeline `name` of the repository with `inputs` (shared corpora), output `out` and `set`
/// overrides.
pub fn pipeline_config(out: &Path, name: &str, inputs: &[&str], set: &[&str]) -> maskforge_config::PipelineConfig {
    let overrides = maskforge_config::Overrides {
        inputs: inputs.iter().map(|i| corpora().join(i).display().to_string()).collect(),
        output: Some(out.display().to_string()),
        set: set.iter().map(|s| s.to_string()).collect(),
    };
    maskforge_config::load(&repo().join("pipelines").join(name), &overrides).expect("pipeline")
}

/// Builds epoch `epoch` of `config` from its prepared documents; returns the epoch's folder.
pub fn build_epoch(config: &maskforge_config::PipelineConfig, epoch: u32) -> PathBuf {
    let report = run_epoch(
        config,
        epoch,
        &EpochOptions {
            threads: 2,
            progress: Arc::new(Silent),
            workers: Workers::single(),
            patience: std::time::Duration::from_secs(60),
        },
    )
    .expect("epoch");
    assert!(report.manifest.stats.examples > 0);
    Path::new(&config.output.url).join(format!("epochs/{epoch}"))
}

/// Prepares `inputs` with pipeline `name` (plus `set` overrides) under `out` and builds epoch 0;
/// returns the epoch's folder.
pub fn epoch_dataset(out: &Path, name: &str, inputs: &[&str], set: &[&str]) -> PathBuf {
    let config = pipeline_config(out, name, inputs, set);
    prepare(
        &config,
        &PrepareOptions {
            threads: 2,
            workers: Workers::single(),
            progress: Arc::new(Silent),
        },
    )
    .expect("prepare");
    build_epoch(&config, 0);
    out.join("epochs/0")
}

/// An English NSP epoch of the fortunes corpus in 8 shards (plus `set`).
pub fn english_nsp(out: &Path, set: &[&str]) -> PathBuf {
    epoch_dataset(out, "bert-nsp-en.toml", &["en/fortunes.txt"], set)
}
