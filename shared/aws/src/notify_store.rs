//! The notifier's `NotifyStore` port on the same DynamoDB table.
//!
//! Items (pk / sk):
//! - `MSG#{key}` / `CLAIM`: the idempotency record: `state` (`in_progress` | `completed`),
//!   `lease_until`, `ttl` (a completed record is kept 90 days); once completed it also holds the
//!   message's log entry (`doc`, `customer`, `at`): one write completes and logs it, and, in
//!   `beside`, the same occasion's suppressed channels (`[{"channel", "to", "reason"}]`: the
//!   rest of their entries is the claim's own; [`beside_entries`] reads them back), which
//!   then cost no write of their own. A message only one worker can be deciding is never
//!   claimed: `check` reads the record and the completing write makes it (no `lease_until`)
//! - `CUST#{customer}` / `LOG#{key}#{state}`: decisions that complete nothing (deferred, a send
//!   that will be retried)
//!
//! Log entries on DynamoDB keep what was decided, to whom, and why, not the rendered subject
//! and bodies: those are the templates' output for the record, rendered again when needed, and
//! at one to five kilobytes each they were most of the table's writes.
//! - `DEFER#{YYYY-MM-DDTHH:MM}` / `{key}`: a deferred send in its due minute's bucket;
//!   `SCHED#deferred` / `CURSOR` holds `pending`, the set of minutes whose buckets may still
//!   hold work, so the schedule reads one item when nothing is due and writes nothing (a
//!   `minute` cursor left by an older version is walked once and removed)
//! - `SUPPRESS#email#{address}` and `SUPPRESS#sms#{number}` / `SUPPRESS`
//! - `CUST#{customer}` / `MKT#{sent at}#{key}`: a marketing message sent (TTL 8 days), which
//!   the marketing cap counts

use crate::dynamo::{n, s, unavailable, DynamoStore, Read};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use doorstep_core::chrono::{DateTime, Duration, DurationRound, Utc};
use doorstep_core::ids::CustomerId;
use doorstep_core::notify::keys::MessageKey;
use doorstep_core::notify::messages::Kind;
use doorstep_core::notify::policy::Suppressions;
use doorstep_core::notify::ports::{Claim, Deferred, LogEntry, NotifyStore, State};
use doorstep_core::notify::settings::Channel;
use doorstep_core::ports::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const COMPLETED_RETENTION_DAYS: i64 = 90;
/// Buckets an older version's cursor is walked per run at most (see `walk_legacy`).
const MAX_BUCKETS_PER_RUN: i64 = 240;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Sortable to the second: `MKT#` keys are read by range.
fn marketing_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn bucket(at: DateTime<Utc>) -> String {
    format!("DEFER#{}", at.format("%Y-%m-%dT%H:%M"))
}

fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).unwrap_or(at)
}

/// What `SCHED#deferred` / `CURSOR` holds: the minutes whose buckets may still hold a deferred
/// send, and, on a table written before that set existed, the oldest such minute.
struct Pending {
    minutes: Vec<DateTime<Utc>>,
    legacy_from: Option<DateTime<Utc>>,
}

impl DynamoStore {
    async fn pending(&self) -> Result<Pending, StoreError> {
        let item = self.get_item("SCHED#deferred".into(), "CURSOR").await?;
        let stamp = |v: &str| {
            v.parse::<i64>()
                .ok()
                .and_then(|t| DateTime::from_timestamp(t, 0))
        };
        let mut minutes: Vec<DateTime<Utc>> = item
            .as_ref()
            .and_then(|i| i.get("pending"))
            .and_then(|v| v.as_ns().ok())
            .map(|set| set.iter().filter_map(|m| stamp(m)).collect())
            .unwrap_or_default();
        minutes.sort();
        let legacy_from = item
            .as_ref()
            .and_then(|i| i.get("minute"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| stamp(v));
        Ok(Pending {
            minutes,
            legacy_from,
        })
    }

    /// `ADD` or `DELETE` one minute in the pending set (sets make both idempotent).
    async fn mark_pending(&self, at: DateTime<Utc>, pending: bool) -> Result<(), StoreError> {
        let verb = if pending { "ADD" } else { "DELETE" };
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s("SCHED#deferred"))
            .key("sk", s("CURSOR"))
            .update_expression(format!("{verb} pending :minute"))
            .expression_attribute_values(
                ":minute",
                AttributeValue::Ns(vec![at.timestamp().to_string()]),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn bucket_items(&self, at: DateTime<Utc>) -> Result<Vec<Deferred>, StoreError> {
        let items = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :bucket")
            .expression_attribute_values(":bucket", s(bucket(at)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .items
            .unwrap_or_default();
        items
            .iter()
            .map(|item| {
                let doc = item
                    .get("doc")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| corrupt("deferred send without doc"))?;
                serde_json::from_str(doc).map_err(corrupt)
            })
            .collect()
    }

    /// The walk a table from before the pending set needs once: every minute from its cursor,
    /// a bounded stretch per run; minutes with work join the set, and the cursor goes when the
    /// walk reaches the present.
    async fn walk_legacy(
        &self,
        from: DateTime<Utc>,
        current: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let stop = current.min(from + Duration::minutes(MAX_BUCKETS_PER_RUN));
        let mut at = from;
        while at <= stop {
            if !self.bucket_items(at).await?.is_empty() {
                self.mark_pending(at, true).await?;
            }
            at += Duration::minutes(1);
        }
        let update = match stop < current {
            true => self
                .client()
                .update_item()
                .update_expression("SET #minute = :minute")
                .expression_attribute_values(":minute", n(at.timestamp())),
            false => self
                .client()
                .update_item()
                .update_expression("REMOVE #minute"),
        };
        update
            .table_name(self.table())
            .key("pk", s("SCHED#deferred"))
            .key("sk", s("CURSOR"))
            .expression_attribute_names("#minute", "minute")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Completes a claim and records its log entry in the same write, with `beside` (see the
    /// module's notes).
    async fn complete(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        beside: &[LogEntry],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // `entity` too: after an open check (`NotifyStore::check`) this write makes the record.
        let mut update = "SET entity = :entity, #state = :completed, #ttl = :ttl, doc = :doc, \
                          customer = :customer, #at = :at"
            .to_string();
        let beside = match beside.is_empty() {
            true => None,
            false => {
                update.push_str(", beside = :beside");
                let compact: Vec<Beside> = beside.iter().map(Beside::of).collect();
                Some(s(serde_json::to_string(&compact).map_err(corrupt)?))
            }
        };
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("MSG#{key}")))
            .key("sk", s("CLAIM"))
            .update_expression(update)
            .set_expression_attribute_values(
                beside.map(|value| HashMap::from([(":beside".to_string(), value)])),
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":entity", s("message_claim"))
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(
                ":ttl",
                n((now + Duration::days(COMPLETED_RETENTION_DAYS)).timestamp()),
            )
            .expression_attribute_values(":doc", s(stored_entry(entry)?))
            .expression_attribute_values(":customer", s(entry.customer_id.as_str()))
            .expression_attribute_values(":at", s(entry.at.to_rfc3339()))
            .send()
            .await
            .map_err(unavailable)?;
        self.count_marketing(entry).await
    }

    /// Puts a message's record (`state` and what goes with it) if it is new, or if a previous
    /// holder's lease ran out before it completed; otherwise says why it could not.
    async fn take(
        &self,
        key: &MessageKey,
        record: Vec<(&'static str, AttributeValue)>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("MSG#{key}")))
            .item("sk", s("CLAIM"))
            .item("entity", s("message_claim"))
            .item("lease_until", n(lease_until.timestamp()));
        for (name, value) in record {
            put = put.item(name, value);
        }
        let result = put
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.held(key, lease_until).await
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Why a message's record could not be taken: completed before, or held by another worker
    /// until its lease ends.
    async fn held(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let item = self.get_item(format!("MSG#{key}"), "CLAIM").await?;
        let completed = item.as_ref().is_some_and(completed);
        let until = item
            .as_ref()
            .and_then(|i| i.get("lease_until"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .unwrap_or(lease_until);
        Ok(if completed {
            Claim::AlreadySent
        } else {
            Claim::InProgress { until }
        })
    }

    /// A marketing message sent is counted for the marketing cap.
    async fn count_marketing(&self, entry: &LogEntry) -> Result<(), StoreError> {
        if entry.kind != Kind::Marketing || entry.state != State::Sent {
            return Ok(());
        }
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("CUST#{}", entry.customer_id)))
            .item(
                "sk",
                s(format!("MKT#{}#{}", marketing_time(entry.at), entry.key)),
            )
            .item("entity", s("marketing_sent"))
            .item("ttl", n((entry.at + Duration::days(8)).timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Whether a message's record says it was sent (or settled) for good.
fn completed(item: &HashMap<String, AttributeValue>) -> bool {
    item.get("state")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|v| v == "completed")
}

/// A suppressed decision kept on the record of the same occasion's message sent: what differs
/// from that message's own entry.
#[derive(Debug, Serialize, Deserialize)]
struct Beside {
    channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Beside {
    fn of(entry: &LogEntry) -> Self {
        Self {
            channel: entry.channel,
            to: entry.to.clone(),
            reason: entry.reason.clone(),
        }
    }
}

/// The suppressed decisions a completed claim keeps in `beside` (its `doc` is `entry`), as the
/// log entries they stand for.
pub fn beside_entries(entry: &LogEntry, beside: &str) -> Result<Vec<LogEntry>, StoreError> {
    let compact: Vec<Beside> = serde_json::from_str(beside).map_err(corrupt)?;
    Ok(compact
        .into_iter()
        .map(|other| LogEntry {
            key: MessageKey {
                channel: other.channel,
                ..entry.key.clone()
            },
            channel: other.channel,
            to: other.to,
            state: State::Suppressed,
            reason: other.reason,
            provider_message_id: None,
            ..entry.clone()
        })
        .collect())
}

/// A log entry as DynamoDB keeps it: without its rendered subject and bodies.
fn stored_entry(entry: &LogEntry) -> Result<String, StoreError> {
    let slim = LogEntry {
        subject: None,
        body: None,
        html: None,
        ..entry.clone()
    };
    serde_json::to_string(&slim).map_err(corrupt)
}

#[async_trait]
impl NotifyStore for DynamoStore {
    async fn claim(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let record = vec![
            ("state", s("in_progress")),
            ("ttl", n((lease_until + Duration::days(1)).timestamp())),
        ];
        self.take(key, record, lease_until, now).await
    }

    /// One strongly consistent read (one read unit instead of the claim's write unit): the record
    /// the completing write of a send, or another worker's claim, left. A record in progress is
    /// someone's claim, taken over only as `claim` would take it.
    async fn check(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let Some(item) = self.get_item(format!("MSG#{key}"), "CLAIM").await? else {
            return Ok(Claim::Open);
        };
        match completed(&item) {
            true => Ok(Claim::AlreadySent),
            false => self.claim(key, lease_until, now).await,
        }
    }

    /// A suppressed message's record, claimed and completed in one conditional put.
    async fn settle(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let record = vec![
            ("state", s("completed")),
            (
                "ttl",
                n((now + Duration::days(COMPLETED_RETENTION_DAYS)).timestamp()),
            ),
            ("doc", s(stored_entry(entry)?)),
            ("customer", s(entry.customer_id.as_str())),
            ("at", s(entry.at.to_rfc3339())),
        ];
        let claim = self.take(key, record, lease_until, now).await?;
        if claim == Claim::Claimed {
            self.count_marketing(entry).await?;
        }
        Ok(claim)
    }

    /// Completes the claim and logs in one write (the write that closes the window in which a
    /// crash could send the message again).
    async fn finish(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.complete(key, entry, &[], now).await
    }

    /// The suppressed channels ride on the completing write: no write of their own.
    async fn finish_beside(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        beside: &[LogEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.complete(key, entry, beside, now).await?;
        Ok(beside.len())
    }
    async fn release(&self, key: &MessageKey) -> Result<(), StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(format!("MSG#{key}")))
            .key("sk", s("CLAIM"))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already completed or gone: nothing to give back.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let state = serde_json::to_value(entry.state).map_err(corrupt)?;
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("CUST#{}", entry.customer_id)))
            .item(
                "sk",
                s(format!(
                    "LOG#{}#{}",
                    entry.key,
                    state.as_str().unwrap_or_default()
                )),
            )
            .item("entity", s("message_log"))
            .item("at", s(entry.at.to_rfc3339()))
            .item("doc", s(stored_entry(entry)?))
            .send()
            .await
            .map_err(unavailable)?;
        self.count_marketing(entry).await
    }

    async fn defer(&self, deferred: &Deferred) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(bucket(deferred.due)))
            .item("sk", s(deferred.key.to_string()))
            .item("entity", s("deferred_send"))
            .item("doc", s(serde_json::to_string(deferred).map_err(corrupt)?))
            .send()
            .await
            .map_err(unavailable)?;
        // After the item, so a schedule that sees the minute in the set finds the item too.
        self.mark_pending(minute(deferred.due), true).await
    }

    /// One consistent read when nothing is due: the pending set says which minutes' buckets to
    /// read, so an idle schedule writes nothing.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Deferred>, StoreError> {
        let current = minute(now);
        let mut pending = self.pending().await?;
        if let Some(from) = pending.legacy_from {
            self.walk_legacy(from, current).await?;
            pending = self.pending().await?;
        }
        let mut due = Vec::new();
        for at in pending.minutes.into_iter().filter(|m| *m <= current) {
            if due.len() >= limit {
                break;
            }
            let items = self.bucket_items(at).await?;
            if items.is_empty() {
                // Emptied: leave the set, then look once more, because a send deferred into
                // this minute in between put its item before adding the minute back.
                self.mark_pending(at, false).await?;
                let late = self.bucket_items(at).await?;
                if !late.is_empty() {
                    self.mark_pending(at, true).await?;
                }
                due.extend(late.into_iter().filter(|d| d.due <= now));
                continue;
            }
            due.extend(items.into_iter().filter(|d| d.due <= now));
        }
        due.truncate(limit);
        Ok(due)
    }

    async fn remove_deferred(&self, deferred: &Deferred) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(bucket(deferred.due)))
            .key("sk", s(deferred.key.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn suppressions(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Suppressions, StoreError> {
        let mut result = Suppressions::default();
        for (channel, address) in [
            ("email", email.map(str::to_ascii_lowercase)),
            ("sms", phone.map(str::to_string)),
        ] {
            let Some(address) = address else { continue };
            // Eventually consistent: see `Read`.
            let found = self
                .get_item_read(
                    format!("SUPPRESS#{channel}#{address}"),
                    "SUPPRESS",
                    Read::Eventual,
                )
                .await?
                .is_some();
            match channel {
                "email" => result.email_suppressed = found,
                _ => result.sms_opted_out = found,
            }
        }
        Ok(result)
    }

    async fn suppress_email(
        &self,
        address: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item(
                "pk",
                s(format!("SUPPRESS#email#{}", address.to_ascii_lowercase())),
            )
            .item("sk", s("SUPPRESS"))
            .item("entity", s("suppression"))
            .item("reason", s(reason))
            .item("at", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn opt_out_sms(&self, phone: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("SUPPRESS#sms#{phone}")))
            .item("sk", s("SUPPRESS"))
            .item("entity", s("suppression"))
            .item("reason", s("opted out"))
            .item("at", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn marketing_sent_since(
        &self,
        customer: &CustomerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(format!("CUST#{customer}")))
            .expression_attribute_values(":from", s(format!("MKT#{}", marketing_time(since))))
            .expression_attribute_values(":to", s("MKT#~"))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .items()
            .iter()
            .filter_map(|item| item.get("sk").and_then(|v| v.as_s().ok()))
            .filter_map(|sk| {
                // `MKT#{time}#{occasion}#{channel}`
                let key = sk.strip_prefix("MKT#")?.split_once('#')?.1;
                MessageKey::parse(key).map(|k| k.occasion.to_string())
            })
            .collect())
    }
}
