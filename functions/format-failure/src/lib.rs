//! format-failure: turns any failure of the training workflow into one readable SNS
//! notification (Subject + Message).
//!
//! Two callers: the state machine's failure path (`failure` map or flat `Error`), which
//! publishes the result itself, and an EventBridge rule on execution status changes
//! (failures no Catch can see), for which this function publishes. The formatting is
//! pure ([`notification::format`]); the handler only parses, formats and publishes.

pub mod cause;
pub mod config;
pub mod event;
pub mod notification;
pub mod text;

use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::Serialize;
use serde_json::Value;
use shared::FunctionError;

pub use config::Config;
pub use event::{FailureReport, Request, Status};
pub use notification::{format, Notification};

/// The error name of the state machine's own `Fail` state: such an execution was
/// already notified through the Catch path.
pub const NOTIFIED_FAIL_ERROR: &str = "EnsembleTrainingFailed";

/// The function result. `Subject` and `Message` are what the state machine's
/// `ResultSelector` reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    #[serde(rename = "Subject")]
    pub subject: String,
    #[serde(rename = "Message")]
    pub message: String,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    pub reason: String,
    pub status: String,
    pub execution: String,
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Outcome {
    fn new(report: &FailureReport, n: Notification) -> Outcome {
        Outcome {
            subject: n.subject,
            message: n.message,
            failed_state: n.failed_state,
            error: n.error,
            reason: n.reason,
            status: n.status,
            execution: report.execution.name.clone(),
            published: false,
            message_id: None,
            skipped: None,
        }
    }
}

/// The handler: `sns` is used only for EventBridge events.
pub async fn handle(
    event: Value,
    config: &Config,
    sns: &aws_sdk_sns::Client,
) -> Result<Outcome, FunctionError> {
    let request = event::parse(&event).inspect_err(|e| {
        tracing::warn!(error = %e, "event refused");
    })?;
    match request {
        Request::Catch(report) => {
            let outcome = Outcome::new(&report, format(&report, &config.subject_prefix));
            tracing::info!(
                execution = %outcome.execution,
                failed_state = outcome.failed_state.as_deref().unwrap_or(""),
                error = outcome.error.as_deref().unwrap_or(""),
                message_bytes = outcome.message.len(),
                "formatted a caught failure; the state machine publishes it"
            );
            Ok(outcome)
        }
        Request::EventBridge(report) => {
            let mut outcome = Outcome::new(&report, format(&report, &config.subject_prefix));
            if let Some(why) = skip_reason(&report) {
                tracing::info!(execution = %outcome.execution, status = %outcome.status, skipped = %why, "not published");
                outcome.skipped = Some(why);
                return Ok(outcome);
            }
            let topic = config.topic()?;
            let message_id = publish(sns, topic, &report, &outcome).await?;
            tracing::info!(
                execution = %outcome.execution,
                status = %outcome.status,
                topic,
                message_id = message_id.as_deref().unwrap_or(""),
                "published an uncaught failure"
            );
            outcome.published = true;
            outcome.message_id = message_id;
            Ok(outcome)
        }
    }
}

/// Why an EventBridge event is not published, if it is not.
pub fn skip_reason(report: &FailureReport) -> Option<String> {
    let error = report.failures.first().and_then(|f| f.error.as_deref());
    if error == Some(NOTIFIED_FAIL_ERROR) {
        return Some(format!(
            "error {NOTIFIED_FAIL_ERROR} comes from the state machine's Fail state: the \
             failure path already sent the notification"
        ));
    }
    if !report.status.is_failure() {
        return Some(format!(
            "status {} is not a failure (FAILED, TIMED_OUT, ABORTED)",
            text::one_line(report.status.as_str(), 40)
        ));
    }
    None
}

async fn publish(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    report: &FailureReport,
    outcome: &Outcome,
) -> Result<Option<String>, FunctionError> {
    let mut request = sns
        .publish()
        .topic_arn(topic)
        .subject(&outcome.subject)
        .message(&outcome.message);
    // Attributes let subscriptions filter (e.g. only TIMED_OUT to a pager).
    let attributes = [
        ("status", outcome.status.clone()),
        ("state_machine", report.execution.state_machine.clone()),
        ("execution", report.execution.name.clone()),
    ];
    for (name, value) in attributes {
        let value = text::one_line(&value, 256);
        if value.is_empty() {
            continue;
        }
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| {
                FunctionError::new(
                    shared::ErrorKind::AwsRequestFailed,
                    format!("SNS message attribute {name}: {e}"),
                )
            })?;
        request = request.message_attributes(name, attribute);
    }
    match request.send().await {
        Ok(output) => Ok(output.message_id().map(str::to_string)),
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let code = error.code().map(str::to_string);
            let kind = shared::aws::classify(status, code.as_deref());
            let detail = error
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| aws_sdk_sns::error::DisplayErrorContext(&error).to_string());
            tracing::error!(topic, ?status, code = code.as_deref().unwrap_or(""), error = %detail, "SNS Publish failed");
            Err(FunctionError::new(
                kind,
                format!(
                    "SNS Publish to {topic} failed ({}): {}",
                    code.as_deref().unwrap_or("no error code"),
                    text::one_line(&detail, 500)
                ),
            ))
        }
    }
}
