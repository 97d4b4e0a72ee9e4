//! The errors Step Functions itself raises, end to end: every `States.*` rule of the
//! docs' error-name list that applies to a JSONPath, inline-Map runner (States.ALL,
//! States.DataLimitExceeded, States.IntrinsicFailure, States.NoChoiceMatched,
//! States.ParameterPathFailure, States.Permissions, States.ResultPathMatchFailure,
//! States.Runtime, States.TaskFailed, States.Timeout, States.BranchFailed in
//! engine_parallel.rs, States.ExceedToleratedFailureThreshold in engine_map.rs), the
//! Fail state, task and execution timeouts, and the 25,000-event history quota. Each
//! case cites the docs page it checks (concepts-error-handling unless said
//! otherwise).

use crate::support;

use std::sync::Arc;

use serde_json::{json, Value};
use sfn_local::definition::StateMachine;
use sfn_local::engine::{error_matches, Status};
use sfn_local::history::{HISTORY_QUOTA_CAUSE, MAX_HISTORY_EVENTS};
use support::engine::{
    assert_rejected, count, entered, error_of, events, execute, execute_with,
    execution_failed_details, failure, output, task, timed_out, types, Script,
};

/// `T` as in [`task`], with the states its catchers name: `H` passes its input
/// on, any other (`Wrong`) gives "wrong".
fn caught_task(resource: &str, extra: Value) -> Value {
    let mut definition = task(resource, extra);
    let targets: Vec<String> = definition["States"]["T"]["Catch"]
        .as_array()
        .map(|catchers| {
            catchers
                .iter()
                .filter_map(|c| c["Next"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let states = definition["States"].as_object_mut().unwrap();
    for name in targets {
        let state = if name == "H" {
            json!({"Type": "Pass", "End": true})
        } else {
            json!({"Type": "Pass", "Result": "wrong", "End": true})
        };
        states.insert(name, state);
    }
    definition
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// docs: concepts-error-handling: States.ALL matches every error but the terminal
/// States.DataLimitExceeded and States.Runtime; States.TaskFailed matches task
/// errors but not States.Timeout; States.Runtime is matched by nothing, not even
/// its own name ("A States.Runtime error is not retriable, and will always cause
/// the execution to fail").
#[test]
fn error_names_match_as_documented() {
    let all = names(&["States.ALL"]);
    let task_failed = names(&["States.TaskFailed"]);
    assert!(error_matches(&all, "Anything"));
    assert!(error_matches(&all, "States.Timeout"));
    assert!(error_matches(&all, "States.NoChoiceMatched"));
    assert!(error_matches(&all, "States.IntrinsicFailure"));
    assert!(error_matches(&all, "States.ResultPathMatchFailure"));
    assert!(!error_matches(&all, "States.Runtime"));
    assert!(!error_matches(&all, "States.DataLimitExceeded"));
    assert!(error_matches(&task_failed, "Lambda.ServiceException"));
    assert!(error_matches(&task_failed, "States.TaskFailed"));
    assert!(error_matches(&task_failed, "States.Permissions"));
    assert!(!error_matches(&task_failed, "States.Timeout"));
    assert!(!error_matches(&task_failed, "States.DataLimitExceeded"));
    assert!(!error_matches(&task_failed, "States.Runtime"));
    assert!(error_matches(&names(&["States.Timeout"]), "States.Timeout"));
    assert!(error_matches(
        &names(&["States.DataLimitExceeded"]),
        "States.DataLimitExceeded"
    ));
    assert!(!error_matches(
        &names(&["States.Runtime"]),
        "States.Runtime"
    ));
    // Error names are case-sensitive strings.
    assert!(!error_matches(&names(&["custom.error"]), "Custom.Error"));
    assert!(error_matches(
        &names(&["A", "Custom.Error"]),
        "Custom.Error"
    ));
}

/// docs: concepts-error-handling (`States.Runtime`: "attempting to apply InputPath
/// or OutputPath on a null JSON payload" and the like; "A retry or catch on
/// States.ALL will not catch States.Runtime errors").
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
    assert_eq!(error_of(&outcome), "States.Runtime");
}

/// docs: concepts-error-handling (`States.Timeout`: "A Task state either ran longer
/// than the TimeoutSeconds value ..."), caught by its name.
#[tokio::test]
async fn a_task_over_its_timeout_fails_with_states_timeout() {
    let outcome = execute_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:sleep:2000", "TimeoutSeconds": 1,
                  "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}], "End": true},
            "TimedOut": {"Type": "Pass", "Result": "timed out", "End": true}
        }}),
        json!({}),
        Script::new(),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!("timed out"));
    assert!(types(&outcome).contains(&"TaskTimedOut".to_string()));
}

/// docs: concepts-error-handling (`States.DataLimitExceeded`: "When the output of a
/// state is larger than payload size quota"; service quotas: 256 KiB).
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
    assert_eq!(
        failure(&outcome),
        (
            "States.DataLimitExceeded".to_string(),
            "The state/task 'P' returned a result with a size exceeding the maximum number of bytes service limit.".to_string()
        )
    );
    // The state entered, never exited: the failure closes the history.
    assert_eq!(
        types(&outcome),
        ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]
    );
}

/// docs: state-fail: ErrorPath and CausePath take a path or an intrinsic function.
#[tokio::test]
async fn fail_state_error_and_cause_from_paths() {
    let outcome = execute(
        json!({"StartAt": "F", "States": {
            "F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('because {}', $.why)"}
        }}),
        json!({"e": "Mine", "why": "reasons"}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        ("Mine".to_string(), "because reasons".to_string())
    );
}

/// docs: concepts-error-handling (`States.ResultPathMatchFailure`: "A state's
/// ResultPath field cannot be applied to the input the state received"): a path
/// through a field that is not an object.
#[tokio::test]
async fn result_path_through_a_scalar_is_a_result_path_match_failure() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Result": "r", "ResultPath": "$.a.b", "End": true
        }}}),
        json!({"a": 5}),
    )
    .await;
    assert_eq!(error_of(&outcome), "States.ResultPathMatchFailure");
}

/// docs: statemachine-structure (TimeoutSeconds) and concepts-error-handling
/// (`States.Timeout`): the execution's own timeout ends it TIMED_OUT.
#[tokio::test]
async fn an_execution_over_its_timeout_times_out() {
    let outcome = execute_with(
        json!({"TimeoutSeconds": 1, "StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 100, "End": true}
        }}),
        json!({}),
        Script::new(),
        0.01,
    )
    .await;
    assert_eq!(timed_out(&outcome).0, "States.Timeout");
    assert_eq!(types(&outcome).last().unwrap(), "ExecutionTimedOut");
}

/// docs: concepts-error-handling (`States.ResultPathMatchFailure`), for a catcher's
/// ResultPath: on an array input it cannot be applied, and that failure ends the
/// execution.
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
    assert_eq!(error_of(&outcome), "States.ResultPathMatchFailure");
}

/// docs: state-choice and concepts-error-handling (`States.NoChoiceMatched`: "if a
/// Choice state fails to match the input with the conditions defined in the Choice
/// Rule and no Default transition is specified").
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
    assert_eq!(error_of(&outcome), "States.NoChoiceMatched");
    assert_eq!(types(&outcome).last().unwrap(), "ExecutionFailed");
}

/// docs: state-choice with concepts-error-handling (`States.Runtime`): a Choice
/// Variable that selects nothing is a runtime error.
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
    assert_eq!(error_of(&outcome), "States.Runtime");
}

/// docs: state-fail: a Fail state stops the execution and marks it a failure with
/// its Error and Cause; it has no exit event.
#[tokio::test]
async fn a_fail_state_fails_the_execution_with_its_error_and_cause() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Next": "F"},
            "F": {"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        ("ErrorA".to_string(), "Kaiju attack".to_string())
    );
    assert_eq!(
        types(&outcome),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
    assert_eq!(
        execution_failed_details(&outcome),
        json!({"error": "ErrorA", "cause": "Kaiju attack"})
    );
}

/// docs: state-fail (ErrorPath) with AWS's wording for a path that finds nothing
/// (LocalStack's AWS-recorded snapshots: "The JSONPath '$.ErrorX' specified for the
/// field 'ErrorPath' could not be found in the input").
#[tokio::test]
async fn a_fail_state_error_path_that_finds_nothing_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.ErrorX", "Cause": "c"}}}),
        json!({"Error": "present"}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(
        cause.starts_with(
            "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input"
        ),
        "{cause}"
    );
}

/// docs: state-fail: ErrorPath and CausePath must select strings.
#[tokio::test]
async fn a_fail_state_path_to_a_non_string_is_a_runtime_error() {
    for (field, value) in [("ErrorPath", json!(7)), ("CausePath", json!({"a": 1}))] {
        let outcome = execute(
            json!({"StartAt": "F", "States": {"F": {"Type": "Fail", field: "$.v"}}}),
            json!({"v": value}),
        )
        .await;
        let (error, cause) = failure(&outcome);
        assert_eq!(error, "States.Runtime", "{field}");
        assert!(cause.contains("is not a string"), "{cause}");
    }
}

/// docs: state-fail: "You can use ErrorPath ... an intrinsic function", here
/// States.Format building the error name.
#[tokio::test]
async fn a_fail_state_error_path_takes_an_intrinsic_function() {
    let outcome = execute(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail",
            "ErrorPath": "States.Format('Order.{}', $.kind)", "CausePath": "$.why"}}}),
        json!({"kind": "Rejected", "why": "out of stock"}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        ("Order.Rejected".to_string(), "out of stock".to_string())
    );
}

/// docs: state-fail: "You can specify either Error or ErrorPath, but not both"
/// (Cause and CausePath likewise).
#[test]
fn fail_state_literal_and_path_fields_are_mutually_exclusive() {
    assert_rejected(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail",
            "Error": "E", "ErrorPath": "$.e", "Cause": "c", "CausePath": "$.c"}}}),
        &[
            "/States/F: Error and ErrorPath are mutually exclusive",
            "/States/F: Cause and CausePath are mutually exclusive",
        ],
    );
}

/// docs: concepts-error-handling (`States.Runtime` "is not retriable, and will always
/// cause the execution to fail"): a catcher naming States.Runtime does not catch it.
/// The definition and the cause are those of LocalStack's AWS-recorded snapshot
/// scenarios/test_catch_states_runtime (OutputPath `$.no.such.result.path`).
#[tokio::test]
async fn a_catcher_naming_states_runtime_does_not_catch_it() {
    let outcome = execute(
        json!({"StartAt": "RaiseRuntime", "States": {
            "RaiseRuntime": {"Type": "Task", "Resource": "test:echo",
                "OutputPath": "$.no.such.result.path",
                "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "CaughtRuntime"}],
                "Next": "Final"},
            "CaughtRuntime": {"Type": "Pass", "End": true},
            "Final": {"Type": "Pass", "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            "Invalid path '$.no.such.result.path' : Missing property in path $['no']".to_string()
        )
    );
    assert_eq!(entered(&outcome), ["RaiseRuntime"]);
    assert_eq!(
        &types(&outcome)[2..],
        [
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "ExecutionFailed"
        ]
    );
}

/// docs: concepts-error-handling ("A States.Runtime error is not retriable"): a
/// retrier naming States.Runtime does not retry it.
#[tokio::test]
async fn a_retrier_naming_states_runtime_does_not_retry_it() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:echo",
            json!({"ResultSelector": {"v.$": "$.missing"},
                   "Retry": [{"ErrorEquals": ["States.Runtime"], "MaxAttempts": 3}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "States.Runtime");
    assert_eq!(script.calls_of("T"), 1);
}

/// docs: concepts-error-handling (`States.Runtime`) with input-output-inputpath-params:
/// an InputPath that selects nothing; AWS's wording "Invalid path '$.x' : No results
/// for path: $['x']" (LocalStack's AWS-recorded snapshots).
#[tokio::test]
async fn an_input_path_that_finds_nothing_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.NoSuchInputPath", "End": true}}}),
        json!({"x": 1}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
                .to_string()
        )
    );
}

/// docs: concepts-error-handling names `States.ParameterPathFailure` for "an attempt
/// to replace a field whose name ends in .$ using a path fails"; AWS itself reports
/// it as States.Runtime with "The JSONPath ... specified for the field ... could not
/// be found in the input" (LocalStack's AWS-recorded snapshots), which this runner
/// follows: so no catcher sees it.
#[tokio::test]
async fn a_parameters_path_that_finds_nothing_is_a_runtime_error() {
    let script = Script::new();
    let outcome = execute_with(
        caught_task(
            "test:echo",
            json!({"Parameters": {"value.$": "$.no_such_jsonpath"},
                   "Catch": [{"ErrorEquals": ["States.ParameterPathFailure"], "Next": "Wrong"},
                             {"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
        ),
        json!({"present": 1}),
        script.clone(),
        0.0,
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(
        cause.starts_with("The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input"),
        "{cause}"
    );
    // Parameters fail before the task is scheduled.
    assert_eq!(script.calls_of("T"), 0);
    assert_eq!(count(&outcome, "TaskScheduled"), 0);
}

/// docs: concepts-error-handling (`States.Runtime`: "attempting to apply InputPath or
/// OutputPath on a null JSON payload"): after a task returned null, even `$.x` in
/// the next state fails.
#[tokio::test]
async fn a_path_on_a_null_input_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:null", "Next": "P"},
            "P": {"Type": "Pass", "Parameters": {"x.$": "$.x"}, "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            "Unable to apply Path transformation to null or empty input.".to_string()
        )
    );
}

/// docs: concepts-error-handling (`States.IntrinsicFailure`: "the attempt to invoke
/// an intrinsic function within a payload template fails") with intrinsic-functions
/// (States.MathAdd takes numbers).
#[tokio::test]
async fn an_intrinsic_argument_failure_is_states_intrinsic_failure() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass",
            "Parameters": {"v.$": "States.MathAdd($.s, 1)"}, "End": true}}}),
        json!({"s": "text"}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.IntrinsicFailure");
    assert!(cause.contains("States.MathAdd"), "{cause}");
}

/// docs: concepts-error-handling (`States.IntrinsicFailure` is an ordinary error
/// name): a Task's catcher naming it catches a failure in its Parameters.
#[tokio::test]
async fn an_intrinsic_failure_in_task_parameters_is_caught_by_name() {
    let script = Script::new();
    let outcome = execute_with(
        caught_task(
            "test:echo",
            json!({"Parameters": {"v.$": "States.ArrayGetItem($.list, 5)"},
                   "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "ResultPath": "$.err", "Next": "H"}]}),
        ),
        json!({"list": [1, 2]}),
        script.clone(),
        0.0,
    )
    .await;
    let out = output(&outcome);
    assert_eq!(out["list"], json!([1, 2]));
    assert_eq!(out["err"]["Error"], "States.IntrinsicFailure");
    assert!(out["err"]["Cause"]
        .as_str()
        .unwrap()
        .contains("States.ArrayGetItem"));
    assert_eq!(script.calls_of("T"), 0);
}

/// docs: concepts-error-handling: States.ALL "matches any known error name",
/// States.IntrinsicFailure included.
#[tokio::test]
async fn an_intrinsic_failure_is_caught_by_states_all() {
    let outcome = execute(
        caught_task(
            "test:echo",
            json!({"Parameters": {"v.$": "States.StringToJson($.s)"},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}),
        ),
        json!({"s": "{not json"}),
    )
    .await;
    assert_eq!(output(&outcome)["Error"], "States.IntrinsicFailure");
}

/// docs: intrinsic-functions with concepts-error-handling (`States.Runtime`): an
/// intrinsic whose path argument selects nothing surfaces as States.Runtime, which
/// States.ALL does not catch.
#[tokio::test]
async fn an_intrinsic_with_a_missing_path_argument_is_a_runtime_error() {
    let outcome = execute(
        caught_task(
            "test:echo",
            json!({"Parameters": {"v.$": "States.Format('{}', $.missing)"},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
        ),
        json!({}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
}

/// docs: concepts-error-handling (`States.DataLimitExceeded` "when the output of a
/// connector is larger than payload size quota"): the task itself fails, before
/// ResultSelector could trim the result; AWS's cause names the resource
/// (LocalStack's AWS-recorded snapshots).
#[tokio::test]
async fn a_task_result_over_the_quota_fails_the_task() {
    let outcome = execute(
        task(
            "test:big:300000",
            json!({"ResultSelector": {"small": true}}),
        ),
        json!({}),
    )
    .await;
    let cause = "The state/task 'test:big:300000' returned a result with a size exceeding the maximum number of bytes service limit.";
    assert_eq!(
        failure(&outcome),
        ("States.DataLimitExceeded".to_string(), cause.to_string())
    );
    let failed = events(&outcome, "TaskFailed");
    assert_eq!(
        failed[0]["taskFailedEventDetails"]["error"],
        "States.DataLimitExceeded"
    );
    assert_eq!(count(&outcome, "TaskSucceeded"), 0);
}

/// docs: concepts-error-handling (`States.DataLimitExceeded` "is a terminal error
/// that can't be caught by the States.ALL error type"); a catcher naming it does
/// catch it.
#[tokio::test]
async fn data_limit_exceeded_is_caught_by_its_name_only() {
    let by_name = execute(
        caught_task(
            "test:big:270000",
            json!({"Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "H"}]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(output(&by_name)["Error"], "States.DataLimitExceeded");
    let by_all = execute(
        caught_task(
            "test:big:270000",
            json!({"Retry": [{"ErrorEquals": ["States.ALL"]}],
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(error_of(&by_all), "States.DataLimitExceeded");
    assert_eq!(count(&by_all, "TaskScheduled"), 1);
}

/// docs: concepts-error-handling (`States.DataLimitExceeded` "when, after Parameters
/// processing, the input of a state is larger than the payload size quota").
#[tokio::test]
async fn task_parameters_over_the_quota_are_data_limit_exceeded() {
    let script = Script::new();
    let half = "y".repeat(140_000);
    let outcome = execute_with(
        task(
            "test:echo",
            json!({"Parameters": {"a.$": "$.s", "b.$": "$.s"}}),
        ),
        json!({"s": half}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "States.DataLimitExceeded");
    assert_eq!(script.calls_of("T"), 0);
}

/// docs: concepts-error-handling (`States.DataLimitExceeded`, a state's output):
/// the array of a Map state's results counts as a whole.
#[tokio::test]
async fn map_results_over_the_quota_are_data_limit_exceeded() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map",
            "ItemProcessor": {"StartAt": "Big", "States": {"Big": {"Type": "Task", "Resource": "test:big:100000", "End": true}}},
            "End": true}}}),
        json!([1, 2, 3]),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.DataLimitExceeded".to_string(),
            "The state/task 'M' returned a result with a size exceeding the maximum number of bytes service limit.".to_string()
        )
    );
}

/// docs: concepts-error-handling: States.NoChoiceMatched is an ordinary error name:
/// from inside a Map iteration, the Map state's States.ALL catcher catches it.
#[tokio::test]
async fn no_choice_matched_in_an_iteration_is_caught_by_the_map_state() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map",
                  "ItemProcessor": {"StartAt": "C", "States": {
                      "C": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "known", "Next": "D"}]},
                      "D": {"Type": "Succeed"}
                  }},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "H"}],
                  "ResultPath": "$.results",
                  "ItemsPath": "$.items",
                  "End": true},
            "H": {"Type": "Pass", "OutputPath": "$.error.Error", "End": true}
        }}),
        json!({"items": ["known", "unknown"]}),
    )
    .await;
    assert_eq!(output(&outcome), json!("States.NoChoiceMatched"));
}

/// docs: concepts-error-handling (`States.Timeout`) with GetExecutionHistory: an
/// uncaught task timeout is a TaskTimedOut event, then the execution's failure.
#[tokio::test]
async fn an_uncaught_task_timeout_fails_the_execution() {
    let outcome = execute_with(
        task("test:sleep:3000", json!({"TimeoutSeconds": 5})),
        json!({}),
        Script::new(),
        0.01,
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Timeout");
    let timed = events(&outcome, "TaskTimedOut");
    assert_eq!(
        timed[0]["taskTimedOutEventDetails"]["error"],
        "States.Timeout"
    );
    assert_eq!(timed[0]["taskTimedOutEventDetails"]["cause"], json!(cause));
    let scheduled = events(&outcome, "TaskScheduled");
    assert_eq!(
        scheduled[0]["taskScheduledEventDetails"]["timeoutInSeconds"],
        5
    );
    assert_eq!(count(&outcome, "TaskStateExited"), 0);
}

/// docs: state-task (TimeoutSecondsPath): the timeout read from the input.
#[tokio::test]
async fn timeout_seconds_path_reads_the_timeout_from_the_input() {
    let outcome = execute_with(
        task("test:sleep:3000", json!({"TimeoutSecondsPath": "$.limit"})),
        json!({"limit": 2}),
        Script::new(),
        0.01,
    )
    .await;
    assert_eq!(error_of(&outcome), "States.Timeout");
    let scheduled = events(&outcome, "TaskScheduled");
    assert_eq!(
        scheduled[0]["taskScheduledEventDetails"]["timeoutInSeconds"],
        2
    );
}

/// docs: state-task (TimeoutSecondsPath) with AWS's wording for a path that finds
/// nothing: "Invalid path '$.NoSuchTimeoutSecondsPath' : No results for path:
/// $['NoSuchTimeoutSecondsPath']" (LocalStack's AWS-recorded snapshots).
#[tokio::test]
async fn a_timeout_seconds_path_that_finds_nothing_is_a_runtime_error() {
    let outcome = execute(
        task(
            "test:echo",
            json!({"TimeoutSecondsPath": "$.NoSuchTimeoutSecondsPath"}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            "Invalid path '$.NoSuchTimeoutSecondsPath' : No results for path: $['NoSuchTimeoutSecondsPath']".to_string()
        )
    );
}

/// docs: state-task (TimeoutSecondsPath "must resolve to a positive integer").
#[tokio::test]
async fn a_timeout_seconds_path_to_a_non_positive_integer_is_a_runtime_error() {
    for limit in [json!(0), json!(-1), json!(1.5), json!("10")] {
        let outcome = execute(
            task("test:echo", json!({"TimeoutSecondsPath": "$.limit"})),
            json!({"limit": limit}),
        )
        .await;
        let (error, cause) = failure(&outcome);
        assert_eq!(error, "States.Runtime", "{limit}");
        assert!(cause.starts_with("TimeoutSecondsPath:"), "{cause}");
    }
}

/// docs: state-task: HeartbeatSeconds "must be smaller than TimeoutSeconds"; both
/// positive integers.
#[test]
fn heartbeat_seconds_must_be_smaller_than_timeout_seconds() {
    assert_rejected(
        task(
            "test:echo",
            json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10}),
        ),
        &["/States/T/HeartbeatSeconds: must be smaller than TimeoutSeconds"],
    );
    assert_rejected(
        task("test:echo", json!({"TimeoutSeconds": 0})),
        &["/States/T/TimeoutSeconds: must be a whole number of at least 1"],
    );
    assert_rejected(
        task(
            "test:echo",
            json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}),
        ),
        &["/States/T: TimeoutSeconds and TimeoutSecondsPath are mutually exclusive"],
    );
}

/// docs: concepts-error-handling ("catchers are available for Task, Parallel and
/// Map states, but not for top-level state machine execution failures"): the
/// execution timeout is not seen by a state's Catch, even one naming States.Timeout.
#[tokio::test]
async fn the_execution_timeout_is_not_caught_by_a_state() {
    let mut definition = caught_task(
        "test:sleep:3000",
        json!({"Retry": [{"ErrorEquals": ["States.Timeout"]}],
               "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Wrong"}, {"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
    );
    definition["TimeoutSeconds"] = json!(1);
    let outcome = execute_with(definition, json!({}), Script::new(), 0.01).await;
    let (error, _) = timed_out(&outcome);
    assert_eq!(error, "States.Timeout");
    assert_eq!(entered(&outcome), ["T"]);
    let last = outcome.history.last().unwrap();
    assert_eq!(
        last["executionTimedOutEventDetails"]["error"],
        "States.Timeout"
    );
}

/// docs: state-wait (SecondsPath selects a non-negative whole number of seconds):
/// anything else is a States.Runtime error.
#[tokio::test]
async fn a_wait_seconds_path_to_a_negative_number_is_a_runtime_error() {
    let outcome = execute(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        json!({"s": -5}),
    )
    .await;
    assert_eq!(error_of(&outcome), "States.Runtime");
}

/// docs: state-wait (TimestampPath selects an RFC 3339 timestamp): a string that is
/// not one is a States.Runtime error.
#[tokio::test]
async fn a_wait_timestamp_path_to_a_non_timestamp_is_a_runtime_error() {
    for value in [json!("2016-12-05 21:29:29Z"), json!(12)] {
        let outcome = execute(
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}}),
            json!({"t": value}),
        )
        .await;
        assert_eq!(error_of(&outcome), "States.Runtime", "{value}");
    }
}

/// docs: input-output-inputpath-params (ResultSelector) with concepts-error-handling
/// (`States.Runtime`): a ResultSelector path that finds nothing in the result.
#[tokio::test]
async fn a_result_selector_path_that_finds_nothing_is_a_runtime_error() {
    let outcome = execute(
        caught_task(
            "test:echo",
            json!({"ResultSelector": {"v.$": "$.absent"},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
        ),
        json!({"present": 1}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("'v.$'"), "{cause}");
    // The task ran and succeeded; the state failed after it.
    assert_eq!(count(&outcome, "TaskSucceeded"), 1);
}

/// docs: concepts-error-handling: States.ResultPathMatchFailure is not terminal: the
/// state's own catcher takes it (ResultPath null keeps the input).
#[tokio::test]
async fn a_result_path_match_failure_on_a_task_is_caught() {
    let outcome = execute(
        caught_task(
            "test:echo",
            json!({"ResultPath": "$.a.b",
                   "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": null, "Next": "H"}]}),
        ),
        json!({"a": 5}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"a": 5}));
    assert_eq!(entered(&outcome), ["T", "H"]);
}

/// docs: concepts-error-handling: "By default, when a state reports an error, AWS
/// Step Functions causes the execution to fail entirely": a task's own error name
/// and cause, in TaskFailed and in ExecutionFailed.
#[tokio::test]
async fn an_uncaught_task_error_is_recorded_and_fails_the_execution() {
    let outcome = execute(task("test:fail:Lambda.Unknown", json!({})), json!({})).await;
    assert_eq!(
        failure(&outcome),
        ("Lambda.Unknown".to_string(), "it failed".to_string())
    );
    let failed = events(&outcome, "TaskFailed");
    assert_eq!(
        failed[0]["taskFailedEventDetails"],
        json!({"resourceType": "unknown", "resource": "test:fail:Lambda.Unknown",
               "error": "Lambda.Unknown", "cause": "it failed"})
    );
    assert_eq!(
        execution_failed_details(&outcome),
        json!({"error": "Lambda.Unknown", "cause": "it failed"})
    );
}

/// docs: statemachine-structure (QueryLanguage): JSONata and its
/// States.QueryEvaluationError are not what this runner evaluates; the definition
/// says so.
#[test]
fn the_jsonata_query_language_is_rejected() {
    assert_rejected(
        json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        &["/QueryLanguage: only JSONPath is supported (not \"JSONata\")"],
    );
}

/// A Pass/Choice loop counting with States.MathAdd until `$.i` reaches `$.limit`
/// (the shape of scripts/bench/loop.asl.json): 4 events per iteration, 4N + 8 in
/// all (ExecutionStarted, Init, N × (Check, Inc), the last Check, Done, and the
/// closing event).
fn counting_loop() -> Value {
    json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Parameters": {"i": 0, "limit.$": "$.limit"}, "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericGreaterThanEqualsPath": "$.limit", "Next": "Done"}], "Default": "Inc"},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "limit.$": "$.limit"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}
    }})
}

/// docs: service quotas ("Maximum execution history size", 25,000 events) and
/// bp-history-limit: "If the event number 25,000 isn't ExecutionSucceeded, the
/// ExecutionFailed event is logged": the failure is event 25,000, States.Runtime
/// with AWS's cause (floci-io/floci#2734, a real execution's history).
#[tokio::test]
async fn a_loop_that_reaches_the_history_quota_fails_at_event_25000() {
    let outcome = execute(counting_loop(), json!({"limit": 1_000_000})).await;
    assert_eq!(MAX_HISTORY_EVENTS, 25_000);
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            HISTORY_QUOTA_CAUSE.to_string()
        )
    );
    assert_eq!(
        HISTORY_QUOTA_CAUSE,
        "The execution reached the maximum number of history events (25000)."
    );
    assert_eq!(outcome.history.len(), MAX_HISTORY_EVENTS);
    let last = outcome.history.last().unwrap();
    assert_eq!(last["type"], "ExecutionFailed");
    assert_eq!(last["id"], 25_000);
    assert_eq!(last["previousEventId"], 24_999);
    assert_eq!(
        last["executionFailedEventDetails"],
        json!({"error": "States.Runtime", "cause": HISTORY_QUOTA_CAUSE})
    );
    // Event 24,999 is the last one the machine produced: 1 + 2 + 4 × 6249 = 24,999
    // ends with the exit of Inc; the next entry (Check) found no room.
    let before = &outcome.history[24_998];
    assert_eq!(before["id"], 24_999);
    assert_eq!(before["type"], "PassStateExited");
    assert_eq!(before["stateExitedEventDetails"]["name"], "Inc");
    assert_eq!(
        before["stateExitedEventDetails"]["output"],
        "{\"i\":6249,\"limit\":1000000}"
    );
}

/// docs: bp-history-limit: "If the event number 25,000 is ExecutionSucceeded, the
/// execution finishes successfully"; one iteration more and it fails, with the
/// history again exactly 25,000 events long.
#[tokio::test]
async fn a_history_of_exactly_25000_events_may_end_in_success() {
    // 4 × 6248 + 8 = 25,000.
    let fits = execute(counting_loop(), json!({"limit": 6248})).await;
    assert_eq!(output(&fits), json!({"i": 6248, "limit": 6248}));
    assert_eq!(fits.history.len(), MAX_HISTORY_EVENTS);
    assert_eq!(fits.history.last().unwrap()["type"], "ExecutionSucceeded");
    let over = execute(counting_loop(), json!({"limit": 6249})).await;
    assert_eq!(
        failure(&over),
        (
            "States.Runtime".to_string(),
            HISTORY_QUOTA_CAUSE.to_string()
        )
    );
    assert_eq!(over.history.len(), MAX_HISTORY_EVENTS);
    // 3 + 4 × 6249 = 24,999 events: the last Check found no room.
    assert_eq!(over.history[24_998]["type"], "PassStateExited");
    assert_eq!(over.history[24_999]["type"], "ExecutionFailed");
}

/// docs: bp-history-limit with concepts-error-handling (`States.Runtime` "is not
/// retriable"): events of Parallel branches count toward the quota, and reaching it
/// inside a branch is neither retried nor caught by the Parallel state.
#[tokio::test]
async fn the_quota_counts_branch_events_and_cannot_be_caught() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [counting_loop(), counting_loop()],
                  "Retry": [{"ErrorEquals": ["States.Runtime"]}, {"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "H"}, {"ErrorEquals": ["States.ALL"], "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"limit": 1_000_000}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        (
            "States.Runtime".to_string(),
            HISTORY_QUOTA_CAUSE.to_string()
        )
    );
    assert_eq!(outcome.history.len(), MAX_HISTORY_EVENTS);
    assert_eq!(count(&outcome, "ParallelStateStarted"), 1);
    assert!(!entered(&outcome).contains(&"H".to_string()));
}

/// docs: bp-history-limit and service quotas, for the loop scripts/bench-sfn runs:
/// its default 5,000 iterations (10,003 transitions) make 20,008 events, under the
/// quota, so the benchmark still succeeds.
#[tokio::test]
async fn the_benchmark_loop_stays_under_the_quota() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/bench/loop.asl.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let machine = StateMachine::from_json(&text).unwrap_or_else(|p| panic!("{p:#?}"));
    let engine = sfn_local::engine::Engine {
        runner: Arc::new(Script::default()),
        clock: sfn_local::engine::Clock { scale: 0.0 },
        observer: None,
    };
    let outcome = engine
        .execute(&machine, &support::engine::spec(json!({"limit": 5000})))
        .await;
    assert_eq!(
        outcome.status,
        Status::Succeeded {
            output: json!({"i": 5000, "limit": 5000})
        }
    );
    assert_eq!(outcome.transitions, 10_003);
    assert_eq!(outcome.history.len(), 20_008);
    assert!(outcome.history.len() < MAX_HISTORY_EVENTS);
}
