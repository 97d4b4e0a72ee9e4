//! The S3-compatible server the tests and the local demo use: this repository's
//! `local-s3` (a real S3 HTTP API with SigV4 auth over a directory, on 127.0.0.1, on
//! a thread of its own), under the name the tests know it by.

pub use local_s3::{LocalS3 as EmbeddedS3, ACCESS_KEY, REGION, SECRET_KEY};
