//! The interpreter end to end on small definitions, with a scripted task runner:
//! each case's expectation comes from the Step Functions docs (cited per test). The
//! general cases live here; Parallel, Map, Retry/Catch and error names have their own
//! files (engine_parallel.rs, engine_map.rs, engine_retry_catch.rs, engine_errors.rs).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sfn_local::definition::StateMachine;
use support::engine::{execute, execute_with, output, types, Script};

/// docs: state-pass, and the history as GetExecutionHistory returns it: ids from 1,
/// each event pointing back at an earlier one; every state entered is a transition.
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

/// docs: input-output-resultpath (ResultPath null discards the result) and
/// input-output-inputpath-params (InputPath null gives {}).
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

/// docs: state-choice: the first matching rule wins, then Default; a comparison with
/// a value of another type does not match.
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

/// docs: input-output-contextobject: Execution, State and StateMachine fields.
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

/// docs: state-wait: SecondsPath reads the wait from the input.
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

/// docs: statemachine-structure and the state pages: every problem of a definition,
/// each at its JSON pointer.
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

/// docs: statemachine-structure: transitions stay within their scope.
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

/// docs: statemachine-structure: the project's own definition passes the checks.
#[test]
fn the_project_state_machine_is_a_valid_definition() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/ensemble-training.asl.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    StateMachine::from_json(&text).unwrap_or_else(|p| panic!("{p:#?}"));
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

/// docs: input-output-contextobject: Parameters read the context object with `$$`,
/// intrinsic arguments included.
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
