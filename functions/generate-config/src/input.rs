//! The execution input, validated field by field (see the README's "Execution input").

use std::collections::BTreeMap;

use serde_json::Value;
use shared::hyperparameters;
use shared::json::Object;
use shared::naming::{execution_name_problem, ModelKind};
use shared::s3uri::S3Uri;
use shared::FunctionError;

/// SageMaker's `VolumeSizeInGB` and `MaxRuntimeInSeconds` ceilings (28 days).
pub const VOLUME_SIZE_GB_MAX: u64 = 16_384;
pub const MAX_RUNTIME_SECONDS_MAX: u64 = 2_419_200;
pub const INSTANCE_COUNT_MAX: u64 = 100;

/// The top-level fields generate-config accepts. `execution_name` is added by the
/// state machine from `$$.Execution.Name`.
pub const TOP_LEVEL_FIELDS: [&str; 10] = [
    "execution_name",
    "input_data",
    "train_text_model",
    "train_image_model",
    "reuse_artifacts_from",
    "text_model",
    "image_model",
    "sequence_model",
    "quality_gate",
    "preprocess",
];

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInput {
    pub execution_name: String,
    pub input_data: S3Uri,
    pub train_text_model: bool,
    pub train_image_model: bool,
    pub reuse_artifacts_from: Option<String>,
    pub text_model: ModelOverrides,
    pub image_model: ModelOverrides,
    pub sequence_model: ModelOverrides,
    pub quality_gate_metric: Option<String>,
    pub quality_gate_threshold: Option<f64>,
    pub preprocess: bool,
}

/// Per-model settings that override the template's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOverrides {
    pub hyperparameters: BTreeMap<String, String>,
    pub instance_type: Option<String>,
    pub instance_count: Option<u64>,
    pub volume_size_gb: Option<u64>,
    pub max_runtime_seconds: Option<u64>,
    /// Base models only: the instance type of their batch transform.
    pub transform_instance_type: Option<String>,
}

/// `ml.<family>.<size>` as SageMaker spells instance types.
pub fn instance_type_problem(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.split('.').collect();
    let ok = parts.len() == 3
        && parts[0] == "ml"
        && parts[1..].iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    (!ok).then(|| format!("must be a SageMaker instance type such as ml.m5.xlarge, got {value:?}"))
}

pub fn parse(event: &Value) -> Result<ExecutionInput, FunctionError> {
    let root = Object::new("$", event)?;
    root.deny_unknown(&TOP_LEVEL_FIELDS)?;

    let execution_name = root.non_empty_str("execution_name")?.to_string();
    if let Some(problem) = execution_name_problem(&execution_name) {
        return Err(FunctionError::invalid("$.execution_name", problem));
    }

    let input_data = S3Uri::parse_prefix("$.input_data", root.non_empty_str("input_data")?)?;
    if input_data.key.is_empty() {
        return Err(FunctionError::invalid(
            "$.input_data",
            "must name a prefix inside the bucket (s3://bucket/dataset/), not a whole bucket",
        ));
    }

    let train_text_model = root.opt_bool("train_text_model")?.unwrap_or(true);
    let train_image_model = root.opt_bool("train_image_model")?.unwrap_or(true);
    let reuse_artifacts_from = root.opt_str("reuse_artifacts_from")?.map(str::to_string);
    match (&reuse_artifacts_from, train_text_model && train_image_model) {
        (None, false) => {
            return Err(FunctionError::invalid(
                "$.reuse_artifacts_from",
                "is required when train_text_model or train_image_model is false: name the earlier execution whose models to reuse",
            ))
        }
        (Some(_), true) => {
            return Err(FunctionError::invalid(
                "$.reuse_artifacts_from",
                "is set but both base models are trained; set train_text_model and/or train_image_model to false to reuse",
            ))
        }
        (Some(earlier), false) => {
            if let Some(problem) = execution_name_problem(earlier) {
                return Err(FunctionError::invalid("$.reuse_artifacts_from", problem));
            }
            if *earlier == execution_name {
                return Err(FunctionError::invalid(
                    "$.reuse_artifacts_from",
                    "names this execution; it must name an earlier one",
                ));
            }
        }
        (None, true) => {}
    }

    let (quality_gate_metric, quality_gate_threshold) = match root.opt_object("quality_gate")? {
        None => (None, None),
        Some(gate) => {
            gate.deny_unknown(&["metric", "threshold"])?;
            let metric = gate.opt_str("metric")?;
            if let Some(m) = metric {
                if m.trim().is_empty() || m.len() > 255 {
                    return Err(FunctionError::invalid(
                        &gate.child("metric"),
                        "must be 1 to 255 characters long",
                    ));
                }
            }
            (metric.map(str::to_string), gate.opt_f64("threshold")?)
        }
    };

    Ok(ExecutionInput {
        execution_name,
        input_data,
        train_text_model,
        train_image_model,
        reuse_artifacts_from,
        text_model: model_overrides(&root, ModelKind::Text)?,
        image_model: model_overrides(&root, ModelKind::Image)?,
        sequence_model: model_overrides(&root, ModelKind::Sequence)?,
        quality_gate_metric,
        quality_gate_threshold,
        preprocess: root.opt_bool("preprocess")?.unwrap_or(false),
    })
}

fn model_overrides(root: &Object<'_>, kind: ModelKind) -> Result<ModelOverrides, FunctionError> {
    let Some(model) = root.opt_object(kind.field())? else {
        return Ok(ModelOverrides::default());
    };
    let mut known = vec![
        "hyperparameters",
        "instance_type",
        "instance_count",
        "volume_size_gb",
        "max_runtime_seconds",
    ];
    if kind != ModelKind::Sequence {
        known.push("transform_instance_type");
    }
    model.deny_unknown(&known)?;

    let instance = |key: &str| -> Result<Option<String>, FunctionError> {
        match model.opt_str(key)? {
            None => Ok(None),
            Some(value) => match instance_type_problem(value) {
                Some(problem) => Err(FunctionError::invalid(&model.child(key), problem)),
                None => Ok(Some(value.to_string())),
            },
        }
    };

    Ok(ModelOverrides {
        hyperparameters: match model.opt_object("hyperparameters")? {
            Some(h) => hyperparameters::stringify(&h)?,
            None => BTreeMap::new(),
        },
        instance_type: instance("instance_type")?,
        instance_count: model.opt_u64_in("instance_count", 1, INSTANCE_COUNT_MAX)?,
        volume_size_gb: model.opt_u64_in("volume_size_gb", 1, VOLUME_SIZE_GB_MAX)?,
        max_runtime_seconds: model.opt_u64_in("max_runtime_seconds", 1, MAX_RUNTIME_SECONDS_MAX)?,
        transform_instance_type: if kind == ModelKind::Sequence {
            None
        } else {
            instance("transform_instance_type")?
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::ErrorKind;

    fn minimal() -> Value {
        json!({"execution_name": "run-1", "input_data": "s3://raw-data/documents/v1/"})
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    fn err(event: Value) -> String {
        let e = parse(&event).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        e.message
    }

    #[test]
    fn defaults_apply_to_a_minimal_input() {
        let input = parse(&minimal()).unwrap();
        assert!(input.train_text_model && input.train_image_model && !input.preprocess);
        assert_eq!(input.input_data.to_string(), "s3://raw-data/documents/v1/");
        assert_eq!(input.text_model, ModelOverrides::default());
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "$: must be a JSON object"),
            (
                json!({"input_data": "s3://raw-data/x/"}),
                "$.execution_name: is required",
            ),
            (
                with(minimal(), "execution_name", json!("a b")),
                "$.execution_name: must not contain",
            ),
            (
                json!({"execution_name": "run-1"}),
                "$.input_data: is required",
            ),
            (
                with(minimal(), "input_data", json!(7)),
                "$.input_data: must be a string, got a number",
            ),
            (
                with(minimal(), "input_data", json!("/local/path")),
                "$.input_data: must be an s3://",
            ),
            (
                with(minimal(), "input_data", json!("s3://raw-data")),
                "$.input_data: must name a prefix",
            ),
            (
                with(minimal(), "train_text_model", json!("false")),
                "$.train_text_model: must be true or false",
            ),
            (
                with(minimal(), "train_image_model", json!(false)),
                "$.reuse_artifacts_from: is required",
            ),
            (
                with(minimal(), "reuse_artifacts_from", json!("run-0")),
                "$.reuse_artifacts_from: is set but",
            ),
            (
                with(minimal(), "text_model", json!({"instance_count": 0})),
                "$.text_model.instance_count: must be from 1 to 100",
            ),
            (
                with(
                    minimal(),
                    "image_model",
                    json!({"instance_type": "p3.2xlarge"}),
                ),
                "$.image_model.instance_type: must be a SageMaker instance type",
            ),
            (
                with(
                    minimal(),
                    "sequence_model",
                    json!({"transform_instance_type": "ml.m5.large"}),
                ),
                "$.sequence_model.transform_instance_type: unknown field",
            ),
            (
                with(
                    minimal(),
                    "text_model",
                    json!({"hyperparameters": {"epochs": null}}),
                ),
                "$.text_model.hyperparameters.epochs",
            ),
            (
                with(
                    minimal(),
                    "text_model",
                    json!({"max_runtime_seconds": 2_419_201}),
                ),
                "$.text_model.max_runtime_seconds",
            ),
            (
                with(minimal(), "text_model", json!("fast")),
                "$.text_model: must be a JSON object, got a string",
            ),
            (
                with(minimal(), "quality_gate", json!({"threshold": "high"})),
                "$.quality_gate.threshold: must be a number",
            ),
            (
                with(minimal(), "quality_gate", json!({"metric": ""})),
                "$.quality_gate.metric",
            ),
            (
                with(minimal(), "preprocess", json!("yes")),
                "$.preprocess: must be true or false",
            ),
            (
                with(minimal(), "train_txt_model", json!(false)),
                "$.train_txt_model: unknown field",
            ),
        ];
        for (event, expected) in cases {
            let message = err(event.clone());
            assert!(
                message.starts_with(expected),
                "{event}\n  expected: {expected}\n  got:      {message}"
            );
        }
    }

    #[test]
    fn reuse_must_name_another_valid_execution() {
        let skip = with(
            with(minimal(), "train_text_model", json!(false)),
            "reuse_artifacts_from",
            json!("run-1"),
        );
        assert!(err(skip).contains("names this execution"));
        let bad = with(
            with(minimal(), "train_text_model", json!(false)),
            "reuse_artifacts_from",
            json!("run 0"),
        );
        assert!(err(bad).starts_with("$.reuse_artifacts_from: must not contain"));
        let ok = with(
            with(minimal(), "train_text_model", json!(false)),
            "reuse_artifacts_from",
            json!("run-0"),
        );
        assert_eq!(
            parse(&ok).unwrap().reuse_artifacts_from.as_deref(),
            Some("run-0")
        );
    }
}
