//! AdamW with decoupled weight decay (none on biases and layer norms), global-norm gradient
//! clipping, and a state that is saved with every checkpoint.

use crate::TrainerError;
use candle_core::{Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

/// AdamW's settings.
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay (matrices and embeddings only).
    pub weight_decay: f64,
}

/// AdamW over named variables.
pub struct AdamW {
    config: AdamWConfig,
    vars: Vec<(String, Var)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: u64,
}

/// Whether a tensor is decayed: not biases, not layer norms.
fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("norm"))
}

impl AdamW {
    /// An optimizer of `vars` with zero moments.
    pub fn new(vars: &[(String, Var)], config: AdamWConfig) -> Result<Self, TrainerError> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(Self {
            config,
            first: vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_, _>>()?,
            second: vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_, _>>()?,
            vars: vars.to_vec(),
            steps: 0,
        })
    }

    /// Updates done so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update with learning rate `lr` from `grads` (by variable position; `None`: no
    /// gradient, the variable and its moments stay).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) -> Result<(), TrainerError> {
        self.steps += 1;
        let c = self.config;
        let t = self.steps as i32;
        let (correction1, correction2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (i, ((name, var), grad)) in self.vars.iter().zip(grads).enumerate() {
            let Some(grad) = grad else { continue };
            let first = ((&self.first[i] * c.beta1)? + (grad * (1.0 - c.beta1))?)?;
            let second = ((&self.second[i] * c.beta2)? + (grad.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&first / correction1)? / ((&second / correction2)?.sqrt()? + c.eps)?)?;
            let mut next = (var.as_tensor() - (update * lr)?)?;
            if decays(name) && c.weight_decay > 0.0 {
                next = (next - (var.as_tensor() * (lr * c.weight_decay))?)?;
            }
            var.set(&next)?;
            self.first[i] = first;
            self.second[i] = second;
        }
        Ok(())
    }

    /// Writes the moments and the step count to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<(), TrainerError> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            map.insert(format!("first.{name}"), self.first[i].clone());
            map.insert(format!("second.{name}"), self.second[i].clone());
        }
        let device = self
            .first
            .first()
            .map(|t| t.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        map.insert("steps".into(), Tensor::new(&[self.steps as f64], &device)?);
        candle_core::safetensors::save(&map, path).map_err(|e| TrainerError::io(path, e))
    }

    /// Restores the moments and the step count saved by [`AdamW::save`].
    pub fn load(&mut self, path: &Path) -> Result<(), TrainerError> {
        let device = self
            .first
            .first()
            .map(|t| t.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let map = candle_core::safetensors::load(path, &device).map_err(|e| TrainerError::io(path, e))?;
        let get = |key: String| {
            map.get(&key)
                .cloned()
                .ok_or_else(|| TrainerError::io(path, format!("no tensor `{key}`")))
        };
        for (i, (name, _)) in self.vars.iter().enumerate() {
            self.first[i] = get(format!("first.{name}"))?;
            self.second[i] = get(format!("second.{name}"))?;
        }
        self.steps = get("steps".into())?.to_vec1::<f64>()?.first().copied().unwrap_or(0.0) as u64;
        Ok(())
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_by_global_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> Result<f64, TrainerError> {
    let mut total = 0.0f64;
    for g in grads.iter().flatten() {
        total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
    }
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in grads.iter_mut().flatten() {
            *g = (&*g * scale)?;
        }
    }
    Ok(norm)
}

/// Linear warm-up to `peak` over `warmup` steps, then linear decay to 0 at `total`.
pub fn learning_rate(step: u64, peak: f64, warmup: u64, total: u64) -> f64 {
    if warmup > 0 && step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let left = total.saturating_sub(step) as f64;
    let span = total.saturating_sub(warmup).max(1) as f64;
    peak * (left / span).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_linear_decay() {
        assert!((learning_rate(0, 1.0, 10, 110) - 0.1).abs() < 1e-12);
        assert!((learning_rate(9, 1.0, 10, 110) - 1.0).abs() < 1e-12);
        assert!((learning_rate(60, 1.0, 10, 110) - 0.5).abs() < 1e-12);
        assert_eq!(learning_rate(110, 1.0, 10, 110), 0.0);
    }

    #[test]
    fn adamw_moves_against_the_gradient_and_decays_matrices_only() {
        let device = candle_core::Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[1.0f32, 1.0], &device).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[1.0f32], &device).unwrap()).unwrap();
        let vars = vec![("w.weight".to_owned(), w.clone()), ("w.bias".to_owned(), b.clone())];
        let config = AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut opt = AdamW::new(&vars, config).unwrap();
        let grads = vec![
            Some(Tensor::new(&[1.0f32, 0.0], &device).unwrap()),
            Some(Tensor::new(&[0.0f32], &device).unwrap()),
        ];
        opt.step(&grads, 0.1).unwrap();
        let w = w.as_tensor().to_vec1::<f32>().unwrap();
        assert!((w[0] - (1.0 - 0.1 - 0.05)).abs() < 1e-4, "{w:?}");
        assert!((w[1] - (1.0 - 0.05)).abs() < 1e-4, "decay only: {w:?}");
        assert_eq!(b.as_tensor().to_vec1::<f32>().unwrap(), [1.0], "no decay on biases");
    }
}
