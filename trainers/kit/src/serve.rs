//! `serve`: the inference HTTP server (developer guide, your-algorithms-inference-code
//! and your-algorithms-batch-code): `GET /ping` answers 200 once the model is loaded,
//! `POST /invocations` runs the model, `GET /execution-parameters` tells batch
//! transform how to call it; everything else is 404.
//!
//! HTTP/1.1 only (what SageMaker and sfn-local speak). The model runs on tokio's
//! blocking pool, so a long request never delays `/ping` (which must answer within
//! 2 s).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpListener;

/// Request bodies over this are refused with 413 (batch transform's
/// MaxConcurrentTransforms * MaxPayloadInMB is at most 100 MB).
pub const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The answer to `GET /execution-parameters` (your-algorithms-batch-code: batch
/// transform asks it when the job does not set these): one request at a time, as
/// many records per request as fit in 6 MB (the API's default MaxPayloadInMB).
pub const EXECUTION_PARAMETERS: &str =
    r#"{"MaxConcurrentTransforms":1,"BatchStrategy":"MULTI_RECORD","MaxPayloadInMB":6}"#;

/// How long in-flight requests may finish after a stop signal (sfn-local and
/// SageMaker send SIGKILL after their own grace period anyway).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A trained model answering /invocations.
pub trait Predictor: Send + Sync + 'static {
    /// `body` is the request body; `content_type` its Content-Type (None if absent).
    /// Returns the response body (jsonlines) or a ServeError.
    fn invoke(&self, body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, ServeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// HTTP 400 with the message.
    #[error("{0}")]
    BadRequest(String),
    /// HTTP 415.
    #[error("unsupported content type {0}")]
    UnsupportedMediaType(String),
    /// HTTP 500.
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    fn status(&self) -> StatusCode {
        match self {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The content types [`map_json_lines`] accepts (parameters such as `charset`
/// aside): JSON Lines, and JSON with one object per line.
const JSON_LINES_TYPES: [&str; 2] = ["application/jsonlines", "application/json"];

/// Applies `f` to every non-blank line (parsed as In), in order; output lines joined
/// with '\n' (no trailing newline: batch transform's AssembleWith=Line adds it). A
/// bad line -> BadRequest naming its 1-based line number (so does a BadRequest from
/// `f`). Accepts content types application/jsonlines, application/json (one object
/// per line) and absent; others -> UnsupportedMediaType.
pub fn map_json_lines<In: DeserializeOwned, Out: Serialize>(
    body: &[u8],
    content_type: Option<&str>,
    f: impl Fn(In) -> Result<Out, ServeError>,
) -> Result<Vec<u8>, ServeError> {
    if let Some(content_type) = content_type {
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !JSON_LINES_TYPES.contains(&media_type.as_str()) {
            return Err(ServeError::UnsupportedMediaType(format!(
                "{content_type:?} (accepted: application/jsonlines, application/json)"
            )));
        }
    }
    let mut out = Vec::new();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = index + 1;
        let input: In = serde_json::from_slice(line)
            .map_err(|e| ServeError::BadRequest(format!("line {number}: {e}")))?;
        let output = f(input).map_err(|e| match e {
            ServeError::BadRequest(message) => {
                ServeError::BadRequest(format!("line {number}: {message}"))
            }
            other => other,
        })?;
        if !out.is_empty() {
            out.push(b'\n');
        }
        serde_json::to_writer(&mut out, &output).map_err(|e| {
            ServeError::Internal(format!("line {number}: cannot serialise the answer: {e}"))
        })?;
    }
    Ok(out)
}

/// Serves `predictor` on `listener` until `shutdown` resolves, then stops accepting
/// and lets in-flight requests finish (for up to 20 s).
pub async fn serve_on<P: Predictor>(
    listener: TcpListener,
    predictor: P,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let predictor = Arc::new(predictor);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // E.g. out of file descriptors: pause instead of spinning.
                        eprintln!("warning: accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let predictor = Arc::clone(&predictor);
                let service = service_fn(move |request| handle(Arc::clone(&predictor), request));
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A client that goes away mid-request is its own problem.
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("warning: requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

async fn handle<P: Predictor>(
    predictor: Arc<P>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let response = match (request.uri().path(), &method) {
        ("/ping", &Method::GET) => respond(StatusCode::OK, "text/plain", ""),
        ("/execution-parameters", &Method::GET) => {
            respond(StatusCode::OK, "application/json", EXECUTION_PARAMETERS)
        }
        ("/invocations", &Method::POST) => invocations(predictor, request).await,
        ("/ping" | "/execution-parameters", _) => {
            let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET");
            r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
            r
        }
        ("/invocations", _) => {
            let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use POST");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            r
        }
        (path, _) => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no such path {path:?} (this container serves /ping, /invocations and /execution-parameters)"),
        ),
    };
    Ok(response)
}

async fn invocations<P: Predictor>(
    predictor: Arc<P>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let too_large = || {
        respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            format!("request body over {MAX_REQUEST_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return too_large();
    }
    let content_type = match request.headers().get(CONTENT_TYPE) {
        None => None,
        Some(value) => match value.to_str() {
            Ok(text) => Some(text.to_string()),
            Err(_) => {
                return respond(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "text/plain",
                    "the Content-Type header is not ASCII",
                )
            }
        },
    };
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("reading the request body failed: {e}"),
            )
        }
    };
    let answer =
        tokio::task::spawn_blocking(move || predictor.invoke(&body, content_type.as_deref())).await;
    match answer {
        Ok(Ok(output)) => respond(StatusCode::OK, "application/jsonlines", output),
        Ok(Err(e)) => respond(e.status(), "text/plain", e.to_string()),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("the model failed: {e}"),
        ),
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::{Read, Write};

    #[derive(Deserialize)]
    struct In {
        page_id: String,
        n: i64,
    }

    #[derive(Serialize)]
    struct Out {
        page_id: String,
        double: i64,
    }

    fn double(input: In) -> Result<Out, ServeError> {
        if input.n < 0 {
            return Err(ServeError::BadRequest("`n` must not be negative".into()));
        }
        Ok(Out {
            page_id: input.page_id,
            double: input.n * 2,
        })
    }

    #[test]
    fn map_json_lines_keeps_order_and_skips_blank_lines() {
        let body = b"{\"page_id\":\"a\",\"n\":1,\"label\":\"extra\"}\n\n  \r\n{\"page_id\":\"b\",\"n\":2}\r\n";
        for content_type in [
            None,
            Some("application/jsonlines"),
            Some("application/json"),
            Some("Application/JSONLines; charset=utf-8"),
        ] {
            let out = map_json_lines(body, content_type, double).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "{\"page_id\":\"a\",\"double\":2}\n{\"page_id\":\"b\",\"double\":4}"
            );
        }
        assert!(map_json_lines(b"", None, double).unwrap().is_empty());
    }

    #[test]
    fn map_json_lines_errors_name_the_line() {
        let err =
            map_json_lines(b"{\"page_id\":\"a\",\"n\":1}\n\nnope\n", None, double).unwrap_err();
        assert!(
            matches!(&err, ServeError::BadRequest(m) if m.starts_with("line 3: ")),
            "{err:?}"
        );
        let err = map_json_lines(b"{\"page_id\":\"a\"}", None, double).unwrap_err();
        assert!(
            matches!(&err, ServeError::BadRequest(m) if m.starts_with("line 1: missing field `n`")),
            "{err:?}"
        );
        let err = map_json_lines(
            b"{\"page_id\":\"a\",\"n\":1}\n{\"page_id\":\"b\",\"n\":-1}",
            None,
            double,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "line 2: `n` must not be negative");
        let err = map_json_lines(b"{}", Some("text/csv"), double).unwrap_err();
        assert!(matches!(err, ServeError::UnsupportedMediaType(_)));
        assert!(
            err.to_string()
                .starts_with("unsupported content type \"text/csv\""),
            "{err}"
        );
    }

    struct Doubler;

    impl Predictor for Doubler {
        fn invoke(&self, body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, ServeError> {
            if body == b"boom" {
                return Err(ServeError::Internal("the model broke".into()));
            }
            map_json_lines(body, content_type, double)
        }
    }

    /// One HTTP/1.1 exchange over a plain socket: (status, body).
    fn call(address: std::net::SocketAddr, request: &str, body: &[u8]) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn post(
        address: std::net::SocketAddr,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        let header = content_type
            .map(|ct| format!("Content-Type: {ct}\r\n"))
            .unwrap_or_default();
        call(
            address,
            &format!(
                "POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{header}Content-Length: {}\r\n\r\n",
                body.len()
            ),
            body,
        )
    }

    fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
        call(
            address,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            b"",
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_ping_invocations_and_errors_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(listener, Doubler, async move {
            let _ = stopped.await;
        }));

        let client = tokio::task::spawn_blocking(move || {
            assert_eq!(get(address, "/ping"), (200, String::new()));
            let (status, body) = get(address, "/execution-parameters");
            assert_eq!(status, 200);
            let parameters: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parameters["MaxPayloadInMB"], 6);
            assert_eq!(parameters["BatchStrategy"], "MULTI_RECORD");
            assert_eq!(parameters["MaxConcurrentTransforms"], 1);

            let (status, body) = post(
                address,
                Some("application/jsonlines"),
                b"{\"page_id\":\"p1\",\"n\":21}\n{\"page_id\":\"p2\",\"n\":5}\n",
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body,
                "{\"page_id\":\"p1\",\"double\":42}\n{\"page_id\":\"p2\",\"double\":10}"
            );
            // No Content-Type is accepted too.
            assert_eq!(post(address, None, b"{\"page_id\":\"p\",\"n\":1}").0, 200);

            let (status, body) = post(
                address,
                Some("application/jsonlines"),
                b"{\"page_id\":\"p1\",\"n\":1}\n{\"page_id\":\"p2\"}\n",
            );
            assert_eq!(status, 400);
            assert!(body.starts_with("line 2: missing field `n`"), "{body}");

            let (status, body) = post(address, Some("text/csv"), b"a,b\n");
            assert_eq!(status, 415);
            assert!(body.contains("text/csv"), "{body}");

            assert_eq!(
                post(address, None, b"boom"),
                (500, "the model broke".to_string())
            );
            assert_eq!(get(address, "/nope").0, 404);
            assert_eq!(get(address, "/invocations").0, 405);

            // A declared body over the limit is refused before it is read.
            let (status, _) = call(
                address,
                &format!(
                    "POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    MAX_REQUEST_BYTES + 1
                ),
                b"",
            );
            assert_eq!(status, 413);
        });
        client.await.unwrap();

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve_on returns after the shutdown signal")
            .unwrap()
            .unwrap();
        // The listener is closed.
        assert!(tokio::net::TcpStream::connect(address).await.is_err());
    }
}
