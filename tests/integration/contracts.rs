//! The state machine and the functions agree: each Lambda state's `Parameters` are
//! rendered from a realistic state exactly as the ASL says, fed to the real handler
//! (real SDK clients over HTTP against local servers), and the handler's result is
//! put through the state's `ResultSelector`; the next states' paths must resolve.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use integration_tests::asl::{
    all_states, apply_template, apply_template_with_context, definition, generated_for, resolve,
};
use integration_tests::s3_server::EmbeddedS3;
use integration_tests::sagemaker_server::LocalSageMaker;
use integration_tests::sample_data::sample_dataset;
use serde_json::{json, Value};

const ARTIFACTS: &str = "ensemble-artifacts";
const RAW: &str = "ensemble-raw-data";

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn context(execution: &str) -> Value {
    json!({
        "Execution": {
            "Name": execution,
            "Id": format!("arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:{execution}"),
            "StartTime": "2026-11-27T06:00:00.000Z",
        },
        "StateMachine": {"Name": "EnsembleTraining"},
        "State": {"RetryCount": 0},
    })
}

fn state(name: &str) -> Value {
    all_states(&definition())
        .remove(name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no state {name}"))
}

/// `ResultPath` applied: `result` written at a `$.a.b` path of `input`.
fn put_at(input: &mut Value, result_path: &str, result: Value) {
    let keys: Vec<&str> = result_path.trim_start_matches("$.").split('.').collect();
    let mut here = input;
    for key in &keys[..keys.len() - 1] {
        if here.get(*key).is_none() {
            here[*key] = json!({});
        }
        here = &mut here[*key];
    }
    here[keys[keys.len() - 1]] = result;
}

#[tokio::test]
async fn the_copy_loop_runs_as_the_asl_wires_it() {
    let s3_server = EmbeddedS3::start().unwrap();
    let s3 = s3_server.client();
    for bucket in [RAW, ARTIFACTS] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let dataset = sample_dataset(50, 1);
    let files = dataset.len();
    for (key, body) in dataset {
        s3.put_object()
            .bucket(RAW)
            .key(format!("documents/v1/{key}"))
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let config = copy_execution_data::config::CopyConfig::from_map(&vars(&[
        ("ARTIFACT_BUCKET", ARTIFACTS),
        ("ALLOWED_SOURCE_BUCKETS", RAW),
    ]))
    .unwrap();
    let copy_state = state("Copy Execution Data");
    let choice = state("Copy Complete?");
    let mut machine =
        json!({"generated": generated_for("examples/execution-input.json", "contract-copy")});
    let mut rounds = 0;
    loop {
        rounds += 1;
        let params = apply_template_with_context(
            &copy_state["Parameters"],
            &machine,
            Some(&context("contract-copy")),
        )
        .unwrap();
        // A deadline already inside the margin: one object per call, so the loop turns.
        let deadline = SystemTime::now() + Duration::from_secs(1);
        let result = copy_execution_data::handle(&s3, &config, params["Payload"].clone(), deadline)
            .await
            .unwrap();
        let payload = json!({"Payload": serde_json::to_value(result).unwrap()});
        let selected = apply_template(&copy_state["ResultSelector"], &payload).unwrap();
        put_at(
            &mut machine,
            copy_state["ResultPath"].as_str().unwrap(),
            selected,
        );
        let variable = choice["Choices"][0]["Variable"].as_str().unwrap();
        let done = resolve(&machine, variable)
            .and_then(Value::as_bool)
            .expect("the Choice reads a boolean");
        if done {
            break;
        }
        assert!(rounds < 50, "the copy loop does not end");
    }
    assert!(rounds > 1, "the continuation path was not exercised");
    assert_eq!(machine["generated"]["copy"]["copied"], json!(files));
    assert_eq!(machine["generated"]["copy"]["continuation"], Value::Null);
}

fn describe(name: &str, metrics: &[(&str, f64)]) -> Value {
    json!({
        "TrainingJobName": name,
        "TrainingJobStatus": "Completed",
        "CreationTime": 1_795_651_200.0,
        "TrainingStartTime": 1_795_651_320.0,
        "TrainingEndTime": 1_795_652_260.0,
        "ModelArtifacts": {"S3ModelArtifacts": format!("s3://{ARTIFACTS}/executions/x/models/{name}/output/model.tar.gz")},
        "FinalMetricDataList": metrics.iter().map(|(n, v)| json!({"MetricName": n, "Value": v, "Timestamp": 1_795_652_200.0})).collect::<Vec<_>>(),
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "HyperParameters": {},
        "TrainingTimeInSeconds": 940,
        "BillableTimeInSeconds": 940,
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400}
    })
}

/// Runs the tail of the state machine for `example`: branch outputs as the ASL
/// shapes them, `Aggregate Metrics` with the real handler, then the `Quality Gate`.
async fn aggregate_and_gate(
    example: &str,
    execution: &str,
    earlier: Option<&str>,
    sequence_f1: f64,
) -> (Value, String) {
    let s3_server = EmbeddedS3::start().unwrap();
    s3_server
        .client()
        .create_bucket()
        .bucket(ARTIFACTS)
        .send()
        .await
        .unwrap();
    let sagemaker = LocalSageMaker::start().unwrap();
    let ctx = context(execution);
    let mut machine = json!({"generated": generated_for(example, execution)});
    let g = machine["generated"].clone();

    // SageMaker holds this execution's jobs, and the earlier execution's when reusing.
    let base_metrics = [("validation:accuracy", 0.81), ("validation:macro_f1", 0.78)];
    for model in ["text_model", "image_model", "sequence_model"] {
        let metrics: Vec<(&str, f64)> = if model == "sequence_model" {
            vec![
                ("validation:accuracy", 0.9),
                ("validation:macro_f1", sequence_f1),
            ]
        } else {
            base_metrics.to_vec()
        };
        let name = format!(
            "{}0",
            g[model]["training_job_name_prefix"].as_str().unwrap()
        );
        sagemaker
            .put_training_job(describe(&name, &metrics))
            .unwrap();
        if let Some(prefix) = g[model]["reuse"]["training_job_name_prefix"].as_str() {
            sagemaker
                .put_training_job(describe(&format!("{prefix}1"), &base_metrics))
                .unwrap();
        }
    }
    if let Some(earlier) = earlier {
        assert_eq!(g["text_model"]["reuse"]["from_execution"], json!(earlier));
    }

    // Base Model Training's branches, each as the ASL produces its output.
    let mut branch_outputs = Vec::new();
    for (model, kind) in [("text_model", "Text"), ("image_model", "Image")] {
        if g[model]["train"] == json!(true) {
            let train = state(&format!("Train {kind} Model"));
            let name = apply_template_with_context(&train["Parameters"], &machine, Some(&ctx))
                .unwrap()["TrainingJobName"]
                .clone();
            let description = describe(name.as_str().unwrap(), &base_metrics);
            let selected = apply_template(&train["ResultSelector"], &description).unwrap();
            let create = state(&format!("Create {kind} Model"));
            assert_eq!(
                create["OutputPath"],
                json!(train["ResultPath"]),
                "the branch outputs the trimmed training result"
            );
            branch_outputs.push(selected);
        } else {
            let reuse = state(&format!("Reuse {kind} Model"));
            branch_outputs.push(
                apply_template_with_context(&reuse["Parameters"], &machine, Some(&ctx)).unwrap(),
            );
        }
    }
    put_at(
        &mut machine,
        state("Base Model Training")["ResultPath"].as_str().unwrap(),
        json!(branch_outputs),
    );
    let train_seq = state("Train Sequence Model");
    let seq_name = apply_template_with_context(&train_seq["Parameters"], &machine, Some(&ctx))
        .unwrap()["TrainingJobName"]
        .clone();
    let seq_description = describe(
        seq_name.as_str().unwrap(),
        &[("validation:macro_f1", sequence_f1)],
    );
    put_at(
        &mut machine,
        train_seq["ResultPath"].as_str().unwrap(),
        apply_template(&train_seq["ResultSelector"], &seq_description).unwrap(),
    );

    // Aggregate Metrics, with the real handler.
    let aggregate = state("Aggregate Metrics");
    let params =
        apply_template_with_context(&aggregate["Parameters"], &machine, Some(&ctx)).unwrap();
    let clients = aggregate_metrics::Clients {
        sagemaker: sagemaker.client(),
        s3: s3_server.client(),
    };
    let config = aggregate_metrics::Config::from_map(&vars(&[("ARTIFACT_BUCKET", ARTIFACTS)]));
    let summary = aggregate_metrics::handle(params["Payload"].clone(), &config, &clients)
        .await
        .unwrap_or_else(|e| panic!("aggregate-metrics refused what the ASL sends: {e}"));
    let selected =
        apply_template(&aggregate["ResultSelector"], &json!({"Payload": summary})).unwrap();
    put_at(
        &mut machine,
        aggregate["ResultPath"].as_str().unwrap(),
        selected,
    );

    // The Quality Gate and the success notification read what aggregate-metrics returned.
    let gate = state("Quality Gate");
    let passed = resolve(&machine, gate["Choices"][0]["Variable"].as_str().unwrap())
        .and_then(Value::as_bool)
        .expect("the gate reads a boolean");
    let next = if passed {
        gate["Choices"][0]["Next"].clone()
    } else {
        gate["Default"].clone()
    };
    let notify =
        apply_template_with_context(&state("Notify Success")["Parameters"], &machine, Some(&ctx))
            .unwrap();
    assert!(
        notify["Message"]
            .as_str()
            .is_some_and(|m| m.contains("validation:macro_f1")),
        "{notify}"
    );
    (machine, next.as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn aggregate_metrics_accepts_what_the_asl_sends_and_feeds_the_gate() {
    let (machine, next) =
        aggregate_and_gate("examples/execution-input.json", "contract-agg", None, 0.85).await;
    assert_eq!(next, "Notify Success");
    assert_eq!(
        machine["report"]["models"]["text"]["metrics"]["validation:accuracy"],
        json!(0.81)
    );
    assert_eq!(
        machine["report"]["models"]["sequence"]["metrics"]["validation:macro_f1"],
        json!(0.85)
    );

    let (_, next) = aggregate_and_gate(
        "examples/execution-input.json",
        "contract-agg-low",
        None,
        0.4,
    )
    .await;
    assert_eq!(next, "Quality Gate Not Met");
}

#[tokio::test]
async fn a_rerun_reuses_the_earlier_models_through_the_asl() {
    let (machine, next) = aggregate_and_gate(
        "examples/execution-input-rerun.json",
        "contract-rerun",
        Some("nightly-2026-11-26"),
        0.85,
    )
    .await;
    assert_eq!(next, "Notify Success");
    assert_eq!(machine["base_models"][0]["Reused"], json!(true));
    assert_eq!(
        machine["report"]["models"]["image"]["reused_from"],
        json!("nightly-2026-11-26")
    );
    assert_eq!(
        machine["report"]["models"]["image"]["metrics"]["validation:macro_f1"],
        json!(0.78)
    );
}

#[tokio::test]
async fn every_catch_and_the_gate_feed_format_failure_and_notify_failure() {
    let def = definition();
    let execution = "contract-failure";
    let ctx = context(execution);
    let config = format_failure::config::Config::from_map(&HashMap::new()).unwrap();
    // The Catch path never publishes from the function: an unreachable endpoint proves it.
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let format_state = state("Format Failure");
    let notify = state("Notify Failure");
    let mut catchers: Vec<(String, String, Value)> = Vec::new();
    for (name, s) in def["States"].as_object().unwrap() {
        for c in s["Catch"].as_array().into_iter().flatten() {
            if c["Next"] == json!("Format Failure") {
                let lambda_cause = json!({"errorType": "InvalidInput", "errorMessage": "$.input_data: is required", "trace": []});
                catchers.push((
                    name.clone(),
                    c["ResultPath"].as_str().unwrap().to_string(),
                    json!({"Error": "InvalidInput", "Cause": lambda_cause.to_string()}),
                ));
            }
        }
    }
    assert!(catchers.len() >= 8, "{catchers:?}");
    // The gate's Pass builds its failure from the report's quality_gate.
    let gate_pass = state("Quality Gate Not Met");
    let report = json!({"report": {"quality_gate": {"metric": "validation:macro_f1", "threshold": 0.6, "value": 0.52, "passed": false, "reason": "below"}}});
    let gate_failure =
        apply_template_with_context(&gate_pass["Parameters"], &report, Some(&ctx)).unwrap();
    catchers.push((
        "Quality Gate".into(),
        gate_pass["ResultPath"].as_str().unwrap().into(),
        gate_failure,
    ));

    for (state_name, result_path, failure) in catchers {
        let mut machine =
            json!({"generated": generated_for("examples/execution-input.json", execution)});
        put_at(&mut machine, &result_path, failure);
        let params =
            apply_template_with_context(&format_state["Parameters"], &machine, Some(&ctx)).unwrap();
        let outcome = format_failure::handle(params["Payload"].clone(), &config, &sns)
            .await
            .unwrap_or_else(|e| {
                panic!("{state_name}: format-failure refused what the ASL sends: {e}")
            });
        assert!(!outcome.published, "{state_name}");
        let selected = apply_template(
            &format_state["ResultSelector"],
            &json!({"Payload": outcome}),
        )
        .unwrap();
        put_at(
            &mut machine,
            format_state["ResultPath"].as_str().unwrap(),
            selected,
        );
        let publish =
            apply_template_with_context(&notify["Parameters"], &machine, Some(&ctx)).unwrap();
        let subject = publish["Subject"].as_str().unwrap();
        assert!(
            subject.len() <= 100 && subject.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{subject:?}"
        );
        let message = publish["Message"].as_str().unwrap();
        assert!(
            message.contains(&state_name),
            "{state_name}: the message must name the failed state:\n{message}"
        );
        assert!(message.contains(execution), "{state_name}");
    }
}
