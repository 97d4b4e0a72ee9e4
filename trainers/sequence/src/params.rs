//! The sequence model's hyperparameters: names, defaults and ranges.
//!
//! The defaults were tuned on generated datasets (see trainers/README.md, "sequence").

use serde::{Deserialize, Serialize};
use trainer_kit::{Hyperparameters, TrainError};

/// Inclusive ranges, except `boundary_threshold`'s, which is open: at 0 every page
/// would start a document, at 1 none would (beyond position 0).
const CONTEXT_PAGES: (usize, usize) = (0, 5);
const EPOCHS: (usize, usize) = (1, 10_000);
const L2: (f64, f64) = (0.0, 1000.0);

/// Hyperparameters of the sequence model. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceParams {
    /// Neighbouring pages seen on each side of a page (0..=5).
    pub context_pages: usize,
    /// P(start) at or above which a page (other than position 0) starts a document
    /// (exclusive range 0..1).
    pub boundary_threshold: f64,
    /// Maximum L-BFGS iterations of each logistic regression (1..=10000).
    pub epochs: usize,
    /// L2 penalty (linfa-logistic `alpha`; the loss is summed over pages) (0..=1000).
    pub l2: f64,
}

impl Default for SequenceParams {
    fn default() -> Self {
        SequenceParams {
            context_pages: 2,
            boundary_threshold: 0.5,
            epochs: 100,
            l2: 1.0,
        }
    }
}

impl SequenceParams {
    /// Reads every key of the sequence model (absent keys keep their default). The
    /// caller calls `finish()` afterwards so unknown keys are refused.
    pub fn from_hyperparameters(h: &mut Hyperparameters) -> Result<Self, TrainError> {
        let d = SequenceParams::default();
        let params = SequenceParams {
            context_pages: h.usize_in(
                "context_pages",
                d.context_pages,
                CONTEXT_PAGES.0,
                CONTEXT_PAGES.1,
            )?,
            boundary_threshold: h.f64_in("boundary_threshold", d.boundary_threshold, 0.0, 1.0)?,
            epochs: h.usize_in("epochs", d.epochs, EPOCHS.0, EPOCHS.1)?,
            l2: h.f64_in("l2", d.l2, L2.0, L2.1)?,
        };
        params.validate()?;
        Ok(params)
    }

    /// The range checks, also for params built in code (library users, tests).
    pub fn validate(&self) -> Result<(), TrainError> {
        let fail = |name: &str, message: String| {
            Err(TrainError::Hyperparameter {
                name: name.to_owned(),
                message,
            })
        };
        if !(CONTEXT_PAGES.0..=CONTEXT_PAGES.1).contains(&self.context_pages) {
            return fail(
                "context_pages",
                format!(
                    "must be an integer from {} to {}, got {}",
                    CONTEXT_PAGES.0, CONTEXT_PAGES.1, self.context_pages
                ),
            );
        }
        // `!(0 < t < 1)` so that NaN is refused too.
        if !(self.boundary_threshold > 0.0 && self.boundary_threshold < 1.0) {
            return fail(
                "boundary_threshold",
                format!(
                    "must be a number strictly between 0 and 1, got {}",
                    self.boundary_threshold
                ),
            );
        }
        if !(EPOCHS.0..=EPOCHS.1).contains(&self.epochs) {
            return fail(
                "epochs",
                format!(
                    "must be an integer from {} to {}, got {}",
                    EPOCHS.0, EPOCHS.1, self.epochs
                ),
            );
        }
        if !(self.l2 >= L2.0 && self.l2 <= L2.1) {
            return fail(
                "l2",
                format!(
                    "must be a number from {} to {}, got {}",
                    L2.0, L2.1, self.l2
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper(pairs: &[(&str, &str)]) -> Hyperparameters {
        Hyperparameters::from_pairs(pairs)
    }

    #[test]
    fn absent_keys_give_the_defaults() {
        let mut h = hyper(&[]);
        assert_eq!(
            SequenceParams::from_hyperparameters(&mut h).unwrap(),
            SequenceParams::default()
        );
        h.finish().unwrap();
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let mut h = hyper(&[
            ("context_pages", "0"),
            ("boundary_threshold", "0.3"),
            ("epochs", "20"),
            ("l2", "0.5"),
        ]);
        let p = SequenceParams::from_hyperparameters(&mut h).unwrap();
        h.finish().unwrap();
        assert_eq!(
            p,
            SequenceParams {
                context_pages: 0,
                boundary_threshold: 0.3,
                epochs: 20,
                l2: 0.5
            }
        );
        for (key, value) in [
            ("context_pages", "6"),
            ("boundary_threshold", "0"),
            ("boundary_threshold", "1"),
            ("boundary_threshold", "NaN"),
            ("epochs", "0"),
            ("l2", "-1"),
        ] {
            let err =
                SequenceParams::from_hyperparameters(&mut hyper(&[(key, value)])).expect_err(value);
            assert!(
                err.to_string()
                    .starts_with(&format!("hyperparameter `{key}`")),
                "{err}"
            );
        }
        let mut h = hyper(&[("context_page", "1")]);
        SequenceParams::from_hyperparameters(&mut h).unwrap();
        assert!(h.finish().unwrap_err().to_string().contains("context_page"));
    }
}
