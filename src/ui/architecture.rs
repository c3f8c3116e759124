//! The layer palette and the architecture editor. Both read the layer catalogue
//! in `spec`; shapes and messages come from shape inference, live (computed by
//! the app and handed in). They edit the architecture, the selection and the
//! canvas views in place ([`NetworkPanel`]); a wiring that is refused comes
//! back as an [`Action::Problem`].

use eframe::egui;

use super::{Action, NetworkView, graph};
use crate::spec::Architecture;
use crate::spec::catalogue::ParamKind;
use crate::spec::graph as spec_graph;
use crate::spec::shapes::short;
use crate::spec::shapes::{ShapeReport, Target};
use crate::spec::{Family, LayerSpec, Node, catalogue};

const ERROR: egui::Color32 = egui::Color32::from_rgb(220, 60, 60);

/// What the palette and the editor edit, and what they read.
pub struct NetworkPanel<'a> {
    pub arch: &'a mut Architecture,
    /// The selected layer: (stack, layer); `usize::MAX` as the layer selects
    /// an empty stack.
    pub selected: &'a mut Option<(usize, usize)>,
    pub view: &'a mut NetworkView,
    pub task: crate::spec::Task,
    /// The joined tables each stack can take, by stack.
    pub joined: Vec<Vec<String>>,
    /// Shape inference against the loaded data, when there is data.
    pub report: Option<Result<(ShapeReport, Target), String>>,
}

/// The palette: layers grouped by family, help on hover, click to add.
pub fn palette(ui: &mut egui::Ui, p: &mut NetworkPanel) {
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
            Family::Merge,
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
                            add_layer(p, info.kind);
                        }
                    }
                });
        }
    });
}

/// What is dragged from the palette: a layer kind of the catalogue.
#[derive(Clone, Copy)]
pub(super) struct PaletteItem(pub(super) &'static str);

/// Insert a new layer of `kind` at `at` in stack `s`.
fn insert_layer(p: &mut NetworkPanel, s: usize, at: usize, kind: &str) {
    let Some(layer) = LayerSpec::from_kind(kind) else {
        return;
    };
    if let Some(stack) = p.arch.stacks.get_mut(s) {
        let at = at.min(stack.layers.len());
        stack.layers.insert(at, layer.into());
        *p.selected = Some((s, at));
    }
}

fn add_layer(p: &mut NetworkPanel, kind: &str) {
    let stacks = p.task.stack_names();
    let (stack_idx, at) = match *p.selected {
        Some((s, l)) if s < p.arch.stacks.len() => (s, l.saturating_add(1)),
        _ => {
            let last = stacks.last().copied().unwrap_or("network");
            let s = p
                .arch
                .stacks
                .iter()
                .position(|s| s.name == last)
                .unwrap_or(0);
            (s, usize::MAX)
        }
    };
    insert_layer(p, stack_idx, at, kind);
}

enum Edit {
    Up(usize, usize),
    Down(usize, usize),
    Duplicate(usize, usize),
    Remove(usize, usize),
    ToggleFrozen(usize, usize),
}

/// The stacks of the experiment with a card per layer.
pub fn editor(ui: &mut egui::Ui, p: &mut NetworkPanel) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.heading("Network");
    let report = p.report.take();
    match &report {
        Some(Ok((r, _))) => {
            let frozen: usize = r
                .stacks
                .iter()
                .filter_map(|sr| Some((sr, p.arch.stack(&sr.name)?)))
                .flat_map(|(sr, spec)| sr.layers.iter().zip(&spec.layers))
                .filter(|(_, node)| node.frozen)
                .map(|(lr, _)| lr.params)
                .sum();
            let total = r.total_params();
            if frozen > 0 {
                ui.label(format!(
                    "{} trainable parameters ({} more in frozen layers)",
                    total - frozen.min(total),
                    frozen
                ));
            } else {
                ui.label(format!("{total} trainable parameters"));
            }
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
    if p.task == crate::spec::Task::Gan {
        ui.horizontal(|ui| {
            let label = ui.label("Noise size (the generator's input):");
            ui.add(egui::DragValue::new(&mut p.arch.noise_size).range(1..=1024))
                .labelled_by(label.id)
                .on_hover_text("How many random numbers each generated sample starts from.");
        });
    }
    let any_graph = p.arch.stacks.iter().any(|s| s.is_graph());
    let mut show_graph = p.view.graph.unwrap_or(any_graph);
    ui.horizontal(|ui| {
        ui.label("Show as");
        let cards = ui.selectable_label(!show_graph, "Cards");
        let graph = ui
            .selectable_label(show_graph, "Graph")
            .on_hover_text("The network as nodes and wires: drag from a node's lower edge onto another node to wire it, click a wire to remove it, drag the background to pan, Ctrl+scroll to zoom.");
        if cards.clicked() {
            show_graph = false;
            p.view.graph = Some(false);
        }
        if graph.clicked() {
            show_graph = true;
            p.view.graph = Some(true);
        }
    });
    let mut edit = None;
    let mut dropped: Option<(usize, usize, &'static str)> = None;
    let dragging = egui::DragAndDrop::has_payload_of_type::<PaletteItem>(ui.ctx());
    let stack_count = p.arch.stacks.len();
    for s in 0..stack_count {
        let stack_report = match &report {
            Some(Ok((r, _))) => r
                .stacks
                .iter()
                .find(|sr| sr.name == p.arch.stacks[s].name)
                .cloned(),
            _ => None,
        };
        let name = p.arch.stacks[s].name.clone();
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.strong(format!("Stack '{name}'"));
            if let Some(sr) = &stack_report {
                ui.weak(format!("input {}", short(&sr.input)));
            }
        });
        let layers_len = p.arch.stacks[s].layers.len();
        if show_graph {
            if p.view.canvases.len() <= s {
                p.view.canvases.resize(s + 1, graph::CanvasView::default());
            }
            let selected = (*p.selected).filter(|(ss, _)| *ss == s).map(|(_, l)| l);
            let action = graph::canvas(
                ui,
                &mut p.view.canvases[s],
                &p.arch.stacks[s],
                &p.joined.get(s).cloned().unwrap_or_default(),
                stack_report.as_ref(),
                selected,
            );
            if let Some(a) = action {
                canvas_action(p, s, a, &mut actions);
            }
        }
        if layers_len == 0 {
            ui.weak("Empty: click a layer in the palette to add it here.");
            if ui.button("Select this stack").clicked() {
                *p.selected = Some((s, usize::MAX));
            }
        }
        for l in 0..layers_len {
            // With the graph shown, only the chosen node's card is drawn (under it).
            if show_graph && (*p.selected) != Some((s, l)) {
                continue;
            }
            let layer_report = stack_report
                .as_ref()
                .and_then(|sr| sr.layers.get(l).cloned());
            let selected = (*p.selected) == Some((s, l));
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
                        let node = &p.arch.stacks[s].layers[l];
                        let info = node.layer.info();
                        let title = match node.id.as_str() {
                            "" => format!("{}. {}", l + 1, info.display),
                            id => format!("{}. {} '{id}'", l + 1, info.display),
                        };
                        if ui
                            .selectable_label(selected, egui::RichText::new(title).strong())
                            .on_hover_text(info.help)
                            .clicked()
                        {
                            *p.selected = Some((s, l));
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
                            let has_weights = layer_report.as_ref().is_some_and(|r| r.params > 0);
                            let mut frozen = node.frozen;
                            if (has_weights || frozen)
                                && ui
                                    .checkbox(&mut frozen, "frozen")
                                    .on_hover_text("Keep this layer's weights as they are while training (fine-tuning from a saved model: `lamina train --init-from MODEL`)")
                                    .changed()
                            {
                                edit = Some(Edit::ToggleFrozen(s, l));
                            }
                        });
                    });
                    let stack = &mut p.arch.stacks[s];
                    let graph = stack.is_graph();
                    let node = &mut stack.layers[l];
                    if graph || node.layer.is_merge() {
                        wiring_editors(ui, node, (s, l));
                    }
                    param_editors(ui, &mut node.layer, (s, l));
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
        if (dragging && !show_graph) || layers_len == 0 {
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
        insert_layer(p, s, at, kind);
    } else if let Some(e) = edit {
        apply(p, e);
    }
    p.report = report;
    actions
}

/// Apply what the user did on stack `s`'s canvas.
fn canvas_action(
    p: &mut NetworkPanel,
    s: usize,
    action: graph::CanvasAction,
    actions: &mut Vec<Action>,
) {
    use graph::CanvasAction;
    let mut stack = p.arch.stacks[s].clone();
    let changed = match action {
        CanvasAction::Select(i) => {
            *p.selected = Some((s, i));
            return;
        }
        CanvasAction::AddLayer { kind, after } => {
            insert_layer(p, s, after.map_or(usize::MAX, |i| i + 1), kind);
            return;
        }
        CanvasAction::Connect { from, to } => {
            let joined = p.joined.get(s).cloned().unwrap_or_default();
            spec_graph::connect(&mut stack, from, to, &joined)
        }
        CanvasAction::Disconnect { to, slot } => {
            if let Some(v) = p.view.canvases.get_mut(s) {
                v.chosen_wire = None;
            }
            let joined = p.joined.get(s).cloned().unwrap_or_default();
            spec_graph::disconnect(&mut stack, to, slot, &joined)
        }
    };
    match changed {
        Ok(()) => p.arch.stacks[s] = stack,
        Err(e) => actions.push(Action::Problem(e)),
    }
}

fn apply(p: &mut NetworkPanel, edit: Edit) {
    let stacks = &mut p.arch.stacks;
    match edit {
        Edit::Up(s, l) if l > 0 => {
            stacks[s].layers.swap(l, l - 1);
            *p.selected = Some((s, l - 1));
        }
        Edit::Down(s, l) if l + 1 < stacks[s].layers.len() => {
            stacks[s].layers.swap(l, l + 1);
            *p.selected = Some((s, l + 1));
        }
        Edit::ToggleFrozen(s, l) => {
            let node = &mut stacks[s].layers[l];
            node.frozen = !node.frozen;
        }
        Edit::Duplicate(s, l) => {
            let mut copy = stacks[s].layers[l].clone();
            // Ids name one node each; the copy takes what the original takes.
            copy.id.clear();
            stacks[s].layers.insert(l + 1, copy);
            *p.selected = Some((s, l + 1));
        }
        Edit::Remove(s, l) => {
            stacks[s].layers.remove(l);
            *p.selected = None;
        }
        _ => {}
    }
}

/// The node's id and the ids of the nodes it takes, typed (comma-separated).
fn wiring_editors(ui: &mut egui::Ui, node: &mut Node, id: (usize, usize)) {
    ui.horizontal_wrapped(|ui| {
        ui.label("id");
        ui.add(egui::TextEdit::singleline(&mut node.id).desired_width(70.0))
            .on_hover_text("A name other nodes use to take this node's output.");
        ui.label("takes");
        // The text is kept while it is edited, so a trailing comma survives a frame.
        let key = egui::Id::unique(("node inputs", id));
        let joined = node.inputs.join(", ");
        let mut text = ui
            .data(|d| d.get_temp::<String>(key))
            .unwrap_or_else(|| joined.clone());
        let response = ui
            .add(egui::TextEdit::singleline(&mut text).desired_width(140.0))
            .on_hover_text(format!(
                "The ids of the nodes whose outputs this node takes, separated by commas; '{}' is the stack's input. Empty: the node above.",
                crate::spec::graph::INPUT
            ));
        if response.changed() {
            node.inputs = text
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
        }
        if response.has_focus() {
            ui.data_mut(|d| d.insert_temp(key, text));
        } else {
            ui.data_mut(|d| d.remove::<String>(key));
        }
    });
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
