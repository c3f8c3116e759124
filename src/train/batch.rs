//! Batches for the loops: the encoded samples of a split cut into tensors, with
//! padded sequences cut to the batch's longest member (rounded to a step that
//! suits the device) and their valid lengths.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::*;
use crate::data::sparse::Sparse;
use crate::data::{Dataset, Labels, Preprocessing};
use crate::model::Network;

/// Targets of one batch.
#[derive(Clone)]
pub(super) enum Y {
    None,
    Classes(Tensor<1, Int>),
    Values(Tensor<2>),
}

/// Gathers encoded samples into tensors.
pub(crate) struct Batcher<'a> {
    pub(super) values: &'a [f32],
    pub(super) sample_len: usize,
    pub(super) labels: &'a Labels,
    pub(super) seq: Option<SeqLayout<'a>>,
    /// Sparse data: rows are made dense and preprocessed here, batch by
    /// batch, instead of all at once (then `values` is empty).
    pub(super) sparse: Option<(&'a Sparse, &'a Preprocessing)>,
    /// A batch cut to its longest member is cut to a multiple of this instead.
    pub(super) length_step: usize,
}

/// On a GPU every new tensor shape costs compiled kernels (seconds on a first run), so
/// batches of sequences are cut to a multiple of this many positions rather than to their
/// longest member: a few shapes per run instead of one per batch. The network masks the
/// positions past each sequence's length either way.
pub(super) const GPU_LENGTH_STEP: usize = 32;

/// The multiple batches of sequences are cut to on `device`: [`GPU_LENGTH_STEP`] on a GPU
/// (any device but the CPU backend), 1 (their longest member) on the CPU.
pub(super) fn length_step(device: &Device) -> usize {
    if device.clone().inner() == Device::flex() {
        1
    } else {
        GPU_LENGTH_STEP
    }
}

/// How sequence samples are laid out and batched.
#[derive(Clone, Copy)]
pub(super) struct SeqLayout<'a> {
    pub(super) channels: usize,
    pub(super) length: usize,
    /// Each sample's valid length.
    pub(super) lengths: &'a [usize],
    /// Cut each batch to its longest member (the network takes any length).
    pub(super) trim: bool,
}

impl<'a> SeqLayout<'a> {
    pub(super) fn of(data: &'a Dataset, network: &Network) -> Option<Self> {
        let lengths = data.lengths.as_deref()?;
        let [channels, length] = data.shape[..] else {
            return None;
        };
        Some(SeqLayout {
            channels,
            length,
            lengths,
            trim: network.variable_length,
        })
    }
}

/// Every sample of `data` encoded for the network, or nothing when the data
/// is sparse: then [`Batcher`] encodes batch by batch and keeps it sparse.
pub(super) fn encoded(data: &Dataset, prep: &Preprocessing) -> Vec<f32> {
    if data.sparse.is_some() {
        Vec::new()
    } else {
        prep.transform(data)
    }
}

impl<'a> Batcher<'a> {
    /// Batches of `data` for `network`: from `values` (see [`encoded`]), or
    /// from the sparse rows through `prep`.
    pub(super) fn new(
        values: &'a [f32],
        data: &'a Dataset,
        prep: &'a Preprocessing,
        labels: &'a Labels,
        network: &Network,
    ) -> Self {
        Batcher {
            values,
            sample_len: data.sample_len(),
            labels,
            seq: SeqLayout::of(data, network),
            sparse: data.sparse.as_ref().map(|m| (m, prep)),
            length_step: 1,
        }
    }

    /// Cut batches of sequences to a multiple of `step` positions (see [`GPU_LENGTH_STEP`]).
    pub(super) fn lengths_rounded_to(self, step: usize) -> Self {
        Batcher {
            length_step: step.max(1),
            ..self
        }
    }
}

impl Batcher<'_> {
    /// The samples `idx` as `[batch, values]`, their targets and, for
    /// sequences, their valid lengths (the batch cut to its longest member
    /// when the network takes any length).
    pub(super) fn batch(
        &self,
        idx: &[usize],
        device: &Device,
    ) -> (Tensor<2>, Y, Option<Vec<usize>>) {
        self.batch_with(idx, device, None)
    }

    /// [`Batcher::batch`], with each image changed by `augment` (training only).
    pub(super) fn batch_with(
        &self,
        idx: &[usize],
        device: &Device,
        augment: Option<&mut augment::Augmenter>,
    ) -> (Tensor<2>, Y, Option<Vec<usize>>) {
        let lengths: Option<Vec<usize>> = self
            .seq
            .map(|s| idx.iter().map(|&i| s.lengths[i].max(1)).collect());
        let x = match (&self.seq, &lengths) {
            (Some(s), Some(lens)) if s.trim => {
                let longest = lens.iter().copied().max().unwrap_or(1);
                let keep = longest.next_multiple_of(self.length_step).min(s.length);
                let mut buf = Vec::with_capacity(idx.len() * s.channels * keep);
                let mut row = vec![
                    0.0;
                    if self.sparse.is_some() {
                        self.sample_len
                    } else {
                        0
                    }
                ];
                for &i in idx {
                    let sample = match self.sparse {
                        Some((m, prep)) => {
                            m.write_row(i, &mut row);
                            prep.apply(&mut row);
                            &row[..]
                        }
                        None => &self.values[i * self.sample_len..(i + 1) * self.sample_len],
                    };
                    for c in 0..s.channels {
                        buf.extend_from_slice(&sample[c * s.length..c * s.length + keep]);
                    }
                }
                Tensor::<2>::from_data(TensorData::new(buf, [idx.len(), s.channels * keep]), device)
            }
            _ => {
                let mut buf = Vec::with_capacity(idx.len() * self.sample_len);
                if let Some((m, prep)) = self.sparse {
                    buf.resize(idx.len() * self.sample_len, 0.0);
                    for (row, &i) in buf.chunks_mut(self.sample_len.max(1)).zip(idx) {
                        m.write_row(i, row);
                        prep.apply(row);
                    }
                } else {
                    for &i in idx {
                        buf.extend_from_slice(
                            &self.values[i * self.sample_len..(i + 1) * self.sample_len],
                        );
                    }
                }
                if let Some(a) = augment {
                    buf.chunks_mut(self.sample_len.max(1))
                        .for_each(|sample| a.apply(sample));
                }
                Tensor::<2>::from_data(TensorData::new(buf, [idx.len(), self.sample_len]), device)
            }
        };
        let y = match self.labels {
            Labels::Classes { index, .. } => {
                let ys: Vec<i64> = idx.iter().map(|&i| index[i] as i64).collect();
                Y::Classes(Tensor::<1, Int>::from_data(
                    TensorData::new(ys, [idx.len()]),
                    device,
                ))
            }
            Labels::Values(v) => {
                let ys: Vec<f32> = idx.iter().map(|&i| v[i]).collect();
                Y::Values(Tensor::<2>::from_data(
                    TensorData::new(ys, [idx.len(), 1]),
                    device,
                ))
            }
            Labels::None => Y::None,
        };
        (x, y, lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::shapes::Target;
    use crate::spec::templates::Template;

    /// Three DNA sequences of 5, 20 and 40 letters, padded to 40.
    pub(super) fn sequences() -> Dataset {
        let lengths = vec![5, 20, 40];
        let values = lengths
            .iter()
            .flat_map(|&n| (0..4 * 40).map(move |i| f32::from(i % 40 < n && i / 40 == i % 4)))
            .collect();
        Dataset {
            kind: crate::data::DataKind::Sequences,
            source: "test.fasta".into(),
            ids: vec!["a".into(), "b".into(), "c".into()],
            shape: vec![4, 40],
            values,
            feature_names: ["A", "C", "G", "T"].map(String::from).to_vec(),
            labels: Labels::None,
            max_value: 1.0,
            notes: Vec::new(),
            text_columns: Vec::new(),
            lengths: Some(lengths),
            sparse: None,
            joined: Vec::new(),
        }
    }

    #[test]
    pub(super) fn batches_of_sequences_are_cut_to_their_longest_member_or_a_multiple_of_the_step() {
        let data = sequences();
        let exp = Template::LstmClassifier.experiment();
        let device = Device::flex();
        let (network, _) =
            crate::model::build(&exp, &data.shape, &Target::Classes(2), &device).unwrap();
        assert!(network.variable_length);
        let prep = Preprocessing::default();
        let batch = |step: usize, idx: &[usize]| {
            Batcher::new(&data.values, &data, &prep, &data.labels, &network)
                .lengths_rounded_to(step)
                .batch(idx, &device)
        };
        let cut = |step: usize, idx: &[usize]| {
            let (x, _, lens) = batch(step, idx);
            (x.dims()[1] / 4, lens.unwrap())
        };
        assert_eq!(cut(1, &[0, 1]), (20, vec![5, 20]));
        assert_eq!(cut(32, &[0, 1]), (32, vec![5, 20]));
        assert_eq!(cut(16, &[0]), (16, vec![5]));
        // Never past the padded length of the data.
        assert_eq!(cut(32, &[1, 2]), (40, vec![20, 40]));
        // The kept positions are the sequences' own, whatever the cut.
        let (x, _, _) = batch(32, &[1]);
        let x: Vec<f32> = x.into_data().try_to_vec().unwrap();
        for c in 0..4 {
            assert_eq!(
                x[c * 32..c * 32 + 32],
                data.values[160 + c * 40..160 + c * 40 + 32]
            );
        }
    }
}
