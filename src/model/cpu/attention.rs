//! The core of multi-head self-attention on the CPU backend: scores, the key padding mask,
//! softmax, dropout of the weights and the weighted sum of the values, forward and backward,
//! each one step of burn's autodiff graph.
//!
//! Written with tensor operations, each of those is a pass over a [batch, heads, length,
//! length] tensor (46 MB for the benchmark's protein transformer) on one core, and so are their
//! backward steps: most of a step's time. Here each (sequence, head) pair is one task, its
//! length × length weights stay in the cache, and keys in a sequence's padding are left out
//! (their weight is exactly zero, as burn's masked softmax gives). The projections before and
//! after stay burn's `Linear` layers.

use super::{
    Ad, Inputs, cpu_inputs, dot, exp, flex, matmul, max, rows_of, sum, transposed, values,
};
use burn::tensor::Tensor;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub batch: usize,
    pub heads: usize,
    pub len: usize,
    /// Values per head.
    pub depth: usize,
    /// Keys each sequence attends to: the first `keys[b]` positions. Zero means every position
    /// is padding; the weights are then uniform, as a softmax of equal masked scores is.
    pub keys: Vec<usize>,
    /// Multiplies the scores: 1/√depth.
    pub scale: f32,
}

impl Shape {
    fn tasks(&self) -> usize {
        self.batch * self.heads
    }

    /// Keys task `t` (sequence t / heads) uses, and whether its scores count (not all padding).
    fn keys_of(&self, task: usize) -> (usize, bool) {
        match self.keys[task / self.heads].min(self.len) {
            0 => (self.len, false),
            n => (n, true),
        }
    }
}

/// Dropout of the weights while training: the probability of dropping, and where the draws
/// start.
#[derive(Clone, Copy, Debug)]
pub struct Drop {
    pub p: f64,
    pub seed: u64,
}

/// Which weights dropout keeps in task `task` (row-major over its length × length weights, only
/// the first `keys` columns drawn), scaled: `1 / (1 − p)` where kept, 0 where dropped. Each
/// draw is a hash of its place (SplitMix64, two draws per hash), so the backward pass draws the
/// same mask again instead of keeping it, and tasks draw independently on any core.
fn keep_scales(drop: Drop, task: usize, len: usize, keys: usize) -> Vec<f32> {
    let mut scales = vec![0.0f32; len * len];
    let keep = 1.0 - drop.p;
    let threshold = (keep * 4_294_967_296.0).min(4_294_967_295.0) as u32;
    let scale = (1.0 / keep) as f32;
    let base = drop.seed ^ (task as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    for (i, row) in scales.chunks_mut(len).enumerate() {
        let row_base = base.wrapping_add(((i * len) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for (j, pair) in row[..keys].chunks_mut(2).enumerate() {
            let bits =
                splitmix(row_base.wrapping_add((j as u64 + 1).wrapping_mul(0x6A09_E667_F3BC_C909)));
            for (v, draw) in pair.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
                *v = if draw < threshold { scale } else { 0.0 };
            }
        }
    }
    scales
}

/// The weights `w` after dropout with these `scales` (from [`keep_scales`]).
fn after_dropout(w: &[f32], scales: &[f32]) -> Vec<f32> {
    w.iter().zip(scales).map(|(a, b)| a * b).collect()
}

/// SplitMix64's output function: a well-mixed 64-bit hash of `z`.
fn splitmix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Forward {
    /// [batch, heads, len, depth]
    pub context: Vec<f32>,
    /// The weights before dropout, [batch, heads, len, len].
    pub weights: Vec<f32>,
}

/// The forward pass over `q`, `k`, `v` ([batch, heads, len, depth] each).
pub fn forward(q: &[f32], k: &[f32], v: &[f32], s: &Shape, drop: Option<Drop>) -> Forward {
    let (l, d) = (s.len, s.depth);
    let mut context = vec![0.0f32; s.tasks() * l * d];
    let mut weights = vec![0.0f32; s.tasks() * l * l];
    context
        .par_chunks_mut(l * d)
        .zip(weights.par_chunks_mut(l * l))
        .enumerate()
        .for_each(|(t, (c, w))| {
            let (q, k, v) = (
                &q[t * l * d..][..l * d],
                &k[t * l * d..][..l * d],
                &v[t * l * d..][..l * d],
            );
            let (n, counts) = s.keys_of(t);
            if counts {
                // Scores of the first n keys, in rows `l` apart.
                matmul(
                    (l, n, d),
                    (&mut *w, rows_of(l)),
                    false,
                    (q, rows_of(d)),
                    (k, transposed(d)),
                    false,
                );
                for row in w.chunks_mut(l) {
                    softmax(&mut row[..n], s.scale);
                }
            } else {
                w.fill(1.0 / l as f32);
            }
            let dropped = drop.map(|drop| after_dropout(w, &keep_scales(drop, t, l, n)));
            let p = dropped.as_deref().unwrap_or(w);
            matmul(
                (l, d, n),
                (c, rows_of(d)),
                false,
                (p, rows_of(l)),
                (v, rows_of(d)),
                false,
            );
        });
    Forward { context, weights }
}

/// `row ← softmax(scale · row)` in place.
fn softmax(row: &mut [f32], scale: f32) {
    let max = max(row) * scale;
    for x in row.iter_mut() {
        *x = exp(*x * scale - max);
    }
    let inv = 1.0 / sum(row);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

pub struct Grads {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// The gradients of `q`, `k` and `v` from the context's gradient `dc`.
pub fn backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    weights: &[f32],
    dc: &[f32],
    s: &Shape,
    drop: Option<Drop>,
) -> Grads {
    let (l, d) = (s.len, s.depth);
    let size = s.tasks() * l * d;
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; size], vec![0.0f32; size], vec![0.0f32; size]);
    dq.par_chunks_mut(l * d)
        .zip(dk.par_chunks_mut(l * d))
        .zip(dv.par_chunks_mut(l * d))
        .enumerate()
        .for_each(|(t, ((dq, dk), dv))| {
            let at = t * l * d;
            let (q, k, v, dc) = (
                &q[at..][..l * d],
                &k[at..][..l * d],
                &v[at..][..l * d],
                &dc[at..][..l * d],
            );
            let w = &weights[t * l * l..][..l * l];
            let (n, counts) = s.keys_of(t);
            let scales = drop.map(|drop| keep_scales(drop, t, l, n));
            // dV = P_dᵀ · dC (P_d: the weights after dropout).
            let dropped = scales.as_ref().map(|sc| after_dropout(w, sc));
            let p = dropped.as_deref().unwrap_or(w);
            matmul(
                (n, d, l),
                (dv, rows_of(d)),
                false,
                (p, transposed(l)),
                (dc, rows_of(d)),
                false,
            );
            if !counts {
                // Every score was the same masked value: nothing flows back into q or k.
                return;
            }
            // dP = dC · Vᵀ (through dropout), then the softmax's gradient, in place.
            let mut ds = vec![0.0f32; l * n];
            matmul(
                (l, n, d),
                (&mut ds, rows_of(n)),
                false,
                (dc, rows_of(d)),
                (v, transposed(d)),
                false,
            );
            for (i, row) in ds.chunks_mut(n).enumerate() {
                let w_row = &w[i * l..][..n];
                if let Some(sc) = &scales {
                    for (x, s) in row.iter_mut().zip(&sc[i * l..][..n]) {
                        *x *= s;
                    }
                }
                let dot = dot(row, w_row);
                for (x, &wv) in row.iter_mut().zip(w_row) {
                    *x = wv * (*x - dot) * s.scale;
                }
            }
            // dQ = dS · K, dK = dSᵀ · Q (the first n keys only; the rest stay zero).
            matmul(
                (l, d, n),
                (dq, rows_of(d)),
                false,
                (&ds, rows_of(n)),
                (k, rows_of(d)),
                false,
            );
            matmul(
                (n, d, l),
                (dk, rows_of(d)),
                false,
                (&ds, transposed(n)),
                (q, rows_of(d)),
                false,
            );
        });
    Grads {
        q: dq,
        k: dk,
        v: dv,
    }
}

#[derive(Debug)]
struct AttentionBackward;

#[derive(Clone, Debug)]
struct AttentionState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    weights: FlexTensor,
    shape: Arc<Shape>,
    drop: Option<Drop>,
}

impl Backward<Flex, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<AttentionState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_q, node_k, node_v] = ops.parents;
        let dc: FlexTensor = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let g = backward(
            &values(&st.q),
            &values(&st.k),
            &values(&st.v),
            &values(&st.weights),
            &values(&dc),
            &st.shape,
            st.drop,
        );
        let shape = st.q.layout().shape().to_vec();
        for (node, grad) in [(node_q, g.q), (node_k, g.k), (node_v, g.v)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex(grad, shape.clone()));
            }
        }
    }
}

/// Runs attention here if the tensors are on the CPU backend; `None` means "use the tensor
/// operations". `q`, `k`, `v` are [batch, heads, len, depth]; `keys` the valid length of each
/// sequence (None: no padding); `dropout` applies to the weights while training. Returns the
/// context [batch, heads, len, depth] and the weights before dropout [batch, heads, len, len]
/// (for showing, not differentiated).
pub fn run(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    keys: Option<&[usize]>,
    dropout: f64,
) -> Option<(Tensor<4>, Tensor<4>)> {
    let [batch, heads, len, depth] = q.dims();
    if k.dims() != q.dims() || v.dims() != q.dims() || [batch, heads, len, depth].contains(&0) {
        return None;
    }
    let keys = match keys {
        Some(keys) if keys.len() == batch => keys.to_vec(),
        Some(_) => return None,
        None => vec![len; batch],
    };
    let shape = Shape {
        batch,
        heads,
        len,
        depth,
        keys,
        scale: 1.0 / (depth as f32).sqrt(),
    };
    let weights_shape = vec![batch, heads, len, len];
    let context_shape = vec![batch, heads, len, depth];
    match cpu_inputs(vec![q, k, v])? {
        Inputs::Plain(t) => {
            let f = forward(&values(&t[0]), &values(&t[1]), &values(&t[2]), &shape, None);
            Some((
                Tensor::from_primitive::<Flex>(flex(f.context, context_shape)),
                Tensor::from_primitive::<Flex>(flex(f.weights, weights_shape)),
            ))
        }
        Inputs::Recorded(t) => {
            let drop = (dropout > 0.0).then(|| Drop {
                p: dropout,
                seed: crate::model::dropout::next_seed(),
            });
            let [q, k, v] = [0, 1, 2].map(|i| t[i].primitive().clone());
            let f = forward(&values(&q), &values(&k), &values(&v), &shape, drop);
            let weights = flex(f.weights, weights_shape);
            let context = flex(f.context, context_shape);
            let output = match AttentionBackward
                .prepare::<NoCheckpointing>([t[0].node(), t[1].node(), t[2].node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    AttentionState {
                        q,
                        k,
                        v,
                        weights: weights.clone(),
                        shape: Arc::new(shape),
                        drop,
                    },
                    context,
                ),
                OpsKind::UnTracked(prep) => prep.finish(context),
            };
            Some((
                Tensor::from_primitive::<Ad>(output),
                Tensor::from_primitive::<Ad>(<FloatTensor<Ad>>::new(weights)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::testing::{close, vec_of};
    use burn::tensor::{Bool, Device, Distribution, TensorData};

    /// Attention written with burn's tensor operations, as `model::sequence` does without us.
    fn burns(
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        keys: Option<&[usize]>,
    ) -> (Tensor<4>, Tensor<4>) {
        let [b, _, l, d] = q.dims();
        let mut scores = q.matmul(k.transpose()).div_scalar((d as f32).sqrt());
        if let Some(keys) = keys {
            let flags: Vec<bool> = keys
                .iter()
                .flat_map(|&n| (0..l).map(move |p| p >= n))
                .collect();
            let mask =
                Tensor::<2, Bool>::from_data(TensorData::new(flags, [b, l]), &scores.device());
            scores = scores.mask_fill(mask.reshape([b, 1, 1, l]), -1.0e4);
        }
        let weights = burn::tensor::activation::softmax(scores, 3);
        (weights.clone().matmul(v), weights)
    }

    #[test]
    fn matches_burns_attention_and_gradients() {
        let device = Device::flex().autodiff();
        let cases: [(usize, Option<&[usize]>); 3] =
            [(3, None), (3, Some(&[7, 3, 1])), (3, Some(&[5, 0, 7]))];
        for (batch, keys) in cases {
            let random = || {
                Tensor::<4>::random([batch, 2, 7, 4], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad()
            };
            let (q, k, v) = (random(), random(), random());
            let (c_ours, w_ours) = run(q.clone(), k.clone(), v.clone(), keys, 0.0).unwrap();
            let (c_burn, w_burn) = burns(q.clone(), k.clone(), v.clone(), keys);
            let what = format!("keys {keys:?}");
            close(
                &vec_of(c_ours.clone()),
                &vec_of(c_burn.clone()),
                &format!("{what} context"),
            );
            close(&vec_of(w_ours), &vec_of(w_burn), &format!("{what} weights"));
            let r = Tensor::<4>::random(c_burn.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (c_ours * r.clone()).sum().backward();
            let g_burn = (c_burn * r).sum().backward();
            for (name, t) in [("q", &q), ("k", &k), ("v", &v)] {
                close(
                    &vec_of(t.grad(&g_ours).unwrap()),
                    &vec_of(t.grad(&g_burn).unwrap()),
                    &format!("{what} d{name}"),
                );
            }
            // Without gradients (prediction) the same numbers come out.
            let plain = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &Device::flex());
            let (c_plain, _) = run(plain(&q), plain(&k), plain(&v), keys, 0.0).unwrap();
            let (c_again, _) = run(q.clone(), k.clone(), v.clone(), keys, 0.0).unwrap();
            close(&vec_of(c_plain), &vec_of(c_again), &format!("{what} plain"));
        }
    }

    #[test]
    fn dropout_keeps_about_one_minus_p_of_the_drawn_weights() {
        let drop = Drop { p: 0.25, seed: 3 };
        let scales = keep_scales(drop, 5, 300, 200);
        let drawn: Vec<f32> = scales
            .chunks(300)
            .flat_map(|row| row[..200].to_vec())
            .collect();
        let kept = drawn.iter().filter(|&&s| s > 0.0).count() as f64 / drawn.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
        assert!(
            drawn
                .iter()
                .all(|&s| s == 0.0 || (s - 1.0 / 0.75).abs() < 1e-6)
        );
        // Keys in the padding are never drawn; another task draws another mask.
        assert!(
            scales
                .chunks(300)
                .all(|row| row[200..].iter().all(|&s| s == 0.0))
        );
        assert_ne!(scales, keep_scales(drop, 6, 300, 200));
    }

    /// With dropout the gradients have no burn counterpart with the same mask: compare them
    /// with central differences of the same function (fixed mask, padding included).
    #[test]
    fn gradients_with_dropout_match_finite_differences() {
        let shape = Shape {
            batch: 2,
            heads: 1,
            len: 5,
            depth: 3,
            keys: vec![4, 5],
            scale: 1.0 / 3f32.sqrt(),
        };
        let mask = Drop { p: 0.3, seed: 7 };
        let drop = Some(mask);
        let n = 2 * 5 * 3;
        let wave = |i: usize, f: f32| (i as f32 * f).sin();
        let (q, k, v): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            (0..n).map(|i| wave(i, 0.7)).collect(),
            (0..n).map(|i| wave(i, 1.3)).collect(),
            (0..n).map(|i| wave(i, 0.4)).collect(),
        );
        let r: Vec<f32> = (0..n).map(|i| wave(i, 2.1)).collect();
        let loss = |q: &[f32], k: &[f32], v: &[f32]| -> f64 {
            let f = forward(q, k, v, &shape, drop);
            f.context.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum()
        };
        let f = forward(&q, &k, &v, &shape, drop);
        let g = backward(&q, &k, &v, &f.weights, &r, &shape, drop);
        let kept = keep_scales(mask, 0, 5, 4)
            .iter()
            .filter(|&&s| s > 0.0)
            .count();
        assert!((5..20).contains(&kept), "dropout kept {kept} of 20 weights");
        let eps = 1e-2f32;
        for (name, which, grad) in [("q", 0, &g.q), ("k", 1, &g.k), ("v", 2, &g.v)] {
            for i in 0..n {
                let nudged = |delta: f32| {
                    let mut inputs = [q.clone(), k.clone(), v.clone()];
                    inputs[which][i] += delta;
                    loss(&inputs[0], &inputs[1], &inputs[2])
                };
                let numeric = (nudged(eps) - nudged(-eps)) / (2.0 * eps as f64);
                assert!(
                    (numeric - grad[i] as f64).abs() < 2e-3,
                    "d{name}[{i}]: {} vs numeric {numeric}",
                    grad[i]
                );
            }
        }
    }
}
