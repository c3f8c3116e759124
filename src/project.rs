//! Steps shared by the window and the CLI: making a new experiment from a
//! template and a data file, and loading an experiment's data with its checks.

use std::path::{Component, Path, PathBuf};

use crate::data::{self, Dataset};
use crate::spec::shapes::{ShapeReport, Target, infer_shapes_joined};
use crate::spec::templates::Template;
use crate::spec::{DataFormat, Experiment, LabelSource};
use crate::train::TrainedModel;

/// Options for [`new_experiment`].
#[derive(Debug, Clone, Default)]
pub struct NewOptions {
    pub labels: Option<PathBuf>,
    pub label_column: Option<String>,
    /// `key=value` settings with dotted keys, e.g. `training.epochs=5`.
    pub settings: Vec<String>,
    /// The tables a template joins to the data by sample id (`DataSpec::joined`),
    /// in its order: e.g. the protein table of `two_input_classifier`.
    pub joined: Vec<PathBuf>,
}

/// Make a ready experiment from a template and a data path. The data is loaded
/// to size the network; the experiment's paths are relative to `exp_path`'s folder.
pub fn new_experiment(
    template: Template,
    data_path: &Path,
    exp_path: &Path,
    opts: &NewOptions,
) -> Result<(Experiment, Dataset, ShapeReport), String> {
    let mut exp = template.experiment();
    let exp_dir = parent_dir(exp_path);
    if exp.data.format == DataFormat::Environment {
        // Reinforcement learning: the environment is the data.
        apply_settings(&mut exp, &opts.settings)?;
        let (dataset, _, report) = prepare_with(&mut exp, &exp_dir, true)?;
        return Ok((exp, dataset, report));
    }
    if data_path.as_os_str().is_empty() {
        return Err(format!(
            "the {} template needs data: give --data FILE or FOLDER",
            template.name()
        ));
    }
    let format = data::detect_format(data_path).map_err(|e| e.to_string())?;
    if exp.data.format == DataFormat::Auto {
        // A template for any kind of data (the GAN): take the data's own kind,
        // with the encoding that suits it.
        exp.data.format = format;
        exp.data.encoding = match format {
            DataFormat::Table
            | DataFormat::Auto
            | DataFormat::Environment
            | DataFormat::MatrixMarket
            | DataFormat::AnnData
            | DataFormat::TenxH5 => exp.data.encoding.clone(),
            DataFormat::ImageFolder => crate::spec::Encoding::default(),
            DataFormat::Fasta => crate::spec::Encoding {
                scale_pixels: false,
                ..Default::default()
            },
        };
    }
    if format.is_matrix() && exp.data.format == DataFormat::Table {
        exp.data.format = format;
    }
    if format != exp.data.format {
        return Err(format!(
            "the {} template expects {}, but {} is {}",
            template.name(),
            format_words(exp.data.format),
            data_path.display(),
            format_words(format)
        ));
    }
    exp.data.path = relative_to(data_path, &exp_dir);
    let wanted = exp.data.joined.len();
    if opts.joined.len() > wanted {
        return Err(format!(
            "the {} template reads {}; a second table is read by the two_input_classifier template",
            template.name(),
            match wanted {
                0 => "one table".to_string(),
                n => format!("{} tables", n + 1),
            }
        ));
    }
    if opts.joined.len() < wanted {
        let names: Vec<&str> = exp.data.joined.iter().map(|j| j.name.as_str()).collect();
        return Err(format!(
            "the {} template joins a second table of the same samples by sample id (the input '{}'): give --data2 FILE",
            template.name(),
            names.join("', '")
        ));
    }
    for (j, p) in exp.data.joined.iter_mut().zip(&opts.joined) {
        j.path = relative_to(p, &exp_dir);
    }
    if let Some(labels) = &opts.labels {
        let column = match &opts.label_column {
            Some(c) => c.clone(),
            None => second_column(labels)?,
        };
        exp.data.labels = LabelSource::Metadata {
            path: relative_to(labels, &exp_dir),
            id_column: String::new(),
            column,
        };
    } else if let Some(column) = &opts.label_column {
        exp.data.labels = LabelSource::Column {
            column: column.clone(),
        };
    } else if exp.task.needs_labels() && exp.data.labels == LabelSource::None {
        return Err(format!(
            "the {} template needs a label per sample: give --label-column COLUMN (a column of {}) or --labels TABLE",
            template.name(),
            data_path.display()
        ));
    }
    apply_settings(&mut exp, &opts.settings)?;
    let (dataset, target, report) = prepare_with(&mut exp, &exp_dir, true)?;
    let _ = target;
    Ok((exp, dataset, report))
}

/// Load an experiment's data and check that its network fits.
pub fn prepare(exp: &Experiment, exp_dir: &Path) -> Result<(Dataset, Target, ShapeReport), String> {
    let mut exp = exp.clone();
    prepare_with(&mut exp, exp_dir, false)
}

fn prepare_with(
    exp: &mut Experiment,
    exp_dir: &Path,
    fit: bool,
) -> Result<(Dataset, Target, ShapeReport), String> {
    exp.validate().map_err(|e| e.to_string())?;
    let dataset = data::load(&exp.data, exp_dir).map_err(|e| e.to_string())?;
    let target = dataset.target(exp.task).map_err(|e| e.to_string())?;
    let joined_width = dataset.joined.iter().map(|(_, w)| w).sum();
    let input = exp
        .data
        .encoding
        .input_shape(dataset.kind, &dataset.shape, joined_width);
    if fit {
        exp.fit_to_data(&input, &target);
    }
    let report = infer_shapes_joined(
        &exp.architecture,
        exp.task,
        &input,
        &dataset.joined,
        &target,
    )
    .into_result()
    .map_err(|e| format!("the network does not fit the data: {e}"))?;
    Ok((dataset, target, report))
}

/// The folder an experiment file lives in.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn format_words(f: DataFormat) -> &'static str {
    match f {
        DataFormat::Table => "a CSV/TSV table",
        DataFormat::Fasta => "FASTA sequences",
        DataFormat::ImageFolder => "a folder of image folders",
        DataFormat::Auto => "any data",
        DataFormat::Environment => "a simulated environment",
        DataFormat::MatrixMarket => "a 10x Matrix Market folder",
        DataFormat::AnnData => "an AnnData .h5ad file",
        DataFormat::TenxH5 => "a 10x .h5 matrix",
    }
}

/// The column names in a table's header (its first line; tab- or
/// comma-separated, quotes removed, an unnamed column as ""), read without
/// the rest of the file.
pub fn table_columns(table: &Path) -> Result<Vec<String>, String> {
    use std::io::BufRead;
    let file =
        std::fs::File::open(table).map_err(|e| format!("cannot read {}: {e}", table.display()))?;
    let mut header = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut header)
        .map_err(|e| format!("cannot read {}: {e}", table.display()))?;
    let sep = crate::data::table::delimiter_for(table, header.as_bytes()) as char;
    Ok(header
        .trim_end_matches(['\r', '\n'])
        .split(sep)
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect())
}

/// The second column of a table's header: the default label column.
pub fn second_column(table: &Path) -> Result<String, String> {
    table_columns(table)?
        .into_iter()
        .nth(1)
        .ok_or_else(|| format!("{} needs an id column and a label column", table.display()))
}

/// Apply `key=value` settings with dotted keys to the experiment's JSON.
pub fn apply_settings(exp: &mut Experiment, settings: &[String]) -> Result<(), String> {
    if settings.is_empty() {
        return Ok(());
    }
    let mut value = serde_json::to_value(&*exp).map_err(|e| e.to_string())?;
    for s in settings {
        let (key, raw) = s.split_once('=').ok_or_else(|| {
            format!("setting '{s}' must look like key=value, e.g. training.epochs=5")
        })?;
        let mut slot = &mut value;
        for part in key.split('.') {
            let next = match slot {
                serde_json::Value::Object(map) => map.get_mut(part),
                serde_json::Value::Array(items) => {
                    part.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                }
                _ => None,
            };
            slot = next.ok_or_else(|| format!("unknown setting '{key}' (no '{part}' there)"))?;
        }
        let new: serde_json::Value = serde_json::from_str(raw)
            .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
        *slot = new;
    }
    *exp = serde_json::from_value(value).map_err(|e| format!("invalid setting: {e}"))?;
    Ok(())
}

/// `path` expressed relative to `base` when both are relative or share a root.
/// `exp` with its relative data paths (the data, a label table, joined
/// tables) made relative to `to` instead of `from`, for a copy of the
/// experiment written into another folder.
/// A path that would climb all the way to the root is made absolute instead.
pub fn rebased(exp: &Experiment, from: &Path, to: &Path) -> Experiment {
    let depth = normalise(&std::path::absolute(to).unwrap_or_else(|_| to.to_path_buf()))
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    map_data_paths(exp, |p| {
        let rel = relative_to(&from.join(p), to);
        let ups = rel
            .components()
            .take_while(|c| matches!(c, Component::ParentDir))
            .count();
        if ups >= depth {
            whole_path(from, p)
        } else {
            rel
        }
    })
}

/// `path` (relative to `base` unless absolute) as a whole path without `..`
/// steps; the disk is not consulted.
pub fn whole_path(base: &Path, path: &Path) -> PathBuf {
    let joined = crate::spec::resolve(base, path);
    normalise(&std::path::absolute(&joined).unwrap_or(joined))
}

/// `exp` with its relative data paths, relative to `from`, made absolute.
pub fn absolute_data_paths(exp: &Experiment, from: &Path) -> Experiment {
    map_data_paths(exp, |p| whole_path(from, p))
}

fn map_data_paths(exp: &Experiment, f: impl Fn(&Path) -> PathBuf) -> Experiment {
    let mut exp = exp.clone();
    let move_path = |p: &mut PathBuf| {
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = f(p);
        }
    };
    move_path(&mut exp.data.path);
    if let LabelSource::Metadata { path, .. } = &mut exp.data.labels {
        move_path(path);
    }
    for j in &mut exp.data.joined {
        move_path(&mut j.path);
    }
    exp
}

pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, b) = (normalise(&abs(path)), normalise(&abs(base)));
    let pc: Vec<_> = p.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Read new data the way a trained model expects it: with the model's own
/// reading options and sequence length and, for tables, its feature columns
/// picked by name (in the model's order; extra columns are ignored).
pub fn read_for_model(model: &TrainedModel, path: &Path) -> Result<Dataset, String> {
    read_joined_for_model(model, path, &[])
}

/// [`read_for_model`] for a model that reads tables joined by sample id:
/// `joined` are the files for its joined inputs, in order.
pub fn read_joined_for_model(
    model: &TrainedModel,
    path: &Path,
    joined: &[PathBuf],
) -> Result<Dataset, String> {
    let wanted = &model.experiment.data.joined;
    if joined.len() != wanted.len() {
        let names: Vec<String> = wanted.iter().map(|j| format!("'{}'", j.name)).collect();
        return Err(match wanted.len() {
            0 => "the model reads one table; give only the data file".to_string(),
            _ => format!(
                "the model also reads the table {} (joined to the data by sample id); give it too (--data2 FILE)",
                names.join(", ")
            ),
        });
    }
    if !wanted.is_empty() {
        let mut ds = data::table::read_lenient(path).map_err(|e| e.to_string())?;
        for (j, p) in wanted.iter().zip(joined) {
            let table = if j.id_column.is_empty() {
                data::table::read_lenient(p)
            } else {
                let options = crate::spec::TableOptions {
                    id_column: j.id_column.clone(),
                    regression_target: false,
                };
                data::table::read(p, &options, None, false)
            }
            .map_err(|e| e.to_string())?;
            ds = data::join::join(ds, table, &j.name).map_err(|e| e.to_string())?;
        }
        let mut ds = align_features(ds, &model.feature_names, model.input_shape.iter().product())?;
        ds.joined = model.experiment.data.joined_named(model.network.joined());
        return Ok(ds);
    }
    let format = data::detect_format(path).map_err(|e| e.to_string())?;
    let trained_on = model.experiment.data.format;
    if trained_on != DataFormat::Auto
        && format != trained_on
        && !(format.is_matrix() && trained_on.is_matrix())
    {
        return Err(format!(
            "the model was trained on {}, but {} is {}",
            format_words(trained_on),
            path.display(),
            format_words(format)
        ));
    }
    let mut spec = model.experiment.data.clone();
    spec.path = path.to_path_buf();
    spec.labels = LabelSource::None;
    match format {
        DataFormat::Table | DataFormat::Auto => {
            let ds = data::table::read_lenient(path).map_err(|e| e.to_string())?;
            align_features(ds, &model.feature_names, model.input_shape.iter().product())
        }
        DataFormat::Fasta => {
            spec.sequence.length = model.input_shape.get(1).copied().unwrap_or(0);
            let ds = data::load(&spec, Path::new(".")).map_err(|e| e.to_string())?;
            if !model.feature_names.is_empty() && ds.feature_names != model.feature_names {
                return Err(format!(
                    "the model reads the letters {}, but {} is read as {}",
                    model.feature_names.join(""),
                    path.display(),
                    ds.feature_names.join("")
                ));
            }
            Ok(ds)
        }
        DataFormat::ImageFolder => {
            spec.labels = LabelSource::Folder;
            data::load(&spec, Path::new(".")).map_err(|e| e.to_string())
        }
        DataFormat::MatrixMarket | DataFormat::AnnData | DataFormat::TenxH5 => {
            spec.format = format;
            let ds = data::load(&spec, Path::new(".")).map_err(|e| e.to_string())?;
            align_features(ds, &model.feature_names, model.input_shape.iter().product())
        }
        DataFormat::Environment => Err(format!(
            "{} is not data a Q-network can be run on; it acts in its environment",
            path.display()
        )),
    }
}

/// Keep the columns the model was trained on, in its order.
fn align_features(mut ds: Dataset, names: &[String], expected: usize) -> Result<Dataset, String> {
    if names.is_empty() {
        // A model saved without names: only the count can be checked.
        return if ds.sample_len() == expected {
            Ok(ds)
        } else {
            Err(format!(
                "the model reads {expected} numbers per sample, but {} has {}",
                ds.source.display(),
                ds.sample_len()
            ))
        };
    }
    let lookup: std::collections::HashMap<&str, usize> = ds
        .feature_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !lookup.contains_key(n.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        return Err(format!(
            "{} lacks {} of the {} columns the model was trained on: {}{}",
            ds.source.display(),
            missing.len(),
            names.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        ));
    }
    let cols: Vec<usize> = names.iter().map(|n| lookup[n.as_str()]).collect();
    if let Some(crate::data::sparse::Sparse::Counts(m)) = &ds.sparse {
        let picked: Vec<Option<usize>> = cols.iter().map(|&c| Some(c)).collect();
        ds.sparse = Some(crate::data::sparse::Sparse::Counts(m.take_columns(&picked)));
    } else {
        let old_len = ds.sample_len();
        let mut values = Vec::with_capacity(ds.len() * cols.len());
        for i in 0..ds.len() {
            let row = &ds.values[i * old_len..(i + 1) * old_len];
            values.extend(cols.iter().map(|&c| row[c]));
        }
        ds.values = values;
    }
    ds.shape = vec![cols.len()];
    ds.feature_names = names.to_vec();
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(
            relative_to(Path::new("/a/b/data.csv"), Path::new("/a/c")),
            PathBuf::from("../b/data.csv")
        );
        assert_eq!(
            relative_to(Path::new("/a/b/data.csv"), Path::new("/a/b")),
            PathBuf::from("data.csv")
        );
        assert_eq!(
            relative_to(Path::new("x/./y.fa"), Path::new("x")),
            PathBuf::from("y.fa")
        );
    }

    #[test]
    fn settings_use_dotted_keys_and_refuse_unknown_ones() {
        let mut exp = Experiment::default();
        apply_settings(
            &mut exp,
            &[
                "training.epochs=3".into(),
                "training.optimizer=sgd".into(),
                "name=My run".into(),
            ],
        )
        .unwrap();
        assert_eq!(exp.training.epochs, 3);
        assert_eq!(exp.training.optimizer, crate::spec::Optimizer::Sgd);
        assert_eq!(exp.name, "My run");
        let err = apply_settings(&mut exp, &["training.epoch=3".into()]).unwrap_err();
        assert!(err.contains("unknown setting 'training.epoch'"), "{err}");
        let err = apply_settings(&mut exp, &["training.epochs=many".into()]).unwrap_err();
        assert!(err.contains("invalid setting"), "{err}");
    }
}
