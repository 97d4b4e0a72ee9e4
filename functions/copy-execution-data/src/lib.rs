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
pub mod manifest;
pub mod plan;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
use aws_sdk_s3::Client;
use serde_json::Value;
use shared::copy::{Continuation, CopyRequest, CopyResult, Counters};
use shared::s3uri::S3Uri;
use shared::{ErrorKind, FunctionError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use config::{CopyConfig, S3Retry};
use copier::{aws_error, Copier, Listed, Outcome, SourceObject};
use manifest::ManifestJob;

/// Objects started but not yet folded into the continuation, at most this many
/// times the concurrency: one slow multipart copy at the head of the window must
/// not let the window (and memory) grow without bound.
const WINDOW_PER_SLOT: usize = 16;
/// Parts of one object copied in parallel, at most (the request limiter still
/// bounds the total).
const MAX_PART_CONCURRENCY: usize = 16;
/// Progress lines at most this often, however fast objects complete.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// What a retry costs in the SDK's retry token bucket (its legacy cost).
const RETRY_TOKEN_COST: usize = 5;

/// The S3 client the function uses: `sdk_config` with the retry policy of
/// `retry`, and path-style addressing when `path_style` (local S3-compatible
/// servers). Built once per process, outside the handler.
///
/// The SDK's standard retry strategy backs off exponentially with full jitter and
/// retries throttling (`SlowDown`), 5xx, timeouts and connection errors. Its retry
/// token bucket (500 tokens, 5 per retry) is sized instead so that every request
/// in flight can spend all its attempts at once: with dozens of concurrent copies
/// the default bucket runs dry in a burst of 503s, and requests then fail on their
/// first error.
pub fn s3_client(
    sdk_config: &aws_config::SdkConfig,
    retry: &S3Retry,
    concurrency: usize,
    path_style: bool,
) -> Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk_config);
    configure_retries(&mut builder, retry, concurrency);
    if path_style {
        builder.set_force_path_style(Some(true));
    }
    Client::from_conf(builder.build())
}

/// Applies the retry policy of [`s3_client`] to any S3 config builder (tests and
/// tools build theirs from other sources).
pub fn configure_retries(
    builder: &mut aws_sdk_s3::config::Builder,
    retry: &S3Retry,
    concurrency: usize,
) {
    let mode = if retry.adaptive {
        RetryConfig::adaptive()
    } else {
        RetryConfig::standard()
    };
    builder.set_retry_config(Some(
        mode.with_max_attempts(retry.max_attempts.max(1))
            .with_initial_backoff(retry.initial_backoff)
            .with_max_backoff(retry.max_backoff),
    ));
    let retries = usize::try_from(retry.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    let tokens = concurrency
        .max(1)
        .saturating_mul(retries)
        .saturating_mul(RETRY_TOKEN_COST)
        .max(500);
    builder.set_retry_partition(Some(
        RetryPartition::custom("copy-execution-data")
            .token_bucket(TokenBucket::builder().capacity(tokens).build())
            .build(),
    ));
}

/// Handles one call. `deadline` is the Lambda deadline (`Context::deadline()`).
pub async fn handle(
    s3: &Client,
    config: &CopyConfig,
    event: Value,
    deadline: SystemTime,
) -> Result<CopyResult, FunctionError> {
    let checked = CopyRequest::from_event(&event).and_then(|request| {
        let manifest_key = check_destination(config, &request.source, &request.destination)?;
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
        Ok((request, manifest_key))
    });
    match checked {
        Ok((request, manifest_key)) => run(s3, config, request, &manifest_key, deadline).await,
        Err(err) => {
            // The invocation's one summary line when nothing was attempted.
            tracing::warn!(error = %err, kind = %err.kind, "copy refused");
            Err(err)
        }
    }
}

/// The destination must lie strictly under `ARTIFACT_BUCKET`/`ARTIFACT_PREFIX`,
/// below an execution prefix (`<ARTIFACT_PREFIX><execution>/…/`, whose manifest
/// goes beside it), and must not overlap the source (a copy into itself would list
/// its own output). Returns the manifest's key.
fn check_destination(
    config: &CopyConfig,
    source: &S3Uri,
    destination: &S3Uri,
) -> Result<String, FunctionError> {
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
    let manifest_key = manifest::manifest_key(&config.artifact_prefix, &destination.key)
        .ok_or_else(|| {
            FunctionError::invalid(
                "$.destination",
                format!(
                    "{destination} must be below an execution's prefix, such as \
                     {area}<execution>/data/ (the copy's manifest goes in \
                     {area}<execution>/)"
                ),
            )
        })?;
    if source.contains(destination) || destination.contains(source) {
        return Err(FunctionError::invalid(
            "$.destination",
            format!("{destination} overlaps the source {source}"),
        ));
    }
    Ok(manifest_key)
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
    fn new(start_after: Option<String>) -> Lister {
        Lister {
            start_after,
            token: None,
            exhausted: false,
            listed: 0,
        }
    }

    /// The next page under `uri`. A missing bucket is `SourceNotFound` naming
    /// `source_field` when given (the input field that named it); otherwise (the
    /// artifact bucket) it is a deployment fault, classified as any S3 error.
    async fn next_page(
        &mut self,
        s3: &Client,
        uri: &S3Uri,
        source_field: Option<&str>,
    ) -> Result<VecDeque<SourceObject>, FunctionError> {
        let page = s3
            .list_objects_v2()
            .bucket(&uri.bucket)
            .prefix(&uri.key)
            .set_start_after(self.start_after.clone())
            .set_continuation_token(self.token.clone())
            .send()
            .await
            .map_err(|err| match source_field {
                Some(field)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_bucket()) =>
                {
                    FunctionError::new(
                        ErrorKind::SourceNotFound,
                        format!("{field}: bucket {:?} does not exist", uri.bucket),
                    )
                }
                _ => aws_error("ListObjectsV2", &uri.to_string(), &err),
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
                    format!("S3 ListObjectsV2 {uri} returned an object without a key"),
                )
            })?;
            let size = u64::try_from(object.size().unwrap_or(0)).map_err(|_| {
                FunctionError::new(
                    ErrorKind::AwsRequestFailed,
                    format!("S3 ListObjectsV2 {uri} returned a negative size for {key:?}"),
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

/// What already lies at the destination, read from its listing in step with the
/// source's: destination keys are the source keys with the prefix swapped, so both
/// listings come in the same order and one ListObjectsV2 page answers for up to
/// 1,000 objects, where a HeadObject per object would cost 1,000 requests.
struct DestinationListing {
    lister: Lister,
    /// Listed destination objects not yet matched, in key order.
    pending: VecDeque<SourceObject>,
}

impl DestinationListing {
    fn new(start_after: Option<String>) -> DestinationListing {
        DestinationListing {
            lister: Lister::new(start_after),
            pending: VecDeque::new(),
        }
    }

    /// Lists the destination until it has passed `key` (or ended), so that
    /// [`DestinationListing::take`] is conclusive for every key up to `key`.
    async fn cover(
        &mut self,
        s3: &Client,
        destination: &S3Uri,
        key: &str,
    ) -> Result<(), FunctionError> {
        while !self.lister.exhausted && self.pending.back().is_none_or(|o| o.key.as_str() < key) {
            let page = self.lister.next_page(s3, destination, None).await?;
            self.pending.extend(page);
        }
        Ok(())
    }

    /// What the listing says about `key`, which must not precede an earlier call's
    /// key and must be covered.
    fn take(&mut self, key: &str) -> Listed {
        while self.pending.front().is_some_and(|o| o.key.as_str() < key) {
            self.pending.pop_front();
        }
        match self.pending.front() {
            Some(o) if o.key == key => match self.pending.pop_front() {
                Some(o) => Listed::Present(o),
                None => Listed::Absent,
            },
            _ => Listed::Absent,
        }
    }
}

/// This call's own counts (the window's counters also hold earlier calls', and
/// only the contiguous completed prefix), for progress and rates.
struct Progress {
    started: Instant,
    next_log: tokio::time::Instant,
    listed: u64,
    copied: u64,
    skipped: u64,
    bytes: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            next_log: tokio::time::Instant::now() + PROGRESS_INTERVAL,
            listed: 0,
            copied: 0,
            skipped: 0,
            bytes: 0,
        }
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Copied { bytes } => {
                self.copied += 1;
                self.bytes += bytes;
            }
            Outcome::Skipped => self.skipped += 1,
        }
    }

    fn objects(&self) -> u64 {
        self.copied + self.skipped
    }

    fn rates(&self) -> (f64, f64) {
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            (
                self.objects() as f64 / seconds,
                self.bytes as f64 / plan::MIB as f64 / seconds,
            )
        } else {
            (0.0, 0.0)
        }
    }

    /// One progress line if the interval has passed.
    fn maybe_log(&mut self, in_flight: usize) {
        let now = tokio::time::Instant::now();
        if now < self.next_log {
            return;
        }
        self.next_log = now + PROGRESS_INTERVAL;
        let (objects_per_s, mib_per_s) = self.rates();
        tracing::info!(
            listed = self.listed,
            objects = self.objects(),
            copied = self.copied,
            skipped = self.skipped,
            bytes = self.bytes,
            in_flight,
            elapsed_s = self.started.elapsed().as_secs(),
            objects_per_s = round(objects_per_s),
            mib_per_s = round(mib_per_s),
            "copy progress"
        );
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

async fn run(
    s3: &Client,
    config: &CopyConfig,
    request: CopyRequest,
    manifest_key: &str,
    deadline: SystemTime,
) -> Result<CopyResult, FunctionError> {
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
    let mut lister = Lister::new(start_after.clone());
    // Resuming after source key K means resuming after K's destination key.
    let mut existing = DestinationListing::new(
        start_after
            .as_deref()
            .and_then(|key| plan::destination_key(&source.key, &destination.key, key)),
    );
    let mut window = Window::new(counters, start_after);
    let mut progress = Progress::new();
    let mut page: VecDeque<SourceObject> = VecDeque::new();
    let mut tasks: JoinSet<(u64, Result<Outcome, FunctionError>)> = JoinSet::new();
    let mut failure: Option<FunctionError> = None;
    let mut stopped_early = false;
    let near_deadline = || SystemTime::now() + config.deadline_margin >= deadline;
    tracing::info!(%source, %destination, resume_after = ?lister.start_after, "copy started");

    loop {
        // At least one object per call, so a margin larger than the time left slows
        // the loop down instead of spinning it without progress.
        if window.next > 0
            && !stopped_early
            && !(page.is_empty() && lister.exhausted)
            && near_deadline()
        {
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
                let listed = match lister.next_page(s3, &source, Some("$.source")).await {
                    Ok(objects) => match objects
                        .back()
                        .map(|last| planned_key(&source, &destination, last))
                    {
                        Some(Ok(last_key)) => existing
                            .cover(s3, &destination, &last_key)
                            .await
                            .map(|()| objects),
                        Some(Err(err)) => Err(err),
                        None => Ok(objects),
                    },
                    Err(err) => Err(err),
                };
                match listed {
                    Ok(objects) => {
                        page = objects;
                        progress.listed = lister.listed;
                        progress.maybe_log(tasks.len());
                        if first_call && lister.exhausted && lister.listed == 0 {
                            let err = FunctionError::new(
                                ErrorKind::SourceNotFound,
                                format!("$.source: no object under {source}"),
                            );
                            tracing::warn!(%source, error = %err, kind = %err.kind, "copy failed");
                            return Err(err);
                        }
                    }
                    Err(err) => failure = Some(err),
                }
                continue;
            }
            if let Some(object) = page.pop_front() {
                match planned_key(&source, &destination, &object) {
                    Ok(key) => {
                        let position = window.push(object.key.clone());
                        let listed = existing.take(&key);
                        let copier = Arc::clone(&copier);
                        tasks.spawn(
                            async move { (position, copier.copy(object, key, listed).await) },
                        );
                    }
                    Err(err) => failure = Some(err),
                }
                continue;
            }
        }
        // Nothing to start: wait for a copy to finish (logging progress meanwhile),
        // or stop when none is running.
        let joined = match tokio::time::timeout_at(progress.next_log, tasks.join_next()).await {
            Ok(joined) => joined,
            Err(_) => {
                progress.maybe_log(tasks.len());
                continue;
            }
        };
        match joined {
            None => break,
            Some(Ok((position, Ok(outcome)))) => {
                progress.record(outcome);
                window.complete(position, outcome);
            }
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
        progress.maybe_log(tasks.len());
    }

    let listing_done = failure.is_none() && page.is_empty() && lister.exhausted;
    let did_work = window.next > 0;
    // The manifest is the last step. A call that copied objects and is inside the
    // margin leaves it to the next call (one more turn of the loop); a call with
    // nothing else to do always writes it.
    let mut manifest = None;
    if listing_done && !(did_work && near_deadline()) {
        let job = ManifestJob {
            s3,
            source: &source,
            destination: &destination,
            key: manifest_key,
            concurrency,
            part_bytes: manifest::MANIFEST_PART_BYTES,
        };
        match job.write(|| did_work && near_deadline()).await {
            Ok(written) => manifest = written,
            Err(err) => failure = Some(err),
        }
    }
    let done = manifest.is_some();
    let totals = window.counters;
    let (objects_per_s, mib_per_s) = progress.rates();
    let elapsed_ms = u64::try_from(progress.started.elapsed().as_millis()).unwrap_or(u64::MAX);

    // Work that completed in this call is kept when the failure is transient: the
    // call hands back a continuation (the loop goes on, and the next call retries
    // the failed object) rather than an error that would make the retry start where
    // this call began. Only when nothing advanced is it an error, so a persistent
    // failure reaches the state machine's Retry and Catch.
    let kept_error = match failure {
        Some(err) if err.kind == ErrorKind::ServiceUnavailable && window.front > 0 => Some(err),
        Some(err) => {
            tracing::error!(
                %source, %destination, error = %err, kind = %err.kind,
                copied = progress.copied, skipped = progress.skipped, bytes = progress.bytes,
                listed = progress.listed, elapsed_ms, objects_per_s = round(objects_per_s),
                mib_per_s = round(mib_per_s),
                "copy failed"
            );
            return Err(err);
        }
        None => None,
    };
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
    let manifest_uri = manifest.as_ref().map(|m| m.uri.clone());
    if let Some(written) = &manifest {
        tracing::info!(
            %source,
            %destination,
            manifest = %written.uri,
            objects = written.objects,
            object_bytes = written.bytes,
            total_copied = totals.copied,
            total_skipped = totals.skipped,
            total_bytes = totals.bytes,
            copied = progress.copied,
            skipped = progress.skipped,
            bytes = progress.bytes,
            elapsed_ms,
            objects_per_s = round(objects_per_s),
            mib_per_s = round(mib_per_s),
            "copy complete"
        );
    } else {
        tracing::info!(
            %source,
            %destination,
            done,
            copied = progress.copied,
            skipped = progress.skipped,
            bytes = progress.bytes,
            listed = progress.listed,
            total_copied = totals.copied,
            total_skipped = totals.skipped,
            total_bytes = totals.bytes,
            elapsed_ms,
            objects_per_s = round(objects_per_s),
            mib_per_s = round(mib_per_s),
            resume_after = ?continuation.as_ref().map(|c| &c.start_after),
            error = kept_error.as_ref().map(tracing::field::display),
            "copy call finished"
        );
    }
    Ok(CopyResult {
        source: source.to_string(),
        destination: destination.to_string(),
        done,
        copied: totals.copied,
        skipped: totals.skipped,
        bytes: totals.bytes,
        continuation,
        manifest: manifest_uri,
    })
}

/// The destination key of a listed object, refused if it would exceed S3's limit.
fn planned_key(
    source: &S3Uri,
    destination: &S3Uri,
    object: &SourceObject,
) -> Result<String, FunctionError> {
    let key =
        plan::destination_key(&source.key, &destination.key, &object.key).ok_or_else(|| {
            FunctionError::new(
                ErrorKind::AwsRequestFailed,
                format!("S3 listed {:?}, which is not under {source}", object.key),
            )
        })?;
    if key.len() > plan::MAX_KEY_BYTES {
        return Err(FunctionError::invalid(
            "$.destination",
            format!(
                "the copy of {:?} would have a key of {} bytes, over S3's {}",
                object.key,
                key.len(),
                plan::MAX_KEY_BYTES
            ),
        ));
    }
    Ok(key)
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
            "s3://artifact-bucket/executions/e/",
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
    fn the_manifest_key_comes_with_the_destination() {
        let key = check_destination(
            &config(),
            &uri("s3://src-bucket/data/"),
            &uri("s3://artifact-bucket/executions/e-1/data/v1/"),
        )
        .unwrap();
        assert_eq!(key, "executions/e-1/copy-manifest.jsonl");
        let err = check_destination(
            &config(),
            &uri("s3://src-bucket/data/"),
            &uri("s3://artifact-bucket/executions/e-1/"),
        )
        .unwrap_err();
        assert!(
            err.message.contains("below an execution's prefix"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_client_retries_as_configured() {
        let sdk_config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let retry = S3Retry {
            adaptive: true,
            max_attempts: 9,
            initial_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(4),
        };
        let client = s3_client(&sdk_config, &retry, 64, true);
        let conf = client.config();
        let used = conf.retry_config().unwrap();
        assert_eq!(used.mode(), aws_sdk_s3::config::retry::RetryMode::Adaptive);
        assert_eq!(used.max_attempts(), 9);
        assert_eq!(used.initial_backoff(), Duration::from_millis(30));
        assert_eq!(used.max_backoff(), Duration::from_secs(4));
        assert!(conf.retry_partition().is_some());
        let standard = s3_client(&sdk_config, &S3Retry::default(), 1, false);
        let used = standard.config().retry_config().unwrap();
        assert_eq!(used.mode(), aws_sdk_s3::config::retry::RetryMode::Standard);
        assert_eq!(used.max_attempts(), 8);
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
