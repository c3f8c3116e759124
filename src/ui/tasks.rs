//! The window's background jobs: reading data, creating an experiment from a
//! template, opening run folders and models, exports, predictions, latent
//! projections, episode replays and explanations. Each job runs on its own thread under a
//! name ([`Kind`]), reports how far it has got through a shared
//! [`LoadProgress`] (the readers count the bytes they read), can be cancelled,
//! and hands back one [`Done`] that the app applies between frames. What a job
//! computes is up to the caller; this only runs, shows and collects them, so
//! no frame ever waits on a file or a computation.

use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use eframe::egui;

use super::predict::PredictionResult;
use super::{Opened, rl};
use crate::data::Dataset;
use crate::data::progress::{self, LoadProgress};
use crate::spec::Experiment;
use crate::train::TrainedModel;

/// What a job does. A button is disabled only while a job of its own kind
/// (or one it conflicts with) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Reading the experiment's data.
    Data,
    /// Checking a data file against a template and writing the experiment.
    Create,
    /// Reading an experiment file, or a run or sweep folder.
    Open,
    /// Reading a model folder for predictions.
    OpenModel,
    /// Writing the model folder, plots, latent coordinates, samples or maps.
    Export,
    Predict,
    /// The latent map's 2-D projection.
    Projection,
    /// Playing an episode with the trained agent.
    Replay,
    /// Writing the autosave or the list of recent experiments (not shown).
    Save,
    /// Checking the start screen's data against its template, before Create.
    Check,
    /// Explaining what the model looks at (the Explain view).
    Explain,
}

impl Kind {
    /// The activity's name in the frame-time log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Data => "loading",
            Kind::Create => "creating",
            Kind::Open => "opening",
            Kind::OpenModel => "opening-model",
            Kind::Export => "exporting",
            Kind::Predict => "predicting",
            Kind::Projection => "projecting",
            Kind::Replay => "replaying",
            Kind::Save => "saving",
            Kind::Check => "checking",
            Kind::Explain => "explaining",
        }
    }
}

/// What a finished job hands back.
pub enum Done {
    Data(Box<Dataset>),
    /// An experiment written from a template, where it was saved, and the data
    /// it was checked on (not read a second time).
    Created(Box<(Experiment, std::path::PathBuf, Dataset)>),
    Opened(Opened),
    /// An experiment file read and checked, and its autosave when that holds
    /// newer changes.
    Experiment(Box<(Experiment, std::path::PathBuf, Option<Experiment>)>),
    Model(Box<(String, TrainedModel)>),
    /// A message to show (the files written).
    Exported(String),
    Predicted(PredictionResult),
    /// A latent snapshot and its 2-D points.
    Projected(Box<(crate::train::LatentSnapshot, Vec<[f64; 2]>)>),
    Replayed(rl::Playback),
    /// A file the user need not hear about was written.
    Saved,
    /// What the start screen's data holds, or why it does not suit the template.
    Checked(Box<super::start::Checked>),
    Explained(Box<super::explain::ExplainResult>),
}

/// How a job ended.
pub enum Ending {
    Done(Done),
    Failed(String),
    Cancelled,
}

struct Running {
    kind: Kind,
    label: String,
    progress: Arc<LoadProgress>,
    answer: Receiver<Result<Done, String>>,
    started: Instant,
}

/// A gate new jobs wait at before working (tests hold it to cancel a job
/// before it could have finished).
type Gate = Arc<(Mutex<bool>, Condvar)>;

/// The jobs running now.
#[derive(Default)]
pub struct Tasks {
    running: Vec<Running>,
    gate: Option<Gate>,
}

impl Tasks {
    /// Run `work` in place of any job of the same kind still running, which
    /// is cancelled and whose answer is dropped (data read with settings that
    /// have changed since, a projection of an older snapshot).
    pub fn restart(
        &mut self,
        kind: Kind,
        label: impl Into<String>,
        ctx: &egui::Context,
        work: impl FnOnce() -> Result<Done, String> + Send + 'static,
    ) {
        self.cancel(kind);
        self.running.retain(|r| r.kind != kind);
        self.spawn(kind, label, ctx, work);
    }

    /// Run `work` on a new thread as the job `kind`, shown as `label`. `work`
    /// sees the job's progress through `data::progress`, and should check
    /// `progress::cancelled()` before it writes anything final.
    pub fn spawn(
        &mut self,
        kind: Kind,
        label: impl Into<String>,
        ctx: &egui::Context,
        work: impl FnOnce() -> Result<Done, String> + Send + 'static,
    ) {
        let progress = Arc::new(LoadProgress::default());
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        let shared = progress.clone();
        let gate = self.gate.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("lamina-{}", kind.name()))
            .spawn(move || {
                // The window draws first (image decoding threads inherit this).
                crate::train::lower_priority();
                if let Some(gate) = gate {
                    let (open, turn) = &*gate;
                    let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
                    while !*open {
                        open = turn.wait(open).unwrap_or_else(|e| e.into_inner());
                    }
                }
                let result = if shared.is_cancelled() {
                    Err(progress::CANCELLED.to_string())
                } else {
                    progress::with(shared, work)
                };
                let _ = tx.send(result);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.running.push(Running {
                kind,
                label: label.into(),
                progress,
                answer: rx,
                started: Instant::now(),
            }),
            Err(e) => {
                // No thread: answer at once with the reason, on the next poll.
                let (tx, rx) = channel();
                let _ = tx.send(Err(format!("cannot start a background job: {e}")));
                self.running.push(Running {
                    kind,
                    label: label.into(),
                    progress,
                    answer: rx,
                    started: Instant::now(),
                });
            }
        }
    }

    pub fn is_running(&self, kind: Kind) -> bool {
        self.running.iter().any(|r| r.kind == kind)
    }

    pub fn is_idle(&self) -> bool {
        self.running.is_empty()
    }

    /// The names of the jobs running, for the frame-time log.
    pub fn activities(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.running.iter().map(|r| r.kind.name())
    }

    /// Ask the job `kind` to stop; it answers `Cancelled` once it has (a job
    /// that finished first answers with its result).
    pub fn cancel(&mut self, kind: Kind) {
        for r in self.running.iter().filter(|r| r.kind == kind) {
            r.progress.cancel();
        }
    }

    /// The jobs that have ended since the last call.
    pub fn poll(&mut self) -> Vec<(Kind, Ending)> {
        let mut ended = Vec::new();
        self.running.retain(|r| match r.answer.try_recv() {
            Ok(result) => {
                ended.push((r.kind, ending(result, &r.progress)));
                false
            }
            Err(TryRecvError::Disconnected) => {
                ended.push((
                    r.kind,
                    Ending::Failed(format!(
                        "{} failed with an internal error; please report it",
                        r.label
                    )),
                ));
                false
            }
            Err(TryRecvError::Empty) => true,
        });
        ended
    }

    /// Block until every job has ended, and return how each did (tests and
    /// headless screenshots).
    pub fn wait(&mut self) -> Vec<(Kind, Ending)> {
        self.release();
        let mut ended = Vec::new();
        for r in self.running.drain(..) {
            let result = r
                .answer
                .recv()
                .unwrap_or_else(|_| Err(format!("{} failed with an internal error", r.label)));
            ended.push((r.kind, ending(result, &r.progress)));
        }
        ended
    }

    /// Hold new jobs before they start working, until [`Tasks::release`] (tests).
    #[doc(hidden)]
    pub fn hold(&mut self) {
        self.gate = Some(Arc::new((Mutex::new(false), Condvar::new())));
    }

    /// Let held jobs work.
    #[doc(hidden)]
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.take() {
            let (open, turn) = &*gate;
            *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
            turn.notify_all();
        }
    }

    /// The job `kind` in place: a spinner, what it is doing and how far it
    /// has got, and a Cancel button. True when Cancel was pressed.
    pub fn show(&self, ui: &mut egui::Ui, kind: Kind) -> bool {
        let Some(r) = self.running.iter().find(|r| r.kind == kind) else {
            return false;
        };
        let mut cancel = false;
        ui.horizontal(|ui| {
            ui.spinner();
            let cancelled = r.progress.is_cancelled();
            let doing = if cancelled {
                "cancelling…".to_string()
            } else {
                match r.progress.describe().as_str() {
                    "Reading…" => format!("{}…", r.label),
                    d => d.to_string(),
                }
            };
            match r.progress.fraction() {
                Some(f) if !cancelled => {
                    ui.add(
                        egui::ProgressBar::new(f)
                            .desired_width(160.0)
                            .text(format!("{:.0}%", f * 100.0)),
                    );
                }
                _ => {}
            }
            ui.label(doing);
            if r.started.elapsed().as_secs_f32() > 1.0 {
                ui.weak(format!("{:.0} s", r.started.elapsed().as_secs_f32()));
            }
            if !cancelled && ui.button("Cancel").clicked() {
                cancel = true;
            }
        });
        cancel
    }
}

fn ending(result: Result<Done, String>, progress: &LoadProgress) -> Ending {
    match result {
        // Whatever a cancelled job says, it was cancelled: a reader stopped by
        // the cancel fails with an error that is not the user's concern.
        _ if progress.is_cancelled() => Ending::Cancelled,
        Ok(done) => Ending::Done(done),
        Err(e) => Ending::Failed(e),
    }
}
