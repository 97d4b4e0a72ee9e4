//! The integration tests: one crate, one module per area.

mod aggregate_metrics;
mod contracts;
mod copy_execution_data;
mod copy_faults;
mod ensemble;
mod error_names;
mod format_failure;
mod generate_config;
mod lambda_binaries;
mod s3_smoke;
mod sfn_local_run;
mod state_machine;
mod template;
