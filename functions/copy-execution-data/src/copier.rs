//! The S3 calls of one object's copy: the idempotency check, CopyObject, and the
//! multipart copy (CreateMultipartUpload, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload on failure). Server-side only: no byte passes through Lambda.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use shared::{ErrorKind, FunctionError};
use tokio::sync::Semaphore;

use crate::plan::{self, Existing, Part, PartPlan, SOURCE_ETAG_METADATA};

/// An object as listed at the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    pub key: String,
    pub size: u64,
    /// As S3 returned it (with quotes); empty if the listing had none.
    pub etag: String,
}

/// What the destination's listing said about an object's destination key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// Not listed: HEAD the destination to find out.
    Unknown,
    /// Listed as absent: nothing to compare with.
    Absent,
    /// Listed with this size and ETag (listings carry no user metadata).
    Present(SourceObject),
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Copied { bytes: u64 },
    Skipped,
}

/// Everything an object copy needs; shared by the spawned copy tasks.
#[derive(Debug)]
pub struct Copier {
    pub s3: Client,
    pub source_bucket: String,
    pub destination_bucket: String,
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// Parts of one object in flight at most.
    pub part_concurrency: usize,
    /// Bounds the S3 requests in flight across all objects and parts. A permit is
    /// held only for the duration of one request, so waiting never deadlocks.
    pub requests: Semaphore,
}

/// Maps an SDK error through `shared::aws::classify` (HTTP status + error code).
pub fn aws_error<E>(operation: &str, target: &str, err: &SdkError<E>) -> FunctionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code();
    let kind = match err {
        // The request was never built (a bad parameter): not a transient failure.
        SdkError::ConstructionFailure(_) => ErrorKind::AwsRequestFailed,
        _ => shared::aws::classify(status, code),
    };
    let detail = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| aws_sdk_s3::error::DisplayErrorContext(err).to_string());
    FunctionError::new(
        kind,
        format!(
            "S3 {operation} {target} failed ({}{}): {detail}",
            code.unwrap_or("no error code"),
            status.map(|s| format!(", HTTP {s}")).unwrap_or_default(),
        ),
    )
}

impl Copier {
    /// Copies `object` to `destination_key` unless the destination already holds
    /// the same content.
    pub async fn copy(
        self: Arc<Self>,
        object: SourceObject,
        destination_key: String,
        listed: Listed,
    ) -> Result<Outcome, FunctionError> {
        let object = if object.etag.is_empty() {
            self.with_source_etag(object).await?
        } else {
            object
        };
        let existing = match listed {
            Listed::Absent => None,
            // A store that lists no ETags (s3s-fs) cannot answer from its listing.
            Listed::Present(found) if found.etag.is_empty() => {
                self.existing(&destination_key).await?
            }
            Listed::Present(found) => {
                let existing = Existing {
                    size: found.size,
                    etag: Some(found.etag),
                    source_etag: None,
                };
                // A copy that keeps the source's ETag is recognised from the
                // listing alone; one that does not (a multipart source or a
                // multipart copy) recorded the source ETag in metadata, which only
                // a HEAD returns.
                if plan::same_content(object.size, &object.etag, &existing)
                    || self.keeps_etag(&object)
                {
                    Some(existing)
                } else {
                    self.existing(&destination_key).await?
                }
            }
            Listed::Unknown => self.existing(&destination_key).await?,
        };
        if let Some(existing) = existing {
            if plan::same_content(object.size, &object.etag, &existing) {
                tracing::debug!(key = %object.key, "already at the destination: skipped");
                return Ok(Outcome::Skipped);
            }
            tracing::debug!(key = %object.key, "different content at the destination: copying again");
        }
        if self.is_multipart_copy(&object) {
            self.multipart_copy(&object, &destination_key).await?;
        } else {
            self.single_copy(&object, &destination_key).await?;
        }
        Ok(Outcome::Copied { bytes: object.size })
    }

    /// Whether the copy of `object` gets the source's ETag: a CopyObject of an
    /// object that was not uploaded in parts.
    fn keeps_etag(&self, object: &SourceObject) -> bool {
        !self.is_multipart_copy(object) && !plan::is_multipart_etag(&object.etag)
    }

    fn is_multipart_copy(&self, object: &SourceObject) -> bool {
        object.size > 0 && object.size >= self.multipart_threshold
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.destination_bucket)
    }

    /// HEAD of the destination key; None if nothing is there.
    async fn existing(&self, key: &str) -> Result<Option<Existing>, FunctionError> {
        let _permit = self.requests.acquire().await.map_err(closed)?;
        match self
            .s3
            .head_object()
            .bucket(&self.destination_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Existing {
                size: u64::try_from(head.content_length().unwrap_or(-1)).unwrap_or(u64::MAX),
                etag: head.e_tag().map(str::to_string),
                source_etag: head
                    .metadata()
                    .and_then(|m| m.get(SOURCE_ETAG_METADATA))
                    .cloned(),
            })),
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_not_found())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(None)
            }
            Err(err) => Err(aws_error("HeadObject", &self.target(key), &err)),
        }
    }

    /// S3 lists every object with its ETag, but some S3-compatible stores (s3s-fs
    /// among them) do not; without it the idempotency check could never match, so
    /// HEAD the source for a consistent size and ETag.
    async fn with_source_etag(&self, object: SourceObject) -> Result<SourceObject, FunctionError> {
        let head = self.source_head(&object).await?;
        Ok(SourceObject {
            size: head
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(object.size),
            etag: head.e_tag().unwrap_or_default().to_string(),
            key: object.key,
        })
    }

    /// HEAD of the source, for the headers a copy with new metadata must repeat.
    async fn source_head(&self, object: &SourceObject) -> Result<HeadObjectOutput, FunctionError> {
        let _permit = self.requests.acquire().await.map_err(closed)?;
        let mut request = self
            .s3
            .head_object()
            .bucket(&self.source_bucket)
            .key(&object.key);
        if !object.etag.is_empty() {
            request = request.if_match(&object.etag);
        }
        request.send().await.map_err(|err| {
            aws_error(
                "HeadObject",
                &format!("s3://{}/{}", self.source_bucket, object.key),
                &err,
            )
        })
    }

    /// The user metadata of the copy: the source's, plus the source ETag.
    fn metadata_with_source_etag(head: &HeadObjectOutput, etag: &str) -> HashMap<String, String> {
        let mut metadata = head.metadata().cloned().unwrap_or_default();
        metadata.insert(
            SOURCE_ETAG_METADATA.to_string(),
            plan::bare_etag(etag).to_string(),
        );
        metadata
    }

    /// One CopyObject. The default directive copies content type and user metadata;
    /// a source uploaded in parts gets a new ETag, so its ETag is recorded in the
    /// metadata instead (directive REPLACE, repeating the source's headers).
    async fn single_copy(&self, object: &SourceObject, key: &str) -> Result<(), FunctionError> {
        let mut request = self
            .s3
            .copy_object()
            .bucket(&self.destination_bucket)
            .key(key)
            .copy_source(plan::copy_source(&self.source_bucket, &object.key));
        if !object.etag.is_empty() {
            // The content must be the one listed (and sized) a moment ago.
            request = request.copy_source_if_match(&object.etag);
        }
        if plan::is_multipart_etag(&object.etag) {
            let head = self.source_head(object).await?;
            request = request
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(Self::metadata_with_source_etag(&head, &object.etag)))
                .set_content_type(head.content_type().map(str::to_string))
                .set_content_encoding(head.content_encoding().map(str::to_string))
                .set_content_disposition(head.content_disposition().map(str::to_string))
                .set_content_language(head.content_language().map(str::to_string))
                .set_cache_control(head.cache_control().map(str::to_string));
        }
        let _permit = self.requests.acquire().await.map_err(closed)?;
        request
            .send()
            .await
            .map_err(|err| aws_error("CopyObject", &self.target(key), &err))?;
        Ok(())
    }

    /// A multipart copy; the upload is aborted if any step fails, so no invisible
    /// parts are left to pay for.
    async fn multipart_copy(&self, object: &SourceObject, key: &str) -> Result<(), FunctionError> {
        let plan = PartPlan::new(object.size, self.part_size).map_err(|problem| {
            FunctionError::new(
                ErrorKind::AwsRequestFailed,
                format!(
                    "cannot copy s3://{}/{}: {problem}",
                    self.source_bucket, object.key
                ),
            )
        })?;
        let head = self.source_head(object).await?;
        let created = {
            let _permit = self.requests.acquire().await.map_err(closed)?;
            self.s3
                .create_multipart_upload()
                .bucket(&self.destination_bucket)
                .key(key)
                .set_metadata(Some(Self::metadata_with_source_etag(&head, &object.etag)))
                .set_content_type(head.content_type().map(str::to_string))
                .set_content_encoding(head.content_encoding().map(str::to_string))
                .set_content_disposition(head.content_disposition().map(str::to_string))
                .set_content_language(head.content_language().map(str::to_string))
                .set_cache_control(head.cache_control().map(str::to_string))
                .send()
                .await
                .map_err(|err| aws_error("CreateMultipartUpload", &self.target(key), &err))?
        };
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        if upload_id.is_empty() {
            return Err(FunctionError::new(
                ErrorKind::AwsRequestFailed,
                format!(
                    "S3 CreateMultipartUpload {} returned no upload id",
                    self.target(key)
                ),
            ));
        }
        tracing::debug!(key = %object.key, parts = plan.parts, part_size = plan.part_size, "multipart copy");

        let result = self.copy_parts(object, key, &upload_id, plan).await;
        let result = match result {
            Ok(parts) => {
                let _permit = self.requests.acquire().await.map_err(closed)?;
                self.s3
                    .complete_multipart_upload()
                    .bucket(&self.destination_bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|err| {
                        (
                            true,
                            aws_error("CompleteMultipartUpload", &self.target(key), &err),
                        )
                    })
            }
            Err(err) => Err((false, err)),
        };
        let result = match result {
            Ok(()) => Ok(()),
            // A Complete retried after its reply was lost finds the upload gone (S3
            // says NoSuchUpload; other stores say other things): whatever the error,
            // the first attempt may have completed it, and the destination tells.
            Err((true, err)) => self.completed_anyway(object, key, err).await,
            Err((false, err)) => Err(err),
        };
        if let Err(err) = &result {
            self.abort(key, &upload_id, err).await;
        }
        result
    }

    /// Whether `key` already holds this copy (the size and recorded source ETag of
    /// `object`); `err` otherwise.
    async fn completed_anyway(
        &self,
        object: &SourceObject,
        key: &str,
        err: FunctionError,
    ) -> Result<(), FunctionError> {
        match self.existing(key).await {
            Ok(Some(existing))
                if existing.size == object.size
                    && existing.source_etag.as_deref().map(plan::bare_etag)
                        == Some(plan::bare_etag(&object.etag)) =>
            {
                tracing::info!(
                    key,
                    "multipart upload already completed by an earlier attempt"
                );
                Ok(())
            }
            _ => Err(err),
        }
    }

    async fn copy_parts(
        &self,
        object: &SourceObject,
        key: &str,
        upload_id: &str,
        plan: PartPlan,
    ) -> Result<Vec<CompletedPart>, FunctionError> {
        let source = plan::copy_source(&self.source_bucket, &object.key);
        let mut parts: Vec<CompletedPart> = futures::stream::iter(plan.parts())
            .map(|part| self.copy_part(&source, object, key, upload_id, part))
            .buffer_unordered(self.part_concurrency)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());
        Ok(parts)
    }

    async fn copy_part(
        &self,
        source: &str,
        object: &SourceObject,
        key: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CompletedPart, FunctionError> {
        let _permit = self.requests.acquire().await.map_err(closed)?;
        let mut request = self
            .s3
            .upload_part_copy()
            .bucket(&self.destination_bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part.number)
            .copy_source(source)
            .copy_source_range(part.range_header());
        if !object.etag.is_empty() {
            // Every part must come from the same version of the source.
            request = request.copy_source_if_match(&object.etag);
        }
        let copied = request.send().await.map_err(|err| {
            aws_error(
                "UploadPartCopy",
                &format!("{} part {}", self.target(key), part.number),
                &err,
            )
        })?;
        let etag = copied
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .ok_or_else(|| {
                FunctionError::new(
                    ErrorKind::AwsRequestFailed,
                    format!(
                        "S3 UploadPartCopy {} part {} returned no ETag",
                        self.target(key),
                        part.number
                    ),
                )
            })?;
        Ok(CompletedPart::builder()
            .part_number(part.number)
            .e_tag(etag)
            .build())
    }

    /// Best effort: the copy's own error is what the caller reports.
    async fn abort(&self, key: &str, upload_id: &str, cause: &FunctionError) {
        let _permit = self.requests.acquire().await;
        match self
            .s3
            .abort_multipart_upload()
            .bucket(&self.destination_bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => {
                tracing::warn!(key, upload_id, error = %cause, "multipart copy failed; upload aborted")
            }
            Err(err) => tracing::error!(
                key,
                upload_id,
                error = %cause,
                abort_error = %aws_sdk_s3::error::DisplayErrorContext(&err),
                "multipart copy failed and its upload could not be aborted"
            ),
        }
    }
}

fn closed(_: tokio::sync::AcquireError) -> FunctionError {
    // The semaphore is never closed; this only keeps the path panic-free.
    FunctionError::new(ErrorKind::AwsRequestFailed, "request limiter closed")
}
