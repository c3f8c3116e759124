//! Saving a trained model as a folder and loading it back.
//!
//! The folder holds `experiment.json` (the spec it was built from), `weights.safetensors`
//! and `model.json` (input shape, classes, fitted preprocessing, versions). It is
//! written to a temporary folder first and renamed into place, so a failed save
//! never leaves a half-written model where a good one was.
//!
//! Beside it: `run` writes and reads a run folder, `sweep` a folder of runs
//! compared in a table, `plots` draws PNG files, `onnx` writes ONNX, `explain`
//! writes explanations (attributions, mutagenesis maps, motifs and their
//! logos, drawn by `logo`, whose letter shapes the window draws too; one
//! sequence's track and map, ranked features, image overlays).

pub mod explain;
mod logo;
pub mod onnx;
pub mod plots;
pub mod run;
pub mod sweep;

pub use logo::{heights as logo_heights, letter_rgb, letter_shape, logo_png};

use std::path::{Path, PathBuf};

use burn::store::{KeyRemapper, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::Preprocessing;

use crate::spec::shapes::Target;
use crate::spec::{Experiment, SpecError, Task, write_atomic};
use crate::train::{Inference, Summary, TrainedModel};

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
    /// Input feature names (table columns, sequence letters, image channels).
    #[serde(default)]
    pub feature_names: Vec<String>,
    pub preprocessing: Preprocessing,
    #[serde(default)]
    pub summary: Option<Summary>,
    /// The widths of the joined tables at the end of `input_shape`, in the
    /// order of the experiment's `data.joined`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<usize>,
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
    /// The window's export job was cancelled before the folder was swapped in.
    #[error("the export to {} was cancelled; nothing was written", path.display())]
    Cancelled { path: PathBuf },
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
            feature_names: model.feature_names.clone(),
            preprocessing: model.preprocessing.clone(),
            summary: summary.cloned(),
            joined: model.network.joined().to_vec(),
        };
        let json = serde_json::to_string_pretty(&meta).expect("model metadata serialises");
        write_atomic(&tmp.join("model.json"), json.as_bytes()).map_err(write_err)?;
        write_atomic(&tmp.join("README.txt"), bundle_readme(model).as_bytes())
            .map_err(write_err)?;
        // ONNX where the layers allow it; README.txt says why not otherwise.
        if let Ok(bytes) = onnx::to_onnx(model) {
            write_atomic(&tmp.join("model.onnx"), &bytes).map_err(write_err)?;
        }
        if !model.class_names.is_empty() {
            // The label map on its own: output index -> class name.
            let map: serde_json::Map<String, serde_json::Value> = model
                .class_names
                .iter()
                .enumerate()
                .map(|(i, c)| (i.to_string(), serde_json::Value::String(c.clone())))
                .collect();
            let json = serde_json::to_string_pretty(&map).expect("a map of strings serialises");
            write_atomic(&tmp.join("labels.json"), json.as_bytes()).map_err(write_err)?;
        }
        let mut store = SafetensorsStore::from_file(tmp.join("weights.safetensors"))
            .remap(readable_names(model.experiment.task));
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
    if crate::data::progress::cancelled() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ExportError::Cancelled {
            path: dir.to_path_buf(),
        });
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

/// `README.txt` of a model folder: what each file holds, the layers with their
/// shapes, and how to read the weights without Lamina.
fn bundle_readme(model: &TrainedModel) -> String {
    use std::fmt::Write;
    let exp = &model.experiment;
    let mut t = String::new();
    let _ = writeln!(t, "Lamina model: {}", exp.name);
    let _ = writeln!(
        t,
        "Task: {:?}. Input: one sample of shape {:?}.",
        exp.task, model.input_shape
    );
    if !model.class_names.is_empty() {
        let _ = writeln!(
            t,
            "Classes (output order): {}",
            model.class_names.join(", ")
        );
    }
    t.push_str(
        "\nFiles\n\
         - experiment.json: the experiment this model was trained from (data, layers, task, settings).\n\
         - labels.json (classifiers): output index -> class name.\n\
         - model.onnx (when every layer can be expressed in ONNX): the same network, taking the\n\
         \x20 preprocessed input [batch, values] and giving probabilities, values or the reconstruction.\n\
         - model.json: input shape, class names (label map), input feature names, the fitted\n\
         \x20 preprocessing (log1p, per-feature mean and standard deviation from the training split),\n\
         \x20 the training summary and the versions of Lamina and burn.\n\
         - weights.safetensors: the weights, float32, named <stack>.<layer>.<parameter>, e.g. network.0.weight\n\
         \x20 (stack and layer numbers as listed below).\n\
         \x20 Dense weights are stored [inputs, outputs]: transpose them for torch.nn.Linear.\n\
         \x20 Convolution weights are [out_channels, in_channels, kernel...] as in PyTorch.\n\
         \nLayers\n",
    );
    match onnx::to_onnx(model) {
        Ok(_) => t.push_str("This folder has model.onnx.\n"),
        Err(e) => {
            let _ = writeln!(t, "No model.onnx: {e}.");
        }
    }
    let target = model.target.clone();
    let joined = exp.data.joined_named(model.network.joined());
    let report = crate::spec::shapes::infer_shapes_joined(
        &exp.architecture,
        exp.task,
        &model.input_shape,
        &joined,
        &target,
    );
    for (s, stack) in report.stacks.iter().enumerate() {
        let _ = writeln!(t, "stack {s} '{}' (input {:?})", stack.name, stack.input);
        for (name, shape) in &stack.joined {
            let _ = writeln!(
                t,
                "  joined input '{name}' {shape:?}: its values follow the stack's input in each input sample (joined inputs in this order)"
            );
        }
        let Some(spec) = exp.architecture.stack(&stack.name) else {
            continue;
        };
        let names: Vec<String> = stack.joined.iter().map(|(n, _)| n.clone()).collect();
        let wiring = crate::spec::graph::wire(spec, &names).ok();
        for (l, (layer, node)) in stack.layers.iter().zip(&spec.layers).enumerate() {
            let kind = node.layer.info().display;
            let _ = write!(
                t,
                "  layer {l}: {kind:<22} output {:?}, {} parameters",
                layer.output.clone().unwrap_or_default(),
                layer.params
            );
            // Graphs: which outputs each layer takes (a chain's layer takes the one above).
            if let Some(w) = wiring.as_ref().filter(|w| !w.is_chain()) {
                let taken: Vec<String> = w.sources[l]
                    .iter()
                    .map(|src| match src {
                        crate::spec::graph::Source::Input => "the stack's input".to_string(),
                        crate::spec::graph::Source::Joined(k) => {
                            format!("the joined input '{}'", names[*k])
                        }
                        crate::spec::graph::Source::Node(j) => format!("layer {j}"),
                    })
                    .collect();
                let _ = write!(t, "; takes {}", taken.join(" and "));
            }
            t.push('\n');
        }
    }
    t.push_str(
        "\nIn Python (pip install safetensors numpy):\n\
         \x20 import json, numpy as np\n\
         \x20 from safetensors.numpy import load_file\n\
         \x20 w = load_file(\"weights.safetensors\")\n\
         \x20 meta = json.load(open(\"model.json\"))\n\
         \x20 for name, a in w.items(): print(name, a.shape)\n\
         \nWith Lamina: lamina predict THIS_FOLDER NEW_DATA --out predictions.csv\n",
    );
    t
}

/// Weight names as saved: `<stack>.<layer>.<parameter>`, e.g. `network.0.weight`
/// or `encoder.2.mean.weight`, instead of burn's `stacks.0.layers.0.Dense.weight`.
fn readable_names(task: Task) -> KeyRemapper {
    let mut r = KeyRemapper::new();
    for (i, name) in task.stack_names().iter().enumerate() {
        r = r
            .add_pattern(
                format!(r"^stacks\.{i}\.layers\.(\d+)\.[A-Za-z0-9]+\.(.*)$"),
                format!("{name}.$1.$2"),
            )
            .expect("a fixed, valid pattern");
    }
    r
}

/// The way back from [`readable_names`] to the network's module paths.
fn internal_names(exp: &Experiment, network: &crate::model::Network) -> KeyRemapper {
    let mut r = KeyRemapper::new();
    for (i, (name, stack)) in exp
        .task
        .stack_names()
        .iter()
        .zip(&network.stacks)
        .enumerate()
    {
        for (j, layer) in stack.layers.iter().enumerate() {
            r = r
                .add_pattern(
                    format!(r"^{name}\.{j}\.(.*)$"),
                    format!("stacks.{i}.layers.{j}.{}.$1", layer.variant_name()),
                )
                .expect("stack names are plain words");
        }
    }
    r
}

/// The weights of a model folder, to start a new run from ([`copy_matching_weights`]).
pub fn initial_weights(dir: &Path) -> Result<crate::train::InitialWeights, ExportError> {
    let path = dir.join("weights.safetensors");
    let safetensors = std::fs::read(&path).map_err(|e| ExportError::Read {
        path: dir.to_path_buf(),
        message: format!("weights.safetensors: {e}"),
    })?;
    Ok(crate::train::InitialWeights {
        source: dir.display().to_string(),
        safetensors,
    })
}

/// `network` (built for `exp`) with every weight of `init` whose layer place,
/// name and shape match copied in; the rest keep their fresh values. Returns
/// the network and a sentence saying what was copied and what not.
pub fn copy_matching_weights(
    exp: &Experiment,
    network: &crate::model::Network,
    init: &crate::train::InitialWeights,
) -> Result<(crate::model::Network, String), String> {
    let mut store = SafetensorsStore::from_bytes(Some(init.safetensors.clone()))
        .remap(internal_names(exp, network))
        .allow_partial(true)
        .validate(false);
    let mut loaded = network.clone();
    let result = loaded.load_from(&mut store).map_err(|e| e.to_string())?;
    if result.applied.is_empty() {
        return Err(
            "no layer of this network matches a layer of that model (same place, kind and shape)"
                .into(),
        );
    }
    let readable = |p: &str| {
        // stacks.0.layers.3.Dense.weight → layer 4's weight
        let parts: Vec<&str> = p.split('.').collect();
        match parts.as_slice() {
            ["stacks", _, "layers", j, _, rest @ ..] => match j.parse::<usize>() {
                Ok(j) => format!("layer {} {}", j + 1, rest.join(".")),
                Err(_) => p.to_string(),
            },
            _ => p.to_string(),
        }
    };
    let mut not_copied: Vec<String> = result.missing.iter().map(|(p, _)| readable(p)).collect();
    not_copied.extend(result.errors.iter().map(|e| e.to_string()));
    let total = result.applied.len() + result.missing.len() + result.errors.len();
    let mut note = format!(
        "started from {}: {} of {} weight tensors copied",
        init.source,
        result.applied.len(),
        total
    );
    if !not_copied.is_empty() {
        note.push_str(&format!(
            "; new (not in that model or another shape): {}",
            not_copied.join(", ")
        ));
    }
    Ok((loaded, note))
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
    let (mut network, _) = crate::model::build_joined(
        &experiment,
        &meta.input_shape,
        &meta.joined,
        &meta.target,
        device,
    )
    .map_err(|e| {
        read_err(format!(
            "its architecture does not fit its own input shape: {e}"
        ))
    })?;
    let weights = dir.join("weights.safetensors");
    if !weights.exists() {
        return Err(read_err("weights.safetensors is missing".into()));
    }
    // Readable names (`network.0.weight`); bundles written before they were
    // introduced keep burn's own paths and load as they are.
    let mut applied = None;
    for remapper in [internal_names(&experiment, &network), KeyRemapper::new()] {
        // Not validated by the store: what does not fit is said below, in words.
        let mut store = SafetensorsStore::from_file(&weights)
            .remap(remapper)
            .validate(false)
            .allow_partial(true);
        let mut attempt = network.clone();
        let result = attempt
            .load_from(&mut store)
            .map_err(|e| read_err(format!("weights.safetensors: {e}")))?;
        let complete = result.missing.is_empty() && result.errors.is_empty();
        // The naming that matched more is the one to explain.
        if applied
            .as_ref()
            .is_none_or(|a: &burn::store::ApplyResult| result.missing.len() < a.missing.len())
        {
            applied = Some(result);
        }
        if complete {
            network = attempt;
            break;
        }
    }
    if let Some(applied) = applied
        && (!applied.missing.is_empty() || !applied.errors.is_empty())
    {
        use burn::store::ApplyError;
        let first = applied.errors.first().map(|e| match e {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => format!(
                "'{path}' is stored as {:?} but the network needs {:?}",
                found.as_slice(),
                expected.as_slice()
            ),
            other => other.to_string(),
        });
        let first = first.unwrap_or_else(|| {
            let missing: Vec<&str> = applied
                .missing
                .iter()
                .take(3)
                .map(|m| m.0.as_str())
                .collect();
            format!("it has no weights for {}", missing.join(", "))
        });
        return Err(read_err(format!(
            "weights.safetensors does not fit the network that model.json and experiment.json describe (input shape {:?}): {first}{}. Were model.json or experiment.json edited? Put back the files that were saved with the weights, or export the model again",
            meta.input_shape,
            match applied.errors.len() + applied.missing.len() {
                0 | 1 => String::new(),
                n => format!(", and {} more", n - 1),
            }
        )));
    }
    Ok(TrainedModel {
        experiment,
        network,
        preprocessing: meta.preprocessing,
        class_names: meta.class_names,
        feature_names: meta.feature_names,
        input_shape: meta.input_shape,
        target: meta.target,
    })
}

/// The header and rows of a predictions table: per sample its id, then the
/// predicted class and one probability per class (classifiers), the predicted
/// values (regression), or the reconstruction error and latent coordinates
/// (autoencoders, VAEs).
pub fn predictions_table(
    model: &TrainedModel,
    ids: &[String],
    inf: &Inference,
) -> (Vec<String>, Vec<Vec<String>>) {
    let n = ids.len();
    let row = |v: &[f32], i: usize, d: usize| -> Vec<String> {
        v[i * d..(i + 1) * d]
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    let mut header = vec!["sample_id".to_string()];
    let mut rows: Vec<Vec<String>> = ids.iter().map(|id| vec![id.clone()]).collect();
    match model.experiment.task {
        Task::Classification => {
            header.push("predicted".into());
            header.extend(model.class_names.iter().map(|c| format!("p_{c}")));
            for (i, r) in rows.iter_mut().enumerate().take(n) {
                let p = &inf.outputs[i * inf.output_dim..(i + 1) * inf.output_dim];
                let best = p
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(k, _)| k);
                r.push(
                    model
                        .class_names
                        .get(best)
                        .cloned()
                        .unwrap_or_else(|| best.to_string()),
                );
                r.extend(row(&inf.outputs, i, inf.output_dim));
            }
        }
        Task::Regression => {
            if inf.output_dim == 1 {
                header.push("predicted".into());
            } else {
                header.extend((1..=inf.output_dim).map(|k| format!("predicted_{k}")));
            }
            for (i, r) in rows.iter_mut().enumerate() {
                r.extend(row(&inf.outputs, i, inf.output_dim));
            }
        }
        Task::Dqn => {
            // Observations in, the value of each action out.
            header.push("best_action".into());
            header.extend(model.class_names.iter().map(|a| format!("q_{a}")));
            for (i, r) in rows.iter_mut().enumerate() {
                let q = &inf.outputs[i * inf.output_dim..(i + 1) * inf.output_dim];
                let best = q
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(k, _)| k);
                r.push(model.class_names.get(best).cloned().unwrap_or_default());
                r.extend(row(&inf.outputs, i, inf.output_dim));
            }
        }
        Task::Gan => {
            // The discriminator's view: how real each sample looks to it.
            header.push("realness_score".into());
            for (i, r) in rows.iter_mut().enumerate() {
                r.extend(row(&inf.outputs, i, inf.output_dim));
            }
        }
        Task::Autoencoder | Task::Vae => {
            header.push("reconstruction_error".into());
            header.extend((1..=inf.latent_dim).map(|k| format!("z{k}")));
            for (i, r) in rows.iter_mut().enumerate() {
                let e = inf
                    .reconstruction_error
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .copied()
                    .unwrap_or(f32::NAN);
                r.push(e.to_string());
                if let Some(z) = &inf.latent {
                    r.extend(row(z, i, inf.latent_dim));
                }
            }
        }
    }
    (header, rows)
}

/// Latent coordinates per sample: `sample_id, z1, …`.
pub fn embeddings_table(
    ids: &[String],
    inf: &Inference,
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let z = inf.latent.as_ref()?;
    let d = inf.latent_dim;
    let mut header = vec!["sample_id".to_string()];
    header.extend((1..=d).map(|k| format!("z{k}")));
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r = vec![id.clone()];
            r.extend(z[i * d..(i + 1) * d].iter().map(|x| x.to_string()));
            r
        })
        .collect();
    Some((header, rows))
}

/// Write a table as CSV, atomically.
/// The latent coordinates of the validation samples: `.npy` (the raw latent
/// values) or CSV (sample id, the 2-D projection, then the raw values) by the
/// file's name.
pub fn write_latent(
    path: &Path,
    snap: &crate::train::LatentSnapshot,
    points: &[[f64; 2]],
) -> Result<(), ExportError> {
    if is_npy(path) {
        return write_npy(path, &snap.values, snap.ids.len(), snap.dims);
    }
    let mut header = vec!["sample_id".to_string(), "pc1".into(), "pc2".into()];
    header.extend((1..=snap.dims).map(|d| format!("z{d}")));
    let rows: Vec<Vec<String>> = snap
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut row = vec![
                id.clone(),
                points[i][0].to_string(),
                points[i][1].to_string(),
            ];
            row.extend(
                snap.values[i * snap.dims..(i + 1) * snap.dims]
                    .iter()
                    .map(|v| v.to_string()),
            );
            row
        })
        .collect();
    write_csv(path, &header, &rows)
}

pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<(), ExportError> {
    let err = |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut put = |r: &[String]| w.write_record(r).map_err(|e| err(std::io::Error::other(e)));
    put(header)?;
    for r in rows {
        put(r)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| err(std::io::Error::other(e.to_string())))?;
    write_atomic(path, &bytes).map_err(err)
}

/// A colour for a signed value in -1..=1: blue below 0, white at 0, red
/// above (ColorBrewer's RdBu ends), for effects that can go either way.
pub fn diverging_color(v: f32) -> [u8; 3] {
    const LOW: [f32; 3] = [33.0, 102.0, 172.0];
    const MID: [f32; 3] = [247.0, 247.0, 247.0];
    const HIGH: [f32; 3] = [178.0, 24.0, 43.0];
    let v = if v.is_nan() { 0.0 } else { v.clamp(-1.0, 1.0) };
    let (end, t) = if v < 0.0 { (LOW, -v) } else { (HIGH, v) };
    let mix = |k: usize| (MID[k] + (end[k] - MID[k]) * t) as u8;
    [mix(0), mix(1), mix(2)]
}

/// A colour for a weight in 0..=1 (dark blue, through teal and green, to yellow).
pub fn heat_color(v: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let x = v.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let t = x - i as f32;
    let mix = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * t) as u8;
    [mix(0), mix(1), mix(2)]
}

/// A `positions × positions` attention map as CSV: a header row and first
/// column of `position:letter` labels, weights in between.
pub fn write_attention_csv(path: &Path, map: &[f32], labels: &[String]) -> Result<(), ExportError> {
    let mut header = vec!["query\\key".to_string()];
    header.extend(labels.iter().cloned());
    let rows: Vec<Vec<String>> = labels
        .iter()
        .enumerate()
        .map(|(q, l)| {
            let mut r = vec![l.clone()];
            r.extend(
                map[q * labels.len()..(q + 1) * labels.len()]
                    .iter()
                    .map(|v| v.to_string()),
            );
            r
        })
        .collect();
    write_csv(path, &header, &rows)
}

/// A `positions × positions` attention map as a PNG heatmap (queries down,
/// keys across), each weight scaled by the largest in the map.
pub fn write_attention_png(path: &Path, map: &[f32], positions: usize) -> Result<(), ExportError> {
    let err = |e: String| ExportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let cell = (800 / positions.max(1)).clamp(1, 32) as u32;
    let size = cell * positions as u32;
    let max = map.iter().fold(1e-12f32, |m, &v| m.max(v));
    let img = image::RgbImage::from_fn(size, size, |x, y| {
        let (q, k) = ((y / cell) as usize, (x / cell) as usize);
        image::Rgb(heat_color(map[q * positions + k] / max))
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| err(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}

/// Write an `rows × cols` float32 matrix as a NumPy `.npy` file, atomically.
pub fn write_npy(path: &Path, values: &[f32], rows: usize, cols: usize) -> Result<(), ExportError> {
    let err = |e: std::io::Error| ExportError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    use npyz::WriterBuilder;
    let mut bytes = Vec::new();
    {
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[rows as u64, cols as u64])
            .writer(&mut bytes)
            .begin_nd()
            .map_err(err)?;
        w.extend(values.iter().copied()).map_err(err)?;
        w.finish().map_err(err)?;
    }
    write_atomic(path, &bytes).map_err(err)
}

/// Whether `path` asks for NumPy output.
pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Write `n` samples from a trained GAN's generator as CSV, in the data's own
/// units (the saved preprocessing undone): `sample_id, <feature names>…`.
/// For image data the samples are also written as PNG files into a folder
/// beside the CSV (`NAME_images/generated_001.png`, …).
pub fn write_generated(path: &Path, model: &TrainedModel, n: usize) -> Result<(), ExportError> {
    let device = burn::tensor::Device::flex();
    let noise = model.experiment.architecture.noise_size;
    let mut values = crate::train::generate(&model.network, n, noise, &device);
    let d: usize = model.input_shape.iter().product();
    values
        .chunks_mut(d.max(1))
        .for_each(|row| model.preprocessing.invert(row));
    if let [channels @ (1 | 3), h, w] = model.input_shape[..] {
        let stem = path
            .file_stem()
            .map_or("generated".into(), |s| s.to_string_lossy().into_owned());
        let dir = path.with_file_name(format!("{stem}_images"));
        std::fs::create_dir_all(&dir).map_err(|source| ExportError::Write {
            path: dir.clone(),
            source,
        })?;
        // Pixel values back to 8 bits (the data's maximum, e.g. 255 or 65535, maps to 255).
        let max = if model.preprocessing.divide_by > 1.0 {
            model.preprocessing.divide_by
        } else {
            255.0
        };
        for (i, sample) in values.chunks(d).enumerate() {
            let plane = h * w;
            let byte = |v: f32| (v / max * 255.0).round().clamp(0.0, 255.0) as u8;
            let file = dir.join(format!("generated_{:03}.png", i + 1));
            let saved = if channels == 1 {
                image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
                    image::Luma([byte(sample[y as usize * w + x as usize])])
                })
                .save(&file)
            } else {
                image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
                    let at = y as usize * w + x as usize;
                    image::Rgb([0, 1, 2].map(|c| byte(sample[c * plane + at])))
                })
                .save(&file)
            };
            saved.map_err(|e| ExportError::Write {
                path: file.clone(),
                source: std::io::Error::other(e),
            })?;
        }
    }
    let mut header = vec!["sample_id".to_string()];
    if model.feature_names.len() == d {
        header.extend(model.feature_names.iter().cloned());
    } else {
        header.extend((1..=d).map(|k| format!("value_{k}")));
    }
    let rows: Vec<Vec<String>> = values
        .chunks(d.max(1))
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![format!("generated_{}", i + 1)];
            row.extend(r.iter().map(|v| v.to_string()));
            row
        })
        .collect();
    write_csv(path, &header, &rows)
}
