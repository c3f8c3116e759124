//! The layer palette and the architecture editor. Both read the layer catalogue
//! in `spec`; shapes and messages come from shape inference, live.

use eframe::egui;

use super::LaminaApp;
use crate::spec::catalogue::ParamKind;
use crate::spec::shapes::short;
use crate::spec::{Family, LayerSpec, catalogue};

const ERROR: egui::Color32 = egui::Color32::from_rgb(220, 60, 60);

/// The palette: layers grouped by family, help on hover, click to add.
pub fn palette(ui: &mut egui::Ui, app: &mut LaminaApp) {
    ui.heading("Layers");
    ui.weak("Click to add after the selected layer, or drag onto the network. Hover for help.");
    egui::ScrollArea::vertical().show(ui, |ui| {
        let families = [
            Family::Core,
            Family::Activation,
            Family::Normalisation,
            Family::Convolution,
            Family::Pooling,
            Family::Reshaping,
            Family::Sequence,
            Family::Generative,
        ];
        for family in families {
            egui::CollapsingHeader::new(family.label())
                .default_open(true)
                .show(ui, |ui| {
                    for info in catalogue().iter().filter(|i| i.family == family) {
                        let button = ui
                            .add(
                                egui::Button::new(info.display)
                                    .sense(egui::Sense::click_and_drag()),
                            )
                            .on_hover_text(info.help);
                        if button.drag_started() {
                            egui::DragAndDrop::set_payload(ui.ctx(), PaletteItem(info.kind));
                        }
                        if button.dragged() {
                            ui.ctx().set_cursor_icon(egui::CursorIcon::Grabbing);
                            if let Some(pos) = ui.ctx().pointer_interact_pos() {
                                let painter = ui.ctx().layer_painter(egui::LayerId::new(
                                    egui::Order::Tooltip,
                                    egui::Id::unique("palette_drag"),
                                ));
                                painter.text(
                                    pos + egui::vec2(12.0, 4.0),
                                    egui::Align2::LEFT_TOP,
                                    info.display,
                                    egui::TextStyle::Button.resolve(ui.style()),
                                    ui.visuals().strong_text_color(),
                                );
                            }
                        }
                        if button.clicked() {
                            add_layer(app, info.kind);
                        }
                    }
                });
        }
    });
}

/// What is dragged from the palette: a layer kind of the catalogue.
#[derive(Clone, Copy)]
struct PaletteItem(&'static str);

/// Insert a new layer of `kind` at `at` in stack `s`.
fn insert_layer(app: &mut LaminaApp, s: usize, at: usize, kind: &str) {
    let Some(layer) = LayerSpec::from_kind(kind) else {
        return;
    };
    app.checkpoint();
    if let Some(stack) = app.experiment.architecture.stacks.get_mut(s) {
        let at = at.min(stack.layers.len());
        stack.layers.insert(at, layer);
        app.selected = Some((s, at));
    }
}

fn add_layer(app: &mut LaminaApp, kind: &str) {
    let stacks = app.experiment.task.stack_names();
    let (stack_idx, at) = match app.selected {
        Some((s, l)) if s < app.experiment.architecture.stacks.len() => (s, l.saturating_add(1)),
        _ => {
            let last = stacks.last().copied().unwrap_or("network");
            let s = app
                .experiment
                .architecture
                .stacks
                .iter()
                .position(|s| s.name == last)
                .unwrap_or(0);
            (s, usize::MAX)
        }
    };
    insert_layer(app, stack_idx, at, kind);
}

enum Edit {
    Up(usize, usize),
    Down(usize, usize),
    Duplicate(usize, usize),
    Remove(usize, usize),
}

/// The stacks of the experiment with a card per layer.
pub fn editor(ui: &mut egui::Ui, app: &mut LaminaApp) {
    ui.heading("Network");
    let report = app.shape_report();
    match &report {
        Some(Ok((r, _))) => {
            ui.label(format!("{} trainable parameters", r.total_params()));
            if let Some(e) = r.first_error() {
                ui.colored_label(ERROR, format!("Problem: {e}"));
            }
        }
        Some(Err(e)) => {
            ui.colored_label(ERROR, format!("Problem: {e}"));
        }
        None => {
            ui.weak("Shapes appear once the data is loaded.");
        }
    }
    let before = app.experiment.clone();
    if app.experiment.task == crate::spec::Task::Gan {
        ui.horizontal(|ui| {
            let label = ui.label("Noise size (the generator's input):");
            ui.add(
                egui::DragValue::new(&mut app.experiment.architecture.noise_size).range(1..=1024),
            )
            .labelled_by(label.id)
            .on_hover_text("How many random numbers each generated sample starts from.");
        });
    }
    let mut edit = None;
    let mut dropped: Option<(usize, usize, &'static str)> = None;
    let dragging = egui::DragAndDrop::has_payload_of_type::<PaletteItem>(ui.ctx());
    let stack_count = app.experiment.architecture.stacks.len();
    for s in 0..stack_count {
        let stack_report = match &report {
            Some(Ok((r, _))) => r
                .stacks
                .iter()
                .find(|sr| sr.name == app.experiment.architecture.stacks[s].name)
                .cloned(),
            _ => None,
        };
        let name = app.experiment.architecture.stacks[s].name.clone();
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.strong(format!("Stack '{name}'"));
            if let Some(sr) = &stack_report {
                ui.weak(format!("input {}", short(&sr.input)));
            }
        });
        let layers_len = app.experiment.architecture.stacks[s].layers.len();
        if layers_len == 0 {
            ui.weak("Empty: click a layer in the palette to add it here.");
            if ui.button("Select this stack").clicked() {
                app.selected = Some((s, usize::MAX));
            }
        }
        for l in 0..layers_len {
            let layer_report = stack_report
                .as_ref()
                .and_then(|sr| sr.layers.get(l).cloned());
            let selected = app.selected == Some((s, l));
            let has_error = layer_report.as_ref().is_some_and(|r| r.error.is_some());
            let stroke = if has_error {
                egui::Stroke::new(2.0, ERROR)
            } else if selected {
                egui::Stroke::new(2.0, ui.visuals().selection.stroke.color)
            } else {
                ui.visuals().widgets.noninteractive.bg_stroke
            };
            let card = egui::Frame::group(ui.style())
                .stroke(stroke)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        let layer = &app.experiment.architecture.stacks[s].layers[l];
                        let info = layer.info();
                        if ui
                            .selectable_label(
                                selected,
                                egui::RichText::new(format!("{}. {}", l + 1, info.display))
                                    .strong(),
                            )
                            .on_hover_text(info.help)
                            .clicked()
                        {
                            app.selected = Some((s, l));
                        }
                        if let Some(r) = &layer_report
                            && let Some(out) = &r.output
                        {
                            ui.label(format!("out: {}", short(out)));
                            ui.weak(format!("{} params", r.params));
                        }
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui.small_button("×").on_hover_text("Remove").clicked() {
                                edit = Some(Edit::Remove(s, l));
                            }
                            if ui.small_button("copy").on_hover_text("Duplicate").clicked() {
                                edit = Some(Edit::Duplicate(s, l));
                            }
                            if ui.small_button("down").on_hover_text("Move down").clicked() {
                                edit = Some(Edit::Down(s, l));
                            }
                            if ui.small_button("up").on_hover_text("Move up").clicked() {
                                edit = Some(Edit::Up(s, l));
                            }
                        });
                    });
                    param_editors(
                        ui,
                        &mut app.experiment.architecture.stacks[s].layers[l],
                        (s, l),
                    );
                    if let Some(msg) = layer_report.as_ref().and_then(|r| r.error.clone()) {
                        ui.colored_label(ERROR, msg);
                    }
                });
            // A layer dragged from the palette and released on a card goes after it.
            let card = card.response;
            if card.dnd_hover_payload::<PaletteItem>().is_some() {
                let y = card.rect.bottom();
                ui.painter().hline(
                    card.rect.x_range(),
                    y,
                    egui::Stroke::new(3.0, ui.visuals().selection.bg_fill),
                );
            }
            if let Some(item) = card.dnd_release_payload::<PaletteItem>() {
                dropped = Some((s, l + 1, item.0));
            }
        }
        if dragging || layers_len == 0 {
            let (_, payload) =
                ui.dnd_drop_zone::<PaletteItem, _>(egui::Frame::group(ui.style()), |ui| {
                    ui.set_width(ui.available_width());
                    ui.weak(format!(
                        "Drop a layer here to add it at the end of '{name}'"
                    ));
                });
            if let Some(item) = payload {
                dropped = Some((s, layers_len, item.0));
            }
        }
    }
    if let Some((s, at, kind)) = dropped {
        insert_layer(app, s, at, kind);
    } else if let Some(e) = edit {
        apply(app, e);
    } else if app.experiment != before {
        app.note_edit(before);
    }
}

fn apply(app: &mut LaminaApp, edit: Edit) {
    app.checkpoint();
    let stacks = &mut app.experiment.architecture.stacks;
    match edit {
        Edit::Up(s, l) if l > 0 => {
            stacks[s].layers.swap(l, l - 1);
            app.selected = Some((s, l - 1));
        }
        Edit::Down(s, l) if l + 1 < stacks[s].layers.len() => {
            stacks[s].layers.swap(l, l + 1);
            app.selected = Some((s, l + 1));
        }
        Edit::Duplicate(s, l) => {
            let copy = stacks[s].layers[l].clone();
            stacks[s].layers.insert(l + 1, copy);
            app.selected = Some((s, l + 1));
        }
        Edit::Remove(s, l) => {
            stacks[s].layers.remove(l);
            app.selected = None;
        }
        _ => {
            app.undo.pop();
        }
    }
}

/// A widget per parameter, with the catalogue's bounds.
fn param_editors(ui: &mut egui::Ui, layer: &mut LayerSpec, id: (usize, usize)) {
    let info = layer.info();
    if info.params.is_empty() {
        return;
    }
    let values = layer.params();
    ui.horizontal_wrapped(|ui| {
        for p in info.params {
            let Some(v) = values.get(p.name) else {
                continue;
            };
            let name = ui.label(p.label).on_hover_text(p.help);
            let new = match p.kind {
                ParamKind::Int { min, max } => {
                    let mut x = v.as_u64().unwrap_or(min);
                    ui.add(egui::DragValue::new(&mut x).range(min..=max))
                        .on_hover_text(p.help)
                        .changed()
                        .then(|| serde_json::json!(x))
                }
                ParamKind::Float { min, max } => {
                    let mut x = v.as_f64().unwrap_or(min);
                    ui.add(egui::DragValue::new(&mut x).range(min..=max).speed(0.01))
                        .on_hover_text(p.help)
                        .changed()
                        .then(|| serde_json::json!(x))
                }
                ParamKind::Bool => {
                    let mut b = v.as_bool().unwrap_or(false);
                    ui.checkbox(&mut b, "")
                        .changed()
                        .then(|| serde_json::json!(b))
                }
                ParamKind::Choice(options) => {
                    let mut current = v.as_str().unwrap_or("").to_string();
                    let before = current.clone();
                    egui::ComboBox::from_id_salt((id, p.name))
                        .selected_text(current.clone())
                        .show_ui(ui, |ui| {
                            for o in options {
                                ui.selectable_value(&mut current, o.to_string(), *o);
                            }
                        });
                    (current != before).then(|| serde_json::json!(current))
                }
                ParamKind::Sizes => {
                    let sizes: Vec<String> = v
                        .as_array()
                        .map(|a| a.iter().map(|x| x.to_string()).collect())
                        .unwrap_or_default();
                    // While typing, the text is kept as typed (it may not parse yet).
                    let edit_id = egui::Id::unique(("sizes", id, p.name));
                    let mut text = ui
                        .data(|d| d.get_temp::<String>(edit_id))
                        .unwrap_or_else(|| sizes.join(", "));
                    let resp = ui
                        .add(egui::TextEdit::singleline(&mut text).desired_width(90.0))
                        .labelled_by(name.id)
                        .on_hover_text(p.help);
                    let parsed: Option<Vec<usize>> =
                        text.split(',').map(|t| t.trim().parse().ok()).collect();
                    let parsed = parsed.filter(|v| !v.is_empty() && v.iter().all(|&x| x > 0));
                    if resp.has_focus() {
                        ui.data_mut(|d| d.insert_temp(edit_id, text.clone()));
                        if parsed.is_none() {
                            ui.colored_label(ERROR, "sizes separated by commas, e.g. 3, 3");
                        }
                    } else {
                        ui.data_mut(|d| d.remove::<String>(edit_id));
                    }
                    resp.changed()
                        .then_some(parsed)
                        .flatten()
                        .map(|v| serde_json::json!(v))
                }
            };
            if let Some(value) = new {
                let _ = layer.set_param(p.name, value);
            }
        }
    });
}
