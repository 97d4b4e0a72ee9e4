//! The `s3s::S3` implementation: maps each operation's request and response DTOs to
//! the [`Store`], and store errors to S3's error codes. Disk work runs on blocking
//! threads; bodies stream through small bounded channels, so a request holds at most
//! a few MiB of memory whatever the object size.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError, S3};
use tokio::sync::mpsc;

use crate::store::{
    same_etag, DataWriter, Entry, ListQuery, ObjectAttrs, ObjectInfo, Store, StoreError,
    WriteCondition, Written, MAX_PART_NUMBER, MAX_SINGLE_SIZE,
};

/// The most keys (and uploads, and parts) one listing returns, as in S3.
const MAX_LIST: usize = 1000;
/// The size of the chunks a GET streams.
const READ_CHUNK: u64 = 256 * 1024;

/// The S3 API over a [`Store`].
pub struct Backend {
    store: Store,
}

impl Backend {
    pub fn new(store: Store) -> Backend {
        Backend { store }
    }
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        let store = self.store.clone();
        let name = bucket.clone();
        blocking(move || store.create_bucket(&name)).await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.to_string()),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store
            .list_buckets()
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(Timestamp::from(b.created)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let store = self.store.clone();
        let bucket = req.input.bucket;
        blocking(move || store.delete_bucket(&bucket)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        // us-east-1 is reported as an empty location, as S3 does.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        if input
            .content_length
            .is_some_and(|n| n > size_i64(MAX_SINGLE_SIZE))
        {
            return Err(store_error(StoreError::EntityTooLarge));
        }
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let writer = self
            .store
            .object_writer(&input.bucket)
            .map_err(store_error)?;
        let written = receive(writer, input.body).await?;
        if written.size() > MAX_SINGLE_SIZE {
            return Err(store_error(StoreError::EntityTooLarge));
        }
        check_content_md5(input.content_md5.as_deref(), &written)?;
        let attrs = object_attrs(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        );
        let (store, bucket, key) = (self.store.clone(), input.bucket, input.key);
        let info = blocking(move || store.commit_object(&bucket, &key, written, attrs, &condition))
            .await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(info.etag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let entry = self
            .store
            .entry(&input.bucket, &input.key)
            .map_err(store_error)?;
        check_read_conditions(
            &entry,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let size = entry.size();
        let (start, len, content_range) = match input.range {
            None => (0, size, None),
            Some(range) => {
                let r = range
                    .check(size)
                    .map_err(|_| store_error(StoreError::InvalidRange))?;
                let len = r.end - r.start;
                let content_range = format!("bytes {}-{}/{size}", r.start, r.end - 1);
                (r.start, len, Some(content_range))
            }
        };
        let attrs = entry.attrs().clone();
        let output = GetObjectOutput {
            body: Some(stream_range(Arc::clone(&entry), start, len)),
            content_length: Some(size_i64(len)),
            content_range,
            accept_ranges: Some("bytes".to_string()),
            e_tag: Some(ETag::Strong(entry.etag().to_string())),
            last_modified: Some(Timestamp::from(entry.last_modified())),
            content_type: attrs.content_type,
            content_encoding: attrs.content_encoding,
            content_disposition: attrs.content_disposition,
            content_language: attrs.content_language,
            cache_control: attrs.cache_control,
            expires: attrs.expires.as_deref().and_then(parse_http_date),
            metadata: metadata(attrs.metadata),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let entry = self
            .store
            .entry(&input.bucket, &input.key)
            .map_err(store_error)?;
        check_read_conditions(
            &entry,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let attrs = entry.attrs().clone();
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size_i64(entry.size())),
            accept_ranges: Some("bytes".to_string()),
            e_tag: Some(ETag::Strong(entry.etag().to_string())),
            last_modified: Some(Timestamp::from(entry.last_modified())),
            content_type: attrs.content_type,
            content_encoding: attrs.content_encoding,
            content_disposition: attrs.content_disposition,
            content_language: attrs.content_language,
            cache_control: attrs.cache_control,
            expires: attrs.expires.as_deref().and_then(parse_http_date),
            metadata: metadata(attrs.metadata),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (store, bucket, key) = (self.store.clone(), req.input.bucket, req.input.key);
        blocking(move || store.delete_object(&bucket, &key)).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > MAX_LIST {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "A DeleteObjects request may name at most 1000 keys",
            ));
        }
        self.require_bucket(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let store = self.store.clone();
        let bucket = input.bucket;
        let objects = input.delete.objects;
        let (deleted, errors) = blocking(move || {
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for object in objects {
                match store.delete_object(&bucket, &object.key) {
                    Ok(()) if quiet => {}
                    Ok(()) => deleted.push(DeletedObject {
                        key: Some(object.key),
                        version_id: object.version_id,
                        ..Default::default()
                    }),
                    Err(StoreError::NoSuchBucket) => return Err(StoreError::NoSuchBucket),
                    Err(e) => {
                        let s3 = store_error(e);
                        errors.push(Error {
                            code: Some(s3.code().as_str().to_string()),
                            key: Some(object.key),
                            message: s3.message().map(str::to_string),
                            version_id: object.version_id,
                        });
                    }
                }
            }
            Ok((deleted, errors))
        })
        .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = copy_source(&req.headers, &input.copy_source)?;
        let source = self
            .store
            .entry(&src_bucket, &src_key)
            .map_err(store_error)?;
        self.require_bucket(&input.bucket)?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        if source.size() > MAX_SINGLE_SIZE {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_SINGLE_SIZE}"
                ),
            ));
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(MetadataDirective::REPLACE));
        if !replace && src_bucket == input.bucket && src_key == input.key {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let attrs = if replace {
            object_attrs(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.metadata,
            )
        } else {
            source.attrs().clone()
        };
        let (store, bucket, key) = (self.store.clone(), input.bucket, input.key);
        let info: ObjectInfo =
            blocking(move || store.copy_object(&source, &bucket, &key, attrs)).await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(info.etag)),
                last_modified: Some(Timestamp::from(info.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys)?;
        let after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .store
            .list_page(
                &input.bucket,
                &ListQuery {
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    after: after.as_deref(),
                    max_keys,
                },
            )
            .map_err(store_error)?;
        let enc = Encoder::new(input.encoding_type.as_ref());
        let key_count = page.objects.len() + page.common_prefixes.len();
        let next_continuation_token = page
            .last
            .as_deref()
            .filter(|_| page.is_truncated)
            .map(encode_token);
        let (contents, common_prefixes) = listing(page.objects, page.common_prefixes, &enc);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.apply(prefix)),
            delimiter: input.delimiter.map(|d| enc.apply(d)),
            start_after: input.start_after.map(|s| enc.apply(s)),
            encoding_type: input.encoding_type,
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token,
            contents,
            common_prefixes,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .store
            .list_page(
                &input.bucket,
                &ListQuery {
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    after: input.marker.as_deref().filter(|m| !m.is_empty()),
                    max_keys,
                },
            )
            .map_err(store_error)?;
        let enc = Encoder::new(input.encoding_type.as_ref());
        // As S3: NextMarker only with a delimiter; without one the last key is the marker.
        let next_marker = page
            .last
            .clone()
            .filter(|_| page.is_truncated && input.delimiter.is_some())
            .map(|m| enc.apply(m));
        let (contents, common_prefixes) = listing(page.objects, page.common_prefixes, &enc);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.apply(prefix)),
            marker: Some(enc.apply(input.marker.unwrap_or_default())),
            delimiter: input.delimiter.map(|d| enc.apply(d)),
            encoding_type: input.encoding_type,
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            is_truncated: Some(page.is_truncated),
            next_marker,
            contents,
            common_prefixes,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let attrs = object_attrs(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        );
        let (store, bucket, key) = (self.store.clone(), input.bucket.clone(), input.key.clone());
        let upload_id = blocking(move || store.create_upload(&bucket, &key, attrs)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let part = part_number(input.part_number)?;
        if input
            .content_length
            .is_some_and(|n| n > size_i64(MAX_SINGLE_SIZE))
        {
            return Err(store_error(StoreError::EntityTooLarge));
        }
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .map_err(store_error)?;
        let writer = self.store.part_writer(&upload, part).map_err(store_error)?;
        let written = receive(writer, input.body).await?;
        check_content_md5(input.content_md5.as_deref(), &written)?;
        let store = self.store.clone();
        let etag = blocking(move || store.commit_part(&upload, part, written)).await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let part = part_number(input.part_number)?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .map_err(store_error)?;
        let (src_bucket, src_key) = copy_source(&req.headers, &input.copy_source)?;
        let source = self
            .store
            .entry(&src_bucket, &src_key)
            .map_err(store_error)?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let (first, end) = match input.copy_source_range.as_deref() {
            Some(range) => copy_range(range, source.size())?,
            None => (0, source.size()),
        };
        let store = self.store.clone();
        let etag = blocking(move || store.copy_part(&upload, part, &source, first, end)).await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let number = p
                    .part_number
                    .ok_or_else(|| invalid_part("a part has no PartNumber"))?;
                let number = part_number(number)?;
                let etag = p
                    .e_tag
                    .map(ETag::into_value)
                    .ok_or_else(|| invalid_part("a part has no ETag"))?;
                Ok((number, etag))
            })
            .collect::<S3Result<Vec<(u32, String)>>>()?;
        let (store, bucket, key, id) = (
            self.store.clone(),
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id,
        );
        let info = blocking(move || store.complete_upload(&bucket, &key, &id, &parts)).await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(info.etag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let (store, bucket, key, id) =
            (self.store.clone(), input.bucket, input.key, input.upload_id);
        blocking(move || store.abort_upload(&bucket, &key, &id)).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .map_err(store_error)?;
        let max_parts = max_keys(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let mut parts: Vec<_> = self
            .store
            .list_parts(&upload)
            .into_iter()
            .filter(|p| i64::from(p.number) > i64::from(marker))
            .take(max_parts.saturating_add(1))
            .collect();
        let is_truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        let next = parts
            .last()
            .filter(|_| is_truncated)
            .and_then(|p| i32::try_from(p.number).ok());
        let parts = parts
            .into_iter()
            .map(|p| Part {
                part_number: i32::try_from(p.number).ok(),
                size: Some(size_i64(p.size)),
                e_tag: Some(ETag::Strong(p.etag)),
                last_modified: Some(Timestamp::from(p.last_modified)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(upload.key().to_string()),
            upload_id: Some(upload.id().to_string()),
            max_parts: Some(i32::try_from(max_parts).unwrap_or(i32::MAX)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(is_truncated),
            parts: Some(parts),
            owner: Some(owner()),
            initiator: Some(Initiator {
                id: Some(crate::ACCESS_KEY.to_string()),
                display_name: Some(crate::ACCESS_KEY.to_string()),
            }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max_uploads = max_keys(input.max_uploads)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let mut uploads: Vec<_> = self
            .store
            .list_uploads(&input.bucket, &prefix)
            .map_err(store_error)?
            .into_iter()
            .filter(|u| u.key > key_marker)
            .take(max_uploads.saturating_add(1))
            .collect();
        let is_truncated = uploads.len() > max_uploads;
        uploads.truncate(max_uploads);
        let enc = Encoder::new(input.encoding_type.as_ref());
        let (next_key_marker, next_upload_id_marker) = match uploads.last() {
            Some(u) if is_truncated => (Some(enc.apply(u.key.clone())), Some(u.upload_id.clone())),
            _ => (None, None),
        };
        let uploads = uploads
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(enc.apply(u.key)),
                upload_id: Some(u.upload_id),
                initiated: Some(Timestamp::from(u.initiated)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                owner: Some(owner()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(enc.apply(prefix)),
            key_marker: input.key_marker.map(|m| enc.apply(m)),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(i32::try_from(max_uploads).unwrap_or(i32::MAX)),
            is_truncated: Some(is_truncated),
            next_key_marker,
            next_upload_id_marker,
            encoding_type: input.encoding_type,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

impl Backend {
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.store.bucket_exists(bucket) {
            Ok(())
        } else {
            Err(store_error(StoreError::NoSuchBucket))
        }
    }
}

/// Maps a store error to S3's code (and so its HTTP status).
fn store_error(e: StoreError) -> S3Error {
    let code = match &e {
        StoreError::NoSuchBucket => S3ErrorCode::NoSuchBucket,
        StoreError::NoSuchKey => S3ErrorCode::NoSuchKey,
        StoreError::NoSuchUpload => S3ErrorCode::NoSuchUpload,
        StoreError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        StoreError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        StoreError::EntityTooSmall { .. } => S3ErrorCode::EntityTooSmall,
        StoreError::EntityTooLarge => S3ErrorCode::EntityTooLarge,
        StoreError::InvalidRange => S3ErrorCode::InvalidRange,
        StoreError::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        StoreError::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
        StoreError::MalformedXml(_) => S3ErrorCode::MalformedXML,
        StoreError::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        StoreError::BucketAlreadyOwnedByYou => S3ErrorCode::BucketAlreadyOwnedByYou,
        StoreError::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
        StoreError::KeyTooLong => S3ErrorCode::KeyTooLongError,
        StoreError::InvalidBucketName => S3ErrorCode::InvalidBucketName,
        StoreError::Io(_) => S3ErrorCode::InternalError,
    };
    S3Error::with_message(code, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, e.to_string())
}

fn invalid_part(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidPart, message.to_string())
}

/// Runs store work on a blocking thread.
async fn blocking<T, F>(f: F) -> S3Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(store_error),
        Err(e) => Err(internal(format!("a storage task failed: {e}"))),
    }
}

/// Streams a request body into `writer` on a blocking thread (which also hashes it):
/// at most a few chunks are in memory at a time.
async fn receive(mut writer: DataWriter, body: Option<StreamingBlob>) -> S3Result<Written> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let task = tokio::task::spawn_blocking(move || -> io::Result<Written> {
        while let Some(chunk) = rx.blocking_recv() {
            writer.write(&chunk)?;
        }
        writer.finish()
    });
    let mut failure = None;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the writer failed; its error follows
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    drop(tx);
    // Awaited even after a failure, so the partial file is gone when we answer.
    let written = task.await;
    if let Some(e) = failure {
        return Err(match e.downcast::<S3Error>() {
            Ok(s3) => *s3,
            Err(e) => S3Error::with_source(S3ErrorCode::IncompleteBody, e),
        });
    }
    match written {
        Ok(Ok(written)) => Ok(written),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

/// An object's bytes `start..start + len`, read on a blocking thread and handed over
/// through a small bounded channel.
fn stream_range(entry: Arc<Entry>, start: u64, len: u64) -> StreamingBlob {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    if len > 0 {
        tokio::task::spawn_blocking(move || {
            let mut reader = entry.reader(start, len);
            let mut left = len;
            while left > 0 {
                let size = usize::try_from(left.min(READ_CHUNK)).unwrap_or(1 << 16);
                let mut buf = vec![0u8; size];
                if let Err(e) = reader.read_exact(&mut buf) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                left -= size as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return; // the client went away
                }
            }
        });
    }
    StreamingBlob::new(ChunkStream {
        rx,
        remaining: usize::try_from(len).unwrap_or(usize::MAX),
    })
}

/// A body of known length (so the response has a Content-Length, not chunks).
struct ChunkStream {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: usize,
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                self.remaining = self.remaining.saturating_sub(bytes.len());
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(Some(Err(Box::new(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the object reader stopped early",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl ByteStream for ChunkStream {
    fn remaining_length(&self) -> RemainingLength {
        RemainingLength::new_exact(self.remaining)
    }
}

fn check_content_md5(content_md5: Option<&str>, written: &Written) -> S3Result<()> {
    let Some(expected) = content_md5 else {
        return Ok(());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(expected.trim())
        .ok()
        .filter(|d| d.len() == 16)
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidDigest,
                "The Content-MD5 you specified was invalid.",
            )
        })?;
    if decoded != written.md5() {
        return Err(S3Error::with_message(
            S3ErrorCode::BadDigest,
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}

fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> WriteCondition {
    match (if_match, if_none_match) {
        (Some(ETagCondition::Any), _) => WriteCondition::IfExists,
        (Some(ETagCondition::ETag(etag)), _) => WriteCondition::IfEtag(etag.value().to_string()),
        (None, Some(ETagCondition::Any)) => WriteCondition::IfAbsent,
        _ => WriteCondition::Always,
    }
}

fn condition_holds(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => same_etag(e.value(), etag),
    }
}

fn to_system_time(t: &Timestamp) -> SystemTime {
    SystemTime::from(time::OffsetDateTime::from(t.clone()))
}

/// GET/HEAD conditions in RFC 9110's order: If-Match (412), else If-Unmodified-Since
/// (412); If-None-Match (304), else If-Modified-Since (304).
fn check_read_conditions(
    entry: &Entry,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let precondition_failed = || store_error(StoreError::PreconditionFailed);
    let not_modified = || S3Error::new(S3ErrorCode::NotModified);
    match (if_match, if_unmodified_since) {
        (Some(c), _) if !condition_holds(c, entry.etag()) => return Err(precondition_failed()),
        (None, Some(t)) if entry.last_modified() > to_system_time(t) => {
            return Err(precondition_failed())
        }
        _ => {}
    }
    match (if_none_match, if_modified_since) {
        (Some(c), _) if condition_holds(c, entry.etag()) => Err(not_modified()),
        (None, Some(t)) if entry.last_modified() <= to_system_time(t) => Err(not_modified()),
        _ => Ok(()),
    }
}

/// `x-amz-copy-source-if-*`, as S3 combines them: If-Match wins over
/// If-Unmodified-Since and If-None-Match over If-Modified-Since; any failure is 412.
fn check_copy_conditions(
    source: &Entry,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let ok = match (if_match, if_unmodified_since) {
        (Some(c), _) => condition_holds(c, source.etag()),
        (None, Some(t)) => source.last_modified() <= to_system_time(t),
        (None, None) => true,
    } && match (if_none_match, if_modified_since) {
        (Some(c), _) => !condition_holds(c, source.etag()),
        (None, Some(t)) => source.last_modified() > to_system_time(t),
        (None, None) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(store_error(StoreError::PreconditionFailed))
    }
}

/// The source bucket and key, decoded as S3 decodes `x-amz-copy-source`: as a form
/// value, where `+` is a space (s3s only percent-decodes it; s5cmd, for one, sends
/// spaces as `+`). An optional `?versionId=` is ignored: there are no versions.
fn copy_source(headers: &hyper::HeaderMap, parsed: &CopySource) -> S3Result<(String, String)> {
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    };
    let Some(raw) = headers.get("x-amz-copy-source") else {
        return match parsed {
            CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
            _ => Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "Only bucket/key copy sources are supported",
            )),
        };
    };
    let raw = raw.to_str().map_err(|_| invalid())?;
    let path = raw.split_once("?versionId=").map_or(raw, |(path, _)| path);
    let spaced = path.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    if key.len() > crate::store::MAX_KEY_LEN {
        return Err(store_error(StoreError::KeyTooLong));
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// `x-amz-copy-source-range: bytes=first-last` (inclusive) as `(first, end)`.
fn copy_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let syntax = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (first, last) = range
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(syntax)?;
    let first: u64 = first.trim().parse().map_err(|_| syntax())?;
    let last: u64 = last.trim().parse().map_err(|_| syntax())?;
    if first > last {
        return Err(syntax());
    }
    if last >= size {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last + 1))
}

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!(
                    "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
                ),
            )
        })
}

/// A listing's size limit: 1,000 when absent, capped at 1,000 (as S3).
fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_LIST),
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "max-keys must be a non-negative integer",
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_LIST).min(MAX_LIST)),
    }
}

/// Continuation tokens are opaque to clients: the base64 of where the page ended.
fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

/// `encoding-type=url`: s3s passes names through, so the backend encodes them as S3
/// does (form encoding: space as `+`, `/` kept).
struct Encoder {
    url: bool,
}

impl Encoder {
    fn new(encoding: Option<&EncodingType>) -> Encoder {
        Encoder {
            url: encoding.is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL)),
        }
    }

    fn apply(&self, s: String) -> String {
        if self.url {
            url_encode(&s)
        } else {
            s
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn listing(
    objects: Vec<ObjectInfo>,
    common_prefixes: Vec<String>,
    enc: &Encoder,
) -> (Option<Vec<Object>>, Option<Vec<CommonPrefix>>) {
    let contents: Vec<Object> = objects
        .into_iter()
        .map(|o| Object {
            key: Some(enc.apply(o.key)),
            size: Some(size_i64(o.size)),
            e_tag: Some(ETag::Strong(o.etag)),
            last_modified: Some(Timestamp::from(o.last_modified)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect();
    let common_prefixes: Vec<CommonPrefix> = common_prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc.apply(p)),
        })
        .collect();
    (
        (!contents.is_empty()).then_some(contents),
        (!common_prefixes.is_empty()).then_some(common_prefixes),
    )
}

#[allow(clippy::too_many_arguments)]
fn object_attrs(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    metadata: Option<Metadata>,
) -> ObjectAttrs {
    ObjectAttrs {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires: expires.as_ref().and_then(format_http_date),
        metadata: metadata.unwrap_or_default().into_iter().collect(),
    }
}

fn metadata(map: std::collections::BTreeMap<String, String>) -> Option<Metadata> {
    (!map.is_empty()).then(|| map.into_iter().collect())
}

fn format_http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

fn owner() -> Owner {
    Owner {
        id: Some(crate::ACCESS_KEY.to_string()),
        display_name: Some(crate::ACCESS_KEY.to_string()),
    }
}

fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_matches_s3() {
        assert_eq!(url_encode("a b+c/%d é?#"), "a+b%2Bc/%25d+%C3%A9%3F%23");
        assert_eq!(url_encode("plain/key-1_2.txt*"), "plain/key-1_2.txt*");
    }

    #[test]
    fn copy_sources_decode_as_s3_does() {
        let parsed = CopySource::Bucket {
            bucket: "b".into(),
            key: "k".into(),
            version_id: None,
        };
        let decode = |raw: &str| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert("x-amz-copy-source", raw.parse().unwrap());
            copy_source(&headers, &parsed)
        };
        let pair = |b: &str, k: &str| (b.to_string(), k.to_string());
        assert_eq!(
            decode("bkt/a%20b/c%2Bd%25e").unwrap(),
            pair("bkt", "a b/c+d%e")
        );
        assert_eq!(
            decode("bkt/a+b/c%2Bd%25e+%C3%A9").unwrap(),
            pair("bkt", "a b/c+d%e é")
        );
        assert_eq!(
            decode("/bkt///x%3Fy%23z?versionId=3").unwrap(),
            pair("bkt", "//x?y#z")
        );
        assert_eq!(decode("bkt/..%2Fup").unwrap(), pair("bkt", "../up"));
        for bad in ["bkt", "bkt/", "/bkt", "bkt/%FF"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        // Without the header: what s3s parsed.
        assert_eq!(
            copy_source(&hyper::HeaderMap::new(), &parsed).unwrap(),
            pair("b", "k")
        );
    }

    #[test]
    fn tokens_round_trip() {
        for last in ["", "a/b", "é/ü?x#y", "a+b%2B"] {
            assert_eq!(decode_token(&encode_token(last)).unwrap(), last);
        }
        assert!(decode_token("not base64!").is_err());
    }

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(copy_range("bytes=5-5", 10).unwrap(), (5, 6));
        for bad in [
            "bytes=0-10",
            "bytes=5-4",
            "0-9",
            "bytes=-5",
            "bytes=3-",
            "bytes=a-b",
        ] {
            let err = copy_range(bad, 10).unwrap_err();
            assert_eq!(err.code(), &S3ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn listing_limits() {
        assert_eq!(max_keys(None).unwrap(), 1000);
        assert_eq!(max_keys(Some(5000)).unwrap(), 1000);
        assert_eq!(max_keys(Some(0)).unwrap(), 0);
        assert!(max_keys(Some(-1)).is_err());
        assert!(part_number(0).is_err());
        assert!(part_number(10_001).is_err());
        assert_eq!(part_number(10_000).unwrap(), 10_000);
    }

    #[test]
    fn write_conditions() {
        let etag = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert_eq!(write_condition(None, None), WriteCondition::Always);
        assert_eq!(
            write_condition(None, Some(&ETagCondition::Any)),
            WriteCondition::IfAbsent
        );
        assert_eq!(
            write_condition(Some(&ETagCondition::Any), None),
            WriteCondition::IfExists
        );
        assert_eq!(
            write_condition(Some(&etag), None),
            WriteCondition::IfEtag("abc".into())
        );
    }
}
