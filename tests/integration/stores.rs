//! The store webhook Lambda, driven by API Gateway v2 events carrying the stores' own payloads.

use doorstep_core::contact::Contact;
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::ports::Store;
use doorstep_core::timezone::TimezoneSource;
use doorstep_tests::*;
use serde_json::Value;
use std::sync::Arc;
use store_webhook::{handle, App};

pub fn app() -> (App, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    (
        App {
            store: store.clone(),
            config: config(),
        },
        store,
    )
}

pub async fn post(
    app: &App,
    platform: &str,
    topic: Option<&str>,
    delivery: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    status_and_json(handle(app, store_event(platform, topic, delivery, body)).await)
}

/// The REST fixtures wrap the object (`{"order": …}`); webhooks send it bare.
pub fn unwrap_rest(name: &str, key: &str) -> Vec<u8> {
    let value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    serde_json::to_vec(&value[key]).unwrap()
}

#[tokio::test]
async fn a_shopify_order_becomes_an_order_and_a_customer() {
    let (app, store) = app();
    let body = fixture("shopify_orders_create_sample.json");
    let (status, json) = post(&app, "shopify", Some("orders/create"), Some("wh-1"), &body).await;
    assert_eq!(status, 200, "{json}");
    let order = store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.name, "#9999");
    assert_eq!(order.line_items.len(), 5);
    let first = &order.line_items[0];
    assert_eq!(
        (first.title.as_str(), first.price.as_str(), first.quantity),
        ("Aviator sunglasses", "89.99", 1)
    );
    assert_eq!(first.sku.as_deref(), Some("SKU2006-001"));
    assert_eq!(first.variant_id, None, "the sample's variant_id is null");
    assert!(order.cancelled, "the sample carries cancelled_at");
    let customer = store
        .get_customer(&customer_id("shopify:115310627314723954"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        customer
            .email
            .as_ref()
            .and_then(|e| e.usable())
            .map(|e| e.as_str()),
        Some("jon@example.com")
    );
    // The sample's shipping phone is deliberately invalid: kept, marked unusable, nothing crashes.
    assert!(
        matches!(&customer.phone, Some(Contact::Unusable { raw, .. }) if raw == "555-555-SHIP")
    );
    assert_eq!(
        (customer.timezone.as_str(), customer.timezone_source),
        ("America/New_York", TimezoneSource::Address)
    );
    assert_eq!(customer.locale, "en");
    assert!(customer.consents.transactional_email);
    assert!(
        customer.consents.marketing_email,
        "buyer_accepts_marketing: true"
    );
    assert!(!customer.consents.marketing_sms);
    assert_eq!(order.customer_id.as_ref(), Some(&customer.id));

    let (status, json) = post(&app, "shopify", Some("orders/create"), Some("wh-1"), &body).await;
    assert_eq!(
        (status, &json["result"]),
        (200, &Value::from("duplicate")),
        "same X-Shopify-Webhook-Id"
    );
}

#[tokio::test]
async fn a_shopify_order_through_the_function_url_is_kept_as_through_the_api() {
    let (app, store) = app();
    let body = fixture("shopify_orders_create_sample.json");
    let headers = store_headers("shopify", Some("orders/create"), Some("wh-fu-1"), &body);
    let event = function_url_event("/webhooks/stores/shopify", &headers, None, &body);
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(status, 200, "{json}");
    assert!(store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .is_some());
    // The other routes the function serves are found the same way.
    let review = fixture("judgeme_review_created.json");
    let event = function_url_event(
        "/webhooks/reviews/judgeme",
        &review_headers("judgeme", &review),
        None,
        &review,
    );
    assert_eq!(status_and_json(handle(&app, event).await).0, 200);
    let event = function_url_event("/webhooks/carriers/easypost", &[], None, b"{}");
    assert_eq!(status_and_json(handle(&app, event).await).0, 404);
}

#[tokio::test]
async fn an_older_order_snapshot_never_overwrites_a_newer_one() {
    let (app, store) = app();
    let mut order: Value =
        serde_json::from_slice(&fixture("shopify_orders_create_sample.json")).unwrap();
    order["cancelled_at"] = Value::Null;
    order["updated_at"] = "2024-05-02T10:00:00Z".into();
    order["customer_locale"] = "th".into();
    let newer = serde_json::to_vec(&order).unwrap();
    order["updated_at"] = "2024-05-01T10:00:00Z".into();
    order["customer_locale"] = "en".into();
    order["line_items"] = Value::Array(vec![]);
    let older = serde_json::to_vec(&order).unwrap();
    assert_eq!(
        post(&app, "shopify", Some("orders/updated"), Some("new"), &newer)
            .await
            .0,
        200
    );
    assert_eq!(
        post(&app, "shopify", Some("orders/updated"), Some("old"), &older)
            .await
            .0,
        200
    );
    let stored = store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.line_items.len(), 5);
    let customer = store
        .get_customer(&customer_id("shopify:115310627314723954"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.locale, "th");
}

#[tokio::test]
async fn a_shopify_fulfilment_ties_its_tracking_number_to_the_order() {
    let (app, store) = app();
    let body = fixture("shopify_fulfillments_update_sample.json");
    let (status, json) = post(
        &app,
        "shopify",
        Some("fulfillments/update"),
        Some("wh-f"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let shipment = store
        .get_shipment(
            &CarrierSlug::parse("ups").unwrap(),
            &TrackingNumber::parse("1Z827WK74630").unwrap(),
        )
        .await
        .unwrap()
        .expect("shipment created from the fulfilment");
    assert_eq!(
        shipment.order_id(),
        Some(&order_id("shopify:820982911946154508"))
    );
    let link = shipment.order.unwrap();
    assert_eq!(link.fulfillment_id.as_deref(), Some("123456"));
    assert_eq!(link.items.len(), 5, "the sample fulfils all five lines");
    // The order is not known yet: a placeholder lists the parcel until the order's webhook arrives.
    let placeholder = store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(placeholder.shipments.len(), 1);
    assert_eq!(placeholder.customer_id, None);
    assert!(
        !placeholder.was_placeholder,
        "a placeholder is not one filled in"
    );
    assert_eq!(
        post(
            &app,
            "shopify",
            Some("orders/create"),
            Some("wh-o"),
            &fixture("shopify_orders_create_sample.json")
        )
        .await
        .0,
        200
    );
    let order = store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (order.line_items.len(), order.shipments.len()),
        (5, 1),
        "order filled in, parcel kept"
    );
    assert!(order.customer_id.is_some());
    // Filling it in told the parcel's milestones so far from the order's change: the parcel's
    // own changes claim their messages from now on.
    assert!(order.was_placeholder);
}

#[tokio::test]
async fn a_delivery_saying_nothing_new_is_a_duplicate_and_writes_nothing() {
    let (app, store) = app();
    let fulfilment = fixture("shopify_fulfillments_update_sample.json");
    let order = fixture("shopify_orders_create_sample.json");
    let ups = CarrierSlug::parse("ups").unwrap();
    let parcel = TrackingNumber::parse("1Z827WK74630").unwrap();
    let id = order_id("shopify:820982911946154508");
    let versions = || async {
        let order = store.get_order(&id).await.unwrap().unwrap();
        let customer = match &order.customer_id {
            Some(c) => store.get_customer(c).await.unwrap().map(|c| c.version),
            None => None,
        };
        let shipment = store.get_shipment(&ups, &parcel).await.unwrap().unwrap();
        (order.version, customer, shipment.version)
    };
    let topic = Some("fulfillments/update");
    let result = |json: Value| json["result"].as_str().unwrap().to_string();
    assert_eq!(
        result(
            post(&app, "shopify", topic, Some("wh-f1"), &fulfilment)
                .await
                .1
        ),
        "applied"
    );
    let topic = Some("orders/create");
    assert_eq!(
        result(post(&app, "shopify", topic, Some("wh-o1"), &order).await.1),
        "applied"
    );
    let written = versions().await;
    // Shopify retries with the same X-Shopify-Webhook-Id, and sends `orders/updated` (another
    // id) for changes Doorstep does not keep: both are recognised by what they say.
    for (topic, delivery, body) in [
        ("orders/create", "wh-o1", &order),
        ("orders/updated", "wh-o2", &order),
        ("fulfillments/update", "wh-f1", &fulfilment),
        ("fulfillments/update", "wh-f2", &fulfilment),
    ] {
        let (status, json) = post(&app, "shopify", Some(topic), Some(delivery), body).await;
        assert_eq!((status, result(json)), (200, "duplicate".to_string()));
    }
    assert_eq!(versions().await, written, "nothing was written again");
    // A real change is applied.
    let mut cancelled: Value = serde_json::from_slice(&order).unwrap();
    cancelled["cancelled_at"] = "2024-05-02T10:00:00Z".into();
    cancelled["updated_at"] = "2024-05-02T10:00:00Z".into();
    let cancelled = serde_json::to_vec(&cancelled).unwrap();
    let (_, json) = post(
        &app,
        "shopify",
        Some("orders/cancelled"),
        Some("wh-o3"),
        &cancelled,
    )
    .await;
    assert_eq!(result(json), "applied");
    assert!(store.get_order(&id).await.unwrap().unwrap().cancelled);
}

#[tokio::test]
async fn a_shopify_shipment_status_is_applied_as_a_tracking_event() {
    let (app, store) = app();
    let mut body: Value =
        serde_json::from_slice(&fixture("shopify_fulfillments_update_sample.json")).unwrap();
    body["shipment_status"] = "out_for_delivery".into();
    let (status, _) = post(
        &app,
        "shopify",
        Some("fulfillments/update"),
        Some("wh-s"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let shipment = store
        .get_shipment(
            &CarrierSlug::parse("ups").unwrap(),
            &TrackingNumber::parse("1Z827WK74630").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shipment.status,
        doorstep_core::status::ShipmentStatus::OutForDelivery
    );
    assert_eq!(shipment.events[0].raw_code, "shopify:out_for_delivery");
}

#[tokio::test]
async fn a_woocommerce_order_with_shipment_tracking_meta_links_its_parcels() {
    let (app, store) = app();
    let plain = fixture("woocommerce_order_created_rest_v3_example.json");
    let (status, json) = post(
        &app,
        "woocommerce",
        Some("order.created"),
        Some("d-1"),
        &plain,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let customer = store
        .get_customer(&customer_id("woocommerce:order:727"))
        .await
        .unwrap()
        .expect("guest customer keyed by order");
    assert!(
        matches!(&customer.phone, Some(Contact::Unusable { .. })),
        "(555) 555-5555 is not a real number"
    );
    assert_eq!(customer.timezone, "America/Los_Angeles");
    let order = store
        .get_order(&order_id("woocommerce:727"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            order.name.as_str(),
            order.line_items.len(),
            order.shipments.len()
        ),
        ("#727", 2, 0)
    );
    assert_eq!(order.line_items[1].variant_id.as_deref(), Some("23"));

    let mut tracked: Value = serde_json::from_slice(&plain).unwrap();
    tracked["date_modified_gmt"] = "2017-03-23T10:00:00".into();
    tracked["status"] = "completed".into();
    tracked["meta_data"].as_array_mut().unwrap().push(serde_json::json!({
        "id": 13200,
        "key": "_wc_shipment_tracking_items",
        "value": [{"tracking_provider": "usps", "custom_tracking_provider": "", "custom_tracking_link": "",
                   "tracking_number": "9400 1000 0000 0000 0000 00", "date_shipped": "1490227200",
                   "tracking_id": "a1b2c3"}]
    }));
    let (status, json) = post(
        &app,
        "woocommerce",
        Some("order.updated"),
        Some("d-2"),
        &serde_json::to_vec(&tracked).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let tn = TrackingNumber::parse("9400100000000000000000").unwrap();
    let shipment = store
        .get_shipment(&CarrierSlug::parse("usps").unwrap(), &tn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shipment.order_id(), Some(&order_id("woocommerce:727")));
    assert_eq!(
        store
            .get_order(&order_id("woocommerce:727"))
            .await
            .unwrap()
            .unwrap()
            .shipments
            .len(),
        1
    );
}

#[tokio::test]
async fn woocommerce_pings_are_acknowledged_and_unknown_topics_refused() {
    let (app, _) = app();
    let (status, json) = post(&app, "woocommerce", None, None, b"webhook_id=15").await;
    assert_eq!((status, &json["result"]), (200, &Value::from("ping")));
    let (status, json) = post(&app, "woocommerce", Some("coupon.created"), None, b"{}").await;
    assert_eq!(status, 400, "{json}");
    assert!(json["error"].as_str().unwrap().contains("coupon.created"));
    let (status, _) = post(&app, "shopify", Some("carts/create"), None, b"{}").await;
    assert_eq!(status, 400);
    let event = apigw_event(
        "POST",
        "/webhooks/stores/{platform}",
        "/webhooks/stores/magento",
        &[("platform", "magento")],
        &[],
        None,
        b"{}",
    );
    assert_eq!(status_and_json(handle(&app, event).await).0, 404);
}

#[tokio::test]
async fn a_store_webhook_with_a_bad_signature_is_401_and_writes_nothing() {
    let (app, store) = app();
    let body = fixture("shopify_orders_create_sample.json");
    let mut headers = store_headers("shopify", Some("orders/create"), Some("wh-x"), &body);
    headers[1].1 = doorstep_core::providers::shopify::sign("wrong-secret", &body);
    let event = apigw_event(
        "POST",
        "/webhooks/stores/{platform}",
        "/webhooks/stores/shopify",
        &[("platform", "shopify")],
        &headers,
        None,
        &body,
    );
    assert_eq!(status_and_json(handle(&app, event).await).0, 401);
    assert!(store
        .get_order(&order_id("shopify:820982911946154508"))
        .await
        .unwrap()
        .is_none());
    assert!(
        !store.delivery_seen("shopify:wh-x").await.unwrap(),
        "a refused delivery is not remembered"
    );
}

#[tokio::test]
async fn a_generic_store_order_resolves_contacts_locale_and_timezone() {
    let (app, store) = app();
    let (status, json) = post(
        &app,
        "generic",
        None,
        None,
        &fixture("generic_store_order.json"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let customer = store
        .get_customer(&customer_id("generic-store:c-77"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        customer
            .phone
            .as_ref()
            .and_then(|p| p.usable())
            .map(|p| p.as_str()),
        Some("+66812345678")
    );
    assert_eq!(
        (customer.locale.as_str(), customer.timezone.as_str()),
        ("th", "Asia/Bangkok")
    );
    let order = store
        .get_order(&order_id("generic-store:5001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.line_items[0].price, "390.00");
    assert_eq!(order.currency.as_deref(), Some("THB"));
    let (_, json) = post(
        &app,
        "generic",
        None,
        None,
        &fixture("generic_store_order.json"),
    )
    .await;
    assert_eq!(json["result"], "duplicate", "deduped on event_id");
}

#[tokio::test]
async fn subscription_and_review_webhooks_route_by_platform_through_the_handler() {
    let (app, store) = app();
    let body = fixture("judgeme_review_created.json");
    let (status, json) = status_and_json(handle(&app, review_event("judgeme", &body)).await);
    assert_eq!(status, 200, "{json}");
    let review = store
        .get_review(&doorstep_core::ids::ReviewId::parse("judgeme:73510342").unwrap())
        .await
        .unwrap()
        .expect("kept until the reviewer is a customer");
    assert_eq!(review.rating, 1);
    assert_eq!(review.email.as_deref(), Some("bob.norman@mail.example.com"));
    // Judge.me names the Shopify customer: when that customer orders, the review is linked.
    assert_eq!(review.customer_id, None);

    let body = fixture("recharge_subscription_2021_11.json");
    let (status, json) = status_and_json(
        handle(
            &app,
            subscription_event("recharge", Some("subscription/created"), &body),
        )
        .await,
    );
    assert_eq!(status, 200, "{json}");
    // A platform the route does not know, and a carrier's slug on the review route.
    let (status, _) = status_and_json(handle(&app, review_event("generic", b"{}")).await);
    assert_eq!(status, 400, "the generic review form needs its fields");
    let mut event = review_event("generic", b"{}");
    event
        .path_parameters
        .insert("platform".into(), "trustpilot".into());
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(status, 404, "{json}");
}
