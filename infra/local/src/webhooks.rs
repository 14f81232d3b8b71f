//! Delivers the merchant webhooks the notifier queued (the local stand-in for the SQS queue and
//! the merchant-webhook Lambda): signed POSTs, retried with backoff, set aside as dead letters
//! after the last try.

use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::merchant_webhook::{self, Poster, MAX_ATTEMPTS};
use doorstep_core::notify::ports::DeadLetter;
use doorstep_core::ports::StoreError;
use doorstep_core::secrets::Secret;
use doorstep_embedded::SqliteStore;
use std::sync::Arc;

/// The dead-letter source of a webhook that failed its last try.
pub const DEAD_LETTER_SOURCE: &str = "merchant_webhook";

pub struct WebhookWorker {
    pub store: Arc<SqliteStore>,
    pub poster: Arc<dyn Poster>,
    pub secret: Option<Secret>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSummary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

impl WebhookWorker {
    /// Tries every webhook that is due.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<WebhookSummary, StoreError> {
        let mut summary = WebhookSummary::default();
        for queued in self.store.due_webhooks(now, 50)? {
            let outcome = merchant_webhook::deliver(
                &*self.poster,
                self.secret.as_ref(),
                &queued.delivery,
                now,
            )
            .await;
            let attempts = queued.attempts.saturating_add(1);
            match outcome {
                Ok(()) => {
                    self.store.webhook_delivered(&queued.key)?;
                    tracing::info!(attempts, "merchant webhook delivered");
                    summary.delivered += 1;
                }
                Err(e) if attempts >= MAX_ATTEMPTS => {
                    tracing::error!(attempts, error = %e, "merchant webhook set aside as a dead letter");
                    self.store.webhook_dead(&DeadLetter {
                        source: DEAD_LETTER_SOURCE.into(),
                        reference: queued.key.clone(),
                        error: e.to_string(),
                        attempts,
                        payload: serde_json::to_value(&queued.delivery)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        at: now,
                    })?;
                    summary.dead += 1;
                }
                Err(e) => {
                    let next = now + merchant_webhook::backoff(attempts);
                    tracing::warn!(attempts, error = %e, next = %next, "merchant webhook failed; will retry");
                    self.store
                        .webhook_failed(&queued.key, attempts, next, &e.to_string())?;
                    summary.retrying += 1;
                }
            }
        }
        Ok(summary)
    }
}
