//! The run folder: one writer ([`RunWriter`], driven by [`record`]) and one
//! reader ([`RunRecord::open`]), shared by `lamina train`, the window and
//! anything else that trains. The writer turns the engine's events into files
//! as they come, so an interrupted run still leaves its curves and last
//! snapshots; the reader gives back everything the window shows.
//!
//! A run folder holds:
//! - `experiment.json`: the experiment as it was trained, its data paths
//!   relative to the run folder (so `lamina train RUN/experiment.json` works);
//! - `started.json`: device and split sizes;
//! - `metrics.jsonl`: one line per epoch and split (no timings, so two runs
//!   with the same seed on the CPU give the same file), the learning rate on
//!   the training line, the validation confusion matrix on the validation line;
//! - `latent.json`, `reconstructions.json`, `attention.json`,
//!   `gan_samples.json`: the latest snapshot of each kind; `gan_progress.jsonl`
//!   and `episodes.jsonl`: one line per GAN snapshot and per DQN episode;
//! - at the end: `summary.json` (with the full evaluation of the validation
//!   and test splits), `model/` (see [`super::save_model`]), the curves and
//!   confusion matrix as PNG, `roc.png` and `pr.png` (classifiers) or
//!   `predicted_vs_true.png` (regression) of the test split (else the
//!   validation split), `generated.csv` for a GAN; or `error.txt` when
//!   training failed.
//!
//! Every whole-file write is atomic; the line files are appended a whole line
//! (or epoch) per write, so a run killed at any moment leaves whole files and
//! at most one cut last line, which the reader leaves out. One writer at a
//! time: a run folder is locked (`lamina.lock`) while a run writes into it, a
//! second run into it is refused, and a folder that holds a run, finished or
//! killed, is never started afresh (it can be resumed).
//! Training itself, and how the files are shown, are left to `train` and `ui`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ExportError, ModelMeta, plots};
use crate::spec::{Experiment, Task, write_atomic};
use crate::train::dqn::EpisodeReport;
use crate::train::{
    AttentionSnapshot, Checkpoint, CheckpointState, EpochMetrics, Event, GanSnapshot, Job,
    LatentSnapshot, Outcome, ReconstructionSnapshot, SplitMetrics, StartInfo, Summary, Worker,
};

const EXPERIMENT: &str = "experiment.json";
const STARTED: &str = "started.json";
const METRICS: &str = "metrics.jsonl";
const LATENT: &str = "latent.json";
const RECONSTRUCTIONS: &str = "reconstructions.json";
const ATTENTION: &str = "attention.json";
const GAN_SAMPLES: &str = "gan_samples.json";
const GAN_PROGRESS: &str = "gan_progress.jsonl";
const EPISODES: &str = "episodes.jsonl";
const SUMMARY: &str = "summary.json";
const ERROR: &str = "error.txt";
const MODEL: &str = "model";
const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_STATE: &str = "state.json";
const CHECKPOINT_WEIGHTS: &str = "weights.safetensors";
const CHECKPOINT_OPTIMIZER: &str = "optimizer.bpk";
const CHECKPOINT_BEST: &str = "best.safetensors";
/// Held locked by the one writer of a run folder while it writes (the lock,
/// not the file, counts: the system lets it go when the writer ends, however).
const LOCK: &str = "lamina.lock";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "{} already holds a run (it has {}); choose another folder, or move that run away first",
        path.display(),
        found
    )]
    Exists { path: PathBuf, found: &'static str },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error(
        "{} is not a run folder: it has no {METRICS} or {EXPERIMENT} (a run folder is what `lamina train --out` or the Train button writes)",
        path.display()
    )]
    NotARun { path: PathBuf },
    #[error(
        "another Lamina run is writing into {} right now; wait for it to end, or choose another folder",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error(
        "{} holds a finished run ({epochs} epochs): there is nothing to resume; to train further, start a new run from its model",
        path.display()
    )]
    Finished { path: PathBuf, epochs: usize },
    #[error(
        "{} has no checkpoint to resume from (the run stopped before its first epoch ended, or it is a GAN or DQN run, which keep none yet)",
        path.display()
    )]
    NoCheckpoint { path: PathBuf },
    #[error(transparent)]
    Model(#[from] ExportError),
}

/// Writes one run folder from the engine's events.
pub struct RunWriter {
    dir: PathBuf,
    /// Locked for as long as this writer lives: a second writer is refused.
    _lock: File,
    metrics: File,
    gan_progress: Option<File>,
    episodes: Option<File>,
    task: Task,
    /// Snapshots not yet written (file name, JSON), and when each file was last
    /// written: an attention snapshot can be megabytes, so each kind is
    /// written at most every [`SNAPSHOT_EVERY`], and whatever is pending at the end.
    pending: Vec<(&'static str, Snapshot)>,
    written: Vec<(&'static str, std::time::Instant)>,
    /// The experiment as written into the folder (data paths relative to it).
    experiment: Experiment,
    /// Gathered when the run starts, written into `summary.json` at the end.
    reproducibility: Option<crate::provenance::Reproducibility>,
    /// The data's notes and the run's, written into `summary.json` at the end.
    notes: Vec<String>,
}

/// A snapshot kept until its file is written; serialised as the inner value.
#[derive(Serialize)]
#[serde(untagged)]
enum Snapshot {
    Latent(LatentSnapshot),
    Reconstructions(ReconstructionSnapshot),
    Attention(AttentionSnapshot),
    Gan(Box<GanSnapshot>),
}

/// How often a kind of snapshot is written to the run folder at most.
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl RunWriter {
    /// Start a run in `dir` (made if missing) for `exp`, whose relative data
    /// paths are relative to `base`. A folder that already holds a run is
    /// refused, so no earlier results are overwritten.
    pub fn create(dir: &Path, exp: &Experiment, base: &Path) -> Result<RunWriter, RunError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let lock = lock(dir)?;
        for found in [METRICS, SUMMARY, MODEL] {
            if dir.join(found).exists() {
                return Err(RunError::Exists {
                    path: dir.to_path_buf(),
                    found,
                });
            }
        }
        // Made only if it is not there: of two runs started at once, one has it.
        let metrics_path = dir.join(METRICS);
        let metrics = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&metrics_path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => RunError::Exists {
                    path: dir.to_path_buf(),
                    found: METRICS,
                },
                _ => RunError::Write {
                    path: metrics_path.clone(),
                    source: e,
                },
            })?;
        let rebased = crate::project::rebased(exp, base, dir);
        write_atomic(&dir.join(EXPERIMENT), rebased.to_json().as_bytes())
            .map_err(write_err(&dir.join(EXPERIMENT)))?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            metrics,
            gan_progress: None,
            episodes: None,
            task: exp.task,
            pending: Vec::new(),
            written: Vec::new(),
            experiment: rebased,
            reproducibility: None,
            notes: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, name: &str) -> impl FnOnce(std::io::Error) -> RunError {
        let path = self.dir.join(name);
        move |source| RunError::Write { path, source }
    }

    fn json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunError> {
        let text = serde_json::to_string(value).map_err(std::io::Error::other);
        write_atomic(
            &self.dir.join(name),
            text.map_err(self.err(name))?.as_bytes(),
        )
        .map_err(self.err(name))
    }

    fn line<T: Serialize>(
        dir: &Path,
        file: &mut Option<File>,
        name: &str,
        value: &T,
    ) -> Result<(), RunError> {
        let path = dir.join(name);
        let io = |source| RunError::Write {
            path: path.clone(),
            source,
        };
        if file.is_none() {
            *file = Some(File::create(&path).map_err(io)?);
        }
        let f = file.as_mut().expect("just opened");
        let mut text = serde_json::to_string(value)
            .map_err(std::io::Error::other)
            .map_err(io)?;
        text.push('\n');
        // One write per line: a run killed mid-way cuts at most the last line.
        f.write_all(text.as_bytes()).map_err(io)
    }

    /// Write what `event` adds to the run.
    pub fn record(&mut self, event: &Event) -> Result<(), RunError> {
        match event {
            Event::Started(s) => {
                // Hashing the inputs reads them once more, here on the
                // writer's thread, while the training goes on.
                self.reproducibility =
                    Some(crate::provenance::record(&self.experiment, &self.dir, s));
                self.notes = s.data_notes.clone();
                self.json(STARTED, s)
            }
            Event::Epoch(m) => self.epoch(m),
            Event::Latent(l) => self.snapshot(LATENT, Snapshot::Latent(l.clone())),
            Event::Reconstructions(r) => {
                self.snapshot(RECONSTRUCTIONS, Snapshot::Reconstructions(r.clone()))
            }
            Event::Attention(a) => self.snapshot(ATTENTION, Snapshot::Attention(a.clone())),
            Event::GanSamples(g) => {
                let point = [g.epoch as f64, g.structure_correlation, g.spread_ratio];
                Self::line(&self.dir, &mut self.gan_progress, GAN_PROGRESS, &point)?;
                self.snapshot(GAN_SAMPLES, Snapshot::Gan(Box::new(g.clone())))
            }
            Event::Episode(e) => Self::line(&self.dir, &mut self.episodes, EPISODES, e),
            Event::Finished(outcome) => {
                self.flush()?;
                self.finish(outcome)
            }
            Event::Failed(msg) => {
                self.flush()?;
                write_atomic(&self.dir.join(ERROR), msg.as_bytes()).map_err(self.err(ERROR))
            }
            Event::Checkpoint(ck) => self.checkpoint(ck),
            Event::Note(n) => {
                self.notes.push(n.clone());
                Ok(())
            }
            Event::Progress(_) | Event::Paused | Event::Resumed => Ok(()),
        }
    }

    /// Replace `checkpoint/` whole: written beside it, then swapped in, so a
    /// run killed at any moment leaves one whole checkpoint (`checkpoint/`,
    /// or `checkpoint.old/` during the swap).
    fn checkpoint(&mut self, ck: &Checkpoint) -> Result<(), RunError> {
        let fresh = self.dir.join(".checkpoint.partial");
        let old = self.dir.join("checkpoint.old");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::Write { path, source }
        };
        let _ = std::fs::remove_dir_all(&fresh);
        std::fs::create_dir_all(&fresh).map_err(io(&fresh))?;
        let state = serde_json::to_string_pretty(&ck.state).map_err(std::io::Error::other);
        let mut files: Vec<(&str, &[u8])> = vec![
            (CHECKPOINT_WEIGHTS, &ck.weights),
            (CHECKPOINT_OPTIMIZER, &ck.optimizer),
        ];
        if let Some(b) = &ck.best_weights {
            files.push((CHECKPOINT_BEST, b));
        }
        let state = state.map_err(io(&fresh.join(CHECKPOINT_STATE)))?;
        // The state last: a checkpoint folder without it is not whole.
        files.push((CHECKPOINT_STATE, state.as_bytes()));
        for (name, bytes) in files {
            write_atomic(&fresh.join(name), bytes).map_err(io(&fresh.join(name)))?;
        }
        let current = self.dir.join(CHECKPOINT);
        let _ = std::fs::remove_dir_all(&old);
        if current.exists() {
            std::fs::rename(&current, &old).map_err(io(&current))?;
        }
        std::fs::rename(&fresh, &current).map_err(io(&current))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Continue the run in `dir` from its checkpoint: returns the writer, the
    /// experiment as it was trained (data paths relative to `dir`) and the
    /// checkpoint. The epochs after the checkpoint are dropped from
    /// `metrics.jsonl`, to be trained again.
    pub fn resume(dir: &Path) -> Result<(RunWriter, Experiment, Checkpoint), RunError> {
        let record = RunRecord::open(dir)?;
        let lock = lock(dir)?;
        if let Some(s) = &record.summary {
            return Err(RunError::Finished {
                path: dir.to_path_buf(),
                epochs: s.epochs_completed,
            });
        }
        let experiment = record.experiment.ok_or_else(|| RunError::Read {
            path: dir.join(EXPERIMENT),
            message: "it is missing".into(),
        })?;
        let ck = read_checkpoint(dir)?.ok_or_else(|| RunError::NoCheckpoint {
            path: dir.to_path_buf(),
        })?;
        let metrics_path = dir.join(METRICS);
        let io = |source| RunError::Write {
            path: metrics_path.clone(),
            source,
        };
        let mut kept = Vec::new();
        for m in &ck.state.history {
            for obj in metrics_lines(m).map_err(io)? {
                writeln!(kept, "{obj}").map_err(io)?;
            }
        }
        write_atomic(&metrics_path, &kept).map_err(io)?;
        let _ = std::fs::remove_file(dir.join(ERROR));
        let metrics = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(io)?;
        let writer = RunWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            metrics,
            gan_progress: None,
            episodes: None,
            task: experiment.task,
            pending: Vec::new(),
            written: Vec::new(),
            experiment: experiment.clone(),
            reproducibility: None,
            notes: Vec::new(),
        };
        Ok((writer, experiment, ck))
    }

    /// Keep the latest snapshot of a kind; write it when its file is due.
    fn snapshot(&mut self, name: &'static str, value: Snapshot) -> Result<(), RunError> {
        self.pending.retain(|(n, _)| *n != name);
        self.pending.push((name, value));
        let due = self
            .written
            .iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, t)| t.elapsed() >= SNAPSHOT_EVERY);
        if due {
            self.write_pending(Some(name))
        } else {
            Ok(())
        }
    }

    /// Write every snapshot not yet written (at the end of a run).
    pub fn flush(&mut self) -> Result<(), RunError> {
        self.write_pending(None)
    }

    fn write_pending(&mut self, only: Option<&str>) -> Result<(), RunError> {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(n, _)| only.is_none_or(|o| o == *n));
        self.pending = later;
        for (name, value) in now {
            self.json(name, &value)?;
            self.written.retain(|(n, _)| *n != name);
            self.written.push((name, std::time::Instant::now()));
        }
        Ok(())
    }

    fn epoch(&mut self, m: &EpochMetrics) -> Result<(), RunError> {
        // The epoch's lines in one write: a run killed mid-way cuts at most
        // the last line, which the reader leaves out.
        let written = metrics_lines(m).and_then(|lines| {
            let mut text = Vec::new();
            for obj in lines {
                writeln!(text, "{obj}")?;
            }
            self.metrics.write_all(&text)
        });
        written.map_err(self.err(METRICS))
    }

    fn finish(&mut self, outcome: &Outcome) -> Result<(), RunError> {
        let mut summary = outcome.summary.clone();
        summary.reproducibility = self.reproducibility.clone();
        summary.notes = self.notes.clone();
        super::save_model(&self.dir.join(MODEL), &outcome.model, Some(&summary))?;
        let text = serde_json::to_string_pretty(&summary).map_err(std::io::Error::other);
        write_atomic(
            &self.dir.join(SUMMARY),
            text.map_err(self.err(SUMMARY))?.as_bytes(),
        )
        .map_err(self.err(SUMMARY))?;
        if !outcome.history.is_empty() {
            plots::curve_plots(&self.dir, &outcome.history)?;
        }
        if let Some(m) = &outcome.summary.confusion {
            plots::confusion_png(
                &self.dir.join("confusion.png"),
                m,
                &outcome.model.class_names,
            )?;
        }
        // The test split when there is one, else the validation split.
        if let Some(e) = outcome
            .summary
            .test
            .as_ref()
            .or(outcome.summary.validation.as_ref())
        {
            plots::evaluation_plots(&self.dir, e)?;
        }
        if self.task == Task::Gan {
            super::write_generated(&self.dir.join("generated.csv"), &outcome.model, 500)?;
        }
        Ok(())
    }
}

/// Lock `dir`'s lock file for one writer, or say that another one holds it.
fn lock(dir: &Path) -> Result<File, RunError> {
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| RunError::Write {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunError::Busy {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(RunError::Write { path, source }),
    }
}

/// Train `job` with its events written to the run folder before they are
/// passed on (by [`Worker::spawn_tapped`], on a thread of its own, so that
/// neither the window's frames nor the training wait for the disk).
///
/// When the folder cannot be written the run goes on, and one
/// [`Event::Note`] says so; the finished model is then still in the
/// [`Event::Finished`] that follows.
pub fn record(job: Job, mut writer: RunWriter) -> Worker {
    let mut failed = false;
    Worker::spawn_tapped(job, move |event| {
        let last = matches!(event, Event::Finished(_) | Event::Failed(_));
        // After a failure only the end of the run is tried again.
        if failed && !last {
            return None;
        }
        let e = writer.record(event).err()?;
        failed = true;
        Some(Event::Note(format!("the run folder is not complete: {e}")))
    })
}

/// Everything a run folder holds, read back.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub dir: PathBuf,
    /// As trained; its data paths are relative to `dir`.
    pub experiment: Option<Experiment>,
    pub started: Option<StartInfo>,
    pub history: Vec<EpochMetrics>,
    pub latent: Option<LatentSnapshot>,
    pub reconstructions: Option<ReconstructionSnapshot>,
    pub attention: Option<AttentionSnapshot>,
    pub gan: Option<GanSnapshot>,
    /// `[epoch, correlation-structure r, spread ratio]` per GAN snapshot.
    pub gan_history: Vec<[f64; 3]>,
    pub episodes: Vec<EpisodeReport>,
    /// Present once training ended with a model.
    pub summary: Option<Summary>,
    /// Why training failed, when it did.
    pub error: Option<String>,
    /// The saved model folder and its description, when there is one.
    pub model: Option<(PathBuf, ModelMeta)>,
    /// The latest checkpoint's state (its weights are read by [`read_checkpoint`]).
    pub checkpoint: Option<CheckpointState>,
}

impl RunRecord {
    /// Read the run folder `dir`; files it lacks are left empty (a run that
    /// was interrupted has no summary or model), files it has must be whole.
    pub fn open(dir: &Path) -> Result<RunRecord, RunError> {
        let brief = RunRecord::open_brief(dir)?;
        let model_json = dir.join(MODEL).join("model.json");
        let model = read_json::<ModelMeta>(&model_json)?.map(|m| (dir.join(MODEL), m));
        Ok(RunRecord {
            latent: read_json(&dir.join(LATENT))?,
            reconstructions: read_json(&dir.join(RECONSTRUCTIONS))?,
            attention: read_json(&dir.join(ATTENTION))?,
            gan: read_json(&dir.join(GAN_SAMPLES))?,
            gan_history: read_lines(&dir.join(GAN_PROGRESS))?,
            episodes: read_lines(&dir.join(EPISODES))?,
            model,
            ..brief
        })
    }

    /// The parts of a run folder a table of runs needs (the experiment, the
    /// start, the metrics, the summary or error), without its snapshots.
    pub fn open_brief(dir: &Path) -> Result<RunRecord, RunError> {
        if !dir.join(METRICS).is_file() && !dir.join(EXPERIMENT).is_file() {
            return Err(RunError::NotARun {
                path: dir.to_path_buf(),
            });
        }
        let history = if dir.join(METRICS).is_file() {
            plots::read_metrics(&dir.join(METRICS)).map_err(|message| RunError::Read {
                path: dir.join(METRICS),
                message,
            })?
        } else {
            Vec::new()
        };
        let experiment = match read_text(&dir.join(EXPERIMENT))? {
            Some(text) => Some(Experiment::from_json(&text, &dir.join(EXPERIMENT)).map_err(
                |e| RunError::Read {
                    path: dir.join(EXPERIMENT),
                    message: e.to_string(),
                },
            )?),
            None => None,
        };
        Ok(RunRecord {
            dir: dir.to_path_buf(),
            experiment,
            started: read_json(&dir.join(STARTED))?,
            history,
            summary: read_json(&dir.join(SUMMARY))?,
            error: read_text(&dir.join(ERROR))?,
            checkpoint: match checkpoint_dir(dir) {
                Some(c) => read_json(&c.join(CHECKPOINT_STATE))?,
                None => None,
            },
            ..RunRecord::default()
        })
    }

    /// The class names, from the saved model (none before it is saved).
    pub fn class_names(&self) -> Vec<String> {
        self.model
            .as_ref()
            .map(|(_, m)| m.class_names.clone())
            .unwrap_or_default()
    }
}

/// The whole checkpoint folder of a run: `checkpoint/`, or `checkpoint.old/`
/// when the run was killed while swapping them.
fn checkpoint_dir(dir: &Path) -> Option<PathBuf> {
    ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|n| dir.join(n))
        .find(|c| c.join(CHECKPOINT_STATE).is_file())
}

/// The latest whole checkpoint of the run in `dir`, if it has one.
pub fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, RunError> {
    let Some(c) = checkpoint_dir(dir) else {
        return Ok(None);
    };
    let Some(state) = read_json::<CheckpointState>(&c.join(CHECKPOINT_STATE))? else {
        return Ok(None);
    };
    let bytes = |name: &str| {
        std::fs::read(c.join(name)).map_err(|e| RunError::Read {
            path: c.join(name),
            message: e.to_string(),
        })
    };
    Ok(Some(Checkpoint {
        weights: bytes(CHECKPOINT_WEIGHTS)?,
        optimizer: bytes(CHECKPOINT_OPTIMIZER)?,
        best_weights: match c.join(CHECKPOINT_BEST).is_file() {
            true => Some(bytes(CHECKPOINT_BEST)?),
            false => None,
        },
        state,
    }))
}

/// Is `dir` a run folder (rather than, say, a folder of images)?
pub fn is_run_folder(dir: &Path) -> bool {
    dir.join(METRICS).is_file() && dir.join(EXPERIMENT).is_file()
}

fn read_text(path: &Path) -> Result<Option<String>, RunError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, RunError> {
    read_text(path)?
        .map(|t| {
            serde_json::from_str(&t).map_err(|e| RunError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        })
        .transpose()
}

/// One value per line; a last line cut short by an interruption is left out.
fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RunError> {
    let Some(text) = read_text(path)? else {
        return Ok(Vec::new());
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if n + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(RunError::Read {
                    path: path.to_path_buf(),
                    message: format!("line {}: {e}", n + 1),
                });
            }
        }
    }
    Ok(out)
}

/// A new run folder's name under `runs`: the experiment's name and the local
/// date and time, e.g. `dna_cnn-2026-12-07_0934`; never one that exists.
pub fn new_run_dir(runs: &Path, experiment_name: &str) -> PathBuf {
    let stem: String = experiment_name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = if stem.is_empty() { "run".into() } else { stem };
    let when = chrono::Local::now().format("%Y-%m-%d_%H%M%S");
    let first = runs.join(format!("{stem}-{when}"));
    let mut candidate = first.clone();
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{n}", first.display()));
        n += 1;
    }
    candidate
}

/// An epoch's lines of `metrics.jsonl`: the training split's (with the
/// learning rate) and the validation split's (with the confusion matrix).
fn metrics_lines(m: &EpochMetrics) -> std::io::Result<Vec<serde_json::Value>> {
    let line = |split: &str, s: &SplitMetrics| -> std::io::Result<serde_json::Value> {
        let mut obj = serde_json::to_value(s).map_err(std::io::Error::other)?;
        obj["epoch"] = m.epoch.into();
        obj["split"] = split.into();
        Ok(obj)
    };
    let mut train = line("train", &m.train)?;
    if let Some(rate) = m.learning_rate {
        train["learning_rate"] = rate.into();
    }
    let mut lines = vec![train];
    if let Some(v) = &m.valid {
        let mut valid = line("valid", v)?;
        if let Some(c) = &m.confusion {
            valid["confusion"] = serde_json::to_value(c).map_err(std::io::Error::other)?;
        }
        lines.push(valid);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lamina-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn epoch(n: usize, loss: f64) -> Event {
        Event::Epoch(EpochMetrics {
            epoch: n,
            train: SplitMetrics {
                loss,
                accuracy: Some(0.5),
                ..Default::default()
            },
            valid: Some(SplitMetrics {
                loss: loss * 2.0,
                ..Default::default()
            }),
            seconds: 1.5,
            learning_rate: Some(0.01 / n as f64),
            confusion: Some(vec![vec![n, 1], vec![0, 2]]),
        })
    }

    fn latent(epoch: usize) -> Event {
        Event::Latent(LatentSnapshot {
            epoch,
            ids: vec!["a".into(), "b".into()],
            labels: Some(vec![0, 1]),
            dims: 2,
            values: vec![0.1, -0.2, 1.0 / 3.0, 7e-9],
            knn_agreement: None,
        })
    }

    #[test]
    fn an_interrupted_run_reads_back_what_was_written_before_it_stopped() {
        let dir = scratch("interrupted");
        let mut w = RunWriter::create(&dir, &Experiment::default(), Path::new(".")).unwrap();
        w.record(&epoch(1, 0.9)).unwrap();
        w.record(&latent(1)).unwrap();
        w.record(&epoch(2, 0.7)).unwrap();
        // Within SNAPSHOT_EVERY of the first: kept, not yet written.
        w.record(&latent(2)).unwrap();
        let r = RunRecord::open(&dir).unwrap();
        assert_eq!(r.history.len(), 2);
        assert_eq!(r.history[1].train.loss, 0.7);
        assert_eq!(r.history[1].valid.as_ref().unwrap().loss, 1.4);
        let l = r.latent.unwrap();
        assert_eq!(l.epoch, 1);
        assert_eq!(
            l.values,
            vec![0.1, -0.2, 1.0 / 3.0, 7e-9],
            "f32 survive exactly"
        );
        assert!(r.summary.is_none() && r.model.is_none() && r.error.is_none());
        w.flush().unwrap();
        assert_eq!(RunRecord::open(&dir).unwrap().latent.unwrap().epoch, 2);
        // A line cut short by kill -9 is left out; a broken line elsewhere is an error.
        let metrics = dir.join(METRICS);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics)
            .unwrap();
        write!(f, "{{\"loss\":0.5,\"epo").unwrap();
        assert_eq!(RunRecord::open(&dir).unwrap().history.len(), 2);
        writeln!(f).unwrap();
        let e = RunRecord::open(&dir).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl line 5"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_folder_with_a_run_is_refused_and_other_folders_are_not_runs() {
        let dir = scratch("refused");
        RunWriter::create(&dir, &Experiment::default(), Path::new(".")).unwrap();
        let e = RunWriter::create(&dir, &Experiment::default(), Path::new("."));
        assert!(matches!(e, Err(RunError::Exists { .. })));
        // While a writer lives, a second one into its folder is refused as busy,
        // a fresh run and a resume alike; once it has ended, the lock is gone.
        let busy = scratch("busy");
        let w = RunWriter::create(&busy, &Experiment::default(), Path::new(".")).unwrap();
        let e = RunWriter::create(&busy, &Experiment::default(), Path::new("."));
        assert!(matches!(e, Err(RunError::Busy { .. })), "{:?}", e.err());
        let e = RunWriter::resume(&busy).err().unwrap().to_string();
        assert!(e.contains("another Lamina run is writing"), "{e}");
        drop(w);
        let e = RunWriter::resume(&busy).err().unwrap().to_string();
        assert!(e.contains("no checkpoint"), "{e}");
        let _ = std::fs::remove_dir_all(busy);
        let empty = scratch("not-a-run");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            RunRecord::open(&empty),
            Err(RunError::NotARun { .. })
        ));
        assert!(!is_run_folder(&empty) && is_run_folder(&dir));
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(empty);
    }

    #[test]
    fn new_run_folders_are_named_by_experiment_and_time_and_never_reused() {
        let runs = scratch("names");
        let a = new_run_dir(&runs, "my exp/1");
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("my_exp_1-20"), "{name}");
        std::fs::create_dir_all(&a).unwrap();
        let b = new_run_dir(&runs, "my exp/1");
        assert_ne!(a, b);
        let _ = std::fs::remove_dir_all(runs);
    }
}
