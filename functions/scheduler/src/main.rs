//! Lambda entry point for the every-minute schedule.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use doorstep_core::chrono::Utc;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use scheduler::{handle, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<EventBridgeEvent>| async move {
            handle(app, Utc::now())
                .await
                .map(|_| ())
                .map_err(Error::from)
        },
    ))
    .await
}
