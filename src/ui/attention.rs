//! The attention map: for a chosen validation sequence, which positions each
//! position attends to (rows: queries, columns: keys), per layer and head or
//! averaged over heads, with the letters on both axes and a per-position
//! importance track underneath. Exported as PNG or CSV.

use eframe::egui;

use super::Action;
use super::dialogs::Purpose;
use crate::export::heat_color;
use crate::train::{AttentionSnapshot, attention_received};

/// What the attention view shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttentionView {
    pub sample: usize,
    pub layer: usize,
    /// `None`: the mean over heads.
    pub head: Option<usize>,
}

/// The map on screen: weights `positions × positions` and a label per position.
pub struct ShownMap {
    pub weights: Vec<f32>,
    pub positions: usize,
    pub labels: Vec<String>,
    /// Residues each attention position covers (more than one after pooling).
    pub per: usize,
    /// The sequence's letters, one per residue.
    pub letters: Vec<char>,
}

impl ShownMap {
    /// What to write on an axis whose cells are `cell` points wide: each
    /// residue's letter where they fit one per cell, else the residue number
    /// at the start of every `step`-th position, `step` chosen so that the
    /// numbers do not overlap.
    fn ticks(&self, cell: f32) -> Vec<(usize, String)> {
        let p = self.positions;
        if self.per == 1 && cell >= 7.0 && self.letters.len() >= p {
            return (0..p).map(|i| (i, self.letters[i].to_string())).collect();
        }
        let digits = format!("{}", p * self.per).len() as f32;
        let needed = digits * TICK_CHAR + 6.0;
        let step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000]
            .into_iter()
            .find(|&s| s as f32 * cell >= needed)
            .unwrap_or(p.max(1));
        (0..p)
            .step_by(step)
            .map(|i| (i, format!("{}", i * self.per + 1)))
            .collect()
    }
}

/// The axis font's size and the width of one of its digits.
const TICK_SIZE: f32 = 10.0;
const TICK_CHAR: f32 = 6.2;

/// The map `view` selects in `snap`, with position labels aligned to residues.
pub fn shown_map(snap: &AttentionSnapshot, view: AttentionView) -> Option<ShownMap> {
    let layer = snap.layers.get(view.layer)?;
    if view.sample >= snap.ids.len() || view.head.is_some_and(|h| h >= layer.heads) {
        return None;
    }
    let full = layer.positions;
    // Padding is not shown: only the positions of the sequence itself.
    let p = snap
        .valid_positions
        .get(view.sample)
        .and_then(|v| v.get(view.layer))
        .copied()
        .unwrap_or(full)
        .min(full);
    let letters: Vec<char> = snap.sequences[view.sample].chars().collect();
    // After pooling, one attention position covers several residues.
    let per = (letters.len() as f64 / p.max(1) as f64).round().max(1.0) as usize;
    let labels = (0..p)
        .map(|i| {
            let (a, b) = (i * per, ((i + 1) * per).min(letters.len()));
            if letters.is_empty() {
                format!("{}", i + 1)
            } else if per == 1 {
                format!("{}{}", letters.get(i).copied().unwrap_or('?'), i + 1)
            } else {
                let word: String = letters.get(a..b).unwrap_or_default().iter().collect();
                format!("{}-{} {word}", a + 1, b)
            }
        })
        .collect();
    let map = layer.map(view.sample, view.head);
    let weights = (0..p)
        .flat_map(|q| map[q * full..q * full + p].iter().copied())
        .collect();
    Some(ShownMap {
        weights,
        positions: p,
        labels,
        per,
        letters,
    })
}

/// The attention view: `v` (which sequence, layer and head) is its own state;
/// the export buttons are returned as the dialog to open.
pub fn show(
    ui: &mut egui::Ui,
    attention: Option<&AttentionSnapshot>,
    v: &mut AttentionView,
) -> Option<Action> {
    let Some(snap) = attention else {
        ui.weak("Attention maps appear after the first epoch for networks with attention layers.");
        return None;
    };
    v.sample = v.sample.min(snap.ids.len().saturating_sub(1));
    v.layer = v.layer.min(snap.layers.len().saturating_sub(1));
    let heads = snap.layers[v.layer].heads;
    if v.head.is_some_and(|h| h >= heads) {
        v.head = None;
    }
    ui.strong(format!(
        "Attention map (validation sequences, epoch {})",
        snap.epoch
    ));
    egui::Grid::new("attention_choice")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Sequence");
            let name = |i: usize| match snap.labels[i].as_str() {
                "" => snap.ids[i].clone(),
                l => format!("{} ({l})", snap.ids[i]),
            };
            egui::ComboBox::from_id_salt("attention_sample")
                .selected_text(name(v.sample))
                .show_ui(ui, |ui| {
                    for i in 0..snap.ids.len() {
                        ui.selectable_value(&mut v.sample, i, name(i));
                    }
                });
            ui.end_row();
            ui.label("Layer");
            egui::ComboBox::from_id_salt("attention_layer")
                .selected_text(format!("attention layer {}", v.layer + 1))
                .show_ui(ui, |ui| {
                    for l in 0..snap.layers.len() {
                        ui.selectable_value(&mut v.layer, l, format!("attention layer {}", l + 1));
                    }
                });
            ui.end_row();
            ui.label("Head");
            let head_name = |h: Option<usize>| match h {
                None => "average of all heads".to_string(),
                Some(h) => format!("head {}", h + 1),
            };
            egui::ComboBox::from_id_salt("attention_head")
                .selected_text(head_name(v.head))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut v.head, None, head_name(None));
                    for h in 0..heads {
                        ui.selectable_value(&mut v.head, Some(h), head_name(Some(h)));
                    }
                });
            ui.end_row();
        });
    let map = shown_map(snap, *v)?;
    // The track above the map, its bars over the map's columns, so that the
    // two are seen together.
    importance(ui, &map);
    heatmap(ui, &map);
    let mut action = None;
    ui.horizontal(|ui| {
        if ui.button("Export map as PNG…").clicked() {
            action = Some(Action::Ask(Purpose::ExportAttentionPng));
        }
        if ui.button("Export map as CSV…").clicked() {
            action = Some(Action::Ask(Purpose::ExportAttentionCsv));
        }
    });
    action
}

fn heatmap(ui: &mut egui::Ui, map: &ShownMap) {
    let p = map.positions;
    let margin = MARGIN;
    let side = (ui.available_width() - margin - 8.0).clamp(120.0, 520.0);
    let cell = side / p as f32;
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(side + margin, side + margin),
        egui::Sense::hover(),
    );
    let origin = rect.min + egui::vec2(margin, margin);
    let painter = ui.painter_at(rect);
    let max = map.weights.iter().fold(1e-12f32, |m, &w| m.max(w));
    for q in 0..p {
        for k in 0..p {
            let [r, g, b] = heat_color(map.weights[q * p + k] / max);
            let min = origin + egui::vec2(k as f32 * cell, q as f32 * cell);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(cell + 0.5, cell + 0.5)),
                0.0,
                egui::Color32::from_rgb(r, g, b),
            );
        }
    }
    // Letters on both axes when they fit one per cell, else residue numbers
    // spaced so that they can be read.
    let font = egui::FontId::monospace(TICK_SIZE);
    let color = ui.visuals().text_color();
    for (i, text) in map.ticks(cell) {
        let c = (i as f32 + 0.5) * cell;
        painter.text(
            origin + egui::vec2(c, -4.0),
            egui::Align2::CENTER_BOTTOM,
            &text,
            font.clone(),
            color,
        );
        painter.text(
            origin + egui::vec2(-4.0, c),
            egui::Align2::RIGHT_CENTER,
            &text,
            font.clone(),
            color,
        );
    }
    if let Some(pos) = response.hover_pos() {
        let d = pos - origin;
        if d.x >= 0.0 && d.y >= 0.0 {
            let (q, k) = ((d.y / cell) as usize, (d.x / cell) as usize);
            if q < p && k < p {
                response.on_hover_text(format!(
                    "{} attends to {}: {:.4}",
                    map.labels[q],
                    map.labels[k],
                    map.weights[q * p + k]
                ));
            }
        }
    }
    ui.weak(
        "Rows: the position looking; columns: the position looked at. Brighter = more attention.",
    );
}

/// Room left of the map and the track for the row labels and the scale.
const MARGIN: f32 = 34.0;

/// How much attention each position receives, as bars over the map's
/// columns, with a scale.
fn importance(ui: &mut egui::Ui, map: &ShownMap) {
    let p = map.positions;
    let track = attention_received(&map.weights, p);
    let max = track.iter().fold(1e-12f32, |m, &v| m.max(v));
    let margin = MARGIN;
    let width = (ui.available_width() - margin - 8.0).clamp(120.0, 520.0);
    let cell = width / p as f32;
    let height = 46.0;
    ui.weak("Importance track: the attention each position receives, averaged over the positions looking.");
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(width + margin, height + 16.0),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let base = rect.min + egui::vec2(margin, height);
    let font = egui::FontId::monospace(TICK_SIZE);
    let color = ui.visuals().text_color();
    // The scale: 0 at the bottom, the largest value at the top.
    let axis = ui.visuals().weak_text_color();
    painter.line_segment(
        [
            base + egui::vec2(-2.0, 0.0),
            base + egui::vec2(-2.0, -(height - 4.0)),
        ],
        egui::Stroke::new(1.0, axis),
    );
    painter.text(
        base + egui::vec2(-5.0, 0.0),
        egui::Align2::RIGHT_BOTTOM,
        "0",
        font.clone(),
        color,
    );
    painter.text(
        base + egui::vec2(-5.0, -(height - 4.0)),
        egui::Align2::RIGHT_TOP,
        format!("{max:.2}"),
        font.clone(),
        color,
    );
    for (i, v) in track.iter().enumerate() {
        let h = v / max * (height - 4.0);
        let [r, g, b] = heat_color(v / max);
        painter.rect_filled(
            egui::Rect::from_min_max(
                base + egui::vec2(i as f32 * cell, -h),
                base + egui::vec2((i + 1) as f32 * cell, 0.0),
            ),
            0.0,
            egui::Color32::from_rgb(r, g, b),
        );
    }
    for (i, text) in map.ticks(cell) {
        painter.text(
            base + egui::vec2((i as f32 + 0.5) * cell, 2.0),
            egui::Align2::CENTER_TOP,
            text,
            font.clone(),
            color,
        );
    }
    if let Some(pos) = response.hover_pos() {
        let i = ((pos.x - base.x) / cell).floor();
        if i >= 0.0 && (i as usize) < p {
            let i = i as usize;
            response.on_hover_text(format!(
                "{}: receives {:.4} on average",
                map.labels[i], track[i]
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(positions: usize, per: usize) -> ShownMap {
        let letters: Vec<char> = "ACGT".chars().cycle().take(positions * per).collect();
        ShownMap {
            weights: vec![0.0; positions * positions],
            positions,
            labels: vec![String::new(); positions],
            per,
            letters,
        }
    }

    #[test]
    fn axes_show_letters_when_they_fit_and_readable_numbers_otherwise() {
        // One residue per position, cells wide enough: every letter.
        let t = map(20, 1).ticks(10.0);
        assert_eq!(t.len(), 20);
        assert_eq!(t[1], (1, "C".to_string()));
        // After pooling by 2, 50 positions in 8-point cells: residue numbers
        // (up to three digits) far enough apart not to overlap.
        let t = map(50, 2).ticks(8.0);
        assert_eq!(t[0], (0, "1".to_string()));
        assert_eq!(t[1], (5, "11".to_string()));
        let gap = (t[1].0 - t[0].0) as f32 * 8.0;
        assert!(gap >= 3.0 * TICK_CHAR, "{gap}");
        // One residue per position but cells too narrow for letters: numbers.
        let t = map(100, 1).ticks(4.0);
        assert!(t.iter().all(|(_, s)| s.parse::<usize>().is_ok()));
    }
}
