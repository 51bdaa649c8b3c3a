//! An examples dataset opened through its manifest, for the loader's blocking reads: the
//! contract's [`Dataset`] (checksummed shards, checked rows) on a small I/O runtime of its own,
//! and the vocabulary read once.

use crate::TrainerError;
pub use maskforge_schema::examples::Example;
use maskforge_schema::{Dataset, DatasetError, ExamplesManifest, Split};
use maskforge_store::Location;

impl From<DatasetError> for TrainerError {
    fn from(e: DatasetError) -> Self {
        match e {
            DatasetError::Store(e) => TrainerError::Store(e),
            DatasetError::Invalid { url, message } => TrainerError::dataset(url, message),
        }
    }
}

/// An examples dataset (`<output>/epochs/E/`), read through its manifest.
pub struct ExamplesDataset {
    dataset: Dataset<ExamplesManifest>,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    /// `vocab.txt`, read and checked on first use.
    vocabulary: std::sync::OnceLock<Vec<String>>,
}

impl ExamplesDataset {
    /// Opens the dataset at `url` (any location form of the pipeline): reads and checks its
    /// manifest.
    pub fn open(url: &str) -> Result<Self, TrainerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| TrainerError::dataset(url, format!("cannot start the I/O runtime: {e}")))?;
        let dataset = runtime.block_on(Dataset::open(Location::parse(url)?))?;
        Ok(Self {
            dataset,
            runtime: std::sync::Arc::new(runtime),
            vocabulary: std::sync::OnceLock::new(),
        })
    }

    /// The dataset seen as its split `split` (its shards in the manifest's `shards`), or
    /// `None` when the epoch has no such split.
    pub fn split(&self, split: Split) -> Option<Self> {
        Some(Self {
            dataset: self.dataset.split(split)?,
            runtime: self.runtime.clone(),
            vocabulary: self.vocabulary.clone(),
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &ExamplesManifest {
        self.dataset.manifest()
    }

    /// The dataset's URL.
    pub fn url(&self) -> String {
        self.dataset.root().url()
    }

    /// The vocabulary (`vocab.txt`), one token per id; read once.
    pub fn vocabulary(&self) -> Result<&[String], TrainerError> {
        if let Some(tokens) = self.vocabulary.get() {
            return Ok(tokens);
        }
        let tokens = self.runtime.block_on(self.dataset.read_vocabulary())?;
        Ok(self.vocabulary.get_or_init(|| tokens))
    }

    /// Reads shard `index` of the manifest, checks its size and checksum, and decodes its rows
    /// in file order.
    pub fn read_shard(&self, index: usize) -> Result<Vec<Example>, TrainerError> {
        Ok(self.runtime.block_on(self.dataset.read_shard(index))?)
    }
}
