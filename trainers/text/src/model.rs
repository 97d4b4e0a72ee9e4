//! The fitted text model: TF-IDF features and two linfa-logistic heads (document type,
//! first page), its model.json form, prediction and the `/invocations` handler.

use std::collections::BTreeMap;
use std::path::Path;

use dataset::{SequenceText, TextPage};
use linfa::prelude::*;
use linfa_logistic::{
    FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression,
    MultiLogisticRegression,
};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use trainer_kit::{Prediction, Predictor, ServeError, TrainError};

use crate::features::{TermCounts, Tokenizer, Vectorizer};
use crate::params::TextParams;

/// File name of the model in the model directory.
pub const MODEL_FILE: &str = "model.json";

/// The text model: everything `serve` needs (model.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "TextModelFile")]
pub struct TextModel {
    /// The hyperparameters it was trained with (for humans reading model.json).
    params: TextParams,
    vectorizer: Vectorizer,
    /// P(document type | page); its classes are the sorted training labels.
    document_type: MultiFittedLogisticRegression<f64, String>,
    first_page: FirstPageHead,
}

/// P(page_number == 1 | page).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FirstPageHead {
    Logistic {
        model: FittedLogisticRegression<f64, bool>,
    },
    /// The training pages were all first pages or none was (single-page documents
    /// only, say): a logistic regression needs both, so the observed rate is the answer.
    Constant { probability: f64 },
}

/// The deserialised form, checked before it becomes a [`TextModel`] so that a damaged
/// or mismatched model.json is a load error instead of a panic inside ndarray later.
#[derive(Deserialize)]
struct TextModelFile {
    params: TextParams,
    vectorizer: Vectorizer,
    document_type: MultiFittedLogisticRegression<f64, String>,
    first_page: FirstPageHead,
}

impl TryFrom<TextModelFile> for TextModel {
    type Error = String;

    fn try_from(f: TextModelFile) -> Result<Self, String> {
        let model = TextModel {
            params: f.params,
            vectorizer: f.vectorizer,
            document_type: f.document_type,
            first_page: f.first_page,
        };
        model.check()?;
        Ok(model)
    }
}

/// Class probabilities (rows, in `classes()` order) and first-page probabilities.
pub(crate) struct Scores {
    pub probabilities: Array2<f64>,
    pub first_page: Array1<f64>,
}

impl TextModel {
    /// Fits the vocabulary and both heads on `train`. Errors: a parameter out of range
    /// (`Hyperparameter`), fewer than 2 classes (`Data`), no term reaching `min_df`
    /// (`Hyperparameter` naming `min_df`), a linfa failure (`Model`).
    pub fn fit(train: &[TextPage], params: &TextParams) -> Result<TextModel, TrainError> {
        params.validate()?;
        let mut labels: Vec<&str> = train.iter().map(|p| p.label.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        if labels.len() < 2 {
            return Err(TrainError::Data(format!(
                "the training set has {} class(es) ({}); a classifier needs at least 2",
                labels.len(),
                labels.join(", ")
            )));
        }

        let tokenizer = Tokenizer {
            ngram_max: params.ngram_max,
            char_ngrams: params.char_ngrams,
        };
        let counts: Vec<TermCounts> = train.iter().map(|p| tokenizer.count(&p.text)).collect();
        let vectorizer = Vectorizer::fit(tokenizer, &counts, params.max_features, params.min_df)
            .map_err(|e| TrainError::Hyperparameter {
                name: "min_df".into(),
                message: format!(
                    "no term occurs in at least {} of the {} training pages; lower it",
                    e.min_df, e.documents
                ),
            })?;
        let x = vectorizer.transform_counts(&counts);
        drop(counts);

        let types: Array1<String> = train.iter().map(|p| p.label.clone()).collect();
        let document_type = MultiLogisticRegression::default()
            .alpha(params.l2)
            .max_iterations(params.epochs as u64)
            .fit(&DatasetBase::new(x.view(), types))
            .map_err(|e| TrainError::Model(format!("document type head: {e}")))?;

        let firsts: Array1<bool> = train.iter().map(|p| p.page_number == 1).collect();
        let n_first = firsts.iter().filter(|&&f| f).count();
        let first_page = if n_first == 0 || n_first == train.len() {
            FirstPageHead::Constant {
                probability: n_first as f64 / train.len() as f64,
            }
        } else {
            let model = LogisticRegression::default()
                .alpha(params.l2)
                .max_iterations(params.epochs as u64)
                .fit(&DatasetBase::new(x.view(), firsts))
                .map_err(|e| TrainError::Model(format!("first page head: {e}")))?;
            FirstPageHead::Logistic { model }
        };

        let model = TextModel {
            params: params.clone(),
            vectorizer,
            document_type,
            first_page,
        };
        model
            .check()
            .map_err(|e| TrainError::Model(format!("the fit diverged: {e}")))?;
        Ok(model)
    }

    /// What prediction relies on: weight shapes matching the vocabulary and classes,
    /// finite weights. Run on load and after fitting (a diverged fit must not be saved).
    fn check(&self) -> Result<(), String> {
        let n_features = self.vectorizer.len();
        let (w, b) = (self.document_type.params(), self.document_type.intercept());
        let classes = self.document_type.classes();
        if classes.len() < 2 {
            return Err(format!(
                "document_type: {} classes, need at least 2",
                classes.len()
            ));
        }
        if w.dim() != (n_features, classes.len()) || b.len() != classes.len() {
            return Err(format!(
                "document_type: weights are {:?} with {} intercepts, expected ({n_features}, {}) \
                 for {n_features} terms and {} classes",
                w.dim(),
                b.len(),
                classes.len(),
                classes.len()
            ));
        }
        if w.iter().chain(b.iter()).any(|v| !v.is_finite()) {
            return Err("document_type: a weight is not finite".into());
        }
        match &self.first_page {
            FirstPageHead::Logistic { model } => {
                if model.params().len() != n_features {
                    return Err(format!(
                        "first_page: {} weights for {n_features} terms",
                        model.params().len()
                    ));
                }
                if !model.intercept().is_finite() || model.params().iter().any(|v| !v.is_finite()) {
                    return Err("first_page: a weight is not finite".into());
                }
            }
            FirstPageHead::Constant { probability } => {
                if !(0.0..=1.0).contains(probability) {
                    return Err(format!(
                        "first_page: probability {probability} is not in 0..=1"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The document types, sorted (the training set's distinct labels).
    pub fn classes(&self) -> &[String] {
        self.document_type.classes()
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &TextParams {
        &self.params
    }

    /// Number of TF-IDF features (vocabulary size).
    pub fn n_features(&self) -> usize {
        self.vectorizer.len()
    }

    /// Predicts one page.
    pub fn predict(&self, page_id: &str, text: &str) -> Prediction {
        let scores = self.score([text]);
        let row = scores.probabilities.row(0);
        self.prediction(page_id, row.iter().copied(), scores.first_page[0])
    }

    /// Predicts many labelled pages at once (for evaluation).
    pub fn predict_pages(&self, pages: &[TextPage]) -> Vec<Prediction> {
        let scores = self.score(pages.iter().map(|p| p.text.as_str()));
        pages
            .iter()
            .zip(scores.probabilities.rows())
            .zip(scores.first_page.iter())
            .map(|((page, row), &first)| self.prediction(&page.page_id, row.iter().copied(), first))
            .collect()
    }

    /// Scores many pages at once (one matrix product instead of one per page).
    pub(crate) fn score<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Scores {
        let x = self.vectorizer.transform(texts);
        let probabilities = self.document_type.predict_probabilities(&x);
        let first_page = match &self.first_page {
            FirstPageHead::Logistic { model } => {
                let p = model.predict_probabilities(&x);
                // linfa's positive class is whichever label it met more often.
                if model.labels().pos.class {
                    p
                } else {
                    p.mapv_into(|v| 1.0 - v)
                }
            }
            FirstPageHead::Constant { probability } => Array1::from_elem(x.nrows(), *probability),
        };
        Scores {
            probabilities,
            first_page,
        }
    }

    fn prediction(
        &self,
        page_id: &str,
        probabilities: impl Iterator<Item = f64>,
        first_page: f64,
    ) -> Prediction {
        let probabilities: BTreeMap<String, f64> =
            self.classes().iter().cloned().zip(probabilities).collect();
        let label = probabilities
            .iter()
            .fold(None::<(&String, f64)>, |best, (c, &p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((c, p)),
            })
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        Prediction {
            page_id: page_id.to_owned(),
            label,
            probabilities,
            first_page_probability: first_page,
        }
    }

    /// Reads `model.json` from `model_dir`.
    pub fn load(model_dir: &Path) -> Result<TextModel, TrainError> {
        trainer_kit::load_model(model_dir, MODEL_FILE)
    }
}

impl Predictor for TextModel {
    /// SequenceText lines (TextPage lines too: extra fields are ignored) -> Prediction lines.
    fn invoke(&self, body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, ServeError> {
        trainer_kit::map_json_lines(body, content_type, |page: SequenceText| {
            Ok(self.predict(&page.page_id, &page.text))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(i: usize, label: &str, page_number: u32, text: &str) -> TextPage {
        TextPage {
            page_id: format!("p{i}"),
            document_id: format!("d{i}"),
            page_number,
            label: label.to_owned(),
            text: text.to_owned(),
        }
    }

    /// Two easily separable classes; first pages carry a header word.
    fn toy() -> Vec<TextPage> {
        let mut pages = Vec::new();
        for i in 0..20 {
            let header = if i % 2 == 0 { "letterhead dear " } else { "" };
            let n = if i % 2 == 0 { 1 } else { 2 };
            pages.push(page(
                i,
                "invoice",
                n,
                &format!("{header}invoice total amount due {i}"),
            ));
            pages.push(page(
                100 + i,
                "memo",
                n,
                &format!("{header}memo meeting notes agenda {i}"),
            ));
        }
        pages
    }

    #[test]
    fn fits_predicts_and_round_trips_through_json() {
        let params = TextParams {
            min_df: 1,
            ..TextParams::default()
        };
        let model = TextModel::fit(&toy(), &params).unwrap();
        assert_eq!(model.classes(), ["invoice", "memo"]);
        let p = model.predict("x", "Letterhead. Dear sir, the invoice amount is due");
        assert_eq!(p.page_id, "x");
        assert_eq!(p.label, "invoice");
        assert!((p.probabilities.values().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(
            p.first_page_probability > 0.5,
            "{}",
            p.first_page_probability
        );
        let q = model.predict("y", "memo notes of the meeting");
        assert_eq!(q.label, "memo");
        assert!(
            q.first_page_probability < 0.5,
            "{}",
            q.first_page_probability
        );

        let json = serde_json::to_string(&model).unwrap();
        let back: TextModel = serde_json::from_str(&json).unwrap();
        let p2 = back.predict("x", "Letterhead. Dear sir, the invoice amount is due");
        assert_eq!(p2.probabilities, p.probabilities);
        assert_eq!(p2.first_page_probability, p.first_page_probability);
    }

    #[test]
    fn one_class_is_a_data_error_and_single_page_documents_are_fine() {
        let one: Vec<TextPage> = toy().into_iter().filter(|p| p.label == "memo").collect();
        let err = TextModel::fit(&one, &TextParams::default()).unwrap_err();
        assert!(matches!(err, TrainError::Data(_)), "{err}");
        assert!(err.to_string().contains("at least 2"), "{err}");

        let all_first: Vec<TextPage> = toy()
            .into_iter()
            .map(|mut p| {
                p.page_number = 1;
                p
            })
            .collect();
        let model = TextModel::fit(&all_first, &TextParams::default()).unwrap();
        assert_eq!(model.predict("z", "memo").first_page_probability, 1.0);
    }

    #[test]
    fn bad_parameters_and_min_df_name_the_hyperparameter() {
        let err = TextModel::fit(
            &toy(),
            &TextParams {
                epochs: 0,
                ..TextParams::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("hyperparameter `epochs`"),
            "{err}"
        );
        let err = TextModel::fit(
            &toy(),
            &TextParams {
                min_df: 1000,
                ..TextParams::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("hyperparameter `min_df`"),
            "{err}"
        );
    }

    #[test]
    fn a_mismatched_model_json_is_refused() {
        let model = TextModel::fit(&toy(), &TextParams::default()).unwrap();
        let mut json: serde_json::Value = serde_json::to_value(&model).unwrap();
        // Drop one term (and its idf): the weights no longer match the vocabulary.
        let v = &mut json["vectorizer"];
        v["terms"].as_array_mut().unwrap().pop();
        v["idf"].as_array_mut().unwrap().pop();
        let err = serde_json::from_value::<TextModel>(json).unwrap_err();
        assert!(err.to_string().contains("document_type: weights"), "{err}");
    }

    #[test]
    fn invoke_answers_one_line_per_record_and_names_bad_lines() {
        let model = TextModel::fit(&toy(), &TextParams::default()).unwrap();
        let body = b"{\"page_id\":\"a\",\"text\":\"invoice total\"}\n\n{\"page_id\":\"b\",\"text\":\"memo\",\"label\":\"memo\"}\n";
        let out = model.invoke(body, Some("application/jsonlines")).unwrap();
        let lines: Vec<Prediction> = std::str::from_utf8(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].page_id.as_str(), lines[0].label.as_str()),
            ("a", "invoice")
        );
        assert_eq!(
            (lines[1].page_id.as_str(), lines[1].label.as_str()),
            ("b", "memo")
        );
        let err = model
            .invoke(b"{\"page_id\":\"a\",\"text\":\"x\"}\n{\"page_id\":3}", None)
            .unwrap_err();
        assert!(matches!(err, ServeError::BadRequest(_)));
        assert!(err.to_string().contains('2'), "{err}");
    }
}
