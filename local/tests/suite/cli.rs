//! The `sfn-local` binary as a user runs it: stdout, stderr and exit codes.

use std::process::Command;

use serde_json::{json, Value};

fn sfn_local(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, value: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn loop_definition() -> Value {
    json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Parameters": {"i": 0, "limit.$": "$.limit"}, "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.i", "NumericGreaterThanEqualsPath": "$.limit", "Next": "Done"}
        ], "Default": "Inc"},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "limit.$": "$.limit"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}
    }})
}

#[test]
fn execute_prints_one_json_object_and_writes_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(&dir, "loop.json", &loop_definition());
    let input = write(&dir, "input.json", &json!({"limit": 3}));
    let history = dir.path().join("history.json");
    let (code, stdout, stderr) = sfn_local(&[
        "execute",
        "--definition",
        &definition,
        "--input",
        &input,
        "--history",
        history.to_str().unwrap(),
        "--name",
        "e1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        result,
        json!({"status": "SUCCEEDED", "output": {"i": 3, "limit": 3}})
    );
    assert!(stderr.contains("→ Check"), "{stderr}");
    let events: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    assert_eq!(events.first().unwrap()["type"], "ExecutionStarted");
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");

    // The same history drawn: the path taken is highlighted.
    let (code, stdout, _) =
        sfn_local(&["graph", &definition, "--history", history.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("class s_Inc entered"), "{stdout}");
}

#[test]
fn a_failed_execution_exits_1_with_error_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(
        &dir,
        "fail.json",
        &json!({"StartAt": "F", "States": {
            "F": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}
        }}),
    );
    let (code, stdout, _) = sfn_local(&["execute", "--definition", &definition, "--quiet"]);
    assert_eq!(code, 1);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        result,
        json!({"status": "FAILED", "error": "Broken", "cause": "on purpose"})
    );
}

#[test]
fn an_invalid_definition_exits_2_naming_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(
        &dir,
        "bad.json",
        &json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"}
        }}),
    );
    let (code, stdout, stderr) = sfn_local(&["execute", "--definition", &definition]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("/States/A/Next: \"Nowhere\" is not a state of this scope"),
        "{stderr}"
    );
    let (code, _, stderr) = sfn_local(&["validate", &definition]);
    assert_eq!(code, 2);
    assert!(stderr.contains("Nowhere"), "{stderr}");
    let (code, _, _) = sfn_local(&["execute"]);
    assert_eq!(code, 2, "usage errors exit 2");
}

#[test]
fn the_project_state_machine_validates_and_draws() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/ensemble-training.asl.json"
    );
    let (code, stdout, stderr) = sfn_local(&["validate", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("valid (27 states), 0 warnings"), "{stdout}");
    let (code, stdout, _) = sfn_local(&["graph", file, "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("digraph"), "{stdout}");
}

#[test]
fn a_task_without_a_configured_integration_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(
        &dir,
        "task.json",
        &json!({"StartAt": "Put", "States": {
            "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": true}
        }}),
    );
    let (code, stdout, _) = sfn_local(&["execute", "--definition", &definition, "--quiet"]);
    assert_eq!(code, 1);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "SfnLocal.UnsupportedResource");
    let cause = result["cause"].as_str().unwrap();
    assert!(
        cause.contains("dynamodb:putItem") && cause.contains("sagemaker:createTrainingJob"),
        "{cause}"
    );
}

#[test]
fn validate_warns_about_practices_and_strict_makes_warnings_fail() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(
        &dir,
        "uncaught.json",
        &json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}
        }}),
    );
    let (code, stdout, _) = sfn_local(&["validate", &definition]);
    assert_eq!(code, 0);
    assert!(stdout.contains("2 warnings"), "{stdout}");
    assert!(
        stdout.contains("warning: /States/T: no Catch for States.ALL"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: /States/T/Retry: a Lambda task should retry"),
        "{stdout}"
    );
    let (code, _, _) = sfn_local(&["validate", "--strict", &definition]);
    assert_eq!(code, 2);
}

/// The README's workflow diagram is what `sfn-local graph` draws for the project's
/// definition today.
#[test]
fn the_readme_diagram_is_the_graph_of_the_definition() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let (code, graph, _) = sfn_local(&[
        "graph",
        root.join("statemachine/ensemble-training.asl.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme.split("## The workflow").nth(1).unwrap();
    let diagram = section
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    assert_eq!(
        diagram.trim_end(),
        graph.trim_end(),
        "regenerate the README's diagram with `sfn-local graph statemachine/ensemble-training.asl.json`"
    );
}

/// `--mock-config` with `--test-case`: the test case's Task states get their mocked
/// responses (an attempt range that throws, then a return), so Retry and Catch run
/// without the real resource; a bad test case is a usage error.
#[test]
fn execute_runs_a_mocked_test_case() {
    let dir = tempfile::tempdir().unwrap();
    let definition = write(
        &dir,
        "machine.json",
        &json!({"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f"},
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "End": true}}}),
    );
    let mocks = write(
        &dir,
        "mocks.json",
        &json!({
            "StateMachines": {"demo": {"TestCases": {
                "Throttled": {"Call": "ThrottledThenOk"},
                "Broken": {"Call": "Fails"}}}},
            "MockedResponses": {
                "ThrottledThenOk": {
                    "0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
                    "2": {"Return": {"Payload": {"ok": true}}}},
                "Fails": {"0": {"Throw": {"Error": "Boom", "Cause": "mocked"}}}}
        }),
    );
    let base = [
        "execute",
        "--definition",
        &definition,
        "--state-machine-name",
        "demo",
        "--time-scale",
        "0",
        "--mock-config",
        &mocks,
    ];
    let (code, stdout, _) = sfn_local(&[&base[..], &["--test-case", "Throttled"]].concat());
    assert_eq!(code, 0, "{stdout}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["output"], json!({"Payload": {"ok": true}}));

    let (code, stdout, _) = sfn_local(&[&base[..], &["--test-case", "Broken"]].concat());
    assert_eq!(code, 1);
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (result["error"].as_str(), result["cause"].as_str()),
        (Some("Boom"), Some("mocked"))
    );

    let (code, _, stderr) = sfn_local(&[&base[..], &["--test-case", "Nope"]].concat());
    assert_eq!(code, 2);
    assert!(stderr.contains("Nope"), "{stderr}");
    let (code, _, stderr) = sfn_local(&base);
    assert_eq!(code, 2, "--mock-config needs --test-case: {stderr}");
}
