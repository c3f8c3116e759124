//! Files the user names in the window: the in-app file browser, and the check
//! that a save would replace something, asked before anything is written.
//!
//! The browser (the `egui_file` crate) is used when the system has no file
//! dialog to show (no desktop portal, as on many lab machines) and when
//! `LAMINA_FILE_DIALOG=in-app` asks for it; it has a typed folder field and a
//! typed name field, which also take a whole path. The native dialog lives in
//! `dialogs`, and what is done with a chosen path is `LaminaApp::use_path`'s.
//! [`target`] looks at the place a save would write (one `stat`, or one folder
//! listing for a folder) and says whether to ask first or to write elsewhere.

use std::path::{Path, PathBuf};

use eframe::egui;

use super::Action;
use super::dialogs::{Purpose, Shape};

/// Whether `LAMINA_FILE_DIALOG=in-app` asks for the in-app browser always.
pub fn in_app_wanted() -> bool {
    std::env::var("LAMINA_FILE_DIALOG").is_ok_and(|v| v.eq_ignore_ascii_case("in-app"))
}

/// The in-app browser, open for one purpose.
pub struct Browser {
    pub purpose: Purpose,
    dialog: egui_file::FileDialog,
}

/// What the browser did this frame.
pub enum Browsed {
    Open,
    Chosen(Purpose, PathBuf),
    Closed,
}

impl Browser {
    /// Open the browser for `purpose` in `dir`, with `name` in the name field
    /// for a save.
    pub fn open(purpose: Purpose, dir: &Path, name: Option<String>) -> Self {
        let shape = super::dialogs::shape(purpose);
        let mut dialog = match shape {
            Shape::OpenFile => egui_file::FileDialog::open_file(),
            Shape::PickFolder => egui_file::FileDialog::select_folder(),
            Shape::SaveFile | Shape::NewFolder => egui_file::FileDialog::save_file(),
        }
        .initial_path(dir)
        .title(super::dialogs::title(purpose))
        .id(egui::Id::unique("lamina_file_browser"))
        .default_size([620.0, 460.0])
        .show_rename(false)
        .keep_on_top(true)
        .file_label_text(match shape {
            Shape::OpenFile => "File (or a whole path):".into(),
            Shape::PickFolder => "Folder:".into(),
            Shape::SaveFile => "Save as (a name here, or a whole path):".into(),
            Shape::NewFolder => "New folder (a name here, or a whole path):".into(),
        });
        dialog = dialog
            .open_button_text(match shape {
                Shape::PickFolder => "Use this folder".into(),
                _ => "Open this file".into(),
            })
            .save_button_text("Save here".into());
        if let Some(ext) = super::dialogs::extensions(purpose).filter(|_| shape == Shape::OpenFile)
        {
            dialog = dialog.show_files_filter(Box::new(move |p: &Path| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                ext.iter().any(|e| name.ends_with(&format!(".{e}")))
            }));
        }
        if let Some(name) = name {
            dialog = dialog.default_filename(name);
        }
        dialog.open();
        Browser { purpose, dialog }
    }

    /// Draw the browser; says whether a path was chosen or the browser closed.
    pub fn show(&mut self, ctx: &egui::Context) -> Browsed {
        let dialog = self.dialog.show(ctx);
        if dialog.selected() {
            return match dialog.path() {
                Some(p) => Browsed::Chosen(self.purpose, p.to_path_buf()),
                None => Browsed::Closed,
            };
        }
        match dialog.state() {
            egui_file::State::Open => Browsed::Open,
            _ => Browsed::Closed,
        }
    }
}

/// What writing to a chosen place would do.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// Nothing is there that would be lost.
    Free,
    /// Something would be replaced: ask this first.
    Ask(String),
    /// The place is a folder of other things: write here instead (a new
    /// folder inside it), never over what it holds.
    Instead(PathBuf),
}

/// What writing the output of `purpose` to `path` would replace. `name` names
/// a new folder made inside a chosen folder of other files (the run's name).
pub fn target(purpose: Purpose, path: &Path, name: &str) -> Target {
    let shown = path.display();
    match purpose {
        Purpose::ExportModel => {
            if !path.is_dir() {
                return Target::Free;
            }
            if path.join("model.json").exists() {
                return Target::Ask(format!(
                    "{shown} holds a model folder already. Replace that model with this one?"
                ));
            }
            if is_empty_dir(path) {
                Target::Free
            } else {
                Target::Instead(unique(&path.join(format!("{name}-model"))))
            }
        }
        Purpose::ExportPlots => {
            let found: Vec<&str> = PLOT_FILES
                .iter()
                .copied()
                .filter(|f| path.join(f).exists())
                .collect();
            if found.is_empty() {
                Target::Free
            } else {
                Target::Ask(format!(
                    "{shown} holds {} already. Replace {}?",
                    found.join(", "),
                    if found.len() == 1 { "it" } else { "them" }
                ))
            }
        }
        Purpose::ExportExplanation => {
            // Every file an explanation of any kind may write.
            let planned = crate::export::explain::planned_files(path, true, true, true, true);
            let found: Vec<String> = planned
                .iter()
                .filter(|p| p.exists())
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            if found.is_empty() {
                Target::Free
            } else {
                Target::Ask(format!(
                    "{shown} holds {} already. Replace {}?",
                    found.join(", "),
                    if found.len() == 1 { "it" } else { "them" }
                ))
            }
        }
        Purpose::SaveExperiment
        | Purpose::ExportLatent
        | Purpose::ExportGenerated
        | Purpose::ExportAttentionPng
        | Purpose::ExportAttentionCsv
        | Purpose::ExportExplainPng
        | Purpose::ExportExplainCsv
        | Purpose::ExportMotifs
        | Purpose::ExportLogoPng => file_target(path),
        _ => Target::Free,
    }
}

/// A file that exists is asked about before it is replaced.
pub fn file_target(path: &Path) -> Target {
    if path.is_dir() {
        return Target::Ask(format!(
            "{} is a folder: choose a file name inside it instead.",
            path.display()
        ));
    }
    match path.exists() {
        true => Target::Ask(format!("{} exists already. Replace it?", path.display())),
        false => Target::Free,
    }
}

/// The plots `Save plots` may write, by name.
const PLOT_FILES: [&str; 5] = [
    "loss.png",
    "accuracy.png",
    "latent.png",
    "confusion.png",
    "attention.png",
];

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// `path` itself when nothing is there, else the first free `NAME-2.EXT`,
/// `NAME-3.EXT`, … beside it.
pub fn unique(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2..)
        .map(|k| path.with_file_name(format!("{stem}-{k}{ext}")))
        .find(|p| !p.exists())
        .expect("some numbered name is free")
}

/// A question before something is replaced, and what to do on yes.
pub struct Confirm {
    pub question: String,
    /// The action, carried out with replacing allowed.
    pub yes: Action,
}

/// Show the question as a modal; `Some(true)` when the user agreed,
/// `Some(false)` when they declined.
pub fn ask(ctx: &egui::Context, confirm: &Confirm) -> Option<bool> {
    let mut answer = None;
    egui::Modal::new(egui::Id::unique("lamina_confirm_replace")).show(ctx, |ui| {
        ui.set_max_width(460.0);
        ui.strong("Replace?");
        ui.label(&confirm.question);
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if ui.button("Replace").clicked() {
                answer = Some(true);
            }
            if ui.button("Keep it").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                answer = Some(false);
            }
        });
    });
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lamina-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_model_goes_into_a_new_folder_inside_a_folder_of_other_files() {
        let d = scratch("model");
        assert_eq!(target(Purpose::ExportModel, &d, "ae"), Target::Free);
        std::fs::write(d.join("notes.txt"), "mine").unwrap();
        assert_eq!(
            target(Purpose::ExportModel, &d, "ae"),
            Target::Instead(d.join("ae-model"))
        );
        std::fs::create_dir(d.join("ae-model")).unwrap();
        assert_eq!(
            target(Purpose::ExportModel, &d, "ae"),
            Target::Instead(d.join("ae-model-2"))
        );
        std::fs::write(d.join("ae-model/model.json"), "{}").unwrap();
        assert!(matches!(
            target(Purpose::ExportModel, &d.join("ae-model"), "ae"),
            Target::Ask(_)
        ));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn existing_files_and_plots_are_asked_about() {
        let d = scratch("plots");
        assert_eq!(target(Purpose::ExportPlots, &d, "x"), Target::Free);
        std::fs::write(d.join("loss.png"), "x").unwrap();
        match target(Purpose::ExportPlots, &d, "x") {
            Target::Ask(q) => assert!(q.contains("loss.png"), "{q}"),
            t => panic!("{t:?}"),
        }
        let f = d.join("latent.csv");
        assert_eq!(target(Purpose::ExportLatent, &f, "x"), Target::Free);
        std::fs::write(&f, "x").unwrap();
        assert!(matches!(
            target(Purpose::ExportLatent, &f, "x"),
            Target::Ask(_)
        ));
        assert_eq!(unique(&f), d.join("latent-2.csv"));
        let _ = std::fs::remove_dir_all(d);
    }
}
