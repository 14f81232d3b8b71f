//! Subscriptions: kept from the platform's webhooks (Recharge, or Doorstep's generic form), a
//! renewal reminder `renewal_reminder_days` before each charge, and a passwordless manage page
//! ([`page`]). Doorstep does not bill: a change the customer asks for is recorded as requested,
//! sent to the shop (webhook and email), and confirmed by the platform's next webhook.

pub mod page;

use crate::contact::Contact;
use crate::ids::{CustomerId, SubscriptionId, Token};
use crate::model::Order;
use crate::model::{normalize_locale, Consents, Customer, Provider};
use crate::names::named_enum;
use crate::notify::keys::{About, Occasion};
use crate::notify::messages::Message;
use crate::notify::render::{AlertLine, SubscriptionLine};
use crate::notify::service::{Notifier, NotifyError, Subject, Summary};
use crate::optimistic::{self, UpdateError};
use crate::ports::{DueEntry, DueKind, Store, StoreError};
use crate::settings::Settings;
use crate::timezone::TimezoneSource;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

named_enum! {
    "snake_case";
    pub enum SubscriptionStatus {
        Active,
        Paused,
        Cancelled,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    pub product_id: Option<crate::ids::ProductId>,
    pub title: String,
    pub quantity: u32,
    /// Decimal string in the subscription's currency.
    pub price: Option<String>,
}

named_enum! {
    "snake_case";
    /// What a customer may ask for on the manage page.
    pub enum ChangeKind {
        Skip,
        Reschedule,
        Quantity,
        Pause,
        Cancel,
    }
}

named_enum! {
    "snake_case";
    pub enum ChangeState {
        /// Recorded and sent to the shop; the platform has not confirmed it yet.
        Requested,
        /// A later webhook from the platform shows it done.
        Confirmed,
    }
}

/// A change the customer asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequest {
    pub id: String,
    pub kind: ChangeKind,
    /// The charge it was asked against (`skip`), or the new date (`reschedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    pub state: ChangeState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub status: SubscriptionStatus,
    pub interval_days: Option<u32>,
    pub next_charge_on: Option<NaiveDate>,
    pub currency: Option<String>,
    pub items: Vec<SubscriptionItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<ChangeRequest>,
    /// When the customer last asked for a fresh manage link (the notifier sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_requested_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Subscription {
    /// The price of one charge: every item's price times its quantity, as a decimal string.
    pub fn charge_total(&self) -> Option<String> {
        let mut total = 0.0;
        for item in &self.items {
            let price: f64 = item.price.as_deref()?.trim().parse().ok()?;
            total += price * f64::from(item.quantity);
        }
        total.is_finite().then(|| format!("{total:.2}"))
    }

    /// Marks requests the platform's snapshot shows done as confirmed.
    fn confirm_requests(&mut self, previous_charge: Option<NaiveDate>) {
        let status = self.status;
        let next = self.next_charge_on;
        let quantities: Vec<u32> = self.items.iter().map(|i| i.quantity).collect();
        for request in self
            .requests
            .iter_mut()
            .filter(|r| r.state == ChangeState::Requested)
        {
            let done = match request.kind {
                ChangeKind::Skip => next.is_some() && next > request.date.or(previous_charge),
                ChangeKind::Reschedule => next.is_some() && next == request.date,
                ChangeKind::Quantity => request.quantity.is_some_and(|q| quantities.contains(&q)),
                ChangeKind::Pause => status == SubscriptionStatus::Paused,
                ChangeKind::Cancel => status == SubscriptionStatus::Cancelled,
            };
            if done {
                request.state = ChangeState::Confirmed;
            }
        }
    }
}

/// Who a subscription belongs to, as the platform says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSnapshot {
    pub platform: Provider,
    pub external_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
}

/// A subscription as the platform describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSnapshot {
    pub platform: Provider,
    pub external_id: String,
    pub customer: ContactSnapshot,
    pub status: SubscriptionStatus,
    pub interval_days: Option<u32>,
    pub next_charge_on: Option<NaiveDate>,
    pub currency: Option<String>,
    pub items: Vec<SubscriptionItem>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What one subscription webhook says.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionEvent {
    Subscription(Box<SubscriptionSnapshot>),
    /// The platform's customer record (Recharge's `customer/*`): contacts for reminders.
    Customer(ContactSnapshot),
}

/// A delivery of a subscription webhook: the event and the platform's delivery id.
pub struct SubscriptionDelivery {
    pub event: SubscriptionEvent,
    pub delivery_id: Option<String>,
}

/// The manage page's key: an unguessable token for one subscription, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManageLink {
    pub token: Token,
    pub subscription_id: SubscriptionId,
    pub expires_at: DateTime<Utc>,
}

/// Why a subscription webhook was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Update(#[from] UpdateError),
}

impl From<StoreError> for SubscriptionError {
    fn from(e: StoreError) -> Self {
        Self::Update(UpdateError::Store(e))
    }
}

/// The customer a platform's contact names, made or brought up to date with what it says.
/// `{platform}:{its id}` — for the generic form the same namespace as the generic store's
/// orders, so a subscriber who also orders is one customer.
pub async fn upsert_contact(
    store: &dyn Store,
    settings: &Settings,
    contact: &ContactSnapshot,
    now: DateTime<Utc>,
) -> Result<CustomerId, UpdateError> {
    let platform = match contact.platform {
        Provider::GenericSubscription => Provider::GenericStore,
        other => other,
    };
    let id = CustomerId::of_store_customer(platform, &contact.external_id);
    let id_ref = &id;
    optimistic::with_retries(move || async move {
        let stored = store.get_customer(id_ref).await?;
        let expected = stored.as_ref().map(|c| c.version);
        let mut customer = stored.unwrap_or_else(|| Customer {
            id: id_ref.clone(),
            first_name: None,
            email: None,
            phone: None,
            locale: settings.default_locale.clone(),
            timezone: settings.default_timezone.clone(),
            timezone_source: TimezoneSource::MerchantDefault,
            consents: Consents::default(),
            tier: None,
            marketing_suppressed_until: None,
            purchased: Vec::new(),
            refunded: Vec::new(),
            disliked: Vec::new(),
            preferences_token: Token::random(),
            updated_at: now,
            version: 0,
        });
        let before = customer.clone();
        if let Some(email) = contact.email.as_deref().filter(|e| !e.trim().is_empty()) {
            customer.email = Some(Contact::email(email));
        }
        if let Some(phone) = contact.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            // A national number is read in the country of the customer's zone, if it has one.
            let zone = contact.timezone.as_deref().unwrap_or(&customer.timezone);
            let region = crate::timezone::country_of_zone(zone);
            customer.phone = Some(Contact::phone(phone, region));
        }
        if contact.first_name.is_some() {
            customer.first_name = contact.first_name.clone();
        }
        if let Some(locale) = &contact.locale {
            customer.locale = normalize_locale(Some(locale), &settings.default_locale);
        }
        if let Some(zone) = contact
            .timezone
            .as_deref()
            .filter(|z| crate::timezone::parse_zone(z).is_some())
        {
            customer.timezone = zone.to_string();
            customer.timezone_source = TimezoneSource::Profile;
        }
        if expected.is_some() && customer == before {
            return Ok(());
        }
        customer.updated_at = now;
        store.save_customer(&customer, expected).await
    })
    .await?;
    Ok(id)
}

/// The day a subscription's renewal reminder is filed under (and sent on).
fn reminder_day(subscription: &Subscription, settings: &Settings) -> Option<NaiveDate> {
    let charge = subscription.next_charge_on?;
    charge.checked_sub_signed(Duration::days(i64::from(settings.renewal_reminder_days)))
}

/// Applies a subscription webhook: the subscription (an older snapshot never overwrites a
/// newer one; a cancellation is final), confirmed requests, the customer's contacts, and the
/// renewal reminder filed under its day.
pub async fn apply(
    store: &dyn Store,
    settings: &Settings,
    event: &SubscriptionEvent,
    now: DateTime<Utc>,
) -> Result<&'static str, SubscriptionError> {
    let snapshot = match event {
        SubscriptionEvent::Customer(contact) => {
            upsert_contact(store, settings, contact, now).await?;
            return Ok("customer");
        }
        SubscriptionEvent::Subscription(snapshot) => snapshot,
    };
    let customer_id = upsert_contact(store, settings, &snapshot.customer, now).await?;
    let id = SubscriptionId::new(snapshot.platform, &snapshot.external_id);
    let (id_ref, customer_ref) = (&id, &customer_id);
    let saved = optimistic::with_retries(move || async move {
        let stored = store.get_subscription(id_ref).await?;
        let expected = stored.as_ref().map(|s| s.version);
        let stale = match (
            stored.as_ref().and_then(|s| s.source_updated_at),
            snapshot.updated_at,
        ) {
            (Some(have), Some(new)) => new < have,
            _ => false,
        };
        if stale {
            return Ok(None);
        }
        let previous_charge = stored.as_ref().and_then(|s| s.next_charge_on);
        let mut subscription = Subscription {
            id: id_ref.clone(),
            customer_id: customer_ref.clone(),
            status: snapshot.status,
            interval_days: snapshot.interval_days,
            next_charge_on: snapshot.next_charge_on,
            currency: snapshot.currency.clone(),
            items: snapshot.items.clone(),
            requests: stored
                .as_ref()
                .map(|s| s.requests.clone())
                .unwrap_or_default(),
            link_requested_at: stored.as_ref().and_then(|s| s.link_requested_at),
            source_updated_at: snapshot.updated_at,
            updated_at: now,
            version: 0,
        };
        if stored
            .as_ref()
            .is_some_and(|s| s.status == SubscriptionStatus::Cancelled)
        {
            subscription.status = SubscriptionStatus::Cancelled;
        }
        subscription.confirm_requests(previous_charge);
        store.save_subscription(&subscription, expected).await?;
        Ok(Some(subscription))
    })
    .await?;
    if let Some(subscription) = saved {
        if let (SubscriptionStatus::Active, Some(day)) =
            (subscription.status, reminder_day(&subscription, settings))
        {
            store
                .add_due(
                    &DueEntry::on(DueKind::Renewal, day, subscription.id.as_str()),
                    now,
                )
                .await?;
        }
        return Ok("subscription");
    }
    Ok("stale")
}

/// A fresh manage link for a subscription, good for `manage_link_days`.
pub async fn new_link(
    store: &dyn Store,
    settings: &Settings,
    subscription: &SubscriptionId,
    now: DateTime<Utc>,
) -> Result<ManageLink, StoreError> {
    let link = ManageLink {
        token: Token::random(),
        subscription_id: subscription.clone(),
        expires_at: crate::bounds::later(now, Duration::days(i64::from(settings.manage_link_days))),
    };
    store.save_manage_link(&link).await?;
    Ok(link)
}

/// The manage page's address for a link.
pub fn manage_url(settings: &Settings, link: &ManageLink) -> String {
    format!("{}/s/{}", settings.base_url(), link.token)
}

/// The facts a renewal reminder (or a manage link email) carries.
pub fn subscription_line(
    settings: &Settings,
    subscription: &Subscription,
    link: Option<&ManageLink>,
) -> crate::notify::render::SubscriptionLine {
    crate::notify::render::SubscriptionLine {
        items: subscription
            .items
            .iter()
            .map(|i| crate::notify::render::ItemLine {
                title: i.title.clone(),
                quantity: i.quantity,
            })
            .collect(),
        total: subscription
            .charge_total()
            .map(|t| crate::tracking::view::price_label(&t, subscription.currency.as_deref())),
        next_charge_on: subscription.next_charge_on,
        manage_url: link.map(|l| manage_url(settings, l)),
    }
}

/// What the `renewal-reminders` job did or would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobOutcome {
    pub due_read: usize,
    pub reminders: Vec<PlannedRenewal>,
    pub messages: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRenewal {
    pub subscription: SubscriptionId,
    pub charge_on: NaiveDate,
}

/// The `renewal-reminders` job: subscriptions filed under a day up to today whose charge is
/// still ahead, still active and still on that date get their reminder with a fresh manage
/// link; exactly once per subscription, charge date and channel.
pub async fn run_job(
    notifier: &Notifier<'_>,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<JobOutcome, NotifyError> {
    let store = notifier.store;
    let settings = notifier.settings;
    let mut outcome = JobOutcome::default();
    let entries = store
        .due_subjects(DueKind::Renewal, now, crate::ports::DUE_PER_RUN)
        .await?;
    outcome.due_read = entries.len();
    for (done, entry) in entries.iter().enumerate() {
        let subscription = match SubscriptionId::parse(&entry.subject) {
            Some(id) => store.get_subscription(&id).await?,
            None => None,
        };
        let due = subscription.filter(|s| {
            s.status == SubscriptionStatus::Active
                && reminder_day(s, settings) == Some(entry.day)
                && s.next_charge_on.is_some_and(|d| d >= now.date_naive())
        });
        if let Some(subscription) = due {
            let charge_on = subscription.next_charge_on.unwrap_or(entry.day);
            outcome.reminders.push(PlannedRenewal {
                subscription: subscription.id.clone(),
                charge_on,
            });
            if !preview {
                match remind(notifier, &subscription, charge_on, now).await {
                    Ok(summary) => outcome.messages.add(summary),
                    Err(e) => {
                        let finished = &entries[..done];
                        crate::jobs::entry_failed(notifier, entry, e, finished, preview, now)
                            .await?;
                    }
                }
            }
        }
    }
    crate::jobs::finish_due(notifier, DueKind::Renewal, &entries, preview).await?;
    Ok(outcome)
}

/// The occasion of a renewal reminder: about the customer, keyed by subscription and charge date.
pub fn renewal_occasion(subscription: &Subscription, charge_on: NaiveDate) -> Occasion {
    Occasion::new(
        About::Customer(subscription.customer_id.clone()),
        Message::RenewalReminder,
        Some(format!("{}-{charge_on}", subscription.id)),
    )
}

async fn remind(
    notifier: &Notifier<'_>,
    subscription: &Subscription,
    charge_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Summary, NotifyError> {
    let mut summary = Summary::default();
    let Some(customer) = notifier
        .store
        .get_customer(&subscription.customer_id)
        .await?
    else {
        return Ok(summary);
    };
    let link = new_link(notifier.store, notifier.settings, &subscription.id, now).await?;
    let mut subject = Subject::about_customer(renewal_occasion(subscription, charge_on), &customer);
    subject.subscription = Some(subscription_line(
        notifier.settings,
        subscription,
        Some(&link),
    ));
    notifier
        .notify_occasion(&subject, now, &mut summary)
        .await?;
    Ok(summary)
}

/// The subscription a renewal reminder's occasion names (`{subscription id}-{charge date}`),
/// for deciding it again when it was deferred.
pub fn occasion_subscription(detail: &str) -> Option<(SubscriptionId, NaiveDate)> {
    // `-YYYY-MM-DD` is the last 11 characters.
    let cut = detail.len().checked_sub(11)?;
    if !detail.is_char_boundary(cut) {
        return None;
    }
    let (id, date) = detail.split_at(cut);
    Some((
        SubscriptionId::parse(id)?,
        date.strip_prefix('-')?.parse().ok()?,
    ))
}

/// The occasion of a manage link the customer asked for.
fn link_occasion(subscription: &Subscription, asked_at: DateTime<Utc>) -> Occasion {
    Occasion::new(
        About::Customer(subscription.customer_id.clone()),
        Message::ManageLink,
        Some(format!(
            "link-{}-{}",
            subscription.id,
            asked_at.timestamp_millis()
        )),
    )
}

/// The occasion of a change request's alert to the shop.
fn change_occasion(subscription: &Subscription, request: &ChangeRequest) -> Occasion {
    Occasion::new(
        About::Customer(subscription.customer_id.clone()),
        Message::MerchantAlert,
        Some(format!("sub-{}-{}", subscription.id, request.id)),
    )
}

/// The shop's alert for a change a customer asked for.
pub fn change_alert(
    subscription: &Subscription,
    request: &ChangeRequest,
    customer: &Customer,
) -> AlertLine {
    let items: Vec<String> = subscription
        .items
        .iter()
        .map(|i| format!("{} × {}", i.quantity, i.title))
        .collect();
    let mut details = vec![
        format!("Subscription: {}", subscription.id),
        format!("Items: {}", items.join(", ")),
    ];
    if let Some(next) = subscription.next_charge_on {
        details.push(format!("Next charge: {next}"));
    }
    let asked = match request.kind {
        ChangeKind::Skip => format!(
            "Skip the charge of {}",
            request
                .date
                .map(|d| d.to_string())
                .unwrap_or_else(|| "the next date".into())
        ),
        ChangeKind::Reschedule => format!(
            "Move the next charge to {}",
            request.date.map(|d| d.to_string()).unwrap_or_default()
        ),
        ChangeKind::Quantity => format!(
            "Change the quantity to {}",
            request.quantity.unwrap_or_default()
        ),
        ChangeKind::Pause => "Pause the subscription".into(),
        ChangeKind::Cancel => "Cancel the subscription".into(),
    };
    details.insert(0, format!("Asked for: {asked}"));
    if let Some(reason) = &request.reason {
        details.push(format!("Reason: {reason}"));
    }
    details.push("Make the change in the subscription platform; its next webhook confirms it to the customer.".into());
    AlertLine {
        kind: "subscription_change".into(),
        summary: format!(
            "{} asked: {}",
            customer.first_name.as_deref().unwrap_or("A subscriber"),
            request.kind.as_str().replace('_', " ")
        ),
        details,
        tier: customer.tier.clone(),
        order_name: None,
        tracking_url: None,
    }
}

/// A subscription changed: each new request is sent to the shop (email and webhook), and a
/// link the customer asked for is made and mailed.
pub async fn changed(
    notifier: &Notifier<'_>,
    old: Option<&Subscription>,
    new: &Subscription,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), NotifyError> {
    let known: Vec<&str> = old
        .map(|o| o.requests.iter().map(|r| r.id.as_str()).collect())
        .unwrap_or_default();
    let fresh: Vec<&ChangeRequest> = new
        .requests
        .iter()
        .filter(|r| r.state == ChangeState::Requested && !known.contains(&r.id.as_str()))
        .collect();
    let asked_link = new
        .link_requested_at
        .filter(|at| old.and_then(|o| o.link_requested_at) < Some(*at));
    if fresh.is_empty() && asked_link.is_none() {
        return Ok(());
    }
    let Some(customer) = notifier.store.get_customer(&new.customer_id).await? else {
        return Ok(());
    };
    for request in fresh {
        let mut subject = Subject::about_customer(change_occasion(new, request), &customer);
        subject.alert = Some(change_alert(new, request, &customer));
        notifier.notify_occasion(&subject, now, summary).await?;
    }
    if let Some(at) = asked_link {
        if new.status == SubscriptionStatus::Cancelled {
            return Ok(());
        }
        let link = new_link(notifier.store, notifier.settings, &new.id, now).await?;
        let mut subject = Subject::about_customer(link_occasion(new, at), &customer);
        subject.subscription = Some(subscription_line(notifier.settings, new, Some(&link)));
        notifier.notify_occasion(&subject, now, summary).await?;
    }
    Ok(())
}

/// A renewal reminder or manage link held back (quiet hours), made again from the subscription
/// as it is now: a reminder whose charge moved or ended is not sent.
pub async fn deferred_line(
    notifier: &Notifier<'_>,
    occasion: &Occasion,
    now: DateTime<Utc>,
) -> Result<Result<SubscriptionLine, &'static str>, NotifyError> {
    let detail = occasion.detail.as_deref().unwrap_or_default();
    let (id, charge_on) = match occasion.message {
        Message::RenewalReminder => match occasion_subscription(detail) {
            Some((id, date)) => (id, Some(date)),
            None => return Ok(Err("not a subscription's reminder")),
        },
        _ => {
            let id = detail
                .strip_prefix("link-")
                .and_then(|rest| rest.rsplit_once('-'))
                .and_then(|(id, _)| SubscriptionId::parse(id));
            match id {
                Some(id) => (id, None),
                None => return Ok(Err("not a subscription's link")),
            }
        }
    };
    let Some(subscription) = notifier.store.get_subscription(&id).await? else {
        return Ok(Err("the subscription is gone"));
    };
    if subscription.status == SubscriptionStatus::Cancelled {
        return Ok(Err("the subscription was cancelled since"));
    }
    if charge_on.is_some()
        && (subscription.status != SubscriptionStatus::Active
            || subscription.next_charge_on != charge_on)
    {
        return Ok(Err("the subscription's next charge changed since"));
    }
    let link = new_link(notifier.store, notifier.settings, &subscription.id, now).await?;
    Ok(Ok(subscription_line(
        notifier.settings,
        &subscription,
        Some(&link),
    )))
}

/// A change request's alert held back, made again from the subscription.
pub async fn deferred_alert(
    notifier: &Notifier<'_>,
    detail: &str,
    customer: &Customer,
) -> Result<Option<(AlertLine, Option<Order>)>, NotifyError> {
    let Some((id, request)) = detail
        .strip_prefix("sub-")
        .and_then(|rest| rest.rsplit_once('-'))
    else {
        return Ok(None);
    };
    let Some(id) = SubscriptionId::parse(id) else {
        return Ok(None);
    };
    let Some(subscription) = notifier.store.get_subscription(&id).await? else {
        return Ok(None);
    };
    let alert = subscription
        .requests
        .iter()
        .find(|r| r.id == request)
        .map(|r| change_alert(&subscription, r, customer));
    Ok(alert.map(|a| (a, None)))
}
