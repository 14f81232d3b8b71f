//! Lambda entry point for the schedules: clients once per cold start, then one job per invocation.

use doorstep_core::chrono::Utc;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use scheduler::{handle, App};

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(app, &event.payload, Utc::now())
                .await
                .map(|_| ())
                .map_err(Error::from)
        },
    ))
    .await
}
