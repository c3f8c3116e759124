//! The files an explanation is written to (`lamina explain`, and the window's
//! export of the Explain view): attributions as `.npy` and `.csv` (one row per
//! sample, one value per position, pixel or feature, in the order of the
//! input), which output each sample was explained for, the mutagenesis maps,
//! the first layer's motifs as MEME text and one logo PNG per filter, and
//! the features of a table ranked per class, and Grad-CAM maps with overlays.
//! What is computed is `crate::explain`'s; this only writes it.

use std::path::{Path, PathBuf};

use super::{ExportError, write_csv};
use crate::data::Dataset;
use crate::explain::{Against, GradCam, Importance, Motif, Mutagenesis};
use crate::spec::write_atomic;

/// Write `values` (`shape`, row-major) as a float32 NumPy array, atomically.
pub fn write_npy_shaped(path: &Path, values: &[f32], shape: &[usize]) -> Result<(), ExportError> {
    let err = |e: std::io::Error| ExportError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    use npyz::WriterBuilder;
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut bytes = Vec::new();
    {
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&dims)
            .writer(&mut bytes)
            .begin_nd()
            .map_err(err)?;
        w.extend(values.iter().copied()).map_err(err)?;
        w.finish().map_err(err)?;
    }
    write_atomic(path, &bytes).map_err(err)
}

/// The names of the values of one sample's summed attributions: positions
/// (`pos1…`), pixels (`y0_x0…`) or the features' own names.
pub fn value_names(shape: &[usize], features: &[String]) -> Vec<String> {
    match shape {
        [f] if features.len() == *f => features.to_vec(),
        [f] => (1..=*f).map(|i| format!("feature{i}")).collect(),
        [_, l] => (1..=*l).map(|p| format!("pos{p}")).collect(),
        [_, h, w] => (0..*h)
            .flat_map(|y| (0..*w).map(move |x| format!("y{y}_x{x}")))
            .collect(),
        _ => Vec::new(),
    }
}

/// `attributions.npy` (samples × positions, features, or H × W) and
/// `attributions.csv` (id, then one value per position or feature) in `dir`.
pub fn write_attributions(
    dir: &Path,
    ids: &[String],
    values: &[f32],
    shape: &[usize],
    features: &[String],
) -> Result<Vec<PathBuf>, ExportError> {
    let width: usize = match shape {
        [f] => *f,
        [_, rest @ ..] => rest.iter().product(),
        [] => 0,
    };
    let mut dims = vec![ids.len()];
    match shape {
        [_, h, w] => dims.extend([*h, *w]),
        _ => dims.push(width),
    }
    let npy = dir.join("attributions.npy");
    write_npy_shaped(&npy, values, &dims)?;
    let mut header = vec!["id".to_string()];
    header.extend(value_names(shape, features));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .zip(values.chunks(width.max(1)))
        .map(|(id, v)| {
            std::iter::once(id.clone())
                .chain(v.iter().map(|x| x.to_string()))
                .collect()
        })
        .collect();
    let csv = dir.join("attributions.csv");
    write_csv(&csv, &header, &rows)?;
    Ok(vec![npy, csv])
}

/// `explained.csv`: for each sample, the output explained, its score and
/// (integrated gradients) the baseline's score.
pub fn write_explained(
    dir: &Path,
    ids: &[String],
    classes: &[String],
    targets: &[usize],
    scores: &[f32],
    baseline: Option<&[f32]>,
) -> Result<PathBuf, ExportError> {
    let mut header: Vec<String> = ["id", "explained", "score"].map(String::from).to_vec();
    if baseline.is_some() {
        header.push("baseline_score".into());
    }
    let rows: Vec<Vec<String>> = (0..ids.len())
        .map(|s| {
            let name = classes
                .get(targets[s])
                .cloned()
                .unwrap_or_else(|| format!("output {}", targets[s]));
            let mut r = vec![ids[s].clone(), name, scores[s].to_string()];
            if let Some(b) = baseline {
                r.push(b[s].to_string());
            }
            r
        })
        .collect();
    let path = dir.join("explained.csv");
    write_csv(&path, &header, &rows)?;
    Ok(path)
}

/// The summary track of each sample's mutagenesis (`samples × positions`)
/// as attributions, and the whole map as `mutagenesis.npy`
/// (`samples × positions × letters`).
pub fn write_mutagenesis(
    dir: &Path,
    ids: &[String],
    map: &Mutagenesis,
) -> Result<Vec<PathBuf>, ExportError> {
    let tracks: Vec<f32> = (0..ids.len()).flat_map(|s| map.track(s)).collect();
    let mut written = write_attributions(
        dir,
        ids,
        &tracks,
        &[map.letters.len(), map.length],
        &map.letters,
    )?;
    let npy = dir.join("mutagenesis.npy");
    write_npy_shaped(
        &npy,
        &map.effects,
        &[ids.len(), map.length, map.letters.len()],
    )?;
    written.push(npy);
    Ok(written)
}

/// `motifs.meme` and `logos/filter_N.png` for each motif.
pub fn write_motifs(
    dir: &Path,
    motifs: &[Motif],
    letters: &[String],
) -> Result<Vec<PathBuf>, ExportError> {
    let meme = dir.join("motifs.meme");
    write_atomic(&meme, crate::explain::meme(motifs, letters).as_bytes()).map_err(|source| {
        ExportError::Write {
            path: meme.clone(),
            source,
        }
    })?;
    let mut written = vec![meme];
    for m in motifs {
        let path = dir
            .join("logos")
            .join(format!("filter_{}.png", m.filter + 1));
        let title = format!("filter {} ({} windows)", m.filter + 1, m.sites);
        super::logo::logo_png(&path, &m.pwm, letters, &title)?;
        written.push(path);
    }
    Ok(written)
}

/// The files and folders an explanation writes into `dir` (with the
/// mutagenesis map, with motifs, with feature importance, with Grad-CAM), to
/// check before anything is written.
pub fn planned_files(
    dir: &Path,
    mutagenesis: bool,
    motifs: bool,
    importance: bool,
    gradcam: bool,
) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["attributions.npy", "attributions.csv", "explained.csv"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    if importance {
        files.push(dir.join("importance.csv"));
    }
    if gradcam {
        files.push(dir.join("gradcam.npy"));
        files.push(dir.join("gradcam"));
    }
    if mutagenesis {
        files.push(dir.join("mutagenesis.npy"));
    }
    if motifs {
        files.push(dir.join("motifs.meme"));
        files.push(dir.join("logos"));
    }
    files
}

/// `importance.csv`: for each class, its features ranked by mean |gradient ×
/// input|, with their permutation importance (empty where not shuffled).
pub fn write_importance(dir: &Path, imp: &Importance) -> Result<PathBuf, ExportError> {
    let permutation = match imp.against {
        Against::Labels => "permutation_loss_increase",
        Against::Predictions => "permutation_loss_increase_vs_predictions",
    };
    let header: Vec<String> = [
        "class",
        "rank",
        "feature",
        "mean_abs_attribution",
        permutation,
    ]
    .map(String::from)
    .to_vec();
    let f = imp.features.len();
    let mut rows = Vec::with_capacity(imp.classes.len() * f);
    for (c, class) in imp.classes.iter().enumerate() {
        if imp.samples[c] == 0 {
            continue;
        }
        for (rank, j) in imp.ranked(c).into_iter().enumerate() {
            let p = imp.permutation[c * f + j];
            rows.push(vec![
                class.clone(),
                (rank + 1).to_string(),
                imp.features[j].clone(),
                imp.attribution[c * f + j].to_string(),
                if p.is_nan() {
                    String::new()
                } else {
                    p.to_string()
                },
            ]);
        }
    }
    let path = dir.join("importance.csv");
    write_csv(&path, &header, &rows)?;
    Ok(path)
}

/// At most this many overlays are drawn (the maps of all images are in `gradcam.npy`).
pub const OVERLAYS_AT_MOST: usize = 100;

/// `gradcam.npy` (`samples × height × width`) and, for the first
/// [`OVERLAYS_AT_MOST`] images, `gradcam/<id>.png`: the image in grey with
/// the map over it in heat colours.
pub fn write_gradcam(
    dir: &Path,
    data: &Dataset,
    cam: &GradCam,
) -> Result<Vec<PathBuf>, ExportError> {
    let npy = dir.join("gradcam.npy");
    write_npy_shaped(&npy, &cam.maps, &[data.len(), cam.height, cam.width])?;
    let mut written = vec![npy];
    let plane = cam.height * cam.width;
    for s in 0..data.len().min(OVERLAYS_AT_MOST) {
        let path = dir
            .join("gradcam")
            .join(format!("{}.png", safe_name(&data.ids[s])));
        let bytes = overlay_png(
            &data.sample(s),
            &cam.maps[s * plane..(s + 1) * plane],
            cam.height,
            cam.width,
        )
        .map_err(|e| ExportError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, &bytes).map_err(|source| ExportError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// A sample id as a file name: an image's extension dropped, path
/// separators and other awkward characters replaced.
fn safe_name(id: &str) -> String {
    let stem = Path::new(id)
        .extension()
        .map_or(id, |e| &id[..id.len() - e.len() - 1]);
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.trim_start_matches('.').to_string()
}

/// An image (channel-first raw values) in grey with `map` (`h × w`) over it,
/// scaled up to at least 256 pixels across, as PNG.
pub fn overlay_png(image: &[f32], map: &[f32], h: usize, w: usize) -> Result<Vec<u8>, String> {
    let channels = image.len() / (h * w).max(1);
    let grey: Vec<f32> = (0..h * w)
        .map(|i| (0..channels).map(|c| image[c * h * w + i]).sum::<f32>() / channels.max(1) as f32)
        .collect();
    let (lo, hi) = grey
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let top = map.iter().copied().fold(0.0f32, f32::max).max(1e-12);
    let scale = (256 / w.max(1)).max(1) as u32;
    let img = image::RgbImage::from_fn(w as u32 * scale, h as u32 * scale, |x, y| {
        let i = (y / scale) as usize * w + (x / scale) as usize;
        let g = if hi > lo {
            (grey[i] - lo) / (hi - lo)
        } else {
            0.0
        } * 255.0;
        let a = (map[i] / top).clamp(0.0, 1.0);
        let heat = super::heat_color(a);
        let mix = |k: usize| (g * (1.0 - 0.6 * a) + heat[k] as f32 * 0.6 * a) as u8;
        image::Rgb([mix(0), mix(1), mix(2)])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| e.to_string())?;
    Ok(bytes)
}
