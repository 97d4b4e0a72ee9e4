//! Integration tests of format-failure: the handler with the real aws-sdk-sns client
//! over HTTP against the local SNS API, driven by the `events/format-failure*.json`
//! fixtures and by events built here.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sns::config::retry::RetryConfig;
use format_failure::notification::{MESSAGE_MAX, SUBJECT_MAX};
use format_failure::{handle, Config, Outcome};
use integration_tests::sns_server::LocalSns;
use serde_json::{json, Value};
use shared::{ErrorKind, FunctionError};

const ARN: &str =
    "arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:nightly-2026-11-27";
const TOPIC: &str = "training-failures";

const FIXTURES: [&str; 5] = [
    "format-failure.json",
    "format-failure-lambda-error.json",
    "format-failure-quality-gate.json",
    "format-failure-eventbridge.json",
    "format-failure-eventbridge-timeout.json",
];

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn fixture(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn config(topic: Option<&str>) -> Config {
    let mut vars = HashMap::new();
    if let Some(topic) = topic {
        vars.insert("SNS_TOPIC_ARN".to_string(), topic.to_string());
    }
    Config::from_map(&vars).expect("valid test configuration")
}

/// A server with the failure topic, the function's configuration, and a client whose
/// retries back off briefly so retry tests stay fast.
fn setup() -> (LocalSns, Config, aws_sdk_sns::Client) {
    let sns = LocalSns::start().expect("local SNS starts");
    let topic = sns.create_topic(TOPIC);
    let client = client_with_attempts(&sns, 3);
    (sns, config(Some(&topic)), client)
}

fn client_with_attempts(sns: &LocalSns, attempts: u32) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        sns.client_config()
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .build(),
    )
}

fn eventbridge(detail: Value) -> Value {
    json!({
        "version": "0", "id": "6b1c0f3e-7d2a-4c4e-9f0e-000000000001",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2026-11-27T07:00:00Z", "region": "eu-central-1",
        "resources": [ARN], "detail": detail
    })
}

async fn run(event: Value, config: &Config, client: &aws_sdk_sns::Client) -> Outcome {
    handle(event, config, client)
        .await
        .unwrap_or_else(|e| panic!("{:?}: {}", e.kind, e.message))
}

async fn run_err(event: Value, config: &Config, client: &aws_sdk_sns::Client) -> FunctionError {
    match handle(event, config, client).await {
        Ok(outcome) => panic!("expected an error, got {outcome:?}"),
        Err(e) => e,
    }
}

fn assert_subject_ok(subject: &str) {
    assert!(
        subject.len() <= SUBJECT_MAX,
        "{} chars: {subject}",
        subject.len()
    );
    assert!(
        subject.chars().all(|c| (' '..='~').contains(&c)),
        "{subject}"
    );
    assert!(!subject.starts_with(' '), "{subject}");
}

#[test]
fn every_format_failure_fixture_is_driven_by_a_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("format-failure") && n.ends_with(".json"))
        .collect();
    let known: BTreeSet<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, known, "add a test for each new fixture");
}

#[tokio::test]
async fn fixture_training_job_failure_is_formatted_not_published() {
    let (sns, config, client) = setup();
    let outcome = run(fixture("format-failure.json"), &config, &client).await;
    assert_eq!(
        outcome.subject,
        "[ensemble-training] FAILED nightly-2026-11-27 at Train Sequence Model"
    );
    assert_eq!(
        outcome.failed_state.as_deref(),
        Some("Train Sequence Model")
    );
    assert_eq!(outcome.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(
        outcome.reason,
        "Training job ens-seq-nightly-2026-11-27-0 failed: AlgorithmError: ValueError: the sequence \
         model loss became NaN at epoch 3 (learning_rate=0.5 is too high?), exit code: 1"
    );
    assert!(!outcome.published);
    let m = &outcome.message;
    assert!(m.contains("Execution nightly-2026-11-27 of state machine EnsembleTraining FAILED at state \"Train Sequence Model\"."));
    assert!(m.contains("Started:       2026-11-27T06:00:00.000Z"));
    assert!(m.contains(&format!(
        "https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1#/v2/executions/details/{ARN}"
    )));
    assert!(m.contains("log group /aws/sagemaker/TrainingJobs, log streams starting with ens-seq-nightly-2026-11-27-0/"));
    assert!(m.contains("/opt/ml/output/failure"));
    assert!(m.contains(
        r#""train_text_model": false, "train_image_model": false, "reuse_artifacts_from": "nightly-2026-11-27""#
    ));
    assert!(m.contains("Cause (JSON, pretty-printed):\n{\n  \"AlgorithmSpecification\""));
    // The Catch path leaves publishing to the state machine.
    assert!(sns.requests().is_empty());
    assert!(sns.published().is_empty());

    // The result is what the state machine's ResultSelector reads.
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["Subject"], outcome.subject.as_str());
    assert_eq!(json["Message"], outcome.message.as_str());
    assert_eq!(json["published"], false);
    assert_eq!(json["failed_state"], "Train Sequence Model");
    assert!(json.get("message_id").is_none() && json.get("skipped").is_none());
}

#[tokio::test]
async fn fixture_lambda_error_names_the_input_field() {
    let (sns, config, client) = setup();
    let outcome = run(
        fixture("format-failure-lambda-error.json"),
        &config,
        &client,
    )
    .await;
    assert_eq!(
        outcome.subject,
        "[ensemble-training] FAILED nightly-2026-11-27 at Generate Config"
    );
    assert_eq!(outcome.error.as_deref(), Some("InvalidInput"));
    assert_eq!(
        outcome.reason,
        "InvalidInput: $.text_model.hyperparameters.epochs: must be a whole number from 1 to 1000, got a string"
    );
    assert!(outcome
        .message
        .contains("Fix the field $.text_model.hyperparameters.epochs of the execution input"));
    assert!(!outcome.message.contains("reuse_artifacts_from"));
    assert!(sns.requests().is_empty());
}

#[tokio::test]
async fn fixture_quality_gate_suggests_tuning_and_reuse() {
    let (sns, config, client) = setup();
    let outcome = run(
        fixture("format-failure-quality-gate.json"),
        &config,
        &client,
    )
    .await;
    assert_eq!(
        outcome.subject,
        "[ensemble-training] FAILED nightly-2026-11-27 at Quality Gate"
    );
    assert_eq!(outcome.error.as_deref(), Some("QualityGateNotMet"));
    assert_eq!(
        outcome.reason,
        "Quality gate not met: validation:macro_f1 0.52 is below the threshold 0.6"
    );
    assert!(outcome
        .message
        .contains("adjust the hyperparameters or the quality threshold"));
    assert!(outcome
        .message
        .contains("\"reuse_artifacts_from\": \"nightly-2026-11-27\""));
    assert!(sns.requests().is_empty());
}

#[tokio::test]
async fn fixture_eventbridge_runtime_error_is_published_once() {
    let (sns, config, client) = setup();
    let outcome = run(fixture("format-failure-eventbridge.json"), &config, &client).await;
    assert!(outcome.published);
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    // States.Runtime names the state in its cause.
    assert_eq!(outcome.failed_state.as_deref(), Some("Aggregate Metrics"));
    assert_eq!(
        outcome.subject,
        "[ensemble-training] FAILED nightly-2026-11-27 at Aggregate Metrics"
    );

    let published = sns.published();
    assert_eq!(published.len(), 1, "published exactly once");
    let p = &published[0];
    assert_eq!(p.topic_arn, LocalSns::topic_arn(TOPIC));
    assert_eq!(p.subject.as_deref(), Some(outcome.subject.as_str()));
    assert_eq!(
        p.message, outcome.message,
        "the message survives the wire intact"
    );
    assert_eq!(outcome.message_id.as_deref(), Some(p.message_id.as_str()));
    assert_eq!(p.attributes["status"], ("String".into(), "FAILED".into()));
    assert_eq!(
        p.attributes["state_machine"],
        ("String".into(), "EnsembleTraining".into())
    );
    assert_eq!(
        p.attributes["execution"],
        ("String".into(), "nightly-2026-11-27".into())
    );
    assert!(p.message.contains("Started:       2026-11-27T06:00:00Z"));
    assert!(p.message.contains("Stopped:       2026-11-27T06:42:17Z"));
    assert!(p.message.contains("Duration:      42m 17s"));
    assert!(p.message.contains("retrying cannot help"));
    assert!(p.message.contains("The JSONPath '$.inference.outputs'"));
    assert!(p.message.contains("reuse_artifacts_from"));
    assert_eq!(sns.requests().len(), 1);
    assert_eq!(sns.requests()[0].action, "Publish");
}

#[tokio::test]
async fn fixture_eventbridge_timeout_is_published_once() {
    let (sns, config, client) = setup();
    let outcome = run(
        fixture("format-failure-eventbridge-timeout.json"),
        &config,
        &client,
    )
    .await;
    assert!(outcome.published);
    assert_eq!(outcome.status, "TIMED_OUT");
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.subject,
        "[ensemble-training] TIMED_OUT nightly-2026-11-27"
    );
    assert_eq!(
        outcome.reason,
        "The execution exceeded its execution timeout and was stopped"
    );
    let published = sns.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].message.contains("Duration:      8h 0m 0s"));
    assert!(published[0]
        .message
        .contains("ran longer than the state machine's TimeoutSeconds"));
    assert_eq!(published[0].attributes["status"].1, "TIMED_OUT");
}

#[tokio::test]
async fn eventbridge_aborted_says_who_to_ask_and_is_published_once() {
    let (sns, config, client) = setup();
    let event = eventbridge(json!({
        "executionArn": ARN, "name": "nightly-2026-11-27", "status": "ABORTED",
        "startDate": 1_795_759_200_000u64, "stopDate": 1_795_759_500_000u64,
        "error": null, "cause": null
    }));
    let outcome = run(event, &config, &client).await;
    assert!(outcome.published);
    assert_eq!(
        outcome.subject,
        "[ensemble-training] ABORTED nightly-2026-11-27"
    );
    let published = sns.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].message.contains("aborted"));
    assert!(published[0].message.contains("StopExecution"));
    assert!(published[0].message.contains("Cause: (none given)"));
}

#[tokio::test]
async fn eventbridge_failure_of_the_fail_state_is_skipped() {
    let (sns, config, client) = setup();
    let event = eventbridge(json!({
        "executionArn": ARN, "status": "FAILED",
        "error": "EnsembleTrainingFailed", "cause": "Train Sequence Model failed"
    }));
    let outcome = run(event, &config, &client).await;
    assert!(!outcome.published);
    assert!(outcome
        .skipped
        .as_deref()
        .is_some_and(|s| s.contains("EnsembleTrainingFailed")));
    assert!(sns.requests().is_empty(), "nothing sent to SNS");
    assert!(sns.published().is_empty());
}

#[tokio::test]
async fn eventbridge_non_failure_statuses_are_skipped() {
    let (sns, config, client) = setup();
    for status in ["SUCCEEDED", "RUNNING", "PENDING_REDRIVE"] {
        let event = eventbridge(json!({"executionArn": ARN, "status": status}));
        let outcome = run(event, &config, &client).await;
        assert!(!outcome.published, "{status}");
        assert!(outcome
            .skipped
            .as_deref()
            .is_some_and(|s| s.contains(status)));
    }
    assert!(sns.requests().is_empty());
}

#[tokio::test]
async fn eventbridge_skips_need_no_topic() {
    let sns = LocalSns::start().unwrap();
    let event = eventbridge(json!({"executionArn": ARN, "status": "SUCCEEDED"}));
    let outcome = run(event, &config(None), &sns.client()).await;
    assert!(outcome.skipped.is_some());
}

#[tokio::test]
async fn missing_topic_in_eventbridge_mode_is_a_configuration_error() {
    let sns = LocalSns::start().unwrap();
    sns.create_topic(TOPIC);
    let event = eventbridge(json!({"executionArn": ARN, "status": "FAILED",
        "error": "States.Runtime", "cause": "boom"}));
    let err = run_err(event, &config(None), &sns.client()).await;
    assert_eq!(err.kind, ErrorKind::ConfigurationError);
    assert!(err.message.contains("SNS_TOPIC_ARN"), "{}", err.message);
    assert!(sns.requests().is_empty());
    // The Catch path does not need it.
    let outcome = run(fixture("format-failure.json"), &config(None), &sns.client()).await;
    assert!(!outcome.published);
}

#[test]
fn malformed_configuration_is_a_configuration_error() {
    let vars: HashMap<String, String> =
        [("SNS_TOPIC_ARN".to_string(), "training-failures".to_string())].into();
    let err = Config::from_map(&vars).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigurationError);
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "ConfigurationError");
}

#[tokio::test]
async fn one_throttled_publish_is_retried_and_published_once() {
    let (sns, config, client) = setup();
    sns.fail_next(1, 400, "Throttling");
    let outcome = run(fixture("format-failure-eventbridge.json"), &config, &client).await;
    assert!(outcome.published);
    let statuses: Vec<u16> = sns.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![400, 200], "the SDK retried once");
    assert_eq!(sns.published().len(), 1);
}

#[tokio::test]
async fn persistent_sns_throttling_is_service_unavailable() {
    let (sns, config, _) = setup();
    sns.fail_next(10, 400, "Throttling");
    let client = client_with_attempts(&sns, 2);
    let err = run_err(fixture("format-failure-eventbridge.json"), &config, &client).await;
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
    assert!(err.message.contains("Throttling"), "{}", err.message);
    assert_eq!(sns.requests().len(), 2);
    assert!(sns.published().is_empty());
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "ServiceUnavailable");
}

#[tokio::test]
async fn sns_server_errors_are_service_unavailable() {
    let (sns, config, _) = setup();
    sns.fail_next(5, 500, "InternalError");
    let client = client_with_attempts(&sns, 1);
    let err = run_err(fixture("format-failure-eventbridge.json"), &config, &client).await;
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
}

#[tokio::test]
async fn sns_authorization_error_is_access_denied() {
    let (sns, config, client) = setup();
    sns.fail_next(1, 403, "AuthorizationError");
    let err = run_err(fixture("format-failure-eventbridge.json"), &config, &client).await;
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{}", err.message);
    assert!(err.message.contains("AuthorizationError"));
    assert_eq!(sns.requests().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn unknown_topic_is_aws_request_failed() {
    let sns = LocalSns::start().unwrap();
    let config = config(Some(&LocalSns::topic_arn("no-such-topic")));
    let err = run_err(
        fixture("format-failure-eventbridge.json"),
        &config,
        &sns.client(),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::AwsRequestFailed, "{}", err.message);
    assert!(err.message.contains("NotFound"), "{}", err.message);
}

#[tokio::test]
async fn a_multi_megabyte_cause_gives_a_bounded_message_sns_accepts() {
    let (sns, config, client) = setup();
    let huge = format!(
        "{{\"errorType\":\"AwsRequestFailed\",\"errorMessage\":\"{}\"}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let event = eventbridge(json!({"executionArn": ARN, "status": "FAILED",
        "error": "States.TaskFailed", "cause": huge}));
    let outcome = run(event, &config, &client).await;
    assert!(outcome.message.len() <= MESSAGE_MAX);
    assert!(outcome
        .message
        .contains("[... cause truncated: showing the first"));
    assert!(outcome.reason.len() <= 400);
    assert_eq!(sns.published().len(), 1);
    assert_eq!(sns.published()[0].message, outcome.message);
}

#[tokio::test]
async fn long_and_unicode_execution_names_give_subjects_sns_accepts() {
    let (sns, config, client) = setup();
    let names = [
        "x".repeat(80),
        "nächtlicher-Lauf-训练-🚀".to_string(),
        format!("{}-{}", "ü".repeat(40), "e".repeat(39)),
    ];
    for name in &names {
        let arn =
            format!("arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:{name}");
        let event = eventbridge(json!({"executionArn": arn, "name": name, "status": "TIMED_OUT"}));
        let outcome = run(event, &config, &client).await;
        assert_subject_ok(&outcome.subject);
        assert!(outcome
            .subject
            .starts_with("[ensemble-training] TIMED_OUT "));
        // The full name stays in the message, where UTF-8 is fine.
        assert!(outcome.message.contains(name.as_str()));
    }
    // The local SNS enforces the real subject rules, so acceptance means SNS would too.
    assert_eq!(sns.published().len(), names.len());
    let long = &sns.published()[0];
    assert_eq!(
        long.subject.as_deref().map(str::len),
        Some(SUBJECT_MAX.min(30 + 80))
    );

    let mut catch = fixture("format-failure.json");
    catch["execution"]["name"] = json!("x".repeat(80));
    let outcome = run(catch, &config, &client).await;
    assert_subject_ok(&outcome.subject);
    assert!(
        outcome.subject.ends_with("... at Train Sequence Model"),
        "{}",
        outcome.subject
    );
}

#[tokio::test]
async fn console_links_follow_the_partition() {
    let (_sns, config, client) = setup();
    for (arn, host) in [
        ("arn:aws-cn:states:cn-north-1:123456789012:execution:SM:n", "https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/"),
        ("arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:SM:n", "https://us-gov-west-1.console.amazonaws-us-gov.com/states/home?region=us-gov-west-1#/v2/executions/details/"),
        (ARN, "https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1#/v2/executions/details/"),
    ] {
        let event = json!({"Error": "States.TaskFailed", "Cause": "x", "state": "Train Text Model",
            "execution": {"arn": arn}});
        let outcome = run(event, &config, &client).await;
        assert!(outcome.message.contains(&format!("{host}{arn}")), "{arn}");
        assert_eq!(outcome.failed_state.as_deref(), Some("Train Text Model"));
    }
}

#[tokio::test]
async fn several_failed_states_report_the_first_and_mention_the_others() {
    let (_sns, config, client) = setup();
    let event = json!({
        "failure": {
            "TrainSequenceModel": {"Error": "States.TaskFailed", "Cause": "{\"errorType\":\"X\",\"errorMessage\":\"y\"}"},
            "BaseModelInference": {"Error": "States.Timeout", "Cause": ""}
        },
        "execution": {"arn": ARN}
    });
    let outcome = run(event, &config, &client).await;
    assert_eq!(
        outcome.failed_state.as_deref(),
        Some("Base Model Inference")
    );
    assert_eq!(outcome.error.as_deref(), Some("States.Timeout"));
    assert!(outcome
        .message
        .contains("- Train Sequence Model: States.TaskFailed: X: y"));
}

#[tokio::test]
async fn weird_causes_never_fail() {
    let (_sns, config, client) = setup();
    for cause in [
        "".to_string(),
        "   ".to_string(),
        "{not json".to_string(),
        "null".to_string(),
        "[]".to_string(),
        "\"\"".to_string(),
        "\u{0}\u{1}\u{1b}[31m\u{FFFD}\u{202E}txt.exe".repeat(1000),
        "Rate exceeded (Service: AmazonSageMaker; Status Code: 400; Error Code: ThrottlingException)".to_string(),
    ] {
        let event = json!({"failure": {"BaseModelTraining": {"Error": "States.TaskFailed", "Cause": cause}},
            "execution": {"arn": ARN}});
        let outcome = run(event, &config, &client).await;
        assert_subject_ok(&outcome.subject);
        assert!(outcome.message.len() <= MESSAGE_MAX);
        assert!(!outcome.reason.chars().any(char::is_control));
    }
}

#[tokio::test]
async fn bad_events_are_invalid_input_naming_the_field() {
    let (sns, config, client) = setup();
    let cases = [
        (json!("text"), "$: must be a JSON object, got a string"),
        (json!({"hello": 1}), "$: expected a `failure` object"),
        (
            json!({"failure": null, "execution": {"arn": ARN}}),
            "$.failure: is required",
        ),
        (
            json!({"failure": {"QualityGate": {"Error": 7}}, "execution": {"arn": ARN}}),
            "$.failure.QualityGate.Error: must be a string, got a number",
        ),
        (
            json!({"failure": {"QualityGate": {"Error": "E"}}, "execution": {"arn": "nightly-2026-11-27"}}),
            "$.execution.arn: must be a Step Functions execution ARN",
        ),
        (
            json!({"failure": {"QualityGate": {"Error": "E"}}, "execution": "nightly"}),
            "$.execution: must be a JSON object, got a string",
        ),
        (
            json!({"Error": "E", "Cause": 5, "execution": {"arn": ARN}}),
            "$.Cause: must be a string, got a number",
        ),
        (
            eventbridge(
                json!({"executionArn": "arn:aws:states:eu-central-1:123456789012:stateMachine:SM", "status": "FAILED"}),
            ),
            "$.detail.executionArn: must be a Step Functions execution ARN",
        ),
        (
            eventbridge(json!({"executionArn": ARN})),
            "$.detail.status: is required",
        ),
        (
            eventbridge(json!({"executionArn": ARN, "status": "FAILED", "stopDate": -1})),
            "$.detail.stopDate: must be epoch milliseconds",
        ),
        (
            json!({"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": []}),
            "$.detail: must be a JSON object, got an array",
        ),
    ];
    for (event, expected) in cases {
        let err = run_err(event, &config, &client).await;
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{expected}");
        assert!(
            err.message.starts_with(expected),
            "{} / {expected}",
            err.message
        );
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
    }
    assert!(sns.requests().is_empty());
}

#[tokio::test]
async fn local_sns_enforces_the_real_publish_rules() {
    let sns = LocalSns::start().unwrap();
    let topic = sns.create_topic(TOPIC);
    let client = client_with_attempts(&sns, 1);
    let publish = |subject: &str, message: &str| {
        client
            .publish()
            .topic_arn(&topic)
            .subject(subject)
            .message(message)
            .send()
    };
    use aws_sdk_sns::error::ProvideErrorMetadata;
    for bad_subject in [" leading space", "line\nbreak", "ümlaut", &"x".repeat(101)] {
        let err = publish(bad_subject, "m").await.unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameter"), "{bad_subject:?}");
    }
    let err = publish("ok", &"m".repeat(262_145)).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameter"));
    let err = publish("ok", "").await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameter"));
    let ok = publish("Fine subject!", "a message & <xml> ✓\r\n+%")
        .await
        .unwrap();
    let published = sns.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].message, "a message & <xml> ✓\r\n+%");
    assert_eq!(ok.message_id(), Some(published[0].message_id.as_str()));

    let created = client.create_topic().name("other").send().await.unwrap();
    assert_eq!(
        created.topic_arn(),
        Some(LocalSns::topic_arn("other").as_str())
    );
    let listed = client.list_topics().send().await.unwrap();
    assert_eq!(listed.topics().len(), 2);
}

/// The state machine's ResultSelector reads `$.Payload.failed_state` and
/// `$.Payload.error`: a missing key would be States.Runtime, so unknown values are null.
#[tokio::test]
async fn result_keys_read_by_the_state_machine_are_always_present() {
    let (_sns, config, client) = setup();
    let event = json!({"Error": "States.TaskFailed", "execution": {"arn": ARN}});
    let outcome = run(event, &config, &client).await;
    let json = serde_json::to_value(&outcome).unwrap();
    for key in [
        "Subject",
        "Message",
        "failed_state",
        "error",
        "reason",
        "published",
    ] {
        assert!(json.get(key).is_some(), "{key} missing");
    }
    assert!(json["failed_state"].is_null());
    assert_eq!(json["error"], "States.TaskFailed");
    assert_eq!(
        json["Subject"],
        "[ensemble-training] FAILED nightly-2026-11-27"
    );

    let timeout = run(
        fixture("format-failure-eventbridge-timeout.json"),
        &config,
        &client,
    )
    .await;
    let json = serde_json::to_value(&timeout).unwrap();
    assert!(json.get("error").is_some_and(Value::is_null));
    assert!(json["message_id"].is_string());
}
