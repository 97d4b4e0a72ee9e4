//! The text model's hyperparameters: names, defaults and ranges.
//!
//! The defaults were tuned on generated datasets (see trainers/README.md, "text").

use serde::{Deserialize, Serialize};
use trainer_kit::{Hyperparameters, TrainError};

/// Inclusive ranges, shared by hyperparameter parsing and [`TextParams::validate`].
const MAX_FEATURES: (usize, usize) = (10, 50_000);
const NGRAM_MAX: (usize, usize) = (1, 3);
const MIN_DF: (usize, usize) = (1, 1000);
const EPOCHS: (usize, usize) = (1, 10_000);
const L2: (f64, f64) = (0.0, 1000.0);

/// Hyperparameters of the text model. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextParams {
    /// Vocabulary size: the terms with the highest document frequency (10..=50000).
    pub max_features: usize,
    /// Longest word n-gram (1..=3).
    pub ngram_max: usize,
    /// Whether character 3- and 4-grams inside words are terms too.
    pub char_ngrams: bool,
    /// A term must occur in at least this many training pages (1..=1000).
    pub min_df: usize,
    /// Maximum L-BFGS iterations of each logistic regression (1..=10000).
    pub epochs: usize,
    /// L2 penalty (linfa-logistic `alpha`; the loss is summed over pages) (0..=1000).
    pub l2: f64,
}

impl Default for TextParams {
    fn default() -> Self {
        TextParams {
            max_features: 3000,
            ngram_max: 2,
            char_ngrams: true,
            min_df: 2,
            epochs: 100,
            l2: 0.1,
        }
    }
}

impl TextParams {
    /// Reads every key of the text model (absent keys keep their default). The caller
    /// calls `finish()` afterwards so unknown keys are refused.
    pub fn from_hyperparameters(h: &mut Hyperparameters) -> Result<Self, TrainError> {
        let d = TextParams::default();
        Ok(TextParams {
            max_features: h.usize_in(
                "max_features",
                d.max_features,
                MAX_FEATURES.0,
                MAX_FEATURES.1,
            )?,
            ngram_max: h.usize_in("ngram_max", d.ngram_max, NGRAM_MAX.0, NGRAM_MAX.1)?,
            char_ngrams: h.bool("char_ngrams", d.char_ngrams)?,
            min_df: h.usize_in("min_df", d.min_df, MIN_DF.0, MIN_DF.1)?,
            epochs: h.usize_in("epochs", d.epochs, EPOCHS.0, EPOCHS.1)?,
            l2: h.f64_in("l2", d.l2, L2.0, L2.1)?,
        })
    }

    /// The same range checks for params built in code (library users, tests).
    pub fn validate(&self) -> Result<(), TrainError> {
        fn check<T: PartialOrd + std::fmt::Display>(
            name: &str,
            value: T,
            (min, max): (T, T),
        ) -> Result<(), TrainError> {
            // `!(a <= b)` rather than `a > b` so a NaN l2 is refused too.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(min <= value && value <= max) {
                return Err(TrainError::Hyperparameter {
                    name: name.to_owned(),
                    message: format!("must be in {min}..={max}, got {value}"),
                });
            }
            Ok(())
        }
        check("max_features", self.max_features, MAX_FEATURES)?;
        check("ngram_max", self.ngram_max, NGRAM_MAX)?;
        check("min_df", self.min_df, MIN_DF)?;
        check("epochs", self.epochs, EPOCHS)?;
        check("l2", self.l2, L2)
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
            TextParams::from_hyperparameters(&mut h).unwrap(),
            TextParams::default()
        );
        h.finish().unwrap();
        TextParams::default().validate().unwrap();
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let mut h = hyper(&[
            ("max_features", "500"),
            ("ngram_max", "3"),
            ("char_ngrams", "false"),
            ("min_df", "1"),
            ("epochs", "20"),
            ("l2", "0.5"),
        ]);
        let p = TextParams::from_hyperparameters(&mut h).unwrap();
        h.finish().unwrap();
        assert_eq!(
            p,
            TextParams {
                max_features: 500,
                ngram_max: 3,
                char_ngrams: false,
                min_df: 1,
                epochs: 20,
                l2: 0.5
            }
        );
        let err = TextParams::from_hyperparameters(&mut hyper(&[("ngram_max", "4")])).unwrap_err();
        assert!(err.to_string().contains("`ngram_max`"), "{err}");
        let bad = TextParams {
            l2: f64::NAN,
            ..TextParams::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("`l2`"));
        let bad = TextParams {
            epochs: 0,
            ..TextParams::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("`epochs`"));
    }
}
