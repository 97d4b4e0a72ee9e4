//! SageMaker, locally: training jobs and batch transform jobs run as local processes
//! under SageMaker's own container contract, reading their inputs from and writing
//! their outputs to an S3-compatible endpoint.
//!
//! # `SM_ML_ROOT`: where a local container finds its `/opt/ml`
//!
//! A SageMaker container reads and writes fixed paths under `/opt/ml` (docs:
//! your-algorithms-training-algo-running-container, your-algorithms-training-algo-output,
//! your-algorithms-batch-code). A local process cannot have its own `/opt/ml`, so each
//! job gets a directory laid out the same way, and **the environment variable
//! `SM_ML_ROOT` holds its path** (a convention of this runner, not of SageMaker). A
//! container script should resolve every `/opt/ml/...` path against it:
//!
//! ```python
//! ML = os.environ.get("SM_ML_ROOT", "/opt/ml")   # the same script runs on SageMaker
//! hyperparameters = json.load(open(f"{ML}/input/config/hyperparameters.json"))
//! ```
//!
//! The SageMaker training toolkit's variables (`SM_MODEL_DIR`, `SM_CHANNEL_TRAIN`,
//! `SM_OUTPUT_DATA_DIR`, ...) are set too, already pointing into that directory.
//!
//! Training: `work_dir/training/<job>/` holds `input/config/hyperparameters.json`,
//! `resourceconfig.json`, `inputdataconfig.json`, `input/data/<channel>/` (every object
//! under the channel's `S3Uri`, sub-paths kept), `model/` (packed into
//! `{S3OutputPath}/{TrainingJobName}/output/model.tar.gz` when the job ends),
//! `output/data/` (→ `output.tar.gz` beside it, if not empty), `output/failure` (the
//! `FailureReason`), and `logs.txt` (the container's stdout and stderr, our notes
//! marked `[sfn-local]`). The image's command runs with `train` appended.
//!
//! Batch transform: `work_dir/transform/<job>/` holds `model/` (the model's
//! `ModelDataUrl` unpacked) and `logs.txt`; the image's command runs with `serve`
//! appended and `SAGEMAKER_BIND_TO_PORT` set to a free port on 127.0.0.1, and is sent
//! `GET /ping` until it answers 200, then `POST /invocations` per mini-batch.
//!
//! # What Step Functions sees (docs: connect-sagemaker, connect-to-resource)
//!
//! - `createTrainingJob.sync` / `createTransformJob.sync` return the
//!   `DescribeTrainingJob` / `DescribeTransformJob` response when the job completes,
//!   timestamps as epoch-millisecond numbers (the Java SDK's JSON, as in this
//!   project's `events/format-failure.json`). A job that ends `Failed` or `Stopped`
//!   fails the task with `States.TaskFailed`, and the description as JSON in `Cause`
//!   (as LocalStack's `.sync` resolver does for Batch jobs).
//! - Without `.sync`, the job runs in the background and the task returns
//!   `{"TrainingJobArn": ...}` / `{"TransformJobArn": ...}` at once; `createModel`
//!   returns `{"ModelArn": ...}`.
//! - Errors the SageMaker API itself would return reach Retry and Catch as
//!   `SageMaker.<exception class>`, as the optimized integration names them (its Java
//!   SDK classes): `SageMaker.ResourceInUseException` for a name already used (job names
//!   are unique per account and region for ever: API_CreateTrainingJob),
//!   `SageMaker.AmazonSageMakerException` for a `ValidationException`, which the API
//!   does not model as an exception of its own. Their `Cause` has the SDK's shape:
//!   `<message> (Service: AmazonSageMaker; Status Code: 400; Error Code: <code>;
//!   Request ID: <uuid>; Proxy: null)`.
//! - What this runner cannot do is not an AWS error: an image missing from the image
//!   map fails with [`errors::IMAGE_NOT_MAPPED`], an unsupported feature (Pipe mode,
//!   manifest files, RecordIO splitting, ...) with [`errors::UNSUPPORTED`]. Neither
//!   matches the `SageMaker.*` retriers; `States.ALL` and `States.TaskFailed` catch
//!   them.
//!
//! # Choices where the docs are silent or a container cannot be one
//!
//! - One process plays every instance: `InstanceCount` is recorded (for the cost
//!   estimate) and echoed, but `resourceconfig.json` lists the single host `algo-1`.
//! - A container's environment is the runner's own minus `AWS_*`, `SM_*` and
//!   `SAGEMAKER_*` (so `PATH` works and no stale credentials leak in), then the
//!   image map's `env`, the S3 settings, the request's `Environment`, and SageMaker's
//!   variables last. The process runs in its own process group; the whole group is
//!   signalled when the job stops, and killed when the job ends or its future is
//!   dropped.
//! - The training job's exit code decides its status, even when a failure file exists
//!   (docs: your-algorithms-training-signal-success-failure).
//! - A job whose `.sync` call is dropped (state timeout, Parallel sibling failure) is
//!   stopped like StopTrainingJob: SIGTERM, grace, SIGKILL, the model still uploaded.
//! - Names are unique case-insensitively (ARNs are written in lower case).
//! - Batch transform: an unset `BatchStrategy` sends one record per request; empty
//!   lines are not records; a MultiRecord body joins records with `\n`; requests are
//!   sent `MaxConcurrentTransforms` at a time (default 1) and a non-2xx answer or a
//!   transport error is retried `InvocationsMaxRetries` times (default 3); objects
//!   are read whole into memory.
//!
//! # Jobs that outlive one run
//!
//! Every change of a job's description is written to `<job dir>/description.json`
//! (epoch milliseconds, as above), every model to `work_dir/models/<name>.json`, and
//! [`LocalSageMaker::new`] loads them back: a job name used by an earlier run over the
//! same `work_dir` stays `ResourceInUse` (SageMaker never forgets a name), and a rerun
//! finds the earlier run's jobs through the API below. A job still `InProgress` on
//! load belonged to a runner that died; it becomes `Failed` with the reason
//! "sfn-local stopped while the job was running". [`JobRecord::from_earlier_run`]
//! tells the loaded jobs from this run's ([`LocalSageMaker::jobs_of_this_run`]).
//!
//! # The SageMaker API, for processes
//!
//! [`LocalSageMaker::serve_api`] serves SageMaker's own wire protocol (awsJson1.1) over
//! HTTP on 127.0.0.1, so a real process (a Lambda binary using `aws-sdk-sagemaker`
//! with `AWS_ENDPOINT_URL_SAGEMAKER`) can describe and list the jobs this runner ran
//! or loaded: see [`api`].

pub mod api;
mod archive;
mod container;
mod images;
mod s3io;
mod store;
mod training;
mod transform;
mod validate;

use crate::util::lock;
pub(crate) use crate::util::now_millis;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::asl::{names, AslError};
use crate::engine::{BoxFuture, TaskRequest, TaskRunner};

pub use api::SageMakerApi;
pub use images::{ImageCommand, ImageMap};

/// The error names this integration raises besides `States.TaskFailed`.
pub mod errors {
    /// A SageMaker `ValidationException` (and any other unmodeled client error), as
    /// Step Functions names it. Our state machine retries it (AWS's advice for
    /// throttling: docs connect-sagemaker).
    pub const AMAZON_SAGEMAKER_EXCEPTION: &str = "SageMaker.AmazonSageMakerException";
    /// `ResourceInUse`: a job name already used in this account and region.
    pub const RESOURCE_IN_USE: &str = "SageMaker.ResourceInUseException";
    /// `ResourceNotFound`.
    pub const RESOURCE_NOT_FOUND: &str = "SageMaker.ResourceNotFoundException";
    /// Local: the image has no entry in the runner's image map.
    pub const IMAGE_NOT_MAPPED: &str = "SfnLocal.ImageNotMapped";
    /// Local: a request uses a SageMaker feature this runner does not emulate.
    pub const UNSUPPORTED: &str = "SfnLocal.Unsupported";
}

/// SageMaker's grace period between SIGTERM and SIGKILL (docs: API_StoppingCondition).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(120);
/// How long a `serve` container has to answer `GET /ping` with 200 (a local choice).
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(300);

pub struct SageMakerConfig {
    /// Jobs live in `work_dir/training/<job name>/` and `work_dir/transform/<job name>/`.
    pub work_dir: PathBuf,
    pub images: ImageMap,
    pub s3: aws_sdk_s3::Client,
    /// Endpoint and credentials given to containers (they may use S3 themselves),
    /// e.g. `AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.
    pub s3_env: Vec<(String, String)>,
    pub region: String,
    pub account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Training,
    Transform,
}

/// One job run so far, for the runner's cost estimate and summary.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub name: String,
    pub arn: String,
    pub kind: JobKind,
    pub instance_type: String,
    pub instance_count: u64,
    /// Seconds on instances so far (SageMaker bills from TrainingStartTime /
    /// TransformStartTime to the end time; per instance, multiply by the count).
    pub billable_seconds: u64,
    /// `InProgress`, `Completed`, `Failed`, `Stopped`.
    pub status: String,
    pub secondary_status: Option<String>,
    pub failure_reason: Option<String>,
    /// The local job directory (the job's `/opt/ml`).
    pub dir: PathBuf,
    /// Loaded from `work_dir` when this runner started: an earlier run's job, which
    /// this run did not pay for (leave it out of this run's cost estimate).
    pub from_earlier_run: bool,
}

/// The local SageMaker. Cheap to clone (shared state); jobs started without `.sync`
/// keep running in the background.
#[derive(Clone)]
pub struct LocalSageMaker {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone, Copy)]
struct Tuning {
    stop_grace: Duration,
    health_timeout: Duration,
}

pub(crate) struct Inner {
    config: SageMakerConfig,
    tuning: Mutex<Tuning>,
    registry: Mutex<Registry>,
    /// Whether descriptions are written to `work_dir` (off in unit tests, whose
    /// `work_dir` is not a place to write).
    persist: bool,
}

#[derive(Default)]
struct Registry {
    jobs: Vec<JobEntry>,
    /// Lower-cased names: the ARN (lower-cased, as SageMaker writes it) is the identity.
    by_name: HashMap<(JobKind, String), usize>,
    /// By lower-cased name.
    models: HashMap<String, StoredModel>,
}

struct StoredModel {
    model: Model,
    /// The DescribeModel response (epoch milliseconds).
    description: Value,
}

struct JobEntry {
    record: JobRecord,
    description: Value,
    started: Option<Instant>,
    stop: watch::Sender<bool>,
}

/// A model made by CreateModel: what a transform job runs.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub name: String,
    pub image: String,
    pub model_data_url: Option<String>,
    pub environment: BTreeMap<String, String>,
}

/// Whole seconds between two epoch-millisecond times, rounded up, at least 1 once
/// anything ran (SageMaker reports `TrainingTimeInSeconds` as a positive integer).
pub(crate) fn seconds_between(start: u64, end: u64) -> u64 {
    end.saturating_sub(start).div_ceil(1000).max(1)
}

/// At most `max` characters (API string limits count characters).
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => s[..cut].to_string(),
        None => s.to_string(),
    }
}

/// An error as Step Functions reports a SageMaker client error.
pub(crate) fn client_error(name: &str, code: &str, message: &str) -> AslError {
    AslError::new(
        name,
        format!(
            "{message} (Service: AmazonSageMaker; Status Code: 400; Error Code: {code}; \
             Request ID: {}; Proxy: null)",
            uuid::Uuid::new_v4()
        ),
    )
}

pub(crate) fn validation_error(message: &str) -> AslError {
    client_error(
        errors::AMAZON_SAGEMAKER_EXCEPTION,
        "ValidationException",
        message,
    )
}

pub(crate) fn unsupported(what: &str) -> AslError {
    AslError::new(
        errors::UNSUPPORTED,
        format!("sfn-local's SageMaker does not support {what}"),
    )
}

/// The request as an object, or the ValidationException SageMaker would give for a
/// body that is not one.
pub(crate) fn request_object(parameters: &Value) -> Result<&Map<String, Value>, AslError> {
    parameters.as_object().ok_or_else(|| {
        validation_error(&format!(
            "1 validation error detected: the request must be a JSON object, not {parameters}"
        ))
    })
}

/// Environment variables a container must not inherit from the runner: they would
/// shadow what SageMaker sets (`SM_*`, `SAGEMAKER_*`) or leak the runner's own AWS
/// identity past the S3 settings given to containers (`AWS_*`).
fn inherited(key: &str) -> bool {
    !(key.starts_with("AWS_")
        || key.starts_with("SM_")
        || key.starts_with("SAGEMAKER_")
        || key == "TRAINING_JOB_NAME"
        || key == "TRAINING_JOB_ARN")
}

/// A container's environment, later entries overriding earlier ones: the runner's
/// own (minus AWS and SageMaker variables, so `PATH` and friends still work),
/// `AWS_REGION`, the image's `env`, the S3 settings, the request's `Environment`,
/// and last SageMaker's own variables, which nothing overrides.
pub(crate) fn container_env(
    inner: &Inner,
    image: &ImageCommand,
    request_env: &BTreeMap<String, String>,
    platform: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| inherited(k))
        .collect();
    env.insert("AWS_REGION".into(), inner.config.region.clone());
    env.insert("AWS_DEFAULT_REGION".into(), inner.config.region.clone());
    let layers = image
        .env
        .iter()
        .cloned()
        .chain(inner.config.s3_env.iter().cloned())
        .chain(request_env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .chain(platform);
    for (k, v) in layers {
        env.insert(k, v);
    }
    // execve cannot carry these; dropping them beats failing the spawn.
    env.into_iter()
        .filter(|(k, v)| !k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'))
        .collect()
}

impl Inner {
    fn tuning(&self) -> Tuning {
        *lock(&self.tuning)
    }

    fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:sagemaker:{}:{}:{kind}/{}",
            self.config.region,
            self.config.account,
            name.to_lowercase()
        )
    }

    /// Registers a new job under its name; a name used before is `ResourceInUse`.
    fn reserve(
        &self,
        record: JobRecord,
        description: Value,
    ) -> Result<(usize, watch::Receiver<bool>), AslError> {
        let mut registry = lock(&self.registry);
        let key = (record.kind, record.name.to_lowercase());
        if registry.by_name.contains_key(&key) {
            let message = match record.kind {
                JobKind::Training => format!(
                    "Training job names must be unique within an AWS account and region, and \
                     a training job with this name already exists ({})",
                    record.arn
                ),
                JobKind::Transform => format!(
                    "Job name must be unique within an AWS account and region, and a job with \
                     this name already exists ({})",
                    record.arn
                ),
            };
            return Err(client_error(
                errors::RESOURCE_IN_USE,
                "ResourceInUse",
                &message,
            ));
        }
        let (stop, stop_rx) = watch::channel(false);
        let index = registry.jobs.len();
        registry.jobs.push(JobEntry {
            record,
            description,
            started: None,
            stop,
        });
        registry.by_name.insert(key, index);
        drop(registry);
        self.save(index);
        Ok((index, stop_rx))
    }

    /// Writes a job's description to its directory, so later runs know the job.
    /// A failure is logged, not fatal: the job itself can still run.
    fn save(&self, index: usize) {
        if !self.persist {
            return;
        }
        let Some((dir, description)) = lock(&self.registry)
            .jobs
            .get(index)
            .map(|e| (e.record.dir.clone(), e.description.clone()))
        else {
            return;
        };
        // Only the job's own task changes its description, one change after another,
        // so writing outside the lock keeps the changes in order.
        let file = dir.join(store::DESCRIPTION_FILE);
        if let Err(e) = store::write_json_atomic(&file, &description) {
            tracing::warn!(file = %file.display(), "cannot save the job's description: {e}");
        }
    }

    /// Jobs and models that earlier runs left in `work_dir`.
    fn load(&self) {
        let jobs = store::load_jobs(&self.config.work_dir);
        let models = store::load_models(&self.config.work_dir);
        let mut registry = lock(&self.registry);
        for job in jobs {
            let key = (job.record.kind, job.record.name.to_lowercase());
            if registry.by_name.contains_key(&key) {
                tracing::warn!(job = %job.record.name, dir = %job.record.dir.display(), "skipping a second job of the same name");
                continue;
            }
            if job.rewritten {
                let file = job.record.dir.join(store::DESCRIPTION_FILE);
                if let Err(e) = store::write_json_atomic(&file, &job.description) {
                    tracing::warn!(file = %file.display(), "cannot save the job's description: {e}");
                }
                tracing::warn!(job = %job.record.name, "a job of an earlier run was still running when its runner stopped: recorded as Failed");
            }
            let (stop, _) = watch::channel(false);
            let index = registry.jobs.len();
            registry.jobs.push(JobEntry {
                record: job.record,
                description: job.description,
                started: None,
                stop,
            });
            registry.by_name.insert(key, index);
        }
        for (model, description) in models {
            registry
                .models
                .entry(model.name.to_lowercase())
                .or_insert(StoredModel { model, description });
        }
    }

    /// Every description of one kind, as it is now, in creation order.
    fn descriptions(&self, kind: JobKind) -> Vec<Value> {
        lock(&self.registry)
            .jobs
            .iter()
            .filter(|e| e.record.kind == kind)
            .map(|e| e.description.clone())
            .collect()
    }

    fn model_description(&self, name: &str) -> Option<Value> {
        lock(&self.registry)
            .models
            .get(&name.to_lowercase())
            .map(|m| m.description.clone())
    }

    /// Billing starts (TrainingStartTime / TransformStartTime).
    fn mark_started(&self, index: usize) {
        if let Some(entry) = lock(&self.registry).jobs.get_mut(index) {
            entry.started.get_or_insert_with(Instant::now);
        }
    }

    fn publish(&self, index: usize, description: &Value) {
        if let Some(entry) = lock(&self.registry).jobs.get_mut(index) {
            entry.description = description.clone();
        }
        self.save(index);
    }

    fn finish(
        &self,
        index: usize,
        description: &Value,
        status: &str,
        secondary: Option<&str>,
        failure: Option<&str>,
        billable_seconds: u64,
    ) {
        if let Some(entry) = lock(&self.registry).jobs.get_mut(index) {
            entry.description = description.clone();
            entry.record.status = status.to_string();
            entry.record.secondary_status = secondary.map(str::to_string);
            entry.record.failure_reason = failure.map(str::to_string);
            entry.record.billable_seconds = billable_seconds;
            entry.started = None;
        }
        self.save(index);
    }

    /// Asks a running job to stop (as StopTrainingJob / StopTransformJob would).
    fn request_stop(&self, index: usize) {
        if let Some(entry) = lock(&self.registry).jobs.get(index) {
            if entry.record.status == "InProgress" {
                let _ = entry.stop.send(true);
            }
        }
    }

    fn describe(&self, kind: JobKind, name: &str) -> Option<Value> {
        let registry = lock(&self.registry);
        let index = *registry.by_name.get(&(kind, name.to_lowercase()))?;
        registry.jobs.get(index).map(|e| e.description.clone())
    }

    fn model(&self, name: &str) -> Option<Model> {
        lock(&self.registry)
            .models
            .get(&name.to_lowercase())
            .map(|m| m.model.clone())
    }
}

/// Stops the job when the `.sync` call waiting for it is dropped (the state timed
/// out, a Parallel sibling failed, the execution ended): Step Functions stops the
/// SageMaker job in that case rather than leave it running.
struct StopOnDrop {
    inner: Arc<Inner>,
    index: usize,
    armed: bool,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.inner.request_stop(self.index);
        }
    }
}

/// The `.sync` result: the description if the job completed, else
/// `States.TaskFailed` with the description as the cause.
fn sync_result(description: Value, status_field: &str) -> Result<Value, AslError> {
    if description.get(status_field).and_then(Value::as_str) == Some("Completed") {
        Ok(description)
    } else {
        Err(AslError::new(
            names::TASK_FAILED,
            serde_json::to_string(&description).unwrap_or_default(),
        ))
    }
}

impl LocalSageMaker {
    /// A local SageMaker over `config.work_dir`, with the jobs and models earlier
    /// runs left there (unreadable files are skipped with a warning).
    pub fn new(mut config: SageMakerConfig) -> LocalSageMaker {
        // Containers run in their job directory, so the paths they are given
        // (`SM_ML_ROOT`, the channels) must not be relative to ours.
        if let Ok(absolute) = std::path::absolute(&config.work_dir) {
            config.work_dir = absolute;
        }
        let inner = Inner {
            config,
            tuning: Mutex::new(Tuning {
                stop_grace: DEFAULT_STOP_GRACE,
                health_timeout: DEFAULT_HEALTH_CHECK_TIMEOUT,
            }),
            registry: Mutex::new(Registry::default()),
            persist: true,
        };
        inner.load();
        LocalSageMaker {
            inner: Arc::new(inner),
        }
    }

    /// Serves the SageMaker API (DescribeTrainingJob, ListTrainingJobs, ...) over
    /// this runner's jobs on 127.0.0.1 and a free port, until the returned handle is
    /// dropped. See [`api`].
    pub fn serve_api(&self) -> std::io::Result<SageMakerApi> {
        SageMakerApi::start(self.clone())
    }

    /// The wait between SIGTERM and SIGKILL when a job is stopped (SageMaker: 120 s).
    pub fn with_stop_grace(self, grace: Duration) -> LocalSageMaker {
        lock(&self.inner.tuning).stop_grace = grace;
        self
    }

    /// How long a `serve` container may take to answer `GET /ping` with 200.
    pub fn with_health_check_timeout(self, timeout: Duration) -> LocalSageMaker {
        lock(&self.inner.tuning).health_timeout = timeout;
        self
    }

    /// Whether `resource` is one of the Task resources [`LocalSageMaker::invoke`] runs.
    pub fn handles(resource: &str) -> bool {
        matches!(
            api_of(resource),
            Some(
                "createTrainingJob"
                    | "createTrainingJob.sync"
                    | "createModel"
                    | "createTransformJob"
                    | "createTransformJob.sync"
            )
        )
    }

    /// Runs a Task state's `arn:aws:states:::sagemaker:<api>` resource.
    pub async fn invoke(&self, resource: &str, parameters: Value) -> Result<Value, AslError> {
        match api_of(resource) {
            Some("createTrainingJob.sync") => self.create_training_job_sync(parameters).await,
            Some("createTrainingJob") => self.create_training_job(parameters).await,
            Some("createModel") => self.create_model(parameters).await,
            Some("createTransformJob.sync") => self.create_transform_job_sync(parameters).await,
            Some("createTransformJob") => self.create_transform_job(parameters).await,
            _ => Err(AslError::runtime(format!(
                "sfn-local's SageMaker integration does not run the resource {resource:?} \
                 (it runs createTrainingJob[.sync], createModel and createTransformJob[.sync])"
            ))),
        }
    }

    /// `arn:aws:states:::sagemaker:createTrainingJob.sync`
    pub async fn create_training_job_sync(&self, parameters: Value) -> Result<Value, AslError> {
        let (index, handle) = self.start_training(parameters)?;
        self.await_job(index, handle, "TrainingJobStatus").await
    }

    /// `arn:aws:states:::sagemaker:createTrainingJob` (no `.sync`): returns
    /// `{"TrainingJobArn": ...}` at once; the job runs in the background.
    pub async fn create_training_job(&self, parameters: Value) -> Result<Value, AslError> {
        let (index, _handle) = self.start_training(parameters)?;
        let arn = lock(&self.inner.registry)
            .jobs
            .get(index)
            .map(|e| e.record.arn.clone())
            .unwrap_or_default();
        Ok(json!({ "TrainingJobArn": arn }))
    }

    /// `arn:aws:states:::sagemaker:createModel`: records the model; returns
    /// `{"ModelArn": ...}`.
    pub async fn create_model(&self, parameters: Value) -> Result<Value, AslError> {
        let spec = transform::parse_model(&parameters, &self.inner.config.images)?;
        let arn = self.inner.arn("model", &spec.model.name);
        let key = spec.model.name.to_lowercase();
        let description = transform::describe_model(&parameters, &arn, now_millis());
        let exists =
            || validation_error(&format!("Cannot create already existing model \"{arn}\"."));
        if lock(&self.inner.registry).models.contains_key(&key) {
            return Err(exists());
        }
        if let Some(url) = &spec.model.model_data_url {
            // CreateModel checks that the model data exists.
            transform::check_model_data(&self.inner.config.s3, url).await?;
        }
        let mut registry = lock(&self.inner.registry);
        if registry.models.contains_key(&key) {
            return Err(exists());
        }
        let name = spec.model.name.clone();
        registry.models.insert(
            key,
            StoredModel {
                model: spec.model,
                description: description.clone(),
            },
        );
        drop(registry);
        if self.inner.persist {
            let file = store::model_path(&self.inner.config.work_dir, &name);
            if let Err(e) = store::write_json_atomic(&file, &description) {
                tracing::warn!(file = %file.display(), "cannot save the model's description: {e}");
            }
        }
        Ok(json!({ "ModelArn": arn }))
    }

    /// `arn:aws:states:::sagemaker:createTransformJob.sync`
    pub async fn create_transform_job_sync(&self, parameters: Value) -> Result<Value, AslError> {
        let (index, handle) = self.start_transform(parameters)?;
        self.await_job(index, handle, "TransformJobStatus").await
    }

    /// `arn:aws:states:::sagemaker:createTransformJob` (no `.sync`).
    pub async fn create_transform_job(&self, parameters: Value) -> Result<Value, AslError> {
        let (index, _handle) = self.start_transform(parameters)?;
        let arn = lock(&self.inner.registry)
            .jobs
            .get(index)
            .map(|e| e.record.arn.clone())
            .unwrap_or_default();
        Ok(json!({ "TransformJobArn": arn }))
    }

    /// Every job known: those loaded from earlier runs first
    /// ([`JobRecord::from_earlier_run`]), then this run's, in creation order (name,
    /// kind, instance type and count, billable seconds, status).
    pub fn jobs(&self) -> Vec<JobRecord> {
        lock(&self.inner.registry)
            .jobs
            .iter()
            .map(|entry| {
                let mut record = entry.record.clone();
                if let Some(started) = entry.started {
                    record.billable_seconds = started.elapsed().as_secs().max(1);
                }
                record
            })
            .collect()
    }

    /// The jobs this process ran, in creation order: what this run's cost estimate
    /// and summary count.
    pub fn jobs_of_this_run(&self) -> Vec<JobRecord> {
        self.jobs()
            .into_iter()
            .filter(|job| !job.from_earlier_run)
            .collect()
    }

    /// The DescribeModel response of a model of this runner (epoch milliseconds).
    pub fn describe_model(&self, name: &str) -> Option<Value> {
        self.inner.model_description(name)
    }

    /// The DescribeTrainingJob response of a job of this runner, as it is now.
    pub fn describe_training_job(&self, name: &str) -> Option<Value> {
        self.inner.describe(JobKind::Training, name)
    }

    /// The DescribeTransformJob response of a job of this runner, as it is now.
    pub fn describe_transform_job(&self, name: &str) -> Option<Value> {
        self.inner.describe(JobKind::Transform, name)
    }

    /// Stops a running job, as StopTrainingJob / StopTransformJob do. Returns false
    /// if no such job is running.
    pub fn stop_job(&self, kind: JobKind, name: &str) -> bool {
        let index = lock(&self.inner.registry)
            .by_name
            .get(&(kind, name.to_lowercase()))
            .copied();
        match index {
            Some(index) => {
                let running = lock(&self.inner.registry)
                    .jobs
                    .get(index)
                    .is_some_and(|e| e.record.status == "InProgress");
                self.inner.request_stop(index);
                running
            }
            None => false,
        }
    }

    fn start_training(
        &self,
        parameters: Value,
    ) -> Result<(usize, tokio::task::JoinHandle<Value>), AslError> {
        let spec = training::parse(&parameters, &self.inner)?;
        let (index, stop) = self
            .inner
            .reserve(spec.record(&self.inner), spec.initial_description())?;
        let inner = Arc::clone(&self.inner);
        let handle = tokio::spawn(training::run(inner, index, spec, stop));
        Ok((index, handle))
    }

    fn start_transform(
        &self,
        parameters: Value,
    ) -> Result<(usize, tokio::task::JoinHandle<Value>), AslError> {
        let spec = transform::parse_job(&parameters, &self.inner)?;
        let (index, stop) = self
            .inner
            .reserve(spec.record(&self.inner), spec.initial_description())?;
        let inner = Arc::clone(&self.inner);
        let handle = tokio::spawn(transform::run(inner, index, spec, stop));
        Ok((index, handle))
    }

    async fn await_job(
        &self,
        index: usize,
        handle: tokio::task::JoinHandle<Value>,
        status_field: &str,
    ) -> Result<Value, AslError> {
        let mut guard = StopOnDrop {
            inner: Arc::clone(&self.inner),
            index,
            armed: true,
        };
        let description = handle
            .await
            .map_err(|e| AslError::runtime(format!("the local SageMaker job crashed: {e}")))?;
        guard.armed = false;
        sync_result(description, status_field)
    }
}

/// `createTrainingJob.sync` from `arn:aws:states:::sagemaker:createTrainingJob.sync`.
fn api_of(resource: &str) -> Option<&str> {
    resource.strip_prefix("arn:aws:states:::sagemaker:")
}

impl TaskRunner for LocalSageMaker {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        Box::pin(async move { self.invoke(&request.resource, request.parameters).await })
    }
}

/// The pieces of a job description both kinds share: a status and its history.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub status: String,
    pub message: String,
    pub start: u64,
    pub end: Option<u64>,
}

impl Transition {
    pub fn to_json(&self) -> Value {
        let mut t = json!({
            "Status": self.status,
            "StartTime": self.start,
            "StatusMessage": self.message,
        });
        if let Some(end) = self.end {
            t["EndTime"] = json!(end);
        }
        t
    }
}

/// Closes the open transition and opens a new one.
pub(crate) fn advance(transitions: &mut Vec<Transition>, status: &str, message: &str, now: u64) {
    if let Some(last) = transitions.last_mut() {
        if last.end.is_none() {
            last.end = Some(now);
        }
    }
    transitions.push(Transition {
        status: status.to_string(),
        message: message.to_string(),
        start: now,
        end: None,
    });
}

/// An `Inner` for unit tests: an S3 client that is never called, the given images.
#[cfg(test)]
pub(crate) fn test_inner(images: ImageMap) -> Inner {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-central-1"))
            .build(),
    );
    Inner {
        config: SageMakerConfig {
            work_dir: PathBuf::from("/nonexistent/sfn-local"),
            images,
            s3,
            s3_env: vec![("AWS_ENDPOINT_URL_S3".into(), "http://127.0.0.1:9".into())],
            region: "eu-central-1".into(),
            account: "123456789012".into(),
        },
        tuning: Mutex::new(Tuning {
            stop_grace: DEFAULT_STOP_GRACE,
            health_timeout: DEFAULT_HEALTH_CHECK_TIMEOUT,
        }),
        registry: Mutex::new(Registry::default()),
        persist: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_work_dir_is_made_absolute() {
        let relative = PathBuf::from("target/sfn-local-relative-work-dir-test");
        let sagemaker = LocalSageMaker::new(SageMakerConfig {
            work_dir: relative.clone(),
            ..test_inner(ImageMap::default()).config
        });
        let work_dir = &sagemaker.inner.config.work_dir;
        assert!(work_dir.is_absolute(), "{}", work_dir.display());
        assert!(work_dir.ends_with(&relative));
    }

    #[test]
    fn seconds_round_up_and_are_at_least_one() {
        assert_eq!(seconds_between(0, 0), 1);
        assert_eq!(seconds_between(0, 1), 1);
        assert_eq!(seconds_between(0, 1000), 1);
        assert_eq!(seconds_between(0, 1001), 2);
        assert_eq!(seconds_between(5000, 1000), 1);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars(&"x".repeat(2000), 1024).len(), 1024);
    }

    #[test]
    fn client_errors_have_the_sdk_cause_shape() {
        let e = client_error(errors::RESOURCE_IN_USE, "ResourceInUse", "taken");
        assert_eq!(e.error, "SageMaker.ResourceInUseException");
        assert!(e.cause.starts_with(
            "taken (Service: AmazonSageMaker; Status Code: 400; Error Code: ResourceInUse; Request ID: "
        ));
        assert!(e.cause.ends_with("; Proxy: null)"));
        let v = validation_error("bad");
        assert_eq!(v.error, "SageMaker.AmazonSageMakerException");
        assert!(v.cause.contains("Error Code: ValidationException"));
    }

    #[test]
    fn resources_are_recognised() {
        assert!(LocalSageMaker::handles(
            "arn:aws:states:::sagemaker:createTrainingJob.sync"
        ));
        assert!(LocalSageMaker::handles(
            "arn:aws:states:::sagemaker:createTrainingJob"
        ));
        assert!(LocalSageMaker::handles(
            "arn:aws:states:::sagemaker:createModel"
        ));
        assert!(LocalSageMaker::handles(
            "arn:aws:states:::sagemaker:createTransformJob.sync"
        ));
        assert!(!LocalSageMaker::handles(
            "arn:aws:states:::sagemaker:createEndpoint"
        ));
        assert!(!LocalSageMaker::handles("arn:aws:states:::lambda:invoke"));
    }

    #[test]
    fn sync_results() {
        let ok = json!({"TrainingJobStatus": "Completed"});
        assert_eq!(sync_result(ok.clone(), "TrainingJobStatus").unwrap(), ok);
        for status in ["Failed", "Stopped"] {
            let d = json!({"TrainingJobStatus": status, "FailureReason": "x"});
            let e = sync_result(d.clone(), "TrainingJobStatus").unwrap_err();
            assert_eq!(e.error, "States.TaskFailed");
            assert_eq!(serde_json::from_str::<Value>(&e.cause).unwrap(), d);
        }
    }

    #[test]
    fn inherited_variables() {
        assert!(inherited("PATH"));
        assert!(inherited("HOME"));
        assert!(!inherited("AWS_SESSION_TOKEN"));
        assert!(!inherited("SM_MODEL_DIR"));
        assert!(!inherited("SAGEMAKER_BIND_TO_PORT"));
        assert!(!inherited("TRAINING_JOB_NAME"));
    }

    #[test]
    fn transitions_close_the_previous_one() {
        let mut t = Vec::new();
        advance(&mut t, "Starting", "a", 1);
        advance(&mut t, "Downloading", "b", 5);
        assert_eq!(t[0].end, Some(5));
        assert_eq!(t[1].end, None);
        assert_eq!(
            t[0].to_json(),
            json!({"Status": "Starting", "StartTime": 1, "EndTime": 5, "StatusMessage": "a"})
        );
        assert!(t[1].to_json().get("EndTime").is_none());
    }

    fn images() -> ImageMap {
        ImageMap::from_json(
            &json!([{"image": "repo/i:1", "command": ["/bin/true"], "env": {"A": "image", "B": "image"}}]),
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    fn record(name: &str, kind: JobKind) -> JobRecord {
        JobRecord {
            name: name.into(),
            arn: format!("arn:{name}"),
            kind,
            instance_type: "ml.m5.large".into(),
            instance_count: 1,
            billable_seconds: 0,
            status: "InProgress".into(),
            secondary_status: None,
            failure_reason: None,
            dir: PathBuf::new(),
            from_earlier_run: false,
        }
    }

    #[test]
    fn names_are_reserved_case_insensitively_per_kind() {
        let inner = test_inner(images());
        inner
            .reserve(record("Job-A", JobKind::Training), json!({}))
            .unwrap();
        let e = inner
            .reserve(record("job-a", JobKind::Training), json!({}))
            .unwrap_err();
        assert_eq!(e.error, errors::RESOURCE_IN_USE);
        assert!(e.cause.contains("Training job names must be unique"));
        // A transform job may share a training job's name.
        inner
            .reserve(record("job-a", JobKind::Transform), json!({}))
            .unwrap();
        let e = inner
            .reserve(record("JOB-A", JobKind::Transform), json!({}))
            .unwrap_err();
        assert!(
            e.cause.starts_with("Job name must be unique"),
            "{}",
            e.cause
        );
    }

    #[test]
    fn arns_are_lower_case() {
        let inner = test_inner(images());
        assert_eq!(
            inner.arn("training-job", "Ens-Text-A0"),
            "arn:aws:sagemaker:eu-central-1:123456789012:training-job/ens-text-a0"
        );
    }

    #[test]
    fn finishing_and_stopping_update_the_record() {
        let inner = test_inner(images());
        let (index, stop) = inner
            .reserve(record("j", JobKind::Training), json!({}))
            .unwrap();
        inner.mark_started(index);
        inner.request_stop(index);
        assert!(*stop.borrow());
        inner.finish(
            index,
            &json!({"done": true}),
            "Stopped",
            Some("Stopped"),
            None,
            7,
        );
        assert_eq!(
            inner.describe(JobKind::Training, "J").unwrap(),
            json!({"done": true})
        );
        let registry = lock(&inner.registry);
        let entry = &registry.jobs[index];
        assert_eq!(entry.record.status, "Stopped");
        assert_eq!(entry.record.billable_seconds, 7);
        assert!(entry.started.is_none());
    }

    #[test]
    fn container_env_layers_override_in_order() {
        let inner = test_inner(images());
        let image = inner.config.images.resolve("repo/i:1").unwrap().clone();
        let request: BTreeMap<String, String> = [
            ("B".to_string(), "request".to_string()),
            ("C".to_string(), "request".to_string()),
        ]
        .into_iter()
        .collect();
        let env: BTreeMap<String, String> = container_env(
            &inner,
            &image,
            &request,
            vec![
                ("C".into(), "platform".into()),
                ("BAD=KEY".into(), "x".into()),
            ],
        )
        .into_iter()
        .collect();
        assert_eq!(env["A"], "image");
        assert_eq!(env["B"], "request");
        assert_eq!(env["C"], "platform");
        assert_eq!(env["AWS_REGION"], "eu-central-1");
        assert_eq!(env["AWS_ENDPOINT_URL_S3"], "http://127.0.0.1:9");
        assert!(!env.contains_key("BAD=KEY"));
        assert!(env.keys().all(|k| !k.starts_with("SM_")));
    }

    #[test]
    fn request_must_be_an_object() {
        let e = request_object(&json!([1])).unwrap_err();
        assert_eq!(e.error, errors::AMAZON_SAGEMAKER_EXCEPTION);
        assert!(e.cause.contains("must be a JSON object"));
    }
}
