//! Convolutions on the CPU backend as per-sample im2col and matrix products.
//!
//! burn-flex runs a convolution's forward pass well, but its backward pass (burn's generic one)
//! finds the weight gradient as a convolution whose kernel is the whole output gradient, and the
//! input gradient as a transposed convolution; in the benchmark's image CNN those two took most of
//! each training step. Here the forward pass and both gradients are matrix products (gemm), one
//! sample per task with the samples spread over the cores, and the input gradient is skipped when
//! nothing needs it (a network's first layer). Other devices, grouped or dilated convolutions use
//! burn's own convolution.

use super::pool::{self, Windows};
use super::{
    Ad, Inputs, add_up, cpu_inputs, flex, matmul, rows_of, split, sum, transposed, values,
};
use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv2d};
use burn::nn::pool::{MaxPool1d, MaxPool2d};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::Tensor;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::Arc;

/// The sizes of one convolution over a batch (1-D convolutions have a height of 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zero rows and columns added before the first (top, left); those after follow from `out`.
    pub pad: [usize; 2],
    pub out: [usize; 2],
}

impl Geometry {
    /// Padding pairs are (before, after) for height and width.
    fn new(
        input: [usize; 4],
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [(usize, usize); 2],
    ) -> Option<Geometry> {
        let [batch, channels, height, width] = input;
        let out = |size: usize, (a, b): (usize, usize), k: usize, s: usize| {
            (size + a + b).checked_sub(k).map(|span| span / s + 1)
        };
        Some(Geometry {
            batch,
            channels,
            height,
            width,
            filters,
            kernel,
            stride,
            pad: [pad[0].0, pad[1].0],
            out: [
                out(height, pad[0], kernel[0], stride[0])?,
                out(width, pad[1], kernel[1], stride[1])?,
            ],
        })
    }

    /// Rows of the patch matrix: one per input channel and kernel position.
    fn patch(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per sample.
    fn positions(&self) -> usize {
        self.out[0] * self.out[1]
    }

    fn input_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn output_size(&self) -> usize {
        self.filters * self.positions()
    }

    /// A 1×1 kernel with stride 1 and no padding reads the input as it is.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }
}

/// The outputs `o` in `0..out` whose input index `o * stride + k - pad` lies in `0..size`.
fn valid_range(out: usize, stride: usize, k: usize, pad: usize, size: usize) -> (usize, usize) {
    let lo = if k >= pad {
        0
    } else {
        (pad - k).div_ceil(stride)
    };
    let hi = if size + pad <= k {
        0
    } else {
        (size + pad - k).div_ceil(stride)
    };
    let hi = hi.min(out);
    (lo.min(hi), hi)
}

/// Visits every (patch row, output row) pair with the matching input row, or `None` where the
/// kernel reads padding, and the output columns `lo..hi` that read inside the input.
fn for_each_patch_row(
    g: &Geometry,
    mut visit: impl FnMut(usize, usize, Option<usize>, (usize, usize), usize),
) {
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    for c in 0..g.channels {
        for i in 0..kh {
            for j in 0..kw {
                let row = (c * kh + i) * kw + j;
                let cols = valid_range(ow, g.stride[1], j, g.pad[1], g.width);
                for oy in 0..oh {
                    let iy = (oy * g.stride[0] + i).checked_sub(g.pad[0]);
                    let input_row = iy
                        .filter(|&iy| iy < g.height)
                        .map(|iy| (c * g.height + iy) * g.width);
                    // The input column of output column `lo` is `lo * stride + j - pad`.
                    visit(row, oy, input_row, cols, j);
                }
            }
        }
    }
}

/// Fills `col` ([patch, positions]) with the input values each output position reads.
fn im2col(x: &[f32], g: &Geometry, col: &mut [f32]) {
    let (p, ow, sw, pl) = (g.positions(), g.out[1], g.stride[1], g.pad[1]);
    for_each_patch_row(g, |row, oy, input_row, (lo, hi), j| {
        let dst = &mut col[row * p + oy * ow..][..ow];
        let Some(start) = input_row else {
            dst.fill(0.0);
            return;
        };
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if lo == hi {
            return;
        }
        let first = start + lo * sw + j - pl;
        if sw == 1 {
            dst[lo..hi].copy_from_slice(&x[first..first + hi - lo]);
        } else {
            for (o, d) in dst[lo..hi].iter_mut().enumerate() {
                *d = x[first + o * sw];
            }
        }
    });
}

/// Adds each patch value back onto the input position it was read from (the transpose of
/// [`im2col`]).
fn col2im(col: &[f32], g: &Geometry, dx: &mut [f32]) {
    let (p, ow, sw, pl) = (g.positions(), g.out[1], g.stride[1], g.pad[1]);
    for_each_patch_row(g, |row, oy, input_row, (lo, hi), j| {
        let (Some(start), true) = (input_row, lo < hi) else {
            return;
        };
        let src = &col[row * p + oy * ow + lo..][..hi - lo];
        let first = start + lo * sw + j - pl;
        if sw == 1 {
            for (d, s) in dx[first..first + hi - lo].iter_mut().zip(src) {
                *d += s;
            }
        } else {
            for (o, s) in src.iter().enumerate() {
                dx[first + o * sw] += s;
            }
        }
    });
}

/// One sample's output `y_n = W · patches(x_n) + b`, [filters, positions], with `col` to hold the
/// patches.
fn forward_sample(
    x_n: &[f32],
    (w, b): (&[f32], Option<&[f32]>),
    g: &Geometry,
    col: &mut [f32],
    y_n: &mut [f32],
    parallel: bool,
) {
    let (k, p, f) = (g.patch(), g.positions(), g.filters);
    let patches: &[f32] = if g.pointwise() {
        x_n
    } else {
        im2col(x_n, g, col);
        col
    };
    if let Some(b) = b {
        for (row, &bias) in y_n.chunks_mut(p).zip(b) {
            row.fill(bias);
        }
    }
    matmul(
        (f, p, k),
        (y_n, rows_of(p)),
        b.is_some(),
        (w, rows_of(k)),
        (patches, rows_of(p)),
        parallel,
    );
}

/// A patch buffer for one sample (none for a pointwise convolution, which reads its input).
fn patch_buffer(g: &Geometry) -> Vec<f32> {
    vec![
        0.0f32;
        if g.pointwise() {
            0
        } else {
            g.patch() * g.positions()
        }
    ]
}

/// The forward pass: `y[n] = W · patches(x[n]) + b`, [batch, filters, out_h, out_w].
pub fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let mut y = vec![0.0f32; g.batch * g.output_size()];
    let (per_task, parallel) = split(g.batch);
    y.par_chunks_mut(per_task * g.output_size())
        .zip(x.par_chunks(per_task * g.input_size()))
        .for_each(|(ys, xs)| {
            let mut col = patch_buffer(g);
            for (y_n, x_n) in ys
                .chunks_mut(g.output_size())
                .zip(xs.chunks(g.input_size()))
            {
                forward_sample(x_n, (w, b), g, &mut col, y_n, parallel);
            }
        });
    y
}

/// The forward pass followed by max pooling over each output plane, one sample at a time: the
/// pooled output [batch, filters, pooled_h, pooled_w] and where each window's maximum was in its
/// plane. A sample's full-size output is pooled while it is still in cache, and the batch's is
/// never stored (the first convolution of the benchmark's image CNN makes 16 MB of it).
pub fn forward_pooled(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Geometry,
    pool: &Windows,
) -> (Vec<f32>, Vec<u32>) {
    let pooled = pool.sample_out();
    let mut y = vec![0.0f32; g.batch * pooled];
    let mut at = vec![0u32; g.batch * pooled];
    let (per_task, parallel) = split(g.batch);
    y.par_chunks_mut(per_task * pooled)
        .zip(at.par_chunks_mut(per_task * pooled))
        .zip(x.par_chunks(per_task * g.input_size()))
        .for_each(|((ys, ats), xs)| {
            let mut col = patch_buffer(g);
            let mut full = vec![0.0f32; g.output_size()];
            let samples = ys
                .chunks_mut(pooled)
                .zip(ats.chunks_mut(pooled))
                .zip(xs.chunks(g.input_size()));
            for ((y_n, at_n), x_n) in samples {
                forward_sample(x_n, (w, b), g, &mut col, &mut full, parallel);
                pool::max_planes(&full, y_n, at_n, pool);
            }
        });
    (y, at)
}

/// Which gradients the backward pass computes.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub input: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of a convolution from its output gradient `dy` ([batch, filters, out_h, out_w]).
pub struct Grads {
    pub input: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// The gradient of a convolution's output.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a> {
    /// [batch, filters, out_h, out_w].
    Dense(&'a [f32]),
    /// The gradient of max pooling over the output planes ([batch, filters, pooled_h,
    /// pooled_w]) and where each window's maximum was (see [`forward_pooled`]).
    Pooled {
        dy: &'a [f32],
        at: &'a [u32],
        windows: &'a Windows,
    },
}

impl<'a> OutputGrad<'a> {
    /// Values per sample.
    fn per_sample(&self, g: &Geometry) -> usize {
        match self {
            OutputGrad::Dense(_) => g.output_size(),
            OutputGrad::Pooled { windows, .. } => windows.sample_out(),
        }
    }

    /// The gradients of successive groups of `samples` samples.
    fn groups(self, samples: usize, g: &Geometry) -> Vec<OutputGrad<'a>> {
        let size = (samples * self.per_sample(g)).max(1);
        match self {
            OutputGrad::Dense(dy) => dy.chunks(size).map(OutputGrad::Dense).collect(),
            OutputGrad::Pooled { dy, at, windows } => dy
                .chunks(size)
                .zip(at.chunks(size))
                .map(|(dy, at)| OutputGrad::Pooled { dy, at, windows })
                .collect(),
        }
    }

    /// Sample `n`'s output gradient, [filters, positions]; a pooled one is spread into `full`
    /// (one sample's output size) first.
    fn sample<'b>(&'b self, n: usize, g: &Geometry, full: &'b mut [f32]) -> &'b [f32] {
        let size = self.per_sample(g);
        match *self {
            OutputGrad::Dense(dy) => &dy[n * size..][..size],
            OutputGrad::Pooled { dy, at, windows } => {
                full.fill(0.0);
                let range = n * size..(n + 1) * size;
                pool::spread_planes(&dy[range.clone()], &at[range], full, windows);
                full
            }
        }
    }
}

/// The backward pass: `dW = Σ_n dy[n] · patches(x[n])ᵀ`, `db = Σ dy`, and
/// `dx[n] = col2im(Wᵀ · dy[n])`.
pub fn backward(x: &[f32], w: &[f32], dy: OutputGrad, g: &Geometry, want: Wanted) -> Grads {
    let (k, p, f) = (g.patch(), g.positions(), g.filters);
    let (per_task, parallel) = split(g.batch);
    let mut dx = vec![0.0f32; if want.input { x.len() } else { 0 }];
    let dx_parts: Vec<Option<&mut [f32]>> = if want.input {
        dx.chunks_mut(per_task * g.input_size()).map(Some).collect()
    } else {
        (0..g.batch.div_ceil(per_task)).map(|_| None).collect()
    };
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx_parts
        .into_par_iter()
        .zip(x.par_chunks(per_task * g.input_size()))
        .zip(dy.groups(per_task, g))
        .map(|((mut dx_part, xs), dys)| {
            // With more patch rows than filters, the weight gradient is computed transposed,
            // [patch, filters]: see below.
            let by_patch = want.weight && k > f;
            let mut dw = vec![0.0f32; if want.weight { f * k } else { 0 }];
            let mut dy_t = vec![0.0f32; if by_patch { p * f } else { 0 }];
            let mut db = vec![0.0f32; if want.bias { f } else { 0 }];
            let mut col = vec![
                0.0f32;
                if want.weight && !g.pointwise() {
                    k * p
                } else {
                    0
                }
            ];
            let mut dcol = vec![0.0f32; if want.input { k * p } else { 0 }];
            let pooled = matches!(dys, OutputGrad::Pooled { .. });
            let mut full = vec![0.0f32; if pooled { g.output_size() } else { 0 }];
            for (n, x_n) in xs.chunks(g.input_size()).enumerate() {
                let dy_n = dys.sample(n, g, &mut full);
                if want.weight {
                    let patches: &[f32] = if g.pointwise() {
                        x_n
                    } else {
                        im2col(x_n, g, &mut col);
                        &col
                    };
                    if by_patch {
                        // dWᵀ += patches · dyᵀ. Both the patches and dy hold each row's
                        // positions side by side, and the sum runs over positions; gemm is
                        // five times slower when its right operand is read across like that
                        // (dy · patchesᵀ) and the patches are many, so dy is transposed here
                        // (a small part of the product's time).
                        transpose(dy_n, f, p, &mut dy_t);
                        matmul(
                            (k, f, p),
                            (&mut dw, rows_of(f)),
                            true,
                            (patches, rows_of(p)),
                            (&dy_t, rows_of(f)),
                            parallel,
                        );
                    } else {
                        matmul(
                            (f, k, p),
                            (&mut dw, rows_of(k)),
                            true,
                            (dy_n, rows_of(p)),
                            (patches, transposed(p)),
                            parallel,
                        );
                    }
                }
                if want.bias {
                    for (total, row) in db.iter_mut().zip(dy_n.chunks(p)) {
                        *total += sum(row);
                    }
                }
                if let Some(dx_part) = dx_part.as_deref_mut() {
                    let dx_n = &mut dx_part[n * g.input_size()..][..g.input_size()];
                    if g.pointwise() {
                        matmul(
                            (k, p, f),
                            (dx_n, rows_of(p)),
                            false,
                            (w, transposed(k)),
                            (dy_n, rows_of(p)),
                            parallel,
                        );
                    } else {
                        matmul(
                            (k, p, f),
                            (&mut dcol, rows_of(p)),
                            false,
                            (w, transposed(k)),
                            (dy_n, rows_of(p)),
                            parallel,
                        );
                        col2im(&dcol, g, dx_n);
                    }
                }
            }
            if by_patch {
                let dw_t = std::mem::replace(&mut dw, vec![0.0f32; f * k]);
                transpose(&dw_t, k, f, &mut dw);
            }
            (dw, db)
        })
        .collect();
    let (dws, dbs): (Vec<Vec<f32>>, Vec<Vec<f32>>) = partial.into_iter().unzip();
    Grads {
        input: want.input.then_some(dx),
        weight: want
            .weight
            .then(|| add_up(dws.iter().map(Vec::as_slice), f * k)),
        bias: want.bias.then(|| add_up(dbs.iter().map(Vec::as_slice), f)),
    }
}

/// `dst` ([cols, rows]) = `src` ([rows, cols])ᵀ, both row-major.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for (r, row) in src.chunks(cols).take(rows).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            dst[c * rows + r] = v;
        }
    }
}

#[derive(Debug)]
struct ConvBackward;

#[derive(Clone, Debug)]
struct ConvState {
    x: FlexTensor,
    w: FlexTensor,
    geometry: Geometry,
    /// Where the maxima were, when the output was max-pooled in the same operation.
    pooled: Option<(Arc<Vec<u32>>, Windows)>,
}

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy: FlexTensor = grads.consume::<Flex>(&ops.node);
        let ConvState {
            x,
            w,
            geometry,
            pooled,
        } = ops.state;
        let want = Wanted {
            input: node_x.is_some(),
            weight: node_w.is_some(),
            bias: node_b.is_some(),
        };
        let dy = values(&dy);
        let dy = match &pooled {
            None => OutputGrad::Dense(&dy),
            Some((at, windows)) => OutputGrad::Pooled {
                dy: &dy,
                at,
                windows,
            },
        };
        let out = backward(&values(&x), &values(&w), dy, &geometry, want);
        let shape = |t: &FlexTensor| t.layout().shape().to_vec();
        if let (Some(node), Some(dx)) = (node_x, out.input) {
            grads.register::<Flex>(node.id, flex(dx, shape(&x)));
        }
        if let (Some(node), Some(dw)) = (node_w, out.weight) {
            grads.register::<Flex>(node.id, flex(dw, shape(&w)));
        }
        if let (Some(node), Some(db)) = (node_b, out.bias) {
            // The bias enters reshaped to [filters, 1, 1, 1].
            grads.register::<Flex>(node.id, flex(db, vec![geometry.filters, 1, 1, 1]));
        }
    }
}

/// Runs the convolution here, followed by `pool` if given, if the tensors are on the CPU
/// backend; `None` means "use burn's". Weight [filters, channels, kh, kw] and input [batch,
/// channels, h, w], bias [filters] reshaped to four dimensions by the caller.
fn run(
    x: Tensor<4>,
    w: Tensor<4>,
    b: Option<Tensor<4>>,
    g: &Geometry,
    pool: Option<&Windows>,
) -> Option<Tensor<4>> {
    let mut tensors = vec![x, w];
    tensors.extend(b);
    let out_shape = match pool {
        None => vec![g.batch, g.filters, g.out[0], g.out[1]],
        Some(p) => vec![g.batch, g.filters, p.out[0], p.out[1]],
    };
    let compute = |x: &[f32], w: &[f32], b: Option<&[f32]>| match pool {
        None => (forward(x, w, b, g), None),
        Some(p) => {
            let (y, at) = forward_pooled(x, w, b, g, p);
            (y, Some((Arc::new(at), *p)))
        }
    };
    match cpu_inputs(tensors)? {
        Inputs::Plain(t) => {
            let bias = t.get(2).map(values);
            let (y, _) = compute(&values(&t[0]), &values(&t[1]), bias.as_deref());
            Some(Tensor::from_primitive::<Flex>(flex(y, out_shape)))
        }
        Inputs::Recorded(mut t) => {
            // Without a bias the third parent is an untracked placeholder.
            let has_bias = t.len() == 3;
            if !has_bias {
                t.push(<FloatTensor<Ad>>::new(flex(vec![0.0], vec![1])));
            }
            let (xp, wp) = (t[0].primitive().clone(), t[1].primitive().clone());
            let bias = has_bias.then(|| values(t[2].primitive()).into_owned());
            let (y, pooled) = compute(&values(&xp), &values(&wp), bias.as_deref());
            let y = flex(y, out_shape);
            let output = match ConvBackward
                .prepare::<NoCheckpointing>([t[0].node(), t[1].node(), t[2].node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    ConvState {
                        x: xp,
                        w: wp,
                        geometry: *g,
                        pooled,
                    },
                    y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Some(Tensor::from_primitive::<Ad>(output))
        }
    }
}

/// burn's "same" padding: the output has ceil(size / stride) positions, the odd extra pad at the
/// end.
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// The geometry of a `Conv2d` layer over `input`, if this module computes it (no dilation or
/// groups, and valid or "same" padding).
fn geometry2d(layer: &Conv2d, input: [usize; 4]) -> Option<Geometry> {
    let [_, _, height, width] = input;
    let [filters, _, kh, kw] = layer.weight.dims();
    let pad = match &layer.padding {
        PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
        PaddingConfig2d::Same => Some([
            same_padding(height, kh, layer.stride[0]),
            same_padding(width, kw, layer.stride[1]),
        ]),
        PaddingConfig2d::Explicit(..) => None,
    };
    pad.filter(|_| layer.dilation == [1, 1] && layer.groups == 1)
        .and_then(|pad| Geometry::new(input, filters, [kh, kw], layer.stride, pad))
}

/// A convolution's bias as [filters, 1, 1, 1].
fn bias_4d(bias: &Option<Param<Tensor<1>>>) -> Option<Tensor<4>> {
    bias.as_ref().map(|b| {
        let b = b.val();
        let filters = b.dims()[0];
        b.reshape([filters, 1, 1, 1])
    })
}

/// A `Conv2d` layer's forward pass, computed here on the CPU backend.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if let Some(g) = geometry2d(layer, x.dims())
        && let Some(y) = run(
            x.clone(),
            layer.weight.val(),
            bias_4d(&layer.bias),
            &g,
            None,
        )
    {
        return y;
    }
    layer.forward(x)
}

/// A `Conv2d` layer followed by a `MaxPool2d` layer, as one operation on the CPU backend (see
/// [`forward_pooled`]); `None` where this module computes either one not (the caller then runs
/// the two layers one after the other).
pub fn conv2d_max_pool(conv: &Conv2d, pool: &MaxPool2d, x: Tensor<4>) -> Option<Tensor<4>> {
    let g = geometry2d(conv, x.dims())?;
    let windows = pool::windows2d(pool, [g.batch, g.filters, g.out[0], g.out[1]])?;
    run(
        x,
        conv.weight.val(),
        bias_4d(&conv.bias),
        &g,
        Some(&windows),
    )
}

/// A `Conv1d` layer's forward pass, computed here on the CPU backend (as a 2-D convolution of
/// height 1).
pub fn conv1d(layer: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    if let Some((g, x4, w, bias)) = as_2d(layer, x.clone())
        && let Some(y) = run(x4, w, bias, &g, None)
    {
        return y.reshape([g.batch, g.filters, g.out[1]]);
    }
    layer.forward(x)
}

/// A `Conv1d` layer followed by a `MaxPool1d` layer, as one operation on the CPU backend (see
/// [`conv2d_max_pool`]), and the convolution's output length before the pooling.
pub fn conv1d_max_pool(
    conv: &Conv1d,
    pool: &MaxPool1d,
    x: Tensor<3>,
) -> Option<(Tensor<3>, usize)> {
    let (g, x4, w, bias) = as_2d(conv, x)?;
    let windows = pool::windows1d(pool, [g.batch, g.filters, 1, g.out[1]])?;
    let y = run(x4, w, bias, &g, Some(&windows))?;
    Some((y.reshape([g.batch, g.filters, windows.out[1]]), g.out[1]))
}

/// A `Conv1d` layer over `x` as a 2-D convolution of height 1, if this module computes it: its
/// geometry, and the input, weight and bias in four dimensions.
#[allow(clippy::type_complexity)]
fn as_2d(
    layer: &Conv1d,
    x: Tensor<3>,
) -> Option<(Geometry, Tensor<4>, Tensor<4>, Option<Tensor<4>>)> {
    let [batch, channels, length] = x.dims();
    let [filters, _, kernel] = layer.weight.dims();
    let pad = match &layer.padding {
        PaddingConfig1d::Valid => Some((0, 0)),
        PaddingConfig1d::Same => Some(same_padding(length, kernel, layer.stride)),
        PaddingConfig1d::Explicit(..) => None,
    };
    let g = pad
        .filter(|_| layer.dilation == 1 && layer.groups == 1)
        .and_then(|pad| {
            Geometry::new(
                [batch, channels, 1, length],
                filters,
                [1, kernel],
                [1, layer.stride],
                [(0, 0), pad],
            )
        })?;
    let w = layer.weight.val().reshape([filters, channels, 1, kernel]);
    Some((
        g,
        x.reshape([batch, channels, 1, length]),
        w,
        bias_4d(&layer.bias),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::testing::{close, vec_of};
    use burn::module::Module;
    use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
    use burn::nn::pool::{MaxPool1dConfig, MaxPool2dConfig};
    use burn::tensor::{Device, Distribution, TensorData};

    /// Output, input gradient and weight/bias gradients from our convolution and burn's, for the
    /// same layer and a loss that weighs each output differently.
    fn compare2d(config: Conv2dConfig, input: [usize; 4]) {
        let device = Device::flex().autodiff();
        let layer = config.init(&device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let ours = conv2d(&layer, x.clone());
        let burns = layer.forward(x.clone());
        assert_eq!(ours.dims(), burns.dims());
        let weights = Tensor::<4>::random(burns.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads_ours = (ours.clone() * weights.clone()).sum().backward();
        let grads_burn = (burns.clone() * weights).sum().backward();
        let what = format!("{input:?}");
        close(&vec_of(ours), &vec_of(burns), &format!("{what} output"));
        let g = |t: &Tensor<4>, grads| vec_of(t.grad(grads).unwrap());
        close(
            &g(&x, &grads_ours),
            &g(&x, &grads_burn),
            &format!("{what} dx"),
        );
        let w = layer.weight.val();
        close(
            &g(&w, &grads_ours),
            &g(&w, &grads_burn),
            &format!("{what} dw"),
        );
        if let Some(b) = &layer.bias {
            let gb = |grads| vec_of(b.val().grad(grads).unwrap());
            close(&gb(&grads_ours), &gb(&grads_burn), &format!("{what} db"));
        }
    }

    #[test]
    fn two_d_matches_burns_convolution_and_gradients() {
        compare2d(Conv2dConfig::new([1, 4], [3, 3]), [3, 1, 9, 7]);
        compare2d(
            Conv2dConfig::new([3, 5], [3, 3]).with_padding(PaddingConfig2d::Same),
            [2, 3, 8, 8],
        );
        compare2d(
            Conv2dConfig::new([2, 4], [3, 2])
                .with_stride([2, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false),
            [5, 2, 11, 10],
        );
        compare2d(Conv2dConfig::new([4, 6], [1, 1]), [2, 4, 5, 5]);
        compare2d(
            Conv2dConfig::new([2, 3], [4, 4]).with_stride([2, 2]),
            [1, 2, 9, 9],
        );
    }

    #[test]
    fn one_d_matches_burns_convolution_and_gradients() {
        for (config, input) in [
            (
                Conv1dConfig::new(4, 8, 9).with_padding(PaddingConfig1d::Same),
                [3, 4, 20],
            ),
            (
                Conv1dConfig::new(3, 2, 4)
                    .with_padding(PaddingConfig1d::Same)
                    .with_stride(2),
                [2, 3, 13],
            ),
            (Conv1dConfig::new(5, 3, 3).with_bias(false), [4, 5, 6]),
        ] {
            let device = Device::flex().autodiff();
            let layer = config.init(&device);
            let x =
                Tensor::<3>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ours = conv1d(&layer, x.clone());
            let burns = layer.forward(x.clone());
            assert_eq!(ours.dims(), burns.dims());
            let grads_ours = (ours.clone() * ours.clone()).sum().backward();
            let grads_burn = (burns.clone() * burns.clone()).sum().backward();
            close(&vec_of(ours), &vec_of(burns), "output");
            close(
                &vec_of(x.grad(&grads_ours).unwrap()),
                &vec_of(x.grad(&grads_burn).unwrap()),
                "dx",
            );
            let w = layer.weight.val();
            close(
                &vec_of(w.grad(&grads_ours).unwrap()),
                &vec_of(w.grad(&grads_burn).unwrap()),
                "dw",
            );
        }
    }

    /// Gradients of `params` (missing ones as empty) under a loss that weighs each of `y`'s
    /// values differently.
    fn grads_of<const D: usize, const P: usize>(
        y: Tensor<D>,
        params: [&Tensor<P>; 2],
    ) -> [Vec<f32>; 2] {
        let n = y.shape().num_elements();
        let weights = Tensor::<1>::from_data(
            TensorData::new((0..n).map(|i| (i % 7) as f32 - 3.0).collect(), [n]),
            &y.device(),
        );
        let grads = (y.reshape([n]) * weights).sum().backward();
        params.map(|t| t.grad(&grads).map(vec_of).unwrap_or_default())
    }

    #[test]
    fn pooling_inside_the_convolution_gives_the_two_layers_results_bit_for_bit() {
        let device = Device::flex().autodiff();
        let random =
            |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        for (conv, pool, input, tracked) in [
            (
                Conv2dConfig::new([3, 5], [3, 3]),
                MaxPool2dConfig::new([2, 2]),
                [3, 3, 10, 9],
                true,
            ),
            (
                Conv2dConfig::new([2, 4], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .with_bias(false),
                MaxPool2dConfig::new([3, 3]).with_strides([2, 2]),
                [2, 2, 9, 11],
                true,
            ),
            // A network's first layer: no input gradient.
            (
                Conv2dConfig::new([1, 4], [3, 3]),
                MaxPool2dConfig::new([2, 2]),
                [5, 1, 8, 8],
                false,
            ),
        ] {
            let (conv, pool) = (conv.init(&device), pool.init());
            let x = random(input);
            let x = if tracked { x.require_grad() } else { x };
            let fused = conv2d_max_pool(&conv, &pool, x.clone()).unwrap();
            let apart = super::super::pool::max_pool2d(&pool, conv2d(&conv, x.clone()));
            assert_eq!(fused.to_data(), apart.to_data(), "{input:?}");
            let w = conv.weight.val();
            let [dx, dw] = grads_of(fused, [&x, &w]);
            let [dx_apart, dw_apart] = grads_of(apart, [&x, &w]);
            assert_eq!(
                (dx.is_empty(), &dx, &dw),
                (!tracked, &dx_apart, &dw_apart),
                "{input:?}"
            );
            if let Some(b) = &conv.bias {
                let b = b.val();
                let db = |y| grads_of(y, [&b, &b])[0].clone();
                let fused = conv2d_max_pool(&conv, &pool, x.clone()).unwrap();
                let apart = super::super::pool::max_pool2d(&pool, conv2d(&conv, x.clone()));
                close(&db(fused), &db(apart), "db");
            }
            // Without autodiff (prediction) as well.
            let x = Tensor::<4>::from_data(x.to_data(), &Device::flex());
            let conv = conv.valid();
            assert_eq!(
                conv2d_max_pool(&conv, &pool, x.clone()).unwrap().to_data(),
                super::super::pool::max_pool2d(&pool, conv2d(&conv, x)).to_data()
            );
        }
        // 1-D, "same" padding and pooling by 4 (the benchmark's DNA CNN).
        let conv = Conv1dConfig::new(4, 6, 9)
            .with_padding(PaddingConfig1d::Same)
            .init(&device);
        let pool = MaxPool1dConfig::new(4).init();
        let x =
            Tensor::<3>::random([3, 4, 30], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let (fused, unpooled) = conv1d_max_pool(&conv, &pool, x.clone()).unwrap();
        let apart = super::super::pool::max_pool1d(&pool, conv1d(&conv, x.clone()));
        assert_eq!((fused.to_data(), unpooled), (apart.to_data(), 30));
        let w = conv.weight.val();
        assert_eq!(grads_of(fused, [&x, &w]), grads_of(apart, [&x, &w]));
    }

    #[test]
    fn without_autodiff_it_is_the_same_forward_pass() {
        let device = Device::flex();
        let layer = Conv2dConfig::new([2, 3], [3, 3]).init(&device);
        let x = Tensor::<4>::random([2, 2, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        close(
            &vec_of(conv2d(&layer, x.clone())),
            &vec_of(layer.forward(x)),
            "output",
        );
    }

    #[test]
    fn an_untracked_input_gets_no_gradient_but_the_weights_do() {
        let device = Device::flex().autodiff();
        let layer = Conv2dConfig::new([1, 2], [3, 3]).init(&device);
        let x = Tensor::<4>::random([2, 1, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let grads = conv2d(&layer, x.clone()).sum().backward();
        assert!(x.grad(&grads).is_none());
        let dw = vec_of(layer.weight.val().grad(&grads).unwrap());
        assert!(dw.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn an_empty_batch_gives_empty_results() {
        let g = Geometry::new([0, 2, 5, 5], 3, [3, 3], [1, 1], [(1, 1), (1, 1)]).unwrap();
        let w = vec![0.5f32; 3 * 2 * 9];
        assert!(forward(&[], &w, None, &g).is_empty());
        let want = Wanted {
            input: true,
            weight: true,
            bias: true,
        };
        let grads = backward(&[], &w, OutputGrad::Dense(&[]), &g, want);
        assert!(grads.input.unwrap().is_empty());
        assert!(grads.weight.unwrap().iter().all(|v| *v == 0.0));
        let windows = super::super::pool::Windows::new([0, 2, 4, 4], [2, 2], [2, 2]).unwrap();
        assert!(super::super::pool::forward(&[], &windows).0.is_empty());
    }

    #[test]
    fn valid_ranges_cover_exactly_the_inside() {
        for (out, stride, k, pad, size) in [
            (5, 1, 0, 1, 5),
            (3, 2, 2, 1, 6),
            (4, 3, 0, 2, 9),
            (2, 1, 5, 0, 3),
        ] {
            let (lo, hi) = valid_range(out, stride, k, pad, size);
            for o in 0..out {
                let i = (o * stride + k) as isize - pad as isize;
                assert_eq!((lo..hi).contains(&o), i >= 0 && (i as usize) < size, "{o}");
            }
        }
    }
}
