//! Deep Q-learning (Mnih et al. 2015): an agent acts in a built-in environment
//! with an epsilon-greedy policy, stores what happened in a replay memory and
//! learns from random batches of it, with a target network that follows the
//! learning network every few hundred steps. Same events, pause/stop and
//! model output as every other task.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use crate::model::cpu::adam::Adam;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{
    Command, Event, Flow, Outcome, Progress, SplitMetrics, StartInfo, StepClock, Summary,
    TrainedModel, poll_commands,
};
use crate::data::{Dataset, Preprocessing};
use crate::model::Network;
use crate::rl::{self, Environment};
use crate::spec::Experiment;
use crate::spec::shapes::Target;
use crate::train::device::DeviceChoice;

/// One finished episode, as the return curve shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeReport {
    /// 1-based.
    pub episode: usize,
    /// Environment steps taken so far in the whole run.
    pub steps_done: usize,
    pub total_steps: usize,
    /// Sum of the episode's rewards.
    pub episode_return: f64,
    pub length: usize,
    /// Mean return of the last 100 episodes (fewer at the start).
    pub moving_average: f64,
    /// Chance of a random action when the episode ended.
    pub epsilon: f64,
    /// Mean learning loss over the episode's learning steps (none before learning starts).
    pub loss: Option<f64>,
}

/// How a trained agent does, in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RlSummary {
    pub environment: String,
    pub episodes: usize,
    pub steps: usize,
    /// Mean return of 100 episodes of the trained, greedy policy.
    pub evaluation_return: f64,
    /// Mean return of 100 episodes of random actions, for comparison.
    pub random_return: f64,
    /// Highest 100-episode moving average during training.
    pub best_moving_average: f64,
    /// First environment step at which the 100-episode moving average reached
    /// the environment's "solved" level (CartPole: 195), if it did.
    pub solved_at_step: Option<usize>,
}

const WINDOW: usize = 100;
const EVALUATION_EPISODES: usize = 100;

/// The return at which an environment counts as solved.
fn solved_level(kind: crate::spec::EnvironmentKind) -> Option<f64> {
    match kind {
        crate::spec::EnvironmentKind::CartPole => Some(195.0),
        crate::spec::EnvironmentKind::MotifDesign => None,
    }
}

struct Transition {
    state: Vec<f32>,
    action: usize,
    reward: f32,
    next: Vec<f32>,
    done: bool,
}

/// The greedy action of `net` for `state`.
pub fn greedy(net: &Network, state: &[f32], device: &Device) -> usize {
    let x = Tensor::<2>::from_data(TensorData::new(state.to_vec(), [1, state.len()]), device);
    let q = net.forward(x, false).output;
    let q: Vec<f32> = q.into_data().try_to_vec().unwrap_or_default();
    q.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Mean return of `episodes` greedy episodes in a fresh environment.
pub fn evaluate_policy(
    net: &Network,
    kind: crate::spec::EnvironmentKind,
    episodes: usize,
    seed: u64,
    device: &Device,
) -> f64 {
    let mut env = rl::make(kind, seed);
    let mut total = 0.0;
    for _ in 0..episodes {
        let mut s = env.reset();
        loop {
            let (next, r, done) = env.step(greedy(net, &s, device));
            total += r as f64;
            s = next;
            if done {
                break;
            }
        }
    }
    total / episodes.max(1) as f64
}

/// One greedy episode of `net`, frame by frame, for the play view.
pub fn play_episode(
    net: &Network,
    kind: crate::spec::EnvironmentKind,
    seed: u64,
    device: &Device,
) -> (Vec<rl::Frame>, f64) {
    let mut env = rl::make(kind, seed);
    let mut s = env.reset();
    let mut frames = vec![env.frame()];
    let mut total = 0.0;
    loop {
        let (next, r, done) = env.step(greedy(net, &s, device));
        total += r as f64;
        frames.push(env.frame());
        s = next;
        if done {
            break;
        }
    }
    (frames, total)
}

/// Train a Q-network; called by [`super::run`] once the device is chosen.
pub(super) fn run(
    exp: Experiment,
    data: Dataset,
    choice: DeviceChoice,
    events: &Sender<Event>,
    commands: &Receiver<Command>,
    started: Instant,
) -> Result<Outcome, String> {
    let t = &exp.training;
    let d = &t.dqn;
    let kind = exp.data.environment;
    let target_spec = data.target(exp.task).map_err(|e| e.to_string())?;
    let Target::Values(n_actions) = target_spec else {
        return Err("a deep Q-network needs an environment with actions".into());
    };
    let ad = choice.device.clone().autodiff();
    let (mut model, report) =
        super::seeded_build(&exp, &data, &target_spec, &choice.device, t.seed)
            .map_err(|e| format!("the network does not fit the environment: {e}"))?;
    let mut acting = model.valid();
    let mut target_net = model.valid();
    let clip = (t.gradient_clip_norm > 0.0)
        .then_some(GradientClippingConfig::Norm(t.gradient_clip_norm as f32));
    let mut optim: ModuleOptimizer = Adam::optimizer(0.9, 0.999, clip);

    let _ = events.send(Event::Started(StartInfo {
        device: choice.name.clone(),
        is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        driver: choice.driver.clone(),
        train_samples: 0,
        valid_samples: 0,
        test_samples: 0,
        steps_per_epoch: d.steps,
        epochs: 1,
        parameters: report.total_params(),
        data_notes: data.notes.clone(),
    }));

    let mut env: Box<dyn Environment> = rl::make(kind, t.seed);
    let mut rng = StdRng::seed_from_u64(t.seed.wrapping_add(7));
    let mut memory: VecDeque<Transition> = VecDeque::with_capacity(d.replay_size.min(1 << 20));
    let batch = t.batch_size.max(1);
    let obs = data.shape[0];

    let mut state = env.reset();
    let (mut episode, mut episode_return, mut episode_len) = (0usize, 0.0f64, 0usize);
    let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
    let mut returns: VecDeque<f64> = VecDeque::new();
    let mut best_average = f64::MIN;
    let mut solved_at = None;
    let mut stopped_by_user = false;
    let mut learn_steps = 0usize;
    let mut last_loss = None;
    let mut clock = StepClock::new();
    // The best greedy policy seen at the periodic checks, and its mean return.
    let mut kept: Option<(f64, Network)> = None;

    for step in 0..d.steps {
        if let Flow::Stop = poll_commands(commands, events) {
            stopped_by_user = true;
            break;
        }
        let step_start = Instant::now();
        let epsilon = epsilon_at(d, step);
        let action = if rng.random_range(0.0..1.0) < epsilon {
            rng.random_range(0..n_actions)
        } else {
            greedy(&acting, &state, &choice.device)
        };
        let (next, reward, done) = env.step(action);
        episode_return += reward as f64;
        episode_len += 1;
        if memory.len() == d.replay_size {
            memory.pop_front();
        }
        memory.push_back(Transition {
            state: std::mem::replace(&mut state, next.clone()),
            action,
            reward,
            next,
            done,
        });

        if step >= d.learning_starts && memory.len() >= batch && step % d.train_every == 0 {
            let idx: Vec<usize> = (0..batch)
                .map(|_| rng.random_range(0..memory.len()))
                .collect();
            let loss = learn_step(
                &model,
                &acting,
                &target_net,
                &memory,
                &idx,
                obs,
                d.gamma,
                &ad,
                &choice.device,
            );
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(format!(
                    "the Q-learning loss became {value} at step {}; training stopped. Try a lower learning rate (now {}) or gradient clipping",
                    step + 1,
                    t.learning_rate
                ));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(t.learning_rate, model, grads);
            acting = model.valid();
            loss_sum += value;
            loss_n += 1;
            learn_steps += 1;
            if learn_steps.is_multiple_of(d.target_update) {
                target_net = model.valid();
            }
        }
        clock.step_done(step_start);
        let steps_done = clock.steps;
        if d.evaluate_every > 0
            && steps_done > d.learning_starts
            && steps_done.is_multiple_of(d.evaluate_every)
        {
            let score = evaluate_policy(
                &acting,
                kind,
                10,
                t.seed ^ steps_done as u64,
                &choice.device,
            );
            if kept.as_ref().is_none_or(|(best, _)| score >= *best) {
                kept = Some((score, acting.clone()));
            }
        }

        if done {
            episode += 1;
            returns.push_back(episode_return);
            if returns.len() > WINDOW {
                returns.pop_front();
            }
            let moving_average = returns.iter().sum::<f64>() / returns.len() as f64;
            if returns.len() == WINDOW {
                best_average = best_average.max(moving_average);
                if solved_at.is_none()
                    && solved_level(kind).is_some_and(|level| moving_average >= level)
                {
                    solved_at = Some(steps_done);
                }
            }
            last_loss = (loss_n > 0).then(|| loss_sum / loss_n as f64);
            let _ = events.send(Event::Episode(EpisodeReport {
                episode,
                steps_done,
                total_steps: d.steps,
                episode_return,
                length: episode_len,
                moving_average,
                epsilon,
                loss: last_loss,
            }));
            (episode_return, episode_len, loss_sum, loss_n) = (0.0, 0, 0.0, 0);
            state = env.reset();
        }
        if clock.report_due(steps_done == d.steps) {
            let _ = events.send(Event::Progress(Progress {
                epoch: 1,
                step: steps_done,
                steps_per_epoch: d.steps,
                epochs: 1,
                loss: last_loss.unwrap_or(f64::NAN),
                samples_per_second: clock.per_second(steps_done),
                eta_seconds: clock.eta(d.steps),
            }));
        }
    }

    // The last network, unless a periodic check found a better one.
    let last = model.valid();
    let last_score = evaluate_policy(&last, kind, 10, t.seed ^ 0x1a57, &choice.device);
    let network = match kept {
        Some((best, net)) if best > last_score => net,
        _ => last,
    };
    let evaluation_return = evaluate_policy(
        &network,
        kind,
        EVALUATION_EPISODES,
        t.seed ^ 0xe7a1,
        &choice.device,
    );
    let random_return = rl::random_policy_return(kind, EVALUATION_EPISODES, t.seed ^ 0xe7a1);
    let summary = Summary {
        task: exp.task,
        device: choice.name.clone(),
        device_is_gpu: choice.is_gpu,
        device_reason: choice.reason.clone(),
        epochs_completed: usize::from(clock.steps > 0),
        epochs_planned: 1,
        stopped_early: false,
        stopped_by_user,
        best_epoch: None,
        kept_epoch: None,
        train_samples: clock.steps,
        valid_samples: 0,
        test_samples: 0,
        parameters: report.total_params(),
        wall_seconds: started.elapsed().as_secs_f64(),
        prep_seconds: 0.0,
        train_seconds: clock.time.as_secs_f64(),
        first_step_seconds: clock.first_step_seconds,
        samples_per_second: clock.per_second(clock.steps),
        final_train: last_loss.map(|loss| SplitMetrics {
            loss,
            ..SplitMetrics::default()
        }),
        final_valid: None,
        chance_accuracy: None,
        confusion: None,
        validation: None,
        test: None,
        rl: Some(RlSummary {
            environment: format!("{kind:?}"),
            episodes: episode,
            steps: clock.steps,
            evaluation_return,
            random_return,
            best_moving_average: if best_average == f64::MIN {
                returns.iter().sum::<f64>() / returns.len().max(1) as f64
            } else {
                best_average
            },
            solved_at_step: solved_at,
        }),
        notes: Vec::new(),
        reproducibility: None,
    };
    Ok(Outcome {
        model: TrainedModel::of(exp, network, Preprocessing::default(), &data, target_spec),
        summary,
        history: Vec::new(),
    })
}

/// The exploration rate after `step` steps: linear from start to end.
fn epsilon_at(d: &crate::spec::DqnSettings, step: usize) -> f64 {
    let f = (step as f64 / d.epsilon_steps.max(1) as f64).min(1.0);
    d.epsilon_start + (d.epsilon_end - d.epsilon_start) * f
}

/// Huber loss of Q(s, a) against r + γ · max Q_target(s′, ·) on one batch.
#[allow(clippy::too_many_arguments)]
fn learn_step(
    model: &Network,
    online: &Network,
    target_net: &Network,
    memory: &VecDeque<Transition>,
    idx: &[usize],
    obs: usize,
    gamma: f64,
    ad: &Device,
    device: &Device,
) -> Tensor<1> {
    let b = idx.len();
    let mut states = Vec::with_capacity(b * obs);
    let mut nexts = Vec::with_capacity(b * obs);
    let mut actions = Vec::with_capacity(b);
    let mut rewards = Vec::with_capacity(b);
    let mut alive = Vec::with_capacity(b);
    for &i in idx {
        let t = &memory[i];
        states.extend_from_slice(&t.state);
        nexts.extend_from_slice(&t.next);
        actions.push(t.action as i64);
        rewards.push(t.reward);
        alive.push(if t.done { 0.0f32 } else { 1.0 });
    }
    // Double DQN: the learning network picks the next action, the target
    // network values it (less overestimation than taking the target's max).
    let next_states = Tensor::<2>::from_data(TensorData::new(nexts, [b, obs]), device);
    let pick = online.forward(next_states.clone(), false).output.argmax(1);
    let next_q = target_net
        .forward(next_states, false)
        .output
        .gather(1, pick);
    let next_q: Vec<f32> = next_q.into_data().try_to_vec().unwrap_or_default();
    let targets: Vec<f32> = (0..b)
        .map(|i| rewards[i] + gamma as f32 * alive[i] * next_q[i])
        .collect();
    let y = Tensor::<2>::from_data(TensorData::new(targets, [b, 1]), ad);
    let q = model
        .forward(
            Tensor::<2>::from_data(TensorData::new(states, [b, obs]), ad),
            false,
        )
        .output;
    let a = Tensor::<2, Int>::from_data(TensorData::new(actions, [b, 1]), ad);
    let q_a = q.gather(1, a);
    let err = (q_a - y).abs();
    let quadratic = err.clone().clamp_max(1.0);
    (quadratic.clone().powi_scalar(2).mul_scalar(0.5) + (err - quadratic)).mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_falls_linearly_then_stays() {
        let d = crate::spec::DqnSettings {
            epsilon_start: 1.0,
            epsilon_end: 0.1,
            epsilon_steps: 100,
            ..Default::default()
        };
        assert_eq!(epsilon_at(&d, 0), 1.0);
        assert!((epsilon_at(&d, 50) - 0.55).abs() < 1e-12);
        assert!((epsilon_at(&d, 1000) - 0.1).abs() < 1e-12);
    }
}
