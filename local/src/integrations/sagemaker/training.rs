//! CreateTrainingJob: validation, the job directory, the `train` container, metrics,
//! the artifacts, and the DescribeTrainingJob result.
//!
//! Sources: API_CreateTrainingJob (constraints), your-algorithms-training-algo-running-
//! container (the `/opt/ml` layout and config files), your-algorithms-training-signal-
//! success-failure (exit code 0 is `Completed`, anything else `Failed`),
//! your-algorithms-training-algo-output (`/opt/ml/output/failure`: "SageMaker returns
//! the first 1024 characters from this file as FailureReason"), API_StoppingCondition
//! (SIGTERM, 120 s, artifacts still saved), API_DescribeTrainingJob (statuses;
//! `MaxRuntimeExceeded` is a secondary status of `Stopped`; "for successful jobs and
//! stopped jobs, [TrainingEndTime] is the time after model artifacts are uploaded"),
//! the sagemaker-training-toolkit's ENVIRONMENT_VARIABLES.md (the `SM_*` variables).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regex::Regex;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::container::{self, Container, Ended, Launch, LineHook};
use super::images::{valid_env_name, ImageCommand};
use super::s3io::{self, S3Uri};
use super::validate::{self, Checks};
use super::{
    advance, container_env, errors, now_millis, request_object, seconds_between, truncate_chars,
    unsupported, validation_error, Inner, JobKind, JobRecord, Transition,
};
use crate::asl::AslError;

/// `FailureReason` is at most 1,024 characters (API_DescribeTrainingJob), and so is
/// what SageMaker takes from the failure file.
pub(crate) const FAILURE_REASON_MAX: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) struct MetricDefinition {
    pub name: String,
    pub regex: Regex,
}

#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub name: String,
    pub uri: S3Uri,
    pub uri_text: String,
    pub content_type: Option<String>,
    pub input_mode: String,
    pub distribution: String,
    pub record_wrapper: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TrainingSpec {
    pub name: String,
    pub arn: String,
    pub image: ImageCommand,
    pub metrics: Vec<MetricDefinition>,
    pub hyperparameters: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    pub channels: Vec<Channel>,
    pub output: S3Uri,
    pub instance_type: String,
    pub instance_count: u64,
    pub max_runtime_seconds: u64,
    pub request: Map<String, Value>,
    pub creation_time: u64,
}

/// Validates a CreateTrainingJob request like SageMaker, then checks what this runner
/// can do, then finds the image's command.
pub(crate) fn parse(parameters: &Value, inner: &Inner) -> Result<TrainingSpec, AslError> {
    let request = request_object(parameters)?;
    let mut c = Checks::default();
    let name = c.patterned(
        request,
        "TrainingJobName",
        "trainingJobName",
        true,
        63,
        validate::job_name_ok,
        validate::JOB_NAME_PATTERN,
    );
    let algorithm = c.object(
        request,
        "AlgorithmSpecification",
        "algorithmSpecification",
        true,
    );
    let mut image = None;
    let mut input_mode = None;
    let mut metrics = Vec::new();
    if let Some(algorithm) = algorithm {
        image = c
            .string(
                algorithm,
                "TrainingImage",
                "algorithmSpecification.trainingImage",
                false,
                0,
                255,
            )
            .filter(|image| !image.is_empty());
        let algorithm_name = c.string(
            algorithm,
            "AlgorithmName",
            "algorithmSpecification.algorithmName",
            false,
            1,
            170,
        );
        if image.is_none() && algorithm_name.is_none() && c.is_ok() {
            c.fail_message(
                "You must specify either the TrainingImage or the AlgorithmName in the \
                 AlgorithmSpecification.",
            );
        }
        if algorithm_name.is_some() && image.is_none() {
            // Checked after validation: marketplace algorithms have no image to run.
            image = Some(String::new());
        }
        input_mode = c.one_of(
            algorithm,
            "TrainingInputMode",
            "algorithmSpecification.trainingInputMode",
            true,
            &["Pipe", "File", "FastFile"],
        );
        if let Some(list) = c.array(
            algorithm,
            "MetricDefinitions",
            "algorithmSpecification.metricDefinitions",
            false,
        ) {
            if list.len() > 40 {
                c.fail(
                    algorithm.get("MetricDefinitions"),
                    "algorithmSpecification.metricDefinitions",
                    "Member must have length less than or equal to 40",
                );
            }
            for (i, item) in list.iter().enumerate() {
                let at = format!("algorithmSpecification.metricDefinitions.{}.member", i + 1);
                let Some(def) = item.as_object() else {
                    c.fail(Some(item), &at, "Member must be a structure");
                    continue;
                };
                let metric_name = c.string(def, "Name", &format!("{at}.name"), true, 1, 255);
                let pattern = c.string(def, "Regex", &format!("{at}.regex"), true, 1, 500);
                if let (Some(metric_name), Some(pattern)) = (metric_name, pattern) {
                    match Regex::new(&pattern) {
                        Ok(regex) => metrics.push(MetricDefinition {
                            name: metric_name,
                            regex,
                        }),
                        Err(e) => c.fail(
                            def.get("Regex"),
                            &format!("{at}.regex"),
                            &format!("Member must be a valid regular expression ({e})"),
                        ),
                    }
                }
            }
        }
    }
    let role = c.patterned(
        request,
        "RoleArn",
        "roleArn",
        true,
        2048,
        validate::role_arn_ok,
        validate::ROLE_ARN_PATTERN,
    );
    let hyperparameters = c.string_map(
        request,
        "HyperParameters",
        "hyperParameters",
        100,
        256,
        2500,
        |_| true,
        ".*",
    );
    let environment = c.string_map(
        request,
        "Environment",
        "environment",
        100,
        512,
        512,
        valid_env_name,
        "[a-zA-Z_][a-zA-Z0-9_]*",
    );
    let channels = parse_channels(&mut c, request, input_mode.as_deref());
    let output = c
        .object(request, "OutputDataConfig", "outputDataConfig", true)
        .and_then(|o| {
            c.patterned(
                o,
                "S3OutputPath",
                "outputDataConfig.s3OutputPath",
                true,
                1024,
                validate::s3_uri_ok,
                validate::S3_URI_PATTERN,
            )
        });
    let mut instance_type = None;
    let mut instance_count = None;
    if let Some(resources) = c.object(request, "ResourceConfig", "resourceConfig", true) {
        instance_type = c.string(
            resources,
            "InstanceType",
            "resourceConfig.instanceType",
            false,
            1,
            64,
        );
        instance_count = c.integer(
            resources,
            "InstanceCount",
            "resourceConfig.instanceCount",
            false,
            0,
            i64::from(i32::MAX),
        );
        c.integer(
            resources,
            "VolumeSizeInGB",
            "resourceConfig.volumeSizeInGB",
            true,
            0,
            i64::from(i32::MAX),
        );
        if resources.contains_key("InstanceGroups") {
            instance_type.get_or_insert_with(|| "heterogeneous".to_string());
        }
    }
    let mut max_runtime = None;
    if let Some(stopping) = c.object(request, "StoppingCondition", "stoppingCondition", true) {
        max_runtime = c.integer(
            stopping,
            "MaxRuntimeInSeconds",
            "stoppingCondition.maxRuntimeInSeconds",
            false,
            1,
            i64::from(i32::MAX),
        );
    }
    for flag in [
        ("EnableNetworkIsolation", "enableNetworkIsolation"),
        (
            "EnableInterContainerTrafficEncryption",
            "enableInterContainerTrafficEncryption",
        ),
        ("EnableManagedSpotTraining", "enableManagedSpotTraining"),
    ] {
        c.boolean(request, flag.0, flag.1);
    }
    if let Some(message) = c.message() {
        return Err(validation_error(&message));
    }
    let (Some(name), Some(image), Some(input_mode), Some(_role), Some(output)) =
        (name, image, input_mode, role, output)
    else {
        // Unreachable: every None above recorded a validation error.
        return Err(validation_error(
            "1 validation error detected: incomplete request",
        ));
    };

    // What this runner can run.
    if image.is_empty() {
        return Err(unsupported(
            "AlgorithmSpecification.AlgorithmName (marketplace and built-in algorithms): give \
             a TrainingImage mapped to a local command",
        ));
    }
    if input_mode == "Pipe" || channels.iter().any(|ch| ch.input_mode == "Pipe") {
        return Err(unsupported(
            "TrainingInputMode Pipe: use File (FastFile is run as File)",
        ));
    }
    if request
        .get("ResourceConfig")
        .and_then(|r| r.get("InstanceGroups"))
        .is_some()
    {
        return Err(unsupported(
            "ResourceConfig.InstanceGroups (heterogeneous clusters)",
        ));
    }
    let output = S3Uri::parse(&output).ok_or_else(|| {
        unsupported(&format!(
            "the OutputDataConfig.S3OutputPath {output:?}: only s3:// URIs have a local meaning"
        ))
    })?;
    let image = inner
        .config
        .images
        .resolve(&image)
        .cloned()
        .map_err(|e| AslError::new(errors::IMAGE_NOT_MAPPED, e))?;
    Ok(TrainingSpec {
        arn: inner.arn("training-job", &name),
        name,
        image,
        metrics,
        hyperparameters,
        environment,
        channels: channels
            .into_iter()
            .map(|ch| ch.channel)
            .collect::<Result<_, _>>()?,
        output,
        instance_type: instance_type.unwrap_or_default(),
        instance_count: instance_count
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(1),
        // API_StoppingCondition: "If value is not specified, default value is 1 day."
        max_runtime_seconds: max_runtime
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(86_400),
        request: request.clone(),
        creation_time: now_millis(),
    })
}

/// A channel as validated, or the reason this runner cannot feed it.
struct ParsedChannel {
    input_mode: String,
    channel: Result<Channel, AslError>,
}

fn parse_channels(
    c: &mut Checks,
    request: &Map<String, Value>,
    job_mode: Option<&str>,
) -> Vec<ParsedChannel> {
    let Some(list) = c.array(request, "InputDataConfig", "inputDataConfig", false) else {
        return Vec::new();
    };
    if list.is_empty() || list.len() > 20 {
        c.fail(
            request.get("InputDataConfig"),
            "inputDataConfig",
            "Member must have length between 1 and 20",
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("inputDataConfig.{}.member", i + 1);
        let Some(ch) = item.as_object() else {
            c.fail(Some(item), &at, "Member must be a structure");
            continue;
        };
        let Some(name) = c.patterned(
            ch,
            "ChannelName",
            &format!("{at}.channelName"),
            true,
            64,
            validate::channel_name_ok,
            "[A-Za-z0-9\\.\\-_]+",
        ) else {
            continue;
        };
        if !seen.insert(name.clone()) {
            c.fail_message(format!(
                "Channel names must be unique: the channel {name} appears more than once"
            ));
        }
        let content_type = c.string(
            ch,
            "ContentType",
            &format!("{at}.contentType"),
            false,
            0,
            256,
        );
        c.one_of(
            ch,
            "CompressionType",
            &format!("{at}.compressionType"),
            false,
            &["None", "Gzip"],
        );
        let record_wrapper = c
            .one_of(
                ch,
                "RecordWrapperType",
                &format!("{at}.recordWrapperType"),
                false,
                &["None", "RecordIO"],
            )
            .unwrap_or_else(|| "None".to_string());
        let channel_mode = c.one_of(
            ch,
            "InputMode",
            &format!("{at}.inputMode"),
            false,
            &["Pipe", "File", "FastFile"],
        );
        let input_mode = channel_mode
            .or_else(|| job_mode.map(str::to_string))
            .unwrap_or_else(|| "File".to_string());
        let Some(source) = c.object(ch, "DataSource", &format!("{at}.dataSource"), true) else {
            continue;
        };
        if source.contains_key("FileSystemDataSource") && !source.contains_key("S3DataSource") {
            out.push(ParsedChannel {
                input_mode,
                channel: Err(unsupported(&format!(
                    "the channel {name}'s FileSystemDataSource (EFS / FSx): use an S3DataSource"
                ))),
            });
            continue;
        }
        let Some(s3) = c.object(
            source,
            "S3DataSource",
            &format!("{at}.dataSource.s3DataSource"),
            true,
        ) else {
            continue;
        };
        let data_type = c.one_of(
            s3,
            "S3DataType",
            &format!("{at}.dataSource.s3DataSource.s3DataType"),
            true,
            &[
                "ManifestFile",
                "S3Prefix",
                "AugmentedManifestFile",
                "Converse",
            ],
        );
        let uri_text = c.patterned(
            s3,
            "S3Uri",
            &format!("{at}.dataSource.s3DataSource.s3Uri"),
            true,
            1024,
            validate::s3_uri_ok,
            validate::S3_URI_PATTERN,
        );
        let distribution = c
            .one_of(
                s3,
                "S3DataDistributionType",
                &format!("{at}.dataSource.s3DataSource.s3DataDistributionType"),
                false,
                &["FullyReplicated", "ShardedByS3Key"],
            )
            .unwrap_or_else(|| "FullyReplicated".to_string());
        let (Some(data_type), Some(uri_text)) = (data_type, uri_text) else {
            continue;
        };
        let channel = if data_type != "S3Prefix" {
            Err(unsupported(&format!(
                "the channel {name}'s S3DataType {data_type}: only S3Prefix is emulated (list \
                 the objects under a prefix instead of a manifest)"
            )))
        } else {
            match S3Uri::parse(&uri_text) {
                Some(uri) => Ok(Channel {
                    name,
                    uri,
                    uri_text,
                    content_type,
                    input_mode: input_mode.clone(),
                    distribution,
                    record_wrapper,
                }),
                None => Err(unsupported(&format!(
                    "the channel {name}'s S3Uri {uri_text:?}: only s3:// URIs have a local meaning"
                ))),
            }
        };
        out.push(ParsedChannel {
            input_mode,
            channel,
        });
    }
    out
}

impl TrainingSpec {
    pub fn record(&self, inner: &Inner) -> JobRecord {
        JobRecord {
            name: self.name.clone(),
            arn: self.arn.clone(),
            kind: JobKind::Training,
            instance_type: self.instance_type.clone(),
            instance_count: self.instance_count,
            billable_seconds: 0,
            status: "InProgress".to_string(),
            secondary_status: Some("Starting".to_string()),
            failure_reason: None,
            dir: job_dir(inner, &self.name),
            from_earlier_run: false,
        }
    }

    pub fn initial_description(&self) -> Value {
        let mut progress = Progress::new(self.creation_time);
        advance(
            &mut progress.transitions,
            "Starting",
            "Preparing the instances for training",
            self.creation_time,
        );
        describe(self, &progress)
    }

    fn model_uri(&self) -> S3Uri {
        self.output
            .child(&format!("{}/output/model.tar.gz", self.name))
    }

    fn output_uri(&self) -> S3Uri {
        self.output
            .child(&format!("{}/output/output.tar.gz", self.name))
    }
}

fn job_dir(inner: &Inner, name: &str) -> PathBuf {
    super::store::jobs_root(&inner.config.work_dir, JobKind::Training).join(name)
}

/// The job's state as DescribeTrainingJob reports it.
#[derive(Debug, Clone)]
struct Progress {
    creation: u64,
    start: Option<u64>,
    end: Option<u64>,
    last_modified: u64,
    status: &'static str,
    secondary: String,
    transitions: Vec<Transition>,
    failure: Option<String>,
    artifacts: Option<String>,
    final_metrics: Vec<Value>,
}

impl Progress {
    fn new(creation: u64) -> Progress {
        Progress {
            creation,
            start: None,
            end: None,
            last_modified: creation,
            status: "InProgress",
            secondary: "Starting".to_string(),
            transitions: Vec::new(),
            failure: None,
            artifacts: None,
            final_metrics: Vec::new(),
        }
    }

    fn phase(&mut self, secondary: &str, message: &str) {
        let now = now_millis();
        advance(&mut self.transitions, secondary, message, now);
        self.secondary = secondary.to_string();
        self.last_modified = now;
    }

    fn end(&mut self, status: &'static str, secondary: &str, message: &str) {
        let now = now_millis();
        advance(&mut self.transitions, secondary, message, now);
        if let Some(last) = self.transitions.last_mut() {
            last.end = Some(now);
        }
        self.status = status;
        self.secondary = secondary.to_string();
        self.end = Some(now);
        self.last_modified = now;
    }
}

/// The DescribeTrainingJob response: the request's fields echoed, plus the job's
/// state. Timestamps are epoch milliseconds.
fn describe(spec: &TrainingSpec, p: &Progress) -> Value {
    let r = &spec.request;
    let mut algorithm = r
        .get("AlgorithmSpecification")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(a) = algorithm.as_object_mut() {
        a.entry("EnableSageMakerMetricsTimeSeries")
            .or_insert(json!(false));
    }
    let mut d = Map::new();
    d.insert("TrainingJobName".into(), json!(spec.name));
    d.insert("TrainingJobArn".into(), json!(spec.arn));
    if let Some(artifacts) = &p.artifacts {
        d.insert(
            "ModelArtifacts".into(),
            json!({ "S3ModelArtifacts": artifacts }),
        );
    }
    d.insert("TrainingJobStatus".into(), json!(p.status));
    d.insert("SecondaryStatus".into(), json!(p.secondary));
    if let Some(failure) = &p.failure {
        d.insert("FailureReason".into(), json!(failure));
    }
    if let Some(hp) = r.get("HyperParameters") {
        d.insert("HyperParameters".into(), hp.clone());
    }
    d.insert("AlgorithmSpecification".into(), algorithm);
    for key in [
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "VpcConfig",
        "StoppingCondition",
        "Environment",
        "CheckpointConfig",
        "RetryStrategy",
        "ExperimentConfig",
        "TensorBoardOutputConfig",
        "DebugHookConfig",
    ] {
        if let Some(v) = r.get(key) {
            d.insert(key.into(), v.clone());
        }
    }
    for key in [
        "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining",
    ] {
        d.insert(key.into(), r.get(key).cloned().unwrap_or(json!(false)));
    }
    d.insert("CreationTime".into(), json!(p.creation));
    if let Some(start) = p.start {
        d.insert("TrainingStartTime".into(), json!(start));
    }
    if let Some(end) = p.end {
        d.insert("TrainingEndTime".into(), json!(end));
    }
    d.insert("LastModifiedTime".into(), json!(p.last_modified));
    d.insert(
        "SecondaryStatusTransitions".into(),
        Value::Array(p.transitions.iter().map(Transition::to_json).collect()),
    );
    if !p.final_metrics.is_empty() {
        d.insert(
            "FinalMetricDataList".into(),
            Value::Array(p.final_metrics.clone()),
        );
    }
    if let (Some(start), Some(end)) = (p.start, p.end) {
        let seconds = seconds_between(start, end);
        d.insert("TrainingTimeInSeconds".into(), json!(seconds));
        d.insert("BillableTimeInSeconds".into(), json!(seconds));
    }
    Value::Object(d)
}

/// The last value of each metric seen in the logs, with when it was seen
/// (API_DescribeTrainingJob: FinalMetricDataList holds "final metric values that are
/// set when the training job completes"; a metric's final value is its last one).
#[derive(Debug, Default)]
pub(crate) struct MetricValues {
    last: BTreeMap<usize, (f64, u64)>,
}

impl MetricValues {
    /// Matches one log line against every definition: the first capture group (the
    /// whole match if the regex has none) must parse as a finite number.
    pub fn observe(&mut self, definitions: &[MetricDefinition], line: &str, now: u64) {
        for (i, def) in definitions.iter().enumerate() {
            let Some(captures) = def.regex.captures(line) else {
                continue;
            };
            let Some(text) = captures.get(1).or_else(|| captures.get(0)) else {
                continue;
            };
            if let Ok(value) = text.as_str().trim().parse::<f64>() {
                if value.is_finite() {
                    self.last.insert(i, (value, now));
                }
            }
        }
    }

    /// `FinalMetricDataList`, in MetricDefinitions order, metrics never seen left out.
    pub fn final_list(&self, definitions: &[MetricDefinition]) -> Vec<Value> {
        self.last
            .iter()
            .filter_map(|(i, (value, at))| {
                let def = definitions.get(*i)?;
                Some(json!({"MetricName": def.name, "Value": value, "Timestamp": at}))
            })
            .collect()
    }
}

/// `AlgorithmError: <failure file>, exit code: N`; with no failure file the text is
/// empty (`AlgorithmError: , exit code: 1` is what SageMaker reports then).
pub(crate) fn failure_reason(failure_file: Option<&str>, exit_code: i32) -> String {
    let text = failure_file
        .map(|t| truncate_chars(t, FAILURE_REASON_MAX))
        .unwrap_or_default();
    let text = text.trim_end();
    truncate_chars(
        &format!("AlgorithmError: {text}, exit code: {exit_code}"),
        FAILURE_REASON_MAX,
    )
}

/// The toolkit's `SM_HPS`: each value parsed as JSON when it is JSON, else the string.
pub(crate) fn sm_hps(hyperparameters: &BTreeMap<String, String>) -> String {
    let map: Map<String, Value> = hyperparameters
        .iter()
        .map(|(k, v)| {
            let parsed = serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v));
            (k.clone(), parsed)
        })
        .collect();
    Value::Object(map).to_string()
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The config files SageMaker writes before `train` starts.
fn write_config(spec: &TrainingSpec, root: &Path) -> std::io::Result<()> {
    let config = root.join("input/config");
    std::fs::create_dir_all(&config)?;
    std::fs::create_dir_all(root.join("input/data"))?;
    std::fs::create_dir_all(root.join("model"))?;
    std::fs::create_dir_all(root.join("output/data"))?;
    std::fs::create_dir_all(root.join("output/intermediate"))?;
    let write = |name: &str, value: Value| -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
        std::fs::write(config.join(name), text)
    };
    write("hyperparameters.json", json!(spec.hyperparameters))?;
    write("resourceconfig.json", resource_config(spec))?;
    write("inputdataconfig.json", input_data_config(spec))?;
    for channel in &spec.channels {
        std::fs::create_dir_all(root.join("input/data").join(&channel.name))?;
    }
    Ok(())
}

fn resource_config(spec: &TrainingSpec) -> Value {
    json!({
        "current_host": "algo-1",
        "current_instance_type": spec.instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [{
            "instance_group_name": "homogeneousCluster",
            "instance_type": spec.instance_type,
            "hosts": ["algo-1"],
        }],
        "network_interface_name": "eth0",
    })
}

fn input_data_config(spec: &TrainingSpec) -> Value {
    let map: Map<String, Value> = spec
        .channels
        .iter()
        .map(|ch| {
            let mut entry = json!({
                "TrainingInputMode": ch.input_mode,
                "S3DistributionType": ch.distribution,
                "RecordWrapperType": ch.record_wrapper,
            });
            if let Some(ct) = &ch.content_type {
                entry["ContentType"] = json!(ct);
            }
            (ch.name.clone(), entry)
        })
        .collect();
    Value::Object(map)
}

/// SageMaker's and the training toolkit's variables, pointing into `root`.
fn platform_env(spec: &TrainingSpec, root: &Path) -> Vec<(String, String)> {
    let p = |rel: &str| path_text(&root.join(rel));
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut env = vec![
        ("SM_ML_ROOT".to_string(), path_text(root)),
        ("TRAINING_JOB_NAME".to_string(), spec.name.clone()),
        ("TRAINING_JOB_ARN".to_string(), spec.arn.clone()),
        ("SM_MODEL_DIR".to_string(), p("model")),
        ("SM_INPUT_DIR".to_string(), p("input")),
        ("SM_INPUT_CONFIG_DIR".to_string(), p("input/config")),
        ("SM_OUTPUT_DIR".to_string(), p("output")),
        ("SM_OUTPUT_DATA_DIR".to_string(), p("output/data")),
        (
            "SM_OUTPUT_INTERMEDIATE_DIR".to_string(),
            p("output/intermediate"),
        ),
        ("SM_CURRENT_HOST".to_string(), "algo-1".to_string()),
        (
            "SM_CURRENT_INSTANCE_TYPE".to_string(),
            spec.instance_type.clone(),
        ),
        ("SM_HOSTS".to_string(), "[\"algo-1\"]".to_string()),
        ("SM_NUM_CPUS".to_string(), cpus.to_string()),
        ("SM_NUM_GPUS".to_string(), "0".to_string()),
        ("SM_NETWORK_INTERFACE_NAME".to_string(), "eth0".to_string()),
        ("SM_HPS".to_string(), sm_hps(&spec.hyperparameters)),
        (
            "SM_RESOURCE_CONFIG".to_string(),
            resource_config(spec).to_string(),
        ),
        (
            "SM_INPUT_DATA_CONFIG".to_string(),
            input_data_config(spec).to_string(),
        ),
        (
            "SM_CHANNELS".to_string(),
            Value::from(
                spec.channels
                    .iter()
                    .map(|c| Value::from(c.name.clone()))
                    .collect::<Vec<_>>(),
            )
            .to_string(),
        ),
    ];
    for channel in &spec.channels {
        env.push((
            format!("SM_CHANNEL_{}", channel.name.to_uppercase()),
            p(&format!("input/data/{}", channel.name)),
        ));
    }
    for (key, value) in &spec.hyperparameters {
        env.push((format!("SM_HP_{}", key.to_uppercase()), value.clone()));
    }
    env
}

/// Downloads every object under each channel's prefix into `input/data/<channel>/`.
async fn download_channels(
    inner: &Inner,
    spec: &TrainingSpec,
    root: &Path,
) -> Result<(usize, u64), String> {
    let role = spec
        .request
        .get("RoleArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (mut files, mut bytes) = (0usize, 0u64);
    for channel in &spec.channels {
        let listed = s3io::list(&inner.config.s3, &channel.uri)
            .await
            .map_err(|e| format!("ClientError: Data download failed: {e}"))?;
        let objects: Vec<_> = listed.iter().filter(|o| !o.key.ends_with('/')).collect();
        if objects.is_empty() {
            return Err(format!(
                "ClientError: No S3 objects found under S3 URL \"{}\" given in input data \
                 source. Please ensure that the bucket exists in the selected region ({}), that \
                 objects exist under that S3 prefix, and that the role \"{role}\" has \
                 \"s3:ListBucket\" permissions on bucket \"{}\".",
                channel.uri_text, inner.config.region, channel.uri.bucket
            ));
        }
        let dir = root.join("input/data").join(&channel.name);
        for object in objects {
            let relative = s3io::relative_key(&channel.uri.key, &object.key).ok_or_else(|| {
                format!(
                    "ClientError: Data download failed: the S3 key \"{}\" cannot be stored \
                     below the channel directory",
                    object.key
                )
            })?;
            let target = s3io::local_path(&dir, &relative);
            bytes += s3io::download(&inner.config.s3, &channel.uri.bucket, &object.key, &target)
                .await
                .map_err(|e| format!("ClientError: Data download failed: {e}"))?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

/// Packs `dir` into `archive` and uploads it.
async fn pack_and_upload(
    inner: &Inner,
    dir: PathBuf,
    archive: PathBuf,
    uri: &S3Uri,
) -> Result<(), String> {
    let packed = archive.clone();
    tokio::task::spawn_blocking(move || super::archive::pack_dir(&dir, &packed))
        .await
        .map_err(|e| format!("packing crashed: {e}"))??;
    s3io::upload_file(&inner.config.s3, uri, &archive).await
}

/// Runs the job to its end; returns the final description.
pub(crate) async fn run(
    inner: Arc<Inner>,
    index: usize,
    spec: TrainingSpec,
    mut stop: watch::Receiver<bool>,
) -> Value {
    let root = job_dir(&inner, &spec.name);
    let log = root.join("logs.txt");
    let mut p = Progress::new(spec.creation_time);
    advance(
        &mut p.transitions,
        "Starting",
        "Preparing the instances for training",
        spec.creation_time,
    );
    let tuning = inner.tuning();

    // Starting: a fresh /opt/ml (an earlier runner may have left one of this name;
    // its description.json is this job's own, written when the name was reserved).
    super::store::clear_job_dir(&root);
    if let Err(e) = write_config(&spec, &root) {
        return fail(
            &inner,
            index,
            &spec,
            p,
            format!(
                "InternalServerError: cannot prepare {}: {e}",
                root.display()
            ),
            &log,
        );
    }
    container::note(&log, &format!("training job {} ({})", spec.name, spec.arn));
    if spec.instance_count > 1 {
        container::note(
            &log,
            &format!(
                "InstanceCount {} requested: one local process plays host algo-1",
                spec.instance_count
            ),
        );
    }

    // Downloading: billing starts with the instances (TrainingStartTime).
    p.start = Some(now_millis());
    inner.mark_started(index);
    p.phase("Downloading", "Downloading input data");
    inner.publish(index, &describe(&spec, &p));
    match download_channels(&inner, &spec, &root).await {
        Ok((files, bytes)) => container::note(
            &log,
            &format!("downloaded {files} file(s), {bytes} bytes, into input/data/"),
        ),
        Err(reason) => return fail(&inner, index, &spec, p, reason, &log),
    }
    if *stop.borrow() {
        return stopped(
            &inner,
            index,
            &spec,
            p,
            "Stopped",
            "Training job stopped",
            &log,
        )
        .await;
    }

    // Training.
    p.phase(
        "Training",
        "Training image download completed. Training in progress.",
    );
    inner.publish(index, &describe(&spec, &p));
    let metrics = Arc::new(Mutex::new(MetricValues::default()));
    let hook: LineHook = {
        let metrics = Arc::clone(&metrics);
        let definitions = spec.metrics.clone();
        Arc::new(move |line: &str| {
            if !definitions.is_empty() {
                super::lock(&metrics).observe(&definitions, line, now_millis());
            }
        })
    };
    let mut args: Vec<String> = spec.image.command.iter().skip(1).cloned().collect();
    args.push("train".to_string());
    let launch = Launch {
        program: spec.image.command.first().cloned().unwrap_or_default(),
        args,
        env: container_env(
            &inner,
            &spec.image,
            &spec.environment,
            platform_env(&spec, &root),
        ),
        cwd: spec.image.cwd.clone().unwrap_or_else(|| root.clone()),
        log_path: log.clone(),
        job: spec.name.clone(),
    };
    let mut running = match Container::spawn(&launch, Some(hook)) {
        Ok(running) => running,
        Err(e) => {
            let reason = format!(
                "ClientError: CannotStartContainerError: could not run {:?} for the image {:?} \
                 (from the image map): {e}",
                spec.image.command, spec.image.image
            );
            return fail(&inner, index, &spec, p, reason, &log);
        }
    };
    // MaxRuntimeInSeconds counts from TrainingStartTime.
    let elapsed = now_millis().saturating_sub(p.start.unwrap_or_default());
    let remaining = (spec.max_runtime_seconds.saturating_mul(1000)).saturating_sub(elapsed);
    let deadline = Instant::now() + std::time::Duration::from_millis(remaining);
    let ended = running
        .wait(Some(deadline), &mut stop, tuning.stop_grace)
        .await;
    running.flush_logs().await;
    p.final_metrics = super::lock(&metrics).final_list(&spec.metrics);

    match ended {
        Ended::Exited(0) => {
            container::note(&log, "the container exited with code 0");
            p.phase("Uploading", "Uploading generated training model");
            inner.publish(index, &describe(&spec, &p));
            if let Err(reason) = upload_artifacts(&inner, &spec, &root, &mut p).await {
                return fail(&inner, index, &spec, p, reason, &log);
            }
            p.end("Completed", "Completed", "Training job completed");
            finish(&inner, index, &spec, &p)
        }
        Ended::Exited(code) => {
            let failure_file = std::fs::read(root.join("output/failure"))
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            let reason = failure_reason(failure_file.as_deref(), code);
            fail(&inner, index, &spec, p, reason, &log)
        }
        Ended::DeadlineReached(code) => {
            container::note(
                &log,
                &format!(
                    "MaxRuntimeInSeconds ({} s) reached: SIGTERM sent; the container ended with code {code}",
                    spec.max_runtime_seconds
                ),
            );
            stopped(
                &inner,
                index,
                &spec,
                p,
                "MaxRuntimeExceeded",
                "Training job runtime exceeded MaxRuntimeInSeconds provided",
                &log,
            )
            .await
        }
        Ended::StopRequested(code) => {
            container::note(
                &log,
                &format!("stop requested: SIGTERM sent; the container ended with code {code}"),
            );
            stopped(
                &inner,
                index,
                &spec,
                p,
                "Stopped",
                "Training job stopped",
                &log,
            )
            .await
        }
    }
}

async fn upload_artifacts(
    inner: &Inner,
    spec: &TrainingSpec,
    root: &Path,
    p: &mut Progress,
) -> Result<(), String> {
    let model_uri = spec.model_uri();
    pack_and_upload(
        inner,
        root.join("model"),
        root.join("model.tar.gz"),
        &model_uri,
    )
    .await
    .map_err(|e| format!("ClientError: could not upload the model artifacts: {e}"))?;
    p.artifacts = Some(model_uri.to_string());
    container::note(&root.join("logs.txt"), &format!("uploaded {model_uri}"));
    if super::archive::has_entries(&root.join("output/data")) {
        let output_uri = spec.output_uri();
        pack_and_upload(
            inner,
            root.join("output/data"),
            root.join("output.tar.gz"),
            &output_uri,
        )
        .await
        .map_err(|e| format!("ClientError: could not upload the output data: {e}"))?;
        container::note(&root.join("logs.txt"), &format!("uploaded {output_uri}"));
    }
    Ok(())
}

/// A stopped job still saves its model (API_StoppingCondition).
async fn stopped(
    inner: &Arc<Inner>,
    index: usize,
    spec: &TrainingSpec,
    mut p: Progress,
    secondary: &str,
    message: &str,
    log: &Path,
) -> Value {
    p.phase("Uploading", "Uploading generated training model");
    inner.publish(index, &describe(spec, &p));
    if let Err(reason) = upload_artifacts(inner, spec, &job_dir(inner, &spec.name), &mut p).await {
        return fail(inner, index, spec, p, reason, log);
    }
    p.end("Stopped", secondary, message);
    finish(inner, index, spec, &p)
}

fn fail(
    inner: &Arc<Inner>,
    index: usize,
    spec: &TrainingSpec,
    mut p: Progress,
    reason: String,
    log: &Path,
) -> Value {
    container::note(log, &format!("job failed: {reason}"));
    p.failure = Some(truncate_chars(&reason, FAILURE_REASON_MAX));
    p.end("Failed", "Failed", "Training job failed");
    finish(inner, index, spec, &p)
}

fn finish(inner: &Arc<Inner>, index: usize, spec: &TrainingSpec, p: &Progress) -> Value {
    let description = describe(spec, p);
    let billable = match (p.start, p.end) {
        (Some(start), Some(end)) => seconds_between(start, end),
        _ => 0,
    };
    inner.finish(
        index,
        &description,
        p.status,
        Some(&p.secondary),
        p.failure.as_deref(),
        billable,
    );
    tracing::info!(
        job = %spec.name,
        status = p.status,
        secondary = %p.secondary,
        billable_seconds = billable,
        "training job ended"
    );
    description
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(list: &[(&str, &str)]) -> Vec<MetricDefinition> {
        list.iter()
            .map(|(n, r)| MetricDefinition {
                name: n.to_string(),
                regex: Regex::new(r).unwrap(),
            })
            .collect()
    }

    #[test]
    fn metrics_keep_the_last_value_of_each() {
        // Our ASL's MetricDefinitions.
        let d = defs(&[
            ("train:loss", "train:loss=([-+0-9.eE]+)"),
            ("validation:accuracy", "validation:accuracy=([-+0-9.eE]+)"),
            ("validation:macro_f1", "validation:macro_f1=([-+0-9.eE]+)"),
        ]);
        let mut m = MetricValues::default();
        m.observe(&d, "epoch 1 train:loss=0.9", 10);
        m.observe(&d, "epoch 1 validation:accuracy=0.5", 11);
        m.observe(&d, "epoch 2 train:loss=0.4 validation:accuracy=0.75", 12);
        m.observe(&d, "unrelated", 13);
        let list = m.final_list(&d);
        assert_eq!(
            list,
            vec![
                json!({"MetricName": "train:loss", "Value": 0.4, "Timestamp": 12}),
                json!({"MetricName": "validation:accuracy", "Value": 0.75, "Timestamp": 12}),
            ]
        );
    }

    #[test]
    fn metric_values_must_be_finite_numbers() {
        let d = defs(&[("loss", "loss=(\\S+)")]);
        let mut m = MetricValues::default();
        m.observe(&d, "loss=0.5", 1);
        m.observe(&d, "loss=nan", 2);
        m.observe(&d, "loss=inf", 3);
        m.observe(&d, "loss=abc", 4);
        assert_eq!(
            m.final_list(&d),
            vec![json!({"MetricName": "loss", "Value": 0.5, "Timestamp": 1})]
        );
    }

    #[test]
    fn scientific_and_signed_values_parse() {
        let d = defs(&[("loss", "loss=([-+0-9.eE]+)")]);
        let mut m = MetricValues::default();
        m.observe(&d, "loss=-1.5e-3", 1);
        assert_eq!(m.final_list(&d)[0]["Value"], json!(-0.0015));
        m.observe(&d, "loss=+2", 2);
        assert_eq!(m.final_list(&d)[0]["Value"], json!(2.0));
    }

    #[test]
    fn a_regex_without_a_group_uses_the_whole_match() {
        let d = defs(&[("n", "[0-9]+\\.[0-9]+")]);
        let mut m = MetricValues::default();
        m.observe(&d, "value 3.25 units", 1);
        assert_eq!(m.final_list(&d)[0]["Value"], json!(3.25));
    }

    #[test]
    fn the_sagemaker_docs_example_regex_works() {
        // automatic-model-tuning-define-metrics-variables: an XGBoost-style line.
        let d = defs(&[(
            "validation:rmse",
            ".*\\[[0-9]+\\].*#011validation-rmse:([-+]?[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
        )]);
        let mut m = MetricValues::default();
        m.observe(&d, "[12]#011train-rmse:0.9#011validation-rmse:0.763", 1);
        assert_eq!(m.final_list(&d)[0]["Value"], json!(0.763));
    }

    #[test]
    fn failure_reasons() {
        assert_eq!(failure_reason(None, 1), "AlgorithmError: , exit code: 1");
        assert_eq!(
            failure_reason(Some("ValueError: NaN loss\n"), 2),
            "AlgorithmError: ValueError: NaN loss, exit code: 2"
        );
        let long = "x".repeat(5000);
        let r = failure_reason(Some(&long), 1);
        assert_eq!(r.chars().count(), FAILURE_REASON_MAX);
        assert!(r.starts_with("AlgorithmError: xxx"));
    }

    #[test]
    fn sm_hps_parses_json_values_like_the_toolkit() {
        let hp: BTreeMap<String, String> = [
            ("epochs", "30"),
            ("learning_rate", "0.1"),
            ("name", "some text"),
            ("flag", "true"),
            ("list", "[1,2]"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let v: Value = serde_json::from_str(&sm_hps(&hp)).unwrap();
        assert_eq!(
            v,
            json!({"epochs": 30, "learning_rate": 0.1, "name": "some text", "flag": true, "list": [1, 2]})
        );
    }

    fn inner() -> Inner {
        super::super::test_inner(
            super::super::ImageMap::from_json(
                &json!([{"image": "repo/train:1", "command": ["/bin/true"]}]),
                Path::new("/"),
            )
            .unwrap(),
        )
    }

    /// Our state machine's "Train Text Model" Parameters, rendered.
    fn request() -> Value {
        json!({
            "TrainingJobName": "ens-text-train-a0",
            "AlgorithmSpecification": {
                "TrainingImage": "repo/train:1",
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "train:loss", "Regex": "train:loss=([-+0-9.eE]+)"},
                    {"Name": "validation:accuracy", "Regex": "validation:accuracy=([-+0-9.eE]+)"}
                ]
            },
            "HyperParameters": {"epochs": "30", "learning_rate": "0.1"},
            "InputDataConfig": [
                {"ChannelName": "train", "ContentType": "application/jsonlines", "CompressionType": "None",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/data/train/",
                     "S3DataDistributionType": "FullyReplicated"}}},
                {"ChannelName": "validation",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/data/validation/"}}}
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://b/models/text/"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "RoleArn": "arn:aws:iam::123456789012:role/ensemble-training-sagemaker"
        })
    }

    fn parse_err(request: Value) -> AslError {
        parse(&request, &inner()).err().unwrap()
    }

    fn with(mut request: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() {
            &mut request
        } else {
            request.pointer_mut(parent).unwrap()
        };
        match parent {
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
            other => {
                other
                    .as_object_mut()
                    .unwrap()
                    .insert(key.to_string(), value);
            }
        }
        request
    }

    fn without(mut request: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() {
            &mut request
        } else {
            request.pointer_mut(parent).unwrap()
        };
        parent.as_object_mut().unwrap().remove(key);
        request
    }

    #[test]
    fn our_state_machines_request_parses() {
        let spec = parse(&request(), &inner()).unwrap();
        assert_eq!(spec.name, "ens-text-train-a0");
        assert_eq!(
            spec.arn,
            "arn:aws:sagemaker:eu-central-1:123456789012:training-job/ens-text-train-a0"
        );
        assert_eq!(spec.metrics.len(), 2);
        assert_eq!(spec.hyperparameters["epochs"], "30");
        assert_eq!(spec.channels.len(), 2);
        assert_eq!(spec.channels[0].uri.key, "data/train/");
        assert_eq!(spec.channels[1].distribution, "FullyReplicated");
        assert_eq!(spec.channels[1].input_mode, "File");
        assert_eq!(
            spec.model_uri().to_string(),
            "s3://b/models/text/ens-text-train-a0/output/model.tar.gz"
        );
        assert_eq!(
            spec.output_uri().to_string(),
            "s3://b/models/text/ens-text-train-a0/output/output.tar.gz"
        );
        assert_eq!(spec.instance_type, "ml.m5.xlarge");
        assert_eq!(spec.instance_count, 1);
        assert_eq!(spec.max_runtime_seconds, 86400);
    }

    #[test]
    fn max_runtime_defaults_to_one_day() {
        // API_StoppingCondition: "If value is not specified, default value is 1 day."
        let spec = parse(&with(request(), "/StoppingCondition", json!({})), &inner()).unwrap();
        assert_eq!(spec.max_runtime_seconds, 86_400);
    }

    #[test]
    fn an_output_path_without_slash_still_nests_the_job() {
        let spec = parse(
            &with(
                request(),
                "/OutputDataConfig/S3OutputPath",
                json!("s3://b/models"),
            ),
            &inner(),
        )
        .unwrap();
        assert_eq!(
            spec.model_uri().to_string(),
            "s3://b/models/ens-text-train-a0/output/model.tar.gz"
        );
        let spec = parse(
            &with(request(), "/OutputDataConfig/S3OutputPath", json!("s3://b")),
            &inner(),
        )
        .unwrap();
        assert_eq!(
            spec.model_uri().to_string(),
            "s3://b/ens-text-train-a0/output/model.tar.gz"
        );
    }

    #[test]
    fn fast_file_runs_as_file_and_is_reported_as_given() {
        let spec = parse(
            &with(
                request(),
                "/AlgorithmSpecification/TrainingInputMode",
                json!("FastFile"),
            ),
            &inner(),
        )
        .unwrap();
        assert_eq!(
            input_data_config(&spec)["train"]["TrainingInputMode"],
            "FastFile"
        );
    }

    #[test]
    fn validation_errors_name_the_member() {
        let cases = [
            (without(request(), "/RoleArn"), "Value null at 'roleArn'"),
            (with(request(), "/RoleArn", json!("role/x")), "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern"),
            (without(request(), "/AlgorithmSpecification/TrainingInputMode"), "'algorithmSpecification.trainingInputMode'"),
            (with(request(), "/AlgorithmSpecification/TrainingInputMode", json!("Stream")), "enum value set: [Pipe, File, FastFile]"),
            (without(request(), "/AlgorithmSpecification/TrainingImage"), "You must specify either the TrainingImage or the AlgorithmName"),
            (with(request(), "/AlgorithmSpecification/TrainingImage", json!("")), "You must specify either the TrainingImage or the AlgorithmName"),
            (with(request(), "/AlgorithmSpecification/MetricDefinitions/0/Regex", json!("(unclosed")), "'algorithmSpecification.metricDefinitions.1.member.regex'"),
            (with(request(), "/AlgorithmSpecification/MetricDefinitions/1/Name", json!("")), "'algorithmSpecification.metricDefinitions.2.member.name'"),
            (with(request(), "/AlgorithmSpecification/MetricDefinitions", json!((0..41).map(|i| json!({"Name": format!("m{i}"), "Regex": "x"})).collect::<Vec<_>>())), "less than or equal to 40"),
            (with(request(), "/InputDataConfig/1/ChannelName", json!("train")), "Channel names must be unique"),
            (with(request(), "/InputDataConfig/1/ChannelName", json!("a/b")), "'inputDataConfig.2.member.channelName'"),
            (with(request(), "/InputDataConfig", json!([])), "Member must have length between 1 and 20"),
            (with(request(), "/InputDataConfig/0/DataSource/S3DataSource/S3Uri", json!("gs://b/x")), "'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri'"),
            (without(request(), "/InputDataConfig/0/DataSource/S3DataSource/S3DataType"), "s3DataType"),
            (with(request(), "/InputDataConfig/0/CompressionType", json!("Zip")), "compressionType"),
            (without(request(), "/OutputDataConfig/S3OutputPath"), "'outputDataConfig.s3OutputPath'"),
            (without(request(), "/ResourceConfig/VolumeSizeInGB"), "'resourceConfig.volumeSizeInGB'"),
            (with(request(), "/StoppingCondition/MaxRuntimeInSeconds", json!(0)), "'stoppingCondition.maxRuntimeInSeconds'"),
            (with(request(), "/HyperParameters", json!([])), "at 'hyperParameters' failed to satisfy constraint: Member must be a map"),
            (with(request(), "/EnableManagedSpotTraining", json!("yes")), "enableManagedSpotTraining"),
        ];
        for (request, expected) in cases {
            let e = parse_err(request.clone());
            assert_eq!(e.error, errors::AMAZON_SAGEMAKER_EXCEPTION, "{request}");
            assert!(
                e.cause.contains(expected),
                "expected {expected:?} in {}",
                e.cause
            );
            assert!(e.cause.contains("Error Code: ValidationException"));
        }
    }

    #[test]
    fn environment_keys_and_values_are_checked() {
        let e = parse_err(with(request(), "/Environment", json!({"1BAD": "x"})));
        assert!(
            e.cause.contains("Value '1BAD' at 'environment.key'"),
            "{}",
            e.cause
        );
        let e = parse_err(with(
            request(),
            "/Environment",
            json!({"OK": "x".repeat(513)}),
        ));
        assert!(e.cause.contains("'environment.OK'"), "{}", e.cause);
    }

    #[test]
    fn unsupported_requests_say_what_is_missing() {
        let cases = [
            (
                with(request(), "/InputDataConfig/0/InputMode", json!("Pipe")),
                "Pipe",
            ),
            (
                with(
                    request(),
                    "/InputDataConfig/0/DataSource/S3DataSource/S3DataType",
                    json!("AugmentedManifestFile"),
                ),
                "AugmentedManifestFile",
            ),
            (
                with(
                    request(),
                    "/InputDataConfig/0/DataSource",
                    json!({"FileSystemDataSource": {}}),
                ),
                "FileSystemDataSource",
            ),
            (
                with(
                    request(),
                    "/InputDataConfig/0/DataSource/S3DataSource/S3Uri",
                    json!("https://b.s3.amazonaws.com/x"),
                ),
                "s3://",
            ),
            (
                with(
                    request(),
                    "/OutputDataConfig/S3OutputPath",
                    json!("https://b.s3.amazonaws.com/x"),
                ),
                "s3://",
            ),
            (
                with(request(), "/ResourceConfig/InstanceGroups", json!([])),
                "InstanceGroups",
            ),
            (
                with(
                    request(),
                    "/AlgorithmSpecification",
                    json!({"AlgorithmName": "xgboost", "TrainingInputMode": "File"}),
                ),
                "AlgorithmName",
            ),
        ];
        for (request, expected) in cases {
            let e = parse_err(request.clone());
            assert_eq!(e.error, errors::UNSUPPORTED, "{request}: {}", e.cause);
            assert!(
                e.cause.contains(expected),
                "expected {expected:?} in {}",
                e.cause
            );
        }
    }

    #[test]
    fn an_unmapped_image_is_reported_after_validation() {
        let e = parse_err(with(
            request(),
            "/AlgorithmSpecification/TrainingImage",
            json!("repo/other:1"),
        ));
        assert_eq!(e.error, errors::IMAGE_NOT_MAPPED);
        let e = parse_err(with(
            with(
                request(),
                "/AlgorithmSpecification/TrainingImage",
                json!("repo/other:1"),
            ),
            "/TrainingJobName",
            json!("bad_name"),
        ));
        assert_eq!(e.error, errors::AMAZON_SAGEMAKER_EXCEPTION);
    }

    #[test]
    fn a_non_object_request_is_refused() {
        assert_eq!(
            parse_err(json!("x")).error,
            errors::AMAZON_SAGEMAKER_EXCEPTION
        );
    }

    #[test]
    fn the_container_contract_files_and_variables() {
        let spec = parse(&request(), &inner()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_config(&spec, dir.path()).unwrap();
        let read = |name: &str| -> Value {
            serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("input/config").join(name)).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            read("hyperparameters.json"),
            json!({"epochs": "30", "learning_rate": "0.1"})
        );
        assert_eq!(read("resourceconfig.json")["hosts"], json!(["algo-1"]));
        assert_eq!(
            read("inputdataconfig.json"),
            json!({
                "train": {"ContentType": "application/jsonlines", "TrainingInputMode": "File",
                          "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
                "validation": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                               "RecordWrapperType": "None"}
            })
        );
        for sub in [
            "input/data/train",
            "input/data/validation",
            "model",
            "output/data",
        ] {
            assert!(dir.path().join(sub).is_dir(), "{sub}");
        }
        let env: BTreeMap<String, String> = platform_env(&spec, dir.path()).into_iter().collect();
        assert_eq!(
            env["SM_CHANNEL_TRAIN"],
            dir.path().join("input/data/train").to_string_lossy()
        );
        assert_eq!(env["SM_HP_LEARNING_RATE"], "0.1");
        assert_eq!(env["SM_CHANNELS"], "[\"train\",\"validation\"]");
        assert_eq!(env["TRAINING_JOB_NAME"], "ens-text-train-a0");
        assert_eq!(env["SM_ML_ROOT"], dir.path().to_string_lossy());
    }

    #[test]
    fn the_initial_description_is_starting() {
        let spec = parse(&request(), &inner()).unwrap();
        let d = spec.initial_description();
        assert_eq!(d["TrainingJobStatus"], "InProgress");
        assert_eq!(d["SecondaryStatus"], "Starting");
        assert_eq!(
            d["SecondaryStatusTransitions"][0]["StatusMessage"],
            "Preparing the instances for training"
        );
        assert_eq!(
            d["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"],
            false
        );
        assert!(d.get("TrainingStartTime").is_none());
        assert!(d.get("ModelArtifacts").is_none());
        let record = spec.record(&inner());
        assert_eq!(record.status, "InProgress");
        assert_eq!(
            record.dir,
            Path::new("/nonexistent/sfn-local/training/ens-text-train-a0")
        );
    }
}
