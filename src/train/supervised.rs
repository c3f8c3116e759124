//! The loop of the supervised and autoencoding tasks (classification, regression,
//! autoencoder, VAE): epochs of batches, the loss each task asks for (with class
//! weights), the learning-rate schedule, validation with a live confusion
//! matrix, early stopping and keeping the best weights, NaN checks, the
//! snapshots sent along the way, and scoring the kept model on the validation
//! and test splits at the end (the metrics themselves are `evaluation`'s).

use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};

use super::evaluation::{self, Evaluation};
use super::schedule::LearningRate;
use super::*;
use crate::data::split::{Split, split_folds};
use crate::data::{Labels, Preprocessing};
use crate::model::Network;
use crate::spec::{ClassWeights, Task};

/// Train synchronously, reporting through `events`; what a worker thread runs.
pub fn run(
    job: Job,
    events: &Sender<Event>,
    commands: &Receiver<Command>,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let Job {
        experiment: exp,
        dataset,
        device,
        resume,
        init_from,
        init_from_folder,
        threads: _,
        yield_to_window: _,
    } = job;
    // Preprocessing changes the values in place: a copy, made here on the
    // worker's thread, only when the window still holds the same data.
    let mut data = std::sync::Arc::unwrap_or_clone(dataset);
    let init_from = match (init_from, init_from_folder) {
        (Some(w), _) => Some(w),
        (None, Some(dir)) => Some(
            crate::export::initial_weights(&dir)
                .map_err(|e| format!("cannot start from the model {}: {e}", dir.display()))?,
        ),
        (None, None) => None,
    };
    exp.validate().map_err(|e| e.to_string())?;
    let target = data.target(exp.task).map_err(|e| e.to_string())?;
    let choice = device::choose(device)?;
    if (resume.is_some() || init_from.is_some()) && matches!(exp.task, Task::Gan | Task::Dqn) {
        return Err(
            "GAN and DQN runs cannot be continued from a checkpoint or a saved model yet".into(),
        );
    }
    if exp.task == Task::Gan {
        return gan::run(exp, data, choice, events, commands, started);
    }
    if exp.task == Task::Dqn {
        return dqn::run(exp, data, choice, events, commands, started);
    }
    let t = &exp.training;

    let prep_start = Instant::now();
    let Split { train, valid, test } = split_of(&exp, &data);
    if train.is_empty() {
        return Err(format!(
            "{} has no samples to train on",
            data.source.display()
        ));
    }
    let weights = class_weights(&data.labels, t.class_weights, exp.task, &train);
    let keep_best = t.keep_best_weights || t.early_stopping_patience > 0;
    let prep = Preprocessing::fit_to(&mut data, &exp.data.encoding, &train);
    let values = encoded(&data, &prep);
    let prep_seconds = prep_start.elapsed().as_secs_f64();

    let ad = choice.device.clone().autodiff();
    let (mut model, report) = seeded_build(&exp, &data, &target, &choice.device, t.seed)
        .map_err(|e| format!("the network does not fit the data: {e}"))?;

    let batch = t.batch_size.min(train.len()).max(1);
    let steps_per_epoch = train.len().div_ceil(batch);
    let total_steps = steps_per_epoch * t.epochs;
    let _ = events.send(Event::Started(StartInfo {
        device: choice.name.clone(),
        is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        driver: choice.driver.clone(),
        train_samples: train.len(),
        valid_samples: valid.len(),
        test_samples: test.len(),
        steps_per_epoch,
        epochs: t.epochs,
        parameters: report.total_params(),
        data_notes: data.notes.clone(),
    }));

    if valid.is_empty() && t.validation_fraction > 0.0 {
        // Asked for, but too few samples to hold any back: said, not hidden.
        let _ = events.send(Event::Note(format!(
            "{} samples are too few to hold back a validation share of {:.0}%: this run has no validation samples, so nothing tells how it does on samples it has not seen. Use more samples, or a larger validation share.",
            data.len(),
            t.validation_fraction * 100.0
        )));
    }
    if let Some(init) = &init_from
        && resume.is_none()
    {
        let (loaded, note) = crate::export::copy_matching_weights(&exp, &model, init)
            .map_err(|e| format!("cannot start from {}: {e}", init.source))?;
        model = loaded;
        let _ = events.send(Event::Note(note));
    }
    model = checkpoint::freeze(model, &exp);
    let mut optim = optimizer(&exp);
    let mut history = Vec::new();
    // The best epoch's weights as a copy without autodiff: a clone of the
    // training network would share its batch-norm running statistics, which
    // go on changing.
    let mut best: Option<(f64, usize, Network)> = None;
    let mut since_best = 0;
    let mut clock = StepClock::new();
    let mut rate = LearningRate::new(t.learning_rate, t.schedule, t.epochs, steps_per_epoch);
    let mut first_epoch = 1;
    if let Some(ck) = &resume {
        let st = &ck.state;
        if st.seed != t.seed {
            return Err(format!(
                "the checkpoint was taken with seed {}, the experiment has seed {}",
                st.seed, t.seed
            ));
        }
        model = checkpoint::with_param_ids(
            checkpoint::with_weights(&model, &ck.weights)?,
            &st.param_ids,
        )?;
        optim = checkpoint::with_optimizer_state(optim, &ck.optimizer)?;
        history = st.history.clone();
        since_best = st.since_best;
        best = match (st.best, &ck.best_weights) {
            (Some((loss, epoch)), Some(w)) => {
                Some((loss, epoch, checkpoint::with_weights(&model, w)?.valid()))
            }
            (Some((loss, epoch)), None) => Some((loss, epoch, model.valid())),
            (None, _) => None,
        };
        clock.resume(st.steps, st.train_seconds, st.first_step_seconds);
        rate.state = st.schedule;
        first_epoch = st.epoch + 1;
    }
    let batcher = Batcher::new(&values, &data, &prep, &data.labels, &model)
        .lengths_rounded_to(length_step(&choice.device));
    let mut order = train.clone();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(t.seed.wrapping_add(1));
    // A continued run shuffles as the uninterrupted one did.
    for _ in 1..first_epoch {
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    }
    let mut stopped_by_user = false;
    let mut stopped_early = false;

    // The run's first step's loss, to tell divergence by.
    let mut first_loss: Option<f64> = None;
    'epochs: for epoch in first_epoch..=t.epochs {
        let epoch_start = Instant::now();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        // Each epoch's draws follow from the seed and the epoch alone, so a
        // run continued from a checkpoint draws what it would have.
        let epoch_seed = checkpoint::epoch_seed(t.seed, epoch);
        crate::model::dropout::seed(epoch_seed);
        let mut augmenter = if data.kind == crate::data::DataKind::Images {
            augment::Augmenter::new(t.augment, &data.shape, epoch_seed)
        } else {
            None
        };
        let mut acc = Accumulator::default();
        for (step, chunk) in order.chunks(batch).enumerate() {
            match poll_commands(commands, events) {
                Flow::Continue => {}
                Flow::Stop => {
                    stopped_by_user = true;
                    break 'epochs;
                }
            }
            let step_start = Instant::now();
            model.warm_batch_norm(clock.steps);
            let (x, y, lens) = batcher.batch_with(chunk, &ad, augmenter.as_mut());
            let out = model.forward_padded(x.clone(), lens.as_deref(), true);
            let lr = rate.at(epoch, step);
            let parts = loss(exp.task, out, x, y.clone(), &ad, weights.as_deref());
            let loss_value: f64 = parts.total.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return Err(format!(
                    "the loss became {} at epoch {epoch}, step {}; training stopped. Try a lower learning rate (now {}), gradient clipping, or check the data for extreme values",
                    if loss_value.is_nan() {
                        "NaN"
                    } else {
                        "infinite"
                    },
                    step + 1,
                    lr
                ));
            }
            // A loss ten thousand times its first value is a run that has
            // diverged (a learning rate far too high): stopped, not saved.
            let first = *first_loss.get_or_insert(loss_value);
            if loss_value > 1e4 * first.abs().max(1e-3) {
                return Err(format!(
                    "training diverged: the loss grew from {first:.4} at the first step to {loss_value:.4e} at epoch {epoch}, step {}; training stopped and no model was kept. Lower the learning rate (now {lr}: try 0.001 for Adam), or turn on gradient clipping",
                    step + 1
                ));
            }
            acc.add(&parts, chunk.len(), loss_value);
            let grads = GradientsParams::from_grads(parts.total.backward(), &model);
            model = optim.step(lr, model, grads);
            clock.step_done(step_start);
            if clock.report_due(step + 1 == steps_per_epoch) {
                let _ = events.send(Event::Progress(Progress {
                    epoch,
                    step: step + 1,
                    steps_per_epoch,
                    epochs: t.epochs,
                    loss: acc.loss / acc.n as f64,
                    samples_per_second: clock.per_second(clock.steps * batch),
                    eta_seconds: clock.eta(total_steps),
                }));
            }
        }
        let train_metrics = acc.metrics();
        let eval_model = model.valid();
        let scored = (!valid.is_empty()).then(|| {
            score(
                &eval_model,
                exp.task,
                &batcher,
                &valid,
                batch,
                &choice.device,
                weights.as_deref(),
            )
        });
        let confusion = match (&scored, &data.labels) {
            (Some((_, probs)), Labels::Classes { index, names })
                if exp.task == Task::Classification =>
            {
                let truth: Vec<usize> = valid.iter().map(|&i| index[i]).collect();
                Some(evaluation::confusion(probs, &truth, names.len()))
            }
            _ => None,
        };
        let valid_metrics = scored.map(|(m, _)| m);
        let metrics = EpochMetrics {
            epoch,
            train: train_metrics,
            valid: valid_metrics.clone(),
            seconds: epoch_start.elapsed().as_secs_f64(),
            learning_rate: Some(rate.at(epoch, steps_per_epoch - 1)),
            confusion,
        };
        let _ = events.send(Event::Epoch(metrics.clone()));
        history.push(metrics);
        if !valid.is_empty() {
            let snapshot = latent_snapshot(
                &eval_model,
                &batcher,
                &valid,
                &data,
                batch,
                &choice.device,
                epoch,
            );
            if let Some(s) = snapshot {
                let _ = events.send(Event::Latent(s));
            }
            if let Some(s) =
                attention_snapshot(&eval_model, &batcher, &valid, &data, &choice.device, epoch)
            {
                let _ = events.send(Event::Attention(s));
            }
            if matches!(exp.task, Task::Autoencoder | Task::Vae)
                && let Some(s) = reconstruction_snapshot(
                    &eval_model,
                    &batcher,
                    &valid,
                    &data,
                    &choice.device,
                    epoch,
                )
            {
                let _ = events.send(Event::Reconstructions(s));
            }
        }

        if let Some(new) = rate.epoch_done(valid_metrics.as_ref().map(|v| v.loss)) {
            let _ = events.send(Event::Note(format!(
                "epoch {epoch}: the validation loss stopped improving; the learning rate is now {new:.3e}"
            )));
        }
        if let Some(v) = &valid_metrics {
            let improved = best.as_ref().is_none_or(|(b, _, _)| v.loss < *b);
            if improved {
                best = Some((v.loss, epoch, eval_model.clone()));
                since_best = 0;
            } else {
                since_best += 1;
                if t.early_stopping_patience > 0 && since_best >= t.early_stopping_patience {
                    stopped_early = true;
                    break;
                }
            }
        }
        let every = t.checkpoint_every;
        if every > 0 && epoch % every == 0 && epoch < t.epochs {
            let best_weights = match (&best, keep_best) {
                (Some((_, _, m)), true) => Some(checkpoint::network_bytes(m)?),
                _ => None,
            };
            let ck = Checkpoint {
                state: CheckpointState {
                    epoch,
                    seed: t.seed,
                    param_ids: checkpoint::param_ids(&model),
                    history: history.clone(),
                    best: best.as_ref().map(|(l, e, _)| (*l, *e)),
                    since_best,
                    steps: clock.steps,
                    train_seconds: clock.time.as_secs_f64(),
                    first_step_seconds: clock.first_step_seconds,
                    schedule: rate.state,
                },
                weights: checkpoint::network_bytes(&model)?,
                optimizer: checkpoint::optimizer_bytes(&optim)?,
                best_weights,
            };
            let _ = events.send(Event::Checkpoint(Box::new(ck)));
        }
    }

    // The best epoch's weights are kept when asked for (always with early
    // stopping); otherwise the last.
    let best_epoch = best.as_ref().map(|(_, e, _)| *e);
    let mut kept_epoch = history.last().map(|h| h.epoch);
    let mut kept = model.valid();
    if keep_best && let Some((_, e, m)) = best {
        kept = m;
        kept_epoch = Some(e);
    }
    let final_train = history.last().map(|h| h.train.clone());
    let final_valid = if keep_best {
        best_epoch
            .and_then(|e| history.get(e - 1))
            .and_then(|h| h.valid.clone())
    } else {
        history.last().and_then(|h| h.valid.clone())
    };
    let chance_accuracy = match &data.labels {
        Labels::Classes { .. } => {
            let counts = data.labels.class_counts();
            counts.iter().max().map(|&m| m as f64 / data.len() as f64)
        }
        _ => None,
    };
    let evaluate = |name: &str, idx: &[usize]| -> Option<Evaluation> {
        if idx.is_empty() {
            return None;
        }
        let (m, scores) = score(
            &kept,
            exp.task,
            &batcher,
            idx,
            batch,
            &choice.device,
            weights.as_deref(),
        );
        Some(evaluation::of_scores(
            name,
            idx,
            m.loss,
            &scores,
            exp.task,
            &data.labels,
        ))
    };
    let validation = evaluate("validation", &valid);
    let test_report = evaluate("test", &test);
    let summary = Summary {
        confusion: validation
            .as_ref()
            .and_then(|v| v.classifier.as_ref())
            .map(|c| c.confusion.clone()),
        validation,
        test: test_report,
        task: exp.task,
        device: choice.name.clone(),
        device_is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        epochs_completed: history.len(),
        epochs_planned: t.epochs,
        stopped_early,
        stopped_by_user,
        best_epoch,
        kept_epoch,
        train_samples: train.len(),
        valid_samples: valid.len(),
        test_samples: test.len(),
        parameters: report.total_params(),
        wall_seconds: started.elapsed().as_secs_f64(),
        prep_seconds,
        first_step_seconds: clock.first_step_seconds,
        train_seconds: clock.time.as_secs_f64(),
        samples_per_second: clock.per_second(clock.steps * batch),
        final_train,
        final_valid,
        chance_accuracy,
        rl: None,
        notes: Vec::new(),
        reproducibility: None,
    };
    Ok(Outcome {
        model: TrainedModel::of(exp, kept, prep, &data, target),
        summary,
        history,
    })
}

pub(super) struct LossParts {
    pub(super) total: Tensor<1>,
    /// Number of correct predictions in the batch (classification).
    pub(super) correct: Option<Tensor<1, Int>>,
    pub(super) reconstruction: Option<Tensor<1>>,
    pub(super) kl: Option<Tensor<1>>,
}

/// Balanced class weights from the training samples' classes: each class
/// counts as much as the others in total (a class with no training samples, 0).
fn class_weights(
    labels: &Labels,
    how: ClassWeights,
    task: Task,
    train: &[usize],
) -> Option<Vec<f32>> {
    let Labels::Classes { index, names } = labels else {
        return None;
    };
    if how != ClassWeights::Balanced || task != Task::Classification {
        return None;
    }
    let mut counts = vec![0usize; names.len()];
    for &i in train {
        counts[index[i]] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count() as f32;
    Some(
        counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    train.len() as f32 / (present * c as f32)
                }
            })
            .collect(),
    )
}

pub(super) fn loss(
    task: Task,
    out: crate::model::Forward,
    x: Tensor<2>,
    y: Y,
    device: &Device,
    class_weights: Option<&[f32]>,
) -> LossParts {
    match (task, y) {
        (Task::Classification, Y::Classes(y)) => {
            let correct = out
                .output
                .clone()
                .argmax(1)
                .flatten::<1>(0, 1)
                .equal(y.clone())
                .int()
                .sum();
            let total = CrossEntropyLossConfig::new()
                .with_weights(class_weights.map(<[f32]>::to_vec))
                .init(device)
                .forward(out.output, y);
            LossParts {
                total,
                correct: Some(correct),
                reconstruction: None,
                kl: None,
            }
        }
        (Task::Regression, Y::Values(y)) => LossParts {
            total: (out.output - y).powi_scalar(2).mean(),
            correct: None,
            reconstruction: None,
            kl: None,
        },
        (Task::Vae, _) => {
            // Mean over samples of [Σ features (x̂ − x)² + KL(q(z|x) ‖ N(0, 1))].
            let recon = (out.output - x).powi_scalar(2).sum_dim(1).mean();
            let (mean, log_var) = out
                .vae
                .expect("a VAE network always reports mean and log-variance");
            let kl = (log_var.clone().exp() + mean.powi_scalar(2) - log_var - 1.0)
                .sum_dim(1)
                .mean()
                .mul_scalar(0.5);
            LossParts {
                total: recon.clone() + kl.clone(),
                correct: None,
                reconstruction: Some(recon),
                kl: Some(kl),
            }
        }
        (_, _) => LossParts {
            // Autoencoder (and any task without targets): mean squared reconstruction error.
            total: (out.output - x).powi_scalar(2).mean(),
            correct: None,
            reconstruction: None,
            kl: None,
        },
    }
}

/// Sample-weighted sums of the loss parts over an epoch.
#[derive(Default)]
pub(super) struct Accumulator {
    pub(super) n: usize,
    pub(super) loss: f64,
    pub(super) correct: Option<i64>,
    pub(super) reconstruction: Option<f64>,
    pub(super) kl: Option<f64>,
}

impl Accumulator {
    pub(super) fn add(&mut self, parts: &LossParts, n: usize, loss_value: f64) {
        self.n += n;
        self.loss += loss_value * n as f64;
        if let Some(c) = &parts.correct {
            *self.correct.get_or_insert(0) += c.clone().into_scalar::<i64>();
        }
        if let Some(r) = &parts.reconstruction {
            *self.reconstruction.get_or_insert(0.0) +=
                r.clone().into_scalar::<f32>() as f64 * n as f64;
        }
        if let Some(k) = &parts.kl {
            *self.kl.get_or_insert(0.0) += k.clone().into_scalar::<f32>() as f64 * n as f64;
        }
    }

    pub(super) fn metrics(&self) -> SplitMetrics {
        let n = self.n.max(1) as f64;
        SplitMetrics {
            loss: self.loss / n,
            accuracy: self.correct.map(|c| c as f64 / n),
            reconstruction: self.reconstruction.map(|r| r / n),
            kl: self.kl.map(|k| k / n),
            ..SplitMetrics::default()
        }
    }
}

/// The loss parts of the samples `idx`, and the network's scores of each:
/// class probabilities (`idx.len() × classes`) for a classifier, predicted
/// values for a regression, nothing for the other tasks.
pub(super) fn score(
    model: &Network,
    task: Task,
    batcher: &Batcher,
    idx: &[usize],
    batch: usize,
    device: &Device,
    class_weights: Option<&[f32]>,
) -> (SplitMetrics, Vec<f32>) {
    let mut acc = Accumulator::default();
    let mut scores = Vec::new();
    for chunk in idx.chunks(batch.max(1)) {
        let (x, y, lens) = batcher.batch(chunk, device);
        let out = model.forward_padded(x.clone(), lens.as_deref(), false);
        let kept = match task {
            Task::Classification => Some(burn::tensor::activation::softmax(out.output.clone(), 1)),
            Task::Regression => Some(out.output.clone()),
            _ => None,
        };
        if let Some(k) = kept {
            scores.extend(
                k.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap_or_default(),
            );
        }
        let parts = loss(task, out, x, y, device, class_weights);
        let v = parts.total.clone().into_scalar::<f32>() as f64;
        acc.add(&parts, chunk.len(), v);
    }
    (acc.metrics(), scores)
}

/// How a run of `exp` splits `data` into training, validation and test
/// samples: the one place the split is made, so that the window's Explain
/// view finds the same validation samples the run was scored on.
pub fn split_of(exp: &crate::spec::Experiment, data: &crate::data::Dataset) -> Split {
    let t = &exp.training;
    split_folds(
        data.len(),
        &data.labels,
        t.validation_fraction,
        t.test_fraction,
        (t.folds > 1).then_some((t.folds, t.fold)),
        t.seed,
    )
}
