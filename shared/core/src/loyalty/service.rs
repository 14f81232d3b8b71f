//! Loyalty accounts in storage: every change goes through [`update`], which applies a pure rule,
//! settles what fell due, keeps the tier and the schedule's index current, and writes once with
//! the version it read. Orders and deliveries reach it from the notifier (the stream), other
//! programs from `POST /webhooks/loyalty/generic`, migrations from the CSV import, and the
//! `points-expiry` job from the schedule.

use super::schedule::{self, Reminder, Stage};
use super::{order_points, Account, Applied, Earn, LedgerError, LotState, Source};
use crate::ids::CustomerId;
use crate::model::{Customer, Order, Shipment};
use crate::notify::keys::{About, Occasion};
use crate::notify::messages::Message;
use crate::notify::render::PointsLine;
use crate::notify::service::{Notifier, NotifyError, Subject, Summary};
use crate::optimistic::{self, UpdateError};
use crate::ports::{DueEntry, DueKind, Store, StoreError, DUE_PER_RUN};
use crate::settings::{LoyaltySettings, Settings};
use crate::status::ShipmentStatus;
use crate::zones::Tz;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Why a loyalty request was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum LoyaltyError {
    #[error("loyalty is off: add a [loyalty] table to the settings (LOYALTY_* on AWS)")]
    Off,
    #[error("no customer {0}")]
    UnknownCustomer(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Update(#[from] UpdateError),
}

impl From<StoreError> for LoyaltyError {
    fn from(e: StoreError) -> Self {
        Self::Update(UpdateError::Store(e))
    }
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct Updated {
    pub account: Account,
    pub applied: Applied,
    /// Whether the account was written.
    pub written: bool,
}

/// The customer's zone for the schedule (their calendar decides reminder days).
fn zone_of(customer: Option<&Customer>, settings: &Settings) -> Tz {
    match customer {
        Some(c) => crate::notify::policy::zone(c, settings),
        None => crate::timezone::parse_zone(&settings.default_timezone).unwrap_or(Tz::UTC),
    }
}

/// Applies `change` to a customer's account (made when missing), then settles what is due,
/// works out the tier and files the next day the schedule must look at it. A refused change
/// writes nothing. The tier is copied onto the customer record when it moves, so every message
/// shows it.
pub async fn update<F>(
    store: &dyn Store,
    settings: &Settings,
    policy: &LoyaltySettings,
    customer: &Customer,
    now: DateTime<Utc>,
    change: F,
) -> Result<Updated, LoyaltyError>
where
    F: Fn(&mut Account) -> Result<Applied, LedgerError>,
{
    let zone = zone_of(Some(customer), settings);
    let change = &change;
    let customer_id = &customer.id;
    let outcome = optimistic::with_retries(move || async move {
        let stored = store.get_account(customer_id).await?;
        let expected = stored.as_ref().map(|a| a.version);
        let mut account = stored.unwrap_or_else(|| Account::new(customer_id.clone()));
        let tier_before = account.tier.clone();
        let applied = match change(&mut account) {
            Ok(applied) => applied,
            Err(e) => return Ok(Err(e)),
        };
        let settled = account.settle(now);
        let tier = account.tier(&policy.tiers, now).map(|t| t.name.clone());
        let tier_moved = tier != account.tier;
        account.tier = tier;
        let next_at = schedule::next_due(&account, policy, zone, now);
        let next = next_at.map(|t| t.date_naive());
        // The instant, not only the day: an entry filed for later in the same day would keep
        // the job away until then.
        let rescheduled = next != account.next_due || next_at != account.next_due_at;
        account.next_due = next;
        account.next_due_at = next_at;
        if applied != Applied::Applied && !settled && !tier_moved && !rescheduled {
            return Ok(Ok(Updated {
                account,
                applied,
                written: false,
            }));
        }
        // Filed before the write: a crash in between leaves a harmless extra look, never a
        // forgotten account.
        if let (true, Some(at)) = (rescheduled, next_at) {
            store
                .add_due(
                    &DueEntry::at(DueKind::Loyalty, at, customer_id.as_str()),
                    now,
                )
                .await?;
        }
        // Only a tier that rose is announced (`tier_upgrade`): other writes, a new account's
        // first tier among them, need no notifier.
        match tier_rose(
            &policy.tiers,
            tier_before.as_deref(),
            account.tier.as_deref(),
        ) {
            true => store.save_account(&account, expected).await?,
            false => store.save_account_quietly(&account, expected).await?,
        }
        account.version = expected.map_or(1, |v| v + 1);
        Ok(Ok(Updated {
            account,
            applied,
            written: true,
        }))
    })
    .await?;
    let updated = outcome?;
    if updated.written && customer.tier != updated.account.tier {
        set_customer_tier(store, customer_id, updated.account.tier.as_deref(), now).await?;
    }
    Ok(updated)
}

async fn set_customer_tier(
    store: &dyn Store,
    customer_id: &CustomerId,
    tier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), UpdateError> {
    optimistic::with_retries(move || async move {
        let Some(mut customer) = store.get_customer(customer_id).await? else {
            return Ok(());
        };
        if customer.tier.as_deref() == tier {
            return Ok(());
        }
        let version = customer.version;
        customer.tier = tier.map(str::to_string);
        customer.updated_at = now;
        store.save_customer(&customer, Some(version)).await
    })
    .await
}

/// An order arrived or changed: it earns its points (pending until delivered), or earns less
/// after a refund, or nothing once cancelled.
pub async fn order_changed(
    store: &dyn Store,
    settings: &Settings,
    order: &Order,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Result<(), LoyaltyError> {
    let Some(policy) = &settings.loyalty else {
        return Ok(());
    };
    if order.customer_id.as_ref() != Some(&customer.id) {
        return Ok(());
    }
    let points = order_points(order, policy);
    let earned_at = order.created_at.unwrap_or(order.updated_at);
    update(store, settings, policy, customer, now, |account| {
        if order.currency.is_some() && account.currency != order.currency {
            account.currency = order.currency.clone();
        }
        let lot = account
            .lots
            .iter()
            .find(|l| l.source == Source::Order && l.order_id.as_ref() == Some(&order.id));
        match lot {
            None if points > 0 => account.earn(
                Earn {
                    id: format!("order:{}", order.id),
                    source: Source::Order,
                    points,
                    earned_at,
                    pending: true,
                    expires_at: None,
                    order_id: Some(order.id.clone()),
                    reason: Some(format!("order {}", order.name)),
                },
                policy,
                now,
            ),
            Some(lot) if lot.points > points && lot.state != LotState::Voided => Ok(account
                .reduce_order(
                    &format!("reduce:{}:{points}", order.id),
                    &order.id,
                    points,
                    now,
                )),
            _ => Ok(Applied::Nothing),
        }
    })
    .await?;
    Ok(())
}

/// A parcel was delivered: when it was the order's last, the order's points become available
/// after the return window.
pub async fn shipment_changed(
    store: &dyn Store,
    settings: &Settings,
    old: Option<&Shipment>,
    new: &Shipment,
    (order, customer): (&Order, &Customer),
    now: DateTime<Utc>,
) -> Result<(), LoyaltyError> {
    let Some(policy) = &settings.loyalty else {
        return Ok(());
    };
    let newly_delivered = new.status == ShipmentStatus::Delivered
        && old.is_none_or(|o| o.status != ShipmentStatus::Delivered);
    if !newly_delivered || new.order_id() != Some(&order.id) {
        return Ok(());
    }
    let Some(last) = last_delivery(store, order, new).await? else {
        return Ok(());
    };
    update(store, settings, policy, customer, now, |account| {
        Ok(match account.order_delivered(&order.id, last, policy) {
            true => Applied::Applied,
            false => Applied::Nothing,
        })
    })
    .await?;
    Ok(())
}

/// When the order's last parcel was delivered, or `None` while one is still on its way.
async fn last_delivery(
    store: &dyn Store,
    order: &Order,
    delivered: &Shipment,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let delivered_at = |s: &Shipment| {
        s.events
            .iter()
            .rev()
            .find(|e| e.status == ShipmentStatus::Delivered)
            .map(|e| e.occurred_at)
            .or(s.status_at)
    };
    let mut last = delivered_at(delivered);
    for parcel in order
        .shipments
        .iter()
        .filter(|p| p.tracking_number != delivered.tracking_number)
    {
        let Some(carrier) = &parcel.carrier else {
            return Ok(None);
        };
        match store.get_shipment(carrier, &parcel.tracking_number).await? {
            Some(s) if s.status == ShipmentStatus::Delivered => {
                last = last.max(delivered_at(&s));
            }
            _ => return Ok(None),
        }
    }
    Ok(last)
}

/// What another loyalty program tells Doorstep (`POST /webhooks/loyalty/generic`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalEvent {
    pub event_id: String,
    pub customer: CustomerRef,
    pub kind: ExternalKind,
    pub points: u64,
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who it is about: Doorstep's customer id (`shopify:207119551`) or an email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRef {
    pub id: Option<String>,
    pub email: Option<String>,
}

crate::names::named_enum! {
    "snake_case";
    pub enum ExternalKind {
        Earn,
        Spend,
        /// A credit outside any order (goodwill, a correction).
        Adjust,
        /// The other program expired points.
        Expire,
    }
}

/// Finds the customer a reference names.
pub async fn find_customer(
    store: &dyn Store,
    who: &CustomerRef,
) -> Result<Option<Customer>, StoreError> {
    if let Some(id) = who.id.as_deref().and_then(CustomerId::parse) {
        if let Some(customer) = store.get_customer(&id).await? {
            return Ok(Some(customer));
        }
    }
    match who.email.as_deref().and_then(crate::model::email_key) {
        Some(email) => store.find_customer_by_email(&email).await,
        None => Ok(None),
    }
}

/// Applies another program's event to the customer's account.
pub async fn apply_external(
    store: &dyn Store,
    settings: &Settings,
    event: &ExternalEvent,
    now: DateTime<Utc>,
) -> Result<Updated, LoyaltyError> {
    let policy = settings.loyalty.as_ref().ok_or(LoyaltyError::Off)?;
    let customer = find_customer(store, &event.customer)
        .await?
        .ok_or_else(|| {
            let who = event
                .customer
                .id
                .clone()
                .or_else(|| {
                    event
                        .customer
                        .email
                        .as_ref()
                        .map(|_| "with that email".to_string())
                })
                .unwrap_or_default();
            LoyaltyError::UnknownCustomer(crate::bounds::cap(&who, 80))
        })?;
    let id = format!("ext:{}", event.event_id);
    update(
        store,
        settings,
        policy,
        &customer,
        now,
        |account| match event.kind {
            ExternalKind::Earn | ExternalKind::Adjust => account.earn(
                Earn {
                    id: id.clone(),
                    source: match event.kind {
                        ExternalKind::Earn => Source::External,
                        _ => Source::Adjustment,
                    },
                    points: event.points,
                    earned_at: event.occurred_at,
                    pending: false,
                    expires_at: event.expires_at,
                    order_id: None,
                    reason: event.reason.clone(),
                },
                policy,
                now,
            ),
            ExternalKind::Spend => account.spend(
                &id,
                event.points,
                event.occurred_at,
                event.reason.clone(),
                policy,
                now,
            ),
            ExternalKind::Expire => account.expire_points(
                &id,
                event.points,
                event.occurred_at,
                event.reason.clone(),
                now,
            ),
        },
    )
    .await
}

/// The points facts of a rewards message, from fresh records: for an expiry reminder, what
/// still expires on its day (its occasion's detail); for a tier upgrade, the tier.
pub async fn points_line(
    notifier: &Notifier<'_>,
    occasion: &Occasion,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Result<Option<PointsLine>, NotifyError> {
    let Some(policy) = &notifier.settings.loyalty else {
        return Ok(None);
    };
    let account = notifier
        .store
        .get_account(&customer.id)
        .await?
        .unwrap_or_else(|| Account::new(customer.id.clone()));
    let zone = zone_of(Some(customer), notifier.settings);
    Ok(Some(line(
        &account,
        policy,
        notifier.settings,
        occasion,
        zone,
        now,
    )))
}

fn line(
    account: &Account,
    policy: &LoyaltySettings,
    settings: &Settings,
    occasion: &Occasion,
    zone: Tz,
    now: DateTime<Utc>,
) -> PointsLine {
    let expires_on = occasion
        .detail
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok());
    let points = match (occasion.message, expires_on) {
        (Message::TierUpgrade, _) => account.earned_in_window(now),
        (_, Some(date)) => schedule::points_expiring_on(account, date, zone, now),
        (_, None) => 0,
    };
    let value = policy.point_value.map(|per_point| {
        // Whole points times a price per point: two decimals, as prices are shown.
        let amount = (points as f64) * per_point;
        crate::tracking::view::price_label(&format!("{amount:.2}"), account.currency.as_deref())
    });
    PointsLine {
        points,
        value,
        expires_on,
        balance: account.balance(now),
        tier: match occasion.message {
            Message::TierUpgrade => occasion.detail.clone().or(account.tier.clone()),
            _ => account.tier.clone(),
        },
        spend_url: settings.store_url.clone(),
    }
}

/// Why a rewards message has nothing left to say (points since spent), if so.
pub fn nothing_to_say(subject: &Subject<'_>) -> Option<&'static str> {
    let expiry = matches!(
        subject.occasion.message,
        Message::PointsExpiryWarning | Message::PointsExpiryLastChance
    );
    let none_left = subject.points.as_ref().is_none_or(|p| p.points == 0);
    (expiry && none_left).then_some("no points left to expire on that day")
}

fn reminder_message(stage: Stage) -> Message {
    match stage {
        Stage::Warning => Message::PointsExpiryWarning,
        Stage::LastChance => Message::PointsExpiryLastChance,
    }
}

/// What the `points-expiry` job did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobOutcome {
    /// Index entries and records read: what the job costs.
    pub due_read: usize,
    pub accounts_read: usize,
    pub accounts_written: usize,
    pub reminders: Vec<PlannedReminder>,
    pub messages: Summary,
}

/// A reminder the job sends (or, previewing, would send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedReminder {
    pub customer_id: CustomerId,
    pub message: Message,
    pub date: NaiveDate,
    pub points: u64,
}

/// The `points-expiry` job: for each account filed under a day up to today, expires and
/// releases what fell due, keeps the tier, files its next day, and sends the reminders due.
/// With `preview`, nothing is written or sent: it lists what a run at `now` would send.
pub async fn run_job(
    notifier: &Notifier<'_>,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<JobOutcome, NotifyError> {
    let mut outcome = JobOutcome::default();
    let Some(policy) = &notifier.settings.loyalty else {
        return Ok(outcome);
    };
    let store = notifier.store;
    let entries = store
        .due_subjects(DueKind::Loyalty, now, DUE_PER_RUN)
        .await?;
    outcome.due_read = entries.len();
    for (done, entry) in entries.iter().enumerate() {
        if let Err(e) = one_account(notifier, policy, entry, now, preview, &mut outcome).await {
            crate::jobs::entry_failed(notifier, entry, e, &entries[..done], preview, now).await?;
        }
    }
    crate::jobs::finish_due(notifier, DueKind::Loyalty, &entries, preview).await?;
    Ok(outcome)
}

/// One filed account: settled, reminded of what it is owed, and its next day filed (by
/// [`update`], when it moved).
async fn one_account(
    notifier: &Notifier<'_>,
    policy: &LoyaltySettings,
    entry: &DueEntry,
    now: DateTime<Utc>,
    preview: bool,
    outcome: &mut JobOutcome,
) -> Result<(), NotifyError> {
    let store = notifier.store;
    let Some(customer_id) = CustomerId::parse(&entry.subject) else {
        return Ok(());
    };
    let Some(customer) = store.get_customer(&customer_id).await? else {
        return Ok(());
    };
    outcome.accounts_read += 1;
    let zone = zone_of(Some(&customer), notifier.settings);
    let account = match preview {
        true => {
            let mut account = store
                .get_account(&customer_id)
                .await?
                .unwrap_or_else(|| Account::new(customer_id.clone()));
            account.settle(now);
            account
        }
        false => {
            let updated = update(store, notifier.settings, policy, &customer, now, |_| {
                Ok(Applied::Nothing)
            })
            .await
            .map_err(|e| match e {
                LoyaltyError::Update(UpdateError::Store(e)) => NotifyError::Store(e),
                other => NotifyError::Store(StoreError::Unavailable(other.to_string())),
            })?;
            outcome.accounts_written += usize::from(updated.written);
            updated.account
        }
    };
    let owed = schedule::owed(&account, policy, zone, now);
    for reminder in &owed {
        let planned = plan(&customer_id, reminder);
        if !preview {
            let occasion = Occasion::new(
                About::Customer(customer_id.clone()),
                planned.message,
                Some(reminder.date.to_string()),
            );
            let subject = Subject {
                points: Some(line(
                    &account,
                    policy,
                    notifier.settings,
                    &occasion,
                    zone,
                    now,
                )),
                occasion,
                customer: &customer,
                order: None,
                shipment: None,
                parcels_remaining: 0,
                subscription: None,
                alert: None,
                on_own_change: false,
            };
            let mut summary = Summary::default();
            notifier
                .notify_occasion(&subject, now, &mut summary)
                .await?;
            outcome.messages.add(summary);
        }
        outcome.reminders.push(planned);
    }
    if !preview && !owed.is_empty() {
        // Sent (or decided) first, recorded after: a crash in between sends nothing twice,
        // the messages' keys see to that.
        let today = crate::timezone::local_date(now, zone).unwrap_or_else(|| now.date_naive());
        update(store, notifier.settings, policy, &customer, now, |a| {
            a.reminded.retain(|(date, _)| *date >= today);
            for r in &owed {
                a.reminded.push((r.date, r.stage));
            }
            Ok(Applied::Applied)
        })
        .await?;
    }
    Ok(())
}

fn plan(customer_id: &CustomerId, reminder: &Reminder) -> PlannedReminder {
    PlannedReminder {
        customer_id: customer_id.clone(),
        message: reminder_message(reminder.stage),
        date: reminder.date,
        points: reminder.points,
    }
}

/// A tier-upgrade occasion when an account's tier rose (a fall is never announced; the lowest
/// tier is where everyone starts, so reaching it is not news).
pub fn tier_upgrade(settings: &Settings, old: Option<&Account>, new: &Account) -> Option<Occasion> {
    let tiers = &settings.loyalty.as_ref()?.tiers;
    let old_tier = old.and_then(|o| o.tier.as_deref());
    tier_rose(tiers, old_tier, new.tier.as_deref()).then(|| {
        Occasion::new(
            About::Customer(new.customer_id.clone()),
            Message::TierUpgrade,
            new.tier.clone(),
        )
    })
}

/// Whether a move from tier `old` to `new` is an upgrade worth announcing: to a tier above the
/// first, from a lower one or from none.
fn tier_rose(
    tiers: &[crate::settings::TierThreshold],
    old: Option<&str>,
    new: Option<&str>,
) -> bool {
    let rank = |name: Option<&str>| name.and_then(|n| tiers.iter().position(|t| t.name == n));
    let Some(new_rank) = rank(new) else {
        return false;
    };
    new_rank > 0 && rank(old).is_none_or(|o| new_rank > o)
}

/// The account's reminder subject for a tier upgrade (the notifier's stream path).
pub fn tier_subject<'s>(
    settings: &Settings,
    occasion: Occasion,
    customer: &'s Customer,
    account: &Account,
    now: DateTime<Utc>,
) -> Subject<'s> {
    let zone = zone_of(Some(customer), settings);
    let points = settings
        .loyalty
        .as_ref()
        .map(|policy| line(account, policy, settings, &occasion, zone, now));
    Subject {
        occasion,
        customer,
        order: None,
        shipment: None,
        parcels_remaining: 0,
        points,
        subscription: None,
        alert: None,
        // Decided on the account's own change.
        on_own_change: true,
    }
}
