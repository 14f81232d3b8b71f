//! The notification rules as unit tests: milestones, consent, fallback, quiet hours across zones
//! and DST, supersession, and rendering in English and Thai.

use super::milestones::{order_milestones, shipment_milestones, superseded, Milestone};
use super::policy::{decide, plan, quiet_until, Decision, Kind, Suppressions};
use super::render::{format_date, template_locale, ItemLine, MessageContext, Rendered, Renderer};
use super::settings::{Channel, QuietHours};
use super::sms;
use crate::contact::Contact;
use crate::ids::{CarrierSlug, TrackingNumber};
use crate::ids::{CustomerId, OrderId, Token};
use crate::model::{Consents, Customer, EstimatedDelivery, OrderLink, Shipment, TrackingEvent};
use crate::settings::Settings as NotifySettings;
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone::TimezoneSource;
use crate::zones::Tz;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn customer(zone: &str) -> Customer {
    Customer {
        id: CustomerId::parse("shopify:1").unwrap(),
        first_name: Some("Nok".into()),
        email: Some(Contact::email("nok@example.com")),
        phone: Some(Contact::phone("+66812345678", None)),
        locale: "th".into(),
        timezone: zone.into(),
        timezone_source: TimezoneSource::Address,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: at("2024-01-01T00:00:00Z"),
        version: 1,
    }
}

fn shipment(status: ShipmentStatus, events: &[(ShipmentStatus, &str)]) -> Shipment {
    let mut s = Shipment::new(
        CarrierSlug::parse("ups").unwrap(),
        TrackingNumber::parse("1Z1").unwrap(),
        at("2024-01-01T00:00:00Z"),
    );
    s.status = status;
    s.order = Some(OrderLink {
        order_id: OrderId::parse("shopify:1").unwrap(),
        fulfillment_id: None,
        items: vec![],
    });
    s.events = events
        .iter()
        .map(|(status, when)| TrackingEvent {
            status: *status,
            reason: None,
            occurred_at: at(when),
            description: String::new(),
            location: None,
            raw_code: String::new(),
        })
        .collect();
    s.status_at = s.events.last().map(|e| e.occurred_at);
    s
}

fn names(reached: &[super::milestones::Reached]) -> Vec<Milestone> {
    reached.iter().map(|r| r.milestone).collect()
}

#[test]
fn first_carrier_scan_is_shipped_then_each_transition_once() {
    use ShipmentStatus::*;
    let info = shipment(InfoReceived, &[(InfoReceived, "2024-05-01T00:00:00Z")]);
    let transit = shipment(
        InTransit,
        &[
            (InfoReceived, "2024-05-01T00:00:00Z"),
            (InTransit, "2024-05-02T00:00:00Z"),
        ],
    );
    assert_eq!(
        names(&shipment_milestones(Some(&info), &transit, Tz::UTC)),
        [Milestone::Shipped]
    );
    let more = shipment(
        InTransit,
        &[
            (InTransit, "2024-05-02T00:00:00Z"),
            (InTransit, "2024-05-03T00:00:00Z"),
        ],
    );
    assert!(
        shipment_milestones(Some(&transit), &more, Tz::UTC).is_empty(),
        "another transit scan is not news"
    );
    let ofd = shipment(OutForDelivery, &[(OutForDelivery, "2024-05-04T00:00:00Z")]);
    assert_eq!(
        names(&shipment_milestones(Some(&more), &ofd, Tz::UTC)),
        [Milestone::OutForDelivery]
    );
    let delivered = shipment(Delivered, &[(Delivered, "2024-05-04T05:00:00Z")]);
    let reached = shipment_milestones(Some(&ofd), &delivered, Tz::UTC);
    assert_eq!(names(&reached), [Milestone::Delivered]);
    assert_eq!(reached[0].occasion.to_string(), "ups#1Z1#delivered");
}

#[test]
fn a_parcel_with_no_order_tells_nobody_until_its_order_link_arrives() {
    use ShipmentStatus::*;
    let mut parked = shipment(
        OutForDelivery,
        &[
            (InTransit, "2024-05-02T00:00:00Z"),
            (OutForDelivery, "2024-05-03T00:00:00Z"),
        ],
    );
    parked.order = None;
    assert!(shipment_milestones(None, &parked, Tz::UTC).is_empty());
    let mut linked = parked.clone();
    linked.order = Some(OrderLink {
        order_id: OrderId::parse("shopify:o").unwrap(),
        fulfillment_id: None,
        items: vec![],
    });
    assert_eq!(
        names(&shipment_milestones(Some(&parked), &linked, Tz::UTC)),
        [Milestone::Shipped, Milestone::OutForDelivery]
    );
}

#[test]
fn every_failed_attempt_is_its_own_milestone() {
    use ShipmentStatus::*;
    let one = shipment(FailedAttempt, &[(FailedAttempt, "2024-05-03T00:00:00Z")]);
    let first = shipment_milestones(
        Some(&shipment(
            OutForDelivery,
            &[(OutForDelivery, "2024-05-02T00:00:00Z")],
        )),
        &one,
        Tz::UTC,
    );
    assert_eq!(
        first
            .iter()
            .find(|r| r.milestone == Milestone::FailedAttempt)
            .unwrap()
            .occasion
            .to_string(),
        "ups#1Z1#failed_attempt-1"
    );
    let two = shipment(
        FailedAttempt,
        &[
            (FailedAttempt, "2024-05-03T00:00:00Z"),
            (OutForDelivery, "2024-05-04T00:00:00Z"),
            (FailedAttempt, "2024-05-04T06:00:00Z"),
        ],
    );
    let second = shipment_milestones(Some(&one), &two, Tz::UTC);
    assert_eq!(
        second
            .iter()
            .find(|r| r.milestone == Milestone::FailedAttempt)
            .unwrap()
            .occasion
            .to_string(),
        "ups#1Z1#failed_attempt-2"
    );
}

#[test]
fn a_later_estimate_or_a_missed_day_is_a_delay() {
    use ShipmentStatus::*;
    let mut before = shipment(InTransit, &[(InTransit, "2024-05-02T00:00:00Z")]);
    let edd = |d: &str| {
        Some(EstimatedDelivery {
            original: "2024-05-04".parse().unwrap(),
            original_as_of: None,
            latest: d.parse().unwrap(),
            as_of: None,
        })
    };
    before.estimated_delivery = edd("2024-05-04");
    let mut after = before.clone();
    after.estimated_delivery = edd("2024-05-06");
    let reached = shipment_milestones(Some(&before), &after, Tz::UTC);
    assert_eq!(
        reached[0].occasion.to_string(),
        "ups#1Z1#delayed-2024-05-06"
    );
    // A scan after the promised day ended in Bangkok (UTC+7), still not delivered.
    let mut late = before.clone();
    late.events.push(TrackingEvent {
        occurred_at: at("2024-05-04T17:30:00Z"),
        ..before.events[0].clone()
    });
    assert_eq!(
        names(&shipment_milestones(
            Some(&before),
            &late,
            crate::zones::tz("Asia/Bangkok")
        )),
        [Milestone::Delayed]
    );
    assert!(
        shipment_milestones(Some(&before), &late, Tz::UTC).is_empty(),
        "still 4 May in UTC"
    );
    let mut exception = before.clone();
    exception.status = Exception;
    exception.reason = Some(ExceptionReason::Delay);
    assert_eq!(
        names(&shipment_milestones(Some(&before), &exception, Tz::UTC)),
        [Milestone::Delayed]
    );
}

#[test]
fn an_order_is_confirmed_once_and_never_when_cancelled() {
    let order = crate::model::Order {
        id: OrderId::parse("shopify:1").unwrap(),
        platform: crate::model::Provider::Shopify,
        name: "#1".into(),
        customer_id: Some(CustomerId::parse("shopify:c").unwrap()),
        currency: None,
        line_items: vec![],
        shipments: vec![],
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: at("2024-01-01T00:00:00Z"),
        ship_to_city: None,
        refunded_line_items: vec![],
        counted: false,
        was_placeholder: false,
        version: 1,
    };
    assert_eq!(
        names(&order_milestones(None, &order)),
        [Milestone::OrderConfirmed]
    );
    assert!(order_milestones(Some(&order), &order).is_empty());
    let placeholder = crate::model::Order {
        customer_id: None,
        ..order.clone()
    };
    assert_eq!(
        names(&order_milestones(Some(&placeholder), &order)),
        [Milestone::OrderConfirmed]
    );
    let cancelled = crate::model::Order {
        cancelled: true,
        ..order
    };
    assert!(order_milestones(None, &cancelled).is_empty());
}

#[test]
fn quiet_hours_defer_sms_to_the_morning_in_the_customers_zone() {
    let settings = NotifySettings::default();
    // 23:30 in Bangkok (UTC+7) is 16:30 UTC: defer to 08:00 Bangkok = 01:00 UTC next day.
    let c = customer("Asia/Bangkok");
    let now = at("2024-05-03T16:30:00Z");
    assert_eq!(
        decide(
            Kind::Transactional,
            Channel::Sms,
            &c,
            Suppressions::default(),
            &settings,
            now
        ),
        Decision::Defer {
            until: at("2024-05-04T01:00:00Z")
        }
    );
    assert_eq!(
        decide(
            Kind::Transactional,
            Channel::Email,
            &c,
            Suppressions::default(),
            &settings,
            now
        ),
        Decision::Send,
        "email is not held back"
    );
    // Just after midnight the window ends the same day.
    assert_eq!(
        quiet_until(
            settings.quiet_hours.unwrap(),
            crate::zones::tz("Asia/Bangkok"),
            at("2024-05-03T17:30:00Z")
        ),
        Some(at("2024-05-04T01:00:00Z"))
    );
    // The same instant is mid-morning in London: send.
    assert_eq!(
        decide(
            Kind::Transactional,
            Channel::Sms,
            &customer("Europe/London"),
            Suppressions::default(),
            &settings,
            at("2024-05-03T09:30:00Z")
        ),
        Decision::Send
    );
    // 08:00 itself is outside the window; 21:00 is inside.
    assert_eq!(
        quiet_until(
            settings.quiet_hours.unwrap(),
            Tz::UTC,
            at("2024-05-03T08:00:00Z")
        ),
        None
    );
    assert!(quiet_until(
        settings.quiet_hours.unwrap(),
        Tz::UTC,
        at("2024-05-03T21:00:00Z")
    )
    .is_some());
}

#[test]
fn quiet_hours_follow_daylight_saving_changes() {
    let quiet = QuietHours {
        start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
    };
    // New York springs forward on 10 March 2024: 08:00 that morning is EDT (UTC-4), not EST.
    assert_eq!(
        quiet_until(
            quiet,
            crate::zones::tz("America/New_York"),
            at("2024-03-10T04:00:00Z")
        ),
        Some(at("2024-03-10T12:00:00Z"))
    );
    // The evening before, 08:00 next morning is still computed in the new offset.
    assert_eq!(
        quiet_until(
            quiet,
            crate::zones::tz("America/New_York"),
            at("2024-03-10T02:30:00Z")
        ),
        Some(at("2024-03-10T12:00:00Z"))
    );
    // Falling back on 3 November: 08:00 is EST (UTC-5).
    assert_eq!(
        quiet_until(
            quiet,
            crate::zones::tz("America/New_York"),
            at("2024-11-03T06:00:00Z")
        ),
        Some(at("2024-11-03T13:00:00Z"))
    );
    // A window ending inside a DST gap (02:30 does not exist in New York on 10 March) ends at 03:00.
    let gap = QuietHours {
        start: NaiveTime::from_hms_opt(1, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
    };
    assert_eq!(
        quiet_until(
            gap,
            crate::zones::tz("America/New_York"),
            at("2024-03-10T06:30:00Z")
        ),
        Some(at("2024-03-10T07:00:00Z"))
    );
}

#[test]
fn consent_opt_outs_and_suppressions_are_honoured() {
    let settings = NotifySettings::default();
    let now = at("2024-05-03T05:00:00Z");
    let mut c = customer("Asia/Bangkok");
    c.consents.transactional_sms = false;
    assert!(matches!(
        decide(
            Kind::Transactional,
            Channel::Sms,
            &c,
            Suppressions::default(),
            &settings,
            now
        ),
        Decision::Suppress { .. }
    ));
    let bounced = Suppressions {
        email_suppressed: true,
        sms_opted_out: false,
    };
    assert_eq!(
        decide(
            Kind::Transactional,
            Channel::Email,
            &customer("UTC"),
            bounced,
            &settings,
            now
        ),
        Decision::Suppress {
            reason: "email address bounced or complained".into()
        }
    );
    let c = customer("UTC");
    assert!(
        matches!(
            decide(
                Kind::Marketing,
                Channel::Email,
                &c,
                Suppressions::default(),
                &settings,
                now
            ),
            Decision::Suppress { .. }
        ),
        "marketing needs consent"
    );
    let mut consenting = customer("UTC");
    consenting.consents.marketing_email = true;
    assert_eq!(
        decide(
            Kind::Marketing,
            Channel::Email,
            &consenting,
            Suppressions::default(),
            &settings,
            now
        ),
        Decision::Send
    );
    consenting.marketing_suppressed_until = Some(at("2024-06-01T00:00:00Z"));
    assert!(
        matches!(
            decide(
                Kind::Marketing,
                Channel::Email,
                &consenting,
                Suppressions::default(),
                &settings,
                now
            ),
            Decision::Suppress { .. }
        ),
        "paused after a poor review"
    );
}

#[test]
fn an_unusable_channel_falls_back_to_the_other() {
    let settings = NotifySettings::default();
    let now = at("2024-05-03T12:00:00Z");
    // "shipped" is email-only by default; no usable email means SMS instead.
    let mut c = customer("UTC");
    c.email = Some(Contact::email("not-an-email"));
    let decisions = plan(
        super::messages::Message::Shipped,
        &c,
        Suppressions::default(),
        &settings,
        now,
    );
    assert_eq!(decisions.len(), 2);
    assert!(matches!(
        decisions[0],
        (Channel::Email, Decision::Suppress { .. })
    ));
    assert_eq!(decisions[1], (Channel::Sms, Decision::Send));
    // Out for delivery uses both already: no extra fallback, one of them suppressed.
    let mut c = customer("UTC");
    c.phone = None;
    let decisions = plan(
        super::messages::Message::OutForDelivery,
        &c,
        Suppressions::default(),
        &settings,
        now,
    );
    assert_eq!(decisions.len(), 2);
    // With fallback off, nothing replaces the unusable channel.
    let strict = NotifySettings {
        fallback: false,
        ..NotifySettings::default()
    };
    let mut c = customer("UTC");
    c.email = None;
    assert_eq!(
        plan(
            super::messages::Message::Shipped,
            &c,
            Suppressions::default(),
            &strict,
            now
        )
        .len(),
        1
    );
}

#[test]
fn a_deferred_message_is_superseded_by_a_later_milestone() {
    use ShipmentStatus::*;
    let delivered = shipment(Delivered, &[(Delivered, "2024-05-04T05:00:00Z")]);
    assert!(superseded(Milestone::OutForDelivery, &delivered));
    assert!(superseded(
        Milestone::Shipped,
        &shipment(OutForDelivery, &[])
    ));
    assert!(!superseded(
        Milestone::OutForDelivery,
        &shipment(OutForDelivery, &[])
    ));
    assert!(!superseded(Milestone::Delivered, &delivered));
}

fn message() -> MessageContext {
    MessageContext {
        brand: "Baan <Shop>".into(),
        first_name: Some("Nok".into()),
        tier: Some("Gold".into()),
        order_name: "#1001".into(),
        carrier: "Kerry Express".into(),
        tracking_number: "KEX1".into(),
        tracking_url: "https://shop.example.com/t/abcdefghijklmnopqrstuvwxyz012345".into(),
        preferences_url: "https://shop.example.com/p/pref".into(),
        estimated_delivery: Some(NaiveDate::from_ymd_opt(2024, 8, 5).unwrap()),
        items: vec![ItemLine {
            title: "Tee <b>M</b>".into(),
            quantity: 2,
        }],
        parcels_remaining: 1,
        order_complete: false,
        attempt: 1,
        choice: None,
        points: None,
        stalled_days: None,
        subscription: None,
        alert: None,
        vip: false,
        referral_url: None,
        loyalty_program: false,
        store_url: None,
    }
}

#[test]
fn every_milestone_renders_in_english_and_thai_on_both_channels() {
    let renderer = Renderer::new(None, 2);
    for &milestone in Milestone::all() {
        let milestone = super::messages::Message::from(milestone);
        for locale in ["en", "th"] {
            let sms = renderer
                .render(milestone, Channel::Sms, locale, "en", &message())
                .unwrap();
            let Rendered::Sms { body, segments } = sms else {
                panic!()
            };
            assert!(
                !body.is_empty() && body.contains("#1001"),
                "{milestone} {locale}: {body}"
            );
            assert!(
                segments <= 2,
                "{milestone} {locale}: {segments} segments: {body}"
            );
            assert!(
                !body.contains('…'),
                "built-in SMS fit the default cap uncut: {milestone} {locale}: {body}"
            );
            assert_eq!(
                sms::measure(&body).encoding == sms::Encoding::Ucs2,
                locale == "th",
                "{milestone} {locale}"
            );
            let Rendered::Email {
                subject,
                html,
                text,
            } = renderer
                .render(milestone, Channel::Email, locale, "en", &message())
                .unwrap()
            else {
                panic!()
            };
            assert!(subject.contains("Baan <Shop>"), "subjects are plain text");
            assert!(
                html.contains("Baan &lt;Shop&gt;") && !html.contains("<b>M</b>"),
                "HTML is escaped: {html}"
            );
            assert!(text.contains("Tee <b>M</b> x 2"));
            // minijinja escapes '/' in HTML as &#x2f;, which browsers read back as '/'.
            assert!(html
                .replace("&#x2f;", "/")
                .contains("href=\"https://shop.example.com/p/pref\""));
        }
    }
}

/// A customer's message can go out on either channel: the merchant may choose SMS for it under
/// `[channels]`, and with `fallback` (the default) it goes by SMS when the email address cannot be
/// used. A missing template there fails the send for good, and the job run that sends it (until
/// these existed, a review request to a customer without a usable email address did).
#[test]
fn every_message_renders_on_every_channel_it_can_reach_in_english_and_thai() {
    use super::messages::{Audience, Message};
    let renderer = Renderer::new(None, 2);
    let mut facts = message();
    facts.subscription = Some(super::render::SubscriptionLine {
        items: facts.items.clone(),
        total: Some("฿840.00".into()),
        next_charge_on: NaiveDate::from_ymd_opt(2024, 9, 1),
        manage_url: Some("https://shop.example.com/s/manage-token".into()),
    });
    facts.points = Some(super::render::PointsLine {
        points: 120,
        value: Some("฿12.00".into()),
        expires_on: NaiveDate::from_ymd_opt(2024, 9, 30),
        balance: 480,
        tier: Some("Gold".into()),
        spend_url: Some("https://shop.example.com".into()),
    });
    for &message in Message::all() {
        // A follow-up renders with its rule's own templates (`follow_up_{name}`), tested apart.
        if message == Message::FollowUp {
            continue;
        }
        let channels: Vec<Channel> = match message.spec().audience {
            Audience::Customer => vec![Channel::Email, Channel::Sms],
            Audience::Merchant => message
                .spec()
                .channels
                .iter()
                .copied()
                .filter(|c| *c != Channel::Webhook)
                .collect(),
        };
        for locale in ["en", "th"] {
            for &channel in &channels {
                let rendered = renderer.render(message, channel, locale, "en", &facts);
                match rendered {
                    Ok(Rendered::Sms { body, segments }) => {
                        assert!(
                            body.starts_with("Baan <Shop>") && segments <= 2,
                            "{message} {locale}: {segments} segments: {body}"
                        );
                        assert!(!body.contains('…'), "{message} {locale} cut: {body}");
                    }
                    Ok(Rendered::Email { subject, text, .. }) => {
                        assert!(
                            !subject.is_empty() && !text.is_empty(),
                            "{message} {locale}"
                        )
                    }
                    Err(e) => panic!("{message} {channel} {locale}: {e}"),
                }
            }
        }
    }
    let sms = |message, locale| match renderer.render(message, Channel::Sms, locale, "en", &facts) {
        Ok(Rendered::Sms { body, .. }) => body,
        other => panic!("{other:?}"),
    };
    for locale in ["en", "th"] {
        assert!(
            sms(Message::ManageLink, locale).contains("https://shop.example.com/s/manage-token")
        );
        assert!(sms(Message::ReviewRequest, locale).contains("#1001"));
    }
}

#[test]
fn thai_messages_use_thai_dates_and_count_as_ucs2() {
    let renderer = Renderer::new(None, 2);
    let Rendered::Sms { body, segments } = renderer
        .render(
            super::messages::Message::Shipped,
            Channel::Sms,
            "th-TH",
            "en",
            &message(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(body.contains("5 ส.ค."), "{body}");
    assert!(!body.contains('…'), "fits without cutting: {body}");
    assert_eq!(segments, sms::measure(&body).segments);
    assert_eq!(
        segments, 2,
        "Thai is UCS-2: over 70 units needs a second (67-unit) part"
    );
    let Rendered::Email { text, .. } = renderer
        .render(
            super::messages::Message::Shipped,
            Channel::Email,
            "th",
            "en",
            &message(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(
        text.contains("วันจันทร์ที่ 5 สิงหาคม 2567"),
        "email uses the full date, Buddhist Era year: {text}"
    );
    assert_eq!(
        format_date(NaiveDate::from_ymd_opt(2024, 8, 5).unwrap(), "en"),
        "Monday 5 August 2024"
    );
    assert_eq!(template_locale("fr-CA", "th"), "th");
    assert_eq!(template_locale("en-GB", "th"), "en");
}

#[test]
fn split_orders_say_what_arrived_and_what_is_still_coming() {
    let renderer = Renderer::new(None, 3);
    let Rendered::Email { text, .. } = renderer
        .render(
            super::messages::Message::Delivered,
            Channel::Email,
            "en",
            "en",
            &message(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(text.contains("1 more parcel is still on the way"), "{text}");
    assert!(text.contains("Tee <b>M</b> x 2"));
    let last = MessageContext {
        order_complete: true,
        parcels_remaining: 0,
        ..message()
    };
    let Rendered::Email { subject, .. } = renderer
        .render(
            super::messages::Message::Delivered,
            Channel::Email,
            "en",
            "en",
            &last,
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(subject.contains("order #1001 delivered"), "{subject}");
}

#[test]
fn merchant_templates_override_built_in_ones_file_by_file() {
    let dir = std::env::temp_dir().join(format!("doorstep-templates-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("en")).unwrap();
    std::fs::write(
        dir.join("en/shipped.sms.j2"),
        "{{ brand }} says: on its way! {{ tracking_url }}",
    )
    .unwrap();
    let renderer = Renderer::new(Some(dir.clone()), 2);
    let Rendered::Sms { body, .. } = renderer
        .render(
            super::messages::Message::Shipped,
            Channel::Sms,
            "en",
            "en",
            &message(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(body.starts_with("Baan <Shop> says: on its way!"));
    let Rendered::Sms { body, .. } = renderer
        .render(
            super::messages::Message::Delivered,
            Channel::Sms,
            "en",
            "en",
            &message(),
        )
        .unwrap()
    else {
        panic!()
    };
    assert!(
        body.contains("more on the way"),
        "others stay built in: {body}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn only_a_message_no_other_worker_can_be_deciding_goes_without_a_claim() {
    use super::keys::{About, Occasion};
    use super::messages::Message;
    use super::service::{decided_alone, Subject};
    let customer = customer("Asia/Bangkok");
    let parcel = shipment(ShipmentStatus::InTransit, &[]).key();
    for &message in Message::all() {
        for channel in [Channel::Email, Channel::Sms, Channel::Webhook] {
            for on_own_change in [false, true] {
                let occasion = Occasion::new(About::Shipment(parcel.clone()), message, None);
                let subject = Subject {
                    on_own_change,
                    ..Subject::about_customer(occasion, &customer)
                };
                // A job that decides it too, a text quiet hours may hold for the schedule, or
                // a change of another record (a filled-in placeholder order telling its
                // parcels) could be deciding it at the same time.
                let contested = !on_own_change
                    || channel == Channel::Sms
                    || matches!(
                        message,
                        Message::Delayed
                            | Message::PickupReminder
                            | Message::RenewalReminder
                            | Message::PointsExpiryWarning
                            | Message::PointsExpiryLastChance
                            | Message::ReviewRequest
                            | Message::ReviewThanks
                            | Message::MerchantAlert
                            | Message::FollowUp
                    );
                assert_eq!(
                    decided_alone(&subject, channel),
                    !contested,
                    "{message} on {channel:?}, on its own change: {on_own_change}"
                );
            }
        }
    }
}
