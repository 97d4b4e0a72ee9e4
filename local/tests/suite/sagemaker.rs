//! The local SageMaker end to end: real trainer and server processes (the scripts in
//! `tests/trainers/`), a real S3-compatible server over HTTP (`local-s3`), nothing
//! mocked. Expectations cite the SageMaker / Step Functions docs they come from.

use crate::support;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sfn_local::asl::AslError;
use sfn_local::definition::StateMachine;
use sfn_local::engine::{Clock, Engine, ExecutionSpec, Status};
use sfn_local::integrations::sagemaker::{errors, JobKind};
use support::{
    setup, tests_dir, training_request, transform_request, transform_setup, upload_model, Env, ROLE,
};

fn tar_entries(data: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn tar_file(data: &[u8], name: &str) -> String {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == name {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("{name} is not in the archive: {:?}", tar_entries(data));
}

fn cause_json(e: &AslError) -> Value {
    serde_json::from_str(&e.cause).unwrap_or_else(|_| panic!("cause is not JSON: {}", e.cause))
}

fn statuses(description: &Value) -> Vec<String> {
    description["SecondaryStatusTransitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Status"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------- training

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_completes_packs_the_model_and_reports_metrics() {
    let env = setup().await;
    env.training_data().await;
    // A directory marker is not a file (S3 consoles create these).
    env.put("data", "text/train/empty-dir/", b"").await;
    let name = "ens-text-train-a0";
    let result = env
        .sm
        .create_training_job_sync(training_request(name, "local/train:1", "ok"))
        .await
        .unwrap();

    // DescribeTrainingJob's shape (API_DescribeTrainingJob).
    assert_eq!(result["TrainingJobName"], name);
    assert_eq!(
        result["TrainingJobArn"],
        "arn:aws:sagemaker:eu-central-1:123456789012:training-job/ens-text-train-a0"
    );
    assert_eq!(result["TrainingJobStatus"], "Completed");
    assert_eq!(result["SecondaryStatus"], "Completed");
    assert!(result.get("FailureReason").is_none());
    let artifacts = format!("s3://models/text/{name}/output/model.tar.gz");
    assert_eq!(
        result["ModelArtifacts"]["S3ModelArtifacts"],
        artifacts.as_str()
    );
    assert_eq!(
        statuses(&result),
        [
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "Completed"
        ]
    );
    for field in [
        "HyperParameters",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "RoleArn",
        "Environment",
    ] {
        assert_eq!(
            result[field],
            training_request(name, "local/train:1", "ok")[field],
            "{field}"
        );
    }
    assert_eq!(
        result["AlgorithmSpecification"]["TrainingImage"],
        "local/train:1"
    );
    assert_eq!(result["EnableManagedSpotTraining"], false);
    // Timestamps are epoch milliseconds, in order.
    let creation = result["CreationTime"].as_u64().unwrap();
    let start = result["TrainingStartTime"].as_u64().unwrap();
    let end = result["TrainingEndTime"].as_u64().unwrap();
    assert!(creation > 1_600_000_000_000 && creation <= start && start <= end);
    assert_eq!(result["LastModifiedTime"].as_u64().unwrap(), end);
    let seconds = result["TrainingTimeInSeconds"].as_u64().unwrap();
    assert!((1..120).contains(&seconds));
    assert_eq!(result["BillableTimeInSeconds"].as_u64().unwrap(), seconds);

    // Metrics: the last value of each (not-a-number lines are ignored).
    let metrics: Vec<(String, f64)> = result["FinalMetricDataList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["MetricName"].as_str().unwrap().to_string(),
                m["Value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        metrics,
        vec![
            ("train:loss".to_string(), 0.25),
            ("validation:accuracy".to_string(), 0.875),
            ("validation:macro_f1".to_string(), 0.75),
        ]
    );
    for m in result["FinalMetricDataList"].as_array().unwrap() {
        let at = m["Timestamp"].as_u64().unwrap();
        assert!(at >= start && at <= end);
    }

    // model.tar.gz: the model directory's contents, entries relative.
    let model = env
        .get("models", &format!("text/{name}/output/model.tar.gz"))
        .await
        .unwrap();
    let entries = tar_entries(&model);
    for expected in [
        "model.json",
        "sub/weights.txt",
        "seen/hyperparameters.json",
        "seen/env.json",
    ] {
        assert!(
            entries.iter().any(|e| e == expected),
            "{expected} not in {entries:?}"
        );
    }
    assert!(entries
        .iter()
        .all(|e| !e.starts_with('/') && !e.contains("..")));
    assert_eq!(tar_file(&model, "sub/weights.txt"), "0.1 0.2 0.3\n");

    // What the trainer saw: the config files...
    let hp: Value = serde_json::from_str(&tar_file(&model, "seen/hyperparameters.json")).unwrap();
    assert_eq!(
        hp,
        json!({"mode": "ok", "epochs": "30", "learning_rate": "0.1"})
    );
    let rc: Value = serde_json::from_str(&tar_file(&model, "seen/resourceconfig.json")).unwrap();
    assert_eq!(rc["current_host"], "algo-1");
    assert_eq!(rc["hosts"], json!(["algo-1"]));
    assert_eq!(rc["current_instance_type"], "ml.m5.xlarge");
    assert_eq!(rc["network_interface_name"], "eth0");
    let idc: Value = serde_json::from_str(&tar_file(&model, "seen/inputdataconfig.json")).unwrap();
    assert_eq!(
        idc["train"],
        json!({"ContentType": "application/jsonlines", "TrainingInputMode": "File",
               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"})
    );
    // ...the channels, sub-paths kept, directory markers skipped...
    let channels: Value = serde_json::from_str(&tar_file(&model, "seen/channels.json")).unwrap();
    assert_eq!(
        channels,
        json!({
            "train": {"a.jsonl": "{\"t\": 1}\n{\"t\": 2}\n", "part/1/b.jsonl": "{\"t\": 3}\n"},
            "validation": {"v.jsonl": "{\"v\": 1}\n"}
        })
    );
    // ...and the environment.
    let seen_env: Value = serde_json::from_str(&tar_file(&model, "seen/env.json")).unwrap();
    let root = env.job_dir("training", name);
    let at = |rel: &str| root.join(rel).to_string_lossy().into_owned();
    assert_eq!(seen_env["SM_ML_ROOT"], root.to_string_lossy().as_ref());
    assert_eq!(seen_env["SM_MODEL_DIR"], at("model"));
    assert_eq!(seen_env["SM_CHANNEL_TRAIN"], at("input/data/train"));
    assert_eq!(
        seen_env["SM_CHANNEL_VALIDATION"],
        at("input/data/validation")
    );
    assert_eq!(seen_env["SM_INPUT_DIR"], at("input"));
    assert_eq!(seen_env["SM_INPUT_CONFIG_DIR"], at("input/config"));
    assert_eq!(seen_env["SM_OUTPUT_DIR"], at("output"));
    assert_eq!(seen_env["SM_OUTPUT_DATA_DIR"], at("output/data"));
    assert_eq!(seen_env["SM_CHANNELS"], "[\"train\",\"validation\"]");
    assert_eq!(seen_env["SM_CURRENT_HOST"], "algo-1");
    assert_eq!(seen_env["SM_HOSTS"], "[\"algo-1\"]");
    assert_eq!(seen_env["SM_NUM_GPUS"], "0");
    assert!(
        seen_env["SM_NUM_CPUS"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert_eq!(seen_env["SM_HP_EPOCHS"], "30");
    assert_eq!(seen_env["SM_HP_LEARNING_RATE"], "0.1");
    let hps: Value = serde_json::from_str(seen_env["SM_HPS"].as_str().unwrap()).unwrap();
    assert_eq!(
        hps,
        json!({"mode": "ok", "epochs": 30, "learning_rate": 0.1})
    );
    assert_eq!(seen_env["TRAINING_JOB_NAME"], name);
    assert_eq!(seen_env["TRAINING_JOB_ARN"], result["TrainingJobArn"]);
    assert_eq!(seen_env["IMAGE_VAR"], "from-the-image-map");
    assert_eq!(seen_env["EXTRA_VAR"], "from-the-request");
    assert!(seen_env["AWS_ENDPOINT_URL_S3"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    // `python3 <script> train`: the script sees `train` as its only argument.
    assert_eq!(seen_env["argv"], json!(["train"]));
    assert_eq!(seen_env["cwd"], root.to_string_lossy().as_ref());

    // output.tar.gz beside the model, from output/data.
    let output = env
        .get("models", &format!("text/{name}/output/output.tar.gz"))
        .await
        .unwrap();
    assert_eq!(tar_file(&output, "report.txt"), "a report\n");

    // logs.txt has both streams.
    let logs = std::fs::read_to_string(root.join("logs.txt")).unwrap();
    assert!(logs.contains("epoch train:loss=0.9"), "{logs}");
    assert!(logs.contains("validation:accuracy=0.5"), "{logs}");

    // The job record, for the cost estimate.
    let jobs = env.sm.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::Training);
    assert_eq!(jobs[0].status, "Completed");
    assert_eq!(jobs[0].instance_type, "ml.m5.xlarge");
    assert_eq!(jobs[0].instance_count, 1);
    assert_eq!(jobs[0].billable_seconds, seconds);
    assert_eq!(jobs[0].dir, root);
    assert_eq!(env.sm.describe_training_job(name).unwrap(), result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_file_fails_the_task_with_its_reason() {
    let env = setup().await;
    env.training_data().await;
    let err = env
        .sm
        .create_training_job_sync(training_request("fails-1", "local/train:1", "failure"))
        .await
        .unwrap_err();
    // A failed .sync job fails the task with States.TaskFailed, the description as Cause.
    assert_eq!(err.error, "States.TaskFailed");
    let cause = cause_json(&err);
    assert_eq!(cause["TrainingJobStatus"], "Failed");
    assert_eq!(cause["SecondaryStatus"], "Failed");
    assert_eq!(
        cause["FailureReason"],
        "AlgorithmError: ValueError: the loss became NaN at epoch 3, exit code: 1"
    );
    assert_eq!(statuses(&cause).last().unwrap(), "Failed");
    assert!(cause.get("ModelArtifacts").is_none());
    assert!(cause["TrainingEndTime"].as_u64().is_some());
    // A failed job uploads no model.
    assert!(env
        .get("models", "text/fails-1/output/model.tar.gz")
        .await
        .is_none());
    let jobs = env.sm.jobs();
    assert_eq!(jobs[0].status, "Failed");
    assert_eq!(
        jobs[0].failure_reason.as_deref(),
        cause["FailureReason"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_zero_exit_without_failure_file() {
    let env = setup().await;
    env.training_data().await;
    let err = env
        .sm
        .create_training_job_sync(training_request(
            "shell-exit-3",
            "local/shell-trainer:2",
            "x",
        ))
        .await
        .unwrap_err();
    let cause = cause_json(&err);
    // What SageMaker reports when the container wrote no failure file.
    assert_eq!(cause["FailureReason"], "AlgorithmError: , exit code: 3");
    // Metrics are collected from failed jobs too.
    assert_eq!(cause["FinalMetricDataList"][0]["Value"], 1.5);
    let logs =
        std::fs::read_to_string(env.job_dir("training", "shell-exit-3").join("logs.txt")).unwrap();
    assert!(logs.contains("the last argument is train"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_decides_even_with_a_failure_file() {
    // your-algorithms-training-signal-success-failure: exit 0 is Completed.
    let env = setup().await;
    env.training_data().await;
    let result = env
        .sm
        .create_training_job_sync(training_request(
            "exit-zero",
            "local/train:1",
            "failure-exit0",
        ))
        .await
        .unwrap();
    assert_eq!(result["TrainingJobStatus"], "Completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_failure_reason_is_cut_at_1024_characters() {
    let env = setup().await;
    env.training_data().await;
    let err = env
        .sm
        .create_training_job_sync(training_request(
            "long-failure",
            "local/train:1",
            "long-failure",
        ))
        .await
        .unwrap_err();
    let reason = cause_json(&err)["FailureReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reason.chars().count(), 1024);
    assert!(reason.starts_with("AlgorithmError: EEEE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_runtime_stops_the_job_and_keeps_the_model() {
    let env = setup().await;
    env.training_data().await;
    let mut request = training_request("sleeper", "local/train:1", "sleep");
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(1);
    let started = Instant::now();
    let err = env.sm.create_training_job_sync(request).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(err.error, "States.TaskFailed");
    let cause = cause_json(&err);
    // API_DescribeTrainingJob: MaxRuntimeExceeded is a secondary status of Stopped.
    assert_eq!(cause["TrainingJobStatus"], "Stopped");
    assert_eq!(cause["SecondaryStatus"], "MaxRuntimeExceeded");
    assert_eq!(
        statuses(&cause),
        [
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "MaxRuntimeExceeded"
        ]
    );
    // API_StoppingCondition: SIGTERM lets the algorithm save its model, which is uploaded.
    let model = env
        .get("models", "text/sleeper/output/model.tar.gz")
        .await
        .unwrap();
    assert_eq!(tar_file(&model, "partial.txt"), "saved on SIGTERM\n");
    assert_eq!(
        cause["ModelArtifacts"]["S3ModelArtifacts"],
        "s3://models/text/sleeper/output/model.tar.gz"
    );
    assert_eq!(
        env.sm.jobs()[0].secondary_status.as_deref(),
        Some("MaxRuntimeExceeded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_ignoring_sigterm_is_killed_after_the_grace_period() {
    let env = setup().await;
    env.training_data().await;
    let sm = env.sm.clone().with_stop_grace(Duration::from_millis(300));
    let mut request = training_request("stubborn", "local/train:1", "stubborn");
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = json!(1);
    let started = Instant::now();
    let err = sm.create_training_job_sync(request).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    let cause = cause_json(&err);
    assert_eq!(cause["TrainingJobStatus"], "Stopped");
    assert_eq!(cause["SecondaryStatus"], "MaxRuntimeExceeded");
    let logs =
        std::fs::read_to_string(env.job_dir("training", "stubborn").join("logs.txt")).unwrap();
    assert!(
        logs.contains(&format!("ended with code {}", 128 + 9)),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_name_can_be_used_only_once() {
    let env = setup().await;
    env.training_data().await;
    let first = env
        .sm
        .create_training_job_sync(training_request("Taken-Name", "local/train:1", "exit"))
        .await
        .unwrap_err();
    assert_eq!(first.error, "States.TaskFailed");
    // API_CreateTrainingJob: names are unique in the account and region (and ARNs,
    // which identify jobs, are lower case), failed jobs included.
    for again in ["Taken-Name", "taken-name"] {
        let err = env
            .sm
            .create_training_job_sync(training_request(again, "local/train:1", "ok"))
            .await
            .unwrap_err();
        assert_eq!(err.error, errors::RESOURCE_IN_USE);
        assert_eq!(err.error, "SageMaker.ResourceInUseException");
        assert!(err.cause.starts_with(
            "Training job names must be unique within an AWS account and region, and a training \
             job with this name already exists (arn:aws:sagemaker:eu-central-1:123456789012:training-job/taken-name)"
        ), "{}", err.cause);
        assert!(err.cause.contains("Error Code: ResourceInUse"));
    }
    assert_eq!(env.sm.jobs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_name_is_a_validation_error() {
    let env = setup().await;
    let err = env
        .sm
        .create_training_job_sync(training_request("bad_name", "local/train:1", "ok"))
        .await
        .unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(err.cause.starts_with(
        "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    ), "{}", err.cause);
    assert!(err.cause.contains("Error Code: ValidationException"));
    let too_long = "a".repeat(64);
    let err = env
        .sm
        .create_training_job_sync(training_request(&too_long, "local/train:1", "ok"))
        .await
        .unwrap_err();
    assert!(
        err.cause
            .contains("Member must have length less than or equal to 63"),
        "{}",
        err.cause
    );
    assert!(env.sm.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_missing_required_field_is_reported() {
    let env = setup().await;
    let err = env
        .sm
        .create_training_job_sync(json!({"TrainingJobName": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(
        err.cause.starts_with("5 validation errors detected: "),
        "{}",
        err.cause
    );
    for member in [
        "algorithmSpecification",
        "roleArn",
        "outputDataConfig",
        "resourceConfig",
        "stoppingCondition",
    ] {
        assert!(
            err.cause.contains(&format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            )),
            "{member}: {}",
            err.cause
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperparameters_must_be_strings_within_the_limits() {
    let env = setup().await;
    let mut request = training_request("hp", "local/train:1", "ok");
    request["HyperParameters"]["epochs"] = json!(30);
    request["HyperParameters"]["long"] = json!("x".repeat(2501));
    let err = env.sm.create_training_job_sync(request).await.unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(err.cause.contains("at 'hyperParameters.epochs' failed to satisfy constraint: Map value must satisfy constraint: [Member must be a string]"), "{}", err.cause);
    assert!(
        err.cause.contains("at 'hyperParameters.long'")
            && err.cause.contains("less than or equal to 2500"),
        "{}",
        err.cause
    );
    let mut request = training_request("hp2", "local/train:1", "ok");
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    request["HyperParameters"] = Value::Object(many);
    let err = env.sm.create_training_job_sync(request).await.unwrap_err();
    assert!(err.cause.contains("'hyperParameters' failed to satisfy constraint: Member must have length less than or equal to 100"), "{}", err.cause);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmapped_image_names_the_image_and_the_config_file() {
    let env = setup().await;
    let image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/ensemble-text:latest";
    let err = env
        .sm
        .create_training_job_sync(training_request("unmapped", image, "ok"))
        .await
        .unwrap_err();
    assert_eq!(err.error, errors::IMAGE_NOT_MAPPED);
    assert!(err.cause.contains(&format!("{image:?}")), "{}", err.cause);
    assert!(
        err.cause
            .contains(&tests_dir().join("images.json").display().to_string()),
        "{}",
        err.cause
    );
    // Nothing was created: the name is still free.
    assert!(env.sm.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_cannot_start_fails_the_job() {
    let env = setup().await;
    env.training_data().await;
    let err = env
        .sm
        .create_training_job_sync(training_request(
            "no-program",
            "local/missing-program:1",
            "ok",
        ))
        .await
        .unwrap_err();
    let reason = cause_json(&err)["FailureReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("ClientError: CannotStartContainerError"),
        "{reason}"
    );
    assert!(reason.contains("no-such-program"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_channel_fails_the_job_like_sagemaker() {
    let env = setup().await;
    let err = env
        .sm
        .create_training_job_sync(training_request("no-data", "local/train:1", "ok"))
        .await
        .unwrap_err();
    let cause = cause_json(&err);
    let reason = cause["FailureReason"].as_str().unwrap();
    assert!(reason.starts_with(
        "ClientError: No S3 objects found under S3 URL \"s3://data/text/train/\" given in input data source."
    ), "{reason}");
    assert!(reason.contains(ROLE), "{reason}");
    // It never reached Training.
    assert_eq!(statuses(&cause), ["Starting", "Downloading", "Failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_features_are_refused_clearly() {
    let env = setup().await;
    let mut pipe = training_request("pipe", "local/train:1", "ok");
    pipe["AlgorithmSpecification"]["TrainingInputMode"] = json!("Pipe");
    let mut manifest = training_request("manifest", "local/train:1", "ok");
    manifest["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] =
        json!("ManifestFile");
    let mut algorithm = training_request("algo", "local/train:1", "ok");
    algorithm["AlgorithmSpecification"] =
        json!({"AlgorithmName": "xgboost", "TrainingInputMode": "File"});
    for (request, expected) in [
        (pipe, "Pipe"),
        (manifest, "ManifestFile"),
        (algorithm, "AlgorithmName"),
    ] {
        let err = env.sm.create_training_job_sync(request).await.unwrap_err();
        assert_eq!(err.error, errors::UNSUPPORTED);
        assert!(err.cause.contains(expected), "{}", err.cause);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sync_the_job_runs_in_the_background() {
    let env = setup().await;
    env.training_data().await;
    let answer = env
        .sm
        .create_training_job(training_request("background", "local/train:1", "ok"))
        .await
        .unwrap();
    // Step Functions' request-response pattern returns CreateTrainingJob's response.
    assert_eq!(
        answer,
        json!({"TrainingJobArn": "arn:aws:sagemaker:eu-central-1:123456789012:training-job/background"})
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = env.sm.describe_training_job("background").unwrap();
        if d["TrainingJobStatus"] == "Completed" {
            break;
        }
        assert_eq!(d["TrainingJobStatus"], "InProgress");
        assert!(Instant::now() < deadline, "still {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(env
        .get("models", "text/background/output/model.tar.gz")
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sync_call_stops_the_job() {
    let env = setup().await;
    env.training_data().await;
    let call =
        env.sm
            .create_training_job_sync(training_request("cancelled", "local/train:1", "sleep"));
    // The Task state's TimeoutSeconds, say: the waiting future is dropped.
    assert!(tokio::time::timeout(Duration::from_millis(1500), call)
        .await
        .is_err());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = env.sm.describe_training_job("cancelled").unwrap();
        if d["TrainingJobStatus"] != "InProgress" {
            assert_eq!(d["TrainingJobStatus"], "Stopped");
            assert_eq!(d["SecondaryStatus"], "Stopped");
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- models

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_model_records_the_model_once() {
    let env = setup().await;
    let url = upload_model(&env, "m/model.tar.gz").await;
    let request = json!({
        "ModelName": "Ens-Text-Model",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "local/serve:1", "ModelDataUrl": url}
    });
    let answer = env.sm.create_model(request.clone()).await.unwrap();
    assert_eq!(
        answer,
        json!({"ModelArn": "arn:aws:sagemaker:eu-central-1:123456789012:model/ens-text-model"})
    );
    let err = env.sm.create_model(request).await.unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(err.cause.starts_with(
        "Cannot create already existing model \"arn:aws:sagemaker:eu-central-1:123456789012:model/ens-text-model\"."
    ), "{}", err.cause);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_model_checks_the_model_data_and_the_image() {
    let env = setup().await;
    let err = env
        .sm
        .create_model(json!({"ModelName": "m", "PrimaryContainer": {
            "Image": "local/serve:1", "ModelDataUrl": "s3://models/missing/model.tar.gz"}}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(
        err.cause
            .starts_with("Could not find model data at s3://models/missing/model.tar.gz."),
        "{}",
        err.cause
    );
    let err = env
        .sm
        .create_model(json!({"ModelName": "m", "PrimaryContainer": {"Image": "repo/unknown:1"}}))
        .await
        .unwrap_err();
    assert_eq!(err.error, errors::IMAGE_NOT_MAPPED);
}

// ---------------------------------------------------------------- batch transform

fn received(env: &Env, job: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(env.job_dir("transform", job).join("received.jsonl"))
        .unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn echo(record: &str) -> String {
    // serve.py writes its keys sorted.
    json!({"model": "tiny-model", "record": record}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_multi_record_lines_assembled_with_line() {
    let env = setup().await;
    transform_setup(&env, "text-model", "local/serve:1").await;
    let result = env
        .sm
        .create_transform_job_sync(transform_request(
            "text-infer-0",
            "text-model",
            "MultiRecord",
            "Line",
        ))
        .await
        .unwrap();
    // DescribeTransformJob's shape.
    assert_eq!(result["TransformJobName"], "text-infer-0");
    assert_eq!(
        result["TransformJobArn"],
        "arn:aws:sagemaker:eu-central-1:123456789012:transform-job/text-infer-0"
    );
    assert_eq!(result["TransformJobStatus"], "Completed");
    assert_eq!(result["ModelName"], "text-model");
    assert_eq!(result["BatchStrategy"], "MultiRecord");
    assert_eq!(result["MaxPayloadInMB"], 6);
    assert_eq!(
        result["TransformOutput"]["S3OutputPath"],
        "s3://out/transform/text/"
    );
    assert_eq!(result["TransformResources"]["InstanceType"], "ml.m5.large");
    let creation = result["CreationTime"].as_u64().unwrap();
    let start = result["TransformStartTime"].as_u64().unwrap();
    let end = result["TransformEndTime"].as_u64().unwrap();
    assert!(creation <= start && start <= end);

    // MultiRecord: all of an object's records in one request (they fit in 6 MB).
    let bodies = received(&env, "text-infer-0");
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["body"], "{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}");
    assert_eq!(bodies[1]["body"], "{\"x\": 4}\n{\"x\": 5}");
    assert_eq!(bodies[0]["content_type"], "application/jsonlines");
    assert_eq!(bodies[0]["accept"], "application/jsonlines");
    // your-algorithms-batch-code: the variables batch transform sets.
    let server_env = &bodies[0]["env"];
    assert_eq!(server_env["SAGEMAKER_BATCH"], "true");
    assert_eq!(server_env["SAGEMAKER_BATCH_STRATEGY"], "MULTI_RECORD");
    assert_eq!(server_env["SAGEMAKER_MAX_PAYLOAD_IN_MB"], "6");
    assert!(server_env
        .get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS")
        .is_none());
    assert_eq!(server_env["MODEL_VAR"], "from-the-model");
    assert_eq!(
        server_env["SM_ML_ROOT"],
        env.job_dir("transform", "text-infer-0")
            .to_string_lossy()
            .as_ref()
    );

    // AssembleWith Line: every response ends with a newline; keys keep their sub-paths.
    let a = env.get("out", "transform/text/a.jsonl.out").await.unwrap();
    assert_eq!(
        String::from_utf8(a).unwrap(),
        format!(
            "{}\n{}\n{}\n",
            echo("{\"x\": 1}"),
            echo("{\"x\": 2}"),
            echo("{\"x\": 3}")
        )
    );
    let b = env
        .get("out", "transform/text/sub/b.jsonl.out")
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(b).unwrap(),
        format!("{}\n{}\n", echo("{\"x\": 4}"), echo("{\"x\": 5}"))
    );

    // The model was unpacked into /opt/ml/model; the server is gone.
    let root = env.job_dir("transform", "text-infer-0");
    assert!(root.join("model/model.json").exists());
    let logs = std::fs::read_to_string(root.join("logs.txt")).unwrap();
    assert!(logs.contains("serving on"), "{logs}");
    assert!(logs.contains("the serve container stopped"), "{logs}");
    let jobs = env.sm.jobs();
    assert_eq!(jobs[0].kind, JobKind::Transform);
    assert_eq!(jobs[0].status, "Completed");
    assert_eq!(jobs[0].instance_type, "ml.m5.large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_single_record_assembled_with_none() {
    let env = setup().await;
    transform_setup(&env, "single-model", "local/serve:1").await;
    env.sm
        .create_transform_job_sync(transform_request(
            "single-0",
            "single-model",
            "SingleRecord",
            "None",
        ))
        .await
        .unwrap();
    let bodies: Vec<String> = received(&env, "single-0")
        .iter()
        .map(|b| b["body"].as_str().unwrap().to_string())
        .collect();
    // One record per request; the blank line is not a record.
    assert_eq!(
        bodies,
        [
            "{\"x\": 1}",
            "{\"x\": 2}",
            "{\"x\": 3}",
            "{\"x\": 4}",
            "{\"x\": 5}"
        ]
    );
    assert_eq!(
        received(&env, "single-0")[0]["env"]["SAGEMAKER_BATCH_STRATEGY"],
        "SINGLE_RECORD"
    );
    // AssembleWith None: the responses concatenated as they came.
    let a = env.get("out", "transform/text/a.jsonl.out").await.unwrap();
    assert_eq!(
        String::from_utf8(a).unwrap(),
        format!(
            "{}{}{}",
            echo("{\"x\": 1}"),
            echo("{\"x\": 2}"),
            echo("{\"x\": 3}")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_without_split_sends_whole_objects_gzip_decompressed() {
    let env = setup().await;
    transform_setup(&env, "whole-model", "local/serve:1").await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"line one\nline two\n").unwrap();
    env.put("data", "zipped/x.txt.gz", &gz.finish().unwrap())
        .await;
    let mut request = transform_request("whole-0", "whole-model", "MultiRecord", "None");
    request["TransformInput"] = json!({
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/zipped/x.txt.gz"}},
        "CompressionType": "Gzip", "SplitType": "None", "ContentType": "text/plain"
    });
    request["ModelClientConfig"] =
        json!({"InvocationsTimeoutInSeconds": 30, "InvocationsMaxRetries": 0});
    env.sm.create_transform_job_sync(request).await.unwrap();
    let bodies = received(&env, "whole-0");
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["body"], "line one\nline two\n");
    assert_eq!(bodies[0]["content_type"], "text/plain");
    // An S3Uri naming one object: the output is named after its file name.
    assert!(env
        .get("out", "transform/text/x.txt.gz.out")
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_invocation_fails_the_job_after_the_retries() {
    let env = setup().await;
    transform_setup(&env, "failing-model", "local/serve-fail:1").await;
    let err = env
        .sm
        .create_transform_job_sync(transform_request(
            "fail-0",
            "failing-model",
            "MultiRecord",
            "Line",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.error, "States.TaskFailed");
    let cause = cause_json(&err);
    assert_eq!(cause["TransformJobStatus"], "Failed");
    let reason = cause["FailureReason"].as_str().unwrap();
    assert!(reason.contains("500"), "{reason}");
    assert!(reason.contains("model exploded on purpose"), "{reason}");
    assert!(reason.contains("s3://data/infer/a.jsonl"), "{reason}");
    // API_ModelClientConfig: InvocationsMaxRetries defaults to 3: 4 attempts in all,
    // and the job stops at the first object that fails.
    assert_eq!(received(&env, "fail-0").len(), 4);
    assert!(env.get("out", "transform/text/a.jsonl.out").await.is_none());

    let mut request = transform_request("fail-1", "failing-model", "MultiRecord", "Line");
    request["ModelClientConfig"] = json!({"InvocationsMaxRetries": 0});
    env.sm.create_transform_job_sync(request).await.unwrap_err();
    assert_eq!(received(&env, "fail-1").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_fails_the_job() {
    let env = setup().await;
    transform_setup(&env, "dying-model", "local/serve-die:1").await;
    let mut request = transform_request("die-0", "dying-model", "MultiRecord", "Line");
    request["ModelClientConfig"] = json!({"InvocationsMaxRetries": 0});
    let err = env.sm.create_transform_job_sync(request).await.unwrap_err();
    let reason = cause_json(&err)["FailureReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.starts_with("AlgorithmError:"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_never_becomes_healthy_fails_the_job() {
    let env = setup().await;
    let sm = env
        .sm
        .clone()
        .with_health_check_timeout(Duration::from_secs(1));
    transform_setup(&env, "sick-model", "local/serve-unhealthy:1").await;
    let started = Instant::now();
    let err = sm
        .create_transform_job_sync(transform_request(
            "sick-0",
            "sick-model",
            "MultiRecord",
            "Line",
        ))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    let reason = cause_json(&err)["FailureReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("container did not become healthy"),
        "{reason}"
    );
    assert!(received(&env, "sick-0").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_errors_before_the_job_starts() {
    let env = setup().await;
    // An unknown model (API_CreateTransformJob: ModelName must name an existing model).
    let err = env
        .sm
        .create_transform_job_sync(transform_request(
            "t-0",
            "no-such-model",
            "MultiRecord",
            "Line",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.error, "SageMaker.AmazonSageMakerException");
    assert!(err.cause.starts_with(
        "Could not find model \"arn:aws:sagemaker:eu-central-1:123456789012:model/no-such-model\"."
    ), "{}", err.cause);
    // Validation.
    transform_setup(&env, "ok-model", "local/serve:1").await;
    let mut request = transform_request("t_1", "ok-model", "Sometimes", "Line");
    request["MaxPayloadInMB"] = json!(101);
    let err = env.sm.create_transform_job_sync(request).await.unwrap_err();
    assert!(
        err.cause.starts_with("3 validation errors detected: "),
        "{}",
        err.cause
    );
    assert!(err.cause.contains("Value 't_1' at 'transformJobName'"));
    assert!(err.cause.contains("at 'batchStrategy' failed to satisfy constraint: Member must satisfy enum value set: [MultiRecord, SingleRecord]"));
    assert!(err.cause.contains("Value '101' at 'maxPayloadInMB'"));
    // A transform job name is unique too.
    env.sm
        .create_transform_job_sync(transform_request("t-2", "ok-model", "MultiRecord", "Line"))
        .await
        .unwrap();
    let err = env
        .sm
        .create_transform_job_sync(transform_request("t-2", "ok-model", "MultiRecord", "Line"))
        .await
        .unwrap_err();
    assert_eq!(err.error, "SageMaker.ResourceInUseException");
    // RecordIO splitting is not emulated.
    let mut request = transform_request("t-3", "ok-model", "MultiRecord", "Line");
    request["TransformInput"]["SplitType"] = json!("RecordIO");
    assert_eq!(
        env.sm
            .create_transform_job_sync(request)
            .await
            .unwrap_err()
            .error,
        errors::UNSUPPORTED
    );
}

// ---------------------------------------------------------------- through the engine

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_create_model_and_transform_through_the_engine() {
    let env = setup().await;
    env.training_data().await;
    env.put("data", "infer/a.jsonl", b"{\"x\": 1}\n{\"x\": 2}\n")
        .await;
    let mut train = training_request("unused", "local/train:1", "ok");
    train.as_object_mut().unwrap().remove("TrainingJobName");
    train["TrainingJobName.$"] = json!("States.Format('engine-train-{}', $$.State.RetryCount)");
    let mut transform = transform_request("engine-infer-0", "engine-model", "MultiRecord", "Line");
    transform
        .as_object_mut()
        .unwrap()
        .remove("TransformJobName");
    transform["TransformJobName.$"] =
        json!("States.Format('engine-infer-{}', $$.State.RetryCount)");
    let definition = json!({
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": train,
                "ResultSelector": {
                    "TrainingJobName.$": "$.TrainingJobName",
                    "TrainingJobStatus.$": "$.TrainingJobStatus",
                    "ModelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts"
                },
                "ResultPath": "$.training",
                "Next": "Create Model"
            },
            "Create Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName": "engine-model",
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": {"Image": "local/serve:1", "ModelDataUrl.$": "$.training.ModelArtifacts"}
                },
                "ResultPath": "$.model",
                "Next": "Inference"
            },
            "Inference": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                "Parameters": transform,
                "ResultSelector": {
                    "TransformJobName.$": "$.TransformJobName",
                    "TransformJobStatus.$": "$.TransformJobStatus",
                    "S3OutputPath.$": "$.TransformOutput.S3OutputPath"
                },
                "ResultPath": "$.inference",
                "End": true
            }
        }
    });
    let machine = StateMachine::parse(&definition).unwrap_or_else(|p| panic!("{p:#?}"));
    let engine = Engine {
        runner: std::sync::Arc::new(env.sm.clone()),
        clock: Clock { scale: 0.0 },
        observer: None,
    };
    let outcome = engine
        .execute(
            &machine,
            &ExecutionSpec {
                name: "e2e".into(),
                state_machine_name: "EnsembleTraining".into(),
                input: json!({}),
                region: "eu-central-1".into(),
                account: "123456789012".into(),
                role_arn: ROLE.into(),
            },
        )
        .await;
    let Status::Succeeded { output } = outcome.status else {
        panic!("{:#?}", outcome.status);
    };
    assert_eq!(
        output["training"],
        json!({"TrainingJobName": "engine-train-0", "TrainingJobStatus": "Completed",
               "ModelArtifacts": "s3://models/text/engine-train-0/output/model.tar.gz"})
    );
    assert_eq!(
        output["model"],
        json!({"ModelArn": "arn:aws:sagemaker:eu-central-1:123456789012:model/engine-model"})
    );
    assert_eq!(output["inference"]["TransformJobStatus"], "Completed");
    // The transform job served the model the training job produced.
    let out = env.get("out", "transform/text/a.jsonl.out").await.unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{}\n{}\n", echo("{\"x\": 1}"), echo("{\"x\": 2}"))
    );
    let kinds: Vec<JobKind> = env.sm.jobs().iter().map(|j| j.kind).collect();
    assert_eq!(kinds, [JobKind::Training, JobKind::Transform]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_dispatches_on_the_resource() {
    let env = setup().await;
    let url = upload_model(&env, "d/model.tar.gz").await;
    let answer = env
        .sm
        .invoke(
            "arn:aws:states:::sagemaker:createModel",
            json!({"ModelName": "d", "PrimaryContainer": {"Image": "local/serve:1", "ModelDataUrl": url}}),
        )
        .await
        .unwrap();
    assert!(answer["ModelArn"].as_str().unwrap().ends_with(":model/d"));
    let err = env
        .sm
        .invoke("arn:aws:states:::sagemaker:createEndpoint", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "States.Runtime");
    assert!(!env.sm.stop_job(JobKind::Training, "nothing-running"));
}
