//! How well a trained model does on a held-out split, in the terms a reviewer
//! asks for. For classifiers: accuracy, balanced accuracy, per-class
//! precision, recall and F1, macro-F1, one-vs-rest ROC and precision-recall
//! curves with their areas, and the confusion matrix. For regression: MSE,
//! MAE, R² and the predicted and true values for a scatter plot.
//!
//! The functions here take scores already computed (class probabilities or
//! predicted values) and do no tensor work. The supervised loop gathers the
//! scores; the run folder draws the curves.

use serde::{Deserialize, Serialize};

use crate::data::Labels;
use crate::spec::Task;

/// Points kept per curve and per scatter in `summary.json`. The areas are
/// computed from every point first.
const CURVE_POINTS: usize = 200;
const SCATTER_POINTS: usize = 2000;

/// A split's scores with the weights the run kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// `"validation"` or `"test"`.
    pub split: String,
    pub samples: usize,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    pub accuracy: f64,
    /// The mean of the per-class recalls: what accuracy would be with
    /// balanced classes.
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    /// Means over the classes for which the area is defined (the split holds
    /// both samples of the class and samples of others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_auroc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_auprc: Option<f64>,
    pub classes: Vec<ClassReport>,
    /// `confusion[true class][predicted class]`.
    pub confusion: Vec<Vec<usize>>,
}

/// One class against the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub name: String,
    /// Samples of this class in the split.
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Area under the ROC curve; none when the split has no samples of this
    /// class or only samples of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc: Option<f64>,
    /// Average precision (the area under the precision-recall curve, as
    /// scikit-learn's `average_precision_score` computes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auprc: Option<f64>,
    /// False-positive rate (x) against true-positive rate (y).
    pub roc: Curve,
    /// Recall (x) against precision (y).
    pub pr: Curve,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Curve {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    pub mse: f64,
    pub mae: f64,
    /// Coefficient of determination: 1 − residual / total sum of squares
    /// (1 = perfect, 0 = no better than predicting the mean).
    pub r2: f64,
    /// Up to 2000 (true, predicted) pairs, for the scatter plot.
    pub truth: Vec<f32>,
    pub predicted: Vec<f32>,
}

/// Score a classifier from its class probabilities (`truth.len() × classes`,
/// row-major) and the true classes.
pub fn classifier_report(
    probabilities: &[f32],
    truth: &[usize],
    names: &[String],
) -> ClassifierReport {
    let k = names.len().max(1);
    let n = truth.len();
    let confusion = confusion(probabilities, truth, k);
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let classes: Vec<ClassReport> = (0..k)
        .map(|c| {
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let tp = confusion[c][c] as f64;
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            let scores: Vec<f32> = (0..n).map(|i| probabilities[i * k + c]).collect();
            let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            let (roc, auroc) = roc_curve(&scores, &positive);
            let (pr, auprc) = pr_curve(&scores, &positive);
            ClassReport {
                name: names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                support,
                precision,
                recall,
                f1,
                auroc,
                auprc,
                roc: thin(roc),
                pr: thin(pr),
            }
        })
        .collect();
    let present: Vec<&ClassReport> = classes.iter().filter(|c| c.support > 0).collect();
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    ClassifierReport {
        accuracy: ratio(correct as f64, n as f64),
        balanced_accuracy: mean(present.iter().map(|c| c.recall).collect()).unwrap_or(0.0),
        macro_f1: mean(classes.iter().map(|c| c.f1).collect()).unwrap_or(0.0),
        macro_auroc: mean(classes.iter().filter_map(|c| c.auroc).collect()),
        macro_auprc: mean(classes.iter().filter_map(|c| c.auprc).collect()),
        classes,
        confusion,
    }
}

/// `confusion[true class][predicted class]` from class probabilities
/// (`truth.len() × classes`), the prediction being the likeliest class.
pub fn confusion(probabilities: &[f32], truth: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let k = classes.max(1);
    let mut m = vec![vec![0usize; k]; k];
    for (i, &t) in truth.iter().enumerate() {
        let Some(row) = probabilities.get(i * k..(i + 1) * k) else {
            break;
        };
        if let Some(c) = m.get_mut(t).and_then(|r| r.get_mut(argmax(row))) {
            *c += 1;
        }
    }
    m
}

/// The evaluation of the samples `idx` from the network's scores of them
/// (see `supervised::score`): class probabilities, predicted values, or none
/// (autoencoders: the loss alone).
pub fn of_scores(
    split: &str,
    idx: &[usize],
    loss: f64,
    scores: &[f32],
    task: Task,
    labels: &Labels,
) -> Evaluation {
    let (classifier, regression) = match (task, labels) {
        (Task::Classification, Labels::Classes { index, names }) => {
            let truth: Vec<usize> = idx.iter().map(|&i| index[i]).collect();
            (Some(classifier_report(scores, &truth, names)), None)
        }
        (Task::Regression, Labels::Values(v)) => {
            let truth: Vec<f32> = idx.iter().map(|&i| v[i]).collect();
            (None, Some(regression_report(scores, &truth)))
        }
        _ => (None, None),
    };
    Evaluation {
        split: split.to_string(),
        samples: idx.len(),
        loss,
        classifier,
        regression,
    }
}

/// Score a regression from its predictions and the true values.
pub fn regression_report(predicted: &[f32], truth: &[f32]) -> RegressionReport {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut se, mut ae, mut total) = (0.0, 0.0, 0.0);
    for (&p, &t) in predicted.iter().zip(truth) {
        let d = p as f64 - t as f64;
        se += d * d;
        ae += d.abs();
        total += (t as f64 - mean).powi(2);
    }
    let keep = sample_indices(truth.len(), SCATTER_POINTS);
    RegressionReport {
        mse: se / n,
        mae: ae / n,
        r2: if total > 0.0 { 1.0 - se / total } else { 0.0 },
        truth: keep.iter().map(|&i| truth[i]).collect(),
        predicted: keep.iter().map(|&i| predicted[i]).collect(),
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}

/// Counts of true and false positives at each distinct score, highest first:
/// `(tp, fp)` after every sample scoring at least that much is called positive.
fn cumulative(scores: &[f32], positive: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (j, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // Tied scores form one threshold.
        let last_of_tie = order
            .get(j + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            out.push((tp, fp));
        }
    }
    out
}

fn roc_curve(scores: &[f32], positive: &[bool]) -> (Curve, Option<f64>) {
    let p = positive.iter().filter(|&&b| b).count() as f64;
    let neg = positive.len() as f64 - p;
    if p == 0.0 || neg == 0.0 {
        return (Curve::default(), None);
    }
    let mut curve = Curve {
        x: vec![0.0],
        y: vec![0.0],
    };
    let (mut area, mut last) = (0.0, (0.0, 0.0));
    for (tp, fp) in cumulative(scores, positive) {
        let pt = (fp / neg, tp / p);
        area += (pt.0 - last.0) * (pt.1 + last.1) / 2.0;
        last = pt;
        curve.x.push(pt.0 as f32);
        curve.y.push(pt.1 as f32);
    }
    (curve, Some(area))
}

fn pr_curve(scores: &[f32], positive: &[bool]) -> (Curve, Option<f64>) {
    let p = positive.iter().filter(|&&b| b).count() as f64;
    if p == 0.0 || p == positive.len() as f64 {
        return (Curve::default(), None);
    }
    let mut curve = Curve::default();
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for (tp, fp) in cumulative(scores, positive) {
        let recall = tp / p;
        let precision = tp / (tp + fp);
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        curve.x.push(recall as f32);
        curve.y.push(precision as f32);
    }
    (curve, Some(ap))
}

/// At most [`CURVE_POINTS`] points of a curve, its first and last kept.
fn thin(c: Curve) -> Curve {
    let keep = sample_indices(c.x.len(), CURVE_POINTS);
    Curve {
        x: keep.iter().map(|&i| c.x[i]).collect(),
        y: keep.iter().map(|&i| c.y[i]).collect(),
    }
}

/// Evenly spaced indices into `0..n`, at most `max` of them, the last included.
fn sample_indices(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..max).map(|j| j * (n - 1) / (max - 1)).collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("c{c}")).collect()
    }

    /// Two classes as probabilities `[1 − s, s]`.
    fn binary(scores: &[f32]) -> Vec<f32> {
        scores.iter().flat_map(|&s| [1.0 - s, s]).collect()
    }

    #[test]
    fn areas_match_scikit_learn_on_its_documented_example() {
        // roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75,
        // average_precision_score(...) = 0.8333.
        let r = classifier_report(&binary(&[0.1, 0.4, 0.35, 0.8]), &[0, 0, 1, 1], &names(2));
        let one = &r.classes[1];
        assert!((one.auroc.unwrap() - 0.75).abs() < 1e-9);
        assert!((one.auprc.unwrap() - 0.833_333_333).abs() < 1e-6);
        assert_eq!(one.roc.x.first(), Some(&0.0));
        assert_eq!(
            (one.roc.x.last(), one.roc.y.last()),
            (Some(&1.0), Some(&1.0))
        );
    }

    #[test]
    fn ties_count_half_and_perfect_scores_give_one() {
        let tied = classifier_report(&binary(&[0.5; 4]), &[0, 1, 0, 1], &names(2));
        assert!((tied.classes[1].auroc.unwrap() - 0.5).abs() < 1e-9);
        let perfect = classifier_report(&binary(&[0.1, 0.2, 0.8, 0.9]), &[0, 0, 1, 1], &names(2));
        assert_eq!(perfect.classes[1].auroc, Some(1.0));
        assert_eq!(perfect.classes[1].auprc, Some(1.0));
        assert_eq!(perfect.accuracy, 1.0);
    }

    #[test]
    fn per_class_counts_follow_the_confusion_matrix() {
        // Three classes; class 2 is rare and always called class 0.
        let probs = [
            [0.8, 0.1, 0.1],
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.3, 0.6, 0.1],
            [0.5, 0.2, 0.3],
        ];
        let truth = [0, 0, 1, 1, 1, 1, 2];
        let flat: Vec<f32> = probs.iter().flatten().copied().collect();
        let r = classifier_report(&flat, &truth, &names(3));
        assert_eq!(
            r.confusion,
            vec![vec![2, 0, 0], vec![1, 3, 0], vec![1, 0, 0]]
        );
        assert!((r.accuracy - 5.0 / 7.0).abs() < 1e-12);
        let c0 = &r.classes[0];
        assert_eq!(c0.support, 2);
        assert!((c0.precision - 0.5).abs() < 1e-12);
        assert_eq!(c0.recall, 1.0);
        assert!((c0.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            (r.classes[2].precision, r.classes[2].recall, r.classes[2].f1),
            (0.0, 0.0, 0.0)
        );
        // Balanced accuracy: mean of recalls 1, 3/4, 0.
        assert!((r.balanced_accuracy - 1.75 / 3.0).abs() < 1e-12);
        assert!((r.macro_f1 - (2.0 / 3.0 + 2.0 * 0.75 / 1.75 + 0.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_class_missing_from_the_split_has_no_area() {
        let r = classifier_report(&binary(&[0.2, 0.3]), &[0, 0], &names(2));
        assert_eq!(r.classes[1].auroc, None);
        assert_eq!(r.classes[0].auroc, None);
        assert_eq!(r.macro_auroc, None);
        assert_eq!(r.balanced_accuracy, 1.0, "only the present class counts");
    }

    #[test]
    fn regression_scores() {
        let r = regression_report(&[1.0, 2.0, 4.0], &[1.0, 3.0, 5.0]);
        assert!((r.mse - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.mae - 2.0 / 3.0).abs() < 1e-9);
        // Total sum of squares about the mean 3: 4 + 0 + 4.
        assert!((r.r2 - (1.0 - 2.0 / 8.0)).abs() < 1e-9);
        let mean_guess = regression_report(&[3.0; 3], &[1.0, 3.0, 5.0]);
        assert!(mean_guess.r2.abs() < 1e-9);
    }

    #[test]
    fn long_curves_are_thinned_keeping_both_ends() {
        let n = 5000;
        let scores: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
        let truth: Vec<usize> = (0..n).map(|i| usize::from(i % 3 == 0)).collect();
        let r = classifier_report(&binary(&scores), &truth, &names(2));
        let roc = &r.classes[1].roc;
        assert!(roc.x.len() <= CURVE_POINTS);
        assert_eq!((roc.x[0], *roc.x.last().unwrap()), (0.0, 1.0));
        let reg = regression_report(&scores, &scores);
        assert_eq!(reg.truth.len(), SCATTER_POINTS);
        assert_eq!(reg.r2, 1.0);
    }
}
