//! Lambda entry point: wire the clients and secrets once per cold start, then serve events.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use store_webhook::{handle, App};

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (store, config) = doorstep_aws::runtime::webhook_wiring().await?;
    let app = App {
        store: Arc::new(store),
        config,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
