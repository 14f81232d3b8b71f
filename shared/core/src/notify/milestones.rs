//! Which customer-facing milestones a change to a shipment or order reached.
//! Pure: the notifier feeds it the old and new images of a stream record.

use super::keys::{About, Occasion};
use super::messages::Message;
use crate::model::{Order, Shipment};
use crate::names::named_enum;
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone::local_date;
use crate::zones::Tz;
use chrono::{DateTime, Utc};

named_enum! {
    "snake_case";
    /// A point in an order's journey the customer hears about.
    pub enum Milestone {
        OrderConfirmed,
        Shipped,
        Delayed,
        OutForDelivery,
        FailedAttempt,
        AvailableForPickup,
        Delivered,
        ReturnToSender,
    }
}

impl Milestone {
    /// How far along the journey: a deferred message is dropped once a later milestone happened.
    pub fn journey_rank(self) -> u8 {
        match self {
            Self::OrderConfirmed => 0,
            Self::Shipped => 1,
            Self::Delayed => 2,
            Self::OutForDelivery => 3,
            Self::FailedAttempt => 4,
            Self::AvailableForPickup => 4,
            Self::Delivered => 6,
            Self::ReturnToSender => 6,
        }
    }
}

/// A milestone a shipment or order reached, as the occasion its messages are keyed by (with the
/// attempt number for failed attempts, the new date for delays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub milestone: Milestone,
    pub occasion: Occasion,
}

/// The milestone a shipment's current status stands for, if any.
pub fn milestone_of(status: ShipmentStatus, reason: Option<ExceptionReason>) -> Option<Milestone> {
    match status {
        ShipmentStatus::InTransit => Some(Milestone::Shipped),
        ShipmentStatus::OutForDelivery => Some(Milestone::OutForDelivery),
        ShipmentStatus::FailedAttempt => Some(Milestone::FailedAttempt),
        ShipmentStatus::AvailableForPickup => Some(Milestone::AvailableForPickup),
        ShipmentStatus::Delivered => Some(Milestone::Delivered),
        ShipmentStatus::ReturnToSender => Some(Milestone::ReturnToSender),
        ShipmentStatus::Exception if reason == Some(ExceptionReason::Delay) => {
            Some(Milestone::Delayed)
        }
        _ => None,
    }
}

fn has_carrier_scan(shipment: &Shipment) -> bool {
    !matches!(
        shipment.status,
        ShipmentStatus::Pending
            | ShipmentStatus::InfoReceived
            | ShipmentStatus::Cancelled
            | ShipmentStatus::Expired
    )
}

/// Whether a write that turned `old` into `new` can give the notifier anything to do; when it
/// cannot, the writer leaves it out of the notifier's stream (`ShipmentWrite::quiet`). The
/// notifier acts on a parcel's order link, status and reason, failed attempts, promised day and
/// delivery choice. A repeated in-transit scan changes none of them, nor does a carrier's estimate
/// repeated with a later scan, nor a parcel made for a fulfilment before any scan. Two things
/// are left to the schedule, which reads the parcel when its check falls due: the silence check
/// (filed lazily, see `reminders::index`) and a scan after the promised day ("delayed", told by
/// the check filed for the end of that day, under the same occasion).
pub fn concerns_notifier(old: Option<&Shipment>, new: &Shipment) -> bool {
    // Nobody to tell until the order's link arrives; the write that links it is the one told.
    if new.order.is_none() {
        return false;
    }
    let promised = |s: &Shipment| s.estimated_delivery.as_ref().map(|e| e.latest);
    match old.filter(|o| o.order.is_some()) {
        // New, or newly linked: its state so far counts as reached, unless it has none yet.
        None => {
            new.status != ShipmentStatus::Pending
                || !new.events.is_empty()
                || promised(new).is_some()
                || new.delivery_choice.is_some()
        }
        Some(old) => {
            old.order != new.order
                || old.status != new.status
                || old.reason != new.reason
                || old.failed_attempts() != new.failed_attempts()
                || promised(old) != promised(new)
                || old.delivery_choice != new.delivery_choice
        }
    }
}

/// The milestones a change to a shipment reached. `old` is `None` for a new shipment; a shipment
/// with no order yet reaches nothing (nobody to tell) until its order link arrives, which then
/// counts as reaching its current state.
pub fn shipment_milestones(old: Option<&Shipment>, new: &Shipment, zone: Tz) -> Vec<Reached> {
    let Some(_) = new.order else {
        return Vec::new();
    };
    let old = old.filter(|o| o.order.is_some());
    let about = About::Shipment(new.key());
    let key = |milestone: Milestone, detail: Option<String>| Reached {
        milestone,
        occasion: Occasion::new(about.clone(), milestone.into(), detail),
    };
    let mut reached = Vec::new();
    let status_changed = old.is_none_or(|o| o.status != new.status || o.reason != new.reason);
    let current = milestone_of(new.status, new.reason);

    // "Shipped" only when it is still news: a parcel already delivered gets "delivered" instead.
    if has_carrier_scan(new)
        && old.is_none_or(|o| !has_carrier_scan(o))
        && !new.status.is_terminal()
    {
        reached.push(key(Milestone::Shipped, None));
    }
    if status_changed {
        match current {
            Some(Milestone::Shipped) | None => {}
            Some(Milestone::FailedAttempt) => {}
            Some(Milestone::Delayed) => {}
            Some(milestone) => reached.push(key(milestone, None)),
        }
    }
    let attempts = new.failed_attempts();
    if new.status == ShipmentStatus::FailedAttempt
        && old.is_none_or(|o| o.failed_attempts() < attempts)
    {
        reached.push(key(Milestone::FailedAttempt, Some(attempts.to_string())));
    }
    if let Some(delay) = delay_reached(old, new, zone) {
        reached.push(key(Milestone::Delayed, Some(delay)));
    }
    reached
}

/// Delayed: the carrier revised the estimate later, or an exception says "delay", or a scan came in
/// after the estimated day ended (in the customer's zone) with the parcel still not delivered.
/// Keyed by the date it is now expected (or the day it was missed), so each new delay tells once.
fn delay_reached(old: Option<&Shipment>, new: &Shipment, zone: Tz) -> Option<String> {
    if new.status.is_terminal() {
        return None;
    }
    let latest = new.estimated_delivery.as_ref().map(|e| e.latest);
    let previous = old.and_then(|o| o.estimated_delivery.as_ref().map(|e| e.latest));
    if let (Some(latest), Some(previous)) = (latest, previous) {
        if latest > previous {
            return Some(latest.to_string());
        }
    }
    let delay_exception =
        new.status == ShipmentStatus::Exception && new.reason == Some(ExceptionReason::Delay);
    if delay_exception && old.is_none_or(|o| o.status != new.status || o.reason != new.reason) {
        return Some(format!(
            "exception-{}",
            new.status_at.map(|t| t.timestamp()).unwrap_or_default()
        ));
    }
    let newest = new.events.last()?.occurred_at;
    let promised = latest?;
    let newest_day = local_date(newest, zone)?;
    let was_already_late = old
        .and_then(|o| o.events.last())
        .and_then(|e| local_date(e.occurred_at, zone))
        .is_some_and(|day| day > promised);
    (newest_day > promised && !was_already_late).then(|| format!("missed-{promised}"))
}

/// An order reaches "confirmed" when it first arrives, unless it arrived cancelled. A placeholder
/// (made for a fulfilment that came first, with no customer yet) does not count.
pub fn order_milestones(old: Option<&Order>, new: &Order) -> Vec<Reached> {
    let was_real = old.is_some_and(|o| o.customer_id.is_some());
    if new.customer_id.is_none() || was_real || new.cancelled {
        return Vec::new();
    }
    vec![Reached {
        milestone: Milestone::OrderConfirmed,
        occasion: Occasion::new(About::Order(new.id.clone()), Message::OrderConfirmed, None),
    }]
}

/// Whether a deferred message has been overtaken: a later milestone happened to its shipment.
pub fn superseded(milestone: Milestone, shipment_now: &Shipment) -> bool {
    match milestone_of(shipment_now.status, shipment_now.reason) {
        Some(current) => current.journey_rank() > milestone.journey_rank(),
        None => false,
    }
}

/// When "now" is, for tests and schedules that need one clock.
pub type Now = DateTime<Utc>;
