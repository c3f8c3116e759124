//! Seeded train/validation/test split, stratified by class when there are
//! classes so that every class appears in each part it can.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::Labels;

/// Indices of the training, validation and test samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    /// Scored once, at the end, with the weights the run keeps.
    pub test: Vec<usize>,
}

/// Split `n` samples, holding out `fraction` of each class (or of all
/// samples) to validate on and `test_fraction` to test on. A class keeps at
/// least one training sample; a held-out share above zero takes at least one
/// sample of a class that can spare it. With no test share the validation
/// samples are those of a split without one.
pub fn split(n: usize, labels: &Labels, fraction: f64, test_fraction: f64, seed: u64) -> Split {
    split_folds(n, labels, fraction, test_fraction, None, seed)
}

/// [`split`], or with `folds = Some((k, i))` k-fold cross-validation: the
/// test share is held out as before, the rest of each class is dealt into `k`
/// folds and fold `i` validates (`fraction` is then unused). The test samples
/// and the folds are the same for every `i`, so the folds are disjoint and
/// together cover every sample outside the test share.
pub fn split_folds(
    n: usize,
    labels: &Labels,
    fraction: f64,
    test_fraction: f64,
    folds: Option<(usize, usize)>,
    seed: u64,
) -> Split {
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
    let mut test = Vec::new();
    let share = |len: usize, fraction: f64, spare: usize| {
        let mut k = (len as f64 * fraction).round() as usize;
        if fraction > 0.0 && k == 0 && spare >= 2 {
            k = 1;
        }
        k.min(spare.saturating_sub(1))
    };
    for mut g in groups {
        g.shuffle(&mut rng);
        if let Some((k, i)) = folds {
            // The test samples first, then every k-th of the rest validates.
            let kt = share(g.len(), test_fraction, g.len());
            test.extend_from_slice(&g[..kt]);
            for (j, &s) in g[kt..].iter().enumerate() {
                if j % k == i {
                    valid.push(s);
                } else {
                    train.push(s);
                }
            }
            continue;
        }
        let kv = share(g.len(), fraction, g.len());
        let kt = share(g.len(), test_fraction, g.len() - kv);
        valid.extend_from_slice(&g[..kv]);
        test.extend_from_slice(&g[kv..kv + kt]);
        train.extend_from_slice(&g[kv + kt..]);
    }
    train.shuffle(&mut rng);
    valid.sort_unstable();
    test.sort_unstable();
    Split { train, valid, test }
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
        let a = split(100, &labels, 0.2, 0.0, 7);
        let b = split(100, &labels, 0.2, 0.0, 7);
        assert_eq!(a, b);
        assert_ne!(a, split(100, &labels, 0.2, 0.0, 8));
        assert!(a.test.is_empty());
        assert_eq!(a.train.len() + a.valid.len(), 100);
        let mut all: Vec<_> = a.train.iter().chain(&a.valid).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let rare_valid = a.valid.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!(rare_valid, 2, "the rare class is held out in proportion");
    }

    #[test]
    fn no_validation_when_fraction_is_zero() {
        let s = split(10, &Labels::None, 0.0, 0.0, 1);
        assert_eq!(s.train.len(), 10);
        assert!(s.valid.is_empty());
    }

    #[test]
    fn a_test_share_is_stratified_disjoint_and_leaves_validation_alone() {
        let labels = Labels::Classes {
            index: (0..200).map(|i| usize::from(i % 10 == 0)).collect(),
            names: vec!["common".into(), "rare".into()],
        };
        let s = split(200, &labels, 0.2, 0.1, 3);
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (140, 40, 20));
        let rare = |v: &[usize]| v.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!((rare(&s.valid), rare(&s.test)), (4, 2));
        let mut all: Vec<_> = s
            .train
            .iter()
            .chain(&s.valid)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        assert_eq!(s.valid, split(200, &labels, 0.2, 0.0, 3).valid);
        // A class of two keeps one to train on; a class of three spares one for each.
        let tiny = Labels::Classes {
            index: vec![0, 0, 1, 1, 1],
            names: vec!["a".into(), "b".into()],
        };
        let t = split(5, &tiny, 0.2, 0.2, 1);
        assert_eq!((t.train.len(), t.valid.len(), t.test.len()), (2, 2, 1));
    }

    #[test]
    fn folds_are_disjoint_stratified_and_cover_all_but_the_test_samples() {
        let labels = Labels::Classes {
            index: (0..100).map(|i| usize::from(i % 5 == 0)).collect(),
            names: vec!["common".into(), "rare".into()],
        };
        let all: Vec<Split> = (0..5)
            .map(|i| split_folds(100, &labels, 0.2, 0.1, Some((5, i)), 9))
            .collect();
        let test = &all[0].test;
        assert_eq!(test.len(), 10);
        let mut validated: Vec<usize> = Vec::new();
        for s in &all {
            assert_eq!(&s.test, test, "the same test samples for every fold");
            assert_eq!(s.train.len() + s.valid.len(), 90);
            // 72 common and 18 rare samples dealt into 5 folds.
            let rare = s.valid.iter().filter(|&&i| i % 5 == 0).count();
            assert!((3..=4).contains(&rare), "stratified: {rare} rare");
            assert!((14..=15).contains(&(s.valid.len() - rare)));
            validated.extend(&s.valid);
        }
        validated.sort();
        let mut rest: Vec<usize> = (0..100).filter(|i| !test.contains(i)).collect();
        rest.sort();
        assert_eq!(validated, rest, "every other sample validates exactly once");
    }
}
