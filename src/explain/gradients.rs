//! Attributions from gradients: gradient × input, and integrated gradients
//! (Sundararajan et al. 2017) from a baseline of zeros or of the sample's own
//! values shuffled, with a configurable number of steps (midpoint rule).
//! Integrated gradients are complete: a sample's attributions sum to its
//! score minus the baseline's, up to the error of the steps.

use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::*;

/// How attributions are computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The gradient of the score times the input (one pass).
    GradientTimesInput,
    /// The gradient averaged along the straight path from `baseline` to the
    /// input, times their difference; `steps` points on the path.
    IntegratedGradients { steps: usize, baseline: Baseline },
}

/// Where integrated gradients start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// All zeros in the encoded scale (no letter; the mean for standardised tables).
    Zeros,
    /// The sample's own positions (sequences), pixels (images) or values
    /// (tables) shuffled, with this seed.
    Shuffled { seed: u64 },
}

/// Each sample's attributions, in the layout of the encoded input.
#[derive(Debug, Clone)]
pub struct Attributions {
    /// The sample shape: `[features]`, `[letters, length]` or `[channels, height, width]`.
    pub shape: Vec<usize>,
    /// `samples × shape`, row-major, channel first.
    pub values: Vec<f32>,
    /// The output each sample is explained for.
    pub targets: Vec<usize>,
    /// That output's score at the sample.
    pub scores: Vec<f32>,
    /// And at the baseline (integrated gradients only).
    pub baseline_scores: Option<Vec<f32>>,
}

impl Attributions {
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// One value per position (sequences, summed over letters), pixel
    /// (images, summed over channels) or feature (tables): `samples × width`,
    /// and the width.
    pub fn summed(&self) -> (Vec<f32>, usize) {
        let per_sample: usize = self.shape.iter().product::<usize>().max(1);
        let (channels, width) = match self.shape[..] {
            [f] => (1, f),
            [c, ..] => (c, per_sample / c.max(1)),
            [] => (1, 0),
        };
        let mut out = vec![0.0f32; self.len() * width];
        for (sample, o) in self
            .values
            .chunks(per_sample)
            .zip(out.chunks_mut(width.max(1)))
        {
            for c in 0..channels {
                for (acc, v) in o.iter_mut().zip(&sample[c * width..(c + 1) * width]) {
                    *acc += v;
                }
            }
        }
        (out, width)
    }
}

/// Attributions of every sample of `data` (raw values, as read) to the output
/// `explained` of `model`, on `device` (its autodiff twin is used).
pub fn attribute(
    model: &TrainedModel,
    data: &Dataset,
    method: &Method,
    explained: &Explained,
    device: &Device,
) -> Result<Attributions, ExplainError> {
    let scorer = Scorer::new(model, data, device)?;
    let task = model.experiment.task;
    let sample_len = data.sample_len();
    let steps = match method {
        Method::GradientTimesInput => 1,
        Method::IntegratedGradients { steps, .. } => (*steps).max(1),
    };
    // About 256 rows per pass, whatever the steps.
    let chunk = (256 / steps).max(1);
    let mut out = Attributions {
        shape: data.shape.clone(),
        values: Vec::with_capacity(data.len() * sample_len),
        targets: Vec::with_capacity(data.len()),
        scores: Vec::with_capacity(data.len()),
        baseline_scores: matches!(method, Method::IntegratedGradients { .. }).then(Vec::new),
    };
    let idx: Vec<usize> = (0..data.len()).collect();
    for part in idx.chunks(chunk) {
        let (x, lengths) = rows(model, data, part);
        let (scores, _) = scorer.run(x.clone(), part.len(), lengths.clone(), None)?;
        let targets = scorer.targets(explained, &scores, task)?;
        let picked = |s: &[f32]| -> Vec<f32> {
            targets
                .iter()
                .enumerate()
                .map(|(r, &t)| s[r * scorer.outputs + t])
                .collect()
        };
        out.scores.extend(picked(&scores));
        match method {
            Method::GradientTimesInput => {
                let (_, g) = scorer.run(x.clone(), part.len(), lengths, Some(&targets))?;
                let g = g.unwrap_or_default();
                out.values.extend(g.iter().zip(&x).map(|(g, x)| g * x));
            }
            Method::IntegratedGradients { baseline, .. } => {
                let base = baselines(&x, part, data, lengths.as_deref(), *baseline);
                let (base_scores, _) =
                    scorer.run(base.clone(), part.len(), lengths.clone(), None)?;
                if let Some(b) = &mut out.baseline_scores {
                    b.extend(picked(&base_scores));
                }
                // Every sample's points on its path, one block of `steps` rows each.
                let mut path = Vec::with_capacity(part.len() * steps * sample_len);
                for (xs, bs) in x.chunks(sample_len).zip(base.chunks(sample_len)) {
                    for k in 0..steps {
                        let a = (k as f32 + 0.5) / steps as f32;
                        path.extend(xs.iter().zip(bs).map(|(x, b)| b + a * (x - b)));
                    }
                }
                let rep = |v: &[usize]| -> Vec<usize> {
                    v.iter()
                        .flat_map(|&t| std::iter::repeat_n(t, steps))
                        .collect()
                };
                let path_targets = rep(&targets);
                let path_lengths = lengths.as_deref().map(rep);
                let (_, g) =
                    scorer.run(path, part.len() * steps, path_lengths, Some(&path_targets))?;
                let g = g.unwrap_or_default();
                for (s, (xs, bs)) in x
                    .chunks(sample_len)
                    .zip(base.chunks(sample_len))
                    .enumerate()
                {
                    let grads = &g[s * steps * sample_len..(s + 1) * steps * sample_len];
                    for j in 0..sample_len {
                        let mean: f32 = (0..steps).map(|k| grads[k * sample_len + j]).sum::<f32>()
                            / steps as f32;
                        out.values.push((xs[j] - bs[j]) * mean);
                    }
                }
            }
        }
        out.targets.extend(targets);
    }
    Ok(out)
}

/// The baseline of each sample in `x` (rows of encoded values).
pub(super) fn baselines(
    x: &[f32],
    idx: &[usize],
    data: &Dataset,
    lengths: Option<&[usize]>,
    baseline: Baseline,
) -> Vec<f32> {
    let seed = match baseline {
        Baseline::Zeros => return vec![0.0; x.len()],
        Baseline::Shuffled { seed } => seed,
    };
    let sample_len = data.sample_len().max(1);
    let (channels, width) = match data.shape[..] {
        [f] => (1, f),
        [c, ..] => (c, sample_len / c.max(1)),
        [] => (1, 0),
    };
    let mut out = x.to_vec();
    for (r, row) in out.chunks_mut(sample_len).enumerate() {
        // Each sample its own order, the same whatever else is explained with it.
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed ^ (idx[r] as u64).wrapping_mul(0x9E37));
        let valid = lengths.map_or(width, |l| l[r].min(width));
        let mut order: Vec<usize> = (0..valid).collect();
        order.shuffle(&mut rng);
        let source = row.to_vec();
        for c in 0..channels {
            for (to, &from) in order.iter().enumerate() {
                row[c * width + to] = source[c * width + from];
            }
        }
    }
    out
}
