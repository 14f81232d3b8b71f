//! Messages that fit the moment, end to end on the local runner: renewal reminders and the
//! passwordless manage page, review-aware marketing, VIP alerts, follow-ups and the marketing cap.

use crate::local::{get, local_app_with, post, send, ADMIN};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use doorstep_core::chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use doorstep_core::ids::{CustomerId, ProductId, Token};
use doorstep_core::jobs::{self, Job};
use doorstep_core::notify::render::format_date;
use doorstep_core::notify::service::NotifierSource;
use doorstep_core::ports::Store;
use doorstep_core::settings::{FollowUp, LoyaltySettings, Settings};
use doorstep_local::{router, LocalApp};
use doorstep_tests::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const MERCHANT: &str = "support@shop.example.com";

fn settings() -> Settings {
    Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://shop.example.com".into(),
        store_url: Some("https://shop.example.com".into()),
        default_timezone: "Asia/Bangkok".into(),
        quiet_hours: None,
        merchant_email: Some(MERCHANT.into()),
        merchant_webhook_url: Some("https://hooks.shop.example.com/doorstep".into()),
        loyalty: Some(LoyaltySettings::default()),
        vip_alert_tier: Some("Gold".into()),
        follow_ups: vec![FollowUp {
            name: "care".into(),
            product_types: vec!["Skincare".into()],
            tags: Vec::new(),
            days_after_delivery: 2,
            marketing: false,
            channels: Vec::new(),
        }],
        ..Default::default()
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn signed(
    router: &axum::Router,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    send(router, post(path, &headers, body)).await
}

async fn store_webhook(router: &axum::Router, body: Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = store_headers("generic", None, None, &body);
    let (status, json) = signed(router, "/webhooks/stores/generic", headers, body).await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

async fn subscription_webhook(router: &axum::Router, body: Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = subscription_headers("generic", None, &body);
    signed(router, "/webhooks/subscriptions/generic", headers, body).await
}

async fn review_webhook(router: &axum::Router, body: Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = review_headers("generic", &body);
    signed(router, "/webhooks/reviews/generic", headers, body).await
}

async fn carrier_webhook(
    router: &axum::Router,
    tracking: &str,
    event: &str,
    status: &str,
    at: DateTime<Utc>,
) {
    let body = serde_json::to_vec(&json!({"carrier": "kerry", "tracking_number": tracking, "event_id": event,
        "events": [{"status": status, "occurred_at": iso(at), "description": format!("{status} scan"),
                    "location": "Bangkok", "reason": (status == "failed_attempt").then_some("recipient")}]}))
    .unwrap();
    let (headers, _) = carrier_auth("generic", &body);
    let (code, json) = signed(router, "/webhooks/carriers/generic", headers, body).await;
    assert_eq!(code, StatusCode::OK, "{json}");
}

fn customer(id: &str, marketing: bool) -> Value {
    json!({"id": id, "first_name": "Nok", "email": format!("{id}@example.co.th"), "phone": "081 234 5678",
           "locale": "th", "timezone": "Asia/Bangkok", "accepts_email_marketing": marketing})
}

async fn product(router: &axum::Router, id: &str, kind: &str) {
    store_webhook(
        router,
        json!({"type": "product", "event_id": format!("product-{id}"), "product": {
        "id": id, "title": format!("Product {id}"), "price": "390.00", "currency": "THB",
        "product_type": kind, "tags": ["new"]}}),
    )
    .await;
}

async fn order(router: &axum::Router, id: &str, customer: Value, product: &str, tracking: &str) {
    store_webhook(router, json!({"type": "order", "event_id": format!("order-{id}"), "order": {
        "id": id, "name": format!("#{id}"), "currency": "THB",
        "created_at": iso(Utc::now() - Duration::days(3)), "updated_at": iso(Utc::now() - Duration::days(3)),
        "customer": customer,
        "shipping_address": {"country_code": "TH", "city": "Bangkok"},
        "line_items": [{"id": format!("{id}-1"), "product_id": product, "title": "Serum", "price": "390.00", "quantity": 1}],
        "fulfillments": [{"id": format!("f-{id}"), "carrier": "kerry", "tracking_number": tracking}]}}))
    .await;
}

async fn outbox(router: &axum::Router) -> Vec<Value> {
    let (status, json) = send(router, get("/api/outbox", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    json.as_array().unwrap().clone()
}

fn entries<'a>(all: &'a [Value], message: &str, state: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| e["message"] == message && e["state"] == state)
        .collect()
}

async fn run(app: &LocalApp, job: Job, now: DateTime<Utc>) -> jobs::JobReport {
    jobs::run(job, &app.notifier.notifier(), now).await.unwrap()
}

/// A page request with the headers a browser sends from our own page.
fn form(path: &str, body: &str, site: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn page(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, String, Option<String>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        location,
    )
}

fn subscription(
    id: &str,
    customer: &str,
    status: &str,
    next_charge: NaiveDate,
    updated: DateTime<Utc>,
) -> Value {
    json!({"event_id": format!("sub-{id}-{}", updated.timestamp_millis()), "subscription": {
        "id": id, "status": status, "interval_days": 30, "next_charge_at": next_charge.to_string(),
        "currency": "THB", "updated_at": iso(updated),
        "items": [{"product_id": "coffee", "title": "Coffee beans", "quantity": 2, "price": "390.00"}],
        "customer": {"id": customer, "email": format!("{customer}@example.co.th"), "phone": "081 234 5678",
                     "locale": "th", "timezone": "Asia/Bangkok", "first_name": "Nok"}}})
}

fn manage_token(body: &str) -> String {
    let at = body
        .find("https://shop.example.com/s/")
        .expect("a manage link")
        + 27;
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn a_subscriber_is_reminded_three_days_ahead_and_skips_from_the_page_without_a_password() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    let charge = (now + Duration::days(5)).date_naive();
    let (status, json) =
        subscription_webhook(&router, subscription("s1", "nok", "active", charge, now)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["result"], "subscription");
    // A redelivery of the same event is answered without work.
    let (_, again) =
        subscription_webhook(&router, subscription("s1", "nok", "active", charge, now)).await;
    assert_eq!(again["result"], "duplicate");
    app.notifier.tick(now).await.unwrap();

    // Nothing two days early; the reminder exactly 3 days before the charge, once.
    let early = run(&app, Job::RenewalReminders, now).await;
    assert_eq!(early.messages.sent, 0);
    let due = now + Duration::days(2) + Duration::hours(1);
    let report = run(&app, Job::RenewalReminders, due).await;
    assert_eq!(report.messages.sent, 2, "{:?}", report.detail);
    let again = run(&app, Job::RenewalReminders, due + Duration::hours(1)).await;
    assert_eq!(again.messages.sent, 0, "exactly once per charge");
    let all = outbox(&router).await;
    let reminders = entries(&all, "renewal_reminder", "sent");
    assert_eq!(reminders.len(), 2, "email and SMS: {all:#?}");
    let email = reminders.iter().find(|e| e["channel"] == "email").unwrap();
    let text = email["body"].as_str().unwrap();
    assert!(
        text.contains(&format_date(charge, "th")),
        "the date in Thai: {text}"
    );
    assert!(text.contains("฿780.00"), "the price: {text}");
    assert!(text.contains("Coffee beans"), "the items: {text}");
    let sms = reminders.iter().find(|e| e["channel"] == "sms").unwrap();
    assert!(sms["body"]
        .as_str()
        .unwrap()
        .contains("https://shop.example.com/s/"));
    let token = manage_token(text);

    // The page, from a phone, with no password.
    let (status, html, _) = page(&router, get(&format!("/s/{token}"), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Coffee beans") && html.contains("lang=\"th\""),
        "{html}"
    );
    // Skip: 303 back to the page, recorded as requested, the shop told by email and webhook.
    let (status, _, location) = page(
        &router,
        form(&format!("/s/{token}/skip"), "lang=th", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/s/{token}?done=skip&lang=th").as_str())
    );
    // A double tap asks once.
    page(
        &router,
        form(&format!("/s/{token}/skip"), "lang=th", "same-origin"),
    )
    .await;
    app.notifier.tick(due).await.unwrap();
    let all = outbox(&router).await;
    let alerts = entries(&all, "merchant_alert", "sent");
    assert_eq!(alerts.len(), 2, "email and webhook, once: {alerts:#?}");
    let webhook = alerts.iter().find(|e| e["channel"] == "webhook").unwrap();
    let payload: Value = serde_json::from_str(webhook["body"].as_str().unwrap()).unwrap();
    assert_eq!(payload["event"], "merchant_alert");
    assert_eq!(payload["alert"]["kind"], "subscription_change");
    let mail = alerts.iter().find(|e| e["channel"] == "email").unwrap();
    assert_eq!(mail["to"], MERCHANT);
    let (_, html, _) = page(&router, get(&format!("/s/{token}?done=skip"), None)).await;
    assert!(html.contains("ส่งคำขอแล้ว"), "shown as requested: {html}");

    // The platform's next webhook confirms it.
    let next = charge + Duration::days(30);
    subscription_webhook(
        &router,
        subscription("s1", "nok", "active", next, now + Duration::minutes(5)),
    )
    .await;
    let (_, html, _) = page(&router, get(&format!("/s/{token}"), None)).await;
    assert!(html.contains("เรียบร้อย"), "shown as done: {html}");

    // Bad input: a form from another site, a date out of range, a quantity of 0.
    let (status, _, _) = page(
        &router,
        form(&format!("/s/{token}/pause"), "", "cross-site"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, html, _) = page(
        &router,
        form(
            &format!("/s/{token}/reschedule"),
            "date=2020-01-01",
            "same-origin",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (status, _, _) = page(
        &router,
        form(&format!("/s/{token}/quantity"), "quantity=0", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = page(
        &router,
        form(&format!("/s/{token}/refund"), "", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A forged link reveals nothing and offers a fresh one by email.
    let forged = Token::random();
    let (status, html, _) = page(&router, get(&format!("/s/{forged}"), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !html.contains("Coffee") && html.contains("name=\"email\""),
        "{html}"
    );
    // An expired one looks the same.
    let expired = doorstep_core::subscriptions::ManageLink {
        token: Token::random(),
        subscription_id: doorstep_core::ids::SubscriptionId::parse("generic-subscription:s1")
            .unwrap(),
        expires_at: now - Duration::minutes(1),
    };
    app.store.save_manage_link(&expired).await.unwrap();
    let (status, expired_html, _) =
        page(&router, get(&format!("/s/{}", expired.token), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!expired_html.contains("Coffee"));

    // A fresh link: the same answer for a known and an unknown address; the known one is mailed.
    let (status, known, _) = page(
        &router,
        form("/s/new-link", "email=NOK%40example.co.th", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, unknown, _) = page(
        &router,
        form("/s/new-link", "email=nobody%40example.co.th", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(known, unknown);
    app.notifier.tick(due + Duration::minutes(1)).await.unwrap();
    let all = outbox(&router).await;
    let links = entries(&all, "manage_link", "sent");
    assert_eq!(links.len(), 1, "{all:#?}");
    let fresh = manage_token(links[0]["body"].as_str().unwrap());
    assert_ne!(fresh, token);
    let (status, _, _) = page(&router, get(&format!("/s/{fresh}"), None)).await;
    assert_eq!(status, StatusCode::OK);
    // Rate-limited per address: the fourth request in an hour is refused.
    for _ in 0..2 {
        page(
            &router,
            form("/s/new-link", "email=nok%40example.co.th", "same-origin"),
        )
        .await;
    }
    let (status, _, _) = page(
        &router,
        form("/s/new-link", "email=nok%40example.co.th", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = page(
        &router,
        form("/s/new-link", "email=not-an-address", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Cancel with a reason; once the platform confirms, nothing can be changed (409).
    let (status, _, _) = page(
        &router,
        form(
            &format!("/s/{token}/cancel"),
            "reason=%3Cb%3Etoo+much%3C%2Fb%3E",
            "same-origin",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    subscription_webhook(
        &router,
        subscription("s1", "nok", "cancelled", next, now + Duration::minutes(10)),
    )
    .await;
    let (status, html, _) = page(
        &router,
        form(&format!("/s/{token}/skip"), "", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("ยกเลิกแล้ว"), "{html}");
    app.notifier.tick(due + Duration::minutes(2)).await.unwrap();
    let all = outbox(&router).await;
    let cancel_mail = entries(&all, "merchant_alert", "sent")
        .into_iter()
        .find(|e| e["channel"] == "email" && e["body"].as_str().unwrap_or("").contains("Cancel"))
        .expect("the shop hears of the cancellation");
    assert!(
        cancel_mail["html"]
            .as_str()
            .unwrap()
            .contains("&lt;b&gt;too much"),
        "escaped"
    );
    // An older snapshot arriving late changes nothing; a cancelled subscription is not reminded.
    subscription_webhook(&router, subscription("s1", "nok", "active", next, now)).await;
    let report = run(&app, Job::RenewalReminders, due + Duration::days(40)).await;
    assert_eq!(report.messages.sent, 0);
}

#[tokio::test]
async fn a_one_star_reviewer_gets_no_promotion_for_thirty_days_and_the_shop_hears_at_once() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    product(&router, "serum", "Skincare").await;
    order(&router, "R1", customer("pim", true), "serum", "KEXR1").await;
    order(&router, "R2", customer("pim", true), "serum", "KEXR2").await;
    for tracking in ["KEXR1", "KEXR2"] {
        carrier_webhook(
            &router,
            tracking,
            &format!("{tracking}-d"),
            "delivered",
            now - Duration::hours(2),
        )
        .await;
    }
    app.notifier.tick(now).await.unwrap();

    let created = now - Duration::minutes(5);
    let review = json!({"event_id": "rev-1", "review": {"id": "91", "rating": 1, "product_id": "serum",
        "order_id": "R1", "title": "Burned my skin", "body": "<script>alert(1)</script> Never again.",
        "created_at": iso(created), "customer": {"id": "pim", "email": "pim@example.co.th"}}});
    let (status, json) = review_webhook(&router, review.clone()).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    app.notifier.tick(now).await.unwrap();

    // The shop hears at once, by email and webhook, with the order.
    let all = outbox(&router).await;
    let alerts = entries(&all, "merchant_alert", "sent");
    assert_eq!(alerts.len(), 2, "{all:#?}");
    let mail = alerts.iter().find(|e| e["channel"] == "email").unwrap();
    assert!(
        mail["subject"].as_str().unwrap().contains("1-star"),
        "{mail}"
    );
    assert!(mail["body"].as_str().unwrap().contains("#R1"), "{mail}");
    assert!(
        !mail["html"].as_str().unwrap().contains("<script>"),
        "escaped"
    );
    let hook: Value = serde_json::from_str(
        alerts.iter().find(|e| e["channel"] == "webhook").unwrap()["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(hook["alert"]["kind"], "bad_review");
    assert_eq!(hook["order"]["name"], "#R1");

    // No marketing for 30 days from the review; that product never recommended again.
    let (status, profile) = send(
        &router,
        get("/api/customers/generic-store:pim", Some(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let until: DateTime<Utc> = profile["marketing_suppressed_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        until.timestamp(),
        (created + Duration::days(30)).timestamp()
    );
    let stored = app
        .store
        .get_customer(&CustomerId::parse("generic-store:pim").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored
        .disliked
        .contains(&ProductId::parse("generic-store:serum").unwrap()));
    // R1 was reviewed: no request. R2's request is marketing, held back by the review.
    let report = run(&app, Job::ReviewRequests, now + Duration::days(8)).await;
    assert_eq!(report.messages.sent, 0, "{:?}", report.detail);
    let skipped = &report.detail["skipped"];
    assert!(
        skipped.to_string().contains("already reviewed"),
        "{skipped}"
    );
    let all = outbox(&router).await;
    let held = entries(&all, "review_request", "suppressed");
    assert_eq!(held.len(), 1, "{all:#?}");
    assert_eq!(held[0]["reason"], "marketing paused for this customer");
    assert!(entries(&all, "review_thanks", "sent").is_empty());
    // Transactional messages still flow.
    assert!(!entries(&all, "delivered", "sent").is_empty());

    // Bad input: a rating of 6, text over the limit, a forged signature: nothing written.
    let mut six = review.clone();
    six["review"]["rating"] = json!(6);
    six["event_id"] = json!("rev-6");
    let (status, json) = review_webhook(&router, six).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(json["error"].as_str().unwrap().contains("1 to 5"));
    let mut long = review.clone();
    long["review"]["body"] = json!("x".repeat(5001));
    long["event_id"] = json!("rev-long");
    let (status, _) = review_webhook(&router, long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&review).unwrap();
    let mut headers = review_headers("judgeme", &body);
    headers[1].1 = "00".repeat(32);
    let (status, _) = signed(&router, "/webhooks/reviews/judgeme", headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_five_star_review_is_thanked_and_the_marketing_cap_holds_the_rest_of_the_week() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    product(&router, "mug", "Kitchen").await;
    for n in 1..=3 {
        let id = format!("C{n}");
        let tracking = format!("KEXC{n}");
        order(&router, &id, customer("dao", true), "mug", &tracking).await;
        carrier_webhook(
            &router,
            &tracking,
            &format!("{tracking}-d"),
            "delivered",
            now - Duration::hours(1),
        )
        .await;
    }
    app.notifier.tick(now).await.unwrap();
    let review = json!({"event_id": "rev-5", "review": {"id": "55", "rating": 5, "product_id": "mug",
        "title": "Love it", "body": "Great mug", "created_at": iso(now - Duration::minutes(1)),
        "customer": {"id": "dao", "email": "dao@example.co.th"}}});
    review_webhook(&router, review).await;
    app.notifier.tick(now).await.unwrap();
    let all = outbox(&router).await;
    assert_eq!(entries(&all, "review_thanks", "sent").len(), 1, "{all:#?}");
    assert!(entries(&all, "merchant_alert", "sent").is_empty());

    // Three orders due for a review request within the week of the thank-you: the cap of two
    // lets one through and holds the rest, saying why.
    run(&app, Job::ReviewRequests, now + Duration::days(7)).await;
    let all = outbox(&router).await;
    assert_eq!(entries(&all, "review_request", "sent").len(), 1, "{all:#?}");
    let capped = entries(&all, "review_request", "suppressed");
    assert_eq!(capped.len(), 2);
    assert!(
        capped[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("marketing cap reached"),
        "{}",
        capped[0]
    );
    // Transactional messages are never capped.
    assert_eq!(entries(&all, "delivered", "sent").len(), 6);
}

#[tokio::test]
async fn a_gold_customers_late_parcel_reaches_support_before_they_ask() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    order(&router, "V1", customer("mali", false), "lamp", "KEXV1").await;
    app.notifier.tick(now).await.unwrap();
    let body = serde_json::to_vec(&json!({"event_id": "gold-1", "customer": {"id": "generic-store:mali"},
        "type": "earn", "points": 2500, "reason": "imported", "occurred_at": iso(now - Duration::minutes(1))}))
    .unwrap();
    let (status, json) = signed(
        &router,
        "/webhooks/loyalty/generic",
        loyalty_headers("generic", &body),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["tier"], "Gold");
    app.notifier.tick(now).await.unwrap();
    carrier_webhook(
        &router,
        "KEXV1",
        "v1-transit",
        "in_transit",
        now - Duration::days(5),
    )
    .await;
    app.notifier.tick(now).await.unwrap();
    // Five days without a scan: the stalled-shipment job finds it; support hears with the page.
    run(&app, Job::StalledShipments, now).await;
    carrier_webhook(&router, "KEXV1", "v1-failed", "failed_attempt", now).await;
    app.notifier.tick(now).await.unwrap();
    let all = outbox(&router).await;
    let alerts = entries(&all, "merchant_alert", "sent");
    assert_eq!(
        alerts.len(),
        4,
        "delay and failed attempt, email and webhook: {all:#?}"
    );
    for alert in alerts.iter().filter(|e| e["channel"] == "webhook") {
        let payload: Value = serde_json::from_str(alert["body"].as_str().unwrap()).unwrap();
        assert_eq!(payload["alert"]["kind"], "vip_problem");
        assert_eq!(payload["alert"]["tier"], "Gold");
        assert!(payload["alert"]["tracking_url"]
            .as_str()
            .unwrap()
            .starts_with("https://shop.example.com/t/"));
    }
    // The customer's own message says support already knows.
    let told = entries(&all, "failed_attempt", "sent");
    let mail = told.iter().find(|e| e["channel"] == "email").unwrap();
    assert!(mail["body"].as_str().unwrap().contains("Gold"), "{mail}");
}

/// Orders for `fon` (`{id}`, one product each, parcel `KEX{id}`), delivered at `now` and seen by
/// the notifier.
async fn delivered(
    app: &LocalApp,
    router: &axum::Router,
    orders: &[(&str, &str)],
    now: DateTime<Utc>,
) {
    for (id, product) in orders {
        order(
            router,
            id,
            customer("fon", false),
            product,
            &format!("KEX{id}"),
        )
        .await;
    }
    for (id, _) in orders {
        let tracking = format!("KEX{id}");
        carrier_webhook(
            router,
            &tracking,
            &format!("{tracking}-d"),
            "delivered",
            now,
        )
        .await;
    }
    app.notifier.tick(now).await.unwrap();
}

#[tokio::test]
async fn follow_ups_go_out_by_product_type_after_delivery_once() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let now = Utc::now();
    product(&router, "cream", "Skincare").await;
    product(&router, "pan", "Kitchen").await;
    delivered(&app, &router, &[("F1", "cream"), ("F2", "pan")], now).await;
    let early = run(&app, Job::FollowUps, now + Duration::days(1)).await;
    assert_eq!(early.messages.sent, 0);
    let due = run(
        &app,
        Job::FollowUps,
        now + Duration::days(2) + Duration::hours(1),
    )
    .await;
    assert_eq!(due.messages.sent, 1, "{:?}", due.detail);
    run(&app, Job::FollowUps, now + Duration::days(3)).await;
    let all = outbox(&router).await;
    let sent = entries(&all, "follow_up", "sent");
    assert_eq!(sent.len(), 1, "only the skincare order, once: {all:#?}");
    assert_eq!(sent[0]["order_id"], "generic-store:F1");
    assert!(sent[0]["subject"].as_str().unwrap().contains("#F1"));
    assert_eq!(
        sent[0]["kind"], "transactional",
        "follow-ups are not promotions"
    );
}

#[tokio::test]
async fn reviews_orders_and_parcels_in_any_order_end_the_same() {
    let now = Utc::now();
    let created = now - Duration::hours(1);
    let review = json!({"event_id": "rev-any", "review": {"id": "7", "rating": 2, "product_id": "kettle",
        "order_id": "Q1", "title": "Leaks", "body": "Leaks from the lid", "created_at": iso(created),
        "customer": {"id": "ploy", "email": "ploy@example.co.th"}}});
    let steps = ["review", "order", "parcel"];
    let mut outcomes = Vec::new();
    for permutation in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let app = local_app_with(settings());
        let router = router(app.clone());
        for &step in &permutation {
            match steps[step] {
                "review" => assert_eq!(
                    review_webhook(&router, review.clone()).await.0,
                    StatusCode::OK
                ),
                "order" => order(&router, "Q1", customer("ploy", true), "kettle", "KEXQ1").await,
                _ => {
                    carrier_webhook(
                        &router,
                        "KEXQ1",
                        "q1-d",
                        "delivered",
                        now - Duration::minutes(30),
                    )
                    .await
                }
            }
            app.notifier.tick(now).await.unwrap();
        }
        // What the last tick wrote (a review linked to its new customer) is the next one's work.
        app.notifier.tick(now).await.unwrap();
        let customer = app
            .store
            .get_customer(&CustomerId::parse("generic-store:ploy").unwrap())
            .await
            .unwrap()
            .unwrap();
        let all = outbox(&router).await;
        outcomes.push((
            permutation,
            customer.marketing_suppressed_until.map(|t| t.timestamp()),
            customer.disliked.clone(),
            entries(&all, "merchant_alert", "sent").len(),
            entries(&all, "delivered", "sent").len(),
        ));
    }
    let first = &outcomes[0];
    assert_eq!(first.1, Some((created + Duration::days(30)).timestamp()));
    assert_eq!(
        first.2,
        vec![ProductId::parse("generic-store:kettle").unwrap()]
    );
    assert_eq!(first.3, 2, "one alert, email and webhook");
    for outcome in &outcomes {
        assert_eq!(
            (&outcome.1, &outcome.2, outcome.3, outcome.4),
            (&first.1, &first.2, first.3, first.4),
            "{:?}",
            outcome.0
        );
    }
}

#[tokio::test]
async fn recharge_and_judgeme_payloads_are_taken_as_published_and_forgeries_refused() {
    let app = local_app_with(settings());
    let router = router(app.clone());
    let post_recharge = |topic: &'static str, body: Vec<u8>, forge: bool| {
        let router = router.clone();
        async move {
            let mut headers = subscription_headers("recharge", Some(topic), &body);
            if forge {
                headers[1].1 = "ab".repeat(32);
            }
            signed(&router, "/webhooks/subscriptions/recharge", headers, body).await
        }
    };
    let (status, json) = post_recharge(
        "customer/created",
        fixture("recharge_customer_2021_11.json"),
        false,
    )
    .await;
    assert_eq!(
        (status, json["result"].as_str()),
        (StatusCode::OK, Some("customer")),
        "{json}"
    );
    let (status, json) = post_recharge(
        "subscription/created",
        fixture("recharge_subscription_2021_11.json"),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert!(app
        .store
        .get_subscription(&doorstep_core::ids::SubscriptionId::parse("recharge:1111111").unwrap())
        .await
        .unwrap()
        .is_none());
    let (status, json) = post_recharge(
        "subscription/created",
        fixture("recharge_subscription_2021_11.json"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let stored = app
        .store
        .get_subscription(&doorstep_core::ids::SubscriptionId::parse("recharge:1111111").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_charge_on, NaiveDate::from_ymd_opt(2022, 4, 9));
    assert_eq!(stored.interval_days, Some(30));
    assert_eq!(stored.items[0].price.as_deref(), Some("49.00"));
    let (status, _) = post_recharge(
        "subscription/updated",
        fixture("recharge_subscription_cancelled_2021_11.json"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, json) = post_recharge("charge/upcoming", b"{}".to_vec(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(json["error"].as_str().unwrap().contains("charge/upcoming"));
    let (status, _) = post_recharge(
        "subscription/created",
        b"{\"subscription\": [".to_vec(),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let body = fixture("judgeme_review_created.json");
    let headers = review_headers("judgeme", &body);
    let (status, json) = signed(&router, "/webhooks/reviews/judgeme", headers, body).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["result"], "kept until the reviewer is a customer");
}

mod cap {
    use super::*;
    use doorstep_core::contact::Contact;
    use doorstep_core::model::{Consents, Customer};
    use doorstep_core::notify::keys::{About, Occasion};
    use doorstep_core::notify::messages::Message;
    use doorstep_core::notify::service::{Subject, Summary};
    use proptest::prelude::*;

    fn shopper() -> Customer {
        Customer {
            id: CustomerId::parse("generic-store:cap").unwrap(),
            first_name: Some("Kai".into()),
            email: Some(Contact::email("kai@example.co.th")),
            phone: None,
            locale: "en".into(),
            timezone: "Asia/Bangkok".into(),
            timezone_source: doorstep_core::timezone::TimezoneSource::Profile,
            consents: Consents {
                transactional_email: true,
                transactional_sms: true,
                marketing_email: true,
                marketing_sms: true,
                rewards_email: true,
                rewards_sms: true,
            },
            tier: None,
            marketing_suppressed_until: None,
            purchased: vec![],
            refunded: vec![],
            disliked: vec![],
            preferences_token: Token::random(),
            updated_at: Utc::now(),
            version: 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Whatever the timing, in any 7-day window a customer is sent at most `marketing_cap`
        /// marketing messages, and one is held back only when the window is full.
        #[test]
        fn no_customer_gets_more_than_the_cap_in_any_week(
            mut hours in proptest::collection::vec(0i64..(30 * 24), 1..12),
            cap in 0u32..4,
        ) {
            hours.sort_unstable();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (sent, held) = runtime.block_on(async {
                let app = local_app_with(Settings { marketing_cap: cap, ..settings() });
                let customer = shopper();
                app.store.save_customer(&customer, None).await.unwrap();
                let notifier = app.notifier.notifier();
                let base: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
                let mut sent = Vec::new();
                let mut held = Vec::new();
                for (n, h) in hours.iter().enumerate() {
                    let at = base + Duration::hours(*h);
                    let occasion = Occasion::new(
                        About::Customer(customer.id.clone()),
                        Message::ReviewThanks,
                        Some(format!("review-generic-review:{n}")),
                    );
                    let subject = Subject::about_customer(occasion, &customer);
                    let mut summary = Summary::default();
                    notifier.notify_occasion(&subject, at, &mut summary).await.unwrap();
                    match summary.sent {
                        1 => sent.push(at),
                        _ => held.push(at),
                    }
                }
                (sent, held)
            });
            let window = |t: DateTime<Utc>| sent.iter().filter(|s| **s <= t && **s >= t - Duration::days(7)).count();
            for t in &sent {
                prop_assert!(window(*t) <= cap as usize, "{} sent in the week to {t}", window(*t));
            }
            for t in &held {
                prop_assert!(window(*t) >= cap as usize, "held at {t} with room in the week");
            }
        }
    }
}

/// The settings with a merchant follow-up `pans` for kitchen products, two days after delivery,
/// whose templates (subject, and `email` as given; no SMS) are in a fresh `template_dir`.
fn with_pans_follow_up(email: &str) -> (Settings, std::path::PathBuf) {
    let templates = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("templates-{}", doorstep_core::ids::random_token()));
    for lang in ["en", "th"] {
        let dir = templates.join(lang);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("follow_up_pans.subject.j2"), "Your pan").unwrap();
        std::fs::write(dir.join("follow_up_pans.email.j2"), email).unwrap();
    }
    let mut settings = settings();
    settings.template_dir = Some(templates.clone());
    settings.follow_ups.push(FollowUp {
        name: "pans".into(),
        product_types: vec!["Kitchen".into()],
        tags: Vec::new(),
        days_after_delivery: 2,
        marketing: false,
        channels: Vec::new(),
    });
    (settings, templates)
}

/// A filed entry whose work fails for good (here a merchant's follow-up template that fails as it
/// renders) is set aside as a dead letter at once and the job goes on. Before, it failed the job's
/// run, so every entry filed after it waited for the next one; an unreadable record failed every
/// run.
#[tokio::test]
async fn a_filed_entry_that_fails_for_good_is_set_aside_and_the_rest_go_out() {
    // Parses, then fails at render time: no such function.
    let (settings, templates) = with_pans_follow_up("Season it first. {{ no_such_function() }}");
    let app = local_app_with(settings);
    let router = router(app.clone());
    let now = Utc::now();
    product(&router, "pan", "Kitchen").await;
    product(&router, "cream", "Skincare").await;
    // Filed in this order: the broken one (order A1) comes first.
    delivered(&app, &router, &[("A1", "pan"), ("A2", "cream")], now).await;

    let at = now + Duration::days(2) + Duration::hours(1);
    let report = run(&app, Job::FollowUps, at).await;
    assert_eq!(report.messages.sent, 1, "{:?}", report.detail);
    let all = outbox(&router).await;
    let sent = entries(&all, "follow_up", "sent");
    assert_eq!(sent.len(), 1, "{all:#?}");
    assert_eq!(sent[0]["order_id"], "generic-store:A2");

    let (status, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK);
    let letters = letters.as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["source"], "due_entry");
    assert_eq!(letters[0]["payload"]["kind"], "follow-up");
    assert_eq!(letters[0]["payload"]["subject"], "generic-store:A1|pans");
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("follow_up_pans"),
        "{}",
        letters[0]
    );
    // Unfiled: the next run neither fails on it nor sends anything twice.
    let again = run(&app, Job::FollowUps, at + Duration::hours(1)).await;
    assert_eq!(again.messages.sent, 0);
    assert_eq!(again.detail["due_read"], 0, "{:?}", again.detail);

    // Put back, it is filed again under its day and tried at the next run (and, still broken,
    // set aside again).
    let id = letters[0]["id"].as_i64().unwrap();
    let retry = post(
        &format!("/api/dead-letters/{id}/retry"),
        &[("authorization".into(), format!("Bearer {ADMIN}"))],
        Vec::new(),
    );
    let (status, json) = send(&router, retry).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let retried = run(&app, Job::FollowUps, at + Duration::hours(2)).await;
    assert_eq!(retried.detail["due_read"], 1, "{:?}", retried.detail);
    let (_, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters:#?}");
    assert_eq!(
        entries(&outbox(&router).await, "follow_up", "sent").len(),
        1
    );
    let _ = std::fs::remove_dir_all(&templates);
}

/// A merchant's follow-up written for email alone, due to a customer reachable only by SMS (the
/// fallback's channel): suppressed, saying why, rather than failing on the missing template.
#[tokio::test]
async fn a_follow_up_without_sms_templates_is_not_sent_by_sms_and_says_why() {
    let (settings, templates) = with_pans_follow_up("Season it before its first use.");
    assert!(settings.fallback, "fallback is on by default");
    let app = local_app_with(settings);
    let router = router(app.clone());
    let now = Utc::now();
    product(&router, "pan", "Kitchen").await;
    let phone_only = json!({"id": "som", "first_name": "Som", "phone": "081 234 5678",
        "locale": "th", "timezone": "Asia/Bangkok"});
    order(&router, "P1", phone_only, "pan", "KEXP1").await;
    carrier_webhook(&router, "KEXP1", "KEXP1-d", "delivered", now).await;
    app.notifier.tick(now).await.unwrap();

    let report = run(
        &app,
        Job::FollowUps,
        now + Duration::days(2) + Duration::hours(1),
    )
    .await;
    assert_eq!(report.messages.sent, 0, "{:?}", report.detail);
    let all = outbox(&router).await;
    let held = entries(&all, "follow_up", "suppressed");
    let sms = held
        .iter()
        .find(|e| e["channel"] == "sms")
        .expect("the SMS decision is logged");
    assert_eq!(
        sms["reason"], "the follow-up \"pans\" has no sms template",
        "{sms}"
    );
    let (_, letters) = send(&router, get("/api/dead-letters", Some(ADMIN))).await;
    assert!(letters.as_array().unwrap().is_empty(), "{letters:#?}");
    let _ = std::fs::remove_dir_all(&templates);
}
