//! Fuzzes the manage page's form reading (first byte picks the action): any form in, a change
//! within range, a reason, or a closed page, never a panic.
#![no_main]

use doorstep_core::chrono::{NaiveDate, Utc};
use doorstep_core::ids::{CustomerId, SubscriptionId};
use doorstep_core::model::Provider;
use doorstep_core::subscriptions::page::{parse_change, reschedule_range, MAX_QUANTITY};
use doorstep_core::subscriptions::{ChangeKind, Subscription, SubscriptionStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, form)) = data.split_first() else {
        return;
    };
    let kinds = ChangeKind::all();
    let kind = kinds[*first as usize % kinds.len()];
    let Some(today) = NaiveDate::from_ymd_opt(2026, 12, 7) else {
        return;
    };
    let subscription = Subscription {
        id: SubscriptionId::new(Provider::Recharge, "1"),
        customer_id: CustomerId::of_store_customer(Provider::Recharge, "2"),
        status: match first % 3 {
            0 => SubscriptionStatus::Active,
            1 => SubscriptionStatus::Paused,
            _ => SubscriptionStatus::Cancelled,
        },
        interval_days: Some(30),
        next_charge_on: (first % 5 != 0).then_some(today),
        currency: None,
        items: Vec::new(),
        requests: Vec::new(),
        link_requested_at: None,
        source_updated_at: None,
        updated_at: Utc::now(),
        version: 1,
    };
    if let Ok(Ok(change)) = parse_change(kind, form, &subscription, today) {
        let (low, high) = reschedule_range(today);
        if kind == ChangeKind::Reschedule {
            assert!(change.date.is_some_and(|d| d >= low && d <= high));
        }
        assert!(change.quantity.is_none_or(|q| (1..=MAX_QUANTITY).contains(&q)));
        assert!(change.reason.is_none_or(|r| r.chars().count() <= 500));
    }
});
