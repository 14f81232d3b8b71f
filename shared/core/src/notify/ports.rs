//! What the notifier needs from storage and from the channels. Adapters: DynamoDB + SNS/SES
//! (`doorstep-aws`), SQLite + a file outbox (`doorstep-embedded`).

use super::keys::MessageKey;
use super::messages::{Kind, Message};
use super::milestones::Milestone;
use super::policy::Suppressions;
use super::settings::Channel;
use crate::ids::{CustomerId, OrderId, TrackingNumber};
use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The outcome of claiming a message's idempotency record (`{shipment}#{milestone}#{channel}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This worker owns the send until the lease ends.
    Claimed,
    /// Sent before: never again.
    AlreadySent,
    /// Another worker holds the lease until then (it may have died): try again after it.
    InProgress { until: DateTime<Utc> },
    /// No record, and none taken ([`NotifyStore::check`]): the caller is the only worker
    /// deciding the message, so it sends, and `finish` writes the record.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Sent,
    Deferred,
    Suppressed,
    Failed,
}

/// One decision, as the message log keeps it (and `GET /api/outbox` shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredLogEntry")]
pub struct LogEntry {
    pub key: MessageKey,
    pub customer_id: CustomerId,
    pub channel: Channel,
    /// Address or number; `None` when the customer has none on that channel.
    pub to: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub html: Option<String>,
    pub kind: Kind,
    /// Which message it is (`shipped`, `order_confirmed`, …).
    pub message: Message,
    /// The shipping milestone it announces, for shipping messages.
    pub milestone: Option<Milestone>,
    pub order_id: Option<OrderId>,
    pub tracking_number: Option<TrackingNumber>,
    pub locale: String,
    pub state: State,
    pub send_after: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub provider_message_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// A log entry as stored, including those written before entries named their message (then the
/// milestone names it).
#[derive(Deserialize)]
struct StoredLogEntry {
    key: MessageKey,
    customer_id: CustomerId,
    channel: Channel,
    to: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    html: Option<String>,
    kind: Kind,
    message: Option<Message>,
    milestone: Option<Milestone>,
    order_id: Option<OrderId>,
    tracking_number: Option<TrackingNumber>,
    locale: String,
    state: State,
    send_after: Option<DateTime<Utc>>,
    reason: Option<String>,
    provider_message_id: Option<String>,
    at: DateTime<Utc>,
}

impl From<StoredLogEntry> for LogEntry {
    fn from(stored: StoredLogEntry) -> Self {
        Self {
            message: stored.message.unwrap_or(stored.key.occasion.message),
            key: stored.key,
            customer_id: stored.customer_id,
            channel: stored.channel,
            to: stored.to,
            subject: stored.subject,
            body: stored.body,
            html: stored.html,
            kind: stored.kind,
            milestone: stored.milestone,
            order_id: stored.order_id,
            tracking_number: stored.tracking_number,
            locale: stored.locale,
            state: stored.state,
            send_after: stored.send_after,
            reason: stored.reason,
            provider_message_id: stored.provider_message_id,
            at: stored.at,
        }
    }
}

/// A message held back (quiet hours, or a claim another worker holds), to be decided again, from
/// fresh records, when due. Its key says what it is about, which message and which channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    pub key: MessageKey,
    pub due: DateTime<Utc>,
    /// Failed attempts to carry it out so far; after a few it is set aside as a dead letter.
    #[serde(default)]
    pub attempts: u32,
}

/// Work that kept failing, set aside with its reason so it stops blocking anything: a stream
/// record, a change of the local feed, a deferred send. It can be looked at and put back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// `stream_record`, `change` or `deferred_send`.
    pub source: String,
    /// The work's own id (a stream event id, a change's sequence number, a message key).
    pub reference: String,
    pub error: String,
    pub attempts: u32,
    /// Everything needed to do the work again.
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn set_aside(&self, letter: &DeadLetter) -> Result<(), StoreError>;
}

#[async_trait]
pub trait NotifyStore: Send + Sync {
    /// Takes the idempotency record: created as in progress until `lease_until`, or taken over
    /// if a previous holder's lease expired without completing.
    async fn claim(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;
    /// For a message only one worker can be deciding (one item's change, which the stream hands
    /// to one invocation at a time): whether it was sent before or is held, without taking it.
    /// `Open` when there is no record: nothing is written until `finish` records the send, so
    /// a crash before that sends it again, as with a claim whose lease ran out. A record held by
    /// another worker is taken over as `claim` would. A store whose claim costs no more than a
    /// read claims instead (the default).
    async fn check(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.claim(key, lease_until, now).await
    }
    /// Completes the claim (after `Open`, writes the record) and logs what became of the
    /// message (sent, or refused for good), in one transaction where the store has them. The
    /// claim is completed first, so that a crash right after a provider accepted the message
    /// cannot send it again.
    async fn finish(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records the outcome of a message that needs no send (suppressed): taken as `claim` takes
    /// it and completed as `finish` completes it. A store that can do both in one conditional
    /// write should (DynamoDB: one write unit instead of two); the answer is `claim`'s.
    async fn settle(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let claim = self.claim(key, lease_until, now).await?;
        if claim == Claim::Claimed {
            self.finish(key, entry, now).await?;
        }
        Ok(claim)
    }
    /// Completes a claim as `finish` does, and records with it `beside`: the same occasion's
    /// decisions on other channels that need no send (suppressed), which would otherwise each
    /// be settled on a record of their own. Answers how many of them it recorded. A store that
    /// can keep them on the completed claim should (DynamoDB: no write of their own); they then
    /// hold no claim of their own, and the notifier takes the message's as theirs (a later
    /// decision of the occasion that finds it sent skips them). The default settles each as
    /// `settle` does.
    async fn finish_beside(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        beside: &[LogEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.finish(key, entry, now).await?;
        let mut recorded = 0;
        for other in beside {
            // Completed at once, so the lease never matters.
            if self.settle(&other.key, other, now, now).await? == Claim::Claimed {
                recorded += 1;
            }
        }
        Ok(recorded)
    }
    /// Gives a claim back after a failed send, so the retry can take it at once.
    async fn release(&self, key: &MessageKey) -> Result<(), StoreError>;
    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError>;
    async fn defer(&self, deferred: &Deferred) -> Result<(), StoreError>;
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Deferred>, StoreError>;
    async fn remove_deferred(&self, deferred: &Deferred) -> Result<(), StoreError>;
    async fn suppressions(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Suppressions, StoreError>;
    async fn suppress_email(
        &self,
        address: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn opt_out_sms(&self, phone: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The occasions (`Occasion` in its stored form) of marketing messages sent to the customer
    /// since `since`, one per channel sent (the marketing cap counts them).
    async fn marketing_sent_since(
        &self,
        customer: &CustomerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError>;
}

/// A rendered message ready for a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub channel: Channel,
    pub to: String,
    pub subject: Option<String>,
    /// SMS text, or the email's text part.
    pub body: String,
    pub html: Option<String>,
    pub kind: Kind,
    /// RFC 8058 one-click unsubscribe URL (marketing mail).
    pub unsubscribe_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Rate limited, or the service failed transiently: retry later.
    #[error("channel throttled or unavailable: {0}")]
    Retryable(String),
    /// The channel refused this message for good (invalid number, suppressed address).
    #[error("channel rejected the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Channels: Send + Sync {
    /// Sends one message and returns the provider's message id.
    async fn send(&self, message: &Outgoing) -> Result<String, SendError>;
}
