//! The event the state machine builds, validated field by field.

use serde_json::Value;
use shared::json::{child_path, wrong_type, Object};
use shared::naming::{execution_name_problem, is_valid_sagemaker_name, ModelKind};
use shared::report::{GateSpec, PerModel, Reuse};
use shared::s3uri::S3Uri;
use shared::FunctionError;

const TOP_LEVEL: [&str; 4] = ["execution_name", "report_uri", "quality_gate", "models"];

/// A validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub execution_name: String,
    pub report_uri: S3Uri,
    pub gate: GateSpec,
    pub models: PerModel<Source>,
}

/// Where a model's training job is found.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Trained in this execution: the job the `.sync` task ran.
    Trained { job_name: String },
    /// Reused from an earlier execution: its job is looked up by name prefix.
    Reused(Reuse),
}

/// Validates `event`; `artifact_bucket` is where the report must go.
pub fn parse(event: &Value, artifact_bucket: &str) -> Result<Request, FunctionError> {
    let root = Object::new("$", event)?;
    root.deny_unknown(&TOP_LEVEL)?;

    let execution_name = root.non_empty_str("execution_name")?;
    if let Some(problem) = execution_name_problem(execution_name) {
        return Err(FunctionError::invalid(
            &root.child("execution_name"),
            problem,
        ));
    }

    let uri_path = root.child("report_uri");
    let report_uri = S3Uri::parse(&uri_path, root.non_empty_str("report_uri")?)?;
    if report_uri.key.is_empty() || report_uri.key.ends_with('/') {
        return Err(FunctionError::invalid(
            &uri_path,
            format!("must name an object, not a prefix: {report_uri}"),
        ));
    }
    if report_uri.bucket != artifact_bucket {
        return Err(FunctionError::invalid(
            &uri_path,
            format!(
                "must be inside the artifact bucket {artifact_bucket}, got bucket {}",
                report_uri.bucket
            ),
        ));
    }

    let gate = root.object("quality_gate")?;
    gate.deny_unknown(&["metric", "threshold"])?;
    let gate = GateSpec {
        metric: gate.non_empty_str("metric")?.to_string(),
        threshold: gate
            .opt_f64("threshold")?
            .ok_or_else(|| FunctionError::invalid(&gate.child("threshold"), "is required"))?,
    };

    let models = root.object("models")?;
    models.deny_unknown(&ModelKind::ALL.map(ModelKind::key))?;
    let source = |kind: ModelKind| parse_model(&models.object(kind.key())?, kind);
    let models = PerModel {
        text: source(ModelKind::Text)?,
        image: source(ModelKind::Image)?,
        sequence: source(ModelKind::Sequence)?,
    };

    Ok(Request {
        execution_name: execution_name.to_string(),
        report_uri,
        gate,
        models,
    })
}

/// One entry of `models`: a trimmed DescribeTrainingJob result, or a reuse record.
/// Other members are ignored: the state machine's `ResultSelector` may keep more.
fn parse_model(model: &Object<'_>, kind: ModelKind) -> Result<Source, FunctionError> {
    if model.opt_bool("Reused")?.unwrap_or(false) {
        if kind == ModelKind::Sequence {
            return Err(FunctionError::invalid(
                &model.child("Reused"),
                "the sequence model is always trained in the execution; it cannot be reused",
            ));
        }
        let reuse = model.object("reuse")?;
        reuse.deny_unknown(&["from_execution", "training_job_name_prefix", "model_name"])?;
        let prefix = reuse.non_empty_str("training_job_name_prefix")?;
        // The prefix plus an attempt number must be a job name.
        if !is_valid_sagemaker_name(&format!("{prefix}0")) {
            return Err(FunctionError::invalid(
                &reuse.child("training_job_name_prefix"),
                format!("{prefix:?} cannot start a SageMaker training job name"),
            ));
        }
        return Ok(Source::Reused(Reuse {
            from_execution: reuse.non_empty_str("from_execution")?.to_string(),
            training_job_name_prefix: prefix.to_string(),
            model_name: reuse.opt_str("model_name")?.map(str::to_string),
        }));
    }

    let job_name = model.non_empty_str("TrainingJobName")?;
    if !is_valid_sagemaker_name(job_name) {
        return Err(FunctionError::invalid(
            &model.child("TrainingJobName"),
            format!("{job_name:?} is not a SageMaker training job name"),
        ));
    }
    model.opt_str("TrainingJobStatus")?;
    // `ModelArtifacts` may be kept whole or as its `S3ModelArtifacts` string.
    match model.get("ModelArtifacts") {
        None | Some(Value::String(_)) => {}
        Some(Value::Object(_)) => {
            model
                .object("ModelArtifacts")?
                .opt_str("S3ModelArtifacts")?;
        }
        Some(other) => {
            return Err(wrong_type(
                &model.child("ModelArtifacts"),
                "an S3 URI string or an object",
                other,
            ))
        }
    }
    // Checked for shape only: DescribeTrainingJob gives the authoritative metrics.
    if let Some(list) = model.get("FinalMetricDataList") {
        let path = model.child("FinalMetricDataList");
        let Value::Array(items) = list else {
            return Err(wrong_type(&path, "an array", list));
        };
        for (i, item) in items.iter().enumerate() {
            let item = Object::new(format!("{path}[{i}]"), item)?;
            item.str("MetricName")?;
            item.opt_f64("Value")?;
        }
    }
    Ok(Source::Trained {
        job_name: job_name.to_string(),
    })
}

/// The JSONPath of a model entry, for messages.
pub fn model_path(kind: ModelKind) -> String {
    child_path("$.models", kind.key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::ErrorKind;

    fn event() -> Value {
        json!({
            "execution_name": "nightly-2026-11-27",
            "report_uri": "s3://artifacts/executions/nightly-2026-11-27/report/ensemble-report.json",
            "quality_gate": {"metric": "validation:macro_f1", "threshold": 0.6},
            "models": {
                "text": {"TrainingJobName": "n-1a2b3c4d-text-train-a0", "TrainingJobStatus": "Completed",
                         "ModelArtifacts": "s3://artifacts/m/model.tar.gz",
                         "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.8, "Timestamp": 1.7e9}]},
                "image": {"Reused": true, "reuse": {"from_execution": "nightly-2026-11-26",
                          "training_job_name_prefix": "n-9f8e7d6c-image-train-a", "model_name": "n-9f8e7d6c-image-model"}},
                "sequence": {"TrainingJobName": "n-1a2b3c4d-seq-train-a1", "ModelArtifacts": {"S3ModelArtifacts": "s3://a/b"}}
            }
        })
    }

    fn error(event: &Value) -> String {
        let err = parse(event, "artifacts").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        err.message
    }

    #[test]
    fn parses_trained_and_reused_models() {
        let request = parse(&event(), "artifacts").unwrap();
        assert_eq!(request.execution_name, "nightly-2026-11-27");
        assert_eq!(request.report_uri.bucket, "artifacts");
        assert_eq!(request.gate.threshold, 0.6);
        assert_eq!(
            request.models.text,
            Source::Trained {
                job_name: "n-1a2b3c4d-text-train-a0".into()
            }
        );
        let Source::Reused(reuse) = &request.models.image else {
            panic!("image should be reused");
        };
        assert_eq!(reuse.from_execution, "nightly-2026-11-26");
        assert_eq!(reuse.model_name.as_deref(), Some("n-9f8e7d6c-image-model"));
    }

    #[test]
    fn field_errors_name_their_path() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|e| e["extra"] = json!(1)),
                "$.extra: unknown field",
            ),
            (
                Box::new(|e| e["models"]["texts"] = json!({})),
                "$.models.texts: unknown field",
            ),
            (
                Box::new(|e| e["execution_name"] = json!("a b")),
                "$.execution_name: must not contain",
            ),
            (
                Box::new(|e| e["quality_gate"]["threshold"] = json!("0.6")),
                "$.quality_gate.threshold: must be a number",
            ),
            (
                Box::new(|e| e["quality_gate"].as_object_mut().unwrap().clear()),
                "$.quality_gate.metric: is required",
            ),
            (
                Box::new(|e| e["report_uri"] = json!("s3://artifacts/reports/")),
                "$.report_uri: must name an object",
            ),
            (
                Box::new(|e| e["models"]["sequence"] = json!({"Reused": true, "reuse": {}})),
                "$.models.sequence.Reused: the sequence model is always trained",
            ),
            (
                Box::new(|e| {
                    e["models"]["image"]["reuse"]["training_job_name_prefix"] = json!("bad_prefix")
                }),
                "$.models.image.reuse.training_job_name_prefix: \"bad_prefix\" cannot start",
            ),
            (
                Box::new(|e| e["models"]["image"]["Reused"] = json!("yes")),
                "$.models.image.Reused: must be true or false",
            ),
            (
                Box::new(|e| {
                    e["models"]["image"]["reuse"]
                        .as_object_mut()
                        .unwrap()
                        .remove("from_execution");
                }),
                "$.models.image.reuse.from_execution: is required",
            ),
            (
                Box::new(|e| e["models"]["text"]["TrainingJobName"] = json!("-x")),
                "$.models.text.TrainingJobName: \"-x\" is not",
            ),
            (
                Box::new(|e| e["models"]["text"]["ModelArtifacts"] = json!(3)),
                "$.models.text.ModelArtifacts: must be an S3 URI string or an object, got a number",
            ),
            (
                Box::new(|e| {
                    e["models"]["text"]["FinalMetricDataList"][0]["Value"] = json!("high")
                }),
                "$.models.text.FinalMetricDataList[0].Value: must be a number",
            ),
            (
                Box::new(|e| e["models"]["text"]["FinalMetricDataList"] = json!({})),
                "$.models.text.FinalMetricDataList: must be an array",
            ),
        ];
        for (mutate, expected) in cases {
            let mut e = event();
            mutate(&mut e);
            let message = error(&e);
            assert!(message.starts_with(expected), "{expected} vs {message}");
        }
    }

    #[test]
    fn reused_text_without_job_fields_is_fine_and_reused_false_needs_a_job() {
        let mut e = event();
        e["models"]["text"] = json!({"Reused": false});
        assert!(error(&e).starts_with("$.models.text.TrainingJobName: is required"));
    }
}
