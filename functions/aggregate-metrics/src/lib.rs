//! aggregate-metrics: gathers every model's metrics into the ensemble report, writes
//! the full report to S3 and returns the small summary the `Quality Gate` reads.
//!
//! The handler takes its configuration and clients as parameters, so tests drive it
//! against local servers. The aggregation itself is pure, in `shared::report`.

pub mod event;
pub mod jobs;

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_sagemaker::config::http::HttpResponse;
use aws_sdk_sagemaker::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::Value;
use shared::aws::classify;
use shared::naming::ModelKind;
use shared::report::{EnsembleReport, PerModel, Summary};
use shared::s3uri::validate_bucket_name;
use shared::FunctionError;

pub const ARTIFACT_BUCKET: &str = "ARTIFACT_BUCKET";

/// The function's configuration, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bucket the report must be written to.
    pub artifact_bucket: String,
}

impl Config {
    pub fn from_env() -> Result<Config, FunctionError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// For tests: the variables given explicitly.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Config, FunctionError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, FunctionError> {
        let bucket = lookup(ARTIFACT_BUCKET)
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| FunctionError::config(ARTIFACT_BUCKET, "is required"))?;
        validate_bucket_name(&bucket).map_err(|problem| {
            FunctionError::config(ARTIFACT_BUCKET, format!("{bucket:?} {problem}"))
        })?;
        Ok(Config {
            artifact_bucket: bucket,
        })
    }
}

/// The AWS clients, built once per process.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub s3: aws_sdk_s3::Client,
}

/// The Lambda entry point. A configuration error found at start-up is reported on
/// every invocation, so it reaches Step Functions as `ConfigurationError` instead of
/// an init failure.
pub async fn handle(
    event: Value,
    config: &Result<Config, FunctionError>,
    clients: &Clients,
) -> Result<Summary, FunctionError> {
    let config = config.as_ref().map_err(Clone::clone)?;
    aggregate(event, config, clients).await
}

/// Describes every model's job, writes the full report, returns the summary.
pub async fn aggregate(
    event: Value,
    config: &Config,
    clients: &Clients,
) -> Result<Summary, FunctionError> {
    let request = event::parse(&event, &config.artifact_bucket)?;
    let execution = request.execution_name.as_str();
    tracing::info!(execution, report_uri = %request.report_uri, "aggregating metrics");

    let sagemaker = &clients.sagemaker;
    let (text, image, sequence) = tokio::try_join!(
        jobs::model_report(sagemaker, ModelKind::Text, &request.models.text),
        jobs::model_report(sagemaker, ModelKind::Image, &request.models.image),
        jobs::model_report(sagemaker, ModelKind::Sequence, &request.models.sequence),
    )?;

    let report = EnsembleReport::build(
        execution,
        &request.report_uri.to_string(),
        &now_rfc3339(),
        PerModel {
            text,
            image,
            sequence,
        },
        &request.gate,
    );
    let body = serde_json::to_vec_pretty(&report).map_err(|e| {
        FunctionError::new(
            shared::ErrorKind::AwsRequestFailed,
            format!("the report could not be serialized: {e}"),
        )
    })?;
    let bytes = body.len();
    clients
        .s3
        .put_object()
        .bucket(&request.report_uri.bucket)
        .key(&request.report_uri.key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|err| aws_failure("S3 PutObject of the report", err))?;

    let gate = &report.quality_gate;
    tracing::info!(
        execution,
        report_uri = %report.report_uri,
        bytes,
        gate_metric = %gate.metric,
        gate_value = gate.value,
        gate_passed = gate.passed,
        gains = report.ensemble_gain.metrics.len(),
        "report written"
    );
    Ok(report.summary())
}

fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// Maps any SDK error to our stable kinds: status and error code decide (throttling
/// and 5xx are retryable `ServiceUnavailable`, 403 is `AccessDenied`).
pub(crate) fn aws_failure<E>(operation: &str, err: SdkError<E, HttpResponse>) -> FunctionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let kind = classify(status, err.code());
    tracing::warn!(operation, status, code = err.code(), kind = %kind, "AWS call failed");
    FunctionError::new(
        kind,
        format!("{operation} failed: {}", DisplayErrorContext(&err)),
    )
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
    fn config_needs_a_valid_artifact_bucket() {
        let ok = Config::from_map(&vars(&[(ARTIFACT_BUCKET, "artifact-bucket")])).unwrap();
        assert_eq!(ok.artifact_bucket, "artifact-bucket");
        for bad in [
            vars(&[]),
            vars(&[(ARTIFACT_BUCKET, " ")]),
            vars(&[(ARTIFACT_BUCKET, "Bad_Bucket")]),
        ] {
            let err = Config::from_map(&bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ConfigurationError);
            assert!(
                err.message
                    .starts_with("environment variable ARTIFACT_BUCKET"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let now = now_rfc3339();
        assert!(now.ends_with('Z') && now.contains('T'), "{now}");
    }
}
