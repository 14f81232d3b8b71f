//! The table's DynamoDB Stream -> milestones -> policy -> render -> SNS/SES. The stream is the
//! outbox: nothing is sent from the webhook path. A record that fails is reported as a batch item
//! failure (with the records after it, which Lambda retries in order); poison records end in the
//! DLQ after the mapping's bounded retries.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use doorstep_core::chrono::Utc;
use doorstep_core::model::{Order, Shipment};
use doorstep_core::notify::ports::{Channels, NotifyStore};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{Change, Notifier};
use doorstep_core::notify::settings::NotifySettings;
use doorstep_core::ports::Store;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub notify: Arc<dyn NotifyStore>,
    pub channels: Arc<dyn Channels>,
    pub renderer: Renderer,
    pub settings: NotifySettings,
}

#[derive(Debug)]
pub struct UnreadableRecord(pub String);

/// An image's `entity` and `doc` attributes (DynamoDB JSON: `{"doc": {"S": "..."}}`).
fn image(item: &impl serde::Serialize) -> Result<Option<(String, String)>, UnreadableRecord> {
    let value = serde_json::to_value(item).map_err(|e| UnreadableRecord(e.to_string()))?;
    let text = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.get("S"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Ok(text("entity").zip(text("doc")))
}

/// The record's entity and JSON document, old and new, from the stream images.
pub fn change_of(record: &EventRecord) -> Result<Option<Change>, UnreadableRecord> {
    if record.event_name == "REMOVE" {
        return Ok(None);
    }
    let Some((entity, new)) = image(&record.change.new_image)? else {
        return Ok(None);
    };
    let old = image(&record.change.old_image)?.map(|(_, doc)| doc);
    let parse_err = |e: serde_json::Error| UnreadableRecord(format!("{entity}: {e}"));
    Ok(match entity.as_str() {
        "shipment" => Some(Change::Shipment {
            old: old
                .as_deref()
                .map(serde_json::from_str::<Shipment>)
                .transpose()
                .map_err(parse_err)?
                .map(Box::new),
            new: Box::new(serde_json::from_str(&new).map_err(parse_err)?),
        }),
        "order" => Some(Change::Order {
            old: old
                .as_deref()
                .map(serde_json::from_str::<Order>)
                .transpose()
                .map_err(parse_err)?
                .map(Box::new),
            new: Box::new(serde_json::from_str(&new).map_err(parse_err)?),
        }),
        _ => None,
    })
}

impl App {
    /// Clients, templates and settings from the environment: once per cold start (the scheduler
    /// shares this wiring).
    pub async fn from_env() -> Result<Self, doorstep_aws::runtime::ConfigError> {
        let (store, channels, settings) = doorstep_aws::runtime::notifier_wiring().await?;
        let store = Arc::new(store);
        Ok(Self {
            store: store.clone(),
            notify: store,
            channels: Arc::new(channels),
            renderer: Renderer::new(settings.template_dir.clone(), settings.sms_max_segments),
            settings,
        })
    }

    pub fn notifier(&self) -> Notifier<'_> {
        Notifier {
            store: self.store.as_ref(),
            notify: self.notify.as_ref(),
            channels: self.channels.as_ref(),
            renderer: &self.renderer,
            settings: &self.settings,
        }
    }
}

pub async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    let notifier = app.notifier();
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let outcome = match change_of(record) {
            Ok(Some(change)) => notifier
                .process(&change, Utc::now())
                .await
                .map(|summary| {
                    tracing::info!(
                        sent = summary.sent,
                        deferred = summary.deferred,
                        suppressed = summary.suppressed,
                        skipped = summary.skipped,
                        "record notified"
                    );
                })
                .map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(UnreadableRecord(reason)) => Err(format!("unreadable record: {reason}")),
        };
        if let Err(reason) = outcome {
            tracing::error!(event_id = %record.event_id, %reason, "record failed; reporting it for retry");
            // Streams retry from the first failure onwards, in order: stop here.
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}
