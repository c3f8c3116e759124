//! Ready-made experiments for the families our users learn about. Each is a
//! sensible first experiment; `Experiment::fit_to_data` sizes its input/output
//! layers once the data is known.

use super::shapes::Target;
use super::{
    Architecture, DataFormat, DataSpec, DqnSettings, Encoding, EnvironmentKind, Experiment,
    FORMAT_VERSION, LabelSource, LayerSpec, Node, Padding, SeqOutput, Stack, Task, TrainSpec,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    MlpClassifier,
    TwoInputClassifier,
    Autoencoder,
    Vae,
    DnaCnn,
    ImageCnn,
    ResnetImage,
    LstmClassifier,
    TransformerClassifier,
    CnnAttention,
    Gan,
    Dcgan,
    DqnCartPole,
    DqnMotif,
}

impl Template {
    pub fn all() -> &'static [Template] {
        &[
            Template::MlpClassifier,
            Template::TwoInputClassifier,
            Template::Autoencoder,
            Template::Vae,
            Template::DnaCnn,
            Template::ImageCnn,
            Template::ResnetImage,
            Template::LstmClassifier,
            Template::TransformerClassifier,
            Template::CnnAttention,
            Template::Gan,
            Template::Dcgan,
            Template::DqnCartPole,
            Template::DqnMotif,
        ]
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Template::MlpClassifier => "mlp_classifier",
            Template::TwoInputClassifier => "two_input_classifier",
            Template::Autoencoder => "autoencoder",
            Template::Vae => "vae",
            Template::DnaCnn => "dna_cnn",
            Template::ImageCnn => "image_cnn",
            Template::ResnetImage => "resnet_image",
            Template::LstmClassifier => "lstm_classifier",
            Template::TransformerClassifier => "transformer_classifier",
            Template::CnnAttention => "cnn_attention",
            Template::Gan => "gan",
            Template::Dcgan => "dcgan",
            Template::DqnCartPole => "dqn_cartpole",
            Template::DqnMotif => "dqn_motif_design",
        }
    }

    pub fn from_name(name: &str) -> Option<Template> {
        Template::all().iter().copied().find(|t| t.name() == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            Template::MlpClassifier => "Classifier for tables and omics (MLP)",
            Template::TwoInputClassifier => "Classifier reading two tables (e.g. RNA + protein)",
            Template::Autoencoder => "Autoencoder",
            Template::Vae => "Variational autoencoder (VAE)",
            Template::DnaCnn => "DNA/protein sequence classifier (1-D CNN)",
            Template::ImageCnn => "Image classifier (2-D CNN)",
            Template::ResnetImage => "Image classifier with residual blocks (ResNet-style)",
            Template::LstmClassifier => "Sequence classifier (LSTM)",
            Template::TransformerClassifier => "Sequence classifier (transformer)",
            Template::CnnAttention => "DNA motifs and their interplay (CNN + attention)",
            Template::Gan => "Generative adversarial network (GAN)",
            Template::Dcgan => "Image generator (DCGAN-style GAN)",
            Template::DqnCartPole => "Reinforcement learning: balance a pole (DQN)",
            Template::DqnMotif => "Reinforcement learning: design a DNA motif (DQN)",
        }
    }

    /// What the family does and which data it suits, in plain words.
    pub fn description(self) -> &'static str {
        match self {
            Template::MlpClassifier => {
                "Stacked Dense layers that learn to predict a class (e.g. cell type, disease status) from a table of numbers such as gene expression. Good first model for any CSV/TSV matrix with one row per sample."
            }
            Template::TwoInputClassifier => {
                "Two branches of Dense layers, one per table of the same samples (e.g. RNA and surface protein of a CITE-seq experiment, or expression and clinical values), joined by sample id. Each branch learns its own features; they are concatenated and a classifier predicts a class from both."
            }
            Template::Autoencoder => {
                "Learns to squeeze each sample into a small code (the latent space) and rebuild it. No labels needed. Use it to denoise, compress or map single-cell data; similar cells end up close together in the latent space."
            }
            Template::Vae => {
                "An autoencoder whose latent space is a smooth probability distribution, so nearby points are similar samples and new samples can be generated. The standard model behind single-cell tools such as scVI."
            }
            Template::DnaCnn => {
                "Scans one-hot encoded DNA, RNA or protein sequences with learned motif detectors (convolutions) and predicts a class, e.g. promoter vs background or binding vs non-binding."
            }
            Template::ImageCnn => {
                "Convolutional network for microscopy or other images, one folder per class. Learns spots, edges and shapes and predicts the class of each image."
            }
            Template::ResnetImage => {
                "A convolutional network built from residual blocks, as in ResNet: each block's convolutions learn a correction that is added to the block's input by a skip connection, so the network can be deeper and still train well. For microscopy or other images, one folder per class."
            }
            Template::LstmClassifier => {
                "A recurrent network that reads each DNA, RNA or protein sequence letter by letter in both directions and remembers what it saw, then pools over all positions to predict a class. Suits signals that depend on order and on letters far apart."
            }
            Template::TransformerClassifier => {
                "Attention layers, as in protein language models: every position looks at every other one. Predicts a class per sequence and shows, in the attention map, which residues the model relates to which."
            }
            Template::CnnAttention => {
                "Convolutions find short motifs (such as binding sites); an attention layer on top relates the motifs to each other across the sequence. A good model for regulatory DNA, with an attention map over the motifs it found."
            }
            Template::Dcgan => {
                "A GAN for small images: the generator grows a random code into an image with upsampling and convolution layers, the discriminator judges images with strided convolutions. Makes synthetic microscopy images, e.g. to see what the network thinks each class looks like."
            }
            Template::DqnCartPole => {
                "An agent learns by trial and error, from reward alone, to keep a pole upright on a moving cart: the classic first task of deep reinforcement learning. A deep Q-network learns how good each action is in each state."
            }
            Template::DqnMotif => {
                "An agent learns to turn a random DNA sequence into one holding the TATAAT promoter box with as few single-base edits as possible, from reward alone: a small version of sequence design by reinforcement learning."
            }
            Template::Gan => {
                "Two networks in a contest: a generator turns random noise into synthetic samples and a discriminator learns to tell them from real ones. Used to make realistic synthetic expression profiles or images, for augmentation or to study what the data looks like. No labels needed."
            }
        }
    }

    /// The shapes of this template's sample data (used by tests and examples).
    pub fn example_shapes(self) -> (Vec<usize>, Target) {
        match self {
            Template::MlpClassifier => (vec![200], Target::Classes(4)),
            // 120 genes, then 10 proteins (see `example_joined`).
            Template::TwoInputClassifier => (vec![130], Target::Classes(6)),
            Template::Autoencoder | Template::Vae => (vec![200], Target::Reconstruct),
            Template::DnaCnn => (vec![4, 100], Target::Classes(2)),
            Template::ImageCnn | Template::ResnetImage => (vec![1, 32, 32], Target::Classes(3)),
            Template::LstmClassifier | Template::TransformerClassifier | Template::CnnAttention => {
                (vec![4, 100], Target::Classes(2))
            }
            Template::Gan => (vec![200], Target::Reconstruct),
            Template::Dcgan => (vec![1, 32, 32], Target::Reconstruct),
            Template::DqnCartPole => (vec![4], Target::Values(2)),
            Template::DqnMotif => (vec![49], Target::Values(48)),
        }
    }

    /// The widths of the joined tables for [`Template::example_shapes`] (the
    /// end of its input).
    pub fn example_joined(self) -> Vec<usize> {
        match self {
            Template::TwoInputClassifier => vec![10],
            _ => Vec::new(),
        }
    }

    /// The template as a complete experiment (data paths still empty).
    pub fn experiment(self) -> Experiment {
        let dense = |units| LayerSpec::Dense { units, bias: true };
        let stack = |name: &str, layers| Stack::chain(name, layers);
        let omics_encoding = Encoding {
            log1p: true,
            standardize: true,
            scale_pixels: false,
            ..Default::default()
        };
        let fasta_data = || DataSpec {
            format: DataFormat::Fasta,
            labels: LabelSource::Header {
                key: "label".into(),
            },
            encoding: Encoding {
                log1p: false,
                standardize: false,
                scale_pixels: false,
                ..Default::default()
            },
            ..DataSpec::default()
        };
        let (task, stacks, data, training) = match self {
            Template::MlpClassifier => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        dense(128),
                        LayerSpec::Relu,
                        LayerSpec::Dropout { rate: 0.2 },
                        dense(32),
                        LayerSpec::Relu,
                        dense(2),
                    ],
                )],
                DataSpec {
                    format: DataFormat::Table,
                    encoding: omics_encoding.clone(),
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 15,
                    ..TrainSpec::default()
                },
            ),
            Template::TwoInputClassifier => (
                Task::Classification,
                vec![two_input_stack()],
                DataSpec {
                    format: DataFormat::Table,
                    encoding: omics_encoding.clone(),
                    joined: vec![super::JoinedTable {
                        name: "protein".into(),
                        ..Default::default()
                    }],
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 20,
                    ..TrainSpec::default()
                },
            ),
            Template::Autoencoder => (
                Task::Autoencoder,
                vec![
                    stack("encoder", vec![dense(128), LayerSpec::Relu, dense(16)]),
                    stack("decoder", vec![dense(128), LayerSpec::Relu, dense(2)]),
                ],
                DataSpec {
                    format: DataFormat::Table,
                    encoding: omics_encoding.clone(),
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 30,
                    ..TrainSpec::default()
                },
            ),
            Template::Vae => (
                Task::Vae,
                vec![
                    stack(
                        "encoder",
                        vec![
                            dense(128),
                            LayerSpec::Relu,
                            LayerSpec::VaeSampling { latent: 8 },
                        ],
                    ),
                    stack("decoder", vec![dense(128), LayerSpec::Relu, dense(2)]),
                ],
                DataSpec {
                    format: DataFormat::Table,
                    encoding: omics_encoding,
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 30,
                    ..TrainSpec::default()
                },
            ),
            Template::DnaCnn => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        LayerSpec::Conv1d {
                            filters: 32,
                            kernel: 9,
                            stride: 1,
                            padding: Padding::Same,
                        },
                        LayerSpec::Relu,
                        LayerSpec::MaxPool1d { size: 4 },
                        LayerSpec::Conv1d {
                            filters: 32,
                            kernel: 5,
                            stride: 1,
                            padding: Padding::Same,
                        },
                        LayerSpec::Relu,
                        LayerSpec::GlobalMaxPool,
                        dense(2),
                    ],
                )],
                DataSpec {
                    format: DataFormat::Fasta,
                    labels: LabelSource::Header {
                        key: "label".into(),
                    },
                    encoding: Encoding {
                        log1p: false,
                        standardize: false,
                        scale_pixels: false,
                        ..Default::default()
                    },
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 15,
                    batch_size: 32,
                    ..TrainSpec::default()
                },
            ),
            Template::ImageCnn => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        LayerSpec::Conv2d {
                            filters: 16,
                            kernel: 3,
                            stride: 1,
                            padding: Padding::Same,
                        },
                        LayerSpec::Relu,
                        LayerSpec::MaxPool2d { size: 2 },
                        LayerSpec::Conv2d {
                            filters: 32,
                            kernel: 3,
                            stride: 1,
                            padding: Padding::Same,
                        },
                        LayerSpec::Relu,
                        LayerSpec::MaxPool2d { size: 2 },
                        LayerSpec::Flatten,
                        dense(64),
                        LayerSpec::Relu,
                        dense(2),
                    ],
                )],
                DataSpec {
                    format: DataFormat::ImageFolder,
                    labels: LabelSource::Folder,
                    encoding: Encoding {
                        log1p: false,
                        standardize: false,
                        scale_pixels: true,
                        ..Default::default()
                    },
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 15,
                    ..TrainSpec::default()
                },
            ),
            Template::ResnetImage => (
                Task::Classification,
                vec![resnet_stack()],
                DataSpec {
                    format: DataFormat::ImageFolder,
                    labels: LabelSource::Folder,
                    encoding: Encoding {
                        log1p: false,
                        standardize: false,
                        scale_pixels: true,
                        ..Default::default()
                    },
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 15,
                    ..TrainSpec::default()
                },
            ),
            Template::LstmClassifier => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        LayerSpec::Embedding { dim: 16, window: 1 },
                        LayerSpec::Lstm {
                            units: 32,
                            bidirectional: true,
                            output: SeqOutput::Sequence,
                        },
                        LayerSpec::GlobalMaxPool,
                        dense(2),
                    ],
                )],
                fasta_data(),
                TrainSpec {
                    epochs: 15,
                    gradient_clip_norm: 1.0,
                    learning_rate: 0.003,
                    ..TrainSpec::default()
                },
            ),
            Template::TransformerClassifier => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        LayerSpec::Embedding { dim: 32, window: 9 },
                        LayerSpec::PositionalEncoding { learned: false },
                        LayerSpec::TransformerBlock {
                            heads: 4,
                            ff: 64,
                            dropout: 0.1,
                        },
                        LayerSpec::GlobalMaxPool,
                        dense(2),
                    ],
                )],
                fasta_data(),
                TrainSpec {
                    epochs: 12,
                    gradient_clip_norm: 1.0,
                    ..TrainSpec::default()
                },
            ),
            Template::CnnAttention => (
                Task::Classification,
                vec![stack(
                    "network",
                    vec![
                        LayerSpec::Conv1d {
                            filters: 32,
                            kernel: 9,
                            stride: 1,
                            padding: Padding::Same,
                        },
                        LayerSpec::Relu,
                        LayerSpec::MaxPool1d { size: 2 },
                        LayerSpec::SelfAttention {
                            heads: 4,
                            dropout: 0.1,
                        },
                        LayerSpec::GlobalMaxPool,
                        dense(2),
                    ],
                )],
                fasta_data(),
                TrainSpec {
                    epochs: 15,
                    ..TrainSpec::default()
                },
            ),
            Template::Gan => (
                Task::Gan,
                vec![
                    stack("generator", vec![dense(256), LayerSpec::Relu, dense(200)]),
                    stack(
                        "discriminator",
                        vec![
                            LayerSpec::Flatten,
                            dense(256),
                            LayerSpec::LeakyRelu { slope: 0.2 },
                            dense(1),
                        ],
                    ),
                ],
                DataSpec {
                    encoding: omics_encoding.clone(),
                    ..DataSpec::default()
                },
                TrainSpec {
                    epochs: 400,
                    batch_size: 64,
                    validation_fraction: 0.0,
                    ..TrainSpec::default()
                },
            ),
            Template::Dcgan => {
                let conv = |filters, stride| LayerSpec::Conv2d {
                    filters,
                    kernel: 3,
                    stride,
                    padding: Padding::Same,
                };
                let leaky = || LayerSpec::LeakyRelu { slope: 0.2 };
                (
                    Task::Gan,
                    vec![
                        stack(
                            "generator",
                            vec![
                                dense(32 * 8 * 8),
                                LayerSpec::Relu,
                                LayerSpec::Reshape {
                                    shape: vec![32, 8, 8],
                                },
                                LayerSpec::Upsample2d { scale: 2 },
                                conv(32, 1),
                                LayerSpec::Relu,
                                LayerSpec::Upsample2d { scale: 2 },
                                conv(1, 1),
                                LayerSpec::Sigmoid,
                            ],
                        ),
                        stack(
                            "discriminator",
                            vec![
                                conv(16, 2),
                                leaky(),
                                conv(32, 2),
                                leaky(),
                                LayerSpec::Flatten,
                                dense(1),
                            ],
                        ),
                    ],
                    DataSpec {
                        format: DataFormat::ImageFolder,
                        ..DataSpec::default()
                    },
                    TrainSpec {
                        epochs: 100,
                        batch_size: 32,
                        validation_fraction: 0.0,
                        ..TrainSpec::default()
                    },
                )
            }
            Template::DqnCartPole | Template::DqnMotif => {
                let cartpole = self == Template::DqnCartPole;
                let (environment, actions) = if cartpole {
                    (EnvironmentKind::CartPole, 2)
                } else {
                    (EnvironmentKind::MotifDesign, 48)
                };
                (
                    Task::Dqn,
                    vec![stack(
                        "q_network",
                        vec![
                            dense(128),
                            LayerSpec::Relu,
                            dense(128),
                            LayerSpec::Relu,
                            dense(actions),
                        ],
                    )],
                    DataSpec {
                        format: DataFormat::Environment,
                        environment,
                        encoding: Encoding {
                            scale_pixels: false,
                            ..Default::default()
                        },
                        ..DataSpec::default()
                    },
                    TrainSpec {
                        batch_size: 64,
                        learning_rate: 1e-3,
                        gradient_clip_norm: 10.0,
                        validation_fraction: 0.0,
                        epochs: 1,
                        dqn: DqnSettings {
                            steps: if cartpole { 50_000 } else { 30_000 },
                            gamma: if cartpole { 0.99 } else { 0.9 },
                            ..DqnSettings::default()
                        },
                        ..TrainSpec::default()
                    },
                )
            }
        };
        Experiment {
            format_version: FORMAT_VERSION,
            name: self.title().to_string(),
            description: self.description().to_string(),
            data,
            task,
            architecture: Architecture {
                stacks,
                noise_size: if task == Task::Gan { 32 } else { 0 },
            },
            training,
        }
    }
}

impl Experiment {
    /// Size the network's ends to the data: the last Dense layer gets one unit per
    /// class (or per value, or per input value for autoencoders), and a decoder of
    /// sequences or images ends by reshaping back to the input's shape.
    pub fn fit_to_data(&mut self, input: &[usize], target: &Target) {
        if self.task == Task::Gan {
            // The generator makes samples of the data's size (reshaped when the
            // discriminator reads them); the discriminator gives one score.
            if !self.fit_image_generator(input) {
                let numel = input.iter().product();
                if let Some(units) = self.last_dense_units("generator") {
                    *units = numel;
                }
            }
            if let Some(units) = self.last_dense_units("discriminator") {
                *units = 1;
            }
            return;
        }
        let Some(last_name) = self.task.stack_names().last() else {
            return;
        };
        let Some(stack) = self
            .architecture
            .stacks
            .iter_mut()
            .find(|s| s.name == *last_name)
        else {
            return;
        };
        let units = match target {
            Target::Classes(n) | Target::Values(n) => *n,
            Target::Reconstruct => input.iter().product(),
        };
        if let Some(LayerSpec::Dense { units: u, .. }) = stack
            .layers
            .iter_mut()
            .rev()
            .map(|n| &mut n.layer)
            .find(|l| matches!(l, LayerSpec::Dense { .. }))
        {
            *u = units;
        }
        if *target == Target::Reconstruct && input.len() > 1 {
            match stack.layers.last_mut().map(|n| &mut n.layer) {
                Some(LayerSpec::Reshape { shape }) => *shape = input.to_vec(),
                _ => stack.layers.push(
                    LayerSpec::Reshape {
                        shape: input.to_vec(),
                    }
                    .into(),
                ),
            }
        }
    }
}

/// Two branches, one per table: the main table (`input`, e.g. RNA) and the
/// joined table `protein`, each through Dense layers of its own, then
/// concatenated and classified.
fn two_input_stack() -> Stack {
    let node = |id: &str, inputs: &[&str], layer: LayerSpec| Node {
        id: id.to_string(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        layer,
        frozen: false,
    };
    let dense = |units| LayerSpec::Dense { units, bias: true };
    Stack {
        name: "network".into(),
        layers: vec![
            node("rna", &[], dense(64)),
            node("", &[], LayerSpec::Relu),
            node("", &[], LayerSpec::Dropout { rate: 0.2 }),
            node("", &[], dense(32)),
            node("rna_features", &[], LayerSpec::Relu),
            node("protein_in", &["protein"], dense(16)),
            node("protein_features", &[], LayerSpec::Relu),
            node(
                "both",
                &["rna_features", "protein_features"],
                LayerSpec::Concatenate,
            ),
            node("", &[], dense(32)),
            node("", &[], LayerSpec::Relu),
            node("", &[], dense(2)),
        ],
    }
}

/// A small ResNet for images: a stem convolution, two residual blocks (the
/// second doubles the filters, with a 1×1 projection on its skip), each
/// followed by max pooling, then global average pooling and the classifier.
fn resnet_stack() -> Stack {
    let node = |id: &str, inputs: &[&str], layer: LayerSpec| Node {
        id: id.to_string(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        layer,
        frozen: false,
    };
    let conv = |filters, kernel| LayerSpec::Conv2d {
        filters,
        kernel,
        stride: 1,
        padding: Padding::Same,
    };
    Stack {
        name: "network".into(),
        layers: vec![
            node("stem", &[], conv(16, 3)),
            node("", &[], LayerSpec::BatchNorm),
            node("stem_out", &[], LayerSpec::Relu),
            // Block 1: two convolutions, their output added to the block's input.
            node("", &[], conv(16, 3)),
            node("", &[], LayerSpec::BatchNorm),
            node("", &[], LayerSpec::Relu),
            node("", &[], conv(16, 3)),
            node("block1", &[], LayerSpec::BatchNorm),
            node("skip1", &["block1", "stem_out"], LayerSpec::Add),
            node("", &[], LayerSpec::Relu),
            node("pool1", &[], LayerSpec::MaxPool2d { size: 2 }),
            // Block 2: 32 filters; the skip is projected to 32 channels by a 1×1 convolution.
            node("", &[], conv(32, 3)),
            node("", &[], LayerSpec::BatchNorm),
            node("", &[], LayerSpec::Relu),
            node("", &[], conv(32, 3)),
            node("block2", &[], LayerSpec::BatchNorm),
            node("projection2", &["pool1"], conv(32, 1)),
            node("skip2", &["block2", "projection2"], LayerSpec::Add),
            node("", &[], LayerSpec::Relu),
            node("", &[], LayerSpec::MaxPool2d { size: 2 }),
            node("", &[], LayerSpec::GlobalAvgPool),
            node(
                "",
                &[],
                LayerSpec::Dense {
                    units: 2,
                    bias: true,
                },
            ),
        ],
    }
}

impl Experiment {
    /// The units of the last Dense layer of stack `name`, if it has one.
    fn last_dense_units(&mut self, name: &str) -> Option<&mut usize> {
        let stack = self
            .architecture
            .stacks
            .iter_mut()
            .find(|s| s.name == name)?;
        stack
            .layers
            .iter_mut()
            .rev()
            .find_map(|n| match &mut n.layer {
                LayerSpec::Dense { units, .. } => Some(units),
                _ => None,
            })
    }

    /// An image generator (Dense → Reshape → upsampling convolutions) starts at
    /// the image size divided by its upsampling, and its last convolution makes
    /// the image's channels. False when the generator is not of that kind.
    fn fit_image_generator(&mut self, input: &[usize]) -> bool {
        let [c, h, w] = *input else { return false };
        let Some(generator) = self
            .architecture
            .stacks
            .iter_mut()
            .find(|s| s.name == "generator")
        else {
            return false;
        };
        let mut layers: Vec<&mut LayerSpec> =
            generator.layers.iter_mut().map(|n| &mut n.layer).collect();
        let Some((at, ch)) = layers.iter().enumerate().find_map(|(i, l)| match l {
            LayerSpec::Reshape { shape } if shape.len() == 3 => Some((i, shape[0])),
            _ => None,
        }) else {
            return false;
        };
        let f: usize = layers[at..]
            .iter()
            .map(|l| match l {
                LayerSpec::Upsample2d { scale } => *scale,
                LayerSpec::ConvTranspose2d {
                    stride,
                    padding: Padding::Same,
                    ..
                } => *stride,
                _ => 1,
            })
            .product();
        if h % f == 0 && w % f == 0 {
            let start = vec![ch, h / f, w / f];
            if let Some(LayerSpec::Dense { units, .. }) = layers[..at]
                .iter_mut()
                .rev()
                .map(|l| &mut **l)
                .find(|l| matches!(l, LayerSpec::Dense { .. }))
            {
                *units = start.iter().product();
            }
            *layers[at] = LayerSpec::Reshape { shape: start };
            if let Some(
                LayerSpec::Conv2d { filters, .. } | LayerSpec::ConvTranspose2d { filters, .. },
            ) = layers.iter_mut().rev().map(|l| &mut **l).find(|l| {
                matches!(
                    l,
                    LayerSpec::Conv2d { .. } | LayerSpec::ConvTranspose2d { .. }
                )
            }) {
                *filters = c;
            }
        }
        true
    }
}
