//! Which features (genes, proteins, columns) a table model relies on, per
//! class: the mean |gradient × input| of each feature for the class's score
//! over the samples of that class, and permutation importance (Breiman 2001):
//! how much the loss of each class's samples grows when one feature's values
//! are shuffled across the samples. With labels the loss is against them
//! (the validation split, in the window); without, against the model's own
//! predictions, so it says how much the predictions depend on the feature.

use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::*;

/// At most this many features are shuffled one by one: the ones with the
/// largest attribution in any class (each costs a pass over the samples).
pub const PERMUTED_AT_MOST: usize = 2000;

/// What permutation importance measured the loss against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Against {
    Labels,
    Predictions,
}

/// Per-class importance of every feature.
#[derive(Debug, Clone)]
pub struct Importance {
    pub features: Vec<String>,
    /// The classes (a regression: its values).
    pub classes: Vec<String>,
    /// `classes × features`: mean |gradient × input| for the class's score
    /// over the class's samples.
    pub attribution: Vec<f32>,
    /// `classes × features`: the mean growth of the loss of the class's
    /// samples when the feature is shuffled; NaN for features not shuffled
    /// (beyond [`PERMUTED_AT_MOST`]).
    pub permutation: Vec<f32>,
    pub against: Against,
    /// How many samples each class had.
    pub samples: Vec<usize>,
}

impl Importance {
    /// The features of class `c`, most important first (by attribution).
    pub fn ranked(&self, c: usize) -> Vec<usize> {
        let f = self.features.len();
        let row = &self.attribution[c * f..(c + 1) * f];
        let mut order: Vec<usize> = (0..f).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        order
    }
}

/// The importance of each feature of `data` (a table, as read) for `model`,
/// per class. `labels` are each sample's class (or value, for a regression)
/// when known; otherwise each sample counts for its predicted class.
pub fn feature_importance(
    model: &TrainedModel,
    data: &Dataset,
    labels: Option<&crate::data::Labels>,
    device: &Device,
) -> Result<Importance, ExplainError> {
    let [features] = data.shape[..] else {
        return Err(ExplainError::NotApplicable(format!(
            "feature importance ranks the columns of a table; {} holds samples of shape {:?} (use attributions for sequences and images)",
            data.source.display(),
            data.shape
        )));
    };
    let scorer = Scorer::new(model, data, device)?;
    let task = model.experiment.task;
    let regression = task == Task::Regression;
    let outputs = scorer.outputs.max(1);
    let n = data.len();
    let idx: Vec<usize> = (0..n).collect();
    let (x, _) = rows(model, data, &idx);
    let mut predicted = Vec::with_capacity(n * outputs);
    for part in idx.chunks(256) {
        let block = x[part[0] * features..(part[part.len() - 1] + 1) * features].to_vec();
        predicted.extend(scorer.run(block, part.len(), None, None)?.0);
    }
    // Each sample's class (or target values) to score it by.
    let (class_of, values, against): (Vec<usize>, Vec<f32>, Against) = match labels {
        Some(crate::data::Labels::Classes { index, names }) if !regression => {
            let remap: Vec<Option<usize>> = names
                .iter()
                .map(|n| model.class_names.iter().position(|c| c == n))
                .collect();
            let class_of = index
                .iter()
                .map(|&i| remap.get(i).copied().flatten().unwrap_or(usize::MAX))
                .collect();
            (class_of, Vec::new(), Against::Labels)
        }
        Some(crate::data::Labels::Values(v)) if regression => {
            (vec![0; n], v.clone(), Against::Labels)
        }
        _ if regression => (
            vec![0; n],
            predicted.iter().step_by(outputs).copied().collect(),
            Against::Predictions,
        ),
        _ => (
            scorer.targets(&Explained::Predicted, &predicted, task)?,
            Vec::new(),
            Against::Predictions,
        ),
    };
    let classes: Vec<String> = if regression {
        vec!["value".into()]
    } else {
        model.class_names.clone()
    };
    let k = if regression { 1 } else { classes.len() };
    let mut samples = vec![0usize; k];
    for &c in &class_of {
        if c < k {
            samples[c] += 1;
        }
    }
    // Attribution: one pass per class over the samples of that class.
    let mut attribution = vec![0.0f32; k * features];
    for c in 0..k {
        let members: Vec<usize> = (0..n).filter(|&s| class_of[s] == c).collect();
        if members.is_empty() {
            continue;
        }
        let row = &mut attribution[c * features..(c + 1) * features];
        for part in members.chunks(256) {
            let mut block = Vec::with_capacity(part.len() * features);
            for &s in part {
                block.extend_from_slice(&x[s * features..(s + 1) * features]);
            }
            let targets = vec![c; part.len()];
            let (_, g) = scorer.run(block.clone(), part.len(), None, Some(&targets))?;
            let g = g.unwrap_or_default();
            for (sample_g, sample_x) in g.chunks(features).zip(block.chunks(features)) {
                for ((r, g), x) in row.iter_mut().zip(sample_g).zip(sample_x) {
                    *r += (g * x).abs();
                }
            }
        }
        row.iter_mut().for_each(|r| *r /= members.len() as f32);
    }
    // Permutation: the loss of each sample, then with one feature shuffled.
    let loss = |out: &[f32]| -> Vec<f32> {
        out.chunks(outputs)
            .enumerate()
            .map(|(s, o)| {
                if regression {
                    (o[0] - values[s]).powi(2)
                } else {
                    let c = class_of[s];
                    if c >= o.len() {
                        return 0.0;
                    }
                    let max = o.iter().copied().fold(f32::MIN, f32::max);
                    let log_sum = o.iter().map(|v| (v - max).exp()).sum::<f32>().ln() + max;
                    log_sum - o[c]
                }
            })
            .collect()
    };
    let base = loss(&predicted);
    let mut strongest: Vec<usize> = (0..features).collect();
    let best_of = |j: usize| {
        (0..k)
            .map(|c| attribution[c * features + j])
            .fold(0.0f32, f32::max)
    };
    strongest.sort_by(|&a, &b| best_of(b).total_cmp(&best_of(a)).then(a.cmp(&b)));
    strongest.truncate(PERMUTED_AT_MOST);
    let mut permutation = vec![f32::NAN; k * features];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5045_524D);
    let mut order: Vec<usize> = (0..n).collect();
    let mut shuffled = x.clone();
    for &j in &strongest {
        order.shuffle(&mut rng);
        for (s, &from) in order.iter().enumerate() {
            shuffled[s * features + j] = x[from * features + j];
        }
        let mut out = Vec::with_capacity(n * outputs);
        for part in idx.chunks(256) {
            let block =
                shuffled[part[0] * features..(part[part.len() - 1] + 1) * features].to_vec();
            out.extend(scorer.run(block, part.len(), None, None)?.0);
        }
        for s in 0..n {
            shuffled[s * features + j] = x[s * features + j];
        }
        let grown = loss(&out);
        let mut sums = vec![0.0f32; k];
        for s in 0..n {
            if class_of[s] < k {
                sums[class_of[s]] += grown[s] - base[s];
            }
        }
        for c in 0..k {
            permutation[c * features + j] = if samples[c] > 0 {
                sums[c] / samples[c] as f32
            } else {
                f32::NAN
            };
        }
    }
    Ok(Importance {
        features: data.feature_names.clone(),
        classes,
        attribution,
        permutation,
        against,
        samples,
    })
}
