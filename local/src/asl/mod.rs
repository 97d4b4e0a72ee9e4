//! The language itself: paths, payload templates, intrinsic functions and Choice
//! rules, as the AWS Step Functions documentation defines them (JSONPath query
//! language). Pure functions over `serde_json::Value`; no I/O.

pub mod choice;
pub mod intrinsics;
pub mod path;
pub mod template;

use std::fmt;

/// The error names Step Functions itself raises (docs: concepts-error-handling).
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const RUNTIME: &str = "States.Runtime";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
}

/// An error raised while running a state: an error name that Retry and Catch match
/// (`States.Runtime`, or a task's own error name) and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AslError {
    pub error: String,
    pub cause: String,
}

impl AslError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> AslError {
        AslError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    pub fn runtime(cause: impl Into<String>) -> AslError {
        AslError::new(names::RUNTIME, cause)
    }

    pub fn intrinsic_failure(cause: impl Into<String>) -> AslError {
        AslError::new(names::INTRINSIC_FAILURE, cause)
    }
}

impl fmt::Display for AslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for AslError {}
