//! When an account needs the schedule, and which expiry reminders are due: pure.

use super::{Account, Lot};
use crate::settings::LoyaltySettings;
use crate::timezone;
use crate::zones::Tz;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which reminder before points expire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `warning_days` before.
    Warning,
    /// `last_chance_days` before.
    LastChance,
}

/// Points expiring on one day of the customer's calendar, and which reminder is due for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub stage: Stage,
    /// The day they expire, in the customer's zone.
    pub date: NaiveDate,
    pub points: u64,
}

fn local_day(t: DateTime<Utc>, zone: Tz) -> NaiveDate {
    timezone::local_date(t, zone).unwrap_or_else(|| t.date_naive())
}

/// Spendable points grouped by the local day they expire (all lots of a day make one message).
pub fn expiring_by_day(
    account: &Account,
    zone: Tz,
    now: DateTime<Utc>,
) -> BTreeMap<NaiveDate, u64> {
    let mut days: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for lot in account.lots.iter().filter(|l| l.spendable(now) > 0) {
        let day = days.entry(local_day(lot.expires_at, zone)).or_default();
        *day = day.saturating_add(lot.remaining);
    }
    days
}

/// The reminder each expiry day is due for at `now` (the customer's today): the last chance
/// within `last_chance_days`, else the warning within `warning_days`. A day whose points were
/// all spent has none.
pub fn reminders(
    account: &Account,
    policy: &LoyaltySettings,
    zone: Tz,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    let today = local_day(now, zone);
    expiring_by_day(account, zone, now)
        .into_iter()
        .filter_map(|(date, points)| {
            let days_left = date.signed_duration_since(today).num_days();
            let stage = if days_left <= i64::from(policy.last_chance_days) {
                Stage::LastChance
            } else if days_left <= i64::from(policy.warning_days) {
                Stage::Warning
            } else {
                return None;
            };
            Some(Reminder {
                stage,
                date,
                points,
            })
        })
        .collect()
}

/// The reminders due now that have not gone out yet.
pub fn owed(
    account: &Account,
    policy: &LoyaltySettings,
    zone: Tz,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    reminders(account, policy, zone, now)
        .into_iter()
        .filter(|r| !account.reminded.contains(&(r.date, r.stage)))
        .collect()
}

/// The points a reminder for `date` would carry now: what still expires that day.
pub fn points_expiring_on(account: &Account, date: NaiveDate, zone: Tz, now: DateTime<Utc>) -> u64 {
    expiring_by_day(account, zone, now)
        .get(&date)
        .copied()
        .unwrap_or(0)
}

/// Local midnight of `days` before `date`, as an instant.
fn start_of_day_before(date: NaiveDate, days: u32, zone: Tz) -> Option<DateTime<Utc>> {
    let day = date.checked_sub_signed(Duration::days(i64::from(days)))?;
    timezone::instant_at(zone, day, NaiveTime::MIN)
}

/// The next instant after `now` at which this account changes on its own or owes a reminder:
/// a lot expires or becomes available, a reminder day starts, or an earn leaves the tier window.
pub fn next_due(
    account: &Account,
    policy: &LoyaltySettings,
    zone: Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let open = |l: &&Lot| {
        matches!(
            l.state,
            super::LotState::Pending | super::LotState::Available
        ) && l.remaining > 0
    };
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    for lot in account.lots.iter().filter(open) {
        candidates.push(lot.expires_at);
        if let Some(at) = lot.available_at {
            candidates.push(at);
        }
        let day = local_day(lot.expires_at, zone);
        candidates.extend(start_of_day_before(day, policy.warning_days, zone));
        candidates.extend(start_of_day_before(day, policy.last_chance_days, zone));
    }
    if !policy.tiers.is_empty() {
        candidates.extend(
            account
                .lots
                .iter()
                .filter(|l| l.source != super::Source::Import && l.state != super::LotState::Voided)
                .map(|l| super::months_after(l.earned_at, super::TIER_WINDOW_MONTHS)),
        );
    }
    // A reminder owed already (points earned inside a reminder window): as soon as possible.
    if !owed(account, policy, zone, now).is_empty() {
        return Some(now);
    }
    candidates.into_iter().filter(|t| *t > now).min()
}
