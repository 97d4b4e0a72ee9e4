use format_failure::{handle, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    // aws-config honours AWS_ENDPOINT_URL_SNS, so local runs can point at a test server.
    let sns = aws_sdk_sns::Client::new(&aws);
    // A bad configuration is reported by every invocation as ConfigurationError (which
    // Step Functions can match) rather than as an opaque init failure.
    let config = Config::from_env();
    if let Err(error) = &config {
        tracing::error!(error = %error, "invalid configuration");
    }
    let (config, sns) = (&config, &sns);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let config = config.as_ref().map_err(Clone::clone)?;
        handle(event.payload, config, sns).await
    }))
    .await
}
