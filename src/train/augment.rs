//! Image augmentation for training batches: flips, quarter turns and small
//! shifts, drawn per image from the run's seeded random numbers.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::spec::Augmentation;

/// Applies an [`Augmentation`] to `[channels, height, width]` samples.
pub struct Augmenter {
    settings: Augmentation,
    shape: [usize; 3],
    rng: StdRng,
    scratch: Vec<f32>,
}

impl Augmenter {
    /// `None` unless the settings ask for something and samples are images.
    pub fn new(settings: Augmentation, shape: &[usize], seed: u64) -> Option<Augmenter> {
        let &[c, h, w] = shape else { return None };
        settings.is_on().then(|| Augmenter {
            settings,
            shape: [c, h, w],
            rng: StdRng::seed_from_u64(seed ^ 0xa5a5_5a5a),
            scratch: Vec::new(),
        })
    }

    /// Change one sample in place.
    pub fn apply(&mut self, sample: &mut [f32]) {
        let [c, h, w] = self.shape;
        let s = self.settings;
        let flip_x = s.flips && self.rng.random_bool(0.5);
        let flip_y = s.flips && self.rng.random_bool(0.5);
        let turns = if s.rotations && h == w {
            self.rng.random_range(0..4u8)
        } else {
            0
        };
        let max = s.shift as i64;
        let (dx, dy) = if max > 0 {
            (
                self.rng.random_range(-max..=max),
                self.rng.random_range(-max..=max),
            )
        } else {
            (0, 0)
        };
        if !flip_x && !flip_y && turns == 0 && dx == 0 && dy == 0 {
            return;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(sample);
        let src = &self.scratch;
        let plane = h * w;
        for y in 0..h {
            for x in 0..w {
                // Where output pixel (y, x) comes from: undo the shift, the
                // turn (clockwise quarter turns) and the flips, in that order.
                let sy = (y as i64 - dy).clamp(0, h as i64 - 1) as usize;
                let sx = (x as i64 - dx).clamp(0, w as i64 - 1) as usize;
                let (mut ry, mut rx) = (sy, sx);
                for _ in 0..turns {
                    (ry, rx) = (h - 1 - rx, ry);
                }
                if flip_y {
                    ry = h - 1 - ry;
                }
                if flip_x {
                    rx = w - 1 - rx;
                }
                for ch in 0..c {
                    sample[ch * plane + y * w + x] = src[ch * plane + ry * w + rx];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Vec<f32> {
        (0..2 * 3 * 3).map(|v| v as f32).collect()
    }

    #[test]
    fn every_change_keeps_the_pixels_of_each_channel() {
        let settings = Augmentation {
            flips: true,
            rotations: true,
            shift: 0,
        };
        let mut a = Augmenter::new(settings, &[2, 3, 3], 7).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut x = image();
            a.apply(&mut x);
            // Channel 0 keeps channel 0's values, channel 1 channel 1's.
            let mut c0: Vec<f32> = x[..9].to_vec();
            c0.sort_by(f32::total_cmp);
            assert_eq!(c0, image()[..9]);
            // The centre stays put under flips and quarter turns.
            assert_eq!((x[4], x[13]), (4.0, 13.0));
            seen.insert(x[..9].iter().map(|v| *v as u8).collect::<Vec<_>>());
        }
        // Flips and turns give the 8 symmetries of a square.
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn a_shift_moves_the_image_and_repeats_the_edge() {
        let settings = Augmentation {
            shift: 1,
            ..Default::default()
        };
        let mut a = Augmenter::new(settings, &[1, 1, 4], 3).unwrap();
        let mut outcomes = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut x = vec![1.0, 2.0, 3.0, 4.0];
            a.apply(&mut x);
            outcomes.insert(x.iter().map(|v| *v as u8).collect::<Vec<_>>());
        }
        let want: std::collections::HashSet<Vec<u8>> =
            [vec![1, 2, 3, 4], vec![1, 1, 2, 3], vec![2, 3, 4, 4]].into();
        assert_eq!(outcomes, want);
        // Off, or not images: no augmenter.
        assert!(Augmenter::new(Augmentation::default(), &[1, 2, 2], 0).is_none());
        assert!(Augmenter::new(settings, &[10], 0).is_none());
    }
}
