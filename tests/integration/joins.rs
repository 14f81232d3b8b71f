//! Stores and carriers race: a parcel joins its order whichever webhook comes first.

use crate::stores::{app as store_app, post as post_store, unwrap_rest};
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::ports::Store;
use doorstep_tests::*;
use std::sync::Arc;

fn carriers(store: Arc<dyn Store>) -> carrier_webhook::App {
    carrier_webhook::App {
        store,
        config: config(),
    }
}

async fn post_carrier(app: &carrier_webhook::App, provider: &str, body: &[u8]) -> u16 {
    status_and_json(carrier_webhook::handle(app, carrier_event(provider, body)).await).0
}

#[tokio::test]
async fn carrier_first_then_fulfilment_keeps_the_history_and_adds_the_order() {
    let (stores, store) = store_app();
    let carriers = carriers(store.clone());
    assert_eq!(
        post_carrier(
            &carriers,
            "generic",
            &fixture("generic_carrier_update.json")
        )
        .await,
        200
    );
    let key = (
        CarrierSlug::parse("kerry-logistics").unwrap(),
        TrackingNumber::parse("KEX12345678TH").unwrap(),
    );
    let parked = store.get_shipment(&key.0, &key.1).await.unwrap().unwrap();
    assert_eq!(
        (parked.order_id(), parked.events.len()),
        (None, 3),
        "parked: history kept, no order yet"
    );
    assert_eq!(
        post_store(
            &stores,
            "generic",
            None,
            None,
            &fixture("generic_store_fulfillment.json")
        )
        .await
        .0,
        200
    );
    let joined = store.get_shipment(&key.0, &key.1).await.unwrap().unwrap();
    assert_eq!(joined.order_id(), Some(&order_id("generic-store:5001")));
    assert_eq!(joined.events.len(), 3);
    assert_eq!(
        joined.tracking_token, parked.tracking_token,
        "the public token never changes"
    );
    assert_eq!(
        store.find_shipments(&key.1).await.unwrap().len(),
        1,
        "one shipment, not two"
    );
}

#[tokio::test]
async fn fulfilment_first_then_carrier_lands_on_the_same_shipment() {
    let (stores, store) = store_app();
    let carriers = carriers(store.clone());
    assert_eq!(
        post_store(
            &stores,
            "generic",
            None,
            None,
            &fixture("generic_store_order.json")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post_store(
            &stores,
            "generic",
            None,
            None,
            &fixture("generic_store_fulfillment.json")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post_carrier(
            &carriers,
            "generic",
            &fixture("generic_carrier_update.json")
        )
        .await,
        200
    );
    let tn = TrackingNumber::parse("KEX12345678TH").unwrap();
    let all = store.find_shipments(&tn).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].order_id(), Some(&order_id("generic-store:5001")));
    assert_eq!(
        all[0].status,
        doorstep_core::status::ShipmentStatus::FailedAttempt
    );
    let order = store
        .get_order(&order_id("generic-store:5001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.line_items.len(), 2);
}

#[tokio::test]
async fn a_fulfilment_with_no_known_carrier_is_parked_then_joined_by_tracking_number() {
    let (stores, store) = store_app();
    let carriers = carriers(store.clone());
    // Shopify's fixture names the carrier "null-company": unknown, so it joins on number alone.
    let body = unwrap_rest("shopify_rest_fulfillment_fixture.json", "fulfillment");
    assert_eq!(
        post_store(
            &stores,
            "shopify",
            Some("fulfillments/create"),
            Some("f-1"),
            &body
        )
        .await
        .0,
        200
    );
    let tn = TrackingNumber::parse("1Z2345").unwrap();
    assert!(store.find_shipments(&tn).await.unwrap().is_empty());
    assert!(
        store.get_pending_link(&tn).await.unwrap().is_some(),
        "parked"
    );
    let ups = br#"{"trackingNumber":"1Z2345","gmtActivityDate":"20240423","gmtActivityTime":"131519","activityStatus":{"type":"I","code":"OT","description":"Out for Delivery"}}"#;
    assert_eq!(post_carrier(&carriers, "ups", ups).await, 200);
    let joined = store
        .get_shipment(&CarrierSlug::parse("ups").unwrap(), &tn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(joined.order_id(), Some(&order_id("shopify:450789469")));
    assert_eq!(joined.order.unwrap().items[0].line_item_id, "466157049");
    assert!(
        store.get_pending_link(&tn).await.unwrap().is_none(),
        "consumed with the join"
    );
}

#[tokio::test]
async fn a_carrierless_fulfilment_joins_the_one_shipment_already_known_by_its_number() {
    let (stores, store) = store_app();
    let carriers = carriers(store.clone());
    let ups = br#"{"trackingNumber":"1Z2345","gmtActivityDate":"20240423","gmtActivityTime":"131519","activityStatus":{"type":"I","code":"OT","description":"Out for Delivery"}}"#;
    assert_eq!(post_carrier(&carriers, "ups", ups).await, 200);
    let body = unwrap_rest("shopify_rest_fulfillment_fixture.json", "fulfillment");
    assert_eq!(
        post_store(
            &stores,
            "shopify",
            Some("fulfillments/create"),
            Some("f-2"),
            &body
        )
        .await
        .0,
        200
    );
    let tn = TrackingNumber::parse("1Z2345").unwrap();
    let all = store.find_shipments(&tn).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].order_id(), Some(&order_id("shopify:450789469")));
}
