//! Errors of the jobs. Each names the file (and line or row) or the setting involved.

use maskforge_store::StoreError;

/// A job that cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Storage access failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input file cannot be read as its format says.
    #[error("{file}{}: {message}", .at.as_ref().map(|a| format!(", {a}")).unwrap_or_default())]
    Input {
        /// The file's URL.
        file: String,
        /// Where in the file, when it concerns one record: `line 12` (text, JSON Lines), `row 5`
        /// (Parquet, CSV), or `the line at byte 1048576` in a piece that starts inside the file.
        at: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A tokenizer, dictionary or other resource named by the pipeline is unusable.
    #[error("{what} {location}: {message}")]
    Resource {
        /// Which setting (`text.tokenizer.path`, ...).
        what: &'static str,
        /// Its location.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Writing the output failed.
    #[error("building output batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// An SQL query that cannot be planned or run.
    #[error("query: {0}")]
    Query(String),
    /// The result could not be written (a closed pipe, a full disk).
    #[error("writing the result: {0}")]
    Output(#[source] std::io::Error),
    /// A worker thread could not be started or failed.
    #[error("internal: {0}")]
    Internal(String),
    /// Stopped by SIGINT (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl From<maskforge_schema::DatasetError> for PipelineError {
    fn from(e: maskforge_schema::DatasetError) -> Self {
        match e {
            maskforge_schema::DatasetError::Store(e) => Self::Store(e),
            maskforge_schema::DatasetError::Invalid { url, message } => Self::input(&url, message),
        }
    }
}

impl PipelineError {
    /// An input error for a whole file.
    pub fn input(file: &str, message: impl Into<String>) -> Self {
        Self::Input {
            file: file.to_owned(),
            at: None,
            message: message.into(),
        }
    }

    /// An input error for one line or row of a file.
    pub fn at_line(file: &str, line: u64, message: impl Into<String>) -> Self {
        Self::at(file, format!("line {line}"), message)
    }

    /// An input error at a place of a file (a [`crate::sources::Position`], `row 5`, ...).
    pub fn at(file: &str, place: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Self::Input {
            file: file.to_owned(),
            at: Some(place.to_string()),
            message: message.into(),
        }
    }
}
