//! SES bounce and complaint notifications (through an SNS topic): a hard bounce or a complaint
//! suppresses the address for good; soft bounces do not.

use aws_lambda_events::sns::SnsEvent;
use doorstep_core::chrono::Utc;
use doorstep_core::notify::feedback::addresses_to_suppress;
use doorstep_core::notify::ports::NotifyStore;
use doorstep_core::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("not an SES notification: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies every notification in the batch. An unreadable one fails the invocation (SNS retries,
/// then its DLQ keeps it) rather than being dropped.
pub async fn handle(store: &dyn NotifyStore, event: SnsEvent) -> Result<usize, FeedbackError> {
    let mut suppressed = 0;
    for record in &event.records {
        let addresses = addresses_to_suppress(&record.sns.message)
            .map_err(|e| FeedbackError::Unreadable(e.to_string()))?;
        for (address, reason) in addresses {
            store.suppress_email(&address, reason, Utc::now()).await?;
            suppressed += 1;
        }
    }
    tracing::info!(suppressed, "email feedback applied");
    Ok(suppressed)
}
