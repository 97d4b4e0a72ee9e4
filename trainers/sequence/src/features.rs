//! The sequence model's features: each page seen together with its neighbours.
//!
//! Per page i of a sequence of n pages, with C classes and k context pages:
//! - for every offset d in -k..=k: the text model's C class probabilities and its
//!   first-page probability, the same for the image model, and a "no page here"
//!   indicator (all other values 0) when i+d falls outside the sequence;
//! - the log of both models' class probabilities on page i (floored at 1e-4): a
//!   linear model over log-probabilities can weigh the two experts as a product,
//!   which probabilities alone cannot express;
//! - the product of the two models' probabilities per class (do they agree on it?);
//! - page order: is position 0, is last, relative position i/(n-1);
//! - agreement cues: text and image argmax agree; L1 distance between the text
//!   probabilities of pages i-1 and i, i and i+1, and the same for the image model
//!   (a type change hints at a document boundary); L1 distance between text and
//!   image on page i.

use serde::{Deserialize, Serialize};

/// Floor for log-probabilities: a base model's hard 0 must not dominate the features.
const LOG_FLOOR: f64 = 1e-4;

/// One page as the sequence model sees it: both base models' outputs over the
/// model's class list (a class a base model did not report counts as 0).
#[derive(Debug, Clone, PartialEq)]
pub struct PageEvidence {
    pub text: Vec<f64>,
    pub text_first: f64,
    pub image: Vec<f64>,
    pub image_first: f64,
}

impl PageEvidence {
    /// Projects a base-model prediction pair onto `classes`.
    pub fn from_predictions(
        classes: &[String],
        text: &trainer_kit::Prediction,
        image: &trainer_kit::Prediction,
    ) -> PageEvidence {
        let project = |p: &trainer_kit::Prediction| -> Vec<f64> {
            classes
                .iter()
                .map(|c| {
                    p.probabilities
                        .get(c)
                        .copied()
                        .unwrap_or(0.0)
                        .clamp(0.0, 1.0)
                })
                .collect()
        };
        PageEvidence {
            text: project(text),
            text_first: text.first_page_probability.clamp(0.0, 1.0),
            image: project(image),
            image_first: image.first_page_probability.clamp(0.0, 1.0),
        }
    }
}

/// The feature layout, fixed at training time and saved with the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub n_classes: usize,
    pub context_pages: usize,
}

impl FeatureSpec {
    /// Values per context slot: 2 x (C probabilities + first-page) + absent flag.
    fn slot_len(&self) -> usize {
        2 * self.n_classes + 3
    }

    /// Total number of features per page.
    pub fn len(&self) -> usize {
        (2 * self.context_pages + 1) * self.slot_len() // context slots
            + 2 * self.n_classes // log-probabilities of page i
            + self.n_classes // text x image per class
            + 3 // position 0, last, relative position
            + 6 // argmax agreement, 4 neighbour distances, text-image distance
    }

    /// Whether the layout has no features at all (never: there is always page order).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The features of every page of one sequence, row by row, appended to `out`.
    pub fn extend_rows(&self, pages: &[PageEvidence], out: &mut Vec<f64>) {
        let n = pages.len();
        let k = self.context_pages as isize;
        for i in 0..n {
            let start = out.len();
            for d in -k..=k {
                let j = i as isize + d;
                match usize::try_from(j).ok().and_then(|j| pages.get(j)) {
                    Some(p) => {
                        out.extend(self.fixed(&p.text));
                        out.push(p.text_first);
                        out.extend(self.fixed(&p.image));
                        out.push(p.image_first);
                        out.push(0.0);
                    }
                    None => {
                        out.extend(std::iter::repeat_n(0.0, self.slot_len() - 1));
                        out.push(1.0);
                    }
                }
            }
            let page = &pages[i];
            out.extend(self.fixed(&page.text).map(|p| p.max(LOG_FLOOR).ln()));
            out.extend(self.fixed(&page.image).map(|p| p.max(LOG_FLOOR).ln()));
            out.extend(
                self.fixed(&page.text)
                    .zip(self.fixed(&page.image))
                    .map(|(t, m)| t * m),
            );
            out.push(f64::from(u8::from(i == 0)));
            out.push(f64::from(u8::from(i + 1 == n)));
            out.push(if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            });
            let agree = argmax(&page.text) == argmax(&page.image);
            out.push(f64::from(u8::from(agree)));
            let previous = i.checked_sub(1).and_then(|j| pages.get(j));
            let next = pages.get(i + 1);
            out.push(previous.map_or(0.0, |p| l1(&p.text, &page.text)));
            out.push(previous.map_or(0.0, |p| l1(&p.image, &page.image)));
            out.push(next.map_or(0.0, |p| l1(&p.text, &page.text)));
            out.push(next.map_or(0.0, |p| l1(&p.image, &page.image)));
            out.push(l1(&page.text, &page.image));
            debug_assert_eq!(out.len() - start, self.len());
        }
    }

    /// `values` padded or cut to exactly n_classes entries, so a malformed
    /// evidence vector can never shift the layout.
    fn fixed<'a>(&self, values: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        values
            .iter()
            .copied()
            .chain(std::iter::repeat(0.0))
            .take(self.n_classes)
    }
}

/// Index of the largest value (the first on ties); 0 for an empty slice.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// L1 distance of two probability vectors (missing entries count as 0).
fn l1(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| (a.get(i).copied().unwrap_or(0.0) - b.get(i).copied().unwrap_or(0.0)).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(t: [f64; 2], tf: f64, m: [f64; 2], mf: f64) -> PageEvidence {
        PageEvidence {
            text: t.to_vec(),
            text_first: tf,
            image: m.to_vec(),
            image_first: mf,
        }
    }

    #[test]
    fn rows_have_the_documented_layout() {
        let spec = FeatureSpec {
            n_classes: 2,
            context_pages: 1,
        };
        let pages = [
            page([0.9, 0.1], 0.8, [0.6, 0.4], 0.7),
            page([0.2, 0.8], 0.3, [0.1, 0.9], 0.2),
        ];
        let mut out = Vec::new();
        spec.extend_rows(&pages, &mut out);
        assert_eq!(spec.len(), 3 * 7 + 4 + 2 + 3 + 6);
        assert_eq!(out.len(), 2 * spec.len());
        let first = &out[..spec.len()];
        // slot d=-1 is outside the sequence: zeros then the absent flag
        assert_eq!(&first[..7], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        // slot d=0 is the page itself
        assert_eq!(&first[7..14], &[0.9, 0.1, 0.8, 0.6, 0.4, 0.7, 0.0]);
        // slot d=+1 is the next page
        assert_eq!(&first[14..21], &[0.2, 0.8, 0.3, 0.1, 0.9, 0.2, 0.0]);
        assert!((first[21] - 0.9f64.ln()).abs() < 1e-12);
        assert!((first[25] - 0.9 * 0.6).abs() < 1e-12);
        let order = &first[27..30];
        assert_eq!(order, &[1.0, 0.0, 0.0]);
        let cues = &first[30..];
        assert_eq!(cues[0], 1.0); // both say class 0
        assert_eq!(cues[1], 0.0); // no previous page
        assert!((cues[3] - 1.4).abs() < 1e-12); // text L1 to the next page
        let second = &out[spec.len()..];
        assert_eq!(&second[27..30], &[0.0, 1.0, 1.0]);
        assert!((second[31] - 1.4).abs() < 1e-12); // text L1 from the previous page
        assert_eq!(&second[14..21], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn short_evidence_is_padded_not_shifted() {
        let spec = FeatureSpec {
            n_classes: 3,
            context_pages: 0,
        };
        let pages = [PageEvidence {
            text: vec![1.0],
            text_first: 1.0,
            image: vec![0.5, 0.5, 0.0, 9.0],
            image_first: 0.0,
        }];
        let mut out = Vec::new();
        spec.extend_rows(&pages, &mut out);
        assert_eq!(out.len(), spec.len());
        assert_eq!(&out[..9], &[1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
