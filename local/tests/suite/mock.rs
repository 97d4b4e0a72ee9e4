//! Mocked responses through the interpreter: the docs' LambdaSQSIntegration state
//! machine and MockConfigFile (docs: sfn-local-test-sm-exec, sfn-local-mock-cfg-file),
//! run with each of their test cases.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sfn_local::asl::AslError;
use sfn_local::definition::StateMachine;
use sfn_local::engine::{
    BoxFuture, Clock, Engine, ExecutionSpec, Outcome, Status, TaskRequest, TaskRunner,
};
use sfn_local::integrations::mock::{MockConfig, MockRunner};

/// The docs' example MockConfigFile (sfn-local-mock-cfg-file), verbatim.
fn mock_config_file() -> Value {
    serde_json::from_str(include_str!("../fixtures/mock-config-docs-example.json")).unwrap()
}

/// The docs' LambdaSQSIntegration definition, with `MaxAttempts` as given.
fn definition(max_attempts: u64) -> Value {
    json!({
      "Comment":"This state machine is called: LambdaSQSIntegration",
      "StartAt":"LambdaState",
      "States":{
        "LambdaState":{
          "Type":"Task",
          "Resource":"arn:aws:states:::lambda:invoke",
          "Parameters":{
            "Payload.$":"$",
            "FunctionName":"HelloWorldFunction"
          },
          "Retry":[
            {
              "ErrorEquals":[
                "States.ALL"
              ],
              "IntervalSeconds":2,
              "MaxAttempts":max_attempts,
              "BackoffRate":2
            }
          ],
          "Next":"SQSState"
        },
        "SQSState":{
          "Type":"Task",
          "Resource":"arn:aws:states:::sqs:sendMessage",
          "Parameters":{
            "QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/myQueue",
            "MessageBody.$":"$"
          },
          "End": true
        }
      }
    })
}

/// The "real" integrations of the test: records what reaches it, echoes parameters.
#[derive(Default)]
struct Real {
    calls: Mutex<Vec<TaskRequest>>,
}

impl TaskRunner for Real {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(request.clone());
            Ok(json!({"real": request.state_name, "parameters": request.parameters}))
        })
    }
}

async fn run(definition: Value, test_case: &str, real: Arc<Real>) -> (Outcome, Arc<MockRunner>) {
    let config = MockConfig::from_json(&mock_config_file()).unwrap();
    let runner =
        Arc::new(MockRunner::new(config, "LambdaSQSIntegration", test_case, real).unwrap());
    let machine = StateMachine::parse(&definition).unwrap();
    let engine = Engine {
        runner: runner.clone(),
        clock: Clock { scale: 0.0 },
        observer: None,
    };
    let spec = ExecutionSpec {
        name: format!("test-{test_case}"),
        state_machine_name: "LambdaSQSIntegration".into(),
        input: json!({"hello": "world"}),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        role_arn: "arn:aws:iam::123456789012:role/service-role/LambdaSQSIntegration".into(),
    };
    (engine.execute(&machine, &spec).await, runner)
}

fn event_types(outcome: &Outcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn happy_path_returns_both_mocked_responses() {
    let real = Arc::new(Real::default());
    let (outcome, runner) = run(definition(3), "HappyPath", real.clone()).await;
    match &outcome.status {
        Status::Succeeded { output } => assert_eq!(
            output,
            &json!({"MD5OfMessageBody": "3bcb6e8e-7h85-4375-b0bc-1a59812c6e51", "MessageId": "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51"})
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        real.calls.lock().unwrap().is_empty(),
        "nothing reached the real integrations"
    );
    assert_eq!(runner.invocations().get("LambdaState"), Some(&1));
    // The SQS state got the mocked Lambda result as its input.
    let sqs_scheduled = outcome
        .history
        .iter()
        .filter(|e| e["type"] == "TaskScheduled")
        .nth(1)
        .unwrap();
    let parameters: Value = serde_json::from_str(
        sqs_scheduled["taskScheduledEventDetails"]["parameters"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        parameters["MessageBody"]["Payload"]["body"],
        json!("Hello from Lambda!")
    );
}

#[tokio::test]
async fn retry_path_fails_three_times_then_succeeds() {
    // Docs: the initial attempt throws ResourceNotReady, the first and second retries
    // throw Timeout, the third retry returns.
    let (outcome, runner) = run(definition(3), "RetryPath", Arc::new(Real::default())).await;
    assert!(
        matches!(outcome.status, Status::Succeeded { .. }),
        "{:?}",
        outcome.status
    );
    assert_eq!(runner.invocations().get("LambdaState"), Some(&4));
    let failures: Vec<String> = outcome
        .history
        .iter()
        .filter(|e| e["type"] == "TaskFailed")
        .map(|e| {
            e["taskFailedEventDetails"]["error"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        failures,
        [
            "Lambda.ResourceNotReadyException",
            "Lambda.TimeoutException",
            "Lambda.TimeoutException"
        ]
    );
    let causes: Vec<&str> = outcome
        .history
        .iter()
        .filter(|e| e["type"] == "TaskFailed")
        .map(|e| e["taskFailedEventDetails"]["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes[0], "Lambda resource is not ready.");
    assert_eq!(
        event_types(&outcome).last().map(String::as_str),
        Some("ExecutionSucceeded")
    );
}

#[tokio::test]
async fn fewer_retries_than_mocked_errors_fail_with_the_last_mocked_error() {
    // MaxAttempts 2: the fourth invocation (the mocked success) never comes, and the
    // execution fails with the last mocked error.
    let (outcome, runner) = run(definition(2), "RetryPath", Arc::new(Real::default())).await;
    match &outcome.status {
        Status::Failed { error, cause } => {
            assert_eq!(error, "Lambda.TimeoutException");
            assert_eq!(cause, "Lambda timed out.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runner.invocations().get("LambdaState"), Some(&3));
}

#[tokio::test]
async fn an_invocation_without_a_mocked_response_is_a_runtime_failure() {
    // HappyPath mocks one LambdaState invocation; a Map calling it twice needs two.
    let machine = json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map", "MaxConcurrency": 1, "ItemsPath": "$.items",
            "Iterator": {"StartAt": "LambdaState", "States": {"LambdaState": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "HelloWorldFunction", "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                "End": true
            }}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": true
        }, "Caught": {"Type": "Pass", "End": true}}
    });
    let config = MockConfig::from_json(&mock_config_file()).unwrap();
    let runner = Arc::new(
        MockRunner::new(
            config,
            "LambdaSQSIntegration",
            "HappyPath",
            Arc::new(Real::default()),
        )
        .unwrap(),
    );
    let engine = Engine {
        runner: runner.clone(),
        clock: Clock { scale: 0.0 },
        observer: None,
    };
    let spec = ExecutionSpec {
        name: "map".into(),
        state_machine_name: "LambdaSQSIntegration".into(),
        input: json!({"items": [1, 2]}),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
    };
    let outcome = engine
        .execute(&StateMachine::parse(&machine).unwrap(), &spec)
        .await;
    match &outcome.status {
        // States.Runtime: no Retry, no Catch (States.ALL does not match it).
        Status::Failed { error, cause } => {
            assert_eq!(error, "States.Runtime");
            assert!(
                cause.contains("\"LambdaState\"") && cause.contains("invocation 1"),
                "{cause}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        runner.invocations().get("LambdaState"),
        Some(&2),
        "counted across Map iterations"
    );
}

#[tokio::test]
async fn hybrid_path_calls_the_real_integration_for_unmocked_states() {
    let real = Arc::new(Real::default());
    let (outcome, runner) = run(definition(3), "HybridPath", real.clone()).await;
    match &outcome.status {
        Status::Succeeded { output } => {
            assert_eq!(output["real"], json!("SQSState"));
            assert_eq!(
                output["parameters"]["MessageBody"]["Payload"]["body"],
                json!("Hello from Lambda!")
            );
        }
        other => panic!("{other:?}"),
    }
    let calls = real.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].resource, "arn:aws:states:::sqs:sendMessage");
    assert_eq!(runner.invocations().get("SQSState"), None);
}

#[tokio::test]
async fn a_mocked_throw_is_caught_like_a_real_error() {
    let machine = json!({
        "StartAt": "LambdaState",
        "States": {
            "LambdaState": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "HelloWorldFunction"},
                "Catch": [{"ErrorEquals": ["Lambda.ResourceNotReadyException"], "ResultPath": "$.error", "Next": "Handled"}],
                "End": true
            },
            "Handled": {"Type": "Pass", "End": true}
        }
    });
    let (outcome, _) = run(machine, "RetryPath", Arc::new(Real::default())).await;
    match &outcome.status {
        Status::Succeeded { output } => assert_eq!(
            output["error"],
            json!({"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."})
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_config_file_errors_name_their_place() {
    let mut config = mock_config_file();
    config["MockedResponses"]["MockedLambdaRetry"]["5-6"] = json!({"Return": {}});
    let e = MockConfig::from_json(&config).unwrap_err();
    assert!(
        e.contains("\"MockedLambdaRetry\"") && e.contains("\"5-6\"") && e.contains("gap"),
        "{e}"
    );

    let mut config = mock_config_file();
    config["StateMachines"]["LambdaSQSIntegration"]["TestCases"]["Broken"] =
        json!({"LambdaState": "Nope"});
    let config = MockConfig::from_json(&config).unwrap();
    let e = MockRunner::new(
        config,
        "LambdaSQSIntegration",
        "Broken",
        Arc::new(Real::default()),
    )
    .err()
    .unwrap();
    assert!(
        e.contains("\"Broken\"") && e.contains("\"LambdaState\"") && e.contains("\"Nope\""),
        "{e}"
    );
}
