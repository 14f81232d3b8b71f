//! Fuzzes the signature-header parsers: Doorstep-Signature, UPS bearer tokens and client credentials: any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (header, body) = text.split_once('\n').unwrap_or((&text, ""));
    let result = doorstep_core::signature::verify_timestamped(
        Some(header),
        "h",
        b"secret",
        body.as_bytes(),
        1_700_000_000,
        300,
    );
    assert!(result.is_err() || header.contains("v1="));
    let _ = doorstep_core::providers::ups::verify_headers(None, Some(header), "secret", 1_700_000_000);
    let _ = doorstep_core::providers::ups::verify_headers(Some(header), None, "secret", 1_700_000_000);
    let _ =
        doorstep_core::providers::ups::check_client(Some(header), body.as_bytes(), "id", "secret");
});
