//! The Lambda entry point: tracing, one AWS config and one S3 client, then the loop.

use copy_execution_data::{handle, CopyConfig};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad configuration is reported by every invocation as ConfigurationError
    // (a stable errorType the state machine can catch), not as a failed init.
    let config = CopyConfig::from_env();
    if let Err(err) = &config {
        tracing::error!(error = %err, "invalid configuration");
    }
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut s3_config = aws_sdk_s3::config::Builder::from(&sdk_config);
    if shared::aws::s3_endpoint_overridden() {
        // A local S3-compatible server has no virtual-host DNS.
        s3_config = s3_config.force_path_style(true);
    }
    let s3 = aws_sdk_s3::Client::from_conf(s3_config.build());

    let s3 = &s3;
    let config = &config;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let config = config
            .as_ref()
            .map_err(|err| Diagnostic::from(err.clone()))?;
        let deadline = event.context.deadline();
        handle(s3, config, event.payload, deadline)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
