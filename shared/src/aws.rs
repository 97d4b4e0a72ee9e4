//! What every AWS-calling function shares: endpoint overrides and error classes.

use crate::error::ErrorKind;

/// Whether an endpoint override is configured for S3 (`AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL`). A local S3-compatible server has no virtual-host DNS, so the
/// S3 client then switches to path-style addressing.
pub fn s3_endpoint_overridden() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// Maps an AWS error (its HTTP status, if any reply came, and its error code) to our
/// stable kinds. Throttling, 5xx and transport failures are `ServiceUnavailable`
/// (retried by the state machine); 403 is `AccessDenied`.
pub fn classify(status: Option<u16>, code: Option<&str>) -> ErrorKind {
    // S3 can also answer a copy with `200 OK` and an `InternalError` body; the SDK
    // retries it as transient, and so must the state machine once those run out.
    const THROTTLING: [&str; 11] = [
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailableException",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "ServiceUnavailable",
    ];
    if code.is_some_and(|c| THROTTLING.contains(&c)) {
        return ErrorKind::ServiceUnavailable;
    }
    if code.is_some_and(|c| c == "AccessDenied" || c == "AccessDeniedException") {
        return ErrorKind::AccessDenied;
    }
    match status {
        None => ErrorKind::ServiceUnavailable,
        Some(403) => ErrorKind::AccessDenied,
        Some(429) | Some(500..=599) => ErrorKind::ServiceUnavailable,
        Some(_) => ErrorKind::AwsRequestFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify(Some(503), Some("SlowDown")),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(classify(Some(500), None), ErrorKind::ServiceUnavailable);
        assert_eq!(classify(None, None), ErrorKind::ServiceUnavailable);
        assert_eq!(
            classify(Some(200), Some("InternalError")),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(
            classify(Some(400), Some("ThrottlingException")),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(
            classify(Some(403), Some("AccessDenied")),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            classify(Some(400), Some("AccessDeniedException")),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            classify(Some(400), Some("ValidationException")),
            ErrorKind::AwsRequestFailed
        );
    }
}
