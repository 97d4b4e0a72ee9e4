//! The Lambda binary: configuration and clients once, then the handler.

use aggregate_metrics::{handle, Clients, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();

    // A bad configuration is reported by every invocation (as ConfigurationError).
    let config = Config::from_env();
    if let Err(err) = &config {
        tracing::error!(error = %err, "invalid configuration");
    }

    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(shared::aws::s3_endpoint_overridden())
        .build();
    let clients = Clients {
        sagemaker: aws_sdk_sagemaker::Client::new(&sdk_config),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
    };

    let (config, clients) = (&config, &clients);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(event.payload, config, clients).await
    }))
    .await
}
