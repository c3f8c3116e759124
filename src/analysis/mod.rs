//! Analyses of trained models and their outputs that the views draw: latent-space
//! projections (PCA for now). Knows nothing of egui.

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
}
