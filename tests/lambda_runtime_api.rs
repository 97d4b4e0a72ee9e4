//! A local AWS Lambda Runtime API: the project's real function binaries run as
//! processes and fetch their invocations from it, exactly as on AWS, so a test sees
//! the `errorType` Step Functions would see.
//! (docs: runtimes-api — `GET /2018-06-01/runtime/invocation/next`,
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`,
//! `POST .../init/error`).

use crate::background::BackgroundServer;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    /// The function's error, as Step Functions receives it.
    Error {
        error_type: String,
        error_message: String,
    },
}

struct Invocation {
    id: String,
    event: Value,
    deadline_ms: u128,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<Outcome>,
}

type Shared = Arc<Mutex<State>>;
type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    match state.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The API server plus one running function process.
pub struct LocalLambda {
    addr: SocketAddr,
    state: Shared,
    sender: mpsc::UnboundedSender<Invocation>,
    next_id: Mutex<u64>,
    child: Child,
    _server: BackgroundServer,
}

/// Builds the four function binaries (and sfn-local, the trainers and the dataset
/// generator) once per test process (debug profile), so tests never run stale
/// binaries; returns the directory holding them.
pub fn function_binaries() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = crate::asl::repo_root();
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet"])
            .args(["--bin", "generate-config", "--bin", "copy-execution-data"])
            .args(["--bin", "aggregate-metrics", "--bin", "format-failure"])
            // The local runner, for the tests of `sfn-local run`, and what the
            // ensemble end to end needs beside it: the trainers and the dataset.
            .args(["--bin", "sfn-local"])
            .args(["--bin", "text-trainer", "--bin", "image-trainer"])
            .args(["--bin", "sequence-trainer", "--bin", "generate-dataset"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build of the function binaries failed: {status}"
            ));
        }
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        Ok(target.join("debug"))
    });
    match built {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

impl LocalLambda {
    /// Starts the Runtime API and the function binary `name` against it, with `env`
    /// (the function's configuration; the AWS credentials of the local servers).
    pub fn start(name: &str, env: &[(&str, String)]) -> std::io::Result<LocalLambda> {
        let state: Shared = Arc::default();
        let (sender, receiver) = mpsc::unbounded_channel::<Invocation>();
        let queue: Queue = Arc::new(tokio::sync::Mutex::new(receiver));
        let server_state = state.clone();
        let service =
            hyper::service::service_fn(move |req| route(req, server_state.clone(), queue.clone()));
        let server = BackgroundServer::http("lambda-runtime-api", 1, service)?;
        let addr = server.addr();

        let binary = function_binaries().join(name);
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|e| {
            std::io::Error::other(format!("cannot start {}: {e}", binary.display()))
        })?;
        Ok(LocalLambda {
            addr,
            state,
            sender,
            next_id: Mutex::new(0),
            child,
            _server: server,
        })
    }

    /// Invokes the function with `event`; its deadline is `timeout` from now.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Outcome {
        let id = {
            let mut next = match self.next_id.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            *next += 1;
            format!("local-{}-{}", self.addr.port(), *next)
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.state).pending.insert(id.clone(), tx);
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let _ = self.sender.send(Invocation {
            id,
            event,
            deadline_ms,
        });
        match tokio::time::timeout(timeout + Duration::from_secs(5), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => lock(&self.state)
                .init_error
                .clone()
                .unwrap_or(Outcome::Error {
                    error_type: "Sandbox.Timedout".into(),
                    error_message: format!("no answer within {timeout:?}"),
                }),
        }
    }
}

impl Drop for LocalLambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(status: StatusCode, body: Vec<u8>, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(*k, v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn parse_error(body: &[u8]) -> Outcome {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    Outcome::Error {
        error_type: value["errorType"].as_str().unwrap_or("Unknown").to_string(),
        error_message: value["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

async fn route(
    req: Request<Incoming>,
    state: Shared,
    queue: Queue,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let accepted = || reply(StatusCode::ACCEPTED, br#"{"status":"OK"}"#.to_vec(), &[]);
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(reply(StatusCode::NOT_FOUND, b"{}".to_vec(), &[]));
    };
    match (method.as_str(), rest) {
        ("GET", "invocation/next") => {
            let next = queue.lock().await.recv().await;
            let Some(invocation) = next else {
                return Ok(reply(StatusCode::GONE, b"{}".to_vec(), &[]));
            };
            let body = serde_json::to_vec(&invocation.event).unwrap_or_default();
            Ok(reply(
                StatusCode::OK,
                body,
                &[
                    ("lambda-runtime-aws-request-id", invocation.id),
                    (
                        "lambda-runtime-deadline-ms",
                        invocation.deadline_ms.to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:local".to_string(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000".to_string(),
                    ),
                ],
            ))
        }
        ("POST", "init/error") => {
            lock(&state).init_error = Some(parse_error(&body));
            Ok(accepted())
        }
        ("POST", other) => {
            let parts: Vec<&str> = other.split('/').collect();
            let outcome = match parts.as_slice() {
                ["invocation", _, "response"] => {
                    Outcome::Response(serde_json::from_slice(&body).unwrap_or(Value::Null))
                }
                ["invocation", _, "error"] => parse_error(&body),
                _ => return Ok(reply(StatusCode::NOT_FOUND, b"{}".to_vec(), &[])),
            };
            if let Some(tx) = lock(&state).pending.remove(parts[1]) {
                let _ = tx.send(outcome);
            }
            Ok(accepted())
        }
        _ => Ok(reply(StatusCode::NOT_FOUND, b"{}".to_vec(), &[])),
    }
}
