//! A local SNS API on 127.0.0.1 for tests and the local demo. It speaks the wire protocol
//! aws-sdk-sns really uses (awsQuery: a form-encoded POST `Action=Publish&Version=
//! 2010-03-31&...`, answered with XML, errors as `<ErrorResponse><Error><Code>`), checks
//! what real SNS checks on Publish (topic exists, subject rules, message size), records
//! every request and published message, and can be told to fail the next requests.
//!
//! Actions: CreateTopic, DeleteTopic, ListTopics, Publish. Others answer InvalidAction.

use crate::background::BackgroundServer;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_sns::config::{Credentials, Region};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

pub const ACCESS_KEY: &str = "local-access-key";
pub const SECRET_KEY: &str = "local-secret-key";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// Real SNS refuses messages over 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// A message SNS accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    pub message_structure: Option<String>,
    /// Attribute name → (DataType, StringValue or base64 BinaryValue).
    pub attributes: BTreeMap<String, (String, String)>,
    pub message_group_id: Option<String>,
    pub message_deduplication_id: Option<String>,
    pub message_id: String,
}

/// One request as received, whatever its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub action: String,
    pub params: BTreeMap<String, String>,
    /// The HTTP status answered.
    pub status: u16,
}

#[derive(Debug, Clone)]
struct InjectedFailure {
    status: u16,
    code: String,
    message: String,
}

#[derive(Default)]
struct State {
    topics: BTreeSet<String>,
    published: Vec<Published>,
    requests: Vec<Recorded>,
    failures: VecDeque<InjectedFailure>,
    dedup_ids: HashSet<(String, String)>,
    next_id: u64,
}

/// A running server; stopped on drop.
pub struct LocalSns {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: BackgroundServer,
}

impl LocalSns {
    /// Starts a server with no topics, on its own thread and runtime, so it serves any
    /// caller whatever runtime that caller uses.
    pub fn start() -> std::io::Result<LocalSns> {
        let state = Arc::new(Mutex::new(State::default()));
        let served = Arc::clone(&state);
        let service = hyper::service::service_fn(move |req| {
            let state = Arc::clone(&served);
            async move { Ok::<_, Infallible>(serve(&state, req).await) }
        });
        let server = BackgroundServer::http("local-sns", 2, service)?;
        Ok(LocalSns {
            addr: server.addr(),
            state,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An `aws-sdk-sns` client for this server: static credentials, region us-east-1.
    pub fn client(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::from_conf(self.client_config().build())
    }

    /// The client configuration, for callers that tune retries or timeouts.
    pub fn client_config(&self) -> aws_sdk_sns::config::Builder {
        aws_sdk_sns::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "local-sns",
            ))
    }

    /// The environment a Lambda binary needs to use this server as its SNS.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SNS", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
        ]
    }

    /// The ARN a topic of this name has here.
    pub fn topic_arn(name: &str) -> String {
        format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}")
    }

    /// Creates a topic directly (no HTTP request is recorded) and returns its ARN.
    pub fn create_topic(&self, name: &str) -> String {
        let arn = LocalSns::topic_arn(name);
        lock(&self.state).topics.insert(arn.clone());
        arn
    }

    /// Every message accepted so far, in order.
    pub fn published(&self) -> Vec<Published> {
        lock(&self.state).published.clone()
    }

    /// Every request received so far (failed ones included), in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The next `count` requests fail with this HTTP status and error code (e.g. 400
    /// `Throttling`, 403 `AuthorizationError`, 500 `InternalError`).
    pub fn fail_next(&self, count: usize, status: u16, code: &str) {
        let failure = InjectedFailure {
            status,
            code: code.to_string(),
            message: format!("injected failure: {code}"),
        };
        lock(&self.state)
            .failures
            .extend(std::iter::repeat_n(failure, count));
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// An SNS error: HTTP status, `Code` and `Message`.
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

    fn invalid_parameter(message: impl Into<String>) -> SnsError {
        SnsError::new(400, "InvalidParameter", message)
    }
}

async fn serve(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = {
        let mut s = lock(state);
        s.next_id += 1;
        format!("00000000-0000-4000-8000-{:012x}", s.next_id)
    };
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential="));
    let query = req.uri().query().unwrap_or("").to_string();
    let is_post = req.method() == hyper::Method::POST;
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(
                &request_id,
                &SnsError::new(400, "MalformedQueryString", format!("unreadable body: {e}")),
            )
        }
    };
    let mut params = parse_form(&query);
    if is_post {
        params.extend(parse_form(&String::from_utf8_lossy(&body)));
    }
    let action = params.get("Action").cloned().unwrap_or_default();

    let result = {
        let mut s = lock(state);
        if let Some(failure) = s.failures.pop_front() {
            Err(SnsError::new(
                failure.status,
                &failure.code,
                failure.message,
            ))
        } else if !authorized {
            Err(SnsError::new(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ))
        } else {
            dispatch(&mut s, &action, &params, &request_id)
        }
    };
    let response = match &result {
        Ok(xml) => xml_response(200, &request_id, xml.clone()),
        Err(error) => error_response(&request_id, error),
    };
    lock(state).requests.push(Recorded {
        action,
        params,
        status: response.status().as_u16(),
    });
    response
}

fn dispatch(
    s: &mut State,
    action: &str,
    params: &BTreeMap<String, String>,
    request_id: &str,
) -> Result<String, SnsError> {
    match action {
        "Publish" => {
            let id = publish(s, params)?;
            Ok(wrap(
                "Publish",
                &format!("<MessageId>{}</MessageId>", xml_escape(&id)),
                request_id,
            ))
        }
        "CreateTopic" => {
            let name = params
                .get("Name")
                .filter(|n| {
                    !n.is_empty()
                        && n.len() <= 256
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                })
                .ok_or_else(|| SnsError::invalid_parameter("Invalid parameter: Topic Name"))?;
            let arn = LocalSns::topic_arn(name);
            s.topics.insert(arn.clone());
            Ok(wrap(
                "CreateTopic",
                &format!("<TopicArn>{}</TopicArn>", xml_escape(&arn)),
                request_id,
            ))
        }
        "DeleteTopic" => {
            let arn = required(params, "TopicArn")?;
            s.topics.remove(arn);
            Ok(format!(
                "<DeleteTopicResponse xmlns=\"{XMLNS}\"><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></DeleteTopicResponse>"
            ))
        }
        "ListTopics" => {
            let members: String = s
                .topics
                .iter()
                .map(|arn| format!("<member><TopicArn>{}</TopicArn></member>", xml_escape(arn)))
                .collect();
            Ok(wrap(
                "ListTopics",
                &format!("<Topics>{members}</Topics>"),
                request_id,
            ))
        }
        "" => Err(SnsError::new(
            400,
            "MissingAction",
            "Missing Action parameter",
        )),
        other => Err(SnsError::new(
            400,
            "InvalidAction",
            format!("Unsupported action {other} in the local SNS"),
        )),
    }
}

fn required<'a>(params: &'a BTreeMap<String, String>, key: &str) -> Result<&'a String, SnsError> {
    params.get(key).ok_or_else(|| {
        SnsError::invalid_parameter(format!(
            "Invalid parameter: {key} Reason: no value for required parameter"
        ))
    })
}

/// Publish, with the checks real SNS makes.
fn publish(s: &mut State, params: &BTreeMap<String, String>) -> Result<String, SnsError> {
    let topic = params
        .get("TopicArn")
        .or_else(|| params.get("TargetArn"))
        .ok_or_else(|| {
            SnsError::invalid_parameter(
                "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
            )
        })?
        .clone();
    if !s.topics.contains(&topic) {
        return Err(SnsError::new(404, "NotFound", "Topic does not exist"));
    }
    let message = params.get("Message").cloned().unwrap_or_default();
    if message.is_empty() {
        return Err(SnsError::invalid_parameter(
            "Invalid parameter: Empty message",
        ));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(SnsError::invalid_parameter(
            "Invalid parameter: Message too long",
        ));
    }
    let subject = params.get("Subject").cloned();
    if let Some(subject) = &subject {
        // "ASCII text that begins with a letter, number, or punctuation mark; must not
        // include line breaks or control characters; and must be less than 100 characters
        // long" (SNS API reference, Publish).
        let valid = !subject.is_empty()
            && subject.len() <= 100
            && subject.chars().all(|c| (' '..='~').contains(&c))
            && !subject.starts_with(' ');
        if !valid {
            return Err(SnsError::invalid_parameter("Invalid parameter: Subject"));
        }
    }
    let attributes = parse_attributes(params)?;
    let fifo = topic.ends_with(".fifo");
    let group = params.get("MessageGroupId").cloned();
    let dedup = params.get("MessageDeduplicationId").cloned();
    if fifo && group.is_none() {
        return Err(SnsError::invalid_parameter(
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    s.next_id += 1;
    let message_id = format!("10000000-0000-4000-8000-{:012x}", s.next_id);
    if let (true, Some(dedup)) = (fifo, &dedup) {
        // A FIFO topic drops a repeated deduplication id (here without a time window).
        if !s.dedup_ids.insert((topic.clone(), dedup.clone())) {
            return Ok(message_id);
        }
    }
    s.published.push(Published {
        topic_arn: topic,
        subject,
        message,
        message_structure: params.get("MessageStructure").cloned(),
        attributes,
        message_group_id: group,
        message_deduplication_id: dedup,
        message_id: message_id.clone(),
    });
    Ok(message_id)
}

/// `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` /
/// `.Value.BinaryValue`, as aws-smithy-query writes a non-flattened map.
fn parse_attributes(
    params: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, (String, String)>, SnsError> {
    let mut attributes = BTreeMap::new();
    for n in 1.. {
        let base = format!("MessageAttributes.entry.{n}");
        let Some(name) = params.get(&format!("{base}.Name")) else {
            break;
        };
        let data_type = params
            .get(&format!("{base}.Value.DataType"))
            .ok_or_else(|| {
                SnsError::invalid_parameter(format!(
                    "Invalid parameter: MessageAttributes Reason: the attribute {name} has no DataType"
                ))
            })?;
        let value = params
            .get(&format!("{base}.Value.StringValue"))
            .or_else(|| params.get(&format!("{base}.Value.BinaryValue")))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                SnsError::invalid_parameter(format!(
                    "Invalid parameter: MessageAttributes Reason: the attribute {name} has no value"
                ))
            })?;
        attributes.insert(name.clone(), (data_type.clone(), value.clone()));
    }
    if attributes.len() > 10 {
        return Err(SnsError::invalid_parameter(
            "Invalid parameter: MessageAttributes Reason: at most 10 attributes",
        ));
    }
    Ok(attributes)
}

fn wrap(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )
}

fn xml_response(status: u16, request_id: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml"),
    );
    if let Ok(id) = hyper::header::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

fn error_response(request_id: &str, error: &SnsError) -> Response<Full<Bytes>> {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        xml_escape(&error.code),
        xml_escape(&error.message)
    );
    xml_response(error.status, request_id, body)
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

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte).
fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let p = parse_form("Action=Publish&Subject=a%20b+c&Message=%E2%9C%93%0A&Empty=&Bad=%G1");
        assert_eq!(p["Action"], "Publish");
        assert_eq!(p["Subject"], "a b c");
        assert_eq!(p["Message"], "✓\n");
        assert_eq!(p["Empty"], "");
        assert_eq!(p["Bad"], "%G1");
    }

    #[test]
    fn escaping() {
        assert_eq!(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
