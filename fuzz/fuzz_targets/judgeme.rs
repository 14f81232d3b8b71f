//! Fuzzes the judgeme review parser and its edge checks: never a panic, ratings only 1 to 5.
#![no_main]

use doorstep_core::chrono::{TimeZone, Utc};
use doorstep_core::providers::InboundRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Utc.timestamp_opt(1_795_000_000, 0).single().unwrap_or_default();
    let request = InboundRequest {
        headers: &[],
        query: None,
        body: data,
    };
    if let Ok(mut delivery) = doorstep_core::providers::judgeme::parse(&request) {
        assert!((1..=5).contains(&delivery.review.rating));
        let _ = doorstep_core::bounds::bound_review(&mut delivery.review, now);
    }
});
