//! Lambda entry point: the table and the settings once per cold start.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use tracking_page::{handle, App};

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (store, settings) = doorstep_aws::runtime::store_and_settings().await?;
    let app = App {
        store: Arc::new(store),
        settings,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
