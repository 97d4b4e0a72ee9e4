//! Where SageMaker puts things inside a container: everything lives under `/opt/ml`
//! (developer guide, your-algorithms-training-algo-running-container), or under the
//! directory in `SM_ML_ROOT` when sfn-local runs the trainer as a local command.

use std::path::{Path, PathBuf};

/// The environment variable sfn-local sets to the job's stand-in for `/opt/ml`.
pub const SM_ML_ROOT: &str = "SM_ML_ROOT";

/// SageMaker's `/opt/ml`, or the directory in `SM_ML_ROOT` (sfn-local's convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlRoot {
    root: PathBuf,
}

impl MlRoot {
    /// `SM_ML_ROOT` if set and non-empty, else `/opt/ml`.
    pub fn from_env() -> MlRoot {
        match std::env::var_os(SM_ML_ROOT) {
            Some(root) if !root.is_empty() => MlRoot::at(root),
            _ => MlRoot::at("/opt/ml"),
        }
    }

    pub fn at(root: impl Into<PathBuf>) -> MlRoot {
        MlRoot { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `input/config/hyperparameters.json`
    pub fn hyperparameters_file(&self) -> PathBuf {
        self.root.join("input/config/hyperparameters.json")
    }

    /// `input/data/<channel>`
    pub fn channel_dir(&self, channel: &str) -> PathBuf {
        self.root.join("input/data").join(channel)
    }

    /// `model`: packed into model.tar.gz after training, unpacked here for serving.
    pub fn model_dir(&self) -> PathBuf {
        self.root.join("model")
    }

    /// `output/data`: packed into output.tar.gz after training.
    pub fn output_data_dir(&self) -> PathBuf {
        self.root.join("output/data")
    }

    /// `output/failure`: its text becomes the job's FailureReason.
    pub fn failure_file(&self) -> PathBuf {
        self.root.join("output/failure")
    }
}
