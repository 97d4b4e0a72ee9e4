//! CreateModel and CreateTransformJob: the model registry, the `serve` container,
//! `/ping` and `/invocations`, splitting and batching records, assembling outputs,
//! and the DescribeTransformJob result.
//!
//! Sources: API_CreateModel, API_CreateTransformJob, API_TransformInput (SplitType:
//! "Line to split records on a newline character boundary"; MultiRecord "sends the
//! maximum number of records in each request, up to the MaxPayloadInMB limit",
//! SingleRecord "individual records"), API_TransformOutput (".out suffix in a
//! corresponding subfolder in the location in the output prefix"; AssembleWith Line
//! "add a newline character at the end of every transformed record"; "batch transform
//! doesn't upload partially processed objects"), API_ModelClientConfig (invocation
//! timeout 600 s and 3 retries by default), your-algorithms-batch-code (`serve`,
//! `SAGEMAKER_BATCH`, `SAGEMAKER_MAX_PAYLOAD_IN_MB`, `SAGEMAKER_BATCH_STRATEGY`,
//! `SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`, the model unpacked into `/opt/ml/model`),
//! your-algorithms-inference-code (`SAGEMAKER_BIND_TO_PORT`, `GET /ping`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::container::{self, Container, Launch};
use super::images::{valid_env_name, ImageCommand, ImageMap};
use super::s3io::{self, S3Uri};
use super::validate::{self, Checks};
use super::{
    container_env, errors, now_millis, request_object, seconds_between, truncate_chars,
    unsupported, validation_error, Inner, JobKind, JobRecord, Model,
};
use crate::asl::AslError;

const FAILURE_REASON_MAX: usize = 1024;
/// Each `GET /ping` must answer within this (hosting's rule: 2 s).
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const PING_INTERVAL: Duration = Duration::from_millis(100);
const MIB: usize = 1024 * 1024;

/// A validated CreateModel request.
pub(crate) struct ModelSpec {
    pub model: Model,
}

/// Validates a CreateModel request; the container's image must be mapped.
pub(crate) fn parse_model(parameters: &Value, images: &ImageMap) -> Result<ModelSpec, AslError> {
    let request = request_object(parameters)?;
    let mut c = Checks::default();
    let name = c.patterned(
        request,
        "ModelName",
        "modelName",
        true,
        63,
        model_name_ok,
        validate::MODEL_NAME_PATTERN,
    );
    if request.contains_key("ExecutionRoleArn") {
        c.patterned(
            request,
            "ExecutionRoleArn",
            "executionRoleArn",
            false,
            2048,
            validate::role_arn_ok,
            validate::ROLE_ARN_PATTERN,
        );
    }
    let primary = c.object(request, "PrimaryContainer", "primaryContainer", false);
    let containers = c.array(request, "Containers", "containers", false);
    let container = match (primary, containers) {
        (Some(p), None) => Some(("primaryContainer".to_string(), p)),
        (None, Some(list)) => match list.as_slice() {
            [Value::Object(one)] => Some(("containers.1.member".to_string(), one)),
            [] => {
                c.fail(
                    request.get("Containers"),
                    "containers",
                    "Member must have length greater than or equal to 1",
                );
                None
            }
            [_] => {
                c.fail(
                    list.first(),
                    "containers.1.member",
                    "Member must be a structure",
                );
                None
            }
            _ => {
                if c.is_ok() {
                    return Err(unsupported(
                        "inference pipelines (Containers with more than one container)",
                    ));
                }
                None
            }
        },
        (Some(_), Some(_)) => {
            c.fail_message("Specify either PrimaryContainer or Containers, not both.");
            None
        }
        (None, None) => {
            if c.is_ok() {
                c.fail_message(
                    "Either PrimaryContainer or Containers must be specified in CreateModel.",
                );
            }
            None
        }
    };
    let mut image = None;
    let mut model_data_url = None;
    let mut environment = BTreeMap::new();
    let mut package = false;
    let mut multi_model = false;
    if let Some((at, container)) = container {
        package = container.contains_key("ModelPackageName");
        image = c.string(container, "Image", &format!("{at}.image"), !package, 1, 255);
        model_data_url = c.patterned(
            container,
            "ModelDataUrl",
            &format!("{at}.modelDataUrl"),
            false,
            1024,
            validate::s3_uri_ok,
            validate::S3_URI_PATTERN,
        );
        environment = c.string_map(
            container,
            "Environment",
            &format!("{at}.environment"),
            100,
            1024,
            1024,
            valid_env_name,
            "[a-zA-Z_][a-zA-Z0-9_]*",
        );
        multi_model = c
            .one_of(
                container,
                "Mode",
                &format!("{at}.mode"),
                false,
                &["SingleModel", "MultiModel"],
            )
            .as_deref()
            == Some("MultiModel");
        if container.contains_key("ModelDataSource") {
            return Err(unsupported(
                "ModelDataSource (uncompressed model data): give a ModelDataUrl to a model.tar.gz",
            ));
        }
    }
    if let Some(message) = c.message() {
        return Err(validation_error(&message));
    }
    if package {
        return Err(unsupported("ModelPackageName: give the container's Image"));
    }
    if multi_model {
        return Err(unsupported("multi-model endpoints (Mode MultiModel)"));
    }
    let (Some(name), Some(image)) = (name, image) else {
        return Err(validation_error(
            "1 validation error detected: incomplete request",
        ));
    };
    if let Some(url) = &model_data_url {
        if S3Uri::parse(url).is_none() {
            return Err(unsupported(&format!(
                "the ModelDataUrl {url:?}: only s3:// URIs have a local meaning"
            )));
        }
    }
    images
        .resolve(&image)
        .map_err(|e| AslError::new(errors::IMAGE_NOT_MAPPED, e))?;
    Ok(ModelSpec {
        model: Model {
            name,
            image,
            model_data_url,
            environment,
        },
    })
}

/// The DescribeModel response of a model created from `request` (validated by
/// [`parse_model`]): the request's members echoed, as SageMaker does, with the ARN and
/// the creation time (epoch milliseconds, like the job descriptions).
pub(crate) fn describe_model(request: &Value, arn: &str, creation: u64) -> Value {
    let mut d = Map::new();
    for key in [
        "ModelName",
        "PrimaryContainer",
        "Containers",
        "InferenceExecutionConfig",
        "ExecutionRoleArn",
        "VpcConfig",
        "DeploymentRecommendation",
    ] {
        if let Some(v) = request.get(key) {
            d.insert(key.into(), v.clone());
        }
    }
    d.insert("CreationTime".into(), json!(creation));
    d.insert("ModelArn".into(), json!(arn));
    d.insert(
        "EnableNetworkIsolation".into(),
        request
            .get("EnableNetworkIsolation")
            .cloned()
            .unwrap_or(json!(false)),
    );
    Value::Object(d)
}

fn model_name_ok(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// CreateModel refuses model data that is not there ("Could not find model data at
/// s3://...": the ValidationException SageMaker answers).
pub(crate) async fn check_model_data(
    client: &aws_sdk_s3::Client,
    url: &str,
) -> Result<(), AslError> {
    let missing = || validation_error(&format!("Could not find model data at {url}."));
    let uri = S3Uri::parse(url).ok_or_else(missing)?;
    match s3io::exists(client, &uri).await {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(missing()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    None,
    Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    SingleRecord,
    MultiRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Assemble {
    None,
    Line,
}

pub(crate) struct TransformSpec {
    pub name: String,
    pub arn: String,
    pub model: Model,
    pub image: ImageCommand,
    pub input: S3Uri,
    pub input_text: String,
    pub content_type: Option<String>,
    pub gzip: bool,
    pub split: Split,
    pub output: S3Uri,
    pub accept: Option<String>,
    pub assemble: Assemble,
    pub strategy: Strategy,
    /// `None`: no limit (MaxPayloadInMB 0, chunked in SageMaker).
    pub max_payload_bytes: Option<usize>,
    pub concurrency: usize,
    pub invocation_timeout: Duration,
    pub max_retries: u64,
    pub environment: BTreeMap<String, String>,
    pub instance_type: String,
    pub instance_count: u64,
    pub request: Map<String, Value>,
    pub creation_time: u64,
}

/// Validates a CreateTransformJob request; its model must exist and its image be
/// mapped.
pub(crate) fn parse_job(parameters: &Value, inner: &Inner) -> Result<TransformSpec, AslError> {
    let request = request_object(parameters)?;
    let mut c = Checks::default();
    let name = c.patterned(
        request,
        "TransformJobName",
        "transformJobName",
        true,
        63,
        validate::job_name_ok,
        validate::JOB_NAME_PATTERN,
    );
    let model_name = c.patterned(
        request,
        "ModelName",
        "modelName",
        true,
        63,
        validate::job_name_ok,
        validate::JOB_NAME_PATTERN,
    );
    let max_concurrent = c.integer(
        request,
        "MaxConcurrentTransforms",
        "maxConcurrentTransforms",
        false,
        0,
        i64::from(i32::MAX),
    );
    let max_payload = c.integer(request, "MaxPayloadInMB", "maxPayloadInMB", false, 0, 100);
    let strategy = c.one_of(
        request,
        "BatchStrategy",
        "batchStrategy",
        false,
        &["MultiRecord", "SingleRecord"],
    );
    let environment = c.string_map(
        request,
        "Environment",
        "environment",
        16,
        1024,
        10240,
        valid_env_name,
        "[a-zA-Z_][a-zA-Z0-9_]{0,1023}",
    );
    let mut invocation_timeout = 600u64;
    let mut max_retries = 3u64;
    if let Some(client) = c.object(request, "ModelClientConfig", "modelClientConfig", false) {
        if let Some(t) = c.integer(
            client,
            "InvocationsTimeoutInSeconds",
            "modelClientConfig.invocationsTimeoutInSeconds",
            false,
            1,
            3600,
        ) {
            invocation_timeout = u64::try_from(t).unwrap_or(600);
        }
        if let Some(r) = c.integer(
            client,
            "InvocationsMaxRetries",
            "modelClientConfig.invocationsMaxRetries",
            false,
            0,
            3,
        ) {
            max_retries = u64::try_from(r).unwrap_or(3);
        }
    }
    let mut input = None;
    let mut data_type = None;
    let mut content_type = None;
    let mut compression = None;
    let mut split = None;
    if let Some(ti) = c.object(request, "TransformInput", "transformInput", true) {
        if let Some(source) = c.object(ti, "DataSource", "transformInput.dataSource", true) {
            if let Some(s3) = c.object(
                source,
                "S3DataSource",
                "transformInput.dataSource.s3DataSource",
                true,
            ) {
                data_type = c.one_of(
                    s3,
                    "S3DataType",
                    "transformInput.dataSource.s3DataSource.s3DataType",
                    true,
                    &[
                        "ManifestFile",
                        "S3Prefix",
                        "AugmentedManifestFile",
                        "Converse",
                    ],
                );
                input = c.patterned(
                    s3,
                    "S3Uri",
                    "transformInput.dataSource.s3DataSource.s3Uri",
                    true,
                    1024,
                    validate::s3_uri_ok,
                    validate::S3_URI_PATTERN,
                );
            }
        }
        content_type = c.string(
            ti,
            "ContentType",
            "transformInput.contentType",
            false,
            0,
            256,
        );
        compression = c.one_of(
            ti,
            "CompressionType",
            "transformInput.compressionType",
            false,
            &["None", "Gzip"],
        );
        split = c.one_of(
            ti,
            "SplitType",
            "transformInput.splitType",
            false,
            &["None", "Line", "RecordIO", "TFRecord"],
        );
    }
    let mut output = None;
    let mut accept = None;
    let mut assemble = None;
    if let Some(to) = c.object(request, "TransformOutput", "transformOutput", true) {
        output = c.patterned(
            to,
            "S3OutputPath",
            "transformOutput.s3OutputPath",
            true,
            1024,
            validate::s3_uri_ok,
            validate::S3_URI_PATTERN,
        );
        accept = c.string(to, "Accept", "transformOutput.accept", false, 0, 256);
        assemble = c.one_of(
            to,
            "AssembleWith",
            "transformOutput.assembleWith",
            false,
            &["None", "Line"],
        );
    }
    let mut instance_type = None;
    let mut instance_count = None;
    if let Some(tr) = c.object(request, "TransformResources", "transformResources", true) {
        instance_type = c.string(
            tr,
            "InstanceType",
            "transformResources.instanceType",
            true,
            1,
            64,
        );
        instance_count = c.integer(
            tr,
            "InstanceCount",
            "transformResources.instanceCount",
            true,
            1,
            i64::from(i32::MAX),
        );
    }
    if let (Some(n), Some(mb)) = (max_concurrent, max_payload) {
        if n.saturating_mul(mb) > 100 {
            c.fail_message(format!(
                "MaxConcurrentTransforms * MaxPayloadInMB must not exceed 100 MB (got {n} * {mb})"
            ));
        }
    }
    if let Some(message) = c.message() {
        return Err(validation_error(&message));
    }
    let (
        Some(name),
        Some(model_name),
        Some(input_text),
        Some(data_type),
        Some(output_text),
        Some(instance_type),
        Some(instance_count),
    ) = (
        name,
        model_name,
        input,
        data_type,
        output,
        instance_type,
        instance_count,
    )
    else {
        return Err(validation_error(
            "1 validation error detected: incomplete request",
        ));
    };
    let model = inner.model(&model_name).ok_or_else(|| {
        validation_error(&format!(
            "Could not find model \"{}\".",
            inner.arn("model", &model_name)
        ))
    })?;

    // What this runner can run.
    if data_type != "S3Prefix" {
        return Err(unsupported(&format!(
            "the TransformInput S3DataType {data_type}: only S3Prefix is emulated"
        )));
    }
    let split = match split.as_deref() {
        None | Some("None") => Split::None,
        Some("Line") => Split::Line,
        Some(other) => {
            return Err(unsupported(&format!(
                "SplitType {other}: only None and Line are emulated"
            )))
        }
    };
    if request
        .get("DataProcessing")
        .and_then(Value::as_object)
        .is_some_and(|dp| !dp.is_empty())
    {
        return Err(unsupported(
            "DataProcessing (InputFilter, OutputFilter, JoinSource)",
        ));
    }
    let input = S3Uri::parse(&input_text).ok_or_else(|| {
        unsupported(&format!(
            "the TransformInput S3Uri {input_text:?}: only s3:// URIs have a local meaning"
        ))
    })?;
    let output = S3Uri::parse(&output_text).ok_or_else(|| {
        unsupported(&format!(
            "the S3OutputPath {output_text:?}: only s3:// URIs have a local meaning"
        ))
    })?;
    let image = inner
        .config
        .images
        .resolve(&model.image)
        .cloned()
        .map_err(|e| AslError::new(errors::IMAGE_NOT_MAPPED, e))?;
    Ok(TransformSpec {
        arn: inner.arn("transform-job", &name),
        name,
        model,
        image,
        input,
        input_text,
        content_type,
        gzip: compression.as_deref() == Some("Gzip"),
        split,
        output,
        accept,
        assemble: match assemble.as_deref() {
            Some("Line") => Assemble::Line,
            _ => Assemble::None,
        },
        // Unset: one record per request, which every container can serve (SageMaker
        // would ask the container's optional /execution-parameters first).
        strategy: match strategy.as_deref() {
            Some("MultiRecord") => Strategy::MultiRecord,
            _ => Strategy::SingleRecord,
        },
        // API_CreateTransformJob: "The default value is 6 MB"; 0 means no limit
        // (chunked encoding).
        max_payload_bytes: match max_payload {
            Some(0) => None,
            Some(mb) => Some(usize::try_from(mb).unwrap_or(6).saturating_mul(MIB)),
            None => Some(6 * MIB),
        },
        concurrency: max_concurrent
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(1),
        invocation_timeout: Duration::from_secs(invocation_timeout),
        max_retries,
        environment,
        instance_type,
        instance_count: u64::try_from(instance_count).unwrap_or(1),
        request: request.clone(),
        creation_time: now_millis(),
    })
}

impl TransformSpec {
    pub fn record(&self, inner: &Inner) -> JobRecord {
        JobRecord {
            name: self.name.clone(),
            arn: self.arn.clone(),
            kind: JobKind::Transform,
            instance_type: self.instance_type.clone(),
            instance_count: self.instance_count,
            billable_seconds: 0,
            status: "InProgress".to_string(),
            secondary_status: None,
            failure_reason: None,
            dir: job_dir(inner, &self.name),
            from_earlier_run: false,
        }
    }

    pub fn initial_description(&self) -> Value {
        describe(self, &Progress::new(self.creation_time))
    }
}

fn job_dir(inner: &Inner, name: &str) -> PathBuf {
    super::store::jobs_root(&inner.config.work_dir, JobKind::Transform).join(name)
}

#[derive(Debug, Clone)]
struct Progress {
    creation: u64,
    start: Option<u64>,
    end: Option<u64>,
    status: &'static str,
    failure: Option<String>,
}

impl Progress {
    fn new(creation: u64) -> Progress {
        Progress {
            creation,
            start: None,
            end: None,
            status: "InProgress",
            failure: None,
        }
    }
}

/// The DescribeTransformJob response. Timestamps are epoch milliseconds.
fn describe(spec: &TransformSpec, p: &Progress) -> Value {
    let r = &spec.request;
    let mut d = Map::new();
    d.insert("TransformJobName".into(), json!(spec.name));
    d.insert("TransformJobArn".into(), json!(spec.arn));
    d.insert("TransformJobStatus".into(), json!(p.status));
    if let Some(failure) = &p.failure {
        d.insert("FailureReason".into(), json!(failure));
    }
    d.insert("ModelName".into(), json!(spec.model.name));
    for key in [
        "MaxConcurrentTransforms",
        "ModelClientConfig",
        "MaxPayloadInMB",
        "BatchStrategy",
        "Environment",
        "TransformInput",
        "TransformOutput",
        "DataCaptureConfig",
        "TransformResources",
        "DataProcessing",
        "ExperimentConfig",
    ] {
        if let Some(v) = r.get(key) {
            d.insert(key.into(), v.clone());
        }
    }
    d.insert("CreationTime".into(), json!(p.creation));
    if let Some(start) = p.start {
        d.insert("TransformStartTime".into(), json!(start));
    }
    if let Some(end) = p.end {
        d.insert("TransformEndTime".into(), json!(end));
    }
    Value::Object(d)
}

/// The records of one input object.
pub(crate) fn split_records(data: &[u8], split: Split) -> Vec<&[u8]> {
    match split {
        Split::None => vec![data],
        // Empty lines (and the empty piece after a final newline) are not records.
        Split::Line => data
            .split(|b| *b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .collect(),
    }
}

/// The request bodies for one object's records: one record each (SingleRecord), or
/// as many newline-joined records as fit in `max_bytes` (MultiRecord). A record that
/// does not fit alone is an error.
pub(crate) fn batch_payloads(
    records: &[&[u8]],
    strategy: Strategy,
    max_bytes: Option<usize>,
) -> Result<Vec<Vec<u8>>, String> {
    let limit = max_bytes.unwrap_or(usize::MAX);
    let mut payloads = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut in_current = 0usize;
    for (i, record) in records.iter().enumerate() {
        if record.len() > limit {
            return Err(format!(
                "record {} is {} bytes, larger than MaxPayloadInMB ({} bytes)",
                i + 1,
                record.len(),
                limit
            ));
        }
        match strategy {
            Strategy::SingleRecord => payloads.push(record.to_vec()),
            Strategy::MultiRecord => {
                if in_current > 0 && current.len() + 1 + record.len() > limit {
                    payloads.push(std::mem::take(&mut current));
                    in_current = 0;
                }
                if in_current > 0 {
                    current.push(b'\n');
                }
                current.extend_from_slice(record);
                in_current += 1;
            }
        }
    }
    if in_current > 0 {
        payloads.push(current);
    }
    Ok(payloads)
}

/// One object's `.out` content from its responses, in request order.
pub(crate) fn assemble(responses: &[Bytes], with: Assemble) -> Vec<u8> {
    let mut out = Vec::with_capacity(responses.iter().map(|r| r.len() + 1).sum());
    for response in responses {
        out.extend_from_slice(response);
        if with == Assemble::Line && !response.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// One HTTP/1.1 exchange with the container on 127.0.0.1.
async fn http_call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let exchange = async {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let connection = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("invalid request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path} failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer to {method} {path} failed: {e}"))?
            .to_bytes();
        connection.abort();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        format!(
            "{method} {path}: no answer within {} s",
            timeout.as_secs_f64()
        )
    })?
}

fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Why a job did not complete.
enum Stop {
    Failed(String),
    Stopped,
}

/// Runs the job to its end; returns the final description.
pub(crate) async fn run(
    inner: Arc<Inner>,
    index: usize,
    spec: TransformSpec,
    mut stop: watch::Receiver<bool>,
) -> Value {
    let root = job_dir(&inner, &spec.name);
    let log = root.join("logs.txt");
    let mut p = Progress::new(spec.creation_time);
    // An earlier runner may have left a directory of this name; its description.json
    // is this job's own, written when the name was reserved.
    super::store::clear_job_dir(&root);
    if let Err(e) = std::fs::create_dir_all(root.join("model")) {
        return finish(
            &inner,
            index,
            &spec,
            p,
            Err(Stop::Failed(format!(
                "InternalServerError: cannot prepare {}: {e}",
                root.display()
            ))),
            &log,
        );
    }
    container::note(&log, &format!("transform job {} ({})", spec.name, spec.arn));
    p.start = Some(now_millis());
    inner.mark_started(index);
    inner.publish(index, &describe(&spec, &p));
    let tuning = inner.tuning();
    let mut server: Option<Container> = None;
    let outcome = serve_and_transform(
        &inner,
        &spec,
        &root,
        &mut server,
        &mut stop,
        tuning.health_timeout,
    )
    .await;
    if let Some(mut container) = server {
        let code = container.stop(tuning.stop_grace).await;
        container.flush_logs().await;
        container::note(
            &log,
            &format!("the serve container stopped (exit code {code})"),
        );
    }
    finish(&inner, index, &spec, p, outcome, &log)
}

async fn serve_and_transform(
    inner: &Inner,
    spec: &TransformSpec,
    root: &Path,
    server: &mut Option<Container>,
    stop: &mut watch::Receiver<bool>,
    health_timeout: Duration,
) -> Result<usize, Stop> {
    let log = root.join("logs.txt");
    // The model data, unpacked into /opt/ml/model.
    if let Some(url) = &spec.model.model_data_url {
        let uri = S3Uri::parse(url)
            .ok_or_else(|| Stop::Failed(format!("ClientError: invalid ModelDataUrl {url}")))?;
        let data = s3io::get_bytes(&inner.config.s3, &uri).await.map_err(|e| {
            Stop::Failed(format!("ClientError: Failed to download model data: {e}"))
        })?;
        let model_dir = root.join("model");
        let unpacked =
            tokio::task::spawn_blocking(move || super::archive::unpack(&data[..], &model_dir))
                .await
                .map_err(|e| Stop::Failed(format!("InternalServerError: unpacking crashed: {e}")))?
                .map_err(|e| {
                    Stop::Failed(format!(
                        "ClientError: Failed to extract model data archive from {url}: {e}"
                    ))
                })?;
        container::note(
            &log,
            &format!(
                "unpacked {} file(s) from {url} into model/{}",
                unpacked.files,
                if unpacked.skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (skipped unsafe entries: {})", unpacked.skipped.join(", "))
                }
            ),
        );
    }

    // The serve container, until GET /ping answers 200.
    let port =
        free_port().map_err(|e| Stop::Failed(format!("InternalServerError: no free port: {e}")))?;
    let mut platform = vec![
        (
            "SM_ML_ROOT".to_string(),
            root.to_string_lossy().into_owned(),
        ),
        ("SAGEMAKER_BIND_TO_PORT".to_string(), port.to_string()),
        ("SAGEMAKER_BATCH".to_string(), "true".to_string()),
    ];
    // "The last three environment variables come from the API call made by the
    // user. If the user doesn't set values for them, they aren't passed."
    if let Some(mb) = spec.request.get("MaxPayloadInMB").and_then(Value::as_i64) {
        platform.push(("SAGEMAKER_MAX_PAYLOAD_IN_MB".to_string(), mb.to_string()));
    }
    match spec.request.get("BatchStrategy").and_then(Value::as_str) {
        Some("MultiRecord") => {
            platform.push(("SAGEMAKER_BATCH_STRATEGY".into(), "MULTI_RECORD".into()))
        }
        Some("SingleRecord") => {
            platform.push(("SAGEMAKER_BATCH_STRATEGY".into(), "SINGLE_RECORD".into()))
        }
        _ => {}
    }
    if let Some(n) = spec
        .request
        .get("MaxConcurrentTransforms")
        .and_then(Value::as_i64)
    {
        platform.push((
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS".to_string(),
            n.to_string(),
        ));
    }
    let mut environment = spec.model.environment.clone();
    environment.extend(spec.environment.clone());
    let mut args: Vec<String> = spec.image.command.iter().skip(1).cloned().collect();
    args.push("serve".to_string());
    let launch = Launch {
        program: spec.image.command.first().cloned().unwrap_or_default(),
        args,
        env: container_env(inner, &spec.image, &environment, platform),
        cwd: spec.image.cwd.clone().unwrap_or_else(|| root.to_path_buf()),
        log_path: log.clone(),
        job: spec.name.clone(),
    };
    let container = Container::spawn(&launch, None).map_err(|e| {
        Stop::Failed(format!(
            "ClientError: CannotStartContainerError: could not run {:?} for the image {:?} \
             (from the image map): {e}",
            spec.image.command, spec.image.image
        ))
    })?;
    let container = server.insert(container);
    wait_healthy(container, port, stop, health_timeout).await?;
    container::note(
        &log,
        &format!("the serve container answers GET /ping on port {port}"),
    );

    // Every object under the input prefix, in key order.
    let listed = s3io::list(&inner.config.s3, &spec.input)
        .await
        .map_err(|e| Stop::Failed(format!("ClientError: {e}")))?;
    let objects: Vec<_> = listed
        .into_iter()
        .filter(|o| !o.key.ends_with('/'))
        .collect();
    if objects.is_empty() {
        return Err(Stop::Failed(format!(
            "ClientError: No S3 objects found under S3 URL \"{}\" given in input data source.",
            spec.input_text
        )));
    }
    let mut done = 0usize;
    for object in &objects {
        if *stop.borrow() {
            return Err(Stop::Stopped);
        }
        let source = S3Uri {
            bucket: spec.input.bucket.clone(),
            key: object.key.clone(),
        };
        let relative = s3io::relative_key(&spec.input.key, &object.key).ok_or_else(|| {
            Stop::Failed(format!(
                "ClientError: the input key \"{}\" cannot name an output object",
                object.key
            ))
        })?;
        let output = spec.output.child(&format!("{relative}.out"));
        let content = transform_object(inner, spec, port, &source, container, stop).await?;
        s3io::put_bytes(&inner.config.s3, &output, content)
            .await
            .map_err(|e| Stop::Failed(format!("ClientError: could not upload {output}: {e}")))?;
        container::note(&log, &format!("{source} -> {output}"));
        done += 1;
    }
    Ok(done)
}

async fn wait_healthy(
    container: &mut Container,
    port: u16,
    stop: &mut watch::Receiver<bool>,
    timeout: Duration,
) -> Result<(), Stop> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if *stop.borrow() {
            return Err(Stop::Stopped);
        }
        if let Some(code) = container.try_exited() {
            return Err(Stop::Failed(format!(
                "AlgorithmError: the serve container exited with code {code} before it answered \
                 GET /ping; see logs.txt"
            )));
        }
        if let Ok((200, _)) = http_call(port, "GET", "/ping", &[], Bytes::new(), PING_TIMEOUT).await
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Stop::Failed(format!(
                "ClientError: the container did not become healthy: GET /ping did not answer 200 \
                 within {} s",
                timeout.as_secs_f64()
            )));
        }
        tokio::time::sleep(PING_INTERVAL).await;
    }
}

/// Reads, splits, batches and sends one object; returns its assembled output.
async fn transform_object(
    inner: &Inner,
    spec: &TransformSpec,
    port: u16,
    source: &S3Uri,
    container: &mut Container,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<u8>, Stop> {
    let mut data = s3io::get_bytes(&inner.config.s3, source)
        .await
        .map_err(|e| Stop::Failed(format!("ClientError: {e}")))?;
    if spec.gzip {
        data = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&data[..]), &mut out)
                .map(|_| out)
        })
        .await
        .map_err(|e| Stop::Failed(format!("InternalServerError: {e}")))?
        .map_err(|e| {
            Stop::Failed(format!(
                "ClientError: {source} is not gzip data (CompressionType Gzip): {e}"
            ))
        })?;
    }
    let records = split_records(&data, spec.split);
    let payloads = batch_payloads(&records, spec.strategy, spec.max_payload_bytes)
        .map_err(|e| Stop::Failed(format!("ClientError: {source}: {e}")))?;
    let total = payloads.len();
    let calls = futures::stream::iter(payloads.into_iter().enumerate().map(|(i, payload)| {
        invoke_with_retries(spec, port, source, i + 1, total, Bytes::from(payload))
    }))
    .buffered(spec.concurrency);
    tokio::pin!(calls);
    let mut responses = Vec::with_capacity(total);
    loop {
        tokio::select! {
            next = calls.next() => match next {
                Some(Ok(body)) => responses.push(body),
                Some(Err(reason)) => return Err(Stop::Failed(reason)),
                None => break,
            },
            code = wait_exit(container) => {
                return Err(Stop::Failed(format!(
                    "AlgorithmError: the serve container exited with code {code} while \
                     transforming {source}; see logs.txt"
                )));
            }
            _ = stopped(stop) => return Err(Stop::Stopped),
        }
    }
    Ok(assemble(&responses, spec.assemble))
}

/// Resolves when the container has exited (polling: the wait itself belongs to the
/// container's owner).
async fn wait_exit(container: &mut Container) -> i32 {
    loop {
        if let Some(code) = container.try_exited() {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stopped(stop: &watch::Receiver<bool>) {
    let mut stop = stop.clone();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// POST /invocations, retried up to InvocationsMaxRetries times on a non-2xx answer or
/// a transport error.
async fn invoke_with_retries(
    spec: &TransformSpec,
    port: u16,
    source: &S3Uri,
    number: usize,
    total: usize,
    body: Bytes,
) -> Result<Bytes, String> {
    let mut headers = Vec::new();
    if let Some(ct) = &spec.content_type {
        headers.push(("content-type", ct.as_str()));
    }
    if let Some(accept) = &spec.accept {
        headers.push(("accept", accept.as_str()));
    }
    let mut last = String::new();
    for _attempt in 0..=spec.max_retries {
        match http_call(
            port,
            "POST",
            "/invocations",
            &headers,
            body.clone(),
            spec.invocation_timeout,
        )
        .await
        {
            Ok((status, answer)) if (200..300).contains(&status) => return Ok(answer),
            Ok((status, answer)) => {
                last = format!(
                    "AlgorithmError: Bad HTTP status received from algorithm: {status} for {source} \
                     (request {number} of {total}): {}",
                    String::from_utf8_lossy(&answer)
                );
            }
            Err(e) => {
                last = format!(
                    "AlgorithmError: the invocation for {source} (request {number} of {total}) \
                     failed: {e}"
                );
            }
        }
    }
    Err(truncate_chars(&last, FAILURE_REASON_MAX))
}

fn finish(
    inner: &Arc<Inner>,
    index: usize,
    spec: &TransformSpec,
    mut p: Progress,
    outcome: Result<usize, Stop>,
    log: &Path,
) -> Value {
    p.end = Some(now_millis());
    match outcome {
        Ok(objects) => {
            p.status = "Completed";
            container::note(
                log,
                &format!("transform job completed: {objects} object(s)"),
            );
        }
        Err(Stop::Stopped) => {
            p.status = "Stopped";
            container::note(log, "transform job stopped");
        }
        Err(Stop::Failed(reason)) => {
            p.status = "Failed";
            container::note(log, &format!("transform job failed: {reason}"));
            p.failure = Some(truncate_chars(&reason, FAILURE_REASON_MAX));
        }
    }
    let description = describe(spec, &p);
    let billable = match (p.start, p.end) {
        (Some(start), Some(end)) => seconds_between(start, end),
        _ => 0,
    };
    inner.finish(
        index,
        &description,
        p.status,
        None,
        p.failure.as_deref(),
        billable,
    );
    tracing::info!(job = %spec.name, status = p.status, billable_seconds = billable, "transform job ended");
    description
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(data: &[u8]) -> Vec<&[u8]> {
        split_records(data, Split::Line)
    }

    #[test]
    fn line_split_drops_terminators_and_empty_lines() {
        assert_eq!(recs(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(recs(b"a\r\nb"), vec![&b"a"[..], b"b"]);
        assert_eq!(recs(b"a\n\n\nb\n\n"), vec![&b"a"[..], b"b"]);
        assert!(recs(b"").is_empty());
        assert!(recs(b"\n").is_empty());
    }

    #[test]
    fn no_split_is_the_whole_object() {
        assert_eq!(split_records(b"a\nb\n", Split::None), vec![&b"a\nb\n"[..]]);
        assert_eq!(split_records(b"", Split::None), vec![&b""[..]]);
    }

    #[test]
    fn single_record_sends_each_record_alone() {
        let p = batch_payloads(
            &recs(b"a\nbb\nccc\n"),
            Strategy::SingleRecord,
            Some(6 * MIB),
        )
        .unwrap();
        assert_eq!(p, vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
    }

    #[test]
    fn multi_record_fills_up_to_the_limit() {
        // a\nbb = 4 bytes; adding \nccc would make 8 > 6.
        let p = batch_payloads(&recs(b"a\nbb\nccc\nd\n"), Strategy::MultiRecord, Some(6)).unwrap();
        assert_eq!(p, vec![b"a\nbb".to_vec(), b"ccc\nd".to_vec()]);
    }

    #[test]
    fn multi_record_with_room_sends_one_request() {
        let p = batch_payloads(&recs(b"a\nb\nc\n"), Strategy::MultiRecord, Some(6 * MIB)).unwrap();
        assert_eq!(p, vec![b"a\nb\nc".to_vec()]);
        let unlimited = batch_payloads(&recs(b"a\nb\n"), Strategy::MultiRecord, None).unwrap();
        assert_eq!(unlimited, vec![b"a\nb".to_vec()]);
    }

    #[test]
    fn a_record_exactly_at_the_limit_fits() {
        let p = batch_payloads(&recs(b"abc\nde\n"), Strategy::MultiRecord, Some(3)).unwrap();
        assert_eq!(p, vec![b"abc".to_vec(), b"de".to_vec()]);
    }

    #[test]
    fn a_record_over_the_limit_is_an_error() {
        let e =
            batch_payloads(&recs(b"a\nabcdefgh\n"), Strategy::MultiRecord, Some(4)).unwrap_err();
        assert!(e.contains("record 2 is 8 bytes"), "{e}");
        assert!(batch_payloads(&recs(b"abcdefgh"), Strategy::SingleRecord, Some(4)).is_err());
    }

    #[test]
    fn no_records_no_payloads() {
        assert!(batch_payloads(&[], Strategy::MultiRecord, Some(6))
            .unwrap()
            .is_empty());
        assert!(batch_payloads(&[], Strategy::SingleRecord, Some(6))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn assemble_line_ends_every_response_with_one_newline() {
        let r = vec![Bytes::from("1"), Bytes::from("2\n"), Bytes::from("3\n4")];
        assert_eq!(assemble(&r, Assemble::Line), b"1\n2\n3\n4\n");
    }

    #[test]
    fn assemble_none_concatenates() {
        let r = vec![Bytes::from("1"), Bytes::from("2\n"), Bytes::from("3")];
        assert_eq!(assemble(&r, Assemble::None), b"12\n3");
        assert!(assemble(&[], Assemble::Line).is_empty());
    }

    #[test]
    fn model_names() {
        assert!(model_name_ok("ens-text-model-1"));
        assert!(model_name_ok("A"));
        assert!(!model_name_ok("-a"));
        assert!(!model_name_ok("a-"));
        assert!(!model_name_ok("a_b"));
        assert!(!model_name_ok(""));
    }

    fn images() -> ImageMap {
        ImageMap::from_json(
            &json!([{"image": "repo/serve:1", "command": ["/bin/true"]}]),
            Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn create_model_parses_our_state_machines_request() {
        // The "Create Text Model" state's Parameters.
        let spec = parse_model(
            &json!({
                "ModelName": "ens-text-model",
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/ensemble-training-sagemaker",
                "PrimaryContainer": {
                    "Image": "repo/serve:1",
                    "ModelDataUrl": "s3://b/models/text/job/output/model.tar.gz",
                    "Environment": {"A": "1"}
                }
            }),
            &images(),
        )
        .unwrap();
        assert_eq!(spec.model.name, "ens-text-model");
        assert_eq!(spec.model.image, "repo/serve:1");
        assert_eq!(spec.model.environment["A"], "1");
    }

    #[test]
    fn the_model_description_echoes_the_request() {
        let request = json!({
            "ModelName": "text-model",
            "PrimaryContainer": {"Image": "repo/serve:1", "ModelDataUrl": "s3://b/m.tar.gz"},
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
            "Tags": [{"Key": "k", "Value": "v"}]
        });
        let d = describe_model(&request, "arn:m", 7);
        assert_eq!(
            d,
            json!({
                "ModelName": "text-model",
                "PrimaryContainer": {"Image": "repo/serve:1", "ModelDataUrl": "s3://b/m.tar.gz"},
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                "CreationTime": 7,
                "ModelArn": "arn:m",
                "EnableNetworkIsolation": false
            })
        );
        let model = super::super::store::model_of(&d).unwrap();
        assert_eq!(model.image, "repo/serve:1");
    }

    #[test]
    fn create_model_accepts_one_container_in_containers() {
        let spec = parse_model(
            &json!({"ModelName": "m", "Containers": [{"Image": "repo/serve:1"}]}),
            &images(),
        )
        .unwrap();
        assert_eq!(spec.model.model_data_url, None);
    }

    #[test]
    fn create_model_validation_errors() {
        let cases = [
            (
                json!({"PrimaryContainer": {"Image": "repo/serve:1"}}),
                "Value null at 'modelName'",
            ),
            (
                json!({"ModelName": "a_b", "PrimaryContainer": {"Image": "repo/serve:1"}}),
                "Value 'a_b' at 'modelName'",
            ),
            (
                json!({"ModelName": "m"}),
                "Either PrimaryContainer or Containers",
            ),
            (
                json!({"ModelName": "m", "PrimaryContainer": {}}),
                "Value null at 'primaryContainer.image'",
            ),
            (
                json!({"ModelName": "m", "PrimaryContainer": {"Image": "repo/serve:1", "ModelDataUrl": "x"}}),
                "primaryContainer.modelDataUrl",
            ),
            (
                json!({"ModelName": "m", "ExecutionRoleArn": "nope", "PrimaryContainer": {"Image": "repo/serve:1"}}),
                "executionRoleArn",
            ),
            (json!({"ModelName": "m", "Containers": []}), "'containers'"),
            (
                json!({"ModelName": "m", "PrimaryContainer": {"Image": "i"}, "Containers": [{"Image": "i"}]}),
                "not both",
            ),
        ];
        for (request, expected) in cases {
            let e = parse_model(&request, &images()).err().unwrap();
            assert_eq!(e.error, errors::AMAZON_SAGEMAKER_EXCEPTION, "{request}");
            assert!(e.cause.contains(expected), "{request}: {}", e.cause);
        }
    }

    #[test]
    fn create_model_with_an_unmapped_image() {
        let e = parse_model(
            &json!({"ModelName": "m", "PrimaryContainer": {"Image": "other"}}),
            &images(),
        )
        .err()
        .unwrap();
        assert_eq!(e.error, errors::IMAGE_NOT_MAPPED);
        assert!(e.cause.contains("\"other\""));
    }

    #[test]
    fn create_model_unsupported_features() {
        for (request, expected) in [
            (
                json!({"ModelName": "m", "Containers": [{"Image": "repo/serve:1"}, {"Image": "repo/serve:1"}]}),
                "inference pipelines",
            ),
            (
                json!({"ModelName": "m", "PrimaryContainer": {"ModelPackageName": "p"}}),
                "ModelPackageName",
            ),
            (
                json!({"ModelName": "m", "PrimaryContainer": {"Image": "repo/serve:1", "Mode": "MultiModel"}}),
                "MultiModel",
            ),
            (
                json!({"ModelName": "m", "PrimaryContainer": {"Image": "repo/serve:1", "ModelDataUrl": "https://x/y"}}),
                "s3://",
            ),
        ] {
            let e = parse_model(&request, &images()).err().unwrap();
            assert_eq!(e.error, errors::UNSUPPORTED, "{request}");
            assert!(e.cause.contains(expected), "{}", e.cause);
        }
    }

    fn inner() -> Inner {
        let inner = super::super::test_inner(images());
        {
            let mut registry = super::super::lock(&inner.registry);
            for (name, image) in [
                ("ens-text-model", "repo/serve:1"),
                ("orphan", "repo/gone:1"),
            ] {
                registry.models.insert(
                    name.to_string(),
                    super::super::StoredModel {
                        model: Model {
                            name: name.to_string(),
                            image: image.to_string(),
                            model_data_url: None,
                            environment: BTreeMap::new(),
                        },
                        description: json!({}),
                    },
                );
            }
        }
        inner
    }

    /// Our state machine's "Text Model Inference" Parameters, rendered.
    fn request() -> Value {
        json!({
            "TransformJobName": "ens-text-infer-0",
            "ModelName": "ens-text-model",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/data/sequence/text/"}},
                "ContentType": "application/jsonlines",
                "SplitType": "Line",
                "CompressionType": "None"
            },
            "TransformOutput": {"S3OutputPath": "s3://b/transform/text/", "Accept": "application/jsonlines", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "BatchStrategy": "MultiRecord",
            "MaxPayloadInMB": 6
        })
    }

    fn set(mut request: Value, path: &[&str], value: Option<Value>) -> Value {
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut request;
        for p in parents {
            at = at.get_mut(*p).unwrap();
        }
        let object = at.as_object_mut().unwrap();
        match value {
            Some(v) => {
                object.insert(last.to_string(), v);
            }
            None => {
                object.remove(*last);
            }
        }
        request
    }

    fn err(request: Value) -> AslError {
        parse_job(&request, &inner()).err().unwrap()
    }

    #[test]
    fn our_state_machines_transform_request_parses() {
        let spec = parse_job(&request(), &inner()).unwrap();
        assert_eq!(
            spec.arn,
            "arn:aws:sagemaker:eu-central-1:123456789012:transform-job/ens-text-infer-0"
        );
        assert_eq!(spec.model.name, "ens-text-model");
        assert_eq!(spec.split, Split::Line);
        assert_eq!(spec.strategy, Strategy::MultiRecord);
        assert_eq!(spec.assemble, Assemble::Line);
        assert_eq!(spec.max_payload_bytes, Some(6 * MIB));
        assert_eq!(spec.input.key, "data/sequence/text/");
        assert_eq!(spec.output.key, "transform/text/");
        assert_eq!(spec.accept.as_deref(), Some("application/jsonlines"));
        assert_eq!(spec.content_type.as_deref(), Some("application/jsonlines"));
        assert!(!spec.gzip);
        assert_eq!(spec.concurrency, 1);
        assert_eq!(spec.invocation_timeout, Duration::from_secs(600));
        assert_eq!(spec.max_retries, 3);
        assert_eq!(spec.instance_type, "ml.m5.large");
        let d = spec.initial_description();
        assert_eq!(d["TransformJobStatus"], "InProgress");
        assert_eq!(d["BatchStrategy"], "MultiRecord");
        assert!(d.get("TransformStartTime").is_none());
    }

    #[test]
    fn defaults_when_unset() {
        let r = set(
            set(request(), &["BatchStrategy"], None),
            &["MaxPayloadInMB"],
            None,
        );
        let r = set(r, &["TransformInput", "SplitType"], None);
        let r = set(r, &["TransformOutput", "AssembleWith"], None);
        let spec = parse_job(&r, &inner()).unwrap();
        // API_CreateTransformJob: MaxPayloadInMB defaults to 6; SplitType to None.
        assert_eq!(spec.max_payload_bytes, Some(6 * MIB));
        assert_eq!(spec.split, Split::None);
        assert_eq!(spec.assemble, Assemble::None);
        assert_eq!(spec.strategy, Strategy::SingleRecord);
        let unlimited = parse_job(
            &set(request(), &["MaxPayloadInMB"], Some(json!(0))),
            &inner(),
        )
        .unwrap();
        assert_eq!(unlimited.max_payload_bytes, None);
        let concurrent = parse_job(
            &set(
                set(request(), &["MaxConcurrentTransforms"], Some(json!(4))),
                &["MaxPayloadInMB"],
                Some(json!(25)),
            ),
            &inner(),
        )
        .unwrap();
        assert_eq!(concurrent.concurrency, 4);
        let zero = parse_job(
            &set(request(), &["MaxConcurrentTransforms"], Some(json!(0))),
            &inner(),
        )
        .unwrap();
        assert_eq!(zero.concurrency, 1);
        let client = parse_job(
            &set(
                request(),
                &["ModelClientConfig"],
                Some(json!({"InvocationsTimeoutInSeconds": 30, "InvocationsMaxRetries": 0})),
            ),
            &inner(),
        )
        .unwrap();
        assert_eq!(
            (client.invocation_timeout, client.max_retries),
            (Duration::from_secs(30), 0)
        );
        let gzip = parse_job(
            &set(
                request(),
                &["TransformInput", "CompressionType"],
                Some(json!("Gzip")),
            ),
            &inner(),
        )
        .unwrap();
        assert!(gzip.gzip);
    }

    #[test]
    fn transform_validation_errors_name_the_member() {
        let cases = [
            (set(request(), &["TransformInput"], None), "Value null at 'transformInput'"),
            (set(request(), &["TransformOutput", "S3OutputPath"], None), "'transformOutput.s3OutputPath'"),
            (set(request(), &["TransformResources", "InstanceCount"], Some(json!(0))), "'transformResources.instanceCount'"),
            (set(request(), &["TransformResources"], None), "'transformResources'"),
            (set(request(), &["TransformInput", "SplitType"], Some(json!("Word"))), "enum value set: [None, Line, RecordIO, TFRecord]"),
            (set(request(), &["TransformOutput", "AssembleWith"], Some(json!("Comma"))), "'transformOutput.assembleWith'"),
            (set(request(), &["TransformInput", "CompressionType"], Some(json!("Zip"))), "'transformInput.compressionType'"),
            (set(request(), &["ModelName"], Some(json!("a_b"))), "Value 'a_b' at 'modelName'"),
            (set(request(), &["ModelClientConfig"], Some(json!({"InvocationsMaxRetries": 4}))), "'modelClientConfig.invocationsMaxRetries'"),
            (set(request(), &["ModelClientConfig"], Some(json!({"InvocationsTimeoutInSeconds": 0}))), "'modelClientConfig.invocationsTimeoutInSeconds'"),
            (set(set(request(), &["MaxConcurrentTransforms"], Some(json!(20))), &["MaxPayloadInMB"], Some(json!(6))), "must not exceed 100 MB"),
            (set(request(), &["Environment"], Some(json!((0..17).map(|i| (format!("K{i}"), json!("v"))).collect::<serde_json::Map<String, Value>>()))), "'environment' failed to satisfy constraint: Member must have length less than or equal to 16"),
            (set(request(), &["TransformInput", "DataSource", "S3DataSource", "S3Uri"], Some(json!("b/x"))), "s3DataSource.s3Uri"),
        ];
        for (request, expected) in cases {
            let e = err(request.clone());
            assert_eq!(e.error, errors::AMAZON_SAGEMAKER_EXCEPTION, "{request}");
            assert!(
                e.cause.contains(expected),
                "expected {expected:?} in {}",
                e.cause
            );
        }
    }

    #[test]
    fn transform_unsupported_features() {
        let cases = [
            (
                set(
                    request(),
                    &["TransformInput", "SplitType"],
                    Some(json!("TFRecord")),
                ),
                "TFRecord",
            ),
            (
                set(
                    request(),
                    &["TransformInput", "DataSource", "S3DataSource", "S3DataType"],
                    Some(json!("ManifestFile")),
                ),
                "ManifestFile",
            ),
            (
                set(
                    request(),
                    &["DataProcessing"],
                    Some(json!({"JoinSource": "Input"})),
                ),
                "DataProcessing",
            ),
            (
                set(
                    request(),
                    &["TransformInput", "DataSource", "S3DataSource", "S3Uri"],
                    Some(json!("https://b.s3.amazonaws.com/x")),
                ),
                "s3://",
            ),
        ];
        for (request, expected) in cases {
            let e = err(request.clone());
            assert_eq!(e.error, errors::UNSUPPORTED, "{request}: {}", e.cause);
            assert!(e.cause.contains(expected), "{}", e.cause);
        }
        // An empty DataProcessing is the default, not a feature.
        assert!(parse_job(
            &set(request(), &["DataProcessing"], Some(json!({}))),
            &inner()
        )
        .is_ok());
    }

    #[test]
    fn the_model_must_exist_and_its_image_be_mapped() {
        let e = err(set(request(), &["ModelName"], Some(json!("Missing-Model"))));
        assert!(e.cause.starts_with(
            "Could not find model \"arn:aws:sagemaker:eu-central-1:123456789012:model/missing-model\"."
        ), "{}", e.cause);
        // Model names resolve case-insensitively, like their ARNs.
        assert!(parse_job(
            &set(request(), &["ModelName"], Some(json!("ENS-TEXT-MODEL"))),
            &inner()
        )
        .is_ok());
        let e = err(set(request(), &["ModelName"], Some(json!("orphan"))));
        assert_eq!(e.error, errors::IMAGE_NOT_MAPPED);
        assert!(e.cause.contains("repo/gone:1"));
    }
}
