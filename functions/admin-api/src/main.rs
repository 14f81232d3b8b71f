//! Lambda entry point: the table, the admin token (SSM) and the settings once per cold start; the
//! notifier's wiring (for running jobs by hand) on the first job route.

use admin_api::{handle, App};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use doorstep_core::admin::Jobs;
use doorstep_core::notify::service::Notifier;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

/// The notifier's SNS, SES and SQS clients, built when a job route first needs them: most calls
/// only read records.
#[derive(Default)]
struct JobsOnFirstUse(tokio::sync::OnceCell<notifier::App>);

#[async_trait::async_trait]
impl Jobs for JobsOnFirstUse {
    async fn notifier(&self) -> Result<Notifier<'_>, String> {
        let app = self
            .0
            .get_or_try_init(notifier::App::from_env)
            .await
            .map_err(|e| e.to_string())?;
        Ok(app.notifier())
    }
}

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (store, admin_token) = doorstep_aws::runtime::admin_wiring().await?;
    let app = App {
        store: Arc::new(store),
        admin_token,
        settings: doorstep_aws::runtime::settings()?,
        jobs: Arc::new(JobsOnFirstUse::default()),
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
