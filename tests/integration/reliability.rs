//! Issue 6's reproductions, each as a test: poison times, a crashed worker's claim, log
//! injection, unbounded input and growth, and the smaller defects. The SIGKILL test lives with the
//! runner's binary (infra/local/tests/crash.rs).

use crate::local::{get, local_app, post, send, ADMIN};
use axum::http::StatusCode;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::model::{EstimatedDelivery, OrderLink, Shipment, TrackingEvent};
use doorstep_core::notify::ports::{Claim, NotifyStore};
use doorstep_core::ports::{ShipmentWrite, Store};
use doorstep_core::status::ShipmentStatus;
use doorstep_local::router;
use doorstep_tests::*;
use serde_json::{json, Value};

const EXTREMES: [&str; 2] = ["-262143-01-01T00:00:00", "+262142-12-31T23:59:59"];

fn generic_with_time(time: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"carrier": "ups", "tracking_number": "1ZPOISON1", "event_id": time,
        "estimated_delivery": "2024-05-04",
        "events": [{"status": "in_transit", "occurred_at": time}]}),
    )
    .unwrap()
}

fn replace_first(body: &[u8], field: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let key = format!("\"{field}\":\"");
    let start = text.find(&key).unwrap() + key.len();
    let end = start + text[start..].find('"').unwrap();
    format!("{}{value}{}", &text[..start], &text[end..]).into_bytes()
}

#[tokio::test]
async fn out_of_range_times_are_refused_naming_the_field_and_nothing_is_written() {
    let router = router(local_app());
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = EXTREMES
        .iter()
        .flat_map(|time| {
            [
                ("generic", generic_with_time(time), "1ZPOISON1", "ups"),
                (
                    "aftership",
                    replace_first(
                        &fixture("aftership_tracking_update.json"),
                        "checkpoint_time",
                        time,
                    ),
                    "1Z0X118A0324011023",
                    "ups",
                ),
                (
                    "easypost",
                    replace_first(
                        &fixture("easypost_tracker_updated_in_transit.json"),
                        "datetime",
                        time,
                    ),
                    "1",
                    "fedex",
                ),
            ]
        })
        .collect();
    for (provider, body, tracking, carrier) in cases {
        let (headers, query) = carrier_auth(provider, &body);
        let path = match query {
            Some(q) => format!("/webhooks/carriers/{provider}?{q}"),
            None => format!("/webhooks/carriers/{provider}"),
        };
        let (status, json) = send(&router, post(&path, &headers, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{provider}: {json}");
        let reason = json["error"].as_str().unwrap();
        let field = match provider {
            "generic" => "events.occurred_at",
            "aftership" => "checkpoints.checkpoint_time",
            _ => "tracking_details.datetime",
        };
        assert!(
            reason.contains(field) && reason.contains("out of range"),
            "{provider}: the reason names the field: {reason}"
        );
        let (status, _) = send(
            &router,
            get(&format!("/api/shipments/{carrier}/{tracking}"), Some(ADMIN)),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{provider}: nothing written");
    }
    // A scan from next week, or a promise years ahead, is refused too.
    let next_week = (Utc::now() + Duration::days(7)).to_rfc3339();
    let body = generic_with_time(&next_week);
    let (status, json) = send(
        &router,
        post(
            "/webhooks/carriers/generic",
            &carrier_auth("generic", &body).0,
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("events.occurred_at"));
}

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

async fn order_and_fulfilment(router: &axum::Router, order: u32, tracking: &str, zone: &str) {
    let order_body = serde_json::to_vec(&json!({"type": "order", "event_id": format!("o-{order}"), "order": {
        "id": order, "name": format!("#{order}"), "currency": "USD", "updated_at": "2024-05-01T08:00:00Z",
        "customer": {"id": format!("c-{order}"), "first_name": "Ann", "email": format!("ann{order}@example.com"),
                     "phone": "+12125550123", "locale": "en", "timezone": zone},
        "line_items": [{"id": "li-1", "title": "Mug", "price": "12.00", "quantity": 1}]}}))
    .unwrap();
    let fulfilment = serde_json::to_vec(&json!({"type": "fulfillment", "event_id": format!("f-{tracking}"),
        "fulfillment": {"id": format!("f-{tracking}"), "order_id": order, "carrier": "UPS", "tracking_number": tracking}}))
    .unwrap();
    for body in [order_body, fulfilment] {
        let headers = store_headers("generic", None, None, &body);
        let (status, json) = send(router, post("/webhooks/stores/generic", &headers, body)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
    }
}

async fn scan(router: &axum::Router, tracking: &str, event_id: &str, status: &str, when: &str) {
    let body = serde_json::to_vec(
        &json!({"carrier": "ups", "tracking_number": tracking, "event_id": event_id,
        "events": [{"status": status, "occurred_at": when}]}),
    )
    .unwrap();
    let (code, json) = send(
        router,
        post(
            "/webhooks/carriers/generic",
            &carrier_auth("generic", &body).0,
            body,
        ),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
}

async fn outbox(router: &axum::Router) -> Vec<Value> {
    let (status, json) = send(router, get("/api/outbox", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    json.as_array().unwrap().clone()
}

fn sent(entries: &[Value], milestone: &str, channel: &str) -> usize {
    entries
        .iter()
        .filter(|e| e["state"] == "sent" && e["milestone"] == milestone && e["channel"] == channel)
        .count()
}

/// A shipment as a record kept before the edge checks existed: scans at the ends of time.
fn poison_shipment(tracking: &str, order: u32) -> Shipment {
    let mut shipment = Shipment::new(
        CarrierSlug::parse("ups").unwrap(),
        TrackingNumber::parse(tracking).unwrap(),
        Utc::now(),
    );
    shipment.order = Some(OrderLink {
        order_id: order_id(&format!("generic-store:{order}")),
        fulfillment_id: None,
        items: vec![],
    });
    for (status, time) in [
        (ShipmentStatus::InTransit, DateTime::<Utc>::MIN_UTC),
        (ShipmentStatus::OutForDelivery, DateTime::<Utc>::MAX_UTC),
    ] {
        shipment.events.push(TrackingEvent {
            status,
            reason: None,
            occurred_at: time,
            description: String::new(),
            location: None,
            raw_code: String::new(),
        });
    }
    shipment.status = ShipmentStatus::OutForDelivery;
    shipment.status_at = Some(DateTime::<Utc>::MAX_UTC);
    shipment.estimated_delivery = Some(EstimatedDelivery {
        original: "2024-05-04".parse().unwrap(),
        original_as_of: None,
        latest: "2024-05-04".parse().unwrap(),
        as_of: None,
    });
    shipment
}

#[tokio::test]
async fn a_poison_record_goes_to_the_dead_letters_and_the_next_message_still_goes_out() {
    let app = local_app();
    let router = router(app.clone());
    let now = at("2024-05-02T15:00:00Z"); // 11:00 in New York
    for (order, zone) in [
        (9101, "America/New_York"),
        (9102, "Europe/London"),
        (9103, "Asia/Bangkok"),
    ] {
        order_and_fulfilment(&router, order, &format!("1ZPOISON{order}"), zone).await;
        // Records from before the edge checks: the notifier must not panic on them in any zone.
        let stored = app
            .store
            .get_shipment(
                &CarrierSlug::parse("ups").unwrap(),
                &TrackingNumber::parse(&format!("1ZPOISON{order}")).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        let mut poison = poison_shipment(&format!("1ZPOISON{order}"), order);
        poison.tracking_token = stored.tracking_token.clone();
        let write = ShipmentWrite {
            expected_version: Some(stored.version),
            ..Default::default()
        };
        app.store.save_shipment(&poison, write).await.unwrap();
    }
    // And a change nobody can read at all.
    app.store
        .append_change("shipment", None, "{\"not\": a shipment", now)
        .unwrap();
    order_and_fulfilment(&router, 9104, "1ZGOOD9104", "America/New_York").await;
    scan(
        &router,
        "1ZGOOD9104",
        "g1",
        "out_for_delivery",
        "2024-05-02T14:00:00Z",
    )
    .await;
    // Ten seconds of ticks: the bad change is retried with backoff, then set aside.
    for second in 0..10 {
        app.notifier
            .tick(now + Duration::seconds(second))
            .await
            .unwrap();
    }
    let entries = outbox(&router).await;
    let good: Vec<Value> = entries
        .iter()
        .filter(|e| e["tracking_number"] == "1ZGOOD9104")
        .cloned()
        .collect();
    assert_eq!(
        sent(&good, "out_for_delivery", "sms"),
        1,
        "the good parcel's message went out: {entries:#?}"
    );
    let (status, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["source"], "change");
    assert_eq!(letters[0]["attempts"], 3);
    assert!(letters[0]["error"]
        .as_str()
        .unwrap()
        .contains("unreadable shipment record"));
    assert_eq!(
        send(&router, get("/api/dead-letters", None)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Put back, it rejoins the feed (and, still unreadable, comes back to the list).
    let id = letters[0]["id"].as_i64().unwrap();
    let retry = |id: i64| post(&format!("/api/dead-letters/{id}/retry"), &[], Vec::new());
    assert_eq!(
        send(&router, retry(id)).await.0,
        StatusCode::UNAUTHORIZED,
        "the admin token is required"
    );
    let authed = post(
        &format!("/api/dead-letters/{id}/retry"),
        &[("authorization".into(), format!("Bearer {ADMIN}"))],
        Vec::new(),
    );
    let (status, json) = send(&router, authed).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (_, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert!(letters.as_array().unwrap().is_empty());
    for second in 10..20 {
        app.notifier
            .tick(now + Duration::seconds(second))
            .await
            .unwrap();
    }
    let (_, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert_eq!(letters.as_array().unwrap().len(), 1);
    let missing = post(
        "/api/dead-letters/999999/retry",
        &[("authorization".into(), format!("Bearer {ADMIN}"))],
        Vec::new(),
    );
    assert_eq!(send(&router, missing).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_claim_left_by_a_dead_worker_is_sent_once_after_its_lease_not_skipped() {
    let app = local_app();
    let router = router(app.clone());
    let now = at("2024-05-02T15:00:00Z");
    order_and_fulfilment(&router, 9201, "1ZCRASH9201", "America/New_York").await;
    scan(
        &router,
        "1ZCRASH9201",
        "c1",
        "out_for_delivery",
        "2024-05-02T14:00:00Z",
    )
    .await;
    // A worker claimed the SMS and died before sending it.
    let key = "ups#1ZCRASH9201#out_for_delivery#sms";
    let lease = now + Duration::minutes(5);
    assert_eq!(
        app.store
            .claim(&message_key(key), lease, now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    for second in 0..10 {
        app.notifier
            .tick(now + Duration::seconds(second))
            .await
            .unwrap();
    }
    let entries = outbox(&router).await;
    assert_eq!(sent(&entries, "out_for_delivery", "sms"), 0);
    assert_eq!(sent(&entries, "out_for_delivery", "email"), 1);
    let waiting = entries
        .iter()
        .find(|e| e["key"] == key && e["state"] == "deferred")
        .expect("the message waits for the lease");
    assert!(waiting["reason"]
        .as_str()
        .unwrap()
        .contains("claim expires"));
    // After the lease: sent, once, however often the notifier runs.
    for second in 0..5 {
        app.notifier
            .tick(lease + Duration::seconds(2 + second))
            .await
            .unwrap();
    }
    let entries = outbox(&router).await;
    assert_eq!(sent(&entries, "out_for_delivery", "sms"), 1, "{entries:#?}");
    assert_eq!(sent(&entries, "out_for_delivery", "email"), 1);
    let file = std::fs::read_to_string(app.notifier.outbox_path()).unwrap();
    assert_eq!(
        file.lines()
            .filter(|l| l.contains("\"sms\"") && l.contains("out_for_delivery"))
            .count(),
        1,
        "the outbox file has it once too"
    );
}

#[tokio::test]
async fn a_parcel_keeps_its_newest_events_and_absurd_text_is_refused_or_cut() {
    let app = local_app();
    let router = router(app.clone());
    let base = at("2024-05-01T00:00:00Z");
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"status": "in_transit", "occurred_at": (base + Duration::minutes(i)).to_rfc3339(),
                   "description": "x".repeat(600), "location": "hub"})
        })
        .collect();
    let body = serde_json::to_vec(
        &json!({"carrier": "ups", "tracking_number": "1ZMANY", "events": events}),
    )
    .unwrap();
    assert!(body.len() < 1024 * 1024);
    let (status, json) = send(
        &router,
        post(
            "/webhooks/carriers/generic",
            &carrier_auth("generic", &body).0,
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (_, shipment) = send(&router, get("/api/shipments/ups/1ZMANY", Some(ADMIN))).await;
    let kept = shipment["events"].as_array().unwrap();
    assert_eq!(kept.len(), doorstep_core::bounds::MAX_EVENTS_PER_SHIPMENT);
    assert_eq!(
        kept.last().unwrap()["occurred_at"],
        (base + Duration::minutes(999)).to_rfc3339(),
        "the newest are kept"
    );
    assert!(kept[0]["description"].as_str().unwrap().chars().count() <= 500);

    let slug = "a".repeat(500_000);
    let body = serde_json::to_vec(&json!({"carrier": slug, "tracking_number": "1ZSLUG",
        "events": [{"status": "in_transit", "occurred_at": "2024-05-01T00:00:00Z"}]}))
    .unwrap();
    let (status, json) = send(
        &router,
        post(
            "/webhooks/carriers/generic",
            &carrier_auth("generic", &body).0,
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reason = json["error"].as_str().unwrap();
    assert!(reason.contains("carrier") && reason.len() < 200, "{reason}");
}

#[tokio::test]
async fn a_retried_delivery_is_a_duplicate_and_a_new_one_saying_the_same_is_unchanged() {
    let router = router(local_app());
    let body = |event_id: &str| {
        serde_json::to_vec(
            &json!({"carrier": "ups", "tracking_number": "1ZDUP", "event_id": event_id,
            "events": [{"status": "in_transit", "occurred_at": "2024-05-01T00:00:00Z"}]}),
        )
        .unwrap()
    };
    let mut results = Vec::new();
    for event_id in ["d1", "d1", "d2"] {
        let payload = body(event_id);
        let (_, json) = send(
            &router,
            post(
                "/webhooks/carriers/generic",
                &carrier_auth("generic", &payload).0,
                payload,
            ),
        )
        .await;
        results.push(json["updates"][0]["result"].as_str().unwrap().to_string());
    }
    assert_eq!(results, ["applied", "duplicate", "unchanged"]);
}

#[tokio::test]
async fn retention_prunes_processed_changes_and_expired_records() {
    let app = local_app();
    let router = router(app.clone());
    order_and_fulfilment(&router, 9301, "1ZOLD9301", "UTC").await;
    // A review platform's delivery id, kept 30 days (store deliveries keep none: a redelivery
    // is recognised by what it says).
    app.store
        .mark_delivery("judgeme:wh-9301", Utc::now() + Duration::days(30))
        .await
        .unwrap();
    app.notifier.tick(Utc::now()).await.unwrap();
    let before = app.store.changes_after(0, 1000).unwrap().len();
    assert!(before >= 2);
    // A week on, nothing is pruned yet that the notifier has not passed, and nothing newer.
    let cleaned = app
        .store
        .cleanup(
            Utc::now(),
            Duration::days(7),
            doorstep_local::notifier::CURSOR,
        )
        .unwrap();
    assert_eq!(cleaned.changes, 0);
    let later = Utc::now() + Duration::days(40);
    let cleaned = app
        .store
        .cleanup(later, Duration::days(7), doorstep_local::notifier::CURSOR)
        .unwrap();
    assert_eq!(cleaned.changes, before);
    assert_eq!(cleaned.deliveries, 1, "delivery ids expire after 30 days");
    assert!(app.store.changes_after(0, 1000).unwrap().is_empty());
}

#[tokio::test]
async fn the_smaller_defects_stay_fixed() {
    let app = local_app();
    let router = router(app.clone());
    // The bearer scheme is case-insensitive.
    let lower = axum::http::Request::get("/api/outbox")
        .header("authorization", format!("bearer {ADMIN}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&router, lower).await.0, StatusCode::OK);
    // The outbox page shows contacts: no caching, no scripts.
    let response =
        tower::ServiceExt::oneshot(router.clone(), get(&format!("/outbox?token={ADMIN}"), None))
            .await
            .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    // WooCommerce sends names HTML-encoded; Doorstep keeps the text.
    let body = std::fs::read_to_string(format!(
        "{}/fixtures/providers/woocommerce_order_created_rest_v3_example.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut order: Value = serde_json::from_str(&body).unwrap();
    order["line_items"][0]["name"] = json!("Hoodie &ndash; Blue &amp; Grey");
    let body = serde_json::to_vec(&order).unwrap();
    let headers = store_headers("woocommerce", Some("order.created"), Some("woo-e1"), &body);
    let (status, json) = send(
        &router,
        post("/webhooks/stores/woocommerce", &headers, body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let stored = app
        .store
        .get_order(&order_id(&format!("woocommerce:{}", order["id"])))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.line_items[0].title, "Hoodie – Blue & Grey");
}

/// Starts the runner's real server on a free loopback port with tight limits.
async fn bounded_server(limits: doorstep_local::serve::Limits) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let routes = router(local_app());
    tokio::spawn(doorstep_local::serve::serve(
        listener,
        routes,
        limits,
        std::future::pending(),
    ));
    address
}

/// Writes `request`, then reads until the server answers or closes (at most `wait`).
async fn exchange(
    address: std::net::SocketAddr,
    request: &[u8],
    wait: std::time::Duration,
) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn the_runner_cuts_off_stalled_and_oversized_requests_and_caps_connections() {
    use std::time::Duration as Wait;
    let limits = doorstep_local::serve::Limits {
        max_connections: 4,
        max_in_flight: 8,
        header_timeout: Wait::from_millis(300),
        body_timeout: Wait::from_millis(300),
        request_timeout: Wait::from_secs(5),
        max_body_bytes: doorstep_core::webhook::MAX_BODY_BYTES,
    };
    let address = bounded_server(limits).await;
    // Headers that never end: the connection is closed after the header deadline.
    let (answer, took) = exchange(
        address,
        b"POST /webhooks/carriers/generic HTTP/1.1\r\nHost: x\r\n",
        Wait::from_secs(5),
    )
    .await;
    assert!(took < Wait::from_secs(3), "closed after {took:?}: {answer}");
    // A body announced over 1 MiB is refused before a byte of it is sent.
    let (answer, took) = exchange(
        address,
        b"POST /webhooks/carriers/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n",
        Wait::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body exceeds 1048576 bytes"), "{answer}");
    assert!(took < Wait::from_secs(3));
    // A body that stalls halfway is given up on.
    let (answer, took) = exchange(
        address,
        b"POST /webhooks/carriers/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"carrier\":",
        Wait::from_secs(5),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(took < Wait::from_secs(3));
    // Past the connection limit, a new connection is closed at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    tokio::time::sleep(Wait::from_millis(50)).await;
    let (answer, took) = exchange(
        address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Wait::from_secs(2),
    )
    .await;
    assert!(
        answer.is_empty() && took < Wait::from_millis(250),
        "{answer} {took:?}"
    );
    drop(held);
    // Once they go (here by the header deadline), the server answers again.
    tokio::time::sleep(Wait::from_millis(600)).await;
    let (answer, _) = exchange(
        address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Wait::from_secs(2),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
