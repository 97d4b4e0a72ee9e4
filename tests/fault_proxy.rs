//! A fault-injecting reverse proxy for S3 tests: it sits between an S3 client and an
//! upstream S3-compatible server (`EmbeddedS3`) on 127.0.0.1 and, deterministically
//! from a seed, answers a fraction of requests with `503 SlowDown`, `500
//! InternalError` or `200` with an `InternalError` body, or drops the connection
//! before forwarding, after forwarding, or in the middle of the response.
//!
//! It speaks HTTP/1.1 over raw TCP and forwards every request byte for byte (request
//! line, header names and values including `Host` and the SigV4 `Authorization`,
//! body), so signatures still verify upstream: s3s checks them against the `Host`
//! header as received. Every exchange is logged (operation, key, SDK invocation id,
//! fault, upstream status, whether the answer reached the client) for assertions.

use crate::background::BackgroundServer;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
use aws_sdk_s3::config::{Credentials, Region};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::s3_server::{ACCESS_KEY, REGION, SECRET_KEY};

/// The S3 operations the proxy tells apart (by method, path, query and headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    ListObjectsV2,
    HeadObject,
    GetObject,
    PutObject,
    CopyObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    DeleteObject,
    Other,
}

impl Op {
    /// The operations that make an object exist at their key once they succeed.
    pub fn creates_object(self) -> bool {
        matches!(
            self,
            Op::PutObject | Op::CopyObject | Op::CompleteMultipartUpload
        )
    }

    /// The operations for which S3 may answer `200 OK` with an error body (the SDK
    /// parses it as an error for exactly these).
    fn may_fail_inside_200(self) -> bool {
        matches!(
            self,
            Op::CopyObject | Op::UploadPartCopy | Op::CompleteMultipartUpload
        )
    }
}

/// What the proxy does to one request instead of forwarding it faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// `503 SlowDown`, not forwarded.
    SlowDown,
    /// `500 InternalError`, not forwarded.
    InternalError,
    /// `200 OK` whose body is an `InternalError`, not forwarded (S3 does this for
    /// CopyObject, UploadPartCopy and CompleteMultipartUpload; other operations get
    /// a plain `500` instead).
    InternalErrorIn200,
    /// The connection is closed without forwarding or answering.
    DropBeforeUpstream,
    /// Forwarded (upstream acts on it), then the connection is closed unanswered.
    DropAfterUpstream,
    /// Forwarded, then half the answer is sent (mid-body; mid-headers if there is
    /// no body) and the connection is closed.
    TruncateResponse,
}

impl Fault {
    /// Whether the upstream server sees the request.
    pub fn forwards(self) -> bool {
        matches!(self, Fault::DropAfterUpstream | Fault::TruncateResponse)
    }
}

/// Per-request probabilities of each fault (their sum at most 1).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    pub slow_down: f64,
    pub internal_error: f64,
    pub internal_error_in_200: f64,
    pub drop_before_upstream: f64,
    pub drop_after_upstream: f64,
    pub truncate_response: f64,
}

impl FaultRates {
    pub fn none() -> FaultRates {
        FaultRates::default()
    }

    /// `total` spread over all six faults: 30 % SlowDown, 25 % InternalError, 10 %
    /// InternalError inside a 200, 15 % dropped before, 10 % after forwarding, 10 %
    /// truncated answers.
    pub fn mixed(total: f64) -> FaultRates {
        FaultRates {
            slow_down: total * 0.30,
            internal_error: total * 0.25,
            internal_error_in_200: total * 0.10,
            drop_before_upstream: total * 0.15,
            drop_after_upstream: total * 0.10,
            truncate_response: total * 0.10,
        }
    }

    /// Only the faults that leave upstream untouched (the answer never depends on
    /// what upstream did).
    pub fn without_lost_answers(self) -> FaultRates {
        FaultRates {
            drop_after_upstream: 0.0,
            truncate_response: 0.0,
            ..self
        }
    }

    pub fn total(&self) -> f64 {
        self.slow_down
            + self.internal_error
            + self.internal_error_in_200
            + self.drop_before_upstream
            + self.drop_after_upstream
            + self.truncate_response
    }

    /// The fault for a uniform draw `u` in `[0, 1)`.
    fn pick(&self, u: f64) -> Option<Fault> {
        let table = [
            (self.slow_down, Fault::SlowDown),
            (self.internal_error, Fault::InternalError),
            (self.internal_error_in_200, Fault::InternalErrorIn200),
            (self.drop_before_upstream, Fault::DropBeforeUpstream),
            (self.drop_after_upstream, Fault::DropAfterUpstream),
            (self.truncate_response, Fault::TruncateResponse),
        ];
        let mut edge = 0.0;
        for (rate, fault) in table {
            edge += rate;
            if u < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// Which requests get which fault.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Same seed, same requests → same faults, whatever the interleaving: the draw
    /// hashes the seed, the request (method, path, query without upload ids) and how
    /// many times that same request was seen before, so a retry draws anew.
    pub seed: u64,
    /// For every operation without an entry in `per_op`.
    pub rates: FaultRates,
    pub per_op: Vec<(Op, FaultRates)>,
    /// `(op, n, fault)`: the n-th request (from 0, in arrival order) of `op` gets
    /// `fault`, whatever the rates say.
    pub scripted: Vec<(Op, usize, Fault)>,
}

impl FaultPlan {
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    pub fn rates_for(&self, op: Op) -> FaultRates {
        self.per_op
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, r)| *r)
            .unwrap_or(self.rates)
    }
}

/// One request as the proxy handled it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub op: Op,
    pub method: String,
    pub bucket: String,
    /// Percent-decoded.
    pub key: String,
    /// `amz-sdk-invocation-id`: the same for every attempt of one SDK call.
    pub invocation_id: Option<String>,
    pub fault: Option<Fault>,
    /// The upstream status, if the request was forwarded and answered.
    pub upstream_status: Option<u16>,
    /// Whether the whole answer (upstream's or an injected error) reached the client.
    pub delivered: bool,
    /// Proxy-wide sequence numbers when the request was read and when it was done.
    pub arrived: u64,
    pub finished: u64,
}

impl Exchange {
    /// Upstream acted on it and succeeded.
    pub fn upstream_ok(&self) -> bool {
        self.upstream_status
            .is_some_and(|s| (200..300).contains(&s))
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<FaultPlan>,
    /// How many times each request signature (for draws) and each operation (for
    /// scripted faults) was seen.
    seen_requests: Mutex<HashMap<String, u64>>,
    seen_ops: Mutex<HashMap<Op, usize>>,
    log: Mutex<Vec<Exchange>>,
    seq: AtomicU64,
    in_flight: AtomicUsize,
    held_ops: Mutex<HashSet<Op>>,
    held: AtomicUsize,
    /// Bumped to let held requests go.
    release: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Shared {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    fn decide(&self, request: &Request, op: Op) -> Option<Fault> {
        let plan = lock(&self.plan).clone();
        let nth_op = {
            let mut seen = lock(&self.seen_ops);
            let n = seen.entry(op).or_insert(0);
            *n += 1;
            *n - 1
        };
        if let Some((_, _, fault)) = plan
            .scripted
            .iter()
            .find(|(o, n, _)| *o == op && *n == nth_op)
        {
            return Some(*fault);
        }
        let signature = request.signature();
        let occurrence = {
            let mut seen = lock(&self.seen_requests);
            let n = seen.entry(signature.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let draw = splitmix64(plan.seed ^ fnv1a(signature.as_bytes()) ^ splitmix64(occurrence));
        // 53 random bits → a uniform f64 in [0, 1).
        let u = (draw >> 11) as f64 / (1u64 << 53) as f64;
        plan.rates_for(op).pick(u)
    }
}

/// Decrements the in-flight count however the exchange ends.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<BackgroundServer>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let authority = upstream.strip_prefix("http://").unwrap_or(upstream);
        let upstream: SocketAddr = authority
            .trim_end_matches('/')
            .parse()
            .map_err(|e| std::io::Error::other(format!("upstream {upstream:?}: {e}")))?;
        let (release, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(plan),
            seen_requests: Mutex::default(),
            seen_ops: Mutex::default(),
            log: Mutex::default(),
            seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            held_ops: Mutex::default(),
            held: AtomicUsize::new(0),
            release,
        });
        let server_shared = Arc::clone(&shared);
        // Dropping the server's runtime cancels the connection tasks.
        let server = BackgroundServer::start("fault-proxy", 2, move |socket| {
            let _ = socket.set_nodelay(true);
            tokio::spawn(serve(socket, Arc::clone(&server_shared)));
        })?;
        Ok(FaultProxy {
            addr: server.addr(),
            shared,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An `aws-sdk-s3` client through the proxy with the SDK's default retries.
    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.client_config().build())
    }

    /// Like `EmbeddedS3::client_config`, pointed at the proxy.
    pub fn client_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "fault-proxy",
            ))
    }

    /// A client that rides out injected faults quickly: `max_attempts` attempts,
    /// millisecond backoffs, and a retry partition of its own with an unlimited
    /// token bucket (the default bucket is shared process-wide and would run dry).
    pub fn retrying_client(&self, max_attempts: u32) -> aws_sdk_s3::Client {
        let partition = RetryPartition::custom(format!("fault-proxy-{}", self.addr.port()))
            .token_bucket(TokenBucket::unlimited())
            .build();
        aws_sdk_s3::Client::from_conf(
            self.client_config()
                .retry_config(
                    RetryConfig::standard()
                        .with_max_attempts(max_attempts)
                        .with_initial_backoff(Duration::from_millis(1))
                        .with_max_backoff(Duration::from_millis(20)),
                )
                .retry_partition(partition)
                .build(),
        )
    }

    /// The environment a Lambda binary needs to use S3 through this proxy.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_S3", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
        ]
    }

    /// Replaces the plan for the requests that arrive from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.plan) = plan;
    }

    /// Every exchange finished so far, in the order they arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        // Logged as they finish; returned as they arrived (a retry can finish
        // before the attempt whose answer was cut off is logged).
        let mut log = lock(&self.shared.log).clone();
        log.sort_by_key(|e| e.arrived);
        log
    }

    /// The next sequence number: exchanges that arrive later have `arrived >= mark`.
    pub fn mark(&self) -> u64 {
        self.shared.seq.load(Ordering::SeqCst)
    }

    /// Requests read and not yet done with (forwarding, answering or held).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, or `timeout` passes; true if idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let until = tokio::time::Instant::now() + timeout;
        while self.in_flight() > 0 {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Injected faults so far, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, usize> {
        let mut out = BTreeMap::new();
        for e in lock(&self.shared.log).iter() {
            if let Some(f) = e.fault {
                *out.entry(f).or_insert(0) += 1;
            }
        }
        out
    }

    /// Requests of `op` received so far (faulted or not).
    pub fn count(&self, op: Op) -> usize {
        lock(&self.shared.log).iter().filter(|e| e.op == op).count()
    }

    /// Waits (up to 10 s) until `n` exchanges of `op` are logged. An exchange is logged
    /// just after its answer is written, so a client can hold the answer before the
    /// proxy has logged it: read the log only once the exchanges it needs are in.
    pub async fn logged(&self, op: Op, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.count(op) < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Requests of `op` on `key` that upstream acted on successfully.
    pub fn upstream_successes(&self, op: Op, key: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.op == op && e.key == key && e.upstream_ok())
            .count()
    }

    /// From now on, requests of `op` wait in the proxy (unforwarded) until
    /// [`FaultProxy::release`].
    pub fn hold(&self, op: Op) {
        lock(&self.shared.held_ops).insert(op);
    }

    /// Requests waiting because of [`FaultProxy::hold`].
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Stops holding and lets every held request go on (forwarded as planned).
    pub fn release(&self) {
        lock(&self.shared.held_ops).clear();
        self.shared
            .release
            .send_modify(|generation| *generation += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Held requests must be let go before the server can stop.
        self.release();
        self.server.take();
    }
}

/// One side of a connection with its read buffer.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An HTTP/1.1 message head, parsed enough to frame the body and classify it.
struct Head {
    raw: Vec<u8>,
    start_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

const MAX_HEAD: usize = 1024 * 1024;

enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

impl Peer {
    fn new(stream: TcpStream) -> Peer {
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes a whole answer; false if the client is gone. A write to a socket
    /// whose peer has closed (a killed process) may still succeed locally, so look
    /// for the end of stream first: an HTTP/1.1 client awaiting an answer sends
    /// nothing, so anything readable means it hung up.
    async fn answer(&mut self, bytes: &[u8]) -> bool {
        let mut probe = [0u8; 1];
        let gone = tokio::select! {
            biased;
            peeked = self.stream.peek(&mut probe) => matches!(peeked, Ok(0) | Err(_)),
            _ = std::future::ready(()) => false,
        };
        !gone && self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The next message head; None on a clean end of stream before any byte.
    async fn read_head(&mut self) -> std::io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
                let text = String::from_utf8_lossy(&raw).into_owned();
                let mut lines = text.split("\r\n");
                let start_line = lines.next().unwrap_or_default().to_string();
                let headers = lines
                    .filter(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                return Ok(Some(Head {
                    raw,
                    start_line,
                    headers,
                }));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(std::io::Error::other("message head too large"));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// The body as framed on the wire (chunk sizes and trailers included).
    async fn read_body(&mut self, framing: Framing) -> std::io::Result<Vec<u8>> {
        match framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => self.read_exactly(n).await,
            Framing::UntilClose => {
                while self.fill().await? {}
                Ok(std::mem::take(&mut self.buf))
            }
            Framing::Chunked => {
                let mut out = Vec::new();
                loop {
                    let line = self.read_line().await?;
                    let size_text = String::from_utf8_lossy(&line);
                    let size_text = size_text.trim_end().split(';').next().unwrap_or("");
                    let size = usize::from_str_radix(size_text.trim(), 16)
                        .map_err(|_| std::io::Error::other("bad chunk size"))?;
                    out.extend_from_slice(&line);
                    if size == 0 {
                        // Trailers, up to an empty line.
                        loop {
                            let trailer = self.read_line().await?;
                            out.extend_from_slice(&trailer);
                            if trailer == b"\r\n" {
                                return Ok(out);
                            }
                        }
                    }
                    let data = self.read_exactly(size + 2).await?;
                    out.extend_from_slice(&data);
                }
            }
        }
    }

    async fn read_exactly(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                return Ok(self.buf.drain(..end + 2).collect());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(std::io::Error::other("line too long"));
            }
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn request_framing(head: &Head) -> Framing {
    if head.has_token("transfer-encoding", "chunked") {
        Framing::Chunked
    } else {
        match head.header("content-length").and_then(|v| v.parse().ok()) {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    }
}

fn response_framing(head: &Head, method: &str, status: u16) -> Framing {
    if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if head.has_token("transfer-encoding", "chunked") {
        Framing::Chunked
    } else {
        match head.header("content-length").and_then(|v| v.parse().ok()) {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    }
}

fn status_of(head: &Head) -> Option<u16> {
    head.start_line.split(' ').nth(1)?.parse().ok()
}

/// A request as read from the client.
struct Request {
    head: Head,
    body: Vec<u8>,
    method: String,
    path: String,
    query: String,
}

impl Request {
    /// The request without what changes between runs (upload ids are random), for
    /// deterministic draws.
    fn signature(&self) -> String {
        let query: Vec<&str> = self
            .query
            .split('&')
            .filter(|p| !p.starts_with("uploadId="))
            .collect();
        format!("{} {}?{}", self.method, self.path, query.join("&"))
    }

    fn has_param(&self, name: &str) -> bool {
        self.query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    }

    /// (operation, bucket, decoded key)
    fn classify(&self) -> (Op, String, String) {
        let path = self.path.strip_prefix('/').unwrap_or(&self.path);
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let (bucket, key) = (percent_decode(bucket), percent_decode(key));
        let copy = self.head.header("x-amz-copy-source").is_some();
        let upload = self.has_param("uploadId");
        let op = match (self.method.as_str(), key.is_empty()) {
            ("GET", true) if self.param("list-type") == Some("2") => Op::ListObjectsV2,
            ("GET", false) if !upload => Op::GetObject,
            ("HEAD", false) => Op::HeadObject,
            ("PUT", false) if upload && self.has_param("partNumber") => {
                if copy {
                    Op::UploadPartCopy
                } else {
                    Op::UploadPart
                }
            }
            ("PUT", false) if copy => Op::CopyObject,
            ("PUT", false) => Op::PutObject,
            ("POST", false) if self.has_param("uploads") => Op::CreateMultipartUpload,
            ("POST", false) if upload => Op::CompleteMultipartUpload,
            ("DELETE", false) if upload => Op::AbortMultipartUpload,
            ("DELETE", false) => Op::DeleteObject,
            _ => Op::Other,
        };
        (op, bucket, key)
    }
}

/// `%XX` decoding of a path (a `+` stays a `+`, as S3 reads paths).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An S3 error answer, as S3 words it. HEAD answers carry no body.
fn error_answer(
    status: u16,
    reason: &str,
    code: &str,
    message: &str,
    head_only: bool,
    id: u64,
) -> Vec<u8> {
    let body = if head_only {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-{id}</RequestId><HostId>fault-proxy</HostId></Error>"
        )
    };
    let content_length = if head_only { 0 } else { body.len() };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\ncontent-length: {content_length}\r\nx-amz-request-id: fault-{id}\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Serves one client connection: requests in order, each forwarded over this
/// connection's own upstream connection (opened lazily, reopened after a failure).
async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let mut client = Peer::new(socket);
    let mut upstream: Option<Peer> = None;
    loop {
        let head = match client.read_head().await {
            Ok(Some(head)) => head,
            _ => return,
        };
        let body = match client.read_body(request_framing(&head)).await {
            Ok(body) => body,
            Err(_) => return,
        };
        let mut words = head.start_line.split(' ');
        let method = words.next().unwrap_or_default().to_string();
        let target = words.next().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (path, query) = (path.to_string(), query.to_string());
        let request = Request {
            head,
            body,
            method,
            path,
            query,
        };
        let (op, bucket, key) = request.classify();
        let arrived = shared.next_seq();
        let _in_flight = InFlight::enter(&shared.in_flight);
        let fault = shared.decide(&request, op);
        // Subscribe before looking, so a release in between is not missed.
        let mut release = shared.release.subscribe();
        if lock(&shared.held_ops).contains(&op) {
            shared.held.fetch_add(1, Ordering::SeqCst);
            let _ = release.changed().await;
            shared.held.fetch_sub(1, Ordering::SeqCst);
        }
        let mut exchange = Exchange {
            op,
            method: request.method.clone(),
            bucket,
            key,
            invocation_id: request
                .head
                .header("amz-sdk-invocation-id")
                .map(str::to_string),
            fault,
            upstream_status: None,
            delivered: false,
            arrived,
            finished: 0,
        };
        let head_only = request.method == "HEAD";
        let keep_open = match fault {
            Some(Fault::SlowDown) => {
                let answer = error_answer(
                    503,
                    "Slow Down",
                    "SlowDown",
                    "Please reduce your request rate.",
                    head_only,
                    arrived,
                );
                exchange.delivered = client.answer(&answer).await;
                exchange.delivered
            }
            Some(Fault::InternalError) => {
                let answer = error_answer(
                    500,
                    "Internal Server Error",
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    head_only,
                    arrived,
                );
                exchange.delivered = client.answer(&answer).await;
                exchange.delivered
            }
            Some(Fault::InternalErrorIn200) => {
                let (status, reason) = if op.may_fail_inside_200() {
                    (200, "OK")
                } else {
                    (500, "Internal Server Error")
                };
                let answer = error_answer(
                    status,
                    reason,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    head_only,
                    arrived,
                );
                exchange.delivered = client.answer(&answer).await;
                exchange.delivered
            }
            Some(Fault::DropBeforeUpstream) => false,
            None | Some(Fault::DropAfterUpstream) | Some(Fault::TruncateResponse) => {
                match forward(&shared, &mut upstream, &request).await {
                    Err(_) => {
                        // Upstream failed: close both sides, as a proxy would.
                        upstream = None;
                        false
                    }
                    Ok((answer, head_len, status, upstream_closes)) => {
                        exchange.upstream_status = Some(status);
                        if upstream_closes {
                            upstream = None;
                        }
                        match fault {
                            Some(Fault::DropAfterUpstream) => false,
                            Some(Fault::TruncateResponse) => {
                                let cut = if answer.len() > head_len {
                                    head_len + (answer.len() - head_len) / 2
                                } else {
                                    head_len / 2
                                };
                                let _ = client.stream.write_all(&answer[..cut]).await;
                                false
                            }
                            _ => {
                                exchange.delivered = client.answer(&answer).await;
                                exchange.delivered
                                    && !upstream_closes
                                    && !request.head.has_token("connection", "close")
                            }
                        }
                    }
                }
            }
        };
        let _ = client.stream.flush().await;
        exchange.finished = shared.next_seq();
        lock(&shared.log).push(exchange);
        if !keep_open {
            let _ = client.stream.shutdown().await;
            return;
        }
    }
}

/// Sends the request upstream exactly as received; returns the whole answer as
/// received, the length of its head, its status and whether upstream closes.
async fn forward(
    shared: &Shared,
    upstream: &mut Option<Peer>,
    request: &Request,
) -> std::io::Result<(Vec<u8>, usize, u16, bool)> {
    if upstream.is_none() {
        let stream = TcpStream::connect(shared.upstream).await?;
        let _ = stream.set_nodelay(true);
        *upstream = Some(Peer::new(stream));
    }
    let Some(peer) = upstream.as_mut() else {
        return Err(std::io::Error::other("no upstream connection"));
    };
    let mut raw = Vec::with_capacity(request.head.raw.len() + request.body.len());
    raw.extend_from_slice(&request.head.raw);
    raw.extend_from_slice(&request.body);
    peer.stream.write_all(&raw).await?;
    loop {
        let head = peer
            .read_head()
            .await?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        let status = status_of(&head).ok_or_else(|| std::io::Error::other("bad status line"))?;
        if (100..200).contains(&status) {
            // `100 Continue`: the body went out with the head already.
            continue;
        }
        let framing = response_framing(&head, &request.method, status);
        let until_close = matches!(framing, Framing::UntilClose);
        let body = peer.read_body(framing).await?;
        let closes = until_close || head.has_token("connection", "close");
        let head_len = head.raw.len();
        let mut answer = head.raw;
        answer.extend_from_slice(&body);
        return Ok((answer, head_len, status, closes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_like_s3() {
        assert_eq!(percent_decode("a%20b/c%2Bd+e%25"), "a b/c+d+e%");
        assert_eq!(percent_decode("%C3%A9%F0%9F%98%80"), "é😀");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn rates_pick_in_order_and_leave_the_rest_alone() {
        let rates = FaultRates::mixed(0.5);
        assert!((rates.total() - 0.5).abs() < 1e-9);
        assert_eq!(rates.pick(0.0), Some(Fault::SlowDown));
        assert_eq!(rates.pick(0.49), Some(Fault::TruncateResponse));
        assert_eq!(rates.pick(0.5), None);
        assert_eq!(FaultRates::none().pick(0.0), None);
        assert_eq!(rates.without_lost_answers().pick(0.45), None);
    }

    #[test]
    fn the_hash_spreads_draws_evenly() {
        let rates = FaultRates::mixed(0.1);
        let hits = (0..20_000u64)
            .filter(|i| {
                let draw = splitmix64(7 ^ fnv1a(b"PUT /b/k") ^ splitmix64(*i));
                rates
                    .pick((draw >> 11) as f64 / (1u64 << 53) as f64)
                    .is_some()
            })
            .count();
        assert!((1_700..2_300).contains(&hits), "{hits}");
    }
}
