//! Fuzzes the Shopify parser under each topic (first byte picks the topic): any bytes in, a result or a reasoned error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    const TOPICS: [&str; 9] = [
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "fulfillments/create",
        "fulfillments/update",
        "products/create",
        "products/update",
        "refunds/create",
        "other",
    ];
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let _ = doorstep_core::providers::shopify::parse(
        Some(TOPICS[*first as usize % TOPICS.len()]),
        body,
    );
});
