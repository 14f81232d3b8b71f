//! How an update changes a shipment. Pure: the store adapters only make it atomic.

use crate::model::{EstimatedDelivery, Shipment, TrackingUpdate};
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

/// Merges an update into a shipment:
/// - every new event joins the history (kept sorted; an event seen before is not added twice);
/// - the current status follows the newest event (by time, then milestone rank), so a late event
///   never moves it backwards; a terminal event (delivered, returned, cancelled) ends the journey
///   whatever its timestamp, and once terminal the status stays put;
/// - the estimated delivery keeps the first date ever given and the one from the newest update.
pub fn apply_update(
    shipment: &mut Shipment,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
) -> Applied {
    let known: HashSet<String> = shipment.events.iter().map(|e| e.key()).collect();
    let mut added = HashSet::new();
    let mut new_events = 0;
    for event in &update.events {
        let key = event.key();
        if known.contains(&key) || !added.insert(key) {
            continue;
        }
        shipment.events.push(event.clone());
        new_events += 1;
    }
    if new_events > 0 {
        shipment.events.sort_by_key(|e| e.order_key());
    }

    let status_changed = advance_status(shipment);
    let estimate_changed = revise_estimate(shipment, update);
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

fn advance_status(shipment: &mut Shipment) -> bool {
    if shipment.status.is_terminal() {
        return false;
    }
    // A terminal event ends the journey even when its clock is behind the other scans (EasyPost's
    // own example stamps `delivered` before `out_for_delivery`); otherwise the newest event leads.
    let terminal = shipment
        .events
        .iter()
        .rev()
        .find(|e| e.status.is_terminal());
    let Some(leader) = terminal.or(shipment.events.last()) else {
        return false;
    };
    let current = shipment
        .status_at
        .map(|at| (at, shipment.status.milestone_rank()));
    if !leader.status.is_terminal() && current.is_some_and(|current| leader.order_key() <= current)
    {
        return false;
    }
    let changed = leader.status != shipment.status || leader.reason != shipment.reason;
    shipment.status = leader.status;
    shipment.reason = leader.reason;
    shipment.status_at = Some(leader.occurred_at);
    changed
}

fn revise_estimate(shipment: &mut Shipment, update: &TrackingUpdate) -> bool {
    let Some(date) = update.estimated_delivery else {
        return false;
    };
    let as_of = update.as_of();
    match &mut shipment.estimated_delivery {
        None => {
            shipment.estimated_delivery = Some(EstimatedDelivery {
                original: date,
                latest: date,
                as_of,
            });
            true
        }
        Some(estimate) => {
            // An update with no events (an EDD revision) counts as newest; a late update does not revise.
            let newer = match (as_of, estimate.as_of) {
                (Some(incoming), Some(stored)) => incoming >= stored,
                _ => true,
            };
            if !newer || estimate.latest == date {
                return false;
            }
            estimate.latest = date;
            estimate.as_of = as_of.or(estimate.as_of);
            true
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
        assert_eq!(edd.original.to_string(), "2024-08-05");
        assert_eq!(edd.latest.to_string(), "2024-08-07");
        // A revision with no events (AfterShip edd_revise) always counts as the newest word.
        apply_update(&mut s, &update(&[], Some("2024-08-09")), at(11));
        assert_eq!(
            s.estimated_delivery.unwrap().latest.to_string(),
            "2024-08-09"
        );
    }
}
