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

use std::time::Instant;

use dataset::TextPage;
pub use trainer_kit::Evaluation;
use trainer_kit::{label_counts, metrics, MlRoot, TrainError};

pub use features::Vectorizer;
pub use model::{TextModel, MODEL_FILE};
pub use params::TextParams;

/// File name of the final metrics in the model directory.
pub const METRICS_FILE: &str = "metrics.json";

/// Measures `model` on labelled pages (see [`Evaluation::of_predictions`]: a label
/// the model was not trained on counts as an error).
pub fn evaluate(model: &TextModel, pages: &[TextPage]) -> Evaluation {
    let truth: Vec<(&str, bool)> = pages
        .iter()
        .map(|p| (p.label.as_str(), p.page_number == 1))
        .collect();
    Evaluation::of_predictions(model.classes(), &truth, &model.predict_pages(pages))
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
    eprintln!(
        "train: {} pages: {}",
        train.len(),
        label_counts(train.iter().map(|p| p.label.as_str()))
    );
    eprintln!(
        "validation: {} pages: {}",
        validation.len(),
        label_counts(validation.iter().map(|p| p.label.as_str()))
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
    on_validation.log_validation();

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
