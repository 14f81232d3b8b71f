//! Lambda entry point: clients, templates and settings once per cold start, then stream batches.

use aws_lambda_events::dynamodb::Event;
use doorstep_core::notify::render::Renderer;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use notifier::{handle, App};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    doorstep_aws::runtime::init_tracing();
    let (store, channels, settings) = doorstep_aws::runtime::notifier_wiring().await?;
    let store = Arc::new(store);
    let app = App {
        store: store.clone(),
        notify: store,
        channels: Arc::new(channels),
        renderer: Renderer::new(settings.template_dir.clone(), settings.sms_max_segments),
        settings,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
