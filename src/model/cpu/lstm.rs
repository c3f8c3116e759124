//! A whole LSTM layer on the CPU backend: the pass through time and the pass back through it,
//! each one step of burn's autodiff graph.
//!
//! Written with tensor operations (`model::sequence::lstm`), every time step is about twenty
//! small operations forward and as many backward, each with its own allocation and graph node:
//! the benchmark's DNA LSTM (64 sequences of 200 letters, 64 units) took 160 ms per batch, five
//! times PyTorch. Here the input's projection at every position is one matrix product, each
//! step adds the state's projection and applies the gates in one loop, and the backward pass
//! walks the steps in reverse carrying only the state gradients; the weight gradients are then
//! one product each over all positions. Sequences do not interact, so the batch is split over
//! the cores. Gates are in the order input, forget, output, candidate, each `hidden` wide.

use super::{
    Ad, Inputs, View, add_up, cpu_inputs, exp, flex, matmul, rows_of, split, transposed, values,
};
use burn::tensor::Tensor;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    pub len: usize,
    pub input: usize,
    pub hidden: usize,
    /// Read each sequence from its last position to its first.
    pub reverse: bool,
}

impl Dims {
    fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// The position read at step `k`.
    fn position(&self, k: usize) -> usize {
        if self.reverse { self.len - 1 - k } else { k }
    }

    /// The position read just before the one at step `k` (`k > 0`).
    fn previous(&self, k: usize) -> usize {
        self.position(k - 1)
    }
}

/// What the forward pass computes: the output and what its backward pass reads.
pub struct Forward<T = Vec<f32>> {
    /// The hidden state at every position, [batch, len, hidden].
    pub h: T,
    /// The gates after their activation, [batch, len, 4·hidden].
    gates: T,
    /// The cell state, and its tanh, [batch, len, hidden].
    c: T,
    tanh_c: T,
}

// The gates' sigmoid and tanh from our e^x (see `exp`), so the loops over a row of gates
// vectorise.

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Row `at` (`width` wide) to write and row `from` to read, of one buffer (`at != from`).
fn rows_pair(buf: &mut [f32], at: usize, from: usize, width: usize) -> (&mut [f32], &[f32]) {
    if from < at {
        let (before, rest) = buf.split_at_mut(at * width);
        (&mut rest[..width], &before[from * width..][..width])
    } else {
        let (before, rest) = buf.split_at_mut(from * width);
        (&mut before[at * width..][..width], &rest[..width])
    }
}

/// The layer over every sequence of `x` ([batch, len, input]) with `w_x` [input, 4·hidden],
/// `w_h` [hidden, 4·hidden] and `bias` [4·hidden], from a zero state.
pub fn forward(x: &[f32], w_x: &[f32], w_h: &[f32], bias: &[f32], d: &Dims) -> Forward {
    let (h, g4, len) = (d.hidden, d.gates(), d.len);
    let rows = d.batch * len;
    let mut gates = vec![0.0f32; rows * g4];
    let mut out = vec![0.0f32; rows * h];
    let mut c = vec![0.0f32; rows * h];
    let mut tanh_c = vec![0.0f32; rows * h];
    let (per_task, _) = split(d.batch);
    let zeros = vec![0.0f32; h];
    gates
        .par_chunks_mut(per_task * len * g4)
        .zip(x.par_chunks(per_task * len * d.input))
        .zip(out.par_chunks_mut(per_task * len * h))
        .zip(c.par_chunks_mut(per_task * len * h))
        .zip(tanh_c.par_chunks_mut(per_task * len * h))
        .for_each(|((((gates, x), out), c), tanh_c)| {
            let samples = out.len() / (len * h);
            // Every position's input projection plus the bias, at once.
            for row in gates.chunks_mut(g4) {
                row.copy_from_slice(bias);
            }
            matmul(
                (samples * len, g4, d.input),
                (gates, rows_of(g4)),
                true,
                (x, rows_of(d.input)),
                (w_x, rows_of(g4)),
                false,
            );
            for k in 0..len {
                let p = d.position(k);
                let prev = (k > 0).then(|| d.previous(k));
                if let Some(q) = prev {
                    // gates[s, p] += h[s, q] · W_h for every sequence of the task.
                    matmul(
                        (samples, g4, h),
                        (&mut gates[p * g4..], row_stride(len * g4)),
                        true,
                        (&out[q * h..], row_stride(len * h)),
                        (w_h, rows_of(g4)),
                        false,
                    );
                }
                for s in 0..samples {
                    let (at, from) = (s * len + p, prev.map(|q| s * len + q));
                    let row = &mut gates[at * g4..][..g4];
                    let (ifo, g) = row.split_at_mut(3 * h);
                    for v in ifo.iter_mut() {
                        *v = sigmoid(*v);
                    }
                    for v in g.iter_mut() {
                        *v = tanh(*v);
                    }
                    let (c, c_prev) = match from {
                        Some(q) => rows_pair(c, at, q, h),
                        None => (&mut c[at * h..][..h], &zeros[..]),
                    };
                    let t = &mut tanh_c[at * h..][..h];
                    let o_row = &mut out[at * h..][..h];
                    let (i, f, o) = (&ifo[..h], &ifo[h..2 * h], &ifo[2 * h..]);
                    for j in 0..h {
                        c[j] = f[j] * c_prev[j] + i[j] * g[j];
                        t[j] = tanh(c[j]);
                        o_row[j] = o[j] * t[j];
                    }
                }
            }
        });
    Forward {
        h: out,
        gates,
        c,
        tanh_c,
    }
}

/// Rows `stride` apart, columns next to each other.
fn row_stride(stride: usize) -> View {
    View {
        rs: stride as isize,
        cs: 1,
    }
}

/// Which gradients the backward pass computes.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub input: bool,
    pub input_weights: bool,
    pub state_weights: bool,
    pub bias: bool,
}

#[derive(Default)]
pub struct Grads {
    pub input: Option<Vec<f32>>,
    pub input_weights: Option<Vec<f32>>,
    pub state_weights: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// One task's share of the weight and bias gradients.
struct Partial {
    input_weights: Vec<f32>,
    state_weights: Vec<f32>,
    bias: Vec<f32>,
}

/// The gradients from `dh`, the gradient of every position's hidden state ([batch, len,
/// hidden]). Each task takes whole sequences: back through time, then its share of the
/// input's gradient and of the weight gradients, which are added up at the end.
pub fn backward(
    x: &[f32],
    w_x: &[f32],
    w_h: &[f32],
    f: &Forward<&[f32]>,
    dh: &[f32],
    d: &Dims,
    want: Wanted,
) -> Grads {
    let (h, g4, len, input) = (d.hidden, d.gates(), d.len, d.input);
    let rows = d.batch * len;
    let mut dx = vec![0.0f32; if want.input { rows * input } else { 0 }];
    let (per_task, _) = split(d.batch);
    let zeros = vec![0.0f32; h];
    // W_hᵀ once, row-major: the product of every step reads it in order (a third faster than
    // reading W_h across).
    let mut w_h_t = vec![0.0f32; g4 * h];
    for (r, row) in w_h.chunks(g4).enumerate() {
        for (col, &v) in row.iter().enumerate() {
            w_h_t[col * h + r] = v;
        }
    }
    // Chunks of the input gradient line up with the tasks; without it, one empty chunk each.
    let dx_chunk = if want.input {
        per_task * len * input
    } else {
        1
    };
    let mut dx_chunks: Vec<&mut [f32]> = dx.chunks_mut(dx_chunk).collect();
    dx_chunks.resize_with(d.batch.div_ceil(per_task), Default::default);
    let partial: Vec<Partial> = dx_chunks
        .into_par_iter()
        .zip(x.par_chunks(per_task * len * input))
        .zip(dh.par_chunks(per_task * len * h))
        .zip(f.gates.par_chunks(per_task * len * g4))
        .zip(f.c.par_chunks(per_task * len * h))
        .zip(f.tanh_c.par_chunks(per_task * len * h))
        .zip(f.h.par_chunks(per_task * len * h))
        .map(|((((((dx, x), dh), gates), c), tanh_c), hs)| {
            let samples = dh.len() / (len * h);
            // The gradient of every gate before its activation.
            let mut dgates = vec![0.0f32; samples * len * g4];
            // The gradients flowing back from the later steps into the state and the cell.
            let mut dh_next = vec![0.0f32; samples * h];
            let mut dc_next = vec![0.0f32; samples * h];
            for k in (0..len).rev() {
                let p = d.position(k);
                let prev = (k > 0).then(|| d.previous(k));
                for s in 0..samples {
                    let at = s * len + p;
                    let gate = &gates[at * g4..][..g4];
                    let (i, fg, o, g) = (
                        &gate[..h],
                        &gate[h..2 * h],
                        &gate[2 * h..3 * h],
                        &gate[3 * h..],
                    );
                    let t = &tanh_c[at * h..][..h];
                    let c_prev = prev.map_or(&zeros[..], |q| &c[(s * len + q) * h..][..h]);
                    let dh = &dh[at * h..][..h];
                    let dh_next = &dh_next[s * h..][..h];
                    let dc_next = &mut dc_next[s * h..][..h];
                    let (di, rest) = dgates[at * g4..][..g4].split_at_mut(h);
                    let (df, rest) = rest.split_at_mut(h);
                    let (d_o, dg) = rest.split_at_mut(h);
                    for j in 0..h {
                        let dh_j = dh[j] + dh_next[j];
                        let dc = dh_j * o[j] * (1.0 - t[j] * t[j]) + dc_next[j];
                        dc_next[j] = dc * fg[j];
                        di[j] = dc * g[j] * i[j] * (1.0 - i[j]);
                        df[j] = dc * c_prev[j] * fg[j] * (1.0 - fg[j]);
                        d_o[j] = dh_j * t[j] * o[j] * (1.0 - o[j]);
                        dg[j] = dc * i[j] * (1.0 - g[j] * g[j]);
                    }
                }
                if prev.is_some() {
                    // dh_next[s] = dgates[s, p] · W_hᵀ
                    matmul(
                        (samples, h, g4),
                        (&mut dh_next, rows_of(h)),
                        false,
                        (&dgates[p * g4..], row_stride(len * g4)),
                        (&w_h_t, rows_of(h)),
                        false,
                    );
                }
            }
            let task_rows = samples * len;
            if want.input {
                matmul(
                    (task_rows, input, g4),
                    (dx, rows_of(input)),
                    false,
                    (&dgates, rows_of(g4)),
                    (w_x, transposed(g4)),
                    false,
                );
            }
            let mut part = Partial {
                input_weights: vec![0.0f32; if want.input_weights { input * g4 } else { 0 }],
                state_weights: vec![0.0f32; if want.state_weights { h * g4 } else { 0 }],
                bias: vec![0.0f32; if want.bias { g4 } else { 0 }],
            };
            if want.input_weights {
                matmul(
                    (input, g4, task_rows),
                    (&mut part.input_weights, rows_of(g4)),
                    false,
                    (x, transposed(input)),
                    (&dgates, rows_of(g4)),
                    false,
                );
            }
            if want.state_weights {
                // Each position's gates saw the previous position's state (none at the first).
                let mut h_prev = vec![0.0f32; task_rows * h];
                for s in 0..samples {
                    for k in 1..len {
                        let (p, q) = (s * len + d.position(k), s * len + d.previous(k));
                        h_prev[p * h..][..h].copy_from_slice(&hs[q * h..][..h]);
                    }
                }
                matmul(
                    (h, g4, task_rows),
                    (&mut part.state_weights, rows_of(g4)),
                    false,
                    (&h_prev, transposed(h)),
                    (&dgates, rows_of(g4)),
                    false,
                );
            }
            if want.bias {
                for row in dgates.chunks(g4) {
                    for (total, v) in part.bias.iter_mut().zip(row) {
                        *total += v;
                    }
                }
            }
            part
        })
        .collect();
    let total = |pick: fn(&Partial) -> &[f32], len| add_up(partial.iter().map(pick), len);
    Grads {
        input: want.input.then_some(dx),
        input_weights: want
            .input_weights
            .then(|| total(|p| &p.input_weights, input * g4)),
        state_weights: want
            .state_weights
            .then(|| total(|p| &p.state_weights, h * g4)),
        bias: want.bias.then(|| total(|p| &p.bias, g4)),
    }
}

#[derive(Debug)]
struct LstmBackward;

#[derive(Clone, Debug)]
struct LstmState {
    x: FlexTensor,
    w_x: FlexTensor,
    w_h: FlexTensor,
    /// The forward pass's buffers: h, gates, c, tanh c.
    saved: [FlexTensor; 4],
    dims: Dims,
}

impl Backward<Flex, 4> for LstmBackward {
    type State = LstmState;

    fn backward(self, ops: Ops<LstmState, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_wx, node_wh, node_b] = ops.parents;
        let dh: FlexTensor = grads.consume::<Flex>(&ops.node);
        let LstmState {
            x,
            w_x,
            w_h,
            saved,
            dims,
        } = ops.state;
        let [h, gates, c, tanh_c] = [0, 1, 2, 3].map(|i| values(&saved[i]));
        let forward = Forward {
            h: &*h,
            gates: &*gates,
            c: &*c,
            tanh_c: &*tanh_c,
        };
        let want = Wanted {
            input: node_x.is_some(),
            input_weights: node_wx.is_some(),
            state_weights: node_wh.is_some(),
            bias: node_b.is_some(),
        };
        let out = backward(
            &values(&x),
            &values(&w_x),
            &values(&w_h),
            &forward,
            &values(&dh),
            &dims,
            want,
        );
        let shape = |t: &FlexTensor| t.layout().shape().to_vec();
        if let (Some(node), Some(g)) = (node_x, out.input) {
            grads.register::<Flex>(node.id, flex(g, shape(&x)));
        }
        if let (Some(node), Some(g)) = (node_wx, out.input_weights) {
            grads.register::<Flex>(node.id, flex(g, shape(&w_x)));
        }
        if let (Some(node), Some(g)) = (node_wh, out.state_weights) {
            grads.register::<Flex>(node.id, flex(g, shape(&w_h)));
        }
        if let (Some(node), Some(g)) = (node_b, out.bias) {
            grads.register::<Flex>(node.id, flex(g, vec![1, 1, 1, dims.gates()]));
        }
    }
}

/// Runs the layer here if the tensors are on the CPU backend; `None` means "use the tensor
/// operations". `x` [batch, len, input], `w_x` [input, 4·hidden], `w_h` [hidden, 4·hidden],
/// `bias` [1, 4·hidden]; the hidden state at every position comes back, [batch, len, hidden].
pub fn run(
    x: Tensor<3>,
    w_x: Tensor<2>,
    w_h: Tensor<2>,
    bias: Tensor<2>,
    reverse: bool,
) -> Option<Tensor<3>> {
    let [batch, len, input] = x.dims();
    let [hidden, g4] = w_h.dims();
    let fits = w_x.dims() == [input, g4] && bias.dims() == [1, g4] && g4 == 4 * hidden;
    // Empty sequences or states are left to the tensor operations.
    if !fits || [batch, len, input, hidden].contains(&0) {
        return None;
    }
    let dims = Dims {
        batch,
        len,
        input,
        hidden,
        reverse,
    };
    let out_shape = vec![batch, len, hidden];
    let tensors = vec![
        x.reshape([batch, len, input, 1]),
        w_x.reshape([1, 1, input, g4]),
        w_h.reshape([1, 1, hidden, g4]),
        bias.reshape([1, 1, 1, g4]),
    ];
    match cpu_inputs(tensors)? {
        Inputs::Plain(t) => {
            let [x, w_x, w_h, b] = [&t[0], &t[1], &t[2], &t[3]].map(values);
            let out = forward(&x, &w_x, &w_h, &b, &dims);
            Some(Tensor::from_primitive::<Flex>(flex(out.h, out_shape)))
        }
        Inputs::Recorded(t) => {
            let [x, w_x, w_h, b] = [&t[0], &t[1], &t[2], &t[3]].map(|t| t.primitive().clone());
            let out = forward(
                &values(&x),
                &values(&w_x),
                &values(&w_h),
                &values(&b),
                &dims,
            );
            let y = flex(out.h, out_shape.clone());
            let nodes = [t[0].node(), t[1].node(), t[2].node(), t[3].node()];
            let output = match LstmBackward
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (rows, g4) = (batch * len, 4 * hidden);
                    let saved = [
                        y.clone(),
                        flex(out.gates, vec![rows, g4]),
                        flex(out.c, out_shape.clone()),
                        flex(out.tanh_c, out_shape),
                    ];
                    prep.finish(
                        LstmState {
                            x,
                            w_x,
                            w_h,
                            saved,
                            dims,
                        },
                        y,
                    )
                }
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Some(Tensor::from_primitive::<Ad>(output))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::testing::{close, vec_of};
    use burn::tensor::{Device, Distribution};

    /// The layer's tests in `model::sequence` compare results with burn's cells, which the
    /// tensor operations would pass too; this checks CPU tensors take this path, with and
    /// without gradients, and that the two agree.
    #[test]
    fn cpu_tensors_take_this_path() {
        let (b, len, d, h) = (2, 5, 3, 4);
        let random = |shape: [usize; 2], device: &Device| {
            Tensor::<2>::random(shape, Distribution::Normal(0.0, 0.5), device)
        };
        let plain = Device::flex();
        let x = Tensor::<3>::random([b, len, d], Distribution::Normal(0.0, 1.0), &plain);
        let (w_x, w_h, bias) = (
            random([d, 4 * h], &plain),
            random([h, 4 * h], &plain),
            random([1, 4 * h], &plain),
        );
        for reverse in [false, true] {
            let without = run(x.clone(), w_x.clone(), w_h.clone(), bias.clone(), reverse)
                .expect("plain CPU tensors run here");
            let ad = plain.clone().autodiff();
            let recorded = |t: Tensor<2>| Tensor::<2>::from_data(t.into_data(), &ad).require_grad();
            let with = run(
                Tensor::<3>::from_data(x.clone().into_data(), &ad),
                recorded(w_x.clone()),
                recorded(w_h.clone()),
                recorded(bias.clone()),
                reverse,
            )
            .expect("recorded CPU tensors run here");
            close(
                &vec_of(with),
                &vec_of(without),
                "with and without gradients",
            );
        }
        // A shape the layer does not have goes back to the caller.
        assert!(run(x, w_x.clone(), w_x, bias, false).is_none());
    }
}
