//! copy-execution-data under faults and interruption: the real handler (and the real
//! binary) against an embedded S3 server behind a fault-injecting proxy that answers
//! a fraction of requests with 503 SlowDown, 500 InternalError or an error inside a
//! 200, or drops the connection before forwarding, after forwarding, or mid-answer.
//!
//! What every test proves from the proxy's log, not only from the final state:
//! the destination equals the source object for object and byte for byte, no
//! object is created twice once it was intact (all successful creating requests
//! for a key come from one SDK call, i.e. share one `amz-sdk-invocation-id`), and
//! the cumulative counters match what actually happened.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use copy_execution_data::{handle, CopyConfig};
use integration_tests::fault_proxy::{Exchange, Fault, FaultPlan, FaultProxy, FaultRates, Op};
use integration_tests::lambda_runtime_api::{LocalLambda, Outcome};
use integration_tests::s3_server::EmbeddedS3;
use serde_json::{json, Value};
use shared::copy::CopyResult;
use shared::ErrorKind;

const SRC: &str = "src-bucket";
const ARTIFACTS: &str = "artifact-bucket";
const SOURCE_PREFIX: &str = "datasets/v1/";
const DEST_PREFIX: &str = "executions/faults/data/";
const MIB: usize = 1024 * 1024;

/// Relative key → body.
type Dataset = BTreeMap<String, Vec<u8>>;

/// Deterministic, non-repeating bytes, so a misplaced part cannot go unnoticed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Keys that break naive `copy_source` handling, nested prefixes of them, empty
/// objects among them, and a key that makes its copy's key 1,000 bytes long (S3
/// allows 1,024).
fn awkward_keys() -> Vec<String> {
    let stem = format!("awkward/long/{}/", "é".repeat(20));
    let filler = 1_000 - DEST_PREFIX.len() - stem.len() - ".txt".len();
    let long = format!("{stem}{}.txt", "l".repeat(filler));
    let mut keys: Vec<String> = [
        "awkward/with space.txt",
        "awkward/ leading and trailing space .txt",
        "awkward/a+plus+sign.txt",
        "awkward/100%.txt",
        "awkward/%2F-looks-encoded.txt",
        "awkward/café/naïve résumé.txt",
        "awkward/emoji 😀🚀/🎉.txt",
        "awkward/hash#tag.txt",
        "awkward/question?mark=1&x=2.txt",
        "awkward/tilde~bang!quote'paren(1).txt",
        "awkward/star*semi;comma,colon:at@dollar$.txt",
        "awkward/dir with space/sub+dir/ü.txt",
        "awkward/brackets[1]{2}^caret`tick|pipe.txt",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    keys.push(long);
    keys
}

/// `small` small objects over nested prefixes, the awkward keys, empty objects, and
/// `big` objects above the 8 MiB multipart threshold of [`config`] (one exactly at
/// it, the others 12 MiB and a tail: parts of 5, 5 and 2 MiB).
fn dataset(small: usize, big: usize) -> Dataset {
    let mut data = Dataset::new();
    for i in 0..small {
        let key = format!("shard-{}/day-{:02}/rows-{i:05}.csv", i % 7, i % 11);
        data.insert(key, format!("row {i}\n").repeat(i % 13 + 1).into_bytes());
    }
    for (i, key) in awkward_keys().into_iter().enumerate() {
        let body = format!("awkward {i}: {key}").into_bytes();
        data.insert(key, body);
    }
    data.insert("awkward/empty file +.txt".into(), Vec::new());
    data.insert("empty/zero.bin".into(), Vec::new());
    data.insert("empty/nested/deeper/zero.bin".into(), Vec::new());
    for i in 0..big {
        let size = if i == 0 { 8 * MIB } else { 12 * MIB + 1000 + i };
        data.insert(format!("big/part-{i}.bin"), noise(size, i as u64 + 1));
    }
    data
}

fn total_bytes(data: &Dataset) -> u64 {
    data.values().map(|b| b.len() as u64).sum()
}

/// The embedded S3 server, a client straight to it (fixtures and checks) and the
/// proxy in front of it (the copier's way in).
struct Rig {
    server: EmbeddedS3,
    direct: Client,
    proxy: FaultProxy,
}

/// Whether a key of the dataset is one of the bulk objects (small rows and big
/// files) rather than an awkward or empty one.
fn is_bulk(key: &str) -> bool {
    key.starts_with("shard-") || key.starts_with("big/")
}

async fn rig(plan: FaultPlan, data: &Dataset) -> Rig {
    let server = EmbeddedS3::start().unwrap();
    let direct = server.client();
    for bucket in [SRC, ARTIFACTS] {
        direct.create_bucket().bucket(bucket).send().await.unwrap();
    }
    // The bulk of the fixture goes straight into the server's store (the same
    // index and files a PutObject writes, ETag = MD5 of the content), because a
    // PutObject costs as much as a copy in a debug build; the awkward and empty
    // objects go through PutObject, so both kinds of source objects are copied.
    // `assert_exact_copy` checks the source listing too.
    for (key, body) in data.iter().filter(|(k, _)| is_bulk(k)) {
        server
            .store()
            .put_object(SRC, &format!("{SOURCE_PREFIX}{key}"), body)
            .unwrap();
    }
    for (key, body) in data.iter().filter(|(k, _)| !is_bulk(k)) {
        direct
            .put_object()
            .bucket(SRC)
            .key(format!("{SOURCE_PREFIX}{key}"))
            .body(ByteStream::from(body.clone()))
            .content_type("text/plain; charset=utf-8")
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
    let proxy = FaultProxy::start(&server.endpoint(), plan).unwrap();
    Rig {
        server,
        direct,
        proxy,
    }
}

fn config_with(extra: &[(&str, &str)]) -> CopyConfig {
    let mut vars: Vec<(&str, &str)> = vec![
        ("ALLOWED_SOURCE_BUCKETS", SRC),
        ("ARTIFACT_BUCKET", ARTIFACTS),
        ("MULTIPART_THRESHOLD_BYTES", "8388608"),
        ("MULTIPART_PART_SIZE_BYTES", "5242880"),
        ("COPY_CONCURRENCY", "16"),
        ("DEADLINE_MARGIN_SECONDS", "0"),
    ];
    vars.extend_from_slice(extra);
    CopyConfig::from_map(
        &vars
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap()
}

fn first_event() -> Value {
    json!({
        "source": format!("s3://{SRC}/{SOURCE_PREFIX}"),
        "destination": format!("s3://{ARTIFACTS}/{DEST_PREFIX}"),
        "continuation": null,
    })
}

/// One invocation, as seen from the proxy: the requests it made arrived in
/// `[from, to)`.
#[derive(Debug)]
struct Call {
    from: u64,
    to: u64,
    succeeded: bool,
}

/// The state machine's loop: each result goes back in until `done`; a call that
/// fails with the retryable `ServiceUnavailable` is retried with the same event
/// (the Retry on that error name). Any other error fails the test.
async fn drive_handler(
    s3: &Client,
    config: &CopyConfig,
    proxy: &FaultProxy,
    deadline: impl Fn() -> SystemTime,
) -> (CopyResult, Vec<Call>) {
    let mut event = first_event();
    let mut calls = Vec::new();
    loop {
        assert!(calls.len() < 200, "the loop does not converge: {calls:?}");
        let from = proxy.mark();
        let outcome = handle(s3, config, event.clone(), deadline()).await;
        // Writes a call made are over when it returns: it waits for its copies.
        assert!(proxy.wait_idle(Duration::from_secs(10)).await);
        let to = proxy.mark();
        match outcome {
            Ok(result) => {
                calls.push(Call {
                    from,
                    to,
                    succeeded: true,
                });
                if result.done {
                    assert_eq!(result.continuation, None);
                    return (result, calls);
                }
                assert!(result.continuation.is_some());
                event = serde_json::to_value(&result).unwrap();
            }
            Err(err) if err.kind == ErrorKind::ServiceUnavailable => {
                calls.push(Call {
                    from,
                    to,
                    succeeded: false,
                });
            }
            Err(err) => panic!(
                "call {} failed with a non-retryable error: {err}",
                calls.len() + 1
            ),
        }
    }
}

/// Every object under `prefix` (paged listing), relative key → size.
async fn listing(s3: &Client, bucket: &str, prefix: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page.unwrap().contents() {
            let key = object.key().unwrap();
            let relative = key.strip_prefix(prefix).unwrap().to_string();
            let size = u64::try_from(object.size().unwrap_or(-1)).unwrap();
            assert!(out.insert(relative, size).is_none(), "{key} listed twice");
        }
    }
    out
}

/// The destination holds exactly the dataset: same keys, same sizes, same bytes;
/// and the artifact bucket holds nothing else but the manifest, if one was written.
async fn assert_exact_copy(rig: &Rig, data: &Dataset, result: &CopyResult) {
    let source = listing(&rig.direct, SRC, SOURCE_PREFIX).await;
    let expected: BTreeMap<String, u64> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(source, expected, "the fixture itself is wrong");
    let copied = listing(&rig.direct, ARTIFACTS, DEST_PREFIX).await;
    if copied != expected {
        let extra: Vec<_> = copied
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !copied.contains_key(*k))
            .collect();
        let resized: Vec<_> = expected
            .iter()
            .filter(|(k, size)| copied.get(*k).is_some_and(|s| s != *size))
            .collect();
        panic!("destination differs: extra {extra:?}, missing {missing:?}, resized {resized:?}");
    }
    let manifest = serde_json::to_value(result).unwrap()["manifest"]
        .as_str()
        .map(str::to_string);
    let everything = listing(&rig.direct, ARTIFACTS, "").await;
    let others: Vec<&String> = everything
        .keys()
        .filter(|k| !k.starts_with(DEST_PREFIX))
        .filter(|k| manifest.as_deref() != Some(&format!("s3://{ARTIFACTS}/{k}")))
        .collect();
    assert!(others.is_empty(), "unexpected objects: {others:?}");

    // Byte for byte: every object as the server stores it, and the awkward and
    // empty ones through the S3 API as well.
    for (key, body) in data {
        let stored = rig
            .server
            .store()
            .get_object(ARTIFACTS, &format!("{DEST_PREFIX}{key}"))
            .unwrap_or_else(|| panic!("{key}: missing"));
        assert!(stored == *body, "{key}: bytes differ");
    }
    for (key, body) in data.iter().filter(|(k, _)| !is_bulk(k)) {
        let got = rig
            .direct
            .get_object()
            .bucket(ARTIFACTS)
            .key(format!("{DEST_PREFIX}{key}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
        assert_eq!(
            got.content_type(),
            Some("text/plain; charset=utf-8"),
            "{key}"
        );
        let got = got.body.collect().await.unwrap().into_bytes();
        assert!(got.as_ref() == body.as_slice(), "{key}: bytes differ");
    }
}

/// What the proxy saw happen to the destination keys.
struct Writes {
    /// Relative key → the `arrived` sequence number of its creating write.
    first_write: BTreeMap<String, u64>,
    /// Keys created by more than one SDK call, with those calls' ids.
    rewritten: BTreeMap<String, BTreeSet<String>>,
}

/// Collects the creating writes (CopyObject, CompleteMultipartUpload, PutObject)
/// that upstream carried out under the destination prefix.
fn writes(exchanges: &[Exchange]) -> Writes {
    let mut by_key: BTreeMap<String, Vec<&Exchange>> = BTreeMap::new();
    for e in exchanges {
        if e.bucket == ARTIFACTS && e.op.creates_object() && e.upstream_ok() {
            if let Some(relative) = e.key.strip_prefix(DEST_PREFIX) {
                by_key.entry(relative.to_string()).or_default().push(e);
            }
        }
    }
    let mut first_write = BTreeMap::new();
    let mut rewritten = BTreeMap::new();
    for (key, list) in by_key {
        let calls: BTreeSet<String> = list
            .iter()
            .map(|e| e.invocation_id.clone().unwrap_or_default())
            .collect();
        if calls.len() > 1 {
            rewritten.insert(key.clone(), calls);
        }
        let first = list.iter().map(|e| e.arrived).min().unwrap_or(0);
        first_write.insert(key, first);
    }
    Writes {
        first_write,
        rewritten,
    }
}

/// The counters the loop must report, from where each object was written: by a
/// call that succeeded (it counts it as copied), or before the loop or by a call
/// that failed (the next call finds it intact and counts it as skipped).
fn expected_counters(data: &Dataset, writes: &Writes, calls: &[Call]) -> (u64, u64, u64) {
    let (mut copied, mut skipped, mut bytes) = (0, 0, 0);
    for (key, body) in data {
        let at = writes.first_write[key];
        let by_successful_call = calls
            .iter()
            .any(|c| c.succeeded && (c.from..c.to).contains(&at));
        if by_successful_call {
            copied += 1;
            bytes += body.len() as u64;
        } else {
            skipped += 1;
        }
    }
    (copied, skipped, bytes)
}

fn assert_every_key_written_once(data: &Dataset, writes: &Writes) {
    let unwritten: Vec<&String> = data
        .keys()
        .filter(|k| !writes.first_write.contains_key(*k))
        .collect();
    assert!(unwritten.is_empty(), "never written: {unwritten:?}");
    let strays: Vec<&String> = writes
        .first_write
        .keys()
        .filter(|k| !data.contains_key(*k))
        .collect();
    assert!(
        strays.is_empty(),
        "written but not in the source: {strays:?}"
    );
    assert!(
        writes.rewritten.is_empty(),
        "created again although already intact: {:?}",
        writes.rewritten
    );
}

fn summary(proxy: &FaultProxy) -> String {
    let exchanges = proxy.exchanges();
    let mut ops: BTreeMap<Op, usize> = BTreeMap::new();
    for e in &exchanges {
        *ops.entry(e.op).or_insert(0) += 1;
    }
    let faults = proxy.faults();
    let injected: usize = faults.values().sum();
    format!(
        "{} requests {ops:?}, {injected} faults ({:.1} %): {faults:?}",
        exchanges.len(),
        100.0 * injected as f64 / exchanges.len().max(1) as f64
    )
}

/// ~8 % of all requests faulted, every kind of fault, except that a lost answer to
/// CompleteMultipartUpload is left to its own test below (the SDK's retry of a
/// completed upload cannot succeed).
/// Multipart copies are few, so a part copy and a completion are faulted for sure.
fn mixed_plan(seed: u64, total: f64) -> FaultPlan {
    let rates = FaultRates::mixed(total);
    FaultPlan {
        seed,
        rates,
        per_op: vec![
            (Op::CompleteMultipartUpload, rates.without_lost_answers()),
            // Listings and HEADs are few (one listing per 1,000 objects): more of
            // them fail, so that every kind of request meets faults.
            (Op::ListObjectsV2, FaultRates::mixed(0.3)),
            (Op::HeadObject, FaultRates::mixed(0.3)),
        ],
        scripted: vec![
            (Op::UploadPartCopy, 2, Fault::DropAfterUpstream),
            (Op::CompleteMultipartUpload, 1, Fault::SlowDown),
            (Op::ListObjectsV2, 1, Fault::SlowDown),
            (Op::HeadObject, 0, Fault::InternalError),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_objects_copy_exactly_through_injected_faults() {
    let started = Instant::now();
    let data = dataset(2_000, 3);
    let rig = rig(mixed_plan(0x5eed_0001, 0.08), &data).await;
    // The SDK's default number of attempts, with millisecond backoffs: a few calls
    // run out of attempts and fail with ServiceUnavailable, as they would on AWS,
    // and are retried with the same event.
    let s3 = rig.proxy.retrying_client(6);
    let config = config_with(&[]);
    let populated = started.elapsed();

    // Short calls, so the loop also goes through continuations mid-run.
    let (result, calls) = drive_handler(&s3, &config, &rig.proxy, || {
        SystemTime::now() + Duration::from_millis(1500)
    })
    .await;
    let copying = started.elapsed() - populated;

    let exchanges = rig.proxy.exchanges();
    let faults = rig.proxy.faults();
    let injected: usize = faults.values().sum();
    eprintln!(
        "{} objects, {} calls ({} failed and retried): {}; populate {populated:?}, copy {copying:?}",
        data.len(),
        calls.len(),
        calls.iter().filter(|c| !c.succeeded).count(),
        summary(&rig.proxy)
    );
    // The faults did happen, every kind of them, on the copy requests too.
    assert!(injected * 100 >= exchanges.len() * 5, "{faults:?}");
    for fault in [
        Fault::SlowDown,
        Fault::InternalError,
        Fault::InternalErrorIn200,
        Fault::DropBeforeUpstream,
        Fault::DropAfterUpstream,
        Fault::TruncateResponse,
    ] {
        assert!(faults.get(&fault).copied().unwrap_or(0) > 0, "no {fault:?}");
    }
    for op in [
        Op::ListObjectsV2,
        Op::HeadObject,
        Op::CopyObject,
        Op::UploadPartCopy,
        Op::CompleteMultipartUpload,
    ] {
        assert!(
            exchanges.iter().any(|e| e.op == op && e.fault.is_some()),
            "no fault on {op:?}"
        );
    }
    // A lost CopyObject answer after upstream copied: the SDK's retry copies again
    // within the same call, which is not a second copy of an intact object.
    assert!(exchanges
        .iter()
        .any(|e| e.op == Op::CopyObject && e.fault == Some(Fault::DropAfterUpstream)));

    assert!(result.done);
    assert_eq!(result.source, format!("s3://{SRC}/{SOURCE_PREFIX}"));
    let writes = writes(&exchanges);
    assert_every_key_written_once(&data, &writes);
    let expected = expected_counters(&data, &writes, &calls);
    assert_eq!((result.copied, result.skipped, result.bytes), expected);
    assert_eq!(result.copied + result.skipped, data.len() as u64);
    assert!(result.bytes <= total_bytes(&data));
    assert_exact_copy(&rig, &data, &result).await;

    eprintln!("total {:?}", started.elapsed());
}

/// HeadObject requests on data objects (not on the manifest).
fn data_heads(exchanges: &[Exchange]) -> usize {
    exchanges
        .iter()
        .filter(|e| e.op == Op::HeadObject)
        .filter(|e| e.key.starts_with(SOURCE_PREFIX) || e.key.starts_with(DEST_PREFIX))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_listing_replaces_a_head_per_object() {
    const BIG: usize = 2;
    let data = dataset(1_500, BIG);
    let rig = rig(FaultPlan::none(), &data).await;
    let s3 = rig.proxy.client();
    let config = config_with(&[]);
    let far = || SystemTime::now() + Duration::from_secs(600);

    let (first, _) = drive_handler(&s3, &config, &rig.proxy, far).await;
    assert_eq!((first.copied, first.skipped), (data.len() as u64, 0));
    let exchanges = rig.proxy.exchanges();
    // One CopyObject per small object and nothing else per object: the empty
    // destination's listing says there is nothing to compare with. Only the
    // multipart copies HEAD their source (for the headers they must repeat).
    assert_eq!(data_heads(&exchanges), BIG, "{}", summary(&rig.proxy));
    assert_eq!(
        rig.proxy.count(Op::CopyObject),
        data.len() - BIG,
        "{}",
        summary(&rig.proxy)
    );
    let lists_first = rig.proxy.count(Op::ListObjectsV2);
    assert!(lists_first <= 12, "{}", summary(&rig.proxy));
    assert_exact_copy(&rig, &data, &first).await;

    // The rerun recognises every small object from the destination's listing; the
    // multipart copies carry their source's ETag in metadata, which takes a HEAD.
    let mark = rig.proxy.mark();
    let (rerun, _) = drive_handler(&s3, &config, &rig.proxy, far).await;
    assert_eq!((rerun.copied, rerun.skipped), (0, data.len() as u64));
    let later: Vec<Exchange> = rig
        .proxy
        .exchanges()
        .into_iter()
        .filter(|e| e.arrived >= mark)
        .collect();
    assert_eq!(data_heads(&later), BIG, "{later:?}");
    assert!(
        later
            .iter()
            .all(|e| !e.op.creates_object() || !e.key.starts_with(DEST_PREFIX)),
        "the rerun wrote data"
    );
    assert!(later.iter().filter(|e| e.op == Op::ListObjectsV2).count() <= 12);
}

/// Polls `condition` every 10 ms for up to `timeout`.
async fn wait_for(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let until = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Destination keys written so far (a key the SDK wrote twice, retrying after a
/// lost answer, counts once).
fn created(proxy: &FaultProxy) -> usize {
    proxy
        .exchanges()
        .iter()
        .filter(|e| e.op.creates_object() && e.upstream_ok() && e.key.starts_with(DEST_PREFIX))
        .map(|e| e.key.clone())
        .collect::<BTreeSet<String>>()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_binary_resumes_on_retry_and_skips_what_it_copied() {
    let data = dataset(300, 3);
    let rig = rig(mixed_plan(0x5eed_0002, 0.03), &data).await;
    let mut env = rig.proxy.lambda_env();
    env.extend([
        ("ARTIFACT_BUCKET", ARTIFACTS.to_string()),
        ("ALLOWED_SOURCE_BUCKETS", SRC.to_string()),
        ("COPY_CONCURRENCY", "4".to_string()),
        ("MULTIPART_THRESHOLD_BYTES", "8388608".to_string()),
        ("MULTIPART_PART_SIZE_BYTES", "5242880".to_string()),
        ("DEADLINE_MARGIN_SECONDS", "1".to_string()),
        // The SDK's own retries ride out most faults, after short backoffs (the
        // function's S3_* settings; aws-config reads AWS_MAX_ATTEMPTS otherwise).
        ("S3_MAX_ATTEMPTS", "5".to_string()),
        ("S3_INITIAL_BACKOFF_MS", "5".to_string()),
        ("S3_MAX_BACKOFF_MS", "50".to_string()),
        ("AWS_MAX_ATTEMPTS", "5".to_string()),
    ]);
    let timeout = Duration::from_secs(60);

    // Multipart copies stall before completing, so the kill lands with uploads
    // open and small copies done or in flight.
    rig.proxy.hold(Op::CompleteMultipartUpload);
    let first = LocalLambda::start("copy-execution-data", &env).unwrap();
    let proxy = &rig.proxy;
    let interrupted = tokio::select! {
        outcome = first.invoke(first_event(), timeout) => Err(outcome),
        reached = wait_for(Duration::from_secs(45), || proxy.held() >= 1 && created(proxy) >= 40) => Ok(reached),
    };
    assert_eq!(interrupted, Ok(true), "the copy ended before the kill");
    let held = proxy.held();
    drop(first); // kills the process mid-copy
                 // Requests it had sent still reach S3: the held completions among them.
    proxy.release();
    assert!(proxy.wait_idle(Duration::from_secs(10)).await);
    let before_retry = created(proxy);
    let mark = proxy.mark();
    assert!(
        held >= 1 && before_retry < data.len(),
        "{held} held, {before_retry} created"
    );
    assert!(
        proxy
            .exchanges()
            .iter()
            .any(|e| e.op == Op::CompleteMultipartUpload && e.upstream_ok() && !e.delivered),
        "a completion should have landed after the kill"
    );

    // Step Functions retries the failed task with the same input, on a new process.
    let second = LocalLambda::start("copy-execution-data", &env).unwrap();
    let mut event = first_event();
    let mut calls = vec![Call {
        from: 0,
        to: mark,
        succeeded: false,
    }];
    let result = loop {
        assert!(calls.len() < 50, "the loop does not converge");
        let from = proxy.mark();
        let outcome = second.invoke(event.clone(), timeout).await;
        assert!(proxy.wait_idle(Duration::from_secs(10)).await);
        let to = proxy.mark();
        match outcome {
            Outcome::Response(value) => {
                calls.push(Call {
                    from,
                    to,
                    succeeded: true,
                });
                let result: CopyResult = serde_json::from_value(value.clone()).unwrap();
                if result.done {
                    break result;
                }
                event = value;
            }
            Outcome::Error { error_type, .. } if error_type == "ServiceUnavailable" => {
                calls.push(Call {
                    from,
                    to,
                    succeeded: false,
                });
            }
            Outcome::Error {
                error_type,
                error_message,
            } => panic!("{error_type}: {error_message}"),
        }
    };
    eprintln!(
        "killed after {before_retry} objects ({held} completions held); retry: {result:?}; {}",
        summary(proxy)
    );

    assert!(result.skipped >= before_retry as u64, "{result:?}");
    assert!(result.skipped > 0 && result.copied > 0, "{result:?}");
    assert_eq!(result.copied + result.skipped, data.len() as u64);
    let writes = writes(&proxy.exchanges());
    assert_every_key_written_once(&data, &writes);
    assert_eq!(
        (result.copied, result.skipped, result.bytes),
        expected_counters(&data, &writes, &calls)
    );
    // The uploads the killed process left open are invisible here (on AWS a
    // lifecycle rule aborts them): the bucket holds the copies and nothing else.
    assert_exact_copy(&rig, &data, &result).await;
}

/// S3 may complete a multipart upload and lose the answer (a dropped connection, a
/// truncated body). The SDK then retries CompleteMultipartUpload on an upload that
/// no longer exists: S3 answers NoSuchUpload (other stores other errors). The object is
/// intact, so the copy must carry on (e.g. HEAD the destination and compare its
/// recorded `source-etag`), not fail with an error the state machine will not retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_completed_multipart_upload_does_not_fail_the_copy() {
    let mut data = dataset(20, 2);
    data.retain(|k, _| !k.starts_with("awkward/"));
    let plan = FaultPlan {
        seed: 3,
        scripted: vec![(Op::CompleteMultipartUpload, 0, Fault::DropAfterUpstream)],
        ..FaultPlan::none()
    };
    let rig = rig(plan, &data).await;
    let s3 = rig.proxy.retrying_client(5);
    let config = config_with(&[]);
    let outcome = handle(
        &s3,
        &config,
        first_event(),
        SystemTime::now() + Duration::from_secs(600),
    )
    .await;
    let exchanges = rig.proxy.exchanges();
    let completes: Vec<(Option<Fault>, Option<u16>, bool)> = exchanges
        .iter()
        .filter(|e| e.op == Op::CompleteMultipartUpload)
        .map(|e| (e.fault, e.upstream_status, e.delivered))
        .collect();
    // The first completion did happen upstream; its answer was lost.
    assert_eq!(
        completes.first(),
        Some(&(Some(Fault::DropAfterUpstream), Some(200), false)),
        "{completes:?}"
    );
    let result = outcome.unwrap_or_else(|err| {
        panic!(
            "the copy failed with {} although the object was completed: {}; completions \
             (fault, upstream status, delivered): {completes:?}",
            err.kind, err.message
        )
    });
    assert!(result.done);
    assert_eq!((result.copied, result.skipped), (data.len() as u64, 0));
    assert_exact_copy(&rig, &data, &result).await;
}

/// S3 answers some CopyObject, UploadPartCopy and CompleteMultipartUpload requests
/// with `200 OK` and an `InternalError` body. The SDK retries it as transient; when
/// the attempts run out, the copier must report the retryable ServiceUnavailable,
/// as for a 500, not AwsRequestFailed (which the state machine does not retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_inside_a_200_is_service_unavailable() {
    let data: Dataset = [("a.csv".to_string(), b"a,b\n1,2\n".to_vec())].into();
    let always = FaultRates {
        internal_error_in_200: 1.0,
        ..FaultRates::none()
    };
    let plan = FaultPlan {
        per_op: vec![(Op::CopyObject, always)],
        ..FaultPlan::none()
    };
    let rig = rig(plan, &data).await;
    let s3 = rig.proxy.retrying_client(2);
    let err = handle(
        &s3,
        &config_with(&[]),
        first_event(),
        SystemTime::now() + Duration::from_secs(600),
    )
    .await
    .unwrap_err();
    // The SDK did retry it, as transient.
    assert_eq!(rig.proxy.count(Op::CopyObject), 2);
    assert!(err.message.contains("InternalError"), "{}", err.message);
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
}

#[tokio::test]
async fn the_proxy_forwards_faithfully_and_injects_what_it_is_told() {
    let data: Dataset = [
        ("a b+c%é😀.txt".to_string(), b"hello".to_vec()),
        ("q?x#y.txt".to_string(), Vec::new()),
    ]
    .into();
    let plan = FaultPlan {
        scripted: vec![
            (Op::HeadObject, 0, Fault::SlowDown),
            (Op::HeadObject, 1, Fault::DropBeforeUpstream),
            (Op::HeadObject, 2, Fault::TruncateResponse),
            (Op::GetObject, 0, Fault::TruncateResponse),
            (Op::GetObject, 1, Fault::InternalError),
        ],
        ..FaultPlan::none()
    };
    let rig = rig(plan, &data).await;
    let s3 = rig.proxy.retrying_client(4);
    // Signed requests verify upstream, awkward keys included.
    let head = s3
        .head_object()
        .bucket(SRC)
        .key(format!("{SOURCE_PREFIX}a b+c%é😀.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5));
    let got = s3
        .get_object()
        .bucket(SRC)
        .key(format!("{SOURCE_PREFIX}a b+c%é😀.txt"))
        .send()
        .await;
    // A GET's body streams to the caller, so a truncated body is not retried by the
    // SDK; the status line came, then the stream broke.
    match got {
        Ok(out) => assert!(out.body.collect().await.is_err()),
        Err(err) => panic!("{err:?}"),
    }
    let got = s3
        .get_object()
        .bucket(SRC)
        .key(format!("{SOURCE_PREFIX}q?x#y.txt"))
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes().is_empty());
    let listed = s3
        .list_objects_v2()
        .bucket(SRC)
        .prefix(SOURCE_PREFIX)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(2));

    rig.proxy.logged(Op::ListObjectsV2, 1).await;
    let log = rig.proxy.exchanges();
    let heads: Vec<(Option<Fault>, Option<u16>, bool)> = log
        .iter()
        .filter(|e| e.op == Op::HeadObject)
        .map(|e| (e.fault, e.upstream_status, e.delivered))
        .collect();
    assert_eq!(
        heads,
        [
            (Some(Fault::SlowDown), None, true),
            (Some(Fault::DropBeforeUpstream), None, false),
            (Some(Fault::TruncateResponse), Some(200), false),
            (None, Some(200), true),
        ]
    );
    // The retries of one call share its invocation id; keys are logged decoded.
    let head_ids: BTreeSet<_> = log
        .iter()
        .filter(|e| e.op == Op::HeadObject)
        .map(|e| e.invocation_id.clone())
        .collect();
    assert_eq!(head_ids.len(), 1);
    assert!(head_ids.iter().all(Option::is_some));
    assert!(log
        .iter()
        .all(|e| e.op == Op::ListObjectsV2 || e.key.starts_with(SOURCE_PREFIX)));
    assert!(rig.proxy.count(Op::ListObjectsV2) >= 1, "{log:#?}");
    assert_eq!(
        rig.proxy
            .upstream_successes(Op::HeadObject, &format!("{SOURCE_PREFIX}a b+c%é😀.txt")),
        2
    );
    assert_eq!(rig.proxy.in_flight(), 0);

    // Holding: a request waits, unforwarded, until released.
    rig.proxy.hold(Op::HeadObject);
    let waiting = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            s3.head_object()
                .bucket(SRC)
                .key(format!("{SOURCE_PREFIX}q?x#y.txt"))
                .send()
                .await
        })
    };
    assert!(wait_for(Duration::from_secs(5), || rig.proxy.held() == 1).await);
    assert_eq!(rig.proxy.in_flight(), 1);
    rig.proxy.release();
    let head = waiting.await.unwrap().unwrap();
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(rig.proxy.held(), 0);
}
