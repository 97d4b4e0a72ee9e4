//! `sfn-local run`: the project's state machine, as `sam deploy` would create it, run
//! on this machine against local stand-ins for everything it calls.
//!
//! - The definition comes from the template with its `DefinitionSubstitutions`
//!   resolved ([`crate::project`]).
//! - S3: the embedded local-s3 over `<data dir>/s3` (or `--s3-endpoint`); the template's
//!   buckets and the config's are created; the config's `uploads` and
//!   `--upload DIR=s3://bucket/prefix/` (which replaces a config upload to the same
//!   place) make the prefix hold the directory's files first: only files whose content
//!   changed are sent, and keys an earlier upload put there that the directory no
//!   longer has are deleted (recorded in `<data dir>/uploads.json`; in the embedded S3
//!   only, another endpoint's are reported and left; objects no upload put are never
//!   touched).
//! - Lambda: each `AWS::Serverless::Function` is its real binary behind a local
//!   Runtime API, with the template's environment plus the local endpoints.
//! - SageMaker: training and batch transform under the container contract, the images
//!   mapped to local commands by the config; its API (DescribeTrainingJob,
//!   ListTrainingJobs, ...) served to the Lambdas on 127.0.0.1. Jobs are kept in
//!   `<data dir>/sagemaker`, so a rerun finds the earlier runs' jobs, as on AWS.
//! - SNS: published messages are appended to `<data dir>/outbox.jsonl` and shown;
//!   functions that publish themselves reach it through a local SNS API.
//! - EventBridge: when the execution ends, every rule of the template on its status
//!   change (an `EventBridgeRule` event of a function) whose pattern matches invokes
//!   its function, as on AWS (format-failure tells of failures no Catch saw).
//! - Batch: job definitions mapped to local commands by the config.
//!
//! Progress goes to stderr; at the end a summary (status, metrics, artifacts,
//! transitions, the AWS cost estimate) goes to stdout, or with `--json` exactly one JSON
//! object in `execute`'s shape. The history is kept in
//! `<data dir>/executions/<name>/history.json`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use aws_sdk_s3::config::{Credentials, Region};
use futures::StreamExt;
use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::cli::{exit_code, result_json, Report, EXIT_INVALID};
use crate::cost::{self, JobUsage, LambdaUsage, PriceTable, Usage};
use crate::definition::StateMachine;
use crate::engine::{iso, Clock, Engine, ExecutionSpec, Outcome, Status};
use crate::history::Observer;
use crate::integrations::batch::JobDefinitions;
use crate::integrations::eventbridge;
use crate::integrations::lambda::{LambdaPool, PoolOptions};
use crate::integrations::router::Router;
use crate::integrations::sagemaker::{JobKind, LocalSageMaker, SageMakerConfig};
use crate::integrations::sns::Outbox;
use crate::project::{Project, CONFIG_FILE};
use crate::util::lock;

/// Files uploaded at once by `--upload`.
const UPLOAD_CONCURRENCY: usize = 16;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The execution input (JSON); `{}` when absent.
    pub input: Option<PathBuf>,
    /// The project's sfn-local config; its directory is the project root.
    #[arg(long, default_value = CONFIG_FILE)]
    pub config: PathBuf,
    /// Where runs keep their state (the embedded S3's buckets, SageMaker jobs, the SNS
    /// outbox, Lambda logs, histories); default: `.sfn-local` in the project root.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The execution name (`$$.Execution.Name`); default: `local-<UTC time>`.
    #[arg(long)]
    pub name: Option<String>,
    /// Uses this S3 endpoint (MinIO, LocalStack, AWS...) instead of the embedded one;
    /// credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Uploads a local directory before the run: `DIR=s3://bucket/prefix/`
    /// (repeatable; files already there with the same content are skipped; replaces a
    /// config upload to the same place; in the embedded S3, keys an earlier upload put
    /// there that the directory no longer has are deleted).
    #[arg(long = "upload", value_name = "DIR=S3_URI")]
    pub uploads: Vec<String>,
    /// Multiplies every Wait and retry interval (1 = real time, 0 = no waiting).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Prints exactly one JSON object on stdout, as `execute` does; the summary goes
    /// to stderr.
    #[arg(long)]
    pub json: bool,
    /// Also writes the execution history to this file.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// A price table of your own (the format of local/prices/aws-us-east-1.json).
    #[arg(long)]
    pub prices: Option<PathBuf>,
    #[command(flatten)]
    pub mocks: crate::cli::MockArgs,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

fn invalid(message: impl Into<String>) -> (i32, String) {
    (EXIT_INVALID, message.into())
}

/// Where the S3 that this run uses is, and how to reach it.
struct S3Target {
    client: aws_sdk_s3::Client,
    endpoint: String,
    /// What Lambdas and containers need to reach it.
    env: Vec<(String, String)>,
    /// The embedded server, kept alive for the run.
    _server: Option<local_s3::LocalS3>,
    local_root: Option<PathBuf>,
}

fn s3_target(args: &RunArgs, data_dir: &Path, region: &str) -> Result<S3Target, (i32, String)> {
    match &args.s3_endpoint {
        None => {
            let root = data_dir.join("s3");
            let server = local_s3::LocalS3::start_in(&root).map_err(|e| {
                invalid(format!(
                    "cannot start the embedded S3 in {}: {e}",
                    root.display()
                ))
            })?;
            let env = server
                .lambda_env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            Ok(S3Target {
                client: server.client(),
                endpoint: server.endpoint(),
                env,
                local_root: Some(root),
                _server: Some(server),
            })
        }
        Some(endpoint) => {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let (Some(key), Some(secret)) =
                (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
            else {
                return Err(invalid(
                    "--s3-endpoint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for it",
                ));
            };
            let token = var("AWS_SESSION_TOKEN");
            let config = aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .region(Region::new(region.to_string()))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .credentials_provider(Credentials::new(
                    key.clone(),
                    secret.clone(),
                    token.clone(),
                    None,
                    "sfn-local",
                ))
                .build();
            let mut env = vec![
                ("AWS_ENDPOINT_URL_S3".to_string(), endpoint.clone()),
                ("AWS_ACCESS_KEY_ID".to_string(), key),
                ("AWS_SECRET_ACCESS_KEY".to_string(), secret),
            ];
            if let Some(token) = token {
                env.push(("AWS_SESSION_TOKEN".to_string(), token));
            }
            Ok(S3Target {
                client: aws_sdk_s3::Client::from_conf(config),
                endpoint: endpoint.clone(),
                env,
                _server: None,
                local_root: None,
            })
        }
    }
}

async fn create_buckets(client: &aws_sdk_s3::Client, buckets: &[String]) -> Result<(), String> {
    for bucket in buckets {
        if client.head_bucket().bucket(bucket).send().await.is_ok() {
            continue;
        }
        if let Err(e) = client.create_bucket().bucket(bucket).send().await {
            let service = e.as_service_error();
            let exists = service.is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            });
            if !exists {
                return Err(format!(
                    "cannot create the bucket {bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ));
            }
        }
    }
    Ok(())
}

/// `DIR=s3://bucket/prefix/` → (dir, bucket, prefix ending in `/` or empty).
fn parse_upload(spec: &str) -> Result<(PathBuf, String, String), String> {
    let (dir, uri) = spec
        .split_once('=')
        .ok_or_else(|| format!("--upload {spec:?}: expected DIR=s3://bucket/prefix/"))?;
    upload_target(PathBuf::from(dir), uri).map_err(|e| format!("--upload {spec:?}: {e}"))
}

fn upload_target(dir: PathBuf, uri: &str) -> Result<(PathBuf, String, String), String> {
    let (bucket, prefix) = upload_destination(uri)?;
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    Ok((dir, bucket, prefix))
}

/// `s3://bucket/prefix` → (bucket, prefix ending in `/` or empty).
fn upload_destination(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{uri:?} is not an s3:// URI"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{uri:?} names no bucket"));
    }
    let mut prefix = prefix.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((bucket.to_string(), prefix))
}

fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What an upload did.
struct Uploaded {
    uploaded: usize,
    skipped: usize,
    /// Every key the directory has now (what the next run compares against).
    keys: Vec<String>,
    /// Keys an earlier upload of this destination put that the directory no longer has.
    stale: Vec<String>,
    /// Whether the stale keys were deleted (the embedded S3) or left (another endpoint).
    stale_deleted: bool,
    /// Keys under the prefix that neither the directory nor an earlier upload of it
    /// has: left alone, but whoever reads the prefix reads them too.
    foreign: Vec<String>,
}

/// Makes `s3://bucket/prefix` hold what `dir` holds: every file whose content is not
/// already at its key (compared by size and MD5 ETag) is put. Keys that an earlier
/// upload to this destination put (`earlier`) and the directory no longer has are
/// deleted when `delete_stale`: otherwise a smaller regeneration of a dataset would
/// leave old parts in the training channels. Objects no upload put are never touched.
async fn upload(
    client: &aws_sdk_s3::Client,
    dir: &Path,
    bucket: &str,
    prefix: &str,
    earlier: &std::collections::BTreeSet<String>,
    delete_stale: bool,
) -> Result<Uploaded, String> {
    let mut existing: HashMap<String, (i64, String)> = HashMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "--upload: cannot list s3://{bucket}/{prefix}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                let etag = object
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string();
                existing.insert(key.to_string(), (object.size().unwrap_or(-1), etag));
            }
        }
    }
    let files = files_under(dir).map_err(|e| format!("--upload: {}: {e}", dir.display()))?;
    let keys: Vec<String> = files
        .iter()
        .map(|path| upload_key(dir, path, prefix))
        .collect();
    let wanted: std::collections::HashSet<&String> = keys.iter().collect();
    let stale: Vec<String> = earlier
        .iter()
        .filter(|key| !wanted.contains(key) && existing.contains_key(*key))
        .cloned()
        .collect();
    let mut foreign: Vec<String> = existing
        .keys()
        .filter(|key| !wanted.contains(key) && !earlier.contains(*key))
        .cloned()
        .collect();
    foreign.sort();
    let existing = Arc::new(existing);
    let results = futures::stream::iter(files.into_iter().map(|path| {
        let existing = Arc::clone(&existing);
        let client = client.clone();
        async move {
            let key = upload_key(dir, &path, prefix);
            // Hashed as a stream and sent from the file: a large file is never held
            // in memory.
            let hashed = path.clone();
            let (size, md5) = tokio::task::spawn_blocking(move || file_md5(&hashed))
                .await
                .map_err(|e| format!("--upload: {}: {e}", path.display()))?
                .map_err(|e| format!("--upload: {}: {e}", path.display()))?;
            if let Some((existing_size, etag)) = existing.get(&key) {
                if u64::try_from(*existing_size).ok() == Some(size) && *etag == md5 {
                    return Ok(false);
                }
            }
            let body = aws_sdk_s3::primitives::ByteStream::from_path(&path)
                .await
                .map_err(|e| format!("--upload: {}: {e}", path.display()))?;
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "--upload: cannot put s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
            Ok::<bool, String>(true)
        }
    }))
    .buffer_unordered(UPLOAD_CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut uploaded = 0;
    let mut skipped = 0;
    for result in results {
        if result? {
            uploaded += 1;
        } else {
            skipped += 1;
        }
    }
    if delete_stale {
        for key in &stale {
            client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "--upload: cannot delete the stale s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
        }
    }
    Ok(Uploaded {
        uploaded,
        skipped,
        keys,
        stale,
        stale_deleted: delete_stale,
        foreign,
    })
}

/// The keys each upload destination got from its directory last time, kept in the
/// data directory: what a later upload may delete when the directory lost them.
struct UploadRecord {
    path: PathBuf,
    destinations: BTreeMap<String, Vec<String>>,
}

impl UploadRecord {
    const FILE: &'static str = "uploads.json";

    /// A missing or unreadable record is empty: nothing is then deleted, only put.
    fn load(data_dir: &Path) -> UploadRecord {
        let path = data_dir.join(Self::FILE);
        let destinations = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        UploadRecord { path, destinations }
    }

    fn keys(&self, destination: &str) -> std::collections::BTreeSet<String> {
        self.destinations
            .get(destination)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn set(&mut self, destination: String, keys: Vec<String>) {
        self.destinations.insert(destination, keys);
    }

    fn save(&self) -> Result<(), String> {
        let temporary = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&self.destinations)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        std::fs::write(&temporary, body)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The key of `path` (a file under `dir`) under `prefix`, `/`-separated.
fn upload_key(dir: &Path, path: &Path, prefix: &str) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    format!(
        "{prefix}{}",
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// One run at a time per data directory: a second runner would take the first's
/// running SageMaker jobs for dead ones, and both would serve one S3 directory.
struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    fn acquire(data_dir: &Path) -> Result<DataDirLock, String> {
        use std::os::fd::AsRawFd;
        let path = data_dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; the lock ends with the file.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            Ok(DataDirLock { _file: file })
        } else {
            Err(format!(
                "another sfn-local run is using {} (give this one its own --data-dir)",
                data_dir.display()
            ))
        }
    }
}

/// The size and hex MD5 of a file (a single-part upload's ETag), read in blocks.
fn file_md5(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Step Functions execution names: 1-80 characters; we keep to letters, digits, `-`
/// and `_`, which every service the name flows into (job names, S3 keys) accepts.
fn check_execution_name(name: &str) -> Result<(), String> {
    let ok = (1..=80).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name {name:?}: an execution name here is 1-80 letters, digits, '-' or '_'"
        ))
    }
}

/// `local-20261127-130512`, from the current UTC time.
fn default_execution_name() -> String {
    let stamp: String = iso(SystemTime::now())
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let (date, time) = stamp.split_at(stamp.len().min(8));
    format!("local-{date}-{time}")
}

/// Progress lines for a run: each state entered and left with its duration, task
/// failures, retries (a state started again after a failure), states left through a
/// Catch, the end.
pub fn run_progress() -> Observer {
    let started = Instant::now();
    let tracker = Mutex::new(Tracker::new());
    Arc::new(move |event: &Value| {
        if let Some(line) = lock(&tracker).line(event) {
            eprintln!("[{:8.2}s] {line}", started.elapsed().as_secs_f64());
        }
    })
}

/// A Parallel or Map state while it runs: events inside its branches and
/// iterations chain back to its `...StateStarted` event.
struct Scope {
    name: String,
    parent: u64,
    open: bool,
}
struct Tracker {
    /// Event id → the state it belongs to, to name task events (which carry no
    /// state name) through their `previousEventId`.
    state_of: HashMap<u64, String>,
    /// Event id → the `...StateStarted` event of the Parallel or Map it is in
    /// (0: the top level).
    scope_of: HashMap<u64, u64>,
    scopes: HashMap<u64, Scope>,
    /// State name → when its running instances were entered (Map iterations and
    /// Parallel branches may run one state several times at once).
    entered: HashMap<String, VecDeque<Instant>>,
    failed_events: std::collections::HashSet<u64>,
}
impl Tracker {
    fn new() -> Tracker {
        Tracker {
            state_of: HashMap::new(),
            scope_of: HashMap::new(),
            scopes: HashMap::new(),
            entered: HashMap::new(),
            failed_events: Default::default(),
        }
    }

    /// The innermost Parallel or Map still running around `scope`.
    fn innermost_open(&self, mut scope: u64) -> u64 {
        while let Some(s) = self.scopes.get(&scope) {
            if s.open {
                return scope;
            }
            scope = s.parent;
        }
        0
    }

    /// The progress line an event makes, if any.
    fn line(&mut self, event: &Value) -> Option<String> {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = event.get("id").and_then(Value::as_u64).unwrap_or(0);
        let previous = event
            .get("previousEventId")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let text = |pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let scope = self.scope_of.get(&previous).copied().unwrap_or(0);
        let mut line = None;
        if matches!(kind, "ParallelStateStarted" | "MapStateStarted") {
            let name = self.state_of.get(&previous).cloned().unwrap_or_default();
            self.scopes.insert(
                id,
                Scope {
                    name,
                    parent: scope,
                    open: true,
                },
            );
            self.scope_of.insert(id, id);
        } else if matches!(
            kind,
            "ParallelStateSucceeded"
                | "ParallelStateFailed"
                | "MapStateSucceeded"
                | "MapStateFailed"
        ) {
            // It follows the last event of its last branch: the state that ends is the
            // innermost one still running around that event.
            let ended = self.innermost_open(scope);
            let (name, parent) = match self.scopes.get_mut(&ended) {
                Some(s) => {
                    s.open = false;
                    (s.name.clone(), s.parent)
                }
                None => (String::new(), 0),
            };
            self.state_of.insert(id, name);
            self.scope_of.insert(id, parent);
            if kind.ends_with("Failed") {
                // The failure inside was shown already; a retry of the state follows this.
                self.failed_events.insert(id);
            }
        } else {
            self.scope_of.insert(id, scope);
        }
        if kind.ends_with("StateEntered") {
            let name = text("/stateEnteredEventDetails/name");
            self.entered
                .entry(name.clone())
                .or_default()
                .push_back(Instant::now());
            self.state_of.insert(id, name.clone());
            line = Some(format!("→ {name}"));
        } else if kind.ends_with("StateExited") {
            let name = text("/stateExitedEventDetails/name");
            let took = self
                .entered
                .get_mut(&name)
                .and_then(VecDeque::pop_front)
                .map(|since| format!(" ({:.1}s)", since.elapsed().as_secs_f64()))
                .unwrap_or_default();
            // Left through a Catch: the event before the exit is the failure.
            let mark = if self.failed_events.contains(&previous) {
                "✗ caught:"
            } else {
                "✓"
            };
            line = Some(format!("{mark} {name}{took}"));
        } else {
            if !self.state_of.contains_key(&id) {
                if let Some(state) = self.state_of.get(&previous).cloned() {
                    self.state_of.insert(id, state);
                }
            }
            let state = self
                .state_of
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "?".to_string());
            let retried = self.failed_events.contains(&previous);
            match kind {
                "TaskScheduled" | "ParallelStateStarted" | "MapStateStarted" if retried => {
                    line = Some(format!("↻ {state}: retrying"));
                }
                "TaskFailed" | "TaskTimedOut" => {
                    self.failed_events.insert(id);
                    let details = event
                        .as_object()
                        .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null);
                    let error = details.get("error").and_then(Value::as_str).unwrap_or(kind);
                    let cause = details
                        .get("cause")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    line = Some(format!(
                        "✗ {state}: {error}: {}",
                        truncate(&readable_cause(cause), 300)
                    ));
                }
                "ExecutionFailed" | "ExecutionTimedOut" => {
                    let details = event
                        .as_object()
                        .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null);
                    line = Some(format!(
                        "✗ execution {}: {}: {}",
                        if kind == "ExecutionFailed" {
                            "failed"
                        } else {
                            "timed out"
                        },
                        details
                            .get("error")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        truncate(
                            details
                                .get("cause")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                            400
                        )
                    ));
                }
                "ExecutionSucceeded" => line = Some("✓ execution succeeded".to_string()),
                _ => {}
            }
        }
        line
    }
}

/// The part of a cause a person reads first: a job's `FailureReason`, a function's
/// `errorMessage`; else the cause as it is.
fn readable_cause(cause: &str) -> String {
    let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(cause) else {
        return cause.to_string();
    };
    let name = ["TrainingJobName", "TransformJobName", "JobName"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(Value::as_str));
    let reason = ["FailureReason", "errorMessage", "StatusReason"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(Value::as_str));
    let status = ["TrainingJobStatus", "TransformJobStatus", "Status"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(Value::as_str));
    match (name, status, reason) {
        (Some(name), Some(status), Some(reason)) => format!("{name} {status}: {reason}"),
        (Some(name), Some(status), None) => format!("{name} {status}"),
        (None, _, Some(reason)) => reason.to_string(),
        _ => cause.to_string(),
    }
}

/// At most `max` characters, `…` marking a cut.
fn truncate(text: &str, max: usize) -> String {
    let cut = crate::integrations::sagemaker::truncate_chars(text, max);
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

pub async fn run(args: &RunArgs) -> Result<Report, (i32, String)> {
    let project = Project::load(&args.config).map_err(invalid)?;
    let machine = StateMachine::parse(&project.definition).map_err(|problems| {
        invalid(format!(
            "{}: invalid definition:\n  {}",
            project.definition_path.display(),
            problems.join("\n  ")
        ))
    })?;
    // A bad mock config is a usage error found before anything starts.
    args.mocks
        .wrap(
            Arc::new(Router::default()),
            &[&project.state_machine_name, &project.state_machine_id],
        )
        .map_err(invalid)?;
    if let Some(message) = project.missing_binaries() {
        return Err(invalid(message));
    }
    let input = match &args.input {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("input {}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| invalid(format!("input {}: not JSON: {e}", path.display())))?
        }
        None => json!({}),
    };
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        return Err(invalid(format!(
            "--time-scale {}: must be a number ≥ 0",
            args.time_scale
        )));
    }
    let name = args.name.clone().unwrap_or_else(default_execution_name);
    check_execution_name(&name).map_err(invalid)?;
    let prices = match &args.prices {
        Some(path) => PriceTable::from_file(path).map_err(|e| invalid(e.to_string()))?,
        None => PriceTable::builtin()
            .map_err(|e| invalid(e.to_string()))?
            .clone(),
    };
    let mut command_line_uploads = Vec::new();
    for spec in &args.uploads {
        command_line_uploads.push(parse_upload(spec).map_err(invalid)?);
    }
    let mut uploads = Vec::new();
    for (index, upload) in project.config.uploads.iter().enumerate() {
        // `--upload` to the same place replaces the config's upload (the command line
        // wins, and the config's directory need not exist then).
        let replaced = upload_destination(&upload.to).is_ok_and(|destination| {
            command_line_uploads
                .iter()
                .any(|(_, bucket, prefix)| (bucket, prefix) == (&destination.0, &destination.1))
        });
        if replaced {
            continue;
        }
        uploads.push(
            upload_target(project.root.join(&upload.from), &upload.to).map_err(|e| {
                invalid(format!(
                    "{}: uploads[{index}]: {e}",
                    project.config_path.display()
                ))
            })?,
        );
    }
    uploads.extend(command_line_uploads);

    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| project.root.join(".sfn-local"));
    // Absolute, so the paths the summary shows work from any directory.
    let data_dir = std::path::absolute(&data_dir)
        .map_err(|e| invalid(format!("{}: {e}", data_dir.display())))?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| invalid(format!("{}: {e}", data_dir.display())))?;
    let _lock = DataDirLock::acquire(&data_dir).map_err(invalid)?;
    let execution_dir = data_dir.join("executions").join(&name);
    if execution_dir.exists() {
        // Step Functions refuses a second execution of one name (ExecutionAlreadyExists).
        return Err(invalid(format!(
            "an execution named {name} already ran here ({}): choose another --name",
            execution_dir.display()
        )));
    }
    let region = project.settings.region.clone();
    let account = project.settings.account.clone();

    let s3 = s3_target(args, &data_dir, &region)?;
    create_buckets(&s3.client, &project.buckets)
        .await
        .map_err(invalid)?;
    let mut uploaded_keys = UploadRecord::load(&data_dir);
    for (dir, bucket, prefix) in &uploads {
        // Only the embedded S3 is this runner's own to prune; another endpoint's
        // objects are reported, never deleted.
        let delete_stale = s3.local_root.is_some();
        let destination = format!("s3://{bucket}/{prefix}");
        let done = upload(
            &s3.client,
            dir,
            bucket,
            prefix,
            &uploaded_keys.keys(&destination),
            delete_stale,
        )
        .await
        .map_err(invalid)?;
        uploaded_keys.set(destination, done.keys.clone());
        uploaded_keys.save().map_err(invalid)?;
        if !args.quiet {
            let stale = match (done.stale.len(), done.stale_deleted) {
                (0, _) => String::new(),
                (n, true) => format!(", {n} no longer in the directory deleted"),
                (n, false) => format!(
                    ", {n} not in the directory left in place (first: s3://{bucket}/{})",
                    done.stale[0]
                ),
            };
            eprintln!(
                "uploaded {} to s3://{bucket}/{prefix}: {} files, {} already there{stale}",
                dir.display(),
                done.uploaded,
                done.skipped
            );
            if let Some(first) = done.foreign.first() {
                eprintln!(
                    "note: {} other objects under s3://{bucket}/{prefix} did not come from {} \
                     (first: {first}); they are left alone, and jobs reading the prefix read them too",
                    done.foreign.len(),
                    dir.display()
                );
            }
        }
    }

    let sagemaker = LocalSageMaker::new(SageMakerConfig {
        work_dir: data_dir.join("sagemaker"),
        images: project.images.clone(),
        s3: s3.client.clone(),
        s3_env: s3.env.clone(),
        region: region.clone(),
        account: account.clone(),
    });
    let sagemaker_api = sagemaker
        .serve_api()
        .map_err(|e| invalid(format!("cannot serve the local SageMaker API: {e}")))?;
    let outbox = Arc::new(
        Outbox::new(data_dir.join("outbox.jsonl"))
            .with_echo(!args.quiet)
            .with_topics(project.topics.clone()),
    );
    // Functions that publish themselves (format-failure, when an EventBridge rule
    // invokes it) reach the same outbox through a local SNS API.
    let sns_api = outbox
        .serve_api()
        .map_err(|e| invalid(format!("cannot serve the local SNS API: {e}")))?;
    // The template's EventBridge rules, checked before the run as PutRule would.
    let (rules, rule_notes) = eventbridge::project_rules(&project).map_err(invalid)?;
    if !args.quiet {
        for note in &rule_notes {
            eprintln!("EventBridge: {note}");
        }
    }
    let batch = match &project.config.batch_job_definitions {
        Some(value) => Some(Arc::new(
            JobDefinitions::from_json(value, &project.root)
                .map_err(|e| {
                    invalid(format!(
                        "{}: batch_job_definitions: {e}",
                        project.config_path.display()
                    ))
                })?
                .with_log_dir(data_dir.join("batch"))
                .with_identity(&region, &account),
        )),
        None => None,
    };
    let mut endpoints = s3.env.clone();
    endpoints.push((
        "AWS_ENDPOINT_URL_SAGEMAKER".to_string(),
        sagemaker_api.endpoint(),
    ));
    endpoints.push(("AWS_ENDPOINT_URL_SNS".to_string(), sns_api.endpoint()));
    let functions = project
        .functions
        .iter()
        .map(|function| {
            let mut spec = function.spec.clone();
            spec.env.extend(endpoints.iter().cloned());
            spec
        })
        .collect();
    // Made only now: a run refused during set-up leaves its name free.
    std::fs::create_dir_all(&execution_dir)
        .map_err(|e| invalid(format!("{}: {e}", execution_dir.display())))?;
    let lambda = Arc::new(LambdaPool::with_options(
        functions,
        PoolOptions {
            region: region.clone(),
            account: account.clone(),
            log_file: Some(execution_dir.join("lambda.log")),
            ..PoolOptions::default()
        },
    ));
    let router = Router {
        lambda: Some(Arc::clone(&lambda)),
        sagemaker: Some(sagemaker.clone()),
        sns: Some(Arc::clone(&outbox)),
        batch: batch.clone(),
    };
    // Mocks answer for the states their test case names (the config may call the
    // state machine by its local name or by its logical ID).
    let runner = args
        .mocks
        .wrap(
            Arc::new(router),
            &[&project.state_machine_name, &project.state_machine_id],
        )
        .map_err(invalid)?;
    let engine = Engine {
        runner,
        clock: Clock {
            scale: args.time_scale,
        },
        observer: (!args.quiet).then(run_progress),
    };
    let spec = ExecutionSpec {
        name: name.clone(),
        state_machine_name: project.state_machine_name.clone(),
        input,
        region: region.clone(),
        account: account.clone(),
        role_arn: format!(
            "arn:aws:iam::{account}:role/{}-StateMachineRole",
            project.settings.stack_name
        ),
    };
    if !args.quiet {
        eprintln!(
            "running {} ({}) as execution {name}; S3 at {}; state in {}",
            project.state_machine_name,
            project.definition_path.display(),
            s3.endpoint,
            data_dir.display()
        );
    }
    let outbox_before = outbox.messages().map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    let outcome = engine.execute(&machine, &spec).await;
    let wall = started.elapsed();

    // On AWS the execution's end is an event on the default bus, and every rule whose
    // pattern matches invokes its function (format-failure tells of the failures no
    // Catch saw). Here too: once per matching rule, after the execution.
    let status_event = eventbridge::outcome_event(&spec, &outcome);
    for rule in &rules {
        let payload = match rule
            .matches(&status_event)
            .and_then(|hit| hit.then(|| rule.target_input(&status_event)).transpose())
        {
            Ok(Some(payload)) => payload,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("EventBridge rule {}: {e}", rule.name);
                continue;
            }
        };
        if !args.quiet {
            eprintln!(
                "EventBridge rule {} matched the {} status change: invoking {}",
                rule.name,
                status_event["detail"]["status"]
                    .as_str()
                    .unwrap_or_default(),
                rule.function_name
            );
        }
        match lambda.invoke(&rule.function_name, payload).await {
            Ok(result) if !args.quiet => eprintln!(
                "  {} returned {}",
                rule.function_name,
                truncate(&result.to_string(), 400)
            ),
            Ok(_) => {}
            Err(e) => eprintln!(
                "  {} failed: {}: {}",
                rule.function_name,
                e.error,
                truncate(&e.cause, 400)
            ),
        }
    }

    let history_text = serde_json::to_string_pretty(&outcome.history).unwrap_or_default() + "\n";
    std::fs::write(execution_dir.join("history.json"), &history_text)
        .map_err(|e| invalid(format!("{}: {e}", execution_dir.display())))?;
    if let Some(path) = &args.history {
        std::fs::write(path, &history_text)
            .map_err(|e| invalid(format!("--history {}: {e}", path.display())))?;
    }

    let jobs = sagemaker.jobs_of_this_run();
    let usage = Usage {
        transitions: outcome.transitions,
        lambda: lambda
            .invocations()
            .into_iter()
            .map(|i| LambdaUsage {
                function: i.function,
                memory_mb: i.memory_mb,
                billed_ms: i.billed_ms,
            })
            .collect(),
        sagemaker: jobs
            .iter()
            .map(|job| JobUsage {
                name: job.name.clone(),
                kind: match job.kind {
                    JobKind::Training => cost::JobKind::Training,
                    JobKind::Transform => cost::JobKind::Transform,
                },
                instance_type: job.instance_type.clone(),
                instance_count: job.instance_count,
                billable_seconds: job.billable_seconds,
            })
            .collect(),
    };
    let estimate = cost::estimate(&prices, &usage);
    let notifications = outbox
        .messages()
        .map(|m| m.len().saturating_sub(outbox_before))
        .unwrap_or(0);
    let summary = Summary {
        name: &name,
        outcome: &outcome,
        wall_seconds: wall.as_secs_f64(),
        project: &project,
        sagemaker: &sagemaker,
        jobs: &jobs,
        s3_endpoint: &s3.endpoint,
        s3_root: s3.local_root.as_deref(),
        execution_dir: &execution_dir,
        outbox: outbox.path(),
        notifications,
        estimate: &estimate,
    };
    let text = summary.render();
    std::fs::write(execution_dir.join("summary.txt"), &text)
        .map_err(|e| invalid(format!("{}: {e}", execution_dir.display())))?;
    let stdout = if args.json {
        eprint!("{text}");
        result_json(&outcome).to_string()
    } else {
        text.trim_end().to_string()
    };
    Ok(Report {
        code: exit_code(&outcome),
        stdout,
    })
}

struct Summary<'a> {
    name: &'a str,
    outcome: &'a Outcome,
    wall_seconds: f64,
    project: &'a Project,
    sagemaker: &'a LocalSageMaker,
    jobs: &'a [crate::integrations::sagemaker::JobRecord],
    s3_endpoint: &'a str,
    s3_root: Option<&'a Path>,
    execution_dir: &'a Path,
    outbox: &'a Path,
    notifications: usize,
    estimate: &'a cost::Estimate,
}

impl Summary<'_> {
    fn render(&self) -> String {
        let mut out = String::new();
        let status = match &self.outcome.status {
            Status::Succeeded { .. } => "SUCCEEDED".to_string(),
            Status::Failed { error, cause } => format!(
                "FAILED\n  error: {error}\n  cause: {}",
                truncate(cause, 2000)
            ),
            Status::TimedOut { error, cause } => {
                format!(
                    "TIMED_OUT\n  error: {error}\n  cause: {}",
                    truncate(cause, 2000)
                )
            }
        };
        let _ = writeln!(
            out,
            "\n== execution {} of {}",
            self.name, self.project.state_machine_name
        );
        let _ = writeln!(out, "status: {status}");
        let _ = writeln!(
            out,
            "time: {:.1} s; state transitions: {}; history events: {}",
            self.wall_seconds,
            self.outcome.transitions,
            self.outcome.history.len()
        );

        if let Status::Succeeded { output } = &self.outcome.status {
            if let Some(report) = output.get("report") {
                render_report(&mut out, report);
            }
        }

        let training: Vec<_> = self
            .jobs
            .iter()
            .filter(|j| j.kind == JobKind::Training)
            .collect();
        if !training.is_empty() {
            let _ = writeln!(
                out,
                "\ntraining jobs (metrics as SageMaker would report them):"
            );
            for job in &training {
                let description = self.sagemaker.describe_training_job(&job.name);
                let metrics = metric_list(description.as_ref());
                let _ = writeln!(
                    out,
                    "  {} [{}{}] {} × {}, {} s",
                    job.name,
                    job.status,
                    job.failure_reason
                        .as_deref()
                        .map(|r| format!(": {}", truncate(r, 200)))
                        .unwrap_or_default(),
                    job.instance_count,
                    job.instance_type,
                    job.billable_seconds
                );
                if !metrics.is_empty() {
                    let _ = writeln!(out, "      {}", metrics.join("  "));
                }
                if let Some(model) = description
                    .as_ref()
                    .and_then(|d| d.pointer("/ModelArtifacts/S3ModelArtifacts"))
                    .and_then(Value::as_str)
                {
                    let _ = writeln!(out, "      model: {model}");
                }
                let _ = writeln!(out, "      job directory: {}", job.dir.display());
            }
        }
        let transforms: Vec<_> = self
            .jobs
            .iter()
            .filter(|j| j.kind == JobKind::Transform)
            .collect();
        if !transforms.is_empty() {
            let _ = writeln!(out, "\nbatch transform jobs:");
            for job in &transforms {
                let output = self
                    .sagemaker
                    .describe_transform_job(&job.name)
                    .and_then(|d| {
                        d.pointer("/TransformOutput/S3OutputPath")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {} [{}] {} × {}, {} s → {output}",
                    job.name,
                    job.status,
                    job.instance_count,
                    job.instance_type,
                    job.billable_seconds
                );
            }
        }

        let _ = writeln!(out, "\nartifacts:");
        for (logical_id, bucket) in &self.project.template_buckets {
            let _ = writeln!(
                out,
                "  {logical_id}: s3://{bucket}/ at {}",
                self.s3_endpoint
            );
        }
        if let Some(root) = self.s3_root {
            let _ = writeln!(out, "  the embedded S3's data: {}", root.display());
        }
        let _ = writeln!(
            out,
            "  history, Lambda log, this summary: {}",
            self.execution_dir.display()
        );
        let _ = writeln!(
            out,
            "  notifications: {} this run, in {}",
            self.notifications,
            self.outbox.display()
        );

        let _ = writeln!(out, "\nwhat this execution would cost on AWS:");
        for line in self.estimate.render().lines() {
            let _ = writeln!(out, "  {line}");
        }
        if !self.estimate.unpriced.is_empty() {
            let _ = writeln!(
                out,
                "  to price {}: copy local/prices/aws-us-east-1.json, add them (from \
                 `aws pricing get-products --service-code AmazonSageMaker`, usage types \
                 USE1-Train:<type> and USE1-Tsform:<type>) and pass --prices FILE",
                self.estimate.unpriced.join(", ")
            );
        }
        out
    }
}

/// The ensemble report of the execution's output (`report.models.<model>.metrics`,
/// `report.ensemble_gain`), when the state machine produced one.
fn render_report(out: &mut String, report: &Value) {
    let Some(models) = report.get("models").and_then(Value::as_object) else {
        return;
    };
    let _ = writeln!(out, "\nmodels (the execution's report):");
    for (model, entry) in models {
        let source = match entry.get("reused_from").and_then(Value::as_str) {
            Some(execution) => format!("reused from {execution}"),
            None => "trained in this execution".to_string(),
        };
        let metrics = entry
            .get("metrics")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_f64().map(|v| format!("{k}={v:.4}")))
                    .collect::<Vec<_>>()
                    .join("  ")
            })
            .unwrap_or_default();
        let _ = writeln!(out, "  {model:<10} {metrics}  ({source})");
    }
    if let Some(gain) = report
        .pointer("/ensemble_gain/metrics")
        .and_then(Value::as_object)
    {
        let best = report.pointer("/ensemble_gain/best_base_model");
        let gains = gain
            .iter()
            .filter_map(|(k, v)| {
                let base = best
                    .and_then(|b| b.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                v.as_f64().map(|v| format!("{k} {v:+.4} (vs {base})"))
            })
            .collect::<Vec<_>>()
            .join("  ");
        let _ = writeln!(out, "  ensemble gain: {gains}");
    }
}

/// `name=value` for each final metric of a DescribeTrainingJob response.
fn metric_list(description: Option<&Value>) -> Vec<String> {
    let mut metrics: BTreeMap<String, String> = BTreeMap::new();
    if let Some(list) = description
        .and_then(|d| d.get("FinalMetricDataList"))
        .and_then(Value::as_array)
    {
        for metric in list {
            if let (Some(name), Some(value)) = (
                metric.get("MetricName").and_then(Value::as_str),
                metric.get("Value").and_then(Value::as_f64),
            ) {
                metrics.insert(name.to_string(), format!("{value:.4}"));
            }
        }
    }
    metrics
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("{}=s3://data/docs", dir.path().display());
        let (path, bucket, prefix) = parse_upload(&spec).unwrap();
        assert_eq!(
            (path.as_path(), bucket.as_str(), prefix.as_str()),
            (dir.path(), "data", "docs/")
        );
        let spec = format!("{}=s3://data", dir.path().display());
        assert_eq!(parse_upload(&spec).unwrap().2, "");
        assert!(parse_upload("x").unwrap_err().contains("DIR=s3://"));
        assert!(parse_upload("/nonexistent-dir=s3://b/")
            .unwrap_err()
            .contains("not a directory"));
        let spec = format!("{}=http://b/", dir.path().display());
        assert!(parse_upload(&spec)
            .unwrap_err()
            .contains("not an s3:// URI"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_mirrors_its_directory_and_touches_nothing_else() {
        let store = tempfile::tempdir().unwrap();
        let server = local_s3::LocalS3::start_in(store.path()).unwrap();
        let client = server.client();
        client.create_bucket().bucket("raw").send().await.unwrap();
        // Put there by someone else: no upload may delete it.
        client
            .put_object()
            .bucket("raw")
            .key("v1/notes.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"keep"))
            .send()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("text/train")).unwrap();
        std::fs::write(dir.path().join("text/train/part-00000.jsonl"), "a\n").unwrap();
        std::fs::write(dir.path().join("text/train/part-00001.jsonl"), "b\n").unwrap();
        let nothing = std::collections::BTreeSet::new();
        let first = upload(&client, dir.path(), "raw", "v1/", &nothing, true)
            .await
            .unwrap();
        assert_eq!(
            (first.uploaded, first.skipped, first.stale.len()),
            (2, 0, 0)
        );
        assert_eq!(first.foreign, ["v1/notes.txt"]);
        let earlier: std::collections::BTreeSet<String> = first.keys.into_iter().collect();

        // A smaller regeneration: one part fewer, one changed.
        std::fs::remove_file(dir.path().join("text/train/part-00001.jsonl")).unwrap();
        std::fs::write(dir.path().join("text/train/part-00000.jsonl"), "c\n").unwrap();
        let kept = upload(&client, dir.path(), "raw", "v1/", &earlier, false)
            .await
            .unwrap();
        assert_eq!(kept.stale, ["v1/text/train/part-00001.jsonl"]);
        assert!(!kept.stale_deleted);
        assert_eq!((kept.uploaded, kept.skipped), (1, 0));
        let listed = |client: aws_sdk_s3::Client| async move {
            let page = client.list_objects_v2().bucket("raw").send().await.unwrap();
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(listed(client.clone()).await.len(), 3, "left in place");
        let mirrored = upload(&client, dir.path(), "raw", "v1/", &earlier, true)
            .await
            .unwrap();
        assert_eq!((mirrored.uploaded, mirrored.skipped), (0, 1));
        assert!(mirrored.stale_deleted);
        assert_eq!(
            listed(client).await,
            ["v1/notes.txt", "v1/text/train/part-00000.jsonl"]
        );
    }

    #[test]
    fn the_upload_record_survives_a_run_and_a_damaged_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = UploadRecord::load(dir.path());
        assert!(record.keys("s3://raw/v1/").is_empty());
        record.set("s3://raw/v1/".into(), vec!["v1/a".into(), "v1/b".into()]);
        record.save().unwrap();
        let again = UploadRecord::load(dir.path());
        assert_eq!(again.keys("s3://raw/v1/").len(), 2);
        std::fs::write(dir.path().join(UploadRecord::FILE), "not json").unwrap();
        assert!(UploadRecord::load(dir.path())
            .keys("s3://raw/v1/")
            .is_empty());
    }

    #[test]
    fn one_run_at_a_time_per_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let second = DataDirLock::acquire(dir.path()).err().unwrap();
        assert!(
            second.contains("another sfn-local run is using"),
            "{second}"
        );
        drop(first);
        assert!(DataDirLock::acquire(dir.path()).is_ok());
    }

    /// The progress of a real execution: a Parallel whose branch task fails once (a
    /// retry of the task), then fails again so the whole Parallel is retried, then is
    /// caught; names come from the events' chains, not from what ran last.
    #[tokio::test]
    async fn progress_names_states_through_the_event_chains() {
        use crate::engine::{BoxFuture, TaskRequest, TaskRunner};
        struct Flaky(std::sync::atomic::AtomicU64);
        impl TaskRunner for Flaky {
            fn run(
                &self,
                request: TaskRequest,
            ) -> BoxFuture<'_, Result<Value, crate::asl::AslError>> {
                Box::pin(async move {
                    if request.resource == "slow" {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        return Ok(json!({}));
                    }
                    self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    // Long enough for the other branch to start.
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    Err(crate::asl::AslError::new("Boom", "it failed"))
                })
            }
        }
        let definition = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "Done",
                "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "Branches": [
                    {"StartAt": "Fails", "States": {"Fails": {"Type": "Task", "Resource": "boom",
                        "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                        "End": true}}},
                    {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "slow", "End": true}}}
                ]},
            "Done": {"Type": "Succeed"}}});
        let machine = StateMachine::parse(&definition).unwrap();
        let engine = Engine {
            runner: Arc::new(Flaky(Default::default())),
            clock: Clock { scale: 0.0 },
            observer: None,
        };
        let spec = ExecutionSpec {
            name: "e".into(),
            state_machine_name: "m".into(),
            input: json!({}),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
        };
        let outcome = engine.execute(&machine, &spec).await;
        let mut tracker = Tracker::new();
        let lines: Vec<String> = outcome
            .history
            .iter()
            .filter_map(|e| tracker.line(e))
            .collect();
        let without_times: Vec<String> = lines
            .iter()
            .map(|l| match l.find(" (") {
                Some(cut) if l.ends_with("s)") => l[..cut].to_string(),
                _ => l.clone(),
            })
            .collect();
        let expected = [
            "→ P",
            "→ Fails",
            "→ Slow",
            "✗ Fails: Boom: it failed",
            "↻ Fails: retrying",
            "✗ Fails: Boom: it failed",
            "↻ P: retrying",
            "→ Fails",
            "→ Slow",
            "✗ Fails: Boom: it failed",
            "↻ Fails: retrying",
            "✗ Fails: Boom: it failed",
            "✗ caught: P",
            "→ Done",
            "✓ Done",
            "✓ execution succeeded",
        ];
        let mut expected_sorted: Vec<&str> = expected.to_vec();
        let mut got_sorted: Vec<&str> = without_times.iter().map(String::as_str).collect();
        expected_sorted.sort_unstable();
        got_sorted.sort_unstable();
        // Branch events interleave in any order; every line must be there, named right.
        assert_eq!(got_sorted, expected_sorted, "{lines:#?}");
        assert_eq!(without_times.first().map(String::as_str), Some("→ P"));
        assert_eq!(
            without_times.last().map(String::as_str),
            Some("✓ execution succeeded")
        );
    }

    #[test]
    fn file_md5_is_the_single_part_etag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        let (size, md5) = file_md5(&path).unwrap();
        assert_eq!(size, 3 << 20);
        assert_eq!(md5, hex::encode(Md5::digest(vec![7u8; 3 << 20])));
    }

    #[test]
    fn execution_names() {
        assert!(check_execution_name("local-20261127-130512").is_ok());
        assert!(check_execution_name("").is_err());
        assert!(check_execution_name("a b").is_err());
        assert!(check_execution_name(&"a".repeat(81)).is_err());
        let name = default_execution_name();
        assert!(
            name.starts_with("local-2") && name.len() == "local-20261127-130512".len(),
            "{name}"
        );
        assert!(check_execution_name(&name).is_ok());
    }

    #[test]
    fn causes_are_made_readable() {
        let job = json!({"TrainingJobName": "t-a0", "TrainingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: boom"});
        assert_eq!(
            readable_cause(&job.to_string()),
            "t-a0 Failed: AlgorithmError: boom"
        );
        let stopped = json!({"TransformJobName": "x", "TransformJobStatus": "Stopped"});
        assert_eq!(readable_cause(&stopped.to_string()), "x Stopped");
        let lambda = json!({"errorType": "InvalidInput", "errorMessage": "input_data: missing"});
        assert_eq!(readable_cause(&lambda.to_string()), "input_data: missing");
        assert_eq!(readable_cause("plain words"), "plain words");
    }

    #[test]
    fn the_report_is_rendered_per_model() {
        let mut out = String::new();
        render_report(
            &mut out,
            &json!({"models": {
                "text": {"metrics": {"validation:accuracy": 0.8}, "reused_from": "first"},
                "sequence": {"metrics": {"validation:accuracy": 0.9}, "reused_from": null}},
              "ensemble_gain": {"metrics": {"validation:accuracy": 0.1},
                                "best_base_model": {"validation:accuracy": "text"}}}),
        );
        assert!(
            out.contains("text       validation:accuracy=0.8000  (reused from first)"),
            "{out}"
        );
        assert!(
            out.contains("sequence   validation:accuracy=0.9000  (trained in this execution)"),
            "{out}"
        );
        assert!(
            out.contains("ensemble gain: validation:accuracy +0.1000 (vs text)"),
            "{out}"
        );
        let mut none = String::new();
        render_report(&mut none, &json!({"unrelated": 1}));
        assert!(none.is_empty());
    }

    #[test]
    fn metrics_are_listed_by_name() {
        let description = json!({"FinalMetricDataList": [
            {"MetricName": "validation:macro_f1", "Value": 0.5, "Timestamp": 1},
            {"MetricName": "validation:accuracy", "Value": 0.875, "Timestamp": 1}
        ]});
        assert_eq!(
            metric_list(Some(&description)),
            ["validation:accuracy=0.8750", "validation:macro_f1=0.5000"]
        );
        assert!(metric_list(None).is_empty());
    }
}
