//! Dropout with masks drawn fast on the CPU. burn 0.22 draws each mask element
//! through a generic, single-threaded sampler, which took over a third of a
//! transformer's training time on the CPU backend (`lamina bench` J5). On the
//! CPU (flex) the mask is filled here from ChaCha streams on every core and
//! handed over as one tensor; on a GPU burn's own on-device sampler is used.

use std::cell::Cell;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    /// Advanced once per mask. Per thread: a training run owns its thread, so its
    /// masks follow from its seed whatever else runs beside it.
    static MASKS: Cell<u64> = const { Cell::new(0) };
}

/// Make the masks of the coming run (on this thread) follow from `seed`.
pub fn seed(seed: u64) {
    MASKS.with(|m| m.set(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
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
    if p <= 0.0 || !device.is_autodiff() {
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
