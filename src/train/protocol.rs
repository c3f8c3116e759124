//! What flows in and out of the engine: the commands a running job obeys, the
//! events it sends (progress, metrics, snapshots of the latent space, attention
//! and reconstructions), the job itself, and what a finished run leaves: the
//! trained model, its summary and history. No training happens here.

use serde::{Deserialize, Serialize};

use super::*;
use crate::data::{Dataset, Preprocessing};
use crate::model::Network;
use crate::spec::shapes::Target;
use crate::spec::{Experiment, Task};

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
    /// The learning rate of the epoch's last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Classifiers: the validation split's `confusion[true][predicted]` after this epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Vec<Vec<usize>>>,
}

/// Latent coordinates of (up to 2000) validation samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartInfo {
    pub device: String,
    pub is_gpu: bool,
    pub device_reason: String,
    /// The GPU driver, when on a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub train_samples: usize,
    pub valid_samples: usize,
    #[serde(default)]
    pub test_samples: usize,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    pub parameters: usize,
    /// What the reader noted about the data (conversions, padding, columns
    /// left out…), to be kept with the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_notes: Vec<String>,
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
    /// Something the user should know that does not stop the run (e.g. the
    /// run folder could not be written).
    Note(String),
    /// The state after a whole epoch, to continue from (supervised tasks).
    Checkpoint(Box<Checkpoint>),
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
    pub(super) fn of(
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

impl Summary {
    /// Which weights the model holds, in words.
    pub fn kept_weights(&self) -> String {
        match (self.kept_epoch, self.best_epoch) {
            (Some(k), Some(b)) if k == b && k < self.epochs_completed => {
                format!("the weights of epoch {k} (lowest validation loss)")
            }
            (Some(k), _) => format!("the weights of epoch {k}"),
            _ => "the final weights".into(),
        }
    }
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
    /// The epoch whose weights the model holds (the best one, or the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_epoch: Option<usize>,
    pub train_samples: usize,
    pub valid_samples: usize,
    #[serde(default)]
    pub test_samples: usize,
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
    /// The validation split scored in full with the kept weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<evaluation::Evaluation>,
    /// The test split, scored once at the end with the kept weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<evaluation::Evaluation>,
    /// Reinforcement learning: how the trained agent does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rl: Option<dqn::RlSummary>,
    /// What was noted about the data and the run (filled in by the run
    /// folder's writer from the start and the run's notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the run was made from and on (filled in by the run folder's writer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducibility: Option<crate::provenance::Reproducibility>,
}

pub struct Outcome {
    pub model: TrainedModel,
    pub summary: Summary,
    pub history: Vec<EpochMetrics>,
}

/// What a worker needs to train.
pub struct Job {
    pub experiment: Experiment,
    /// Shared with whoever holds it too (the window): the worker copies it on
    /// its own thread only if it is still shared then.
    pub dataset: std::sync::Arc<Dataset>,
    pub device: DevicePreference,
    /// Continue from this checkpoint instead of starting afresh.
    pub resume: Option<Box<Checkpoint>>,
    /// Start from the weights of a saved model (fine-tuning): those of the
    /// layers whose place, names and shapes match are copied.
    pub init_from: Option<InitialWeights>,
    /// The same, as a saved model folder to read on the worker's thread (the
    /// window, which reads no files in a frame).
    pub init_from_folder: Option<std::path::PathBuf>,
    /// CPU threads to compute with (none: one per core), for runs that share
    /// the machine (a sweep trained N at a time).
    pub threads: Option<usize>,
    /// Train at a lower priority than the window that started it, so that
    /// it stays smooth while every core trains.
    pub yield_to_window: bool,
}

/// A saved model's weights to start from (its `weights.safetensors`, read by `export`).
#[derive(Clone)]
pub struct InitialWeights {
    /// Where they came from, for the message.
    pub source: String,
    pub safetensors: Vec<u8>,
}

impl Job {
    pub fn new(
        experiment: Experiment,
        dataset: impl Into<std::sync::Arc<Dataset>>,
        device: DevicePreference,
    ) -> Job {
        Job {
            experiment,
            dataset: dataset.into(),
            device,
            resume: None,
            init_from: None,
            init_from_folder: None,
            threads: None,
            yield_to_window: false,
        }
    }
}
