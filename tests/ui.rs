//! The window driven through egui_kittest: real widgets, real clicks, real
//! training on `flex` (the device is set to CPU so the tests do not depend on
//! the machine's GPU).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use lamina::spec::Experiment;
use lamina::train::DevicePreference;
use lamina::ui::dialogs::Purpose;
use lamina::ui::tasks::Kind;
use lamina::ui::{LaminaApp, ResultView, Screen};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(rel)
}

/// A fresh folder under the system temp dir, named for the test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-ui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The omics sample (experiment, counts, labels) copied into `dir`, so tests
/// write beside it without touching the repository.
fn copy_omics(dir: &Path) -> PathBuf {
    for f in ["classifier.json", "counts.csv", "labels.csv"] {
        std::fs::copy(sample("omics").join(f), dir.join(f)).expect("copy sample");
    }
    dir.join("classifier.json")
}

/// A bundled experiment saved into `dir` with its data paths made whole, so
/// the runs it trains are written there and not into the repository.
fn bundled_in(dir: &Path, rel: &str) -> PathBuf {
    let path = sample(rel);
    let exp = Experiment::load(&path).expect("bundled experiment");
    let exp = lamina::project::absolute_data_paths(&exp, path.parent().unwrap());
    let copy = dir.join(path.file_name().unwrap());
    exp.save(&copy).expect("saved copy");
    copy
}

fn harness(app: LaminaApp) -> Harness<'static, LaminaApp> {
    Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(|ui, app: &mut LaminaApp| app.show(ui), app)
}

/// Step the window until `done` holds, failing after `limit`.
fn step_until(
    h: &mut Harness<'_, LaminaApp>,
    limit: Duration,
    what: &str,
    done: impl Fn(&LaminaApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The number of validation samples of the finished run.
fn outcome_valid(h: &Harness<'_, LaminaApp>) -> usize {
    h.state()
        .training
        .outcome
        .as_ref()
        .unwrap()
        .summary
        .valid_samples
}

/// Let every background job of the window end and apply its result.
fn wait_for_tasks(h: &mut Harness<'_, LaminaApp>) {
    let ctx = h.ctx.clone();
    h.state_mut().wait_for_tasks(&ctx);
}

fn open(h: &mut Harness<'_, LaminaApp>, path: &Path) {
    let ctx = h.ctx.clone();
    h.state_mut().open(path, &ctx);
    wait_for_tasks(h);
    h.run_steps(2);
}

/// Let the start screen check the chosen data against the template (Create
/// waits for it).
fn check_start_data(h: &mut Harness<'_, LaminaApp>) {
    h.run_steps(2);
    wait_for_tasks(h);
    h.run_steps(2);
}

/// On the start screen: pick `template`, hand over the data (and labels) as the
/// file dialog or a drop would, name the experiment, press Create; then wait
/// until the workbench has read the data.
fn create_from_template(
    h: &mut Harness<'_, LaminaApp>,
    template: &str,
    data: Option<&Path>,
    labels: Option<&Path>,
    experiment: &Path,
) {
    h.get_by_label(template).click();
    h.run_steps(1);
    let ctx = h.ctx.clone();
    if let Some(data) = data {
        h.state_mut().use_path(Purpose::StartData, data, &ctx);
    }
    if let Some(labels) = labels {
        h.state_mut().use_path(Purpose::StartLabels, labels, &ctx);
    }
    h.state_mut().start.experiment_path = experiment.display().to_string();
    check_start_data(h);
    h.get_by_label("Create experiment").click();
    h.run_steps(1);
    wait_for_tasks(h);
    h.run_steps(2);
    assert_eq!(
        h.state().screen,
        Screen::Workbench,
        "{:?}",
        h.state().message
    );
    h.run_steps(2);
}

#[test]
fn template_data_train_curve_stop() {
    let dir = scratch("flow");
    let mut h = harness(LaminaApp::default());
    h.run_steps(2);
    create_from_template(
        &mut h,
        "Classifier for tables and omics (MLP)",
        Some(&sample("omics/counts.csv")),
        Some(&sample("omics/labels.csv")),
        &dir.join("classifier.json"),
    );
    let ds = h
        .state()
        .data
        .dataset
        .as_ref()
        .expect("the sample data loads");
    assert_eq!(ds.len(), 400);
    assert_eq!(ds.labels.class_names().len(), 4);
    // The data panel names what it found.
    h.get_by_label_contains("4 classes");

    // Many epochs so that Stop lands while training runs.
    h.state_mut().experiment.training.epochs = 2000;
    h.state_mut().experiment.training.early_stopping_patience = 0;
    // Small batches make each epoch long enough for Stop to land mid-run.
    h.state_mut().experiment.training.batch_size = 1;
    h.state_mut().training.device = DevicePreference::Cpu;
    h.run_steps(1);
    let train = h.get_by_label("Train");
    assert!(
        !train.accesskit_node().is_disabled(),
        "Train is enabled for a valid experiment"
    );
    train.click();
    h.run_steps(1);
    assert!(h.state().training.is_running());
    step_until(
        &mut h,
        Duration::from_secs(120),
        "three epochs of loss",
        |a| a.training.history.len() >= 3,
    );
    let hist = &h.state().training.history;
    assert!(hist.iter().all(|m| m.train.loss.is_finite()));
    assert!(
        hist.last().unwrap().train.loss < hist[0].train.loss,
        "the loss falls: {:?}",
        hist.iter().map(|m| m.train.loss).collect::<Vec<_>>()
    );
    assert!(
        h.state().training.started.is_some(),
        "the device is reported"
    );
    h.get_by_label_contains("CPU —");
    h.get_by_label("Stop").click();
    step_until(&mut h, Duration::from_secs(60), "the stop", |a| {
        !a.training.is_running()
    });
    let outcome = h
        .state()
        .training
        .outcome
        .as_ref()
        .expect("a stopped run keeps its model");
    assert!(outcome.summary.stopped_by_user, "{:?}", outcome.summary);
    assert!(outcome.summary.epochs_completed < 2000);
    h.get_by_label_contains("Done:");
    let confusion = outcome
        .summary
        .confusion
        .clone()
        .expect("a classifier reports a confusion matrix");
    assert_eq!(confusion.len(), 4);
    let total: usize = confusion.iter().flatten().sum();
    assert_eq!(total, outcome.summary.valid_samples);
    let plots = dir.join("plots");
    let ctx = h.ctx.clone();
    h.state_mut().use_path(Purpose::ExportPlots, &plots, &ctx);
    wait_for_tasks(&mut h);
    for f in ["loss.png", "accuracy.png", "latent.png", "confusion.png"] {
        let bytes = std::fs::read(plots.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(&bytes[1..4], b"PNG", "{f}");
    }
    h.run_steps(2);
    h.get_by_label_contains("plots saved to");
    // The latent coordinates of the validation samples, as a CSV table.
    let latent_csv = dir.join("latent.csv");
    h.state_mut()
        .use_path(Purpose::ExportLatent, &latent_csv, &ctx);
    wait_for_tasks(&mut h);
    let mut table = csv::Reader::from_path(&latent_csv).expect("the latent table is written");
    let header: Vec<String> = table.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[..3], ["sample_id", "pc1", "pc2"]);
    let rows = table.records().map(|r| r.unwrap()).collect::<Vec<_>>();
    assert_eq!(rows.len(), outcome_valid(&h));
    assert!(rows.iter().all(|r| r.len() == header.len()));
    h.get_by_label("Confusion matrix").click();
    h.run_steps(2);
    h.get_by_label_contains("right (");
    let (snap, _) = h
        .state()
        .training
        .latent
        .as_ref()
        .expect("the latent map is filled");
    let knn = snap
        .knn_agreement
        .expect("classes give a neighbour agreement");
    assert!(
        knn > 0.5,
        "cell types keep together in the embedding: {knn}"
    );
    h.get_by_label("Latent space").click();
    h.run_steps(2);
    h.get_by_label_contains("Latent space (PCA");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_architecture_disables_train_with_the_reason() {
    let dir = scratch("invalid");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    assert!(h.state().train_blocker().is_none());
    // Click a layer in the palette that cannot follow a flat vector.
    h.state_mut().selected = Some((0, 0));
    h.run_steps(1);
    h.get_by_label("Conv 2-D").click();
    h.run_steps(2);
    let layers: Vec<String> = h.state().experiment.architecture.stacks[0]
        .layers
        .iter()
        .map(|l| l.layer.info().display.to_string())
        .collect();
    let reason = h
        .state()
        .train_blocker()
        .unwrap_or_else(|| panic!("a Conv2d on a flat vector is refused; layers: {layers:?}"));
    assert!(
        reason.contains("Conv"),
        "the reason names the layer: {reason}"
    );
    assert!(h.get_by_label("Train").accesskit_node().is_disabled());
    h.get_by_label_contains("Cannot train yet");
    // Undo puts the valid network back and Train is enabled again.
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert!(h.state().train_blocker().is_none());
    assert!(!h.get_by_label("Train").accesskit_node().is_disabled());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn save_then_reopen_gives_the_same_experiment() {
    let dir = scratch("save");
    let source = copy_omics(&dir);
    let target = dir.join("edited.json");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &source);
    h.state_mut().checkpoint();
    h.state_mut().experiment.training.epochs = 7;
    h.state_mut().experiment.training.learning_rate = 0.003;
    h.run_steps(1);
    h.get_by_label_contains("unsaved changes");
    h.state_mut().path_input = target.display().to_string();
    h.run_steps(1);
    h.get_by_label("Save").click();
    h.run_steps(2);
    assert!(!h.state().has_unsaved_changes(), "{:?}", h.state().message);
    let edited = h.state().experiment.clone();

    let mut h2 = harness(LaminaApp::default());
    open(&mut h2, &target);
    assert_eq!(h2.state().experiment, edited);
    assert!(
        h2.state().data.dataset.is_some(),
        "the data resolves from the saved file"
    );
    // The file is the same JSON the CLI runs.
    let reread = Experiment::load(&target).expect("the saved file loads");
    assert_eq!(reread, edited);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_experiment_file_is_a_message_not_a_panic() {
    let dir = scratch("bad");
    let bad = dir.join("broken.json");
    std::fs::write(&bad, "{ \"format_version\": 1, \"name\": ").unwrap();
    let mut h = harness(LaminaApp::default());
    h.run_steps(1);
    let ctx = h.ctx.clone();
    h.state_mut().open(&bad, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert_eq!(h.state().screen, Screen::Start);
    let (msg, is_error) = h.state().message.clone().expect("an error message");
    assert!(is_error && msg.contains("broken.json"), "{msg}");
    h.get_by_label_contains("broken.json");

    // Data that cannot be read shows its error in place and blocks training.
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "id,g1,g2\nc1,1,2\nc2,3\n").unwrap();
    let ctx = h.ctx.clone();
    h.state_mut().use_path(Purpose::DataFile, &ragged, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    let err = h.state().data.error.clone().expect("a data error");
    assert!(
        err.contains("ragged.csv") && err.contains('3'),
        "names file and line: {err}"
    );
    assert!(h.get_by_label("Train").accesskit_node().is_disabled());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn autosave_is_offered_back_when_reopening() {
    let dir = scratch("autosave");
    let exp_path = copy_omics(&dir);
    let original = Experiment::load(&exp_path).unwrap();
    let mut edited = original.clone();
    edited.training.epochs = 3;
    std::thread::sleep(Duration::from_millis(20));
    edited.save(&lamina::ui::autosave_path(&exp_path)).unwrap();

    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp_path);
    assert_eq!(h.state().experiment, original, "the file itself opens");
    h.get_by_label("Restore them").click();
    h.run_steps(2);
    assert_eq!(h.state().experiment.training.epochs, 3);
    assert!(h.state().has_unsaved_changes());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_layer_dragged_from_the_palette_lands_after_the_card() {
    let dir = scratch("drag");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    let before = h.state().experiment.architecture.stacks[0].layers.len();
    let from = h.get_by_label("Dropout").rect().center();
    let to = h.get_by_label("1. Dense").rect().center();
    h.hover_at(from);
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    // Move in a few steps so egui sees a drag, not a click.
    for k in 1..=5 {
        h.hover_at(from + (to - from) * (k as f32 / 5.0));
        h.run_steps(1);
    }
    h.drop_at(to);
    h.run_steps(2);
    let layers = &h.state().experiment.architecture.stacks[0].layers;
    assert_eq!(layers.len(), before + 1, "one layer was added");
    assert_eq!(
        layers[1].layer.info().display,
        "Dropout",
        "it lands after the card it was dropped on"
    );
    assert_eq!(h.state().undo.len(), 1, "one undo step");
    let _ = std::fs::remove_dir_all(dir);
}

/// Drag a wire on the graph canvas from the output port labelled `from` onto
/// the node labelled `to`, in small steps so egui sees a drag.
fn draw_wire(h: &mut Harness<'_, LaminaApp>, from: &str, to: &str) {
    let a = h.get_by_label(from).rect().center();
    let b = h.get_by_label(to).rect().center();
    h.hover_at(a);
    h.run_steps(1);
    h.drag_at(a);
    h.run_steps(1);
    for k in 1..=6 {
        h.hover_at(a + (b - a) * (k as f32 / 6.0));
        h.run_steps(1);
    }
    h.drop_at(b);
    h.run_steps(2);
}

/// Press Train, wait for the run to end, and check it ran 3 epochs and the
/// training loss fell.
fn train_three_epochs_with_falling_loss(h: &mut Harness<'_, LaminaApp>) {
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(h, Duration::from_secs(300), "the run to finish", |a| {
        !a.training.is_running() && a.training.outcome.is_some()
    });
    let hist = &h.state().training.history;
    assert_eq!(hist.len(), 3);
    assert!(
        hist.last().unwrap().train.loss < hist[0].train.loss,
        "the loss falls: {:?}",
        hist.iter().map(|m| m.train.loss).collect::<Vec<_>>()
    );
}

/// A residual network whose skip wire is missing: the Add is outlined with the
/// reason and Train is off; the wire drawn on the canvas fixes it, and the
/// network trains from the window with a falling loss.
#[test]
fn a_skip_wire_drawn_on_the_graph_canvas_makes_the_resnet_train() {
    let dir = scratch("graph");
    let mut exp = lamina::spec::Experiment::load(&sample("images/resnet.json")).unwrap();
    exp.data.path = sample("images/cells");
    exp.training.epochs = 3;
    let skip = exp.architecture.stacks[0]
        .layers
        .iter_mut()
        .find(|n| n.id == "skip1")
        .unwrap();
    skip.inputs = vec!["block1".into()];
    let path = dir.join("resnet.json");
    exp.save(&path).unwrap();
    // Tall enough that the whole graph is on screen without scrolling.
    let mut h = Harness::builder()
        .with_size([1400.0, 2600.0])
        .build_ui_state(|ui, app: &mut LaminaApp| app.show(ui), LaminaApp::default());
    open(&mut h, &path);
    h.state_mut().training.device = DevicePreference::Cpu;
    h.run_steps(2);
    let blocker = h.state().train_blocker();
    assert!(
        blocker.as_deref().is_some_and(|b| b.contains("skip1")),
        "{blocker:?}"
    );
    assert!(h.get_by_label("Train").accesskit_node().is_disabled());
    // The graph is shown for a network with branches; the output of 'stem_out'
    // goes to the first convolution only, so the Add lacks its second input.
    draw_wire(&mut h, "output of node 'stem_out'", "node 'skip1'");
    let inputs = &h.state().experiment.architecture.stacks[0]
        .layers
        .iter()
        .find(|n| n.id == "skip1")
        .unwrap()
        .inputs;
    assert_eq!(inputs, &["block1", "stem_out"], "the wire was drawn");
    assert_eq!(h.state().train_blocker(), None);
    // Undo takes the wire away again, redo puts it back.
    h.state_mut().undo();
    assert!(h.state().train_blocker().is_some());
    h.state_mut().redo();
    h.run_steps(2);
    assert_eq!(h.state().train_blocker(), None);
    train_three_epochs_with_falling_loss(&mut h);
    let _ = std::fs::remove_dir_all(dir);
}

/// A two-input network whose protein branch reads the RNA by mistake: the
/// unused joined table blocks training; the wire drawn from the 'protein'
/// input box fixes it, and the network trains from the window.
#[test]
fn a_wire_from_the_joined_protein_table_makes_the_two_input_network_train() {
    let dir = scratch("two_input");
    let mut exp = lamina::spec::Experiment::load(&sample("citeseq/two_input.json")).unwrap();
    let base = sample("citeseq");
    exp.data.path = base.join("rna.csv");
    exp.data.joined[0].path = base.join("protein.csv");
    if let lamina::spec::LabelSource::Metadata { path, .. } = &mut exp.data.labels {
        *path = base.join("labels.csv");
    }
    exp.training.epochs = 3;
    let protein_in = |exp: &lamina::spec::Experiment| {
        exp.architecture.stacks[0]
            .layers
            .iter()
            .find(|n| n.id == "protein_in")
            .unwrap()
            .inputs
            .clone()
    };
    assert_eq!(protein_in(&exp), ["protein"]);
    exp.architecture.stacks[0]
        .layers
        .iter_mut()
        .find(|n| n.id == "protein_in")
        .unwrap()
        .inputs = vec!["input".into()];
    let path = dir.join("two_input.json");
    exp.save(&path).unwrap();
    let mut h = Harness::builder()
        .with_size([1400.0, 1800.0])
        .build_ui_state(|ui, app: &mut LaminaApp| app.show(ui), LaminaApp::default());
    open(&mut h, &path);
    h.state_mut().training.device = DevicePreference::Cpu;
    h.run_steps(2);
    let blocker = h.state().train_blocker();
    assert!(
        blocker
            .as_deref()
            .is_some_and(|b| b.contains("'protein' goes into no node")),
        "{blocker:?}"
    );
    draw_wire(
        &mut h,
        "output of joined input 'protein'",
        "node 'protein_in'",
    );
    assert_eq!(
        protein_in(&h.state().experiment),
        ["protein"],
        "the wire was drawn"
    );
    assert_eq!(h.state().train_blocker(), None);
    train_three_epochs_with_falling_loss(&mut h);

    // Predicting with it asks for both tables: Predict stays off until the
    // protein table is given too.
    h.state_mut().result_view = lamina::ui::ResultView::Predict;
    h.run_steps(2);
    h.get_by_label("Use the model just trained").click();
    h.run_steps(2);
    h.get_by_label("Table 'protein'");
    // New files of the same samples, copied so the predictions land in the scratch folder.
    for f in ["rna.csv", "protein.csv"] {
        std::fs::copy(base.join(f), dir.join(f)).unwrap();
    }
    let ctx = h.ctx.clone();
    h.state_mut()
        .use_path(Purpose::PredictData, &dir.join("rna.csv"), &ctx);
    h.run_steps(2);
    assert!(!h.state().tasks.is_running(Kind::Predict));
    assert!(
        h.query_all_by_label("Predict")
            .any(|n| n.accesskit_node().is_disabled()),
        "the Predict button is off"
    );
    assert_eq!(
        h.state().predict.missing_file().as_deref(),
        Some("Give the table 'protein' too")
    );
    h.state_mut()
        .use_path(Purpose::PredictJoined(0), &dir.join("protein.csv"), &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    let r = h
        .state()
        .predict
        .result
        .clone()
        .unwrap_or_else(|| panic!("{:?}", h.state().predict.error));
    assert_eq!(r.count, 300);
    assert!(r.out.starts_with(&dir));
    let _ = std::fs::remove_dir_all(dir);
}

/// Joined tables can be given without a file dialog: a path typed into the
/// table's field replaces it, and one typed into "Join another table" adds a
/// table named after its file (which then blocks training until a node takes it).
/// A second name from the same file stem is made unique (unit-tested in `spec`).
#[test]
fn joined_tables_are_replaced_and_added_by_typing_their_path() {
    let dir = scratch("joined_typed");
    let base = sample("citeseq");
    for f in ["rna.csv", "protein.csv", "labels.csv", "two_input.json"] {
        std::fs::copy(base.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(base.join("protein.csv"), dir.join("adt.csv")).unwrap();
    let extra: String = std::iter::once("id,score\n".to_string())
        .chain((1..=300).map(|i| format!("cell{i:04},{}\n", i % 7)))
        .collect();
    std::fs::write(dir.join("extra.csv"), extra).unwrap();
    let mut h = Harness::builder()
        .with_size([1400.0, 1800.0])
        .build_ui_state(|ui, app: &mut LaminaApp| app.show(ui), LaminaApp::default());
    open(&mut h, &dir.join("two_input.json"));
    let type_into = |h: &mut Harness<LaminaApp>, label: &str, text: &str| {
        h.get_by_label(label).focus();
        h.run_steps(1);
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.run_steps(1);
        h.get_by_label(label).type_text(text);
        h.run_steps(1);
        h.key_press(egui::Key::Enter);
        h.run_steps(2);
        wait_for_tasks(h);
        h.run_steps(2);
    };
    type_into(&mut h, "Joined table 'protein':", "adt.csv");
    assert_eq!(
        h.state().experiment.data.joined[0].path,
        PathBuf::from("adt.csv")
    );
    assert_eq!(h.state().data.error, None);
    assert_eq!(h.state().train_blocker(), None);
    type_into(&mut h, "Join another table:", "extra.csv");
    let joined = &h.state().experiment.data.joined;
    assert_eq!(joined.len(), 2);
    assert_eq!(joined[1].name, "extra", "named from its file");
    assert_eq!(joined[1].path, PathBuf::from("extra.csv"));
    assert_eq!(h.state().data.error, None);
    let blocker = h.state().train_blocker();
    assert!(
        blocker
            .as_deref()
            .is_some_and(|b| b.contains("'extra' goes into no node")),
        "{blocker:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn image_autoencoder_shows_reconstructions_and_latent_map() {
    let dir = scratch("image-autoencoder");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &bundled_in(&dir, "images/autoencoder.json"));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(
        &mut h,
        Duration::from_secs(120),
        "two epochs of reconstructions",
        |a| {
            a.training
                .reconstructions
                .as_ref()
                .is_some_and(|r| r.epoch >= 2)
        },
    );
    h.get_by_label("Stop").click();
    step_until(&mut h, Duration::from_secs(60), "the stop", |a| {
        !a.training.is_running()
    });
    h.run_steps(2);
    let r = h.state().training.reconstructions.as_ref().unwrap();
    assert_eq!(r.shape, vec![1, 32, 32]);
    assert_eq!(r.ids.len(), 8);
    assert_eq!(r.inputs.len(), r.outputs.len());
    assert!(r.outputs.iter().all(|v| v.is_finite()));
    h.get_by_label("Reconstructions").click();
    h.run_steps(2);
    h.get_by_label_contains("Top: input");
    let (snap, points) = h.state().training.latent.as_ref().expect("a latent map");
    assert_eq!(snap.dims, 16);
    assert_eq!(points.len(), snap.ids.len());
    assert!(!h.state().has_unsaved_changes());
    // The run was written beside the experiment, and reads back as it was shown.
    let t = &h.state().training;
    let run = t.run_dir.clone().expect("trained into a run folder");
    assert!(run.starts_with(dir.join("runs")), "{}", run.display());
    let record = lamina::export::run::RunRecord::open(&run).unwrap();
    assert_eq!(record.reconstructions.as_ref(), t.reconstructions.as_ref());
    assert_eq!(record.latent.as_ref(), Some(snap));
    let losses =
        |h: &[lamina::train::EpochMetrics]| h.iter().map(|m| m.train.loss).collect::<Vec<_>>();
    assert_eq!(losses(&record.history), losses(&t.history));
    assert_eq!(record.summary.unwrap().epochs_completed, t.history.len());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn typing_a_data_path_reads_that_file() {
    let dir = scratch("typed");
    let exp = copy_omics(&dir);
    std::fs::write(dir.join("small.csv"), "id,g1,g2\nc1,1,2\nc2,3,4\nc3,5,6\n").unwrap();
    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp);
    h.get_by_label("Data file:").focus();
    h.run_steps(1);
    // Replace the text: select all and type the new relative path.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Data file:").type_text("small.csv");
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert_eq!(h.state().experiment.data.path, PathBuf::from("small.csv"));
    // The label source is still the metadata table, whose ids do not match.
    let err = h
        .state()
        .data
        .error
        .clone()
        .expect("labels that do not match are reported");
    assert!(err.contains("labels.csv"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn attention_map_of_a_sequence_is_shown_and_exported() {
    let dir = scratch("attention");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &bundled_in(&dir, "dna/transformer.json"));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(&mut h, Duration::from_secs(180), "an attention map", |a| {
        a.training.attention.is_some()
    });
    h.get_by_label("Stop").click();
    step_until(&mut h, Duration::from_secs(60), "the stop", |a| {
        !a.training.is_running()
    });
    h.run_steps(1);
    h.get_by_label("Attention").click();
    h.run_steps(2);
    h.get_by_label_contains("Attention map (validation sequences");
    h.get_by_label_contains("Importance track");
    let snap = h.state().training.attention.clone().unwrap();
    assert_eq!(snap.layers.len(), 1);
    assert_eq!(snap.layers[0].heads, 4);
    assert_eq!(snap.layers[0].positions, 100, "one position per base");
    assert_eq!(snap.sequences[0].len(), 100);

    let ctx = h.ctx.clone();
    let csv_path = dir.join("attention.csv");
    h.state_mut()
        .use_path(Purpose::ExportAttentionCsv, &csv_path, &ctx);
    let png_path = dir.join("attention.png");
    h.state_mut()
        .use_path(Purpose::ExportAttentionPng, &png_path, &ctx);
    wait_for_tasks(&mut h);
    let text = std::fs::read_to_string(&csv_path).expect("the CSV is written");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 101);
    assert_eq!(
        &header[1][1..],
        "1",
        "columns are labelled letter + position: {}",
        header[1]
    );
    for line in lines {
        let sum: f32 = line
            .split(',')
            .skip(1)
            .map(|v| v.parse::<f32>().unwrap())
            .sum();
        assert!(
            (sum - 1.0).abs() < 1e-3,
            "each row of the averaged map sums to 1: {sum}"
        );
    }
    let png = std::fs::read(&png_path).expect("the PNG is written");
    assert_eq!(&png[1..4], b"PNG");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn closing_with_unsaved_changes_asks_first() {
    let dir = scratch("close");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    h.state_mut().checkpoint();
    h.state_mut().experiment.training.epochs = 3;
    h.run_steps(1);
    // The window manager asks the window to close.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.run_steps(2);
    assert!(h.state().confirm_close);
    h.get_by_label_contains("changes that are not saved");
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(!h.state().confirm_close);
    assert!(h.state().has_unsaved_changes(), "nothing was lost");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_model_folder_opens_and_predicts_on_new_data() {
    let dir = scratch("predict");
    let data = dir.join("new_cells.csv");
    std::fs::copy(sample("omics/counts.csv"), &data).unwrap();
    // Train in the window, save the model folder, then open it in a fresh window.
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(
        &mut h,
        Duration::from_secs(120),
        "training to finish",
        |a| a.training.outcome.is_some(),
    );
    let model_dir = dir.join("model");
    let ctx = h.ctx.clone();
    h.state_mut()
        .use_path(Purpose::ExportModel, &model_dir, &ctx);
    wait_for_tasks(&mut h);
    let (msg, is_error) = h.state().message.clone().expect("the export reports");
    assert!(!is_error && msg.starts_with("model saved"), "{msg}");
    // What the model in memory predicts for the new file, to compare with below.
    let trained = h.state().training.outcome.as_ref().unwrap().model.clone();
    let new_data = lamina::project::read_for_model(&trained, &data).unwrap();
    let cpu = lamina::train::device::DeviceChoice::cpu("test").device;
    let in_memory = lamina::train::infer(&trained, &new_data, &cpu).unwrap();

    let mut h = harness(LaminaApp::default());
    h.run_steps(1);
    h.get_by_label("Open a trained model…");
    let ctx = h.ctx.clone();
    h.state_mut().use_path(Purpose::OpenModel, &model_dir, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert_eq!(
        h.state().screen,
        Screen::Workbench,
        "{:?}",
        h.state().message
    );
    h.get_by_label_contains("Model: ");
    h.state_mut().use_path(Purpose::PredictData, &data, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    let r = h
        .state()
        .predict
        .result
        .clone()
        .unwrap_or_else(|| panic!("{:?}", h.state().predict.error));
    assert_eq!(r.count, 400);
    assert!(r.out.exists());
    assert_eq!(r.header[1], "predicted");
    h.get_by_label_contains("400 predictions");
    // The predictions are right for most cells (the labels are known).
    let labels = std::fs::read_to_string(sample("omics/labels.csv")).unwrap();
    let truth: std::collections::HashMap<&str, &str> = labels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut c = l.split(',');
            Some((c.next()?, c.next()?))
        })
        .collect();
    let written = std::fs::read_to_string(&r.out).unwrap();
    let right = written
        .lines()
        .skip(1)
        .filter(|l| {
            let mut c = l.split(',');
            let (id, p) = (c.next().unwrap(), c.next().unwrap());
            truth.get(id) == Some(&p)
        })
        .count();
    assert!(right > 360, "{right} of 400 right");
    // The reopened folder predicts exactly what the trained model predicted.
    let k = in_memory.output_dim;
    for (i, line) in written.lines().skip(1).enumerate() {
        let probs: Vec<f32> = line
            .split(',')
            .skip(2)
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(probs, in_memory.outputs[i * k..(i + 1) * k], "sample {i}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_bundled_example_opens_with_a_network_that_fits() {
    for rel in lamina::ui::bundled_examples() {
        let mut h = harness(LaminaApp::default());
        open(&mut h, &sample(rel));
        assert_eq!(
            h.state().screen,
            Screen::Workbench,
            "{rel}: {:?}",
            h.state().message
        );
        assert!(
            h.state().data.error.is_none(),
            "{rel}: {:?}",
            h.state().data.error
        );
        assert_eq!(h.state().train_blocker(), None, "{rel} is ready to train");
    }
    // And every sample experiment on disk is listed.
    let listed: Vec<String> = lamina::ui::bundled_examples()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for dir in ["omics", "dna", "protein", "images"] {
        for f in std::fs::read_dir(sample(dir)).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                assert!(
                    listed.contains(&format!("{dir}/{name}")),
                    "{dir}/{name} is not on the start screen"
                );
            }
        }
    }
}

#[test]
fn a_gan_trains_from_the_window_and_shows_its_samples() {
    let dir = scratch("gan");
    copy_omics(&dir);
    let mut h = harness(LaminaApp::default());
    h.run_steps(2);
    create_from_template(
        &mut h,
        "Generative adversarial network (GAN)",
        Some(&dir.join("counts.csv")),
        None,
        &dir.join("gan.json"),
    );
    // Both networks and the noise size are in the editor.
    h.get_by_label("Stack 'generator'");
    h.get_by_label("Stack 'discriminator'");
    h.get_by_label("Noise size (the generator's input):");
    h.get_by_label("Discriminator learning rate");
    h.state_mut().experiment.training.epochs = 40;
    h.state_mut().training.device = DevicePreference::Cpu;
    h.run_steps(1);
    h.get_by_label("Train").click();
    step_until(&mut h, Duration::from_secs(120), "the GAN to finish", |a| {
        a.training.outcome.is_some() || a.training.error.is_some()
    });
    assert!(
        h.state().training.error.is_none(),
        "{:?}",
        h.state().training.error
    );
    let t = &h.state().training;
    assert_eq!(t.history.len(), 40);
    assert!(
        t.history
            .iter()
            .all(|m| m.train.discriminator_loss.is_some())
    );
    assert_eq!(
        t.gan_history.first().map(|g| g[0]),
        Some(0.0),
        "a snapshot before training"
    );
    h.run_steps(2);
    h.get_by_label("Discriminator accuracy");
    h.get_by_label("Generated samples").click();
    h.run_steps(2);
    h.get_by_label_contains("How alike generated and real samples are");
    h.get_by_label("Save 500 generated samples (CSV)…");
}

#[test]
fn a_dqn_agent_trains_from_the_window_and_plays_an_episode() {
    let dir = scratch("dqn");
    let mut h = harness(LaminaApp::default());
    h.run_steps(2);
    // No data file: the environment is the data.
    create_from_template(
        &mut h,
        "Reinforcement learning: design a DNA motif (DQN)",
        None,
        None,
        &dir.join("motif.json"),
    );
    h.get_by_label("The agent learns in:");
    h.get_by_label_contains("Observes 49 numbers; chooses among 48 actions.");
    h.get_by_label("Stack 'q_network'");
    h.state_mut().experiment.training.dqn.steps = 1500;
    h.state_mut().experiment.training.dqn.learning_starts = 200;
    h.state_mut().training.device = DevicePreference::Cpu;
    h.run_steps(1);
    h.get_by_label("Train").click();
    step_until(
        &mut h,
        Duration::from_secs(120),
        "the agent to finish",
        |a| a.training.outcome.is_some() || a.training.error.is_some(),
    );
    assert!(
        h.state().training.error.is_none(),
        "{:?}",
        h.state().training.error
    );
    assert!(
        h.state().training.episodes.len() >= 100,
        "episodes are reported"
    );
    h.run_steps(2);
    h.get_by_label("Return per episode");
    h.get_by_label("Play an episode").click();
    h.run_steps(2);
    h.get_by_label("Play an episode of the trained policy")
        .click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    h.get_by_label_contains("this episode's return");
}

#[test]
fn preprocessing_choices_are_edited_in_the_data_panel() {
    let dir = scratch("encoding");
    let exp = copy_omics(&dir);
    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp);
    let before = h.state().experiment.data.encoding.clone();
    assert!(before.log1p && before.standardize);
    h.get_by_label("log(1 + x)").click();
    h.run_steps(2);
    assert!(!h.state().experiment.data.encoding.log1p);
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert_eq!(h.state().experiment.data.encoding, before);
}

#[test]
fn samples_without_a_label_are_counted_then_left_out_by_a_tick() {
    let dir = scratch("unlabelled");
    let exp_path = copy_omics(&dir);
    // Take the labels from a metadata table that lacks two of the cells.
    let raw = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let mut lines: Vec<&str> = raw.lines().collect();
    let (first, second) = (
        lines[1].split(',').next().unwrap().to_string(),
        lines[2].split(',').next().unwrap().to_string(),
    );
    lines.remove(2);
    lines.remove(1);
    std::fs::write(dir.join("meta.csv"), lines.join("\n")).unwrap();
    let mut exp = Experiment::load(&exp_path).unwrap();
    let column = lines[0].split(',').nth(1).unwrap().to_string();
    exp.data.labels = lamina::spec::LabelSource::Metadata {
        path: "meta.csv".into(),
        id_column: String::new(),
        column,
    };
    exp.save(&exp_path).unwrap();

    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp_path);
    assert!(h.get_all_by_label_contains("2 of 400 samples").count() >= 1);
    assert!(
        h.get_all_by_label_contains(&format!("'{first}', '{second}'"))
            .count()
            >= 1
    );
    h.get_by_label("leave out samples without a label").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    let ds = h.state().data.dataset.as_ref().expect("the data loads");
    assert_eq!(ds.len(), 398);
    assert!(h.state().experiment.data.drop_unlabelled);
    assert!(
        h.get_all_by_label_contains("2 of 400 samples have no label")
            .count()
            >= 1
    );
    // Undo brings the setting (and the message) back.
    h.get_by_label("Undo").click();
    h.run_steps(1);
    assert!(!h.state().experiment.data.drop_unlabelled);
}

/// `lamina new` and `lamina train` on the CPU into `dir/name`; returns the run folder.
fn train_on_the_command_line(dir: &Path, name: &str, template: &str, args: &[&str]) -> PathBuf {
    let lamina = |a: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(a)
            .output()
            .expect("lamina runs");
        assert!(
            o.status.success(),
            "lamina {a:?}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let exp = dir.join(format!("{name}.json"));
    let run = dir.join(name);
    let (exp_s, run_s) = (exp.to_string_lossy(), run.to_string_lossy());
    let mut new = vec!["new", &exp_s, "--template", template];
    new.extend_from_slice(args);
    lamina(&new);
    lamina(&["train", &exp_s, "--out", &run_s, "--device", "cpu"]);
    run
}

/// Type a run folder's path in the File field and press Open, as a user
/// without a file dialog would; wait until it is read.
fn open_run_by_typing(h: &mut Harness<'_, LaminaApp>, run: &Path) {
    open_folder_by_typing(h, run, "opened the run");
    assert_eq!(h.state().training.run_dir.as_deref(), Some(run));
}

/// Type a run or sweep folder into the path field, press Open, wait until it
/// is read and its data loaded, and check the message begins with `opened`.
fn open_folder_by_typing(h: &mut Harness<'_, LaminaApp>, dir: &Path, opened: &str) {
    h.state_mut().path_input = dir.display().to_string();
    h.run_steps(1);
    h.get_by_label("Open").click();
    h.run_steps(1);
    wait_for_tasks(h);
    h.run_steps(2);
    let msg = h.state().message.clone();
    assert!(
        msg.as_ref()
            .is_some_and(|(m, e)| !e && m.starts_with(opened)),
        "{msg:?}"
    );
}

fn show_tab(h: &mut Harness<'_, LaminaApp>, tab: &str) {
    h.get_by_label(tab).click();
    h.run_steps(2);
}

#[test]
fn runs_trained_on_the_command_line_open_in_the_window_with_every_view() {
    let dir = scratch("open-runs");
    let fasta = sample("dna/promoters.fasta").display().to_string();
    let counts = sample("omics/counts.csv").display().to_string();
    let epochs = ["--set", "training.epochs=2"];
    let attention = train_on_the_command_line(
        &dir,
        "attention",
        "cnn_attention",
        &[&["--data", &fasta][..], &epochs].concat(),
    );
    let vae = train_on_the_command_line(
        &dir,
        "vae",
        "vae",
        &[&["--data", &counts][..], &epochs].concat(),
    );
    let gan = train_on_the_command_line(
        &dir,
        "gan",
        "gan",
        &[&["--data", &counts][..], &epochs].concat(),
    );
    let dqn = train_on_the_command_line(
        &dir,
        "dqn",
        "dqn_cartpole",
        &[
            "--set",
            "training.dqn.steps=1500",
            "--set",
            "training.dqn.learning_starts=200",
        ],
    );

    // A fresh window, as on another day.
    let mut h = harness(LaminaApp::default());
    h.run_steps(1);
    h.state_mut().screen = Screen::Workbench;
    h.run_steps(1);

    open_run_by_typing(&mut h, &attention);
    let history = &h.state().training.history;
    assert_eq!(history.len(), 2, "both epochs are read back");
    h.get_by_label_contains("Done: 2 epochs");
    h.get_by_label("Loss");
    show_tab(&mut h, "Latent space");
    let (snap, points) = h.state().training.latent.clone().expect("latent read back");
    assert_eq!(points.len(), snap.ids.len());
    assert!(snap.ids.len() >= 100, "{} samples", snap.ids.len());
    show_tab(&mut h, "Attention");
    assert!(h.state().training.attention.is_some());
    h.get_by_label("Attention map (validation sequences, epoch 2)");
    show_tab(&mut h, "Confusion matrix");
    h.get_by_label_contains("Confusion matrix (validation samples, the weights of epoch");
    // The held-out test split, scored once, with its curves.
    show_tab(&mut h, "Evaluation");
    h.get_by_label_contains("Test split: 100 samples, scored once with the weights of epoch");
    h.get_by_label_contains("balanced accuracy");
    h.get_by_label("ROC (one class against the rest)");
    let test = h
        .state()
        .training
        .outcome
        .as_ref()
        .unwrap()
        .summary
        .test
        .clone()
        .unwrap();
    let c = test.classifier.expect("a classifier's test scores");
    assert_eq!(c.classes.len(), 2);
    assert!(
        c.classes
            .iter()
            .all(|k| k.auroc.is_some() && k.roc.x.len() > 2)
    );
    let counted: usize = h
        .state()
        .training
        .outcome
        .as_ref()
        .unwrap()
        .summary
        .confusion
        .as_ref()
        .unwrap()
        .iter()
        .flatten()
        .sum();
    assert_eq!(counted, 200, "every validation sequence is in the matrix");
    // Its model is ready to predict with, and the experiment is the one trained.
    show_tab(&mut h, "Predict");
    h.get_by_label_contains("Model: from the run");
    assert_eq!(h.state().experiment.name, {
        let e = Experiment::load(&attention.join("experiment.json")).unwrap();
        e.name
    });
    assert!(
        h.state().data.dataset.is_some(),
        "the run's data is read from where it was trained: {:?}",
        h.state().data.error
    );
    assert!(!h.state().has_unsaved_changes());

    open_run_by_typing(&mut h, &vae);
    show_tab(&mut h, "Reconstructions");
    h.get_by_label_contains("Reconstructions (validation samples, epoch 2)");
    assert!(h.state().training.latent.is_some());

    open_run_by_typing(&mut h, &gan);
    show_tab(&mut h, "Generated samples");
    h.get_by_label_contains("Generated vs real samples");
    assert_eq!(
        h.state().training.gan_history.len(),
        3,
        "before training and after each epoch"
    );

    open_run_by_typing(&mut h, &dqn);
    assert!(
        h.state().training.episodes.len() > 5,
        "{} episodes",
        h.state().training.episodes.len()
    );
    h.get_by_label("Return per episode");
    show_tab(&mut h, "Play an episode");
    h.get_by_label("Play an episode of the trained policy")
        .click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert!(
        h.state().training.playback.is_some(),
        "the saved policy plays"
    );

    // A folder that is not a run says so, and names the folder.
    let not_a_run = dir.join("empty");
    std::fs::create_dir_all(&not_a_run).unwrap();
    h.state_mut().path_input = not_a_run.display().to_string();
    h.run_steps(1);
    h.get_by_label("Open").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(1);
    let (msg, is_error) = h.state().message.clone().unwrap();
    assert!(
        is_error && msg.contains("is not a run folder") && msg.contains("empty"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A run that ended without its summary and model (as after a crash) opens
/// with a Resume button; resuming finishes it with the metrics of the run
/// that was never interrupted.
#[test]
fn an_interrupted_run_is_resumed_from_the_window() {
    let dir = scratch("resume-window");
    let fasta = sample("dna/promoters.fasta").display().to_string();
    let whole = train_on_the_command_line(
        &dir,
        "whole",
        "dna_cnn",
        &["--data", &fasta, "--set", "training.epochs=4"],
    );
    // The same run, as a crash after its third checkpoint would leave it.
    let cut = dir.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    for f in [
        "experiment.json",
        "started.json",
        "metrics.jsonl",
        "latent.json",
    ] {
        std::fs::copy(whole.join(f), cut.join(f)).unwrap();
    }
    std::fs::create_dir_all(cut.join("checkpoint")).unwrap();
    for f in ["state.json", "weights.safetensors", "optimizer.bpk"] {
        std::fs::copy(
            whole.join("checkpoint").join(f),
            cut.join("checkpoint").join(f),
        )
        .unwrap();
    }

    let mut h = harness(LaminaApp::default());
    h.run_steps(1);
    h.state_mut().screen = Screen::Workbench;
    h.run_steps(1);
    open_run_by_typing(&mut h, &cut);
    h.state_mut().training.device = DevicePreference::Cpu;
    h.get_by_label_contains("This run has no saved model");
    h.get_by_label("Resume from epoch 3").click();
    h.run_steps(1);
    assert!(h.state().training.is_running(), "{:?}", h.state().message);
    step_until(
        &mut h,
        Duration::from_secs(120),
        "the resumed run to finish",
        |a| a.training.outcome.is_some() || a.training.error.is_some(),
    );
    assert_eq!(h.state().training.error, None);
    assert_eq!(h.state().training.history.len(), 4, "3 kept and 1 trained");
    let a = std::fs::read(whole.join("metrics.jsonl")).unwrap();
    let b = std::fs::read(cut.join("metrics.jsonl")).unwrap();
    assert!(a == b, "the resumed run's metrics differ");
    assert!(
        cut.join("summary.json").exists() && cut.join("model").join("weights.safetensors").exists()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A sweep folder written by `lamina sweep` opens in the window: a table of
/// its runs that sorts by a metric, their curves overlaid, and each run opens
/// from its row with all its views.
#[test]
fn a_sweep_opens_as_a_sortable_table_of_runs_and_each_run_opens_from_it() {
    let dir = scratch("sweep-view");
    let exp = bundled_in(&dir, "omics/classifier.json");
    let out = dir.join("sweep");
    let mut e = Experiment::load(&exp).unwrap();
    e.training.epochs = 3;
    e.save(&exp).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args([
            "sweep",
            exp.to_str().unwrap(),
            "--vary",
            "training.learning_rate=1e-4,1e-3,1e-2",
            "--vary",
            "training.batch_size=32,64",
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut h = harness(LaminaApp::default());
    h.run_steps(1);
    h.state_mut().screen = Screen::Workbench;
    h.run_steps(1);
    open_folder_by_typing(&mut h, &out, "opened the sweep");
    h.get_by_label_contains("6 runs, 6 finished");
    assert_eq!(
        h.state().experiment.training.epochs,
        3,
        "the swept experiment is in the editor"
    );
    let view = h.state().sweep.as_ref().unwrap();
    assert!(
        view.record
            .records
            .iter()
            .all(|r| r.as_ref().is_some_and(|r| r.history.len() == 3))
    );
    // Sort by the validation loss: smallest first.
    h.get_all_by_role(egui::accesskit::Role::ComboBox)
        .find(|c| c.accesskit_node().value().as_deref() == Some("run"))
        .expect("the Sort by menu, on run order")
        .click();
    h.run_steps(2);
    // The menu's entry (the column's header is past the panel's edge).
    h.get_all_by_label("valid_loss")
        .find(|n| n.rect().max.x < 1400.0)
        .expect("valid_loss in the menu")
        .click();
    h.run_steps(2);
    h.get_by_label("sorted by valid_loss, smallest first");
    let view = h.state().sweep.as_ref().unwrap();
    let losses: Vec<f64> = view
        .order()
        .iter()
        .map(|&i| view.record.rows[i].metric("valid_loss").unwrap())
        .collect();
    assert!(losses.windows(2).all(|w| w[0] <= w[1]), "{losses:?}");
    let best = view.record.rows[view.order()[0]].run.name.clone();
    assert_ne!(
        view.order(),
        (0..6).collect::<Vec<_>>(),
        "the sort changed the order"
    );
    // Open the best run from its row.
    assert_eq!(
        h.get_all_by_label("Open run").count(),
        6,
        "a button per row"
    );
    h.get_all_by_label("Open run").next().unwrap().click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert_eq!(
        h.state().training.run_dir.as_deref(),
        Some(out.join(&best).as_path())
    );
    h.get_by_label_contains("Done: 3 epochs");
    // The sweep stays a tab away.
    // The panel sizes itself to the run's views over a few frames.
    h.run_steps(3);
    show_tab(&mut h, "Sweep");
    h.get_by_label_contains("6 runs, 6 finished");
}

/// Fine-tuning from the window: a saved model folder chosen under "Start
/// from" gives the run its weights (read on the worker's thread), and a
/// folder that holds no model is refused with a reason.
#[test]
fn training_starts_from_a_saved_model_chosen_in_the_window() {
    let dir = scratch("init-from");
    let exp = copy_omics(&dir);
    let first = dir.join("first");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args([
            "train",
            exp.to_str().unwrap(),
            "--out",
            first.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    h.get_by_label("Start from");
    h.state_mut().training.choose_init_from(&dir);
    h.run_steps(1);
    h.get_by_label_contains("is not a saved model folder");
    assert!(h.state().training.init_from.is_none());
    h.state_mut()
        .training
        .choose_init_from(&first.join("model"));
    h.run_steps(1);
    h.state_mut().experiment.training.epochs = 1;
    h.run_steps(1);
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(&mut h, Duration::from_secs(120), "the run to finish", |a| {
        !a.training.is_running() && (a.training.outcome.is_some() || a.training.error.is_some())
    });
    assert_eq!(h.state().training.error, None);
    let note = h.state().training.note.clone().unwrap_or_default();
    assert!(
        note.contains("started from") && note.contains("copied"),
        "{note}"
    );
    // From fresh weights one epoch reaches about 0.76 on these cells.
    let acc = h.state().training.history[0]
        .valid
        .as_ref()
        .unwrap()
        .accuracy
        .unwrap();
    assert!(acc > 0.9, "after one epoch from the saved model: {acc}");
    // The choice stays for the next run.
    assert_eq!(
        h.state().training.init_from.as_deref(),
        Some(first.join("model").as_path())
    );
}

/// Press the Cancel button of the one background job on screen.
fn press_cancel(h: &mut Harness<'_, LaminaApp>) {
    h.run_steps(1);
    h.get_by_label("Cancel").click();
    h.run_steps(2);
}

#[test]
fn cancel_stops_loading_prediction_and_export_and_writes_nothing() {
    let dir = scratch("cancel");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.state_mut().experiment.training.epochs = 2;
    h.run_steps(1);
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(
        &mut h,
        Duration::from_secs(120),
        "training to finish",
        |a| a.training.outcome.is_some(),
    );
    let ctx = h.ctx.clone();

    // Export: jobs are held before they start, so the Cancel lands first.
    let model_dir = dir.join("model");
    h.state_mut().tasks.hold();
    h.state_mut()
        .use_path(Purpose::ExportModel, &model_dir, &ctx);
    assert!(h.state().tasks.is_running(Kind::Export));
    press_cancel(&mut h);
    h.get_by_label("cancelling…");
    wait_for_tasks(&mut h);
    assert!(!model_dir.exists(), "a cancelled export writes no folder");
    let (msg, _) = h.state().message.clone().expect("the cancel is reported");
    assert!(msg.contains("cancelled"), "{msg}");
    // Not cancelled, the same export writes the folder.
    h.state_mut()
        .use_path(Purpose::ExportModel, &model_dir, &ctx);
    wait_for_tasks(&mut h);
    assert!(model_dir.join("weights.safetensors").is_file());

    // Prediction on new data, from the Predict view.
    let new_data = dir.join("new_cells.csv");
    std::fs::copy(dir.join("counts.csv"), &new_data).unwrap();
    h.state_mut().result_view = lamina::ui::ResultView::Predict;
    h.run_steps(2);
    h.get_by_label("Use the model just trained").click();
    h.run_steps(1);
    h.state_mut().tasks.hold();
    h.state_mut()
        .use_path(Purpose::PredictData, &new_data, &ctx);
    assert!(h.state().tasks.is_running(Kind::Predict));
    press_cancel(&mut h);
    wait_for_tasks(&mut h);
    let written = lamina::ui::predict::output_path(&new_data);
    assert!(!written.exists(), "a cancelled prediction writes no table");
    assert_eq!(
        h.state().predict.error.as_deref(),
        Some("The prediction was cancelled.")
    );
    assert!(h.state().predict.result.is_none());

    // Reading the data again, from the data panel.
    h.state_mut().tasks.hold();
    h.state_mut()
        .use_path(Purpose::DataFile, &dir.join("counts.csv"), &ctx);
    assert!(h.state().tasks.is_running(Kind::Data));
    press_cancel(&mut h);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert!(h.state().data.dataset.is_none());
    // In the data panel, and as the reason Train is disabled.
    assert!(
        h.query_all_by_label_contains("Reading the data was cancelled")
            .count()
            >= 1
    );
    // Train waits for data, and says why.
    assert!(
        h.get_by_label("Train").accesskit_node().is_disabled(),
        "no training on data whose reading was cancelled"
    );
    // Reload reads it.
    h.get_by_label("Reload").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    assert_eq!(h.state().data.dataset.as_ref().map(|d| d.len()), Some(400));
}

#[test]
fn unsaved_edits_are_autosaved_in_the_background_and_the_file_is_kept() {
    let dir = scratch("autosave-bg");
    let exp_path = copy_omics(&dir);
    let saved = std::fs::read_to_string(&exp_path).unwrap();
    let mut h = harness(LaminaApp::default());
    open(&mut h, &exp_path);
    h.state_mut().experiment.training.epochs = 77;
    h.run_steps(2);
    wait_for_tasks(&mut h);
    let autosaved = Experiment::load(&lamina::ui::autosave_path(&exp_path))
        .expect("the edit is autosaved beside the experiment");
    assert_eq!(autosaved.training.epochs, 77);
    assert_eq!(
        std::fs::read_to_string(&exp_path).unwrap(),
        saved,
        "the experiment file itself changes only on Save"
    );
}

/// Press the button `label` and let the jobs it starts end.
fn press_and_wait(h: &mut Harness<'_, LaminaApp>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(1);
    wait_for_tasks(h);
    h.run_steps(4);
}

/// The workbench is showing (else the message that says why not).
fn assert_on_workbench(h: &Harness<'_, LaminaApp>) {
    assert_eq!(
        h.state().screen,
        Screen::Workbench,
        "{:?}",
        h.state().message
    );
}

/// Train the omics classifier copied into `dir` for two epochs on the CPU.
fn train_omics(h: &mut Harness<'_, LaminaApp>, dir: &Path) {
    open(h, &copy_omics(dir));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.state_mut().experiment.training.epochs = 2;
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(h, Duration::from_secs(120), "training to finish", |a| {
        a.training.outcome.is_some()
    });
    h.run_steps(4);
}

/// Replace what the text field now showing `value` holds with `text`.
fn retype(h: &mut Harness<'_, LaminaApp>, value: &str, text: &str) {
    let field = |n: &egui_kittest::kittest::AccessKitNode<'_>| {
        n.role() == egui::accesskit::Role::TextInput && n.value().as_deref() == Some(value)
    };
    h.get_by(field).focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by(field).type_text(text);
    h.run_steps(1);
}

#[test]
fn export_and_predict_through_the_in_app_browser_and_typed_paths() {
    let dir = scratch("in-app-files");
    let mut app = LaminaApp::default();
    // As on a machine without a desktop portal: Lamina's own browser.
    app.in_app_files = true;
    let mut h = harness(app);
    train_omics(&mut h, &dir);

    // The browser opens in the experiment's folder with a name for the model.
    h.get_by_label("Export model folder…").click();
    h.run_steps(4);
    h.get_by_label_contains("Choose a folder for the trained model");
    assert_eq!(h.state().browsing(), Some(Purpose::ExportModel));
    h.get_by_label("Save here").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    let model = dir.join("classifier-model");
    assert!(model.join("model.json").exists(), "{:?}", h.state().message);

    // A whole path typed into the browser's name field (once the browser
    // has faded out).
    h.run_steps(20);
    let typed = dir.join("elsewhere").join("typed-model");
    h.get_by_label("Export model folder…").click();
    h.run_steps(4);
    assert_eq!(
        h.state().browsing(),
        Some(Purpose::ExportModel),
        "{:?}",
        h.state().message
    );
    retype(&mut h, "classifier-model", &typed.display().to_string());
    h.get_by_label("Save here").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    assert!(typed.join("model.json").exists(), "{:?}", h.state().message);

    // Predict: the model folder and the data typed in the Predict view.
    let data = dir.join("new_cells.csv");
    std::fs::copy(sample("omics/counts.csv"), &data).unwrap();
    h.run_steps(20);
    h.get_by_label("Predict").click();
    h.run_steps(4);
    let model_field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Model folder:");
    model_field.focus();
    h.run_steps(1);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Model folder:")
        .type_text(&typed.display().to_string());
    h.run_steps(1);
    press_and_wait(&mut h, "Open model");
    h.get_by_label_contains("Model: ");
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Data")
        .focus();
    h.run_steps(1);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Data")
        .type_text(&data.display().to_string());
    h.run_steps(1);
    // The Predict button below the fields (the tab above is a Predict too).
    h.get_all_by_label("Predict").last().unwrap().click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(4);
    let out = dir.join("new_cells.predictions.csv");
    let r = h
        .state()
        .predict
        .result
        .clone()
        .unwrap_or_else(|| panic!("{:?}", h.state().predict.error));
    assert_eq!((r.out.clone(), r.count), (out.clone(), 400));

    // The data chosen in the browser: the prediction runs again, and asks
    // before replacing the table it wrote.
    // The "Choose…" on the Data row (the data panel has its own).
    let row = h
        .get_by_role_and_label(egui::accesskit::Role::TextInput, "Data")
        .rect()
        .center()
        .y;
    h.get_all_by_label("Choose…")
        .find(|n| (n.rect().center().y - row).abs() < 8.0)
        .expect("a Choose… button on the Data row")
        .click();
    h.run_steps(4);
    h.get_by_label_contains("Choose data to predict on");
    h.get_by_label("🗋 new_cells.csv").click();
    h.run_steps(1);
    h.get_by_label("Open this file").click();
    h.run_steps(20);
    h.get_by_label_contains("exists already. Replace it?");
    std::fs::write(&out, "mine").unwrap();
    h.get_by_label("Keep it").click();
    h.run_steps(4);
    wait_for_tasks(&mut h);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    h.get_all_by_label("Predict").last().unwrap().click();
    h.run_steps(4);
    h.get_by_label("Replace").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 401);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn nothing_is_replaced_without_asking() {
    let dir = scratch("no-overwrite");
    let mut h = harness(LaminaApp::default());
    // A typed experiment name that exists: asked, kept, then replaced.
    let exp = dir.join("mine.json");
    std::fs::write(&exp, "{\"my\": \"notes\"}").unwrap();
    h.get_by_label("Classifier for tables and omics (MLP)")
        .click();
    h.run_steps(1);
    let ctx = h.ctx.clone();
    copy_omics(&dir);
    h.state_mut()
        .use_path(Purpose::StartData, &dir.join("counts.csv"), &ctx);
    h.state_mut()
        .use_path(Purpose::StartLabels, &dir.join("labels.csv"), &ctx);
    h.state_mut().start.experiment_path = exp.display().to_string();
    check_start_data(&mut h);
    h.get_by_label("Create experiment").click();
    h.run_steps(4);
    h.get_by_label_contains("exists already. Replace it with the new experiment?");
    h.get_by_label("Keep it").click();
    h.run_steps(4);
    wait_for_tasks(&mut h);
    assert_eq!(
        std::fs::read_to_string(&exp).unwrap(),
        "{\"my\": \"notes\"}"
    );
    assert_eq!(h.state().screen, Screen::Start);
    h.get_by_label("Create experiment").click();
    h.run_steps(4);
    press_and_wait(&mut h, "Replace");
    assert_on_workbench(&h);
    assert!(Experiment::load(&exp).is_ok());

    // A trained model exported into a folder of the user's own files goes
    // into a new folder inside it; the files stay.
    h.state_mut().training.device = DevicePreference::Cpu;
    h.state_mut().experiment.training.epochs = 1;
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(
        &mut h,
        Duration::from_secs(120),
        "training to finish",
        |a| a.training.outcome.is_some(),
    );
    let own = dir.join("own");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("notes.txt"), "keep me").unwrap();
    h.state_mut().use_path(Purpose::ExportModel, &own, &ctx);
    wait_for_tasks(&mut h);
    assert_eq!(
        std::fs::read_to_string(own.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert!(
        own.join("mine-model").join("model.json").exists(),
        "{:?}",
        h.state().message
    );
    // Exported again there: the model folder is asked about.
    h.state_mut()
        .use_path(Purpose::ExportModel, &own.join("mine-model"), &ctx);
    h.run_steps(4);
    h.get_by_label_contains("holds a model folder already");
    h.get_by_label("Keep it").click();
    h.run_steps(4);
    // Plots and tables that exist are asked about too.
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).unwrap();
    std::fs::write(plots.join("loss.png"), "mine").unwrap();
    h.state_mut().use_path(Purpose::ExportPlots, &plots, &ctx);
    h.run_steps(4);
    h.get_by_label_contains("holds loss.png already");
    h.get_by_label("Keep it").click();
    h.run_steps(4);
    wait_for_tasks(&mut h);
    assert_eq!(
        std::fs::read_to_string(plots.join("loss.png")).unwrap(),
        "mine"
    );
    let latent = dir.join("latent.csv");
    std::fs::write(&latent, "mine").unwrap();
    h.state_mut().use_path(Purpose::ExportLatent, &latent, &ctx);
    h.run_steps(4);
    h.get_by_label_contains("latent.csv exists already");
    h.get_by_label("Keep it").click();
    h.run_steps(4);
    assert_eq!(std::fs::read_to_string(&latent).unwrap(), "mine");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_template_on_a_bundled_example_is_saved_in_the_users_folder() {
    let home = scratch("lamina-home");
    // SAFETY: only `start::user_folder` reads this variable, and only this test sets it.
    unsafe { std::env::set_var("LAMINA_HOME", &home) };
    let bundled = sample("omics/autoencoder.json");
    let before = std::fs::read(&bundled).unwrap();
    let mut h = harness(LaminaApp::default());
    h.get_by_label("Autoencoder").click();
    h.run_steps(1);
    let ctx = h.ctx.clone();
    h.state_mut()
        .use_path(Purpose::StartData, &sample("omics/counts.csv"), &ctx);
    check_start_data(&mut h);
    // "Save experiment as" left empty.
    press_and_wait(&mut h, "Create experiment");
    assert_on_workbench(&h);
    assert_eq!(
        std::fs::read(&bundled).unwrap(),
        before,
        "the bundled example was kept"
    );
    let saved = h.state().path.clone().unwrap();
    assert_eq!(saved, home.join("autoencoder.json"));
    // A second one gets a new name, and both find their data.
    let mut h = harness(LaminaApp::default());
    h.get_by_label("Autoencoder").click();
    h.run_steps(1);
    h.state_mut()
        .use_path(Purpose::StartData, &sample("omics/counts.csv"), &ctx);
    check_start_data(&mut h);
    h.get_by_label("Create experiment").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    assert_eq!(
        h.state().path.clone().unwrap(),
        home.join("autoencoder-2.json")
    );
    for f in ["autoencoder.json", "autoencoder-2.json"] {
        let exp = Experiment::load(&home.join(f)).unwrap();
        assert!(
            exp.data.resolved_path(&home).exists(),
            "{f}: {:?}",
            exp.data.path
        );
    }
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn save_as_into_another_folder_keeps_the_data_and_labels() {
    let dir = scratch("save-as-elsewhere");
    let mut app = LaminaApp::default();
    app.in_app_files = true;
    let mut h = harness(app);
    open(&mut h, &copy_omics(&dir));
    h.get_by_label_contains("4 classes");
    // Save as, in the in-app browser: a whole path typed in its name field.
    let other = dir.join("other").join("deeper");
    std::fs::create_dir_all(&other).unwrap();
    let target = other.join("saved.json");
    h.get_by_label("Save as…").click();
    h.run_steps(4);
    h.get_by_label_contains("Save the experiment");
    retype(&mut h, "classifier.json", &target.display().to_string());
    h.get_by_label("Save here").click();
    h.run_steps(4);
    assert_eq!(
        h.state().path.as_deref(),
        Some(target.as_path()),
        "{:?}",
        h.state().message
    );
    let saved = Experiment::load(&target).unwrap();
    assert_eq!(saved.data.path, Path::new("../../counts.csv"));
    // Reopened from there, in a fresh window, the data and labels are read.
    let mut h = harness(LaminaApp::default());
    open(&mut h, &target);
    wait_for_tasks(&mut h);
    h.run_steps(4);
    assert!(h.state().data.error.is_none(), "{:?}", h.state().data.error);
    h.get_by_label_contains("4 classes");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn only_the_views_of_the_open_experiments_task_are_shown() {
    let dir = scratch("views");
    let mut h = harness(LaminaApp::default());
    // A DQN first, on its Play view; then a GAN; then a classifier.
    open(&mut h, &bundled_in(&dir, "rl/cartpole.json"));
    h.get_by_label("Play an episode").click();
    h.run_steps(2);
    assert_eq!(h.state().result_view, ResultView::Play);
    assert!(
        h.query_by_label("Predict").is_none(),
        "a DQN has no Predict view"
    );
    open(&mut h, &bundled_in(&dir, "omics/gan.json"));
    h.run_steps(2);
    assert_eq!(h.state().result_view, ResultView::Curves);
    assert!(h.query_by_label("Play an episode").is_none());
    assert!(h.query_by_label("Latent space").is_none());
    // A GAN's own view is there before it trains, saying what will appear.
    h.get_by_label("Generated samples").click();
    h.run_steps(2);
    h.get_by_label_contains("Generated samples appear");
    open(&mut h, &copy_omics(&dir));
    h.run_steps(2);
    assert_eq!(h.state().result_view, ResultView::Curves);
    for leftover in [
        "Generated samples appear",
        "Attention maps appear",
        "Play an episode",
    ] {
        assert!(
            h.query_by_label_contains(leftover).is_none(),
            "{leftover} shown for a classifier"
        );
    }
    h.get_by_label("Latent space");
    h.get_by_label("Predict");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn nothing_moves_when_training_ends_or_a_message_appears() {
    let dir = scratch("stable-layout");
    let mut h = harness(LaminaApp::default());
    open(&mut h, &copy_omics(&dir));
    h.state_mut().training.device = DevicePreference::Cpu;
    // Long enough to be looked at while it trains.
    h.state_mut().experiment.training.epochs = 300;
    h.run_steps(2);
    let tabs = |h: &Harness<'_, LaminaApp>| h.get_by_label("Loss & accuracy").rect().top();
    let data = |h: &Harness<'_, LaminaApp>| h.get_by_label("Data file:").rect().top();
    // The export row is there before training, disabled with the reason.
    assert!(
        h.get_by_label("Export model folder…")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(&mut h, Duration::from_secs(60), "the first progress", |a| {
        a.training.progress.is_some()
    });
    h.run_steps(2);
    assert!(h.state().training.is_running());
    let (tabs_training, data_training) = (tabs(&h), data(&h));
    step_until(
        &mut h,
        Duration::from_secs(120),
        "training to finish",
        |a| a.training.outcome.is_some(),
    );
    h.run_steps(3);
    assert!(
        !h.get_by_label("Export model folder…")
            .accesskit_node()
            .is_disabled()
    );
    assert_eq!(
        tabs(&h),
        tabs_training,
        "the result tabs moved when training ended"
    );
    // A message (here: the model saved) does not push the workbench down.
    let ctx = h.ctx.clone();
    h.state_mut()
        .use_path(Purpose::ExportModel, &dir.join("model"), &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(3);
    h.get_by_label_contains("model saved to");
    assert_eq!(data(&h), data_training, "the workbench moved for a message");
    assert_eq!(tabs(&h), tabs_training);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_label_column_is_picked_from_the_table_and_the_data_checked_before_create() {
    let dir = scratch("label-column");
    copy_omics(&dir);
    // The label table holds a second column of labels: the batch of each cell.
    let mut h = harness(LaminaApp::default());
    h.get_by_label("Classifier for tables and omics (MLP)")
        .click();
    h.run_steps(1);
    let ctx = h.ctx.clone();
    h.state_mut()
        .use_path(Purpose::StartData, &dir.join("counts.csv"), &ctx);
    h.state_mut()
        .use_path(Purpose::StartLabels, &dir.join("labels.csv"), &ctx);
    h.state_mut().start.experiment_path = dir.join("batch.json").display().to_string();
    check_start_data(&mut h);
    h.get_by_label_contains("4 classes (B_cell, Monocyte, NK_cell, T_cell)");
    // The label table's columns are offered; the batch is picked.
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Label column (optional)")
        .click();
    h.run_steps(2);
    h.get_all_by_label("batch")
        .find(|n| n.accesskit_node().role() != egui::accesskit::Role::Label)
        .expect("the batch column offered")
        .click();
    h.run_steps(1);
    assert_eq!(h.state().start.label_column, "batch");
    check_start_data(&mut h);
    h.get_by_label_contains("2 classes (batch1, batch2)");
    // Data that does not suit the template is said before Create, which waits.
    h.state_mut()
        .use_path(Purpose::StartData, &sample("dna/promoters.fasta"), &ctx);
    check_start_data(&mut h);
    assert!(
        h.get_by_label("Create experiment")
            .accesskit_node()
            .is_disabled()
    );
    let said = h.state().start_check_outcome().unwrap().unwrap_err();
    assert!(!said.is_empty());
    h.get_by_label_contains(&said[..said.len().min(40)]);
    h.state_mut()
        .use_path(Purpose::StartData, &dir.join("counts.csv"), &ctx);
    check_start_data(&mut h);
    h.get_by_label("Create experiment").click();
    h.run_steps(1);
    wait_for_tasks(&mut h);
    h.run_steps(2);
    assert_on_workbench(&h);
    h.get_by_label_contains("2 classes");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn latent_map_classes_are_listed_beside_it_and_hidden_by_a_click() {
    let dir = scratch("latent-legend");
    let mut h = harness(LaminaApp::default());
    train_omics(&mut h, &dir);
    h.get_by_label("Latent space").click();
    h.run_steps(3);
    // One entry per class with its count, outside the plot.
    let b_cell = h.get_by_label_contains("B_cell (");
    let t_cell = h.get_by_label_contains("T_cell (");
    assert!(b_cell.rect().bottom() <= h.get_by_label_contains("NK_cell (").rect().bottom() + 1.0);
    let _ = t_cell;
    h.get_by_label_contains("B_cell (").click();
    h.run_steps(2);
    assert!(h.state().latent_view.hidden.contains("B_cell"));
    h.get_by_label("show all").click();
    h.run_steps(2);
    assert!(h.state().latent_view.hidden.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// Train `rel` (a bundled experiment) for `epochs` in the window, on the CPU.
fn train_bundled(h: &mut Harness<'_, LaminaApp>, dir: &Path, rel: &str, epochs: usize) {
    open(h, &bundled_in(dir, rel));
    h.state_mut().training.device = DevicePreference::Cpu;
    h.state_mut().experiment.training.epochs = epochs;
    h.run_steps(1);
    h.get_by_label("Train").click();
    h.run_steps(1);
    step_until(h, Duration::from_secs(300), "training to finish", |a| {
        a.training.outcome.is_some()
    });
    h.run_steps(4);
}

#[test]
fn explain_view_shows_a_sequence_its_mutagenesis_and_logos_and_exports_them() {
    let dir = scratch("explain-dna");
    let mut h = harness(LaminaApp::default());
    train_bundled(&mut h, &dir, "dna/cnn.json", 2);
    h.get_by_label("Explain").click();
    h.run_steps(2);
    h.get_by_label_contains("What did the model learn?");
    h.get_by_label_contains("Model: trained in this window");
    // Fewer samples and steps than the defaults, for the test's time.
    h.state_mut().explain.settings.samples = 24;
    h.state_mut().explain.settings.mutated = 3;
    h.state_mut().explain.settings.steps = 8;
    h.run_steps(1);
    // The tab and the button share the name: the button is the later one.
    let buttons = h.query_all_by_label("Explain").count();
    h.query_all_by_label("Explain")
        .nth(buttons - 1)
        .unwrap()
        .click();
    h.run_steps(1);
    assert!(h.state().tasks.is_running(Kind::Explain));
    wait_for_tasks(&mut h);
    h.run_steps(4);
    let state = &h.state().explain;
    assert!(state.error.is_none(), "{:?}", state.error);
    let r = state.result.clone().expect("an explanation");
    // The validation samples, as the run split them.
    let data = h.state().data.dataset.clone().unwrap();
    let exp = &h
        .state()
        .training
        .outcome
        .as_ref()
        .unwrap()
        .model
        .experiment;
    let valid = lamina::train::split_of(exp, &data).valid;
    assert_eq!(r.data.len(), 24);
    assert_eq!(r.data.ids[0], data.ids[valid[0]]);
    assert_eq!(r.letters[0].len(), 100);
    assert_eq!(r.tracks[0].len(), 100);
    assert!(r.effects(0).is_some() && r.effects(3).is_none());
    h.get_by_label_contains(&format!(
        "Explained the first 24 of {} validation samples",
        valid.len()
    ));
    h.get_by_label_contains("Attribution of each position");
    h.get_by_label_contains("Motifs of the first convolution");
    h.get_by_label_contains("1 of 24");
    // The next sample.
    h.get_by_label("▶").click();
    h.run_steps(2);
    assert_eq!(h.state().explain.sample, 1);
    h.get_by_label_contains("2 of 24");
    // A setting changed: the view says the explanation is out of date.
    h.state_mut().explain.settings.integrated = false;
    h.run_steps(2);
    h.get_by_label_contains("The settings have changed since");
    h.state_mut().explain.settings.integrated = true;
    h.run_steps(1);

    let ctx = h.ctx.clone();
    let png = dir.join("seq.png");
    let csv = dir.join("seq.csv");
    let meme = dir.join("motifs.meme");
    let logo = dir.join("logo.png");
    let all = dir.join("explained");
    h.state_mut().explain.sample = 0;
    for (purpose, path) in [
        (Purpose::ExportExplainPng, &png),
        (Purpose::ExportExplainCsv, &csv),
        (Purpose::ExportMotifs, &meme),
        (Purpose::ExportLogoPng, &logo),
        (Purpose::ExportExplanation, &all),
    ] {
        h.state_mut().use_path(purpose, path, &ctx);
        wait_for_tasks(&mut h);
        let (msg, error) = h.state().message.clone().unwrap();
        assert!(!error, "{msg}");
    }
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    assert_eq!(&std::fs::read(&logo).unwrap()[1..4], b"PNG");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 101, "a header and one row per position");
    assert!(
        lines[0].starts_with("position,letter,attribution,mutated_to_"),
        "{}",
        lines[0]
    );
    // The CSV holds what the view shows for the sample.
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[1], r.letters[0][0].to_string());
    let shown = r.tracks[0][0];
    assert!((first[2].parse::<f32>().unwrap() - shown).abs() <= 1e-6 * shown.abs().max(1.0));
    assert!(
        std::fs::read_to_string(&meme)
            .unwrap()
            .starts_with("MEME version")
    );
    for f in [
        "attributions.npy",
        "attributions.csv",
        "explained.csv",
        "mutagenesis.npy",
        "motifs.meme",
    ] {
        assert!(all.join(f).is_file(), "{f} in the folder");
    }
    // Saving the whole explanation again asks first.
    h.state_mut()
        .use_path(Purpose::ExportExplanation, &all, &ctx);
    h.run_steps(2);
    h.get_by_label_contains("holds attributions.npy");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn explain_view_ranks_the_genes_of_a_table_and_explains_a_new_file() {
    let dir = scratch("explain-omics");
    let mut h = harness(LaminaApp::default());
    train_omics(&mut h, &dir);
    h.state_mut().result_view = ResultView::Explain;
    h.run_steps(2);
    h.state_mut().explain.settings.samples = 40;
    h.state_mut().explain.settings.steps = 8;
    let ctx = h.ctx.clone();
    h.state_mut().apply(lamina::ui::Action::Explain, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(4);
    let r = h
        .state()
        .explain
        .result
        .clone()
        .unwrap_or_else(|| panic!("{:?}", h.state().explain.error));
    let imp = r.explanation.importance.as_ref().expect("ranked features");
    assert_eq!(imp.features.len(), r.data.feature_names.len());
    h.get_by_label_contains("Features ranked for");
    h.get_by_label_contains("This sample's features");
    // The top gene on screen is the top of the ranking.
    let c = h.state().explain.ranked_class;
    let top = &imp.features[imp.ranked(c)[0]];
    assert!(h.query_all_by_label(top.as_str()).count() >= 1);
    let csv = dir.join("ranked.csv");
    h.state_mut()
        .use_path(Purpose::ExportExplainCsv, &csv, &ctx);
    wait_for_tasks(&mut h);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("class,rank,feature,mean_abs_attribution"));
    assert!(
        text.contains(&format!(",1,{top},")),
        "{top} is ranked first in the CSV too"
    );

    // A new file, chosen as the dialog would.
    let new_data = dir.join("new_cells.csv");
    std::fs::copy(dir.join("counts.csv"), &new_data).unwrap();
    h.state_mut()
        .use_path(Purpose::ExplainData, &new_data, &ctx);
    h.run_steps(1);
    assert_eq!(
        h.state().explain.settings.source,
        lamina::ui::explain::Source::File
    );
    h.state_mut().apply(lamina::ui::Action::Explain, &ctx);
    wait_for_tasks(&mut h);
    h.run_steps(3);
    let r = h.state().explain.result.clone().unwrap();
    assert_eq!(r.data.len(), 40, "the first 40 of the file's 400 cells");
    assert_eq!(r.data.ids[0], "cell0001", "in the file's order");
    h.get_by_label_contains("Explained the first 40 of 400");
    let _ = std::fs::remove_dir_all(dir);
}
