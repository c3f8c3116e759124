//! `lamina bench`: the reference jobs of the PyTorch comparison
//! (`shared/bench/README.md`), run through the same engine as `lamina train`.
//!
//! Each job is an ordinary experiment built here from the job table; the data
//! files are those `gen_data.py` writes. One JSON line per job, in the schema of
//! the PyTorch reference (`peer_torch.py`), so the two can be compared row by row.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::spec::{
    Alphabet, Architecture, ColorMode, DataFormat, DataSpec, Encoding, Experiment, ImageOptions,
    LabelSource, LayerSpec, Optimizer, Padding, SeqOutput, SequenceOptions, Stack,
    StandardizeScope, Task, TrainSpec,
};
use crate::train::{self, DevicePreference, Job};

/// The reference jobs: id, the reference's name, and what each trains.
pub const JOBS: [(&str, &str, &str); 7] = [
    (
        "J1",
        "omics_mlp_autoencoder",
        "2000-256-32-256-2000 autoencoder on 5000 cells, MSE",
    ),
    (
        "J2",
        "omics_vae",
        "VAE 2000-256-(16)-256-2000 on 5000 cells, negative ELBO",
    ),
    (
        "J3",
        "dna_cnn",
        "two Conv 1-D layers on 20000 × 200 bp, promoter or not",
    ),
    (
        "J4",
        "dna_lstm",
        "Embedding 32 + LSTM 64 (last state) on 20000 × 200 bp",
    ),
    (
        "J5",
        "protein_transformer",
        "2 transformer blocks on 5000 proteins of 50-300 aa, 3 families",
    ),
    (
        "J6",
        "image_cnn",
        "two Conv 2-D layers on 1800 64×64 cell images, 3 shapes",
    ),
    (
        "J7",
        "omics_gan",
        "GAN: generator 32-256-2000, discriminator 2000-256-1, all 5000 cells",
    ),
];

fn dense(units: usize) -> LayerSpec {
    LayerSpec::Dense { units, bias: true }
}

fn stack(name: &str, layers: Vec<LayerSpec>) -> Stack {
    Stack::chain(name, layers)
}

/// The experiment for one job, with data paths relative to the data folder.
pub fn experiment(job: &str) -> Result<Experiment, String> {
    let omics = DataSpec {
        path: "omics_counts.csv".into(),
        format: DataFormat::Table,
        encoding: Encoding {
            log1p: true,
            standardize: true,
            scale_pixels: false,
            ..Default::default()
        },
        ..DataSpec::default()
    };
    let fasta = |file: &str, alphabet, length| DataSpec {
        path: file.into(),
        format: DataFormat::Fasta,
        labels: LabelSource::Header {
            key: "label".into(),
        },
        sequence: SequenceOptions {
            alphabet,
            length,
            kmer: 1,
        },
        encoding: Encoding {
            scale_pixels: false,
            ..Default::default()
        },
        ..DataSpec::default()
    };
    let conv1d = |filters, padding| LayerSpec::Conv1d {
        filters,
        kernel: 9,
        stride: 1,
        padding,
    };
    let conv2d = |filters| LayerSpec::Conv2d {
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Valid,
    };
    let transformer = LayerSpec::TransformerBlock {
        heads: 4,
        ff: 128,
        dropout: 0.1,
    };
    let (task, stacks, data, batch_size, epochs) = match job {
        "J1" => (
            Task::Autoencoder,
            vec![
                stack("encoder", vec![dense(256), LayerSpec::Relu, dense(32)]),
                stack("decoder", vec![dense(256), LayerSpec::Relu, dense(2000)]),
            ],
            omics,
            128,
            5,
        ),
        "J2" => (
            Task::Vae,
            vec![
                stack(
                    "encoder",
                    vec![
                        dense(256),
                        LayerSpec::Relu,
                        LayerSpec::VaeSampling { latent: 16 },
                    ],
                ),
                stack("decoder", vec![dense(256), LayerSpec::Relu, dense(2000)]),
            ],
            omics,
            128,
            5,
        ),
        "J3" => (
            Task::Classification,
            vec![stack(
                "network",
                vec![
                    conv1d(64, Padding::Same),
                    LayerSpec::Relu,
                    LayerSpec::MaxPool1d { size: 4 },
                    conv1d(64, Padding::Valid),
                    LayerSpec::Relu,
                    LayerSpec::GlobalMaxPool,
                    dense(2),
                ],
            )],
            fasta("dna_train.fasta", Alphabet::Dna, 200),
            64,
            3,
        ),
        "J4" => (
            Task::Classification,
            vec![stack(
                "network",
                vec![
                    LayerSpec::Embedding { dim: 32, window: 1 },
                    LayerSpec::Lstm {
                        units: 64,
                        bidirectional: false,
                        output: SeqOutput::Last,
                    },
                    dense(2),
                ],
            )],
            fasta("dna_train.fasta", Alphabet::Dna, 200),
            64,
            2,
        ),
        "J5" => (
            Task::Classification,
            vec![stack(
                "network",
                vec![
                    LayerSpec::Embedding { dim: 64, window: 1 },
                    LayerSpec::PositionalEncoding { learned: true },
                    transformer.clone(),
                    transformer,
                    LayerSpec::GlobalAvgPool,
                    dense(3),
                ],
            )],
            fasta("protein.fasta", Alphabet::Protein, 300),
            32,
            2,
        ),
        "J6" => (
            Task::Classification,
            vec![stack(
                "network",
                vec![
                    conv2d(16),
                    LayerSpec::Relu,
                    LayerSpec::MaxPool2d { size: 2 },
                    conv2d(32),
                    LayerSpec::Relu,
                    LayerSpec::MaxPool2d { size: 2 },
                    LayerSpec::Flatten,
                    dense(64),
                    LayerSpec::Relu,
                    dense(3),
                ],
            )],
            DataSpec {
                path: "images".into(),
                format: DataFormat::ImageFolder,
                labels: LabelSource::Folder,
                image: ImageOptions {
                    width: 64,
                    height: 64,
                    color: ColorMode::Grayscale,
                    ..ImageOptions::default()
                },
                encoding: Encoding {
                    scale_pixels: true,
                    standardize: true,
                    standardize_scope: StandardizeScope::Global,
                    ..Default::default()
                },
                ..DataSpec::default()
            },
            64,
            3,
        ),
        "J7" => (
            Task::Gan,
            vec![
                stack("generator", vec![dense(256), LayerSpec::Relu, dense(2000)]),
                stack(
                    "discriminator",
                    vec![dense(256), LayerSpec::LeakyRelu { slope: 0.2 }, dense(1)],
                ),
            ],
            omics,
            128,
            2,
        ),
        other => {
            let known: Vec<_> = JOBS.iter().map(|j| j.0).collect();
            return Err(format!(
                "unknown benchmark job '{other}'; the jobs are {}",
                known.join(", ")
            ));
        }
    };
    let name = JOBS.iter().find(|j| j.0 == job).map(|j| j.1).unwrap_or(job);
    Ok(Experiment {
        name: format!("bench {job} {name}"),
        description: JOBS
            .iter()
            .find(|j| j.0 == job)
            .map(|j| j.2.to_string())
            .unwrap_or_default(),
        data,
        task,
        architecture: Architecture {
            stacks,
            noise_size: if task == Task::Gan { 32 } else { 0 },
        },
        training: TrainSpec {
            optimizer: Optimizer::Adam,
            learning_rate: 1e-3,
            batch_size,
            epochs,
            // The GAN trains on every cell, as the reference does.
            validation_fraction: if task == Task::Gan { 0.0 } else { 0.1 },
            seed: 0,
            ..TrainSpec::default()
        },
        ..Experiment::default()
    })
}

/// Run one job on the files in `data_dir`; the result is one JSON object.
pub fn run_job(
    job: &str,
    data_dir: &Path,
    device: DevicePreference,
    seed: u64,
) -> Result<Value, String> {
    let mut exp = experiment(job)?;
    exp.training.seed = seed;
    let name = JOBS.iter().find(|j| j.0 == job).map_or(job, |j| j.1);
    let busy_before = host_cpu_busy(Duration::from_secs(1));
    let started_utc = utc_now();
    let watch = CpuWatch::start();

    let t = Instant::now();
    let dataset = crate::data::load(&exp.data, data_dir).map_err(|e| e.to_string())?;
    let parse_seconds = t.elapsed().as_secs_f64();

    // The GAN's quality measure needs the real cells after training.
    let kept = (exp.task == Task::Gan).then(|| dataset.clone());
    let (events, progress) = mpsc::channel();
    // Steps and epochs go to stderr as they happen, so a job stopped by a time limit (a GPU
    // lease) still shows how far it got and how long each step took.
    let reporter = std::thread::spawn(move || report_progress(progress));
    // Kept alive for the run: a worker whose command channel closes stops.
    let (_commands_tx, commands) = mpsc::channel();
    let outcome = train::run_in_pool(
        Job::new(exp.clone(), dataset, device),
        events.clone(),
        commands,
    )?;
    let other = watch.other_share();
    drop(events);
    let _ = reporter.join();

    let s = &outcome.summary;
    let epochs = s.epochs_completed;
    let n_train = s.train_samples;
    let epoch_losses: Vec<f64> = outcome.history.iter().map(|h| h.train.loss).collect();
    let valid = s.final_valid.clone();
    let (val_metric, val_value) = match exp.task {
        Task::Gan => (
            "gene_gene_corr_structure_r_fake_vs_real",
            kept.as_ref()
                .map(|real| gan_structure_r(&outcome.model, real)),
        ),
        Task::Autoencoder => ("val_mse", valid.as_ref().map(|v| v.loss)),
        Task::Vae => ("val_neg_elbo_per_cell", valid.as_ref().map(|v| v.loss)),
        _ => ("val_accuracy", valid.as_ref().and_then(|v| v.accuracy)),
    };
    let mut row = json!({
        "job": job,
        "name": name,
        "parse_seconds": parse_seconds,
        "train_seconds": s.train_seconds,
        "samples_per_second": (n_train * epochs) as f64 / s.train_seconds.max(1e-9),
        "final_train_loss": epoch_losses.last(),
        "val_metric": val_metric,
        "val_value": val_value,
        "prep_seconds": s.prep_seconds,
        "first_step_seconds": s.first_step_seconds,
        "n_train": n_train,
        "epochs": epochs,
        "batch_size": exp.training.batch_size,
        "epoch_losses": epoch_losses,
        // Wall time of each epoch, validation included: on a GPU the first
        // epochs also compile kernels, the last ones show the steady state.
        "epoch_seconds": outcome.history.iter().map(|h| h.seconds).collect::<Vec<_>>(),
        "params": s.parameters,
        "started_utc": started_utc,
        "host_cpu_busy_before": busy_before,
        "other_procs_cpu_share_during": other,
        "framework": "lamina",
        "lamina_version": env!("CARGO_PKG_VERSION"),
        "burn_version": "0.22",
        "device": s.device,
        "device_is_gpu": s.device_is_gpu,
        "threads": threads(),
        "cpu": std::env::consts::ARCH,
        "seed": exp.training.seed,
    });
    if exp.task == Task::Gan {
        let d: Vec<Option<f64>> = outcome
            .history
            .iter()
            .map(|h| h.train.discriminator_loss)
            .collect();
        row["final_d_loss"] = json!(d.last());
        row["epoch_d_losses"] = json!(d);
    }
    if exp.task == Task::Vae
        && let Some(kl) = valid.and_then(|v| v.kl)
    {
        row["val_kl_per_cell"] = json!(kl);
    }
    Ok(row)
}

/// The reference's GAN measure: Pearson r between the gene-gene correlation
/// matrices (upper triangles, every gene) of all real cells and 2000 generated
/// ones, in the standardised scale the networks see.
fn gan_structure_r(model: &crate::train::TrainedModel, real: &crate::data::Dataset) -> f64 {
    use burn::tensor::{Device, Tensor, TensorData};
    let device = Device::flex();
    let d = real.sample_len();
    let real_values = model.preprocessing.transform(real);
    let fake = crate::train::generate(
        &model.network,
        2000,
        model.experiment.architecture.noise_size,
        &device,
    );
    let corr = |values: Vec<f32>, n: usize| -> Vec<f32> {
        let m = Tensor::<2>::from_data(TensorData::new(values, [n, d]), &device);
        let mean = m.clone().mean_dim(0);
        let centred = m - mean;
        let sd = centred
            .clone()
            .powi_scalar(2)
            .mean_dim(0)
            .sqrt()
            .clamp_min(1e-12);
        let z = centred / sd;
        let c = z.clone().transpose().matmul(z).div_scalar(n as f64);
        let c: Vec<f32> = c.into_data().try_to_vec::<f32>().unwrap_or_default();
        (0..d)
            .flat_map(|p| (p + 1..d).map(move |q| (p, q)))
            .map(|(p, q)| c[p * d + q])
            .collect()
    };
    crate::train::pearson(&corr(real_values, real.len()), &corr(fake, 2000))
}

/// Worker threads of the CPU backend (rayon's pool: `RAYON_NUM_THREADS` or one per core).
/// Prints the first steps of each epoch, then every 50th, and each epoch's time, to stderr.
fn report_progress(events: mpsc::Receiver<train::Event>) {
    let start = Instant::now();
    for event in events {
        match event {
            train::Event::Progress(p) if p.step <= 3 || p.step % 50 == 0 => eprintln!(
                "{:8.2} s  epoch {}/{} step {}/{}  loss {:.4}",
                start.elapsed().as_secs_f64(),
                p.epoch,
                p.epochs,
                p.step,
                p.steps_per_epoch,
                p.loss
            ),
            train::Event::Epoch(m) => eprintln!(
                "{:8.2} s  epoch {} done in {:.2} s",
                start.elapsed().as_secs_f64(),
                m.epoch,
                m.seconds
            ),
            _ => {}
        }
    }
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `(total, idle)` jiffies of all CPUs from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() >= 5).then(|| (v.iter().sum(), v[3] + v[4]))
}

/// CPU time of this process (all threads), in jiffies.
fn own_jiffies() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Share of all CPUs busy (any process) over `period`, as the reference measures it.
fn host_cpu_busy(period: Duration) -> Option<f64> {
    let (t1, i1) = cpu_jiffies()?;
    std::thread::sleep(period);
    let (t2, i2) = cpu_jiffies()?;
    let busy = 1.0 - (i2 - i1) as f64 / (t2 - t1).max(1) as f64;
    Some((busy * 1000.0).round() / 1000.0)
}

/// Share of the machine's CPU used by other processes while a job ran:
/// 0 is a quiet machine, 0.5 one of two cores taken by something else.
struct CpuWatch {
    start: Option<(u64, u64, u64)>,
}

impl CpuWatch {
    fn start() -> CpuWatch {
        let start = cpu_jiffies()
            .zip(own_jiffies())
            .map(|((t, i), o)| (t, i, o));
        CpuWatch { start }
    }

    fn other_share(&self) -> Option<f64> {
        let (t1, i1, o1) = self.start?;
        let ((t2, i2), o2) = cpu_jiffies().zip(own_jiffies())?;
        // Both counters tick at the kernel's USER_HZ, so their ratio needs no scale.
        let total = (t2 - t1) as f64;
        let busy = total - (i2 - i1) as f64;
        let other = (busy - (o2 - o1) as f64).max(0.0) / total.max(1.0);
        Some((other * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::shapes::{Target, infer_shapes};

    #[test]
    fn every_job_is_a_valid_experiment_with_the_reference_sizes() {
        // Parameter counts of the PyTorch reference models (peer_torch.py `params`).
        let reference = [
            ("J1", vec![2000], Target::Reconstruct, 1_042_928),
            ("J2", vec![2000], Target::Reconstruct, 1_038_832),
            ("J3", vec![4, 200], Target::Classes(2), 39_426),
            ("J4", vec![4, 200], Target::Classes(2), 25_346),
            ("J6", vec![1, 64, 64], Target::Classes(3), 406_467),
        ];
        for (job, shape, target, params) in reference {
            let exp = experiment(job).unwrap();
            exp.validate().unwrap();
            let report = infer_shapes(&exp.architecture, exp.task, &shape, &target)
                .into_result()
                .unwrap();
            // Embeddings here are bias-free projections of one-hot letters: the
            // reference's nn.Embedding(4, 32) has the same 128 weights.
            assert_eq!(report.total_params(), params, "{job}");
        }
        assert!(experiment("J9").unwrap_err().contains("J1, J2"));
    }

    #[test]
    fn utc_time_is_formatted() {
        let t = utc_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn cpu_counters_are_read() {
        assert!(cpu_jiffies().is_some());
        assert!(own_jiffies().is_some());
        let share = CpuWatch::start().other_share().unwrap();
        assert!((0.0..=1.0).contains(&share));
    }
}
