//! What the jobs and tools share about datasets: the I/O runtime, the documents configuration
//! hash, opening a dataset of either kind, manifests written last, and removal of files an
//! earlier run left behind.

use crate::PipelineError;
use maskforge_config::PipelineConfig;
use maskforge_schema::{Dataset, DocumentsManifest, ExamplesManifest, MANIFEST_FILE, Split};
use maskforge_store::{Location, sha256_hex};

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
pub fn documents_config(
    config: &PipelineConfig,
    tokenizer_hash: &str,
    dictionary_hash: &str,
) -> (serde_json::Value, String) {
    let mut content = config.documents_content_json();
    content["tokenizer_hash"] = tokenizer_hash.into();
    content["dictionary_hash"] = dictionary_hash.into();
    let hash = sha256_hex(content.to_string().as_bytes());
    (content, hash)
}

/// A published dataset of either kind, told apart by its manifest's schema version.
pub enum PublishedDataset {
    /// A documents dataset.
    Documents(Box<Dataset<DocumentsManifest>>),
    /// One examples epoch.
    Examples(Box<Dataset<ExamplesManifest>>),
}

impl PublishedDataset {
    /// Opens the dataset in `root`, of whichever kind its manifest says (the manifest is read
    /// once, so its kind and contents are of one version of it).
    pub async fn open(root: Location) -> Result<Self, PipelineError> {
        let url = root.join(MANIFEST_FILE).url();
        let bytes = root
            .join(MANIFEST_FILE)
            .read()
            .await
            .map_err(|e| PipelineError::input(&url, e.to_string()))?;
        let version = schema_version(&bytes).map_err(|what| PipelineError::input(&url, what))?;
        if version.starts_with("maskforge.documents/") {
            Ok(Self::Documents(Box::new(Dataset::from_manifest(root, &bytes)?)))
        } else if version.starts_with("maskforge.examples/") {
            Ok(Self::Examples(Box::new(Dataset::from_manifest(root, &bytes)?)))
        } else {
            Err(PipelineError::input(
                &root.join(MANIFEST_FILE).url(),
                format!("schema_version {version:?} is not a maskforge dataset"),
            ))
        }
    }

    /// `documents` or `examples`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Documents(_) => "documents",
            Self::Examples(_) => "examples",
        }
    }
}

/// The `schema_version` of the manifest in `root`, or what keeps it from being read.
pub async fn manifest_version(root: &Location) -> Result<String, String> {
    let bytes = root.join(MANIFEST_FILE).read().await.map_err(|e| e.to_string())?;
    schema_version(&bytes)
}

/// The `schema_version` of manifest bytes, or why they have none.
fn schema_version(bytes: &[u8]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON (truncated or damaged?): {e}"))?;
    value["schema_version"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "has no schema_version".to_owned())
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

/// Whether `path` (relative to a dataset folder) has the form of a shard maskforge writes:
/// `part-UUUUU-SSSS.parquet` (documents), `part-KKKKK.parquet` or `bin-BB/part-KKKKK.parquet`
/// (examples), the latter two also under `validation/` or `test/`. Nothing else is ever
/// removed by a job.
pub fn is_shard_name(path: &str) -> bool {
    fn digits(s: &str, n: usize) -> bool {
        s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
    }
    let stem = |file: &str| file.strip_prefix("part-")?.strip_suffix(".parquet").map(str::to_owned);
    // Documents: part-UUUUU-SSSS.parquet at the top.
    if let Some((unit, shard)) = stem(path).as_deref().and_then(|s| s.split_once('-')) {
        return !path.contains('/') && digits(unit, 5) && digits(shard, 4);
    }
    // Examples: [validation/ | test/][bin-BB/]part-KKKKK.parquet.
    let in_split = [Split::Validation, Split::Test]
        .into_iter()
        .find_map(|split| path.strip_prefix(split.folder()))
        .unwrap_or(path);
    let file = match in_split.split_once('/') {
        None => in_split,
        Some((bin, file)) if bin.strip_prefix("bin-").is_some_and(|b| digits(b, 2)) && !file.contains('/') => file,
        Some(_) => return false,
    };
    stem(file).is_some_and(|s| digits(&s, 5))
}

/// Deletes the shards an earlier dataset here listed (`replaced`) that the new one (`keep`)
/// does not: only maskforge's own, named by its manifests, never another file.
pub async fn remove_replaced<'a>(
    dataset: &Location,
    replaced: impl IntoIterator<Item = &'a String>,
    keep: &[&str],
) -> Result<(), PipelineError> {
    for path in replaced {
        if is_shard_name(path) && !keep.contains(&path.as_str()) {
            dataset.join(path).delete().await?;
        }
    }
    Ok(())
}

/// Checks that every listed shard exists with its recorded size; with `checksums`, also its
/// SHA-256 (reading it back). The error names the first shard that does not match.
pub async fn verify_shards(
    dataset: &Location,
    shards: &[maskforge_schema::ShardEntry],
    checksums: bool,
) -> Result<(), ShardProblem> {
    for shard in shards {
        let location = dataset.join(&shard.path);
        let problem = |what: String| ShardProblem {
            url: location.url(),
            what,
        };
        let size = match location.head().await {
            Ok(Some(meta)) => meta.size,
            Ok(None) => return Err(problem("is missing".into())),
            Err(e) => return Err(problem(e.to_string())),
        };
        if size != shard.bytes {
            return Err(problem(format!(
                "has {size} bytes, the manifest records {}",
                shard.bytes
            )));
        }
        if checksums {
            let bytes = location.read().await.map_err(|e| problem(e.to_string()))?;
            if sha256_hex(&bytes) != shard.sha256 {
                return Err(problem("does not match its recorded SHA-256".into()));
            }
        }
    }
    Ok(())
}

/// A shard that is not as its manifest or marker records it.
#[derive(Debug)]
pub struct ShardProblem {
    /// The shard.
    pub url: String,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for ShardProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.url, self.what)
    }
}

#[cfg(test)]
mod tests {
    use super::is_shard_name;

    #[test]
    fn only_maskforge_shard_names_are_its_own() {
        for own in [
            "part-00000-0000.parquet",
            "part-00012.parquet",
            "bin-03/part-00001.parquet",
            "validation/part-00000.parquet",
            "test/bin-01/part-00002.parquet",
        ] {
            assert!(is_shard_name(own), "{own}");
        }
        for other in [
            "user.parquet",
            "keep/user.parquet",
            "part-0.parquet",
            "part-00000-0000.parquet.bak",
            "bin-03/part-00001-0000.parquet",
            "x/part-00001.parquet",
            "bin-3/part-00001.parquet",
            "part-00000-0000-extra.parquet",
            "validation/part-00000-0000.parquet",
            "validation/x/part-00000.parquet",
            "train/part-00000.parquet",
            "test/validation/part-00000.parquet",
            "validation/bin-3/part-00000.parquet",
        ] {
            assert!(!is_shard_name(other), "{other}");
        }
    }
}
