//! `/invocations`: one JSON line per sequence in, one decoded sequence out.
//!
//! In:  `{"sequence_id", "pages": [{"page_id", "text": <Prediction>, "image": <Prediction>}, ...]}`
//! Out: `{"sequence_id", "pages": [{"page_id", "label", "probabilities", "start_probability",
//!       "starts_document"}], "documents": [{"label", "pages": [page_id, ...]}]}`

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trainer_kit::{map_json_lines, Prediction, Predictor, ServeError};

use crate::data::check_prediction;
use crate::model::SequenceModel;

/// One input line: a sequence's pages in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceRequest {
    pub sequence_id: String,
    pub pages: Vec<RequestPage>,
}

impl From<&crate::data::LabelledSequence> for SequenceRequest {
    /// The request serve would get for a labelled sequence (its labels left out).
    fn from(sequence: &crate::data::LabelledSequence) -> SequenceRequest {
        SequenceRequest {
            sequence_id: sequence.sequence_id.clone(),
            pages: sequence
                .pages
                .iter()
                .map(|p| RequestPage {
                    page_id: Some(p.label.page_id.clone()),
                    text: p.text.clone(),
                    image: p.image.clone(),
                })
                .collect(),
        }
    }
}

/// One page with both base models' predictions. `page_id` may be left out, then
/// the text prediction's is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
    pub text: Prediction,
    pub image: Prediction,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceResponse {
    pub sequence_id: String,
    pub pages: Vec<PageResponse>,
    pub documents: Vec<DocumentResponse>,
}

/// A page's decoded type (its document's), the type head's own probabilities, and
/// the boundary head's P(start) with the decision taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageResponse {
    pub page_id: String,
    pub label: String,
    pub probabilities: BTreeMap<String, f64>,
    pub start_probability: f64,
    pub starts_document: bool,
}

/// A predicted document: its type and its pages in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentResponse {
    pub label: String,
    pub pages: Vec<String>,
}

impl SequenceModel {
    /// Answers one request line; a malformed page is a 400 naming it.
    pub fn respond(&self, request: SequenceRequest) -> Result<SequenceResponse, ServeError> {
        let sequence_id = request.sequence_id;
        let mut page_ids = Vec::with_capacity(request.pages.len());
        let mut evidence = Vec::with_capacity(request.pages.len());
        for (position, page) in request.pages.iter().enumerate() {
            let page_id = page
                .page_id
                .clone()
                .unwrap_or_else(|| page.text.page_id.clone());
            if page.text.page_id != page_id || page.image.page_id != page_id {
                return Err(ServeError::BadRequest(format!(
                    "sequence `{sequence_id}`, page {position} (`{page_id}`): the text prediction is for `{}` and the image prediction for `{}`",
                    page.text.page_id, page.image.page_id
                )));
            }
            for (model, prediction) in [("text", &page.text), ("image", &page.image)] {
                check_prediction(prediction).map_err(|message| {
                    ServeError::BadRequest(format!(
                        "sequence `{sequence_id}`, {model} prediction: {message}"
                    ))
                })?;
            }
            evidence.push(self.evidence(&page.text, &page.image));
            page_ids.push(page_id);
        }
        let output = self.predict(&evidence);
        let classes = self.classes();
        let label = |c: usize| classes.get(c).cloned().unwrap_or_default();
        let pages = page_ids
            .iter()
            .enumerate()
            .map(|(i, page_id)| PageResponse {
                page_id: page_id.clone(),
                label: label(output.decoded.types[i]),
                probabilities: classes
                    .iter()
                    .cloned()
                    .zip(output.type_probabilities[i].iter().copied())
                    .collect(),
                start_probability: output.start_probabilities[i],
                starts_document: output.decoded.starts[i],
            })
            .collect();
        let documents = output
            .decoded
            .documents()
            .into_iter()
            .map(|(a, b, class)| DocumentResponse {
                label: label(class),
                pages: page_ids[a..b].to_vec(),
            })
            .collect();
        Ok(SequenceResponse {
            sequence_id,
            pages,
            documents,
        })
    }
}

impl Predictor for SequenceModel {
    fn invoke(&self, body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, ServeError> {
        map_json_lines(body, content_type, |request: SequenceRequest| {
            self.respond(request)
        })
    }
}
