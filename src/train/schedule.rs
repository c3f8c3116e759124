//! The learning rate at each step of a supervised run, from the experiment's
//! [`Schedule`]. Step and cosine schedules depend on the step alone;
//! reduce-on-plateau keeps a little state (the current factor and how long the
//! validation loss has not improved), which a checkpoint carries so that a
//! continued run follows the same rates.

use serde::{Deserialize, Serialize};

use crate::spec::Schedule;

/// Where a schedule stands; all that must survive a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Reduce-on-plateau: the factor reached so far.
    pub factor: f64,
    pub best: Option<f64>,
    pub wait: usize,
}

impl Default for ScheduleState {
    fn default() -> Self {
        ScheduleState {
            factor: 1.0,
            best: None,
            wait: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LearningRate {
    base: f64,
    schedule: Schedule,
    epochs: usize,
    steps_per_epoch: usize,
    pub state: ScheduleState,
}

impl LearningRate {
    pub fn new(base: f64, schedule: Schedule, epochs: usize, steps_per_epoch: usize) -> Self {
        LearningRate {
            base,
            schedule,
            epochs: epochs.max(1),
            steps_per_epoch: steps_per_epoch.max(1),
            state: ScheduleState::default(),
        }
    }

    /// The rate of step `step` (0-based) of epoch `epoch` (1-based).
    pub fn at(&self, epoch: usize, step: usize) -> f64 {
        let factor = match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Step { every, factor } => {
                factor.powi((epoch.saturating_sub(1) / every.max(1)) as i32)
            }
            Schedule::Cosine {
                warmup_epochs,
                min_factor,
            } => {
                let g = (epoch.saturating_sub(1) * self.steps_per_epoch + step) as f64;
                let total = (self.epochs * self.steps_per_epoch) as f64;
                let warm = (warmup_epochs.min(self.epochs) * self.steps_per_epoch) as f64;
                if g < warm {
                    (g + 1.0) / warm
                } else {
                    let p = ((g - warm) / (total - warm - 1.0).max(1.0)).min(1.0);
                    min_factor + (1.0 - min_factor) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0
                }
            }
            Schedule::ReduceOnPlateau { .. } => self.state.factor,
        };
        self.base * factor
    }

    /// After an epoch: a plateau schedule lowers the rate when the validation
    /// loss has stalled. Returns the new rate when it changed.
    pub fn epoch_done(&mut self, valid_loss: Option<f64>) -> Option<f64> {
        let Schedule::ReduceOnPlateau {
            patience,
            factor,
            min_factor,
        } = self.schedule
        else {
            return None;
        };
        let loss = valid_loss?;
        let s = &mut self.state;
        if s.best.is_none_or(|b| loss < b) {
            s.best = Some(loss);
            s.wait = 0;
            return None;
        }
        s.wait += 1;
        if s.wait < patience || s.factor <= min_factor {
            return None;
        }
        s.wait = 0;
        s.factor = (s.factor * factor).max(min_factor);
        Some(self.base * s.factor)
    }

    /// The planned rate at the start of each epoch and (cosine) at points in
    /// between, as `(epoch, rate)` with fractional epochs, for a plot. A
    /// plateau schedule is drawn flat: when it lowers the rate depends on the run.
    pub fn planned(&self) -> Vec<(f64, f64)> {
        let per_epoch = match self.schedule {
            Schedule::Cosine { .. } => 8.min(self.steps_per_epoch),
            _ => 1,
        };
        let mut points = Vec::new();
        for epoch in 1..=self.epochs {
            for j in 0..per_epoch {
                let step = j * self.steps_per_epoch / per_epoch;
                let at = epoch as f64 - 1.0 + step as f64 / self.steps_per_epoch as f64;
                points.push((at, self.at(epoch, step)));
            }
        }
        points.push((
            self.epochs as f64,
            self.at(self.epochs, self.steps_per_epoch - 1),
        ));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_schedule_multiplies_every_n_epochs() {
        let lr = LearningRate::new(
            0.1,
            Schedule::Step {
                every: 2,
                factor: 0.5,
            },
            6,
            10,
        );
        let per_epoch: Vec<f64> = (1..=6).map(|e| lr.at(e, 3)).collect();
        assert_eq!(per_epoch, vec![0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    }

    #[test]
    fn cosine_warms_up_then_falls_to_its_floor() {
        let lr = LearningRate::new(
            1.0,
            Schedule::Cosine {
                warmup_epochs: 1,
                min_factor: 0.1,
            },
            5,
            4,
        );
        assert_eq!(lr.at(1, 0), 0.25);
        assert_eq!(lr.at(1, 3), 1.0);
        assert!(
            (lr.at(2, 0) - 1.0).abs() < 1e-12,
            "the peak right after warm-up"
        );
        assert!(
            (lr.at(5, 3) - 0.1).abs() < 1e-12,
            "the floor at the last step"
        );
        let rates: Vec<f64> = (2..=5)
            .flat_map(|e| (0..4).map(move |s| (e, s)))
            .map(|(e, s)| lr.at(e, s))
            .collect();
        assert!(
            rates.windows(2).all(|w| w[1] <= w[0]),
            "falls monotonically: {rates:?}"
        );
    }

    #[test]
    fn plateau_lowers_the_rate_after_patience_epochs_and_stops_at_the_floor() {
        let mut lr = LearningRate::new(
            1.0,
            Schedule::ReduceOnPlateau {
                patience: 2,
                factor: 0.5,
                min_factor: 0.25,
            },
            20,
            1,
        );
        let mut changes = Vec::new();
        for loss in [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.8, 0.85, 0.86, 0.9, 0.9] {
            changes.push(lr.epoch_done(Some(loss)));
        }
        assert_eq!(
            changes,
            vec![
                None,
                None,
                None,
                Some(0.5),
                None,
                Some(0.25),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(lr.at(12, 0), 0.25);
    }
}
