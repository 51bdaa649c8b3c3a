//! Units of work of the prepare job: one input file each, found by expanding the sources'
//! URLs and globs, in a fixed order (source, URL, then file name).

use crate::PipelineError;
use maskforge_config::{Compression, PipelineConfig, SourceFormat};
use maskforge_store::{InputFile, Location, expand};

/// The format a unit is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFormat {
    /// BERT-layout text.
    Text,
    /// JSON Lines.
    Jsonl,
    /// Parquet.
    Parquet,
    /// CSV.
    Csv,
}

impl UnitFormat {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Jsonl => "JSON Lines",
            Self::Parquet => "Parquet",
            Self::Csv => "CSV",
        }
    }
}

/// One input file with everything needed to read it.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Position in the job's unit list; names the unit's shards.
    pub index: usize,
    /// Which `[[sources]]` entry it comes from.
    pub source: usize,
    /// `source.url` position of the pattern that matched it (part of every document id).
    pub origin: String,
    /// The file.
    pub file: InputFile,
    /// Its format.
    pub format: UnitFormat,
    /// Its stream compression (text and JSON Lines only).
    pub compression: Compression,
}

/// Expands every source pattern; a pattern that matches nothing, or a file whose format
/// cannot be told, is an error naming it. Files below the output root are never inputs: the
/// job would read its own shards and markers back (a pattern whose every match is there is an
/// error naming both).
pub async fn list_units(config: &PipelineConfig) -> Result<Vec<Unit>, PipelineError> {
    let output = Location::parse(&config.output.url)?;
    let mut units: Vec<Unit> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (source_index, source) in config.sources.iter().enumerate() {
        for (url_index, pattern) in source.urls.iter().enumerate() {
            let (inside, outside): (Vec<InputFile>, Vec<InputFile>) = expand(pattern)
                .await?
                .into_iter()
                .partition(|f| output.contains(&f.location));
            if outside.is_empty() {
                return Err(PipelineError::input(
                    pattern,
                    format!(
                        "every file it matches is inside the output folder {}; maskforge does not read its own \
                         output (choose an output outside the input, or an input outside the output)",
                        output.url()
                    ),
                ));
            }
            if !inside.is_empty() {
                log::warn!(
                    "{pattern}: {} file(s) inside the output folder {} are not read",
                    inside.len(),
                    output.url()
                );
            }
            for file in outside {
                if !seen.insert(file.location.url()) {
                    log::warn!(
                        "{} matches more than one input pattern; it is read once",
                        file.location.url()
                    );
                    continue;
                }
                let format = match source.format {
                    SourceFormat::Auto => SourceFormat::from_file_name(&file.name),
                    f => Some(f),
                }
                .and_then(unit_format)
                .ok_or_else(|| {
                    PipelineError::input(
                        &file.location.url(),
                        format!("cannot tell the format from the file name; set sources.{source_index}.format"),
                    )
                })?;
                let compression = match source.compression {
                    Compression::Auto => Compression::from_file_name(&file.name),
                    c => c,
                };
                units.push(Unit {
                    index: units.len(),
                    source: source_index,
                    origin: format!("{source_index}.{url_index}"),
                    file,
                    format,
                    compression,
                });
            }
        }
    }
    Ok(units)
}

fn unit_format(format: SourceFormat) -> Option<UnitFormat> {
    match format {
        SourceFormat::Auto => None,
        SourceFormat::Text => Some(UnitFormat::Text),
        SourceFormat::Jsonl => Some(UnitFormat::Jsonl),
        SourceFormat::Parquet => Some(UnitFormat::Parquet),
        SourceFormat::Csv => Some(UnitFormat::Csv),
    }
}
