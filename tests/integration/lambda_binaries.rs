//! The real function binaries, run as processes behind a local Lambda Runtime API:
//! what Step Functions would receive, `errorType` included, for every fixture.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use integration_tests::asl::read_repo_file;
use integration_tests::lambda_runtime_api::{LocalLambda, Outcome};
use integration_tests::s3_server::EmbeddedS3;
use integration_tests::sagemaker_server::LocalSageMaker;
use integration_tests::sample_data::sample_dataset;
use integration_tests::sns_server::LocalSns;
use serde_json::{json, Value};
use shared::ErrorKind;

const TIMEOUT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> Value {
    serde_json::from_str(&read_repo_file(&format!("events/{name}"))).unwrap()
}

fn error_type(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Error { error_type, .. } => error_type,
        Outcome::Response(value) => panic!("expected an error, got {value}"),
    }
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(value) => value,
        Outcome::Error {
            error_type,
            error_message,
        } => panic!("{error_type}: {error_message}"),
    }
}

/// Non-objects must get our own name, never `&lambda_runtime::deserializer::DeserializeError`.
async fn refuses_non_objects(lambda: &LocalLambda) {
    for event in [json!("a string"), json!([1, 2]), json!(null), json!(42)] {
        let outcome = lambda.invoke(event.clone(), TIMEOUT).await;
        assert_eq!(
            error_type(&outcome),
            ErrorKind::InvalidInput.name(),
            "{event}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn generate_config_binary() {
    let env = [
        ("ARTIFACT_BUCKET", "ensemble-artifacts".to_string()),
        ("ALLOWED_SOURCE_BUCKETS", "ensemble-raw-data".to_string()),
    ];
    let lambda = LocalLambda::start("generate-config", &env).unwrap();
    let out = response(
        lambda
            .invoke(fixture("generate-config.json"), TIMEOUT)
            .await,
    );
    assert!(out["text_model"]["InputDataConfig"].is_array(), "{out}");
    let out = response(
        lambda
            .invoke(fixture("generate-config-rerun.json"), TIMEOUT)
            .await,
    );
    assert_eq!(out["image_model"]["train"], json!(false));
    let invalid = lambda
        .invoke(fixture("generate-config-invalid.json"), TIMEOUT)
        .await;
    assert_eq!(error_type(&invalid), "InvalidInput");
    refuses_non_objects(&lambda).await;

    let misconfigured = LocalLambda::start("generate-config", &[]).unwrap();
    let outcome = misconfigured
        .invoke(fixture("generate-config.json"), TIMEOUT)
        .await;
    assert_eq!(error_type(&outcome), "ConfigurationError");
}

#[tokio::test]
async fn copy_execution_data_binary() {
    let s3_server = EmbeddedS3::start().unwrap();
    let s3 = s3_server.client();
    for bucket in ["src-bucket", "artifact-bucket"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let dataset = sample_dataset(50, 3);
    let files = dataset.len();
    for (key, body) in dataset {
        s3.put_object()
            .bucket("src-bucket")
            .key(format!("datasets/v1/{key}"))
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let mut env: Vec<(&str, String)> = s3_server.lambda_env();
    env.push(("ARTIFACT_BUCKET", "artifact-bucket".into()));
    env.push(("ALLOWED_SOURCE_BUCKETS", "src-bucket".into()));
    let lambda = LocalLambda::start("copy-execution-data", &env).unwrap();
    // Step Functions passes each result back until done.
    let mut event = fixture("copy-execution-data.json");
    for _ in 0..20 {
        let out = response(lambda.invoke(event, TIMEOUT).await);
        if out["done"] == json!(true) {
            assert_eq!(out["copied"], json!(files), "{out}");
            let listed = s3
                .list_objects_v2()
                .bucket("artifact-bucket")
                .prefix("executions/fixture-execution/data/")
                .send()
                .await
                .unwrap();
            assert_eq!(listed.key_count(), Some(files as i32));
            refuses_non_objects(&lambda).await;
            let mut outside = fixture("copy-execution-data.json");
            outside["source"] = json!("s3://another-bucket/x/");
            assert_eq!(
                error_type(&lambda.invoke(outside, TIMEOUT).await),
                "SourceNotAllowed"
            );
            return;
        }
        event = out;
    }
    panic!("the copy did not finish");
}

#[tokio::test]
async fn aggregate_metrics_binary() {
    let s3_server = EmbeddedS3::start().unwrap();
    s3_server
        .client()
        .create_bucket()
        .bucket("artifact-bucket")
        .send()
        .await
        .unwrap();
    let sagemaker = LocalSageMaker::start().unwrap();
    let event = fixture("aggregate-metrics.json");
    for (model, f1) in [("text", 0.7), ("image", 0.6), ("sequence", 0.9)] {
        let name = event["models"][model]["TrainingJobName"].as_str().unwrap();
        sagemaker
            .put_training_job(json!({
                "TrainingJobName": name, "TrainingJobStatus": "Completed", "CreationTime": 1_795_651_200.0,
                "ModelArtifacts": {"S3ModelArtifacts": format!("s3://artifact-bucket/{name}/output/model.tar.gz")},
                "FinalMetricDataList": [{"MetricName": "validation:macro_f1", "Value": f1, "Timestamp": 1_795_652_200.0}],
                "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "AlgorithmSpecification": {"TrainingInputMode": "File"}, "RoleArn": "arn:aws:iam::123456789012:role/x",
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600}
            }))
            .unwrap();
    }
    let mut env = s3_server.lambda_env();
    env.extend(sagemaker.lambda_env());
    env.push(("ARTIFACT_BUCKET", "artifact-bucket".into()));
    let lambda = LocalLambda::start("aggregate-metrics", &env).unwrap();
    let out = response(lambda.invoke(event.clone(), TIMEOUT).await);
    assert_eq!(
        out["models"]["sequence"]["metrics"]["validation:macro_f1"],
        json!(0.9),
        "{out}"
    );
    assert!(out["quality_gate"]["passed"].is_boolean());
    let mut unknown = event;
    unknown["models"]["text"]["TrainingJobName"] = json!("no-such-job-a0");
    assert_eq!(
        error_type(&lambda.invoke(unknown, TIMEOUT).await),
        "TrainingJobNotFound"
    );
    refuses_non_objects(&lambda).await;
}

#[tokio::test]
async fn format_failure_binary() {
    let sns = LocalSns::start().unwrap();
    let topic = sns.create_topic("ensemble-training-notifications");
    let mut env = sns.lambda_env();
    env.push(("SNS_TOPIC_ARN", topic.clone()));
    let lambda = LocalLambda::start("format-failure", &env).unwrap();
    for name in [
        "format-failure.json",
        "format-failure-lambda-error.json",
        "format-failure-quality-gate.json",
    ] {
        let out = response(lambda.invoke(fixture(name), TIMEOUT).await);
        assert!(
            out["Subject"].as_str().is_some_and(|s| s.len() <= 100),
            "{name}: {out}"
        );
        assert_eq!(
            out["published"],
            json!(false),
            "{name}: the Catch path publishes from the state machine"
        );
    }
    assert!(sns.published().is_empty());
    let out = response(
        lambda
            .invoke(fixture("format-failure-eventbridge.json"), TIMEOUT)
            .await,
    );
    assert_eq!(out["published"], json!(true), "{out}");
    let published = sns.published();
    assert_eq!(published.len(), 1, "told exactly once");
    refuses_non_objects(&lambda).await;
}
