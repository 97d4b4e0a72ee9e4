//! SageMaker's own API over HTTP, answered from the jobs and models of a
//! [`LocalSageMaker`]: what a real process (a Lambda binary using `aws-sdk-sagemaker`,
//! pointed here with `AWS_ENDPOINT_URL_SAGEMAKER`) calls while the runner runs.
//!
//! # The protocol (awsJson1.1, as `aws-sdk-sagemaker` speaks it)
//!
//! `POST /` with the header `X-Amz-Target: SageMaker.<Operation>` and a JSON body;
//! answers are JSON with `Content-Type: application/x-amz-json-1.1`, timestamps as
//! epoch **seconds** (JSON numbers, fractional: the stored descriptions hold the
//! milliseconds Step Functions' `.sync` results show, and are converted on the way
//! out). Errors are HTTP 400 with `{"__type": <code>, "message": ...}`. Any
//! credentials are accepted: signatures are not checked.
//!
//! Operations: `DescribeTrainingJob`, `ListTrainingJobs`, `DescribeTransformJob`,
//! `ListTransformJobs`, `DescribeModel`, `StopTrainingJob`, `StopTransformJob`. Any
//! other is `UnknownOperationException`.
//!
//! # Choices, and where they come from
//!
//! - A job that does not exist is `ValidationException` "Requested resource not
//!   found." (what SageMaker answers DescribeTrainingJob; the project's
//!   aggregate-metrics recognises it). A model that does not exist is
//!   `ValidationException` `Could not find model "<arn>".`, as CreateTransformJob
//!   reports it here.
//! - Stopping a job that is not running is `ValidationException` "The request was
//!   rejected because the training job is in status Completed." (the service's
//!   wording as users quote it; not in the API reference).
//! - A malformed body, a member of the wrong type or a broken constraint is
//!   `ValidationException` naming the member in the service's words ("Value null at
//!   'trainingJobName' failed to satisfy constraint: Member must not be null").
//! - ListTrainingJobs / ListTransformJobs: `SortBy` CreationTime, Name or Status
//!   (ties broken by name); `SortOrder` Descending by default (newest first, as
//!   ListTransformJobs documents and as ListTrainingJobs' own example describes its
//!   results, although its reference says Ascending; every caller here sets it);
//!   `NameContains` ignores case; `CreationTime*` / `LastModifiedTime*` bounds are
//!   exclusive; `MaxResults` 1-100, 10 by default. ListTrainingJobs applies
//!   `StatusEquals` *after* taking a page of `MaxResults` jobs, as its reference says
//!   (so a page may come back short, even empty, with a `NextToken`);
//!   ListTransformJobs filters first. A transform job's `LastModifiedTime` (its
//!   summary has one, its description does not) is its latest time.
//! - `NextToken` is opaque: it names the last job of the page (its sort key and
//!   name), so a job created between two pages neither repeats nor hides one.
//!
//! # Where it runs
//!
//! On a thread of its own with a single-threaded tokio runtime (like the Lambda
//! pool's), not on the caller's runtime: it then answers whatever the caller's
//! runtime is doing (even a current-thread runtime blocked in synchronous code),
//! [`LocalSageMaker::serve_api`] works outside any runtime, and dropping the
//! [`SageMakerApi`] ends the thread, its connections and the listening socket.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::store::{fields, millis, STATUSES};
use super::validate::{self, Checks};
use super::{Inner, JobKind, LocalSageMaker};
use crate::integrations::http_server::HttpServer;

/// What SageMaker answers when a Describe names no job (HTTP 400 ValidationException).
pub const NOT_FOUND_MESSAGE: &str = "Requested resource not found.";

/// Request bodies are small JSON objects; anything larger is refused unread.
const MAX_BODY_BYTES: usize = 1024 * 1024;
const OPERATIONS: &str = "DescribeTrainingJob, ListTrainingJobs, DescribeTransformJob, \
                          ListTransformJobs, DescribeModel, StopTrainingJob, StopTransformJob";

/// The SageMaker API of a [`LocalSageMaker`], served on 127.0.0.1 until dropped.
pub struct SageMakerApi {
    server: HttpServer,
}

impl SageMakerApi {
    pub(super) fn start(sagemaker: LocalSageMaker) -> std::io::Result<SageMakerApi> {
        let server = HttpServer::start("sfn-local-sagemaker-api", move |request| {
            let sagemaker = sagemaker.clone();
            async move { handle(&sagemaker, request).await }
        })?;
        Ok(SageMakerApi { server })
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_SAGEMAKER`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}

async fn handle(sagemaker: &LocalSageMaker, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/" {
        return respond(Reply::error(
            404,
            "UnknownOperationException",
            &format!(
                "the SageMaker API is POST / with an X-Amz-Target header, not {} {}",
                request.method(),
                request.uri().path()
            ),
        ));
    }
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return respond(Reply::validation(&format!(
                "the request body could not be read (at most {MAX_BODY_BYTES} bytes): {e}"
            )))
        }
    };
    let reply = dispatch(sagemaker, target.as_deref(), &body);
    tracing::debug!(
        target: "sagemaker",
        operation = target.as_deref().unwrap_or_default(),
        status = reply.status,
        "SageMaker API request"
    );
    respond(reply)
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .body(Full::new(Bytes::from(reply.body.to_string())))
        // Unreachable: the status and headers above are valid.
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An answer: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            body: json!({"__type": code, "message": message}),
        }
    }

    fn validation(message: &str) -> Reply {
        Reply::error(400, "ValidationException", message)
    }
}

/// Answers one request: `target` is the `X-Amz-Target` header, `body` the raw body.
pub(crate) fn dispatch(sagemaker: &LocalSageMaker, target: Option<&str>, body: &[u8]) -> Reply {
    let Some(operation) = target.and_then(|t| t.strip_prefix("SageMaker.")) else {
        return Reply::error(
            400,
            "UnknownOperationException",
            &format!(
                "the X-Amz-Target header must be SageMaker.<operation>, not {:?}",
                target.unwrap_or_default()
            ),
        );
    };
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Reply::validation("the request body must be a JSON object"),
            Err(e) => {
                return Reply::validation(&format!("the request body is not valid JSON: {e}"))
            }
        }
    };
    let inner = &sagemaker.inner;
    match operation {
        "DescribeTrainingJob" => describe_job(inner, JobKind::Training, &request),
        "DescribeTransformJob" => describe_job(inner, JobKind::Transform, &request),
        "ListTrainingJobs" => list_jobs(inner, JobKind::Training, &request),
        "ListTransformJobs" => list_jobs(inner, JobKind::Transform, &request),
        "DescribeModel" => describe_model(inner, &request),
        "StopTrainingJob" => stop_job(sagemaker, JobKind::Training, &request),
        "StopTransformJob" => stop_job(sagemaker, JobKind::Transform, &request),
        other => Reply::error(
            400,
            "UnknownOperationException",
            &format!(
                "sfn-local's SageMaker API does not implement {other} (it answers {OPERATIONS})"
            ),
        ),
    }
}

/// `TrainingJobName` → `trainingJobName`, as validation messages name members.
fn member_path(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The job name a Describe or Stop request names, or the ValidationException.
fn job_name(kind: JobKind, request: &Map<String, Value>) -> Result<String, Reply> {
    let key = fields(kind).name;
    let mut c = Checks::default();
    let name = c.patterned(
        request,
        key,
        &member_path(key),
        true,
        63,
        validate::job_name_ok,
        validate::JOB_NAME_PATTERN,
    );
    match (c.message(), name) {
        (None, Some(name)) => Ok(name),
        (Some(message), _) => Err(Reply::validation(&message)),
        // Unreachable: a missing name records a validation error.
        (None, None) => Err(Reply::validation(NOT_FOUND_MESSAGE)),
    }
}

fn describe_job(inner: &Inner, kind: JobKind, request: &Map<String, Value>) -> Reply {
    let name = match job_name(kind, request) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    match inner.describe(kind, &name) {
        Some(description) => Reply::ok(to_wire(&description)),
        None => Reply::validation(NOT_FOUND_MESSAGE),
    }
}

fn describe_model(inner: &Inner, request: &Map<String, Value>) -> Reply {
    let mut c = Checks::default();
    let name = c.string(request, "ModelName", "modelName", true, 1, 63);
    if let Some(message) = c.message() {
        return Reply::validation(&message);
    }
    let name = name.unwrap_or_default();
    match inner.model_description(&name) {
        Some(description) => Reply::ok(to_wire(&description)),
        None => Reply::validation(&format!(
            "Could not find model \"{}\".",
            inner.arn("model", &name)
        )),
    }
}

fn stop_job(sagemaker: &LocalSageMaker, kind: JobKind, request: &Map<String, Value>) -> Reply {
    let name = match job_name(kind, request) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    if sagemaker.stop_job(kind, &name) {
        return Reply::ok(json!({}));
    }
    match sagemaker.inner.describe(kind, &name) {
        None => Reply::validation(NOT_FOUND_MESSAGE),
        Some(description) => {
            let status = description
                .get(fields(kind).status)
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            let what = match kind {
                JobKind::Training => "training",
                JobKind::Transform => "transform",
            };
            Reply::validation(&format!(
                "The request was rejected because the {what} job is in status {status}."
            ))
        }
    }
}

fn list_jobs(inner: &Inner, kind: JobKind, request: &Map<String, Value>) -> Reply {
    match ListQuery::parse(kind, request) {
        Ok(query) => Reply::ok(list_page(kind, &inner.descriptions(kind), &query)),
        Err(message) => Reply::validation(&message),
    }
}

/// Top-level members of a description that are timestamps.
const TIME_MEMBERS: [&str; 6] = [
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TransformStartTime",
    "TransformEndTime",
];

/// A stored description (epoch milliseconds) as the wire carries it (epoch seconds).
pub(crate) fn to_wire(description: &Value) -> Value {
    let mut d = description.clone();
    let Some(map) = d.as_object_mut() else {
        return d;
    };
    for key in TIME_MEMBERS {
        if let Some(v) = map.get_mut(key) {
            *v = seconds(v);
        }
    }
    for (list, keys) in [
        ("SecondaryStatusTransitions", &["StartTime", "EndTime"][..]),
        ("FinalMetricDataList", &["Timestamp"][..]),
    ] {
        let Some(items) = map.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            for key in keys {
                if let Some(v) = item.get_mut(*key) {
                    *v = seconds(v);
                }
            }
        }
    }
    d
}

/// Milliseconds to seconds; anything that is not a number is left as it is.
fn seconds(millis: &Value) -> Value {
    millis
        .as_u64()
        // Exact below 2^53 ms (the year 287,396): every time we write.
        .map(|ms| ms as f64 / 1000.0)
        .or_else(|| millis.as_f64().map(|ms| ms / 1000.0))
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| millis.clone())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortBy {
    CreationTime,
    Name,
    Status,
}

impl SortBy {
    fn as_str(self) -> &'static str {
        match self {
            SortBy::CreationTime => "CreationTime",
            SortBy::Name => "Name",
            SortBy::Status => "Status",
        }
    }
}

/// A job's place in a sort order: the sorted member, then the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Time(u64),
    Text(String),
}

/// The position a `NextToken` resumes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    key: Key,
    name: String,
}

/// A validated ListTrainingJobs / ListTransformJobs request. Times in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListQuery {
    name_contains: Option<String>,
    status: Option<String>,
    warm_pool_status: Option<String>,
    created_after: Option<f64>,
    created_before: Option<f64>,
    modified_after: Option<f64>,
    modified_before: Option<f64>,
    sort_by: SortBy,
    descending: bool,
    max_results: usize,
    after: Option<Cursor>,
}

impl ListQuery {
    pub(crate) fn parse(kind: JobKind, request: &Map<String, Value>) -> Result<ListQuery, String> {
        let mut c = Checks::default();
        let name_contains = c.patterned(
            request,
            "NameContains",
            "nameContains",
            false,
            63,
            |s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "[a-zA-Z0-9\\-]+",
        );
        let status = c.one_of(request, "StatusEquals", "statusEquals", false, &STATUSES);
        let warm_pool_status = match kind {
            JobKind::Training => c.one_of(
                request,
                "WarmPoolStatusEquals",
                "warmPoolStatusEquals",
                false,
                &["Available", "Terminated", "Reused", "InUse"],
            ),
            JobKind::Transform => None,
        };
        let mut time = |key: &str| -> Option<f64> {
            match request.get(key) {
                None | Some(Value::Null) => None,
                // Whole milliseconds, as stored: "1795000009.123" must not become
                // ...9122.9999 and slip past an exclusive bound.
                Some(Value::Number(n)) => n.as_f64().map(|s| (s * 1000.0).round()),
                Some(other) => {
                    c.fail(
                        Some(other),
                        &member_path(key),
                        "Member must be a timestamp (epoch seconds)",
                    );
                    None
                }
            }
        };
        let created_after = time("CreationTimeAfter");
        let created_before = time("CreationTimeBefore");
        let modified_after = time("LastModifiedTimeAfter");
        let modified_before = time("LastModifiedTimeBefore");
        let sort_by = match c
            .one_of(
                request,
                "SortBy",
                "sortBy",
                false,
                &["Name", "CreationTime", "Status"],
            )
            .as_deref()
        {
            Some("Name") => SortBy::Name,
            Some("Status") => SortBy::Status,
            _ => SortBy::CreationTime,
        };
        let descending = c
            .one_of(
                request,
                "SortOrder",
                "sortOrder",
                false,
                &["Ascending", "Descending"],
            )
            .is_none_or(|order| order == "Descending");
        let max_results = c
            .integer(request, "MaxResults", "maxResults", false, 1, 100)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(10);
        let token = c.string(request, "NextToken", "nextToken", false, 0, 8192);
        if let Some(message) = c.message() {
            return Err(message);
        }
        let after = match token.filter(|t| !t.is_empty()) {
            Some(token) => Some(
                decode_token(&token, sort_by, descending)
                    .ok_or_else(|| "Invalid pagination token".to_string())?,
            ),
            None => None,
        };
        Ok(ListQuery {
            name_contains: name_contains.map(|s| s.to_lowercase()),
            status,
            warm_pool_status,
            created_after,
            created_before,
            modified_after,
            modified_before,
            sort_by,
            descending,
            max_results,
            after,
        })
    }
}

/// The token for resuming after `cursor`: base64 of a small JSON object, which also
/// names the order it belongs to (a token is refused in another order).
fn encode_token(cursor: &Cursor, sort_by: SortBy, descending: bool) -> String {
    let key = match &cursor.key {
        Key::Time(t) => json!(t),
        Key::Text(s) => json!(s),
    };
    let token = json!({
        "v": 1,
        "by": sort_by.as_str(),
        "desc": descending,
        "key": key,
        "name": cursor.name,
    });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_token(token: &str, sort_by: SortBy, descending: bool) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let token: Value = serde_json::from_slice(&bytes).ok()?;
    if token.get("v")? != 1
        || token.get("by")?.as_str()? != sort_by.as_str()
        || token.get("desc")?.as_bool()? != descending
    {
        return None;
    }
    let key = match sort_by {
        SortBy::CreationTime => Key::Time(token.get("key")?.as_u64()?),
        SortBy::Name | SortBy::Status => Key::Text(token.get("key")?.as_str()?.to_string()),
    };
    Some(Cursor {
        key,
        name: token.get("name")?.as_str()?.to_string(),
    })
}

/// One job as a list sees it.
struct Row<'a> {
    description: &'a Value,
    name: String,
    status: String,
    created: u64,
    modified: u64,
}

fn row(kind: JobKind, description: &Value) -> Option<Row<'_>> {
    let f = fields(kind);
    let created = millis(description.get("CreationTime")).unwrap_or(0);
    let modified = millis(description.get("LastModifiedTime")).unwrap_or_else(|| {
        [f.start, f.end]
            .iter()
            .filter_map(|key| millis(description.get(*key)))
            .fold(created, u64::max)
    });
    Some(Row {
        description,
        name: description.get(f.name)?.as_str()?.to_string(),
        status: description
            .get(f.status)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        created,
        modified,
    })
}

fn sort_key(row: &Row<'_>, sort_by: SortBy) -> Key {
    match sort_by {
        SortBy::CreationTime => Key::Time(row.created),
        SortBy::Name => Key::Text(row.name.clone()),
        SortBy::Status => Key::Text(row.status.clone()),
    }
}

/// The members of a `TrainingJobSummary` / `TransformJobSummary`.
const TRAINING_SUMMARY: [&str; 9] = [
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
const TRANSFORM_SUMMARY: [&str; 6] = [
    "TransformJobName",
    "TransformJobArn",
    "CreationTime",
    "TransformEndTime",
    "TransformJobStatus",
    "FailureReason",
];

fn summary(kind: JobKind, row: &Row<'_>) -> Value {
    let members: &[&str] = match kind {
        JobKind::Training => &TRAINING_SUMMARY,
        JobKind::Transform => &TRANSFORM_SUMMARY,
    };
    let mut s: Map<String, Value> = members
        .iter()
        .filter_map(|key| Some((key.to_string(), row.description.get(*key)?.clone())))
        .collect();
    s.entry("LastModifiedTime")
        .or_insert_with(|| json!(row.modified));
    to_wire(&Value::Object(s))
}

/// One page of ListTrainingJobs / ListTransformJobs over `descriptions`.
pub(crate) fn list_page(kind: JobKind, descriptions: &[Value], query: &ListQuery) -> Value {
    let status_matches = |row: &Row<'_>| query.status.as_ref().is_none_or(|s| row.status == *s);
    let mut rows: Vec<Row<'_>> = descriptions
        .iter()
        .filter_map(|d| row(kind, d))
        .filter(|r| {
            let (created, modified) = (r.created as f64, r.modified as f64);
            query
                .name_contains
                .as_ref()
                .is_none_or(|part| r.name.to_lowercase().contains(part.as_str()))
                && query.created_after.is_none_or(|t| created > t)
                && query.created_before.is_none_or(|t| created < t)
                && query.modified_after.is_none_or(|t| modified > t)
                && query.modified_before.is_none_or(|t| modified < t)
                && query.warm_pool_status.as_ref().is_none_or(|s| {
                    r.description
                        .pointer("/WarmPoolStatus/Status")
                        .and_then(Value::as_str)
                        == Some(s.as_str())
                })
        })
        // ListTrainingJobs filters by status after paging (see the module docs).
        .filter(|r| kind == JobKind::Training || status_matches(r))
        .collect();
    rows.sort_by(|a, b| {
        (sort_key(a, query.sort_by), &a.name).cmp(&(sort_key(b, query.sort_by), &b.name))
    });
    if query.descending {
        rows.reverse();
    }
    let start = match &query.after {
        None => 0,
        Some(cursor) => {
            let wanted = if query.descending {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            };
            rows.iter()
                .position(|r| {
                    (sort_key(r, query.sort_by), &r.name).cmp(&(cursor.key.clone(), &cursor.name))
                        == wanted
                })
                .unwrap_or(rows.len())
        }
    };
    let end = start.saturating_add(query.max_results).min(rows.len());
    let page = rows.get(start..end).unwrap_or_default();
    let summaries: Vec<Value> = page
        .iter()
        .filter(|r| status_matches(r))
        .map(|r| summary(kind, r))
        .collect();
    let list_key = match kind {
        JobKind::Training => "TrainingJobSummaries",
        JobKind::Transform => "TransformJobSummaries",
    };
    let mut answer = json!({ list_key: summaries });
    if let Some(last) = page.last().filter(|_| end < rows.len()) {
        let cursor = Cursor {
            key: sort_key(last, query.sort_by),
            name: last.name.clone(),
        };
        answer["NextToken"] = json!(encode_token(&cursor, query.sort_by, query.descending));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::super::{test_inner, ImageMap, JobRecord};
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;
    use tokio::sync::watch;

    fn sagemaker() -> LocalSageMaker {
        LocalSageMaker {
            inner: Arc::new(test_inner(
                ImageMap::from_json(&json!([]), std::path::Path::new("/")).unwrap(),
            )),
        }
    }

    fn training(name: &str, status: &str, created: u64) -> Value {
        json!({
            "TrainingJobName": name,
            "TrainingJobArn": format!("arn:aws:sagemaker:eu-central-1:123456789012:training-job/{}", name.to_lowercase()),
            "TrainingJobStatus": status,
            "SecondaryStatus": status,
            "CreationTime": created,
            "LastModifiedTime": created + 500,
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        })
    }

    fn transform(name: &str, status: &str, created: u64) -> Value {
        json!({
            "TransformJobName": name,
            "TransformJobArn": format!("arn:t/{name}"),
            "TransformJobStatus": status,
            "ModelName": "m",
            "CreationTime": created,
            "TransformStartTime": created + 100,
        })
    }

    /// Registers a job; the receiver is what the job's task would watch for a stop.
    fn add(sm: &LocalSageMaker, kind: JobKind, description: Value) -> watch::Receiver<bool> {
        let f = fields(kind);
        let status = description[f.status].as_str().unwrap().to_string();
        let record = JobRecord {
            name: description[f.name].as_str().unwrap().to_string(),
            arn: description[f.arn].as_str().unwrap().to_string(),
            kind,
            instance_type: "ml.m5.large".into(),
            instance_count: 1,
            billable_seconds: 0,
            status,
            secondary_status: None,
            failure_reason: None,
            dir: PathBuf::new(),
            from_earlier_run: false,
        };
        sm.inner.reserve(record, description).unwrap().1
    }

    fn call(sm: &LocalSageMaker, operation: &str, body: Value) -> Reply {
        dispatch(
            sm,
            Some(&format!("SageMaker.{operation}")),
            body.to_string().as_bytes(),
        )
    }

    fn query(kind: JobKind, body: Value) -> ListQuery {
        ListQuery::parse(kind, body.as_object().unwrap()).unwrap()
    }

    fn names(page: &Value, list: &str) -> Vec<String> {
        page[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s[list.replace("Summaries", "Name")]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn training_names(page: &Value) -> Vec<String> {
        names(page, "TrainingJobSummaries")
    }

    #[test]
    fn times_become_epoch_seconds_everywhere() {
        let d = json!({
            "CreationTime": 1_795_000_000_123u64,
            "TrainingStartTime": 1_795_000_001_000u64,
            "TrainingEndTime": 1_795_000_002_500u64,
            "LastModifiedTime": 1_795_000_002_500u64,
            "TransformStartTime": 1_000,
            "TransformEndTime": 2_000,
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": 1_000, "EndTime": 2_000, "StatusMessage": "m"},
                {"Status": "Training", "StartTime": 2_000}
            ],
            "FinalMetricDataList": [{"MetricName": "loss", "Value": 0.25, "Timestamp": 1_500}],
            "TrainingTimeInSeconds": 3,
            "HyperParameters": {"CreationTime": "not a time"}
        });
        let wire = to_wire(&d);
        assert_eq!(wire["CreationTime"], json!(1_795_000_000.123));
        assert_eq!(wire["TrainingStartTime"], json!(1_795_000_001.0));
        assert_eq!(wire["TrainingEndTime"], json!(1_795_000_002.5));
        assert_eq!(wire["LastModifiedTime"], json!(1_795_000_002.5));
        assert_eq!(wire["TransformStartTime"], json!(1.0));
        assert_eq!(wire["TransformEndTime"], json!(2.0));
        assert_eq!(
            wire["SecondaryStatusTransitions"],
            json!([
                {"Status": "Starting", "StartTime": 1.0, "EndTime": 2.0, "StatusMessage": "m"},
                {"Status": "Training", "StartTime": 2.0}
            ])
        );
        assert_eq!(wire["FinalMetricDataList"][0]["Timestamp"], json!(1.5));
        assert_eq!(wire["FinalMetricDataList"][0]["Value"], json!(0.25));
        assert_eq!(wire["TrainingTimeInSeconds"], json!(3));
        assert_eq!(wire["HyperParameters"]["CreationTime"], "not a time");
        assert_eq!(to_wire(&json!("x")), json!("x"));
        assert_eq!(
            to_wire(&json!({"CreationTime": "x"})),
            json!({"CreationTime": "x"})
        );
    }

    fn jobs() -> Vec<Value> {
        vec![
            training("p-text-train-a0", "Failed", 1_000),
            training("p-text-train-a1", "Completed", 2_000),
            training("P-TEXT-TRAIN-A2", "Completed", 3_000),
            training("other-job", "Completed", 4_000),
            training("p-image-train-a0", "InProgress", 5_000),
        ]
    }

    #[test]
    fn the_default_order_is_newest_first_ten_at_a_time() {
        let page = list_page(
            JobKind::Training,
            &jobs(),
            &query(JobKind::Training, json!({})),
        );
        assert_eq!(
            training_names(&page),
            [
                "p-image-train-a0",
                "other-job",
                "P-TEXT-TRAIN-A2",
                "p-text-train-a1",
                "p-text-train-a0"
            ]
        );
        assert!(page.get("NextToken").is_none());
        let many: Vec<Value> = (0..25)
            .map(|i| training(&format!("j{i:02}"), "Completed", i))
            .collect();
        let page = list_page(
            JobKind::Training,
            &many,
            &query(JobKind::Training, json!({})),
        );
        assert_eq!(page["TrainingJobSummaries"].as_array().unwrap().len(), 10);
        assert_eq!(training_names(&page)[0], "j24");
        assert!(page["NextToken"].is_string());
    }

    #[test]
    fn summaries_carry_the_summary_members_in_seconds() {
        let mut d = training("j", "Completed", 2_000);
        d["TrainingEndTime"] = json!(9_000);
        d["HyperParameters"] = json!({"a": "1"});
        let page = list_page(
            JobKind::Training,
            &[d],
            &query(JobKind::Training, json!({})),
        );
        assert_eq!(
            page["TrainingJobSummaries"][0],
            json!({
                "TrainingJobName": "j",
                "TrainingJobArn": "arn:aws:sagemaker:eu-central-1:123456789012:training-job/j",
                "CreationTime": 2.0,
                "TrainingEndTime": 9.0,
                "LastModifiedTime": 2.5,
                "TrainingJobStatus": "Completed",
                "SecondaryStatus": "Completed"
            })
        );
        let mut t = transform("t", "Failed", 1_000);
        t["TransformEndTime"] = json!(4_000);
        t["FailureReason"] = json!("boom");
        let page = list_page(
            JobKind::Transform,
            &[t],
            &query(JobKind::Transform, json!({})),
        );
        assert_eq!(
            page["TransformJobSummaries"][0],
            json!({
                "TransformJobName": "t",
                "TransformJobArn": "arn:t/t",
                "CreationTime": 1.0,
                "TransformEndTime": 4.0,
                "LastModifiedTime": 4.0,
                "TransformJobStatus": "Failed",
                "FailureReason": "boom"
            })
        );
    }

    #[test]
    fn name_contains_ignores_case_and_status_filters() {
        let q = query(
            JobKind::Training,
            json!({"NameContains": "p-Text-train-a", "StatusEquals": "Completed",
                   "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}),
        );
        let page = list_page(JobKind::Training, &jobs(), &q);
        assert_eq!(
            training_names(&page),
            ["P-TEXT-TRAIN-A2", "p-text-train-a1"]
        );
    }

    #[test]
    fn creation_and_modification_bounds_are_exclusive() {
        let q = query(
            JobKind::Training,
            json!({"CreationTimeAfter": 1.0, "CreationTimeBefore": 4.0, "SortOrder": "Ascending"}),
        );
        let page = list_page(JobKind::Training, &jobs(), &q);
        assert_eq!(
            training_names(&page),
            ["p-text-train-a1", "P-TEXT-TRAIN-A2"]
        );
        let q = query(
            JobKind::Training,
            json!({"LastModifiedTimeAfter": 3.5, "LastModifiedTimeBefore": 5.0}),
        );
        let page = list_page(JobKind::Training, &jobs(), &q);
        assert_eq!(training_names(&page), ["other-job"]);
    }

    #[test]
    fn sorting_by_name_and_status_breaks_ties_by_name() {
        let q = query(
            JobKind::Training,
            json!({"SortBy": "Name", "SortOrder": "Ascending"}),
        );
        assert_eq!(
            training_names(&list_page(JobKind::Training, &jobs(), &q)),
            [
                "P-TEXT-TRAIN-A2",
                "other-job",
                "p-image-train-a0",
                "p-text-train-a0",
                "p-text-train-a1"
            ]
        );
        let q = query(
            JobKind::Training,
            json!({"SortBy": "Status", "SortOrder": "Ascending"}),
        );
        assert_eq!(
            training_names(&list_page(JobKind::Training, &jobs(), &q)),
            [
                "P-TEXT-TRAIN-A2",
                "other-job",
                "p-text-train-a1",
                "p-text-train-a0",
                "p-image-train-a0"
            ]
        );
        let q = query(
            JobKind::Training,
            json!({"SortBy": "Status", "SortOrder": "Descending"}),
        );
        assert_eq!(
            training_names(&list_page(JobKind::Training, &jobs(), &q)),
            [
                "p-image-train-a0",
                "p-text-train-a0",
                "p-text-train-a1",
                "other-job",
                "P-TEXT-TRAIN-A2"
            ]
        );
    }

    /// Every page of a listing, following NextToken.
    fn all_pages(kind: JobKind, descriptions: &[Value], body: Value) -> Vec<Vec<String>> {
        let list = match kind {
            JobKind::Training => "TrainingJobSummaries",
            JobKind::Transform => "TransformJobSummaries",
        };
        let mut pages = Vec::new();
        let mut body = body;
        loop {
            let page = list_page(kind, descriptions, &query(kind, body.clone()));
            pages.push(names(&page, list));
            match page.get("NextToken").and_then(Value::as_str) {
                Some(token) => body["NextToken"] = json!(token),
                None => return pages,
            }
            assert!(pages.len() < 100, "paging does not end");
        }
    }

    #[test]
    fn paging_visits_every_job_once_in_every_order() {
        let many: Vec<Value> = (0..23)
            .map(|i| {
                training(
                    &format!("job-{i:02}"),
                    ["Completed", "Failed"][i as usize % 2],
                    1_000 + i % 5,
                )
            })
            .collect();
        for sort_by in ["CreationTime", "Name", "Status"] {
            for order in ["Ascending", "Descending"] {
                let pages = all_pages(
                    JobKind::Training,
                    &many,
                    json!({"MaxResults": 5, "SortBy": sort_by, "SortOrder": order}),
                );
                assert_eq!(pages.len(), 5, "{sort_by} {order}");
                assert!(pages[..4].iter().all(|p| p.len() == 5));
                let mut seen: Vec<String> = pages.concat();
                let whole = training_names(&list_page(
                    JobKind::Training,
                    &many,
                    &query(
                        JobKind::Training,
                        json!({"MaxResults": 100, "SortBy": sort_by, "SortOrder": order}),
                    ),
                ));
                assert_eq!(seen, whole, "{sort_by} {order}");
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), 23);
            }
        }
    }

    #[test]
    fn training_pages_are_taken_before_the_status_filter() {
        // API_ListTrainingJobs: MaxResults jobs are retrieved first, then filtered.
        let many: Vec<Value> = (0..6)
            .map(|i| {
                training(
                    &format!("j{i}"),
                    if i < 3 { "Failed" } else { "Completed" },
                    i,
                )
            })
            .collect();
        let pages = all_pages(
            JobKind::Training,
            &many,
            json!({"MaxResults": 3, "StatusEquals": "Failed", "SortOrder": "Descending"}),
        );
        assert_eq!(pages, [vec![], vec!["j2", "j1", "j0"]]);
        // ListTransformJobs filters first.
        let many: Vec<Value> = (0..6)
            .map(|i| {
                transform(
                    &format!("t{i}"),
                    if i < 3 { "Failed" } else { "Completed" },
                    i,
                )
            })
            .collect();
        let pages = all_pages(
            JobKind::Transform,
            &many,
            json!({"MaxResults": 3, "StatusEquals": "Failed"}),
        );
        assert_eq!(pages, [vec!["t2", "t1", "t0"]]);
    }

    #[test]
    fn a_job_created_between_pages_does_not_shift_the_next_page() {
        let mut many: Vec<Value> = (0..6)
            .map(|i| training(&format!("j{i}"), "Completed", i))
            .collect();
        let first = list_page(
            JobKind::Training,
            &many,
            &query(JobKind::Training, json!({"MaxResults": 3})),
        );
        assert_eq!(training_names(&first), ["j5", "j4", "j3"]);
        many.push(training("new", "Completed", 100));
        let second = list_page(
            JobKind::Training,
            &many,
            &query(
                JobKind::Training,
                json!({"MaxResults": 3, "NextToken": first["NextToken"]}),
            ),
        );
        assert_eq!(training_names(&second), ["j2", "j1", "j0"]);
        assert!(second.get("NextToken").is_none());
    }

    #[test]
    fn bad_list_requests_name_the_member() {
        for (body, expected) in [
            (json!({"MaxResults": 0}), "at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"),
            (json!({"MaxResults": 101}), "less than or equal to 100"),
            (json!({"MaxResults": "10"}), "Member must be an integer"),
            (json!({"StatusEquals": "Done"}), "at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set"),
            (json!({"SortBy": "Size"}), "'sortBy'"),
            (json!({"SortOrder": "Up"}), "'sortOrder'"),
            (json!({"NameContains": "a_b"}), "'nameContains'"),
            (json!({"NameContains": 5}), "Member must be a string"),
            (json!({"CreationTimeAfter": "yesterday"}), "'creationTimeAfter'"),
            (json!({"NextToken": "garbage"}), "Invalid pagination token"),
        ] {
            let e = ListQuery::parse(JobKind::Training, body.as_object().unwrap()).unwrap_err();
            assert!(e.contains(expected), "{body}: {e}");
        }
        // A token is only valid in the order that made it.
        let many: Vec<Value> = (0..3)
            .map(|i| training(&format!("j{i}"), "Completed", i))
            .collect();
        let page = list_page(
            JobKind::Training,
            &many,
            &query(JobKind::Training, json!({"MaxResults": 1})),
        );
        let token = page["NextToken"].clone();
        let e = ListQuery::parse(
            JobKind::Training,
            json!({"NextToken": token, "SortOrder": "Ascending"})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e, "Invalid pagination token");
    }

    #[test]
    fn describe_answers_in_seconds_or_not_found() {
        let sm = sagemaker();
        add(
            &sm,
            JobKind::Training,
            training("Job-A", "Completed", 2_000),
        );
        let reply = call(
            &sm,
            "DescribeTrainingJob",
            json!({"TrainingJobName": "job-a"}),
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["TrainingJobName"], "Job-A");
        assert_eq!(reply.body["CreationTime"], json!(2.0));
        let reply = call(
            &sm,
            "DescribeTrainingJob",
            json!({"TrainingJobName": "nope"}),
        );
        assert_eq!(
            reply,
            Reply {
                status: 400,
                body: json!({"__type": "ValidationException", "message": "Requested resource not found."})
            }
        );
        // A training job is not a transform job.
        let reply = call(
            &sm,
            "DescribeTransformJob",
            json!({"TransformJobName": "Job-A"}),
        );
        assert_eq!(reply.body["message"], NOT_FOUND_MESSAGE);
    }

    #[test]
    fn malformed_requests_are_validation_errors() {
        let sm = sagemaker();
        let reply = call(&sm, "DescribeTrainingJob", json!({}));
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["__type"], "ValidationException");
        assert_eq!(
            reply.body["message"],
            "1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"
        );
        let reply = call(&sm, "DescribeTransformJob", json!({"TransformJobName": 5}));
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("'transformJobName'"));
        let reply = call(
            &sm,
            "DescribeTrainingJob",
            json!({"TrainingJobName": "bad_name"}),
        );
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("regular expression pattern"));
        let reply = dispatch(&sm, Some("SageMaker.ListTrainingJobs"), b"{not json");
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["__type"], "ValidationException");
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"));
        let reply = dispatch(&sm, Some("SageMaker.ListTrainingJobs"), b"[1]");
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("JSON object"));
        // An empty body is an empty request.
        let reply = dispatch(&sm, Some("SageMaker.ListTrainingJobs"), b"");
        assert_eq!(reply, Reply::ok(json!({"TrainingJobSummaries": []})));
        let reply = dispatch(&sm, Some("SageMaker.ListTrainingJobs"), &[0xff, 0xfe]);
        assert_eq!(reply.status, 400);
    }

    #[test]
    fn unknown_operations_and_targets() {
        let sm = sagemaker();
        let reply = call(&sm, "CreateTrainingJob", json!({}));
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["__type"], "UnknownOperationException");
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("CreateTrainingJob"));
        for target in [None, Some("Other.DescribeTrainingJob"), Some("")] {
            let reply = dispatch(&sm, target, b"{}");
            assert_eq!(reply.body["__type"], "UnknownOperationException");
        }
    }

    #[test]
    fn describe_model_and_its_absence() {
        let sm = sagemaker();
        let description = json!({"ModelName": "Text-Model", "ModelArn": "arn:m", "CreationTime": 1_500,
                                 "PrimaryContainer": {"Image": "i"}});
        let model = super::super::store::model_of(&description).unwrap();
        super::super::lock(&sm.inner.registry).models.insert(
            "text-model".into(),
            super::super::StoredModel { model, description },
        );
        let reply = call(&sm, "DescribeModel", json!({"ModelName": "text-model"}));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["CreationTime"], json!(1.5));
        let reply = call(&sm, "DescribeModel", json!({"ModelName": "nope"}));
        assert_eq!(reply.body["__type"], "ValidationException");
        assert_eq!(
            reply.body["message"],
            "Could not find model \"arn:aws:sagemaker:eu-central-1:123456789012:model/nope\"."
        );
    }

    #[test]
    fn stopping_a_running_job_signals_it_and_a_finished_one_is_refused() {
        let sm = sagemaker();
        let stop = add(&sm, JobKind::Training, training("running", "InProgress", 1));
        add(&sm, JobKind::Transform, transform("done", "Completed", 1));
        let reply = call(
            &sm,
            "StopTrainingJob",
            json!({"TrainingJobName": "running"}),
        );
        assert_eq!(reply, Reply::ok(json!({})));
        assert!(*stop.borrow());
        let reply = call(&sm, "StopTransformJob", json!({"TransformJobName": "done"}));
        assert_eq!(
            reply.body["message"],
            "The request was rejected because the transform job is in status Completed."
        );
        let reply = call(
            &sm,
            "StopTrainingJob",
            json!({"TrainingJobName": "missing"}),
        );
        assert_eq!(reply.body["message"], NOT_FOUND_MESSAGE);
    }

    #[test]
    fn list_operations_answer_through_dispatch() {
        let sm = sagemaker();
        add(&sm, JobKind::Training, training("a", "Completed", 1_000));
        add(&sm, JobKind::Transform, transform("t", "Completed", 2_000));
        let reply = call(&sm, "ListTrainingJobs", json!({"NameContains": "A"}));
        assert_eq!(training_names(&reply.body), ["a"]);
        let reply = call(&sm, "ListTransformJobs", json!({}));
        assert_eq!(names(&reply.body, "TransformJobSummaries"), ["t"]);
        let reply = call(&sm, "ListTrainingJobs", json!({"MaxResults": 1000}));
        assert_eq!(reply.status, 400);
    }

    #[test]
    fn member_paths_are_camel_case() {
        assert_eq!(member_path("TrainingJobName"), "trainingJobName");
        assert_eq!(member_path(""), "");
    }
}
