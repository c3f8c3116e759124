//! Using a model in the window: the one just trained or a model folder opened
//! from disk (no training data needed), run on a newly chosen file. The panel
//! edits the fields and returns what the user asked for; the prediction runs
//! as a background job ([`PredictState::job`]) through the same functions as
//! `lamina predict`, on the device chosen for training.

use std::path::{Path, PathBuf};

use eframe::egui;

use super::Action;
use super::dialogs::Purpose;
use super::tasks::{Done, Kind, Tasks};
use crate::train::{DevicePreference, TrainedModel};

const SHOWN_ROWS: usize = 20;

/// The model in use for predictions and the last result.
#[derive(Default)]
pub struct PredictState {
    /// Where the model came from (for the label) and the model.
    pub model: Option<(String, TrainedModel)>,
    pub result: Option<PredictionResult>,
    pub error: Option<String>,
    /// The file to predict on, as typed or chosen.
    pub data_path: String,
    /// The files for the model's joined tables, in the order of its experiment.
    pub joined_paths: Vec<String>,
    /// Where the predictions go, as typed (empty: beside the data).
    pub out_path: String,
    /// A model folder to open, as typed.
    pub model_path: String,
}

/// A finished prediction: where it was written and its first rows.
#[derive(Debug, Clone)]
pub struct PredictionResult {
    pub data: PathBuf,
    pub out: PathBuf,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub count: usize,
    /// The device it ran on, in words.
    pub device: String,
}

impl PredictState {
    /// Use a model (just trained, or opened) from now on.
    pub fn set_model(&mut self, source: String, model: TrainedModel) {
        self.joined_paths = vec![String::new(); model.experiment.data.joined.len()];
        self.model = Some((source, model));
        self.result = None;
        self.error = None;
    }

    /// What still has to be given before predicting, in words (None: ready).
    pub fn missing_file(&self) -> Option<String> {
        if self.data_path.trim().is_empty() {
            return Some("Give the data to predict on".into());
        }
        let (_, m) = self.model.as_ref()?;
        m.experiment
            .data
            .joined
            .iter()
            .zip(&self.joined_paths)
            .find(|(_, p)| p.trim().is_empty())
            .map(|(j, _)| format!("Give the table '{}' too", j.name))
    }

    /// A file chosen for the data or a joined table (`purpose`); true when
    /// nothing else is needed, so the prediction can start at once (as when
    /// a one-table model's data is chosen).
    pub fn choose(&mut self, purpose: Purpose, path: &Path) -> bool {
        let shown = path.display().to_string();
        match purpose {
            Purpose::PredictData => self.data_path = shown,
            Purpose::PredictJoined(k) => {
                if let Some(p) = self.joined_paths.get_mut(k) {
                    *p = shown;
                }
            }
            _ => return false,
        }
        self.model.is_some() && self.missing_file().is_none()
    }

    /// Where the predictions will be written: the typed place, or beside the
    /// data as `NAME.predictions.csv` (none before data is given).
    pub fn output(&self) -> Option<PathBuf> {
        match (self.out_path.trim(), self.data_path.trim()) {
            ("", "") => None,
            ("", data) => Some(output_path(Path::new(data))),
            (typed, _) => Some(PathBuf::from(typed)),
        }
    }

    /// The prediction on the files in the fields, as a job for a background
    /// thread, written to [`PredictState::output`].
    pub fn job(
        &self,
        device: DevicePreference,
    ) -> Result<impl FnOnce() -> Result<Done, String> + Send + use<>, String> {
        let Some((_, model)) = &self.model else {
            return Err("open or train a model first".into());
        };
        if let Some(why) = self.missing_file() {
            return Err(why);
        }
        let model = model.clone();
        let data = PathBuf::from(self.data_path.trim());
        let out = self.output().unwrap_or_else(|| output_path(&data));
        let joined: Vec<PathBuf> = self
            .joined_paths
            .iter()
            .map(|p| PathBuf::from(p.trim()))
            .collect();
        Ok(move || predict_file(&model, &data, &joined, &out, device).map(Done::Predicted))
    }
}

/// Where predictions for `data` are written: beside it, `NAME.predictions.csv`.
pub fn output_path(data: &Path) -> PathBuf {
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    data.with_file_name(format!("{stem}.predictions.csv"))
}

fn predict_file(
    model: &TrainedModel,
    data: &Path,
    joined: &[PathBuf],
    out: &Path,
    device: DevicePreference,
) -> Result<PredictionResult, String> {
    let choice = crate::train::device::choose(device)?;
    let ds = crate::project::read_joined_for_model(model, data, joined)?;
    let inf = crate::train::infer(model, &ds, &choice.device)?;
    let (header, rows) = crate::export::predictions_table(model, &ds.ids, &inf);
    // Cancelled while predicting: nothing is written.
    if crate::data::progress::cancelled() {
        return Err(crate::data::progress::CANCELLED.into());
    }
    crate::export::write_csv(out, &header, &rows).map_err(|e| e.to_string())?;
    Ok(PredictionResult {
        data: data.to_path_buf(),
        out: out.to_path_buf(),
        count: rows.len(),
        rows: rows.into_iter().take(SHOWN_ROWS).collect(),
        header,
        device: choice.name,
    })
}

/// The panel. `trained` says whether the window holds a freshly trained model.
pub fn show(
    ui: &mut egui::Ui,
    state: &mut PredictState,
    trained: bool,
    tasks: &Tasks,
) -> Option<Action> {
    let mut action = None;
    ui.strong("Use a model on new data");
    match &state.model {
        Some((source, m)) => {
            ui.label(format!("Model: {source}"));
            let classes = if m.class_names.is_empty() {
                String::new()
            } else {
                format!(", classes {}", m.class_names.join(", "))
            };
            ui.weak(format!(
                "{:?} of samples shaped {:?}{classes}",
                m.experiment.task, m.input_shape
            ));
        }
        None => {
            ui.weak("No model yet: train one here, or open a model folder.");
        }
    }
    if trained && ui.button("Use the model just trained").clicked() {
        action = Some(Action::UseTrainedModel);
    }
    ui.horizontal(|ui| {
        let name = ui.label("Model folder:");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut state.model_path)
                    .hint_text("a folder written by training")
                    .desired_width(260.0),
            )
            .labelled_by(name.id);
        let typed = state.model_path.trim();
        let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui
            .add_enabled(!typed.is_empty(), egui::Button::new("Open model"))
            .clicked()
            || enter)
            && !typed.is_empty()
        {
            action = Some(Action::UsePath(Purpose::OpenModel, PathBuf::from(typed)));
        }
        if ui.button("Browse…").clicked() {
            action = Some(Action::Ask(Purpose::OpenModel));
        }
    });
    let joined: Vec<String> = state
        .model
        .as_ref()
        .map(|(_, m)| {
            m.experiment
                .data
                .joined
                .iter()
                .map(|j| j.name.clone())
                .collect()
        })
        .unwrap_or_default();
    state.joined_paths.resize(joined.len(), String::new());
    if state.model.is_some() {
        egui::Grid::new("predict_files").num_columns(3).show(ui, |ui| {
            let name = ui.label("Data");
            ui.add(
                egui::TextEdit::singleline(&mut state.data_path)
                    .hint_text("a file of the kind the model was trained on")
                    .desired_width(320.0),
            )
            .labelled_by(name.id);
            if ui.button("Choose…").clicked() {
                action = Some(Action::Ask(Purpose::PredictData));
            }
            ui.end_row();
            for (k, name) in joined.iter().enumerate() {
                ui.label(format!("Table '{name}'"))
                    .on_hover_text("The model also reads this table, joined to the data by sample id (the first column)");
                ui.add(
                    egui::TextEdit::singleline(&mut state.joined_paths[k])
                        .hint_text("the same samples, joined by sample id")
                        .desired_width(320.0),
                );
                if ui.button("Choose…").clicked() {
                    action = Some(Action::Ask(Purpose::PredictJoined(k)));
                }
                ui.end_row();
            }
            let name = ui.label("Save predictions to");
            let beside = state
                .output()
                .filter(|_| state.out_path.trim().is_empty())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "beside the data, NAME.predictions.csv".into());
            ui.add(
                egui::TextEdit::singleline(&mut state.out_path)
                    .hint_text(beside)
                    .desired_width(320.0),
            )
            .labelled_by(name.id)
            .on_hover_text("Left empty: beside the data. A file that exists is asked about first.");
            ui.end_row();
        });
    }
    if tasks.show(ui, Kind::OpenModel) {
        action = Some(Action::Cancel(Kind::OpenModel));
    }
    let missing = state.missing_file();
    let running = tasks.is_running(Kind::Predict);
    let ready = state.model.is_some() && !running && missing.is_none();
    let button = ui
        .add_enabled(ready, egui::Button::new("Predict"))
        .on_hover_text("The predictions are saved where \"Save predictions to\" says");
    if let Some(why) = missing.filter(|_| state.model.is_some()) {
        button.on_disabled_hover_text(why);
    } else if button.clicked() {
        action = Some(Action::Predict);
    }
    if tasks.show(ui, Kind::Predict) {
        action = Some(Action::Cancel(Kind::Predict));
    }
    if let Some(e) = &state.error {
        ui.colored_label(egui::Color32::from_rgb(220, 60, 60), e);
    }
    if let Some(r) = &state.result {
        ui.label(format!(
            "{} predictions for {} saved to {} (on {})",
            r.count,
            r.data.display(),
            r.out.display(),
            r.device
        ));
        egui::ScrollArea::horizontal()
            .id_salt("prediction_rows")
            .show(ui, |ui| {
                egui::Grid::new("prediction_grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in r.header.iter().take(8) {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for row in &r.rows {
                            for v in row.iter().take(8) {
                                let v = match v.parse::<f64>() {
                                    Ok(x) if v.contains('.') => format!("{x:.4}"),
                                    _ => v.clone(),
                                };
                                ui.monospace(v);
                            }
                            ui.end_row();
                        }
                    });
            });
    }
    action
}
