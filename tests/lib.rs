//! Test support shared by the integration tests and the local demo: local servers
//! that speak the real AWS wire protocols, so tests use the real SDK clients over HTTP.

pub mod asl;
pub mod background;
pub mod fault_proxy;
pub mod lambda_runtime_api;
pub mod s3_server;
pub mod sagemaker_server;
pub mod sample_data;
pub mod sns_server;
