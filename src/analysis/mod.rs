//! Analyses of trained models and their outputs that the views draw: latent-space
//! projections (PCA for now), how well the latent space keeps classes
//! together, and the colours that tell classes apart in the window and in
//! exported plots. Knows nothing of egui.

/// Project `n` rows of `dims` values onto their first two principal components.
///
/// Centres the data, builds the covariance matrix and finds its two leading
/// eigenvectors by power iteration with deflation; deterministic for given input.
pub fn pca_2d(values: &[f32], n: usize, dims: usize) -> Vec<[f64; 2]> {
    if n == 0 || dims == 0 || values.len() < n * dims {
        return Vec::new();
    }
    if dims == 1 {
        return (0..n).map(|i| [values[i] as f64, 0.0]).collect();
    }
    let (mean, first, second) = pca_axes(values, n, dims);
    project(values, n, &mean, &first, &second)
}

/// Mean and the two leading principal axes of `n` rows of `dims` (≥ 2) values.
fn pca_axes(values: &[f32], n: usize, dims: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0f64; dims];
    for row in values.chunks(dims).take(n) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0f64; dims * dims];
    let mut centred = vec![0.0f64; dims];
    for row in values.chunks(dims).take(n) {
        for j in 0..dims {
            centred[j] = row[j] as f64 - mean[j];
        }
        for a in 0..dims {
            let ca = centred[a];
            if ca == 0.0 {
                continue;
            }
            for b in a..dims {
                cov[a * dims + b] += ca * centred[b];
            }
        }
    }
    for a in 0..dims {
        for b in 0..a {
            cov[a * dims + b] = cov[b * dims + a];
        }
    }
    let first = leading_eigenvector(&cov, dims);
    let lambda = rayleigh(&cov, &first, dims);
    // Deflate: remove the first component, then find the next.
    for a in 0..dims {
        for b in 0..dims {
            cov[a * dims + b] -= lambda * first[a] * first[b];
        }
    }
    let second = leading_eigenvector(&cov, dims);
    (mean, first, second)
}

fn project(values: &[f32], n: usize, mean: &[f64], first: &[f64], second: &[f64]) -> Vec<[f64; 2]> {
    let dims = mean.len();
    values
        .chunks(dims)
        .take(n)
        .map(|row| {
            let (mut x, mut y) = (0.0, 0.0);
            for j in 0..dims {
                let c = row[j] as f64 - mean[j];
                x += c * first[j];
                y += c * second[j];
            }
            [x, y]
        })
        .collect()
}

/// Most features kept for a joint projection (the most variable ones).
const PAIR_FEATURES: usize = 256;

/// Project `a` and `b` (`n` rows of `dims` each) into one 2-D map, fitted on
/// `a`: the first `n` points are `a`'s, the next `n` are `b`'s. With many
/// features only the most variable ones in `a` are used, which keeps this fast.
pub fn project_pair(a: &[f32], b: &[f32], n: usize, dims: usize) -> Vec<[f64; 2]> {
    if n == 0 || dims == 0 || a.len() < n * dims || b.len() < n * dims {
        return Vec::new();
    }
    let keep: Vec<usize> = if dims > PAIR_FEATURES {
        let mut var: Vec<(f64, usize)> = (0..dims)
            .map(|j| {
                let col = a.chunks(dims).take(n).map(|r| r[j] as f64);
                let (s, q) = col.fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
                (q / n as f64 - (s / n as f64).powi(2), j)
            })
            .collect();
        var.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut keep: Vec<usize> = var.iter().take(PAIR_FEATURES).map(|v| v.1).collect();
        keep.sort_unstable();
        keep
    } else {
        (0..dims).collect()
    };
    let pick = |m: &[f32]| -> Vec<f32> {
        m.chunks(dims)
            .take(n)
            .flat_map(|r| keep.iter().map(move |&j| r[j]))
            .collect()
    };
    let (a, b) = (pick(a), pick(b));
    let d = keep.len();
    if d == 1 {
        return a.iter().chain(&b).map(|&v| [v as f64, 0.0]).collect();
    }
    // Fit on `a` alone, then place both with the same axes.
    let (mean, first, second) = pca_axes(&a, n, d);
    let mut out = project(&a, n, &mean, &first, &second);
    out.extend(project(&b, n, &mean, &first, &second));
    out
}

fn leading_eigenvector(m: &[f64], d: usize) -> Vec<f64> {
    // A fixed, non-symmetric start so the result does not depend on chance.
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
    normalise(&mut v);
    for _ in 0..200 {
        let mut w = vec![0.0; d];
        for a in 0..d {
            w[a] = (0..d).map(|b| m[a * d + b] * v[b]).sum();
        }
        if normalise(&mut w) < 1e-12 {
            return v;
        }
        let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = w;
        if delta < 1e-10 {
            break;
        }
    }
    v
}

fn rayleigh(m: &[f64], v: &[f64], d: usize) -> f64 {
    (0..d)
        .map(|a| v[a] * (0..d).map(|b| m[a * d + b] * v[b]).sum::<f64>())
        .sum()
}

fn normalise(v: &mut [f64]) -> f64 {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    norm
}

/// Share of samples whose `k` nearest neighbours (Euclidean, leave-one-out)
/// mostly carry the sample's own label: how well a latent space separates the
/// classes (chance is about the share of the largest class).
pub fn knn_agreement(values: &[f32], dims: usize, labels: &[usize], k: usize) -> Option<f64> {
    let n = labels.len();
    if n <= k || dims == 0 || values.len() < n * dims {
        return None;
    }
    let classes = labels.iter().copied().max()? + 1;
    let row = |i: usize| &values[i * dims..(i + 1) * dims];
    let mut agree = 0usize;
    let mut dist: Vec<(f32, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        dist.clear();
        for j in (0..n).filter(|&j| j != i) {
            let d: f32 = row(i)
                .iter()
                .zip(row(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            dist.push((d, labels[j]));
        }
        dist.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        let mut votes = vec![0usize; classes];
        for &(_, l) in &dist[..k] {
            votes[l] += 1;
        }
        let best = (0..classes).max_by_key(|&c| (votes[c], c == labels[i]))?;
        if best == labels[i] {
            agree += 1;
        }
    }
    Some(agree as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_recovers_the_main_axes_of_a_stretched_cloud() {
        // Points spread 10x more along (1,1,0) than along (1,-1,0), none along z.
        let mut values = Vec::new();
        for i in 0..50 {
            let t = (i as f32 - 25.0) / 5.0;
            let s = ((i * 7) % 11) as f32 / 11.0 - 0.5;
            values.extend_from_slice(&[t + s, t - s, 0.0]);
        }
        let p = pca_2d(&values, 50, 3);
        let var = |k: usize| p.iter().map(|q| q[k] * q[k]).sum::<f64>() / 50.0;
        assert!(
            var(0) > 10.0 * var(1),
            "first component carries most variance"
        );
        assert!(var(1) > 0.0);
        // Projections are centred.
        assert!(p.iter().map(|q| q[0]).sum::<f64>().abs() < 1e-6);
    }

    #[test]
    fn knn_agreement_is_high_for_separated_classes_and_near_chance_for_noise() {
        // Two tight clusters far apart.
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let c = i % 2;
            values.extend([c as f32 * 10.0 + (i as f32 * 0.01), 0.0]);
            labels.push(c);
        }
        assert_eq!(knn_agreement(&values, 2, &labels, 5), Some(1.0));
        // Labels that ignore the coordinates: about half agree.
        let mixed: Vec<usize> = (0..40).map(|i| (i / 2) % 2).collect();
        let a = knn_agreement(&values, 2, &mixed, 5).unwrap();
        assert!(a < 0.8, "{a}");
        assert_eq!(knn_agreement(&values, 2, &labels[..3], 5), None);
    }
}

/// Colours for `n` classes that can be told apart: Tableau 10 (made for
/// categories, fine on light and dark backgrounds) for the first ten, then
/// colours picked the way Glasbey et al. (2007) do, each the candidate
/// farthest in CIELAB from all chosen so far, among mid-lightness colours
/// (visible on the window's dark background and on white exports).
pub fn class_colors(n: usize) -> Vec<[u8; 3]> {
    const TABLEAU10: [[u8; 3]; 10] = [
        [0x4e, 0x79, 0xa7],
        [0xf2, 0x8e, 0x2b],
        [0xe1, 0x57, 0x59],
        [0x76, 0xb7, 0xb2],
        [0x59, 0xa1, 0x4f],
        [0xed, 0xc9, 0x48],
        [0xb0, 0x7a, 0xa1],
        [0xff, 0x9d, 0xa7],
        [0x9c, 0x75, 0x5f],
        [0xba, 0xb0, 0xac],
    ];
    let mut chosen: Vec<[u8; 3]> = TABLEAU10.iter().copied().take(n).collect();
    if n <= TABLEAU10.len() {
        return chosen;
    }
    // Every 17th level of each channel: 16³ candidates.
    let level = |i: u32| (i * 17) as u8;
    let candidates: Vec<([u8; 3], [f64; 3])> = (0..16u32 * 16 * 16)
        .map(|i| [level(i / 256), level(i / 16 % 16), level(i % 16)])
        .map(|c| (c, lab(c)))
        .filter(|(_, l)| (45.0..=82.0).contains(&l[0]))
        .collect();
    let mut nearest: Vec<f64> = candidates
        .iter()
        .map(|(_, l)| {
            chosen
                .iter()
                .map(|&c| distance(*l, lab(c)))
                .fold(f64::MAX, f64::min)
        })
        .collect();
    while chosen.len() < n {
        let Some((best, _)) = nearest.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            break;
        };
        let (colour, l) = candidates[best];
        chosen.push(colour);
        for (d, (_, other)) in nearest.iter_mut().zip(&candidates) {
            *d = d.min(distance(l, *other));
        }
    }
    chosen
}

/// sRGB to CIELAB (D65).
fn lab([r, g, b]: [u8; 3]) -> [f64; 3] {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    #[test]
    fn class_colours_stay_apart_for_many_classes() {
        for n in [4, 10, 20, 30] {
            let c = class_colors(n);
            assert_eq!(c.len(), n);
            let mut closest = f64::MAX;
            for i in 0..n {
                for j in 0..i {
                    closest = closest.min(distance(lab(c[i]), lab(c[j])));
                }
            }
            // ΔE 10 is two colours anyone tells apart side by side.
            assert!(
                closest > 10.0,
                "{n} classes: two colours {closest:.1} apart"
            );
        }
    }
}
