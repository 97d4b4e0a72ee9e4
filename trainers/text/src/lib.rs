//! The text model of the ensemble, packaged as a SageMaker training and inference
//! container: TF-IDF over word and character n-grams of the OCR text, then two
//! multinomial/binary logistic regressions (linfa-logistic) predicting the document
//! type and whether the page is a document's first page.
//!
//! `train` is the container's `train` command (channels `train` and `validation`);
//! [`TextModel`] implements [`trainer_kit::Predictor`] for `serve`.

mod features;
mod model;
mod params;

use std::collections::BTreeMap;
use std::time::Instant;

use dataset::TextPage;
use trainer_kit::{metrics, MlRoot, TrainError};

pub use features::Vectorizer;
pub use model::{TextModel, MODEL_FILE};
pub use params::TextParams;

/// File name of the final metrics in the model directory.
pub const METRICS_FILE: &str = "metrics.json";

/// Figures of a model on a labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub first_page_f1: f64,
    pub loss: f64,
    pub majority_baseline: f64,
    /// Pages whose label the model does not know (counted as errors).
    pub unknown_labels: usize,
}

/// Measures `model` on labelled pages. A label the model was not trained on counts as
/// an error: it gets its own class index, which no prediction carries, and probability
/// 0 in the log loss (clamped by the metric).
pub fn evaluate(model: &TextModel, pages: &[TextPage]) -> Evaluation {
    let classes = model.classes();
    let n_known = classes.len();
    let truth: Vec<usize> = pages
        .iter()
        .map(|p| classes.binary_search(&p.label).unwrap_or(n_known))
        .collect();
    let unknown_labels = truth.iter().filter(|&&t| t == n_known).count();
    let n_classes = if unknown_labels > 0 {
        n_known + 1
    } else {
        n_known
    };

    let scores = model.score(pages.iter().map(|p| p.text.as_str()));
    let predicted = TextModel::argmax_rows(&scores.probabilities);
    let rows: Vec<Vec<f64>> = scores
        .probabilities
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    let first_truth: Vec<bool> = pages.iter().map(|p| p.page_number == 1).collect();
    let first_predicted: Vec<bool> = scores.first_page.iter().map(|&p| p >= 0.5).collect();
    Evaluation {
        accuracy: metrics::accuracy(&truth, &predicted),
        macro_f1: metrics::macro_f1(&truth, &predicted, n_classes),
        first_page_f1: metrics::binary_f1(&first_truth, &first_predicted),
        loss: metrics::log_loss(&truth, &rows),
        majority_baseline: metrics::majority_baseline(&truth, n_classes),
        unknown_labels,
    }
}

/// Pages per label, sorted by label, for the log.
fn class_counts(pages: &[TextPage]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pages {
        *counts.entry(p.label.as_str()).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|(label, n)| format!("{label}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The container's `train` command: hyperparameters, channels `train` and
/// `validation`, fit, metrics on stdout, `model.json` and `metrics.json`.
pub fn train(root: &MlRoot) -> Result<(), TrainError> {
    let mut hyper = trainer_kit::Hyperparameters::load(root)?;
    let params = TextParams::from_hyperparameters(&mut hyper)?;
    hyper.finish()?;
    eprintln!("text-trainer: hyperparameters {params:?}");

    let train: Vec<TextPage> = trainer_kit::read_channel(root, "train")?;
    let validation: Vec<TextPage> = trainer_kit::read_channel(root, "validation")?;
    eprintln!("train: {} pages: {}", train.len(), class_counts(&train));
    eprintln!(
        "validation: {} pages: {}",
        validation.len(),
        class_counts(&validation)
    );

    let started = Instant::now();
    let model = TextModel::fit(&train, &params)?;
    eprintln!(
        "fitted {} classes on {} features in {:.1} s",
        model.classes().len(),
        model.n_features(),
        started.elapsed().as_secs_f64()
    );

    let on_train = evaluate(&model, &train);
    metrics::log_metrics(&[("train:loss", on_train.loss)]);

    let on_validation = evaluate(&model, &validation);
    if on_validation.unknown_labels > 0 {
        eprintln!(
            "warning: {} validation page(s) have a label absent from the training set; \
             they count as errors",
            on_validation.unknown_labels
        );
    }
    metrics::log_metrics(&[
        ("validation:accuracy", on_validation.accuracy),
        ("validation:macro_f1", on_validation.macro_f1),
        ("validation:first_page_f1", on_validation.first_page_f1),
        ("validation:loss", on_validation.loss),
    ]);
    eprintln!(
        "majority-class baseline on validation: {:.4}",
        on_validation.majority_baseline
    );

    trainer_kit::save_model(root, MODEL_FILE, &model)?;
    let mut figures = serde_json::Map::new();
    for (name, value) in [
        ("train:loss", on_train.loss),
        ("train:accuracy", on_train.accuracy),
        ("validation:accuracy", on_validation.accuracy),
        ("validation:macro_f1", on_validation.macro_f1),
        ("validation:first_page_f1", on_validation.first_page_f1),
        ("validation:loss", on_validation.loss),
        (
            "validation:majority_baseline",
            on_validation.majority_baseline,
        ),
    ] {
        figures.insert(name.to_owned(), serde_json::json!(value));
    }
    figures.insert("train:pages".into(), train.len().into());
    figures.insert("validation:pages".into(), validation.len().into());
    figures.insert("features".into(), model.n_features().into());
    trainer_kit::save_model(root, METRICS_FILE, &figures)
}
