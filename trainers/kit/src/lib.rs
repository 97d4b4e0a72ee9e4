//! SageMaker's training and inference container contract, shared by the example
//! trainers (`text-trainer`, `image-trainer`, `sequence-trainer`).
//!
//! A trainer image is run as `<image> train` for a training job and `<image> serve`
//! for batch transform (and hosting); [`container_main`] is the whole entry point.
//! The contract, as the SageMaker developer guide states it:
//!
//! - "Use your own training algorithms" (`your-algorithms-training-algo`,
//!   `your-algorithms-training-algo-running-container`, `-output`): SageMaker runs
//!   `docker run <image> train`; hyperparameters arrive as strings in
//!   `/opt/ml/input/config/hyperparameters.json` (besides `resourceconfig.json` and
//!   `inputdataconfig.json`); File-mode channels are directories
//!   `/opt/ml/input/data/<channel>`; whatever is in `/opt/ml/model` becomes
//!   `model.tar.gz`, `/opt/ml/output/data` the output data; on failure the algorithm
//!   writes `/opt/ml/output/failure`, whose text becomes the job's FailureReason
//!   (first 1024 characters), and exits non-zero.
//! - "Use your own inference code" (`your-algorithms-inference-code`,
//!   `your-algorithms-batch-code`): SageMaker runs `docker run <image> serve`; the
//!   container listens on port 8080 (or `SAGEMAKER_BIND_TO_PORT`), answers
//!   `GET /ping` with 200 (within 2 s) once ready and `POST /invocations` with the
//!   predictions, and may answer `GET /execution-parameters` to tune batch transform;
//!   batch transform also sets `SAGEMAKER_BATCH`, `SAGEMAKER_MAX_PAYLOAD_IN_MB`,
//!   `SAGEMAKER_BATCH_STRATEGY` and `SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`. The model
//!   artefacts are unpacked into `/opt/ml/model`.
//!
//! sfn-local (this repository, `local/src/integrations/sagemaker/`) runs the same
//! binaries as local commands, with `SM_ML_ROOT` naming the job's `/opt/ml`, `train`
//! or `serve` appended to the command, `SAGEMAKER_BIND_TO_PORT` a free port it then
//! polls on 127.0.0.1 with `GET /ping`, and stops `serve` with SIGTERM to the process
//! group (SIGKILL after a grace period); [`MlRoot::from_env`] and [`container_main`]
//! follow those conventions.

mod channel;
mod error;
mod evaluation;
mod hyperparameters;
pub mod metrics;
mod paths;
mod prediction;
mod runner;
mod serve;

pub use channel::{has_channel, load_model, read_channel, save_model};
pub use error::TrainError;
pub use evaluation::{label_counts, Evaluation};
pub use hyperparameters::Hyperparameters;
pub use paths::MlRoot;
pub use prediction::Prediction;
pub use runner::{container_main, run_serve, run_train, write_failure};
pub use serve::{
    map_json_lines, serve_on, Predictor, ServeError, EXECUTION_PARAMETERS, MAX_REQUEST_BYTES,
};
