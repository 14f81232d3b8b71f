//! Delivers the merchant webhooks the notifier queued. Each SQS record is one webhook: a 2xx
//! from the merchant deletes it; anything else leaves it on the queue (a batch-item failure),
//! pushed back by the backoff for its receive count. After the queue's `maxReceiveCount` it
//! moves to the dead-letter queue, which raises an alarm: a webhook is never dropped.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use doorstep_core::chrono::Utc;
use doorstep_core::merchant_webhook::{self, Delivery, Poster};
use doorstep_core::secrets::Secret;
use std::sync::Arc;

/// SQS's ceiling on a message's visibility timeout (12 hours).
const MAX_VISIBILITY_S: i64 = 43_200;

pub struct App {
    pub poster: Arc<dyn Poster>,
    pub secret: Option<Secret>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(id) = record.message_id.clone() else {
            continue;
        };
        if !deliver(app, &record).await {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Whether the record's webhook was delivered.
async fn deliver(app: &App, record: &SqsMessage) -> bool {
    let receives: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let delivery: Delivery = match serde_json::from_str(record.body.as_deref().unwrap_or_default())
    {
        Ok(delivery) => delivery,
        Err(e) => {
            // Not ours to fix by retrying; left to reach the dead-letter queue and its alarm.
            tracing::error!(error = %e, receives, "unreadable merchant webhook record");
            return false;
        }
    };
    match merchant_webhook::deliver(&*app.poster, app.secret.as_ref(), &delivery, Utc::now()).await
    {
        Ok(()) => {
            tracing::info!(receives, "merchant webhook delivered");
            true
        }
        Err(e) => {
            let wait = merchant_webhook::backoff(receives)
                .num_seconds()
                .clamp(0, MAX_VISIBILITY_S);
            tracing::warn!(receives, error = %e, retry_in_s = wait, "merchant webhook failed; will retry");
            if let Some(handle) = &record.receipt_handle {
                let pushed = app
                    .sqs
                    .change_message_visibility()
                    .queue_url(&app.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(i32::try_from(wait).unwrap_or(i32::MAX))
                    .send()
                    .await;
                if let Err(e) = pushed {
                    // It still comes back after the queue's own visibility timeout.
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "backoff not set");
                }
            }
            false
        }
    }
}
