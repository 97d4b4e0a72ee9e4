//! What the test modules share: the workspace root and its Lambda binaries; for the
//! SageMaker tests, a local SageMaker over a temporary work directory, a real
//! S3-compatible server (`local-s3`), the trainer scripts in `tests/trainers/` mapped
//! as images, and requests shaped like our state machine's.

// Each test module uses only part of it.
#![allow(dead_code)]

pub mod engine;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sfn_local::integrations::sagemaker::{ImageMap, LocalSageMaker, SageMakerConfig};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/ensemble-training-sagemaker";
pub const REGION: &str = "eu-central-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Env {
    pub s3: local_s3::LocalS3,
    pub client: aws_sdk_s3::Client,
    pub work: tempfile::TempDir,
    pub sm: LocalSageMaker,
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The directory of the project's Lambda binaries, built once per test process
/// (never a stale binary) with the workspace's integration tests' command, so both
/// share one build.
pub fn function_binaries() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = repo_root();
        let status = std::process::Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet"])
            .args(["--bin", "generate-config", "--bin", "copy-execution-data"])
            .args(["--bin", "aggregate-metrics", "--bin", "format-failure"])
            .args(["--bin", "sfn-local"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build of the function binaries failed: {status}"
            ));
        }
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        Ok(target.join("debug"))
    });
    match built {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

pub fn image_map() -> ImageMap {
    ImageMap::from_json(
        &json!([
            {"image": "local/train:1", "command": ["python3", "trainers/train.py"],
             "env": {"IMAGE_VAR": "from-the-image-map"}},
            {"image": "local/shell*", "command": ["trainers/exit3.sh"]},
            {"image": "local/serve:1", "command": ["python3", "trainers/serve.py"]},
            {"image": "local/serve-fail:1", "command": ["python3", "trainers/serve.py"],
             "env": {"SERVE_MODE": "fail"}},
            {"image": "local/serve-die:1", "command": ["python3", "trainers/serve.py"],
             "env": {"SERVE_MODE": "die"}},
            {"image": "local/serve-unhealthy:1", "command": ["python3", "trainers/serve.py"],
             "env": {"SERVE_MODE": "unhealthy"}},
            {"image": "local/missing-program:1", "command": ["trainers/no-such-program"]}
        ]),
        &tests_dir(),
    )
    .unwrap()
    .with_source(&tests_dir().join("images.json"))
}

/// An S3 server with the buckets `data`, `models` and `out`, and a local SageMaker
/// over a fresh work directory.
pub async fn setup() -> Env {
    let s3 = local_s3::LocalS3::start().unwrap();
    let client = s3.client();
    for bucket in ["data", "models", "out"] {
        client.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let sm = sagemaker_over(&s3, &client, work.path());
    Env {
        s3,
        client,
        work,
        sm,
    }
}

fn sagemaker_over(
    s3: &local_s3::LocalS3,
    client: &aws_sdk_s3::Client,
    work: &Path,
) -> LocalSageMaker {
    let s3_env = s3
        .lambda_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    LocalSageMaker::new(SageMakerConfig {
        work_dir: work.to_path_buf(),
        images: image_map(),
        s3: client.clone(),
        s3_env,
        region: REGION.into(),
        account: ACCOUNT.into(),
    })
    .with_stop_grace(Duration::from_secs(5))
}

impl Env {
    /// A new local SageMaker over the same work directory and S3, as the next
    /// `sfn-local run` process would create it.
    pub fn next_run(&self) -> LocalSageMaker {
        sagemaker_over(&self.s3, &self.client, self.work.path())
    }

    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(object.body.collect().await.unwrap().into_bytes().to_vec())
    }

    pub async fn training_data(&self) {
        self.put("data", "text/train/a.jsonl", b"{\"t\": 1}\n{\"t\": 2}\n")
            .await;
        self.put("data", "text/train/part/1/b.jsonl", b"{\"t\": 3}\n")
            .await;
        self.put("data", "text/validation/v.jsonl", b"{\"v\": 1}\n")
            .await;
    }

    /// `work_dir/<kind>/<name>`, kind `training` or `transform`.
    pub fn job_dir(&self, kind: &str, name: &str) -> PathBuf {
        self.work.path().join(kind).join(name)
    }
}

/// A CreateTrainingJob request shaped like our state machine's "Train Text Model"
/// Parameters after rendering (see `cargo run -p integration-tests --bin local-demo`).
pub fn training_request(name: &str, image: &str, mode: &str) -> Value {
    json!({
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "train:loss", "Regex": "train:loss=([-+0-9.eE]+)"},
                {"Name": "validation:accuracy", "Regex": "validation:accuracy=([-+0-9.eE]+)"},
                {"Name": "validation:macro_f1", "Regex": "validation:macro_f1=([-+0-9.eE]+)"}
            ]
        },
        "HyperParameters": {"mode": mode, "epochs": "30", "learning_rate": "0.1"},
        "InputDataConfig": [
            {"ChannelName": "train", "CompressionType": "None", "ContentType": "application/jsonlines",
             "DataSource": {"S3DataSource": {"S3DataDistributionType": "FullyReplicated",
                 "S3DataType": "S3Prefix", "S3Uri": "s3://data/text/train/"}}},
            {"ChannelName": "validation", "CompressionType": "None", "ContentType": "application/jsonlines",
             "DataSource": {"S3DataSource": {"S3DataDistributionType": "FullyReplicated",
                 "S3DataType": "S3Prefix", "S3Uri": "s3://data/text/validation/"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://models/text/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"EXTRA_VAR": "from-the-request"},
        "RoleArn": ROLE
    })
}

pub fn make_tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A tiny model.tar.gz at `s3://models/<key>`; returns its URI.
pub async fn upload_model(env: &Env, key: &str) -> String {
    let archive = make_tar_gz(&[("model.json", b"{\"name\": \"tiny-model\"}")]);
    env.put("models", key, &archive).await;
    format!("s3://models/{key}")
}

/// A CreateTransformJob request shaped like our state machine's "Text Model
/// Inference" Parameters.
pub fn transform_request(name: &str, model: &str, strategy: &str, assemble: &str) -> Value {
    json!({
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/infer/"}},
            "ContentType": "application/jsonlines",
            "SplitType": "Line",
            "CompressionType": "None"
        },
        "TransformOutput": {"S3OutputPath": "s3://out/transform/text/", "Accept": "application/jsonlines", "AssembleWith": assemble},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": strategy,
        "MaxPayloadInMB": 6
    })
}

/// A model named `model_name` running `image`, and input under `s3://data/infer/`.
pub async fn transform_setup(env: &Env, model_name: &str, image: &str) {
    let url = upload_model(env, &format!("{model_name}/model.tar.gz")).await;
    env.sm
        .create_model(json!({"ModelName": model_name, "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": image, "ModelDataUrl": url,
                "Environment": {"MODEL_VAR": "from-the-model"}}}))
        .await
        .unwrap();
    env.put(
        "data",
        "infer/a.jsonl",
        b"{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n",
    )
    .await;
    env.put("data", "infer/sub/b.jsonl", b"{\"x\": 4}\n\n{\"x\": 5}")
        .await;
}
