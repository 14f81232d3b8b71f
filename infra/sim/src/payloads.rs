//! The world's events as the providers send them: Shopify's and the generic store's orders and
//! fulfilments, EasyPost trackers, AfterShip tracking updates, Doorstep's generic carrier form,
//! reviews and subscriptions, each signed with its provider's scheme.

use crate::world::{
    Customer, Event, Feed, Market, Order, Parcel, Platform, Product, Scan, MARKETS,
};
use doorstep_core::chrono::{DateTime, SecondsFormat, Utc};
use doorstep_core::providers::registry::Route;
use doorstep_core::providers::{aftership, easypost, judgeme, shopify};
use doorstep_core::signature::sign_timestamped;
use serde_json::{json, Value};

/// The secret every provider is configured with in the simulation.
pub const SECRET: &str = "simulated-webhook-secret";

/// One webhook as it reaches Doorstep.
pub struct Request {
    pub route: Route,
    pub slug: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn header(name: &str, value: String) -> (String, String) {
    (name.to_ascii_lowercase(), value)
}

fn generic(route: Route, body: Value, now: DateTime<Utc>) -> Request {
    let body = body.to_string().into_bytes();
    let signature = sign_timestamped(SECRET.as_bytes(), &body, now.timestamp());
    Request {
        route,
        slug: "generic",
        headers: vec![header("Doorstep-Signature", signature)],
        body,
    }
}

fn shopify(topic: &str, id: String, body: Value) -> Request {
    let body = body.to_string().into_bytes();
    Request {
        route: Route::Stores,
        slug: "shopify",
        headers: vec![
            header("X-Shopify-Hmac-Sha256", shopify::sign(SECRET, &body)),
            header("X-Shopify-Topic", topic.to_string()),
            header("X-Shopify-Webhook-Id", id),
            header(
                "X-Shopify-Shop-Domain",
                "baan-shop.myshopify.com".to_string(),
            ),
        ],
        body,
    }
}

/// The store's numeric ids (Shopify's are numbers; the generic store's are strings).
fn numeric(id: &str) -> u64 {
    id.bytes().filter(u8::is_ascii_digit).fold(0u64, |n, d| {
        n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    })
}

pub fn product(platform: Platform, product: &Product, now: DateTime<Utc>) -> Request {
    match platform {
        Platform::Shopify => shopify(
            "products/create",
            format!("product-{}", product.id),
            json!({"id": 7_000_000 + numeric(&product.id), "title": product.title,
                   "product_type": product.kind, "tags": "simulated, new", "status": "active",
                   "handle": product.title.to_lowercase().replace(' ', "-"),
                   "updated_at": iso(now), "variants": [{"id": 8_000_000 + numeric(&product.id),
                   "price": format!("{}.00", product.price), "inventory_quantity": 40}]}),
        ),
        Platform::Generic => generic(
            Route::Stores,
            json!({"type": "product", "event_id": format!("product-{}", product.id), "product": {
                "id": product.id, "title": product.title, "price": format!("{}.00", product.price),
                "currency": "THB", "product_type": product.kind, "tags": ["simulated"],
                "url": format!("https://shop.example.com/products/{}", product.id)}}),
            now,
        ),
    }
}

/// The id of a product on its platform (as orders and reviews name it).
pub fn product_id(platform: Platform, product: &Product) -> String {
    match platform {
        Platform::Shopify => (7_000_000 + numeric(&product.id)).to_string(),
        Platform::Generic => product.id.clone(),
    }
}

fn line_id(order: &Order, line: usize) -> String {
    format!("{}{line}", numeric(&order.id) * 10)
}

pub fn order(
    order: &Order,
    customer: &Customer,
    products: &[Product],
    now: DateTime<Utc>,
) -> Request {
    let market = &MARKETS[customer.market];
    let lines: Vec<Value> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, (p, quantity))| {
            let product = &products[*p];
            let price = f64::from(product.price) * market.per_baht;
            json!({"id": line_id(order, i), "product_id": product_id(customer.platform, product),
                   "title": product.title, "price": format!("{price:.2}"), "quantity": quantity})
        })
        .collect();
    match customer.platform {
        Platform::Shopify => {
            let consent =
                |yes: bool| json!({"state": if yes { "subscribed" } else { "not_subscribed" }});
            shopify(
                "orders/create",
                format!("order-{}", order.id),
                json!({"id": numeric(&order.id), "name": format!("#{}", order.id), "currency": market.currency,
                       "email": customer.email, "phone": customer.phone, "customer_locale": market.locale,
                       "created_at": iso(order.at), "updated_at": iso(order.at), "financial_status": "paid",
                       "customer": {"id": 9_000_000 + numeric(&customer.id), "first_name": customer.first_name,
                                    "email": customer.email, "phone": customer.phone,
                                    "email_marketing_consent": consent(customer.marketing_email),
                                    "sms_marketing_consent": consent(customer.marketing_sms)},
                       "shipping_address": {"first_name": customer.first_name, "city": market.city,
                                            "country_code": market.country, "province_code": market.province},
                       "line_items": lines}),
            )
        }
        Platform::Generic => generic(
            Route::Stores,
            json!({"type": "order", "event_id": format!("order-{}", order.id), "order": {
                "id": order.id, "name": format!("#{}", order.id), "currency": market.currency,
                "created_at": iso(order.at), "updated_at": iso(order.at),
                "customer": {"id": customer.id, "first_name": customer.first_name, "email": customer.email,
                             "phone": customer.phone, "locale": market.locale,
                             "accepts_email_marketing": customer.marketing_email,
                             "accepts_sms_marketing": customer.marketing_sms,
                             "accepts_transactional_sms": customer.transactional_sms},
                "shipping_address": {"country_code": market.country, "province_code": market.province, "city": market.city},
                "line_items": lines}}),
            now,
        ),
    }
}

pub fn fulfillment(
    order: &Order,
    parcel: &Parcel,
    n: usize,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Request {
    let market = &MARKETS[customer.market];
    match customer.platform {
        Platform::Shopify => shopify(
            "fulfillments/create",
            format!("fulfillment-{}-{n}", order.id),
            json!({"id": numeric(&order.id) * 10 + n as u64, "order_id": numeric(&order.id), "status": "success",
                   "tracking_company": market.carrier_name, "tracking_number": parcel.tracking,
                   "created_at": iso(parcel.fulfilled_at), "updated_at": iso(parcel.fulfilled_at),
                   "line_items": parcel.lines.iter().map(|l| json!({"id": line_id(order, *l), "quantity": order.lines[*l].1})).collect::<Vec<_>>()}),
        ),
        Platform::Generic => generic(
            Route::Stores,
            json!({"type": "fulfillment", "event_id": format!("fulfillment-{}-{n}", order.id), "fulfillment": {
                "id": format!("f{}-{n}", order.id), "order_id": order.id, "carrier": market.carrier_name,
                "tracking_number": parcel.tracking,
                "line_items": parcel.lines.iter().map(|l| json!({"line_item_id": line_id(order, *l), "quantity": order.lines[*l].1})).collect::<Vec<_>>()}}),
            now,
        ),
    }
}

fn description(scan: Scan) -> &'static str {
    match scan {
        Scan::InfoReceived => "Shipping label created",
        Scan::InTransit => "Arrived at sorting facility",
        Scan::OutForDelivery => "Out for delivery",
        Scan::FailedAttempt => "Delivery attempted: nobody home",
        Scan::AvailableForPickup => "Held at the post office for pickup",
        Scan::Delivered => "Delivered",
        Scan::Delay => "Delayed: operational issue",
        Scan::ReturnToSender => "Returned to sender",
    }
}

/// One carrier event in the feed's own format. EasyPost and AfterShip send the history so far.
pub fn carrier(market: &Market, parcel: &Parcel, upto: usize, now: DateTime<Utc>) -> Request {
    let event = &parcel.events[upto];
    let history = &parcel.events[..=upto];
    let estimate = history.iter().rev().find_map(|e| e.estimate);
    match market.feed {
        Feed::EasyPost => {
            let (status, detail) = easypost_status(event.scan);
            let details: Vec<Value> = history
                .iter()
                .map(|e| {
                    let (status, detail) = easypost_status(e.scan);
                    json!({"object": "TrackingDetail", "message": description(e.scan), "status": status,
                           "status_detail": detail, "datetime": iso(e.at), "source": market.feed_carrier,
                           "tracking_location": {"object": "TrackingLocation", "city": market.city,
                                                 "state": market.province, "country": market.country}})
                })
                .collect();
            let body = json!({"id": format!("evt_{}_{upto}", parcel.tracking), "object": "Event",
                "description": "tracker.updated", "mode": "production",
                "result": {"id": format!("trk_{}", parcel.tracking), "object": "Tracker",
                    "tracking_code": parcel.tracking, "carrier": market.feed_carrier, "status": status,
                    "status_detail": detail, "updated_at": iso(event.at),
                    "est_delivery_date": estimate.map(|d| format!("{d}T00:00:00Z")),
                    "tracking_details": details}})
            .to_string()
            .into_bytes();
            Request {
                route: Route::Carriers,
                slug: "easypost",
                headers: vec![header("X-Hmac-Signature", easypost::sign(SECRET, &body))],
                body,
            }
        }
        Feed::AfterShip => {
            let (tag, subtag) = aftership_tag(event.scan);
            let checkpoints: Vec<Value> = history
                .iter()
                .map(|e| {
                    let (tag, subtag) = aftership_tag(e.scan);
                    json!({"slug": market.feed_carrier, "city": market.city, "country_iso3": market.country,
                           "message": description(e.scan), "tag": tag, "subtag": subtag,
                           "checkpoint_time": iso(e.at), "created_at": iso(e.at)})
                })
                .collect();
            let body = json!({"event": "tracking_update", "event_id": format!("as-{}-{upto}", parcel.tracking),
                "is_tracking_first_tag": upto == 0,
                "msg": {"id": format!("as{}", parcel.tracking), "tracking_number": parcel.tracking,
                        "slug": market.feed_carrier, "tag": tag, "subtag": subtag, "updated_at": iso(event.at),
                        "expected_delivery": estimate.map(|d| d.to_string()), "checkpoints": checkpoints},
                "ts": event.at.timestamp()})
            .to_string()
            .into_bytes();
            Request {
                route: Route::Carriers,
                slug: "aftership",
                headers: vec![header(
                    "aftership-hmac-sha256",
                    aftership::sign(SECRET, &body),
                )],
                body,
            }
        }
        Feed::Generic => generic(
            Route::Carriers,
            json!({"carrier": market.feed_carrier, "tracking_number": parcel.tracking,
                   "event_id": format!("g-{}-{upto}", parcel.tracking),
                   "estimated_delivery": estimate.map(|d| d.to_string()),
                   "events": [{"status": generic_status(event), "occurred_at": iso(event.at),
                               "description": description(event.scan), "location": market.city,
                               "reason": match event.scan { Scan::FailedAttempt => Some("recipient"),
                                                            Scan::Delay => Some("delay"), _ => None }}]}),
            now,
        ),
    }
}

fn easypost_status(scan: Scan) -> (&'static str, &'static str) {
    match scan {
        Scan::InfoReceived => ("pre_transit", "label_created"),
        Scan::InTransit => ("in_transit", "arrived_at_facility"),
        Scan::OutForDelivery => ("out_for_delivery", "out_for_delivery"),
        Scan::FailedAttempt => ("in_transit", "attempted_delivery"),
        Scan::AvailableForPickup => ("available_for_pickup", "arrived_at_destination"),
        Scan::Delivered => ("delivered", "arrived_at_destination"),
        Scan::Delay => ("in_transit", "delayed"),
        Scan::ReturnToSender => ("return_to_sender", "return"),
    }
}

fn aftership_tag(scan: Scan) -> (&'static str, &'static str) {
    match scan {
        Scan::InfoReceived => ("InfoReceived", "InfoReceived_001"),
        Scan::InTransit => ("InTransit", "InTransit_002"),
        Scan::OutForDelivery => ("OutForDelivery", "OutForDelivery_001"),
        Scan::FailedAttempt => ("AttemptFail", "AttemptFail_001"),
        Scan::AvailableForPickup => ("AvailableForPickup", "AvailableForPickup_001"),
        Scan::Delivered => ("Delivered", "Delivered_001"),
        Scan::Delay => ("Exception", "Exception_005"),
        Scan::ReturnToSender => ("Exception", "Exception_011"),
    }
}

fn generic_status(event: &Event) -> &'static str {
    match event.scan {
        Scan::InfoReceived => "info_received",
        Scan::InTransit => "in_transit",
        Scan::OutForDelivery => "out_for_delivery",
        Scan::FailedAttempt => "failed_attempt",
        Scan::AvailableForPickup => "available_for_pickup",
        Scan::Delivered => "delivered",
        Scan::Delay => "exception",
        Scan::ReturnToSender => "return_to_sender",
    }
}

/// A review: Judge.me for Shopify orders, the generic form for the others.
pub fn review(
    order: &Order,
    customer: &Customer,
    rating: u8,
    product: &Product,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Request {
    let (title, text) = match rating {
        5 => ("Love it", "Exactly as described, arrived quickly."),
        4 => ("Good", "Nice quality, the box was a bit dented."),
        3 => ("Okay", "Does the job."),
        _ => ("Disappointed", "Broke within a week. Not worth the price."),
    };
    match customer.platform {
        Platform::Shopify => {
            let body = json!({"review": {"id": numeric(&order.id), "title": title, "body": text, "rating": rating,
                "product_external_id": 7_000_000 + numeric(&product.id), "product_title": product.title,
                "reviewer": {"id": numeric(&customer.id), "external_id": 9_000_000 + numeric(&customer.id),
                             "email": customer.email, "name": customer.first_name},
                "source": "email", "verified": "buyer", "created_at": iso(at), "updated_at": iso(at)}})
            .to_string()
            .into_bytes();
            Request {
                route: Route::Reviews,
                slug: "judgeme",
                headers: vec![header("JUDGEME-HMAC-SHA256", judgeme::sign(SECRET, &body))],
                body,
            }
        }
        Platform::Generic => generic(
            Route::Reviews,
            json!({"event_id": format!("review-{}", order.id), "review": {"id": format!("r{}", order.id),
                "rating": rating, "product_id": product.id, "order_id": order.id, "title": title, "body": text,
                "created_at": iso(at), "customer": {"id": customer.id, "email": customer.email}}}),
            now,
        ),
    }
}

pub fn subscription(
    s: &crate::world::Subscription,
    customer: &Customer,
    product: &Product,
    now: DateTime<Utc>,
) -> Request {
    let market = &MARKETS[customer.market];
    generic(
        Route::Subscriptions,
        json!({"event_id": format!("sub-{}", s.id), "subscription": {"id": s.id, "status": "active",
            "interval_days": 30, "next_charge_at": s.next_charge.to_string(), "currency": market.currency,
            "updated_at": iso(s.created_at),
            "items": [{"product_id": product.id, "title": product.title, "quantity": 1, "price": format!("{}.00", product.price)}],
            "customer": {"id": customer.id, "email": customer.email, "phone": customer.phone,
                         "locale": market.locale, "timezone": market.zone, "first_name": customer.first_name}}}),
        now,
    )
}
