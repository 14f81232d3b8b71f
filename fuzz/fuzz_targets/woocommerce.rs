//! Fuzzes the WooCommerce parser (first byte picks the topic, or none: the ping): any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    const TOPICS: [Option<&str>; 5] = [
        Some("order.created"),
        Some("order.updated"),
        Some("product.created"),
        Some("product.updated"),
        None,
    ];
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let _ =
        doorstep_core::providers::woocommerce::parse(TOPICS[*first as usize % TOPICS.len()], body);
});
