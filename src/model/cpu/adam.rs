//! Adam whose update of a CPU parameter is one pass over the parameter, its gradient and both
//! moments, spread over the cores.
//!
//! burn's Adam computes the same update as a chain of tensor operations (eight for each
//! parameter, each a full pass over memory on one core): on the benchmark's dense
//! autoencoder (a million parameters) that was 1.7 ms of a 10 ms step. The arithmetic here is
//! burn's, operation for operation, so the two agree to the last bit or two; parameters on any
//! other device (a GPU), or not f32, go to burn's Adam itself. The state is burn's
//! [`AdamState`], so either path can continue the other's.

use super::values;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, AdamState, AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Adam's ε, PyTorch's default (burn's is 1e-5), on both paths and for AdamW: researchers
/// compare with PyTorch, and with burn's value the benchmark's autoencoder (J1) ended 0.4%
/// above PyTorch's training loss on every seed; with PyTorch's it ends on the same value.
pub const EPSILON: f32 = 1e-8;

/// Elements per task: large enough that spreading over the cores pays.
const CHUNK: usize = 1 << 14;

#[derive(Clone)]
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    burn: burn::optim::Adam,
}

impl Adam {
    /// Ours and, for tensors elsewhere, burn's, with the same decay rates and ε.
    fn new(beta_1: f32, beta_2: f32) -> Adam {
        let burn = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(EPSILON)
            .build();
        Adam {
            beta_1,
            beta_2,
            burn,
        }
    }

    /// A whole-module optimizer with these decay rates, and gradient clipping if asked.
    pub fn optimizer(
        beta_1: f32,
        beta_2: f32,
        clipping: Option<GradientClippingConfig>,
    ) -> ModuleOptimizer {
        let optim = ModuleOptimizer::from(Adam::new(beta_1, beta_2));
        match clipping {
            Some(c) => optim.with_grad_clipping(c.init()),
            None => optim,
        }
    }
}

/// The scalars of one update, computed as burn computes them.
struct Factors {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ)
    combined: f32,
    /// ε·√(1 − β₂ᵗ)
    epsilon: f32,
}

impl Factors {
    fn new(adam: &Adam, lr: f64, time: usize) -> Factors {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - adam.beta_2.powi(t)).sqrt();
        Factors {
            lr: lr as f32,
            beta_1: adam.beta_1,
            beta_2: adam.beta_2,
            combined: bias_correction2_sqrt / (1.0 - adam.beta_1.powi(t)),
            epsilon: EPSILON * bias_correction2_sqrt,
        }
    }
}

/// One Adam update in place, in burn's order of operations.
fn update(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], f: &Factors) {
    let (decay_1, decay_2) = (1.0 - f.beta_1, 1.0 - f.beta_2);
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| {
            for i in 0..p.len() {
                m[i] = m[i] * f.beta_1 + g[i] * decay_1;
                v[i] = v[i] * f.beta_2 + g[i] * g[i] * decay_2;
                let step = m[i] * f.combined / (v[i].sqrt() + f.epsilon);
                p[i] -= step * f.lr;
            }
        });
}

/// The tensor's CPU form, when it is an f32 tensor on the CPU backend (a clone: the caller drops
/// the original so the storage has one owner again).
fn cpu_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    t.clone()
        .try_into_primitive::<Flex>()
        .ok()
        .filter(|p| p.dtype() == DType::F32)
}

/// A tensor this code may write: contiguous, starting at its storage's start. Shared storage is
/// copied when written (`storage_mut`), so nothing another tensor holds changes.
fn writable(t: FlexTensor) -> FlexTensor {
    let whole = t
        .as_slice::<f32>()
        .is_some_and(|s| s.len() == t.storage::<f32>().len());
    if whole { t } else { t.to_contiguous() }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let zeros = |p: &FlexTensor| FlexTensor::zeros(p.layout().shape().clone(), DType::F32);
        let parts = || {
            let p = cpu_f32(&tensor)?;
            let g = cpu_f32(&grad)?;
            let (m, v) = match &state {
                None => (zeros(&p), zeros(&p)),
                Some(s) if s.momentum.max_moment_2.is_none() => (
                    cpu_f32(&s.momentum.moment_1)?,
                    cpu_f32(&s.momentum.moment_2)?,
                ),
                Some(_) => return None,
            };
            Some((p, g, m, v))
        };
        let Some((p, g, m, v)) = parts() else {
            return self.burn.step(lr, tensor, grad, state);
        };
        let time = state.as_ref().map_or(0, |s| s.momentum.time) + 1;
        // The CPU forms are now the only owners, so the update can write in place.
        drop((tensor, grad, state));
        let (mut p, mut m, mut v) = (writable(p), writable(m), writable(v));
        let g = values(&g);
        let f = Factors::new(self, lr, time);
        update(
            p.storage_mut::<f32>(),
            &g,
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
            &f,
        );
        let tensor = |t: FlexTensor| Tensor::<D>::from_primitive::<Flex>(t);
        let momentum = AdaptiveMomentumState::new(time, tensor(m), tensor(v));
        (tensor(p), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        <burn::optim::Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::testing::{close, vec_of};
    use burn::tensor::Distribution;

    /// Three steps of ours and of burn's Adam from the same start with the same gradients:
    /// the same parameters and moments (our path for f32 CPU tensors, burn's for f64).
    #[test]
    fn steps_equal_burns_adam() {
        for dtype in [DType::F32, DType::F64] {
            let device = Device::flex();
            let (beta_1, beta_2) = (0.5, 0.999);
            let ours = Adam::new(beta_1, beta_2);
            let burns = ours.burn.clone();
            let start = Tensor::<2>::random([3, 50_000], Distribution::Normal(0.0, 1.0), &device)
                .cast(dtype);
            assert_eq!(cpu_f32(&start).is_some(), dtype == DType::F32);
            let (mut p_ours, mut p_burn) = (start.clone(), start);
            let (mut s_ours, mut s_burn) = (None, None);
            for step in 0..3 {
                let grad =
                    Tensor::<2>::random([3, 50_000], Distribution::Normal(0.0, 1.0), &device)
                        .cast(dtype);
                (p_ours, s_ours) = ours.step(1e-2, p_ours, grad.clone(), s_ours);
                (p_burn, s_burn) = burns.step(1e-2, p_burn, grad, s_burn);
                let what = format!("{dtype:?} step {step}");
                close(&vec_of(p_ours.clone()), &vec_of(p_burn.clone()), &what);
                let (a, b) = (s_ours.clone().unwrap(), s_burn.clone().unwrap());
                assert_eq!(a.momentum.time, b.momentum.time);
                close(
                    &vec_of(a.momentum.moment_1),
                    &vec_of(b.momentum.moment_1),
                    &what,
                );
                close(
                    &vec_of(a.momentum.moment_2),
                    &vec_of(b.momentum.moment_2),
                    &what,
                );
            }
        }
    }

    /// A parameter another tensor still holds is copied before the update, not changed under it.
    #[test]
    fn shared_parameters_are_not_changed_in_place() {
        let device = Device::flex();
        let param = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        let kept = param.clone();
        let optim = Adam::new(0.9, 0.999);
        let grad = Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device);
        let (updated, _) = optim.step(0.1, param, grad, None);
        assert_eq!(vec_of(kept), vec![1.0, 2.0, 3.0]);
        assert!(
            vec_of(updated)
                .iter()
                .zip([1.0, 2.0, 3.0])
                .all(|(a, b)| *a < b)
        );
    }
}
