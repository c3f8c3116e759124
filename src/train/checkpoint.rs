//! Checkpoints of a supervised run at the end of an epoch, and continuing from
//! one: the weights, the optimizer's state, the early-stopping state and the
//! history so far, held in memory. The loop sends a [`Checkpoint`] as an event;
//! where it is kept on disk (the run folder) is `export::run`'s business.
//!
//! A continued run draws exactly what the uninterrupted run would have: the
//! shuffling is replayed from the seed, and dropout, noise and augmentation
//! are seeded anew at every epoch from the run's seed and the epoch number.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::EpochMetrics;
use crate::model::Network;

/// A supervised run after `epoch` whole epochs.
#[derive(Clone, PartialEq)]
pub struct Checkpoint {
    pub state: CheckpointState,
    /// The network's weights (safetensors, burn's own names).
    pub weights: Vec<u8>,
    /// The optimizer's state (burnpack), keyed by `state.param_ids`.
    pub optimizer: Vec<u8>,
    /// The weights of the best epoch so far, kept when early stopping is on.
    pub best_weights: Option<Vec<u8>>,
}

/// The small part of a checkpoint, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Whole epochs done (1-based count).
    pub epoch: usize,
    pub seed: u64,
    /// The parameters' ids in visiting order, which the optimizer's state refers to.
    pub param_ids: Vec<u64>,
    pub history: Vec<EpochMetrics>,
    /// The best validation loss so far and its epoch.
    pub best: Option<(f64, usize)>,
    pub since_best: usize,
    /// Training steps taken and the time they took, so the pace carries on.
    pub steps: usize,
    pub train_seconds: f64,
    pub first_step_seconds: f64,
    /// Where the learning-rate schedule stands (reduce-on-plateau's factor).
    #[serde(default)]
    pub schedule: super::schedule::ScheduleState,
}

/// The seed of epoch `epoch`'s dropout, noise and augmentation draws.
pub(super) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

pub(super) fn network_bytes(network: &Network) -> Result<Vec<u8>, String> {
    let mut store = SafetensorsStore::from_bytes(None);
    network
        .save_into(&mut store)
        .map_err(|e| format!("cannot take a checkpoint of the weights: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| format!("cannot take a checkpoint of the weights: {e}"))
}

/// `network` with the weights of `bytes` (from [`network_bytes`] of the same architecture).
pub(super) fn with_weights(network: &Network, bytes: &[u8]) -> Result<Network, String> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
    let mut loaded = network.clone();
    let result = loaded
        .load_from(&mut store)
        .map_err(|e| format!("the checkpoint's weights do not load: {e}"))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(format!(
            "the checkpoint's weights do not match the network (missing: {:?}, errors: {:?})",
            result.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
            result.errors
        ));
    }
    Ok(loaded)
}

struct Ids(Vec<u64>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

pub(super) fn param_ids(network: &Network) -> Vec<u64> {
    let mut ids = Ids(Vec::new());
    network.visit(&mut ids);
    ids.0
}

struct SetIds<'a>(std::slice::Iter<'a, u64>);

impl ModuleMapper for SetIds<'_> {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if let Some(id) = self.0.next() {
            param.id = (*id).into();
        }
        param
    }
}

/// `network` with the parameter ids of the run that took the checkpoint, so
/// that its optimizer state applies to the same parameters.
pub(super) fn with_param_ids(network: Network, ids: &[u64]) -> Result<Network, String> {
    let own = param_ids(&network);
    if own.len() != ids.len() {
        return Err(format!(
            "the checkpoint has {} weight tensors, the network {}",
            ids.len(),
            own.len()
        ));
    }
    Ok(network.map(&mut SetIds(ids.iter())))
}

pub(super) fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>, String> {
    optim
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| format!("cannot take a checkpoint of the optimizer: {e}"))
}

pub(super) fn with_optimizer_state(
    optim: ModuleOptimizer,
    bytes: &[u8],
) -> Result<ModuleOptimizer, String> {
    optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("the checkpoint's optimizer state does not load: {e}"))
}

/// `network` with the layers the experiment marks frozen taken out of training.
pub(super) fn freeze(mut network: Network, exp: &crate::spec::Experiment) -> Network {
    for (stack, spec) in network.stacks.iter_mut().zip(&exp.architecture.stacks) {
        for (layer, node) in stack.layers.iter_mut().zip(&spec.layers) {
            if node.frozen {
                *layer = layer.clone().no_grad();
            }
        }
    }
    network
}
