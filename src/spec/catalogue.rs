//! The layer catalogue: every layer a researcher can place, its parameters with
//! bounds and defaults, and a plain-language help text.
//!
//! The palette, the parameter editor, shape inference and the model builder all read
//! this one table. Adding a layer means one `LayerSpec` variant, one catalogue row,
//! one shape rule (`shapes.rs`) and one builder arm (`model/`).

use serde::{Deserialize, Serialize};

/// One layer as written in the experiment file: `{"type": "Dense", "units": 64, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LayerSpec {
    Dense {
        units: usize,
        bias: bool,
    },
    Dropout {
        rate: f64,
    },
    BatchNorm,
    LayerNorm,
    #[serde(rename = "ReLU")]
    Relu,
    #[serde(rename = "LeakyReLU")]
    LeakyRelu {
        slope: f64,
    },
    #[serde(rename = "GELU")]
    Gelu,
    Sigmoid,
    Tanh,
    Softplus,
    Conv1d {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    },
    Conv2d {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    },
    /// Transposed ("up-") convolution along a sequence: lengthens it by its stride.
    ConvTranspose1d {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    },
    /// Transposed ("up-") convolution of an image: enlarges it by its stride.
    ConvTranspose2d {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    },
    MaxPool1d {
        size: usize,
    },
    AvgPool1d {
        size: usize,
    },
    MaxPool2d {
        size: usize,
    },
    AvgPool2d {
        size: usize,
    },
    /// Enlarge an image by repeating each pixel (nearest neighbour).
    Upsample2d {
        scale: usize,
    },
    GlobalMaxPool,
    GlobalAvgPool,
    Flatten,
    Reshape {
        shape: Vec<usize>,
    },
    /// Cut the centre out of a sequence or image, or pad it with zeros around
    /// the centre, to a given length or height × width.
    CropPad {
        size: Vec<usize>,
    },
    VaeSampling {
        latent: usize,
    },
    /// A learned vector per letter (one-hot input: a bias-free projection of the
    /// channels at each position, which is exactly an embedding lookup).
    Embedding {
        dim: usize,
        /// Letters embedded together (odd): 1 = each letter alone, 5 or 9 = a
        /// learned vector per short word (k-mer) around each position.
        #[serde(default = "one")]
        window: usize,
    },
    PositionalEncoding {
        learned: bool,
    },
    #[serde(rename = "RNN")]
    Rnn {
        units: usize,
        bidirectional: bool,
        output: SeqOutput,
    },
    #[serde(rename = "LSTM")]
    Lstm {
        units: usize,
        bidirectional: bool,
        output: SeqOutput,
    },
    #[serde(rename = "GRU")]
    Gru {
        units: usize,
        bidirectional: bool,
        output: SeqOutput,
    },
    SelfAttention {
        heads: usize,
        dropout: f64,
    },
    TransformerBlock {
        heads: usize,
        ff: usize,
        dropout: f64,
    },
    /// Element-wise sum of two or more branches of the same shape (a residual connection).
    Add,
    /// Branches joined along their features (flat vectors) or channels (sequences, images).
    Concatenate,
    /// Element-wise product of two or more branches of the same shape (gating).
    Multiply,
}

fn one() -> usize {
    1
}

/// What a recurrent layer passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeqOutput {
    /// Its state at every position: a sequence, for pooling or further layers.
    Sequence,
    /// Its final state only: a flat vector.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Pad so the output has the input's length (for stride 1).
    Same,
    /// No padding: the output is shorter by kernel - 1.
    Valid,
}

/// Element-wise activation functions, for code that treats them alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActivationFn {
    Relu,
    LeakyRelu(f64),
    Gelu,
    Sigmoid,
    Tanh,
    Softplus,
}

/// Palette groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Core,
    Activation,
    Normalisation,
    Convolution,
    Pooling,
    Reshaping,
    Sequence,
    Generative,
    Merge,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Core => "Core",
            Family::Activation => "Activations",
            Family::Normalisation => "Normalisation",
            Family::Convolution => "Convolution",
            Family::Pooling => "Pooling",
            Family::Reshaping => "Reshaping",
            Family::Sequence => "Sequence models",
            Family::Generative => "Generative",
            Family::Merge => "Joining branches",
        }
    }
}

/// How a parameter is edited and checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    Int {
        min: u64,
        max: u64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    Choice(&'static [&'static str]),
    /// A list of positive sizes, e.g. a target shape.
    Sizes,
}

#[derive(Debug, Clone, Copy)]
pub struct ParamInfo {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: ParamKind,
    /// The default as a JSON literal.
    pub default: &'static str,
    pub help: &'static str,
}

/// A catalogue row.
#[derive(Debug, Clone, Copy)]
pub struct LayerInfo {
    /// The `type` tag in the experiment file.
    pub kind: &'static str,
    pub display: &'static str,
    pub family: Family,
    pub params: &'static [ParamInfo],
    pub help: &'static str,
}

const PADDING: ParamInfo = ParamInfo {
    name: "padding",
    label: "Padding",
    kind: ParamKind::Choice(&["same", "valid"]),
    default: "\"same\"",
    help: "'same' keeps the length (adds zeros at the ends); 'valid' only uses full windows, so the output is shorter by kernel - 1.",
};

const TRANSPOSED_PADDING: ParamInfo = ParamInfo {
    name: "padding",
    label: "Padding",
    kind: ParamKind::Choice(&["same", "valid"]),
    default: "\"same\"",
    help: "'same': the output is exactly stride times the input; 'valid': every pattern is painted in full, so the output is (input - 1) × stride + kernel.",
};

const POOL_SIZE: ParamInfo = ParamInfo {
    name: "size",
    label: "Window",
    kind: ParamKind::Int { min: 1, max: 64 },
    default: "2",
    help: "Width of the window; the output is this many times shorter.",
};

const RECURRENT_PARAMS: &[ParamInfo] = &[
    ParamInfo {
        name: "units",
        label: "Units",
        kind: ParamKind::Int { min: 1, max: 2048 },
        default: "32",
        help: "Size of the memory carried along the sequence.",
    },
    ParamInfo {
        name: "bidirectional",
        label: "Both directions",
        kind: ParamKind::Bool,
        default: "true",
        help: "Read the sequence forwards and backwards and join both (output twice the units).",
    },
    ParamInfo {
        name: "output",
        label: "Passes on",
        kind: ParamKind::Choice(&["sequence", "last"]),
        default: "\"sequence\"",
        help: "'sequence': the state at every position (pool it or add more layers); 'last': only the final state, a flat vector.",
    },
];

const HEADS: ParamInfo = ParamInfo {
    name: "heads",
    label: "Heads",
    kind: ParamKind::Int { min: 1, max: 64 },
    default: "4",
    help: "Number of attention heads; the input size must divide by it.",
};

const ATTENTION_DROPOUT: ParamInfo = ParamInfo {
    name: "dropout",
    label: "Dropout",
    kind: ParamKind::Float { min: 0.0, max: 0.9 },
    default: "0.1",
    help: "Share of attention weights and activations dropped while training.",
};

const CATALOGUE: &[LayerInfo] = &[
    LayerInfo {
        kind: "Dense",
        display: "Dense",
        family: Family::Core,
        params: &[
            ParamInfo {
                name: "units",
                label: "Units",
                kind: ParamKind::Int { min: 1, max: 65536 },
                default: "64",
                help: "Number of outputs (neurons).",
            },
            ParamInfo {
                name: "bias",
                label: "Bias",
                kind: ParamKind::Bool,
                default: "true",
                help: "Add a learned offset to every output.",
            },
        ],
        help: "A fully connected layer: every output is a weighted sum of all inputs. The workhorse of networks on tabular and omics data (genes, then hidden units, then cell types). Put an activation after it so stacked layers can learn non-linear patterns. The last Dense layer of a classifier has one unit per class.",
    },
    LayerInfo {
        kind: "Dropout",
        display: "Dropout",
        family: Family::Core,
        params: &[ParamInfo {
            name: "rate",
            label: "Rate",
            kind: ParamKind::Float {
                min: 0.0,
                max: 0.95,
            },
            default: "0.2",
            help: "Share of values set to zero during training.",
        }],
        help: "Randomly silences a share of the values during training (never during prediction), so the network cannot rely on any single gene or pixel. Helps when you have few samples and many features, as with most single-cell or patient cohorts. Typical rates: 0.1–0.5.",
    },
    LayerInfo {
        kind: "BatchNorm",
        display: "Batch normalisation",
        family: Family::Normalisation,
        params: &[],
        help: "Rescales each feature (or each channel of a convolution) to zero mean and unit variance over the batch, then learns its own scale and offset. Makes deeper networks train faster and less sensitive to the learning rate. Place it after a Dense or convolution layer, before the activation.",
    },
    LayerInfo {
        kind: "LayerNorm",
        display: "Layer normalisation",
        family: Family::Normalisation,
        params: &[],
        help: "Rescales the values of each sample to zero mean and unit variance across its features. Unlike batch normalisation it does not depend on the other samples in the batch, so it suits small batches and sequence models.",
    },
    LayerInfo {
        kind: "ReLU",
        display: "ReLU",
        family: Family::Activation,
        params: &[],
        help: "Keeps positive values and sets negative ones to zero. The default choice after Dense and convolution layers: simple, fast and trains well.",
    },
    LayerInfo {
        kind: "LeakyReLU",
        display: "Leaky ReLU",
        family: Family::Activation,
        params: &[ParamInfo {
            name: "slope",
            label: "Negative slope",
            kind: ParamKind::Float { min: 0.0, max: 1.0 },
            default: "0.01",
            help: "Multiplier for negative values.",
        }],
        help: "Like ReLU, but negative values are scaled down instead of set to zero, so no unit goes permanently silent. Common in GAN discriminators.",
    },
    LayerInfo {
        kind: "GELU",
        display: "GELU",
        family: Family::Activation,
        params: &[],
        help: "A smooth version of ReLU used in transformers and many modern protein and DNA language models.",
    },
    LayerInfo {
        kind: "Sigmoid",
        display: "Sigmoid",
        family: Family::Activation,
        params: &[],
        help: "Squashes every value into 0..1. Use it as the last layer when the target is a probability or an intensity between 0 and 1 (e.g. reconstructing scaled pixel values).",
    },
    LayerInfo {
        kind: "Tanh",
        display: "Tanh",
        family: Family::Activation,
        params: &[],
        help: "Squashes every value into -1..1. Used inside recurrent networks and for outputs centred on zero.",
    },
    LayerInfo {
        kind: "Softplus",
        display: "Softplus",
        family: Family::Activation,
        params: &[],
        help: "A smooth ReLU whose output is always positive. Useful as the last layer when predicting counts, concentrations or other quantities that cannot be negative.",
    },
    LayerInfo {
        kind: "Conv1d",
        display: "Conv 1-D",
        family: Family::Convolution,
        params: &[
            ParamInfo {
                name: "filters",
                label: "Filters",
                kind: ParamKind::Int { min: 1, max: 4096 },
                default: "32",
                help: "Number of patterns (motif detectors) learned.",
            },
            ParamInfo {
                name: "kernel",
                label: "Kernel",
                kind: ParamKind::Int { min: 1, max: 255 },
                default: "9",
                help: "Width of each pattern in positions (bases or residues).",
            },
            ParamInfo {
                name: "stride",
                label: "Stride",
                kind: ParamKind::Int { min: 1, max: 64 },
                default: "1",
                help: "Step between windows; 2 halves the length.",
            },
            PADDING,
        ],
        help: "Slides a set of short learned patterns along a sequence and reports, at every position, how well each matches: a motif scanner that learns its motifs (like position weight matrices for transcription-factor sites). Input is channels × length, e.g. 4 × 200 for one-hot DNA.",
    },
    LayerInfo {
        kind: "Conv2d",
        display: "Conv 2-D",
        family: Family::Convolution,
        params: &[
            ParamInfo {
                name: "filters",
                label: "Filters",
                kind: ParamKind::Int { min: 1, max: 4096 },
                default: "16",
                help: "Number of image features learned.",
            },
            ParamInfo {
                name: "kernel",
                label: "Kernel",
                kind: ParamKind::Int { min: 1, max: 31 },
                default: "3",
                help: "Size of the square window in pixels.",
            },
            ParamInfo {
                name: "stride",
                label: "Stride",
                kind: ParamKind::Int { min: 1, max: 16 },
                default: "1",
                help: "Step between windows; 2 halves width and height.",
            },
            PADDING,
        ],
        help: "Slides small learned filters over an image to detect local features: edges and spots in the first layers, nuclei, membranes or organelles deeper in. The standard layer for microscopy. Input is channels × height × width.",
    },
    LayerInfo {
        kind: "ConvTranspose1d",
        display: "Transposed conv 1-D",
        family: Family::Convolution,
        params: &[
            ParamInfo {
                name: "filters",
                label: "Filters",
                kind: ParamKind::Int { min: 1, max: 4096 },
                default: "32",
                help: "Number of output channels.",
            },
            ParamInfo {
                name: "kernel",
                label: "Kernel",
                kind: ParamKind::Int { min: 1, max: 255 },
                default: "2",
                help: "Width of each learned pattern in positions.",
            },
            ParamInfo {
                name: "stride",
                label: "Stride",
                kind: ParamKind::Int { min: 1, max: 64 },
                default: "2",
                help: "How many times longer the output is; 2 doubles the length.",
            },
            TRANSPOSED_PADDING,
        ],
        help: "The reverse of a strided convolution: each position paints a learned pattern onto a longer output, so a sequence grows by the stride (learned upsampling). Used in the decoder half of sequence autoencoders and 1-D U-Nets to get back to full resolution, e.g. base-by-base predictions. Input is channels × length.",
    },
    LayerInfo {
        kind: "ConvTranspose2d",
        display: "Transposed conv 2-D",
        family: Family::Convolution,
        params: &[
            ParamInfo {
                name: "filters",
                label: "Filters",
                kind: ParamKind::Int { min: 1, max: 4096 },
                default: "16",
                help: "Number of output channels.",
            },
            ParamInfo {
                name: "kernel",
                label: "Kernel",
                kind: ParamKind::Int { min: 1, max: 31 },
                default: "2",
                help: "Size of the square pattern in pixels.",
            },
            ParamInfo {
                name: "stride",
                label: "Stride",
                kind: ParamKind::Int { min: 1, max: 16 },
                default: "2",
                help: "How many times larger the output is; 2 doubles width and height.",
            },
            TRANSPOSED_PADDING,
        ],
        help: "The reverse of a strided convolution: each pixel paints a learned patch onto a larger image, so width and height grow by the stride (learned upsampling). The 'up' steps of a U-Net for segmenting nuclei or cells, and of image decoders and GAN generators. Kernel 2 with stride 2 doubles the size exactly. Input is channels × height × width.",
    },
    LayerInfo {
        kind: "MaxPool1d",
        display: "Max pool 1-D",
        family: Family::Pooling,
        params: &[POOL_SIZE],
        help: "Keeps the strongest signal in each window along a sequence, shortening it. Makes motif detection tolerant to small shifts in position.",
    },
    LayerInfo {
        kind: "AvgPool1d",
        display: "Average pool 1-D",
        family: Family::Pooling,
        params: &[POOL_SIZE],
        help: "Averages each window along a sequence, shortening it. Smoother than max pooling.",
    },
    LayerInfo {
        kind: "MaxPool2d",
        display: "Max pool 2-D",
        family: Family::Pooling,
        params: &[POOL_SIZE],
        help: "Keeps the strongest signal in each square window of an image, shrinking width and height. Makes features tolerant to small shifts.",
    },
    LayerInfo {
        kind: "AvgPool2d",
        display: "Average pool 2-D",
        family: Family::Pooling,
        params: &[POOL_SIZE],
        help: "Averages each square window of an image, shrinking width and height.",
    },
    LayerInfo {
        kind: "GlobalMaxPool",
        display: "Global max pool",
        family: Family::Pooling,
        params: &[],
        help: "For each channel, keeps the single strongest value over the whole sequence or image: 'is this motif anywhere in the sequence?'. Turns channels × length into a flat vector of channels, ready for Dense layers.",
    },
    LayerInfo {
        kind: "GlobalAvgPool",
        display: "Global average pool",
        family: Family::Pooling,
        params: &[],
        help: "For each channel, averages over the whole sequence or image. Turns channels × length (or × height × width) into a flat vector of channels.",
    },
    LayerInfo {
        kind: "Flatten",
        display: "Flatten",
        family: Family::Reshaping,
        params: &[],
        help: "Lays out all values of a sequence or image as one long vector so Dense layers can use them.",
    },
    LayerInfo {
        kind: "Reshape",
        display: "Reshape",
        family: Family::Reshaping,
        params: &[ParamInfo {
            name: "shape",
            label: "Shape",
            kind: ParamKind::Sizes,
            default: "[1, 8, 8]",
            help: "Target shape without the batch: [features], [channels, length] or [channels, height, width].",
        }],
        help: "Rearranges the values into a new shape with the same number of values, e.g. a vector of 64 into 1 × 8 × 8 so a decoder can continue with image layers.",
    },
    LayerInfo {
        kind: "CropPad",
        display: "Crop / pad to size",
        family: Family::Reshaping,
        params: &[ParamInfo {
            name: "size",
            label: "Size",
            kind: ParamKind::Sizes,
            default: "[32, 32]",
            help: "The length of a sequence ([length]) or the height and width of an image ([height, width]) to cut to or pad to.",
        }],
        help: "Cuts the centre out of a sequence or image (when it is larger than the size) or surrounds it with zeros (when it is smaller), keeping every channel. Used where two branches must meet at the same size, e.g. the skip connection of a U-Net built with 'valid' convolutions, or to bring images of a slightly different size to the size a network expects.",
    },
    LayerInfo {
        kind: "Embedding",
        display: "Embedding",
        family: Family::Sequence,
        params: &[
            ParamInfo {
                name: "dim",
                label: "Size",
                kind: ParamKind::Int { min: 1, max: 1024 },
                default: "32",
                help: "Length of the learned vector for each letter.",
            },
            ParamInfo {
                name: "window",
                label: "Window",
                kind: ParamKind::Int { min: 1, max: 31 },
                default: "1",
                help: "How many neighbouring letters are embedded together (odd): 1 = each letter alone; 5 or 9 = short words (k-mers) around each position, which lets attention layers work with motifs instead of single bases.",
            },
        ],
        help: "Turns each letter of a sequence (base or amino acid) into a learned vector of numbers, so the network can learn that some letters behave alike (e.g. hydrophobic residues). Put it first in sequence models, before recurrent or attention layers.",
    },
    LayerInfo {
        kind: "PositionalEncoding",
        display: "Positional encoding",
        family: Family::Sequence,
        params: &[ParamInfo {
            name: "learned",
            label: "Learned",
            kind: ParamKind::Bool,
            default: "false",
            help: "Off: fixed sine/cosine patterns (work for any length). On: a learned vector per position (for sequences aligned to a fixed start, such as promoters around a TSS).",
        }],
        help: "Adds to each position a pattern that says where it is. Attention on its own does not know the order of the letters; with positional encoding it can tell a motif at the start from one at the end. Place it after Embedding and before attention layers.",
    },
    LayerInfo {
        kind: "RNN",
        display: "Simple RNN",
        family: Family::Sequence,
        params: RECURRENT_PARAMS,
        help: "Reads the sequence one position at a time, carrying a memory (hidden state) along. The simplest recurrent network; it forgets quickly, so prefer LSTM or GRU for sequences longer than a few dozen letters. Gradient clipping helps it train.",
    },
    LayerInfo {
        kind: "LSTM",
        display: "LSTM",
        family: Family::Sequence,
        params: RECURRENT_PARAMS,
        help: "Long short-term memory: a recurrent layer whose gates decide what to remember and what to forget, so it can relate letters far apart (e.g. two binding sites). Bidirectional reads the sequence both ways. To find a motif anywhere in a sequence, pass on the whole sequence and pool it (global max pool) rather than using only the last state.",
    },
    LayerInfo {
        kind: "GRU",
        display: "GRU",
        family: Family::Sequence,
        params: RECURRENT_PARAMS,
        help: "Gated recurrent unit: like an LSTM with fewer gates, so smaller and often as good. Reads the sequence position by position, carrying a memory along.",
    },
    LayerInfo {
        kind: "SelfAttention",
        display: "Self-attention",
        family: Family::Sequence,
        params: &[HEADS, ATTENTION_DROPOUT],
        help: "Lets every position look at every other position and take in what is relevant, with several heads looking for different things. Shows which residues the model relates to which (the attention map). Input size must divide by the number of heads. Includes a residual connection and layer normalisation.",
    },
    LayerInfo {
        kind: "TransformerBlock",
        display: "Transformer encoder block",
        family: Family::Sequence,
        params: &[
            HEADS,
            ParamInfo {
                name: "ff",
                label: "Feed-forward size",
                kind: ParamKind::Int { min: 1, max: 8192 },
                default: "64",
                help: "Width of the small network applied at each position after attention; usually 2 to 4 times the input size.",
            },
            ATTENTION_DROPOUT,
        ],
        help: "The building block of transformers (as in protein language models): self-attention followed by a small per-position network, each with a residual connection and layer normalisation. Stack a few after Embedding and Positional encoding; pool and add a Dense layer to classify.",
    },
    LayerInfo {
        kind: "Upsample2d",
        display: "Upsample 2-D",
        family: Family::Generative,
        params: &[ParamInfo {
            name: "scale",
            label: "Scale",
            kind: ParamKind::Int { min: 1, max: 8 },
            default: "2",
            help: "Width and height grow this many times.",
        }],
        help: "Enlarges an image by repeating each pixel; followed by a convolution it learns to paint finer detail. The building block of image generators (DCGAN-style GANs) and image decoders.",
    },
    LayerInfo {
        kind: "VaeSampling",
        display: "VAE sampling",
        family: Family::Generative,
        params: &[ParamInfo {
            name: "latent",
            label: "Latent size",
            kind: ParamKind::Int { min: 1, max: 1024 },
            default: "16",
            help: "Number of latent dimensions.",
        }],
        help: "The heart of a variational autoencoder. From its input it computes a mean and a (log-)variance for each latent dimension and draws a random point from that distribution (the 'reparameterisation trick'), so similar cells land near each other in a smooth latent space. Training adds a KL penalty keeping the space close to a standard normal. When predicting it returns the mean.",
    },
    LayerInfo {
        kind: "Add",
        display: "Add",
        family: Family::Merge,
        params: &[],
        help: "Adds the outputs of two or more branches value by value; they must have the same shape. With one branch that skips a few layers it makes a residual block (ResNet): the layers only learn a correction to their input, which lets deeper networks train. Name the branches in the node's inputs.",
    },
    LayerInfo {
        kind: "Concatenate",
        display: "Concatenate",
        family: Family::Merge,
        params: &[],
        help: "Joins the outputs of two or more branches side by side: flat vectors end to end, sequences and images along their channels (their lengths or sizes must match). Used for U-Net skip connections, DenseNet blocks and networks that read two data sources. Name the branches in the node's inputs.",
    },
    LayerInfo {
        kind: "Multiply",
        display: "Multiply",
        family: Family::Merge,
        params: &[],
        help: "Multiplies the outputs of two or more branches value by value; they must have the same shape. With a Sigmoid on one branch it makes a gate that lets the network switch features on and off (squeeze-and-excitation, gated units). Name the branches in the node's inputs.",
    },
];

/// The whole catalogue, in palette order.
pub fn catalogue() -> &'static [LayerInfo] {
    CATALOGUE
}

/// The catalogue row for a `type` tag.
pub fn info_for(kind: &str) -> Option<&'static LayerInfo> {
    CATALOGUE.iter().find(|i| i.kind == kind)
}

impl LayerSpec {
    /// A layer of the given kind with every parameter at its catalogue default.
    pub fn from_kind(kind: &str) -> Option<LayerSpec> {
        let info = info_for(kind)?;
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), serde_json::Value::String(kind.into()));
        for p in info.params {
            let v = serde_json::from_str(p.default)
                .expect("catalogue defaults are valid JSON (checked by a unit test)");
            obj.insert(p.name.into(), v);
        }
        serde_json::from_value(serde_json::Value::Object(obj)).ok()
    }

    /// The `type` tag of this layer.
    pub fn kind(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        }
    }

    /// This layer's catalogue row.
    pub fn info(&self) -> &'static LayerInfo {
        info_for(&self.kind()).expect("every LayerSpec variant has a catalogue row (unit-tested)")
    }

    /// The parameter values as JSON, keyed by parameter name.
    pub fn params(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("type");
                m
            }
            _ => serde_json::Map::new(),
        }
    }

    /// Set one parameter from JSON; refuses values of the wrong type.
    pub fn set_param(&mut self, name: &str, value: serde_json::Value) -> Result<(), String> {
        let mut obj = match serde_json::to_value(&*self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err("layer cannot be edited".into()),
        };
        if !obj.contains_key(name) {
            return Err(format!("{} has no parameter '{name}'", self.info().display));
        }
        obj.insert(name.into(), value);
        let updated: LayerSpec = serde_json::from_value(serde_json::Value::Object(obj))
            .map_err(|e| format!("invalid value for '{name}': {e}"))?;
        *self = updated;
        Ok(())
    }

    /// Check every parameter against its catalogue bounds.
    pub fn check_params(&self) -> Result<(), String> {
        let values = self.params();
        for p in self.info().params {
            let Some(v) = values.get(p.name) else {
                continue;
            };
            match p.kind {
                ParamKind::Int { min, max } => {
                    let n = v.as_u64().unwrap_or(0);
                    if n < min || n > max {
                        return Err(format!(
                            "{} is {n}; it must be between {min} and {max}",
                            p.label
                        ));
                    }
                }
                ParamKind::Float { min, max } => {
                    let x = v.as_f64().unwrap_or(f64::NAN);
                    if !(x >= min && x <= max) {
                        return Err(format!(
                            "{} is {x}; it must be between {min} and {max}",
                            p.label
                        ));
                    }
                }
                ParamKind::Sizes => {
                    let sizes = v.as_array().map(|a| a.len()).unwrap_or(0);
                    let has_zero = v
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x.as_u64() == Some(0)));
                    if !(1..=3).contains(&sizes) || has_zero {
                        return Err(format!(
                            "{} must list 1 to 3 sizes, none of them 0",
                            p.label
                        ));
                    }
                }
                ParamKind::Bool | ParamKind::Choice(_) => {}
            }
        }
        Ok(())
    }

    /// The activation function, when this layer is one.
    pub fn activation(&self) -> Option<ActivationFn> {
        Some(match self {
            LayerSpec::Relu => ActivationFn::Relu,
            LayerSpec::LeakyRelu { slope } => ActivationFn::LeakyRelu(*slope),
            LayerSpec::Gelu => ActivationFn::Gelu,
            LayerSpec::Sigmoid => ActivationFn::Sigmoid,
            LayerSpec::Tanh => ActivationFn::Tanh,
            LayerSpec::Softplus => ActivationFn::Softplus,
            _ => return None,
        })
    }

    /// Whether this layer joins several branches (its node names two or more inputs).
    pub fn is_merge(&self) -> bool {
        matches!(
            self,
            LayerSpec::Add | LayerSpec::Concatenate | LayerSpec::Multiply
        )
    }

    /// A short one-line summary, e.g. `Dense 64` or `Conv 1-D 32×9`.
    pub fn summary(&self) -> String {
        let info = self.info();
        match self {
            LayerSpec::Dense { units, .. } => format!("{} {units}", info.display),
            LayerSpec::Dropout { rate } => format!("{} {rate}", info.display),
            LayerSpec::Conv1d {
                filters, kernel, ..
            }
            | LayerSpec::Conv2d {
                filters, kernel, ..
            }
            | LayerSpec::ConvTranspose1d {
                filters, kernel, ..
            }
            | LayerSpec::ConvTranspose2d {
                filters, kernel, ..
            } => {
                format!("{} {filters}×{kernel}", info.display)
            }
            LayerSpec::MaxPool1d { size }
            | LayerSpec::AvgPool1d { size }
            | LayerSpec::MaxPool2d { size }
            | LayerSpec::AvgPool2d { size } => format!("{} {size}", info.display),
            LayerSpec::Reshape { shape } => format!("{} {shape:?}", info.display),
            LayerSpec::CropPad { size } => format!(
                "{} {}",
                info.display,
                size.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("×")
            ),
            LayerSpec::Upsample2d { scale } => format!("{} ×{scale}", info.display),
            LayerSpec::VaeSampling { latent } => format!("{} {latent}", info.display),
            LayerSpec::Embedding { dim, window } => format!("{} {dim}×{window}", info.display),
            LayerSpec::Rnn {
                units,
                bidirectional,
                ..
            }
            | LayerSpec::Lstm {
                units,
                bidirectional,
                ..
            }
            | LayerSpec::Gru {
                units,
                bidirectional,
                ..
            } => format!(
                "{}{} {units}",
                if *bidirectional { "Bi-" } else { "" },
                info.display
            ),
            LayerSpec::SelfAttention { heads, .. } | LayerSpec::TransformerBlock { heads, .. } => {
                format!("{} ({heads} heads)", info.display)
            }
            _ => info.display.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_row_builds_a_layer_with_matching_parameters() {
        for info in catalogue() {
            let layer = LayerSpec::from_kind(info.kind)
                .unwrap_or_else(|| panic!("{} defaults do not deserialise", info.kind));
            assert_eq!(layer.kind(), info.kind);
            let names: Vec<_> = layer.params().keys().cloned().collect();
            let mut expected: Vec<_> = info.params.iter().map(|p| p.name.to_string()).collect();
            expected.sort();
            let mut names_sorted = names.clone();
            names_sorted.sort();
            assert_eq!(names_sorted, expected, "{}", info.kind);
            layer.check_params().unwrap();
            assert!(info.help.len() > 60, "{} needs a real help text", info.kind);
        }
    }

    #[test]
    fn bounds_are_checked_with_the_parameter_name() {
        let mut l = LayerSpec::from_kind("Dropout").unwrap();
        l.set_param("rate", serde_json::json!(1.5)).unwrap();
        let err = l.check_params().unwrap_err();
        assert!(err.contains("Rate is 1.5"), "{err}");

        let mut l = LayerSpec::from_kind("Dense").unwrap();
        assert!(l.set_param("units", serde_json::json!("many")).is_err());
        assert!(l.set_param("kernel", serde_json::json!(3)).is_err());
        l.set_param("units", serde_json::json!(0)).unwrap();
        assert!(l.check_params().unwrap_err().contains("Units is 0"));
    }

    #[test]
    fn layers_serialise_with_readable_tags() {
        let l = LayerSpec::Conv1d {
            filters: 8,
            kernel: 5,
            stride: 1,
            padding: Padding::Same,
        };
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(
            json,
            r#"{"type":"Conv1d","filters":8,"kernel":5,"stride":1,"padding":"same"}"#
        );
        assert_eq!(LayerSpec::Relu.kind(), "ReLU");
        assert_eq!(l.summary(), "Conv 1-D 8×5");
    }
}
