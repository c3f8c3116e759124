//! What every task's loop shares: seeding and building the network, the step
//! clock (step time, progress pace, ETA), pause/resume/stop between steps and
//! the optimizer the settings ask for.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{
    AdamWConfig, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig,
};
use burn::tensor::Device;

use super::*;
use crate::data::Dataset;
use crate::model::Network;
use crate::model::cpu::adam::Adam;
use crate::spec::shapes::Target;
use crate::spec::{Experiment, Optimizer};

/// Seed the device and build the network, as one step no other run can
/// interleave with: burn's random generator is shared by the whole process,
/// so two runs started together would otherwise draw each other's initial
/// weights. Dropout masks follow from the same seed (per thread).
pub(crate) fn seeded_build(
    exp: &Experiment,
    data: &Dataset,
    target: &Target,
    device: &Device,
    seed: u64,
) -> Result<(Network, crate::spec::shapes::ShapeReport), crate::spec::shapes::ShapeError> {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_us = INIT.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    crate::model::dropout::seed(seed);
    let joined: Vec<usize> = data.joined.iter().map(|(_, w)| *w).collect();
    crate::model::build_joined(
        exp,
        &data.shape,
        &joined,
        target,
        &device.clone().autodiff(),
    )
}

pub(super) enum Flow {
    Continue,
    Stop,
}

/// Time spent in training steps (batching, forward, backward, optimizer; not
/// validation), and when progress was last reported. Shared by every task's loop.
pub(super) struct StepClock {
    pub(super) steps: usize,
    pub(super) time: Duration,
    pub(super) first_step_seconds: f64,
    pub(super) last_report: Instant,
}

impl StepClock {
    pub(super) fn new() -> StepClock {
        StepClock {
            steps: 0,
            time: Duration::ZERO,
            first_step_seconds: 0.0,
            last_report: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Carry on the count of a run continued from a checkpoint.
    pub(super) fn resume(&mut self, steps: usize, seconds: f64, first_step_seconds: f64) {
        self.steps = steps;
        self.time = Duration::from_secs_f64(seconds.max(0.0));
        self.first_step_seconds = first_step_seconds;
    }

    /// Count one finished step that began at `start`.
    pub(super) fn step_done(&mut self, start: Instant) {
        let spent = start.elapsed();
        self.steps += 1;
        self.time += spent;
        if self.steps == 1 {
            self.first_step_seconds = spent.as_secs_f64();
        }
    }

    /// Whether to report progress now: five times a second, and always when `last`.
    pub(super) fn report_due(&mut self, last: bool) -> bool {
        let due = last || self.last_report.elapsed() > Duration::from_millis(200);
        if due {
            self.last_report = Instant::now();
        }
        due
    }

    /// `items` (samples or environment steps) per second of step time.
    pub(super) fn per_second(&self, items: usize) -> f64 {
        items as f64 / self.time.as_secs_f64().max(1e-9)
    }

    /// Seconds left for `total_steps` at the pace so far.
    pub(super) fn eta(&self, total_steps: usize) -> f64 {
        self.time.as_secs_f64() / self.steps.max(1) as f64
            * total_steps.saturating_sub(self.steps) as f64
    }
}

/// Handle pause/resume/stop between steps; a pause blocks here until resumed.
pub(super) fn poll_commands(commands: &Receiver<Command>, events: &Sender<Event>) -> Flow {
    loop {
        match commands.try_recv() {
            Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return Flow::Stop,
            Ok(Command::Resume) => continue,
            Ok(Command::Pause) => {
                let _ = events.send(Event::Paused);
                loop {
                    match commands.recv() {
                        Ok(Command::Resume) => {
                            let _ = events.send(Event::Resumed);
                            break;
                        }
                        Ok(Command::Stop) | Err(_) => return Flow::Stop,
                        Ok(Command::Pause) => {}
                    }
                }
            }
            Err(TryRecvError::Empty) => return Flow::Continue,
        }
    }
}

pub(super) fn optimizer(exp: &Experiment) -> ModuleOptimizer {
    let t = &exp.training;
    let clip = (t.gradient_clip_norm > 0.0)
        .then_some(GradientClippingConfig::Norm(t.gradient_clip_norm as f32));
    match t.optimizer {
        Optimizer::Adam => Adam::optimizer(0.9, 0.999, clip),
        Optimizer::AdamW => AdamWConfig::new()
            .with_epsilon(crate::model::cpu::adam::EPSILON)
            .with_weight_decay(t.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        Optimizer::Sgd => SgdConfig::new()
            .with_momentum((t.momentum > 0.0).then_some(MomentumConfig {
                momentum: t.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(
                (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32)),
            )
            .with_gradient_clipping(clip)
            .init(),
    }
}
