//! Parallel states end to end: branch input and output, ResultSelector / ResultPath /
//! OutputPath on the branch array, nesting, failures that stop the other branches,
//! Retry and Catch on the state, the context inside branches, and the history. Each
//! case cites the docs page it checks (docs: state-parallel unless said otherwise).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::engine::{
    assert_rejected, count, entered, error_of, events, execute, execute_with,
    execution_failed_details, failure, output, timed_out, types, Script,
};

/// A one-state branch.
fn branch(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

/// A Parallel state named `P` (ending the machine) over `branches`, with `extra`
/// fields merged in.
fn parallel(branches: Value, extra: Value) -> Value {
    let mut state = json!({"Type": "Parallel", "Branches": branches, "End": true});
    for (k, v) in extra.as_object().unwrap() {
        state[k] = v.clone();
    }
    json!({"StartAt": "P", "States": {"P": state}})
}

/// docs: state-parallel: branches run "as concurrently as possible"; the output is
/// an array with one element per branch, in branch order.
#[tokio::test]
async fn parallel_runs_branches_concurrently_and_returns_their_outputs_in_order() {
    let started = Instant::now();
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

/// docs: state-parallel, "Error Handling": a failing branch fails the state; its
/// Catch sees the branch's error.
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

/// docs: state-parallel: the output array follows the order of `Branches`, not the
/// order in which the branches finish.
#[tokio::test]
async fn branch_outputs_keep_branch_order_whatever_the_finish_order() {
    let script = Script::new();
    let outcome = execute_with(
        parallel(
            json!([
                {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "test:sleep:200", "Parameters": {"b": 0}, "End": true}}},
                {"StartAt": "Fast", "States": {"Fast": {"Type": "Task", "Resource": "test:sleep:1", "Parameters": {"b": 1}, "End": true}}}
            ]),
            json!({}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([{"b": 0}, {"b": 1}]));
    assert_eq!(*script.finished.lock().unwrap(), ["Fast", "Slow"]);
}

/// docs: state-parallel, "Parallel State Input and Output Processing": each branch
/// gets its own copy of the state's input (after InputPath).
#[tokio::test]
async fn every_branch_gets_its_own_copy_of_the_effective_input() {
    let outcome = execute(
        parallel(
            json!([
                branch(json!({"Type": "Pass", "Result": "a", "ResultPath": "$.mark", "End": true})),
                branch(json!({"Type": "Pass", "Result": "b", "ResultPath": "$.mark", "End": true}))
            ]),
            json!({"InputPath": "$.shared"}),
        ),
        json!({"shared": {"v": 1}, "other": 2}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([{"v": 1, "mark": "a"}, {"v": 1, "mark": "b"}])
    );
}

/// docs: state-parallel, the FunWithMath example: both branches get the input
/// `[3, 2]`; the state's output is `[5, 1]`. (No intrinsic subtracts, so the second
/// branch adds -2.)
#[tokio::test]
async fn the_docs_fun_with_math_example_gives_five_and_one() {
    let outcome = execute(
        parallel(
            json!([
                branch(json!({"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($[0], $[1])"}, "OutputPath": "$.v", "End": true})),
                branch(json!({"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($[0], -2)"}, "OutputPath": "$.v", "End": true}))
            ]),
            json!({}),
        ),
        json!([3, 2]),
    )
    .await;
    assert_eq!(output(&outcome), json!([5, 1]));
}

/// docs: input-output-inputpath-params: a Parallel state's Parameters build the
/// input every branch receives, with paths into the input and the context object.
#[tokio::test]
async fn parameters_build_the_input_of_every_branch() {
    let echo = |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Task", "Resource": "test:echo", "End": true}}});
    let outcome = execute(
        parallel(
            json!([echo("A"), echo("B")]),
            json!({"Parameters": {"id.$": "$.id", "exec.$": "$$.Execution.Name", "state.$": "$$.State.Name", "fixed": 1}}),
        ),
        json!({"id": 7, "unused": true}),
    )
    .await;
    let each = json!({"id": 7, "exec": "exec-1", "state": "P", "fixed": 1});
    assert_eq!(output(&outcome), json!([each.clone(), each]));
}

/// docs: input-output-inputpath-params: InputPath applies first, then Parameters
/// read the selected part.
#[tokio::test]
async fn input_path_applies_before_parameters() {
    let outcome = execute(
        parallel(
            json!([branch(json!({"Type": "Pass", "End": true}))]),
            json!({"InputPath": "$.inner", "Parameters": {"x.$": "$.x"}}),
        ),
        json!({"inner": {"x": "from-inner"}, "x": "from-top"}),
    )
    .await;
    assert_eq!(output(&outcome), json!([{"x": "from-inner"}]));
}

/// docs: input-output-inputpath-params, "ResultSelector": it reads the branch
/// array as its input, intrinsics included.
#[tokio::test]
async fn result_selector_reshapes_the_branch_array() {
    let outcome = execute(
        parallel(
            json!([
                branch(json!({"Type": "Pass", "Result": {"v": "first"}, "End": true})),
                branch(json!({"Type": "Pass", "Result": {"v": "second"}, "End": true}))
            ]),
            json!({"ResultSelector": {"first.$": "$[0].v", "count.$": "States.ArrayLength($)"}, "ResultPath": "$.summary"}),
        ),
        json!({"keep": 1}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"keep": 1, "summary": {"first": "first", "count": 2}})
    );
}

/// docs: input-output-resultpath: ResultPath null discards the branch array and
/// passes the state's input on.
#[tokio::test]
async fn result_path_null_discards_the_branch_array() {
    let outcome = execute(
        parallel(
            json!([branch(
                json!({"Type": "Pass", "Result": "dropped", "End": true})
            )]),
            json!({"ResultPath": null}),
        ),
        json!({"keep": true}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"keep": true}));
}

/// docs: input-output-outputpath: OutputPath filters the state's output after
/// ResultPath merged the branch array into the input.
#[tokio::test]
async fn output_path_selects_from_the_merged_result() {
    let outcome = execute(
        parallel(
            json!([
                branch(json!({"Type": "Pass", "Result": "zero", "End": true})),
                branch(json!({"Type": "Pass", "Result": "one", "End": true}))
            ]),
            json!({"ResultPath": "$.r", "OutputPath": "$.r[1]"}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!("one"));
}

/// docs: state-parallel: a single branch of a single Pass state still gives an
/// array, of one element.
#[tokio::test]
async fn a_single_pass_branch_gives_a_one_element_array() {
    let outcome = execute(
        parallel(
            json!([branch(json!({"Type": "Pass", "End": true}))]),
            json!({}),
        ),
        json!({"x": 1}),
    )
    .await;
    assert_eq!(output(&outcome), json!([{"x": 1}]));
}

/// docs: state-parallel: "There is no requirement that all elements be of the same
/// type."
#[tokio::test]
async fn branch_outputs_may_be_of_different_types() {
    let results = [
        json!("s"),
        json!(1.5),
        Value::Null,
        json!([1]),
        json!({"o": 1}),
    ];
    let branches: Vec<Value> = results
        .iter()
        .map(|r| branch(json!({"Type": "Pass", "Result": r, "End": true})))
        .collect();
    let outcome = execute(parallel(Value::Array(branches), json!({})), json!({})).await;
    assert_eq!(output(&outcome), Value::Array(results.to_vec()));
}

/// docs: state-parallel: a branch is a state machine of its own, so it can hold a
/// Parallel state; the inner array nests in the outer one.
#[tokio::test]
async fn nested_parallel_states_nest_their_arrays() {
    let inner = json!({"Type": "Parallel", "End": true, "Branches": [
        branch(json!({"Type": "Pass", "Result": "a", "End": true})),
        branch(json!({"Type": "Pass", "Result": "b", "End": true}))
    ]});
    let outcome = execute(
        parallel(
            json!([
                branch(inner),
                branch(json!({"Type": "Pass", "Result": "c", "End": true}))
            ]),
            json!({}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!([["a", "b"], "c"]));
    assert_eq!(count(&outcome, "ParallelStateStarted"), 2);
}

/// docs: state-parallel: each branch runs from its StartAt through its own states,
/// Choice included, to its own terminal state.
#[tokio::test]
async fn a_branch_runs_its_own_sequence_of_states() {
    let outcome = execute(
        parallel(
            json!([{"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}], "Default": "Small"},
                "Big": {"Type": "Pass", "Result": "big", "Next": "Done"},
                "Small": {"Type": "Pass", "Result": "small", "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }}]),
            json!({}),
        ),
        json!({"n": 2}),
    )
    .await;
    assert_eq!(output(&outcome), json!(["big"]));
}

/// docs: state-parallel, "Error Handling": "If any branch fails ... the entire
/// Parallel state is considered to have failed and all its branches are stopped."
#[tokio::test]
async fn a_branch_failure_stops_the_other_branches() {
    let script = Script::new();
    let started = Instant::now();
    let outcome = execute_with(
        parallel(
            json!([
                {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "test:sleep:3000", "End": true}}},
                {"StartAt": "Breaks", "States": {"Breaks": {"Type": "Task", "Resource": "test:sleepfail:50:Broken", "End": true}}}
            ]),
            json!({}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "Broken");
    assert!(started.elapsed() < Duration::from_millis(2000));
    // The slow branch was started and then dropped: it never returned.
    assert_eq!(script.calls_of("Slow"), 1);
    assert_eq!(*script.finished.lock().unwrap(), ["Breaks"]);
    assert_eq!(count(&outcome, "TaskSucceeded"), 0);
    assert_eq!(count(&outcome, "ParallelStateFailed"), 1);
    assert_eq!(count(&outcome, "ParallelStateExited"), 0);
}

/// docs: state-parallel, "Error Handling": "If the error is not handled by the
/// Parallel state itself, Step Functions stops the execution with an error": the
/// branch's own error and cause.
#[tokio::test]
async fn an_unhandled_branch_error_fails_the_execution_with_its_error_and_cause() {
    let outcome = execute(
        parallel(
            json!([
                branch(json!({"Type": "Pass", "End": true})),
                branch(
                    json!({"Type": "Fail", "Error": "Branch.Error", "Cause": "the branch gave up"})
                )
            ]),
            json!({}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        ("Branch.Error".to_string(), "the branch gave up".to_string())
    );
    assert_eq!(
        execution_failed_details(&outcome),
        json!({"error": "Branch.Error", "cause": "the branch gave up"})
    );
    let failed = events(&outcome, "ParallelStateFailed");
    assert_eq!(
        failed[0]["stateFailedEventDetails"]["error"],
        "Branch.Error"
    );
}

/// docs: concepts-error-handling, "Fallback states": a catcher without ResultPath
/// passes the error output alone to its Next state.
#[tokio::test]
async fn a_catch_without_result_path_replaces_the_input_with_the_error_output() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                branch(json!({"Type": "Fail", "Error": "E", "Cause": "c"}))
            ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"dropped": true}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"Error": "E", "Cause": "c"}));
}

/// docs: input-output-resultpath ("Use ResultPath to include both error and input
/// in a Catch"), with ResultPath null: the error is discarded, the input passed on.
#[tokio::test]
async fn a_catch_with_result_path_null_passes_the_input_on() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                branch(json!({"Type": "Fail", "Error": "E"}))
            ], "Catch": [{"ErrorEquals": ["E"], "ResultPath": null, "Next": "H"}], "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"keep": 1}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"keep": 1}));
    assert_eq!(entered(&outcome), ["P", "S", "H"]);
}

/// docs: concepts-error-handling, "Retrying after an error" (Parallel states take
/// Retry): a retry runs the whole state again, every branch included.
#[tokio::test]
async fn a_retry_on_a_parallel_state_reruns_every_branch() {
    let script = Script::new();
    let outcome = execute_with(
        parallel(
            json!([
                {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "test:echo", "Parameters": {"b": true}, "End": true}}},
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "test:flaky:1:Boom", "End": true}}}
            ]),
            json!({"Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([{"b": true}, {"attempt": 2, "retry_count": 0}])
    );
    assert_eq!(script.calls_of("A"), 2);
    assert_eq!(script.calls_of("B"), 2);
    assert_eq!(count(&outcome, "ParallelStateEntered"), 1);
    assert_eq!(count(&outcome, "ParallelStateStarted"), 2);
    assert_eq!(count(&outcome, "ParallelStateFailed"), 1);
    assert_eq!(count(&outcome, "ParallelStateSucceeded"), 1);
    // One state entered in each branch per attempt, plus the Parallel state, plus
    // the retry itself.
    assert_eq!(outcome.transitions, 1 + 1 + 4);
}

/// docs: concepts-error-handling: "When a state has both Retry and Catch fields,
/// Step Functions uses any appropriate retriers first, and only afterward applies
/// the matching catcher".
#[tokio::test]
async fn retries_are_exhausted_before_the_parallel_catch() {
    let script = Script::new();
    let outcome = execute_with(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "test:fail:Always", "End": true}}}
            ],
            "Retry": [{"ErrorEquals": ["Always"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["Always"], "ResultPath": "$.error", "Next": "H"}],
            "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"in": 1}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(script.calls_of("A"), 3);
    assert_eq!(
        output(&outcome),
        json!({"in": 1, "error": {"Error": "Always", "Cause": "it failed"}})
    );
}

/// docs: state-parallel ("Error Handling") with concepts-error-handling
/// (`States.BranchFailed`): the state fails with the branch's own error, which is
/// what a catcher matches; no `States.BranchFailed` wraps it (as AWS behaves in
/// LocalStack's AWS-validated interpreter).
#[tokio::test]
async fn the_catch_sees_the_branch_error_not_states_branch_failed() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                branch(json!({"Type": "Fail", "Error": "Inner", "Cause": "c"}))
            ], "Catch": [
                {"ErrorEquals": ["States.BranchFailed"], "Next": "Wrong"},
                {"ErrorEquals": ["Inner"], "Next": "Right"}
            ], "End": true},
            "Wrong": {"Type": "Pass", "Result": "wrong", "End": true},
            "Right": {"Type": "Pass", "Result": "right", "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!("right"));
}

/// docs: concepts-error-handling (`States.Runtime`: "A retry or catch on States.ALL
/// will not catch States.Runtime errors"), from inside a branch.
#[tokio::test]
async fn a_runtime_error_in_a_branch_is_not_caught_by_the_parallel_state() {
    let outcome = execute(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                branch(json!({"Type": "Pass", "InputPath": "$.missing", "End": true}))
            ],
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
    assert_eq!(count(&outcome, "ParallelStateStarted"), 1);
}

/// docs: state-parallel with concepts-error-handling: a branch that catches its own
/// error ends normally, and so does the Parallel state.
#[tokio::test]
async fn a_branch_that_catches_its_own_error_lets_the_parallel_state_succeed() {
    let outcome = execute(
        parallel(
            json!([
                {"StartAt": "T", "States": {
                    "T": {"Type": "Task", "Resource": "test:fail:Oops", "Catch": [{"ErrorEquals": ["Oops"], "ResultPath": "$.err", "Next": "Recover"}], "End": true},
                    "Recover": {"Type": "Pass", "OutputPath": "$.err.Error", "End": true}
                }},
                branch(json!({"Type": "Pass", "Result": "fine", "End": true}))
            ]),
            json!({}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!(["Oops", "fine"]));
    assert_eq!(count(&outcome, "ParallelStateFailed"), 0);
}

/// docs: concepts-error-handling: a Task inside a branch retries on its own; the
/// Parallel state never sees the error.
#[tokio::test]
async fn a_task_inside_a_branch_retries_on_its_own() {
    let script = Script::new();
    let outcome = execute_with(
        parallel(
            json!([{"StartAt": "T", "States": {"T": {
                "Type": "Task", "Resource": "test:flaky:2:Boom",
                "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}], "End": true
            }}}]),
            json!({}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([{"attempt": 3, "retry_count": 2}]));
    assert_eq!(count(&outcome, "ParallelStateStarted"), 1);
}

/// docs: input-output-contextobject: inside a branch, `$$.State` is the branch's
/// state; `$$.Execution` is the execution's.
#[tokio::test]
async fn the_context_inside_a_branch_names_the_branch_state() {
    let outcome = execute(
        parallel(
            json!([{"StartAt": "Inner", "States": {"Inner": {"Type": "Task", "Resource": "test:context", "End": true}}}]),
            json!({}),
        ),
        json!({"x": 1}),
    )
    .await;
    let context = &output(&outcome)[0];
    assert_eq!(context["State"]["Name"], "Inner");
    assert_eq!(context["State"]["RetryCount"], 0);
    assert_eq!(context["Execution"]["Name"], "exec-1");
    assert_eq!(context["Execution"]["Input"], json!({"x": 1}));
    assert!(context.get("Map").is_none(), "{context}");
}

/// docs: state-parallel with the history events of GetExecutionHistory
/// (ParallelStateEntered / Started / Succeeded / Exited around the branches' own).
#[tokio::test]
async fn the_history_brackets_the_branch_events() {
    let outcome = execute(
        parallel(
            json!([branch(json!({"Type": "Pass", "End": true}))]),
            json!({}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(
        types(&outcome),
        [
            "ExecutionStarted",
            "ParallelStateEntered",
            "ParallelStateStarted",
            "PassStateEntered",
            "PassStateExited",
            "ParallelStateSucceeded",
            "ParallelStateExited",
            "ExecutionSucceeded"
        ]
    );
    // The branch's first event follows ParallelStateStarted (id 3).
    assert_eq!(outcome.history[2]["previousEventId"], 2);
    assert_eq!(outcome.history[3]["previousEventId"], 3);
    assert_eq!(
        outcome.history[6]["stateExitedEventDetails"]["output"],
        "[{}]"
    );
}

/// docs: state-succeed: a branch ending in a Succeed state contributes that state's
/// output, OutputPath applied.
#[tokio::test]
async fn a_branch_ending_in_succeed_contributes_its_output() {
    let outcome = execute(
        parallel(
            json!([branch(json!({"Type": "Succeed", "OutputPath": "$.keep"}))]),
            json!({}),
        ),
        json!({"keep": "this", "drop": "that"}),
    )
    .await;
    assert_eq!(output(&outcome), json!(["this"]));
}

/// docs: concepts-error-handling (`States.DataLimitExceeded`, "the output of a
/// state is larger than payload size quota"): the branch array counts as a whole.
#[tokio::test]
async fn a_branch_array_over_the_payload_quota_is_data_limit_exceeded() {
    let big = |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Task", "Resource": "test:big:140000", "End": true}}});
    let outcome = execute(parallel(json!([big("A"), big("B")]), json!({})), json!({})).await;
    assert_eq!(error_of(&outcome), "States.DataLimitExceeded");
    assert_eq!(count(&outcome, "ParallelStateSucceeded"), 1);
    assert_eq!(count(&outcome, "ParallelStateExited"), 0);
}

/// docs: statemachine-structure (TimeoutSeconds): the execution's timeout ends it
/// TIMED_OUT with branches still running; no Catch of the Parallel state sees it.
#[tokio::test]
async fn the_execution_timeout_stops_running_branches() {
    let script = Script::new();
    let mut definition = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "test:sleep:3000", "End": true}}}
        ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}
    }});
    definition["TimeoutSeconds"] = json!(1);
    let outcome = execute_with(definition, json!({}), script.clone(), 0.01).await;
    assert_eq!(timed_out(&outcome).0, "States.Timeout");
    assert!(script.finished.lock().unwrap().is_empty());
    assert_eq!(types(&outcome).last().unwrap(), "ExecutionTimedOut");
}

/// docs: state-parallel: branches run "as concurrently as possible": all three
/// tasks are in flight at once.
#[tokio::test]
async fn three_branches_are_in_flight_at_once() {
    let script = Script::new();
    let sleeper = |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Task", "Resource": "test:sleep:150", "End": true}}});
    let outcome = execute_with(
        parallel(json!([sleeper("A"), sleeper("B"), sleeper("C")]), json!({})),
        json!({"n": 1}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([{"n": 1}, {"n": 1}, {"n": 1}]));
    assert_eq!(
        script
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
}

/// docs: state-parallel: `Branches` is required and holds state machines.
#[test]
fn branches_must_be_a_non_empty_array() {
    assert_rejected(
        parallel(json!([]), json!({})),
        &["/States/P/Branches: must be a non-empty array"],
    );
    let mut missing = parallel(json!([]), json!({}));
    missing["States"]["P"]
        .as_object_mut()
        .unwrap()
        .remove("Branches");
    assert_rejected(missing, &["/States/P/Branches: must be a non-empty array"]);
}

/// docs: state-parallel: "Each branch must be self-contained. A state in one branch
/// ... must not have a Next field that targets a field outside of that branch, nor
/// can any other state outside the branch transition into that branch."
#[test]
fn branches_are_self_contained() {
    assert_rejected(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "After"}}}
            ], "Next": "After"},
            "After": {"Type": "Pass", "Next": "A"}
        }}),
        &[
            "/States/P/Branches/0/States/A/Next: \"After\" is not a state of this scope",
            "/States/After/Next: \"A\" is not a state of this scope",
        ],
    );
}

/// docs: concepts-error-handling: `States.ALL` "must appear alone in the
/// ErrorEquals array and must appear in the last retrier" (and catcher), on a
/// Parallel state as on a Task.
#[test]
fn states_all_must_be_alone_and_last_on_a_parallel_state() {
    assert_rejected(
        parallel(
            json!([branch(json!({"Type": "Pass", "End": true}))]),
            json!({"Retry": [{"ErrorEquals": ["States.ALL", "Boom"]}],
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "P"}, {"ErrorEquals": ["Boom"], "Next": "P"}]}),
        ),
        &[
            "/States/P/Retry/0/ErrorEquals: States.ALL must appear alone",
            "/States/P/Catch/0: States.ALL must be in the last catcher",
        ],
    );
}

/// docs: concepts-history (GetExecutionHistory: `previousEventId`): each branch's
/// events chain to the branch's own previous event, so concurrent branches stay two
/// separate chains from the ParallelStateStarted event, and a task's events follow
/// its own state even while the other branch records events in between.
#[tokio::test]
async fn each_branch_chains_its_own_events() {
    let definition = json!({"StartAt": "P", "States": {"P": {
    "Type": "Parallel", "End": true,
    "Branches": [
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "test:sleep:150", "End": true}}},
        {"StartAt": "Quick", "States": {
            "Quick": {"Type": "Pass", "Next": "Quicker"},
            "Quicker": {"Type": "Pass", "End": true}}}
    ]}}});
    let outcome = execute(definition, json!({})).await;
    let id_of = |kind: &str, name: Option<&str>| -> u64 {
        outcome
            .history
            .iter()
            .find(|e| {
                e["type"] == kind
                    && name.is_none_or(|n| {
                        e["stateEnteredEventDetails"]["name"] == n
                            || e["stateExitedEventDetails"]["name"] == n
                    })
            })
            .and_then(|e| e["id"].as_u64())
            .unwrap_or_else(|| panic!("no {kind} {name:?} in {:?}", outcome.history))
    };
    let previous_of = |id: u64| -> u64 {
        outcome.history.iter().find(|e| e["id"] == id).unwrap()["previousEventId"]
            .as_u64()
            .unwrap()
    };
    let started = id_of("ParallelStateStarted", None);
    let slow = id_of("TaskStateEntered", Some("Slow"));
    let quick = id_of("PassStateEntered", Some("Quick"));
    assert_eq!(previous_of(slow), started);
    assert_eq!(previous_of(quick), started);
    assert_eq!(previous_of(id_of("PassStateExited", Some("Quick"))), quick);
    let scheduled = id_of("TaskScheduled", None);
    assert_eq!(previous_of(scheduled), slow);
    let task_started = id_of("TaskStarted", None);
    assert_eq!(previous_of(task_started), scheduled);
    // The Quick branch finished while the task ran: the task's result still follows
    // its own TaskStarted, not the other branch's last event.
    let succeeded = id_of("TaskSucceeded", None);
    assert_eq!(previous_of(succeeded), task_started);
    assert!(succeeded > id_of("PassStateExited", Some("Quicker")));
}
