//! Seeded train/validation split, stratified by class when there are classes so
//! that every class appears in both parts.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::Labels;

/// Indices of the training and validation samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

/// Split `n` samples, holding out `fraction` of each class (or of all samples).
pub fn split(n: usize, labels: &Labels, fraction: f64, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let groups: Vec<Vec<usize>> = match labels {
        Labels::Classes { index, names } => {
            let mut g = vec![Vec::new(); names.len()];
            for (i, &c) in index.iter().enumerate() {
                g[c].push(i);
            }
            g
        }
        _ => vec![(0..n).collect()],
    };
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for mut g in groups {
        g.shuffle(&mut rng);
        let mut k = (g.len() as f64 * fraction).round() as usize;
        if fraction > 0.0 && k == 0 && g.len() >= 2 {
            k = 1;
        }
        k = k.min(g.len().saturating_sub(1));
        valid.extend_from_slice(&g[..k]);
        train.extend_from_slice(&g[k..]);
    }
    train.shuffle(&mut rng);
    valid.sort_unstable();
    Split { train, valid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_disjoint_and_stratified() {
        let labels = Labels::Classes {
            index: (0..100).map(|i| usize::from(i % 10 == 0)).collect(),
            names: vec!["common".into(), "rare".into()],
        };
        let a = split(100, &labels, 0.2, 7);
        let b = split(100, &labels, 0.2, 7);
        assert_eq!(a, b);
        assert_ne!(a, split(100, &labels, 0.2, 8));
        assert_eq!(a.train.len() + a.valid.len(), 100);
        let mut all: Vec<_> = a.train.iter().chain(&a.valid).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let rare_valid = a.valid.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!(rare_valid, 2, "the rare class is held out in proportion");
    }

    #[test]
    fn no_validation_when_fraction_is_zero() {
        let s = split(10, &Labels::None, 0.0, 1);
        assert_eq!(s.train.len(), 10);
        assert!(s.valid.is_empty());
    }
}
