//! Runs the copy-execution-data handler from the command line against a local
//! S3-compatible server (`local-s3`), looping on its continuation as the state
//! machine does, and prints a JSON summary. The benchmark (`scripts/bench-copy`)
//! times this process; its peak RSS is the copier's.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{Credentials, Region};
use copy_execution_data::config::CopyConfig;
use integration_tests::s3_server::{ACCESS_KEY, REGION, SECRET_KEY};
use serde_json::{json, Value};

const HELP: &str = "\
copy-cli: runs the copy-execution-data handler against a local S3 server

USAGE:
    copy-cli --endpoint URL --source s3://BUCKET/PREFIX/ --destination s3://BUCKET/AREA/RUN/DATA/
             [--concurrency N] [--threshold BYTES] [--part-size BYTES]
             [--deadline-margin SECONDS] [--call-seconds SECONDS]
             [--set NAME=VALUE]... [--max-calls N]

OPTIONS:
    --endpoint URL             the server, on a loopback address (http://127.0.0.1:PORT)
    --source URI               what to copy (its bucket becomes ALLOWED_SOURCE_BUCKETS)
    --destination URI          where to; its bucket becomes ARTIFACT_BUCKET and its first
                               path segment ARTIFACT_PREFIX; the second names the
                               execution (the manifest goes there), so it needs three
    --concurrency N            COPY_CONCURRENCY (function default 64)
    --threshold BYTES          MULTIPART_THRESHOLD_BYTES (default 128 MiB)
    --part-size BYTES          MULTIPART_PART_SIZE_BYTES (default 64 MiB)
    --deadline-margin SECONDS  DEADLINE_MARGIN_SECONDS (default 60)
    --call-seconds SECONDS     each call's deadline, like a Lambda timeout (default 900)
    --set NAME=VALUE           any other configuration variable; repeatable
    --max-calls N              give up after N calls (default 10000)
    -h, --help                 this text

Credentials are the fixed ones of local-s3; addressing is path-style. Each call's
result is fed back as the next event until `done` is true. Progress (one line per
call) goes to stderr; the summary (the last result, calls, seconds, objects/s,
MiB/s, the process's peak RSS) to stdout as one JSON object.

EXIT CODES:
    0  copy done;  1  the handler returned an error (its errorType and message on
    stderr) or the loop made no progress;  2  bad arguments
";

struct Options {
    endpoint: String,
    source: String,
    destination: String,
    vars: HashMap<String, String>,
    call_seconds: u64,
    max_calls: u64,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut endpoint = None;
    let mut source = None;
    let mut destination = None;
    let mut vars = HashMap::new();
    let mut call_seconds = 900u64;
    let mut max_calls = 10_000u64;
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, raw: String| -> Result<u64, String> {
            raw.parse()
                .map_err(|_| format!("{name}: {raw:?} is not a whole number"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--endpoint" => endpoint = Some(value("--endpoint")?),
            "--source" => source = Some(value("--source")?),
            "--destination" => destination = Some(value("--destination")?),
            "--concurrency" => {
                vars.insert("COPY_CONCURRENCY".into(), value("--concurrency")?);
            }
            "--threshold" => {
                vars.insert("MULTIPART_THRESHOLD_BYTES".into(), value("--threshold")?);
            }
            "--part-size" => {
                vars.insert("MULTIPART_PART_SIZE_BYTES".into(), value("--part-size")?);
            }
            "--deadline-margin" => {
                vars.insert(
                    "DEADLINE_MARGIN_SECONDS".into(),
                    value("--deadline-margin")?,
                );
            }
            "--call-seconds" => call_seconds = number("--call-seconds", value("--call-seconds")?)?,
            "--max-calls" => max_calls = number("--max-calls", value("--max-calls")?)?,
            "--set" => {
                let pair = value("--set")?;
                let (name, val) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--set: {pair:?} is not NAME=VALUE"))?;
                vars.insert(name.to_string(), val.to_string());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let endpoint = endpoint.ok_or("--endpoint is required")?;
    let source = source.ok_or("--source is required")?;
    let destination = destination.ok_or("--destination is required")?;
    if !is_loopback(&endpoint) {
        return Err(format!(
            "--endpoint {endpoint:?} must be http://127.x.x.x, http://localhost or http://[::1]"
        ));
    }
    let (source_bucket, _) = split_uri(&source).ok_or("--source must be s3://BUCKET/PREFIX")?;
    let (artifact_bucket, dest_key) =
        split_uri(&destination).ok_or("--destination must be s3://BUCKET/PREFIX")?;
    // The function writes below `ARTIFACT_PREFIX<execution>/` (its manifest goes
    // in `<execution>/`): take the first segment as ARTIFACT_PREFIX, so
    // `s3://b/runs/one/data/` runs with ARTIFACT_PREFIX=runs/ and execution `one`.
    let segments: Vec<&str> = dest_key.split('/').filter(|s| !s.is_empty()).collect();
    let parent = match segments.as_slice() {
        [first, _, _, ..] => format!("{first}/"),
        _ => {
            return Err(
                "--destination needs three path segments, e.g. s3://bucket/runs/one/data/".into(),
            )
        }
    };
    vars.entry("ALLOWED_SOURCE_BUCKETS".into())
        .or_insert_with(|| source_bucket.to_string());
    vars.entry("ARTIFACT_BUCKET".into())
        .or_insert_with(|| artifact_bucket.to_string());
    vars.entry("ARTIFACT_PREFIX".into()).or_insert(parent);
    Ok(Some(Options {
        endpoint,
        source,
        destination,
        vars,
        call_seconds,
        max_calls,
    }))
}

fn is_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || port.starts_with(':'),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `s3://bucket/key` → (bucket, key); the function validates the rest.
fn split_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty()).then_some((bucket, key))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("copy-cli: {problem} (see --help)");
            return ExitCode::from(2);
        }
    };
    let config = match CopyConfig::from_map(&options.vars) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("copy-cli: {}: {}", err.kind, err.message);
            return ExitCode::from(2);
        }
    };
    match run(&options, &config).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("copy-cli: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options, config: &CopyConfig) -> Result<Value, String> {
    // The function's own client (its retry policy), pointed at the local server.
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&options.endpoint)
        .credentials_provider(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "local-s3",
        ))
        .load()
        .await;
    let s3 = copy_execution_data::s3_client(
        &sdk_config,
        &config.s3_retry,
        config.copy_concurrency,
        true,
    );

    let started = Instant::now();
    let mut event = json!({
        "source": options.source,
        "destination": options.destination,
        "continuation": null,
    });
    let mut calls = 0u64;
    loop {
        calls += 1;
        let deadline = SystemTime::now() + Duration::from_secs(options.call_seconds);
        let call_started = Instant::now();
        let result = copy_execution_data::handle(&s3, config, event.clone(), deadline)
            .await
            .map_err(|err| format!("call {calls}: {}: {}", err.kind, err.message))?;
        let result = serde_json::to_value(&result).map_err(|e| format!("call {calls}: {e}"))?;
        let counter = |name: &str| result.get(name).and_then(Value::as_u64).unwrap_or(0);
        let done = result.get("done").and_then(Value::as_bool).unwrap_or(false);
        eprintln!(
            "copy-cli: call {calls}: done={done} copied={} skipped={} bytes={} in {:.2}s",
            counter("copied"),
            counter("skipped"),
            counter("bytes"),
            call_started.elapsed().as_secs_f64()
        );
        if done {
            return Ok(summary(result, calls, started.elapsed()));
        }
        // A call that hands back the continuation it was given would loop for ever.
        if result.get("continuation") == event.get("continuation") {
            return Err(format!("call {calls} made no progress"));
        }
        if calls >= options.max_calls {
            return Err(format!("not done after {calls} calls (--max-calls)"));
        }
        // The state machine passes the result back in unchanged.
        event = result;
    }
}

fn summary(result: Value, calls: u64, elapsed: Duration) -> Value {
    let counter = |name: &str| result.get(name).and_then(Value::as_u64).unwrap_or(0);
    let objects = counter("copied") + counter("skipped");
    let bytes = counter("bytes");
    let seconds = elapsed.as_secs_f64().max(1e-9);
    json!({
        "calls": calls,
        "objects": objects,
        "bytes": bytes,
        "seconds": seconds,
        "objects_per_s": objects as f64 / seconds,
        "mib_per_s": bytes as f64 / (1024.0 * 1024.0) / seconds,
        "peak_rss_mib": peak_rss_kib().map(|kib| kib as f64 / 1024.0),
        "result": result,
    })
}

/// `VmHWM` (peak resident set) of this process, from /proc; None elsewhere.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn derives_the_configuration_from_the_uris() {
        let options = parse(args(&[
            "--endpoint",
            "http://127.0.0.1:9000",
            "--source",
            "s3://src/data/",
            "--destination",
            "s3://dst/runs/one/data/",
            "--concurrency",
            "8",
            "--set",
            "EXTRA=x=y",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(options.vars["ALLOWED_SOURCE_BUCKETS"], "src");
        assert_eq!(options.vars["ARTIFACT_BUCKET"], "dst");
        assert_eq!(options.vars["ARTIFACT_PREFIX"], "runs/");
        assert_eq!(options.vars["COPY_CONCURRENCY"], "8");
        assert_eq!(options.vars["EXTRA"], "x=y");
    }

    #[test]
    fn refuses_bad_arguments() {
        let base = ["--source", "s3://src/data/", "--endpoint"];
        for (endpoint, destination) in [
            ("http://10.0.0.1:9000", "s3://dst/runs/one/data/"),
            ("https://127.0.0.1:9000", "s3://dst/runs/one/data/"),
            ("http://127.0.0.1:9000", "s3://dst/runs/one/"),
            ("http://127.0.0.1:9000", "dst/runs/one/data/"),
        ] {
            let mut list = base.to_vec();
            list.extend([endpoint, "--destination", destination]);
            assert!(parse(args(&list)).is_err(), "{endpoint} {destination}");
        }
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn loopback_endpoints() {
        for ok in [
            "http://127.0.0.1:1",
            "http://127.3.2.1",
            "http://localhost:80/",
            "http://[::1]:9",
        ] {
            assert!(is_loopback(ok), "{ok}");
        }
        for bad in [
            "http://192.168.1.1:9",
            "http://example.com",
            "http://[::2]:9",
            "ftp://127.0.0.1",
        ] {
            assert!(!is_loopback(bad), "{bad}");
        }
    }
}
