//! Fuzzes the preferences form parser and the page that echoes a customer's data back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = doorstep_core::preferences::consents_from_form(data);
    let text = String::from_utf8_lossy(data);
    let escaped = doorstep_core::preferences::escape(&text);
    assert!(!escaped.contains('<') && !escaped.contains('"'));
});
