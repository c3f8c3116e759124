//! Every template trains a few epochs on `flex` with the bundled sample data and
//! its loss falls; a saved model reloads and predicts exactly the same.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use lamina::export::{load_model, save_model};
use lamina::project::{NewOptions, new_experiment};
use lamina::spec::templates::Template;
use lamina::train::{self, DevicePreference, Event, Job};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(rel)
}

fn scratch_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lamina-tt-{name}-{}", std::process::id()))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = scratch_dir(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Make `template`'s experiment for `data` (in a scratch folder named `name`),
/// train it on the CPU, and return the outcome with every event it sent.
fn train_all(
    name: &str,
    template: Template,
    data: &Path,
    opts: &NewOptions,
) -> (train::Outcome, Vec<Event>) {
    let dir = temp_dir(name);
    let (exp, dataset, _) = new_experiment(template, data, &dir.join("exp.json"), opts).unwrap();
    run_on_cpu(exp, dataset)
}

/// Train `exp` on `dataset` on the CPU; the outcome with every event it sent.
fn run_on_cpu(
    exp: lamina::spec::Experiment,
    dataset: lamina::data::Dataset,
) -> (train::Outcome, Vec<Event>) {
    let (ev_tx, ev_rx) = mpsc::channel();
    let (_cmd_tx, cmd_rx) = mpsc::channel();
    let job = Job::new(exp, dataset, DevicePreference::Cpu);
    // As the window and the CLI train: on a rayon pool of its own, so the tests training side
    // by side do not share one (and each run's numbers do not depend on the others').
    let outcome = train::run_in_pool(job, ev_tx, cmd_rx).unwrap();
    (outcome, ev_rx.iter().collect())
}

/// Train `template` on `data` for `epochs` and return the outcome and the events seen.
fn train(
    template: Template,
    data: &str,
    opts: NewOptions,
    epochs: usize,
) -> (train::Outcome, Vec<String>) {
    let mut opts = opts;
    opts.settings.push(format!("training.epochs={epochs}"));
    let (outcome, events) = train_all(template.name(), template, &sample(data), &opts);
    let kinds = events
        .iter()
        .map(|e| {
            match e {
                Event::Started(_) => "started",
                Event::Progress(_) => "progress",
                Event::Epoch(_) => "epoch",
                Event::Latent(_) => "latent",
                _ => "other",
            }
            .to_string()
        })
        .collect();
    (outcome, kinds)
}

fn assert_loss_falls(o: &train::Outcome, name: &str) {
    let first = o.history.first().unwrap().train.loss;
    let last = o.history.last().unwrap().train.loss;
    assert!(
        last < first * 0.95,
        "{name}: train loss {first} → {last} did not fall"
    );
}

fn labels_opts() -> NewOptions {
    NewOptions {
        labels: Some(sample("omics/labels.csv")),
        label_column: Some("cell_type".into()),
        ..NewOptions::default()
    }
}

#[test]
fn mlp_classifier_learns_cell_types_and_round_trips_through_a_saved_model() {
    let (o, events) = train(
        Template::MlpClassifier,
        "omics/counts.csv",
        labels_opts(),
        4,
    );
    assert_loss_falls(&o, "mlp");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.6,
        "validation accuracy {acc} should clearly beat chance (0.25)"
    );
    assert!(events.contains(&"started".to_string()) && events.contains(&"latent".to_string()));

    // Save, reload, predict: identical outputs.
    let dir = temp_dir("bundle").join("model");
    save_model(&dir, &o.model, Some(&o.summary)).unwrap();
    let device = burn::tensor::Device::flex();
    let back = load_model(&dir, &device).unwrap();
    let data = lamina::data::table::read(
        &sample("omics/counts.csv"),
        &Default::default(),
        None,
        false,
    )
    .unwrap();
    let a = train::predict(&o.model, &data, &device).unwrap();
    let b = train::predict(&back, &data, &device).unwrap();
    assert_eq!(a.len(), data.len() * 4);
    assert_eq!(a, b, "a reloaded model predicts exactly the same");
    assert_eq!(
        back.class_names,
        ["B_cell", "Monocyte", "NK_cell", "T_cell"]
    );
}

#[test]
fn autoencoder_reconstruction_loss_falls() {
    let (o, _) = train(
        Template::Autoencoder,
        "omics/counts.csv",
        NewOptions::default(),
        5,
    );
    assert_loss_falls(&o, "autoencoder");
    assert!(o.summary.final_valid.is_some());
}

#[test]
fn vae_loss_falls_and_reports_its_kl_term() {
    let (o, _) = train(Template::Vae, "omics/counts.csv", NewOptions::default(), 10);
    assert_loss_falls(&o, "vae");
    let last = &o.history.last().unwrap().train;
    let (r, k) = (last.reconstruction.unwrap(), last.kl.unwrap());
    assert!(k > 0.0 && (r + k - last.loss).abs() < 1e-3 * last.loss.abs().max(1.0));
}

#[test]
fn dna_cnn_finds_the_promoter_motif() {
    let (o, _) = train(
        Template::DnaCnn,
        "dna/promoters.fasta",
        NewOptions::default(),
        8,
    );
    assert_loss_falls(&o, "dna_cnn");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.7,
        "validation accuracy {acc} should clearly beat chance (0.5)"
    );
}

#[test]
fn image_cnn_learns_cell_shapes() {
    let (o, _) = train(
        Template::ImageCnn,
        "images/cells",
        NewOptions::default(),
        12,
    );
    assert_loss_falls(&o, "image_cnn");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.5,
        "validation accuracy {acc} should clearly beat chance (0.33)"
    );
}

/// A graph network (residual blocks with skip connections) trains like a chain,
/// and its saved model folder reloads and predicts exactly the same.
#[test]
fn resnet_image_learns_cell_shapes_and_reloads() {
    let (o, _) = train(
        Template::ResnetImage,
        "images/cells",
        NewOptions::default(),
        12,
    );
    assert!(o.model.experiment.architecture.stacks[0].is_graph());
    assert_loss_falls(&o, "resnet_image");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.5,
        "validation accuracy {acc} should clearly beat chance (0.33)"
    );
    let dir = temp_dir("resnet-bundle").join("model");
    save_model(&dir, &o.model, Some(&o.summary)).unwrap();
    let device = burn::tensor::Device::flex();
    let back = load_model(&dir, &device).unwrap();
    // The experiment lives where `train` wrote it; its data path is relative to there.
    let (data, _, _) =
        lamina::project::prepare(&o.model.experiment, &scratch_dir("resnet_image")).unwrap();
    let a = train::predict(&o.model, &data, &device).unwrap();
    let b = train::predict(&back, &data, &device).unwrap();
    assert_eq!(a.len(), data.len() * 3);
    assert_eq!(a, b, "a reloaded graph model predicts exactly the same");
}

/// CITE-seq-like sample: RNA tells the lineage, protein the state, so only a
/// network that reads both tables names all six cell types.
#[test]
fn two_input_classifier_joins_rna_and_protein_and_beats_rna_alone() {
    let opts = NewOptions {
        labels: Some(sample("citeseq/labels.csv")),
        label_column: Some("cell_type".into()),
        joined: vec![sample("citeseq/protein.csv")],
        settings: vec!["training.epochs=20".into()],
    };
    let (both, _) = train_all(
        "two_input",
        Template::TwoInputClassifier,
        &sample("citeseq/rna.csv"),
        &opts,
    );
    let rna_only = NewOptions {
        joined: Vec::new(),
        ..opts.clone()
    };
    let (rna, _) = train_all(
        "rna_only",
        Template::MlpClassifier,
        &sample("citeseq/rna.csv"),
        &rna_only,
    );
    assert_loss_falls(&both, "two_input_classifier");
    let acc = |o: &train::Outcome| o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    eprintln!(
        "validation accuracy: RNA + protein {:.3}, RNA alone (mlp_classifier) {:.3}",
        acc(&both),
        acc(&rna)
    );
    assert!(acc(&both) > 0.85, "both tables: {}", acc(&both));
    assert!(
        acc(&both) > acc(&rna) + 0.2,
        "both tables {} should clearly beat RNA alone {}",
        acc(&both),
        acc(&rna)
    );
    // Saved and reloaded, the model reads both tables again and predicts the same.
    let dir = temp_dir("two-input-bundle").join("model");
    save_model(&dir, &both.model, Some(&both.summary)).unwrap();
    let device = burn::tensor::Device::flex();
    let back = load_model(&dir, &device).unwrap();
    let data = lamina::project::read_joined_for_model(
        &back,
        &sample("citeseq/rna.csv"),
        &[sample("citeseq/protein.csv")],
    )
    .unwrap();
    assert_eq!(data.joined, [("protein".to_string(), 10)]);
    let a = train::predict(&both.model, &data, &device).unwrap();
    let b = train::predict(&back, &data, &device).unwrap();
    assert_eq!(a.len(), data.len() * 6);
    assert_eq!(a, b, "a reloaded two-input model predicts exactly the same");
}

#[test]
fn pause_resume_and_stop_are_obeyed() {
    let dir = temp_dir("pause");
    let opts = NewOptions {
        settings: vec!["training.epochs=50".into()],
        ..labels_opts()
    };
    let (exp, dataset, _) = new_experiment(
        Template::MlpClassifier,
        &sample("omics/counts.csv"),
        &dir.join("e.json"),
        &opts,
    )
    .unwrap();
    let worker = train::Worker::spawn(Job::new(exp, dataset, DevicePreference::Cpu));
    worker.send(train::Command::Pause);
    let mut saw_paused = false;
    while let Some(e) = worker.recv() {
        match e {
            Event::Paused => {
                saw_paused = true;
                worker.send(train::Command::Resume);
                worker.send(train::Command::Stop);
            }
            Event::Finished(o) => {
                assert!(o.summary.stopped_by_user);
                assert!(o.summary.epochs_completed < 50);
                break;
            }
            Event::Failed(m) => panic!("{m}"),
            _ => {}
        }
    }
    assert!(saw_paused);
}

#[test]
fn a_diverging_run_stops_with_a_clear_message() {
    let dir = temp_dir("nan");
    let opts = NewOptions {
        settings: vec![
            "training.epochs=3".into(),
            "training.learning_rate=1e30".into(),
            "training.optimizer=sgd".into(),
        ],
        ..labels_opts()
    };
    let (exp, dataset, _) = new_experiment(
        Template::MlpClassifier,
        &sample("omics/counts.csv"),
        &dir.join("e.json"),
        &opts,
    )
    .unwrap();
    let (tx, _rx) = mpsc::channel();
    let (_ctx, crx) = mpsc::channel();
    let err = train::run_in_pool(Job::new(exp, dataset, DevicePreference::Cpu), tx, crx)
        .err()
        .expect("a learning rate of 1e30 diverges");
    assert!(err.contains("NaN") || err.contains("infinite"), "{err}");
    assert!(err.contains("lower learning rate"), "{err}");
}

/// Train a sequence template on the promoter sample and check it beats chance.
fn sequence_template_learns(t: Template, epochs: usize, min_accuracy: f64) {
    let (o, _) = train(t, "dna/promoters.fasta", NewOptions::default(), epochs);
    assert_loss_falls(&o, t.name());
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > min_accuracy,
        "{}: validation accuracy {acc} should clearly beat chance (0.5)",
        t.name()
    );
}

#[test]
fn lstm_classifier_finds_the_promoter_motif() {
    // Pooled over all positions (not only the last state), so a motif anywhere counts. When
    // the loss starts to fall varies from run to run with tests training side by side (epoch 5
    // to 10 seen; the order of some of the CPU backend's parallel sums depends on timing), so
    // 16 epochs leave room: 0.86 accuracy and loss 0.70 → 0.25–0.40 in five runs.
    sequence_template_learns(Template::LstmClassifier, 16, 0.65);
}

#[test]
fn transformer_classifier_finds_the_promoter_motif() {
    sequence_template_learns(Template::TransformerClassifier, 10, 0.7);
}

#[test]
fn cnn_attention_finds_the_promoter_motif() {
    sequence_template_learns(Template::CnnAttention, 10, 0.7);
}

#[test]
fn transformer_learns_protein_families_of_varying_length() {
    // 40 to 160 residues: batches are cut to their longest member, padding masked.
    let (o, _) = train(
        Template::TransformerClassifier,
        "protein/families.fasta",
        NewOptions::default(),
        4,
    );
    assert!(o.model.network.variable_length);
    assert_loss_falls(&o, "transformer on proteins");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.6,
        "validation accuracy {acc} should clearly beat chance (0.33)"
    );
}

#[test]
fn gan_samples_move_toward_the_real_cells() {
    let mut opts = labels_opts();
    opts.settings.push("training.epochs=300".into());
    let (outcome, events) = train_all("gan", Template::Gan, &sample("omics/counts.csv"), &opts);
    let dir = temp_dir("gan-out");
    let snaps: Vec<train::GanSnapshot> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::GanSamples(g) => Some(g),
            _ => None,
        })
        .collect();
    let (before, after) = (snaps.first().unwrap(), snaps.last().unwrap());
    assert_eq!((before.epoch, after.epoch), (0, 300));
    // An untrained generator has no realistic gene-gene co-variation and little
    // spread; training brings both toward the real cells'.
    assert!(
        after.structure_correlation > before.structure_correlation + 0.2,
        "correlation structure r {} → {}",
        before.structure_correlation,
        after.structure_correlation
    );
    assert!(
        after.spread_ratio > 0.6 && after.spread_ratio > 2.0 * before.spread_ratio,
        "spread {} → {}",
        before.spread_ratio,
        after.spread_ratio
    );
    let last = &outcome.history.last().unwrap().train;
    assert!(last.discriminator_loss.unwrap().is_finite());
    assert!((0.0..=1.0).contains(&last.real_accuracy.unwrap()));

    // Generated samples leave as CSV in counts (the preprocessing undone), and
    // the saved model reloads with the same generator.
    let csv = dir.join("generated.csv");
    lamina::export::write_generated(&csv, &outcome.model, 50).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("sample_id,Gene001,Gene002")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| {
        r.split(',')
            .skip(1)
            .all(|v| v.parse::<f32>().is_ok_and(|x| x >= 0.0))
    }));
    let model_dir = dir.join("model");
    save_model(&model_dir, &outcome.model, Some(&outcome.summary)).unwrap();
    let device = lamina::train::DeviceChoice::cpu("test").device;
    let back = load_model(&model_dir, &device).unwrap();
    assert_eq!(back.experiment.task, lamina::spec::Task::Gan);
    assert_eq!(back.experiment.architecture.noise_size, 32);
}

/// Train a DQN template for `steps` environment steps; return its summary.
fn train_dqn(template: Template, settings: &[&str]) -> (train::Outcome, usize) {
    let opts = NewOptions {
        settings: settings.iter().map(|s| s.to_string()).collect(),
        ..NewOptions::default()
    };
    // No data file: the environment is the data.
    let (outcome, events) = train_all(template.name(), template, Path::new(""), &opts);
    let episodes = events
        .iter()
        .filter(|e| matches!(e, Event::Episode(_)))
        .count();
    (outcome, episodes)
}

#[test]
fn dqn_learns_to_design_the_motif_far_better_than_random_edits() {
    let (o, episodes) = train_dqn(
        Template::DqnMotif,
        &[
            "training.dqn.steps=6000",
            "training.dqn.epsilon_steps=3000",
            "training.dqn.learning_starts=500",
        ],
    );
    let rl = o.summary.rl.as_ref().unwrap();
    assert_eq!(rl.episodes, episodes);
    assert!(
        rl.evaluation_return > rl.random_return + 3.0,
        "trained {} vs random {}",
        rl.evaluation_return,
        rl.random_return
    );
}

#[test]
fn dqn_keeps_the_pole_up_longer_than_random_pushes() {
    let (o, _) = train_dqn(
        Template::DqnCartPole,
        &[
            "training.dqn.steps=12000",
            "training.dqn.epsilon_steps=5000",
        ],
    );
    let rl = o.summary.rl.as_ref().unwrap();
    assert!(
        rl.evaluation_return > 3.0 * rl.random_return,
        "trained {} vs random {}",
        rl.evaluation_return,
        rl.random_return
    );
    // The Q-network leaves like any model: it reloads and scores the actions.
    let dir = temp_dir("dqn-model");
    save_model(&dir, &o.model, Some(&o.summary)).unwrap();
    let device = lamina::train::DeviceChoice::cpu("test").device;
    let back = load_model(&dir, &device).unwrap();
    assert_eq!(back.class_names, vec!["push left", "push right"]);
}

#[test]
fn a_gan_on_images_saves_its_samples_as_pictures() {
    let opts = NewOptions {
        settings: vec!["training.epochs=3".into()],
        ..NewOptions::default()
    };
    // The DCGAN-style template: Dense → Reshape → Upsample + Conv 2-D generator.
    let (outcome, _) = train_all(
        "gan-images",
        Template::Dcgan,
        &sample("images/cells"),
        &opts,
    );
    let dir = temp_dir("gan-images-out");
    lamina::export::write_generated(&dir.join("fake.csv"), &outcome.model, 4).unwrap();
    let pics = dir.join("fake_images");
    for i in 1..=4 {
        let img = image::open(pics.join(format!("generated_{i:03}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (32, 32));
    }
}

#[test]
fn a_vae_on_real_pbmcs_separates_their_cell_types() {
    // scanpy's pbmc68k_reduced: 700 real cells, 10 FACS-sorted types (the largest is 34%).
    let opts = NewOptions {
        label_column: Some("bulk_labels".into()),
        settings: vec![
            "data.encoding.log1p=false".into(),
            "training.epochs=40".into(),
        ],
        ..NewOptions::default()
    };
    let data = sample("pbmc/pbmc68k_reduced.h5ad");
    let (_, events) = train_all("pbmc-vae", Template::Vae, &data, &opts);
    let knn = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Latent(l) => l.knn_agreement,
            _ => None,
        })
        .last()
        .unwrap();
    assert!(knn > 0.6, "5-NN class agreement in the latent space: {knn}");
}

#[test]
fn image_cnn_still_learns_with_flips_turns_and_shifts() {
    let mut opts = NewOptions::default();
    opts.settings.extend([
        "training.augment.flips=true".to_string(),
        "training.augment.rotations=true".to_string(),
        "training.augment.shift=2".to_string(),
    ]);
    let (o, _) = train(Template::ImageCnn, "images/cells", opts, 12);
    assert!(o.model.experiment.training.augment.rotations);
    assert_loss_falls(&o, "image_cnn augmented");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(acc > 0.5, "validation accuracy {acc} (chance 0.33)");
}

#[test]
fn an_autoencoder_trains_on_a_sparse_10x_matrix_and_predicts_on_either_format() {
    let h5 = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/10x_h5/3.0.0_filtered_feature_bc_matrix.h5");
    let mut opts = NewOptions::default();
    opts.settings.extend(
        [
            "training.epochs=15",
            "data.encoding.normalize_total=10000",
            "data.encoding.top_variable_features=200",
            "data.encoding.log1p=true",
            "data.encoding.standardize=true",
        ]
        .map(String::from),
    );
    let dir = temp_dir("sparse10x");
    let (exp, dataset, _) =
        lamina::project::new_experiment(Template::Autoencoder, &h5, &dir.join("exp.json"), &opts)
            .unwrap();
    assert!(dataset.sparse.is_some() && dataset.values.is_empty());
    let (o, _) = run_on_cpu(exp, dataset);
    assert_loss_falls(&o, "sparse autoencoder");
    assert_eq!(o.model.input_shape, [200]);

    // The model picks its 200 genes from the .h5 and from the Matrix Market
    // folder of the same run alike: the same reconstruction errors.
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    let mtx = h5.parent().unwrap().join("../10x/v3");
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let predict = |data: &Path| {
        let ds = lamina::project::read_for_model(&o.model, data).unwrap();
        assert!(ds.sparse.is_some(), "new data stays sparse too");
        train::infer(&o.model, &ds, &device).unwrap().outputs
    };
    let (a, b) = (predict(&h5), predict(&mtx));
    assert_eq!(a.len(), 1107 * 200);
    assert_eq!(a, b);
}

/// Give a stack a residual branch: after its first ReLU or leaky ReLU (that
/// follows a Dense of `k` units), a Dense of `k` units whose output is added
/// back to the activation's.
fn with_residual(stack: &mut lamina::spec::Stack) {
    use lamina::spec::{LayerSpec, Node};
    let relu = stack
        .layers
        .iter()
        .position(|n| matches!(n.layer, LayerSpec::Relu | LayerSpec::LeakyRelu { .. }))
        .expect("the template has a ReLU");
    let Some(LayerSpec::Dense { units, .. }) = stack.layers[..relu]
        .iter()
        .rev()
        .map(|n| n.layer.clone())
        .find(|l| matches!(l, LayerSpec::Dense { .. }))
    else {
        panic!("a Dense comes before the ReLU");
    };
    stack.layers[relu].id = "skip_from".into();
    let branch = Node {
        id: "branch".into(),
        inputs: Vec::new(),
        layer: LayerSpec::Dense { units, bias: true },
        frozen: false,
    };
    let add = Node {
        id: String::new(),
        inputs: vec!["branch".into(), "skip_from".into()],
        layer: LayerSpec::Add,
        frozen: false,
    };
    stack.layers.splice(relu + 1..relu + 1, [branch, add]);
}

/// Graph networks under the unsupervised tasks: an autoencoder and a VAE whose
/// encoder and decoder each have a residual branch train with falling loss.
#[test]
fn autoencoder_and_vae_with_residual_branches_train() {
    for t in [Template::Autoencoder, Template::Vae] {
        let dir = temp_dir(&format!("graph-{}", t.name()));
        let opts = NewOptions {
            settings: vec!["training.epochs=8".into()],
            ..NewOptions::default()
        };
        let (mut exp, dataset, _) =
            new_experiment(t, &sample("omics/counts.csv"), &dir.join("exp.json"), &opts).unwrap();
        for stack in &mut exp.architecture.stacks {
            with_residual(stack);
            assert!(stack.is_graph());
        }
        let (o, _) = run_on_cpu(exp, dataset);
        assert!(o.model.experiment.architecture.stacks[1].is_graph());
        assert_loss_falls(&o, t.name());
    }
}

/// Graph networks under the adversarial and reinforcement tasks: a GAN whose
/// generator and discriminator each have a residual branch still brings its
/// samples toward the real cells, and a DQN whose Q-network has one still
/// learns to keep the pole up.
#[test]
fn gan_and_dqn_with_residual_branches_learn() {
    let dir = temp_dir("graph-gan");
    let mut opts = labels_opts();
    opts.settings.push("training.epochs=300".into());
    let (mut exp, dataset, _) = new_experiment(
        Template::Gan,
        &sample("omics/counts.csv"),
        &dir.join("exp.json"),
        &opts,
    )
    .unwrap();
    for stack in &mut exp.architecture.stacks {
        with_residual(stack);
    }
    let (o, events) = run_on_cpu(exp, dataset);
    assert!(
        o.model
            .experiment
            .architecture
            .stacks
            .iter()
            .all(|s| s.is_graph())
    );
    let snaps: Vec<train::GanSnapshot> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::GanSamples(g) => Some(g),
            _ => None,
        })
        .collect();
    // The last ten epochs on average, not the last one alone: this run levels
    // off near r = 0.2 and wanders by ±0.02 between epochs, and by as much
    // between CPUs (the matrix kernels differ with AVX-512).
    let before = snaps.first().unwrap().structure_correlation;
    let last: Vec<f64> = snaps
        .iter()
        .rev()
        .take(10)
        .map(|s| s.structure_correlation)
        .collect();
    let after = last.iter().sum::<f64>() / last.len() as f64;
    assert!(
        after > before + 0.15 && after > 10.0 * before,
        "correlation structure r {before} → {after} (mean of the last ten epochs)"
    );

    let opts = NewOptions {
        settings: vec![
            "training.dqn.steps=12000".into(),
            "training.dqn.epsilon_steps=5000".into(),
        ],
        ..NewOptions::default()
    };
    let dir = temp_dir("graph-dqn");
    let (mut exp, dataset, _) = new_experiment(
        Template::DqnCartPole,
        Path::new(""),
        &dir.join("exp.json"),
        &opts,
    )
    .unwrap();
    with_residual(&mut exp.architecture.stacks[0]);
    let (o, _) = run_on_cpu(exp, dataset);
    assert!(o.model.experiment.architecture.stacks[0].is_graph());
    let rl = o.summary.rl.as_ref().unwrap();
    assert!(
        rl.evaluation_return > 3.0 * rl.random_return,
        "trained {} vs random {}",
        rl.evaluation_return,
        rl.random_return
    );
}

/// The layers a U-Net needs, in training: a transposed convolution brings the
/// coarse branch back up and a crop cuts the skip connection to meet it. An
/// image classifier built that way learns the cell shapes and reloads.
#[test]
fn an_up_and_down_network_with_a_cropped_skip_learns_cell_shapes() {
    use lamina::spec::{LayerSpec, Node, Padding, Stack};
    let dir = temp_dir("updown");
    let opts = NewOptions {
        settings: vec!["training.epochs=12".into()],
        ..NewOptions::default()
    };
    let (mut exp, dataset, _) = new_experiment(
        Template::ImageCnn,
        &sample("images/cells"),
        &dir.join("exp.json"),
        &opts,
    )
    .unwrap();
    let node = |id: &str, inputs: &[&str], layer| Node {
        id: id.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        layer,
        frozen: false,
    };
    let conv = |filters, padding| LayerSpec::Conv2d {
        filters,
        kernel: 3,
        stride: 1,
        padding,
    };
    let classes = dataset.labels.class_names().len();
    exp.architecture.stacks[0] = Stack {
        name: "network".into(),
        layers: vec![
            node("", &[], conv(8, Padding::Valid)),
            node("skip", &[], LayerSpec::Relu),
            node("", &[], LayerSpec::MaxPool2d { size: 2 }),
            node("", &[], conv(16, Padding::Valid)),
            node("", &[], LayerSpec::Relu),
            node(
                "up",
                &[],
                LayerSpec::ConvTranspose2d {
                    filters: 8,
                    kernel: 2,
                    stride: 2,
                    padding: Padding::Same,
                },
            ),
            node("crop", &["skip"], LayerSpec::CropPad { size: vec![26, 26] }),
            node("", &["up", "crop"], LayerSpec::Concatenate),
            node("", &[], conv(16, Padding::Same)),
            node("", &[], LayerSpec::Relu),
            node("", &[], LayerSpec::MaxPool2d { size: 2 }),
            node("", &[], LayerSpec::Flatten),
            node(
                "",
                &[],
                LayerSpec::Dense {
                    units: classes,
                    bias: true,
                },
            ),
        ],
    };
    let (o, _) = run_on_cpu(exp, dataset);
    assert_loss_falls(&o, "up-and-down network");
    let acc = o.summary.final_valid.as_ref().unwrap().accuracy.unwrap();
    assert!(
        acc > 0.5,
        "validation accuracy {acc} should clearly beat chance (0.33)"
    );
    let model_dir = dir.join("model");
    save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    let device = burn::tensor::Device::flex();
    let back = load_model(&model_dir, &device).unwrap();
    let (data, _, _) = lamina::project::prepare(&o.model.experiment, &dir).unwrap();
    let a = train::predict(&o.model, &data, &device).unwrap();
    let b = train::predict(&back, &data, &device).unwrap();
    assert_eq!(a, b, "the reloaded model predicts exactly the same");
}

/// A DCGAN whose generator grows its images with transposed convolutions
/// (instead of upsampling + convolution) is fitted to the images' size and
/// makes pictures of it.
#[test]
fn a_gan_generator_of_transposed_convolutions_makes_pictures_of_the_data_size() {
    use lamina::spec::{LayerSpec, Padding, Stack};
    let dir = temp_dir("gan-transposed");
    let opts = NewOptions {
        settings: vec!["training.epochs=3".into()],
        ..NewOptions::default()
    };
    let (mut exp, dataset, _) = new_experiment(
        Template::Dcgan,
        &sample("images/cells"),
        &dir.join("exp.json"),
        &opts,
    )
    .unwrap();
    let up = |filters| LayerSpec::ConvTranspose2d {
        filters,
        kernel: 4,
        stride: 2,
        padding: Padding::Same,
    };
    // Sizes deliberately wrong: fitting to the data sets the start size and the channels.
    exp.architecture.stacks[0] = Stack::chain(
        "generator",
        vec![
            LayerSpec::Dense {
                units: 16 * 3 * 3,
                bias: true,
            },
            LayerSpec::Relu,
            LayerSpec::Reshape {
                shape: vec![16, 3, 3],
            },
            up(16),
            LayerSpec::Relu,
            up(5),
            LayerSpec::Sigmoid,
        ],
    );
    assert_eq!(dataset.shape, vec![1, 32, 32]);
    exp.fit_to_data(&dataset.shape, &lamina::spec::shapes::Target::Values(1));
    assert_eq!(
        exp.architecture.stacks[0].layers[2].layer,
        LayerSpec::Reshape {
            shape: vec![16, 8, 8]
        },
        "the generator starts at the image size over its two ×2 steps"
    );
    let (o, _) = run_on_cpu(exp, dataset);
    let last = &o.history.last().unwrap().train;
    assert!(last.discriminator_loss.unwrap().is_finite());
    lamina::export::write_generated(&dir.join("fake.csv"), &o.model, 2).unwrap();
    for i in 1..=2 {
        let img = image::open(
            dir.join("fake_images")
                .join(format!("generated_{i:03}.png")),
        )
        .unwrap();
        assert_eq!((img.width(), img.height()), (32, 32));
    }
}

/// A learning rate far too high makes the loss explode: the run stops with
/// the fix instead of saving a model at chance.
#[test]
fn a_diverging_run_stops_and_says_how_to_fix_it() {
    let dir = temp_dir("diverge");
    let mut opts = labels_opts();
    opts.settings.push("training.epochs=5".into());
    opts.settings.push("training.learning_rate=1000000".into());
    let (exp, dataset, _) = new_experiment(
        Template::MlpClassifier,
        &sample("omics/counts.csv"),
        &dir.join("exp.json"),
        &opts,
    )
    .unwrap();
    let (ev_tx, _ev_rx) = mpsc::channel();
    let (_cmd_tx, cmd_rx) = mpsc::channel();
    let job = Job::new(exp, dataset, DevicePreference::Cpu);
    let Err(err) = train::run_in_pool(job, ev_tx, cmd_rx) else {
        panic!("a run with a learning rate of a million finished as if nothing were wrong");
    };
    assert!(
        (err.contains("diverged") || err.contains("became")) && err.contains("learning rate"),
        "{err}"
    );
}

/// Too few samples for any to be held back: the run says so.
#[test]
fn a_run_without_validation_samples_says_so() {
    let dir = temp_dir("one-sample");
    let rows: Vec<String> = std::fs::read_to_string(sample("omics/counts.csv"))
        .unwrap()
        .lines()
        .take(2)
        .map(String::from)
        .collect();
    let data = dir.join("one_cell.csv");
    std::fs::write(&data, rows.join("\n") + "\n").unwrap();
    let opts = NewOptions {
        settings: vec!["training.epochs=1".into()],
        ..NewOptions::default()
    };
    let (exp, dataset, _) =
        new_experiment(Template::Autoencoder, &data, &dir.join("exp.json"), &opts).unwrap();
    assert!(exp.training.validation_fraction > 0.0);
    let (o, events) = run_on_cpu(exp, dataset);
    assert_eq!(o.summary.valid_samples, 0);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Note(n) if n.contains("no validation samples"))),
        "no note said there is no validation split"
    );
}
