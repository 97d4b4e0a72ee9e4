//! Static checks of `statemachine/ensemble-training.asl.json`: the talk's lessons,
//! enforced. Every failure fails the same way; nothing is unreachable; every value
//! the ASL reads from generate-config exists.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::asl::{
    all_states, definition, generated_for, input_reads, paths_from, placeholders, reachable,
    read_repo_file, resolve, result_selector_reads, scopes, successors,
};
use serde_json::{json, Value};
use shared::naming::{ATTEMPT_DIGITS_MAX, ATTEMPT_MARKER};
use shared::ErrorKind;

const SNS_PUBLISH: &str = "arn:aws:states:::sns:publish";
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
const FAIL_ERROR: &str = "EnsembleTrainingFailed";
const LAMBDA_SERVICE_ERRORS: [&str; 4] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

fn is_worker(state: &Value) -> bool {
    matches!(state["Type"].as_str(), Some("Task" | "Parallel" | "Map"))
}

fn resource(state: &Value) -> &str {
    state["Resource"].as_str().unwrap_or_default()
}

fn top_level() -> (Value, serde_json::Map<String, Value>) {
    let def = definition();
    let states = def["States"].as_object().cloned().unwrap_or_default();
    (def, states)
}

/// The states reached from any top-level Catch: the failure path.
fn failure_path(states: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for state in states.values() {
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            if let Some(next) = catcher["Next"].as_str() {
                out.extend(reachable(states, next));
            }
        }
    }
    out
}

#[test]
fn the_definition_parses_and_names_the_talks_states() {
    let (def, states) = top_level();
    assert_eq!(def["StartAt"], "Generate Config");
    for name in [
        "Generate Config",
        "Copy Execution Data",
        "Fetch Preprocessed Data",
        "Base Model Training",
        "Base Model Inference",
        "Train Sequence Model",
        "Aggregate Metrics",
        "Quality Gate",
        "Notify Success",
        "Format Failure",
        "Notify Failure",
    ] {
        assert!(states.contains_key(name), "missing state {name:?}");
    }
    let everything = all_states(&def);
    for name in [
        "Train Text Model",
        "Train Image Model",
        "Reuse Text Model",
        "Reuse Image Model",
    ] {
        assert!(
            everything.contains_key(name),
            "missing branch state {name:?}"
        );
    }
    assert_eq!(states["Base Model Training"]["Type"], "Parallel");
    assert_eq!(states["Base Model Inference"]["Type"], "Parallel");
    assert_eq!(
        resource(&states["Fetch Preprocessed Data"]),
        "arn:aws:states:::batch:submitJob.sync"
    );
    for name in ["Train Text Model", "Train Image Model"] {
        assert_eq!(
            resource(&everything[name].1),
            "arn:aws:states:::sagemaker:createTrainingJob.sync"
        );
    }
    assert_eq!(
        resource(&states["Train Sequence Model"]),
        "arn:aws:states:::sagemaker:createTrainingJob.sync"
    );
    assert!(
        def["TimeoutSeconds"].as_u64().is_some(),
        "an execution without a timeout can run for a year"
    );
}

#[test]
fn every_transition_targets_an_existing_state_in_its_scope() {
    let def = definition();
    for scope in scopes(&def) {
        assert!(
            scope.states.contains_key(scope.start_at),
            "{}: StartAt {:?}",
            scope.name,
            scope.start_at
        );
        for (name, state) in scope.states {
            for (kind, target) in successors(state) {
                assert!(
                    scope.states.contains_key(&target),
                    "{}: {name} {kind} → {target:?} does not exist",
                    scope.name
                );
            }
            let terminal = matches!(state["Type"].as_str(), Some("Succeed" | "Fail" | "Choice"));
            let ends = state["End"] == json!(true);
            let has_next = state["Next"].is_string();
            if !terminal {
                assert!(
                    ends ^ has_next,
                    "{}: {name} needs exactly one of Next and End",
                    scope.name
                );
            }
        }
    }
}

#[test]
fn no_state_is_unreachable() {
    let def = definition();
    for scope in scopes(&def) {
        let seen = reachable(scope.states, scope.start_at);
        let unreachable: Vec<_> = scope.states.keys().filter(|k| !seen.contains(*k)).collect();
        assert!(
            unreachable.is_empty(),
            "{}: unreachable states {unreachable:?}",
            scope.name
        );
    }
}

#[test]
fn every_worker_outside_the_failure_path_catches_everything() {
    let (_, states) = top_level();
    let failure = failure_path(&states);
    assert!(failure.contains("Format Failure") && failure.contains("Notify Failure"));
    for (name, state) in &states {
        if !is_worker(state) || failure.contains(name) {
            continue;
        }
        let catchers = state["Catch"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Catch"));
        let catch_all = catchers
            .iter()
            .find(|c| {
                c["ErrorEquals"]
                    .as_array()
                    .is_some_and(|e| e.contains(&json!("States.ALL")))
            })
            .unwrap_or_else(|| panic!("{name} has no States.ALL Catch"));
        let result_path = catch_all["ResultPath"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Catch must keep the input"));
        let key: String = name.split_whitespace().collect();
        assert_eq!(
            result_path,
            format!("$.failure.{key}"),
            "{name}: the Catch must record the failed state's key"
        );
    }
}

#[test]
fn every_caught_failure_publishes_once_and_ends_in_fail() {
    let (_, states) = top_level();
    let mut targets = BTreeSet::new();
    for state in states.values() {
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            targets.extend(catcher["Next"].as_str().map(str::to_string));
        }
    }
    // The quality gate's "no" is a failure too.
    targets.insert("Quality Gate Not Met".to_string());
    for target in targets {
        for path in paths_from(&states, &target) {
            let last = path.last().map(String::as_str).unwrap_or_default();
            assert_eq!(
                states[last]["Type"], "Fail",
                "failure path {path:?} does not end in Fail"
            );
            assert_eq!(states[last]["Error"], FAIL_ERROR, "{path:?}");
            let publishes = path
                .iter()
                .filter(|s| resource(&states[s.as_str()]) == SNS_PUBLISH)
                .count();
            assert_eq!(
                publishes, 1,
                "failure path {path:?} must publish exactly one notification"
            );
            assert!(
                path.iter().all(|s| states[s.as_str()]["Type"] != "Succeed"),
                "a caught error reaches success: {path:?}"
            );
        }
    }
}

#[test]
fn the_success_path_publishes_and_succeeds() {
    let (_, states) = top_level();
    let succeed: Vec<_> = states
        .iter()
        .filter(|(_, s)| s["Type"] == "Succeed")
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(succeed.len(), 1);
    let preds: Vec<_> = states
        .iter()
        .filter(|(_, s)| successors(s).iter().any(|(_, n)| *n == succeed[0]))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(preds, vec!["Notify Success"]);
    assert_eq!(resource(&states["Notify Success"]), SNS_PUBLISH);
    let gate = &states["Quality Gate"];
    assert_eq!(gate["Type"], "Choice");
    assert_eq!(gate["Choices"][0]["Next"], "Notify Success");
    assert_eq!(
        gate["Default"], "Quality Gate Not Met",
        "an unmet or missing gate must fail"
    );
}

#[test]
fn branch_states_leave_failures_to_their_parallel() {
    // A Catch inside a branch would end the branch "successfully" or notify twice;
    // the enclosing Parallel's Catch is the one place failures are handled.
    let def = definition();
    for scope in scopes(&def).into_iter().filter(|s| s.name != "top") {
        for (name, state) in scope.states {
            assert!(
                state["Catch"].is_null(),
                "{}: {name} must not catch",
                scope.name
            );
            assert_ne!(state["Type"], "Succeed", "{}: {name}", scope.name);
            assert_ne!(state["Type"], "Fail", "{}: {name}", scope.name);
        }
    }
}

#[test]
fn lambda_tasks_retry_service_errors_and_name_only_known_error_types() {
    let def = definition();
    let ours: BTreeSet<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    for (name, (_, state)) in all_states(&def) {
        if state["Type"] != "Task" {
            continue;
        }
        let retriers = state["Retry"].as_array().cloned().unwrap_or_default();
        if resource(&state) == LAMBDA_INVOKE {
            let first = retriers
                .first()
                .unwrap_or_else(|| panic!("{name} has no Retry"));
            for error in LAMBDA_SERVICE_ERRORS {
                assert!(
                    first["ErrorEquals"]
                        .as_array()
                        .is_some_and(|e| e.contains(&json!(error))),
                    "{name}: {error}"
                );
            }
            assert!(
                state["TimeoutSeconds"].as_u64().is_some(),
                "{name}: a Lambda task needs TimeoutSeconds"
            );
            assert!(
                state["ResultSelector"].is_object(),
                "{name}: unwrap the Payload with a ResultSelector"
            );
        }
        for retrier in &retriers {
            for error in retrier["ErrorEquals"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let namespaced = ["States.", "Lambda.", "SageMaker.", "SNS.", "Batch."]
                    .iter()
                    .any(|p| error.starts_with(p));
                assert!(
                    namespaced || ours.contains(error),
                    "{name} retries unknown error {error:?}"
                );
                assert_ne!(
                    error, "States.ALL",
                    "{name}: retrying everything retries bugs"
                );
            }
            assert!(
                retrier["BackoffRate"].is_f64(),
                "{name}: BackoffRate must be a float"
            );
        }
    }
}

#[test]
fn sagemaker_jobs_retry_throttling_and_quotas_and_are_named_per_attempt() {
    let def = definition();
    let mut sync_tasks = 0;
    for (name, (_, state)) in all_states(&def) {
        let res = resource(&state);
        if !res.starts_with("arn:aws:states:::sagemaker:") {
            continue;
        }
        let errors: Vec<String> = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        assert!(
            errors.contains(&"SageMaker.AmazonSageMakerException".to_string()),
            "{name}"
        );
        if !res.ends_with(".sync") {
            continue;
        }
        sync_tasks += 1;
        assert!(
            errors.contains(&"SageMaker.ResourceLimitExceededException".to_string()),
            "{name}"
        );
        let attempts: u64 = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["MaxAttempts"].as_u64())
            .sum();
        assert!(
            attempts < 10u64.pow(ATTEMPT_DIGITS_MAX as u32),
            "{name}: RetryCount could overflow the job name"
        );
        let name_key = if res.contains("TrainingJob") {
            "TrainingJobName.$"
        } else {
            "TransformJobName.$"
        };
        let expr = state["Parameters"][name_key]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {name_key}"));
        assert!(
            expr.starts_with("States.Format('{}{}', $.generated.")
                && expr.ends_with("_prefix, $$.State.RetryCount)"),
            "{name}: {expr}"
        );
        let selector = state["ResultSelector"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: trim the job description"));
        assert!(
            selector.len() <= 4,
            "{name}: keep only what later states need"
        );
    }
    assert_eq!(sync_tasks, 5, "three trainings and two transforms");
    assert!(ATTEMPT_MARKER.starts_with('-'));
}

#[test]
fn every_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let used = placeholders(&read_repo_file("statemachine/ensemble-training.asl.json"));
    let template: serde_yaml::Value =
        serde_yaml::from_str(&read_repo_file("template.yaml")).unwrap();
    let substitutions = &template["Resources"]["EnsembleTrainingStateMachine"]["Properties"]
        ["DefinitionSubstitutions"];
    let defined: BTreeSet<String> = substitutions
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    assert_eq!(used, defined);
    for name in &defined {
        let value = &substitutions[name.as_str()];
        if let Some(logical_id) = name
            .strip_suffix("Arn")
            .filter(|id| template["Resources"].get(*id).is_some())
        {
            // `<LogicalId>Arn` names point at that resource.
            let rendered = format!("{value:?}");
            assert!(
                rendered.contains(logical_id),
                "{name} must reference {logical_id}: {rendered}"
            );
        }
    }
}

#[test]
fn the_fail_state_error_is_the_one_the_eventbridge_rule_skips() {
    let (_, states) = top_level();
    let fails: Vec<_> = states.values().filter(|s| s["Type"] == "Fail").collect();
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0]["Error"], FAIL_ERROR);
    let template = read_repo_file("template.yaml");
    assert!(
        template.contains(&format!("anything-but: [{FAIL_ERROR}]")),
        "the EventBridge rule must skip notified failures"
    );
}

#[test]
fn every_generated_path_the_asl_reads_exists() {
    let def = definition();
    let mut checked = 0;
    for (example, execution) in [
        ("examples/execution-input.json", "nightly-2026-11-27"),
        ("examples/execution-input-rerun.json", "nightly-2026-11-28"),
    ] {
        let generated = generated_for(example, execution);
        // The copy loop replaces `generated.copy` with its own result shape.
        let mut after_copy = generated.clone();
        let copy_selector = &def["States"]["Copy Execution Data"]["ResultSelector"];
        after_copy["copy"] = copy_selector
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (k.trim_end_matches(".$").to_string(), json!(false)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        for (name, (_, state)) in all_states(&def) {
            for (location, path) in input_reads(&state) {
                let Some(rest) = path.strip_prefix("$.generated") else {
                    continue;
                };
                let root = if name == "Copy Execution Data" {
                    &generated
                } else {
                    &after_copy
                };
                let found = resolve(root, &format!("${rest}"));
                assert!(found.is_some(), "{example}: {name} {location} reads {path}, which generate-config does not return");
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} paths checked");
}

#[test]
fn lambda_result_selectors_read_only_what_the_functions_return() {
    let def = definition();
    let generated = generated_for("examples/execution-input.json", "nightly-2026-11-27");
    let known: BTreeMap<&str, Vec<String>> = BTreeMap::from([(
        "Generate Config",
        generated
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
    )]);
    for (state, fields) in known {
        for (_, path) in result_selector_reads(&def["States"][state]) {
            let field = path.trim_start_matches("$.Payload.");
            assert!(fields.iter().any(|f| f == field), "{state} selects {path}");
        }
    }
}

#[test]
fn choices_read_booleans_that_always_exist() {
    let generated = generated_for("examples/execution-input.json", "nightly-2026-11-27");
    for path in [
        "$.text_model.train",
        "$.image_model.train",
        "$.preprocess.enabled",
    ] {
        assert!(
            resolve(&generated, path).is_some_and(Value::is_boolean),
            "{path}"
        );
    }
    let rerun = generated_for("examples/execution-input-rerun.json", "nightly-2026-11-28");
    assert_eq!(resolve(&rerun, "$.text_model.train"), Some(&json!(false)));
    assert_eq!(
        resolve(&rerun, "$.text_model.reuse.from_execution"),
        Some(&json!("nightly-2026-11-26"))
    );
}
