//! The sequence model: two logistic-regression heads over the context features
//! (page type, multinomial; starts-a-document, binary), then the decoding step.
//!
//! The fitted weights are copied out of linfa into plain vectors so `model.json` is
//! readable, independent of linfa's serde layout, and checked on load.

use std::path::Path;

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use trainer_kit::{load_model, Prediction, TrainError};

use crate::data::LabelledSequence;
use crate::decode::{decode, Decoded};
use crate::features::{FeatureSpec, PageEvidence};
use crate::params::SequenceParams;

/// The file `serve` loads.
pub const MODEL_FILE: &str = "model.json";

/// Per-feature standardisation (L-BFGS converges far faster on unit-scale inputs;
/// log-probabilities and probabilities differ by two orders of magnitude).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Scaler {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl Scaler {
    fn fit(x: &Array2<f64>) -> Scaler {
        let n = x.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(x.ncols());
        let mut scale = Vec::with_capacity(x.ncols());
        for column in x.columns() {
            let m = column.sum() / n;
            let var = column.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
            mean.push(m);
            // A constant column (e.g. "no page here" with k = 0) stays at 0.
            scale.push(if var > 1e-12 { var.sqrt() } else { 1.0 });
        }
        Scaler { mean, scale }
    }

    fn apply(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
    }

    fn apply_row(&self, row: &mut [f64]) {
        for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
            *v = (*v - m) / s;
        }
    }
}

/// The page-type head: one weight row per trained class. `columns[j]` is the index in
/// the model's class list of row j; classes absent from the training split (seen only
/// in validation or test) get probability 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TypeHead {
    columns: Vec<usize>,
    weights: Vec<Vec<f64>>,
    intercepts: Vec<f64>,
}

/// The boundary head: P(starts a document) = sigmoid(w.x + b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StartHead {
    weights: Vec<f64>,
    intercept: f64,
}

/// A trained sequence model (`model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceModel {
    classes: Vec<String>,
    spec: FeatureSpec,
    boundary_threshold: f64,
    params: SequenceParams,
    scaler: Scaler,
    type_head: TypeHead,
    start_head: StartHead,
}

/// A model's per-page output for one sequence, before and after decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencePrediction {
    /// Type-head probabilities per page, over `classes()`.
    pub type_probabilities: Vec<Vec<f64>>,
    /// Boundary-head P(start) per page.
    pub start_probabilities: Vec<f64>,
    pub decoded: Decoded,
}

impl SequenceModel {
    /// Fits both heads on the given sequences. `classes` is the class list (sorted),
    /// which every page label must belong to. Returns the model and its type head's log
    /// loss on the training pages.
    pub fn fit(
        classes: Vec<String>,
        train: &[&LabelledSequence],
        params: &SequenceParams,
    ) -> Result<(SequenceModel, f64), TrainError> {
        params.validate()?;
        let spec = FeatureSpec {
            n_classes: classes.len(),
            context_pages: params.context_pages,
        };
        let mut values = Vec::new();
        let mut types = Vec::new();
        let mut starts = Vec::new();
        for sequence in train {
            let evidence: Vec<PageEvidence> = sequence
                .pages
                .iter()
                .map(|p| PageEvidence::from_predictions(&classes, &p.text, &p.image))
                .collect();
            spec.extend_rows(&evidence, &mut values);
            for page in &sequence.pages {
                let Ok(index) = classes.binary_search(&page.label.label) else {
                    return Err(TrainError::Data(format!(
                        "page `{}`: label `{}` is not in the class list",
                        page.label.page_id, page.label.label
                    )));
                };
                types.push(index);
                starts.push(page.label.starts_document);
            }
        }
        let distinct: std::collections::BTreeSet<usize> = types.iter().copied().collect();
        if distinct.len() < 2 {
            return Err(TrainError::Data(format!(
                "the train split has {} page type(s) ({}); the type head needs at least 2",
                distinct.len(),
                distinct
                    .iter()
                    .map(|&c| classes[c].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if starts.iter().all(|&s| s) || starts.iter().all(|&s| !s) {
            return Err(TrainError::Data(format!(
                "starts_document is {} on every page of the train split; the boundary head needs both",
                starts.first().copied().unwrap_or(false)
            )));
        }
        let mut x = Array2::from_shape_vec((types.len(), spec.len()), values)
            .map_err(|e| TrainError::Model(format!("feature matrix: {e}")))?;
        let scaler = Scaler::fit(&x);
        scaler.apply(&mut x);

        let epochs = params.epochs as u64;
        let type_fit = MultiLogisticRegression::<f64>::default()
            .alpha(params.l2)
            .max_iterations(epochs)
            .fit(&DatasetBase::new(x.view(), Array1::from(types.clone())))
            .map_err(|e| TrainError::Model(format!("page-type head: {e}")))?;
        let type_head = TypeHead {
            columns: type_fit.classes().to_vec(),
            weights: type_fit
                .params()
                .columns()
                .into_iter()
                .map(|c| c.to_vec())
                .collect(),
            intercepts: type_fit.intercept().to_vec(),
        };

        let start_fit = LogisticRegression::<f64>::default()
            .alpha(params.l2)
            .max_iterations(epochs)
            .fit(&DatasetBase::new(x.view(), Array1::from(starts)))
            .map_err(|e| TrainError::Model(format!("boundary head: {e}")))?;
        // linfa's positive class is the MORE frequent one (usually `false` here): flip
        // the sign so the stored head always gives P(true).
        let sign = if start_fit.labels().pos.class {
            1.0
        } else {
            -1.0
        };
        let start_head = StartHead {
            weights: start_fit.params().iter().map(|w| sign * w).collect(),
            intercept: sign * start_fit.intercept(),
        };

        let model = SequenceModel {
            classes,
            spec,
            boundary_threshold: params.boundary_threshold,
            params: params.clone(),
            scaler,
            type_head,
            start_head,
        };
        let probabilities: Vec<Vec<f64>> = x
            .rows()
            .into_iter()
            .map(|r| model.type_row(&r.to_vec()))
            .collect();
        let loss = trainer_kit::metrics::log_loss(&types, &probabilities);
        Ok((model, loss))
    }

    /// The class list (sorted), the index space of every probability vector.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &SequenceParams {
        &self.params
    }

    /// Predicts and decodes one sequence, pages in order.
    pub fn predict(&self, pages: &[PageEvidence]) -> SequencePrediction {
        let width = self.spec.len();
        let mut values = Vec::with_capacity(pages.len() * width);
        self.spec.extend_rows(pages, &mut values);
        let mut type_probabilities = Vec::with_capacity(pages.len());
        let mut start_probabilities = Vec::with_capacity(pages.len());
        for row in values.chunks_exact_mut(width) {
            self.scaler.apply_row(row);
            type_probabilities.push(self.type_row(row));
            start_probabilities.push(self.start_row(row));
        }
        let decoded = decode(
            &type_probabilities,
            &start_probabilities,
            self.boundary_threshold,
        );
        SequencePrediction {
            type_probabilities,
            start_probabilities,
            decoded,
        }
    }

    /// Projects two base-model predictions onto this model's classes.
    pub fn evidence(&self, text: &Prediction, image: &Prediction) -> PageEvidence {
        PageEvidence::from_predictions(&self.classes, text, image)
    }

    /// Reads `model.json` from the model directory and checks its shapes.
    pub fn load(model_dir: &Path) -> Result<SequenceModel, TrainError> {
        let model: SequenceModel = load_model(model_dir, MODEL_FILE)?;
        model.check()?;
        Ok(model)
    }

    /// Shape checks, so a hand-edited or truncated model.json fails at load time
    /// rather than producing garbage per request.
    fn check(&self) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::Model(format!("{MODEL_FILE}: {what}")));
        let n = self.spec.len();
        if self.spec.n_classes != self.classes.len() || self.classes.is_empty() {
            return bad(format!(
                "{} classes but the feature layout expects {}",
                self.classes.len(),
                self.spec.n_classes
            ));
        }
        if self.scaler.mean.len() != n || self.scaler.scale.len() != n {
            return bad(format!("scaler does not have {n} features"));
        }
        if self
            .scaler
            .scale
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0))
        {
            return bad("scaler has a non-positive scale".to_owned());
        }
        let t = &self.type_head;
        if t.columns.is_empty()
            || t.weights.len() != t.columns.len()
            || t.intercepts.len() != t.columns.len()
            || t.weights.iter().any(|w| w.len() != n)
            || t.columns.iter().any(|&c| c >= self.classes.len())
        {
            return bad("page-type head does not match the classes and features".to_owned());
        }
        if self.start_head.weights.len() != n {
            return bad(format!("boundary head does not have {n} weights"));
        }
        if let Err(e) = self.params.validate() {
            return bad(format!("params: {e}"));
        }
        if self.boundary_threshold != self.params.boundary_threshold {
            return bad("boundary_threshold differs from params".to_owned());
        }
        Ok(())
    }

    /// Softmax of the type head over the full class list (untrained classes get 0).
    fn type_row(&self, x: &[f64]) -> Vec<f64> {
        let t = &self.type_head;
        let scores: Vec<f64> = t
            .weights
            .iter()
            .zip(&t.intercepts)
            .map(|(w, b)| dot(w, x) + b)
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut out = vec![0.0; self.classes.len()];
        for (&column, e) in t.columns.iter().zip(exp) {
            out[column] = e / sum;
        }
        out
    }

    fn start_row(&self, x: &[f64]) -> f64 {
        let z = dot(&self.start_head.weights, x) + self.start_head.intercept;
        1.0 / (1.0 + (-z).exp())
    }
}

fn dot(w: &[f64], x: &[f64]) -> f64 {
    w.iter().zip(x.iter()).map(|(a, b)| a * b).sum()
}
