//! One base model's answer for one page: the line format of the text and image
//! models' `/invocations` output, which batch transform writes to
//! `transform/<model>/<input file>.out` and the sequence trainer reads back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{"page_id", "label", "probabilities": {<class>: p, ...}, "first_page_probability"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub page_id: String,
    /// The most probable class.
    pub label: String,
    /// Every class of the model (sorted keys, a BTreeMap), summing to 1.
    pub probabilities: BTreeMap<String, f64>,
    /// The model's P(page_number == 1).
    pub first_page_probability: f64,
}
