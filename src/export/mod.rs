//! Saving a trained model as a folder and loading it back.
//!
//! The folder holds `experiment.json` (the spec it was built from), `weights.safetensors`
//! and `model.json` (input shape, classes, fitted preprocessing, versions). It is
//! written to a temporary folder first and renamed into place, so a failed save
//! never leaves a half-written model where a good one was.

use std::path::{Path, PathBuf};

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::Preprocessing;
use crate::model::build;
use crate::spec::shapes::Target;
use crate::spec::{Experiment, SpecError, write_atomic};
use crate::train::{Summary, TrainedModel};

pub const MODEL_FORMAT_VERSION: u32 = 1;

/// `model.json`: what is needed to use the weights on new data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub lamina_version: String,
    pub burn_version: String,
    pub input_shape: Vec<usize>,
    pub target: Target,
    pub class_names: Vec<String>,
    pub preprocessing: Preprocessing,
    #[serde(default)]
    pub summary: Option<Summary>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the model to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the model in {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// Save a trained model into the folder `dir` (replacing a previous one whole).
pub fn save_model(
    dir: &Path,
    model: &TrainedModel,
    summary: Option<&Summary>,
) -> Result<(), ExportError> {
    let write_err = |source| ExportError::Write {
        path: dir.to_path_buf(),
        source,
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(write_err)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(write_err)?;

    let result = (|| {
        model.experiment.save(&tmp.join("experiment.json"))?;
        let meta = ModelMeta {
            format_version: MODEL_FORMAT_VERSION,
            lamina_version: env!("CARGO_PKG_VERSION").to_string(),
            burn_version: "0.22".to_string(),
            input_shape: model.input_shape.clone(),
            target: model.target.clone(),
            class_names: model.class_names.clone(),
            preprocessing: model.preprocessing.clone(),
            summary: summary.cloned(),
        };
        let json = serde_json::to_string_pretty(&meta).expect("model metadata serialises");
        write_atomic(&tmp.join("model.json"), json.as_bytes()).map_err(write_err)?;
        let mut store = SafetensorsStore::from_file(tmp.join("weights.safetensors"));
        model
            .network
            .save_into(&mut store)
            .map_err(|e| ExportError::Write {
                path: tmp.join("weights.safetensors"),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok::<(), ExportError>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Swap the new folder in; keep the old one until the new one is in place.
    let old = parent.join(format!(".{name}.{}.old", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(write_err)?;
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(write_err(e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Load a model folder written by [`save_model`] onto `device`.
pub fn load_model(dir: &Path, device: &Device) -> Result<TrainedModel, ExportError> {
    let read_err = |message: String| ExportError::Read {
        path: dir.to_path_buf(),
        message,
    };
    let experiment = Experiment::load(&dir.join("experiment.json"))?;
    let meta_text = std::fs::read_to_string(dir.join("model.json"))
        .map_err(|e| read_err(format!("model.json: {e}")))?;
    let meta: ModelMeta =
        serde_json::from_str(&meta_text).map_err(|e| read_err(format!("model.json: {e}")))?;
    if meta.format_version > MODEL_FORMAT_VERSION {
        return Err(read_err(format!(
            "it was saved by a newer Lamina (model format {}); update Lamina",
            meta.format_version
        )));
    }
    let (mut network, _) =
        build(&experiment, &meta.input_shape, &meta.target, device).map_err(|e| {
            read_err(format!(
                "its architecture does not fit its own input shape: {e}"
            ))
        })?;
    let weights = dir.join("weights.safetensors");
    if !weights.exists() {
        return Err(read_err("weights.safetensors is missing".into()));
    }
    let mut store = SafetensorsStore::from_file(weights);
    let applied = network
        .load_from(&mut store)
        .map_err(|e| read_err(format!("weights.safetensors: {e}")))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        return Err(read_err(format!(
            "weights.safetensors does not match the architecture (missing: {:?}, errors: {:?})",
            applied.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
            applied.errors
        )));
    }
    Ok(TrainedModel {
        experiment,
        network,
        preprocessing: meta.preprocessing,
        class_names: meta.class_names,
        input_shape: meta.input_shape,
        target: meta.target,
    })
}
