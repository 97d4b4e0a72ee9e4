//! `sfn-local run`'s mechanics: the project's own state machine, from its SAM template,
//! through the real Lambda binaries, the embedded S3, the local SageMaker and the SNS
//! outbox, with the contract-test trainers (fast, scriptable by hyperparameters) in
//! place of the images. `ensemble.rs` runs the real trainers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use integration_tests::asl::repo_root;
use integration_tests::lambda_runtime_api::function_binaries;
use integration_tests::sample_data::sample_dataset;
use serde_json::{json, Value};

const IMAGE_PREFIX: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/";

/// A project directory: a config pointing at the repo's template, the Lambda binaries
/// and the test trainers, and a small dataset uploaded before each run.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for (key, body) in sample_dataset(50, 7) {
            let path = data.join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let root = repo_root();
        let config = json!({
            "template": root.join("template.yaml"),
            "stack_name": "ensemble-training",
            "parameters": {
                "AllowedSourceBuckets": "ensemble-raw-data",
                "TextTrainingImage": format!("{IMAGE_PREFIX}ensemble-text:test"),
                "ImageTrainingImage": format!("{IMAGE_PREFIX}ensemble-image:test"),
                "SequenceTrainingImage": format!("{IMAGE_PREFIX}ensemble-sequence:test")
            },
            "buckets": ["ensemble-raw-data"],
            "uploads": [{"from": "data", "to": "s3://ensemble-raw-data/documents/v1/"}],
            "images": [{
                "image": format!("{IMAGE_PREFIX}*"),
                "command": [root.join("local/tests/trainers/container.sh")]
            }],
            "functions_dir": function_binaries()
        });
        std::fs::write(
            dir.path().join("sfn-local.json"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_input(&self, file: &str, input: &Value) -> PathBuf {
        let path = self.path().join(file);
        std::fs::write(&path, input.to_string()).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(function_binaries().join("sfn-local"))
            .current_dir(self.path())
            .arg("run")
            .args(["--time-scale", "0.01"])
            .args(args)
            .output()
            .unwrap()
    }

    fn outbox(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path().join(".sfn-local/outbox.jsonl"))
            .unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn input(overrides: Value) -> Value {
    let mut input = json!({
        "input_data": "s3://ensemble-raw-data/documents/v1/",
        "train_text_model": true,
        "train_image_model": true,
        "text_model": {"hyperparameters": {"mode": "ok"}},
        "image_model": {"hyperparameters": {"mode": "ok"}},
        "sequence_model": {"hyperparameters": {"mode": "ok"}},
        "quality_gate": {"metric": "validation:macro_f1", "threshold": 0.6}
    });
    if let (Some(base), Value::Object(extra)) = (input.as_object_mut(), overrides) {
        base.extend(extra);
    }
    input
}

fn stdout_json(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "--json prints exactly one line: {text}");
    serde_json::from_str(lines[0]).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_whole_state_machine_runs_then_a_rerun_reuses_the_base_models() {
    let project = Project::new();
    let first_input = project.write_input("first.json", &input(json!({})));
    let first = project.run(&["--json", "--name", "first", first_input.to_str().unwrap()]);
    let log = stderr(&first);
    assert_eq!(first.status.code(), Some(0), "{log}");
    let result = stdout_json(&first);
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    let report = &result["output"]["report"];
    for model in ["text", "image", "sequence"] {
        assert_eq!(
            report["models"][model]["metrics"]["validation:accuracy"],
            json!(0.875),
            "{model}: {report}"
        );
    }
    // Live progress and the summary, on stderr with --json.
    assert!(log.contains("→ Train Text Model"), "{log}");
    assert!(log.contains("✓ Train Sequence Model ("), "{log}");
    assert!(log.contains("✓ execution succeeded"), "{log}");
    assert!(log.contains("status: SUCCEEDED"), "{log}");
    assert!(
        log.contains("first-") && log.contains("-seq-train-a0 [Completed]"),
        "{log}"
    );
    assert!(
        log.contains("what this execution would cost on AWS"),
        "{log}"
    );
    assert!(log.contains("Step Functions transitions"), "{log}");
    assert!(log.contains("prices: us-east-1 on-demand, read "), "{log}");
    assert!(log.contains("to price ml.m5.xlarge (training)"), "{log}");
    let history: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(
            project
                .path()
                .join(".sfn-local/executions/first/history.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(history.last().unwrap()["type"], "ExecutionSucceeded");
    let messages = project.outbox();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].to_string().contains("succeeded"),
        "{}",
        messages[0]
    );
    // The models really are in the embedded S3, under the execution's prefix.
    let models = list_keys(
        project.path(),
        "ensemble-training-artifactbucket",
        "executions/first/models/",
    );
    assert_eq!(
        models
            .iter()
            .filter(|k| k.ends_with("/output/model.tar.gz"))
            .count(),
        3,
        "{models:?}"
    );

    // The rerun: no base training, the first execution's models and metrics reused.
    let rerun_input = project.write_input(
        "rerun.json",
        &input(
            json!({"train_text_model": false, "train_image_model": false,
                      "reuse_artifacts_from": "first"}),
        ),
    );
    // A price table of one's own prices every job (the builtin one lacks some types).
    let mut prices: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("local/prices/aws-us-east-1.json")).unwrap(),
    )
    .unwrap();
    prices["sagemaker"]["training"]["ml.m5.large"] = json!(0.115);
    prices["sagemaker"]["transform"]["ml.m5.large"] = json!(0.115);
    let prices_path = project.path().join("prices.json");
    std::fs::write(&prices_path, prices.to_string()).unwrap();
    let rerun = project.run(&[
        "--json",
        "--name",
        "rerun",
        "--prices",
        prices_path.to_str().unwrap(),
        rerun_input.to_str().unwrap(),
    ]);
    let log = stderr(&rerun);
    assert_eq!(rerun.status.code(), Some(0), "{log}");
    let result = stdout_json(&rerun);
    let rerun_report = &result["output"]["report"];
    for model in ["text", "image"] {
        assert_eq!(
            rerun_report["models"][model]["reused_from"], "first",
            "{rerun_report}"
        );
        assert_eq!(
            rerun_report["models"][model]["metrics"], report["models"][model]["metrics"],
            "{model}"
        );
    }
    assert!(
        log.contains("→ Reuse Text Model") && log.contains("→ Reuse Image Model"),
        "{log}"
    );
    assert!(!log.contains("→ Train Text Model\n"), "{log}");
    // Only the sequence model was trained this time, so only it is billed.
    assert!(
        !log.contains("rerun-") || !log.contains("-text-train-a0 [Completed]"),
        "{log}"
    );
    assert!(log.contains("-seq-train-a0 [Completed]"), "{log}");
    assert!(!log.contains("no price"), "every job priced: {log}");
    assert!(log.contains("$0.115/h"), "{log}");
    assert_eq!(project.outbox().len(), 2);

    // An execution name is used once.
    let again = project.run(&["--name", "first", first_input.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already ran here"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_failing_trainer_fails_the_execution_through_the_notifier() {
    let project = Project::new();
    let failing = project.write_input(
        "failing.json",
        &input(json!({"text_model": {"hyperparameters": {"mode": "failure"}}})),
    );
    let output = project.run(&["--json", "--name", "failing", failing.to_str().unwrap()]);
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let result = stdout_json(&output);
    assert_eq!(result["status"], "FAILED", "{result}");
    assert_eq!(result["error"], "EnsembleTrainingFailed", "{result}");
    for state in ["→ Format Failure", "→ Notify Failure", "→ Training Failed"] {
        assert!(log.contains(state), "{state}: {log}");
    }
    let messages = project.outbox();
    assert_eq!(messages.len(), 1, "exactly one notification: {messages:?}");
    let text = messages[0].to_string();
    assert!(
        text.contains("Base Model Training"),
        "names the state: {text}"
    );
    assert!(text.contains("AlgorithmError"), "names the reason: {text}");
    assert!(log.contains("status: FAILED"), "{log}");
}

#[test]
fn configuration_mistakes_are_usage_errors_naming_the_field() {
    let project = Project::new();
    let config_path = project.path().join("sfn-local.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("TextTrainingImage");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let log = stderr(&output);
    assert!(log.contains("TextTrainingImage has no Default"), "{log}");

    config["parameters"]["TextTrainingImage"] = json!(format!("{IMAGE_PREFIX}ensemble-text:test"));
    config["functions_dir"] = json!("nowhere");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let log = stderr(&output);
    assert!(
        log.contains("Build them with `cargo build ") && log.contains("--bin generate-config"),
        "{log}"
    );
}

/// The keys under `prefix`, read from the embedded S3's data directory.
fn list_keys(project: &Path, bucket: &str, prefix: &str) -> Vec<String> {
    let store = local_s3::Store::open(&project.join(".sfn-local/s3")).unwrap();
    store
        .list(bucket, prefix)
        .into_iter()
        .map(|object| object.key)
        .collect()
}

/// A failure no Catch sees (here `States.Runtime`) is told through the template's
/// EventBridge rule: format-failure runs after the execution and publishes once, as on
/// AWS. `run` works for any SAM project, not only this one's template.
#[test]
fn an_uncaught_failure_is_told_through_the_eventbridge_rule() {
    let dir = tempfile::tempdir().unwrap();
    let template = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Notifier:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: format-failure
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
          SNS_TOPIC_ARN: !Ref Topic
      Events:
        Failures:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail-type: [Step Functions Execution Status Change]
              detail:
                stateMachineArn: [!Ref Machine]
                status: [FAILED, TIMED_OUT, ABORTED]
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: machine.asl.json
"#;
    std::fs::write(dir.path().join("template.yaml"), template).unwrap();
    let definition = json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.missing", "BooleanEquals": true, "Next": "Done"}],
            "Default": "Done"},
        "Done": {"Type": "Succeed"}}});
    std::fs::write(dir.path().join("machine.asl.json"), definition.to_string()).unwrap();
    let config = json!({"stack_name": "demo", "functions_dir": function_binaries()});
    std::fs::write(dir.path().join("sfn-local.json"), config.to_string()).unwrap();

    let output = Command::new(function_binaries().join("sfn-local"))
        .current_dir(dir.path())
        .args(["run", "--json", "--name", "uncaught"])
        .output()
        .unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let result = stdout_json(&output);
    assert_eq!(result["error"], "States.Runtime", "{result}");
    assert!(log.contains("EventBridge rule"), "{log}");
    let outbox = std::fs::read_to_string(dir.path().join(".sfn-local/outbox.jsonl")).unwrap();
    let messages: Vec<Value> = outbox
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{outbox}");
    let text = messages[0].to_string();
    assert!(text.contains("States.Runtime"), "{text}");
    assert!(
        text.contains("arn:aws:sns:us-east-1:123456789012:demo-Topic"),
        "{text}"
    );
}

/// `--s3-endpoint`: another S3 (here a second local-s3, as MinIO or AWS would be) holds
/// the data and receives the artifacts; the embedded one is not started.
#[test]
fn another_s3_endpoint_is_used_for_everything() {
    let project = Project::new();
    let s3 = integration_tests::s3_server::EmbeddedS3::start().unwrap();
    let first_input = project.write_input("input.json", &input(json!({})));
    let output = Command::new(function_binaries().join("sfn-local"))
        .current_dir(project.path())
        .args([
            "run",
            "--json",
            "--time-scale",
            "0.01",
            "--name",
            "elsewhere",
        ])
        .args(["--s3-endpoint", &s3.endpoint()])
        .env("AWS_ACCESS_KEY_ID", local_s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", local_s3::SECRET_KEY)
        .arg(&first_input)
        .output()
        .unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains(&format!("S3 at {}", s3.endpoint())), "{log}");
    let models: Vec<String> = s3
        .store()
        .list(
            "ensemble-training-artifactbucket",
            "executions/elsewhere/models/",
        )
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with("/output/model.tar.gz"))
        .collect();
    assert_eq!(models.len(), 3, "{models:?}");
    assert!(!project.path().join(".sfn-local/s3").exists());

    // Without credentials for it, the endpoint is refused before anything runs.
    let refused = Command::new(function_binaries().join("sfn-local"))
        .current_dir(project.path())
        .args(["run", "--name", "refused", "--s3-endpoint", &s3.endpoint()])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("set AWS_ACCESS_KEY_ID"),
        "{}",
        stderr(&refused)
    );
}

/// `run --mock-config --test-case`: the failure path runs without training: the
/// mocked text training fails, the image model really trains, the failure is told once.
#[test]
fn a_mocked_test_case_runs_the_failure_path_without_training() {
    let project = Project::new();
    let mocks = json!({
        "StateMachines": {"EnsembleTrainingStateMachine": {"TestCases": {
            "TextTrainingFails": {"Train Text Model": "TrainingFailed"}}}},
        "MockedResponses": {"TrainingFailed": {"0": {"Throw": {
            "Error": "States.TaskFailed",
            "Cause": "mocked: the text training ran out of memory"}}}}
    });
    let mocks_path = project.write_input("mocks.json", &mocks);
    let run_input = project.write_input("input.json", &input(json!({})));
    let output = project.run(&[
        "--json",
        "--name",
        "mocked",
        "--mock-config",
        mocks_path.to_str().unwrap(),
        "--test-case",
        "TextTrainingFails",
        run_input.to_str().unwrap(),
    ]);
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert_eq!(stdout_json(&output)["error"], "EnsembleTrainingFailed");
    assert!(
        !log.contains("-text-train-a0 ["),
        "no text training job ran: {log}"
    );
    let messages = project.outbox();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].to_string().contains("ran out of memory"),
        "{}",
        messages[0]
    );
}
