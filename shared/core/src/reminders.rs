//! Shipping reminders the schedule sends without waiting for a carrier: a parcel in transit
//! that went silent (or whose estimated day ended) reaches the `delayed` milestone, and a parcel
//! left at a pickup point gets a reminder before the carrier sends it back.
//!
//! The notifier files each parcel under the day its check falls due (the schedule's index), so
//! the `stalled-shipments` and `pickup-reminders` jobs read only the parcels due, never a scan.

use crate::ids::{CarrierSlug, ShipmentKey, TrackingNumber};
use crate::model::Shipment;
use crate::notify::keys::{About, Occasion};
use crate::notify::messages::Message;
use crate::notify::service::{Notifier, NotifyError, Subject, Summary};
use crate::ports::{read_recent, DueEntry, DueKind, Store, StoreError, DUE_PER_RUN};
use crate::settings::Settings;
use crate::status::ShipmentStatus;
use crate::timezone;
use crate::zones::Tz;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

/// The occasion detail of a delay the schedule found (a carrier's own delays say otherwise).
pub const STALLED_PREFIX: &str = "stalled-";

/// A parcel's key in the schedule's index: `{carrier}#{tracking number}`.
pub fn subject_of(key: &ShipmentKey) -> String {
    format!("{}#{}", key.carrier, key.tracking_number)
}

fn key_of(subject: &str) -> Option<ShipmentKey> {
    let (carrier, tracking) = subject.split_once('#')?;
    Some(ShipmentKey {
        carrier: CarrierSlug::parse(carrier)?,
        tracking_number: TrackingNumber::parse(tracking)?,
    })
}

fn last_scan(shipment: &Shipment) -> Option<DateTime<Utc>> {
    shipment.events.last().map(|e| e.occurred_at)
}

/// When the customer's estimated day is over: local midnight after it.
fn estimate_over(shipment: &Shipment, zone: Tz) -> Option<DateTime<Utc>> {
    let day = shipment.estimated_delivery.as_ref()?.latest.succ_opt()?;
    timezone::instant_at(zone, day, NaiveTime::MIN)
}

/// When each check falls due for this parcel as it stands.
pub fn due(shipment: &Shipment, settings: &Settings, zone: Tz) -> Vec<(DueKind, DateTime<Utc>)> {
    let reminders = &settings.reminders;
    let mut due = Vec::new();
    if shipment.status.is_terminal() {
        return due;
    }
    if shipment.status == ShipmentStatus::InTransit {
        if let Some(at) = last_scan(shipment) {
            let stalled =
                crate::bounds::later(at, Duration::days(i64::from(reminders.stalled_days)));
            due.push((DueKind::Stalled, stalled));
        }
    }
    if let Some(at) = estimate_over(shipment, zone) {
        due.push((DueKind::Stalled, at));
    }
    if shipment.status == ShipmentStatus::AvailableForPickup {
        if let Some(at) = shipment.status_at {
            let remind = crate::bounds::later(
                at,
                Duration::days(i64::from(reminders.pickup_reminder_days)),
            );
            due.push((DueKind::Pickup, remind));
        }
    }
    due
}

/// The day the first check of `kind` falls due, and when.
fn first_due(due: &[(DueKind, DateTime<Utc>)], kind: DueKind) -> Option<DateTime<Utc>> {
    due.iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, at)| *at)
        .min()
}

/// Files the parcel under the day its first check of each kind falls due (the notifier calls
/// this for every shipment change). Filing is lazy: every scan in transit moves the silence
/// check later, but while a check is already filed for a time still to come and no later than
/// the new one, that entry fires first and [`run_job`] files the next one then. So a parcel
/// costs one index write per check the schedule actually makes, not one per scan.
pub async fn index(
    store: &dyn Store,
    settings: &Settings,
    old: Option<&Shipment>,
    new: &Shipment,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let today = now.date_naive();
    let before = old.map(|o| due(o, settings, zone)).unwrap_or_default();
    let after = due(new, settings, zone);
    let subject = subject_of(&new.key());
    for kind in [DueKind::Stalled, DueKind::Pickup] {
        let Some(next) = first_due(&after, kind) else {
            continue;
        };
        // Filed (by an earlier change or by the job) for a day the job has not reached yet, or
        // for a time still to come today: the job only takes an entry at its time, and files
        // the parcel's next check then.
        let covered = first_due(&before, kind).is_some_and(|filed| {
            let day = filed.date_naive();
            filed <= next && (today < day || (day == today && now < filed))
        });
        if !covered {
            store
                .add_due(&DueEntry::at(kind, next, &subject), now)
                .await?;
        }
    }
    Ok(())
}

/// Whether the parcel is late by the schedule's reckoning at `now`, and the occasion's detail:
/// `missed-{day}` when its estimated day ended without delivery (the same occasion a late
/// carrier scan reaches, so it is told once either way), `stalled-{day of the last scan}` when
/// it has been silent in transit for `stalled_days`.
pub fn stalled(
    shipment: &Shipment,
    settings: &Settings,
    zone: Tz,
    now: DateTime<Utc>,
) -> Option<String> {
    if shipment.status.is_terminal() {
        return None;
    }
    if let (Some(over), Some(estimate)) =
        (estimate_over(shipment, zone), &shipment.estimated_delivery)
    {
        if over <= now {
            return Some(format!("missed-{}", estimate.latest));
        }
    }
    let silent_for = Duration::days(i64::from(settings.reminders.stalled_days));
    let last = last_scan(shipment)?;
    (shipment.status == ShipmentStatus::InTransit && crate::bounds::later(last, silent_for) <= now)
        .then(|| format!("{STALLED_PREFIX}{}", last.date_naive()))
}

/// Whether a parcel at a pickup point is due its reminder (keyed by the day it arrived there).
pub fn pickup_due(shipment: &Shipment, settings: &Settings, now: DateTime<Utc>) -> Option<String> {
    let since = shipment.status_at?;
    let wait = Duration::days(i64::from(settings.reminders.pickup_reminder_days));
    (shipment.status == ShipmentStatus::AvailableForPickup
        && crate::bounds::later(since, wait) <= now)
        .then(|| since.date_naive().to_string())
}

/// What a shipping-reminder job did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobOutcome {
    pub due_read: usize,
    pub shipments_read: usize,
    /// The parcels it reminds about, as `{carrier}#{tracking number}` with the message.
    pub reminders: Vec<PlannedShipmentReminder>,
    pub messages: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedShipmentReminder {
    pub shipment: String,
    pub message: Message,
    pub detail: String,
}

/// The `stalled-shipments` (`kind` [`DueKind::Stalled`]) or `pickup-reminders`
/// ([`DueKind::Pickup`]) job: the parcels filed under a day up to today, checked again from
/// their records; those still due are told through the notifier's policy (quiet hours defer,
/// consent holds). With `preview`, nothing is written or sent.
pub async fn run_job(
    notifier: &Notifier<'_>,
    kind: DueKind,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<JobOutcome, NotifyError> {
    let store = notifier.store;
    let mut outcome = JobOutcome::default();
    let entries = store.due_subjects(kind, now, DUE_PER_RUN).await?;
    outcome.due_read = entries.len();
    for (done, entry) in entries.iter().enumerate() {
        if let Err(e) = one(notifier, entry, now, preview, &mut outcome).await {
            crate::jobs::entry_failed(notifier, entry, e, &entries[..done], preview, now).await?;
        }
    }
    crate::jobs::finish_due(notifier, kind, &entries, preview).await?;
    Ok(outcome)
}

/// Checks one filed parcel: told if still due, and its next check of the kind filed.
async fn one(
    notifier: &Notifier<'_>,
    entry: &DueEntry,
    now: DateTime<Utc>,
    preview: bool,
    outcome: &mut JobOutcome,
) -> Result<(), NotifyError> {
    let store = notifier.store;
    let settings = notifier.settings;
    let Some(key) = key_of(&entry.subject) else {
        return Ok(());
    };
    // Read as a replica has it (half the read units on DynamoDB): deciding from the parcel of a
    // second ago is what the run a second earlier would have done. Only a parcel not found is
    // looked for again at the latest.
    let found =
        read_recent(|freshness| store.read_shipment(&key.carrier, &key.tracking_number, freshness))
            .await?;
    let Some(shipment) = found else {
        return Ok(());
    };
    outcome.shipments_read += 1;
    // A parcel that has arrived (or gone back), or has left the pickup point, has nothing of
    // this kind left to tell or to file (see [`due`]): whom it is for need not be read.
    let settled = match entry.kind {
        DueKind::Stalled => shipment.status.is_terminal(),
        DueKind::Pickup => shipment.status != ShipmentStatus::AvailableForPickup,
        DueKind::Loyalty | DueKind::Renewal | DueKind::ReviewRequest | DueKind::FollowUp => true,
    };
    if settled {
        return Ok(());
    }
    let Some(order_id) = shipment.order_id() else {
        return Ok(());
    };
    let Some((order, customer)) = notifier.order_and_customer_recent(order_id).await? else {
        return Ok(());
    };
    let zone = crate::notify::policy::zone(&customer, settings);
    let (message, detail) = match entry.kind {
        DueKind::Stalled => (Message::Delayed, stalled(&shipment, settings, zone, now)),
        DueKind::Pickup => (
            Message::PickupReminder,
            pickup_due(&shipment, settings, now),
        ),
        DueKind::Loyalty | DueKind::Renewal | DueKind::ReviewRequest | DueKind::FollowUp => {
            return Ok(())
        }
    };
    // Filing is lazy (see [`index`]): the parcel's next check of this kind, if it has one
    // still to come, is filed now, with its time, so the runs until then pass it by unread.
    let next = due(&shipment, settings, zone)
        .into_iter()
        .filter(|(k, at)| *k == entry.kind && *at > now)
        .map(|(_, at)| at)
        .min();
    if let Some(next) = next {
        if !preview {
            store
                .add_due(&DueEntry::at(entry.kind, next, &entry.subject), now)
                .await?;
        }
    }
    let Some(detail) = detail else {
        return Ok(());
    };
    outcome.reminders.push(PlannedShipmentReminder {
        shipment: entry.subject.clone(),
        message,
        detail: detail.clone(),
    });
    if preview {
        return Ok(());
    }
    let parcels_remaining = 0;
    let subject = Subject {
        occasion: Occasion::new(About::Shipment(key), message, Some(detail)),
        customer: &customer,
        order: Some(&order),
        shipment: Some(&shipment),
        parcels_remaining,
        points: None,
        subscription: None,
        alert: None,
        on_own_change: false,
    };
    let mut summary = Summary::default();
    notifier
        .notify_occasion(&subject, now, &mut summary)
        .await?;
    // A VIP's silent parcel reaches the shop's support too, before the customer has to ask.
    if let Some(occasion) =
        crate::reviews::vip_occasion(settings, &customer, &shipment, &subject.occasion)
    {
        let alert = crate::reviews::vip_alert(settings, &customer, &order, &shipment);
        let subject = Subject {
            occasion,
            alert: Some(alert),
            ..subject
        };
        notifier
            .notify_occasion(&subject, now, &mut summary)
            .await?;
    }
    outcome.messages.add(summary);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EstimatedDelivery, TrackingEvent};

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn parcel(status: ShipmentStatus, last_scan: &str) -> Shipment {
        let mut s = Shipment::new(
            CarrierSlug::parse("kerry").unwrap(),
            TrackingNumber::parse("KEX1").unwrap(),
            at("2026-11-01T00:00:00Z"),
        );
        s.status = status;
        s.status_at = Some(at(last_scan));
        s.events = vec![TrackingEvent {
            status,
            reason: None,
            occurred_at: at(last_scan),
            description: "scan".into(),
            location: None,
            raw_code: "X".into(),
        }];
        s
    }

    #[test]
    fn a_parcel_silent_in_transit_is_stalled_after_stalled_days() {
        let settings = Settings::default();
        let zone = crate::zones::tz("Asia/Bangkok");
        let s = parcel(ShipmentStatus::InTransit, "2026-11-20T10:00:00Z");
        assert_eq!(
            due(&s, &settings, zone),
            [(DueKind::Stalled, at("2026-11-24T10:00:00Z"))]
        );
        assert_eq!(
            stalled(&s, &settings, zone, at("2026-11-24T09:59:59Z")),
            None
        );
        assert_eq!(
            stalled(&s, &settings, zone, at("2026-11-24T10:00:00Z")).as_deref(),
            Some("stalled-2026-11-20")
        );
        let delivered = parcel(ShipmentStatus::Delivered, "2026-11-20T10:00:00Z");
        assert!(due(&delivered, &settings, zone).is_empty());
        assert_eq!(
            stalled(&delivered, &settings, zone, at("2026-12-20T00:00:00Z")),
            None
        );
    }

    #[test]
    fn a_parcel_past_its_estimated_day_is_late_in_the_customers_zone() {
        let settings = Settings::default();
        let zone = crate::zones::tz("Asia/Bangkok");
        let mut s = parcel(ShipmentStatus::OutForDelivery, "2026-11-25T02:00:00Z");
        s.estimated_delivery = Some(EstimatedDelivery {
            original: "2026-11-25".parse().unwrap(),
            original_as_of: None,
            latest: "2026-11-25".parse().unwrap(),
            as_of: None,
        });
        // Midnight in Bangkok is 17:00 UTC the day before.
        assert_eq!(
            due(&s, &settings, zone),
            [(DueKind::Stalled, at("2026-11-25T17:00:00Z"))]
        );
        assert_eq!(
            stalled(&s, &settings, zone, at("2026-11-25T16:59:00Z")),
            None
        );
        assert_eq!(
            stalled(&s, &settings, zone, at("2026-11-25T17:00:00Z")).as_deref(),
            Some("missed-2026-11-25"),
            "the same occasion a late carrier scan reaches"
        );
    }

    #[test]
    fn a_parcel_at_a_pickup_point_is_reminded_after_pickup_reminder_days() {
        let settings = Settings::default();
        let s = parcel(ShipmentStatus::AvailableForPickup, "2026-11-20T08:00:00Z");
        assert_eq!(
            due(&s, &settings, crate::zones::Tz::UTC),
            [(DueKind::Pickup, at("2026-11-23T08:00:00Z"))]
        );
        assert_eq!(pickup_due(&s, &settings, at("2026-11-23T07:00:00Z")), None);
        assert_eq!(
            pickup_due(&s, &settings, at("2026-11-23T08:00:00Z")).as_deref(),
            Some("2026-11-20")
        );
        assert_eq!(subject_of(&s.key()), "kerry-logistics#KEX1");
        assert_eq!(key_of("kerry-logistics#KEX1"), Some(s.key()));
    }
}
