//! Fuzzes Doorstep's generic store format parser: any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = doorstep_core::providers::generic_store::parse(data);
});
