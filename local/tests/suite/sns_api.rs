//! The local SNS API with the real `aws-sdk-sns` client: a Publish lands in the outbox
//! exactly as an `sns:publish` task's message does, and SNS's errors reach the SDK as
//! its typed errors. End to end: the project's format-failure binary, invoked through
//! the Lambda pool for a status change that the template's EventBridge rule matches,
//! publishes once through the API; for a failure its Catch path told, the rule does
//! not fire.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::config::{Credentials, Region};
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{json, Value};

use crate::support;
use sfn_local::engine::{ExecutionSpec, Outcome, Status};
use sfn_local::integrations::eventbridge;
use sfn_local::integrations::lambda::{LambdaPool, PoolOptions};
use sfn_local::integrations::sns::Outbox;
use sfn_local::project::{Config, Project};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ensemble-notifications";

fn client(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        // Errors are asserted as answered, not after the SDK's retries.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

fn outbox(dir: &Path, topics: &[&str]) -> Arc<Outbox> {
    Arc::new(
        Outbox::new(dir.join("outbox.jsonl"))
            .with_echo(false)
            .with_topics(topics.iter().map(|t| t.to_string())),
    )
}

fn attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .unwrap()
}

/// A record without what differs on every publish.
fn comparable(mut record: Value) -> Value {
    let map = record.as_object_mut().unwrap();
    map.remove("timestamp");
    map.remove("message_id");
    record
}

#[tokio::test]
async fn a_publish_lands_in_the_outbox_as_a_task_message_does() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path(), &[TOPIC]);
    let api = outbox.serve_api().unwrap();
    let sns = client(&api.endpoint());
    let message = "Execution nightly-1 FAILED\nerror: States.Runtime & <more> ✓";
    let subject = "[ensemble-training] Execution failed: States.Runtime";
    let out = sns
        .publish()
        .topic_arn(TOPIC)
        .subject(subject)
        .message(message)
        .message_attributes("status", attribute("String", "FAILED"))
        .message_attributes("attempts", attribute("Number", "3"))
        .send()
        .await
        .unwrap();
    let message_id = out.message_id().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&message_id).is_ok(), "{message_id}");
    assert_eq!(out.sequence_number(), None);

    // The same message through the state machine's sns:publish task.
    outbox
        .publish(json!({
            "TopicArn": TOPIC,
            "Subject": subject,
            "Message": message,
            "MessageAttributes": {
                "status": {"DataType": "String", "StringValue": "FAILED"},
                "attempts": {"DataType": "Number", "StringValue": "3"}
            }
        }))
        .await
        .unwrap();

    let records = outbox.messages().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["message_id"], json!(message_id));
    assert_eq!(records[0]["topic_arn"], json!(TOPIC));
    assert_eq!(records[0]["subject"], json!(subject));
    assert_eq!(records[0]["message"], json!(message));
    assert_eq!(
        records[0]["message_attributes"],
        json!({
            "status": {"DataType": "String", "StringValue": "FAILED"},
            "attempts": {"DataType": "Number", "StringValue": "3"}
        })
    );
    assert_eq!(
        comparable(records[0].clone()),
        comparable(records[1].clone())
    );
}

#[tokio::test]
async fn fifo_topics_answer_a_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = "arn:aws:sns:us-east-1:123456789012:alerts.fifo";
    let outbox = outbox(dir.path(), &[fifo]);
    let api = outbox.serve_api().unwrap();
    let out = client(&api.endpoint())
        .publish()
        .topic_arn(fifo)
        .message("m")
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap();
    let sequence = out.sequence_number().unwrap();
    assert_eq!(sequence.len(), 20, "{sequence}");
    let records = outbox.messages().unwrap();
    assert_eq!(records[0]["message_group_id"], json!("g"));
    assert_eq!(records[0]["message_deduplication_id"], json!("d"));
}

#[tokio::test]
async fn refused_publishes_are_sns_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path(), &[TOPIC]);
    let api = outbox.serve_api().unwrap();
    let sns = client(&api.endpoint());

    let e = sns
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:123456789012:unknown")
        .message("m")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_not_found_exception(),
        "{e:?}"
    );
    assert_eq!(e.code(), Some("NotFound"));
    assert_eq!(e.message(), Some("Topic does not exist"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);

    let e = sns
        .publish()
        .topic_arn(TOPIC)
        .message("")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{e:?}"
    );
    assert_eq!(e.message(), Some("Invalid parameter: Empty message"));

    let e = sns
        .publish()
        .topic_arn(TOPIC)
        .subject("two\nlines")
        .message("m")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());
    assert_eq!(e.message(), Some("Invalid parameter: Subject"));

    let e = sns
        .publish()
        .topic_arn(TOPIC)
        .message("m")
        .message_attributes("attempts", attribute("Number", "ten"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_parameter_value_exception(),
        "{e:?}"
    );
    assert_eq!(
        e.message(),
        Some("Could not cast message attribute 'attempts' value to number.")
    );

    // No topic at all.
    let e = sns.publish().message("m").send().await.unwrap_err();
    assert!(e
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());

    assert!(outbox.messages().unwrap().is_empty());
}

#[tokio::test]
async fn an_unwritable_outbox_is_a_service_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let outbox = outbox(&dir.path().join("file"), &[TOPIC]);
    let api = outbox.serve_api().unwrap();
    let e = client(&api.endpoint())
        .publish()
        .topic_arn(TOPIC)
        .message("m")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InternalError"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 500);
    assert!(e.message().unwrap().contains("outbox.jsonl"), "{e:?}");
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn raw(endpoint: &str, head: &str, body: &str) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{head}\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_wire_format_is_sns_xml() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path(), &[TOPIC]);
    let api = outbox.serve_api().unwrap();
    let endpoint = api.endpoint();

    let publish = format!(
        "Action=Publish&Version=2010-03-31&TopicArn={}&Message=hello+world%21",
        TOPIC.replace(':', "%3A")
    );
    let (status, body) = raw(&endpoint, "POST / HTTP/1.1", &publish);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>"
        ),
        "{body}"
    );
    assert!(
        body.ends_with("</RequestId></ResponseMetadata></PublishResponse>"),
        "{body}"
    );
    assert_eq!(
        outbox.messages().unwrap()[0]["message"],
        json!("hello world!")
    );

    // Parameters in the query string count too.
    let (status, _) = raw(&endpoint, &format!("POST /?{publish} HTTP/1.1"), "");
    assert_eq!(status, 200);

    let (status, body) = raw(&endpoint, "POST / HTTP/1.1", "Action=CreateTopic&Name=t");
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    assert!(body.contains("<Type>Sender</Type>"), "{body}");
    let (status, body) = raw(&endpoint, "POST / HTTP/1.1", "Message=m");
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MissingAction</Code>"), "{body}");
    let (status, body) = raw(&endpoint, "POST / HTTP/1.1", "Action=Publish&Message=%ZZ");
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MalformedQueryString</Code>"), "{body}");
    let (status, body) = raw(&endpoint, "GET /topics HTTP/1.1", "");
    assert_eq!(status, 405);
    assert!(body.starts_with("<ErrorResponse"), "{body}");
    assert_eq!(outbox.messages().unwrap().len(), 2);
}

#[test]
fn dropping_the_api_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let api = outbox(dir.path(), &[TOPIC]).serve_api().unwrap();
    let addr = api.endpoint().trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    drop(api);
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

/// The project as `sfn-local run` loads it (the parameters of sfn-local.json).
fn project() -> Project {
    let root = support::repo_root();
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-text:latest";
    let config: Config = serde_json::from_value(json!({
        "template": "template.yaml",
        "state_machine": "EnsembleTrainingStateMachine",
        "stack_name": "ensemble-training",
        "parameters": {
            "AllowedSourceBuckets": "ensemble-raw-data",
            "TextTrainingImage": image,
            "ImageTrainingImage": image,
            "SequenceTrainingImage": image
        },
        "functions_dir": support::function_binaries()
    }))
    .unwrap();
    Project::resolve(config, root.join("sfn-local.json"), root).unwrap()
}

/// What run.rs does after an execution: every rule that matches the status change
/// event invokes its function; the functions' results.
async fn tell(
    spec: &ExecutionSpec,
    outcome: &Outcome,
    rules: &[eventbridge::Rule],
    pool: &LambdaPool,
) -> Vec<Value> {
    let event = eventbridge::outcome_event(spec, outcome);
    let mut results = Vec::new();
    for rule in rules {
        if rule.matches(&event).unwrap() {
            let payload = rule.target_input(&event).unwrap();
            results.push(pool.invoke(&rule.function_name, payload).await.unwrap());
        }
    }
    results
}

#[tokio::test]
async fn format_failure_tells_an_uncaught_failure_once_through_the_api() {
    let project = project();
    let (rules, notes) = eventbridge::project_rules(&project).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(rules.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let topics: Vec<&str> = project.topics.iter().map(String::as_str).collect();
    let outbox = outbox(dir.path(), &topics);
    let api = outbox.serve_api().unwrap();
    // What run.rs adds to every function's environment.
    let functions = project
        .functions
        .iter()
        .map(|f| {
            let mut spec = f.spec.clone();
            spec.env.extend([
                ("AWS_ENDPOINT_URL_SNS".to_string(), api.endpoint()),
                ("AWS_ACCESS_KEY_ID".to_string(), "local".to_string()),
                ("AWS_SECRET_ACCESS_KEY".to_string(), "local".to_string()),
            ]);
            spec
        })
        .collect();
    let pool = LambdaPool::with_options(
        functions,
        PoolOptions {
            region: project.settings.region.clone(),
            account: project.settings.account.clone(),
            ..PoolOptions::default()
        },
    );
    let spec = ExecutionSpec {
        name: "nightly-1".into(),
        state_machine_name: project.state_machine_name.clone(),
        input: json!({"input_data": "s3://ensemble-raw-data/documents/v1/"}),
        region: project.settings.region.clone(),
        account: project.settings.account.clone(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
    };
    let ended = |error: &str, cause: &str| Outcome {
        status: Status::Failed {
            error: error.into(),
            cause: cause.into(),
        },
        history: vec![
            json!({"id": 1, "timestamp": "2026-11-27T06:00:00.000Z"}),
            json!({"id": 9, "timestamp": "2026-11-27T06:42:17.000Z"}),
        ],
        transitions: 4,
    };

    let told = tell(
        &spec,
        &ended(
            "States.Runtime",
            "The JSONPath '$.inference.outputs' specified for the field 'InputPath' could not be found",
        ),
        &rules,
        &pool,
    )
    .await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["published"], json!(true), "{}", told[0]);
    let records = outbox.messages().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["message_id"], told[0]["message_id"]);
    assert_eq!(records[0]["topic_arn"], json!(project.topics[0]));
    assert_eq!(records[0]["subject"], told[0]["Subject"]);
    assert!(
        records[0]["message"]
            .as_str()
            .unwrap()
            .contains("States.Runtime"),
        "{}",
        records[0]
    );
    assert_eq!(
        records[0]["message_attributes"]["execution"]["StringValue"],
        json!("nightly-1")
    );

    // The state machine's Fail state: the Catch path told it already.
    let told = tell(
        &spec,
        &ended("EnsembleTrainingFailed", "the quality gate failed"),
        &rules,
        &pool,
    )
    .await;
    assert!(told.is_empty(), "{told:?}");
    assert_eq!(outbox.messages().unwrap().len(), 1);
}
