//! Metrics of the decoded sequence model on one split, with the base models'
//! page accuracies on the same pages as the baselines it has to beat.

use trainer_kit::metrics;

use crate::data::LabelledSequence;
use crate::decode::spans;
use crate::model::SequenceModel;

/// Everything reported for one split (`validation:...`, `test:...`).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub pages: usize,
    pub documents: usize,
    /// Page type after decoding.
    pub accuracy: f64,
    pub macro_f1: f64,
    /// F1 of `starts_document` over every page (position 0 included).
    pub boundary_f1: f64,
    /// Fraction of true documents whose exact span and every page's type were predicted.
    pub document_accuracy: f64,
    /// Page accuracy of the text model's argmax on the same pages (a base class outside
    /// the class list counts as an error).
    pub text_accuracy: f64,
    /// Page accuracy of the image model's argmax on the same pages.
    pub image_accuracy: f64,
    /// Macro F1 of the text model's argmax on the same pages.
    pub text_macro_f1: f64,
    /// Macro F1 of the image model's argmax on the same pages.
    pub image_macro_f1: f64,
}

impl Evaluation {
    /// The metrics as `(prefix:name, value)` pairs, in the printed order.
    pub fn named(&self, prefix: &str) -> Vec<(String, f64)> {
        [
            ("accuracy", self.accuracy),
            ("macro_f1", self.macro_f1),
            ("boundary_f1", self.boundary_f1),
            ("document_accuracy", self.document_accuracy),
            ("text_accuracy", self.text_accuracy),
            ("image_accuracy", self.image_accuracy),
            ("text_macro_f1", self.text_macro_f1),
            ("image_macro_f1", self.image_macro_f1),
        ]
        .into_iter()
        .map(|(name, value)| (format!("{prefix}:{name}"), value))
        .collect()
    }
}

/// Runs the model over `sequences` and scores it against their labels.
pub fn evaluate(model: &SequenceModel, sequences: &[&LabelledSequence]) -> Evaluation {
    let classes = model.classes();
    // A label outside the class list cannot happen for data joined by this crate (the
    // list is the labels' union); should it, the page counts as an error.
    let unknown = classes.len();
    let index = |label: &str| {
        classes
            .binary_search_by(|c| c.as_str().cmp(label))
            .unwrap_or(unknown)
    };
    let mut truth = Vec::new();
    let mut predicted = Vec::new();
    let mut true_starts = Vec::new();
    let mut predicted_starts = Vec::new();
    let mut text_predicted = Vec::new();
    let mut image_predicted = Vec::new();
    let (mut documents, mut documents_right) = (0usize, 0usize);
    for sequence in sequences {
        let evidence: Vec<_> = sequence
            .pages
            .iter()
            .map(|p| model.evidence(&p.text, &p.image))
            .collect();
        let output = model.predict(&evidence);
        let seq_truth: Vec<usize> = sequence
            .pages
            .iter()
            .map(|p| index(&p.label.label))
            .collect();
        let seq_starts: Vec<bool> = sequence
            .pages
            .iter()
            .enumerate()
            .map(|(i, p)| i == 0 || p.label.starts_document)
            .collect();
        for page in &sequence.pages {
            text_predicted.push(base_argmax(&page.text).map_or(unknown, index));
            image_predicted.push(base_argmax(&page.image).map_or(unknown, index));
        }
        let predicted_spans = spans(&output.decoded.starts);
        for (a, b) in spans(&seq_starts) {
            documents += 1;
            let span_right = predicted_spans.contains(&(a, b));
            let types_right = (a..b).all(|i| output.decoded.types[i] == seq_truth[i]);
            documents_right += usize::from(span_right && types_right);
        }
        truth.extend(seq_truth);
        predicted.extend(output.decoded.types.iter().copied());
        true_starts.extend(seq_starts);
        predicted_starts.extend(output.decoded.starts.iter().copied());
    }
    let pages = truth.len();
    let ratio = |right: usize, total: usize| {
        if total == 0 {
            0.0
        } else {
            right as f64 / total as f64
        }
    };
    Evaluation {
        pages,
        documents,
        // `unknown` labels are a class of their own, so they count against the F1s.
        accuracy: metrics::accuracy(&truth, &predicted),
        macro_f1: metrics::macro_f1(&truth, &predicted, classes.len() + 1),
        boundary_f1: metrics::binary_f1(&true_starts, &predicted_starts),
        document_accuracy: ratio(documents_right, documents),
        text_accuracy: metrics::accuracy(&truth, &text_predicted),
        image_accuracy: metrics::accuracy(&truth, &image_predicted),
        text_macro_f1: metrics::macro_f1(&truth, &text_predicted, classes.len() + 1),
        image_macro_f1: metrics::macro_f1(&truth, &image_predicted, classes.len() + 1),
    }
}

/// The base model's most probable class (first in sorted order on ties), from its
/// probabilities rather than its `label` field, which a hand-made file might not keep
/// consistent.
fn base_argmax(prediction: &trainer_kit::Prediction) -> Option<&str> {
    let mut best: Option<(&str, f64)> = None;
    for (class, &p) in &prediction.probabilities {
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((class.as_str(), p));
        }
    }
    best.map(|(c, _)| c)
}
