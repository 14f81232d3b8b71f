//! decide (policy) + render (minijinja) per milestone and channel, English and Thai.
//! Baseline in the same run: `format!` of the same facts into one line, the least any
//! notifier must do to produce a message.

use criterion::{criterion_group, criterion_main, Criterion};
use doorstep_core::chrono::{NaiveDate, Utc};
use doorstep_core::contact::Contact;
use doorstep_core::ids::{CustomerId, Token};
use doorstep_core::model::{Consents, Customer};
use doorstep_core::notify::messages::Message;
use doorstep_core::notify::milestones::Milestone;
use doorstep_core::notify::policy::{plan, Suppressions};
use doorstep_core::notify::render::{ItemLine, MessageContext, Renderer};
use doorstep_core::notify::settings::Channel;
use doorstep_core::settings::Settings as NotifySettings;
use doorstep_core::timezone::TimezoneSource;
use std::hint::black_box;

fn customer(locale: &str) -> Customer {
    Customer {
        id: CustomerId::parse("shopify:1").unwrap(),
        first_name: Some("Nok".into()),
        email: Some(Contact::email("nok@example.com")),
        phone: Some(Contact::phone("+66812345678", None)),
        locale: locale.into(),
        timezone: "Asia/Bangkok".into(),
        timezone_source: TimezoneSource::Address,
        consents: Consents::default(),
        tier: Some("Gold".into()),
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: Utc::now(),
        version: 1,
    }
}

fn message() -> MessageContext {
    MessageContext {
        brand: "Baan Shop".into(),
        first_name: Some("Nok".into()),
        tier: Some("Gold".into()),
        order_name: "#1001".into(),
        carrier: "Kerry Express".into(),
        tracking_number: "KEX123456789".into(),
        tracking_url: format!("https://shop.example.com/t/{}", "t".repeat(32)),
        preferences_url: format!("https://shop.example.com/p/{}", "p".repeat(32)),
        estimated_delivery: NaiveDate::from_ymd_opt(2024, 8, 5),
        items: vec![
            ItemLine {
                title: "Cotton tee".into(),
                quantity: 2,
            },
            ItemLine {
                title: "Cap".into(),
                quantity: 1,
            },
        ],
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

fn decide_and_render(c: &mut Criterion) {
    let settings = NotifySettings::default();
    let renderer = Renderer::new(None, 2);
    let context = message();
    // Midday in Bangkok: nothing is deferred, so every plan renders.
    let now = "2024-05-03T05:00:00Z".parse().unwrap();
    for locale in ["en", "th"] {
        let who = customer(locale);
        for milestone in [
            Milestone::Shipped,
            Milestone::OutForDelivery,
            Milestone::FailedAttempt,
            Milestone::Delivered,
        ] {
            let mut group = c.benchmark_group(format!("notify/{locale}/{milestone}"));
            group.bench_function("baseline_format", |b| {
                b.iter(|| {
                    format!(
                        "{}: order {} {} with {}, expected {:?}. Track: {}",
                        context.brand,
                        context.order_name,
                        milestone,
                        context.carrier,
                        context.estimated_delivery,
                        context.tracking_url
                    )
                })
            });
            group.bench_function("decide_and_render_all_channels", |b| {
                b.iter(|| {
                    let decisions = plan(
                        black_box(Message::from(milestone)),
                        &who,
                        Suppressions::default(),
                        &settings,
                        now,
                    );
                    decisions
                        .into_iter()
                        .map(|(channel, _)| {
                            renderer
                                .render(
                                    Message::from(milestone),
                                    channel,
                                    &who.locale,
                                    "en",
                                    black_box(&context),
                                )
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            });
            group.bench_function("render_sms", |b| {
                b.iter(|| {
                    renderer
                        .render(
                            Message::from(milestone),
                            Channel::Sms,
                            &who.locale,
                            "en",
                            black_box(&context),
                        )
                        .unwrap()
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, decide_and_render);
criterion_main!(benches);
