//! Inline Map states end to end: ItemsPath, ItemSelector (and the legacy Parameters
//! and Iterator), `$$.Map.Item`, MaxConcurrency, ResultSelector / ResultPath /
//! OutputPath on the results array, Retry and Catch, failing iterations, nesting, the
//! history, and the fields only a Distributed Map has. Each case cites the docs page
//! it checks (state-map-inline unless said otherwise).

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::engine::{
    assert_rejected, count, error_of, events, execute, execute_with, failure, output, types, Script,
};

/// A Map state named `M` (ending the machine) whose processor is the single state
/// `processor` (named `S`), with `extra` fields merged in.
fn map(processor: Value, extra: Value) -> Value {
    let mut state = json!({
        "Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "S", "States": {"S": processor}},
        "End": true
    });
    for (k, v) in extra.as_object().unwrap() {
        state[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": state}})
}

fn pass_end() -> Value {
    json!({"Type": "Pass", "End": true})
}

fn in_flight(script: &Script) -> usize {
    script.max_in_flight.load(Ordering::SeqCst)
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
    assert_eq!(count(&outcome, "MapIterationStarted"), 3);
}

/// docs: input-output-itemspath: ItemsPath "must identify a field whose value is a
/// JSON array"; anything else is a States.Runtime error.
#[tokio::test]
async fn map_over_a_non_array_is_a_runtime_error() {
    let outcome = execute(
        map(pass_end(), json!({"ItemsPath": "$.items"})),
        json!({"items": {"not": "an array"}}),
    )
    .await;
    assert_eq!(error_of(&outcome), "States.Runtime");
}

/// docs: state-map-inline (MaxConcurrency): it bounds the iterations running at once.
#[tokio::test]
async fn map_max_concurrency_bounds_the_iterations_in_flight() {
    let script = Script::new();
    let started = Instant::now();
    let outcome = execute_with(
        map(
            json!({"Type": "Task", "Resource": "test:sleep:200", "End": true}),
            json!({"MaxConcurrency": 2}),
        ),
        json!([1, 2, 3, 4]),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([1, 2, 3, 4]));
    // Two waves of 200 ms, not one.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
    assert_eq!(in_flight(&script), 2);
}

/// docs: state-map-inline (ProcessorConfig): "If an iteration fails, the Map state
/// fails"; the error reaches the Map state's Catch.
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

/// docs: state-map-inline (ItemsPath): "If not specified, the default value of
/// ItemsPath is $": the whole input is the array.
#[tokio::test]
async fn items_path_defaults_to_the_whole_input() {
    let outcome = execute(map(pass_end(), json!({})), json!([1, "two", {"three": 3}])).await;
    assert_eq!(output(&outcome), json!([1, "two", {"three": 3}]));
}

/// docs: input-output-itemspath: a reference path to an array nested in the input.
#[tokio::test]
async fn items_path_reads_a_nested_array() {
    let outcome = execute(
        map(pass_end(), json!({"ItemsPath": "$.a.b['the items']"})),
        json!({"a": {"b": {"the items": ["x", "y"]}}}),
    )
    .await;
    assert_eq!(output(&outcome), json!(["x", "y"]));
}

/// docs: state-map (the Validate-All example): ItemsPath applies to the effective
/// input (after InputPath `$.detail`), while ResultPath `$.detail.shipped` writes
/// into the state's raw input.
#[tokio::test]
async fn the_docs_validate_all_example_replaces_the_shipped_array() {
    let outcome = execute(
        map(
            json!({"Type": "Pass", "Parameters": {"checked.$": "$.prod"}, "End": true}),
            json!({"InputPath": "$.detail", "ItemsPath": "$.shipped", "MaxConcurrency": 0,
                   "ResultPath": "$.detail.shipped"}),
        ),
        json!({"ship-date": "2016-03-14T01:59:00Z", "detail": {
            "delivery-partner": "UQS",
            "shipped": [{"prod": "R31", "dest-code": 9511}, {"prod": "S39", "dest-code": 9511}]
        }}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"ship-date": "2016-03-14T01:59:00Z", "detail": {
            "delivery-partner": "UQS",
            "shipped": [{"checked": "R31"}, {"checked": "S39"}]
        }})
    );
}

/// docs: state-map ("Map State Example with Parameters"): the legacy Parameters of
/// a Map state build each iteration's input from `$$.Map.Item.Value` and the input.
#[tokio::test]
async fn legacy_parameters_build_each_iteration_input() {
    let script = Script::new();
    let outcome = execute_with(
        json!({"StartAt": "Validate-All", "States": {"Validate-All": {
            "Type": "Map", "InputPath": "$.detail", "ItemsPath": "$.shipped", "MaxConcurrency": 0,
            "Parameters": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"},
            "Iterator": {"StartAt": "Validate", "States": {
                "Validate": {"Type": "Task", "Resource": "test:echo", "End": true}
            }},
            "ResultPath": "$.detail.shipped",
            "End": true
        }}}),
        json!({"detail": {"delivery-partner": "UQS", "shipped": [{"prod": "R31", "quantity": 1344}]}}),
        script.clone(),
        0.0,
    )
    .await;
    let each = json!({"parcel": {"prod": "R31", "quantity": 1344}, "courier": "UQS"});
    assert_eq!(script.parameters(), std::slice::from_ref(&each));
    assert_eq!(output(&outcome)["detail"]["shipped"], json!([each]));
}

/// docs: input-output-contextobject ("Context object data for Map states"): the
/// docs' ExampleMapState gives Index and Value of each item.
#[tokio::test]
async fn the_docs_context_example_gives_index_and_value() {
    let outcome = execute(
        json!({"StartAt": "ExampleMapState", "States": {"ExampleMapState": {
            "Type": "Map",
            "Parameters": {"ContextIndex.$": "$$.Map.Item.Index", "ContextValue.$": "$$.Map.Item.Value"},
            "Iterator": {"StartAt": "TestPass", "States": {"TestPass": {"Type": "Pass", "End": true}}},
            "End": true
        }}}),
        json!([{"who": "bob"}, {"who": "meg"}, {"who": "joe"}]),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([
            {"ContextIndex": 0, "ContextValue": {"who": "bob"}},
            {"ContextIndex": 1, "ContextValue": {"who": "meg"}},
            {"ContextIndex": 2, "ContextValue": {"who": "joe"}}
        ])
    );
}

/// docs: input-output-contextobject: `$$.Map.Item` is for the Map state's own
/// ItemSelector, "not within the states included in the ItemProcessor": there the
/// path finds nothing, a States.Runtime error.
#[tokio::test]
async fn states_inside_the_processor_do_not_see_map_item() {
    let outcome = execute(
        map(
            json!({"Type": "Pass", "Parameters": {"i.$": "$$.Map.Item.Index"}, "End": true}),
            json!({}),
        ),
        json!([1]),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$$.Map.Item.Index"), "{cause}");
}

/// docs: state-map-inline (ItemSelector): paths in it read the Map state's
/// effective input, not the item; the item is `$$.Map.Item.Value`.
#[tokio::test]
async fn item_selector_paths_read_the_map_input() {
    let outcome = execute(
        map(
            pass_end(),
            json!({"InputPath": "$.in", "ItemsPath": "$.list",
                   "ItemSelector": {"shared.$": "$.shared", "item.$": "$$.Map.Item.Value", "const": 1}}),
        ),
        json!({"in": {"list": ["a", "b"], "shared": "s"}}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([{"shared": "s", "item": "a", "const": 1}, {"shared": "s", "item": "b", "const": 1}])
    );
}

/// docs: state-map-inline: "When complete, the output of the Map state is a JSON
/// array"; an empty input array runs no iteration and gives `[]`.
#[tokio::test]
async fn an_empty_array_gives_an_empty_array_and_no_iterations() {
    let outcome = execute(
        map(pass_end(), json!({"ItemsPath": "$.items"})),
        json!({"items": []}),
    )
    .await;
    assert_eq!(output(&outcome), json!([]));
    assert_eq!(count(&outcome, "MapIterationStarted"), 0);
    let started = events(&outcome, "MapStateStarted");
    assert_eq!(started[0]["mapStateStartedEventDetails"]["length"], 0);
    assert_eq!(count(&outcome, "MapStateSucceeded"), 1);
}

/// docs: state-map ("MaxConcurrency"): "A MaxConcurrency value of 1 invokes the
/// Iterator once for each array element in the order of their appearance in the
/// input, and will not start a new iteration until the previous has completed."
#[tokio::test]
async fn max_concurrency_one_runs_the_items_in_order_one_at_a_time() {
    let script = Script::new();
    let outcome = execute_with(
        map(
            json!({"Type": "Task", "Resource": "test:sleep:20", "End": true}),
            json!({"MaxConcurrency": 1, "ItemSelector": {"i.$": "$$.Map.Item.Index"}}),
        ),
        json!(["a", "b", "c", "d", "e"]),
        script.clone(),
        0.0,
    )
    .await;
    let order: Vec<Value> = script.parameters().iter().map(|p| p["i"].clone()).collect();
    assert_eq!(order, [0, 1, 2, 3, 4].map(|i| json!(i)));
    assert_eq!(in_flight(&script), 1);
    assert_eq!(output(&outcome).as_array().unwrap().len(), 5);
}

/// docs: state-map ("MaxConcurrency"): "The default value is 0, which places no
/// quota on parallelism and iterations are invoked as concurrently as possible."
#[tokio::test]
async fn max_concurrency_zero_runs_the_items_at_once() {
    let script = Script::new();
    let outcome = execute_with(
        map(
            json!({"Type": "Task", "Resource": "test:sleep:100", "End": true}),
            json!({"MaxConcurrency": 0}),
        ),
        json!([1, 2, 3, 4, 5]),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([1, 2, 3, 4, 5]));
    assert_eq!(in_flight(&script), 5);
}

/// docs: state-map-inline: "In this mode, the Map state supports up to 40
/// concurrent iterations."
#[tokio::test]
async fn an_inline_map_runs_at_most_forty_iterations_at_once() {
    let script = Script::new();
    let items: Vec<Value> = (0..45).map(|i| json!(i)).collect();
    let outcome = execute_with(
        map(
            json!({"Type": "Task", "Resource": "test:sleep:50", "End": true}),
            json!({}),
        ),
        Value::Array(items.clone()),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), Value::Array(items));
    assert_eq!(in_flight(&script), 40);
}

/// docs: state-map-inline (MaxConcurrencyPath): the limit read from the input.
#[tokio::test]
async fn max_concurrency_path_reads_the_limit_from_the_input() {
    let script = Script::new();
    let outcome = execute_with(
        map(
            json!({"Type": "Task", "Resource": "test:sleep:60", "End": true}),
            json!({"ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit"}),
        ),
        json!({"items": [1, 2, 3, 4, 5], "limit": 2}),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!([1, 2, 3, 4, 5]));
    assert_eq!(in_flight(&script), 2);
}

/// docs: state-map-inline (MaxConcurrencyPath must select a whole number); AWS's
/// wording for anything else is "The MaxConcurrencyPath field refers to value ...
/// which is not a valid integer" (LocalStack's AWS-recorded snapshots).
#[tokio::test]
async fn max_concurrency_path_to_a_non_integer_is_a_runtime_error() {
    for (limit, shown) in [
        (json!("NoNumber"), "NoNumber"),
        (json!(1.5), "1.5"),
        (json!(-1), "-1"),
        (json!({}), "{}"),
    ] {
        let outcome = execute(
            map(
                pass_end(),
                json!({"ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit"}),
            ),
            json!({"items": [1], "limit": limit}),
        )
        .await;
        let (error, cause) = failure(&outcome);
        assert_eq!(error, "States.Runtime", "{limit}");
        assert_eq!(
            cause,
            format!("The MaxConcurrencyPath field refers to value \"{shown}\" which is not a valid integer: $.limit")
        );
    }
}

/// docs: input-output-inputpath-params ("ResultSelector"): it reads the array of
/// iteration results.
#[tokio::test]
async fn result_selector_reads_the_results_array() {
    let outcome = execute(
        map(
            json!({"Type": "Pass", "Parameters": {"double.$": "States.MathAdd($, $)"}, "End": true}),
            json!({"ItemsPath": "$.n", "ResultSelector": {"count.$": "States.ArrayLength($)", "last.$": "$[2].double"}, "ResultPath": "$.summary"}),
        ),
        json!({"n": [1, 2, 3]}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"n": [1, 2, 3], "summary": {"count": 3, "last": 6}})
    );
}

/// docs: input-output-resultpath: ResultPath null discards the results array.
#[tokio::test]
async fn result_path_null_discards_the_results() {
    let outcome = execute(
        map(
            pass_end(),
            json!({"ItemsPath": "$.items", "ResultPath": null}),
        ),
        json!({"items": [1, 2], "keep": true}),
    )
    .await;
    assert_eq!(output(&outcome), json!({"items": [1, 2], "keep": true}));
}

/// docs: input-output-outputpath: OutputPath applies after ResultPath.
#[tokio::test]
async fn output_path_applies_after_result_path() {
    let outcome = execute(
        map(
            pass_end(),
            json!({"ItemsPath": "$.items", "ResultPath": "$.results", "OutputPath": "$.results[1]"}),
        ),
        json!({"items": ["a", "b"]}),
    )
    .await;
    assert_eq!(output(&outcome), json!("b"));
}

/// docs: state-map ("Retry"): "the retry policy applies to all the Map state
/// iterations instead of only the failed iteration".
#[tokio::test]
async fn a_retry_on_a_map_state_reruns_every_iteration() {
    let script = Script::new();
    let outcome = execute_with(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Flaky"}], "Default": "Fine"},
                "Flaky": {"Type": "Task", "Resource": "test:flaky:1:Boom", "End": true},
                "Fine": {"Type": "Pass", "End": true}
            }},
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}],
            "End": true
        }}}),
        json!([1, 2, 3]),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([1, 2, {"attempt": 2, "retry_count": 0}])
    );
    // Two attempts of three iterations; only the last iteration of the first failed.
    assert_eq!(count(&outcome, "MapIterationStarted"), 6);
    assert_eq!(count(&outcome, "MapIterationFailed"), 1);
    assert_eq!(count(&outcome, "MapIterationSucceeded"), 5);
    assert_eq!(count(&outcome, "MapStateStarted"), 2);
    assert_eq!(count(&outcome, "MapStateEntered"), 1);
}

/// docs: input-output-resultpath ("Use ResultPath to include both error and input
/// in a Catch"), on a Map state.
#[tokio::test]
async fn a_map_catch_result_path_keeps_the_input_and_adds_the_error() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemsPath": "$.items",
                  "ItemProcessor": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad.Item", "Cause": "no"}}},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!({"items": [1], "keep": "me"}),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"items": [1], "keep": "me", "error": {"Error": "Bad.Item", "Cause": "no"}})
    );
}

/// docs: state-map-inline (ProcessorConfig): "If an iteration fails, the Map state
/// fails ... all iterations stop."
#[tokio::test]
async fn a_failing_iteration_stops_the_others() {
    let script = Script::new();
    let started = Instant::now();
    let outcome = execute_with(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "bad", "Next": "Breaks"}], "Default": "Slow"},
                "Breaks": {"Type": "Task", "Resource": "test:sleepfail:50:Broken", "End": true},
                "Slow": {"Type": "Task", "Resource": "test:sleep:3000", "End": true}
            }},
            "End": true
        }}}),
        json!(["slow", "bad", "slow"]),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(error_of(&outcome), "Broken");
    assert!(started.elapsed() < Duration::from_millis(2000));
    assert_eq!(script.calls_of("Slow"), 2);
    assert_eq!(*script.finished.lock().unwrap(), ["Breaks"]);
    assert_eq!(count(&outcome, "MapIterationFailed"), 1);
    assert_eq!(count(&outcome, "MapIterationSucceeded"), 0);
    assert_eq!(count(&outcome, "MapStateFailed"), 1);
}

/// docs: state-map-inline: the results follow the item order, not the order in
/// which iterations finish.
#[tokio::test]
async fn results_keep_item_order_whatever_the_finish_order() {
    let script = Script::new();
    let outcome = execute_with(
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "slow", "Next": "Slow"}], "Default": "Fast"},
                "Slow": {"Type": "Task", "Resource": "test:sleep:150", "End": true},
                "Fast": {"Type": "Task", "Resource": "test:sleep:1", "End": true}
            }},
            "End": true
        }}}),
        json!(["slow", "fast"]),
        script.clone(),
        0.0,
    )
    .await;
    assert_eq!(output(&outcome), json!(["slow", "fast"]));
    assert_eq!(*script.finished.lock().unwrap(), ["Fast", "Slow"]);
}

/// docs: state-map-distributed ("Distributed Map state fields") and
/// state-map-inline: ToleratedFailureCount belongs to a Distributed Map; an inline
/// Map fails on its first failed iteration, so the field is rejected.
#[test]
fn tolerated_failure_count_is_rejected_on_an_inline_map() {
    for field in ["ToleratedFailureCount", "ToleratedFailureCountPath"] {
        let value = if field.ends_with("Path") {
            json!("$.n")
        } else {
            json!(1)
        };
        assert_rejected(
            map(pass_end(), json!({field: value})),
            &[&format!(
                "/States/M/{field}: only a Distributed Map tolerates failed items"
            )],
        );
    }
}

/// docs: state-map-distributed and state-map-inline, as for ToleratedFailureCount.
#[test]
fn tolerated_failure_percentage_is_rejected_on_an_inline_map() {
    for field in [
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
    ] {
        let value = if field.ends_with("Path") {
            json!("$.p")
        } else {
            json!(50)
        };
        assert_rejected(
            map(pass_end(), json!({field: value})),
            &[&format!(
                "/States/M/{field}: only a Distributed Map tolerates failed items"
            )],
        );
    }
}

/// docs: state-map-inline: a processor is a state machine, so it can hold another
/// Map; the inner ItemSelector sees the inner item and index.
#[tokio::test]
async fn nested_maps_iterate_a_matrix() {
    let outcome = execute(
        map(
            json!({"Type": "Map",
                   "ItemSelector": {"row.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
                   "ItemProcessor": {"StartAt": "Cell", "States": {
                       "Cell": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.v, 10)", "at.$": "$.row"}, "End": true}
                   }},
                   "End": true}),
            json!({}),
        ),
        json!([[1, 2], [3]]),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!([[{"v": 11, "at": 0}, {"v": 12, "at": 1}], [{"v": 13, "at": 0}]])
    );
    assert_eq!(count(&outcome, "MapStateStarted"), 3);
}

/// docs: input-output-itemspath: ItemsPath must select an array; every other JSON
/// type is a States.Runtime error.
#[tokio::test]
async fn items_path_to_any_other_type_is_a_runtime_error() {
    for value in [
        json!({"a": 1}),
        json!("text"),
        json!(3),
        json!(null),
        json!(true),
    ] {
        let outcome = execute(
            map(pass_end(), json!({"ItemsPath": "$.items"})),
            json!({"items": value}),
        )
        .await;
        let (error, cause) = failure(&outcome);
        assert_eq!(error, "States.Runtime", "{value}");
        assert!(cause.contains("must select an array"), "{cause}");
        assert_eq!(count(&outcome, "MapStateStarted"), 0);
    }
}

/// docs: input-output-itemspath with amazon-states-language-paths: a path that
/// selects nothing is a States.Runtime error.
#[tokio::test]
async fn items_path_to_a_missing_field_is_a_runtime_error() {
    let outcome = execute(
        map(pass_end(), json!({"ItemsPath": "$.nothing"})),
        json!({}),
    )
    .await;
    let (error, cause) = failure(&outcome);
    assert_eq!(error, "States.Runtime");
    assert_eq!(
        cause,
        "Invalid path '$.nothing' : No results for path: $['nothing']"
    );
}

/// docs: input-output-contextobject ("You can access the context object from ...
/// ItemsPath (in Map states)").
#[tokio::test]
async fn items_path_can_read_the_context_object() {
    let outcome = execute(
        map(
            pass_end(),
            json!({"InputPath": "$.other", "ItemsPath": "$$.Execution.Input.items"}),
        ),
        json!({"items": [7, 8], "other": {}}),
    )
    .await;
    assert_eq!(output(&outcome), json!([7, 8]));
}

/// docs: state-map-inline: ItemProcessor replaces the deprecated Iterator; a state
/// gives one or the other.
#[test]
fn item_processor_and_iterator_are_mutually_exclusive() {
    let processor = json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "End": true}}});
    assert_rejected(
        map(pass_end(), json!({"Iterator": processor})),
        &["/States/M: ItemProcessor and Iterator are mutually exclusive"],
    );
    let mut neither = map(pass_end(), json!({}));
    neither["States"]["M"]
        .as_object_mut()
        .unwrap()
        .remove("ItemProcessor");
    assert_rejected(neither, &["/States/M/ItemProcessor: required"]);
}

/// docs: state-map-inline: ItemSelector replaces the deprecated Parameters of a Map
/// state; a state gives one or the other.
#[test]
fn item_selector_and_parameters_are_mutually_exclusive() {
    assert_rejected(
        map(
            pass_end(),
            json!({"ItemSelector": {"a": 1}, "Parameters": {"b": 2}}),
        ),
        &["/States/M: ItemSelector and Parameters are mutually exclusive"],
    );
}

/// docs: state-map-distributed: DISTRIBUTED mode and its ItemReader are not what
/// this runner does; the definition says so rather than running something else.
#[test]
fn distributed_mode_fields_are_rejected() {
    let mut distributed = map(
        pass_end(),
        json!({"ItemReader": {"Resource": "arn:aws:states:::s3:getObject"}}),
    );
    distributed["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = json!("DISTRIBUTED");
    assert_rejected(
        distributed,
        &[
            "/States/M/ItemProcessor/ProcessorConfig/Mode: \"DISTRIBUTED\" is not supported (only INLINE)",
            "/States/M/ItemReader: Distributed Map is not supported by this runner",
        ],
    );
}

/// docs: state-map-inline with GetExecutionHistory's Map events: MapStateStarted
/// gives the length; each iteration is bracketed by MapIterationStarted and
/// MapIterationSucceeded with the state name and index.
#[tokio::test]
async fn the_history_records_each_iteration() {
    let outcome = execute(map(pass_end(), json!({})), json!(["a", "b"])).await;
    let t = types(&outcome);
    assert_eq!(t.first().unwrap(), "ExecutionStarted");
    assert_eq!(
        &t[1..3],
        ["MapStateEntered", "MapStateStarted"].map(String::from)
    );
    assert_eq!(
        &t[t.len() - 3..],
        ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"].map(String::from)
    );
    let started = events(&outcome, "MapStateStarted");
    assert_eq!(started[0]["mapStateStartedEventDetails"]["length"], 2);
    let mut indexes: Vec<Value> = events(&outcome, "MapIterationStarted")
        .iter()
        .map(|e| {
            assert_eq!(e["mapIterationStartedEventDetails"]["name"], "M");
            // Every iteration hangs off MapStateStarted (event 3).
            assert_eq!(e["previousEventId"], 3);
            e["mapIterationStartedEventDetails"]["index"].clone()
        })
        .collect();
    indexes.sort_by_key(|v| v.as_u64());
    assert_eq!(indexes, [json!(0), json!(1)]);
    assert_eq!(count(&outcome, "MapIterationSucceeded"), 2);
    assert_eq!(count(&outcome, "PassStateEntered"), 2);
}

/// docs: state-map-inline with state-parallel: an error in a Parallel branch inside
/// an iteration fails the iteration, then the Map state, whose Catch sees it.
#[tokio::test]
async fn an_error_nested_in_an_iteration_reaches_the_map_catch() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map",
                  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
                      {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Deep", "Cause": "inside"}}}
                  ], "End": true}}},
                  "Catch": [{"ErrorEquals": ["Deep"], "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!([1]),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"Error": "Deep", "Cause": "inside"})
    );
    assert_eq!(count(&outcome, "ParallelStateFailed"), 1);
    assert_eq!(count(&outcome, "MapIterationFailed"), 1);
    assert_eq!(count(&outcome, "MapStateFailed"), 1);
}

/// docs: concepts-error-handling ("Fallback states"): a catcher without ResultPath
/// passes the error output alone, for a Map state too.
#[tokio::test]
async fn a_map_catch_without_result_path_passes_the_error_output() {
    let outcome = execute(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map",
                  "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "test:fail:Item.Failed", "End": true}}},
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}],
                  "End": true},
            "H": {"Type": "Pass", "End": true}
        }}),
        json!([1, 2]),
    )
    .await;
    assert_eq!(
        output(&outcome),
        json!({"Error": "Item.Failed", "Cause": "it failed"})
    );
}
