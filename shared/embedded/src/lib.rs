//! Embedded adapters for running Doorstep on a laptop: the `Store` port on SQLite (bundled).
//!
//! Records are stored as JSON documents next to the columns that are looked up or guarded
//! (keys, version, tokens). SQLite calls take microseconds, so they run inline under a mutex
//! rather than on a blocking thread pool.

use async_trait::async_trait;
use doorstep_core::catalog::{BestSellers, Neighbours, Product};
use doorstep_core::chrono::NaiveDate;
use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::ids::{
    CarrierSlug, CustomerId, OrderId, ProductId, ReviewId, ShipmentKey, SubscriptionId, Token,
    TrackingNumber,
};
use doorstep_core::loyalty::Account;
use doorstep_core::model::{Customer, Order, PendingLink, Shipment};
use doorstep_core::ports::{DueEntry, DueKind, ShipmentWrite, Store, StoreError, WriteError};
use doorstep_core::reviews::Review;
use doorstep_core::subscriptions::{ManageLink, Subscription};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

pub mod notify;
pub mod outbox;

pub use outbox::FileOutbox;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shipments (
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    tracking_token TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (carrier, tracking_number)
);
CREATE INDEX IF NOT EXISTS shipments_by_tracking_number ON shipments (tracking_number);
CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending_links (tracking_number TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    preferences_token TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
-- The change feed: every shipment and order write, with the images before and after, in the same
-- transaction as the write (what DynamoDB Streams gives the notifier on AWS).
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    old_doc TEXT,
    new_doc TEXT NOT NULL,
    at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
-- Notifications: idempotency claims, the message log, deferred sends, suppressed addresses.
CREATE TABLE IF NOT EXISTS message_claims (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    lease_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS message_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (key, state)
);
CREATE TABLE IF NOT EXISTS deferred (key TEXT PRIMARY KEY, due INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deferred_by_due ON deferred (due);
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
-- The catalog: products, their neighbour lists, daily sales, best sellers, clicks.
CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS neighbours (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sales (
    day TEXT NOT NULL,
    product TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, product)
);
CREATE TABLE IF NOT EXISTS best_sellers (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clicks (product TEXT PRIMARY KEY, count INTEGER NOT NULL);
-- Loyalty accounts (lots and ledger as one versioned document each), and the schedule's index:
-- what falls due on which day, so a job reads only that.
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS due (
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before INTEGER,
    PRIMARY KEY (kind, day, subject)
);
-- Changes whose notification failed, waiting for their next try (they never block later ones).
CREATE TABLE IF NOT EXISTS notify_retries (
    seq INTEGER PRIMARY KEY,
    attempts INTEGER NOT NULL,
    retry_at INTEGER NOT NULL,
    error TEXT NOT NULL
);
-- Webhooks to the merchant, queued with the log entry that sent them, until their endpoint takes them.
CREATE TABLE IF NOT EXISTS merchant_webhooks (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS merchant_webhooks_by_next_at ON merchant_webhooks (next_at);
-- Subscriptions (found by customer for a fresh manage link), manage links, and rate-limit counts.
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    customer_id TEXT
);
CREATE INDEX IF NOT EXISTS subscriptions_by_customer ON subscriptions (customer_id);
CREATE TABLE IF NOT EXISTS manage_links (token TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at INTEGER NOT NULL);
-- Reviews, found by order (review requests) and, until their author is a customer, by email.
CREATE TABLE IF NOT EXISTS reviews (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    order_id TEXT,
    unlinked_email TEXT
);
CREATE INDEX IF NOT EXISTS reviews_by_order ON reviews (order_id);
CREATE INDEX IF NOT EXISTS reviews_unlinked ON reviews (unlinked_email);
-- Work that failed too often, set aside with its reason (GET /api/dead-letters).
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    reference TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    payload TEXT NOT NULL,
    at INTEGER NOT NULL
);
";

/// Columns added after the first release, for databases made before them.
const MIGRATIONS: &[(&str, &str, &str)] = &[
    ("changes", "at", "INTEGER NOT NULL DEFAULT 0"),
    ("message_log", "at", "INTEGER NOT NULL DEFAULT 0"),
    ("customers", "email", "TEXT"),
    ("due", "not_before", "INTEGER"),
];

/// Indexes on migrated columns, made once the columns exist.
const AFTER_MIGRATIONS: &str = "
CREATE INDEX IF NOT EXISTS customers_by_email ON customers (email);
CREATE INDEX IF NOT EXISTS message_log_by_customer ON message_log (customer_id, at);
";

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_doc<T: serde::Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_doc<T: serde::de::DeserializeOwned>(doc: &str, version: i64) -> Result<T, StoreError> {
    let mut value: Value =
        serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    value["version"] = Value::from(version);
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn next_version(expected: Option<u64>) -> i64 {
    expected.map_or(1, |v| v as i64 + 1)
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path).map_err(unavailable)?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&conn)?;
        conn.execute_batch(AFTER_MIGRATIONS).map_err(unavailable)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Counts every statement run from now on into `counts`, by verb and table
    /// (`SELECT shipments`, `INSERT changes`, …): the simulator's storage calls.
    #[cfg(feature = "statement-counts")]
    pub fn count_statements(
        &self,
        counts: std::sync::Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.trace_v2(
            rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
            Some(move |event: rusqlite::trace::TraceEvent<'_>| {
                if let rusqlite::trace::TraceEvent::Stmt(statement, _) = event {
                    let name = statement_name(&statement.sql());
                    if let Ok(mut counts) = counts.lock() {
                        *counts.entry(name).or_default() += 1;
                    }
                }
            }),
        )
        .map_err(unavailable)
    }

    pub(crate) fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Unavailable("database lock poisoned".into()))
    }

    /// The one record a query names, with its stored version.
    fn versioned_row<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<T>, StoreError> {
        let row = self
            .conn()?
            .query_row(sql, params, |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(unavailable)?;
        row.map(|(doc, version)| from_doc(&doc, version))
            .transpose()
    }

    /// The versioned records of a table with these ids (one statement), in the ids' order.
    fn versioned_rows<'a, T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(&format!("SELECT doc, version FROM {table} WHERE id = ?1"))
            .map_err(unavailable)?;
        let mut found = Vec::new();
        for id in ids {
            let row = statement
                .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()
                .map_err(unavailable)?;
            if let Some((doc, version)) = row {
                found.push(from_doc(&doc, version)?);
            }
        }
        Ok(found)
    }

    /// Every versioned record one query with one parameter finds.
    fn versioned_docs<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        param: &str,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
        let rows = statement
            .query_map([param], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(unavailable)?;
        rows.map(|row| {
            let (doc, version) = row.map_err(unavailable)?;
            from_doc(&doc, version)
        })
        .collect()
    }

    fn shipments_where(&self, clause: &str, param: &str) -> Result<Vec<Shipment>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT doc, version FROM shipments WHERE {clause} ORDER BY carrier"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map([param], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(unavailable)?;
        rows.map(|row| {
            let (doc, version) = row.map_err(unavailable)?;
            from_doc(&doc, version)
        })
        .collect()
    }
}

/// `SELECT shipments`, `INSERT changes`, `BEGIN`: a statement's verb and the table it names.
#[cfg(feature = "statement-counts")]
fn statement_name(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let verb = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
    };
    let table = match verb.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        _ => None,
    };
    match table {
        Some(table) => format!(
            "{verb} {}",
            table.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
        ),
        None => verb,
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, definition) in MIGRATIONS {
        let exists: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
                [table, column],
                |r| r.get::<_, i64>(0),
            )
            .map_err(unavailable)?
            > 0;
        if !exists {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Checks a version guard inside a transaction: `None` means "must not exist".
fn check_version(stored: Option<i64>, expected: Option<u64>) -> Result<(), WriteError> {
    match (stored, expected) {
        (None, None) => Ok(()),
        (Some(stored), Some(expected)) if stored == expected as i64 => Ok(()),
        _ => Err(WriteError::Conflict),
    }
}

/// Writes a versioned record; `feed` names the entity when the write joins the change feed.
fn versioned_upsert(
    conn: &mut Connection,
    table: &str,
    id: &str,
    extra: &[(&str, Option<&str>)],
    doc: &str,
    expected: Option<u64>,
    feed: Option<&str>,
) -> Result<(), WriteError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let stored: Option<(i64, String)> = tx
        .query_row(
            &format!("SELECT version, doc FROM {table} WHERE id = ?1"),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    check_version(stored.as_ref().map(|(v, _)| *v), expected)?;
    if let Some(entity) = feed {
        tx.execute(
            "INSERT INTO changes (entity, old_doc, new_doc, at) VALUES (?1, ?2, ?3, ?4)",
            params![
                entity,
                stored.map(|(_, old)| old),
                doc,
                Utc::now().timestamp()
            ],
        )
        .map_err(unavailable)?;
    }
    let version = next_version(expected);
    // Columns beside the document that lookups use (tokens, email).
    let columns: String = extra.iter().map(|(c, _)| format!(", {c}")).collect();
    let values: String = (0..extra.len()).map(|i| format!(", ?{}", i + 4)).collect();
    let updates: String = extra
        .iter()
        .map(|(c, _)| format!(", {c} = excluded.{c}"))
        .collect();
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&id, &version, &doc];
    for (_, value) in extra {
        bound.push(value);
    }
    tx.execute(
        &format!(
            "INSERT INTO {table} (id, version, doc{columns}) VALUES (?1, ?2, ?3{values})
             ON CONFLICT(id) DO UPDATE SET version = excluded.version, doc = excluded.doc{updates}"
        ),
        bound.as_slice(),
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
    ) -> Result<Option<Shipment>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM shipments WHERE carrier = ?1 AND tracking_number = ?2",
            [carrier.as_str(), tracking.as_str()],
        )
    }

    async fn find_shipments(&self, tracking: &TrackingNumber) -> Result<Vec<Shipment>, StoreError> {
        self.shipments_where("tracking_number = ?1", tracking.as_str())
    }

    async fn get_shipment_by_token(&self, token: &Token) -> Result<Option<Shipment>, StoreError> {
        Ok(self
            .shipments_where("tracking_token = ?1", token.as_str())?
            .into_iter()
            .next())
    }

    async fn save_shipment(
        &self,
        shipment: &Shipment,
        write: ShipmentWrite,
    ) -> Result<(), WriteError> {
        let doc = to_doc(shipment)?;
        let now = Utc::now().timestamp();
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let stored: Option<(i64, String)> = tx
            .query_row(
                "SELECT version, doc FROM shipments WHERE carrier = ?1 AND tracking_number = ?2",
                [shipment.carrier.as_str(), shipment.tracking_number.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?;
        check_version(stored.as_ref().map(|(v, _)| *v), write.expected_version)?;
        tx.execute(
            "INSERT INTO changes (entity, old_doc, new_doc, at) VALUES ('shipment', ?1, ?2, ?3)",
            params![stored.map(|(_, old)| old), doc, now],
        )
        .map_err(unavailable)?;
        tx.execute(
            "INSERT INTO shipments (carrier, tracking_number, tracking_token, version, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(carrier, tracking_number) DO UPDATE SET version = excluded.version, doc = excluded.doc",
            params![
                shipment.carrier.as_str(),
                shipment.tracking_number.as_str(),
                shipment.tracking_token.as_str(),
                next_version(write.expected_version),
                doc
            ],
        )
        .map_err(unavailable)?;
        if write.consume_pending_link {
            tx.execute(
                "DELETE FROM pending_links WHERE tracking_number = ?1",
                [shipment.tracking_number.as_str()],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(())
    }

    async fn get_pending_link(
        &self,
        tracking: &TrackingNumber,
    ) -> Result<Option<PendingLink>, StoreError> {
        let conn = self.conn()?;
        let doc: Option<String> = conn
            .query_row(
                "SELECT doc FROM pending_links WHERE tracking_number = ?1",
                [tracking.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn put_pending_link(&self, link: &PendingLink) -> Result<(), StoreError> {
        let doc = to_doc(link)?;
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO pending_links (tracking_number, doc) VALUES (?1, ?2)",
                params![link.tracking_number.as_str(), doc],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM orders WHERE id = ?1",
            [id.as_str()],
        )
    }

    async fn save_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(order)?;
        versioned_upsert(
            &mut *self.conn()?,
            "orders",
            order.id.as_str(),
            &[],
            &doc,
            expected_version,
            Some("order"),
        )
    }

    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM customers WHERE id = ?1",
            [id.as_str()],
        )
    }

    async fn get_customer_by_preferences_token(
        &self,
        token: &Token,
    ) -> Result<Option<Customer>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM customers WHERE preferences_token = ?1",
            [token.as_str()],
        )
    }

    async fn save_customer(
        &self,
        customer: &Customer,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(customer)?;
        versioned_upsert(
            &mut *self.conn()?,
            "customers",
            customer.id.as_str(),
            &[
                (
                    "preferences_token",
                    Some(customer.preferences_token.as_str()),
                ),
                ("email", customer.email_key().as_deref()),
            ],
            &doc,
            expected_version,
            None,
        )
    }

    async fn delivery_seen(&self, key: &str) -> Result<bool, StoreError> {
        let expires_at: Option<i64> = self
            .conn()?
            .query_row(
                "SELECT expires_at FROM deliveries WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        Ok(expires_at.is_some_and(|t| t > Utc::now().timestamp()))
    }

    async fn mark_delivery(&self, key: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO deliveries (key, expires_at) VALUES (?1, ?2)",
                params![key, expires_at.timestamp()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_shipments(&self, keys: &[ShipmentKey]) -> Result<Vec<Shipment>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(shipment) = self
                .get_shipment(&key.carrier, &key.tracking_number)
                .await?
            {
                found.push(shipment);
            }
        }
        Ok(found)
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.versioned_rows("products", ids.iter().map(ProductId::as_str))
    }

    async fn save_product(
        &self,
        product: &Product,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(product)?;
        versioned_upsert(
            &mut *self.conn()?,
            "products",
            product.id.as_str(),
            &[],
            &doc,
            expected_version,
            None,
        )
    }

    async fn get_neighbours(&self, ids: &[ProductId]) -> Result<Vec<Neighbours>, StoreError> {
        self.versioned_rows("neighbours", ids.iter().map(ProductId::as_str))
    }

    async fn save_neighbours(
        &self,
        neighbours: &Neighbours,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(neighbours)?;
        versioned_upsert(
            &mut *self.conn()?,
            "neighbours",
            neighbours.product.as_str(),
            &[],
            &doc,
            expected_version,
            None,
        )
    }

    async fn add_sales(
        &self,
        day: NaiveDate,
        _order: &OrderId,
        products: &[ProductId],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(unavailable)?;
        for product in products {
            tx.execute(
                "INSERT INTO sales (day, product, count) VALUES (?1, ?2, 1)
                 ON CONFLICT(day, product) DO UPDATE SET count = count + 1",
                params![day.to_string(), product.as_str()],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)
    }

    async fn sales_since(&self, first_day: NaiveDate) -> Result<Vec<(ProductId, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT product, SUM(count) FROM sales WHERE day >= ?1 GROUP BY product",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map([first_day.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(unavailable)?;
        let mut sales = Vec::new();
        for row in rows {
            let (product, count) = row.map_err(unavailable)?;
            if let Some(product) = ProductId::parse(&product) {
                sales.push((product, u64::try_from(count).unwrap_or(0)));
            }
        }
        Ok(sales)
    }

    async fn get_best_sellers(&self) -> Result<Option<BestSellers>, StoreError> {
        let doc: Option<String> = self
            .conn()?
            .query_row("SELECT doc FROM best_sellers WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(unavailable)?;
        doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn save_best_sellers(&self, best: &BestSellers) -> Result<(), StoreError> {
        let doc = to_doc(best)?;
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO best_sellers (id, doc) VALUES (1, ?1)",
                [doc],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn record_click(&self, product: &ProductId) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO clicks (product, count) VALUES (?1, 1)
                 ON CONFLICT(product) DO UPDATE SET count = count + 1",
                [product.as_str()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn clicks(&self, limit: usize) -> Result<Vec<(ProductId, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT product, count FROM clicks ORDER BY count DESC, product LIMIT ?1",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map([limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(unavailable)?;
        let mut clicks = Vec::new();
        for row in rows {
            let (product, count) = row.map_err(unavailable)?;
            if let Some(product) = ProductId::parse(&product) {
                clicks.push((product, u64::try_from(count).unwrap_or(0)));
            }
        }
        Ok(clicks)
    }

    async fn get_account(&self, customer: &CustomerId) -> Result<Option<Account>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM accounts WHERE id = ?1",
            [customer.as_str()],
        )
    }

    async fn save_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(account)?;
        versioned_upsert(
            &mut *self.conn()?,
            "accounts",
            account.customer_id.as_str(),
            &[],
            &doc,
            expected_version,
            Some("loyalty"),
        )
    }

    async fn find_customer_by_email(&self, email: &str) -> Result<Option<Customer>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM customers WHERE email = ?1 ORDER BY id LIMIT 1",
            [email],
        )
    }

    async fn add_due(&self, entry: &DueEntry, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO due (kind, day, subject, not_before) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, day, subject) DO UPDATE SET not_before = excluded.not_before",
                params![
                    entry.kind.as_str(),
                    entry.day.to_string(),
                    entry.subject,
                    entry.not_before.map(|at| at.timestamp())
                ],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn due_subjects(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare_cached(
                "SELECT day, subject, not_before FROM due
                 WHERE kind = ?1 AND day <= ?2 AND (not_before IS NULL OR not_before <= ?3)
                 ORDER BY day, subject LIMIT ?4",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map(
                params![
                    kind.as_str(),
                    now.date_naive().to_string(),
                    now.timestamp(),
                    limit as i64
                ],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                    ))
                },
            )
            .map_err(unavailable)?;
        let mut entries = Vec::new();
        for row in rows {
            let (day, subject, not_before) = row.map_err(unavailable)?;
            let day = day
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("due day {day}: {e}")))?;
            entries.push(DueEntry {
                kind,
                day,
                subject,
                not_before: not_before.and_then(|t| DateTime::from_timestamp(t, 0)),
            });
        }
        Ok(entries)
    }

    async fn due_served(&self, kind: DueKind, served: &[DueEntry]) -> Result<(), StoreError> {
        // Served rows go; one filed again since (another time) stays, for its own time.
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(unavailable)?;
        {
            let mut delete = tx
                .prepare_cached(
                    "DELETE FROM due WHERE kind = ?1 AND day = ?2 AND subject = ?3
                     AND not_before IS ?4",
                )
                .map_err(unavailable)?;
            for entry in served {
                delete
                    .execute(params![
                        kind.as_str(),
                        entry.day.to_string(),
                        entry.subject,
                        entry.not_before.map(|at| at.timestamp())
                    ])
                    .map_err(unavailable)?;
            }
        }
        tx.commit().map_err(unavailable)?;
        Ok(())
    }

    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM subscriptions WHERE id = ?1",
            [id.as_str()],
        )
    }

    async fn save_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(subscription)?;
        versioned_upsert(
            &mut *self.conn()?,
            "subscriptions",
            subscription.id.as_str(),
            &[("customer_id", Some(subscription.customer_id.as_str()))],
            &doc,
            expected_version,
            Some("subscription"),
        )
    }

    async fn subscriptions_for_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.versioned_docs(
            "SELECT doc, version FROM subscriptions WHERE customer_id = ?1 ORDER BY id",
            customer.as_str(),
        )
    }

    async fn save_manage_link(&self, link: &ManageLink) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO manage_links (token, expires_at, doc) VALUES (?1, ?2, ?3)",
                params![
                    link.token.as_str(),
                    link.expires_at.timestamp(),
                    to_doc(link)?
                ],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_manage_link(&self, token: &Token) -> Result<Option<ManageLink>, StoreError> {
        let doc: Option<String> = self
            .conn()?
            .query_row(
                "SELECT doc FROM manage_links WHERE token = ?1",
                [token.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn count_attempt(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u32, StoreError> {
        let count: i64 = self
            .conn()?
            .query_row(
                "INSERT INTO counters (key, count, expires_at) VALUES (?1, 1, ?2)
                 ON CONFLICT(key) DO UPDATE SET count = count + 1 RETURNING count",
                params![key, expires_at.timestamp()],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError> {
        self.versioned_row(
            "SELECT doc, version FROM reviews WHERE id = ?1",
            [id.as_str()],
        )
    }

    async fn save_review(
        &self,
        review: &Review,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let doc = to_doc(review)?;
        let unlinked = match review.customer_id {
            None => review.email.as_deref(),
            Some(_) => None,
        };
        versioned_upsert(
            &mut *self.conn()?,
            "reviews",
            review.id.as_str(),
            &[
                ("order_id", review.order_id.as_ref().map(|o| o.as_str())),
                ("unlinked_email", unlinked),
            ],
            &doc,
            expected_version,
            Some("review"),
        )
    }

    async fn reviews_for_order(&self, order: &OrderId) -> Result<Vec<Review>, StoreError> {
        self.versioned_docs(
            "SELECT doc, version FROM reviews WHERE order_id = ?1 ORDER BY id",
            order.as_str(),
        )
    }

    async fn unlinked_reviews(&self, email: &str) -> Result<Vec<Review>, StoreError> {
        self.versioned_docs(
            "SELECT doc, version FROM reviews WHERE unlinked_email = ?1 ORDER BY id",
            email,
        )
    }
}
