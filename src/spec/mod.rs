//! The experiment file: what to load, which network to build, how to train it.
//!
//! Everything here is plain serde data with a `format_version`, readable in a text
//! editor. The window edits it, the CLI runs it and an exported model embeds it.
//! This module knows nothing of burn, egui or file formats beyond JSON itself.

pub mod catalogue;
pub mod graph;
pub mod shapes;
pub mod templates;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use catalogue::{
    ActivationFn, Family, LayerInfo, LayerSpec, Padding, ParamInfo, SeqOutput, catalogue,
};
pub use shapes::{LayerReport, ShapeError, StackReport, infer_shapes};

/// The version written by this build. Older files are upgraded on load.
///
/// Version 2 lets a stack's nodes name their inputs (graphs: skips, branches,
/// merges). A version 1 file is a version 2 file whose stacks are all chains, so
/// it loads as it is; the number keeps a build that only knows chains from
/// reading a graph as a chain.
pub const FORMAT_VERSION: u32 = 2;

/// One experiment: data, network, task and training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Experiment {
    pub format_version: u32,
    pub name: String,
    pub description: String,
    pub data: DataSpec,
    pub task: Task,
    pub architecture: Architecture,
    pub training: TrainSpec,
}

impl Default for Experiment {
    fn default() -> Self {
        templates::Template::MlpClassifier.experiment()
    }
}

/// What the network learns to do; it decides the loss, the metrics and which stacks exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict one class per sample (cell type, promoter / not promoter).
    #[default]
    Classification,
    /// Predict one or more numbers per sample.
    Regression,
    /// Compress each sample to a small code and rebuild it (stacks `encoder`, `decoder`).
    Autoencoder,
    /// Variational autoencoder: the encoder ends in a VAE sampling layer.
    Vae,
    /// Generative adversarial network: a generator turns random noise into
    /// samples, a discriminator learns to tell them from real ones (stacks
    /// `generator`, `discriminator`).
    Gan,
    /// Deep Q-learning: an agent learns to act in a simulated environment from
    /// reward alone; the stack `q_network` scores every action of a state.
    Dqn,
}

impl Task {
    pub fn label(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Autoencoder => "autoencoder",
            Task::Vae => "variational autoencoder",
            Task::Gan => "generative adversarial network",
            Task::Dqn => "deep Q-network (reinforcement learning)",
        }
    }

    /// The stacks this task needs, in the order data flows through them.
    pub fn stack_names(self) -> &'static [&'static str] {
        match self {
            Task::Classification | Task::Regression => &["network"],
            Task::Autoencoder | Task::Vae => &["encoder", "decoder"],
            Task::Gan => &["generator", "discriminator"],
            Task::Dqn => &["q_network"],
        }
    }

    /// Whether the task needs a label per sample.
    pub fn needs_labels(self) -> bool {
        matches!(self, Task::Classification | Task::Regression)
    }
}

/// The network: named stacks, each a graph of layers (most often a chain).
///
/// Families that are more than one network (autoencoder encoder + decoder, GAN
/// generator + discriminator, DQN online network) are several stacks, not special code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Architecture {
    pub stacks: Vec<Stack>,
    /// GAN: how many random numbers the generator starts from (its input size).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise_size: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Architecture {
    pub fn stack(&self, name: &str) -> Option<&Stack> {
        self.stacks.iter().find(|s| s.name == name)
    }
}

/// One network: its nodes in list order. See [`graph`] for how they are wired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stack {
    pub name: String,
    pub layers: Vec<Node>,
}

impl Stack {
    /// A chain: each layer takes the one before it.
    pub fn chain(name: &str, layers: Vec<LayerSpec>) -> Stack {
        Stack {
            name: name.to_string(),
            layers: layers.into_iter().map(Node::from).collect(),
        }
    }

    /// Whether some node names its inputs (a graph rather than a chain).
    pub fn is_graph(&self) -> bool {
        self.layers.iter().any(|n| !n.inputs.is_empty())
    }

    /// The layers in list order.
    pub fn layer_specs(&self) -> impl DoubleEndedIterator<Item = &LayerSpec> + ExactSizeIterator {
        self.layers.iter().map(|n| &n.layer)
    }
}

/// One node of a stack, written as its layer's object with two optional keys:
/// `{"id": "skip1", "inputs": ["conv2", "input"], "type": "Add"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The name other nodes use to take this node's output; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The ids of the nodes whose outputs this node takes (`input` is the
    /// stack's input). Empty: the output of the node above it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    #[serde(flatten)]
    pub layer: LayerSpec,
    /// Keep this layer's weights as they are (fine-tuning from a saved model).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
}

impl From<LayerSpec> for Node {
    fn from(layer: LayerSpec) -> Node {
        Node {
            id: String::new(),
            inputs: Vec::new(),
            layer,
            frozen: false,
        }
    }
}

/// Where the samples come from and how they become numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSpec {
    /// A table, a FASTA file or a folder of class folders; relative paths are
    /// relative to the experiment file.
    pub path: PathBuf,
    pub format: DataFormat,
    pub labels: LabelSource,
    pub table: TableOptions,
    pub sequence: SequenceOptions,
    pub image: ImageOptions,
    pub encoding: Encoding,
    /// The environment, when `format` is `environment`.
    pub environment: EnvironmentKind,
    /// Leave out samples without a label (an empty or NA label, or no row in
    /// the label table) instead of stopping with their count.
    pub drop_unlabelled: bool,
    /// More tables of the same samples (e.g. the protein counts beside the RNA
    /// of a CITE-seq experiment), joined to this one by sample id. Each is an
    /// input of the network of its own, taken by name in a node's `inputs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<JoinedTable>,
}

/// A table joined to the main data by sample id; see [`DataSpec::joined`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct JoinedTable {
    /// The input's name in the network (e.g. `protein`).
    pub name: String,
    /// The table; relative paths are relative to the experiment file.
    pub path: PathBuf,
    /// Column holding the sample ids; empty means the first column.
    pub id_column: String,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            path: PathBuf::new(),
            format: DataFormat::Auto,
            labels: LabelSource::None,
            table: TableOptions::default(),
            sequence: SequenceOptions::default(),
            image: ImageOptions::default(),
            encoding: Encoding::default(),
            environment: EnvironmentKind::default(),
            drop_unlabelled: false,
            joined: Vec::new(),
        }
    }
}

/// A name for a newly joined table, from its file's name (`protein.csv` →
/// `protein`), made unique among the tables already joined and the data's own
/// input name.
pub fn unique_input_name(path: &Path, joined: &[JoinedTable]) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let base = match stem.trim_matches('_') {
        "" => "table".to_string(),
        s => s.to_string(),
    };
    let taken = |n: &str| n == "input" || joined.iter().any(|j| j.name == n);
    let mut name = base.clone();
    let mut k = 2;
    while taken(&name) {
        name = format!("{base}{k}");
        k += 1;
    }
    name
}

impl DataSpec {
    /// Each joined table's name with its width, given the widths in order
    /// (from the data, or from a trained network).
    pub fn joined_named(&self, widths: &[usize]) -> Vec<(String, usize)> {
        self.joined
            .iter()
            .zip(widths)
            .map(|(j, w)| (j.name.clone(), *w))
            .collect()
    }

    /// The data path resolved against the folder of the experiment file.
    pub fn resolved_path(&self, base: &Path) -> PathBuf {
        resolve(base, &self.path)
    }
}

/// Resolve `path` against `base` unless it is absolute.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// Decide from the file extension or, for a folder, its contents.
    #[default]
    Auto,
    /// CSV/TSV matrix: one row per sample, a sample-id column, numeric features.
    Table,
    /// FASTA sequences (DNA, RNA or protein).
    Fasta,
    /// A folder with one subfolder of images per class.
    ImageFolder,
    /// No file: a built-in simulated environment (reinforcement learning).
    Environment,
    /// A 10x Genomics Matrix Market folder (matrix.mtx, barcodes.tsv,
    /// features.tsv or genes.tsv; gzipped or not): cells × genes.
    MatrixMarket,
    /// An AnnData `.h5ad` file: X as cells × genes, obs columns as labels.
    #[serde(rename = "h5ad")]
    AnnData,
    /// A 10x Genomics HDF5 matrix (`.h5`, Cell Ranger 2 or 3+): cells × genes.
    #[serde(rename = "tenx_h5")]
    TenxH5,
}

impl DataFormat {
    /// Tables and 10x folders both hold a samples × features matrix; a network
    /// for one takes the other.
    pub fn is_matrix(self) -> bool {
        matches!(
            self,
            DataFormat::Table | DataFormat::MatrixMarket | DataFormat::AnnData | DataFormat::TenxH5
        )
    }
}

/// The built-in environments an agent can learn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentKind {
    /// Balance a pole on a moving cart (the classic check that DQN works).
    #[default]
    CartPole,
    /// Edit a short DNA sequence, one base at a time, until it holds a motif.
    MotifDesign,
}

/// Where each sample's label comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum LabelSource {
    /// No labels (autoencoders, VAEs).
    #[default]
    None,
    /// A column of the data table itself; it is then not used as a feature.
    Column { column: String },
    /// A separate metadata table joined by sample id.
    Metadata {
        path: PathBuf,
        /// Column holding the sample ids; empty means the first column.
        #[serde(default)]
        id_column: String,
        column: String,
    },
    /// `key=value` in FASTA headers, e.g. `>seq7 label=1`.
    Header {
        #[serde(default = "default_header_key")]
        key: String,
    },
    /// The name of the subfolder holding each image.
    Folder,
}

fn default_header_key() -> String {
    "label".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[derive(Default)]
pub struct TableOptions {
    /// Column holding the sample ids; empty means the first column.
    pub id_column: String,
    /// Whether a numeric label column is a class (false) or a number to predict (true).
    pub regression_target: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    /// DNA if every letter is A/C/G/T/N, RNA if A/C/G/U/N, else protein.
    #[default]
    Auto,
    Dna,
    Rna,
    Protein,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceOptions {
    pub alphabet: Alphabet,
    /// Sequences are cut or padded (with zeros) to this length; 0 means the longest in the file.
    pub length: usize,
    /// Tokens of this many letters (k-mers, one per position); 1 = single letters.
    pub kmer: usize,
}

impl Default for SequenceOptions {
    fn default() -> Self {
        SequenceOptions {
            alphabet: Alphabet::Auto,
            length: 0,
            kmer: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// Grayscale if every image is grayscale, else RGB.
    #[default]
    Auto,
    Grayscale,
    Rgb,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageOptions {
    /// Every image is resized to width × height pixels.
    pub width: u32,
    pub height: u32,
    pub color: ColorMode,
    /// Multi-page TIFF files: which page to read (1 = the first).
    pub tiff_page: usize,
    /// Multi-page TIFF files: every page (grayscale) becomes one channel, e.g.
    /// the stains of a microscopy image; then `tiff_page` is not used.
    pub tiff_pages_as_channels: bool,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            width: 32,
            height: 32,
            color: ColorMode::Auto,
            tiff_page: 1,
            tiff_pages_as_channels: false,
        }
    }
}

/// Transformations applied to the numbers before training, fitted on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Encoding {
    /// Library-size normalisation ("normalize total"): scale each sample so its
    /// values add up to this number (10,000 is usual for single cells;
    /// 1,000,000 gives counts per million). 0 = off. Applied first.
    pub normalize_total: f32,
    /// Keep only this many features: those with the highest dispersion
    /// (variance / mean, after library-size normalisation) on the training
    /// split, e.g. the 2,000 most variable genes. 0 = keep all. Tables only.
    pub top_variable_features: usize,
    /// ln(1 + x) of every value: tames count data such as gene expression.
    pub log1p: bool,
    /// Z-score with the training split's mean and standard deviation.
    pub standardize: bool,
    /// Whether `standardize` uses each feature's own statistics or one mean and
    /// standard deviation over all values (images: keeps contrast between pixels).
    pub standardize_scope: StandardizeScope,
    /// Divide pixel values by their maximum (255 for 8-bit images) to get 0..1.
    pub scale_pixels: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StandardizeScope {
    /// Each feature (gene, pixel, position) to mean 0 and standard deviation 1.
    #[default]
    PerFeature,
    /// All values together: one mean and one standard deviation.
    Global,
}

impl Encoding {
    /// The shape of a sample after feature selection, from the data's own shape.
    /// `joined` counts the features of joined tables at the end of `shape`:
    /// they are kept whole.
    pub fn input_shape(
        &self,
        kind: crate::data::DataKind,
        shape: &[usize],
        joined: usize,
    ) -> Vec<usize> {
        match (kind, shape) {
            (crate::data::DataKind::Table, [f]) if self.top_variable_features > 0 => {
                vec![self.top_variable_features.min(f.saturating_sub(joined)) + joined]
            }
            _ => shape.to_vec(),
        }
    }
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            normalize_total: 0.0,
            top_variable_features: 0,
            log1p: false,
            standardize: false,
            standardize_scope: StandardizeScope::PerFeature,
            scale_pixels: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd,
    #[default]
    Adam,
    AdamW,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSpec {
    pub optimizer: Optimizer,
    pub learning_rate: f64,
    /// SGD momentum (0 = plain SGD).
    pub momentum: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Share of samples held out to validate on (0 = none).
    pub validation_fraction: f64,
    /// Share of samples held out to test on once, at the end, with the
    /// weights the run keeps (0 = none). Experiment files written before
    /// test splits existed have none.
    #[serde(default)]
    pub test_fraction: f64,
    /// Cross-validation: with `folds` above 1 the samples outside the test
    /// share are cut into that many stratified folds and fold `fold` (0-based)
    /// validates, in place of `validation_fraction`. `lamina sweep --folds`
    /// trains every fold.
    pub folds: usize,
    pub fold: usize,
    /// Keep the weights of the epoch with the lowest validation loss (the
    /// saved model and the test score use them) rather than the last epoch's.
    /// Early stopping always keeps the best.
    pub keep_best_weights: bool,
    /// Classification: weigh each class's samples in the loss.
    pub class_weights: ClassWeights,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Seed for weight initialisation, shuffling and the train/validation split.
    pub seed: u64,
    /// Clip each gradient's norm to this value; 0 = no clipping.
    pub gradient_clip_norm: f64,
    /// Stop when the validation loss has not improved for this many epochs; 0 = never.
    pub early_stopping_patience: usize,
    /// Keep a checkpoint to continue from every this many epochs (0 = none;
    /// supervised and autoencoding tasks).
    pub checkpoint_every: usize,
    /// GAN only: the settings of the two networks' training.
    pub gan: GanSettings,
    /// Deep Q-learning only (`epochs` is then unused).
    pub dqn: DqnSettings,
    /// Images only: random changes to each training image, every epoch anew.
    pub augment: Augmentation,
}

/// How much each class's samples count in a classifier's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    /// Every sample counts the same (a rare class counts little).
    #[default]
    Equal,
    /// Each class counts the same in total: a sample's weight is inversely
    /// proportional to its class's share of the training samples.
    Balanced,
}

/// The learning rate over a run, as a factor of `learning_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Multiply the rate by `factor` every `every` epochs.
    Step { every: usize, factor: f64 },
    /// Rise linearly from near zero over `warmup_epochs`, then fall along a
    /// half cosine to `min_factor` × the rate at the last step (changes every step).
    Cosine {
        warmup_epochs: usize,
        min_factor: f64,
    },
    /// Multiply the rate by `factor` when the validation loss has not improved
    /// for `patience` epochs, down to `min_factor` × the rate.
    ReduceOnPlateau {
        patience: usize,
        factor: f64,
        min_factor: f64,
    },
}

/// Random changes to training images (never to validation or new data), so a
/// network learns what does not depend on orientation or exact position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Augmentation {
    /// Mirror left-right and top-bottom, each half of the time.
    pub flips: bool,
    /// Turn by 0, 90, 180 or 270 degrees (square images only).
    pub rotations: bool,
    /// Shift by up to this many pixels in each direction (a small crop; the
    /// edge pixels fill the gap). 0 = no shift.
    pub shift: usize,
}

impl Augmentation {
    pub fn is_on(&self) -> bool {
        self.flips || self.rotations || self.shift > 0
    }
}

/// How a deep Q-network learns: experience replay, a target network and an
/// epsilon-greedy exploration schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DqnSettings {
    /// Environment steps to learn for.
    pub steps: usize,
    /// Past transitions kept to learn from (experience replay).
    pub replay_size: usize,
    /// Steps of pure exploration before learning starts.
    pub learning_starts: usize,
    /// Discount factor: how much future reward counts (0.99 = far-sighted).
    pub gamma: f64,
    /// Exploration: the chance of a random action falls from start to end over `epsilon_steps`.
    pub epsilon_start: f64,
    pub epsilon_end: f64,
    pub epsilon_steps: usize,
    /// Copy the network into the target network every this many steps.
    pub target_update: usize,
    /// Learn from one batch every this many environment steps.
    pub train_every: usize,
    /// Check the greedy policy on 10 episodes every this many steps and keep
    /// the best one found (DQN policies can get worse late in training); 0 = keep the last.
    pub evaluate_every: usize,
}

impl Default for DqnSettings {
    fn default() -> Self {
        DqnSettings {
            steps: 50_000,
            replay_size: 50_000,
            learning_starts: 1_000,
            gamma: 0.99,
            epsilon_start: 1.0,
            epsilon_end: 0.05,
            epsilon_steps: 10_000,
            target_update: 500,
            train_every: 1,
            evaluate_every: 2_500,
        }
    }
}

/// How a GAN's generator and discriminator are trained (each has its own Adam).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GanSettings {
    pub generator_learning_rate: f64,
    pub discriminator_learning_rate: f64,
    /// Adam's first-moment decay; 0.5 (not 0.9) keeps GAN training stable.
    pub beta1: f64,
    /// Discriminator steps before each generator step.
    pub discriminator_steps: usize,
    /// Train the discriminator toward 1 − this on real samples (0 = off; 0.1 is common).
    pub label_smoothing: f64,
}

impl Default for GanSettings {
    fn default() -> Self {
        GanSettings {
            generator_learning_rate: 2e-4,
            discriminator_learning_rate: 2e-4,
            beta1: 0.5,
            discriminator_steps: 1,
            label_smoothing: 0.0,
        }
    }
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            optimizer: Optimizer::Adam,
            learning_rate: 1e-3,
            momentum: 0.9,
            weight_decay: 1e-4,
            batch_size: 32,
            epochs: 20,
            validation_fraction: 0.2,
            test_fraction: 0.1,
            folds: 0,
            fold: 0,
            keep_best_weights: true,
            class_weights: ClassWeights::Equal,
            schedule: Schedule::Constant,
            seed: 42,
            gradient_clip_norm: 0.0,
            early_stopping_patience: 0,
            checkpoint_every: 1,
            gan: GanSettings::default(),
            dqn: DqnSettings::default(),
            augment: Augmentation::default(),
        }
    }
}

/// Why an experiment file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read experiment file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid experiment file (line {line}, column {column}): {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}, line {line}: \"{key}\" is not a setting Lamina knows{}",
        nearest.as_ref().map(|n| format!("; did you mean \"{n}\"?")).unwrap_or_default()
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        line: usize,
        nearest: Option<String>,
    },
    #[error(
        "{path} was written by a newer Lamina (format version {found}; this build reads up to {FORMAT_VERSION}); update Lamina to open it"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Experiment {
    /// Read an experiment file, upgrading older format versions.
    pub fn load(path: &Path) -> Result<Experiment, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parse experiment JSON; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Experiment, SpecError> {
        let parse_err = |e: serde_json::Error| SpecError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
        if !value.is_object() {
            let holds = match &value {
                serde_json::Value::Array(_) => "a list ([ … ])",
                serde_json::Value::String(_) => "a text",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "true or false",
                _ => "null",
            };
            return Err(SpecError::Parse {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!(
                    "this file holds {holds}, not an experiment: an experiment file is one JSON object ({{ … }}) with \"data\", \"architecture\" and \"training\" (as `lamina new` or Save writes it)"
                ),
            });
        }
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if found > FORMAT_VERSION {
            return Err(SpecError::TooNew {
                path: path.to_path_buf(),
                found,
            });
        }
        let value = upgrade(value, found);
        // Keys Lamina does not know are refused, with the nearest it knows: a
        // misspelt setting ("epoch" for "epochs") would otherwise be ignored.
        let mut unknown = Vec::new();
        let parsed: Result<Experiment, _> =
            serde_ignored::deserialize(value, |p| unknown.push(p.to_string()));
        let mut exp: Experiment = match parsed {
            Ok(exp) if !unknown.is_empty() => {
                return Err(unknown_key(&exp, &unknown[0], text, path));
            }
            Ok(exp) => exp,
            // Parse the text again to point at the line of the offending value.
            Err(e) => {
                return Err(parse_err(
                    serde_json::from_str::<Experiment>(text).err().unwrap_or(e),
                ));
            }
        };
        exp.format_version = FORMAT_VERSION;
        Ok(exp)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an experiment always serialises to JSON")
    }

    /// Write the experiment atomically: a half-written file never replaces a good one.
    pub fn save(&self, path: &Path) -> Result<(), SpecError> {
        write_atomic(path, self.to_json().as_bytes()).map_err(|source| SpecError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The names of the joined tables a stack can take besides its input: the
    /// first stack of a supervised model or autoencoder reads the data.
    pub fn joined_inputs(&self, stack: &str) -> Vec<String> {
        let reads_data = matches!(
            self.task,
            Task::Classification | Task::Regression | Task::Autoencoder | Task::Vae
        ) && self.task.stack_names().first() == Some(&stack);
        if !reads_data {
            return Vec::new();
        }
        self.data.joined.iter().map(|j| j.name.clone()).collect()
    }

    /// Check everything that can be checked without the data: stacks present and
    /// parameters within bounds.
    pub fn validate(&self) -> Result<(), SpecError> {
        for (k, j) in self.data.joined.iter().enumerate() {
            let problem = if j.name.trim().is_empty() {
                Some("needs a name, by which the network takes it (e.g. \"protein\")".to_string())
            } else if j.name == graph::INPUT {
                Some(format!(
                    "cannot be called '{}': that is the main data's name",
                    graph::INPUT
                ))
            } else if self.data.joined[..k].iter().any(|o| o.name == j.name) {
                Some(format!(
                    "has the same name '{}' as another joined table",
                    j.name
                ))
            } else if j.path.as_os_str().is_empty() {
                Some("has no file".to_string())
            } else {
                None
            };
            if let Some(p) = problem {
                return Err(SpecError::Invalid(format!(
                    "joined table {} ({}) {p}",
                    k + 1,
                    j.path.display()
                )));
            }
        }
        if !self.data.joined.is_empty()
            && !matches!(
                self.task,
                Task::Classification | Task::Regression | Task::Autoencoder | Task::Vae
            )
        {
            return Err(SpecError::Invalid(format!(
                "a {} reads one data source; remove the joined tables ({})",
                self.task.label(),
                self.data
                    .joined
                    .iter()
                    .map(|j| j.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for name in self.task.stack_names() {
            match self.architecture.stack(name) {
                None => {
                    return Err(SpecError::Invalid(format!(
                        "a {} needs a stack of layers named '{name}'; the architecture has {}",
                        self.task.label(),
                        stack_list(&self.architecture)
                    )));
                }
                Some(stack) if stack.layers.is_empty() => {
                    return Err(SpecError::Invalid(format!(
                        "the network '{name}' has no layers; add layers from the palette, or start from a template"
                    )));
                }
                Some(_) => {}
            }
        }
        for stack in &self.architecture.stacks {
            for (i, layer) in stack.layer_specs().enumerate() {
                if let Err(msg) = layer.check_params() {
                    return Err(SpecError::Invalid(format!(
                        "layer {} ({}) of '{}': {msg}",
                        i + 1,
                        layer.info().display,
                        stack.name
                    )));
                }
            }
            if let Err(e) = graph::wire(stack, &self.joined_inputs(&stack.name)) {
                return Err(SpecError::Invalid(format!(
                    "{} ({}) of '{}': {}",
                    graph::node_name(stack, e.node),
                    stack.layers[e.node].layer.info().display,
                    stack.name,
                    e.message
                )));
            }
        }
        let t = &self.training;
        let problems = [
            (t.batch_size == 0, "batch size must be at least 1"),
            (t.epochs == 0, "epochs must be at least 1"),
            (
                !(t.learning_rate > 0.0 && t.learning_rate.is_finite()),
                "learning rate must be a positive number",
            ),
            (
                !(0.0..0.9).contains(&t.validation_fraction),
                "validation fraction must be between 0 and 0.9",
            ),
            (
                t.folds == 1 || (t.folds > 1 && t.fold >= t.folds) || t.folds > 100,
                "cross-validation needs 2 to 100 folds, and the validating fold must be one of them (0 to folds − 1)",
            ),
            (
                !(0.0..0.9).contains(&t.test_fraction)
                    || t.validation_fraction + t.test_fraction >= 0.9,
                "the test fraction must be between 0 and 0.9, and with the validation fraction leave a tenth of the samples to train on",
            ),
            (
                match t.schedule {
                    Schedule::Constant => false,
                    Schedule::Step { every, factor } => {
                        every == 0 || !(factor > 0.0 && factor <= 1.0)
                    }
                    Schedule::Cosine { min_factor, .. } => !(0.0..=1.0).contains(&min_factor),
                    Schedule::ReduceOnPlateau {
                        patience,
                        factor,
                        min_factor,
                    } => {
                        patience == 0
                            || !(factor > 0.0 && factor < 1.0)
                            || !(0.0..=1.0).contains(&min_factor)
                    }
                },
                "learning-rate schedule: the step size and patience must be at least 1, the factors between 0 and 1",
            ),
            (
                t.gradient_clip_norm < 0.0,
                "gradient clipping must be 0 (off) or positive",
            ),
        ];
        if let Some((_, msg)) = problems.iter().find(|(bad, _)| *bad) {
            return Err(SpecError::Invalid(format!("training settings: {msg}")));
        }
        if self.task == Task::Dqn {
            let d = &t.dqn;
            let problems = [
                (d.steps == 0, "steps must be at least 1"),
                (
                    d.replay_size < t.batch_size,
                    "the replay memory must hold at least one batch",
                ),
                (
                    !(0.0..=1.0).contains(&d.gamma),
                    "the discount factor must be in 0..1",
                ),
                (
                    !(0.0..=1.0).contains(&d.epsilon_start)
                        || !(0.0..=1.0).contains(&d.epsilon_end),
                    "epsilon must be in 0..1",
                ),
                (
                    d.target_update == 0 || d.train_every == 0,
                    "update intervals must be at least 1",
                ),
                (
                    self.data.format != DataFormat::Environment,
                    "a deep Q-network learns in an environment: set the data to an environment",
                ),
            ];
            if let Some((_, msg)) = problems.iter().find(|(bad, _)| *bad) {
                return Err(SpecError::Invalid(format!("DQN settings: {msg}")));
            }
        }
        if self.task == Task::Gan {
            let g = &t.gan;
            let problems = [
                (
                    self.architecture.noise_size == 0,
                    "the generator's noise size must be at least 1",
                ),
                (
                    !(g.generator_learning_rate > 0.0 && g.discriminator_learning_rate > 0.0),
                    "both learning rates must be positive",
                ),
                (!(0.0..1.0).contains(&g.beta1), "beta1 must be in 0..1"),
                (
                    g.discriminator_steps == 0,
                    "discriminator steps must be at least 1",
                ),
                (
                    !(0.0..0.5).contains(&g.label_smoothing),
                    "label smoothing must be between 0 and 0.5",
                ),
            ];
            if let Some((_, msg)) = problems.iter().find(|(bad, _)| *bad) {
                return Err(SpecError::Invalid(format!("GAN settings: {msg}")));
            }
        }
        let k = self.data.sequence.kmer;
        if !(1..=6).contains(&k) {
            return Err(SpecError::Invalid(format!(
                "sequence settings: k-mer size is {k}; it must be 1 (single letters) to 6"
            )));
        }
        Ok(())
    }
}

fn stack_list(arch: &Architecture) -> String {
    if arch.stacks.is_empty() {
        "no stacks".to_string()
    } else {
        let names: Vec<_> = arch
            .stacks
            .iter()
            .map(|s| format!("'{}'", s.name))
            .collect();
        names.join(", ")
    }
}

/// Upgrade the JSON of an older format version to the current one.
/// The error for `key` (a dotted path such as `training.epoch`), with the
/// nearest key Lamina knows at that place and the line the key is on.
fn unknown_key(exp: &Experiment, key: &str, text: &str, path: &Path) -> SpecError {
    let (parent, name) = key.rsplit_once('.').unwrap_or(("", key));
    let known = serde_json::to_value(exp).unwrap_or_default();
    let pointer = match parent {
        "" => String::new(),
        p => format!("/{}", p.replace('.', "/")),
    };
    let place = known.pointer(&pointer);
    let nearest = match place {
        Some(serde_json::Value::Object(m)) => m
            .keys()
            .map(|k| (graph::edit_distance(k, name), k))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, k)| match parent {
                "" => k.clone(),
                p => format!("{p}.{k}"),
            }),
        _ => None,
    };
    let quoted = format!("\"{name}\"");
    let line = text
        .lines()
        .position(|l| l.contains(&quoted))
        .map_or(0, |i| i + 1);
    SpecError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        line,
        nearest,
    }
}

fn upgrade(value: serde_json::Value, from: u32) -> serde_json::Value {
    // Version 0 is a file without `format_version`; its fields are those of version 1,
    // and a version 1 file reads as version 2 (its stacks are chains).
    let _ = from;
    value
}

/// Write `bytes` to a temporary file beside `path`, then rename it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newly_joined_table_is_named_from_its_file_and_never_twice() {
        let table = |name: &str| JoinedTable {
            name: name.into(),
            ..JoinedTable::default()
        };
        assert_eq!(
            unique_input_name(Path::new("data/ADT counts.csv"), &[]),
            "adt_counts"
        );
        let joined = [table("protein"), table("protein2")];
        assert_eq!(
            unique_input_name(Path::new("protein.csv"), &joined),
            "protein3"
        );
        assert_eq!(unique_input_name(Path::new("input.tsv"), &[]), "input2");
        assert_eq!(unique_input_name(Path::new("-.csv"), &[]), "table");
    }

    #[test]
    fn default_experiment_round_trips_through_json() {
        let exp = Experiment::default();
        let back = Experiment::from_json(&exp.to_json(), Path::new("x.json")).unwrap();
        assert_eq!(exp, back);
    }

    #[test]
    fn missing_fields_take_defaults_and_old_files_load() {
        let exp = Experiment::from_json(r#"{"name": "old"}"#, Path::new("old.json")).unwrap();
        assert_eq!(exp.name, "old");
        assert_eq!(exp.format_version, FORMAT_VERSION);
        assert_eq!(exp.training.batch_size, TrainSpec::default().batch_size);
    }

    #[test]
    fn newer_files_are_refused_with_a_reason() {
        let err = Experiment::from_json(r#"{"format_version": 99}"#, Path::new("new.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer Lamina"), "{err}");
        assert!(err.contains("new.json"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = Experiment::from_json("{\n \"name\": 3,\n}", Path::new("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.json") && err.contains("line"), "{err}");
    }

    #[test]
    fn validate_reports_missing_stack_and_bad_settings() {
        let exp = Experiment {
            task: Task::Autoencoder,
            ..Default::default()
        };
        let err = exp.validate().unwrap_err().to_string();
        assert!(err.contains("'encoder'"), "{err}");

        let mut exp = Experiment::default();
        exp.training.batch_size = 0;
        let err = exp.validate().unwrap_err().to_string();
        assert!(err.contains("batch size"), "{err}");
    }

    #[test]
    fn atomic_write_replaces_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("lamina-atomic-{}", std::process::id()));
        let path = dir.join("exp.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_chain_is_written_as_before_and_a_graph_with_ids_and_inputs() {
        let exp = templates::Template::ImageCnn.experiment();
        let json = serde_json::to_value(&exp.architecture.stacks[0].layers[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "Conv2d", "filters": 16, "kernel": 3, "stride": 1, "padding": "same"})
        );
        let exp = templates::Template::ResnetImage.experiment();
        let back = Experiment::from_json(&exp.to_json(), Path::new("resnet.json")).unwrap();
        assert_eq!(exp, back);
        let skip = serde_json::to_value(&exp.architecture.stacks[0].layers[8]).unwrap();
        assert_eq!(
            skip,
            serde_json::json!({"id": "skip1", "inputs": ["block1", "stem_out"], "type": "Add"})
        );
        assert!(exp.architecture.stacks[0].is_graph());
        assert!(exp.validate().is_ok());
    }

    #[test]
    fn wiring_mistakes_are_refused_before_the_data_is_read() {
        let mut exp = templates::Template::ResnetImage.experiment();
        exp.architecture.stacks[0].layers[8].inputs = vec!["block1".into(), "stem_ot".into()];
        let err = exp.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("node 'skip1' (Add) of 'network'")
                && err.contains("did you mean 'stem_out'"),
            "{err}"
        );
    }

    /// Every experiment file we ship or test with loads (version 1 files read
    /// as version 2), passes the checks that need no data and saves back to
    /// what it loaded.
    #[test]
    fn every_bundled_and_test_experiment_file_loads() {
        fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    json_files(&path, out);
                } else if path.extension().is_some_and(|e| e == "json") {
                    out.push(path);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        json_files(&root.join("sample-data"), &mut files);
        json_files(&root.join("tests/data"), &mut files);
        let mut experiments = 0;
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            if value.get("architecture").is_none() {
                continue; // not an experiment (e.g. a model folder's metadata)
            }
            let exp = Experiment::load(path).unwrap_or_else(|e| panic!("{e}"));
            exp.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let back = Experiment::from_json(&exp.to_json(), path).unwrap();
            assert_eq!(exp, back, "{}", path.display());
            experiments += 1;
        }
        assert!(
            experiments >= 16,
            "only {experiments} experiment files found"
        );
    }
}

#[cfg(test)]
mod unknown_key_tests {
    use super::*;

    #[test]
    fn a_misspelt_setting_is_refused_with_the_nearest_name() {
        let exp = templates::Template::MlpClassifier.experiment();
        let mut value = serde_json::to_value(&exp).unwrap();
        value["training"]["epoch"] = serde_json::json!(5);
        let text = serde_json::to_string_pretty(&value).unwrap();
        let err = Experiment::from_json(&text, Path::new("exp.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"training.epoch\""), "{err}");
        assert!(err.contains("did you mean \"training.epochs\""), "{err}");
        let line = text.lines().position(|l| l.contains("\"epoch\"")).unwrap() + 1;
        assert!(err.contains(&format!("line {line}")), "{err}");
        // A key far from any Lamina knows is refused without a guess.
        let mut value = serde_json::to_value(&exp).unwrap();
        value["my_notes"] = serde_json::json!("first try");
        let err = Experiment::from_json(&value.to_string(), Path::new("exp.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"my_notes\" is not a setting") && !err.contains("did you mean"),
            "{err}"
        );
        // What Lamina writes reads back.
        assert!(Experiment::from_json(&exp.to_json(), Path::new("exp.json")).is_ok());
    }
}
