//! Fuzzes the SES feedback notification parser: any text in, addresses or an error out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(addresses) = doorstep_core::notify::feedback::addresses_to_suppress(&text) {
        for (_, reason) in addresses {
            assert!(reason == "hard bounce" || reason == "complaint");
        }
    }
});
