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
use crate::explain::{Against, Explanation, GradCam, Importance, Motif, Mutagenesis};
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

/// `mutagenesis.npy` (`samples × positions × letters`) and
/// `mutagenesis.csv`, each sample's summary track (id, then the largest
/// change at each position), for the samples `ids` (the first of the data).
pub fn write_mutagenesis(
    dir: &Path,
    ids: &[String],
    map: &Mutagenesis,
) -> Result<Vec<PathBuf>, ExportError> {
    let npy = dir.join("mutagenesis.npy");
    write_npy_shaped(
        &npy,
        &map.effects,
        &[ids.len(), map.length, map.letters.len()],
    )?;
    let mut header = vec!["id".to_string()];
    header.extend((1..=map.length).map(|p| format!("pos{p}")));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(s, id)| {
            std::iter::once(id.clone())
                .chain(map.track(s).iter().map(|x| x.to_string()))
                .collect()
        })
        .collect();
    let csv = dir.join("mutagenesis.csv");
    write_csv(&csv, &header, &rows)?;
    Ok(vec![npy, csv])
}

/// Every file of `e` into `dir` (`data` is what was explained, `classes`
/// the model's): the attributions (or, without them, the mutagenesis
/// summary tracks as attributions), `explained.csv`, the mutagenesis maps,
/// motifs and logos, feature importance and Grad-CAM, as `e` holds them.
pub fn write_explanation(
    dir: &Path,
    data: &Dataset,
    classes: &[String],
    e: &Explanation,
) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    if let Some(a) = &e.attributions {
        let (summed, _) = a.summed();
        written.extend(write_attributions(
            dir,
            &data.ids,
            &summed,
            &data.shape,
            &data.feature_names,
        )?);
        written.push(write_explained(
            dir,
            &data.ids,
            classes,
            &a.targets,
            &a.scores,
            a.baseline_scores.as_deref(),
        )?);
    }
    if let Some(m) = &e.mutagenesis {
        let ids = &data.ids[..m.samples().min(data.len())];
        if e.attributions.is_none() {
            let tracks: Vec<f32> = (0..ids.len()).flat_map(|s| m.track(s)).collect();
            written.extend(write_attributions(
                dir,
                ids,
                &tracks,
                &[m.letters.len(), m.length],
                &m.letters,
            )?);
            written.push(write_explained(
                dir, ids, classes, &m.targets, &m.scores, None,
            )?);
        }
        written.extend(write_mutagenesis(dir, ids, m)?);
    }
    if let Some(motifs) = &e.motifs {
        written.extend(write_motifs(dir, motifs, &data.feature_names)?);
    }
    if let Some(imp) = &e.importance {
        let path = dir.join("importance.csv");
        write_importance(&path, imp)?;
        written.push(path);
    }
    if let Some(cam) = &e.gradcam {
        written.extend(write_gradcam(dir, data, cam)?);
    }
    Ok(written)
}

/// The files and folders [`write_explanation`] would write of `e` into `dir`.
pub fn explanation_files(dir: &Path, e: &Explanation) -> Vec<PathBuf> {
    planned_files(
        dir,
        e.mutagenesis.is_some(),
        e.motifs.is_some(),
        e.importance.is_some(),
        e.gradcam.is_some(),
    )
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
        files.push(dir.join("mutagenesis.csv"));
    }
    if motifs {
        files.push(dir.join("motifs.meme"));
        files.push(dir.join("logos"));
    }
    files
}

/// `path` (`importance.csv`): for each class, its features ranked by mean
/// |gradient × input|, with their permutation importance (empty where not
/// shuffled).
pub fn write_importance(path: &Path, imp: &Importance) -> Result<(), ExportError> {
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
    write_csv(path, &header, &rows)
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

/// An image (channel-first raw values) in grey with `map` (`h × w`, its
/// positive part, up to its 99th percentile) over it in heat colours, scaled
/// up to at least 256 pixels across.
pub fn overlay_rgb(image: &[f32], map: &[f32], h: usize, w: usize) -> image::RgbImage {
    let channels = image.len() / (h * w).max(1);
    let grey: Vec<f32> = (0..h * w)
        .map(|i| (0..channels).map(|c| image[c * h * w + i]).sum::<f32>() / channels.max(1) as f32)
        .collect();
    let (lo, hi) = grey
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    // Scaled to the 99th percentile of its positive part, so that a few
    // extreme pixels (gradients often have them) do not leave the rest dark.
    let mut positive: Vec<f32> = map.iter().copied().filter(|v| *v > 0.0).collect();
    positive.sort_by(f32::total_cmp);
    let top = positive
        .get((positive.len().saturating_sub(1) as f32 * 0.99) as usize)
        .copied()
        .unwrap_or(0.0)
        .max(1e-12);
    let scale = (256 / w.max(1)).max(1) as u32;
    image::RgbImage::from_fn(w as u32 * scale, h as u32 * scale, |x, y| {
        let i = (y / scale) as usize * w + (x / scale) as usize;
        let g = if hi > lo {
            (grey[i] - lo) / (hi - lo)
        } else {
            0.0
        } * 255.0;
        let a = (map[i] / top).clamp(0.0, 1.0);
        // The bright end of the heat colours: dark ones vanish on the grey.
        let heat = super::heat_color(0.4 + 0.6 * a);
        let mix = |k: usize| (g * (1.0 - 0.75 * a) + heat[k] as f32 * 0.75 * a) as u8;
        image::Rgb([mix(0), mix(1), mix(2)])
    })
}

/// [`overlay_rgb`] as PNG.
pub fn overlay_png(image: &[f32], map: &[f32], h: usize, w: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    overlay_rgb(image, map, h, w)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// One sequence explained, as the window shows it: its letters, the
/// attribution of each position (summed over letters; empty: none), and the
/// mutagenesis map (`positions × alphabet`; none: not mutated).
#[derive(Debug, Clone)]
pub struct SequenceExplained<'a> {
    pub title: String,
    pub letters: &'a [char],
    pub track: &'a [f32],
    pub effects: Option<&'a [f32]>,
    pub alphabet: &'a [String],
}

impl SequenceExplained<'_> {
    fn positions(&self) -> usize {
        let mutated = self
            .effects
            .map_or(0, |e| e.len() / self.alphabet.len().max(1));
        self.letters.len().max(self.track.len()).max(mutated)
    }
}

/// `path`: one row per position of the sequence: its number, its letter,
/// its attribution, and the change of the score for each substituted letter.
pub fn sequence_csv(path: &Path, s: &SequenceExplained) -> Result<(), ExportError> {
    let mut header: Vec<String> = ["position", "letter", "attribution"]
        .map(String::from)
        .to_vec();
    if s.effects.is_some() {
        header.extend(s.alphabet.iter().map(|l| format!("mutated_to_{l}")));
    }
    let a = s.alphabet.len();
    let rows: Vec<Vec<String>> = (0..s.positions())
        .map(|p| {
            let mut row = vec![
                (p + 1).to_string(),
                s.letters.get(p).map(char::to_string).unwrap_or_default(),
                s.track.get(p).map(f32::to_string).unwrap_or_default(),
            ];
            if let Some(e) = s.effects {
                row.extend(
                    (0..a).map(|k| e.get(p * a + k).map(f32::to_string).unwrap_or_default()),
                );
            }
            row
        })
        .collect();
    write_csv(path, &header, &rows)
}

/// `path`: the attribution track as bars over the letters and, below, the
/// mutagenesis map (a row per letter), aligned position by position.
pub fn sequence_png(path: &Path, s: &SequenceExplained) -> Result<(), ExportError> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let n = s.positions().max(1) as i32;
    let cell = (1400 / n).clamp(3, 16);
    let (left, right) = (90i32, 20i32);
    let track_h = 120i32;
    let rows = if s.effects.is_some() {
        s.alphabet.len() as i32
    } else {
        0
    };
    let row_h = cell.max(12);
    let top = 40i32;
    let letters_y = top + track_h + 4;
    let map_y = letters_y + 22;
    let height = map_y + rows * row_h + if rows > 0 { 40 } else { 10 };
    let width = left + n * cell + right;
    let size = (width as u32, height as u32);
    super::plots::render_sized(path, size, |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let font = |size: i32, h: HPos| {
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Center))
        };
        root.draw(&Text::new(
            s.title.clone(),
            (left, 18),
            font(18, HPos::Left),
        ))
        .map_err(e)?;
        let top_value = s.track.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
        let zero = top + track_h / 2;
        root.draw(&Text::new(
            "attribution",
            (left - 8, zero),
            font(13, HPos::Right),
        ))
        .map_err(e)?;
        root.draw(&PathElement::new(
            vec![(left, zero), (left + n * cell, zero)],
            RGBColor(160, 160, 160),
        ))
        .map_err(e)?;
        for (p, &v) in s.track.iter().enumerate() {
            let h = (v / top_value * (track_h / 2 - 4) as f32) as i32;
            let [r, g, b] = super::diverging_color(v / top_value);
            let x = left + p as i32 * cell;
            let (y0, y1) = if h >= 0 {
                (zero - h, zero)
            } else {
                (zero, zero - h)
            };
            root.draw(&Rectangle::new(
                [(x, y0), (x + cell - 1, y1.max(y0 + 1))],
                RGBColor(r, g, b).filled(),
            ))
            .map_err(e)?;
        }
        // The letters when they fit one per cell, else every tenth position's number.
        for p in 0..n {
            let x = left + p * cell + cell / 2;
            let text = if cell >= 9 {
                s.letters.get(p as usize).map(char::to_string)
            } else {
                (p % 10 == 0).then(|| (p + 1).to_string())
            };
            if let Some(t) = text {
                root.draw(&Text::new(t, (x, letters_y + 9), font(12, HPos::Center)))
                    .map_err(e)?;
            }
        }
        if let Some(effects) = s.effects {
            let a = s.alphabet.len().max(1);
            let top_effect = effects.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
            for (k, letter) in s.alphabet.iter().enumerate() {
                let y = map_y + k as i32 * row_h;
                root.draw(&Text::new(
                    format!("to {letter}"),
                    (left - 8, y + row_h / 2),
                    font(13, HPos::Right),
                ))
                .map_err(e)?;
                for p in 0..(effects.len() / a) {
                    let v = effects[p * a + k];
                    let [r, g, b] = super::diverging_color(v / top_effect);
                    let x = left + p as i32 * cell;
                    root.draw(&Rectangle::new(
                        [(x, y), (x + cell - 1, y + row_h - 1)],
                        RGBColor(r, g, b).filled(),
                    ))
                    .map_err(e)?;
                }
            }
            let y = map_y + rows * row_h + 18;
            root.draw(&Text::new(
                format!(
                    "in-silico mutagenesis: change of the score, blue down to {:.3}, red up to {:.3}",
                    -top_effect, top_effect
                ),
                (left, y),
                font(13, HPos::Left),
            ))
            .map_err(e)?;
        }
        Ok(())
    })
}

/// `path`: the features `names` with their `values`, largest first, as
/// horizontal bars (at most the first 30).
pub fn ranked_png(
    path: &Path,
    title: &str,
    names: &[String],
    values: &[f32],
) -> Result<(), ExportError> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let shown = names.len().min(values.len()).min(30);
    let (left, top, row) = (200i32, 44i32, 22i32);
    let width = 800i32;
    let height = top + shown as i32 * row + 20;
    let top_value = values[..shown].iter().fold(1e-12f32, |m, v| m.max(v.abs()));
    super::plots::render_sized(path, (width as u32, height as u32), |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let font = |size: i32, h: HPos| {
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Center))
        };
        root.draw(&Text::new(
            title.to_string(),
            (20, 20),
            font(18, HPos::Left),
        ))
        .map_err(e)?;
        for i in 0..shown {
            let y = top + i as i32 * row;
            root.draw(&Text::new(
                names[i].clone(),
                (left - 8, y + row / 2),
                font(14, HPos::Right),
            ))
            .map_err(e)?;
            let w = (values[i].abs() / top_value * (width - left - 110) as f32) as i32;
            root.draw(&Rectangle::new(
                [(left, y + 3), (left + w.max(1), y + row - 3)],
                RGBColor(70, 130, 230).filled(),
            ))
            .map_err(e)?;
            root.draw(&Text::new(
                format!("{:.4}", values[i]),
                (left + w + 6, y + row / 2),
                font(13, HPos::Left),
            ))
            .map_err(e)?;
        }
        Ok(())
    })
}

/// `path`: an image's map (`h × w`) as a table, one row per image row.
pub fn map_csv(path: &Path, map: &[f32], h: usize, w: usize) -> Result<(), ExportError> {
    let header: Vec<String> = (1..=w).map(|x| format!("x{x}")).collect();
    let rows: Vec<Vec<String>> = (0..h)
        .map(|y| map[y * w..(y + 1) * w].iter().map(f32::to_string).collect())
        .collect();
    write_csv(path, &header, &rows)
}

/// `path`: an image with `map` over it, as [`overlay_rgb`] draws it.
pub fn write_overlay(
    path: &Path,
    image: &[f32],
    map: &[f32],
    h: usize,
    w: usize,
) -> Result<(), ExportError> {
    let err = |e: String| ExportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let bytes = overlay_png(image, map, h, w).map_err(err)?;
    write_atomic(path, &bytes).map_err(|source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
