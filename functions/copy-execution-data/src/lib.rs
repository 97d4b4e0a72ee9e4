//! copy-execution-data: copies an execution's input dataset to its own S3 prefix, so
//! each run is reproducible and reruns are safe.
//!
//! The state machine calls [`handle`] in a loop, feeding each result back in until
//! `done` is true. One call lists the source page by page and copies with bounded
//! concurrency; near the Lambda deadline it stops taking new objects, lets the ones
//! in flight finish, and returns a continuation that resumes after the last key of
//! the contiguous completed prefix of the listing.

pub mod config;
pub mod copier;
pub mod plan;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_sdk_s3::Client;
use serde_json::Value;
use shared::copy::{Continuation, CopyRequest, CopyResult, Counters};
use shared::s3uri::S3Uri;
use shared::{ErrorKind, FunctionError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use config::CopyConfig;
use copier::{aws_error, Copier, Outcome, SourceObject};

/// Objects started but not yet folded into the continuation, at most this many
/// times the concurrency: one slow multipart copy at the head of the window must
/// not let the window (and memory) grow without bound.
const WINDOW_PER_SLOT: usize = 16;
/// Parts of one object copied in parallel, at most (the request limiter still
/// bounds the total).
const MAX_PART_CONCURRENCY: usize = 16;

/// Handles one call. `deadline` is the Lambda deadline (`Context::deadline()`).
pub async fn handle(
    s3: &Client,
    config: &CopyConfig,
    event: Value,
    deadline: SystemTime,
) -> Result<CopyResult, FunctionError> {
    let request = CopyRequest::from_event(&event)?;
    check_destination(config, &request.source, &request.destination)?;
    if !config
        .allowed_source_buckets
        .contains(&request.source.bucket)
    {
        return Err(FunctionError::new(
            ErrorKind::SourceNotAllowed,
            format!(
                "$.source: bucket {:?} is not in ALLOWED_SOURCE_BUCKETS ({})",
                request.source.bucket,
                config.allowed_source_buckets.join(", ")
            ),
        ));
    }
    run(s3, config, request, deadline).await
}

/// The destination must lie strictly under `ARTIFACT_BUCKET`/`ARTIFACT_PREFIX` and
/// must not overlap the source (a copy into itself would list its own output).
fn check_destination(
    config: &CopyConfig,
    source: &S3Uri,
    destination: &S3Uri,
) -> Result<(), FunctionError> {
    let area = format!("s3://{}/{}", config.artifact_bucket, config.artifact_prefix);
    if destination.bucket != config.artifact_bucket
        || !destination.key.starts_with(&config.artifact_prefix)
        || destination.key.len() <= config.artifact_prefix.len()
    {
        return Err(FunctionError::invalid(
            "$.destination",
            format!(
                "{destination} must be a prefix under {area} (ARTIFACT_BUCKET/ARTIFACT_PREFIX)"
            ),
        ));
    }
    if source.contains(destination) || destination.contains(source) {
        return Err(FunctionError::invalid(
            "$.destination",
            format!("{destination} overlaps the source {source}"),
        ));
    }
    Ok(())
}

/// One object started, in listing order; `outcome` is set when its copy is done.
struct Slot {
    key: String,
    outcome: Option<Outcome>,
}

/// The objects started in this call, in listing order. Completed objects are folded
/// into the counters only from the front, so `last_key` always ends the contiguous
/// completed prefix: resuming after it neither loses nor redoes work.
struct Window {
    slots: VecDeque<Slot>,
    /// The listing position of `slots[0]`.
    front: u64,
    next: u64,
    counters: Counters,
    last_key: Option<String>,
}

impl Window {
    fn new(counters: Counters, last_key: Option<String>) -> Window {
        Window {
            slots: VecDeque::new(),
            front: 0,
            next: 0,
            counters,
            last_key,
        }
    }

    fn push(&mut self, key: String) -> u64 {
        self.slots.push_back(Slot { key, outcome: None });
        self.next += 1;
        self.next - 1
    }

    fn complete(&mut self, position: u64, outcome: Outcome) {
        let index = position
            .checked_sub(self.front)
            .and_then(|i| usize::try_from(i).ok());
        if let Some(slot) = index.and_then(|i| self.slots.get_mut(i)) {
            slot.outcome = Some(outcome);
        }
        while let Some(Slot {
            outcome: Some(outcome),
            ..
        }) = self.slots.front()
        {
            match *outcome {
                Outcome::Copied { bytes } => {
                    self.counters.copied += 1;
                    self.counters.bytes += bytes;
                }
                Outcome::Skipped => self.counters.skipped += 1,
            }
            if let Some(slot) = self.slots.pop_front() {
                self.last_key = Some(slot.key);
            }
            self.front += 1;
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// ListObjectsV2, one page at a time.
struct Lister {
    start_after: Option<String>,
    token: Option<String>,
    exhausted: bool,
    listed: u64,
}

impl Lister {
    async fn next_page(
        &mut self,
        s3: &Client,
        source: &S3Uri,
    ) -> Result<VecDeque<SourceObject>, FunctionError> {
        let page = s3
            .list_objects_v2()
            .bucket(&source.bucket)
            .prefix(&source.key)
            .set_start_after(self.start_after.clone())
            .set_continuation_token(self.token.clone())
            .send()
            .await
            .map_err(|err| {
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_bucket())
                {
                    FunctionError::new(
                        ErrorKind::SourceNotFound,
                        format!("$.source: bucket {:?} does not exist", source.bucket),
                    )
                } else {
                    aws_error("ListObjectsV2", &source.to_string(), &err)
                }
            })?;
        self.token = page
            .next_continuation_token()
            .filter(|_| page.is_truncated() == Some(true))
            .map(str::to_string);
        self.exhausted = self.token.is_none();
        let mut objects = VecDeque::with_capacity(page.contents().len());
        for object in page.contents() {
            let key = object.key().ok_or_else(|| {
                FunctionError::new(
                    ErrorKind::AwsRequestFailed,
                    format!("S3 ListObjectsV2 {source} returned an object without a key"),
                )
            })?;
            let size = u64::try_from(object.size().unwrap_or(0)).map_err(|_| {
                FunctionError::new(
                    ErrorKind::AwsRequestFailed,
                    format!("S3 ListObjectsV2 {source} returned a negative size for {key:?}"),
                )
            })?;
            objects.push_back(SourceObject {
                key: key.to_string(),
                size,
                etag: object.e_tag().unwrap_or_default().to_string(),
            });
        }
        self.listed += objects.len() as u64;
        Ok(objects)
    }
}

async fn run(
    s3: &Client,
    config: &CopyConfig,
    request: CopyRequest,
    deadline: SystemTime,
) -> Result<CopyResult, FunctionError> {
    let started = Instant::now();
    let CopyRequest {
        source,
        destination,
        continuation,
    } = request;
    let first_call = continuation.is_none();
    let (counters, start_after) = match &continuation {
        Some(c) => (c.counters(), Some(c.start_after.clone())),
        None => (Counters::default(), None),
    };
    let concurrency = config.copy_concurrency.max(1);
    let copier = Arc::new(Copier {
        s3: s3.clone(),
        source_bucket: source.bucket.clone(),
        destination_bucket: destination.bucket.clone(),
        multipart_threshold: config.multipart_threshold_bytes,
        part_size: config.multipart_part_size_bytes,
        part_concurrency: concurrency.min(MAX_PART_CONCURRENCY),
        requests: Semaphore::new(concurrency),
    });
    let mut lister = Lister {
        start_after: start_after.clone(),
        token: None,
        exhausted: false,
        listed: 0,
    };
    let mut window = Window::new(counters, start_after);
    let mut page: VecDeque<SourceObject> = VecDeque::new();
    let mut tasks: JoinSet<(u64, Result<Outcome, FunctionError>)> = JoinSet::new();
    let mut failure: Option<FunctionError> = None;
    let mut stopped_early = false;
    tracing::info!(%source, %destination, resume_after = ?lister.start_after, "copy started");

    loop {
        // At least one object per call, so a margin larger than the time left slows
        // the loop down instead of spinning it without progress.
        let near_deadline =
            window.next > 0 && SystemTime::now() + config.deadline_margin >= deadline;
        if near_deadline && !stopped_early && !(page.is_empty() && lister.exhausted) {
            stopped_early = true;
            tracing::info!(
                in_flight = tasks.len(),
                "deadline margin reached: no new objects"
            );
        }
        let may_start = failure.is_none()
            && !stopped_early
            && tasks.len() < concurrency
            && window.len() < concurrency * WINDOW_PER_SLOT;
        if may_start {
            if page.is_empty() && !lister.exhausted {
                match lister.next_page(s3, &source).await {
                    Ok(objects) => {
                        page = objects;
                        log_progress(&window, started, tasks.len(), lister.listed);
                        if first_call && lister.exhausted && lister.listed == 0 {
                            return Err(FunctionError::new(
                                ErrorKind::SourceNotFound,
                                format!("$.source: no object under {source}"),
                            ));
                        }
                    }
                    Err(err) => failure = Some(err),
                }
                continue;
            }
            if let Some(object) = page.pop_front() {
                let key = plan::destination_key(&source.key, &destination.key, &object.key)
                    .ok_or_else(|| {
                        FunctionError::new(
                            ErrorKind::AwsRequestFailed,
                            format!("S3 listed {:?}, which is not under {source}", object.key),
                        )
                    });
                let key = key.and_then(|key| {
                    if key.len() > plan::MAX_KEY_BYTES {
                        Err(FunctionError::invalid(
                            "$.destination",
                            format!(
                                "the copy of {:?} would have a key of {} bytes, over S3's {}",
                                object.key,
                                key.len(),
                                plan::MAX_KEY_BYTES
                            ),
                        ))
                    } else {
                        Ok(key)
                    }
                });
                match key {
                    Ok(key) => {
                        let position = window.push(object.key.clone());
                        let copier = Arc::clone(&copier);
                        tasks.spawn(async move { (position, copier.copy(object, key).await) });
                    }
                    Err(err) => failure = Some(err),
                }
                continue;
            }
        }
        // Nothing to start: wait for a copy to finish, or stop when none is running.
        match tasks.join_next().await {
            None => break,
            Some(Ok((position, Ok(outcome)))) => window.complete(position, outcome),
            Some(Ok((_, Err(err)))) => {
                tracing::error!(error = %err, kind = %err.kind, "object copy failed");
                failure.get_or_insert(err);
            }
            Some(Err(join_error)) => {
                failure.get_or_insert(FunctionError::new(
                    ErrorKind::AwsRequestFailed,
                    format!("a copy task ended abnormally: {join_error}"),
                ));
            }
        }
    }

    let elapsed = started.elapsed();
    if let Some(err) = failure {
        // The input continuation stays valid: a retry resumes where this call began.
        tracing::error!(
            %source, %destination, error = %err, kind = %err.kind,
            copied = window.counters.copied - counters.copied,
            elapsed_ms = elapsed.as_millis() as u64,
            "copy failed"
        );
        return Err(err);
    }
    let done = page.is_empty() && lister.exhausted;
    let totals = window.counters;
    let continuation = if done {
        None
    } else {
        let last_key = window.last_key.clone().ok_or_else(|| {
            FunctionError::new(
                ErrorKind::AwsRequestFailed,
                "stopped before any object was copied and with nothing to resume from",
            )
        })?;
        Some(Continuation::new(&source, &destination, last_key, totals))
    };
    let call_bytes = totals.bytes - counters.bytes;
    tracing::info!(
        %source,
        %destination,
        done,
        copied = totals.copied - counters.copied,
        skipped = totals.skipped - counters.skipped,
        bytes = call_bytes,
        total_copied = totals.copied,
        total_skipped = totals.skipped,
        total_bytes = totals.bytes,
        elapsed_ms = elapsed.as_millis() as u64,
        mib_per_s = mib_per_second(call_bytes, elapsed),
        resume_after = ?continuation.as_ref().map(|c| &c.start_after),
        "copy call finished"
    );
    Ok(CopyResult {
        source: source.to_string(),
        destination: destination.to_string(),
        done,
        copied: totals.copied,
        skipped: totals.skipped,
        bytes: totals.bytes,
        continuation,
    })
}

fn mib_per_second(bytes: u64, elapsed: std::time::Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        bytes as f64 / plan::MIB as f64 / seconds
    } else {
        0.0
    }
}

fn log_progress(window: &Window, started: Instant, in_flight: usize, listed: u64) {
    let elapsed = started.elapsed();
    let objects = window.counters.copied + window.counters.skipped;
    tracing::info!(
        listed,
        in_flight,
        objects,
        bytes = window.counters.bytes,
        objects_per_s = if elapsed.as_secs_f64() > 0.0 {
            objects as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        },
        "copy progress"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config() -> CopyConfig {
        let vars: HashMap<String, String> = [
            ("ALLOWED_SOURCE_BUCKETS", "src-bucket,artifact-bucket"),
            ("ARTIFACT_BUCKET", "artifact-bucket"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        CopyConfig::from_map(&vars).unwrap()
    }

    fn uri(s: &str) -> S3Uri {
        S3Uri::parse_prefix("$", s).unwrap()
    }

    #[test]
    fn destinations_must_be_strictly_under_the_artifact_prefix() {
        let source = uri("s3://src-bucket/data/");
        assert!(check_destination(
            &config(),
            &source,
            &uri("s3://artifact-bucket/executions/e/data/")
        )
        .is_ok());
        for bad in [
            "s3://other-bucket/executions/e/",
            "s3://artifact-bucket/elsewhere/e/",
            "s3://artifact-bucket/executions/",
            "s3://artifact-bucket/executionsX/",
            "s3://artifact-bucket/",
        ] {
            let err = check_destination(&config(), &source, &uri(bad)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput);
            assert!(
                err.message.starts_with("$.destination: "),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn overlapping_source_and_destination_are_refused() {
        let destination = uri("s3://artifact-bucket/executions/e/data/");
        for source in [
            "s3://artifact-bucket/executions/",
            "s3://artifact-bucket/executions/e/data/x/",
            "s3://artifact-bucket",
        ] {
            let err = check_destination(&config(), &uri(source), &destination).unwrap_err();
            assert!(
                err.message.contains("overlaps the source"),
                "{source}: {}",
                err.message
            );
        }
        assert!(check_destination(
            &config(),
            &uri("s3://artifact-bucket/datasets/"),
            &destination
        )
        .is_ok());
    }

    #[test]
    fn the_window_advances_only_over_a_contiguous_completed_prefix() {
        let mut window = Window::new(
            Counters {
                copied: 1,
                skipped: 0,
                bytes: 5,
            },
            Some("k0".into()),
        );
        let a = window.push("k1".into());
        let b = window.push("k2".into());
        let c = window.push("k3".into());
        window.complete(c, Outcome::Copied { bytes: 7 });
        window.complete(b, Outcome::Skipped);
        assert_eq!(window.last_key.as_deref(), Some("k0"));
        assert_eq!(
            window.counters,
            Counters {
                copied: 1,
                skipped: 0,
                bytes: 5
            }
        );
        assert_eq!(window.len(), 3);
        window.complete(a, Outcome::Copied { bytes: 10 });
        assert_eq!(window.last_key.as_deref(), Some("k3"));
        assert_eq!(
            window.counters,
            Counters {
                copied: 3,
                skipped: 1,
                bytes: 22
            }
        );
        assert_eq!(window.len(), 0);
        // A stale position changes nothing.
        window.complete(a, Outcome::Skipped);
        assert_eq!(window.counters.skipped, 1);
    }
}
