//! Fuzzes the UPS Track Alert parser: any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let result = doorstep_core::providers::ups::parse(data);
    if let Ok(updates) = result {
        for update in updates {
            assert!(!update.tracking_number.as_str().is_empty());
            assert!(!update.carrier.as_str().is_empty());
            let _ = update.dedupe_key();
        }
    }
});
