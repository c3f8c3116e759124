//! Shape inference from the spec alone: for each layer its output shape and
//! parameter count, or a plain-language message naming the layer and saying what
//! to change. The window shows it live; the model builder refuses what it rejects.
//!
//! A stack is a graph (`graph.rs`): shapes flow along its wires in the order the
//! nodes run, and merge nodes check that the branches they join fit together.
//!
//! Shapes leave out the batch: `[features]`, `[channels, length]` for sequences and
//! `[channels, height, width]` for images.

use super::graph::{self, Source};
use super::{Architecture, LayerSpec, Padding, SeqOutput, Stack, Task};

/// What the last stack must produce.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "size", rename_all = "snake_case")]
pub enum Target {
    /// One score per class.
    Classes(usize),
    /// This many numbers per sample.
    Values(usize),
    /// The input itself (autoencoders).
    Reconstruct,
}

/// A wiring mistake, with the layer it belongs to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ShapeError {
    pub stack: String,
    /// 0-based index of the layer, if the problem belongs to one.
    pub layer: Option<usize>,
    pub layer_name: String,
    pub message: String,
}

impl ShapeError {
    fn describe(&self) -> String {
        match self.layer {
            Some(i) => format!(
                "layer {} ({}) of '{}': {}",
                i + 1,
                self.layer_name,
                self.stack,
                self.message
            ),
            None => format!("'{}': {}", self.stack, self.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// Output shape, when the layer fits.
    pub output: Option<Vec<usize>>,
    pub params: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackReport {
    pub name: String,
    /// The shape the stack takes as `input`: the data's (for the stack that
    /// reads joined tables, the main table's part) or the previous stack's output.
    pub input: Vec<usize>,
    /// The joined tables this stack takes by name, and their shapes.
    pub joined: Vec<(String, Vec<usize>)>,
    pub layers: Vec<LayerReport>,
    pub output: Option<Vec<usize>>,
}

/// The result of shape inference over a whole architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeReport {
    pub stacks: Vec<StackReport>,
    pub errors: Vec<ShapeError>,
}

impl ShapeReport {
    pub fn first_error(&self) -> Option<&ShapeError> {
        self.errors.first()
    }

    pub fn total_params(&self) -> usize {
        self.stacks
            .iter()
            .flat_map(|s| s.layers.iter().map(|l| l.params))
            .sum()
    }

    pub fn into_result(self) -> Result<ShapeReport, ShapeError> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }

    /// The output shape of a named stack (when it fits).
    pub fn output_of(&self, stack: &str) -> Option<&[usize]> {
        self.stacks
            .iter()
            .find(|s| s.name == stack)
            .and_then(|s| s.output.as_deref())
    }
}

/// Describe a shape in words for messages.
pub fn describe(shape: &[usize]) -> String {
    match shape {
        [f] => format!("a flat vector of {f}"),
        [c, l] => format!("a sequence of {c} channels × {l} positions"),
        [c, h, w] => format!("an image of {c} channels × {h} × {w} pixels"),
        other => format!("shape {other:?}"),
    }
}

/// Short bracketed form, e.g. `[64 × 200]`.
pub fn short(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(" × "))
}

/// Infer shapes through every stack the task uses, then check the task's needs.
pub fn infer_shapes(
    arch: &Architecture,
    task: Task,
    input: &[usize],
    target: &Target,
) -> ShapeReport {
    infer_shapes_joined(arch, task, input, &[], target)
}

/// [`infer_shapes`] for data with joined tables: `input` is a whole sample
/// (the main table's features, then each joined table's), `joined` the name
/// and width of each joined table, in order. The stack that reads the data
/// takes the main part as `input` and each joined part by its name.
pub fn infer_shapes_joined(
    arch: &Architecture,
    task: Task,
    input: &[usize],
    joined: &[(String, usize)],
    target: &Target,
) -> ShapeReport {
    let mut report = ShapeReport {
        stacks: Vec::new(),
        errors: Vec::new(),
    };
    let joined_width: usize = joined.iter().map(|(_, w)| w).sum();
    let mut current = Some(input.to_vec());
    if !joined.is_empty() {
        let first = task.stack_names()[0];
        let problem = match input {
            [f] if *f > joined_width => None,
            [_] => Some("the main table has no features of its own beside the joined tables"),
            _ => Some("tables can be joined only to a table of numbers"),
        };
        if let Some(message) = problem {
            report.errors.push(ShapeError {
                stack: first.to_string(),
                layer: None,
                layer_name: String::new(),
                message: message.to_string(),
            });
            return report;
        }
        current = Some(vec![input[0] - joined_width]);
    }
    for (k, name) in task.stack_names().iter().enumerate() {
        let Some(stack) = arch.stack(name) else {
            report.errors.push(ShapeError {
                stack: name.to_string(),
                layer: None,
                layer_name: String::new(),
                message: format!("a {} needs a stack named '{name}'", task.label()),
            });
            current = None;
            continue;
        };
        if task == Task::Gan {
            // The generator starts from noise; the discriminator reads samples
            // shaped like the data (real ones, or the generator's reshaped).
            current = Some(if *name == "generator" {
                vec![arch.noise_size]
            } else {
                input.to_vec()
            });
        }
        let stack_input = current.clone().unwrap_or_default();
        let takes: Vec<(String, Vec<usize>)> = match k {
            0 => joined.iter().map(|(n, w)| (n.clone(), vec![*w])).collect(),
            _ => Vec::new(),
        };
        let (layers, output) = stack_shapes(stack, current.as_deref(), &takes, &mut report.errors);
        current = output;
        report.stacks.push(StackReport {
            name: stack.name.clone(),
            input: stack_input,
            joined: takes,
            layers,
            output: current.clone(),
        });
    }
    let problem = if task == Task::Gan {
        check_gan(
            arch,
            input,
            report.output_of("generator"),
            current.as_deref(),
        )
    } else {
        check_task(arch, task, input, target, current.as_deref())
    };
    if report.errors.is_empty()
        && let Some(err) = problem
    {
        report.errors.push(err);
    }
    report
}

/// How a node is named in messages: its layer, and its id when it has one.
fn node_label(stack: &Stack, i: usize) -> String {
    let node = &stack.layers[i];
    let display = node.layer.info().display;
    if node.id.is_empty() {
        display.to_string()
    } else {
        format!("{display} '{}'", node.id)
    }
}

/// Shapes through one stack's graph, in list order; each error is pushed with
/// the node it belongs to, and nodes after it have no shape.
fn stack_shapes(
    stack: &Stack,
    input: Option<&[usize]>,
    joined: &[(String, Vec<usize>)],
    errors: &mut Vec<ShapeError>,
) -> (Vec<LayerReport>, Option<Vec<usize>>) {
    let mut layers = vec![
        LayerReport {
            output: None,
            params: 0,
            error: None,
        };
        stack.layers.len()
    ];
    let Some(input) = input else {
        return (layers, None);
    };
    let mut fail = |layers: &mut [LayerReport], i: usize, message: String| {
        errors.push(ShapeError {
            stack: stack.name.clone(),
            layer: Some(i),
            layer_name: node_label(stack, i),
            message: message.clone(),
        });
        layers[i].error = Some(message);
    };
    let names: Vec<String> = joined.iter().map(|(n, _)| n.clone()).collect();
    let wiring = match graph::wire(stack, &names) {
        Ok(w) => w,
        Err(e) => {
            fail(&mut layers, e.node, e.message);
            return (layers, None);
        }
    };
    let shape_of = |s: Source, layers: &[LayerReport]| match s {
        Source::Input => Some(input.to_vec()),
        Source::Joined(k) => joined.get(k).map(|(_, s)| s.clone()),
        Source::Node(j) => layers[j].output.clone(),
    };
    for &i in &wiring.order {
        let layer = &stack.layers[i].layer;
        let sources = &wiring.sources[i];
        let Some(inputs) = sources
            .iter()
            .map(|s| shape_of(*s, &layers))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let outcome = layer.check_params().and_then(|_| {
            if layer.is_merge() {
                merge_shape(stack, layer, sources, &names, &inputs)
            } else {
                layer_shape(layer, &inputs[0])
            }
        });
        match outcome {
            Ok((out, params)) => {
                layers[i].output = Some(out);
                layers[i].params = params;
            }
            Err(message) => fail(&mut layers, i, message),
        }
    }
    let output = shape_of(wiring.output, &layers);
    (layers, output)
}

/// Output shape of a merge node, or why its branches do not fit together.
fn merge_shape(
    stack: &Stack,
    layer: &LayerSpec,
    sources: &[Source],
    joined: &[String],
    inputs: &[Vec<usize>],
) -> Result<(Vec<usize>, usize), String> {
    let name = layer.info().display;
    let from = |k: usize| match sources[k] {
        Source::Input => "the stack's input".to_string(),
        Source::Joined(j) => format!("the joined table '{}'", joined[j]),
        Source::Node(j) => graph::node_name(stack, j),
    };
    let first = &inputs[0];
    for (k, other) in inputs.iter().enumerate().skip(1) {
        let joins = format!(
            "{name} joins {} (from {}) and {} (from {})",
            short(first),
            from(0),
            short(other),
            from(k)
        );
        if first.len() != other.len() {
            return Err(format!(
                "{joins}: {} and {} cannot be joined. Give both branches the same kind of shape (add Flatten or global pooling to the other branch).",
                describe(first),
                describe(other)
            ));
        }
        if first[1..] != other[1..] {
            let what = if first.len() == 2 {
                "lengths"
            } else {
                "image sizes"
            };
            // The larger branch can be cut to the smaller one's size.
            let larger = if first[1..].iter().product::<usize>() >= other[1..].iter().product() {
                0
            } else {
                k
            };
            let smaller = if larger == 0 { other } else { first };
            return Err(format!(
                "{joins}: the {what} differ. Pooling, strides or 'valid' padding shrink one branch more than the other; give both branches the same, use 'same' padding, or put a Crop / pad to size {} on the branch from {}.",
                short(&smaller[1..]),
                from(larger)
            ));
        }
        if graph::is_elementwise(layer) && first[0] != other[0] {
            let (wide, narrow) = if first[0] > other[0] { (0, k) } else { (k, 0) };
            let want = inputs[wide][0];
            let fix = match first.len() {
                1 => format!("Put a Dense layer of {want} units"),
                2 => format!("Put a Conv 1-D with kernel 1 and {want} filters"),
                _ => format!("Put a 1×1 Conv 2-D with {want} filters"),
            };
            let count = if first.len() == 1 {
                "sizes"
            } else {
                "channel counts"
            };
            return Err(format!(
                "{joins}: the {count} differ. {fix} on the branch from {}, or use Concatenate to keep both.",
                from(narrow)
            ));
        }
    }
    let mut out = first.clone();
    if matches!(layer, LayerSpec::Concatenate) {
        out[0] = inputs.iter().map(|s| s[0]).sum();
    }
    Ok((out, 0))
}

/// A GAN's generator must make samples of the data's size and its
/// discriminator must end in one score per sample.
fn check_gan(
    arch: &Architecture,
    input: &[usize],
    generated: Option<&[usize]>,
    score: Option<&[usize]>,
) -> Option<ShapeError> {
    let last_layer = |name: &str| {
        let stack = arch.stack(name)?;
        Some(match stack.layers.len() {
            0 => (None, String::new()),
            n => (Some(n - 1), node_label(stack, n - 1)),
        })
    };
    let error = |name: &str, message: String| {
        let (layer, layer_name) = last_layer(name).unwrap_or((None, String::new()));
        Some(ShapeError {
            stack: name.to_string(),
            layer,
            layer_name,
            message,
        })
    };
    let wanted: usize = input.iter().product();
    let made: usize = generated?.iter().product();
    if made != wanted {
        return error(
            "generator",
            format!(
                "the generator makes {} values per sample, but each data sample has {wanted} ({}). Make its last Dense layer {wanted} units.",
                made,
                short(input)
            ),
        );
    }
    let score = score?;
    if score != [1] {
        return error(
            "discriminator",
            format!(
                "the discriminator must end with one score per sample (real or generated), but it ends with {}. End it with a Dense layer of 1 unit.",
                describe(score)
            ),
        );
    }
    None
}

/// Output shape and parameter count of one layer, or what is wrong.
pub fn layer_shape(layer: &LayerSpec, input: &[usize]) -> Result<(Vec<usize>, usize), String> {
    let name = layer.info().display;
    let flat_needed = |what: &str| {
        format!(
            "{name} expects a flat vector of features; the layer before gives {}. {what}",
            describe(input)
        )
    };
    Ok(match layer {
        LayerSpec::Dense { units, bias } => {
            let [f] = input else {
                return Err(flat_needed(
                    "Insert Flatten or a global pooling layer before it.",
                ));
            };
            (vec![*units], f * units + if *bias { *units } else { 0 })
        }
        LayerSpec::VaeSampling { latent } => {
            let [f] = input else {
                return Err(flat_needed("Insert Flatten before it."));
            };
            (vec![*latent], 2 * (f * latent + latent))
        }
        LayerSpec::Dropout { .. }
        | LayerSpec::Relu
        | LayerSpec::LeakyRelu { .. }
        | LayerSpec::Gelu
        | LayerSpec::Sigmoid
        | LayerSpec::Tanh
        | LayerSpec::Softplus => (input.to_vec(), 0),
        LayerSpec::BatchNorm | LayerSpec::LayerNorm => (input.to_vec(), 2 * input[0]),
        LayerSpec::Conv1d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let [c, l] = input else {
                return Err(conv_input_needed(name, input, 1, "Conv 2-D"));
            };
            let out = conv_out(name, *l, *kernel, *stride, *padding)?;
            (vec![*filters, out], c * filters * kernel + filters)
        }
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let [c, h, w] = input else {
                return Err(conv_input_needed(name, input, 2, "Conv 1-D"));
            };
            let oh = conv_out(name, *h, *kernel, *stride, *padding)?;
            let ow = conv_out(name, *w, *kernel, *stride, *padding)?;
            (
                vec![*filters, oh, ow],
                c * filters * kernel * kernel + filters,
            )
        }
        LayerSpec::ConvTranspose1d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let [c, l] = input else {
                return Err(conv_input_needed(name, input, 1, "Transposed conv 2-D"));
            };
            (
                vec![
                    *filters,
                    transposed_out(name, *l, *kernel, *stride, *padding)?,
                ],
                c * filters * kernel + filters,
            )
        }
        LayerSpec::ConvTranspose2d {
            filters,
            kernel,
            stride,
            padding,
        } => {
            let [c, h, w] = input else {
                return Err(conv_input_needed(name, input, 2, "Transposed conv 1-D"));
            };
            (
                vec![
                    *filters,
                    transposed_out(name, *h, *kernel, *stride, *padding)?,
                    transposed_out(name, *w, *kernel, *stride, *padding)?,
                ],
                c * filters * kernel * kernel + filters,
            )
        }
        LayerSpec::CropPad { size } => {
            if input.len() < 2 {
                return Err(format!(
                    "{name} cuts or pads sequences and images, but the layer before gives {}. Place it before Flatten or global pooling.",
                    describe(input)
                ));
            }
            if size.len() != input.len() - 1 {
                let want = if input.len() == 2 {
                    "one size, the length: [length]"
                } else {
                    "two sizes, [height, width]"
                };
                return Err(format!(
                    "{name} gets {} and needs {want}, but it is set to {}.",
                    describe(input),
                    short(size)
                ));
            }
            let mut out = vec![input[0]];
            out.extend_from_slice(size);
            (out, 0)
        }
        LayerSpec::MaxPool1d { size } | LayerSpec::AvgPool1d { size } => {
            let [c, l] = input else {
                return Err(format!(
                    "{name} expects a sequence [channels × length]; the layer before gives {}.",
                    describe(input)
                ));
            };
            if l < size {
                return Err(format!(
                    "{name} has a window of {size} but the sequence is only {l} long here. Use a smaller window."
                ));
            }
            (vec![*c, l / size], 0)
        }
        LayerSpec::MaxPool2d { size } | LayerSpec::AvgPool2d { size } => {
            let [c, h, w] = input else {
                return Err(format!(
                    "{name} expects an image [channels × height × width]; the layer before gives {}.",
                    describe(input)
                ));
            };
            if h < size || w < size {
                return Err(format!(
                    "{name} has a {size}×{size} window but the image is only {h}×{w} here. Use a smaller window or fewer pooling layers."
                ));
            }
            (vec![*c, h / size, w / size], 0)
        }
        LayerSpec::Upsample2d { scale } => {
            let [c, h, w] = input else {
                return Err(format!(
                    "{name} expects an image [channels × height × width]; the layer before gives {}. Put a Reshape to [channels, height, width] before it.",
                    describe(input)
                ));
            };
            (vec![*c, h * scale, w * scale], 0)
        }
        LayerSpec::GlobalMaxPool | LayerSpec::GlobalAvgPool => {
            if input.len() < 2 {
                return Err(format!(
                    "{name} pools over positions or pixels, but the layer before already gives {}. Remove it.",
                    describe(input)
                ));
            }
            (vec![input[0]], 0)
        }
        LayerSpec::Embedding { dim, window } => {
            let [c, l] = input else {
                return Err(seq_needed(name, input));
            };
            if window % 2 == 0 {
                return Err(format!(
                    "{name} needs an odd window so each position sits in its middle; use {} or {} instead of {window}.",
                    window - 1,
                    window + 1
                ));
            }
            (vec![*dim, *l], c * dim * window)
        }
        LayerSpec::PositionalEncoding { learned } => {
            let [d, l] = input else {
                return Err(seq_needed(name, input));
            };
            if !learned && d % 2 == 1 {
                return Err(format!(
                    "{name} with fixed patterns needs an even size at each position, but it gets {d}. Make the layer before give {} or {}, or switch on 'Learned'.",
                    d - 1,
                    d + 1
                ));
            }
            (input.to_vec(), if *learned { d * l } else { 0 })
        }
        LayerSpec::Rnn {
            units,
            bidirectional,
            output,
        }
        | LayerSpec::Lstm {
            units,
            bidirectional,
            output,
        }
        | LayerSpec::Gru {
            units,
            bidirectional,
            output,
        } => {
            let [c, l] = input else {
                return Err(seq_needed(name, input));
            };
            let gates = match layer {
                LayerSpec::Lstm { .. } => 4,
                LayerSpec::Gru { .. } => 3,
                _ => 1,
            };
            let directions = if *bidirectional { 2 } else { 1 };
            let params = directions * gates * (c * units + units + units * units + units);
            let out = directions * units;
            match output {
                SeqOutput::Sequence => (vec![out, *l], params),
                SeqOutput::Last => (vec![out], params),
            }
        }
        LayerSpec::SelfAttention { heads, .. } | LayerSpec::TransformerBlock { heads, .. } => {
            let [d, _] = input else {
                return Err(seq_needed(name, input));
            };
            if d % heads != 0 {
                let fits: Vec<String> = (1..=*d)
                    .filter(|h| d % h == 0 && *h <= 16)
                    .map(|h| h.to_string())
                    .collect();
                return Err(format!(
                    "{name} splits the {d} values at each position among {heads} heads, but {d} does not divide by {heads}. Use {} heads, or change the size before it.",
                    fits.join(", ")
                ));
            }
            let attention = 4 * (d * d + d) + 2 * d;
            let ff = match layer {
                LayerSpec::TransformerBlock { ff, .. } => d * ff + ff + ff * d + d + 2 * d,
                _ => 0,
            };
            (input.to_vec(), attention + ff)
        }
        LayerSpec::Add | LayerSpec::Concatenate | LayerSpec::Multiply => (input.to_vec(), 0),
        LayerSpec::Flatten => (vec![input.iter().product()], 0),
        LayerSpec::Reshape { shape } => {
            let have: usize = input.iter().product();
            let want: usize = shape.iter().product();
            if have != want {
                return Err(format!(
                    "{name} to {} needs {want} values but the layer before gives {} = {have}. Change the target shape so its sizes multiply to {have}.",
                    short(shape),
                    short(input)
                ));
            }
            (shape.clone(), 0)
        }
    })
}

/// The message for a convolution over `spatial` axes (1: sequences, 2:
/// images) that gets something else; `other` is the layer for the other kind.
fn conv_input_needed(name: &str, input: &[usize], spatial: usize, other: &str) -> String {
    let (what, layout, reshape, others) = match spatial {
        1 => (
            "a sequence",
            "[channels × length]",
            "[channels, length]",
            "images",
        ),
        _ => (
            "an image",
            "[channels × height × width]",
            "[channels, height, width]",
            "sequences",
        ),
    };
    let fix = if input.len() == 1 {
        format!("Place it before Flatten/Dense, or Reshape to {reshape} first.")
    } else {
        format!("Use {other} for {others}.")
    };
    format!(
        "{name} expects {what} {layout}; the layer before gives {}. {fix}",
        describe(input)
    )
}

/// Output length of a transposed convolution (see the catalogue's padding help).
fn transposed_out(
    name: &str,
    len: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> Result<usize, String> {
    Ok(match padding {
        Padding::Same if stride == 1 && kernel.is_multiple_of(2) => {
            return Err(format!(
                "{name} with stride 1 and 'same' padding needs an odd kernel to keep the size; use {} or {} instead of {kernel}, or stride 2 to double the size.",
                kernel - 1,
                kernel + 1
            ));
        }
        Padding::Same => len * stride,
        Padding::Valid => (len - 1) * stride + kernel,
    })
}

/// The message for a sequence layer that gets something else.
fn seq_needed(name: &str, input: &[usize]) -> String {
    format!(
        "{name} expects a sequence [values at each position × length]; the layer before gives {}. {}",
        describe(input),
        match input.len() {
            1 =>
                "Place it before Flatten, global pooling or Dense, or use an LSTM/GRU with 'passes on: sequence' before it.",
            _ => "It works on sequence data (FASTA), not images.",
        }
    )
}

fn conv_out(
    name: &str,
    len: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> Result<usize, String> {
    match padding {
        Padding::Same => {
            if kernel.is_multiple_of(2) {
                return Err(format!(
                    "{name} with 'same' padding needs an odd kernel; use {} or {} instead of {kernel}.",
                    kernel - 1,
                    kernel + 1
                ));
            }
            Ok(len.div_ceil(stride))
        }
        Padding::Valid => {
            if len < kernel {
                return Err(format!(
                    "{name} has a kernel of {kernel} but its input is only {len} long here. Use a smaller kernel, 'same' padding, or less pooling before it."
                ));
            }
            Ok((len - kernel) / stride + 1)
        }
    }
}

fn check_task(
    arch: &Architecture,
    task: Task,
    input: &[usize],
    target: &Target,
    output: Option<&[usize]>,
) -> Option<ShapeError> {
    let last_stack = task.stack_names().last()?;
    let stack = arch.stack(last_stack)?;
    let output = output?;
    let (index, layer_name) = match stack.layers.len() {
        0 => (None, String::new()),
        n => (Some(n - 1), node_label(stack, n - 1)),
    };
    let err = |message: String| {
        Some(ShapeError {
            stack: stack.name.clone(),
            layer: index,
            layer_name: layer_name.clone(),
            message,
        })
    };
    if task == Task::Vae {
        let encoder = arch.stack("encoder")?;
        let samplers = encoder
            .layer_specs()
            .filter(|l| matches!(l, LayerSpec::VaeSampling { .. }))
            .count();
        let last_is_sampler = matches!(
            encoder.layer_specs().last(),
            Some(LayerSpec::VaeSampling { .. })
        );
        if samplers != 1 || !last_is_sampler {
            return Some(ShapeError {
                stack: "encoder".into(),
                layer: None,
                layer_name: String::new(),
                message: "a variational autoencoder's encoder must end with exactly one VAE sampling layer".into(),
            });
        }
    }
    match target {
        Target::Classes(n) | Target::Values(n) => {
            let what = if task == Task::Dqn {
                format!("the environment has {n} actions and the network must score each")
            } else if matches!(target, Target::Classes(_)) {
                format!("the data has {n} classes")
            } else {
                format!("the data has {n} values to predict")
            };
            if output != [*n] {
                let fix = match stack.layer_specs().last() {
                    Some(LayerSpec::Dense { .. }) => format!("Set its units to {n}."),
                    _ => format!("End the network with a Dense layer of {n} units."),
                };
                return err(format!(
                    "the network ends with {}, but {what}. {fix}",
                    describe(output)
                ));
            }
        }
        Target::Reconstruct => {
            if output != input {
                return err(format!(
                    "the decoder must rebuild the input ({}), but it ends with {}. Make its last layer give {}.",
                    short(input),
                    short(output),
                    short(input)
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Stack, templates::Template};

    fn net(layers: Vec<LayerSpec>) -> Architecture {
        Architecture {
            noise_size: 0,
            stacks: vec![Stack::chain("network", layers)],
        }
    }

    fn dense(units: usize) -> LayerSpec {
        LayerSpec::Dense { units, bias: true }
    }

    #[test]
    fn mlp_shapes_and_parameter_counts() {
        let arch = net(vec![dense(64), LayerSpec::Relu, dense(3)]);
        let r = infer_shapes(&arch, Task::Classification, &[100], &Target::Classes(3));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let outs: Vec<_> = r.stacks[0]
            .layers
            .iter()
            .map(|l| l.output.clone().unwrap())
            .collect();
        assert_eq!(outs, vec![vec![64], vec![64], vec![3]]);
        assert_eq!(r.total_params(), 100 * 64 + 64 + 64 * 3 + 3);
    }

    #[test]
    fn conv_pool_shapes_follow_padding_and_stride() {
        let arch = net(vec![
            LayerSpec::Conv1d {
                filters: 64,
                kernel: 9,
                stride: 1,
                padding: Padding::Same,
            },
            LayerSpec::MaxPool1d { size: 4 },
            LayerSpec::Conv1d {
                filters: 32,
                kernel: 9,
                stride: 1,
                padding: Padding::Valid,
            },
            LayerSpec::GlobalMaxPool,
            dense(2),
        ]);
        let r = infer_shapes(&arch, Task::Classification, &[4, 200], &Target::Classes(2));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let l = &r.stacks[0].layers;
        assert_eq!(l[0].output, Some(vec![64, 200]));
        assert_eq!(l[0].params, 4 * 64 * 9 + 64);
        assert_eq!(l[1].output, Some(vec![64, 50]));
        assert_eq!(l[2].output, Some(vec![32, 42]));
        assert_eq!(l[3].output, Some(vec![32]));

        let img = net(vec![
            LayerSpec::Conv2d {
                filters: 16,
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
            },
            LayerSpec::Flatten,
            dense(3),
        ]);
        let r = infer_shapes(
            &img,
            Task::Classification,
            &[1, 31, 32],
            &Target::Classes(3),
        );
        assert_eq!(r.stacks[0].layers[0].output, Some(vec![16, 16, 16]));
        assert_eq!(r.stacks[0].layers[1].output, Some(vec![16 * 16 * 16]));
    }

    #[test]
    fn dense_after_a_sequence_names_the_layer_and_the_fix() {
        let arch = net(vec![
            LayerSpec::Conv1d {
                filters: 8,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            dense(2),
        ]);
        let r = infer_shapes(&arch, Task::Classification, &[4, 50], &Target::Classes(2));
        let e = r.first_error().unwrap();
        assert_eq!(e.layer, Some(1));
        let msg = e.to_string();
        assert!(msg.starts_with("layer 2 (Dense) of 'network'"), "{msg}");
        assert!(
            msg.contains("sequence of 8 channels × 50 positions"),
            "{msg}"
        );
        assert!(msg.contains("Insert Flatten"), "{msg}");
        // Layers after an error have no shape rather than a made-up one.
        assert_eq!(r.stacks[0].layers[1].output, None);
    }

    #[test]
    fn conv_on_flat_input_and_oversized_kernels_are_explained() {
        let arch = net(vec![LayerSpec::Conv1d {
            filters: 8,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
        }]);
        let msg = infer_shapes(&arch, Task::Classification, &[256], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("flat vector of 256") && msg.contains("Reshape"),
            "{msg}"
        );

        let arch = net(vec![LayerSpec::Conv1d {
            filters: 8,
            kernel: 9,
            stride: 1,
            padding: Padding::Valid,
        }]);
        let msg = infer_shapes(&arch, Task::Classification, &[4, 5], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("kernel of 9") && msg.contains("only 5 long"),
            "{msg}"
        );

        let arch = net(vec![LayerSpec::Conv1d {
            filters: 8,
            kernel: 4,
            stride: 1,
            padding: Padding::Same,
        }]);
        let msg = infer_shapes(&arch, Task::Classification, &[4, 50], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(msg.contains("odd kernel"), "{msg}");

        let arch = net(vec![LayerSpec::MaxPool2d { size: 4 }]);
        let msg = infer_shapes(&arch, Task::Classification, &[1, 3, 3], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(msg.contains("only 3×3"), "{msg}");
    }

    #[test]
    fn reshape_must_keep_the_number_of_values() {
        let arch = net(vec![LayerSpec::Reshape { shape: vec![2, 10] }]);
        let msg = infer_shapes(&arch, Task::Classification, &[21], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("needs 20 values") && msg.contains("[21] = 21"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_number_of_classes_says_which_units_to_set() {
        let arch = net(vec![dense(16), LayerSpec::Relu, dense(10)]);
        let e = infer_shapes(&arch, Task::Classification, &[5], &Target::Classes(3));
        let e = e.first_error().unwrap();
        assert_eq!(e.layer, Some(2));
        let msg = e.to_string();
        assert!(
            msg.contains("3 classes") && msg.contains("Set its units to 3"),
            "{msg}"
        );
    }

    #[test]
    fn autoencoder_must_rebuild_its_input() {
        let mut exp = Template::Autoencoder.experiment();
        let r = infer_shapes(
            &exp.architecture,
            Task::Autoencoder,
            &[200],
            &Target::Reconstruct,
        );
        let msg = r.first_error().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("decoder must rebuild the input ([200])"),
            "{msg}"
        );
        exp.fit_to_data(&[200], &Target::Reconstruct);
        let r = infer_shapes(
            &exp.architecture,
            Task::Autoencoder,
            &[200],
            &Target::Reconstruct,
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    #[test]
    fn vae_needs_its_sampling_layer_last_in_the_encoder() {
        let mut exp = Template::Vae.experiment();
        exp.fit_to_data(&[50], &Target::Reconstruct);
        assert!(
            infer_shapes(&exp.architecture, Task::Vae, &[50], &Target::Reconstruct)
                .errors
                .is_empty()
        );
        let enc = exp
            .architecture
            .stacks
            .iter_mut()
            .find(|s| s.name == "encoder")
            .unwrap();
        enc.layers
            .retain(|n| !matches!(n.layer, LayerSpec::VaeSampling { .. }));
        let r = infer_shapes(&exp.architecture, Task::Vae, &[50], &Target::Reconstruct);
        // The decoder now sees the wrong input width or the sampler is missing; either is named.
        assert!(!r.errors.is_empty());
    }

    fn node(id: &str, inputs: &[&str], layer: LayerSpec) -> crate::spec::Node {
        crate::spec::Node {
            id: id.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            layer,
            frozen: false,
        }
    }

    fn conv2d(filters: usize, kernel: usize) -> LayerSpec {
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride: 1,
            padding: Padding::Same,
        }
    }

    fn graph(layers: Vec<crate::spec::Node>) -> Architecture {
        Architecture {
            noise_size: 0,
            stacks: vec![Stack {
                name: "network".into(),
                layers,
            }],
        }
    }

    #[test]
    fn a_residual_block_adds_branches_of_one_shape() {
        let arch = graph(vec![
            node("c1", &[], conv2d(16, 3)),
            node("c2", &[], conv2d(16, 3)),
            node("skip", &["c2", "c1"], LayerSpec::Add),
            node("", &[], LayerSpec::GlobalAvgPool),
            node("", &[], dense(3)),
        ]);
        let r = infer_shapes(&arch, Task::Classification, &[1, 8, 8], &Target::Classes(3));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let l = &r.stacks[0].layers;
        assert_eq!(l[2].output, Some(vec![16, 8, 8]));
        assert_eq!(l[2].params, 0);
        assert_eq!(r.stacks[0].output, Some(vec![3]));
    }

    #[test]
    fn add_of_different_channel_counts_names_the_node_and_the_projection() {
        let arch = graph(vec![
            node("wide", &[], conv2d(32, 3)),
            node("narrow", &["input"], conv2d(16, 3)),
            node("skip2", &["wide", "narrow"], LayerSpec::Add),
            node("", &[], LayerSpec::Flatten),
            node("", &[], dense(2)),
        ]);
        let r = infer_shapes(
            &arch,
            Task::Classification,
            &[1, 64, 64],
            &Target::Classes(2),
        );
        let e = r.first_error().unwrap();
        assert_eq!(e.layer, Some(2));
        let msg = e.to_string();
        assert!(
            msg.starts_with("layer 3 (Add 'skip2') of 'network'"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "[32 × 64 × 64] (from node 'wide') and [16 × 64 × 64] (from node 'narrow')"
            ),
            "{msg}"
        );
        assert!(msg.contains("channel counts differ"), "{msg}");
        assert!(
            msg.contains("1×1 Conv 2-D with 32 filters on the branch from node 'narrow'"),
            "{msg}"
        );
        // The nodes after it have no shape rather than a made-up one.
        assert_eq!(r.stacks[0].layers[3].output, None);
    }

    #[test]
    fn concatenate_joins_channels_and_refuses_sizes_that_differ() {
        let arch = graph(vec![
            node("a", &[], conv2d(8, 3)),
            node("b", &["input"], conv2d(4, 1)),
            node("", &["a", "b", "input"], LayerSpec::Concatenate),
            node("", &[], LayerSpec::GlobalMaxPool),
            node("", &[], dense(2)),
        ]);
        let r = infer_shapes(
            &arch,
            Task::Classification,
            &[3, 10, 10],
            &Target::Classes(2),
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.stacks[0].layers[2].output, Some(vec![15, 10, 10]));

        let arch = graph(vec![
            node("a", &[], conv2d(8, 3)),
            node("p", &[], LayerSpec::MaxPool2d { size: 2 }),
            node("", &["p", "input"], LayerSpec::Concatenate),
            node("", &[], LayerSpec::Flatten),
            node("", &[], dense(2)),
        ]);
        let msg = infer_shapes(
            &arch,
            Task::Classification,
            &[3, 10, 10],
            &Target::Classes(2),
        )
        .first_error()
        .unwrap()
        .to_string();
        assert!(msg.contains("image sizes differ"), "{msg}");
        // The fix names the larger branch (the input, 10×10) and the size to cut it to.
        assert!(
            msg.contains("Crop / pad to size [5 × 5] on the branch from the stack's input"),
            "{msg}"
        );

        let arch = graph(vec![
            node("f", &[], LayerSpec::Flatten),
            node("", &["f", "input"], LayerSpec::Multiply),
            node("", &[], dense(2)),
        ]);
        let msg = infer_shapes(&arch, Task::Classification, &[3, 10], &Target::Classes(2))
            .first_error()
            .unwrap()
            .to_string();
        assert!(msg.contains("cannot be joined"), "{msg}");
    }

    #[test]
    fn a_u_net_step_upsamples_and_crops_to_meet_its_skip_connection() {
        let up = |padding| LayerSpec::ConvTranspose2d {
            filters: 8,
            kernel: 2,
            stride: 2,
            padding,
        };
        let valid = LayerSpec::Conv2d {
            filters: 8,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
        };
        // 20×20 → valid conv 18×18 (skip) → pool 9×9 → up 18×18 … but with a
        // valid conv after the pool (7×7) the up-step gives 14×14: the skip
        // must be cropped to meet it.
        let arch = graph(vec![
            node("skip", &[], valid.clone()),
            node("", &[], LayerSpec::MaxPool2d { size: 2 }),
            node("", &[], valid),
            node("up", &[], up(Padding::Same)),
            node("crop", &["skip"], LayerSpec::CropPad { size: vec![14, 14] }),
            node("", &["up", "crop"], LayerSpec::Concatenate),
            node("", &[], LayerSpec::GlobalAvgPool),
            node("", &[], dense(2)),
        ]);
        let r = infer_shapes(
            &arch,
            Task::Classification,
            &[1, 20, 20],
            &Target::Classes(2),
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let out = |i: usize| r.stacks[0].layers[i].output.clone().unwrap();
        assert_eq!(out(3), vec![8, 14, 14]);
        assert_eq!(out(4), vec![8, 14, 14]);
        assert_eq!(out(5), vec![16, 14, 14]);
        assert_eq!(r.stacks[0].layers[3].params, 8 * 8 * 4 + 8);

        let shape = |layer: LayerSpec, input: &[usize]| layer_shape(&layer, input);
        // 'valid' paints every pattern in full: (7 - 1) × 2 + 2.
        assert_eq!(
            shape(up(Padding::Valid), &[3, 7, 7]).unwrap().0,
            vec![8, 14, 14]
        );
        let t1 = |kernel, stride, padding| LayerSpec::ConvTranspose1d {
            filters: 4,
            kernel,
            stride,
            padding,
        };
        assert_eq!(
            shape(t1(5, 3, Padding::Same), &[2, 10]).unwrap().0,
            vec![4, 30]
        );
        assert_eq!(
            shape(t1(5, 3, Padding::Valid), &[2, 10]).unwrap().0,
            vec![4, 32]
        );
        let err = shape(t1(4, 1, Padding::Same), &[2, 10]).unwrap_err();
        assert!(err.contains("needs an odd kernel"), "{err}");
        let err = shape(up(Padding::Same), &[3, 10]).unwrap_err();
        assert!(
            err.contains("Use Transposed conv 1-D for sequences"),
            "{err}"
        );
        // Crop/pad keeps the channels and needs one size per axis.
        let crop = |size: Vec<usize>| LayerSpec::CropPad { size };
        assert_eq!(shape(crop(vec![5]), &[3, 9]).unwrap().0, vec![3, 5]);
        assert_eq!(
            shape(crop(vec![12, 4]), &[3, 9, 9]).unwrap().0,
            vec![3, 12, 4]
        );
        let err = shape(crop(vec![5]), &[3, 9, 9]).unwrap_err();
        assert!(err.contains("needs two sizes, [height, width]"), "{err}");
        let err = shape(crop(vec![5]), &[30]).unwrap_err();
        assert!(err.contains("Place it before Flatten"), "{err}");
    }

    #[test]
    fn wiring_mistakes_are_reported_on_their_node() {
        let arch = graph(vec![
            node("a", &[], conv2d(8, 3)),
            node("", &["b", "input"], LayerSpec::Add),
            node("", &[], LayerSpec::Flatten),
        ]);
        let r = infer_shapes(
            &arch,
            Task::Classification,
            &[3, 10, 10],
            &Target::Classes(2),
        );
        let e = r.first_error().unwrap();
        assert_eq!(e.layer, Some(1));
        assert!(e.to_string().contains("no node has that id"), "{e}");
        assert!(r.stacks[0].layers[1].error.is_some());
    }

    #[test]
    fn every_template_fits_its_sample_shapes() {
        for t in Template::all() {
            let mut exp = t.experiment();
            let (input, target) = t.example_shapes();
            exp.fit_to_data(&input, &target);
            let joined = exp.data.joined_named(&t.example_joined());
            let r = infer_shapes_joined(&exp.architecture, exp.task, &input, &joined, &target);
            assert!(r.errors.is_empty(), "{}: {:?}", t.name(), r.errors);
        }
    }
}
