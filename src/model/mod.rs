//! Spec → burn module. A network is a list of stacks; a stack is a `Vec` of an
//! enum of layers run in the order of its graph (a chain, or branches joined by
//! merge layers: `spec::graph`); values flowing between layers are an [`Act`]
//! over tensor ranks so dense, convolutional, recurrent and attention layers
//! compose. Each wire's value is dropped once its last taker has it.
//!
//! The builder trusts shape inference: it runs it first and refuses what it
//! rejects, so the forward pass never meets a shape it cannot take.

use burn::module::Module;
use burn::nn::conv::{
    Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose1d, ConvTranspose1dConfig,
    ConvTranspose2d, ConvTranspose2dConfig,
};
use burn::nn::pool::{
    AvgPool1d, AvgPool1dConfig, AvgPool2d, AvgPool2dConfig, MaxPool1d, MaxPool1dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, PaddingConfig1d, PaddingConfig2d,
};
use burn::tensor::{Device, Tensor, activation};

use crate::spec::graph::{self, Source, Wiring};
use crate::spec::shapes::{ShapeError, ShapeReport, Target, infer_shapes_joined};
use crate::spec::{ActivationFn, Experiment, LayerSpec, Padding, Task};

pub(crate) mod cpu;
pub mod dropout;
mod sequence;
pub use sequence::{Attention, PositionEncoding, Recurrent};

/// Activations between layers, by rank (batch first).
#[derive(Debug, Clone)]
pub enum Act {
    /// `[batch, features]`
    Flat(Tensor<2>),
    /// `[batch, channels, length]`
    Seq(Tensor<3>),
    /// `[batch, channels, height, width]`
    Img(Tensor<4>),
}

macro_rules! each_rank {
    ($act:expr, $t:ident => $e:expr) => {
        match $act {
            Act::Flat($t) => Act::Flat($e),
            Act::Seq($t) => Act::Seq($e),
            Act::Img($t) => Act::Img($e),
        }
    };
}

impl Act {
    /// Build from a flat `[batch, sample_len]` tensor and a sample shape.
    pub fn from_flat(t: Tensor<2>, shape: &[usize]) -> Act {
        let b = t.dims()[0];
        match shape {
            [_] => Act::Flat(t),
            [c, l] => Act::Seq(t.reshape([b, *c, *l])),
            [c, h, w] => Act::Img(t.reshape([b, *c, *h, *w])),
            other => {
                panic!("sample shapes have rank 1 to 3 (data readers guarantee it), got {other:?}")
            }
        }
    }

    /// The length of a sequence activation.
    pub fn seq_len(&self) -> Option<usize> {
        match self {
            Act::Seq(t) => Some(t.dims()[2]),
            _ => None,
        }
    }

    pub fn device(&self) -> Device {
        match self {
            Act::Flat(t) => t.device(),
            Act::Seq(t) => t.device(),
            Act::Img(t) => t.device(),
        }
    }

    /// Every value of a sample in one row: `[batch, values]`.
    pub fn flatten(self) -> Tensor<2> {
        match self {
            Act::Flat(t) => t,
            Act::Seq(t) => t.flatten(1, 2),
            Act::Img(t) => t.flatten(1, 3),
        }
    }

    fn flat(self) -> Tensor<2> {
        match self {
            Act::Flat(t) => t,
            _ => panic!("shape inference guarantees a flat input here"),
        }
    }

    fn seq(self) -> Tensor<3> {
        match self {
            Act::Seq(t) => t,
            _ => panic!("shape inference guarantees a sequence input here"),
        }
    }

    fn img(self) -> Tensor<4> {
        match self {
            Act::Img(t) => t,
            _ => panic!("shape inference guarantees an image input here"),
        }
    }
}

/// An element-wise activation (no parameters).
#[derive(Module, Debug)]
pub struct Activation {
    #[module(skip)]
    pub function: ActivationKind,
}

/// `ActivationFn` in a form the module derive can skip over.
#[derive(Debug, Clone, Copy)]
pub struct ActivationKind(pub ActivationFn);

impl Activation {
    fn apply<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        match self.function.0 {
            ActivationFn::Relu => activation::relu(t),
            ActivationFn::LeakyRelu(s) => activation::leaky_relu(t, s),
            ActivationFn::Gelu => activation::gelu(t),
            ActivationFn::Sigmoid => activation::sigmoid(t),
            ActivationFn::Tanh => activation::tanh(t),
            ActivationFn::Softplus => activation::softplus(t, 1.0),
        }
    }

    /// Piecewise linear and never decreasing (ReLU, leaky ReLU with a slope ≥ 0): max
    /// pooling then this gives the same values and the same gradients as this then max
    /// pooling, on a fraction of the values.
    fn commutes_with_max_pooling(&self) -> bool {
        match self.function.0 {
            ActivationFn::Relu => true,
            ActivationFn::LeakyRelu(s) => s >= 0.0,
            _ => false,
        }
    }
}

/// Max or average over all positions/pixels of each channel.
#[derive(Module, Debug)]
pub struct GlobalPool {
    pub max: bool,
}

/// Flatten (empty shape) or reshape to a fixed sample shape.
#[derive(Module, Debug)]
pub struct Reshape {
    #[module(skip)]
    pub shape: Vec<usize>,
}

/// Mean and log-variance heads and the reparameterisation trick.
#[derive(Module, Debug)]
pub struct VaeSampling {
    pub mean: Linear,
    pub log_var: Linear,
}

/// One built layer.
// A network holds a handful of layers; their size in memory does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    Dense(Linear),
    Dropout(Dropout),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    Activation(Activation),
    Conv1d(Conv1d),
    Conv2d(Conv2d),
    ConvTranspose1d(ConvTranspose1d),
    ConvTranspose2d(ConvTranspose2d),
    MaxPool1d(MaxPool1d),
    AvgPool1d(AvgPool1d),
    MaxPool2d(MaxPool2d),
    Upsample2d(burn::nn::interpolate::Interpolate2d),
    AvgPool2d(AvgPool2d),
    GlobalPool(GlobalPool),
    Reshape(Reshape),
    CropPad(CropPad),
    VaeSampling(VaeSampling),
    /// Applied along the channels at each position of a sequence (embedding).
    PerPosition(Linear),
    PositionEncoding(PositionEncoding),
    Recurrent(Recurrent),
    Attention(Attention),
    Merge(Merge),
}

impl Layer {
    fn is_max_pooling(&self) -> bool {
        matches!(self, Layer::MaxPool1d(_) | Layer::MaxPool2d(_))
    }

    /// The enum variant's name, as it appears in module paths.
    pub fn variant_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Dropout(_) => "Dropout",
            Layer::BatchNorm(_) => "BatchNorm",
            Layer::LayerNorm(_) => "LayerNorm",
            Layer::Activation(_) => "Activation",
            Layer::Conv1d(_) => "Conv1d",
            Layer::Conv2d(_) => "Conv2d",
            Layer::ConvTranspose1d(_) => "ConvTranspose1d",
            Layer::ConvTranspose2d(_) => "ConvTranspose2d",
            Layer::MaxPool1d(_) => "MaxPool1d",
            Layer::AvgPool1d(_) => "AvgPool1d",
            Layer::MaxPool2d(_) => "MaxPool2d",
            Layer::Upsample2d(_) => "Upsample2d",
            Layer::AvgPool2d(_) => "AvgPool2d",
            Layer::GlobalPool(_) => "GlobalPool",
            Layer::Reshape(_) => "Reshape",
            Layer::CropPad(_) => "CropPad",
            Layer::VaeSampling(_) => "VaeSampling",
            Layer::PerPosition(_) => "PerPosition",
            Layer::PositionEncoding(_) => "PositionEncoding",
            Layer::Recurrent(_) => "Recurrent",
            Layer::Attention(_) => "Attention",
            Layer::Merge(_) => "Merge",
        }
    }
}

/// How a stack's layers are wired, for running them: the checked graph and,
/// for each layer, the layer that alone takes its output when that layer takes
/// nothing else (where a convolution may apply the max pooling after it).
#[derive(Debug, Clone)]
pub struct Plan {
    wiring: Wiring,
    next: Vec<Option<usize>>,
    /// The widths of the joined tables at the end of each flat input sample
    /// (the stack that reads the data, when tables are joined): the input is
    /// cut into the main part and one part per joined table.
    joined: Vec<usize>,
}

impl Plan {
    /// Layers applied one after the other.
    pub fn chain(len: usize) -> Plan {
        let sources = (0..len)
            .map(|i| match i {
                0 => vec![Source::Input],
                _ => vec![Source::Node(i - 1)],
            })
            .collect();
        let output = match len {
            0 => Source::Input,
            n => Source::Node(n - 1),
        };
        Plan::new(Wiring {
            sources,
            order: (0..len).collect(),
            output,
        })
    }

    /// The checked graph the stack runs.
    pub fn wiring(&self) -> &Wiring {
        &self.wiring
    }

    fn new(wiring: Wiring) -> Plan {
        let uses = wiring.consumers();
        let next = (0..wiring.sources.len())
            .map(|i| {
                if uses[i] != 1 {
                    return None;
                }
                wiring.sources.iter().position(|s| s == &[Source::Node(i)])
            })
            .collect();
        Plan {
            wiring,
            next,
            joined: Vec::new(),
        }
    }
}

/// A value flowing along one wire of a stack.
#[derive(Clone)]
struct Flow {
    x: Act,
    /// The valid lengths of padded sequences in the batch.
    lengths: Option<Vec<usize>>,
    /// Set by a 1-D convolution that applied its max pooling: its output length
    /// before pooling, which `lengths` still refer to.
    unpooled_len: Option<usize>,
}

/// A stack of layers: a graph, most often a chain, run in the plan's order.
#[derive(Module, Debug)]
pub struct StackModule {
    pub layers: Vec<Layer>,
    /// Index of the last Dense layer: its input is the classifier's embedding.
    pub last_dense: Option<usize>,
    #[module(skip)]
    pub plan: Plan,
}

/// What a stack produced.
pub struct StackOut {
    pub out: Act,
    /// The input of the last Dense layer (a classifier's learned embedding).
    pub before_last_dense: Option<Act>,
    /// Mean and log-variance of a VAE sampling layer.
    pub vae: Option<(Tensor<2>, Tensor<2>)>,
    /// Attention weights of each attention layer, `[batch, heads, length, length]`.
    pub attention: Vec<Tensor<4>>,
}

/// What one forward pass through a stack keeps between layers.
struct Pass<'a> {
    sample: bool,
    vae: Option<(Tensor<2>, Tensor<2>)>,
    attention: Vec<Tensor<4>>,
    /// An activation held back to be applied after the max pooling at this index.
    after_pooling: Vec<Option<&'a Activation>>,
    /// Max pooling layers that the convolution before them already applied.
    pooled: Vec<bool>,
    /// Convolution, activation and max pooling may run as one (not when the
    /// maps before the pooling are tapped).
    fuse: bool,
}

impl StackModule {
    /// Layers applied one after the other.
    pub fn chain(layers: Vec<Layer>, last_dense: Option<usize>) -> StackModule {
        let plan = Plan::chain(layers.len());
        StackModule {
            layers,
            last_dense,
            plan,
        }
    }

    /// The max pooling that follows layer `i`, directly or after an activation that can be
    /// applied after the pooling instead (see `Activation::commutes_with_max_pooling`).
    fn max_pooling_after(&self, i: usize) -> Option<(usize, &Layer)> {
        let j = self.plan.next[i]?;
        match &self.layers[j] {
            l if l.is_max_pooling() => Some((j, l)),
            Layer::Activation(a) if a.commutes_with_max_pooling() => {
                let k = self.plan.next[j]?;
                Some((k, &self.layers[k])).filter(|(_, l)| l.is_max_pooling())
            }
            _ => None,
        }
    }

    /// Run the stack; `sample` draws from a VAE sampling layer (training) instead
    /// of returning its mean (prediction). `lengths` are the valid lengths of
    /// padded sequences in the batch: padding is then left out of pooling and
    /// attention, and a recurrent layer's last state is taken at each
    /// sequence's own end.
    pub fn forward(&self, x: Act, sample: bool, lengths: Option<Vec<usize>>) -> StackOut {
        self.run(x, sample, lengths, false).0
    }

    /// [`StackModule::forward`] that also gives the output of the last layer
    /// (in the plan's order) other than a pooling whose output is an image,
    /// `[batch, channels, height, width]` (the last convolution's maps after
    /// its activation, at their full size), as a leaf of its own: gradients
    /// of the stack's output can be taken with respect to it (Grad-CAM), and
    /// none flow past it.
    pub fn forward_tapped(
        &self,
        x: Act,
        lengths: Option<Vec<usize>>,
    ) -> (StackOut, Option<Tensor<4>>) {
        self.run(x, false, lengths, true)
    }

    fn run(
        &self,
        x: Act,
        sample: bool,
        lengths: Option<Vec<usize>>,
        tap: bool,
    ) -> (StackOut, Option<Tensor<4>>) {
        let mut tapped = None;
        let wiring = &self.plan.wiring;
        let n = self.layers.len();
        let mut pass = Pass {
            sample,
            vae: None,
            attention: Vec::new(),
            after_pooling: vec![None; n],
            pooled: vec![false; n],
            fuse: !tap,
        };
        let mut before_last_dense = None;
        // Each wire's value, dropped once its last taker has it.
        let mut uses = wiring.consumers();
        // The stack's inputs: the data (its main part) and each joined table's part.
        let parts: Vec<Act> = match (&self.plan.joined[..], x) {
            ([], x) => vec![x],
            (widths, x) => {
                let t = x.flat();
                let total = t.dims()[1];
                let main = total - widths.iter().sum::<usize>();
                let mut start = 0;
                std::iter::once(main)
                    .chain(widths.iter().copied())
                    .map(|w| {
                        let part = t.clone().narrow(1, start, w);
                        start += w;
                        Act::Flat(part)
                    })
                    .collect()
            }
        };
        let slot_of = |s: &Source| match s {
            Source::Input => Some(0),
            Source::Joined(k) => Some(k + 1),
            Source::Node(_) => None,
        };
        let mut input_uses = vec![0usize; parts.len()];
        for s in wiring
            .sources
            .iter()
            .flatten()
            .chain(std::iter::once(&wiring.output))
        {
            if let Some(k) = slot_of(s) {
                input_uses[k] += 1;
            }
        }
        let mut inputs: Vec<Option<Flow>> = parts
            .into_iter()
            .enumerate()
            .map(|(k, x)| {
                Some(Flow {
                    x,
                    lengths: if k == 0 { lengths.clone() } else { None },
                    unpooled_len: None,
                })
            })
            .collect();
        let mut values: Vec<Option<Flow>> = vec![None; n];
        let mut take = |s: Source, values: &mut [Option<Flow>]| {
            let (slot, left) = match s {
                Source::Input => (&mut inputs[0], &mut input_uses[0]),
                Source::Joined(k) => (&mut inputs[k + 1], &mut input_uses[k + 1]),
                Source::Node(j) => (&mut values[j], &mut uses[j]),
            };
            *left -= 1;
            let value = if *left == 0 {
                slot.take()
            } else {
                slot.clone()
            };
            value.expect("the plan runs every layer after the layers it takes")
        };
        for &i in &wiring.order {
            let mut args: Vec<Flow> = wiring.sources[i]
                .iter()
                .map(|s| take(*s, &mut values))
                .collect();
            if Some(i) == self.last_dense {
                before_last_dense = Some(args[0].x.clone());
            }
            values[i] = Some(match &self.layers[i] {
                Layer::Merge(m) => m.apply(args),
                _ => {
                    let flow = args
                        .pop()
                        .expect("a layer that is no merge takes one input");
                    self.apply(i, flow, &mut pass)
                }
            });
            let pooling = matches!(self.layers[i], Layer::MaxPool2d(_) | Layer::AvgPool2d(_));
            if tap
                && !pooling
                && let Some(Flow { x: Act::Img(t), .. }) = &mut values[i]
            {
                let leaf = if t.device().is_autodiff() {
                    t.clone().detach().require_grad()
                } else {
                    t.clone()
                };
                *t = leaf.clone();
                tapped = Some(leaf);
            }
        }
        let out = StackOut {
            out: take(wiring.output, &mut values).x,
            before_last_dense,
            vae: pass.vae,
            attention: pass.attention,
        };
        (out, tapped)
    }

    /// Apply layer `i` to the value it takes.
    fn apply<'a>(&'a self, i: usize, flow: Flow, pass: &mut Pass<'a>) -> Flow {
        let layer = &self.layers[i];
        let Flow {
            x,
            lengths,
            unpooled_len,
        } = flow;
        let mut unpooled_len_out = None;
        let len_in = unpooled_len.or_else(|| x.seq_len());
        let mask = match (&lengths, len_in) {
            (Some(l), Some(len)) => Some(sequence::padding_mask(l, len, &x.device())),
            _ => None,
        };
        let mut x = match layer {
            Layer::Dense(l) => Act::Flat(l.forward(x.flat())),
            Layer::Dropout(l) => each_rank!(x, t => dropout::dropout(t, l.prob)),
            Layer::BatchNorm(l) => each_rank!(x, t => l.forward(t)),
            Layer::LayerNorm(l) => match x {
                Act::Flat(t) => Act::Flat(l.forward(t)),
                Act::Seq(t) => Act::Seq(l.forward(t.swap_dims(1, 2)).swap_dims(1, 2)),
                Act::Img(t) => Act::Img(l.forward(t.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])),
            },
            Layer::Activation(a)
                if pass.fuse
                    && a.commutes_with_max_pooling()
                    && self.plan.next[i].is_some_and(|j| self.layers[j].is_max_pooling()) =>
            {
                pass.after_pooling[self.plan.next[i].expect("checked just above")] = Some(a);
                x
            }
            Layer::Activation(a) => each_rank!(x, t => a.apply(t)),
            Layer::Conv1d(l) => {
                let x = x.seq();
                let fused = match self.max_pooling_after(i).filter(|_| pass.fuse) {
                    Some((j, Layer::MaxPool1d(p))) => {
                        cpu::conv::conv1d_max_pool(l, p, x.clone()).map(|f| (j, f))
                    }
                    _ => None,
                };
                match fused {
                    Some((j, (y, len))) => {
                        pass.pooled[j] = true;
                        unpooled_len_out = Some(len);
                        Act::Seq(y)
                    }
                    None => Act::Seq(cpu::conv::conv1d(l, x)),
                }
            }
            Layer::Conv2d(l) => {
                let x = x.img();
                let fused = match self.max_pooling_after(i).filter(|_| pass.fuse) {
                    Some((j, Layer::MaxPool2d(p))) => {
                        cpu::conv::conv2d_max_pool(l, p, x.clone()).map(|y| (j, y))
                    }
                    _ => None,
                };
                match fused {
                    Some((j, y)) => {
                        pass.pooled[j] = true;
                        Act::Img(y)
                    }
                    None => Act::Img(cpu::conv::conv2d(l, x)),
                }
            }
            Layer::ConvTranspose1d(l) => Act::Seq(l.forward(x.seq())),
            Layer::ConvTranspose2d(l) => Act::Img(l.forward(x.img())),
            Layer::CropPad(c) => c.apply(x),
            // Already applied by the convolution before it.
            Layer::MaxPool1d(_) | Layer::MaxPool2d(_) if pass.pooled[i] => x,
            Layer::MaxPool1d(l) => Act::Seq(cpu::pool::max_pool1d(l, x.seq())),
            Layer::AvgPool1d(l) => Act::Seq(l.forward(x.seq())),
            Layer::MaxPool2d(l) => Act::Img(cpu::pool::max_pool2d(l, x.img())),
            Layer::Upsample2d(l) => Act::Img(l.forward(x.img())),
            Layer::AvgPool2d(l) => Act::Img(l.forward(x.img())),
            Layer::GlobalPool(p) => {
                let t: Tensor<3> = match x {
                    Act::Seq(t) => t,
                    Act::Img(t) => t.flatten(2, 3),
                    Act::Flat(_) => {
                        panic!("shape inference refuses global pooling of a flat vector")
                    }
                };
                let pooled = match (&mask, &lengths) {
                    (Some(m), Some(l)) => sequence::masked_pool(t, m.clone(), l, p.max),
                    _ if p.max => cpu::pool::max_over_positions(t),
                    _ => t.mean_dim(2),
                };
                Act::Flat(pooled.flatten(1, 2))
            }
            Layer::Reshape(r) => {
                let flat = x.flatten();
                if r.shape.is_empty() {
                    Act::Flat(flat)
                } else {
                    Act::from_flat(flat, &r.shape)
                }
            }
            Layer::VaeSampling(v) => {
                let h = x.flat();
                let mean = v.mean.forward(h.clone());
                let log_var = v.log_var.forward(h);
                let z = if pass.sample {
                    let eps = dropout::normal(mean.shape(), &mean.device());
                    mean.clone() + eps * log_var.clone().mul_scalar(0.5).exp()
                } else {
                    mean.clone()
                };
                pass.vae = Some((mean, log_var));
                Act::Flat(z)
            }
            Layer::PerPosition(l) => Act::Seq(l.forward(x.seq().swap_dims(1, 2)).swap_dims(1, 2)),
            Layer::PositionEncoding(p) => Act::Seq(p.forward(x.seq())),
            Layer::Recurrent(r) => r.forward(x.seq(), lengths.as_deref()),
            Layer::Attention(a) => {
                let (y, weights) = a.forward(x.seq(), mask.clone(), lengths.as_deref());
                pass.attention.push(weights);
                Act::Seq(y)
            }
            Layer::Merge(_) => unreachable!("merges are applied by the stack, not one input"),
        };
        if let Some(a) = pass.after_pooling[i].take() {
            x = each_rank!(x, t => a.apply(t));
        }
        // Valid lengths follow the sequence through convolutions and pooling (through a
        // convolution and the pooling it applied, in the same two steps).
        let lengths = match (lengths, len_in, unpooled_len_out.or_else(|| x.seq_len())) {
            (Some(l), Some(a), Some(b)) if a == b => Some(l),
            (Some(l), Some(a), Some(b)) => Some(
                l.iter()
                    .map(|&n| (n * b).div_ceil(a.max(1)).clamp(1, b))
                    .collect(),
            ),
            _ => None,
        };
        Flow {
            x,
            lengths,
            unpooled_len: unpooled_len_out,
        }
    }
}

/// Cuts the centre out of each spatial axis, or pads it with zeros around the
/// centre, to the sizes given (one per axis after the channels).
#[derive(Module, Debug)]
pub struct CropPad {
    #[module(skip)]
    pub size: Vec<usize>,
}

impl CropPad {
    /// For each spatial axis: (first kept index, kept length, zeros before, zeros after).
    /// An odd surplus goes to the end, as in ONNX's and numpy's centre crops.
    pub fn plan(&self, input: &[usize]) -> Vec<(usize, usize, usize, usize)> {
        input
            .iter()
            .zip(&self.size)
            .map(|(&have, &want)| {
                if want <= have {
                    ((have - want) / 2, want, 0, 0)
                } else {
                    let extra = want - have;
                    (0, have, extra / 2, extra - extra / 2)
                }
            })
            .collect()
    }

    fn apply(&self, x: Act) -> Act {
        let spatial: Vec<usize> = match &x {
            Act::Flat(_) => panic!("shape inference refuses cropping a flat vector"),
            Act::Seq(t) => t.dims()[2..].to_vec(),
            Act::Img(t) => t.dims()[2..].to_vec(),
        };
        let plan = self.plan(&spatial);
        let pads: Vec<(usize, usize)> = plan.iter().map(|p| (p.2, p.3)).collect();
        match x {
            Act::Seq(mut t) => {
                let (start, len, _, _) = plan[0];
                t = t.narrow(2, start, len);
                Act::Seq(t.pad(pads, burn::tensor::ops::PadMode::Constant(0.0)))
            }
            Act::Img(mut t) => {
                for (axis, &(start, len, _, _)) in plan.iter().enumerate() {
                    t = t.narrow(axis + 2, start, len);
                }
                Act::Img(t.pad(pads, burn::tensor::ops::PadMode::Constant(0.0)))
            }
            Act::Flat(_) => unreachable!("refused above"),
        }
    }
}

/// Padding and output padding of a transposed convolution so that its output
/// length is `stride × input` ('same') or `(input - 1) × stride + kernel` ('valid').
fn transposed_padding(kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => (0, 0),
        Padding::Same => {
            // (L-1)·s - 2p + k + p_out = L·s  ⇒  2p - p_out = k - s.
            let p = kernel.saturating_sub(stride).div_ceil(2);
            (p, 2 * p + stride - kernel)
        }
    }
}

/// How a merge layer joins its branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeOp {
    Add,
    Concatenate,
    Multiply,
}

/// Joins two or more branches (shape inference checked that they fit).
#[derive(Module, Debug)]
pub struct Merge {
    #[module(skip)]
    pub op: MergeOp,
}

impl Merge {
    fn apply(&self, flows: Vec<Flow>) -> Flow {
        let lengths = flows[0].lengths.clone();
        let xs: Vec<Act> = flows.into_iter().map(|f| f.x).collect();
        let x = match self.op {
            MergeOp::Concatenate => match &xs[0] {
                Act::Flat(_) => Act::Flat(Tensor::cat(xs.into_iter().map(Act::flat).collect(), 1)),
                Act::Seq(_) => Act::Seq(Tensor::cat(xs.into_iter().map(Act::seq).collect(), 1)),
                Act::Img(_) => Act::Img(Tensor::cat(xs.into_iter().map(Act::img).collect(), 1)),
            },
            op => xs
                .into_iter()
                .reduce(|a, b| match (a, b, op) {
                    (Act::Flat(a), Act::Flat(b), MergeOp::Add) => Act::Flat(a + b),
                    (Act::Seq(a), Act::Seq(b), MergeOp::Add) => Act::Seq(a + b),
                    (Act::Img(a), Act::Img(b), MergeOp::Add) => Act::Img(a + b),
                    (Act::Flat(a), Act::Flat(b), _) => Act::Flat(a * b),
                    (Act::Seq(a), Act::Seq(b), _) => Act::Seq(a * b),
                    (Act::Img(a), Act::Img(b), _) => Act::Img(a * b),
                    _ => panic!("shape inference joins only branches of one shape"),
                })
                .expect("a merge takes two or more branches"),
        };
        Flow {
            x,
            lengths,
            unpooled_len: None,
        }
    }
}

/// A whole network: the stacks the task needs, in data-flow order.
#[derive(Module, Debug)]
pub struct Network {
    pub stacks: Vec<StackModule>,
    #[module(skip)]
    pub task: Task,
    #[module(skip)]
    pub input_shape: Vec<usize>,
    /// Takes sequences of any length (no layer needs the full length), so
    /// batches can be cut to their longest member.
    #[module(skip)]
    pub variable_length: bool,
}

/// Everything one forward pass can report.
pub struct Forward {
    /// Class scores, predicted values or the reconstruction (flattened for autoencoders).
    pub output: Tensor<2>,
    /// The latent representation: the bottleneck of an autoencoder, the mean of a
    /// VAE, or the input of a classifier's last Dense layer.
    pub latent: Option<Tensor<2>>,
    /// VAE mean and log-variance, for the KL term.
    pub vae: Option<(Tensor<2>, Tensor<2>)>,
    /// Attention weights of each attention layer in order,
    /// `[batch, heads, length, length]`; rows sum to 1.
    pub attention: Vec<Tensor<4>>,
}

impl Network {
    /// The raw outputs of a classifier or regression for `x` (as
    /// [`Network::forward`] without sampling), and the output of its last
    /// image layer as a leaf to take gradients by (see [`StackModule::forward_tapped`]).
    pub fn forward_tapped(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<4>>) {
        let x = Act::from_flat(x, &self.input_shape);
        let (out, tapped) = self.stacks[0].forward_tapped(x, None);
        (out.out.flatten(), tapped)
    }

    /// Forward a flat batch `[batch, sample_len]` of full-size samples.
    pub fn forward(&self, x: Tensor<2>, sample: bool) -> Forward {
        self.forward_padded(x, None, sample)
    }

    /// Forward a batch of sequences padded to the batch's longest member:
    /// `x` is `[batch, channels × batch_length]` and `lengths` the valid length
    /// of each. Without `lengths` this is [`Network::forward`].
    pub fn forward_padded(&self, x: Tensor<2>, lengths: Option<&[usize]>, sample: bool) -> Forward {
        let shape = match (&self.input_shape[..], lengths) {
            ([c, _], Some(_)) => vec![*c, x.dims()[1] / c.max(&1)],
            _ => self.input_shape.clone(),
        };
        let lengths = lengths.map(<[usize]>::to_vec);
        let x = Act::from_flat(x, &shape);
        match self.task {
            Task::Classification | Task::Regression | Task::Dqn => {
                let out = self.stacks[0].forward(x, sample, lengths);
                Forward {
                    output: out.out.flatten(),
                    latent: out.before_last_dense.map(Act::flatten),
                    vae: None,
                    attention: out.attention,
                }
            }
            Task::Gan => {
                // On data, a GAN is its discriminator: a realness score per sample.
                let out = self.stacks[1].forward(x, sample, lengths);
                Forward {
                    output: out.out.flatten(),
                    latent: out.before_last_dense.map(Act::flatten),
                    vae: None,
                    attention: out.attention,
                }
            }
            Task::Autoencoder | Task::Vae => {
                let enc = self.stacks[0].forward(x, sample, lengths);
                let latent = match &enc.vae {
                    Some((mean, _)) => mean.clone(),
                    None => enc.out.clone().flatten(),
                };
                let dec = self.stacks[1].forward(enc.out, sample, None);
                let mut attention = enc.attention;
                attention.extend(dec.attention);
                Forward {
                    output: dec.out.flatten(),
                    latent: Some(latent),
                    vae: enc.vae,
                    attention,
                }
            }
        }
    }
}

impl Network {
    /// GAN: samples from noise `z` (`[batch, noise_size]`), flat `[batch, sample_len]`.
    pub fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        self.stacks[0]
            .forward(Act::Flat(z), true, None)
            .out
            .flatten()
    }

    /// GAN: the discriminator's score (a logit; > 0 means "real") of flat
    /// samples `[batch, sample_len]`, as `[batch, 1]`.
    pub fn discriminate(&self, x: Tensor<2>) -> Tensor<2> {
        let x = Act::from_flat(x, &self.input_shape);
        self.stacks[1].forward(x, true, None).out.flatten()
    }

    /// GAN: [`Network::discriminate`] with the discriminator's weights held
    /// fixed, so gradients flow back to `x` only. The generator's step needs
    /// none for the discriminator's weights, and they cost a matrix product
    /// as large as the forward pass.
    pub fn discriminate_fixed(&self, x: Tensor<2>) -> Tensor<2> {
        let x = Act::from_flat(x, &self.input_shape);
        let fixed = self.stacks[1].clone().no_grad();
        fixed.forward(x, true, None).out.flatten()
    }

    /// The widths of the joined tables each input sample ends with (empty
    /// when the data is one source).
    pub fn joined(&self) -> &[usize] {
        self.stacks
            .first()
            .map(|s| s.plan.joined.as_slice())
            .unwrap_or(&[])
    }

    /// Set how fast the batch-normalisation layers' running statistics follow
    /// the batches before training step `step` (0-based, counted over the
    /// whole run): a cumulative average over the first ten steps, then the
    /// usual exponential average with momentum 0.1. With momentum 0.1 from the
    /// start, the initial running variance of 1 takes about a hundred steps to
    /// fade, and a small data set (a few steps per epoch) validates with
    /// statistics that are not the data's for many epochs.
    pub fn warm_batch_norm(&mut self, step: usize) {
        let momentum = (1.0 / (step as f64 + 1.0)).max(0.1);
        for stack in &mut self.stacks {
            for layer in &mut stack.layers {
                if let Layer::BatchNorm(b) = layer {
                    b.momentum = momentum;
                }
            }
        }
    }

    /// GAN: whether the discriminator's score of a sample depends on the other
    /// samples in its batch (batch normalisation).
    pub fn discriminator_mixes_batch(&self) -> bool {
        self.stacks[1]
            .layers
            .iter()
            .any(|l| matches!(l, Layer::BatchNorm(_)))
    }
}

/// Build the network an experiment describes for data of `input_shape`.
pub fn build(
    exp: &Experiment,
    input_shape: &[usize],
    target: &Target,
    device: &Device,
) -> Result<(Network, ShapeReport), ShapeError> {
    build_joined(exp, input_shape, &[], target, device)
}

/// [`build`] for data with joined tables: `joined` are their widths, in the
/// order of `DataSpec::joined` (see [`crate::data::Dataset::joined`]), and
/// `input_shape` counts them.
pub fn build_joined(
    exp: &Experiment,
    input_shape: &[usize],
    joined: &[usize],
    target: &Target,
    device: &Device,
) -> Result<(Network, ShapeReport), ShapeError> {
    if joined.len() != exp.data.joined.len() {
        return Err(ShapeError {
            stack: exp.task.stack_names()[0].to_string(),
            layer: None,
            layer_name: String::new(),
            message: format!(
                "the experiment joins {} tables, but the data has {}",
                exp.data.joined.len(),
                joined.len()
            ),
        });
    }
    let named = exp.data.joined_named(joined);
    let report = infer_shapes_joined(&exp.architecture, exp.task, input_shape, &named, target)
        .into_result()?;
    let mut stacks = Vec::new();
    for (k, (stack_report, name)) in report.stacks.iter().zip(exp.task.stack_names()).enumerate() {
        let spec = exp
            .architecture
            .stack(name)
            .expect("shape inference found every stack the task needs");
        let names: Vec<String> = stack_report.joined.iter().map(|(n, _)| n.clone()).collect();
        let wiring = graph::wire(spec, &names).expect("shape inference checked the wiring");
        let shape_of = |s: &Source| match s {
            Source::Input => &stack_report.input,
            Source::Joined(j) => &stack_report.joined[*j].1,
            Source::Node(j) => stack_report.layers[*j]
                .output
                .as_ref()
                .expect("a report without errors has every shape"),
        };
        let layers = spec
            .layer_specs()
            .zip(&wiring.sources)
            .map(|(layer, sources)| build_layer(layer, shape_of(&sources[0]), device))
            .collect();
        let last_dense = spec
            .layer_specs()
            .rposition(|l| matches!(l, LayerSpec::Dense { .. }));
        let mut plan = Plan::new(wiring);
        if k == 0 {
            plan.joined = joined.to_vec();
        }
        stacks.push(StackModule {
            layers,
            last_dense,
            plan,
        });
    }
    let variable_length = input_shape.len() == 2
        && matches!(exp.task, Task::Classification | Task::Regression)
        && !exp.architecture.stacks.iter().any(|s| {
            s.layer_specs().any(|l| {
                matches!(
                    l,
                    LayerSpec::Flatten | LayerSpec::Reshape { .. } | LayerSpec::CropPad { .. }
                )
            })
        });
    Ok((
        Network {
            stacks,
            task: exp.task,
            input_shape: input_shape.to_vec(),
            variable_length,
        },
        report,
    ))
}

fn pad1(p: Padding) -> PaddingConfig1d {
    match p {
        Padding::Same => PaddingConfig1d::Same,
        Padding::Valid => PaddingConfig1d::Valid,
    }
}

fn pad2(p: Padding) -> PaddingConfig2d {
    match p {
        Padding::Same => PaddingConfig2d::Same,
        Padding::Valid => PaddingConfig2d::Valid,
    }
}

fn build_layer(spec: &LayerSpec, input: &[usize], device: &Device) -> Layer {
    if let Some(f) = spec.activation() {
        return Layer::Activation(Activation {
            function: ActivationKind(f),
        });
    }
    match spec {
        LayerSpec::Dense { units, bias } => Layer::Dense(
            LinearConfig::new(input[0], *units)
                .with_bias(*bias)
                .init(device),
        ),
        LayerSpec::Dropout { rate } => Layer::Dropout(DropoutConfig::new(*rate).init()),
        LayerSpec::BatchNorm => Layer::BatchNorm(BatchNormConfig::new(input[0]).init(device)),
        LayerSpec::LayerNorm => Layer::LayerNorm(LayerNormConfig::new(input[0]).init(device)),
        LayerSpec::Conv1d {
            filters,
            kernel,
            stride,
            padding,
        } => Layer::Conv1d(
            Conv1dConfig::new(input[0], *filters, *kernel)
                .with_stride(*stride)
                .with_padding(pad1(*padding))
                .init(device),
        ),
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride,
            padding,
        } => Layer::Conv2d(
            Conv2dConfig::new([input[0], *filters], [*kernel, *kernel])
                .with_stride([*stride, *stride])
                .with_padding(pad2(*padding))
                .init(device),
        ),
        LayerSpec::ConvTranspose1d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let (p, out) = transposed_padding(*kernel, *stride, *padding);
            Layer::ConvTranspose1d(
                ConvTranspose1dConfig::new([input[0], *filters], *kernel)
                    .with_stride(*stride)
                    .with_padding(p)
                    .with_padding_out(out)
                    .init(device),
            )
        }
        LayerSpec::ConvTranspose2d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let (p, out) = transposed_padding(*kernel, *stride, *padding);
            Layer::ConvTranspose2d(
                ConvTranspose2dConfig::new([input[0], *filters], [*kernel, *kernel])
                    .with_stride([*stride, *stride])
                    .with_padding([p, p])
                    .with_padding_out([out, out])
                    .init(device),
            )
        }
        LayerSpec::CropPad { size } => Layer::CropPad(CropPad { size: size.clone() }),
        LayerSpec::MaxPool1d { size } => Layer::MaxPool1d(MaxPool1dConfig::new(*size).init()),
        LayerSpec::AvgPool1d { size } => Layer::AvgPool1d(AvgPool1dConfig::new(*size).init()),
        LayerSpec::Upsample2d { scale } => Layer::Upsample2d(
            burn::nn::interpolate::Interpolate2dConfig::new()
                .with_scale_factor(Some([*scale as f32, *scale as f32]))
                .with_mode(burn::nn::interpolate::InterpolateMode::Nearest)
                .init(),
        ),
        LayerSpec::MaxPool2d { size } => {
            Layer::MaxPool2d(MaxPool2dConfig::new([*size, *size]).init())
        }
        LayerSpec::AvgPool2d { size } => {
            Layer::AvgPool2d(AvgPool2dConfig::new([*size, *size]).init())
        }
        LayerSpec::GlobalMaxPool => Layer::GlobalPool(GlobalPool { max: true }),
        LayerSpec::GlobalAvgPool => Layer::GlobalPool(GlobalPool { max: false }),
        LayerSpec::Flatten => Layer::Reshape(Reshape { shape: Vec::new() }),
        LayerSpec::Reshape { shape } => Layer::Reshape(Reshape {
            shape: shape.clone(),
        }),
        LayerSpec::VaeSampling { latent } => Layer::VaeSampling(VaeSampling {
            mean: LinearConfig::new(input[0], *latent).init(device),
            log_var: LinearConfig::new(input[0], *latent).init(device),
        }),
        LayerSpec::Embedding { dim, window: 1 } => Layer::PerPosition(
            LinearConfig::new(input[0], *dim)
                .with_bias(false)
                .init(device),
        ),
        LayerSpec::Embedding { dim, window } => Layer::Conv1d(
            Conv1dConfig::new(input[0], *dim, *window)
                .with_padding(PaddingConfig1d::Same)
                .with_bias(false)
                .init(device),
        ),
        LayerSpec::PositionalEncoding { learned } => {
            Layer::PositionEncoding(PositionEncoding::new(input[0], input[1], *learned, device))
        }
        LayerSpec::Rnn {
            units,
            bidirectional,
            output,
        } => Layer::Recurrent(Recurrent::rnn(
            input[0],
            *units,
            *bidirectional,
            *output,
            device,
        )),
        LayerSpec::Lstm {
            units,
            bidirectional,
            output,
        } => Layer::Recurrent(Recurrent::lstm(
            input[0],
            *units,
            *bidirectional,
            *output,
            device,
        )),
        LayerSpec::Gru {
            units,
            bidirectional,
            output,
        } => Layer::Recurrent(Recurrent::gru(
            input[0],
            *units,
            *bidirectional,
            *output,
            device,
        )),
        LayerSpec::SelfAttention { heads, dropout } => {
            Layer::Attention(Attention::new(input[0], *heads, None, *dropout, device))
        }
        LayerSpec::TransformerBlock { heads, ff, dropout } => Layer::Attention(Attention::new(
            input[0],
            *heads,
            Some(*ff),
            *dropout,
            device,
        )),
        LayerSpec::Add => Layer::Merge(Merge { op: MergeOp::Add }),
        LayerSpec::Concatenate => Layer::Merge(Merge {
            op: MergeOp::Concatenate,
        }),
        LayerSpec::Multiply => Layer::Merge(Merge {
            op: MergeOp::Multiply,
        }),
        LayerSpec::Relu
        | LayerSpec::LeakyRelu { .. }
        | LayerSpec::Gelu
        | LayerSpec::Sigmoid
        | LayerSpec::Tanh
        | LayerSpec::Softplus => unreachable!("activations are handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::templates::Template;
    use burn::tensor::TensorData;

    #[test]
    fn an_activation_before_max_pooling_gives_the_same_values_and_gradients_after_it() {
        let device = Device::flex().autodiff();
        let act = |f| {
            Layer::Activation(Activation {
                function: ActivationKind(f),
            })
        };
        let values: Vec<f32> = (0..2 * 3 * 6 * 6)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.25)
            .collect();
        // 2-D: ReLU then 2×2 max pooling, against burn's ReLU and pooling in that order.
        let x = || {
            Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 3, 6, 6]), &device)
                .require_grad()
        };
        let stack = StackModule::chain(
            vec![
                act(ActivationFn::Relu),
                Layer::MaxPool2d(MaxPool2dConfig::new([2, 2]).init()),
            ],
            None,
        );
        let (ours, theirs) = (x(), x());
        let y = stack.forward(Act::Img(ours.clone()), false, None).out.img();
        let reference = MaxPool2dConfig::new([2, 2])
            .init()
            .forward(activation::relu(theirs.clone()));
        assert_eq!(y.to_data(), reference.to_data());
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..2 * 3 * 9).map(|i| i as f32 - 20.0).collect(),
                [2, 3, 3, 3],
            ),
            &device,
        );
        let g_ours = (y * weights.clone()).sum().backward();
        let g_theirs = (reference * weights).sum().backward();
        assert_eq!(
            ours.grad(&g_ours).unwrap().to_data(),
            theirs.grad(&g_theirs).unwrap().to_data()
        );
        // 1-D with a leaky ReLU.
        let x = || {
            Tensor::<3>::from_data(TensorData::new(values.clone(), [2, 6, 18]), &device)
                .require_grad()
        };
        let stack = StackModule::chain(
            vec![
                act(ActivationFn::LeakyRelu(0.2)),
                Layer::MaxPool1d(MaxPool1dConfig::new(3).init()),
            ],
            None,
        );
        let (ours, theirs) = (x(), x());
        let y = stack.forward(Act::Seq(ours.clone()), false, None).out.seq();
        let reference = MaxPool1dConfig::new(3)
            .init()
            .forward(activation::leaky_relu(theirs.clone(), 0.2));
        assert_eq!(y.to_data(), reference.to_data());
        let g_ours = y.sum().backward();
        let g_theirs = reference.sum().backward();
        assert_eq!(
            ours.grad(&g_ours).unwrap().to_data(),
            theirs.grad(&g_theirs).unwrap().to_data()
        );
    }

    #[test]
    fn a_convolution_that_applies_its_max_pooling_keeps_the_valid_lengths_of_two_layers() {
        let device = Device::flex().autodiff();
        let conv = Conv1dConfig::new(2, 3, 9).init(&device);
        let layers = |apart: bool| {
            let mut layers = vec![
                Layer::Conv1d(conv.clone()),
                Layer::Activation(Activation {
                    function: ActivationKind(ActivationFn::Relu),
                }),
                Layer::MaxPool1d(MaxPool1dConfig::new(4).init()),
                Layer::GlobalPool(GlobalPool { max: true }),
            ];
            if apart {
                // Anything between the convolution and the pooling keeps them apart.
                layers.insert(1, Layer::Dropout(DropoutConfig::new(0.0).init()));
            }
            StackModule::chain(layers, None)
        };
        let (fused, apart) = (layers(false), layers(true));
        assert!(matches!(
            fused.max_pooling_after(0),
            Some((2, Layer::MaxPool1d(_)))
        ));
        assert!(apart.max_pooling_after(0).is_none());
        // Valid conv 30 → 22, pooling → 5: lengths 6, 11, 18 and 24 come out one shorter if
        // scaled 30 → 5 in one step rather than through 22.
        let x = Tensor::<3>::from_data(
            TensorData::new(
                (0..5 * 2 * 30)
                    .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.25)
                    .collect(),
                [5, 2, 30],
            ),
            &device,
        );
        let lengths = vec![6, 11, 18, 24, 30];
        let out = |s: &StackModule| {
            s.forward(Act::Seq(x.clone()), false, Some(lengths.clone()))
                .out
                .flat()
                .to_data()
        };
        assert_eq!(out(&fused), out(&apart));
    }

    #[test]
    fn a_fixed_discriminator_passes_gradients_to_its_input_only() {
        let device = Device::flex().autodiff();
        let t = Template::Gan;
        let mut exp = t.experiment();
        let (input, target) = t.example_shapes();
        exp.fit_to_data(&input, &target);
        let (net, _) = build(&exp, &input, &target, &device).unwrap();
        assert!(!net.discriminator_mixes_batch());
        let n: usize = input.iter().product();
        let values: Vec<f32> = (0..4 * n).map(|i| (i % 7) as f32 * 0.3 - 0.9).collect();
        let x = || {
            Tensor::<2>::from_data(TensorData::new(values.clone(), [4, n]), &device).require_grad()
        };
        let (free, fixed) = (x(), x());
        let mut grads_free = net.discriminate(free.clone()).sum().backward();
        let mut grads_fixed = net.discriminate_fixed(fixed.clone()).sum().backward();
        let dx_free = free.grad(&grads_free).unwrap().into_data();
        let dx_fixed = fixed.grad(&grads_fixed).unwrap().into_data();
        dx_fixed.assert_approx_eq::<f32>(&dx_free, burn::tensor::Tolerance::default());
        let d = burn::optim::GradientsParams::from_module(&mut grads_free, &net.stacks[1]);
        let none = burn::optim::GradientsParams::from_module(&mut grads_fixed, &net.stacks[1]);
        assert_eq!(
            (d.len(), none.len()),
            (4, 0),
            "two Dense layers: weights and biases"
        );
    }

    /// A chain written as a graph (each node naming the one above) runs the
    /// same, fused convolution and pooling included; a residual Add and a
    /// Concatenate give what they say, and gradients reach both branches.
    #[test]
    fn graph_stacks_run_their_wires() {
        use crate::spec::{Node, Stack};
        let device = Device::flex().autodiff();
        let mut exp = Template::ImageCnn.experiment();
        let (input, target) = Template::ImageCnn.example_shapes();
        exp.fit_to_data(&input, &target);
        let n: usize = input.iter().product();
        let x = Tensor::<2>::random(
            [3, n],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let (chain, _) = build(&exp, &input, &target, &device).unwrap();
        let mut wired = exp.clone();
        for (i, node) in wired.architecture.stacks[0].layers.iter_mut().enumerate() {
            node.id = format!("n{i}");
            node.inputs = vec![if i == 0 {
                "input".to_string()
            } else {
                format!("n{}", i - 1)
            }];
        }
        let (graph, _) = build(&wired, &input, &target, &device).unwrap();
        let graph = graph.load_record(chain.clone().into_record());
        assert!(
            graph.stacks[0].max_pooling_after(0).is_some(),
            "still fused"
        );
        assert_eq!(
            chain.forward(x.clone(), false).output.into_data(),
            graph.forward(x, false).output.into_data()
        );

        // y = concat(dense(x) + x, x * x) on flat vectors of 4.
        let node = |id: &str, inputs: &[&str], layer| Node {
            id: id.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            layer,
            frozen: false,
        };
        let mut exp = Template::MlpClassifier.experiment();
        exp.architecture.stacks[0] = Stack {
            name: "network".into(),
            layers: vec![
                node(
                    "d",
                    &[],
                    LayerSpec::Dense {
                        units: 4,
                        bias: true,
                    },
                ),
                node("sum", &["d", "input"], LayerSpec::Add),
                node("sq", &["input", "input"], LayerSpec::Multiply),
                node("", &["sum", "sq"], LayerSpec::Concatenate),
            ],
        };
        exp.task = Task::Regression;
        let (net, report) = build(&exp, &[4], &Target::Values(8), &device).unwrap();
        assert_eq!(report.stacks[0].output, Some(vec![8]));
        let values = vec![0.5f32, -1.0, 2.0, 0.25, 1.0, 0.0, -0.5, 3.0];
        let x =
            Tensor::<2>::from_data(TensorData::new(values.clone(), [2, 4]), &device).require_grad();
        let y = net.forward(x.clone(), false).output;
        let Layer::Dense(d) = &net.stacks[0].layers[0] else {
            panic!("the first layer is the Dense layer");
        };
        let dense = d.forward(x.clone());
        let expected = Tensor::cat(vec![dense + x.clone(), x.clone() * x.clone()], 1);
        y.clone()
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), burn::tensor::Tolerance::default());
        let grads = y.sum().backward();
        let dx: Vec<f32> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // d/dx of sum(W x + b + x + x²) = column sums of W + 1 + 2x.
        let w: Vec<f32> = d.weight.val().into_data().try_to_vec::<f32>().unwrap();
        for (k, &v) in values.iter().enumerate() {
            let col: f32 = (0..4).map(|o| w[(k % 4) * 4 + o]).sum();
            let want = col + 1.0 + 2.0 * v;
            assert!(
                (dx[k] - want).abs() < 1e-4,
                "input {k}: {} vs {want}",
                dx[k]
            );
        }
    }

    #[test]
    fn every_template_builds_and_runs_forward_with_the_inferred_shapes() {
        let device = Device::flex();
        for t in Template::all() {
            let mut exp = t.experiment();
            let (input, target) = t.example_shapes();
            exp.fit_to_data(&input, &target);
            let (net, report) =
                build_joined(&exp, &input, &t.example_joined(), &target, &device).unwrap();
            let n: usize = input.iter().product();
            let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 3 * n], [3, n]), &device);
            let f = net.forward(x, false);
            let expected = match target {
                _ if exp.task == Task::Gan => 1,
                Target::Classes(k) | Target::Values(k) => k,
                Target::Reconstruct => n,
            };
            assert_eq!(f.output.dims(), [3, expected], "{}", t.name());
            if exp.task == Task::Gan {
                let z = Tensor::<2>::zeros([3, exp.architecture.noise_size], &device);
                assert_eq!(
                    net.generate(z).dims(),
                    [3, n],
                    "the generator makes samples"
                );
            }
            assert!(f.latent.is_some(), "{} reports a latent", t.name());
            // burn counts batch normalisation's running mean and variance as
            // parameters; the report counts what training changes.
            let running: usize = net
                .stacks
                .iter()
                .flat_map(|s| &s.layers)
                .map(|l| match l {
                    Layer::BatchNorm(b) => 2 * b.gamma.val().dims()[0],
                    _ => 0,
                })
                .sum();
            assert_eq!(
                net.num_params() - running,
                report.total_params(),
                "{} parameter count",
                t.name()
            );
        }
    }

    #[test]
    fn crop_pad_keeps_the_centre_and_pads_with_zeros_around_it() {
        let device = Device::flex().autodiff();
        // One 1-channel 4×5 image holding 0..20.
        let x = Tensor::<4>::from_data(
            TensorData::new((0..20).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 4, 5]),
            &device,
        )
        .require_grad();
        // Height 4 → 2 (rows 1, 2); width 5 → 7 (one zero column each side).
        let crop = CropPad { size: vec![2, 7] };
        let y = crop.apply(Act::Img(x.clone())).img();
        let got: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
        #[rustfmt::skip]
        let want = vec![
            0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 0.0,
            0.0, 10.0, 11.0, 12.0, 13.0, 14.0, 0.0,
        ];
        assert_eq!(got, want);
        // Gradients reach exactly the kept pixels.
        let g = y.sum().backward();
        let grad: Vec<f32> = x.grad(&g).unwrap().into_data().try_to_vec().unwrap();
        let kept: Vec<f32> = (0..20)
            .map(|i| if (5..15).contains(&i) { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(grad, kept);
        // A sequence of 6 cut to 3 keeps positions 1..4; an odd surplus of padding goes to the end.
        let s = Tensor::<3>::from_data(
            TensorData::new((0..6).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 6]),
            &device,
        );
        let cut = CropPad { size: vec![3] }.apply(Act::Seq(s.clone())).seq();
        assert_eq!(
            cut.into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        let padded = CropPad { size: vec![9] }.apply(Act::Seq(s)).seq();
        assert_eq!(
            padded.into_data().try_to_vec::<f32>().unwrap(),
            vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]
        );
    }

    #[test]
    fn transposed_convolutions_give_the_lengths_shape_inference_promised() {
        let device = Device::flex();
        for kernel in 1..=5 {
            for stride in 1..=3 {
                for padding in [Padding::Same, Padding::Valid] {
                    let spec = LayerSpec::ConvTranspose1d {
                        filters: 2,
                        kernel,
                        stride,
                        padding,
                    };
                    let Ok((want, _)) = crate::spec::shapes::layer_shape(&spec, &[3, 7]) else {
                        continue;
                    };
                    let Layer::ConvTranspose1d(l) = build_layer(&spec, &[3, 7], &device) else {
                        panic!("a transposed convolution builds one");
                    };
                    let y = l.forward(Tensor::<3>::zeros([1, 3, 7], &device));
                    assert_eq!(y.dims()[1..], want[..], "{spec:?}");
                }
            }
        }
    }
}
