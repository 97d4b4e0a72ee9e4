//! `arn:aws:states:::batch:submitJob.sync` as a local command: each Batch job
//! definition the state machine names is mapped to a command line, run to completion,
//! and described as Step Functions describes a finished Batch job.
//!
//! The mapping file (a JSON array):
//! ```json
//! [{"job_definition": "preprocess",           // a name, an ARN, or a prefix ending in *
//!   "command": ["scripts/preprocess.sh"],     // the container's entrypoint + default command
//!   "env": {"BUCKET": "local"},               // the container's environment
//!   "cwd": "work",                            // relative to the file's directory
//!   "parameters": {"codec": "mp4"}}]          // the job definition's default Parameters
//! ```
//!
//! AWS behaviour reproduced (sources in each item):
//! - `JobName`, `JobQueue`, `JobDefinition` are required; job names are 1-128 letters,
//!   digits, hyphens and underscores, starting with a letter or digit (SubmitJob API);
//! - `Parameters` (string → string) override the definition's defaults and replace
//!   `Ref::name` placeholders: a whole command argument equal to `Ref::name` is replaced
//!   (Batch user guide, "Parameter substitution"); a placeholder without a value stays
//!   as written;
//! - `ContainerOverrides.Command` replaces the container's command on AWS. Here the
//!   mapped `command` stands for the image's entrypoint, so the override's arguments are
//!   appended to it;
//! - `ContainerOverrides.Environment` `[{Name, Value}]` is added to the environment, and
//!   Step Functions adds `MANAGED_BY_AWS=STARTED_BY_STEP_FUNCTIONS` (LocalStack's Batch
//!   integration, after AWS); Batch's own `AWS_BATCH_JOB_ID`, `AWS_BATCH_JOB_ATTEMPT`,
//!   `AWS_BATCH_JQ_NAME` are set;
//! - `RetryStrategy.Attempts` (1-10) reruns a failed job; `Timeout.AttemptDurationSeconds`
//!   kills an attempt that runs longer;
//! - the result is the DescribeJobs job, in PascalCase as Step Functions returns
//!   service results ("Parameters in Step Functions are expressed in PascalCase, even
//!   when the native service API is camelCase", docs: connect-batch); timestamps are
//!   epoch milliseconds as in the Batch API;
//! - a job that ends FAILED fails the task with `States.TaskFailed` and the job JSON as
//!   Cause (LocalStack's Batch integration, after AWS);
//! - Batch API errors are `Batch.ClientException` with the Java SDK's cause format.
//!
//! Environment: the job starts from an empty environment plus `PATH`, `HOME`, `TMPDIR`
//! and `RUST_LOG` of this process (a container does not inherit the host's), then the
//! mapping's `env`, then the overrides.

use crate::util::json_type as kind;
use crate::util::lock;
use crate::util::now_millis as now_ms;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::asl::{names, AslError};

/// SubmitJob's `RetryStrategy.attempts` range.
const MAX_ATTEMPTS: u64 = 10;
/// What Batch writes for a job whose container ran and exited (ECS's wording).
const CONTAINER_EXITED: &str = "Essential container in task exited";

/// The fields Step Functions passes on to SubmitJob (docs: connect-batch).
const SUPPORTED: [&str; 10] = [
    "ArrayProperties",
    "ContainerOverrides",
    "DependsOn",
    "JobDefinition",
    "JobName",
    "JobQueue",
    "Parameters",
    "RetryStrategy",
    "Timeout",
    "Tags",
];

/// One job definition mapped to a local command.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDefinition {
    /// A name, an ARN, or a prefix ending in `*`.
    pub pattern: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub parameters: BTreeMap<String, String>,
}

/// The mapped job definitions, and the jobs run so far.
pub struct JobDefinitions {
    definitions: Vec<JobDefinition>,
    base_dir: PathBuf,
    log_dir: PathBuf,
    region: String,
    account: String,
    jobs: Mutex<Vec<Value>>,
}

impl JobDefinitions {
    /// Reads the mapping (see the module doc); relative commands and `cwd` are resolved
    /// against `base_dir`. Job logs go to `<base_dir>/batch-logs/` unless
    /// [`JobDefinitions::with_log_dir`] says otherwise.
    pub fn from_json(value: &Value, base_dir: &Path) -> Result<JobDefinitions, String> {
        let entries = value.as_array().ok_or_else(|| {
            format!(
                "the Batch job definitions must be a JSON array, got {}",
                kind(value)
            )
        })?;
        let mut definitions = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            definitions.push(parse_definition(i, entry, base_dir)?);
        }
        Ok(JobDefinitions {
            definitions,
            base_dir: base_dir.to_path_buf(),
            log_dir: base_dir.join("batch-logs"),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            jobs: Mutex::new(Vec::new()),
        })
    }

    /// Where each job's output is written, one `<job name>-<job id>.log` per job.
    pub fn with_log_dir(mut self, dir: PathBuf) -> JobDefinitions {
        self.log_dir = dir;
        self
    }

    /// The region and account of the ARNs the jobs are described with.
    pub fn with_identity(mut self, region: &str, account: &str) -> JobDefinitions {
        self.region = region.to_string();
        self.account = account.to_string();
        self
    }

    pub fn definitions(&self) -> &[JobDefinition] {
        &self.definitions
    }

    /// Every finished job's description, in the order they ended.
    pub fn jobs(&self) -> Vec<Value> {
        lock(&self.jobs).clone()
    }

    /// `arn:aws:states:::batch:submitJob.sync`: runs the job to its end.
    pub async fn submit_job_sync(&self, parameters: Value) -> Result<Value, AslError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let job = self.prepare(&parameters, &request_id)?;
        let described = self.run(job).await;
        lock(&self.jobs).push(described.clone());
        if described["Status"] == json!("SUCCEEDED") {
            Ok(described)
        } else {
            Err(AslError::new(names::TASK_FAILED, described.to_string()))
        }
    }

    /// Checks the request and builds everything the run needs.
    fn prepare(&self, parameters: &Value, request_id: &str) -> Result<Job, AslError> {
        let client = |message: String| batch_error(&message, request_id);
        let p = parameters.as_object().ok_or_else(|| {
            AslError::runtime(format!(
                "batch:submitJob.sync: the Parameters must be a JSON object, got {}",
                kind(parameters)
            ))
        })?;
        if let Some(field) = p.keys().find(|k| !SUPPORTED.contains(&k.as_str())) {
            return Err(AslError::runtime(format!(
                "batch:submitJob.sync: the field \"{field}\" is not supported by Step Functions (supported: {})",
                SUPPORTED.join(", ")
            )));
        }
        let required = |name: &str, api: &str| -> Result<String, AslError> {
            match p.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    Err(client(format!("{api} must be provided")))
                }
                Some(other) => Err(client(format!(
                    "{api} must be a string, got {}",
                    kind(other)
                ))),
            }
        };
        let job_name = required("JobName", "jobName")?;
        if !valid_job_name(&job_name) {
            return Err(client(format!(
                "Job name should match valid pattern: up to 128 letters (uppercase and lowercase), numbers, hyphens, and underscores, starting with a letter or number; got {job_name:?}"
            )));
        }
        let queue = required("JobQueue", "jobQueue")?;
        let definition_ref = required("JobDefinition", "jobDefinition")?;
        let definition = self.find(&definition_ref).ok_or_else(|| {
            let known: Vec<&str> = self.definitions.iter().map(|d| d.pattern.as_str()).collect();
            client(format!(
                "Job definition {definition_ref} does not exist [sfn-local: mapped job definitions: {}]",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })?;

        let mut values = definition.parameters.clone();
        match p.get("Parameters") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let v = v.as_str().ok_or_else(|| {
                        client(format!(
                            "parameters must be a string to string map; \"{k}\" is {}",
                            kind(v)
                        ))
                    })?;
                    values.insert(k.clone(), v.to_string());
                }
            }
            Some(other) => {
                return Err(client(format!(
                    "parameters must be a string to string map, got {}",
                    kind(other)
                )))
            }
        }

        let overrides = match p.get("ContainerOverrides") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(client(format!(
                    "containerOverrides must be an object, got {}",
                    kind(other)
                )))
            }
        };
        let mut command = definition.command.clone();
        match overrides.get("Command") {
            None | Some(Value::Null) => {}
            Some(Value::Array(args)) => {
                for arg in args {
                    command.push(
                        arg.as_str()
                            .ok_or_else(|| {
                                client(format!(
                                    "containerOverrides.command must hold strings, got {}",
                                    kind(arg)
                                ))
                            })?
                            .to_string(),
                    );
                }
            }
            Some(other) => {
                return Err(client(format!(
                    "containerOverrides.command must be an array, got {}",
                    kind(other)
                )))
            }
        }
        let command: Vec<String> = command.iter().map(|arg| substitute(arg, &values)).collect();

        let mut env = definition.env.clone();
        match overrides.get("Environment") {
            None | Some(Value::Null) => {}
            Some(Value::Array(pairs)) => {
                for pair in pairs {
                    let name = pair
                        .get("Name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty());
                    let value = pair.get("Value").and_then(Value::as_str).unwrap_or("");
                    let name = name.ok_or_else(|| {
                        client(format!(
                            "containerOverrides.environment entries need a string Name, got {pair}"
                        ))
                    })?;
                    if name.starts_with("AWS_BATCH") {
                        return Err(client(format!(
                            "containerOverrides.environment: {name}: variables starting with AWS_BATCH are reserved"
                        )));
                    }
                    env.insert(name.to_string(), value.to_string());
                }
            }
            Some(other) => {
                return Err(client(format!(
                    "containerOverrides.environment must be an array, got {}",
                    kind(other)
                )))
            }
        }
        env.insert("MANAGED_BY_AWS".into(), "STARTED_BY_STEP_FUNCTIONS".into());

        let attempts = match p.get("RetryStrategy").and_then(|r| r.get("Attempts")) {
            None | Some(Value::Null) => 1,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_ATTEMPTS).contains(&n) => n,
                _ => {
                    return Err(client(format!(
                    "retryStrategy.attempts must be an integer from 1 to {MAX_ATTEMPTS}, got {v}"
                )))
                }
            },
        };
        let timeout = match p
            .get("Timeout")
            .and_then(|t| t.get("AttemptDurationSeconds"))
        {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                // SubmitJob: "The minimum value for the timeout is 60 seconds."
                Some(n) if n >= 60 => Some(Duration::from_secs(n)),
                _ => {
                    return Err(client(format!(
                        "timeout.attemptDurationSeconds must be an integer of at least 60, got {v}"
                    )))
                }
            },
        };

        let job_id = uuid::Uuid::new_v4().to_string();
        let definition_arn = self.definition_arn(&definition_ref);
        let queue_arn = if queue.starts_with("arn:") {
            queue.clone()
        } else {
            format!(
                "arn:aws:batch:{}:{}:job-queue/{queue}",
                self.region, self.account
            )
        };
        Ok(Job {
            job_arn: format!(
                "arn:aws:batch:{}:{}:job/{job_id}",
                self.region, self.account
            ),
            job_id,
            job_name,
            queue_name: queue_arn.rsplit('/').next().unwrap_or(&queue).to_string(),
            queue_arn,
            definition_arn,
            parameters: values,
            command,
            env,
            cwd: definition.cwd.clone(),
            attempts,
            timeout,
            tags: p.get("Tags").cloned().unwrap_or_else(|| json!({})),
        })
    }

    /// The mapping entry for `reference`: exact name or ARN first, then ARN without
    /// revision, then the longest matching prefix pattern.
    fn find(&self, reference: &str) -> Option<&JobDefinition> {
        let name = definition_name(reference);
        let exact = self.definitions.iter().find(|d| {
            !d.pattern.ends_with('*')
                && (d.pattern == reference
                    || d.pattern == name
                    || (d.pattern.starts_with("arn:")
                        && reference
                            .strip_prefix(d.pattern.as_str())
                            .is_some_and(|rest| rest.starts_with(':'))))
        });
        exact.or_else(|| {
            self.definitions
                .iter()
                .filter_map(|d| {
                    let prefix = d.pattern.strip_suffix('*')?;
                    (reference.starts_with(prefix) || name.starts_with(prefix))
                        .then_some((prefix.len(), d))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, d)| d)
        })
    }

    fn definition_arn(&self, reference: &str) -> String {
        if reference.starts_with("arn:") {
            return reference.to_string();
        }
        let with_revision = if reference.contains(':') {
            reference.to_string()
        } else {
            format!("{reference}:1")
        };
        format!(
            "arn:aws:batch:{}:{}:job-definition/{with_revision}",
            self.region, self.account
        )
    }

    /// Runs every attempt until one succeeds or none is left; describes the job.
    async fn run(&self, job: Job) -> Value {
        let created = now_ms();
        let log_path = self
            .log_dir
            .join(format!("{}-{}.log", job.job_name, job.job_id));
        let mut attempts = Vec::new();
        let mut last = AttemptEnd::default();
        let mut started = None;
        for attempt in 0..job.attempts {
            let start = now_ms();
            started.get_or_insert(start);
            last = self.attempt(&job, attempt, &log_path).await;
            let stop = now_ms();
            let mut container = json!({"LogStreamName": log_path.display().to_string(), "TaskArn": format!("arn:aws:ecs:{}:{}:task/sfn-local/{}", self.region, self.account, job.job_id)});
            if let Some(code) = last.exit_code {
                container["ExitCode"] = json!(code);
            }
            if let Some(reason) = &last.reason {
                container["Reason"] = json!(reason);
            }
            attempts.push(json!({
                "Container": container,
                "StartedAt": start,
                "StoppedAt": stop,
                "StatusReason": last.status_reason,
            }));
            if last.exit_code == Some(0) {
                break;
            }
        }
        let succeeded = last.exit_code == Some(0);
        let environment: Vec<Value> = job
            .env
            .iter()
            .map(|(k, v)| json!({"Name": k, "Value": v}))
            .collect();
        let mut container = json!({
            "Command": job.command,
            "Environment": environment,
            "Image": job.command.first().cloned().unwrap_or_default(),
            "LogStreamName": log_path.display().to_string(),
            "TaskArn": format!("arn:aws:ecs:{}:{}:task/sfn-local/{}", self.region, self.account, job.job_id),
        });
        if let Some(code) = last.exit_code {
            container["ExitCode"] = json!(code);
        }
        if let Some(reason) = &last.reason {
            container["Reason"] = json!(reason);
        }
        json!({
            "Attempts": attempts,
            "Container": container,
            "CreatedAt": created,
            "DependsOn": [],
            "JobArn": job.job_arn,
            "JobDefinition": job.definition_arn,
            "JobId": job.job_id,
            "JobName": job.job_name,
            "JobQueue": job.queue_arn,
            "Parameters": job.parameters,
            "PlatformCapabilities": [],
            "PropagateTags": false,
            "RetryStrategy": {"Attempts": job.attempts},
            "StartedAt": started.unwrap_or(created),
            "Status": if succeeded { "SUCCEEDED" } else { "FAILED" },
            "StatusReason": last.status_reason,
            "StoppedAt": now_ms(),
            "Tags": job.tags,
        })
    }

    /// One attempt: the command with its output appended to the job's log.
    async fn attempt(&self, job: &Job, attempt: u64, log_path: &Path) -> AttemptEnd {
        let Some(program) = job.command.first() else {
            return AttemptEnd::cannot_start("the command is empty");
        };
        let program = resolve(&self.base_dir, program);
        let mut command = Command::new(&program);
        command
            .args(job.command.iter().skip(1))
            .current_dir(&job.cwd)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in ["PATH", "HOME", "TMPDIR", "RUST_LOG"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .envs(&job.env)
            .env("AWS_BATCH_JOB_ID", &job.job_id)
            .env("AWS_BATCH_JOB_ATTEMPT", (attempt + 1).to_string())
            .env("AWS_BATCH_JQ_NAME", &job.queue_name)
            .env("AWS_BATCH_CE_NAME", "sfn-local");
        let log = match open_log(log_path).await {
            Ok(log) => log,
            Err(e) => {
                return AttemptEnd::cannot_start(&format!(
                    "cannot open the job log {}: {e}",
                    log_path.display()
                ))
            }
        };
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return AttemptEnd::cannot_start(&format!("cannot run {}: {e}", program.display()))
            }
        };
        let log = std::sync::Arc::new(tokio::sync::Mutex::new(log));
        let out = child
            .stdout
            .take()
            .map(|s| tokio::spawn(copy_lines(s, log.clone(), job.job_name.clone(), "stdout")));
        let err = child
            .stderr
            .take()
            .map(|s| tokio::spawn(copy_lines(s, log.clone(), job.job_name.clone(), "stderr")));
        let status = match job.timeout {
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.kill().await;
                    for task in [out, err].into_iter().flatten() {
                        let _ = task.await;
                    }
                    return AttemptEnd {
                        exit_code: Some(137),
                        reason: Some("Job attempt duration exceeded timeout".into()),
                        status_reason: "Job attempt duration exceeded timeout".into(),
                    };
                }
            },
            None => child.wait().await,
        };
        for task in [out, err].into_iter().flatten() {
            let _ = task.await;
        }
        match status {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt as _;
                // ECS reports a container killed by a signal as 128 + the signal.
                let code = status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(-1);
                AttemptEnd {
                    exit_code: Some(code),
                    reason: None,
                    status_reason: CONTAINER_EXITED.into(),
                }
            }
            Err(e) => {
                AttemptEnd::cannot_start(&format!("cannot wait for {}: {e}", program.display()))
            }
        }
    }
}

/// A checked SubmitJob request.
struct Job {
    job_id: String,
    job_arn: String,
    job_name: String,
    queue_arn: String,
    queue_name: String,
    definition_arn: String,
    parameters: BTreeMap<String, String>,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    attempts: u64,
    timeout: Option<Duration>,
    tags: Value,
}

#[derive(Default)]
struct AttemptEnd {
    exit_code: Option<i32>,
    reason: Option<String>,
    status_reason: String,
}

impl AttemptEnd {
    /// The container never ran (ECS's CannotStartContainerError).
    fn cannot_start(why: &str) -> AttemptEnd {
        AttemptEnd {
            exit_code: None,
            reason: Some(format!("CannotStartContainerError: {why}")),
            status_reason: format!("CannotStartContainerError: {why}"),
        }
    }
}

fn parse_definition(i: usize, entry: &Value, base_dir: &Path) -> Result<JobDefinition, String> {
    let at = format!("job definition #{i}");
    let entry = entry
        .as_object()
        .ok_or_else(|| format!("{at}: must be an object, got {}", kind(entry)))?;
    if let Some(other) = entry.keys().find(|k| {
        !matches!(
            k.as_str(),
            "job_definition" | "command" | "env" | "cwd" | "parameters"
        )
    }) {
        return Err(format!(
            "{at}: unknown field {other:?} (fields: job_definition, command, env, cwd, parameters)"
        ));
    }
    let pattern = match entry.get("job_definition") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(format!(
                "{at}: \"job_definition\" must be a non-empty string, got {}",
                kind(other)
            ))
        }
        None => return Err(format!("{at}: \"job_definition\" is required")),
    };
    let at = format!("job definition {pattern:?}");
    let command = match entry.get("command") {
        Some(Value::Array(args)) if !args.is_empty() => args
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{at}: \"command\" must hold strings, got {}", kind(a)))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(format!(
                "{at}: \"command\" must be a non-empty array of strings"
            ))
        }
        None => return Err(format!("{at}: \"command\" is required")),
    };
    let strings = |field: &str| -> Result<BTreeMap<String, String>, String> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_string()))
                        .ok_or_else(|| {
                            format!("{at}: \"{field}\".{k:?} must be a string, got {}", kind(v))
                        })
                })
                .collect(),
            Some(other) => Err(format!(
                "{at}: \"{field}\" must be an object of strings, got {}",
                kind(other)
            )),
        }
    };
    let env = strings("env")?;
    let parameters = strings("parameters")?;
    let cwd = match entry.get("cwd") {
        None | Some(Value::Null) => base_dir.to_path_buf(),
        Some(Value::String(dir)) => base_dir.join(dir),
        Some(other) => {
            return Err(format!(
                "{at}: \"cwd\" must be a string, got {}",
                kind(other)
            ))
        }
    };
    Ok(JobDefinition {
        pattern,
        command,
        env,
        cwd,
        parameters,
    })
}

/// `Ref::name` → the parameter's value, for a whole argument only.
fn substitute(arg: &str, values: &BTreeMap<String, String>) -> String {
    arg.strip_prefix("Ref::")
        .and_then(|name| values.get(name))
        .cloned()
        .unwrap_or_else(|| arg.to_string())
}

/// The name part of a job definition reference: `name`, `name:3` or
/// `arn:aws:batch:r:a:job-definition/name:3` → `name`.
fn definition_name(reference: &str) -> &str {
    let tail = reference.rsplit('/').next().unwrap_or(reference);
    let tail = if reference.starts_with("arn:") && !reference.contains('/') {
        ""
    } else {
        tail
    };
    tail.split(':').next().unwrap_or(tail)
}

fn valid_job_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A relative program path with a `/` is relative to the mapping file's directory; a
/// bare name is looked up on PATH.
fn resolve(base_dir: &Path, program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        base_dir.join(path)
    } else {
        path.to_path_buf()
    }
}

async fn open_log(path: &Path) -> std::io::Result<tokio::fs::File> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

/// Copies a job's output line by line to its log and to tracing.
async fn copy_lines(
    stream: impl AsyncRead + Unpin,
    log: std::sync::Arc<tokio::sync::Mutex<tokio::fs::File>>,
    job: String,
    which: &'static str,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                tracing::info!(target: "batch", job = %job, stream = which, "{text}");
                let mut log = log.lock().await;
                let _ = log.write_all(text.as_bytes()).await;
                let _ = log.write_all(b"\n").await;
            }
        }
    }
    let _ = log.lock().await.flush().await;
}

fn batch_error(message: &str, request_id: &str) -> AslError {
    AslError::new(
        "Batch.ClientException",
        format!(
            "{message} (Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: {request_id}; Proxy: null)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(value: Value) -> JobDefinitions {
        JobDefinitions::from_json(&value, Path::new("/base")).unwrap()
    }

    fn parse_err(value: Value) -> String {
        match JobDefinitions::from_json(&value, Path::new("/base")) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    fn prepare_err(d: &JobDefinitions, p: Value) -> AslError {
        match d.prepare(&p, "req") {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    fn one() -> JobDefinitions {
        defs(json!([{
            "job_definition": "preprocess",
            "command": ["bin/prep", "--in", "Ref::input", "--codec", "Ref::codec"],
            "env": {"A": "1"},
            "cwd": "work",
            "parameters": {"codec": "mp4"}
        }]))
    }

    fn submit(extra: Value) -> Value {
        let mut p =
            json!({"JobName": "prep-0", "JobQueue": "queue", "JobDefinition": "preprocess"});
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                p.insert(k.clone(), v.clone());
            }
        }
        p
    }

    #[test]
    fn mapping_parses() {
        let d = one();
        let def = &d.definitions()[0];
        assert_eq!(def.pattern, "preprocess");
        assert_eq!(def.cwd, Path::new("/base/work"));
        assert_eq!(def.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(def.parameters.get("codec").map(String::as_str), Some("mp4"));
    }

    #[test]
    fn mapping_errors_name_the_entry() {
        assert!(parse_err(json!({})).contains("JSON array"));
        assert!(parse_err(json!([1])).contains("#0"));
        assert!(parse_err(json!([{"command": ["x"]}])).contains("\"job_definition\" is required"));
        assert!(parse_err(json!([{"job_definition": "", "command": ["x"]}])).contains("non-empty"));
        let e = parse_err(json!([{"job_definition": "j"}]));
        assert!(
            e.contains("\"j\"") && e.contains("\"command\" is required"),
            "{e}"
        );
        assert!(
            parse_err(json!([{"job_definition": "j", "command": []}])).contains("non-empty array")
        );
        assert!(parse_err(json!([{"job_definition": "j", "command": [1]}]))
            .contains("must hold strings"));
        assert!(
            parse_err(json!([{"job_definition": "j", "command": ["x"], "env": {"A": 1}}]))
                .contains("\"env\".\"A\"")
        );
        assert!(
            parse_err(json!([{"job_definition": "j", "command": ["x"], "cwd": 1}]))
                .contains("\"cwd\"")
        );
        assert!(
            parse_err(json!([{"job_definition": "j", "command": ["x"], "comand": 1}]))
                .contains("\"comand\"")
        );
    }

    #[test]
    fn parameters_override_defaults_and_fill_placeholders() {
        // Batch user guide, "Parameter substitution": Ref::codec defaults to mp4.
        let job = one()
            .prepare(&submit(json!({"Parameters": {"input": "s3://b/k"}})), "r")
            .unwrap();
        assert_eq!(
            job.command,
            ["bin/prep", "--in", "s3://b/k", "--codec", "mp4"]
        );
        let job = one()
            .prepare(
                &submit(json!({"Parameters": {"input": "x", "codec": "mkv"}})),
                "r",
            )
            .unwrap();
        assert_eq!(job.command[4], "mkv");
        assert_eq!(job.parameters.get("codec").map(String::as_str), Some("mkv"));
    }

    #[test]
    fn unset_placeholder_and_partial_match_stay_literal() {
        let job = one().prepare(&submit(json!({})), "r").unwrap();
        assert_eq!(job.command[2], "Ref::input");
        assert_eq!(
            substitute(
                "--x=Ref::codec",
                &BTreeMap::from([("codec".into(), "v".into())])
            ),
            "--x=Ref::codec"
        );
    }

    #[test]
    fn override_command_is_appended_and_substituted() {
        let job = one()
            .prepare(
                &submit(json!({"ContainerOverrides": {"Command": ["--extra", "Ref::codec"]}})),
                "r",
            )
            .unwrap();
        assert_eq!(job.command[5..], ["--extra".to_string(), "mp4".to_string()]);
    }

    #[test]
    fn environment_overrides_and_managed_flag() {
        let job = one()
            .prepare(&submit(json!({"ContainerOverrides": {"Environment": [{"Name": "A", "Value": "2"}, {"Name": "B", "Value": "3"}]}})), "r")
            .unwrap();
        assert_eq!(job.env.get("A").map(String::as_str), Some("2"));
        assert_eq!(job.env.get("B").map(String::as_str), Some("3"));
        assert_eq!(
            job.env.get("MANAGED_BY_AWS").map(String::as_str),
            Some("STARTED_BY_STEP_FUNCTIONS")
        );
        let e = prepare_err(
            &one(),
            submit(
                json!({"ContainerOverrides": {"Environment": [{"Name": "AWS_BATCH_X", "Value": "1"}]}}),
            ),
        );
        assert!(e.cause.contains("reserved"), "{e}");
        let e = prepare_err(
            &one(),
            submit(json!({"ContainerOverrides": {"Environment": [{"Value": "1"}]}})),
        );
        assert!(e.cause.contains("Name"), "{e}");
    }

    #[test]
    fn required_fields() {
        for (field, api) in [
            ("JobName", "jobName"),
            ("JobQueue", "jobQueue"),
            ("JobDefinition", "jobDefinition"),
        ] {
            let mut p = submit(json!({}));
            p.as_object_mut().unwrap().remove(field);
            let e = prepare_err(&one(), p);
            assert_eq!(e.error, "Batch.ClientException");
            assert!(e.cause.starts_with(&format!("{api} must be provided (Service: AWSBatch; Status Code: 400; Error Code: ClientException; Request ID: req; Proxy: null)")), "{e}");
        }
    }

    #[test]
    fn job_name_pattern() {
        for ok in ["a", "A-b_9", &"x".repeat(128)] {
            assert!(valid_job_name(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a.b", &"x".repeat(129), "é"] {
            assert!(!valid_job_name(bad), "{bad}");
        }
        let e = prepare_err(&one(), submit(json!({"JobName": "bad name"})));
        assert!(
            e.cause.contains("Job name should match valid pattern"),
            "{e}"
        );
    }

    #[test]
    fn unknown_definition_lists_the_mapped_ones() {
        let e = prepare_err(&one(), submit(json!({"JobDefinition": "other"})));
        assert_eq!(e.error, "Batch.ClientException");
        assert!(
            e.cause.contains("Job definition other does not exist")
                && e.cause.contains("preprocess"),
            "{e}"
        );
    }

    #[test]
    fn definition_lookup_by_name_arn_revision_and_prefix() {
        let d = defs(json!([
            {"job_definition": "exact", "command": ["a"]},
            {"job_definition": "arn:aws:batch:us-east-1:123456789012:job-definition/byarn", "command": ["b"]},
            {"job_definition": "pre*", "command": ["c"]},
            {"job_definition": "prefix-long*", "command": ["d"]}
        ]));
        let cmd = |r: &str| d.find(r).map(|d| d.command[0].clone());
        assert_eq!(cmd("exact").as_deref(), Some("a"));
        assert_eq!(cmd("exact:3").as_deref(), Some("a"));
        assert_eq!(
            cmd("arn:aws:batch:us-east-1:123456789012:job-definition/exact:2").as_deref(),
            Some("a")
        );
        assert_eq!(
            cmd("arn:aws:batch:us-east-1:123456789012:job-definition/byarn").as_deref(),
            Some("b")
        );
        assert_eq!(
            cmd("arn:aws:batch:us-east-1:123456789012:job-definition/byarn:7").as_deref(),
            Some("b")
        );
        assert_eq!(cmd("preprocess").as_deref(), Some("c"));
        assert_eq!(cmd("prefix-longer").as_deref(), Some("d"));
        assert_eq!(
            cmd("arn:aws:batch:us-east-1:123456789012:job-definition/prep:1").as_deref(),
            Some("c")
        );
        assert_eq!(cmd("none"), None);
    }

    #[test]
    fn definition_names() {
        assert_eq!(definition_name("name"), "name");
        assert_eq!(definition_name("name:3"), "name");
        assert_eq!(definition_name("arn:aws:batch:r:1:job-definition/n:2"), "n");
        assert_eq!(definition_name("arn:aws:batch:r"), "");
    }

    #[test]
    fn arns_in_the_description() {
        let d = one();
        assert_eq!(
            d.definition_arn("preprocess"),
            "arn:aws:batch:us-east-1:123456789012:job-definition/preprocess:1"
        );
        assert_eq!(
            d.definition_arn("preprocess:4"),
            "arn:aws:batch:us-east-1:123456789012:job-definition/preprocess:4"
        );
        let job = d.prepare(&submit(json!({})), "r").unwrap();
        assert_eq!(
            job.queue_arn,
            "arn:aws:batch:us-east-1:123456789012:job-queue/queue"
        );
        assert_eq!(job.queue_name, "queue");
        let job = d
            .prepare(
                &submit(json!({"JobQueue": "arn:aws:batch:eu-west-1:111111111111:job-queue/q2"})),
                "r",
            )
            .unwrap();
        assert_eq!(job.queue_name, "q2");
    }

    #[test]
    fn parameter_types() {
        let e = prepare_err(&one(), submit(json!({"Parameters": {"a": 1}})));
        assert!(e.cause.contains("string to string map"), "{e}");
        let e = prepare_err(&one(), submit(json!({"Parameters": [1]})));
        assert!(e.cause.contains("string to string map"), "{e}");
        let e = prepare_err(&one(), submit(json!({"RetryStrategy": {"Attempts": 11}})));
        assert!(e.cause.contains("retryStrategy.attempts"), "{e}");
        let e = prepare_err(
            &one(),
            submit(json!({"Timeout": {"AttemptDurationSeconds": 59}})),
        );
        assert!(e.cause.contains("at least 60"), "{e}");
        let e = prepare_err(&one(), submit(json!({"JobName": 5})));
        assert!(e.cause.contains("jobName must be a string"), "{e}");
        let e = prepare_err(
            &one(),
            submit(json!({"ContainerOverrides": {"Command": "x"}})),
        );
        assert!(e.cause.contains("must be an array"), "{e}");
    }

    #[test]
    fn unsupported_field_is_a_runtime_error() {
        let e = prepare_err(&one(), submit(json!({"JobDefinitionName": "x"})));
        assert_eq!(e.error, names::RUNTIME);
        let e = prepare_err(&one(), json!([1]));
        assert_eq!(e.error, names::RUNTIME);
    }

    /// A job script under `dir/scripts/` and its mapping.
    fn script_definitions(dir: &Path, body: &str) -> JobDefinitions {
        let scripts = dir.join("scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        let path = scripts.join("job.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        JobDefinitions::from_json(
            &json!([{
                "job_definition": "arn:aws:batch:us-east-1:123456789012:job-definition/preprocess",
                "command": ["scripts/job.sh", "Ref::input"],
                "env": {"A": "from-definition"},
                "parameters": {"input": "default-input"}
            }]),
            dir,
        )
        .unwrap()
        .with_log_dir(dir.join("logs"))
    }

    fn submit_params(extra: Value) -> Value {
        let mut p = json!({
            "JobName": "fetch-preprocessed-0",
            "JobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/preprocess",
            "JobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/preprocess:3"
        });
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                p.insert(k.clone(), v.clone());
            }
        }
        p
    }

    #[tokio::test]
    async fn a_job_that_exits_0_is_described_as_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let d = script_definitions(
            dir.path(),
            "echo \"arg=$1 A=$A B=$B managed=$MANAGED_BY_AWS attempt=$AWS_BATCH_JOB_ATTEMPT queue=$AWS_BATCH_JQ_NAME home=${HOME:+set}\" > out.txt\necho to-stdout\necho to-stderr >&2",
        );
        let out = d
            .submit_job_sync(submit_params(json!({
                "Parameters": {"input": "s3://bucket/raw/"},
                "ContainerOverrides": {"Environment": [{"Name": "B", "Value": "override"}]}
            })))
            .await
            .unwrap();
        assert_eq!(out["Status"], json!("SUCCEEDED"));
        assert_eq!(
            out["StatusReason"],
            json!("Essential container in task exited")
        );
        assert_eq!(out["JobName"], json!("fetch-preprocessed-0"));
        assert_eq!(
            out["JobQueue"],
            json!("arn:aws:batch:us-east-1:123456789012:job-queue/preprocess")
        );
        assert_eq!(
            out["JobDefinition"],
            json!("arn:aws:batch:us-east-1:123456789012:job-definition/preprocess:3")
        );
        let job_id = out["JobId"].as_str().unwrap();
        assert_eq!(
            out["JobArn"],
            json!(format!("arn:aws:batch:us-east-1:123456789012:job/{job_id}"))
        );
        assert_eq!(out["Parameters"], json!({"input": "s3://bucket/raw/"}));
        assert_eq!(out["Container"]["ExitCode"], json!(0));
        assert_eq!(
            out["Container"]["Command"],
            json!(["scripts/job.sh", "s3://bucket/raw/"])
        );
        assert!(out["Container"]["Environment"]
            .as_array()
            .unwrap()
            .contains(&json!({"Name": "MANAGED_BY_AWS", "Value": "STARTED_BY_STEP_FUNCTIONS"})));
        assert_eq!(out["Attempts"].as_array().unwrap().len(), 1);
        assert_eq!(out["Attempts"][0]["Container"]["ExitCode"], json!(0));
        for field in ["CreatedAt", "StartedAt", "StoppedAt"] {
            assert!(
                out[field].as_u64().unwrap() > 1_600_000_000_000,
                "{field} in epoch ms"
            );
        }
        assert!(out["StoppedAt"].as_u64() >= out["StartedAt"].as_u64());
        // PascalCase throughout, as Step Functions returns it.
        for key in out.as_object().unwrap().keys() {
            assert!(key.starts_with(|c: char| c.is_ascii_uppercase()), "{key}");
        }

        let written = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
        assert_eq!(
            written.trim(),
            "arg=s3://bucket/raw/ A=from-definition B=override managed=STARTED_BY_STEP_FUNCTIONS attempt=1 queue=preprocess home=set"
        );
        let log =
            std::fs::read_to_string(out["Container"]["LogStreamName"].as_str().unwrap()).unwrap();
        assert!(
            log.contains("to-stdout") && log.contains("to-stderr"),
            "{log}"
        );
        assert_eq!(d.jobs().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_job_fails_the_task_with_the_job_as_cause_after_its_retries() {
        let dir = tempfile::tempdir().unwrap();
        let d = script_definitions(
            dir.path(),
            "echo attempt $AWS_BATCH_JOB_ATTEMPT >> attempts.txt\nexit 4",
        );
        let e = d
            .submit_job_sync(submit_params(json!({"RetryStrategy": {"Attempts": 2}})))
            .await
            .unwrap_err();
        assert_eq!(e.error, names::TASK_FAILED);
        let job: Value = serde_json::from_str(&e.cause).unwrap();
        assert_eq!(job["Status"], json!("FAILED"));
        assert_eq!(
            job["StatusReason"],
            json!("Essential container in task exited")
        );
        assert_eq!(job["Container"]["ExitCode"], json!(4));
        assert_eq!(job["Attempts"].as_array().unwrap().len(), 2);
        assert_eq!(job["Attempts"][1]["Container"]["ExitCode"], json!(4));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("attempts.txt")).unwrap(),
            "attempt 1\nattempt 2\n"
        );
        // The default parameter filled the placeholder.
        assert_eq!(job["Container"]["Command"][1], json!("default-input"));
    }

    #[tokio::test]
    async fn a_retry_that_succeeds_ends_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let d = script_definitions(dir.path(), "[ \"$AWS_BATCH_JOB_ATTEMPT\" = 2 ]");
        let out = d
            .submit_job_sync(submit_params(json!({"RetryStrategy": {"Attempts": 3}})))
            .await
            .unwrap();
        assert_eq!(out["Status"], json!("SUCCEEDED"));
        assert_eq!(out["Attempts"].as_array().unwrap().len(), 2);
        assert_eq!(out["Attempts"][0]["Container"]["ExitCode"], json!(1));
    }

    #[tokio::test]
    async fn a_signal_is_reported_as_128_plus_the_signal() {
        let dir = tempfile::tempdir().unwrap();
        let d = script_definitions(dir.path(), "kill -9 $$");
        let e = d
            .submit_job_sync(submit_params(json!({})))
            .await
            .unwrap_err();
        let job: Value = serde_json::from_str(&e.cause).unwrap();
        assert_eq!(job["Container"]["ExitCode"], json!(137));
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_fails_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let d = JobDefinitions::from_json(
            &json!([{"job_definition": "j", "command": ["bin/missing"]}]),
            dir.path(),
        )
        .unwrap()
        .with_log_dir(dir.path().join("logs"));
        let e = d
            .submit_job_sync(json!({"JobName": "j", "JobQueue": "q", "JobDefinition": "j"}))
            .await
            .unwrap_err();
        assert_eq!(e.error, names::TASK_FAILED);
        let job: Value = serde_json::from_str(&e.cause).unwrap();
        assert_eq!(job["Status"], json!("FAILED"));
        assert!(
            job["StatusReason"]
                .as_str()
                .unwrap()
                .starts_with("CannotStartContainerError: cannot run "),
            "{job}"
        );
        assert!(job["Container"].get("ExitCode").is_none());
        assert_eq!(
            job["JobQueue"],
            json!("arn:aws:batch:us-east-1:123456789012:job-queue/q")
        );
        assert_eq!(
            job["JobDefinition"],
            json!("arn:aws:batch:us-east-1:123456789012:job-definition/j:1")
        );
    }

    #[tokio::test]
    async fn a_refused_request_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = script_definitions(dir.path(), "touch ran.txt");
        let e = d
            .submit_job_sync(submit_params(json!({"JobName": "bad name"})))
            .await
            .unwrap_err();
        assert_eq!(e.error, "Batch.ClientException");
        assert!(!dir.path().join("ran.txt").exists());
        assert!(d.jobs().is_empty());
    }

    #[test]
    fn relative_programs() {
        assert_eq!(resolve(Path::new("/b"), "bin/x"), Path::new("/b/bin/x"));
        assert_eq!(resolve(Path::new("/b"), "sh"), Path::new("sh"));
        assert_eq!(resolve(Path::new("/b"), "/bin/sh"), Path::new("/bin/sh"));
    }
}
