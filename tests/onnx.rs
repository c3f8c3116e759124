//! ONNX export checked by an independent runtime (tract): for every template
//! ONNX can express, and for a network using every exportable layer, the ONNX
//! file gives the same outputs as the burn network on random inputs.

use burn::tensor::{Device, Distribution, Tensor, activation};
use lamina::data::Preprocessing;
use lamina::model::build_joined;
use lamina::spec::shapes::Target;
use lamina::spec::templates::Template;
use lamina::spec::{Experiment, LayerSpec, Padding, SeqOutput, Task};
use lamina::train::TrainedModel;
use tract_onnx::prelude::*;

fn model_of(exp: Experiment, input: Vec<usize>, target: Target) -> TrainedModel {
    model_joined(exp, input, &[], target)
}

fn model_joined(
    exp: Experiment,
    input: Vec<usize>,
    joined: &[usize],
    target: Target,
) -> TrainedModel {
    let device = Device::flex();
    let (network, _) = build_joined(&exp, &input, joined, &target, &device).unwrap();
    TrainedModel {
        experiment: exp,
        network,
        preprocessing: Preprocessing::default(),
        class_names: Vec::new(),
        feature_names: Vec::new(),
        input_shape: input,
        target,
    }
}

/// Burn's and tract's outputs for the same random batch, row-major.
fn both(model: &TrainedModel, batch: usize) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex();
    let n: usize = model.input_shape.iter().product();
    let x = Tensor::<2>::random([batch, n], Distribution::Uniform(-1.0, 1.0), &device);
    let input: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().unwrap();
    let out = model.network.forward(x, false).output;
    let out = if model.experiment.task == Task::Classification {
        activation::softmax(out, 1)
    } else {
        out
    };
    let expected: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();

    let bytes = lamina::export::onnx::to_onnx(model).unwrap();
    let runnable = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .with_input_fact(0, f32::fact([batch, n]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let t = tract_onnx::prelude::Tensor::from_shape(&[batch, n], &input).unwrap();
    let result = runnable.run(tvec!(t.into())).unwrap();
    let got: Vec<f32> = result[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    (expected, got)
}

fn assert_close(name: &str, expected: &[f32], got: &[f32]) {
    assert_eq!(expected.len(), got.len(), "{name}: output sizes");
    for (i, (a, b)) in expected.iter().zip(got).enumerate() {
        let tol = 1e-4 * a.abs().max(1.0);
        assert!(
            (a - b).abs() <= tol,
            "{name}: value {i}: burn {a} vs ONNX {b}"
        );
    }
}

#[test]
fn every_exportable_template_matches_burn() {
    let mut checked = 0;
    for t in Template::all() {
        let mut exp = t.experiment();
        let (input, target) = t.example_shapes();
        exp.fit_to_data(&input, &target);
        let model = model_joined(exp, input, &t.example_joined(), target);
        if model.experiment.task == Task::Gan {
            let err = lamina::export::onnx::to_onnx(&model).unwrap_err();
            assert!(err.contains("GAN"), "{err}");
            continue;
        }
        if !lamina::export::onnx::unsupported_layers(&model).is_empty() {
            let err = lamina::export::onnx::to_onnx(&model).unwrap_err();
            assert!(
                err.contains("cannot express") && err.contains("layer"),
                "{}: {err}",
                t.name()
            );
            continue;
        }
        let (a, b) = both(&model, 3);
        assert_close(t.name(), &a, &b);
        checked += 1;
    }
    assert_eq!(
        checked, 9,
        "mlp, two-input (two inputs cut from one), autoencoder, vae, dna cnn, image cnn, resnet (a graph) and the two DQN Q-networks export"
    );
}

#[test]
fn every_exportable_layer_matches_burn() {
    let mut exp = Template::DnaCnn.experiment();
    exp.architecture.stacks[0] = lamina::spec::Stack::chain(
        "network",
        vec![
            LayerSpec::Embedding { dim: 8, window: 1 },
            LayerSpec::PositionalEncoding { learned: false },
            LayerSpec::LayerNorm,
            LayerSpec::Gelu,
            LayerSpec::Embedding { dim: 6, window: 3 },
            LayerSpec::PositionalEncoding { learned: true },
            LayerSpec::Conv1d {
                filters: 8,
                kernel: 4,
                stride: 2,
                padding: Padding::Valid,
            },
            LayerSpec::BatchNorm,
            LayerSpec::LeakyRelu { slope: 0.1 },
            LayerSpec::AvgPool1d { size: 2 },
            LayerSpec::Conv1d {
                filters: 4,
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
            },
            LayerSpec::Tanh,
            LayerSpec::MaxPool1d { size: 2 },
            LayerSpec::Reshape {
                shape: vec![1, 3, 4],
            },
            LayerSpec::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            LayerSpec::Sigmoid,
            LayerSpec::MaxPool2d { size: 2 },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Dense {
                units: 5,
                bias: true,
            },
            LayerSpec::Dropout { rate: 0.3 },
            LayerSpec::Softplus,
            LayerSpec::BatchNorm,
            LayerSpec::LayerNorm,
            LayerSpec::Relu,
            LayerSpec::Dense {
                units: 3,
                bias: false,
            },
        ],
    );
    let model = model_of(exp, vec![4, 50], Target::Classes(3));
    let (a, b) = both(&model, 4);
    assert_close("every layer", &a, &b);
}

#[test]
fn upsampling_layers_and_crops_match_burn() {
    let conv_t2 = |filters, kernel, stride, padding| LayerSpec::ConvTranspose2d {
        filters,
        kernel,
        stride,
        padding,
    };
    let conv_t1 = |filters, kernel, stride, padding| LayerSpec::ConvTranspose1d {
        filters,
        kernel,
        stride,
        padding,
    };
    // Images: every padding rule of the transposed convolution, a crop, a pad
    // (odd surplus on both axes) and nearest-neighbour upsampling.
    let mut exp = Template::ImageCnn.experiment();
    exp.architecture.stacks[0] = lamina::spec::Stack::chain(
        "network",
        vec![
            LayerSpec::Conv2d {
                filters: 4,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            conv_t2(3, 3, 2, Padding::Same),
            LayerSpec::Relu,
            LayerSpec::CropPad { size: vec![19, 20] },
            conv_t2(2, 2, 2, Padding::Valid),
            conv_t2(3, 3, 1, Padding::Same),
            conv_t2(2, 1, 2, Padding::Same),
            LayerSpec::MaxPool2d { size: 8 },
            LayerSpec::CropPad { size: vec![14, 11] },
            LayerSpec::Upsample2d { scale: 2 },
            conv_t2(2, 4, 2, Padding::Same),
            LayerSpec::AvgPool2d { size: 4 },
            LayerSpec::Flatten,
            LayerSpec::Dense {
                units: 3,
                bias: true,
            },
        ],
    );
    let model = model_of(exp, vec![1, 12, 12], Target::Classes(3));
    let (a, b) = both(&model, 2);
    assert_close("transposed convolutions 2-D, crop/pad, upsampling", &a, &b);

    // Sequences.
    let mut exp = Template::DnaCnn.experiment();
    exp.architecture.stacks[0] = lamina::spec::Stack::chain(
        "network",
        vec![
            conv_t1(3, 3, 2, Padding::Same),
            LayerSpec::Tanh,
            conv_t1(2, 4, 3, Padding::Valid),
            LayerSpec::CropPad { size: vec![51] },
            conv_t1(3, 2, 2, Padding::Same),
            LayerSpec::CropPad { size: vec![111] },
            LayerSpec::GlobalMaxPool,
            LayerSpec::Dense {
                units: 2,
                bias: true,
            },
        ],
    );
    let model = model_of(exp, vec![4, 20], Target::Classes(2));
    let (a, b) = both(&model, 3);
    assert_close("transposed convolutions 1-D, crop/pad", &a, &b);
}

#[test]
fn recurrent_and_attention_layers_are_named_when_refused() {
    let mut exp = Template::LstmClassifier.experiment();
    exp.architecture.stacks[0].layers.insert(
        2,
        LayerSpec::SelfAttention {
            heads: 2,
            dropout: 0.0,
        }
        .into(),
    );
    exp.architecture.stacks[0].layers[1].layer = LayerSpec::Lstm {
        units: 8,
        bidirectional: false,
        output: SeqOutput::Sequence,
    };
    let model = model_of(exp, vec![4, 30], Target::Classes(2));
    let err = lamina::export::onnx::to_onnx(&model).unwrap_err();
    assert!(err.contains("LSTM (layer 2 of 'network')"), "{err}");
    assert!(
        err.contains("Self-attention (layer 3 of 'network')"),
        "{err}"
    );
}
