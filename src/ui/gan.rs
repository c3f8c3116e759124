//! The GAN samples view: generated samples beside real ones. Images as a grid;
//! tables as per-feature statistics (real against generated) and one 2-D map
//! of real and generated samples together; how close they are, epoch by epoch.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::dialogs::Purpose;
use super::{Action, TrainingState};
use crate::train::GanSnapshot;

const REAL: egui::Color32 = egui::Color32::from_rgb(90, 90, 90);
const FAKE: egui::Color32 = egui::Color32::from_rgb(230, 120, 30);

/// The samples view of the run `t` (its textures are the view's own state);
/// the export button is returned as the dialog to open.
pub fn show(ui: &mut egui::Ui, t: &mut TrainingState) -> Option<Action> {
    let Some(g) = &t.gan else {
        ui.weak("Generated samples appear when training starts.");
        return None;
    };
    let mut action = None;
    let when = if g.epoch == 0 {
        "before training".to_string()
    } else {
        format!("after epoch {}", g.epoch)
    };
    ui.strong(format!("Generated vs real samples, {when}"));
    let first = t.gan_history.first().map_or(0.0, |h| h[1]);
    ui.label(format!(
        "How alike generated and real samples are: the features vary together the same way to r = {:.3} (1 would be the same pattern; before training {:.3}; two halves of the real data agree to {:.3}, the most to expect). The generated samples spread {:.0}% as widely as the real ones (100% is right). Each feature's average agrees to r = {:.3}.",
        g.structure_correlation, first, g.structure_ceiling, g.spread_ratio * 100.0, g.mean_correlation
    ))
    .on_hover_text("r is the correlation between the real and the generated samples' feature-by-feature correlations: near 0 the generator has not learnt which features rise and fall together; near the real data's own agreement it has.");
    if t.outcome.is_some() && ui.button("Save 500 generated samples (CSV)…").clicked() {
        action = Some(Action::Ask(Purpose::ExportGenerated));
    }
    if t.gan_history.len() > 1 {
        Plot::new("gan_stats")
            .height(120.0)
            .legend(Legend::default())
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("epoch")
            .show(ui, |p| {
                let structure: Vec<[f64; 2]> = t.gan_history.iter().map(|h| [h[0], h[1]]).collect();
                let spread: Vec<[f64; 2]> = t.gan_history.iter().map(|h| [h[0], h[2]]).collect();
                p.line(
                    Line::new(
                        "features vary together like the real ones (r)",
                        PlotPoints::from(structure),
                    )
                    .color(FAKE),
                );
                p.line(
                    Line::new(
                        "spread of generated / real (1 = right)",
                        PlotPoints::from(spread),
                    )
                    .color(REAL),
                );
            });
    }
    let Some(g) = &t.gan else { return action };
    if g.shape.len() == 3 {
        image_grid(ui, g, &mut t.gan_textures);
    } else {
        table_views(ui, g);
    }
    action
}

fn image_grid(
    ui: &mut egui::Ui,
    g: &GanSnapshot,
    textures: &mut Option<(usize, Vec<egui::TextureHandle>, Vec<egui::TextureHandle>)>,
) {
    let len: usize = g.shape.iter().product();
    if textures.as_ref().is_none_or(|(e, _, _)| *e != g.epoch) {
        let max = g.real.iter().fold(1e-6f32, |m, &v| m.max(v));
        let make = |name: &str, m: &[f32]| -> Vec<egui::TextureHandle> {
            (0..g.shown)
                .map(|i| {
                    let x: Vec<f32> = m[i * len..(i + 1) * len]
                        .iter()
                        .map(|v| v.clamp(0.0, max))
                        .collect();
                    ui.ctx().load_texture(
                        format!("{name}-{i}"),
                        super::data::to_color_image(&x, &g.shape, max),
                        egui::TextureOptions::NEAREST,
                    )
                })
                .collect()
        };
        *textures = Some((
            g.epoch,
            make("gan-fake", &g.generated),
            make("gan-real", &g.real),
        ));
    }
    if let Some((_, fake, real)) = textures {
        for (title, row) in [("Generated", &*fake), ("Real", &*real)] {
            ui.label(title);
            ui.horizontal_wrapped(|ui| {
                for tex in row {
                    ui.add(egui::Image::new(tex).fit_to_exact_size(egui::vec2(56.0, 56.0)));
                }
            });
        }
    }
}

fn table_views(ui: &mut egui::Ui, g: &GanSnapshot) {
    ui.columns(2, |cols| {
        cols[0].label("Each point is one feature: its mean over real samples (x) and over generated ones (y).");
        Plot::new("gan_means")
            .height(240.0)
            .data_aspect(1.0)
            .x_axis_label("real mean")
            .y_axis_label("generated mean")
            .show(&mut cols[0], |p| {
                let pts: Vec<[f64; 2]> = g
                    .real_mean
                    .iter()
                    .zip(&g.fake_mean)
                    .map(|(&a, &b)| [a as f64, b as f64])
                    .collect();
                let (lo, hi) = pts
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p[0]), h.max(p[0])));
                p.line(Line::new("equal", PlotPoints::from(vec![[lo, lo], [hi, hi]])).color(REAL));
                p.points(Points::new("features", PlotPoints::from(pts)).radius(2.0).color(FAKE));
            });
        cols[1].label("Real (grey) and generated (orange) samples on one map (PCA of the real samples).");
        Plot::new("gan_map")
            .height(240.0)
            .legend(Legend::default())
            .x_axis_label("PC 1")
            .y_axis_label("PC 2")
            .show(&mut cols[1], |p| {
                let n = g.projected_real.min(g.projection.len());
                p.points(
                    Points::new("real", PlotPoints::from(g.projection[..n].to_vec()))
                        .radius(2.0)
                        .color(REAL),
                );
                p.points(
                    Points::new("generated", PlotPoints::from(g.projection[n..].to_vec()))
                        .radius(2.0)
                        .color(FAKE),
                );
            });
    });
}
