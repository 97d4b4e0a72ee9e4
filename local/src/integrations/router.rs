//! Sends each Task to the integration that runs its `Resource`; a resource no
//! configured integration runs fails the task with an error that names the ones
//! this runner supports.

use std::sync::Arc;

use serde_json::Value;

use super::batch::JobDefinitions;
use super::lambda::LambdaPool;
use super::sagemaker::LocalSageMaker;
use super::sns::Outbox;
use crate::asl::AslError;
use crate::engine::{BoxFuture, TaskRequest, TaskRunner};

/// The error of a task whose resource this runner cannot run (a task error: Catch
/// and `States.TaskFailed` see it, as they would an integration's own failure).
pub const UNSUPPORTED_RESOURCE: &str = "SfnLocal.UnsupportedResource";

/// The resources sfn-local runs, for error messages and the README.
pub const SUPPORTED: &[&str] = &[
    "arn:aws:states:::lambda:invoke",
    "arn:aws:lambda:<region>:<account>:function:<name> (a plain function ARN)",
    "arn:aws:states:::sagemaker:createTrainingJob[.sync]",
    "arn:aws:states:::sagemaker:createModel",
    "arn:aws:states:::sagemaker:createTransformJob[.sync]",
    "arn:aws:states:::sns:publish",
    "arn:aws:states:::batch:submitJob.sync",
];

/// The integrations of one run; those left `None` are not configured.
#[derive(Default)]
pub struct Router {
    pub lambda: Option<Arc<LambdaPool>>,
    pub sagemaker: Option<LocalSageMaker>,
    pub sns: Option<Arc<Outbox>>,
    pub batch: Option<Arc<JobDefinitions>>,
}

/// Which integration a resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    LambdaOptimized,
    LambdaArn,
    SageMaker,
    Sns,
    Batch,
}

/// The integration of `resource`, if sfn-local has one.
pub fn target(resource: &str) -> Option<Target> {
    match resource {
        "arn:aws:states:::lambda:invoke" => Some(Target::LambdaOptimized),
        "arn:aws:states:::sns:publish" => Some(Target::Sns),
        "arn:aws:states:::batch:submitJob.sync" => Some(Target::Batch),
        r if LocalSageMaker::handles(r) => Some(Target::SageMaker),
        r if r.starts_with("arn:aws:lambda:") && r.contains(":function:") => {
            Some(Target::LambdaArn)
        }
        _ => None,
    }
}

fn not_configured(request: &TaskRequest, what: &str) -> AslError {
    AslError::new(
        UNSUPPORTED_RESOURCE,
        format!(
            "state {:?}: {} needs {what}, which this run has not configured",
            request.state_name, request.resource
        ),
    )
}

impl TaskRunner for Router {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        Box::pin(async move {
            match target(&request.resource) {
                Some(Target::LambdaOptimized) => match &self.lambda {
                    Some(pool) => pool.invoke_optimized(request.parameters).await,
                    None => Err(not_configured(&request, "Lambda functions")),
                },
                Some(Target::LambdaArn) => match &self.lambda {
                    Some(pool) => pool.invoke(&request.resource, request.parameters).await,
                    None => Err(not_configured(&request, "Lambda functions")),
                },
                Some(Target::SageMaker) => match &self.sagemaker {
                    Some(sagemaker) => {
                        sagemaker
                            .invoke(&request.resource, request.parameters)
                            .await
                    }
                    None => Err(not_configured(&request, "the local SageMaker")),
                },
                Some(Target::Sns) => match &self.sns {
                    Some(outbox) => outbox.publish(request.parameters).await,
                    None => Err(not_configured(&request, "an SNS outbox")),
                },
                Some(Target::Batch) => match &self.batch {
                    Some(jobs) => jobs.submit_job_sync(request.parameters).await,
                    None => Err(not_configured(&request, "Batch job definitions")),
                },
                None => Err(AslError::new(
                    UNSUPPORTED_RESOURCE,
                    format!(
                        "state {:?}: sfn-local does not run the resource {:?}; it runs: {}",
                        request.state_name,
                        request.resource,
                        SUPPORTED.join("; ")
                    ),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(resource: &str) -> TaskRequest {
        TaskRequest {
            state_name: "S".into(),
            resource: resource.into(),
            parameters: json!({}),
            context: json!({}),
            retry_count: 0,
            timeout: None,
        }
    }

    #[test]
    fn resources_go_to_their_integration() {
        assert_eq!(
            target("arn:aws:states:::lambda:invoke"),
            Some(Target::LambdaOptimized)
        );
        assert_eq!(
            target("arn:aws:lambda:us-east-1:123456789012:function:generate-config"),
            Some(Target::LambdaArn)
        );
        assert_eq!(
            target("arn:aws:states:::sagemaker:createTrainingJob.sync"),
            Some(Target::SageMaker)
        );
        assert_eq!(
            target("arn:aws:states:::sagemaker:createModel"),
            Some(Target::SageMaker)
        );
        assert_eq!(target("arn:aws:states:::sns:publish"), Some(Target::Sns));
        assert_eq!(
            target("arn:aws:states:::batch:submitJob.sync"),
            Some(Target::Batch)
        );
        assert_eq!(target("arn:aws:states:::dynamodb:putItem"), None);
    }

    #[tokio::test]
    async fn an_unsupported_resource_names_the_supported_ones() {
        let err = Router::default()
            .run(request("arn:aws:states:::dynamodb:putItem"))
            .await
            .unwrap_err();
        assert_eq!(err.error, UNSUPPORTED_RESOURCE);
        assert!(err.cause.contains("dynamodb:putItem"), "{}", err.cause);
        assert!(
            err.cause.contains("arn:aws:states:::sns:publish"),
            "{}",
            err.cause
        );
    }

    #[tokio::test]
    async fn an_unconfigured_integration_says_what_is_missing() {
        let err = Router::default()
            .run(request("arn:aws:states:::sns:publish"))
            .await
            .unwrap_err();
        assert_eq!(err.error, UNSUPPORTED_RESOURCE);
        assert!(err.cause.contains("an SNS outbox"), "{}", err.cause);
    }
}
