//! Fuzzes the loyalty format's parser and its edge checks: any bytes in, an event or a reasoned
//! error out, never a panic.
#![no_main]

use doorstep_core::chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Utc.timestamp_opt(1_795_000_000, 0).single().unwrap_or_default();
    if let Ok(mut event) = doorstep_core::providers::generic_loyalty::parse(data) {
        let _ = doorstep_core::bounds::bound_loyalty_event(&mut event, now);
    }
});
