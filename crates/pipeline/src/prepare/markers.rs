//! The resume state of a documents dataset: the per-unit completion markers (`_units/NNNNN.json`)
//! and the earlier manifest, read back to decide what a run can skip.

use crate::units::Unit;
use crate::{PipelineError, dataset};
use maskforge_schema::{DocumentCounts, DocumentsManifest, InputEntry, ShardEntry};
use maskforge_store::Location;

/// Folder of the per-unit completion markers inside the dataset.
pub(super) const UNITS_FOLDER: &str = "_units";

/// The completion marker of one unit, written after its shards: what it produced and for which
/// input and configuration. A rerun skips units whose marker matches.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct UnitMarker {
    pub(super) config_hash: String,
    pub(super) fingerprint: String,
    /// One entry per piece of the unit, with the records read from the piece.
    pub(super) inputs: Vec<InputEntry>,
    pub(super) shards: Vec<ShardEntry>,
    pub(super) counts: DocumentCounts,
}

/// Where the completion marker of unit `unit` lives.
pub(super) fn marker_location(dataset: &Location, unit: usize) -> Location {
    dataset.join(&format!("{UNITS_FOLDER}/{unit:05}.json"))
}

impl UnitMarker {
    /// Whether this marker commits `unit` of a run with `config_hash` (same input, unchanged).
    pub(super) fn commits(&self, unit: &Unit, config_hash: &str) -> bool {
        self.config_hash == config_hash && self.fingerprint == fingerprint(unit)
    }
}

/// What identifies a unit's input: each piece's origin, name, size, ETag and part.
pub(super) fn fingerprint(unit: &Unit) -> String {
    let pieces: Vec<String> = unit.pieces.iter().map(|p| p.fingerprint()).collect();
    pieces.join("\n")
}

/// An earlier manifest of the dataset.
pub(super) enum Existing {
    /// None.
    Missing,
    /// One that does not parse (truncated, edited): rebuilt by one process, refused by workers.
    Unreadable(String),
    /// A readable manifest.
    Published(Box<DocumentsManifest>),
}

pub(super) async fn read_manifest(location: &Location) -> Result<Existing, PipelineError> {
    match location.read().await {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(manifest) => Existing::Published(Box::new(manifest)),
            Err(e) => Existing::Unreadable(format!("not a documents manifest ({e})")),
        }),
        Err(maskforge_store::StoreError::NotFound { .. }) => Ok(Existing::Missing),
        Err(e) => Err(e.into()),
    }
}

/// A unit marker; `None` when it does not exist or does not parse (the unit is redone).
pub(super) async fn read_marker(location: &Location) -> Result<Option<UnitMarker>, PipelineError> {
    match location.read().await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(maskforge_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes the markers of units an earlier run had beyond this run's last (`_units/NNNNN.json`),
/// and the shards each of them names: a marker records what its unit wrote.
pub(super) async fn remove_markers_beyond(dataset: &Location, units: usize) -> Result<(), PipelineError> {
    let folder = dataset.join(UNITS_FOLDER);
    for entry in folder.entries().await? {
        let index = entry
            .relative
            .strip_suffix(".json")
            .filter(|stem| stem.len() == 5)
            .and_then(|stem| stem.parse::<usize>().ok());
        if index.is_some_and(|i| i >= units) {
            let marker = entry.location;
            if let Some(stale) = read_marker(&marker).await? {
                let written: Vec<String> = stale.shards.into_iter().map(|s| s.path).collect();
                dataset::remove_replaced(dataset, &written, &[]).await?;
            }
            marker.delete().await?;
        }
    }
    Ok(())
}
