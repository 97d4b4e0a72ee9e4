//! A disk-backed S3-compatible server for tests, benchmarks and local runs: an
//! [`s3s::S3`] backend ([`backend::Backend`]) over a crash-safe [`store::Store`],
//! served on 127.0.0.1 by [`LocalS3`] (and the `local-s3` binary).
//!
//! It replaces `s3s-fs`, which cannot store keys longer than about 150 bytes, walks
//! the whole bucket for every ListObjectsV2 page (and lists no ETags), and copies
//! multipart objects slowly. Here keys are any UTF-8 up to 1,024 bytes (files are
//! named after a hash), listings are range scans of an in-memory index (O(page)), and
//! copies are kernel copies (`copy_file_range`) of the source's files.
//!
//! # ETags (quoted in responses, as S3)
//!
//! - PutObject, UploadPart: the hex MD5 of the bytes received.
//! - CompleteMultipartUpload: as S3, the MD5 of the concatenated binary part MD5s,
//!   then `-<part count>`.
//! - CopyObject: the source's ETag, also for a multipart source (S3 would compute a
//!   new one there; keeping it avoids hashing the content).
//! - UploadPartCopy: the hex MD5 of the string `"<source etag>:<first>-<last>"` (the
//!   inclusive byte range copied). S3 returns the content's MD5; this one costs no
//!   hashing, is deterministic, and still identifies the content. A multipart copy's
//!   final ETag (`<hash>-<parts>`) is thus stable for the same source and part layout.
//!
//! # Other deviations from S3
//!
//! - No versioning, ACLs, policies, encryption, tagging, object lock or checksums
//!   (`x-amz-checksum-*` are accepted and neither stored nor returned).
//! - CreateBucket on a bucket that exists answers `BucketAlreadyOwnedByYou` (409),
//!   also in us-east-1, where S3 answers 200 for legacy reasons.
//! - DeleteBucket discards uploads in progress.
//! - A store is owned by one process; it does not see changes made to its directory
//!   behind its back, and it does not fsync (it survives a crashed process, not a
//!   power cut). It refuses a non-empty directory it did not create (s3s-fs's layout
//!   is not read).

pub mod backend;
pub mod server;
pub mod store;

pub use server::{LocalS3, Options, ACCESS_KEY, REGION, SECRET_KEY};
pub use store::{ObjectAttrs, ObjectInfo, Store, StoreError, StoreOptions};
