//! Lambda entry point: the table once per cold start.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use preferences::{handle, App};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let store = doorstep_aws::runtime::store_wiring().await?;
    let app = App {
        store: Arc::new(store),
        brand: std::env::var("BRAND").unwrap_or_else(|_| "Doorstep".into()),
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
