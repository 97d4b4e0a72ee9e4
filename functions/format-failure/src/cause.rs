//! Reading the `Cause` strings Step Functions produces. A cause is untrusted text: it
//! may be JSON of several known shapes, plain text, empty, or megabytes of garbage, and
//! nothing here may fail on it.

use serde_json::{Map, Value};

use crate::text::one_line;

/// How long a reason may be: it is one line in an e-mail and in the function result.
pub const REASON_CHARS: usize = 400;

/// What a cause turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// Absent or blank.
    Empty,
    /// A Lambda function's error: `{"errorType", "errorMessage", "trace"}`.
    LambdaError {
        error_type: String,
        error_message: String,
    },
    /// A DescribeTrainingJob response (`createTrainingJob.sync` failed).
    TrainingJob(SageMakerJob),
    /// A DescribeTransformJob response (`createTransformJob.sync` failed).
    TransformJob(SageMakerJob),
    /// A DescribeJobs entry of AWS Batch (`batch:submitJob.sync` failed).
    BatchJob(BatchJob),
    /// The quality gate's verdict.
    QualityGate(QualityGate),
    /// JSON of no known shape.
    Json(Value),
    /// Anything else.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SageMakerJob {
    pub name: Option<String>,
    pub status: Option<String>,
    pub secondary_status: Option<String>,
    pub failure_reason: Option<String>,
    /// The last `SecondaryStatusTransitions[].StatusMessage`, the best fallback reason.
    pub last_status_message: Option<String>,
    pub instance_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchJob {
    pub name: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub container_reason: Option<String>,
    pub exit_code: Option<i64>,
    pub log_stream: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityGate {
    pub metric: Option<String>,
    pub threshold: Option<f64>,
    pub value: Option<f64>,
    pub reason: Option<String>,
}

/// A parsed cause plus the JSON it was, when it was JSON (for pretty-printing).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCause {
    pub cause: Cause,
    pub json: Option<Value>,
}

/// Reads a cause. Never fails: what is not a known shape is `Json` or `Text`.
pub fn parse(raw: Option<&str>) -> ParsedCause {
    let raw = raw.unwrap_or("");
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return ParsedCause {
            cause: Cause::Empty,
            json: None,
        };
    }
    let mut json = if trimmed.starts_with(['{', '[', '"']) {
        serde_json::from_str::<Value>(trimmed).ok()
    } else {
        None
    };
    // Some callers encode the JSON twice: a string holding a JSON document.
    if let Some(Value::String(inner)) = &json {
        let inner = inner.trim();
        json = if inner.starts_with(['{', '[']) {
            serde_json::from_str::<Value>(inner).ok()
        } else {
            None
        };
    }
    let cause = match &json {
        Some(Value::Object(map)) => from_object(map),
        Some(other) => Cause::Json(other.clone()),
        None => Cause::Text(raw.to_string()),
    };
    ParsedCause { cause, json }
}

fn from_object(map: &Map<String, Value>) -> Cause {
    if map.contains_key("errorType") || map.contains_key("errorMessage") {
        return Cause::LambdaError {
            error_type: text(map, "errorType").unwrap_or_else(|| "Error".to_string()),
            error_message: text(map, "errorMessage").unwrap_or_default(),
        };
    }
    if map.contains_key("TrainingJobName") || map.contains_key("TrainingJobStatus") {
        return Cause::TrainingJob(SageMakerJob {
            name: text(map, "TrainingJobName").or_else(|| arn_name(map, "TrainingJobArn")),
            status: text(map, "TrainingJobStatus"),
            secondary_status: text(map, "SecondaryStatus"),
            failure_reason: text(map, "FailureReason"),
            last_status_message: last_status_message(map),
            instance_type: map
                .get("ResourceConfig")
                .and_then(Value::as_object)
                .and_then(|rc| text(rc, "InstanceType")),
        });
    }
    if map.contains_key("TransformJobName") || map.contains_key("TransformJobStatus") {
        return Cause::TransformJob(SageMakerJob {
            name: text(map, "TransformJobName").or_else(|| arn_name(map, "TransformJobArn")),
            status: text(map, "TransformJobStatus"),
            failure_reason: text(map, "FailureReason"),
            instance_type: map
                .get("TransformResources")
                .and_then(Value::as_object)
                .and_then(|tr| text(tr, "InstanceType")),
            ..SageMakerJob::default()
        });
    }
    if (map.contains_key("JobName") || map.contains_key("JobId"))
        && (map.contains_key("Status") || map.contains_key("StatusReason"))
    {
        return Cause::BatchJob(batch_job(map));
    }
    if map.contains_key("metric") && (map.contains_key("threshold") || map.contains_key("passed")) {
        return Cause::QualityGate(QualityGate {
            metric: text(map, "metric"),
            threshold: map.get("threshold").and_then(Value::as_f64),
            value: map.get("value").and_then(Value::as_f64),
            reason: text(map, "reason"),
        });
    }
    Cause::Json(Value::Object(map.clone()))
}

fn batch_job(map: &Map<String, Value>) -> BatchJob {
    // The last attempt says most about why the job finally failed; the top-level
    // `Container` repeats it for single-node jobs.
    let last_attempt_container = map
        .get("Attempts")
        .and_then(Value::as_array)
        .and_then(|attempts| attempts.last())
        .and_then(|a| a.get("Container"))
        .and_then(Value::as_object);
    let container = map.get("Container").and_then(Value::as_object);
    let pick = |key: &str| {
        last_attempt_container
            .and_then(|c| text(c, key))
            .or_else(|| container.and_then(|c| text(c, key)))
    };
    let exit_code = last_attempt_container
        .and_then(|c| c.get("ExitCode"))
        .or_else(|| container.and_then(|c| c.get("ExitCode")))
        .and_then(Value::as_i64);
    BatchJob {
        name: text(map, "JobName").or_else(|| text(map, "JobId")),
        status: text(map, "Status"),
        status_reason: text(map, "StatusReason"),
        container_reason: pick("Reason"),
        exit_code,
        log_stream: pick("LogStreamName"),
    }
}

/// A member as text: strings as they are, numbers and booleans printed; blank → None.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    let s = match map.get(key)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.trim().is_empty()).then_some(s)
}

/// The resource name at the end of an ARN member (`...:training-job/NAME`).
fn arn_name(map: &Map<String, Value>, key: &str) -> Option<String> {
    let arn = text(map, key)?;
    arn.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn last_status_message(map: &Map<String, Value>) -> Option<String> {
    map.get("SecondaryStatusTransitions")?
        .as_array()?
        .iter()
        .rev()
        .filter_map(Value::as_object)
        .find_map(|t| text(t, "StatusMessage"))
}

impl Cause {
    /// The reason in one line, for the subject-level summary and the function result.
    /// `error` is the Step Functions error name, used when the cause says nothing.
    pub fn reason(&self, error: Option<&str>) -> String {
        let line = match self {
            Cause::Empty => match error {
                Some(e) => format!("{e} (no cause given)"),
                None => "no error or cause given".to_string(),
            },
            Cause::LambdaError {
                error_type,
                error_message,
            } => {
                if error_message.trim().is_empty() {
                    error_type.clone()
                } else {
                    format!("{error_type}: {error_message}")
                }
            }
            Cause::TrainingJob(job) => job_reason("Training job", job),
            Cause::TransformJob(job) => job_reason("Transform job", job),
            Cause::BatchJob(job) => batch_reason(job),
            Cause::QualityGate(gate) => gate_reason(gate),
            Cause::Json(value) => json_reason(value),
            Cause::Text(text) => text.clone(),
        };
        one_line(&line, REASON_CHARS)
    }
}

fn job_reason(what: &str, job: &SageMakerJob) -> String {
    let name = job.name.as_deref().unwrap_or("(unnamed)");
    let verb = match job.status.as_deref() {
        Some("Failed") | None => "failed".to_string(),
        Some("Stopped") => "was stopped".to_string(),
        Some(other) => format!("ended {other}"),
    };
    let detail = job
        .failure_reason
        .as_deref()
        .or(job.last_status_message.as_deref())
        .or(job.secondary_status.as_deref());
    match detail {
        Some(detail) => format!("{what} {name} {verb}: {detail}"),
        None => format!("{what} {name} {verb} (no FailureReason given)"),
    }
}

fn batch_reason(job: &BatchJob) -> String {
    let name = job.name.as_deref().unwrap_or("(unnamed)");
    let status = job.status.as_deref().unwrap_or("FAILED");
    let mut line = format!("Batch job {name} {status}");
    if let Some(reason) = &job.status_reason {
        line.push_str(": ");
        line.push_str(reason);
    }
    match (job.exit_code, &job.container_reason) {
        (Some(code), Some(reason)) => {
            line.push_str(&format!("; container exited with code {code}: {reason}"))
        }
        (Some(code), None) => line.push_str(&format!("; container exited with code {code}")),
        (None, Some(reason)) => line.push_str(&format!("; container: {reason}")),
        (None, None) => {}
    }
    line
}

fn gate_reason(gate: &QualityGate) -> String {
    let metric = gate.metric.as_deref().unwrap_or("the metric");
    let measured = match (gate.value, gate.threshold) {
        (Some(v), Some(t)) => format!("{metric} = {v} is below the threshold {t}"),
        (None, Some(t)) => format!("{metric} has no value (threshold {t})"),
        (Some(v), None) => format!("{metric} = {v} did not pass"),
        (None, None) => format!("{metric} did not pass"),
    };
    // The gate's own reason usually says the same as the numbers; keep it when it
    // adds something (it does not name the metric).
    match &gate.reason {
        Some(reason) if gate.metric.as_deref().is_some_and(|m| reason.contains(m)) => {
            format!("Quality gate not met: {reason}")
        }
        Some(reason) => format!("Quality gate not met: {measured} ({reason})"),
        None => format!("Quality gate not met: {measured}"),
    }
}

fn json_reason(value: &Value) -> String {
    if let Some(map) = value.as_object() {
        for key in [
            "errorMessage",
            "message",
            "Message",
            "reason",
            "Reason",
            "Cause",
        ] {
            if let Some(s) = text(map, key) {
                return s;
            }
        }
    }
    // No message member: the JSON itself, cut short by `one_line`.
    serde_json::to_string(value).unwrap_or_default()
}

/// The `Error Code: X` an AWS SDK exception text carries (`(Service: AmazonSageMaker;
/// Status Code: 400; Error Code: ResourceLimitExceeded; Request ID: ...)`).
pub fn aws_error_code(text: &str) -> Option<&str> {
    let start = text.find("Error Code: ")? + "Error Code: ".len();
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    rest.get(..end).filter(|s| !s.is_empty())
}

/// The first SageMaker instance type (`ml.p3.2xlarge`) named in `text`.
pub fn instance_type(text: &str) -> Option<&str> {
    let mut search = 0;
    while let Some(found) = text.get(search..)?.find("ml.") {
        let start = search + found;
        let preceded_ok = start == 0
            || !text
                .get(..start)
                .and_then(|s| s.chars().next_back())
                .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest = text.get(start..)?;
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        let candidate = rest.get(..end)?.trim_end_matches('.');
        // `ml.` + family + `.` + size, e.g. ml.p3.2xlarge; not `ml.` alone.
        if preceded_ok && candidate.matches('.').count() >= 2 {
            return Some(candidate);
        }
        search = start + 3;
    }
    None
}

/// The quota name in a ResourceLimitExceeded message: `'ml.p3.2xlarge for training job
/// usage'`.
pub fn quota_name(text: &str) -> Option<&str> {
    let start = text.find("'ml.")? + 1;
    let rest = text.get(start..)?;
    let end = rest.find('\'')?;
    rest.get(..end).filter(|s| s.len() <= 120)
}

/// The state named by a Step Functions runtime error (`An error occurred while executing
/// the state 'Aggregate Metrics' (entered at the event id #42)`).
pub fn state_named_in(text: &str) -> Option<&str> {
    for marker in ["executing the state '", "the state '", "state/task '"] {
        if let Some(pos) = text.find(marker) {
            let rest = text.get(pos + marker.len()..)?;
            let name = rest.get(..rest.find('\'')?)?;
            if !name.is_empty() && name.len() <= 80 && !name.starts_with("arn:") {
                return Some(name);
            }
        }
    }
    None
}

/// The first `s3://bucket` named in `text`, as the bucket name.
pub fn s3_bucket(text: &str) -> Option<&str> {
    let start = text.find("s3://")? + "s3://".len();
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    rest.get(..end).filter(|s| !s.is_empty())
}

/// The JSONPath a shared `FunctionError::invalid` message starts with (`$.a.b: problem`).
pub fn json_path(message: &str) -> Option<&str> {
    let message = message.trim_start();
    if !message.starts_with('$') {
        return None;
    }
    let end = message.find(": ")?;
    message.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_blank_causes() {
        assert_eq!(parse(None).cause, Cause::Empty);
        assert_eq!(parse(Some("  \n ")).cause, Cause::Empty);
        assert_eq!(
            parse(None).cause.reason(Some("States.Timeout")),
            "States.Timeout (no cause given)"
        );
        assert_eq!(parse(None).cause.reason(None), "no error or cause given");
    }

    #[test]
    fn lambda_errors() {
        let p = parse(Some(
            r#"{"errorType":"InvalidInput","errorMessage":"$.input_data: is required","trace":[]}"#,
        ));
        assert_eq!(
            p.cause,
            Cause::LambdaError {
                error_type: "InvalidInput".into(),
                error_message: "$.input_data: is required".into()
            }
        );
        assert_eq!(
            p.cause.reason(Some("InvalidInput")),
            "InvalidInput: $.input_data: is required"
        );
        assert!(p.json.is_some());
    }

    #[test]
    fn double_encoded_json_is_unwrapped() {
        let inner = r#"{"errorType":"ServiceUnavailable","errorMessage":"SlowDown"}"#;
        let outer = serde_json::to_string(inner).unwrap();
        let p = parse(Some(&outer));
        assert_eq!(p.cause.reason(None), "ServiceUnavailable: SlowDown");
    }

    #[test]
    fn a_json_string_that_is_not_json_inside_is_text() {
        let p = parse(Some(r#""just words""#));
        assert_eq!(p.cause, Cause::Text(r#""just words""#.into()));
    }

    #[test]
    fn training_job_reason_names_job_and_failure() {
        let cause = json!({
            "TrainingJobName": "ens-text-nightly-1",
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: CUDA out of memory",
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1}
        });
        let p = parse(Some(&cause.to_string()));
        let Cause::TrainingJob(job) = &p.cause else {
            panic!("{:?}", p.cause)
        };
        assert_eq!(job.instance_type.as_deref(), Some("ml.g5.xlarge"));
        assert_eq!(
            p.cause.reason(None),
            "Training job ens-text-nightly-1 failed: AlgorithmError: CUDA out of memory"
        );
    }

    #[test]
    fn training_job_without_failure_reason_uses_last_transition() {
        let cause = json!({
            "TrainingJobArn": "arn:aws:sagemaker:eu-central-1:123456789012:training-job/job-7",
            "TrainingJobStatus": "Stopped",
            "SecondaryStatus": "MaxRuntimeExceeded",
            "SecondaryStatusTransitions": [
                {"Status": "Training", "StatusMessage": "Training image download completed."},
                {"Status": "MaxRuntimeExceeded", "StatusMessage": "Job stopped: MaxRuntimeInSeconds reached"}
            ]
        });
        let p = parse(Some(&cause.to_string()));
        assert_eq!(
            p.cause.reason(None),
            "Training job job-7 was stopped: Job stopped: MaxRuntimeInSeconds reached"
        );
    }

    #[test]
    fn transform_job() {
        let cause = json!({"TransformJobName": "tj-1", "TransformJobStatus": "Failed",
            "FailureReason": "ClientError: See job logs for more information"});
        assert_eq!(
            parse(Some(&cause.to_string())).cause.reason(None),
            "Transform job tj-1 failed: ClientError: See job logs for more information"
        );
    }

    #[test]
    fn batch_job_uses_last_attempt() {
        let cause = json!({
            "JobName": "sequence-train", "JobId": "abc", "Status": "FAILED",
            "StatusReason": "Essential container in task exited",
            "Attempts": [
                {"Container": {"ExitCode": 1, "Reason": "first", "LogStreamName": "a/1"}},
                {"Container": {"ExitCode": 137, "Reason": "OutOfMemoryError: Container killed due to memory usage", "LogStreamName": "a/2"}}
            ]
        });
        let p = parse(Some(&cause.to_string()));
        let Cause::BatchJob(job) = &p.cause else {
            panic!("{:?}", p.cause)
        };
        assert_eq!(job.exit_code, Some(137));
        assert_eq!(job.log_stream.as_deref(), Some("a/2"));
        assert_eq!(
            p.cause.reason(None),
            "Batch job sequence-train FAILED: Essential container in task exited; container exited with code 137: OutOfMemoryError: Container killed due to memory usage"
        );
    }

    #[test]
    fn quality_gate() {
        let cause = json!({"metric": "validation:macro_f1", "threshold": 0.6, "value": 0.52,
            "passed": false, "reason": "macro F1 too low"});
        assert_eq!(
            parse(Some(&cause.to_string())).cause.reason(Some("QualityGateNotMet")),
            "Quality gate not met: validation:macro_f1 = 0.52 is below the threshold 0.6 (macro F1 too low)"
        );
    }

    #[test]
    fn other_json_uses_a_message_member_or_itself() {
        let p = parse(Some(r#"{"__type":"X","message":"Rate exceeded"}"#));
        assert_eq!(p.cause.reason(None), "Rate exceeded");
        let p = parse(Some("[1,2,3]"));
        assert_eq!(p.cause, Cause::Json(json!([1, 2, 3])));
        assert_eq!(p.cause.reason(None), "[1,2,3]");
    }

    #[test]
    fn broken_json_is_text() {
        let p = parse(Some("{\"errorType\": \"Invalid"));
        assert!(matches!(p.cause, Cause::Text(_)));
        assert!(p.json.is_none());
    }

    #[test]
    fn garbage_and_huge_text_give_a_short_clean_reason() {
        let garbage = "\u{0}\u{1b}[31m\u{FFFD}\u{FFFD}bad\u{202E}txt\r\n".repeat(200_000);
        let p = parse(Some(&garbage));
        let reason = p.cause.reason(None);
        assert!(reason.chars().count() <= REASON_CHARS);
        assert!(!reason.chars().any(|c| c.is_control()));
        assert!(!reason.contains('\u{202E}'));
    }

    #[test]
    fn helpers_extract_codes_types_and_names() {
        let text = "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances. (Service: AmazonSageMaker; Status Code: 400; Error Code: ResourceLimitExceeded; Request ID: x)";
        assert_eq!(aws_error_code(text), Some("ResourceLimitExceeded"));
        assert_eq!(instance_type(text), Some("ml.p3.2xlarge"));
        assert_eq!(
            quota_name(text),
            Some("ml.p3.2xlarge for training job usage")
        );
        assert_eq!(instance_type("html.x.y and ml. alone"), None);
        assert_eq!(
            state_named_in("An error occurred while executing the state 'Aggregate Metrics' (entered at the event id #42)."),
            Some("Aggregate Metrics")
        );
        assert_eq!(state_named_in("no state here"), None);
        assert_eq!(
            s3_bucket("source s3://other-bucket/data/ is not allowed"),
            Some("other-bucket")
        );
        assert_eq!(
            json_path("$.text_model.epochs: must be a number"),
            Some("$.text_model.epochs")
        );
        assert_eq!(json_path("nothing"), None);
    }
}
