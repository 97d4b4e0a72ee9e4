//! SNS's own API over HTTP, publishing into an [`Outbox`]: what a real process (a Lambda
//! binary using `aws-sdk-sns`, pointed here with `AWS_ENDPOINT_URL_SNS`) calls while a
//! run goes on, so a function that publishes itself (format-failure, when an
//! EventBridge rule invokes it) lands in the same outbox as the state machine's
//! `sns:publish` tasks, checked, recorded and shown the same way.
//!
//! # The protocol (awsQuery, as `aws-sdk-sns` speaks it)
//!
//! `POST /` with a form-encoded body: `Action=Publish&Version=2010-03-31&TopicArn=...
//! &Message=...&Subject=...`, message attributes as
//! `MessageAttributes.entry.N.Name`, `.Value.DataType`, `.Value.StringValue` /
//! `.Value.BinaryValue` (N from 1). Answers are XML (`Content-Type: text/xml`, header
//! `x-amzn-RequestId`):
//! `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>
//! <MessageId>..</MessageId>[<SequenceNumber>..</SequenceNumber>]</PublishResult>
//! <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata></PublishResponse>`;
//! errors are `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>..</Code>
//! <Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>` with the
//! HTTP status SNS uses (400 `InvalidParameter` / `ParameterValueInvalid`, 404
//! `NotFound` for a topic the outbox does not list). The SDK maps those codes to its
//! `InvalidParameterException`, `NotFoundException`, ... Any credentials are accepted:
//! signatures are not checked.
//!
//! Only `Publish` is served: it is all a function of this project calls. Another
//! action is `InvalidAction`, a missing one `MissingAction` (400).
//!
//! # Where it runs
//!
//! On a thread of its own with a single-threaded tokio runtime (like the SageMaker API
//! and the Lambda pool), so it answers whatever the caller's runtime is doing, works
//! outside any runtime, and dropping the [`SnsApi`] ends the thread, its connections
//! and the listening socket.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::sns::Outbox;
use crate::asl::AslError;
use crate::integrations::http_server::HttpServer;

const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// A Publish carries at most 256 KiB of message and attributes; form encoding can
/// triple that. A larger body cannot be a valid Publish and is refused unread.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The SNS API of an [`Outbox`], served on 127.0.0.1 until dropped.
pub struct SnsApi {
    server: HttpServer,
}

impl Outbox {
    /// Serves SNS's Publish on 127.0.0.1 (a free port), into this outbox.
    pub fn serve_api(self: &Arc<Outbox>) -> std::io::Result<SnsApi> {
        SnsApi::start(Arc::clone(self))
    }
}

impl SnsApi {
    fn start(outbox: Arc<Outbox>) -> std::io::Result<SnsApi> {
        let server = HttpServer::start("sfn-local-sns-api", move |request| {
            let outbox = Arc::clone(&outbox);
            async move { handle(&outbox, request).await }
        })?;
        Ok(SnsApi { server })
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_SNS`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}

/// An SNS error: HTTP status, `Code` and `Message`.
#[derive(Debug, Clone, PartialEq)]
struct SnsError {
    status: u16,
    code: String,
    message: String,
}

impl SnsError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> SnsError {
        SnsError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

async fn handle(outbox: &Outbox, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = answer(outbox, request, &request_id).await;
    let (status, body) = match &result {
        Ok(xml) => (200, xml.clone()),
        Err(error) => (error.status, error_xml(error, &request_id)),
    };
    tracing::debug!(
        target: "sns",
        status,
        code = result.as_ref().err().map(|e| e.code.as_str()).unwrap_or(""),
        "SNS API request"
    );
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", request_id.as_str())
        .body(Full::new(Bytes::from(body)))
        // Unreachable: the status and headers above are valid.
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn answer(
    outbox: &Outbox,
    request: Request<Incoming>,
    request_id: &str,
) -> Result<String, SnsError> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/" {
        return Err(SnsError::new(
            405,
            "MethodNotAllowed",
            format!(
                "the SNS API is POST / with a form-encoded body, not {} {}",
                request.method(),
                request.uri().path()
            ),
        ));
    }
    let query = request.uri().query().unwrap_or_default().to_string();
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            SnsError::new(
                400,
                "InvalidParameter",
                format!(
                    "Invalid parameter: Message too long (the request body could not be read \
                     within {MAX_BODY_BYTES} bytes: {e})"
                ),
            )
        })?
        .to_bytes();
    let body = std::str::from_utf8(&body)
        .map_err(|_| SnsError::new(400, "MalformedQueryString", "the request body is not UTF-8"))?;
    // Parameters may come in the query string too (awsQuery allows both).
    let mut params = parse_form(&query)?;
    params.extend(parse_form(body)?);
    match params.get("Action").map(String::as_str) {
        Some("Publish") => publish(outbox, &params, request_id).await,
        None | Some("") => Err(SnsError::new(400, "MissingAction", "Missing Action parameter")),
        Some(other) => Err(SnsError::new(
            400,
            "InvalidAction",
            format!("The action {other} is not valid for this endpoint: sfn-local's SNS API serves Publish only"),
        )),
    }
}

/// The Publish parameters that map one to one onto the `sns:publish` task's.
const SCALARS: [&str; 8] = [
    "TopicArn",
    "TargetArn",
    "PhoneNumber",
    "Message",
    "Subject",
    "MessageStructure",
    "MessageGroupId",
    "MessageDeduplicationId",
];

async fn publish(
    outbox: &Outbox,
    params: &BTreeMap<String, String>,
    request_id: &str,
) -> Result<String, SnsError> {
    let parameters = task_parameters(params)?;
    let accepted = outbox
        .accept(&parameters, request_id)
        .await
        .map_err(|e| sns_error(&e))?;
    let sequence = accepted
        .sequence_number
        .map(|s| format!("<SequenceNumber>{}</SequenceNumber>", xml_escape(&s)))
        .unwrap_or_default();
    Ok(format!(
        "<PublishResponse xmlns=\"{XMLNS}\"><PublishResult><MessageId>{}</MessageId>{sequence}\
         </PublishResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
         </ResponseMetadata></PublishResponse>",
        xml_escape(&accepted.message_id)
    ))
}

/// The awsQuery parameters in the `sns:publish` task's shape, so both ways of
/// publishing share one set of checks: `MessageAttributes.entry.N.{Name, Value.*}`
/// becomes `{"<Name>": {"DataType": .., "StringValue" | "BinaryValue": ..}}`.
fn task_parameters(params: &BTreeMap<String, String>) -> Result<Value, SnsError> {
    let mut out = Map::new();
    for name in SCALARS {
        if let Some(value) = params.get(name) {
            out.insert(name.to_string(), json!(value));
        }
    }
    // Entries by their number, in the order SNS would read them.
    let mut entries: BTreeMap<u32, Map<String, Value>> = BTreeMap::new();
    for (key, value) in params {
        let Some(rest) = key.strip_prefix("MessageAttributes.entry.") else {
            continue;
        };
        let (number, member) = rest.split_once('.').unwrap_or((rest, ""));
        let number = number.parse::<u32>().map_err(|_| {
            SnsError::new(
                400,
                "InvalidParameter",
                format!("Invalid parameter: MessageAttributes Reason: {key} is not an entry"),
            )
        })?;
        let entry = entries.entry(number).or_default();
        match member {
            "Name" => {
                entry.insert("Name".to_string(), json!(value));
            }
            "Value.DataType" | "Value.StringValue" | "Value.BinaryValue" => {
                let field = member.trim_start_matches("Value.");
                entry.insert(field.to_string(), json!(value));
            }
            // SNS has no list values; anything else is not a Publish member.
            _ => {
                return Err(SnsError::new(
                    400,
                    "InvalidParameter",
                    format!("Invalid parameter: MessageAttributes Reason: {key} is not supported"),
                ))
            }
        }
    }
    if !entries.is_empty() {
        let mut attributes = Map::new();
        for (number, mut entry) in entries {
            let Some(Value::String(name)) = entry.remove("Name") else {
                return Err(SnsError::new(
                    400,
                    "InvalidParameter",
                    format!(
                        "Invalid parameter: MessageAttributes Reason: entry {number} has no Name"
                    ),
                ));
            };
            attributes.insert(name, Value::Object(entry));
        }
        out.insert("MessageAttributes".to_string(), Value::Object(attributes));
    }
    Ok(Value::Object(out))
}

/// The outbox's error, as SNS answers it. The outbox names errors as Step Functions
/// does, `SNS.<Exception>` with a cause ending in
/// ` (Service: AmazonSNS; Status Code: <status>; Error Code: <code>; Request ID: ..;
/// Proxy: null)`: the code, status and message come back out of that.
fn sns_error(error: &AslError) -> SnsError {
    const MARK: &str = " (Service: AmazonSNS; Status Code: ";
    if let Some(at) = error.cause.rfind(MARK) {
        let message = &error.cause[..at];
        let rest = &error.cause[at + MARK.len()..];
        let status = rest
            .split(';')
            .next()
            .and_then(|s| s.trim().parse::<u16>().ok());
        let code = rest
            .split("; Error Code: ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let exception = error.error.strip_prefix("SNS.").unwrap_or_default();
        if let (Some(status), Some(code)) = (status, wire_code(exception).or(code)) {
            return SnsError::new(status, code, message);
        }
    }
    if error.error == "SNS.SdkClientException" {
        // The outbox could not be written: the service failed, not the request.
        return SnsError::new(500, "InternalError", error.cause.clone());
    }
    SnsError::new(400, "InvalidParameter", error.cause.clone())
}

/// The code SNS puts on the wire for an exception (its awsQuery error code, which
/// aws-sdk-sns maps back to the exception), where it differs from the code the
/// outbox's causes carry: InvalidParameterValueException is `ParameterValueInvalid`
/// in SNS's model, and the SDK does not recognise `InvalidParameterValue`.
fn wire_code(exception: &str) -> Option<&'static str> {
    match exception {
        "InvalidParameterValueException" => Some("ParameterValueInvalid"),
        _ => None,
    }
}

fn error_xml(error: &SnsError, request_id: &str) -> String {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        xml_escape(&error.code),
        xml_escape(&error.message)
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `application/x-www-form-urlencoded`: `&`-separated `key=value`, `+` a space, `%XX`
/// a byte; the decoded bytes must be UTF-8.
fn parse_form(text: &str) -> Result<BTreeMap<String, String>, SnsError> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, SnsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        SnsError::new(
                            400,
                            "MalformedQueryString",
                            format!("a bad percent escape in {text:?}"),
                        )
                    })?;
                out.push(byte);
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        SnsError::new(
            400,
            "MalformedQueryString",
            format!("{text:?} does not decode to UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn form_decoding() {
        let p =
            parse_form("Action=Publish&Subject=a%20b+c&Message=%E2%9C%93%0A&Empty=&Flag").unwrap();
        assert_eq!(p["Action"], "Publish");
        assert_eq!(p["Subject"], "a b c");
        assert_eq!(p["Message"], "✓\n");
        assert_eq!(p["Empty"], "");
        assert_eq!(p["Flag"], "");
        assert_eq!(
            parse_form("Message=%G1").unwrap_err().code,
            "MalformedQueryString"
        );
        assert_eq!(
            parse_form("Message=%FF").unwrap_err().code,
            "MalformedQueryString"
        );
        assert_eq!(
            parse_form("Message=%2").unwrap_err().code,
            "MalformedQueryString"
        );
    }

    #[test]
    fn query_parameters_become_task_parameters() {
        let p = task_parameters(&form(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("TopicArn", "arn:aws:sns:us-east-1:123456789012:t"),
            ("Message", "m"),
            ("Subject", "s"),
            ("MessageAttributes.entry.1.Name", "status"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "FAILED"),
            ("MessageAttributes.entry.2.Name", "blob"),
            ("MessageAttributes.entry.2.Value.DataType", "Binary"),
            ("MessageAttributes.entry.2.Value.BinaryValue", "AAE="),
        ]))
        .unwrap();
        assert_eq!(
            p,
            json!({
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                "Message": "m",
                "Subject": "s",
                "MessageAttributes": {
                    "status": {"DataType": "String", "StringValue": "FAILED"},
                    "blob": {"DataType": "Binary", "BinaryValue": "AAE="}
                }
            })
        );
        let e = task_parameters(&form(&[(
            "MessageAttributes.entry.1.Value.DataType",
            "String",
        )]))
        .unwrap_err();
        assert!(e.message.contains("entry 1 has no Name"), "{e:?}");
        let e = task_parameters(&form(&[(
            "MessageAttributes.entry.1.Value.StringListValues.member.1",
            "a",
        )]))
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        let e = task_parameters(&form(&[("MessageAttributes.entry.x.Name", "a")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
    }

    #[test]
    fn outbox_errors_map_back_to_sns_errors() {
        let e = sns_error(&AslError::new(
            "SNS.NotFoundException",
            "Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: r; Proxy: null)",
        ));
        assert_eq!(e, SnsError::new(404, "NotFound", "Topic does not exist"));
        // A message that itself contains parentheses keeps them.
        let e = sns_error(&AslError::new(
            "SNS.InvalidParameterValueException",
            "Could not cast (really) (Service: AmazonSNS; Status Code: 400; Error Code: InvalidParameterValue; Request ID: r; Proxy: null)",
        ));
        assert_eq!(
            e,
            SnsError::new(400, "ParameterValueInvalid", "Could not cast (really)")
        );
        let e = sns_error(&AslError::new(
            "SNS.SdkClientException",
            "sfn-local: cannot append to the SNS outbox /x: denied",
        ));
        assert_eq!(e.status, 500);
        assert_eq!(e.code, "InternalError");
        let e = sns_error(&AslError::runtime("sns:publish: bad"));
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameter"));
    }

    #[test]
    fn errors_are_sns_xml() {
        let xml = error_xml(&SnsError::new(404, "NotFound", "Topic <x> & y"), "req-1");
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type>\
             <Code>NotFound</Code><Message>Topic &lt;x&gt; &amp; y</Message></Error>\
             <RequestId>req-1</RequestId></ErrorResponse>"
        );
        assert!(error_xml(&SnsError::new(500, "InternalError", "m"), "r")
            .contains("<Type>Receiver</Type>"));
    }
}
