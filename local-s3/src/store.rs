//! The on-disk store and its in-memory index: plain std, no s3s types, so the rules
//! that are about data (keys, ETags, multipart, listing order, crash safety) are
//! tested without HTTP.
//!
//! Layout under the root, one directory per bucket (the bucket exists iff it does):
//!
//! ```text
//! <bucket>/meta/<2 hex>/<sha256(key) hex>.json  one record per object: key, size, ETag,
//!                                              headers, user metadata, segments
//! <bucket>/data/<id>                             content files, written once, never rewritten
//! <bucket>/uploads/<upload id>/upload.json       a multipart upload in progress
//! <bucket>/uploads/<upload id>/part-<n>.json     a part's record: its file, size and ETag
//! <bucket>/uploads/<upload id>/part-<n>.<id>     a part's content
//! ```
//!
//! File names never come from a key (only from its hash), so any UTF-8 key up to
//! 1,024 bytes is stored as is.
//!
//! Every write puts the content into new files, then renames a temporary record over
//! the old one (atomic), then updates the index, and only then removes the old content
//! (once no reader still streams it). A crash therefore leaves the old object or the
//! new, never a mix; the files it orphans are removed at the next start. There is no
//! fsync: this guards against a crashed process, not a power cut. One process per root;
//! changes made to the directory behind a running store's back are not seen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::num::NonZeroUsize;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// S3's longest key, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// S3's smallest part (all but the last part of an upload): 5 MiB.
pub const DEFAULT_MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// S3's limit for one PutObject, one part, and a CopyObject source: 5 GiB.
pub const MAX_SINGLE_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// What S3 stores when a client gives no Content-Type.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

const RECORD_VERSION: u32 = 1;
const TMP_MARK: &str = ".tmp-";
const TRASH_PREFIX: &str = ".trash-";
const UPLOAD_RECORD: &str = "upload.json";
/// Marks a root as ours, so a directory of another layout (s3s-fs's, say: objects as
/// plain files) is refused instead of having its files taken for crash leftovers.
const LAYOUT_MARK: &str = ".local-s3";

/// Why a store operation failed; each variant is an S3 error code (see `backend`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload,
    #[error("{0}")]
    InvalidPart(String),
    #[error("The list of parts was not in ascending order. The parts list must be specified in order by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size: part {part} is {size} bytes, the minimum is {min}")]
    EntityTooSmall { part: u32, size: u64, min: u64 },
    #[error("Your proposed upload exceeds the maximum allowed object size.")]
    EntityTooLarge,
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    MalformedXml(String),
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("The specified bucket is not valid.")]
    InvalidBucketName,
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Io(io::Error::other(e))
    }
}

impl From<StoreError> for io::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// Tunables; the defaults are S3's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The smallest size of every part but the last (S3: 5 MiB). Lower it to test
    /// multipart logic without megabytes of data.
    pub min_part_size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            min_part_size: DEFAULT_MIN_PART_SIZE,
        }
    }
}

/// The headers a client sets on an object, kept and returned as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The `Expires` header as an HTTP date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// User metadata (`x-amz-meta-*`), names in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// What a HeadObject or a listing tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes: hex MD5, or `<hex>-<parts>` for a multipart upload.
    pub etag: String,
    /// Whole seconds, as S3 keeps it.
    pub last_modified: SystemTime,
    pub attrs: ObjectAttrs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created: SystemTime,
}

/// One page of a listing: `prefix`, an optional `delimiter` that rolls keys up into
/// common prefixes, and `after` (exclusive: a key, or a common prefix returned earlier,
/// whose keys are then skipped).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix of the page, in listing order: where the next
    /// page starts (exclusive).
    pub last: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub last_modified: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
}

/// A store over one directory; cheap to clone, safe to share between threads. Every
/// method is synchronous; the server calls the slow ones on blocking threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    options: StoreOptions,
    buckets: RwLock<BTreeMap<String, Arc<Bucket>>>,
}

struct Bucket {
    dir: PathBuf,
    data_dir: Arc<Path>,
    created: SystemTime,
    state: RwLock<BucketState>,
    uploads: Mutex<HashMap<String, Arc<Upload>>>,
}

struct BucketState {
    objects: BTreeMap<String, Arc<Entry>>,
    /// Set (with `objects` empty) when the bucket is deleted, so a write that raced
    /// the deletion fails instead of landing in a removed directory.
    deleted: bool,
}

impl Bucket {
    fn meta_path(&self, key: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        self.dir
            .join("meta")
            .join(&hash[..2])
            .join(format!("{hash}.json"))
    }

    fn uploads_dir(&self) -> PathBuf {
        self.dir.join("uploads")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectRecord {
    version: u32,
    key: String,
    size: u64,
    etag: String,
    /// Unix seconds.
    last_modified: u64,
    #[serde(flatten)]
    attrs: ObjectAttrs,
    segments: Vec<Segment>,
}

/// One file of an object's content; the content is the segments in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Segment {
    file: String,
    size: u64,
}

/// An object as the index holds it. Readers clone the `Arc`; when the object is
/// replaced or deleted it is retired, and its files go when the last holder drops
/// it, so a GET or a copy in flight never loses its data.
pub(crate) struct Entry {
    record: ObjectRecord,
    data_dir: Arc<Path>,
    retired: AtomicBool,
}

impl Entry {
    pub(crate) fn info(&self) -> ObjectInfo {
        ObjectInfo {
            key: self.record.key.clone(),
            size: self.record.size,
            etag: self.record.etag.clone(),
            last_modified: from_secs(self.record.last_modified),
            attrs: self.record.attrs.clone(),
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.record.size
    }

    pub(crate) fn etag(&self) -> &str {
        &self.record.etag
    }

    pub(crate) fn last_modified(&self) -> SystemTime {
        from_secs(self.record.last_modified)
    }

    pub(crate) fn attrs(&self) -> &ObjectAttrs {
        &self.record.attrs
    }

    /// Reads `len` bytes from `start`, across segments.
    pub(crate) fn reader(self: &Arc<Self>, start: u64, len: u64) -> RangeReader {
        let mut seg = 0;
        let mut offset = start;
        for s in &self.record.segments {
            if offset < s.size {
                break;
            }
            offset -= s.size;
            seg += 1;
        }
        RangeReader {
            entry: Arc::clone(self),
            seg,
            seg_offset: offset,
            remaining: len,
            file: None,
        }
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.retired.load(Ordering::Acquire) {
            for s in &self.record.segments {
                let _ = fs::remove_file(self.data_dir.join(&s.file));
            }
        }
    }
}

/// A byte range of an object, read segment after segment.
pub(crate) struct RangeReader {
    entry: Arc<Entry>,
    seg: usize,
    seg_offset: u64,
    remaining: u64,
    file: Option<File>,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.remaining == 0 || buf.is_empty() {
                return Ok(0);
            }
            let Some(seg) = self.entry.record.segments.get(self.seg) else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "object shorter than its record",
                ));
            };
            if self.seg_offset >= seg.size {
                self.seg += 1;
                self.seg_offset = 0;
                self.file = None;
                continue;
            }
            let file = match &mut self.file {
                Some(file) => file,
                None => {
                    let mut file = File::open(self.entry.data_dir.join(&seg.file))?;
                    file.seek(SeekFrom::Start(self.seg_offset))?;
                    self.file.insert(file)
                }
            };
            let want = (buf.len() as u64)
                .min(seg.size - self.seg_offset)
                .min(self.remaining);
            let want = usize::try_from(want).unwrap_or(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shorter than its record",
                ));
            }
            self.seg_offset += n as u64;
            self.remaining -= n as u64;
            return Ok(n);
        }
    }
}

/// A multipart upload in progress.
pub(crate) struct Upload {
    id: String,
    key: String,
    attrs: ObjectAttrs,
    initiated: u64,
    dir: PathBuf,
    state: Mutex<UploadState>,
}

struct UploadState {
    parts: BTreeMap<u32, PartRecord>,
    /// Completed or aborted: parts arriving now are refused.
    closed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadRecord {
    version: u32,
    id: String,
    key: String,
    initiated: u64,
    #[serde(flatten)]
    attrs: ObjectAttrs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartRecord {
    number: u32,
    file: String,
    size: u64,
    etag: String,
    last_modified: u64,
}

/// An upload and its bucket, as found for one request.
pub(crate) struct UploadHandle {
    bucket: Arc<Bucket>,
    upload: Arc<Upload>,
}

/// A file being created; removed on drop unless kept (committed).
struct PendingFile {
    path: PathBuf,
    name: String,
    keep: bool,
}

impl PendingFile {
    fn create(dir: &Path, prefix: &str) -> io::Result<(PendingFile, File)> {
        let name = format!("{prefix}{}", new_id());
        let path = dir.join(&name);
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok((
            PendingFile {
                path,
                name,
                keep: false,
            },
            file,
        ))
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes new content to a file of its own, hashing it (MD5) on the way.
pub(crate) struct DataWriter {
    pending: PendingFile,
    out: BufWriter<File>,
    md5: Md5,
    size: u64,
}

impl DataWriter {
    fn new(dir: &Path, prefix: &str) -> io::Result<DataWriter> {
        let (pending, file) = PendingFile::create(dir, prefix)?;
        Ok(DataWriter {
            pending,
            out: BufWriter::with_capacity(1 << 20, file),
            md5: Md5::new(),
            size: 0,
        })
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        self.md5.update(buf);
        self.out.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<Written> {
        let DataWriter {
            pending,
            out,
            md5,
            size,
        } = self;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        drop(file);
        Ok(Written {
            pending,
            size,
            md5: md5.finalize().into(),
        })
    }
}

/// Content written but not yet committed: dropping it removes the file.
pub(crate) struct Written {
    pending: PendingFile,
    size: u64,
    md5: [u8; 16],
}

impl Written {
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn md5(&self) -> [u8; 16] {
        self.md5
    }
}

/// A condition checked atomically with a write (PutObject's `If-Match`/`If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteCondition {
    Always,
    /// `If-None-Match: *`
    IfAbsent,
    /// `If-Match: *`
    IfExists,
    /// `If-Match: "<etag>"`
    IfEtag(String),
}

impl WriteCondition {
    fn check(&self, current: Option<&Arc<Entry>>) -> Result<(), StoreError> {
        let ok = match (self, current) {
            (WriteCondition::Always, _) => true,
            (WriteCondition::IfAbsent, current) => current.is_none(),
            (WriteCondition::IfExists, current) => current.is_some(),
            (WriteCondition::IfEtag(etag), Some(current)) => same_etag(etag, current.etag()),
            (WriteCondition::IfEtag(_), None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::PreconditionFailed)
        }
    }
}

impl Store {
    /// Opens (creating if needed) a store with S3's limits.
    pub fn open(root: &Path) -> io::Result<Store> {
        Store::open_with(root, StoreOptions::default())
    }

    /// Opens a store: reads every bucket's records into the index and removes what a
    /// crash may have left (temporary records, unreferenced content files).
    pub fn open_with(root: &Path, options: StoreOptions) -> io::Result<Store> {
        fs::create_dir_all(root)?;
        claim_root(root)?;
        let mut buckets = BTreeMap::new();
        for dirent in fs::read_dir(root)? {
            let dirent = dirent?;
            let file_name = dirent.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if name.starts_with(TRASH_PREFIX) {
                let _ = fs::remove_dir_all(dirent.path());
                continue;
            }
            if !dirent.file_type()?.is_dir() || !valid_bucket_name(name) {
                continue;
            }
            let bucket = load_bucket(dirent.path())?;
            buckets.insert(name.to_string(), Arc::new(bucket));
        }
        Ok(Store {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                options,
                buckets: RwLock::new(buckets),
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn min_part_size(&self) -> u64 {
        self.inner.options.min_part_size
    }

    fn bucket(&self, name: &str) -> Result<Arc<Bucket>, StoreError> {
        read_lock(&self.inner.buckets)
            .get(name)
            .cloned()
            .ok_or(StoreError::NoSuchBucket)
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        read_lock(&self.inner.buckets).contains_key(name)
    }

    /// Creates a bucket; `BucketAlreadyOwnedByYou` if it exists.
    pub fn create_bucket(&self, name: &str) -> Result<(), StoreError> {
        if !valid_bucket_name(name) {
            return Err(StoreError::InvalidBucketName);
        }
        let mut buckets = write_lock(&self.inner.buckets);
        if buckets.contains_key(name) {
            return Err(StoreError::BucketAlreadyOwnedByYou);
        }
        let dir = self.inner.root.join(name);
        fs::create_dir_all(&dir)?;
        let bucket = load_bucket(dir)?;
        buckets.insert(name.to_string(), Arc::new(bucket));
        Ok(())
    }

    /// Creates a bucket unless it exists (for seeding).
    pub fn ensure_bucket(&self, name: &str) -> Result<(), StoreError> {
        match self.create_bucket(name) {
            Err(StoreError::BucketAlreadyOwnedByYou) => Ok(()),
            other => other,
        }
    }

    /// Deletes an empty bucket (uploads in progress go with it).
    pub fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        let mut buckets = write_lock(&self.inner.buckets);
        let bucket = buckets.get(name).cloned().ok_or(StoreError::NoSuchBucket)?;
        {
            let mut state = write_lock(&bucket.state);
            if !state.objects.is_empty() {
                return Err(StoreError::BucketNotEmpty);
            }
            state.deleted = true;
        }
        buckets.remove(name);
        // Out of the way at once (so the name can be reused), removed afterwards.
        let trash = self.inner.root.join(format!("{TRASH_PREFIX}{}", new_id()));
        let renamed = fs::rename(&bucket.dir, &trash);
        drop(buckets);
        for upload in lock(&bucket.uploads).drain().map(|(_, u)| u) {
            lock(&upload.state).closed = true;
        }
        match renamed {
            Ok(()) => fs::remove_dir_all(&trash)?,
            Err(_) => fs::remove_dir_all(&bucket.dir)?,
        }
        Ok(())
    }

    pub fn list_buckets(&self) -> Vec<BucketInfo> {
        read_lock(&self.inner.buckets)
            .iter()
            .map(|(name, b)| BucketInfo {
                name: name.clone(),
                created: b.created,
            })
            .collect()
    }

    /// Stores `bytes` under `key`; returns the ETag (hex MD5, unquoted).
    pub fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let mut writer = self.object_writer(bucket)?;
        writer.write(bytes)?;
        let written = writer.finish()?;
        let info = self.commit_object(
            bucket,
            key,
            written,
            ObjectAttrs::default(),
            &WriteCondition::Always,
        )?;
        Ok(info.etag)
    }

    /// Stores a copy of the file at `path` under `key`; returns the ETag.
    pub fn put_object_from_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<String, StoreError> {
        let mut input = File::open(path)?;
        let mut writer = self.object_writer(bucket)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n])?;
        }
        let written = writer.finish()?;
        let info = self.commit_object(
            bucket,
            key,
            written,
            ObjectAttrs::default(),
            &WriteCondition::Always,
        )?;
        Ok(info.etag)
    }

    /// The whole content of an object, if it exists (and can be read).
    pub fn get_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let entry = self.entry(bucket, key).ok()?;
        let mut out = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.reader(0, entry.size()).read_to_end(&mut out).ok()?;
        Some(out)
    }

    pub fn head(&self, bucket: &str, key: &str) -> Option<ObjectInfo> {
        self.entry(bucket, key).ok().map(|e| e.info())
    }

    /// Every object whose key starts with `prefix`, in key order (empty if the bucket
    /// does not exist).
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<ObjectInfo> {
        let Ok(bucket) = self.bucket(bucket) else {
            return Vec::new();
        };
        let state = read_lock(&bucket.state);
        state
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, e)| e.info())
            .collect()
    }

    /// The number of objects in a bucket (0 if it does not exist).
    pub fn object_count(&self, bucket: &str) -> usize {
        self.bucket(bucket)
            .map(|b| read_lock(&b.state).objects.len())
            .unwrap_or(0)
    }

    /// Removes an object; removing a missing key is not an error (as in S3).
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let bucket = self.bucket(bucket)?;
        let old = {
            let mut state = write_lock(&bucket.state);
            if state.deleted {
                return Err(StoreError::NoSuchBucket);
            }
            if !state.objects.contains_key(key) {
                return Ok(());
            }
            match fs::remove_file(bucket.meta_path(key)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            state.objects.remove(key)
        };
        if let Some(old) = old {
            old.retire();
        }
        Ok(())
    }

    /// One page of a listing, read from the index only: a range scan from `after`
    /// that skips each common prefix's keys with one seek, so a page costs
    /// O(page × log n) whatever the size of the bucket.
    pub fn list_page(&self, bucket: &str, query: &ListQuery<'_>) -> Result<ListPage, StoreError> {
        let bucket = self.bucket(bucket)?;
        let state = read_lock(&bucket.state);
        Ok(list_page(&state.objects, query))
    }

    pub(crate) fn entry(&self, bucket: &str, key: &str) -> Result<Arc<Entry>, StoreError> {
        let bucket = self.bucket(bucket)?;
        let state = read_lock(&bucket.state);
        state.objects.get(key).cloned().ok_or(StoreError::NoSuchKey)
    }

    /// A writer for a new object's content.
    pub(crate) fn object_writer(&self, bucket: &str) -> Result<DataWriter, StoreError> {
        let bucket = self.bucket(bucket)?;
        DataWriter::new(&bucket.data_dir, "").map_err(|e| not_found_as(e, StoreError::NoSuchBucket))
    }

    /// Makes written content the object `key` (ETag: its MD5).
    pub(crate) fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        written: Written,
        attrs: ObjectAttrs,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo, StoreError> {
        check_key(key)?;
        let bucket = self.bucket(bucket)?;
        let Written { pending, size, md5 } = written;
        let (segments, pending) = if size == 0 {
            (Vec::new(), Vec::new())
        } else {
            (
                vec![Segment {
                    file: pending.name.clone(),
                    size,
                }],
                vec![pending],
            )
        };
        let record = ObjectRecord {
            version: RECORD_VERSION,
            key: key.to_string(),
            size,
            etag: hex::encode(md5),
            last_modified: now_secs(),
            attrs,
            segments,
        };
        let entry = install(&bucket, record, condition)?;
        pending.into_iter().for_each(PendingFile::keep);
        Ok(entry.info())
    }

    /// Copies an object's content into new files (a kernel copy: `copy_file_range`),
    /// keeping its ETag.
    pub(crate) fn copy_object(
        &self,
        source: &Arc<Entry>,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
    ) -> Result<ObjectInfo, StoreError> {
        check_key(key)?;
        let bucket = self.bucket(bucket)?;
        let mut pending = Vec::with_capacity(source.record.segments.len());
        let mut segments = Vec::with_capacity(source.record.segments.len());
        for segment in &source.record.segments {
            let (file, mut out) = PendingFile::create(&bucket.data_dir, "")
                .map_err(|e| not_found_as(e, StoreError::NoSuchBucket))?;
            let mut input = File::open(source.data_dir.join(&segment.file))?;
            let copied = io::copy(&mut input, &mut out)?;
            if copied != segment.size {
                return Err(io::Error::other("a source segment changed size").into());
            }
            segments.push(Segment {
                file: file.name.clone(),
                size: copied,
            });
            pending.push(file);
        }
        let record = ObjectRecord {
            version: RECORD_VERSION,
            key: key.to_string(),
            size: source.record.size,
            etag: source.record.etag.clone(),
            last_modified: now_secs(),
            attrs,
            segments,
        };
        let entry = install(&bucket, record, &WriteCondition::Always)?;
        pending.into_iter().for_each(PendingFile::keep);
        Ok(entry.info())
    }

    /// Starts a multipart upload; returns its id.
    pub(crate) fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
    ) -> Result<String, StoreError> {
        check_key(key)?;
        let bucket = self.bucket(bucket)?;
        let id = new_id();
        let dir = bucket.uploads_dir().join(&id);
        fs::create_dir(&dir).map_err(|e| not_found_as(e, StoreError::NoSuchBucket))?;
        let record = UploadRecord {
            version: RECORD_VERSION,
            id: id.clone(),
            key: key.to_string(),
            initiated: now_secs(),
            attrs: with_default_content_type(attrs),
        };
        if let Err(e) = write_atomic(&dir.join(UPLOAD_RECORD), &serde_json::to_vec(&record)?) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        let upload = Arc::new(Upload {
            id: id.clone(),
            key: record.key,
            attrs: record.attrs,
            initiated: record.initiated,
            dir,
            state: Mutex::new(UploadState {
                parts: BTreeMap::new(),
                closed: false,
            }),
        });
        lock(&bucket.uploads).insert(id.clone(), upload);
        Ok(id)
    }

    /// The upload `id` of `key`; `NoSuchUpload` unless it is in progress for that key.
    pub(crate) fn upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<UploadHandle, StoreError> {
        let bucket = self.bucket(bucket)?;
        let upload = lock(&bucket.uploads)
            .get(id)
            .filter(|u| u.key == key)
            .cloned()
            .ok_or(StoreError::NoSuchUpload)?;
        Ok(UploadHandle { bucket, upload })
    }

    /// A writer for a part's content.
    pub(crate) fn part_writer(
        &self,
        upload: &UploadHandle,
        part: u32,
    ) -> Result<DataWriter, StoreError> {
        check_part_number(part)?;
        DataWriter::new(&upload.upload.dir, &format!("part-{part}."))
            .map_err(|e| not_found_as(e, StoreError::NoSuchUpload))
    }

    /// Records written content as part `part` (replacing an earlier one); returns
    /// its ETag (the content's MD5).
    pub(crate) fn commit_part(
        &self,
        upload: &UploadHandle,
        part: u32,
        written: Written,
    ) -> Result<String, StoreError> {
        let etag = hex::encode(written.md5);
        commit_part(
            &upload.upload,
            part,
            written.pending,
            written.size,
            etag.clone(),
        )?;
        Ok(etag)
    }

    /// Copies bytes `first..end` of an object into part `part` with kernel copies.
    /// The part's ETag is the MD5 of `"<source etag>:<first>-<last>"` (`last`
    /// inclusive, as in the request): no hashing of content, yet the same for the same
    /// content.
    pub(crate) fn copy_part(
        &self,
        upload: &UploadHandle,
        part: u32,
        source: &Arc<Entry>,
        first: u64,
        end: u64,
    ) -> Result<String, StoreError> {
        check_part_number(part)?;
        if first > end || end > source.size() {
            return Err(StoreError::InvalidRange);
        }
        if end - first > MAX_SINGLE_SIZE {
            return Err(StoreError::InvalidArgument(format!(
                "A part copy may not exceed {MAX_SINGLE_SIZE} bytes"
            )));
        }
        let (file, mut out) = PendingFile::create(&upload.upload.dir, &format!("part-{part}."))
            .map_err(|e| not_found_as(e, StoreError::NoSuchUpload))?;
        let mut seg_start = 0u64;
        for segment in &source.record.segments {
            if seg_start >= end {
                break;
            }
            let seg_end = seg_start + segment.size;
            if seg_end > first {
                let from = first.max(seg_start) - seg_start;
                let to = end.min(seg_end) - seg_start;
                let mut input = File::open(source.data_dir.join(&segment.file))?;
                input.seek(SeekFrom::Start(from))?;
                let copied = io::copy(&mut input.take(to - from), &mut out)?;
                if copied != to - from {
                    return Err(
                        io::Error::other("a source segment is shorter than recorded").into(),
                    );
                }
            }
            seg_start = seg_end;
        }
        drop(out);
        let range = if end > first {
            format!("{first}-{}", end - 1)
        } else {
            String::new()
        };
        let mut md5 = Md5::new();
        md5.update(format!("{}:{range}", source.etag()).as_bytes());
        let etag = hex::encode(md5.finalize());
        commit_part(&upload.upload, part, file, end - first, etag.clone())?;
        Ok(etag)
    }

    /// Completes an upload from `(part number, ETag)` pairs, as S3 checks them. The
    /// part files become the object's segments by renaming: O(parts), not O(bytes).
    /// ETag: MD5 of the concatenated binary part MD5s, then `-<part count>`.
    pub(crate) fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        parts: &[(u32, String)],
    ) -> Result<ObjectInfo, StoreError> {
        let handle = self.upload(bucket, key, id)?;
        let (bucket, upload) = (&handle.bucket, &handle.upload);
        if parts.is_empty() {
            return Err(StoreError::MalformedXml(
                "You must specify at least one part".into(),
            ));
        }
        let mut state = lock(&upload.state);
        if state.closed {
            return Err(StoreError::NoSuchUpload);
        }
        let mut chosen = Vec::with_capacity(parts.len());
        let mut previous = 0;
        for (number, etag) in parts {
            if *number <= previous {
                return Err(StoreError::InvalidPartOrder);
            }
            previous = *number;
            let record = state.parts.get(number).ok_or_else(|| {
                StoreError::InvalidPart(format!(
                    "One or more of the specified parts could not be found: part {number} was not uploaded"
                ))
            })?;
            if !same_etag(etag, &record.etag) {
                return Err(StoreError::InvalidPart(format!(
                    "One or more of the specified parts could not be found: part {number} has ETag \"{}\", not {etag}",
                    record.etag
                )));
            }
            chosen.push(record.clone());
        }
        // Sizes once every part is known to exist, as S3 reports them.
        let min = self.inner.options.min_part_size;
        let all_but_last = chosen.split_last().map_or(&[][..], |(_, rest)| rest);
        if let Some(small) = all_but_last.iter().find(|r| r.size < min) {
            return Err(StoreError::EntityTooSmall {
                part: small.number,
                size: small.size,
                min,
            });
        }

        let mut md5 = Md5::new();
        for record in &chosen {
            md5.update(part_md5(&record.etag));
        }
        let etag = format!("{}-{}", hex::encode(md5.finalize()), chosen.len());

        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(chosen.len());
        let mut segments = Vec::with_capacity(chosen.len());
        let move_back = |moved: &[(PathBuf, PathBuf)]| {
            for (from, to) in moved.iter().rev() {
                let _ = fs::rename(to, from);
            }
        };
        for record in chosen.iter().filter(|r| r.size > 0) {
            let name = new_id();
            let from = upload.dir.join(&record.file);
            let to = bucket.data_dir.join(&name);
            if let Err(e) = fs::rename(&from, &to) {
                move_back(&moved);
                return Err(e.into());
            }
            moved.push((from, to));
            segments.push(Segment {
                file: name,
                size: record.size,
            });
        }
        let record = ObjectRecord {
            version: RECORD_VERSION,
            key: key.to_string(),
            size: chosen.iter().map(|r| r.size).sum(),
            etag,
            last_modified: now_secs(),
            attrs: upload.attrs.clone(),
            segments,
        };
        let entry = match install(bucket, record, &WriteCondition::Always) {
            Ok(entry) => entry,
            Err(e) => {
                move_back(&moved);
                return Err(e);
            }
        };
        state.closed = true;
        drop(state);
        lock(&bucket.uploads).remove(&upload.id);
        let _ = fs::remove_dir_all(&upload.dir);
        Ok(entry.info())
    }

    /// Aborts an upload and removes its parts.
    pub(crate) fn abort_upload(&self, bucket: &str, key: &str, id: &str) -> Result<(), StoreError> {
        let handle = self.upload(bucket, key, id)?;
        lock(&handle.bucket.uploads).remove(id);
        lock(&handle.upload.state).closed = true;
        match fs::remove_dir_all(&handle.upload.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub(crate) fn list_parts(&self, upload: &UploadHandle) -> Vec<PartInfo> {
        lock(&upload.upload.state)
            .parts
            .values()
            .map(|p| PartInfo {
                number: p.number,
                size: p.size,
                etag: p.etag.clone(),
                last_modified: from_secs(p.last_modified),
            })
            .collect()
    }

    /// Uploads in progress whose key starts with `prefix`, by key then start time.
    pub(crate) fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadInfo>, StoreError> {
        let bucket = self.bucket(bucket)?;
        let mut uploads: Vec<UploadInfo> = lock(&bucket.uploads)
            .values()
            .filter(|u| u.key.starts_with(prefix))
            .map(|u| UploadInfo {
                key: u.key.clone(),
                upload_id: u.id.clone(),
                initiated: from_secs(u.initiated),
            })
            .collect();
        uploads.sort_by(|a, b| (&a.key, a.initiated).cmp(&(&b.key, b.initiated)));
        Ok(uploads)
    }
}

impl UploadHandle {
    pub(crate) fn key(&self) -> &str {
        &self.upload.key
    }

    pub(crate) fn id(&self) -> &str {
        &self.upload.id
    }
}

/// Writes `record` (renaming over the previous one) and puts it in the index,
/// atomically with `condition`; the previous version is retired.
fn install(
    bucket: &Bucket,
    mut record: ObjectRecord,
    condition: &WriteCondition,
) -> Result<Arc<Entry>, StoreError> {
    record.attrs = with_default_content_type(record.attrs);
    let path = bucket.meta_path(&record.key);
    let tmp = temp_path(&path);
    let written = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| fs::write(&tmp, serde_json::to_vec(&record).map_err(io::Error::other)?));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(not_found_as(e, StoreError::NoSuchBucket));
    }
    let key = record.key.clone();
    let entry = Arc::new(Entry {
        record,
        data_dir: Arc::clone(&bucket.data_dir),
        retired: AtomicBool::new(false),
    });
    let old = {
        let mut state = write_lock(&bucket.state);
        let checked = if state.deleted {
            Err(StoreError::NoSuchBucket)
        } else {
            condition.check(state.objects.get(&key))
        };
        if let Err(e) = checked.and_then(|()| fs::rename(&tmp, &path).map_err(StoreError::from)) {
            drop(state);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        state.objects.insert(key, Arc::clone(&entry))
    };
    if let Some(old) = old {
        old.retire();
    }
    Ok(entry)
}

fn commit_part(
    upload: &Upload,
    part: u32,
    file: PendingFile,
    size: u64,
    etag: String,
) -> Result<(), StoreError> {
    if size > MAX_SINGLE_SIZE {
        return Err(StoreError::EntityTooLarge);
    }
    let record = PartRecord {
        number: part,
        file: file.name.clone(),
        size,
        etag,
        last_modified: now_secs(),
    };
    let path = upload.dir.join(format!("part-{part}.json"));
    let tmp = temp_path(&path);
    if let Err(e) = fs::write(&tmp, serde_json::to_vec(&record)?) {
        let _ = fs::remove_file(&tmp);
        return Err(not_found_as(e, StoreError::NoSuchUpload));
    }
    let old = {
        let mut state = lock(&upload.state);
        let renamed = if state.closed {
            Err(StoreError::NoSuchUpload)
        } else {
            fs::rename(&tmp, &path).map_err(StoreError::from)
        };
        if let Err(e) = renamed {
            drop(state);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        file.keep();
        state.parts.insert(part, record)
    };
    if let Some(old) = old {
        let _ = fs::remove_file(upload.dir.join(old.file));
    }
    Ok(())
}

fn list_page(objects: &BTreeMap<String, Arc<Entry>>, query: &ListQuery<'_>) -> ListPage {
    let mut page = ListPage::default();
    if query.max_keys == 0 {
        return page;
    }
    let prefix = query.prefix;
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let mut cursor: Bound<String> = match query.after {
        Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let mut count = 0;
    loop {
        let start = cursor.as_ref().map(String::as_str);
        let Some((key, entry)) = objects.range::<str, _>((start, Bound::Unbounded)).next() else {
            break;
        };
        if !key.starts_with(prefix) {
            break;
        }
        let rolled_up = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| &key[..prefix.len() + i + d.len()])
        });
        if let Some(common) = rolled_up {
            // Every key under this common prefix sorts before `common` + U+10FFFF but
            // for keys continuing with that very character: those (if any) are
            // stepped over one by one.
            let past = format!("{common}\u{10FFFF}");
            cursor = Bound::Excluded(if key.as_str() < past.as_str() {
                past
            } else {
                key.clone()
            });
            let seen = query.after == Some(common)
                || page.common_prefixes.last().map(String::as_str) == Some(common);
            if seen {
                continue;
            }
            if count == query.max_keys {
                page.is_truncated = true;
                break;
            }
            page.common_prefixes.push(common.to_string());
            page.last = Some(common.to_string());
        } else {
            if count == query.max_keys {
                page.is_truncated = true;
                break;
            }
            page.objects.push(entry.info());
            page.last = Some(key.clone());
            cursor = Bound::Excluded(key.clone());
        }
        count += 1;
    }
    page
}

/// Checks that `root` is ours (or holds nothing but empty directories, which become
/// empty buckets), and marks it so.
fn claim_root(root: &Path) -> io::Result<()> {
    let mark = root.join(LAYOUT_MARK);
    if mark.exists() {
        return Ok(());
    }
    for dirent in fs::read_dir(root)? {
        let dirent = dirent?;
        let empty_dir =
            dirent.file_type()?.is_dir() && fs::read_dir(dirent.path())?.next().is_none();
        if !empty_dir {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a local-s3 directory ({LAYOUT_MARK} is missing) and is not empty \
                     ({} is in it): refusing to serve it; use a new or empty directory",
                    root.display(),
                    dirent.path().display()
                ),
            ));
        }
    }
    fs::write(
        mark,
        "local-s3 store, layout 1: see the local-s3 crate (store.rs)\n",
    )
}

fn load_bucket(dir: PathBuf) -> io::Result<Bucket> {
    let meta_dir = dir.join("meta");
    let data_dir = dir.join("data");
    let uploads_dir = dir.join("uploads");
    for sub in [&meta_dir, &data_dir, &uploads_dir] {
        fs::create_dir_all(sub)?;
    }
    let stat = fs::metadata(&dir)?;
    let created = stat
        .created()
        .or_else(|_| stat.modified())
        .unwrap_or(UNIX_EPOCH);

    let mut present = HashSet::new();
    for dirent in fs::read_dir(&data_dir)? {
        if let Some(name) = dirent?.file_name().to_str() {
            present.insert(name.to_string());
        }
    }

    let data_dir: Arc<Path> = Arc::from(data_dir.as_path());
    let mut objects = BTreeMap::new();
    let mut referenced = HashSet::new();
    for (path, record) in load_records(&meta_dir)? {
        if !record.segments.iter().all(|s| present.contains(&s.file)) {
            // Content lost (not by us: we write it before the record): drop the object.
            let _ = fs::remove_file(path);
            continue;
        }
        referenced.extend(record.segments.iter().map(|s| s.file.clone()));
        let entry = Entry {
            record,
            data_dir: Arc::clone(&data_dir),
            retired: AtomicBool::new(false),
        };
        objects.insert(entry.record.key.clone(), Arc::new(entry));
    }
    for orphan in present.difference(&referenced) {
        let _ = fs::remove_file(data_dir.join(orphan));
    }

    let uploads = load_uploads(&uploads_dir)?;
    Ok(Bucket {
        dir,
        data_dir,
        created,
        state: RwLock::new(BucketState {
            objects,
            deleted: false,
        }),
        uploads: Mutex::new(uploads),
    })
}

/// Reads every record, on a few threads (a bucket of 100,000 objects loads in about
/// a second).
fn load_records(meta_dir: &Path) -> io::Result<Vec<(PathBuf, ObjectRecord)>> {
    let mut shards = Vec::new();
    for dirent in fs::read_dir(meta_dir)? {
        let dirent = dirent?;
        if dirent.file_type()?.is_dir() {
            shards.push(dirent.path());
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, NonZeroUsize::get)
        .clamp(1, 8);
    let per_thread = shards.len().div_ceil(threads).max(1);
    let results: Vec<io::Result<Vec<(PathBuf, ObjectRecord)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || load_shards(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a loading thread panicked")))
            })
            .collect()
    });
    let mut records = Vec::new();
    for result in results {
        records.extend(result?);
    }
    Ok(records)
}

fn load_shards(shards: &[PathBuf]) -> io::Result<Vec<(PathBuf, ObjectRecord)>> {
    let mut records = Vec::new();
    for shard in shards {
        for dirent in fs::read_dir(shard)? {
            let path = dirent?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.contains(TMP_MARK) {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(hash) = name.strip_suffix(".json") else {
                continue;
            };
            let Ok(bytes) = fs::read(&path) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<ObjectRecord>(&bytes) else {
                continue;
            };
            let sound = record.key.len() <= MAX_KEY_LEN
                && !record.key.is_empty()
                && hex::encode(Sha256::digest(record.key.as_bytes())) == hash
                && record.segments.iter().all(|s| safe_file_name(&s.file))
                && record.segments.iter().map(|s| s.size).sum::<u64>() == record.size;
            if sound {
                records.push((path, record));
            }
        }
    }
    Ok(records)
}

fn load_uploads(dir: &Path) -> io::Result<HashMap<String, Arc<Upload>>> {
    let mut uploads = HashMap::new();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let path = dirent.path();
        let id = dirent.file_name().to_str().map(str::to_string);
        let record = id
            .as_deref()
            .filter(|id| valid_id(id))
            .and_then(|_| fs::read(path.join(UPLOAD_RECORD)).ok())
            .and_then(|bytes| serde_json::from_slice::<UploadRecord>(&bytes).ok())
            .filter(|r| Some(&r.id) == id.as_ref() && r.key.len() <= MAX_KEY_LEN);
        let Some(record) = record else {
            // Not an upload, or one whose creation did not finish.
            if dirent.file_type()?.is_dir() {
                let _ = fs::remove_dir_all(&path);
            } else {
                let _ = fs::remove_file(&path);
            }
            continue;
        };
        let mut parts = BTreeMap::new();
        let mut files = HashSet::new();
        for part in fs::read_dir(&path)? {
            let part_path = part?.path();
            let Some(name) = part_path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.contains(TMP_MARK) {
                let _ = fs::remove_file(&part_path);
            } else if name.starts_with("part-") && name.ends_with(".json") {
                let parsed = fs::read(&part_path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<PartRecord>(&bytes).ok())
                    .filter(|p| safe_file_name(&p.file) && check_part_number(p.number).is_ok());
                if let Some(p) = parsed {
                    parts.insert(p.number, p);
                }
            } else if name != UPLOAD_RECORD {
                files.insert(name.to_string());
            }
        }
        parts.retain(|_, p| files.contains(&p.file));
        let used: HashSet<&String> = parts.values().map(|p| &p.file).collect();
        for unused in files.iter().filter(|f| !used.contains(f)) {
            let _ = fs::remove_file(path.join(unused));
        }
        uploads.insert(
            record.id.clone(),
            Arc::new(Upload {
                id: record.id,
                key: record.key,
                attrs: record.attrs,
                initiated: record.initiated,
                dir: path,
                state: Mutex::new(UploadState {
                    parts,
                    closed: false,
                }),
            }),
        );
    }
    Ok(uploads)
}

/// S3's rules for new bucket names: 3-63 characters of lowercase letters, digits,
/// `.` and `-`, starting and ending with a letter or digit, no `..`, not an IP
/// address. A valid name is also a safe directory name.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument(
            "The key must not be empty".into(),
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::KeyTooLong);
    }
    Ok(())
}

fn check_part_number(part: u32) -> Result<(), StoreError> {
    if (1..=MAX_PART_NUMBER).contains(&part) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}

/// ETags compare without their quotes.
pub(crate) fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// A part's binary MD5 from its ETag (hex); an ETag that is not one is hashed.
fn part_md5(etag: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    if hex::decode_to_slice(etag, &mut out).is_ok() {
        return out;
    }
    Md5::digest(etag.as_bytes()).into()
}

fn with_default_content_type(mut attrs: ObjectAttrs) -> ObjectAttrs {
    if attrs.content_type.is_none() {
        attrs.content_type = Some(DEFAULT_CONTENT_TYPE.to_string());
    }
    attrs
}

/// Ids of uploads and content files: 32 hex digits.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A name from a record that may be joined to a directory: no separators, no dots
/// in front.
fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!("{TMP_MARK}{}", new_id()));
    path.with_file_name(name)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A missing directory means the bucket (or upload) went away meanwhile.
fn not_found_as(e: io::Error, instead: StoreError) -> StoreError {
    if e.kind() == io::ErrorKind::NotFound {
        instead
    } else {
        StoreError::Io(e)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Clamped to year 9999, so a damaged record cannot overflow a date.
fn from_secs(secs: u64) -> SystemTime {
    const MAX_SECS: u64 = 253_402_300_799;
    UNIX_EPOCH + Duration::from_secs(secs.min(MAX_SECS))
}

fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), StoreOptions { min_part_size: 10 }).unwrap();
        store.create_bucket("bkt").unwrap();
        (dir, store)
    }

    fn md5_hex(bytes: &[u8]) -> String {
        hex::encode(Md5::digest(bytes))
    }

    fn keys(infos: &[ObjectInfo]) -> Vec<&str> {
        infos.iter().map(|i| i.key.as_str()).collect()
    }

    fn upload_part(store: &Store, up: &UploadHandle, part: u32, bytes: &[u8]) -> String {
        let mut writer = store.part_writer(up, part).unwrap();
        writer.write(bytes).unwrap();
        store
            .commit_part(up, part, writer.finish().unwrap())
            .unwrap()
    }

    fn files_in(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn bucket_names_follow_s3() {
        for good in ["abc", "a.b-c", "0bucket9", &"a".repeat(63)] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            ".abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "../x",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
        let (_dir, store) = store();
        assert!(matches!(
            store.create_bucket("../etc"),
            Err(StoreError::InvalidBucketName)
        ));
        assert!(matches!(
            store.create_bucket("bkt"),
            Err(StoreError::BucketAlreadyOwnedByYou)
        ));
        store.ensure_bucket("bkt").unwrap();
    }

    #[test]
    fn objects_round_trip_with_md5_etags() {
        let (_dir, store) = store();
        let etag = store.put_object("bkt", "a/b.txt", b"hello").unwrap();
        assert_eq!(etag, md5_hex(b"hello"));
        assert_eq!(store.get_object("bkt", "a/b.txt").unwrap(), b"hello");
        let info = store.head("bkt", "a/b.txt").unwrap();
        assert_eq!((info.size, info.etag.as_str()), (5, etag.as_str()));
        assert_eq!(
            info.attrs.content_type.as_deref(),
            Some(DEFAULT_CONTENT_TYPE)
        );
        assert_eq!(store.put_object("bkt", "empty", b"").unwrap(), md5_hex(b""));
        assert_eq!(store.get_object("bkt", "empty").unwrap(), b"");
        assert_eq!(store.object_count("bkt"), 2);
        store.delete_object("bkt", "a/b.txt").unwrap();
        store.delete_object("bkt", "a/b.txt").unwrap();
        assert!(store.head("bkt", "a/b.txt").is_none());
        assert!(matches!(
            store.put_object("nope", "k", b""),
            Err(StoreError::NoSuchBucket)
        ));
        assert!(matches!(
            store.put_object("bkt", "", b""),
            Err(StoreError::InvalidArgument(_))
        ));
        assert!(matches!(
            store.put_object("bkt", &"k".repeat(MAX_KEY_LEN + 1), b""),
            Err(StoreError::KeyTooLong)
        ));
    }

    #[test]
    fn any_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let long = "é".repeat(MAX_KEY_LEN / 2);
        let awkward = [
            "a b",
            "a+b",
            "100%",
            "é/ü",
            "?x#y",
            "//double",
            "../up",
            "/lead",
            long.as_str(),
        ];
        {
            let store = Store::open(dir.path()).unwrap();
            store.create_bucket("bkt").unwrap();
            for key in awkward {
                store.put_object("bkt", key, key.as_bytes()).unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        let mut expected = awkward.to_vec();
        expected.sort_unstable();
        assert_eq!(keys(&store.list("bkt", "")), expected);
        for key in awkward {
            assert_eq!(store.get_object("bkt", key).unwrap(), key.as_bytes());
        }
        // Nothing outside the bucket's own layout was created.
        let top: Vec<_> = fs::read_dir(dir.path().join("bkt"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(top.len(), 3, "{top:?}");
    }

    /// The listing as S3 defines it, by brute force over all keys.
    fn reference(all: &[String], query: &ListQuery<'_>) -> (Vec<String>, Vec<String>, bool) {
        let mut items: Vec<(String, bool)> = Vec::new();
        for key in all.iter().filter(|k| k.starts_with(query.prefix)) {
            let rest = &key[query.prefix.len()..];
            let item = match query
                .delimiter
                .filter(|d| !d.is_empty())
                .and_then(|d| rest.find(d).map(|i| (i, d)))
            {
                Some((i, d)) => (key[..query.prefix.len() + i + d.len()].to_string(), true),
                None => (key.clone(), false),
            };
            if items.last() != Some(&item) {
                items.push(item);
            }
        }
        items.retain(|(name, _)| query.after.is_none_or(|a| name.as_str() > a));
        let truncated = items.len() > query.max_keys && query.max_keys > 0;
        items.truncate(query.max_keys);
        let objects = items.iter().filter(|i| !i.1).map(|i| i.0.clone()).collect();
        let prefixes = items.iter().filter(|i| i.1).map(|i| i.0.clone()).collect();
        (objects, prefixes, truncated)
    }

    #[test]
    fn listing_matches_the_definition_page_by_page() {
        let (_dir, store) = store();
        let mut all: Vec<String> = Vec::new();
        for a in [
            "",
            "a",
            "a/",
            "a/b",
            "a/b/",
            "a/b/c",
            "a//",
            "b",
            "b.",
            "b/",
            "é",
            "é/x",
            "z\u{10FFFF}",
            "z/\u{10FFFF}x",
        ] {
            for n in 0..3 {
                all.push(format!("{a}{n}"));
                all.push(format!("{a}/{n}"));
            }
        }
        all.sort();
        all.dedup();
        for key in &all {
            store.put_object("bkt", key, b"x").unwrap();
        }
        for prefix in ["", "a", "a/", "a/b", "b", "é", "z", "nothing"] {
            for delimiter in [None, Some("/"), Some("b"), Some("//"), Some("")] {
                for max_keys in [1, 2, 3, 7, 1000] {
                    // Page through as a client does, and compare each page.
                    let mut after: Option<String> = None;
                    let mut pages = 0;
                    loop {
                        let query = ListQuery {
                            prefix,
                            delimiter,
                            after: after.as_deref(),
                            max_keys,
                        };
                        let page = store.list_page("bkt", &query).unwrap();
                        let (objects, prefixes, truncated) = reference(&all, &query);
                        let context =
                            format!("{prefix:?} {delimiter:?} {max_keys} after {after:?}");
                        assert_eq!(keys(&page.objects), objects, "{context}");
                        assert_eq!(page.common_prefixes, prefixes, "{context}");
                        assert_eq!(page.is_truncated, truncated, "{context}");
                        pages += 1;
                        assert!(pages < 200, "{context}");
                        if !page.is_truncated {
                            break;
                        }
                        after = page.last;
                    }
                }
            }
        }
        // start-after inside a common prefix still lists that prefix.
        let query = ListQuery {
            prefix: "",
            delimiter: Some("/"),
            after: Some("a/0"),
            max_keys: 1000,
        };
        assert!(store
            .list_page("bkt", &query)
            .unwrap()
            .common_prefixes
            .contains(&"a/".to_string()));
        let empty = ListQuery {
            prefix: "",
            delimiter: None,
            after: None,
            max_keys: 0,
        };
        assert_eq!(store.list_page("bkt", &empty).unwrap(), ListPage::default());
    }

    #[test]
    fn multipart_upload_completes_by_renaming_parts() {
        let (dir, store) = store();
        let id = store
            .create_upload("bkt", "big", ObjectAttrs::default())
            .unwrap();
        let up = store.upload("bkt", "big", &id).unwrap();
        assert!(matches!(
            store.upload("bkt", "other", &id),
            Err(StoreError::NoSuchUpload)
        ));
        let e1 = upload_part(&store, &up, 1, b"0123456789ab");
        let e2 = upload_part(&store, &up, 2, b"cdefghijklmn");
        let e3 = upload_part(&store, &up, 3, b"end");
        assert_eq!(e1, md5_hex(b"0123456789ab"));
        // A part sent again replaces the earlier one.
        let e3 = {
            let again = upload_part(&store, &up, 3, b"END");
            assert_ne!(again, e3);
            again
        };
        assert_eq!(store.list_parts(&up).len(), 3);

        let complete = |parts: &[(u32, &str)]| {
            let parts: Vec<(u32, String)> = parts
                .iter()
                .map(|(n, e)| (*n, format!("\"{e}\"")))
                .collect();
            store.complete_upload("bkt", "big", &id, &parts)
        };
        assert!(matches!(
            complete(&[(2, &e2), (1, &e1)]),
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            complete(&[(1, &e1), (1, &e1)]),
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            complete(&[(1, &e2)]),
            Err(StoreError::InvalidPart(_))
        ));
        assert!(matches!(
            complete(&[(4, &e1)]),
            Err(StoreError::InvalidPart(_))
        ));
        assert!(matches!(
            complete(&[(3, &e3), (4, &e1)]),
            Err(StoreError::InvalidPart(_))
        ));
        assert!(matches!(complete(&[]), Err(StoreError::MalformedXml(_))));
        assert!(matches!(
            complete(&[(3, &e3), (5, &e1)]),
            Err(StoreError::InvalidPart(_))
        ));

        let info = complete(&[(1, &e1), (2, &e2), (3, &e3)]).unwrap();
        let mut md5 = Md5::new();
        for e in [&e1, &e2, &e3] {
            md5.update(hex::decode(e).unwrap());
        }
        assert_eq!(info.etag, format!("{}-3", hex::encode(md5.finalize())));
        assert_eq!(
            store.get_object("bkt", "big").unwrap(),
            b"0123456789abcdefghijklmnEND"
        );
        // The parts became the object's files: nothing was copied, nothing is left.
        assert_eq!(files_in(&dir.path().join("bkt/data")), 3);
        assert_eq!(files_in(&dir.path().join("bkt/uploads")), 0);
        assert!(matches!(
            complete(&[(1, &e1)]),
            Err(StoreError::NoSuchUpload)
        ));
    }

    #[test]
    fn small_parts_are_refused_but_the_last() {
        let (_dir, store) = store();
        let id = store
            .create_upload("bkt", "k", ObjectAttrs::default())
            .unwrap();
        let up = store.upload("bkt", "k", &id).unwrap();
        let e1 = upload_part(&store, &up, 1, b"small");
        let e2 = upload_part(&store, &up, 2, b"0123456789");
        let parts = [(1, e1.clone()), (2, e2.clone())];
        assert!(matches!(
            store.complete_upload("bkt", "k", &id, &parts),
            Err(StoreError::EntityTooSmall {
                part: 1,
                size: 5,
                min: 10
            })
        ));
        // A single small part is fine (it is the last).
        store.complete_upload("bkt", "k", &id, &[(1, e1)]).unwrap();
        assert_eq!(store.get_object("bkt", "k").unwrap(), b"small");
    }

    #[test]
    fn part_copies_span_segments() {
        let (_dir, store) = store();
        let id = store
            .create_upload("bkt", "src", ObjectAttrs::default())
            .unwrap();
        let up = store.upload("bkt", "src", &id).unwrap();
        let content: Vec<u8> = (0..40u8).collect();
        let etags: Vec<(u32, String)> = content
            .chunks(10)
            .zip(1..)
            .map(|(chunk, n)| (n, upload_part(&store, &up, n, chunk)))
            .collect();
        let source_etag = store
            .complete_upload("bkt", "src", &id, &etags)
            .unwrap()
            .etag;
        let source = store.entry("bkt", "src").unwrap();

        let id = store
            .create_upload("bkt", "dst", ObjectAttrs::default())
            .unwrap();
        let up = store.upload("bkt", "dst", &id).unwrap();
        let p1 = store.copy_part(&up, 1, &source, 5, 25).unwrap();
        let p2 = store.copy_part(&up, 2, &source, 25, 40).unwrap();
        assert_eq!(p1, md5_hex(format!("{source_etag}:5-24").as_bytes()));
        assert!(matches!(
            store.copy_part(&up, 3, &source, 30, 41),
            Err(StoreError::InvalidRange)
        ));
        let info = store
            .complete_upload("bkt", "dst", &id, &[(1, p1), (2, p2)])
            .unwrap();
        assert!(info.etag.ends_with("-2"));
        assert_eq!(store.get_object("bkt", "dst").unwrap(), &content[5..]);

        // Ranged reads across segments.
        let mut buf = Vec::new();
        source.reader(8, 25).read_to_end(&mut buf).unwrap();
        assert_eq!(buf, &content[8..33]);
    }

    #[test]
    fn copies_keep_the_etag_and_survive_the_source_being_replaced() {
        let (dir, store) = store();
        let etag = store.put_object("bkt", "src", b"original").unwrap();
        let source = store.entry("bkt", "src").unwrap();
        // Replaced while "streamed": the old content stays until the reader lets go.
        store.put_object("bkt", "src", b"replacement").unwrap();
        assert_eq!(files_in(&dir.path().join("bkt/data")), 2);
        let copy = store
            .copy_object(&source, "bkt", "dst", source.attrs().clone())
            .unwrap();
        assert_eq!(copy.etag, etag);
        let mut buf = Vec::new();
        source
            .reader(0, source.size())
            .read_to_end(&mut buf)
            .unwrap();
        assert_eq!(buf, b"original");
        drop(source);
        assert_eq!(files_in(&dir.path().join("bkt/data")), 2);
        assert_eq!(store.get_object("bkt", "dst").unwrap(), b"original");
        assert_eq!(store.get_object("bkt", "src").unwrap(), b"replacement");
    }

    #[test]
    fn conditional_writes() {
        let (_dir, store) = store();
        let write = |condition: WriteCondition| {
            let mut writer = store.object_writer("bkt").unwrap();
            writer.write(b"x").unwrap();
            store.commit_object(
                "bkt",
                "k",
                writer.finish().unwrap(),
                ObjectAttrs::default(),
                &condition,
            )
        };
        assert!(matches!(
            write(WriteCondition::IfExists),
            Err(StoreError::PreconditionFailed)
        ));
        let etag = write(WriteCondition::IfAbsent).unwrap().etag;
        assert!(matches!(
            write(WriteCondition::IfAbsent),
            Err(StoreError::PreconditionFailed)
        ));
        assert!(matches!(
            write(WriteCondition::IfEtag("other".into())),
            Err(StoreError::PreconditionFailed)
        ));
        write(WriteCondition::IfEtag(format!("\"{etag}\""))).unwrap();
        write(WriteCondition::IfExists).unwrap();
    }

    #[test]
    fn a_restart_cleans_what_a_crash_left() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bkt");
        let (upload_id, e1) = {
            let store = Store::open(dir.path()).unwrap();
            store.create_bucket("bkt").unwrap();
            store.put_object("bkt", "kept", b"kept").unwrap();
            store.put_object("bkt", "lost", b"lost").unwrap();
            let id = store
                .create_upload("bkt", "up", ObjectAttrs::default())
                .unwrap();
            let up = store.upload("bkt", "up", &id).unwrap();
            let e1 = upload_part(&store, &up, 1, b"part one");
            (id, e1)
        };
        // What a crash can leave: a half-written content file, a temporary record,
        // a half-created upload, a part file without its record.
        fs::write(bucket.join("data/orphan"), b"junk").unwrap();
        let meta = bucket.join("meta");
        let shard = fs::read_dir(&meta).unwrap().next().unwrap().unwrap().path();
        fs::write(shard.join("abc.json.tmp-123"), b"{").unwrap();
        fs::create_dir(bucket.join("uploads/0123456789abcdef0123456789abcdef")).unwrap();
        fs::write(
            bucket.join(format!("uploads/{upload_id}/part-2.deadbeef")),
            b"x",
        )
        .unwrap();
        // And a record whose content is gone.
        let lost = Store::open(dir.path())
            .unwrap()
            .entry("bkt", "lost")
            .unwrap();
        fs::remove_file(lost.data_dir.join(&lost.record.segments[0].file)).unwrap();
        drop(lost);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(keys(&store.list("bkt", "")), ["kept"]);
        assert_eq!(files_in(&bucket.join("data")), 1);
        assert!(!shard.join("abc.json.tmp-123").exists());
        assert_eq!(files_in(&bucket.join("uploads")), 1);
        // The upload in progress survived, with its part.
        let up = store.upload("bkt", "up", &upload_id).unwrap();
        assert_eq!(store.list_parts(&up).len(), 1);
        assert_eq!(files_in(&bucket.join(format!("uploads/{upload_id}"))), 3);
        store
            .complete_upload("bkt", "up", &upload_id, &[(1, e1)])
            .unwrap();
        assert_eq!(store.get_object("bkt", "up").unwrap(), b"part one");
    }

    #[test]
    fn foreign_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Empty directories are adopted as empty buckets.
        fs::create_dir(dir.path().join("made-by-hand")).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.list_buckets()[0].name, "made-by-hand");
        drop(store);
        // s3s-fs's layout: objects as plain files under the bucket directory.
        let other = tempfile::tempdir().unwrap();
        fs::create_dir_all(other.path().join("bkt/data")).unwrap();
        fs::write(other.path().join("bkt/data/object"), b"precious").unwrap();
        let err = Store::open(other.path()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            fs::read(other.path().join("bkt/data/object")).unwrap(),
            b"precious"
        );
    }

    #[test]
    fn buckets_are_deleted_only_when_empty() {
        let (dir, store) = store();
        store.put_object("bkt", "k", b"x").unwrap();
        let id = store
            .create_upload("bkt", "u", ObjectAttrs::default())
            .unwrap();
        assert!(matches!(
            store.delete_bucket("bkt"),
            Err(StoreError::BucketNotEmpty)
        ));
        store.delete_object("bkt", "k").unwrap();
        store.delete_bucket("bkt").unwrap();
        assert!(!dir.path().join("bkt").exists());
        assert!(matches!(
            store.upload("bkt", "u", &id),
            Err(StoreError::NoSuchBucket)
        ));
        assert!(matches!(
            store.delete_bucket("bkt"),
            Err(StoreError::NoSuchBucket)
        ));
        store.create_bucket("bkt").unwrap();
        assert_eq!(store.object_count("bkt"), 0);
        assert_eq!(store.list_buckets().len(), 1);
    }

    #[test]
    fn aborted_uploads_are_gone() {
        let (dir, store) = store();
        let id = store
            .create_upload("bkt", "k", ObjectAttrs::default())
            .unwrap();
        let up = store.upload("bkt", "k", &id).unwrap();
        upload_part(&store, &up, 1, b"data");
        assert_eq!(store.list_uploads("bkt", "").unwrap().len(), 1);
        store.abort_upload("bkt", "k", &id).unwrap();
        assert!(matches!(
            store.abort_upload("bkt", "k", &id),
            Err(StoreError::NoSuchUpload)
        ));
        let mut writer = store
            .part_writer(&up, 2)
            .unwrap_or_else(|_| DataWriter::new(dir.path(), "x").unwrap());
        writer.write(b"late").unwrap();
        assert!(matches!(
            store.commit_part(&up, 2, writer.finish().unwrap()),
            Err(StoreError::NoSuchUpload)
        ));
        assert_eq!(files_in(&dir.path().join("bkt/uploads")), 0);
        assert!(store.list_uploads("bkt", "").unwrap().is_empty());
        assert!(matches!(
            store.upload("bkt", "k", "not-an-id"),
            Err(StoreError::NoSuchUpload)
        ));
    }

    #[test]
    #[ignore = "a measurement: cargo test -p local-s3 --release -- --ignored --nocapture"]
    fn loads_100_000_objects_quickly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.create_bucket("bkt").unwrap();
            for i in 0..100_000 {
                store
                    .put_object(
                        "bkt",
                        &format!("data/shard-{}/obj-{i:06}", i % 100),
                        b"0123456789",
                    )
                    .unwrap();
            }
        }
        let started = std::time::Instant::now();
        let store = Store::open(dir.path()).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(store.object_count("bkt"), 100_000);
        eprintln!("loaded 100,000 objects in {elapsed:?}");
        let started = std::time::Instant::now();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_page(
                    "bkt",
                    &ListQuery {
                        prefix: "data/",
                        delimiter: None,
                        after: after.as_deref(),
                        max_keys: 1000,
                    },
                )
                .unwrap();
            pages += 1;
            if !page.is_truncated {
                break;
            }
            after = page.last;
        }
        eprintln!("listed {pages} pages in {:?}", started.elapsed());
    }
}
