//! The `lamina` command line end to end: `new` + `train` on every sample
//! experiment, `inspect` on each kind of sample data, and a corpus of bad input
//! where every case exits with code 1 and a message naming the place, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lamina(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .expect("the lamina binary runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(rel: &str) -> String {
    root()
        .join("sample-data")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lamina-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `lamina new` then `lamina train` on the CPU; returns the run folder.
fn new_and_train(name: &str, template: &str, data: &str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir(name);
    let exp = dir.join("exp.json");
    let exp_s = exp.to_string_lossy().into_owned();
    let mut args = vec!["new", &exp_s, "--template", template, "--data", data];
    args.extend_from_slice(extra);
    let o = lamina(&args);
    assert!(o.status.success(), "lamina new failed:\n{}", text(&o));
    let out = dir.join("run");
    let out_s = out.to_string_lossy().into_owned();
    let o = lamina(&["train", &exp_s, "--out", &out_s, "--device", "cpu"]);
    assert!(o.status.success(), "lamina train failed:\n{}", text(&o));
    assert!(text(&o).contains("device: CPU"), "{}", text(&o));
    for f in [
        "metrics.jsonl",
        "summary.json",
        "model/experiment.json",
        "model/model.json",
        "model/weights.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
    out
}

fn train_losses(m: &[serde_json::Value]) -> Vec<f64> {
    m.iter()
        .filter(|r| r["split"] == "train")
        .map(|r| r["loss"].as_f64().unwrap())
        .collect()
}

#[test]
fn new_and_train_a_classifier_writes_metrics_summary_and_model() {
    let labels = sample("omics/labels.csv");
    let out = new_and_train(
        "mlp",
        "mlp_classifier",
        &sample("omics/counts.csv"),
        &[
            "--labels",
            &labels,
            "--label-column",
            "cell_type",
            "--set",
            "training.epochs=4",
        ],
    );
    let m = metrics(&out);
    let losses = train_losses(&m);
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "loss falls: {losses:?}");
    let valid: Vec<_> = m.iter().filter(|r| r["split"] == "valid").collect();
    assert_eq!(valid[0]["epoch"], 1);
    assert!(valid.last().unwrap()["accuracy"].as_f64().unwrap() > 0.6);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["device_is_gpu"], false);
    assert!(summary["samples_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["wall_seconds"].as_f64().unwrap() > 0.0);
}

/// The same experiment and seed trained twice on the CPU writes the same
/// `metrics.jsonl`, byte for byte; a third run into a folder that holds a run
/// is refused and leaves that run as it was.
#[test]
fn the_same_seed_gives_the_same_metrics_and_a_run_is_never_overwritten() {
    let fasta = sample("dna/promoters.fasta");
    let args = ["--set", "training.epochs=3"];
    let first = new_and_train("seed-a", "dna_cnn", &fasta, &args);
    let second = new_and_train("seed-b", "dna_cnn", &fasta, &args);
    let a = std::fs::read(first.join("metrics.jsonl")).unwrap();
    let b = std::fs::read(second.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics(&first).len(), 6, "3 epochs, train and valid");
    assert!(
        a == b,
        "metrics differ:\n{}\n{}",
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b)
    );
    // The experiment in the run folder trains again from there.
    let exp = first.join("experiment.json");
    let again = first.parent().unwrap().join("again");
    let o = lamina(&[
        "train",
        &exp.to_string_lossy(),
        "--out",
        &again.to_string_lossy(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(again.join("metrics.jsonl")).unwrap() == a);
    // Into a folder that holds a run: refused, nothing touched.
    let before = std::fs::read(first.join("summary.json")).unwrap();
    let o = lamina(&[
        "train",
        &exp.to_string_lossy(),
        "--out",
        &first.to_string_lossy(),
        "--device",
        "cpu",
    ]);
    assert_clear_failure(&o, &["already holds a run", "metrics.jsonl"]);
    assert!(std::fs::read(first.join("summary.json")).unwrap() == before);
    assert!(std::fs::read(first.join("metrics.jsonl")).unwrap() == a);
}

/// `kill -9` in the middle of a run, then `train --resume`: the run ends with
/// exactly the metrics and summary of a run that was never interrupted.
#[test]
fn a_run_killed_midway_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let dir = temp_dir("resume");
    let exp = dir.join("exp.json");
    let exp_s = exp.to_string_lossy().into_owned();
    let o = lamina(&[
        "new",
        &exp_s,
        "--template",
        "dna_cnn",
        "--data",
        &sample("dna/promoters.fasta"),
        "--set",
        "training.epochs=40",
        "--set",
        "training.learning_rate=0.003",
        // The best epoch's weights are then part of every checkpoint.
        "--set",
        "training.early_stopping_patience=100",
        // A schedule with state of its own, which the checkpoint must carry.
        "--set",
        r#"training.schedule={"kind":"reduce_on_plateau","patience":2,"factor":0.5,"min_factor":0.01}"#,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let train = |out: &Path, resume: bool| {
        let mut args = vec!["train".to_string(), exp_s.clone(), "--out".into()];
        args.push(out.to_string_lossy().into_owned());
        args.extend(["--device".into(), "cpu".into()]);
        if resume {
            args.push("--resume".into());
        }
        let mut c = Command::new(env!("CARGO_BIN_EXE_lamina"));
        c.args(&args);
        c
    };
    let whole = dir.join("whole");
    let o = train(&whole, false).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let cut = dir.join("cut");
    let mut child = train(&cut, false)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = cut.join("checkpoint").join("state.json");
    let started = std::time::Instant::now();
    let killed_after = loop {
        let epoch = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["epoch"].as_u64());
        if let Some(e) = epoch.filter(|&e| e >= 3) {
            child.kill().unwrap(); // SIGKILL
            break e;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(started.elapsed().as_secs() < 300, "no checkpoint came");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    child.wait().unwrap();
    assert!(!cut.join("summary.json").exists(), "killed before the end");
    assert!(killed_after < 40);
    // What the killed run left is whole, and a new run is not started over it.
    let left = std::fs::read(cut.join("metrics.jsonl")).unwrap();
    let o = train(&cut, false).output().unwrap();
    assert_clear_failure(&o, &["already holds a run", "metrics.jsonl"]);
    assert!(std::fs::read(cut.join("metrics.jsonl")).unwrap() == left);

    let o = train(&cut, true).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    let a = std::fs::read(whole.join("metrics.jsonl")).unwrap();
    let b = std::fs::read(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics(&cut).len(), 80);
    assert!(
        a == b,
        "metrics differ after resuming from epoch {killed_after}"
    );
    let summary = |d: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap())
                .unwrap();
        for timing in [
            "wall_seconds",
            "prep_seconds",
            "train_seconds",
            "first_step_seconds",
            "samples_per_second",
        ] {
            v.as_object_mut().unwrap().remove(timing);
        }
        v
    };
    assert_eq!(summary(&whole), summary(&cut));
    assert!(summary(&cut)["confusion"].is_array());
    assert!(
        summary(&cut)["test"]["classifier"]["macro_auroc"].is_number(),
        "the test split is compared too"
    );
    // The plateau schedule lowered the rate, before and after the cut.
    let rates: Vec<f64> = metrics(&cut)
        .iter()
        .filter_map(|r| r["learning_rate"].as_f64())
        .collect();
    assert_eq!(rates.len(), 40);
    assert!(rates[39] < rates[0], "the rate fell: {rates:?}");
    // A finished run is not resumed again, and says why.
    let o = train(&cut, true).output().unwrap();
    assert_clear_failure(&o, &["finished run", "nothing to resume"]);
}

/// Two runs started into one folder at the same moment: one trains, the
/// other is refused with a message and writes nothing there.
#[test]
fn two_runs_into_one_folder_at_once_give_one_run_and_one_refusal() {
    let dir = temp_dir("concurrent");
    let exp = dir.join("exp.json");
    let exp_s = exp.to_string_lossy().into_owned();
    let o = lamina(&[
        "new",
        &exp_s,
        "--template",
        "dna_cnn",
        "--data",
        &sample("dna/promoters.fasta"),
        "--set",
        "training.epochs=4",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.join("run");
    let out_s = out.to_string_lossy().into_owned();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["train", &exp_s, "--out", &out_s, "--device", "cpu"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok: Vec<&Output> = outputs.iter().filter(|o| o.status.success()).collect();
    let refused: Vec<&Output> = outputs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!(ok.len(), 1, "{}\n{}", text(&outputs[0]), text(&outputs[1]));
    let why = text(refused[0]);
    assert!(
        why.contains("already holds a run") || why.contains("another Lamina run is writing"),
        "{why}"
    );
    assert_clear_failure(refused[0], &[&out_s]);
    // The one run's lines alone: 4 epochs, train and valid, in order.
    let m = metrics(&out);
    assert_eq!(m.len(), 8, "{m:?}");
    for (i, line) in m.iter().enumerate() {
        assert_eq!(line["epoch"].as_u64(), Some(i as u64 / 2 + 1), "{m:?}");
    }
    assert!(out.join("summary.json").is_file());
}

/// The weights of layer `layer` (0-based) of the first stack of a saved model, as bytes.
fn layer_weights(model: &Path, layer: usize) -> Vec<Vec<u8>> {
    use burn::store::ModuleSnapshot;
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let m = lamina::export::load_model(model, &device).unwrap();
    let prefix = format!("stacks.0.layers.{layer}.");
    m.network
        .collect(None, None, false)
        .into_iter()
        .filter(|t| t.name.starts_with(&prefix))
        .map(|t| t.to_bytes().unwrap().to_vec())
        .collect()
}

/// `train --init-from`: a DNA CNN trained on 700 sequences starts a run on 300
/// other ones far ahead of a run from scratch; a layer marked frozen keeps
/// the saved weights exactly, the others learn on.
#[test]
fn fine_tuning_from_a_saved_model_starts_ahead_and_keeps_frozen_layers() {
    let dir = temp_dir("fine-tune");
    let fasta = std::fs::read_to_string(sample("dna/promoters.fasta")).unwrap();
    let records: Vec<&str> = fasta.split_inclusive('>').collect();
    let cut = records.iter().take(701).map(|r| r.len()).sum::<usize>() - 1;
    std::fs::write(dir.join("a.fasta"), &fasta[..cut]).unwrap();
    std::fs::write(dir.join("b.fasta"), &fasta[cut..]).unwrap();
    let run = |name: &str,
               data: &str,
               epochs: &str,
               extra: &[&str],
               edit: &dyn Fn(&mut lamina::spec::Experiment)| {
        let exp = dir.join(format!("{name}.json"));
        let exp_s = exp.to_string_lossy().into_owned();
        let data = dir.join(data).to_string_lossy().into_owned();
        let set = format!("training.epochs={epochs}");
        let o = lamina(&[
            "new",
            &exp_s,
            "--template",
            "dna_cnn",
            "--data",
            &data,
            "--set",
            &set,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let mut e = lamina::spec::Experiment::load(&exp).unwrap();
        edit(&mut e);
        e.save(&exp).unwrap();
        let out = dir.join(name);
        let out_s = out.to_string_lossy().into_owned();
        let mut args = vec!["train", &exp_s, "--out", &out_s, "--device", "cpu"];
        args.extend_from_slice(extra);
        let o = lamina(&args);
        assert!(o.status.success(), "{}", text(&o));
        (out, text(&o))
    };
    let (first, _) = run("first", "a.fasta", "10", &[], &|_| {});
    let model = first.join("model");
    let model_s = model.to_string_lossy().into_owned();
    let (scratch, _) = run("scratch", "b.fasta", "3", &[], &|_| {});
    let (tuned, said) = run("tuned", "b.fasta", "3", &["--init-from", &model_s], &|e| {
        e.architecture.stacks[0].layers[0].frozen = true;
    });
    assert!(said.contains("weight tensors copied"), "{said}");
    let valid_acc = |out: &Path| -> Vec<f64> {
        metrics(out)
            .iter()
            .filter(|r| r["split"] == "valid")
            .map(|r| r["accuracy"].as_f64().unwrap())
            .collect()
    };
    let (s, t) = (valid_acc(&scratch), valid_acc(&tuned));
    assert!(
        t[0] >= 0.85 && t[0] > s[0] + 0.2,
        "after one epoch: tuned {t:?}, scratch {s:?}"
    );
    // The frozen convolution is the saved one to the bit; the dense layer moved.
    let conv = layer_weights(&model, 0);
    assert!(!conv.is_empty());
    assert_eq!(conv, layer_weights(&tuned.join("model"), 0));
    let last = lamina::spec::Experiment::load(&dir.join("tuned.json"))
        .unwrap()
        .architecture
        .stacks[0]
        .layers
        .len()
        - 1;
    assert_ne!(
        layer_weights(&model, last),
        layer_weights(&tuned.join("model"), last)
    );
    // A folder that is not a model is named, and no run is left behind.
    let o = lamina(&[
        "train",
        &dir.join("tuned.json").to_string_lossy(),
        "--out",
        &dir.join("nothing").to_string_lossy(),
        "--init-from",
        &dir.to_string_lossy(),
    ]);
    assert_clear_failure(&o, &["weights.safetensors"]);
    assert!(!dir.join("nothing").exists());
}

/// Two tables joined by sample id: `new --data2`, `train`, then `predict`
/// with both tables; refusing to predict from one of them.
#[test]
fn a_two_input_network_is_made_trained_and_run_from_the_command_line() {
    let (labels, protein) = (sample("citeseq/labels.csv"), sample("citeseq/protein.csv"));
    let rna = sample("citeseq/rna.csv");
    let out = new_and_train(
        "two_input",
        "two_input_classifier",
        &rna,
        &[
            "--data2",
            &protein,
            "--labels",
            &labels,
            "--set",
            "training.epochs=12",
        ],
    );
    let m = metrics(&out);
    let losses = train_losses(&m);
    assert!(
        losses.last().unwrap() < &losses[0],
        "loss falls: {losses:?}"
    );
    let acc = m.iter().rfind(|r| r["split"] == "valid").unwrap()["accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.7, "six classes told apart from both tables: {acc}");
    let model = out.join("model").to_string_lossy().into_owned();
    let pred = out.join("pred.csv");
    let pred_s = pred.to_string_lossy().into_owned();
    let o = lamina(&[
        "predict", &model, &rna, "--data2", &protein, "--out", &pred_s, "--device", "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = std::fs::read_to_string(&pred).unwrap();
    assert_eq!(rows.lines().count(), 301, "a header and one row per cell");
    let o = lamina(&["predict", &model, &rna, "--out", &pred_s, "--device", "cpu"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("also reads the table 'protein'"),
        "{}",
        text(&o)
    );
    // A template that joins a table refuses to be made without it.
    let dir = temp_dir("two_input_missing");
    let exp = dir.join("e.json").to_string_lossy().into_owned();
    let o = lamina(&[
        "new",
        &exp,
        "--template",
        "two_input_classifier",
        "--data",
        &rna,
        "--labels",
        &labels,
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--data2"), "{}", text(&o));
}

#[test]
fn new_and_train_a_vae_from_the_command_line() {
    let out = new_and_train(
        "vae",
        "vae",
        &sample("omics/counts.csv"),
        &["--set", "training.epochs=3"],
    );
    let m = metrics(&out);
    let losses = train_losses(&m);
    assert!(losses[2] < losses[0], "{losses:?}");
    assert!(m[0].get("kl").is_some(), "VAE metrics carry the KL term");
}

#[test]
fn bundled_sample_experiments_load_and_fit_their_data() {
    for exp in [
        "omics/classifier.json",
        "omics/autoencoder.json",
        "omics/vae.json",
        "dna/cnn.json",
        "dna/lstm.json",
        "dna/transformer.json",
        "dna/cnn_attention.json",
        "protein/transformer.json",
        "protein/lstm.json",
        "images/cnn.json",
        "images/resnet.json",
        "images/autoencoder.json",
        "citeseq/two_input.json",
    ] {
        let path = root().join("sample-data").join(exp);
        let e = lamina::spec::Experiment::load(&path).unwrap_or_else(|err| panic!("{exp}: {err}"));
        lamina::project::prepare(&e, path.parent().unwrap())
            .unwrap_or_else(|err| panic!("{exp}: {err}"));
    }
}

#[test]
fn inspect_describes_each_kind_of_sample_data() {
    let o = lamina(&["inspect", &sample("omics/counts.csv")]);
    assert!(o.status.success());
    let t = text(&o);
    assert!(
        t.contains("samples:  400") && t.contains("features: 200"),
        "{t}"
    );

    let o = lamina(&["inspect", &sample("dna/promoters.fasta")]);
    let t = text(&o);
    assert!(
        t.contains("samples:  1000")
            && t.contains("alphabet 4 (ACGT)")
            && t.contains("classes:  2"),
        "{t}"
    );

    let o = lamina(&["inspect", &sample("images/cells")]);
    let t = text(&o);
    assert!(
        t.contains("samples:  180") && t.contains("32 × 32") && t.contains("elongated (60)"),
        "{t}"
    );

    let o = lamina(&["inspect", &sample("omics/labels.csv")]);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("text columns (usable as labels): cell_type"),
        "{t}"
    );
}

/// Each bad input: exit code 1, a message naming the place, no panic.
fn assert_clear_failure(o: &Output, must_contain: &[&str]) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(1), "exit code 1 expected:\n{t}");
    for m in must_contain {
        assert!(t.contains(m), "message should contain '{m}':\n{t}");
    }
    assert!(
        !t.contains("panicked") && !t.contains("internal error"),
        "no panic:\n{t}"
    );
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_code_1() {
    let dir = temp_dir("bad");
    let w = |name: &str, body: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().into_owned()
    };

    let ragged = w("ragged.csv", b"id,a,b,c\ns1,1,2,3\ns2,4,5\n");
    assert_clear_failure(
        &lamina(&["inspect", &ragged]),
        &["line 3 of", "ragged.csv", "has 3 values", "4 columns"],
    );

    let text_cell = w("text.csv", b"id,a,b\ns1,1,2\ns2,3,x7\n");
    assert_clear_failure(
        &lamina(&["inspect", &text_cell]),
        &["line 3", "column 'b'", "'x7' is not a number"],
    );

    let empty = w("empty.csv", b"");
    assert_clear_failure(&lamina(&["inspect", &empty]), &["empty.csv is empty"]);
    let empty_fa = w("empty.fasta", b"");
    assert_clear_failure(&lamina(&["inspect", &empty_fa]), &["empty.fasta is empty"]);

    let bad_fa = w(
        "bad.fasta",
        b">ok label=1\nACGTACGT\n>broken label=0\nACGT!CGT\n",
    );
    assert_clear_failure(
        &lamina(&["inspect", &bad_fa]),
        &["record 2 ('broken')", "'!' at position 5"],
    );

    let img_dir = dir.join("imgs");
    std::fs::create_dir_all(img_dir.join("a")).unwrap();
    std::fs::write(
        img_dir.join("a").join("broken.png"),
        b"\x89PNG but not really",
    )
    .unwrap();
    assert_clear_failure(
        &lamina(&["inspect", &img_dir.to_string_lossy()]),
        &["broken.png"],
    );

    // Labels whose ids do not match the samples.
    let labels = w("labels.csv", b"cell,type\nother1,T\nother2,B\n");
    let exp = dir.join("mismatch.json").to_string_lossy().into_owned();
    let o = lamina(&[
        "new",
        &exp,
        "--template",
        "mlp_classifier",
        "--data",
        &sample("omics/counts.csv"),
        "--labels",
        &labels,
        "--label-column",
        "type",
    ]);
    assert_clear_failure(&o, &["400 of 400 samples", "labels.csv", "'cell0001'"]);

    // An architecture whose shapes do not fit: Conv 1-D on a table of numbers.
    let exp_path = dir.join("shapes.json");
    let labels_ok = sample("omics/labels.csv");
    let o = lamina(&[
        "new",
        &exp_path.to_string_lossy(),
        "--template",
        "mlp_classifier",
        "--data",
        &sample("omics/counts.csv"),
        "--labels",
        &labels_ok,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut e = lamina::spec::Experiment::load(&exp_path).unwrap();
    e.architecture.stacks[0].layers.insert(
        0,
        lamina::spec::LayerSpec::from_kind("Conv1d").unwrap().into(),
    );
    e.save(&exp_path).unwrap();
    let out = dir.join("run").to_string_lossy().into_owned();
    let o = lamina(&[
        "train",
        &exp_path.to_string_lossy(),
        "--out",
        &out,
        "--device",
        "cpu",
    ]);
    assert_clear_failure(
        &o,
        &["layer 1 (Conv 1-D) of 'network'", "flat vector of 200"],
    );

    // A broken experiment file names its line.
    let broken = w(
        "broken.json",
        b"{\n  \"name\": \"x\",\n  \"training\": {\"epochs\": \"ten\"}\n}\n",
    );
    assert_clear_failure(
        &lamina(&["train", &broken, "--out", &out]),
        &["broken.json", "line 3"],
    );

    // A missing data file.
    assert_clear_failure(
        &lamina(&["inspect", "/no/such/file.csv"]),
        &["/no/such/file.csv does not exist"],
    );
}

#[test]
fn export_draws_the_plots_of_a_run_folder() {
    let dir = temp_dir("export");
    let out = dir.join("run");
    let o = lamina(&[
        "train",
        &sample("omics/classifier.json"),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("confusion (rows: true class"),
        "{}",
        text(&o)
    );
    let pics = dir.join("pictures");
    let o = lamina(&[
        "export",
        out.to_str().unwrap(),
        "--out",
        pics.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["loss.png", "accuracy.png", "confusion.png"] {
        let bytes = std::fs::read(pics.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(&bytes[1..4], b"PNG", "{f}");
    }
    // A folder that is not a run says so.
    let o = lamina(&["export", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("metrics.jsonl"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(dir);
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
}

/// A classifier with a test share: the held-out samples are scored once at
/// the end, and `summary.json` holds everything a reviewer asks for; the ROC
/// and precision-recall curves are drawn as PNG.
#[test]
fn a_classifier_reports_its_test_split_in_full_with_roc_and_pr_curves() {
    let labels = sample("omics/labels.csv");
    let out = new_and_train(
        "test-split",
        "mlp_classifier",
        &sample("omics/counts.csv"),
        &[
            "--labels",
            &labels,
            "--label-column",
            "cell_type",
            "--set",
            "training.epochs=6",
            "--set",
            "training.test_fraction=0.2",
            "--set",
            "training.class_weights=balanced",
        ],
    );
    let started = json(&out.join("started.json"));
    let sizes =
        ["train_samples", "valid_samples", "test_samples"].map(|k| started[k].as_u64().unwrap());
    // 400 cells, 100 of each type: 20 of each held out to validate, 20 to test.
    assert_eq!(sizes, [240, 80, 80]);
    let summary = json(&out.join("summary.json"));
    let test = &summary["test"];
    assert_eq!(test["split"], "test");
    assert_eq!(test["samples"], 80);
    let c = &test["classifier"];
    let accuracy = c["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.6,
        "test accuracy {accuracy} should clearly beat chance (0.25)"
    );
    for key in [
        "balanced_accuracy",
        "macro_f1",
        "macro_auroc",
        "macro_auprc",
    ] {
        let v = c[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let classes = c["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 4);
    for k in classes {
        assert_eq!(k["support"], 20, "stratified: {k}");
        for key in ["precision", "recall", "f1", "auroc", "auprc"] {
            assert!(k[key].as_f64().is_some(), "{key} of {}", k["name"]);
        }
        assert!(k["roc"]["x"].as_array().unwrap().len() >= 2);
    }
    let counted: u64 = c["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 80);
    // The kept weights are the lowest validation loss's, and the summary says which.
    let best = summary["best_epoch"].as_u64().unwrap();
    assert_eq!(summary["kept_epoch"].as_u64(), Some(best));
    assert!(
        summary["validation"]["classifier"]["accuracy"]
            .as_f64()
            .is_some()
    );
    // The live confusion matrix is in every epoch's validation line.
    let m = metrics(&out);
    let valid: Vec<_> = m.iter().filter(|r| r["split"] == "valid").collect();
    assert_eq!(valid.len(), 6);
    assert!(
        valid
            .iter()
            .all(|r| r["confusion"].as_array().is_some_and(|a| a.len() == 4))
    );
    for f in ["roc.png", "pr.png", "confusion.png"] {
        assert_png(&out.join(f));
    }
    assert_reproducibility(&summary, &["omics/counts.csv", "omics/labels.csv"]);
}

/// The summary's reproducibility record: the seed, the SHA-256 of each input
/// (computed here independently), and versions read from the build.
fn assert_reproducibility(summary: &serde_json::Value, inputs: &[&str]) {
    use sha2::Digest;
    let r = &summary["reproducibility"];
    assert_eq!(r["seed"], 42, "{r}");
    let listed = r["inputs"].as_array().expect("inputs");
    assert_eq!(listed.len(), inputs.len(), "{r}");
    for (entry, rel) in listed.iter().zip(inputs) {
        let bytes = std::fs::read(sample(rel)).unwrap();
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entry["sha256"], sha.as_str(), "{entry}");
        assert_eq!(entry["bytes"], bytes.len());
    }
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let burn = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"burn\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .unwrap()
        .trim_matches('"');
    assert_eq!(r["burn_version"], burn);
    assert_eq!(r["lamina_version"], env!("CARGO_PKG_VERSION"));
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        // The binary is rebuilt when the checkout's HEAD or index changes.
        assert!(
            r["git_commit"]
                .as_str()
                .is_some_and(|c| c.starts_with(&head)),
            "{r} vs {head}"
        );
    }
    assert!(r["os"].as_str().unwrap().starts_with(std::env::consts::OS));
    assert!(r["cpu"].as_str().unwrap().contains("threads"));
    assert!(r["device"].as_str().unwrap().starts_with("CPU"));
}

/// A regression's test split gets MSE, MAE, R² and a predicted-vs-true plot.
#[test]
fn a_regression_reports_mse_mae_and_r2_on_its_test_split() {
    let dir = temp_dir("regression-data");
    let table = dir.join("values.csv");
    let mut csv = String::from("id,a,b,c,y\n");
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64 - 0.5
    };
    for i in 0..300 {
        let (a, b, c) = (next(), next(), next());
        csv.push_str(&format!(
            "s{i},{a:.5},{b:.5},{c:.5},{:.5}\n",
            3.0 * a - 2.0 * b
        ));
    }
    std::fs::write(&table, csv).unwrap();
    // Read as classes (the template's task), the numbers get a note.
    let exp = dir.join("as_classes.json");
    let o = lamina(&[
        "new",
        exp.to_str().unwrap(),
        "--template",
        "mlp_classifier",
        "--data",
        table.to_str().unwrap(),
        "--label-column",
        "y",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("300 distinct numbers, read as 300 classes"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("… and 280 more"), "{}", text(&o));
    // An existing experiment file is kept unless --force says otherwise.
    let before = std::fs::read(&exp).unwrap();
    let again = [
        "new",
        exp.to_str().unwrap(),
        "--template",
        "autoencoder",
        "--data",
        table.to_str().unwrap(),
    ];
    let o = lamina(&again);
    assert_clear_failure(&o, &["already exists", "--force"]);
    assert_eq!(std::fs::read(&exp).unwrap(), before, "left as it was");
    let o = lamina(&[&again[..], &["--force"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(std::fs::read(&exp).unwrap(), before);
    let out = new_and_train(
        "regression",
        "mlp_classifier",
        table.to_str().unwrap(),
        &[
            "--label-column",
            "y",
            "--set",
            "task=regression",
            "--set",
            "data.table.regression_target=true",
            "--set",
            "training.epochs=40",
        ],
    );
    let summary = json(&out.join("summary.json"));
    let r = &summary["test"]["regression"];
    assert_eq!(summary["test"]["samples"], 30);
    let (mse, mae, r2) = (
        r["mse"].as_f64().unwrap(),
        r["mae"].as_f64().unwrap(),
        r["r2"].as_f64().unwrap(),
    );
    assert!(r2 > 0.8, "a linear target is learned: R² {r2}");
    assert!(
        mae > 0.0 && mse > 0.0 && mae * mae <= mse + 1e-12,
        "MAE² ≤ MSE: {mae} {mse}"
    );
    assert_eq!(r["truth"].as_array().unwrap().len(), 30);
    assert_png(&out.join("predicted_vs_true.png"));
    let _ = std::fs::remove_dir_all(dir);
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv_reader(path);
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn csv_reader(path: &Path) -> csv::Reader<std::fs::File> {
    csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

use std::collections::BTreeMap;

/// A 3 × 2 grid: six run folders, each a whole run, and `sweep.csv` with
/// their settings and test scores; running it again keeps what is done, and
/// another sweep is not written into its folder.
#[test]
fn a_sweep_of_six_runs_writes_one_run_folder_each_and_a_table() {
    let dir = temp_dir("sweep");
    let exp = dir.join("exp.json");
    let labels = sample("omics/labels.csv");
    let o = lamina(&[
        "new",
        exp.to_str().unwrap(),
        "--template",
        "mlp_classifier",
        "--data",
        &sample("omics/counts.csv"),
        "--labels",
        &labels,
        "--label-column",
        "cell_type",
        "--set",
        "training.epochs=4",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.join("sweep");
    let sweep = |vary: &[&str]| {
        let mut args = vec![
            "sweep",
            exp.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        for v in vary {
            args.extend(["--vary", v]);
        }
        args.extend(["--device", "cpu", "--parallel", "2"]);
        lamina(&args)
    };
    let grid = [
        "training.learning_rate=1e-4,1e-3,1e-2",
        "training.batch_size=32,64",
    ];
    let o = sweep(&grid);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("6 of 6 runs finished"), "{}", text(&o));
    let rows = csv_rows(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 6);
    let settings: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["training.learning_rate"].clone(),
                r["training.batch_size"].clone(),
            )
        })
        .collect();
    assert_eq!(settings[0], ("1e-4".into(), "32".into()));
    assert_eq!(settings[5], ("1e-2".into(), "64".into()));
    for r in &rows {
        assert_eq!(r["status"], "finished", "{r:?}");
        let acc: f64 = r["test_accuracy"].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let run = out.join(&r["run"]);
        // Each is a whole run folder, trained with its own settings.
        let trained = json(&run.join("experiment.json"));
        assert_eq!(
            trained["training"]["batch_size"].to_string(),
            r["training.batch_size"]
        );
        assert!(run.join("model/weights.safetensors").is_file());
    }
    // The learning rate matters: the smallest learns least in four epochs.
    let loss = |i: usize| rows[i]["valid_loss"].parse::<f64>().unwrap();
    assert!(loss(0) > loss(2) && loss(0) > loss(4), "{rows:?}");

    // Again: nothing is trained twice.
    let before = std::fs::read(out.join(&rows[3]["run"]).join("metrics.jsonl")).unwrap();
    let o = sweep(&grid);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("finished earlier").count(),
        6,
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read(out.join(&rows[3]["run"]).join("metrics.jsonl")).unwrap(),
        before
    );
    // Another sweep into the same folder is refused.
    let o = sweep(&["training.learning_rate=0.5"]);
    assert_clear_failure(&o, &["already holds", "other settings"]);
    let _ = std::fs::remove_dir_all(dir);
}

/// `--folds 3`: three runs whose validation samples are disjoint, and their
/// mean and standard deviation.
#[test]
fn cross_validation_trains_every_fold_and_reports_mean_and_sd() {
    let dir = temp_dir("folds");
    let out = dir.join("cv");
    let o = lamina(&[
        "sweep",
        &sample("omics/classifier.json"),
        "--folds",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("over 3 folds"), "{}", text(&o));
    let rows = csv_rows(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 3);
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["fold"], i.to_string());
        let started = json(&out.join(&r["run"]).join("started.json"));
        let n = started["valid_samples"].as_u64().unwrap();
        // 4 × 100 cells, each type dealt into 3 folds (34 + 33 + 33).
        assert!((132..=136).contains(&n), "{n}");
        total += n;
        let latent = json(&out.join(&r["run"]).join("latent.json"));
        for id in latent["ids"].as_array().unwrap() {
            assert!(
                seen.insert(id.as_str().unwrap().to_string()),
                "{id} validates twice"
            );
        }
    }
    assert_eq!(total, 400);
    let folds = csv_rows(&out.join("folds.csv"));
    assert_eq!(folds.len(), 1);
    assert_eq!(folds[0]["folds_finished"], "3 of 3");
    let mean: f64 = folds[0]["valid_accuracy_mean"].parse().unwrap();
    let sd: f64 = folds[0]["valid_accuracy_sd"].parse().unwrap();
    let accs: Vec<f64> = rows
        .iter()
        .map(|r| r["valid_accuracy"].parse().unwrap())
        .collect();
    assert!((mean - accs.iter().sum::<f64>() / 3.0).abs() < 1e-9);
    assert!((0.0..0.5).contains(&sd));
    let _ = std::fs::remove_dir_all(dir);
}
