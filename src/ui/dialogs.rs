//! Native file dialogs (rfd), run on their own thread so the window keeps
//! drawing while one is open. The answer arrives through a channel and is
//! picked up by `LaminaApp::poll_dialog` on a later frame. What each purpose
//! asks for (its shape, title, file endings and suggested name) is said here
//! once, for this dialog and for the in-app browser in `files`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

/// What the chosen path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    OpenExperiment,
    SaveExperiment,
    /// A data file (table, FASTA) for the open experiment.
    DataFile,
    /// A folder of class folders of images for the open experiment.
    DataFolder,
    /// A metadata table holding the labels.
    LabelTable,
    /// The data field of the start screen.
    StartData,
    StartDataFolder,
    StartLabels,
    /// The second table of a two-input template on the start screen.
    StartSecond,
    ExportModel,
    ExportLatent,
    ExportGenerated,
    ExportAttentionPng,
    ExportAttentionCsv,
    /// A folder for the plots as PNG.
    ExportPlots,
    /// A model folder to predict with.
    OpenModel,
    /// A run folder (written by `lamina train` or the Train button) to look at.
    OpenRun,
    /// A saved model folder to start training from (fine-tuning).
    InitFrom,
    /// New data to predict on.
    PredictData,
    /// The file for a model's joined table (by its place in the experiment).
    PredictJoined(usize),
    /// A table joined to the open experiment's data: replaces table `k`, or
    /// adds one when `k` is past the last.
    JoinedTable(usize),
    /// A file to explain, and its joined tables.
    ExplainData,
    ExplainJoined(usize),
    /// A folder for the whole explanation, as `lamina explain` writes it.
    ExportExplanation,
    /// The Explain view's sample (or ranking) as a picture, or as a table.
    ExportExplainPng,
    ExportExplainCsv,
    /// The first-layer motifs as MEME text, and one filter's logo.
    ExportMotifs,
    ExportLogoPng,
}

/// A dialog that is open.
pub struct Pending {
    pub purpose: Purpose,
    rx: Receiver<Option<PathBuf>>,
    opened: std::time::Instant,
}

impl Pending {
    /// A dialog that came back empty at once most likely never showed (no
    /// desktop portal on this system), rather than being cancelled by a person.
    pub fn looks_unavailable(&self) -> bool {
        self.opened.elapsed() < std::time::Duration::from_millis(400)
    }

    /// `Some(answer)` once the dialog has closed; the answer is `None` when cancelled.
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        self.rx.try_recv().ok()
    }
}

/// The kind of dialog a purpose needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenFile,
    PickFolder,
    SaveFile,
    /// A folder to be written (the model folder, the plots): chosen as a
    /// name, new or not.
    NewFolder,
}

/// The kind of dialog `purpose` needs.
pub fn shape(purpose: Purpose) -> Shape {
    match purpose {
        Purpose::OpenExperiment
        | Purpose::DataFile
        | Purpose::StartData
        | Purpose::StartSecond
        | Purpose::PredictJoined(_)
        | Purpose::JoinedTable(_)
        | Purpose::LabelTable
        | Purpose::StartLabels
        | Purpose::ExplainData
        | Purpose::ExplainJoined(_)
        | Purpose::PredictData => Shape::OpenFile,
        Purpose::DataFolder
        | Purpose::StartDataFolder
        | Purpose::OpenModel
        | Purpose::InitFrom
        | Purpose::OpenRun => Shape::PickFolder,
        Purpose::SaveExperiment
        | Purpose::ExportGenerated
        | Purpose::ExportLatent
        | Purpose::ExportAttentionPng
        | Purpose::ExportAttentionCsv
        | Purpose::ExportExplainPng
        | Purpose::ExportExplainCsv
        | Purpose::ExportMotifs
        | Purpose::ExportLogoPng => Shape::SaveFile,
        Purpose::ExportModel | Purpose::ExportPlots | Purpose::ExportExplanation => {
            Shape::NewFolder
        }
    }
}

/// The dialog's title: what to choose, in words.
pub fn title(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::OpenExperiment => "Open a Lamina experiment",
        Purpose::SaveExperiment => "Save the experiment",
        Purpose::DataFile | Purpose::StartData => "Choose a data file",
        Purpose::DataFolder | Purpose::StartDataFolder => {
            "Choose a folder: one subfolder of images per class, or a 10x matrix folder"
        }
        Purpose::StartSecond
        | Purpose::PredictJoined(_)
        | Purpose::JoinedTable(_)
        | Purpose::ExplainJoined(_) => {
            "Choose the second table (same samples, joined by sample id)"
        }
        Purpose::LabelTable | Purpose::StartLabels => {
            "Choose a table of labels (sample id + label columns)"
        }
        Purpose::ExportModel => "Choose a folder for the trained model",
        Purpose::ExportGenerated => "Save generated samples (CSV, in the data's units)",
        Purpose::ExportLatent => "Save latent coordinates (CSV with sample ids, or .npy)",
        Purpose::ExportPlots => "Choose a folder for the plots (PNG)",
        Purpose::OpenModel => "Open a model folder (written by training)",
        Purpose::InitFrom => "Start from a saved model folder (its layers that match are copied)",
        Purpose::OpenRun => {
            "Open a run folder (written by training: metrics.jsonl, summary.json, model/)"
        }
        Purpose::PredictData => "Choose data to predict on (table, FASTA or image folder)",
        Purpose::ExportAttentionPng => "Save the attention map as a picture",
        Purpose::ExportAttentionCsv => "Save the attention map as a table",
        Purpose::ExplainData => "Choose data to explain (table, FASTA or image folder)",
        Purpose::ExportExplanation => "Choose a folder for the explanation",
        Purpose::ExportExplainPng => "Save the explanation shown as a picture",
        Purpose::ExportExplainCsv => "Save the explanation shown as a table",
        Purpose::ExportMotifs => "Save the motifs in MEME format (for Tomtom)",
        Purpose::ExportLogoPng => "Save the selected filter's logo as a picture",
    }
}

const TABLES: &[&str] = &["csv", "tsv", "txt"];

/// The file name endings offered for `purpose` (none: any file).
pub fn extensions(purpose: Purpose) -> Option<&'static [&'static str]> {
    match purpose {
        Purpose::OpenExperiment | Purpose::SaveExperiment => Some(&["json"]),
        Purpose::DataFile | Purpose::StartData => Some(&[
            "csv", "tsv", "txt", "fasta", "fa", "fna", "faa", "fastq", "fq", "gz", "mtx", "h5ad",
            "h5",
        ]),
        Purpose::StartSecond
        | Purpose::PredictJoined(_)
        | Purpose::JoinedTable(_)
        | Purpose::ExplainJoined(_)
        | Purpose::LabelTable
        | Purpose::StartLabels => Some(TABLES),
        Purpose::ExplainData => Some(&[
            "csv", "tsv", "txt", "fasta", "fa", "fna", "faa", "fastq", "fq", "gz", "mtx", "h5ad",
            "h5",
        ]),
        Purpose::ExportGenerated | Purpose::ExportAttentionCsv | Purpose::ExportExplainCsv => {
            Some(&["csv"])
        }
        Purpose::ExportMotifs => Some(&["meme", "txt"]),
        Purpose::ExportLatent => Some(&["csv", "npy"]),
        Purpose::ExportAttentionPng | Purpose::ExportExplainPng | Purpose::ExportLogoPng => {
            Some(&["png"])
        }
        _ => None,
    }
}

/// The name a save starts with, given the run's name.
pub fn suggested_name(purpose: Purpose, run: &str) -> Option<String> {
    Some(match purpose {
        Purpose::SaveExperiment => format!("{run}.json"),
        Purpose::ExportModel => format!("{run}-model"),
        Purpose::ExportPlots => format!("{run}-plots"),
        Purpose::ExportGenerated => "generated.csv".into(),
        Purpose::ExportLatent => "latent.csv".into(),
        Purpose::ExportAttentionPng => "attention.png".into(),
        Purpose::ExportAttentionCsv => "attention.csv".into(),
        Purpose::ExportExplanation => format!("{run}-explained"),
        Purpose::ExportExplainPng => "explained.png".into(),
        Purpose::ExportExplainCsv => "explained.csv".into(),
        Purpose::ExportMotifs => "motifs.meme".into(),
        Purpose::ExportLogoPng => "logo.png".into(),
        _ => return None,
    })
}

/// Open the native dialog for `purpose`, starting in `dir`.
pub fn ask(purpose: Purpose, dir: &Path, run: &str, ctx: &egui::Context) -> Pending {
    let (tx, rx) = channel();
    let dir = dir.to_path_buf();
    let ctx = ctx.clone();
    let name = suggested_name(purpose, run);
    std::thread::spawn(move || {
        let mut d = rfd::FileDialog::new()
            .set_directory(&dir)
            .set_title(title(purpose));
        if let Some(ext) = extensions(purpose) {
            d = d.add_filter(ext.join(", "), ext);
        }
        if let Some(name) = name.filter(|_| shape(purpose) == Shape::SaveFile) {
            d = d.set_file_name(name);
        }
        let answer = match shape(purpose) {
            Shape::OpenFile => d.pick_file(),
            Shape::PickFolder | Shape::NewFolder => d.pick_folder(),
            Shape::SaveFile => d.save_file(),
        };
        let _ = tx.send(answer);
        ctx.request_repaint();
    });
    Pending {
        purpose,
        rx,
        opened: std::time::Instant::now(),
    }
}
