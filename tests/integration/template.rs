//! Static checks of `template.yaml` beyond cfn-lint: what our design relies on.

use std::collections::BTreeSet;

use integration_tests::asl::{read_repo_file, repo_root};
use serde_yaml::Value;

fn template() -> Value {
    serde_yaml::from_str(&read_repo_file("template.yaml"))
        .unwrap_or_else(|e| panic!("template.yaml: {e}"))
}

fn render(value: &Value) -> String {
    format!("{value:?}")
}

fn functions(t: &Value) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

#[test]
fn the_four_functions_are_rust_binaries_built_by_cargo_lambda() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    let mut binaries = BTreeSet::new();
    for (name, function) in functions(&t) {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Binary"));
        let manifest = repo_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let cargo = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|_| panic!("{name}: no crate at {}", manifest.display()));
        assert!(
            cargo.contains(&format!("name = \"{binary}\"")),
            "{name}: the crate must build a binary named {binary}"
        );
        binaries.insert(binary.to_string());
    }
    let expected: BTreeSet<String> = [
        "generate-config",
        "copy-execution-data",
        "aggregate-metrics",
        "format-failure",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(binaries, expected);
}

#[test]
fn every_environment_variable_is_read_by_its_function() {
    let t = template();
    for (name, function) in functions(&t) {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let src = repo_root().join("functions").join(binary).join("src");
        let mut code = String::new();
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            code.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        let vars = function["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        assert!(!vars.is_empty(), "{name} has no configuration");
        for var in vars.keys().filter_map(Value::as_str) {
            assert!(
                code.contains(&format!("\"{var}\"")),
                "{name}: {var} is set by the template but never read"
            );
        }
    }
}

#[test]
fn the_artifact_bucket_is_encrypted_private_and_tls_only() {
    let t = template();
    let bucket = &t["Resources"]["ArtifactBucket"]["Properties"];
    assert!(bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_sequence());
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true),
            "{flag}"
        );
    }
    let policy = render(&t["Resources"]["ArtifactBucketPolicy"]);
    assert!(
        policy.contains("aws:SecureTransport") && policy.contains("Deny"),
        "{policy}"
    );
}

#[test]
fn the_state_machine_may_pass_the_sagemaker_role_to_sagemaker_only() {
    let t = template();
    let policies =
        render(&t["Resources"]["EnsembleTrainingStateMachine"]["Properties"]["Policies"]);
    assert!(policies.contains("iam:PassRole"));
    assert!(
        policies.contains("iam:PassedToService") && policies.contains("sagemaker.amazonaws.com")
    );
    for rule in [
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        "StepFunctionsGetEventsForBatchJobsRule",
    ] {
        assert!(
            policies.contains(rule),
            "the .sync integration needs {rule}"
        );
    }
    for action in [
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:CreateTransformJob",
        "sagemaker:CreateModel",
        "sagemaker:AddTags",
    ] {
        assert!(policies.contains(action), "{action}");
    }
}

#[test]
fn no_policy_grants_every_action() {
    let text = read_repo_file("template.yaml");
    for line in text.lines() {
        let line = line.trim();
        assert!(
            !(line.starts_with("Action:") && line.contains("\"*\"")),
            "wildcard action: {line}"
        );
        assert_ne!(line, "- \"*\"", "wildcard in an action list");
    }
}

#[test]
fn uncaught_failures_reach_the_notifier_through_eventbridge() {
    let t = template();
    let rule = &t["Resources"]["FormatFailureFunction"]["Properties"]["Events"]["UncaughtFailures"];
    assert_eq!(rule["Type"].as_str(), Some("EventBridgeRule"));
    let pattern = render(&rule["Properties"]["Pattern"]);
    for status in ["FAILED", "TIMED_OUT", "ABORTED"] {
        assert!(pattern.contains(status), "{status}");
    }
    assert!(pattern.contains("Step Functions Execution Status Change"));
    assert!(
        pattern.contains("EnsembleTrainingStateMachine"),
        "only this state machine's executions"
    );
    let env = render(&t["Resources"]["FormatFailureFunction"]["Properties"]["Environment"]);
    assert!(
        env.contains("SNS_TOPIC_ARN") && env.contains("NotificationTopic"),
        "the same topic as the Catch path"
    );
}
