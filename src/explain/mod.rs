//! What a trained model learned, for a researcher to check and publish:
//! attributions of each input value to one output score (gradient × input and
//! integrated gradients, `gradients`), in-silico mutagenesis of sequences
//! (`mutagenesis`), and the motifs of a sequence network's first convolution
//! as position weight matrices and MEME text (`motifs`), and per-class
//! feature importance for tables (`importance`: mean |gradient × input| and
//! permutation importance), and Grad-CAM maps over images (`gradcam`);
//! `explanation` runs every way that suits a data set at once, as the CLI
//! and the window ask.
//!
//! Everything runs in the engine on any device, in batches, on the network as
//! it predicts (no dropout, batch norm from its running statistics), through
//! `Network::forward_padded`, so chains and graph networks are explained alike.
//! The scores explained are the model's raw outputs: a classifier's logits
//! (before the softmax), a regression's values. This module reads no files and
//! draws nothing: the CLI and `export` write what it returns, `ui` shows it.

mod explanation;
mod gradcam;
mod gradients;
mod importance;
mod motifs;
mod mutagenesis;

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::Dataset;
use crate::spec::Task;
use crate::train::TrainedModel;

pub use explanation::{Explanation, Request, explain};
pub use gradcam::{GradCam, grad_cam};
pub use gradients::{Attributions, Baseline, Method, attribute};
pub use importance::{Against, Importance, PERMUTED_AT_MOST, feature_importance};
pub use motifs::{Motif, first_layer_motifs, meme};
pub use mutagenesis::{Mutagenesis, mutagenesis};

/// Why a model or data set cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "explanations are made for classifiers and regressions; this model is {0}, which has no score per class to explain"
    )]
    NotSupervised(&'static str),
    #[error("the model expects samples of shape {expected:?}, but {data} gives {found:?}")]
    Shape {
        expected: Vec<usize>,
        found: Vec<usize>,
        data: String,
    },
    #[error("the model has no class '{name}'; its classes are {known}")]
    UnknownClass { name: String, known: String },
    #[error("{0}")]
    NotApplicable(String),
    #[error("the model has no output {index}; it has {outputs}")]
    UnknownOutput { index: usize, outputs: usize },
    #[error("the device failed while explaining: {0}")]
    Device(String),
}

/// The tapped feature maps, their gradients (both flat) and their shape.
type Tapped = (Vec<f32>, Vec<f32>, [usize; 4]);

/// Which output each sample's attributions are for.
#[derive(Debug, Clone, PartialEq)]
pub enum Explained {
    /// Each sample's predicted class (a regression's first value).
    Predicted,
    /// This output for every sample: a class index, or a regression's value.
    Output(usize),
}

impl Explained {
    /// The output a class name (or, for a regression, a 0-based index) names.
    pub fn named(model: &TrainedModel, name: &str) -> Result<Explained, ExplainError> {
        if let Some(i) = model.class_names.iter().position(|c| c == name) {
            return Ok(Explained::Output(i));
        }
        if model.class_names.is_empty()
            && let Ok(i) = name.parse::<usize>()
        {
            return Ok(Explained::Output(i));
        }
        Err(ExplainError::UnknownClass {
            name: name.to_string(),
            known: if model.class_names.is_empty() {
                "none (a regression: give the 0-based index of a predicted value)".into()
            } else {
                model
                    .class_names
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }
}

/// The model's network as it predicts, ready to take gradients of its
/// outputs with respect to its input: on `device`'s autodiff twin, with every
/// parameter and training flag frozen (batch norm then uses its running
/// statistics; dropout is switched off around each pass by [`scores`]).
struct Scorer {
    network: crate::model::Network,
    device: Device,
    outputs: usize,
}

impl Scorer {
    fn new(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<Scorer, ExplainError> {
        match model.experiment.task {
            Task::Classification | Task::Regression => {}
            Task::Autoencoder => return Err(ExplainError::NotSupervised("an autoencoder")),
            Task::Vae => return Err(ExplainError::NotSupervised("a VAE")),
            Task::Gan => return Err(ExplainError::NotSupervised("a GAN")),
            Task::Dqn => return Err(ExplainError::NotSupervised("a Q-network")),
        }
        if data.shape != model.input_shape {
            return Err(ExplainError::Shape {
                expected: model.input_shape.clone(),
                found: data.shape.clone(),
                data: data.source.display().to_string(),
            });
        }
        use burn::module::Module;
        let device = device.clone().autodiff();
        let network = model.network.clone().to_device(&device).freeze();
        let outputs = match &model.target {
            crate::spec::shapes::Target::Classes(n) | crate::spec::shapes::Target::Values(n) => *n,
            crate::spec::shapes::Target::Reconstruct => 0,
        };
        Ok(Scorer {
            network,
            device,
            outputs,
        })
    }

    /// The raw outputs `[rows, outputs]` of `x` (`rows × sample_len` encoded
    /// values), and, with `grad`, the gradient of `Σ_rows weight · output[row,
    /// target[row]]` with respect to `x`.
    fn run(
        &self,
        x: Vec<f32>,
        rows: usize,
        lengths: Option<Vec<usize>>,
        targets: Option<&[usize]>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), ExplainError> {
        let width = x.len() / rows.max(1);
        crate::model::dropout::switched_off(|| {
            let mut x = Tensor::<2>::from_data(TensorData::new(x, [rows, width]), &self.device);
            if targets.is_some() {
                x = x.require_grad();
            }
            let out = self
                .network
                .forward_padded(x.clone(), lengths.as_deref(), false)
                .output;
            let values = host(out.clone())?;
            let Some(targets) = targets else {
                return Ok((values, None));
            };
            let grads = self.picked(out, targets).backward();
            let g = x
                .grad(&grads)
                .ok_or_else(|| ExplainError::Device("no gradient reached the input".into()))?;
            Ok((values, Some(host(g)?)))
        })
    }

    /// The last image layer's output for `x` (`[rows, k, h, w]`, flat) and the
    /// gradient of `Σ_rows output[row, target[row]]` with respect to it.
    fn run_tapped(
        &self,
        x: Vec<f32>,
        rows: usize,
        targets: &[usize],
    ) -> Result<Tapped, ExplainError> {
        let width = x.len() / rows.max(1);
        crate::model::dropout::switched_off(|| {
            let x = Tensor::<2>::from_data(TensorData::new(x, [rows, width]), &self.device);
            let (out, tapped) = self.network.forward_tapped(x);
            let features = tapped.ok_or_else(|| {
                ExplainError::NotApplicable(
                    "Grad-CAM needs a network with convolution layers on the image; this one has none".into(),
                )
            })?;
            let grads = self.picked(out, targets).backward();
            let g = features.grad(&grads).ok_or_else(|| {
                ExplainError::Device("no gradient reached the feature maps".into())
            })?;
            let dims = features.dims();
            Ok((host(features)?, host(g)?, dims))
        })
    }

    /// `Σ_rows out[row, targets[row]]`: the scores whose gradient is taken.
    fn picked(&self, out: Tensor<2>, targets: &[usize]) -> Tensor<1> {
        let [rows, outputs] = out.dims();
        let mut pick = vec![0.0f32; rows * outputs];
        for (r, &t) in targets.iter().enumerate() {
            pick[r * outputs + t] = 1.0;
        }
        let pick = Tensor::<2>::from_data(TensorData::new(pick, [rows, outputs]), &self.device);
        (out * pick).sum()
    }

    /// The output each of `rows` samples is explained for, from their outputs.
    fn targets(
        &self,
        explained: &Explained,
        outputs: &[f32],
        task: Task,
    ) -> Result<Vec<usize>, ExplainError> {
        let rows = outputs.len() / self.outputs.max(1);
        match explained {
            Explained::Output(i) if *i >= self.outputs => Err(ExplainError::UnknownOutput {
                index: *i,
                outputs: self.outputs,
            }),
            Explained::Output(i) => Ok(vec![*i; rows]),
            Explained::Predicted if task == Task::Regression => Ok(vec![0; rows]),
            Explained::Predicted => Ok(outputs
                .chunks(self.outputs.max(1))
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(0, |(i, _)| i)
                })
                .collect()),
        }
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ExplainError> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| ExplainError::Device(format!("{e:?}")))
}

/// Samples `idx` of `data` encoded as the model encodes them, one row each,
/// and their valid lengths (sequences).
fn rows(model: &TrainedModel, data: &Dataset, idx: &[usize]) -> (Vec<f32>, Option<Vec<usize>>) {
    let mut x = Vec::with_capacity(idx.len() * data.sample_len());
    for &i in idx {
        let mut row = data.sample(i).into_owned();
        model.preprocessing.apply(&mut row);
        x.extend(row);
    }
    let lengths = data
        .lengths
        .as_ref()
        .map(|l| idx.iter().map(|&i| l[i].max(1)).collect());
    (x, lengths)
}

#[cfg(test)]
mod tests;
