//! A "container": the image's local command run as its own process group, its
//! stdout and stderr captured line by line into the job's `logs.txt` (SageMaker sends
//! both streams to CloudWatch, and matches `MetricDefinitions` against them), and
//! stopped the way SageMaker stops a job: SIGTERM, then SIGKILL after a grace period
//! (docs: API_StoppingCondition, "sends the algorithm the SIGTERM signal, which delays
//! job termination for 120 seconds").
//!
//! The whole process group is signalled, so a shell script's children go too; when
//! a [`Container`] is dropped (its job future cancelled, the runner shutting down)
//! the group is killed, so no process outlives the job that started it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a process is started.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: String,
    pub args: Vec<String>,
    /// The complete environment (nothing else is inherited).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log_path: PathBuf,
    /// For log lines in `tracing`.
    pub job: String,
}

/// A line sink besides `logs.txt` (metric matching).
pub(crate) type LineHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Longest line kept whole; longer ones are cut (with a marker), as a log pipeline
/// would, so a binary blob on stdout cannot exhaust memory.
const MAX_LINE_BYTES: usize = 256 * 1024;

/// How long to wait for the output pipes to drain after the process exited (a
/// daemonized grandchild may hold them open; it is killed with the group).
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The process exited by itself with this code (128 + signal when killed).
    Exited(i32),
    /// The deadline passed; the process was stopped and ended with this code.
    DeadlineReached(i32),
    /// A stop was requested; the process was stopped and ended with this code.
    StopRequested(i32),
}

pub(crate) struct Container {
    child: Child,
    group: GroupGuard,
    logs: Option<JoinHandle<()>>,
    exited: Option<i32>,
}

/// Kills the process group when dropped.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn signal(&self, signal: i32) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, signal);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

fn signal_group(pgid: i32, signal: i32) {
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the
    // process group this module created (the child was made its group's leader), and
    // a group that is gone yields ESRCH, which is ignored.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// 128 + signal for a signal death, as Docker reports container exit codes.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}

impl Container {
    /// Starts the process. An error means it could not be started at all.
    pub fn spawn(launch: &Launch, hook: Option<LineHook>) -> std::io::Result<Container> {
        if let Some(parent) = launch.log_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log_path)?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&launch.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(read_lines(stdout, tx.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(read_lines(stderr, tx.clone())));
        }
        drop(tx);
        let logs = tokio::spawn(write_logs(
            rx,
            tokio::fs::File::from_std(log_file),
            launch.job.clone(),
            hook,
            readers,
        ));
        Ok(Container {
            child,
            group: GroupGuard { pgid },
            logs: Some(logs),
            exited: None,
        })
    }

    /// Waits for the process to exit by itself, for `deadline`, or for `stop` to
    /// become true; in the last two cases stops it (SIGTERM, `grace`, SIGKILL).
    pub async fn wait(
        &mut self,
        deadline: Option<Instant>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        grace: Duration,
    ) -> Ended {
        if let Some(code) = self.exited {
            return Ended::Exited(code);
        }
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(sleep);
        let stop_requested = async {
            loop {
                if *stop.borrow_and_update() {
                    return;
                }
                if stop.changed().await.is_err() {
                    // The sender is gone: no stop will ever come.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::pin!(stop_requested);
        tokio::select! {
            status = self.child.wait() => {
                let code = status.map(exit_code).unwrap_or(-1);
                self.exited = Some(code);
                Ended::Exited(code)
            }
            _ = &mut sleep => Ended::DeadlineReached(self.stop(grace).await),
            _ = &mut stop_requested => Ended::StopRequested(self.stop(grace).await),
        }
    }

    /// Whether the process has exited (without waiting), and with which code.
    pub fn try_exited(&mut self) -> Option<i32> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(exit_code(status));
            }
        }
        self.exited
    }

    /// SIGTERM to the group, up to `grace` for the process to exit, then SIGKILL.
    /// Returns the exit code.
    pub async fn stop(&mut self, grace: Duration) -> i32 {
        if let Some(code) = self.try_exited() {
            self.group.signal(libc::SIGKILL);
            return code;
        }
        self.group.signal(libc::SIGTERM);
        let code = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.map(exit_code).unwrap_or(-1),
            Err(_) => {
                self.group.signal(libc::SIGKILL);
                let _ = self.child.start_kill();
                self.child.wait().await.map(exit_code).unwrap_or(-1)
            }
        };
        // Whatever the leader left behind goes with the container.
        self.group.signal(libc::SIGKILL);
        self.exited = Some(code);
        code
    }

    /// Waits until every line the process wrote is in `logs.txt` (and seen by the
    /// hook). Call after the process exited.
    pub async fn flush_logs(&mut self) {
        // Grandchildren that still hold the pipes open are part of the container.
        self.group.signal(libc::SIGKILL);
        if let Some(logs) = self.logs.take() {
            let abort = logs.abort_handle();
            if tokio::time::timeout(DRAIN_WAIT, logs).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn read_lines<R: AsyncRead + Unpin>(stream: R, tx: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match read_line_capped(&mut reader, &mut buffer).await {
            Ok(0) => break,
            Ok(_) => {
                while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                    buffer.pop();
                }
                if tx
                    .send(String::from_utf8_lossy(&buffer).into_owned())
                    .is_err()
                {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}

/// Reads up to and including `\n`, keeping at most [`MAX_LINE_BYTES`] (the rest of
/// an over-long line is consumed and replaced by a marker). Returns bytes consumed.
async fn read_line_capped<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0usize;
    let mut truncated = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            break;
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(buffer.len());
        if chunk.len() > room {
            buffer.extend_from_slice(&chunk[..room]);
            truncated = true;
        } else {
            buffer.extend_from_slice(chunk);
        }
        let used = chunk.len();
        reader.consume(used);
        consumed += used;
        if done {
            break;
        }
    }
    if truncated {
        buffer.extend_from_slice(b" [line truncated]");
    }
    Ok(consumed)
}

async fn write_logs(
    mut rx: mpsc::UnboundedReceiver<String>,
    file: tokio::fs::File,
    job: String,
    hook: Option<LineHook>,
    readers: Vec<JoinHandle<()>>,
) {
    let mut file = tokio::io::BufWriter::new(file);
    while let Some(line) = rx.recv().await {
        tracing::debug!(job = %job, "{line}");
        if let Some(hook) = &hook {
            hook(&line);
        }
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
    }
    let _ = file.flush().await;
    for reader in readers {
        let _ = reader.await;
    }
}

/// Appends a line of our own (not the container's) to a job's log, so `logs.txt`
/// tells the whole story of the job.
pub(crate) fn note(log_path: &Path, line: &str) {
    use std::io::Write;
    if let Some(parent) = log_path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
    {
        let _ = writeln!(file, "[sfn-local] {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn launch(dir: &Path, script: &str) -> Launch {
        Launch {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("GREETING".into(), "hi".into()),
            ],
            cwd: dir.to_path_buf(),
            log_path: dir.join("logs.txt"),
            job: "test".into(),
        }
    }

    fn no_stop() -> (
        tokio::sync::watch::Sender<bool>,
        tokio::sync::watch::Receiver<bool>,
    ) {
        tokio::sync::watch::channel(false)
    }

    #[tokio::test]
    async fn captures_both_streams_and_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&seen);
        let hook: LineHook =
            Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string()));
        let mut c = Container::spawn(
            &launch(
                dir.path(),
                "echo out $GREETING; echo err >&2; printf 'no newline'; exit 3",
            ),
            Some(hook),
        )
        .unwrap();
        let (_tx, mut rx) = no_stop();
        assert_eq!(
            c.wait(None, &mut rx, Duration::from_secs(1)).await,
            Ended::Exited(3)
        );
        c.flush_logs().await;
        let logs = std::fs::read_to_string(dir.path().join("logs.txt")).unwrap();
        assert!(
            logs.contains("out hi\n") && logs.contains("err\n") && logs.contains("no newline\n"),
            "{logs}"
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn the_environment_is_exactly_the_given_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Container::spawn(&launch(dir.path(), "env"), None).unwrap();
        let (_tx, mut rx) = no_stop();
        c.wait(None, &mut rx, Duration::from_secs(1)).await;
        c.flush_logs().await;
        let logs = std::fs::read_to_string(dir.path().join("logs.txt")).unwrap();
        assert!(logs.contains("GREETING=hi"));
        assert!(!logs.contains("HOME="), "{logs}");
    }

    #[tokio::test]
    async fn a_deadline_sends_sigterm_first() {
        let dir = tempfile::tempdir().unwrap();
        let script =
            "trap 'echo got-term; exit 0' TERM; echo started; while true; do sleep 0.05; done";
        let mut c = Container::spawn(&launch(dir.path(), script), None).unwrap();
        let (_tx, mut rx) = no_stop();
        let deadline = Instant::now() + Duration::from_millis(300);
        let ended = c
            .wait(Some(deadline), &mut rx, Duration::from_secs(5))
            .await;
        assert_eq!(ended, Ended::DeadlineReached(0));
        c.flush_logs().await;
        let logs = std::fs::read_to_string(dir.path().join("logs.txt")).unwrap();
        assert!(logs.contains("got-term"), "{logs}");
    }

    #[tokio::test]
    async fn sigkill_follows_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let script = "trap '' TERM; while true; do sleep 0.05; done";
        let mut c = Container::spawn(&launch(dir.path(), script), None).unwrap();
        let (_tx, mut rx) = no_stop();
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(100);
        let ended = c
            .wait(Some(deadline), &mut rx, Duration::from_millis(300))
            .await;
        assert_eq!(ended, Ended::DeadlineReached(128 + libc::SIGKILL));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_stop_request_stops_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Container::spawn(&launch(dir.path(), "sleep 30"), None).unwrap();
        let (tx, mut rx) = no_stop();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(true);
        });
        let ended = c.wait(None, &mut rx, Duration::from_secs(2)).await;
        assert_eq!(ended, Ended::StopRequested(128 + libc::SIGTERM));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = launch(dir.path(), "");
        l.program = dir.path().join("nope").to_string_lossy().into_owned();
        assert!(Container::spawn(&l, None).is_err());
    }

    #[tokio::test]
    async fn dropping_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let c = Container::spawn(&launch(dir.path(), &script), None).unwrap();
        let mut waited = 0;
        while !pid_file.exists() && waited < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let grandchild: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        drop(c);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The grandchild is gone (or a zombie awaiting its reaper).
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z "), "{state}");
    }

    #[tokio::test]
    async fn over_long_lines_are_cut() {
        let mut input = vec![b'a'; MAX_LINE_BYTES + 10];
        input.push(b'\n');
        input.extend_from_slice(b"next\n");
        let mut reader = BufReader::new(&input[..]);
        let mut buffer = Vec::new();
        let n = read_line_capped(&mut reader, &mut buffer).await.unwrap();
        assert_eq!(n, MAX_LINE_BYTES + 11);
        assert!(buffer.ends_with(b" [line truncated]"));
        buffer.clear();
        read_line_capped(&mut reader, &mut buffer).await.unwrap();
        assert_eq!(buffer, b"next\n");
    }

    #[test]
    fn notes_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/logs.txt");
        note(&path, "hello");
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "[sfn-local] hello\n"
        );
    }
}
