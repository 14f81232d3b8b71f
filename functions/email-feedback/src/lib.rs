//! SES bounce and complaint notifications (through an SNS topic): a hard bounce or a complaint
//! suppresses the address for good; soft bounces do not.

use aws_lambda_events::sns::SnsEvent;
use doorstep_core::chrono::Utc;
use doorstep_core::notify::ports::NotifyStore;
use doorstep_core::ports::StoreError;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The addresses a notification says never to mail again, with why.
pub fn addresses_to_suppress(
    message: &str,
) -> Result<Vec<(String, &'static str)>, serde_json::Error> {
    let notification: Notification = serde_json::from_str(message)?;
    let kind = notification
        .notification_type
        .or(notification.event_type)
        .unwrap_or_default();
    Ok(match kind.as_str() {
        "Bounce" => notification
            .bounce
            .filter(|b| b.bounce_type.as_deref() == Some("Permanent"))
            .map(|b| {
                b.bounced_recipients
                    .into_iter()
                    .map(|r| (r.email_address, "hard bounce"))
                    .collect()
            })
            .unwrap_or_default(),
        "Complaint" => notification
            .complaint
            .map(|c| {
                c.complained_recipients
                    .into_iter()
                    .map(|r| (r.email_address, "complaint"))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    })
}

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
