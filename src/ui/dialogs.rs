//! Native file dialogs (rfd), run on their own thread so the window keeps
//! drawing while one is open. The answer arrives through a channel and is
//! picked up by `LaminaApp::poll_dialog` on a later frame.

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

/// Open the native dialog for `purpose`, starting in `dir`.
pub fn ask(purpose: Purpose, dir: &Path, ctx: &egui::Context) -> Pending {
    let (tx, rx) = channel();
    let dir = dir.to_path_buf();
    let ctx = ctx.clone();
    std::thread::spawn(move || {
        let d = rfd::FileDialog::new().set_directory(&dir);
        let tables = ["csv", "tsv", "txt"];
        let answer = match purpose {
            Purpose::OpenExperiment => d
                .set_title("Open a Lamina experiment")
                .add_filter("Lamina experiment", &["json"])
                .pick_file(),
            Purpose::SaveExperiment => d
                .set_title("Save the experiment")
                .add_filter("Lamina experiment", &["json"])
                .save_file(),
            Purpose::DataFile | Purpose::StartData => d
                .set_title("Choose a data file")
                .add_filter(
                    "Tables, sequences and matrices",
                    &[
                        "csv", "tsv", "txt", "fasta", "fa", "fna", "faa", "fastq", "fq", "gz",
                        "mtx", "h5ad", "h5",
                    ],
                )
                .pick_file(),
            Purpose::DataFolder | Purpose::StartDataFolder => d
                .set_title(
                    "Choose a folder: one subfolder of images per class, or a 10x matrix folder",
                )
                .pick_folder(),
            Purpose::StartSecond | Purpose::PredictJoined(_) | Purpose::JoinedTable(_) => d
                .set_title("Choose the second table (same samples, joined by sample id)")
                .add_filter("Tables", &tables)
                .pick_file(),
            Purpose::LabelTable | Purpose::StartLabels => d
                .set_title("Choose a table of labels (sample id + label columns)")
                .add_filter("Tables", &tables)
                .pick_file(),
            Purpose::ExportModel => d
                .set_title("Choose a folder for the trained model")
                .pick_folder(),
            Purpose::ExportGenerated => d
                .set_title("Save generated samples (CSV, in the data's units)")
                .add_filter("CSV", &["csv"])
                .set_file_name("generated.csv")
                .save_file(),
            Purpose::ExportLatent => d
                .set_title("Save latent coordinates (CSV with sample ids, or .npy)")
                .add_filter("CSV", &["csv"])
                .add_filter("NumPy", &["npy"])
                .set_file_name("latent.csv")
                .save_file(),
            Purpose::ExportPlots => d
                .set_title("Choose a folder for the plots (PNG)")
                .pick_folder(),
            Purpose::OpenModel => d
                .set_title("Open a model folder (written by training)")
                .pick_folder(),
            Purpose::InitFrom => d
                .set_title("Start from a saved model folder (its layers that match are copied)")
                .pick_folder(),
            Purpose::OpenRun => d
                .set_title(
                    "Open a run folder (written by training: metrics.jsonl, summary.json, model/)",
                )
                .pick_folder(),
            Purpose::PredictData => d
                .set_title("Choose data to predict on (table, FASTA or image folder)")
                .pick_file(),
            Purpose::ExportAttentionPng => d
                .set_title("Save the attention map as a picture")
                .add_filter("PNG", &["png"])
                .set_file_name("attention.png")
                .save_file(),
            Purpose::ExportAttentionCsv => d
                .set_title("Save the attention map as a table")
                .add_filter("CSV", &["csv"])
                .set_file_name("attention.csv")
                .save_file(),
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
