//! The pure part: a failure report in, an SNS Subject and Message out.

use std::fmt::Write as _;

use serde_json::Value;

use crate::cause::{self, BatchJob, Cause, ParsedCause, SageMakerJob};
use crate::event::{Execution, FailureReport, StateFailure, Status};
use crate::text::{
    ascii_line, clean_text, one_line, prefix_bytes, shorten_ascii, split_camel_case, state_key,
};

/// SNS refuses longer subjects.
pub const SUBJECT_MAX: usize = 100;
/// SNS allows 256 KB, but e-mail readers choke long before; the cause is cut to fit.
pub const MESSAGE_MAX: usize = 32 * 1024;
/// The subject's first word unless `SUBJECT_PREFIX` says otherwise.
pub const DEFAULT_SUBJECT_PREFIX: &str = "[ensemble-training]";
/// The states that run after `Base Model Training`: a rerun may reuse its models.
pub const STATES_AFTER_BASE_TRAINING: [&str; 5] = [
    "BaseModelInference",
    "TrainSequenceModel",
    "AggregateMetrics",
    "QualityGate",
    "NotifySuccess",
];
/// The longest state name kept in the subject, so the execution name keeps some room.
const SUBJECT_STATE_MAX: usize = 36;
/// At most this many further failed states are listed.
const OTHER_FAILURES_MAX: usize = 10;

/// What the notification says, plus the summary fields of the function result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub message: String,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    pub reason: String,
    pub status: String,
}

/// Formats a failure. Total: never fails and never panics, whatever the cause holds.
pub fn format(report: &FailureReport, subject_prefix: &str) -> Notification {
    let no_failure = StateFailure {
        state: None,
        error: None,
        cause: None,
    };
    let primary = report.failures.first().unwrap_or(&no_failure);
    let parsed = cause::parse(primary.cause.as_deref());
    let error = primary.error.as_deref().map(|e| one_line(e, 200));
    let failed_state = primary
        .state
        .as_deref()
        .or_else(|| primary.cause.as_deref().and_then(cause::state_named_in))
        .map(|s| one_line(s, 120))
        .filter(|s| !s.is_empty());
    let reason = reason(&report.status, error.as_deref(), &parsed.cause);
    let hints = hints(
        report,
        error.as_deref(),
        &parsed,
        primary.cause.as_deref().unwrap_or(""),
        failed_state.as_deref(),
    );
    let subject = subject(
        subject_prefix,
        report.status.as_str(),
        &report.execution.name,
        failed_state.as_deref(),
    );
    let message = message(
        report,
        failed_state.as_deref(),
        error.as_deref(),
        &reason,
        &hints,
        &parsed,
        primary.cause.as_deref(),
    );
    Notification {
        subject,
        message,
        failed_state,
        error,
        reason,
        status: report.status.as_str().to_string(),
    }
}

fn reason(status: &Status, error: Option<&str>, cause: &Cause) -> String {
    match (status, cause) {
        (Status::Aborted, Cause::Empty) => {
            "The execution was aborted: someone or something stopped it".to_string()
        }
        (Status::TimedOut, Cause::Empty) => {
            "The execution exceeded its execution timeout and was stopped".to_string()
        }
        _ => cause.reason(error),
    }
}

/// `[ensemble-training] FAILED nightly-2026-11-27 at Train Sequence Model`: at most 100
/// printable ASCII characters; the execution name is what gets cut.
pub fn subject(prefix: &str, status: &str, execution: &str, state: Option<&str>) -> String {
    let prefix = shorten_ascii(&ascii_line(prefix), 30);
    let status = shorten_ascii(&ascii_line(status), 16);
    let suffix = state
        .map(|s| shorten_ascii(&ascii_line(s), SUBJECT_STATE_MAX))
        .filter(|s| !s.is_empty())
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    let mut name = ascii_line(execution);
    if name.is_empty() {
        name = "(unnamed)".to_string();
    }
    let head = if prefix.is_empty() {
        status
    } else {
        format!("{prefix} {status}")
    };
    let room = SUBJECT_MAX.saturating_sub(head.len() + 1 + suffix.len());
    let name = shorten_ascii(&name, room);
    let subject = format!("{head} {name}{suffix}");
    // Belt and braces: the parts are bounded above, but the SNS limit is absolute.
    shorten_ascii(subject.trim_start(), SUBJECT_MAX)
}

fn message(
    report: &FailureReport,
    failed_state: Option<&str>,
    error: Option<&str>,
    reason: &str,
    hints: &[String],
    parsed: &ParsedCause,
    raw_cause: Option<&str>,
) -> String {
    let exec = &report.execution;
    let name = one_line(&exec.name, 200);
    let state_machine = one_line(&exec.state_machine, 200);
    let mut head = String::new();
    let status = one_line(report.status.as_str(), 40);
    let _ = match failed_state {
        Some(state) => writeln!(
            head,
            "Execution {name} of state machine {state_machine} {status} at state \"{state}\"."
        ),
        None => writeln!(
            head,
            "Execution {name} of state machine {state_machine} {status}."
        ),
    };
    head.push('\n');
    field(&mut head, "Execution", &name);
    field(&mut head, "Execution ARN", &one_line(&exec.arn.arn, 400));
    field(&mut head, "State machine", &state_machine);
    if let Some(start) = &exec.start_time {
        field(&mut head, "Started", &one_line(start, 60));
    }
    if let Some(stop) = &exec.stop_time {
        field(&mut head, "Stopped", &one_line(stop, 60));
    }
    if let Some(ms) = exec.duration_ms {
        field(&mut head, "Duration", &human_duration(ms));
    }
    field(&mut head, "Status", &status);
    field(
        &mut head,
        "Failed state",
        failed_state.unwrap_or("(not reported)"),
    );
    field(&mut head, "Error", error.unwrap_or("(none)"));
    field(&mut head, "Reason", reason);

    let others = report.failures.get(1..).unwrap_or(&[]);
    if !others.is_empty() {
        head.push_str("\nOther states reported as failed:\n");
        for other in others.iter().take(OTHER_FAILURES_MAX) {
            let state = other
                .state
                .as_deref()
                .map(|s| one_line(s, 120))
                .unwrap_or_else(|| "(unnamed state)".into());
            let error = other.error.as_deref().map(|e| one_line(e, 200));
            let other_reason = cause::parse(other.cause.as_deref())
                .cause
                .reason(error.as_deref());
            let _ = writeln!(
                head,
                "- {state}: {}: {}",
                error.as_deref().unwrap_or("(no error)"),
                one_line(&other_reason, 200)
            );
        }
        if others.len() > OTHER_FAILURES_MAX {
            let _ = writeln!(head, "- and {} more", others.len() - OTHER_FAILURES_MAX);
        }
    }

    head.push_str("\nOpen the execution in the Step Functions console:\n");
    match execution_console_link(exec) {
        Some(link) => head.push_str(&link),
        None => head.push_str(&format!(
            "(no console link for partition {}; look up the execution ARN above)",
            one_line(&exec.arn.partition, 40)
        )),
    }
    head.push_str("\n\nWhat to do next:\n");
    for hint in hints {
        let _ = writeln!(head, "- {hint}");
    }

    // Everything above is bounded; should it still be too long, cut it too.
    let head = prefix_bytes(&head, MESSAGE_MAX / 2).to_string();
    let mut message = head;
    append_cause(&mut message, parsed, raw_cause);
    prefix_bytes(&message, MESSAGE_MAX).to_string()
}

fn field(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{:<15}{value}", format!("{label}:"));
}

/// Appends the cause (pretty-printed when it is JSON), cut to what the message bound
/// leaves, with a note when cut.
fn append_cause(message: &mut String, parsed: &ParsedCause, raw: Option<&str>) {
    let raw = raw.unwrap_or("");
    if raw.trim().is_empty() {
        message.push_str("\nCause: (none given)\n");
        return;
    }
    let (title, details) = match &parsed.json {
        Some(json) => (
            "\nCause (JSON, pretty-printed):\n",
            serde_json::to_string_pretty(json).unwrap_or_else(|_| clean_text(raw)),
        ),
        None => ("\nCause:\n", clean_text(raw)),
    };
    message.push_str(title);
    // Room for the note below and a final newline.
    const NOTE_ROOM: usize = 200;
    let budget = MESSAGE_MAX
        .saturating_sub(message.len())
        .saturating_sub(NOTE_ROOM);
    if details.len() <= budget {
        message.push_str(details.trim_end());
        message.push('\n');
        return;
    }
    let shown = prefix_bytes(&details, budget);
    message.push_str(shown);
    let _ = write!(
        message,
        "\n[... cause truncated: showing the first {} of {} bytes; the full cause is in the \
         execution's event history]\n",
        shown.len(),
        details.len()
    );
}

/// `7200000` → `2h 0m 0s`.
pub fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// The console host of a partition; `None` for partitions without a public console.
pub fn console_host(partition: &str, region: &str) -> Option<String> {
    let domain = match partition {
        "aws" => "console.aws.amazon.com",
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => return None,
    };
    Some(format!("{region}.{domain}"))
}

/// `https://<region>.console.aws.amazon.com/states/home?region=<region>#/v2/executions/details/<arn>`
pub fn execution_console_link(exec: &Execution) -> Option<String> {
    let region = &exec.arn.region;
    let host = console_host(&exec.arn.partition, region)?;
    Some(format!(
        "https://{host}/states/home?region={region}#/v2/executions/details/{}",
        exec.arn.arn
    ))
}

/// A CloudWatch Logs console link to a log group, filtered to a stream prefix. The
/// console's fragment encodes `/` as `$252F`, `?` as `$3F` and `=` as `$3D`.
fn log_group_link(exec: &Execution, group: &str, stream_prefix: &str) -> Option<String> {
    let region = &exec.arn.region;
    let host = console_host(&exec.arn.partition, region)?;
    let safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    if !safe(group) || !safe(stream_prefix) {
        return None;
    }
    Some(format!(
        "https://{host}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}$3FlogStreamNameFilter$3D{}",
        group.replace('/', "$252F"),
        stream_prefix.replace('/', "$252F")
    ))
}

/// Collects hints without repeating one.
struct Hints(Vec<String>);

impl Hints {
    fn add(&mut self, hint: impl Into<String>) {
        let hint = hint.into();
        if !self.0.contains(&hint) {
            self.0.push(hint);
        }
    }
}

const TRANSIENT_ERRORS: [&str; 9] = [
    "ServiceUnavailable",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
    "ThrottlingException",
    "Batch.AWSBatchException",
];

/// "What to do next", most specific first.
fn hints(
    report: &FailureReport,
    error: Option<&str>,
    parsed: &ParsedCause,
    raw_cause: &str,
    failed_state: Option<&str>,
) -> Vec<String> {
    let exec = &report.execution;
    let mut hints = Hints(Vec::new());
    match report.status {
        Status::Aborted => hints.add(
            "The execution was aborted (StopExecution by a person or an automation; \
             CloudTrail's StopExecution event says who). If that was not intended, start it again.",
        ),
        Status::TimedOut => hints.add(
            "The execution ran longer than the state machine's TimeoutSeconds. Raise that \
             timeout (and the training MaxRuntimeInSeconds if a training was cut short), and \
             check in the SageMaker console that no job of this execution is still running.",
        ),
        _ => {}
    }

    // A Lambda function's own error name is the most precise name there is.
    let (name, lambda_message) = match &parsed.cause {
        Cause::LambdaError {
            error_type,
            error_message,
        } => (Some(error_type.as_str()), error_message.as_str()),
        _ => (error, ""),
    };
    let name = name.unwrap_or("");

    match name {
        "InvalidInput" => {
            let hint = match cause::json_path(lambda_message) {
                Some(path) => format!(
                    "Fix the field {path} of the execution input as the reason says, then \
                     start a new execution. If the input has no such field, the state machine \
                     passed it: check that state's Parameters."
                ),
                None => "Fix the execution input as the reason says, then start a new execution."
                    .to_string(),
            };
            hints.add(hint);
        }
        "ConfigurationError" => hints.add(
            "A function's environment variables are wrong (the reason names the variable): \
             fix the template or its parameters and redeploy.",
        ),
        "SourceNotAllowed" => {
            let bucket = cause::s3_bucket(lambda_message)
                .map(|b| format!("bucket {b}"))
                .unwrap_or_else(|| "source bucket".to_string());
            hints.add(format!(
                "Add the {bucket} to the AllowedSourceBuckets template parameter and redeploy \
                 (or copy the data into an allowed bucket), then start a new execution."
            ));
        }
        "SourceNotFound" => hints.add(
            "The input data location does not exist or holds no object: check input_data in \
             the execution input.",
        ),
        "AccessDenied" | "AccessDeniedException" | "States.Permissions" => hints.add(
            "An AWS call was refused: the cause names the action. Add it to the role's policy \
             in the template (or fix the bucket or KMS key policy), then rerun.",
        ),
        "AwsRequestFailed" => hints.add(
            "AWS refused a request for a reason retrying will not fix; the reason says which. \
             Fix it and rerun.",
        ),
        "TrainingJobNotFound" => hints.add(
            "A training job (or the earlier execution named by reuse_artifacts_from) does not \
             exist or did not complete: check reuse_artifacts_from, or train the base models \
             again (train_text_model / train_image_model true).",
        ),
        "QualityGateNotMet" => {}
        "States.Timeout" | "States.HeartbeatTimeout" => hints.add(
            "The state ran longer than its TimeoutSeconds (or missed a heartbeat). For a \
             training state raise TimeoutSeconds together with the job's MaxRuntimeInSeconds, \
             and check in SageMaker that the job was stopped.",
        ),
        "States.Runtime" => hints.add(
            "A state machine bug (a JSONPath that matches nothing, an intrinsic function on \
             the wrong type): retrying cannot help. Fix the definition; the cause names the \
             state and the path.",
        ),
        "States.DataLimitExceeded" => hints.add(
            "A state's input or output exceeded 256 KiB. Trim task results with \
             ResultSelector and pass S3 locations instead of data.",
        ),
        "States.NoChoiceMatched" => hints.add(
            "A Choice state got a value none of its rules match: check the flags in the \
             execution input.",
        ),
        "States.BranchFailed" => hints.add(
            "A branch of a Parallel or Map state failed; the cause carries the branch's error.",
        ),
        "Lambda.Unknown" | "Sandbox.Timedout" => hints.add(
            "The function crashed or timed out without reporting an error: read its CloudWatch \
             logs (/aws/lambda/<function name>) around the failure time; raise its timeout or \
             memory if it ran out.",
        ),
        "SageMaker.ResourceInUseException" | "SageMaker.ResourceInUse" => hints.add(
            "A SageMaker job with that name already exists (names are unique for ever): make \
             sure job names include the execution name and the retry count.",
        ),
        "SageMaker.ValidationException" | "SageMaker.ValidationError" => hints.add(
            "SageMaker refused the job parameters (the cause says which): fix the \
             configuration that Generate Config produced or the execution input.",
        ),
        n if n.starts_with("Runtime.") => hints.add(
            "The function's runtime failed (crash, out of memory, bad handler): read its \
             CloudWatch logs (/aws/lambda/<function name>).",
        ),
        n if TRANSIENT_ERRORS.contains(&n) => hints.add(
            "A transient AWS error outlasted the retries: start the execution again (see the \
             rerun hint below if it applies).",
        ),
        _ => {}
    }

    let code_in_text = cause::aws_error_code(raw_cause);
    if code_in_text.is_some_and(|c| c == "ThrottlingException" || c == "Throttling") {
        hints.add(
            "AWS throttled the request and the retries ran out: start the execution again \
             later.",
        );
    }

    match &parsed.cause {
        Cause::TrainingJob(job) => training_hints(&mut hints, exec, job),
        Cause::TransformJob(job) => transform_hints(&mut hints, exec, job),
        Cause::BatchJob(job) => batch_hints(&mut hints, exec, job),
        Cause::QualityGate(_) => quality_gate_hint(&mut hints),
        _ if name == "QualityGateNotMet" => quality_gate_hint(&mut hints),
        _ => {}
    }

    let limit_text = match &parsed.cause {
        Cause::TrainingJob(job) | Cause::TransformJob(job) => {
            job.failure_reason.clone().unwrap_or_default()
        }
        _ => raw_cause.to_string(),
    };
    if name.contains("ResourceLimitExceeded")
        || code_in_text == Some("ResourceLimitExceeded")
        || limit_text.contains("ResourceLimitExceeded")
    {
        let job_type = match &parsed.cause {
            Cause::TrainingJob(job) | Cause::TransformJob(job) => job.instance_type.clone(),
            _ => None,
        };
        let instance = cause::instance_type(&limit_text)
            .map(str::to_string)
            .or(job_type);
        let quota = cause::quota_name(&limit_text)
            .map(|q| format!(" (quota \"{}\")", one_line(q, 120)))
            .unwrap_or_default();
        hints.add(match instance {
            Some(instance) => format!(
                "Request a quota increase for {instance}{quota} in Service Quotas (Amazon \
                 SageMaker) in region {}, or choose an instance type with quota left; then rerun.",
                exec.arn.region
            ),
            None => format!(
                "Request a SageMaker quota increase for the instance type{quota} in Service \
                 Quotas in region {}, or choose another instance type; then rerun.",
                exec.arn.region
            ),
        });
    }

    if hints.0.is_empty() {
        hints.add(
            "Read the reason and the cause below, fix what they name, and start a new \
             execution.",
        );
    }

    let after_base_training = failed_state
        .map(state_key)
        .is_some_and(|key| STATES_AFTER_BASE_TRAINING.contains(&key.as_str()));
    if after_base_training {
        hints.add(rerun_hint(&exec.name));
    }
    hints.0
}

/// The rerun input that skips the base model trainings of this execution.
pub fn rerun_hint(execution_name: &str) -> String {
    format!(
        "The base models of this execution were trained. To rerun without training them again, \
         start a new execution with the same input plus:\n    \"train_text_model\": false, \
         \"train_image_model\": false, \"reuse_artifacts_from\": {}",
        Value::String(execution_name.to_string())
    )
}

fn quality_gate_hint(hints: &mut Hints) {
    hints.add(
        "The models trained but are not good enough: inspect this execution's metrics report \
         (written by Aggregate Metrics), then adjust the hyperparameters or the quality \
         threshold and rerun.",
    );
}

fn training_hints(hints: &mut Hints, exec: &Execution, job: &SageMakerJob) {
    let name = job.name.as_deref().unwrap_or("");
    let mut logs = format!(
        "Read the training job's logs: CloudWatch log group /aws/sagemaker/TrainingJobs, log \
         streams starting with {name}/"
    );
    if let Some(link) = log_group_link(exec, "/aws/sagemaker/TrainingJobs", &format!("{name}/")) {
        let _ = write!(logs, "\n  {link}");
    }
    if let (Some(host), false) = (
        console_host(&exec.arn.partition, &exec.arn.region),
        name.is_empty(),
    ) {
        let _ = write!(
            logs,
            "\n  Job: https://{host}/sagemaker/home?region={}#/jobs/{name}",
            exec.arn.region
        );
    }
    hints.add(logs);
    hints.add(
        "FailureReason is what the training script wrote to /opt/ml/output/failure; if it only \
         says AlgorithmError or ClientError, make the script write the real reason there.",
    );
    let reason = job.failure_reason.as_deref().unwrap_or("");
    if reason.contains("CapacityError") || reason.contains("InsufficientCapacity") {
        hints.add(
            "SageMaker had no capacity for the instance type: rerun later, or choose another \
             instance type.",
        );
    }
    if job.secondary_status.as_deref() == Some("MaxRuntimeExceeded") {
        hints.add("The job hit MaxRuntimeInSeconds: raise it, or train on fewer epochs.");
    }
}

fn transform_hints(hints: &mut Hints, exec: &Execution, job: &SageMakerJob) {
    let name = job.name.as_deref().unwrap_or("");
    let mut logs = format!(
        "Read the transform job's logs: CloudWatch log group /aws/sagemaker/TransformJobs, log \
         streams starting with {name}/"
    );
    if let Some(link) = log_group_link(exec, "/aws/sagemaker/TransformJobs", &format!("{name}/")) {
        let _ = write!(logs, "\n  {link}");
    }
    hints.add(logs);
}

fn batch_hints(hints: &mut Hints, exec: &Execution, job: &BatchJob) {
    let mut logs = "Read the Batch job's logs: CloudWatch log group /aws/batch/job".to_string();
    if let Some(stream) = &job.log_stream {
        let stream = one_line(stream, 300);
        let _ = write!(logs, ", log stream {stream}");
        if let Some(link) = log_group_link(exec, "/aws/batch/job", &stream) {
            let _ = write!(logs, "\n  {link}");
        }
    }
    hints.add(logs);
    if job.exit_code == Some(137) {
        hints.add(
            "Exit code 137 means the container was killed, usually for exceeding its memory: \
             raise the job definition's memory.",
        );
    }
}

/// The display name for a Catch key, exposed for documentation and tests.
pub fn display_name(state_key: &str) -> String {
    split_camel_case(state_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ExecutionArn, StateFailure};
    use serde_json::json;

    const ARN: &str =
        "arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:nightly-2026-11-27";

    fn report_with(arn: &str, status: Status, failures: Vec<StateFailure>) -> FailureReport {
        let arn = ExecutionArn::parse("$", arn).unwrap();
        FailureReport {
            execution: Execution {
                name: arn.name.clone(),
                state_machine: arn.state_machine.clone(),
                start_time: Some("2026-11-27T06:00:00.000Z".into()),
                stop_time: None,
                duration_ms: None,
                arn,
            },
            status,
            failures,
        }
    }

    fn failure(state: &str, error: &str, cause: &str) -> StateFailure {
        StateFailure {
            state: Some(display_name(state)),
            error: Some(error.into()),
            cause: Some(cause.into()),
        }
    }

    fn one(state: &str, error: &str, cause: &str) -> Notification {
        format(
            &report_with(ARN, Status::Failed, vec![failure(state, error, cause)]),
            DEFAULT_SUBJECT_PREFIX,
        )
    }

    fn assert_subject_ok(subject: &str) {
        assert!(
            subject.len() <= SUBJECT_MAX,
            "{} chars: {subject}",
            subject.len()
        );
        assert!(
            subject.chars().all(|c| (' '..='~').contains(&c)),
            "{subject}"
        );
        assert!(!subject.starts_with(' '));
        assert!(!subject.is_empty());
    }

    #[test]
    fn lambda_error_with_field_path() {
        let n = one(
            "GenerateConfig",
            "InvalidInput",
            r#"{"errorType":"InvalidInput","errorMessage":"$.input_data: is required","trace":[]}"#,
        );
        assert_eq!(
            n.subject,
            "[ensemble-training] FAILED nightly-2026-11-27 at Generate Config"
        );
        assert_eq!(n.reason, "InvalidInput: $.input_data: is required");
        assert!(n
            .message
            .contains("Fix the field $.input_data of the execution input"));
        assert!(
            n.message.contains("\"errorType\": \"InvalidInput\""),
            "pretty JSON"
        );
        assert!(!n.message.contains("reuse_artifacts_from"));
        assert_subject_ok(&n.subject);
    }

    #[test]
    fn every_function_error_name_has_a_specific_hint() {
        for (kind, expect) in [
            ("ConfigurationError", "environment variables"),
            ("SourceNotAllowed", "AllowedSourceBuckets"),
            ("SourceNotFound", "input_data"),
            ("AccessDenied", "role's policy"),
            ("ServiceUnavailable", "transient"),
            ("AwsRequestFailed", "retrying will not fix"),
            ("TrainingJobNotFound", "reuse_artifacts_from"),
        ] {
            let cause = json!({"errorType": kind, "errorMessage": "m s3://other-bucket/x"});
            let n = one("CopyExecutionData", kind, &cause.to_string());
            assert!(n.message.contains(expect), "{kind}: {}", n.message);
            assert!(
                !n.message.contains("Read the reason and the cause below"),
                "{kind}"
            );
        }
        let cause = json!({"errorType": "SourceNotAllowed", "errorMessage": "s3://other-bucket/x is not allowed"});
        let n = one("CopyExecutionData", "SourceNotAllowed", &cause.to_string());
        assert!(n
            .message
            .contains("Add the bucket other-bucket to the AllowedSourceBuckets"));
    }

    #[test]
    fn training_job_failure() {
        let cause = json!({
            "TrainingJobName": "ens-seq-nightly-2026-11-27-0",
            "TrainingJobArn": "arn:aws:sagemaker:eu-central-1:123456789012:training-job/ens-seq-nightly-2026-11-27-0",
            "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: ValueError: NaN loss at epoch 3, exit code: 1",
            "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "SecondaryStatusTransitions": [{"Status": "Starting", "StatusMessage": "Preparing"}]
        });
        let n = one(
            "TrainSequenceModel",
            "States.TaskFailed",
            &cause.to_string(),
        );
        assert_eq!(n.failed_state.as_deref(), Some("Train Sequence Model"));
        assert_eq!(
            n.reason,
            "Training job ens-seq-nightly-2026-11-27-0 failed: AlgorithmError: ValueError: NaN loss at epoch 3, exit code: 1"
        );
        assert!(n.message.contains(
            "/aws/sagemaker/TrainingJobs, log streams starting with ens-seq-nightly-2026-11-27-0/"
        ));
        assert!(n.message.contains("$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3Dens-seq-nightly-2026-11-27-0$252F"));
        assert!(n.message.contains("#/jobs/ens-seq-nightly-2026-11-27-0"));
        assert!(n.message.contains("/opt/ml/output/failure"));
        assert!(n
            .message
            .contains(r#""reuse_artifacts_from": "nightly-2026-11-27""#));
    }

    #[test]
    fn transform_job_failure() {
        let cause = json!({"TransformJobName": "ens-inf-1", "TransformJobStatus": "Failed",
            "FailureReason": "ClientError: See job logs for more information"});
        let n = one(
            "BaseModelInference",
            "States.TaskFailed",
            &cause.to_string(),
        );
        assert!(n
            .reason
            .starts_with("Transform job ens-inf-1 failed: ClientError"));
        assert!(n
            .message
            .contains("/aws/sagemaker/TransformJobs, log streams starting with ens-inf-1/"));
        assert!(
            n.message.contains("reuse_artifacts_from"),
            "after base training"
        );
    }

    #[test]
    fn batch_job_failure() {
        let cause = json!({"JobName": "seq", "Status": "FAILED", "StatusReason": "Essential container in task exited",
            "Attempts": [{"Container": {"ExitCode": 137, "Reason": "OutOfMemoryError", "LogStreamName": "seq/default/abc"}}]});
        let n = one(
            "TrainSequenceModel",
            "States.TaskFailed",
            &cause.to_string(),
        );
        assert!(n.reason.contains("container exited with code 137"));
        assert!(n.message.contains("log stream seq/default/abc"));
        assert!(n.message.contains("raise the job definition's memory"));
    }

    #[test]
    fn resource_limit_exceeded_plain_text() {
        let cause = "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota. (Service: AmazonSageMaker; Status Code: 400; Error Code: ResourceLimitExceeded; Request ID: 1b2c; Proxy: null)";
        let n = one(
            "BaseModelTraining",
            "SageMaker.ResourceLimitExceededException",
            cause,
        );
        assert!(n.message.contains("Request a quota increase for ml.p3.2xlarge (quota \"ml.p3.2xlarge for training job usage\")"), "{}", n.message);
        assert!(n.reason.starts_with("The account-level service limit"));
        assert!(
            !n.message.contains("reuse_artifacts_from"),
            "base training itself failed"
        );
    }

    #[test]
    fn sagemaker_throttling_is_transient() {
        let n = one(
            "BaseModelTraining",
            "SageMaker.AmazonSageMakerException",
            "Rate exceeded (Service: AmazonSageMaker; Status Code: 400; Error Code: ThrottlingException; Request ID: x)",
        );
        assert!(n.message.contains("transient AWS error"));
        assert!(n.message.contains("throttled"));
        let n = one(
            "BaseModelTraining",
            "SageMaker.AmazonSageMakerException",
            r#"{"message": "Internal error"}"#,
        );
        assert_eq!(n.reason, "Internal error");
    }

    #[test]
    fn quality_gate_not_met() {
        let cause = json!({"metric": "validation:macro_f1", "threshold": 0.6, "value": 0.52, "passed": false,
            "reason": "validation:macro_f1 0.52 < 0.6"});
        let n = one("QualityGate", "QualityGateNotMet", &cause.to_string());
        assert_eq!(
            n.reason,
            "Quality gate not met: validation:macro_f1 0.52 < 0.6"
        );
        assert!(n
            .message
            .contains("adjust the hyperparameters or the quality threshold"));
        assert!(n.message.contains("reuse_artifacts_from"));
    }

    #[test]
    fn states_errors_have_hints() {
        for (error, expect) in [
            ("States.Timeout", "TimeoutSeconds"),
            ("States.Runtime", "retrying cannot help"),
            ("States.DataLimitExceeded", "256 KiB"),
            ("States.NoChoiceMatched", "Choice state"),
            ("States.BranchFailed", "branch"),
            ("States.Permissions", "role's policy"),
            ("Lambda.ServiceException", "transient"),
            ("Lambda.TooManyRequestsException", "transient"),
            ("Lambda.Unknown", "/aws/lambda/"),
            ("Sandbox.Timedout", "/aws/lambda/"),
            ("Runtime.ExitError", "/aws/lambda/"),
            ("SageMaker.ResourceInUseException", "unique"),
            (
                "SageMaker.ValidationException",
                "refused the job parameters",
            ),
        ] {
            let n = one("AggregateMetrics", error, "something happened");
            assert!(n.message.contains(expect), "{error}: {}", n.message);
            assert_eq!(n.error.as_deref(), Some(error));
        }
        let n = one(
            "AggregateMetrics",
            "States.TaskFailed",
            "something happened",
        );
        assert!(n.message.contains("Read the reason and the cause below"));
    }

    #[test]
    fn empty_cause() {
        let n = one("AggregateMetrics", "States.Timeout", "");
        assert_eq!(n.reason, "States.Timeout (no cause given)");
        assert!(n.message.contains("Cause: (none given)"));
    }

    #[test]
    fn rerun_hint_only_after_base_training() {
        for key in [
            "GenerateConfig",
            "CopyExecutionData",
            "FetchPreprocessedData",
            "BaseModelTraining",
        ] {
            let n = one(key, "States.TaskFailed", "x");
            assert!(!n.message.contains("reuse_artifacts_from"), "{key}");
        }
        for key in STATES_AFTER_BASE_TRAINING {
            let n = one(key, "States.TaskFailed", "x");
            assert!(n.message.contains(
                r#""train_text_model": false, "train_image_model": false, "reuse_artifacts_from": "nightly-2026-11-27""#
            ), "{key}");
        }
    }

    #[test]
    fn subjects_stay_within_sns_rules() {
        let long = "x".repeat(80);
        let s = subject(
            DEFAULT_SUBJECT_PREFIX,
            "TIMED_OUT",
            &long,
            Some("Base Model Inference"),
        );
        assert_subject_ok(&s);
        assert!(s.starts_with("[ensemble-training] TIMED_OUT xxx"));
        assert!(s.ends_with("... at Base Model Inference"), "{s}");
        assert_eq!(s.len(), SUBJECT_MAX);

        let s = subject(
            DEFAULT_SUBJECT_PREFIX,
            "FAILED",
            "nächtlicher-lauf-训练",
            None,
        );
        assert_subject_ok(&s);
        assert_eq!(s, "[ensemble-training] FAILED n?chtlicher-lauf-??");

        let s = subject(" ", "FAILED", "\n\t", Some(&"Ä".repeat(300)));
        assert_subject_ok(&s);

        let s = subject(
            &"[p]".repeat(40),
            &"S".repeat(50),
            &"n".repeat(500),
            Some(&"s".repeat(500)),
        );
        assert_subject_ok(&s);
    }

    #[test]
    fn message_is_bounded_with_a_note() {
        let huge_text = "line of log output\n".repeat(300_000);
        let n = one("TrainSequenceModel", "States.TaskFailed", &huge_text);
        assert!(n.message.len() <= MESSAGE_MAX);
        assert!(n
            .message
            .contains("[... cause truncated: showing the first"));
        assert!(n.message.contains("What to do next"));
        assert!(n.message.contains("reuse_artifacts_from"));

        let huge_json =
            json!({"errorType": "AwsRequestFailed", "errorMessage": "é".repeat(3_000_000)});
        let n = one(
            "AggregateMetrics",
            "AwsRequestFailed",
            &huge_json.to_string(),
        );
        assert!(n.message.len() <= MESSAGE_MAX);
        assert!(n.reason.chars().count() <= cause::REASON_CHARS);
        assert!(n.message.contains("cause truncated"));
    }

    #[test]
    fn garbage_causes_are_cleaned() {
        let garbage = "\u{0}\u{1}\u{1b}[2J\u{FFFD}\u{202E}gnp.exe\r\nsecond";
        let n = one("AggregateMetrics", "States.TaskFailed", garbage);
        assert!(!n
            .message
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'));
        assert!(!n.message.contains('\u{202E}'));
        assert!(n.message.contains("\u{FFFD}gnp.exe\nsecond"));
    }

    #[test]
    fn console_links_per_partition() {
        let cases = [
            ("arn:aws:states:eu-central-1:123456789012:execution:SM:n",
             "https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1#/v2/executions/details/arn:aws:states:eu-central-1:123456789012:execution:SM:n"),
            ("arn:aws-cn:states:cn-north-1:123456789012:execution:SM:n",
             "https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/arn:aws-cn:states:cn-north-1:123456789012:execution:SM:n"),
            ("arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:SM:n",
             "https://us-gov-west-1.console.amazonaws-us-gov.com/states/home?region=us-gov-west-1#/v2/executions/details/arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:SM:n"),
        ];
        for (arn, link) in cases {
            let n = format(
                &report_with(arn, Status::Failed, vec![failure("QualityGate", "E", "c")]),
                DEFAULT_SUBJECT_PREFIX,
            );
            assert!(n.message.contains(link), "{arn}: {}", n.message);
        }
        let n = format(
            &report_with(
                "arn:aws-iso:states:us-iso-east-1:123456789012:execution:SM:n",
                Status::Failed,
                vec![failure("QualityGate", "E", "c")],
            ),
            DEFAULT_SUBJECT_PREFIX,
        );
        assert!(n.message.contains("no console link for partition aws-iso"));
    }

    #[test]
    fn several_failed_states_are_all_mentioned() {
        let report = report_with(
            ARN,
            Status::Failed,
            vec![
                failure("AggregateMetrics", "States.Timeout", ""),
                failure(
                    "TrainSequenceModel",
                    "States.TaskFailed",
                    r#"{"errorType":"X","errorMessage":"boom"}"#,
                ),
            ],
        );
        let n = format(&report, DEFAULT_SUBJECT_PREFIX);
        assert_eq!(n.failed_state.as_deref(), Some("Aggregate Metrics"));
        assert!(n.message.contains(
            "Other states reported as failed:\n- Train Sequence Model: States.TaskFailed: X: boom"
        ));
    }

    #[test]
    fn aborted_and_timed_out_without_cause() {
        let none = StateFailure {
            state: None,
            error: None,
            cause: None,
        };
        let n = format(
            &report_with(ARN, Status::Aborted, vec![none.clone()]),
            DEFAULT_SUBJECT_PREFIX,
        );
        assert_eq!(n.subject, "[ensemble-training] ABORTED nightly-2026-11-27");
        assert!(n.reason.contains("aborted"));
        assert!(n.message.contains("StopExecution"));
        assert!(n.message.contains("Failed state:  (not reported)"));
        let n = format(
            &report_with(ARN, Status::TimedOut, vec![none]),
            DEFAULT_SUBJECT_PREFIX,
        );
        assert!(n.reason.contains("exceeded its execution timeout"));
        assert!(n.message.contains("TimeoutSeconds"));
    }

    #[test]
    fn runtime_error_names_its_state() {
        let report = report_with(ARN, Status::Failed, vec![StateFailure {
            state: None,
            error: Some("States.Runtime".into()),
            cause: Some("An error occurred while executing the state 'Aggregate Metrics' (entered at the event id #42). The JSONPath '$.metrics' specified for the field 'InputPath' could not be found in the input '{}'".into()),
        }]);
        let n = format(&report, DEFAULT_SUBJECT_PREFIX);
        assert_eq!(n.failed_state.as_deref(), Some("Aggregate Metrics"));
        assert!(n.subject.ends_with(" at Aggregate Metrics"));
        assert!(n.message.contains("reuse_artifacts_from"));
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(5_000), "5s");
        assert_eq!(human_duration(65_000), "1m 5s");
        assert_eq!(human_duration(7_200_000), "2h 0m 0s");
    }
}
