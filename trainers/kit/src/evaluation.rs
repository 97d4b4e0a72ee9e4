//! How a base model (text or image) did on labelled pages, computed the same way for
//! both from their [`Prediction`]s, and the validation lines both print.

use std::collections::BTreeMap;

use crate::metrics;
use crate::prediction::Prediction;

/// Figures of a model on labelled pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// F1 of the first-page head (`first_page_probability >= 0.5`).
    pub first_page_f1: f64,
    /// Mean log loss of the document-type head.
    pub loss: f64,
    /// Accuracy of always answering the most common true label.
    pub majority_baseline: f64,
    /// Labels absent from the model's classes, with their page counts: never
    /// predicted, so counted as errors and as classes of the macro F1.
    pub unknown_labels: BTreeMap<String, usize>,
}

impl Evaluation {
    /// `truth` holds each page's label and whether it is a first page, in the order of
    /// `predictions`; `classes` are the model's (sorted) classes.
    pub fn of_predictions(
        classes: &[String],
        truth: &[(&str, bool)],
        predictions: &[Prediction],
    ) -> Evaluation {
        let mut index: BTreeMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut unknown_labels = BTreeMap::new();
        for (label, _) in truth {
            if !index.contains_key(label) {
                *unknown_labels.entry(label.to_string()).or_insert(0) += 1;
            }
        }
        for label in unknown_labels.keys() {
            let next = index.len();
            index.insert(label.as_str(), next);
        }
        let n_all = index.len();
        let position = |label: &str| index.get(label).copied().unwrap_or(n_all);
        let true_labels: Vec<usize> = truth.iter().map(|(label, _)| position(label)).collect();
        let predicted: Vec<usize> = predictions.iter().map(|p| position(&p.label)).collect();
        let rows: Vec<Vec<f64>> = predictions
            .iter()
            .map(|p| {
                let mut row: Vec<f64> = classes
                    .iter()
                    .map(|c| p.probabilities.get(c).copied().unwrap_or(0.0))
                    .collect();
                row.resize(n_all, 0.0);
                row
            })
            .collect();
        let first_truth: Vec<bool> = truth.iter().map(|(_, first)| *first).collect();
        let first_predicted: Vec<bool> = predictions
            .iter()
            .map(|p| p.first_page_probability >= 0.5)
            .collect();
        Evaluation {
            accuracy: metrics::accuracy(&true_labels, &predicted),
            macro_f1: metrics::macro_f1(&true_labels, &predicted, n_all),
            first_page_f1: metrics::binary_f1(&first_truth, &first_predicted),
            loss: metrics::log_loss(&true_labels, &rows),
            majority_baseline: metrics::majority_baseline(&true_labels, n_all),
            unknown_labels,
        }
    }

    /// The figures of the validation line, by metric name.
    pub fn validation_metrics(&self) -> [(&'static str, f64); 4] {
        [
            ("validation:accuracy", self.accuracy),
            ("validation:macro_f1", self.macro_f1),
            ("validation:first_page_f1", self.first_page_f1),
            ("validation:loss", self.loss),
        ]
    }

    /// The validation line the MetricDefinitions read (stdout), with the warning about
    /// unknown labels and the majority-class baseline on stderr.
    pub fn log_validation(&self) {
        if !self.unknown_labels.is_empty() {
            eprintln!(
                "warning: validation labels unknown to the training set (counted as errors): {}",
                describe_counts(self.unknown_labels.iter().map(|(l, n)| (l.as_str(), *n)))
            );
        }
        metrics::log_metrics(&self.validation_metrics());
        eprintln!(
            "majority-class baseline on validation: {:.4}",
            self.majority_baseline
        );
    }
}

/// Pages per label, sorted by label, as `label=n label=n` for the logs.
pub fn label_counts<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_insert(0) += 1;
    }
    describe_counts(counts.into_iter())
}

fn describe_counts<'a>(counts: impl Iterator<Item = (&'a str, usize)>) -> String {
    counts
        .map(|(label, n)| format!("{label}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(label: &str, p: &[(&str, f64)], first: f64) -> Prediction {
        Prediction {
            page_id: "p".into(),
            label: label.into(),
            probabilities: p.iter().map(|(c, v)| (c.to_string(), *v)).collect(),
            first_page_probability: first,
        }
    }

    #[test]
    fn unknown_labels_count_as_errors_and_as_classes() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let predictions = [
            prediction("a", &[("a", 0.9), ("b", 0.1)], 0.8),
            prediction("b", &[("a", 0.2), ("b", 0.8)], 0.1),
            prediction("a", &[("a", 0.6), ("b", 0.4)], 0.7),
        ];
        let truth = [("a", true), ("b", false), ("c", false)];
        let e = Evaluation::of_predictions(&classes, &truth, &predictions);
        assert!((e.accuracy - 2.0 / 3.0).abs() < 1e-12);
        // F1: a = 2·1/(2+1+0) = 2/3, b = 1, c = 0 → mean 5/9.
        assert!((e.macro_f1 - 5.0 / 9.0).abs() < 1e-12, "{}", e.macro_f1);
        // First pages: truth [t, f, f], predicted [t, f, t] → F1 = 2/3.
        assert!((e.first_page_f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.unknown_labels, BTreeMap::from([("c".to_string(), 1)]));
        assert!((e.majority_baseline - 1.0 / 3.0).abs() < 1e-12);
        // The unknown label's probability is 0, clamped at 1e-12.
        let expected = -(0.9f64.ln() + 0.8f64.ln() + 1e-12f64.ln()) / 3.0;
        assert!((e.loss - expected).abs() < 1e-9, "{}", e.loss);
    }

    #[test]
    fn label_counts_are_sorted() {
        assert_eq!(label_counts(["b", "a", "b"]), "a=1 b=2");
    }
}
