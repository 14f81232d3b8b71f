//! Every minute (EventBridge): send what quiet hours held back and is now due.
//! A failure is returned as an error so the invocation is retried; nothing due is removed
//! until it was handled.

use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::notify::service::{NotifyError, Summary};

pub use notifier::App;

pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Summary, NotifyError> {
    let summary = app.notifier().process_due(now).await?;
    tracing::info!(
        sent = summary.sent,
        deferred = summary.deferred,
        suppressed = summary.suppressed,
        "deferred sends processed"
    );
    Ok(summary)
}
