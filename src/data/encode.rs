//! Encodings applied before training: pixel scaling, log1p and per-feature
//! standardisation. Statistics are fitted on the training split only and saved
//! with the model, so predictions on new files get the same treatment.

use serde::{Deserialize, Serialize};

use super::{DataKind, Dataset};
use crate::spec::{Encoding, StandardizeScope};

/// Fitted preprocessing, stored with a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Preprocessing {
    /// Scale each sample to this total first (library size); 0 = off.
    #[serde(default)]
    pub normalize_total: f32,
    /// Scale only the first this many values of a sample to `normalize_total`
    /// (the main table's, when tables are joined); 0 = the whole sample.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub normalize_width: usize,
    /// Divide every value by this first (pixel scaling); 1 = unchanged.
    pub divide_by: f32,
    pub log1p: bool,
    /// Per-feature mean and standard deviation, when standardising.
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
}

impl Preprocessing {
    /// Fit on the samples `train` of `data`.
    pub fn fit(data: &Dataset, encoding: &Encoding, train: &[usize]) -> Preprocessing {
        let divide_by = if encoding.scale_pixels && data.kind == DataKind::Images {
            data.max_value
        } else {
            1.0
        };
        let mut p = Preprocessing {
            normalize_total: if data.kind == DataKind::Table {
                encoding.normalize_total.max(0.0)
            } else {
                0.0
            },
            normalize_width: match data.joined.is_empty() {
                true => 0,
                false => data.sample_len() - data.joined.iter().map(|(_, w)| w).sum::<usize>(),
            },
            divide_by,
            log1p: encoding.log1p,
            mean: None,
            std: None,
        };
        if encoding.standardize && !train.is_empty() {
            let f = data.sample_len();
            let mut sum = vec![0.0f64; f];
            let mut sq = vec![0.0f64; f];
            let mut row = vec![0.0f32; f];
            for &i in train {
                data.write_sample(i, &mut row);
                p.apply_pre(&mut row);
                for j in 0..f {
                    let v = row[j] as f64;
                    sum[j] += v;
                    sq[j] += v * v;
                }
            }
            let mut n = train.len() as f64;
            if encoding.standardize_scope == StandardizeScope::Global {
                // One mean and deviation over every value, repeated per feature so
                // a saved model applies it exactly like per-feature statistics.
                let (s, q) = (sum.iter().sum::<f64>(), sq.iter().sum::<f64>());
                sum.iter_mut().for_each(|v| *v = s);
                sq.iter_mut().for_each(|v| *v = q);
                n *= f as f64;
            }
            let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
            let std: Vec<f32> = sq
                .iter()
                .zip(&sum)
                .map(|(q, s)| {
                    let var = (q / n - (s / n).powi(2)).max(0.0);
                    let sd = var.sqrt() as f32;
                    if sd > 1e-6 { sd } else { 1.0 }
                })
                .collect();
            p.mean = Some(mean);
            p.std = Some(std);
        }
        p
    }

    /// Fit on the training samples `train`, after keeping only the features
    /// the encoding selects ([`select_variable_features`]): `data` is
    /// changed to what the network will read.
    pub fn fit_to(data: &mut Dataset, encoding: &Encoding, train: &[usize]) -> Preprocessing {
        select_variable_features(data, encoding, train);
        Preprocessing::fit(data, encoding, train)
    }

    fn apply_pre(&self, row: &mut [f32]) {
        let width = match self.normalize_width {
            0 => row.len(),
            w => w.min(row.len()),
        };
        normalize_total(&mut row[..width], self.normalize_total);
        if self.divide_by != 1.0 && self.divide_by > 0.0 {
            let inv = 1.0 / self.divide_by;
            row.iter_mut().for_each(|v| *v *= inv);
        }
        if self.log1p {
            row.iter_mut().for_each(|v| *v = v.max(0.0).ln_1p());
        }
    }

    /// Transform one sample in place.
    pub fn apply(&self, row: &mut [f32]) {
        self.apply_pre(row);
        if let (Some(mean), Some(std)) = (&self.mean, &self.std) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Undo [`Preprocessing::apply`] on one sample: back to the data's units
    /// (after library-size normalisation, which cannot be undone: the sample's
    /// own total is not known).
    pub fn invert(&self, row: &mut [f32]) {
        if let (Some(mean), Some(std)) = (&self.mean, &self.std) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = *v * s + m;
            }
        }
        if self.log1p {
            row.iter_mut().for_each(|v| *v = v.exp_m1().max(0.0));
        }
        if self.divide_by != 1.0 && self.divide_by > 0.0 {
            row.iter_mut().for_each(|v| *v *= self.divide_by);
        }
    }

    /// Transform every sample of a dataset into a new (dense) value buffer.
    pub fn transform(&self, data: &Dataset) -> Vec<f32> {
        let mut out = data.dense_values().into_owned();
        let f = data.sample_len().max(1);
        out.chunks_mut(f).for_each(|row| self.apply(row));
        out
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Scale a sample so its values add up to `total` (nothing when 0, or when the
/// sample is all zeros).
fn normalize_total(row: &mut [f32], total: f32) {
    if total > 0.0 {
        let sum: f64 = row.iter().map(|&v| v.max(0.0) as f64).sum();
        if sum > 0.0 {
            let k = (total as f64 / sum) as f32;
            row.iter_mut().for_each(|v| *v *= k);
        }
    }
}

/// Keep the `encoding.top_variable_features` features of a table with the
/// highest dispersion (variance / mean of the library-size-normalised values)
/// over the samples `train`, in their original order. Other data is unchanged.
pub fn select_variable_features(data: &mut Dataset, encoding: &Encoding, train: &[usize]) {
    let n = encoding.top_variable_features;
    let total = data.sample_len();
    // Joined tables (their features come last) are kept whole.
    let joined: usize = data.joined.iter().map(|(_, w)| w).sum();
    let f = total - joined;
    if data.kind != DataKind::Table || n == 0 || n >= f || train.is_empty() || data.shape.len() != 1
    {
        return;
    }
    let mut sum = vec![0.0f64; f];
    let mut sq = vec![0.0f64; f];
    let mut row = vec![0.0f32; f];
    let mut whole = vec![0.0f32; total];
    for &i in train {
        data.write_sample(i, &mut whole);
        row.copy_from_slice(&whole[..f]);
        normalize_total(&mut row, encoding.normalize_total);
        for j in 0..f {
            let v = row[j] as f64;
            sum[j] += v;
            sq[j] += v * v;
        }
    }
    let m = train.len() as f64;
    let dispersion: Vec<f64> = (0..f)
        .map(|j| {
            let mean = sum[j] / m;
            let var = (sq[j] / m - mean * mean).max(0.0);
            if mean > 0.0 { var / mean } else { 0.0 }
        })
        .collect();
    let mut order: Vec<usize> = (0..f).collect();
    order.sort_by(|&a, &b| dispersion[b].total_cmp(&dispersion[a]).then(a.cmp(&b)));
    let mut keep = order[..n].to_vec();
    keep.sort_unstable();
    keep.extend(f..total);
    if let Some(super::sparse::Sparse::Counts(m)) = &data.sparse {
        let cols: Vec<Option<usize>> = keep.iter().map(|&j| Some(j)).collect();
        data.sparse = Some(super::sparse::Sparse::Counts(m.take_columns(&cols)));
    } else {
        let mut values = Vec::with_capacity(data.len() * n);
        for i in 0..data.len() {
            let s = data.sample(i);
            values.extend(keep.iter().map(|&j| s[j]));
        }
        data.values = values;
    }
    if data.feature_names.len() == total {
        data.feature_names = keep
            .iter()
            .map(|&j| data.feature_names[j].clone())
            .collect();
    }
    data.shape = vec![n + joined];
    data.notes.push(format!(
        "kept the {n} most variable of {f} features (dispersion on the {} training samples)",
        train.len()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Labels;

    fn table(values: Vec<f32>, features: usize) -> Dataset {
        let n = values.len() / features;
        Dataset {
            kind: DataKind::Table,
            source: "t.csv".into(),
            ids: (0..n).map(|i| i.to_string()).collect(),
            shape: vec![features],
            values,
            feature_names: Vec::new(),
            labels: Labels::None,
            max_value: f32::MAX,
            notes: Vec::new(),
            text_columns: Vec::new(),
            sparse: None,
            lengths: None,
            joined: Vec::new(),
        }
    }

    #[test]
    fn standardisation_uses_training_statistics_only() {
        let ds = table(vec![0.0, 10.0, 2.0, 10.0, 100.0, 10.0], 2);
        let enc = Encoding {
            log1p: false,
            standardize: true,
            scale_pixels: false,
            ..Default::default()
        };
        let p = Preprocessing::fit(&ds, &enc, &[0, 1]);
        assert_eq!(p.mean.as_deref(), Some(&[1.0, 10.0][..]));
        // A constant feature keeps its values centred instead of dividing by zero.
        assert_eq!(p.std.as_deref(), Some(&[1.0, 1.0][..]));
        let out = p.transform(&ds);
        assert_eq!(out, vec![-1.0, 0.0, 1.0, 0.0, 99.0, 0.0]);
    }

    #[test]
    fn log1p_then_standardise() {
        let ds = table(vec![0.0, (1f32).exp() - 1.0], 1);
        let enc = Encoding {
            log1p: true,
            standardize: false,
            scale_pixels: false,
            ..Default::default()
        };
        let out = Preprocessing::fit(&ds, &enc, &[0, 1]).transform(&ds);
        assert!((out[1] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn global_standardisation_uses_one_mean_and_deviation() {
        let ds = table(vec![0.0, 2.0, 4.0, 6.0], 2);
        let enc = Encoding {
            standardize: true,
            standardize_scope: StandardizeScope::Global,
            scale_pixels: false,
            ..Default::default()
        };
        let p = Preprocessing::fit(&ds, &enc, &[0, 1]);
        assert_eq!(p.mean.as_deref(), Some(&[3.0, 3.0][..]));
        let sd = 5f32.sqrt();
        let out = p.transform(&ds);
        let want = [-3.0 / sd, -1.0 / sd, 1.0 / sd, 3.0 / sd];
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{out:?}"
        );
    }

    #[test]
    fn library_size_then_most_variable_features_from_the_training_rows() {
        // Samples 0 and 1 differ only in depth; after library-size scaling A is
        // constant. Sample 3 (not in training) would make A the most variable.
        let mut ds = table(
            vec![
                10.0, 10.0, 80.0, 20.0, 20.0, 160.0, 10.0, 50.0, 40.0, 1000.0, 0.0, 0.0,
            ],
            3,
        );
        ds.feature_names = vec!["A".into(), "B".into(), "C".into()];
        let enc = Encoding {
            normalize_total: 100.0,
            top_variable_features: 2,
            scale_pixels: false,
            ..Default::default()
        };
        let p = Preprocessing::fit(&ds, &enc, &[0, 1, 2]);
        let mut row = ds.sample(0).to_vec();
        p.apply(&mut row);
        assert!((row.iter().sum::<f32>() - 100.0).abs() < 1e-4, "{row:?}");

        select_variable_features(&mut ds, &enc, &[0, 1, 2]);
        assert_eq!(ds.shape, [2]);
        assert_eq!(ds.feature_names, ["B", "C"]);
        assert_eq!(*ds.sample(3), [0.0, 0.0]);
        assert_eq!(*ds.sample(1), [20.0, 160.0]);
        assert_eq!(enc.input_shape(DataKind::Table, &[3], 0), [2]);
        assert!(ds.notes[0].contains("2 most variable of 3 features"));
    }

    #[test]
    fn invert_undoes_the_encoding() {
        let ds = table(vec![0.0, 3.0, 10.0, 7.0, 100.0, 1.0], 2);
        let enc = Encoding {
            log1p: true,
            standardize: true,
            scale_pixels: false,
            ..Default::default()
        };
        let p = Preprocessing::fit(&ds, &enc, &[0, 1, 2]);
        let mut row = ds.sample(2).to_vec();
        p.apply(&mut row);
        p.invert(&mut row);
        assert!(
            (row[0] - 100.0).abs() < 1e-3 && (row[1] - 1.0).abs() < 1e-4,
            "{row:?}"
        );
    }
}
