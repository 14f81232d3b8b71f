//! The table's DynamoDB Stream -> milestones -> policy -> render -> SNS/SES. The stream is the
//! outbox: nothing is sent from the webhook path. A record that fails for a passing reason
//! (storage or a channel down) is reported as a batch item failure, so Lambda retries it (and the
//! records after it) in order. A record that fails for a reason of its own (unreadable) is
//! counted, and on its third failure set aside in the dead-letter queue with the reason, so it
//! never holds up the shard for long.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use doorstep_aws::dead_letters::FailureCounter;
use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::model::{Order, Shipment};
use doorstep_core::notify::ports::{Channels, DeadLetter, DeadLetters, NotifyStore};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{Change, Notifier};
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub notify: Arc<dyn NotifyStore>,
    pub channels: Arc<dyn Channels>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub failures: Arc<dyn FailureCounter>,
    pub renderer: Renderer,
    pub settings: Settings,
}

/// A record failing for a reason of its own is set aside on this failure.
pub const POISON_ATTEMPTS: u32 = 3;

#[derive(Debug)]
pub struct UnreadableRecord(pub String);

/// Which entity a table item is, and its JSON document (deflated when large; see
/// `doorstep_aws::document`).
fn image(item: &serde_dynamo::Item) -> Result<Option<(String, String)>, UnreadableRecord> {
    let entity = match item.get("entity") {
        Some(serde_dynamo::AttributeValue::S(entity)) => entity.clone(),
        _ => return Ok(None),
    };
    let doc = match item.get("doc") {
        Some(serde_dynamo::AttributeValue::S(text)) => text.clone(),
        Some(serde_dynamo::AttributeValue::B(bytes)) => doorstep_aws::document::inflate(bytes)
            .map_err(|e| UnreadableRecord(format!("{entity}: {e}")))?,
        _ => return Ok(None),
    };
    Ok(Some((entity, doc)))
}

fn document<T: serde::de::DeserializeOwned>(
    entity: &str,
    doc: &str,
) -> Result<Box<T>, UnreadableRecord> {
    serde_json::from_str(doc)
        .map(Box::new)
        .map_err(|e| UnreadableRecord(format!("{entity}: {e}")))
}

/// The record's change, old and new, from the stream images; `None` for what the notifier does
/// not watch.
pub fn change_of(record: &EventRecord) -> Result<Option<Change>, UnreadableRecord> {
    if record.event_name == "REMOVE" {
        return Ok(None);
    }
    let Some((entity, new)) = image(&record.change.new_image)? else {
        return Ok(None);
    };
    let old = image(&record.change.old_image)?.map(|(_, doc)| doc);
    Ok(match entity.as_str() {
        "shipment" => Some(Change::Shipment {
            old: old
                .as_deref()
                .map(|doc| document::<Shipment>(&entity, doc))
                .transpose()?,
            new: document(&entity, &new)?,
        }),
        "order" => Some(Change::Order {
            old: old
                .as_deref()
                .map(|doc| document::<Order>(&entity, doc))
                .transpose()?,
            new: document(&entity, &new)?,
        }),
        "loyalty" => Some(Change::Account {
            old: old
                .as_deref()
                .map(|doc| document::<doorstep_core::loyalty::Account>(&entity, doc))
                .transpose()?,
            new: document(&entity, &new)?,
        }),
        "subscription" => Some(Change::Subscription {
            old: old
                .as_deref()
                .map(|doc| document::<doorstep_core::subscriptions::Subscription>(&entity, doc))
                .transpose()?,
            new: document(&entity, &new)?,
        }),
        "review" => Some(Change::Review {
            old: old
                .as_deref()
                .map(|doc| document::<doorstep_core::reviews::Review>(&entity, doc))
                .transpose()?,
            new: document(&entity, &new)?,
        }),
        _ => None,
    })
}

impl App {
    /// Clients, templates and settings from the environment: once per cold start (the scheduler
    /// shares this wiring).
    pub async fn from_env() -> Result<Self, doorstep_aws::runtime::ConfigError> {
        let (store, channels, dead_letters, settings) =
            doorstep_aws::runtime::notifier_wiring().await?;
        let store = Arc::new(store);
        Ok(Self {
            store: store.clone(),
            notify: store.clone(),
            failures: store,
            channels: Arc::new(channels),
            dead_letters: Arc::new(dead_letters),
            renderer: Renderer::new(settings.template_dir.clone(), settings.sms_max_segments),
            settings,
        })
    }

    pub fn notifier(&self) -> Notifier<'_> {
        doorstep_core::notify::service::NotifierSource::notifier(self)
    }
}

impl doorstep_core::notify::service::NotifierSource for App {
    fn notifier(&self) -> Notifier<'_> {
        Notifier {
            store: self.store.as_ref(),
            notify: self.notify.as_ref(),
            channels: self.channels.as_ref(),
            dead_letters: self.dead_letters.as_ref(),
            renderer: &self.renderer,
            settings: &self.settings,
        }
    }
}

/// Why a record was not notified, and whether trying again could help.
struct Failure {
    reason: String,
    transient: bool,
}

async fn notify_record(
    notifier: &Notifier<'_>,
    record: &EventRecord,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let change = change_of(record).map_err(|UnreadableRecord(reason)| Failure {
        reason: format!("unreadable record: {reason}"),
        transient: false,
    })?;
    let Some(change) = change else {
        return Ok(());
    };
    let summary = notifier.process(&change, now).await.map_err(|e| Failure {
        reason: e.to_string(),
        transient: e.is_transient(),
    })?;
    tracing::info!(
        sent = summary.sent,
        deferred = summary.deferred,
        suppressed = summary.suppressed,
        skipped = summary.skipped,
        "record notified"
    );
    Ok(())
}

/// Counts a poison record's failure; on the last allowed one, sets it aside. Ok(true) when it
/// was set aside (the shard may move on).
async fn set_aside_if_poison(
    app: &App,
    record: &EventRecord,
    failure: &Failure,
    now: DateTime<Utc>,
) -> Result<bool, doorstep_core::ports::StoreError> {
    let attempts = app.failures.count_failure(&record.event_id, now).await?;
    if attempts < POISON_ATTEMPTS {
        return Ok(false);
    }
    let letter = DeadLetter {
        source: "stream_record".into(),
        reference: record.event_id.clone(),
        error: failure.reason.clone(),
        attempts,
        payload: serde_json::to_value(record).unwrap_or_default(),
        at: now,
    };
    app.dead_letters.set_aside(&letter).await?;
    Ok(true)
}

pub async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    handle_at(app, event, Utc::now()).await
}

/// [`handle`] at a given time (the simulator's virtual clock).
pub async fn handle_at(app: &App, event: Event, now: DateTime<Utc>) -> DynamoDbEventResponse {
    let notifier = app.notifier();
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let Err(failure) = notify_record(&notifier, record, now).await else {
            continue;
        };
        if !failure.transient {
            match set_aside_if_poison(app, record, &failure, now).await {
                Ok(true) => {
                    tracing::error!(event_id = %record.event_id, reason = %failure.reason, "record failed for good; set aside in the dead-letter queue");
                    continue;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not count the record's failure"),
            }
        }
        tracing::error!(event_id = %record.event_id, reason = %failure.reason, "record failed; reporting it for retry");
        // Streams retry from the first failure onwards, in order: stop here.
        let mut item = DynamoDbBatchItemFailure::default();
        item.item_identifier = record.change.sequence_number.clone();
        response.batch_item_failures.push(item);
        break;
    }
    response
}
