//! A local SageMaker API for tests and the local demo: SageMaker's real wire protocol
//! (awsJson1.1: `POST /`, `X-Amz-Target: SageMaker.<Operation>`, JSON bodies,
//! timestamps as epoch seconds, errors as `{"__type": ..., "message": ...}`) over an
//! in-memory store of training jobs, on a thread and tokio runtime of its own.
//!
//! It answers `DescribeTrainingJob` and `ListTrainingJobs`; every other operation gets
//! the `UnknownOperationException` real AWS gives. Tests (and the local Step Functions
//! runner) put job descriptions in with [`LocalSageMaker::put_training_job`], and can
//! make the next requests fail with [`LocalSageMaker::fail_next`].

use crate::background::BackgroundServer;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sagemaker::config::{Credentials, Region};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

pub const ACCESS_KEY: &str = "local-access-key";
pub const SECRET_KEY: &str = "local-secret-key";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";

/// What real SageMaker answers when DescribeTrainingJob names no job (HTTP 400).
pub const NOT_FOUND_MESSAGE: &str = "Requested resource not found.";

const TIMESTAMP_FIELDS: [&str; 4] = [
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
    "LastModifiedTime",
];
/// The members of a `TrainingJobSummary`, copied from the stored description.
const SUMMARY_FIELDS: [&str; 9] = [
    "TrainingJobName",
    "TrainingJobArn",
    "CreationTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TrainingJobStatus",
    "SecondaryStatus",
    "WarmPoolStatus",
    "TrainingPlanArn",
];
const STATUSES: [&str; 5] = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"];

/// One request the server received (after any injected failure was decided).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The operation from `X-Amz-Target`, e.g. `ListTrainingJobs`.
    pub operation: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
struct Failure {
    operation: Option<String>,
    remaining: usize,
    status: u16,
    code: String,
}

#[derive(Debug, Default)]
struct State {
    /// Job descriptions (DescribeTrainingJob responses) by name.
    jobs: BTreeMap<String, Map<String, Value>>,
    failures: Vec<Failure>,
    requests: Vec<RecordedRequest>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock must not hide every later answer.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running server; stopped on drop.
pub struct LocalSageMaker {
    addr: SocketAddr,
    state: Shared,
    _server: BackgroundServer,
}

impl LocalSageMaker {
    /// Starts a server with no jobs on 127.0.0.1 and a free port.
    pub fn start() -> std::io::Result<LocalSageMaker> {
        let state: Shared = Arc::default();
        let served = state.clone();
        let service = hyper::service::service_fn(move |req| {
            let state = served.clone();
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        });
        let server = BackgroundServer::http("local-sagemaker", 2, service)?;
        Ok(LocalSageMaker {
            addr: server.addr(),
            state,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An `aws-sdk-sagemaker` client for this server (static credentials, us-east-1,
    /// the SDK's default retries).
    pub fn client(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::from_conf(self.client_config().build())
    }

    /// The client configuration, for callers that tune retries or timeouts.
    pub fn client_config(&self) -> aws_sdk_sagemaker::config::Builder {
        aws_sdk_sagemaker::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "local-sagemaker",
            ))
    }

    /// The environment a Lambda binary needs to use this server as its SageMaker.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SAGEMAKER", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
        ]
    }

    /// Stores (or replaces) a training job, given as the JSON of its DescribeTrainingJob
    /// response. `TrainingJobName` and a valid `TrainingJobStatus` are required;
    /// timestamps must be epoch-second numbers, as on the wire. Missing
    /// `TrainingJobArn`, `CreationTime`, `LastModifiedTime`, `SecondaryStatus` and
    /// `AlgorithmSpecification` are filled in the way SageMaker would.
    pub fn put_training_job(&self, description: Value) -> Result<(), String> {
        let Value::Object(mut job) = description else {
            return Err("a training job description must be a JSON object".into());
        };
        let name = match job.get("TrainingJobName") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err("TrainingJobName (a non-empty string) is required".into()),
        };
        let status = match job.get("TrainingJobStatus") {
            Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => s.clone(),
            other => {
                return Err(format!(
                    "{name}: TrainingJobStatus must be one of {STATUSES:?}, got {other:?}"
                ))
            }
        };
        for field in TIMESTAMP_FIELDS {
            if job.get(field).is_some_and(|v| !v.is_number()) {
                return Err(format!(
                    "{name}: {field} must be epoch seconds (a JSON number), as awsJson1.1 sends it"
                ));
            }
        }
        let now = epoch_seconds_now();
        job.entry("TrainingJobArn").or_insert_with(|| {
            json!(format!(
                "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{}",
                name.to_ascii_lowercase()
            ))
        });
        job.entry("CreationTime").or_insert_with(|| json!(now));
        let created = job.get("CreationTime").cloned().unwrap_or(json!(now));
        job.entry("LastModifiedTime").or_insert(created);
        job.entry("SecondaryStatus").or_insert_with(|| {
            json!(match status.as_str() {
                "InProgress" => "Training",
                other => other,
            })
        });
        job.entry("AlgorithmSpecification")
            .or_insert_with(|| json!({"TrainingInputMode": "File"}));
        lock(&self.state).jobs.insert(name, job);
        Ok(())
    }

    /// The stored description of a job, as DescribeTrainingJob would answer it.
    pub fn training_job(&self, name: &str) -> Option<Value> {
        lock(&self.state).jobs.get(name).cloned().map(Value::Object)
    }

    /// The names of every stored job.
    pub fn training_job_names(&self) -> Vec<String> {
        lock(&self.state).jobs.keys().cloned().collect()
    }

    /// The next `count` requests (of any operation) fail with HTTP `status` and error
    /// code `code`, e.g. `(400, "ThrottlingException")`.
    pub fn fail_next(&self, count: usize, status: u16, code: &str) {
        self.push_failure(None, count, status, code);
    }

    /// The next `count` requests of `operation` fail with HTTP `status` and `code`.
    pub fn fail_next_operation(&self, operation: &str, count: usize, status: u16, code: &str) {
        self.push_failure(Some(operation.to_string()), count, status, code);
    }

    fn push_failure(&self, operation: Option<String>, count: usize, status: u16, code: &str) {
        lock(&self.state).failures.push(Failure {
            operation,
            remaining: count,
            status,
            code: code.to_string(),
        });
    }

    /// Every request received so far, in order (including the ones made to fail).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }
}

fn epoch_seconds_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

async fn handle(state: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/" {
        return error(StatusCode::NOT_FOUND, "UnknownOperationException", "");
    }
    let headers = request.headers();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type_ok = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-amz-json-1.1"));
    // The SDK always signs; an unsigned request means a misconfigured client.
    let signed = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &e.to_string(),
            )
        }
    };
    if !signed {
        return error(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    }
    let Some(operation) = target.strip_prefix("SageMaker.") else {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("unknown target {target:?}"),
        );
    };
    if !content_type_ok {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "Content-Type must be application/x-amz-json-1.1",
        );
    }
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(_) | Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "the body must be a JSON object",
                )
            }
        }
    };

    let mut state = lock(state);
    state.requests.push(RecordedRequest {
        operation: operation.to_string(),
        body: body.clone(),
    });
    if let Some(failure) = take_failure(&mut state.failures, operation) {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        return error(
            status,
            &failure.code,
            &format!("injected failure for {operation}"),
        );
    }
    match operation {
        "DescribeTrainingJob" => describe_training_job(&state, &body),
        "ListTrainingJobs" => list_training_jobs(&state, &body),
        other => error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the local SageMaker does not implement {other}"),
        ),
    }
}

fn take_failure(failures: &mut Vec<Failure>, operation: &str) -> Option<Failure> {
    let index = failures
        .iter()
        .position(|f| f.remaining > 0 && f.operation.as_deref().is_none_or(|op| op == operation))?;
    let failure = failures.get_mut(index)?;
    failure.remaining -= 1;
    let taken = failure.clone();
    failures.retain(|f| f.remaining > 0);
    Some(taken)
}

fn describe_training_job(state: &State, body: &Value) -> Response<Full<Bytes>> {
    let Some(name) = body.get("TrainingJobName").and_then(Value::as_str) else {
        return validation("1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null");
    };
    match state.jobs.get(name) {
        Some(job) => ok(&Value::Object(job.clone())),
        None => validation(NOT_FOUND_MESSAGE),
    }
}

fn list_training_jobs(state: &State, body: &Value) -> Response<Full<Bytes>> {
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let number = |key: &str| body.get(key).and_then(Value::as_f64);

    let max_results = match body.get("MaxResults") {
        None => 10,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => {
                return validation(&format!(
                    "1 validation error detected: Value {v} at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
                ))
            }
        },
    };
    let status = text("StatusEquals");
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return validation(&format!("Value '{s}' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: {STATUSES:?}"));
        }
    }
    let sort_by = text("SortBy").unwrap_or("CreationTime");
    if !["Name", "CreationTime", "Status"].contains(&sort_by) {
        return validation(&format!("Value '{sort_by}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [Name, CreationTime, Status]"));
    }
    let descending = match text("SortOrder").unwrap_or("Ascending") {
        "Ascending" => false,
        "Descending" => true,
        other => {
            return validation(&format!("Value '{other}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"))
        }
    };
    // The API reference does not say whether NameContains ignores case; matching
    // without case is the broader behaviour, so callers must check names themselves.
    let contains = text("NameContains").map(str::to_ascii_lowercase);
    let time = |job: &Map<String, Value>, key: &str| job.get(key).and_then(Value::as_f64);

    let mut jobs: Vec<&Map<String, Value>> = state
        .jobs
        .iter()
        .filter(|(name, _)| {
            contains
                .as_deref()
                .is_none_or(|c| name.to_ascii_lowercase().contains(c))
        })
        .map(|(_, job)| job)
        .filter(|job| {
            let created = time(job, "CreationTime").unwrap_or(0.0);
            let modified = time(job, "LastModifiedTime").unwrap_or(created);
            number("CreationTimeAfter").is_none_or(|t| created > t)
                && number("CreationTimeBefore").is_none_or(|t| created < t)
                && number("LastModifiedTimeAfter").is_none_or(|t| modified > t)
                && number("LastModifiedTimeBefore").is_none_or(|t| modified < t)
        })
        .collect();
    let name_of = |job: &Map<String, Value>| {
        job.get("TrainingJobName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    jobs.sort_by(|a, b| {
        let primary = match sort_by {
            "Name" => name_of(a).cmp(&name_of(b)),
            "Status" => text_of(a, "TrainingJobStatus").cmp(&text_of(b, "TrainingJobStatus")),
            _ => time(a, "CreationTime")
                .unwrap_or(0.0)
                .total_cmp(&time(b, "CreationTime").unwrap_or(0.0)),
        };
        primary.then_with(|| name_of(a).cmp(&name_of(b)))
    });
    if descending {
        jobs.reverse();
    }

    // The token is an offset into this (deterministic) ordering.
    let start = match text("NextToken") {
        None => 0,
        Some(token) => match token
            .strip_prefix("local-token-")
            .and_then(|n| n.parse().ok())
        {
            Some(offset) => offset,
            None => return validation("Invalid pagination token"),
        },
    };
    let page: Vec<Value> = jobs
        .iter()
        .skip(start)
        .take(max_results)
        // As documented for ListTrainingJobs: a page of MaxResults jobs is taken
        // first, then filtered by StatusEquals, so a page may come back short (even
        // empty) with a NextToken.
        .filter(|job| status.is_none_or(|s| job.get("TrainingJobStatus") == Some(&json!(s))))
        .map(|job| {
            let summary: Map<String, Value> = SUMMARY_FIELDS
                .iter()
                .filter_map(|key| job.get(*key).map(|v| (key.to_string(), v.clone())))
                .collect();
            Value::Object(summary)
        })
        .collect();
    let end = start.saturating_add(max_results);
    let mut answer = json!({ "TrainingJobSummaries": page });
    if end < jobs.len() {
        answer["NextToken"] = json!(format!("local-token-{end}"));
    }
    ok(&answer)
}

fn text_of(job: &Map<String, Value>, key: &str) -> String {
    job.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn ok(body: &Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, body)
}

fn validation(message: &str) -> Response<Full<Bytes>> {
    error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    respond(status, &json!({"__type": code, "message": message}))
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response.headers_mut().insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    response
}
