//! In-silico mutagenesis of sequences: every position of a sample changed to
//! every other letter, one at a time, and the change of the explained score
//! recorded (Alipanahi et al. 2015, DeepBind's "mutation maps").

use super::*;

/// The change of the score for each position and letter of each sample.
#[derive(Debug, Clone)]
pub struct Mutagenesis {
    /// Positions per sample (the padded length).
    pub length: usize,
    /// The letters, in the order of the model's one-hot channels.
    pub letters: Vec<String>,
    /// `samples × length × letters`: score of the mutant minus the sample's
    /// score; 0 for the sample's own letter and past its end.
    pub effects: Vec<f32>,
    /// The output each sample is explained for, and its score.
    pub targets: Vec<usize>,
    pub scores: Vec<f32>,
    /// Each sample's valid length.
    pub lengths: Vec<usize>,
}

impl Mutagenesis {
    /// How many samples were mutated.
    pub fn samples(&self) -> usize {
        self.targets.len()
    }

    /// Sample `s`'s summary track: at each position, the largest change any
    /// substitution makes (by size, with its sign).
    pub fn track(&self, s: usize) -> Vec<f32> {
        let a = self.letters.len().max(1);
        let block = &self.effects[s * self.length * a..(s + 1) * self.length * a];
        block
            .chunks(a)
            .map(|e| {
                e.iter()
                    .copied()
                    .fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m })
            })
            .collect()
    }
}

/// Mutagenesis of every sample of `data` (sequences, as read) for the output
/// `explained` of `model`, on `device`.
pub fn mutagenesis(
    model: &TrainedModel,
    data: &Dataset,
    explained: &Explained,
    device: &Device,
) -> Result<Mutagenesis, ExplainError> {
    let [letters, length] = data.shape[..] else {
        return Err(ExplainError::NotApplicable(format!(
            "in-silico mutagenesis changes letters of sequences; {} holds samples of shape {:?}",
            data.source.display(),
            data.shape
        )));
    };
    if data.kind != crate::data::DataKind::Sequences {
        return Err(ExplainError::NotApplicable(format!(
            "in-silico mutagenesis changes letters of sequences; {} is not a sequence file",
            data.source.display()
        )));
    }
    let scorer = Scorer::new(model, data, device)?;
    let task = model.experiment.task;
    let sample_len = letters * length;
    let mut out = Mutagenesis {
        length,
        letters: data.feature_names.clone(),
        effects: vec![0.0; data.len() * sample_len],
        targets: Vec::with_capacity(data.len()),
        scores: Vec::with_capacity(data.len()),
        lengths: Vec::with_capacity(data.len()),
    };
    for s in 0..data.len() {
        let (x, lengths) = rows(model, data, &[s]);
        let valid = lengths.as_ref().map_or(length, |l| l[0].min(length));
        let (score, _) = scorer.run(x.clone(), 1, lengths.clone(), None)?;
        let target = scorer.targets(explained, &score, task)?[0];
        let reference = score[target];
        // (position, letter) of every mutant: each other letter at each position.
        let mutants: Vec<(usize, usize)> = (0..valid)
            .flat_map(|p| (0..letters).map(move |a| (p, a)))
            .filter(|&(p, a)| x[a * length + p] != 1.0)
            .collect();
        for part in mutants.chunks(256) {
            let mut batch = Vec::with_capacity(part.len() * sample_len);
            for &(p, a) in part {
                let start = batch.len();
                batch.extend_from_slice(&x);
                for c in 0..letters {
                    batch[start + c * length + p] = f32::from(c == a);
                }
            }
            let lens = lengths.as_ref().map(|l| vec![l[0]; part.len()]);
            let (scores, _) = scorer.run(batch, part.len(), lens, None)?;
            let block = &mut out.effects[s * sample_len..(s + 1) * sample_len];
            for (r, &(p, a)) in part.iter().enumerate() {
                block[p * letters + a] = scores[r * scorer.outputs + target] - reference;
            }
        }
        out.targets.push(target);
        out.scores.push(reference);
        out.lengths.push(valid);
    }
    Ok(out)
}
