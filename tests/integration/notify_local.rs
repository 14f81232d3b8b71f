//! Notifications on the local runner: signed webhooks in, the in-process notifier on the SQLite
//! change feed, the outbox read back through `GET /api/outbox` and `GET /outbox`.

use crate::local::{get, local_app, post, send, ADMIN};
use axum::http::StatusCode;
use doorstep_core::chrono::{DateTime, Utc};
use doorstep_local::router;
use doorstep_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn order(id: u32, customer: &str, phone: &str, transactional_sms: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "order", "event_id": format!("order-{id}"), "order": {
        "id": id, "name": format!("#{id}"), "currency": "THB", "updated_at": "2024-05-01T08:00:00+07:00",
        "customer": {"id": customer, "first_name": "Nok", "email": format!("{customer}@example.co.th"), "phone": phone,
                     "locale": "th", "accepts_transactional_sms": transactional_sms},
        "shipping_address": {"country_code": "TH"},
        "line_items": [{"id": "li-1", "title": "Cotton tee", "price": "390.00", "quantity": 2},
                       {"id": "li-2", "title": "Cap", "price": "250.00", "quantity": 1}]}}))
    .unwrap()
}

fn fulfilment(order: u32, tracking: &str, line: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "fulfillment", "event_id": format!("f-{tracking}"), "fulfillment": {
        "id": format!("f-{tracking}"), "order_id": order, "carrier": "Kerry Express", "tracking_number": tracking,
        "line_items": [{"line_item_id": line, "quantity": 1}]}}))
    .unwrap()
}

fn scan(tracking: &str, event_id: &str, status: &str, occurred_at: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"carrier": "kerry-logistics", "tracking_number": tracking, "event_id": event_id,
        "events": [{"status": status, "occurred_at": occurred_at, "description": status, "location": "Bangkok"}]}))
    .unwrap()
}

async fn webhook(router: &axum::Router, path: &str, body: Vec<u8>) {
    let headers = match path {
        "/webhooks/stores/generic" => store_headers("generic", None, None, &body),
        _ => carrier_auth("generic", &body).0,
    };
    let (status, json) = send(router, post(path, &headers, body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {json}");
}

async fn outbox(router: &axum::Router) -> Vec<Value> {
    let (status, json) = send(router, get("/api/outbox", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    json.as_array().unwrap().clone()
}

fn count(entries: &[Value], state: &str) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for entry in entries.iter().filter(|e| e["state"] == state) {
        let key = (
            entry["milestone"].as_str().unwrap().to_string(),
            entry["channel"].as_str().unwrap().to_string(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn one_message_per_milestone_per_channel_with_night_sms_deferred_to_morning() {
    let app = local_app();
    let router = router(app.clone());
    let carriers = "/webhooks/carriers/generic";
    let stores = "/webhooks/stores/generic";
    // Day, 10:00 in Bangkok.
    webhook(&router, stores, order(7001, "nok", "081 234 5678", true)).await;
    webhook(&router, stores, fulfilment(7001, "KEX0001", "li-1")).await;
    webhook(&router, stores, fulfilment(7001, "KEX0002", "li-2")).await;
    app.notifier.tick(at("2024-05-01T03:00:00Z")).await.unwrap();
    webhook(
        &router,
        carriers,
        scan("KEX0001", "e1", "in_transit", "2024-05-01T12:00:00+07:00"),
    )
    .await;
    webhook(
        &router,
        carriers,
        scan("KEX0001", "e1", "in_transit", "2024-05-01T12:00:00+07:00"),
    )
    .await; // duplicate
    app.notifier.tick(at("2024-05-01T06:00:00Z")).await.unwrap();
    // Night: out for delivery at 23:30 Bangkok. Email goes; the SMS waits for 08:00.
    webhook(
        &router,
        carriers,
        scan(
            "KEX0001",
            "e2",
            "out_for_delivery",
            "2024-05-01T23:30:00+07:00",
        ),
    )
    .await;
    webhook(
        &router,
        carriers,
        scan(
            "KEX0001",
            "e0",
            "info_received",
            "2024-05-01T09:00:00+07:00",
        ),
    )
    .await; // late, older
    app.notifier.tick(at("2024-05-01T16:30:00Z")).await.unwrap();
    let entries = outbox(&router).await;
    let deferred: Vec<_> = entries
        .iter()
        .filter(|e| e["state"] == "deferred")
        .collect();
    assert_eq!(deferred.len(), 1, "{entries:#?}");
    assert_eq!(deferred[0]["milestone"], "out_for_delivery");
    assert_eq!(deferred[0]["channel"], "sms");
    assert_eq!(
        deferred[0]["send_after"], "2024-05-02T01:00:00Z",
        "08:00 in Bangkok"
    );
    // Morning: the deferred SMS goes out once.
    app.notifier.tick(at("2024-05-02T01:00:30Z")).await.unwrap();
    app.notifier.tick(at("2024-05-02T01:01:00Z")).await.unwrap();
    // Delivered at 10:00, duplicated; the first parcel of two.
    webhook(
        &router,
        carriers,
        scan("KEX0001", "e3", "delivered", "2024-05-02T10:00:00+07:00"),
    )
    .await;
    webhook(
        &router,
        carriers,
        scan("KEX0001", "e3", "delivered", "2024-05-02T10:00:00+07:00"),
    )
    .await;
    app.notifier.tick(at("2024-05-02T03:05:00Z")).await.unwrap();

    let entries = outbox(&router).await;
    let sent = count(&entries, "sent");
    let expected = [
        ("order_confirmed", "email"),
        ("shipped", "email"),
        ("out_for_delivery", "email"),
        ("out_for_delivery", "sms"),
        ("delivered", "email"),
        ("delivered", "sms"),
    ];
    for (milestone, channel) in expected {
        assert_eq!(
            sent.get(&(milestone.into(), channel.into())),
            Some(&1),
            "{milestone}/{channel}: {sent:?}"
        );
    }
    assert_eq!(
        sent.values().sum::<usize>(),
        expected.len(),
        "nothing else, nothing twice: {sent:?}"
    );
    let delivered_sms = entries
        .iter()
        .find(|e| e["state"] == "sent" && e["milestone"] == "delivered" && e["channel"] == "sms")
        .unwrap();
    assert_eq!(delivered_sms["to"], "+66812345678");
    assert_eq!(delivered_sms["locale"], "th");
    assert_eq!(delivered_sms["kind"], "transactional");
    assert_eq!(delivered_sms["order_id"], "generic-store:7001");
    assert_eq!(delivered_sms["tracking_number"], "KEX0001");
    let body = delivered_sms["body"].as_str().unwrap();
    assert!(
        body.contains("เหลืออีก 1"),
        "one more parcel on the way: {body}"
    );
    assert!(body.contains("https://shop.example.com/t/"), "{body}");
    let delivered_email = entries
        .iter()
        .find(|e| e["state"] == "sent" && e["milestone"] == "delivered" && e["channel"] == "email")
        .unwrap();
    assert!(delivered_email["subject"]
        .as_str()
        .unwrap()
        .contains("Baan Shop"));
    assert!(
        delivered_email["body"]
            .as_str()
            .unwrap()
            .contains("Cotton tee"),
        "the items that arrived"
    );
    assert!(
        !delivered_email["body"].as_str().unwrap().contains("Cap"),
        "not the ones still coming"
    );
    // The sent messages are in the file outbox too, one line each.
    let lines = std::fs::read_to_string(app.notifier.outbox_path()).unwrap();
    assert_eq!(lines.lines().count(), expected.len());
    // The page renders, escaped, behind the token.
    let (status, _) = send(&router, get("/outbox", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deferred_sms_overtaken_by_delivery_is_dropped_and_opted_out_sms_never_sent() {
    let app = local_app();
    let router = router(app.clone());
    let carriers = "/webhooks/carriers/generic";
    webhook(
        &router,
        "/webhooks/stores/generic",
        order(7002, "mai", "0812345679", false),
    )
    .await;
    webhook(
        &router,
        "/webhooks/stores/generic",
        order(7003, "ploy", "0812345670", true),
    )
    .await;
    webhook(
        &router,
        "/webhooks/stores/generic",
        fulfilment(7002, "KEX0003", "li-1"),
    )
    .await;
    webhook(
        &router,
        "/webhooks/stores/generic",
        fulfilment(7003, "KEX0004", "li-1"),
    )
    .await;
    // 22:00 Bangkok: out for delivery for both.
    webhook(
        &router,
        carriers,
        scan(
            "KEX0003",
            "a1",
            "out_for_delivery",
            "2024-05-01T22:00:00+07:00",
        ),
    )
    .await;
    webhook(
        &router,
        carriers,
        scan(
            "KEX0004",
            "b1",
            "out_for_delivery",
            "2024-05-01T22:00:00+07:00",
        ),
    )
    .await;
    app.notifier.tick(at("2024-05-01T15:00:00Z")).await.unwrap();
    // 07:00 Bangkok, still quiet: KEX0004 is delivered before its SMS could go.
    webhook(
        &router,
        carriers,
        scan("KEX0004", "b2", "delivered", "2024-05-02T07:00:00+07:00"),
    )
    .await;
    app.notifier.tick(at("2024-05-02T00:00:00Z")).await.unwrap();
    app.notifier.tick(at("2024-05-02T01:00:00Z")).await.unwrap();

    let entries = outbox(&router).await;
    let mai_sms: Vec<_> = entries
        .iter()
        .filter(|e| {
            e["to"] == "+66812345679"
                || (e["customer_id"] == "generic-store:mai" && e["channel"] == "sms")
        })
        .collect();
    assert!(
        mai_sms.iter().all(|e| e["state"] == "suppressed"),
        "opted out of SMS: {mai_sms:#?}"
    );
    assert!(mai_sms
        .iter()
        .any(|e| e["reason"] == "opted out of SMS updates"));
    let ploy_ofd_sms: Vec<_> = entries
        .iter()
        .filter(|e| {
            e["customer_id"] == "generic-store:ploy"
                && e["milestone"] == "out_for_delivery"
                && e["channel"] == "sms"
        })
        .map(|e| {
            (
                e["state"].as_str().unwrap(),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        ploy_ofd_sms.contains(&("deferred", "quiet hours in the customer's timezone")),
        "{ploy_ofd_sms:?}"
    );
    assert!(
        ploy_ofd_sms.contains(&("suppressed", "superseded by a later milestone")),
        "{ploy_ofd_sms:?}"
    );
    assert!(
        !ploy_ofd_sms.iter().any(|(state, _)| *state == "sent"),
        "no 'out for delivery' after 'delivered'"
    );
    let ploy_delivered_sms = entries
        .iter()
        .filter(|e| {
            e["customer_id"] == "generic-store:ploy"
                && e["milestone"] == "delivered"
                && e["channel"] == "sms"
                && e["state"] == "sent"
        })
        .count();
    assert_eq!(
        ploy_delivered_sms, 1,
        "the delivered SMS, deferred to 08:00, went out once"
    );
}

#[tokio::test]
async fn the_preferences_link_shows_saves_and_one_click_unsubscribes() {
    let app = local_app();
    let router = router(app.clone());
    let mut body: Value = serde_json::from_slice(&order(7100, "pref", "0812345611", true)).unwrap();
    body["order"]["customer"]["accepts_email_marketing"] = true.into();
    body["order"]["customer"]["first_name"] = "<script>".into();
    webhook(
        &router,
        "/webhooks/stores/generic",
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    use doorstep_core::ports::Store;
    let customer = app
        .store
        .get_customer(&customer_id("generic-store:pref"))
        .await
        .unwrap()
        .unwrap();
    let token = customer.preferences_token.clone();
    assert_eq!(token.as_str().len(), 32);

    let page = |method: &str, path: &str, form: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form.to_string()))
            .unwrap()
    };
    let read = |router: axum::Router, request: axum::http::Request<axum::body::Body>| async move {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).to_string())
    };
    let (status, html) = read(router.clone(), page("GET", &format!("/p/{token}"), "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("ตั้งค่าการแจ้งเตือน"),
        "in the customer's language"
    );
    assert!(html.contains("name=\"marketing_email\" checked"));
    assert!(!html.contains("<script>"));

    // Untick SMS updates: only the boxes sent stay on.
    let (status, html) = read(
        router.clone(),
        page(
            "POST",
            &format!("/p/{token}"),
            "transactional_email=on&marketing_email=on",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let saved = app
        .store
        .get_customer(&customer_id("generic-store:pref"))
        .await
        .unwrap()
        .unwrap()
        .consents;
    assert!(
        saved.transactional_email
            && saved.marketing_email
            && !saved.transactional_sms
            && !saved.marketing_sms
    );

    // RFC 8058 one-click, as a mail client sends it.
    let (status, _) = read(
        router.clone(),
        page(
            "POST",
            &format!("/p/{token}/unsubscribe"),
            "List-Unsubscribe=One-Click",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !app.store
            .get_customer(&customer_id("generic-store:pref"))
            .await
            .unwrap()
            .unwrap()
            .consents
            .marketing_email
    );

    let unknown = doorstep_core::ids::random_token();
    assert_eq!(
        read(router.clone(), page("GET", &format!("/p/{unknown}"), ""))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(router.clone(), page("GET", "/p/..%2F..%2Fetc", ""))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

fn ups(tracking: &str, kind: &str, code: &str, gmt_date: &str, gmt_time: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"trackingNumber": tracking, "gmtActivityDate": gmt_date, "gmtActivityTime": gmt_time,
        "activityStatus": {"type": kind, "code": code, "description": format!("{kind} {code}")}}))
    .unwrap()
}

/// The issue's own scenario: a signed Shopify order, then a carrier's events with duplicates and
/// a late, older one: one message per milestone per channel, the night-time SMS deferred to the
/// morning in the customer's timezone, nothing on the channel the customer turned off.
#[tokio::test]
async fn a_shopify_order_and_ups_events_notify_once_respecting_night_and_opt_out() {
    let app = local_app();
    let router = router(app.clone());
    let mut order: Value =
        serde_json::from_slice(&fixture("shopify_orders_create_sample.json")).unwrap();
    order["cancelled_at"] = Value::Null;
    order["customer_locale"] = "en".into();
    order["shipping_address"]["phone"] = "+1 (415) 555-2671".into();
    let order = serde_json::to_vec(&order).unwrap();
    let shopify = |topic: &str, id: &str, body: &[u8]| {
        post(
            "/webhooks/stores/shopify",
            &store_headers("shopify", Some(topic), Some(id), body),
            body.to_vec(),
        )
    };
    assert_eq!(
        send(&router, shopify("orders/create", "w-1", &order))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&router, shopify("orders/create", "w-1", &order))
            .await
            .0,
        StatusCode::OK,
        "a redelivery"
    );
    // 11:00 in Kentucky (America/New_York, EDT): the confirmation email goes.
    app.notifier.tick(at("2024-05-01T15:00:00Z")).await.unwrap();

    // The customer turns email updates off on their preferences page.
    use doorstep_core::ports::Store;
    let token = app
        .store
        .get_customer(&customer_id("shopify:115310627314723954"))
        .await
        .unwrap()
        .unwrap()
        .preferences_token;
    let form = axum::http::Request::post(format!("/p/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("transactional_sms=on"))
        .unwrap();
    assert_eq!(send(&router, form).await.0, StatusCode::OK);

    let fulfilment = fixture("shopify_fulfillments_update_sample.json");
    assert_eq!(
        send(&router, shopify("fulfillments/create", "w-2", &fulfilment))
            .await
            .0,
        StatusCode::OK
    );
    let tn = "1Z827WK74630";
    let events = [
        ups(tn, "I", "DP", "20240501", "200000"),
        ups(tn, "I", "DP", "20240501", "200000"),
        ups(tn, "I", "OT", "20240502", "033000"), // 23:30 EDT on 1 May: out for delivery at night
        ups(tn, "M", "MP", "20240501", "120000"), // late and older: history only
    ];
    for body in events {
        let (auth, _) = carrier_auth("ups", &body);
        assert_eq!(
            send(&router, post("/webhooks/carriers/ups", &auth, body))
                .await
                .0,
            StatusCode::OK
        );
    }
    app.notifier.tick(at("2024-05-02T03:31:00Z")).await.unwrap();
    let entries = outbox(&router).await;
    let deferred: Vec<_> = entries
        .iter()
        .filter(|e| e["state"] == "deferred")
        .collect();
    assert_eq!(deferred.len(), 1, "{entries:#?}");
    assert_eq!(
        (
            deferred[0]["milestone"].as_str(),
            deferred[0]["channel"].as_str()
        ),
        (Some("out_for_delivery"), Some("sms"))
    );
    assert_eq!(
        deferred[0]["send_after"], "2024-05-02T12:00:00Z",
        "08:00 in New York (EDT)"
    );
    // The morning: the SMS goes. Then the delivery (twice) at 10:00.
    app.notifier.tick(at("2024-05-02T12:00:30Z")).await.unwrap();
    for _ in 0..2 {
        let body = ups(tn, "D", "FS", "20240502", "140000");
        let (auth, _) = carrier_auth("ups", &body);
        assert_eq!(
            send(&router, post("/webhooks/carriers/ups", &auth, body))
                .await
                .0,
            StatusCode::OK
        );
    }
    app.notifier.tick(at("2024-05-02T14:05:00Z")).await.unwrap();
    app.notifier.tick(at("2024-05-02T14:06:00Z")).await.unwrap();

    let entries = outbox(&router).await;
    let sent = count(&entries, "sent");
    let expected = [
        ("order_confirmed", "email"),
        ("out_for_delivery", "sms"),
        ("delivered", "sms"),
    ];
    for (milestone, channel) in expected {
        assert_eq!(
            sent.get(&(milestone.into(), channel.into())),
            Some(&1),
            "{milestone}/{channel}: {sent:?}"
        );
    }
    assert_eq!(sent.values().sum::<usize>(), expected.len(), "{sent:?}");
    let after_opt_out: Vec<_> = entries
        .iter()
        .filter(|e| e["channel"] == "email" && e["milestone"] != "order_confirmed")
        .collect();
    assert!(!after_opt_out.is_empty());
    for entry in after_opt_out {
        assert_eq!(entry["state"], "suppressed", "{entry}");
        assert_eq!(entry["reason"], "opted out of email updates");
    }
    let sms = entries
        .iter()
        .find(|e| e["state"] == "sent" && e["milestone"] == "delivered")
        .unwrap();
    assert_eq!(sms["to"], "+14155552671");
    assert_eq!(sms["order_id"], "shopify:820982911946154508");
    assert_eq!(sms["tracking_number"], tn);
}

#[tokio::test]
async fn a_parcel_scanned_before_its_order_is_known_is_still_watched_for_silence() {
    let app = local_app();
    let router = router(app.clone());
    let carriers = "/webhooks/carriers/generic";
    let stores = "/webhooks/stores/generic";
    // The fulfilment and a scan come before the order: nobody to tell yet, nothing filed.
    webhook(&router, stores, fulfilment(7101, "KEX0101", "li-1")).await;
    webhook(
        &router,
        carriers,
        scan("KEX0101", "e1", "in_transit", "2024-05-01T12:00:00+07:00"),
    )
    .await;
    app.notifier.tick(at("2024-05-01T06:00:00Z")).await.unwrap();
    // The order arrives; the carrier then goes silent.
    webhook(&router, stores, order(7101, "lek", "081 234 5670", true)).await;
    app.notifier.tick(at("2024-05-01T07:00:00Z")).await.unwrap();
    app.notifier.tick(at("2024-05-06T03:00:00Z")).await.unwrap();
    let sent = count(&outbox(&router).await, "sent");
    assert_eq!(
        sent.get(&("delayed".to_string(), "email".to_string())),
        Some(&1),
        "{sent:?}"
    );
}
