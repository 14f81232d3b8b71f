//! Fuzzes what the public sends the tracking page (the delivery-choice form, a product path
//! segment, `?lang=`) and what reaches it from carriers and stores: the same text in every free
//! field of a parcel's page. Never a panic, and never raw markup on the page.
#![no_main]

use doorstep_core::chrono::{Duration, NaiveDate, TimeZone, Utc};
use doorstep_core::contact::Contact;
use doorstep_core::ids::{CarrierSlug, CustomerId, OrderId, Token, TrackingNumber};
use doorstep_core::model::{
    ChoiceKind, Consents, Customer, DeliveryChoice, LineItem, Order, OrderLink, Provider,
    Shipment, ShipmentRef, TrackingEvent,
};
use doorstep_core::settings::Settings;
use doorstep_core::status::ShipmentStatus;
use doorstep_core::timezone::TimezoneSource;
use doorstep_core::tracking::{self, view};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let now = Utc.timestamp_opt(1_795_000_000, 0).single().unwrap_or_default();
    let bookable: Vec<NaiveDate> = (1..6).map(|d| (now + Duration::days(d)).date_naive()).collect();
    let _ = tracking::parse_choice(rest, &bookable, now, 1);
    let raw = String::from_utf8_lossy(rest).into_owned();
    let _ = tracking::percent_decode(&raw);
    // Marked, so the check below finds this text and not the page's own markup.
    let text = format!("zq{raw}qz");
    let settings = Settings {
        brand: text.clone(),
        ..Default::default()
    };
    let _ = view::language(Some(&text), None, &settings);

    let statuses = ShipmentStatus::all();
    let status = statuses[*selector as usize % statuses.len()];
    let (Some(carrier), Some(number)) = (CarrierSlug::parse("thailand-post"), TrackingNumber::parse("EF1TH")) else {
        return;
    };
    let mut shipment = Shipment::new(carrier.clone(), number.clone(), now);
    shipment.status = status;
    shipment.events = vec![TrackingEvent {
        status,
        reason: None,
        occurred_at: now,
        description: text.clone(),
        location: Some(text.clone()),
        raw_code: text.clone(),
    }];
    let (Some(order_id), Some(customer_id)) = (OrderId::parse("generic-store:1"), CustomerId::parse("generic-store:c")) else {
        return;
    };
    shipment.order = Some(OrderLink {
        order_id: order_id.clone(),
        fulfillment_id: None,
        items: vec![],
    });
    shipment.delivery_choice = Some(DeliveryChoice {
        choice: ChoiceKind::SafePlace,
        date: None,
        note: Some(text.clone()),
        chosen_at: now,
        attempt: 1,
    });
    let order = Order {
        id: order_id,
        platform: Provider::GenericStore,
        name: text.clone(),
        customer_id: Some(customer_id.clone()),
        currency: None,
        line_items: vec![LineItem {
            id: "1".into(),
            product_id: None,
            variant_id: None,
            sku: None,
            title: text.clone(),
            price: "1".into(),
            quantity: 1,
        }],
        shipments: vec![ShipmentRef {
            carrier: Some(carrier),
            tracking_number: number,
        }],
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: now,
        ship_to_city: Some(text.clone()),
        refunded_line_items: vec![],
        counted: false,
        was_placeholder: false,
        version: 0,
    };
    let customer = Customer {
        id: customer_id,
        first_name: Some(text.clone()),
        email: Some(Contact::email("a@example.com")),
        phone: None,
        locale: text.clone(),
        timezone: text.clone(),
        timezone_source: TimezoneSource::MerchantDefault,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: now,
        version: 0,
    };
    let facts = view::Facts {
        shipment,
        order: Some(order),
        customer: Some(customer),
        siblings: vec![],
        recommendations: vec![],
    };
    let page = tracking::render_view(&view::view(&facts, &settings, None, now), &settings);
    if raw.contains(['<', '>', '"', '&']) {
        assert!(!page.body.contains(&text), "raw text reached the page");
    }
});
