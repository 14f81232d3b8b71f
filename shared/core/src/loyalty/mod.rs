//! Loyalty points: a customer's account of lots and its ledger, as pure rules.
//!
//! Points live in lots (`points`, `remaining`, `earned_at`, `expires_at`, `state`). Spending
//! takes from the lot that expires first; an expired lot is never spent; the balance is what
//! remains in available lots that have not expired. Every entry carries the id of what caused it
//! (an order, an external transaction, an import row) and is applied once: a redelivery finds its
//! id in the ledger and changes nothing. [`service`] keeps accounts in storage and runs the
//! schedule; [`import`] reads balances from a CSV file.

pub mod import;
pub mod schedule;
pub mod service;

#[cfg(test)]
mod tests;

use crate::ids::{CustomerId, OrderId};
use crate::names::named_enum;
use crate::settings::{ExpiryPolicy, LoyaltySettings, TierThreshold};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

named_enum! {
    "snake_case";
    /// Where a lot is in its life.
    pub enum LotState {
        /// Earned by an order not yet delivered (plus the return window): not spendable yet.
        Pending,
        Available,
        Expired,
        /// Taken back (a cancelled or refunded order).
        Voided,
    }
}

named_enum! {
    "snake_case";
    /// What earned a lot.
    pub enum Source {
        Order,
        Import,
        Adjustment,
        External,
    }
}

named_enum! {
    "snake_case";
    /// What a ledger entry records.
    pub enum EntryKind {
        Earn,
        /// A pending lot became available.
        Release,
        Spend,
        Adjust,
        Expire,
        Void,
        /// Points an order had earned and the customer already spent, taken from other lots.
        Clawback,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    /// The id of the entry that earned it.
    pub id: String,
    pub source: Source,
    pub points: u64,
    pub remaining: u64,
    pub earned_at: DateTime<Utc>,
    /// When a pending lot becomes available; `None` while its order is not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub state: LotState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
}

impl Lot {
    /// What can be spent from it at `now`.
    pub fn spendable(&self, now: DateTime<Utc>) -> u64 {
        match self.state == LotState::Available && self.expires_at > now {
            true => self.remaining,
            false => 0,
        }
    }

    fn open(&self) -> bool {
        matches!(self.state, LotState::Pending | LotState::Available) && self.remaining > 0
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What caused it; an entry with the same id is never applied twice.
    pub id: String,
    pub kind: EntryKind,
    /// Points it moved: positive for earns, releases and adjustments, negative for the rest.
    pub points: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The spendable balance after it.
    pub balance: u64,
}

/// A customer's points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub customer_id: CustomerId,
    pub lots: Vec<Lot>,
    /// Oldest first, the newest [`Account::LEDGER_KEPT`] entries.
    pub ledger: Vec<Entry>,
    /// The last earn or spend (rolling expiry counts from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The store's currency, as its orders say (for the points' value in messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A tier carried over by an import, honoured for 12 months from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_tier: Option<ImportedTier>,
    /// The tier as last worked out (a rise is announced by the notifier, which sees the change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The day the schedule next has to look at this account (filed in its index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due: Option<NaiveDate>,
    /// When in that day (the index entry's `not_before`; absent on accounts written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<DateTime<Utc>>,
    /// Expiry reminders already sent: (the local day the points expire, which reminder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminded: Vec<(NaiveDate, schedule::Stage)>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedTier {
    pub name: String,
    pub at: DateTime<Utc>,
}

/// Why an entry cannot be applied. Nothing is changed when it is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("points must be a whole number above 0")]
    NoPoints,
    #[error("{points} points exceed the balance of {balance}")]
    Insufficient { points: u64, balance: u64 },
    #[error("expires_at must be in the future")]
    ExpiryPast,
}

/// Whether an entry changed the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Applied,
    /// Its id is in the ledger already.
    Already,
    /// There was nothing to do (an order that earns no points).
    Nothing,
}

/// How long tiers look back.
pub const TIER_WINDOW_MONTHS: u32 = 12;

/// A time `months` later, saturating at chrono's end (never a panic).
pub fn months_after(t: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    t.checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn months_before(t: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    t.checked_sub_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What a new earn is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earn {
    pub id: String,
    pub source: Source,
    pub points: u64,
    pub earned_at: DateTime<Utc>,
    /// Pending until its order is delivered (orders), else available at once.
    pub pending: bool,
    /// Set by the sender (external programs, imports); else the merchant's policy decides.
    pub expires_at: Option<DateTime<Utc>>,
    pub order_id: Option<OrderId>,
    pub reason: Option<String>,
}

impl Account {
    /// Ledger entries kept per account (older ones are dropped; their ids are far older than
    /// any redelivery).
    pub const LEDGER_KEPT: usize = 1000;

    pub fn new(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            lots: Vec::new(),
            ledger: Vec::new(),
            last_activity_at: None,
            currency: None,
            imported_tier: None,
            tier: None,
            next_due: None,
            next_due_at: None,
            reminded: Vec::new(),
            version: 0,
        }
    }

    /// What can be spent at `now`.
    pub fn balance(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .map(|l| l.spendable(now))
            .fold(0u64, u64::saturating_add)
    }

    /// Points earned but not spendable yet.
    pub fn pending(&self) -> u64 {
        self.lots
            .iter()
            .filter(|l| l.state == LotState::Pending)
            .map(|l| l.remaining)
            .fold(0u64, u64::saturating_add)
    }

    pub fn has_entry(&self, id: &str) -> bool {
        self.ledger.iter().any(|e| e.id == id)
    }

    /// Appends an entry with the balance it leaves.
    fn record(&mut self, mut entry: Entry, now: DateTime<Utc>) {
        entry.balance = self.balance(now);
        self.ledger.push(entry);
        if self.ledger.len() > Self::LEDGER_KEPT {
            let excess = self.ledger.len() - Self::LEDGER_KEPT;
            self.ledger.drain(..excess);
        }
    }

    /// Rolling expiry: every open lot now expires `months` after this activity.
    fn touch(&mut self, at: DateTime<Utc>, policy: &LoyaltySettings) {
        let latest = self.last_activity_at.map_or(at, |last| last.max(at));
        self.last_activity_at = Some(latest);
        if policy.expiry == ExpiryPolicy::Rolling {
            let expires = months_after(latest, policy.expiry_months);
            for lot in self.lots.iter_mut().filter(|l| l.open()) {
                lot.expires_at = expires;
            }
        }
    }

    /// Adds a lot.
    pub fn earn(
        &mut self,
        earn: Earn,
        policy: &LoyaltySettings,
        now: DateTime<Utc>,
    ) -> Result<Applied, LedgerError> {
        if self.has_entry(&earn.id) || self.lots.iter().any(|l| l.id == earn.id) {
            return Ok(Applied::Already);
        }
        if earn.points == 0 {
            return Err(LedgerError::NoPoints);
        }
        if earn.expires_at.is_some_and(|t| t <= now) {
            return Err(LedgerError::ExpiryPast);
        }
        let expires_at = earn
            .expires_at
            .unwrap_or_else(|| months_after(earn.earned_at, policy.expiry_months));
        self.lots.push(Lot {
            id: earn.id.clone(),
            source: earn.source,
            points: earn.points,
            remaining: earn.points,
            earned_at: earn.earned_at,
            available_at: None,
            expires_at,
            state: match earn.pending {
                true => LotState::Pending,
                false => LotState::Available,
            },
            order_id: earn.order_id,
        });
        if earn.expires_at.is_none() {
            self.touch(earn.earned_at, policy);
        } else {
            self.last_activity_at = Some(
                self.last_activity_at
                    .map_or(earn.earned_at, |l| l.max(earn.earned_at)),
            );
        }
        let points = i64::try_from(earn.points).unwrap_or(i64::MAX);
        self.record(
            Entry {
                id: earn.id.clone(),
                kind: EntryKind::Earn,
                points,
                at: earn.earned_at,
                lot: Some(earn.id),
                reason: earn.reason,
                balance: 0,
            },
            now,
        );
        Ok(Applied::Applied)
    }

    /// Takes `points` from the lots that expire first. `kind` is `Spend` or `Expire` (an
    /// external program's expiry).
    fn take(
        &mut self,
        id: &str,
        kind: EntryKind,
        points: u64,
        at: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Applied, LedgerError> {
        if self.has_entry(id) {
            return Ok(Applied::Already);
        }
        if points == 0 {
            return Err(LedgerError::NoPoints);
        }
        let balance = self.balance(now);
        if points > balance {
            return Err(LedgerError::Insufficient { points, balance });
        }
        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|&i| self.lots[i].spendable(now) > 0)
            .collect();
        order.sort_by_key(|&i| (self.lots[i].expires_at, self.lots[i].earned_at));
        let mut left = points;
        for i in order {
            let lot = &mut self.lots[i];
            let taken = left.min(lot.remaining);
            lot.remaining -= taken;
            left -= taken;
            if kind == EntryKind::Expire && lot.remaining == 0 {
                lot.state = LotState::Expired;
            }
            if left == 0 {
                break;
            }
        }
        self.record(
            Entry {
                id: id.to_string(),
                kind,
                points: -i64::try_from(points).unwrap_or(i64::MAX),
                at,
                lot: None,
                reason,
                balance: 0,
            },
            now,
        );
        Ok(Applied::Applied)
    }

    /// Spends points, oldest-expiring first. Refused whole when the balance is short.
    pub fn spend(
        &mut self,
        id: &str,
        points: u64,
        at: DateTime<Utc>,
        reason: Option<String>,
        policy: &LoyaltySettings,
        now: DateTime<Utc>,
    ) -> Result<Applied, LedgerError> {
        let applied = self.take(id, EntryKind::Spend, points, at, reason, now)?;
        if applied == Applied::Applied {
            self.touch(at, policy);
        }
        Ok(applied)
    }

    /// Expires points now at another program's word (its own expiry), oldest-expiring first.
    pub fn expire_points(
        &mut self,
        id: &str,
        points: u64,
        at: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Applied, LedgerError> {
        self.take(id, EntryKind::Expire, points, at, reason, now)
    }

    /// Lots whose time has come: expired ones close (their remaining points leave the balance),
    /// pending ones whose return window passed become available. Returns whether anything
    /// changed.
    pub fn settle(&mut self, now: DateTime<Utc>) -> bool {
        let mut changed = false;
        for i in 0..self.lots.len() {
            let lot = &self.lots[i];
            if lot.open() && lot.expires_at <= now {
                let (id, remaining, at) = (lot.id.clone(), lot.remaining, lot.expires_at);
                self.lots[i].state = LotState::Expired;
                self.lots[i].remaining = 0;
                let points = -i64::try_from(remaining).unwrap_or(i64::MAX);
                self.record(
                    Entry {
                        id: format!("expire:{id}"),
                        kind: EntryKind::Expire,
                        points,
                        at,
                        lot: Some(id),
                        reason: Some("expired".into()),
                        balance: 0,
                    },
                    now,
                );
                changed = true;
                continue;
            }
            let due = lot.state == LotState::Pending && lot.available_at.is_some_and(|t| t <= now);
            if due {
                let (id, remaining, at) = (
                    lot.id.clone(),
                    lot.remaining,
                    lot.available_at.unwrap_or(now),
                );
                self.lots[i].state = LotState::Available;
                let points = i64::try_from(remaining).unwrap_or(i64::MAX);
                self.record(
                    Entry {
                        id: format!("release:{id}"),
                        kind: EntryKind::Release,
                        points,
                        at,
                        lot: Some(id),
                        reason: None,
                        balance: 0,
                    },
                    now,
                );
                changed = true;
            }
        }
        changed
    }

    /// Sets when an order's pending points become available (its last parcel's delivery plus
    /// the return window). Returns whether anything changed.
    pub fn order_delivered(
        &mut self,
        order_id: &OrderId,
        delivered_at: DateTime<Utc>,
        policy: &LoyaltySettings,
    ) -> bool {
        let available_at = delivered_at + Duration::days(i64::from(policy.pending_days));
        let mut changed = false;
        for lot in self
            .lots
            .iter_mut()
            .filter(|l| l.state == LotState::Pending && l.order_id.as_ref() == Some(order_id))
        {
            if lot.available_at != Some(available_at) {
                lot.available_at = Some(available_at);
                changed = true;
            }
        }
        changed
    }

    /// Brings what an order earned down to `points` (a refund, or 0 for a cancellation): first
    /// from the order's own lot, then, for points already spent, from the customer's other lots
    /// (never below zero). `id` names this reduction (one per level reached).
    pub fn reduce_order(
        &mut self,
        id: &str,
        order_id: &OrderId,
        points: u64,
        now: DateTime<Utc>,
    ) -> Applied {
        if self.has_entry(id) {
            return Applied::Already;
        }
        let Some(i) = self
            .lots
            .iter()
            .position(|l| l.order_id.as_ref() == Some(order_id) && l.source == Source::Order)
        else {
            return Applied::Nothing;
        };
        let lot = &self.lots[i];
        if lot.state == LotState::Voided || lot.points <= points {
            return Applied::Nothing;
        }
        let cut = lot.points - points;
        let spent = lot.points - lot.remaining;
        let from_lot = cut.min(lot.remaining);
        let lot_id = lot.id.clone();
        let was_pending = lot.state == LotState::Pending;
        let lot = &mut self.lots[i];
        lot.points = points;
        lot.remaining -= from_lot;
        if points == 0 {
            lot.state = LotState::Voided;
            lot.remaining = 0;
        }
        let reason = match points {
            0 => "order cancelled or refunded".to_string(),
            _ => format!("order partly refunded; it now earns {points}"),
        };
        self.record(
            Entry {
                id: id.to_string(),
                kind: EntryKind::Void,
                points: -i64::try_from(from_lot).unwrap_or(i64::MAX),
                at: now,
                lot: Some(lot_id.clone()),
                reason: Some(reason),
                balance: 0,
            },
            now,
        );
        // Points of this order already spent come out of the rest, as far as the balance goes.
        let owed = (cut - from_lot).min(spent);
        if owed > 0 && !was_pending {
            let balance = self.balance(now);
            let taken = owed.min(balance);
            if taken > 0 {
                let mut order: Vec<usize> = (0..self.lots.len())
                    .filter(|&j| self.lots[j].spendable(now) > 0)
                    .collect();
                order.sort_by_key(|&j| (self.lots[j].expires_at, self.lots[j].earned_at));
                let mut left = taken;
                for j in order {
                    let lot = &mut self.lots[j];
                    let t = left.min(lot.remaining);
                    lot.remaining -= t;
                    left -= t;
                    if left == 0 {
                        break;
                    }
                }
            }
            let reason = match owed - taken {
                0 => "points of a refunded order that were already spent".to_string(),
                short => format!(
                    "points of a refunded order that were already spent ({short} could not be taken back)"
                ),
            };
            self.record(
                Entry {
                    id: format!("{id}:clawback"),
                    kind: EntryKind::Clawback,
                    points: -i64::try_from(taken).unwrap_or(i64::MAX),
                    at: now,
                    lot: Some(lot_id),
                    reason: Some(reason),
                    balance: 0,
                },
                now,
            );
        }
        Applied::Applied
    }

    /// Points earned over the trailing 12 months (orders, adjustments, other programs; not
    /// imported balances), for tiers.
    pub fn earned_in_window(&self, now: DateTime<Utc>) -> u64 {
        let since = months_before(now, TIER_WINDOW_MONTHS);
        self.lots
            .iter()
            .filter(|l| l.source != Source::Import && l.state != LotState::Voided)
            .filter(|l| l.earned_at > since && l.earned_at <= now)
            .map(|l| l.points)
            .fold(0u64, u64::saturating_add)
    }

    /// The customer's tier at `now`: the highest reached, or the imported one while it lasts.
    pub fn tier<'t>(
        &self,
        tiers: &'t [TierThreshold],
        now: DateTime<Utc>,
    ) -> Option<&'t TierThreshold> {
        let earned = self.earned_in_window(now);
        let reached = tiers.iter().rev().find(|t| t.min_points <= earned);
        let imported = self
            .imported_tier
            .as_ref()
            .filter(|i| months_after(i.at, TIER_WINDOW_MONTHS) > now)
            .and_then(|i| tiers.iter().find(|t| t.name.eq_ignore_ascii_case(&i.name)));
        match (reached, imported) {
            (Some(r), Some(i)) if i.min_points > r.min_points => Some(i),
            (None, Some(i)) => Some(i),
            (r, _) => r,
        }
    }

    /// The next points to expire: how many, and when.
    pub fn next_expiry(&self, now: DateTime<Utc>) -> Option<(u64, DateTime<Utc>)> {
        let first = self
            .lots
            .iter()
            .filter(|l| l.spendable(now) > 0)
            .map(|l| l.expires_at)
            .min()?;
        let points = self
            .lots
            .iter()
            .filter(|l| l.spendable(now) > 0 && l.expires_at == first)
            .map(|l| l.remaining)
            .fold(0u64, u64::saturating_add);
        Some((points, first))
    }
}

/// Points an order earns: its subtotal (refunded lines left out; nothing when cancelled) times
/// `points_per_unit`, rounded down. Prices are the decimal strings stores send; an unreadable
/// one counts as nothing.
pub fn order_points(order: &crate::model::Order, policy: &LoyaltySettings) -> u64 {
    if order.cancelled {
        return 0;
    }
    let subtotal: f64 = order
        .line_items
        .iter()
        .filter(|l| !order.refunded_line_items.contains(&l.id))
        .map(|l| decimal(&l.price).unwrap_or(0.0) * f64::from(l.quantity))
        .sum();
    let points = (subtotal * policy.points_per_unit).floor();
    match points.is_finite() && points > 0.0 {
        // Bounded by the settings' and prices' ranges; `as` saturates anyway.
        true => points.min(1e15) as u64,
        false => 0,
    }
}

/// A price as stores send it (`"390.00"`, `"1,290.50"`): `None` for anything else.
fn decimal(raw: &str) -> Option<f64> {
    let cleaned: String = raw.trim().chars().filter(|c| *c != ',').collect();
    let valid = !cleaned.is_empty()
        && cleaned.len() <= 20
        && cleaned.chars().all(|c| c.is_ascii_digit() || c == '.')
        && cleaned.chars().filter(|c| *c == '.').count() <= 1;
    valid.then(|| cleaned.parse::<f64>().ok()).flatten()
}
