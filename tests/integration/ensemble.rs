//! The project's main job end to end, as the README's first command runs it: the
//! repository's own `sfn-local.json` (the real text, image and sequence trainers as the
//! training images), a dataset made by `generate-dataset`, the whole state machine
//! through `sfn-local run`. Smaller data than the default keeps CI reasonable; the
//! learning itself is real.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use integration_tests::asl::repo_root;
use integration_tests::lambda_runtime_api::function_binaries;
use serde_json::{json, Value};

/// Pages of the generated dataset: enough for the sequence model's gain to be clear.
const PAGES: &str = "1200";
const RAW_DATA: &str = "s3://ensemble-raw-data/documents/v1/";

/// A run of the repository's own configuration with a data directory of its own and
/// the generated dataset replacing the config's upload.
struct RepoRun {
    work: tempfile::TempDir,
}

impl RepoRun {
    fn new() -> RepoRun {
        let work = tempfile::tempdir().unwrap();
        let generated = Command::new(function_binaries().join("generate-dataset"))
            .args(["--pages", PAGES, "--seed", "2026", "--out"])
            .arg(work.path().join("dataset"))
            .output()
            .unwrap();
        assert!(
            generated.status.success(),
            "{}",
            String::from_utf8_lossy(&generated.stderr)
        );
        RepoRun { work }
    }

    fn data_dir(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn dataset(&self) -> PathBuf {
        self.work.path().join("dataset")
    }

    fn write_input(&self, name: &str, input: &Value) -> PathBuf {
        let path = self.work.path().join(name);
        std::fs::write(&path, input.to_string()).unwrap();
        path
    }

    /// `sfn-local run --json` from the repository root, as scripts/run-local does.
    fn run(&self, name: &str, input: &Path) -> (Value, String, Output) {
        let output = Command::new(function_binaries().join("sfn-local"))
            .current_dir(repo_root())
            .args(["run", "--json", "--name", name, "--data-dir"])
            .arg(self.data_dir())
            .arg("--upload")
            .arg(format!("{}={RAW_DATA}", self.dataset().display()))
            .arg(input)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "--json prints one line: {stdout}\n{log}");
        let result: Value = serde_json::from_str(lines[0]).unwrap();
        (result, log, output)
    }

    fn outbox(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data_dir().join("outbox.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The accuracy of always answering the most common type of the base models'
    /// validation pages.
    fn majority_baseline(&self) -> f64 {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        let dir = self.dataset().join("text/validation");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let page: Value = serde_json::from_str(line).unwrap();
                *counts
                    .entry(page["label"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        let total: usize = counts.values().sum();
        *counts.values().max().unwrap() as f64 / total as f64
    }
}

fn example_input() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("examples/execution-input.json")).unwrap(),
    )
    .unwrap()
}

fn metric(report: &Value, model: &str, name: &str) -> f64 {
    report["models"][model]["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{model} has no {name}: {report}"))
}

/// Whether `log` shows a training job of `kind` (`text`, `image`, `seq`) of execution
/// `name` completing.
fn trained(log: &str, name: &str, kind: &str) -> bool {
    log.lines().any(|line| {
        line.contains(&format!("{name}-"))
            && line.contains(&format!("-{kind}-train-a0 [Completed]"))
    })
}

#[test]
fn the_ensemble_trains_for_real_then_a_rerun_reuses_the_base_models() {
    let run = RepoRun::new();
    let input = run.write_input("input.json", &example_input());
    let (result, log, output) = run.run("first", &input);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    let report = &result["output"]["report"];

    // Real learning: each base model clearly beats always answering the most common
    // type of its validation pages, and the sequence model beats the better of them.
    let majority = run.majority_baseline();
    let text = metric(report, "text", "validation:accuracy");
    let image = metric(report, "image", "validation:accuracy");
    let sequence = metric(report, "sequence", "validation:accuracy");
    eprintln!("majority {majority:.3}  text {text:.3}  image {image:.3}  sequence {sequence:.3}");
    assert!(text >= majority + 0.2, "text {text} vs majority {majority}");
    assert!(
        image >= majority + 0.2,
        "image {image} vs majority {majority}"
    );
    assert!(sequence > text.max(image), "{report}");
    let gain = report["ensemble_gain"]["metrics"]["validation:accuracy"]
        .as_f64()
        .unwrap();
    assert!(
        (gain - (sequence - text.max(image))).abs() < 1e-3,
        "{report}"
    );
    for model in ["text", "image", "sequence"] {
        let macro_f1 = metric(report, model, "validation:macro_f1");
        assert!(macro_f1 > 0.0 && macro_f1 <= 1.0, "{model}: {macro_f1}");
    }
    assert!(metric(report, "sequence", "validation:boundary_f1") > 0.5);
    assert_eq!(report["quality_gate"]["passed"], json!(true), "{report}");

    // The summary a person reads, on stderr with --json.
    for expected in [
        "→ Generate Config",
        "✓ Train Sequence Model (",
        "ensemble gain: ",
        "what this execution would cost on AWS",
        "state transitions",
        "/transform/text/",
    ] {
        assert!(log.contains(expected), "{expected}: {log}");
    }
    assert!(trained(&log, "first", "text") && trained(&log, "first", "image"));
    assert!(trained(&log, "first", "seq"), "{log}");
    let success = run.outbox();
    assert_eq!(success.len(), 1, "{success:?}");

    // The rerun: both base trainings skipped, their models and metrics reused.
    let rerun_input = run.write_input(
        "rerun.json",
        &json!({
            "input_data": RAW_DATA,
            "train_text_model": false,
            "train_image_model": false,
            "reuse_artifacts_from": "first",
            "sequence_model": example_input()["sequence_model"].clone()
        }),
    );
    let (rerun, log, output) = run.run("rerun", &rerun_input);
    assert_eq!(output.status.code(), Some(0), "{log}");
    let rerun_report = &rerun["output"]["report"];
    for model in ["text", "image"] {
        assert_eq!(rerun_report["models"][model]["reused_from"], "first");
        assert_eq!(
            rerun_report["models"][model]["metrics"], report["models"][model]["metrics"],
            "{model}"
        );
    }
    assert!(!trained(&log, "rerun", "text") && !trained(&log, "rerun", "image"));
    assert!(trained(&log, "rerun", "seq"), "{log}");
    assert!(log.contains("→ Reuse Text Model") && log.contains("→ Reuse Image Model"));
    // The same base models' predictions, the same data: the same sequence model.
    assert_eq!(
        metric(rerun_report, "sequence", "validation:accuracy"),
        sequence
    );
}

#[test]
fn a_trainer_refusing_a_hyperparameter_fails_the_execution_through_the_notifier() {
    let run = RepoRun::new();
    let mut input = example_input();
    input["text_model"]["hyperparameters"]["epochs"] = json!(0);
    let input = run.write_input("failing.json", &input);
    let (result, log, output) = run.run("failing", &input);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert_eq!(result["status"], "FAILED", "{result}");
    assert_eq!(result["error"], "EnsembleTrainingFailed", "{result}");
    for state in ["→ Format Failure", "→ Notify Failure", "→ Training Failed"] {
        assert!(log.contains(state), "{state}: {log}");
    }
    assert!(!log.contains("→ Train Sequence Model"), "{log}");
    let messages = run.outbox();
    assert_eq!(messages.len(), 1, "exactly one notification: {messages:?}");
    let text = messages[0].to_string();
    assert!(
        text.contains("Base Model Training"),
        "names the state: {text}"
    );
    assert!(
        text.contains("hyperparameter `epochs`"),
        "names the reason: {text}"
    );
}
