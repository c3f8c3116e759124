//! Reinforcement learning views: the episode-return curve with its moving
//! average, exploration and loss; and an episode of the current policy played
//! back frame by frame (the cart and pole, or the DNA sequence being edited).
//! The episode is played by a background job ([`replay_job`]); the view only
//! draws the frames it got.

use std::time::Instant;

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::Action;
use super::tasks::{Done, Kind, Tasks};
use crate::rl::Frame;
use crate::train::dqn::{EpisodeReport, play_episode};

const RETURN: egui::Color32 = egui::Color32::from_rgb(160, 160, 160);
const AVERAGE: egui::Color32 = egui::Color32::from_rgb(40, 110, 200);
const EPSILON: egui::Color32 = egui::Color32::from_rgb(230, 120, 30);

/// An episode being shown.
pub struct Playback {
    pub frames: Vec<Frame>,
    pub episode_return: f64,
    pub started: Instant,
}

/// Seconds each frame is shown.
const FRAME_SECONDS: f64 = 0.05;

pub fn curves(ui: &mut egui::Ui, episodes: &[EpisodeReport]) {
    let last = episodes.last().expect("curves are drawn with episodes");
    ui.label(format!(
        "{} episodes, {} of {} steps: last return {:.1}, average of the last 100 {:.1}",
        last.episode, last.steps_done, last.total_steps, last.episode_return, last.moving_average
    ));
    ui.strong("Return per episode");
    Plot::new("returns")
        .height(180.0)
        .legend(Legend::default())
        .x_axis_label("episode")
        .show(ui, |p| {
            let r: Vec<[f64; 2]> = episodes
                .iter()
                .map(|e| [e.episode as f64, e.episode_return])
                .collect();
            let m: Vec<[f64; 2]> = episodes
                .iter()
                .map(|e| [e.episode as f64, e.moving_average])
                .collect();
            p.points(
                Points::new("return", PlotPoints::from(r))
                    .radius(1.5)
                    .color(RETURN),
            );
            p.line(
                Line::new("average of 100", PlotPoints::from(m))
                    .color(AVERAGE)
                    .width(2.0),
            );
        });
    ui.strong("Exploration and learning loss");
    Plot::new("epsilon_loss")
        .height(120.0)
        .legend(Legend::default())
        .x_axis_label("episode")
        .include_y(0.0)
        .show(ui, |p| {
            let eps: Vec<[f64; 2]> = episodes
                .iter()
                .map(|e| [e.episode as f64, e.epsilon])
                .collect();
            let loss: Vec<[f64; 2]> = episodes
                .iter()
                .filter_map(|e| e.loss.map(|l| [e.episode as f64, l]))
                .collect();
            p.line(Line::new("epsilon (random actions)", PlotPoints::from(eps)).color(EPSILON));
            p.line(Line::new("loss", PlotPoints::from(loss)).color(AVERAGE));
        });
}

/// Play one episode of `model`'s policy in `kind` (seeded by `seed`) on a
/// background thread.
pub fn replay_job(
    model: &crate::train::TrainedModel,
    kind: crate::spec::EnvironmentKind,
    seed: u64,
) -> impl FnOnce() -> Result<Done, String> + Send + use<> {
    let network = model.network.clone();
    move || {
        let device = burn::tensor::Device::flex();
        let (frames, episode_return) = play_episode(&network, kind, seed, &device);
        Ok(Done::Replayed(Playback {
            frames,
            episode_return,
            started: Instant::now(),
        }))
    }
}

/// The play view: a button for a new episode, and the one played so far.
pub fn play(
    ui: &mut egui::Ui,
    trained: bool,
    playback: Option<&Playback>,
    tasks: &Tasks,
) -> Option<Action> {
    if !trained {
        ui.weak(
            "Train the agent first (or stop it early): then play an episode of its policy here.",
        );
        return None;
    }
    let mut action = None;
    let playing = tasks.is_running(Kind::Replay);
    if ui
        .add_enabled(
            !playing,
            egui::Button::new("Play an episode of the trained policy"),
        )
        .clicked()
    {
        action = Some(Action::Replay);
    }
    if tasks.show(ui, Kind::Replay) {
        action = Some(Action::Cancel(Kind::Replay));
    }
    let Some(p) = playback else {
        return action;
    };
    let at = ((p.started.elapsed().as_secs_f64() / FRAME_SECONDS) as usize).min(p.frames.len() - 1);
    if at + 1 < p.frames.len() {
        ui.ctx().request_repaint();
    }
    ui.label(format!(
        "Step {} of {}; this episode's return: {:.1}",
        at,
        p.frames.len() - 1,
        p.episode_return
    ));
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width().min(600.0), 220.0),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    match &p.frames[at] {
        Frame::CartPole { x, angle } => {
            let ground = rect.bottom() - 40.0;
            painter.line_segment(
                [
                    egui::pos2(rect.left() + 10.0, ground),
                    egui::pos2(rect.right() - 10.0, ground),
                ],
                (2.0, egui::Color32::GRAY),
            );
            let scale = (rect.width() - 40.0) / 4.8;
            let cx = rect.center().x + x * scale;
            let cart =
                egui::Rect::from_center_size(egui::pos2(cx, ground - 12.0), egui::vec2(50.0, 24.0));
            painter.rect_filled(cart, 3.0, AVERAGE);
            let top = egui::pos2(
                cx + 120.0 * angle.sin(),
                ground - 24.0 - 120.0 * angle.cos(),
            );
            painter.line_segment([egui::pos2(cx, ground - 24.0), top], (6.0, EPSILON));
        }
        Frame::Sequence {
            letters,
            score,
            motif,
        } => {
            let font = egui::FontId::monospace(28.0);
            painter.text(
                rect.center() - egui::vec2(0.0, 30.0),
                egui::Align2::CENTER_CENTER,
                letters,
                font,
                ui.visuals().text_color(),
            );
            painter.text(
                rect.center() + egui::vec2(0.0, 30.0),
                egui::Align2::CENTER_CENTER,
                format!("best match to {motif}: {score} of {} letters", motif.len()),
                egui::FontId::proportional(16.0),
                ui.visuals().text_color(),
            );
        }
    }
    action
}
