//! Lambda functions as local processes behind a local Lambda Runtime API, so the
//! project's real function binaries run exactly as on AWS and their `errorType` reaches
//! Retry and Catch unchanged.
//!
//! Each execution environment is one process with its own Runtime API on 127.0.0.1
//! (docs: runtimes-api: `GET /2018-06-01/runtime/invocation/next`,
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`,
//! `POST .../init/error`). An environment starts on first use and stays warm; one
//! handles one invocation at a time, and concurrent invocations of one function start
//! more environments, up to [`PoolOptions::max_processes`] (then they queue, where AWS
//! would scale further or throttle).
//!
//! What Step Functions sees, and where it comes from:
//! - a function error: Error = the payload's `errorType`, Cause = the payload as the
//!   function posted it (LocalStack's AWS-recorded snapshots of `lambda:invoke` with a
//!   raising function: `cause` is `{"errorMessage", "errorType", "requestId",
//!   "stackTrace"}` exactly as the Python runtime posted it);
//! - an error payload without `errorType`: `Lambda.Unknown`, Cause "The cause could not
//!   be determined because Lambda did not return an error type. Returned payload: ..."
//!   (as AWS reported it, quoted in cdklabs/construct-hub PR 713);
//! - the function's timeout: Lambda answers `{"errorType":"Sandbox.Timedout",
//!   "errorMessage":"RequestId: <id> Error: Task timed out after 1.00 seconds"}` (Lambda
//!   responses recorded on AWS in LocalStack's test snapshots, 2025-11), so Step
//!   Functions reports `Sandbox.Timedout` (users report that error name in execution
//!   histories). The docs' older note (bp-lambda-serviceexception) calls unhandled
//!   timeouts `Lambda.Unknown`: that is what an error payload without `errorType`
//!   gives, as Lambda's timeout payload had none before;
//! - the process exiting during an invocation: `Runtime.ExitError`, "RequestId: <id>
//!   Error: Runtime exited with error: exit status 3" ("... without providing a reason"
//!   for exit status 0, "signal: killed" for a signal) (same recordings);
//! - an init error (`/runtime/init/error`): its body is the invocation's error payload;
//! - a binary that cannot be started: `Runtime.InvalidEntrypoint` (Lambda's error for a
//!   missing bootstrap);
//! - a response over 6,291,556 bytes: `Function.ResponseSizeTooLarge` (same recordings);
//! - an unknown function: `Lambda.ResourceNotFoundException`, "Function not found:
//!   arn:aws:lambda:...:function:<name>:$LATEST (Service: AWSLambda; Status Code: 404;
//!   Error Code: ResourceNotFoundException; ...)" (LocalStack's AWS snapshot), followed
//!   here by the list of known functions.
//!
//! After a timeout, an exit or an init error the environment is discarded and the next
//! invocation starts a new process (Lambda resets the execution environment).
//!
//! Every process gets a clean environment: Lambda's variables (`AWS_LAMBDA_RUNTIME_API`,
//! `AWS_LAMBDA_FUNCTION_NAME`/`_VERSION`/`_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME`/
//! `_LOG_STREAM_NAME`, `AWS_LAMBDA_INITIALIZATION_TYPE`, `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, `_HANDLER`, `LAMBDA_TASK_ROOT`, `TZ`, `LANG`), `PATH`, this
//! process's `RUST_LOG` if set, then the function's own `env`. Its stdout and stderr are
//! forwarded line by line to `tracing` (target `lambda`, field `function`: tracing
//! targets are static, so the function is a field) and appended to the optional log file
//! with CloudWatch-like START/END/REPORT lines.

use crate::util::json_type as kind;
use crate::util::lock;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use super::sns::http_date;
use crate::asl::AslError;
use crate::engine::iso;

/// Lambda's synchronous response limit (AWS-recorded `Function.ResponseSizeTooLarge`).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;
/// Concurrent environments per function unless [`PoolOptions`] says otherwise.
pub const DEFAULT_MAX_PROCESSES: usize = 4;
/// How much of an invocation's log `LogType: Tail` returns (Invoke API: "the last 4 KB").
const TAIL_BYTES: usize = 4096;
/// Lambda's pattern for `FunctionName`, quoted in its validation errors.
const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
/// The fields Step Functions passes on to Invoke (docs: connect-lambda; `LogType` is
/// outside the docs' list but accepted, as LocalStack's AWS-recorded tests show).
const SUPPORTED: [&str; 6] = [
    "ClientContext",
    "FunctionName",
    "InvocationType",
    "LogType",
    "Payload",
    "Qualifier",
];

/// One function: the binary that is its bootstrap, and its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
}

/// Settings of a pool beyond its functions.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    pub region: String,
    pub account: String,
    /// Every process's output, with START/END/REPORT lines, appended here.
    pub log_file: Option<PathBuf>,
    /// Concurrent environments (processes) per function.
    pub max_processes: usize,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            log_file: None,
            max_processes: DEFAULT_MAX_PROCESSES,
        }
    }
}

/// One invocation, for the cost estimate and the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub function: String,
    pub request_id: String,
    pub started: SystemTime,
    pub duration: Duration,
    /// Lambda bills the duration rounded up to the millisecond.
    pub billed_ms: u64,
    pub memory_mb: u32,
    /// A new environment was started for this invocation; `init` is its start-up time.
    pub cold_start: bool,
    pub init: Option<Duration>,
    /// The error name Step Functions saw; None on success.
    pub error: Option<String>,
}

/// One local Runtime API per environment (127.0.0.1, a free port), its process started
/// on first use and kept warm; a process that exits is replaced on the next invoke.
/// Dropping the pool kills every process.
pub struct LambdaPool {
    shared: Arc<Shared>,
    runtime: Result<tokio::runtime::Handle, String>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    functions: Vec<Arc<Function>>,
    options: PoolOptions,
    log: Option<Mutex<std::fs::File>>,
    records: Mutex<Vec<InvocationRecord>>,
}

struct Function {
    spec: FunctionSpec,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Environment>>,
    started: AtomicU64,
}

impl LambdaPool {
    pub fn new(functions: Vec<FunctionSpec>) -> LambdaPool {
        LambdaPool::with_options(functions, PoolOptions::default())
    }

    pub fn with_options(functions: Vec<FunctionSpec>, options: PoolOptions) -> LambdaPool {
        let max = options.max_processes.max(1);
        let log = options.log_file.as_ref().and_then(|path| match open_append(path) {
            Ok(file) => Some(Mutex::new(file)),
            Err(e) => {
                tracing::warn!(target: "lambda", path = %path.display(), "cannot open the Lambda log file: {e}");
                None
            }
        });
        let shared = Arc::new(Shared {
            functions: functions
                .into_iter()
                .map(|spec| {
                    Arc::new(Function {
                        spec,
                        permits: Arc::new(Semaphore::new(max)),
                        idle: Mutex::new(Vec::new()),
                        started: AtomicU64::new(0),
                    })
                })
                .collect(),
            options,
            log,
            records: Mutex::new(Vec::new()),
        });
        // The processes and their Runtime APIs live on a runtime of their own, so the
        // pool works from any caller (any runtime, any thread) and its drop ends them.
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sfn-local-lambda".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx
                            .send(Err(format!("cannot start the Lambda pool's runtime: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async move {
                    let _ = shutdown_rx.await;
                });
                // Dropping the runtime drops every task, so every Child: kill_on_drop.
            });
        let (runtime, thread) = match thread {
            Ok(thread) => match ready_rx.recv() {
                Ok(Ok(handle)) => (Ok(handle), Some(thread)),
                Ok(Err(e)) => (Err(e), Some(thread)),
                Err(_) => (
                    Err("the Lambda pool's thread died during start-up".to_string()),
                    Some(thread),
                ),
            },
            Err(e) => (
                Err(format!("cannot start the Lambda pool's thread: {e}")),
                None,
            ),
        };
        LambdaPool {
            shared,
            runtime,
            shutdown: Some(shutdown_tx),
            thread,
        }
    }

    /// The functions' names, in the order given.
    pub fn functions(&self) -> Vec<String> {
        self.shared
            .functions
            .iter()
            .map(|f| f.spec.name.clone())
            .collect()
    }

    /// Invokes by name, ARN, partial ARN or name:qualifier (docs: Lambda Invoke,
    /// FunctionName) and returns the function's result: what a Task state whose
    /// Resource is the function's ARN gets.
    pub async fn invoke(&self, function: &str, payload: Value) -> Result<Value, AslError> {
        let request = self.resolve(function, None, &Uuid::new())?;
        let outcome = self
            .run(request, Bytes::from(payload.to_string()), None)
            .await?;
        Ok(parse_payload(&outcome.payload))
    }

    /// `arn:aws:states:::lambda:invoke`: Parameters {FunctionName, Payload?, Qualifier?,
    /// InvocationType?, LogType?, ClientContext?}; the result is the Invoke response as
    /// the optimized integration gives it: `ExecutedVersion`, `Payload` (parsed),
    /// `SdkHttpMetadata`, `SdkResponseMetadata`, `StatusCode` (and `LogResult` for
    /// `LogType: Tail`). `InvocationType: Event` answers 202 at once, `DryRun` 204.
    pub async fn invoke_optimized(&self, parameters: Value) -> Result<Value, AslError> {
        let request_id = Uuid::new();
        let p = parameters.as_object().ok_or_else(|| {
            AslError::runtime(format!(
                "lambda:invoke: the Parameters must be a JSON object, got {}",
                kind(&parameters)
            ))
        })?;
        if let Some(field) = p.keys().find(|k| !SUPPORTED.contains(&k.as_str())) {
            // Step Functions refuses such a definition (SCHEMA_VALIDATION_FAILED).
            return Err(AslError::runtime(format!(
                "lambda:invoke: the field \"{field}\" is not supported by Step Functions (supported: {})",
                SUPPORTED.join(", ")
            )));
        }
        let name = match p.get("FunctionName") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(AslError::runtime(format!(
                    "lambda:invoke: FunctionName must be a string, got {}",
                    kind(other)
                )))
            }
            None => {
                return Err(AslError::runtime(
                    "lambda:invoke: the field \"FunctionName\" is required but was missing",
                ))
            }
        };
        let qualifier = match p.get("Qualifier") {
            None | Some(Value::Null) => None,
            Some(Value::String(q)) => Some(q.clone()),
            Some(other) => {
                return Err(validation_error(&request_id, &format!("Value '{other}' at 'qualifier' failed to satisfy constraint: Member must be a string")))
            }
        };
        let invocation_type = match p.get("InvocationType") {
            None | Some(Value::Null) => "RequestResponse".to_string(),
            Some(Value::String(t))
                if matches!(t.as_str(), "RequestResponse" | "Event" | "DryRun") =>
            {
                t.clone()
            }
            Some(other) => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                return Err(validation_error(
                    &request_id,
                    &format!("Value '{shown}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
                ));
            }
        };
        let tail = match p.get("LogType") {
            None | Some(Value::Null) => false,
            Some(Value::String(t)) if t == "None" => false,
            Some(Value::String(t)) if t == "Tail" => true,
            Some(other) => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                return Err(validation_error(
                    &request_id,
                    &format!("Value '{shown}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]"),
                ));
            }
        };
        let client_context = match p.get("ClientContext") {
            None | Some(Value::Null) => None,
            Some(Value::String(encoded)) => Some(decode_client_context(encoded, &request_id)?),
            Some(_) => {
                return Err(invalid_content(
                    &request_id,
                    "Client context must be a valid Base64-encoded JSON object.",
                ))
            }
        };
        let payload = invoke_payload(p.get("Payload"), &request_id)?;
        let request = self.resolve(&name, qualifier.as_deref(), &request_id)?;

        match invocation_type.as_str() {
            "DryRun" => Ok(wrap(&request_id.0, "", None, 204, None)),
            "Event" => {
                self.spawn_event(request, payload)?;
                Ok(wrap(&request_id.0, "", None, 202, None))
            }
            _ => {
                let outcome = self.run(request, payload, client_context).await?;
                let log = tail
                    .then(|| base64::engine::general_purpose::STANDARD.encode(&outcome.log_tail));
                let executed = outcome.executed_version.clone();
                Ok(wrap(
                    &outcome.request_id,
                    &String::from_utf8_lossy(&outcome.payload),
                    Some(&executed),
                    200,
                    log,
                ))
            }
        }
    }

    /// Counts, durations (for the cost estimate and the summary).
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        lock(&self.shared.records).clone()
    }

    /// Finds the function a FunctionName (+ Qualifier) names.
    fn resolve(
        &self,
        function: &str,
        qualifier: Option<&str>,
        request_id: &Uuid,
    ) -> Result<Target, AslError> {
        let parsed = parse_function_name(function, request_id)?;
        let qualifier = match (parsed.qualifier.as_deref(), qualifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(lambda_error(
                    "InvalidParameterValueException",
                    400,
                    "The derived qualifier from the function name does not match the specified qualifier.",
                    request_id,
                ))
            }
            (Some(a), _) => Some(a.to_string()),
            (None, Some(b)) => {
                if b.is_empty() || b.len() > 128 || !b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'$' | b'_' | b'-')) {
                    return Err(validation_error(
                        request_id,
                        &format!("Value '{b}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"),
                    ));
                }
                Some(b.to_string())
            }
            (None, None) => None,
        };
        let region = parsed
            .region
            .clone()
            .unwrap_or_else(|| self.shared.options.region.clone());
        let account = parsed
            .account
            .clone()
            .unwrap_or_else(|| self.shared.options.account.clone());
        let base_arn = format!("arn:aws:lambda:{region}:{account}:function:{}", parsed.name);
        let Some(function) = self
            .shared
            .functions
            .iter()
            .find(|f| f.spec.name == parsed.name)
        else {
            let known: Vec<&str> = self
                .shared
                .functions
                .iter()
                .map(|f| f.spec.name.as_str())
                .collect();
            let mut error = lambda_error(
                "ResourceNotFoundException",
                404,
                &format!(
                    "Function not found: {base_arn}:{}",
                    qualifier.as_deref().unwrap_or("$LATEST")
                ),
                request_id,
            );
            error.cause.push_str(&format!(
                " [sfn-local: known functions: {}]",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
            return Err(error);
        };
        // Locally there are no published versions: every qualifier runs the one binary.
        // A numeric qualifier is a version and is reported as executed; an alias or
        // $LATEST reports $LATEST.
        let executed_version = match qualifier.as_deref() {
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => q.to_string(),
            _ => "$LATEST".to_string(),
        };
        let invoked_arn = match &qualifier {
            Some(q) => format!("{base_arn}:{q}"),
            None => base_arn,
        };
        Ok(Target {
            function: function.clone(),
            invoked_arn,
            executed_version,
            request_id: request_id.clone(),
        })
    }

    /// Runs one invocation on the pool's runtime and waits for it.
    async fn run(
        &self,
        target: Target,
        payload: Bytes,
        client_context: Option<String>,
    ) -> Result<Success, AslError> {
        let handle = match &self.runtime {
            Ok(handle) => handle,
            Err(e) => {
                return Err(AslError::new(
                    "Lambda.ServiceException",
                    format!("sfn-local: {e}"),
                ))
            }
        };
        let shared = self.shared.clone();
        match handle
            .spawn(invoke_on(shared, target, payload, client_context))
            .await
        {
            Ok(result) => result,
            Err(e) => Err(AslError::new(
                "Lambda.ServiceException",
                format!(
                    "sfn-local: the invocation was cancelled (the pool is shutting down?): {e}"
                ),
            )),
        }
    }

    /// `InvocationType: Event`: queued, run in the background, its outcome only logged.
    fn spawn_event(&self, target: Target, payload: Bytes) -> Result<(), AslError> {
        let handle = match &self.runtime {
            Ok(handle) => handle,
            Err(e) => {
                return Err(AslError::new(
                    "Lambda.ServiceException",
                    format!("sfn-local: {e}"),
                ))
            }
        };
        let shared = self.shared.clone();
        handle.spawn(async move {
            let name = target.function.spec.name.clone();
            if let Err(e) = invoke_on(shared, target, payload, None).await {
                tracing::warn!(target: "lambda", function = %name, error = %e.error, "asynchronous invocation failed: {}", e.cause);
            }
        });
        Ok(())
    }
}

impl Drop for LambdaPool {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Environments kept idle hold only handles to dead tasks now; drop them.
        for function in &self.shared.functions {
            lock(&function.idle).clear();
        }
    }
}

/// A resolved invocation target.
struct Target {
    function: Arc<Function>,
    invoked_arn: String,
    executed_version: String,
    request_id: Uuid,
}

/// A successful invocation.
struct Success {
    request_id: String,
    payload: Bytes,
    executed_version: String,
    log_tail: Vec<u8>,
}

/// A request id (a UUID, as Lambda's).
#[derive(Debug, Clone, PartialEq)]
struct Uuid(String);

impl Uuid {
    fn new() -> Uuid {
        Uuid(uuid::Uuid::new_v4().to_string())
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `target` on a warm environment, or a new one, and turns what the process did
/// into what Step Functions sees.
async fn invoke_on(
    shared: Arc<Shared>,
    target: Target,
    payload: Bytes,
    client_context: Option<String>,
) -> Result<Success, AslError> {
    let function = target.function.clone();
    let spec = &function.spec;
    let request_id = target.request_id.0.clone();
    let Ok(_permit) = function.permits.clone().acquire_owned().await else {
        return Err(AslError::new(
            "Lambda.ServiceException",
            "sfn-local: the function's environments are closed",
        ));
    };
    let started = SystemTime::now();
    let clock = Instant::now();

    let warm = loop {
        let candidate = lock(&function.idle).pop();
        match candidate {
            Some(env) if env.alive() => break Some(env),
            Some(_) => continue, // exited while idle: dropped (and reaped)
            None => break None,
        }
    };
    let cold = warm.is_none();
    let mut env = match warm {
        Some(env) => env,
        None => match Environment::start(&shared, &function).await {
            Ok(env) => env,
            Err(message) => {
                let payload = error_payload(
                    "Runtime.InvalidEntrypoint",
                    &format!("RequestId: {request_id} Error: {message}"),
                );
                let error = function_error(&payload);
                record(
                    &shared,
                    spec,
                    &request_id,
                    started,
                    clock.elapsed(),
                    true,
                    None,
                    Some(&error.error),
                );
                return Err(error);
            }
        },
    };

    write_log(
        &shared,
        spec,
        &format!(
            "START RequestId: {request_id} Version: {}",
            target.executed_version
        ),
    );
    env.api.begin_capture();
    let deadline = SystemTime::now() + spec.timeout;
    let invocation = Invocation {
        request_id: request_id.clone(),
        deadline_ms: deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        invoked_arn: target.invoked_arn.clone(),
        trace_id: trace_id(),
        client_context,
        payload,
    };
    let result = env.invoke(invocation, spec.timeout).await;
    let elapsed = clock.elapsed();
    let init = env.init_duration();
    let log_tail = env.api.end_capture();

    let (result, keep) = match result {
        Ended::Response(body) if body.len() > MAX_RESPONSE_BYTES => (
            Err(function_error(&error_payload(
                "Function.ResponseSizeTooLarge",
                &format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
            ))),
            true,
        ),
        Ended::Response(body) => (Ok(body), true),
        Ended::Error(body) => (Err(function_error(&body)), true),
        Ended::InitError(body) => (Err(function_error(&body)), false),
        Ended::Exited(status) => (
            Err(function_error(&error_payload(
                "Runtime.ExitError",
                &format!("RequestId: {request_id} Error: {}", exit_message(&status)),
            ))),
            false,
        ),
        Ended::TimedOut => (
            Err(function_error(&error_payload(
                "Sandbox.Timedout",
                &format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", spec.timeout.as_secs_f64()),
            ))),
            false,
        ),
    };
    let error_name = result.as_ref().err().map(|e| e.error.clone());
    if let Some(name) = &error_name {
        tracing::debug!(target: "lambda", function = %spec.name, request_id = %request_id, error = %name, "invocation failed");
    }
    write_log(&shared, spec, &format!("END RequestId: {request_id}"));
    let billed = billed_ms(elapsed);
    let mut report = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB",
        elapsed.as_secs_f64() * 1000.0,
        spec.memory_mb
    );
    if let (true, Some(init)) = (cold, init) {
        report.push_str(&format!(
            "\tInit Duration: {:.2} ms",
            init.as_secs_f64() * 1000.0
        ));
    }
    write_log(&shared, spec, &report);
    record(
        &shared,
        spec,
        &request_id,
        started,
        elapsed,
        cold,
        init.filter(|_| cold),
        error_name.as_deref(),
    );

    if keep && env.alive() {
        lock(&function.idle).push(env);
    }
    let payload = result?;
    let mut tail = log_tail;
    tail.extend_from_slice(format!("END RequestId: {request_id}\n{report}\n").as_bytes());
    let tail = tail.split_off(tail.len().saturating_sub(TAIL_BYTES));
    Ok(Success {
        request_id,
        payload,
        executed_version: target.executed_version,
        log_tail: tail,
    })
}

#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    spec: &FunctionSpec,
    request_id: &str,
    started: SystemTime,
    duration: Duration,
    cold_start: bool,
    init: Option<Duration>,
    error: Option<&str>,
) {
    lock(&shared.records).push(InvocationRecord {
        function: spec.name.clone(),
        request_id: request_id.to_string(),
        started,
        duration,
        billed_ms: billed_ms(duration),
        memory_mb: spec.memory_mb,
        cold_start,
        init,
        error: error.map(str::to_string),
    });
}

fn billed_ms(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    (nanos.div_ceil(1_000_000)).max(1) as u64
}

/// How an invocation ended on the environment.
enum Ended {
    Response(Bytes),
    Error(Bytes),
    InitError(Bytes),
    Exited(ExitInfo),
    TimedOut,
}

/// What the runtime posted.
enum Posted {
    Response(Bytes),
    Error(Bytes),
    InitError(Bytes),
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq)]
enum ExitInfo {
    Code(i32),
    Signal(i32),
    Unknown(String),
}

/// Lambda's wording for a runtime that exited (AWS-recorded payloads; Go's os/exec
/// wording for signals).
fn exit_message(status: &ExitInfo) -> String {
    match status {
        ExitInfo::Code(0) => "Runtime exited without providing a reason".to_string(),
        ExitInfo::Code(code) => format!("Runtime exited with error: exit status {code}"),
        ExitInfo::Signal(signal) => format!(
            "Runtime exited with error: signal: {}",
            signal_name(*signal)
        ),
        ExitInfo::Unknown(why) => format!("Runtime exited with error: {why}"),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        4 => "illegal instruction".into(),
        5 => "trace/breakpoint trap".into(),
        6 => "aborted".into(),
        7 => "bus error".into(),
        8 => "floating point exception".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        14 => "alarm clock".into(),
        15 => "terminated".into(),
        other => format!("signal {other}"),
    }
}

/// One invocation as `/next` hands it out.
struct Invocation {
    request_id: String,
    deadline_ms: u128,
    invoked_arn: String,
    trace_id: String,
    client_context: Option<String>,
    payload: Bytes,
}

/// The waiting invocation of an environment.
struct Pending {
    request_id: String,
    tx: oneshot::Sender<Posted>,
}

/// The Runtime API's state, shared with its HTTP handlers.
struct RuntimeApi {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<Option<Pending>>,
    init_error: Mutex<Option<Bytes>>,
    first_next: Mutex<Option<Instant>>,
    capture: Mutex<Option<Vec<u8>>>,
}

impl RuntimeApi {
    fn begin_capture(&self) {
        *lock(&self.capture) = Some(Vec::new());
    }

    fn end_capture(&self) -> Vec<u8> {
        lock(&self.capture).take().unwrap_or_default()
    }

    fn captured(&self, line: &str) {
        if let Some(buffer) = lock(&self.capture).as_mut() {
            buffer.extend_from_slice(line.as_bytes());
            buffer.push(b'\n');
            if buffer.len() > 2 * TAIL_BYTES {
                let cut = buffer.len() - TAIL_BYTES;
                buffer.drain(..cut);
            }
        }
    }

    /// Hands what the runtime posted for `request_id` to the waiting invocation.
    fn complete(&self, request_id: &str, posted: Posted) -> bool {
        let pending = {
            let mut slot = lock(&self.pending);
            match slot.as_ref() {
                Some(p) if p.request_id == request_id => slot.take(),
                _ => None,
            }
        };
        match pending {
            Some(p) => {
                let _ = p.tx.send(posted);
                true
            }
            None => false,
        }
    }

    fn init_failed(&self, body: Bytes) {
        *lock(&self.init_error) = Some(body.clone());
        let pending = lock(&self.pending).take();
        if let Some(p) = pending {
            let _ = p.tx.send(Posted::InitError(body));
        }
    }
}

/// One execution environment: a process and its Runtime API.
struct Environment {
    api: Arc<RuntimeApi>,
    queue: mpsc::Sender<Invocation>,
    exit: watch::Receiver<Option<ExitInfo>>,
    spawned: Instant,
    /// Dropping it (with the environment) kills the process.
    _kill: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Environment {
    /// Binds a Runtime API and starts the function's process against it.
    async fn start(shared: &Arc<Shared>, function: &Arc<Function>) -> Result<Environment, String> {
        let spec = &function.spec;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("sfn-local: cannot bind a Runtime API: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("sfn-local: cannot bind a Runtime API: {e}"))?;
        let (queue_tx, queue_rx) = mpsc::channel::<Invocation>(1);
        let api = Arc::new(RuntimeApi {
            queue: tokio::sync::Mutex::new(queue_rx),
            pending: Mutex::new(None),
            init_error: Mutex::new(None),
            first_next: Mutex::new(None),
            capture: Mutex::new(None),
        });
        let server = tokio::spawn(serve(listener, api.clone()));

        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .envs(lambda_environment(
                spec,
                &shared.options,
                addr,
                function.started.fetch_add(1, Ordering::SeqCst),
            ))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = spec.binary.parent().filter(|d| d.is_dir()) {
            command.current_dir(dir);
        }
        let spawned = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "Couldn't find valid bootstrap(s): [{}]",
                        spec.binary.display()
                    )
                } else {
                    format!("fork/exec {}: {e}", spec.binary.display())
                });
            }
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(
                out,
                shared.clone(),
                api.clone(),
                spec.name.clone(),
                "stdout",
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(
                err,
                shared.clone(),
                api.clone(),
                spec.name.clone(),
                "stderr",
            ));
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // The kill channel resolves when the environment is dropped.
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let info = match status {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt as _;
                    match (status.code(), status.signal()) {
                        (Some(code), _) => ExitInfo::Code(code),
                        (None, Some(signal)) => ExitInfo::Signal(signal),
                        (None, None) => ExitInfo::Unknown(status.to_string()),
                    }
                }
                Err(e) => ExitInfo::Unknown(e.to_string()),
            };
            let _ = exit_tx.send(Some(info));
        });
        Ok(Environment {
            api,
            queue: queue_tx,
            exit: exit_rx,
            spawned,
            _kill: kill_tx,
            server,
        })
    }

    fn alive(&self) -> bool {
        self.exit.borrow().is_none() && lock(&self.api.init_error).is_none()
    }

    /// From the process's start to its first `/next`.
    fn init_duration(&self) -> Option<Duration> {
        lock(&self.api.first_next).map(|t| t.saturating_duration_since(self.spawned))
    }

    async fn invoke(&mut self, invocation: Invocation, timeout: Duration) -> Ended {
        let (tx, mut rx) = oneshot::channel();
        *lock(&self.api.pending) = Some(Pending {
            request_id: invocation.request_id.clone(),
            tx,
        });
        // An init error posted before this invocation was queued fails it at once.
        let early = lock(&self.api.init_error).clone();
        if let Some(body) = early {
            lock(&self.api.pending).take();
            return Ended::InitError(body);
        }
        if self.queue.send(invocation).await.is_err() {
            return Ended::Exited(ExitInfo::Unknown("the Runtime API stopped".into()));
        }
        let timer = tokio::time::sleep(timeout);
        tokio::pin!(timer);
        let mut exit = self.exit.clone();
        loop {
            tokio::select! {
                biased;
                posted = &mut rx => {
                    return match posted {
                        Ok(Posted::Response(body)) => Ended::Response(body),
                        Ok(Posted::Error(body)) => Ended::Error(body),
                        Ok(Posted::InitError(body)) => Ended::InitError(body),
                        Err(_) => Ended::Exited(ExitInfo::Unknown("the invocation was dropped".into())),
                    };
                }
                changed = exit.changed() => {
                    let status = exit.borrow().clone();
                    if changed.is_err() && status.is_none() {
                        return Ended::Exited(ExitInfo::Unknown("the process watcher stopped".into()));
                    }
                    let Some(status) = status else { continue };
                    // A response posted just before the exit still counts.
                    if let Ok(posted) = rx.try_recv() {
                        return match posted {
                            Posted::Response(body) => Ended::Response(body),
                            Posted::Error(body) => Ended::Error(body),
                            Posted::InitError(body) => Ended::InitError(body),
                        };
                    }
                    let init = lock(&self.api.init_error).clone();
                    return match init {
                        Some(body) => Ended::InitError(body),
                        None => Ended::Exited(status),
                    };
                }
                _ = &mut timer => {
                    lock(&self.api.pending).take();
                    return Ended::TimedOut;
                }
            }
        }
    }
}

/// The process's environment variables (see the module doc).
fn lambda_environment(
    spec: &FunctionSpec,
    options: &PoolOptions,
    addr: SocketAddr,
    ordinal: u64,
) -> Vec<(String, String)> {
    let handler = spec
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bootstrap".into());
    let task_root = spec
        .binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut vars: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("AWS_LAMBDA_RUNTIME_API".into(), addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{}", spec.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            log_stream_name(ordinal),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_REGION".into(), options.region.clone()),
        ("AWS_DEFAULT_REGION".into(), options.region.clone()),
        ("_HANDLER".into(), handler),
        ("LAMBDA_TASK_ROOT".into(), task_root),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
    ];
    if let Ok(level) = std::env::var("RUST_LOG") {
        vars.push(("RUST_LOG".into(), level));
    }
    vars.extend(spec.env.iter().cloned());
    vars
}

/// `2026/11/27/[$LATEST]<32 hex>`, as Lambda names log streams.
fn log_stream_name(ordinal: u64) -> String {
    let date = iso(SystemTime::now());
    let day = date.get(0..10).unwrap_or("1970-01-01").replace('-', "/");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let id = format!("{:016x}{}", ordinal, id.get(16..).unwrap_or(""));
    format!("{day}/[$LATEST]{id}")
}

/// An X-Ray trace header, as Lambda passes it in `Lambda-Runtime-Trace-Id`.
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        random.get(0..24).unwrap_or("000000000000000000000000"),
        parent.get(0..16).unwrap_or("0000000000000000")
    )
}

/// Accepts the process's connections and serves the Runtime API.
async fn serve(listener: TcpListener, api: Arc<RuntimeApi>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors or similar: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let api = api.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(route(req, &api).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: String, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    reply(status, error_payload_string(error_type, message), &[])
}

/// The Runtime API (docs: runtimes-api).
async fn route(req: Request<Incoming>, api: &RuntimeApi) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no such resource: {path}"),
        );
    };
    if method == hyper::Method::GET && rest == "invocation/next" {
        lock(&api.first_next).get_or_insert_with(Instant::now);
        let next = api.queue.lock().await.recv().await;
        let Some(invocation) = next else {
            return api_error(
                StatusCode::GONE,
                "Runtime.Stopped",
                "the execution environment is shutting down",
            );
        };
        let mut headers = vec![
            ("lambda-runtime-aws-request-id", invocation.request_id),
            (
                "lambda-runtime-deadline-ms",
                invocation.deadline_ms.to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn",
                invocation.invoked_arn,
            ),
            ("lambda-runtime-trace-id", invocation.trace_id),
        ];
        if let Some(context) = invocation.client_context {
            headers.push(("lambda-runtime-client-context", context));
        }
        let mut builder = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json");
        for (name, value) in &headers {
            builder = builder.header(*name, value.as_str());
        }
        return builder
            .body(Full::new(invocation.payload))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    }
    if method != hyper::Method::POST {
        return api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no such resource: {method} {path}"),
        );
    }
    // One byte over the limit is enough to know it is too large.
    let body = match Limited::new(req.into_body(), MAX_RESPONSE_BYTES + 1)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(e.to_string()),
    };
    let accepted = || reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string(), &[]);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["init", "error"] => {
            api.init_failed(body.unwrap_or_default());
            accepted()
        }
        ["invocation", id, what @ ("response" | "error")] => {
            let posted = match (body, *what) {
                (Ok(body), "response") if body.len() <= MAX_RESPONSE_BYTES => {
                    Posted::Response(body)
                }
                (Ok(body), "error") => Posted::Error(body),
                _ => {
                    let payload = error_payload(
                        "Function.ResponseSizeTooLarge",
                        &format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                    );
                    api.complete(id, Posted::Error(payload));
                    return api_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLarge",
                        &format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                    );
                }
            };
            if api.complete(id, posted) {
                accepted()
            } else {
                api_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    &format!("no invocation {id} is waiting for an answer"),
                )
            }
        }
        _ => api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no such resource: {method} {path}"),
        ),
    }
}

/// Forwards a process's output line by line to tracing, the log file and the capture.
async fn forward(
    stream: impl AsyncRead + Unpin,
    shared: Arc<Shared>,
    api: Arc<RuntimeApi>,
    function: String,
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
                tracing::info!(target: "lambda", function = %function, stream = which, "{text}");
                api.captured(text);
                if let Some(log) = &shared.log {
                    let _ = writeln!(lock(log), "{} [{function}] {text}", iso(SystemTime::now()));
                }
            }
        }
    }
}

fn write_log(shared: &Shared, spec: &FunctionSpec, line: &str) {
    if let Some(log) = &shared.log {
        let _ = writeln!(
            lock(log),
            "{} [{}] {line}",
            iso(SystemTime::now()),
            spec.name
        );
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `{"errorType":...,"errorMessage":...}`, in Lambda's key order.
fn error_payload_string(error_type: &str, message: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"errorType\":{},\"errorMessage\":{}}}",
        quote(error_type),
        quote(message)
    )
}

fn error_payload(error_type: &str, message: &str) -> Bytes {
    Bytes::from(error_payload_string(error_type, message))
}

/// A function error payload → what Step Functions reports.
fn function_error(payload: &[u8]) -> AslError {
    let text = String::from_utf8_lossy(payload).trim().to_string();
    let error_type = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty());
    match error_type {
        Some(error_type) => AslError::new(error_type, text),
        None => AslError::new(
            "Lambda.Unknown",
            format!("The cause could not be determined because Lambda did not return an error type. Returned payload: {text}"),
        ),
    }
}

/// The Invoke payload Step Functions sends for the `Payload` parameter: absent or null
/// → `{}`; a string is sent as its text, so it must be JSON (a string holding `[]`
/// sends `[]`, as LocalStack's AWS-recorded `test_invoke_json_values` shows); any other
/// value as its JSON.
fn invoke_payload(payload: Option<&Value>, request_id: &Uuid) -> Result<Bytes, AslError> {
    match payload {
        None | Some(Value::Null) => Ok(Bytes::from_static(b"{}")),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(_) => Ok(Bytes::from(text.clone())),
            Err(_) => Err(invalid_content(
                request_id,
                &format!(
                    "Could not parse request body into json: Could not parse payload into json: Unrecognized token '{}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
                    text.split_whitespace().next().unwrap_or("").chars().take(64).collect::<String>()
                ),
            )),
        },
        Some(other) => Ok(Bytes::from(other.to_string())),
    }
}

/// The function's response → the task result: JSON when it parses, else the text.
fn parse_payload(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

/// `ClientContext`: base64 of a JSON object, handed to the function decoded.
fn decode_client_context(encoded: &str, request_id: &Uuid) -> Result<String, AslError> {
    let invalid = || {
        invalid_content(
            request_id,
            "Client context must be a valid Base64-encoded JSON object.",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid())?;
    if bytes.len() > 3583 {
        return Err(invalid());
    }
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => Ok(text),
        _ => Err(invalid()),
    }
}

/// The optimized integration's result (LocalStack's AWS-recorded `lambda:invoke`
/// output: these fields, these headers).
fn wrap(
    request_id: &str,
    payload: &str,
    executed_version: Option<&str>,
    status: u16,
    log_result: Option<String>,
) -> Value {
    let date = http_date(SystemTime::now());
    let trace = trace_id().to_lowercase();
    let length = payload.len().to_string();
    let mut all = serde_json::Map::new();
    let mut headers = serde_json::Map::new();
    let mut header = |name: &str, value: &str| {
        all.insert(name.to_string(), json!([value]));
        headers.insert(name.to_string(), json!(value));
    };
    if let Some(version) = executed_version {
        header("X-Amz-Executed-Version", version);
    }
    if status == 200 {
        header("x-amzn-Remapped-Content-Length", "0");
    }
    header("Connection", "keep-alive");
    header("x-amzn-RequestId", request_id);
    header("Content-Length", &length);
    header("Date", &date);
    header("X-Amzn-Trace-Id", &trace);
    header("Content-Type", "application/json");
    if let Some(log) = &log_result {
        header("X-Amz-Log-Result", log);
    }
    // In the order Step Functions prints the result (its fields alphabetically).
    let mut out = serde_json::Map::new();
    if let Some(version) = executed_version {
        out.insert("ExecutedVersion".into(), json!(version));
    }
    if let Some(log) = log_result {
        out.insert("LogResult".into(), json!(log));
    }
    let payload = if payload.is_empty() {
        Value::String(String::new())
    } else {
        parse_payload(payload.as_bytes())
    };
    out.insert("Payload".into(), payload);
    out.insert(
        "SdkHttpMetadata".into(),
        json!({"AllHttpHeaders": all, "HttpHeaders": headers, "HttpStatusCode": status}),
    );
    out.insert(
        "SdkResponseMetadata".into(),
        json!({"RequestId": request_id}),
    );
    out.insert("StatusCode".into(), json!(status));
    Value::Object(out)
}

/// A Lambda API error as Step Functions reports it: `Lambda.<Exception>` and the Java
/// SDK's cause format.
fn lambda_error(code: &str, status: u16, message: &str, request_id: &Uuid) -> AslError {
    lambda_error_named(&format!("Lambda.{code}"), code, status, message, request_id)
}

fn lambda_error_named(
    name: &str,
    code: &str,
    status: u16,
    message: &str,
    request_id: &Uuid,
) -> AslError {
    AslError::new(
        name,
        format!("{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"),
    )
}

/// Lambda's `ValidationException` is not modeled in the Java SDK Step Functions uses,
/// so it surfaces as the SDK's generic `AWSLambdaException`.
fn validation_error(request_id: &Uuid, detail: &str) -> AslError {
    lambda_error_named(
        "Lambda.AWSLambdaException",
        "ValidationException",
        400,
        &format!("1 validation error detected: {detail}"),
        request_id,
    )
}

fn invalid_content(request_id: &Uuid, message: &str) -> AslError {
    lambda_error("InvalidRequestContentException", 400, message, request_id)
}

/// A parsed FunctionName.
#[derive(Debug, Clone, PartialEq)]
struct FunctionName {
    name: String,
    qualifier: Option<String>,
    region: Option<String>,
    account: Option<String>,
}

/// FunctionName as Lambda accepts it (Invoke API: "Function name – my-function (name
/// only), my-function:v1 (with alias). Function ARN –
/// arn:aws:lambda:us-west-2:123456789012:function:my-function. Partial ARN –
/// 123456789012:function:my-function. [...] The length constraint applies only to the
/// full ARN. If you specify only the function name, it is limited to 64 characters").
/// A full match of [`FUNCTION_NAME_PATTERN`], its optional groups tried greedily.
fn parse_function_name(input: &str, request_id: &Uuid) -> Result<FunctionName, AslError> {
    let pattern_error = || {
        validation_error(
            request_id,
            &format!("Value '{input}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"),
        )
    };
    if input.len() > 140 {
        return Err(validation_error(
            request_id,
            &format!("Value '{input}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"),
        ));
    }
    let tokens: Vec<&str> = input.split(':').collect();
    let (rest, from_arn) = match tokens.as_slice() {
        ["arn", partition, "lambda", rest @ ..]
            if partition.is_empty()
                || (partition.starts_with("aws")
                    && partition
                        .bytes()
                        .all(|b| b.is_ascii_alphabetic() || b == b'-')) =>
        {
            (rest, true)
        }
        all => (all, false),
    };
    for (use_region, use_account, use_function) in [
        (true, true, true),
        (true, true, false),
        (true, false, true),
        (true, false, false),
        (false, true, true),
        (false, true, false),
        (false, false, true),
        (false, false, false),
    ] {
        let mut i = 0;
        let mut region = None;
        let mut account = None;
        if use_region {
            match rest.get(i) {
                Some(r) if is_region(r) => {
                    region = Some(r.to_string());
                    i += 1;
                }
                _ => continue,
            }
        }
        if use_account {
            match rest.get(i) {
                Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => {
                    account = Some(a.to_string());
                    i += 1;
                }
                _ => continue,
            }
        }
        if use_function {
            match rest.get(i) {
                Some(&"function") => i += 1,
                _ => continue,
            }
        }
        let Some(name) = rest.get(i).filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }) else {
            continue;
        };
        i += 1;
        let qualifier = match rest.get(i) {
            None => None,
            Some(q)
                if *q == "$LATEST"
                    || (!q.is_empty()
                        && q.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))) =>
            {
                i += 1;
                Some(q.to_string())
            }
            Some(_) => continue,
        };
        if i != rest.len() {
            continue;
        }
        let name_only = !from_arn && region.is_none() && account.is_none() && !use_function;
        if name_only && name.len() > 64 {
            return Err(lambda_error_named(
                "Lambda.InvalidParameterValueException",
                "InvalidParameterValueException",
                400,
                &format!("1 validation error detected: Value '{input}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"),
                request_id,
            ));
        }
        return Ok(FunctionName {
            name: name.to_string(),
            qualifier,
            region,
            account,
        });
    }
    Err(pattern_error())
}

/// `[a-z]{2}(-gov)?-[a-z]+-\d{1}`
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let two = |p: &str| p.len() == 2 && lower(p);
    let digit = |p: &str| p.len() == 1 && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [a, b, c] => two(a) && lower(b) && digit(c),
        [a, "gov", b, c] => two(a) && lower(b) && digit(c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Uuid {
        Uuid("req".into())
    }

    fn name(input: &str) -> FunctionName {
        parse_function_name(input, &id()).unwrap()
    }

    fn name_err(input: &str) -> AslError {
        parse_function_name(input, &id()).err().unwrap()
    }

    #[test]
    fn docs_function_name_formats() {
        // Invoke API reference, FunctionName.
        assert_eq!(name("my-function").name, "my-function");
        let n = name("my-function:v1");
        assert_eq!(
            (n.name.as_str(), n.qualifier.as_deref()),
            ("my-function", Some("v1"))
        );
        let n = name("arn:aws:lambda:us-west-2:123456789012:function:my-function");
        assert_eq!(n.name, "my-function");
        assert_eq!(n.region.as_deref(), Some("us-west-2"));
        assert_eq!(n.account.as_deref(), Some("123456789012"));
        assert_eq!(n.qualifier, None);
        let n = name("123456789012:function:my-function");
        assert_eq!(
            (n.name.as_str(), n.account.as_deref()),
            ("my-function", Some("123456789012"))
        );
        let n = name("arn:aws:lambda:us-west-2:123456789012:function:my-function:$LATEST");
        assert_eq!(n.qualifier.as_deref(), Some("$LATEST"));
        let n = name("arn:aws:lambda:us-west-2:123456789012:function:my-function:7");
        assert_eq!(n.qualifier.as_deref(), Some("7"));
    }

    #[test]
    fn other_forms_the_pattern_allows() {
        assert_eq!(name("function:f").name, "f");
        assert_eq!(
            name("us-east-1:123456789012:function:f").region.as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            name("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f")
                .region
                .as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(name("a.b_c-d").name, "a.b_c-d");
        assert_eq!(
            name("123456789012:function:f:prod").qualifier.as_deref(),
            Some("prod")
        );
    }

    #[test]
    fn invalid_names_quote_the_pattern() {
        for bad in [
            "",
            "a b",
            "f:q:r",
            "arn:aws:sns:us-east-1:123456789012:function:f",
            "f:",
            ":f",
            "f:$latest.x",
            "a/b",
        ] {
            let e = name_err(bad);
            assert_eq!(e.error, "Lambda.AWSLambdaException", "{bad}");
            assert!(e.cause.starts_with(&format!("1 validation error detected: Value '{bad}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ")), "{bad}: {}", e.cause);
            assert!(e.cause.ends_with("(Service: AWSLambda; Status Code: 400; Error Code: ValidationException; Request ID: req; Proxy: null)"), "{}", e.cause);
        }
    }

    #[test]
    fn length_limits() {
        assert!(parse_function_name(&"a".repeat(64), &id()).is_ok());
        let e = name_err(&"a".repeat(65));
        assert_eq!(e.error, "Lambda.InvalidParameterValueException");
        assert!(e.cause.contains("less than or equal to 64"), "{}", e.cause);
        let long = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            "a".repeat(100)
        );
        let e = name_err(&long);
        assert_eq!(e.error, "Lambda.AWSLambdaException");
        assert!(e.cause.contains("less than or equal to 140"), "{}", e.cause);
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-1",
            "us-gov-west-1",
            "ap-southeast-2",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "us-east",
            "useast-1",
            "us-east-12",
            "US-east-1",
            "u-east-1",
            "us--1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn function_error_keeps_the_payload_as_cause() {
        // The shape of LocalStack's AWS-recorded cause for a raising Python function.
        let body = br#"{"errorMessage": "Some exception was raised.", "errorType": "Exception", "requestId": "r", "stackTrace": ["  File \"/var/task/handler.py\", line 2"]}"#;
        let e = function_error(body);
        assert_eq!(e.error, "Exception");
        assert_eq!(e.cause.as_bytes(), body);
        // The Rust runtime's shape.
        let e = function_error(
            br#"{"errorType":"InvalidInput","errorMessage":"$.input_data: required"}"#,
        );
        assert_eq!(e.error, "InvalidInput");
        assert_eq!(
            e.cause,
            r#"{"errorType":"InvalidInput","errorMessage":"$.input_data: required"}"#
        );
    }

    #[test]
    fn error_without_type_is_lambda_unknown() {
        // The message AWS gives (cdklabs/construct-hub PR 713).
        let e = function_error(br#"{"errorMessage":"2022-01-13T00:58:08.879Z 28931c40 Task timed out after 60.06 seconds"}"#);
        assert_eq!(e.error, "Lambda.Unknown");
        assert_eq!(
            e.cause,
            r#"The cause could not be determined because Lambda did not return an error type. Returned payload: {"errorMessage":"2022-01-13T00:58:08.879Z 28931c40 Task timed out after 60.06 seconds"}"#
        );
        for body in [
            &b""[..],
            b"not json",
            b"[1]",
            br#"{"errorType": 1}"#,
            br#"{"errorType": ""}"#,
        ] {
            assert_eq!(function_error(body).error, "Lambda.Unknown");
        }
    }

    #[test]
    fn error_payloads_keep_lambdas_key_order() {
        assert_eq!(
            error_payload_string(
                "Sandbox.Timedout",
                "RequestId: r Error: Task timed out after 1.00 seconds"
            ),
            r#"{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: r Error: Task timed out after 1.00 seconds"}"#
        );
        assert_eq!(
            error_payload_string("T", "quote \" and \n"),
            r#"{"errorType":"T","errorMessage":"quote \" and \n"}"#
        );
    }

    #[test]
    fn exit_messages_as_lambda_words_them() {
        assert_eq!(
            exit_message(&ExitInfo::Code(0)),
            "Runtime exited without providing a reason"
        );
        assert_eq!(
            exit_message(&ExitInfo::Code(127)),
            "Runtime exited with error: exit status 127"
        );
        assert_eq!(
            exit_message(&ExitInfo::Signal(9)),
            "Runtime exited with error: signal: killed"
        );
        assert_eq!(
            exit_message(&ExitInfo::Signal(11)),
            "Runtime exited with error: signal: segmentation fault"
        );
        assert_eq!(
            exit_message(&ExitInfo::Signal(64)),
            "Runtime exited with error: signal: signal 64"
        );
    }

    #[test]
    fn payload_parameter_conversion() {
        let send = |v: Option<Value>| {
            invoke_payload(v.as_ref(), &id()).map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        assert_eq!(send(None).unwrap(), "{}");
        assert_eq!(send(Some(Value::Null)).unwrap(), "{}");
        assert_eq!(send(Some(json!({"a": 1}))).unwrap(), r#"{"a":1}"#);
        assert_eq!(send(Some(json!([1, 2]))).unwrap(), "[1,2]");
        assert_eq!(send(Some(json!(0))).unwrap(), "0");
        assert_eq!(send(Some(json!(true))).unwrap(), "true");
        // A string is sent as its text (LocalStack's AWS-recorded test_invoke_json_values).
        assert_eq!(send(Some(json!("[]"))).unwrap(), "[]");
        assert_eq!(send(Some(json!("null"))).unwrap(), "null");
        assert_eq!(
            send(Some(json!("\"HelloWorld\""))).unwrap(),
            "\"HelloWorld\""
        );
        let e = send(Some(json!("HelloWorld"))).unwrap_err();
        assert_eq!(e.error, "Lambda.InvalidRequestContentException");
        assert!(
            e.cause.contains("Unrecognized token 'HelloWorld'"),
            "{}",
            e.cause
        );
    }

    #[test]
    fn response_payload_parsing() {
        assert_eq!(parse_payload(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_payload(b"\"HelloWorld!\""), json!("HelloWorld!"));
        assert_eq!(parse_payload(b"null"), Value::Null);
        assert_eq!(parse_payload(b"0.0"), json!(0.0));
        assert_eq!(parse_payload(b"plain text"), json!("plain text"));
        assert_eq!(parse_payload(b""), json!(""));
    }

    #[test]
    fn optimized_result_shape() {
        // LocalStack's AWS-recorded lambda:invoke output (test_invoke).
        let out = wrap("rid", "{}", Some("$LATEST"), 200, None);
        assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
        assert_eq!(out["Payload"], json!({}));
        assert_eq!(out["StatusCode"], json!(200));
        assert_eq!(out["SdkResponseMetadata"], json!({"RequestId": "rid"}));
        let meta = &out["SdkHttpMetadata"];
        assert_eq!(meta["HttpStatusCode"], json!(200));
        for (k, v) in [
            ("Connection", "keep-alive"),
            ("Content-Length", "2"),
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-Remapped-Content-Length", "0"),
            ("x-amzn-RequestId", "rid"),
        ] {
            assert_eq!(meta["HttpHeaders"][k], json!(v), "{k}");
            assert_eq!(meta["AllHttpHeaders"][k], json!([v]), "{k}");
        }
        assert!(meta["HttpHeaders"]["Date"]
            .as_str()
            .unwrap()
            .ends_with(" GMT"));
        assert!(meta["HttpHeaders"]["X-Amzn-Trace-Id"]
            .as_str()
            .unwrap()
            .starts_with("root=1-"));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "ExecutedVersion",
                "Payload",
                "SdkHttpMetadata",
                "SdkResponseMetadata",
                "StatusCode"
            ]
        );
    }

    #[test]
    fn event_result_shape() {
        let out = wrap("rid", "", None, 202, None);
        assert_eq!(out["StatusCode"], json!(202));
        assert_eq!(out["Payload"], json!(""));
        assert!(out.get("ExecutedVersion").is_none());
        assert_eq!(
            out["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"],
            json!("0")
        );
    }

    #[test]
    fn log_result_is_added_for_tail() {
        let out = wrap("rid", "1", Some("$LATEST"), 200, Some("U1RBUlQ=".into()));
        assert_eq!(out["LogResult"], json!("U1RBUlQ="));
        assert_eq!(
            out["SdkHttpMetadata"]["HttpHeaders"]["X-Amz-Log-Result"],
            json!("U1RBUlQ=")
        );
    }

    #[test]
    fn client_context_must_be_base64_json_object() {
        let ok = base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"a":"b"}}"#);
        assert_eq!(
            decode_client_context(&ok, &id()).unwrap(),
            r#"{"custom":{"a":"b"}}"#
        );
        for bad in [
            "%%%".to_string(),
            base64::engine::general_purpose::STANDARD.encode("[1]"),
            base64::engine::general_purpose::STANDARD.encode("x".repeat(4000)),
        ] {
            let e = decode_client_context(&bad, &id()).unwrap_err();
            assert_eq!(e.error, "Lambda.InvalidRequestContentException");
            assert!(e
                .cause
                .starts_with("Client context must be a valid Base64-encoded JSON object."));
        }
    }

    #[test]
    fn the_pool_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<LambdaPool>();
    }

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        assert_eq!(billed_ms(Duration::from_micros(1)), 1);
        assert_eq!(billed_ms(Duration::from_micros(1001)), 2);
        assert_eq!(billed_ms(Duration::from_millis(250)), 250);
        assert_eq!(billed_ms(Duration::ZERO), 1);
    }

    #[test]
    fn log_stream_and_trace_formats() {
        let s = log_stream_name(3);
        assert!(s.contains("/[$LATEST]0000000000000003"), "{s}");
        assert_eq!(s.len(), "2026/11/27/[$LATEST]".len() + 32, "{s}");
        let t = trace_id();
        assert!(
            t.starts_with("Root=1-") && t.contains(";Parent=") && t.ends_with(";Sampled=0"),
            "{t}"
        );
    }

    #[test]
    fn environment_variables() {
        let spec = FunctionSpec {
            name: "f".into(),
            binary: PathBuf::from("/opt/fns/bootstrap"),
            env: vec![
                ("ARTIFACT_BUCKET".into(), "b".into()),
                ("TZ".into(), "Europe/Paris".into()),
            ],
            timeout: Duration::from_secs(3),
            memory_mb: 256,
        };
        let vars = lambda_environment(
            &spec,
            &PoolOptions::default(),
            "127.0.0.1:9001".parse().unwrap(),
            0,
        );
        let get = |k: &str| {
            vars.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), Some("127.0.0.1:9001"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("f"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
        assert_eq!(get("AWS_LAMBDA_LOG_GROUP_NAME"), Some("/aws/lambda/f"));
        assert_eq!(get("AWS_REGION"), Some("us-east-1"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("us-east-1"));
        assert_eq!(get("_HANDLER"), Some("bootstrap"));
        assert_eq!(get("LAMBDA_TASK_ROOT"), Some("/opt/fns"));
        assert_eq!(get("ARTIFACT_BUCKET"), Some("b"));
        // The function's own env comes last and wins.
        assert_eq!(get("TZ"), Some("Europe/Paris"));
        assert!(get("PATH").is_some());
        assert!(get("HOME").is_none());
    }
}
