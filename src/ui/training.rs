//! The training panel: settings, Start/Pause/Stop, progress with samples/s and
//! ETA, live loss and metric curves, and the latent-space map. Training runs on
//! the `train::Worker` thread; this only drains its events each frame.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::dialogs::Purpose;
use super::tasks::{Kind, Tasks};
use super::{Action, LaminaApp};
use crate::export::run::{self, RunRecord, RunWriter};
use crate::spec::{ClassWeights, Optimizer, Schedule, TrainSpec};
use crate::train::{
    AttentionSnapshot, Command, DevicePreference, EpochMetrics, Event, GanSnapshot, Job,
    LatentSnapshot, Outcome, Progress, ReconstructionSnapshot, StartInfo, TrainedModel, Worker,
};

/// Which result the training panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultView {
    #[default]
    Curves,
    Latent,
    Reconstructions,
    Attention,
    Confusion,
    Evaluation,
    Sweep,
    Generated,
    Play,
    Predict,
    Explain,
}

/// A run in progress or finished, as the window shows it.
#[derive(Default)]
pub struct TrainingState {
    worker: Option<Worker>,
    /// The run folder being written, or the one opened.
    pub run_dir: Option<std::path::PathBuf>,
    /// The classes of the run (from its data, or its saved model).
    pub class_names: Vec<String>,
    /// A message from the run that did not stop it (e.g. its folder could not be written).
    pub note: Option<String>,
    /// The epoch of the run's latest checkpoint, which it can be resumed from.
    pub checkpoint_epoch: Option<usize>,
    pub device: DevicePreference,
    pub started: Option<StartInfo>,
    pub progress: Option<Progress>,
    pub history: Vec<EpochMetrics>,
    /// A saved model folder to start the next run from (fine-tuning).
    pub init_from: Option<std::path::PathBuf>,
    /// As typed, and what is wrong with it (checked when it changes).
    pub init_from_text: String,
    pub init_from_problem: Option<String>,
    /// The split the Evaluation view shows.
    pub evaluation_split: super::evaluation::Which,
    /// Running training loss reported within epochs, `[fractional epoch, loss]`.
    pub running: Vec<[f64; 2]>,
    pub latent: Option<(LatentSnapshot, Vec<[f64; 2]>)>,
    /// The newest latent snapshot, until a projection job takes it.
    unprojected: Option<LatentSnapshot>,
    pub reconstructions: Option<ReconstructionSnapshot>,
    pub attention: Option<AttentionSnapshot>,
    /// GAN: the latest generated samples, and `[epoch, correlation-structure r,
    /// spread ratio]` of every snapshot so far.
    pub gan: Option<GanSnapshot>,
    pub gan_history: Vec<[f64; 3]>,
    /// Reinforcement learning: every finished episode so far.
    pub episodes: Vec<crate::train::dqn::EpisodeReport>,
    /// The episode shown in the play view: its frames, return and start time.
    pub playback: Option<super::rl::Playback>,
    /// Textures of the shown generated and real images, and their epoch.
    #[allow(clippy::type_complexity)]
    pub gan_textures: Option<(usize, Vec<egui::TextureHandle>, Vec<egui::TextureHandle>)>,
    /// Textures of the shown reconstructions (input, output) and their epoch.
    recon_textures: Option<(usize, Vec<(egui::TextureHandle, egui::TextureHandle)>)>,
    pub paused: bool,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// Time the UI thread spent on its slowest frame while training ran, and
    /// the number of such frames, for the responsiveness report.
    pub max_frame_ms: f64,
    pub frames_while_training: usize,
}

impl TrainingState {
    pub fn is_running(&self) -> bool {
        self.worker.is_some()
    }

    /// Train `job` into a new run folder `dir` (under `base`, the folder the
    /// experiment's relative data paths are relative to).
    pub fn start(&mut self, job: Job, dir: &std::path::Path, base: &std::path::Path) {
        let device = job.device;
        *self = TrainingState {
            device,
            init_from: job.init_from_folder.clone(),
            init_from_text: std::mem::take(&mut self.init_from_text),
            class_names: job.dataset.labels.class_names().to_vec(),
            ..Default::default()
        };
        match RunWriter::create(dir, &job.experiment, base) {
            Ok(writer) => {
                self.run_dir = Some(dir.to_path_buf());
                self.worker = Some(run::record(job, writer));
            }
            Err(e) => self.error = Some(format!("Cannot start training: {e}")),
        }
    }

    /// Start the next runs from the saved model in `dir` (a path typed or
    /// chosen); a folder without weights is refused with a reason.
    pub fn choose_init_from(&mut self, dir: &std::path::Path) {
        self.init_from_text = dir.display().to_string();
        // One look at the folder when it is chosen, not every frame.
        if dir.join("weights.safetensors").is_file() {
            self.init_from = Some(dir.to_path_buf());
            self.init_from_problem = None;
        } else {
            self.init_from = None;
            self.init_from_problem = Some(format!(
                "{} is not a saved model folder (it has no weights.safetensors)",
                dir.display()
            ));
        }
    }

    /// Continue the interrupted run in `dir` from its checkpoint, on `dataset`
    /// (read from the run's experiment); `epochs` may be more than it planned.
    pub fn resume(
        &mut self,
        dir: &std::path::Path,
        dataset: std::sync::Arc<crate::data::Dataset>,
        epochs: usize,
    ) -> Result<(), String> {
        let (writer, mut exp, ck) = RunWriter::resume(dir).map_err(|e| e.to_string())?;
        exp.training.epochs = epochs.max(ck.state.epoch + 1);
        let mut job = Job::new(exp, dataset, self.device);
        job.yield_to_window = true;
        let kept = ck.state.history.clone();
        job.resume = Some(Box::new(ck));
        let device = self.device;
        *self = TrainingState {
            device,
            class_names: job.dataset.labels.class_names().to_vec(),
            history: kept,
            run_dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        self.worker = Some(run::record(job, writer));
        Ok(())
    }

    /// The state of a run read back from its folder (`model`: its trained
    /// model, when it has one that loads).
    pub fn from_record(
        record: RunRecord,
        model: Option<TrainedModel>,
        latent_points: Option<Vec<[f64; 2]>>,
        device: DevicePreference,
    ) -> TrainingState {
        let class_names = model
            .as_ref()
            .map(|m| m.class_names.clone())
            .unwrap_or_else(|| record.class_names());
        let samples_per_second = record
            .summary
            .as_ref()
            .map_or(0.0, |s| s.samples_per_second);
        let outcome = match (model, record.summary) {
            (Some(model), Some(summary)) => Some(Outcome {
                model,
                summary,
                history: record.history.clone(),
            }),
            _ => None,
        };
        let progress = record
            .history
            .last()
            .zip(record.started.as_ref())
            .map(|(m, s)| Progress {
                epoch: m.epoch,
                step: s.steps_per_epoch,
                steps_per_epoch: s.steps_per_epoch,
                epochs: s.epochs,
                loss: m.train.loss,
                samples_per_second,
                eta_seconds: 0.0,
            });
        let note = match (&outcome, &record.error) {
            (_, Some(e)) => Some(format!("This run failed: {e}")),
            (None, None) => Some(format!(
                "This run has no saved model: it was interrupted after {} epochs, or is still running.",
                record.history.len()
            )),
            _ => None,
        };
        TrainingState {
            device,
            checkpoint_epoch: record.checkpoint.as_ref().map(|c| c.epoch),
            run_dir: Some(record.dir),
            class_names,
            note,
            started: record.started,
            progress,
            latent: record.latent.zip(latent_points),
            reconstructions: record.reconstructions,
            attention: record.attention,
            gan: record.gan,
            gan_history: record.gan_history,
            episodes: record.episodes,
            history: record.history,
            outcome,
            ..Default::default()
        }
    }

    /// A latent snapshot that arrived and still needs its 2-D projection.
    pub fn take_unprojected(&mut self) -> Option<LatentSnapshot> {
        self.unprojected.take()
    }

    /// The projection of a snapshot is ready: show it.
    pub fn set_projection(&mut self, snapshot: LatentSnapshot, points: Vec<[f64; 2]>) {
        self.latent = Some((snapshot, points));
    }

    /// Record how long the UI thread took for one frame, while training runs.
    pub fn record_frame(&mut self, took: std::time::Duration) {
        if self.worker.is_some() {
            self.frames_while_training += 1;
            self.max_frame_ms = self.max_frame_ms.max(took.as_secs_f64() * 1000.0);
        }
    }

    pub fn send(&self, c: Command) {
        if let Some(w) = &self.worker {
            w.send(c);
        }
    }

    /// Drain the worker's events; called at the top of every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        let Some(worker) = &self.worker else {
            return;
        };
        let mut done = false;
        while let Some(event) = worker.try_recv() {
            match event {
                Event::Started(s) => self.started = Some(s),
                Event::Progress(p) => {
                    // Within an epoch: the running mean loss at a fractional epoch.
                    let x = (p.epoch - 1) as f64 + p.step as f64 / p.steps_per_epoch.max(1) as f64;
                    self.running.push([x, p.loss]);
                    self.progress = Some(p);
                }
                Event::Epoch(m) => self.history.push(m),
                // Projected off the UI thread; the map shows the last one meanwhile.
                Event::Latent(s) => self.unprojected = Some(s),
                Event::Reconstructions(r) => self.reconstructions = Some(r),
                Event::Attention(a) => self.attention = Some(a),
                Event::Episode(e) => self.episodes.push(e),
                Event::GanSamples(g) => {
                    self.gan_history.push([
                        g.epoch as f64,
                        g.structure_correlation,
                        g.spread_ratio,
                    ]);
                    self.gan = Some(g);
                }
                Event::Note(n) => self.note = Some(n),
                Event::Checkpoint(c) => self.checkpoint_epoch = Some(c.state.epoch),
                Event::Paused => self.paused = true,
                Event::Resumed => self.paused = false,
                Event::Finished(o) => {
                    self.outcome = Some(*o);
                    done = true;
                }
                Event::Failed(e) => {
                    self.error = Some(e);
                    done = true;
                }
            }
        }
        if done {
            self.worker = None;
            self.paused = false;
        } else {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }
}

impl LaminaApp {
    /// The result views the open experiment has now, with their tab names.
    pub fn result_views(&self) -> Vec<(ResultView, &'static str)> {
        use crate::spec::Task;
        let task = self.experiment.task;
        let t = &self.training;
        let mut views = vec![(ResultView::Curves, "Loss & accuracy")];
        if !matches!(task, Task::Gan | Task::Dqn) {
            views.push((ResultView::Latent, "Latent space"));
        }
        if t.reconstructions.is_some() {
            views.push((ResultView::Reconstructions, "Reconstructions"));
        }
        if t.attention.is_some() {
            views.push((ResultView::Attention, "Attention"));
        }
        if task == Task::Gan {
            views.push((ResultView::Generated, "Generated samples"));
        }
        if task == Task::Dqn {
            views.push((ResultView::Play, "Play an episode"));
        }
        if latest_confusion(t).is_some() {
            views.push((ResultView::Confusion, "Confusion matrix"));
        }
        if t.outcome
            .as_ref()
            .is_some_and(|o| o.summary.test.is_some() || o.summary.validation.is_some())
        {
            views.push((ResultView::Evaluation, "Evaluation"));
        }
        if !matches!(task, Task::Gan | Task::Dqn) {
            views.push((ResultView::Predict, "Predict"));
        }
        if matches!(task, Task::Classification | Task::Regression) {
            views.push((ResultView::Explain, "Explain"));
        }
        if self.sweep.is_some() {
            views.push((ResultView::Sweep, "Sweep"));
        }
        views
    }

    /// The training side of the workbench: its panels, each given its own
    /// state, and what they ask for carried out.
    pub(super) fn training_panel(&mut self, ui: &mut egui::Ui) {
        let app = self;
        egui::ScrollArea::vertical().show(ui, |ui| {
        ui.heading("Training");
        let cx = SettingsContext::of(&app.experiment, app.data.dataset.as_ref().map(|d| d.len()));
        settings(ui, &mut app.experiment.training, &mut app.training.device, &cx);
        ui.separator();
        let cx = ControlsContext {
            blocker: app.train_blocker(),
            data_ready: app.data.dataset.is_some(),
            supervised: !matches!(
                app.experiment.task,
                crate::spec::Task::Gan | crate::spec::Task::Dqn
            ),
            task: app.experiment.task,
            tasks: &app.tasks,
        };
        for action in controls(ui, &mut app.training, &cx) {
            app.apply(action, ui.ctx());
        }
        ui.separator();
        // Only the views this experiment's task has: a view left over from
        // the experiment shown before falls back to the curves.
        let views = app.result_views();
        if !views.iter().any(|(v, _)| *v == app.result_view) {
            app.result_view = ResultView::Curves;
        }
        // Wrapped: a run with every view has more tabs than a narrow panel is wide.
        ui.horizontal_wrapped(|ui| {
            for (view, name) in views {
                ui.selectable_value(&mut app.result_view, view, name);
            }
        });
        let classes = if app.training.class_names.is_empty() {
            app.data.dataset.as_ref().map(|d| d.labels.class_names().to_vec())
        } else {
            Some(app.training.class_names.clone())
        };
        match app.result_view {
            ResultView::Curves => curves(ui, &app.training, app.experiment.task),
            ResultView::Latent => {
                if app.training.latent.is_none() {
                    ui.weak("The latent map appears after the first epoch (it needs a validation share above 0).");
                }
                latent(ui, &app.training, classes, &mut app.latent_view);
            }
            ResultView::Reconstructions => reconstructions(ui, &mut app.training),
            ResultView::Attention => {
                let snap = app.training.attention.as_ref();
                if let Some(action) = super::attention::show(ui, snap, &mut app.attention_view) {
                    app.apply(action, ui.ctx());
                }
            }
            ResultView::Generated => {
                if let Some(action) = super::gan::show(ui, &mut app.training) {
                    app.apply(action, ui.ctx());
                }
            }
            ResultView::Play => {
                let trained = app.training.outcome.is_some();
                let playback = app.training.playback.as_ref();
                if let Some(action) = super::rl::play(ui, trained, playback, &app.tasks) {
                    app.apply(action, ui.ctx());
                }
            }
            ResultView::Predict => {
                let trained = app.training.outcome.is_some();
                if let Some(action) =
                    super::predict::show(ui, &mut app.predict, trained, &app.tasks)
                {
                    app.apply(action, ui.ctx());
                }
            }
            ResultView::Explain => {
                let model = super::explain::model_in_use(&app.predict, &app.training);
                let loaded = app.data.dataset.as_deref();
                let cx = super::explain::Context {
                    no_validation: model.and_then(|(_, m)| super::explain::no_validation(loaded, m)),
                    model,
                    trained: app.training.outcome.is_some() && app.predict.model.is_some(),
                    tasks: &app.tasks,
                };
                if let Some(action) = super::explain::show(ui, &mut app.explain, &cx) {
                    app.apply(action, ui.ctx());
                }
            }
            ResultView::Confusion => confusion(ui, &app.training, classes.unwrap_or_default()),
            ResultView::Sweep => {
                if let Some(view) = &mut app.sweep
                    && let Some(super::sweep::SweepAction::OpenRun(dir)) =
                        super::sweep::show(ui, view)
                {
                    app.open_run(&dir, ui.ctx());
                }
            }
            ResultView::Evaluation => {
                let t = &mut app.training;
                if let Some(o) = &t.outcome {
                    let s = &o.summary;
                    super::evaluation::show(
                        ui,
                        &mut t.evaluation_split,
                        s.test.as_ref(),
                        s.validation.as_ref(),
                        &s.kept_weights(),
                    );
                }
            }
        }
    });
    }
}

impl LaminaApp {
    /// Start training the experiment on its loaded data, if nothing blocks it.
    /// Continue the opened, interrupted run from its checkpoint.
    pub fn resume_training(&mut self) {
        let (Some(dir), Some(ds)) = (self.training.run_dir.clone(), self.data.dataset.clone())
        else {
            return;
        };
        let epochs = self.experiment.training.epochs;
        if let Err(e) = self.training.resume(&dir, ds, epochs) {
            self.message = Some((format!("Cannot resume: {e}"), true));
        }
    }

    pub fn start_training(&mut self) {
        if let Some(reason) = self.train_blocker() {
            self.message = Some((format!("Cannot train yet: {reason}"), true));
            return;
        }
        if let Some(ds) = self.data.dataset.clone() {
            let mut job = Job::new(self.experiment.clone(), ds, self.training.device);
            job.init_from_folder = self.training.init_from.clone();
            job.yield_to_window = true;
            let dir = crate::export::run::new_run_dir(&self.runs_dir(), &self.run_name());
            self.training.start(job, &dir, &self.base_dir());
        }
    }
}

/// Inputs beside the network's reconstructions: images side by side, other
/// data as input-vs-output scatter.
fn reconstructions(ui: &mut egui::Ui, t: &mut TrainingState) {
    let Some(r) = &t.reconstructions else { return };
    let n = r.ids.len();
    if n == 0 {
        return;
    }
    let len = r.inputs.len() / n;
    ui.strong(format!(
        "Reconstructions (validation samples, epoch {})",
        r.epoch
    ));
    if r.shape.len() == 3 {
        if t.recon_textures.as_ref().is_none_or(|(e, _)| *e != r.epoch) {
            let max = r.inputs.iter().fold(1e-6f32, |m, &v| m.max(v));
            let tex = |name: String, x: &[f32]| {
                ui.ctx().load_texture(
                    name,
                    super::data::to_color_image(x, &r.shape, max),
                    egui::TextureOptions::NEAREST,
                )
            };
            let pairs = (0..n)
                .map(|i| {
                    (
                        tex(format!("recon-in-{i}"), &r.inputs[i * len..(i + 1) * len]),
                        tex(format!("recon-out-{i}"), &r.outputs[i * len..(i + 1) * len]),
                    )
                })
                .collect();
            t.recon_textures = Some((r.epoch, pairs));
        }
        ui.label("Top: input · bottom: reconstruction");
        if let Some((_, pairs)) = &t.recon_textures {
            ui.horizontal_wrapped(|ui| {
                for (a, b) in pairs {
                    ui.vertical(|ui| {
                        ui.add(egui::Image::new(a).fit_to_exact_size(egui::vec2(56.0, 56.0)));
                        ui.add(egui::Image::new(b).fit_to_exact_size(egui::vec2(56.0, 56.0)));
                    });
                }
            });
        }
    } else {
        ui.label("Each point is one feature of one sample: input (x) against reconstruction (y); a good model lies on the diagonal.");
        Plot::new("recon_plot")
            .height(220.0)
            .data_aspect(1.0)
            .x_axis_label("input")
            .y_axis_label("reconstruction")
            .show(ui, |p| {
                let pts: Vec<[f64; 2]> = r
                    .inputs
                    .iter()
                    .zip(&r.outputs)
                    .map(|(&a, &b)| [a as f64, b as f64])
                    .collect();
                let (lo, hi) = pts
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p[0]), h.max(p[0])));
                p.line(Line::new(
                    "ideal",
                    PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                ));
                p.points(Points::new("features", PlotPoints::from(pts)).radius(1.5));
            });
    }
}

/// What the training settings depend on, read from the experiment and data.
pub(super) struct SettingsContext {
    pub task: crate::spec::Task,
    pub images: bool,
    /// The network has recurrent layers (gradient clipping matters).
    pub recurrent: bool,
    /// Samples in the data, when it is read.
    pub samples: Option<usize>,
}

impl SettingsContext {
    pub fn of(exp: &crate::spec::Experiment, samples: Option<usize>) -> SettingsContext {
        SettingsContext {
            task: exp.task,
            images: exp.data.format == crate::spec::DataFormat::ImageFolder,
            recurrent: exp.architecture.stacks.iter().any(|s| {
                s.layer_specs().any(|l| {
                    matches!(
                        l,
                        crate::spec::LayerSpec::Rnn { .. }
                            | crate::spec::LayerSpec::Lstm { .. }
                            | crate::spec::LayerSpec::Gru { .. }
                    )
                })
            }),
            samples,
        }
    }
}

/// The training settings: edits the experiment's training section and the
/// device choice in place.
pub(super) fn settings(
    ui: &mut egui::Ui,
    t: &mut TrainSpec,
    device: &mut DevicePreference,
    cx: &SettingsContext,
) {
    let gan = cx.task == crate::spec::Task::Gan;
    let dqn = cx.task == crate::spec::Task::Dqn;
    let images = cx.images;
    let classifier = cx.task == crate::spec::Task::Classification;
    let steps_per_epoch = cx
        .samples
        .map(|n| {
            let train = (n as f64 * (1.0 - t.validation_fraction - t.test_fraction)).max(1.0);
            (train as usize).div_ceil(t.batch_size.max(1))
        })
        .unwrap_or(10);
    egui::Grid::new("train_settings").num_columns(2).show(ui, |ui| {
        if gan {
            gan_settings(ui, &mut t.gan);
        } else {
        ui.label("Optimizer");
        egui::ComboBox::from_id_salt("optimizer")
            .selected_text(format!("{:?}", t.optimizer))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut t.optimizer, Optimizer::Adam, "Adam");
                ui.selectable_value(&mut t.optimizer, Optimizer::AdamW, "AdamW");
                ui.selectable_value(&mut t.optimizer, Optimizer::Sgd, "SGD");
            });
        ui.end_row();
        ui.label("Learning rate");
        ui.add(egui::DragValue::new(&mut t.learning_rate).range(1e-6..=1.0).speed(1e-4).max_decimals(6));
        ui.end_row();
        }
        ui.label("Batch size");
        ui.add(egui::DragValue::new(&mut t.batch_size).range(1..=4096));
        ui.end_row();
        if dqn {
            dqn_settings(ui, &mut t.dqn);
        } else {
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut t.epochs).range(1..=10000));
            ui.end_row();
        }
        if !gan && !dqn {
        ui.label("Validation share").on_hover_text(
            "Held out every epoch to watch for overfitting, to stop early and to pick the best weights.",
        );
        ui.add(egui::Slider::new(&mut t.validation_fraction, 0.0..=0.5));
        ui.end_row();
        ui.label("Test share").on_hover_text(
            "Held out until the end and scored once with the kept weights: the unbiased result to report. \
             Stratified by class and drawn from the seed, like the validation share.",
        );
        ui.add(egui::Slider::new(&mut t.test_fraction, 0.0..=0.4));
        ui.end_row();
        ui.label("Keep best weights").on_hover_text(
            "Keep the weights of the epoch with the lowest validation loss, not the last epoch's \
             (early stopping always does).",
        );
        ui.add_enabled(
            t.early_stopping_patience == 0,
            egui::Checkbox::new(&mut t.keep_best_weights, "lowest validation loss"),
        );
        ui.end_row();
        if classifier {
            ui.label("Class weights").on_hover_text(
                "Balanced: each class counts the same in the loss, however few samples it has \
                 (for unbalanced classes, e.g. a rare cell type).",
            );
            egui::ComboBox::from_id_salt("class_weights")
                .selected_text(match t.class_weights {
                    ClassWeights::Equal => "every sample the same",
                    ClassWeights::Balanced => "balanced classes",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut t.class_weights, ClassWeights::Equal, "every sample the same");
                    ui.selectable_value(&mut t.class_weights, ClassWeights::Balanced, "balanced classes");
                });
            ui.end_row();
        }
        ui.label("Learning-rate schedule");
        schedule_settings(ui, &mut t.schedule);
        ui.end_row();
        ui.label("Gradient clipping").on_hover_text(
            "Caps the size of each update; 0 = off. Helps when the loss jumps or becomes NaN, as in recurrent networks.",
        );
        ui.add(egui::DragValue::new(&mut t.gradient_clip_norm).range(0.0..=100.0).speed(0.1));
        ui.end_row();
        ui.label("Early stopping").on_hover_text(
            "Stop when the validation loss has not improved for this many epochs and keep the best model; 0 = off.",
        );
        ui.add(egui::DragValue::new(&mut t.early_stopping_patience).range(0..=1000));
        ui.end_row();
        if images {
            ui.label("Augment images").on_hover_text(
                "Change each training image at random every epoch (never validation or new images), \
                 so the network learns what does not depend on orientation or exact position.",
            );
            ui.horizontal(|ui| {
                ui.checkbox(&mut t.augment.flips, "flips");
                ui.checkbox(&mut t.augment.rotations, "quarter turns")
                    .on_hover_text("Square images only");
                let name = ui.label("shift up to");
                ui.add(egui::DragValue::new(&mut t.augment.shift).range(0..=64).suffix(" px"))
                    .labelled_by(name.id);
            });
            ui.end_row();
        }
        }
        ui.label("Seed").on_hover_text("The same seed gives the same split, start and result.");
        ui.add(egui::DragValue::new(&mut t.seed));
        ui.end_row();
        ui.label("Device");
        egui::ComboBox::from_id_salt("device")
            .selected_text(match device {
                DevicePreference::Auto => "GPU if available",
                DevicePreference::Gpu => "GPU",
                DevicePreference::Cpu => "CPU",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(device, DevicePreference::Auto, "GPU if available");
                ui.selectable_value(device, DevicePreference::Gpu, "GPU");
                ui.selectable_value(device, DevicePreference::Cpu, "CPU");
            });
        ui.end_row();
    });
    if !gan && !dqn && t.schedule != Schedule::Constant {
        schedule_plot(ui, t, steps_per_epoch);
    }
    if cx.recurrent {
        ui.weak("Gradient clipping caps each update so recurrent layers do not blow up (exploding gradients); 1.0 is a good start.");
    }
}

/// Deep Q-learning's own settings.
fn dqn_settings(ui: &mut egui::Ui, d: &mut crate::spec::DqnSettings) {
    use egui::DragValue;
    setting(
        ui,
        "Steps",
        "Actions the agent takes in the environment while learning.",
        DragValue::new(&mut d.steps)
            .range(100..=10_000_000)
            .speed(100),
    );
    setting(
        ui,
        "Discount (gamma)",
        "How much future reward counts: 0.99 plans far ahead, 0.9 nearer.",
        DragValue::new(&mut d.gamma).range(0.0..=1.0).speed(0.001),
    );
    setting(
        ui,
        "Exploration start",
        "Chance of a random action at the start (epsilon).",
        DragValue::new(&mut d.epsilon_start)
            .range(0.0..=1.0)
            .speed(0.01),
    );
    setting(
        ui,
        "Exploration end",
        "",
        DragValue::new(&mut d.epsilon_end)
            .range(0.0..=1.0)
            .speed(0.01),
    );
    setting(
        ui,
        "Exploration steps",
        "Steps over which the chance of a random action falls from start to end.",
        DragValue::new(&mut d.epsilon_steps)
            .range(1..=10_000_000)
            .speed(100),
    );
    setting(
        ui,
        "Replay memory",
        "Past steps kept to learn from.",
        DragValue::new(&mut d.replay_size)
            .range(100..=10_000_000)
            .speed(100),
    );
    setting(
        ui,
        "Target network update",
        "Learning steps between copies into the target network.",
        DragValue::new(&mut d.target_update).range(1..=1_000_000),
    );
}

/// A GAN's own settings: one Adam per network.
fn gan_settings(ui: &mut egui::Ui, g: &mut crate::spec::GanSettings) {
    use egui::DragValue;
    let rate = |v| {
        DragValue::new(v)
            .range(1e-6..=1.0)
            .speed(1e-5)
            .max_decimals(6)
    };
    setting(
        ui,
        "Generator learning rate",
        "",
        rate(&mut g.generator_learning_rate),
    );
    setting(
        ui,
        "Discriminator learning rate",
        "",
        rate(&mut g.discriminator_learning_rate),
    );
    setting(
        ui,
        "Adam beta1",
        "0.5 (instead of Adam's usual 0.9) keeps GAN training steadier.",
        DragValue::new(&mut g.beta1).range(0.0..=0.99).speed(0.01),
    );
    setting(
        ui,
        "Discriminator steps",
        "Discriminator updates per generator update.",
        DragValue::new(&mut g.discriminator_steps).range(1..=10),
    );
    setting(
        ui,
        "Label smoothing",
        "Train the discriminator toward 0.9 instead of 1 on real samples (0.1), so it stays less sure of itself; 0 = off.",
        DragValue::new(&mut g.label_smoothing)
            .range(0.0..=0.4)
            .speed(0.01),
    );
}

/// One row of a settings grid: a name (with a hint on hover, unless empty)
/// and its control.
fn setting(ui: &mut egui::Ui, name: &str, hint: &str, control: impl egui::Widget) {
    let label = ui.label(name);
    if !hint.is_empty() {
        label.on_hover_text(hint);
    }
    ui.add(control);
    ui.end_row();
}

/// What the Train controls read besides the run.
pub(super) struct ControlsContext<'a> {
    /// Why training cannot start now, if it cannot.
    pub blocker: Option<String>,
    /// The data is read (a run can be resumed on it).
    pub data_ready: bool,
    /// Supervised (not a GAN or DQN): it can start from a saved model.
    pub supervised: bool,
    /// What the experiment learns (for the words its numbers are given in).
    pub task: crate::spec::Task,
    pub tasks: &'a Tasks,
}

/// Train, Pause, Stop, Resume; where the run starts from; its progress and
/// results, and their exports. Edits the run's own fields (the model to
/// start from); the rest is returned.
pub(super) fn controls(
    ui: &mut egui::Ui,
    t: &mut TrainingState,
    cx: &ControlsContext,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let blocker = cx.blocker.clone();
    let running = t.is_running();
    ui.horizontal(|ui| {
        let start = ui.add_enabled(blocker.is_none(), egui::Button::new("Train"));
        let start = match &blocker {
            Some(reason) if !running => start.on_disabled_hover_text(reason.clone()),
            _ => start,
        };
        if start.clicked() {
            actions.push(Action::Train);
        }
        let resumable = !running && t.outcome.is_none() && t.run_dir.is_some();
        if let (Some(epoch), true) = (t.checkpoint_epoch, resumable) {
            let ready = cx.data_ready;
            let button = ui
                .add_enabled(ready, egui::Button::new(format!("Resume from epoch {epoch}")))
                .on_hover_text("Continue this interrupted run from its last checkpoint, to the same result as if it had never stopped")
                .on_disabled_hover_text("The run's data is not read (yet): it has to be on this machine where the run's experiment says");
            if button.clicked() {
                actions.push(Action::ResumeRun);
            }
        }
        if running {
            if t.paused {
                if ui.button("Resume").clicked() {
                    t.send(Command::Resume);
                }
            } else if ui.button("Pause").clicked() {
                t.send(Command::Pause);
            }
            if ui.button("Stop").clicked() {
                t.send(Command::Stop);
            }
        }
    });
    // Kept in place while training (disabled), so that nothing below moves.
    if cx.supervised {
        let mut choose = false;
        ui.add_enabled_ui(!running, |ui| ui.horizontal(|ui| {
            ui.label("Start from").on_hover_text(
                "Fine-tuning: copy the weights of a saved model's layers that sit at the same place \
                 with the same shapes (the run says which); tick 'frozen' on a layer card to keep it. \
                 Empty: fresh weights.",
            );
            let edit = ui.add(
                egui::TextEdit::singleline(&mut t.init_from_text)
                    .hint_text("fresh weights, or a saved model folder")
                    .desired_width(220.0),
            );
            if edit.lost_focus() || (edit.changed() && t.init_from_text.is_empty()) {
                let typed = t.init_from_text.trim().to_string();
                if typed.is_empty() {
                    t.init_from = None;
                    t.init_from_problem = None;
                } else {
                    actions.push(Action::UsePath(Purpose::InitFrom, typed.into()));
                }
            }
            choose = ui.button("Choose model…").clicked();
        }));
        if let Some(p) = &t.init_from_problem {
            ui.colored_label(ui.visuals().error_fg_color, p);
        }
        if choose {
            actions.push(Action::Ask(Purpose::InitFrom));
        }
    }
    if let (Some(reason), false) = (&blocker, running) {
        ui.colored_label(
            egui::Color32::from_rgb(200, 120, 0),
            format!("Cannot train yet: {reason}"),
        );
    }
    if let Some(s) = &t.started {
        let device = if s.is_gpu {
            format!("GPU: {}", s.device)
        } else {
            format!("CPU — {}", s.device_reason)
        };
        ui.label(device);
        let test = if s.test_samples > 0 {
            format!(" / {} test", s.test_samples)
        } else {
            String::new()
        };
        if cx.task == crate::spec::Task::Dqn {
            ui.weak(format!(
                "learns from its own play in the environment; {} parameters",
                s.parameters
            ));
        } else {
            ui.weak(format!(
                "{} training / {} validation{test} samples, {} parameters",
                s.train_samples, s.valid_samples, s.parameters
            ));
        }
    }
    if let Some(p) = &t.progress {
        let done = ((p.epoch - 1) * p.steps_per_epoch + p.step) as f32;
        let total = (p.epochs * p.steps_per_epoch).max(1) as f32;
        ui.add(egui::ProgressBar::new(done / total).show_percentage());
        let unit = match cx.task {
            crate::spec::Task::Dqn => "steps/s",
            _ => "samples/s",
        };
        // A DQN learns in one long stretch of steps, not in epochs.
        let at = match cx.task {
            crate::spec::Task::Dqn => format!("step {}/{}", p.step, p.steps_per_epoch),
            _ => format!("epoch {}/{}", p.epoch, p.epochs),
        };
        ui.label(format!(
            "{at} · loss {:.4} · {:.0} {unit} · {}",
            p.loss,
            p.samples_per_second,
            if running {
                format!("about {:.0} s left", p.eta_seconds)
            } else if t
                .outcome
                .as_ref()
                .is_some_and(|o| o.summary.epochs_completed < p.epochs)
            {
                "stopped".into()
            } else {
                "finished".into()
            }
        ))
        .on_hover_text(loss_meaning(cx.task));
    }
    if t.paused {
        ui.label("Paused.");
    }
    if let Some(e) = &t.error {
        ui.colored_label(egui::Color32::from_rgb(220, 60, 60), e);
    }
    if let Some(n) = &t.note {
        ui.colored_label(egui::Color32::from_rgb(200, 120, 0), n);
    }
    if let Some(dir) = &t.run_dir {
        ui.horizontal(|ui| {
            ui.weak("Run folder:");
            ui.add(
                egui::Label::new(egui::RichText::new(dir.display().to_string()).weak())
                    .selectable(true),
            );
        });
    }
    // The lines and buttons a finished run shows are there from the start of
    // a run (with what is known so far), so that the views below stay put.
    if t.started.is_some() || t.outcome.is_some() {
        match &t.outcome {
            Some(o) => {
                let s = &o.summary;
                let mut line = format!(
                    "Done: {} epochs in {:.1} s",
                    s.epochs_completed, s.wall_seconds
                );
                if let Some(a) = s.final_valid.as_ref().and_then(|v| v.accuracy) {
                    line.push_str(&format!(", validation accuracy {:.1}%", a * 100.0));
                }
                ui.label(line);
            }
            None if running => {
                ui.weak("Training…");
            }
            None => {
                ui.weak("Not finished.");
            }
        }
        ui.weak(format!(
            "Window while training: {} frames, slowest {:.1} ms",
            t.frames_while_training, t.max_frame_ms
        ))
        .on_hover_text("How smoothly the window kept drawing while it trained: each frame's time on the window's thread");
    }
    let exporting = cx.tasks.is_running(Kind::Export);
    let trained = t.outcome.is_some();
    ui.add_enabled_ui(trained && !exporting, |ui| {
        ui.horizontal(|ui| {
            let why = "Train first: these save what training made";
            if ui
                .button("Export model folder…")
                .on_hover_text("The same folder `lamina train` writes: spec, weights (safetensors) and preprocessing")
                .on_disabled_hover_text(why)
                .clicked()
            {
                actions.push(Action::Ask(Purpose::ExportModel));
            }
            if ui
                .button("Save plots (PNG)…")
                .on_disabled_hover_text(why)
                .clicked()
            {
                actions.push(Action::Ask(Purpose::ExportPlots));
            }
            if cx.supervised
                && ui
                    .add_enabled(t.latent.is_some(), egui::Button::new("Export latent coordinates (CSV)…"))
                    .on_disabled_hover_text("The latent map appears after the first epoch")
                    .clicked()
            {
                actions.push(Action::Ask(Purpose::ExportLatent));
            }
        });
    });
    // Every export (model, plots, samples, maps) shows here, whichever view asked.
    if cx.tasks.show(ui, Kind::Export) {
        actions.push(Action::Cancel(Kind::Export));
    }
    actions
}

const TRAIN: egui::Color32 = egui::Color32::from_rgb(70, 130, 230);
const TRAIN_LIGHT: egui::Color32 = egui::Color32::from_rgb(140, 170, 220);
const VALID: egui::Color32 = egui::Color32::from_rgb(240, 150, 40);

/// A hint when the validation loss has risen for a while from its lowest
/// point while the training loss kept falling: what that means and what helps.
pub fn overfitting(history: &[EpochMetrics]) -> Option<String> {
    let valid: Vec<(usize, f64, f64)> = history
        .iter()
        .filter_map(|m| m.valid.as_ref().map(|v| (m.epoch, v.loss, m.train.loss)))
        .collect();
    let &(last_epoch, last_valid, last_train) = valid.last()?;
    let &(best_epoch, best_valid, best_train) = valid.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let rising_for = last_epoch - best_epoch;
    let risen = last_valid > best_valid + 0.03 * best_valid.abs().max(1e-9);
    (rising_for >= 3 && risen && last_train < best_train).then(|| {
        format!(
            "Overfitting: the validation loss is {:.0}% above its lowest (epoch {best_epoch}) and has not come back for {rising_for} epochs, while the training loss kept falling: the model is learning its training samples rather than what holds for new ones. What helps: early stopping (Training → Early stopping), more dropout, a smaller network, or more data. \"Keep best weights\" keeps the model of epoch {best_epoch}.",
            (last_valid / best_valid - 1.0) * 100.0
        )
    })
}

/// What the loss of a task measures, in words, for the hover of its number.
pub fn loss_meaning(task: crate::spec::Task) -> &'static str {
    use crate::spec::Task;
    match task {
        Task::Classification => {
            "Cross-entropy per sample: 0 when the model gives the right class all its confidence; guessing evenly among K classes gives ln K (0.69 for 2, 1.39 for 4). Lower is better."
        }
        Task::Regression => {
            "Mean squared error: the average squared difference between prediction and target, in the target's units squared. Lower is better."
        }
        Task::Autoencoder => {
            "Mean squared error of the reconstruction: the average squared difference between each input value and its reconstruction (after preprocessing). Lower is better."
        }
        Task::Vae => {
            "Per sample: the reconstruction error summed over all features, plus the KL term that keeps the latent space smooth. It grows with the number of features, so compare it between epochs of a run, not between data sets. Lower is better."
        }
        Task::Gan => {
            "The generator's loss: how well its samples fool the discriminator. It does not fall steadily; look at the generated samples and how they compare with the real ones."
        }
        Task::Dqn => {
            "The Q-network's error in predicting the return of its actions (Huber loss). The episode returns say how well it plays."
        }
    }
}

fn curves(ui: &mut egui::Ui, t: &TrainingState, task: crate::spec::Task) {
    if !t.episodes.is_empty() {
        super::rl::curves(ui, &t.episodes);
        return;
    }
    if let Some(hint) = overfitting(&t.history) {
        ui.colored_label(egui::Color32::from_rgb(200, 120, 0), hint);
    }
    ui.strong("Loss").on_hover_text(loss_meaning(task));
    let series = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<[f64; 2]> {
        t.history
            .iter()
            .filter_map(|m| f(m).map(|v| [m.epoch as f64, v]))
            .collect()
    };
    let train = series(&|m| Some(m.train.loss));
    let valid = series(&|m| m.valid.as_ref().map(|v| v.loss));
    Plot::new("loss_plot")
        .height(170.0)
        .legend(Legend::default())
        .x_axis_label("epoch")
        .show(ui, |p| {
            if t.running.len() > t.history.len() * 2 {
                // Long epochs report progress within the epoch: show it too.
                p.line(
                    Line::new("train (within epoch)", PlotPoints::from(t.running.clone()))
                        .color(TRAIN_LIGHT)
                        .width(1.0),
                );
            }
            let gan = t
                .history
                .iter()
                .any(|m| m.train.discriminator_loss.is_some());
            let name = if gan { "generator" } else { "train" };
            p.line(Line::new(name, PlotPoints::from(train)).color(TRAIN));
            p.line(Line::new("validation", PlotPoints::from(valid)).color(VALID));
            let d = series(&|m| m.train.discriminator_loss);
            if !d.is_empty() {
                p.line(Line::new("discriminator", PlotPoints::from(d)).color(VALID));
            }
        });
    let real = series(&|m| m.train.real_accuracy);
    if !real.is_empty() {
        ui.strong("Discriminator accuracy");
        let fake = series(&|m| m.train.fake_accuracy);
        Plot::new("gan_acc_plot")
            .height(140.0)
            .legend(Legend::default())
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("epoch")
            .show(ui, |p| {
                p.line(Line::new("real samples called real", PlotPoints::from(real)).color(TRAIN));
                p.line(
                    Line::new("generated samples called generated", PlotPoints::from(fake))
                        .color(VALID),
                );
            });
    }
    let acc_train = series(&|m| m.train.accuracy);
    if !acc_train.is_empty() {
        ui.strong("Accuracy");
        let acc_valid = series(&|m| m.valid.as_ref().and_then(|v| v.accuracy));
        Plot::new("acc_plot")
            .height(140.0)
            .legend(Legend::default())
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("epoch")
            .show(ui, |p| {
                p.line(Line::new("train", PlotPoints::from(acc_train)).color(TRAIN));
                p.line(Line::new("validation", PlotPoints::from(acc_valid)).color(VALID));
            });
    }
    let rate = series(&|m| m.learning_rate);
    if rate.windows(2).any(|w| w[0][1] != w[1][1]) {
        ui.strong("Learning rate (at the end of each epoch)");
        Plot::new("rate_plot")
            .height(110.0)
            .include_y(0.0)
            .x_axis_label("epoch")
            .show(ui, |p| {
                p.line(Line::new("learning rate", PlotPoints::from(rate)).color(TRAIN))
            });
    }
}

/// What the latent map hides or brings forward, by class name.
#[derive(Debug, Clone, Default)]
pub struct LatentView {
    pub hidden: std::collections::BTreeSet<String>,
    /// The class under the pointer in the legend: drawn over the others.
    pub highlighted: Option<String>,
}

fn latent(
    ui: &mut egui::Ui,
    t: &TrainingState,
    class_names: Option<Vec<String>>,
    view: &mut LatentView,
) {
    let Some((snap, points)) = &t.latent else {
        return;
    };
    ui.strong(format!(
        "Latent space (PCA of {} dimensions, validation samples, epoch {})",
        snap.dims, snap.epoch
    ));
    if let Some(a) = snap.knn_agreement {
        ui.weak(format!(
            "{:.0}% of samples have mostly their own class among their 5 nearest neighbours here",
            a * 100.0
        ));
    }
    let names = class_names.unwrap_or_default();
    // One series per class so that hover names the sample and its class.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    match &snap.labels {
        Some(labels) => {
            for (c, name) in names.iter().enumerate() {
                let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
                if !idx.is_empty() {
                    groups.push((name.clone(), idx));
                }
            }
        }
        None => groups.push(("samples".into(), (0..points.len()).collect())),
    }
    let colours: Vec<egui::Color32> = crate::analysis::class_colors(names.len().max(1))
        .into_iter()
        .map(|[r, g, b]| egui::Color32::from_rgb(r, g, b))
        .collect();
    let colour_of = |name: &str| {
        let k = names.iter().position(|n| n == name).unwrap_or(0);
        colours[k % colours.len()]
    };
    // The legend beside the plot, not over the points: click a class to hide
    // or show it, point at it to bring it forward.
    if snap.labels.is_some() {
        view.highlighted = None;
        ui.horizontal_wrapped(|ui| {
            for (name, idx) in &groups {
                let hidden = view.hidden.contains(name);
                let colour = if hidden {
                    ui.visuals().weak_text_color()
                } else {
                    colour_of(name)
                };
                let label = format!("{name} ({})", idx.len());
                let chip = legend_entry(ui, &label, colour, hidden)
                    .on_hover_text("Click to hide or show this class");
                if chip.clicked() && !view.hidden.remove(name) {
                    view.hidden.insert(name.clone());
                }
                if chip.hovered() && !hidden {
                    view.highlighted = Some(name.clone());
                }
            }
            if !view.hidden.is_empty() && ui.small_button("show all").clicked() {
                view.hidden.clear();
            }
        });
    }
    let shown: Vec<(String, Vec<usize>)> = groups
        .into_iter()
        .filter(|(n, _)| !view.hidden.contains(n))
        .collect();
    let lookup = shown.clone();
    let ids = snap.ids.clone();
    let highlighted = view.highlighted.clone();
    Plot::new("latent_plot")
        .height(380.0)
        .data_aspect(1.0)
        .label_formatter(move |pos| match pos {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name, index, ..
            } => lookup
                .iter()
                .find(|(n, _)| n.as_str() == *plot_name)
                .and_then(|(_, idx)| idx.get(*index))
                .map(|&i| format!("{} ({plot_name})", ids[i])),
            _ => None,
        })
        .show(ui, |p| {
            // The highlighted class last, so that it is drawn on top.
            let mut order: Vec<&(String, Vec<usize>)> = shown.iter().collect();
            order.sort_by_key(|(n, _)| Some(n) == highlighted.as_ref());
            for (name, idx) in order {
                let pts: Vec<[f64; 2]> = idx.iter().map(|&i| points[i]).collect();
                let mut colour = colour_of(name);
                let mut radius = 2.5;
                match &highlighted {
                    Some(h) if h == name => radius = 3.5,
                    Some(_) => colour = colour.gamma_multiply(0.25),
                    None => {}
                }
                p.points(
                    Points::new(name.clone(), PlotPoints::from(pts))
                        .radius(radius)
                        .color(colour),
                );
            }
        });
}

/// One entry of a legend: a dot of the class's colour and its name, as one
/// widget (so that the two wrap together), clickable.
fn legend_entry(
    ui: &mut egui::Ui,
    label: &str,
    colour: egui::Color32,
    hidden: bool,
) -> egui::Response {
    let mut text = egui::RichText::new(label).color(colour);
    if hidden {
        text = text.strikethrough();
    }
    let galley = egui::WidgetText::from(text).into_galley(
        ui,
        Some(egui::TextWrapMode::Extend),
        f32::INFINITY,
        egui::TextStyle::Button,
    );
    let size = egui::vec2(14.0 + galley.size().x, galley.size().y.max(14.0));
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let response = response.on_hover_cursor(egui::CursorIcon::PointingHand);
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, label));
    if ui.is_rect_visible(rect) {
        let painter = ui.painter();
        painter.circle_filled(egui::pos2(rect.left() + 5.0, rect.center().y), 4.0, colour);
        let at = egui::pos2(rect.left() + 14.0, rect.center().y - galley.size().y / 2.0);
        painter.galley(at, galley, colour);
    }
    response
}

/// The validation confusion matrix to show: the finished run's (with the kept
/// weights), else the latest epoch's, with a line saying which it is.
fn latest_confusion(t: &TrainingState) -> Option<(&Vec<Vec<usize>>, String)> {
    if let Some(o) = &t.outcome
        && let Some(m) = &o.summary.confusion
    {
        return Some((
            m,
            format!("validation samples, {}", o.summary.kept_weights()),
        ));
    }
    t.history.iter().rev().find_map(|h| {
        h.confusion
            .as_ref()
            .map(|m| (m, format!("validation samples after epoch {}", h.epoch)))
    })
}

/// Validation counts per true class (rows) and predicted class (columns);
/// each row is shaded by its share, so the diagonal stands out. Live during
/// training: the latest epoch's.
fn confusion(ui: &mut egui::Ui, t: &TrainingState, names: Vec<String>) {
    let Some((m, which)) = latest_confusion(t) else {
        return;
    };
    ui.strong(format!("Confusion matrix ({which})"));
    ui.weak("Rows: the true class; columns: what the model predicted. The diagonal is right.");
    egui::ScrollArea::horizontal()
        .id_salt("confusion_scroll")
        .show(ui, |ui| {
            egui::Grid::new("confusion_grid")
                .spacing([4.0, 4.0])
                .show(ui, |ui| {
                    ui.label("true \\ predicted");
                    for n in &names {
                        ui.strong(n);
                    }
                    ui.end_row();
                    for (r, row) in m.iter().enumerate() {
                        ui.strong(names.get(r).cloned().unwrap_or_else(|| r.to_string()));
                        let total: usize = row.iter().sum();
                        for &c in row {
                            let share = if total > 0 {
                                c as f32 / total as f32
                            } else {
                                0.0
                            };
                            let [red, green, blue] = crate::export::heat_color(share);
                            let fill = egui::Color32::from_rgb(red, green, blue);
                            let text = if share > 0.6 {
                                egui::Color32::BLACK
                            } else {
                                egui::Color32::WHITE
                            };
                            egui::Frame::new()
                                .fill(fill)
                                .inner_margin(6.0)
                                .show(ui, |ui| {
                                    ui.colored_label(text, format!("{c}"));
                                });
                        }
                        ui.end_row();
                    }
                });
        });
    let correct: usize = (0..m.len())
        .map(|i| m[i].get(i).copied().unwrap_or(0))
        .sum();
    let total: usize = m.iter().flatten().sum();
    if total > 0 {
        ui.label(format!(
            "{correct} of {total} right ({:.1}%)",
            100.0 * correct as f64 / total as f64
        ));
    }
}

/// The schedule's kind and its numbers, in one grid cell.
fn schedule_settings(ui: &mut egui::Ui, s: &mut Schedule) {
    let name = match s {
        Schedule::Constant => "constant",
        Schedule::Step { .. } => "step",
        Schedule::Cosine { .. } => "cosine with warm-up",
        Schedule::ReduceOnPlateau { .. } => "reduce on plateau",
    };
    ui.vertical(|ui| {
        egui::ComboBox::from_id_salt("schedule")
            .selected_text(name)
            .show_ui(ui, |ui| {
                let choices = [
                    (Schedule::Constant, "constant"),
                    (
                        Schedule::Step {
                            every: 10,
                            factor: 0.5,
                        },
                        "step",
                    ),
                    (
                        Schedule::Cosine {
                            warmup_epochs: 1,
                            min_factor: 0.01,
                        },
                        "cosine with warm-up",
                    ),
                    (
                        Schedule::ReduceOnPlateau {
                            patience: 3,
                            factor: 0.5,
                            min_factor: 0.01,
                        },
                        "reduce on plateau",
                    ),
                ];
                for (choice, label) in choices {
                    let same = std::mem::discriminant(s) == std::mem::discriminant(&choice);
                    if ui.selectable_label(same, label).clicked() && !same {
                        *s = choice;
                    }
                }
            });
        ui.horizontal(|ui| match s {
            Schedule::Constant => {}
            Schedule::Step { every, factor } => {
                ui.label("× ");
                ui.add(egui::DragValue::new(factor).range(0.01..=1.0).speed(0.01));
                ui.label("every");
                ui.add(
                    egui::DragValue::new(every)
                        .range(1..=10000)
                        .suffix(" epochs"),
                );
            }
            Schedule::Cosine {
                warmup_epochs,
                min_factor,
            } => {
                ui.label("warm-up");
                ui.add(
                    egui::DragValue::new(warmup_epochs)
                        .range(0..=1000)
                        .suffix(" epochs"),
                );
                ui.label("down to ×");
                ui.add(
                    egui::DragValue::new(min_factor)
                        .range(0.0..=1.0)
                        .speed(0.005),
                );
            }
            Schedule::ReduceOnPlateau {
                patience,
                factor,
                min_factor,
            } => {
                ui.label("× ");
                ui.add(egui::DragValue::new(factor).range(0.05..=0.95).speed(0.01));
                ui.label("after");
                ui.add(
                    egui::DragValue::new(patience)
                        .range(1..=1000)
                        .suffix(" epochs without progress"),
                );
                ui.label("down to ×");
                ui.add(
                    egui::DragValue::new(min_factor)
                        .range(0.0..=1.0)
                        .speed(0.005),
                );
            }
        });
    });
}

/// The planned learning rate over the run, as a small curve.
fn schedule_plot(ui: &mut egui::Ui, t: &TrainSpec, steps_per_epoch: usize) {
    let planned = crate::train::schedule::LearningRate::new(
        t.learning_rate,
        t.schedule,
        t.epochs,
        steps_per_epoch,
    )
    .planned();
    let pts: Vec<[f64; 2]> = planned.iter().map(|&(e, r)| [e, r]).collect();
    if matches!(t.schedule, Schedule::ReduceOnPlateau { .. }) {
        ui.weak("The rate falls when the validation loss stalls; the curve of the run shows when it did.");
    }
    Plot::new("schedule_plot")
        .height(90.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_axis_label("epoch")
        .y_axis_label("learning rate")
        .show(ui, |p| p.line(Line::new("planned", PlotPoints::from(pts))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::SplitMetrics;

    fn epochs(losses: &[(f64, f64)]) -> Vec<EpochMetrics> {
        losses
            .iter()
            .enumerate()
            .map(|(i, &(train, valid))| EpochMetrics {
                epoch: i + 1,
                train: SplitMetrics {
                    loss: train,
                    ..Default::default()
                },
                valid: Some(SplitMetrics {
                    loss: valid,
                    ..Default::default()
                }),
                seconds: 1.0,
                learning_rate: None,
                confusion: None,
            })
            .collect()
    }

    #[test]
    fn overfitting_is_named_when_validation_rises_while_training_falls() {
        let over = epochs(&[
            (1.0, 1.0),
            (0.8, 0.7),
            (0.6, 0.6),
            (0.5, 0.62),
            (0.4, 0.66),
            (0.3, 0.7),
        ]);
        let hint = overfitting(&over).expect("a hint");
        assert!(hint.contains("epoch 3"), "{hint}");
        // Both falling, or a rise of one epoch: no hint.
        assert!(overfitting(&epochs(&[(1.0, 1.0), (0.8, 0.9), (0.6, 0.8), (0.5, 0.7)])).is_none());
        assert!(overfitting(&epochs(&[(1.0, 1.0), (0.8, 0.7), (0.6, 0.75)])).is_none());
        // Noise a percent above the lowest is not overfitting.
        assert!(
            overfitting(&epochs(&[
                (1.0, 1.0),
                (0.8, 0.7),
                (0.6, 0.705),
                (0.5, 0.704),
                (0.4, 0.706),
                (0.3, 0.705)
            ]))
            .is_none()
        );
    }
}
