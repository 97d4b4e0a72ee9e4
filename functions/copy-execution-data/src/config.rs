//! The function's configuration, read once from environment variables.

use std::collections::HashMap;
use std::time::Duration;

use shared::s3uri::validate_bucket_name;
use shared::FunctionError;

use crate::plan::{GIB, MAX_PART_SIZE, MIB, MIN_PART_SIZE};

/// 64 MiB parts: the published comparison (awslabs/aws-c-s3 PR 288) found them far
/// faster than large parts for server-side copies.
pub const DEFAULT_PART_SIZE: u64 = 64 * MIB;
/// Below two parts' worth a single CopyObject is as fast and costs one request.
pub const DEFAULT_THRESHOLD: u64 = 2 * DEFAULT_PART_SIZE;
pub const DEFAULT_CONCURRENCY: usize = 64;
pub const DEFAULT_MARGIN_SECONDS: u64 = 60;
pub const DEFAULT_ARTIFACT_PREFIX: &str = "executions/";
/// S3 attempts per request (the SDK's default is 3): 503 SlowDown comes in bursts
/// while S3 scales a prefix, and each lost request costs a whole object's copy.
pub const DEFAULT_S3_MAX_ATTEMPTS: u64 = 8;
/// With 8 attempts, backoffs of 0.2, 0.4, … capped at 10 s wait 23 s at worst
/// (full jitter: half that on average), well inside the default deadline margin.
pub const DEFAULT_S3_INITIAL_BACKOFF_MS: u64 = 200;
pub const DEFAULT_S3_MAX_BACKOFF_MS: u64 = 10_000;

/// CopyObject copies at most 5 GiB, so the threshold can be no higher.
pub const MAX_THRESHOLD: u64 = 5 * GIB;
const MAX_CONCURRENCY: u64 = 1024;
/// Lambda's 15-minute timeout.
const MAX_MARGIN_SECONDS: u64 = 900;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyConfig {
    /// `ALLOWED_SOURCE_BUCKETS`: the only buckets a source may be in.
    pub allowed_source_buckets: Vec<String>,
    /// `ARTIFACT_BUCKET`: the only bucket a destination may be in.
    pub artifact_bucket: String,
    /// `ARTIFACT_PREFIX` (default `executions/`, always ending with `/`): destinations
    /// must lie strictly under it.
    pub artifact_prefix: String,
    /// `COPY_CONCURRENCY`: objects in flight, and S3 requests in flight.
    pub copy_concurrency: usize,
    /// `MULTIPART_THRESHOLD_BYTES`: objects at least this large use a multipart copy.
    pub multipart_threshold_bytes: u64,
    /// `MULTIPART_PART_SIZE_BYTES`: the preferred part size (raised for huge objects
    /// to stay within 10,000 parts).
    pub multipart_part_size_bytes: u64,
    /// `DEADLINE_MARGIN_SECONDS`: no new object is started this close to the deadline.
    pub deadline_margin: Duration,
    /// `S3_RETRY_MODE`, `S3_MAX_ATTEMPTS`, `S3_INITIAL_BACKOFF_MS`, `S3_MAX_BACKOFF_MS`:
    /// how the S3 client retries (see [`crate::s3_client`]).
    pub s3_retry: S3Retry,
}

/// The S3 client's retry policy: exponential backoff with full jitter, for
/// throttling, 5xx, timeouts and connection errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Retry {
    /// `adaptive` also slows the client down after throttling (client-side rate
    /// limiting); `standard` only backs off the failed request.
    pub adaptive: bool,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for S3Retry {
    fn default() -> S3Retry {
        S3Retry {
            adaptive: false,
            max_attempts: DEFAULT_S3_MAX_ATTEMPTS as u32,
            initial_backoff: Duration::from_millis(DEFAULT_S3_INITIAL_BACKOFF_MS),
            max_backoff: Duration::from_millis(DEFAULT_S3_MAX_BACKOFF_MS),
        }
    }
}

impl CopyConfig {
    pub fn from_env() -> Result<CopyConfig, FunctionError> {
        CopyConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same rules over an explicit map, for tests.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<CopyConfig, FunctionError> {
        CopyConfig::from_lookup(|name| vars.get(name).cloned())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CopyConfig, FunctionError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let allowed = var("ALLOWED_SOURCE_BUCKETS")
            .ok_or_else(|| FunctionError::config("ALLOWED_SOURCE_BUCKETS", "is required"))?;
        let allowed_source_buckets: Vec<String> = allowed
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        if allowed_source_buckets.is_empty() {
            return Err(FunctionError::config(
                "ALLOWED_SOURCE_BUCKETS",
                "names no bucket",
            ));
        }
        for bucket in &allowed_source_buckets {
            validate_bucket_name(bucket).map_err(|problem| {
                FunctionError::config("ALLOWED_SOURCE_BUCKETS", format!("{bucket:?} {problem}"))
            })?;
        }

        let artifact_bucket = var("ARTIFACT_BUCKET")
            .map(|b| b.trim().to_string())
            .ok_or_else(|| FunctionError::config("ARTIFACT_BUCKET", "is required"))?;
        validate_bucket_name(&artifact_bucket).map_err(|problem| {
            FunctionError::config("ARTIFACT_BUCKET", format!("{artifact_bucket:?} {problem}"))
        })?;

        let mut artifact_prefix = var("ARTIFACT_PREFIX")
            .map(|p| p.trim().to_string())
            .unwrap_or_else(|| DEFAULT_ARTIFACT_PREFIX.to_string());
        if artifact_prefix.starts_with('/') || artifact_prefix.contains("//") {
            return Err(FunctionError::config(
                "ARTIFACT_PREFIX",
                format!("{artifact_prefix:?} must be a key prefix such as `executions/`"),
            ));
        }
        if !artifact_prefix.ends_with('/') {
            artifact_prefix.push('/');
        }

        let number = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, FunctionError> {
            let Some(raw) = var(name) else {
                return Ok(default);
            };
            let n: u64 = raw.trim().parse().map_err(|_| {
                FunctionError::config(name, format!("{raw:?} is not a whole number"))
            })?;
            if !(min..=max).contains(&n) {
                return Err(FunctionError::config(
                    name,
                    format!("must be from {min} to {max}, got {n}"),
                ));
            }
            Ok(n)
        };
        let copy_concurrency = number(
            "COPY_CONCURRENCY",
            DEFAULT_CONCURRENCY as u64,
            1,
            MAX_CONCURRENCY,
        )?;
        let multipart_threshold_bytes = number(
            "MULTIPART_THRESHOLD_BYTES",
            DEFAULT_THRESHOLD,
            1,
            MAX_THRESHOLD,
        )?;
        let multipart_part_size_bytes = number(
            "MULTIPART_PART_SIZE_BYTES",
            DEFAULT_PART_SIZE,
            MIN_PART_SIZE,
            MAX_PART_SIZE,
        )?;
        let margin = number(
            "DEADLINE_MARGIN_SECONDS",
            DEFAULT_MARGIN_SECONDS,
            0,
            MAX_MARGIN_SECONDS,
        )?;

        let adaptive = match var("S3_RETRY_MODE").map(|m| m.trim().to_ascii_lowercase()) {
            None => false,
            Some(mode) if mode == "standard" => false,
            Some(mode) if mode == "adaptive" => true,
            Some(mode) => {
                return Err(FunctionError::config(
                    "S3_RETRY_MODE",
                    format!("{mode:?} must be `standard` or `adaptive`"),
                ))
            }
        };
        let max_attempts = number("S3_MAX_ATTEMPTS", DEFAULT_S3_MAX_ATTEMPTS, 1, 50)?;
        let initial_backoff_ms = number(
            "S3_INITIAL_BACKOFF_MS",
            DEFAULT_S3_INITIAL_BACKOFF_MS,
            1,
            60_000,
        )?;
        let max_backoff_ms = number(
            "S3_MAX_BACKOFF_MS",
            DEFAULT_S3_MAX_BACKOFF_MS,
            initial_backoff_ms,
            300_000,
        )?;
        let s3_retry = S3Retry {
            adaptive,
            max_attempts: u32::try_from(max_attempts).unwrap_or(DEFAULT_S3_MAX_ATTEMPTS as u32),
            initial_backoff: Duration::from_millis(initial_backoff_ms),
            max_backoff: Duration::from_millis(max_backoff_ms),
        };

        Ok(CopyConfig {
            allowed_source_buckets,
            artifact_bucket,
            artifact_prefix,
            copy_concurrency: usize::try_from(copy_concurrency).unwrap_or(DEFAULT_CONCURRENCY),
            multipart_threshold_bytes,
            multipart_part_size_bytes,
            deadline_margin: Duration::from_secs(margin),
            s3_retry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ErrorKind;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ALLOWED_SOURCE_BUCKETS", " src-bucket , other-bucket,"),
            ("ARTIFACT_BUCKET", "artifact-bucket"),
        ]
    }

    fn error_with(extra: &[(&str, &str)]) -> String {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        let err = CopyConfig::from_map(&vars(&pairs)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigurationError);
        err.message
    }

    #[test]
    fn defaults() {
        let config = CopyConfig::from_map(&vars(&base())).unwrap();
        assert_eq!(
            config.allowed_source_buckets,
            ["src-bucket", "other-bucket"]
        );
        assert_eq!(config.artifact_prefix, "executions/");
        assert_eq!(config.copy_concurrency, 64);
        assert_eq!(config.multipart_part_size_bytes, 64 * MIB);
        assert_eq!(config.multipart_threshold_bytes, 128 * MIB);
        assert_eq!(config.deadline_margin, Duration::from_secs(60));
        assert_eq!(config.s3_retry, S3Retry::default());
        assert_eq!(config.s3_retry.max_attempts, 8);
        assert!(!config.s3_retry.adaptive);
    }

    #[test]
    fn explicit_values() {
        let mut pairs = base();
        pairs.extend_from_slice(&[
            ("ARTIFACT_PREFIX", "runs"),
            ("COPY_CONCURRENCY", "8"),
            ("MULTIPART_THRESHOLD_BYTES", "5368709120"),
            ("MULTIPART_PART_SIZE_BYTES", "5242880"),
            ("DEADLINE_MARGIN_SECONDS", "0"),
            ("S3_RETRY_MODE", " Adaptive "),
            ("S3_MAX_ATTEMPTS", "12"),
            ("S3_INITIAL_BACKOFF_MS", "50"),
            ("S3_MAX_BACKOFF_MS", "50"),
        ]);
        let config = CopyConfig::from_map(&vars(&pairs)).unwrap();
        assert_eq!(
            config.s3_retry,
            S3Retry {
                adaptive: true,
                max_attempts: 12,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(50),
            }
        );
        assert_eq!(config.artifact_prefix, "runs/");
        assert_eq!(config.copy_concurrency, 8);
        assert_eq!(config.multipart_threshold_bytes, 5 * GIB);
        assert_eq!(config.multipart_part_size_bytes, 5 * MIB);
        assert_eq!(config.deadline_margin, Duration::ZERO);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let missing = CopyConfig::from_map(&vars(&[("ARTIFACT_BUCKET", "a-b-c")])).unwrap_err();
        assert_eq!(
            missing.message,
            "environment variable ALLOWED_SOURCE_BUCKETS: is required"
        );
        let no_artifact =
            CopyConfig::from_map(&vars(&[("ALLOWED_SOURCE_BUCKETS", "abc")])).unwrap_err();
        assert!(no_artifact.message.contains("ARTIFACT_BUCKET: is required"));
        for (extra, needle) in [
            (
                ("ALLOWED_SOURCE_BUCKETS", " , "),
                "ALLOWED_SOURCE_BUCKETS: names no bucket",
            ),
            (
                ("ALLOWED_SOURCE_BUCKETS", "Bad_Bucket"),
                "ALLOWED_SOURCE_BUCKETS: \"Bad_Bucket\"",
            ),
            (
                ("ARTIFACT_BUCKET", "x"),
                "ARTIFACT_BUCKET: \"x\" must be 3 to 63",
            ),
            (("ARTIFACT_PREFIX", "/abs"), "ARTIFACT_PREFIX"),
            (
                ("COPY_CONCURRENCY", "0"),
                "COPY_CONCURRENCY: must be from 1",
            ),
            (
                ("COPY_CONCURRENCY", "many"),
                "COPY_CONCURRENCY: \"many\" is not a whole number",
            ),
            (
                ("MULTIPART_PART_SIZE_BYTES", "5242879"),
                "MULTIPART_PART_SIZE_BYTES: must be from 5242880 to 5368709120",
            ),
            (
                ("MULTIPART_PART_SIZE_BYTES", "5368709121"),
                "MULTIPART_PART_SIZE_BYTES: must be from",
            ),
            (
                ("MULTIPART_THRESHOLD_BYTES", "5368709121"),
                "MULTIPART_THRESHOLD_BYTES: must be from 1 to 5368709120",
            ),
            (
                ("DEADLINE_MARGIN_SECONDS", "-1"),
                "DEADLINE_MARGIN_SECONDS: \"-1\" is not a whole number",
            ),
            (
                ("DEADLINE_MARGIN_SECONDS", "901"),
                "DEADLINE_MARGIN_SECONDS: must be from 0 to 900",
            ),
            (
                ("S3_RETRY_MODE", "legacy"),
                "S3_RETRY_MODE: \"legacy\" must be `standard` or `adaptive`",
            ),
            (
                ("S3_MAX_ATTEMPTS", "0"),
                "S3_MAX_ATTEMPTS: must be from 1 to 50",
            ),
            (
                ("S3_MAX_BACKOFF_MS", "100"),
                "S3_MAX_BACKOFF_MS: must be from 200 to 300000",
            ),
        ] {
            let message = error_with(&[extra]);
            assert!(message.contains(needle), "{needle} vs {message}");
        }
    }
}
