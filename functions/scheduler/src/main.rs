//! Lambda entry point for the every-minute schedule.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use doorstep_core::chrono::Utc;
use doorstep_core::notify::render::Renderer;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use scheduler::{handle, App};
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
