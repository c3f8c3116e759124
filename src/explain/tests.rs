use burn::tensor::Device;

use super::*;
use crate::data::{DataKind, Labels, Preprocessing};
use crate::spec::shapes::Target;
use crate::spec::templates::Template;

/// An untrained model of `template` for samples of `shape`: the maths of the
/// attributions holds for any weights.
fn model(template: Template, shape: &[usize], classes: usize) -> TrainedModel {
    let exp = template.experiment();
    let target = Target::Classes(classes);
    let (network, _) = crate::model::build(&exp, shape, &target, &Device::flex()).unwrap();
    TrainedModel {
        experiment: exp,
        network,
        preprocessing: Preprocessing::default(),
        class_names: (0..classes).map(|c| format!("class{c}")).collect(),
        feature_names: Vec::new(),
        input_shape: shape.to_vec(),
        target,
    }
}

/// `n` random DNA sequences of `len` letters, one-hot, the last one shorter.
fn dna(n: usize, len: usize) -> Dataset {
    let mut values = vec![0.0; n * 4 * len];
    let mut lengths = vec![len; n];
    lengths[n - 1] = len / 2;
    let mut state = 7u64;
    for s in 0..n {
        for p in 0..lengths[s] {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let letter = (state >> 33) as usize % 4;
            values[s * 4 * len + letter * len + p] = 1.0;
        }
    }
    Dataset {
        kind: DataKind::Sequences,
        source: "test.fasta".into(),
        ids: (0..n).map(|i| format!("s{i}")).collect(),
        shape: vec![4, len],
        values,
        feature_names: ["A", "C", "G", "T"].map(String::from).to_vec(),
        labels: Labels::None,
        max_value: 1.0,
        notes: Vec::new(),
        text_columns: Vec::new(),
        lengths: Some(lengths),
        sparse: None,
        joined: Vec::new(),
    }
}

fn table(n: usize, features: usize) -> Dataset {
    let values = (0..n * features)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Dataset {
        kind: DataKind::Table,
        source: "test.csv".into(),
        ids: (0..n).map(|i| format!("r{i}")).collect(),
        shape: vec![features],
        values,
        feature_names: (0..features).map(|f| format!("g{f}")).collect(),
        labels: Labels::None,
        max_value: f32::MAX,
        notes: Vec::new(),
        text_columns: Vec::new(),
        lengths: None,
        sparse: None,
        joined: Vec::new(),
    }
}

/// Integrated gradients are complete: each sample's attributions add up to
/// its score minus the baseline's (up to the error of the steps).
fn assert_complete(model: &TrainedModel, data: &Dataset, baseline: Baseline, steps: usize) {
    let method = Method::IntegratedGradients { steps, baseline };
    let a = attribute(model, data, &method, &Explained::Output(1), &Device::flex()).unwrap();
    let (summed, _) = a.summed();
    let width = summed.len() / a.len();
    let base = a.baseline_scores.as_ref().unwrap();
    for s in 0..a.len() {
        let total: f32 = summed[s * width..(s + 1) * width].iter().sum();
        let diff = a.scores[s] - base[s];
        assert!(
            (total - diff).abs() <= 0.02 * diff.abs().max(0.05),
            "sample {s}: attributions sum to {total}, the score moved by {diff}"
        );
    }
}

#[test]
fn integrated_gradients_add_up_to_the_change_of_the_score() {
    let m = model(Template::MlpClassifier, &[12], 2);
    assert_complete(&m, &table(6, 12), Baseline::Zeros, 256);
    let m = model(Template::DnaCnn, &[4, 40], 2);
    let data = dna(5, 40);
    assert_complete(&m, &data, Baseline::Zeros, 200);
    assert_complete(&m, &data, Baseline::Shuffled { seed: 3 }, 200);
}

#[test]
fn gradient_times_input_is_zero_where_a_sequence_has_no_letter() {
    let m = model(Template::DnaCnn, &[4, 40], 2);
    let data = dna(3, 40);
    let a = attribute(
        &m,
        &data,
        &Method::GradientTimesInput,
        &Explained::Predicted,
        &Device::flex(),
    )
    .unwrap();
    let (summed, width) = a.summed();
    assert_eq!(width, 40);
    // The last sample is 20 letters long: nothing past them.
    assert!(summed[2 * 40 + 20..].iter().all(|v| *v == 0.0));
    assert!(summed[..40].iter().any(|v| *v != 0.0));
    // Predicted: each sample's own highest score.
    let (scores, _) = Scorer::new(&m, &data, &Device::flex())
        .unwrap()
        .run(rows(&m, &data, &[0, 1, 2]).0, 3, data.lengths.clone(), None)
        .unwrap();
    for (s, t) in a.targets.iter().enumerate() {
        assert!(scores[s * 2 + t] >= scores[s * 2 + (1 - t)]);
    }
}

#[test]
fn the_shuffled_baseline_keeps_each_sequences_letters_and_its_end() {
    let data = dna(3, 30);
    let (x, lengths) = rows(&model(Template::DnaCnn, &[4, 30], 2), &data, &[0, 1, 2]);
    let b = gradients_baselines(&x, &data, lengths.as_deref());
    assert_ne!(b, x);
    for s in 0..3 {
        for c in 0..4 {
            let count =
                |v: &[f32]| -> f32 { v[s * 120 + c * 30..s * 120 + c * 30 + 30].iter().sum() };
            assert_eq!(count(&x), count(&b));
        }
    }
    // Nothing moves past the last sample's 15 letters.
    assert!((0..4).all(|c| {
        b[240 + c * 30 + 15..240 + c * 30 + 30]
            .iter()
            .all(|v| *v == 0.0)
    }));
}

fn gradients_baselines(x: &[f32], data: &Dataset, lengths: Option<&[usize]>) -> Vec<f32> {
    super::gradients::baselines(x, &[0, 1, 2], data, lengths, Baseline::Shuffled { seed: 1 })
}

#[test]
fn mutagenesis_changes_each_letter_once_and_agrees_with_a_single_mutant() {
    let m = model(Template::DnaCnn, &[4, 24], 2);
    let data = dna(2, 24);
    let map = mutagenesis(&m, &data, &Explained::Output(0), &Device::flex()).unwrap();
    assert_eq!(map.effects.len(), 2 * 24 * 4);
    // Its own letter changes nothing; every other letter was tried.
    let own = |s: usize, p: usize| {
        (0..4)
            .find(|&c| data.values[s * 96 + c * 24 + p] == 1.0)
            .unwrap()
    };
    for p in 0..24 {
        assert_eq!(map.effects[p * 4 + own(0, p)], 0.0);
    }
    assert!(map.effects[..96].iter().filter(|e| **e != 0.0).count() > 24);
    // One mutant scored on its own gives the same change.
    let mut mutant = data.clone();
    mutant.ids.truncate(1);
    mutant.values.truncate(96);
    mutant.lengths = Some(vec![24]);
    let p = 5;
    let to = (own(0, p) + 1) % 4;
    for c in 0..4 {
        mutant.values[c * 24 + p] = f32::from(c == to);
    }
    let scorer = Scorer::new(&m, &data, &Device::flex()).unwrap();
    let score = |d: &Dataset| {
        scorer
            .run(rows(&m, d, &[0]).0, 1, Some(vec![24]), None)
            .unwrap()
            .0[0]
    };
    let change = score(&mutant) - score(&data);
    assert!((map.effects[p * 4 + to] - change).abs() < 1e-5);
    assert!(map.track(0)[p].abs() >= change.abs());
    // The second sample is 12 letters long: no mutants past its end.
    assert!(map.effects[96 + 12 * 4..].iter().all(|e| *e == 0.0));
}

#[test]
fn motifs_are_the_letters_of_the_windows_a_filter_likes_best_and_read_as_meme() {
    let mut m = model(Template::DnaCnn, &[4, 30], 2);
    // Make filter 0 a detector of "ACGT…" (9 letters cycling), filter 1 of nothing.
    {
        use burn::module::Param;
        use burn::tensor::{Tensor, TensorData};
        let crate::model::Layer::Conv1d(conv) = &mut m.network.stacks[0].layers[0] else {
            panic!("the DNA CNN starts with a convolution");
        };
        let [f, c, k] = conv.weight.val().dims();
        let mut w = vec![0.0f32; f * c * k];
        for j in 0..k {
            w[j % 4 * k + j] = 1.0;
        }
        for v in &mut w[c * k..2 * c * k] {
            *v = -1.0;
        }
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [f, c, k]),
            &Device::flex(),
        ));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![-(k as f32) + 0.5; f], [f]),
            &Device::flex(),
        )));
    }
    let mut data = dna(4, 30);
    // Plant the motif in two samples.
    for (s, at) in [(0, 3), (2, 11)] {
        for j in 0..9 {
            for c in 0..4 {
                data.values[s * 120 + c * 30 + at + j] = f32::from(c == j % 4);
            }
        }
    }
    let motifs = first_layer_motifs(&m, &data, 10).unwrap();
    let first = motifs.iter().find(|m| m.filter == 0).unwrap();
    assert_eq!(
        first.sites, 2,
        "only the planted windows reach above the bias"
    );
    for (j, row) in first.pwm.iter().enumerate() {
        assert_eq!(row[j % 4], 1.0);
    }
    assert!(motifs.iter().all(|m| m.filter != 1));
    let text = meme(&motifs, &data.feature_names);
    assert!(text.starts_with("MEME version 4\n\nALPHABET= ACGT\n"));
    assert!(text.contains("MOTIF filter_1 filter1\nletter-probability matrix: alength= 4 w= 9 nsites= 2 E= 0\n 1.000000  0.000000"));
    assert_eq!(text.matches("MOTIF").count(), motifs.len());
}

#[test]
fn autoencoders_and_tables_given_to_sequence_methods_are_refused_by_name() {
    let mut ae = model(Template::MlpClassifier, &[12], 2);
    ae.experiment.task = crate::spec::Task::Autoencoder;
    let e = attribute(
        &ae,
        &table(2, 12),
        &Method::GradientTimesInput,
        &Explained::Predicted,
        &Device::flex(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("autoencoder"), "{e}");
    let mlp = model(Template::MlpClassifier, &[12], 2);
    let e = mutagenesis(&mlp, &table(2, 12), &Explained::Predicted, &Device::flex()).unwrap_err();
    assert!(e.to_string().contains("sequences"), "{e}");
    let e = Explained::named(&mlp, "B_cell").unwrap_err();
    assert!(e.to_string().contains("'class0', 'class1'"), "{e}");
}

#[test]
fn grad_cam_of_a_global_average_pooling_head_is_the_class_activation_map() {
    // Conv → ReLU → global average pooling → Dense: Grad-CAM is then the
    // class activation map of Zhou et al., Σ_k w_ck A_k / (h w), kept where positive.
    let mut exp = Template::ImageCnn.experiment();
    let layers = serde_json::json!([
        {"type": "Conv2d", "filters": 4, "kernel": 3, "stride": 1, "padding": "same"},
        {"type": "ReLU"},
        {"type": "GlobalAvgPool"},
        {"type": "Dense", "units": 2, "bias": true}
    ]);
    exp.architecture.stacks[0].layers = serde_json::from_value(layers).unwrap();
    let shape = [1, 6, 6];
    let (network, _) =
        crate::model::build(&exp, &shape, &Target::Classes(2), &Device::flex()).unwrap();
    let m = TrainedModel {
        experiment: exp,
        network,
        preprocessing: Preprocessing::default(),
        class_names: vec!["a".into(), "b".into()],
        feature_names: vec!["grey".into()],
        input_shape: shape.to_vec(),
        target: Target::Classes(2),
    };
    let mut data = table(2, 36);
    data.kind = DataKind::Images;
    data.shape = shape.to_vec();
    let cam = grad_cam(&m, &data, &Explained::Output(1), &Device::flex()).unwrap();
    assert_eq!((cam.height, cam.width, cam.coarse), (6, 6, (6, 6)));
    let crate::model::Layer::Dense(dense) = &m.network.stacks[0].layers[3] else {
        panic!("the last layer is the Dense layer");
    };
    let w = host(dense.weight.val()).unwrap(); // [4 inputs, 2 outputs]
    let x = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(data.values.clone(), [2, 36]),
        &Device::flex(),
    );
    let (_, a) = m.network.forward_tapped(x);
    let a = host(a.unwrap()).unwrap(); // [2, 4, 6, 6]
    for s in 0..2 {
        for i in 0..36 {
            let expected: f32 = (0..4)
                .map(|k| w[k * 2 + 1] * a[s * 144 + k * 36 + i])
                .sum::<f32>()
                / 36.0;
            let got = cam.maps[s * 36 + i];
            assert!(
                (got - expected.max(0.0)).abs() < 1e-5,
                "sample {s}, pixel {i}: {got} vs {expected}"
            );
        }
    }
}

#[test]
fn upsampling_keeps_a_constant_map_and_the_corners() {
    let map = [1.0, 2.0, 3.0, 4.0];
    let up = super::gradcam::upsample(&map, 2, 2, 4, 4);
    assert_eq!((up[0], up[3], up[12], up[15]), (1.0, 2.0, 3.0, 4.0));
    assert!(
        super::gradcam::upsample(&[5.0; 4], 2, 2, 7, 3)
            .iter()
            .all(|v| *v == 5.0)
    );
}
