//! Integration tests of copy-execution-data: the real handler and the real
//! aws-sdk-s3 client over HTTP against the embedded S3 server (local-s3).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use copy_execution_data::manifest::{ManifestJob, MANIFEST_PART_BYTES};
use copy_execution_data::{configure_retries, handle, CopyConfig, S3Retry};
use integration_tests::fault_proxy::{Fault, FaultPlan, FaultProxy, Op};
use integration_tests::s3_server::EmbeddedS3;
use serde_json::{json, Value};
use shared::copy::{CopyEvent, CopyResult};
use shared::{ErrorKind, FunctionError};

const SRC: &str = "src-bucket";
const ARTIFACTS: &str = "artifact-bucket";
const OTHER: &str = "other-bucket";
const MIB: usize = 1024 * 1024;
const DEST_PREFIX: &str = "executions/copy-test/data/";
/// Beside the destination, in the execution's prefix: never read as training data.
const MANIFEST_KEY: &str = "executions/copy-test/copy-manifest.jsonl";

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Low multipart settings (S3 and local-s3 refuse non-final parts under 5 MiB).
fn config_with(extra: &[(&str, &str)]) -> CopyConfig {
    let mut pairs = vec![
        ("ALLOWED_SOURCE_BUCKETS", " src-bucket , missing-bucket "),
        ("ARTIFACT_BUCKET", ARTIFACTS),
        ("MULTIPART_THRESHOLD_BYTES", "8388608"),
        ("MULTIPART_PART_SIZE_BYTES", "5242880"),
        ("COPY_CONCURRENCY", "16"),
    ];
    pairs.extend_from_slice(extra);
    CopyConfig::from_map(&vars(&pairs)).unwrap()
}

fn config() -> CopyConfig {
    config_with(&[])
}

fn far_deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(600)
}

fn first_event(source: &str) -> Value {
    json!({
        "source": source,
        "destination": format!("s3://{ARTIFACTS}/{DEST_PREFIX}"),
        "continuation": null,
    })
}

async fn server() -> (EmbeddedS3, Client) {
    let server = EmbeddedS3::start().unwrap();
    let s3 = server.client();
    for bucket in [SRC, ARTIFACTS, OTHER] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    (server, s3)
}

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

async fn put(s3: &Client, bucket: &str, key: &str, body: Vec<u8>, content_type: Option<&str>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .set_content_type(content_type.map(str::to_string))
        .metadata("origin", "fixture")
        .send()
        .await
        .unwrap();
}

/// A source uploaded in parts: its ETag is `<hash>-<n>`, which a CopyObject would not keep.
async fn put_in_parts(s3: &Client, bucket: &str, key: &str, parts: Vec<Vec<u8>>) {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("text/csv")
        .metadata("team", "ml")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    for (i, body) in parts.into_iter().enumerate() {
        let number = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A source key whose copy's key is 1,024 bytes long, S3's maximum.
fn long_key() -> String {
    let stem = format!("long/{}/", "ä".repeat(20));
    let filler = 1_024 - DEST_PREFIX.len() - stem.len() - ".txt".len();
    format!("datasets/v1/{stem}{}.txt", "l".repeat(filler))
}

/// The awkward keys, each of which must round-trip exactly.
fn awkward_keys() -> Vec<String> {
    vec![
        "datasets/v1/awkward/with space.txt".to_string(),
        "datasets/v1/awkward/a+plus+sign.txt".to_string(),
        "datasets/v1/awkward/100%.txt".to_string(),
        "datasets/v1/awkward/%2F-looks-encoded.txt".to_string(),
        "datasets/v1/awkward/café/naïve.txt".to_string(),
        "datasets/v1/awkward/emoji 😀🚀.txt".to_string(),
        "datasets/v1/awkward/q?x#y&z=1;(2)!'*~.txt".to_string(),
        long_key(),
    ]
}

struct Dataset {
    objects: u64,
    bytes: u64,
}

/// A few hundred small objects over nested prefixes, awkward keys, an empty object,
/// objects above the multipart threshold and a source uploaded in parts.
async fn populate(s3: &Client, small: usize) -> Dataset {
    let mut objects = 0u64;
    let mut bytes = 0u64;
    // Concurrent puts: the server is a debug build, one request at a time is slow.
    let mut puts = tokio::task::JoinSet::new();
    let mut add = |key: String, body: Vec<u8>, content_type: Option<&'static str>| {
        objects += 1;
        bytes += body.len() as u64;
        let s3 = s3.clone();
        puts.spawn(async move { put(&s3, SRC, &key, body, content_type).await });
    };
    for i in 0..small {
        let key = format!(
            "datasets/v1/shard-{}/day-{:02}/rows-{i:04}.csv",
            i % 5,
            i % 7
        );
        add(key, small_body(i), Some("text/csv"));
    }
    for (i, key) in awkward_keys().into_iter().enumerate() {
        let body = format!("awkward {i}: {key}").into_bytes();
        add(key, body, Some("text/plain; charset=utf-8"));
    }
    add("datasets/v1/empty.bin".into(), Vec::new(), None);
    // 12 MiB + a tail: three parts of 5, 5 and 2 MiB.
    add(
        "datasets/v1/big/features.bin".into(),
        noise(12 * MIB + 123, 1),
        Some("application/x-parquet"),
    );
    // Outside the source prefix: must not be copied.
    let s3_outside = s3.clone();
    puts.spawn(async move {
        put(
            &s3_outside,
            SRC,
            "datasets/v10/not-me.csv",
            b"no".to_vec(),
            None,
        )
        .await;
        put(
            &s3_outside,
            SRC,
            "datasets/v1-old.csv",
            b"no".to_vec(),
            None,
        )
        .await;
    });
    while let Some(done) = puts.join_next().await {
        done.unwrap();
    }
    // Below the threshold but uploaded in parts: CopyObject must record its ETag.
    let parts = vec![noise(5 * MIB, 3), noise(MIB + 7, 4)];
    objects += 1;
    bytes += parts.iter().map(Vec::len).sum::<usize>() as u64;
    put_in_parts(s3, SRC, "datasets/v1/big/in-parts.csv", parts).await;
    Dataset { objects, bytes }
}

fn small_body(i: usize) -> Vec<u8> {
    format!("row {i}\n").repeat(i % 9 + 1).into_bytes()
}

#[derive(Debug, PartialEq)]
struct Stored {
    body: Vec<u8>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
}

/// Every object under `prefix`, by key relative to it, with body and headers
/// (the `source-etag` bookkeeping metadata left out).
async fn snapshot(s3: &Client, bucket: &str, prefix: &str) -> BTreeMap<String, Stored> {
    let mut gets = tokio::task::JoinSet::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page.unwrap().contents() {
            let key = object.key().unwrap().to_string();
            let (s3, bucket, prefix) = (s3.clone(), bucket.to_string(), prefix.to_string());
            gets.spawn(async move {
                let got = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                let mut metadata: BTreeMap<String, String> = got
                    .metadata()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                metadata.remove("source-etag");
                let content_type = got.content_type().map(str::to_string);
                let body = got.body.collect().await.unwrap().into_bytes().to_vec();
                let relative = key.strip_prefix(&prefix).unwrap().to_string();
                (
                    relative,
                    Stored {
                        body,
                        content_type,
                        metadata,
                    },
                )
            });
        }
    }
    let mut out = BTreeMap::new();
    while let Some(got) = gets.join_next().await {
        let (key, stored) = got.unwrap();
        assert!(out.insert(key, stored).is_none());
    }
    out
}

/// Every object the server holds in the artifact bucket but the manifest, with
/// what would change if it were written again (size, ETag, modification time).
fn artifacts_but_the_manifest(server: &EmbeddedS3) -> BTreeMap<String, (u64, String, SystemTime)> {
    server
        .store()
        .list(ARTIFACTS, "")
        .into_iter()
        .filter(|o| o.key != MANIFEST_KEY)
        .map(|o| (o.key, (o.size, o.etag, o.last_modified)))
        .collect()
}

async fn run(s3: &Client, config: &CopyConfig, event: Value) -> CopyResult {
    handle(s3, config, event, far_deadline()).await.unwrap()
}

async fn fails(s3: &Client, config: &CopyConfig, event: Value) -> FunctionError {
    let err = handle(s3, config, event, far_deadline()).await.unwrap_err();
    // The errorType Step Functions sees is the stable name.
    let diagnostic: lambda_runtime::Diagnostic = err.clone().into();
    assert_eq!(diagnostic.error_type, err.kind.name());
    err
}

async fn assert_destination_empty(s3: &Client) {
    let listed = s3.list_objects_v2().bucket(ARTIFACTS).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "{:?}", listed.contents());
}

#[tokio::test]
async fn copies_every_object_byte_for_byte_then_skips_them_all() {
    let (server, s3) = server().await;
    let dataset = populate(&s3, 300).await;
    let config = config();

    // No trailing slash: normalised, and `datasets/v10/` stays out.
    let result = run(&s3, &config, first_event("s3://src-bucket/datasets/v1")).await;
    assert_eq!(result.source, "s3://src-bucket/datasets/v1/");
    assert_eq!(
        result.destination,
        format!("s3://{ARTIFACTS}/{DEST_PREFIX}")
    );
    assert!(result.done);
    assert_eq!(result.continuation, None);
    assert_eq!(result.copied, dataset.objects);
    assert_eq!(result.skipped, 0);
    assert_eq!(result.bytes, dataset.bytes);

    let source = snapshot(&s3, SRC, "datasets/v1/").await;
    let copied = snapshot(&s3, ARTIFACTS, DEST_PREFIX).await;
    assert_eq!(source.len() as u64, dataset.objects);
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    for (key, stored) in &source {
        assert_eq!(copied.get(key), Some(stored), "{key}");
    }
    for key in awkward_keys() {
        assert!(
            copied.contains_key(key.strip_prefix("datasets/v1/").unwrap()),
            "{key}"
        );
    }
    assert_eq!(
        copied["big/features.bin"].content_type.as_deref(),
        Some("application/x-parquet")
    );
    assert_eq!(
        copied["big/in-parts.csv"]
            .metadata
            .get("team")
            .map(String::as_str),
        Some("ml")
    );
    // The data, plus the manifest outside the data prefix.
    let everything = s3.list_objects_v2().bucket(ARTIFACTS).send().await.unwrap();
    assert_eq!(everything.key_count(), Some(dataset.objects as i32 + 1));
    assert!(!MANIFEST_KEY.starts_with(DEST_PREFIX));
    assert_eq!(
        result.manifest,
        Some(format!("s3://{ARTIFACTS}/{MANIFEST_KEY}"))
    );
    let manifest = checked_manifest(&s3, dataset.objects, dataset.bytes).await;

    // A rerun (a retried state, a redriven execution) writes no data, and rewrites
    // the same manifest.
    let before = artifacts_but_the_manifest(&server);
    // Modification times have whole seconds: any rewrite would now show.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = run(&s3, &config, first_event("s3://src-bucket/datasets/v1/")).await;
    assert!(again.done);
    assert_eq!(
        (again.copied, again.skipped, again.bytes),
        (0, dataset.objects, 0)
    );
    assert_eq!(artifacts_but_the_manifest(&server), before);
    assert_eq!(again.manifest, result.manifest);
    assert_eq!(
        checked_manifest(&s3, dataset.objects, dataset.bytes).await,
        manifest
    );
}

async fn body_of(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Reads the manifest and checks it line by line against the destination and the
/// source: a header, every destination object once in listing order with its size
/// and ETag, the ETag identifying the source's content, and a summary. Returns
/// the manifest's bytes.
async fn checked_manifest(s3: &Client, objects: u64, bytes: u64) -> Vec<u8> {
    let raw = body_of(s3, ARTIFACTS, MANIFEST_KEY).await;
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, objects + 2, "{text}");
    assert_eq!(lines[0]["manifest"], "copy-execution-data");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(
        lines[0]["destination"],
        format!("s3://{ARTIFACTS}/{DEST_PREFIX}")
    );
    assert_eq!(
        lines.last().unwrap(),
        &json!({"objects": objects, "bytes": bytes})
    );
    let entries = &lines[1..lines.len() - 1];
    let source_prefix = lines[0]["source"]
        .as_str()
        .unwrap()
        .strip_prefix(&format!("s3://{SRC}/"))
        .unwrap()
        .to_string();
    let mut heads = tokio::task::JoinSet::new();
    for entry in entries {
        let mut fields: Vec<&String> = entry.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["etag", "key", "size"], "{entry}");
        let (s3, entry, source_prefix) = (s3.clone(), entry.clone(), source_prefix.clone());
        heads.spawn(async move {
            let key = entry["key"].as_str().unwrap();
            let copy = s3
                .head_object()
                .bucket(ARTIFACTS)
                .key(format!("{DEST_PREFIX}{key}"))
                .send()
                .await
                .unwrap();
            let original = s3
                .head_object()
                .bucket(SRC)
                .key(format!("{source_prefix}{key}"))
                .send()
                .await
                .unwrap();
            let bare = |etag: Option<&str>| etag.unwrap().trim_matches('"').to_string();
            assert_eq!(entry["size"].as_i64(), copy.content_length(), "{entry}");
            assert_eq!(entry["size"].as_i64(), original.content_length(), "{entry}");
            assert_eq!(entry["etag"], bare(copy.e_tag()), "{entry}");
            // The source's content: its ETag kept, or recorded by a multipart copy.
            let recorded = copy.metadata().and_then(|m| m.get("source-etag")).cloned();
            let source_etag = bare(original.e_tag());
            assert!(
                entry["etag"] == source_etag.as_str()
                    || recorded.as_deref() == Some(source_etag.as_str()),
                "{entry}: source {source_etag}"
            );
        });
    }
    while let Some(done) = heads.join_next().await {
        done.unwrap();
    }
    let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "listing order, once each"
    );
    let copied = snapshot(s3, ARTIFACTS, DEST_PREFIX).await;
    assert_eq!(keys, copied.keys().map(String::as_str).collect::<Vec<_>>());
    for entry in entries {
        let stored = &copied[entry["key"].as_str().unwrap()];
        assert_eq!(entry["size"].as_u64(), Some(stored.body.len() as u64));
    }
    raw
}

#[tokio::test]
async fn objects_present_but_different_are_copied_again() {
    let (_server, s3) = server().await;
    let dataset = populate(&s3, 20).await;
    let config = config();
    run(&s3, &config, first_event("s3://src-bucket/datasets/v1/")).await;

    let dest = |suffix: &str| format!("{DEST_PREFIX}{suffix}");
    // Same size, other bytes; a missing one; a multipart copy replaced by other
    // content of the same size; a larger one.
    put(
        &s3,
        ARTIFACTS,
        &dest("shard-0/day-00/rows-0000.csv"),
        b"ROW 0\n".to_vec(),
        None,
    )
    .await;
    s3.delete_object()
        .bucket(ARTIFACTS)
        .key(dest("empty.bin"))
        .send()
        .await
        .unwrap();
    put(
        &s3,
        ARTIFACTS,
        &dest("big/features.bin"),
        noise(12 * MIB + 123, 99),
        None,
    )
    .await;
    put(
        &s3,
        ARTIFACTS,
        &dest("awkward/100%.txt"),
        b"far too long now".repeat(9),
        None,
    )
    .await;

    let result = run(&s3, &config, first_event("s3://src-bucket/datasets/v1/")).await;
    assert!(result.done);
    assert_eq!(result.copied, 4);
    assert_eq!(result.skipped, dataset.objects - 4);
    let source = snapshot(&s3, SRC, "datasets/v1/").await;
    assert_eq!(snapshot(&s3, ARTIFACTS, DEST_PREFIX).await, source);
    // The manifest describes the repaired destination.
    checked_manifest(&s3, dataset.objects, dataset.bytes).await;
}

/// Feeds each result back in as the next event until `done`, as the state machine does.
async fn loop_until_done(
    s3: &Client,
    config: &CopyConfig,
    deadline: impl Fn() -> SystemTime,
) -> (Vec<CopyResult>, CopyResult) {
    let mut event = first_event("s3://src-bucket/datasets/v1/");
    let mut calls = Vec::new();
    loop {
        let result = handle(s3, config, event, deadline()).await.unwrap();
        calls.push(result.clone());
        assert!(calls.len() < 500, "the loop does not converge");
        if result.done {
            assert_eq!(result.continuation, None);
            return (calls, result);
        }
        assert!(result.continuation.is_some());
        event = serde_json::to_value(&result).unwrap();
    }
}

#[tokio::test]
async fn a_deadline_already_close_yields_continuations_until_done() {
    let (_server, s3) = server().await;
    let dataset = populate(&s3, 25).await;
    // Five objects are already in place from an earlier attempt.
    for i in 0..5 {
        let suffix = format!("shard-{}/day-{:02}/rows-{i:04}.csv", i % 5, i % 7);
        s3.copy_object()
            .bucket(ARTIFACTS)
            .key(format!("{DEST_PREFIX}{suffix}"))
            .copy_source(format!("{SRC}/datasets/v1/{suffix}"))
            .send()
            .await
            .unwrap();
    }
    let config = config();

    // The deadline has passed: each call still completes one object (so the loop
    // always progresses) and hands back a continuation.
    let (calls, last) = loop_until_done(&s3, &config, SystemTime::now).await;
    // One call per object, and a last one with nothing to copy that writes the
    // manifest (the call that copied the last object had no time left for it).
    assert_eq!(calls.len() as u64, dataset.objects + 1);
    let first = &calls[0];
    assert!(!first.done);
    assert_eq!(first.copied + first.skipped, 1);
    let (manifest_call, copy_calls) = calls.split_last().unwrap();
    assert!(copy_calls.iter().all(|c| c.manifest.is_none() && !c.done));
    assert_eq!(
        manifest_call.manifest,
        Some(format!("s3://{ARTIFACTS}/{MANIFEST_KEY}"))
    );
    let before_manifest = copy_calls.last().unwrap();
    assert_eq!(
        (
            manifest_call.copied,
            manifest_call.skipped,
            manifest_call.bytes
        ),
        (
            before_manifest.copied,
            before_manifest.skipped,
            before_manifest.bytes
        )
    );
    let mut previous = (0, 0, 0);
    for call in copy_calls {
        let now = (call.copied, call.skipped, call.bytes);
        assert_eq!(
            now.0 + now.1,
            previous.0 + previous.1 + 1,
            "one object per call"
        );
        assert!(now.2 >= previous.2);
        previous = now;
    }
    // Every object exactly once: cumulative counters add up to the dataset.
    assert_eq!(last.copied, dataset.objects - 5);
    assert_eq!(last.skipped, 5);
    let skipped_bytes: u64 = (0..5).map(|i| small_body(i).len() as u64).sum();
    assert_eq!(last.bytes, dataset.bytes - skipped_bytes);
    assert_eq!(
        snapshot(&s3, ARTIFACTS, DEST_PREFIX).await,
        snapshot(&s3, SRC, "datasets/v1/").await
    );
    checked_manifest(&s3, dataset.objects, dataset.bytes).await;
}

#[tokio::test]
async fn a_deadline_mid_run_with_concurrency_loses_and_redoes_nothing() {
    let (_server, s3) = server().await;
    let dataset = populate(&s3, 120).await;
    let config = config_with(&[("DEADLINE_MARGIN_SECONDS", "0"), ("COPY_CONCURRENCY", "4")]);

    // Each call stops ~40 ms in, wherever that falls, with copies in flight.
    let (calls, last) = loop_until_done(&s3, &config, || {
        SystemTime::now() + Duration::from_millis(40)
    })
    .await;
    assert_eq!(
        (last.copied, last.skipped, last.bytes),
        (dataset.objects, 0, dataset.bytes)
    );
    // Resume points only move forward.
    let keys: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.continuation.as_ref().map(|c| c.start_after.as_str()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert_eq!(
        snapshot(&s3, ARTIFACTS, DEST_PREFIX).await,
        snapshot(&s3, SRC, "datasets/v1/").await
    );
    assert!(last.manifest.is_some());
    checked_manifest(&s3, dataset.objects, dataset.bytes).await;
}

#[tokio::test]
async fn a_source_outside_the_allow_list_is_refused_before_any_write() {
    let (_server, s3) = server().await;
    put(&s3, OTHER, "datasets/v1/a.csv", b"a".to_vec(), None).await;
    let err = fails(
        &s3,
        &config(),
        first_event("s3://other-bucket/datasets/v1/"),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::SourceNotAllowed);
    assert!(err.message.contains("\"other-bucket\""), "{}", err.message);
    assert_destination_empty(&s3).await;
}

#[tokio::test]
async fn a_missing_bucket_or_an_empty_prefix_is_source_not_found() {
    let (_server, s3) = server().await;
    put(&s3, SRC, "datasets/v1/a.csv", b"a".to_vec(), None).await;
    let config = config();
    let err = fails(&s3, &config, first_event("s3://missing-bucket/datasets/")).await;
    assert_eq!(err.kind, ErrorKind::SourceNotFound);
    assert!(err.message.contains("does not exist"), "{}", err.message);
    let err = fails(&s3, &config, first_event("s3://src-bucket/datasets/v2/")).await;
    assert_eq!(err.kind, ErrorKind::SourceNotFound);
    assert_eq!(
        err.message,
        "$.source: no object under s3://src-bucket/datasets/v2/"
    );
    assert_destination_empty(&s3).await;
}

#[tokio::test]
async fn bad_events_are_invalid_input_naming_the_field() {
    let (_server, s3) = server().await;
    put(&s3, SRC, "datasets/v1/a.csv", b"a".to_vec(), None).await;
    let config = config();
    let good = first_event("s3://src-bucket/datasets/v1/");
    let with = |field: &str, value: Value| {
        let mut event = good.clone();
        event[field] = value;
        event
    };
    let without = |field: &str| {
        let mut event = good.clone();
        event.as_object_mut().unwrap().remove(field);
        event
    };
    let cases = vec![
        (json!(["s3://src-bucket/datasets/v1/"]), "$: must be a JSON object, got an array"),
        (json!("s3://src-bucket/datasets/v1/"), "$: must be a JSON object, got a string"),
        (without("source"), "$.source: is required"),
        (without("destination"), "$.destination: is required"),
        (with("source", json!(42)), "$.source: must be a string, got a number"),
        (with("source", json!("https://src-bucket.s3.amazonaws.com/datasets/v1/")), "$.source: must be an s3://bucket/prefix URI"),
        (with("source", json!("s3://Src_Bucket/x/")), "$.source: bucket"),
        (with("destination", json!("s3://other-bucket/executions/e/data/")), "$.destination: s3://other-bucket/executions/e/data/ must be a prefix under s3://artifact-bucket/executions/"),
        (with("destination", json!("s3://artifact-bucket/models/e/data/")), "$.destination: "),
        (with("destination", json!("s3://artifact-bucket/executions/")), "$.destination: "),
        (with("destination", json!("s3://artifact-bucket/executions/copy-test/")), "$.destination: s3://artifact-bucket/executions/copy-test/ must be below an execution's prefix"),
        (with("manifest", json!(7)), "$.manifest: must be a string or null"),
        (with("extra", json!(1)), "$.extra: unknown field `extra`"),
        (with("done", json!("yes")), "$.done: must be true or false"),
        (with("continuation", json!([])), "$.continuation: must be a JSON object, got an array"),
        (with("continuation", json!({"start_after": "datasets/v1/a.csv"})), "$.continuation.version: is required"),
        (
            with("continuation", json!({"version": 1, "start_after": "datasets/v1/a.csv", "copied": 1, "skipped": 0, "bytes": 1, "digest": "0".repeat(64)})),
            "$.continuation.digest: does not match",
        ),
        (
            with("continuation", json!({"version": 1, "start_after": "elsewhere/a.csv", "copied": 1, "skipped": 0, "bytes": 1, "digest": "0".repeat(64)})),
            "$.continuation.start_after: must be a key under the source prefix",
        ),
        (
            with("continuation", json!({"version": 1, "start_after": "datasets/v1/a.csv", "copied": 1.5, "skipped": 0, "bytes": 1, "digest": "x"})),
            "$.continuation.copied: must be a whole number",
        ),
    ];
    for (event, expected) in cases {
        let err = fails(&s3, &config, event.clone()).await;
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{event}");
        assert!(
            err.message.starts_with(expected),
            "{event}: {}",
            err.message
        );
    }

    // A genuine continuation edited by hand is caught too.
    let other = config_with(&[("DEADLINE_MARGIN_SECONDS", "0")]);
    put(&s3, SRC, "datasets/v1/b.csv", b"b".to_vec(), None).await;
    let partial = handle(&s3, &other, good.clone(), SystemTime::now())
        .await
        .unwrap();
    assert!(!partial.done);
    let mut tampered = serde_json::to_value(&partial).unwrap();
    tampered["continuation"]["start_after"] = json!("datasets/v1/");
    let err = fails(&s3, &config, tampered).await;
    assert!(
        err.message.starts_with("$.continuation.digest: "),
        "{}",
        err.message
    );

    // Overlap: possible only when the artifact bucket is also an allowed source.
    let overlapping = config_with(&[("ALLOWED_SOURCE_BUCKETS", "artifact-bucket")]);
    let event = json!({
        "source": "s3://artifact-bucket/executions/copy-test/",
        "destination": format!("s3://{ARTIFACTS}/{DEST_PREFIX}"),
    });
    let err = fails(&s3, &overlapping, event).await;
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(
        err.message.contains("overlaps the source"),
        "{}",
        err.message
    );

    // Only the one legitimate partial call wrote anything.
    let listed = s3.list_objects_v2().bucket(ARTIFACTS).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
}

#[test]
fn a_bad_environment_is_a_configuration_error() {
    for (pairs, needle) in [
        (
            vec![("ARTIFACT_BUCKET", ARTIFACTS)],
            "ALLOWED_SOURCE_BUCKETS: is required",
        ),
        (
            vec![("ALLOWED_SOURCE_BUCKETS", SRC)],
            "ARTIFACT_BUCKET: is required",
        ),
        (
            vec![
                ("ALLOWED_SOURCE_BUCKETS", SRC),
                ("ARTIFACT_BUCKET", ARTIFACTS),
                ("MULTIPART_PART_SIZE_BYTES", "1048576"),
            ],
            "MULTIPART_PART_SIZE_BYTES: must be from 5242880 to 5368709120",
        ),
        (
            vec![
                ("ALLOWED_SOURCE_BUCKETS", SRC),
                ("ARTIFACT_BUCKET", ARTIFACTS),
                ("MULTIPART_THRESHOLD_BYTES", "6000000000"),
            ],
            "MULTIPART_THRESHOLD_BYTES: must be from 1 to 5368709120",
        ),
        (
            vec![
                ("ALLOWED_SOURCE_BUCKETS", SRC),
                ("ARTIFACT_BUCKET", ARTIFACTS),
                ("COPY_CONCURRENCY", "lots"),
            ],
            "COPY_CONCURRENCY",
        ),
    ] {
        let err = CopyConfig::from_map(&vars(&pairs)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigurationError);
        assert!(err.message.contains(needle), "{needle}: {}", err.message);
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "ConfigurationError");
    }
}

#[tokio::test]
async fn refused_credentials_are_access_denied() {
    let (server, s3) = server().await;
    put(&s3, SRC, "datasets/v1/a.csv", b"a".to_vec(), None).await;
    let intruder = Client::from_conf(
        server
            .client_config()
            .credentials_provider(Credentials::new(
                "local-access-key",
                "wrong-secret",
                None,
                None,
                "test",
            ))
            .build(),
    );
    let err = fails(
        &intruder,
        &config(),
        first_event("s3://src-bucket/datasets/v1/"),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{}", err.message);
    assert!(err.message.contains("HTTP 403"), "{}", err.message);
    assert_destination_empty(&s3).await;
}

#[tokio::test]
async fn a_missing_destination_bucket_is_aws_request_failed() {
    let (_server, s3) = server().await;
    put(&s3, SRC, "datasets/v1/a.csv", b"a".to_vec(), None).await;
    let config = config_with(&[("ARTIFACT_BUCKET", "no-such-artifacts")]);
    let event = json!({
        "source": "s3://src-bucket/datasets/v1/",
        "destination": "s3://no-such-artifacts/executions/e/data/",
        "continuation": null,
    });
    let err = fails(&s3, &config, event).await;
    assert_eq!(err.kind, ErrorKind::AwsRequestFailed, "{}", err.message);
    assert!(err.message.contains("NoSuchBucket"), "{}", err.message);
}

/// An S3 endpoint that always answers 503 SlowDown, counting the requests.
async fn throttling_endpoint() -> (String, Arc<AtomicUsize>) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async {
                        hyper::Response::builder()
                            .status(503)
                            .header("content-type", "application/xml")
                            .body(Full::new(Bytes::from_static(
                                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                            )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), hits)
}

fn client_for(endpoint: &str, attempts: u32) -> Client {
    Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new("k", "s", None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build(),
    )
}

#[tokio::test]
async fn throttling_and_unreachable_s3_are_service_unavailable() {
    let (endpoint, hits) = throttling_endpoint().await;
    let err = fails(
        &client_for(&endpoint, 3),
        &config(),
        first_event("s3://src-bucket/datasets/v1/"),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
    assert!(err.message.contains("SlowDown"), "{}", err.message);
    // The SDK retried before giving up.
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = fails(
        &client_for(&format!("http://127.0.0.1:{port}"), 1),
        &config(),
        first_event("s3://src-bucket/datasets/v1/"),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    // The fixture is also a valid wire payload.
    let typed: CopyEvent = serde_json::from_value(value.clone()).unwrap();
    assert!(typed.source.starts_with("s3://src-bucket/"));
    value
}

async fn fixture_source(s3: &Client) {
    for name in ["a.csv", "b.csv", "c.csv"] {
        put(
            s3,
            SRC,
            &format!("datasets/v1/{name}"),
            format!("{name}\n1,2,3\n").into_bytes(),
            Some("text/csv"),
        )
        .await;
    }
}

#[tokio::test]
async fn the_first_call_fixture_copies_the_dataset() {
    let (_server, s3) = server().await;
    fixture_source(&s3).await;
    let event = fixture("copy-execution-data.json");
    let result = run(&s3, &config(), event.clone()).await;
    assert!(result.done);
    assert_eq!((result.copied, result.skipped, result.bytes), (3, 0, 36));
    assert_eq!(result.source, event["source"]);
    assert_eq!(result.destination, event["destination"]);
    let copied = snapshot(&s3, ARTIFACTS, "executions/fixture-execution/data/").await;
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        ["a.csv", "b.csv", "c.csv"]
    );
    let manifest = "executions/fixture-execution/copy-manifest.jsonl";
    assert_eq!(
        result.manifest,
        Some(format!("s3://{ARTIFACTS}/{manifest}"))
    );
    let text = String::from_utf8(body_of(&s3, ARTIFACTS, manifest).await).unwrap();
    let keys: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|l| l.get("key").cloned())
        .collect();
    assert_eq!(keys, [json!("a.csv"), json!("b.csv"), json!("c.csv")]);
    assert!(text.ends_with("{\"objects\":3,\"bytes\":36}\n"), "{text}");
}

#[tokio::test]
async fn the_continuation_fixture_resumes_after_its_key() {
    let (_server, s3) = server().await;
    fixture_source(&s3).await;
    let event = fixture("copy-execution-data-continuation.json");
    assert_eq!(event["continuation"]["start_after"], "datasets/v1/b.csv");
    let result = run(&s3, &config(), event).await;
    assert!(result.done);
    // Cumulative: the fixture's 2 objects and 24 bytes, plus c.csv.
    assert_eq!((result.copied, result.skipped, result.bytes), (3, 0, 36));
    let copied = snapshot(&s3, ARTIFACTS, "executions/fixture-execution/data/").await;
    assert_eq!(copied.keys().collect::<Vec<_>>(), ["c.csv"]);
    // The manifest lists what the destination holds, not what the counters claim.
    let text = String::from_utf8(
        body_of(
            &s3,
            ARTIFACTS,
            "executions/fixture-execution/copy-manifest.jsonl",
        )
        .await,
    )
    .unwrap();
    assert!(text.ends_with("{\"objects\":1,\"bytes\":12}\n"), "{text}");
}

/// The client the function builds, with short backoffs so tests stay fast.
fn retrying_client(mut builder: aws_sdk_s3::config::Builder, attempts: u32) -> Client {
    let retry = S3Retry {
        adaptive: false,
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    configure_retries(&mut builder, &retry, 4);
    Client::from_conf(builder.build())
}

#[tokio::test]
async fn a_transient_failure_keeps_the_progress_made_before_it() {
    let (server, s3) = server().await;
    // Every attempt at c's CopyObject (the 3rd, 4th, ... CopyObject request) gets a
    // 500 InternalError: a persistent server failure, retried by the SDK (3
    // attempts), then ServiceUnavailable.
    let doomed = "datasets/v1/c.csv".to_string();
    for key in [
        "datasets/v1/a.csv",
        "datasets/v1/b.csv",
        doomed.as_str(),
        "datasets/v1/d.csv",
    ] {
        put(&s3, SRC, key, key.as_bytes().to_vec(), None).await;
    }
    let plan = FaultPlan {
        scripted: (2..8)
            .map(|n| (Op::CopyObject, n, Fault::InternalError))
            .collect(),
        ..FaultPlan::none()
    };
    let proxy = FaultProxy::start(&server.endpoint(), plan).unwrap();
    let config = config_with(&[("COPY_CONCURRENCY", "1")]);
    let client = retrying_client(proxy.client_config(), 3);

    // a and b were copied before c failed: the call returns them as a continuation
    // instead of an error that would send the retry back to the start.
    let first = handle(
        &client,
        &config,
        first_event("s3://src-bucket/datasets/v1/"),
        far_deadline(),
    )
    .await
    .unwrap();
    assert!(!first.done);
    assert_eq!(first.manifest, None);
    assert_eq!((first.copied, first.skipped), (2, 0));
    let continuation = first.continuation.clone().unwrap();
    assert_eq!(continuation.start_after, "datasets/v1/b.csv");

    // Resuming at c with nothing else done: a plain ServiceUnavailable, for the
    // state machine's Retry (which re-sends this same event).
    let event = serde_json::to_value(&first).unwrap();
    let err = handle(&client, &config, event.clone(), far_deadline())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ServiceUnavailable, "{}", err.message);
    assert!(err.message.contains("InternalError"), "{}", err.message);
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "ServiceUnavailable");
    // a and b were not copied again.
    for key in ["a.csv", "b.csv"] {
        let copies = proxy.upstream_successes(Op::CopyObject, &format!("{DEST_PREFIX}{key}"));
        assert_eq!(copies, 1, "{key}");
    }
    let listed = s3
        .list_objects_v2()
        .bucket(ARTIFACTS)
        .prefix(DEST_PREFIX)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.contains(&"executions/copy-test/data/a.csv"),
        "{keys:?}"
    );
    assert!(
        !keys.contains(&"executions/copy-test/data/d.csv"),
        "{keys:?}"
    );
}

/// Writes `count` objects straight into the server's store (much faster than
/// PUTs, same index and ETags), with names of about `name_len` bytes.
fn plant_objects(server: &EmbeddedS3, prefix: &str, count: usize, name_len: usize) -> u64 {
    let mut bytes = 0;
    for i in 0..count {
        let key = format!(
            "{prefix}shard-{:03}/{i:06}-{}.png",
            i % 100,
            "p".repeat(name_len)
        );
        let body = format!("page {i}").into_bytes();
        bytes += body.len() as u64;
        server.store().put_object(ARTIFACTS, &key, &body).unwrap();
    }
    bytes
}

#[tokio::test]
async fn the_manifest_streams_page_by_page_and_can_be_stopped() {
    let (server, s3) = server().await;
    let source = shared::s3uri::S3Uri::parse_prefix("$", "s3://src-bucket/pages/").unwrap();
    let destination =
        shared::s3uri::S3Uri::parse_prefix("$", &format!("s3://{ARTIFACTS}/{DEST_PREFIX}"))
            .unwrap();
    // 18 listing pages, and a manifest of ~10 MB: over one 8 MiB part, so it goes
    // up as a multipart upload of two parts.
    let count = 18_000;
    let name_len = 480;
    let bytes = plant_objects(&server, DEST_PREFIX, count, name_len);
    let job = ManifestJob {
        s3: &s3,
        source: &source,
        destination: &destination,
        key: MANIFEST_KEY,
        concurrency: 32,
        part_bytes: MANIFEST_PART_BYTES,
    };

    // Stopped after the first listing page: no manifest.
    assert_eq!(job.write(|| true).await.unwrap(), None);
    let missing = s3
        .head_object()
        .bucket(ARTIFACTS)
        .key(MANIFEST_KEY)
        .send()
        .await;
    assert!(missing.is_err());

    let written = job.write(|| false).await.unwrap().unwrap();
    assert_eq!(written.objects, count as u64);
    assert_eq!(written.bytes, bytes);
    assert_eq!(written.uri, format!("s3://{ARTIFACTS}/{MANIFEST_KEY}"));
    let raw = body_of(&s3, ARTIFACTS, MANIFEST_KEY).await;
    let text = String::from_utf8(raw.clone()).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("key").is_some())
        .collect();
    assert_eq!(entries.len(), count);
    let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    // Every object once, in order, across page boundaries.
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        entries[0]["key"],
        format!("shard-000/000000-{}.png", "p".repeat(name_len))
    );
    assert_eq!(entries[0]["size"], 6);
    // The MD5 of "page 0".
    assert_eq!(entries[0]["etag"], "6762897976bda8e25d1d91f56e5ae428");
    assert!(text.ends_with(&format!("{{\"objects\":{count},\"bytes\":{bytes}}}\n")));
    assert!(raw.len() > MANIFEST_PART_BYTES, "{} bytes", raw.len());
    let head = s3
        .head_object()
        .bucket(ARTIFACTS)
        .key(MANIFEST_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        head.e_tag()
    );

    // Rewritten identically.
    job.write(|| false).await.unwrap().unwrap();
    assert_eq!(body_of(&s3, ARTIFACTS, MANIFEST_KEY).await, raw);
}
