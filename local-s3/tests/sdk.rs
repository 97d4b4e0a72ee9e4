//! The server through the real aws-sdk-s3 client over HTTP: every operation our
//! copier and the benchmark tools use, with S3's answers (codes, statuses, ETags).

use std::collections::HashMap;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, EncodingType, MetadataDirective,
    ObjectIdentifier,
};
use aws_sdk_s3::Client;
use local_s3::{LocalS3, Options};
use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const MIB: usize = 1024 * 1024;

/// The copier's `x-amz-copy-source` (functions/copy-execution-data `plan::copy_source`):
/// each path segment of the key percent-encoded.
fn copy_source(bucket: &str, key: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let encoded: Vec<String> = key
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect();
    format!("{bucket}/{}", encoded.join("/"))
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Deterministic, incompressible-looking bytes.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn status<E, R: HttpStatus>(err: &SdkError<E, R>) -> Option<u16> {
    err.raw_response().map(HttpStatus::status_code)
}

trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

async fn new_bucket(client: &Client, name: &str) {
    client.create_bucket().bucket(name).send().await.unwrap();
}

async fn put(client: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

async fn get(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn get_range(client: &Client, bucket: &str, key: &str, range: &str) -> (Vec<u8>, String) {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(range)
        .send()
        .await
        .unwrap();
    let content_range = out.content_range().unwrap().to_string();
    (
        out.body.collect().await.unwrap().into_bytes().to_vec(),
        content_range,
    )
}

async fn list_all(client: &Client, bucket: &str, prefix: &str) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            out.push((
                o.key().unwrap().to_string(),
                o.size().unwrap(),
                o.e_tag().unwrap().to_string(),
            ));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

/// Uploads `parts` as a multipart object; returns the ETag.
async fn multipart_put(client: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> String {
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i32::try_from(i + 1).unwrap();
        let out = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag().unwrap(), quoted(&md5_hex(part)));
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    client
        .complete_multipart_upload()
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
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

/// S3's multipart ETag from the parts' ETags.
fn multipart_etag(part_etags: &[String]) -> String {
    let mut md5 = Md5::new();
    for etag in part_etags {
        md5.update(hex::decode(etag.trim_matches('"')).unwrap());
    }
    quoted(&format!(
        "{}-{}",
        hex::encode(md5.finalize()),
        part_etags.len()
    ))
}

#[tokio::test]
async fn bucket_operations() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "one").await;
    client.head_bucket().bucket("one").send().await.unwrap();
    client
        .get_bucket_location()
        .bucket("one")
        .send()
        .await
        .unwrap();

    let again = client
        .create_bucket()
        .bucket("one")
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("BucketAlreadyOwnedByYou"));
    assert_eq!(status(&again), Some(409));

    let names: Vec<String> = client
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .map(|b| b.name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["one"]);

    put(&client, "one", "k", b"x").await;
    let not_empty = client
        .delete_bucket()
        .bucket("one")
        .send()
        .await
        .unwrap_err();
    assert_eq!(not_empty.code(), Some("BucketNotEmpty"));
    client
        .delete_object()
        .bucket("one")
        .key("k")
        .send()
        .await
        .unwrap();
    client.delete_bucket().bucket("one").send().await.unwrap();

    let missing = client.head_bucket().bucket("one").send().await.unwrap_err();
    assert_eq!(status(&missing), Some(404));
    let missing = client
        .get_object()
        .bucket("one")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchBucket"));
    let missing = client
        .list_objects_v2()
        .bucket("one")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchBucket"));
    assert!(!s3.root().join("one").exists());
}

#[tokio::test]
async fn objects_round_trip() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    let body = content(100_000, 1);
    let stored = client
        .put_object()
        .bucket("bkt")
        .key("dir/file.json")
        .body(ByteStream::from(body.clone()))
        .content_type("application/json")
        .cache_control("no-cache")
        .metadata("source-etag", "abc-2")
        .send()
        .await
        .unwrap();
    let etag = quoted(&md5_hex(&body));
    assert_eq!(stored.e_tag(), Some(etag.as_str()));

    let got = client
        .get_object()
        .bucket("bkt")
        .key("dir/file.json")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_length(), Some(100_000));
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert!(got.last_modified().is_some());
    assert_eq!(
        got.metadata().unwrap(),
        &HashMap::from([("source-etag".to_string(), "abc-2".to_string())])
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );

    let head = client
        .head_object()
        .bucket("bkt")
        .key("dir/file.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_length(), Some(100_000));
    assert_eq!(
        head.metadata()
            .unwrap()
            .get("source-etag")
            .map(String::as_str),
        Some("abc-2")
    );

    // No Content-Type given: S3's default.
    put_default(&s3, &client).await;

    let missing = client
        .get_object()
        .bucket("bkt")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchKey"));
    assert_eq!(status(&missing), Some(404));
    let missing = client
        .head_object()
        .bucket("bkt")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&missing), Some(404));
    assert!(missing.into_service_error().is_not_found());

    // Conditional reads.
    let stale = client
        .get_object()
        .bucket("bkt")
        .key("dir/file.json")
        .if_match("\"0000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&stale), Some(412));
    let unchanged = client
        .get_object()
        .bucket("bkt")
        .key("dir/file.json")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&unchanged), Some(304));

    // A Content-MD5 that does not match the body is refused, and nothing is stored.
    let bad = client
        .put_object()
        .bucket("bkt")
        .key("bad")
        .body(ByteStream::from_static(b"data"))
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("BadDigest"));
    assert!(s3.store().head("bkt", "bad").is_none());

    // Deletes are idempotent.
    for _ in 0..2 {
        client
            .delete_object()
            .bucket("bkt")
            .key("dir/file.json")
            .send()
            .await
            .unwrap();
    }
    put(&client, "bkt", "a", b"a").await;
    put(&client, "bkt", "b", b"b").await;
    let deleted = client
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .set_objects(Some(
                    ["a", "b", "never"]
                        .iter()
                        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                        .collect(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), 3);
    assert!(deleted.errors().is_empty());
    assert_eq!(s3.store().object_count("bkt"), 1);
}

/// S3 stores `binary/octet-stream` when a PUT names no Content-Type (the SDK always
/// sends one, so this goes through the store).
async fn put_default(s3: &LocalS3, client: &Client) {
    s3.store().put_object("bkt", "plain", b"plain").unwrap();
    let head = client
        .head_object()
        .bucket("bkt")
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
}

#[tokio::test]
async fn keys_up_to_1024_bytes() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    let ascii = "k".repeat(1024);
    let unicode = format!("{}{}", "é".repeat(511), "xy"); // 1,024 bytes
    assert_eq!(unicode.len(), 1024);
    for key in [&ascii, &unicode] {
        put(&client, "bkt", key, key.as_bytes()).await;
        assert_eq!(get(&client, "bkt", key).await, key.as_bytes());
    }
    let keys: Vec<String> = list_all(&client, "bkt", "")
        .await
        .into_iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(keys, [ascii.clone(), unicode.clone()]);

    let too_long = client
        .put_object()
        .bucket("bkt")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Some("KeyTooLongError"));
    assert_eq!(status(&too_long), Some(400));
}

#[tokio::test]
async fn awkward_keys_through_put_list_copy_and_get() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "src").await;
    new_bucket(&client, "dst").await;
    let keys = [
        "a b",
        "a+b",
        "a%2Bb",
        "100%",
        "é/ü",
        "?x#y",
        "//double",
        "../up",
        "/lead",
        "x&y=z;~!'*(1)",
        "emoji 😀/é ü+%",
    ];
    for key in keys {
        put(&client, "src", key, key.as_bytes()).await;
    }
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_unstable();
    let listed: Vec<String> = list_all(&client, "src", "")
        .await
        .into_iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(listed, expected);

    for key in keys {
        let etag = client
            .copy_object()
            .bucket("dst")
            .key(format!("copy/{key}"))
            .copy_source(copy_source("src", key))
            .send()
            .await
            .unwrap_or_else(|e| panic!("copying {key:?}: {e:?}"))
            .copy_object_result()
            .unwrap()
            .e_tag()
            .unwrap()
            .to_string();
        assert_eq!(etag, quoted(&md5_hex(key.as_bytes())), "{key:?}");
        assert_eq!(
            get(&client, "dst", &format!("copy/{key}")).await,
            key.as_bytes(),
            "{key:?}"
        );
    }

    // A copy source sent form-encoded (s5cmd's way: `+` for a space) names the same key.
    client
        .copy_object()
        .bucket("dst")
        .key("form")
        .copy_source("src/emoji+%F0%9F%98%80/%C3%A9+%C3%BC%2B%25")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&client, "dst", "form").await,
        "emoji 😀/é ü+%".as_bytes()
    );

    // encoding-type=url: names come back form-encoded, as S3 sends them.
    let page = client
        .list_objects_v2()
        .bucket("src")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let encoded: Vec<&str> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    for (raw, enc) in [
        ("a b", "a+b"),
        ("a+b", "a%2Bb"),
        ("100%", "100%25"),
        ("é/ü", "%C3%A9/%C3%BC"),
    ] {
        assert!(encoded.contains(&enc), "{raw:?} as {enc:?} in {encoded:?}");
    }
}

#[tokio::test]
async fn listing_pages_prefixes_and_etags() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    // Seeded through the store, while the server runs.
    for i in 0..2500 {
        s3.store()
            .put_object("bkt", &format!("k/{i:04}"), format!("{i}").as_bytes())
            .unwrap();
    }
    for key in ["d/a/1", "d/a/2", "d/b/1", "d/c"] {
        put(&client, "bkt", key, key.as_bytes()).await;
    }
    let multipart = multipart_put(
        &client,
        "bkt",
        "d/m",
        &[content(5 * MIB, 2), content(10, 3)],
    )
    .await;

    // Pages of 1,000 (the default and the cap).
    for max_keys in [None, Some(1000), Some(5000)] {
        let mut token = None;
        let mut sizes = Vec::new();
        loop {
            let page = client
                .list_objects_v2()
                .bucket("bkt")
                .prefix("k/")
                .set_max_keys(max_keys)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            sizes.push(page.key_count().unwrap());
            assert_eq!(
                page.is_truncated(),
                Some(page.next_continuation_token().is_some())
            );
            assert_eq!(page.max_keys(), Some(1000));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(sizes, [1000, 1000, 500]);
    }
    let all = list_all(&client, "bkt", "k/").await;
    assert_eq!(all.len(), 2500);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));

    // Delimiter and common prefixes, paged one entry at a time.
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let page = client
            .list_objects_v2()
            .bucket("bkt")
            .prefix("d/")
            .delimiter("/")
            .max_keys(1)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.key_count(), Some(1));
        seen.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string()),
        );
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["d/a/", "d/b/", "d/c", "d/m"]);

    let after = client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("k/")
        .start_after("k/2400")
        .send()
        .await
        .unwrap();
    assert_eq!(after.key_count(), Some(99));
    assert_eq!(after.contents()[0].key(), Some("k/2401"));

    // ListObjects (v1): NextMarker with a delimiter, then the marker.
    let v1 = client
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(true));
    assert_eq!(v1.next_marker(), Some("d/"));
    let v1 = client
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .marker("d/")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(false));
    let prefixes: Vec<&str> = v1
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["k/"]);

    // ETags in listings are HeadObject's, for plain and multipart objects.
    for (key, size, etag) in list_all(&client, "bkt", "d/").await {
        let head = client
            .head_object()
            .bucket("bkt")
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.e_tag(), Some(etag.as_str()), "{key}");
        assert_eq!(head.content_length(), Some(size), "{key}");
    }
    let listed_multipart = list_all(&client, "bkt", "d/m").await;
    assert_eq!(listed_multipart[0].2, multipart);
    let page = client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("d/c")
        .send()
        .await
        .unwrap();
    let object = &page.contents()[0];
    assert_eq!(object.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    assert!(object.last_modified().is_some());
}

#[tokio::test]
async fn copy_object_conditions_and_metadata() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    client
        .put_object()
        .bucket("bkt")
        .key("src")
        .body(ByteStream::from_static(b"source"))
        .content_type("text/plain")
        .metadata("colour", "blue")
        .send()
        .await
        .unwrap();
    let etag = quoted(&md5_hex(b"source"));

    // If-Match, quoted or not: copied, and the copy keeps the ETag and metadata.
    for condition in [etag.clone(), md5_hex(b"source")] {
        let out = client
            .copy_object()
            .bucket("bkt")
            .key("copy")
            .copy_source("bkt/src")
            .copy_source_if_match(condition)
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.copy_object_result().unwrap().e_tag(),
            Some(etag.as_str())
        );
    }
    let head = client
        .head_object()
        .bucket("bkt")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata().unwrap().get("colour").map(String::as_str),
        Some("blue")
    );

    let failed = client
        .copy_object()
        .bucket("bkt")
        .key("copy2")
        .copy_source("bkt/src")
        .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Some("PreconditionFailed"));
    assert_eq!(status(&failed), Some(412));
    assert!(s3.store().head("bkt", "copy2").is_none());

    // REPLACE takes headers and metadata from the request.
    client
        .copy_object()
        .bucket("bkt")
        .key("copy")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/x-new")
        .metadata("source-etag", "abc-3")
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket("bkt")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-new"));
    assert_eq!(
        head.metadata().unwrap(),
        &HashMap::from([("source-etag".to_string(), "abc-3".to_string())])
    );
    assert_eq!(get(&client, "bkt", "copy").await, b"source");

    // Onto itself: only with REPLACE, as S3.
    let itself = client
        .copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap_err();
    assert_eq!(itself.code(), Some("InvalidRequest"));
    client
        .copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&client, "bkt", "src").await, b"source");

    let missing = client
        .copy_object()
        .bucket("bkt")
        .key("x")
        .copy_source("bkt/nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchKey"));
}

#[tokio::test]
async fn multipart_upload_with_5_mib_parts() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    let parts = vec![
        content(5 * MIB, 10),
        content(5 * MIB, 11),
        content(1000, 12),
    ];
    let etag = multipart_put(&client, "bkt", "big", &parts).await;
    let part_etags: Vec<String> = parts.iter().map(|p| md5_hex(p)).collect();
    assert_eq!(etag, multipart_etag(&part_etags));
    assert!(etag.ends_with("-3\""));
    let whole: Vec<u8> = parts.concat();
    assert_eq!(get(&client, "bkt", "big").await, whole);
    let head = client
        .head_object()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(
        head.content_length(),
        Some(i64::try_from(whole.len()).unwrap())
    );

    // Range GETs across the part boundaries.
    let (bytes, range) = get_range(&client, "bkt", "big", "bytes=5242000-10486000").await;
    assert_eq!(bytes, &whole[5_242_000..=10_486_000]);
    assert_eq!(range, format!("bytes 5242000-10486000/{}", whole.len()));
    let (bytes, _) = get_range(&client, "bkt", "big", "bytes=-1500").await;
    assert_eq!(bytes, &whole[whole.len() - 1500..]);
    let (bytes, _) = get_range(&client, "bkt", "big", "bytes=10485000-").await;
    assert_eq!(bytes, &whole[10_485_000..]);
    let beyond = client
        .get_object()
        .bucket("bkt")
        .key("big")
        .range(format!("bytes={}-", whole.len()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Some("InvalidRange"));
    assert_eq!(status(&beyond), Some(416));
}

#[tokio::test]
async fn multipart_errors_and_abort() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    new_bucket(&client, "bkt").await;
    let id = client
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut etags = Vec::new();
    for number in 1..=2 {
        let out = client
            .upload_part()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(content(1000, 20)))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_string());
    }
    let listed = client
        .list_parts()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.parts()[1].e_tag(), Some(etags[1].as_str()));
    let uploads = client
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let complete = |parts: Vec<(i32, &str)>| {
        client
            .complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(
                        parts
                            .into_iter()
                            .map(|(n, e)| CompletedPart::builder().part_number(n).e_tag(e).build())
                            .collect(),
                    ))
                    .build(),
            )
            .send()
    };
    let small = complete(vec![(1, &etags[0]), (2, &etags[1])])
        .await
        .unwrap_err();
    assert_eq!(small.code(), Some("EntityTooSmall"));
    assert_eq!(status(&small), Some(400));
    let order = complete(vec![(2, &etags[1]), (1, &etags[0])])
        .await
        .unwrap_err();
    assert_eq!(order.code(), Some("InvalidPartOrder"));
    let wrong = complete(vec![(1, "\"00000000000000000000000000000000\"")])
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some("InvalidPart"));
    let absent = complete(vec![(3, &etags[0])]).await.unwrap_err();
    assert_eq!(absent.code(), Some("InvalidPart"));

    client
        .abort_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let gone = client
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchUpload"));
    assert_eq!(status(&gone), Some(404));
    let gone = complete(vec![(1, &etags[0])]).await.unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchUpload"));
    let uploads = client
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
    assert!(s3.store().head("bkt", "k").is_none());
}

#[tokio::test]
async fn upload_part_copy_in_parallel_across_segments() {
    let s3 = LocalS3::start_with(Options {
        min_part_size: 1024,
        ..Options::default()
    })
    .unwrap();
    let client = s3.client();
    new_bucket(&client, "src").await;
    new_bucket(&client, "dst").await;
    // A multipart source: four segments of 64 KiB.
    let source_parts: Vec<Vec<u8>> = (0..4).map(|i| content(64 * 1024, 30 + i)).collect();
    let source_etag = multipart_put(&client, "src", "dir/the source+1", &source_parts).await;
    let whole = source_parts.concat();

    // Five parts of 50,000 bytes (the last shorter), none aligned with a segment.
    let id = client
        .create_multipart_upload()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let source = copy_source("src", "dir/the source+1");
    let ranges: Vec<(i32, usize, usize)> = (0..6)
        .map(|i| {
            (
                i + 1,
                i as usize * 50_000,
                ((i as usize + 1) * 50_000).min(whole.len()) - 1,
            )
        })
        .filter(|(_, first, _)| *first < whole.len())
        .collect();
    let requests = ranges.iter().map(|&(number, first, last)| {
        client
            .upload_part_copy()
            .bucket("dst")
            .key("copy")
            .upload_id(&id)
            .part_number(number)
            .copy_source(&source)
            .copy_source_range(format!("bytes={first}-{last}"))
            .copy_source_if_match(&source_etag)
            .send()
    });
    let results = futures::future::join_all(requests).await;
    let mut completed = Vec::new();
    let mut part_etags = Vec::new();
    for (result, &(number, first, last)) in results.into_iter().zip(&ranges) {
        let etag = result
            .unwrap()
            .copy_part_result()
            .unwrap()
            .e_tag()
            .unwrap()
            .to_string();
        let expected =
            md5_hex(format!("{}:{first}-{last}", source_etag.trim_matches('"')).as_bytes());
        assert_eq!(etag, quoted(&expected));
        part_etags.push(etag.clone());
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build(),
        );
    }
    let done = client
        .complete_multipart_upload()
        .bucket("dst")
        .key("copy")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.e_tag().unwrap(), multipart_etag(&part_etags));
    assert!(done
        .e_tag()
        .unwrap()
        .ends_with(&format!("-{}\"", ranges.len())));
    assert_eq!(get(&client, "dst", "copy").await, whole);

    // A range past the end, and a stale source, are refused.
    let id = client
        .create_multipart_upload()
        .bucket("dst")
        .key("copy2")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let beyond = client
        .upload_part_copy()
        .bucket("dst")
        .key("copy2")
        .upload_id(&id)
        .part_number(1)
        .copy_source(&source)
        .copy_source_range(format!("bytes=0-{}", whole.len()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Some("InvalidArgument"));
    let stale = client
        .upload_part_copy()
        .bucket("dst")
        .key("copy2")
        .upload_id(&id)
        .part_number(1)
        .copy_source(&source)
        .copy_source_if_match("\"stale\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("PreconditionFailed"));
    // Without a range: the whole object.
    let whole_copy = client
        .upload_part_copy()
        .bucket("dst")
        .key("copy2")
        .upload_id(&id)
        .part_number(1)
        .copy_source(&source)
        .send()
        .await
        .unwrap();
    let etag = whole_copy
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    client
        .complete_multipart_upload()
        .bucket("dst")
        .key("copy2")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(get(&client, "dst", "copy2").await, whole);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let parts = vec![content(5 * MIB, 40), content(77, 41)];
    let (plain, multipart) = {
        let s3 = LocalS3::start_in(dir.path()).unwrap();
        let client = s3.client();
        new_bucket(&client, "bkt").await;
        let plain = put(&client, "bkt", "é/ü plain", b"plain").await;
        let multipart = multipart_put(&client, "bkt", "multi", &parts).await;
        // An upload left in progress.
        client
            .create_multipart_upload()
            .bucket("bkt")
            .key("later")
            .send()
            .await
            .unwrap();
        (plain, multipart)
    };
    let s3 = LocalS3::start_in(dir.path()).unwrap();
    let client = s3.client();
    let listed = list_all(&client, "bkt", "").await;
    assert_eq!(
        listed,
        [
            (
                "multi".to_string(),
                i64::try_from(5 * MIB + 77).unwrap(),
                multipart.clone()
            ),
            ("é/ü plain".to_string(), 5, plain.clone()),
        ]
    );
    assert_eq!(get(&client, "bkt", "é/ü plain").await, b"plain");
    assert_eq!(get(&client, "bkt", "multi").await, parts.concat());
    let uploads = client
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(s3.root(), dir.path());
}

#[tokio::test]
async fn store_helpers_share_the_servers_index() {
    let s3 = LocalS3::start().unwrap();
    let client = s3.client();
    s3.store().create_bucket("bkt").unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"from a file").unwrap();
    let etag = s3
        .store()
        .put_object_from_file("bkt", "file", file.path())
        .unwrap();
    assert_eq!(etag, md5_hex(b"from a file"));
    assert_eq!(get(&client, "bkt", "file").await, b"from a file");

    put(&client, "bkt", "sdk", b"through http").await;
    assert_eq!(
        s3.store().get_object("bkt", "sdk").unwrap(),
        b"through http"
    );
    let info = s3.store().head("bkt", "sdk").unwrap();
    assert_eq!(info.etag, md5_hex(b"through http"));
    let keys: Vec<String> = s3
        .store()
        .list("bkt", "")
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["file", "sdk"]);
    assert_eq!(s3.store().object_count("bkt"), 2);
    let env = s3.lambda_env();
    assert!(env.contains(&("AWS_ENDPOINT_URL_S3", s3.endpoint())));
}
