//! The copy-execution-data payloads: the event, the result and the continuation that
//! the state machine feeds back in until `done` is true.
//!
//! The wire types are serde-derived with explicit names (they are a compatibility
//! boundary); [`CopyRequest::from_event`] validates a raw event field by field so
//! every refusal names its JSONPath.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::FunctionError;
use crate::json::{wrong_type, Object};
use crate::s3uri::S3Uri;

/// The only continuation format so far; bump it when the fields change meaning.
pub const CONTINUATION_VERSION: u64 = 1;

/// Result fields a later call carries back in. Accepted so the previous result can
/// be passed as is, but never used for control flow: the counters that matter
/// travel inside the (digest-checked) continuation.
const ECHOED_RESULT_FIELDS: [&str; 6] =
    ["done", "copied", "skipped", "bytes", "objects", "manifest"];

/// The event as it travels: the first call has `continuation: null`; later calls
/// are the previous [`CopyResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyEvent {
    #[serde(rename = "source")]
    pub source: String,
    #[serde(rename = "destination")]
    pub destination: String,
    #[serde(rename = "continuation", default)]
    pub continuation: Option<Continuation>,
}

/// What the function returns. `source` and `destination` are echoed back
/// (normalised to end with `/`); the counters are cumulative over the whole loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyResult {
    #[serde(rename = "source")]
    pub source: String,
    #[serde(rename = "destination")]
    pub destination: String,
    #[serde(rename = "done")]
    pub done: bool,
    /// Objects copied (written at the destination).
    #[serde(rename = "copied")]
    pub copied: u64,
    /// Objects already present with the same size and content identity.
    #[serde(rename = "skipped")]
    pub skipped: u64,
    /// Bytes copied (skipped objects do not count).
    #[serde(rename = "bytes")]
    pub bytes: u64,
    /// Where the next call resumes; null once `done`.
    #[serde(rename = "continuation")]
    pub continuation: Option<Continuation>,
    /// The `s3://` URI of the manifest of the destination, written by the call that
    /// completes the copy; null until `done`.
    #[serde(rename = "manifest", default)]
    pub manifest: Option<String>,
}

/// Where a later call resumes: every key up to and including `start_after` (in
/// listing order) has been copied or skipped, and the counters cover exactly those.
///
/// `digest` is a SHA-256 over the fields and the event's source and destination. It
/// is not a secret signature; it catches a continuation that was edited by hand or
/// pasted into an event for another source or destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    #[serde(rename = "version")]
    pub version: u64,
    #[serde(rename = "start_after")]
    pub start_after: String,
    #[serde(rename = "copied")]
    pub copied: u64,
    #[serde(rename = "skipped")]
    pub skipped: u64,
    #[serde(rename = "bytes")]
    pub bytes: u64,
    #[serde(rename = "digest")]
    pub digest: String,
}

/// Counters carried over from earlier calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub copied: u64,
    pub skipped: u64,
    pub bytes: u64,
}

impl Continuation {
    /// A continuation bound to `source` and `destination` (both normalised prefixes).
    pub fn new(
        source: &S3Uri,
        destination: &S3Uri,
        start_after: impl Into<String>,
        counters: Counters,
    ) -> Continuation {
        let start_after = start_after.into();
        let digest = digest(source, destination, &start_after, counters);
        Continuation {
            version: CONTINUATION_VERSION,
            start_after,
            copied: counters.copied,
            skipped: counters.skipped,
            bytes: counters.bytes,
            digest,
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            copied: self.copied,
            skipped: self.skipped,
            bytes: self.bytes,
        }
    }

    /// Validates a continuation object found at `obj.path()` for this source and
    /// destination; every problem names the field.
    pub fn from_object(
        obj: &Object<'_>,
        source: &S3Uri,
        destination: &S3Uri,
    ) -> Result<Continuation, FunctionError> {
        obj.deny_unknown(&[
            "version",
            "start_after",
            "copied",
            "skipped",
            "bytes",
            "digest",
        ])?;
        let version = obj
            .opt_u64_in("version", CONTINUATION_VERSION, CONTINUATION_VERSION)?
            .ok_or_else(|| FunctionError::invalid(&obj.child("version"), "is required"))?;
        let start_after = obj.non_empty_str("start_after")?;
        if !start_after.starts_with(&source.key) {
            return Err(FunctionError::invalid(
                &obj.child("start_after"),
                format!("must be a key under the source prefix {source}"),
            ));
        }
        let counter = |key: &str| {
            obj.opt_u64_in(key, 0, u64::MAX)?
                .ok_or_else(|| FunctionError::invalid(&obj.child(key), "is required"))
        };
        let counters = Counters {
            copied: counter("copied")?,
            skipped: counter("skipped")?,
            bytes: counter("bytes")?,
        };
        let given = obj.non_empty_str("digest")?;
        let expected = digest(source, destination, start_after, counters);
        if given != expected {
            return Err(FunctionError::invalid(
                &obj.child("digest"),
                "does not match the continuation's fields and this event's source and \
                 destination: pass the previous result back unchanged",
            ));
        }
        Ok(Continuation {
            version,
            start_after: start_after.to_string(),
            copied: counters.copied,
            skipped: counters.skipped,
            bytes: counters.bytes,
            digest: expected,
        })
    }
}

/// SHA-256 (lowercase hex) over length-prefixed fields, so no key content (S3 keys
/// may hold newlines) can make two different continuations hash alike.
fn digest(source: &S3Uri, destination: &S3Uri, start_after: &str, counters: Counters) -> String {
    let mut hasher = Sha256::new();
    let source = source.to_string();
    let destination = destination.to_string();
    let fields: [&[u8]; 8] = [
        b"copy-execution-data/continuation",
        &CONTINUATION_VERSION.to_be_bytes(),
        source.as_bytes(),
        destination.as_bytes(),
        start_after.as_bytes(),
        &counters.copied.to_be_bytes(),
        &counters.skipped.to_be_bytes(),
        &counters.bytes.to_be_bytes(),
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A validated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// The source prefix (key empty or ending with `/`).
    pub source: S3Uri,
    /// The destination prefix (key empty or ending with `/`).
    pub destination: S3Uri,
    /// None on the first call.
    pub continuation: Option<Continuation>,
}

impl CopyRequest {
    /// Validates the shape of a raw event. Rules that need the configuration (the
    /// allow-list, the artifact bucket) are the handler's.
    pub fn from_event(event: &Value) -> Result<CopyRequest, FunctionError> {
        let root = Object::new("$", event)?;
        let mut known = vec!["source", "destination", "continuation"];
        known.extend(ECHOED_RESULT_FIELDS);
        root.deny_unknown(&known)?;
        let source = S3Uri::parse_prefix(&root.child("source"), root.non_empty_str("source")?)?;
        let destination = S3Uri::parse_prefix(
            &root.child("destination"),
            root.non_empty_str("destination")?,
        )?;
        // Echoed fields are ignored, but a wrong type still means a garbled event.
        root.opt_bool("done")?;
        for key in ["copied", "skipped", "bytes", "objects"] {
            root.opt_u64_in(key, 0, u64::MAX)?;
        }
        match root.get("manifest") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => {
                return Err(wrong_type(
                    &root.child("manifest"),
                    "a string or null",
                    other,
                ))
            }
        }
        let continuation = root
            .opt_object("continuation")?
            .map(|obj| Continuation::from_object(&obj, &source, &destination))
            .transpose()?;
        Ok(CopyRequest {
            source,
            destination,
            continuation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn uris() -> (S3Uri, S3Uri) {
        (
            S3Uri::parse_prefix("$", "s3://src-bucket/datasets/v1/").unwrap(),
            S3Uri::parse_prefix("$", "s3://artifact-bucket/executions/e1/data/").unwrap(),
        )
    }

    fn continuation() -> Continuation {
        let (s, d) = uris();
        Continuation::new(
            &s,
            &d,
            "datasets/v1/b.csv",
            Counters {
                copied: 2,
                skipped: 1,
                bytes: 30,
            },
        )
    }

    fn event_with(cont: Value) -> Value {
        json!({
            "source": "s3://src-bucket/datasets/v1",
            "destination": "s3://artifact-bucket/executions/e1/data/",
            "continuation": cont,
        })
    }

    fn message(event: Value) -> String {
        let err = CopyRequest::from_event(&event).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        err.message
    }

    #[test]
    fn a_first_call_normalises_prefixes() {
        let req = CopyRequest::from_event(&event_with(Value::Null)).unwrap();
        assert_eq!(req.source.key, "datasets/v1/");
        assert_eq!(
            req.destination.to_string(),
            "s3://artifact-bucket/executions/e1/data/"
        );
        assert_eq!(req.continuation, None);
    }

    #[test]
    fn a_previous_result_round_trips_as_the_next_event() {
        let (s, d) = uris();
        let result = CopyResult {
            source: s.to_string(),
            destination: d.to_string(),
            done: false,
            copied: 2,
            skipped: 1,
            bytes: 30,
            continuation: Some(continuation()),
            manifest: None,
        };
        let event = serde_json::to_value(&result).unwrap();
        let req = CopyRequest::from_event(&event).unwrap();
        assert_eq!(req.continuation, Some(continuation()));
        let typed: CopyEvent = serde_json::from_value(event).unwrap();
        assert_eq!(typed.continuation, Some(continuation()));
    }

    #[test]
    fn a_tampered_continuation_names_the_digest() {
        let mut cont = serde_json::to_value(continuation()).unwrap();
        cont["copied"] = json!(1000);
        assert!(message(event_with(cont)).starts_with("$.continuation.digest: does not match"));
    }

    #[test]
    fn a_continuation_from_another_copy_is_refused() {
        let cont = serde_json::to_value(continuation()).unwrap();
        let mut event = event_with(cont);
        event["destination"] = json!("s3://artifact-bucket/executions/e2/data/");
        assert!(message(event).starts_with("$.continuation.digest:"));
    }

    #[test]
    fn malformed_continuations_name_the_field() {
        let good = serde_json::to_value(continuation()).unwrap();
        // (field, new value or None to remove it, expected message start)
        let cases = [
            (
                "version",
                Some(json!(2)),
                "$.continuation.version: must be from 1 to 1",
            ),
            ("version", None, "$.continuation.version: is required"),
            (
                "start_after",
                Some(json!(7)),
                "$.continuation.start_after: must be a string",
            ),
            (
                "start_after",
                Some(json!("other/x")),
                "$.continuation.start_after: must be a key under",
            ),
            (
                "copied",
                Some(json!(-1)),
                "$.continuation.copied: must be a whole number",
            ),
            (
                "bytes",
                Some(json!("10")),
                "$.continuation.bytes: must be a whole number",
            ),
            ("skipped", None, "$.continuation.skipped: is required"),
            (
                "digest",
                Some(json!("")),
                "$.continuation.digest: must not be empty",
            ),
            (
                "extra",
                Some(json!(1)),
                "$.continuation.extra: unknown field",
            ),
        ];
        for (field, value, expected) in cases {
            let mut cont = good.clone();
            let fields = cont.as_object_mut().unwrap();
            match value {
                Some(value) => fields.insert(field.to_string(), value),
                None => fields.remove(field),
            };
            let msg = message(event_with(cont));
            assert!(msg.starts_with(expected), "{expected} vs {msg}");
        }
        assert!(
            message(event_with(json!("abc"))).starts_with("$.continuation: must be a JSON object")
        );
    }

    #[test]
    fn echoed_fields_are_accepted_but_typed() {
        let mut event = event_with(Value::Null);
        event["done"] = json!(false);
        event["copied"] = json!(3);
        event["objects"] = json!(3);
        event["manifest"] = json!("s3://artifact-bucket/executions/e1/copy-manifest.jsonl");
        CopyRequest::from_event(&event).unwrap();
        event["manifest"] = Value::Null;
        CopyRequest::from_event(&event).unwrap();
        event["manifest"] = json!(1);
        assert!(message(event.clone()).starts_with("$.manifest: must be a string or null"));
        event["manifest"] = Value::Null;
        event["done"] = json!("no");
        assert!(message(event.clone()).starts_with("$.done: must be true or false"));
        event["done"] = json!(true);
        event["surprise"] = json!(1);
        assert!(message(event).starts_with("$.surprise: unknown field"));
    }

    #[test]
    fn the_digest_separates_fields() {
        let (s, d) = uris();
        let a = Continuation::new(&s, &d, "datasets/v1/a", Counters::default());
        let b = Continuation::new(&s, &d, "datasets/v1/b", Counters::default());
        assert_ne!(a.digest, b.digest);
        assert_eq!(a.digest.len(), 64);
        assert!(a
            .digest
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
