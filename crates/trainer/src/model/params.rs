//! A model's trainable tensors by name: keyed initialisation (the same weights for the same
//! seed on every machine), saving and loading as safetensors.

use crate::TrainerError;
use candle_core::{DType, Device, Tensor, Var};
use maskforge_masking::{KeyedRng, Purpose, mix64};
use std::collections::HashMap;
use std::path::Path;

/// How a tensor starts.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// All ones (layer norm scales).
    Ones,
    /// All zeros (biases).
    Zeros,
}

/// Named trainable tensors, in creation order.
pub struct Params {
    device: Device,
    seed: u64,
    vars: Vec<(String, Var)>,
}

/// A stable 64-bit key of a name (FNV-1a), for keyed initialisation.
fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Params {
    /// An empty set on `device`; weights are keyed on `seed`.
    pub fn new(device: Device, seed: u64) -> Self {
        Self {
            device,
            seed,
            vars: Vec::new(),
        }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Creates tensor `name` of `shape`, initialised by `init` from its own keyed stream.
    pub fn create(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor, TrainerError> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match init {
            Init::Ones => vec![1.0; n],
            Init::Zeros => vec![0.0; n],
            Init::Normal(std) => {
                let mut rng = KeyedRng::new(self.seed, Purpose::Init, 0, mix64(name_key(name), 0));
                (0..n)
                    .map(|_| {
                        // Box-Muller; 1 - unit() is in (0, 1], so the log is finite.
                        let (u, v) = (1.0 - rng.unit(), rng.unit());
                        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos() * std) as f32
                    })
                    .collect()
            }
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, &self.device)?)?;
        let tensor = var.as_tensor().clone();
        self.vars.push((name.to_owned(), var));
        Ok(tensor)
    }

    /// Every tensor with its name.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Parameters in all tensors.
    pub fn count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Writes all tensors to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<(), TrainerError> {
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, path).map_err(|e| TrainerError::io(path, e))
    }

    /// Replaces every tensor's values with those saved in a safetensors file; names and shapes
    /// must match.
    pub fn load(&self, path: &Path) -> Result<(), TrainerError> {
        let map = candle_core::safetensors::load(path, &self.device).map_err(|e| TrainerError::io(path, e))?;
        for (name, var) in &self.vars {
            let saved = map
                .get(name)
                .ok_or_else(|| TrainerError::io(path, format!("no tensor `{name}`")))?;
            if saved.dims() != var.dims() {
                return Err(TrainerError::io(
                    path,
                    format!("`{name}` has shape {:?}, the model {:?}", saved.dims(), var.dims()),
                ));
            }
            var.set(&saved.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }
}
