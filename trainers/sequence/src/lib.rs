//! The sequence model of the ensemble ("page 1-4 is a contract"), packaged as a
//! SageMaker training and inference container.
//!
//! It learns from the text and image models' batch-transform predictions on the
//! sequence pages (channels `text_predictions` and `image_predictions`) and the
//! pages' truth (channel `labels`): for each page, both models' class and first-page
//! probabilities on the page and its neighbours, page-order and agreement cues feed
//! two logistic-regression heads (page type; starts a document); a decoding step then
//! cuts each sequence into documents and gives every page its document's type.
//!
//! Training uses split `train`; metrics are reported on `validation` (required) and
//! `test` (when present), after decoding, next to the base models' own accuracies on
//! the same pages.

mod data;
mod decode;
mod evaluate;
mod features;
mod model;
mod params;
mod serve;

use std::collections::BTreeMap;

use dataset::SequenceLabel;
use trainer_kit::{
    metrics, read_channel, save_model, Hyperparameters, MlRoot, Prediction, TrainError,
};

pub use data::{
    LabelledPage, LabelledSequence, SequenceDataset, IMAGE_CHANNEL, LABELS_CHANNEL, TEXT_CHANNEL,
};
pub use decode::{decode, spans, Decoded};
pub use evaluate::{evaluate, Evaluation};
pub use features::{FeatureSpec, PageEvidence};
pub use model::{SequenceModel, SequencePrediction, MODEL_FILE};
pub use params::SequenceParams;
pub use serve::{DocumentResponse, PageResponse, RequestPage, SequenceRequest, SequenceResponse};

/// The metrics file written next to `model.json`.
pub const METRICS_FILE: &str = "metrics.json";

/// What [`fit_and_evaluate`] produces: the model and every reported metric.
#[derive(Debug, Clone)]
pub struct TrainingOutcome {
    pub model: SequenceModel,
    pub train_loss: f64,
    pub validation: Evaluation,
    pub test: Option<Evaluation>,
}

/// Fits on split `train` and evaluates on `validation` (required) and `test` (if any).
pub fn fit_and_evaluate(
    dataset: &SequenceDataset,
    params: &SequenceParams,
) -> Result<TrainingOutcome, TrainError> {
    let train = dataset.split("train");
    if train.is_empty() {
        return Err(TrainError::Data(format!(
            "channel `{LABELS_CHANNEL}`: no page has split `train`"
        )));
    }
    let validation = dataset.split("validation");
    if validation.is_empty() {
        return Err(TrainError::Data(format!(
            "channel `{LABELS_CHANNEL}`: no page has split `validation`; the sequence model is measured on it"
        )));
    }
    let (model, train_loss) = SequenceModel::fit(dataset.classes.clone(), &train, params)?;
    let validation = evaluate(&model, &validation);
    let test = dataset.split("test");
    let test = (!test.is_empty()).then(|| evaluate(&model, &test));
    Ok(TrainingOutcome {
        model,
        train_loss,
        validation,
        test,
    })
}

/// The training job: hyperparameters, channels, fit, metrics, `model.json` and
/// `metrics.json`.
pub fn train(root: &MlRoot) -> Result<(), TrainError> {
    let mut hyperparameters = Hyperparameters::load(root)?;
    let params = SequenceParams::from_hyperparameters(&mut hyperparameters)?;
    hyperparameters.finish()?;

    let labels: Vec<SequenceLabel> = read_channel(root, LABELS_CHANNEL)?;
    let text: Vec<Prediction> = read_channel(root, TEXT_CHANNEL)?;
    let image: Vec<Prediction> = read_channel(root, IMAGE_CHANNEL)?;
    let (n_text, n_image) = (text.len(), image.len());
    let dataset = SequenceDataset::join(labels, text, image)?;
    log_counts(&dataset, n_text, n_image);

    let outcome = fit_and_evaluate(&dataset, &params)?;
    let mut all: Vec<(String, f64)> = vec![("train:loss".to_owned(), outcome.train_loss)];
    print_metrics(&all);
    let validation = outcome.validation.named("validation");
    print_metrics(&validation);
    all.extend(validation);
    if let Some(test) = &outcome.test {
        let test = test.named("test");
        print_metrics(&test);
        all.extend(test);
    }
    let v = &outcome.validation;
    eprintln!(
        "validation: {} pages, {} documents; sequence model accuracy {:.4} vs text {:.4}, image {:.4}",
        v.pages, v.documents, v.accuracy, v.text_accuracy, v.image_accuracy
    );

    save_model(root, MODEL_FILE, &outcome.model)?;
    // Non-finite values cannot be JSON numbers; they are left out (and were warned
    // about by log_metrics).
    let metrics_object: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .filter_map(|(name, value)| {
            serde_json::Number::from_f64(*value)
                .map(|n| (name.clone(), serde_json::Value::Number(n)))
        })
        .collect();
    save_model(root, METRICS_FILE, &metrics_object)
}

fn print_metrics(named: &[(String, f64)]) {
    let pairs: Vec<(&str, f64)> = named.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    metrics::log_metrics(&pairs);
}

/// Stderr: pages and sequences per split, pages per class, ignored predictions.
fn log_counts(dataset: &SequenceDataset, n_text: usize, n_image: usize) {
    eprintln!(
        "read {n_text} text and {n_image} image predictions; classes: {}",
        dataset.classes.join(", ")
    );
    for split in data::SPLITS {
        let sequences = dataset.split(split);
        if sequences.is_empty() {
            continue;
        }
        let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
        let mut documents = 0;
        for sequence in &sequences {
            for page in &sequence.pages {
                *per_class.entry(page.label.label.as_str()).or_default() += 1;
                documents += usize::from(page.label.starts_document);
            }
        }
        let pages: usize = per_class.values().sum();
        let counts: Vec<String> = per_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
        eprintln!(
            "{split}: {} sequences, {documents} documents, {pages} pages ({})",
            sequences.len(),
            counts.join(", ")
        );
    }
    let trained: std::collections::BTreeSet<&str> = dataset
        .split("train")
        .iter()
        .flat_map(|s| s.pages.iter().map(|p| p.label.label.as_str()))
        .collect();
    for class in &dataset.classes {
        if !trained.contains(class.as_str()) {
            eprintln!(
                "warning: class `{class}` has no page in split `train`; the model cannot predict it"
            );
        }
    }
    for (channel, n) in [
        (TEXT_CHANNEL, dataset.unlabelled_text),
        (IMAGE_CHANNEL, dataset.unlabelled_image),
    ] {
        if n > 0 {
            eprintln!("warning: {n} prediction(s) in channel `{channel}` have no label; ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (no dev-dependency needed for unit tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() * n as f64) as usize).min(n - 1)
        }
    }

    const CLASSES: [&str; 3] = ["a", "b", "c"];

    /// A base model that is right on 60% of pages, otherwise confidently wrong, with
    /// a noisy first-page signal.
    fn base(rng: &mut Lcg, page_id: &str, truth: usize, first: bool) -> Prediction {
        let said = if rng.next() < 0.6 {
            truth
        } else {
            rng.below(3)
        };
        let probabilities = CLASSES
            .iter()
            .enumerate()
            .map(|(c, name)| ((*name).to_owned(), if c == said { 0.8 } else { 0.1 }))
            .collect();
        let first_page_probability = if first == (rng.next() < 0.8) {
            0.9
        } else {
            0.1
        };
        Prediction {
            page_id: page_id.to_owned(),
            label: CLASSES[said].to_owned(),
            probabilities,
            first_page_probability,
        }
    }

    fn synthetic(
        sequences: usize,
        seed: u64,
    ) -> (Vec<SequenceLabel>, Vec<Prediction>, Vec<Prediction>) {
        let mut rng = Lcg(seed);
        let (mut labels, mut text, mut image) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..sequences {
            let sequence_id = format!("s{s:04}");
            let split = ["train", "train", "train", "validation", "test"][s % 5];
            let mut position = 0u32;
            for d in 0..2 + rng.below(4) {
                let truth = rng.below(3);
                for page in 0..1 + rng.below(4) {
                    let page_id = format!("{sequence_id}-p{position:03}");
                    labels.push(SequenceLabel {
                        page_id: page_id.clone(),
                        sequence_id: sequence_id.clone(),
                        position,
                        document_id: format!("{sequence_id}-d{d}"),
                        page_number: page as u32 + 1,
                        split: split.to_owned(),
                        label: CLASSES[truth].to_owned(),
                        starts_document: page == 0,
                    });
                    text.push(base(&mut rng, &page_id, truth, page == 0));
                    image.push(base(&mut rng, &page_id, truth, page == 0));
                    position += 1;
                }
            }
        }
        (labels, text, image)
    }

    #[test]
    fn context_and_decoding_beat_both_base_models_on_synthetic_predictions() {
        let (labels, text, image) = synthetic(300, 7);
        let dataset = SequenceDataset::join(labels, text, image).unwrap();
        assert_eq!(dataset.classes, CLASSES);
        let outcome = fit_and_evaluate(&dataset, &SequenceParams::default()).unwrap();
        let v = &outcome.validation;
        eprintln!("{v:?} train loss {}", outcome.train_loss);
        assert!(outcome.train_loss.is_finite() && outcome.train_loss > 0.0);
        let best = v.text_accuracy.max(v.image_accuracy);
        assert!(v.accuracy > best + 0.1, "{v:?}");
        assert!(v.boundary_f1 > 0.7, "{v:?}");
        assert!(v.document_accuracy > 0.3, "{v:?}");
        assert!(outcome.test.is_some());
    }

    #[test]
    fn missing_predictions_name_the_pages_and_the_channel() {
        let (labels, mut text, image) = synthetic(10, 1);
        let dropped: Vec<String> = text.drain(..7).map(|p| p.page_id).collect();
        let err = SequenceDataset::join(labels, text, image)
            .unwrap_err()
            .to_string();
        assert!(err.contains("7 labelled page(s)"), "{err}");
        assert!(err.contains("`text_predictions`"), "{err}");
        assert!(err.contains(&format!("`{}`", dropped[0])), "{err}");
        assert!(err.contains("and 2 more"), "{err}");
        assert!(!err.contains("image_predictions"), "{err}");
    }

    #[test]
    fn unlabelled_predictions_are_counted_and_ignored() {
        let (mut labels, text, image) = synthetic(10, 2);
        let n = labels.len();
        labels.retain(|l| l.sequence_id != "s0000");
        let ignored = n - labels.len();
        let dataset = SequenceDataset::join(labels, text, image).unwrap();
        assert_eq!(dataset.unlabelled_text, ignored);
        assert_eq!(dataset.unlabelled_image, ignored);
        assert_eq!(dataset.sequences.len(), 9);
    }

    #[test]
    fn positions_must_be_contiguous() {
        let (mut labels, text, image) = synthetic(10, 3);
        let victim = labels
            .iter_mut()
            .find(|l| l.sequence_id == "s0004" && l.position == 1);
        victim.unwrap().position = 0;
        let err = SequenceDataset::join(labels, text, image)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("sequence `s0004`: positions must be 0.."),
            "{err}"
        );
        assert!(err.contains("found 0, 0, 2"), "{err}");
    }

    #[test]
    fn bad_probabilities_and_duplicates_are_refused() {
        let (labels, text, mut image) = synthetic(5, 4);
        image[3].first_page_probability = f64::NAN;
        let err = SequenceDataset::join(labels.clone(), text.clone(), image).unwrap_err();
        assert!(
            err.to_string()
                .contains("channel `image_predictions`: page"),
            "{err}"
        );
        let mut doubled = text.clone();
        doubled.push(text[0].clone());
        let (_, _, image) = synthetic(5, 4);
        let err = SequenceDataset::join(labels, doubled, image).unwrap_err();
        assert!(
            err.to_string().contains("more than one prediction"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_validation_split_is_refused() {
        let (mut labels, text, image) = synthetic(20, 5);
        for l in &mut labels {
            if l.split == "validation" {
                l.split = "train".to_owned();
            }
        }
        let dataset = SequenceDataset::join(labels, text, image).unwrap();
        let err = fit_and_evaluate(&dataset, &SequenceParams::default()).unwrap_err();
        assert!(err.to_string().contains("split `validation`"), "{err}");
    }

    #[test]
    fn serve_decodes_a_sequence_and_refuses_mismatched_pages() {
        let (labels, text, image) = synthetic(60, 6);
        let dataset = SequenceDataset::join(labels, text, image).unwrap();
        let params = SequenceParams::default();
        let outcome = fit_and_evaluate(&dataset, &params).unwrap();
        let model = outcome.model;
        // Round trip through JSON, as serve loads it.
        let json = serde_json::to_string(&model).unwrap();
        let model: SequenceModel = serde_json::from_str(&json).unwrap();
        let sequence = &dataset.sequences[0];
        let request = SequenceRequest::from(sequence);
        let line = serde_json::to_string(&request).unwrap();
        let body = format!("{line}\n\n{line}\n");
        let out =
            trainer_kit::Predictor::invoke(&model, body.as_bytes(), Some("application/jsonlines"))
                .unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        let response: SequenceResponse = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(response.sequence_id, sequence.sequence_id);
        assert_eq!(response.pages.len(), sequence.pages.len());
        assert!(response.pages[0].starts_document);
        let flattened: Vec<&str> = response
            .documents
            .iter()
            .flat_map(|d| d.pages.iter().map(String::as_str))
            .collect();
        let ids: Vec<&str> = sequence
            .pages
            .iter()
            .map(|p| p.label.page_id.as_str())
            .collect();
        assert_eq!(flattened, ids);
        for page in &response.pages {
            let sum: f64 = page.probabilities.values().sum();
            assert!((sum - 1.0).abs() < 1e-9);
            assert!((0.0..=1.0).contains(&page.start_probability));
        }
        for document in &response.documents {
            let first = response
                .pages
                .iter()
                .find(|p| p.page_id == document.pages[0])
                .unwrap();
            assert!(first.starts_document);
            assert!(response
                .pages
                .iter()
                .filter(|p| document.pages.contains(&p.page_id))
                .all(|p| p.label == document.label));
        }

        let mut bad = request.clone();
        bad.pages[1].image.page_id = "elsewhere".to_owned();
        let body = format!("{line}\n{}\n", serde_json::to_string(&bad).unwrap());
        let err = trainer_kit::Predictor::invoke(&model, body.as_bytes(), None).unwrap_err();
        let trainer_kit::ServeError::BadRequest(message) = err else {
            panic!("expected a 400, got {err:?}");
        };
        assert!(message.contains(&ids[1].to_string()), "{message}");
        assert!(message.contains("elsewhere"), "{message}");
    }

    #[test]
    fn a_model_file_with_wrong_shapes_is_refused_on_load() {
        let (labels, text, image) = synthetic(30, 8);
        let dataset = SequenceDataset::join(labels, text, image).unwrap();
        let model = fit_and_evaluate(&dataset, &SequenceParams::default())
            .unwrap()
            .model;
        let mut json = serde_json::to_value(&model).unwrap();
        json["start_head"]["weights"].as_array_mut().unwrap().pop();
        let dir =
            std::env::temp_dir().join(format!("sequence-trainer-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(MODEL_FILE), json.to_string()).unwrap();
        let err = SequenceModel::load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("boundary head"), "{err}");
    }
}
