//! Built-in environments for deep reinforcement learning, each with a plain
//! description of what the agent sees, what it can do and what it is rewarded for.
//! Pure Rust, deterministic for a given seed, no burn or egui.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::spec::EnvironmentKind;

/// One simulated world an agent acts in.
pub trait Environment: Send {
    /// Numbers the agent observes each step.
    fn observation_names(&self) -> Vec<String>;
    /// The actions it may take, in words.
    fn action_names(&self) -> Vec<String>;
    /// Start a new episode; returns the first observation.
    fn reset(&mut self) -> Vec<f32>;
    /// Take an action: the next observation, the reward, and whether the episode ended.
    fn step(&mut self, action: usize) -> (Vec<f32>, f32, bool);
    /// What a human should see of the current state (for the play view).
    fn frame(&self) -> Frame;
}

/// A picture of the state, for drawing an episode.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Cart position (−2.4..2.4) and pole angle in radians.
    CartPole { x: f32, angle: f32 },
    /// The sequence and how many motif letters it matches at best.
    Sequence {
        letters: String,
        score: usize,
        motif: String,
    },
}

/// The plain-language description shown beside an environment.
pub fn describe(kind: EnvironmentKind) -> &'static str {
    match kind {
        EnvironmentKind::CartPole => {
            "CartPole: a pole stands on a cart that moves left or right on a track. State: cart position and speed, pole angle and angular speed (4 numbers). Actions: push the cart left or right. Reward: +1 for every step the pole stays up (less than 12° from vertical) and the cart stays on the track; an episode ends when it falls or after 200 steps. Solved: an average return of 195 over 100 episodes."
        }
        EnvironmentKind::MotifDesign => {
            "Motif design: the agent edits a random 12-base DNA sequence, one base per step, to create the bacterial promoter −10 box TATAAT. State: the sequence, one-hot (12 × 4 numbers), and the steps left. Actions: set one position to A, C, G or T (48 actions). Reward: the gain in the best match to TATAAT anywhere in the sequence (0 to 6 letters), −0.1 per edit, and +5 when the full motif appears, which ends the episode; at most 12 edits."
        }
    }
}

/// A fresh environment of `kind`, seeded.
pub fn make(kind: EnvironmentKind, seed: u64) -> Box<dyn Environment> {
    match kind {
        EnvironmentKind::CartPole => Box::new(CartPole::new(seed)),
        EnvironmentKind::MotifDesign => Box::new(MotifDesign::new(seed)),
    }
}

/// The classic cart-pole balancing task (Barto, Sutton & Anderson 1983), with
/// the constants and limits of OpenAI Gym's CartPole-v0.
pub struct CartPole {
    state: [f32; 4],
    steps: usize,
    rng: StdRng,
}

impl CartPole {
    const GRAVITY: f32 = 9.8;
    const CART_MASS: f32 = 1.0;
    const POLE_MASS: f32 = 0.1;
    const HALF_LENGTH: f32 = 0.5;
    const FORCE: f32 = 10.0;
    const TAU: f32 = 0.02;
    const ANGLE_LIMIT: f32 = 12.0 * 2.0 * std::f32::consts::PI / 360.0;
    const X_LIMIT: f32 = 2.4;
    pub const MAX_STEPS: usize = 200;

    pub fn new(seed: u64) -> CartPole {
        CartPole {
            state: [0.0; 4],
            steps: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Environment for CartPole {
    fn observation_names(&self) -> Vec<String> {
        [
            "cart position",
            "cart speed",
            "pole angle",
            "pole angular speed",
        ]
        .map(String::from)
        .to_vec()
    }

    fn action_names(&self) -> Vec<String> {
        vec!["push left".into(), "push right".into()]
    }

    fn reset(&mut self) -> Vec<f32> {
        for v in &mut self.state {
            *v = self.rng.random_range(-0.05..0.05);
        }
        self.steps = 0;
        self.state.to_vec()
    }

    fn step(&mut self, action: usize) -> (Vec<f32>, f32, bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 {
            Self::FORCE
        } else {
            -Self::FORCE
        };
        let total_mass = Self::CART_MASS + Self::POLE_MASS;
        let pole_mass_length = Self::POLE_MASS * Self::HALF_LENGTH;
        let (sin, cos) = theta.sin_cos();
        let temp = (force + pole_mass_length * theta_dot * theta_dot * sin) / total_mass;
        let theta_acc = (Self::GRAVITY * sin - cos * temp)
            / (Self::HALF_LENGTH * (4.0 / 3.0 - Self::POLE_MASS * cos * cos / total_mass));
        let x_acc = temp - pole_mass_length * theta_acc * cos / total_mass;
        self.state = [
            x + Self::TAU * x_dot,
            x_dot + Self::TAU * x_acc,
            theta + Self::TAU * theta_dot,
            theta_dot + Self::TAU * theta_acc,
        ];
        self.steps += 1;
        let fallen = self.state[0].abs() > Self::X_LIMIT || self.state[2].abs() > Self::ANGLE_LIMIT;
        let done = fallen || self.steps >= Self::MAX_STEPS;
        (self.state.to_vec(), 1.0, done)
    }

    fn frame(&self) -> Frame {
        Frame::CartPole {
            x: self.state[0],
            angle: self.state[2],
        }
    }
}

/// Designing a DNA sequence toward a motif by single-base edits.
pub struct MotifDesign {
    seq: Vec<u8>,
    steps: usize,
    rng: StdRng,
}

impl MotifDesign {
    pub const LENGTH: usize = 12;
    pub const MOTIF: &'static [u8] = b"TATAAT";
    pub const MAX_STEPS: usize = 12;
    const BASES: &'static [u8] = b"ACGT";

    pub fn new(seed: u64) -> MotifDesign {
        MotifDesign {
            seq: vec![b'A'; Self::LENGTH],
            steps: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The most motif letters matched at any position.
    pub fn score(seq: &[u8]) -> usize {
        seq.windows(Self::MOTIF.len())
            .map(|w| w.iter().zip(Self::MOTIF).filter(|(a, b)| a == b).count())
            .max()
            .unwrap_or(0)
    }

    fn observe(&self) -> Vec<f32> {
        let mut obs = vec![0.0; Self::LENGTH * 4 + 1];
        for (i, b) in self.seq.iter().enumerate() {
            let c = Self::BASES.iter().position(|x| x == b).unwrap_or(0);
            obs[i * 4 + c] = 1.0;
        }
        obs[Self::LENGTH * 4] = (Self::MAX_STEPS - self.steps) as f32 / Self::MAX_STEPS as f32;
        obs
    }
}

impl Environment for MotifDesign {
    fn observation_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (1..=Self::LENGTH)
            .flat_map(|i| {
                Self::BASES
                    .iter()
                    .map(move |&b| format!("{}{i}", b as char))
            })
            .collect();
        names.push("steps left".into());
        names
    }

    fn action_names(&self) -> Vec<String> {
        (1..=Self::LENGTH)
            .flat_map(|i| {
                Self::BASES
                    .iter()
                    .map(move |&b| format!("position {i} to {}", b as char))
            })
            .collect()
    }

    fn reset(&mut self) -> Vec<f32> {
        loop {
            for b in &mut self.seq {
                *b = Self::BASES[self.rng.random_range(0..4)];
            }
            // Start without the motif, so there is something to learn.
            if Self::score(&self.seq) < Self::MOTIF.len() {
                break;
            }
        }
        self.steps = 0;
        self.observe()
    }

    fn step(&mut self, action: usize) -> (Vec<f32>, f32, bool) {
        let before = Self::score(&self.seq);
        let (pos, base) = (action / 4 % Self::LENGTH, action % 4);
        self.seq[pos] = Self::BASES[base];
        self.steps += 1;
        let after = Self::score(&self.seq);
        let found = after == Self::MOTIF.len();
        let mut reward = after as f32 - before as f32 - 0.1;
        if found {
            reward += 5.0;
        }
        let done = found || self.steps >= Self::MAX_STEPS;
        (self.observe(), reward, done)
    }

    fn frame(&self) -> Frame {
        Frame::Sequence {
            letters: String::from_utf8_lossy(&self.seq).into_owned(),
            score: Self::score(&self.seq),
            motif: String::from_utf8_lossy(Self::MOTIF).into_owned(),
        }
    }
}

/// Mean return of `episodes` episodes of uniformly random actions: the
/// baseline a learned policy must beat.
pub fn random_policy_return(kind: EnvironmentKind, episodes: usize, seed: u64) -> f64 {
    let mut env = make(kind, seed);
    let actions = env.action_names().len();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut total = 0.0;
    for _ in 0..episodes {
        env.reset();
        loop {
            let (_, r, done) = env.step(rng.random_range(0..actions));
            total += r as f64;
            if done {
                break;
            }
        }
    }
    total / episodes.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartpole_falls_without_control_and_episodes_end() {
        let mut env = CartPole::new(1);
        env.reset();
        let mut steps = 0;
        loop {
            let (_, r, done) = env.step(1);
            assert_eq!(r, 1.0);
            steps += 1;
            if done {
                break;
            }
        }
        // Always pushing right tips the pole over quickly.
        assert!((5..60).contains(&steps), "{steps}");
        let random = random_policy_return(EnvironmentKind::CartPole, 200, 3);
        assert!((10.0..40.0).contains(&random), "random policy: {random}");
    }

    #[test]
    fn motif_design_rewards_reaching_the_motif() {
        assert_eq!(MotifDesign::score(b"GGTATAATGGGG"), 6);
        assert_eq!(MotifDesign::score(b"GGTATCATGGGG"), 5);
        let mut env = MotifDesign::new(2);
        env.reset();
        env.seq = b"GGTATCATGGGG".to_vec();
        // Position 6 (index 5) to A (action 5·4 + 0) completes TATAAT.
        let (obs, r, done) = env.step(5 * 4);
        assert!(done && (r - 5.9).abs() < 1e-6, "{r}");
        assert_eq!(obs.len(), 49);
        assert_eq!(env.action_names().len(), 48);
        let random = random_policy_return(EnvironmentKind::MotifDesign, 300, 4);
        assert!(random < 3.0, "random policy: {random}");
    }
}
