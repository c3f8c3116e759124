//! Running a trained model on data: outputs, latent coordinates and attention
//! for every sample, in batches, without gradients.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::*;
use crate::data::{Dataset, Labels};
use crate::spec::Task;

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
