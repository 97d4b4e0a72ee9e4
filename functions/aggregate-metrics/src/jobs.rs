//! Finding and describing the training jobs, and turning descriptions into reports.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::describe_training_job::{
    DescribeTrainingJobError, DescribeTrainingJobOutput,
};
use aws_sdk_sagemaker::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sagemaker::types::{SortBy, SortOrder, TrainingJobStatus};
use shared::naming::ModelKind;
use shared::report::{tidy, ModelReport, Reuse};
use shared::{ErrorKind, FunctionError};

use crate::aws_failure;
use crate::event::{model_path, Source};

/// ListTrainingJobs pages read at most while looking for a reused job (100 jobs each);
/// a NameContains filter this broad means a wrong prefix, not a real history.
const MAX_LIST_PAGES: usize = 50;

/// Describes the job behind `source` and reports it.
pub async fn model_report(
    client: &aws_sdk_sagemaker::Client,
    kind: ModelKind,
    source: &Source,
) -> Result<ModelReport, FunctionError> {
    let (job_name, reuse) = match source {
        Source::Trained { job_name } => (job_name.clone(), None),
        Source::Reused(reuse) => (find_reused_job(client, kind, reuse).await?, Some(reuse)),
    };
    let description = describe(client, kind, &job_name).await?;
    let report = to_report(&job_name, &description, reuse);
    tracing::info!(
        model = kind.key(),
        job = %job_name,
        reused_from = reuse.map(|r| r.from_execution.as_str()),
        status = %report.status,
        metrics = report.metrics.len(),
        "described training job"
    );
    Ok(report)
}

async fn describe(
    client: &aws_sdk_sagemaker::Client,
    kind: ModelKind,
    job_name: &str,
) -> Result<DescribeTrainingJobOutput, FunctionError> {
    match client
        .describe_training_job()
        .training_job_name(job_name)
        .send()
        .await
    {
        Ok(output) => Ok(output),
        Err(err) if is_not_found(&err) => Err(FunctionError::new(
            ErrorKind::TrainingJobNotFound,
            format!(
                "{}: SageMaker has no training job named {job_name}",
                model_path(kind)
            ),
        )),
        Err(err) => Err(aws_failure("SageMaker DescribeTrainingJob", err)),
    }
}

/// SageMaker answers a missing job with HTTP 400 `ValidationException` "Requested
/// resource not found." (the modelled `ResourceNotFound` is accepted too).
fn is_not_found(err: &SdkError<DescribeTrainingJobError>) -> bool {
    let Some(service) = err.as_service_error() else {
        return false;
    };
    if service.is_resource_not_found() {
        return true;
    }
    let message = service.message().unwrap_or_default().to_ascii_lowercase();
    service.code() == Some("ValidationException")
        && (message.contains("not found") || message.contains("could not find"))
}

/// The most recent Completed job named exactly `<prefix><attempt number>`.
/// `NameContains` also matches other executions' names that merely contain the prefix,
/// and names like `<prefix>0-old`: those are skipped.
async fn find_reused_job(
    client: &aws_sdk_sagemaker::Client,
    kind: ModelKind,
    reuse: &Reuse,
) -> Result<String, FunctionError> {
    let prefix = reuse.training_job_name_prefix.as_str();
    let mut best: Option<(String, Option<DateTime>)> = None;
    let mut seen = 0usize;
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = client
            .list_training_jobs()
            .name_contains(prefix)
            .status_equals(TrainingJobStatus::Completed)
            .sort_by(SortBy::CreationTime)
            .sort_order(SortOrder::Descending)
            .max_results(100)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|err| aws_failure("SageMaker ListTrainingJobs", err))?;
        for summary in page.training_job_summaries() {
            seen += 1;
            let Some(name) = summary.training_job_name() else {
                continue;
            };
            let completed = summary.training_job_status() == Some(&TrainingJobStatus::Completed);
            if !completed || !is_attempt_of(name, prefix) {
                continue;
            }
            let created = summary.creation_time().copied();
            if best.as_ref().is_none_or(|(_, t)| created > *t) {
                best = Some((name.to_string(), created));
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => break,
        }
    }
    if next_token.is_some() {
        tracing::warn!(
            prefix,
            seen,
            "stopped listing training jobs after the page limit"
        );
    }
    match best {
        Some((name, _)) => {
            tracing::info!(model = kind.key(), prefix, job = %name, candidates = seen, "found reused training job");
            Ok(name)
        }
        None => Err(FunctionError::new(
            ErrorKind::TrainingJobNotFound,
            format!(
                "{}: execution {} left no Completed training job named {prefix}<attempt number> ({seen} jobs contain the prefix)",
                model_path(kind),
                reuse.from_execution
            ),
        )),
    }
}

/// `name` is `prefix` followed by one or more digits.
pub fn is_attempt_of(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

fn rfc3339(time: Option<&DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

/// The report entry of one described job.
pub fn to_report(
    job_name: &str,
    description: &DescribeTrainingJobOutput,
    reuse: Option<&Reuse>,
) -> ModelReport {
    let mut metrics = BTreeMap::new();
    let mut non_finite = BTreeMap::new();
    for datum in description.final_metric_data_list() {
        let (Some(name), Some(value)) = (datum.metric_name(), datum.value()) else {
            continue;
        };
        if value.is_finite() {
            non_finite.remove(name);
            metrics.insert(name.to_string(), tidy(f64::from(value)));
        } else {
            tracing::warn!(job = job_name, metric = name, %value, "non-finite metric value");
            metrics.remove(name);
            non_finite.insert(name.to_string(), value.to_string());
        }
    }
    let resources = description.resource_config();
    ModelReport {
        training_job_name: description
            .training_job_name()
            .unwrap_or(job_name)
            .to_string(),
        training_job_arn: description.training_job_arn().map(str::to_string),
        reused_from: reuse.map(|r| r.from_execution.clone()),
        reuse: reuse.cloned(),
        status: description
            .training_job_status()
            .map_or("Unknown", |s| s.as_str())
            .to_string(),
        secondary_status: description
            .secondary_status()
            .map(|s| s.as_str().to_string()),
        failure_reason: description.failure_reason().map(str::to_string),
        model_artifacts: description
            .model_artifacts()
            .and_then(|a| a.s3_model_artifacts())
            .map(str::to_string),
        metrics,
        non_finite_metrics: non_finite,
        training_time_seconds: description.training_time_in_seconds().map(i64::from),
        billable_time_seconds: description.billable_time_in_seconds().map(i64::from),
        instance_type: resources
            .and_then(|r| r.instance_type())
            .map(|t| t.as_str().to_string()),
        instance_count: resources.and_then(|r| r.instance_count()).map(i64::from),
        volume_size_gb: resources.and_then(|r| r.volume_size_in_gb()).map(i64::from),
        hyperparameters: description
            .hyper_parameters()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        creation_time: rfc3339(description.creation_time()),
        training_start_time: rfc3339(description.training_start_time()),
        training_end_time: rfc3339(description.training_end_time()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sagemaker::types::{
        MetricData, ModelArtifacts, ResourceConfig, TrainingInstanceType,
    };

    #[test]
    fn attempt_names() {
        assert!(is_attempt_of("p-image-train-a0", "p-image-train-a"));
        assert!(is_attempt_of("p-image-train-a12", "p-image-train-a"));
        assert!(!is_attempt_of("p-image-train-a", "p-image-train-a"));
        assert!(!is_attempt_of("p-image-train-a1-old", "p-image-train-a"));
        assert!(!is_attempt_of("x-p-image-train-a1", "p-image-train-a"));
        assert!(!is_attempt_of("p-image-train-ab", "p-image-train-a"));
    }

    #[test]
    fn report_from_a_description() {
        let description = DescribeTrainingJobOutput::builder()
            .training_job_name("j-a0")
            .training_job_status(TrainingJobStatus::Completed)
            .model_artifacts(
                ModelArtifacts::builder()
                    .s3_model_artifacts("s3://b/m.tar.gz")
                    .build(),
            )
            .final_metric_data_list(
                MetricData::builder()
                    .metric_name("validation:accuracy")
                    .value(0.81)
                    .build(),
            )
            .final_metric_data_list(
                MetricData::builder()
                    .metric_name("validation:loss")
                    .value(f32::NAN)
                    .build(),
            )
            .resource_config(
                ResourceConfig::builder()
                    .instance_type(TrainingInstanceType::MlG5Xlarge)
                    .instance_count(2)
                    .volume_size_in_gb(30)
                    .build(),
            )
            .training_time_in_seconds(100)
            .billable_time_in_seconds(90)
            .hyper_parameters("epochs", "3")
            .creation_time(DateTime::from_secs(1_795_000_000))
            .build();
        let report = to_report("j-a0", &description, None);
        assert_eq!(report.metrics["validation:accuracy"], 0.81);
        assert_eq!(report.non_finite_metrics["validation:loss"], "NaN");
        assert_eq!(report.model_artifacts.as_deref(), Some("s3://b/m.tar.gz"));
        assert_eq!(report.instance_type.as_deref(), Some("ml.g5.xlarge"));
        assert_eq!(report.instance_count, Some(2));
        assert_eq!(report.billable_time_seconds, Some(90));
        assert_eq!(report.hyperparameters["epochs"], "3");
        assert_eq!(
            report.creation_time.as_deref(),
            Some("2026-11-18T11:06:40Z")
        );
        assert_eq!(report.reused_from, None);
        assert_eq!(report.status, "Completed");
    }
}
