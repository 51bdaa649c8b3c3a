//! Checkpoint folders: `step-NNNNNNN/` with `model.safetensors`, `optimizer.safetensors` and
//! `state.json`, written under a temporary name and renamed when complete.

use super::config::TrainConfig;
use crate::TrainerError;
use crate::loader::LoaderState;
use crate::model::ModelConfig;
use maskforge_schema::SplitSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The weights.
pub const MODEL_FILE: &str = "model.safetensors";
/// The optimizer's moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Everything else needed to resume.
pub const STATE_FILE: &str = "state.json";

/// The small part of a checkpoint: where training stands and how it was configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps done.
    pub step: u64,
    /// The loader right after the last batch used.
    pub loader: LoaderState,
    /// The model's shape.
    pub model: ModelConfig,
    /// Training settings.
    pub train: TrainConfig,
    /// `config_hash` of the examples dataset trained on.
    pub dataset_config_hash: String,
    /// The dataset's split into train, validation and test (`None`: not split; also in
    /// checkpoints written before splits existed).
    #[serde(default)]
    pub split: Option<SplitSpec>,
}

impl CheckpointState {
    /// Reads `state.json` of checkpoint folder `dir`.
    pub fn read(dir: &Path) -> Result<Self, TrainerError> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read(&path).map_err(|e| TrainerError::io(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| TrainerError::io(&path, e))
    }
}

/// Writes checkpoint `step-NNNNNNN` under `root`: `tensors` writes the tensor files into the
/// folder it is given, then the state goes in and the folder is renamed into place.
pub fn write(
    root: &Path,
    state: &CheckpointState,
    tensors: impl FnOnce(&Path) -> Result<(), TrainerError>,
) -> Result<PathBuf, TrainerError> {
    let name = format!("step-{:07}", state.step);
    let partial = root.join(format!(".{name}.partial"));
    let done = root.join(&name);
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| TrainerError::io(&partial, e))?;
    tensors(&partial)?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainerError::io(&partial, e))?;
    let state_path = partial.join(STATE_FILE);
    std::fs::write(&state_path, json).map_err(|e| TrainerError::io(&state_path, e))?;
    let _ = std::fs::remove_dir_all(&done);
    std::fs::rename(&partial, &done).map_err(|e| TrainerError::io(&done, e))?;
    Ok(done)
}
