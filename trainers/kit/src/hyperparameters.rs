//! `input/config/hyperparameters.json`: SageMaker passes every value as a string
//! (developer guide, your-algorithms-training-algo-running-container: "the values
//! ... are always strings"), so each trainer parses and range-checks its own, and
//! refuses keys it never asked for, so a typo fails the job instead of being ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::{MlRoot, TrainError};

/// Keys with this prefix are SageMaker's own (e.g. `sagemaker_program`) and are
/// never refused.
const SAGEMAKER_PREFIX: &str = "sagemaker_";

/// hyperparameters.json: SageMaker passes every value as a string.
#[derive(Debug, Clone, Default)]
pub struct Hyperparameters {
    values: BTreeMap<String, String>,
    /// Every name asked for, present or not (the accepted names, for `finish`).
    asked: BTreeSet<String>,
}

impl Hyperparameters {
    /// A missing file is no hyperparameters; a file that is not a JSON object of
    /// strings is an error.
    pub fn load(root: &MlRoot) -> Result<Hyperparameters, TrainError> {
        let path = root.hyperparameters_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Hyperparameters::default())
            }
            Err(e) => return Err(TrainError::io(format!("reading {}", path.display()), e)),
        };
        let file = "input/config/hyperparameters.json";
        let value: Value = serde_json::from_str(&text).map_err(|e| TrainError::Record {
            file: file.to_string(),
            line: e.line(),
            message: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(object) = value else {
            return Err(TrainError::Data(format!(
                "{file}: must be a JSON object of strings, got {}",
                kind(&value)
            )));
        };
        let mut values = BTreeMap::new();
        for (name, value) in object {
            match value {
                Value::String(s) => {
                    values.insert(name, s);
                }
                other => {
                    return Err(TrainError::Hyperparameter {
                        message: format!(
                            "SageMaker passes hyperparameters as strings, got {} {other}",
                            kind(&other)
                        ),
                        name,
                    })
                }
            }
        }
        Ok(Hyperparameters::from_map(values))
    }

    pub fn from_map(map: BTreeMap<String, String>) -> Hyperparameters {
        Hyperparameters {
            values: map,
            asked: BTreeSet::new(),
        }
    }

    /// From `(name, value)` pairs, as code and tests write them.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Hyperparameters {
        Hyperparameters::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The raw value, marking `name` as known.
    fn raw(&mut self, name: &str) -> Option<&str> {
        self.asked.insert(name.to_string());
        self.values.get(name).map(String::as_str)
    }

    /// Parsed integer within [min, max], default when absent; the error names the
    /// key, the range and the raw value.
    pub fn usize_in(
        &mut self,
        name: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, TrainError> {
        let Some(raw) = self.raw(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(TrainError::Hyperparameter {
                name: name.to_string(),
                message: format!("must be an integer from {min} to {max}, got {raw:?}"),
            }),
        }
    }

    /// Parsed finite number within [min, max], default when absent.
    pub fn f64_in(
        &mut self,
        name: &str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, TrainError> {
        let Some(raw) = self.raw(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<f64>() {
            // NaN fails the range test; infinities are refused even in an open range.
            Ok(x) if x.is_finite() && x >= min && x <= max => Ok(x),
            _ => Err(TrainError::Hyperparameter {
                name: name.to_string(),
                message: format!("must be a number from {min} to {max}, got {raw:?}"),
            }),
        }
    }

    /// `true` or `false` (any case: Python's `str(True)` is `True`).
    pub fn bool(&mut self, name: &str, default: bool) -> Result<bool, TrainError> {
        let Some(raw) = self.raw(name) else {
            return Ok(default);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(TrainError::Hyperparameter {
                name: name.to_string(),
                message: format!("must be \"true\" or \"false\", got {raw:?}"),
            }),
        }
    }

    /// Refuses keys never asked for (a typo such as `epoch` must not be silently
    /// ignored), except SageMaker's own `sagemaker_*` keys. Call after reading all
    /// of them.
    pub fn finish(self) -> Result<(), TrainError> {
        let unknown: Vec<&String> = self
            .values
            .keys()
            .filter(|k| !self.asked.contains(*k) && !k.starts_with(SAGEMAKER_PREFIX))
            .collect();
        let Some(first) = unknown.first() else {
            return Ok(());
        };
        let accepted = if self.asked.is_empty() {
            "none".to_string()
        } else {
            self.asked.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        let others = if unknown.len() > 1 {
            let rest: Vec<&str> = unknown[1..].iter().map(|s| s.as_str()).collect();
            format!(" (also unknown: {})", rest.join(", "))
        } else {
            String::new()
        };
        Err(TrainError::Hyperparameter {
            name: first.to_string(),
            message: format!("unknown hyperparameter{others}; this trainer accepts: {accepted}"),
        })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(pairs: &[(&str, &str)]) -> Hyperparameters {
        Hyperparameters::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn write(root: &MlRoot, text: &str) {
        let path = root.hyperparameters_file();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn parses_values_and_defaults() {
        let mut h = hp(&[("epochs", "20"), ("l2", "0.5"), ("flag", "True")]);
        assert_eq!(h.usize_in("epochs", 100, 1, 10000).unwrap(), 20);
        assert_eq!(h.f64_in("l2", 1.0, 0.0, 10.0).unwrap(), 0.5);
        assert!(h.bool("flag", false).unwrap());
        assert_eq!(h.usize_in("absent", 7, 1, 10).unwrap(), 7);
        assert_eq!(h.f64_in("absent2", 0.25, 0.0, 1.0).unwrap(), 0.25);
        assert!(!h.bool("absent3", false).unwrap());
        h.finish().unwrap();
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let mut h = hp(&[("a", "1"), ("b", "10000"), ("c", "0"), ("d", "1")]);
        assert_eq!(h.usize_in("a", 5, 1, 10000).unwrap(), 1);
        assert_eq!(h.usize_in("b", 5, 1, 10000).unwrap(), 10000);
        assert_eq!(h.f64_in("c", 0.5, 0.0, 1.0).unwrap(), 0.0);
        assert_eq!(h.f64_in("d", 0.5, 0.0, 1.0).unwrap(), 1.0);
    }

    #[test]
    fn integer_errors_name_key_range_and_raw_value() {
        for raw in ["0", "10001", "-1", "1.5", "ten", ""] {
            let mut h = hp(&[("epochs", raw)]);
            let err = h.usize_in("epochs", 100, 1, 10000).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("hyperparameter `epochs`: must be an integer from 1 to 10000, got {raw:?}")
            );
        }
    }

    #[test]
    fn number_errors_refuse_out_of_range_and_non_finite() {
        for raw in ["-0.1", "2", "NaN", "inf", "-inf", "x"] {
            let mut h = hp(&[("l2", raw)]);
            let err = h.f64_in("l2", 1.0, 0.0, 1.0).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("hyperparameter `l2`: must be a number from 0 to 1, got {raw:?}")
            );
        }
        // Infinity is refused even when the range would contain it.
        let mut h = hp(&[("l2", "inf")]);
        assert!(h.f64_in("l2", 1.0, 0.0, f64::INFINITY).is_err());
    }

    #[test]
    fn bool_errors() {
        let mut h = hp(&[("flag", "yes")]);
        assert_eq!(
            h.bool("flag", false).unwrap_err().to_string(),
            "hyperparameter `flag`: must be \"true\" or \"false\", got \"yes\""
        );
    }

    #[test]
    fn finish_refuses_unknown_keys_but_not_sagemakers() {
        let mut h = hp(&[("epoch", "5"), ("sagemaker_program", "x"), ("l2", "1")]);
        h.usize_in("epochs", 100, 1, 10000).unwrap();
        h.f64_in("l2", 1.0, 0.0, 10.0).unwrap();
        assert_eq!(
            h.finish().unwrap_err().to_string(),
            "hyperparameter `epoch`: unknown hyperparameter; this trainer accepts: epochs, l2"
        );

        let h = hp(&[("b", "1"), ("a", "2")]);
        assert_eq!(
            h.finish().unwrap_err().to_string(),
            "hyperparameter `a`: unknown hyperparameter (also unknown: b); this trainer accepts: none"
        );

        hp(&[("sagemaker_region", "eu-west-1")]).finish().unwrap();
    }

    #[test]
    fn load_reads_strings_and_treats_a_missing_file_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        Hyperparameters::load(&root).unwrap().finish().unwrap();

        write(&root, r#"{"epochs": "3", "sagemaker_x": "y"}"#);
        let mut h = Hyperparameters::load(&root).unwrap();
        assert_eq!(h.usize_in("epochs", 1, 1, 10).unwrap(), 3);
        h.finish().unwrap();
    }

    #[test]
    fn load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());

        write(&root, r#"{"epochs": 3}"#);
        assert_eq!(
            Hyperparameters::load(&root).unwrap_err().to_string(),
            "hyperparameter `epochs`: SageMaker passes hyperparameters as strings, got a number 3"
        );

        write(&root, r#"["epochs"]"#);
        assert_eq!(
            Hyperparameters::load(&root).unwrap_err().to_string(),
            "input/config/hyperparameters.json: must be a JSON object of strings, got an array"
        );

        write(&root, "{\n\"epochs\": \n}");
        let err = Hyperparameters::load(&root).unwrap_err();
        assert!(
            matches!(&err, TrainError::Record { file, line: 3, .. } if file == "input/config/hyperparameters.json"),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("input/config/hyperparameters.json:3: not valid JSON"));
    }
}
