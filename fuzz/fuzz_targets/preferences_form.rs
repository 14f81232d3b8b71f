//! Fuzzes the preferences form parser and the page templates that echo a customer's data back:
//! whatever the text, the page carries no raw markup of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = doorstep_core::preferences::consents_from_form(data);
    let raw = String::from_utf8_lossy(data);
    // Marked, so the check below finds this text and not the page's own markup.
    let text = format!("zq{raw}qz");
    let page = doorstep_core::pages::render(
        "not_found",
        serde_json::json!({"lang": "en", "brand": text, "message": text}),
    )
    .unwrap_or_default();
    if raw.contains(['<', '>', '"', '&']) {
        assert!(!page.contains(&text), "raw text reached the page");
    }
});
