//! Notifications on SQLite: the change feed the local notifier tails, and the `NotifyStore` port.

use crate::{unavailable, SqliteStore};
use async_trait::async_trait;
use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::notify::policy::Suppressions;
use doorstep_core::notify::ports::{Claim, Deferred, LogEntry, NotifyStore};
use doorstep_core::notify::service::Change;
use doorstep_core::ports::StoreError;
use rusqlite::{params, OptionalExtension};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_change(
    entity: &str,
    old: Option<String>,
    new: &str,
) -> Result<Option<Change>, StoreError> {
    Ok(match entity {
        "shipment" => Some(Change::Shipment {
            old: old
                .map(|d| serde_json::from_str(&d).map(Box::new))
                .transpose()
                .map_err(corrupt)?,
            new: Box::new(serde_json::from_str(new).map_err(corrupt)?),
        }),
        "order" => Some(Change::Order {
            old: old
                .map(|d| serde_json::from_str(&d).map(Box::new))
                .transpose()
                .map_err(corrupt)?,
            new: Box::new(serde_json::from_str(new).map_err(corrupt)?),
        }),
        _ => None,
    })
}

impl SqliteStore {
    /// Changes after `seq`, oldest first, with their sequence numbers.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, Change)>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached("SELECT seq, entity, old_doc, new_doc FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![seq, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(unavailable)?;
        let mut changes = Vec::new();
        for row in rows {
            let (seq, entity, old, new) = row.map_err(unavailable)?;
            if let Some(change) = parse_change(&entity, old, &new)? {
                changes.push((seq, change));
            }
        }
        Ok(changes)
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

    /// The message log, oldest first (what `GET /api/outbox` shows).
    pub fn message_log(&self, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached("SELECT doc FROM (SELECT id, doc FROM message_log ORDER BY id DESC LIMIT ?1) ORDER BY id")
            .map_err(unavailable)?;
        let rows = statement
            .query_map([limit as i64], |r| r.get::<_, String>(0))
            .map_err(unavailable)?;
        rows.map(|row| serde_json::from_str(&row.map_err(unavailable)?).map_err(corrupt))
            .collect()
    }
}

#[async_trait]
impl NotifyStore for SqliteStore {
    async fn claim(
        &self,
        key: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, lease_until FROM message_claims WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?;
        let claim = match existing {
            Some((state, _)) if state == "completed" => Claim::AlreadySent,
            Some((_, lease)) if lease > now.timestamp() => Claim::InProgress,
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

    async fn complete(&self, key: &str, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "UPDATE message_claims SET state = 'completed' WHERE key = ?1",
                [key],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM message_claims WHERE key = ?1 AND state = 'in_progress'",
                [key],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let doc = serde_json::to_string(entry).map_err(corrupt)?;
        let state = serde_json::to_value(entry.state).map_err(corrupt)?;
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO message_log (key, state, customer_id, doc) VALUES (?1, ?2, ?3, ?4)",
                params![entry.key, state.as_str().unwrap_or_default(), entry.customer_id, doc],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn defer(&self, deferred: &Deferred) -> Result<(), StoreError> {
        let doc = serde_json::to_string(deferred).map_err(corrupt)?;
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO deferred (key, due, doc) VALUES (?1, ?2, ?3)",
                params![deferred.key, deferred.due.timestamp(), doc],
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
                params![deferred.key, deferred.due.timestamp()],
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
}
