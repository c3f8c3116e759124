//! One data set explained in every way that suits it, for the CLI and the
//! window alike: attributions by the chosen method, in-silico mutagenesis
//! and first-layer motifs for sequences, per-class importance for tables,
//! Grad-CAM for images. A way that does not suit the model (motifs of a
//! network that does not start with a convolution, Grad-CAM without one) is
//! left out with a note rather than failing the rest.

use super::*;

/// What to explain a data set by.
#[derive(Debug, Clone)]
pub struct Request {
    pub explained: Explained,
    /// Attributions by this method; none: no attributions.
    pub attributions: Option<Method>,
    /// In-silico mutagenesis of sequences, of at most this many samples
    /// (the first ones); 0: none.
    pub mutagenesis: usize,
    /// Windows per filter the first-layer motifs are made from.
    pub top: usize,
    /// Each sample's true class (or value), which permutation importance is
    /// measured against; none: against the model's own predictions.
    pub labels: Option<crate::data::Labels>,
}

/// A data set explained.
#[derive(Debug, Clone, Default)]
pub struct Explanation {
    pub attributions: Option<Attributions>,
    /// Of the first [`Mutagenesis::samples`] samples.
    pub mutagenesis: Option<Mutagenesis>,
    pub motifs: Option<Vec<Motif>>,
    pub importance: Option<Importance>,
    pub gradcam: Option<GradCam>,
    /// The ways left out, and why, in words.
    pub notes: Vec<String>,
}

/// Explain `data` (as read) by `model` on `device`, as `request` asks.
pub fn explain(
    model: &TrainedModel,
    data: &Dataset,
    request: &Request,
    device: &Device,
) -> Result<Explanation, ExplainError> {
    let mut out = Explanation::default();
    // Checks the task and the shape once, before any long computation.
    Scorer::new(model, data, device)?;
    if let Some(method) = &request.attributions {
        out.attributions = Some(attribute(model, data, method, &request.explained, device)?);
    }
    let kind = data.kind;
    // Asked of other data, mutagenesis says why it does not apply.
    if request.mutagenesis > 0 {
        let map = if data.len() > request.mutagenesis {
            let mut first = data.clone();
            first.retain(&(0..request.mutagenesis).collect::<Vec<_>>());
            out.notes.push(format!(
                "in-silico mutagenesis of the first {} of {} sequences",
                request.mutagenesis,
                data.len()
            ));
            mutagenesis(model, &first, &request.explained, device)?
        } else {
            mutagenesis(model, data, &request.explained, device)?
        };
        out.mutagenesis = Some(map);
    }
    if kind == crate::data::DataKind::Sequences {
        match first_layer_motifs(model, data, request.top) {
            Ok(m) => out.motifs = Some(m),
            Err(ExplainError::NotApplicable(why)) => out.notes.push(format!("no motifs: {why}")),
            Err(e) => return Err(e),
        }
    }
    if kind == crate::data::DataKind::Table {
        out.importance = Some(feature_importance(
            model,
            data,
            request.labels.as_ref(),
            device,
        )?);
    }
    if kind == crate::data::DataKind::Images {
        match grad_cam(model, data, &request.explained, device) {
            Ok(cam) => out.gradcam = Some(cam),
            Err(ExplainError::NotApplicable(why)) => out.notes.push(format!("no Grad-CAM: {why}")),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

impl Explanation {
    /// The output each sample was explained for and its score, from the
    /// attributions or else the mutagenesis.
    pub fn targets(&self) -> Option<(&[usize], &[f32])> {
        if let Some(a) = &self.attributions {
            return Some((&a.targets, &a.scores));
        }
        if let Some(m) = &self.mutagenesis {
            return Some((&m.targets, &m.scores));
        }
        if let Some(c) = &self.gradcam {
            return Some((&c.targets, &c.scores));
        }
        None
    }
}
