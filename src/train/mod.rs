//! The training engine. A [`Worker`] runs on its own thread, owns the model, the
//! device and the data, and talks only through channels: [`Command`]s in,
//! [`Event`]s out. The window and the CLI are two consumers of the same events.
//!
//! One loop serves the supervised and autoencoding tasks (`supervised`); the
//! GAN (`gan`) and DQN (`dqn`) loops have their own steps. All three share the
//! session skeleton (`session`: seeding, the step clock, pause/stop, the
//! optimizer) and speak the same protocol (`protocol`: commands, events,
//! snapshots, the finished run). `worker` runs a job on its own thread,
//! `batch` cuts the data into tensors, `snapshots` makes what the window shows
//! during training, `schedule` sets the learning rate of each step,
//! `evaluation` scores the kept model on the held-out splits, and `inference`
//! runs a trained model on data.

pub mod augment;
pub mod device;
pub mod dqn;
mod gan;

mod batch;
mod checkpoint;
pub mod evaluation;
mod inference;
mod protocol;
pub mod schedule;
mod session;
mod snapshots;
mod supervised;
mod worker;

pub use checkpoint::{Checkpoint, CheckpointState};
pub use device::{DeviceChoice, DevicePreference};
pub use gan::{GanSnapshot, generate, pearson};

pub(crate) use batch::*;
pub use inference::{Inference, infer, predict};
pub use protocol::*;
pub(crate) use session::*;
use snapshots::*;
pub use supervised::split_of;
use supervised::*;
pub use worker::{Worker, lower_priority, run_in_pool};
