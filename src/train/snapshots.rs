//! Snapshots the window shows while training: the latent map, the confusion
//! matrix, attention maps and reconstructions, each from a few validation samples.

use burn::tensor::Device;

use super::*;
use crate::data::{Dataset, Labels};
use crate::model::Network;

pub(super) const LATENT_SAMPLES: usize = 2000;

pub(super) fn latent_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    batch: usize,
    device: &Device,
    epoch: usize,
) -> Option<LatentSnapshot> {
    let idx = &idx[..idx.len().min(LATENT_SAMPLES)];
    let mut values = Vec::new();
    let mut dims = 0;
    for chunk in idx.chunks(batch.max(256)) {
        let (x, _, lens) = batcher.batch(chunk, device);
        let latent = model.forward_padded(x, lens.as_deref(), false).latent?;
        dims = latent.dims()[1];
        values.extend(latent.into_data().try_to_vec::<f32>().ok()?);
    }
    let labels = match &data.labels {
        Labels::Classes { index, .. } => Some(idx.iter().map(|&i| index[i]).collect()),
        _ => None,
    };
    let knn_agreement = labels
        .as_ref()
        .and_then(|l: &Vec<usize>| crate::analysis::knn_agreement(&values, dims, l, 5));
    Some(LatentSnapshot {
        knn_agreement,
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        labels,
        dims,
        values,
    })
}

pub(super) const ATTENTION_SAMPLES: usize = 16;

pub(super) fn attention_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    device: &Device,
    epoch: usize,
) -> Option<AttentionSnapshot> {
    let idx = &idx[..idx.len().min(ATTENTION_SAMPLES)];
    let (x, _, lens) = batcher.batch(idx, device);
    let maps = model.forward_padded(x, lens.as_deref(), false).attention;
    if maps.is_empty() {
        return None;
    }
    let mut layers = Vec::with_capacity(maps.len());
    let mut valid_positions = vec![Vec::new(); idx.len()];
    for w in maps {
        let [_, heads, positions, _] = w.dims();
        // Padding is left out: each map keeps the positions of the sequence itself.
        for (k, &i) in idx.iter().enumerate() {
            let full = data.shape.get(1).copied().unwrap_or(positions).max(1);
            let len = data.lengths.as_ref().map_or(full, |l| l[i]);
            valid_positions[k].push((len * positions).div_ceil(full).clamp(1, positions));
        }
        layers.push(AttentionLayer {
            heads,
            positions,
            weights: w.into_data().try_to_vec::<f32>().ok()?,
        });
    }
    let labels = match &data.labels {
        Labels::Classes { index, names } => idx.iter().map(|&i| names[index[i]].clone()).collect(),
        Labels::Values(v) => idx.iter().map(|&i| v[i].to_string()).collect(),
        Labels::None => vec![String::new(); idx.len()],
    };
    Some(AttentionSnapshot {
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        sequences: idx.iter().map(|&i| data.sequence_letters(i)).collect(),
        valid_positions,
        labels,
        layers,
    })
}

pub(super) const RECONSTRUCTION_SAMPLES: usize = 8;

pub(super) fn reconstruction_snapshot(
    model: &Network,
    batcher: &Batcher,
    idx: &[usize],
    data: &Dataset,
    device: &Device,
    epoch: usize,
) -> Option<ReconstructionSnapshot> {
    let idx = &idx[..idx.len().min(RECONSTRUCTION_SAMPLES)];
    let (x, _, lens) = batcher.batch(idx, device);
    let inputs = x.clone().into_data().try_to_vec::<f32>().ok()?;
    let outputs = model
        .forward_padded(x, lens.as_deref(), false)
        .output
        .into_data()
        .try_to_vec::<f32>()
        .ok()?;
    (outputs.len() == inputs.len()).then(|| ReconstructionSnapshot {
        epoch,
        ids: idx.iter().map(|&i| data.ids[i].clone()).collect(),
        shape: data.shape.clone(),
        inputs,
        outputs,
    })
}
