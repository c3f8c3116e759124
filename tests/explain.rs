//! Explanations find what the data was made of: on DNA with a motif planted
//! at a random place in the positive sequences, the attributions of a trained
//! CNN point at the motif, a first-layer filter learns it, and `lamina
//! explain` writes the files it names.

use std::path::{Path, PathBuf};
use std::process::Command;

use lamina::data::Dataset;
use lamina::explain::{self, Baseline, Explained, Method};
use lamina::spec::templates::Template;
use lamina::train::{self, DevicePreference, Job, Worker};
use rand::{RngExt, SeedableRng};

const MOTIF: &str = "TGCTATAAT";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lamina-explain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` random 100-letter sequences, every second one with the motif planted
/// (each letter of it changed with p = 0.1) at a random place; the place is
/// returned (None for the negatives).
fn planted(path: &Path, n: usize, seed: u64) -> Vec<Option<usize>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let letters = b"ACGT";
    let mut text = String::new();
    let mut places = Vec::new();
    for i in 0..n {
        let mut s: Vec<u8> = (0..100).map(|_| letters[rng.random_range(0..4)]).collect();
        let place = (i % 2 == 1).then(|| rng.random_range(0..100 - MOTIF.len()));
        if let Some(at) = place {
            for (k, b) in MOTIF.bytes().enumerate() {
                s[at + k] = if rng.random::<f32>() < 0.1 {
                    letters[rng.random_range(0..4)]
                } else {
                    b
                };
            }
        }
        text += &format!(
            ">seq{i} label={}\n{}\n",
            i % 2,
            String::from_utf8(s).unwrap()
        );
        places.push(place);
    }
    std::fs::write(path, text).unwrap();
    places
}

fn read(path: &Path) -> Dataset {
    lamina::data::inspect(path).unwrap()
}

/// The DNA CNN template trained on `train_fasta` on the CPU.
fn trained(train_fasta: &Path) -> train::Outcome {
    let mut exp = Template::DnaCnn.experiment();
    exp.data.path = train_fasta.to_path_buf();
    exp.training.epochs = 12;
    let (ds, _, _) = lamina::project::prepare(&exp, Path::new("")).unwrap();
    train_on(exp, ds)
}

/// Train `exp` on `ds` in a background worker on the CPU.
fn train_on(exp: lamina::spec::Experiment, ds: Dataset) -> train::Outcome {
    let worker = Worker::spawn(Job::new(exp, ds, DevicePreference::Cpu));
    loop {
        match worker.recv() {
            Some(train::Event::Finished(o)) => break *o,
            Some(train::Event::Failed(e)) => panic!("{e}"),
            Some(_) => {}
            None => panic!("the worker ended without a result"),
        }
    }
}

/// The share of positives whose best 9-letter window by `score` overlaps the motif.
fn share_on_motif(track: &[f32], places: &[Option<usize>]) -> f64 {
    let (mut hit, mut total) = (0, 0);
    for (s, place) in places.iter().enumerate() {
        let &Some(at) = place else { continue };
        let t = &track[s * 100..(s + 1) * 100];
        let best = (0..=100 - MOTIF.len())
            .max_by(|&a, &b| {
                let sum = |i: usize| t[i..i + MOTIF.len()].iter().sum::<f32>();
                sum(a).total_cmp(&sum(b))
            })
            .unwrap();
        total += 1;
        if best < at + MOTIF.len() && at < best + MOTIF.len() {
            hit += 1;
        }
    }
    hit as f64 / total as f64
}

/// The best Pearson correlation of `pwm` with the motif's one-hot matrix at
/// any offset where at least six columns overlap.
fn motif_match(pwm: &[Vec<f32>]) -> f64 {
    let motif: Vec<[f32; 4]> = MOTIF
        .bytes()
        .map(|b| {
            let i = b"ACGT".iter().position(|&l| l == b).unwrap();
            std::array::from_fn(|c| f32::from(c == i))
        })
        .collect();
    let w = pwm.len() as isize;
    let m = motif.len() as isize;
    let mut best = f64::MIN;
    for offset in -(w - 6)..=(m - 6) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for j in 0..w {
            let k = j + offset;
            if (0..m).contains(&k) {
                a.extend(pwm[j as usize].iter().map(|&v| v as f64));
                b.extend(motif[k as usize].iter().map(|&v| v as f64));
            }
        }
        if a.len() >= 24 {
            best = best.max(pearson(&a, &b));
        }
    }
    best
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-12)
}

#[test]
fn attributions_mutagenesis_and_motifs_find_a_planted_motif() {
    let dir = temp_dir("planted");
    let train_path = dir.join("train.fasta");
    planted(&train_path, 800, 1);
    let test_path = dir.join("test.fasta");
    let places = planted(&test_path, 200, 2);
    let o = trained(&train_path);
    let test = read(&test_path);
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let positive = Explained::named(&o.model, "1").unwrap();

    let methods = [
        ("gradient × input", Method::GradientTimesInput),
        (
            "integrated gradients (zeros)",
            Method::IntegratedGradients {
                steps: 32,
                baseline: Baseline::Zeros,
            },
        ),
        (
            "integrated gradients (shuffled)",
            Method::IntegratedGradients {
                steps: 32,
                baseline: Baseline::Shuffled { seed: 0 },
            },
        ),
    ];
    for (name, method) in &methods {
        let a = explain::attribute(&o.model, &test, method, &positive, &device).unwrap();
        let (track, width) = a.summed();
        assert_eq!(width, 100);
        let share = share_on_motif(&track, &places);
        eprintln!(
            "{name}: the best 9-letter window overlaps the motif in {share:.3} of the positives"
        );
        assert!(share >= 0.8, "{name}: {share}");
    }
    let map = explain::mutagenesis(&o.model, &test, &positive, &device).unwrap();
    let tracks: Vec<f32> = (0..test.len())
        .flat_map(|s| map.track(s).into_iter().map(f32::abs))
        .collect();
    let share = share_on_motif(&tracks, &places);
    eprintln!(
        "mutagenesis: the best 9-letter window overlaps the motif in {share:.3} of the positives"
    );
    assert!(share >= 0.8, "mutagenesis: {share}");

    let motifs = explain::first_layer_motifs(&o.model, &test, 100).unwrap();
    let (filter, r) = motifs
        .iter()
        .map(|m| (m.filter, motif_match(&m.pwm)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    eprintln!(
        "motifs: filter {} matches the planted motif best, Pearson r = {r:.3}",
        filter + 1
    );
    assert!(r >= 0.7, "best motif match {r}");
}

#[test]
fn explain_writes_attributions_mutagenesis_motifs_and_logos_and_keeps_earlier_files() {
    let dir = temp_dir("cli");
    let train_path = dir.join("train.fasta");
    planted(&train_path, 200, 3);
    let test_path = dir.join("test.fasta");
    planted(&test_path, 10, 4);
    let o = trained(&train_path);
    let model_dir = dir.join("model");
    lamina::export::save_model(&model_dir, &o.model, Some(&o.summary)).unwrap();
    let out = dir.join("why");
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            model_dir.to_str().unwrap(),
            test_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(&args)
            .output()
            .unwrap()
    };
    let r = explain(&["--class", "1"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = std::fs::read_to_string(out.join("attributions.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 101);
    assert_eq!(
        (header[0], header[1], header[100]),
        ("id", "pos1", "pos100")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 10);
    assert!(rows[0].starts_with("seq0,"));
    let npy = std::fs::read(out.join("attributions.npy")).unwrap();
    assert!(String::from_utf8_lossy(&npy[..128]).contains("'shape': (10, 100, )"));
    let explained = std::fs::read_to_string(out.join("explained.csv")).unwrap();
    assert!(explained.starts_with("id,explained,score,baseline_score\nseq0,1,"));
    let meme = std::fs::read_to_string(out.join("motifs.meme")).unwrap();
    let filters = meme.matches("\nMOTIF filter_").count();
    assert!(filters > 0, "{meme}");
    let logos = std::fs::read_dir(out.join("logos")).unwrap().count();
    assert_eq!(logos, filters, "one logo per motif");

    // A second explanation into the same folder is refused and changes nothing.
    let before = std::fs::read(out.join("attributions.csv")).unwrap();
    let r = explain(&["--method", "mutagenesis"]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("attributions.csv")).unwrap(), before);
    // With --force it writes the mutagenesis map.
    let r = explain(&["--method", "mutagenesis", "--force"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let npy = std::fs::read(out.join("mutagenesis.npy")).unwrap();
    assert!(String::from_utf8_lossy(&npy[..128]).contains("'shape': (10, 100, 4, )"));

    // A class the model does not have is named, with those it has.
    let r = explain(&["--class", "promoter", "--force"]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("no class 'promoter'") && err.contains("'0', '1'"),
        "{err}"
    );
}

#[test]
fn gene_importance_ranks_the_sample_generators_markers_first() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/omics/classifier.json");
    let mut exp = lamina::spec::Experiment::load(&path).unwrap();
    exp.training.epochs = 15;
    let (ds, _, _) = lamina::project::prepare(&exp, path.parent().unwrap()).unwrap();
    let o = train_on(exp, ds.clone());
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let imp = explain::feature_importance(&o.model, &ds, Some(&ds.labels), &device).unwrap();
    assert_eq!(imp.against, explain::Against::Labels);
    let markers = std::fs::read_to_string(path.parent().unwrap().join("markers.csv")).unwrap();
    for (c, class) in imp.classes.iter().enumerate() {
        let planted: Vec<&str> = markers
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(','))
            .filter(|(t, _)| t == class)
            .map(|(_, g)| g)
            .collect();
        assert_eq!(planted.len(), 12);
        let top: Vec<&str> = imp.ranked(c)[..12]
            .iter()
            .map(|&j| imp.features[j].as_str())
            .collect();
        let overlap = top.iter().filter(|g| planted.contains(g)).count();
        eprintln!("{class}: {overlap} of its 12 marker genes are among its 12 top-ranked genes");
        assert!(overlap >= 8, "{class}: {overlap} of 12 ({top:?})");
        // Shuffling a top gene costs its class more than shuffling a bottom one.
        let f = imp.features.len();
        let ranked = imp.ranked(c);
        let p = |j: usize| imp.permutation[c * f + j];
        let top_mean: f32 = ranked[..12].iter().map(|&j| p(j)).sum::<f32>() / 12.0;
        let bottom_mean: f32 = ranked[f - 12..].iter().map(|&j| p(j)).sum::<f32>() / 12.0;
        assert!(
            top_mean > bottom_mean,
            "{class}: {top_mean} ≤ {bottom_mean}"
        );
    }
}

/// A mask of the cell in a grey image: the 5 × 5 mean above Otsu's threshold.
fn cell_mask(img: &[f32], h: usize, w: usize) -> Vec<bool> {
    let smooth: Vec<f32> = (0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as isize, (i % w) as isize);
            let mut sum = 0.0;
            for dy in -2..=2 {
                for dx in -2..=2 {
                    let yy = (y + dy).clamp(0, h as isize - 1) as usize;
                    let xx = (x + dx).clamp(0, w as isize - 1) as usize;
                    sum += img[yy * w + xx];
                }
            }
            sum / 25.0
        })
        .collect();
    let (lo, hi) = smooth
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let mut best = (f32::MIN, lo);
    for k in 1..63 {
        let t = lo + (hi - lo) * k as f32 / 63.0;
        let (a, b): (Vec<f32>, Vec<f32>) = smooth.iter().partition(|&&v| v <= t);
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let score = a.len() as f32 * b.len() as f32 * (mean(&a) - mean(&b)).powi(2);
        if score > best.0 {
            best = (score, t);
        }
    }
    smooth.iter().map(|&v| v > best.1).collect()
}

#[test]
fn grad_cam_and_integrated_gradients_lie_on_the_cells_of_the_image_samples() {
    // A network that flattens its last maps into a dense layer, and one
    // that averages them (the residual network).
    for sample in ["images/cnn.json", "images/resnet.json"] {
        cells_are_explained(sample);
    }
}

fn cells_are_explained(sample: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(sample);
    let exp = lamina::spec::Experiment::load(&path).unwrap();
    let (ds, _, _) = lamina::project::prepare(&exp, path.parent().unwrap()).unwrap();
    let o = train_on(exp, ds.clone());
    let device = lamina::train::device::DeviceChoice::cpu("test").device;
    let cam = explain::grad_cam(&o.model, &ds, &Explained::Predicted, &device).unwrap();
    eprintln!("{sample}: Grad-CAM from maps of {:?}", cam.coarse);
    let ig = explain::attribute(
        &o.model,
        &ds,
        &Method::IntegratedGradients {
            steps: 16,
            baseline: Baseline::Zeros,
        },
        &Explained::Predicted,
        &device,
    )
    .unwrap();
    let (ig, _) = ig.summed();
    let (h, w) = (cam.height, cam.width);
    let lamina::data::Labels::Classes { index, names } = &ds.labels else {
        panic!("the image folders are classes");
    };
    for (c, name) in names.iter().enumerate() {
        let (mut cam_in, mut ig_in, mut area, mut n) = (0.0, 0.0, 0.0, 0.0);
        for s in (0..ds.len()).filter(|&s| index[s] == c) {
            let mask = cell_mask(&ds.sample(s), h, w);
            let share = |map: &[f32]| -> f64 {
                let pos = |i: usize| map[i].max(0.0) as f64;
                let total: f64 = (0..h * w).map(pos).sum();
                (0..h * w).filter(|&i| mask[i]).map(pos).sum::<f64>() / total.max(1e-12)
            };
            cam_in += share(&cam.maps[s * h * w..(s + 1) * h * w]);
            ig_in += share(&ig[s * h * w..(s + 1) * h * w]);
            area += mask.iter().filter(|m| **m).count() as f64 / (h * w) as f64;
            n += 1.0;
        }
        let (cam_in, ig_in, area) = (cam_in / n, ig_in / n, area / n);
        eprintln!(
            "{sample} {name}: Grad-CAM puts {cam_in:.3} and integrated gradients {ig_in:.3} of their mass inside the cell mask, which covers {area:.3} of the image"
        );
        assert!(
            cam_in > 2.0 * area,
            "{sample} {name}: Grad-CAM {cam_in} vs area {area}"
        );
        assert!(
            ig_in > 3.0 * area,
            "{sample} {name}: integrated gradients {ig_in} vs area {area}"
        );
    }
}
