//! The `generated` object: everything the training tasks need, computed once per
//! execution by generate-config and read by the state machine as `$.generated...`.
//!
//! Field names are a contract with `statemachine/ensemble-training.asl.json`: objects
//! the state machine passes to SageMaker verbatim use SageMaker's PascalCase names
//! (`InputDataConfig`, `ResourceConfig`, ...); our own fields are snake_case.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    pub execution_name: String,
    /// `s3://<artifact bucket>/<artifact prefix><execution>/`: every artifact of the
    /// execution lives below it.
    pub execution_prefix: String,
    /// The first event of the copy loop (copy-execution-data's contract).
    pub copy: CopyRequest,
    /// Where the training and transform channels read the dataset: the execution's
    /// copy, or the preprocessing output when preprocessing is on.
    pub data_prefix: String,
    pub preprocess: Preprocess,
    pub text_model: BaseModel,
    pub image_model: BaseModel,
    pub sequence_model: SequenceModel,
    pub output_artifact_paths: OutputArtifactPaths,
    pub quality_gate: QualityGate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRequest {
    pub source: String,
    pub destination: String,
    pub continuation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preprocess {
    pub enabled: bool,
    /// Completed with `$$.State.RetryCount` by the state machine.
    pub job_name_prefix: String,
    /// The Batch job's parameters (strings only, as Batch requires).
    pub parameters: BTreeMap<String, String>,
}

/// A base model (text or image): trained in this execution or reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// false: the state machine skips training and reuses `reuse`.
    pub train: bool,
    #[serde(flatten)]
    pub training: Training,
    /// The SageMaker model the batch transform uses: this execution's (created after
    /// training) or, when reused, the earlier execution's.
    pub model_name: String,
    pub transform_job_name_prefix: String,
    #[serde(rename = "TransformInput")]
    pub transform_input: serde_json::Value,
    #[serde(rename = "TransformOutput")]
    pub transform_output: serde_json::Value,
    #[serde(rename = "TransformResources")]
    pub transform_resources: serde_json::Value,
    pub reuse: Reuse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceModel {
    pub train: bool,
    #[serde(flatten)]
    pub training: Training,
}

/// The parts of a CreateTrainingJob request that vary per execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Completed with `$$.State.RetryCount` by the state machine.
    pub training_job_name_prefix: String,
    #[serde(rename = "InputDataConfig")]
    pub input_data_config: Vec<serde_json::Value>,
    #[serde(rename = "OutputDataConfig")]
    pub output_data_config: serde_json::Value,
    #[serde(rename = "HyperParameters")]
    pub hyperparameters: BTreeMap<String, String>,
    #[serde(rename = "ResourceConfig")]
    pub resource_config: serde_json::Value,
    #[serde(rename = "StoppingCondition")]
    pub stopping_condition: serde_json::Value,
}

/// Where an earlier execution's model is found. All fields are null when the model is
/// trained: the shape never changes, so every path the state machine reads exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reuse {
    pub from_execution: Option<String>,
    pub training_job_name_prefix: Option<String>,
    pub model_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputArtifactPaths {
    pub text_model_prefix: String,
    pub image_model_prefix: String,
    pub sequence_model_prefix: String,
    pub text_transform_prefix: String,
    pub image_transform_prefix: String,
    pub report_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityGate {
    pub metric: String,
    pub threshold: f64,
}
