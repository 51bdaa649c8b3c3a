//! Errors of loading a pipeline file. Each one names the file and, where it can, the key and line.

/// A pipeline file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the pipeline format (unknown key, wrong type).
    #[error("{origin}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        origin: String,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A `--set KEY=VALUE` that cannot be applied.
    #[error("--set {expr}: {message}")]
    Override {
        /// The override as given.
        expr: String,
        /// What is wrong.
        message: String,
    },
    /// One or more values are out of range or inconsistent.
    #[error("{origin}: invalid pipeline:\n{}", .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        origin: String,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

/// One invalid value, with the dotted key and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, for example `masking.probability` or `sources.0.filter`.
    pub key: String,
    /// `line N` in the file, `command line`, or `default`.
    pub place: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.key, self.place, self.message)
    }
}
