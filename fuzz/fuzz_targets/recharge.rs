//! Fuzzes the Recharge parser under each topic (first byte picks the topic) and the edge checks:
//! any bytes in, an event or a reasoned error out, never a panic.
#![no_main]

use doorstep_core::chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    const TOPICS: [&str; 5] = [
        "subscription/created",
        "subscription/updated",
        "subscription/deleted",
        "customer/updated",
        "charge/upcoming",
    ];
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let now = Utc.timestamp_opt(1_795_000_000, 0).single().unwrap_or_default();
    let topic = TOPICS[*first as usize % TOPICS.len()];
    if let Ok(mut event) = doorstep_core::providers::recharge::parse_topic(Some(topic), body) {
        let _ = doorstep_core::bounds::bound_subscription_event(&mut event, now);
    }
});
