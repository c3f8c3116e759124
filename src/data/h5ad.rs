//! AnnData `.h5ad` files (HDF5, read with the pure-Rust `hdf5-pure`): the
//! matrix `X` (dense, or sparse CSR/CSC) as cells × genes, `var` names as
//! features, `obs` names as sample ids and every `obs` column (categorical,
//! string or numeric) as a possible label. Three layouts are read: the current
//! one (anndata ≥ 0.8: dataframe groups, categorical groups), 0.7
//! (`obs/__categories/<col>`), and the pre-0.7 one still found in public data
//! (`obs`/`var` as compound datasets, categories in `uns/<col>_categories`).

use std::collections::HashMap;
use std::path::Path;

use hdf5_pure::{AttrValue, Datatype, File};

use super::sparse::SparseRows;
use super::{DataError, DataKind, Dataset, Labels};

fn err(path: &Path, what: impl std::fmt::Display) -> DataError {
    DataError::Invalid(format!("{}: {what}", path.display()))
}

fn attr_text(attrs: &HashMap<String, AttrValue>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => Some(s.clone()),
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => {
            Some(value.clone())
        }
        _ => None,
    }
}

fn attr_ints(attrs: &HashMap<String, AttrValue>, key: &str) -> Option<Vec<i64>> {
    match attrs.get(key)? {
        AttrValue::I64Array(v) => Some(v.clone()),
        AttrValue::I32Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        AttrValue::U64Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        AttrValue::U32Array(v) => Some(v.iter().map(|&x| x as i64).collect()),
        _ => None,
    }
}

/// One `obs` or `var` column.
enum Column {
    Text(Vec<String>),
    Numbers(Vec<f64>),
}

impl Column {
    fn into_strings(self) -> Vec<String> {
        match self {
            Column::Text(v) => v,
            Column::Numbers(v) => v.iter().map(|x| x.to_string()).collect(),
        }
    }
}

/// A dataframe (`obs` or `var`): its index and its columns, in file order.
struct Frame {
    index: Vec<String>,
    columns: Vec<(String, Column)>,
}

/// Open an HDF5 file (`kind` says what it should be, for the message when it
/// cannot be read); its reading is shown as one indeterminate stage.
pub(crate) fn open_hdf5(path: &Path, kind: &str) -> Result<File, DataError> {
    super::progress::start(
        &path.file_name().unwrap_or_default().to_string_lossy(),
        super::progress::Unit::Bytes,
        0,
    );
    File::open(path).map_err(|e| {
        err(
            path,
            format!("cannot be read as HDF5 ({e}); is it {kind}, and complete?"),
        )
    })
}

/// Read an `.h5ad` file; `label` names the `obs` column to use as labels.
pub fn read(path: &Path, label: Option<&str>, regression: bool) -> Result<Dataset, DataError> {
    let file = open_hdf5(path, "an AnnData .h5ad file")?;
    let root = file.root();
    let groups = root.groups().map_err(|e| err(path, e))?;
    let datasets = root.datasets().map_err(|e| err(path, e))?;
    let (values, sparse, n_obs, n_var, layout) = if groups.iter().any(|g| g == "X") {
        let (m, n_obs, n_var, layout) = sparse_x(&file, path)?;
        (Vec::new(), Some(m), n_obs, n_var, layout)
    } else if datasets.iter().any(|d| d == "X") {
        let x = file.dataset("X").map_err(|e| err(path, e))?;
        let shape = x.shape().map_err(|e| err(path, e))?;
        let [n_obs, n_var] = shape[..] else {
            return Err(err(
                path,
                format!("X has shape {shape:?}; a cells × genes matrix has two dimensions"),
            ));
        };
        numeric(path, "X", &x)?;
        let values = x
            .read_f32()
            .map_err(|e| err(path, format!("cannot read X: {e}")))?;
        (values, None, n_obs as usize, n_var as usize, "dense X")
    } else {
        let mut held: Vec<String> = groups.iter().chain(&datasets).cloned().collect();
        held.sort();
        return Err(err(
            path,
            format!(
                "has no X matrix (AnnData keeps the cells × genes values in X); it holds: {}",
                held.join(", ")
            ),
        ));
    };
    if n_obs == 0 || n_var == 0 {
        return Err(err(
            path,
            format!(
                "X is {n_obs} cells × {n_var} genes: there is nothing to train on (was the file written after filtering removed every {}?)",
                if n_obs == 0 { "cell" } else { "gene" }
            ),
        ));
    }
    let obs = frame(&file, path, "obs", &groups)?;
    let var = frame(&file, path, "var", &groups)?;
    // Not a number, or infinite: refused, with where, before anything averages it in.
    let bad = match &sparse {
        Some(m) => m.data.iter().position(|v| !v.is_finite()).map(|k| {
            (
                m.indptr.partition_point(|&p| p <= k) - 1,
                m.indices[k] as usize,
            )
        }),
        None => values
            .iter()
            .position(|v| !v.is_finite())
            .map(|k| (k / n_var, k % n_var)),
    };
    if let Some((cell, gene)) = bad {
        let count = match &sparse {
            Some(m) => m.data.iter().filter(|v| !v.is_finite()).count(),
            None => values.iter().filter(|v| !v.is_finite()).count(),
        };
        return Err(err(
            path,
            format!(
                "X holds {count} value{} that {} NaN or infinite, the first at cell '{}' (row {}), gene '{}' (column {}); AnnData's X must hold measured numbers: fill them in or drop those cells or genes before training",
                if count == 1 { "" } else { "s" },
                if count == 1 { "is" } else { "are" },
                obs.index.get(cell).map_or("?", String::as_str),
                cell + 1,
                var.index.get(gene).map_or("?", String::as_str),
                gene + 1
            ),
        ));
    }
    if obs.index.len() != n_obs {
        return Err(err(
            path,
            format!("obs names {} cells but X has {n_obs} rows", obs.index.len()),
        ));
    }
    if var.index.len() != n_var {
        return Err(err(
            path,
            format!(
                "var names {} genes but X has {n_var} columns",
                var.index.len()
            ),
        ));
    }
    let text_columns: Vec<String> = obs
        .columns
        .iter()
        .filter(|(_, c)| matches!(c, Column::Text(_)))
        .map(|(n, _)| n.clone())
        .collect();
    let mut notes = vec![format!(
        "AnnData file: {n_obs} cells × {n_var} genes ({layout}); obs columns: {}",
        obs.columns
            .iter()
            .map(|(n, c)| format!(
                "{n} ({})",
                if matches!(c, Column::Text(_)) {
                    "labels"
                } else {
                    "numbers"
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    let labels = match label {
        None => Labels::None,
        Some(name) => {
            let mut columns = obs.columns;
            let Some(pos) = columns.iter().position(|(n, _)| n == name) else {
                let names: Vec<&str> = text_columns.iter().map(String::as_str).collect();
                return Err(err(
                    path,
                    format!(
                        "obs has no column '{name}'; label columns there: {}",
                        names.join(", ")
                    ),
                ));
            };
            let (_, column) = columns.swap_remove(pos);
            let raw = column.into_strings();
            if raw.len() != obs.index.len() {
                return Err(err(
                    path,
                    format!(
                        "obs column '{name}' has {} values for {} cells",
                        raw.len(),
                        obs.index.len()
                    ),
                ));
            }
            let missing = raw.iter().filter(|v| v.is_empty()).count();
            if missing > 0 {
                notes.push(format!("{missing} cells have no '{name}' value"));
            }
            Labels::from_strings(&raw, regression, path, &obs.index)?
        }
    };
    Ok(Dataset {
        kind: DataKind::Table,
        source: path.to_path_buf(),
        ids: obs.index,
        shape: vec![n_var],
        values,
        feature_names: var.index,
        labels,
        max_value: f32::MAX,
        notes,
        text_columns,
        lengths: None,
        sparse: sparse.map(super::sparse::Sparse::Counts),
        joined: Vec::new(),
    })
}

/// Refuse a dataset whose header claims more values than the file could
/// hold, even compressed (deflate packs at most about 1032 to 1), before
/// anything is allocated for it: a damaged header would otherwise ask for
/// gigabytes (found by fuzzing).
pub(crate) fn fits_in_file(
    path: &Path,
    name: &str,
    d: &hdf5_pure::Dataset,
) -> Result<(), DataError> {
    let shape = d.shape().map_err(|e| err(path, format!("{name}: {e}")))?;
    let size = d.element_size().unwrap_or(1).max(1);
    let claimed = shape
        .iter()
        .try_fold(size, |acc, &n| acc.checked_mul(n))
        .unwrap_or(u64::MAX);
    let file = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if claimed > file.saturating_mul(1100).saturating_add(1 << 20) {
        return Err(err(
            path,
            format!(
                "{name} claims {} values ({:.1} GB) in a file of {file} bytes, more than it can hold even compressed; the file is damaged or not whole",
                shape.iter().product::<u64>(),
                claimed as f64 / 1e9
            ),
        ));
    }
    Ok(())
}

/// Refuse a matrix of text (or anything else but numbers) before reading it,
/// with what it holds instead of the library's type mismatch; and one whose
/// size the file cannot hold ([`fits_in_file`]).
fn numeric(path: &Path, name: &str, d: &hdf5_pure::Dataset) -> Result<(), DataError> {
    fits_in_file(path, name, d)?;
    let what = match d
        .datatype()
        .map_err(|e| err(path, format!("{name}: {e}")))?
    {
        Datatype::FixedPoint { .. } | Datatype::FloatingPoint { .. } => return Ok(()),
        Datatype::String { .. }
        | Datatype::VariableLength {
            is_string: true, ..
        } => "text",
        Datatype::Compound { .. } => "records of several fields",
        Datatype::Enumeration { .. } => "an enumeration",
        _ => "values that are not numbers",
    };
    Err(err(
        path,
        format!(
            "{name} holds {what}, not numbers; AnnData's X must be a numeric cells × genes matrix"
        ),
    ))
}

/// X stored as a sparse group: CSR (rows = cells) or CSC, made dense here.
fn sparse_x(
    file: &File,
    path: &Path,
) -> Result<(SparseRows, usize, usize, &'static str), DataError> {
    let g = file.group("X").map_err(|e| err(path, e))?;
    let attrs = g.attrs().map_err(|e| err(path, e))?;
    let kind = attr_text(&attrs, "encoding-type")
        .or_else(|| attr_text(&attrs, "h5sparse_format").map(|f| format!("{f}_matrix")))
        .unwrap_or_default();
    let shape = attr_ints(&attrs, "shape")
        .or_else(|| attr_ints(&attrs, "h5sparse_shape"))
        .ok_or_else(|| err(path, "X is a group without a 'shape' attribute"))?;
    let [n_obs, n_var] = shape[..] else {
        return Err(err(path, format!("X has shape {shape:?}")));
    };
    if n_obs < 0 || n_var < 0 {
        return Err(err(path, format!("X has a negative shape {shape:?}")));
    }
    let (n_obs, n_var) = (n_obs as usize, n_var as usize);
    let csr = match kind.as_str() {
        "csr_matrix" => true,
        "csc_matrix" => false,
        other => {
            return Err(err(
                path,
                format!("X is stored as '{other}'; dense, CSR and CSC matrices are supported"),
            ));
        }
    };
    let read = |name: &str| {
        let d = g
            .dataset(name)
            .map_err(|e| err(path, format!("X/{name}: {e}")))?;
        fits_in_file(path, &format!("X/{name}"), &d)?;
        Ok::<_, DataError>(d)
    };
    let data = read("data")?;
    numeric(path, "X/data", &data)?;
    let data = data
        .read_f32()
        .map_err(|e| err(path, format!("X/data: {e}")))?;
    let indices = read("indices")?
        .read_i64()
        .map_err(|e| err(path, format!("X/indices: {e}")))?;
    let indptr = read("indptr")?
        .read_i64()
        .map_err(|e| err(path, format!("X/indptr: {e}")))?;
    let values = compressed_to_rows(data, &indices, &indptr, n_obs, n_var, csr)
        .map_err(|m| err(path, format!("X: {m}")))?;
    Ok((
        values,
        n_obs,
        n_var,
        if csr { "sparse CSR X" } else { "sparse CSC X" },
    ))
}

/// A compressed sparse matrix (CSR: `indptr` over the `n_obs` rows; CSC: over
/// the `n_var` columns) as compressed rows, one per observation, checked.
pub(crate) fn compressed_to_rows(
    data: Vec<f32>,
    indices: &[i64],
    indptr: &[i64],
    n_obs: usize,
    n_var: usize,
    csr: bool,
) -> Result<SparseRows, String> {
    let (outer, inner) = if csr { (n_obs, n_var) } else { (n_var, n_obs) };
    if indptr.len() != outer + 1 || data.len() != indices.len() {
        return Err(format!(
            "the sparse arrays disagree: indptr has {} entries for {outer} {}, data {} and indices {}",
            indptr.len(),
            if csr { "rows" } else { "columns" },
            data.len(),
            indices.len()
        ));
    }
    for o in 0..outer {
        let (a, b) = (indptr[o], indptr[o + 1]);
        if a < 0 || b < a || b as usize > data.len() {
            return Err(format!("indptr is not increasing at position {o}"));
        }
    }
    if indptr[0] != 0 {
        return Err("indptr does not start at 0".into());
    }
    if let Some(k) = indices.iter().position(|&i| i < 0 || i as usize >= inner) {
        return Err(format!(
            "indices[{k}] = {} is outside 0..{inner}",
            indices[k]
        ));
    }
    if csr {
        let mut m = SparseRows {
            indptr: indptr.iter().map(|&p| p as usize).collect(),
            indices: indices.iter().map(|&i| i as u32).collect(),
            data,
            cols: n_var,
        };
        m.sort_rows();
        return Ok(m);
    }
    let mut entries = Vec::with_capacity(data.len());
    for o in 0..outer {
        for k in indptr[o] as usize..indptr[o + 1] as usize {
            entries.push((indices[k] as u32, o as u32, data[k]));
        }
    }
    Ok(super::sparse::from_triplets(n_obs, n_var, &entries))
}

/// Read the dataframe `name` (`obs` or `var`) in whichever layout it has.
fn frame(file: &File, path: &Path, name: &str, groups: &[String]) -> Result<Frame, DataError> {
    if groups.iter().any(|g| g == name) {
        group_frame(file, path, name)
    } else {
        compound_frame(file, path, name)
    }
}

/// anndata ≥ 0.7: a group with an `_index` attribute naming the index dataset.
fn group_frame(file: &File, path: &Path, name: &str) -> Result<Frame, DataError> {
    let g = file.group(name).map_err(|e| err(path, e))?;
    let attrs = g.attrs().map_err(|e| err(path, e))?;
    let index_name = attr_text(&attrs, "_index").unwrap_or_else(|| "_index".into());
    let index = g
        .dataset(&index_name)
        .and_then(|d| d.read_string())
        .map_err(|e| err(path, format!("{name}/{index_name} (the {name} names): {e}")))?;
    let mut columns = Vec::new();
    // Categorical columns (≥ 0.8) are groups of categories and codes.
    for c in g.groups().map_err(|e| err(path, e))? {
        if c == "__categories" {
            continue;
        }
        let cg = g.group(&c).map_err(|e| err(path, e))?;
        if let (Ok(cats), Ok(codes)) = (cg.dataset("categories"), cg.dataset("codes")) {
            let cats = cats
                .read_string()
                .map_err(|e| err(path, format!("{name}/{c}/categories: {e}")))?;
            let codes = codes
                .read_i64()
                .map_err(|e| err(path, format!("{name}/{c}/codes: {e}")))?;
            columns.push((c, Column::Text(decode(&cats, &codes))));
        }
    }
    for c in g.datasets().map_err(|e| err(path, e))? {
        if c == index_name {
            continue;
        }
        let d = g.dataset(&c).map_err(|e| err(path, e))?;
        // 0.7: codes here, categories in __categories/<col>.
        let cats = file
            .dataset(&format!("{name}/__categories/{c}"))
            .and_then(|d| d.read_string());
        let column = if let Ok(cats) = cats {
            let codes = d
                .read_i64()
                .map_err(|e| err(path, format!("{name}/{c}: {e}")))?;
            Column::Text(decode(&cats, &codes))
        } else if let Ok(v) = d.read_string() {
            Column::Text(v)
        } else if let Ok(v) = d.read_f64() {
            Column::Numbers(v)
        } else {
            continue;
        };
        columns.push((c, column));
    }
    Ok(Frame { index, columns })
}

fn decode(categories: &[String], codes: &[i64]) -> Vec<String> {
    codes
        .iter()
        .map(|&k| {
            usize::try_from(k)
                .ok()
                .and_then(|k| categories.get(k).cloned())
                .unwrap_or_default()
        })
        .collect()
}

/// Before anndata 0.7: a compound dataset, one member per column (the first is
/// the index); categorical columns hold codes into `uns/<col>_categories`.
fn compound_frame(file: &File, path: &Path, name: &str) -> Result<Frame, DataError> {
    let d = file.dataset(name).map_err(|_| {
        err(
            path,
            format!("has no '{name}' table (AnnData keeps cell and gene names there)"),
        )
    })?;
    let dt = d.datatype().map_err(|e| err(path, e))?;
    let Datatype::Compound { size, members } = dt else {
        return Err(err(
            path,
            format!(
                "'{name}' is neither a dataframe group nor a compound table; this AnnData layout is not supported"
            ),
        ));
    };
    let raw = d
        .read_raw()
        .map_err(|e| err(path, format!("{name}: {e}")))?;
    let rec = size as usize;
    if rec == 0 {
        return Err(err(path, format!("'{name}' has records of size 0")));
    }
    let mut index = Vec::new();
    let mut columns = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let off = m.byte_offset as usize;
        let field = |r: &[u8]| -> Option<f64> {
            let b = r.get(off..)?;
            Some(match &m.datatype {
                Datatype::FloatingPoint { size: 4, .. } => {
                    f32::from_le_bytes(b.get(..4)?.try_into().ok()?) as f64
                }
                Datatype::FloatingPoint { size: 8, .. } => {
                    f64::from_le_bytes(b.get(..8)?.try_into().ok()?)
                }
                Datatype::FixedPoint { size: 1, .. } | Datatype::Enumeration { size: 1, .. } => {
                    *b.first()? as i8 as f64
                }
                Datatype::FixedPoint { size: 2, .. } => {
                    i16::from_le_bytes(b.get(..2)?.try_into().ok()?) as f64
                }
                Datatype::FixedPoint { size: 4, .. } => {
                    i32::from_le_bytes(b.get(..4)?.try_into().ok()?) as f64
                }
                Datatype::FixedPoint { size: 8, .. } => {
                    i64::from_le_bytes(b.get(..8)?.try_into().ok()?) as f64
                }
                _ => return None,
            })
        };
        let column = match &m.datatype {
            Datatype::String { size, .. } => {
                let text: Option<Vec<String>> = raw
                    .chunks_exact(rec)
                    .map(|r| {
                        let s = r.get(off..off + *size as usize)?;
                        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                        Some(String::from_utf8_lossy(&s[..end]).into_owned())
                    })
                    .collect();
                Column::Text(text.ok_or_else(|| {
                    err(
                        path,
                        format!("'{name}' column '{}' lies outside its records", m.name),
                    )
                })?)
            }
            _ => {
                let nums: Option<Vec<f64>> = raw.chunks_exact(rec).map(field).collect();
                let Some(nums) = nums else { continue };
                let cats = file
                    .dataset(&format!("uns/{}_categories", m.name))
                    .and_then(|d| d.read_string());
                match cats {
                    Ok(cats) => {
                        let codes: Vec<i64> = nums.iter().map(|&v| v as i64).collect();
                        Column::Text(decode(&cats, &codes))
                    }
                    Err(_) => Column::Numbers(nums),
                }
            }
        };
        if i == 0 {
            index = column.into_strings();
        } else {
            columns.push((m.name.clone(), column));
        }
    }
    Ok(Frame { index, columns })
}
