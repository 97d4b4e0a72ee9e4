//! The closest local demonstration of the workflow until `sfn-local` exists: the
//! real handlers, with the real AWS SDK clients over HTTP against an embedded
//! S3-compatible server. Progress on stderr, a JSON summary on stdout.
//!
//! 1. writes a small dataset into `s3://ensemble-raw-data/documents/v1/`;
//! 2. generate-config on `examples/execution-input.json`;
//! 3. copy-execution-data, looping on its continuation as the state machine does,
//!    then once more to show that a rerun skips what is already copied;
//! 4. renders the CreateTrainingJob request `Train Text Model` would send;
//! 5. format-failure on `events/format-failure.json` (a failed training job).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use integration_tests::asl::{definition, read_repo_file, repo_root, resolve};
use integration_tests::s3_server::EmbeddedS3;
use integration_tests::sample_data::sample_dataset;
use serde_json::{json, Value};

const SOURCE_BUCKET: &str = "ensemble-raw-data";
const ARTIFACT_BUCKET: &str = "ensemble-artifacts";
const DATASET_PREFIX: &str = "documents/v1/";

type DemoResult<T> = Result<T, String>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("local-demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn run() -> DemoResult<Value> {
    let root = repo_root().join("target/local-demo/s3");
    let _ = std::fs::remove_dir_all(&root);
    let server =
        EmbeddedS3::start_in(&root).map_err(|e| format!("starting the embedded S3: {e}"))?;
    let s3 = server.client();
    eprintln!(
        "embedded S3 at {} (data in {})",
        server.endpoint(),
        root.display()
    );

    for bucket in [SOURCE_BUCKET, ARTIFACT_BUCKET] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| format!("create {bucket}: {e}"))?;
    }
    let dataset = sample_dataset(60, 2026);
    for (key, body) in &dataset {
        s3.put_object()
            .bucket(SOURCE_BUCKET)
            .key(format!("{DATASET_PREFIX}{key}"))
            .content_type("application/jsonlines")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .map_err(|e| format!("upload {key}: {e}"))?;
    }
    eprintln!(
        "wrote {} dataset files to s3://{SOURCE_BUCKET}/{DATASET_PREFIX}",
        dataset.len()
    );

    // generate-config, as the state machine calls it (execution_name added).
    let execution_name = format!(
        "local-demo-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    let mut input: Value = serde_json::from_str(&read_repo_file("examples/execution-input.json"))
        .map_err(|e| format!("examples/execution-input.json: {e}"))?;
    input["input_data"] = json!(format!("s3://{SOURCE_BUCKET}/{DATASET_PREFIX}"));
    input["execution_name"] = json!(execution_name);
    let generate_config = generate_config::Config::from_map(&vars(&[
        ("ARTIFACT_BUCKET", ARTIFACT_BUCKET),
        ("ALLOWED_SOURCE_BUCKETS", SOURCE_BUCKET),
    ]))
    .map_err(|e| e.to_string())?;
    let generated = generate_config::handle(input, &generate_config)
        .map_err(|e| format!("generate-config: {e}"))?;
    eprintln!(
        "generate-config: execution prefix {}",
        generated["execution_prefix"]
    );

    // copy-execution-data, looping on the continuation like the `Copy Complete?` Choice.
    let copy_config = copy_execution_data::config::CopyConfig::from_map(&vars(&[
        ("ARTIFACT_BUCKET", ARTIFACT_BUCKET),
        ("ALLOWED_SOURCE_BUCKETS", SOURCE_BUCKET),
    ]))
    .map_err(|e| e.to_string())?;
    let copy = copy_loop(&s3, &copy_config, generated["copy"].clone()).await?;
    let rerun = copy_loop(&s3, &copy_config, generated["copy"].clone()).await?;

    // The request `Train Text Model` sends to SageMaker, attempt 0.
    let state = json!({"generated": generated});
    let asl = definition();
    let train_text = &asl["States"]["Base Model Training"]["Branches"][0]["States"]
        ["Train Text Model"]["Parameters"];
    let request = render(train_text, &state)?;
    eprintln!(
        "Train Text Model would start training job {} reading {} channel(s)",
        request["TrainingJobName"],
        request["InputDataConfig"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    );

    // format-failure on a failed SageMaker training job, as the Catch path calls it.
    let failure_event: Value = serde_json::from_str(&read_repo_file("events/format-failure.json"))
        .map_err(|e| format!("events/format-failure.json: {e}"))?;
    let format_config =
        format_failure::config::Config::from_map(&HashMap::new()).map_err(|e| e.to_string())?;
    let unused_sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .build(),
    );
    let notification = format_failure::handle(failure_event, &format_config, &unused_sns)
        .await
        .map_err(|e| format!("format-failure: {e}"))?;
    eprintln!(
        "\n--- the failure notification ---\nSubject: {}\n\n{}\n---",
        notification.subject, notification.message
    );

    Ok(json!({
        "execution_name": execution_name,
        "generated": {
            "execution_prefix": generated["execution_prefix"],
            "training_job_name_prefixes": {
                "text": generated["text_model"]["training_job_name_prefix"],
                "image": generated["image_model"]["training_job_name_prefix"],
                "sequence": generated["sequence_model"]["training_job_name_prefix"],
            },
            "output_artifact_paths": generated["output_artifact_paths"],
        },
        "copy": copy,
        "copy_rerun": rerun,
        "train_text_model_request": request,
        "failure_notification": {"Subject": notification.subject, "failed_state": notification.failed_state, "error": notification.error},
    }))
}

async fn copy_loop(
    s3: &aws_sdk_s3::Client,
    config: &copy_execution_data::config::CopyConfig,
    mut event: Value,
) -> DemoResult<Value> {
    let started = Instant::now();
    for round in 1.. {
        let deadline = SystemTime::now() + Duration::from_secs(900);
        let result = copy_execution_data::handle(s3, config, event, deadline)
            .await
            .map_err(|e| format!("copy-execution-data: {} ({})", e, e.kind))?;
        let value = serde_json::to_value(&result).map_err(|e| e.to_string())?;
        eprintln!(
            "copy-execution-data round {round}: done={} copied={} skipped={} bytes={}",
            value["done"], value["copied"], value["skipped"], value["bytes"]
        );
        if result.done {
            eprintln!("copy finished in {:.2?}", started.elapsed());
            return Ok(value);
        }
        event = value;
    }
    Err("unreachable".into())
}

/// Renders a state's `Parameters` the way Step Functions does for the shapes the
/// state machine uses: plain paths, and `States.Format('{}{}', path, $$.State.RetryCount)`
/// at attempt 0.
fn render(template: &Value, state: &Value) -> DemoResult<Value> {
    match template {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                match (key.strip_suffix(".$"), value.as_str()) {
                    (Some(name), Some(expr)) => {
                        let rendered =
                            if let Some(args) = expr.strip_prefix("States.Format('{}{}', ") {
                                let path = args.split(',').next().unwrap_or_default();
                                let prefix = resolve(state, path)
                                    .and_then(Value::as_str)
                                    .ok_or(format!("{path} not found"))?;
                                json!(format!("{prefix}0"))
                            } else {
                                resolve(state, expr)
                                    .cloned()
                                    .ok_or(format!("{expr} not found"))?
                            };
                        out.insert(name.to_string(), rendered);
                    }
                    _ => {
                        out.insert(key.clone(), render(value, state)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::String(s) if s.starts_with("${") => Ok(json!(format!(
            "<{} from the template>",
            s.trim_matches(['$', '{', '}'])
        ))),
        other => Ok(other.clone()),
    }
}
