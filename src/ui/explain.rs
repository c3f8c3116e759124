//! The Explain view: what the model in use (the one trained in the window,
//! or a model folder opened) looks at, on the validation samples of the
//! loaded data (split as the run split them) or on a file chosen. For a
//! sequence: its letters with the attribution of each position and the
//! in-silico mutagenesis map aligned under them, and the first layer's
//! filters as logos; for an image: the attribution and Grad-CAM over it; for
//! a table: the features ranked per class and the sample's own top ones.
//!
//! The panel edits [`ExplainState`] and returns what the user asked for. The
//! explanation is one background job ([`ExplainState::job`]) that runs
//! `explain::explain`, the engine call `lamina explain` makes, and prepares
//! everything the view draws (letters, tracks, overlay pictures), so a
//! frame only paints. Exports go through `export::explain`, the CLI's writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use super::Action;
use super::dialogs::Purpose;
use super::tasks::{Done, Kind, Tasks};
use crate::data::{DataKind, Dataset, Labels};
use crate::explain::{self, Baseline, Explained, Explanation, Method};
use crate::train::{DevicePreference, TrainedModel};

/// At most this many samples are explained at once (images: [`IMAGES_AT_MOST`]).
pub const SAMPLES_AT_MOST: usize = 500;
/// Images explained at once, at most (each keeps two overlay pictures).
pub const IMAGES_AT_MOST: usize = 64;

/// Where the samples explained come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The loaded data's validation samples, as the run split them.
    #[default]
    Validation,
    /// A file chosen.
    File,
}

/// The choices of an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub source: Source,
    /// The file, as typed or chosen, and the model's joined tables for it.
    pub file: String,
    pub joined: Vec<String>,
    /// Integrated gradients (else gradient × input).
    pub integrated: bool,
    pub shuffled_baseline: bool,
    pub steps: usize,
    /// The class explained; none: each sample's predicted class.
    pub class: Option<usize>,
    /// Samples explained, at most (the first ones).
    pub samples: usize,
    /// Sequences mutated, at most (the first ones).
    pub mutated: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: Source::Validation,
            file: String::new(),
            joined: Vec::new(),
            integrated: true,
            shuffled_baseline: false,
            steps: 50,
            class: None,
            samples: 100,
            mutated: 20,
        }
    }
}

/// Which map lies over an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageMap {
    #[default]
    Attribution,
    GradCam,
}

/// The Explain view's state: its choices, the explanation shown and what is
/// selected in it.
#[derive(Default)]
pub struct ExplainState {
    pub settings: Settings,
    /// The settings the shown explanation was made with.
    made_with: Option<Settings>,
    pub result: Option<Arc<ExplainResult>>,
    pub error: Option<String>,
    /// The sample shown.
    pub sample: usize,
    /// The class whose ranked features a table shows.
    pub ranked_class: usize,
    /// The first-layer filter selected (for its logo's export).
    pub filter: usize,
    pub image_map: ImageMap,
    /// The overlay picture on screen: for which sample and map.
    texture: Option<((usize, ImageMap), egui::TextureHandle)>,
}

/// An explanation made, with what the view draws of it.
pub struct ExplainResult {
    /// What was explained, in words.
    pub what: String,
    /// The samples explained, as read.
    pub data: Dataset,
    pub classes: Vec<String>,
    pub explanation: Explanation,
    /// Each sequence's letters (sequences only).
    pub letters: Vec<Vec<char>>,
    /// Each sample's attribution per position (summed over letters), pixel
    /// (summed over channels, absolute) or feature.
    pub tracks: Vec<Vec<f32>>,
    /// Each image's overlays: of its attribution and of its Grad-CAM map.
    pub overlays: Vec<[Option<egui::ColorImage>; 2]>,
    /// The device it ran on, and how long it took.
    pub device: String,
    pub seconds: f64,
}

impl ExplainResult {
    /// The output sample `s` was explained for, by name, and its score.
    pub fn target(&self, s: usize) -> Option<(String, f32)> {
        let (targets, scores) = self.explanation.targets()?;
        let t = *targets.get(s)?;
        let name = self
            .classes
            .get(t)
            .cloned()
            .unwrap_or_else(|| format!("output {t}"));
        Some((name, scores[s]))
    }

    /// Sample `s` as the list names it: its id, true class, and the class explained.
    pub fn sample_name(&self, s: usize) -> String {
        let mut name = self.data.ids[s].clone();
        if let Labels::Classes { index, names } = &self.data.labels
            && let Some(c) = index.get(s).and_then(|&c| names.get(c))
        {
            name.push_str(&format!(" (true: {c})"));
        }
        if let Some((class, score)) = self.target(s) {
            name.push_str(&format!(", explained for {class}: {score:.3}"));
        }
        name
    }

    /// Sample `s`'s mutagenesis map (`positions × letters`), when it was mutated.
    pub fn effects(&self, s: usize) -> Option<&[f32]> {
        let m = self.explanation.mutagenesis.as_ref()?;
        if s >= m.samples() {
            return None;
        }
        let block = m.length * m.letters.len();
        Some(&m.effects[s * block..(s + 1) * block])
    }

    /// The letters of the model's one-hot channels.
    pub fn alphabet(&self) -> &[String] {
        match &self.explanation.mutagenesis {
            Some(m) => &m.letters,
            None => &self.data.feature_names,
        }
    }

    /// Sample `s` as `export::explain` writes one sequence.
    pub fn sequence(&self, s: usize) -> Option<crate::export::explain::SequenceExplained<'_>> {
        let letters = self.letters.get(s)?;
        let title = match self.target(s) {
            Some((class, score)) => format!(
                "{}: explained for {class} (score {score:.3})",
                self.data.ids[s]
            ),
            None => self.data.ids[s].clone(),
        };
        Some(crate::export::explain::SequenceExplained {
            title,
            letters,
            track: self.tracks.get(s).map(Vec::as_slice).unwrap_or_default(),
            effects: self.effects(s),
            alphabet: self.alphabet(),
        })
    }

    /// Sample `s`'s map over the image (`h × w`): its absolute attribution,
    /// or its Grad-CAM map.
    pub fn image_map(&self, s: usize, which: ImageMap) -> Option<(&[f32], usize, usize)> {
        let [_, h, w] = self.data.shape[..] else {
            return None;
        };
        match which {
            ImageMap::Attribution => self.tracks.get(s).map(|t| (t.as_slice(), h, w)),
            ImageMap::GradCam => {
                let cam = self.explanation.gradcam.as_ref()?;
                let plane = h * w;
                cam.maps.get(s * plane..(s + 1) * plane).map(|m| (m, h, w))
            }
        }
    }
}

/// The model the Explain view explains: the one in use for predictions
/// (opened, or chosen), else the one just trained.
pub fn model_in_use<'a>(
    predict: &'a super::predict::PredictState,
    training: &'a super::TrainingState,
) -> Option<(&'a str, &'a TrainedModel)> {
    match (&predict.model, &training.outcome) {
        (Some((source, m)), _) => Some((source.as_str(), m)),
        (None, Some(o)) => Some(("trained in this window", &o.model)),
        (None, None) => None,
    }
}

/// Why the loaded data's validation samples cannot be explained by `model`
/// (none: they can).
pub fn no_validation(loaded: Option<&Dataset>, model: &TrainedModel) -> Option<String> {
    let Some(ds) = loaded else {
        return Some("No data is loaded: choose a file to explain instead.".into());
    };
    if ds.shape != model.input_shape {
        return Some(format!(
            "The loaded data's samples are shaped {:?}, the model's {:?}: choose a file to explain instead.",
            ds.shape, model.input_shape
        ));
    }
    None
}

/// What the view needs of the window besides its own state.
pub struct Context<'a> {
    /// The model in use and where it came from.
    pub model: Option<(&'a str, &'a TrainedModel)>,
    /// Why the loaded data's validation samples cannot be explained (none: they can).
    pub no_validation: Option<String>,
    /// A model was trained in this window.
    pub trained: bool,
    pub tasks: &'a Tasks,
}

impl ExplainState {
    /// A model (just trained, or opened) is in use from now on: the old
    /// explanation no longer applies.
    pub fn set_model(&mut self, model: &TrainedModel) {
        self.settings.joined = vec![String::new(); model.experiment.data.joined.len()];
        self.settings.class = None;
        self.result = None;
        self.made_with = None;
        self.error = None;
        self.texture = None;
    }

    /// A file chosen for the data or a joined table (`purpose`).
    pub fn choose(&mut self, purpose: Purpose, path: &Path) {
        let shown = path.display().to_string();
        match purpose {
            Purpose::ExplainData => {
                self.settings.file = shown;
                self.settings.source = Source::File;
            }
            Purpose::ExplainJoined(k) => {
                if let Some(p) = self.settings.joined.get_mut(k) {
                    *p = shown;
                }
            }
            _ => {}
        }
    }

    /// What still has to be given before explaining, in words (none: ready).
    fn missing(&self, cx: &Context) -> Option<String> {
        let Some((_, model)) = cx.model else {
            return Some("Train a model, or open a model folder in the Predict view".into());
        };
        match self.settings.source {
            Source::Validation => cx.no_validation.clone(),
            Source::File if self.settings.file.trim().is_empty() => {
                Some("Give the file to explain".into())
            }
            Source::File => model
                .experiment
                .data
                .joined
                .iter()
                .zip(&self.settings.joined)
                .find(|(_, p)| p.trim().is_empty())
                .map(|(j, _)| format!("Give the table '{}' too", j.name)),
        }
    }

    /// The explanation the settings ask for, of `model`, as a job for a
    /// background thread; `loaded` is the window's data (for its validation
    /// samples).
    pub fn job(
        &mut self,
        model: &TrainedModel,
        loaded: Option<Arc<Dataset>>,
        device: DevicePreference,
    ) -> impl FnOnce() -> Result<Done, String> + Send + use<> {
        self.made_with = Some(self.settings.clone());
        self.error = None;
        let settings = self.settings.clone();
        let model = model.clone();
        move || {
            explain_job(&model, loaded.as_deref(), &settings, device)
                .map(|r| Done::Explained(Box::new(r)))
        }
    }

    /// An explanation came back: show it from its first sample.
    pub fn set_result(&mut self, result: ExplainResult) {
        self.sample = 0;
        self.filter = 0;
        self.ranked_class = result
            .explanation
            .targets()
            .and_then(|(t, _)| t.first().copied())
            .unwrap_or(0);
        self.texture = None;
        self.result = Some(Arc::new(result));
        self.error = None;
    }

    /// The job failed or was cancelled.
    pub fn set_error(&mut self, e: String) {
        self.error = Some(e);
        self.made_with = None;
    }
}

/// The samples `settings` asks for, read or taken from `loaded`, explained
/// by `model`, and what the view draws of them.
fn explain_job(
    model: &TrainedModel,
    loaded: Option<&Dataset>,
    settings: &Settings,
    device: DevicePreference,
) -> Result<ExplainResult, String> {
    let started = std::time::Instant::now();
    let choice = crate::train::device::choose(device)?;
    let (mut data, what) = match settings.source {
        Source::Validation => {
            let loaded = loaded.ok_or("load the data first")?;
            let valid = crate::train::split_of(&model.experiment, loaded).valid;
            if valid.is_empty() {
                return Err(format!(
                    "{} has no validation samples (the validation share is 0): choose a file to explain instead",
                    loaded.source.display()
                ));
            }
            let mut data = loaded.clone();
            data.retain(&valid);
            let what = format!("validation samples of {}", loaded.source.display());
            (data, what)
        }
        Source::File => {
            let joined: Vec<PathBuf> = settings
                .joined
                .iter()
                .map(|p| PathBuf::from(p.trim()))
                .collect();
            let path = PathBuf::from(settings.file.trim());
            let data = crate::project::read_joined_for_model(model, &path, &joined)?;
            (data, format!("{}", path.display()))
        }
    };
    let limit = settings.samples.clamp(
        1,
        match data.kind {
            DataKind::Images => IMAGES_AT_MOST,
            _ => SAMPLES_AT_MOST,
        },
    );
    let total = data.len();
    if total > limit {
        data.retain(&(0..limit).collect::<Vec<_>>());
    }
    let what = if total > limit {
        format!("the first {limit} of {total} {what}")
    } else {
        format!("{total} {what}")
    };
    // Permutation importance against the true classes when the data has
    // them in the model's order; else against the model's own predictions.
    let labels = match &data.labels {
        Labels::Classes { names, .. } if *names == model.class_names => Some(data.labels.clone()),
        Labels::Values(_) if model.class_names.is_empty() => Some(data.labels.clone()),
        _ => None,
    };
    let method = if settings.integrated {
        Method::IntegratedGradients {
            steps: settings.steps.max(1),
            baseline: if settings.shuffled_baseline {
                Baseline::Shuffled { seed: 0 }
            } else {
                Baseline::Zeros
            },
        }
    } else {
        Method::GradientTimesInput
    };
    let request = explain::Request {
        explained: match settings.class {
            Some(c) => Explained::Output(c),
            None => Explained::Predicted,
        },
        attributions: Some(method),
        mutagenesis: if data.kind == DataKind::Sequences {
            settings.mutated.min(data.len())
        } else {
            0
        },
        top: 100,
        labels,
    };
    let explanation =
        explain::explain(model, &data, &request, &choice.device).map_err(|e| e.to_string())?;
    if crate::data::progress::cancelled() {
        return Err(crate::data::progress::CANCELLED.into());
    }
    let (summed, width) = explanation
        .attributions
        .as_ref()
        .map(|a| a.summed())
        .unwrap_or_default();
    let mut tracks: Vec<Vec<f32>> = summed.chunks(width.max(1)).map(<[f32]>::to_vec).collect();
    let letters = match data.kind {
        DataKind::Sequences => (0..data.len())
            .map(|s| data.sequence_letters(s).chars().collect())
            .collect(),
        _ => Vec::new(),
    };
    let mut overlays = Vec::new();
    if let [_, h, w] = data.shape[..] {
        for t in &mut tracks {
            t.iter_mut().for_each(|v| *v = v.abs());
        }
        let picture = |image: &[f32], map: &[f32]| {
            let rgb = crate::export::explain::overlay_rgb(image, map, h, w);
            let size = [rgb.width() as usize, rgb.height() as usize];
            egui::ColorImage::from_rgb(size, rgb.as_raw())
        };
        for (s, track) in tracks.iter().enumerate() {
            let image = data.sample(s);
            let cam = explanation
                .gradcam
                .as_ref()
                .map(|c| &c.maps[s * h * w..(s + 1) * h * w]);
            overlays.push([
                Some(picture(&image, track)),
                cam.map(|m| picture(&image, m)),
            ]);
        }
    }
    Ok(ExplainResult {
        what,
        classes: model.class_names.clone(),
        data,
        explanation,
        letters,
        tracks,
        overlays,
        device: choice.name,
        seconds: started.elapsed().as_secs_f64(),
    })
}

const RED: egui::Color32 = egui::Color32::from_rgb(220, 60, 60);

/// The view. Returns what the user asked for.
pub fn show(ui: &mut egui::Ui, state: &mut ExplainState, cx: &Context) -> Option<Action> {
    let mut action = None;
    ui.strong("What did the model learn?");
    match cx.model {
        Some((source, m)) => {
            ui.label(format!("Model: {source}"));
            ui.weak(format!(
                "{:?} of samples shaped {:?}",
                m.experiment.task, m.input_shape
            ));
        }
        None => {
            ui.weak("No model yet: train one here, or open a model folder in the Predict view.");
        }
    }
    if cx.trained && ui.button("Use the model just trained").clicked() {
        action = Some(Action::UseTrainedModel);
    }
    if let Some((_, model)) = cx.model
        && let Some(a) = settings(ui, &mut state.settings, model, cx)
    {
        action = Some(a);
    }
    let missing = state.missing(cx);
    let running = cx.tasks.is_running(Kind::Explain);
    let button = ui
        .add_enabled(
            missing.is_none() && !running,
            egui::Button::new("Explain"),
        )
        .on_hover_text("Computes the attributions (and for sequences the mutagenesis maps and motifs, for images Grad-CAM, for tables the ranked features) on a background thread");
    if let Some(why) = &missing {
        button.on_disabled_hover_text(why);
        if cx.model.is_some() {
            ui.weak(why);
        }
    } else if button.clicked() {
        action = Some(Action::Explain);
    }
    if cx.tasks.show(ui, Kind::Explain) {
        action = Some(Action::Cancel(Kind::Explain));
    }
    if let Some(e) = &state.error {
        ui.colored_label(RED, e);
    }
    let Some(result) = state.result.clone() else {
        return action;
    };
    ui.separator();
    ui.label(format!(
        "Explained {} on {} in {:.1} s",
        result.what, result.device, result.seconds
    ));
    if state.made_with.as_ref() != Some(&state.settings) {
        ui.weak("The settings have changed since: press Explain to explain again.");
    }
    for note in &result.explanation.notes {
        ui.weak(note);
    }
    if let Some(a) = explanation(ui, state, &result) {
        action = Some(a);
    }
    action
}

/// The choices: which samples, which method, which class.
fn settings(
    ui: &mut egui::Ui,
    s: &mut Settings,
    model: &TrainedModel,
    cx: &Context,
) -> Option<Action> {
    let mut action = None;
    egui::Grid::new("explain_settings")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Samples");
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut s.source, Source::Validation, "validation samples of the loaded data")
                        .on_hover_text("The samples the run validated on, split as training split them");
                    ui.radio_value(&mut s.source, Source::File, "a file");
                });
                if let (Source::Validation, Some(why)) = (s.source, &cx.no_validation) {
                    ui.weak(why);
                }
                if s.source == Source::File {
                    ui.horizontal(|ui| {
                        let name = ui.label("File");
                        ui.add(
                            egui::TextEdit::singleline(&mut s.file)
                                .hint_text("a file of the kind the model was trained on")
                                .desired_width(300.0),
                        )
                        .labelled_by(name.id);
                        if ui.button("Choose…").clicked() {
                            action = Some(Action::Ask(Purpose::ExplainData));
                        }
                    });
                    s.joined.resize(model.experiment.data.joined.len(), String::new());
                    for (k, j) in model.experiment.data.joined.iter().enumerate() {
                        ui.horizontal(|ui| {
                            ui.label(format!("Table '{}'", j.name));
                            ui.add(
                                egui::TextEdit::singleline(&mut s.joined[k])
                                    .hint_text("the same samples, joined by sample id")
                                    .desired_width(260.0),
                            );
                            if ui.button("Choose…").clicked() {
                                action = Some(Action::Ask(Purpose::ExplainJoined(k)));
                            }
                        });
                    }
                }
                ui.horizontal(|ui| {
                    ui.label("at most");
                    ui.add(egui::DragValue::new(&mut s.samples).range(1..=SAMPLES_AT_MOST))
                        .on_hover_text(format!("The first ones are explained (images: at most {IMAGES_AT_MOST})"));
                    if model.input_shape.len() == 2 {
                        ui.label("of which mutated");
                        ui.add(egui::DragValue::new(&mut s.mutated).range(0..=SAMPLES_AT_MOST))
                            .on_hover_text("In-silico mutagenesis changes every position to every other letter: one pass of the network per change");
                    }
                });
            });
            ui.end_row();
            ui.label("Method");
            ui.horizontal(|ui| {
                ui.radio_value(&mut s.integrated, true, "integrated gradients")
                    .on_hover_text("The gradient averaged along the path from a baseline to the sample, times their difference; the attributions add up to the score minus the baseline's");
                ui.radio_value(&mut s.integrated, false, "gradient × input")
                    .on_hover_text("One pass: fast, noisier");
                if s.integrated {
                    ui.label("steps");
                    ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000));
                    ui.label("baseline");
                    ui.radio_value(&mut s.shuffled_baseline, false, "zeros");
                    ui.radio_value(&mut s.shuffled_baseline, true, "shuffled")
                        .on_hover_text("The sample's own positions, pixels or values in random order");
                }
            });
            ui.end_row();
            ui.label("Explain the score of");
            let name = |c: Option<usize>| match c {
                None => "each sample's predicted class".to_string(),
                Some(c) => match model.class_names.get(c) {
                    Some(n) => format!("class {n}"),
                    None => format!("output {}", c + 1),
                },
            };
            let outputs = match model.target {
                crate::spec::shapes::Target::Classes(k) | crate::spec::shapes::Target::Values(k) => k,
                crate::spec::shapes::Target::Reconstruct => 0,
            };
            egui::ComboBox::from_id_salt("explain_class")
                .selected_text(name(s.class))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.class, None, name(None));
                    for c in 0..outputs {
                        ui.selectable_value(&mut s.class, Some(c), name(Some(c)));
                    }
                });
            ui.end_row();
        });
    action
}

/// The explanation shown: a sample picker and the view of its kind.
fn explanation(ui: &mut egui::Ui, state: &mut ExplainState, r: &ExplainResult) -> Option<Action> {
    let mut action = None;
    let n = r.data.len();
    state.sample = state.sample.min(n.saturating_sub(1));
    ui.horizontal(|ui| {
        ui.label("Sample");
        if ui
            .add_enabled(state.sample > 0, egui::Button::new("◀"))
            .clicked()
        {
            state.sample -= 1;
        }
        egui::ComboBox::from_id_salt("explain_sample")
            .selected_text(r.sample_name(state.sample))
            .width(420.0)
            .show_ui(ui, |ui| {
                for s in 0..n {
                    ui.selectable_value(&mut state.sample, s, r.sample_name(s));
                }
            });
        if ui
            .add_enabled(state.sample + 1 < n, egui::Button::new("▶"))
            .clicked()
        {
            state.sample += 1;
        }
        ui.weak(format!("{} of {n}", state.sample + 1));
    });
    match r.data.kind {
        DataKind::Sequences => {
            if let Some(seq) = r.sequence(state.sample) {
                sequence(ui, &seq);
                if seq.effects.is_none() && r.explanation.mutagenesis.is_some() {
                    ui.weak("This sequence was not mutated (only the first ones are: raise \"of which mutated\").");
                }
            }
            if let Some(motifs) = &r.explanation.motifs {
                ui.separator();
                logos(ui, motifs, r.alphabet(), &mut state.filter);
            }
        }
        DataKind::Images => image(ui, state, r),
        _ => table(ui, state, r),
    }
    ui.horizontal(|ui| {
        let (png, csv) = match r.data.kind {
            DataKind::Sequences => ("Save this sequence as PNG…", "Save this sequence as CSV…"),
            DataKind::Images => ("Save this overlay as PNG…", "Save this map as CSV…"),
            _ => ("Save the ranking as PNG…", "Save all rankings as CSV…"),
        };
        if ui.button(png).clicked() {
            action = Some(Action::Ask(Purpose::ExportExplainPng));
        }
        if ui.button(csv).clicked() {
            action = Some(Action::Ask(Purpose::ExportExplainCsv));
        }
        if r.explanation.motifs.is_some() {
            if ui.button("Save motifs (MEME)…").clicked() {
                action = Some(Action::Ask(Purpose::ExportMotifs));
            }
            if ui.button("Save this logo as PNG…").clicked() {
                action = Some(Action::Ask(Purpose::ExportLogoPng));
            }
        }
        if ui
            .button("Save everything…")
            .on_hover_text("Into a folder, as `lamina explain` writes it: attributions.npy/.csv, explained.csv and what else was made")
            .clicked()
        {
            action = Some(Action::Ask(Purpose::ExportExplanation));
        }
    });
    action
}

/// Width of a position, and of the labels left of the tracks.
const CELL: f32 = 13.0;
const LABELS: f32 = 84.0;

fn color([r, g, b]: [u8; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(r, g, b)
}

/// A sequence: the attribution of each position as bars (up: for the
/// score, down: against), the letters, and the mutagenesis map (a row per
/// letter substituted), aligned position by position, scrolled sideways.
fn sequence(ui: &mut egui::Ui, s: &crate::export::explain::SequenceExplained) {
    let n = s.letters.len().max(s.track.len());
    let a = s.alphabet.len();
    let track_h = 80.0;
    let letters_h = 16.0;
    let rows = if s.effects.is_some() { a } else { 0 };
    let height = track_h + letters_h + rows as f32 * CELL + 18.0;
    ui.weak("Attribution of each position: up = raises the score, down = lowers it. Below: the change of the score when the position is changed to each letter (blue lower, red higher; the sequence's own letter is outlined).");
    egui::ScrollArea::horizontal()
        .id_salt("explain_sequence")
        .show(ui, |ui| {
            let (rect, response) = ui.allocate_exact_size(
                egui::vec2(LABELS + n as f32 * CELL + 8.0, height),
                egui::Sense::hover(),
            );
            let painter = ui.painter_at(rect);
            let text = ui.visuals().text_color();
            let weak = ui.visuals().weak_text_color();
            let font = egui::FontId::monospace(10.0);
            let x0 = rect.min.x + LABELS;
            let zero = rect.min.y + track_h / 2.0;
            let top = s.track.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
            painter.text(
                egui::pos2(x0 - 6.0, zero),
                egui::Align2::RIGHT_CENTER,
                "attribution",
                font.clone(),
                text,
            );
            painter.text(
                egui::pos2(x0 - 6.0, rect.min.y + 4.0),
                egui::Align2::RIGHT_TOP,
                format!("{top:.3}"),
                font.clone(),
                weak,
            );
            painter.line_segment(
                [egui::pos2(x0, zero), egui::pos2(x0 + n as f32 * CELL, zero)],
                egui::Stroke::new(1.0, weak),
            );
            for (p, &v) in s.track.iter().enumerate() {
                let h = v / top * (track_h / 2.0 - 4.0);
                let x = x0 + p as f32 * CELL;
                let (y0, y1) = if h >= 0.0 {
                    (zero - h, zero)
                } else {
                    (zero, zero - h)
                };
                painter.rect_filled(
                    egui::Rect::from_min_max(
                        egui::pos2(x, y0),
                        egui::pos2(x + CELL - 1.0, y1.max(y0 + 1.0)),
                    ),
                    0.0,
                    color(crate::export::diverging_color(v / top)),
                );
            }
            let letters_y = rect.min.y + track_h;
            // The logos' letter colours, lightened on a dark background.
            let dark = ui.visuals().dark_mode;
            for (p, l) in s.letters.iter().enumerate() {
                let x = x0 + (p as f32 + 0.5) * CELL;
                let [r, g, b] = crate::export::letter_rgb(&l.to_string());
                let c = if dark {
                    let light = |v: u8| (v as f32 * 0.55 + 255.0 * 0.45) as u8;
                    egui::Color32::from_rgb(light(r), light(g), light(b))
                } else {
                    egui::Color32::from_rgb(r, g, b)
                };
                painter.text(
                    egui::pos2(x, letters_y + letters_h / 2.0),
                    egui::Align2::CENTER_CENTER,
                    l.to_string(),
                    egui::FontId::monospace(12.0),
                    c,
                );
                if p % 10 == 9 {
                    painter.text(
                        egui::pos2(x, rect.max.y - 2.0),
                        egui::Align2::CENTER_BOTTOM,
                        format!("{}", p + 1),
                        font.clone(),
                        weak,
                    );
                }
            }
            let map_y = letters_y + letters_h;
            if let Some(effects) = s.effects {
                let top = effects.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
                for (k, letter) in s.alphabet.iter().enumerate() {
                    let y = map_y + k as f32 * CELL;
                    painter.text(
                        egui::pos2(x0 - 6.0, y + CELL / 2.0),
                        egui::Align2::RIGHT_CENTER,
                        format!("to {letter}"),
                        font.clone(),
                        text,
                    );
                    for p in 0..effects.len() / a.max(1) {
                        let cell = egui::Rect::from_min_size(
                            egui::pos2(x0 + p as f32 * CELL, y),
                            egui::vec2(CELL - 1.0, CELL - 1.0),
                        );
                        painter.rect_filled(
                            cell,
                            0.0,
                            color(crate::export::diverging_color(effects[p * a + k] / top)),
                        );
                        if s.letters.get(p).is_some_and(|c| c.to_string() == *letter) {
                            painter.rect_stroke(
                                cell,
                                0.0,
                                egui::Stroke::new(1.0, text),
                                egui::StrokeKind::Inside,
                            );
                        }
                    }
                }
            }
            if let Some(pos) = response.hover_pos() {
                let p = ((pos.x - x0) / CELL).floor();
                if p >= 0.0 && (p as usize) < n {
                    let p = p as usize;
                    let mut tip = format!(
                        "position {}: {}",
                        p + 1,
                        s.letters.get(p).map(char::to_string).unwrap_or_default()
                    );
                    if let Some(v) = s.track.get(p) {
                        tip.push_str(&format!("\nattribution {v:.4}"));
                    }
                    if let Some(effects) = s.effects {
                        for (k, letter) in s.alphabet.iter().enumerate() {
                            if let Some(e) = effects.get(p * a + k) {
                                tip.push_str(&format!("\nto {letter}: {e:+.4}"));
                            }
                        }
                    }
                    response.on_hover_text(tip);
                }
            }
        });
}

/// The first convolution's filters as sequence logos; a click selects one.
fn logos(
    ui: &mut egui::Ui,
    motifs: &[crate::explain::Motif],
    alphabet: &[String],
    selected: &mut usize,
) {
    ui.strong(format!(
        "Motifs of the first convolution's {} filters (from the windows that activate each most)",
        motifs.len()
    ));
    *selected = (*selected).min(motifs.len().saturating_sub(1));
    let bits = (alphabet.len().max(2) as f64).log2();
    ui.horizontal_wrapped(|ui| {
        for (i, m) in motifs.iter().enumerate() {
            let width = m.pwm.len().max(1) as f32 * 12.0;
            let (rect, response) =
                ui.allocate_exact_size(egui::vec2(width.max(90.0), 78.0), egui::Sense::click());
            let painter = ui.painter_at(rect);
            let stroke = if i == *selected {
                egui::Stroke::new(2.0, ui.visuals().selection.stroke.color)
            } else {
                egui::Stroke::new(1.0, ui.visuals().weak_text_color())
            };
            painter.rect_stroke(rect.shrink(1.0), 2.0, stroke, egui::StrokeKind::Inside);
            painter.text(
                rect.min + egui::vec2(4.0, 2.0),
                egui::Align2::LEFT_TOP,
                format!("filter {} ({} windows)", m.filter + 1, m.sites),
                egui::FontId::proportional(10.0),
                ui.visuals().text_color(),
            );
            let area = egui::Rect::from_min_max(
                rect.min + egui::vec2(3.0, 16.0),
                rect.max - egui::vec2(3.0, 3.0),
            );
            logo(&painter, area, &m.pwm, alphabet, bits);
            if response.clicked() {
                *selected = i;
            }
            response.on_hover_text(format!(
                "filter {}: its strongest activation {:.3}; click to select it for export",
                m.filter + 1,
                m.max_activation
            ));
        }
    });
}

/// One logo into `area`: at each position the letters stacked by their
/// share of its information content, the likeliest on top.
fn logo(
    painter: &egui::Painter,
    area: egui::Rect,
    pwm: &[Vec<f32>],
    alphabet: &[String],
    bits: f64,
) {
    let w = area.width() / pwm.len().max(1) as f32;
    let scale = area.height() as f64 / bits;
    for (p, row) in pwm.iter().enumerate() {
        let h = crate::export::logo_heights(row);
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| h[a].total_cmp(&h[b]));
        let mut y = area.max.y as f64;
        for i in order {
            let height = h[i] * scale;
            if height < 0.5 {
                continue;
            }
            let letter = alphabet.get(i).map(String::as_str).unwrap_or("?");
            let c = color(crate::export::letter_rgb(letter));
            let x0 = area.min.x + p as f32 * w + 0.5;
            let place = |(gx, gy): (f64, f64)| {
                egui::pos2(x0 + gx as f32 * (w - 1.0), (y - gy * height) as f32)
            };
            match crate::export::letter_shape(letter) {
                Some(pieces) => {
                    for piece in pieces {
                        let points: Vec<egui::Pos2> = piece.into_iter().map(place).collect();
                        painter.add(egui::Shape::convex_polygon(points, c, egui::Stroke::NONE));
                    }
                }
                None => {
                    let r = egui::Rect::from_two_pos(place((0.0, 0.0)), place((1.0, 1.0)));
                    painter.rect_filled(r, 0.0, c);
                    if r.height() > 8.0 {
                        painter.text(
                            r.center(),
                            egui::Align2::CENTER_CENTER,
                            letter,
                            egui::FontId::monospace(9.0),
                            egui::Color32::WHITE,
                        );
                    }
                }
            }
            y -= height;
        }
    }
}

/// An image with its attribution or Grad-CAM map over it.
fn image(ui: &mut egui::Ui, state: &mut ExplainState, r: &ExplainResult) {
    let has_cam = r.explanation.gradcam.is_some();
    ui.horizontal(|ui| {
        ui.label("Over the image");
        ui.radio_value(
            &mut state.image_map,
            ImageMap::Attribution,
            "attribution (absolute)",
        );
        ui.add_enabled_ui(has_cam, |ui| {
            ui.radio_value(
                &mut state.image_map,
                ImageMap::GradCam,
                "Grad-CAM (last convolution)",
            )
        });
    });
    if !has_cam {
        state.image_map = ImageMap::Attribution;
    }
    let key = (state.sample, state.image_map);
    let which = match state.image_map {
        ImageMap::Attribution => 0,
        ImageMap::GradCam => 1,
    };
    if state.texture.as_ref().is_none_or(|(k, _)| *k != key)
        && let Some(picture) = r.overlays.get(state.sample).and_then(|o| o[which].clone())
    {
        let texture =
            ui.ctx()
                .load_texture("explain_overlay", picture, egui::TextureOptions::NEAREST);
        state.texture = Some((key, texture));
    }
    if let Some((k, texture)) = &state.texture
        && *k == key
    {
        let size = texture.size_vec2();
        let fit = (360.0 / size.x.max(size.y)).min(2.0);
        ui.add(egui::Image::new((texture.id(), size * fit)));
        ui.weak("The image in grey; brighter colours where the map is larger.");
    }
}

/// A table: the features ranked for a class, and this sample's own.
fn table(ui: &mut egui::Ui, state: &mut ExplainState, r: &ExplainResult) {
    let Some(imp) = &r.explanation.importance else {
        return;
    };
    let classes = imp.classes.len();
    state.ranked_class = state.ranked_class.min(classes.saturating_sub(1));
    ui.columns(2, |cols| {
        let ui = &mut cols[0];
        ui.horizontal(|ui| {
            ui.strong("Features ranked for");
            egui::ComboBox::from_id_salt("explain_ranked_class")
                .selected_text(imp.classes.get(state.ranked_class).cloned().unwrap_or_default())
                .show_ui(ui, |ui| {
                    for (c, name) in imp.classes.iter().enumerate() {
                        ui.selectable_value(&mut state.ranked_class, c, name);
                    }
                });
        });
        let c = state.ranked_class;
        let f = imp.features.len();
        if imp.samples.get(c).copied().unwrap_or(0) == 0 {
            ui.weak("No sample was explained for this class.");
        } else {
            ui.weak(format!(
                "Mean |attribution| over the {} samples explained for it; permutation: the loss added when the feature is shuffled",
                imp.samples[c]
            ));
            let ranked = imp.ranked(c);
            let values: Vec<f32> = ranked.iter().map(|&j| imp.attribution[c * f + j]).collect();
            let names: Vec<String> = ranked.iter().map(|&j| imp.features[j].clone()).collect();
            let perm: Vec<f32> = ranked.iter().map(|&j| imp.permutation[c * f + j]).collect();
            bars(ui, "explain_ranked", &names, &values, Some(&perm));
        }
        let ui = &mut cols[1];
        ui.strong("This sample's features");
        ui.weak("Attribution to the score explained: positive raises it");
        if let Some(track) = r.tracks.get(state.sample) {
            let mut order: Vec<usize> = (0..track.len()).collect();
            order.sort_by(|&a, &b| track[b].abs().total_cmp(&track[a].abs()));
            let names: Vec<String> = order.iter().map(|&j| r.data.feature_names.get(j).cloned().unwrap_or_default()).collect();
            let values: Vec<f32> = order.iter().map(|&j| track[j]).collect();
            bars(ui, "explain_sample_features", &names, &values, None);
        }
    });
}

/// The first 20 `names` with a bar for each value (and a second column).
fn bars(ui: &mut egui::Ui, id: &str, names: &[String], values: &[f32], second: Option<&[f32]>) {
    let top = values.iter().take(20).fold(1e-12f32, |m, v| m.max(v.abs()));
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.weak("#");
        ui.weak("feature");
        ui.weak("");
        ui.weak("value");
        if second.is_some() {
            ui.weak("permutation");
        }
        ui.end_row();
        for (i, (name, &v)) in names.iter().zip(values).take(20).enumerate() {
            ui.label(format!("{}", i + 1));
            ui.label(name);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(120.0, 12.0), egui::Sense::hover());
            let w = (v.abs() / top * rect.width()).max(1.0);
            let fill = if v >= 0.0 {
                egui::Color32::from_rgb(70, 130, 230)
            } else {
                egui::Color32::from_rgb(210, 90, 70)
            };
            ui.painter().rect_filled(
                egui::Rect::from_min_size(rect.min, egui::vec2(w, rect.height())),
                0.0,
                fill,
            );
            ui.monospace(format!("{v:.4}"));
            if let Some(p) = second.and_then(|s| s.get(i)) {
                ui.monospace(if p.is_nan() {
                    "—".to_string()
                } else {
                    format!("{p:.4}")
                });
            }
            ui.end_row();
        }
    });
}

/// Write what the export `purpose` asks of the explanation shown (`state`)
/// to `path`; the message to show.
pub fn export(
    purpose: Purpose,
    path: &Path,
    state: &ExplainState,
) -> Result<impl FnOnce() -> Result<String, String> + Send + use<>, String> {
    let r = state
        .result
        .clone()
        .ok_or("explain first: there is nothing to save yet")?;
    let (sample, class, filter, map) = (
        state.sample,
        state.ranked_class,
        state.filter,
        state.image_map,
    );
    let path = path.to_path_buf();
    Ok(move || {
        use crate::export::explain as files;
        let shown = path.display().to_string();
        let e = |e: crate::export::ExportError| e.to_string();
        match purpose {
            Purpose::ExportExplanation => {
                let written = files::write_explanation(&path, &r.data, &r.classes, &r.explanation)
                    .map_err(e)?;
                Ok(format!(
                    "{} files of the explanation saved into {shown}",
                    written.len()
                ))
            }
            Purpose::ExportMotifs => {
                let motifs = r
                    .explanation
                    .motifs
                    .as_ref()
                    .ok_or("this model has no motifs")?;
                let text = explain::meme(motifs, r.alphabet());
                crate::spec::write_atomic(&path, text.as_bytes())
                    .map_err(|e| format!("cannot write {shown}: {e}"))?;
                Ok(format!(
                    "{} motifs saved to {shown} (MEME format, for Tomtom)",
                    motifs.len()
                ))
            }
            Purpose::ExportLogoPng => {
                let motifs = r
                    .explanation
                    .motifs
                    .as_ref()
                    .ok_or("this model has no motifs")?;
                let m = motifs.get(filter).ok_or("no filter is selected")?;
                let title = format!("filter {} ({} windows)", m.filter + 1, m.sites);
                crate::export::logo_png(&path, &m.pwm, r.alphabet(), &title).map_err(e)?;
                Ok(format!(
                    "the logo of filter {} saved to {shown}",
                    m.filter + 1
                ))
            }
            Purpose::ExportExplainPng | Purpose::ExportExplainCsv => {
                let png = purpose == Purpose::ExportExplainPng;
                match r.data.kind {
                    DataKind::Sequences => {
                        let s = r.sequence(sample).ok_or("no sequence is shown")?;
                        if png {
                            files::sequence_png(&path, &s).map_err(e)?;
                        } else {
                            files::sequence_csv(&path, &s).map_err(e)?;
                        }
                        Ok(format!("{} saved to {shown}", r.data.ids[sample]))
                    }
                    DataKind::Images => {
                        let (m, h, w) = r.image_map(sample, map).ok_or("no map is shown")?;
                        if png {
                            files::write_overlay(&path, &r.data.sample(sample), m, h, w)
                                .map_err(e)?;
                        } else {
                            files::map_csv(&path, m, h, w).map_err(e)?;
                        }
                        Ok(format!(
                            "the map of {} saved to {shown}",
                            r.data.ids[sample]
                        ))
                    }
                    _ => {
                        let imp = r
                            .explanation
                            .importance
                            .as_ref()
                            .ok_or("no ranking was made")?;
                        if png {
                            let f = imp.features.len();
                            let ranked = imp.ranked(class);
                            let names: Vec<String> =
                                ranked.iter().map(|&j| imp.features[j].clone()).collect();
                            let values: Vec<f32> = ranked
                                .iter()
                                .map(|&j| imp.attribution[class * f + j])
                                .collect();
                            let title = format!(
                                "Features ranked for {} (mean |attribution|)",
                                imp.classes.get(class).cloned().unwrap_or_default()
                            );
                            files::ranked_png(&path, &title, &names, &values).map_err(e)?;
                        } else {
                            files::write_importance(&path, imp).map_err(e)?;
                        }
                        Ok(format!("the ranking saved to {shown}"))
                    }
                }
            }
            _ => Err("not an export of the explanation".into()),
        }
    })
}
