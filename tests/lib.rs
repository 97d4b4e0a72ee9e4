//! Test support shared by the integration tests and the local demo.

pub mod s3_server;
