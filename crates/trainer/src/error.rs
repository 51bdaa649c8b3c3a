//! Errors of the trainer crate, each naming what it was about.

/// What can go wrong while loading examples or training.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    /// Storage failed (reading a manifest or shard, writing a checkpoint).
    #[error(transparent)]
    Store(#[from] maskforge_store::StoreError),
    /// The dataset is not what the loader can read.
    #[error("{url}: {message}")]
    Dataset {
        /// The dataset, manifest or shard.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is unusable.
    #[error("{what}: {message}")]
    Config {
        /// The setting or file.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The tensor library failed.
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A local file (checkpoint, state) could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
}

impl TrainerError {
    /// A dataset error about `url`.
    pub fn dataset(url: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Dataset {
            url: url.into(),
            message: message.into(),
        }
    }

    /// A configuration error about `what`.
    pub fn config(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            what: what.into(),
            message: message.into(),
        }
    }

    /// A local file error.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
