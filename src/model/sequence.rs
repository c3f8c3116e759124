//! Sequence layers: positional encoding, recurrent layers (RNN, LSTM, GRU, one
//! or both directions) and attention (self-attention, transformer encoder
//! block). Between layers a sequence is `[batch, values, length]`, like the
//! output of a 1-D convolution; these layers work on `[batch, length, values]`
//! inside and turn back before handing on, so they compose with convolutions,
//! pooling and each other.

use burn::module::{Module, Param};
use burn::nn::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};

use super::dropout::dropout;
use burn::nn::{
    BiGru, BiGruConfig, BiLstm, BiLstmConfig, BiRnn, BiRnnConfig, Dropout, DropoutConfig, Gru,
    GruConfig, LayerNorm, LayerNormConfig, Lstm, LstmConfig, PositionalEncoding,
    PositionalEncodingConfig, Rnn, RnnConfig,
};
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};

use super::Act;
use crate::spec::SeqOutput;

/// `[batch, length]`, true at padding (positions at or past each valid length).
pub fn padding_mask(lengths: &[usize], length: usize, device: &Device) -> Tensor<2, Bool> {
    let flags: Vec<bool> = lengths
        .iter()
        .flat_map(|&n| (0..length).map(move |p| p >= n))
        .collect();
    Tensor::from_data(TensorData::new(flags, [lengths.len(), length]), device)
}

/// Max or mean over the valid positions of `[batch, values, length]`.
pub fn masked_pool(t: Tensor<3>, mask: Tensor<2, Bool>, lengths: &[usize], max: bool) -> Tensor<3> {
    let [b, c, l] = t.dims();
    let mask = mask.unsqueeze_dim::<3>(1).expand([b, c, l]);
    if max {
        t.mask_fill(mask, -1.0e9).max_dim(2)
    } else {
        let n: Vec<f32> = lengths.iter().map(|&n| n.clamp(1, l) as f32).collect();
        let n = Tensor::<1>::from_data(TensorData::new(n, [b]), &t.device()).reshape([b, 1, 1]);
        t.mask_fill(mask, 0.0).sum_dim(2) / n
    }
}

/// Fixed sine/cosine patterns or a learned vector per position, added to the input.
// A network holds a handful of layers; their size in memory does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum PositionEncoding {
    Fixed(PositionalEncoding),
    /// `[length, values]`
    Learned(Param<Tensor<2>>),
}

impl PositionEncoding {
    pub fn new(values: usize, length: usize, learned: bool, device: &Device) -> Self {
        if learned {
            let table = Tensor::random([length, values], Distribution::Normal(0.0, 0.02), device);
            PositionEncoding::Learned(Param::from_tensor(table))
        } else {
            PositionEncoding::Fixed(
                PositionalEncodingConfig::new(values)
                    .with_max_sequence_size(length.max(1))
                    .init(device),
            )
        }
    }

    /// `[batch, values, length]` in and out.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let t = x.swap_dims(1, 2);
        let y = match self {
            PositionEncoding::Fixed(p) => p.forward(t),
            PositionEncoding::Learned(table) => {
                // Batches padded to a shorter length use the first positions.
                let [_, l, d] = t.dims();
                t + table.val().slice([0..l, 0..d]).unsqueeze::<3>()
            }
        };
        y.swap_dims(1, 2)
    }
}

/// The recurrent cells burn provides, one or both directions.
// A network holds a handful of layers; their size in memory does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Cell {
    Rnn(Rnn),
    BiRnn(BiRnn),
    Lstm(Lstm),
    BiLstm(BiLstm),
    Gru(Gru),
    BiGru(BiGru),
}

/// A recurrent layer and what it passes on.
#[derive(Module, Debug)]
pub struct Recurrent {
    pub cell: Cell,
    /// Pass on only the final state (a flat vector) instead of every position.
    pub last: bool,
    pub bidirectional: bool,
    pub units: usize,
}

impl Recurrent {
    pub fn rnn(d: usize, units: usize, bi: bool, output: SeqOutput, device: &Device) -> Self {
        let cell = if bi {
            Cell::BiRnn(BiRnnConfig::new(d, units, true).init(device))
        } else {
            Cell::Rnn(RnnConfig::new(d, units, true).init(device))
        };
        Self::with(cell, units, bi, output)
    }

    pub fn lstm(d: usize, units: usize, bi: bool, output: SeqOutput, device: &Device) -> Self {
        let cell = if bi {
            Cell::BiLstm(BiLstmConfig::new(d, units, true).init(device))
        } else {
            Cell::Lstm(LstmConfig::new(d, units, true).init(device))
        };
        Self::with(cell, units, bi, output)
    }

    pub fn gru(d: usize, units: usize, bi: bool, output: SeqOutput, device: &Device) -> Self {
        let cell = if bi {
            Cell::BiGru(BiGruConfig::new(d, units, true).init(device))
        } else {
            Cell::Gru(GruConfig::new(d, units, true).init(device))
        };
        Self::with(cell, units, bi, output)
    }

    fn with(cell: Cell, units: usize, bidirectional: bool, output: SeqOutput) -> Self {
        Recurrent {
            cell,
            last: output == SeqOutput::Last,
            bidirectional,
            units,
        }
    }

    /// `[batch, values, length]` in; a sequence `[batch, units(×2), length]` or
    /// the final state `[batch, units(×2)]` out. With `lengths`, the forward
    /// direction's final state is taken at each sequence's own last position.
    pub fn forward(&self, x: Tensor<3>, lengths: Option<&[usize]>) -> Act {
        let t = x.swap_dims(1, 2);
        let steps = t.dims()[1];
        // Sequences of different lengths in one batch: the backward direction
        // must start at each one's last letter, not in its padding.
        let ragged = lengths.filter(|lens| lens.iter().any(|&n| n < steps));
        let out: Tensor<3> = match (&self.cell, ragged) {
            (Cell::BiRnn(c), Some(lens)) => Tensor::cat(
                vec![
                    c.forward.forward(t.clone(), None).0,
                    flip_within(c.reverse.forward(flip_within(t, lens), None).0, lens),
                ],
                2,
            ),
            (Cell::BiLstm(c), Some(lens)) => {
                let run = |l: &Lstm, x: Tensor<3>| {
                    if fusable(l) {
                        lstm(l, x, false)
                    } else {
                        l.forward(x, None).0
                    }
                };
                Tensor::cat(
                    vec![
                        run(&c.forward, t.clone()),
                        flip_within(run(&c.reverse, flip_within(t, lens)), lens),
                    ],
                    2,
                )
            }
            (Cell::BiGru(c), Some(lens)) => Tensor::cat(
                vec![
                    c.forward.forward(t.clone(), None),
                    flip_within(c.reverse.forward(flip_within(t, lens), None), lens),
                ],
                2,
            ),
            (cell, _) => self.whole(cell, t),
        };

        if !self.last {
            return Act::Seq(out.swap_dims(1, 2));
        }
        // The final state: the last position reading forwards and, for two
        // directions, the first position reading backwards.
        let [b, l, _] = out.dims();
        let u = self.units;
        let forward = match lengths {
            Some(lens) => {
                let ends: Vec<i64> = lens
                    .iter()
                    .flat_map(|&n| std::iter::repeat_n(n.clamp(1, l) as i64 - 1, u))
                    .collect();
                let index =
                    Tensor::<3, Int>::from_data(TensorData::new(ends, [b, 1, u]), &out.device());
                out.clone()
                    .slice([0..b, 0..l, 0..u])
                    .gather(1, index)
                    .reshape([b, u])
            }
            None => out.clone().slice([0..b, l - 1..l, 0..u]).reshape([b, u]),
        };
        if self.bidirectional {
            let backward = out.slice([0..b, 0..1, u..2 * u]).reshape([b, u]);
            Act::Flat(Tensor::cat(vec![forward, backward], 1))
        } else {
            Act::Flat(forward)
        }
    }

    /// Every cell over whole sequences (no padding, or none to skip).
    fn whole(&self, cell: &Cell, t: Tensor<3>) -> Tensor<3> {
        match cell {
            Cell::Rnn(c) => c.forward(t, None).0,
            Cell::BiRnn(c) => c.forward(t, None).0,
            Cell::Lstm(c) if fusable(c) => lstm(c, t, false),
            Cell::Lstm(c) => c.forward(t, None).0,
            Cell::BiLstm(c) if fusable(&c.forward) && fusable(&c.reverse) => Tensor::cat(
                vec![
                    lstm(&c.forward, t.clone(), false),
                    lstm(&c.reverse, t, true),
                ],
                2,
            ),
            Cell::BiLstm(c) => c.forward(t, None).0,
            Cell::Gru(c) => c.forward(t, None),
            Cell::BiGru(c) => c.forward(t, None).0,
        }
    }
}

/// Each sequence of `[batch, length, values]` reversed within its own length
/// (padding stays at the end): reading the result forwards reads every
/// sequence backwards from its last letter. Its own inverse.
fn flip_within(t: Tensor<3>, lens: &[usize]) -> Tensor<3> {
    let [b, l, d] = t.dims();
    let mut index = Vec::with_capacity(b * l * d);
    for &n in lens {
        let n = n.clamp(1, l);
        for p in 0..l {
            let from = if p < n { n - 1 - p } else { p };
            index.extend(std::iter::repeat_n(from as i64, d));
        }
    }
    let index = Tensor::<3, Int>::from_data(TensorData::new(index, [b, l, d]), &t.device());
    t.gather(1, index)
}

/// An LSTM over `[batch, length, values]` (reading backwards when `reverse`),
/// computed from burn's own parameters with the four gates in one matrix: the
/// input and the state are projected with two products per step instead of
/// eight, and the states are stacked once at the end. burn's own loop projects every gate
/// separately and writes each step into the full output tensor, whose backward
/// pass copies that tensor at every step. Only for the plain LSTM ([`fusable`]).
fn lstm(l: &Lstm, x: Tensor<3>, reverse: bool) -> Tensor<3> {
    let forget = l
        .forget_gate
        .as_ref()
        .expect("fusable LSTMs have a forget gate");
    let gates = [&l.input_gate, forget, &l.output_gate, &l.cell_gate];
    let [b, len, d] = x.dims();
    let h = l.d_hidden;
    let device = x.device();
    let w_x = Tensor::cat(
        gates
            .iter()
            .map(|g| g.input_transform.weight.val())
            .collect(),
        1,
    );
    let w_h = Tensor::cat(
        gates
            .iter()
            .map(|g| g.hidden_transform.weight.val())
            .collect(),
        1,
    );
    let bias = |g: &burn::nn::Linear| {
        g.bias
            .as_ref()
            .map_or_else(|| Tensor::<1>::zeros([h], &device), |p| p.val())
    };
    let b_all = Tensor::cat(
        gates
            .iter()
            .map(|g| bias(&g.input_transform) + bias(&g.hidden_transform))
            .collect(),
        0,
    );
    let b_all = b_all.reshape([1, 4 * h]);
    if let Some(out) =
        super::cpu::lstm::run(x.clone(), w_x.clone(), w_h.clone(), b_all.clone(), reverse)
    {
        return out;
    }
    let mut state_h = Tensor::<2>::zeros([b, h], &device);
    let mut state_c = Tensor::<2>::zeros([b, h], &device);
    let mut outs = Vec::with_capacity(len);
    let steps: Box<dyn Iterator<Item = usize>> = if reverse {
        Box::new((0..len).rev())
    } else {
        Box::new(0..len)
    };
    for t in steps {
        // Slicing the narrow input (not its 4·units-wide projection) keeps the
        // backward pass of each step's slice small.
        let x_t = x.clone().slice([0..b, t..t + 1, 0..d]).reshape([b, d]);
        let g = x_t.matmul(w_x.clone()) + state_h.matmul(w_h.clone()) + b_all.clone();
        let sig = burn::tensor::activation::sigmoid(g.clone().slice([0..b, 0..3 * h]));
        let i = sig.clone().slice([0..b, 0..h]);
        let f = sig.clone().slice([0..b, h..2 * h]);
        let o = sig.slice([0..b, 2 * h..3 * h]);
        let candidate = g.slice([0..b, 3 * h..4 * h]).tanh();
        state_c = f * state_c + i * candidate;
        state_h = o * state_c.clone().tanh();
        outs.push(state_h.clone());
    }
    if reverse {
        outs.reverse();
    }
    Tensor::stack(outs, 1)
}

/// Whether [`lstm`] computes this LSTM exactly (no clipping, separate gates).
fn fusable(l: &Lstm) -> bool {
    l.forget_gate.is_some() && l.clip.is_none() && !l.input_forget
}

/// Self-attention with a residual connection and layer normalisation, and
/// optionally the per-position feed-forward network of a transformer encoder block.
#[derive(Module, Debug)]
pub struct Attention {
    pub attention: MultiHeadAttention,
    pub norm: LayerNorm,
    pub feed_forward: Option<(PositionWiseFeedForward, LayerNorm)>,
    pub dropout: Dropout,
}

impl Attention {
    pub fn new(d: usize, heads: usize, ff: Option<usize>, dropout: f64, device: &Device) -> Self {
        Attention {
            attention: MultiHeadAttentionConfig::new(d, heads)
                .with_dropout(dropout)
                .init(device),
            norm: LayerNormConfig::new(d).init(device),
            feed_forward: ff.map(|ff| {
                (
                    PositionWiseFeedForwardConfig::new(d, ff)
                        .with_dropout(dropout)
                        .init(device),
                    LayerNormConfig::new(d).init(device),
                )
            }),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// `[batch, values, length]` in and out, with the attention weights
    /// `[batch, heads, length, length]`; `padding` (true at padded positions, the positions
    /// from each sequence's length in `lengths` on) keeps every position from attending to
    /// padding.
    pub fn forward(
        &self,
        x: Tensor<3>,
        padding: Option<Tensor<2, Bool>>,
        lengths: Option<&[usize]>,
    ) -> (Tensor<3>, Tensor<4>) {
        let t = x.swap_dims(1, 2);
        // burn's multi-head attention and feed-forward computed here from their
        // own parameters, so every dropout mask comes from the fast sampler.
        let m = &self.attention;
        let [b, l, d] = t.dims();
        let project = |linear: &burn::nn::Linear| {
            linear
                .forward(t.clone())
                .reshape([b, l, m.n_heads, m.d_k])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (project(&m.query), project(&m.key), project(&m.value));
        let fused = match (&padding, lengths) {
            // The mask and the lengths must say the same: both, or neither.
            (Some(_), Some(_)) | (None, None) if !m.quiet_softmax => {
                let p = if super::dropout::active(&q.device()) {
                    m.dropout.prob
                } else {
                    0.0
                };
                super::cpu::attention::run(q.clone(), k.clone(), v.clone(), lengths, p)
            }
            _ => None,
        };
        let (context, weights) = fused.unwrap_or_else(|| {
            let mut scores = q.matmul(k.transpose()).div_scalar((m.d_k as f32).sqrt());
            if let Some(mask) = padding {
                scores = scores.mask_fill(mask.reshape([b, 1, 1, l]), m.min_float);
            }
            let weights = burn::tensor::activation::softmax(scores, 3);
            (dropout(weights.clone(), m.dropout.prob).matmul(v), weights)
        });
        let context = context.swap_dims(1, 2).reshape([b, l, d]);
        let context = m.output.forward(context);
        let p = self.dropout.prob;
        let mut y = self.norm.forward(t + dropout(context, p));
        if let Some((ff, norm)) = &self.feed_forward {
            let h = ff.linear_inner.forward(y.clone());
            let h = dropout(ff.activation.forward(h), ff.dropout.prob);
            let h = ff.linear_outer.forward(h);
            y = norm.forward(y + dropout(h, p));
        }
        (y.swap_dims(1, 2), weights)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    use crate::model::build;
    use crate::spec::shapes::Target;
    use crate::spec::templates::Template;
    use crate::spec::{LayerSpec, SeqOutput};

    /// A classifier of `[4 × 30]` sequences whose first layers are `layers`.
    fn net(layers: Vec<LayerSpec>) -> crate::spec::Experiment {
        let mut exp = Template::LstmClassifier.experiment();
        let mut all = layers;
        all.push(LayerSpec::GlobalMaxPool);
        all.push(LayerSpec::Dense {
            units: 2,
            bias: true,
        });
        exp.architecture.stacks[0].layers = all.into_iter().map(Into::into).collect();
        exp
    }

    fn input(device: &Device) -> Tensor<2> {
        Tensor::random([5, 4 * 30], Distribution::Uniform(0.0, 1.0), device)
    }

    #[test]
    fn both_directions_ignore_the_padding_of_a_shorter_sequence() {
        use super::Recurrent;
        use crate::model::Act;
        let device = Device::flex();
        // Sample 0 has 5 letters padded to 8; sample 1 fills all 8.
        let x = Tensor::<3>::random([2, 3, 8], Distribution::Uniform(-1.0, 1.0), &device);
        let keep = Tensor::<3>::from_data(
            TensorData::new(
                (0..2 * 3 * 8)
                    .map(|i| if i < 24 && i % 8 >= 5 { 0.0f32 } else { 1.0 })
                    .collect::<Vec<_>>(),
                [2, 3, 8],
            ),
            &device,
        );
        let x = x * keep;
        let alone = x.clone().slice([0..1, 0..3, 0..5]);
        for (name, layer) in [
            (
                "rnn",
                Recurrent::rnn(3, 4, true, SeqOutput::Sequence, &device),
            ),
            (
                "lstm",
                Recurrent::lstm(3, 4, true, SeqOutput::Sequence, &device),
            ),
            (
                "gru",
                Recurrent::gru(3, 4, true, SeqOutput::Sequence, &device),
            ),
        ] {
            let (Act::Seq(batch), Act::Seq(single)) = (
                layer.forward(x.clone(), Some(&[5, 8])),
                layer.forward(alone.clone(), None),
            ) else {
                panic!("{name}: sequences out")
            };
            let got: Vec<f32> = batch
                .slice([0..1, 0..8, 0..5])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let want: Vec<f32> = single.into_data().try_to_vec::<f32>().unwrap();
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{name}: differs by {worst}");
            // The full-length sample is computed as before.
            let full = x.clone().slice([1..2, 0..3, 0..8]);
            let Act::Seq(own) = layer.forward(full, None) else {
                panic!()
            };
            let (a, b): (Vec<f32>, Vec<f32>) = (
                layer_out(&layer, &x, 1),
                own.into_data().try_to_vec::<f32>().unwrap(),
            );
            assert!(
                a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5),
                "{name}"
            );
        }
    }

    fn layer_out(layer: &super::Recurrent, x: &Tensor<3>, i: usize) -> Vec<f32> {
        let crate::model::Act::Seq(out) = layer.forward(x.clone(), Some(&[5, 8])) else {
            panic!()
        };
        out.slice([i..i + 1, 0..8, 0..8])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn recurrent_layers_match_their_inferred_shapes_and_parameter_counts() {
        let device = Device::flex();
        let target = Target::Classes(2);
        for bidirectional in [false, true] {
            for output in [SeqOutput::Sequence, SeqOutput::Last] {
                for make in [
                    |units, bidirectional, output| LayerSpec::Rnn {
                        units,
                        bidirectional,
                        output,
                    },
                    |units, bidirectional, output| LayerSpec::Lstm {
                        units,
                        bidirectional,
                        output,
                    },
                    |units, bidirectional, output| LayerSpec::Gru {
                        units,
                        bidirectional,
                        output,
                    },
                ] {
                    let layer = make(6, bidirectional, output);
                    let mut exp = net(vec![layer.clone()]);
                    if output == SeqOutput::Last {
                        // A flat vector cannot be pooled: drop the pooling layer.
                        exp.architecture.stacks[0].layers.remove(1);
                    }
                    let (network, report) = build(&exp, &[4, 30], &target, &device)
                        .unwrap_or_else(|e| panic!("{layer:?}: {e}"));
                    use burn::module::Module;
                    assert_eq!(network.num_params(), report.total_params(), "{layer:?}");
                    let width = if bidirectional { 12 } else { 6 };
                    let want = match output {
                        SeqOutput::Sequence => vec![width, 30],
                        SeqOutput::Last => vec![width],
                    };
                    assert_eq!(report.stacks[0].layers[0].output, Some(want), "{layer:?}");
                    let out = network.forward(input(&device), false).output;
                    assert_eq!(out.dims(), [5, 2]);
                }
            }
        }
    }

    #[test]
    fn attention_rows_sum_to_one_for_every_head() {
        let device = Device::flex();
        let exp = net(vec![
            LayerSpec::Embedding { dim: 8, window: 3 },
            LayerSpec::PositionalEncoding { learned: true },
            LayerSpec::SelfAttention {
                heads: 2,
                dropout: 0.1,
            },
            LayerSpec::TransformerBlock {
                heads: 4,
                ff: 16,
                dropout: 0.1,
            },
        ]);
        let (network, report) = build(&exp, &[4, 30], &Target::Classes(2), &device).unwrap();
        use burn::module::Module;
        assert_eq!(network.num_params(), report.total_params());
        let f = network.forward(input(&device), false);
        assert_eq!(f.attention.len(), 2, "one map per attention layer");
        assert_eq!(f.attention[0].dims(), [5, 2, 30, 30]);
        assert_eq!(f.attention[1].dims(), [5, 4, 30, 30]);
        for w in f.attention {
            let sums: Vec<f32> = w.sum_dim(3).into_data().try_to_vec::<f32>().unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
        }
    }

    #[test]
    fn shape_inference_explains_sequence_layer_mistakes() {
        use crate::spec::shapes::layer_shape;
        let lstm = LayerSpec::Lstm {
            units: 8,
            bidirectional: false,
            output: SeqOutput::Sequence,
        };
        let e = layer_shape(&lstm, &[64]).unwrap_err();
        assert!(
            e.contains("LSTM expects a sequence") && e.contains("flat vector of 64"),
            "{e}"
        );
        let att = LayerSpec::SelfAttention {
            heads: 3,
            dropout: 0.0,
        };
        let e = layer_shape(&att, &[8, 20]).unwrap_err();
        assert!(
            e.contains("does not divide by 3") && e.contains("1, 2, 4, 8"),
            "{e}"
        );
        let pos = LayerSpec::PositionalEncoding { learned: false };
        let e = layer_shape(&pos, &[5, 20]).unwrap_err();
        assert!(e.contains("even size") && e.contains("Learned"), "{e}");
        let e = layer_shape(&LayerSpec::Embedding { dim: 4, window: 1 }, &[1, 28, 28]).unwrap_err();
        assert!(e.contains("not images"), "{e}");
    }

    /// One-hot `[4 × len]` of a random DNA sequence, zero-padded to `pad`.
    fn one_hot(seed: u64, len: usize, pad: usize) -> Vec<f32> {
        let mut x = vec![0.0; 4 * pad];
        let mut state = seed;
        for p in 0..len {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x[((state >> 33) % 4) as usize * pad + p] = 1.0;
        }
        x
    }

    #[test]
    fn padding_changes_neither_predictions_nor_attention() {
        let device = Device::flex();
        for layers in [
            vec![
                LayerSpec::Embedding { dim: 8, window: 3 },
                LayerSpec::PositionalEncoding { learned: true },
                LayerSpec::TransformerBlock {
                    heads: 2,
                    ff: 16,
                    dropout: 0.0,
                },
            ],
            vec![
                LayerSpec::Conv1d {
                    filters: 8,
                    kernel: 5,
                    stride: 1,
                    padding: crate::spec::Padding::Same,
                },
                LayerSpec::MaxPool1d { size: 2 },
                LayerSpec::SelfAttention {
                    heads: 2,
                    dropout: 0.0,
                },
            ],
            vec![LayerSpec::Gru {
                units: 6,
                bidirectional: false,
                output: SeqOutput::Sequence,
            }],
        ] {
            let exp = net(layers);
            let (network, _) = build(&exp, &[4, 40], &Target::Classes(2), &device).unwrap();
            // A sequence of 24 alone, and the same sequence padded to 40 in a
            // batch with a sequence of 40.
            let short = one_hot(7, 24, 24);
            let alone = Tensor::<2>::from_data(TensorData::new(short, [1, 4 * 24]), &device);
            let a = network.forward_padded(alone, Some(&[24]), false);
            let mut both = one_hot(7, 24, 40);
            both.extend(one_hot(9, 40, 40));
            let batch = Tensor::<2>::from_data(TensorData::new(both, [2, 4 * 40]), &device);
            let b = network.forward_padded(batch, Some(&[24, 40]), false);
            let pa: Vec<f32> = a.output.into_data().try_to_vec::<f32>().unwrap();
            let pb: Vec<f32> = b
                .output
                .slice([0..1, 0..2])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (x, y) in pa.iter().zip(&pb) {
                assert!(
                    (x - y).abs() < 1e-4,
                    "{:?}: {pa:?} vs {pb:?}",
                    exp.architecture.stacks[0].layers[0].layer
                );
            }
            for w in b.attention {
                let [_, heads, l, _] = w.dims();
                let valid = if l == 40 { 24 } else { 12 };
                let w: Vec<f32> = w
                    .slice([0..1, 0..heads])
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                for h in 0..heads {
                    for q in 0..valid {
                        let row = &w[(h * l + q) * l..(h * l + q + 1) * l];
                        let on_valid: f32 = row[..valid].iter().sum();
                        assert!(
                            (on_valid - 1.0).abs() < 1e-4,
                            "row sums to 1 over the sequence: {on_valid}"
                        );
                        assert!(
                            row[valid..].iter().all(|&x| x < 1e-6),
                            "no attention on padding"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fused_lstm_equals_burns() {
        let device = Device::flex();
        for bi in [false, true] {
            let r = super::Recurrent::lstm(4, 6, bi, SeqOutput::Sequence, &device);
            let x = Tensor::<3>::random([2, 4, 9], Distribution::Normal(0.0, 1.0), &device);
            let ours = match r.forward(x.clone(), None) {
                crate::model::Act::Seq(t) => t,
                _ => unreachable!(),
            };
            let t = x.swap_dims(1, 2);
            let burns = match &r.cell {
                super::Cell::Lstm(c) => c.forward(t, None).0,
                super::Cell::BiLstm(c) => c.forward(t, None).0,
                _ => unreachable!(),
            }
            .swap_dims(1, 2);
            let a: Vec<f32> = ours.into_data().try_to_vec().unwrap();
            let b: Vec<f32> = burns.into_data().try_to_vec().unwrap();
            assert_eq!(a.len(), b.len());
            assert!(
                a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5),
                "bidirectional {bi}"
            );
        }
    }

    /// Our LSTM (computed by `cpu::lstm` on the CPU backend) against burn's own cells: output,
    /// the input's gradient, and every gate's weight and bias gradients, in both directions.
    #[test]
    fn lstm_gradients_equal_burns() {
        use crate::model::cpu::testing::{close, vec_of};
        let device = Device::flex().autodiff();
        for bi in [false, true] {
            let r = super::Recurrent::lstm(3, 5, bi, SeqOutput::Sequence, &device);
            let x = Tensor::<3>::random([4, 3, 7], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = match r.forward(x.clone(), None) {
                crate::model::Act::Seq(t) => t,
                _ => unreachable!("a sequence output was asked for"),
            };
            let burns = match &r.cell {
                super::Cell::Lstm(c) => c.forward(x.clone().swap_dims(1, 2), None).0,
                super::Cell::BiLstm(c) => c.forward(x.clone().swap_dims(1, 2), None).0,
                _ => unreachable!("an LSTM was built"),
            }
            .swap_dims(1, 2);
            let weights = Tensor::<3>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let grads_ours = (ours.clone() * weights.clone()).sum().backward();
            let grads_burn = (burns.clone() * weights).sum().backward();
            let what = if bi { "bidirectional" } else { "forward" };
            close(&vec_of(ours), &vec_of(burns), &format!("{what} output"));
            close(
                &vec_of(x.grad(&grads_ours).unwrap()),
                &vec_of(x.grad(&grads_burn).unwrap()),
                &format!("{what} dx"),
            );
            let lstms = match &r.cell {
                super::Cell::Lstm(c) => vec![c],
                super::Cell::BiLstm(c) => vec![&c.forward, &c.reverse],
                _ => unreachable!("an LSTM was built"),
            };
            for l in lstms {
                let forget = l.forget_gate.as_ref().unwrap();
                for (name, gate) in [
                    ("input", &l.input_gate),
                    ("forget", forget),
                    ("output", &l.output_gate),
                    ("cell", &l.cell_gate),
                ] {
                    for (part, linear) in
                        [("x", &gate.input_transform), ("h", &gate.hidden_transform)]
                    {
                        let g = |grads| {
                            (
                                vec_of(linear.weight.val().grad(grads).unwrap()),
                                vec_of(linear.bias.as_ref().unwrap().val().grad(grads).unwrap()),
                            )
                        };
                        let ((w_ours, b_ours), (w_burn, b_burn)) = (g(&grads_ours), g(&grads_burn));
                        close(&w_ours, &w_burn, &format!("{what} {name} w_{part}"));
                        close(&b_ours, &b_burn, &format!("{what} {name} b_{part}"));
                    }
                }
            }
        }
    }
}
