//! A replica that lags: what DynamoDB's eventually consistent reads may answer, made
//! deterministic. The reads that may be served that way (`Freshness::Recent`) must still
//! decide and write what the latest would: a carrier's update is applied once and loses
//! nothing, and a parcel's message goes out even when the replica has not seen its order.

use async_trait::async_trait;
use doorstep_core::catalog::{BestSellers, Neighbours, Product};
use doorstep_core::chrono::{DateTime, NaiveDate, Utc};
use doorstep_core::ids::{
    CarrierSlug, CustomerId, OrderId, ProductId, ReviewId, ShipmentKey, SubscriptionId, Token,
    TrackingNumber,
};
use doorstep_core::loyalty::Account;
use doorstep_core::model::{Customer, Order, PendingLink, Shipment};
use doorstep_core::notify::ports::State;
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{Change, Notifier};
use doorstep_core::ports::*;
use doorstep_core::reviews::Review;
use doorstep_core::settings::Settings;
use doorstep_core::subscriptions::{ManageLink, Subscription};
use doorstep_embedded::{FileOutbox, SqliteStore};
use doorstep_tests::*;
use serde_json::json;
use std::sync::Arc;

/// Reads at `Freshness::Recent` come from `replica`, everything else (all writes included)
/// goes to `latest`. The test decides how far behind the replica is by what it writes there.
struct Lagging {
    latest: Arc<SqliteStore>,
    replica: Arc<SqliteStore>,
}

#[async_trait]
impl Store for Lagging {
    async fn read_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
        freshness: Freshness,
    ) -> Result<Option<Shipment>, StoreError> {
        match freshness {
            Freshness::Latest => self.latest.get_shipment(carrier, tracking).await,
            Freshness::Recent => self.replica.get_shipment(carrier, tracking).await,
        }
    }
    async fn read_order(
        &self,
        id: &OrderId,
        freshness: Freshness,
    ) -> Result<Option<Order>, StoreError> {
        match freshness {
            Freshness::Latest => self.latest.get_order(id).await,
            Freshness::Recent => self.replica.get_order(id).await,
        }
    }
    async fn read_customer(
        &self,
        id: &CustomerId,
        freshness: Freshness,
    ) -> Result<Option<Customer>, StoreError> {
        match freshness {
            Freshness::Latest => self.latest.get_customer(id).await,
            Freshness::Recent => self.replica.get_customer(id).await,
        }
    }
    async fn get_shipment(
        &self,
        carrier: &CarrierSlug,
        tracking: &TrackingNumber,
    ) -> Result<Option<Shipment>, StoreError> {
        self.latest.get_shipment(carrier, tracking).await
    }
    async fn find_shipments(&self, tracking: &TrackingNumber) -> Result<Vec<Shipment>, StoreError> {
        self.latest.find_shipments(tracking).await
    }
    async fn get_shipment_by_token(&self, token: &Token) -> Result<Option<Shipment>, StoreError> {
        self.latest.get_shipment_by_token(token).await
    }
    async fn save_shipment(
        &self,
        shipment: &Shipment,
        write: ShipmentWrite,
    ) -> Result<(), WriteError> {
        self.latest.save_shipment(shipment, write).await
    }
    async fn get_pending_link(
        &self,
        tracking: &TrackingNumber,
    ) -> Result<Option<PendingLink>, StoreError> {
        self.latest.get_pending_link(tracking).await
    }
    async fn put_pending_link(&self, link: &PendingLink) -> Result<(), StoreError> {
        self.latest.put_pending_link(link).await
    }
    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.latest.get_order(id).await
    }
    async fn save_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest.save_order(order, expected_version).await
    }
    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.latest.get_customer(id).await
    }
    async fn get_customer_by_preferences_token(
        &self,
        token: &Token,
    ) -> Result<Option<Customer>, StoreError> {
        self.latest.get_customer_by_preferences_token(token).await
    }
    async fn save_customer(
        &self,
        customer: &Customer,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest.save_customer(customer, expected_version).await
    }
    async fn delivery_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.latest.delivery_seen(key).await
    }
    async fn mark_delivery(&self, key: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.latest.mark_delivery(key, expires_at).await
    }
    async fn get_shipments(&self, keys: &[ShipmentKey]) -> Result<Vec<Shipment>, StoreError> {
        self.latest.get_shipments(keys).await
    }
    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.latest.get_products(ids).await
    }
    async fn save_product(
        &self,
        product: &Product,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest.save_product(product, expected_version).await
    }
    async fn get_neighbours(&self, ids: &[ProductId]) -> Result<Vec<Neighbours>, StoreError> {
        self.latest.get_neighbours(ids).await
    }
    async fn save_neighbours(
        &self,
        neighbours: &Neighbours,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest
            .save_neighbours(neighbours, expected_version)
            .await
    }
    async fn add_sales(
        &self,
        day: NaiveDate,
        order: &OrderId,
        products: &[ProductId],
    ) -> Result<(), StoreError> {
        self.latest.add_sales(day, order, products).await
    }
    async fn sales_since(&self, first_day: NaiveDate) -> Result<Vec<(ProductId, u64)>, StoreError> {
        self.latest.sales_since(first_day).await
    }
    async fn get_best_sellers(&self) -> Result<Option<BestSellers>, StoreError> {
        self.latest.get_best_sellers().await
    }
    async fn save_best_sellers(&self, best: &BestSellers) -> Result<(), StoreError> {
        self.latest.save_best_sellers(best).await
    }
    async fn record_click(&self, product: &ProductId) -> Result<(), StoreError> {
        self.latest.record_click(product).await
    }
    async fn clicks(&self, limit: usize) -> Result<Vec<(ProductId, u64)>, StoreError> {
        self.latest.clicks(limit).await
    }
    async fn get_account(&self, customer: &CustomerId) -> Result<Option<Account>, StoreError> {
        self.latest.get_account(customer).await
    }
    async fn save_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest.save_account(account, expected_version).await
    }
    async fn find_customer_by_email(&self, email: &str) -> Result<Option<Customer>, StoreError> {
        self.latest.find_customer_by_email(email).await
    }
    async fn add_due(&self, entry: &DueEntry, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.latest.add_due(entry, now).await
    }
    async fn due_subjects(
        &self,
        kind: DueKind,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        self.latest.due_subjects(kind, now, limit).await
    }
    async fn due_served(&self, kind: DueKind, served: &[DueEntry]) -> Result<(), StoreError> {
        self.latest.due_served(kind, served).await
    }
    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.latest.get_subscription(id).await
    }
    async fn save_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest
            .save_subscription(subscription, expected_version)
            .await
    }
    async fn subscriptions_for_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.latest.subscriptions_for_customer(customer).await
    }
    async fn save_manage_link(&self, link: &ManageLink) -> Result<(), StoreError> {
        self.latest.save_manage_link(link).await
    }
    async fn get_manage_link(&self, token: &Token) -> Result<Option<ManageLink>, StoreError> {
        self.latest.get_manage_link(token).await
    }
    async fn count_attempt(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u32, StoreError> {
        self.latest.count_attempt(key, expires_at).await
    }
    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError> {
        self.latest.get_review(id).await
    }
    async fn save_review(
        &self,
        review: &Review,
        expected_version: Option<u64>,
    ) -> Result<(), WriteError> {
        self.latest.save_review(review, expected_version).await
    }
    async fn reviews_for_order(&self, order: &OrderId) -> Result<Vec<Review>, StoreError> {
        self.latest.reviews_for_order(order).await
    }
    async fn unlinked_reviews(&self, email: &str) -> Result<Vec<Review>, StoreError> {
        self.latest.unlinked_reviews(email).await
    }
}

const CARRIER: &str = "dhl";
const TRACKING: &str = "JD00004242";

fn scan(event_id: &str, status: &str, at: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"carrier": CARRIER, "tracking_number": TRACKING, "event_id": event_id,
        "events": [{"status": status, "occurred_at": at, "description": status}]}),
    )
    .unwrap()
}

fn order() -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "order", "event_id": "o-4242", "order": {
        "id": 4242, "name": "#4242", "updated_at": "2024-05-01T08:00:00+07:00",
        "customer": {"id": "c-4242", "first_name": "Nok", "email": "nok@example.com", "locale": "en"},
        "shipping_address": {"country_code": "TH"},
        "line_items": [{"id": "l1", "title": "Cotton tee", "price": "390.00", "quantity": 1}],
        "fulfillments": [{"id": "f1", "carrier": "DHL", "tracking_number": TRACKING}]}}))
    .unwrap()
}

fn carriers(store: Arc<dyn Store>) -> carrier_webhook::App {
    carrier_webhook::App {
        store,
        config: config(),
    }
}

async fn post(app: &carrier_webhook::App, body: Vec<u8>) -> serde_json::Value {
    let (status, json) =
        status_and_json(carrier_webhook::handle(app, carrier_event("generic", &body)).await);
    assert_eq!(status, 200, "{json}");
    json
}

async fn parcel(store: &SqliteStore) -> Option<Shipment> {
    let carrier = CarrierSlug::parse(CARRIER).unwrap();
    let tracking = TrackingNumber::parse(TRACKING).unwrap();
    store.get_shipment(&carrier, &tracking).await.unwrap()
}

#[tokio::test]
async fn a_carrier_update_read_from_a_lagging_replica_is_applied_once_and_loses_nothing() {
    let latest = Arc::new(sqlite_store());
    let replica = Arc::new(sqlite_store());
    let lagging = carriers(Arc::new(Lagging {
        latest: latest.clone(),
        replica: replica.clone(),
    }));
    // The replica has seen nothing: the first scan creates the parcel, the second one's attempt
    // to create it again meets the latest and is retried against it.
    post(&lagging, scan("e1", "in_transit", "2024-05-02T09:00:00Z")).await;
    post(
        &lagging,
        scan("e2", "out_for_delivery", "2024-05-03T09:00:00Z"),
    )
    .await;
    // The replica catches up with the first scan only.
    post(
        &carriers(replica.clone()),
        scan("e1", "in_transit", "2024-05-02T09:00:00Z"),
    )
    .await;
    // A new scan read against that older copy still lands on the latest, keeping the second.
    post(&lagging, scan("e3", "delivered", "2024-05-03T15:00:00Z")).await;
    // The second scan again: new to the replica, a duplicate to the latest, so nothing changes.
    let again = post(
        &lagging,
        scan("e2", "out_for_delivery", "2024-05-03T09:00:00Z"),
    )
    .await;
    assert_eq!(again["updates"][0]["result"], "duplicate", "{again}");
    let stored = parcel(&latest).await.unwrap();
    let events: Vec<&str> = stored.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(events, ["in_transit", "out_for_delivery", "delivered"]);
    assert_eq!(stored.status.as_str(), "delivered");
    assert_eq!(stored.version, 3, "three writes, one per new scan");
    assert_eq!(
        parcel(&replica).await.unwrap().version,
        1,
        "nothing written to the replica"
    );
}

#[tokio::test]
async fn a_parcels_message_goes_out_even_when_the_replica_has_not_seen_its_order() {
    let latest = Arc::new(sqlite_store());
    let replica = Arc::new(sqlite_store());
    let stores = store_webhook::App {
        store: latest.clone(),
        config: config(),
    };
    let (status, json) = status_and_json(
        store_webhook::handle(&stores, store_event("generic", None, None, &order())).await,
    );
    assert_eq!(status, 200, "{json}");
    post(
        &carriers(latest.clone()),
        scan("e1", "out_for_delivery", "2024-05-03T02:00:00Z"),
    )
    .await;
    let change = Change::Shipment {
        old: None,
        new: Box::new(parcel(&latest).await.unwrap()),
    };
    let now: DateTime<Utc> = "2024-05-03T03:00:00Z".parse().unwrap();
    let settings = Settings::default();
    let renderer = Renderer::new(None, 2);
    let dir = std::env::temp_dir().join(format!("doorstep-lag-{}", Token::random().as_str()));
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = FileOutbox::new(dir.join("outbox.jsonl"));

    // Decided from the replica alone, the parcel would have nobody to tell.
    let replica_state = sqlite_store();
    let blind = Notifier {
        store: replica.as_ref(),
        notify: &replica_state,
        channels: &outbox,
        dead_letters: &replica_state,
        renderer: &renderer,
        settings: &settings,
    };
    assert_eq!(blind.process(&change, now).await.unwrap().sent, 0);

    let lagging = Lagging {
        latest: latest.clone(),
        replica,
    };
    let notifier = Notifier {
        store: &lagging,
        notify: latest.as_ref(),
        channels: &outbox,
        dead_letters: latest.as_ref(),
        renderer: &renderer,
        settings: &settings,
    };
    let summary = notifier.process(&change, now).await.unwrap();
    // By email, every milestone the parcel reached in its first scan: shipped, out for delivery.
    assert_eq!(summary.sent, 2, "{summary:?}");
    let log = latest.message_log_after(0, 10, false).unwrap();
    let sent: Vec<_> = log
        .iter()
        .filter(|(_, entry)| entry.state == State::Sent)
        .map(|(_, entry)| entry.to.as_deref())
        .collect();
    assert_eq!(sent, [Some("nok@example.com"); 2], "{log:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
