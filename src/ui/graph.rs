//! The network as a node graph: one stack drawn as boxes (layers) and wires
//! (what each layer takes), laid out top to bottom by depth, with the shape
//! that flows along each wire written on it. Drag from a node's output port
//! (its bottom edge) onto another node to draw a wire; click a wire and press
//! Delete (or its ×) to remove it; drag the background to pan, Ctrl+scroll or
//! pinch to zoom; drop a palette layer on the canvas to add it. A node that
//! does not fit is outlined in red with its reason on hover.
//!
//! The canvas draws from the stack, its shape report and its own view state,
//! and returns what the user asked for; the edits themselves are
//! `spec::graph::connect`/`disconnect`, applied by the architecture panel.
//! No node-graph crate resolves with egui 0.37 (egui-snarl 0.12 and
//! egui_node_editor 0.11 need egui 0.36, egui-graph-edit 0.35, egui_node_graph2
//! 0.29), so this is drawn with egui's painter.

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};

use super::architecture::PaletteItem;
use crate::spec::Stack;
use crate::spec::graph::{self, Source};
use crate::spec::shapes::{StackReport, short};

const NODE_W: f32 = 190.0;
const NODE_H: f32 = 40.0;
const GAP_X: f32 = 40.0;
const GAP_Y: f32 = 46.0;
const PORT_R: f32 = 5.0;
const ERROR: Color32 = Color32::from_rgb(220, 60, 60);

/// Pan and zoom of one stack's canvas, and the wire being drawn or chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasView {
    pub pan: Vec2,
    pub zoom: f32,
    /// The output a wire is being dragged from.
    dragging: Option<Source>,
    /// The chosen wire: (node it goes into, which of its inputs).
    pub chosen_wire: Option<(usize, usize)>,
}

impl Default for CanvasView {
    fn default() -> Self {
        CanvasView {
            pan: Vec2::ZERO,
            zoom: 1.0,
            dragging: None,
            chosen_wire: None,
        }
    }
}

/// What the user asked for on the canvas.
#[derive(Debug, Clone, PartialEq)]
pub enum CanvasAction {
    Select(usize),
    Connect {
        from: Source,
        to: usize,
    },
    Disconnect {
        to: usize,
        slot: usize,
    },
    /// A palette layer dropped on the canvas: add it after this node (or at the end).
    AddLayer {
        kind: &'static str,
        after: Option<usize>,
    },
}

/// Where each node sits, in canvas units (before pan and zoom): the input
/// boxes (the stack's input, then each joined table) side by side at the top,
/// then one row per depth (longest path from the inputs), nodes of a row side
/// by side in list order. A chain is one column.
fn layout(sources: &[Vec<Source>], joined: usize) -> (Vec<Pos2>, Vec<Pos2>) {
    let n = sources.len();
    let mut depth = vec![1usize; n];
    // Relax in list order; a circle (refused elsewhere) stops after n rounds.
    for _ in 0..n.max(1) {
        let mut changed = false;
        for i in 0..n {
            let d = 1 + sources[i]
                .iter()
                .map(|s| match s {
                    Source::Input | Source::Joined(_) => 0,
                    Source::Node(j) => depth[*j],
                })
                .max()
                .unwrap_or(0);
            let d = d.min(n + 1);
            if d != depth[i] {
                depth[i] = d;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let rows = depth.iter().copied().max().unwrap_or(0);
    let mut in_row: Vec<Vec<usize>> = vec![Vec::new(); rows + 1];
    for (i, d) in depth.iter().enumerate() {
        in_row[*d].push(i);
    }
    let width = (joined + 1) as f32 * (NODE_W + GAP_X) - GAP_X;
    let inputs = (0..=joined)
        .map(|k| Pos2::new(-width / 2.0 + k as f32 * (NODE_W + GAP_X), 0.0))
        .collect();
    let mut pos = vec![Pos2::ZERO; n];
    for (d, members) in in_row.iter().enumerate() {
        let width = members.len() as f32 * (NODE_W + GAP_X) - GAP_X;
        for (k, &i) in members.iter().enumerate() {
            pos[i] = Pos2::new(
                -width / 2.0 + k as f32 * (NODE_W + GAP_X),
                d as f32 * (NODE_H + GAP_Y),
            );
        }
    }
    (pos, inputs)
}

/// Points along the wire from an output port to an input port. A wire that
/// skips rows in the same column would run behind the nodes it skips, so it
/// swings out to the right by `side` (a skip connection stays visible).
fn wire_points(a: Pos2, b: Pos2, row: f32, side: f32) -> Vec<Pos2> {
    let bend = ((b.y - a.y).abs() * 0.5).max(20.0);
    let skips_rows = b.y - a.y > row * 1.5 && (b.x - a.x).abs() < side;
    let out = if skips_rows { side * 1.3 } else { 0.0 };
    let (c1, c2) = (a + Vec2::new(out, bend), b + Vec2::new(out, -bend));
    (0..=24)
        .map(|k| {
            let t = k as f32 / 24.0;
            let u = 1.0 - t;
            let p = a.to_vec2() * (u * u * u)
                + c1.to_vec2() * (3.0 * u * u * t)
                + c2.to_vec2() * (3.0 * u * t * t)
                + b.to_vec2() * (t * t * t);
            p.to_pos2()
        })
        .collect()
}

fn distance_to(points: &[Pos2], p: Pos2) -> f32 {
    points
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let ab = b - a;
            let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
            (a + ab * t).distance(p)
        })
        .fold(f32::INFINITY, f32::min)
}

/// Draw `stack` on a canvas filling the space given; `report` supplies shapes
/// and errors once the data is known. `selected` is the chosen node; `joined`
/// names the joined tables the stack takes as inputs of their own.
pub fn canvas(
    ui: &mut egui::Ui,
    view: &mut CanvasView,
    stack: &Stack,
    joined: &[String],
    report: Option<&StackReport>,
    selected: Option<usize>,
) -> Option<CanvasAction> {
    let mut action = None;
    let sources = graph::sources_lenient(stack, joined);
    let wiring_error = graph::wire(stack, joined).err();
    let (positions, input_pos) = layout(&sources, joined.len());
    let height = positions
        .iter()
        .map(|p| p.y + NODE_H)
        .fold(NODE_H, f32::max)
        + 30.0;
    // As tall as the graph (the panel scrolls), so a deep network needs no panning.
    let size = Vec2::new(ui.available_width(), (height * view.zoom + 20.0).max(220.0));
    let (rect, background) = ui.allocate_exact_size(size, Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);

    // Pan by dragging the background, zoom with Ctrl+scroll or a pinch.
    if background.dragged() && view.dragging.is_none() {
        view.pan += background.drag_delta();
    }
    if background.hovered() {
        let zoom = ui.input(|i| i.zoom_delta());
        if zoom != 1.0 {
            view.zoom = (view.zoom * zoom).clamp(0.3, 2.5);
        }
    }
    let origin = Pos2::new(rect.center().x, rect.top() + 16.0) + view.pan;
    let z = view.zoom;
    let to_screen = |p: Pos2| origin + p.to_vec2() * z;
    let node_rect = |p: Pos2| Rect::from_min_size(to_screen(p), Vec2::new(NODE_W, NODE_H) * z);
    let input_rects: Vec<Rect> = input_pos.iter().map(|p| node_rect(*p)).collect();
    let rects: Vec<Rect> = positions.iter().map(|p| node_rect(*p)).collect();
    let out_port = |s: Source| match s {
        Source::Input => input_rects[0].center_bottom(),
        Source::Joined(k) => input_rects[(k + 1).min(input_rects.len() - 1)].center_bottom(),
        Source::Node(j) => rects[j].center_bottom(),
    };
    let shape_of = |s: Source| -> Option<Vec<usize>> {
        let r = report?;
        match s {
            Source::Input => Some(r.input.clone()),
            Source::Joined(k) => r.joined.get(k).map(|(_, s)| s.clone()),
            Source::Node(j) => r.layers.get(j)?.output.clone(),
        }
    };
    let font = egui::FontId::proportional(12.0 * z);
    let small = egui::FontId::proportional(10.5 * z);
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();

    // Wires, with the shape they carry at their middle.
    let pointer = ui.input(|i| i.pointer.hover_pos());
    let mut hovered_wire = None;
    for (to, taken) in sources.iter().enumerate() {
        let k = taken.len();
        for (slot, s) in taken.iter().enumerate() {
            let end = rects[to].center_top()
                + Vec2::new((slot as f32 + 1.0) / (k as f32 + 1.0) - 0.5, 0.0) * NODE_W * z;
            let points = wire_points(out_port(*s), end, (NODE_H + GAP_Y) * z, NODE_W * 0.6 * z);
            let near = pointer.is_some_and(|p| rect.contains(p) && distance_to(&points, p) < 5.0);
            if near {
                hovered_wire = Some((to, slot));
            }
            let chosen = view.chosen_wire == Some((to, slot));
            let stroke = if chosen {
                Stroke::new(3.0, ui.visuals().selection.bg_fill)
            } else if near {
                Stroke::new(2.5, text)
            } else {
                Stroke::new(1.5, weak)
            };
            painter.add(egui::Shape::line(points.clone(), stroke));
            if let Some(shape) = shape_of(*s) {
                let mid = points[points.len() / 2];
                painter.text(
                    mid + Vec2::new(6.0, 0.0),
                    egui::Align2::LEFT_CENTER,
                    short(&shape),
                    small.clone(),
                    weak,
                );
            }
            if chosen {
                let mid = points[points.len() / 2];
                let x = Rect::from_center_size(mid - Vec2::new(12.0, 0.0), Vec2::splat(16.0));
                let r = ui
                    .put(x, egui::Button::new("×").small())
                    .on_hover_text("Remove this wire (Delete)");
                if r.clicked() {
                    action = Some(CanvasAction::Disconnect { to, slot });
                }
            }
        }
    }
    if background.clicked() {
        view.chosen_wire = hovered_wire;
    }
    if let Some((to, slot)) = view.chosen_wire
        && ui.input(|i| i.key_pressed(egui::Key::Delete) || i.key_pressed(egui::Key::Backspace))
        && !ui.ctx().memory(|m| m.focused().is_some())
    {
        action = Some(CanvasAction::Disconnect { to, slot });
    }

    // The input box and the nodes, each with an output port to drag wires from.
    let port = |ui: &mut egui::Ui, s: Source, label: String, view: &mut CanvasView| {
        let at = out_port(s);
        let r = ui.interact(
            Rect::from_center_size(at, Vec2::splat(PORT_R * 2.0 + 6.0)),
            egui::Id::unique(("output port", stack.name.as_str(), label.as_str())),
            Sense::drag(),
        );
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        let r = r.on_hover_text("Drag onto a node to wire this output into it");
        painter.circle_filled(at, PORT_R * z, if r.hovered() { text } else { weak });
        if r.drag_started() {
            view.dragging = Some(s);
        }
    };
    let input_sources = std::iter::once(Source::Input).chain((0..joined.len()).map(Source::Joined));
    for (k, source) in input_sources.enumerate() {
        painter.rect(
            input_rects[k],
            6.0,
            ui.visuals().faint_bg_color,
            Stroke::new(1.0, weak),
            egui::StrokeKind::Inside,
        );
        let name = match k {
            0 => graph::INPUT,
            _ => joined[k - 1].as_str(),
        };
        let input_text = match shape_of(source) {
            Some(shape) => format!("{name} {}", short(&shape)),
            None => name.to_string(),
        };
        painter.text(
            input_rects[k].center(),
            egui::Align2::CENTER_CENTER,
            input_text,
            font.clone(),
            text,
        );
        let label = match k {
            0 => format!("output of {} input", stack.name),
            _ => format!("output of joined input '{name}'"),
        };
        port(ui, source, label, view);
    }

    for (i, node) in stack.layers.iter().enumerate() {
        let r = rects[i];
        let problem = report
            .and_then(|rep| rep.layers.get(i))
            .and_then(|l| l.error.clone())
            .or_else(|| {
                wiring_error
                    .as_ref()
                    .filter(|e| e.node == i)
                    .map(|e| e.message.clone())
            });
        let stroke = if problem.is_some() {
            Stroke::new(2.5, ERROR)
        } else if selected == Some(i) {
            Stroke::new(2.0, ui.visuals().selection.stroke.color)
        } else {
            Stroke::new(1.0, weak)
        };
        painter.rect(
            r,
            6.0,
            ui.visuals().widgets.inactive.bg_fill,
            stroke,
            egui::StrokeKind::Inside,
        );
        let title = match node.id.as_str() {
            "" => format!("{}. {}", i + 1, node.layer.summary()),
            id => format!("{}. {}  '{id}'", i + 1, node.layer.summary()),
        };
        painter.text(
            r.center_top() + Vec2::new(0.0, 13.0 * z),
            egui::Align2::CENTER_CENTER,
            title,
            font.clone(),
            text,
        );
        let detail = report
            .and_then(|rep| rep.layers.get(i))
            .map(|l| match &l.output {
                Some(out) => format!("{}  ·  {} params", short(out), l.params),
                None => "does not fit".to_string(),
            });
        if let Some(d) = detail {
            painter.text(
                r.center_bottom() - Vec2::new(0.0, 11.0 * z),
                egui::Align2::CENTER_CENTER,
                d,
                small.clone(),
                if problem.is_some() { ERROR } else { weak },
            );
        }
        let label = match node.id.as_str() {
            "" => format!("node {} {}", i + 1, node.layer.info().display),
            id => format!("node '{id}'"),
        };
        let body = ui.interact(
            r,
            egui::Id::unique(("graph node", stack.name.as_str(), i)),
            Sense::click(),
        );
        body.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        let body = match &problem {
            Some(p) => body.on_hover_text(p.as_str()),
            None => body.on_hover_text(node.layer.info().help),
        };
        if body.clicked() {
            action = Some(CanvasAction::Select(i));
        }
        if let Some(item) = body.dnd_release_payload::<PaletteItem>() {
            action = Some(CanvasAction::AddLayer {
                kind: item.0,
                after: Some(i),
            });
        }
        port(ui, Source::Node(i), format!("output of {label}"), view);
    }

    // A wire being drawn follows the pointer and lands on the node released over.
    if let Some(from) = view.dragging {
        if let Some(p) = pointer {
            painter.add(egui::Shape::line(
                wire_points(out_port(from), p, f32::INFINITY, 0.0),
                Stroke::new(2.0, ui.visuals().selection.bg_fill),
            ));
        }
        if ui.input(|i| i.pointer.any_released()) {
            let released = ui.input(|i| i.pointer.interact_pos()).or(pointer);
            if let Some(to) =
                released.and_then(|p| rects.iter().position(|r| r.expand(6.0).contains(p)))
            {
                action = Some(CanvasAction::Connect { from, to });
            }
            view.dragging = None;
        }
    }
    if let Some(item) = background.dnd_release_payload::<PaletteItem>() {
        action = Some(CanvasAction::AddLayer {
            kind: item.0,
            after: None,
        });
    }
    if let Some(e) = &wiring_error
        && report.is_none()
    {
        painter.text(
            rect.left_bottom() + Vec2::new(8.0, -10.0),
            egui::Align2::LEFT_CENTER,
            format!("{}: {}", graph::node_name(stack, e.node), e.message),
            small,
            ERROR,
        );
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_one_column_and_a_skip_sits_beside_its_branch() {
        let chain = vec![
            vec![Source::Input],
            vec![Source::Node(0)],
            vec![Source::Node(1)],
        ];
        let (pos, _) = layout(&chain, 0);
        assert!(pos.iter().all(|p| p.x == pos[0].x), "{pos:?}");
        assert!(pos[0].y < pos[1].y && pos[1].y < pos[2].y);
        // input → a → b → add(b, c), with c a projection of the input.
        let graph = vec![
            vec![Source::Input],
            vec![Source::Node(0)],
            vec![Source::Input],
            vec![Source::Node(1), Source::Node(2)],
        ];
        let (pos, _) = layout(&graph, 0);
        assert_eq!(pos[0].y, pos[2].y, "a and the projection share a row");
        assert_ne!(pos[0].x, pos[2].x);
        assert!(pos[3].y > pos[1].y, "the Add comes after both branches");
    }
}
