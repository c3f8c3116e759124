//! `lamina predict`: a trained model folder run on new data gives the same
//! numbers as the model in memory, picks table columns by name, and says what
//! is wrong with data that does not fit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lamina::data::Dataset;
use lamina::spec::Experiment;
use lamina::train::{self, DevicePreference, Job, Outcome, Worker};

fn lamina(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .expect("the lamina binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(rel)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lamina-predict-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Train a sample experiment in this process on the CPU.
fn train_sample(rel: &str, epochs: usize) -> (Outcome, Dataset) {
    let path = sample(rel);
    let mut exp = Experiment::load(&path).unwrap();
    exp.training.epochs = epochs;
    let (ds, _, _) = lamina::project::prepare(&exp, path.parent().unwrap()).unwrap();
    (train_on(exp, &ds), ds)
}

/// Train `exp` on `ds` in a background worker on the CPU.
fn train_on(exp: Experiment, ds: &Dataset) -> Outcome {
    let worker = Worker::spawn(Job::new(exp, ds.clone(), DevicePreference::Cpu));
    loop {
        match worker.recv() {
            Some(train::Event::Finished(o)) => break *o,
            Some(train::Event::Failed(e)) => panic!("{e}"),
            Some(_) => {}
            None => panic!("the worker ended without a result"),
        }
    }
}

/// `lamina predict MODEL DATA --out OUT [extra] --device cpu`, which must succeed.
fn predict_cli(model: &Path, data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "predict",
        model.to_str().unwrap(),
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend(["--device", "cpu"]);
    let r = lamina(&args);
    assert!(r.status.success(), "{}", text(&r));
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn classifier_bundle_predicts_what_the_trained_model_predicts() {
    let dir = temp_dir("classifier");
    let (o, ds) = train_sample("omics/classifier.json", 10);
    let in_memory = train::infer(
        &o.model,
        &ds,
        &lamina::train::device::DeviceChoice::cpu("test").device,
    )
    .unwrap();
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    assert!(
        model_dir.join("model.onnx").exists(),
        "an MLP exports to ONNX"
    );
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("labels.json")).unwrap())
            .unwrap();
    assert_eq!(labels["0"], "B_cell");
    assert!(
        std::fs::read_to_string(model_dir.join("README.txt"))
            .unwrap()
            .contains("network.0.weight")
    );

    // New data with the columns in another order and a text column: picked by name.
    let raw = std::fs::read_to_string(sample("omics/counts.csv")).unwrap();
    let mut lines = raw.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let mut shuffled = String::new();
    let order: Vec<usize> = std::iter::once(0).chain((1..header.len()).rev()).collect();
    let put = |cells: &[&str], extra: &str, out: &mut String| {
        let row: Vec<&str> = order.iter().map(|&i| cells[i]).collect();
        out.push_str(&row.join(","));
        out.push(',');
        out.push_str(extra);
        out.push('\n');
    };
    put(&header, "donor", &mut shuffled);
    for cells in lines {
        put(&cells, "d1", &mut shuffled);
    }
    let new_data = dir.join("shuffled.csv");
    std::fs::write(&new_data, shuffled).unwrap();

    let out = dir.join("predictions.csv");
    let o2 = lamina(&[
        "predict",
        model_dir.to_str().unwrap(),
        new_data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o2.status.success(), "{}", text(&o2));
    let (header, rows) = read_csv(&out);
    assert_eq!(header[..2], ["sample_id", "predicted"]);
    assert_eq!(
        header.len(),
        2 + 4,
        "one probability column per class: {header:?}"
    );
    assert_eq!(rows.len(), ds.len());
    let k = in_memory.output_dim;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], ds.ids[i]);
        for c in 0..k {
            let p: f32 = r[2 + c].parse().unwrap();
            let q = in_memory.outputs[i * k + c];
            assert!(
                (p - q).abs() <= 1e-5 * q.abs().max(1.0),
                "sample {i} class {c}: {p} vs {q}"
            );
        }
    }
    // And the predictions are good: the labels are known for the sample data.
    let names = ds.labels.class_names();
    let lamina::data::Labels::Classes { index, .. } = &ds.labels else {
        panic!("classes")
    };
    let correct = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| r[1] == names[index[*i]])
        .count();
    assert!(
        correct as f64 / rows.len() as f64 > 0.9,
        "{correct}/{}",
        rows.len()
    );

    // A table that lacks genes the model needs is refused with their names.
    let missing = dir.join("missing.csv");
    std::fs::write(&missing, "cell,Gene001,Gene002\nc1,1,2\n").unwrap();
    let o3 = lamina(&[
        "predict",
        model_dir.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--out",
        dir.join("x.csv").to_str().unwrap(),
    ]);
    assert_eq!(o3.status.code(), Some(1));
    let t = text(&o3);
    assert!(
        t.contains("missing.csv") && t.contains("lacks 198 of the 200") && t.contains("Gene003"),
        "{t}"
    );
    assert!(!dir.join("x.csv").exists(), "nothing is written on failure");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn autoencoder_bundle_gives_reconstruction_error_and_embeddings() {
    let dir = temp_dir("autoencoder");
    let (o, ds) = train_sample("omics/autoencoder.json", 5);
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    let out = dir.join("p.csv");
    let emb = dir.join("z.csv");
    predict_cli(
        &model_dir,
        &sample("omics/counts.csv"),
        &out,
        &["--embeddings", emb.to_str().unwrap()],
    );
    let (header, rows) = read_csv(&out);
    assert_eq!(header[1], "reconstruction_error");
    assert_eq!(header.len(), 2 + 16, "{header:?}");
    assert_eq!(rows.len(), ds.len());
    assert!(
        rows.iter()
            .all(|r| r[1].parse::<f32>().unwrap().is_finite())
    );
    let (zh, zrows) = read_csv(&emb);
    assert_eq!(zh.len(), 1 + 16);
    assert_eq!(
        zrows[0][1..],
        rows[0][2..],
        "the embeddings file holds the same latent coordinates"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sequence_model_refuses_a_table() {
    let dir = temp_dir("kind");
    let (o, _) = train_sample("dna/cnn.json", 1);
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, None).unwrap();
    let r = lamina(&[
        "predict",
        model_dir.to_str().unwrap(),
        sample("omics/counts.csv").to_str().unwrap(),
        "--out",
        dir.join("p.csv").to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_eq!(r.status.code(), Some(1));
    let t = text(&r);
    assert!(
        t.contains("trained on FASTA sequences") && t.contains("counts.csv"),
        "{t}"
    );
    // The model's own kind of data works, and the sequence length is the model's.
    let r = lamina(&[
        "predict",
        model_dir.to_str().unwrap(),
        sample("dna/promoters.fasta").to_str().unwrap(),
        "--out",
        dir.join("p.csv").to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn weights_have_readable_names_and_older_folders_still_load() {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let dir = temp_dir("names");
    let (o, ds) = train_sample("omics/vae.json", 2);
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, None).unwrap();
    let bytes = std::fs::read(model_dir.join("weights.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let names: Vec<&String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .collect();
    for want in [
        "encoder.0.weight",
        "encoder.2.mean.weight",
        "encoder.2.log_var.bias",
        "decoder.2.weight",
    ] {
        assert!(names.iter().any(|n| *n == want), "{want} in {names:?}");
    }
    assert!(names.iter().all(|n| !n.starts_with("stacks.")), "{names:?}");
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let a = train::infer(
        &lamina::export::load_model(&model_dir, &device).unwrap(),
        &ds,
        &device,
    )
    .unwrap();

    // A folder written before the names were readable (burn's own paths).
    std::fs::remove_file(model_dir.join("weights.safetensors")).unwrap();
    let mut store = SafetensorsStore::from_file(model_dir.join("weights.safetensors"));
    o.model.network.save_into(&mut store).unwrap();
    let old = lamina::export::load_model(&model_dir, &device).unwrap();
    let b = train::infer(&old, &ds, &device).unwrap();
    assert_eq!(a.latent, b.latent);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn onnx_command_writes_or_names_what_it_cannot_express() {
    let dir = temp_dir("onnx");
    let (o, _) = train_sample("dna/cnn.json", 1);
    let cnn = dir.join("cnn");
    lamina::export::save_model(&cnn, &o.model, None).unwrap();
    let file = dir.join("cnn.onnx");
    let r = lamina(&[
        "onnx",
        cnn.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(std::fs::metadata(&file).unwrap().len() > 1000);

    let (o, _) = train_sample("dna/lstm.json", 1);
    let lstm = dir.join("lstm");
    lamina::export::save_model(&lstm, &o.model, None).unwrap();
    assert!(!lstm.join("model.onnx").exists());
    let readme = std::fs::read_to_string(lstm.join("README.txt")).unwrap();
    assert!(
        readme.contains("No model.onnx") && readme.contains("LSTM"),
        "{readme}"
    );
    let r = lamina(&["onnx", lstm.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r).contains("LSTM (layer 2 of 'network')"),
        "{}",
        text(&r)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn library_size_and_variable_genes_are_fitted_saved_and_reapplied() {
    let dir = temp_dir("hvg");
    let path = sample("omics/classifier.json");
    let mut exp = Experiment::load(&path).unwrap();
    exp.training.epochs = 15;
    exp.data.encoding.normalize_total = 10_000.0;
    exp.data.encoding.top_variable_features = 50;
    exp.data.encoding.log1p = true;
    exp.data.encoding.standardize = true;
    let (ds, _, report) = lamina::project::prepare(&exp, path.parent().unwrap()).unwrap();
    assert_eq!(ds.shape, [200], "the data keeps every gene until training");
    assert_eq!(report.stacks[0].input, [50], "the network reads 50 genes");
    let o = train_on(exp, &ds);
    assert_eq!(o.model.input_shape, [50]);
    assert_eq!(o.model.feature_names.len(), 50);
    assert_eq!(o.model.preprocessing.normalize_total, 10_000.0);
    let acc = o
        .summary
        .final_valid
        .as_ref()
        .and_then(|v| v.accuracy)
        .unwrap();
    assert!(acc > 0.6, "4 classes, chance 0.25: {acc}");

    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    let out = dir.join("p.csv");
    predict_cli(&model_dir, &sample("omics/counts.csv"), &out, &[]);
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), ds.len());
    // The same numbers as the model in memory given the same 50 genes.
    let names = &o.model.feature_names;
    let mut picked = ds.clone();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| ds.feature_names.iter().position(|f| f == n).unwrap())
        .collect();
    picked.values = (0..ds.len())
        .flat_map(|i| cols.iter().map(|&c| ds.sample(i)[c]).collect::<Vec<_>>())
        .collect();
    picked.shape = vec![50];
    picked.feature_names = names.clone();
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let mem = train::infer(&o.model, &picked, &device).unwrap();
    let p: f32 = rows[7][2].parse().unwrap();
    assert!((p - mem.outputs[7 * mem.output_dim]).abs() < 1e-5, "{p}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_cancelled_model_export_leaves_the_folder_as_it_was() {
    let dir = temp_dir("cancelled-export");
    let (outcome, _) = train_sample("omics/classifier.json", 1);
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &outcome.model, None).unwrap();
    let before = std::fs::read(model_dir.join("weights.safetensors")).unwrap();
    // A second export, cancelled while it writes (as the window's Cancel does).
    let progress = std::sync::Arc::new(lamina::data::progress::LoadProgress::default());
    progress.cancel();
    let result = lamina::data::progress::with(progress, || {
        lamina::export::save_model(&model_dir, &outcome.model, Some(&outcome.summary))
    });
    let err = result.expect_err("a cancelled export fails").to_string();
    assert!(err.contains("cancelled"), "{err}");
    assert_eq!(
        std::fs::read(model_dir.join("weights.safetensors")).unwrap(),
        before
    );
    let meta = std::fs::read_to_string(model_dir.join("model.json")).unwrap();
    assert!(
        meta.contains("\"summary\": null"),
        "the first export is kept whole"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("model")],
        "no scratch folder is left"
    );
}
