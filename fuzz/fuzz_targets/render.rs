//! Fuzzes rendering with arbitrary customer-supplied text (names, item titles, brand): every
//! milestone renders, SMS stay within the cap, and the HTML never carries the raw text's tags.
#![no_main]

use doorstep_core::notify::messages::Message;
use doorstep_core::notify::render::{AlertLine, ItemLine, MessageContext, Rendered, Renderer};
use doorstep_core::notify::settings::Channel;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(None, 2))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).to_string();
    let Some(first) = data.first() else { return };
    let message = Message::all()[*first as usize % Message::all().len()];
    let locale = if first % 2 == 0 { "th" } else { "en" };
    let context = MessageContext {
        brand: "Shop".into(),
        first_name: Some(text.clone()),
        tier: None,
        order_name: "#1".into(),
        carrier: "UPS".into(),
        tracking_number: "1Z1".into(),
        tracking_url: "https://shop.example.com/t/abcdefghijklmnopqrstuvwxyz012345".into(),
        preferences_url: "https://shop.example.com/p/x".into(),
        estimated_delivery: None,
        items: vec![ItemLine {
            title: text.clone(),
            quantity: 1,
        }],
        parcels_remaining: 1,
        order_complete: false,
        attempt: 1,
        choice: None,
        points: None,
        stalled_days: None,
        subscription: None,
        alert: Some(AlertLine {
            kind: "bad_review".into(),
            summary: text.clone(),
            details: vec![text.clone()],
            tier: Some(text.clone()),
            order_name: None,
            tracking_url: None,
        }),
        vip: first % 3 == 0,
        referral_url: None,
        loyalty_program: first % 5 == 0,
        store_url: None,
    };
    if let Ok(Rendered::Sms { segments, .. }) =
        renderer().render(message, Channel::Sms, locale, "en", &context)
    {
        assert!(segments <= 2);
    }
    if let Ok(Rendered::Email { html, .. }) =
        renderer().render(message, Channel::Email, locale, "en", &context)
    {
        if text.contains("<script") {
            assert!(!html.contains("<script"));
        }
    }
});
