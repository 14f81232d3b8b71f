//! Fuzzes the phone parser on any text, in any region: a valid number comes out in E.164 and
//! reads back as itself; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let split = text.char_indices().nth(2).map_or(text.len(), |(i, _)| i);
    let (region, raw) = text.split_at(split);
    for region in [Some(region), None, Some("TH"), Some("US")] {
        if let Some(e164) = doorstep_core::phone::to_e164(raw, region) {
            assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(doorstep_core::phone::to_e164(&e164, None).as_deref(), Some(e164.as_str()));
        }
    }
});
