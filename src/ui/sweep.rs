//! The "Sweep" result view: the runs of a sweep folder side by side: a table
//! of their settings and final metrics, sorted by any column, and one curve
//! per run overlaid. It shows what `export::sweep` read and asks the app to
//! open a run; it reads no files itself.

use std::path::PathBuf;

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::export::sweep::{METRICS, Status, SweepRecord};
use crate::train::EpochMetrics;

/// The curve drawn per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curve {
    #[default]
    ValidationLoss,
    ValidationAccuracy,
    TrainLoss,
}

impl Curve {
    fn label(self) -> &'static str {
        match self {
            Curve::ValidationLoss => "validation loss",
            Curve::ValidationAccuracy => "validation accuracy",
            Curve::TrainLoss => "training loss",
        }
    }

    fn value(self, m: &EpochMetrics) -> Option<f64> {
        match self {
            Curve::ValidationLoss => m.valid.as_ref().map(|v| v.loss),
            Curve::ValidationAccuracy => m.valid.as_ref().and_then(|v| v.accuracy),
            Curve::TrainLoss => Some(m.train.loss),
        }
    }
}

pub struct SweepView {
    pub record: SweepRecord,
    /// Sorted by this metric (an index into [`METRICS`]); none: in run order.
    pub sort: Option<usize>,
    pub descending: bool,
    pub curve: Curve,
}

impl SweepView {
    pub fn new(record: SweepRecord) -> SweepView {
        SweepView {
            record,
            sort: None,
            descending: false,
            curve: Curve::default(),
        }
    }

    /// Row indices in the order shown; runs without the sorted metric last.
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.record.rows.len()).collect();
        if let Some(m) = self.sort {
            let key = |i: &usize| self.record.rows[*i].metrics[m];
            order.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) => {
                    let o = x.total_cmp(&y);
                    if self.descending { o.reverse() } else { o }
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.cmp(b),
            });
        }
        order
    }
}

/// The run's number, `03` of `03-learning_rate=1e-3`.
fn number(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

/// `03: 1e-3, 32`: the number and the values, for the legend.
fn legend(run: &crate::export::sweep::PlannedRun) -> String {
    let values: Vec<&str> = run
        .settings
        .iter()
        .filter(|(k, _)| k != "training.folds")
        .map(|(_, v)| v.as_str())
        .collect();
    format!("{}: {}", number(&run.name), values.join(", "))
}

/// Losses, errors and epochs sort smallest first; scores largest first.
fn smaller_is_better(metric: &str) -> bool {
    ["loss", "mse", "mae", "epoch"]
        .iter()
        .any(|w| metric.contains(w))
}

/// What the user asked for.
pub enum SweepAction {
    OpenRun(PathBuf),
}

/// Whether a metric column is worth showing: some run has it.
fn shown(view: &SweepView, m: usize) -> bool {
    METRICS[m] != "wall_seconds" && view.record.rows.iter().any(|r| r.metrics[m].is_some())
}

pub fn show(ui: &mut egui::Ui, view: &mut SweepView) -> Option<SweepAction> {
    let mut action = None;
    let r = &view.record;
    let finished = r
        .rows
        .iter()
        .filter(|row| row.status == Status::Finished)
        .count();
    ui.strong(format!(
        "Sweep of {}: {} runs, {finished} finished ({})",
        r.experiment,
        r.rows.len(),
        r.dir.display()
    ));
    ui.weak("Sort by any column (or click its name); Open run shows a run with all its views.");
    let keys: Vec<String> = r.plan.axes.iter().map(|a| a.key.clone()).collect();
    let folds = r.plan.folds > 1;
    // Scores first, then losses, then how long the runs went.
    const FIRST: [&str; 9] = [
        "test_accuracy",
        "test_balanced_accuracy",
        "test_macro_f1",
        "test_macro_auroc",
        "test_r2",
        "valid_accuracy",
        "valid_r2",
        "valid_loss",
        "test_loss",
    ];
    let mut metrics: Vec<usize> = (0..METRICS.len()).filter(|&m| shown(view, m)).collect();
    metrics.sort_by_key(|&m| {
        FIRST
            .iter()
            .position(|f| *f == METRICS[m])
            .unwrap_or(FIRST.len() + m)
    });
    ui.horizontal(|ui| {
        ui.label("Sort by");
        egui::ComboBox::from_id_salt("sweep_sort")
            .selected_text(view.sort.map_or("run", |m| METRICS[m]))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.sort, None, "run");
                for &m in &metrics {
                    if ui
                        .selectable_label(view.sort == Some(m), METRICS[m])
                        .clicked()
                    {
                        view.sort = Some(m);
                        view.descending = !smaller_is_better(METRICS[m]);
                    }
                }
            });
        ui.checkbox(&mut view.descending, "largest first");
    });
    let order = view.order();
    egui::ScrollArea::both()
        .id_salt("sweep_table_scroll")
        .max_height(260.0)
        .show(ui, |ui| {
            egui::Grid::new("sweep_table").striped(true).show(ui, |ui| {
                ui.label("");
                ui.strong("run");
                for k in &keys {
                    ui.strong(k.rsplit('.').next().unwrap_or(k));
                }
                if folds {
                    ui.strong("fold");
                }
                ui.strong("status");
                for &m in &metrics {
                    if ui
                        .selectable_label(view.sort == Some(m), METRICS[m])
                        .clicked()
                    {
                        if view.sort == Some(m) {
                            view.descending = !view.descending;
                        } else {
                            view.sort = Some(m);
                            view.descending = !smaller_is_better(METRICS[m]);
                        }
                    }
                }
                ui.end_row();
                for &i in &order {
                    let row = &view.record.rows[i];
                    if view.record.records[i].is_some() {
                        if ui.button("Open run").clicked() {
                            action =
                                Some(SweepAction::OpenRun(view.record.dir.join(&row.run.name)));
                        }
                    } else {
                        ui.label("");
                    }
                    ui.label(number(&row.run.name)).on_hover_text(&row.run.name);
                    for k in &keys {
                        ui.label(row.run.value(k));
                    }
                    if folds {
                        ui.label(row.run.value("training.fold"));
                    }
                    match &row.status {
                        Status::Failed(e) => {
                            ui.colored_label(ui.visuals().error_fg_color, "failed")
                                .on_hover_text(e);
                        }
                        s => {
                            ui.label(s.text());
                        }
                    }
                    for &m in &metrics {
                        ui.label(row.metrics[m].map_or(String::new(), |v| {
                            if METRICS[m].contains("epoch") {
                                format!("{v:.0}")
                            } else {
                                format!("{v:.4}")
                            }
                        }));
                    }
                    ui.end_row();
                }
            });
        });
    if let Some(m) = view.sort {
        ui.weak(format!(
            "sorted by {}, {} first",
            METRICS[m],
            if view.descending {
                "largest"
            } else {
                "smallest"
            }
        ));
    }
    ui.horizontal(|ui| {
        ui.label("Curves:");
        for c in [
            Curve::ValidationLoss,
            Curve::ValidationAccuracy,
            Curve::TrainLoss,
        ] {
            ui.selectable_value(&mut view.curve, c, c.label());
        }
    });
    let curve = view.curve;
    Plot::new("sweep_curves")
        .height(260.0)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .x_axis_label("epoch")
        .y_axis_label(curve.label())
        .show(ui, |p| {
            for &i in &order {
                let Some(rec) = &view.record.records[i] else {
                    continue;
                };
                let pts: Vec<[f64; 2]> = rec
                    .history
                    .iter()
                    .filter_map(|m| curve.value(m).map(|v| [m.epoch as f64, v]))
                    .collect();
                if !pts.is_empty() {
                    p.line(Line::new(
                        legend(&view.record.rows[i].run),
                        PlotPoints::from(pts),
                    ));
                }
            }
        });
    action
}
