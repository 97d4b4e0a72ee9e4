//! `arn:aws:states:::sns:publish` into an outbox: each message is appended as one JSON
//! line to a file (and echoed to stderr), and the task gets what the optimized
//! integration returns.
//!
//! Checks follow the SNS Publish API reference and what AWS answers (LocalStack's
//! AWS-validated SNS provider and Step Functions snapshots, read for their messages):
//! - a target is required: `TopicArn`, `TargetArn` or `PhoneNumber`;
//! - `Message` is required and non-empty; a JSON value that is not a string is sent as
//!   its JSON text (Step Functions serializes it: `{}` arrives as `"{}"`);
//! - `Subject`: UTF-8 "with no line breaks or control characters" and at most 100
//!   characters (the reference says "less than 100 characters long"; moto and other
//!   emulators refuse only above 100, and format-failure builds subjects of up to 100);
//! - `MessageStructure` `"json"`: the message must be a JSON object with a string
//!   `default` entry;
//! - `MessageAttributes`: names of `[A-Za-z0-9_.-]`, no leading/trailing/double dot,
//!   at most 256 bytes; `DataType` `String`/`Number`/`Binary` with an optional
//!   `.custom` suffix; a non-empty `StringValue` (or `BinaryValue` for Binary);
//!   Number values parse as numbers; at most 10 attributes (SNS quota);
//! - message + attributes at most 262,144 bytes;
//! - FIFO topics (`.fifo`) need `MessageGroupId`; `MessageDeduplicationId` is refused
//!   on a standard topic.
//!
//! Errors are named as Step Functions names SNS errors, `SNS.<Exception>`, with the
//! cause in the AWS Java SDK's form `<message> (Service: AmazonSNS; Status Code: 400;
//! Error Code: InvalidParameter; Request ID: <id>; Proxy: null)`.

use crate::util::json_type as kind;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::asl::AslError;
use crate::engine::iso;

/// SNS's size limit for message + attributes (Publish API reference).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// "Amazon SNS supports up to 10 message attributes" (sns-message-attributes).
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
pub const MAX_SUBJECT_CHARS: usize = 100;

/// The fields Step Functions passes on to Publish (docs: connect-sns, supported
/// parameters).
const SUPPORTED: [&str; 9] = [
    "Message",
    "MessageAttributes",
    "MessageStructure",
    "MessageDeduplicationId",
    "MessageGroupId",
    "PhoneNumber",
    "Subject",
    "TargetArn",
    "TopicArn",
];

/// Where published messages go.
pub struct Outbox {
    path: PathBuf,
    echo: bool,
    topics: Option<BTreeSet<String>>,
    write: Mutex<()>,
}

impl Outbox {
    /// Messages are appended to `path` (created with its parent directories on the first
    /// publish) and echoed to stderr.
    pub fn new(path: PathBuf) -> Outbox {
        Outbox {
            path,
            echo: true,
            topics: None,
            write: Mutex::new(()),
        }
    }

    /// Whether each message is also printed to stderr (default: yes).
    pub fn with_echo(mut self, echo: bool) -> Outbox {
        self.echo = echo;
        self
    }

    /// Only these topic ARNs exist: publishing to another fails as SNS does, with
    /// `SNS.NotFoundException` "Topic does not exist". By default every well-formed
    /// topic ARN is accepted.
    pub fn with_topics(mut self, topics: impl IntoIterator<Item = String>) -> Outbox {
        self.topics = Some(topics.into_iter().collect());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `arn:aws:states:::sns:publish`: checks the parameters, appends the message and
    /// returns the task result (`MessageId`, plus `SequenceNumber` for FIFO topics, and
    /// the SDK metadata Step Functions adds).
    pub async fn publish(&self, parameters: Value) -> Result<Value, AslError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let accepted = self.accept(&parameters, &request_id).await?;
        let fifo = accepted.sequence_number.is_some();
        let mut result = json!({
            "MessageId": accepted.message_id,
            "SdkHttpMetadata": sdk_http_metadata(&request_id, if fifo { 352 } else { 294 }),
            "SdkResponseMetadata": {"RequestId": request_id},
        });
        if let Some(sequence) = accepted.sequence_number {
            result["SequenceNumber"] = json!(sequence);
        }
        Ok(result)
    }

    /// Checks a Publish request (in the Step Functions parameter shape), appends it to
    /// the outbox and echoes it. Both ways to publish (the `sns:publish` task and the
    /// local SNS API that functions call) go through here, so a message is checked,
    /// recorded and shown the same whichever way it came. Errors are named as Step
    /// Functions names them (`SNS.<Exception>`, the cause ending in the SDK's
    /// `(Service: AmazonSNS; Status Code: ...; Error Code: ...; ...)`).
    pub(crate) async fn accept(
        &self,
        parameters: &Value,
        request_id: &str,
    ) -> Result<Accepted, AslError> {
        let message = validate(parameters, self.topics.as_ref(), request_id)?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let timestamp = iso(SystemTime::now());
        let record = json!({
            "timestamp": timestamp,
            "message_id": message_id,
            "topic_arn": message.topic_arn,
            "phone_number": message.phone_number,
            "subject": message.subject,
            "message": message.body,
            "message_structure": message.structure,
            "message_attributes": message.attributes,
            "message_group_id": message.group_id,
            "message_deduplication_id": message.deduplication_id,
        });
        {
            let _guard = self.write.lock().await;
            append_line(&self.path, &record).map_err(|e| {
                AslError::new(
                    "SNS.SdkClientException",
                    format!(
                        "sfn-local: cannot append to the SNS outbox {}: {e}",
                        self.path.display()
                    ),
                )
            })?;
        }
        if self.echo {
            eprintln!("{}", summary(&record));
        }
        Ok(Accepted {
            message_id,
            sequence_number: message.fifo.then(sequence_number),
        })
    }

    /// Every message published so far, oldest first (an absent file: none).
    pub fn messages(&self) -> Result<Vec<Value>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(format!(
                    "cannot read the SNS outbox {}: {e}",
                    self.path.display()
                ))
            }
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| format!("{}:{}: not a JSON line: {e}", self.path.display(), i + 1))
            })
            .collect()
    }
}

/// A message the outbox took: what either way of publishing answers with.
pub(crate) struct Accepted {
    pub message_id: String,
    /// Set for FIFO topics only, as SNS sets it.
    pub sequence_number: Option<String>,
}

/// A checked Publish request.
struct Message {
    topic_arn: Option<String>,
    phone_number: Option<String>,
    subject: Option<String>,
    body: String,
    structure: Option<String>,
    attributes: Value,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    fifo: bool,
}

fn validate(
    parameters: &Value,
    topics: Option<&BTreeSet<String>>,
    request_id: &str,
) -> Result<Message, AslError> {
    let p = parameters.as_object().ok_or_else(|| {
        AslError::runtime(format!(
            "sns:publish: the Parameters must be a JSON object, got {}",
            kind(parameters)
        ))
    })?;
    if let Some(field) = p.keys().find(|k| !SUPPORTED.contains(&k.as_str())) {
        // Step Functions refuses the definition (SCHEMA_VALIDATION_FAILED); at run time
        // the closest is a runtime error.
        return Err(AslError::runtime(format!(
            "sns:publish: the field \"{field}\" is not supported by Step Functions (supported: {})",
            SUPPORTED.join(", ")
        )));
    }
    let invalid = |message: String| {
        sns_error(
            "InvalidParameter",
            "InvalidParameterException",
            400,
            &message,
            request_id,
        )
    };
    let text = |name: &str| -> Result<Option<String>, AslError> {
        match p.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid(format!(
                "Invalid parameter: {name} Reason: must be a string, got {}",
                kind(other)
            ))),
        }
    };

    let topic_arn = text("TopicArn")?;
    let target_arn = text("TargetArn")?;
    let phone_number = text("PhoneNumber")?;
    let destination = topic_arn.clone().or_else(|| target_arn.clone());
    if destination.is_none() && phone_number.is_none() {
        return Err(invalid(
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
                .into(),
        ));
    }
    if let Some(arn) = &destination {
        let field = if topic_arn.is_some() {
            "TopicArn"
        } else {
            "TargetArn"
        };
        if !is_sns_arn(arn) {
            return Err(invalid(format!("Invalid parameter: {field}")));
        }
        if let Some(known) = topics {
            if !known.contains(arn) {
                return Err(sns_error(
                    "NotFound",
                    "NotFoundException",
                    404,
                    "Topic does not exist",
                    request_id,
                ));
            }
        }
    }
    if let Some(phone) = &phone_number {
        if !is_e164(phone) {
            return Err(invalid(format!(
                "Invalid parameter: PhoneNumber Reason: {phone} is not valid to publish to"
            )));
        }
    }

    let subject = text("Subject")?;
    if let Some(s) = &subject {
        if s.is_empty() || s.chars().count() > MAX_SUBJECT_CHARS || s.chars().any(char::is_control)
        {
            return Err(invalid("Invalid parameter: Subject".into()));
        }
    }

    // Step Functions serializes a Message that is not a string (docs: connect-sns).
    let body = match p.get("Message") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if body.is_empty() {
        return Err(invalid("Invalid parameter: Empty message".into()));
    }

    let structure = text("MessageStructure")?;
    if let Some(s) = &structure {
        if s != "json" {
            return Err(invalid(format!(
                "Invalid parameter: MessageStructure Reason: the only valid value is \"json\", got {s:?}"
            )));
        }
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Object(entries)) => {
                if !matches!(entries.get("default"), Some(Value::String(_))) {
                    return Err(invalid(
                        "Invalid parameter: Message Structure - No default entry in JSON message body".into(),
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    "Invalid parameter: Message Structure - JSON message body failed to parse"
                        .into(),
                ))
            }
        }
    }

    let attributes = match p.get("MessageAttributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "Invalid parameter: MessageAttributes Reason: must be an object, got {}",
                kind(other)
            )))
        }
    };
    validate_attributes(&attributes, request_id)?;

    let size = body.len()
        + attributes
            .iter()
            .map(|(name, attr)| {
                name.len()
                    + attr
                        .as_object()
                        .map(|a| {
                            a.values()
                                .map(|v| v.as_str().map_or(0, str::len))
                                .sum::<usize>()
                        })
                        .unwrap_or(0)
            })
            .sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return Err(invalid("Invalid parameter: Message too long".into()));
    }

    let group_id = text("MessageGroupId")?;
    let deduplication_id = text("MessageDeduplicationId")?;
    let fifo = destination
        .as_deref()
        .is_some_and(|arn| arn.ends_with(".fifo"));
    if fifo && group_id.is_none() {
        return Err(invalid(
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics".into(),
        ));
    }
    if !fifo && deduplication_id.is_some() {
        return Err(invalid(
            "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type".into(),
        ));
    }

    Ok(Message {
        topic_arn: destination,
        phone_number,
        subject,
        body,
        structure,
        attributes: Value::Object(attributes),
        group_id,
        deduplication_id,
        fifo,
    })
}

fn validate_attributes(attributes: &Map<String, Value>, request_id: &str) -> Result<(), AslError> {
    let value_error = |message: String| {
        sns_error(
            "InvalidParameterValue",
            "InvalidParameterValueException",
            400,
            &message,
            request_id,
        )
    };
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(value_error(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, attr) in attributes {
        if name.len() > 256 {
            return Err(value_error(
                "Length of message attribute name must be less than 256 bytes.".into(),
            ));
        }
        check_attribute_name(name).map_err(value_error)?;
        let attr = attr.as_object().ok_or_else(|| {
            value_error(format!(
                "The message attribute '{name}' must be an object with DataType and StringValue or BinaryValue, got {}",
                kind(attr)
            ))
        })?;
        let data_type = match attr.get("DataType") {
            Some(Value::String(t)) => t.as_str(),
            // An unmodeled error code: the Java SDK's generic exception.
            _ => {
                return Err(sns_error(
                    "ValidationError",
                    "AmazonSNSException",
                    400,
                    &format!(
                        "1 validation error detected: Value null at 'messageAttributes.{name}.member.dataType' failed to satisfy constraint: Member must not be null"
                    ),
                    request_id,
                ))
            }
        };
        let base = data_type
            .split_once('.')
            .map_or(data_type, |(base, _)| base);
        let custom_ok = data_type
            .split_once('.')
            .is_none_or(|(_, custom)| !custom.is_empty());
        if !matches!(base, "String" | "Number" | "Binary") || !custom_ok {
            return Err(value_error(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let field = if base == "Binary" {
            "BinaryValue"
        } else {
            "StringValue"
        };
        let value = match attr.get(field) {
            Some(Value::String(v)) => v.as_str(),
            Some(_) | None => {
                let other = if base == "Binary" {
                    "StringValue"
                } else {
                    "BinaryValue"
                };
                let message = if attr.contains_key(other) {
                    format!(
                        "The message attribute '{name}' with type '{data_type}' must use field '{}'.",
                        if base == "Binary" { "Binary" } else { "String" }
                    )
                } else {
                    format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
                    )
                };
                return Err(value_error(message));
            }
        };
        if value.is_empty() {
            return Err(value_error(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )));
        }
        if base == "Number" && value.trim().parse::<f64>().map_or(true, |n| !n.is_finite()) {
            return Err(value_error(format!(
                "Could not cast message attribute '{name}' value to number."
            )));
        }
    }
    Ok(())
}

/// Message attribute names (sns-message-attributes): `A-Z a-z 0-9 _ - .`, not starting
/// or ending with a dot, no two dots in a row. Messages as SNS words them.
fn check_attribute_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Invalid message attribute name: the name is empty.".into());
    }
    if name.starts_with('.') {
        return Err("Invalid message attribute name starting with character '.' was found.".into());
    }
    if name.ends_with('.') {
        return Err("Invalid message attribute name ending with character '.' was found.".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            u32::from(c)
        ));
    }
    if name.contains("..") {
        return Err("Message attribute name can not have successive '.' character.".into());
    }
    Ok(())
}

/// `arn:aws[-partition]:sns:<region>:<12 digits>:<name>` (a topic or endpoint ARN).
fn is_sns_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "sns", region, account, name]
        if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty())
}

/// E.164 (`^\+?[1-9]\d{1,14}$`): 2 to 15 digits, the first not 0.
fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// An SNS error as Step Functions reports it.
fn sns_error(
    code: &str,
    exception: &str,
    status: u16,
    message: &str,
    request_id: &str,
) -> AslError {
    AslError::new(
        format!("SNS.{exception}"),
        format!(
            "{message} (Service: AmazonSNS; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"
        ),
    )
}

/// The `SdkHttpMetadata` Step Functions adds to an SNS result (Publish answers XML).
fn sdk_http_metadata(request_id: &str, content_length: usize) -> Value {
    let date = http_date(SystemTime::now());
    let length = content_length.to_string();
    json!({
        "AllHttpHeaders": {
            "x-amzn-RequestId": [request_id],
            "connection": ["keep-alive"],
            "Content-Length": [length],
            "Date": [date],
            "Content-Type": ["text/xml"],
        },
        "HttpHeaders": {
            "connection": "keep-alive",
            "Content-Length": length,
            "Content-Type": "text/xml",
            "Date": date,
            "x-amzn-RequestId": request_id,
        },
        "HttpStatusCode": 200,
    })
}

/// A FIFO topic's 20-digit sequence number: increasing, from the clock.
fn sequence_number() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:020}", nanos % 100_000_000_000_000_000_000u128)
}

/// RFC 7231 date, as HTTP `Date` headers carry it.
pub(crate) fn http_date(t: SystemTime) -> String {
    // iso() gives "YYYY-MM-DDTHH:MM:SS.mmmZ"; reuse its calendar arithmetic.
    let stamp = iso(t);
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((secs / 86_400) % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let year = stamp.get(0..4).unwrap_or("1970");
    let month = stamp
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| months.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let day = stamp.get(8..10).unwrap_or("01");
    let time = stamp.get(11..19).unwrap_or("00:00:00");
    format!("{weekday}, {day} {month} {year} {time} GMT")
}

fn append_line(path: &Path, record: &Value) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = record.to_string();
    line.push('\n');
    file.write_all(line.as_bytes())
}

/// A short block for a person watching the run.
fn summary(record: &Value) -> String {
    let to = record["topic_arn"]
        .as_str()
        .or_else(|| record["phone_number"].as_str())
        .unwrap_or("?");
    let mut out = format!(
        "── SNS publish → {to} (MessageId {})",
        record["message_id"].as_str().unwrap_or("")
    );
    if let Some(subject) = record["subject"].as_str() {
        out.push_str(&format!("\n   Subject: {subject}"));
    }
    let message = record["message"].as_str().unwrap_or("");
    let lines: Vec<&str> = message.lines().collect();
    for line in lines.iter().take(12) {
        out.push_str("\n   ");
        out.push_str(line);
    }
    if lines.len() > 12 {
        out.push_str(&format!("\n   … ({} more lines)", lines.len() - 12));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::names;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ensemble-notifications";

    fn check(p: Value) -> Result<Message, AslError> {
        validate(&p, None, "req-1")
    }

    fn error(p: Value) -> AslError {
        match check(p) {
            Ok(m) => panic!("expected an error, got a message to {:?}", m.topic_arn),
            Err(e) => e,
        }
    }

    fn invalid_parameter(p: Value, message: &str) {
        let e = error(p);
        assert_eq!(e.error, "SNS.InvalidParameterException", "{e}");
        assert_eq!(
            e.cause,
            format!("{message} (Service: AmazonSNS; Status Code: 400; Error Code: InvalidParameter; Request ID: req-1; Proxy: null)")
        );
    }

    fn invalid_value(p: Value, part: &str) {
        let e = error(p);
        assert_eq!(e.error, "SNS.InvalidParameterValueException", "{e}");
        assert!(e.cause.contains(part), "{part}: {}", e.cause);
        assert!(
            e.cause.contains("Error Code: InvalidParameterValue"),
            "{}",
            e.cause
        );
    }

    #[test]
    fn the_state_machines_notify_success_parameters() {
        // As statemachine/ensemble-training.asl.json sends them.
        let m = check(json!({
            "TopicArn": TOPIC,
            "Subject": "[ensemble-training] Ensemble training succeeded",
            "Message": "All models trained.",
            "MessageAttributes": {"status": {"DataType": "String", "StringValue": "SUCCEEDED"}}
        }))
        .unwrap();
        assert_eq!(m.topic_arn.as_deref(), Some(TOPIC));
        assert_eq!(m.body, "All models trained.");
        assert_eq!(m.attributes["status"]["StringValue"], json!("SUCCEEDED"));
        assert!(!m.fifo);
    }

    #[test]
    fn non_string_message_is_serialized() {
        // LocalStack's AWS-validated snapshot: Message {} arrives as "{}".
        assert_eq!(
            check(json!({"TopicArn": TOPIC, "Message": {}}))
                .unwrap()
                .body,
            "{}"
        );
        assert_eq!(
            check(json!({"TopicArn": TOPIC, "Message": {"a": [1, true]}}))
                .unwrap()
                .body,
            r#"{"a":[1,true]}"#
        );
        assert_eq!(
            check(json!({"TopicArn": TOPIC, "Message": 1}))
                .unwrap()
                .body,
            "1"
        );
        assert_eq!(
            check(json!({"TopicArn": TOPIC, "Message": false}))
                .unwrap()
                .body,
            "false"
        );
        // A string that holds JSON text stays that text.
        assert_eq!(
            check(json!({"TopicArn": TOPIC, "Message": "\"HelloWorld\""}))
                .unwrap()
                .body,
            "\"HelloWorld\""
        );
    }

    #[test]
    fn target_arn_and_phone_number_are_targets() {
        assert!(check(json!({"TargetArn": TOPIC, "Message": "m"})).is_ok());
        let m = check(json!({"PhoneNumber": "+15555550100", "Message": "m"})).unwrap();
        assert_eq!(m.phone_number.as_deref(), Some("+15555550100"));
        assert_eq!(m.topic_arn, None);
    }

    #[test]
    fn missing_target() {
        invalid_parameter(
            json!({"Message": "m"}),
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
        );
        invalid_parameter(
            json!({"TopicArn": null, "Message": "m"}),
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
        );
    }

    #[test]
    fn malformed_topic_arn() {
        for arn in [
            "my-topic",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:123:t",
            "arn:aws:sns:us-east-1:123456789012:",
        ] {
            invalid_parameter(
                json!({"TopicArn": arn, "Message": "m"}),
                "Invalid parameter: TopicArn",
            );
        }
        invalid_parameter(
            json!({"TargetArn": "x", "Message": "m"}),
            "Invalid parameter: TargetArn",
        );
        invalid_parameter(
            json!({"TopicArn": 5, "Message": "m"}),
            "Invalid parameter: TopicArn Reason: must be a string, got a number",
        );
    }

    #[test]
    fn unknown_topic_when_topics_are_listed() {
        let known: BTreeSet<String> = [TOPIC.to_string()].into();
        assert!(validate(
            &json!({"TopicArn": TOPIC, "Message": "m"}),
            Some(&known),
            "r"
        )
        .is_ok());
        let e = validate(
            &json!({"TopicArn": "arn:aws:sns:us-east-1:123456789012:other", "Message": "m"}),
            Some(&known),
            "r",
        )
        .err()
        .unwrap();
        // LocalStack's AWS snapshot: SNS.NotFoundException, "Topic does not exist (...)".
        assert_eq!(e.error, "SNS.NotFoundException");
        assert_eq!(
            e.cause,
            "Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: r; Proxy: null)"
        );
    }

    #[test]
    fn bad_phone_number() {
        for phone in ["1", "+0123", "+1234567890123456", "phone", "+"] {
            invalid_parameter(
                json!({"PhoneNumber": phone, "Message": "m"}),
                &format!(
                    "Invalid parameter: PhoneNumber Reason: {phone} is not valid to publish to"
                ),
            );
        }
    }

    #[test]
    fn empty_or_missing_message() {
        for p in [
            json!({"TopicArn": TOPIC}),
            json!({"TopicArn": TOPIC, "Message": ""}),
            json!({"TopicArn": TOPIC, "Message": null}),
        ] {
            invalid_parameter(p, "Invalid parameter: Empty message");
        }
    }

    #[test]
    fn subject_rules() {
        let ok = "s".repeat(100);
        assert!(check(json!({"TopicArn": TOPIC, "Message": "m", "Subject": ok})).is_ok());
        assert!(
            check(json!({"TopicArn": TOPIC, "Message": "m", "Subject": "Zürich ✓ status"})).is_ok()
        );
        for bad in [
            "s".repeat(101),
            String::new(),
            "two\nlines".into(),
            "tab\there".into(),
            "bell\u{7}".into(),
        ] {
            invalid_parameter(
                json!({"TopicArn": TOPIC, "Message": "m", "Subject": bad}),
                "Invalid parameter: Subject",
            );
        }
    }

    #[test]
    fn message_structure_json() {
        assert!(check(json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": {"default": "d", "email": "e"}})).is_ok());
        assert!(check(json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": "{\"default\": \"d\"}"})).is_ok());
        invalid_parameter(
            json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": {"email": "e"}}),
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        );
        invalid_parameter(
            json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": {"default": 1}}),
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        );
        invalid_parameter(
            json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": "not json"}),
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        );
        invalid_parameter(
            json!({"TopicArn": TOPIC, "MessageStructure": "json", "Message": [1]}),
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        );
        let e = error(json!({"TopicArn": TOPIC, "MessageStructure": "xml", "Message": "m"}));
        assert!(
            e.cause.starts_with("Invalid parameter: MessageStructure"),
            "{e}"
        );
    }

    #[test]
    fn attribute_types_and_values() {
        let with =
            |attrs: Value| json!({"TopicArn": TOPIC, "Message": "m", "MessageAttributes": attrs});
        assert!(check(with(json!({
            "a": {"DataType": "String", "StringValue": "x"},
            "b": {"DataType": "Number", "StringValue": "-1.5e3"},
            "c": {"DataType": "Binary", "BinaryValue": "AAE="},
            "d": {"DataType": "String.custom", "StringValue": "x"},
            "e": {"DataType": "String.Array", "StringValue": "[\"a\"]"}
        })))
        .is_ok());
        invalid_value(
            with(json!({"a": {"DataType": "Text", "StringValue": "x"}})),
            "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
        );
        invalid_value(
            with(json!({"a": {"DataType": "String.", "StringValue": "x"}})),
            "invalid message attribute type",
        );
        invalid_value(
            with(json!({"a": {"DataType": "String", "StringValue": ""}})),
            "The message attribute 'a' must contain non-empty message attribute value for message attribute type 'String'.",
        );
        invalid_value(
            with(json!({"a": {"DataType": "String"}})),
            "must contain non-empty message attribute value",
        );
        invalid_value(
            with(json!({"a": {"DataType": "Binary", "StringValue": "x"}})),
            "The message attribute 'a' with type 'Binary' must use field 'Binary'.",
        );
        invalid_value(
            with(json!({"a": {"DataType": "Number", "StringValue": "ten"}})),
            "Could not cast message attribute 'a' value to number.",
        );
        invalid_value(
            with(json!({"a": "x"})),
            "The message attribute 'a' must be an object",
        );
        let e = error(with(json!({"a": {"StringValue": "x"}})));
        assert_eq!(e.error, "SNS.AmazonSNSException");
        assert!(
            e.cause
                .contains("Value null at 'messageAttributes.a.member.dataType'"),
            "{e}"
        );
        assert!(e.cause.contains("Error Code: ValidationError"), "{e}");
        let e = error(with(json!([1])));
        assert_eq!(e.error, "SNS.InvalidParameterException");
    }

    #[test]
    fn attribute_names() {
        let with = |name: &str| json!({"TopicArn": TOPIC, "Message": "m", "MessageAttributes": {name: {"DataType": "String", "StringValue": "x"}}});
        for ok in ["a", "A.b", "a-b_c.9"] {
            assert!(check(with(ok)).is_ok(), "{ok}");
        }
        invalid_value(with(".a"), "starting with character '.'");
        invalid_value(with("a."), "ending with character '.'");
        invalid_value(with("a..b"), "successive '.'");
        invalid_value(with("a b"), "Invalid non-alphanumeric character '#x20'");
        invalid_value(with(""), "name is empty");
        invalid_value(with(&"a".repeat(257)), "less than 256 bytes");
    }

    #[test]
    fn at_most_ten_attributes() {
        let attrs = |n: usize| -> Value {
            let map: Map<String, Value> = (0..n)
                .map(|i| {
                    (
                        format!("a{i}"),
                        json!({"DataType": "String", "StringValue": "x"}),
                    )
                })
                .collect();
            json!({"TopicArn": TOPIC, "Message": "m", "MessageAttributes": map})
        };
        assert!(check(attrs(10)).is_ok());
        invalid_value(
            attrs(11),
            "Number of message attributes [11] exceeds the allowed maximum [10].",
        );
    }

    #[test]
    fn size_limit_counts_message_and_attributes() {
        let body = "x".repeat(MAX_MESSAGE_BYTES);
        assert!(check(json!({"TopicArn": TOPIC, "Message": body})).is_ok());
        invalid_parameter(
            json!({"TopicArn": TOPIC, "Message": "x".repeat(MAX_MESSAGE_BYTES + 1)}),
            "Invalid parameter: Message too long",
        );
        invalid_parameter(
            json!({"TopicArn": TOPIC, "Message": "x".repeat(MAX_MESSAGE_BYTES - 2), "MessageAttributes": {"a": {"DataType": "String", "StringValue": "x"}}}),
            "Invalid parameter: Message too long",
        );
    }

    #[test]
    fn fifo_rules() {
        let fifo = "arn:aws:sns:us-east-1:123456789012:t.fifo";
        invalid_parameter(
            json!({"TopicArn": fifo, "Message": "m"}),
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
        );
        assert!(
            check(json!({"TopicArn": fifo, "Message": "m", "MessageGroupId": "g"}))
                .unwrap()
                .fifo
        );
        invalid_parameter(
            json!({"TopicArn": TOPIC, "Message": "m", "MessageDeduplicationId": "d"}),
            "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        );
    }

    #[test]
    fn parameters_must_be_an_object_of_supported_fields() {
        let e = error(json!("m"));
        assert_eq!(e.error, names::RUNTIME);
        let e = error(json!({"TopicArn": TOPIC, "Message": "m", "Mesage": "typo"}));
        assert_eq!(e.error, names::RUNTIME);
        assert!(e.cause.contains("\"Mesage\""), "{e}");
    }

    #[tokio::test]
    async fn publish_appends_json_lines_and_returns_the_integration_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("outbox.jsonl");
        let outbox = Outbox::new(path.clone()).with_echo(false);
        assert!(
            outbox.messages().unwrap().is_empty(),
            "no file yet: no messages"
        );
        let out = outbox
            .publish(json!({
                "TopicArn": TOPIC,
                "Subject": "[ensemble-training] Ensemble training succeeded",
                "Message": "line 1\nline 2",
                "MessageAttributes": {"status": {"DataType": "String", "StringValue": "SUCCEEDED"}}
            }))
            .await
            .unwrap();
        let message_id = out["MessageId"].as_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&message_id).is_ok(), "{message_id}");
        assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
        assert_eq!(
            out["SdkHttpMetadata"]["HttpHeaders"]["Content-Type"],
            json!("text/xml")
        );
        assert_eq!(
            out["SdkResponseMetadata"]["RequestId"],
            out["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"]
        );
        assert!(out.get("SequenceNumber").is_none());
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["MessageId", "SdkHttpMetadata", "SdkResponseMetadata"]
        );

        outbox
            .publish(json!({"TopicArn": TOPIC, "Message": {"summary": [1, 2]}}))
            .await
            .unwrap();
        let messages = outbox.messages().unwrap();
        assert_eq!(messages.len(), 2);
        let first = &messages[0];
        assert_eq!(first["message_id"], json!(message_id));
        assert_eq!(first["topic_arn"], json!(TOPIC));
        assert_eq!(
            first["subject"],
            json!("[ensemble-training] Ensemble training succeeded")
        );
        assert_eq!(first["message"], json!("line 1\nline 2"));
        assert_eq!(
            first["message_attributes"]["status"]["StringValue"],
            json!("SUCCEEDED")
        );
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(messages[1]["message"], json!(r#"{"summary":[1,2]}"#));
        assert_eq!(messages[1]["subject"], Value::Null);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "one JSON line per message");
    }

    #[tokio::test]
    async fn a_refused_publish_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox.jsonl")).with_echo(false);
        assert!(outbox
            .publish(json!({"TopicArn": TOPIC, "Message": ""}))
            .await
            .is_err());
        assert!(!outbox.path().exists());
    }

    #[tokio::test]
    async fn fifo_results_carry_a_sequence_number_and_listed_topics_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = "arn:aws:sns:us-east-1:123456789012:t.fifo";
        let outbox = Outbox::new(dir.path().join("o.jsonl"))
            .with_echo(false)
            .with_topics([fifo.to_string()]);
        let out = outbox
            .publish(json!({"TopicArn": fifo, "Message": "m", "MessageGroupId": "g", "MessageDeduplicationId": "d"}))
            .await
            .unwrap();
        assert_eq!(out["SequenceNumber"].as_str().unwrap().len(), 20);
        assert_eq!(
            outbox.messages().unwrap()[0]["message_group_id"],
            json!("g")
        );
        let e = outbox
            .publish(json!({"TopicArn": TOPIC, "Message": "m"}))
            .await
            .unwrap_err();
        assert_eq!(e.error, "SNS.NotFoundException");
    }

    #[tokio::test]
    async fn unwritable_outbox_is_an_sdk_client_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let outbox = Outbox::new(dir.path().join("file").join("outbox.jsonl")).with_echo(false);
        let e = outbox
            .publish(json!({"TopicArn": TOPIC, "Message": "m"}))
            .await
            .unwrap_err();
        assert_eq!(e.error, "SNS.SdkClientException");
        assert!(e.cause.contains("outbox.jsonl"), "{e}");
    }

    #[test]
    fn a_corrupt_outbox_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\nnot json\n").unwrap();
        let e = Outbox::new(path).messages().unwrap_err();
        assert!(e.contains(":3:"), "{e}");
    }

    #[test]
    fn http_date_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(http_date(t), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            http_date(SystemTime::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn sequence_numbers_have_twenty_digits() {
        let s = sequence_number();
        assert_eq!(s.len(), 20);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn summary_is_short() {
        let record = json!({"topic_arn": TOPIC, "message_id": "id", "subject": "S", "message": (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join("\n")});
        let s = summary(&record);
        assert!(
            s.contains("Subject: S") && s.contains("(8 more lines)"),
            "{s}"
        );
    }
}
