//! How an update changes a shipment. Pure: the store adapters only make it atomic.

use crate::bounds::MAX_EVENTS_PER_SHIPMENT;
use crate::model::{EstimatedDelivery, Shipment, TrackingEvent, TrackingUpdate};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// What applying an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub new_events: usize,
    pub status_changed: bool,
    pub estimate_changed: bool,
}

impl Applied {
    pub fn changed(&self) -> bool {
        self.new_events > 0 || self.status_changed || self.estimate_changed
    }
}

/// Merges an update into a shipment. The result depends only on the set of events and estimates
/// ever applied, never on the order they arrived in:
/// - every new event joins the history (sorted by time, milestone rank, then content; an event
///   seen before is not added twice); the history keeps its newest events, and always its
///   terminal ones;
/// - the current status is the newest terminal event's (delivered, returned, cancelled) if there
///   is one, else the newest event's: a late event never moves it backwards, and a terminal
///   status never goes back to a non-terminal one;
/// - the estimated delivery keeps the earliest-made promise and the latest one (by the time of
///   the update that brought each; an update with no events counts as made `now`).
pub fn apply_update(
    shipment: &mut Shipment,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
) -> Applied {
    let new_events = merge_events(shipment, update);
    let status_changed = recompute_status(shipment);
    let estimate_changed = revise_estimate(shipment, update, now);
    let applied = Applied {
        new_events,
        status_changed,
        estimate_changed,
    };
    if applied.changed() {
        shipment.updated_at = now;
    }
    applied
}

/// The total order of a history: time, then milestone rank, then content (so two events at the
/// same instant always sort the same way).
fn sort_key(event: &TrackingEvent) -> (DateTime<Utc>, u8, String) {
    let (at, rank) = event.order_key();
    (at, rank, event.key())
}

/// Adds the update's unseen events; returns how many of them the (capped) history kept.
fn merge_events(shipment: &mut Shipment, update: &TrackingUpdate) -> usize {
    let known: HashSet<String> = shipment.events.iter().map(TrackingEvent::key).collect();
    let mut added = HashSet::new();
    for event in &update.events {
        let key = event.key();
        if known.contains(&key) || !added.insert(key) {
            continue;
        }
        shipment.events.push(event.clone());
    }
    if added.is_empty() {
        return 0;
    }
    shipment.events.sort_by_cached_key(sort_key);
    cap_history(&mut shipment.events);
    shipment
        .events
        .iter()
        .filter(|e| added.contains(&e.key()))
        .count()
}

/// Keeps the newest [`MAX_EVENTS_PER_SHIPMENT`] events, terminal ones first (they decide the
/// status, so they must never be the ones dropped). Applied to a sorted history, the result is
/// the same whatever order events arrived in.
fn cap_history(events: &mut Vec<TrackingEvent>) {
    if events.len() <= MAX_EVENTS_PER_SHIPMENT {
        return;
    }
    let terminal = events.iter().filter(|e| e.status.is_terminal()).count();
    let keep_terminal = terminal.min(MAX_EVENTS_PER_SHIPMENT);
    let keep_other = MAX_EVENTS_PER_SHIPMENT - keep_terminal;
    let mut terminal_seen = 0;
    let mut other_seen = 0;
    // Walk from the newest; keep the first `keep_*` of each kind.
    let mut keep = vec![false; events.len()];
    for (index, event) in events.iter().enumerate().rev() {
        let (seen, limit) = if event.status.is_terminal() {
            (&mut terminal_seen, keep_terminal)
        } else {
            (&mut other_seen, keep_other)
        };
        if *seen < limit {
            *seen += 1;
            keep[index] = true;
        }
    }
    let mut flags = keep.into_iter();
    events.retain(|_| flags.next().unwrap_or(false));
}

/// Sets the status from the history; true if it changed.
fn recompute_status(shipment: &mut Shipment) -> bool {
    let terminal = shipment
        .events
        .iter()
        .rev()
        .find(|e| e.status.is_terminal());
    let Some(leader) = terminal.or(shipment.events.last()) else {
        return false;
    };
    let changed = leader.status != shipment.status
        || leader.reason != shipment.reason
        || shipment.status_at != Some(leader.occurred_at);
    let status_changed = leader.status != shipment.status || leader.reason != shipment.reason;
    if changed {
        shipment.status = leader.status;
        shipment.reason = leader.reason;
        shipment.status_at = Some(leader.occurred_at);
    }
    status_changed
}

fn revise_estimate(shipment: &mut Shipment, update: &TrackingUpdate, now: DateTime<Utc>) -> bool {
    let Some(date) = update.estimated_delivery else {
        return false;
    };
    // When the promise was made: the newest event it came with, else the moment it arrived.
    let made_at = update.as_of().unwrap_or(now);
    match &mut shipment.estimated_delivery {
        None => {
            shipment.estimated_delivery = Some(EstimatedDelivery {
                original: date,
                original_as_of: Some(made_at),
                latest: date,
                as_of: Some(made_at),
            });
            true
        }
        Some(estimate) => {
            let before = estimate.clone();
            // Ties on time go to the later date, so the outcome never depends on arrival order.
            let newer = estimate
                .as_of
                .is_none_or(|stored| (made_at, date) > (stored, estimate.latest));
            if newer {
                estimate.latest = date;
                estimate.as_of = Some(made_at);
            }
            let older = estimate
                .original_as_of
                .is_some_and(|stored| (made_at, date) < (stored, estimate.original));
            if older {
                estimate.original = date;
                estimate.original_as_of = Some(made_at);
            }
            *estimate != before
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CarrierSlug, TrackingNumber};
    use crate::model::{Provider, TrackingEvent};
    use crate::status::ShipmentStatus::{self, *};
    use chrono::NaiveDate;

    fn at(hour: u32) -> DateTime<Utc> {
        format!("2024-08-0{}T{:02}:00:00Z", 1 + hour / 24, hour % 24)
            .parse()
            .unwrap()
    }

    fn update(events: &[(ShipmentStatus, u32)], edd: Option<&str>) -> TrackingUpdate {
        TrackingUpdate {
            provider: Provider::Generic,
            carrier: CarrierSlug::parse("ups").unwrap(),
            tracking_number: TrackingNumber::parse("1Z999").unwrap(),
            delivery_id: None,
            events: events
                .iter()
                .map(|(status, hour)| TrackingEvent {
                    status: *status,
                    reason: None,
                    occurred_at: at(*hour),
                    description: format!("{status} at {hour}"),
                    location: None,
                    raw_code: status.to_string(),
                })
                .collect(),
            estimated_delivery: edd.map(|d| d.parse::<NaiveDate>().unwrap()),
        }
    }

    fn shipment() -> Shipment {
        Shipment::new(
            CarrierSlug::parse("ups").unwrap(),
            TrackingNumber::parse("1Z999").unwrap(),
            at(0),
        )
    }

    #[test]
    fn given_events_in_order_when_applied_then_status_follows_the_newest() {
        let mut s = shipment();
        apply_update(
            &mut s,
            &update(&[(InfoReceived, 1), (InTransit, 2)], None),
            at(3),
        );
        assert_eq!(s.status, InTransit);
        apply_update(&mut s, &update(&[(OutForDelivery, 5)], None), at(6));
        assert_eq!(s.status, OutForDelivery);
        assert_eq!(s.events.len(), 3);
    }

    #[test]
    fn given_a_late_event_when_applied_then_history_grows_but_status_stays() {
        let mut s = shipment();
        apply_update(&mut s, &update(&[(OutForDelivery, 10)], None), at(11));
        let applied = apply_update(&mut s, &update(&[(InTransit, 4)], None), at(12));
        assert_eq!(s.status, OutForDelivery);
        assert_eq!(applied.new_events, 1);
        assert!(!applied.status_changed);
        assert_eq!(
            s.events.first().unwrap().status,
            InTransit,
            "history stays sorted by time"
        );
    }

    #[test]
    fn given_a_terminal_status_when_a_newer_event_arrives_then_it_is_kept_in_history_only() {
        let mut s = shipment();
        apply_update(&mut s, &update(&[(Delivered, 10)], None), at(11));
        apply_update(&mut s, &update(&[(InTransit, 20)], None), at(21));
        assert_eq!(s.status, Delivered);
        assert_eq!(s.events.len(), 2);
    }

    #[test]
    fn given_a_terminal_event_stamped_before_other_scans_then_it_still_ends_the_journey() {
        let mut s = shipment();
        apply_update(
            &mut s,
            &update(&[(InTransit, 2), (OutForDelivery, 9), (Delivered, 1)], None),
            at(10),
        );
        assert_eq!(s.status, Delivered);
        apply_update(&mut s, &update(&[(OutForDelivery, 30)], None), at(31));
        assert_eq!(s.status, Delivered);
    }

    #[test]
    fn given_the_same_events_twice_when_applied_then_nothing_changes() {
        let mut s = shipment();
        let u = update(&[(InTransit, 2), (InTransit, 2)], Some("2024-08-05"));
        assert!(apply_update(&mut s, &u, at(3)).changed());
        assert_eq!(
            s.events.len(),
            1,
            "duplicates inside one update collapse too"
        );
        let before = s.clone();
        assert!(!apply_update(&mut s, &u, at(4)).changed());
        assert_eq!(s, before);
    }

    #[test]
    fn given_same_time_events_when_applied_then_the_further_milestone_wins() {
        let mut s = shipment();
        apply_update(
            &mut s,
            &update(&[(Delivered, 5), (OutForDelivery, 5)], None),
            at(6),
        );
        assert_eq!(s.status, Delivered);
    }

    #[test]
    fn estimated_delivery_keeps_original_and_latest_and_ignores_late_revisions() {
        let mut s = shipment();
        apply_update(
            &mut s,
            &update(&[(InTransit, 2)], Some("2024-08-05")),
            at(3),
        );
        apply_update(
            &mut s,
            &update(&[(InTransit, 8)], Some("2024-08-07")),
            at(9),
        );
        apply_update(
            &mut s,
            &update(&[(InfoReceived, 1)], Some("2024-08-04")),
            at(10),
        );
        let edd = s.estimated_delivery.clone().unwrap();
        // The late webhook cannot revise the latest promise, but it reveals the earliest one:
        // "original" is the first promise made, whatever order the webhooks arrived in.
        assert_eq!(edd.original.to_string(), "2024-08-04");
        assert_eq!(edd.latest.to_string(), "2024-08-07");
        // A revision with no events (AfterShip edd_revise) always counts as the newest word.
        apply_update(&mut s, &update(&[], Some("2024-08-09")), at(11));
        assert_eq!(
            s.estimated_delivery.unwrap().latest.to_string(),
            "2024-08-09"
        );
    }
}

/// Property tests: the merge depends on the set of events, never on their arrival order.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::ids::{CarrierSlug, TrackingNumber};
    use crate::model::{Provider, TrackingEvent};
    use crate::status::{ExceptionReason, ShipmentStatus};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            // A busy week: many events share an instant, to exercise every tie-break.
            (0i64..7 * 24).prop_map(
                |h| DateTime::from_timestamp(1_717_200_000 + h * 3600, 0).unwrap_or_default()
            ),
            Just(DateTime::<Utc>::MIN_UTC),
            Just(DateTime::<Utc>::MAX_UTC),
            any::<i32>()
                .prop_map(|s| DateTime::from_timestamp(i64::from(s) * 97, 0).unwrap_or_default()),
        ]
    }

    fn event() -> impl Strategy<Value = TrackingEvent> {
        (
            proptest::sample::select(<ShipmentStatus as strum::VariantArray>::VARIANTS.to_vec()),
            proptest::option::of(proptest::sample::select(
                <ExceptionReason as strum::VariantArray>::VARIANTS.to_vec(),
            )),
            instant(),
            0u8..4,
            proptest::option::of(0u8..3),
        )
            .prop_map(|(status, reason, occurred_at, description, location)| {
                TrackingEvent {
                    status,
                    reason,
                    occurred_at,
                    description: format!("scan {description}"),
                    location: location.map(|l| format!("hub {l}")),
                    raw_code: status.as_str().into(),
                }
            })
    }

    fn estimate() -> impl Strategy<Value = Option<NaiveDate>> {
        proptest::option::of(
            (0u32..20).prop_map(|d| NaiveDate::from_ymd_opt(2024, 6, 1 + d).unwrap_or_default()),
        )
    }

    fn updates(max_events: usize) -> impl Strategy<Value = Vec<TrackingUpdate>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(event(), 0..max_events),
                estimate(),
            ),
            1..8,
        )
        .prop_map(|parts| {
            parts
                .into_iter()
                .map(|(events, estimated_delivery)| TrackingUpdate {
                    provider: Provider::Generic,
                    carrier: CarrierSlug::parse("ups").unwrap_or_else(|| unreachable!()),
                    tracking_number: TrackingNumber::parse("1Z1").unwrap_or_else(|| unreachable!()),
                    delivery_id: None,
                    events,
                    estimated_delivery,
                })
                .collect()
        })
    }

    fn fresh() -> Shipment {
        Shipment::new(
            CarrierSlug::parse("ups").unwrap_or_else(|| unreachable!()),
            TrackingNumber::parse("1Z1").unwrap_or_else(|| unreachable!()),
            DateTime::from_timestamp(1_717_000_000, 0).unwrap_or_default(),
        )
    }

    /// Applies updates in order, checking that a terminal status never goes back.
    fn replay(updates: &[TrackingUpdate]) -> Shipment {
        let now = DateTime::from_timestamp(1_718_000_000, 0).unwrap_or_default();
        let mut shipment = fresh();
        for update in updates {
            let was_terminal = shipment.status.is_terminal();
            apply_update(&mut shipment, update, now);
            assert!(
                !was_terminal || shipment.status.is_terminal(),
                "a terminal status regressed to {:?}",
                shipment.status
            );
            assert!(shipment.events.len() <= MAX_EVENTS_PER_SHIPMENT);
        }
        shipment
    }

    fn outcome(s: &Shipment) -> impl PartialEq + std::fmt::Debug + '_ {
        (
            s.status,
            s.reason,
            s.status_at,
            &s.events,
            &s.estimated_delivery,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_interleaving_ends_in_the_same_shipment(
            (updates, shuffled) in updates(12).prop_flat_map(|u| {
                let shuffled = Just(u.clone()).prop_shuffle();
                (Just(u), shuffled)
            }),
            duplicate in any::<proptest::sample::Index>(),
        ) {
            let in_order = replay(&updates);
            // The same deliveries in another order, one of them delivered twice.
            let mut again = shuffled.clone();
            again.push(shuffled[duplicate.index(shuffled.len())].clone());
            let reordered = replay(&again);
            prop_assert_eq!(outcome(&in_order), outcome(&reordered));
            // Applying everything once more changes nothing.
            let mut twice = reordered.clone();
            let now = DateTime::from_timestamp(1_718_000_000, 0).unwrap_or_default();
            for update in &updates {
                prop_assert!(!apply_update(&mut twice, update, now).changed());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The carrier webhook may read a lagging copy of the parcel first: when an update brings
        /// nothing new to an older copy (answered without a write), it brings nothing new to
        /// the latest either, because the latest is the older copy with more applied.
        #[test]
        fn nothing_new_to_an_older_copy_is_nothing_new_to_the_latest(
            updates in updates(12),
            split in any::<proptest::sample::Index>(),
            others in updates(12),
            probe in any::<proptest::sample::Index>(),
        ) {
            let now = DateTime::from_timestamp(1_718_000_000, 0).unwrap_or_default();
            let older = replay(&updates[..split.index(updates.len() + 1)]);
            let latest = replay(&updates);
            // One the copies have seen, or (as often) one they have not.
            let pool: Vec<&TrackingUpdate> = updates.iter().chain(&others).collect();
            let update = pool[probe.index(pool.len())];
            let brings_nothing = !apply_update(&mut older.clone(), update, now).changed();
            if brings_nothing {
                prop_assert!(!apply_update(&mut latest.clone(), update, now).changed());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A write the notifier is left out of (`concerns_notifier` false) reaches no milestone
        /// but the one the schedule tells instead (a scan after the promised day), and moves
        /// no check of the schedule's earlier: the check already filed still fires first.
        #[test]
        fn a_write_left_out_of_the_notifier_gives_it_nothing_to_do(updates in updates(6)) {
            use crate::notify::milestones::{concerns_notifier, shipment_milestones, Milestone};
            use crate::reminders::due;
            let now = DateTime::from_timestamp(1_718_000_000, 0).unwrap_or_default();
            let settings = crate::settings::Settings::default();
            let zone = crate::zones::Tz::UTC;
            let mut shipment = fresh();
            shipment.order = Some(crate::model::OrderLink {
                order_id: crate::ids::OrderId::parse("shopify:1001").unwrap_or_else(|| unreachable!()),
                fulfillment_id: None,
                items: Vec::new(),
            });
            prop_assert!(!concerns_notifier(None, &shipment), "a parcel with no scan yet");
            for update in &updates {
                let before = shipment.clone();
                if !apply_update(&mut shipment, update, now).changed()
                    || concerns_notifier(Some(&before), &shipment)
                {
                    continue;
                }
                for reached in shipment_milestones(Some(&before), &shipment, zone) {
                    prop_assert_eq!(reached.milestone, Milestone::Delayed);
                    let detail = reached.occasion.detail.clone().unwrap_or_default();
                    prop_assert!(detail.starts_with("missed-"), "{}", detail);
                }
                let (was, is) = (due(&before, &settings, zone), due(&shipment, &settings, zone));
                for (kind, at) in &is {
                    let filed = was.iter().filter(|(k, _)| k == kind).map(|(_, t)| *t).min();
                    prop_assert!(filed.is_some_and(|t| t <= *at), "{kind:?} moved earlier");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn a_capped_history_is_still_order_independent(
            (updates, shuffled) in updates(90).prop_flat_map(|u| {
                let shuffled = Just(u.clone()).prop_shuffle();
                (Just(u), shuffled)
            }),
        ) {
            let (a, b) = (replay(&updates), replay(&shuffled));
            prop_assert_eq!(outcome(&a), outcome(&b));
        }
    }
}
