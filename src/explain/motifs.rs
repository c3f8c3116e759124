//! Motifs learned by a sequence network's first convolution: for each filter,
//! the windows of the data that activate it most (top-k, windows wholly inside
//! a sequence), and the letter frequencies at each position of those windows
//! as a position weight matrix (the approach of DeepBind and Basset). `meme`
//! writes them in MEME's motif format, for Tomtom against JASPAR.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::*;
use crate::model::Layer;
use crate::spec::graph::Source;

/// One filter's motif.
#[derive(Debug, Clone)]
pub struct Motif {
    pub filter: usize,
    /// `width × letters`: the share of each letter at each position; each row sums to 1.
    pub pwm: Vec<Vec<f32>>,
    /// How many windows it was made from.
    pub sites: usize,
    /// The filter's highest activation on the data (before its activation function).
    pub max_activation: f32,
}

/// A window's activation, ordered by it (then by place, for ties).
#[derive(PartialEq)]
struct Hit(f32, usize, usize);

impl Eq for Hit {}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .total_cmp(&other.0)
            .then(other.1.cmp(&self.1))
            .then(other.2.cmp(&self.2))
    }
}

/// The motifs of every filter of the first 1-D convolution that reads the
/// sequences, from the `top` windows of `data` (sequences, as read) that
/// activate each filter most. Filters no window activates above zero get no motif.
pub fn first_layer_motifs(
    model: &TrainedModel,
    data: &Dataset,
    top: usize,
) -> Result<Vec<Motif>, ExplainError> {
    let [letters, length] = data.shape[..] else {
        return Err(ExplainError::NotApplicable(format!(
            "motifs are read from a network on sequences; {} holds samples of shape {:?}",
            data.source.display(),
            data.shape
        )));
    };
    if data.shape != model.input_shape {
        return Err(ExplainError::Shape {
            expected: model.input_shape.clone(),
            found: data.shape.clone(),
            data: data.source.display().to_string(),
        });
    }
    let stack = &model.network.stacks[0];
    let wiring = stack.plan.wiring();
    let conv = wiring
        .order
        .iter()
        .filter(|&&i| wiring.sources[i] == [Source::Input])
        .find_map(|&i| match &stack.layers[i] {
            Layer::Conv1d(c) => Some(c),
            _ => None,
        })
        .ok_or_else(|| {
            ExplainError::NotApplicable(
                "motifs are read from a 1-D convolution that takes the sequences directly; this network's first layer is not one".into(),
            )
        })?;
    let [filters, inputs, width] = conv.weight.val().dims();
    if inputs != letters || conv.groups != 1 {
        return Err(ExplainError::NotApplicable(format!(
            "the first convolution reads {inputs} channels in {} groups, not the {letters} letters",
            conv.groups
        )));
    }
    let weight = host(conv.weight.val())?;
    let bias = match &conv.bias {
        Some(b) => host(b.val())?,
        None => vec![0.0; filters],
    };
    let dilation = conv.dilation.max(1);
    let span = (width - 1) * dilation + 1;
    let top = top.max(1);
    let mut best: Vec<BinaryHeap<Reverse<Hit>>> = (0..filters).map(|_| BinaryHeap::new()).collect();
    let mut samples = Vec::with_capacity(data.len());
    for s in 0..data.len() {
        let (x, lengths) = rows(model, data, &[s]);
        let valid = lengths.map_or(length, |l| l[0].min(length));
        for start in 0..(valid + 1).saturating_sub(span) {
            for (f, heap) in best.iter_mut().enumerate() {
                let w = &weight[f * letters * width..(f + 1) * letters * width];
                let mut a = bias[f];
                for c in 0..letters {
                    for j in 0..width {
                        a += w[c * width + j] * x[c * length + start + j * dilation];
                    }
                }
                if a <= 0.0 {
                    continue;
                }
                if heap.len() < top {
                    heap.push(Reverse(Hit(a, s, start)));
                } else if heap.peek().is_some_and(|Reverse(h)| a > h.0) {
                    heap.pop();
                    heap.push(Reverse(Hit(a, s, start)));
                }
            }
        }
        samples.push(x);
    }
    let mut motifs = Vec::new();
    for (filter, heap) in best.into_iter().enumerate() {
        if heap.is_empty() {
            continue;
        }
        let hits = heap.into_vec();
        let max_activation = hits.iter().map(|Reverse(h)| h.0).fold(f32::MIN, f32::max);
        let mut counts = vec![vec![0.0f32; letters]; width];
        for Reverse(Hit(_, s, start)) in &hits {
            for (j, row) in counts.iter_mut().enumerate() {
                for (c, n) in row.iter_mut().enumerate() {
                    *n += samples[*s][c * length + start + j * dilation];
                }
            }
        }
        let pwm = counts
            .into_iter()
            .map(|row| {
                let total: f32 = row.iter().sum();
                if total > 0.0 {
                    row.iter().map(|n| n / total).collect()
                } else {
                    vec![1.0 / letters as f32; letters]
                }
            })
            .collect();
        motifs.push(Motif {
            filter,
            pwm,
            sites: hits.len(),
            max_activation,
        });
    }
    Ok(motifs)
}

/// `motifs` in MEME's minimal motif format (version 4) over `letters` (the
/// model's alphabet), with a uniform background.
pub fn meme(motifs: &[Motif], letters: &[String]) -> String {
    let alphabet: String = letters.concat();
    let dna = alphabet == "ACGT";
    let mut s = String::from("MEME version 4\n\n");
    s += &format!("ALPHABET= {alphabet}\n\n");
    if dna {
        s += "strands: + -\n\n";
    }
    s += "Background letter frequencies\n";
    let share = 1.0 / letters.len().max(1) as f64;
    let background: Vec<String> = letters.iter().map(|l| format!("{l} {share:.3}")).collect();
    s += &background.join(" ");
    s += "\n\n";
    for m in motifs {
        s += &format!("MOTIF filter_{} filter{}\n", m.filter + 1, m.filter + 1);
        s += &format!(
            "letter-probability matrix: alength= {} w= {} nsites= {} E= 0\n",
            letters.len(),
            m.pwm.len(),
            m.sites
        );
        for row in &m.pwm {
            let cells: Vec<String> = row.iter().map(|p| format!("{p:.6}")).collect();
            s += &format!(" {}\n", cells.join("  "));
        }
        s += "\n";
    }
    s
}
