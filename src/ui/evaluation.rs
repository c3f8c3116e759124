//! The "Evaluation" result view: a finished run's scores on the test split (or
//! the validation split when there is no test split): the headline metrics,
//! one row per class, and the ROC and precision-recall curves; for a
//! regression, the errors and predicted against true values. It only draws
//! what the engine's `evaluation` computed.

use eframe::egui;
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

use crate::train::evaluation::{ClassReport, Evaluation};

/// Which of the two splits to show, when both were scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Which {
    #[default]
    Test,
    Validation,
}

pub fn show(
    ui: &mut egui::Ui,
    which: &mut Which,
    test: Option<&Evaluation>,
    validation: Option<&Evaluation>,
    kept: &str,
) {
    if test.is_some() && validation.is_some() {
        ui.horizontal(|ui| {
            ui.label("Split:");
            ui.selectable_value(which, Which::Test, "test");
            ui.selectable_value(which, Which::Validation, "validation");
        });
    }
    let e = match (*which, test, validation) {
        (Which::Validation, _, Some(v)) | (_, None, Some(v)) => v,
        (_, Some(t), _) => t,
        (_, None, None) => {
            ui.weak("No held-out samples were scored: set a validation or test share above 0.");
            return;
        }
    };
    ui.strong(format!(
        "{} split: {} samples, scored once with {kept}",
        capitalised(&e.split),
        e.samples
    ));
    if e.split == "validation" {
        ui.weak(
            "The validation split also chose the kept weights, so its scores flatter the model a little; \
             a test share gives an unbiased estimate.",
        );
    }
    ui.label(format!("Loss {:.4}", e.loss));
    if let Some(c) = &e.classifier {
        ui.label(format!(
            "Accuracy {:.3} · balanced accuracy {:.3} · macro-F1 {:.3} · macro AUROC {} · macro AUPRC {}",
            c.accuracy,
            c.balanced_accuracy,
            c.macro_f1,
            area(c.macro_auroc),
            area(c.macro_auprc)
        ));
        class_table(ui, &c.classes);
        ui.columns(2, |cols| {
            cols[0].strong("ROC (one class against the rest)");
            curves(&mut cols[0], "roc_plot", &c.classes, true);
            cols[1].strong("Precision-recall");
            curves(&mut cols[1], "pr_plot", &c.classes, false);
        });
    }
    if let Some(r) = &e.regression {
        ui.label(format!(
            "MSE {:.4} · MAE {:.4} · R² {:.3}",
            r.mse, r.mae, r.r2
        ));
        let pts: Vec<[f64; 2]> = r
            .truth
            .iter()
            .zip(&r.predicted)
            .map(|(&t, &p)| [t as f64, p as f64])
            .collect();
        let (lo, hi) = pts
            .iter()
            .flatten()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        Plot::new("predicted_vs_true")
            .height(320.0)
            .data_aspect(1.0)
            .x_axis_label("true value")
            .y_axis_label("predicted")
            .show(ui, |p| {
                if lo <= hi {
                    p.line(Line::new(
                        "equal",
                        PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                    ));
                }
                p.points(Points::new("samples", PlotPoints::from(pts)).radius(2.0));
            });
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn area(a: Option<f64>) -> String {
    a.map_or("–".into(), |v| format!("{v:.3}"))
}

fn class_table(ui: &mut egui::Ui, classes: &[ClassReport]) {
    egui::ScrollArea::vertical()
        .id_salt("class_table_scroll")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("class_table")
                .striped(true)
                .num_columns(7)
                .show(ui, |ui| {
                    for h in [
                        "class",
                        "samples",
                        "precision",
                        "recall",
                        "F1",
                        "AUROC",
                        "AUPRC",
                    ] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for c in classes {
                        ui.label(&c.name);
                        ui.label(c.support.to_string());
                        ui.label(format!("{:.3}", c.precision));
                        ui.label(format!("{:.3}", c.recall));
                        ui.label(format!("{:.3}", c.f1));
                        ui.label(area(c.auroc));
                        ui.label(area(c.auprc));
                        ui.end_row();
                    }
                });
        });
}

fn curves(ui: &mut egui::Ui, id: &str, classes: &[ClassReport], roc: bool) {
    let (x, y) = if roc {
        ("false-positive rate", "true-positive rate")
    } else {
        ("recall", "precision")
    };
    Plot::new(id)
        .height(280.0)
        .legend(Legend::default().position(if roc {
            Corner::RightBottom
        } else {
            Corner::LeftBottom
        }))
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .include_y(1.0)
        .x_axis_label(x)
        .y_axis_label(y)
        .show(ui, |p| {
            if roc {
                p.line(
                    Line::new("chance", PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]))
                        .color(egui::Color32::GRAY),
                );
            }
            for c in classes {
                let (curve, a) = if roc {
                    (&c.roc, c.auroc)
                } else {
                    (&c.pr, c.auprc)
                };
                let Some(a) = a else { continue };
                let pts: Vec<[f64; 2]> = curve
                    .x
                    .iter()
                    .zip(&curve.y)
                    .map(|(&x, &y)| [x as f64, y as f64])
                    .collect();
                // Steps are vertical runs at one x, which egui_plot would
                // otherwise draw as filled bands.
                p.line(
                    Line::new(format!("{} ({a:.3})", c.name), PlotPoints::from(pts))
                        .allow_band(false),
                );
            }
        });
}
