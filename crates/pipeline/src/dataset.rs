//! What both jobs share about datasets: the I/O runtime, the documents configuration hash,
//! manifests written last, and removal of files an earlier run left behind.

use crate::PipelineError;
use maskforge_config::PipelineConfig;
use maskforge_store::{Location, sha256_hex};
use maskforge_text::TextProcessor;

/// A small runtime for storage I/O; CPU work runs on rayon, never here.
pub fn io_runtime() -> Result<tokio::runtime::Runtime, PipelineError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("maskforge-io")
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Internal(format!("cannot start the I/O runtime: {e}")))
}

/// The content configuration of the documents dataset (with the tokenizer and dictionary
/// hashes) and its hash.
pub fn documents_config(config: &PipelineConfig, processor: &TextProcessor) -> (serde_json::Value, String) {
    let mut content = config.documents_content_json();
    content["tokenizer_hash"] = processor.tokenizer().hash().into();
    content["dictionary_hash"] = processor.segmenter().hash().into();
    let hash = sha256_hex(content.to_string().as_bytes());
    (content, hash)
}

/// A rayon pool of `threads` workers.
pub fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, PipelineError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("maskforge-worker-{i}"))
        .build()
        .map_err(|e| PipelineError::Internal(format!("cannot start {threads} worker threads: {e}")))
}

/// Serializes `manifest` and writes it: the last write of a job, which publishes the dataset.
pub async fn publish<T: serde::Serialize>(location: &Location, manifest: &T) -> Result<(), PipelineError> {
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| PipelineError::Internal(e.to_string()))?;
    location.write(json.into()).await?;
    Ok(())
}

/// Deletes the Parquet files under `dataset` that `keep` (paths relative to it) does not list.
pub async fn remove_stale_shards(dataset: &Location, keep: &[&str]) -> Result<(), PipelineError> {
    let prefix = dataset.path().clone();
    for meta in dataset.list().await? {
        let Some(parts) = meta.location.prefix_match(&prefix) else {
            continue;
        };
        let name = parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>().join("/");
        if name.ends_with(".parquet") && !keep.contains(&name.as_str()) {
            dataset.sibling(meta.location).delete().await?;
        }
    }
    Ok(())
}
