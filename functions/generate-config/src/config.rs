//! generate-config's settings: defaults set by the SAM template's parameters.

use std::collections::HashMap;

use shared::s3uri::validate_bucket_name;
use shared::FunctionError;

use crate::input::{instance_type_problem, MAX_RUNTIME_SECONDS_MAX, VOLUME_SIZE_GB_MAX};

/// Defaults and locations, read once at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub artifact_bucket: String,
    /// Ends with `/` (or is empty): executions live at `<prefix><execution name>/`.
    pub artifact_prefix: String,
    /// When set, sources outside it are refused here already, before any state runs.
    pub allowed_source_buckets: Option<Vec<String>>,
    pub text_instance_type: String,
    pub image_instance_type: String,
    pub sequence_instance_type: String,
    pub transform_instance_type: String,
    pub volume_size_gb: u64,
    pub max_runtime_seconds: u64,
    pub quality_gate_metric: String,
    pub quality_gate_threshold: f64,
}

impl Config {
    pub fn from_env() -> Result<Config, FunctionError> {
        Config::from_map(&std::env::vars().collect())
    }

    /// Reads the settings from `vars` (the environment, or a map in tests).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Config, FunctionError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let text = |name: &str, default: &str| get(name).unwrap_or(default).to_string();
        let number = |name: &str, default: u64, max: u64| -> Result<u64, FunctionError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(FunctionError::config(
                        name,
                        format!("must be a whole number from 1 to {max}, got {v:?}"),
                    )),
                },
            }
        };

        let artifact_bucket = get("ARTIFACT_BUCKET")
            .ok_or_else(|| FunctionError::config("ARTIFACT_BUCKET", "is required"))?
            .to_string();
        validate_bucket_name(&artifact_bucket)
            .map_err(|problem| FunctionError::config("ARTIFACT_BUCKET", problem))?;

        let mut artifact_prefix = text("ARTIFACT_PREFIX", "executions/");
        artifact_prefix = artifact_prefix.trim_start_matches('/').to_string();
        if !artifact_prefix.is_empty() && !artifact_prefix.ends_with('/') {
            artifact_prefix.push('/');
        }

        let allowed_source_buckets = match get("ALLOWED_SOURCE_BUCKETS") {
            None => None,
            Some(list) => {
                let buckets: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                    .map(str::to_string)
                    .collect();
                for bucket in &buckets {
                    validate_bucket_name(bucket).map_err(|problem| {
                        FunctionError::config(
                            "ALLOWED_SOURCE_BUCKETS",
                            format!("bucket {bucket:?} {problem}"),
                        )
                    })?;
                }
                Some(buckets)
            }
        };

        let instance = |name: &str, default: &str| -> Result<String, FunctionError> {
            let value = text(name, default);
            match instance_type_problem(&value) {
                Some(problem) => Err(FunctionError::config(name, problem)),
                None => Ok(value),
            }
        };

        let quality_gate_threshold = match get("QUALITY_GATE_THRESHOLD") {
            None => 0.5,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| {
                    FunctionError::config(
                        "QUALITY_GATE_THRESHOLD",
                        format!("must be a number, got {v:?}"),
                    )
                })?,
        };

        Ok(Config {
            artifact_bucket,
            artifact_prefix,
            allowed_source_buckets,
            text_instance_type: instance("TEXT_INSTANCE_TYPE", "ml.m5.xlarge")?,
            image_instance_type: instance("IMAGE_INSTANCE_TYPE", "ml.g4dn.xlarge")?,
            sequence_instance_type: instance("SEQUENCE_INSTANCE_TYPE", "ml.m5.large")?,
            transform_instance_type: instance("TRANSFORM_INSTANCE_TYPE", "ml.m5.large")?,
            volume_size_gb: number("VOLUME_SIZE_GB", 30, VOLUME_SIZE_GB_MAX)?,
            max_runtime_seconds: number("MAX_RUNTIME_SECONDS", 86_400, MAX_RUNTIME_SECONDS_MAX)?,
            quality_gate_metric: text("QUALITY_GATE_METRIC", "validation:macro_f1"),
            quality_gate_threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ErrorKind;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_everything_but_the_bucket() {
        let config = Config::from_map(&vars(&[("ARTIFACT_BUCKET", "artifacts")])).unwrap();
        assert_eq!(config.artifact_prefix, "executions/");
        assert_eq!(config.allowed_source_buckets, None);
        assert_eq!(config.text_instance_type, "ml.m5.xlarge");
        assert_eq!(config.max_runtime_seconds, 86_400);
        assert_eq!(config.quality_gate_metric, "validation:macro_f1");
    }

    #[test]
    fn every_setting_is_validated() {
        for (pairs, needle) in [
            (vec![], "ARTIFACT_BUCKET: is required"),
            (vec![("ARTIFACT_BUCKET", "Bad_Bucket")], "ARTIFACT_BUCKET"),
            (
                vec![
                    ("ARTIFACT_BUCKET", "ok-bucket"),
                    ("TEXT_INSTANCE_TYPE", "m5.large"),
                ],
                "TEXT_INSTANCE_TYPE",
            ),
            (
                vec![("ARTIFACT_BUCKET", "ok-bucket"), ("VOLUME_SIZE_GB", "0")],
                "VOLUME_SIZE_GB",
            ),
            (
                vec![
                    ("ARTIFACT_BUCKET", "ok-bucket"),
                    ("QUALITY_GATE_THRESHOLD", "high"),
                ],
                "QUALITY_GATE_THRESHOLD",
            ),
            (
                vec![
                    ("ARTIFACT_BUCKET", "ok-bucket"),
                    ("ALLOWED_SOURCE_BUCKETS", "good, BAD"),
                ],
                "ALLOWED_SOURCE_BUCKETS",
            ),
        ] {
            let err = Config::from_map(&vars(&pairs)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ConfigurationError);
            assert!(err.message.contains(needle), "{needle}: {}", err.message);
        }
    }

    #[test]
    fn prefix_and_allow_list_are_normalised() {
        let config = Config::from_map(&vars(&[
            ("ARTIFACT_BUCKET", "artifacts"),
            ("ARTIFACT_PREFIX", "/runs"),
            ("ALLOWED_SOURCE_BUCKETS", " raw-data , other-data ,"),
        ]))
        .unwrap();
        assert_eq!(config.artifact_prefix, "runs/");
        assert_eq!(
            config.allowed_source_buckets,
            Some(vec!["raw-data".into(), "other-data".into()])
        );
    }
}
