//! sfn-local: an Amazon States Language interpreter that runs state machines on one
//! machine, with local integrations (Lambda binaries, S3, SageMaker training and
//! batch transform under SageMaker's container contract, SNS, Batch).

pub mod asl;
pub mod cli;
pub mod cost;
pub mod definition;
pub mod engine;
pub mod graph;
pub mod history;
pub mod integrations;
pub mod lint;
pub mod project;
pub mod run;
mod util;
