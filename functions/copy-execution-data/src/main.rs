//! The Lambda entry point: tracing, one AWS config and one S3 client, then the loop.

use copy_execution_data::{handle, s3_client, CopyConfig};
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
    // The retry policy comes from the configuration; with a bad configuration every
    // invocation fails before any S3 call, so the defaults are as good as any.
    let (retry, concurrency) = config
        .as_ref()
        .map(|c| (c.s3_retry, c.copy_concurrency))
        .unwrap_or((
            Default::default(),
            copy_execution_data::config::DEFAULT_CONCURRENCY,
        ));
    // A local S3-compatible server has no virtual-host DNS.
    let s3 = s3_client(
        &sdk_config,
        &retry,
        concurrency,
        shared::aws::s3_endpoint_overridden(),
    );

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
