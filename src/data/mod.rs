//! Reading researchers' files into one in-memory `Dataset`: numbers per sample,
//! sample ids, labels and feature names.
//!
//! One file per format (`table.rs`, `fasta.rs`, `image.rs`), all behind
//! [`load`]; labels from a separate table are joined in `labels.rs`; encodings
//! fitted on the training split live in `encode.rs` and the split in `split.rs`.
//! This module knows nothing of burn or egui: tensors are built by `train`.

pub mod encode;
pub mod fasta;
pub mod h5ad;
pub mod image;
pub mod join;
pub mod labels;
pub mod mtx;
pub mod progress;
pub mod sparse;
pub mod split;
pub mod table;
pub mod tenx_h5;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::spec::{DataFormat, DataSpec, LabelSource, Task, shapes::Target};

pub use encode::Preprocessing;

/// What kind of data a dataset holds; decides how it is shown and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Table,
    Sequences,
    Images,
    /// A built-in environment for reinforcement learning: no samples, an
    /// observation of `shape` per step and one "class" per action.
    Environment,
}

impl DataKind {
    pub fn label(self) -> &'static str {
        match self {
            DataKind::Table => "table of numbers",
            DataKind::Sequences => "sequences",
            DataKind::Images => "images",
            DataKind::Environment => "simulated environment",
        }
    }
}

/// Each sample's label.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    None,
    /// Class index per sample, and the class names in index order.
    Classes {
        index: Vec<usize>,
        names: Vec<String>,
    },
    /// A number per sample to predict.
    Values(Vec<f32>),
}

impl Labels {
    pub fn class_names(&self) -> &[String] {
        match self {
            Labels::Classes { names, .. } => names,
            _ => &[],
        }
    }

    /// Number of samples in each class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        match self {
            Labels::Classes { index, names } => {
                let mut counts = vec![0; names.len()];
                for &i in index {
                    if let Some(c) = counts.get_mut(i) {
                        *c += 1;
                    }
                }
                counts
            }
            _ => Vec::new(),
        }
    }

    /// The samples whose label is missing (an empty cell, `NA`, `NaN`, …): class
    /// [`MISSING_CLASS`] or a NaN value. [`load`] either leaves them out (when
    /// the data settings say so) or stops with their count.
    pub fn missing(&self) -> Vec<usize> {
        match self {
            Labels::Classes { index, .. } => (0..index.len())
                .filter(|&i| index[i] == MISSING_CLASS)
                .collect(),
            Labels::Values(v) => (0..v.len()).filter(|&i| v[i].is_nan()).collect(),
            Labels::None => Vec::new(),
        }
    }

    /// Keep the labels of the samples at `keep` (ascending), in that order.
    fn retain(&mut self, keep: &[usize]) {
        match self {
            Labels::Classes { index, .. } => *index = keep.iter().map(|&i| index[i]).collect(),
            Labels::Values(v) => *v = keep.iter().map(|&i| v[i]).collect(),
            Labels::None => {}
        }
    }

    /// Turn one text label per sample into classes, or numbers when `numeric`.
    /// Missing labels (see [`is_missing_label`]) become [`MISSING_CLASS`] or NaN.
    pub fn from_strings(
        raw: &[impl AsRef<str>],
        numeric: bool,
        source: &Path,
        ids: &[String],
    ) -> Result<Labels, DataError> {
        if numeric {
            let mut values = Vec::with_capacity(raw.len());
            for (i, r) in raw.iter().map(AsRef::as_ref).enumerate() {
                if is_missing_label(r) {
                    values.push(f32::NAN);
                    continue;
                }
                let v: f32 = r.trim().parse().map_err(|_| DataError::LabelNotNumber {
                    path: source.to_path_buf(),
                    id: ids.get(i).cloned().unwrap_or_default(),
                    value: r.to_string(),
                })?;
                values.push(v);
            }
            return Ok(Labels::Values(values));
        }
        // Classes are few and samples many: look each label up among the
        // distinct ones seen so far, copying only those.
        let mut seen: rustc_hash::FxHashMap<&str, usize> = Default::default();
        let first: Vec<usize> = raw
            .iter()
            .map(|r| {
                let next = seen.len();
                *seen.entry(r.as_ref()).or_insert(next)
            })
            .collect();
        let mut distinct: Vec<&str> = vec![""; seen.len()];
        for (&name, &i) in &seen {
            distinct[i] = name;
        }
        let mut names: Vec<String> = distinct
            .iter()
            .filter(|r| !is_missing_label(r))
            .map(|r| r.to_string())
            .collect();
        sort_natural(&mut names);
        let lookup: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let class_of: Vec<usize> = distinct
            .iter()
            .map(|r| lookup.get(r).copied().unwrap_or(MISSING_CLASS))
            .collect();
        let index = first.iter().map(|&d| class_of[d]).collect();
        Ok(Labels::Classes { index, names })
    }
}

/// The class index of a sample without a label (only between reading and [`load`]).
pub const MISSING_CLASS: usize = usize::MAX;

/// Whether a label cell means "no label": empty, or a usual missing-value marker.
pub fn is_missing_label(s: &str) -> bool {
    let s = s.trim();
    ["", "na", "n/a", "nan", "null", "none", "?", "-"]
        .iter()
        .any(|m| s.eq_ignore_ascii_case(m))
}

/// Sort so that "2" comes before "10" when all names are numbers.
fn sort_natural(names: &mut [String]) {
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| {
            let (x, y): (f64, f64) = (a.parse().unwrap_or(0.0), b.parse().unwrap_or(0.0));
            // The same number written two ways ("1", "1.0") in text order.
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        names.sort();
    }
}

/// Samples in memory, before encoding.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: DataKind,
    pub source: PathBuf,
    pub ids: Vec<String>,
    /// Shape of one sample without the batch: `[features]`, `[channels, length]`
    /// or `[channels, height, width]`.
    pub shape: Vec<usize>,
    /// Row-major values, `ids.len() × shape.product()`; empty when `sparse`
    /// holds them.
    pub values: Vec<f32>,
    /// Column names for tables, alphabet letters for sequences, channel names for images.
    pub feature_names: Vec<String>,
    pub labels: Labels,
    /// The largest value the format can hold (255 or 65535 for images), for pixel scaling.
    pub max_value: f32,
    /// Facts worth telling the user (padding, truncation, conversions).
    pub notes: Vec<String>,
    /// Columns of a table that hold text rather than numbers (label candidates).
    pub text_columns: Vec<String>,
    /// Sequences: each one's length before padding (at most `shape[1]`). Batches
    /// are padded only to their longest member, and padding is masked.
    pub lengths: Option<Vec<usize>>,
    /// Count matrices (10x, sparse AnnData) as compressed rows, sequences as
    /// letter codes: kept sparse until batches are built. Then `values` is empty.
    pub sparse: Option<sparse::Sparse>,
    /// Tables joined by sample id (`DataSpec::joined`): each one's name and
    /// number of features, in order. Their values follow the main table's in
    /// every sample; `shape` counts them all.
    pub joined: Vec<(String, usize)>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Sample `i`'s values (a dense copy when the data is sparse).
    pub fn sample(&self, i: usize) -> std::borrow::Cow<'_, [f32]> {
        let n = self.sample_len();
        match &self.sparse {
            Some(m) => {
                let mut row = vec![0.0; n];
                m.write_row(i, &mut row);
                std::borrow::Cow::Owned(row)
            }
            None => std::borrow::Cow::Borrowed(&self.values[i * n..(i + 1) * n]),
        }
    }

    /// Write sample `i`'s values into `out` (length `sample_len()`).
    pub fn write_sample(&self, i: usize, out: &mut [f32]) {
        match &self.sparse {
            Some(m) => m.write_row(i, out),
            None => out.copy_from_slice(&self.values[i * out.len()..(i + 1) * out.len()]),
        }
    }

    /// Every value, dense and row-major (a copy when the data is sparse).
    pub fn dense_values(&self) -> std::borrow::Cow<'_, [f32]> {
        match &self.sparse {
            Some(m) => std::borrow::Cow::Owned(m.to_dense()),
            None => std::borrow::Cow::Borrowed(&self.values),
        }
    }

    /// Store the values densely (for code that needs every value at once).
    pub fn densify(&mut self) {
        if let Some(m) = self.sparse.take() {
            self.values = m.to_dense();
        }
    }

    /// Number of non-zero values.
    pub fn nonzero(&self) -> usize {
        match &self.sparse {
            Some(m) => m.nonzero(),
            None => self.values.iter().filter(|&&v| v != 0.0).count(),
        }
    }

    /// Keep only the samples at `keep` (ascending indices).
    pub fn retain(&mut self, keep: &[usize]) {
        let n = self.sample_len();
        if let Some(m) = &self.sparse {
            self.sparse = Some(m.take_rows(keep));
        } else {
            let mut values = Vec::with_capacity(keep.len() * n);
            for &i in keep {
                values.extend_from_slice(&self.values[i * n..(i + 1) * n]);
            }
            self.values = values;
        }
        self.ids = keep.iter().map(|&i| self.ids[i].clone()).collect();
        if let Some(lengths) = &mut self.lengths {
            *lengths = keep.iter().map(|&i| lengths[i]).collect();
        }
        self.labels.retain(keep);
    }

    /// What the network must produce for this task on this data.
    pub fn target(&self, task: Task) -> Result<Target, DataError> {
        match task {
            Task::Autoencoder | Task::Vae | Task::Gan => Ok(Target::Reconstruct),
            Task::Dqn => match (self.kind, &self.labels) {
                (DataKind::Environment, Labels::Classes { names, .. }) => {
                    Ok(Target::Values(names.len()))
                }
                _ => Err(DataError::Invalid(
                    "a deep Q-network learns in an environment, not from a data file; choose an environment as the data".into(),
                )),
            },
            Task::Classification => match &self.labels {
                Labels::Classes { names, .. } if names.len() >= 2 => Ok(Target::Classes(names.len())),
                Labels::Classes { names, .. } => Err(DataError::Invalid(format!(
                    "{}: every sample has the same label ({}); a classifier needs at least two classes",
                    self.source.display(),
                    names.first().map(String::as_str).unwrap_or("none")
                ))),
                Labels::Values(_) => Err(DataError::Invalid(
                    "the labels are numbers to predict; choose the regression task, or treat them as classes".into(),
                )),
                Labels::None => Err(DataError::Invalid(format!(
                    "{} has no labels; a classifier needs one label per sample (choose a label column or a metadata table)",
                    self.source.display()
                ))),
            },
            Task::Regression => match &self.labels {
                Labels::Values(_) => Ok(Target::Values(1)),
                _ => Err(DataError::Invalid(
                    "regression needs a numeric label per sample".into(),
                )),
            },
        }
    }

    /// The letters of sequence sample `i` (`N` where no letter is set: padding or
    /// an ambiguous base); empty for other kinds of data.
    pub fn sequence_letters(&self, i: usize) -> String {
        let [alphabet, stride] = self.shape[..] else {
            return String::new();
        };
        if self.kind != DataKind::Sequences {
            return String::new();
        }
        let x = self.sample(i);
        // Channel a of position p sits at a * stride + p, whatever the
        // sample's own (unpadded) length.
        let len = self.lengths.as_ref().map_or(stride, |l| l[i].min(stride));
        (0..len)
            .map(|p| {
                (0..alphabet)
                    .find(|&a| x[a * stride + p] > 0.5)
                    .and_then(|a| self.feature_names.get(a))
                    .and_then(|s| s.chars().next())
                    .unwrap_or('N')
            })
            .collect()
    }

    /// A human-readable description, as printed by `lamina inspect`.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        out.push(format!("file:     {}", self.source.display()));
        out.push(format!("kind:     {}", self.kind.label()));
        out.push(format!("samples:  {}", self.len()));
        match self.kind {
            DataKind::Table => out.push(format!(
                "features: {} ({}{})",
                self.shape[0],
                preview(&self.feature_names, 5),
                if self.feature_names.len() > 5 {
                    ", …"
                } else {
                    ""
                }
            )),
            DataKind::Sequences => {
                let k = self.feature_names.first().map_or(1, |n| n.chars().count());
                out.push(if k > 1 {
                    format!(
                        "length:   {} positions, tokens: {} different {k}-mers",
                        self.shape[1],
                        self.feature_names.len()
                    )
                } else {
                    format!(
                        "length:   {} positions, alphabet {} ({})",
                        self.shape[1],
                        self.feature_names.len(),
                        self.feature_names.join("")
                    )
                })
            }
            DataKind::Images => out.push(format!(
                "size:     {} × {} pixels, {} channel{}",
                self.shape[2],
                self.shape[1],
                self.shape[0],
                if self.shape[0] == 1 { "" } else { "s" }
            )),
            DataKind::Environment => {
                out.push(format!(
                    "observes: {} numbers ({})",
                    self.shape[0],
                    preview(&self.feature_names, 4)
                ));
                out.push(format!(
                    "actions:  {} ({})",
                    self.labels.class_names().len(),
                    preview(self.labels.class_names(), 4)
                ));
                for n in &self.notes {
                    out.push(format!("note:     {n}"));
                }
                return out.join("\n");
            }
        }
        match &self.labels {
            Labels::None => out.push("labels:   none".into()),
            Labels::Classes { names, .. } => {
                let counts = self.labels.class_counts();
                const SHOWN: usize = 20;
                let mut parts: Vec<String> = names
                    .iter()
                    .zip(&counts)
                    .take(SHOWN)
                    .map(|(n, c)| format!("{n} ({c})"))
                    .collect();
                if names.len() > SHOWN {
                    parts.push(format!("… and {} more", names.len() - SHOWN));
                }
                out.push(format!("classes:  {} — {}", names.len(), parts.join(", ")));
            }
            Labels::Values(v) => {
                let (lo, hi) = v
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                out.push(format!("labels:   numbers from {lo} to {hi}"));
            }
        }
        if !self.text_columns.is_empty() {
            out.push(format!(
                "text columns (usable as labels): {}",
                self.text_columns.join(", ")
            ));
        }
        for n in &self.notes {
            out.push(format!("note:     {n}"));
        }
        out.join("\n")
    }
}

fn preview(names: &[String], n: usize) -> String {
    names.iter().take(n).cloned().collect::<Vec<_>>().join(", ")
}

/// Everything that can be wrong with input data, with the facts a user needs.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("line {line} of {} has {found} values; the header has {expected} columns", path.display())]
    Ragged {
        path: PathBuf,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("line {line} of {}, column '{column}': '{value}' is not a number{hint}", path.display())]
    NotNumber {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        hint: String,
    },
    #[error("{} has a header but no data rows", path.display())]
    NoRows { path: PathBuf },
    #[error("{}: sample id '{id}' appears twice (lines {first} and {second}); ids must be unique", path.display())]
    DuplicateId {
        path: PathBuf,
        id: String,
        first: u64,
        second: u64,
    },
    #[error("{} has no column '{column}'; its columns are: {available}", path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("record {record} ('{id}') of {}: {letter} at position {position} is not a {alphabet} letter (allowed: {allowed})", path.display())]
    InvalidLetter {
        path: PathBuf,
        record: usize,
        id: String,
        /// Shown as it is (`'J'`), or as a byte when it is no letter at all.
        letter: ShownByte,
        position: usize,
        alphabet: String,
        allowed: String,
    },
    #[error("{} mixes kinds of sequence: record {nucleotide_record} ('{nucleotide_id}') is DNA/RNA but record {protein_record} ('{protein_id}') is protein; put them in separate files, or choose the alphabet in the experiment", path.display())]
    MixedAlphabets {
        path: PathBuf,
        nucleotide_record: usize,
        nucleotide_id: String,
        protein_record: usize,
        protein_id: String,
    },
    #[error("record {record} ('{id}') of {} has an empty sequence", path.display())]
    EmptyRecord {
        path: PathBuf,
        record: usize,
        id: String,
    },
    #[error("record {record} ('{id}') of {} has no '{key}=' in its header; add it (e.g. '>{id} {key}=1') or take labels from a metadata table", path.display())]
    MissingHeaderLabel {
        path: PathBuf,
        record: usize,
        id: String,
        key: String,
    },
    #[error("{} is not a valid FASTA/FASTQ file: {message}", path.display())]
    Fastx { path: PathBuf, message: String },
    #[error("cannot read image {}: {message}", path.display())]
    Image { path: PathBuf, message: String },
    #[error("{} holds no images; put PNG/JPEG/TIFF files in one subfolder per class (e.g. {}/round/cell1.png)", path.display(), path.display())]
    NoImages { path: PathBuf },
    #[error("{count} of {total} samples in {} have no label in {} (no row with their id, or an empty or NA label); for example: {examples}. Fill them in, or choose to leave out samples without a label", data.display(), labels.display())]
    LabelsMissing {
        data: PathBuf,
        labels: PathBuf,
        count: usize,
        total: usize,
        examples: String,
    },
    #[error("{}, sample '{id}': label '{value}' is not a number", path.display())]
    LabelNotNumber {
        path: PathBuf,
        id: String,
        value: String,
    },
    #[error("cannot tell the format of {}; use a .csv/.tsv table, a .fasta/.fa file or a folder of image folders", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{0}")]
    Invalid(String),
}

/// A byte as a message shows it: `'J'`, or `byte 0xD5 (…)` when it is not a
/// printable letter (a binary file, or text in another encoding).
#[derive(Debug, Clone, Copy)]
pub struct ShownByte(pub u8);

impl std::fmt::Display for ShownByte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        if b.is_ascii_graphic() {
            write!(f, "'{}'", b as char)
        } else {
            write!(
                f,
                "byte 0x{b:02X} (not a letter: is the file binary, or text in another encoding than UTF-8 or ASCII?)"
            )
        }
    }
}

impl DataError {
    /// A folder given where a file is expected.
    pub(crate) fn folder_not_file(path: &Path) -> DataError {
        DataError::Invalid(format!(
            "{} is a folder where a file is expected; choose the file in it",
            path.display()
        ))
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
        move |source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DataError::NotFound {
                    path: path.to_path_buf(),
                }
            } else if source.kind() == std::io::ErrorKind::IsADirectory {
                DataError::folder_not_file(path)
            } else {
                DataError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        }
    }
}

/// The format a path holds, deciding from extension or folder contents.
pub fn detect_format(path: &Path) -> Result<DataFormat, DataError> {
    if !path.exists() {
        return Err(DataError::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        if mtx::is_tenx_folder(path) {
            return Ok(DataFormat::MatrixMarket);
        }
        let visible = std::fs::read_dir(path)
            .map_err(DataError::io(path))?
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect::<Vec<_>>();
        if visible.is_empty() {
            return Err(DataError::Invalid(format!(
                "{} is an empty folder; choose the folder or file that holds the data: a folder with one subfolder of images per class, a 10x folder (matrix.mtx with its barcodes and features), or a table, FASTA or .h5ad file",
                path.display()
            )));
        }
        // A folder of data files rather than of image folders: name them.
        let mut files: Vec<String> = visible
            .iter()
            .filter(|p| p.is_file() && detect_format(p).is_ok())
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        if !files.is_empty() && !visible.iter().any(|p| p.is_dir()) {
            files.sort();
            files.truncate(3);
            return Err(DataError::Invalid(format!(
                "{} is a folder of data files ({}), not of image folders: choose the file itself",
                path.display(),
                files.join(", ")
            )));
        }
        return Ok(DataFormat::ImageFolder);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "mtx" => Ok(DataFormat::MatrixMarket),
        "h5ad" => Ok(DataFormat::AnnData),
        "h5" => Ok(DataFormat::TenxH5),
        "csv" | "tsv" | "tab" | "txt" => Ok(DataFormat::Table),
        "fa" | "fasta" | "fna" | "faa" | "ffn" | "fas" | "fq" | "fastq" => Ok(DataFormat::Fasta),
        _ => Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Load the data an experiment points at, with its labels.
///
/// `base` is the folder relative paths are resolved against (the experiment's folder).
pub fn load(spec: &DataSpec, base: &Path) -> Result<Dataset, DataError> {
    let path = spec.resolved_path(base);
    let format = match spec.format {
        DataFormat::Auto => detect_format(&path)?,
        f => f,
    };
    let label_column = match &spec.labels {
        LabelSource::Column { column } => Some(column.as_str()),
        _ => None,
    };
    let mut ds = match format {
        DataFormat::Table | DataFormat::Auto => table::read(
            &path,
            &spec.table,
            label_column,
            spec.table.regression_target,
        )?,
        DataFormat::Fasta => {
            let key = match &spec.labels {
                LabelSource::Header { key } => Some(key.as_str()),
                _ => None,
            };
            fasta::read(&path, &spec.sequence, key)?
        }
        DataFormat::ImageFolder => image::read(&path, &spec.image)?,
        DataFormat::Environment => {
            if !spec.joined.is_empty() {
                return Err(DataError::Invalid(
                    "a simulated environment cannot be joined with tables".into(),
                ));
            }
            return Ok(environment(spec.environment));
        }
        DataFormat::AnnData => h5ad::read(&path, label_column, spec.table.regression_target)?,
        DataFormat::TenxH5 => tenx_h5::read(&path)?,
        DataFormat::MatrixMarket => {
            // The folder, also when the matrix file itself was chosen.
            let dir = if path.is_file() {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                path.clone()
            };
            mtx::read(&dir)?
        }
    };
    for j in &spec.joined {
        let table_path = crate::spec::resolve(base, &j.path);
        let options = crate::spec::TableOptions {
            id_column: j.id_column.clone(),
            regression_target: false,
        };
        let table = table::read(&table_path, &options, None, false)?;
        ds = join::join(ds, table, &j.name)?;
    }
    match &spec.labels {
        LabelSource::None => {
            if format == DataFormat::ImageFolder {
                ds.labels = Labels::None;
            }
        }
        LabelSource::Metadata {
            path: meta,
            id_column,
            column,
        } => {
            let meta = crate::spec::resolve(base, meta);
            ds.labels = labels::join(&ds, &meta, id_column, column, spec.table.regression_target)?;
        }
        LabelSource::Column { .. } | LabelSource::Header { .. } | LabelSource::Folder => {}
    }
    if matches!(spec.labels, LabelSource::Folder) && format != DataFormat::ImageFolder {
        return Err(DataError::Invalid(format!(
            "labels are set to come from image folders, but {} is not a folder of images",
            path.display()
        )));
    }
    let missing = ds.labels.missing();
    if !missing.is_empty() {
        let source = match &spec.labels {
            LabelSource::Metadata { path: meta, .. } => crate::spec::resolve(base, meta),
            _ => path.clone(),
        };
        let examples: Vec<String> = missing
            .iter()
            .take(3)
            .map(|&i| format!("'{}'", ds.ids[i]))
            .collect();
        if !spec.drop_unlabelled || missing.len() == ds.len() {
            return Err(DataError::LabelsMissing {
                data: path.clone(),
                labels: source,
                count: missing.len(),
                total: ds.len(),
                examples: examples.join(", "),
            });
        }
        let keep: Vec<usize> = (0..ds.len())
            .filter(|i| missing.binary_search(i).is_err())
            .collect();
        ds.retain(&keep);
        ds.notes.push(format!(
            "{} of {} samples have no label in {} and were left out (for example {})",
            missing.len(),
            missing.len() + keep.len(),
            source.display(),
            examples.join(", ")
        ));
    }
    if let Some(note) = numbers_read_as_classes(&ds.labels) {
        ds.notes.push(note);
    }
    Ok(ds)
}

/// A note when the classes look like a measurement: many distinct labels,
/// all of them numbers (e.g. an age or an expression level read as hundreds
/// of classes). Reading them as classes is legal, so it is only said.
fn numbers_read_as_classes(labels: &Labels) -> Option<String> {
    let Labels::Classes { index, names } = labels else {
        return None;
    };
    let numbers = names.iter().all(|n| n.trim().parse::<f64>().is_ok());
    let many = names.len() > 20 && names.len() * 10 > index.len();
    (numbers && many).then(|| {
        format!(
            "the labels are {} distinct numbers, read as {} classes; if they are a measurement \
             to predict, make the task a regression (numeric target)",
            names.len(),
            names.len()
        )
    })
}

/// An environment as a dataset: its observation size and names, and its
/// actions as the "classes" a Q-network scores.
pub fn environment(kind: crate::spec::EnvironmentKind) -> Dataset {
    let env = crate::rl::make(kind, 0);
    let names = env.observation_names();
    Dataset {
        kind: DataKind::Environment,
        source: PathBuf::from(format!("{kind:?}")),
        ids: Vec::new(),
        shape: vec![names.len()],
        values: Vec::new(),
        feature_names: names,
        labels: Labels::Classes {
            index: Vec::new(),
            names: env.action_names(),
        },
        max_value: f32::MAX,
        notes: vec![crate::rl::describe(kind).to_string()],
        text_columns: Vec::new(),
        sparse: None,
        lengths: None,
        joined: Vec::new(),
    }
}

/// Load a path with every setting on automatic, for `lamina inspect` and previews.
pub fn inspect(path: &Path) -> Result<Dataset, DataError> {
    let format = detect_format(path)?;
    if format == DataFormat::Table {
        return table::read_lenient(path);
    }
    let labels = match format {
        DataFormat::Fasta => LabelSource::Header {
            key: "label".into(),
        },
        DataFormat::ImageFolder => LabelSource::Folder,
        _ => LabelSource::None,
    };
    let spec = DataSpec {
        path: path.to_path_buf(),
        format,
        labels,
        ..DataSpec::default()
    };
    match load(&spec, Path::new("")) {
        // FASTA without labels in the headers is still worth describing.
        Err(DataError::MissingHeaderLabel { .. }) => load(
            &DataSpec {
                labels: LabelSource::None,
                ..spec
            },
            Path::new(""),
        ),
        other => other,
    }
}

/// Write a small file for a unit test into a per-process temporary folder.
#[cfg(test)]
pub(crate) fn test_file(group: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-{group}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("the temporary folder is writable");
    p
}
