//! Test support for the example trainers.
//!
//! What the trainers' end-to-end tests (`trainers/*/tests/trainer.rs`) share:
//!
//! - the generated dataset in memory: [`generated`], [`files_under`], [`records`];
//! - a training job's `/opt/ml` (SM_ML_ROOT) in a temporary directory, and the
//!   binary's `train` run on it: [`Job`];
//! - the binary's `serve` on a free port, waited for and killed on drop: [`Serve`],
//!   with a hand-written HTTP/1.1 client ([`http`]);
//! - a metric as the job's MetricDefinitions regex reads it from stdout: [`metric`].
//!
//! Everything panics with a readable message on failure: it is test support.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataset::GeneratedFile;

/// How long [`Serve::start`] waits for `GET /ping` to answer 200.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`http`] waits for an answer (a read timeout).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

// ---- the generated dataset ----------------------------------------------------------

/// The dataset generated in memory with `pages` pages and `seed` (the other options
/// default): every file, paths relative to the dataset root and '/'-separated.
pub fn generated(pages: usize, seed: u64) -> Vec<GeneratedFile> {
    let options = dataset::Options {
        pages,
        seed,
        ..Default::default()
    };
    let (files, _summary) = dataset::generate(&options)
        .unwrap_or_else(|e| panic!("generating {pages} pages (seed {seed}): {e}"));
    files
}

/// The files under `folder/` (e.g. `image/train`; a trailing `/` is ignored), in the
/// generator's order. Panics when there is none: a test reading an empty folder has a
/// wrong folder name or too few pages.
pub fn files_under<'a>(files: &'a [GeneratedFile], folder: &str) -> Vec<&'a GeneratedFile> {
    let prefix = format!("{}/", folder.trim_end_matches('/'));
    let found: Vec<_> = files
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
        .collect();
    assert!(!found.is_empty(), "no generated file under {prefix}");
    found
}

/// Every record under `folder/` as `T` ([`dataset::records`]), panicking when the
/// folder holds no file or a record does not parse.
pub fn records<T: serde::de::DeserializeOwned>(files: &[GeneratedFile], folder: &str) -> Vec<T> {
    files_under(files, folder);
    dataset::records(files, folder)
        .unwrap_or_else(|e| panic!("a record under {folder}/ does not parse: {e}"))
}

// ---- a training job -----------------------------------------------------------------

/// A training job's SM_ML_ROOT (what SageMaker mounts as `/opt/ml`) in a temporary
/// directory, removed on drop: `input/config/hyperparameters.json` and the channels'
/// files under `input/data/<channel>/`. The binary writes `model/` and
/// `output/failure` into it.
///
/// ```no_run
/// # use trainer_testkit::Job;
/// # let (train, validation) = (String::new(), String::new());
/// let job = Job::new(&[("epochs", "20")])
///     .channel("train", "part-00000.jsonl", train)
///     .channel("validation", "part-00000.jsonl", validation);
/// let output = job.train("target/debug/text-trainer");
/// assert!(output.status.success(), "{:?}", job.failure());
/// assert!(job.root().join("model/model.json").is_file());
/// ```
#[derive(Debug)]
pub struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    /// A job with these hyperparameters, written as SageMaker does: a JSON object of
    /// strings (in the order given; a repeated name keeps its last value).
    pub fn new(hyperparameters: &[(&str, &str)]) -> Job {
        let dir = tempfile::Builder::new()
            .prefix("trainer-job-")
            .tempdir()
            .expect("create a temporary SM_ML_ROOT");
        let map: serde_json::Map<String, serde_json::Value> = hyperparameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect();
        let job = Job { dir };
        job.write(
            "input/config/hyperparameters.json",
            serde_json::Value::Object(map).to_string().as_bytes(),
        );
        job
    }

    /// Writes `input/data/<name>/<file_name>` (creating the channel; replacing the file
    /// if it exists).
    pub fn channel(self, name: &str, file_name: &str, contents: impl AsRef<[u8]>) -> Job {
        self.write(&format!("input/data/{name}/{file_name}"), contents.as_ref());
        self
    }

    /// The SM_ML_ROOT directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `<binary> train` on the job (SM_ML_ROOT set) and returns its output.
    pub fn train(&self, binary: impl AsRef<OsStr>) -> Output {
        let binary = binary.as_ref();
        Command::new(binary)
            .arg("train")
            .env("SM_ML_ROOT", self.root())
            .output()
            .unwrap_or_else(|e| panic!("running {} train: {e}", binary.to_string_lossy()))
    }

    /// The failure reason the job wrote (`output/failure`), if any.
    pub fn failure(&self) -> Option<String> {
        std::fs::read_to_string(self.root().join("output/failure")).ok()
    }

    fn write(&self, relative: &str, contents: &[u8]) {
        let path = self.root().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

// ---- serving --------------------------------------------------------------------------

/// `<binary> serve` on a free port, answering `/ping`; killed on drop (also when an
/// assertion fails). Its stdout is discarded, its stderr kept for the panic messages.
#[derive(Debug)]
pub struct Serve {
    child: Child,
    port: u16,
    stderr: File,
}

impl Serve {
    /// Starts `<binary> serve` with SM_ML_ROOT = `ml_root` (the model is read from
    /// `<ml_root>/model`) and SAGEMAKER_BIND_TO_PORT = a free port, then waits until
    /// `GET /ping` answers 200. Panics, with the server's stderr, if the server exits
    /// first or does not answer within [`PING_TIMEOUT`].
    pub fn start(binary: impl AsRef<OsStr>, ml_root: impl AsRef<Path>) -> Serve {
        let binary = binary.as_ref();
        let port = free_port();
        let stderr = tempfile::tempfile().expect("a temporary file for serve's stderr");
        let child = Command::new(binary)
            .arg("serve")
            .env("SM_ML_ROOT", ml_root.as_ref())
            .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.try_clone().expect("clone serve's stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} serve: {e}", binary.to_string_lossy()));
        // From here on, a panic drops (kills) the server.
        let mut serve = Serve {
            child,
            port,
            stderr,
        };
        let deadline = Instant::now() + PING_TIMEOUT;
        loop {
            if let Ok((200, _)) = http(port, "GET", "/ping", b"") {
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!(
                    "serve exited with {status} before answering /ping; stderr:\n{}",
                    serve.stderr()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "serve did not answer /ping on port {port} within {PING_TIMEOUT:?}; stderr:\n{}",
                    serve.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `POST <path>` with `body` (as `application/jsonlines`): (status, body).
    pub fn post(&self, path: &str, body: impl AsRef<[u8]>) -> (u16, String) {
        self.exchange("POST", path, body.as_ref())
    }

    /// `GET <path>`: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        self.exchange("GET", path, b"")
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        let mut file = &self.stderr;
        let mut text = String::new();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut text);
        text
    }

    fn exchange(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        http(self.port, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on port {}: {e}", self.port))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free at the time of the call (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// One HTTP/1.1 exchange with `127.0.0.1:<port>` (`Connection: close`, body sent as
/// `application/jsonlines`): the status and the body, a chunked body decoded. An error
/// when the connection fails or no answer comes within [`HTTP_TIMEOUT`]; status 0 when
/// the answer has no status line.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/jsonlines\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let (head, rest) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&raw[..at], &raw[at + 4..]),
        None => (&raw[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A chunked body's data (up to the last chunk, or as far as it is complete).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&rest[..at]);
        // chunk-size [; extensions]
        let size = size_line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            break;
        };
        let data = &rest[at + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        rest = data[size..].strip_prefix(b"\r\n").unwrap_or(&data[size..]);
    }
    out
}

// ---- metrics ----------------------------------------------------------------------------

/// The value of metric `name` in `stdout` as the job's MetricDefinitions regex
/// `<name>=([-+0-9.eE]+)` captures it: the first `<name>=` followed by such a number,
/// where `<name>` starts a line or follows whitespace (so `accuracy` does not match
/// inside `validation:accuracy=`). `None` when there is none.
pub fn metric(stdout: &str, name: &str) -> Option<f64> {
    let key = format!("{name}=");
    let mut from = 0;
    while let Some(found) = stdout[from..].find(&key) {
        let at = from + found;
        from = at + key.len();
        if !stdout[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace)
        {
            continue;
        }
        let value: &str = {
            let tail = &stdout[from..];
            let end = tail
                .find(|c: char| !matches!(c, '-' | '+' | '0'..='9' | '.' | 'e' | 'E'))
                .unwrap_or(tail.len());
            &tail[..end]
        };
        if let Ok(value) = value.parse() {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_reads_the_first_whole_name() {
        let stdout = "train:loss=0.5\n\
                      validation:accuracy=0.75 validation:text_accuracy=0.5;\n\
                      xaccuracy=9 accuracy=1e-3\n";
        assert_eq!(metric(stdout, "train:loss"), Some(0.5));
        assert_eq!(metric(stdout, "validation:accuracy"), Some(0.75));
        assert_eq!(metric(stdout, "validation:text_accuracy"), Some(0.5));
        assert_eq!(metric(stdout, "accuracy"), Some(1e-3));
        assert_eq!(metric(stdout, "loss"), None);
        assert_eq!(metric("a=x a=-2.5E1", "a"), Some(-25.0));
        assert_eq!(metric("", "a"), None);
    }

    #[test]
    fn dechunk_joins_the_chunks() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"),
            b"Wikipedia"
        );
        // An incomplete last chunk is left out.
        assert_eq!(dechunk(b"3\r\nabc\r\n9\r\nde"), b"abc");
        assert_eq!(dechunk(b""), b"");
    }

    /// A one-shot HTTP server answering `answer` verbatim; returns its port.
    fn answer_once(answer: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            // The head, then Content-Length bytes of body.
            loop {
                let n = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if body.len() >= length {
                        break;
                    }
                }
                assert!(n > 0, "the request ended early");
            }
            stream.write_all(answer).unwrap();
            request
        });
        (port, handle)
    }

    #[test]
    fn http_sends_the_body_and_decodes_the_answer() {
        let (port, server) = answer_once(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nlin\r\n3\r\ne 2\r\n0\r\n\r\n",
        );
        let (status, body) = http(port, "POST", "/invocations", b"{}\n{}").unwrap();
        assert_eq!((status, body.as_str()), (400, "line 2"));
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            request.starts_with("POST /invocations HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Content-Length: 5\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{}\n{}"), "{request}");

        let (port, server) = answer_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(http(port, "GET", "/ping", b"").unwrap(), (200, "ok".into()));
        server.join().unwrap();
    }

    #[test]
    fn a_job_writes_hyperparameters_as_strings_and_channels() {
        let job = Job::new(&[("epochs", "20"), ("l2", "1"), ("epochs", "5")])
            .channel("train", "part-00000.jsonl", "a\n")
            .channel("train", "part-00000.jsonl", b"b\n")
            .channel("labels", "part-00000.jsonl.out", String::from("c"));
        let root = job.root().to_path_buf();
        let read = |relative: &str| std::fs::read_to_string(root.join(relative)).unwrap();
        assert_eq!(
            read("input/config/hyperparameters.json"),
            r#"{"epochs":"5","l2":"1"}"#
        );
        assert_eq!(read("input/data/train/part-00000.jsonl"), "b\n");
        assert_eq!(read("input/data/labels/part-00000.jsonl.out"), "c");
        assert_eq!(job.failure(), None);
        std::fs::create_dir_all(root.join("output")).unwrap();
        std::fs::write(root.join("output/failure"), "hyperparameter `epochs`: ...").unwrap();
        assert_eq!(
            job.failure().as_deref(),
            Some("hyperparameter `epochs`: ...")
        );
        drop(job);
        assert!(!root.exists());
    }

    #[test]
    fn records_and_files_under_read_the_generated_dataset() {
        let files = generated(60, 3);
        assert_eq!(files, generated(60, 3));
        let parts = files_under(&files, "text/train/");
        assert!(parts.iter().all(|f| f.path.starts_with("text/train/")));
        let pages: Vec<dataset::TextPage> = records(&files, "text/train");
        let lines: usize = parts
            .iter()
            .map(|f| f.body.iter().filter(|&&b| b == b'\n').count())
            .sum();
        assert_eq!(pages.len(), lines);
    }

    #[test]
    #[should_panic(expected = "no generated file under nowhere/")]
    fn files_under_an_empty_folder_panics() {
        files_under(&generated(60, 3), "nowhere");
    }

    #[test]
    fn serve_reports_a_server_that_exits() {
        // `sh serve` fails at once (no such script) and says so on stderr.
        let job = Job::new(&[]);
        let panic = std::panic::catch_unwind(|| Serve::start("sh", job.root()))
            .expect_err("sh cannot serve");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.starts_with("serve exited with"), "{message}");
        let (_, stderr) = message.split_once("stderr:\n").expect("stderr");
        assert!(stderr.contains("serve"), "{message}");
    }
}
