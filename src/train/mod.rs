//! The training engine. A [`Worker`] runs on its own thread, owns the model, the
//! device and the data, and talks only through channels: [`Command`]s in,
//! [`Event`]s out. The window and the CLI are two consumers of the same events.
//!
//! One loop serves the tasks in `spec::Task`: the task decides the loss and the
//! metrics; everything else (batching, optimizer, pause/stop, early stopping,
//! NaN checks, progress) is shared.

pub mod augment;
pub mod device;
pub mod dqn;
mod gan;

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{
    AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig,
    momentum::MomentumConfig,
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::sparse::Sparse;
use crate::data::split::{Split, split};
use crate::data::{Dataset, Labels, Preprocessing};
use crate::model::Network;
use crate::model::cpu::adam::Adam;
use crate::spec::shapes::Target;
use crate::spec::{Experiment, Optimizer, Task};
pub use device::{DeviceChoice, DevicePreference};
pub use gan::{GanSnapshot, generate, pearson};

/// Seed the device and build the network, as one step no other run can
/// interleave with: burn's random generator is shared by the whole process,
/// so two runs started together would otherwise draw each other's initial
/// weights. Dropout masks follow from the same seed (per thread).
pub(crate) fn seeded_build(
    exp: &Experiment,
    data: &Dataset,
    target: &Target,
    device: &Device,
    seed: u64,
) -> Result<(Network, crate::spec::shapes::ShapeReport), crate::spec::shapes::ShapeError> {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_us = INIT.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    crate::model::dropout::seed(seed);
    let joined: Vec<usize> = data.joined.iter().map(|(_, w)| *w).collect();
    crate::model::build_joined(
        exp,
        &data.shape,
        &joined,
        target,
        &device.clone().autodiff(),
    )
}

/// Sent to a running worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    /// Finish after the current step and hand back the model trained so far.
    Stop,
}

/// Metrics of one split after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SplitMetrics {
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// VAE only: the reconstruction and KL parts of the loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl: Option<f64>,
    /// GAN only (`loss` is then the generator's): the discriminator's loss and
    /// how often it called real samples real and generated ones generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discriminator_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub train: SplitMetrics,
    pub valid: Option<SplitMetrics>,
    pub seconds: f64,
}

/// Latent coordinates of (up to 2000) validation samples.
#[derive(Debug, Clone)]
pub struct LatentSnapshot {
    pub epoch: usize,
    pub ids: Vec<String>,
    /// Class index per sample, when there are classes.
    pub labels: Option<Vec<usize>>,
    pub dims: usize,
    /// `ids.len() × dims`, row-major.
    pub values: Vec<f32>,
    /// With classes: share of samples whose 5 nearest neighbours in the latent
    /// space mostly share their class.
    pub knn_agreement: Option<f64>,
}

/// A few validation samples and the network's reconstruction of each (autoencoder
/// and VAE tasks), in the encoded scale the network sees.
#[derive(Debug, Clone)]
pub struct ReconstructionSnapshot {
    pub epoch: usize,
    pub ids: Vec<String>,
    /// Shape of one sample, e.g. `[channels, height, width]` for images.
    pub shape: Vec<usize>,
    /// `ids.len() × sample_len` each, row-major.
    pub inputs: Vec<f32>,
    pub outputs: Vec<f32>,
}

/// Attention weights of a few validation sequences, per attention layer.
#[derive(Debug, Clone)]
pub struct AttentionSnapshot {
    pub epoch: usize,
    pub ids: Vec<String>,
    /// The letters of each sample (sequence data), for labelling the axes.
    pub sequences: Vec<String>,
    /// Valid (unpadded) positions of each sample in each layer's map.
    pub valid_positions: Vec<Vec<usize>>,
    /// Class name of each sample, when there are classes.
    pub labels: Vec<String>,
    pub layers: Vec<AttentionLayer>,
}

/// One attention layer's weights: `samples × heads × positions × positions`,
/// row-major; each row (a query position) sums to 1 over the key positions.
#[derive(Debug, Clone)]
pub struct AttentionLayer {
    pub heads: usize,
    pub positions: usize,
    pub weights: Vec<f32>,
}

impl AttentionLayer {
    /// The `positions × positions` map of one sample, one head or (None) the
    /// mean over heads.
    pub fn map(&self, sample: usize, head: Option<usize>) -> Vec<f32> {
        let p = self.positions;
        let block = p * p;
        let start = sample * self.heads * block;
        match head {
            Some(h) => self.weights[start + h * block..start + (h + 1) * block].to_vec(),
            None => {
                let mut m = vec![0.0; block];
                for h in 0..self.heads {
                    let w = &self.weights[start + h * block..start + (h + 1) * block];
                    m.iter_mut()
                        .zip(w)
                        .for_each(|(a, b)| *a += b / self.heads as f32);
                }
                m
            }
        }
    }
}

/// Attention each position receives: the mean of its column over all query
/// positions (a per-position importance track).
pub fn attention_received(map: &[f32], positions: usize) -> Vec<f32> {
    (0..positions)
        .map(|k| (0..positions).map(|q| map[q * positions + k]).sum::<f32>() / positions as f32)
        .collect()
}

/// The facts shown when training starts.
#[derive(Debug, Clone)]
pub struct StartInfo {
    pub device: String,
    pub is_gpu: bool,
    pub device_reason: String,
    pub train_samples: usize,
    pub valid_samples: usize,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    pub parameters: usize,
}

#[derive(Debug, Clone)]
pub struct Progress {
    /// 1-based epoch and step within it.
    pub epoch: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    /// Mean training loss over the epoch so far.
    pub loss: f64,
    pub samples_per_second: f64,
    pub eta_seconds: f64,
}

/// Everything a worker reports.
pub enum Event {
    Started(StartInfo),
    Progress(Progress),
    Epoch(EpochMetrics),
    Latent(LatentSnapshot),
    Reconstructions(ReconstructionSnapshot),
    Attention(AttentionSnapshot),
    GanSamples(GanSnapshot),
    Episode(dqn::EpisodeReport),
    Paused,
    Resumed,
    Finished(Box<Outcome>),
    Failed(String),
}

/// A model after training, with what is needed to use it on new data.
#[derive(Clone)]
pub struct TrainedModel {
    pub experiment: Experiment,
    pub network: Network,
    pub preprocessing: Preprocessing,
    pub class_names: Vec<String>,
    /// Names of the input features (table columns, sequence letters, image
    /// channels), so new data can be checked and aligned before prediction.
    pub feature_names: Vec<String>,
    pub input_shape: Vec<usize>,
    pub target: Target,
}

impl TrainedModel {
    /// A model trained on `data`: its class names, feature names and sample
    /// shape are taken from the data as the network saw it.
    fn of(
        experiment: Experiment,
        network: Network,
        preprocessing: Preprocessing,
        data: &Dataset,
        target: Target,
    ) -> TrainedModel {
        TrainedModel {
            experiment,
            network,
            preprocessing,
            class_names: data.labels.class_names().to_vec(),
            feature_names: data.feature_names.clone(),
            input_shape: data.shape.clone(),
            target,
        }
    }
}

/// What a trained network gives for each sample of a data set.
#[derive(Debug, Clone)]
pub struct Inference {
    /// `n × outputs`, row-major: class probabilities, predicted values, or the
    /// reconstruction in the encoded scale.
    pub outputs: Vec<f32>,
    pub output_dim: usize,
    /// `n × latent_dim` latent coordinates, when the network has a bottleneck.
    pub latent: Option<Vec<f32>>,
    pub latent_dim: usize,
    /// Mean squared reconstruction error per sample (autoencoders and VAEs).
    pub reconstruction_error: Option<Vec<f32>>,
}

/// Summary written to `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub task: Task,
    pub device: String,
    pub device_is_gpu: bool,
    pub device_reason: String,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub stopped_early: bool,
    pub stopped_by_user: bool,
    pub best_epoch: Option<usize>,
    pub train_samples: usize,
    pub valid_samples: usize,
    pub parameters: usize,
    pub wall_seconds: f64,
    /// Split and preprocessing (fitting and applying the encodings).
    #[serde(default)]
    pub prep_seconds: f64,
    /// The training steps only (batching, forward, backward, optimizer), no validation.
    pub train_seconds: f64,
    /// The first step alone: on a GPU it includes compiling and tuning kernels.
    #[serde(default)]
    pub first_step_seconds: f64,
    pub samples_per_second: f64,
    pub final_train: Option<SplitMetrics>,
    pub final_valid: Option<SplitMetrics>,
    /// Accuracy of always guessing the most common class, for comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_accuracy: Option<f64>,
    /// Classifiers: validation counts, `confusion[true class][predicted class]`,
    /// with the final (or, with early stopping, the best) weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Vec<Vec<usize>>>,
    /// Reinforcement learning: how the trained agent does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rl: Option<dqn::RlSummary>,
}

pub struct Outcome {
    pub model: TrainedModel,
    pub summary: Summary,
    pub history: Vec<EpochMetrics>,
}

/// What a worker needs to train.
pub struct Job {
    pub experiment: Experiment,
    pub dataset: Dataset,
    pub device: DevicePreference,
}

/// A training run on its own thread.
pub struct Worker {
    commands: Sender<Command>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(job: Job) -> Worker {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("lamina-train".into())
            .spawn(move || {
                let tx = ev_tx.clone();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_in_pool(job, ev_tx, cmd_rx)
                }));
                let event = match result {
                    Ok(Ok(outcome)) => Event::Finished(Box::new(outcome)),
                    Ok(Err(msg)) => Event::Failed(msg),
                    Err(panic) => Event::Failed(format!(
                        "internal error during training: {}",
                        panic_message(&panic)
                    )),
                };
                let _ = tx.send(event);
            })
            .expect("the OS can start a thread");
        Worker {
            commands: cmd_tx,
            events: ev_rx,
            handle: Some(handle),
        }
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The next event without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting for it; `None` once the worker has ended.
    pub fn recv(&self) -> Option<Event> {
        self.events.recv().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown".into()
    }
}

/// [`run`] on a thread of its own rayon pool, one thread per core (or `RAYON_NUM_THREADS`).
///
/// The CPU backend spreads its matrix products and our layers over rayon's threads. Called
/// from an ordinary thread, every such operation hands its work to the pool and waits, and
/// work the product does before splitting (packing an operand) runs on a third thread
/// competing with the pool's for the cores. Run from inside the pool, the training thread is
/// one of the workers: a dense autoencoder step went from 8.6 to 7.9 ms on two cores (means of
/// eight alternating runs).
pub fn run_in_pool(
    job: Job,
    events: Sender<Event>,
    commands: Receiver<Command>,
) -> Result<Outcome, String> {
    match rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("lamina-compute-{i}"))
        .build()
    {
        Ok(pool) => pool.install(move || run(job, &events, &commands)),
        // No threads to be had: the calling thread and the global pool still train.
        Err(_) => run(job, &events, &commands),
    }
}

/// Train synchronously, reporting through `events`; what a worker thread runs.
pub fn run(
    job: Job,
    events: &Sender<Event>,
    commands: &Receiver<Command>,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let Job {
        experiment: exp,
        dataset: mut data,
        device,
    } = job;
    exp.validate().map_err(|e| e.to_string())?;
    let target = data.target(exp.task).map_err(|e| e.to_string())?;
    let choice = device::choose(device)?;
    if exp.task == Task::Gan {
        return gan::run(exp, data, choice, events, commands, started);
    }
    if exp.task == Task::Dqn {
        return dqn::run(exp, data, choice, events, commands, started);
    }
    let t = &exp.training;

    let prep_start = Instant::now();
    let Split { train, valid } = split(data.len(), &data.labels, t.validation_fraction, t.seed);
    if train.is_empty() {
        return Err(format!(
            "{} has no samples to train on",
            data.source.display()
        ));
    }
    let prep = Preprocessing::fit_to(&mut data, &exp.data.encoding, &train);
    let values = encoded(&data, &prep);
    let prep_seconds = prep_start.elapsed().as_secs_f64();

    let ad = choice.device.clone().autodiff();
    let (mut model, report) = seeded_build(&exp, &data, &target, &choice.device, t.seed)
        .map_err(|e| format!("the network does not fit the data: {e}"))?;

    let batch = t.batch_size.min(train.len()).max(1);
    let steps_per_epoch = train.len().div_ceil(batch);
    let total_steps = steps_per_epoch * t.epochs;
    let _ = events.send(Event::Started(StartInfo {
        device: choice.name.clone(),
        is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        train_samples: train.len(),
        valid_samples: valid.len(),
        steps_per_epoch,
        epochs: t.epochs,
        parameters: report.total_params(),
    }));

    let mut optim = optimizer(&exp);
    let batcher = Batcher::new(&values, &data, &prep, &data.labels, &model)
        .lengths_rounded_to(length_step(&choice.device));
    let mut order = train.clone();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(t.seed.wrapping_add(1));
    let mut augmenter = if data.kind == crate::data::DataKind::Images {
        augment::Augmenter::new(t.augment, &data.shape, t.seed)
    } else {
        None
    };

    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Network)> = None;
    let mut since_best = 0;
    let mut stopped_by_user = false;
    let mut stopped_early = false;
    let mut clock = StepClock::new();

    'epochs: for epoch in 1..=t.epochs {
        let epoch_start = Instant::now();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        let mut acc = Accumulator::default();
        for (step, chunk) in order.chunks(batch).enumerate() {
            match poll_commands(commands, events) {
                Flow::Continue => {}
                Flow::Stop => {
                    stopped_by_user = true;
                    break 'epochs;
                }
            }
            let step_start = Instant::now();
            let (x, y, lens) = batcher.batch_with(chunk, &ad, augmenter.as_mut());
            let out = model.forward_padded(x.clone(), lens.as_deref(), true);
            let parts = loss(exp.task, out, x, y.clone(), &ad);
            let loss_value: f64 = parts.total.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return Err(format!(
                    "the loss became {} at epoch {epoch}, step {}; training stopped. Try a lower learning rate (now {}), gradient clipping, or check the data for extreme values",
                    if loss_value.is_nan() {
                        "NaN"
                    } else {
                        "infinite"
                    },
                    step + 1,
                    t.learning_rate
                ));
            }
            acc.add(&parts, chunk.len(), loss_value);
            let grads = GradientsParams::from_grads(parts.total.backward(), &model);
            model = optim.step(t.learning_rate, model, grads);
            clock.step_done(step_start);
            if clock.report_due(step + 1 == steps_per_epoch) {
                let _ = events.send(Event::Progress(Progress {
                    epoch,
                    step: step + 1,
                    steps_per_epoch,
                    epochs: t.epochs,
                    loss: acc.loss / acc.n as f64,
                    samples_per_second: clock.per_second(clock.steps * batch),
                    eta_seconds: clock.eta(total_steps),
                }));
            }
        }
        let train_metrics = acc.metrics();
        let eval_model = model.valid();
        let valid_metrics = (!valid.is_empty()).then(|| {
            evaluate(
                &eval_model,
                exp.task,
                &batcher,
                &valid,
                batch,
                &choice.device,
            )
        });
        let metrics = EpochMetrics {
            epoch,
            train: train_metrics,
            valid: valid_metrics.clone(),
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        let _ = events.send(Event::Epoch(metrics.clone()));
        history.push(metrics);
        if !valid.is_empty() {
            let snapshot = latent_snapshot(
                &eval_model,
                &batcher,
                &valid,
                &data,
                batch,
                &choice.device,
                epoch,
            );
            if let Some(s) = snapshot {
                let _ = events.send(Event::Latent(s));
            }
            if let Some(s) =
                attention_snapshot(&eval_model, &batcher, &valid, &data, &choice.device, epoch)
            {
                let _ = events.send(Event::Attention(s));
            }
            if matches!(exp.task, Task::Autoencoder | Task::Vae)
                && let Some(s) = reconstruction_snapshot(
                    &eval_model,
                    &batcher,
                    &valid,
                    &data,
                    &choice.device,
                    epoch,
                )
            {
                let _ = events.send(Event::Reconstructions(s));
            }
        }

        if let Some(v) = &valid_metrics {
            let improved = best.as_ref().is_none_or(|(b, _, _)| v.loss < *b);
            if improved {
                best = Some((v.loss, epoch, model.clone()));
                since_best = 0;
            } else {
                since_best += 1;
                if t.early_stopping_patience > 0 && since_best >= t.early_stopping_patience {
                    stopped_early = true;
                    break;
                }
            }
        }
    }

    // With early stopping the best epoch's weights are kept; otherwise the last.
    let best_epoch = best.as_ref().map(|(_, e, _)| *e);
    if t.early_stopping_patience > 0
        && let Some((_, _, m)) = best
    {
        model = m;
    }
    let final_train = history.last().map(|h| h.train.clone());
    let final_valid = if t.early_stopping_patience > 0 {
        best_epoch
            .and_then(|e| history.get(e - 1))
            .and_then(|h| h.valid.clone())
    } else {
        history.last().and_then(|h| h.valid.clone())
    };
    let chance_accuracy = match &data.labels {
        Labels::Classes { .. } => {
            let counts = data.labels.class_counts();
            counts.iter().max().map(|&m| m as f64 / data.len() as f64)
        }
        _ => None,
    };
    let confusion = match &data.labels {
        Labels::Classes { index, names }
            if !valid.is_empty() && exp.task == Task::Classification =>
        {
            Some(confusion_matrix(
                &model.valid(),
                &batcher,
                &valid,
                index,
                names.len(),
                batch,
                &choice.device,
            ))
        }
        _ => None,
    };
    let summary = Summary {
        confusion,
        task: exp.task,
        device: choice.name.clone(),
        device_is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        epochs_completed: history.len(),
        epochs_planned: t.epochs,
        stopped_early,
        stopped_by_user,
        best_epoch,
        train_samples: train.len(),
        valid_samples: valid.len(),
        parameters: report.total_params(),
        wall_seconds: started.elapsed().as_secs_f64(),
        prep_seconds,
        first_step_seconds: clock.first_step_seconds,
        train_seconds: clock.time.as_secs_f64(),
        samples_per_second: clock.per_second(clock.steps * batch),
        final_train,
        final_valid,
        chance_accuracy,
        rl: None,
    };
    Ok(Outcome {
        model: TrainedModel::of(exp, model.valid(), prep, &data, target),
        summary,
        history,
    })
}

enum Flow {
    Continue,
    Stop,
}

/// Time spent in training steps (batching, forward, backward, optimizer; not
/// validation), and when progress was last reported. Shared by every task's loop.
struct StepClock {
    steps: usize,
    time: Duration,
    first_step_seconds: f64,
    last_report: Instant,
}

impl StepClock {
    fn new() -> StepClock {
        StepClock {
            steps: 0,
            time: Duration::ZERO,
            first_step_seconds: 0.0,
            last_report: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Count one finished step that began at `start`.
    fn step_done(&mut self, start: Instant) {
        let spent = start.elapsed();
        self.steps += 1;
        self.time += spent;
        if self.steps == 1 {
            self.first_step_seconds = spent.as_secs_f64();
        }
    }

    /// Whether to report progress now: five times a second, and always when `last`.
    fn report_due(&mut self, last: bool) -> bool {
        let due = last || self.last_report.elapsed() > Duration::from_millis(200);
        if due {
            self.last_report = Instant::now();
        }
        due
    }

    /// `items` (samples or environment steps) per second of step time.
    fn per_second(&self, items: usize) -> f64 {
        items as f64 / self.time.as_secs_f64().max(1e-9)
    }

    /// Seconds left for `total_steps` at the pace so far.
    fn eta(&self, total_steps: usize) -> f64 {
        self.time.as_secs_f64() / self.steps.max(1) as f64
            * total_steps.saturating_sub(self.steps) as f64
    }
}

/// Handle pause/resume/stop between steps; a pause blocks here until resumed.
fn poll_commands(commands: &Receiver<Command>, events: &Sender<Event>) -> Flow {
    loop {
        match commands.try_recv() {
            Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return Flow::Stop,
            Ok(Command::Resume) => continue,
            Ok(Command::Pause) => {
                let _ = events.send(Event::Paused);
                loop {
                    match commands.recv() {
                        Ok(Command::Resume) => {
                            let _ = events.send(Event::Resumed);
                            break;
                        }
                        Ok(Command::Stop) | Err(_) => return Flow::Stop,
                        Ok(Command::Pause) => {}
                    }
                }
            }
            Err(TryRecvError::Empty) => return Flow::Continue,
        }
    }
}

fn optimizer(exp: &Experiment) -> ModuleOptimizer {
    let t = &exp.training;
    let clip = (t.gradient_clip_norm > 0.0)
        .then_some(GradientClippingConfig::Norm(t.gradient_clip_norm as f32));
    match t.optimizer {
        Optimizer::Adam => Adam::optimizer(0.9, 0.999, clip),
        Optimizer::AdamW => AdamWConfig::new()
            .with_epsilon(crate::model::cpu::adam::EPSILON)
            .with_weight_decay(t.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        Optimizer::Sgd => SgdConfig::new()
            .with_momentum((t.momentum > 0.0).then_some(MomentumConfig {
                momentum: t.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(
                (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32)),
            )
            .with_gradient_clipping(clip)
            .init(),
    }
}

/// Targets of one batch.
#[derive(Clone)]
enum Y {
    None,
    Classes(Tensor<1, Int>),
    Values(Tensor<2>),
}

/// Gathers encoded samples into tensors.
pub(crate) struct Batcher<'a> {
    values: &'a [f32],
    sample_len: usize,
    labels: &'a Labels,
    seq: Option<SeqLayout<'a>>,
    /// Sparse data: rows are made dense and preprocessed here, batch by
    /// batch, instead of all at once (then `values` is empty).
    sparse: Option<(&'a Sparse, &'a Preprocessing)>,
    /// A batch cut to its longest member is cut to a multiple of this instead.
    length_step: usize,
}

/// On a GPU every new tensor shape costs compiled kernels (seconds on a first run), so
/// batches of sequences are cut to a multiple of this many positions rather than to their
/// longest member: a few shapes per run instead of one per batch. The network masks the
/// positions past each sequence's length either way.
const GPU_LENGTH_STEP: usize = 32;

/// The multiple batches of sequences are cut to on `device`: [`GPU_LENGTH_STEP`] on a GPU
/// (any device but the CPU backend), 1 (their longest member) on the CPU.
fn length_step(device: &Device) -> usize {
    if device.clone().inner() == Device::flex() {
        1
    } else {
        GPU_LENGTH_STEP
    }
}

/// How sequence samples are laid out and batched.
#[derive(Clone, Copy)]
struct SeqLayout<'a> {
    channels: usize,
    length: usize,
    /// Each sample's valid length.
    lengths: &'a [usize],
    /// Cut each batch to its longest member (the network takes any length).
    trim: bool,
}

impl<'a> SeqLayout<'a> {
    fn of(data: &'a Dataset, network: &Network) -> Option<Self> {
        let lengths = data.lengths.as_deref()?;
        let [channels, length] = data.shape[..] else {
            return None;
        };
        Some(SeqLayout {
            channels,
            length,
            lengths,
            trim: network.variable_length,
        })
    }
}

/// Every sample of `data` encoded for the network, or nothing when the data
/// is sparse: then [`Batcher`] encodes batch by batch and keeps it sparse.
fn encoded(data: &Dataset, prep: &Preprocessing) -> Vec<f32> {
    if data.sparse.is_some() {
        Vec::new()
    } else {
        prep.transform(data)
    }
}

impl<'a> Batcher<'a> {
    /// Batches of `data` for `network`: from `values` (see [`encoded`]), or
    /// from the sparse rows through `prep`.
    fn new(
        values: &'a [f32],
        data: &'a Dataset,
        prep: &'a Preprocessing,
        labels: &'a Labels,
        network: &Network,
    ) -> Self {
        Batcher {
            values,
            sample_len: data.sample_len(),
            labels,
            seq: SeqLayout::of(data, network),
            sparse: data.sparse.as_ref().map(|m| (m, prep)),
            length_step: 1,
        }
    }

    /// Cut batches of sequences to a multiple of `step` positions (see [`GPU_LENGTH_STEP`]).
    fn lengths_rounded_to(self, step: usize) -> Self {
        Batcher {
            length_step: step.max(1),
            ..self
        }
    }
}

impl Batcher<'_> {
    /// The samples `idx` as `[batch, values]`, their targets and, for
    /// sequences, their valid lengths (the batch cut to its longest member
    /// when the network takes any length).
    fn batch(&self, idx: &[usize], device: &Device) -> (Tensor<2>, Y, Option<Vec<usize>>) {
        self.batch_with(idx, device, None)
    }

    /// [`Batcher::batch`], with each image changed by `augment` (training only).
    fn batch_with(
        &self,
        idx: &[usize],
        device: &Device,
        augment: Option<&mut augment::Augmenter>,
    ) -> (Tensor<2>, Y, Option<Vec<usize>>) {
        let lengths: Option<Vec<usize>> = self
            .seq
            .map(|s| idx.iter().map(|&i| s.lengths[i].max(1)).collect());
        let x = match (&self.seq, &lengths) {
            (Some(s), Some(lens)) if s.trim => {
                let longest = lens.iter().copied().max().unwrap_or(1);
                let keep = longest.next_multiple_of(self.length_step).min(s.length);
                let mut buf = Vec::with_capacity(idx.len() * s.channels * keep);
                let mut row = vec![
                    0.0;
                    if self.sparse.is_some() {
                        self.sample_len
                    } else {
                        0
                    }
                ];
                for &i in idx {
                    let sample = match self.sparse {
                        Some((m, prep)) => {
                            m.write_row(i, &mut row);
                            prep.apply(&mut row);
                            &row[..]
                        }
                        None => &self.values[i * self.sample_len..(i + 1) * self.sample_len],
                    };
                    for c in 0..s.channels {
                        buf.extend_from_slice(&sample[c * s.length..c * s.length + keep]);
                    }
                }
                Tensor::<2>::from_data(TensorData::new(buf, [idx.len(), s.channels * keep]), device)
            }
            _ => {
                let mut buf = Vec::with_capacity(idx.len() * self.sample_len);
                if let Some((m, prep)) = self.sparse {
                    buf.resize(idx.len() * self.sample_len, 0.0);
                    for (row, &i) in buf.chunks_mut(self.sample_len.max(1)).zip(idx) {
                        m.write_row(i, row);
                        prep.apply(row);
                    }
                } else {
                    for &i in idx {
                        buf.extend_from_slice(
                            &self.values[i * self.sample_len..(i + 1) * self.sample_len],
                        );
                    }
                }
                if let Some(a) = augment {
                    buf.chunks_mut(self.sample_len.max(1))
                        .for_each(|sample| a.apply(sample));
                }
                Tensor::<2>::from_data(TensorData::new(buf, [idx.len(), self.sample_len]), device)
            }
        };
        let y = match self.labels {
            Labels::Classes { index, .. } => {
                let ys: Vec<i64> = idx.iter().map(|&i| index[i] as i64).collect();
                Y::Classes(Tensor::<1, Int>::from_data(
                    TensorData::new(ys, [idx.len()]),
                    device,
                ))
            }
            Labels::Values(v) => {
                let ys: Vec<f32> = idx.iter().map(|&i| v[i]).collect();
                Y::Values(Tensor::<2>::from_data(
                    TensorData::new(ys, [idx.len(), 1]),
                    device,
                ))
            }
            Labels::None => Y::None,
        };
        (x, y, lengths)
    }
}

struct LossParts {
    total: Tensor<1>,
    /// Number of correct predictions in the batch (classification).
    correct: Option<Tensor<1, Int>>,
    reconstruction: Option<Tensor<1>>,
    kl: Option<Tensor<1>>,
}

fn loss(task: Task, out: crate::model::Forward, x: Tensor<2>, y: Y, device: &Device) -> LossParts {
    match (task, y) {
        (Task::Classification, Y::Classes(y)) => {
            let correct = out
                .output
                .clone()
                .argmax(1)
                .flatten::<1>(0, 1)
                .equal(y.clone())
                .int()
                .sum();
            let total = CrossEntropyLossConfig::new()
                .init(device)
                .forward(out.output, y);
            LossParts {
                total,
                correct: Some(correct),
                reconstruction: None,
                kl: None,
            }
        }
        (Task::Regression, Y::Values(y)) => LossParts {
            total: (out.output - y).powi_scalar(2).mean(),
            correct: None,
            reconstruction: None,
            kl: None,
        },
        (Task::Vae, _) => {
            // Mean over samples of [Σ features (x̂ − x)² + KL(q(z|x) ‖ N(0, 1))].
            let recon = (out.output - x).powi_scalar(2).sum_dim(1).mean();
            let (mean, log_var) = out
                .vae
                .expect("a VAE network always reports mean and log-variance");
            let kl = (log_var.clone().exp() + mean.powi_scalar(2) - log_var - 1.0)
                .sum_dim(1)
                .mean()
                .mul_scalar(0.5);
            LossParts {
                total: recon.clone() + kl.clone(),
                correct: None,
                reconstruction: Some(recon),
                kl: Some(kl),
            }
        }
        (_, _) => LossParts {
            // Autoencoder (and any task without targets): mean squared reconstruction error.
            total: (out.output - x).powi_scalar(2).mean(),
            correct: None,
            reconstruction: None,
            kl: None,
        },
    }
}

/// Sample-weighted sums of the loss parts over an epoch.
#[derive(Default)]
struct Accumulator {
    n: usize,
    loss: f64,
    correct: Option<i64>,
    reconstruction: Option<f64>,
    kl: Option<f64>,
}

impl Accumulator {
    fn add(&mut self, parts: &LossParts, n: usize, loss_value: f64) {
        self.n += n;
        self.loss += loss_value * n as f64;
        if let Some(c) = &parts.correct {
            *self.correct.get_or_insert(0) += c.clone().into_scalar::<i64>();
        }
        if let Some(r) = &parts.reconstruction {
            *self.reconstruction.get_or_insert(0.0) +=
                r.clone().into_scalar::<f32>() as f64 * n as f64;
        }
        if let Some(k) = &parts.kl {
            *self.kl.get_or_insert(0.0) += k.clone().into_scalar::<f32>() as f64 * n as f64;
        }
    }

    fn metrics(&self) -> SplitMetrics {
        let n = self.n.max(1) as f64;
        SplitMetrics {
            loss: self.loss / n,
            accuracy: self.correct.map(|c| c as f64 / n),
            reconstruction: self.reconstruction.map(|r| r / n),
            kl: self.kl.map(|k| k / n),
            ..SplitMetrics::default()
        }
    }
}

fn evaluate(
    model: &Network,
    task: Task,
    batcher: &Batcher,
    idx: &[usize],
    batch: usize,
    device: &Device,
) -> SplitMetrics {
    let mut acc = Accumulator::default();
    for chunk in idx.chunks(batch) {
        let (x, y, lens) = batcher.batch(chunk, device);
        let out = model.forward_padded(x.clone(), lens.as_deref(), false);
        let parts = loss(task, out, x, y, device);
        let v = parts.total.clone().into_scalar::<f32>() as f64;
        acc.add(&parts, chunk.len(), v);
    }
    acc.metrics()
}

const LATENT_SAMPLES: usize = 2000;

fn latent_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    batch: usize,
    device: &Device,
    epoch: usize,
) -> Option<LatentSnapshot> {
    let idx = &idx[..idx.len().min(LATENT_SAMPLES)];
    let mut values = Vec::new();
    let mut dims = 0;
    for chunk in idx.chunks(batch.max(256)) {
        let (x, _, lens) = batcher.batch(chunk, device);
        let latent = model.forward_padded(x, lens.as_deref(), false).latent?;
        dims = latent.dims()[1];
        values.extend(latent.into_data().try_to_vec::<f32>().ok()?);
    }
    let labels = match &data.labels {
        Labels::Classes { index, .. } => Some(idx.iter().map(|&i| index[i]).collect()),
        _ => None,
    };
    let knn_agreement = labels
        .as_ref()
        .and_then(|l: &Vec<usize>| crate::analysis::knn_agreement(&values, dims, l, 5));
    Some(LatentSnapshot {
        knn_agreement,
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        labels,
        dims,
        values,
    })
}

/// `counts[true][predicted]` over the samples `idx`.
fn confusion_matrix(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    truth: &[usize],
    classes: usize,
    batch: usize,
    device: &Device,
) -> Vec<Vec<usize>> {
    let mut counts = vec![vec![0; classes]; classes];
    for chunk in idx.chunks(batch.max(1)) {
        let (x, _, lens) = batcher.batch(chunk, device);
        let out = model.forward_padded(x, lens.as_deref(), false).output;
        let predicted: Vec<i64> = out
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        for (&i, &p) in chunk.iter().zip(&predicted) {
            if let Some(c) = counts
                .get_mut(truth[i])
                .and_then(|row| row.get_mut(p as usize))
            {
                *c += 1;
            }
        }
    }
    counts
}

const ATTENTION_SAMPLES: usize = 16;

fn attention_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    device: &Device,
    epoch: usize,
) -> Option<AttentionSnapshot> {
    let idx = &idx[..idx.len().min(ATTENTION_SAMPLES)];
    let (x, _, lens) = batcher.batch(idx, device);
    let maps = model.forward_padded(x, lens.as_deref(), false).attention;
    if maps.is_empty() {
        return None;
    }
    let mut layers = Vec::with_capacity(maps.len());
    let mut valid_positions = vec![Vec::new(); idx.len()];
    for w in maps {
        let [_, heads, positions, _] = w.dims();
        // Padding is left out: each map keeps the positions of the sequence itself.
        for (k, &i) in idx.iter().enumerate() {
            let full = data.shape.get(1).copied().unwrap_or(positions).max(1);
            let len = data.lengths.as_ref().map_or(full, |l| l[i]);
            valid_positions[k].push((len * positions).div_ceil(full).clamp(1, positions));
        }
        layers.push(AttentionLayer {
            heads,
            positions,
            weights: w.into_data().try_to_vec::<f32>().ok()?,
        });
    }
    let labels = match &data.labels {
        Labels::Classes { index, names } => idx.iter().map(|&i| names[index[i]].clone()).collect(),
        Labels::Values(v) => idx.iter().map(|&i| v[i].to_string()).collect(),
        Labels::None => vec![String::new(); idx.len()],
    };
    Some(AttentionSnapshot {
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        sequences: idx.iter().map(|&i| data.sequence_letters(i)).collect(),
        valid_positions,
        labels,
        layers,
    })
}

const RECONSTRUCTION_SAMPLES: usize = 8;

fn reconstruction_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    device: &Device,
    epoch: usize,
) -> Option<ReconstructionSnapshot> {
    let idx = &idx[..idx.len().min(RECONSTRUCTION_SAMPLES)];
    let (x, _, lens) = batcher.batch(idx, device);
    let inputs = x.clone().into_data().try_to_vec::<f32>().ok()?;
    let outputs = model
        .forward_padded(x, lens.as_deref(), false)
        .output
        .into_data()
        .try_to_vec::<f32>()
        .ok()?;
    (outputs.len() == inputs.len()).then(|| ReconstructionSnapshot {
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        shape: data.shape.clone(),
        inputs,
        outputs,
    })
}

/// Run a trained network on a data set (raw values; the model's saved
/// preprocessing is applied here). Probabilities for classifiers.
pub fn infer(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<Inference, String> {
    if data.shape != model.input_shape {
        return Err(format!(
            "the model expects samples of shape {:?}, but {} gives {:?}",
            model.input_shape,
            data.source.display(),
            data.shape
        ));
    }
    let values = encoded(data, &model.preprocessing);
    let batcher = Batcher::new(
        &values,
        data,
        &model.preprocessing,
        &Labels::None,
        &model.network,
    )
    .lengths_rounded_to(length_step(device));
    let task = model.experiment.task;
    let reconstructs = matches!(task, Task::Autoencoder | Task::Vae);
    let idx: Vec<usize> = (0..data.len()).collect();
    let network = model.network.clone().to_device(device);
    let to_vec = |t: Tensor<2>| {
        t.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))
    };
    let mut out = Inference {
        outputs: Vec::new(),
        output_dim: 0,
        latent: None,
        latent_dim: 0,
        reconstruction_error: reconstructs.then(Vec::new),
    };
    for chunk in idx.chunks(256) {
        let (x, _, lens) = batcher.batch(chunk, device);
        let f = network.forward_padded(x.clone(), lens.as_deref(), false);
        let y = if task == Task::Classification {
            burn::tensor::activation::softmax(f.output, 1)
        } else {
            f.output
        };
        if let Some(errors) = &mut out.reconstruction_error {
            let err = (y.clone() - x).powi_scalar(2).mean_dim(1);
            errors.extend(to_vec(err)?);
        }
        out.output_dim = y.dims()[1];
        out.outputs.extend(to_vec(y)?);
        if let Some(z) = f.latent {
            out.latent_dim = z.dims()[1];
            out.latent.get_or_insert_with(Vec::new).extend(to_vec(z)?);
        }
    }
    Ok(out)
}

/// Run a trained network on samples; returns `[n, outputs]` row-major
/// (class probabilities for classifiers).
pub fn predict(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<Vec<f32>, String> {
    infer(model, data, device).map(|i| i.outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::templates::Template;

    /// Three DNA sequences of 5, 20 and 40 letters, padded to 40.
    fn sequences() -> Dataset {
        let lengths = vec![5, 20, 40];
        let values = lengths
            .iter()
            .flat_map(|&n| (0..4 * 40).map(move |i| f32::from(i % 40 < n && i / 40 == i % 4)))
            .collect();
        Dataset {
            kind: crate::data::DataKind::Sequences,
            source: "test.fasta".into(),
            ids: vec!["a".into(), "b".into(), "c".into()],
            shape: vec![4, 40],
            values,
            feature_names: ["A", "C", "G", "T"].map(String::from).to_vec(),
            labels: Labels::None,
            max_value: 1.0,
            notes: Vec::new(),
            text_columns: Vec::new(),
            lengths: Some(lengths),
            sparse: None,
            joined: Vec::new(),
        }
    }

    #[test]
    fn batches_of_sequences_are_cut_to_their_longest_member_or_a_multiple_of_the_step() {
        let data = sequences();
        let exp = Template::LstmClassifier.experiment();
        let device = Device::flex();
        let (network, _) =
            crate::model::build(&exp, &data.shape, &Target::Classes(2), &device).unwrap();
        assert!(network.variable_length);
        let prep = Preprocessing::default();
        let batch = |step: usize, idx: &[usize]| {
            Batcher::new(&data.values, &data, &prep, &data.labels, &network)
                .lengths_rounded_to(step)
                .batch(idx, &device)
        };
        let cut = |step: usize, idx: &[usize]| {
            let (x, _, lens) = batch(step, idx);
            (x.dims()[1] / 4, lens.unwrap())
        };
        assert_eq!(cut(1, &[0, 1]), (20, vec![5, 20]));
        assert_eq!(cut(32, &[0, 1]), (32, vec![5, 20]));
        assert_eq!(cut(16, &[0]), (16, vec![5]));
        // Never past the padded length of the data.
        assert_eq!(cut(32, &[1, 2]), (40, vec![20, 40]));
        // The kept positions are the sequences' own, whatever the cut.
        let (x, _, _) = batch(32, &[1]);
        let x: Vec<f32> = x.into_data().try_to_vec().unwrap();
        for c in 0..4 {
            assert_eq!(
                x[c * 32..c * 32 + 32],
                data.values[160 + c * 40..160 + c * 40 + 32]
            );
        }
    }
}
