//! The `Store` port on one DynamoDB table.
//!
//! Items (pk / sk):
//! - `SHIP#{carrier}#{tracking}` / `META`: a shipment (`gsi1pk = TN#{tracking}`, `tracking_token`)
//! - `DEDUPE#{key}` / `DEDUPE`: a carrier delivery applied (TTL)
//! - `PENDING#{tracking}` / `LINK`: a fulfilment waiting for its carrier
//! - `ORDER#{id}` / `META`, `CUST#{id}` / `PROFILE`, `DELIVERY#{key}` / `DELIVERY` (TTL)
//! - `SUB#{id}` / `META`: a subscription; `CUST#{customer}` / `SUB#{id}` points to it
//! - `LINK#{token}` / `MANAGE`: a manage link (TTL); `COUNT#{key}` / `COUNT`: a rate limit (TTL)
//! - `REVIEW#{id}` / `META`: a review; `ORDER#{order}` / `REVIEW#{id}` and, until the reviewer
//!   is a customer, `UNLINKED#{email}` / `REVIEW#{id}` point to it. Pointers are written before
//!   the record and checked against it when read, so a crash between leaves nothing wrong.
//! - `DUE#{kind}#{day}` / `{subject}`: the schedule's index, read from `DUECURSOR#{kind}` /
//!   `CURSOR` (the last entry served); entries filed already due wait in `DUE#{kind}#late` /
//!   `{day}#{subject}` (see `add_due`)
//!
//! The record itself is the JSON `doc` attribute; the attributes beside it are the ones keys,
//! indexes, conditions, TTL and stream filters need.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use doorstep_core::catalog::{BestSellers, Neighbours, Product};
use doorstep_core::chrono::NaiveDate;
use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::ids::{
    CarrierSlug, CustomerId, OrderId, ProductId, ReviewId, ShipmentKey, SubscriptionId, Token,
    TrackingNumber,
};
use doorstep_core::loyalty::Account;
use doorstep_core::model::{Customer, Order, PendingLink, Shipment};
use doorstep_core::ports::{
    DueEntry, DueKind, Freshness, ShipmentWrite, Store, StoreError, WriteError,
};
use doorstep_core::reviews::Review;
use doorstep_core::subscriptions::{ManageLink, Subscription};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

pub const TRACKING_NUMBER_INDEX: &str = "by_tracking_number";
pub const TOKEN_INDEX: &str = "by_tracking_token";
pub const PREFERENCES_INDEX: &str = "by_preferences_token";
pub const EMAIL_INDEX: &str = "by_email";
/// Set on a shipment's, an order's or a loyalty account's item when the write changed
/// something the notifier acts on: its stream filter passes those only with it
/// (`ShipmentWrite::quiet`, `Store::save_order_quietly`, `Store::save_account_quietly`).
pub const NOTIFY_ATTRIBUTE: &str = "notify";
/// How far back the schedule's index is read the first time (later runs start at a cursor).
const DUE_FIRST_LOOKBACK_DAYS: i64 = 7;
/// Days one run walks at most (a long outage is caught up over several runs).
const DUE_MAX_DAYS_PER_RUN: i64 = 400;
/// An entry due sooner than this after it is filed may fall before the cursor a run is about
/// to write, so it is filed apart (the kind's `late` partition) and deleted when served.
/// Longer than any function runs (60 s at most) and any clock skew between them.
const DUE_FILING_MARGIN_S: i64 = 300;
/// How long a served entry stays before DynamoDB's TTL deletes it (at no charge); an entry a
/// stopped schedule left unserved this long goes with it.
const DUE_KEPT_DAYS: i64 = 60;
/// A day's sales are kept a little longer than best sellers look back.
const SALES_KEPT_DAYS: i64 = 40;

type Item = HashMap<String, AttributeValue>;

/// The item, marked for the notifier's stream filter (template.yaml): shipments, orders and
/// loyalty accounts reach the notifier only with the mark.
fn notify(mut item: Item) -> Item {
    item.insert(NOTIFY_ATTRIBUTE.into(), AttributeValue::Bool(true));
    item
}

/// How a read sees the table. Records are read strongly consistent, because most reads precede a
/// conditional write or decide what to send. The catalog (products, their neighbour lists, the
/// best sellers), the schedule's cursors and the suppression list are read eventually
/// consistent at half the read units: pages and messages only show the catalog, the writes that
/// follow a catalog read are conditional on the version read (a stale read ends in a conflict
/// and a re-read, never a lost update), a stale cursor only makes a job look at more days, and
/// a bounce or an opt-out reaches the list seconds to minutes after the message that caused it,
/// so a read that misses the last second of it decides what a read a second earlier would.
/// Records asked for at [`Freshness::Recent`] (a carrier's parcel before its guarded write, the
/// order and customer a message is decided from) are read eventually consistent too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    Consistent,
    Eventual,
}

impl From<Freshness> for Read {
    fn from(freshness: Freshness) -> Self {
        match freshness {
            Freshness::Latest => Read::Consistent,
            Freshness::Recent => Read::Eventual,
        }
    }
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Counts reads and their capacity units when set (benchmarks; off in the functions).
    meter: Option<std::sync::Arc<ReadMeter>>,
}

/// What a store read, sized by DynamoDB's rules: an item's size is the UTF-8 length of its
/// attribute names plus its values; a strongly consistent read costs one unit per 4 KB, per
/// item for `GetItem` and `BatchGetItem`, over the whole response for `Query`.
#[derive(Debug, Default)]
pub struct ReadMeter {
    pub requests: std::sync::atomic::AtomicU64,
    pub items: std::sync::atomic::AtomicU64,
    pub read_units: std::sync::atomic::AtomicU64,
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        // Numbers: about one byte per two significant digits, plus one.
        AttributeValue::N(n) => (n.len() as u64).div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::Ss(v) => v.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| (n.len() as u64).div_ceil(2) + 1).sum(),
        _ => 1,
    }
}

/// An item's size as DynamoDB bills it.
pub fn item_size(item: &Item) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

impl ReadMeter {
    fn record(&self, items: &[Item], per_item: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        const UNIT: u64 = 4096;
        let units = match per_item {
            true => items
                .iter()
                .map(|i| item_size(i).div_ceil(UNIT).max(1))
                .sum(),
            false => items
                .iter()
                .map(item_size)
                .sum::<u64>()
                .div_ceil(UNIT)
                .max(1),
        };
        self.requests.fetch_add(1, Relaxed);
        self.items.fetch_add(items.len() as u64, Relaxed);
        self.read_units.fetch_add(units, Relaxed);
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A storage error with the service's code and message (or the transport's, cut short).
pub(crate) fn unavailable<
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
>(
    e: SdkError<E, R>,
) -> StoreError {
    let detail = match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("unknown"),
            service.message().unwrap_or("")
        ),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            .to_string()
            .chars()
            .take(300)
            .collect(),
    };
    StoreError::Unavailable(detail)
}

fn shipment_pk(carrier: &CarrierSlug, tracking: &TrackingNumber) -> String {
    format!("SHIP#{carrier}#{tracking}")
}

fn doc<T: Serialize>(record: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(record)
        .map(crate::document::encode)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn read<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text =
        crate::document::decode(item.get("doc")).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    value["version"] = serde_json::Value::from(version);
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Whether an item with a TTL exists and has not expired (TTL deletion lags, so an expired
/// record counts as absent).
fn unexpired(item: Option<&Item>) -> bool {
    item.and_then(|i| i.get("ttl"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|t| t > Utc::now().timestamp())
}

/// What a cancelled shipment transaction means: a version conflict, or a storage failure.
fn transaction_error<R: std::fmt::Debug>(e: SdkError<TransactWriteItemsError, R>) -> WriteError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        e.as_service_error()
    else {
        return unavailable(e).into();
    };
    let failed = |index: usize| {
        cancelled
            .cancellation_reasons()
            .get(index)
            .and_then(|r| r.code())
            .is_some_and(|code| code == "ConditionalCheckFailed")
    };
    if failed(0) {
        WriteError::Conflict
    } else {
        StoreError::Unavailable(format!("transaction cancelled: {:?}", cancelled.message())).into()
    }
}

/// The condition and values that guard a versioned write.
fn version_guard(expected: Option<u64>) -> (String, Item) {
    match expected {
        None => ("attribute_not_exists(pk)".into(), HashMap::new()),
        Some(v) => (
            "version = :expected".into(),
            HashMap::from([(":expected".to_string(), n(v as i64))]),
        ),
    }
}

fn next_version(expected: Option<u64>) -> i64 {
    expected.map_or(1, |v| v as i64 + 1)
}

/// The schedule's bucket of a kind's day: `DUE#{kind}#{YYYY-MM-DD}`.
fn due_bucket(kind: DueKind, day: NaiveDate) -> String {
    format!("DUE#{kind}#{day}")
}

/// Where a kind's entries filed already due (or nearly) wait: `DUE#{kind}#late`.
fn late_bucket(kind: DueKind) -> String {
    format!("DUE#{kind}#late")
}

/// An entry's place in its kind's order: its day, the instant it falls due, its subject. The
/// cursor is the place of the last entry served, so a run reads only what comes after it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DuePlace {
    day: NaiveDate,
    at: i64,
    subject: String,
}

impl DuePlace {
    fn of(entry: &DueEntry) -> Self {
        Self {
            day: entry.day,
            at: entry
                .not_before
                .map_or_else(|| day_start(entry.day), |t| t.timestamp()),
            subject: entry.subject.clone(),
        }
    }

    /// Before every entry of `day`: the cursor of a run that found nothing left before it.
    fn start_of(day: NaiveDate) -> Self {
        Self {
            day,
            at: i64::MIN,
            subject: String::new(),
        }
    }
}

fn not_before_of(item: &Item) -> Option<DateTime<Utc>> {
    item.get("not_before")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

impl DynamoStore {
    /// A pointer item: `pk` / `sk` naming another record, nothing else.
    async fn put_pointer(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("entity", s("pointer"))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_item(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The records a partition's pointers (`sk` starting with `prefix`) name: `{prefix}{id}`
    /// becomes `{record}{id}` / `META`.
    async fn pointed<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        record: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            self.metered_read(output.items(), false);
            for item in output.items() {
                if let Some(id) = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(prefix))
                {
                    keys.push((format!("{record}{id}"), "META"));
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = self.batch_get(keys).await?;
        items.sort_by(|a, b| {
            let pk = |i: &Item| i.get("pk").and_then(|v| v.as_s().ok()).cloned();
            pk(a).cmp(&pk(b))
        });
        items.iter().map(read).collect()
    }

    /// The place of the last entry of a kind a run served (`None` before the first run).
    async fn due_cursor(&self, kind: DueKind) -> Result<Option<DuePlace>, StoreError> {
        // A stale cursor only names an earlier place: the job serves a few entries again (each
        // serving is idempotent: messages have their keys), never skips one, so the cheaper
        // read is safe. A cursor with a day only (written before places) stands before that
        // day's first entry, which is what it meant then.
        let item = self
            .get_item_read(format!("DUECURSOR#{kind}"), "CURSOR", Read::Eventual)
            .await?;
        let Some(item) = item else { return Ok(None) };
        let Some(day) = item
            .get("day")
            .and_then(|v| v.as_s().ok())
            .and_then(|d| d.parse().ok())
        else {
            return Ok(None);
        };
        let mut place = DuePlace::start_of(day);
        if let Some(at) = item
            .get("at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
        {
            place.at = at;
            place.subject = item
                .get("subject")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
        }
        Ok(Some(place))
    }

    async fn set_due_cursor(&self, kind: DueKind, place: &DuePlace) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("DUECURSOR#{kind}")))
            .item("sk", s("CURSOR"))
            .item("entity", s("cursor"))
            .item("day", s(place.day.to_string()));
        if place.at != i64::MIN {
            put = put
                .item("at", n(place.at))
                .item("subject", s(place.subject.as_str()));
        }
        put.send().await.map_err(unavailable)?;
        Ok(())
    }

    /// A kind's entries filed already due, not served yet (served ones are deleted). Read
    /// eventually consistent: no cursor passes these, so one a replica has not seen yet is
    /// only left for the next run, and one it still shows after its delete is served again
    /// (serving is idempotent).
    async fn late_entries(&self, kind: DueKind) -> Result<Vec<(String, DueEntry)>, StoreError> {
        let items = self.query_partition(late_bucket(kind)).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?.clone();
                let day = item.get("day")?.as_s().ok()?.parse().ok()?;
                let subject = item.get("subject")?.as_s().ok()?;
                let entry = DueEntry {
                    not_before: not_before_of(item),
                    ..DueEntry::on(kind, day, subject)
                };
                Some((sk, entry))
            })
            .collect())
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            meter: None,
        }
    }

    /// The same store, counting what it reads into `meter`.
    pub fn metered(mut self, meter: std::sync::Arc<ReadMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    fn metered_read(&self, items: &[Item], per_item: bool) {
        if let Some(meter) = &self.meter {
            meter.record(items, per_item);
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every item of one partition.
    pub(crate) async fn query_partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.query_partition_read(pk, Read::Eventual).await
    }

    async fn query_partition_read(&self, pk: String, read: Read) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(read == Read::Consistent)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let page = output.items.unwrap_or_default();
            self.metered_read(&page, false);
            items.extend(page);
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.get_item_read(pk, sk, Read::Consistent).await
    }

    pub(crate) async fn get_item_read(
        &self,
        pk: String,
        sk: &str,
        read: Read,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(read == Read::Consistent)
            .send()
            .await
            .map_err(unavailable)?;
        self.metered_read(output.item.as_slice(), true);
        Ok(output.item)
    }

    /// Items by key, up to 100 a request, retrying what DynamoDB leaves unprocessed; in no order.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<(String, &str)>,
    ) -> Result<Vec<Item>, StoreError> {
        self.batch_get_read(keys, Read::Consistent).await
    }

    async fn batch_get_read(
        &self,
        keys: Vec<(String, &str)>,
        read: Read,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([("pk".into(), s(pk.clone())), ("sk".into(), s(*sk))])
                })
                .collect();
            for attempt in 0..8u32 {
                if pending.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(read == Read::Consistent)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                if let Some(items) = output.responses.and_then(|mut r| r.remove(&self.table)) {
                    self.metered_read(&items, true);
                    found.extend(items);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    // Throttled: back off a little before asking again.
                    let millis = 20u64 << attempt.min(6);
                    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "batch read left keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }

    /// The records an index names: the indexes hold keys only (a shipment rewritten on every
    /// scan costs no index write unless a key changes), so the records are read by key after.
    async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        key: &str,
        value: String,
    ) -> Result<Vec<T>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", s(value.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            self.metered_read(output.items(), false);
            for item in output.items() {
                let pk = item.get("pk").and_then(|v| v.as_s().ok());
                let sk = item.get("sk").and_then(|v| v.as_s().ok());
                if let (Some(pk), Some(sk)) = (pk, sk) {
                    keys.push((pk.clone(), sk.clone()));
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut items = match keys.as_slice() {
            [] => Vec::new(),
            [(pk, sk)] => self.get_item(pk.clone(), sk).await?.into_iter().collect(),
            _ => {
                self.batch_get(
                    keys.iter()
                        .map(|(pk, sk)| (pk.clone(), sk.as_str()))
                        .collect(),
                )
                .await?
            }
        };
        // The same answer every time, whatever order the index gave.
        items.sort_by(|a, b| {
            let pk = |i: &Item| i.get("pk").and_then(|v| v.as_s().ok()).cloned();
            pk(a).cmp(&pk(b))
        });
        items.iter().map(read).collect()
    }

    async fn put_versioned(&self, mut item: Item, expected: Option<u64>) -> Result<(), WriteError> {
        let (condition, values) = version_guard(expected);
        item.insert("version".into(), n(next_version(expected)));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(WriteError::Conflict)
            }
            Err(e) => Err(unavailable(e).into()),
        }
    }

    /// The guarded shipment put, with its dedupe record and the pending link it consumes.
    fn shipment_transaction(
        &self,
        shipment: &Shipment,
        mut item: Item,
        write: ShipmentWrite,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let (condition, values) = version_guard(write.expected_version);
        item.insert("version".into(), n(next_version(write.expected_version)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if write.consume_pending_link {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("PENDING#{}", shipment.tracking_number)))
                .key("sk", s("LINK"))
                .build()
                .map_err(built)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(items)
    }

    fn order_item(order: &Order) -> Result<Item, StoreError> {
        Ok(HashMap::from([
            ("pk".to_string(), s(format!("ORDER#{}", order.id))),
            ("sk".to_string(), s("META")),
            ("entity".to_string(), s("order")),
            ("doc".to_string(), doc(order)?),
        ]))
    }

    fn account_item(account: &Account) -> Result<Item, StoreError> {
        Ok(HashMap::from([
            (
                "pk".to_string(),
                s(format!("ACCOUNT#{}", account.customer_id)),
            ),
            ("sk".to_string(), s("META")),
            // The notifier's stream filter passes `loyalty` with `notify` (a tier rise).
            ("entity".to_string(), s("loyalty")),
            ("doc".to_string(), doc(account)?),
        ]))
    }

    fn shipment_item(shipment: &Shipment) -> Result<Item, StoreError> {
        Ok(HashMap::from([
            (
                "pk".to_string(),
                s(shipment_pk(&shipment.carrier, &shipment.tracking_number)),
            ),
            ("sk".to_string(), s("META")),
            ("entity".to_string(), s("shipment")),
            (
                "gsi1pk".to_string(),
                s(format!("TN#{}", shipment.tracking_number)),
            ),
            (
                "tracking_token".to_string(),
                s(shipment.tracking_token.as_str()),
            ),
            ("status".to_string(), s(shipment.status.as_str())),
            ("doc".to_string(), doc(shipment)?),
        ]))
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
    ) -> Result<Option<Shipment>, StoreError> {
        self.read_shipment(carrier, tracking, Freshness::Latest)
            .await
    }

    async fn read_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
        freshness: Freshness,
    ) -> Result<Option<Shipment>, StoreError> {
        self.get_item_read(shipment_pk(carrier, tracking), "META", freshness.into())
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn find_shipments(&self, tracking: &TrackingNumber) -> Result<Vec<Shipment>, StoreError> {
        self.query_index(TRACKING_NUMBER_INDEX, "gsi1pk", format!("TN#{tracking}"))
            .await
    }

    async fn get_shipment_by_token(&self, token: &Token) -> Result<Option<Shipment>, StoreError> {
        Ok(self
            .query_index(TOKEN_INDEX, "tracking_token", token.as_str().to_string())
            .await?
            .into_iter()
            .next())
    }

    async fn save_shipment(
        &self,
        shipment: &Shipment,
        write: ShipmentWrite,
    ) -> Result<(), WriteError> {
        let mut item = Self::shipment_item(shipment)?;
        if !write.quiet {
            item = notify(item);
        }
        if !write.consume_pending_link {
            // One conditional put: the version guard is the only condition (redeliveries are
            // recognized from the shipment's own record of them).
            return self.put_versioned(item, write.expected_version).await;
        }
        // The shipment and the pending link it consumes change together or not at all.
        let items = self.shipment_transaction(shipment, item, write)?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(transaction_error(e)),
        }
    }

    async fn get_shipments(&self, keys: &[ShipmentKey]) -> Result<Vec<Shipment>, StoreError> {
        let keys = keys
            .iter()
            .map(|k| (shipment_pk(&k.carrier, &k.tracking_number), "META"))
            .collect();
        self.batch_get(keys).await?.iter().map(read).collect()
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| (format!("PRODUCT#{id}"), "META"))
            .collect();
        // Catalog reads: see `Read::Eventual`.
        self.batch_get_read(keys, Read::Eventual)
            .await?
            .iter()
            .map(read)
            .collect()
    }

    async fn save_product(
        &self,
        product: &Product,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = HashMap::from([
            ("pk".to_string(), s(format!("PRODUCT#{}", product.id))),
            ("sk".to_string(), s("META")),
            ("entity".to_string(), s("product")),
            ("doc".to_string(), doc(product)?),
        ]);
        self.put_versioned(item, expected_version).await
    }

    async fn get_neighbours(&self, ids: &[ProductId]) -> Result<Vec<Neighbours>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| (format!("NEIGHBOURS#{id}"), "META"))
            .collect();
        self.batch_get_read(keys, Read::Eventual)
            .await?
            .iter()
            .map(read)
            .collect()
    }

    async fn save_neighbours(
        &self,
        neighbours: &Neighbours,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = HashMap::from([
            (
                "pk".to_string(),
                s(format!("NEIGHBOURS#{}", neighbours.product)),
            ),
            ("sk".to_string(), s("META")),
            ("entity".to_string(), s("neighbours")),
            ("doc".to_string(), doc(neighbours)?),
        ]);
        self.put_versioned(item, expected_version).await
    }

    async fn add_sales(
        &self,
        day: NaiveDate,
        order: &OrderId,
        products: &[ProductId],
    ) -> Result<(), StoreError> {
        if products.is_empty() {
            return Ok(());
        }
        // One item per order listing its products, not an increment per product: one write
        // for the order, and the same order written again is still counted once.
        let ttl = day_start(day) + SALES_KEPT_DAYS * 86_400;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("SALES#{day}")))
            .item("sk", s(order.as_str()))
            .item(
                "products",
                AttributeValue::L(products.iter().map(|p| s(p.as_str())).collect()),
            )
            .item("ttl", n(ttl))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn sales_since(&self, first_day: NaiveDate) -> Result<Vec<(ProductId, u64)>, StoreError> {
        let mut totals: HashMap<String, u64> = HashMap::new();
        let today = Utc::now().date_naive();
        let mut day = first_day;
        while day <= today {
            for item in self.query_partition(format!("SALES#{day}")).await? {
                match item.get("products").and_then(|v| v.as_l().ok()) {
                    Some(products) => {
                        for product in products.iter().filter_map(|p| p.as_s().ok()) {
                            *totals.entry(product.clone()).or_default() += 1;
                        }
                    }
                    // A product's count, as versions before one item per order kept it.
                    None => {
                        let product = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
                        let count = item
                            .get("count")
                            .and_then(|v| v.as_n().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(0);
                        if let Some(product) = product {
                            *totals.entry(product).or_default() += count;
                        }
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        Ok(totals
            .into_iter()
            .filter_map(|(p, c)| Some((ProductId::parse(&p)?, c)))
            .collect())
    }

    async fn get_best_sellers(&self) -> Result<Option<BestSellers>, StoreError> {
        self.get_item_read("BESTSELLERS".into(), "META", Read::Eventual)
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn save_best_sellers(&self, best: &BestSellers) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("BESTSELLERS"))
            .item("sk", s("META"))
            .item("entity", s("best_sellers"))
            .item("doc", doc(best)?)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn record_click(&self, product: &ProductId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("CLICKS"))
            .key("sk", s(product.as_str()))
            .update_expression("ADD clicks :one")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn clicks(&self, limit: usize) -> Result<Vec<(ProductId, u64)>, StoreError> {
        let mut clicks: Vec<(ProductId, u64)> = self
            .query_partition("CLICKS".into())
            .await?
            .iter()
            .filter_map(|item| {
                let product = ProductId::parse(item.get("sk")?.as_s().ok()?)?;
                let count = item.get("clicks")?.as_n().ok()?.parse().ok()?;
                Some((product, count))
            })
            .collect();
        clicks.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
        clicks.truncate(limit);
        Ok(clicks)
    }

    async fn get_account(&self, customer: &CustomerId) -> Result<Option<Account>, StoreError> {
        self.get_item(format!("ACCOUNT#{customer}"), "META")
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn save_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = Self::account_item(account)?;
        self.put_versioned(notify(item), expected_version).await
    }

    async fn save_account_quietly(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = Self::account_item(account)?;
        self.put_versioned(item, expected_version).await
    }

    async fn find_customer_by_email(&self, email: &str) -> Result<Option<Customer>, StoreError> {
        let mut customers: Vec<Customer> = self
            .query_index(EMAIL_INDEX, "email", email.to_string())
            .await?;
        // Two customers with one address (a guest and an account): the same one every time.
        customers.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(customers.into_iter().next())
    }

    async fn add_due(&self, entry: &DueEntry, now: DateTime<Utc>) -> Result<(), StoreError> {
        let place = DuePlace::of(entry);
        let late = place.at <= now.timestamp().saturating_add(DUE_FILING_MARGIN_S);
        let ttl = day_start(entry.day).max(now.timestamp()) + DUE_KEPT_DAYS * 86_400;
        let (pk, sk) = match late {
            // Already (nearly) due: a run may be about to move the cursor past its place.
            true => (
                late_bucket(entry.kind),
                format!("{}#{}", entry.day, entry.subject),
            ),
            false => (due_bucket(entry.kind, entry.day), entry.subject.clone()),
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("entity", s("due"))
            .item("ttl", n(ttl));
        if late {
            put = put
                .item("day", s(entry.day.to_string()))
                .item("subject", s(entry.subject.as_str()));
        }
        if let Some(at) = entry.not_before {
            put = put.item("not_before", n(at.timestamp()));
        }
        put.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn due_subjects(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let today = now.date_naive();
        let cursor = self.due_cursor(kind).await?;
        let start = match &cursor {
            Some(cursor) => cursor.day,
            None => today - doorstep_core::chrono::Duration::days(DUE_FIRST_LOOKBACK_DAYS),
        };
        let stop = today.min(start + doorstep_core::chrono::Duration::days(DUE_MAX_DAYS_PER_RUN));
        let mut entries = Vec::new();
        let mut work_before_today = false;
        let mut day = start;
        // Strongly consistent: an entry filed before this read must be seen, or the cursor
        // the run writes could pass it.
        while day <= stop && entries.len() < limit {
            for item in self
                .query_partition_read(due_bucket(kind, day), Read::Consistent)
                .await?
            {
                let Some(subject) = item.get("sk").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let entry = DueEntry {
                    not_before: not_before_of(&item),
                    ..DueEntry::on(kind, day, subject)
                };
                if cursor.as_ref().is_some_and(|c| DuePlace::of(&entry) <= *c) {
                    continue; // served
                }
                work_before_today |= day < today;
                // Still to come today: left filed, unread.
                if entry.is_due(now) {
                    entries.push(entry);
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        let walked_to_today = day > today;
        for (_, entry) in self.late_entries(kind).await? {
            if entry.is_due(now) {
                entries.push(entry);
            }
        }
        entries.sort_by_cached_key(DuePlace::of);
        entries.truncate(limit);
        // Nothing left before today and nothing to serve: later runs start at today (a run
        // that finds the cursor there already writes nothing, as most runs of a quiet schedule
        // do). A run given entries moves the cursor when it ends (`due_served`).
        let behind = cursor.as_ref().is_none_or(|c| c.day < today);
        if entries.is_empty() && walked_to_today && !work_before_today && behind {
            self.set_due_cursor(kind, &DuePlace::start_of(today))
                .await?;
        }
        Ok(entries)
    }

    async fn due_served(&self, kind: DueKind, served: &[DueEntry]) -> Result<(), StoreError> {
        if served.is_empty() {
            return Ok(());
        }
        // Served entries stay until their TTL: the cursor moves past them, one write for the
        // run instead of one delete each. `served` leads what the run was given, in order, so
        // every entry up to its furthest place is served. Late ones sit apart, outside that
        // order, and are deleted (one filed late again since, with another time, stays).
        let late = self.late_entries(kind).await?;
        let mut furthest: Option<DuePlace> = None;
        for entry in served {
            match late.iter().find(|(_, filed)| filed == entry) {
                Some((sk, _)) => self.delete_item(late_bucket(kind), sk.clone()).await?,
                None => furthest = furthest.max(Some(DuePlace::of(entry))),
            }
        }
        if let Some(place) = furthest {
            self.set_due_cursor(kind, &place).await?;
        }
        Ok(())
    }

    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.get_item(format!("SUB#{id}"), "META")
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn save_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        if expected_version.is_none() {
            self.put_pointer(
                format!("CUST#{}", subscription.customer_id),
                format!("SUB#{}", subscription.id),
            )
            .await?;
        }
        let item = HashMap::from([
            ("pk".to_string(), s(format!("SUB#{}", subscription.id))),
            ("sk".to_string(), s("META")),
            // The notifier's stream filter passes `subscription` (requests, link requests).
            ("entity".to_string(), s("subscription")),
            ("doc".to_string(), doc(subscription)?),
        ]);
        self.put_versioned(item, expected_version).await
    }

    async fn subscriptions_for_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        let found: Vec<Subscription> = self
            .pointed(format!("CUST#{customer}"), "SUB#", "SUB#")
            .await?;
        Ok(found
            .into_iter()
            .filter(|s| s.customer_id == *customer)
            .collect())
    }

    async fn save_manage_link(&self, link: &ManageLink) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("LINK#{}", link.token)))
            .item("sk", s("MANAGE"))
            .item("entity", s("manage_link"))
            .item("doc", doc(link)?)
            .item("ttl", n(link.expires_at.timestamp() + 86_400))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_manage_link(&self, token: &Token) -> Result<Option<ManageLink>, StoreError> {
        self.get_item(format!("LINK#{token}"), "MANAGE")
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn count_attempt(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u32, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("COUNT#{key}")))
            .key("sk", s("COUNT"))
            .update_expression("ADD #count :one SET #ttl = :ttl, entity = :entity")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires_at.timestamp()))
            .expression_attribute_values(":entity", s("counter"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .attributes()
            .and_then(|a| a.get("count"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX))
    }

    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError> {
        self.get_item(format!("REVIEW#{id}"), "META")
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn save_review(
        &self,
        review: &Review,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        if let Some(order) = &review.order_id {
            self.put_pointer(format!("ORDER#{order}"), format!("REVIEW#{}", review.id))
                .await?;
        }
        let unlinked = review
            .email
            .as_ref()
            .map(|email| (format!("UNLINKED#{email}"), format!("REVIEW#{}", review.id)));
        if let (None, Some((pk, sk))) = (&review.customer_id, &unlinked) {
            self.put_pointer(pk.clone(), sk.clone()).await?;
        }
        let item = HashMap::from([
            ("pk".to_string(), s(format!("REVIEW#{}", review.id))),
            ("sk".to_string(), s("META")),
            // The notifier's stream filter passes `review` (alerts, thanks).
            ("entity".to_string(), s("review")),
            ("doc".to_string(), doc(review)?),
        ]);
        self.put_versioned(item, expected_version).await?;
        if let (Some(_), Some((pk, sk))) = (&review.customer_id, unlinked) {
            self.delete_item(pk, sk).await?;
        }
        Ok(())
    }

    async fn reviews_for_order(&self, order: &OrderId) -> Result<Vec<Review>, StoreError> {
        let found: Vec<Review> = self
            .pointed(format!("ORDER#{order}"), "REVIEW#", "REVIEW#")
            .await?;
        Ok(found
            .into_iter()
            .filter(|r| r.order_id.as_ref() == Some(order))
            .collect())
    }

    async fn unlinked_reviews(&self, email: &str) -> Result<Vec<Review>, StoreError> {
        let found: Vec<Review> = self
            .pointed(format!("UNLINKED#{email}"), "REVIEW#", "REVIEW#")
            .await?;
        Ok(found
            .into_iter()
            .filter(|r| r.customer_id.is_none() && r.email.as_deref() == Some(email))
            .collect())
    }

    async fn get_pending_link(
        &self,
        tracking: &TrackingNumber,
    ) -> Result<Option<PendingLink>, StoreError> {
        self.get_item(format!("PENDING#{tracking}"), "LINK")
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn put_pending_link(&self, link: &PendingLink) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("PENDING#{}", link.tracking_number)))
            .item("sk", s("LINK"))
            .item("entity", s("pending_link"))
            .item("doc", doc(link)?)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read_order(id, Freshness::Latest).await
    }

    async fn read_order(
        &self,
        id: &OrderId,
        freshness: Freshness,
    ) -> Result<Option<Order>, StoreError> {
        self.get_item_read(format!("ORDER#{id}"), "META", freshness.into())
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn save_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = Self::order_item(order)?;
        self.put_versioned(notify(item), expected_version).await
    }

    async fn save_order_quietly(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = Self::order_item(order)?;
        self.put_versioned(item, expected_version).await
    }

    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.read_customer(id, Freshness::Latest).await
    }

    async fn read_customer(
        &self,
        id: &CustomerId,
        freshness: Freshness,
    ) -> Result<Option<Customer>, StoreError> {
        self.get_item_read(format!("CUST#{id}"), "PROFILE", freshness.into())
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn get_customer_by_preferences_token(
        &self,
        token: &Token,
    ) -> Result<Option<Customer>, StoreError> {
        let found: Vec<Customer> = self
            .query_index(
                PREFERENCES_INDEX,
                "preferences_token",
                token.as_str().to_string(),
            )
            .await?;
        Ok(found.into_iter().next())
    }

    async fn save_customer(
        &self,
        customer: &Customer,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        let item = HashMap::from([
            ("pk".to_string(), s(format!("CUST#{}", customer.id))),
            ("sk".to_string(), s("PROFILE")),
            ("entity".to_string(), s("customer")),
            (
                "preferences_token".to_string(),
                s(customer.preferences_token.as_str()),
            ),
            ("doc".to_string(), doc(customer)?),
        ]);
        let mut item = item;
        // The sparse `by_email` index finds a customer by address (loyalty lookups).
        if let Some(email) = customer.email_key() {
            item.insert("email".into(), s(email));
        }
        self.put_versioned(item, expected_version).await
    }

    async fn delivery_seen(&self, key: &str) -> Result<bool, StoreError> {
        let item = self.get_item(format!("DELIVERY#{key}"), "DELIVERY").await?;
        Ok(unexpired(item.as_ref()))
    }

    async fn mark_delivery(&self, key: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("DELIVERY#{key}")))
            .item("sk", s("DELIVERY"))
            .item("entity", s("delivery"))
            .item("ttl", n(expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
