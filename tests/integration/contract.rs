//! The `Store` contract, run against the SQLite adapter and the DynamoDB adapter (on moto).

use doorstep_core::catalog::{Neighbours, Product};
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::ids::{CarrierSlug, ProductId, TrackingNumber};
use doorstep_core::ingest::{apply_tracking_update, UpdateOutcome};
use doorstep_core::model::{
    Consents, Customer, Order, OrderLink, PendingLink, Provider, Shipment, TrackingEvent,
    TrackingUpdate,
};
use doorstep_core::ports::{ShipmentWrite, Store, WriteError};
use doorstep_core::status::ShipmentStatus;
use doorstep_core::timezone::TimezoneSource;
use doorstep_tests::{customer_id, order_id};
use std::sync::Arc;

fn carrier(slug: &str) -> CarrierSlug {
    CarrierSlug::parse(slug).unwrap()
}

fn tracking(raw: &str) -> TrackingNumber {
    TrackingNumber::parse(raw).unwrap()
}

fn shipment(slug: &str, number: &str) -> Shipment {
    Shipment::new(carrier(slug), tracking(number), Utc::now())
}

fn guard(expected_version: Option<u64>) -> ShipmentWrite {
    ShipmentWrite {
        expected_version,
        ..Default::default()
    }
}

pub async fn new_shipments_round_trip_with_versions(store: &dyn Store) {
    let mut s = shipment("ups", "1Z100");
    store.save_shipment(&s, guard(None)).await.unwrap();
    assert!(
        matches!(
            store.save_shipment(&s, guard(None)).await,
            Err(WriteError::Conflict)
        ),
        "create must not overwrite"
    );
    let read = store
        .get_shipment(&s.carrier, &s.tracking_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.tracking_token, s.tracking_token);
    s.status = ShipmentStatus::InTransit;
    store.save_shipment(&s, guard(Some(1))).await.unwrap();
    assert!(
        matches!(
            store.save_shipment(&s, guard(Some(1))).await,
            Err(WriteError::Conflict)
        ),
        "stale version must fail"
    );
    let read = store
        .get_shipment(&s.carrier, &s.tracking_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.version, read.status), (2, ShipmentStatus::InTransit));
    assert!(store
        .get_shipment(&carrier("fedex"), &s.tracking_number)
        .await
        .unwrap()
        .is_none());
}

/// A redelivery is recognized from the shipment's own record of the deliveries applied to it:
/// what the store saves is what it reads back, digests included, under the version guard.
pub async fn applied_deliveries_are_kept_with_the_shipment(store: &dyn Store) {
    let mut s = shipment("ups", "1Z200");
    s.remember_delivery(Shipment::delivery_digest("k1"));
    let write = |v| ShipmentWrite {
        expected_version: v,
        ..Default::default()
    };
    store.save_shipment(&s, write(None)).await.unwrap();
    let read = store
        .get_shipment(&s.carrier, &s.tracking_number)
        .await
        .unwrap()
        .unwrap();
    assert!(read.has_applied(&Shipment::delivery_digest("k1")));
    assert!(!read.has_applied(&Shipment::delivery_digest("k2")));
    // Two writers who read the same version: one wins, the other must read again (and would
    // then see the delivery already applied).
    s.status = ShipmentStatus::Delivered;
    store.save_shipment(&s, write(Some(1))).await.unwrap();
    assert!(matches!(
        store.save_shipment(&s, write(Some(1))).await,
        Err(WriteError::Conflict)
    ));
}

pub async fn a_pending_link_is_consumed_with_the_shipment_it_joins(store: &dyn Store) {
    let tn = tracking("TH123");
    let link = OrderLink {
        order_id: order_id("shopify:1"),
        fulfillment_id: Some("f1".into()),
        items: vec![],
    };
    store
        .put_pending_link(&PendingLink {
            tracking_number: tn.clone(),
            link: link.clone(),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_pending_link(&tn).await.unwrap().unwrap().link,
        link
    );
    let mut s = shipment("thailand-post", "TH123");
    s.order = Some(link.clone());
    let write = ShipmentWrite {
        expected_version: None,
        consume_pending_link: true,
        ..Default::default()
    };
    store.save_shipment(&s, write).await.unwrap();
    assert!(store.get_pending_link(&tn).await.unwrap().is_none());
    let read = store.get_shipment(&s.carrier, &tn).await.unwrap().unwrap();
    assert_eq!(read.order, Some(link));
}

pub async fn shipments_are_found_by_tracking_number_and_by_token(store: &dyn Store) {
    let a = shipment("ups", "SAME1");
    let b = shipment("dhl", "SAME1");
    let other = shipment("ups", "OTHER1");
    for s in [&a, &b, &other] {
        store.save_shipment(s, guard(None)).await.unwrap();
    }
    let mut found: Vec<_> = store
        .find_shipments(&tracking("same1"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.carrier)
        .collect();
    found.sort();
    assert_eq!(found, vec![carrier("dhl"), carrier("ups")]);
    let by_token = store
        .get_shipment_by_token(&b.tracking_token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_token.carrier, carrier("dhl"));
    assert!(store
        .get_shipment_by_token(&doorstep_core::ids::Token::random())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_shipments(&tracking("NONE"))
        .await
        .unwrap()
        .is_empty());
}

pub async fn orders_and_customers_are_versioned(store: &dyn Store) {
    let now = Utc::now();
    let mut order = Order {
        id: order_id("generic-store:9"),
        platform: Provider::GenericStore,
        name: "#9".into(),
        customer_id: Some(customer_id("generic-store:c9")),
        currency: Some("THB".into()),
        line_items: vec![],
        shipments: vec![],
        cancelled: false,
        created_at: Some(now),
        source_updated_at: Some(now),
        updated_at: now,
        ship_to_city: None,
        refunded_line_items: vec![],
        counted: false,
        was_placeholder: false,
        version: 0,
    };
    store.save_order(&order, None).await.unwrap();
    assert!(matches!(
        store.save_order(&order, None).await,
        Err(WriteError::Conflict)
    ));
    order.cancelled = true;
    store.save_order(&order, Some(1)).await.unwrap();
    let read = store.get_order(&order.id).await.unwrap().unwrap();
    assert!(read.cancelled);
    assert_eq!(read.version, 2);

    let customer = Customer {
        id: customer_id("generic-store:c9"),
        first_name: Some("Nok".into()),
        email: None,
        phone: None,
        locale: "th".into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: TimezoneSource::Address,
        consents: Consents::default(),
        tier: Some("Gold".into()),
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: doorstep_core::ids::Token::random(),
        updated_at: now,
        version: 0,
    };
    store.save_customer(&customer, None).await.unwrap();
    assert!(matches!(
        store.save_customer(&customer, Some(5)).await,
        Err(WriteError::Conflict)
    ));
    let read = store.get_customer(&customer.id).await.unwrap().unwrap();
    assert_eq!((read.version, read.tier.as_deref()), (1, Some("Gold")));
    assert!(store
        .get_customer(&customer_id("shopify:nobody"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_order(&order_id("shopify:none"))
        .await
        .unwrap()
        .is_none());
}

pub async fn deliveries_are_remembered_until_they_expire(store: &dyn Store) {
    assert!(!store.delivery_seen("shopify:a").await.unwrap());
    store
        .mark_delivery("shopify:a", Utc::now() + Duration::days(1))
        .await
        .unwrap();
    store
        .mark_delivery("shopify:old", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert!(store.delivery_seen("shopify:a").await.unwrap());
    assert!(!store.delivery_seen("shopify:old").await.unwrap());
}

pub async fn concurrent_updates_to_one_shipment_lose_nothing(store: Arc<dyn Store>) {
    let writers = 8;
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let update = TrackingUpdate {
                    provider: Provider::Generic,
                    carrier: carrier("ups"),
                    tracking_number: tracking("1ZRACE"),
                    delivery_id: Some(format!("race-{i}")),
                    events: vec![TrackingEvent {
                        status: ShipmentStatus::InTransit,
                        reason: None,
                        occurred_at: Utc::now() - Duration::minutes(100 - i),
                        description: format!("scan {i}"),
                        location: None,
                        raw_code: "IT".into(),
                    }],
                    estimated_delivery: None,
                };
                apply_tracking_update(store.as_ref(), &update, Utc::now()).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), UpdateOutcome::Applied);
    }
    let read = store
        .get_shipment(&carrier("ups"), &tracking("1ZRACE"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.events.len(),
        writers as usize,
        "every concurrent update is in the history"
    );
}

fn product(id: &str, title: &str) -> Product {
    Product {
        id: ProductId::parse(id).unwrap(),
        title: title.into(),
        url: Some(format!("https://shop.example.com/p/{id}")),
        handle: None,
        image_url: None,
        price: Some("390.00".into()),
        currency: Some("THB".into()),
        active: true,
        in_stock: true,
        product_type: None,
        tags: vec![],
        source_updated_at: None,
        updated_at: Utc::now(),
        version: 0,
    }
}

/// Products, neighbour lists, sales by day, best sellers and clicks: batch reads return what
/// exists (and nothing for what does not), writes are versioned, counters add.
pub async fn the_catalog_reads_in_batches_and_counts(store: &dyn Store) {
    // Letters and digits only: it also makes tracking numbers, which drop other characters.
    let unique: String = doorstep_core::ids::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    let id = |n: u32| format!("generic-store:{unique}-{n}");
    let ids: Vec<ProductId> = (0..130)
        .map(|n| ProductId::parse(&id(n)).unwrap())
        .collect();
    for n in 0..130 {
        store
            .save_product(&product(&id(n), &format!("Product {n}")), None)
            .await
            .unwrap();
    }
    let mut wanted = ids.clone();
    wanted.push(ProductId::parse(&format!("generic-store:{unique}-missing")).unwrap());
    let found = store.get_products(&wanted).await.unwrap();
    assert_eq!(
        found.len(),
        130,
        "a batch over 100 keys is read whole, the unknown one skipped"
    );
    assert!(found.iter().all(|p| p.version == 1));
    let first = found.iter().find(|p| p.id == ids[0]).unwrap().clone();
    assert!(matches!(
        store.save_product(&first, Some(7)).await,
        Err(WriteError::Conflict)
    ));
    store.save_product(&first, Some(1)).await.unwrap();

    let mut list = Neighbours::new(ids[0].clone());
    list.add(&[ids[0].clone(), ids[1].clone(), ids[2].clone()]);
    store.save_neighbours(&list, None).await.unwrap();
    assert!(matches!(
        store.save_neighbours(&list, None).await,
        Err(WriteError::Conflict)
    ));
    let lists = store.get_neighbours(&ids[..3]).await.unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].counts.len(), 2);
    assert_eq!(lists[0].version, 1);

    let day = Utc::now().date_naive();
    let order =
        |n: u32| doorstep_core::ids::OrderId::parse(&format!("shopify:{unique}{n}")).unwrap();
    store
        .add_sales(day, &order(1), &[ids[1].clone(), ids[2].clone()])
        .await
        .unwrap();
    store
        .add_sales(day, &order(2), &[ids[1].clone()])
        .await
        .unwrap();
    let sales = store.sales_since(day - Duration::days(30)).await.unwrap();
    let mine: Vec<_> = sales.iter().filter(|(p, _)| ids.contains(p)).collect();
    assert!(
        mine.contains(&&(ids[1].clone(), 2)) && mine.contains(&&(ids[2].clone(), 1)),
        "{mine:?}"
    );
    let best = doorstep_core::catalog::best_sellers(sales, Utc::now());
    store.save_best_sellers(&best).await.unwrap();
    assert_eq!(
        store.get_best_sellers().await.unwrap().unwrap().products,
        best.products
    );

    for _ in 0..3 {
        store.record_click(&ids[5]).await.unwrap();
    }
    let clicks = store.clicks(1_000).await.unwrap();
    assert!(clicks.contains(&(ids[5].clone(), 3)), "{clicks:?}");

    let mut a = shipment("dhl", &format!("{unique}A"));
    let b = shipment("dhl", &format!("{unique}B"));
    store.save_shipment(&a, guard(None)).await.unwrap();
    store.save_shipment(&b, guard(None)).await.unwrap();
    a.tracking_number = tracking(&format!("{unique}C"));
    let keys = [b.key(), a.key()];
    let got = store.get_shipments(&keys).await.unwrap();
    assert_eq!(got.len(), 1, "the unknown parcel is skipped");
    assert_eq!(got[0].tracking_token, b.tracking_token);
}

/// Loyalty accounts are versioned; the schedule's index returns what is filed up to a day, in
/// day order, and forgets what was removed; customers are found by email.
pub async fn accounts_the_due_index_and_email_lookup(store: &dyn Store) {
    use doorstep_core::loyalty::{Account, Earn, Source};
    use doorstep_core::ports::{DueEntry, DueKind};
    let unique: String = doorstep_core::ids::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let id = customer_id(&format!("shopify:{unique}"));
    assert!(store.get_account(&id).await.unwrap().is_none());
    let mut account = Account::new(id.clone());
    let now = Utc::now();
    account
        .earn(
            Earn {
                id: "e1".into(),
                source: Source::External,
                points: 10,
                earned_at: now,
                pending: false,
                expires_at: None,
                order_id: None,
                reason: None,
            },
            &Default::default(),
            now,
        )
        .unwrap();
    store.save_account(&account, None).await.unwrap();
    assert!(matches!(
        store.save_account(&account, None).await,
        Err(WriteError::Conflict)
    ));
    let read = store.get_account(&id).await.unwrap().unwrap();
    assert_eq!((read.version, read.balance(now)), (1, 10));
    store.save_account(&read, Some(1)).await.unwrap();
    assert!(matches!(
        store.save_account(&read, Some(1)).await,
        Err(WriteError::Conflict)
    ));

    // The schedule's index. Entries are filed ahead of their day, as the stack files them;
    // one is filed when already due (an estimate already past), which DynamoDB keeps apart.
    let kind = DueKind::Pickup;
    let now = Utc::now();
    let today = now.date_naive();
    let subject = |n: u32| format!("{unique}#{n}");
    for (days, n) in [(-3, 1), (0, 2), (0, 3), (5, 4)] {
        let day = today + Duration::days(days);
        let filed_at = now + Duration::days(days - 2);
        store
            .add_due(&DueEntry::on(kind, day, &subject(n)), filed_at)
            .await
            .unwrap();
    }
    let late = DueEntry::on(kind, today - Duration::days(1), &subject(7));
    store.add_due(&late, now).await.unwrap();
    let mine = |entries: &[DueEntry]| -> Vec<(i64, String)> {
        entries
            .iter()
            .filter(|e| e.subject.starts_with(&unique))
            .map(|e| ((e.day - today).num_days(), e.subject.clone()))
            .collect()
    };
    let due = store.due_subjects(kind, now, 100).await.unwrap();
    assert_eq!(
        mine(&due),
        [
            (-3, subject(1)),
            (-1, subject(7)),
            (0, subject(2)),
            (0, subject(3))
        ],
        "oldest day first, the late one in its place"
    );
    // A run that stops after two names those: the rest are given to the next run.
    store.due_served(kind, &due[..2]).await.unwrap();
    let rest = store.due_subjects(kind, now, 100).await.unwrap();
    assert_eq!(mine(&rest), [(0, subject(2)), (0, subject(3))]);
    store.due_served(kind, &rest).await.unwrap();
    assert!(mine(&store.due_subjects(kind, now, 100).await.unwrap()).is_empty());
    // Filed for an earlier day after the index moved on: still found, and served once.
    store
        .add_due(
            &DueEntry::on(kind, today - Duration::days(1), &subject(5)),
            now,
        )
        .await
        .unwrap();
    let found = store.due_subjects(kind, now, 100).await.unwrap();
    assert_eq!(mine(&found), [(-1, subject(5))]);
    store.due_served(kind, &found).await.unwrap();
    // Due later in its day: passed by until then. Filed again under the same day, its time
    // is replaced (earlier here), and it is read from that time on.
    let later = now + Duration::hours(3);
    store
        .add_due(&DueEntry::at(kind, later, &subject(6)), now)
        .await
        .unwrap();
    async fn found_at(
        store: &dyn Store,
        kind: DueKind,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Vec<DueEntry> {
        store
            .due_subjects(kind, at, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.subject == subject)
            .collect()
    }
    let second = |at: DateTime<Utc>| DateTime::from_timestamp(at.timestamp(), 0);
    let sixth = subject(6);
    let times =
        |entries: Vec<DueEntry>| -> Vec<_> { entries.iter().map(|e| e.not_before).collect() };
    assert!(found_at(store, kind, &sixth, later - Duration::seconds(1))
        .await
        .is_empty());
    assert_eq!(
        times(found_at(store, kind, &sixth, later).await),
        [second(later)]
    );
    let sooner = later - Duration::hours(1);
    store
        .add_due(&DueEntry::at(kind, sooner, &subject(6)), now)
        .await
        .unwrap();
    let taken = found_at(store, kind, &sixth, sooner).await;
    assert_eq!(times(taken.clone()), [second(sooner)]);
    // Filed again (a later time) while the run that took it was still at work: served at
    // the time it had, it is still given at the new one.
    let again = later + Duration::hours(1);
    store
        .add_due(&DueEntry::at(kind, again, &subject(6)), now)
        .await
        .unwrap();
    store.due_served(kind, &taken).await.unwrap();
    assert_eq!(
        times(found_at(store, kind, &sixth, again).await),
        [second(again)]
    );
    assert_eq!(
        mine(
            &store
                .due_subjects(kind, now + Duration::days(5), 100)
                .await
                .unwrap()
        ),
        [(0, subject(6)), (5, subject(4))],
        "the future day is read when its day comes"
    );

    let mut customer = Customer {
        id: id.clone(),
        first_name: None,
        email: Some(doorstep_core::contact::Contact::email(&format!(
            "Nok.{unique}@Example.com"
        ))),
        phone: None,
        locale: "th".into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: TimezoneSource::Profile,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: doorstep_core::ids::Token::random(),
        updated_at: Utc::now(),
        version: 0,
    };
    store.save_customer(&customer, None).await.unwrap();
    let key = format!("nok.{unique}@example.com");
    assert_eq!(
        store
            .find_customer_by_email(&key)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(id.clone())
    );
    customer.email = None;
    store.save_customer(&customer, Some(1)).await.unwrap();
    assert!(
        store.find_customer_by_email(&key).await.unwrap().is_none(),
        "an address removed is not found"
    );
}

macro_rules! contract_suite {
    ($adapter:ident => $make:expr) => {
        mod $adapter {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn new_shipments_round_trip_with_versions() {
                super::new_shipments_round_trip_with_versions(&$make).await
            }
            #[tokio::test]
            async fn applied_deliveries_are_kept_with_the_shipment() {
                super::applied_deliveries_are_kept_with_the_shipment(&$make).await
            }
            #[tokio::test]
            async fn a_pending_link_is_consumed_with_the_shipment_it_joins() {
                super::a_pending_link_is_consumed_with_the_shipment_it_joins(&$make).await
            }
            #[tokio::test]
            async fn shipments_are_found_by_tracking_number_and_by_token() {
                super::shipments_are_found_by_tracking_number_and_by_token(&$make).await
            }
            #[tokio::test]
            async fn orders_and_customers_are_versioned() {
                super::orders_and_customers_are_versioned(&$make).await
            }
            #[tokio::test]
            async fn deliveries_are_remembered_until_they_expire() {
                super::deliveries_are_remembered_until_they_expire(&$make).await
            }
            #[tokio::test]
            async fn accounts_the_due_index_and_email_lookup() {
                super::accounts_the_due_index_and_email_lookup(&$make).await
            }
            #[tokio::test]
            async fn the_catalog_reads_in_batches_and_counts() {
                super::the_catalog_reads_in_batches_and_counts(&$make).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_updates_to_one_shipment_lose_nothing() {
                super::concurrent_updates_to_one_shipment_lose_nothing(Arc::new($make)).await
            }
        }
    };
}

contract_suite!(sqlite => doorstep_tests::sqlite_store());
contract_suite!(dynamodb => doorstep_tests::dynamo_store().await);
