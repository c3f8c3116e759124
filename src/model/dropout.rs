//! Randomness drawn while training: dropout masks and noise (VAE sampling,
//! GAN inputs), from the run's seed on the thread that trains, so a run's draws
//! do not depend on what else runs beside it (burn's device generator is
//! shared by every run on the device).
//!
//! Dropout masks are drawn fast on the CPU. burn 0.22 draws each mask element
//! through a generic, single-threaded sampler, which took over a third of a
//! transformer's training time on the CPU backend (`lamina bench` J5). On the
//! CPU (flex) the mask is filled here from ChaCha streams on every core and
//! handed over as one tensor; on a GPU burn's own on-device sampler is used.

use std::cell::{Cell, RefCell};

use burn::tensor::{Device, Distribution, Shape, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    /// Advanced once per mask. Per thread: a training run owns its thread, so its
    /// masks follow from its seed whatever else runs beside it.
    static MASKS: Cell<u64> = const { Cell::new(0) };
    /// The run's noise, likewise.
    static NOISE: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(0));
    /// Set while [`switched_off`] runs: no dropout, also on an autodiff device.
    static OFF: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with dropout off on this thread, also on an autodiff device: the
/// gradients of a trained model's outputs (attributions) are those of the
/// model as it predicts, not as it trains.
pub fn switched_off<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            OFF.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OFF.with(|o| o.replace(true)));
    f()
}

/// Whether dropout applies to values on `device`: while training (on an
/// autodiff device), unless [`switched_off`].
pub fn active(device: &Device) -> bool {
    device.is_autodiff() && !OFF.with(Cell::get)
}

/// Make the masks and noise of the coming run (on this thread) follow from `seed`.
pub fn seed(seed: u64) {
    MASKS.with(|m| m.set(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    NOISE.with(|n| *n.borrow_mut() = StdRng::seed_from_u64(seed ^ 0x6E6F_6973_6500_0000));
}

/// Standard normal noise of `shape` on `device`, drawn on the host from this
/// thread's run (small tensors: a batch of latent codes or generator inputs).
pub fn normal<const D: usize>(shape: impl Into<Shape>, device: &Device) -> Tensor<D> {
    let data = NOISE.with(|n| {
        TensorData::random::<f32, _, _>(shape, Distribution::Normal(0.0, 1.0), &mut *n.borrow_mut())
    });
    Tensor::from_data(data, device)
}

/// The start of the next mask's draws (for masks drawn elsewhere, such as the attention
/// weights' in `cpu::attention`).
pub fn next_seed() -> u64 {
    MASKS.with(|m| {
        let v = m.get();
        m.set(v.wrapping_add(1));
        v
    })
}

/// Zero each value with probability `p` and scale the rest by `1 / (1 − p)`,
/// while training (on an autodiff device); unchanged otherwise.
pub fn dropout<const D: usize>(x: Tensor<D>, p: f64) -> Tensor<D> {
    let device = x.device();
    if p <= 0.0 || !active(&device) {
        return x;
    }
    let keep = 1.0 - p;
    if device.clone().inner() != Device::flex() {
        let mask = x.random_like(Distribution::Bernoulli(keep));
        return x * mask.div_scalar(keep);
    }
    let shape = x.shape();
    let n = shape.num_elements();
    let base = next_seed();
    let scale = (1.0 / keep) as f32;
    // Keep a value when a uniform 32-bit draw falls below keep · 2³².
    let threshold = (keep * 4_294_967_296.0).min(4_294_967_295.0) as u32;
    let mut mask = vec![0.0f32; n];
    let fill = |part: &mut [f32], stream: u64| {
        let mut rng = StdRng::seed_from_u64(base ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        for v in part {
            if rng.next_u32() < threshold {
                *v = scale;
            }
        }
    };
    const CHUNK: usize = 1 << 16;
    if n <= CHUNK {
        fill(&mut mask, 0);
    } else {
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let per = n.div_ceil(threads).max(CHUNK);
        std::thread::scope(|s| {
            for (i, part) in mask.chunks_mut(per).enumerate() {
                s.spawn(move || fill(part, i as u64 + 1));
            }
        });
    }
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_follows_the_seed_whatever_else_draws() {
        let device = Device::flex();
        let draw = |other_draws: bool| {
            seed(7);
            let a: Tensor<2> = normal([2, 3], &device);
            if other_draws {
                // Another run on the same device draws from burn's generator.
                let _ = Tensor::<2>::random([50, 50], Distribution::Default, &device);
            }
            let b: Tensor<2> = normal([2, 3], &device);
            Tensor::cat(vec![a, b], 0).into_data()
        };
        let alone = draw(false);
        assert_eq!(alone, draw(true));
        let v: Vec<f32> = alone.try_to_vec().unwrap();
        assert!(v[..6] != v[6..], "successive draws differ");
        let mean = v.iter().sum::<f32>() / 12.0;
        assert!(mean.abs() < 1.5 && v.iter().any(|&x| x < 0.0), "{v:?}");
    }

    #[test]
    fn keeps_about_one_minus_p_and_rescales() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::ones([400, 500], &device);
        let y: Vec<f32> = dropout(x.clone(), 0.25).into_data().try_to_vec().unwrap();
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "{kept}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        // Evaluation (no autodiff) leaves values alone.
        let z = Tensor::<2>::ones([3, 3], &Device::flex());
        let z: Vec<f32> = dropout(z, 0.5).into_data().try_to_vec().unwrap();
        assert!(z.iter().all(|&v| v == 1.0));
    }
}
