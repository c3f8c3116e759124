//! Plots as PNG files (plotters, drawn in memory, written atomically): loss
//! and accuracy curves, the latent scatter coloured by class, the confusion
//! matrix, ROC and precision-recall curves per class, predicted against true
//! values. Text uses the font the window uses, so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::ExportError;
use crate::spec::write_atomic;
use crate::train::EpochMetrics;
use crate::train::evaluation::{ClassReport, Evaluation};

const W: u32 = 800;
const H: u32 = 500;

/// Distinct colours for classes and series.
const PALETTE: [RGBColor; 8] = [
    RGBColor(70, 130, 230),
    RGBColor(240, 150, 40),
    RGBColor(60, 170, 90),
    RGBColor(210, 70, 90),
    RGBColor(150, 100, 200),
    RGBColor(140, 90, 60),
    RGBColor(220, 120, 190),
    RGBColor(120, 120, 120),
];

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid font bundled with egui; failure only loses text.
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// Draw with `draw` onto a white `W × H` canvas and save it as PNG at `path`.
fn render(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), ExportError> {
    render_sized(path, (W, H), draw)
}

/// [`render`] onto a canvas of `(width, height)` pixels.
pub(super) fn render_sized(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), ExportError> {
    fonts();
    let err = |e: String| ExportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        draw(&root).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err("image size".into()))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| err(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// Train and validation curves of one metric per epoch.
pub fn curves_png(
    path: &Path,
    history: &[EpochMetrics],
    title: &str,
    metric: impl Fn(&crate::train::SplitMetrics) -> Option<f64>,
) -> Result<(), ExportError> {
    let train: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|m| metric(&m.train).map(|v| (m.epoch as f64, v)))
        .collect();
    let valid: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|m| {
            m.valid
                .as_ref()
                .and_then(&metric)
                .map(|v| (m.epoch as f64, v))
        })
        .collect();
    let (y0, y1) = range(train.iter().chain(&valid).map(|p| p.1));
    let x1 = history.last().map_or(1.0, |m| m.epoch as f64).max(1.0);
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f64..x1 + 0.5, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(title)
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, points, color) in [
            ("train", &train, PALETTE[0]),
            ("validation", &valid, PALETTE[1]),
        ] {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// A 2-D projection, one colour per class (or one for all).
pub fn scatter_png(
    path: &Path,
    title: &str,
    points: &[[f64; 2]],
    labels: Option<&[usize]>,
    class_names: &[String],
) -> Result<(), ExportError> {
    let (x0, x1) = range(points.iter().map(|p| p[0]));
    let (y0, y1) = range(points.iter().map(|p| p[1]));
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .draw()
            .map_err(|e| e.to_string())?;
        let groups = class_names.len().max(1);
        // The window's colours, one per class however many there are.
        let colours = crate::analysis::class_colors(groups);
        for (g, &[r, gr, b]) in colours.iter().enumerate() {
            let color = RGBColor(r, gr, b);
            let pts: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .filter(|(i, _)| labels.is_none_or(|l| l.get(*i) == Some(&g)))
                .map(|(_, p)| (p[0], p[1]))
                .collect();
            let name = class_names
                .get(g)
                .cloned()
                .unwrap_or_else(|| "samples".into());
            chart
                .draw_series(
                    pts.into_iter()
                        .map(move |p| Circle::new(p, 3, color.filled())),
                )
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// One line per class on the unit square: ROC curves (with the chance
/// diagonal) or precision-recall curves, each labelled with its area.
fn class_curves_png(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    classes: &[ClassReport],
    roc: bool,
) -> Result<(), ExportError> {
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .draw()
            .map_err(|e| e.to_string())?;
        if roc {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (1.0, 1.0)],
                    RGBColor(180, 180, 180).stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
        for (i, c) in classes.iter().enumerate() {
            let (curve, area) = if roc {
                (&c.roc, c.auroc)
            } else {
                (&c.pr, c.auprc)
            };
            let Some(area) = area else { continue };
            let color = PALETTE[i % PALETTE.len()];
            let points = curve
                .x
                .iter()
                .zip(&curve.y)
                .map(|(&x, &y)| (x as f64, y as f64));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{} ({:.3})", c.name, area))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(if roc {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::LowerLeft
            })
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Predicted against true values, with the line where they are equal.
fn predicted_png(
    path: &Path,
    title: &str,
    truth: &[f32],
    predicted: &[f32],
) -> Result<(), ExportError> {
    let (lo, hi) = range(truth.iter().chain(predicted).map(|&v| v as f64));
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("true value")
            .y_desc("predicted")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(lo, lo), (hi, hi)],
                RGBColor(180, 180, 180).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                truth.iter().zip(predicted).map(|(&t, &p)| {
                    Circle::new((t as f64, p as f64), 3, PALETTE[0].mix(0.6).filled())
                }),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// The plots of an evaluation into `dir`: `roc.png` and `pr.png` for a
/// classifier, `predicted_vs_true.png` for a regression. Returns the files written.
pub fn evaluation_plots(
    dir: &Path,
    e: &Evaluation,
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let mut written = Vec::new();
    let split = &e.split;
    if let Some(c) = &e.classifier {
        let roc = dir.join("roc.png");
        let title = format!("ROC curves, {split} split (area under each)");
        class_curves_png(
            &roc,
            &title,
            ("false-positive rate", "true-positive rate"),
            &c.classes,
            true,
        )?;
        let pr = dir.join("pr.png");
        let title = format!("Precision-recall, {split} split (average precision)");
        class_curves_png(&pr, &title, ("recall", "precision"), &c.classes, false)?;
        written.extend([roc, pr]);
    }
    if let Some(r) = &e.regression {
        let path = dir.join("predicted_vs_true.png");
        let title = format!("Predicted vs true, {split} split (R² {:.3})", r.r2);
        predicted_png(&path, &title, &r.truth, &r.predicted)?;
        written.push(path);
    }
    Ok(written)
}

/// Counts per true class (rows) and predicted class (columns), shaded by row share.
pub fn confusion_png(path: &Path, m: &[Vec<usize>], names: &[String]) -> Result<(), ExportError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let k = m.len().max(1) as i32;
    let (left, top) = (170i32, 80i32);
    let cell = ((W as i32 - left - 20) / k)
        .min((H as i32 - top - 20) / k)
        .max(4);
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    render(path, |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let font = |size: i32, h: HPos| {
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Center))
        };
        root.draw(&Text::new(
            "Confusion matrix (rows: true class, columns: predicted)",
            (left, 20),
            font(20, HPos::Left),
        ))
        .map_err(e)?;
        for c in 0..k {
            let x = left + c * cell + cell / 2;
            root.draw(&Text::new(
                name(c as usize),
                (x, top - 16),
                font(16, HPos::Center),
            ))
            .map_err(e)?;
        }
        for (r, row) in m.iter().enumerate() {
            let y = top + r as i32 * cell;
            root.draw(&Text::new(
                name(r),
                (left - 10, y + cell / 2),
                font(16, HPos::Right),
            ))
            .map_err(e)?;
            let total: usize = row.iter().sum();
            for (c, &n) in row.iter().enumerate() {
                let share = if total > 0 {
                    n as f32 / total as f32
                } else {
                    0.0
                };
                let [red, green, blue] = super::heat_color(share);
                let x = left + c as i32 * cell;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell - 2, y + cell - 2)],
                    RGBColor(red, green, blue).filled(),
                ))
                .map_err(e)?;
                let color = if share > 0.6 { BLACK } else { WHITE };
                let style = ("sans-serif", (cell / 4).clamp(10, 28))
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                root.draw(&Text::new(
                    n.to_string(),
                    (x + cell / 2, y + cell / 2),
                    style,
                ))
                .map_err(e)?;
            }
        }
        Ok(())
    })
}

/// The epochs of a run folder's `metrics.jsonl`, one line per epoch and split.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut epochs: Vec<EpochMetrics> = Vec::new();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    for (k, &(n, line)) in lines.iter().enumerate() {
        let bad = |what: &str| format!("{} line {}: {what}", path.display(), n + 1);
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            // The last line of a run that was killed while writing it.
            Err(_) if k + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(bad(&e.to_string())),
        };
        let epoch = v["epoch"].as_u64().ok_or_else(|| bad("no epoch number"))? as usize;
        let split = crate::train::SplitMetrics {
            loss: v["loss"].as_f64().ok_or_else(|| bad("no loss"))?,
            accuracy: v["accuracy"].as_f64(),
            reconstruction: v["reconstruction"].as_f64(),
            kl: v["kl"].as_f64(),
            discriminator_loss: v["discriminator_loss"].as_f64(),
            real_accuracy: v["real_accuracy"].as_f64(),
            fake_accuracy: v["fake_accuracy"].as_f64(),
        };
        if epochs.last().is_none_or(|m| m.epoch != epoch) {
            epochs.push(EpochMetrics {
                epoch,
                train: split.clone(),
                valid: None,
                seconds: 0.0,
                learning_rate: None,
                confusion: None,
            });
        }
        let m = epochs.last_mut().expect("just pushed");
        match v["split"].as_str() {
            Some("valid") => {
                m.valid = Some(split);
                m.confusion = serde_json::from_value(v["confusion"].clone()).ok();
            }
            _ => {
                m.train = split;
                m.learning_rate = v["learning_rate"].as_f64();
            }
        }
    }
    Ok(epochs)
}

/// Loss and (where there is one) accuracy curves into `dir`; returns the files written.
pub fn curve_plots(
    dir: &Path,
    history: &[EpochMetrics],
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let mut written = Vec::new();
    let loss = dir.join("loss.png");
    curves_png(&loss, history, "loss", |s| Some(s.loss))?;
    written.push(loss);
    if history.iter().any(|m| m.train.accuracy.is_some()) {
        let acc = dir.join("accuracy.png");
        curves_png(&acc, history, "accuracy", |s| s.accuracy)?;
        written.push(acc);
    }
    Ok(written)
}
