//! Using a model in the window: the one just trained or a model folder opened
//! from disk (no training data needed), run on a newly chosen file. The work
//! runs on its own thread through the same functions as `lamina predict`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

use super::LaminaApp;
use super::dialogs::Purpose;
use crate::train::TrainedModel;

const SHOWN_ROWS: usize = 20;

/// The model in use for predictions and the last result.
#[derive(Default)]
pub struct PredictState {
    /// Where the model came from (for the label) and the model.
    pub model: Option<(String, TrainedModel)>,
    pub result: Option<PredictionResult>,
    pub error: Option<String>,
    running: Option<Receiver<Result<PredictionResult, String>>>,
}

/// A finished prediction: where it was written and its first rows.
#[derive(Debug, Clone)]
pub struct PredictionResult {
    pub data: PathBuf,
    pub out: PathBuf,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub count: usize,
}

impl PredictState {
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Open a model folder written by training (or `lamina train`).
    pub fn open_model(&mut self, dir: &Path) -> Result<(), String> {
        let device = crate::train::device::DeviceChoice::cpu("predictions").device;
        let model = crate::export::load_model(dir, &device).map_err(|e| e.to_string())?;
        self.model = Some((dir.display().to_string(), model));
        self.result = None;
        self.error = None;
        Ok(())
    }

    /// Predict on `data` in the background; the table goes beside the data as
    /// `NAME.predictions.csv`.
    pub fn start(&mut self, data: &Path, ctx: &egui::Context) {
        let Some((_, model)) = &self.model else {
            self.error = Some("open or train a model first".into());
            return;
        };
        let model = model.clone();
        let data = data.to_path_buf();
        let ctx = ctx.clone();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let _ = tx.send(predict_file(&model, &data));
            ctx.request_repaint();
        });
        self.running = Some(rx);
        self.error = None;
    }

    /// Pick up a finished prediction.
    pub fn poll(&mut self) {
        if let Some(rx) = &self.running
            && let Ok(result) = rx.try_recv()
        {
            self.running = None;
            match result {
                Ok(r) => self.result = Some(r),
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Block until a running prediction ends (tests).
    pub fn wait(&mut self) {
        if let Some(rx) = self.running.take() {
            match rx.recv() {
                Ok(Ok(r)) => self.result = Some(r),
                Ok(Err(e)) => self.error = Some(e),
                Err(_) => self.error = Some("the prediction stopped unexpectedly".into()),
            }
        }
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

fn predict_file(model: &TrainedModel, data: &Path) -> Result<PredictionResult, String> {
    let device = crate::train::device::DeviceChoice::cpu("predictions").device;
    let ds = crate::project::read_for_model(model, data)?;
    let inf = crate::train::infer(model, &ds, &device)?;
    let (header, rows) = crate::export::predictions_table(model, &ds.ids, &inf);
    let out = output_path(data);
    crate::export::write_csv(&out, &header, &rows).map_err(|e| e.to_string())?;
    Ok(PredictionResult {
        data: data.to_path_buf(),
        out,
        count: rows.len(),
        rows: rows.into_iter().take(SHOWN_ROWS).collect(),
        header,
    })
}

pub fn show(ui: &mut egui::Ui, app: &mut LaminaApp) {
    app.predict.poll();
    ui.strong("Use a model on new data");
    match &app.predict.model {
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
    ui.horizontal(|ui| {
        if let Some(o) = &app.training.outcome
            && ui.button("Use the model just trained").clicked()
        {
            app.predict.model = Some(("trained in this window".into(), o.model.clone()));
            app.predict.result = None;
        }
        if ui.button("Open model folder…").clicked() {
            app.ask(Purpose::OpenModel, ui.ctx());
        }
    });
    let ready = app.predict.model.is_some() && !app.predict.is_running();
    if ui
        .add_enabled(ready, egui::Button::new("Predict on a file…"))
        .on_hover_text("Choose a file of the kind the model was trained on; the predictions are saved beside it")
        .clicked()
    {
        app.ask(Purpose::PredictData, ui.ctx());
    }
    if app.predict.is_running() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("predicting…");
        });
    }
    if let Some(e) = &app.predict.error {
        ui.colored_label(egui::Color32::from_rgb(220, 60, 60), e);
    }
    if let Some(r) = &app.predict.result {
        ui.label(format!(
            "{} predictions for {} saved to {}",
            r.count,
            r.data.display(),
            r.out.display()
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
}
