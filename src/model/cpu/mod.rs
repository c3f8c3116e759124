//! Layers computed by our own code on the CPU backend (flex), inside burn's autodiff graph.
//!
//! A profile of the benchmark's convolutional networks showed most of each training step in a
//! few burn-flex operations: the convolution's backward pass (burn's generic one, see
//! [`conv`]) and max pooling ([`pool`]). These modules compute the same results with
//! straightforward loops and matrix products, spread over the cores by sample or plane, and
//! register their own backward steps. On any other device (a GPU) the layers use burn's
//! operations unchanged.

use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use std::borrow::Cow;

pub mod adam;
pub mod attention;
pub mod conv;
pub mod lstm;
pub mod pool;

/// The autodiff backend our training uses on the CPU.
type Ad = Autodiff<Flex, NoCheckpointing>;

/// A flex tensor's values in row-major order (borrowed when already contiguous).
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or(&[]).to_vec()),
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A layer's input tensors in the form our code computes on, when they are all on the CPU.
enum Inputs {
    /// Plain f32 CPU tensors: no gradients.
    Plain(Vec<FlexTensor>),
    /// f32 CPU tensors of which at least one is recorded for gradients; a plain one (the input
    /// batch) enters the graph as a constant.
    Recorded(Vec<FloatTensor<Ad>>),
}

/// `None` when any tensor is elsewhere (a GPU, checkpointed autodiff) or not f32: those use
/// burn's own operation.
fn cpu_inputs(tensors: Vec<Tensor<4>>) -> Option<Inputs> {
    enum One {
        Plain(FlexTensor),
        Recorded(FloatTensor<Ad>),
    }
    let f32 = |t: &FlexTensor| t.dtype() == burn::tensor::DType::F32;
    let each = tensors
        .into_iter()
        .map(|t| match t.clone().try_into_primitive::<Flex>() {
            Ok(p) => f32(&p).then_some(One::Plain(p)),
            Err(_) => t
                .try_into_primitive::<Ad>()
                .ok()
                .filter(|a| f32(a.primitive()))
                .map(One::Recorded),
        })
        .collect::<Option<Vec<One>>>()?;
    if each.iter().all(|one| matches!(one, One::Plain(_))) {
        return Some(Inputs::Plain(
            each.into_iter()
                .filter_map(|one| match one {
                    One::Plain(p) => Some(p),
                    One::Recorded(_) => None,
                })
                .collect(),
        ));
    }
    Some(Inputs::Recorded(
        each.into_iter()
            .map(|one| match one {
                One::Plain(p) => <FloatTensor<Ad>>::new(p),
                One::Recorded(a) => a,
            })
            .collect(),
    ))
}

/// How many tasks a batch of `items` is cut into (one per core), and whether there are fewer
/// items than cores.
fn split(items: usize) -> (usize, bool) {
    let threads = rayon::current_num_threads().max(1);
    let tasks = threads.min(items).max(1);
    // At least one item per task: an empty batch still gets chunks of a valid size.
    (items.div_ceil(tasks).max(1), items < threads)
}

/// The element-wise sum of the tasks' partial gradients, each `len` long.
fn add_up<'a>(parts: impl IntoIterator<Item = &'a [f32]>, len: usize) -> Vec<f32> {
    let mut total = vec![0.0f32; len];
    for part in parts {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
}

// Sums, maxima and dot products over eight lanes, so they vectorise (a single running f32
// total is a chain the compiler must keep in order).

fn lanes(xs: &[f32], ys: Option<&[f32]>, start: f32, step: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [start; 8];
    let at = |i: usize| ys.map_or(xs[i], |ys| xs[i] * ys[i]);
    let whole = xs.len() / 8 * 8;
    for base in (0..whole).step_by(8) {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a = step(*a, at(base + lane));
        }
    }
    let mut total = acc.into_iter().fold(start, &step);
    for i in whole..xs.len() {
        total = step(total, at(i));
    }
    total
}

pub(super) fn sum(xs: &[f32]) -> f32 {
    lanes(xs, None, 0.0, |a, b| a + b)
}

pub(super) fn max(xs: &[f32]) -> f32 {
    lanes(xs, None, f32::NEG_INFINITY, f32::max)
}

pub(super) fn dot(xs: &[f32], ys: &[f32]) -> f32 {
    lanes(xs, Some(&ys[..xs.len()]), 0.0, |a, b| a + b)
}

/// e^x by 2ⁿ·e^r with |r| ≤ ln 2 / 2 and a degree-6 polynomial for e^r; relative error about
/// 1e-7, and arguments below −87 give e^−87 (≈ 1.6e−38) rather than underflowing. libm's is a
/// call per element (and takes a slow path on underflow); this is plain arithmetic without
/// branches, so loops over rows of it vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds to an integer and leaves it in the low bits of the sum.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_n = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    p * two_n
}

/// A row-major matrix view: element (r, c) is at `r * rs + c * cs`.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub rs: isize,
    pub cs: isize,
}

/// A row-major matrix with `cols` columns.
pub(super) fn rows_of(cols: usize) -> View {
    View {
        rs: cols as isize,
        cs: 1,
    }
}

/// The transpose of a row-major matrix with `rows` rows (read column by column).
pub(super) fn transposed(rows: usize) -> View {
    View {
        rs: 1,
        cs: rows as isize,
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each matrix a view into its slice.
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: (&mut [f32], View),
    accumulate: bool,
    lhs: (&[f32], View),
    rhs: (&[f32], View),
    parallel: bool,
) {
    // The elements a view of `rows × cols` reaches: up to its last one, inclusive.
    let span = |v: View, rows: usize, cols: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * v.rs as usize + (cols - 1) * v.cs as usize + 1
        }
    };
    assert!(
        dst.1.rs >= 0
            && dst.1.cs >= 0
            && lhs.1.rs >= 0
            && lhs.1.cs >= 0
            && rhs.1.rs >= 0
            && rhs.1.cs >= 0,
        "matmul strides are non-negative"
    );
    assert!(
        dst.0.len() >= span(dst.1, m, n),
        "matmul destination too small"
    );
    assert!(
        lhs.0.len() >= span(lhs.1, m, k),
        "matmul left operand too small"
    );
    assert!(
        rhs.0.len() >= span(rhs.1, k, n),
        "matmul right operand too small"
    );
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every element gemm reads or writes inside its slice (the
    // strides are non-negative), and `dst` does not overlap the operands (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0.as_mut_ptr(),
            dst.1.cs,
            dst.1.rs,
            accumulate,
            lhs.0.as_ptr(),
            lhs.1.cs,
            lhs.1.rs,
            rhs.0.as_ptr(),
            rhs.1.cs,
            rhs.1.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// What the kernels' tests share: reading a tensor, comparing with burn's results.
#[cfg(test)]
pub(crate) mod testing {
    use burn::tensor::Tensor;

    pub fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// Equal within 1e-4 of the larger of the reference's largest magnitude and 1e-3.
    pub fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * scale,
                "{what}[{i}]: {x} vs burn {y} (scale {scale})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The layers' own tests compare results with burn's, which the fallback would pass too;
    /// this checks the CPU tensors of training and inference really take our path.
    #[test]
    fn exp_is_close_to_libms() {
        let mut x = -90.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            let tolerance = if x < -87.0 { 2e-38 } else { 3e-7 * libm };
            assert!(
                (ours - libm).abs() <= tolerance,
                "exp({x}) = {ours}, libm {libm}"
            );
            x += 0.0137;
        }
    }

    #[test]
    fn cpu_tensors_are_recognised() {
        let plain_cpu = || Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex());
        let recorded =
            || Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex().autodiff()).require_grad();
        let kind = |tensors| match cpu_inputs(tensors) {
            Some(Inputs::Plain(v)) => format!("plain {}", v.len()),
            Some(Inputs::Recorded(v)) => format!("recorded {}", v.len()),
            None => "elsewhere".to_string(),
        };
        assert_eq!(kind(vec![plain_cpu()]), "plain 1");
        assert_eq!(kind(vec![recorded()]), "recorded 1");
        assert_eq!(kind(vec![plain_cpu(), recorded()]), "recorded 2");
        let f64_cpu = Tensor::<4>::zeros([1, 1, 2, 2], (&Device::flex(), burn::tensor::DType::F64));
        assert_eq!(kind(vec![f64_cpu]), "elsewhere");
    }
}
