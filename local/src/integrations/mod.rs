//! The services a Task state calls, run locally: Lambda functions as processes behind
//! a local Runtime API, SageMaker training and batch transform as local processes
//! under SageMaker's container contract (against an S3 endpoint), SNS into an outbox
//! file, Batch jobs as local commands, and mocked responses in Step Functions Local's
//! MockConfigFile format.

pub mod batch;
pub mod eventbridge;
pub mod http_server;
pub mod lambda;
pub mod mock;
pub mod router;
pub mod sagemaker;
pub mod sns;
pub mod sns_api;
