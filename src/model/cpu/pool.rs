//! Max pooling on the CPU backend.
//!
//! burn-flex's max pooling with indices (the form autodiff needs) took 21 ms forward and 9 ms
//! backward for the benchmark image CNN's first pooling layer ([64, 16, 62, 62]), more than its
//! convolutions. Here each plane (sample × channel) is one task: the forward pass keeps each
//! window's maximum and where it was, the backward pass adds each output gradient to that place.

use super::{Ad, Inputs, cpu_inputs, flex, split, values};
use burn::nn::pool::{MaxPool1d, MaxPool2d};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::Tensor;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Non-overlapping or overlapping windows without padding over `planes` planes of
/// `height × width` (small enough for `u32` positions within a plane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub out: [usize; 2],
}

impl Windows {
    pub(super) fn new(
        input: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Option<Windows> {
        let [batch, channels, height, width] = input;
        let out = |size: usize, k: usize, s: usize| {
            (s > 0 && k > 0 && size >= k).then(|| (size - k) / s + 1)
        };
        // Where each maximum was is kept as a `u32` position within its plane.
        if height.checked_mul(width)? > u32::MAX as usize {
            return None;
        }
        Some(Windows {
            batch,
            channels,
            height,
            width,
            kernel,
            stride,
            out: [
                out(height, kernel[0], stride[0])?,
                out(width, kernel[1], stride[1])?,
            ],
        })
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }

    pub(super) fn plane_in(&self) -> usize {
        self.height * self.width
    }

    pub(super) fn plane_out(&self) -> usize {
        self.out[0] * self.out[1]
    }

    /// Output values per sample.
    pub(super) fn sample_out(&self) -> usize {
        self.channels * self.plane_out()
    }

    fn output_shape(&self) -> Vec<usize> {
        vec![self.batch, self.channels, self.out[0], self.out[1]]
    }
}

/// Each window's maximum, and its position within the plane (the first, if tied).
pub fn forward(x: &[f32], g: &Windows) -> (Vec<f32>, Vec<u32>) {
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    let mut y = vec![0.0f32; g.planes() * plane_out];
    let mut at = vec![0u32; g.planes() * plane_out];
    let (per_task, _) = split(g.planes());
    y.par_chunks_mut(per_task * plane_out)
        .zip(at.par_chunks_mut(per_task * plane_out))
        .zip(x.par_chunks(per_task * plane_in))
        .for_each(|((ys, ats), xs)| max_planes(xs, ys, ats, g));
    (y, at)
}

/// The window maxima of planes lying side by side in `x`, and where each was in its plane.
pub(super) fn max_planes(x: &[f32], y: &mut [f32], at: &mut [u32], g: &Windows) {
    let planes = y
        .chunks_mut(g.plane_out())
        .zip(at.chunks_mut(g.plane_out()))
        .zip(x.chunks(g.plane_in()));
    for ((y_p, at_p), x_p) in planes {
        max_plane(x_p, y_p, at_p, g);
    }
}

/// One row of 2×2 windows side by side (the usual pooling): the four values of each window
/// in order, kept with selections the compiler turns into vector instructions.
fn max_row_2x2(x: &[f32], top: usize, w: usize, y: &mut [f32], at: &mut [u32]) {
    let n = y.len();
    let (r0, r1) = (&x[top..top + 2 * n], &x[top + w..top + w + 2 * n]);
    let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (o, ((y, at), (a, b))) in y.iter_mut().zip(at.iter_mut()).zip(windows).enumerate() {
        let first = (top + 2 * o) as u32;
        let mut best = a[0];
        let mut best_at = first;
        // Ties keep the first, as in the general case.
        for (v, place) in [
            (a[1], first + 1),
            (b[0], first + w as u32),
            (b[1], first + w as u32 + 1),
        ] {
            let larger = v > best;
            best = if larger { v } else { best };
            best_at = if larger { place } else { best_at };
        }
        *y = best;
        *at = best_at;
    }
}

/// One plane's window maxima, a row of windows at a time (row-wise loops without index
/// arithmetic per element: this runs for every value of every pooled layer).
fn max_plane(x: &[f32], y: &mut [f32], at: &mut [u32], g: &Windows) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [oh, ow] = g.out;
    let w = g.width;
    for oy in 0..oh {
        let y_row = &mut y[oy * ow..(oy + 1) * ow];
        let at_row = &mut at[oy * ow..(oy + 1) * ow];
        let top = oy * sh * w;
        if [kh, kw, sh, sw] == [2, 2, 2, 2] {
            max_row_2x2(x, top, w, y_row, at_row);
            continue;
        }
        for (ox, (y, at)) in y_row.iter_mut().zip(at_row.iter_mut()).enumerate() {
            let corner = top + ox * sw;
            // Start from the window's top-left value; ties keep the first.
            let (mut best, mut best_at) = (x[corner], corner);
            for i in 0..kh {
                let start = corner + i * w;
                for (j, &v) in x[start..start + kw].iter().enumerate() {
                    // Which value is larger is as good as random in a network's activations:
                    // a branch here is mispredicted half the time, and was most of this
                    // function's time.
                    let larger = v > best;
                    best = std::hint::select_unpredictable(larger, v, best);
                    best_at = std::hint::select_unpredictable(larger, start + j, best_at);
                }
            }
            *y = best;
            *at = best_at as u32;
        }
    }
}

/// The input gradient: each output's gradient added where its maximum was.
pub fn backward(dy: &[f32], at: &[u32], g: &Windows) -> Vec<f32> {
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    let mut dx = vec![0.0f32; g.planes() * plane_in];
    let (per_task, _) = split(g.planes());
    dx.par_chunks_mut(per_task * plane_in)
        .zip(dy.par_chunks(per_task * plane_out))
        .zip(at.par_chunks(per_task * plane_out))
        .for_each(|((dxs, dys), ats)| spread_planes(dys, ats, dxs, g));
    dx
}

/// Adds the output gradients of planes lying side by side in `dy` to where each window's
/// maximum was in `dx`.
pub(super) fn spread_planes(dy: &[f32], at: &[u32], dx: &mut [f32], g: &Windows) {
    let planes = dx
        .chunks_mut(g.plane_in())
        .zip(dy.chunks(g.plane_out()))
        .zip(at.chunks(g.plane_out()));
    for ((dx_p, dy_p), at_p) in planes {
        for (&d, &a) in dy_p.iter().zip(at_p) {
            dx_p[a as usize] += d;
        }
    }
}

#[derive(Debug)]
struct PoolBackward;

#[derive(Clone, Debug)]
struct PoolState {
    at: Arc<Vec<u32>>,
    windows: Windows,
}

impl Backward<Flex, 1> for PoolBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [Some(node)] = ops.parents else {
            return;
        };
        let dy: FlexTensor = grads.consume::<Flex>(&ops.node);
        let PoolState { at, windows: g } = ops.state;
        let dx = backward(&values(&dy), &at, &g);
        let shape = vec![g.batch, g.channels, g.height, g.width];
        grads.register::<Flex>(node.id, flex(dx, shape));
    }
}

/// Max pooling here if the input is on the CPU backend; `None` means "use burn's".
fn run(x: Tensor<4>, g: &Windows) -> Option<Tensor<4>> {
    match cpu_inputs(vec![x])? {
        Inputs::Plain(t) => {
            let (y, _) = forward(&values(&t[0]), g);
            Some(Tensor::from_primitive::<Flex>(flex(y, g.output_shape())))
        }
        Inputs::Recorded(t) => {
            let x = &t[0];
            let (y, at) = forward(&values(x.primitive()), g);
            let y = flex(y, g.output_shape());
            let output = match PoolBackward
                .prepare::<NoCheckpointing>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    PoolState {
                        at: Arc::new(at),
                        windows: *g,
                    },
                    y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Some(Tensor::from_primitive::<Ad>(output))
        }
    }
}

/// The windows of a `MaxPool2d` layer over `input`, if this module computes it: no padding,
/// dilation or rounding up.
pub(super) fn windows2d(layer: &MaxPool2d, input: [usize; 4]) -> Option<Windows> {
    let plain =
        layer.padding == PaddingConfig2d::Valid && layer.dilation == [1, 1] && !layer.ceil_mode;
    plain
        .then(|| Windows::new(input, layer.kernel_size, layer.stride))
        .flatten()
}

/// The windows of a `MaxPool1d` layer over `input` ([batch, channels, 1, length]), if this module
/// computes it (as for [`windows2d`]).
pub(super) fn windows1d(layer: &MaxPool1d, input: [usize; 4]) -> Option<Windows> {
    let plain = layer.padding == PaddingConfig1d::Valid && layer.dilation == 1 && !layer.ceil_mode;
    plain
        .then(|| Windows::new(input, [1, layer.kernel_size], [1, layer.stride]))
        .flatten()
}

/// A `MaxPool2d` layer's forward pass (computed here on the CPU when it has no padding).
pub fn max_pool2d(layer: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if let Some(g) = windows2d(layer, x.dims())
        && let Some(y) = run(x.clone(), &g)
    {
        return y;
    }
    layer.forward(x)
}

/// A `MaxPool1d` layer's forward pass (computed here on the CPU when it has no padding).
pub fn max_pool1d(layer: &MaxPool1d, x: Tensor<3>) -> Tensor<3> {
    let [batch, channels, length] = x.dims();
    let input = [batch, channels, 1, length];
    if let Some(g) = windows1d(layer, input)
        && let Some(y) = run(x.clone().reshape(input), &g)
    {
        return y.reshape([batch, channels, g.out[1]]);
    }
    layer.forward(x)
}

/// The maximum over the last axis of [batch, channels, length], as [batch, channels, 1].
pub fn max_over_positions(x: Tensor<3>) -> Tensor<3> {
    let [batch, channels, length] = x.dims();
    let input = [batch, channels, 1, length];
    if let Some(g) = Windows::new(input, [1, length], [1, length])
        && let Some(y) = run(x.clone().reshape(input), &g)
    {
        return y.reshape([batch, channels, 1]);
    }
    x.max_dim(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::testing::vec_of;
    use burn::nn::pool::{MaxPool1dConfig, MaxPool2dConfig};
    use burn::tensor::{Device, Distribution};

    /// Output and input gradient from our pooling and burn's, under a loss that weighs each
    /// output differently.
    fn compare<const D: usize>(
        ours: impl Fn(Tensor<D>) -> Tensor<D>,
        burns: impl Fn(Tensor<D>) -> Tensor<D>,
        shape: [usize; D],
    ) {
        let device = Device::flex().autodiff();
        let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let (a, b) = (ours(x.clone()), burns(x.clone()));
        assert_eq!(a.dims(), b.dims(), "{shape:?}");
        let w = Tensor::<D>::random(a.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ga = (a.clone() * w.clone()).sum().backward();
        let gb = (b.clone() * w).sum().backward();
        assert_eq!(vec_of(a), vec_of(b), "{shape:?} output");
        assert_eq!(
            vec_of(x.grad(&ga).unwrap()),
            vec_of(x.grad(&gb).unwrap()),
            "{shape:?} dx"
        );
    }

    #[test]
    fn two_d_matches_burns_pooling_and_gradient() {
        for (kernel, stride, shape) in [
            ([2, 2], None, [3, 4, 9, 7]),
            ([3, 3], Some([2, 2]), [2, 3, 11, 10]),
            ([2, 3], Some([1, 1]), [2, 2, 5, 6]),
        ] {
            let mut config = MaxPool2dConfig::new(kernel);
            if let Some(s) = stride {
                config = config.with_strides(s);
            }
            let layer = config.init();
            compare(|x| max_pool2d(&layer, x), |x| layer.forward(x), shape);
        }
    }

    #[test]
    fn one_d_and_global_match_burn() {
        let layer = MaxPool1dConfig::new(4).init();
        compare(|x| max_pool1d(&layer, x), |x| layer.forward(x), [3, 5, 22]);
        compare(max_over_positions, |x: Tensor<3>| x.max_dim(2), [4, 3, 17]);
    }

    #[test]
    fn planes_too_large_for_u32_positions_are_left_to_burn() {
        assert!(Windows::new([1, 1, 70_000, 70_000], [2, 2], [2, 2]).is_none());
        assert!(Windows::new([1, 1, 60_000, 60_000], [2, 2], [2, 2]).is_some());
    }

    #[test]
    fn without_autodiff_it_is_the_same_forward_pass() {
        let layer = MaxPool2dConfig::new([2, 2]).init();
        let x = Tensor::<4>::random(
            [2, 3, 8, 8],
            Distribution::Normal(0.0, 1.0),
            &Device::flex(),
        );
        assert_eq!(
            vec_of(max_pool2d(&layer, x.clone())),
            vec_of(layer.forward(x))
        );
    }
}
