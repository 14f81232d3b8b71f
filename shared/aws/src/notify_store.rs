//! The notifier's `NotifyStore` port on the same DynamoDB table.
//!
//! Items (pk / sk):
//! - `MSG#{key}` / `CLAIM`: the idempotency record: `state` (`in_progress` | `completed`),
//!   `lease_until`, `ttl` (a completed record is kept 90 days)
//! - `CUST#{customer}` / `LOG#{key}#{state}`: the message log, one item per decision
//! - `DEFER#{YYYY-MM-DDTHH:MM}` / `{key}`: a deferred send in its due minute's bucket, so the
//!   schedule reads only the buckets that are due; `SCHED#deferred` / `CURSOR` remembers the
//!   oldest bucket that may still hold work
//! - `SUPPRESS#email#{address}` and `SUPPRESS#sms#{number}` / `SUPPRESS`
//! - `CUST#{customer}` / `MKT#{sent at}#{key}`: a marketing message sent (TTL 8 days), which
//!   the marketing cap counts

use crate::dynamo::{n, s, unavailable, DynamoStore};
use async_trait::async_trait;
use doorstep_core::chrono::{DateTime, Duration, DurationRound, Utc};
use doorstep_core::ids::CustomerId;
use doorstep_core::notify::keys::MessageKey;
use doorstep_core::notify::messages::Kind;
use doorstep_core::notify::policy::Suppressions;
use doorstep_core::notify::ports::{Claim, Deferred, LogEntry, NotifyStore, State};
use doorstep_core::ports::StoreError;

const COMPLETED_RETENTION_DAYS: i64 = 90;
/// How far back the schedule looks when it has no cursor yet (`defer` seeds one, so this only
/// matters for a brand-new table).
const FIRST_LOOKBACK_MINUTES: i64 = 60;
/// Buckets read per run at most: after a long outage the schedule catches up over a few runs.
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

impl DynamoStore {
    async fn cursor(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.get_item("SCHED#deferred".into(), "CURSOR").await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("minute"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0)))
    }

    async fn set_cursor(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item("pk", s("SCHED#deferred"))
            .item("sk", s("CURSOR"))
            .item("minute", n(at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn complete(&self, key: &MessageKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("MSG#{key}")))
            .key("sk", s("CLAIM"))
            .update_expression("SET #state = :completed, #ttl = :ttl")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(
                ":ttl",
                n((now + Duration::days(COMPLETED_RETENTION_DAYS)).timestamp()),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl NotifyStore for DynamoStore {
    async fn claim(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("MSG#{key}")))
            .item("sk", s("CLAIM"))
            .item("entity", s("message_claim"))
            .item("state", s("in_progress"))
            .item("lease_until", n(lease_until.timestamp()))
            .item("ttl", n((lease_until + Duration::days(1)).timestamp()))
            // New, or a previous holder's lease ran out before it completed.
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
                let item = self.get_item(format!("MSG#{key}"), "CLAIM").await?;
                let attribute = |name: &str| item.as_ref().and_then(|i| i.get(name));
                let completed = attribute("state")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|v| v == "completed");
                let until = attribute("lease_until")
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
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Completes the claim first (the call that closes the window in which a crash could send
    /// the message again), then logs.
    async fn finish(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.complete(key, now).await?;
        self.log(entry).await
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
            .item("doc", s(serde_json::to_string(entry).map_err(corrupt)?))
            .send()
            .await
            .map_err(unavailable)?;
        if entry.kind == Kind::Marketing && entry.state == State::Sent {
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
        }
        Ok(())
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
        // A send deferred into a minute the schedule has already passed must still be found.
        match self.cursor().await? {
            Some(cursor) if minute(deferred.due) >= cursor => {}
            _ => self.set_cursor(minute(deferred.due)).await?,
        }
        Ok(())
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Deferred>, StoreError> {
        let current = minute(now);
        let start = self
            .cursor()
            .await?
            .unwrap_or(current - Duration::minutes(FIRST_LOOKBACK_MINUTES));
        let stop = current.min(start + Duration::minutes(MAX_BUCKETS_PER_RUN));
        let mut due = Vec::new();
        let mut oldest_with_work = None;
        let mut at = start;
        while at <= stop && due.len() < limit {
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
            for item in &items {
                let doc = item
                    .get("doc")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| corrupt("deferred send without doc"))?;
                let deferred: Deferred = serde_json::from_str(doc).map_err(corrupt)?;
                if deferred.due <= now {
                    due.push(deferred);
                }
            }
            if !items.is_empty() && oldest_with_work.is_none() {
                oldest_with_work = Some(at);
            }
            at += Duration::minutes(1);
        }
        // Next time start at the oldest bucket that held work (removed items leave it empty).
        self.set_cursor(oldest_with_work.unwrap_or(at.min(current)))
            .await?;
        if stop < current {
            tracing::warn!(
                behind_minutes = (current - stop).num_minutes(),
                "deferred sends: catching up after an outage"
            );
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
            let found = self
                .get_item(format!("SUPPRESS#{channel}#{address}"), "SUPPRESS")
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
