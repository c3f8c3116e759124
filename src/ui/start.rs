//! The start screen: pick a template (with a plain description of each family and
//! the data it suits) and a data file, or open an experiment. The chosen data
//! is read as the template would read it by a background job ([`check_job`])
//! before Create, which says what it holds and offers the label table's
//! columns; [`create_job`] writes the experiment (never over a file unless the
//! user agreed; with no name, beside the data or in `~/Lamina`).

use std::path::{Path, PathBuf};

use eframe::egui;

use super::Action;
use super::dialogs::Purpose;
use super::tasks::{Done, Kind, Tasks};
use crate::project::{NewOptions, new_experiment};
use crate::spec::templates::Template;

/// Start-screen fields kept between frames.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StartForm {
    pub template: Option<usize>,
    pub data_path: String,
    pub labels_path: String,
    pub label_column: String,
    pub experiment_path: String,
    /// The second table of a template that joins one (two_input_classifier).
    pub second_path: String,
}

impl StartForm {
    /// The same template and files (what a check of the data depends on).
    pub fn same_choice(&self, other: &StartForm) -> bool {
        let key = |f: &StartForm| {
            (
                f.template,
                f.data_path.trim().to_string(),
                f.labels_path.trim().to_string(),
                f.label_column.trim().to_string(),
                f.second_path.trim().to_string(),
            )
        };
        key(self) == key(other)
    }
}

/// What the start screen's data was found to hold, for the form it was
/// checked on.
#[derive(Debug, Clone)]
pub struct Checked {
    pub form: StartForm,
    /// The columns a label can be taken from: the label table's (after its id
    /// column), else the data table's; empty for other kinds of data.
    pub columns: Vec<String>,
    /// What the data holds, in words, or why it does not suit the template.
    pub outcome: Result<String, String>,
}

/// The job that reads the chosen data as the template would (nothing is
/// written) and finds the columns a label can come from. `None` when there is
/// nothing to check yet, or the template brings its own environment.
pub fn check_job(form: &StartForm) -> Option<impl FnOnce() -> Result<Done, String> + Send + use<>> {
    let t = form
        .template
        .and_then(|i| Template::all().get(i).copied())?;
    let data = PathBuf::from(form.data_path.trim());
    if data.as_os_str().is_empty()
        || t.experiment().data.format == crate::spec::DataFormat::Environment
    {
        return None;
    }
    let form = form.clone();
    let (opts, _) = new_options(&form);
    Some(move || {
        let labels =
            (!form.labels_path.trim().is_empty()).then(|| PathBuf::from(form.labels_path.trim()));
        // The label table's columns, else the data table's, after the id column.
        let table = match &labels {
            Some(table) => Some(table.as_path()),
            None => crate::data::detect_format(&data)
                .is_ok_and(|f| f == crate::spec::DataFormat::Table)
                .then_some(data.as_path()),
        };
        let columns = table
            .and_then(|t| crate::project::table_columns(t).ok())
            .map(|c| c.into_iter().skip(1).filter(|c| !c.is_empty()).collect())
            .unwrap_or_default();
        let place = crate::project::parent_dir(&data).join(format!("{}.json", t.name()));
        let outcome = new_experiment(t, &data, &place, &opts).and_then(|(_, ds, report)| {
            match report.first_error() {
                Some(e) => Err(format!(
                    "the template's network does not fit this data: {e}"
                )),
                None => Ok(found(&ds)),
            }
        });
        Ok(Done::Checked(Box::new(Checked {
            form,
            columns,
            outcome,
        })))
    })
}

/// The data in one line: how many samples of what, and the classes.
fn found(ds: &crate::data::Dataset) -> String {
    let mut line = format!(
        "{}: {} samples, each {:?}",
        ds.kind.label(),
        ds.len(),
        ds.shape
    );
    let classes = ds.labels.class_names();
    if !classes.is_empty() {
        line.push_str(&format!(
            "; {} classes ({})",
            classes.len(),
            preview_names(classes)
        ));
    }
    line
}

fn preview_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
    let more = if names.len() > 6 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The options the form gives `new_experiment`, and the typed experiment path.
fn new_options(form: &StartForm) -> (NewOptions, Option<PathBuf>) {
    let typed = (!form.experiment_path.trim().is_empty())
        .then(|| PathBuf::from(form.experiment_path.trim()));
    let opts = NewOptions {
        labels: (!form.labels_path.trim().is_empty())
            .then(|| PathBuf::from(form.labels_path.trim())),
        label_column: (!form.label_column.trim().is_empty())
            .then(|| form.label_column.trim().to_string()),
        settings: Vec::new(),
        joined: (!form.second_path.trim().is_empty())
            .then(|| PathBuf::from(form.second_path.trim()))
            .into_iter()
            .collect(),
    };
    (opts, typed)
}

/// What the start screen shows besides its form.
pub struct StartView<'a> {
    /// What the chosen data holds, when checked for the form as it is now.
    pub check: Option<&'a Checked>,
    pub message: Option<&'a (String, bool)>,
    pub recent: &'a [PathBuf],
    /// An experiment is open behind the start screen.
    pub can_go_back: bool,
    pub tasks: &'a Tasks,
}

/// The start screen: edits its form, returns what the user asked for.
pub fn show(ui: &mut egui::Ui, form: &mut StartForm, view: &StartView) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::CentralPanel::default_margins().show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Lamina — deep learning for your own data");
            ui.label("Choose a kind of network, point it at your data, and press Train.");
            ui.add_space(8.0);
            if let Some((msg, true)) = view.message {
                ui.colored_label(egui::Color32::from_rgb(220, 60, 60), msg);
            }
            ui.columns(2, |cols| {
                let ui = &mut cols[0];
                ui.heading("New experiment from a template");
                // Titles in a compact grid (descriptions on hover), then the
                // chosen one described in full, so the form stays in view.
                egui::Grid::new("templates")
                    .num_columns(2)
                    .spacing([8.0, 6.0])
                    .show(ui, |ui| {
                        for (i, t) in Template::all().iter().enumerate() {
                            let selected = form.template == Some(i);
                            if ui
                                .selectable_label(selected, egui::RichText::new(t.title()).strong())
                                .on_hover_text(t.description())
                                .clicked()
                            {
                                form.template = Some(i);
                            }
                            if i % 2 == 1 {
                                ui.end_row();
                            }
                        }
                    });
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    match form.template.and_then(|i| Template::all().get(i)) {
                        Some(t) => {
                            ui.strong(t.title());
                            ui.label(t.description());
                        }
                        None => {
                            ui.weak("Pick a kind of network above to read what it does.");
                        }
                    }
                });
                ui.add_space(6.0);
                egui::Grid::new("new_grid").num_columns(2).show(ui, |ui| {
                    let name = ui.label("Data file or folder");
                    ui.horizontal(|ui| {
                        ui.text_edit_singleline(&mut form.data_path)
                            .labelled_by(name.id);
                        if ui.button("File…").clicked() {
                            actions.push(Action::Ask(Purpose::StartData));
                        }
                        if ui.button("Folder…").clicked() {
                            actions.push(Action::Ask(Purpose::StartDataFolder));
                        }
                    });
                    ui.end_row();
                    let joins = form
                        .template
                        .and_then(|i| Template::all().get(i))
                        .map(|t| t.experiment().data.joined)
                        .unwrap_or_default();
                    if let Some(j) = joins.first() {
                        let name = ui.label(format!("Second table ('{}')", j.name)).on_hover_text(
                            "A table of the same samples, joined to the data by sample id (the first column)",
                        );
                        ui.horizontal(|ui| {
                            ui.text_edit_singleline(&mut form.second_path)
                                .labelled_by(name.id);
                            if ui.button("File…").clicked() {
                                actions.push(Action::Ask(Purpose::StartSecond));
                            }
                        });
                        ui.end_row();
                    }
                    let name = ui.label("Label table (optional)");
                    ui.horizontal(|ui| {
                        ui.text_edit_singleline(&mut form.labels_path)
                            .labelled_by(name.id);
                        if ui.button("File…").clicked() {
                            actions.push(Action::Ask(Purpose::StartLabels));
                        }
                    });
                    ui.end_row();
                    let name = ui.label("Label column (optional)");
                    match view.check.filter(|c| !c.columns.is_empty()) {
                        // The columns found in the chosen table, to pick from.
                        Some(c) => {
                            let shown = match form.label_column.trim() {
                                "" => "the table's second column".to_string(),
                                col => col.to_string(),
                            };
                            egui::ComboBox::from_id_salt("label_column")
                                .selected_text(shown)
                                .width(220.0)
                                .show_ui(ui, |ui| {
                                    ui.selectable_value(
                                        &mut form.label_column,
                                        String::new(),
                                        "the table's second column",
                                    );
                                    for col in &c.columns {
                                        ui.selectable_value(&mut form.label_column, col.clone(), col);
                                    }
                                })
                                .response
                                .labelled_by(name.id);
                        }
                        None => {
                            ui.text_edit_singleline(&mut form.label_column)
                                .labelled_by(name.id);
                        }
                    }
                    ui.end_row();
                    let name = ui.label("Save experiment as");
                    ui.text_edit_singleline(&mut form.experiment_path)
                        .labelled_by(name.id);
                    ui.end_row();
                });
                // Reinforcement-learning templates bring their own environment.
                let needs_data = form
                    .template
                    .and_then(|i| Template::all().get(i))
                    .is_none_or(|t| t.experiment().data.format != crate::spec::DataFormat::Environment);
                let creating = view.tasks.is_running(Kind::Create);
                let chosen = form.template.is_some()
                    && (!needs_data || !form.data_path.trim().is_empty());
                // The data is checked against the template before Create.
                let checked = !needs_data || view.check.is_some_and(|c| c.outcome.is_ok());
                let button = ui.add_enabled(
                    chosen && checked && !creating,
                    egui::Button::new("Create experiment"),
                );
                if button.clicked() {
                    actions.push(Action::Create);
                }
                if view.tasks.show(ui, Kind::Check) {
                    actions.push(Action::Cancel(Kind::Check));
                }
                if view.tasks.show(ui, Kind::Create) {
                    actions.push(Action::Cancel(Kind::Create));
                }
                if !chosen {
                    ui.weak("Pick a template and a data file first.");
                } else if let Some(c) = view.check.filter(|_| needs_data) {
                    match &c.outcome {
                        Ok(found) => {
                            ui.colored_label(egui::Color32::from_rgb(60, 160, 60), format!("Found {found}."));
                        }
                        Err(e) => {
                            ui.colored_label(egui::Color32::from_rgb(220, 60, 60), e);
                        }
                    }
                }

                let ui = &mut cols[1];
                let name = ui.heading("Open an experiment");
                ui.horizontal(|ui| {
                    ui.text_edit_singleline(&mut form.experiment_path)
                        .labelled_by(name.id);
                    if ui.button("Open").clicked() {
                        actions.push(Action::Open(PathBuf::from(form.experiment_path.trim())));
                    }
                    if ui.button("Browse…").clicked() {
                        actions.push(Action::Ask(Purpose::OpenExperiment));
                    }
                });
                ui.weak("or drop an experiment (.json) or a data file on the window");
                ui.horizontal(|ui| {
                    if ui
                        .button("Open a trained model…")
                        .on_hover_text("A model folder written by training: look at its network and predict on new data")
                        .clicked()
                    {
                        actions.push(Action::Ask(Purpose::OpenModel));
                    }
                });
                if view.tasks.show(ui, Kind::Open) {
                    actions.push(Action::Cancel(Kind::Open));
                }
                if view.tasks.show(ui, Kind::OpenModel) {
                    actions.push(Action::Cancel(Kind::OpenModel));
                }
                if !view.recent.is_empty() {
                    ui.add_space(6.0);
                    ui.label("Recent experiments:");
                    for p in view.recent {
                        if ui.link(p.display().to_string()).clicked() {
                            actions.push(Action::Open(p.clone()));
                        }
                    }
                }
                ui.add_space(6.0);
                ui.label("Bundled examples:");
                for (title, rel) in SAMPLES {
                    let p = sample_path(rel);
                    if ui.link(*title).clicked() {
                        actions.push(Action::Open(p));
                    }
                }
                if view.can_go_back && ui.button("Back to the open experiment").clicked() {
                    actions.push(Action::ToWorkbench);
                }
            });
        });
    });
    actions
}

/// The bundled sample experiments the start screen lists, relative to `sample-data/`.
pub fn bundled_examples() -> Vec<&'static str> {
    SAMPLES.iter().map(|(_, rel)| *rel).collect()
}

const SAMPLES: &[(&str, &str)] = &[
    (
        "Cell types from gene counts (classifier)",
        "omics/classifier.json",
    ),
    (
        "Autoencoder of single-cell counts",
        "omics/autoencoder.json",
    ),
    (
        "Cell types from RNA + protein (two inputs, CITE-seq-like)",
        "citeseq/two_input.json",
    ),
    ("VAE of single-cell counts", "omics/vae.json"),
    ("GAN of single-cell counts", "omics/gan.json"),
    ("VAE of 700 real PBMCs (AnnData .h5ad)", "pbmc/vae.json"),
    ("Balance a pole (DQN, CartPole)", "rl/cartpole.json"),
    (
        "Design a DNA motif by single-base edits (DQN)",
        "rl/motif_design.json",
    ),
    ("Promoter motif finder (1-D CNN)", "dna/cnn.json"),
    ("Promoter classifier (bidirectional LSTM)", "dna/lstm.json"),
    ("Promoter classifier (transformer)", "dna/transformer.json"),
    (
        "Promoter motifs with attention (CNN + attention)",
        "dna/cnn_attention.json",
    ),
    (
        "Protein families, 40-160 residues (transformer)",
        "protein/transformer.json",
    ),
    (
        "Protein families, 40-160 residues (LSTM)",
        "protein/lstm.json",
    ),
    ("Cell shape classifier (2-D CNN)", "images/cnn.json"),
    (
        "Cell shape classifier with residual blocks (ResNet-style graph)",
        "images/resnet.json",
    ),
    (
        "Autoencoder of cell images (reconstructions)",
        "images/autoencoder.json",
    ),
];

/// Where the bundled samples are: beside the executable's project, or `sample-data/`.
fn sample_path(rel: &str) -> PathBuf {
    let local = PathBuf::from("sample-data").join(rel);
    if local.exists() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(rel)
}

/// The typed "Save experiment as" names a file that exists (one `stat`).
pub fn replaces(form: &StartForm) -> bool {
    let typed = form.experiment_path.trim();
    !typed.is_empty() && PathBuf::from(typed).exists()
}

/// The job that checks the data against the chosen template and writes the
/// new experiment file. An existing file is replaced only when `replace` says
/// the user agreed; with no name given, the experiment gets a new name beside
/// the data (or in the user's Lamina folder, for the bundled examples).
/// `None` when no template is chosen.
pub fn create_job(
    form: &StartForm,
    replace: bool,
) -> Option<impl FnOnce() -> Result<Done, String> + Send + use<>> {
    let t = form
        .template
        .and_then(|i| Template::all().get(i).copied())?;
    let data = PathBuf::from(form.data_path.trim());
    let (opts, typed) = new_options(form);
    Some(move || {
        let exp_path = match typed {
            Some(p) if p.exists() && !replace => {
                return Err(format!(
                    "{} already exists: type another name under \"Save experiment as\", or open it",
                    p.display()
                ));
            }
            Some(p) => p,
            None => default_experiment_path(&data, t),
        };
        let (exp, dataset, _) = new_experiment(t, &data, &exp_path, &opts)?;
        exp.save(&exp_path).map_err(|e| e.to_string())?;
        Ok(Done::Created(Box::new((exp, exp_path, dataset))))
    })
}

/// Where a new experiment goes when no name is given: `TEMPLATE.json` beside
/// the data, or in `~/Lamina` when the data is one of the bundled examples
/// (or there is no data), numbered (`TEMPLATE-2.json`) when taken.
fn default_experiment_path(data: &Path, t: Template) -> PathBuf {
    let beside = crate::project::parent_dir(data);
    let dir = if data.as_os_str().is_empty() || is_bundled(&beside) {
        user_folder()
    } else {
        beside
    };
    let _ = std::fs::create_dir_all(&dir);
    super::files::unique(&dir.join(format!("{}.json", t.name())))
}

/// The bundled examples' folder holds `dir`.
fn is_bundled(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let (Some(dir), Some(samples)) = (canon(dir), canon(&sample_path(""))) else {
        return false;
    };
    dir.starts_with(samples)
}

/// The user's own folder for experiments: `~/Lamina` (`LAMINA_HOME` when
/// set), or the working folder where there is no home.
pub fn user_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAMINA_HOME") {
        return PathBuf::from(dir);
    }
    std::env::home_dir()
        .map(|h| h.join("Lamina"))
        .unwrap_or_else(|| PathBuf::from("."))
}
