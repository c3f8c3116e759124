//! The `lamina` command line: `new`, `train`, `predict`, `explain`, `inspect` and
//! the rest. Thin glue over `project`,
//! `train` and `export`, the same functions the window calls.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::explain;
use crate::export::run::{RunRecord, RunWriter, record};
use crate::export::sweep;
use crate::project::{NewOptions, new_experiment, parent_dir, prepare};
use crate::spec::Experiment;
use crate::spec::shapes::{ShapeReport, short};
use crate::spec::templates::Template;
use crate::train::{DevicePreference, Event, Job};

#[derive(Parser, Debug)]
#[command(
    name = "lamina",
    version,
    about = "Deep learning for life-science data, point-and-click or headless",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Open this experiment file, or a run folder, in the window (no
    /// subcommand opens the window).
    pub experiment: Option<PathBuf>,
    /// Start training as soon as the window has read the experiment's data.
    #[arg(long, requires = "experiment")]
    pub train: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a ready experiment from a template and a data file.
    New {
        /// Experiment file to write.
        experiment: PathBuf,
        /// A template name, e.g. mlp_classifier, autoencoder, vae, dna_cnn,
        /// image_cnn or resnet_image (a wrong name lists them all).
        #[arg(long)]
        template: String,
        /// A CSV/TSV table, a FASTA/FASTQ file, a 10x folder or .h5, an AnnData
        /// .h5ad file, or a folder of class folders of images
        /// (not needed by the reinforcement-learning templates).
        #[arg(long)]
        data: Option<PathBuf>,
        /// A second table of the same samples, joined by sample id, for
        /// templates with two inputs (two_input_classifier: e.g. protein
        /// counts beside RNA counts).
        #[arg(long)]
        data2: Option<PathBuf>,
        /// A metadata table with sample ids and labels.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The label column (in --labels, or in the data table itself).
        #[arg(long = "label-column")]
        label_column: Option<String>,
        /// Change a setting, e.g. --set training.epochs=5 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Replace the experiment file when it exists (otherwise it is kept and
        /// nothing is written).
        #[arg(long)]
        force: bool,
    },
    /// Train an experiment headless and save the model, metrics and summary.
    Train {
        experiment: PathBuf,
        /// Output folder (metrics.jsonl, summary.json, model/).
        #[arg(long)]
        out: PathBuf,
        /// auto (GPU if present), gpu or cpu.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Continue the interrupted run in --out from its last checkpoint
        /// (the experiment must be the one it was trained with; it may ask
        /// for more epochs).
        #[arg(long)]
        resume: bool,
        /// Start from the weights of a saved model folder (fine-tuning):
        /// layers at the same place with the same shapes are copied; mark
        /// layers `"frozen": true` in the experiment to keep them as they are.
        #[arg(
            long = "init-from",
            value_name = "MODEL_DIR",
            conflicts_with = "resume"
        )]
        init_from: Option<PathBuf>,
    },
    /// Train an experiment once per setting (a grid, or a random pick from
    /// it; optionally each over k cross-validation folds), one run folder
    /// each, and compare them in OUT/sweep.csv. Run it again with the same
    /// settings to carry on an interrupted sweep.
    Sweep {
        experiment: PathBuf,
        /// A setting and its values, e.g. --vary training.learning_rate=1e-4,1e-3,1e-2
        /// (repeatable: every combination is trained); values with commas as a
        /// JSON list: key=[{...},{...}].
        #[arg(long = "vary", value_name = "KEY=V1,V2,...")]
        vary: Vec<String>,
        /// Train only this many combinations, drawn at random (seeded by --seed).
        #[arg(long)]
        random: Option<usize>,
        /// Seed of the random pick.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// k-fold cross-validation: every combination once per fold, with the
        /// mean and standard deviation over the folds in OUT/folds.csv.
        #[arg(long, default_value_t = 0)]
        folds: usize,
        /// The sweep folder (sweep.csv and one run folder per run).
        #[arg(long)]
        out: PathBuf,
        /// auto (GPU if present), gpu or cpu.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Runs trained at the same time (they share the CPU cores).
        #[arg(long, default_value_t = 1)]
        parallel: usize,
    },
    /// Describe a data file or folder, or say what is wrong with it.
    Inspect { path: PathBuf },
    /// Draw a run folder's plots as PNG: loss and accuracy curves, confusion matrix.
    Export {
        /// The folder `lamina train --out` wrote.
        run: PathBuf,
        /// Where the pictures go (default: the run folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a model folder's network as ONNX (dense, convolution, pooling,
    /// normalisation, activation, embedding and positional layers).
    Onnx {
        /// The model folder, e.g. runs/my_exp/model.
        model: PathBuf,
        /// The ONNX file to write (default: MODEL/model.onnx).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Time the reference jobs of the PyTorch comparison (shared/bench/README.md):
    /// one JSON line per job, in the reference's schema.
    Bench {
        /// Comma-separated job ids, e.g. J1,J3 (default: all).
        #[arg(long, value_delimiter = ',')]
        jobs: Vec<String>,
        /// The folder gen_data.py wrote (omics_counts.csv, dna_train.fasta, ...).
        #[arg(long, default_value = "../shared/bench/data")]
        data: PathBuf,
        /// auto (GPU if present), gpu or cpu.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Also append the JSON lines to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the weights, the split and the shuffling (the reference's --seed).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run a trained model (a folder written by `train`) on new data.
    Predict {
        /// The model folder, e.g. runs/my_exp/model.
        model: PathBuf,
        /// A data file or folder of the kind the model was trained on.
        data: PathBuf,
        /// The second table, for a model trained on two tables joined by
        /// sample id (the same kind as the one it was trained with).
        #[arg(long)]
        data2: Option<PathBuf>,
        /// Predictions CSV: class and probabilities, values, or reconstruction
        /// error and latent coordinates, one row per sample.
        #[arg(long)]
        out: PathBuf,
        /// Also write the latent coordinates (embeddings): CSV with sample ids,
        /// or a NumPy array when the name ends in .npy.
        #[arg(long)]
        embeddings: Option<PathBuf>,
        /// auto (GPU if present), gpu or cpu.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Show what a trained model bases its predictions on: attributions of
    /// each position, pixel or feature (attributions.npy, attributions.csv,
    /// explained.csv), in-silico mutagenesis of sequences (mutagenesis.npy),
    /// for sequence networks the first layer's motifs (motifs.meme,
    /// logos/filter_N.png), for tables the features ranked per class
    /// (importance.csv), for images Grad-CAM (gradcam.npy, gradcam/ID.png).
    Explain {
        /// The model folder, e.g. runs/my_exp/model.
        model: PathBuf,
        /// A data file or folder of the kind the model was trained on.
        data: PathBuf,
        /// The second table, for a model trained on two joined tables.
        #[arg(long)]
        data2: Option<PathBuf>,
        /// The folder to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// saliency (gradient × input), integrated_gradients or mutagenesis
        /// (sequences only).
        #[arg(long, default_value = "integrated_gradients")]
        method: String,
        /// The class to explain (a regression: the 0-based index of the value);
        /// by default each sample's predicted class.
        #[arg(long)]
        class: Option<String>,
        /// Integrated gradients: points on the path from the baseline.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Integrated gradients: zeros, or shuffled (each sample's own
        /// positions, pixels or values in random order).
        #[arg(long, default_value = "zeros")]
        baseline: String,
        /// Motifs: the windows per filter that its motif is made from.
        #[arg(long, default_value_t = 100)]
        top: usize,
        /// Tables: a metadata table with each sample's class, so permutation
        /// importance is measured against the true classes (without it,
        /// against the model's own predictions).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The class column in --labels (default: the one the model was trained with).
        #[arg(long = "label-column")]
        label_column: Option<String>,
        /// Replace the files of an earlier explanation in --out.
        #[arg(long)]
        force: bool,
        /// auto (GPU if present), gpu or cpu.
        #[arg(long, default_value = "auto")]
        device: String,
    },
}

/// Run the command line; errors become a message and exit code 1 in `main`.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => crate::ui::run(cli.experiment, cli.train),
        Some(Command::New {
            experiment,
            template,
            data,
            data2,
            labels,
            label_column,
            settings,
            force,
        }) => cmd_new(
            &experiment,
            force,
            &template,
            data.as_deref(),
            NewOptions {
                labels,
                label_column,
                settings,
                joined: data2.into_iter().collect(),
            },
        ),
        Some(Command::Train {
            experiment,
            out,
            device,
            resume,
            init_from,
        }) => {
            let pref: DevicePreference = device.parse().map_err(anyhow::Error::msg)?;
            cmd_train(&experiment, &out, pref, resume, init_from.as_deref())
        }
        Some(Command::Sweep {
            experiment,
            vary,
            random,
            seed,
            folds,
            out,
            device,
            parallel,
        }) => {
            let pref: DevicePreference = device.parse().map_err(anyhow::Error::msg)?;
            let axes = vary
                .iter()
                .map(|v| sweep::Axis::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            let plan = sweep::Plan {
                axes,
                random,
                seed,
                folds,
            };
            cmd_sweep(&experiment, &plan, &out, pref, parallel)
        }
        Some(Command::Predict {
            model,
            data,
            data2,
            out,
            embeddings,
            device,
        }) => {
            let pref: DevicePreference = device.parse().map_err(anyhow::Error::msg)?;
            let data: Vec<PathBuf> = std::iter::once(data).chain(data2).collect();
            cmd_predict(&model, &data, &out, embeddings.as_deref(), pref)
        }
        Some(Command::Explain {
            model,
            data,
            data2,
            out,
            method,
            class,
            steps,
            baseline,
            top,
            labels,
            label_column,
            force,
            device,
        }) => {
            let pref: DevicePreference = device.parse().map_err(anyhow::Error::msg)?;
            let data: Vec<PathBuf> = std::iter::once(data).chain(data2).collect();
            let method = match (method.as_str(), baseline.as_str()) {
                ("saliency" | "gradient_x_input", _) => Some(explain::Method::GradientTimesInput),
                ("mutagenesis", _) => None,
                ("integrated_gradients", "zeros") => Some(explain::Method::IntegratedGradients {
                    steps,
                    baseline: explain::Baseline::Zeros,
                }),
                ("integrated_gradients", "shuffled") => {
                    Some(explain::Method::IntegratedGradients {
                        steps,
                        baseline: explain::Baseline::Shuffled { seed: 0 },
                    })
                }
                ("integrated_gradients", other) => {
                    bail!("unknown baseline '{other}': use zeros or shuffled")
                }
                (other, _) => bail!(
                    "unknown method '{other}': use saliency, integrated_gradients or mutagenesis"
                ),
            };
            let request = ExplainRequest {
                method,
                class,
                top,
                labels: labels.map(|l| (l, label_column)),
                force,
            };
            cmd_explain(&model, &data, &out, &request, pref)
        }
        Some(Command::Bench {
            jobs,
            data,
            device,
            out,
            seed,
        }) => {
            let pref: DevicePreference = device.parse().map_err(anyhow::Error::msg)?;
            cmd_bench(&jobs, &data, pref, out.as_deref(), seed)
        }
        Some(Command::Export { run, out }) => cmd_export(&run, out.as_deref().unwrap_or(&run)),
        Some(Command::Onnx { model, out }) => {
            let device = crate::train::device::DeviceChoice::cpu("export").device;
            let m = crate::export::load_model(&model, &device)?;
            let bytes = crate::export::onnx::to_onnx(&m).map_err(anyhow::Error::msg)?;
            let out = out.unwrap_or_else(|| model.join("model.onnx"));
            crate::spec::write_atomic(&out, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
            Ok(())
        }
        Some(Command::Inspect { path }) => {
            let ds = crate::data::inspect(&path).map_err(anyhow::Error::msg)?;
            println!("{}", ds.describe());
            Ok(())
        }
    }
}

fn cmd_bench(
    jobs: &[String],
    data: &Path,
    pref: DevicePreference,
    out: Option<&Path>,
    seed: u64,
) -> Result<()> {
    use crate::bench::{JOBS, run_job};
    if !data.join("omics_counts.csv").exists() {
        bail!(
            "{} does not hold the benchmark data; write it with `python3 shared/bench/gen_data.py --out {}`",
            data.display(),
            data.display()
        );
    }
    let jobs: Vec<String> = if jobs.is_empty() {
        JOBS.iter().map(|j| j.0.to_string()).collect()
    } else {
        jobs.iter().map(|j| j.trim().to_uppercase()).collect()
    };
    for job in &jobs {
        crate::bench::experiment(job).map_err(anyhow::Error::msg)?;
    }
    for job in &jobs {
        let row = run_job(job, data, pref, seed).map_err(|e| anyhow::anyhow!("{job}: {e}"))?;
        if let Some(share) = row["other_procs_cpu_share_during"].as_f64()
            && share > 0.05
        {
            eprintln!(
                "warning: other processes used {:.0}% of the CPUs during {job}",
                share * 100.0
            );
        }
        let line = row.to_string();
        println!("{line}");
        if let Some(path) = out {
            use std::fs::OpenOptions;
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            writeln!(f, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn cmd_sweep(
    path: &Path,
    plan: &sweep::Plan,
    out: &Path,
    device: DevicePreference,
    parallel: usize,
) -> Result<()> {
    let exp = load_valid(path)?;
    let base = parent_dir(path);
    let planned = plan.runs().len();
    println!(
        "sweep of {} ({}): {planned} runs into {}",
        exp.name,
        path.display(),
        out.display()
    );
    let rows = sweep::run(&exp, &base, plan, out, device, parallel, |p| match p {
        sweep::Progress::Started {
            index,
            total,
            run,
            resumed,
        } => println!(
            "run {}/{total} {}{}",
            index + 1,
            run.name,
            if resumed { " (resuming)" } else { "" }
        ),
        sweep::Progress::Ended { index, row, kept } => {
            let score = [
                ("test accuracy", row.metric("test_accuracy")),
                ("test R²", row.metric("test_r2")),
                ("validation loss", row.metric("valid_loss")),
            ]
            .into_iter()
            .find_map(|(n, v)| v.map(|v| format!("{n} {v:.4}")))
            .unwrap_or_default();
            println!(
                "run {} {}: {}{}{}",
                index + 1,
                row.run.name,
                row.status.text(),
                if kept { " earlier" } else { "" },
                if score.is_empty() {
                    String::new()
                } else {
                    format!(", {score}")
                }
            );
        }
    })?;
    let finished = rows
        .iter()
        .filter(|r| r.status == sweep::Status::Finished)
        .count();
    println!(
        "{finished} of {} runs finished; the table is {}",
        rows.len(),
        out.join("sweep.csv").display()
    );
    if plan.folds > 1 {
        let keys: Vec<&str> = plan.axes.iter().map(|a| a.key.as_str()).collect();
        for (setting, n, stats) in sweep::fold_summary(&keys, &rows) {
            // The test accuracy where there is one, else the validation loss.
            let shown = ["test_accuracy", "valid_loss"]
                .into_iter()
                .find_map(|name| {
                    let i = sweep::metric_index(name)?;
                    stats[i].map(|s| (name, s))
                });
            if let Some((name, (mean, sd))) = shown {
                println!(
                    "{} over {n} folds: {name} {mean:.4} ± {sd:.4}",
                    if setting.is_empty() {
                        "all".to_string()
                    } else {
                        setting.join(", ")
                    }
                );
            }
        }
        println!("mean ± sd per setting: {}", out.join("folds.csv").display());
    }
    if finished < rows.len() {
        bail!(
            "{} of the sweep's runs did not finish (see sweep.csv)",
            rows.len() - finished
        );
    }
    Ok(())
}

fn cmd_export(run: &Path, out: &Path) -> Result<()> {
    use crate::export::plots;
    let record = RunRecord::open(run)?;
    if record.history.is_empty() {
        bail!(
            "{} holds no epochs yet",
            run.join("metrics.jsonl").display()
        );
    }
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut written = plots::curve_plots(out, &record.history)?;
    if let Some(m) = record.summary.as_ref().and_then(|s| s.confusion.as_ref()) {
        let mut names = record.class_names();
        if names.len() != m.len() {
            names = (0..m.len()).map(|i| i.to_string()).collect();
        }
        let path = out.join("confusion.png");
        plots::confusion_png(&path, m, &names)?;
        written.push(path);
    }
    if let Some(s) = &record.summary
        && let Some(e) = s.test.as_ref().or(s.validation.as_ref())
    {
        written.extend(plots::evaluation_plots(out, e)?);
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn cmd_predict(
    model_dir: &Path,
    data: &[PathBuf],
    out: &Path,
    embeddings: Option<&Path>,
    pref: DevicePreference,
) -> Result<()> {
    let choice = crate::train::device::choose(pref).map_err(anyhow::Error::msg)?;
    let model = crate::export::load_model(model_dir, &choice.device)?;
    let ds = crate::project::read_joined_for_model(&model, &data[0], &data[1..])
        .map_err(anyhow::Error::msg)?;
    let inf = crate::train::infer(&model, &ds, &choice.device).map_err(anyhow::Error::msg)?;
    let (header, rows) = crate::export::predictions_table(&model, &ds.ids, &inf);
    crate::export::write_csv(out, &header, &rows)?;
    println!(
        "{} predictions written to {} ({})",
        rows.len(),
        out.display(),
        choice.name
    );
    if let Some(path) = embeddings {
        let (header, rows) = crate::export::embeddings_table(&ds.ids, &inf).ok_or_else(|| {
            anyhow::anyhow!("this model has no latent layer to take embeddings from")
        })?;
        if crate::export::is_npy(path) {
            // The numbers only, rows in the order of the predictions file.
            let z = inf.latent.as_deref().unwrap_or_default();
            crate::export::write_npy(path, z, ds.len(), inf.latent_dim)?;
        } else {
            crate::export::write_csv(path, &header, &rows)?;
        }
        println!("embeddings written to {}", path.display());
    }
    Ok(())
}

/// What `lamina explain` was asked for.
struct ExplainRequest {
    /// Attributions by this method; none for mutagenesis.
    method: Option<explain::Method>,
    class: Option<String>,
    top: usize,
    /// A metadata table and its class column.
    labels: Option<(PathBuf, Option<String>)>,
    force: bool,
}

fn cmd_explain(
    model_dir: &Path,
    data: &[PathBuf],
    out: &Path,
    request: &ExplainRequest,
    pref: DevicePreference,
) -> Result<()> {
    use crate::export::explain as files;
    let choice = crate::train::device::choose(pref).map_err(anyhow::Error::msg)?;
    let model = crate::export::load_model(model_dir, &choice.device)?;
    let ds = crate::project::read_joined_for_model(&model, &data[0], &data[1..])
        .map_err(anyhow::Error::msg)?;
    let explained = match &request.class {
        Some(name) => explain::Explained::named(&model, name)?,
        None => explain::Explained::Predicted,
    };
    let labels = match &request.labels {
        Some((path, column)) => {
            let column = match (column, &model.experiment.data.labels) {
                (Some(c), _) => c.clone(),
                (None, crate::spec::LabelSource::Metadata { column, .. })
                | (None, crate::spec::LabelSource::Column { column }) => column.clone(),
                (None, _) => bail!(
                    "say which column of {} holds the classes (--label-column)",
                    path.display()
                ),
            };
            let regression = model.experiment.task == crate::spec::Task::Regression;
            Some(crate::data::labels::join(
                &ds, path, "", &column, regression,
            )?)
        }
        None => None,
    };
    use crate::data::DataKind;
    // Refused before the work, for every file this kind of data may get.
    let planned = files::planned_files(
        out,
        request.method.is_none(),
        ds.kind == DataKind::Sequences,
        ds.kind == DataKind::Table,
        ds.kind == DataKind::Images,
    );
    if !request.force
        && let Some(existing) = planned.iter().find(|p| p.exists())
    {
        bail!(
            "{} already exists and was left as it is; choose another --out folder, or add --force to replace it",
            existing.display()
        );
    }
    let asked = explain::Request {
        explained,
        attributions: request.method.clone(),
        mutagenesis: if request.method.is_none() {
            ds.len()
        } else {
            0
        },
        top: request.top,
        labels,
    };
    let e = explain::explain(&model, &ds, &asked, &choice.device)?;
    for note in &e.notes {
        println!("{note}");
    }
    let written = files::write_explanation(out, &ds, &model.class_names, &e)?;
    if e.gradcam.is_some() && ds.len() > files::OVERLAYS_AT_MOST {
        println!(
            "Grad-CAM overlays drawn for the first {} of {} images; gradcam.npy holds all",
            files::OVERLAYS_AT_MOST,
            ds.len()
        );
    }
    println!(
        "explained {} samples of {} ({}); wrote {} files into {}",
        ds.len(),
        ds.source.display(),
        choice.name,
        written.len(),
        out.display()
    );
    Ok(())
}

fn cmd_new(
    path: &Path,
    force: bool,
    template: &str,
    data: Option<&Path>,
    opts: NewOptions,
) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists and was left as it is; choose another name, or add --force to replace it",
            path.display()
        );
    }
    let Some(t) = Template::from_name(template) else {
        let names: Vec<_> = Template::all().iter().map(|t| t.name()).collect();
        bail!(
            "unknown template '{template}'; choose one of: {}",
            names.join(", ")
        );
    };
    let data = data.unwrap_or(Path::new(""));
    let (exp, dataset, report) =
        new_experiment(t, data, path, &opts).map_err(anyhow::Error::msg)?;
    exp.save(path)?;
    println!("wrote {} ({})", path.display(), t.title());
    println!("{}", dataset.describe());
    print_network(&exp, &report);
    Ok(())
}

fn print_network(exp: &Experiment, report: &ShapeReport) {
    for stack in &report.stacks {
        let joined: Vec<String> = stack
            .joined
            .iter()
            .map(|(name, shape)| format!(", {name} {}", short(shape)))
            .collect();
        println!(
            "{} (input {}{}):",
            stack.name,
            short(&stack.input),
            joined.concat()
        );
        let layers = &exp
            .architecture
            .stack(&stack.name)
            .map(|s| s.layers.clone())
            .unwrap_or_default();
        for (i, (node, r)) in layers.iter().zip(&stack.layers).enumerate() {
            let mut name = node.layer.summary();
            if !node.id.is_empty() {
                name = format!("{name} '{}'", node.id);
            }
            let out = r.output.as_deref().map(short).unwrap_or_else(|| "?".into());
            let takes = match node.inputs.as_slice() {
                [] => String::new(),
                inputs => format!("  ← {}", inputs.join(", ")),
            };
            println!(
                "  {:>2}. {:<30} → {:<16} {:>9} parameters{takes}",
                i + 1,
                name,
                out,
                r.params
            );
        }
    }
    println!("total: {} parameters", report.total_params());
}

/// Read an experiment file and check its settings; a wrong setting is named
/// with the file it is in.
fn load_valid(path: &Path) -> Result<Experiment> {
    let exp = Experiment::load(path)?;
    exp.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(exp)
}

fn cmd_train(
    path: &Path,
    out: &Path,
    device: DevicePreference,
    resume: bool,
    init_from: Option<&Path>,
) -> Result<()> {
    let asked = load_valid(path)?;
    let (exp, base, writer, checkpoint) = if resume {
        let (writer, trained, ck) = RunWriter::resume(out)?;
        same_training(&asked, &trained, out)?;
        // The run's own copy, so its data is what it was trained on; only the
        // number of epochs may be raised.
        let mut exp = trained;
        exp.training.epochs = asked.training.epochs;
        println!(
            "resuming {} after epoch {} of {}",
            out.display(),
            ck.state.epoch,
            exp.training.epochs
        );
        (exp, out.to_path_buf(), Some(writer), Some(ck))
    } else {
        (asked, parent_dir(path), None, None)
    };
    let (dataset, _target, report) = prepare(&exp, &base).map_err(anyhow::Error::msg)?;
    println!("experiment: {} ({})", exp.name, path.display());
    println!(
        "data: {} — {} samples, sample shape {}",
        dataset.source.display(),
        dataset.len(),
        short(&dataset.shape)
    );
    print_network(&exp, &report);

    // Read before the run folder is made, so a wrong path leaves no run behind.
    let init = init_from.map(crate::export::initial_weights).transpose()?;
    let writer = match writer {
        Some(w) => w,
        None => RunWriter::create(out, &exp, &base)?,
    };
    let mut job = Job::new(exp.clone(), dataset, device);
    job.resume = checkpoint.map(Box::new);
    job.init_from = init;
    let worker = record(job, writer);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  epoch {msg}")
            .expect("the progress template is valid"),
    );
    let mut last_latent: Option<(usize, f64, usize)> = None;
    while let Some(event) = worker.recv() {
        match event {
            Event::Started(s) => {
                bar.set_length((s.steps_per_epoch * s.epochs) as u64);
                say(
                    &bar,
                    format!(
                        "device: {}{} — {}",
                        s.device,
                        if s.is_gpu { "" } else { " (no GPU)" },
                        s.device_reason
                    ),
                );
                say(
                    &bar,
                    format!(
                        "training on {} samples, validating on {}, testing on {}, {} steps per epoch",
                        s.train_samples, s.valid_samples, s.test_samples, s.steps_per_epoch
                    ),
                );
            }
            Event::Progress(p) => {
                let done = (p.epoch - 1) * p.steps_per_epoch + p.step;
                bar.set_position(done as u64);
                bar.set_message(format!(
                    "{}/{}  loss {:.4}  {:.0} samples/s  ETA {}",
                    p.epoch,
                    p.epochs,
                    p.loss,
                    p.samples_per_second,
                    eta(p.eta_seconds)
                ));
            }
            Event::Epoch(m) => {
                say(&bar, epoch_line(&m));
            }
            Event::GanSamples(g) => {
                let when = if g.epoch == 0 {
                    "before training".to_string()
                } else {
                    format!("after epoch {}", g.epoch)
                };
                say(
                    &bar,
                    format!(
                        "generated vs real samples {when}: feature-feature correlation structure r = {:.3} (real half vs half: {:.3}), spread {:.2} of the real one, per-feature means r = {:.3}",
                        g.structure_correlation,
                        g.structure_ceiling,
                        g.spread_ratio,
                        g.mean_correlation
                    ),
                );
            }
            Event::Episode(e) => {
                let every = (e.total_steps / 20_000).max(1) * 20;
                if e.episode % every == 0 || e.episode == 1 {
                    say(
                        &bar,
                        format!(
                            "episode {:>5} (step {:>6}): return {:.1}, average of the last 100 {:.1}, epsilon {:.3}{}",
                            e.episode,
                            e.steps_done,
                            e.episode_return,
                            e.moving_average,
                            e.epsilon,
                            e.loss.map_or(String::new(), |l| format!(", loss {l:.4}"))
                        ),
                    );
                }
            }
            Event::Latent(l) => last_latent = l.knn_agreement.map(|k| (l.epoch, k, l.ids.len())),
            Event::Note(note) => say(&bar, format!("note: {note}")),
            Event::Checkpoint(_) => {}
            Event::Reconstructions(_) | Event::Attention(_) | Event::Paused | Event::Resumed => {}
            Event::Finished(outcome) => {
                bar.finish_and_clear();
                let model_dir = out.join("model");
                let s = &outcome.summary;
                println!(
                    "done: {} epochs in {:.1} s ({:.0} samples/s) on {}",
                    s.epochs_completed, s.wall_seconds, s.samples_per_second, s.device
                );
                if let (Some(v), Some(c)) = (
                    s.final_valid.as_ref().and_then(|v| v.accuracy),
                    s.chance_accuracy,
                ) {
                    println!(
                        "validation accuracy {:.3} (always guessing the commonest class: {:.3})",
                        v, c
                    );
                }
                if let Some(m) = &s.confusion {
                    print!("{}", confusion_text(m, &outcome.model.class_names));
                }
                if let Some(e) = s.test.as_ref().or(s.validation.as_ref()) {
                    print!("{}", evaluation_text(e, &s.kept_weights()));
                }
                if let Some((epoch, k, n)) = last_latent {
                    println!(
                        "latent space (epoch {epoch}, {n} validation samples): {:.1}% have most of their 5 nearest neighbours in their own class",
                        100.0 * k
                    );
                }
                if let Some(rl) = &s.rl {
                    println!(
                        "{} episodes in {} steps; trained policy: mean return {:.1} over 100 episodes (random actions: {:.1}); best 100-episode training average {:.1}{}",
                        rl.episodes,
                        rl.steps,
                        rl.evaluation_return,
                        rl.random_return,
                        rl.best_moving_average,
                        rl.solved_at_step.map_or(String::new(), |s| format!(
                            "; solved (average ≥ 195) at step {s}"
                        ))
                    );
                }
                if outcome.model.experiment.task == crate::spec::Task::Gan {
                    println!(
                        "500 generated samples written to {}",
                        out.join("generated.csv").display()
                    );
                }
                println!(
                    "model saved to {}; the run (curves, snapshots, summary) is in {} (open it in the window with `lamina {}`)",
                    model_dir.display(),
                    out.display(),
                    out.display()
                );
                return Ok(());
            }
            Event::Failed(msg) => {
                bar.finish_and_clear();
                bail!("training failed: {msg}");
            }
        }
    }
    bail!("the training thread ended without a result")
}

/// A run is resumed with the experiment it was trained with: the same task,
/// network, data settings and training settings (more epochs allowed).
fn same_training(asked: &Experiment, trained: &Experiment, run: &Path) -> Result<()> {
    let mut a = asked.training.clone();
    a.epochs = trained.training.epochs;
    let differs = [
        (asked.task != trained.task, "task"),
        (asked.architecture != trained.architecture, "network"),
        (
            a != trained.training,
            "training settings (other than the number of epochs)",
        ),
        (
            asked.data.encoding != trained.data.encoding,
            "preprocessing",
        ),
    ];
    if let Some((_, what)) = differs.iter().find(|(d, _)| *d) {
        bail!(
            "the {what} of this experiment differ from those {} was trained with ({}); resume with that experiment, or start a new run",
            run.display(),
            run.join("experiment.json").display()
        );
    }
    Ok(())
}

/// Print above the progress bar, or plainly when there is no terminal to draw it on.
fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

fn epoch_line(m: &crate::train::EpochMetrics) -> String {
    let fmt = |s: &crate::train::SplitMetrics| {
        let mut t = format!("loss {:.4}", s.loss);
        if let Some(a) = s.accuracy {
            t.push_str(&format!(", accuracy {a:.3}"));
        }
        if let (Some(r), Some(k)) = (s.reconstruction, s.kl) {
            t.push_str(&format!(" (reconstruction {r:.3} + KL {k:.3})"));
        }
        if let (Some(d), Some(r), Some(f)) =
            (s.discriminator_loss, s.real_accuracy, s.fake_accuracy)
        {
            t = format!(
                "generator loss {:.4}, discriminator loss {d:.4} (real called real {r:.2}, generated called generated {f:.2})",
                s.loss
            );
        }
        t
    };
    let mut line = format!("epoch {:>3}: train {}", m.epoch, fmt(&m.train));
    if let Some(v) = &m.valid {
        line.push_str(&format!(" | valid {}", fmt(v)));
    }
    line.push_str(&format!("  [{:.1} s]", m.seconds));
    line
}

fn eta(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A held-out split's scores as text: the headline metrics, then one row per class.
fn evaluation_text(e: &crate::train::evaluation::Evaluation, kept: &str) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{} split ({} samples), scored with {kept}: loss {:.4}\n",
        e.split, e.samples, e.loss
    );
    let area = |a: Option<f64>| a.map_or("-".to_string(), |v| format!("{v:.3}"));
    if let Some(c) = &e.classifier {
        let _ = writeln!(
            out,
            "  accuracy {:.3}, balanced accuracy {:.3}, macro-F1 {:.3}, macro AUROC {}, macro AUPRC {}",
            c.accuracy,
            c.balanced_accuracy,
            c.macro_f1,
            area(c.macro_auroc),
            area(c.macro_auprc)
        );
        let width = c
            .classes
            .iter()
            .map(|k| k.name.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "  {:<width$} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6}",
            "class", "support", "precision", "recall", "F1", "AUROC", "AUPRC"
        );
        for k in &c.classes {
            let _ = writeln!(
                out,
                "  {:<width$} {:>7} {:>9.3} {:>6.3} {:>6.3} {:>6} {:>6}",
                k.name,
                k.support,
                k.precision,
                k.recall,
                k.f1,
                area(k.auroc),
                area(k.auprc)
            );
        }
    }
    if let Some(r) = &e.regression {
        let _ = writeln!(out, "  MSE {:.4}, MAE {:.4}, R² {:.3}", r.mse, r.mae, r.r2);
    }
    out
}

/// The confusion matrix as aligned text: rows true class, columns predicted.
fn confusion_text(m: &[Vec<usize>], names: &[String]) -> String {
    let width = names.iter().map(|n| n.len()).max().unwrap_or(1).max(6);
    let mut out = format!(
        "confusion (rows: true class, columns: predicted)\n{:>width$}",
        ""
    );
    for n in names {
        out.push_str(&format!(" {n:>width$}"));
    }
    out.push('\n');
    for (r, row) in m.iter().enumerate() {
        out.push_str(&format!(
            "{:>width$}",
            names.get(r).map_or("?", String::as_str)
        ));
        for c in row {
            out.push_str(&format!(" {c:>width$}"));
        }
        out.push('\n');
    }
    out
}
