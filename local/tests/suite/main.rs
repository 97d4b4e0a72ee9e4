//! sfn-local's integration tests: one test crate (one link step), one module per
//! area. The trainer scripts and fixtures they use live in `local/tests/`.

mod support;

mod cli;
mod engine;
mod engine_errors;
mod engine_map;
mod engine_parallel;
mod engine_retry_catch;
mod lambda;
mod mock;
mod sagemaker;
mod sagemaker_api;
mod sns_api;
