//! The ledger's rules, by example and as properties over any sequence of earns, spends,
//! refunds and expiries; reminders across zones and DST.

use super::schedule::{self, Stage};
use super::*;
use crate::model::{LineItem, Order, Provider};
use crate::settings::{ExpiryPolicy, LoyaltySettings};
use chrono::TimeZone;
use proptest::prelude::*;

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn customer() -> CustomerId {
    CustomerId::parse("shopify:7").unwrap()
}

fn policy() -> LoyaltySettings {
    LoyaltySettings::default()
}

fn earn(id: &str, points: u64, earned: &str, expires: Option<&str>) -> Earn {
    Earn {
        id: id.into(),
        source: Source::External,
        points,
        earned_at: at(earned),
        pending: false,
        expires_at: expires.map(at),
        order_id: None,
        reason: None,
    }
}

const NOW: &str = "2026-11-27T05:00:00Z";

#[test]
fn spending_takes_the_lots_that_expire_first() {
    let now = at(NOW);
    let mut account = Account::new(customer());
    account
        .earn(
            earn(
                "a",
                100,
                "2026-10-01T00:00:00Z",
                Some("2027-03-01T00:00:00Z"),
            ),
            &policy(),
            now,
        )
        .unwrap();
    account
        .earn(
            earn(
                "b",
                50,
                "2026-11-01T00:00:00Z",
                Some("2026-12-15T00:00:00Z"),
            ),
            &policy(),
            now,
        )
        .unwrap();
    account
        .earn(
            earn(
                "c",
                70,
                "2026-09-01T00:00:00Z",
                Some("2027-06-01T00:00:00Z"),
            ),
            &policy(),
            now,
        )
        .unwrap();
    assert_eq!(account.balance(now), 220);
    account.spend("s1", 80, now, None, &policy(), now).unwrap();
    let remaining: Vec<(String, u64)> = account
        .lots
        .iter()
        .map(|l| (l.id.clone(), l.remaining))
        .collect();
    assert_eq!(
        remaining,
        [("a".into(), 70), ("b".into(), 0), ("c".into(), 70)]
    );
    assert_eq!(account.balance(now), 140);
    assert_eq!(
        account.next_expiry(now),
        Some((70, at("2027-03-01T00:00:00Z")))
    );
}

#[test]
fn an_expired_lot_is_never_spent_and_leaves_the_balance_when_settled() {
    let mut account = Account::new(customer());
    let earned = at("2026-01-01T00:00:00Z");
    account
        .earn(
            earn(
                "old",
                100,
                "2026-01-01T00:00:00Z",
                Some("2026-06-01T00:00:00Z"),
            ),
            &policy(),
            earned,
        )
        .unwrap();
    let after = at("2026-06-01T00:00:01Z");
    assert_eq!(
        account.balance(after),
        0,
        "past its expiry it cannot be spent, settled or not"
    );
    assert_eq!(
        account.spend("s", 10, after, None, &policy(), after),
        Err(LedgerError::Insufficient {
            points: 10,
            balance: 0
        })
    );
    assert!(account.settle(after));
    assert_eq!(account.lots[0].state, LotState::Expired);
    let expiry = account.ledger.last().unwrap();
    assert_eq!((expiry.kind, expiry.points), (EntryKind::Expire, -100));
    assert!(!account.settle(after), "settling twice changes nothing");
}

#[test]
fn entries_apply_once_and_a_refused_one_changes_nothing() {
    let now = at(NOW);
    let mut account = Account::new(customer());
    let e = earn("txn-1", 100, "2026-11-01T00:00:00Z", None);
    assert_eq!(
        account.earn(e.clone(), &policy(), now),
        Ok(Applied::Applied)
    );
    assert_eq!(account.earn(e, &policy(), now), Ok(Applied::Already));
    assert_eq!(account.balance(now), 100);
    let before = account.clone();
    assert_eq!(
        account.spend("s", 101, now, None, &policy(), now),
        Err(LedgerError::Insufficient {
            points: 101,
            balance: 100
        })
    );
    assert_eq!(account, before);
    assert_eq!(
        account.spend("s", 30, now, None, &policy(), now),
        Ok(Applied::Applied)
    );
    assert_eq!(
        account.spend("s", 30, now, None, &policy(), now),
        Ok(Applied::Already)
    );
    assert_eq!(account.balance(now), 70);
    assert_eq!(
        account.earn(
            earn(
                "late",
                5,
                "2026-11-01T00:00:00Z",
                Some("2026-11-02T00:00:00Z")
            ),
            &policy(),
            now
        ),
        Err(LedgerError::ExpiryPast)
    );
    assert_eq!(
        account.earn(
            earn("zero", 0, "2026-11-01T00:00:00Z", None),
            &policy(),
            now
        ),
        Err(LedgerError::NoPoints)
    );
}

#[test]
fn order_points_wait_for_delivery_and_the_return_window() {
    let policy = LoyaltySettings {
        pending_days: 14,
        ..policy()
    };
    let order_id = OrderId::parse("shopify:1001").unwrap();
    let mut account = Account::new(customer());
    let created = at("2026-11-01T00:00:00Z");
    account
        .earn(
            Earn {
                id: "order:shopify:1001".into(),
                source: Source::Order,
                points: 390,
                earned_at: created,
                pending: true,
                expires_at: None,
                order_id: Some(order_id.clone()),
                reason: None,
            },
            &policy,
            created,
        )
        .unwrap();
    assert_eq!((account.balance(created), account.pending()), (0, 390));
    let delivered = at("2026-11-05T10:00:00Z");
    assert!(account.order_delivered(&order_id, delivered, &policy));
    assert!(!account.order_delivered(&order_id, delivered, &policy));
    assert!(!account.settle(at("2026-11-19T09:59:59Z")));
    assert!(account.settle(at("2026-11-19T10:00:00Z")));
    assert_eq!(account.balance(at("2026-11-19T10:00:00Z")), 390);
    assert_eq!(
        account.lots[0].expires_at,
        at("2027-11-01T00:00:00Z"),
        "fixed: a year after earning"
    );
}

#[test]
fn a_refund_takes_back_what_the_order_earned_even_when_spent_but_never_below_zero() {
    let now = at(NOW);
    let order_id = OrderId::parse("shopify:1001").unwrap();
    let mut account = Account::new(customer());
    let mut from_order = earn("order:shopify:1001", 100, "2026-11-01T00:00:00Z", None);
    from_order.source = Source::Order;
    from_order.order_id = Some(order_id.clone());
    account.earn(from_order, &policy(), now).unwrap();
    account
        .earn(
            earn("gift", 30, "2026-11-02T00:00:00Z", None),
            &policy(),
            now,
        )
        .unwrap();
    account.spend("s", 90, now, None, &policy(), now).unwrap();
    assert_eq!(account.balance(now), 40);
    // Partly refunded: the order now earns 60.
    assert_eq!(
        account.reduce_order("reduce:1:60", &order_id, 60, now),
        Applied::Applied
    );
    assert_eq!(
        account.reduce_order("reduce:1:60", &order_id, 60, now),
        Applied::Already
    );
    assert_eq!(
        account.balance(now),
        0,
        "40 of the 40 points owed were taken back"
    );
    // Cancelled: nothing left to take; the shortfall is on record, the balance stays at zero.
    assert_eq!(
        account.reduce_order("reduce:1:0", &order_id, 0, now),
        Applied::Applied
    );
    assert_eq!(account.balance(now), 0);
    let lot = account
        .lots
        .iter()
        .find(|l| l.id == "order:shopify:1001")
        .unwrap();
    assert_eq!(
        (lot.state, lot.remaining, lot.points),
        (LotState::Voided, 0, 0)
    );
    assert!(account.ledger.iter().any(|e| e.kind == EntryKind::Clawback
        && e.reason
            .as_deref()
            .unwrap_or("")
            .contains("could not be taken back")));
}

#[test]
fn rolling_expiry_moves_every_lot_with_each_earn_or_spend() {
    let policy = LoyaltySettings {
        expiry: ExpiryPolicy::Rolling,
        expiry_months: 6,
        ..policy()
    };
    let mut account = Account::new(customer());
    let t0 = at("2026-01-10T00:00:00Z");
    account
        .earn(earn("a", 100, "2026-01-10T00:00:00Z", None), &policy, t0)
        .unwrap();
    let t1 = at("2026-05-01T00:00:00Z");
    account.spend("s", 10, t1, None, &policy, t1).unwrap();
    assert_eq!(account.lots[0].expires_at, at("2026-11-01T00:00:00Z"));
    let t2 = at("2026-10-01T00:00:00Z");
    account
        .earn(earn("b", 5, "2026-10-01T00:00:00Z", None), &policy, t2)
        .unwrap();
    assert!(account
        .lots
        .iter()
        .all(|l| l.expires_at == at("2027-04-01T00:00:00Z")));
}

#[test]
fn tiers_follow_points_earned_over_twelve_months_and_an_import_holds_for_a_year() {
    let policy = policy();
    let now = at(NOW);
    let mut account = Account::new(customer());
    account
        .earn(
            earn(
                "old",
                5000,
                "2025-10-01T00:00:00Z",
                Some("2027-10-01T00:00:00Z"),
            ),
            &policy,
            at("2025-10-01T00:00:00Z"),
        )
        .unwrap();
    account
        .earn(earn("new", 600, "2026-06-01T00:00:00Z", None), &policy, now)
        .unwrap();
    assert_eq!(
        account.earned_in_window(now),
        600,
        "last year's earn has left the window"
    );
    assert_eq!(
        account.tier(&policy.tiers, now).map(|t| t.name.as_str()),
        Some("Silver")
    );
    account.imported_tier = Some(ImportedTier {
        name: "gold".into(),
        at: at("2026-02-01T00:00:00Z"),
    });
    assert_eq!(
        account.tier(&policy.tiers, now).map(|t| t.name.as_str()),
        Some("Gold")
    );
    assert_eq!(
        account
            .tier(&policy.tiers, at("2027-06-02T00:00:00Z"))
            .map(|t| t.name.as_str()),
        Some("Member"),
        "a year on, the import no longer holds and the 600 have aged out"
    );
}

#[test]
fn order_points_come_from_the_subtotal_without_refunded_lines() {
    let line = |id: &str, price: &str, quantity| LineItem {
        id: id.into(),
        product_id: None,
        variant_id: None,
        sku: None,
        title: "Tee".into(),
        price: price.into(),
        quantity,
    };
    let mut order = Order {
        id: OrderId::parse("shopify:1").unwrap(),
        platform: Provider::Shopify,
        name: "#1".into(),
        customer_id: Some(customer()),
        currency: Some("THB".into()),
        line_items: vec![
            line("1", "390.00", 2),
            line("2", "1,290.50", 1),
            line("3", "n/a", 4),
        ],
        shipments: vec![],
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: at(NOW),
        ship_to_city: None,
        refunded_line_items: vec![],
        counted: false,
        was_placeholder: false,
        version: 0,
    };
    let half = LoyaltySettings {
        points_per_unit: 0.5,
        ..policy()
    };
    assert_eq!(order_points(&order, &policy()), 2070);
    assert_eq!(order_points(&order, &half), 1035);
    order.refunded_line_items = vec!["2".into()];
    assert_eq!(order_points(&order, &policy()), 780);
    order.cancelled = true;
    assert_eq!(order_points(&order, &policy()), 0);
}

#[test]
fn reminders_fall_on_the_customers_days_warning_then_last_chance() {
    let policy = policy();
    let bangkok = crate::zones::tz("Asia/Bangkok");
    let mut account = Account::new(customer());
    // Expires at 20:00 UTC on 26 December: already the 27th in Bangkok.
    let t0 = at("2026-11-01T00:00:00Z");
    account
        .earn(
            earn(
                "a",
                120,
                "2026-11-01T00:00:00Z",
                Some("2026-12-26T20:00:00Z"),
            ),
            &policy,
            t0,
        )
        .unwrap();
    account
        .earn(
            earn(
                "b",
                30,
                "2026-11-02T00:00:00Z",
                Some("2026-12-27T03:00:00Z"),
            ),
            &policy,
            t0,
        )
        .unwrap();
    let days = schedule::expiring_by_day(&account, bangkok, t0);
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        [(NaiveDate::from_ymd_opt(2026, 12, 27).unwrap(), 150)]
    );
    assert!(schedule::reminders(&account, &policy, bangkok, at("2026-11-26T16:59:00Z")).is_empty());
    let warning = schedule::reminders(&account, &policy, bangkok, at("2026-11-26T17:00:00Z"));
    assert_eq!(warning.len(), 1);
    assert_eq!((warning[0].stage, warning[0].points), (Stage::Warning, 150));
    let last = schedule::reminders(&account, &policy, bangkok, at("2026-12-19T17:30:00Z"));
    assert_eq!(last[0].stage, Stage::LastChance);
    // Spent meanwhile: nothing left to remind about.
    let now = at("2026-12-20T00:00:00Z");
    account.spend("s", 150, now, None, &policy, now).unwrap();
    assert!(schedule::reminders(&account, &policy, bangkok, now).is_empty());
}

#[test]
fn the_next_due_instant_is_a_local_midnight_across_dst() {
    let policy = policy();
    let new_york = crate::zones::tz("America/New_York");
    let mut account = Account::new(customer());
    let t0 = at("2026-01-05T00:00:00Z");
    // Expires 5 April 2026, local. The warning day (6 March) is before the DST change on
    // 8 March, the last-chance day (29 March) after it.
    let expires = new_york
        .with_ymd_and_hms(2026, 4, 5, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    account
        .earn(
            Earn {
                expires_at: Some(expires),
                ..earn("a", 10, "2026-01-05T00:00:00Z", None)
            },
            &policy,
            t0,
        )
        .unwrap();
    let warning = schedule::next_due(&account, &policy, new_york, t0).unwrap();
    assert_eq!(warning, at("2026-03-06T05:00:00Z"), "midnight EST");
    // From then the warning is owed, at once, until it is recorded as sent.
    assert_eq!(
        schedule::next_due(&account, &policy, new_york, warning),
        Some(warning)
    );
    let day = NaiveDate::from_ymd_opt(2026, 4, 5).unwrap();
    account.reminded.push((day, Stage::Warning));
    let last_chance = schedule::next_due(&account, &policy, new_york, warning).unwrap();
    assert_eq!(last_chance, at("2026-03-29T04:00:00Z"), "midnight EDT");
    account.reminded.push((day, Stage::LastChance));
    assert_eq!(
        schedule::next_due(&account, &policy, new_york, last_chance),
        Some(expires)
    );
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    Earn {
        id: u8,
        points: u64,
        expires_in_days: i64,
    },
    Spend {
        id: u8,
        points: u64,
    },
    Refund {
        order: u8,
        to: u64,
    },
    Advance {
        days: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, 1u64..500, 1i64..400).prop_map(|(id, points, expires_in_days)| Op::Earn {
            id,
            points,
            expires_in_days
        }),
        (0u8..12, 1u64..600).prop_map(|(id, points)| Op::Spend { id, points }),
        (0u8..12, 0u64..500).prop_map(|(order, to)| Op::Refund { order, to }),
        (0i64..90).prop_map(|days| Op::Advance { days }),
    ]
}

/// Runs a history from a fixed start; returns the clock at the end and the operations that
/// were applied (a refused spend, or a refund of an order not earned yet, writes nothing).
fn run(ops: &[Op], account: &mut Account, start: DateTime<Utc>) -> (DateTime<Utc>, Vec<Op>) {
    let policy = policy();
    let mut now = start;
    let mut applied_ops = Vec::new();
    for op in ops {
        let applied = match op {
            Op::Earn {
                id,
                points,
                expires_in_days,
            } => {
                let order = OrderId::parse(&format!("shopify:{id}")).unwrap();
                account.earn(
                    Earn {
                        id: format!("order:{id}"),
                        source: Source::Order,
                        points: *points,
                        earned_at: now,
                        pending: false,
                        expires_at: Some(now + Duration::days(*expires_in_days)),
                        order_id: Some(order),
                        reason: None,
                    },
                    &policy,
                    now,
                ) == Ok(Applied::Applied)
            }
            Op::Spend { id, points } => {
                let before: Vec<(DateTime<Utc>, u64)> = account
                    .lots
                    .iter()
                    .map(|l| (l.expires_at, l.spendable(now)))
                    .collect();
                let spent = account.spend(&format!("spend:{id}"), *points, now, None, &policy, now)
                    == Ok(Applied::Applied);
                if spent {
                    // FIFO: no lot lost points while one expiring earlier kept some.
                    let after: Vec<u64> = account.lots.iter().map(|l| l.spendable(now)).collect();
                    for (i, (exp_i, before_i)) in before.iter().enumerate() {
                        if after[i] < *before_i {
                            for (j, (exp_j, _)) in before.iter().enumerate() {
                                assert!(
                                    !(exp_j < exp_i && after[j] > 0),
                                    "FIFO broken: {before:?} -> {after:?}"
                                );
                            }
                        }
                    }
                }
                spent
            }
            Op::Refund { order, to } => {
                let id = OrderId::parse(&format!("shopify:{order}")).unwrap();
                account.reduce_order(&format!("reduce:{order}:{to}"), &id, *to, now)
                    == Applied::Applied
            }
            Op::Advance { days } => {
                now += Duration::days(*days);
                account.settle(now);
                false
            }
        };
        if applied {
            applied_ops.push(op.clone());
        }
        for lot in &account.lots {
            assert!(
                lot.remaining <= lot.points,
                "a lot holds more than it earned: {lot:?}"
            );
            if lot.expires_at <= now {
                assert_eq!(lot.spendable(now), 0, "an expired lot is spendable");
            }
        }
        let spendable: u64 = account.lots.iter().map(|l| l.spendable(now)).sum();
        assert_eq!(account.balance(now), spendable);
    }
    (now, applied_ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_history_keeps_fifo_and_never_spends_what_expired(ops in prop::collection::vec(op(), 1..60)) {
        let mut account = Account::new(customer());
        run(&ops, &mut account, at("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn replaying_a_history_changes_nothing(ops in prop::collection::vec(op(), 1..40)) {
        let start = at("2026-01-01T00:00:00Z");
        let mut account = Account::new(customer());
        let (end, applied) = run(&ops, &mut account, start);
        let once = account.clone();
        // Every delivery that was applied, delivered again at the end (the clock does not go back).
        let (_, again) = run(&applied, &mut account, end);
        prop_assert!(again.is_empty(), "applied twice: {:?}", again);
        prop_assert_eq!(account, once);
    }
}

#[test]
fn only_a_rise_above_the_first_tier_is_announced() {
    let settings = crate::settings::Settings {
        loyalty: Some(policy()),
        ..Default::default()
    };
    let with = |tier: Option<&str>| {
        let mut account = Account::new(customer());
        account.tier = tier.map(Into::into);
        account
    };
    let rose = |old: Option<&str>, new: Option<&str>| {
        service::tier_upgrade(&settings, Some(&with(old)), &with(new)).is_some()
    };
    assert!(!rose(None, Some("Member")), "a new account's first tier");
    assert!(rose(None, Some("Silver")));
    assert!(rose(Some("Member"), Some("Silver")));
    assert!(rose(Some("Silver"), Some("Gold")));
    assert!(!rose(Some("Gold"), Some("Silver")));
    assert!(!rose(Some("Silver"), Some("Silver")));
    assert!(!rose(Some("Silver"), None));
    assert!(service::tier_upgrade(&settings, None, &with(Some("Gold"))).is_some());
}
