//! The one error type of training and loading: its Display text is what the job's
//! FailureReason shows, so every variant names what is wrong and where.

/// Why a training or serving run failed; Display is the readable reason written to
/// /opt/ml/output/failure (SageMaker shows it as FailureReason).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("hyperparameter `{name}`: {message}")]
    Hyperparameter { name: String, message: String },
    /// A missing or empty channel.
    #[error("channel `{channel}`: {message}")]
    Channel { channel: String, message: String },
    /// A bad JSON line or a bad field; `line` is 1-based.
    #[error("{file}:{line}: {message}")]
    Record {
        file: String,
        line: usize,
        message: String,
    },
    /// Data valid line by line but unusable (one class only, a page without a
    /// prediction, ...).
    #[error("{0}")]
    Data(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The ML library failed, or a model file is unreadable.
    #[error("model: {0}")]
    Model(String),
}

impl TrainError {
    /// An I/O error with what was being done (`reading <path>`).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> TrainError {
        TrainError::Io {
            context: context.into(),
            source,
        }
    }
}
