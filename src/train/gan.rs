//! Training a generative adversarial network: the generator and the
//! discriminator take turns, each with its own Adam optimizer, over the same
//! batches, pause/stop and events as every other task.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use crate::model::cpu::adam::Adam;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::{
    Command, EpochMetrics, Event, Flow, Outcome, Progress, SplitMetrics, StartInfo, StepClock,
    Summary, TrainedModel, poll_commands,
};
use crate::data::split::{Split, split};
use crate::data::{Dataset, Preprocessing};
use crate::model::{Network, dropout};
use crate::spec::Experiment;
use crate::spec::shapes::Target;
use crate::train::device::DeviceChoice;

/// Generated samples beside real ones, after an epoch (epoch 0: before training).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GanSnapshot {
    pub epoch: usize,
    /// Shape of one sample (`[channels, height, width]` for images).
    pub shape: Vec<usize>,
    /// A few generated samples, `n × sample_len` row-major, in the data's units.
    pub generated: Vec<f32>,
    /// As many real samples, for comparison.
    pub real: Vec<f32>,
    pub shown: usize,
    /// Per feature: mean and standard deviation of real and generated samples.
    pub real_mean: Vec<f32>,
    pub real_std: Vec<f32>,
    pub fake_mean: Vec<f32>,
    pub fake_std: Vec<f32>,
    /// Pearson correlation of the per-feature means (real vs generated) and of
    /// the per-feature standard deviations: 1 when the generator matches them.
    pub mean_correlation: f64,
    pub std_correlation: f64,
    /// How alike the feature-feature correlation matrices of real and generated
    /// samples are (Pearson r over their upper triangles, up to 200 most
    /// variable features): near 0 for an untrained generator, which produces
    /// no realistic co-variation, and rising as it learns the data's structure.
    pub structure_correlation: f64,
    /// The same measure between two halves of the real samples: how high
    /// `structure_correlation` can get with this many samples.
    pub structure_ceiling: f64,
    /// Mean per-feature standard deviation of generated over real samples, in
    /// the scale the networks see (1 = the same spread; an untrained or
    /// collapsed generator is far below 1).
    pub spread_ratio: f64,
    /// 2-D projection (PCA fitted on the real samples) of real then generated samples.
    pub projection: Vec<[f64; 2]>,
    pub projected_real: usize,
}

/// Stable `log(1 + e^x)`.
fn softplus(x: Tensor<2>) -> Tensor<2> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// Binary cross-entropy of logits against a constant target `t` (1 = real).
fn bce_logits(logits: Tensor<2>, t: f64) -> Tensor<1> {
    let pos = softplus(logits.clone().neg()).mul_scalar(t);
    let neg = softplus(logits).mul_scalar(1.0 - t);
    (pos + neg).mean()
}

/// Train a GAN; called by [`super::run`] once the device is chosen.
pub(super) fn run(
    exp: Experiment,
    mut data: Dataset,
    choice: DeviceChoice,
    events: &Sender<Event>,
    commands: &Receiver<Command>,
    started: Instant,
) -> Result<Outcome, String> {
    let t = &exp.training;
    let g = &t.gan;
    let prep_start = Instant::now();
    let Split { train, .. } = split(data.len(), &data.labels, t.validation_fraction, 0.0, t.seed);
    if train.len() < 2 {
        return Err(format!(
            "{} has too few samples to train a GAN on",
            data.source.display()
        ));
    }
    let prep = Preprocessing::fit_to(&mut data, &exp.data.encoding, &train);
    // The samples view compares generated and real values side by side.
    data.densify();
    let values = prep.transform(&data);
    let sample_len = data.sample_len();
    let prep_seconds = prep_start.elapsed().as_secs_f64();

    let ad = choice.device.clone().autodiff();
    let target = Target::Reconstruct;
    let (mut model, report) = super::seeded_build(&exp, &data, &target, &choice.device, t.seed)
        .map_err(|e| format!("the network does not fit the data: {e}"))?;
    let noise = exp.architecture.noise_size;

    let batch = t.batch_size.min(train.len()).max(1);
    let steps_per_epoch = train.len().div_ceil(batch);
    let total_steps = steps_per_epoch * t.epochs;
    let _ = events.send(Event::Started(StartInfo {
        device: choice.name.clone(),
        is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        driver: choice.driver.clone(),
        train_samples: train.len(),
        valid_samples: 0,
        test_samples: 0,
        steps_per_epoch,
        epochs: t.epochs,
        parameters: report.total_params(),
        data_notes: data.notes.clone(),
    }));

    let adam = || Adam::optimizer(g.beta1 as f32, 0.999, None);
    let mut optim_g: ModuleOptimizer = adam();
    let mut optim_d: ModuleOptimizer = adam();
    let real_target = 1.0 - g.label_smoothing;
    // Real and generated samples through the discriminator as one batch: one
    // product per layer instead of two, the same scores unless a layer
    // (batch normalisation) looks across the batch.
    let together = !model.discriminator_mixes_batch();

    // Real samples the generated ones are compared with (fixed across epochs).
    let shown_real: Vec<usize> = train.iter().copied().take(SNAPSHOT_SAMPLES).collect();
    let snapshot = |model: &Network, epoch| {
        gan_snapshot(
            &model.valid(),
            &values,
            &data.values,
            &prep,
            sample_len,
            &data.shape,
            &shown_real,
            noise,
            &choice.device,
            epoch,
        )
    };
    let _ = events.send(Event::GanSamples(snapshot(&model, 0)));

    let mut order = train.clone();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(t.seed.wrapping_add(1));
    let mut history = Vec::new();
    let mut stopped_by_user = false;
    let mut clock = StepClock::new();

    'epochs: for epoch in 1..=t.epochs {
        let epoch_start = Instant::now();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        let mut sums = GanSums::default();
        for (step, chunk) in order.chunks(batch).enumerate() {
            if let Flow::Stop = poll_commands(commands, events) {
                stopped_by_user = true;
                break 'epochs;
            }
            let step_start = Instant::now();
            let b = chunk.len();
            let mut buf = Vec::with_capacity(b * sample_len);
            for &i in chunk {
                buf.extend_from_slice(&values[i * sample_len..(i + 1) * sample_len]);
            }
            let real = Tensor::<2>::from_data(TensorData::new(buf, [b, sample_len]), &ad);

            // Discriminator: real toward 1 (or 1 − smoothing), generated toward 0.
            let mut fake = model.generate(dropout::normal([b, noise], &ad));
            let mut d_loss_value = 0.0;
            let (mut real_right, mut fake_right) = (0.0, 0.0);
            for k in 0..g.discriminator_steps {
                if k > 0 {
                    fake = model.generate(dropout::normal([b, noise], &ad));
                }
                let (d_real, d_fake) = if together {
                    let both = model
                        .discriminate(Tensor::cat(vec![real.clone(), fake.clone().detach()], 0));
                    (both.clone().slice(0..b), both.slice(b..2 * b))
                } else {
                    (
                        model.discriminate(real.clone()),
                        model.discriminate(fake.clone().detach()),
                    )
                };
                real_right = d_real
                    .clone()
                    .greater_elem(0.0)
                    .int()
                    .sum()
                    .into_scalar::<i64>() as f64;
                fake_right = d_fake
                    .clone()
                    .lower_equal_elem(0.0)
                    .int()
                    .sum()
                    .into_scalar::<i64>() as f64;
                let d_loss = bce_logits(d_real, real_target) + bce_logits(d_fake, 0.0);
                d_loss_value = d_loss.clone().into_scalar::<f32>() as f64;
                let mut grads = d_loss.backward();
                let grads = GradientsParams::from_module(&mut grads, &model.stacks[1]);
                model = optim_d.step(g.discriminator_learning_rate, model, grads);
            }
            // Generator (non-saturating): make the updated discriminator say "real".
            let g_loss = bce_logits(model.discriminate_fixed(fake), 1.0);
            let g_loss_value = g_loss.clone().into_scalar::<f32>() as f64;
            if !(g_loss_value.is_finite() && d_loss_value.is_finite()) {
                return Err(format!(
                    "the GAN's loss became {} at epoch {epoch}, step {}; training stopped. Try lower learning rates (now {} and {}) or label smoothing",
                    if g_loss_value.is_finite() {
                        d_loss_value
                    } else {
                        g_loss_value
                    },
                    step + 1,
                    g.generator_learning_rate,
                    g.discriminator_learning_rate
                ));
            }
            let mut grads = g_loss.backward();
            let grads = GradientsParams::from_module(&mut grads, &model.stacks[0]);
            model = optim_g.step(g.generator_learning_rate, model, grads);

            sums.add(b, g_loss_value, d_loss_value, real_right, fake_right);
            clock.step_done(step_start);
            if clock.report_due(step + 1 == steps_per_epoch) {
                let _ = events.send(Event::Progress(Progress {
                    epoch,
                    step: step + 1,
                    steps_per_epoch,
                    epochs: t.epochs,
                    loss: sums.g / sums.n.max(1) as f64,
                    samples_per_second: clock.per_second(clock.steps * batch),
                    eta_seconds: clock.eta(total_steps),
                }));
            }
        }
        if sums.n == 0 {
            break;
        }
        let metrics = EpochMetrics {
            epoch,
            train: sums.metrics(),
            valid: None,
            seconds: epoch_start.elapsed().as_secs_f64(),
            learning_rate: None,
            confusion: None,
        };
        let _ = events.send(Event::Epoch(metrics.clone()));
        history.push(metrics);
        let _ = events.send(Event::GanSamples(snapshot(&model, epoch)));
    }

    let summary = Summary {
        task: exp.task,
        device: choice.name.clone(),
        device_is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        epochs_completed: history.len(),
        epochs_planned: t.epochs,
        stopped_early: false,
        stopped_by_user,
        best_epoch: None,
        kept_epoch: None,
        train_samples: train.len(),
        valid_samples: 0,
        test_samples: 0,
        parameters: report.total_params(),
        wall_seconds: started.elapsed().as_secs_f64(),
        prep_seconds,
        train_seconds: clock.time.as_secs_f64(),
        first_step_seconds: clock.first_step_seconds,
        samples_per_second: clock.per_second(clock.steps * batch),
        final_train: history.last().map(|h| h.train.clone()),
        final_valid: None,
        chance_accuracy: None,
        confusion: None,
        validation: None,
        test: None,
        rl: None,
        notes: Vec::new(),
        reproducibility: None,
    };
    Ok(Outcome {
        model: TrainedModel::of(exp, model.valid(), prep, &data, target),
        summary,
        history,
    })
}

#[derive(Default)]
struct GanSums {
    n: usize,
    g: f64,
    d: f64,
    real_right: f64,
    fake_right: f64,
}

impl GanSums {
    fn add(&mut self, b: usize, g: f64, d: f64, real_right: f64, fake_right: f64) {
        self.n += b;
        self.g += g * b as f64;
        self.d += d * b as f64;
        self.real_right += real_right;
        self.fake_right += fake_right;
    }

    fn metrics(&self) -> SplitMetrics {
        let n = self.n.max(1) as f64;
        SplitMetrics {
            loss: self.g / n,
            discriminator_loss: Some(self.d / n),
            real_accuracy: Some(self.real_right / n),
            fake_accuracy: Some(self.fake_right / n),
            ..SplitMetrics::default()
        }
    }
}

/// Real samples compared with as many generated ones in each snapshot.
const SNAPSHOT_SAMPLES: usize = 500;

/// Samples from a trained (or untrained) generator, `n × sample_len`, drawn on
/// `device` (the network is moved there: after GPU training it is still on the GPU).
pub fn generate(model: &Network, n: usize, noise: usize, device: &Device) -> Vec<f32> {
    let z = dropout::normal([n, noise], device);
    model
        .clone()
        .to_device(device)
        .generate(z)
        .into_data()
        .try_to_vec::<f32>()
        .expect("generated samples are f32")
}

#[allow(clippy::too_many_arguments)]
fn gan_snapshot(
    model: &Network,
    values: &[f32],
    raw: &[f32],
    prep: &Preprocessing,
    sample_len: usize,
    shape: &[usize],
    real_idx: &[usize],
    noise: usize,
    device: &Device,
    epoch: usize,
) -> GanSnapshot {
    let n = real_idx.len();
    let fake = generate(model, n, noise, device);
    let pick = |m: &[f32]| {
        let mut out = Vec::with_capacity(n * sample_len);
        for &i in real_idx {
            out.extend_from_slice(&m[i * sample_len..(i + 1) * sample_len]);
        }
        out
    };
    // The map is drawn in the scale the networks see; statistics and pictures
    // are in the data's own units (standardised features all have mean 0).
    let real_enc = pick(values);
    let projection = crate::analysis::project_pair(&real_enc, &fake, n, sample_len);
    let real = pick(raw);
    let (_, raw_std) = column_stats(&real, n, sample_len);
    let (_, enc_real_std) = column_stats(&real_enc, n, sample_len);
    let (_, enc_fake_std) = column_stats(&fake, n, sample_len);
    let spread_ratio = enc_fake_std.iter().map(|&v| v as f64).sum::<f64>()
        / enc_real_std
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            .max(1e-12);
    // Generated against real with as many samples on each side as the two
    // halves of the real data have, so the two numbers compare fairly.
    let half = n / 2;
    let structure_correlation = structure_similarity(
        &real_enc[half * sample_len..2 * half * sample_len],
        &fake[..half * sample_len],
        half,
        sample_len,
        &raw_std,
    );
    let structure_ceiling = structure_similarity(
        &real_enc[..half * sample_len],
        &real_enc[half * sample_len..2 * half * sample_len],
        half,
        sample_len,
        &raw_std,
    );
    let mut fake = fake;
    fake.chunks_mut(sample_len.max(1))
        .for_each(|row| prep.invert(row));
    let (real_mean, real_std) = column_stats(&real, n, sample_len);
    let (fake_mean, fake_std) = column_stats(&fake, n, sample_len);
    let shown = n.min(16);
    GanSnapshot {
        epoch,
        shape: shape.to_vec(),
        generated: fake[..shown * sample_len].to_vec(),
        real: real[..shown * sample_len].to_vec(),
        shown,
        mean_correlation: pearson(&real_mean, &fake_mean),
        std_correlation: pearson(&real_std, &fake_std),
        structure_correlation,
        structure_ceiling,
        spread_ratio,
        real_mean,
        real_std,
        fake_mean,
        fake_std,
        projection,
        projected_real: n,
    }
}

/// Features compared in [`structure_similarity`] at most.
const STRUCTURE_FEATURES: usize = 200;

/// Pearson r between the feature-feature correlation matrices (upper triangles)
/// of `a` and `b` (`n × d` each), over the `STRUCTURE_FEATURES` features with the
/// largest `rank_by` (e.g. their spread in the data's units).
pub fn structure_similarity(a: &[f32], b: &[f32], n: usize, d: usize, rank_by: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&x, &y| rank_by[y].total_cmp(&rank_by[x]).then(x.cmp(&y)));
    order.truncate(STRUCTURE_FEATURES);
    order.sort_unstable();
    let corr = |m: &[f32]| -> Vec<f32> {
        let k = order.len();
        // Columns standardised, then C = Zᵀ Z / n.
        let mut z = vec![0.0f64; n * k];
        for (c, &j) in order.iter().enumerate() {
            let col: Vec<f64> = (0..n).map(|i| m[i * d + j] as f64).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            for i in 0..n {
                z[i * k + c] = if sd > 1e-9 { (col[i] - mean) / sd } else { 0.0 };
            }
        }
        let mut out = Vec::with_capacity(k * (k - 1) / 2);
        for p in 0..k {
            for q in p + 1..k {
                let s: f64 = (0..n).map(|i| z[i * k + p] * z[i * k + q]).sum();
                out.push((s / n as f64) as f32);
            }
        }
        out
    };
    if n < 3 || order.len() < 3 {
        return 0.0;
    }
    pearson(&corr(a), &corr(b))
}

/// Per-column mean and standard deviation of an `n × d` matrix.
pub fn column_stats(m: &[f32], n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0.0f64; d];
    let mut sq = vec![0.0f64; d];
    for row in m.chunks(d).take(n) {
        for (j, &v) in row.iter().enumerate() {
            sum[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq
        .iter()
        .zip(&sum)
        .map(|(q, s)| ((q / n - (s / n).powi(2)).max(0.0)).sqrt() as f32)
        .collect();
    (mean, std)
}

/// Pearson correlation; 0 when either side is constant.
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_of_logits_matches_the_formula_and_stays_finite() {
        let device = Device::flex();
        let l = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 2.0, -300.0], [3, 1]), &device);
        let got = bce_logits(l, 1.0).into_scalar::<f32>() as f64;
        let want = ((2f64).ln() + (1.0 + (-2f64).exp()).ln() + 300.0) / 3.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn pearson_and_column_stats() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        let (m, s) = column_stats(&[1.0, 10.0, 3.0, 10.0], 2, 2);
        assert_eq!(m, vec![2.0, 10.0]);
        assert_eq!(s, vec![1.0, 0.0]);
    }
}
