//! Units of work of the prepare job, found by expanding the sources' URLs and globs in a fixed
//! order (source, URL, then file name) and cutting them to `sources.N.unit_bytes`: a larger file
//! becomes several units (uncompressed text and JSON Lines at byte ranges, read from the next
//! line start; Parquet at row groups), and consecutive smaller files of one source share a unit.
//! The cuts depend only on the files' sizes (and Parquet footers) and `unit_bytes`, never on
//! the number of workers.

use crate::PipelineError;
use maskforge_config::{Compression, PipelineConfig, SourceConfig, SourceFormat};
use maskforge_store::{InputFile, Location, expand};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::ops::Range;
use std::sync::Arc;

/// The most files one unit groups: each is a line of the unit's marker and of the manifest.
const MAX_FILES_PER_UNIT: usize = 4096;

/// The format a piece is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFormat {
    /// Plain text (`sources.N.text_layout` says how it is cut into documents).
    Text,
    /// JSON Lines.
    Jsonl,
    /// Parquet.
    Parquet,
    /// CSV whose quoted values may hold line breaks (read whole, through datafusion).
    Csv,
    /// CSV with one record a line (`sources.N.csv_newlines_in_values = false`): cut at line
    /// starts like JSON Lines.
    CsvLines,
}

impl UnitFormat {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Jsonl => "JSON Lines",
            Self::Parquet => "Parquet",
            Self::Csv | Self::CsvLines => "CSV",
        }
    }
}

/// Which part of a file a piece reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// All of it.
    Whole,
    /// The records whose first line starts in this byte range (text, JSON Lines).
    Bytes(Range<u64>),
    /// These row groups (Parquet); `first_row` is the file row of the first one's first row.
    RowGroups {
        /// Row group indexes.
        groups: Range<usize>,
        /// Row of the file where they start.
        first_row: u64,
        /// Their compressed size in bytes.
        bytes: u64,
    },
}

/// One file, or part of one, with everything needed to read it.
#[derive(Debug, Clone)]
pub struct Piece {
    /// `source.url` position of the pattern that matched it (part of every document id).
    pub origin: String,
    /// The file.
    pub file: InputFile,
    /// Its format.
    pub format: UnitFormat,
    /// Its stream compression (text and JSON Lines only).
    pub compression: Compression,
    /// The part of the file.
    pub part: Part,
    /// What listing read of a file it cut, shared by the file's pieces so that none reads it
    /// again.
    pub metadata: FileMetadata,
}

/// What listing learned about a file it cut into pieces.
#[derive(Debug, Clone, Default)]
pub enum FileMetadata {
    /// Nothing: the piece finds what it needs itself.
    #[default]
    Unread,
    /// CSV read as lines: the header and column types.
    CsvColumns(arrow::datatypes::SchemaRef),
    /// Parquet: the decoded footer.
    ParquetFooter(Arc<ParquetMetaData>),
}

impl Piece {
    /// The bytes of the file this piece carries (for balancing and progress).
    pub fn bytes(&self) -> u64 {
        match &self.part {
            Part::Whole => self.file.size,
            Part::Bytes(range) => range.end - range.start,
            Part::RowGroups { bytes, .. } => *bytes,
        }
    }

    /// What balancing units over workers counts: for row groups, their uncompressed size (the
    /// data to process, which Parquet's compression hides from the file size); else the bytes.
    pub fn work(&self) -> u64 {
        match (&self.part, &self.metadata) {
            (Part::RowGroups { groups, .. }, FileMetadata::ParquetFooter(footer)) => groups
                .clone()
                .filter_map(|g| footer.row_groups().get(g))
                .map(|g| g.total_byte_size().max(0) as u64)
                .sum(),
            _ => self.bytes(),
        }
    }

    /// Whether the piece is its whole file.
    pub fn is_whole(&self) -> bool {
        self.part == Part::Whole
    }

    /// The file's URL, with the part when it is not the whole file (for logs).
    pub fn describe(&self) -> String {
        let url = self.file.location.url();
        match &self.part {
            Part::Whole => url,
            Part::Bytes(r) => format!("{url} (bytes {}..{})", r.start, r.end),
            Part::RowGroups { groups, .. } => format!("{url} (row groups {}..{})", groups.start, groups.end),
        }
    }

    /// What identifies the input of this piece: origin, name, size, ETag and part.
    pub fn fingerprint(&self) -> String {
        let part = match &self.part {
            Part::Whole => String::new(),
            Part::Bytes(r) => format!("|bytes {}..{}", r.start, r.end),
            Part::RowGroups { groups, .. } => format!("|row groups {}..{}", groups.start, groups.end),
        };
        format!(
            "{}|{}|{}|{}{part}",
            self.origin,
            self.file.name,
            self.file.size,
            self.file.e_tag.as_deref().unwrap_or("")
        )
    }
}

/// One unit of work: pieces of one source, read in order into the unit's shards.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Position in the job's unit list; names the unit's shards.
    pub index: usize,
    /// Which `[[sources]]` entry it comes from.
    pub source: usize,
    /// What it reads, in order (at least one).
    pub pieces: Vec<Piece>,
}

impl Unit {
    /// The input bytes it carries.
    pub fn bytes(&self) -> u64 {
        self.pieces.iter().map(Piece::bytes).sum()
    }

    /// The work it holds, for balancing (see [`Piece::work`]).
    pub fn work(&self) -> u64 {
        self.pieces.iter().map(Piece::work).sum()
    }

    /// Its first piece, with how many follow (for logs).
    pub fn describe(&self) -> String {
        let first = self.pieces.first().map(Piece::describe).unwrap_or_default();
        match self.pieces.len() {
            0 | 1 => first,
            n => format!("{first} and {} more file(s)", n - 1),
        }
    }
}

/// Expands every source pattern and cuts the files into units; a pattern that matches
/// nothing, or a file whose format cannot be told, is an error naming it. Files below the
/// output root are never inputs: the job would read its own shards and markers back (a pattern
/// whose every match is there is an error naming both).
pub async fn list_units(config: &PipelineConfig) -> Result<Listing, PipelineError> {
    let output = Location::parse(&config.output.url)?;
    let mut units: Vec<Unit> = Vec::new();
    let mut unrepresentable: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (source_index, source) in config.sources.iter().enumerate() {
        let mut files = Vec::new();
        for (url_index, pattern) in source.urls.iter().enumerate() {
            let expansion = expand(pattern).await?;
            for name in expansion.unrepresentable {
                log::warn!("{pattern}: skipped {name}, a name the object store cannot represent");
                unrepresentable.push(name);
            }
            let (inside, outside): (Vec<InputFile>, Vec<InputFile>) =
                expansion.files.into_iter().partition(|f| output.contains(&f.location));
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
                files.push(whole_piece(
                    source_index,
                    source,
                    format!("{source_index}.{url_index}"),
                    file,
                )?);
            }
        }
        for pieces in cut(files, source).await? {
            units.push(Unit {
                index: units.len(),
                source: source_index,
                pieces,
            });
        }
    }
    unrepresentable.sort();
    unrepresentable.dedup();
    Ok(Listing { units, unrepresentable })
}

/// What [`list_units`] found.
pub struct Listing {
    /// The units, in order.
    pub units: Vec<Unit>,
    /// The files below the patterns skipped because the store cannot represent their names
    /// (printable; counted as `counts.unrepresentable_names`).
    pub unrepresentable: Vec<String>,
}

/// A file as one piece, its format and compression resolved.
fn whole_piece(
    source_index: usize,
    source: &SourceConfig,
    origin: String,
    file: InputFile,
) -> Result<Piece, PipelineError> {
    let format = match source.format {
        SourceFormat::Auto => SourceFormat::from_file_name(&file.name),
        f => Some(f),
    }
    .and_then(unit_format)
    .map(|format| match format {
        UnitFormat::Csv if !source.csv_newlines_in_values => UnitFormat::CsvLines,
        other => other,
    })
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
    Ok(Piece {
        origin,
        file,
        format,
        compression,
        part: Part::Whole,
        metadata: FileMetadata::Unread,
    })
}

/// The units of one source's files, in order: a file over `unit_bytes` that can be cut is cut
/// into pieces of its own units; other files are grouped while their sizes add up to at most
/// `unit_bytes`.
async fn cut(files: Vec<Piece>, source: &SourceConfig) -> Result<Vec<Vec<Piece>>, PipelineError> {
    let unit_bytes = source.unit_bytes;
    let mut units = Vec::new();
    let mut group: Vec<Piece> = Vec::new();
    let mut group_bytes = 0;
    for piece in files {
        let (parts, mut metadata) = if piece.file.size > unit_bytes {
            parts(&piece, unit_bytes).await?
        } else {
            (Vec::new(), FileMetadata::Unread)
        };
        if parts.len() > 1 {
            if !group.is_empty() {
                units.push(std::mem::take(&mut group));
            }
            group_bytes = 0;
            if piece.format == UnitFormat::CsvLines {
                let columns = crate::sources::csv_head_columns(&piece.file, source).await?;
                metadata = FileMetadata::CsvColumns(columns);
            }
            units.extend(parts.into_iter().map(|part| {
                vec![Piece {
                    part,
                    metadata: metadata.clone(),
                    ..piece.clone()
                }]
            }));
            continue;
        }
        if !group.is_empty() && (group_bytes + piece.file.size > unit_bytes || group.len() == MAX_FILES_PER_UNIT) {
            units.push(std::mem::take(&mut group));
            group_bytes = 0;
        }
        group_bytes += piece.file.size;
        group.push(piece);
    }
    if !group.is_empty() {
        units.push(group);
    }
    Ok(units)
}

/// The parts a file over `unit_bytes` is cut into, and what was read to cut it; one `Whole`
/// part when it cannot be cut (compressed streams, CSV with line breaks in values) or has a
/// single row group.
async fn parts(piece: &Piece, unit_bytes: u64) -> Result<(Vec<Part>, FileMetadata), PipelineError> {
    let size = piece.file.size;
    match piece.format {
        UnitFormat::Text | UnitFormat::Jsonl | UnitFormat::CsvLines if piece.compression == Compression::None => {
            let count = size.div_ceil(unit_bytes);
            let boundary = |i: u64| (u128::from(size) * u128::from(i) / u128::from(count)) as u64;
            let parts = (0..count).map(|i| Part::Bytes(boundary(i)..boundary(i + 1))).collect();
            Ok((parts, FileMetadata::Unread))
        }
        UnitFormat::Parquet => {
            let footer = Arc::new(parquet_metadata(&piece.file).await?);
            let groups: Vec<(u64, u64)> = footer
                .row_groups()
                .iter()
                .map(|g| (g.num_rows().max(0) as u64, g.compressed_size().max(0) as u64))
                .collect();
            let mut parts = Vec::new();
            let (mut start, mut first_row, mut rows, mut bytes) = (0, 0, 0, 0);
            for (i, &(group_rows, group_bytes)) in groups.iter().enumerate() {
                if i > start && bytes + group_bytes > unit_bytes {
                    parts.push(Part::RowGroups {
                        groups: start..i,
                        first_row,
                        bytes,
                    });
                    (start, first_row, bytes) = (i, first_row + rows, 0);
                    rows = 0;
                }
                rows += group_rows;
                bytes += group_bytes;
            }
            if parts.is_empty() {
                return Ok((vec![Part::Whole], FileMetadata::Unread));
            }
            parts.push(Part::RowGroups {
                groups: start..groups.len(),
                first_row,
                bytes,
            });
            Ok((parts, FileMetadata::ParquetFooter(footer)))
        }
        _ => Ok((vec![Part::Whole], FileMetadata::Unread)),
    }
}

/// The footer of a Parquet file, checked before it is trusted: a file that is not Parquet, or
/// whose footer is damaged, is a clear error naming it rather than a failure deep in a decoder.
pub async fn parquet_metadata(file: &InputFile) -> Result<ParquetMetaData, PipelineError> {
    let metadata_len = check_parquet_tail(file).await?;
    let size = file.size;
    let footer = file.location.read_range(size - 8 - metadata_len..size - 8).await?;
    ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| {
        PipelineError::input(
            &file.location.url(),
            format!("cannot open as Parquet: corrupt footer: {e}"),
        )
    })
}

/// Checks the last 8 bytes of a Parquet file (the magic and a footer length that fits) and
/// returns the footer's length: enough to name a file that is not Parquet before datafusion
/// opens it.
pub async fn check_parquet_tail(file: &InputFile) -> Result<u64, PipelineError> {
    let url = file.location.url();
    let size = file.size;
    let corrupt = |message: String| PipelineError::input(&url, format!("cannot open as Parquet: {message}"));
    if size < 12 {
        return Err(corrupt(format!("{size} bytes is too short for a Parquet file")));
    }
    let tail = file.location.read_range(size - 8..size).await?;
    if &tail[4..8] != b"PAR1" {
        return Err(corrupt("no PAR1 magic at the end (not Parquet, or truncated)".into()));
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if metadata_len + 12 > size {
        return Err(corrupt(format!(
            "corrupt footer: metadata length {metadata_len} exceeds the file size {size}"
        )));
    }
    Ok(metadata_len)
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
