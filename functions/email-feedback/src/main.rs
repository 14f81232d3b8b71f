//! Lambda entry point: SES feedback notifications delivered by SNS.

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let store = doorstep_aws::runtime::store_wiring().await?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        email_feedback::handle(store, event.payload)
            .await
            .map(|_| ())
            .map_err(Error::from)
    }))
    .await
}
