//! Loyalty end to end: points from orders and from another program's webhook, the schedule's
//! reminders and tier changes on the local runner, the CSV import, the admin API, the jobs reading
//! only what is due, the shipping reminders, and one warning by SMS and email on moto.

use crate::local::{get, local_app_with, post, send, ADMIN};
use axum::http::StatusCode;
use doorstep_core::chrono::{DateTime, Duration, SecondsFormat, Utc};
use doorstep_core::ids::CustomerId;
use doorstep_core::jobs::{self, Job};
use doorstep_core::notify::service::NotifierSource;
use doorstep_core::ports::Store;
use doorstep_core::settings::{LoyaltySettings, Settings};
use doorstep_local::{router, LocalApp};
use doorstep_tests::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn settings() -> Settings {
    Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://shop.example.com".into(),
        store_url: Some("https://shop.example.com".into()),
        default_timezone: "Asia/Bangkok".into(),
        quiet_hours: None,
        loyalty: Some(LoyaltySettings {
            point_value: Some(0.01),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn store_webhook(router: &axum::Router, body: Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = store_headers("generic", None, None, &body);
    send(router, post("/webhooks/stores/generic", &headers, body)).await
}

async fn loyalty_webhook(router: &axum::Router, body: Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = loyalty_headers("generic", &body);
    send(router, post("/webhooks/loyalty/generic", &headers, body)).await
}

async fn carrier_webhook(router: &axum::Router, body: Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let (headers, _) = carrier_auth("generic", &body);
    let (status, json) = send(router, post("/webhooks/carriers/generic", &headers, body)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

fn order(id: &str, customer: &str, total: &str, tracking: &str) -> Value {
    json!({"type": "order", "event_id": format!("order-{id}"), "order": {
        "id": id, "name": format!("#{id}"), "currency": "THB",
        "created_at": iso(Utc::now() - Duration::days(3)), "updated_at": iso(Utc::now() - Duration::days(3)),
        "customer": {"id": customer, "first_name": "Somchai", "email": format!("{customer}@example.co.th"),
                     "phone": "081 234 5678", "locale": "th", "timezone": "Asia/Bangkok"},
        "shipping_address": {"country_code": "TH", "city": "Chiang Mai"},
        "line_items": [{"id": format!("{id}-1"), "title": "Rice cooker", "price": total, "quantity": 1}],
        "fulfillments": [{"id": format!("f-{id}"), "carrier": "Kerry Express", "tracking_number": tracking}]}})
}

fn earn(event: &str, customer: &str, points: i64, expires_at: Option<DateTime<Utc>>) -> Value {
    json!({"event_id": event, "customer": {"id": customer}, "type": "earn", "points": points,
           "reason": "welcome bonus", "occurred_at": iso(Utc::now() - Duration::minutes(1)),
           "expires_at": expires_at.map(iso)})
}

async fn outbox(router: &axum::Router) -> Vec<Value> {
    let (status, json) = send(router, get("/api/outbox", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    json.as_array().unwrap().clone()
}

fn sent<'a>(entries: &'a [Value], message: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["message"] == message && e["state"] == "sent")
        .collect()
}

async fn run(app: &LocalApp, job: Job, now: DateTime<Utc>) -> jobs::JobReport {
    jobs::run(job, &app.notifier.notifier(), now).await.unwrap()
}

async fn loyalty_of(router: &axum::Router, customer: &str) -> Value {
    let (status, json) = send(
        router,
        get(&format!("/api/customers/{customer}/loyalty"), Some(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json
}

#[tokio::test]
async fn points_expiring_in_twenty_days_get_one_warning_then_one_last_chance_in_thai() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    let (status, json) = store_webhook(&router, order("L1", "somchai", "500.00", "KEXL1")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    app.notifier.tick(now).await.unwrap();
    let expires = now + Duration::days(20);
    let (status, json) = loyalty_webhook(
        &router,
        earn("bonus-1", "generic-store:somchai", 350, Some(expires)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        (json["balance"].as_u64(), json["pending"].as_u64()),
        (Some(350), Some(500)),
        "{json}"
    );

    let first = run(&app, Job::PointsExpiry, now).await;
    assert_eq!(
        first.detail["reminders"].as_array().unwrap().len(),
        1,
        "{:?}",
        first.detail
    );
    app.notifier.tick(now).await.unwrap();
    let log = outbox(&router).await;
    let warnings = sent(&log, "points_expiry_warning");
    assert_eq!(warnings.len(), 2, "one email and one SMS: {warnings:?}");
    let sms = warnings.iter().find(|e| e["channel"] == "sms").unwrap();
    let text = sms["body"].as_str().unwrap();
    assert!(text.contains("350") && text.contains("฿3.50"), "{text}");
    let email = warnings.iter().find(|e| e["channel"] == "email").unwrap();
    let date = doorstep_core::notify::render::format_date(
        doorstep_core::timezone::local_date(
            expires,
            doorstep_core::timezone::parse_zone("Asia/Bangkok").unwrap(),
        )
        .unwrap(),
        "th",
    );
    assert!(
        email["body"].as_str().unwrap().contains(&date),
        "Buddhist Era date {date} in {email}"
    );

    // Again the same day, and later in the warning window: nothing new.
    run(&app, Job::PointsExpiry, now + Duration::hours(1)).await;
    run(&app, Job::PointsExpiry, now + Duration::days(5)).await;
    assert_eq!(
        sent(&outbox(&router).await, "points_expiry_warning").len(),
        2
    );
    // Six days before: the last chance, once.
    let late = now + Duration::days(14);
    run(&app, Job::PointsExpiry, late).await;
    run(&app, Job::PointsExpiry, late + Duration::hours(2)).await;
    let log = outbox(&router).await;
    assert_eq!(sent(&log, "points_expiry_last_chance").len(), 2);
    // At expiry the lot closes and the balance drops.
    run(&app, Job::PointsExpiry, expires + Duration::minutes(1)).await;
    let account = app
        .store
        .get_account(&CustomerId::parse("generic-store:somchai").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.balance(expires + Duration::minutes(1)), 0);
    assert!(account
        .ledger
        .iter()
        .any(|e| e.kind.as_str() == "expire" && e.points == -350));
}

#[tokio::test]
async fn a_customer_who_spent_the_points_gets_no_reminder() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    store_webhook(&router, order("L2", "mali", "100.00", "KEXL2")).await;
    app.notifier.tick(now).await.unwrap();
    let (status, _) = loyalty_webhook(
        &router,
        earn(
            "bonus-2",
            "generic-store:mali",
            200,
            Some(now + Duration::days(20)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let spend = json!({"event_id": "spend-2", "customer": {"email": "MALI@example.co.th"}, "type": "spend",
                       "points": 200, "occurred_at": iso(now), "reason": "voucher"});
    let (status, json) = loyalty_webhook(&router, spend.clone()).await;
    assert_eq!(
        (status, json["balance"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{json}"
    );
    // The same spend delivered again changes nothing.
    let (status, json) = loyalty_webhook(&router, spend).await;
    assert_eq!(
        (status, &json["result"]),
        (StatusCode::OK, &json!("already"))
    );
    let report = run(&app, Job::PointsExpiry, now).await;
    assert!(
        report.detail["reminders"].as_array().unwrap().is_empty(),
        "{:?}",
        report.detail
    );
    app.notifier.tick(now).await.unwrap();
    assert!(sent(&outbox(&router).await, "points_expiry_warning").is_empty());
}

#[tokio::test]
async fn bad_loyalty_events_get_a_reason_and_write_nothing() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    store_webhook(&router, order("L3", "kai", "100.00", "KEXL3")).await;
    app.notifier.tick(Utc::now()).await.unwrap();
    let customer = "generic-store:kai";
    let cases = [
        (earn("neg", customer, -5, None), 400, "negative"),
        (
            json!({"event_id": "frac", "customer": {"id": customer}, "type": "earn", "points": 1.5, "occurred_at": iso(Utc::now())}),
            400,
            "whole number",
        ),
        (
            earn("past", customer, 5, Some(Utc::now() - Duration::days(1))),
            400,
            "expires_at",
        ),
        (
            earn("who", "generic-store:nobody", 5, None),
            422,
            "no customer",
        ),
        (
            json!({"event_id": "big", "customer": {"id": customer}, "type": "spend", "points": 999, "occurred_at": iso(Utc::now())}),
            422,
            "balance of 0",
        ),
        (
            json!({"event_id": "typo", "customer": {"id": customer}, "type": "gift", "points": 5, "occurred_at": iso(Utc::now())}),
            400,
            "type",
        ),
        (
            json!({"customer": {"id": customer}, "type": "earn", "points": 5, "occurred_at": iso(Utc::now())}),
            400,
            "event_id",
        ),
    ];
    for (body, status, reason) in cases {
        let (got, json) = loyalty_webhook(&router, body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {json}");
        assert!(
            json["error"].as_str().unwrap().contains(reason),
            "{body}: {json}"
        );
    }
    // A wrong signature: 401, nothing written.
    let body = serde_json::to_vec(&earn("forged", customer, 5, None)).unwrap();
    let mut headers = loyalty_headers("generic", &body);
    headers[1].1 = doorstep_core::signature::sign_timestamped(b"not-the-secret", &body, now_unix());
    let (status, _) = send(&router, post("/webhooks/loyalty/generic", &headers, body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let loyalty = loyalty_of(&router, customer).await;
    assert_eq!(
        loyalty["ledger"].as_array().unwrap().len(),
        1,
        "only the order's pending earn: {loyalty}"
    );
}

#[tokio::test]
async fn order_points_turn_available_after_delivery_and_the_tier_rises_with_a_congratulation() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    store_webhook(&router, order("L4", "ploy", "2500.00", "KEXL4")).await;
    app.notifier.tick(now).await.unwrap();
    let loyalty = loyalty_of(&router, "generic-store:ploy").await;
    assert_eq!(
        (loyalty["balance"].as_u64(), loyalty["pending"].as_u64()),
        (Some(0), Some(2500)),
        "{loyalty}"
    );
    assert_eq!(loyalty["tier"], "Gold", "2500 earned in 12 months");
    carrier_webhook(&router, json!({"carrier": "kerry-logistics", "tracking_number": "KEXL4", "event_id": "d4",
        "events": [{"status": "delivered", "occurred_at": iso(now - Duration::hours(1)), "description": "Delivered"}]})).await;
    app.notifier.tick(now).await.unwrap();
    let loyalty = loyalty_of(&router, "generic-store:ploy").await;
    let available_at = loyalty["lots"][0]["available_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        available_at.starts_with(
            &(now - Duration::hours(1) + Duration::days(14))
                .date_naive()
                .to_string()
        ),
        "{loyalty}"
    );
    run(&app, Job::PointsExpiry, now + Duration::days(15)).await;
    let account = app
        .store
        .get_account(&CustomerId::parse("generic-store:ploy").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.balance(now + Duration::days(15)), 2500);
    // The rise to Gold was congratulated once, and messages greet a Gold member.
    app.notifier.tick(now + Duration::days(15)).await.unwrap();
    let log = outbox(&router).await;
    let upgrades = sent(&log, "tier_upgrade");
    assert_eq!(upgrades.len(), 1, "{upgrades:?}");
    assert!(upgrades[0]["subject"].as_str().unwrap().contains("Gold"));
    let (_, customer) = send(
        &router,
        get("/api/customers/generic-store:ploy", Some(ADMIN)),
    )
    .await;
    assert_eq!(customer["tier"], "Gold");
    let delivered = sent(&log, "delivered");
    assert!(
        delivered
            .iter()
            .any(|e| e["channel"] == "email" && e["html"].as_str().unwrap_or("").contains("Gold")),
        "the delivery email shows the tier: {delivered:?}"
    );
    // A refund takes the points back; the tier falls silently.
    store_webhook(&router, json!({"type": "refund", "event_id": "refund-L4", "refund": {"id": "r4", "order_id": "L4", "line_item_ids": ["L4-1"]}})).await;
    app.notifier.tick(now + Duration::days(16)).await.unwrap();
    let loyalty = loyalty_of(&router, "generic-store:ploy").await;
    assert_eq!(loyalty["balance"].as_u64(), Some(0), "{loyalty}");
    assert_eq!(loyalty["tier"], "Member");
    assert_eq!(sent(&outbox(&router).await, "tier_upgrade").len(), 1);
}

#[tokio::test]
async fn a_silent_parcel_is_reported_delayed_by_the_schedule_and_a_waiting_one_reminded() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    // The runner runs every job on its first tick; this test runs them by hand afterwards.
    app.notifier.tick(now).await.unwrap();
    store_webhook(&router, order("L5", "ton", "100.00", "KEXL5")).await;
    carrier_webhook(&router, json!({"carrier": "kerry-logistics", "tracking_number": "KEXL5", "event_id": "s5",
        "events": [{"status": "in_transit", "occurred_at": iso(now - Duration::days(5)), "description": "Departed hub"}]})).await;
    store_webhook(&router, order("L6", "ton", "100.00", "KEXL6")).await;
    carrier_webhook(&router, json!({"carrier": "kerry-logistics", "tracking_number": "KEXL6", "event_id": "s6",
        "events": [{"status": "available_for_pickup", "occurred_at": iso(now - Duration::days(4)), "description": "At the pickup point"}]})).await;
    app.notifier.tick(now).await.unwrap();
    let preview = jobs::preview(Job::StalledShipments, &app.notifier.notifier(), now)
        .await
        .unwrap();
    assert_eq!(
        preview["would_send"].as_array().unwrap().len(),
        1,
        "{preview}"
    );
    let stalled = run(&app, Job::StalledShipments, now).await;
    assert_eq!(stalled.messages.sent, 1, "{:?}", stalled.detail);
    let pickup = run(&app, Job::PickupReminders, now).await;
    assert_eq!(
        pickup.messages.sent, 2,
        "email and SMS: {:?}",
        pickup.detail
    );
    // Run again: nothing twice, and the index no longer holds them.
    assert_eq!(run(&app, Job::StalledShipments, now).await.messages.sent, 0);
    assert_eq!(run(&app, Job::PickupReminders, now).await.messages.sent, 0);
    let log = outbox(&router).await;
    let delayed = sent(&log, "delayed");
    assert_eq!(delayed.len(), 1);
    assert!(
        delayed[0]["body"].as_str().unwrap().contains("4 วัน"),
        "{}",
        delayed[0]
    );
    assert_eq!(delayed[0]["milestone"], "delayed");
    assert_eq!(sent(&log, "pickup_reminder").len(), 2);
}

#[tokio::test]
async fn a_parcel_is_filed_once_for_its_silence_check_however_many_scans_it_gets() {
    use doorstep_core::ports::{DueKind, Store};
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    app.notifier.tick(now).await.unwrap();
    store_webhook(&router, order("L8", "kai", "100.00", "KEXL8")).await;
    // Three scans in transit, each moving the silence check a day later (stalled after 4 days).
    for (n, ago) in [3, 2, 1].into_iter().enumerate() {
        carrier_webhook(&router, json!({"carrier": "kerry-logistics", "tracking_number": "KEXL8", "event_id": format!("s8-{n}"),
            "events": [{"status": "in_transit", "occurred_at": iso(now - Duration::days(ago)), "description": "Departed hub"}]})).await;
        app.notifier.tick(now).await.unwrap();
    }
    let filed = |day: i64| {
        let store = app.store.clone();
        async move {
            store
                .due_subjects(DueKind::Stalled, now + Duration::days(day), 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.subject.ends_with("#KEXL8"))
                .map(|e| e.day)
                .collect::<Vec<_>>()
        }
    };
    // Only the first scan's check was filed: the later ones are covered by it.
    assert_eq!(filed(3).await, [(now + Duration::days(1)).date_naive()]);
    // That day the parcel is not silent yet: the job files its real check and sends nothing.
    let first = run(&app, Job::StalledShipments, now + Duration::days(1)).await;
    assert_eq!(first.messages.sent, 0, "{:?}", first.detail);
    assert_eq!(filed(3).await, [(now + Duration::days(3)).date_naive()]);
    assert_eq!(
        run(&app, Job::StalledShipments, now + Duration::days(2))
            .await
            .messages
            .sent,
        0
    );
    // Filed with its time: a run earlier that day passes it by without reading the parcel
    // (the hourly job used to read it, its order and its customer at every run until then).
    let early = run(
        &app,
        Job::StalledShipments,
        now + Duration::days(3) - Duration::seconds(1),
    )
    .await;
    assert_eq!(
        (
            early.detail["due_read"].as_u64(),
            early.detail["shipments_read"].as_u64()
        ),
        (Some(0), Some(0)),
        "{:?}",
        early.detail
    );
    assert_eq!(filed(3).await, [(now + Duration::days(3)).date_naive()]);
    // Four days after the last scan it is reported, once.
    let late = now + Duration::days(3) + Duration::hours(1);
    assert_eq!(
        run(&app, Job::StalledShipments, late).await.messages.sent,
        1
    );
    assert_eq!(
        run(&app, Job::StalledShipments, late).await.messages.sent,
        0
    );
    assert!(filed(3).await.is_empty());
    assert_eq!(sent(&outbox(&router).await, "delayed").len(), 1);
}

#[tokio::test]
async fn an_earlier_check_the_same_day_is_filed_at_its_own_time() {
    use doorstep_core::ports::{DueKind, Store};
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    app.notifier.tick(now).await.unwrap();
    store_webhook(&router, order("L9", "dao", "100.00", "KEXL9")).await;
    // Silent since yesterday 20:00 UTC: the silence check falls at 20:00 UTC in three days.
    let today = now.date_naive();
    let scan = (today - Duration::days(1))
        .and_hms_opt(20, 0, 0)
        .unwrap()
        .and_utc();
    carrier_webhook(&router, json!({"carrier": "kerry-logistics", "tracking_number": "KEXL9", "event_id": "s9-0",
        "events": [{"status": "in_transit", "occurred_at": iso(scan), "description": "Departed hub"}]})).await;
    app.notifier.tick(now).await.unwrap();
    // Then the carrier promises that very day (in Bangkok): its end, local midnight, is 17:00
    // UTC, three hours before the silence check, under the same UTC day.
    let day = today + Duration::days(3);
    carrier_webhook(
        &router,
        json!({"carrier": "kerry-logistics", "tracking_number": "KEXL9", "event_id": "s9-1",
        "estimated_delivery": day.to_string(), "events": []}),
    )
    .await;
    app.notifier.tick(now).await.unwrap();
    let missed = day.and_hms_opt(17, 0, 0).unwrap().and_utc();
    let filed: Vec<_> = app
        .store
        .due_subjects(DueKind::Stalled, missed, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.subject.ends_with("#KEXL9"))
        .map(|e| (e.day, e.not_before))
        .collect();
    assert_eq!(
        filed,
        [(day, Some(missed))],
        "the job takes it at 17:00, not at 20:00"
    );
}

#[tokio::test]
async fn the_admin_api_shows_points_and_runs_or_previews_jobs() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    store_webhook(&router, order("L7", "nid", "100.00", "KEXL7")).await;
    app.notifier.tick(now).await.unwrap();
    loyalty_webhook(
        &router,
        earn(
            "b7",
            "generic-store:nid",
            40,
            Some(now + Duration::days(10)),
        ),
    )
    .await;
    let (status, by_email) = send(
        &router,
        get("/api/loyalty?email=NID@example.co.th", Some(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{by_email}");
    for field in [
        "balance",
        "pending",
        "tier",
        "lots",
        "next_expiry",
        "ledger",
    ] {
        assert!(by_email.get(field).is_some(), "no {field}: {by_email}");
    }
    assert_eq!(by_email["next_expiry"]["points"], 40);
    let lot = &by_email["lots"][1];
    for field in ["points", "remaining", "earned_at", "expires_at", "state"] {
        assert!(lot.get(field).is_some(), "no {field} in a lot: {lot}");
    }
    let (status, _) = send(
        &router,
        get("/api/loyalty?email=nobody@example.com", Some(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&router, get("/api/loyalty?email=nid@example.co.th", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let at = (now + Duration::days(4)).to_rfc3339();
    let (status, preview) = send(
        &router,
        get(
            &format!("/api/jobs/points-expiry/preview?at={}", urlencode(&at)),
            Some(ADMIN),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview["would_send"][0]["message"], "points_expiry_last_chance",
        "{preview}"
    );
    assert!(
        sent(&outbox(&router).await, "points_expiry_last_chance").is_empty(),
        "a preview sends nothing"
    );
    let run = axum::http::Request::post("/api/jobs/points-expiry/run")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, report) = send(&router, run).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["job"], "points-expiry");
    let (status, _) = send(&router, get("/api/jobs/teleport/preview", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &router,
        get("/api/jobs/points-expiry/preview?at=tomorrow", Some(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_csv_import_takes_the_good_rows_reports_the_bad_ones_and_reruns_harmlessly() {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    let settings = settings();
    let now = Utc::now();
    let known = doorstep_core::model::Customer {
        id: CustomerId::parse("shopify:501").unwrap(),
        first_name: Some("Nok".into()),
        email: Some(doorstep_core::contact::Contact::email("nok@example.com")),
        phone: None,
        locale: "th".into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: doorstep_core::timezone::TimezoneSource::Profile,
        consents: Default::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: doorstep_core::ids::Token::random(),
        updated_at: now,
        version: 0,
    };
    store.save_customer(&known, None).await.unwrap();
    let expiry = (now + Duration::days(90)).date_naive();
    let csv = format!(
        "Email,Customer ID,Point Balance,Expiry Date,VIP Tier\n\
         nok@example.com,,1200,{expiry},Gold\n\
         ,shopify:777,300,,\n\
         ghost@example.com,,50,,\n\
         nok@example.com,,-3,,\n\
         nok@example.com,,12.5,,\n\
         ,shopify:778,10,2020-01-01,\n\
         ,shopify:779,10,,Platinum\n\
         nok@example.com,,1200,{expiry},Gold\n"
    );
    let mut calls = 0;
    let report =
        doorstep_core::loyalty::import::import(store.as_ref(), &settings, &csv, now, |_, _| {
            calls += 1
        })
        .await
        .unwrap();
    assert_eq!(calls, 8);
    assert_eq!(
        (report.rows, report.imported, report.customers_created),
        (8, 3, 1),
        "{report:?}"
    );
    let bad: Vec<(usize, &str)> = report
        .bad
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(
        bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [4, 5, 6, 7, 8],
        "{bad:?}"
    );
    assert!(bad[0].1.contains("no customer with this email"));
    assert!(bad[1].1.starts_with("points"));
    assert!(bad[3].1.starts_with("expires_at"));
    assert!(bad[4].1.starts_with("tier"));
    let nok = store.get_account(&known.id).await.unwrap().unwrap();
    assert_eq!(nok.balance(now), 2400, "two identical rows are two lots");
    assert_eq!(nok.tier.as_deref(), Some("Gold"));
    assert_eq!(
        store
            .get_customer(&known.id)
            .await
            .unwrap()
            .unwrap()
            .tier
            .as_deref(),
        Some("Gold")
    );
    // The same file again: nothing new.
    let again =
        doorstep_core::loyalty::import::import(store.as_ref(), &settings, &csv, now, |_, _| {})
            .await
            .unwrap();
    assert_eq!(
        (again.imported, again.already, again.bad.len()),
        (0, 3, 5),
        "{again:?}"
    );
    assert_eq!(
        store
            .get_account(&known.id)
            .await
            .unwrap()
            .unwrap()
            .balance(now),
        2400
    );
}

#[tokio::test]
async fn the_expiry_job_reads_only_the_accounts_that_are_due() {
    let app = local_app_with(settings());
    let store = app.store.clone();
    let now = Utc::now();
    let policy = settings().loyalty.unwrap();
    // 400 accounts: 20 with points expiring within the warning window, 380 far later.
    for n in 0..400u32 {
        let customer = doorstep_core::model::Customer {
            id: CustomerId::parse(&format!("shopify:{n}")).unwrap(),
            first_name: None,
            email: Some(doorstep_core::contact::Contact::email(&format!(
                "c{n}@example.com"
            ))),
            phone: None,
            locale: "en".into(),
            timezone: "Asia/Bangkok".into(),
            timezone_source: doorstep_core::timezone::TimezoneSource::Profile,
            consents: Default::default(),
            tier: None,
            marketing_suppressed_until: None,
            purchased: vec![],
            refunded: vec![],
            disliked: vec![],
            preferences_token: doorstep_core::ids::Token::random(),
            updated_at: now,
            version: 0,
        };
        store.save_customer(&customer, None).await.unwrap();
        let expires = match n % 20 {
            0 => now + Duration::days(25),
            _ => now + Duration::days(200),
        };
        doorstep_core::loyalty::service::update(
            store.as_ref(),
            &settings(),
            &policy,
            &customer,
            now,
            |a| {
                a.earn(
                    doorstep_core::loyalty::Earn {
                        id: format!("e{n}"),
                        source: doorstep_core::loyalty::Source::External,
                        points: 10,
                        earned_at: now,
                        pending: false,
                        expires_at: Some(expires),
                        order_id: None,
                        reason: None,
                    },
                    &policy,
                    now,
                )
            },
        )
        .await
        .unwrap();
    }
    let report = run(&app, Job::PointsExpiry, now).await;
    assert_eq!(report.detail["due_read"], 20, "{:?}", report.detail);
    assert_eq!(report.detail["accounts_read"], 20);
    assert_eq!(report.detail["reminders"].as_array().unwrap().len(), 20);
    let again = run(&app, Job::PointsExpiry, now + Duration::minutes(5)).await;
    assert_eq!(
        again.detail["due_read"], 0,
        "served entries are not read again: {:?}",
        again.detail
    );
}

#[tokio::test]
async fn one_warning_sms_and_one_email_on_moto() {
    let dynamo = Arc::new(dynamo_store().await);
    let store: Arc<dyn Store> = dynamo.clone();
    let now = Utc::now();
    let unique: String = doorstep_core::ids::random_token()
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    // Ends in 1: moto reports numbers ending in 99 as opted out of SMS.
    let unique = format!("{unique:0<6}1");
    let customer = doorstep_core::model::Customer {
        id: CustomerId::parse(&format!("shopify:{unique}")).unwrap(),
        first_name: Some("Nok".into()),
        email: Some(doorstep_core::contact::Contact::email(&format!(
            "points-{unique}@example.com"
        ))),
        phone: Some(doorstep_core::contact::Contact::phone(
            &format!("+6681{unique}"),
            None,
        )),
        locale: "th".into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: doorstep_core::timezone::TimezoneSource::Profile,
        consents: Default::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: doorstep_core::ids::Token::random(),
        updated_at: now,
        version: 0,
    };
    store.save_customer(&customer, None).await.unwrap();
    let config = aws_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity()
        .email_identity("shop.example.com")
        .send()
        .await
        .unwrap();
    let settings = Settings {
        sender_email: "orders@shop.example.com".into(),
        ..settings()
    };
    let policy = settings.loyalty.clone().unwrap();
    doorstep_core::loyalty::service::update(
        store.as_ref(),
        &settings,
        &policy,
        &customer,
        now,
        |a| {
            a.earn(
                doorstep_core::loyalty::Earn {
                    id: "moto-earn".into(),
                    source: doorstep_core::loyalty::Source::External,
                    points: 480,
                    earned_at: now,
                    pending: false,
                    expires_at: Some(now + Duration::days(20)),
                    order_id: None,
                    reason: None,
                },
                &policy,
                now,
            )
        },
    )
    .await
    .unwrap();
    let app = notifier::App {
        store: store.clone(),
        notify: dynamo.clone(),
        failures: dynamo.clone(),
        channels: Arc::new(doorstep_aws::channels::SnsSesChannels {
            sns: aws_sdk_sns::Client::new(&config).into(),
            ses: ses.into(),
            sender_email: settings.sender_email.clone(),
            configuration_set: None,
            sms_sender_id: None,
            sms_origination_number: None,
            webhooks: None,
        }),
        dead_letters: Arc::new(sqs_dead_letters().await),
        renderer: doorstep_core::notify::render::Renderer::new(None, 2),
        settings,
    };
    for _ in 0..2 {
        scheduler::handle(&app, &json!({"job": "points-expiry"}), now)
            .await
            .unwrap();
    }
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let sms: Vec<String> = data["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m.to_string())
        .filter(|m| m.contains(&format!("+6681{unique}")))
        .collect();
    let mails: Vec<String> = data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m.to_string())
        .filter(|m| m.contains(&format!("points-{unique}@example.com")))
        .collect();
    assert_eq!(
        (sms.len(), mails.len()),
        (1, 1),
        "sms {sms:?} mails {mails:?}"
    );
    assert!(sms[0].contains("480"), "{}", sms[0]);
}
