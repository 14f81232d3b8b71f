//! The tracking page's routes through the tracking-page Lambda, driven by API Gateway v2 events,
//! on SQLite and on DynamoDB (moto); recommendations learned from a generated order history;
//! and a delivery choice reaching the merchant on moto: the email through SES, the webhook
//! through its SQS queue and the merchant-webhook Lambda.

use doorstep_core::catalog;
use doorstep_core::chrono::{Duration, Utc};
use doorstep_core::ids::{CarrierSlug, ProductId, Token, TrackingNumber};
use doorstep_core::merchant_webhook::Poster;
use doorstep_core::notify::render::Renderer;
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use doorstep_core::tracking;
use doorstep_tests::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tracking_page::{handle, App};

fn settings() -> Settings {
    Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://track.shop.example.com".into(),
        quiet_hours: None,
        ..Default::default()
    }
}

struct Shop {
    store: Arc<dyn Store>,
    stores: store_webhook::App,
    carriers: carrier_webhook::App,
}

impl Shop {
    fn new(store: Arc<dyn Store>) -> Self {
        Self {
            stores: store_webhook::App {
                store: store.clone(),
                config: config(),
            },
            carriers: carrier_webhook::App {
                store: store.clone(),
                config: config(),
            },
            store,
        }
    }

    async fn store(&self, body: Value) {
        let body = serde_json::to_vec(&body).unwrap();
        let (status, json) = status_and_json(
            store_webhook::handle(&self.stores, store_event("generic", None, None, &body)).await,
        );
        assert_eq!(status, 200, "{json}");
    }

    async fn scan(
        &self,
        number: &str,
        event_id: &str,
        status: &str,
        hours_ago: i64,
        estimate: Option<&str>,
    ) {
        let at = (Utc::now() - Duration::hours(hours_ago)).to_rfc3339();
        let mut body = json!({"carrier": "thailand-post", "tracking_number": number, "event_id": event_id,
            "events": [{"status": status, "occurred_at": at, "description": format!("{status} scan"),
                        "location": "Chiang Mai", "reason": (status == "failed_attempt").then_some("recipient")}]});
        if let Some(date) = estimate {
            body["estimated_delivery"] = json!(date);
        }
        let body = serde_json::to_vec(&body).unwrap();
        let (status, json) = status_and_json(
            carrier_webhook::handle(&self.carriers, carrier_event("generic", &body)).await,
        );
        assert_eq!(status, 200, "{json}");
    }

    async fn product(&self, id: &str, active: bool, in_stock: bool) {
        self.store(json!({"type": "product", "event_id": format!("product-{id}-{active}-{in_stock}"), "product": {
            "id": id, "title": format!("Product {id}"), "price": "390.00", "currency": "THB",
            "url": format!("https://shop.example.com/products/{id}"),
            "image_url": format!("https://cdn.shop.example.com/{id}.jpg"),
            "active": active, "in_stock": in_stock}}))
        .await
    }

    async fn order(
        &self,
        id: &str,
        customer: &str,
        products: &[&str],
        parcels: &[(&str, &[usize])],
    ) {
        let lines: Vec<Value> = products
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"id": format!("{id}-{i}"), "product_id": p, "title": format!("Product {p}"), "price": "390.00", "quantity": 1}))
            .collect();
        let fulfillments: Vec<Value> = parcels
            .iter()
            .enumerate()
            .map(|(n, (number, items))| json!({"id": format!("{id}-f{n}"), "carrier": "Thailand Post", "tracking_number": number,
                "line_items": items.iter().map(|i| json!({"line_item_id": format!("{id}-{i}"), "quantity": 1})).collect::<Vec<_>>()}))
            .collect();
        self.store(json!({"type": "order", "event_id": format!("order-{id}"), "order": {
            "id": id, "name": format!("#{id}"), "currency": "THB",
            "updated_at": Utc::now().to_rfc3339(),
            "customer": {"id": customer, "first_name": "Somchai", "email": format!("{customer}@example.co.th"),
                         "phone": "+66812345678", "locale": "th", "timezone": "Asia/Bangkok"},
            "shipping_address": {"country_code": "TH", "city": "Chiang Mai"},
            "line_items": lines, "fulfillments": fulfillments}}))
        .await
    }

    async fn token(&self, number: &str) -> String {
        self.store
            .get_shipment(
                &CarrierSlug::parse("thailand-post").unwrap(),
                &TrackingNumber::parse(number).unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
            .tracking_token
            .to_string()
    }
}

/// A small shop: products, a history where p1 sells with p2 most, Somchai's earlier order (p3)
/// and his new split order (p1 + p5) whose first parcel just missed delivery.
async fn seeded(store: Arc<dyn Store>) -> (Shop, String, String) {
    let shop = Shop::new(store);
    for (p, active, stock) in [
        ("p1", true, true),
        ("p2", true, true),
        ("p3", true, true),
        ("p4", true, true),
        ("p5", true, true),
        ("p6", true, true),
        ("p7", false, true),
        ("p8", true, false),
    ] {
        shop.product(p, active, stock).await;
    }
    let history: [(&[&str], usize); 5] = [
        (&["p1", "p8"], 6),
        (&["p1", "p2"], 5),
        (&["p1", "p7"], 4),
        (&["p1", "p3"], 3),
        (&["p5", "p6"], 2),
    ];
    let mut n = 0;
    for (products, times) in history {
        for _ in 0..times {
            n += 1;
            shop.order(&format!("h{n}"), &format!("guest-{n}"), products, &[])
                .await;
        }
    }
    shop.order("900", "somchai", &["p3"], &[]).await;
    shop.order(
        "901",
        "somchai",
        &["p1", "p5"],
        &[("TH901A", &[0]), ("TH901B", &[1])],
    )
    .await;
    let soon = (Utc::now() + Duration::days(2)).date_naive().to_string();
    shop.scan("TH901A", "a1", "in_transit", 30, Some(&soon))
        .await;
    shop.scan("TH901A", "a2", "out_for_delivery", 5, None).await;
    shop.scan("TH901A", "a3", "failed_attempt", 2, None).await;
    shop.scan("TH901B", "b1", "in_transit", 20, Some(&soon))
        .await;
    let failed = shop.token("TH901A").await;
    let transit = shop.token("TH901B").await;
    (shop, failed, transit)
}

fn app(store: Arc<dyn Store>) -> App {
    App {
        store,
        settings: settings(),
    }
}

async fn get(
    app: &App,
    route: &str,
    path: &str,
    params: &[(&str, &str)],
    headers: &[(String, String)],
    query: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let event = apigw_event("GET", route, path, params, headers, query, b"");
    let (status, headers, body) = doorstep_apigw::response_parts(handle(app, event).await);
    (status, headers, String::from_utf8(body).unwrap())
}

async fn post_choice(
    app: &App,
    token: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> (u16, Vec<(String, String)>, String) {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let event = apigw_event(
        "POST",
        "/t/{token}/delivery-choice",
        &format!("/t/{token}/delivery-choice"),
        &[("token", token)],
        &headers,
        None,
        form.as_bytes(),
    );
    let (status, headers, body) = doorstep_apigw::response_parts(handle(app, event).await);
    (status, headers, String::from_utf8(body).unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const SAME_ORIGIN: [(&str, &str); 2] = [
    ("origin", "https://track.shop.example.com"),
    ("sec-fetch-site", "same-origin"),
];

#[tokio::test]
async fn every_tracking_route_answers_api_gateway_events() {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    let (shop, failed, transit) = seeded(store.clone()).await;
    let app = app(store.clone());
    let page = |token: &str| format!("/t/{token}");

    // The page: Thai for Somchai, strict headers, and a reload within the ETag costs nothing.
    let (status, headers, html) = get(
        &app,
        "/t/{token}",
        &page(&failed),
        &[("token", &failed)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<html lang=\"th\">") && html.contains("นำจ่ายไม่สำเร็จ"));
    assert!(html.contains("Chiang Mai") && html.contains("Somchai"));
    assert!(
        !html.contains("somchai@example.co.th") && !html.contains("812345678"),
        "no contact details on the page"
    );
    assert!(header(&headers, "content-security-policy")
        .unwrap()
        .contains("style-src 'sha256-"));
    assert_eq!(header(&headers, "x-robots-tag"), Some("noindex, nofollow"));
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("private, max-age=60")
    );
    let etag = header(&headers, "etag").unwrap().to_string();
    let (status, _, body) = get(
        &app,
        "/t/{token}",
        &page(&failed),
        &[("token", &failed)],
        &[("if-none-match".into(), etag)],
        None,
    )
    .await;
    assert_eq!((status, body.as_str()), (304, ""));
    let (_, _, english) = get(
        &app,
        "/t/{token}",
        &page(&failed),
        &[("token", &failed)],
        &[],
        Some("lang=en"),
    )
    .await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Delivery attempt failed"));

    // The JSON API: the same facts.
    let (status, _, body) = get(
        &app,
        "/api/t/{token}",
        &format!("/api/t/{transit}"),
        &[("token", &transit)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    for field in [
        "status",
        "status_label",
        "estimated_delivery",
        "delayed",
        "events",
        "parcels",
        "delivery_choice",
        "recommendations",
    ] {
        assert!(json.get(field).is_some(), "no {field} in {json}");
    }
    assert_eq!(json["status"], "in_transit");
    assert_eq!(json["delayed"], false);
    assert!(json["estimated_delivery"].is_string());
    assert_eq!(json["parcels"].as_array().unwrap().len(), 2);
    let (_, _, body) = get(
        &app,
        "/api/t/{token}",
        &format!("/api/t/{failed}"),
        &[("token", &failed)],
        &[],
        None,
    )
    .await;
    let json: Value = serde_json::from_str(&body).unwrap();
    let recommended: Vec<&str> = json["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    // p8 (out of stock), p7 (inactive) and p3 (bought before) sell with p1 more, and are never offered.
    assert_eq!(
        recommended.first(),
        Some(&"generic-store:p2"),
        "{recommended:?}"
    );
    for excluded in [
        "generic-store:p8",
        "generic-store:p7",
        "generic-store:p3",
        "generic-store:p1",
        "generic-store:p5",
    ] {
        assert!(
            !recommended.contains(&excluded),
            "{excluded} offered: {recommended:?}"
        );
    }
    assert!(
        json["delivery_choice_form"]["dates"]
            .as_array()
            .unwrap()
            .len()
            == 5
    );

    // A choice from another site is refused and nothing is written.
    let (status, _, _) = post_choice(
        &app,
        &failed,
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        "choice=pickup_point",
    )
    .await;
    assert_eq!(status, 403);
    // An invalid one comes back with the reason, and nothing is written.
    let (status, _, html) = post_choice(
        &app,
        &failed,
        &SAME_ORIGIN,
        "choice=redeliver&date=1999-01-01",
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("กรุณาเลือกวันจากรายการ"), "{html}");
    let stored = |store: Arc<dyn Store>| async move {
        store
            .get_shipment(
                &CarrierSlug::parse("thailand-post").unwrap(),
                &TrackingNumber::parse("TH901A").unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
    };
    assert!(stored(store.clone()).await.delivery_choice.is_none());
    // A valid one is kept and the shopper is sent back to the page.
    let (status, headers, _) = post_choice(
        &app,
        &failed,
        &SAME_ORIGIN,
        "choice=neighbour&note=House+12%2C+Khun+Mali",
    )
    .await;
    assert_eq!(status, 303);
    let location = header(&headers, "location").unwrap();
    assert!(
        location.starts_with(&format!("/t/{failed}?choice=saved")),
        "{location}"
    );
    let choice = stored(store.clone()).await.delivery_choice.unwrap();
    assert_eq!(choice.note.as_deref(), Some("House 12, Khun Mali"));
    let shipment_json = doorstep_core::api::shipment_json(&stored(store.clone()).await);
    assert_eq!(shipment_json["delivery_choice"]["choice"], "neighbour");
    let (_, _, html) = get(
        &app,
        "/t/{token}",
        &page(&failed),
        &[("token", &failed)],
        &[],
        Some("choice=saved"),
    )
    .await;
    assert!(html.contains("class=\"notice\"") && html.contains("House 12, Khun Mali"));

    // A parcel that arrived has nothing to choose: 409 with a page saying why.
    shop.scan("TH901A", "a4", "delivered", 1, None).await;
    let (status, _, html) = post_choice(&app, &failed, &SAME_ORIGIN, "choice=pickup_point").await;
    assert_eq!(status, 409);
    assert!(html.contains("ไม่สามารถเลือกได้แล้ว"), "{html}");

    // A recommendation's link counts the click and goes to the product with UTM tags.
    let (status, headers, _) = get(
        &app,
        "/r/{token}/{product_id}",
        &format!("/r/{failed}/generic-store%3Ap2"),
        &[("token", &failed), ("product_id", "generic-store%3Ap2")],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        header(&headers, "location"),
        Some("https://shop.example.com/products/p2?utm_source=doorstep&utm_medium=tracking_page")
    );
    let clicks = store.clicks(10).await.unwrap();
    assert_eq!(
        clicks,
        vec![(ProductId::parse("generic-store:p2").unwrap(), 1)]
    );

    // Unknown tokens reveal nothing.
    let unknown = Token::random().to_string();
    let (status, _, html) = get(
        &app,
        "/t/{token}",
        &page(&unknown),
        &[("token", &unknown)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(html.contains("Baan Shop") && !html.contains("TH901"));
    let (status, _, _) = get(
        &app,
        "/t/{token}",
        "/t/short",
        &[("token", "short")],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = get(
        &app,
        "/api/t/{token}",
        &format!("/api/t/{unknown}"),
        &[("token", &unknown)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = get(
        &app,
        "/r/{token}/{product_id}",
        &format!("/r/{unknown}/generic-store:p2"),
        &[("token", &unknown), ("product_id", "generic-store:p2")],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = post_choice(&app, &unknown, &SAME_ORIGIN, "choice=pickup_point").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_page_reads_the_same_from_dynamodb_in_a_few_calls() {
    let store: Arc<dyn Store> = Arc::new(dynamo_store().await);
    let (_shop, failed, _) = seeded(store.clone()).await;
    let app = app(store.clone());
    let (status, _, body) = get(
        &app,
        "/api/t/{token}",
        &format!("/api/t/{failed}"),
        &[("token", &failed)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["recommendations"][0]["id"], "generic-store:p2",
        "{json}"
    );
    let loaded = tracking::load(store.as_ref(), &settings(), &Token::parse(&failed).unwrap())
        .await
        .unwrap()
        .unwrap();
    // Token, order, customer, the other parcel, neighbour lists, candidates, then the best
    // sellers and their products because the neighbours left a slot open.
    assert!(loaded.reads <= 8, "{} storage calls", loaded.reads);
}

/// A seeded xorshift, so a failure can be replayed.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn recommendations_fit_a_generated_order_history() {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    let shop = Shop::new(store.clone());
    for n in 0..30 {
        // p28 has stopped selling, p29 is sold out.
        shop.product(&format!("p{n}"), n != 28, n != 29).await;
    }
    let mut random = Seeded(0x5eed_cafe);
    let mut orders = 0;
    for _ in 0..300 {
        orders += 1;
        // Two random products, and a strong pull between p0 and p1 (and the unofferable ones).
        let mut items = vec![
            format!("p{}", random.below(28)),
            format!("p{}", random.below(28)),
        ];
        match random.below(4) {
            0 => items = vec!["p0".into(), "p1".into()],
            1 => items.push(["p28", "p29"][random.below(2)].into()),
            _ => {}
        }
        items.dedup();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        shop.order(
            &format!("g{orders}"),
            &format!("guest-{orders}"),
            &refs,
            &[],
        )
        .await;
    }
    let neighbours = store
        .get_neighbours(&[ProductId::parse("generic-store:p0").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        neighbours[0].counts[0].0.as_str(),
        "generic-store:p1",
        "p1 is p0's strongest neighbour"
    );

    // Redelivering an order changes no count.
    let before = store
        .get_neighbours(&[ProductId::parse("generic-store:p0").unwrap()])
        .await
        .unwrap();
    shop.order("g1", "guest-1", &["p0", "p1"], &[]).await;
    assert_eq!(
        store
            .get_neighbours(&[ProductId::parse("generic-store:p0").unwrap()])
            .await
            .unwrap()[0]
            .counts,
        before[0].counts
    );

    let ids = |loaded: &tracking::Loaded| {
        loaded
            .facts
            .recommendations
            .iter()
            .map(|p| p.id.as_str().to_string())
            .collect::<Vec<_>>()
    };
    // A new customer buying p0: p1 first; never p0 itself, p28 (inactive) or p29 (sold out).
    shop.order("n1", "newcomer", &["p0"], &[("THN1", &[0])])
        .await;
    shop.scan("THN1", "n1", "in_transit", 1, None).await;
    let token = Token::parse(&shop.token("THN1").await).unwrap();
    let loaded = tracking::load(store.as_ref(), &settings(), &token)
        .await
        .unwrap()
        .unwrap();
    let got = ids(&loaded);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0], "generic-store:p1");
    for never in ["generic-store:p0", "generic-store:p28", "generic-store:p29"] {
        assert!(!got.contains(&never.to_string()), "{never} in {got:?}");
    }
    // Reads stay O(items): token, order, customer, neighbours, candidates.
    assert_eq!(
        loaded.reads, 5,
        "storage calls for a one-parcel, one-item order"
    );

    // What the customer bought or had refunded is never offered to them again.
    shop.order("n2", "newcomer", &["p1", "p5"], &[]).await;
    shop.store(json!({"type": "refund", "event_id": "refund-n2", "refund": {"id": "r1", "order_id": "n2", "line_item_ids": ["n2-1"]}})).await;
    let loaded = tracking::load(store.as_ref(), &settings(), &token)
        .await
        .unwrap()
        .unwrap();
    let got = ids(&loaded);
    assert!(
        !got.contains(&"generic-store:p1".to_string()),
        "bought: {got:?}"
    );
    assert!(
        !got.contains(&"generic-store:p5".to_string()),
        "refunded: {got:?}"
    );
    assert_eq!(got.len(), 4, "{got:?}");

    // A product nobody bought with anything falls back to the best sellers of the last 30 days.
    shop.product("lonely", true, true).await;
    shop.order("n3", "loner", &["lonely"], &[("THN3", &[0])])
        .await;
    shop.scan("THN3", "n3", "in_transit", 1, None).await;
    let lonely = Token::parse(&shop.token("THN3").await).unwrap();
    assert!(
        tracking::load(store.as_ref(), &settings(), &lonely)
            .await
            .unwrap()
            .unwrap()
            .facts
            .recommendations
            .is_empty(),
        "no best sellers computed yet"
    );
    let best = catalog::refresh_best_sellers(store.as_ref(), Utc::now())
        .await
        .unwrap();
    assert!(!best.products.is_empty());
    let got = ids(&tracking::load(store.as_ref(), &settings(), &lonely)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(got.len(), 4, "{got:?}");
    let offerable_best: Vec<String> = best
        .products
        .iter()
        .map(|(p, _)| p.as_str().to_string())
        .filter(|p| {
            p != "generic-store:p28" && p != "generic-store:p29" && p != "generic-store:lonely"
        })
        .take(4)
        .collect();
    assert_eq!(got, offerable_best);
}

#[tokio::test]
async fn a_brand_new_store_shows_the_page_without_recommendations() {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    let shop = Shop::new(store.clone());
    shop.order("1", "first", &["p1"], &[("THFIRST", &[0])])
        .await;
    shop.scan("THFIRST", "f1", "info_received", 1, None).await;
    let token = shop.token("THFIRST").await;
    let app = app(store);
    let (status, _, html) = get(
        &app,
        "/t/{token}",
        &format!("/t/{token}"),
        &[("token", &token)],
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(!html.contains("class=\"products\""));
}

/// Webhooks the shop's endpoint received: headers and body of each.
pub(crate) type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;
/// The endpoint's state: what it received, how many calls, the answers to give.
type Endpoint = (Received, Arc<AtomicU16>, Arc<Vec<u16>>);

/// The shop's webhook endpoint: answers each POST with the next status in `answers` (the
/// last one repeating) and keeps what it received.
pub(crate) async fn merchant_endpoint(answers: Vec<u16>) -> (String, Received) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    let received: Received = Arc::default();
    let calls = Arc::new(AtomicU16::new(0));
    let state = (received.clone(), calls, Arc::new(answers));
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((received, calls, answers)): State<Endpoint>,
                 headers: HeaderMap,
                 body: String| async move {
                    let n = usize::from(calls.fetch_add(1, Ordering::SeqCst));
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    received.lock().unwrap().push((headers, body));
                    StatusCode::from_u16(*answers.get(n).or(answers.last()).unwrap()).unwrap()
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

#[tokio::test]
async fn a_delivery_choice_reaches_the_merchant_by_email_and_by_signed_webhook_on_moto() {
    let dynamo = Arc::new(dynamo_store().await);
    let store: Arc<dyn Store> = dynamo.clone();
    let shop = Shop::new(store.clone());
    let number = format!(
        "THM{}",
        &doorstep_core::ids::random_token()[..8]
            .to_ascii_uppercase()
            .replace(['-', '_'], "X")
    );
    shop.order(&number, &format!("c-{number}"), &["p1"], &[(&number, &[0])])
        .await;
    shop.scan(&number, "m1", "failed_attempt", 1, None).await;
    let token = shop.token(&number).await;
    let app = app(store.clone());
    let (status, _, body) = post_choice(
        &app,
        &token,
        &SAME_ORIGIN,
        "choice=safe_place&note=Behind+the+blue+gate",
    )
    .await;
    assert_eq!(status, 303, "{body}");

    let (hook_url, received) = merchant_endpoint(vec![503, 204]).await;
    let merchant_email = format!("ops-{}@shop.example.com", number.to_ascii_lowercase());
    let settings = Settings {
        merchant_email: Some(merchant_email.clone()),
        merchant_webhook_url: Some(hook_url.clone()),
        sender_email: "orders@shop.example.com".into(),
        ..settings()
    };
    let config = aws_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity()
        .email_identity("shop.example.com")
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!(
            "doorstep-merchant-webhooks-{}",
            number.to_ascii_lowercase()
        ))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let channels = doorstep_aws::channels::SnsSesChannels {
        sns: aws_sdk_sns::Client::new(&config).into(),
        ses: ses.into(),
        sender_email: settings.sender_email.clone(),
        configuration_set: None,
        sms_sender_id: None,
        sms_origination_number: None,
        webhooks: Some(doorstep_aws::channels::WebhookQueue {
            sqs: sqs.clone().into(),
            queue_url: queue_url.clone(),
        }),
    };
    let notifier_app = notifier::App {
        store: store.clone(),
        notify: dynamo.clone(),
        failures: dynamo.clone(),
        channels: Arc::new(channels),
        dead_letters: Arc::new(sqs_dead_letters().await),
        renderer: Renderer::new(None, 2),
        settings,
    };
    let described = dynamo
        .client()
        .describe_table()
        .table_name(dynamo.table())
        .send()
        .await
        .unwrap();
    let records = stream_records(
        described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .unwrap(),
    );
    let event: aws_lambda_events::dynamodb::Event =
        serde_json::from_value(json!({"Records": records})).unwrap();
    let response = notifier::handle(&notifier_app, event).await;
    assert!(response.batch_item_failures.is_empty());

    // The email went to the shop through SES, in the shop's language, with the note.
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let mails: Vec<String> = data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m.to_string())
        .filter(|m| m.contains(&merchant_email))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("Behind the blue gate"), "{}", mails[0]);

    // The webhook waits on its queue; the merchant-webhook Lambda delivers it, signed, and a
    // failed try stays on the queue (a batch-item failure) for the next one.
    let received_messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .unwrap();
    let messages = received_messages.messages();
    assert_eq!(messages.len(), 1);
    let sqs_event = |receives: &str| -> aws_lambda_events::sqs::SqsEvent {
        serde_json::from_value(json!({"Records": [{
            "messageId": messages[0].message_id(),
            "receiptHandle": messages[0].receipt_handle(),
            "body": messages[0].body(),
            "attributes": {"ApproximateReceiveCount": receives},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }]}))
        .unwrap()
    };
    let poster: Arc<dyn Poster> = Arc::new(doorstep_outbound::HttpPoster::new().unwrap());
    let hooks = merchant_webhook::App {
        poster,
        secret: Some(doorstep_core::secrets::Secret::new("merchant-key")),
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
    };
    let first = merchant_webhook::handle(&hooks, sqs_event("1")).await;
    assert_eq!(first.batch_item_failures.len(), 1, "a 503 is a failed try");
    let second = merchant_webhook::handle(&hooks, sqs_event("2")).await;
    assert!(second.batch_item_failures.is_empty(), "a 204 delivers it");
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (headers, body) = &got[1];
    let signature = headers
        .iter()
        .find(|(n, _)| n == "doorstep-signature")
        .map(|(_, v)| v.as_str());
    doorstep_core::signature::verify_timestamped(
        signature,
        "Doorstep-Signature",
        b"merchant-key",
        body.as_bytes(),
        Utc::now().timestamp(),
        300,
    )
    .expect("signed with the merchant's key");
    let payload: Value = serde_json::from_str(body).unwrap();
    assert_eq!(payload["event"], "delivery_choice");
    assert_eq!(payload["delivery_choice"]["note"], "Behind the blue gate");
}
