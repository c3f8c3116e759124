//! The workbench window (eframe/egui). One app struct holds the experiment being
//! edited, the loaded data and the training run; panels are functions that take
//! `&mut` to exactly the state they edit and return [`Action`]s, which
//! [`LaminaApp::apply`] carries out; long work runs as `tasks` jobs. Files the
//! user names go through `dialogs` (the system's) or `files` (Lamina's own
//! browser, and the question before anything is replaced). Nothing here calls
//! burn: training goes through `train::Worker`, explanations through
//! `explain`, data through `data`, checks through `spec`.

mod architecture;
pub mod attention;
mod data;
pub mod dialogs;
mod evaluation;
pub mod explain;
mod files;
mod frame_log;
mod gan;
pub mod graph;
pub mod predict;
mod rl;
mod script;
mod start;
pub mod sweep;
pub mod tasks;
mod training;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use crate::data::Dataset;
use crate::project;
use crate::spec::Experiment;
use crate::spec::shapes::{ShapeReport, Target, infer_shapes_joined};
pub use start::{StartForm, bundled_examples};
pub use training::{LatentView, ResultView, TrainingState};

use dialogs::Purpose;

/// How often unsaved edits are written to the autosave file beside the experiment.
const AUTOSAVE_EVERY: Duration = Duration::from_secs(20);

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Start,
    Workbench,
}

/// The loaded data of the experiment (read by a [`tasks::Kind::Data`] job).
#[derive(Default)]
pub struct DataState {
    /// Shared with the training job that reads it.
    pub dataset: Option<Arc<Dataset>>,
    pub error: Option<String>,
    /// Image thumbnails of the preview, made on first show.
    thumbnails: Option<Vec<(egui::TextureHandle, String)>>,
    /// The table preview's columns and values, made on first show.
    table_view: Option<data::TableView>,
    /// The sequence options the data was last read with.
    pub loaded_sequence_options: Option<crate::spec::SequenceOptions>,
    /// The image options the data was last read with.
    pub loaded_image_options: Option<crate::spec::ImageOptions>,
}

impl DataState {
    /// Data read (or failed to read): the previews are made again on show.
    fn set(&mut self, result: Result<Arc<Dataset>, String>) {
        self.thumbnails = None;
        self.table_view = None;
        match result {
            Ok(ds) => {
                self.dataset = Some(ds);
                self.error = None;
            }
            Err(e) => {
                self.dataset = None;
                self.error = Some(e);
            }
        }
    }
}

/// How the network panel shows the stacks.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// The user's choice of the node graph (true) or cards (false); unset: the
    /// graph when some stack has branches, else cards.
    pub graph: Option<bool>,
    /// One canvas view per stack, by index.
    pub canvases: Vec<graph::CanvasView>,
}

/// The whole application state.
pub struct LaminaApp {
    pub screen: Screen,
    pub experiment: Experiment,
    pub path: Option<PathBuf>,
    /// JSON of the experiment as last saved or opened, to detect unsaved changes.
    saved_json: String,
    pub undo: Vec<Experiment>,
    pub redo: Vec<Experiment>,
    pub data: DataState,
    pub training: TrainingState,
    pub message: Option<(String, bool)>,
    pub path_input: String,
    pub selected: Option<(usize, usize)>,
    pub result_view: ResultView,
    pub attention_view: attention::AttentionView,
    /// Which classes the latent map hides or brings forward.
    pub latent_view: training::LatentView,
    /// How the network is shown: cards or the node graph, and each canvas's view.
    pub network_view: NetworkView,
    pub predict: predict::PredictState,
    /// The Explain view's choices and the explanation shown.
    pub explain: explain::ExplainState,
    pub start: StartForm,
    /// A native file dialog that is open.
    dialog: Option<dialogs::Pending>,
    /// The in-app file browser, when open.
    browser: Option<files::Browser>,
    /// Choose files in the in-app browser: the system has no file dialog
    /// (found on the first try), or `LAMINA_FILE_DIALOG=in-app` asks for it.
    pub in_app_files: bool,
    /// A save that would replace something, waiting for the user's answer.
    confirm: Option<files::Confirm>,
    /// What the start screen's data was last found to hold, and for which form.
    start_check: Option<start::Checked>,
    /// The form a check is running for.
    checking: Option<StartForm>,
    /// The action being carried out was confirmed: it may replace what is there.
    replacing: bool,
    last_autosave: Option<Instant>,
    /// An autosave newer than the opened file, offered for restoring.
    pub recovered: Option<Experiment>,
    /// The window was asked to close with unsaved changes.
    pub confirm_close: bool,
    allow_close: bool,
    /// Experiments opened or saved lately, newest first, and where that list is
    /// kept (none in tests).
    pub recent: Vec<PathBuf>,
    recent_file: Option<PathBuf>,
    /// The experiment before a widget edit still in progress (a drag, typing);
    /// it becomes one undo step when the pointer is released and focus leaves.
    edit_start: Option<Experiment>,
    /// The background jobs running (data, exports, predictions…).
    pub tasks: tasks::Tasks,
    /// Where each frame's UI-thread time is appended (`LAMINA_FRAME_LOG`).
    frame_log: Option<frame_log::FrameLog>,
    /// A scripted session being carried out (`LAMINA_SCRIPT`), and the last
    /// message it printed.
    script: Option<(script::Script, Option<String>)>,
    /// The recent list changed and is still to be written.
    recent_changed: bool,
    /// Episodes played back so far (each one's seed).
    replays: u64,
    /// The whole previous frame's CPU time, as eframe reports it.
    previous_frame: Option<Duration>,
    /// The sweep folder opened, shown in the Sweep view.
    pub sweep: Option<sweep::SweepView>,
}

/// What the user asked for in a panel; [`LaminaApp::apply`] carries it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a file dialog for this purpose.
    Ask(Purpose),
    /// The action, allowed to replace what is in its way (the user agreed).
    Replace(Box<Action>),
    /// A path typed or chosen, for this purpose.
    UsePath(Purpose, PathBuf),
    /// Open an experiment file or a run or sweep folder.
    Open(PathBuf),
    /// Create an experiment from the start screen's form.
    Create,
    /// Leave the start screen for the open experiment.
    ToWorkbench,
    /// Stop a background job.
    Cancel(tasks::Kind),
    /// Predict with the model in the Predict view on the files in its fields.
    Predict,
    /// Explain the model in use as the Explain view's settings say.
    Explain,
    /// Predict with the model just trained from now on.
    UseTrainedModel,
    /// Play an episode of the trained agent's policy.
    Replay,
    /// Read the experiment's data again (its source or reading options changed).
    ReloadData,
    /// Train the experiment on its data in a new run folder.
    Train,
    /// Something the user tried was refused: say why.
    Problem(String),
    /// Continue the opened, interrupted run from its checkpoint.
    ResumeRun,
    /// Learn in another environment: the Q-network is sized to its actions.
    SetEnvironment(crate::spec::EnvironmentKind),
}

/// A folder read back.
pub enum Opened {
    Run(Box<OpenedRun>),
    Sweep(Box<crate::export::sweep::SweepRecord>),
}

/// A run folder read back: the record and its model, when it has one.
pub struct OpenedRun {
    record: crate::export::run::RunRecord,
    model: Option<crate::train::TrainedModel>,
    /// Why the model did not load, when it did not.
    model_error: Option<String>,
    /// The 2-D projection of its latent snapshot.
    latent_points: Option<Vec<[f64; 2]>>,
}

impl Default for LaminaApp {
    fn default() -> Self {
        LaminaApp {
            screen: Screen::Start,
            experiment: Experiment::default(),
            path: None,
            saved_json: String::new(),
            undo: Vec::new(),
            redo: Vec::new(),
            data: DataState::default(),
            training: TrainingState::default(),
            message: None,
            path_input: String::new(),
            selected: None,
            result_view: ResultView::default(),
            attention_view: attention::AttentionView::default(),
            latent_view: training::LatentView::default(),
            network_view: NetworkView::default(),
            predict: predict::PredictState::default(),
            explain: explain::ExplainState::default(),
            start: StartForm::default(),
            dialog: None,
            browser: None,
            in_app_files: files::in_app_wanted(),
            confirm: None,
            start_check: None,
            checking: None,
            replacing: false,
            last_autosave: None,
            recovered: None,
            confirm_close: false,
            allow_close: false,
            recent: Vec::new(),
            recent_file: None,
            edit_start: None,
            tasks: tasks::Tasks::default(),
            frame_log: None,
            previous_frame: None,
            replays: 0,
            recent_changed: false,
            script: None,
            sweep: None,
        }
    }
}

impl LaminaApp {
    /// The app as the desktop opens it: with the user's list of recent experiments.
    pub fn with_recent_list() -> Self {
        let file = recent_list_path();
        let recent = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<Vec<PathBuf>>(&t).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        LaminaApp {
            recent,
            recent_file: file,
            ..Default::default()
        }
    }

    fn remember(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.recent.retain(|p| *p != path);
        self.recent.insert(0, path);
        self.recent.truncate(10);
        // Written by the next frame, off the UI thread.
        self.recent_changed = true;
    }

    /// Write the list of recent experiments, when it changed, in the background.
    fn save_recent(&mut self, ctx: &egui::Context) {
        if !std::mem::take(&mut self.recent_changed) {
            return;
        }
        let (Some(file), Ok(text)) = (
            self.recent_file.clone(),
            serde_json::to_string_pretty(&self.recent),
        ) else {
            return;
        };
        self.tasks.spawn(
            tasks::Kind::Save,
            "saving the recent list",
            ctx,
            move || {
                if let Some(dir) = file.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                // Not worth a message: the list is a convenience.
                let _ = crate::spec::write_atomic(&file, text.as_bytes());
                Ok(tasks::Done::Saved)
            },
        );
    }

    /// Open an experiment file, or a run folder, on a background thread;
    /// errors are shown in the window.
    pub fn open(&mut self, path: &Path, ctx: &egui::Context) {
        if path.is_dir() {
            self.open_run(path, ctx);
            return;
        }
        let path = path.to_path_buf();
        let label = format!("opening {}", path.display());
        self.tasks.spawn(tasks::Kind::Open, label, ctx, move || {
            let exp = Experiment::load(&path).map_err(|e| e.to_string())?;
            let autosave = autosave_path(&path);
            let recovered = Experiment::load(&autosave)
                .ok()
                .filter(|a| a.to_json() != exp.to_json() && is_newer(&autosave, &path));
            Ok(tasks::Done::Experiment(Box::new((exp, path, recovered))))
        });
    }

    /// An experiment file was read: edit it.
    fn show_experiment(&mut self, exp: Experiment, path: PathBuf, ctx: &egui::Context) {
        self.saved_json = exp.to_json();
        self.experiment = exp;
        self.path_input = path.display().to_string();
        self.remember(&path);
        self.path = Some(path);
        self.undo.clear();
        self.redo.clear();
        self.training = TrainingState::default();
        self.screen = Screen::Workbench;
        // A file edited by hand is checked now, not first when Train is pressed;
        // it opens all the same, to be put right here.
        self.message = self.experiment.validate().err().map(|e| {
            (
                format!(
                    "{} needs a change before it can train: {e}",
                    self.path_input
                ),
                true,
            )
        });
        self.load_data(ctx);
    }

    /// Read a run folder on a background thread; it is shown once read.
    pub fn open_run(&mut self, dir: &Path, ctx: &egui::Context) {
        if self.training.is_running() {
            self.message = Some((
                "Stop the training first: a run folder opens in its place".into(),
                true,
            ));
            return;
        }
        let dir = dir.to_path_buf();
        let label = format!("reading the run folder {}", dir.display());
        self.tasks.spawn(tasks::Kind::Open, label, ctx, move || {
            if crate::export::sweep::is_sweep_folder(&dir) {
                return crate::export::sweep::SweepRecord::open(&dir)
                    .map(|r| tasks::Done::Opened(Opened::Sweep(Box::new(r))))
                    .map_err(|e| e.to_string());
            }
            let record = crate::export::run::RunRecord::open(&dir).map_err(|e| e.to_string())?;
            let device = crate::train::device::DeviceChoice::cpu("a run folder").device;
            let loaded = record
                .model
                .as_ref()
                .map(|(model_dir, _)| crate::export::load_model(model_dir, &device));
            let (model, model_error) = match loaded {
                Some(Ok(m)) => (Some(m), None),
                Some(Err(e)) => (None, Some(e.to_string())),
                None => (None, None),
            };
            let latent_points = record
                .latent
                .as_ref()
                .map(|s| crate::analysis::pca_2d(&s.values, s.ids.len(), s.dims));
            Ok(tasks::Done::Opened(Opened::Run(Box::new(OpenedRun {
                record,
                model,
                model_error,
                latent_points,
            }))))
        });
    }

    /// Read the experiment's data on a background thread (a read still
    /// running is cancelled: its answer would be for the old settings).
    fn load_data(&mut self, ctx: &egui::Context) {
        let spec = self.experiment.data.clone();
        let base = self.base_dir();
        self.data.loaded_sequence_options = Some(spec.sequence.clone());
        self.data.loaded_image_options = Some(spec.image.clone());
        self.data.error = None;
        self.tasks
            .restart(tasks::Kind::Data, "reading the data", ctx, move || {
                crate::data::load(&spec, &base)
                    .map(|ds| tasks::Done::Data(Box::new(ds)))
                    .map_err(|e| e.to_string())
            });
    }

    /// Apply what the jobs that ended have handed back; called every frame.
    fn poll_tasks(&mut self, ctx: &egui::Context) {
        for (kind, ending) in self.tasks.poll() {
            self.finish(kind, ending, ctx);
        }
    }

    /// Block until every background job has ended and apply their results
    /// (tests and headless screenshots).
    pub fn wait_for_tasks(&mut self, ctx: &egui::Context) {
        // A job's result can start another (a run folder's data): wait for those too.
        while !self.tasks.is_idle() {
            for (kind, ending) in self.tasks.wait() {
                self.finish(kind, ending, ctx);
            }
        }
    }

    /// One job ended: put its result where it belongs.
    fn finish(&mut self, kind: tasks::Kind, ending: tasks::Ending, ctx: &egui::Context) {
        use tasks::{Done, Ending, Kind};
        let done = match ending {
            Ending::Done(done) => done,
            Ending::Cancelled => {
                let what = match kind {
                    Kind::Data => {
                        self.data.set(Err(
                            "Reading the data was cancelled: press Reload to read it.".into(),
                        ));
                        return;
                    }
                    Kind::Predict => {
                        self.predict.error = Some("The prediction was cancelled.".into());
                        return;
                    }
                    Kind::Explain => {
                        self.explain
                            .set_error("The explanation was cancelled.".into());
                        return;
                    }
                    Kind::Export => "the export was cancelled; nothing more was written",
                    Kind::Create => "creating the experiment was cancelled",
                    Kind::Open => "opening was cancelled",
                    Kind::OpenModel => "opening the model was cancelled",
                    Kind::Projection | Kind::Replay | Kind::Save | Kind::Check => return,
                };
                self.message = Some((what.into(), false));
                return;
            }
            Ending::Failed(e) => {
                match kind {
                    Kind::Data => self.data.set(Err(e)),
                    Kind::Predict => self.predict.error = Some(e),
                    Kind::Explain => self.explain.set_error(e),
                    Kind::Projection | Kind::Replay => self.training.note = Some(e),
                    Kind::Check => self.start_check = None,
                    Kind::Create | Kind::Open | Kind::OpenModel | Kind::Export | Kind::Save => {
                        self.message = Some((e, true))
                    }
                }
                return;
            }
        };
        match done {
            Done::Data(ds) => self.data.set(Ok(Arc::new(*ds))),
            Done::Created(created) => {
                let (exp, path, ds) = *created;
                self.experiment = exp;
                self.saved_json = self.experiment.to_json();
                self.path = Some(path.clone());
                self.path_input = path.display().to_string();
                self.remember(&path);
                self.recovered = None;
                self.undo.clear();
                self.redo.clear();
                self.training = TrainingState::default();
                self.screen = Screen::Workbench;
                self.message = Some((format!("created {}", path.display()), false));
                self.data.loaded_sequence_options = Some(self.experiment.data.sequence.clone());
                self.data.loaded_image_options = Some(self.experiment.data.image.clone());
                self.data.set(Ok(Arc::new(ds)));
            }
            Done::Opened(opened) => self.show_opened(opened, ctx),
            Done::Checked(checked) => self.start_check = Some(*checked),
            Done::Experiment(e) => {
                let (exp, path, recovered) = *e;
                self.show_experiment(exp, path, ctx);
                self.recovered = recovered;
            }
            Done::Model(m) => {
                let (source, model) = *m;
                self.use_model(source, model);
            }
            Done::Exported(msg) => self.message = Some((msg, false)),
            Done::Saved => {}
            Done::Predicted(r) => {
                self.predict.result = Some(r);
                self.predict.error = None;
            }
            Done::Projected(p) => {
                let (snapshot, points) = *p;
                self.training.set_projection(snapshot, points);
            }
            Done::Explained(r) => self.explain.set_result(*r),
            Done::Replayed(mut playback) => {
                playback.started = Instant::now();
                self.training.playback = Some(playback);
            }
        }
    }

    /// A model folder was read: predict with it from now on.
    fn use_model(&mut self, source: String, model: crate::train::TrainedModel) {
        self.result_view = ResultView::Predict;
        if self.screen == Screen::Start && self.path.is_none() {
            // Inspect the model's own network without its training data.
            self.experiment = model.experiment.clone();
            self.saved_json = self.experiment.to_json();
            self.screen = Screen::Workbench;
        }
        self.explain.set_model(&model);
        self.predict.set_model(source, model);
    }

    fn show_opened(&mut self, opened: Opened, ctx: &egui::Context) {
        match opened {
            Opened::Run(run) => self.show_run(*run, ctx),
            Opened::Sweep(record) => {
                let dir = record.dir.clone();
                if let Some(exp) = &record.base {
                    self.take_experiment(exp, &dir, ctx);
                }
                self.training = TrainingState::default();
                self.message = Some((
                    format!(
                        "opened the sweep {} ({} runs)",
                        dir.display(),
                        record.rows.len()
                    ),
                    false,
                ));
                self.sweep = Some(sweep::SweepView::new(*record));
                self.result_view = ResultView::Sweep;
                self.screen = Screen::Workbench;
            }
        }
    }

    /// Put an experiment read from the folder `dir` into the editor: its data
    /// paths, relative to `dir`, are made whole so that the experiment is
    /// independent of where it is saved next; its data is read again when it
    /// is on this machine.
    fn take_experiment(&mut self, exp: &Experiment, dir: &Path, ctx: &egui::Context) {
        self.experiment = project::absolute_data_paths(exp, dir);
        // Not a file of its own: edits are marked unsaved from here.
        self.saved_json = self.experiment.to_json();
        self.path = None;
        self.path_input = String::new();
        self.undo.clear();
        self.redo.clear();
        self.recovered = None;
        self.screen = Screen::Workbench;
        if self.experiment.task != crate::spec::Task::Dqn {
            self.load_data(ctx);
        } else {
            self.data = DataState::default();
        }
    }

    /// Show a run folder that was read: its experiment in the editor, its
    /// curves and snapshots.
    fn show_run(&mut self, opened: OpenedRun, ctx: &egui::Context) {
        let OpenedRun {
            record,
            model,
            model_error,
            latent_points,
        } = opened;
        let dir = record.dir.clone();
        let experiment = record
            .experiment
            .clone()
            .or_else(|| model.as_ref().map(|m| m.experiment.clone()));
        if let Some(exp) = experiment {
            self.take_experiment(&exp, &dir, ctx);
        }
        if let Some(m) = &model {
            self.explain.set_model(m);
            self.predict
                .set_model(format!("from the run {}", dir.display()), m.clone());
        }
        self.training =
            TrainingState::from_record(record, model, latent_points, self.training.device);
        self.result_view = ResultView::Curves;
        self.message = Some(match model_error {
            Some(e) => (
                format!("opened the run {} but not its model: {e}", dir.display()),
                true,
            ),
            None => (format!("opened the run {}", dir.display()), false),
        });
    }

    /// Carry out what a panel asked for.
    pub fn apply(&mut self, action: Action, ctx: &egui::Context) {
        match action {
            Action::Ask(purpose) => self.ask(purpose, ctx),
            Action::Replace(action) => {
                self.replacing = true;
                self.apply(*action, ctx);
                self.replacing = false;
            }
            Action::UsePath(purpose, path) => self.use_path(purpose, &path, ctx),
            Action::Open(path) => self.open(&path, ctx),
            Action::Create if !self.replacing && start::replaces(&self.start) => {
                self.confirm = Some(files::Confirm {
                    question: format!(
                        "{} exists already. Replace it with the new experiment?",
                        self.start.experiment_path.trim()
                    ),
                    yes: Action::Create,
                });
            }
            Action::Create => match start::create_job(&self.start, self.replacing) {
                Some(job) => self
                    .tasks
                    .spawn(tasks::Kind::Create, "checking the data", ctx, job),
                None => self.message = Some(("pick a template first".into(), true)),
            },
            Action::ToWorkbench => self.screen = Screen::Workbench,
            Action::Cancel(kind) => self.tasks.cancel(kind),
            Action::Predict => self.predict_now(ctx),
            Action::Explain => self.explain_now(ctx),
            Action::Replay => {
                if let Some(o) = &self.training.outcome {
                    // Another episode each time: seeded by how many were played.
                    self.replays += 1;
                    let job =
                        rl::replay_job(&o.model, self.experiment.data.environment, self.replays);
                    self.tasks
                        .spawn(tasks::Kind::Replay, "playing an episode", ctx, job);
                }
            }
            Action::ReloadData => self.reload_data(ctx),
            Action::Train => self.start_training(),
            Action::Problem(why) => self.message = Some((why, true)),
            Action::ResumeRun => self.resume_training(),
            Action::SetEnvironment(kind) => {
                self.checkpoint();
                self.experiment.data.environment = kind;
                let ds = crate::data::environment(kind);
                let actions = ds.labels.class_names().len();
                self.experiment
                    .fit_to_data(&ds.shape, &crate::spec::shapes::Target::Values(actions));
                self.reload_data(ctx);
            }
            Action::UseTrainedModel => {
                if let Some(o) = &self.training.outcome {
                    let model = o.model.clone();
                    self.explain.set_model(&model);
                    self.predict
                        .set_model("trained in this window".into(), model);
                }
            }
        }
    }

    /// Predict on the files in the Predict view's fields, on a background
    /// thread, on the device chosen for training.
    fn predict_now(&mut self, ctx: &egui::Context) {
        if let Some(out) = self.predict.output().filter(|_| !self.replacing)
            && let files::Target::Ask(question) = files::file_target(&out)
        {
            self.confirm = Some(files::Confirm {
                question,
                yes: Action::Predict,
            });
            return;
        }
        match self.predict.job(self.training.device) {
            Ok(job) => {
                self.predict.error = None;
                self.tasks
                    .spawn(tasks::Kind::Predict, "predicting", ctx, job);
            }
            Err(e) => self.predict.error = Some(e),
        }
    }

    /// Explain the model in use as the Explain view says, on a background
    /// thread, on the device chosen for training.
    fn explain_now(&mut self, ctx: &egui::Context) {
        let Some((_, model)) = explain::model_in_use(&self.predict, &self.training) else {
            self.explain
                .set_error("train a model, or open a model folder, first".into());
            return;
        };
        let model = model.clone();
        let loaded = self.data.dataset.clone();
        let job = self.explain.job(&model, loaded, self.training.device);
        self.tasks
            .restart(tasks::Kind::Explain, "explaining", ctx, job);
    }

    /// Where the window's runs go: `runs/` beside the experiment file (or
    /// beside the data, for an experiment not saved yet).
    pub fn runs_dir(&self) -> PathBuf {
        if self.path.is_some() {
            return self.base_dir().join("runs");
        }
        let data = self.base_dir().join(&self.experiment.data.path);
        data.parent()
            .map(Path::to_path_buf)
            .filter(|d| !d.as_os_str().is_empty() && self.experiment.task != crate::spec::Task::Dqn)
            .unwrap_or_else(|| self.base_dir())
            .join("runs")
    }

    /// The name a new run folder starts with: the experiment file's name.
    pub fn run_name(&self) -> String {
        self.path
            .as_deref()
            .and_then(Path::file_stem)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.experiment.name.clone())
    }

    /// Save to `path` (the same JSON the CLI runs). Saved to another folder,
    /// the data paths are rewritten to point at the same files from there
    /// (relative where the folders share a root, absolute otherwise); the undo
    /// steps follow, so that undoing keeps the data.
    pub fn save_as(&mut self, path: &Path) {
        let (from, to) = (self.base_dir(), project::parent_dir(path));
        let moved = project::rebased(&self.experiment, &from, &to);
        match moved.save(path) {
            Ok(()) => {
                if moved != self.experiment {
                    self.experiment = moved;
                    for e in self.undo.iter_mut().chain(self.redo.iter_mut()) {
                        *e = project::rebased(e, &from, &to);
                    }
                }
                self.saved_json = self.experiment.to_json();
                self.path = Some(path.to_path_buf());
                self.path_input = path.display().to_string();
                let _ = std::fs::remove_file(autosave_path(path));
                self.recovered = None;
                self.remember(path);
                self.message = Some((format!("saved {}", path.display()), false));
            }
            Err(e) => self.message = Some((e.to_string(), true)),
        }
    }

    pub fn has_unsaved_changes(&self) -> bool {
        self.experiment.to_json() != self.saved_json
    }

    /// The folder relative data paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .map(project::parent_dir)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Record the current experiment before an edit, for undo.
    pub fn checkpoint(&mut self) {
        self.finish_edit_now();
        self.undo.push(self.experiment.clone());
        if self.undo.len() > 200 {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    /// A widget changed the experiment; `before` is how it was.
    pub fn note_edit(&mut self, before: Experiment) {
        if self.edit_start.is_none() {
            self.edit_start = Some(before);
        }
    }

    fn finish_edit(&mut self, ctx: &egui::Context) {
        let busy = ctx.input(|i| i.pointer.any_down()) || ctx.memory(|m| m.focused().is_some());
        if !busy {
            self.finish_edit_now();
        }
    }

    pub fn undo(&mut self) {
        self.finish_edit_now();
        if let Some(prev) = self.undo.pop() {
            self.redo
                .push(std::mem::replace(&mut self.experiment, prev));
        }
    }

    fn finish_edit_now(&mut self) {
        if let Some(before) = self.edit_start.take()
            && before != self.experiment
        {
            self.undo.push(before);
            self.redo.clear();
        }
    }

    pub fn redo(&mut self) {
        if let Some(next) = self.redo.pop() {
            self.undo
                .push(std::mem::replace(&mut self.experiment, next));
        }
    }

    /// Shape inference against the loaded data, when there is data.
    pub fn shape_report(&self) -> Option<Result<(ShapeReport, Target), String>> {
        let ds = self.data.dataset.as_ref()?;
        Some(match ds.target(self.experiment.task) {
            Ok(target) => Ok((
                infer_shapes_joined(
                    &self.experiment.architecture,
                    self.experiment.task,
                    &self.experiment.data.encoding.input_shape(
                        ds.kind,
                        &ds.shape,
                        ds.joined.iter().map(|(_, w)| w).sum(),
                    ),
                    &ds.joined,
                    &target,
                ),
                target,
            )),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Why training cannot start now, if it cannot.
    pub fn train_blocker(&self) -> Option<String> {
        if self.training.is_running() {
            return Some("training is running".into());
        }
        if self.tasks.is_running(tasks::Kind::Data) {
            return Some("the data is still loading".into());
        }
        if let Some(e) = &self.data.error {
            return Some(format!("the data cannot be used: {e}"));
        }
        if let Err(e) = self.experiment.validate() {
            return Some(e.to_string());
        }
        match self.shape_report() {
            None => Some("choose data first".into()),
            Some(Err(e)) => Some(e),
            Some(Ok((report, _))) => report
                .first_error()
                .map(|e| format!("the network does not fit: {e}")),
        }
    }

    /// Read the experiment's data again (after its source changed).
    pub fn reload_data(&mut self, ctx: &egui::Context) {
        self.load_data(ctx);
    }

    /// Open a file dialog: the system's, or the in-app browser where the
    /// system has none. The answer is handled on a later frame.
    pub fn ask(&mut self, purpose: Purpose, ctx: &egui::Context) {
        if self.dialog.is_some() || self.browser.is_some() {
            return;
        }
        let dir = std::fs::canonicalize(self.base_dir()).unwrap_or_else(|_| self.base_dir());
        if self.in_app_files {
            let name = dialogs::suggested_name(purpose, &self.run_name());
            self.browser = Some(files::Browser::open(purpose, &dir, name));
        } else {
            self.dialog = Some(dialogs::ask(purpose, &dir, &self.run_name(), ctx));
        }
    }

    /// Check the start screen's data against its template in the background
    /// whenever the choice changed and no field is being typed in.
    fn check_start_form(&mut self, ctx: &egui::Context) {
        let typing = ctx.text_edit_focused();
        let seen = |f: &Option<StartForm>| f.as_ref().is_some_and(|f| f.same_choice(&self.start));
        if typing
            || seen(&self.checking)
            || self
                .start_check
                .as_ref()
                .is_some_and(|c| c.form.same_choice(&self.start))
        {
            return;
        }
        if let Some(job) = start::check_job(&self.start) {
            self.checking = Some(self.start.clone());
            self.tasks
                .restart(tasks::Kind::Check, "checking the data", ctx, job);
        }
    }

    /// What checking the start screen's data found, for the form as it is now.
    pub fn start_check_outcome(&self) -> Option<Result<String, String>> {
        self.start_check
            .as_ref()
            .filter(|c| c.form.same_choice(&self.start))
            .map(|c| c.outcome.clone())
    }

    /// The question waiting for an answer before something is replaced.
    pub fn asking(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    /// The purpose the in-app file browser is open for.
    pub fn browsing(&self) -> Option<Purpose> {
        self.browser.as_ref().map(|b| b.purpose)
    }

    /// Draw the in-app browser while it is open, and use what it chose.
    fn show_browser(&mut self, ctx: &egui::Context) {
        let Some(browser) = &mut self.browser else {
            return;
        };
        match browser.show(ctx) {
            files::Browsed::Open => {}
            files::Browsed::Closed => self.browser = None,
            files::Browsed::Chosen(purpose, path) => {
                self.browser = None;
                self.use_path(purpose, &path, ctx);
            }
        }
    }

    /// Ask before replacing; carry the action out if the user agrees.
    fn show_confirm(&mut self, ctx: &egui::Context) {
        let Some(confirm) = &self.confirm else {
            return;
        };
        match files::ask(ctx, confirm) {
            Some(true) => {
                if let Some(c) = self.confirm.take() {
                    self.apply(Action::Replace(Box::new(c.yes)), ctx);
                }
            }
            Some(false) => self.confirm = None,
            None => {}
        }
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(answer) = self.dialog.as_ref().and_then(|d| d.poll()) else {
            return;
        };
        let Some(pending) = self.dialog.take() else {
            return;
        };
        match answer {
            // The system's save dialog has asked about replacing already.
            Some(path) if dialogs::shape(pending.purpose) == dialogs::Shape::SaveFile => self
                .apply(
                    Action::Replace(Box::new(Action::UsePath(pending.purpose, path))),
                    ctx,
                ),
            Some(path) => self.use_path(pending.purpose, &path, ctx),
            None if pending.looks_unavailable() => {
                // No system dialog (no desktop portal): Lamina's own, from now on.
                self.in_app_files = true;
                self.ask(pending.purpose, ctx);
            }
            None => {}
        }
    }

    /// Act on a path the user chose in a dialog or dropped on the window. A
    /// save that would replace something asks first (unless already agreed);
    /// a model for a folder of other files goes into a new folder inside it.
    pub fn use_path(&mut self, purpose: Purpose, path: &Path, ctx: &egui::Context) {
        let redirected;
        let path = match files::target(purpose, path, &self.run_name()) {
            files::Target::Ask(question) if !self.replacing => {
                self.confirm = Some(files::Confirm {
                    question,
                    yes: Action::UsePath(purpose, path.to_path_buf()),
                });
                return;
            }
            files::Target::Instead(p) => {
                redirected = p;
                &redirected
            }
            _ => path,
        };
        let shown = path.display().to_string();
        match purpose {
            Purpose::OpenExperiment => self.open(path, ctx),
            Purpose::SaveExperiment => self.save_as(path),
            Purpose::DataFile | Purpose::DataFolder => {
                self.checkpoint();
                self.experiment.data.path = project::relative_to(path, &self.base_dir());
                // A file of another kind is read as that kind; the network's
                // fit is then checked against it like any edit.
                if let Ok(format) = crate::data::detect_format(path) {
                    self.experiment.data.format = format;
                }
                let is_images = path.is_dir();
                let labels = &mut self.experiment.data.labels;
                if is_images && *labels != crate::spec::LabelSource::None {
                    *labels = crate::spec::LabelSource::Folder;
                }
                self.reload_data(ctx);
            }
            Purpose::LabelTable => {
                self.checkpoint();
                let column = match &self.experiment.data.labels {
                    crate::spec::LabelSource::Metadata { column, .. }
                    | crate::spec::LabelSource::Column { column } => column.clone(),
                    _ => String::new(),
                };
                let column = if column.is_empty() {
                    project::second_column(path).unwrap_or_default()
                } else {
                    column
                };
                self.experiment.data.labels = crate::spec::LabelSource::Metadata {
                    path: project::relative_to(path, &self.base_dir()),
                    id_column: String::new(),
                    column,
                };
                self.reload_data(ctx);
            }
            Purpose::StartData | Purpose::StartDataFolder => self.start.data_path = shown,
            Purpose::StartLabels => self.start.labels_path = shown,
            Purpose::StartSecond => self.start.second_path = shown,
            Purpose::ExportModel
            | Purpose::ExportLatent
            | Purpose::ExportGenerated
            | Purpose::ExportPlots
            | Purpose::ExportAttentionPng
            | Purpose::ExportAttentionCsv => self.export(purpose, path, ctx),
            Purpose::ExportExplanation
            | Purpose::ExportExplainPng
            | Purpose::ExportExplainCsv
            | Purpose::ExportMotifs
            | Purpose::ExportLogoPng => match explain::export(purpose, path, &self.explain) {
                Ok(work) => self
                    .tasks
                    .spawn(tasks::Kind::Export, "exporting", ctx, move || {
                        work().map(tasks::Done::Exported)
                    }),
                Err(e) => self.message = Some((e, true)),
            },
            Purpose::ExplainData | Purpose::ExplainJoined(_) => self.explain.choose(purpose, path),
            Purpose::OpenModel => {
                let dir = path.to_path_buf();
                let label = format!("reading the model {}", dir.display());
                self.tasks
                    .spawn(tasks::Kind::OpenModel, label, ctx, move || {
                        let device = crate::train::device::DeviceChoice::cpu("predictions").device;
                        let model =
                            crate::export::load_model(&dir, &device).map_err(|e| e.to_string())?;
                        Ok(tasks::Done::Model(Box::new((
                            dir.display().to_string(),
                            model,
                        ))))
                    });
            }
            Purpose::OpenRun => self.open_run(path, ctx),
            Purpose::InitFrom => self.training.choose_init_from(path),
            Purpose::PredictData | Purpose::PredictJoined(_) => {
                if self.predict.choose(purpose, path) {
                    self.predict_now(ctx);
                }
            }
            Purpose::JoinedTable(k) => {
                self.checkpoint();
                let rel = project::relative_to(path, &self.base_dir());
                let joined = &mut self.experiment.data.joined;
                match joined.get_mut(k) {
                    Some(j) => j.path = rel,
                    None => {
                        let name = crate::spec::unique_input_name(path, joined);
                        joined.push(crate::spec::JoinedTable {
                            name,
                            path: rel,
                            id_column: String::new(),
                        });
                    }
                }
                self.reload_data(ctx);
            }
        }
    }

    /// Write the model folder, plots, latent coordinates, generated samples
    /// or the attention map to `path` on a background thread; what is needed
    /// is copied out of the window's state first.
    fn export(&mut self, purpose: Purpose, path: &Path, ctx: &egui::Context) {
        let path = path.to_path_buf();
        let t = &self.training;
        let map = || {
            t.attention
                .as_ref()
                .and_then(|s| attention::shown_map(s, self.attention_view))
        };
        let refuse = |why: &str| Some((why.to_string(), true));
        type Work = Box<dyn FnOnce() -> Result<String, String> + Send>;
        let work: Work = match purpose {
            Purpose::ExportModel => {
                let Some(o) = &t.outcome else {
                    self.message = refuse("train a model first");
                    return;
                };
                let (model, summary) = (o.model.clone(), o.summary.clone());
                Box::new(move || {
                    crate::export::save_model(&path, &model, Some(&summary))
                        .map(|()| format!("model saved to {}", path.display()))
                        .map_err(|e| e.to_string())
                })
            }
            Purpose::ExportLatent => {
                let Some(latent) = t.latent.clone() else {
                    self.message = refuse("there are no latent coordinates yet");
                    return;
                };
                Box::new(move || {
                    let (snap, points) = &latent;
                    crate::export::write_latent(&path, snap, points)
                        .map(|()| format!("latent coordinates saved to {}", path.display()))
                        .map_err(|e| e.to_string())
                })
            }
            Purpose::ExportGenerated => {
                let Some(o) = &t.outcome else {
                    self.message = refuse("train the GAN first");
                    return;
                };
                let model = o.model.clone();
                Box::new(move || {
                    crate::export::write_generated(&path, &model, 500)
                        .map(|()| format!("500 generated samples saved to {}", path.display()))
                        .map_err(|e| e.to_string())
                })
            }
            Purpose::ExportPlots => {
                if t.history.is_empty() {
                    self.message = refuse("train first: there are no plots yet");
                    return;
                }
                let plots = Plots {
                    history: t.history.clone(),
                    latent: t.latent.clone(),
                    class_names: self
                        .data
                        .dataset
                        .as_ref()
                        .map(|d| d.labels.class_names().to_vec())
                        .unwrap_or_default(),
                    confusion: t.outcome.as_ref().and_then(|o| {
                        o.summary
                            .confusion
                            .clone()
                            .map(|m| (m, o.model.class_names.clone()))
                    }),
                    attention: map().map(|m| (m.weights, m.positions)),
                };
                Box::new(move || plots.save(&path))
            }
            Purpose::ExportAttentionPng | Purpose::ExportAttentionCsv => {
                let Some(map) = map() else {
                    self.message = refuse("there is no attention map yet");
                    return;
                };
                let png = purpose == Purpose::ExportAttentionPng;
                Box::new(move || {
                    let written = if png {
                        crate::export::write_attention_png(&path, &map.weights, map.positions)
                    } else {
                        crate::export::write_attention_csv(&path, &map.weights, &map.labels)
                    };
                    written
                        .map(|()| format!("attention map saved to {}", path.display()))
                        .map_err(|e| e.to_string())
                })
            }
            _ => return,
        };
        let label = "exporting";
        self.tasks.spawn(tasks::Kind::Export, label, ctx, move || {
            work().map(tasks::Done::Exported)
        });
    }

    /// Files dropped on the window: an experiment opens; data replaces the data.
    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            let is_json = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let purpose = match (is_json, self.screen) {
                (true, _) => Purpose::OpenExperiment,
                (false, Screen::Start) => Purpose::StartData,
                (false, Screen::Workbench) => Purpose::DataFile,
            };
            self.use_path(purpose, &path, ctx);
        }
    }

    /// Write unsaved edits beside the experiment now and then; the experiment
    /// file itself changes only when the user saves.
    fn autosave(&mut self, ctx: &egui::Context) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let due = self
            .last_autosave
            .is_none_or(|t| t.elapsed() >= AUTOSAVE_EVERY);
        if due && self.has_unsaved_changes() && !self.tasks.is_running(tasks::Kind::Save) {
            self.last_autosave = Some(Instant::now());
            // Written (and synced to disk) off the UI thread.
            let exp = self.experiment.clone();
            self.tasks
                .spawn(tasks::Kind::Save, "autosaving", ctx, move || {
                    exp.save(&autosave_path(&path))
                        .map(|()| tasks::Done::Saved)
                        .map_err(|e| format!("autosave failed: {e}"))
                });
        }
        self.save_recent(ctx);
    }

    /// One frame of the whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let frame_start = Instant::now();
        let ctx = ui.ctx().clone();
        self.training.poll(&ctx);
        self.poll_tasks(&ctx);
        self.project_latent(&ctx);
        self.run_script(&ctx);
        self.poll_dialog(&ctx);
        self.show_browser(&ctx);
        self.show_confirm(&ctx);
        self.handle_drops(&ctx);
        self.shortcuts(&ctx);
        self.finish_edit(&ctx);
        self.autosave(&ctx);
        self.close_guard(&ctx);
        match self.screen {
            Screen::Start => {
                self.check_start_form(&ctx);
                let check = self
                    .start_check
                    .as_ref()
                    .filter(|c| c.form.same_choice(&self.start));
                let view = start::StartView {
                    check,
                    message: self.message.as_ref(),
                    recent: &self.recent,
                    can_go_back: self.path.is_some(),
                    tasks: &self.tasks,
                };
                for action in start::show(ui, &mut self.start, &view) {
                    self.apply(action, &ctx);
                }
            }
            Screen::Workbench => self.workbench(ui),
        }
        let took = frame_start.elapsed();
        // The same numbers as the frame log: the window's whole frame when known.
        self.training
            .record_frame(self.previous_frame.unwrap_or(took));
        self.log_frame(ctx.cumulative_frame_nr(), took);
    }

    /// Carry out the next step of a scripted session once the window is idle.
    fn run_script(&mut self, ctx: &egui::Context) {
        use script::Step;
        let idle = self.tasks.is_idle()
            && !self.training.is_running()
            && self.dialog.is_none()
            && self.browser.is_none()
            && self.confirm.is_none();
        let Some((script, printed)) = &mut self.script else {
            return;
        };
        // Frames at a steady 60 per second, as while a person moves the mouse.
        ctx.request_repaint_after(Duration::from_millis(16));
        let message = self.message.as_ref().map(|(m, _)| m.clone());
        if message.is_some() && message != *printed {
            eprintln!("lamina: {}", message.as_deref().unwrap_or_default());
            *printed = message;
        }
        let Some(step) = script.next(idle) else {
            return;
        };
        eprintln!("lamina script: {step:?}");
        match step {
            Step::Template {
                name,
                data,
                labels,
                experiment,
            } => match script::template_index(&name) {
                Some(i) => {
                    self.start = StartForm {
                        template: Some(i),
                        data_path: script::shown(&data),
                        labels_path: labels.as_deref().map(script::shown).unwrap_or_default(),
                        experiment_path: script::shown(&experiment),
                        ..Default::default()
                    };
                    self.apply(Action::Create, ctx);
                }
                None => self.message = Some((format!("no template is called {name}"), true)),
            },
            Step::Set(setting) => {
                if let Err(e) = project::apply_settings(&mut self.experiment, &[setting]) {
                    self.message = Some((e, true));
                }
            }
            Step::Train => self.start_training(),
            Step::Act(action) => self.apply(action, ctx),
            Step::Predict(path) => {
                self.apply(Action::UseTrainedModel, ctx);
                self.result_view = ResultView::Predict;
                self.apply(Action::UsePath(Purpose::PredictData, path), ctx);
            }
            Step::Explain => {
                self.result_view = ResultView::Explain;
                self.apply(Action::Explain, ctx);
            }
            Step::Pause(_) => {}
            Step::Quit => {
                self.allow_close = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    /// Project the newest latent snapshot to 2-D on a background thread.
    fn project_latent(&mut self, ctx: &egui::Context) {
        if let Some(snap) = self.training.take_unprojected() {
            self.tasks.restart(
                tasks::Kind::Projection,
                "projecting the latent space",
                ctx,
                move || {
                    let points = crate::analysis::pca_2d(&snap.values, snap.ids.len(), snap.dims);
                    Ok(tasks::Done::Projected(Box::new((snap, points))))
                },
            );
        }
    }

    /// Append this frame's UI-thread time to the frame log, if one is kept.
    fn log_frame(&mut self, frame: u64, took: Duration) {
        let Some(log) = &mut self.frame_log else {
            return;
        };
        let mut activity: Vec<&str> = self.tasks.activities().collect();
        if self.training.is_running() {
            activity.push("training");
        }
        log.record(frame, took, &activity, self.previous_frame);
    }

    /// Ask before closing with unsaved changes or a running training.
    fn close_guard(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested())
            && !self.allow_close
            && (self.has_unsaved_changes() || self.training.is_running())
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_close = true;
        }
        if !self.confirm_close {
            return;
        }
        let mut choice = None;
        egui::Modal::new(egui::Id::unique("confirm_close")).show(ctx, |ui| {
            ui.heading("Close Lamina?");
            if self.has_unsaved_changes() {
                ui.label("The experiment has changes that are not saved.");
            }
            if self.training.is_running() {
                ui.label("Training is still running and will be stopped.");
            }
            ui.horizontal(|ui| {
                if self.path.is_some()
                    && self.has_unsaved_changes()
                    && ui.button("Save and close").clicked()
                {
                    choice = Some(true);
                }
                if ui.button("Close without saving").clicked() {
                    choice = Some(false);
                }
                if ui.button("Cancel").clicked() {
                    self.confirm_close = false;
                }
            });
        });
        if let Some(save) = choice {
            if save && let Some(p) = self.path.clone() {
                self.save_as(&p);
            }
            self.training.send(crate::train::Command::Stop);
            self.allow_close = true;
            self.confirm_close = false;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let (undo, redo, save) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z),
                i.consume_key(
                    egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
                    egui::Key::Z,
                ) || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::S),
            )
        });
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
        if save && let Some(p) = self.path.clone() {
            self.save_as(&p);
        }
    }

    fn workbench(&mut self, ui: &mut egui::Ui) {
        // What the panels edit in place becomes one undo step (see `finish_edit`).
        let before = self.experiment.clone();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("palette")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| {
                architecture::palette(ui, &mut self.network_panel(None))
            });
        egui::Panel::right("training")
            .resizable(true)
            .default_size(440.0)
            .size_range(320.0..=900.0)
            .show(ui, |ui| self.training_panel(ui));
        egui::CentralPanel::default_margins().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let base = self.base_dir();
                let mut panel = data::DataPanel {
                    spec: &mut self.experiment.data,
                    data: &mut self.data,
                    tasks: &self.tasks,
                    base: &base,
                };
                for action in data::panel(ui, &mut panel) {
                    self.apply(action, ui.ctx());
                }
                ui.separator();
                let report = self.shape_report();
                for action in architecture::editor(ui, &mut self.network_panel(report)) {
                    self.apply(action, ui.ctx());
                }
            });
        });
        if self.experiment != before {
            self.note_edit(before);
        }
    }

    /// The network's state for the palette and the editor (`report`: shape
    /// inference, for the editor).
    fn network_panel(
        &mut self,
        report: Option<Result<(ShapeReport, Target), String>>,
    ) -> architecture::NetworkPanel<'_> {
        let joined = self
            .experiment
            .architecture
            .stacks
            .iter()
            .map(|s| self.experiment.joined_inputs(&s.name))
            .collect();
        architecture::NetworkPanel {
            arch: &mut self.experiment.architecture,
            selected: &mut self.selected,
            view: &mut self.network_view,
            task: self.experiment.task,
            joined,
            report,
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Lamina");
            ui.separator();
            if ui
                .button("Templates")
                .on_hover_text("Back to the start screen")
                .clicked()
            {
                self.screen = Screen::Start;
            }
            ui.add_enabled_ui(!self.undo.is_empty(), |ui| {
                if ui.button("Undo").clicked() {
                    self.undo();
                }
            });
            ui.add_enabled_ui(!self.redo.is_empty(), |ui| {
                if ui.button("Redo").clicked() {
                    self.redo();
                }
            });
            ui.separator();
            let name = ui.label("File:");
            ui.add(egui::TextEdit::singleline(&mut self.path_input).desired_width(260.0))
                .labelled_by(name.id);
            if ui.button("Save").clicked() {
                let p = PathBuf::from(self.path_input.trim());
                if p.as_os_str().is_empty() {
                    self.message = Some(("type a file name to save to".into(), true));
                } else if self.path.as_deref() == Some(p.as_path()) {
                    self.save_as(&p);
                } else {
                    // Another file: asked about first if it exists.
                    let ctx = ui.ctx().clone();
                    self.use_path(Purpose::SaveExperiment, &p, &ctx);
                }
            }
            if ui.button("Open").clicked() {
                let p = PathBuf::from(self.path_input.trim());
                let ctx = ui.ctx().clone();
                self.open(&p, &ctx);
            }
            if ui
                .button("Open…")
                .on_hover_text("Choose an experiment file")
                .clicked()
            {
                self.ask(Purpose::OpenExperiment, ui.ctx());
            }
            if ui.button("Save as…").clicked() {
                self.ask(Purpose::SaveExperiment, ui.ctx());
            }
            if ui
                .button("Open run…")
                .on_hover_text("Look at a finished or interrupted run: a folder written by `lamina train` or the Train button (typing its path in the field and pressing Open works too)")
                .clicked()
            {
                self.ask(Purpose::OpenRun, ui.ctx());
            }
            if self.has_unsaved_changes() {
                ui.colored_label(egui::Color32::from_rgb(200, 140, 0), "* unsaved changes");
            }
        });
        if let Some(rec) = self.recovered.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(
                    egui::Color32::from_rgb(200, 140, 0),
                    "This experiment has autosaved changes that were never saved.",
                );
                if ui.button("Restore them").clicked() {
                    self.checkpoint();
                    self.experiment = rec;
                    self.recovered = None;
                    self.reload_data(ui.ctx());
                }
                if ui.button("Discard").clicked() {
                    if let Some(p) = &self.path {
                        let _ = std::fs::remove_file(autosave_path(p));
                    }
                    self.recovered = None;
                }
            });
        }
        if self.tasks.show(ui, tasks::Kind::Open) {
            self.tasks.cancel(tasks::Kind::Open);
        }
        if let Some((msg, is_error)) = &self.message {
            let color = if *is_error {
                egui::Color32::from_rgb(220, 60, 60)
            } else {
                egui::Color32::from_rgb(60, 160, 60)
            };
            ui.colored_label(color, msg);
        } else {
            // The message's line is kept, so that the workbench does not move
            // when one appears.
            ui.label(" ");
        }
    }
}

/// What the plots are drawn from, copied out of the window for the export job.
struct Plots {
    history: Vec<crate::train::EpochMetrics>,
    latent: Option<(crate::train::LatentSnapshot, Vec<[f64; 2]>)>,
    class_names: Vec<String>,
    confusion: Option<(Vec<Vec<usize>>, Vec<String>)>,
    attention: Option<(Vec<f32>, usize)>,
}

impl Plots {
    /// Save every plot as PNG into `dir`: curves, latent map, confusion
    /// matrix, the attention map that was on screen. Stops between plots
    /// when cancelled.
    fn save(&self, dir: &Path) -> Result<String, String> {
        use crate::export::plots;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut files = plots::curve_plots(dir, &self.history).map_err(|e| e.to_string())?;
        let cancelled = || {
            crate::data::progress::cancelled()
                .then(|| crate::data::progress::CANCELLED.to_string())
                .map_or(Ok(()), Err)
        };
        if let Some((snap, points)) = &self.latent {
            cancelled()?;
            let path = dir.join("latent.png");
            let title = format!(
                "Latent space (PCA of {} dimensions, validation samples)",
                snap.dims
            );
            plots::scatter_png(
                &path,
                &title,
                points,
                snap.labels.as_deref(),
                &self.class_names,
            )
            .map_err(|e| e.to_string())?;
            files.push(path);
        }
        if let Some((m, names)) = &self.confusion {
            cancelled()?;
            let path = dir.join("confusion.png");
            plots::confusion_png(&path, m, names).map_err(|e| e.to_string())?;
            files.push(path);
        }
        if let Some((weights, positions)) = &self.attention {
            cancelled()?;
            let path = dir.join("attention.png");
            crate::export::write_attention_png(&path, weights, *positions)
                .map_err(|e| e.to_string())?;
            files.push(path);
        }
        Ok(format!("{} plots saved to {}", files.len(), dir.display()))
    }
}

/// `~/.config/lamina/recent.json` (or under `$XDG_CONFIG_HOME`).
fn recent_list_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("lamina").join("recent.json"))
}

/// Where unsaved edits of `path` are autosaved: `name.json.autosave` beside it.
pub fn autosave_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".autosave");
    path.with_file_name(name)
}

fn is_newer(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(a), modified(b)) {
        (Some(x), Some(y)) => x > y,
        _ => false,
    }
}

impl eframe::App for LaminaApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.previous_frame = frame
            .info()
            .cpu_usage
            .map(|s| Duration::from_secs_f32(s.max(0.0)));
        self.show(ui);
    }
}

/// Open the window, optionally with an experiment file.
///
/// With `train_now`, training starts as soon as the experiment's data is read
/// (for demonstrations and screenshots).
pub fn run(experiment: Option<PathBuf>, train_now: bool) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Lamina")
            .with_inner_size([1400.0, 860.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Lamina",
        options,
        Box::new(move |cc| {
            let mut app = LaminaApp::with_recent_list();
            app.frame_log = frame_log::FrameLog::from_env();
            match script::Script::from_env() {
                Ok(s) => app.script = s.map(|s| (s, None)),
                Err(e) => app.message = Some((e, true)),
            }
            if let Some(p) = experiment {
                app.open(&p, &cc.egui_ctx);
                if train_now {
                    app.wait_for_tasks(&cc.egui_ctx);
                    app.start_training();
                }
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
