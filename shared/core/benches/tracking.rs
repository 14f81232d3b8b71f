//! The tracking page: draw the view from the records and render it as HTML (the page) or JSON
//! (`/api/t/{token}`), for a busy parcel: 20 scans, a split order, the delivery-choice form and
//! four recommendations, in English and Thai. Baseline in the same run: `format!` of the status
//! and every event into one string, the least any page must do. Prints each page's size.

use criterion::{criterion_group, criterion_main, Criterion};
use doorstep_core::catalog::Product;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::contact::Contact;
use doorstep_core::ids::{CarrierSlug, CustomerId, OrderId, ProductId, Token, TrackingNumber};
use doorstep_core::model::{
    Consents, Customer, EstimatedDelivery, LineItem, Order, OrderLink, Provider, Shipment,
    ShipmentRef, ShippedItem, TrackingEvent,
};
use doorstep_core::settings::Settings;
use doorstep_core::status::ShipmentStatus;
use doorstep_core::timezone::TimezoneSource;
use doorstep_core::tracking::{self, view};
use std::hint::black_box;

fn facts(locale: &str, now: DateTime<Utc>) -> view::Facts {
    let carrier = CarrierSlug::parse("thailand-post").unwrap();
    let number = TrackingNumber::parse("EF582568151TH").unwrap();
    let mut shipment = Shipment::new(carrier.clone(), number.clone(), now - Duration::days(4));
    shipment.status = ShipmentStatus::FailedAttempt;
    shipment.events = (0..20)
        .map(|i| TrackingEvent {
            status: if i == 19 {
                ShipmentStatus::FailedAttempt
            } else {
                ShipmentStatus::InTransit
            },
            reason: None,
            occurred_at: now - Duration::hours(80 - 4 * i),
            description: format!("Arrived at sorting centre {i}"),
            location: Some("Lak Si Mail Centre, Bangkok".into()),
            raw_code: "HUB".into(),
        })
        .collect();
    shipment.estimated_delivery = Some(EstimatedDelivery {
        original: (now + Duration::days(1)).date_naive(),
        original_as_of: None,
        latest: (now + Duration::days(2)).date_naive(),
        as_of: None,
    });
    let order_id = OrderId::parse("shopify:1001").unwrap();
    shipment.order = Some(OrderLink {
        order_id: order_id.clone(),
        fulfillment_id: None,
        items: vec![ShippedItem {
            line_item_id: "1".into(),
            quantity: 2,
        }],
    });
    let mut sibling = Shipment::new(
        carrier.clone(),
        TrackingNumber::parse("EF582568152TH").unwrap(),
        now,
    );
    sibling.status = ShipmentStatus::InTransit;
    let order = Order {
        id: order_id,
        platform: Provider::Shopify,
        name: "#1001".into(),
        customer_id: Some(CustomerId::parse("shopify:7").unwrap()),
        currency: Some("THB".into()),
        line_items: (1..=3)
            .map(|i| LineItem {
                id: i.to_string(),
                product_id: Some(format!("{i}")),
                variant_id: None,
                sku: None,
                title: format!("Cotton tee, size {i}"),
                price: "390.00".into(),
                quantity: 1,
            })
            .collect(),
        shipments: vec![
            ShipmentRef {
                carrier: Some(carrier.clone()),
                tracking_number: number,
            },
            ShipmentRef {
                carrier: Some(carrier),
                tracking_number: sibling.tracking_number.clone(),
            },
        ],
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: now,
        ship_to_city: Some("Chiang Mai".into()),
        refunded_line_items: vec![],
        counted: true,
        was_placeholder: false,
        version: 1,
    };
    let customer = Customer {
        id: CustomerId::parse("shopify:7").unwrap(),
        first_name: Some("Somchai".into()),
        email: Some(Contact::email("somchai@example.co.th")),
        phone: None,
        locale: locale.into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: TimezoneSource::Address,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: now,
        version: 1,
    };
    let recommendations = (10..14)
        .map(|i| Product {
            id: ProductId::parse(&format!("shopify:{i}")).unwrap(),
            title: format!("Linen overshirt {i}"),
            url: Some(format!("https://shop.example.com/products/p{i}")),
            handle: None,
            image_url: Some(format!("https://cdn.shop.example.com/p{i}.jpg")),
            price: Some("1290.00".into()),
            currency: Some("THB".into()),
            active: true,
            in_stock: true,
            product_type: None,
            tags: vec![],
            source_updated_at: None,
            updated_at: now,
            version: 1,
        })
        .collect();
    view::Facts {
        shipment,
        order: Some(order),
        customer: Some(customer),
        siblings: vec![sibling],
        recommendations,
    }
}

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    let settings = Settings {
        brand: "Baan Shop".into(),
        support_url: Some("https://shop.example.com/help".into()),
        ..Default::default()
    };
    for locale in ["en", "th"] {
        let facts = facts(locale, now);
        let page = tracking::render_view(&view::view(&facts, &settings, None, now), &settings);
        let json = view::json(&view::view(&facts, &settings, None, now)).to_string();
        eprintln!(
            "tracking page ({locale}): HTML {} bytes ({} KiB), JSON {} bytes",
            page.body.len(),
            page.body.len() / 1024,
            json.len()
        );
        c.bench_function(&format!("tracking/page/{locale}"), |b| {
            b.iter(|| {
                let v = view::view(black_box(&facts), &settings, None, now);
                black_box(tracking::render_view(&v, &settings))
            })
        });
        c.bench_function(&format!("tracking/json/{locale}"), |b| {
            b.iter(|| {
                let v = view::view(black_box(&facts), &settings, None, now);
                black_box(view::json(&v).to_string())
            })
        });
        c.bench_function(&format!("tracking/format_baseline/{locale}"), |b| {
            b.iter(|| {
                let f = black_box(&facts);
                let mut out = format!(
                    "{} {}",
                    f.shipment.status.as_str(),
                    f.shipment.tracking_number
                );
                for e in &f.shipment.events {
                    out.push_str(&format!(
                        "{} {} {:?}\n",
                        e.occurred_at, e.description, e.location
                    ));
                }
                black_box(out)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
