//! The interpreter end to end on small definitions, with a scripted task runner:
//! each case's expectation comes from the Step Functions docs (cited per test).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sfn_local::asl::AslError;
use sfn_local::definition::StateMachine;
use sfn_local::engine::{
    error_matches, retry_delay, BoxFuture, Clock, Engine, ExecutionSpec, Outcome, Status,
    TaskRequest, TaskRunner,
};

/// Resources of the form `test:<behaviour>`:
/// - `test:echo` returns its parameters;
/// - `test:fail:<Error>` fails with that error;
/// - `test:flaky:<n>:<Error>` fails with Error on its first n calls (per state), then echoes;
/// - `test:sleep:<ms>` sleeps, then echoes;
/// - `test:context` returns the context object it was given.
#[derive(Default)]
struct Script {
    calls: Mutex<HashMap<String, u64>>,
    requests: Mutex<Vec<TaskRequest>>,
}

impl TaskRunner for Script {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request.clone());
            let count = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(request.state_name.clone()).or_default();
                *n += 1;
                *n
            };
            let parts: Vec<&str> = request.resource.split(':').collect();
            match parts.as_slice() {
                ["test", "echo"] => Ok(request.parameters),
                ["test", "context"] => Ok(request.context),
                ["test", "fail", error] => Err(AslError::new(*error, "it failed")),
                ["test", "flaky", n, error] => {
                    if count <= n.parse::<u64>().unwrap() {
                        Err(AslError::new(*error, format!("attempt {count}")))
                    } else {
                        Ok(json!({"attempt": count, "retry_count": request.retry_count}))
                    }
                }
                ["test", "sleep", ms] => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                    Ok(request.parameters)
                }
                _ => Err(AslError::new("UnknownResource", request.resource.clone())),
            }
        })
    }
}

fn spec(input: Value) -> ExecutionSpec {
    ExecutionSpec {
        name: "exec-1".into(),
        state_machine_name: "machine".into(),
        input,
        region: "us-east-1".into(),
        account: "123456789012".into(),
        role_arn: "arn:aws:iam::123456789012:role/local".into(),
    }
}

async fn execute_with(definition: Value, input: Value, script: Arc<Script>, scale: f64) -> Outcome {
    let machine = StateMachine::parse(&definition).unwrap_or_else(|p| panic!("{p:#?}"));
    let engine = Engine {
        runner: script,
        clock: Clock { scale },
        observer: None,
    };
    engine.execute(&machine, &spec(input)).await
}

async fn execute(definition: Value, input: Value) -> Outcome {
    execute_with(definition, input, Arc::new(Script::default()), 0.0).await
}

fn output(outcome: &Outcome) -> Value {
    match &outcome.status {
        Status::Succeeded { output } => output.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure(outcome: &Outcome) -> (String, String) {
    match &outcome.status {
        Status::Failed { error, cause } => (error.clone(), cause.clone()),
        other => panic!("expected failure, got {other:?}"),
    }
}

fn types(outcome: &Outcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pass_states_chain_and_count_transitions() {
    let outcome = execute(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)"}, "End": true}
        }}),
        json!({"n": 41}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"sum": 42}));
    assert_eq!(outcome.transitions, 2);
    assert_eq!(
        types(&outcome),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    // Ids from 1, each event pointing back at an earlier one.
    for (i, event) in outcome.history.iter().enumerate() {
        assert_eq!(event["id"], json!(i + 1));
        assert!(event["previousEventId"].as_u64().unwrap() <= i as u64);
    }
}

/// docs: input-output-inputpath-params, the InputPath / Parameters / ResultSelector /
/// ResultPath / OutputPath pipeline in that order.
#[tokio::test]
async fn the_input_output_pipeline_runs_in_the_documented_order() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:echo",
            "InputPath": "$.payload",
            "Parameters": {"value.$": "$.v", "name.$": "$$.Execution.Name", "fixed": [1, {"k.$": "$.v"}]},
            "ResultSelector": {"got.$": "$.value", "nested.$": "$.fixed[1].k"},
            "ResultPath": "$.result.inner",
            "OutputPath": "$.result",
            "End": true
        }}}),
        json!({"payload": {"v": "x"}, "other": 1}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"inner": {"got": "x", "nested": "x"}})
    );
}

#[tokio::test]
async fn result_path_null_keeps_the_input_and_input_path_null_gives_an_empty_object() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:echo", "InputPath": null, "ResultPath": null, "Next": "U"},
            "U": {"Type": "Task", "Resource": "test:echo", "InputPath": null, "ResultPath": "$.seen", "End": true}
        }}),
        json!({"keep": true}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"keep": true, "seen": {}}));
}

#[tokio::test]
async fn choice_takes_the_first_matching_rule_then_default() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"And": [{"Variable": "$.n", "IsPresent": true}, {"Variable": "$.n", "NumericLessThan": 0}], "Next": "Negative"}
        ], "Default": "Other"},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Negative": {"Type": "Pass", "Result": "negative", "End": true},
        "Other": {"Type": "Pass", "Result": "other", "End": true}
    }});
    for (n, want) in [
        (json!(11), "big"),
        (json!(-1), "negative"),
        (json!(5), "other"),
        (json!("11"), "other"),
    ] {
        let outcome = execute(definition.clone(), json!({"n": n})).await;
        assert_eq!(output(&outcome), json!(want), "n = {n}");
    }
}

/// docs: state-choice, "If no Choices match and no Default is given, the execution
/// fails with States.NoChoiceMatched."
#[tokio::test]
async fn no_matching_choice_without_default_fails_with_no_choice_matched() {
    let outcome = execute(
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "D"}]},
            "D": {"Type": "Succeed"}
        }}),
        json!({"n": 2}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.NoChoiceMatched");
    assert_eq!(types(&outcome).last().unwrap(), "ExecutionFailed");
}

/// A missing Choice variable is States.Runtime, which no Catch sees.
#[tokio::test]
async fn a_missing_choice_variable_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.missing", "BooleanEquals": true, "Next": "D"}], "Default": "D"},
            "D": {"Type": "Succeed"}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.Runtime");
}

/// docs: concepts-error-handling, retry behaviour: MaxAttempts retries after the
/// first attempt; $$.State.RetryCount counts them.
#[tokio::test]
async fn retry_until_success_counts_retries_and_transitions() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:flaky:2:Boom",
            "Parameters": {"retry.$": "$$.State.RetryCount"},
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}],
            "End": true
        }}}),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"attempt": 3, "retry_count": 2}));
    // One entry plus two retries.
    assert_eq!(outcome.transitions, 3);
    let failed = types(&outcome)
        .iter()
        .filter(|t| *t == "TaskFailed")
        .count();
    assert_eq!(failed, 2);
}

#[tokio::test]
async fn max_attempts_zero_never_retries_and_the_first_matching_retrier_decides() {
    let script = Arc::new(Script::default());
    let outcome = execute_with(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:flaky:1:Boom",
            "Retry": [
                {"ErrorEquals": ["Boom"], "MaxAttempts": 0},
                {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
            ],
            "End": true
        }}}),
        json!({}),
        Arc::clone(&script),
        0.0,
    )
    .await;
    assert_eq!(failure(&outcome).0, "Boom");
    assert_eq!(script.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn catch_routes_the_error_object_to_its_result_path() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:fail:Custom.Error",
                  "Catch": [
                      {"ErrorEquals": ["Other"], "Next": "Wrong"},
                      {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Handled"}
                  ],
                  "End": true},
            "Wrong": {"Type": "Fail", "Error": "Wrong"},
            "Handled": {"Type": "Pass", "End": true}
        }}),
        json!({"keep": 1}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"keep": 1, "error": {"Error": "Custom.Error", "Cause": "it failed"}})
    );
}

/// docs: concepts-error-handling: States.ALL matches every error but
/// States.Runtime and States.DataLimitExceeded; TaskFailed all but States.Timeout.
#[test]
fn error_names_match_as_documented() {
    let all = vec!["States.ALL".to_string()];
    let task_failed = vec!["States.TaskFailed".to_string()];
    assert!(error_matches(&all, "Anything"));
    assert!(error_matches(&all, "States.Timeout"));
    assert!(!error_matches(&all, "States.Runtime"));
    assert!(!error_matches(&all, "States.DataLimitExceeded"));
    assert!(error_matches(&task_failed, "Lambda.ServiceException"));
    assert!(error_matches(&task_failed, "States.TaskFailed"));
    assert!(!error_matches(&task_failed, "States.Timeout"));
    assert!(error_matches(
        &["States.Timeout".to_string()],
        "States.Timeout"
    ));
}

#[test]
fn retry_delays_grow_by_the_backoff_rate_up_to_max_delay() {
    let machine = StateMachine::parse(&json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "test:echo", "End": true,
        "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 3, "BackoffRate": 2.0, "MaxDelaySeconds": 10, "MaxAttempts": 5}]
    }}}))
    .unwrap();
    let retrier = match &machine.states["T"].kind {
        sfn_local::definition::Kind::Task(task) => task.retry[0].clone(),
        _ => unreachable!(),
    };
    let delays: Vec<u64> = (0..4).map(|n| retry_delay(&retrier, n).as_secs()).collect();
    assert_eq!(delays, [3, 6, 10, 10]);
}

#[tokio::test]
async fn a_runtime_error_is_not_caught_by_states_all() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:echo", "OutputPath": "$.missing",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Succeed"}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.Runtime");
}

#[tokio::test]
async fn a_task_over_its_timeout_fails_with_states_timeout() {
    let outcome = execute_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:sleep:2000", "TimeoutSeconds": 1,
                  "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}], "End": true},
            "TimedOut": {"Type": "Pass", "Result": "timed out", "End": true}
        }}),
        json!({}),
        Arc::new(Script::default()),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!("timed out"));
    assert!(types(&outcome).contains(&"TaskTimedOut".to_string()));
}

#[tokio::test]
async fn an_output_over_256_kib_is_data_limit_exceeded() {
    let big = "x".repeat(262_144);
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Result": big, "Next": "Q"},
            "Q": {"Type": "Succeed"}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.DataLimitExceeded");
}

#[tokio::test]
async fn fail_state_error_and_cause_from_paths() {
    let outcome = execute(
        json!({"StartAt": "F", "States": {
            "F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('because {}', $.why)"}
        }}),
        json!({"e": "Mine", "why": "reasons"}),
    )
    .await;
    // docs: state-fail: ErrorPath and CausePath take a path or an intrinsic function.
    assert_eq!(
        failure(&outcome),
        ("Mine".to_string(), "because reasons".to_string())
    );
}

#[tokio::test]
async fn parallel_runs_branches_concurrently_and_returns_their_outputs_in_order() {
    let started = std::time::Instant::now();
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "test:sleep:300", "Parameters": {"b": 1}, "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "test:sleep:300", "Parameters": {"b": 2}, "End": true}}}
            ],
            "ResultPath": "$.branches",
            "End": true
        }}}),
        json!({"in": true}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"in": true, "branches": [{"b": 1}, {"b": 2}]})
    );
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    let t = types(&outcome);
    for ty in [
        "ParallelStateEntered",
        "ParallelStateStarted",
        "ParallelStateSucceeded",
        "ParallelStateExited",
    ] {
        assert!(t.contains(&ty.to_string()), "{ty} missing: {t:?}");
    }
}

/// docs: state-parallel: a failing branch fails the state; its Catch sees the
/// branch's error.
#[tokio::test]
async fn a_failing_branch_fails_the_parallel_state_and_is_caught() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel",
                  "Branches": [
                      {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "test:sleep:5000", "End": true}}},
                      {"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "BranchBroke", "Cause": "b"}}}
                  ],
                  "Catch": [{"ErrorEquals": ["BranchBroke"], "ResultPath": "$.failure", "Next": "Caught"}],
                  "End": true},
            "Caught": {"Type": "Pass", "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"failure": {"Error": "BranchBroke", "Cause": "b"}})
    );
}

/// docs: state-map-inline: ItemsPath, ItemSelector with $$.Map.Item.*, results in
/// item order, MaxConcurrency.
#[tokio::test]
async fn map_iterates_with_item_selector_and_context() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value", "shared.$": "$.shared"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double", "States": {
                "Double": {"Type": "Pass", "Parameters": {"i.$": "$.index", "v.$": "States.MathAdd($.value, $.value)", "s.$": "$.shared"}, "End": true}
            }},
            "ResultPath": "$.out",
            "End": true
        }}}),
        json!({"items": [1, 2, 3], "shared": "z"}),
    )
    .await;
    assert_eq!(
        output(&outcome)["out"],
        json!([{"i": 0, "v": 2, "s": "z"}, {"i": 1, "v": 4, "s": "z"}, {"i": 2, "v": 6, "s": "z"}])
    );
    let iterations = types(&outcome)
        .iter()
        .filter(|t| *t == "MapIterationStarted")
        .count();
    assert_eq!(iterations, 3);
}

#[tokio::test]
async fn map_over_a_non_array_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true
        }}}),
        json!({"items": {"not": "an array"}}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.Runtime");
}

#[tokio::test]
async fn the_context_object_has_execution_state_and_state_machine() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "test:context", "End": true}}}),
        json!({"x": 1}),
    )
    .await;
    let context = output(&outcome);
    assert_eq!(context["Execution"]["Name"], "exec-1");
    assert_eq!(
        context["Execution"]["Id"],
        "arn:aws:states:us-east-1:123456789012:execution:machine:exec-1"
    );
    assert_eq!(context["Execution"]["Input"], json!({"x": 1}));
    assert_eq!(context["StateMachine"]["Name"], "machine");
    assert_eq!(context["State"]["Name"], "T");
    assert_eq!(context["State"]["RetryCount"], 0);
    assert!(context["State"]["EnteredTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

#[tokio::test]
async fn wait_seconds_path_honours_the_time_scale() {
    let started = std::time::Instant::now();
    let outcome = execute_with(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        json!({"s": 20}),
        Arc::new(Script::default()),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!({"s": 20}));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(190) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn definitions_are_checked_with_every_problem_located() {
    let problems = StateMachine::parse(&json!({"StartAt": "Missing", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere", "Bogus": 1},
        "B": {"Type": "Task", "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"], "BackoffRate": 0.5}]},
        "C": {"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "End": true}
    }}))
    .unwrap_err();
    let text = problems.join("\n");
    for expected in [
        "/StartAt: \"Missing\" is not a state of this scope",
        "/States/A: field \"Bogus\" is not supported in a Pass state",
        "/States/B/Resource: required",
        "/States/B/Retry/1/BackoffRate: must be a number of at least 1.0",
        "/States/B/Retry/0: States.ALL must be in the last retrier",
        "/States/C: exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn unreachable_states_and_bad_targets_are_reported() {
    let problems = StateMachine::parse(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Ghost"},
        "Island": {"Type": "Succeed"}
    }}))
    .unwrap_err();
    let text = problems.join("\n");
    assert!(
        text.contains("/States/A/Next: \"Ghost\" is not a state of this scope"),
        "{text}"
    );
    assert!(
        text.contains("/States/Island: not reachable from StartAt"),
        "{text}"
    );
}

#[test]
fn the_project_state_machine_is_a_valid_definition() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/ensemble-training.asl.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    StateMachine::from_json(&text).unwrap_or_else(|p| panic!("{p:#?}"));
}

/// docs: concepts-error-handling: "MaxDelaySeconds caps the interval"; FULL jitter
/// draws each delay in [0, computed delay].
#[tokio::test]
async fn max_delay_seconds_caps_jittered_retry_intervals() {
    let started = std::time::Instant::now();
    let outcome = execute_with(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:flaky:3:Boom",
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 10, "MaxAttempts": 3,
                       "BackoffRate": 10.0, "MaxDelaySeconds": 20, "JitterStrategy": "FULL"}],
            "End": true
        }}}),
        json!({}),
        Arc::new(Script::default()),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome)["attempt"], 4);
    // Without jitter: 10 + 20 + 20 = 50 s nominal, 0.5 s scaled; with it, less.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// docs: state-map: MaxConcurrency bounds the iterations running at once.
#[tokio::test]
async fn map_max_concurrency_bounds_the_iterations_in_flight() {
    let started = std::time::Instant::now();
    let outcome = execute(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "MaxConcurrency": 2,
            "ItemProcessor": {"StartAt": "S", "States": {
                "S": {"Type": "Task", "Resource": "test:sleep:200", "End": true}
            }},
            "End": true
        }}}),
        json!([1, 2, 3, 4]),
    )
    .await;
    assert_eq!(output(&outcome), json!([1, 2, 3, 4]));
    // Two waves of 200 ms, not one.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
}

/// docs: input-output-resultpath: a ResultPath into fields that do not exist yet
/// creates them.
#[tokio::test]
async fn result_path_creates_nested_fields() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Result": "r", "ResultPath": "$.a.b.c", "End": true
        }}}),
        json!({"x": 1}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"x": 1, "a": {"b": {"c": "r"}}}));
}

/// A ResultPath through a field that is not an object cannot be applied.
#[tokio::test]
async fn result_path_through_a_scalar_is_a_result_path_match_failure() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Result": "r", "ResultPath": "$.a.b", "End": true
        }}}),
        json!({"a": 5}),
    )
    .await;
    assert_eq!(failure(&outcome).0, "States.ResultPathMatchFailure");
}

/// docs: input-output-outputpath: OutputPath null gives {}.
#[tokio::test]
async fn output_path_null_gives_an_empty_object() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": null, "End": true}}}),
        json!({"x": 1}),
    )
    .await;
    assert_eq!(output(&outcome), json!({}));
}

/// Catchers are tried in order; the first match wins.
#[tokio::test]
async fn catchers_are_tried_in_order() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:fail:Specific", "Catch": [
                {"ErrorEquals": ["Specific"], "Next": "First"},
                {"ErrorEquals": ["States.ALL"], "Next": "Second"}
            ], "End": true},
            "First": {"Type": "Pass", "Result": "first", "End": true},
            "Second": {"Type": "Pass", "Result": "second", "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!("first"));
}

/// A Catch's error output replaces the input when its ResultPath is absent.
#[tokio::test]
async fn a_catch_without_result_path_passes_the_error_object_alone() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:fail:E", "Catch": [
                {"ErrorEquals": ["States.ALL"], "Next": "H"}
            ], "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"dropped": true}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"Error": "E", "Cause": "it failed"})
    );
}

/// A retried task is scheduled again each time, with a TaskFailed before each retry.
#[tokio::test]
async fn the_history_shows_each_attempt() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:flaky:1:Boom",
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}], "End": true
        }}}),
        json!({}),
    )
    .await;
    assert_eq!(
        types(&outcome),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = outcome
        .history
        .iter()
        .find(|e| e["type"] == "TaskScheduled")
        .unwrap();
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["resource"],
        "test:flaky:1:Boom"
    );
    let failed = outcome
        .history
        .iter()
        .find(|e| e["type"] == "TaskFailed")
        .unwrap();
    assert_eq!(failed["taskFailedEventDetails"]["error"], "Boom");
}

/// The execution's TimeoutSeconds ends it with States.Timeout, TIMED_OUT.
#[tokio::test]
async fn an_execution_over_its_timeout_times_out() {
    let outcome = execute_with(
        json!({"TimeoutSeconds": 1, "StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 100, "End": true}
        }}),
        json!({}),
        Arc::new(Script::default()),
        0.01,
    )
    .await;
    match &outcome.status {
        Status::TimedOut { error, .. } => assert_eq!(error, "States.Timeout"),
        other => panic!("{other:?}"),
    }
    assert_eq!(types(&outcome).last().unwrap(), "ExecutionTimedOut");
}

/// Parameters and ItemSelector read the context object with `$$`.
#[tokio::test]
async fn parameters_read_the_context_object() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
            "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name",
            "id.$": "States.Format('{}/{}', $$.Execution.Name, $.n)"
        }, "End": true}}}),
        json!({"n": 7}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"state": "P", "machine": "machine", "id": "exec-1/7"})
    );
}

/// A Map state's failing iteration fails the state; the error reaches its Catch.
#[tokio::test]
async fn a_failing_map_iteration_fails_the_map_and_is_caught() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemsPath": "$.items",
                  "ItemProcessor": {"StartAt": "C", "States": {
                      "C": {"Type": "Choice", "Choices": [
                          {"Variable": "$", "NumericEquals": 2, "Next": "Bad"}
                      ], "Default": "Ok"},
                      "Bad": {"Type": "Fail", "Error": "ItemTwo"},
                      "Ok": {"Type": "Succeed"}
                  }},
                  "Catch": [{"ErrorEquals": ["ItemTwo"], "ResultPath": "$.error", "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "OutputPath": "$.error.Error", "End": true}
        }}),
        json!({"items": [1, 2, 3]}),
    )
    .await;
    assert_eq!(output(&outcome), json!("ItemTwo"));
}

/// A Catch whose ResultPath cannot be applied (the state's input is an array)
/// fails the execution with States.ResultPathMatchFailure.
#[tokio::test]
async fn a_catch_result_path_on_an_array_input_is_a_result_path_match_failure() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map",
                  "ItemProcessor": {"StartAt": "C", "States": {
                      "C": {"Type": "Choice", "Choices": [
                          {"Variable": "$", "NumericEquals": 2, "Next": "Bad"}
                      ], "Default": "Ok"},
                      "Bad": {"Type": "Fail", "Error": "ItemTwo"},
                      "Ok": {"Type": "Succeed"}
                  }},
                  "Catch": [{"ErrorEquals": ["ItemTwo"], "ResultPath": "$.error", "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "OutputPath": "$.error.Error", "End": true}
        }}),
        json!([1, 2, 3]),
    )
    .await;
    // ResultPath on a non-object input cannot be applied...
    let status = &outcome.status;
    assert!(
        matches!(status, Status::Failed { error, .. } if error == "States.ResultPathMatchFailure"),
        "{status:?}"
    );
}
