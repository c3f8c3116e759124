//! Sweeps: one experiment trained with several settings (a grid, or a seeded
//! random pick from it, each setting optionally over k cross-validation
//! folds), one run folder each, and a table comparing them. One writer
//! ([`run`]: plans, trains run after run or N at a time through
//! [`super::run::record`], and rewrites `sweep.csv` after every run) and one
//! reader ([`SweepRecord::open`], for the window).
//!
//! A sweep folder holds `sweep.json` (the plan and the runs' names and
//! settings), `experiment.json` (the experiment swept), one run folder per
//! run, `sweep.csv` (one row per run: its settings, how it ended, its final
//! metrics) and, with folds, `folds.csv` (mean and standard deviation over
//! the folds of each setting). Running a sweep again into its folder carries
//! on: finished runs are kept, interrupted ones resume from their checkpoint.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use super::run::{RunError, RunRecord, RunWriter, record};
use crate::spec::{Experiment, write_atomic};
use crate::train::{DevicePreference, Event, Job, Summary};

const PLAN: &str = "sweep.json";
const EXPERIMENT: &str = "experiment.json";
const TABLE: &str = "sweep.csv";
const FOLDS: &str = "folds.csv";

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "--vary '{0}' must look like key=value1,value2 (e.g. training.learning_rate=1e-4,1e-3), or key=[json values]"
    )]
    BadAxis(String),
    #[error("run {run} of the sweep ({settings}): {message}")]
    BadSetting {
        run: String,
        settings: String,
        message: String,
    },
    #[error(
        "{} already holds something other than this sweep ({why}); choose another folder",
        path.display()
    )]
    Exists { path: PathBuf, why: String },
    #[error("the sweep has nothing to vary: give --vary or --folds")]
    Empty,
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: not a sweep folder (it has no {PLAN}; `lamina sweep --out` writes one)", path.display())]
    NotASweep { path: PathBuf },
    #[error("the data of run {run}: {message}")]
    Data { run: String, message: String },
    #[error(transparent)]
    Run(#[from] RunError),
}

/// One setting and the values it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Dotted, as `--set` takes it: `training.learning_rate`.
    pub key: String,
    /// As typed; each is read as JSON when it is JSON, else as text.
    pub values: Vec<String>,
}

impl Axis {
    /// `key=v1,v2,…`, or `key=[json, json]` for values holding commas.
    pub fn parse(s: &str) -> Result<Axis, SweepError> {
        let bad = || SweepError::BadAxis(s.to_string());
        let (key, raw) = s.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        let raw = raw.trim();
        let values: Vec<String> = if raw.starts_with('[') {
            let list: Vec<serde_json::Value> = serde_json::from_str(raw).map_err(|_| bad())?;
            list.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        } else {
            raw.split(',').map(|v| v.trim().to_string()).collect()
        };
        if key.is_empty() || values.is_empty() || values.iter().any(String::is_empty) {
            return Err(bad());
        }
        Ok(Axis {
            key: key.to_string(),
            values,
        })
    }
}

/// What to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub axes: Vec<Axis>,
    /// Train this many settings drawn at random from the grid (without
    /// repeats) instead of all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<usize>,
    /// Seed of the random pick.
    #[serde(default)]
    pub seed: u64,
    /// Cross-validation: every setting once per fold (0 = none).
    #[serde(default)]
    pub folds: usize,
}

/// One run of a sweep: its folder name and the settings it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    pub name: String,
    pub settings: Vec<(String, String)>,
}

impl PlannedRun {
    /// The value this run gives `key` (empty when it leaves it as it is).
    pub fn value(&self, key: &str) -> String {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map_or(String::new(), |(_, v)| v.clone())
    }
}

/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SweepFile {
    experiment: String,
    plan: Plan,
    runs: Vec<PlannedRun>,
}

impl Plan {
    /// The runs, in order: the grid with the last axis changing fastest (or
    /// the random pick, in grid order), each repeated per fold.
    pub fn runs(&self) -> Vec<PlannedRun> {
        let mut grid: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for axis in &self.axes {
            grid = grid
                .into_iter()
                .flat_map(|done| {
                    axis.values.iter().map(move |v| {
                        let mut next = done.clone();
                        next.push((axis.key.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        if let Some(n) = self.random.filter(|&n| n < grid.len()) {
            use rand::SeedableRng;
            use rand::seq::index::sample;
            let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
            let mut picked = sample(&mut rng, grid.len(), n).into_vec();
            picked.sort_unstable();
            grid = picked.into_iter().map(|i| grid[i].clone()).collect();
        }
        let folds = if self.folds > 1 { self.folds } else { 1 };
        let mut runs = Vec::new();
        for settings in grid {
            for fold in 0..folds {
                let mut s = settings.clone();
                if folds > 1 {
                    s.push(("training.folds".into(), folds.to_string()));
                    s.push(("training.fold".into(), fold.to_string()));
                }
                let name = format!("{:02}-{}", runs.len() + 1, short_name(&s));
                runs.push(PlannedRun { name, settings: s });
            }
        }
        runs
    }
}

/// `learning_rate=0.001-batch_size=32`: the last part of each key and its
/// value, in characters safe in a folder name.
fn short_name(settings: &[(String, String)]) -> String {
    let parts: Vec<String> = settings
        .iter()
        .filter(|(k, _)| k != "training.folds")
        .map(|(k, v)| {
            let key = k.rsplit('.').next().unwrap_or(k);
            format!("{key}={v}")
        })
        .collect();
    let name: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if name.is_empty() { "base".into() } else { name }
}

fn describe(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The experiment of one run.
fn experiment_of(exp: &Experiment, run: &PlannedRun) -> Result<Experiment, SweepError> {
    let mut e = exp.clone();
    let settings: Vec<String> = run
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let bad = |message: String| SweepError::BadSetting {
        run: run.name.clone(),
        settings: describe(&run.settings),
        message,
    };
    crate::project::apply_settings(&mut e, &settings).map_err(bad)?;
    e.validate().map_err(|err| bad(err.to_string()))?;
    e.name = format!("{} {}", exp.name, run.name);
    Ok(e)
}

/// The final metrics of a run, as the columns of `sweep.csv`.
pub const METRICS: [&str; 16] = [
    "epochs",
    "kept_epoch",
    "train_loss",
    "valid_loss",
    "valid_accuracy",
    "test_loss",
    "test_accuracy",
    "test_balanced_accuracy",
    "test_macro_f1",
    "test_macro_auroc",
    "test_macro_auprc",
    "test_mse",
    "test_mae",
    "test_r2",
    "valid_r2",
    "wall_seconds",
];

/// Where `name` is among the [`METRICS`].
pub fn metric_index(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| *m == name)
}

/// The [`METRICS`] of a finished run, in order.
pub fn metrics_of(s: &Summary) -> Vec<Option<f64>> {
    let test_c = s.test.as_ref().and_then(|e| e.classifier.as_ref());
    let test_r = s.test.as_ref().and_then(|e| e.regression.as_ref());
    let valid_r = s.validation.as_ref().and_then(|e| e.regression.as_ref());
    vec![
        Some(s.epochs_completed as f64),
        s.kept_epoch.map(|e| e as f64),
        s.final_train.as_ref().map(|m| m.loss),
        s.final_valid.as_ref().map(|m| m.loss),
        s.final_valid.as_ref().and_then(|m| m.accuracy),
        s.test.as_ref().map(|e| e.loss),
        test_c.map(|c| c.accuracy),
        test_c.map(|c| c.balanced_accuracy),
        test_c.map(|c| c.macro_f1),
        test_c.and_then(|c| c.macro_auroc),
        test_c.and_then(|c| c.macro_auprc),
        test_r.map(|r| r.mse),
        test_r.map(|r| r.mae),
        test_r.map(|r| r.r2),
        valid_r.map(|r| r.r2),
        Some(s.wall_seconds),
    ]
}

/// How a run of a sweep stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    NotStarted,
    /// Begun and not finished (still training, or interrupted).
    Unfinished,
    Finished,
    Failed(String),
}

impl Status {
    pub fn text(&self) -> String {
        match self {
            Status::NotStarted => "not started".into(),
            Status::Unfinished => "unfinished".into(),
            Status::Finished => "finished".into(),
            Status::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub run: PlannedRun,
    pub status: Status,
    /// [`METRICS`], in order.
    pub metrics: Vec<Option<f64>>,
}

impl Row {
    /// The metric `name` (one of [`METRICS`]), when the run has it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_index(name).and_then(|i| self.metrics[i])
    }

    fn of(run: &PlannedRun, record: Option<&RunRecord>) -> Row {
        let (status, metrics) = match record {
            None => (Status::NotStarted, vec![None; METRICS.len()]),
            Some(r) => match (&r.summary, &r.error) {
                (Some(s), _) => (Status::Finished, metrics_of(s)),
                (None, Some(e)) => (
                    Status::Failed(e.trim().to_string()),
                    vec![None; METRICS.len()],
                ),
                (None, None) => (Status::Unfinished, vec![None; METRICS.len()]),
            },
        };
        Row {
            run: run.clone(),
            status,
            metrics,
        }
    }
}

/// What [`run`] reports as it goes.
pub enum Progress<'a> {
    /// Run `index` (0-based) of `total` begins; `resumed` from its checkpoint.
    Started {
        index: usize,
        total: usize,
        run: &'a PlannedRun,
        resumed: bool,
    },
    /// Run `index` ended (or was already finished, `kept`).
    Ended {
        index: usize,
        row: &'a Row,
        kept: bool,
    },
}

/// Train every run of `plan` on `exp` (its data paths relative to `base`)
/// into `out`, `parallel` at a time, rewriting `sweep.csv` (and `folds.csv`)
/// after each. A run that fails is a row saying why; the sweep goes on.
pub fn run(
    exp: &Experiment,
    base: &Path,
    plan: &Plan,
    out: &Path,
    device: DevicePreference,
    parallel: usize,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<Row>, SweepError> {
    let runs = plan.runs();
    if plan.axes.is_empty() && plan.folds <= 1 {
        return Err(SweepError::Empty);
    }
    // Every run's settings are checked before anything is written.
    let experiments: Vec<Experiment> = runs
        .iter()
        .map(|r| experiment_of(exp, r))
        .collect::<Result<_, _>>()?;
    let file = SweepFile {
        experiment: exp.name.clone(),
        plan: plan.clone(),
        runs: runs.clone(),
    };
    prepare_folder(out, &file, exp, base)?;

    let mut rows: Vec<Row> = runs
        .iter()
        .map(|r| Row::of(r, RunRecord::open_brief(&out.join(&r.name)).ok().as_ref()))
        .collect();
    let parallel = parallel.max(1);
    let threads = (parallel > 1).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / parallel).max(1)
    });
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<(), String>)>();
    let mut active = 0;
    let mut next = 0;
    let mut data_cache: Option<(String, std::sync::Arc<crate::data::Dataset>)> = None;
    let total = runs.len();
    loop {
        while active < parallel && next < total {
            let i = next;
            next += 1;
            if rows[i].status == Status::Finished {
                progress(Progress::Ended {
                    index: i,
                    row: &rows[i],
                    kept: true,
                });
                continue;
            }
            match start(
                &experiments[i],
                base,
                &out.join(&runs[i].name),
                device,
                threads,
                &mut data_cache,
                &runs[i].name,
            ) {
                Ok((worker, resumed)) => {
                    progress(Progress::Started {
                        index: i,
                        total,
                        run: &runs[i],
                        resumed,
                    });
                    active += 1;
                    let tx = done_tx.clone();
                    std::thread::spawn(move || {
                        let mut result = Err("the run ended without a result".to_string());
                        while let Some(event) = worker.recv() {
                            match event {
                                Event::Finished(_) => result = Ok(()),
                                Event::Failed(e) => result = Err(e),
                                _ => {}
                            }
                        }
                        let _ = tx.send((i, result));
                    });
                }
                Err(e) => {
                    rows[i].status = Status::Failed(e.to_string());
                    write_tables(out, plan, &rows)?;
                    progress(Progress::Ended {
                        index: i,
                        row: &rows[i],
                        kept: false,
                    });
                }
            }
        }
        if active == 0 {
            break;
        }
        let Ok((i, result)) = done_rx.recv() else {
            break;
        };
        active -= 1;
        let dir = out.join(&runs[i].name);
        rows[i] = Row::of(&runs[i], RunRecord::open_brief(&dir).ok().as_ref());
        if let Err(e) = result
            && rows[i].status != Status::Finished
        {
            rows[i].status = Status::Failed(e);
        }
        write_tables(out, plan, &rows)?;
        progress(Progress::Ended {
            index: i,
            row: &rows[i],
            kept: false,
        });
    }
    write_tables(out, plan, &rows)?;
    Ok(rows)
}

/// Make the sweep folder, or check that it holds this same sweep.
fn prepare_folder(
    out: &Path,
    file: &SweepFile,
    exp: &Experiment,
    base: &Path,
) -> Result<(), SweepError> {
    let plan_path = out.join(PLAN);
    let write = |path: &Path, bytes: &[u8]| {
        write_atomic(path, bytes).map_err(|source| SweepError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    if plan_path.is_file() {
        let before = read_plan(out)?;
        if before.runs != file.runs {
            return Err(SweepError::Exists {
                path: out.to_path_buf(),
                why: "a sweep with other settings".into(),
            });
        }
        return Ok(());
    }
    let busy = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if busy {
        return Err(SweepError::Exists {
            path: out.to_path_buf(),
            why: "files that are not a sweep".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| SweepError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let rebased = crate::project::rebased(exp, base, out);
    write(&out.join(EXPERIMENT), rebased.to_json().as_bytes())?;
    let json = serde_json::to_string_pretty(file).map_err(std::io::Error::other);
    let json = json.map_err(|source| SweepError::Write {
        path: plan_path.clone(),
        source,
    })?;
    write(&plan_path, json.as_bytes())
}

/// Begin (or resume) one run; its data is read once for runs that share it.
fn start(
    exp: &Experiment,
    base: &Path,
    dir: &Path,
    device: DevicePreference,
    threads: Option<usize>,
    cache: &mut Option<(String, std::sync::Arc<crate::data::Dataset>)>,
    name: &str,
) -> Result<(crate::train::Worker, bool), SweepError> {
    let key = serde_json::to_string(&exp.data).unwrap_or_default();
    let dataset = match cache {
        Some((k, d)) if *k == key => d.clone(),
        _ => {
            let (d, _, _) =
                crate::project::prepare(exp, base).map_err(|message| SweepError::Data {
                    run: name.to_string(),
                    message,
                })?;
            let d = std::sync::Arc::new(d);
            *cache = Some((key, d.clone()));
            d
        }
    };
    let mut job = Job::new(exp.clone(), dataset, device);
    job.threads = threads;
    let resumed = super::run::is_run_folder(dir);
    let writer = if resumed {
        let (writer, _, ck) = RunWriter::resume(dir)?;
        job.resume = Some(Box::new(ck));
        writer
    } else {
        RunWriter::create(dir, exp, base)?
    };
    Ok((record(job, writer), resumed))
}

fn read_plan(dir: &Path) -> Result<SweepFile, SweepError> {
    let path = dir.join(PLAN);
    let text = std::fs::read_to_string(&path).map_err(|e| SweepError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| SweepError::Read {
        path,
        message: e.to_string(),
    })
}

fn number(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// `sweep.csv`, and with folds `folds.csv`, written whole each time.
fn write_tables(out: &Path, plan: &Plan, rows: &[Row]) -> Result<(), SweepError> {
    let keys: Vec<&str> = plan.axes.iter().map(|a| a.key.as_str()).collect();
    let folds = plan.folds > 1;
    let io = |path: PathBuf| {
        move |e: csv::Error| SweepError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        }
    };
    let path = out.join(TABLE);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["run"];
    header.extend(&keys);
    if folds {
        header.push("fold");
    }
    header.push("status");
    header.extend(METRICS);
    w.write_record(&header).map_err(io(path.clone()))?;
    for row in rows {
        let mut fields = vec![row.run.name.clone()];
        fields.extend(keys.iter().map(|k| row.run.value(k)));
        if folds {
            fields.push(row.run.value("training.fold"));
        }
        fields.push(row.status.text());
        fields.extend(row.metrics.iter().map(|&m| number(m)));
        w.write_record(&fields).map_err(io(path.clone()))?;
    }
    let bytes = w.into_inner().map_err(|e| SweepError::Write {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write_atomic(&path, &bytes).map_err(|source| SweepError::Write { path, source })?;
    if folds {
        write_folds(out, &keys, plan.folds, rows)?;
    }
    Ok(())
}

/// One setting's values, its finished folds, and per metric of [`METRICS`]
/// the mean and sample standard deviation over them.
pub type FoldSummary = (Vec<String>, usize, Vec<Option<(f64, f64)>>);

/// Mean and sample standard deviation over each setting's finished folds.
pub fn fold_summary(keys: &[&str], rows: &[Row]) -> Vec<FoldSummary> {
    // The settings in the order of their first run, each with its folds.
    let mut groups: Vec<(Vec<String>, Vec<&Row>)> = Vec::new();
    for row in rows {
        let setting: Vec<String> = keys.iter().map(|k| row.run.value(k)).collect();
        match groups.iter_mut().find(|(s, _)| *s == setting) {
            Some((_, members)) => members.push(row),
            None => groups.push((setting, vec![row])),
        }
    }
    groups
        .into_iter()
        .map(|(setting, members)| {
            let finished: Vec<&Row> = members
                .into_iter()
                .filter(|r| r.status == Status::Finished)
                .collect();
            let stats = (0..METRICS.len())
                .map(|m| {
                    let v: Vec<f64> = finished.iter().filter_map(|r| r.metrics[m]).collect();
                    if v.is_empty() {
                        return None;
                    }
                    let n = v.len() as f64;
                    let mean = v.iter().sum::<f64>() / n;
                    let sd = if v.len() > 1 {
                        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                    } else {
                        0.0
                    };
                    Some((mean, sd))
                })
                .collect();
            (setting, finished.len(), stats)
        })
        .collect()
}

fn write_folds(out: &Path, keys: &[&str], folds: usize, rows: &[Row]) -> Result<(), SweepError> {
    let path = out.join(FOLDS);
    let err = |e: String| SweepError::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    header.push("folds_finished".into());
    for m in METRICS {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_sd"));
    }
    w.write_record(&header).map_err(|e| err(e.to_string()))?;
    for (setting, n, stats) in fold_summary(keys, rows) {
        let mut fields = setting;
        fields.push(format!("{n} of {folds}"));
        for s in stats {
            fields.push(number(s.map(|s| s.0)));
            fields.push(number(s.map(|s| s.1)));
        }
        w.write_record(&fields).map_err(|e| err(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| err(e.to_string()))?;
    write_atomic(&path, &bytes).map_err(|source| SweepError::Write { path, source })
}

/// A sweep folder read back: its plan and each run's state and curves.
#[derive(Debug, Clone)]
pub struct SweepRecord {
    pub dir: PathBuf,
    pub experiment: String,
    /// The experiment swept, its data paths relative to `dir`.
    pub base: Option<Experiment>,
    pub plan: Plan,
    pub rows: Vec<Row>,
    /// Each run's record (experiment, metrics, summary), where it has begun.
    pub records: Vec<Option<RunRecord>>,
}

impl SweepRecord {
    pub fn open(dir: &Path) -> Result<SweepRecord, SweepError> {
        if !dir.join(PLAN).is_file() {
            return Err(SweepError::NotASweep {
                path: dir.to_path_buf(),
            });
        }
        let file = read_plan(dir)?;
        let records: Vec<Option<RunRecord>> = file
            .runs
            .iter()
            .map(|r| RunRecord::open_brief(&dir.join(&r.name)).ok())
            .collect();
        let rows = file
            .runs
            .iter()
            .zip(&records)
            .map(|(r, rec)| Row::of(r, rec.as_ref()))
            .collect();
        let base = std::fs::read_to_string(dir.join(EXPERIMENT))
            .ok()
            .and_then(|t| Experiment::from_json(&t, &dir.join(EXPERIMENT)).ok());
        Ok(SweepRecord {
            dir: dir.to_path_buf(),
            experiment: file.experiment,
            base,
            plan: file.plan,
            rows,
            records,
        })
    }
}

/// Whether `dir` is a sweep folder.
pub fn is_sweep_folder(dir: &Path) -> bool {
    dir.join(PLAN).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_lists_and_json_values() {
        let a = Axis::parse("training.learning_rate=1e-4, 1e-3,1e-2").unwrap();
        assert_eq!(a.key, "training.learning_rate");
        assert_eq!(a.values, ["1e-4", "1e-3", "1e-2"]);
        let s = Axis::parse(
            r#"training.schedule=[{"kind":"constant"},{"kind":"step","every":2,"factor":0.5}]"#,
        )
        .unwrap();
        assert_eq!(s.values.len(), 2);
        assert!(s.values[1].contains("\"every\":2"));
        for bad in [
            "training.epochs",
            "=1,2",
            "training.epochs=",
            "training.epochs=1,,2",
        ] {
            assert!(Axis::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_grid_varies_the_last_axis_fastest_and_random_picks_are_seeded() {
        let plan = Plan {
            axes: vec![
                Axis::parse("training.learning_rate=0.1,0.01,0.001").unwrap(),
                Axis::parse("training.batch_size=32,64").unwrap(),
            ],
            random: None,
            seed: 0,
            folds: 0,
        };
        let runs = plan.runs();
        assert_eq!(runs.len(), 6);
        assert_eq!(runs[0].name, "01-learning_rate=0.1-batch_size=32");
        assert_eq!(runs[1].name, "02-learning_rate=0.1-batch_size=64");
        assert_eq!(runs[5].settings[0].1, "0.001");
        let pick = |seed| {
            Plan {
                random: Some(3),
                seed,
                ..plan.clone()
            }
            .runs()
        };
        assert_eq!(pick(1), pick(1));
        assert_eq!(pick(1).len(), 3);
        let mut names: Vec<_> = pick(1).iter().map(|r| r.settings.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), 3, "no setting twice");
        let folds = Plan {
            folds: 3,
            ..plan.clone()
        }
        .runs();
        assert_eq!(folds.len(), 18);
        assert_eq!(
            folds[2].settings.last().unwrap(),
            &("training.fold".to_string(), "2".to_string())
        );
        assert!(folds[2].name.ends_with("fold=2"));
    }

    fn row(lr: &str, fold: usize, accuracy: f64) -> Row {
        let mut metrics = vec![None; METRICS.len()];
        metrics[6] = Some(accuracy);
        Row {
            run: PlannedRun {
                name: format!("{lr}-{fold}"),
                settings: vec![
                    ("training.learning_rate".into(), lr.into()),
                    ("training.folds".into(), "3".into()),
                    ("training.fold".into(), fold.to_string()),
                ],
            },
            status: Status::Finished,
            metrics,
        }
    }

    #[test]
    fn folds_are_summarised_as_mean_and_sample_sd_per_setting() {
        let rows = vec![
            row("0.1", 0, 0.7),
            row("0.1", 1, 0.8),
            row("0.1", 2, 0.9),
            row("0.01", 0, 0.5),
        ];
        let s = fold_summary(&["training.learning_rate"], &rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, vec!["0.1".to_string()]);
        let (mean, sd) = s[0].2[6].unwrap();
        assert!((mean - 0.8).abs() < 1e-12);
        assert!((sd - 0.1).abs() < 1e-12);
        assert_eq!(s[1].1, 1);
        assert_eq!(s[1].2[6], Some((0.5, 0.0)));
    }
}
