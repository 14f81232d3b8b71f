//! Dead letters on AWS: the notification dead-letter queue (SQS), whose depth raises the stack's
//! alarm; and the count of failures per stream record that decides when one is set aside.

use crate::dynamo::{n, s, unavailable, DynamoStore};
use crate::on_first_use::OnFirstUse;
use async_trait::async_trait;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::notify::ports::{DeadLetter, DeadLetters};
use doorstep_core::ports::StoreError;

/// Sends each dead letter, as JSON, to the queue. A stream record's letter carries the record
/// itself in `payload`, so `{"Records": [payload]}` replays it through the notifier.
pub struct SqsDeadLetters {
    pub client: OnFirstUse<aws_sdk_sqs::Client>,
    pub queue_url: String,
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn set_aside(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let body = serde_json::to_string(letter).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .get()
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "dead-letter queue: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(())
    }
}

/// Counts failures of one piece of work across invocations (Lambda redelivers a failed stream
/// record to whichever execution environment it likes).
#[async_trait]
pub trait FailureCounter: Send + Sync {
    /// Records one more failure of `work` and returns how many there have been.
    async fn count_failure(&self, work: &str, now: DateTime<Utc>) -> Result<u32, StoreError>;
}

/// How long a failure count is kept: longer than the stream keeps retrying a record.
const FAILURE_COUNT_TTL_DAYS: i64 = 2;

#[async_trait]
impl FailureCounter for DynamoStore {
    async fn count_failure(&self, work: &str, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let ttl = now
            .checked_add_signed(Duration::days(FAILURE_COUNT_TTL_DAYS))
            .unwrap_or(now)
            .timestamp();
        let output = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("FAIL#{work}")))
            .key("sk", s("FAIL"))
            .update_expression("ADD attempts :one SET #ttl = :ttl, entity = :entity")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":entity", s("failure_count"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .attributes()
            .and_then(|a| a.get("attempts"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1))
    }
}
