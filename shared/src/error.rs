//! The stable error names every function reports as `errorType`.
//!
//! Step Functions matches these names in `Retry` and `Catch`, so they are a public
//! contract: never rename one, only add. The README's "Error names" table lists them.

use std::fmt;

use lambda_runtime::Diagnostic;

/// The kind of a function error; its name is the Lambda `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The event does not fit the function's contract (not an object, a missing or
    /// unknown field, a wrong type, a bad S3 URI, a value out of range).
    InvalidInput,
    /// The function itself is misconfigured (a missing or bad environment variable).
    ConfigurationError,
    /// A copy source outside the `ALLOWED_SOURCE_BUCKETS` allow-list.
    SourceNotAllowed,
    /// The copy source bucket does not exist, or the prefix holds no object.
    SourceNotFound,
    /// S3 or SageMaker refused the call (HTTP 403).
    AccessDenied,
    /// A transient AWS failure (throttling, 5xx, timeout, connection): worth a retry.
    ServiceUnavailable,
    /// Any other AWS error: not worth retrying as is.
    AwsRequestFailed,
    /// A training job (or an earlier execution's model) that aggregate-metrics needs
    /// does not exist.
    TrainingJobNotFound,
}

impl ErrorKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidInput,
        ErrorKind::ConfigurationError,
        ErrorKind::SourceNotAllowed,
        ErrorKind::SourceNotFound,
        ErrorKind::AccessDenied,
        ErrorKind::ServiceUnavailable,
        ErrorKind::AwsRequestFailed,
        ErrorKind::TrainingJobNotFound,
    ];

    /// The `errorType` string Step Functions sees.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::ConfigurationError => "ConfigurationError",
            ErrorKind::SourceNotAllowed => "SourceNotAllowed",
            ErrorKind::SourceNotFound => "SourceNotFound",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::ServiceUnavailable => "ServiceUnavailable",
            ErrorKind::AwsRequestFailed => "AwsRequestFailed",
            ErrorKind::TrainingJobNotFound => "TrainingJobNotFound",
        }
    }

    /// Whether the state machine retries this kind.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::ServiceUnavailable)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The one error type of every function: a stable kind plus a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub kind: ErrorKind,
    pub message: String,
}

impl FunctionError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FunctionError {
            kind,
            message: message.into(),
        }
    }

    /// An `InvalidInput` error about the field at `path` (a JSONPath such as
    /// `$.text_model.hyperparameters`).
    pub fn invalid(path: &str, problem: impl fmt::Display) -> Self {
        FunctionError::new(ErrorKind::InvalidInput, format!("{path}: {problem}"))
    }

    pub fn config(variable: &str, problem: impl fmt::Display) -> Self {
        FunctionError::new(
            ErrorKind::ConfigurationError,
            format!("environment variable {variable}: {problem}"),
        )
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(error: FunctionError) -> Diagnostic {
        Diagnostic {
            error_type: error.kind.name().to_string(),
            error_message: error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_stable_name_not_a_type_name() {
        let diagnostic: Diagnostic = FunctionError::invalid("$.input_data", "is required").into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
        assert_eq!(diagnostic.error_message, "$.input_data: is required");
    }

    #[test]
    fn names_are_unique_and_identifier_like() {
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for name in names {
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
            assert!(
                !name.starts_with("States."),
                "{name} would collide with a States.* error"
            );
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable: Vec<_> = ErrorKind::ALL.iter().filter(|k| k.is_retryable()).collect();
        assert_eq!(retryable, vec![&ErrorKind::ServiceUnavailable]);
    }
}
