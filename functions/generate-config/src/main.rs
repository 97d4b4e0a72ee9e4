use generate_config::{handle, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting is reported on every invocation as ConfigurationError (a typed
    // error the state machine catches) rather than crashing the init phase.
    let config = Config::from_env();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let config = config.clone();
        async move { config.and_then(|config| handle(event.payload, &config)) }
    }))
    .await
}
