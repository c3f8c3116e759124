//! ONNX export (opset 17) of the networks ONNX can express: dense, convolution
//! and transposed convolution, pooling, upsampling, normalisation, activation,
//! reshaping, cropping/padding, embedding and positional encoding layers, merges
//! (Add, Concat, Mul) of graph networks, and the mean of a VAE. Recurrent and
//! attention layers are refused with their names. The graph takes the same flat, preprocessed input
//! as the burn network (`[batch, values]`) and gives class probabilities, values
//! or the reconstruction.

use burn::tensor::Tensor;
use onnx_ir::{
    AttributeProto, AttributeType, GraphProto, Message, ModelProto, NodeProto, TensorProto,
    TypeProto, ValueInfoProto,
};

use crate::model::{Layer, MergeOp, PositionEncoding};
use crate::spec::Task;
use crate::spec::graph::Source;
use crate::spec::shapes::infer_shapes_joined;
use crate::train::TrainedModel;

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const OPSET: i64 = 17;

/// The layers of `model` ONNX export cannot express, by name (empty: all can).
pub fn unsupported_layers(model: &TrainedModel) -> Vec<String> {
    let mut out = Vec::new();
    for (s, (name, stack)) in model
        .experiment
        .task
        .stack_names()
        .iter()
        .zip(&model.network.stacks)
        .enumerate()
    {
        for (l, layer) in stack.layers.iter().enumerate() {
            if matches!(layer, Layer::Recurrent(_) | Layer::Attention(_)) {
                let display = model.experiment.architecture.stacks[s].layers[l]
                    .layer
                    .info()
                    .display;
                out.push(format!("{display} (layer {} of '{name}')", l + 1));
            }
        }
    }
    out
}

/// The model as ONNX bytes, or which layers stop it.
pub fn to_onnx(model: &TrainedModel) -> Result<Vec<u8>, String> {
    if model.experiment.task == Task::Gan {
        return Err("ONNX export of GANs is not available yet; the generator and discriminator weights are in weights.safetensors (generator.*, discriminator.*)".into());
    }
    let unsupported = unsupported_layers(model);
    if !unsupported.is_empty() {
        return Err(format!(
            "ONNX export cannot express these layers yet: {}. The weights are in weights.safetensors; the other layers of this network export fine",
            unsupported.join(", ")
        ));
    }
    let exp = &model.experiment;
    let joined = exp.data.joined_named(model.network.joined());
    let report = infer_shapes_joined(
        &exp.architecture,
        exp.task,
        &model.input_shape,
        &joined,
        &model.target,
    )
    .into_result()
    .map_err(|e| e.to_string())?;
    let mut g = Graph::default();
    let values: usize = model.input_shape.iter().product();
    let mut x = "input".to_string();
    if model.input_shape.len() > 1 {
        x = g.reshape(&x, &model.input_shape);
    }
    for (k, (stack, stack_report)) in model.network.stacks.iter().zip(&report.stacks).enumerate() {
        // Each node's ONNX value and shape, walked in the order the network runs.
        let wiring = stack.plan.wiring();
        let mut values: Vec<Option<(String, Vec<usize>)>> = vec![None; stack.layers.len()];
        // The data's joined tables end each sample: cut the input into its parts.
        let mut parts = Vec::new();
        if k == 0 && !joined.is_empty() {
            let mut start = 0i64;
            let widths =
                std::iter::once(stack_report.input[0]).chain(joined.iter().map(|(_, w)| *w));
            for w in widths {
                let starts = g.init_i64("starts", &[start]);
                let ends = g.init_i64("ends", &[start + w as i64]);
                let axes = g.init_i64("axes", &[1]);
                g.rank_of_last = 2;
                parts.push((
                    g.node("Slice", vec![x.clone(), starts, ends, axes], vec![]),
                    vec![w],
                ));
                start += w as i64;
            }
        }
        let input = match parts.first() {
            Some(main) => main.clone(),
            None => (x.clone(), stack_report.input.clone()),
        };
        let value = |s: Source, values: &[Option<(String, Vec<usize>)>]| match s {
            Source::Input => input.clone(),
            Source::Joined(j) => parts[j + 1].clone(),
            Source::Node(j) => values[j]
                .clone()
                .expect("the graph runs every node after the nodes it takes"),
        };
        for &i in &wiring.order {
            let out_shape = stack_report.layers[i].output.clone().unwrap_or_default();
            let taken: Vec<(String, Vec<usize>)> = wiring.sources[i]
                .iter()
                .map(|s| value(*s, &values))
                .collect();
            let y = match &stack.layers[i] {
                Layer::Merge(m) => {
                    g.rank_of_last = out_shape.len() + 1;
                    let names: Vec<String> = taken.into_iter().map(|(n, _)| n).collect();
                    match m.op {
                        // ONNX's Add and Mul take two inputs; Sum takes any number.
                        MergeOp::Add if names.len() > 2 => g.node("Sum", names, vec![]),
                        MergeOp::Add => g.node("Add", names, vec![]),
                        MergeOp::Multiply => {
                            let mut names = names.into_iter();
                            let first = names.next().expect("a merge takes two or more branches");
                            names.fold(first, |a, b| g.node("Mul", vec![a, b], vec![]))
                        }
                        MergeOp::Concatenate => g.node("Concat", names, vec![int("axis", 1)]),
                    }
                }
                layer => g.layer(layer, &taken[0].0, &taken[0].1, &out_shape)?,
            };
            values[i] = Some((y, out_shape));
        }
        let (y, shape) = value(wiring.output, &values);
        g.rank_of_last = shape.len() + 1;
        x = y;
    }
    let out_len: usize = match exp.task {
        Task::Classification | Task::Regression | Task::Dqn => report
            .stacks
            .last()
            .and_then(|s| s.output.clone())
            .map_or(1, |s| s.iter().product()),
        Task::Autoencoder | Task::Vae | Task::Gan => values,
    };
    if g.rank_of_last > 2 {
        x = g.node("Flatten", vec![x], vec![int("axis", 1)]);
    }
    if exp.task == Task::Classification {
        x = g.node("Softmax", vec![x], vec![int("axis", 1)]);
    }
    let identity = NodeProto {
        op_type: "Identity".into(),
        input: vec![x],
        output: vec!["output".into()],
        name: "output".into(),
        ..Default::default()
    };
    g.nodes.push(identity);

    let mut graph = GraphProto::new();
    graph.name = exp.name.clone();
    graph.node = g.nodes;
    graph.initializer = g.inits;
    graph.input.push(io("input", values));
    graph.output.push(io("output", out_len));
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "lamina".into();
    m.producer_version = env!("CARGO_PKG_VERSION").into();
    m.opset_import.push(Default::default());
    m.opset_import[0].version = OPSET;
    *m.graph.mut_or_insert_default() = graph;
    m.write_to_bytes().map_err(|e| e.to_string())
}

/// Graph input/output `[batch, n]` of floats; the batch size is free.
fn io(name: &str, n: usize) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    let mut ty = TypeProto::new();
    let tt = ty.mut_tensor_type();
    tt.elem_type = FLOAT;
    let shape = tt.shape.mut_or_insert_default();
    for d in [None, Some(n as i64)] {
        let mut dim = onnx_ir::TensorShapeProto::new()
            .dim
            .pop()
            .unwrap_or_default();
        match d {
            None => dim.set_dim_param("batch".into()),
            Some(n) => dim.set_dim_value(n),
        }
        shape.dim.push(dim);
    }
    *v.type_.mut_or_insert_default() = ty;
    v
}

fn int(name: &str, i: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = i;
    a
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn text(name: &str, v: &str) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRING.into();
    a.s = v.as_bytes().to_vec().into();
    a
}

fn float(name: &str, f: f32) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = f;
    a
}

fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    count: usize,
    /// Rank (with batch) of the last value, to flatten at the end.
    rank_of_last: usize,
}

impl Graph {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}_{}", self.count)
    }

    fn init_f32(&mut self, base: &str, dims: &[usize], vals: Vec<f32>) -> String {
        let name = self.fresh(base);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = FLOAT;
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.raw_data = vals
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        self.inits.push(t);
        name
    }

    fn init_i64(&mut self, base: &str, vals: &[i64]) -> String {
        let name = self.fresh(base);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = INT64;
        t.dims = vec![vals.len() as i64];
        t.raw_data = vals
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        self.inits.push(t);
        name
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = out.clone();
        n.input = inputs;
        n.output = vec![out.clone()];
        n.attribute = attrs;
        self.nodes.push(n);
        out
    }

    /// `[batch, ...]` to `[batch, shape...]`.
    fn reshape(&mut self, x: &str, shape: &[usize]) -> String {
        let mut dims = vec![0i64];
        dims.extend(shape.iter().map(|&d| d as i64));
        let s = self.init_i64("shape", &dims);
        self.rank_of_last = shape.len() + 1;
        self.node("Reshape", vec![x.into(), s], vec![])
    }

    fn transpose(&mut self, x: String, perm: &[i64]) -> String {
        self.node("Transpose", vec![x], vec![ints("perm", perm)])
    }

    /// A convolution's inputs: `x`, its weights (in burn's layout, which is
    /// ONNX's for Conv and ConvTranspose alike) and its bias when it has one.
    fn weight_and_bias<const D: usize>(
        &mut self,
        x: String,
        weight: Tensor<D>,
        bias: Option<&burn::module::Param<Tensor<1>>>,
    ) -> Result<Vec<String>, String> {
        let w = self.init_f32("weight", &weight.dims(), floats(weight)?);
        let mut inputs = vec![x, w];
        if let Some(b) = bias {
            let b = b.val();
            inputs.push(self.init_f32("bias", &b.dims(), floats(b)?));
        }
        Ok(inputs)
    }

    /// `x · W + b` with burn's `[in, out]` weights.
    fn dense(&mut self, x: String, l: &burn::nn::Linear) -> Result<String, String> {
        let [i, o] = l.weight.val().dims();
        let w = self.init_f32("weight", &[i, o], floats(l.weight.val())?);
        let mut y = self.node("MatMul", vec![x, w], vec![]);
        if let Some(b) = &l.bias {
            let b = self.init_f32("bias", &[o], floats(b.val())?);
            y = self.node("Add", vec![y, b], vec![]);
        }
        Ok(y)
    }

    fn layer(
        &mut self,
        layer: &Layer,
        x: &str,
        shape: &[usize],
        out_shape: &[usize],
    ) -> Result<String, String> {
        let x = x.to_string();
        self.rank_of_last = out_shape.len() + 1;
        let pads = |k: usize, stride: usize, len: usize, same: bool| -> (i64, i64) {
            if !same {
                return (0, 0);
            }
            let out = len.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + k).saturating_sub(len);
            ((total / 2) as i64, (total - total / 2) as i64)
        };
        Ok(match layer {
            Layer::Dense(l) => self.dense(x, l)?,
            Layer::Dropout(_) => x,
            Layer::Activation(a) => {
                use crate::spec::ActivationFn as F;
                match a.function.0 {
                    F::Relu => self.node("Relu", vec![x], vec![]),
                    F::LeakyRelu(s) => {
                        self.node("LeakyRelu", vec![x], vec![float("alpha", s as f32)])
                    }
                    F::Sigmoid => self.node("Sigmoid", vec![x], vec![]),
                    F::Tanh => self.node("Tanh", vec![x], vec![]),
                    F::Softplus => self.node("Softplus", vec![x], vec![]),
                    F::Gelu => {
                        // 0.5 · x · (1 + erf(x / √2)); opset 17 has no Gelu node.
                        let r2 = self.init_f32("sqrt2", &[], vec![std::f32::consts::SQRT_2]);
                        let one = self.init_f32("one", &[], vec![1.0]);
                        let half = self.init_f32("half", &[], vec![0.5]);
                        let d = self.node("Div", vec![x.clone(), r2], vec![]);
                        let e = self.node("Erf", vec![d], vec![]);
                        let p = self.node("Add", vec![e, one], vec![]);
                        let m = self.node("Mul", vec![x, p], vec![]);
                        self.node("Mul", vec![m, half], vec![])
                    }
                }
            }
            Layer::BatchNorm(b) => {
                let c = shape[0];
                let gamma = self.init_f32("gamma", &[c], floats(b.gamma.val())?);
                let beta = self.init_f32("beta", &[c], floats(b.beta.val())?);
                let mean = self.init_f32("mean", &[c], floats(b.running_mean.value())?);
                let var = self.init_f32("var", &[c], floats(b.running_var.value())?);
                self.node(
                    "BatchNormalization",
                    vec![x, gamma, beta, mean, var],
                    vec![float("epsilon", b.epsilon as f32)],
                )
            }
            Layer::LayerNorm(n) => {
                let c = shape[0];
                let gamma = self.init_f32("gamma", &[c], floats(n.gamma.val())?);
                let beta = match &n.beta {
                    Some(b) => floats(b.val())?,
                    None => vec![0.0; c],
                };
                let beta = self.init_f32("beta", &[c], beta);
                let (to, back): (&[i64], &[i64]) = match shape.len() {
                    1 => (&[], &[]),
                    2 => (&[0, 2, 1], &[0, 2, 1]),
                    _ => (&[0, 2, 3, 1], &[0, 3, 1, 2]),
                };
                let t = if to.is_empty() {
                    x
                } else {
                    self.transpose(x, to)
                };
                let y = self.node(
                    "LayerNormalization",
                    vec![t, gamma, beta],
                    vec![int("axis", -1), float("epsilon", 1e-5)],
                );
                if back.is_empty() {
                    y
                } else {
                    self.transpose(y, back)
                }
            }
            Layer::Conv1d(c) => {
                let [_, _, k] = c.weight.val().dims();
                let same = matches!(c.padding, burn::nn::PaddingConfig1d::Same);
                let (a, b) = pads(k, c.stride, shape[1], same);
                let inputs = self.weight_and_bias(x, c.weight.val(), c.bias.as_ref())?;
                self.node(
                    "Conv",
                    inputs,
                    vec![
                        ints("kernel_shape", &[k as i64]),
                        ints("strides", &[c.stride as i64]),
                        ints("pads", &[a, b]),
                    ],
                )
            }
            Layer::Conv2d(c) => {
                let [_, _, kh, kw] = c.weight.val().dims();
                let same = matches!(c.padding, burn::nn::PaddingConfig2d::Same);
                let [sh, sw] = c.stride;
                let (t, b) = pads(kh, sh, shape[1], same);
                let (l, r) = pads(kw, sw, shape[2], same);
                let inputs = self.weight_and_bias(x, c.weight.val(), c.bias.as_ref())?;
                self.node(
                    "Conv",
                    inputs,
                    vec![
                        ints("kernel_shape", &[kh as i64, kw as i64]),
                        ints("strides", &[sh as i64, sw as i64]),
                        ints("pads", &[t, l, b, r]),
                    ],
                )
            }
            Layer::ConvTranspose1d(c) => {
                let [_, _, k] = c.weight.val().dims();
                let inputs = self.weight_and_bias(x, c.weight.val(), c.bias.as_ref())?;
                let p = c.padding as i64;
                self.node(
                    "ConvTranspose",
                    inputs,
                    vec![
                        ints("kernel_shape", &[k as i64]),
                        ints("strides", &[c.stride as i64]),
                        ints("pads", &[p, p]),
                        ints("output_padding", &[c.padding_out as i64]),
                    ],
                )
            }
            Layer::ConvTranspose2d(c) => {
                let [_, _, kh, kw] = c.weight.val().dims();
                let inputs = self.weight_and_bias(x, c.weight.val(), c.bias.as_ref())?;
                let [ph, pw] = c.padding.map(|p| p as i64);
                self.node(
                    "ConvTranspose",
                    inputs,
                    vec![
                        ints("kernel_shape", &[kh as i64, kw as i64]),
                        ints("strides", &c.stride.map(|s| s as i64)),
                        ints("pads", &[ph, pw, ph, pw]),
                        ints("output_padding", &c.padding_out.map(|p| p as i64)),
                    ],
                )
            }
            Layer::Upsample2d(u) => {
                let [sh, sw] = u.scale_factor.unwrap_or([1.0, 1.0]);
                let scales = self.init_f32("scales", &[4], vec![1.0, 1.0, sh, sw]);
                self.node(
                    "Resize",
                    vec![x, String::new(), scales],
                    vec![
                        text("mode", "nearest"),
                        text("coordinate_transformation_mode", "asymmetric"),
                        text("nearest_mode", "floor"),
                    ],
                )
            }
            Layer::CropPad(c) => {
                let plan = c.plan(&shape[1..]);
                let starts: Vec<i64> = plan.iter().map(|p| p.0 as i64).collect();
                let ends: Vec<i64> = plan.iter().map(|p| (p.0 + p.1) as i64).collect();
                let axes: Vec<i64> = (2..2 + plan.len() as i64).collect();
                let starts = self.init_i64("starts", &starts);
                let ends = self.init_i64("ends", &ends);
                let axes = self.init_i64("axes", &axes);
                let mut y = self.node("Slice", vec![x, starts, ends, axes], vec![]);
                if plan.iter().any(|p| p.2 + p.3 > 0) {
                    // ONNX pads: every axis's zeros before, then every axis's zeros after.
                    let mut pads = vec![0i64, 0];
                    pads.extend(plan.iter().map(|p| p.2 as i64));
                    pads.extend([0, 0]);
                    pads.extend(plan.iter().map(|p| p.3 as i64));
                    let pads = self.init_i64("pads", &pads);
                    y = self.node("Pad", vec![y, pads], vec![]);
                }
                y
            }
            Layer::MaxPool1d(p) => {
                self.pool("MaxPool", x, &[p.kernel_size as i64], &[p.stride as i64])
            }
            Layer::AvgPool1d(p) => self.pool(
                "AveragePool",
                x,
                &[p.kernel_size as i64],
                &[p.stride as i64],
            ),
            Layer::MaxPool2d(p) => self.pool(
                "MaxPool",
                x,
                &p.kernel_size.map(|k| k as i64),
                &p.stride.map(|s| s as i64),
            ),
            Layer::AvgPool2d(p) => self.pool(
                "AveragePool",
                x,
                &p.kernel_size.map(|k| k as i64),
                &p.stride.map(|s| s as i64),
            ),
            Layer::GlobalPool(p) => {
                let axes: Vec<i64> = (2..=shape.len() as i64).collect();
                let op = if p.max { "ReduceMax" } else { "ReduceMean" };
                self.node(op, vec![x], vec![ints("axes", &axes), int("keepdims", 0)])
            }
            Layer::Reshape(_) => {
                if out_shape.len() == 1 {
                    self.node("Flatten", vec![x], vec![int("axis", 1)])
                } else {
                    self.reshape(&x, out_shape)
                }
            }
            Layer::VaeSampling(v) => self.dense(x, &v.mean)?,
            Layer::PerPosition(l) => {
                let t = self.transpose(x, &[0, 2, 1]);
                let y = self.dense(t, l)?;
                self.transpose(y, &[0, 2, 1])
            }
            Layer::PositionEncoding(p) => {
                let (d, len) = (shape[0], shape[1]);
                // The table added to each position, as `[values, length]`.
                let table: Tensor<2> = match p {
                    PositionEncoding::Learned(t) => t.val(),
                    PositionEncoding::Fixed(f) => {
                        let s = f.sinusoids.clone();
                        let [_, max, _] = s.dims();
                        s.reshape([max, d])
                    }
                };
                let table = table.slice([0..len, 0..d]).swap_dims(0, 1);
                let c = self.init_f32("positions", &[d, len], floats(table)?);
                self.node("Add", vec![x, c], vec![])
            }
            Layer::Merge(m) => {
                return Err(format!(
                    "a merge ({:?}) joins several branches and is exported by the graph walk",
                    m.op
                ));
            }
            Layer::Recurrent(_) | Layer::Attention(_) => {
                return Err("recurrent and attention layers are not exported".into());
            }
        })
    }

    fn pool(&mut self, op: &str, x: String, kernel: &[i64], strides: &[i64]) -> String {
        self.node(
            op,
            vec![x],
            vec![ints("kernel_shape", kernel), ints("strides", strides)],
        )
    }
}
