//! Notifications on SQLite: the change feed the local notifier tails, its retries and dead
//! letters, the `NotifyStore` port, and the periodic cleanup that keeps the file bounded.

use crate::{unavailable, SqliteStore};
use async_trait::async_trait;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::ids::CustomerId;
use doorstep_core::merchant_webhook::Delivery;
use doorstep_core::notify::keys::MessageKey;
use doorstep_core::notify::policy::Suppressions;
use doorstep_core::notify::ports::State;
use doorstep_core::notify::ports::{
    Claim, DeadLetter, DeadLetters, Deferred, LogEntry, NotifyStore,
};
use doorstep_core::notify::service::Change;
use doorstep_core::notify::settings::Channel;
use doorstep_core::ports::StoreError;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<Box<T>, String> {
    serde_json::from_str(doc)
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// A merchant webhook waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWebhook {
    /// The message key that sent it.
    pub key: String,
    pub delivery: Delivery,
    /// Tries so far.
    pub attempts: u32,
}

/// A change row as stored; `change()` reads its documents (which may be unreadable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawChange {
    pub seq: i64,
    pub entity: String,
    pub old_doc: Option<String>,
    pub new_doc: String,
}

impl RawChange {
    /// The change, `None` for entities the notifier does not watch, or why it cannot be read.
    pub fn change(&self) -> Result<Option<Change>, String> {
        let old = self.old_doc.as_deref();
        Ok(match self.entity.as_str() {
            "shipment" => Some(Change::Shipment {
                old: old.map(parse_doc).transpose()?,
                new: parse_doc(&self.new_doc)?,
            }),
            "order" => Some(Change::Order {
                old: old.map(parse_doc).transpose()?,
                new: parse_doc(&self.new_doc)?,
            }),
            "loyalty" => Some(Change::Account {
                old: old.map(parse_doc).transpose()?,
                new: parse_doc(&self.new_doc)?,
            }),
            "subscription" => Some(Change::Subscription {
                old: old.map(parse_doc).transpose()?,
                new: parse_doc(&self.new_doc)?,
            }),
            "review" => Some(Change::Review {
                old: old.map(parse_doc).transpose()?,
                new: parse_doc(&self.new_doc)?,
            }),
            _ => None,
        })
    }
}

/// A failed change waiting for its next try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub change: RawChange,
    pub attempts: u32,
}

/// A dead letter as `GET /api/dead-letters` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredDeadLetter {
    pub id: i64,
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// What a cleanup removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cleaned {
    pub changes: usize,
    pub dedupe: usize,
    pub deliveries: usize,
    pub claims: usize,
    pub log: usize,
    /// Expired manage links and rate-limit counts.
    pub links: usize,
}

/// Completed claims and the message log are kept this long (as their DynamoDB TTL).
pub const MESSAGE_RETENTION_DAYS: i64 = 90;

const RAW_CHANGE_COLUMNS: &str = "seq, entity, old_doc, new_doc";

fn raw_change(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawChange> {
    Ok(RawChange {
        seq: r.get(0)?,
        entity: r.get(1)?,
        old_doc: r.get(2)?,
        new_doc: r.get(3)?,
    })
}

impl SqliteStore {
    /// Changes after `seq`, oldest first.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<RawChange>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {RAW_CHANGE_COLUMNS} FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![seq, limit as i64], raw_change)
            .map_err(unavailable)?;
        rows.map(|row| row.map_err(unavailable)).collect()
    }

    /// Appends a change to the feed as if its record had been written (a dead letter put back).
    pub fn append_change(
        &self,
        entity: &str,
        old_doc: Option<&str>,
        new_doc: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO changes (entity, old_doc, new_doc, at) VALUES (?1, ?2, ?3, ?4)",
            params![entity, old_doc, new_doc, now.timestamp()],
        )
        .map_err(unavailable)?;
        Ok(conn.last_insert_rowid())
    }

    pub fn cursor(&self, name: &str) -> Result<i64, StoreError> {
        let seq = self
            .conn()?
            .query_row("SELECT seq FROM cursors WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(unavailable)?;
        Ok(seq.unwrap_or(0))
    }

    pub fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO cursors (name, seq) VALUES (?1, ?2)",
                params![name, seq],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    /// Schedules a failed change's next try (or its first retry).
    pub fn schedule_retry(
        &self,
        seq: i64,
        attempts: u32,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO notify_retries (seq, attempts, retry_at, error) VALUES (?1, ?2, ?3, ?4)",
                params![seq, attempts, retry_at.timestamp(), error],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    /// Failed changes whose next try is due, oldest first.
    pub fn due_retries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Retry>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT c.seq, c.entity, c.old_doc, c.new_doc, r.attempts FROM notify_retries r
                 JOIN changes c ON c.seq = r.seq WHERE r.retry_at <= ?1 ORDER BY r.retry_at, r.seq LIMIT ?2",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![now.timestamp(), limit as i64], |r| {
                Ok(Retry {
                    change: raw_change(r)?,
                    attempts: r.get(4)?,
                })
            })
            .map_err(unavailable)?;
        rows.map(|row| row.map_err(unavailable)).collect()
    }

    pub fn clear_retry(&self, seq: i64) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM notify_retries WHERE seq = ?1", [seq])
            .map_err(unavailable)?;
        Ok(())
    }

    /// Merchant webhooks whose next try is due, oldest first.
    pub fn due_webhooks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedWebhook>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT key, url, body, attempts FROM merchant_webhooks WHERE next_at <= ?1
                 ORDER BY next_at, key LIMIT ?2",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![now.timestamp(), limit as i64], |r| {
                Ok(QueuedWebhook {
                    key: r.get(0)?,
                    delivery: Delivery {
                        url: r.get(1)?,
                        body: r.get(2)?,
                    },
                    attempts: r.get(3)?,
                })
            })
            .map_err(unavailable)?;
        rows.map(|row| row.map_err(unavailable)).collect()
    }

    /// Queues a webhook again (a dead letter put back to work), due now.
    pub fn queue_webhook(
        &self,
        key: &str,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO merchant_webhooks (key, url, body, attempts, next_at) VALUES (?1, ?2, ?3, 0, ?4)",
                params![key, delivery.url, delivery.body, now.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    /// The merchant took it.
    pub fn webhook_delivered(&self, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM merchant_webhooks WHERE key = ?1", [key])
            .map_err(unavailable)?;
        Ok(())
    }

    /// A try failed: the next one is at `next_at`.
    pub fn webhook_failed(
        &self,
        key: &str,
        attempts: u32,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "UPDATE merchant_webhooks SET attempts = ?2, next_at = ?3, error = ?4 WHERE key = ?1",
                params![key, attempts, next_at.timestamp(), error],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    /// Moves a webhook that failed its last try to the dead letters, in one transaction.
    pub fn webhook_dead(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(unavailable)?;
        tx.execute(
            "INSERT INTO dead_letters (source, reference, error, attempts, payload, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                letter.source,
                letter.reference,
                letter.error,
                letter.attempts,
                letter.payload.to_string(),
                letter.at.timestamp()
            ],
        )
        .map_err(unavailable)?;
        tx.execute(
            "DELETE FROM merchant_webhooks WHERE key = ?1",
            [&letter.reference],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(())
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<StoredDeadLetter>, StoreError> {
        self.read_dead_letters("ORDER BY id LIMIT ?1", limit as i64)
    }

    fn read_dead_letters(
        &self,
        clause: &str,
        param: i64,
    ) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT id, source, reference, error, attempts, payload, at FROM dead_letters {clause}"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map([param], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(unavailable)?;
        rows.map(|row| {
            let (id, source, reference, error, attempts, payload, at) = row.map_err(unavailable)?;
            Ok(StoredDeadLetter {
                id,
                letter: DeadLetter {
                    source,
                    reference,
                    error,
                    attempts,
                    payload: serde_json::from_str(&payload).map_err(corrupt)?,
                    at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
                },
            })
        })
        .collect()
    }

    /// Removes a dead letter and returns it (to be put back to work).
    pub fn take_dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        let letter = self
            .read_dead_letters("WHERE id = ?1", id)?
            .into_iter()
            .next()
            .map(|stored| stored.letter);
        if letter.is_some() {
            self.conn()?
                .execute("DELETE FROM dead_letters WHERE id = ?1", [id])
                .map_err(unavailable)?;
        }
        Ok(letter)
    }

    /// The message log, oldest first (what `GET /api/outbox` shows).
    pub fn message_log(&self, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self
            .message_log_after(0, limit, true)?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect())
    }

    /// Log entries after `id` (the newest `limit` when `newest` is set, else the oldest),
    /// oldest first, with their ids.
    pub fn message_log_after(
        &self,
        id: i64,
        limit: usize,
        newest: bool,
    ) -> Result<Vec<(i64, LogEntry)>, StoreError> {
        let conn = self.conn()?;
        let order = if newest { "DESC" } else { "ASC" };
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT id, doc FROM (SELECT id, doc FROM message_log WHERE id > ?1 ORDER BY id {order} LIMIT ?2) ORDER BY id"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![id, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(unavailable)?;
        rows.map(|row| {
            let (id, doc) = row.map_err(unavailable)?;
            Ok((id, serde_json::from_str(&doc).map_err(corrupt)?))
        })
        .collect()
    }

    /// Claims left in progress by a process that no longer runs. The runner holds the data
    /// directory's lock, so at its start no other worker can hold a live claim; and a local send
    /// and its completion are one transaction, so such a claim's message was never sent.
    pub fn release_orphaned_claims(&self) -> Result<usize, StoreError> {
        self.conn()?
            .execute("DELETE FROM message_claims WHERE state = 'in_progress'", [])
            .map_err(unavailable)
    }

    /// Removes what is past its retention: changes the notifier has passed (and does not retry)
    /// older than `change_retention`, expired dedupe and delivery records, and completed claims
    /// and log entries older than [`MESSAGE_RETENTION_DAYS`].
    pub fn cleanup(
        &self,
        now: DateTime<Utc>,
        change_retention: Duration,
        notifier_cursor: &str,
    ) -> Result<Cleaned, StoreError> {
        let now_s = now.timestamp();
        let changes_before = now_s.saturating_sub(change_retention.num_seconds());
        let messages_before = now_s.saturating_sub(MESSAGE_RETENTION_DAYS * 86_400);
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(unavailable)?;
        let cleaned = Cleaned {
            changes: tx
                .execute(
                    "DELETE FROM changes WHERE at < ?1
                     AND seq <= COALESCE((SELECT seq FROM cursors WHERE name = ?2), 0)
                     AND seq NOT IN (SELECT seq FROM notify_retries)",
                    params![changes_before, notifier_cursor],
                )
                .map_err(unavailable)?,
            dedupe: tx
                .execute("DELETE FROM dedupe WHERE expires_at <= ?1", [now_s])
                .map_err(unavailable)?,
            deliveries: tx
                .execute("DELETE FROM deliveries WHERE expires_at <= ?1", [now_s])
                .map_err(unavailable)?,
            claims: tx
                .execute(
                    "DELETE FROM message_claims WHERE state = 'completed' AND lease_until < ?1",
                    [messages_before],
                )
                .map_err(unavailable)?,
            log: tx
                .execute("DELETE FROM message_log WHERE at < ?1", [messages_before])
                .map_err(unavailable)?,
            links: tx
                .execute("DELETE FROM manage_links WHERE expires_at <= ?1", [now_s])
                .map_err(unavailable)?
                + tx.execute("DELETE FROM counters WHERE expires_at <= ?1", [now_s])
                    .map_err(unavailable)?,
        };
        tx.commit().map_err(unavailable)?;
        // Give the freed pages back to the WAL's next writers rather than growing it.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(unavailable)?;
        Ok(cleaned)
    }
}

fn state_name(entry: &LogEntry) -> Result<String, StoreError> {
    serde_json::to_value(entry.state)
        .map_err(corrupt)
        .map(|v| v.as_str().unwrap_or_default().to_string())
}

fn insert_log(conn: &rusqlite::Connection, entry: &LogEntry) -> Result<(), StoreError> {
    let doc = serde_json::to_string(entry).map_err(corrupt)?;
    conn.execute(
        "INSERT OR REPLACE INTO message_log (key, state, customer_id, doc, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            entry.key.to_string(),
            state_name(entry)?,
            entry.customer_id.as_str(),
            doc,
            entry.at.timestamp()
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl NotifyStore for SqliteStore {
    async fn claim(
        &self,
        key: &MessageKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let key = key.to_string();
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, lease_until FROM message_claims WHERE key = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?;
        let claim = match existing {
            Some((state, _)) if state == "completed" => Claim::AlreadySent,
            Some((_, lease)) if lease > now.timestamp() => Claim::InProgress {
                until: DateTime::from_timestamp(lease, 0).unwrap_or(now),
            },
            _ => {
                tx.execute(
                    "INSERT OR REPLACE INTO message_claims (key, state, lease_until) VALUES (?1, 'in_progress', ?2)",
                    params![key, lease_until.timestamp()],
                )
                .map_err(unavailable)?;
                Claim::Claimed
            }
        };
        tx.commit().map_err(unavailable)?;
        Ok(claim)
    }

    /// The local channel only hands out ids: a message is sent when this transaction commits the
    /// completed claim and the log entry the outbox file is written from. A crash before it
    /// leaves the claim in progress and nothing sent; after it, the message exists exactly once.
    async fn finish(
        &self,
        key: &MessageKey,
        entry: &LogEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        tx.execute(
            "INSERT INTO message_claims (key, state, lease_until) VALUES (?1, 'completed', ?2)
             ON CONFLICT(key) DO UPDATE SET state = 'completed', lease_until = excluded.lease_until",
            params![key, now.timestamp()],
        )
        .map_err(unavailable)?;
        insert_log(&tx, entry)?;
        // A webhook is queued in the same transaction as its log entry: once, and never lost.
        if let (Channel::Webhook, State::Sent, Some(url), Some(body)) =
            (entry.channel, entry.state, &entry.to, &entry.body)
        {
            tx.execute(
                "INSERT OR IGNORE INTO merchant_webhooks (key, url, body, next_at) VALUES (?1, ?2, ?3, ?4)",
                params![key, url, body, now.timestamp()],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, key: &MessageKey) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM message_claims WHERE key = ?1 AND state = 'in_progress'",
                [key.to_string()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        insert_log(&*self.conn()?, entry)
    }

    async fn defer(&self, deferred: &Deferred) -> Result<(), StoreError> {
        let doc = serde_json::to_string(deferred).map_err(corrupt)?;
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO deferred (key, due, doc) VALUES (?1, ?2, ?3)",
                params![deferred.key.to_string(), deferred.due.timestamp(), doc],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Deferred>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached("SELECT doc FROM deferred WHERE due <= ?1 ORDER BY due LIMIT ?2")
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![now.timestamp(), limit as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(unavailable)?;
        rows.map(|row| serde_json::from_str(&row.map_err(unavailable)?).map_err(corrupt))
            .collect()
    }

    async fn remove_deferred(&self, deferred: &Deferred) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM deferred WHERE key = ?1 AND due = ?2",
                params![deferred.key.to_string(), deferred.due.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn suppressions(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Suppressions, StoreError> {
        let conn = self.conn()?;
        let listed = |address: Option<&str>, channel: &str| -> Result<bool, StoreError> {
            let Some(address) = address else {
                return Ok(false);
            };
            conn.query_row(
                "SELECT 1 FROM suppressions WHERE address = ?1 AND channel = ?2",
                params![address.to_ascii_lowercase(), channel],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(unavailable)
        };
        Ok(Suppressions {
            email_suppressed: listed(email, "email")?,
            sms_opted_out: listed(phone, "sms")?,
        })
    }

    async fn suppress_email(
        &self,
        address: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO suppressions (address, channel, reason, at) VALUES (?1, 'email', ?2, ?3)",
                params![address.to_ascii_lowercase(), reason, now.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn opt_out_sms(&self, phone: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO suppressions (address, channel, reason, at) VALUES (?1, 'sms', 'opted out', ?2)",
                params![phone, now.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn marketing_sent_since(
        &self,
        customer: &CustomerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT key FROM message_log WHERE customer_id = ?1 AND at >= ?2 AND state = 'sent'
                 AND json_extract(doc, '$.kind') = 'marketing'",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![customer.as_str(), since.timestamp()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(unavailable)?;
        let mut occasions = Vec::new();
        for row in rows {
            let key = row.map_err(unavailable)?;
            if let Some(key) = MessageKey::parse(&key) {
                occasions.push(key.occasion.to_string());
            }
        }
        Ok(occasions)
    }
}

#[async_trait]
impl DeadLetters for SqliteStore {
    async fn set_aside(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&letter.payload).map_err(corrupt)?;
        self.conn()?
            .execute(
                "INSERT INTO dead_letters (source, reference, error, attempts, payload, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![letter.source, letter.reference, letter.error, letter.attempts, payload, letter.at.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }
}
