//! Grad-CAM (Selvaraju et al. 2017) for image networks: the output of the
//! last layer that still gives an image, pooling aside (the last
//! convolution's feature maps after its activation, before they are pooled,
//! as in Grad-CAM's paper), weighted by the gradient of the
//! explained score, summed over the maps, kept where positive and scaled up
//! to the input's size (bilinear), so it lies over the image.
//!
//! The weighting is position by position (the element-wise form, HiResCAM:
//! Draelos & Carin 2020) rather than by each map's mean gradient. For a
//! network that averages its last maps before the head the two are the same
//! (the gradient is then equal at every position); for one that flattens
//! them into a dense layer, as the bundled image CNN does, the mean
//! gradient mixes the weights of all positions and the map can light up the
//! background, while the element-wise map adds up to the first-order
//! (gradient × activation) part of the score, position by position.

use super::*;

/// Each sample's Grad-CAM map.
#[derive(Debug, Clone)]
pub struct GradCam {
    /// The input's height and width, the size of `maps`.
    pub height: usize,
    pub width: usize,
    /// `samples × height × width`, ≥ 0, in the units of the score.
    pub maps: Vec<f32>,
    /// The size of the feature maps it was made from.
    pub coarse: (usize, usize),
    pub targets: Vec<usize>,
    pub scores: Vec<f32>,
}

/// Grad-CAM of every sample of `data` (images, as read) for the output `explained`.
pub fn grad_cam(
    model: &TrainedModel,
    data: &Dataset,
    explained: &Explained,
    device: &Device,
) -> Result<GradCam, ExplainError> {
    let [_, height, width] = data.shape[..] else {
        return Err(ExplainError::NotApplicable(format!(
            "Grad-CAM is made for networks on images; {} holds samples of shape {:?}",
            data.source.display(),
            data.shape
        )));
    };
    let scorer = Scorer::new(model, data, device)?;
    let task = model.experiment.task;
    let mut out = GradCam {
        height,
        width,
        maps: Vec::with_capacity(data.len() * height * width),
        coarse: (0, 0),
        targets: Vec::with_capacity(data.len()),
        scores: Vec::with_capacity(data.len()),
    };
    let idx: Vec<usize> = (0..data.len()).collect();
    for part in idx.chunks(64) {
        let (x, _) = rows(model, data, part);
        let (scores, _) = scorer.run(x.clone(), part.len(), None, None)?;
        let targets = scorer.targets(explained, &scores, task)?;
        let (features, grads, [_, k, h, w]) = scorer.run_tapped(x, part.len(), &targets)?;
        out.coarse = (h, w);
        for (r, &t) in targets.iter().enumerate() {
            let a = &features[r * k * h * w..(r + 1) * k * h * w];
            let g = &grads[r * k * h * w..(r + 1) * k * h * w];
            // Each feature map times its gradient, position by position.
            let mut cam = vec![0.0f32; h * w];
            for c in 0..k {
                let plane = c * h * w..(c + 1) * h * w;
                for ((m, v), d) in cam.iter_mut().zip(&a[plane.clone()]).zip(&g[plane]) {
                    *m += v * d;
                }
            }
            cam.iter_mut().for_each(|m| *m = m.max(0.0));
            out.maps.extend(upsample(&cam, h, w, height, width));
            out.scores.push(scores[r * scorer.outputs + t]);
        }
        out.targets.extend(targets);
    }
    Ok(out)
}

/// `map` (`h × w`) scaled to `height × width`, bilinear, pixel centres aligned.
pub(super) fn upsample(map: &[f32], h: usize, w: usize, height: usize, width: usize) -> Vec<f32> {
    let at = |size: usize, to: usize, i: usize| -> (usize, usize, f32) {
        let s = ((i as f32 + 0.5) * size as f32 / to as f32 - 0.5).clamp(0.0, (size - 1) as f32);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(size - 1), s - lo as f32)
    };
    let mut out = Vec::with_capacity(height * width);
    for y in 0..height {
        let (y0, y1, fy) = at(h, height, y);
        for x in 0..width {
            let (x0, x1, fx) = at(w, width, x);
            let top = map[y0 * w + x0] * (1.0 - fx) + map[y0 * w + x1] * fx;
            let bottom = map[y1 * w + x0] * (1.0 - fx) + map[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}
