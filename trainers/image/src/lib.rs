//! The image model of the ensemble, packaged as a SageMaker training and inference
//! container.
//!
//! A page bitmap becomes a vector of layout features ([`features`]), standardised
//! with the training set's mean and standard deviation; two multinomial/binary
//! logistic regressions (linfa-logistic) learn the document type and whether the
//! page is a document's first page. `train` is the SageMaker training entry point
//! (channels `train` and `validation`), [`ImageModel`] the served model.

pub mod features;

use std::collections::BTreeMap;
use std::path::Path;

use dataset::{ImagePage, SequenceImage};
use features::{Bitmap, Standardiser};
use linfa::prelude::*;
use linfa_logistic::{
    FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression,
    MultiLogisticRegression,
};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
pub use trainer_kit::Evaluation;
use trainer_kit::{
    label_counts, metrics, Hyperparameters, MlRoot, Prediction, Predictor, ServeError, TrainError,
};

/// The file in the model directory that holds everything `serve` needs.
pub const MODEL_FILE: &str = "model.json";
/// The final metrics, for humans and tests.
pub const METRICS_FILE: &str = "metrics.json";

/// Feature vectors longer than this are refused: 3,000 pages x 20,000 features is
/// already 480 MB of f64, and layout needs far fewer (a 32x44 page gives ~700).
const MAX_FEATURES: usize = 20_000;

/// The hyperparameters (SageMaker passes them as strings; see
/// [`ImageParams::from_hyperparameters`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageParams {
    /// Side of the square cells whose mean ink is a feature (1..=16).
    pub block: usize,
    /// linfa-logistic `max_iterations` of L-BFGS, for both heads (1..=10000).
    pub epochs: usize,
    /// linfa-logistic `alpha`, the L2 penalty on the summed log loss (0..=1000).
    pub l2: f64,
}

impl Default for ImageParams {
    /// Tuned on the default generated dataset (3,000 pages, 32x44; grid in
    /// trainers/README.md): accuracy plateaus at 0.83-0.84 for block 1-4 once l2 is
    /// 10-100; block 4 with l2 30 had the lowest validation log loss (calibrated
    /// probabilities matter to the sequence model) with the fewest features, and
    /// L-BFGS has converged by 100 iterations.
    fn default() -> Self {
        ImageParams {
            block: 4,
            epochs: 100,
            l2: 30.0,
        }
    }
}

impl ImageParams {
    /// Reads `block`, `epochs` and `l2` (defaults when absent); the caller then
    /// calls `finish()` to refuse unknown keys.
    pub fn from_hyperparameters(h: &mut Hyperparameters) -> Result<ImageParams, TrainError> {
        let d = ImageParams::default();
        Ok(ImageParams {
            block: h.usize_in("block", d.block, 1, 16)?,
            epochs: h.usize_in("epochs", d.epochs, 1, 10_000)?,
            l2: h.f64_in("l2", d.l2, 0.0, 1000.0)?,
        })
    }
}

/// The "first page" head. A training set whose pages are all first pages (or none
/// is) has nothing to learn: the head is then the constant fraction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FirstPageHead {
    Logistic(FittedLogisticRegression<f64, bool>),
    Constant(f64),
}

/// The trained image model (serialised as `model.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageModel {
    /// Bitmap size of every training page; serve refuses others.
    width: u32,
    height: u32,
    block: usize,
    /// Sorted distinct training labels; the type head's targets are indices into it.
    classes: Vec<String>,
    standardiser: Standardiser,
    type_head: MultiFittedLogisticRegression<f64, usize>,
    first_page_head: FirstPageHead,
}

/// Decodes a page's base64 pixels; the error names the page.
fn decode(page_id: &str, width: u32, height: u32, pixels: &str) -> Result<Vec<u8>, String> {
    dataset::decode_pixels(pixels, width, height)
        .map_err(|e| format!("page `{page_id}`: pixels: {e}"))
}

/// Feature rows of pages that must all be `width` x `height`; `what` names the set
/// in errors ("training", "validation").
fn feature_rows(
    pages: &[ImagePage],
    size: (u32, u32),
    block: usize,
    what: &str,
) -> Result<Vec<Vec<f64>>, TrainError> {
    pages
        .iter()
        .map(|p| {
            if (p.width, p.height) != size {
                return Err(TrainError::Data(format!(
                    "{what} page `{}` is {}x{} but the training bitmaps are {}x{}: all pages must have the same size",
                    p.page_id, p.width, p.height, size.0, size.1
                )));
            }
            let pixels = decode(&p.page_id, p.width, p.height, &p.pixels)
                .map_err(|e| TrainError::Data(format!("{what} {e}")))?;
            let bitmap = Bitmap::new(p.width, p.height, &pixels).map_err(|e| {
                TrainError::Data(format!("{what} page `{}`: {e}", p.page_id))
            })?;
            Ok(features::extract(&bitmap, block))
        })
        .collect()
}

fn finite<'a>(mut values: impl Iterator<Item = &'a f64>) -> bool {
    values.all(|v| v.is_finite())
}

/// Non-finite weights would serve NaN probabilities (JSON null) to the sequence
/// model; with standardised features only a missing penalty on separable data gets
/// there, so the message points at `l2`.
fn diverged(head: &str, params: &ImageParams) -> TrainError {
    TrainError::Model(format!(
        "{head}: the optimiser diverged (non-finite weights) with l2={}; use a larger `l2`",
        params.l2
    ))
}

/// Stacks standardised rows into linfa's matrix.
fn to_matrix(mut rows: Vec<Vec<f64>>, standardiser: &Standardiser) -> Array2<f64> {
    let d = standardiser.len();
    let n = rows.len();
    let mut flat = Vec::with_capacity(n * d);
    for row in &mut rows {
        standardiser.apply(row);
        flat.extend_from_slice(row);
    }
    // Every row has `d` values (same size, same block), so the shape holds.
    Array2::from_shape_vec((n, d), flat).unwrap_or_else(|_| Array2::zeros((n, d)))
}

impl ImageModel {
    /// Fits both heads on the training pages (all of one bitmap size).
    pub fn fit(train: &[ImagePage], params: &ImageParams) -> Result<ImageModel, TrainError> {
        let first = train
            .first()
            .ok_or_else(|| TrainError::Data("no training pages".into()))?;
        let (width, height) = (first.width, first.height);
        let n_features = features::feature_count(width as usize, height as usize, params.block);
        if n_features > MAX_FEATURES {
            return Err(TrainError::Hyperparameter {
                name: "block".into(),
                message: format!(
                    "{} gives {n_features} features for {width}x{height} bitmaps (at most {MAX_FEATURES}); use a larger block",
                    params.block
                ),
            });
        }

        let classes: Vec<String> = train
            .iter()
            .map(|p| p.label.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if classes.len() < 2 {
            return Err(TrainError::Data(format!(
                "the training set has {} class(es) ({}); at least 2 are needed",
                classes.len(),
                classes.join(", ")
            )));
        }
        let index: BTreeMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let targets: Array1<usize> = train
            .iter()
            .map(|p| index.get(p.label.as_str()).copied().unwrap_or(0))
            .collect();
        let first_pages: Array1<bool> = train.iter().map(|p| p.page_number == 1).collect();

        let rows = feature_rows(train, (width, height), params.block, "training")?;
        let standardiser = Standardiser::fit(&rows);
        let x = to_matrix(rows, &standardiser);

        let type_head = MultiLogisticRegression::default()
            .alpha(params.l2)
            .max_iterations(params.epochs as u64)
            .fit(&Dataset::new(x.clone(), targets))
            .map_err(|e| TrainError::Model(format!("document-type head: {e}")))?;

        if !finite(type_head.params().iter().chain(type_head.intercept())) {
            return Err(diverged("document-type head", params));
        }

        let n_first = first_pages.iter().filter(|&&f| f).count();
        let first_page_head = if n_first == 0 || n_first == train.len() {
            FirstPageHead::Constant(n_first as f64 / train.len() as f64)
        } else {
            FirstPageHead::Logistic(
                LogisticRegression::default()
                    .alpha(params.l2)
                    .max_iterations(params.epochs as u64)
                    .fit(&Dataset::new(x, first_pages))
                    .map_err(|e| TrainError::Model(format!("first-page head: {e}")))?,
            )
        };

        if let FirstPageHead::Logistic(head) = &first_page_head {
            if !finite(head.params().iter().chain([head.intercept()].iter())) {
                return Err(diverged("first-page head", params));
            }
        }

        Ok(ImageModel {
            width,
            height,
            block: params.block,
            classes,
            standardiser,
            type_head,
            first_page_head,
        })
    }

    /// The document types, sorted; the order of probability rows.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The bitmap size the model was trained on (width, height).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Type probabilities (one row per input row, in `classes()` order) and P(first page).
    fn predict_matrix(&self, x: &Array2<f64>) -> (Vec<Vec<f64>>, Vec<f64>) {
        let raw = self.type_head.predict_probabilities(x);
        // linfa orders columns by its own sorted targets; map them back to class indices.
        let probabilities = raw
            .rows()
            .into_iter()
            .map(|row| {
                let mut p = vec![0.0; self.classes.len()];
                for (&class, &v) in self.type_head.classes().iter().zip(row) {
                    if let Some(slot) = p.get_mut(class) {
                        *slot = v;
                    }
                }
                p
            })
            .collect();
        let first = match &self.first_page_head {
            FirstPageHead::Constant(c) => vec![*c; x.nrows()],
            FirstPageHead::Logistic(head) => {
                // predict_probabilities is P(the larger label), i.e. P(true).
                let positive_is_first = head.labels().pos.class;
                head.predict_probabilities(x)
                    .iter()
                    .map(|&p| if positive_is_first { p } else { 1.0 - p })
                    .collect()
            }
        };
        (probabilities, first)
    }

    fn prediction(&self, page_id: &str, probabilities: &[f64], first: f64) -> Prediction {
        let best = probabilities
            .iter()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, (i, &p)| {
                    if p > acc.1 {
                        (i, p)
                    } else {
                        acc
                    }
                },
            )
            .0;
        Prediction {
            page_id: page_id.to_string(),
            label: self.classes.get(best).cloned().unwrap_or_default(),
            probabilities: self
                .classes
                .iter()
                .cloned()
                .zip(probabilities.iter().copied())
                .collect(),
            first_page_probability: first,
        }
    }

    /// Predicts pages of the training size (errors name the offending page).
    pub fn predict_pages(&self, pages: &[ImagePage]) -> Result<Vec<Prediction>, TrainError> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let rows = feature_rows(pages, (self.width, self.height), self.block, "input")?;
        let x = to_matrix(rows, &self.standardiser);
        let (probabilities, first) = self.predict_matrix(&x);
        Ok(pages
            .iter()
            .zip(probabilities.iter().zip(first))
            .map(|(p, (probs, f))| self.prediction(&p.page_id, probs, f))
            .collect())
    }

    /// Predicts one page from its decoded pixels. Errors (TrainError::Data naming the
    /// page) when `pixels.len() != width * height` or the size is not the training size.
    pub fn predict(
        &self,
        page_id: &str,
        width: u32,
        height: u32,
        pixels: &[u8],
    ) -> Result<Prediction, TrainError> {
        if (width, height) != (self.width, self.height) {
            return Err(TrainError::Data(format!(
                "page `{page_id}` is {width}x{height} but the model was trained on {}x{} bitmaps",
                self.width, self.height
            )));
        }
        let bitmap = Bitmap::new(width, height, pixels)
            .map_err(|e| TrainError::Data(format!("page `{page_id}`: {e}")))?;
        let x = to_matrix(
            vec![features::extract(&bitmap, self.block)],
            &self.standardiser,
        );
        let (probabilities, first) = self.predict_matrix(&x);
        let probs = probabilities.first().map(Vec::as_slice).unwrap_or(&[]);
        Ok(self.prediction(page_id, probs, first.first().copied().unwrap_or(0.0)))
    }

    /// Reads `model.json` from the model directory.
    pub fn load(model_dir: &Path) -> Result<ImageModel, TrainError> {
        let model: ImageModel = trainer_kit::load_model(model_dir, MODEL_FILE)?;
        model.check()?;
        Ok(model)
    }

    /// A hand-edited or truncated model.json must not make predict panic in ndarray.
    fn check(&self) -> Result<(), TrainError> {
        let d = features::feature_count(self.width as usize, self.height as usize, self.block);
        let (rows, cols) = self.type_head.params().dim();
        let bad = |what: &str| Err(TrainError::Model(format!("{MODEL_FILE}: {what}")));
        if self.width == 0 || self.height == 0 || !(1..=16).contains(&self.block) {
            return bad("bad bitmap size or block");
        }
        if self.standardiser.mean.len() != d || self.standardiser.std.len() != d || rows != d {
            return bad("feature count does not match the bitmap size and block");
        }
        if cols != self.type_head.intercept().len()
            || cols != self.type_head.classes().len()
            || self
                .type_head
                .classes()
                .iter()
                .any(|&c| c >= self.classes.len())
        {
            return bad("document-type head does not match the classes");
        }
        if let FirstPageHead::Logistic(head) = &self.first_page_head {
            if head.params().len() != d {
                return bad("first-page head does not match the feature count");
            }
        }
        Ok(())
    }
}

/// The input of /invocations: SequenceImage lines (ImagePage lines work too: the
/// extra fields are ignored).
impl Predictor for ImageModel {
    fn invoke(&self, body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, ServeError> {
        trainer_kit::map_json_lines(body, content_type, |page: SequenceImage| {
            let pixels = decode(&page.page_id, page.width, page.height, &page.pixels)
                .map_err(ServeError::BadRequest)?;
            self.predict(&page.page_id, page.width, page.height, &pixels)
                .map_err(|e| ServeError::BadRequest(e.to_string()))
        })
    }
}

/// Counts per label, sorted by label.
impl ImageModel {
    /// Scores the model on labelled pages (see [`Evaluation::of_predictions`]: a label
    /// the model was not trained on counts as an error).
    pub fn evaluate(&self, pages: &[ImagePage]) -> Result<Evaluation, TrainError> {
        let truth: Vec<(&str, bool)> = pages
            .iter()
            .map(|p| (p.label.as_str(), p.page_number == 1))
            .collect();
        let predictions = self.predict_pages(pages)?;
        Ok(Evaluation::of_predictions(
            &self.classes,
            &truth,
            &predictions,
        ))
    }

    /// Mean log loss of the document-type head on its training pages.
    pub fn training_loss(&self, pages: &[ImagePage]) -> Result<f64, TrainError> {
        Ok(self.evaluate(pages)?.loss)
    }
}

/// The training job: hyperparameters, channels `train` and `validation`, the
/// metric lines SageMaker's MetricDefinitions read, then `model.json` and
/// `metrics.json` in the model directory.
pub fn train(root: &MlRoot) -> Result<(), TrainError> {
    let mut h = Hyperparameters::load(root)?;
    let params = ImageParams::from_hyperparameters(&mut h)?;
    h.finish()?;

    let train_pages: Vec<ImagePage> = trainer_kit::read_channel(root, "train")?;
    let validation: Vec<ImagePage> = trainer_kit::read_channel(root, "validation")?;
    eprintln!(
        "image-trainer: {} training pages ({}); {} validation pages ({}); block={} epochs={} l2={}",
        train_pages.len(),
        label_counts(train_pages.iter().map(|p| p.label.as_str())),
        validation.len(),
        label_counts(validation.iter().map(|p| p.label.as_str())),
        params.block,
        params.epochs,
        params.l2
    );

    let model = ImageModel::fit(&train_pages, &params)?;
    let train_loss = model.training_loss(&train_pages)?;
    metrics::log_metrics(&[("train:loss", train_loss)]);

    let eval = model.evaluate(&validation)?;
    eval.log_validation();

    trainer_kit::save_model(root, MODEL_FILE, &model)?;
    let mut all = serde_json::Map::new();
    all.insert("train:loss".into(), serde_json::json!(train_loss));
    for (name, value) in eval.validation_metrics() {
        all.insert(name.into(), serde_json::json!(value));
    }
    all.insert(
        "validation:majority_baseline".into(),
        serde_json::json!(eval.majority_baseline),
    );
    all.insert("train_pages".into(), serde_json::json!(train_pages.len()));
    all.insert(
        "validation_pages".into(),
        serde_json::json!(validation.len()),
    );
    trainer_kit::save_model(root, METRICS_FILE, &all)
}
