//! The manifest of a finished copy: one JSON line per destination object (key
//! relative to the destination, size, ETag), between a header and a summary line.
//!
//! It lives at `<ARTIFACT_PREFIX><execution>/copy-manifest.jsonl`, beside the
//! destination and never inside it: training channels read everything under the
//! destination prefix. It is built from a listing of the destination, streamed page
//! by page into a multipart upload, so memory stays at one part whatever the object
//! count. The same destination always gives the same bytes, so a rerun rewrites an
//! identical manifest.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use futures::StreamExt;
use serde::Serialize;
use shared::s3uri::S3Uri;
use shared::{ErrorKind, FunctionError};

use crate::copier::aws_error;
use crate::plan::{self, MIB};

/// The manifest's file name, in the execution's prefix.
pub const MANIFEST_NAME: &str = "copy-manifest.jsonl";
pub const MANIFEST_VERSION: u64 = 1;
/// Upload parts of the manifest (S3 wants at least 5 MiB for all but the last);
/// also the most manifest bytes held in memory. 8 MiB is ~70,000 lines.
pub const MANIFEST_PART_BYTES: usize = 8 * MIB as usize;
const CONTENT_TYPE: &str = "application/x-ndjson";

/// The manifest's key: `<artifact prefix><execution>/copy-manifest.jsonl`, where
/// `<execution>` is the destination's first segment below the artifact prefix.
/// None unless the destination lies below that execution prefix (then the manifest
/// could land inside the destination, where training would read it).
pub fn manifest_key(artifact_prefix: &str, destination_prefix: &str) -> Option<String> {
    let rest = destination_prefix.strip_prefix(artifact_prefix)?;
    let (execution, below) = rest.split_once('/')?;
    if execution.is_empty() || below.is_empty() {
        return None;
    }
    Some(format!("{artifact_prefix}{execution}/{MANIFEST_NAME}"))
}

#[derive(Serialize)]
struct Header<'a> {
    #[serde(rename = "manifest")]
    manifest: &'static str,
    #[serde(rename = "version")]
    version: u64,
    #[serde(rename = "source")]
    source: &'a str,
    #[serde(rename = "destination")]
    destination: &'a str,
}

/// One destination object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Relative to the destination prefix (the same as relative to the source prefix).
    #[serde(rename = "key")]
    pub key: String,
    #[serde(rename = "size")]
    pub size: u64,
    /// The destination object's ETag, without quotes: the MD5 of the bytes for a
    /// single-part object (without SSE-KMS/SSE-C), `<md5 of the parts' MD5s>-<parts>`
    /// for a multipart copy.
    #[serde(rename = "etag")]
    pub etag: String,
}

#[derive(Serialize)]
struct Summary {
    #[serde(rename = "objects")]
    objects: u64,
    #[serde(rename = "bytes")]
    bytes: u64,
}

/// The manifest's bytes, handed out in parts of at least `part_bytes` as they fill.
pub struct ManifestBuffer {
    buffer: Vec<u8>,
    part_bytes: usize,
    pub objects: u64,
    pub bytes: u64,
}

impl ManifestBuffer {
    /// Starts with the header line.
    pub fn new(source: &S3Uri, destination: &S3Uri, part_bytes: usize) -> ManifestBuffer {
        let mut manifest = ManifestBuffer {
            buffer: Vec::new(),
            part_bytes,
            objects: 0,
            bytes: 0,
        };
        manifest.line(&Header {
            manifest: "copy-execution-data",
            version: MANIFEST_VERSION,
            source: &source.to_string(),
            destination: &destination.to_string(),
        });
        manifest
    }

    fn line(&mut self, value: &impl Serialize) {
        // Serializing these plain structs into a Vec cannot fail.
        if serde_json::to_writer(&mut self.buffer, value).is_ok() {
            self.buffer.push(b'\n');
        }
    }

    pub fn push(&mut self, entry: &Entry) {
        self.objects += 1;
        self.bytes += entry.size;
        self.line(entry);
    }

    /// The buffered bytes once they make a whole part.
    pub fn take_part(&mut self) -> Option<Vec<u8>> {
        (self.buffer.len() >= self.part_bytes).then(|| std::mem::take(&mut self.buffer))
    }

    /// The rest, ending with the summary line (never empty).
    pub fn finish(mut self) -> Vec<u8> {
        let summary = Summary {
            objects: self.objects,
            bytes: self.bytes,
        };
        self.line(&summary);
        self.buffer
    }
}

/// A written manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub uri: String,
    pub objects: u64,
    pub bytes: u64,
}

/// Where and how to write the manifest.
pub struct ManifestJob<'a> {
    pub s3: &'a Client,
    pub source: &'a S3Uri,
    pub destination: &'a S3Uri,
    pub key: &'a str,
    /// HEAD requests in flight at most (only for listings without ETags).
    pub concurrency: usize,
    /// Upload part size ([`MANIFEST_PART_BYTES`]; at least 5 MiB for S3).
    pub part_bytes: usize,
}

impl ManifestJob<'_> {
    fn uri(&self) -> String {
        format!("s3://{}/{}", self.destination.bucket, self.key)
    }

    /// Lists the destination and writes the manifest. `stop` is asked after every
    /// listing page; when it says so the upload is aborted and None returned.
    pub async fn write(&self, stop: impl Fn() -> bool) -> Result<Option<Written>, FunctionError> {
        let mut manifest = ManifestBuffer::new(self.source, self.destination, self.part_bytes);
        let mut upload = Upload {
            job: self,
            id: None,
            parts: Vec::new(),
        };
        let result = self.fill(&mut manifest, &mut upload, stop).await;
        let result = match result {
            Ok(true) => {
                let (objects, bytes) = (manifest.objects, manifest.bytes);
                upload.finish(manifest.finish()).await.map(|()| {
                    Some(Written {
                        uri: self.uri(),
                        objects,
                        bytes,
                    })
                })
            }
            Ok(false) => Ok(None),
            Err(err) => Err(err),
        };
        if !matches!(result, Ok(Some(_))) {
            upload.abort().await;
        }
        result
    }

    /// Streams the listing into `manifest`; false if stopped.
    async fn fill(
        &self,
        manifest: &mut ManifestBuffer,
        upload: &mut Upload<'_>,
        stop: impl Fn() -> bool,
    ) -> Result<bool, FunctionError> {
        let bucket = &self.destination.bucket;
        let prefix = &self.destination.key;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|err| aws_error("ListObjectsV2", &self.destination.to_string(), &err))?;
            let mut listed = Vec::with_capacity(page.contents().len());
            for object in page.contents() {
                let key = object.key().unwrap_or_default();
                let relative = key.strip_prefix(prefix.as_str()).ok_or_else(|| {
                    FunctionError::new(
                        ErrorKind::AwsRequestFailed,
                        format!("S3 listed {key:?}, which is not under {}", self.destination),
                    )
                })?;
                listed.push((
                    key.to_string(),
                    relative.to_string(),
                    u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
                    object.e_tag().map(|e| plan::bare_etag(e).to_string()),
                ));
            }
            // Listings without ETags (s3s-fs) need a HEAD per object; in listing order.
            let mut entries = futures::stream::iter(listed)
                .map(|(key, relative, size, etag)| async move {
                    let etag = match etag.filter(|e| !e.is_empty()) {
                        Some(etag) => etag,
                        None => self.head_etag(&key).await?,
                    };
                    Ok::<Entry, FunctionError>(Entry {
                        key: relative,
                        size,
                        etag,
                    })
                })
                .buffered(self.concurrency.max(1));
            while let Some(entry) = entries.next().await {
                manifest.push(&entry?);
                if let Some(part) = manifest.take_part() {
                    upload.part(part).await?;
                }
            }
            token = page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true))
                .map(str::to_string);
            if token.is_none() {
                return Ok(true);
            }
            if stop() {
                return Ok(false);
            }
        }
    }

    async fn head_etag(&self, key: &str) -> Result<String, FunctionError> {
        let target = format!("s3://{}/{key}", self.destination.bucket);
        let head = self
            .s3
            .head_object()
            .bucket(&self.destination.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| aws_error("HeadObject", &target, &err))?;
        Ok(plan::bare_etag(head.e_tag().unwrap_or_default()).to_string())
    }
}

/// The manifest's upload: a single PutObject unless it outgrows one part.
struct Upload<'a> {
    job: &'a ManifestJob<'a>,
    id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl Upload<'_> {
    async fn part(&mut self, body: Vec<u8>) -> Result<(), FunctionError> {
        let job = self.job;
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let created = job
                    .s3
                    .create_multipart_upload()
                    .bucket(&job.destination.bucket)
                    .key(job.key)
                    .content_type(CONTENT_TYPE)
                    .send()
                    .await
                    .map_err(|err| aws_error("CreateMultipartUpload", &job.uri(), &err))?;
                let id = created
                    .upload_id()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        FunctionError::new(
                            ErrorKind::AwsRequestFailed,
                            format!(
                                "S3 CreateMultipartUpload {} returned no upload id",
                                job.uri()
                            ),
                        )
                    })?
                    .to_string();
                self.id = Some(id.clone());
                id
            }
        };
        // At most 10,000 parts of 8 MiB: ~700 million objects.
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let uploaded = job
            .s3
            .upload_part()
            .bucket(&job.destination.bucket)
            .key(job.key)
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| {
                aws_error("UploadPart", &format!("{} part {number}", job.uri()), &err)
            })?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    async fn finish(&mut self, rest: Vec<u8>) -> Result<(), FunctionError> {
        let job = self.job;
        if self.id.is_none() {
            return job
                .s3
                .put_object()
                .bucket(&job.destination.bucket)
                .key(job.key)
                .content_type(CONTENT_TYPE)
                .body(ByteStream::from(rest))
                .send()
                .await
                .map(|_| ())
                .map_err(|err| aws_error("PutObject", &job.uri(), &err));
        }
        self.part(rest).await?;
        let id = self.id.clone().unwrap_or_default();
        job.s3
            .complete_multipart_upload()
            .bucket(&job.destination.bucket)
            .key(job.key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| aws_error("CompleteMultipartUpload", &job.uri(), &err))?;
        self.id = None;
        Ok(())
    }

    /// Best effort: the caller reports the error that led here.
    async fn abort(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let job = self.job;
        let aborted = tokio::time::timeout(
            Duration::from_secs(10),
            job.s3
                .abort_multipart_upload()
                .bucket(&job.destination.bucket)
                .key(job.key)
                .upload_id(&id)
                .send(),
        )
        .await;
        if !matches!(aborted, Ok(Ok(_))) {
            tracing::warn!(manifest = %job.uri(), upload_id = %id, "manifest upload not aborted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> S3Uri {
        S3Uri::parse_prefix("$", s).unwrap()
    }

    fn entry(key: &str, size: u64, etag: &str) -> Entry {
        Entry {
            key: key.into(),
            size,
            etag: etag.into(),
        }
    }

    #[test]
    fn the_manifest_sits_beside_the_destination() {
        assert_eq!(
            manifest_key("executions/", "executions/e-42/data/").as_deref(),
            Some("executions/e-42/copy-manifest.jsonl")
        );
        assert_eq!(
            manifest_key("runs/x/", "runs/x/e/a/b/").as_deref(),
            Some("runs/x/e/copy-manifest.jsonl")
        );
        // At the execution prefix itself the manifest would be copied data.
        assert_eq!(manifest_key("executions/", "executions/e-42/"), None);
        assert_eq!(manifest_key("executions/", "executions//data/"), None);
        assert_eq!(manifest_key("executions/", "elsewhere/e/data/"), None);
        for destination in ["executions/e/data/", "executions/e/d/"] {
            let key = manifest_key("executions/", destination).unwrap();
            assert!(!key.starts_with(destination));
        }
    }

    #[test]
    fn lines_are_header_objects_summary() {
        let source = uri("s3://src/datasets/v1/");
        let destination = uri("s3://art/executions/e/data/");
        let mut manifest = ManifestBuffer::new(&source, &destination, 1 << 20);
        manifest.push(&entry(
            "a b/\"q\"\n.csv",
            10,
            "0cc175b9c0f1b6a831c399e269772661",
        ));
        manifest.push(&entry("empty", 0, "d41d8cd98f00b204e9800998ecf8427e"));
        manifest.push(&entry(
            "big.bin",
            12 * MIB,
            "9b2cf535f27731c974343645a3985328-3",
        ));
        assert_eq!(manifest.take_part(), None);
        let text = String::from_utf8(manifest.finish()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.ends_with('\n'));
        assert_eq!(
            lines[0],
            serde_json::json!({"manifest": "copy-execution-data", "version": 1,
                "source": "s3://src/datasets/v1/", "destination": "s3://art/executions/e/data/"})
        );
        // Keys with quotes and newlines stay one JSON line each.
        assert_eq!(
            lines[1],
            serde_json::json!({"key": "a b/\"q\"\n.csv", "size": 10,
                "etag": "0cc175b9c0f1b6a831c399e269772661"})
        );
        assert_eq!(lines[3]["etag"], "9b2cf535f27731c974343645a3985328-3");
        assert_eq!(
            lines[4],
            serde_json::json!({"objects": 3, "bytes": 12 * MIB + 10})
        );
    }

    #[test]
    fn parts_are_handed_out_as_they_fill_and_add_up() {
        let source = uri("s3://src/d/");
        let destination = uri("s3://art/executions/e/data/");
        let mut manifest = ManifestBuffer::new(&source, &destination, 1000);
        let mut parts = Vec::new();
        let mut expected = Vec::new();
        for i in 0..500u64 {
            manifest.push(&entry(&format!("k/{i:05}"), i, "abc"));
            if let Some(part) = manifest.take_part() {
                // Each part is just over the size: memory never holds more.
                assert!((1000..1000 + 64).contains(&part.len()), "{}", part.len());
                parts.push(part);
            }
            expected.push(i);
        }
        let rest = manifest.finish();
        assert!(!rest.is_empty());
        assert!(parts.len() > 10);
        let whole: Vec<u8> = parts.into_iter().flatten().chain(rest).collect();
        let text = String::from_utf8(whole).unwrap();
        let sizes: Vec<u64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("key").is_some())
            .map(|v| v["size"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, expected);
        assert!(text.ends_with(&format!(
            "{{\"objects\":500,\"bytes\":{}}}\n",
            499 * 500 / 2
        )));
    }

    #[test]
    fn the_same_listing_gives_the_same_bytes() {
        let build = || {
            let mut m = ManifestBuffer::new(&uri("s3://src/p/"), &uri("s3://art/x/e/d/"), 1 << 20);
            m.push(&entry("a", 1, "x"));
            m.push(&entry("b", 2, "y"));
            m.finish()
        };
        assert_eq!(build(), build());
    }
}
