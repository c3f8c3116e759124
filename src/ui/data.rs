//! The data panel: which files the experiment reads, what was found in them
//! (kind, samples, classes and their balance), a preview of the first samples,
//! and errors in place. It edits the experiment's data section and its own
//! preview caches, and returns the rest as [`Action`]s: dialogs, reading the
//! data again (a background job, `tasks::Kind::Data`), a new environment.

use eframe::egui;

use super::dialogs::Purpose;
use super::tasks::{Kind, Tasks};
use super::{Action, DataState};
use crate::data::{DataKind, Dataset, Labels};
use crate::spec::LabelSource;

const ERROR: egui::Color32 = egui::Color32::from_rgb(220, 60, 60);
const PREVIEW_ROWS: usize = 8;
const PREVIEW_COLUMNS: usize = 8;

/// What the data panel edits (the experiment's data section, the preview
/// caches) and reads.
pub struct DataPanel<'a> {
    pub spec: &'a mut crate::spec::DataSpec,
    pub data: &'a mut DataState,
    pub tasks: &'a Tasks,
    /// The folder relative paths are relative to.
    pub base: &'a std::path::Path,
}

/// The data panel: edits the data section in place (the app makes each
/// change an undo step) and returns what needs the app (dialogs, reading).
pub fn panel(ui: &mut egui::Ui, p: &mut DataPanel) -> Vec<Action> {
    let mut actions = Vec::new();
    let actions = &mut actions;
    if p.spec.format == crate::spec::DataFormat::Environment {
        environment_panel(ui, p, actions);
        return std::mem::take(actions);
    }
    ui.heading("Data");
    ui.horizontal_wrapped(|ui| {
        let name = ui.label("Data file:");
        let current = p.spec.path.display().to_string();
        if let Some(text) = path_field(
            ui,
            "data_path_field",
            &current,
            name.id,
            whole(p.base, &p.spec.path),
        ) {
            let path = crate::spec::resolve(p.base, std::path::Path::new(&text));
            actions.push(Action::UsePath(Purpose::DataFile, path));
        }
        if ui
            .button("Choose file…")
            .on_hover_text("A table (CSV/TSV) or sequences (FASTA)")
            .clicked()
        {
            actions.push(Action::Ask(Purpose::DataFile));
        }
        if ui
            .button("Choose folder…")
            .on_hover_text("A folder with one subfolder of images per class")
            .clicked()
        {
            actions.push(Action::Ask(Purpose::DataFolder));
        }
        if ui.button("Reload").clicked() {
            actions.push(Action::ReloadData);
        }
    });
    ui.weak("You can also drop a file or folder on the window.");
    joined_row(ui, p, actions);
    labels_row(ui, p, actions);
    if p.spec.format == crate::spec::DataFormat::Fasta {
        sequence_row(ui, p, actions);
    }
    if p.spec.format == crate::spec::DataFormat::ImageFolder {
        image_row(ui, p, actions);
    }
    encoding_row(ui, p);
    ui.add_space(4.0);

    if p.tasks.is_running(Kind::Data) {
        if p.tasks.show(ui, Kind::Data) {
            actions.push(Action::Cancel(Kind::Data));
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
        return std::mem::take(actions);
    }
    let data = &mut *p.data;
    if let Some(e) = &data.error {
        ui.colored_label(ERROR, e);
        return std::mem::take(actions);
    }
    let Some(ds) = &data.dataset else {
        ui.label("No data chosen yet.");
        return std::mem::take(actions);
    };
    summary(ui, ds);
    balance(ui, &ds.labels);
    egui::CollapsingHeader::new("Preview")
        .default_open(true)
        .show(ui, |ui| preview(ui, data))
        .header_response
        .on_hover_text("The first samples as read from the file");
    std::mem::take(actions)
}

/// How the numbers are transformed before training (fitted on the training
/// split only and saved with the model).
fn encoding_row(ui: &mut egui::Ui, p: &mut DataPanel) {
    use crate::spec::{DataFormat, StandardizeScope};
    let format = p.spec.format;
    if format == DataFormat::Fasta {
        return;
    }
    let e = &mut p.spec.encoding;
    ui.horizontal_wrapped(|ui| {
        ui.label("Before training:");
        if format == DataFormat::ImageFolder {
            ui.checkbox(&mut e.scale_pixels, "scale pixels to 0..1")
                .on_hover_text("Divide by the largest value the images can hold (255, or 65535 for 16-bit).");
        } else {
            let mut total = e.normalize_total > 0.0;
            if ui
                .checkbox(&mut total, "library size to")
                .on_hover_text(
                    "Scale each sample so its values add up to the same total (\"normalize total\"): \
                     removes differences in sequencing depth. 10,000 is usual for single cells; \
                     1,000,000 gives counts per million (CPM). Computed over the features the model reads.",
                )
                .changed()
            {
                e.normalize_total = if total { 10_000.0 } else { 0.0 };
            }
            if total {
                ui.add(
                    egui::DragValue::new(&mut e.normalize_total)
                        .range(1.0..=1.0e7)
                        .speed(100.0),
                );
            }
            let mut hvg = e.top_variable_features > 0;
            if ui
                .checkbox(&mut hvg, "keep the most variable")
                .on_hover_text(
                    "Keep only the features (genes) with the highest dispersion (variance / mean, after \
                     library-size scaling), measured on the training samples; the model remembers \
                     which ones and picks them from new files.",
                )
                .changed()
            {
                e.top_variable_features = if hvg { 2000 } else { 0 };
            }
            if hvg {
                ui.add(
                    egui::DragValue::new(&mut e.top_variable_features)
                        .range(1..=100_000)
                        .suffix(" features"),
                );
            }
            ui.checkbox(&mut e.log1p, "log(1 + x)")
                .on_hover_text("Tames count data such as gene expression: large counts are compressed.");
        }
        ui.checkbox(&mut e.standardize, "standardise")
            .on_hover_text("Subtract the mean and divide by the standard deviation, measured on the training samples only.");
        if e.standardize {
            egui::ComboBox::from_id_salt("standardize_scope")
                .selected_text(match e.standardize_scope {
                    StandardizeScope::PerFeature => "each feature on its own",
                    StandardizeScope::Global => "all values together",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut e.standardize_scope, StandardizeScope::PerFeature, "each feature on its own");
                    ui.selectable_value(&mut e.standardize_scope, StandardizeScope::Global, "all values together");
                });
        }
    });
}

/// The tables joined to the data by sample id (further inputs of the network).
fn joined_row(ui: &mut egui::Ui, p: &mut DataPanel, actions: &mut Vec<Action>) {
    use crate::spec::DataFormat;
    if matches!(
        p.spec.format,
        DataFormat::Fasta | DataFormat::ImageFolder | DataFormat::Environment
    ) {
        return;
    }
    let mut remove = None;
    let mut choose = None;
    let mut typed = None;
    for (k, j) in p.spec.joined.iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            let name = ui.label(format!("Joined table '{}':", j.name)).on_hover_text(
                "Read beside the data and matched to it by sample id (its first column); a node of the network takes it by this name",
            );
            let current = j.path.display().to_string();
            if let Some(text) = path_field(ui, ("joined_path_field", k), &current, name.id, whole(p.base, &j.path)) {
                typed = Some((k, text));
            }
            if ui.button("Choose…").clicked() {
                choose = Some(k);
            }
            if ui
                .button("Remove")
                .on_hover_text("The network's nodes that take this table then need another input")
                .clicked()
            {
                remove = Some(k);
            }
        });
    }
    if let Some(k) = choose {
        actions.push(Action::Ask(Purpose::JoinedTable(k)));
    }
    if let Some(k) = remove {
        p.spec.joined.remove(k);
        actions.push(Action::ReloadData);
    }
    let next = p.spec.joined.len();
    ui.horizontal_wrapped(|ui| {
        let name = ui.label("Join another table:");
        if let Some(text) = path_field(ui, "join_new_field", "", name.id, None) {
            typed = Some((next, text));
        }
        if ui
            .button("Choose…")
            .on_hover_text("A table of the same samples (e.g. protein beside RNA), matched by sample id; wire it into the network on the canvas")
            .clicked()
        {
            actions.push(Action::Ask(Purpose::JoinedTable(next)));
        }
    });
    if let Some((k, text)) = typed {
        let path = crate::spec::resolve(p.base, std::path::Path::new(&text));
        actions.push(Action::UsePath(Purpose::JoinedTable(k), path));
    }
}

/// The whole path a path in the experiment names, for the field's hover.
fn whole(base: &std::path::Path, path: &std::path::Path) -> Option<String> {
    (!path.as_os_str().is_empty())
        .then(|| crate::project::whole_path(base, path).display().to_string())
}

/// A path typed into a field: kept as typed while focused, and given back
/// (trimmed, when not empty and changed) once focus leaves (Enter). Relative
/// paths are relative to the experiment file's folder.
fn path_field(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug,
    current: &str,
    label: egui::Id,
    hover: Option<String>,
) -> Option<String> {
    let edit_id = egui::Id::unique(id);
    let mut text = ui
        .data(|d| d.get_temp::<String>(edit_id))
        .unwrap_or_else(|| current.to_string());
    // As wide as the path (within reason), so that a long one is not cut off.
    let wide = (text.chars().count() as f32 * 7.5 + 16.0).clamp(220.0, 560.0);
    let edit = ui
        .add(egui::TextEdit::singleline(&mut text).desired_width(wide))
        .labelled_by(label)
        .on_hover_text(match hover {
            Some(whole) => {
                format!("{whole}\n(relative paths are relative to the experiment file's folder)")
            }
            None => "Relative paths are relative to the experiment file's folder".into(),
        });
    if edit.has_focus() {
        ui.data_mut(|d| d.insert_temp(edit_id, text.clone()));
        return None;
    }
    ui.data_mut(|d| d.remove::<String>(edit_id));
    let text = text.trim();
    (edit.lost_focus() && text != current && !text.is_empty()).then(|| text.to_string())
}

fn labels_row(ui: &mut egui::Ui, p: &mut DataPanel, actions: &mut Vec<Action>) {
    let current = p.spec.labels.clone();
    let mut changed: Option<LabelSource> = None;
    ui.horizontal_wrapped(|ui| {
        ui.label("Labels:");
        match &current {
            LabelSource::None => {
                ui.label("none (the network learns without labels)");
            }
            LabelSource::Header { key } => {
                ui.label(format!("from the `{key}=` field of each FASTA header"));
            }
            LabelSource::Folder => {
                ui.label("the name of each image's folder");
            }
            LabelSource::Column { column } => {
                ui.label("column");
                let mut choice = column.clone();
                let mut options: Vec<String> = p
                    .data
                    .dataset
                    .as_ref()
                    .map(|d| d.text_columns.clone())
                    .unwrap_or_default();
                if !options.contains(column) {
                    options.insert(0, column.clone());
                }
                egui::ComboBox::from_id_salt("label_column")
                    .selected_text(choice.clone())
                    .show_ui(ui, |ui| {
                        for o in &options {
                            ui.selectable_value(&mut choice, o.clone(), o);
                        }
                    });
                if choice != *column {
                    changed = Some(LabelSource::Column { column: choice });
                }
            }
            LabelSource::Metadata {
                path,
                id_column,
                column,
            } => {
                let name = ui.label(format!("table {} · column", path.display()));
                // Kept as typed while focused; applied when focus leaves.
                let edit_id = egui::Id::unique("metadata_label_column");
                let mut col = ui
                    .data(|d| d.get_temp::<String>(edit_id))
                    .unwrap_or_else(|| column.clone());
                let edit = ui
                    .add(egui::TextEdit::singleline(&mut col).desired_width(100.0))
                    .labelled_by(name.id);
                if edit.has_focus() {
                    ui.data_mut(|d| d.insert_temp(edit_id, col.clone()));
                } else {
                    ui.data_mut(|d| d.remove::<String>(edit_id));
                    if edit.lost_focus() && col.trim() != column {
                        changed = Some(LabelSource::Metadata {
                            path: path.clone(),
                            id_column: id_column.clone(),
                            column: col.trim().to_string(),
                        });
                    }
                }
            }
        }
        if ui
            .button("Label table…")
            .on_hover_text("Take labels from a table of sample id + label columns")
            .clicked()
        {
            actions.push(Action::Ask(Purpose::LabelTable));
        }
        if matches!(
            current,
            LabelSource::Column { .. } | LabelSource::Metadata { .. }
        ) {
            let mut drop = p.spec.drop_unlabelled;
            if ui
                .checkbox(&mut drop, "leave out samples without a label")
                .on_hover_text(
                    "Samples with an empty or NA label, or no row in the label table, are left out \
                     (the count is shown above). Off: loading stops and says how many there are.",
                )
                .changed()
            {
                p.spec.drop_unlabelled = drop;
                actions.push(Action::ReloadData);
            }
        }
    });
    if let Some(l) = changed {
        p.spec.labels = l;
        actions.push(Action::ReloadData);
    }
}

/// How sequences are read: alphabet, fixed length, k-mer tokens.
fn sequence_row(ui: &mut egui::Ui, p: &mut DataPanel, actions: &mut Vec<Action>) {
    use crate::spec::Alphabet;
    let before = p.spec.sequence.clone();
    let mut opts = before.clone();
    let mut commit = false;
    ui.horizontal_wrapped(|ui| {
        ui.label("Sequences:");
        egui::ComboBox::from_id_salt("alphabet")
            .selected_text(match opts.alphabet {
                Alphabet::Auto => "alphabet: detect",
                Alphabet::Dna => "DNA",
                Alphabet::Rna => "RNA",
                Alphabet::Protein => "protein",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut opts.alphabet, Alphabet::Auto, "alphabet: detect");
                ui.selectable_value(&mut opts.alphabet, Alphabet::Dna, "DNA");
                ui.selectable_value(&mut opts.alphabet, Alphabet::Rna, "RNA");
                ui.selectable_value(&mut opts.alphabet, Alphabet::Protein, "protein");
            });
        let name = ui.label("tokens of").on_hover_text(
            "1 = single letters; 2 to 6 = overlapping k-mers (DNA/RNA up to 6, protein up to 2), one token per position",
        );
        let k = ui
            .add(egui::DragValue::new(&mut opts.kmer).range(1..=6).suffix(" letter(s)"))
            .labelled_by(name.id);
        let name = ui.label("cut to").on_hover_text(
            "0 = keep every sequence whole (batches are padded to their longest member, padding is masked); a number cuts longer sequences",
        );
        let l = ui
            .add(egui::DragValue::new(&mut opts.length).range(0..=100_000).suffix(" (0 = whole)"))
            .labelled_by(name.id);
        // Apply when a drag ends or typing stops, not on every step.
        commit = !(k.dragged() || l.dragged() || k.has_focus() || l.has_focus());
    });
    if opts != before {
        p.spec.sequence = opts;
    }
    let loaded = p.data.loaded_sequence_options.clone();
    if commit && loaded.is_some_and(|o| o != p.spec.sequence) {
        actions.push(Action::ReloadData);
    }
}

/// How images are read: size, colour, and which pages of a multi-page TIFF.
fn image_row(ui: &mut egui::Ui, p: &mut DataPanel, actions: &mut Vec<Action>) {
    use crate::spec::ColorMode;
    let before = p.spec.image.clone();
    let mut opts = before.clone();
    let mut commit = true;
    ui.horizontal_wrapped(|ui| {
        ui.label("Images:");
        let name = ui
            .label("size")
            .on_hover_text("Every image is resized to this many pixels (width × height)");
        let w = ui
            .add(
                egui::DragValue::new(&mut opts.width)
                    .range(4..=1024)
                    .suffix(" px"),
            )
            .labelled_by(name.id);
        ui.label("×");
        let h = ui
            .add(
                egui::DragValue::new(&mut opts.height)
                    .range(4..=1024)
                    .suffix(" px"),
            )
            .labelled_by(name.id);
        egui::ComboBox::from_id_salt("color_mode")
            .selected_text(match opts.color {
                ColorMode::Auto => "colour: as the files are",
                ColorMode::Grayscale => "grayscale",
                ColorMode::Rgb => "RGB",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut opts.color, ColorMode::Auto, "colour: as the files are")
                    .on_hover_text("Grayscale if every image is grayscale, else RGB");
                ui.selectable_value(&mut opts.color, ColorMode::Grayscale, "grayscale");
                ui.selectable_value(&mut opts.color, ColorMode::Rgb, "RGB");
            });
        let name = ui
            .label("TIFF page")
            .on_hover_text("Multi-page TIFF files: the page to read (1 = the first)");
        let p = ui
            .add_enabled(
                !opts.tiff_pages_as_channels,
                egui::DragValue::new(&mut opts.tiff_page).range(1..=100_000),
            )
            .labelled_by(name.id);
        ui.checkbox(&mut opts.tiff_pages_as_channels, "pages as channels")
            .on_hover_text(
                "Every page of a multi-page TIFF (each grayscale) becomes one input channel, \
                 e.g. one stain per page",
            );
        commit = ![&w, &h, &p].iter().any(|r| r.dragged() || r.has_focus());
    });
    if opts != before {
        p.spec.image = opts;
    }
    let loaded = p.data.loaded_image_options.clone();
    if commit && loaded.is_some_and(|o| o != p.spec.image) {
        actions.push(Action::ReloadData);
    }
}

fn summary(ui: &mut egui::Ui, ds: &Dataset) {
    egui::Grid::new("data_grid").num_columns(2).show(ui, |ui| {
        for line in ds.describe().lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim() == "classes" {
                    continue; // shown as bars below
                }
                ui.label(k.trim());
                ui.label(v.trim());
                ui.end_row();
            }
        }
    });
}

/// Class balance as bars; a strongly unbalanced set is pointed out.
fn balance(ui: &mut egui::Ui, labels: &Labels) {
    let counts = labels.class_counts();
    let total: usize = counts.iter().sum();
    if total == 0 {
        return;
    }
    ui.label(format!("{} classes:", counts.len()));
    for (name, &c) in labels.class_names().iter().zip(&counts) {
        ui.horizontal(|ui| {
            ui.add_sized([110.0, 16.0], egui::Label::new(name.as_str()).truncate());
            ui.add(
                egui::ProgressBar::new(c as f32 / total as f32)
                    .desired_width(200.0)
                    .text(format!("{c} ({:.0}%)", 100.0 * c as f64 / total as f64)),
            );
        });
    }
    let (lo, hi) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    if lo * 5 < hi {
        ui.colored_label(
            egui::Color32::from_rgb(200, 120, 0),
            "The classes are very unbalanced: accuracy alone can mislead; look at the per-class results.",
        );
    }
}

fn preview(ui: &mut egui::Ui, data: &mut DataState) {
    let Some(ds) = &data.dataset else { return };
    match ds.kind {
        DataKind::Table => {
            let view = data.table_view.get_or_insert_with(|| TableView::of(ds));
            table_preview(ui, ds, view);
        }
        DataKind::Environment => {}
        DataKind::Sequences => sequence_preview(ui, ds),
        DataKind::Images => {
            if data.thumbnails.is_none() {
                data.thumbnails = Some(thumbnails(ui.ctx(), ds));
            }
            if ds.max_value > 255.0 {
                ui.weak(
                    "16-bit images: each is shown contrast-stretched (0.5th to 99.5th percentile); \
                     training uses the values as read.",
                );
            }
            if let Some(thumbs) = &data.thumbnails {
                // As many 64-px thumbnails per row as fit the panel.
                let per_row = ((ui.available_width() / 76.0).floor() as usize).max(1);
                egui::Grid::new("thumbnails")
                    .spacing([6.0, 6.0])
                    .show(ui, |ui| {
                        for (i, (tex, caption)) in thumbs.iter().enumerate() {
                            ui.vertical(|ui| {
                                ui.add(
                                    egui::Image::new(tex).fit_to_exact_size(egui::vec2(64.0, 64.0)),
                                );
                                ui.add(
                                    egui::Label::new(egui::RichText::new(caption).small())
                                        .truncate(),
                                );
                            });
                            if (i + 1) % per_row == 0 {
                                ui.end_row();
                            }
                        }
                    });
            }
        }
    }
}

/// Reinforcement learning: the environment is the data. Choose it, read what
/// the agent sees, does and is rewarded for.
fn environment_panel(ui: &mut egui::Ui, p: &mut DataPanel, actions: &mut Vec<Action>) {
    use crate::spec::EnvironmentKind;
    ui.heading("Environment");
    let mut kind = p.spec.environment;
    ui.horizontal(|ui| {
        let label = ui.label("The agent learns in:");
        egui::ComboBox::from_id_salt("environment")
            .selected_text(env_title(kind))
            .show_ui(ui, |ui| {
                for k in [EnvironmentKind::CartPole, EnvironmentKind::MotifDesign] {
                    ui.selectable_value(&mut kind, k, env_title(k));
                }
            })
            .response
            .labelled_by(label.id);
    });
    ui.label(crate::rl::describe(kind));
    if kind != p.spec.environment {
        // The network is sized to the new environment's actions by the app.
        actions.push(Action::SetEnvironment(kind));
    }
    if let Some(ds) = &p.data.dataset {
        ui.label(format!(
            "Observes {} numbers; chooses among {} actions.",
            ds.shape[0],
            ds.labels.class_names().len()
        ));
    }
}

fn env_title(kind: crate::spec::EnvironmentKind) -> &'static str {
    match kind {
        crate::spec::EnvironmentKind::CartPole => "CartPole (balance a pole)",
        crate::spec::EnvironmentKind::MotifDesign => "Motif design (edit DNA toward TATAAT)",
    }
}

fn label_of(ds: &Dataset, i: usize) -> String {
    match &ds.labels {
        Labels::Classes { index, names } => names[index[i]].clone(),
        Labels::Values(v) => format!("{}", v[i]),
        Labels::None => String::new(),
    }
}

/// What the table preview shows: its columns, their values in the first
/// rows, and for sparse data a line about it.
pub struct TableView {
    cols: Vec<usize>,
    rows: Vec<Vec<f32>>,
    sparse_note: Option<String>,
}

impl TableView {
    fn of(ds: &Dataset) -> TableView {
        let n = ds.sample_len();
        let rows: Vec<_> = (0..ds.len().min(PREVIEW_ROWS))
            .map(|i| ds.sample(i))
            .collect();
        // Count matrices are mostly zeros: show the columns with the largest
        // values in the rows shown rather than the first (often empty) ones.
        let (cols, sparse_note) = if matches!(
            ds.sparse,
            Some(crate::data::sparse::Sparse::Counts(_))
        ) && n > PREVIEW_COLUMNS
        {
            let mut sums: Vec<(f32, usize)> = (0..n)
                .map(|c| (rows.iter().map(|r| r[c]).sum::<f32>(), c))
                .collect();
            sums.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut top: Vec<usize> = sums[..PREVIEW_COLUMNS].iter().map(|s| s.1).collect();
            top.sort_unstable();
            let note = format!(
                "A sparse count matrix: {:.1}% of its values are non-zero. Shown: the {} columns with the \
                 largest counts in these rows.",
                100.0 * ds.nonzero() as f64 / (ds.len() * n).max(1) as f64,
                PREVIEW_COLUMNS
            );
            (top, Some(note))
        } else {
            ((0..n.min(PREVIEW_COLUMNS)).collect(), None)
        };
        let rows = rows
            .iter()
            .map(|r| cols.iter().map(|&c| r[c]).collect())
            .collect();
        TableView {
            cols,
            rows,
            sparse_note,
        }
    }
}

fn table_preview(ui: &mut egui::Ui, ds: &Dataset, view: &TableView) {
    let n = ds.sample_len();
    let cols = &view.cols;
    if let Some(note) = &view.sparse_note {
        ui.weak(note);
    }
    egui::ScrollArea::horizontal()
        .id_salt("table_preview")
        .show(ui, |ui| {
            egui::Grid::new("table_preview_grid")
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("sample");
                    if !matches!(ds.labels, Labels::None) {
                        ui.strong("label");
                    }
                    for &c in cols {
                        ui.strong(ds.feature_names.get(c).map_or("", String::as_str));
                    }
                    if n > cols.len() {
                        ui.weak(format!("… {} more", n - cols.len()));
                    }
                    ui.end_row();
                    for (i, row) in view.rows.iter().enumerate() {
                        ui.label(&ds.ids[i]);
                        if !matches!(ds.labels, Labels::None) {
                            ui.label(label_of(ds, i));
                        }
                        for v in row {
                            ui.monospace(format!("{v:.3}"));
                        }
                        ui.end_row();
                    }
                });
        });
}

fn sequence_preview(ui: &mut egui::Ui, ds: &Dataset) {
    egui::ScrollArea::horizontal()
        .id_salt("sequence_preview_scroll")
        .show(ui, |ui| sequence_grid(ui, ds));
}

fn sequence_grid(ui: &mut egui::Ui, ds: &Dataset) {
    egui::Grid::new("sequence_preview")
        .striped(true)
        .show(ui, |ui| {
            for i in 0..ds.len().min(PREVIEW_ROWS) {
                ui.label(&ds.ids[i]);
                ui.label(label_of(ds, i));
                let mut s = ds.sequence_letters(i);
                if s.len() > 80 {
                    s.truncate(80);
                    s.push('…');
                }
                ui.monospace(s);
                ui.end_row();
            }
        });
}

/// Up to four images of each class (or the first twelve), as textures.
fn thumbnails(ctx: &egui::Context, ds: &Dataset) -> Vec<(egui::TextureHandle, String)> {
    let mut picked: Vec<usize> = Vec::new();
    match &ds.labels {
        Labels::Classes { index, names } => {
            for c in 0..names.len() {
                picked.extend((0..ds.len()).filter(|&i| index[i] == c).take(4));
            }
        }
        _ => picked.extend(0..ds.len().min(12)),
    }
    picked
        .into_iter()
        .map(|i| {
            let x = ds.sample(i);
            // 16-bit microscopy often fills a small part of 0–65535: show each
            // image stretched between its 0.5th and 99.5th percentiles.
            let img = if ds.max_value > 255.0 {
                let (lo, hi) = display_range(&x);
                let stretched: Vec<f32> = x.iter().map(|v| v - lo).collect();
                to_color_image(&stretched, &ds.shape, (hi - lo).max(1e-6))
            } else {
                to_color_image(&x, &ds.shape, ds.max_value.max(1e-6))
            };
            let tex = ctx.load_texture(format!("thumb-{i}"), img, egui::TextureOptions::NEAREST);
            let caption = match label_of(ds, i) {
                l if l.is_empty() => ds.ids[i].clone(),
                l => l,
            };
            (tex, caption)
        })
        .collect()
}

/// The 0.5th and 99.5th percentiles of an image's values (contrast stretching).
pub fn display_range(x: &[f32]) -> (f32, f32) {
    let mut v: Vec<f32> = x.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.005), at(0.995))
}

/// A `[channels, height, width]` sample as an image; values are divided by `max`.
pub fn to_color_image(x: &[f32], shape: &[usize], max: f32) -> egui::ColorImage {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let px =
        |ch: usize, p: usize| -> u8 { ((x[ch * h * w + p] / max).clamp(0.0, 1.0) * 255.0) as u8 };
    let pixels = (0..h * w)
        .map(|p| {
            if c >= 3 {
                egui::Color32::from_rgb(px(0, p), px(1, p), px(2, p))
            } else {
                let g = px(0, p);
                egui::Color32::from_gray(g)
            }
        })
        .collect();
    egui::ColorImage::new([w, h], pixels)
}
