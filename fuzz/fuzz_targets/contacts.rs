//! Fuzzes contact, identifier and locale normalization: any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let split = text.char_indices().nth(2).map_or(text.len(), |(i, _)| i);
    let (region, raw) = text.split_at(split);
    if let Ok(phone) = doorstep_core::contact::PhoneNumber::parse(raw, Some(region)) {
        assert!(phone.as_str().starts_with('+'));
    }
    if let Ok(email) = doorstep_core::contact::EmailAddress::parse(&text) {
        assert!(email.as_str().contains('@'));
    }
    if let Some(tracking) = doorstep_core::ids::TrackingNumber::parse(&text) {
        assert_eq!(
            doorstep_core::ids::TrackingNumber::parse(tracking.as_str()),
            Some(tracking.clone())
        );
    }
    if let Some(slug) = doorstep_core::ids::CarrierSlug::parse(&text) {
        assert!(!slug.as_str().is_empty());
    }
    let _ = doorstep_core::model::normalize_locale(Some(&text), "en");
    let _ = doorstep_core::timezone::resolve(Some(&text), Some(raw), Some(region), "UTC");
});
