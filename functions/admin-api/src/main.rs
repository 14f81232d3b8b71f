//! Lambda entry point: the table, the admin token (SSM) and the notifier's wiring (for running
//! jobs by hand) once per cold start.

use admin_api::{handle, App};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (store, admin_token) = doorstep_aws::runtime::admin_wiring().await?;
    let app = App {
        store: Arc::new(store),
        admin_token,
        jobs: Arc::new(notifier::App::from_env().await?),
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
