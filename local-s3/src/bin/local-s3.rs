//! A standalone S3-compatible server for benchmarks and manual runs: the `local-s3`
//! store over a directory, on 127.0.0.1 only. Prints its endpoint on stdout once it
//! serves, then serves until SIGTERM or SIGINT.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use local_s3::store::valid_bucket_name;
use local_s3::{LocalS3, Options, REGION};

const HELP: &str = "\
local-s3: an S3-compatible server over a directory, on 127.0.0.1

USAGE:
    local-s3 --root DIR [--port PORT] [--bucket NAME]...

OPTIONS:
    --root DIR       directory holding the buckets (created if missing), one
                     subdirectory per bucket; objects stored there by an earlier
                     run are served again. A directory of another layout (files
                     written by s3s-fs, say) is refused, not touched
    --port PORT      TCP port on 127.0.0.1 (default 0: a free port)
    --bucket NAME    create this bucket before serving unless it exists; repeatable
    -h, --help       this text

Prints `http://127.0.0.1:PORT` on stdout once it accepts connections, then serves
until SIGTERM or SIGINT, and exits 0. Requests must be signed (SigV4) with:
    AWS_ACCESS_KEY_ID=local-access-key AWS_SECRET_ACCESS_KEY=local-secret-key
    AWS_REGION=us-east-1
and use path-style addressing. The directory's layout is the server's own (keys are
stored under their hash): read and write objects through the S3 API only, and run
one server per directory.

EXIT CODES:
    0  stopped by SIGTERM or SIGINT; 1  the server could not start; 2  bad arguments
";

struct Args {
    root: PathBuf,
    port: u16,
    buckets: Vec<String>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut root = None;
    let mut port = 0u16;
    let mut buckets = Vec::new();
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--port" => {
                let raw = value("--port")?;
                port = raw
                    .parse()
                    .map_err(|_| format!("--port: {raw:?} is not a port number"))?;
            }
            "--bucket" => {
                let name = value("--bucket")?;
                if !valid_bucket_name(&name) {
                    return Err(format!("--bucket: {name:?} is not a valid bucket name"));
                }
                buckets.push(name);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let root = root.ok_or("--root is required")?;
    Ok(Some(Args {
        root,
        port,
        buckets,
    }))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("local-s3: {problem} (see --help)");
            return ExitCode::from(2);
        }
    };
    // Before any thread starts, so that every thread inherits the mask and the
    // signals wait for `sigwait` below instead of killing the process mid-write.
    let signals = match block_termination_signals() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("local-s3: blocking SIGTERM and SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match serve(&args) {
        Ok(server) => server,
        Err(problem) => {
            eprintln!("local-s3: {problem}");
            return ExitCode::FAILURE;
        }
    };
    match wait_for(&signals) {
        Ok(signal) => eprintln!("local-s3: signal {signal}, stopping"),
        Err(e) => eprintln!("local-s3: waiting for signals: {e}; stopping"),
    }
    drop(server);
    ExitCode::SUCCESS
}

fn serve(args: &Args) -> Result<LocalS3, String> {
    let root = &args.root;
    let server = LocalS3::start_with(Options {
        root: Some(root.clone()),
        port: args.port,
        ..Options::default()
    })
    .map_err(|e| format!("serving {}: {e}", root.display()))?;
    for bucket in &args.buckets {
        server
            .store()
            .ensure_bucket(bucket)
            .map_err(|e| format!("creating bucket {bucket}: {e}"))?;
    }
    // The endpoint line is the readiness signal: printed once serving.
    let endpoint = server.endpoint();
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{endpoint}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the endpoint: {e}"))?;
    eprintln!(
        "local-s3: serving {} at {endpoint} (region {REGION}, path-style)",
        root.display()
    );
    Ok(server)
}

fn block_termination_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: `set` is a local, initialised by sigemptyset before use; the calls only
    // read it and change this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

fn wait_for(set: &libc::sigset_t) -> io::Result<i32> {
    let mut signal = 0;
    // SAFETY: `set` is an initialised signal set and `signal` a valid out-pointer.
    let rc = unsafe { libc::sigwait(set, &mut signal) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_options() {
        let parsed = args(&[
            "--root", "/tmp/x", "--port", "9000", "--bucket", "a-b", "--bucket", "c.d",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(parsed.root, PathBuf::from("/tmp/x"));
        assert_eq!(parsed.port, 9000);
        assert_eq!(parsed.buckets, ["a-b", "c.d"]);
        assert!(args(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_arguments() {
        assert!(args(&[]).is_err());
        assert!(args(&["--root"]).is_err());
        assert!(args(&["--root", "x", "--port", "http"]).is_err());
        assert!(args(&["--root", "x", "--bucket", "../up"]).is_err());
        assert!(args(&["--root", "x", "--bucket", "UPPER"]).is_err());
        assert!(args(&["--root", "x", "--what"]).is_err());
    }
}
