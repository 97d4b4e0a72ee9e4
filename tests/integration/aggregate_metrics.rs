//! Integration tests of aggregate-metrics: the handler with real aws-sdk clients over
//! HTTP, against the embedded S3 server and the local SageMaker API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aggregate_metrics::{handle, Clients, Config, ARTIFACT_BUCKET};
use aws_sdk_sagemaker::config::retry::RetryConfig;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{SortBy, SortOrder, TrainingJobStatus};
use integration_tests::s3_server::EmbeddedS3;
use integration_tests::sagemaker_server::{LocalSageMaker, NOT_FOUND_MESSAGE};
use serde_json::{json, Value};
use shared::naming::{resource_name, ModelKind, Resource};
use shared::report::EnsembleReport;
use shared::{ErrorKind, FunctionError};

const BUCKET: &str = "artifact-bucket";
const REPORT_KEY: &str = "executions/nightly-2026-11-27/report/ensemble-report.json";
/// 2026-11-26T00:00:00Z
const T0: f64 = 1_795_651_200.0;

struct Env {
    s3: EmbeddedS3,
    sagemaker: LocalSageMaker,
    clients: Clients,
    config: Result<Config, FunctionError>,
}

impl Env {
    /// Both servers, the artifact bucket, and clients that retry quickly.
    async fn start() -> Env {
        let s3 = EmbeddedS3::start().unwrap();
        let sagemaker = LocalSageMaker::start().unwrap();
        s3.client()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let retries = RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(5));
        let clients = Clients {
            sagemaker: aws_sdk_sagemaker::Client::from_conf(
                sagemaker.client_config().retry_config(retries).build(),
            ),
            s3: s3.client(),
        };
        let env = HashMap::from([(ARTIFACT_BUCKET.to_string(), BUCKET.to_string())]);
        Env {
            s3,
            sagemaker,
            clients,
            config: Config::from_map(&env),
        }
    }

    async fn invoke(&self, event: Value) -> Result<Value, FunctionError> {
        let summary = handle(event, &self.config, &self.clients).await?;
        Ok(serde_json::to_value(summary).unwrap())
    }

    async fn invoke_err(&self, event: Value) -> FunctionError {
        match self.invoke(event).await {
            Ok(summary) => panic!("expected an error, got {summary:#}"),
            Err(err) => err,
        }
    }

    fn put(&self, job: Value) {
        self.sagemaker.put_training_job(job).unwrap();
    }

    fn operations(&self, operation: &str) -> Vec<Value> {
        self.sagemaker
            .requests()
            .into_iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.body)
            .collect()
    }

    /// The report object: its content type and JSON.
    async fn report(&self) -> (Option<String>, Value) {
        let object = self
            .s3
            .client()
            .get_object()
            .bucket(BUCKET)
            .key(REPORT_KEY)
            .send()
            .await
            .unwrap();
        let content_type = object.content_type().map(str::to_string);
        let bytes = object.body.collect().await.unwrap().into_bytes();
        (content_type, serde_json::from_slice(&bytes).unwrap())
    }

    async fn report_exists(&self) -> bool {
        self.s3
            .client()
            .head_object()
            .bucket(BUCKET)
            .key(REPORT_KEY)
            .send()
            .await
            .is_ok()
    }
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A DescribeTrainingJob response as SageMaker gives it for a finished job.
fn job(name: &str, status: &str, created: f64, metrics: &[(&str, f64)]) -> Value {
    json!({
        "TrainingJobName": name,
        "TrainingJobStatus": status,
        "CreationTime": created,
        "TrainingStartTime": created + 120.0,
        "TrainingEndTime": created + 1_060.0,
        "LastModifiedTime": created + 1_070.0,
        "ModelArtifacts": {"S3ModelArtifacts": format!("s3://{BUCKET}/models/{name}/output/model.tar.gz")},
        "FinalMetricDataList": metrics.iter().map(|(n, v)| json!({
            "MetricName": n, "Value": v, "Timestamp": created + 1_000.0
        })).collect::<Vec<_>>(),
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50},
        "HyperParameters": {"epochs": "3", "learning_rate": "0.001"},
        "TrainingTimeInSeconds": 940,
        "BillableTimeInSeconds": 610,
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble:latest", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/ensemble-sagemaker",
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400}
    })
}

fn prefix(execution: &str, kind: ModelKind) -> String {
    resource_name(execution, Resource::TrainingJob(kind))
}

/// The jobs the all-trained fixture names.
fn put_trained_jobs(env: &Env, sequence_metrics: &[(&str, f64)]) {
    let p = |k| prefix("nightly-2026-11-27", k);
    env.put(job(
        &format!("{}0", p(ModelKind::Text)),
        "Completed",
        T0,
        &[("validation:accuracy", 0.81), ("validation:macro_f1", 0.78)],
    ));
    env.put(job(
        &format!("{}0", p(ModelKind::Image)),
        "Completed",
        T0,
        &[
            ("validation:accuracy", 0.74),
            ("validation:macro_f1", 0.7),
            ("validation:loss", 0.9),
        ],
    ));
    env.put(job(
        &format!("{}1", p(ModelKind::Sequence)),
        "Completed",
        T0 + 3_600.0,
        sequence_metrics,
    ));
}

const SEQUENCE_METRICS: [(&str, f64); 4] = [
    ("validation:accuracy", 0.88),
    ("validation:macro_f1", 0.85),
    ("validation:loss", 0.6),
    ("validation:auc", 0.93),
];

fn assert_error(err: &FunctionError, kind: ErrorKind, needles: &[&str]) {
    assert_eq!(err.kind, kind, "{}", err.message);
    for needle in needles {
        assert!(
            err.message.contains(needle),
            "{needle:?} not in {}",
            err.message
        );
    }
}

#[test]
fn fixtures_use_the_job_names_the_state_machine_builds() {
    let trained = fixture("aggregate-metrics.json");
    for (kind, attempt) in [
        (ModelKind::Text, 0),
        (ModelKind::Image, 0),
        (ModelKind::Sequence, 1),
    ] {
        assert_eq!(
            trained["models"][kind.key()]["TrainingJobName"],
            format!("{}{attempt}", prefix("nightly-2026-11-27", kind))
        );
    }
    let reused = fixture("aggregate-metrics-reused.json");
    for kind in ModelKind::BASE {
        let reuse = &reused["models"][kind.key()]["reuse"];
        assert_eq!(
            reuse["training_job_name_prefix"],
            prefix("nightly-2026-11-26", kind)
        );
        assert_eq!(
            reuse["model_name"],
            resource_name("nightly-2026-11-26", Resource::Model(kind))
        );
    }
}

#[tokio::test]
async fn all_trained_fixture_writes_the_full_report_and_returns_the_summary() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);

    let summary = env.invoke(fixture("aggregate-metrics.json")).await.unwrap();

    let text_job = format!("{}0", prefix("nightly-2026-11-27", ModelKind::Text));
    let report_uri = format!("s3://{BUCKET}/{REPORT_KEY}");
    assert_eq!(summary["execution_name"], "nightly-2026-11-27");
    assert_eq!(summary["report_uri"], report_uri.as_str());
    assert_eq!(
        summary["models"]["text"]["training_job_name"],
        text_job.as_str()
    );
    assert!(summary["models"]["text"]["reused_from"].is_null());
    assert_eq!(
        summary["models"]["text"]["model_artifacts"],
        format!("s3://{BUCKET}/models/{text_job}/output/model.tar.gz")
    );
    assert_eq!(
        summary["models"]["text"]["metrics"]["validation:accuracy"],
        0.81
    );
    // The event carries no metrics for image: DescribeTrainingJob is the source.
    assert_eq!(
        summary["models"]["image"]["metrics"]["validation:macro_f1"],
        0.7
    );
    assert_eq!(
        summary["models"]["sequence"]["metrics"]["validation:auc"],
        0.93
    );

    let gain = &summary["ensemble_gain"];
    assert_eq!(gain["metrics"]["validation:accuracy"], 0.07);
    assert_eq!(gain["best_base_model"]["validation:accuracy"], "text");
    assert_eq!(gain["metrics"]["validation:macro_f1"], 0.07);
    // Lower is better: only image reports a loss; 0.9 -> 0.6 is a gain of 0.3.
    assert_eq!(gain["metrics"]["validation:loss"], 0.3);
    assert_eq!(gain["best_base_model"]["validation:loss"], "image");
    // Only the sequence model reports auc: no gain for it.
    assert!(gain["metrics"].get("validation:auc").is_none());

    let gate = &summary["quality_gate"];
    assert_eq!(gate["passed"], true);
    assert_eq!(gate["value"], 0.85);
    assert_eq!(gate["metric"], "validation:macro_f1");
    assert_eq!(gate["threshold"], 0.6);

    let text = summary["summary_text"].as_str().unwrap();
    assert!(text.starts_with("Ensemble training nightly-2026-11-27: quality gate PASSED"));
    assert!(text.contains("validation:accuracy: +0.07 over text (0.81 -> 0.88"));
    assert!(text.contains(&format!("Full report: {report_uri}")));
    assert!(serde_json::to_vec(&summary).unwrap().len() < 8_192);

    // The full report, in S3.
    let (content_type, report) = env.report().await;
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let parsed: EnsembleReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(parsed.summary().quality_gate, parsed.quality_gate);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["report_uri"], report_uri.as_str());
    assert!(report["generated_at"].as_str().unwrap().ends_with('Z'));
    let text_report = &report["models"]["text"];
    assert_eq!(text_report["training_job_name"], text_job.as_str());
    assert_eq!(text_report["status"], "Completed");
    assert_eq!(text_report["secondary_status"], "Completed");
    assert_eq!(text_report["instance_type"], "ml.g5.xlarge");
    assert_eq!(text_report["instance_count"], 2);
    assert_eq!(text_report["volume_size_gb"], 50);
    assert_eq!(text_report["training_time_seconds"], 940);
    assert_eq!(text_report["billable_time_seconds"], 610);
    assert_eq!(text_report["hyperparameters"]["learning_rate"], "0.001");
    assert_eq!(text_report["creation_time"], "2026-11-26T00:00:00Z");
    assert_eq!(text_report["training_end_time"], "2026-11-26T00:17:40Z");
    assert_eq!(
        text_report["training_job_arn"],
        format!(
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/{}",
            text_job
        )
    );
    assert_eq!(
        report["models"]["sequence"]["metrics"]["validation:auc"],
        0.93
    );
    let detail = &report["ensemble_gain"]["details"]["validation:loss"];
    assert_eq!(detail["direction"], "lower_is_better");
    assert_eq!(detail["best_base_value"], 0.9);
    assert_eq!(detail["sequence_value"], 0.6);
    assert_eq!(report["quality_gate"], summary["quality_gate"]);

    // Trained jobs are described directly, never searched for.
    assert_eq!(env.operations("DescribeTrainingJob").len(), 3);
    assert!(env.operations("ListTrainingJobs").is_empty());
}

#[tokio::test]
async fn reused_fixture_finds_the_earlier_jobs_among_decoys() {
    let env = Env::start().await;
    let earlier = "nightly-2026-11-26";
    let text = prefix(earlier, ModelKind::Text);
    let image = prefix(earlier, ModelKind::Image);
    let accuracy = |v| [("validation:accuracy", v), ("validation:macro_f1", v)];

    // Text: attempt 0 failed, attempt 1 completed (the one to reuse).
    env.put(job(&format!("{text}0"), "Failed", T0, &accuracy(0.1)));
    env.put(job(
        &format!("{text}1"),
        "Completed",
        T0 + 100.0,
        &accuracy(0.81),
    ));
    // Newer decoys that contain the prefix: a non-digit suffix, another execution's
    // job with the prefix inside its name. 120 of them push the real job to page 2.
    for i in 0..120 {
        let t = T0 + 1_000.0 + f64::from(i);
        env.put(job(
            &format!("{text}1-copy{i}"),
            "Completed",
            t,
            &accuracy(0.99),
        ));
    }
    env.put(job(
        &format!("re-{text}7"),
        "Completed",
        T0 + 5_000.0,
        &accuracy(0.99),
    ));
    env.put(job(
        &format!("{text}x"),
        "Completed",
        T0 + 5_000.0,
        &accuracy(0.99),
    ));
    // Other executions' text jobs.
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-25", ModelKind::Text)),
        "Completed",
        T0 + 6_000.0,
        &accuracy(0.99),
    ));
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-27", ModelKind::Text)),
        "Completed",
        T0 + 86_400.0,
        &accuracy(0.99),
    ));
    // Image: attempts 0 and 2 completed (2 is the most recent), attempt 3 failed later.
    env.put(job(&format!("{image}0"), "Completed", T0, &accuracy(0.5)));
    env.put(job(
        &format!("{image}2"),
        "Completed",
        T0 + 300.0,
        &accuracy(0.74),
    ));
    env.put(job(
        &format!("{image}3"),
        "Failed",
        T0 + 400.0,
        &accuracy(0.99),
    ));
    env.put(job(
        &format!("{image}-old"),
        "Completed",
        T0 + 500.0,
        &accuracy(0.99),
    ));
    // The sequence model of this execution.
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-27", ModelKind::Sequence)),
        "Completed",
        T0 + 86_400.0,
        &accuracy(0.88),
    ));

    let summary = env
        .invoke(fixture("aggregate-metrics-reused.json"))
        .await
        .unwrap();

    let models = &summary["models"];
    assert_eq!(models["text"]["training_job_name"], format!("{text}1"));
    assert_eq!(models["text"]["reused_from"], earlier);
    assert_eq!(models["text"]["metrics"]["validation:accuracy"], 0.81);
    assert_eq!(models["image"]["training_job_name"], format!("{image}2"));
    assert_eq!(models["image"]["reused_from"], earlier);
    assert!(models["sequence"]["reused_from"].is_null());
    assert_eq!(
        summary["ensemble_gain"]["metrics"]["validation:accuracy"],
        0.07
    );
    assert_eq!(summary["quality_gate"]["passed"], true);
    let text_out = summary["summary_text"].as_str().unwrap();
    assert!(text_out.contains(&format!(
        "text (reused from execution {earlier}; training job {text}1"
    )));

    // Found through ListTrainingJobs, filtered server-side, read across pages.
    let lists = env.operations("ListTrainingJobs");
    let text_lists: Vec<_> = lists
        .iter()
        .filter(|b| b["NameContains"] == text.as_str())
        .collect();
    assert_eq!(text_lists.len(), 2, "{text_lists:?}");
    assert!(text_lists[1]["NextToken"].is_string());
    for body in &lists {
        assert_eq!(body["StatusEquals"], "Completed");
        assert_eq!(body["SortBy"], "CreationTime");
    }
    assert!(lists.iter().any(|b| b["NameContains"] == image.as_str()));

    let (_, report) = env.report().await;
    let reuse = &report["models"]["image"]["reuse"];
    assert_eq!(reuse["from_execution"], earlier);
    assert_eq!(reuse["training_job_name_prefix"], image.as_str());
    assert_eq!(
        reuse["model_name"],
        resource_name(earlier, Resource::Model(ModelKind::Image))
    );
    assert_eq!(report["models"]["image"]["reused_from"], earlier);
}

#[tokio::test]
async fn a_missing_gate_metric_fails_the_gate_but_still_reports() {
    let env = Env::start().await;
    put_trained_jobs(&env, &[("validation:accuracy", 0.9)]);

    let summary = env.invoke(fixture("aggregate-metrics.json")).await.unwrap();

    let gate = &summary["quality_gate"];
    assert_eq!(gate["passed"], false);
    assert!(gate["value"].is_null());
    assert!(gate.get("value").is_some(), "value is present as null");
    let reason = gate["reason"].as_str().unwrap();
    assert!(
        reason.contains("did not report validation:macro_f1"),
        "{reason}"
    );
    assert!(summary["summary_text"]
        .as_str()
        .unwrap()
        .starts_with("Ensemble training nightly-2026-11-27: quality gate NOT PASSED"));
    let (_, report) = env.report().await;
    assert_eq!(report["quality_gate"]["passed"], false);
}

#[tokio::test]
async fn a_nan_gate_metric_fails_the_gate() {
    let env = Env::start().await;
    put_trained_jobs(&env, &[]);
    let mut sequence = job(
        &format!("{}1", prefix("nightly-2026-11-27", ModelKind::Sequence)),
        "Completed",
        T0,
        &[("validation:accuracy", 0.9)],
    );
    // JSON protocols spell non-finite floats as strings.
    sequence["FinalMetricDataList"]
        .as_array_mut()
        .unwrap()
        .push(json!({"MetricName": "validation:macro_f1", "Value": "NaN", "Timestamp": T0}));
    env.put(sequence);

    let summary = env.invoke(fixture("aggregate-metrics.json")).await.unwrap();

    assert_eq!(summary["quality_gate"]["passed"], false);
    assert!(summary["quality_gate"]["reason"]
        .as_str()
        .unwrap()
        .contains("reported validation:macro_f1 = NaN"));
    let (_, report) = env.report().await;
    assert_eq!(
        report["models"]["sequence"]["non_finite_metrics"]["validation:macro_f1"],
        "NaN"
    );
}

#[tokio::test]
async fn lower_is_better_gate_and_gain() {
    let env = Env::start().await;
    let p = |k| format!("{}0", prefix("nightly-2026-11-27", k));
    env.put(job(
        &p(ModelKind::Text),
        "Completed",
        T0,
        &[("validation:rmse", 0.55)],
    ));
    env.put(job(
        &p(ModelKind::Image),
        "Completed",
        T0,
        &[("validation:rmse", 0.47)],
    ));
    let mut event = fixture("aggregate-metrics.json");
    event["models"]["sequence"]["TrainingJobName"] = json!(p(ModelKind::Sequence));
    event["quality_gate"] = json!({"metric": "validation:rmse", "threshold": 0.45});

    // 0.42 <= 0.45: passed; 0.05 better than image, the best base model.
    env.put(job(
        &p(ModelKind::Sequence),
        "Completed",
        T0,
        &[("validation:rmse", 0.42)],
    ));
    let summary = env.invoke(event.clone()).await.unwrap();
    assert_eq!(summary["quality_gate"]["passed"], true);
    assert_eq!(summary["quality_gate"]["direction"], "lower_is_better");
    assert_eq!(summary["ensemble_gain"]["metrics"]["validation:rmse"], 0.05);
    assert_eq!(
        summary["ensemble_gain"]["best_base_model"]["validation:rmse"],
        "image"
    );

    // Exactly at the threshold passes (0.45 arrives as a 32-bit float).
    env.put(job(
        &p(ModelKind::Sequence),
        "Completed",
        T0,
        &[("validation:rmse", 0.45)],
    ));
    let summary = env.invoke(event.clone()).await.unwrap();
    assert_eq!(summary["quality_gate"]["passed"], true);
    assert_eq!(summary["quality_gate"]["value"], 0.45);

    // 0.5 > 0.45: not passed, and worse than image by 0.03.
    env.put(job(
        &p(ModelKind::Sequence),
        "Completed",
        T0,
        &[("validation:rmse", 0.5)],
    ));
    let summary = env.invoke(event).await.unwrap();
    assert_eq!(summary["quality_gate"]["passed"], false);
    assert!(summary["quality_gate"]["reason"]
        .as_str()
        .unwrap()
        .contains("is above the threshold 0.45 (lower is better)"));
    assert_eq!(
        summary["ensemble_gain"]["metrics"]["validation:rmse"],
        -0.03
    );
}

#[tokio::test]
async fn a_reused_job_that_does_not_exist_is_training_job_not_found() {
    let env = Env::start().await;
    let text = prefix("nightly-2026-11-26", ModelKind::Text);
    let image = prefix("nightly-2026-11-26", ModelKind::Image);
    env.put(job(&format!("{text}1"), "Completed", T0, &[]));
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-27", ModelKind::Sequence)),
        "Completed",
        T0,
        &[],
    ));
    // Only decoys for image: a failed attempt, a non-digit suffix, another execution.
    env.put(job(&format!("{image}0"), "Failed", T0, &[]));
    env.put(job(&format!("{image}0-retry"), "Completed", T0, &[]));
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-25", ModelKind::Image)),
        "Completed",
        T0,
        &[],
    ));

    let err = env
        .invoke_err(fixture("aggregate-metrics-reused.json"))
        .await;

    assert_error(
        &err,
        ErrorKind::TrainingJobNotFound,
        &["$.models.image", "nightly-2026-11-26", &image],
    );
    assert!(!env.report_exists().await, "no report without every model");
}

#[tokio::test]
async fn a_trained_job_that_does_not_exist_is_training_job_not_found() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    let mut event = fixture("aggregate-metrics.json");
    event["models"]["sequence"]["TrainingJobName"] =
        json!("nightly-2026-11-27-ee657004-seq-train-a9");

    let err = env.invoke_err(event).await;

    assert_error(
        &err,
        ErrorKind::TrainingJobNotFound,
        &[
            "$.models.sequence",
            "nightly-2026-11-27-ee657004-seq-train-a9",
        ],
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_sdk_retries_is_service_unavailable() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    env.sagemaker.fail_next(100, 400, "ThrottlingException");

    let err = env.invoke_err(fixture("aggregate-metrics.json")).await;

    assert_error(
        &err,
        ErrorKind::ServiceUnavailable,
        &["DescribeTrainingJob"],
    );
    assert!(err.kind.is_retryable());
}

#[tokio::test]
async fn brief_throttling_is_absorbed_by_the_sdk_retries() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    env.sagemaker.fail_next(2, 400, "ThrottlingException");

    let summary = env.invoke(fixture("aggregate-metrics.json")).await.unwrap();

    assert_eq!(summary["quality_gate"]["passed"], true);
    assert_eq!(env.operations("DescribeTrainingJob").len(), 5);
}

#[tokio::test]
async fn a_server_error_listing_jobs_is_service_unavailable() {
    let env = Env::start().await;
    env.put(job(
        &format!("{}0", prefix("nightly-2026-11-27", ModelKind::Sequence)),
        "Completed",
        T0,
        &[],
    ));
    env.sagemaker
        .fail_next_operation("ListTrainingJobs", 100, 500, "InternalFailure");

    let err = env
        .invoke_err(fixture("aggregate-metrics-reused.json"))
        .await;

    assert_error(&err, ErrorKind::ServiceUnavailable, &["ListTrainingJobs"]);
}

#[tokio::test]
async fn access_denied_by_sagemaker_is_access_denied() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    env.sagemaker
        .fail_next_operation("DescribeTrainingJob", 100, 400, "AccessDeniedException");

    let err = env.invoke_err(fixture("aggregate-metrics.json")).await;

    assert_error(&err, ErrorKind::AccessDenied, &["DescribeTrainingJob"]);
}

#[tokio::test]
async fn another_sagemaker_client_error_is_aws_request_failed() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    // A 400 ValidationException that is not "not found" (e.g. a malformed request).
    env.sagemaker
        .fail_next_operation("DescribeTrainingJob", 100, 400, "ValidationException");

    let err = env.invoke_err(fixture("aggregate-metrics.json")).await;

    assert_error(
        &err,
        ErrorKind::AwsRequestFailed,
        &["DescribeTrainingJob", "ValidationException"],
    );
}

#[tokio::test]
async fn a_report_write_refused_by_s3_is_access_denied() {
    let mut env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    // Credentials S3 does not accept: the signature check answers 403.
    env.clients.s3 = aws_sdk_s3::Client::from_conf(
        env.s3
            .client_config()
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "local-access-key",
                "wrong-secret",
                None,
                None,
                "test",
            ))
            .build(),
    );

    let err = env.invoke_err(fixture("aggregate-metrics.json")).await;

    assert_error(&err, ErrorKind::AccessDenied, &["S3 PutObject"]);
    assert!(!env.report_exists().await);
}

#[tokio::test]
async fn bad_events_are_invalid_input_naming_the_path() {
    let env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    let base = fixture("aggregate-metrics.json");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut e = base.clone();
        f(&mut e);
        e
    };
    let cases = [
        (json!(["not", "an", "object"]), "$: must be a JSON object, got an array"),
        (json!(null), "$: must be a JSON object, got null"),
        (
            with(&|e| {
                e["models"].as_object_mut().unwrap().remove("sequence");
            }),
            "$.models.sequence: is required",
        ),
        (
            with(&|e| e["models"]["text"] = json!("nightly-text-train-a0")),
            "$.models.text: must be a JSON object, got a string",
        ),
        (
            with(&|e| e["quality_gate"]["threshold"] = json!("high")),
            "$.quality_gate.threshold: must be a number, got a string",
        ),
        (
            with(&|e| e["report_uri"] = json!("https://artifact-bucket/report.json")),
            "$.report_uri: must be an s3://bucket/prefix URI",
        ),
        (
            with(&|e| e["report_uri"] = json!("s3://other-bucket/report.json")),
            "$.report_uri: must be inside the artifact bucket artifact-bucket, got bucket other-bucket",
        ),
        (
            with(&|e| e["report_uri"] = json!("s3://artifact-bucket/report/")),
            "$.report_uri: must name an object",
        ),
        (
            with(&|e| e["reprot_uri"] = json!("s3://artifact-bucket/r.json")),
            "$.reprot_uri: unknown field `reprot_uri`",
        ),
        (
            with(&|e| e["models"]["sequence"] = json!({"Reused": true, "reuse": {}})),
            "$.models.sequence.Reused: the sequence model is always trained",
        ),
    ];
    for (event, expected) in cases {
        let err = env.invoke_err(event).await;
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{}", err.message);
        assert!(
            err.message.starts_with(expected),
            "{expected}\n vs {}",
            err.message
        );
    }
    assert!(
        env.sagemaker.requests().is_empty(),
        "bad events call nothing"
    );
}

#[tokio::test]
async fn a_missing_artifact_bucket_is_configuration_error() {
    let mut env = Env::start().await;
    put_trained_jobs(&env, &SEQUENCE_METRICS);
    env.config = Config::from_map(&HashMap::new());

    let err = env.invoke_err(fixture("aggregate-metrics.json")).await;

    assert_error(
        &err,
        ErrorKind::ConfigurationError,
        &["ARTIFACT_BUCKET", "is required"],
    );
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "ConfigurationError");
    assert!(env.sagemaker.requests().is_empty());
}

/// The local SageMaker against the real SDK: shapes, errors, filters and paging.
#[tokio::test]
async fn local_sagemaker_speaks_the_sdk_wire_protocol() {
    let sagemaker = LocalSageMaker::start().unwrap();
    let client = sagemaker.client();
    for (i, (name, status)) in [
        ("job-b", "Completed"),
        ("job-a", "Completed"),
        ("job-c", "Failed"),
        ("other-1", "Completed"),
        ("JOB-d", "InProgress"),
    ]
    .into_iter()
    .enumerate()
    {
        sagemaker
            .put_training_job(job(
                name,
                status,
                T0 + 10.0 * i as f64,
                &[("validation:accuracy", 0.5)],
            ))
            .unwrap();
    }
    assert!(sagemaker
        .put_training_job(json!({"TrainingJobName": "x"}))
        .is_err());
    assert!(sagemaker
        .put_training_job(json!({"TrainingJobName": "x", "TrainingJobStatus": "Completed", "CreationTime": "yesterday"}))
        .is_err());

    let described = client
        .describe_training_job()
        .training_job_name("job-a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.training_job_status(),
        Some(&TrainingJobStatus::Completed)
    );
    assert_eq!(
        described.creation_time().unwrap().secs(),
        (T0 + 10.0) as i64
    );
    assert_eq!(described.final_metric_data_list()[0].value(), Some(0.5));
    assert_eq!(
        described.resource_config().unwrap().instance_count(),
        Some(2)
    );
    assert_eq!(described.hyper_parameters().unwrap()["epochs"], "3");
    assert_eq!(
        described.training_job_arn(),
        Some("arn:aws:sagemaker:us-east-1:123456789012:training-job/job-a")
    );

    let missing = client
        .describe_training_job()
        .training_job_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("ValidationException"));
    assert_eq!(missing.message(), Some(NOT_FOUND_MESSAGE));
    assert_eq!(missing.raw_response().unwrap().status().as_u16(), 400);

    // NameContains ignores case; StatusEquals filters; pages of two, sorted by name.
    let mut names = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_training_jobs()
            .name_contains("job")
            .sort_by(SortBy::Name)
            .sort_order(SortOrder::Descending)
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(
            page.training_job_summaries()
                .iter()
                .map(|s| s.training_job_name().unwrap().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["job-c", "job-b", "job-a", "JOB-d"]);
    assert_eq!(pages, 2);

    let completed = client
        .list_training_jobs()
        .status_equals(TrainingJobStatus::Completed)
        .send()
        .await
        .unwrap();
    let summaries = completed.training_job_summaries();
    let listed: Vec<_> = summaries
        .iter()
        .map(|s| s.training_job_name().unwrap())
        .collect();
    // Default order: CreationTime, ascending.
    assert_eq!(listed, ["job-b", "job-a", "other-1"]);
    assert_eq!(summaries[0].creation_time().unwrap().secs(), T0 as i64);
    assert_eq!(
        summaries[0].training_job_status(),
        Some(&TrainingJobStatus::Completed)
    );

    // StatusEquals filters each page after MaxResults jobs are taken (as SageMaker
    // documents): by name descending, page one is [other-1, job-c] -> [other-1].
    let short = client
        .list_training_jobs()
        .status_equals(TrainingJobStatus::Completed)
        .sort_by(SortBy::Name)
        .sort_order(SortOrder::Descending)
        .max_results(2)
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = short
        .training_job_summaries()
        .iter()
        .map(|s| s.training_job_name().unwrap())
        .collect();
    assert_eq!(listed, ["other-1"]);
    assert!(short.next_token().is_some());

    let bad_token = client
        .list_training_jobs()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Some("ValidationException"));

    // Injected failures: per operation, counted down, then normal answers again.
    sagemaker.fail_next_operation("ListTrainingJobs", 1, 400, "ThrottlingException");
    let fast = aws_sdk_sagemaker::Client::from_conf(
        sagemaker
            .client_config()
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    assert!(fast
        .describe_training_job()
        .training_job_name("job-a")
        .send()
        .await
        .is_ok());
    let throttled = fast.list_training_jobs().send().await.unwrap_err();
    assert_eq!(throttled.code(), Some("ThrottlingException"));
    assert!(fast.list_training_jobs().send().await.is_ok());

    let unknown = client.list_models().send().await.unwrap_err();
    assert_eq!(unknown.code(), Some("UnknownOperationException"));
}
