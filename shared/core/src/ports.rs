//! Ports: what the domain needs from storage. Adapters live in `doorstep-aws` and `doorstep-embedded`.

use crate::catalog::{BestSellers, Neighbours, Product};
use crate::ids::{
    CarrierSlug, CustomerId, OrderId, ProductId, ReviewId, ShipmentKey, SubscriptionId, Token,
    TrackingNumber,
};
use crate::loyalty::Account;
use crate::model::{Customer, Order, PendingLink, Shipment};
use crate::reviews::Review;
use crate::subscriptions::{ManageLink, Subscription};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store could not be reached or refused the request: the sender should retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Someone else wrote the record since it was read: read again and re-apply.
    #[error("the record changed since it was read")]
    Conflict,
    /// The delivery's dedupe key is already recorded: it was applied before.
    #[error("this delivery was already applied")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a shipment write is guarded. All of it happens atomically or not at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShipmentWrite {
    /// `None`: the shipment must not exist yet. `Some(v)`: the stored version must still be `v`.
    pub expected_version: Option<u64>,
    /// Deletes the pending link parked under this shipment's tracking number.
    pub consume_pending_link: bool,
    /// Nothing the notifier acts on changed (`notify::milestones::concerns_notifier`): not the
    /// status, the failed attempts, the promised day, the choice or the order (a carrier's
    /// repeated in-transit scan, a parcel no order claims yet, one made for a fulfilment before
    /// any scan). DynamoDB's stream filter leaves such a write out, so it invokes no notifier.
    /// The schedule's checks read the parcel when they fall due, so a later scan is still seen;
    /// a scan after the estimated day (which reaches "delayed") is told by the check filed for
    /// the end of that day, at the schedule's next run. Off unless the writer knows.
    pub quiet: bool,
}

/// How current a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Freshness {
    /// Sees every write acknowledged before the read.
    #[default]
    Latest,
    /// May miss the writes of about the last second (DynamoDB: an eventually consistent read, at
    /// half the read units). For a read whose write is guarded by the version read (a stale read
    /// ends in a conflict, and the retry reads [`Freshness::Latest`]), or whose decision a
    /// second's lag cannot change. "Not there" from such a read is not an answer: read again
    /// with `Latest` before acting on it.
    Recent,
}

/// A record read at [`Freshness::Recent`], and read again at [`Freshness::Latest`] when that
/// finds nothing (which from a lagging replica is not an answer).
pub async fn read_recent<T, F, Fut>(read: F) -> Result<Option<T>, StoreError>
where
    F: Fn(Freshness) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
{
    match read(Freshness::Recent).await? {
        Some(found) => Ok(Some(found)),
        None => read(Freshness::Latest).await,
    }
}

/// How long dedupe records are kept: longer than any provider keeps retrying (AfterShip: ~68 hours).
pub const DEDUPE_RETENTION_DAYS: i64 = 30;

/// Everything the webhooks need to persist. Versions: a saved record's stored version becomes
/// `expected + 1` (or 1 when created), and reads return it in the record's `version` field.
#[async_trait]
pub trait Store: Send + Sync {
    async fn get_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
    ) -> Result<Option<Shipment>, StoreError>;
    /// `get_shipment` at a chosen [`Freshness`]; a store that has one kind of read reads it.
    async fn read_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
        _freshness: Freshness,
    ) -> Result<Option<Shipment>, StoreError> {
        self.get_shipment(carrier, tracking).await
    }
    /// Every shipment with this tracking number, whatever its carrier.
    async fn find_shipments(&self, tracking: &TrackingNumber) -> Result<Vec<Shipment>, StoreError>;
    async fn get_shipment_by_token(&self, token: &Token) -> Result<Option<Shipment>, StoreError>;
    async fn save_shipment(
        &self,
        shipment: &Shipment,
        write: ShipmentWrite,
    ) -> Result<(), WriteError>;

    async fn get_pending_link(
        &self,
        tracking: &TrackingNumber,
    ) -> Result<Option<PendingLink>, StoreError>;
    async fn put_pending_link(&self, link: &PendingLink) -> Result<(), StoreError>;

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// `get_order` at a chosen [`Freshness`].
    async fn read_order(
        &self,
        id: &OrderId,
        _freshness: Freshness,
    ) -> Result<Option<Order>, StoreError> {
        self.get_order(id).await
    }
    async fn save_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    /// `save_order` for a change the notifier has no use for (only the order's list of
    /// parcels moved; each parcel's own record tells the customer). A store whose change
    /// stream is filtered (DynamoDB) leaves it out; by default it is the same write.
    async fn save_order_quietly(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.save_order(order, expected_version).await
    }

    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    /// `get_customer` at a chosen [`Freshness`].
    async fn read_customer(
        &self,
        id: &CustomerId,
        _freshness: Freshness,
    ) -> Result<Option<Customer>, StoreError> {
        self.get_customer(id).await
    }
    /// The customer a preferences link names (the token is unguessable and unique).
    async fn get_customer_by_preferences_token(
        &self,
        token: &Token,
    ) -> Result<Option<Customer>, StoreError>;
    async fn save_customer(
        &self,
        customer: &Customer,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;

    /// Whether a store webhook delivery id was fully processed before.
    async fn delivery_seen(&self, key: &str) -> Result<bool, StoreError>;
    async fn mark_delivery(&self, key: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Several parcels at once (an order's other parcels); unknown ones are left out.
    async fn get_shipments(&self, keys: &[ShipmentKey]) -> Result<Vec<Shipment>, StoreError>;

    // The catalog (see `crate::catalog`).
    /// Several products at once; unknown ones are left out.
    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;
    async fn save_product(
        &self,
        product: &Product,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    /// Several products' neighbour lists at once; products with none are left out.
    async fn get_neighbours(&self, ids: &[ProductId]) -> Result<Vec<Neighbours>, StoreError>;
    async fn save_neighbours(
        &self,
        neighbours: &Neighbours,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    /// Counts one sale of each of an order's products on a day. Counting the same order again
    /// may count it twice (the caller counts each order once).
    async fn add_sales(
        &self,
        day: NaiveDate,
        order: &OrderId,
        products: &[ProductId],
    ) -> Result<(), StoreError>;
    /// Every product's sales from `first_day` on, summed (the best-sellers job; one read per day).
    async fn sales_since(&self, first_day: NaiveDate) -> Result<Vec<(ProductId, u64)>, StoreError>;
    async fn get_best_sellers(&self) -> Result<Option<BestSellers>, StoreError>;
    async fn save_best_sellers(&self, best: &BestSellers) -> Result<(), StoreError>;
    /// Counts a click on a recommended product (atomic).
    async fn record_click(&self, product: &ProductId) -> Result<(), StoreError>;
    /// Clicks per product, most clicked first.
    async fn clicks(&self, limit: usize) -> Result<Vec<(ProductId, u64)>, StoreError>;

    // Loyalty (see `crate::loyalty`).
    async fn get_account(&self, customer: &CustomerId) -> Result<Option<Account>, StoreError>;
    /// Versioned like the other records; a write is a change the notifier sees (tier upgrades).
    async fn save_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    /// `save_account` for a change the notifier has no use for (the tier did not rise), left
    /// out of a filtered change stream like [`Store::save_order_quietly`].
    async fn save_account_quietly(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.save_account(account, expected_version).await
    }
    /// The customer with this email address (normalized, lower case), if any.
    async fn find_customer_by_email(&self, email: &str) -> Result<Option<Customer>, StoreError>;

    // The schedule's index: what falls due on which day, so a job reads only that.
    /// Files the entry's subject (a customer id, a parcel's key) under its day for its kind's
    /// job; filed again under the same day, the entry's `not_before` replaces the one filed.
    /// `now` is the filer's clock: an entry due by then (or within moments) is taken by the
    /// next run all the same.
    async fn add_due(&self, entry: &DueEntry, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// What is filed under `kind` on `now`'s day or earlier, is due by `now` and no run has
    /// served yet (an entry whose `not_before` is still to come is left filed, unread by the
    /// job), oldest day first, at most `limit`.
    async fn due_subjects(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError>;
    /// A run is done with `served`: the first entries, in order, of what `due_subjects` gave
    /// it (served, or set aside as dead letters). They are not given again, unless filed again
    /// since (with another time). A run that stops early names only what it finished; the
    /// rest are given to the next run.
    async fn due_served(&self, kind: DueKind, served: &[DueEntry]) -> Result<(), StoreError>;

    // Subscriptions (see `crate::subscriptions`).
    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;
    /// Versioned; a write is a change the notifier sees (requests, link requests).
    async fn save_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    async fn subscriptions_for_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError>;
    async fn save_manage_link(&self, link: &ManageLink) -> Result<(), StoreError>;
    async fn get_manage_link(&self, token: &Token) -> Result<Option<ManageLink>, StoreError>;
    /// Counts one more attempt under `key` (atomic) and returns the count so far; the count is
    /// forgotten after `expires_at` (rate limits: put the window in the key).
    async fn count_attempt(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u32, StoreError>;

    // Reviews (see `crate::reviews`).
    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError>;
    /// Versioned; a write is a change the notifier sees (alerts, thanks).
    async fn save_review(
        &self,
        review: &Review,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError>;
    async fn reviews_for_order(&self, order: &OrderId) -> Result<Vec<Review>, StoreError>;
    /// Reviews by this email address (lower case) not linked to a customer yet.
    async fn unlinked_reviews(&self, email: &str) -> Result<Vec<Review>, StoreError>;
}

/// How many index entries one run of a job takes on (the rest wait for the next run).
pub const DUE_PER_RUN: usize = 2_000;

crate::names::named_enum! {
    "kebab-case";
    /// The schedule's indexes, one per job that reads one.
    pub enum DueKind {
        /// Loyalty accounts: a lot expires or becomes available, a reminder day starts.
        Loyalty,
        /// Parcels that may have gone silent (or whose estimated day ended).
        Stalled,
        /// Parcels waiting at a pickup point.
        Pickup,
        /// Subscriptions whose renewal reminder is due.
        Renewal,
        /// Orders whose review request is due.
        ReviewRequest,
        /// Orders with a follow-up due (`{order}|{follow-up name}`).
        FollowUp,
    }
}

/// One subject filed under a day (and, as JSON, a `due_entry` dead letter's payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DueEntry {
    pub kind: DueKind,
    pub day: NaiveDate,
    pub subject: String,
    /// When in its day the check falls due, where the filer knows: until then the hourly job
    /// passes the entry by without reading its records. `None`: due from the day's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

impl DueEntry {
    /// Due from the start of `day` (UTC).
    pub fn on(kind: DueKind, day: NaiveDate, subject: &str) -> Self {
        Self {
            kind,
            day,
            subject: subject.to_string(),
            not_before: None,
        }
    }

    /// Due at `at`, filed under its day (UTC).
    pub fn at(kind: DueKind, at: DateTime<Utc>, subject: &str) -> Self {
        Self {
            not_before: Some(at),
            ..Self::on(kind, at.date_naive(), subject)
        }
    }

    /// Whether the job should look at it at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.day <= now.date_naive() && self.not_before.is_none_or(|at| at <= now)
    }
}
