//! The Lambda pool with real processes: the project's generate-config binary, and small
//! bash + curl programs that speak the Runtime API the way a runtime does, to make the
//! cases a real function rarely shows (exits, signals, hangs, init errors).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support;
use sfn_local::asl::AslError;
use sfn_local::integrations::lambda::{FunctionSpec, LambdaPool, PoolOptions};

fn fixture(name: &str) -> Value {
    let path = support::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A runtime written in bash: it loops on `/next` and acts on the event's `action`.
const RUNTIME: &str = r#"#!/bin/bash
set -u
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
if [ "${MODE:-}" = "init-error" ]; then
  curl -sS -X POST "$API/init/error" -H 'Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError' \
    --data-binary '{"errorType":"Runtime.ImportModuleError","errorMessage":"Unable to import module handler"}' >/dev/null
  exit 1
fi
header() { awk -F': ' -v h="$1" 'tolower($1)==h {print $2}' "$HEADERS" | tr -d '\r'; }
respond() { curl -sS -X POST "$API/invocation/$ID/response" --data-binary "$1" >/dev/null; }
fail() { curl -sS -X POST "$API/invocation/$ID/error" -H 'Lambda-Runtime-Function-Error-Type: Unhandled' --data-binary "$1" >/dev/null; }
while true; do
  HEADERS=$(mktemp)
  BODY=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 2
  ID=$(header lambda-runtime-aws-request-id)
  case "$BODY" in
    *'"sleep1"'*) sleep 1; respond "{\"pid\":$$}" ;;
    *'"sleep30"'*) sleep 30; respond '{}' ;;
    *'"exit3"'*) exit 3 ;;
    *'"exit0"'*) exit 0 ;;
    *'"kill9"'*) kill -9 $$ ;;
    *'"error"'*) fail '{"errorType":"CustomError","errorMessage":"it failed","stackTrace":["at handler","at main"]}' ;;
    *'"untyped"'*) fail '{"errorMessage":"no type here"}' ;;
    *'"stderr"'*) echo "hello from stderr" >&2; echo "hello from stdout"; respond '"ok"' ;;
    *'"text"'*) respond 'plain text' ;;
    *'"big"'*) head -c 7000000 /dev/zero | tr '\0' 'a' > "$HEADERS.big"; curl -sS -X POST "$API/invocation/$ID/response" --data-binary "@$HEADERS.big" >/dev/null; rm -f "$HEADERS.big" ;;
    *'"env"'*)
      CC=$(header lambda-runtime-client-context); [ -n "$CC" ] || CC=null
      respond "$(printf '{"name":"%s","version":"%s","memory":"%s","group":"%s","stream":"%s","init":"%s","region":"%s","default_region":"%s","handler":"%s","task_root":"%s","home":"%s","custom":"%s","path_set":"%s","request_id":"%s","deadline":"%s","arn":"%s","trace":"%s","client_context":%s}' \
        "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_VERSION" "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" \
        "$AWS_LAMBDA_LOG_GROUP_NAME" "$AWS_LAMBDA_LOG_STREAM_NAME" "$AWS_LAMBDA_INITIALIZATION_TYPE" "$AWS_REGION" "$AWS_DEFAULT_REGION" \
        "$_HANDLER" "$LAMBDA_TASK_ROOT" "${HOME:-}" "${CUSTOM:-}" "${PATH:+yes}" \
        "$ID" "$(header lambda-runtime-deadline-ms)" "$(header lambda-runtime-invoked-function-arn)" \
        "$(header lambda-runtime-trace-id)" "$CC")" ;;
    *) respond "$BODY" ;;
  esac
  rm -f "$HEADERS"
done
"#;

/// Writes the bash runtime into `dir` and returns its path.
fn bash_runtime(dir: &Path) -> PathBuf {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "these tests need curl on PATH"
    );
    let path = dir.join("bootstrap");
    std::fs::write(&path, RUNTIME).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn spec(name: &str, binary: PathBuf, env: &[(&str, &str)], timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        name: name.into(),
        binary,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout,
        memory_mb: 128,
    }
}

/// A pool with one bash function "script" and the given options.
fn script_pool(
    dir: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
    options: PoolOptions,
) -> LambdaPool {
    let binary = bash_runtime(dir);
    LambdaPool::with_options(vec![spec("script", binary, env, timeout)], options)
}

fn generate_config_pool() -> LambdaPool {
    LambdaPool::new(vec![
        spec(
            "generate-config",
            support::function_binaries().join("generate-config"),
            &[
                ("ARTIFACT_BUCKET", "ensemble-artifacts"),
                ("ALLOWED_SOURCE_BUCKETS", "ensemble-raw-data"),
            ],
            Duration::from_secs(30),
        ),
        spec(
            "unconfigured",
            support::function_binaries().join("generate-config"),
            &[],
            Duration::from_secs(30),
        ),
    ])
}

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:generate-config";

fn error(result: Result<Value, AslError>) -> AslError {
    match result {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

/// Whether a process still runs (a zombie does not count).
fn running(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn generate_config_succeeds_and_the_optimized_integration_wraps_it() {
    let pool = generate_config_pool();
    let out = pool
        .invoke_optimized(json!({"FunctionName": ARN, "Payload": fixture("generate-config.json")}))
        .await
        .unwrap();
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    assert!(
        out["Payload"]["text_model"]["InputDataConfig"].is_array(),
        "{out}"
    );
    assert_eq!(
        out["Payload"]["execution_name"],
        json!("nightly-2026-11-27")
    );
    let request_id = out["SdkResponseMetadata"]["RequestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        out["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"],
        json!(request_id)
    );
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    let length: usize = out["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 100);

    // The Resource-is-the-function style returns the function's result itself, from
    // the same warm process.
    let plain = pool
        .invoke("generate-config", fixture("generate-config-rerun.json"))
        .await
        .unwrap();
    assert_eq!(plain["image_model"]["train"], json!(false));

    let records = pool.invocations();
    assert_eq!(records.len(), 2);
    assert!(records[0].cold_start && records[0].init.is_some());
    assert!(!records[1].cold_start && records[1].init.is_none());
    assert_eq!(records[0].request_id, request_id);
    assert!(records
        .iter()
        .all(|r| r.error.is_none() && r.function == "generate-config" && r.billed_ms >= 1));
}

#[tokio::test]
async fn a_function_error_keeps_its_error_type_and_payload() {
    let pool = generate_config_pool();
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "generate-config", "Payload": fixture("generate-config-invalid.json")}))
            .await,
    );
    assert_eq!(e.error, "InvalidInput");
    // The cause is the payload the runtime posted, as Step Functions gives it.
    let cause: Value = serde_json::from_str(&e.cause).unwrap();
    assert_eq!(cause["errorType"], json!("InvalidInput"));
    assert!(
        cause["errorMessage"].as_str().unwrap().contains("$."),
        "{cause}"
    );

    for event in [json!("a string"), json!([1, 2]), json!(42)] {
        let e = error(pool.invoke("generate-config", event.clone()).await);
        assert_eq!(e.error, "InvalidInput", "{event}");
    }
    let e = error(
        pool.invoke("unconfigured", fixture("generate-config.json"))
            .await,
    );
    assert_eq!(e.error, "ConfigurationError");
    let records = pool.invocations();
    assert_eq!(
        records.last().unwrap().error.as_deref(),
        Some("ConfigurationError")
    );
}

#[tokio::test]
async fn unknown_function_is_resource_not_found_and_lists_the_known_ones() {
    let pool = generate_config_pool();
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "nope", "Payload": {}}))
            .await,
    );
    assert_eq!(e.error, "Lambda.ResourceNotFoundException");
    assert!(
        e.cause.starts_with("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: "),
        "{}",
        e.cause
    );
    assert!(
        e.cause
            .ends_with("Proxy: null) [sfn-local: known functions: generate-config, unconfigured]"),
        "{}",
        e.cause
    );
    let e = error(
        pool.invoke(
            "arn:aws:lambda:eu-west-1:111111111111:function:nope:live",
            json!({}),
        )
        .await,
    );
    assert!(
        e.cause.starts_with(
            "Function not found: arn:aws:lambda:eu-west-1:111111111111:function:nope:live "
        ),
        "{}",
        e.cause
    );
    assert!(pool.invocations().is_empty());
}

#[tokio::test]
async fn function_name_formats_and_qualifiers() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    for name in [
        "script",
        "script:live",
        "123456789012:function:script",
        "arn:aws:lambda:us-east-1:123456789012:function:script",
        "arn:aws:lambda:us-east-1:123456789012:function:script:$LATEST",
    ] {
        let out = pool.invoke(name, json!({"action": "env"})).await.unwrap();
        let arn = out["arn"].as_str().unwrap();
        assert!(
            arn.starts_with("arn:aws:lambda:us-east-1:123456789012:function:script"),
            "{name}: {arn}"
        );
    }
    let out = pool
        .invoke_optimized(
            json!({"FunctionName": "script", "Qualifier": "3", "Payload": {"action": "env"}}),
        )
        .await
        .unwrap();
    assert_eq!(out["ExecutedVersion"], json!("3"));
    assert_eq!(
        out["Payload"]["arn"],
        json!("arn:aws:lambda:us-east-1:123456789012:function:script:3")
    );
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "script:live", "Qualifier": "prod"}))
            .await,
    );
    assert_eq!(e.error, "Lambda.InvalidParameterValueException");
    assert!(e.cause.starts_with(
        "The derived qualifier from the function name does not match the specified qualifier."
    ));
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "bad name"}))
            .await,
    );
    assert_eq!(e.error, "Lambda.AWSLambdaException");
    assert!(
        e.cause.contains("Error Code: ValidationException"),
        "{}",
        e.cause
    );
}

#[tokio::test]
async fn concurrent_invocations_start_more_processes_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(script_pool(
        dir.path(),
        &[],
        Duration::from_secs(30),
        PoolOptions {
            max_processes: 3,
            ..PoolOptions::default()
        },
    ));
    let start = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.invoke("script", json!({"action": "sleep1"})).await })
        })
        .collect();
    let mut pids = Vec::new();
    for call in calls {
        pids.push(call.await.unwrap().unwrap()["pid"].as_u64().unwrap());
    }
    let parallel = start.elapsed();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "one process per concurrent invocation");
    assert!(
        parallel < Duration::from_millis(2900),
        "ran in parallel: {parallel:?}"
    );

    // Six more at once: the three warm processes take two rounds, no fourth starts.
    let start = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.invoke("script", json!({"action": "sleep1"})).await })
        })
        .collect();
    let mut later = Vec::new();
    for call in calls {
        later.push(call.await.unwrap().unwrap()["pid"].as_u64().unwrap());
    }
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "queued: {:?}",
        start.elapsed()
    );
    later.sort_unstable();
    later.dedup();
    assert_eq!(later, pids, "the warm processes were reused");
    let records = pool.invocations();
    assert_eq!(records.iter().filter(|r| r.cold_start).count(), 3);
}

#[tokio::test]
async fn generate_config_handles_concurrent_invocations() {
    let pool = Arc::new(generate_config_pool());
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.invoke(ARN, fixture("generate-config.json")).await })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().unwrap()["text_model"].is_object());
    }
    assert_eq!(pool.invocations().len(), 4);
}

#[tokio::test]
async fn a_process_that_exits_is_runtime_exit_error_and_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    let first = pool
        .invoke("script", json!({"action": "sleep1"}))
        .await
        .unwrap()["pid"]
        .as_u64()
        .unwrap();

    let e = error(pool.invoke("script", json!({"action": "exit3"})).await);
    assert_eq!(e.error, "Runtime.ExitError");
    let cause: Value = serde_json::from_str(&e.cause).unwrap();
    assert_eq!(cause["errorType"], json!("Runtime.ExitError"));
    let message = cause["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("RequestId: ")
            && message.ends_with(" Error: Runtime exited with error: exit status 3"),
        "{message}"
    );
    // Lambda's key order: errorType first.
    assert!(
        e.cause
            .starts_with(r#"{"errorType":"Runtime.ExitError","errorMessage":"RequestId: "#),
        "{}",
        e.cause
    );

    let second = pool
        .invoke("script", json!({"action": "sleep1"}))
        .await
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    assert_ne!(first, second, "a new process");
    let records = pool.invocations();
    assert_eq!(records[1].error.as_deref(), Some("Runtime.ExitError"));
    assert!(records[2].cold_start);

    let e = error(pool.invoke("script", json!({"action": "exit0"})).await);
    assert!(
        e.cause
            .contains("Error: Runtime exited without providing a reason"),
        "{}",
        e.cause
    );
    let e = error(pool.invoke("script", json!({"action": "kill9"})).await);
    assert_eq!(e.error, "Runtime.ExitError");
    assert!(
        e.cause
            .contains("Error: Runtime exited with error: signal: killed"),
        "{}",
        e.cause
    );
}

#[tokio::test]
async fn the_function_timeout_is_sandbox_timedout_and_the_process_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(2),
        PoolOptions::default(),
    );
    let pid = pool
        .invoke("script", json!({"action": "sleep1"}))
        .await
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    let start = Instant::now();
    let e = error(pool.invoke("script", json!({"action": "sleep30"})).await);
    let took = start.elapsed();
    assert_eq!(e.error, "Sandbox.Timedout");
    let cause: Value = serde_json::from_str(&e.cause).unwrap();
    let message = cause["errorMessage"].as_str().unwrap();
    assert!(
        message.ends_with("Error: Task timed out after 2.00 seconds"),
        "{message}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!running(pid), "the timed-out process was killed");
    let next = pool
        .invoke("script", json!({"action": "sleep1"}))
        .await
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    assert_ne!(next, pid);
}

#[tokio::test]
async fn an_init_error_is_the_invocations_error() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[("MODE", "init-error")],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    for _ in 0..2 {
        let e = error(pool.invoke("script", json!({})).await);
        assert_eq!(e.error, "Runtime.ImportModuleError");
        assert_eq!(
            e.cause,
            r#"{"errorType":"Runtime.ImportModuleError","errorMessage":"Unable to import module handler"}"#
        );
    }
    // Each invocation started a new environment.
    assert!(pool.invocations().iter().all(|r| r.cold_start));
}

#[tokio::test]
async fn error_payloads_with_and_without_error_type() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "script", "Payload": {"action": "error"}}))
            .await,
    );
    assert_eq!(e.error, "CustomError");
    assert_eq!(
        e.cause,
        r#"{"errorType":"CustomError","errorMessage":"it failed","stackTrace":["at handler","at main"]}"#
    );
    let e = error(pool.invoke("script", json!({"action": "untyped"})).await);
    assert_eq!(e.error, "Lambda.Unknown");
    assert_eq!(
        e.cause,
        r#"The cause could not be determined because Lambda did not return an error type. Returned payload: {"errorMessage":"no type here"}"#
    );
    // The process stays warm after a handled error.
    assert!(pool.invocations().iter().skip(1).all(|r| !r.cold_start));
}

#[tokio::test]
async fn a_missing_binary_is_an_invalid_entrypoint() {
    let pool = LambdaPool::new(vec![spec(
        "ghost",
        PathBuf::from("/nonexistent/bootstrap"),
        &[],
        Duration::from_secs(3),
    )]);
    let e = error(pool.invoke("ghost", json!({})).await);
    assert_eq!(e.error, "Runtime.InvalidEntrypoint");
    assert!(
        e.cause
            .contains("Couldn't find valid bootstrap(s): [/nonexistent/bootstrap]"),
        "{}",
        e.cause
    );
}

#[tokio::test]
async fn the_process_sees_lambdas_environment_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[("CUSTOM", "from-spec")],
        Duration::from_secs(10),
        PoolOptions {
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            ..PoolOptions::default()
        },
    );
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"k":"v"}}"#);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let out = pool
        .invoke_optimized(json!({"FunctionName": "script", "Payload": {"action": "env"}, "ClientContext": context}))
        .await
        .unwrap();
    let env = &out["Payload"];
    assert_eq!(env["name"], json!("script"));
    assert_eq!(env["version"], json!("$LATEST"));
    assert_eq!(env["memory"], json!("128"));
    assert_eq!(env["group"], json!("/aws/lambda/script"));
    assert!(
        env["stream"].as_str().unwrap().contains("/[$LATEST]"),
        "{env}"
    );
    assert_eq!(env["init"], json!("on-demand"));
    assert_eq!(env["region"], json!("eu-west-1"));
    assert_eq!(env["default_region"], json!("eu-west-1"));
    assert_eq!(env["handler"], json!("bootstrap"));
    assert_eq!(env["task_root"], json!(dir.path().display().to_string()));
    assert_eq!(
        env["home"],
        json!(""),
        "nothing inherited but PATH and RUST_LOG"
    );
    assert_eq!(env["custom"], json!("from-spec"));
    assert_eq!(env["path_set"], json!("yes"));
    assert_eq!(env["request_id"], out["SdkResponseMetadata"]["RequestId"]);
    let deadline: u128 = env["deadline"].as_str().unwrap().parse().unwrap();
    assert!(
        deadline >= before + 9_000 && deadline <= before + 12_000,
        "deadline {deadline} vs {before}"
    );
    assert_eq!(
        env["arn"],
        json!("arn:aws:lambda:eu-west-1:111122223333:function:script")
    );
    assert!(
        env["trace"].as_str().unwrap().starts_with("Root=1-"),
        "{env}"
    );
    assert_eq!(env["client_context"], json!({"custom": {"k": "v"}}));
}

#[tokio::test]
async fn event_dry_run_and_invalid_invocation_types() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    let start = Instant::now();
    let out = pool
        .invoke_optimized(json!({"FunctionName": "script", "InvocationType": "Event", "Payload": {"action": "sleep1"}}))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "did not wait: {:?}",
        start.elapsed()
    );
    assert_eq!(out["StatusCode"], json!(202));
    assert_eq!(out["Payload"], json!(""));
    assert!(out.get("ExecutedVersion").is_none());
    // It still runs, in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.invocations().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pool.invocations().len(), 1);

    let out = pool
        .invoke_optimized(json!({"FunctionName": "script", "InvocationType": "DryRun"}))
        .await
        .unwrap();
    assert_eq!(out["StatusCode"], json!(204));
    assert_eq!(pool.invocations().len(), 1, "a dry run invokes nothing");

    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "script", "InvocationType": "Sync"}))
            .await,
    );
    assert_eq!(e.error, "Lambda.AWSLambdaException");
    assert!(
        e.cause
            .contains("Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
        "{}",
        e.cause
    );
    let e = error(
        pool.invoke_optimized(json!({"FunctionName": "script", "Payloads": {}}))
            .await,
    );
    assert_eq!(e.error, "States.Runtime");
    let e = error(pool.invoke_optimized(json!({"Payload": {}})).await);
    assert_eq!(e.error, "States.Runtime");
    assert!(e.cause.contains("FunctionName"));
}

#[tokio::test]
async fn payload_forms_and_responses_that_are_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    // The echo action returns the event as received.
    let echo = |payload: Value| {
        let pool = &pool;
        async move {
            pool.invoke_optimized(json!({"FunctionName": "script", "Payload": payload}))
                .await
        }
    };
    assert_eq!(
        echo(json!({"a": [1, 2]})).await.unwrap()["Payload"],
        json!({"a": [1, 2]})
    );
    assert_eq!(echo(json!("[]")).await.unwrap()["Payload"], json!([]));
    assert_eq!(echo(json!(null)).await.unwrap()["Payload"], json!({}));
    let e = error(echo(json!("HelloWorld")).await);
    assert_eq!(e.error, "Lambda.InvalidRequestContentException");
    let out = echo(json!({"action": "text"})).await.unwrap();
    assert_eq!(out["Payload"], json!("plain text"));
    let e = error(echo(json!({"action": "big"})).await);
    assert_eq!(e.error, "Function.ResponseSizeTooLarge");
    assert!(
        e.cause.contains(
            "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        ),
        "{}",
        e.cause
    );
}

#[tokio::test]
async fn output_goes_to_the_log_file_and_log_type_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("lambda.log");
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions {
            log_file: Some(log.clone()),
            ..PoolOptions::default()
        },
    );
    let out = pool
        .invoke_optimized(
            json!({"FunctionName": "script", "LogType": "Tail", "Payload": {"action": "stderr"}}),
        )
        .await
        .unwrap();
    assert_eq!(out["Payload"], json!("ok"));
    let tail = base64::engine::general_purpose::STANDARD
        .decode(out["LogResult"].as_str().unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(
        tail.contains("hello from stderr") && tail.contains("hello from stdout"),
        "{tail}"
    );
    assert!(
        tail.contains("REPORT RequestId: ") && tail.contains("Billed Duration: "),
        "{tail}"
    );
    drop(pool);
    let text = std::fs::read_to_string(&log).unwrap();
    for part in [
        "[script] START RequestId: ",
        "[script] hello from stderr",
        "[script] END RequestId: ",
        "Init Duration: ",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[tokio::test]
async fn dropping_the_pool_kills_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    let pool = script_pool(
        dir.path(),
        &[],
        Duration::from_secs(10),
        PoolOptions::default(),
    );
    let pid = pool
        .invoke("script", json!({"action": "sleep1"}))
        .await
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    assert!(running(pid));
    drop(pool);
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!running(pid), "no orphan after the pool is dropped");
}
