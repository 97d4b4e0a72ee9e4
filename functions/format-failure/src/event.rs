//! The three event shapes this function accepts, validated field by field.
//!
//! Unknown top-level members are tolerated on purpose: this function runs on the
//! failure path, where refusing an event would lose the notification. Known members
//! must have the right types.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::json::{type_name, wrong_type, Object};
use shared::FunctionError;

use crate::text::split_camel_case;

/// EventBridge's `source` and `detail-type` for Step Functions status changes.
pub const EVENT_SOURCE: &str = "aws.states";
pub const EVENT_DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// A parsed Step Functions execution ARN
/// (`arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:nightly-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionArn {
    pub arn: String,
    pub partition: String,
    pub region: String,
    pub account: String,
    pub state_machine: String,
    pub name: String,
}

impl ExecutionArn {
    pub fn parse(path: &str, arn: &str) -> Result<ExecutionArn, FunctionError> {
        let bad = || {
            FunctionError::invalid(
                path,
                format!(
                    "must be a Step Functions execution ARN \
                     (arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME), got {}",
                    Value::String(crate::text::one_line(arn, 200))
                ),
            )
        };
        let parts: Vec<&str> = arn.splitn(8, ':').collect();
        let [prefix, partition, service, region, account, kind, state_machine, name] =
            parts.as_slice()
        else {
            return Err(bad());
        };
        let token_ok =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let valid = *prefix == "arn"
            && partition.starts_with("aws")
            && token_ok(partition)
            && *service == "states"
            && token_ok(region)
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && (*kind == "execution" || *kind == "express")
            && !state_machine.is_empty()
            && !name.is_empty()
            && !arn.chars().any(char::is_whitespace);
        if !valid {
            return Err(bad());
        }
        // Express execution ARNs end in `NAME:ID`; the name is the part before the id.
        let name = if *kind == "express" {
            name.split(':').next().unwrap_or(name)
        } else {
            name
        };
        Ok(ExecutionArn {
            arn: arn.to_string(),
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            state_machine: state_machine.to_string(),
            name: name.to_string(),
        })
    }
}

/// The execution a failure belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub arn: ExecutionArn,
    pub name: String,
    pub state_machine: String,
    /// As given (ISO 8601 from `$$.Execution.StartTime`, or formatted epoch ms).
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
    /// Run time in milliseconds, when both ends are known as numbers.
    pub duration_ms: Option<u64>,
}

/// One failed state as a Catch recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateFailure {
    /// The display name (`Train Sequence Model`), when known.
    pub state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// How the execution ended (or is ending, on the Catch path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Failed,
    TimedOut,
    Aborted,
    Other(String),
}

impl Status {
    pub fn parse(s: &str) -> Status {
        match s {
            "FAILED" => Status::Failed,
            "TIMED_OUT" => Status::TimedOut,
            "ABORTED" => Status::Aborted,
            other => Status::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
            Status::Other(s) => s,
        }
    }

    /// Whether this status is a failure worth telling.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Status::Other(_))
    }
}

/// Everything the formatter needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureReport {
    pub execution: Execution,
    pub status: Status,
    /// The failed states; the first is reported as the failure, the others mentioned.
    /// Never empty: an EventBridge event contributes one entry without a state name.
    pub failures: Vec<StateFailure>,
}

/// Where the event came from, which decides whether this function publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The state machine's failure path (`failure` map or flat `Error`): format only.
    Catch(FailureReport),
    /// An EventBridge status change: format and publish.
    EventBridge(FailureReport),
}

/// The `detail` of a "Step Functions Execution Status Change" event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    pub execution_arn: String,
    #[serde(default)]
    pub state_machine_arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub status: String,
    #[serde(default)]
    pub start_date: Option<u64>,
    #[serde(default)]
    pub stop_date: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// Reads an event of any accepted shape.
pub fn parse(event: &Value) -> Result<Request, FunctionError> {
    let root = Object::new("$", event)?;
    let map = root.map();
    if map.contains_key("detail-type") || (map.contains_key("source") && map.contains_key("detail"))
    {
        return parse_eventbridge(&root, event).map(Request::EventBridge);
    }
    if map.contains_key("failure") {
        return parse_catch(&root).map(Request::Catch);
    }
    if map.contains_key("Error") {
        return parse_flat(&root).map(Request::Catch);
    }
    Err(FunctionError::invalid(
        "$",
        "expected a `failure` object (the state machine's Catch path), a flat `Error` \
         with `execution`, or an EventBridge \"Step Functions Execution Status Change\" event",
    ))
}

fn parse_catch(root: &Object<'_>) -> Result<FailureReport, FunctionError> {
    let failure = root.object("failure")?;
    // Sorted explicitly: serde_json's map order depends on a crate feature.
    let mut keys: Vec<&String> = failure.map().keys().collect();
    keys.sort();
    if keys.is_empty() {
        return Err(FunctionError::invalid(
            failure.path(),
            "must name at least one failed state",
        ));
    }
    let mut failures = Vec::with_capacity(keys.len());
    for key in keys {
        if key.trim().is_empty() {
            return Err(FunctionError::invalid(
                &failure.child(key),
                "the state key must not be empty",
            ));
        }
        let entry = failure.object(key)?;
        let (error, cause) = error_and_cause(&entry)?;
        failures.push(StateFailure {
            state: Some(split_camel_case(key)),
            error: Some(error.to_string()),
            cause: cause.map(str::to_string),
        });
    }
    Ok(FailureReport {
        execution: parse_execution(root)?,
        status: Status::Failed,
        failures,
    })
}

fn parse_flat(root: &Object<'_>) -> Result<FailureReport, FunctionError> {
    let (error, cause) = error_and_cause(root)?;
    let state = root
        .opt_str("state")?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    Ok(FailureReport {
        execution: parse_execution(root)?,
        status: Status::Failed,
        failures: vec![StateFailure {
            state: state.map(str::to_string),
            error: Some(error.to_string()),
            cause: cause.map(str::to_string),
        }],
    })
}

/// `Error` (required, non-empty) and `Cause` (optional) of a Catch result.
fn error_and_cause<'a>(obj: &Object<'a>) -> Result<(&'a str, Option<&'a str>), FunctionError> {
    let error = obj.non_empty_str("Error")?;
    let cause = obj.opt_str("Cause")?;
    Ok((error, cause))
}

fn parse_execution(root: &Object<'_>) -> Result<Execution, FunctionError> {
    let execution = root.object("execution")?;
    let arn = ExecutionArn::parse(&execution.child("arn"), execution.non_empty_str("arn")?)?;
    let name = non_blank(execution.opt_str("name")?).unwrap_or(&arn.name);
    let state_machine =
        non_blank(execution.opt_str("state_machine")?).unwrap_or(&arn.state_machine);
    let start_time = non_blank(execution.opt_str("start_time")?).map(str::to_string);
    Ok(Execution {
        name: name.to_string(),
        state_machine: state_machine.to_string(),
        start_time,
        stop_time: None,
        duration_ms: None,
        arn,
    })
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

fn parse_eventbridge(root: &Object<'_>, event: &Value) -> Result<FailureReport, FunctionError> {
    let source = root.str("source")?;
    if source != EVENT_SOURCE {
        return Err(FunctionError::invalid(
            &root.child("source"),
            format!(
                "must be \"{EVENT_SOURCE}\", got {}",
                Value::String(source.into())
            ),
        ));
    }
    let detail_type = root.str("detail-type")?;
    if detail_type != EVENT_DETAIL_TYPE {
        return Err(FunctionError::invalid(
            &root.child("detail-type"),
            format!(
                "must be \"{EVENT_DETAIL_TYPE}\", got {}",
                Value::String(detail_type.into())
            ),
        ));
    }
    let detail = root.object("detail")?;
    let arn_path = detail.child("executionArn");
    ExecutionArn::parse(&arn_path, detail.non_empty_str("executionArn")?)?;
    detail.non_empty_str("status")?;
    for key in ["stateMachineArn", "name", "error", "cause"] {
        detail.opt_str(key)?;
    }
    for key in ["startDate", "stopDate"] {
        if let Some(value) = detail.get(key) {
            if value.as_u64().is_none() {
                return Err(wrong_type(
                    &detail.child(key),
                    "epoch milliseconds (a whole number)",
                    value,
                ));
            }
        }
    }
    if let Some(time) = root.get("time") {
        if !time.is_string() {
            return Err(wrong_type(
                &root.child("time"),
                "an RFC 3339 timestamp",
                time,
            ));
        }
    }
    // The members this function reads are checked above with their paths; the typed
    // event is the documented shape, and what else could fail (an unparsable `time`)
    // is reported against the whole event.
    let typed: EventBridgeEvent<ExecutionStatusChange> = serde_json::from_value(event.clone())
        .map_err(|e| {
            FunctionError::invalid(
                "$",
                format!(
                    "not a valid {EVENT_DETAIL_TYPE} event ({}): {e}",
                    type_name(event)
                ),
            )
        })?;
    Ok(report_from_eventbridge(typed.detail))
}

fn report_from_eventbridge(detail: ExecutionStatusChange) -> FailureReport {
    // Already validated by `parse_eventbridge`; a fallback keeps this total.
    let arn = ExecutionArn::parse("$.detail.executionArn", &detail.execution_arn).unwrap_or(
        ExecutionArn {
            arn: detail.execution_arn.clone(),
            partition: "aws".into(),
            region: String::new(),
            account: String::new(),
            state_machine: String::new(),
            name: String::new(),
        },
    );
    let name = non_blank(detail.name.as_deref())
        .unwrap_or(&arn.name)
        .to_string();
    let state_machine = detail
        .state_machine_arn
        .as_deref()
        .and_then(|a| a.rsplit(':').next())
        .filter(|s| !s.is_empty())
        .unwrap_or(&arn.state_machine)
        .to_string();
    let duration_ms = match (detail.start_date, detail.stop_date) {
        (Some(start), Some(stop)) => stop.checked_sub(start),
        _ => None,
    };
    FailureReport {
        execution: Execution {
            name,
            state_machine,
            start_time: detail.start_date.map(format_epoch_ms),
            stop_time: detail.stop_date.map(format_epoch_ms),
            duration_ms,
            arn,
        },
        status: Status::parse(&detail.status),
        failures: vec![StateFailure {
            state: None,
            error: detail.error.filter(|e| !e.trim().is_empty()),
            cause: detail.cause,
        }],
    }
}

/// Epoch milliseconds as an RFC 3339 UTC timestamp.
pub fn format_epoch_ms(ms: u64) -> String {
    let Ok(signed) = i64::try_from(ms) else {
        return format!("{ms} ms after the epoch");
    };
    aws_sdk_sns::primitives::DateTime::from_millis(signed)
        .fmt(aws_sdk_sns::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{ms} ms after the epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::ErrorKind;

    const ARN: &str =
        "arn:aws:states:eu-central-1:123456789012:execution:EnsembleTraining:nightly-2026-11-27";

    fn err(event: Value) -> String {
        let e = parse(&event).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        e.message
    }

    #[test]
    fn arns_parse_and_refuse() {
        let a = ExecutionArn::parse("$.x", ARN).unwrap();
        assert_eq!(a.region, "eu-central-1");
        assert_eq!(a.partition, "aws");
        assert_eq!(a.state_machine, "EnsembleTraining");
        assert_eq!(a.name, "nightly-2026-11-27");
        let express = ExecutionArn::parse(
            "$.x",
            "arn:aws:states:us-east-1:123456789012:express:SM:run-1:0b0e-11",
        )
        .unwrap();
        assert_eq!(express.name, "run-1");
        for bad in [
            "",
            "nightly",
            "arn:aws:lambda:eu-central-1:123456789012:function:f",
            "arn:aws:states:eu-central-1:123456789012:stateMachine:SM",
            "arn:aws:states:eu-central-1:12345:execution:SM:n",
            "arn:aws:states::123456789012:execution:SM:n",
            "arn:aws:states:eu-central-1:123456789012:execution:SM:",
            "arn:aws:states:eu central-1:123456789012:execution:SM:n",
        ] {
            let e = ExecutionArn::parse("$.execution.arn", bad).unwrap_err();
            assert!(
                e.message
                    .starts_with("$.execution.arn: must be a Step Functions execution ARN"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn catch_form_reads_all_keys_in_order() {
        let event = json!({
            "failure": {
                "TrainSequenceModel": {"Error": "States.TaskFailed", "Cause": "x"},
                "AggregateMetrics": {"Error": "States.Timeout"}
            },
            "execution": {"arn": ARN, "start_time": "2026-11-27T06:00:00.000Z"},
            "extra": {"anything": true}
        });
        let Request::Catch(report) = parse(&event).unwrap() else {
            panic!("not the Catch path")
        };
        assert_eq!(report.execution.name, "nightly-2026-11-27");
        assert_eq!(report.execution.state_machine, "EnsembleTraining");
        assert_eq!(report.failures.len(), 2);
        assert_eq!(
            report.failures[0].state.as_deref(),
            Some("Aggregate Metrics")
        );
        assert_eq!(report.failures[0].cause, None);
        assert_eq!(
            report.failures[1].state.as_deref(),
            Some("Train Sequence Model")
        );
    }

    #[test]
    fn flat_form() {
        let event = json!({"Error": "E", "Cause": "c", "state": "Train Text Model",
            "execution": {"arn": ARN, "name": "given-name", "state_machine": "SM2"}});
        let Request::Catch(report) = parse(&event).unwrap() else {
            panic!("not the Catch path")
        };
        assert_eq!(
            report.failures[0].state.as_deref(),
            Some("Train Text Model")
        );
        assert_eq!(report.execution.name, "given-name");
        assert_eq!(report.execution.state_machine, "SM2");
    }

    #[test]
    fn bad_events_name_the_field() {
        assert_eq!(err(json!([1])), "$: must be a JSON object, got an array");
        assert!(err(json!({"foo": 1})).starts_with("$: expected a `failure` object"));
        assert_eq!(
            err(json!({"failure": [], "execution": {"arn": ARN}})),
            "$.failure: must be a JSON object, got an array"
        );
        assert_eq!(
            err(json!({"failure": {}, "execution": {"arn": ARN}})),
            "$.failure: must name at least one failed state"
        );
        assert_eq!(
            err(json!({"failure": {"QualityGate": "oops"}, "execution": {"arn": ARN}})),
            "$.failure.QualityGate: must be a JSON object, got a string"
        );
        assert_eq!(
            err(json!({"failure": {"QualityGate": {"Error": 3}}, "execution": {"arn": ARN}})),
            "$.failure.QualityGate.Error: must be a string, got a number"
        );
        assert_eq!(
            err(json!({"failure": {"QualityGate": {"Cause": "c"}}, "execution": {"arn": ARN}})),
            "$.failure.QualityGate.Error: is required"
        );
        assert_eq!(
            err(
                json!({"failure": {"QualityGate": {"Error": "E", "Cause": {"a": 1}}}, "execution": {"arn": ARN}})
            ),
            "$.failure.QualityGate.Cause: must be a string, got an object"
        );
        assert_eq!(
            err(json!({"failure": {"QualityGate": {"Error": "E"}}})),
            "$.execution: is required"
        );
        assert!(err(json!({"Error": "E", "execution": {"arn": "nightly"}}))
            .starts_with("$.execution.arn: must be a Step Functions execution ARN"));
        assert_eq!(
            err(json!({"Error": "E", "state": 5, "execution": {"arn": ARN}})),
            "$.state: must be a string, got a number"
        );
        assert_eq!(
            err(json!({"Error": "", "execution": {"arn": ARN}})),
            "$.Error: must not be empty"
        );
    }

    fn eventbridge(detail: Value) -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": EVENT_DETAIL_TYPE, "source": EVENT_SOURCE,
            "account": "123456789012", "time": "2026-11-27T07:00:00Z", "region": "eu-central-1",
            "resources": [ARN], "detail": detail
        })
    }

    #[test]
    fn eventbridge_form() {
        let event = eventbridge(json!({
            "executionArn": ARN,
            "stateMachineArn": "arn:aws:states:eu-central-1:123456789012:stateMachine:EnsembleTraining",
            "name": "nightly-2026-11-27", "status": "TIMED_OUT",
            "startDate": 1_795_737_600_000u64, "stopDate": 1_795_744_800_000u64,
            "input": "{}", "inputDetails": {"included": true}, "output": null, "error": null, "cause": null
        }));
        let Request::EventBridge(report) = parse(&event).unwrap() else {
            panic!("not EventBridge")
        };
        assert_eq!(report.status, Status::TimedOut);
        assert_eq!(report.execution.duration_ms, Some(7_200_000));
        assert_eq!(
            report.execution.start_time.as_deref(),
            Some("2026-11-27T00:00:00Z")
        );
        assert_eq!(report.failures[0].error, None);
    }

    #[test]
    fn bad_eventbridge_events_name_the_field() {
        let mut event = eventbridge(json!({"executionArn": ARN, "status": "FAILED"}));
        event["source"] = json!("aws.batch");
        assert!(err(event).starts_with("$.source: must be \"aws.states\""));
        assert_eq!(
            err(eventbridge(json!({"status": "FAILED"}))),
            "$.detail.executionArn: is required"
        );
        assert_eq!(
            err(eventbridge(
                json!({"executionArn": ARN, "status": "FAILED", "startDate": "yesterday"})
            )),
            "$.detail.startDate: must be epoch milliseconds (a whole number), got a string"
        );
        assert_eq!(
            err(eventbridge(json!({"executionArn": ARN, "status": 1}))),
            "$.detail.status: must be a string, got a number"
        );
        assert_eq!(
            err(eventbridge(
                json!({"executionArn": ARN, "status": "FAILED", "cause": ["x"]})
            )),
            "$.detail.cause: must be a string, got an array"
        );
        let mut event = eventbridge(json!({"executionArn": ARN, "status": "FAILED"}));
        event["time"] = json!("not a time");
        assert!(err(event).starts_with("$: not a valid"));
        let mut event = eventbridge(json!({"executionArn": ARN, "status": "FAILED"}));
        event["detail-type"] = json!("EC2 Instance State-change Notification");
        assert!(err(event).starts_with("$[\"detail-type\"]: must be"));
    }

    #[test]
    fn epoch_formatting() {
        assert_eq!(format_epoch_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_epoch_ms(1_795_737_600_123),
            "2026-11-27T00:00:00.123Z"
        );
        assert!(format_epoch_ms(u64::MAX).contains("ms after the epoch"));
    }
}
