//! The tracking page's view model and its pure helpers: progress per status, the estimate shown,
//! delayed or hidden, times in the customer's zone, Thai Buddhist Era dates, split orders, the
//! delivery-choice form, and escaping of everything that reaches the HTML.

use super::view::{self, Estimate, Facts};
use super::*;
use crate::contact::Contact;
use crate::ids::{CarrierSlug, CustomerId, OrderId, TrackingNumber};
use crate::model::{
    Consents, EstimatedDelivery, LineItem, OrderLink, Provider, ShipmentRef, ShippedItem,
    TrackingEvent,
};
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone::TimezoneSource;

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn date(raw: &str) -> NaiveDate {
    raw.parse().unwrap()
}

fn customer(locale: &str, zone: &str) -> Customer {
    Customer {
        id: CustomerId::parse("shopify:7").unwrap(),
        first_name: Some("Nok".into()),
        email: Some(Contact::email("nok@example.com")),
        phone: Some(Contact::phone("+66812345678", None)),
        locale: locale.into(),
        timezone: zone.into(),
        timezone_source: TimezoneSource::Address,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: at("2026-11-01T00:00:00Z"),
        version: 1,
    }
}

fn event(status: ShipmentStatus, when: &str) -> TrackingEvent {
    TrackingEvent {
        status,
        reason: None,
        occurred_at: at(when),
        description: format!("{} scan", status.as_str()),
        location: Some("Bangkok Hub".into()),
        raw_code: status.as_str().into(),
    }
}

fn shipment(status: ShipmentStatus, events: &[(ShipmentStatus, &str)]) -> Shipment {
    let mut s = Shipment::new(
        CarrierSlug::parse("thailand-post").unwrap(),
        TrackingNumber::parse("EF582568151TH").unwrap(),
        at("2026-11-20T00:00:00Z"),
    );
    s.status = status;
    s.events = events.iter().map(|(st, when)| event(*st, when)).collect();
    s.order = Some(OrderLink {
        order_id: OrderId::parse("shopify:1001").unwrap(),
        fulfillment_id: Some("f1".into()),
        items: vec![ShippedItem {
            line_item_id: "l1".into(),
            quantity: 2,
        }],
    });
    s
}

fn order(parcels: &[&str]) -> Order {
    Order {
        id: OrderId::parse("shopify:1001").unwrap(),
        platform: Provider::Shopify,
        name: "#1001".into(),
        customer_id: Some(CustomerId::parse("shopify:7").unwrap()),
        currency: Some("THB".into()),
        line_items: vec![
            LineItem {
                id: "l1".into(),
                product_id: Some("10".into()),
                variant_id: None,
                sku: None,
                title: "Jasmine rice 5 kg".into(),
                price: "350.00".into(),
                quantity: 2,
            },
            LineItem {
                id: "l2".into(),
                product_id: Some("11".into()),
                variant_id: None,
                sku: None,
                title: "Rice cooker".into(),
                price: "1290.00".into(),
                quantity: 1,
            },
        ],
        shipments: parcels
            .iter()
            .map(|n| ShipmentRef {
                carrier: CarrierSlug::parse("thailand-post"),
                tracking_number: TrackingNumber::parse(n).unwrap(),
            })
            .collect(),
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: at("2026-11-20T00:00:00Z"),
        ship_to_city: Some("Chiang Mai".into()),
        refunded_line_items: vec![],
        counted: true,
        was_placeholder: false,
        version: 1,
    }
}

fn facts(shipment: Shipment, locale: &str) -> Facts {
    Facts {
        shipment,
        order: Some(order(&["EF582568151TH"])),
        customer: Some(customer(locale, "Asia/Bangkok")),
        siblings: vec![],
        recommendations: vec![],
    }
}

fn settings() -> Settings {
    Settings {
        brand: "Baan Shop".into(),
        store_url: Some("https://shop.example.com".into()),
        ..Default::default()
    }
}

const NOW: &str = "2026-11-27T05:00:00Z";

fn states(shipment: &Shipment) -> Vec<&'static str> {
    view::steps(shipment, phrases::phrases("en"))
        .iter()
        .map(|s| s.state)
        .collect()
}

#[test]
fn progress_follows_the_journey_and_shows_problems_where_they_happened() {
    use ShipmentStatus::*;
    type Case<'a> = (
        ShipmentStatus,
        &'a [(ShipmentStatus, &'a str)],
        [&'a str; 5],
    );
    let cases: [Case; 8] = [
        (Pending, &[], ["current", "todo", "todo", "todo", "todo"]),
        (
            InfoReceived,
            &[(InfoReceived, "2026-11-21T01:00:00Z")],
            ["done", "current", "todo", "todo", "todo"],
        ),
        (
            InTransit,
            &[(InTransit, "2026-11-22T01:00:00Z")],
            ["done", "done", "current", "todo", "todo"],
        ),
        (
            OutForDelivery,
            &[(OutForDelivery, "2026-11-23T01:00:00Z")],
            ["done", "done", "done", "current", "todo"],
        ),
        (
            Delivered,
            &[(Delivered, "2026-11-24T01:00:00Z")],
            ["done", "done", "done", "done", "done"],
        ),
        (
            FailedAttempt,
            &[
                (OutForDelivery, "2026-11-23T01:00:00Z"),
                (FailedAttempt, "2026-11-23T05:00:00Z"),
            ],
            ["done", "done", "done", "problem", "todo"],
        ),
        // An exception stops the bar where the parcel last was, not at the start.
        (
            Exception,
            &[
                (InTransit, "2026-11-22T01:00:00Z"),
                (Exception, "2026-11-22T05:00:00Z"),
            ],
            ["done", "done", "problem", "todo", "todo"],
        ),
        // A parcel on its way back is not delivered, however far it got.
        (
            ReturnToSender,
            &[
                (OutForDelivery, "2026-11-23T01:00:00Z"),
                (ReturnToSender, "2026-11-24T01:00:00Z"),
            ],
            ["done", "done", "done", "problem", "todo"],
        ),
    ];
    for (status, events, expected) in cases {
        assert_eq!(states(&shipment(status, events)), expected, "{status:?}");
    }
}

fn with_estimate(mut s: Shipment, original: &str, latest: &str) -> Shipment {
    s.estimated_delivery = Some(EstimatedDelivery {
        original: date(original),
        original_as_of: None,
        latest: date(latest),
        as_of: None,
    });
    s
}

#[test]
fn the_estimate_is_shown_delayed_or_hidden_never_wrong() {
    let zone = crate::zones::tz("Asia/Bangkok");
    let now = at(NOW);
    let transit = shipment(
        ShipmentStatus::InTransit,
        &[(ShipmentStatus::InTransit, "2026-11-26T01:00:00Z")],
    );
    let on_time = with_estimate(transit.clone(), "2026-11-30", "2026-11-30");
    assert!(matches!(
        view::estimate(&on_time, zone, "en", now),
        Estimate::Expected { date: d, ref label } if d == date("2026-11-30") && label == "Monday 30 November 2026"
    ));
    let slipped = with_estimate(transit.clone(), "2026-11-28", "2026-12-02");
    assert!(matches!(
        view::estimate(&slipped, zone, "en", now),
        Estimate::Delayed { date: d, original: o, .. } if d == date("2026-12-02") && o == date("2026-11-28")
    ));
    // A date already gone by is not shown.
    let stale = with_estimate(transit.clone(), "2026-11-25", "2026-11-26");
    assert_eq!(view::estimate(&stale, zone, "en", now), Estimate::Hidden);
    // An exception about the address makes any date meaningless; a delay does not.
    let mut address = with_estimate(transit.clone(), "2026-11-30", "2026-11-30");
    address.status = ShipmentStatus::Exception;
    address.reason = Some(ExceptionReason::Address);
    assert_eq!(view::estimate(&address, zone, "en", now), Estimate::Hidden);
    let mut delayed = with_estimate(transit.clone(), "2026-11-30", "2026-12-03");
    delayed.status = ShipmentStatus::Exception;
    delayed.reason = Some(ExceptionReason::Delay);
    assert!(matches!(
        view::estimate(&delayed, zone, "en", now),
        Estimate::Delayed { .. }
    ));
    let mut failed = with_estimate(transit, "2026-11-30", "2026-11-30");
    failed.status = ShipmentStatus::FailedAttempt;
    assert_eq!(view::estimate(&failed, zone, "en", now), Estimate::Hidden);
    assert_eq!(
        view::estimate(&shipment(ShipmentStatus::InTransit, &[]), zone, "en", now),
        Estimate::Hidden
    );
    // Delivered late in the evening UTC is the next morning in Bangkok.
    let delivered = shipment(
        ShipmentStatus::Delivered,
        &[(ShipmentStatus::Delivered, "2026-11-26T18:30:00Z")],
    );
    assert!(matches!(
        view::estimate(&delivered, zone, "th", now),
        Estimate::Delivered { date: d, ref label } if d == date("2026-11-27") && label == "วันศุกร์ที่ 27 พฤศจิกายน 2569"
    ));
}

#[test]
fn times_are_in_the_customers_zone_newest_first_with_thai_buddhist_era_days() {
    let s = shipment(
        ShipmentStatus::OutForDelivery,
        &[
            (ShipmentStatus::InTransit, "2026-11-26T10:15:00Z"),
            // 01:05 on the 27th in Bangkok, though still the 26th in UTC.
            (ShipmentStatus::InTransit, "2026-11-26T18:05:00Z"),
            (ShipmentStatus::OutForDelivery, "2026-11-27T02:00:00Z"),
        ],
    );
    let t = phrases::phrases("th");
    let days = view::timeline(&s, crate::zones::tz("Asia/Bangkok"), "th", t);
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].date, date("2026-11-27"));
    assert_eq!(days[0].label, "วันศุกร์ที่ 27 พฤศจิกายน 2569");
    let times: Vec<&str> = days[0].events.iter().map(|e| e.time.as_str()).collect();
    assert_eq!(times, ["09:00 น.", "01:05 น."]);
    assert_eq!(days[0].events[0].status_label, "กำลังนำจ่าย");
    assert_eq!(days[1].events[0].time, "17:15 น.");
    let en = view::timeline(
        &s,
        crate::zones::tz("America/New_York"),
        "en",
        phrases::phrases("en"),
    );
    assert_eq!(en[0].label, "Thursday 26 November 2026");
    assert_eq!(en[0].events[0].time, "21:00");
}

#[test]
fn the_language_is_the_shoppers_pick_then_the_customers_then_the_shops() {
    let s = settings();
    let thai = customer("th-TH", "Asia/Bangkok");
    assert_eq!(view::language(None, Some(&thai), &s), "th");
    assert_eq!(view::language(Some("en"), Some(&thai), &s), "en");
    assert_eq!(view::language(Some("fr"), Some(&thai), &s), "th");
    assert_eq!(view::language(None, None, &s), "en");
    let page = view::view(
        &facts(shipment(ShipmentStatus::InTransit, &[]), "th"),
        &s,
        Some("en"),
        at(NOW),
    );
    assert_eq!((page.lang, page.query.as_str()), ("en", "?lang=en"));
}

#[test]
fn a_split_order_lists_every_parcel_with_its_own_status_and_link() {
    let this = shipment(ShipmentStatus::InTransit, &[]);
    let mut other = shipment(ShipmentStatus::Delivered, &[]);
    other.tracking_number = TrackingNumber::parse("EF000000002TH").unwrap();
    let mut f = facts(this, "en");
    f.order = Some(order(&["EF582568151TH", "EF000000002TH", "EF000000003TH"]));
    f.siblings = vec![other.clone()];
    let page = view::view(&f, &settings(), None, at(NOW));
    assert_eq!(page.parcels.len(), 3);
    assert!(page.parcels[0].current);
    assert_eq!(page.parcels[1].status_label, "Delivered");
    assert_eq!(
        page.parcels[1].page_url.as_deref(),
        Some(format!("/t/{}", other.tracking_token).as_str())
    );
    // Announced by the store, not yet heard of from the carrier.
    assert_eq!(page.parcels[2].status, None);
    assert_eq!(page.parcels[2].status_label, "Not shipped yet");
    assert!(page.parcels[2]
        .carrier_url
        .as_deref()
        .unwrap()
        .contains("EF000000003TH"));
    // This parcel carries only its own items.
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].title.as_str(), page.items[0].quantity),
        ("Jasmine rice 5 kg", 2)
    );
    // The city and first name, nothing else about the customer.
    let json = view::json(&page).to_string();
    assert!(json.contains("Chiang Mai") && json.contains("Nok"));
    assert!(!json.contains("nok@example.com") && !json.contains("812345678"));
}

#[test]
fn the_choice_form_appears_after_a_failed_attempt_with_the_next_five_working_days() {
    let failed = shipment(
        ShipmentStatus::FailedAttempt,
        &[(ShipmentStatus::FailedAttempt, "2026-11-26T05:00:00Z")],
    );
    // Friday 27 November in Bangkok: Monday to Friday of the next week.
    let page = view::view(&facts(failed.clone(), "en"), &settings(), None, at(NOW));
    let form = page.choice.expect("form");
    let days: Vec<String> = form.dates.iter().map(|d| d.value.to_string()).collect();
    assert_eq!(
        days,
        [
            "2026-11-30",
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-04"
        ]
    );
    assert_eq!(form.kinds.len(), ChoiceKind::all().len());
    assert_eq!(form.attempt, 1);
    let mut address = shipment(ShipmentStatus::Exception, &[]);
    address.reason = Some(ExceptionReason::Address);
    assert!(
        view::view(&facts(address, "en"), &settings(), None, at(NOW))
            .choice
            .is_some()
    );
    let mut lost = shipment(ShipmentStatus::Exception, &[]);
    lost.reason = Some(ExceptionReason::Lost);
    assert!(view::view(&facts(lost, "en"), &settings(), None, at(NOW))
        .choice
        .is_none());
    let delivered = shipment(ShipmentStatus::Delivered, &[]);
    assert!(
        view::view(&facts(delivered, "en"), &settings(), None, at(NOW))
            .choice
            .is_none()
    );
}

#[test]
fn choices_are_validated_and_length_capped() {
    let now = at(NOW);
    let bookable = [date("2026-11-30"), date("2026-12-01")];
    let parse = |form: &str| parse_choice(form.as_bytes(), &bookable, now, 1);
    let ok = parse("choice=redeliver&date=2026-12-01&note=").unwrap();
    assert_eq!(
        (ok.choice, ok.date, ok.note),
        (ChoiceKind::Redeliver, Some(date("2026-12-01")), None)
    );
    assert_eq!(
        parse("choice=redeliver&date=2026-12-25"),
        Err(ChoiceError::BadDate)
    );
    assert_eq!(parse("choice=redeliver"), Err(ChoiceError::BadDate));
    assert_eq!(parse("choice=teleport"), Err(ChoiceError::NoChoice));
    assert_eq!(parse(""), Err(ChoiceError::NoChoice));
    assert_eq!(
        parse("choice=safe_place&note=+++"),
        Err(ChoiceError::NoteMissing)
    );
    let long = format!("choice=neighbour&note={}", "ก".repeat(301));
    assert_eq!(parse(&long), Err(ChoiceError::NoteTooLong));
    let fine = parse(&format!("choice=neighbour&note={}", "ก".repeat(300))).unwrap();
    assert_eq!(fine.note.unwrap().chars().count(), 300);
    // Control characters never reach the record.
    let note = parse("choice=safe_place&note=behind%00the%0Agate")
        .unwrap()
        .note
        .unwrap();
    assert_eq!(note, "behind the gate");
    assert_eq!(parse("choice=pickup_point").unwrap().note, None);
    // A date on the form of another choice is not kept.
    assert_eq!(
        parse("choice=neighbour&note=No.%2012&date=2026-11-30")
            .unwrap()
            .date,
        None
    );
}

fn request<'a>(headers: &'a [(String, String)]) -> TrackingRequest<'a> {
    TrackingRequest {
        token: "",
        query: None,
        headers,
        body: b"",
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn only_our_own_pages_may_post_a_choice() {
    let s = Settings {
        public_base_url: "https://track.shop.example.com".into(),
        ..settings()
    };
    let allowed = |pairs: &[(&str, &str)]| same_origin(&request(&headers(pairs)), &s);
    assert!(allowed(&[
        ("origin", "https://track.shop.example.com"),
        ("sec-fetch-site", "same-origin")
    ]));
    assert!(
        allowed(&[]),
        "not a browser: nothing for another site to forge"
    );
    assert!(allowed(&[
        ("origin", "http://127.0.0.1:3000"),
        ("host", "127.0.0.1:3000")
    ]));
    assert!(!allowed(&[
        ("origin", "https://evil.example"),
        ("host", "track.shop.example.com")
    ]));
    assert!(!allowed(&[("sec-fetch-site", "cross-site")]));
    assert!(!allowed(&[
        ("sec-fetch-site", "same-site"),
        ("origin", "https://track.shop.example.com")
    ]));
    assert!(!allowed(&[("origin", "null")]));
    // Our own page under `Referrer-Policy: no-referrer`: Chrome sends `Origin: null`.
    assert!(allowed(&[
        ("origin", "null"),
        ("sec-fetch-site", "same-origin")
    ]));
}

#[test]
fn utm_tags_go_before_the_fragment_and_ids_decode() {
    assert_eq!(
        with_utm("https://shop.example.com/products/mug"),
        "https://shop.example.com/products/mug?utm_source=doorstep&utm_medium=tracking_page"
    );
    assert_eq!(
        with_utm("https://shop.example.com/p?id=4#reviews"),
        "https://shop.example.com/p?id=4&utm_source=doorstep&utm_medium=tracking_page#reviews"
    );
    assert_eq!(
        percent_decode("shopify%3A632910392").as_deref(),
        Some("shopify:632910392")
    );
    assert_eq!(percent_decode("%E0%B8%81").as_deref(), Some("ก"));
    assert_eq!(percent_decode("bad%2"), None);
    assert_eq!(percent_decode("%ff"), None);
}

#[test]
fn the_stylesheet_is_allowed_by_hash_and_text_contrasts_with_the_accent() {
    let (css, hash) = build_stylesheet(&Settings {
        accent_color: "#ffcc00".into(),
        ..settings()
    });
    assert!(css.contains("--accent:#ffcc00;--on-accent:#111111"));
    let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
    assert_eq!(hash, format!("sha256-{expected}"));
    assert!(!light("#1a1a1a") && light("#ffffff") && light("#fc0") && !light("#0b3d91"));
}

#[test]
fn the_page_renders_with_strict_headers_and_an_etag() {
    let f = facts(
        with_estimate(
            shipment(
                ShipmentStatus::InTransit,
                &[(ShipmentStatus::InTransit, "2026-11-26T10:15:00Z")],
            ),
            "2026-11-30",
            "2026-11-30",
        ),
        "th",
    );
    let page = render(
        &view::view(&f, &settings(), None, at(NOW)),
        &settings(),
        200,
        None,
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("วันจันทร์ที่ 30 พฤศจิกายน 2569"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<html lang=\"th\">"));
    assert!(!page.body.contains("<script"));
    let csp = page.header_value("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'sha256-"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header_value("x-robots-tag"), Some("noindex, nofollow"));
    let headers = headers(&[]);
    let tagged = with_etag(page.clone(), &request(&headers));
    let etag = tagged.header_value("etag").unwrap().to_string();
    assert_eq!(tagged.header_value("cache-control"), Some(CACHE));
    let again = headers_with(&[("if-none-match", &etag)]);
    let cached = with_etag(page, &request(&again));
    assert_eq!((cached.status, cached.body.as_str()), (304, ""));
    assert!(tagged.body.len() < 30 * 1024, "{} bytes", tagged.body.len());
}

fn headers_with(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    headers(pairs)
}

/// Strings that break out of HTML text, attributes, URLs or the style element when not escaped.
pub const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "</style><script>alert(1)</script>",
    "javascript:alert(1)",
    "{{ 7*7 }}",
    "</textarea><script>alert(1)</script>",
];

#[test]
fn nothing_from_outside_reaches_the_html_unescaped() {
    for attack in XSS {
        let mut s = shipment(
            ShipmentStatus::FailedAttempt,
            &[(ShipmentStatus::FailedAttempt, "2026-11-26T05:00:00Z")],
        );
        for e in &mut s.events {
            e.description = attack.to_string();
            e.location = Some(attack.to_string());
        }
        s.delivery_choice = Some(DeliveryChoice {
            choice: ChoiceKind::SafePlace,
            date: None,
            note: Some(attack.to_string()),
            chosen_at: at(NOW),
            attempt: 1,
        });
        let mut f = facts(s, "en");
        if let Some(o) = f.order.as_mut() {
            o.line_items[0].title = attack.to_string();
            o.name = attack.to_string();
            o.ship_to_city = Some(attack.to_string());
        }
        if let Some(c) = f.customer.as_mut() {
            c.first_name = Some(attack.to_string());
        }
        f.recommendations = vec![Product {
            id: ProductId::parse("shopify:99").unwrap(),
            title: attack.to_string(),
            url: Some("https://shop.example.com/x".into()),
            handle: None,
            image_url: Some(format!("https://cdn.example.com/{attack}")),
            price: Some(attack.to_string()),
            currency: Some(attack.to_string()),
            active: true,
            in_stock: true,
            product_type: None,
            tags: vec![],
            source_updated_at: None,
            updated_at: at(NOW),
            version: 1,
        }];
        let settings = Settings {
            brand: attack.to_string(),
            ..settings()
        };
        let mut page = view::view(&f, &settings, None, at(NOW));
        page.notice = Some(page.t.choice_saved.replace("{brand}", &page.brand));
        let entered = Entered {
            choice: Some(attack.to_string()),
            date: Some(attack.to_string()),
            note: Some(attack.to_string()),
        };
        let html = render(&page, &settings, 200, Some(&entered)).body;
        for needle in ["<script", "<img src=x", "<svg", "</textarea><", "</style><"] {
            assert!(!html.contains(needle), "{attack:?} leaked {needle:?}");
        }
        if attack.contains('<') {
            assert!(html.contains("&lt;"), "{attack:?} shown escaped");
        } else {
            // Data is never evaluated as a template.
            assert!(html.contains(attack), "{attack:?} shown as written");
        }
        let not_found = notice(404, &settings, "en", "t", "d", None).body;
        assert!(
            !not_found.contains("<script"),
            "{attack:?} in the 404 brand"
        );
    }
}
