//! Joining the three training channels (`labels`, `text_predictions`,
//! `image_predictions`) into ordered, labelled sequences.
//!
//! Everything here is checked before any learning starts, so a bad upload fails the
//! job with a reason naming the page, sequence or channel instead of a linfa error.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dataset::SequenceLabel;
use trainer_kit::{Prediction, TrainError};

/// The channel names of the training job.
pub const LABELS_CHANNEL: &str = "labels";
pub const TEXT_CHANNEL: &str = "text_predictions";
pub const IMAGE_CHANNEL: &str = "image_predictions";

/// The splits a `SequenceLabel` may name.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// How many offending page ids an error message lists before "and N more".
const SHOWN: usize = 5;

/// One page with its truth and both base models' predictions.
#[derive(Debug, Clone)]
pub struct LabelledPage {
    pub label: SequenceLabel,
    pub text: Prediction,
    pub image: Prediction,
}

/// One sequence (a bundle of documents), pages ordered by position 0..n-1.
#[derive(Debug, Clone)]
pub struct LabelledSequence {
    pub sequence_id: String,
    pub split: String,
    pub pages: Vec<LabelledPage>,
}

/// The joined channels.
#[derive(Debug, Clone)]
pub struct SequenceDataset {
    /// Sorted distinct labels of the `labels` channel (all splits).
    pub classes: Vec<String>,
    /// Sorted by sequence id.
    pub sequences: Vec<LabelledSequence>,
    /// Predictions whose page has no label (ignored; reported as a warning).
    pub unlabelled_text: usize,
    pub unlabelled_image: usize,
}

impl SequenceDataset {
    /// Joins labels and predictions on `page_id` and orders every sequence.
    pub fn join(
        labels: Vec<SequenceLabel>,
        text: Vec<Prediction>,
        image: Vec<Prediction>,
    ) -> Result<SequenceDataset, TrainError> {
        let mut seen = BTreeSet::new();
        for label in &labels {
            if !seen.insert(label.page_id.as_str()) {
                return Err(TrainError::Data(format!(
                    "channel `{LABELS_CHANNEL}`: page `{}` is labelled more than once",
                    label.page_id
                )));
            }
            if !SPLITS.contains(&label.split.as_str()) {
                return Err(TrainError::Data(format!(
                    "channel `{LABELS_CHANNEL}`: page `{}` has split `{}`; expected one of {}",
                    label.page_id,
                    label.split,
                    SPLITS.join(", ")
                )));
            }
            if label.label.is_empty() {
                return Err(TrainError::Data(format!(
                    "channel `{LABELS_CHANNEL}`: page `{}` has an empty label",
                    label.page_id
                )));
            }
        }
        let text = index_predictions(text, TEXT_CHANNEL)?;
        let image = index_predictions(image, IMAGE_CHANNEL)?;
        let unlabelled_text = text.keys().filter(|id| !seen.contains(id.as_str())).count();
        let unlabelled_image = image
            .keys()
            .filter(|id| !seen.contains(id.as_str()))
            .count();

        // Every labelled page needs both predictions; list the first few of each channel.
        let mut problems = Vec::new();
        for (channel, predictions) in [(TEXT_CHANNEL, &text), (IMAGE_CHANNEL, &image)] {
            let missing: Vec<&str> = labels
                .iter()
                .filter(|l| !predictions.contains_key(&l.page_id))
                .map(|l| l.page_id.as_str())
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{} labelled page(s) have no prediction in channel `{channel}`: {}",
                    missing.len(),
                    list_some(&missing)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(TrainError::Data(problems.join("; ")));
        }

        let classes: Vec<String> = labels
            .iter()
            .map(|l| l.label.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();

        let mut text = text;
        let mut image = image;
        let mut grouped: BTreeMap<String, Vec<LabelledPage>> = BTreeMap::new();
        for label in labels {
            // Both lookups succeed: missing pages were refused above.
            let (Some(t), Some(i)) = (text.remove(&label.page_id), image.remove(&label.page_id))
            else {
                return Err(TrainError::Data(format!(
                    "page `{}` lost its predictions while joining",
                    label.page_id
                )));
            };
            grouped
                .entry(label.sequence_id.clone())
                .or_default()
                .push(LabelledPage {
                    label,
                    text: t,
                    image: i,
                });
        }

        let mut sequences = Vec::with_capacity(grouped.len());
        for (sequence_id, mut pages) in grouped {
            pages.sort_by_key(|p| p.label.position);
            let positions: Vec<u32> = pages.iter().map(|p| p.label.position).collect();
            let in_order = positions
                .iter()
                .enumerate()
                .all(|(i, &p)| usize::try_from(p).is_ok_and(|p| p == i));
            if !in_order {
                let shown: Vec<String> = positions.iter().take(12).map(u32::to_string).collect();
                let more = if positions.len() > 12 { ", ..." } else { "" };
                return Err(TrainError::Data(format!(
                    "sequence `{sequence_id}`: positions must be 0..{} without gaps or duplicates, found {}{more}",
                    pages.len().saturating_sub(1),
                    shown.join(", ")
                )));
            }
            let split = pages[0].label.split.clone();
            if let Some(other) = pages.iter().find(|p| p.label.split != split) {
                // Context features read neighbouring pages, so a sequence split across
                // train and validation would leak truth between them.
                return Err(TrainError::Data(format!(
                    "sequence `{sequence_id}` mixes splits: page `{}` is `{split}`, page `{}` is `{}`",
                    pages[0].label.page_id, other.label.page_id, other.label.split
                )));
            }
            sequences.push(LabelledSequence {
                sequence_id,
                split,
                pages,
            });
        }
        Ok(SequenceDataset {
            classes,
            sequences,
            unlabelled_text,
            unlabelled_image,
        })
    }

    /// The sequences of one split, in sequence-id order.
    pub fn split(&self, split: &str) -> Vec<&LabelledSequence> {
        self.sequences.iter().filter(|s| s.split == split).collect()
    }
}

/// page_id -> prediction, refusing duplicates and out-of-range probabilities.
fn index_predictions(
    predictions: Vec<Prediction>,
    channel: &str,
) -> Result<HashMap<String, Prediction>, TrainError> {
    let mut map = HashMap::with_capacity(predictions.len());
    for prediction in predictions {
        check_prediction(&prediction)
            .map_err(|message| TrainError::Data(format!("channel `{channel}`: {message}")))?;
        if map.contains_key(&prediction.page_id) {
            return Err(TrainError::Data(format!(
                "channel `{channel}`: page `{}` has more than one prediction",
                prediction.page_id
            )));
        }
        map.insert(prediction.page_id.clone(), prediction);
    }
    Ok(map)
}

/// A base-model prediction must carry probabilities in [0, 1]; anything else would
/// poison the features (linfa refuses NaN only after minutes of work, or not at all).
pub fn check_prediction(prediction: &Prediction) -> Result<(), String> {
    let ok = |p: f64| p.is_finite() && (-1e-6..=1.0 + 1e-6).contains(&p);
    for (class, &p) in &prediction.probabilities {
        if !ok(p) {
            return Err(format!(
                "page `{}`: probability of `{class}` is {p}, not in [0, 1]",
                prediction.page_id
            ));
        }
    }
    if !ok(prediction.first_page_probability) {
        return Err(format!(
            "page `{}`: first_page_probability is {}, not in [0, 1]",
            prediction.page_id, prediction.first_page_probability
        ));
    }
    Ok(())
}

/// "a, b, c, d, e and 7 more"
fn list_some(ids: &[&str]) -> String {
    let shown: Vec<String> = ids.iter().take(SHOWN).map(|id| format!("`{id}`")).collect();
    if ids.len() > SHOWN {
        format!("{} and {} more", shown.join(", "), ids.len() - SHOWN)
    } else {
        shown.join(", ")
    }
}
