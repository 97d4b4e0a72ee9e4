//! Payload types, error names and pure logic shared by the ensemble-training Lambdas.
//!
//! Nothing here performs I/O: the functions fetch, call and store; this crate decides.

pub mod aws;
pub mod copy;
pub mod error;
pub mod generated;
pub mod hyperparameters;
pub mod json;
pub mod naming;
pub mod report;
pub mod s3uri;

pub use error::{ErrorKind, FunctionError};
