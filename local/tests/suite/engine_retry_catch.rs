//! Retry and Catch end to end: retrier defaults and bounds, backoff, MaxDelaySeconds,
//! full jitter, how retriers count attempts, `$$.State.RetryCount`, catcher order and
//! ResultPath, timeouts against `States.TaskFailed` / `States.Timeout`, the rules on
//! `States.ALL`, and what the history shows. Each case cites the docs page it checks
//! (concepts-error-handling unless said otherwise).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sfn_local::definition::{Jitter, Kind, Retrier, StateMachine};
use sfn_local::engine::{jittered_delay, retry_delay};
use support::engine::{
    assert_rejected, count, entered, error_of, events, execute, execute_with, failure, json_field,
    output, problems, task, types, Script,
};

/// A Task `T` with `extra` fields that goes on to `Next` (a Pass ending the
/// machine); every state its catchers name exists: `H` passes its input on, any
/// other (`Wrong`, `Right`) gives its own name.
fn task_with_handlers(resource: &str, extra: Value) -> Value {
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
    states["T"].as_object_mut().unwrap().remove("End");
    states["T"]["Next"] = json!("Next");
    states.insert("Next".into(), json!({"Type": "Pass", "End": true}));
    for name in targets {
        let state = if name == "H" {
            json!({"Type": "Pass", "End": true})
        } else {
            json!({"Type": "Pass", "Result": name, "End": true})
        };
        states.insert(name, state);
    }
    definition
}

/// The first retrier of state `T` of a definition.
fn retrier(retry: Value) -> Retrier {
    let machine = StateMachine::parse(&task("test:echo", json!({"Retry": [retry]}))).unwrap();
    match &machine.states["T"].kind {
        Kind::Task(task) => task.retry[0].clone(),
        _ => unreachable!(),
    }
}

fn secs(retrier: &Retrier, retries: u64) -> Vec<f64> {
    (0..retries)
        .map(|n| retry_delay(retrier, n).as_secs_f64())
        .collect()
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
    assert_eq!(count(&outcome, "TaskFailed"), 2);
}

/// docs: concepts-error-handling: "A value of 0 specifies that the error or errors
/// are never retried"; the first retrier whose ErrorEquals matches decides.
#[tokio::test]
async fn max_attempts_zero_never_retries_and_the_first_matching_retrier_decides() {
    let script = Script::new();
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
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "Boom");
    assert_eq!(script.requests.lock().unwrap().len(), 1);
}

/// docs: concepts-error-handling ("Fallback states", "Error output"): the catcher
/// whose ErrorEquals matches routes the error output to its ResultPath;
/// States.TaskFailed matches a task's own error names.
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

/// docs: concepts-error-handling (BackoffRate, MaxDelaySeconds): each interval is
/// the previous one times BackoffRate, capped at MaxDelaySeconds.
#[test]
fn retry_delays_grow_by_the_backoff_rate_up_to_max_delay() {
    let retrier = retrier(
        json!({"ErrorEquals": ["X"], "IntervalSeconds": 3, "BackoffRate": 2.0, "MaxDelaySeconds": 10, "MaxAttempts": 5}),
    );
    assert_eq!(secs(&retrier, 4), [3.0, 6.0, 10.0, 10.0]);
}

/// docs: concepts-error-handling: "MaxDelaySeconds caps the interval"; FULL jitter
/// draws each delay in [0, computed delay].
#[tokio::test]
async fn max_delay_seconds_caps_jittered_retry_intervals() {
    let started = Instant::now();
    let outcome = execute_with(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "test:flaky:3:Boom",
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 10, "MaxAttempts": 3,
                       "BackoffRate": 10.0, "MaxDelaySeconds": 20, "JitterStrategy": "FULL"}],
            "End": true
        }}}),
        json!({}),
        Script::new(),
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

/// docs: concepts-error-handling ("Fallback states"): "Step Functions scans through
/// the catchers in the order listed in the array".
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

/// docs: concepts-error-handling ("Error output"): "If you don't specify the
/// ResultPath field, it defaults to $, which selects and overwrites the entire
/// input."
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

/// docs: concepts-error-handling with GetExecutionHistory: a retried task is
/// scheduled again, with a TaskFailed before each retry and no new state entry.
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
    let scheduled = events(&outcome, "TaskScheduled");
    assert_eq!(
        scheduled[0]["taskScheduledEventDetails"]["resource"],
        "test:flaky:1:Boom"
    );
    let failed = events(&outcome, "TaskFailed");
    assert_eq!(failed[0]["taskFailedEventDetails"]["error"], "Boom");
}

/// docs: concepts-error-handling ("Retrier fields"): IntervalSeconds 1,
/// MaxAttempts 3 and BackoffRate 2.0 by default, JitterStrategy NONE.
#[tokio::test]
async fn retrier_defaults_are_one_second_three_attempts_and_a_backoff_of_two() {
    let defaults = retrier(json!({"ErrorEquals": ["Boom"]}));
    assert_eq!(defaults.interval_seconds, 1);
    assert_eq!(defaults.max_attempts, 3);
    assert_eq!(defaults.backoff_rate, 2.0);
    assert_eq!(defaults.max_delay_seconds, None);
    assert_eq!(defaults.jitter, Jitter::None);
    assert_eq!(secs(&defaults, 3), [1.0, 2.0, 4.0]);
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:fail:Boom",
            json!({"Retry": [{"ErrorEquals": ["Boom"]}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "Boom");
    assert_eq!(script.calls_of("T"), 4);
}

/// docs: concepts-error-handling (BackoffRate "must be greater than or equal to
/// 1.0"): at 1.0 every retry waits IntervalSeconds.
#[test]
fn a_backoff_rate_of_one_keeps_the_interval_constant() {
    let constant = retrier(
        json!({"ErrorEquals": ["X"], "IntervalSeconds": 2, "BackoffRate": 1.0, "MaxAttempts": 4}),
    );
    assert_eq!(secs(&constant, 4), [2.0, 2.0, 2.0, 2.0]);
}

/// docs: concepts-error-handling: "This example of a Retry makes 2 retry attempts
/// after waiting for 3 and 4.5 seconds" (IntervalSeconds 3, BackoffRate 1.5).
#[test]
fn the_docs_retry_example_waits_three_then_four_and_a_half_seconds() {
    let example = retrier(
        json!({"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}),
    );
    assert_eq!(example.max_attempts, 2);
    assert_eq!(secs(&example, 2), [3.0, 4.5]);
}

/// docs: concepts-error-handling (IntervalSeconds, BackoffRate): the waits really
/// happen, scaled by the clock (10 s then 20 s nominal, 0.3 s at scale 0.01).
#[tokio::test]
async fn the_retry_intervals_are_waited() {
    let started = Instant::now();
    let outcome = execute_with(
        task(
            "test:flaky:2:Boom",
            json!({"Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 10, "MaxAttempts": 2}]}),
        ),
        json!({}),
        Script::new(),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome)["attempt"], 3);
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

/// docs: concepts-error-handling (MaxDelaySeconds): it "limits the exponential
/// wait times resulting from the backoff rate multiplier".
#[test]
fn max_delay_seconds_caps_an_exponential_backoff() {
    let capped = retrier(
        json!({"ErrorEquals": ["X"], "IntervalSeconds": 1, "BackoffRate": 10.0, "MaxDelaySeconds": 5, "MaxAttempts": 10}),
    );
    assert_eq!(secs(&capped, 4), [1.0, 5.0, 5.0, 5.0]);
    // A huge backoff stays finite, and capped.
    assert_eq!(retry_delay(&capped, 1000), Duration::from_secs(5));
}

/// docs: concepts-error-handling (JitterStrategy FULL): each wait is a random
/// fraction of the computed interval, so it lies in [0, interval]; NONE waits the
/// interval itself.
#[test]
fn full_jitter_scales_the_computed_delay_by_the_draw() {
    let full = retrier(
        json!({"ErrorEquals": ["X"], "IntervalSeconds": 4, "BackoffRate": 2.0, "JitterStrategy": "FULL"}),
    );
    assert_eq!(full.jitter, Jitter::Full);
    for (retry, computed) in [(0, 4.0), (1, 8.0), (2, 16.0)] {
        for unit in [0.0, 0.25, 0.5, 0.999] {
            let delay = jittered_delay(&full, retry, unit).as_secs_f64();
            assert!((delay - computed * unit).abs() < 1e-9, "{delay}");
            assert!(delay <= computed);
        }
    }
    let none =
        retrier(json!({"ErrorEquals": ["X"], "IntervalSeconds": 4, "JitterStrategy": "NONE"}));
    assert_eq!(jittered_delay(&none, 1, 0.1), Duration::from_secs(8));
}

/// docs: concepts-error-handling (MaxDelaySeconds with JitterStrategy): the cap
/// applies before the draw, so no jittered wait exceeds it.
#[test]
fn full_jitter_never_exceeds_max_delay_seconds() {
    let full = retrier(
        json!({"ErrorEquals": ["X"], "IntervalSeconds": 10, "BackoffRate": 3.0,
                               "MaxDelaySeconds": 12, "JitterStrategy": "FULL", "MaxAttempts": 9}),
    );
    for retry in 0..8 {
        for unit in [0.0, 0.5, 0.999_999] {
            assert!(jittered_delay(&full, retry, unit) <= Duration::from_secs(12));
        }
    }
}

/// docs: concepts-error-handling (JitterStrategy "accepts the following values:
/// FULL, NONE").
#[test]
fn jitter_strategy_is_full_or_none() {
    assert_rejected(
        task(
            "test:echo",
            json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "PARTIAL"}]}),
        ),
        &["/States/T/Retry/0/JitterStrategy: \"PARTIAL\" is not FULL or NONE"],
    );
}

/// docs: concepts-error-handling ("Complex retry scenarios"): "A retrier's
/// parameters apply across all visits to the retrier": two error names in one
/// retrier share its MaxAttempts.
#[tokio::test]
async fn error_names_in_one_retrier_share_its_attempts() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:seq:ErrorA,ErrorB,ErrorA",
            json!({"Retry": [{"ErrorEquals": ["ErrorA", "ErrorB"], "MaxAttempts": 2}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "ErrorA");
    assert_eq!(script.calls_of("T"), 3);
}

/// docs: concepts-error-handling ("Complex retry scenarios"): errors ErrorA, ErrorB,
/// ErrorC, ErrorB: waits of 1 and 2 s (first retrier), 5 s (second), then the first
/// retrier has no attempts left and the Catch sends the execution to Z.
#[tokio::test]
async fn the_docs_complex_retry_scenario_ends_in_the_catcher() {
    let script = Script::new();
    let started = Instant::now();
    let outcome = execute_with(
        json!({"StartAt": "X", "States": {
            "X": {"Type": "Task", "Resource": "test:seq:ErrorA,ErrorB,ErrorC,ErrorB,ErrorB", "Next": "Y",
                  "Retry": [
                      {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
                      {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
                  ],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]},
            "Y": {"Type": "Pass", "Result": "Y", "End": true},
            "Z": {"Type": "Pass", "End": true}
        }}),
        json!({}),
        script.clone(),
        0.01,
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"Error": "ErrorB", "Cause": "call 4"})
    );
    assert_eq!(script.calls_of("X"), 4);
    // 1 + 2 + 5 s nominal at scale 0.01.
    assert!(
        started.elapsed() >= Duration::from_millis(75),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(entered(&outcome), ["X", "Z"]);
}

/// docs: concepts-error-handling ("Complex retry scenarios"): each retrier keeps
/// its own count of attempts.
#[tokio::test]
async fn each_retrier_counts_its_own_attempts() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:seq:A,B",
            json!({"Parameters": {"ok": true}, "Retry": [
                {"ErrorEquals": ["A"], "MaxAttempts": 1},
                {"ErrorEquals": ["B"], "MaxAttempts": 1}
            ]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!({"ok": true}));
    assert_eq!(script.calls_of("T"), 3);
}

/// docs: concepts-error-handling: "When a state has both Retry and Catch fields,
/// Step Functions uses any appropriate retriers first, and only afterward applies
/// the matching catcher transition if the retry policy fails to resolve the error."
#[tokio::test]
async fn retries_are_exhausted_before_the_catcher() {
    let script = Script::new();
    let outcome = execute_with(
        task_with_handlers(
            "test:fail:Always",
            json!({"Retry": [{"ErrorEquals": ["Always"], "MaxAttempts": 2}],
                   "Catch": [{"ErrorEquals": ["Always"], "ResultPath": "$.error", "Next": "H"}]}),
        ),
        json!({"in": 1}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(script.calls_of("T"), 3);
    assert_eq!(count(&outcome, "TaskFailed"), 3);
    assert_eq!(
        output(&outcome),
        json!({"in": 1, "error": {"Error": "Always", "Cause": "it failed"}})
    );
    assert_eq!(entered(&outcome), ["T", "H"]);
}

/// docs: input-output-contextobject (`$$.State.RetryCount`): 0 on the first
/// attempt, then the number of retries so far.
#[tokio::test]
async fn the_context_retry_count_counts_the_attempts() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:flaky:3:Boom",
            json!({"Parameters": {"rc.$": "$$.State.RetryCount"},
                   "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 3}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome)["retry_count"], 3);
    assert_eq!(script.parameters(), [0, 1, 2, 3].map(|n| json!({"rc": n})));
    let scheduled: Vec<Value> = events(&outcome, "TaskScheduled")
        .iter()
        .map(|e| json_field(&e["taskScheduledEventDetails"]["parameters"]))
        .collect();
    assert_eq!(scheduled, [0, 1, 2, 3].map(|n| json!({"rc": n})));
}

/// docs: input-output-contextobject: RetryCount belongs to the state: the next
/// state starts again from 0.
#[tokio::test]
async fn the_next_state_starts_with_a_retry_count_of_zero() {
    let outcome = execute(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "test:flaky:1:Boom",
                  "Retry": [{"ErrorEquals": ["Boom"]}], "Next": "U"},
            "U": {"Type": "Task", "Resource": "test:context", "End": true}
        }}),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome)["State"]["RetryCount"], 0);
    assert_eq!(output(&outcome)["State"]["Name"], "U");
}

/// docs: input-output-resultpath ("ResultPath null" with Catch): the error output
/// is discarded and the state's input goes to the catcher's Next.
#[tokio::test]
async fn a_catch_with_result_path_null_passes_the_input_on() {
    let outcome = execute(
        task_with_handlers(
            "test:fail:E",
            json!({"Catch": [{"ErrorEquals": ["E"], "ResultPath": null, "Next": "H"}]}),
        ),
        json!({"keep": [1, 2]}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"keep": [1, 2]}));
}

/// docs: input-output-resultpath: a catcher's ResultPath creates the fields it
/// names.
#[tokio::test]
async fn a_catch_result_path_creates_nested_fields() {
    let outcome = execute(
        task_with_handlers(
            "test:fail:E",
            json!({"Catch": [{"ErrorEquals": ["E"], "ResultPath": "$.errors.last", "Next": "H"}]}),
        ),
        json!({"x": 1}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"x": 1, "errors": {"last": {"Error": "E", "Cause": "it failed"}}})
    );
}

/// docs: concepts-error-handling ("Fallback states"): "Each catcher can specify
/// multiple errors to handle."
#[tokio::test]
async fn a_catcher_can_name_several_errors() {
    let outcome = execute(
        task_with_handlers(
            "test:fail:Second",
            json!({"Catch": [{"ErrorEquals": ["First", "Second"], "Next": "Right"}, {"ErrorEquals": ["States.ALL"], "Next": "Wrong"}]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(output(&outcome), json!("Right"));
}

/// docs: concepts-error-handling: "By default, when a state reports an error, AWS
/// Step Functions causes the execution to fail entirely": with no matching catcher
/// the task's own error and cause end the execution.
#[tokio::test]
async fn an_error_no_catcher_matches_fails_the_execution() {
    let outcome = execute(
        task_with_handlers(
            "test:fail:Unexpected",
            json!({"Retry": [{"ErrorEquals": ["Other"]}], "Catch": [{"ErrorEquals": ["Other"], "Next": "H"}]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(
        failure(&outcome),
        ("Unexpected".to_string(), "it failed".to_string())
    );
    assert_eq!(entered(&outcome), ["T"]);
}

/// docs: concepts-error-handling ("Handling a timeout using Retry"): a task over its
/// TimeoutSeconds fails with States.Timeout, which a retrier naming it retries.
#[tokio::test]
async fn a_timed_out_task_is_retried_on_states_timeout() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:slowfirst:3000",
            json!({"TimeoutSeconds": 2, "Parameters": {"done": true},
                   "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2}]}),
        ),
        json!({}),
        script.clone(),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!({"done": true}));
    assert_eq!(script.calls_of("T"), 2);
    assert_eq!(count(&outcome, "TaskTimedOut"), 1);
    let timed_out = events(&outcome, "TaskTimedOut");
    assert_eq!(
        timed_out[0]["taskTimedOutEventDetails"]["error"],
        "States.Timeout"
    );
}

/// docs: concepts-error-handling: States.TaskFailed "matches any known error name
/// except for States.Timeout": a timeout is neither retried nor caught by it.
#[tokio::test]
async fn states_task_failed_does_not_match_a_timeout() {
    let script = Script::new();
    let outcome = execute_with(
        task_with_handlers(
            "test:sleep:3000",
            json!({"TimeoutSeconds": 1,
                   "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
                   "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                             {"ErrorEquals": ["States.Timeout"], "Next": "Right"}]}),
        ),
        json!({}),
        script.clone(),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!("Right"));
    assert_eq!(script.calls_of("T"), 1);
}

/// docs: concepts-error-handling: States.ALL "matches any known error name",
/// States.Timeout included.
#[tokio::test]
async fn states_all_retries_a_timeout() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:slowfirst:3000",
            json!({"TimeoutSeconds": 1, "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]}),
        ),
        json!({"n": 1}),
        script.clone(),
        0.01,
    )
    .await;
    assert_eq!(output(&outcome), json!({"n": 1}));
    assert_eq!(script.calls_of("T"), 2);
}

/// docs: concepts-error-handling: States.ALL "must appear alone in the ErrorEquals
/// array", in retriers and catchers alike.
#[test]
fn states_all_must_appear_alone() {
    assert_rejected(
        task_with_handlers(
            "test:echo",
            json!({"Retry": [{"ErrorEquals": ["Boom", "States.ALL"]}],
                   "Catch": [{"ErrorEquals": ["States.ALL", "Boom"], "Next": "H"}]}),
        ),
        &[
            "/States/T/Retry/0/ErrorEquals: States.ALL must appear alone",
            "/States/T/Catch/0/ErrorEquals: States.ALL must appear alone",
        ],
    );
}

/// docs: concepts-error-handling: States.ALL "must appear in the last retrier in
/// the Retry array" (and the last catcher in the Catch array).
#[test]
fn states_all_must_be_in_the_last_retrier_and_catcher() {
    assert_rejected(
        task_with_handlers(
            "test:echo",
            json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["Boom"]}],
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}, {"ErrorEquals": ["Boom"], "Next": "H"}]}),
        ),
        &[
            "/States/T/Retry/0: States.ALL must be in the last retrier",
            "/States/T/Catch/0: States.ALL must be in the last catcher",
        ],
    );
    // Alone and last is fine.
    StateMachine::parse(&task_with_handlers(
        "test:echo",
        json!({"Retry": [{"ErrorEquals": ["Boom"]}, {"ErrorEquals": ["States.ALL"]}],
               "Catch": [{"ErrorEquals": ["Boom"], "Next": "H"}, {"ErrorEquals": ["States.ALL"], "Next": "H"}]}),
    ))
    .unwrap();
}

/// docs: concepts-error-handling ("Retrier fields"): IntervalSeconds and MaxAttempts
/// at most 99999999 (IntervalSeconds at least 1, MaxAttempts at least 0),
/// BackoffRate at least 1.0, MaxDelaySeconds greater than 0 and less than 31622401.
#[test]
fn retrier_fields_are_bounded() {
    let rejected = [
        ("IntervalSeconds", json!(0), "from 1 to 99999999"),
        ("IntervalSeconds", json!(100_000_000), "from 1 to 99999999"),
        ("MaxAttempts", json!(-1), "from 0 to 99999999"),
        ("MaxAttempts", json!(100_000_000), "from 0 to 99999999"),
        ("MaxAttempts", json!(1.5), "from 0 to 99999999"),
        ("MaxDelaySeconds", json!(0), "from 1 to 31622400"),
        ("MaxDelaySeconds", json!(31_622_401), "from 1 to 31622400"),
        ("BackoffRate", json!(0.5), "at least 1.0"),
        ("BackoffRate", json!("2"), "at least 1.0"),
    ];
    for (field, value, problem) in rejected {
        assert_rejected(
            task(
                "test:echo",
                json!({"Retry": [{"ErrorEquals": ["X"], field: value}]}),
            ),
            &[&format!("/States/T/Retry/0/{field}: must be a"), problem],
        );
    }
    let edge = retrier(json!({"ErrorEquals": ["X"], "IntervalSeconds": 99_999_999,
        "MaxAttempts": 99_999_999, "MaxDelaySeconds": 31_622_400, "BackoffRate": 1.0}));
    assert_eq!(edge.max_delay_seconds, Some(31_622_400));
}

/// docs: concepts-error-handling: ErrorEquals is "a non-empty array of strings".
#[test]
fn error_equals_is_a_non_empty_array_of_strings() {
    assert_rejected(
        task_with_handlers(
            "test:echo",
            json!({"Retry": [{"ErrorEquals": []}, {"MaxAttempts": 1}],
                   "Catch": [{"ErrorEquals": [1], "Next": "H"}]}),
        ),
        &[
            "/States/T/Retry/0/ErrorEquals: must be a non-empty array",
            "/States/T/Retry/1/ErrorEquals: must be a non-empty array",
            "/States/T/Catch/0/ErrorEquals: error names are strings",
        ],
    );
}

/// docs: concepts-error-handling ("Fallback states"): a catcher's Next is required
/// and "must exactly match one of the state machine's state names".
#[test]
fn a_catcher_needs_a_next_state_of_the_same_scope() {
    assert_rejected(
        task(
            "test:echo",
            json!({"Catch": [{"ErrorEquals": ["A"]}, {"ErrorEquals": ["B"], "Next": "Nowhere"}]}),
        ),
        &[
            "/States/T/Catch/0/Next: required",
            "/States/T/Catch/1/Next: \"Nowhere\" is not a state of this scope",
        ],
    );
    // The missing Next is reported once, not also as a target named "".
    let text = problems(task(
        "test:echo",
        json!({"Catch": [{"ErrorEquals": ["A"]}]}),
    ));
    assert_eq!(text, "/States/T/Catch/0/Next: required");
}

/// docs: concepts-error-handling ("Error output") with GetExecutionHistory: the
/// caught state exits with the error output, which the catcher's Next enters with.
#[tokio::test]
async fn the_caught_state_exits_with_the_error_output() {
    let outcome = execute(
        task_with_handlers(
            "test:fail:E",
            json!({"Catch": [{"ErrorEquals": ["E"], "Next": "H"}]}),
        ),
        json!({"in": 1}),
    )
    .await;
    let error_output = json!({"Error": "E", "Cause": "it failed"});
    assert_eq!(
        types(&outcome),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let exited = events(&outcome, "TaskStateExited");
    assert_eq!(
        json_field(&exited[0]["stateExitedEventDetails"]["output"]),
        error_output
    );
    let handler = events(&outcome, "PassStateEntered");
    assert_eq!(handler[0]["stateEnteredEventDetails"]["name"], "H");
    assert_eq!(
        json_field(&handler[0]["stateEnteredEventDetails"]["input"]),
        error_output
    );
    // The catcher's transition is billed like any other: T, then H.
    assert_eq!(outcome.transitions, 2);
}

/// docs: concepts-error-handling: once the matching retrier has no attempts left,
/// a later retrier that also matches does not take over ("the first retrier whose
/// ErrorEquals matches" applies its policy; then normal error handling resumes).
#[tokio::test]
async fn an_exhausted_retrier_does_not_fall_through_to_a_later_one() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:fail:Boom",
            json!({"Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1},
                             {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "Boom");
    assert_eq!(script.calls_of("T"), 2);
}

/// docs: concepts-error-handling: States.TaskFailed "acts as a wildcard" for a
/// task's errors in a retrier too.
#[tokio::test]
async fn states_task_failed_retries_a_task_error() {
    let script = Script::new();
    let outcome = execute_with(
        task(
            "test:flaky:1:Lambda.ServiceException",
            json!({"Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]}),
        ),
        json!({}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome)["attempt"], 2);
    assert_eq!(script.calls_of("T"), 2);
}
