//! Every stable error name is produced by a real handler, over HTTP where AWS is
//! involved. The match is exhaustive: a new `ErrorKind` does not compile until it is
//! produced here too.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{Credentials, Region};
use integration_tests::asl::read_repo_file;
use integration_tests::s3_server::EmbeddedS3;
use integration_tests::sagemaker_server::LocalSageMaker;
use serde_json::{json, Value};
use shared::{ErrorKind, FunctionError};

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&read_repo_file(&format!("events/{name}"))).unwrap()
}

async fn copy(s3: &aws_sdk_s3::Client, source: &str) -> Result<(), FunctionError> {
    let config = copy_execution_data::config::CopyConfig::from_map(&vars(&[
        ("ARTIFACT_BUCKET", "artifact-bucket"),
        ("ALLOWED_SOURCE_BUCKETS", "src-bucket,missing-bucket"),
    ]))?;
    let event = json!({"source": source, "destination": "s3://artifact-bucket/executions/e/data/", "continuation": null});
    copy_execution_data::handle(
        s3,
        &config,
        event,
        SystemTime::now() + Duration::from_secs(600),
    )
    .await
    .map(|_| ())
}

async fn produce(kind: ErrorKind, s3: &EmbeddedS3, sagemaker: &LocalSageMaker) -> FunctionError {
    let generate = |event: Value| {
        let config = generate_config::Config::from_map(&vars(&[
            ("ARTIFACT_BUCKET", "a-bucket"),
            ("ALLOWED_SOURCE_BUCKETS", "ensemble-raw-data"),
        ]))?;
        generate_config::handle(event, &config).map(|_| ())
    };
    let aggregate = |event: Value, sagemaker_client: aws_sdk_sagemaker::Client| async move {
        let clients = aggregate_metrics::Clients {
            sagemaker: sagemaker_client,
            s3: s3.client(),
        };
        let config =
            aggregate_metrics::Config::from_map(&vars(&[("ARTIFACT_BUCKET", "artifact-bucket")]));
        aggregate_metrics::handle(event, &config, &clients)
            .await
            .map(|_| ())
    };
    let result = match kind {
        ErrorKind::InvalidInput => generate(json!(["not", "an", "object"])),
        ErrorKind::ConfigurationError => {
            generate_config::Config::from_map(&HashMap::new()).map(|_| ())
        }
        ErrorKind::SourceNotAllowed => {
            let mut event = fixture("generate-config.json");
            event["input_data"] = json!("s3://someone-else/data/");
            generate(event)
        }
        ErrorKind::SourceNotFound => copy(&s3.client(), "s3://missing-bucket/data/").await,
        ErrorKind::AccessDenied => {
            let wrong = aws_sdk_s3::Client::from_conf(
                s3.client_config()
                    .credentials_provider(Credentials::new(
                        "local-access-key",
                        "wrong-secret",
                        None,
                        None,
                        "t",
                    ))
                    .build(),
            );
            copy(&wrong, "s3://src-bucket/data/").await
        }
        ErrorKind::ServiceUnavailable => {
            let unreachable = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version_latest()
                    .region(Region::new("us-east-1"))
                    .endpoint_url("http://127.0.0.1:9")
                    .force_path_style(true)
                    .credentials_provider(Credentials::new("a", "b", None, None, "t"))
                    .build(),
            );
            copy(&unreachable, "s3://src-bucket/data/").await
        }
        ErrorKind::AwsRequestFailed => {
            // A server of its own, every DescribeTrainingJob failing: they run
            // concurrently, and a job not found would otherwise win the race.
            let failing = LocalSageMaker::start().unwrap();
            failing.fail_next(3, 400, "ValidationException");
            aggregate(fixture("aggregate-metrics.json"), failing.client()).await
        }
        ErrorKind::TrainingJobNotFound => {
            aggregate(fixture("aggregate-metrics.json"), sagemaker.client()).await
        }
    };
    result.expect_err(&format!("{kind} was not produced"))
}

#[tokio::test]
async fn every_error_name_is_produced_by_a_handler() {
    let s3 = EmbeddedS3::start().unwrap();
    for bucket in ["src-bucket", "artifact-bucket"] {
        s3.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
    }
    let sagemaker = LocalSageMaker::start().unwrap();
    for kind in ErrorKind::ALL {
        let error = produce(kind, &s3, &sagemaker).await;
        assert_eq!(
            error.kind, kind,
            "{kind}: got {} ({})",
            error.kind, error.message
        );
        let diagnostic: lambda_runtime::Diagnostic = error.into();
        assert_eq!(diagnostic.error_type, kind.name());
        assert!(!diagnostic.error_message.is_empty());
    }
}
