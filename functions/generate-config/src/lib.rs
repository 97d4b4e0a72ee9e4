//! generate-config: turns an execution's input into everything the training tasks
//! need (the `generated` object). Pure: no AWS call, so it cannot fail transiently.

pub mod config;
pub mod input;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shared::generated::{
    BaseModel, CopyRequest, Generated, OutputArtifactPaths, Preprocess, QualityGate, Reuse,
    SequenceModel, Training,
};
use shared::naming::{resource_name, ModelKind, Resource};
use shared::s3uri::S3Uri;
use shared::{ErrorKind, FunctionError};

pub use config::Config;
use input::{ExecutionInput, ModelOverrides};

/// Where each part of the dataset lives under `input_data` (README: "Dataset layout").
pub mod layout {
    pub const TEXT_TRAIN: &str = "text/train/";
    pub const TEXT_VALIDATION: &str = "text/validation/";
    pub const IMAGE_TRAIN: &str = "image/train/";
    pub const IMAGE_VALIDATION: &str = "image/validation/";
    pub const SEQUENCE_TEXT: &str = "sequence/text/";
    pub const SEQUENCE_IMAGE: &str = "sequence/image/";
    pub const SEQUENCE_LABELS: &str = "sequence/labels/";
    /// Every file is JSON Lines: one page (or one page's prediction) per line.
    pub const CONTENT_TYPE: &str = "application/jsonlines";
}

/// The Lambda handler: validates the raw event and returns the `generated` object.
pub fn handle(event: Value, config: &Config) -> Result<Value, FunctionError> {
    let input = input::parse(&event)?;
    let generated = generate(&input, config)?;
    tracing::info!(
        execution = %generated.execution_name,
        train_text = generated.text_model.train,
        train_image = generated.image_model.train,
        preprocess = generated.preprocess.enabled,
        "generated the execution's configuration"
    );
    serde_json::to_value(&generated).map_err(|e| {
        FunctionError::new(
            ErrorKind::InvalidInput,
            format!("$: cannot be represented as JSON: {e}"),
        )
    })
}

pub fn generate(input: &ExecutionInput, config: &Config) -> Result<Generated, FunctionError> {
    if let Some(allowed) = &config.allowed_source_buckets {
        if !allowed.contains(&input.input_data.bucket) {
            return Err(FunctionError::new(
                ErrorKind::SourceNotAllowed,
                format!(
                    "$.input_data: bucket {:?} is not in the allow-list ({}); add it to the AllowedSourceBuckets template parameter",
                    input.input_data.bucket,
                    allowed.join(", ")
                ),
            ));
        }
    }

    let execution = input.execution_name.as_str();
    let execution_prefix = execution_prefix(config, execution);
    if execution_prefix.contains(&input.input_data) || input.input_data.contains(&execution_prefix)
    {
        return Err(FunctionError::invalid(
            "$.input_data",
            format!("overlaps the execution's own artifacts at {execution_prefix}"),
        ));
    }
    let copy_destination = execution_prefix.join("data/");
    let data_prefix = if input.preprocess {
        execution_prefix.join("preprocessed/")
    } else {
        copy_destination.clone()
    };

    let paths = OutputArtifactPaths {
        text_model_prefix: execution_prefix.join("models/text/").to_string(),
        image_model_prefix: execution_prefix.join("models/image/").to_string(),
        sequence_model_prefix: execution_prefix.join("models/sequence/").to_string(),
        text_transform_prefix: execution_prefix.join("transform/text/").to_string(),
        image_transform_prefix: execution_prefix.join("transform/image/").to_string(),
        report_uri: execution_prefix
            .join("report/ensemble-report.json")
            .to_string(),
    };

    let text_model = base_model(
        input,
        config,
        ModelKind::Text,
        BaseChannels {
            train: data_prefix.join(layout::TEXT_TRAIN),
            validation: data_prefix.join(layout::TEXT_VALIDATION),
            transform_input: data_prefix.join(layout::SEQUENCE_TEXT),
            model_prefix: &paths.text_model_prefix,
            transform_prefix: &paths.text_transform_prefix,
        },
    );
    let image_model = base_model(
        input,
        config,
        ModelKind::Image,
        BaseChannels {
            train: data_prefix.join(layout::IMAGE_TRAIN),
            validation: data_prefix.join(layout::IMAGE_VALIDATION),
            transform_input: data_prefix.join(layout::SEQUENCE_IMAGE),
            model_prefix: &paths.image_model_prefix,
            transform_prefix: &paths.image_transform_prefix,
        },
    );
    let sequence_model = SequenceModel {
        train: true,
        training: training(
            execution,
            ModelKind::Sequence,
            &input.sequence_model,
            &config.sequence_instance_type,
            config,
            vec![
                channel("text_predictions", &paths.text_transform_prefix),
                channel("image_predictions", &paths.image_transform_prefix),
                channel(
                    "labels",
                    &data_prefix.join(layout::SEQUENCE_LABELS).to_string(),
                ),
            ],
            &paths.sequence_model_prefix,
        ),
    };

    let preprocess = Preprocess {
        enabled: input.preprocess,
        job_name_prefix: resource_name(execution, Resource::PreprocessJob),
        parameters: BTreeMap::from([
            ("DATA_INPUT_PATH".to_string(), copy_destination.to_string()),
            (
                "OUTPUT_PATH".to_string(),
                execution_prefix.join("preprocessed/").to_string(),
            ),
        ]),
    };

    Ok(Generated {
        execution_name: execution.to_string(),
        execution_prefix: execution_prefix.to_string(),
        copy: CopyRequest {
            source: input.input_data.to_string(),
            destination: copy_destination.to_string(),
            continuation: None,
        },
        data_prefix: data_prefix.to_string(),
        preprocess,
        text_model: text_model?,
        image_model: image_model?,
        sequence_model,
        output_artifact_paths: paths,
        quality_gate: QualityGate {
            metric: input
                .quality_gate_metric
                .clone()
                .unwrap_or_else(|| config.quality_gate_metric.clone()),
            threshold: input
                .quality_gate_threshold
                .unwrap_or(config.quality_gate_threshold),
        },
    })
}

/// `s3://<artifact bucket>/<artifact prefix><execution name>/`
pub fn execution_prefix(config: &Config, execution_name: &str) -> S3Uri {
    S3Uri {
        bucket: config.artifact_bucket.clone(),
        key: format!("{}{}/", config.artifact_prefix, execution_name),
    }
}

struct BaseChannels<'a> {
    train: S3Uri,
    validation: S3Uri,
    transform_input: S3Uri,
    model_prefix: &'a str,
    transform_prefix: &'a str,
}

fn base_model(
    input: &ExecutionInput,
    config: &Config,
    kind: ModelKind,
    channels: BaseChannels<'_>,
) -> Result<BaseModel, FunctionError> {
    let execution = input.execution_name.as_str();
    let (train, overrides, default_instance) = match kind {
        ModelKind::Text => (
            input.train_text_model,
            &input.text_model,
            &config.text_instance_type,
        ),
        _ => (
            input.train_image_model,
            &input.image_model,
            &config.image_instance_type,
        ),
    };
    let reuse = match (&input.reuse_artifacts_from, train) {
        (Some(earlier), false) => Reuse {
            from_execution: Some(earlier.clone()),
            training_job_name_prefix: Some(resource_name(earlier, Resource::TrainingJob(kind))),
            model_name: Some(resource_name(earlier, Resource::Model(kind))),
        },
        _ => Reuse {
            from_execution: None,
            training_job_name_prefix: None,
            model_name: None,
        },
    };
    let model_name = match &reuse.model_name {
        Some(earlier_model) => earlier_model.clone(),
        None => resource_name(execution, Resource::Model(kind)),
    };
    let transform_instance = overrides
        .transform_instance_type
        .as_deref()
        .unwrap_or(&config.transform_instance_type);
    Ok(BaseModel {
        train,
        training: training(
            execution,
            kind,
            overrides,
            default_instance,
            config,
            vec![
                channel("train", &channels.train.to_string()),
                channel("validation", &channels.validation.to_string()),
            ],
            channels.model_prefix,
        ),
        model_name,
        transform_job_name_prefix: resource_name(execution, Resource::TransformJob(kind)),
        transform_input: json!({
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": channels.transform_input.to_string()}},
            "ContentType": layout::CONTENT_TYPE,
            "SplitType": "Line",
            "CompressionType": "None"
        }),
        transform_output: json!({
            "S3OutputPath": channels.transform_prefix,
            "Accept": layout::CONTENT_TYPE,
            "AssembleWith": "Line"
        }),
        transform_resources: json!({"InstanceType": transform_instance, "InstanceCount": 1}),
        reuse,
    })
}

fn training(
    execution: &str,
    kind: ModelKind,
    overrides: &ModelOverrides,
    default_instance: &str,
    config: &Config,
    channels: Vec<Value>,
    output_prefix: &str,
) -> Training {
    Training {
        training_job_name_prefix: resource_name(execution, Resource::TrainingJob(kind)),
        input_data_config: channels,
        output_data_config: json!({"S3OutputPath": output_prefix}),
        hyperparameters: overrides.hyperparameters.clone(),
        resource_config: json!({
            "InstanceType": overrides.instance_type.as_deref().unwrap_or(default_instance),
            "InstanceCount": overrides.instance_count.unwrap_or(1),
            "VolumeSizeInGB": overrides.volume_size_gb.unwrap_or(config.volume_size_gb),
        }),
        stopping_condition: json!({
            "MaxRuntimeInSeconds": overrides.max_runtime_seconds.unwrap_or(config.max_runtime_seconds)
        }),
    }
}

/// One SageMaker training channel reading every object under `prefix`.
fn channel(name: &str, prefix: &str) -> Value {
    json!({
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": prefix,
                "S3DataDistributionType": "FullyReplicated"
            }
        },
        "ContentType": layout::CONTENT_TYPE,
        "CompressionType": "None"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::naming::{is_valid_batch_job_name, is_valid_sagemaker_name, job_name_for_attempt};
    use std::collections::HashMap;

    fn config() -> Config {
        let vars: HashMap<String, String> = [
            ("ARTIFACT_BUCKET", "ensemble-artifacts"),
            ("ALLOWED_SOURCE_BUCKETS", "raw-data"),
            ("QUALITY_GATE_THRESHOLD", "0.7"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Config::from_map(&vars).unwrap()
    }

    fn run(event: Value) -> Result<Generated, FunctionError> {
        generate(&input::parse(&event)?, &config())
    }

    fn channel_uris(training: &Training) -> Vec<(String, String)> {
        training
            .input_data_config
            .iter()
            .map(|c| {
                (
                    c["ChannelName"].as_str().unwrap_or_default().to_string(),
                    c["DataSource"]["S3DataSource"]["S3Uri"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn everything_lives_under_the_execution_prefix() {
        let g =
            run(json!({"execution_name": "run-1", "input_data": "s3://raw-data/docs/v1"})).unwrap();
        let prefix = "s3://ensemble-artifacts/executions/run-1/";
        assert_eq!(g.execution_prefix, prefix);
        assert_eq!(g.copy.source, "s3://raw-data/docs/v1/");
        assert_eq!(g.copy.destination, format!("{prefix}data/"));
        assert_eq!(g.data_prefix, g.copy.destination);
        let p = &g.output_artifact_paths;
        for path in [
            &p.text_model_prefix,
            &p.image_model_prefix,
            &p.sequence_model_prefix,
            &p.text_transform_prefix,
            &p.image_transform_prefix,
            &p.report_uri,
        ] {
            assert!(path.starts_with(prefix), "{path}");
        }
        for training in [
            &g.text_model.training,
            &g.image_model.training,
            &g.sequence_model.training,
        ] {
            for (_, uri) in channel_uris(training) {
                assert!(
                    uri.starts_with(prefix),
                    "{uri} reads outside the execution's copy"
                );
            }
        }
        assert_eq!(
            channel_uris(&g.text_model.training),
            vec![
                ("train".to_string(), format!("{prefix}data/text/train/")),
                (
                    "validation".to_string(),
                    format!("{prefix}data/text/validation/")
                ),
            ]
        );
        assert_eq!(
            channel_uris(&g.sequence_model.training),
            vec![
                (
                    "text_predictions".to_string(),
                    p.text_transform_prefix.clone()
                ),
                (
                    "image_predictions".to_string(),
                    p.image_transform_prefix.clone()
                ),
                (
                    "labels".to_string(),
                    format!("{prefix}data/sequence/labels/")
                ),
            ]
        );
        assert_eq!(
            g.text_model.transform_input["DataSource"]["S3DataSource"]["S3Uri"],
            format!("{prefix}data/sequence/text/")
        );
        assert_eq!(
            g.image_model.transform_output["S3OutputPath"],
            p.image_transform_prefix
        );
    }

    #[test]
    fn names_are_valid_and_distinct_per_model() {
        let g = run(json!({"execution_name": "ensemble_training.2026-11-27T06-37-00", "input_data": "s3://raw-data/docs/"})).unwrap();
        let mut names = vec![
            job_name_for_attempt(&g.text_model.training.training_job_name_prefix, 99),
            job_name_for_attempt(&g.image_model.training.training_job_name_prefix, 99),
            job_name_for_attempt(&g.sequence_model.training.training_job_name_prefix, 99),
            job_name_for_attempt(&g.text_model.transform_job_name_prefix, 99),
            job_name_for_attempt(&g.image_model.transform_job_name_prefix, 99),
            g.text_model.model_name.clone(),
            g.image_model.model_name.clone(),
        ];
        for name in &names {
            assert!(is_valid_sagemaker_name(name), "{name}");
        }
        assert!(is_valid_batch_job_name(&job_name_for_attempt(
            &g.preprocess.job_name_prefix,
            99
        )));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 7);
    }

    #[test]
    fn overrides_and_defaults_reach_the_training_requests() {
        let g = run(json!({
            "execution_name": "run-2",
            "input_data": "s3://raw-data/docs/",
            "image_model": {"hyperparameters": {"epochs": 80, "dropout": 0.5, "augment": true},
                             "instance_type": "ml.p3.2xlarge", "instance_count": 4, "volume_size_gb": 10,
                             "max_runtime_seconds": 172800, "transform_instance_type": "ml.g4dn.xlarge"},
            "quality_gate": {"metric": "validation:accuracy"}
        }))
        .unwrap();
        let image = &g.image_model.training;
        assert_eq!(image.hyperparameters["epochs"], "80");
        assert_eq!(image.hyperparameters["dropout"], "0.5");
        assert_eq!(image.hyperparameters["augment"], "true");
        assert_eq!(
            image.resource_config,
            json!({"InstanceType": "ml.p3.2xlarge", "InstanceCount": 4, "VolumeSizeInGB": 10})
        );
        assert_eq!(
            image.stopping_condition,
            json!({"MaxRuntimeInSeconds": 172800})
        );
        assert_eq!(
            g.image_model.transform_resources["InstanceType"],
            "ml.g4dn.xlarge"
        );
        let text = &g.text_model.training;
        assert!(text.hyperparameters.is_empty());
        assert_eq!(text.resource_config["InstanceType"], "ml.m5.xlarge");
        assert_eq!(
            g.text_model.transform_resources["InstanceType"],
            "ml.m5.large"
        );
        assert_eq!(
            g.quality_gate,
            QualityGate {
                metric: "validation:accuracy".into(),
                threshold: 0.7
            }
        );
    }

    #[test]
    fn skipped_models_point_at_the_earlier_execution() {
        let g = run(json!({
            "execution_name": "run-3", "input_data": "s3://raw-data/docs/",
            "train_text_model": false, "reuse_artifacts_from": "run-2"
        }))
        .unwrap();
        assert!(!g.text_model.train && g.image_model.train);
        assert_eq!(g.text_model.reuse.from_execution.as_deref(), Some("run-2"));
        assert_eq!(
            g.text_model.model_name,
            resource_name("run-2", Resource::Model(ModelKind::Text))
        );
        assert_eq!(
            g.text_model.reuse.training_job_name_prefix.as_deref(),
            Some(resource_name("run-2", Resource::TrainingJob(ModelKind::Text)).as_str())
        );
        assert_eq!(
            g.image_model.reuse,
            Reuse {
                from_execution: None,
                training_job_name_prefix: None,
                model_name: None
            }
        );
        assert_eq!(
            g.image_model.model_name,
            resource_name("run-3", Resource::Model(ModelKind::Image))
        );
    }

    #[test]
    fn preprocessing_moves_the_channels_to_its_output() {
        let g = run(json!({"execution_name": "run-4", "input_data": "s3://raw-data/docs/", "preprocess": true})).unwrap();
        let prefix = "s3://ensemble-artifacts/executions/run-4/";
        assert!(g.preprocess.enabled);
        assert_eq!(g.data_prefix, format!("{prefix}preprocessed/"));
        assert_eq!(
            g.preprocess.parameters["DATA_INPUT_PATH"],
            format!("{prefix}data/")
        );
        assert_eq!(g.preprocess.parameters["OUTPUT_PATH"], g.data_prefix);
        assert_eq!(
            channel_uris(&g.text_model.training)[0].1,
            format!("{prefix}preprocessed/text/train/")
        );
    }

    #[test]
    fn sources_outside_the_allow_list_are_refused() {
        let e =
            run(json!({"execution_name": "run-5", "input_data": "s3://someone-elses-data/docs/"}))
                .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SourceNotAllowed);
        assert!(
            e.message
                .starts_with("$.input_data: bucket \"someone-elses-data\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_source_inside_the_artifacts_is_refused() {
        let mut c = config();
        c.allowed_source_buckets = None;
        let input = input::parse(&json!({"execution_name": "run-6", "input_data": "s3://ensemble-artifacts/executions/run-6/data/"})).unwrap();
        let e = generate(&input, &c).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("overlaps"), "{}", e.message);
        let input = input::parse(&json!({"execution_name": "run-6", "input_data": "s3://ensemble-artifacts/executions/"})).unwrap();
        assert!(generate(&input, &c).is_err());
    }

    #[test]
    fn the_handler_returns_the_generated_object_as_json() {
        let out = handle(
            json!({"execution_name": "run-7", "input_data": "s3://raw-data/docs/"}),
            &config(),
        )
        .unwrap();
        assert!(out["text_model"]["InputDataConfig"].is_array());
        assert!(out["output_artifact_paths"]["text_model_prefix"].is_string());
        assert_eq!(out["copy"]["continuation"], Value::Null);
        let back: Generated = serde_json::from_value(out).unwrap();
        assert_eq!(back.execution_name, "run-7");
    }
}
