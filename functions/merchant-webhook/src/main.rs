//! Lambda entry point: the HTTP client, the signing key and SQS once per cold start.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use merchant_webhook::{handle, App};
use std::sync::Arc;

// One thread: Lambda hands an execution environment one event at a time, so worker threads
// would only add their start-up to every cold start (docs/performance.md, fifth round).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (secret, sqs, queue_url) = doorstep_aws::runtime::merchant_webhook_wiring().await?;
    let app = App {
        poster: Arc::new(doorstep_outbound::HttpPoster::new()?),
        secret,
        sqs,
        queue_url,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
