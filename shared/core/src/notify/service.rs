//! The notifier: for each change, the occasions it brought about (milestones reached), then per
//! channel the policy's decision, carried out exactly once through an idempotency record:
//! claim (in progress, with a lease) -> render -> send -> finish. A failed send releases the
//! claim and returns an error, so the change is retried. A claim still held by another worker
//! (perhaps one that crashed mid-send) is never skipped: the message is deferred until the
//! lease ends and decided again then.

use super::keys::{About, MessageKey, Occasion};
use super::messages::{Audience, Kind, Message};
use super::milestones::{order_milestones, shipment_milestones, superseded, Milestone};
use super::policy::{self, Decision};
use super::ports::{
    Channels, Claim, DeadLetter, DeadLetters, Deferred, LogEntry, NotifyStore, Outgoing, SendError,
    State,
};
pub use super::render::{AlertLine, PointsLine, SubscriptionLine};
use super::render::{ChoiceLine, ItemLine, MessageContext, RenderError, Rendered, Renderer};
use super::settings::Channel;
use crate::ids::OrderId;
use crate::model::{Customer, Order, Shipment};
use crate::ports::{Freshness, Store, StoreError};
use crate::settings::Settings;
use crate::status::ShipmentStatus;
use chrono::{DateTime, Duration, Utc};

/// A deferred send that fails this many times is set aside as a dead letter.
pub const MAX_DUE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Shipment {
        old: Option<Box<Shipment>>,
        new: Box<Shipment>,
    },
    Order {
        old: Option<Box<Order>>,
        new: Box<Order>,
    },
    /// A loyalty account (a tier rise is announced).
    Account {
        old: Option<Box<crate::loyalty::Account>>,
        new: Box<crate::loyalty::Account>,
    },
    /// A subscription (the customer asked for a change, or for a manage link).
    Subscription {
        old: Option<Box<crate::subscriptions::Subscription>>,
        new: Box<crate::subscriptions::Subscription>,
    },
    /// A review (a poor one alerts the shop; 5 stars earn a thank-you).
    Review {
        old: Option<Box<crate::reviews::Review>>,
        new: Box<crate::reviews::Review>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(SendError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl From<crate::loyalty::service::LoyaltyError> for NotifyError {
    fn from(e: crate::loyalty::service::LoyaltyError) -> Self {
        use crate::loyalty::service::LoyaltyError;
        use crate::optimistic::UpdateError;
        match e {
            LoyaltyError::Update(UpdateError::Store(e)) => Self::Store(e),
            // Many writers at once, or a rule refusing what the stream says: worth another try.
            other => Self::Store(StoreError::Unavailable(other.to_string())),
        }
    }
}

impl From<crate::optimistic::UpdateError> for NotifyError {
    fn from(e: crate::optimistic::UpdateError) -> Self {
        match e {
            crate::optimistic::UpdateError::Store(e) => Self::Store(e),
            // Many writers to one record at once: another try will get through.
            other => Self::Store(StoreError::Unavailable(other.to_string())),
        }
    }
}

impl NotifyError {
    /// A passing failure (storage or a channel unavailable, throttling): retrying the same work
    /// later is expected to succeed. Anything else will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Unavailable(_)) | Self::Send(SendError::Retryable(_))
        )
    }
}

/// Seconds to wait before the `attempt`-th retry: 1, 2, 4, … up to about four minutes.
pub fn backoff_secs(attempt: u32) -> i64 {
    1_i64 << attempt.saturating_sub(1).min(8)
}

/// What processing did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub sent: usize,
    pub deferred: usize,
    pub suppressed: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn add(&mut self, more: Summary) {
        self.sent += more.sent;
        self.deferred += more.deferred;
        self.suppressed += more.suppressed;
        self.skipped += more.skipped;
    }
}

pub struct Notifier<'a> {
    pub store: &'a dyn Store,
    pub notify: &'a dyn NotifyStore,
    pub channels: &'a dyn Channels,
    pub dead_letters: &'a dyn DeadLetters,
    pub renderer: &'a Renderer,
    pub settings: &'a Settings,
}

/// Whatever can hand out a notifier (the notifier Lambda's wiring, the local runner's): the
/// admin API runs jobs through it.
pub trait NotifierSource: Send + Sync {
    fn notifier(&self) -> Notifier<'_>;
}

/// Everything one occasion's messages are about.
pub struct Subject<'s> {
    pub occasion: Occasion,
    pub customer: &'s Customer,
    /// `None` for messages about the customer's own account (points, tiers).
    pub order: Option<&'s Order>,
    pub shipment: Option<&'s Shipment>,
    /// The order's other parcels not delivered yet (split orders).
    pub parcels_remaining: usize,
    /// Points, for rewards messages.
    pub points: Option<PointsLine>,
    /// A subscription, for renewal reminders and manage links.
    pub subscription: Option<SubscriptionLine>,
    /// What a merchant alert is about.
    pub alert: Option<AlertLine>,
    /// Decided on a change of the record it is about (its parcel's, its order's, its loyalty
    /// account's), which no other worker can be deciding at the same time: the table's stream
    /// hands one item's changes to one invocation at a time, in order. Its sends may then skip
    /// the claim (see [`decided_alone`]). False for jobs, deferred sends and a
    /// change deciding another record's messages.
    pub on_own_change: bool,
}

impl<'s> Subject<'s> {
    /// A message about the customer's own account (no order, no parcel).
    pub fn about_customer(occasion: Occasion, customer: &'s Customer) -> Self {
        Self {
            occasion,
            customer,
            order: None,
            shipment: None,
            parcels_remaining: 0,
            points: None,
            subscription: None,
            alert: None,
            on_own_change: false,
        }
    }
}

impl Subject<'_> {
    fn message(&self) -> Message {
        self.occasion.message
    }

    fn key(&self, channel: Channel) -> MessageKey {
        self.occasion.on(channel)
    }
}

impl Notifier<'_> {
    /// Notifies what one change reached, as it happens (changes arrive in order).
    pub async fn process(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Summary, NotifyError> {
        self.process_change(change, false, now).await
    }

    /// Notifies a change retried after later ones were processed: a shipment milestone its
    /// parcel has since moved past is logged as superseded rather than sent out of order.
    pub async fn process_late(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Summary, NotifyError> {
        self.process_change(change, true, now).await
    }

    #[tracing::instrument(name = "notify", skip_all)]
    async fn process_change(
        &self,
        change: &Change,
        late: bool,
        now: DateTime<Utc>,
    ) -> Result<Summary, NotifyError> {
        let mut summary = Summary::default();
        match change {
            Change::Shipment { old, new } => {
                self.shipment_changed(old.as_deref(), new, late, now, &mut summary)
                    .await?
            }
            Change::Order { old, new } => {
                self.order_changed(old.as_deref(), new, now, &mut summary)
                    .await?
            }
            Change::Account { old, new } => {
                self.account_changed(old.as_deref(), new, now, &mut summary)
                    .await?
            }
            Change::Subscription { old, new } => {
                crate::subscriptions::changed(self, old.as_deref(), new, now, &mut summary).await?
            }
            Change::Review { old, new } => {
                crate::reviews::changed(self, old.as_deref(), new, now, &mut summary).await?
            }
        }
        Ok(summary)
    }

    async fn shipment_changed(
        &self,
        old: Option<&Shipment>,
        new: &Shipment,
        late: bool,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let Some(order_id) = new.order_id() else {
            return Ok(());
        };
        let Some((order, customer)) = self.order_and_customer_recent(order_id).await? else {
            return Ok(());
        };
        let zone = policy::zone(&customer, self.settings);
        // The schedule's checks (silence, pickup) and the order's points follow the parcel.
        crate::reminders::index(self.store, self.settings, old, new, zone, now).await?;
        crate::loyalty::service::shipment_changed(
            self.store,
            self.settings,
            old,
            new,
            (&order, &customer),
            now,
        )
        .await?;
        let reached = shipment_milestones(old, new, zone);
        if reached.is_empty() && choice_made(old, new).is_none() {
            return Ok(());
        }
        let parcels_remaining = self.parcels_remaining(&order, new).await?;
        let just_delivered = new.status == ShipmentStatus::Delivered
            && old.is_none_or(|o| o.status != ShipmentStatus::Delivered);
        if just_delivered && parcels_remaining == 0 {
            let delivered_at = new.status_at.unwrap_or(now);
            crate::follow_ups::after_delivery(self.store, self.settings, &order, delivered_at, now)
                .await?;
        }
        let current = match late {
            true => {
                self.store
                    .get_shipment(&new.carrier, &new.tracking_number)
                    .await?
            }
            false => None,
        };
        // An order filled in after its placeholder tells its parcels' milestones from its own
        // change, which may be deciding these at the same time.
        let on_own_change = !order.was_placeholder;
        if let Some(occasion) = choice_made(old, new) {
            let subject = Subject {
                occasion,
                customer: &customer,
                order: Some(&order),
                shipment: Some(new),
                parcels_remaining,
                points: None,
                subscription: None,
                alert: None,
                on_own_change,
            };
            self.notify_occasion(&subject, now, summary).await?;
        }
        for reached in reached {
            let overtaken = current
                .as_ref()
                .is_some_and(|now_| superseded(reached.milestone, now_));
            let subject = Subject {
                occasion: reached.occasion,
                customer: &customer,
                order: Some(&order),
                shipment: Some(new),
                parcels_remaining,
                points: None,
                subscription: None,
                alert: None,
                on_own_change,
            };
            if overtaken {
                for channel in self.settings.channels_for(subject.message()) {
                    let reason = "superseded by a later milestone";
                    self.suppress(&subject, channel, reason, now, summary)
                        .await?;
                }
                continue;
            }
            self.notify_occasion(&subject, now, summary).await?;
            // A VIP's parcel in trouble reaches the shop's support too.
            let vip =
                crate::reviews::vip_occasion(self.settings, &customer, new, &subject.occasion);
            if let Some(occasion) = vip {
                let subject = Subject {
                    occasion,
                    alert: Some(crate::reviews::vip_alert(
                        self.settings,
                        &customer,
                        &order,
                        new,
                    )),
                    ..subject
                };
                self.notify_occasion(&subject, now, summary).await?;
            }
        }
        Ok(())
    }

    /// A loyalty account changed: a rise in tier is congratulated (once per tier).
    async fn account_changed(
        &self,
        old: Option<&crate::loyalty::Account>,
        new: &crate::loyalty::Account,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let Some(occasion) = crate::loyalty::service::tier_upgrade(self.settings, old, new) else {
            return Ok(());
        };
        let Some(customer) = self.store.get_customer(&new.customer_id).await? else {
            return Ok(());
        };
        let subject =
            crate::loyalty::service::tier_subject(self.settings, occasion, &customer, new, now);
        self.notify_occasion(&subject, now, summary).await
    }

    async fn order_changed(
        &self,
        old: Option<&Order>,
        new: &Order,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        // A fulfilment listing another parcel changes nothing a message or the points depend on
        // (the parcel's own record tells the customer): no reads at all.
        let parcels_only = old.is_some_and(|old| {
            *new == Order {
                shipments: new.shipments.clone(),
                updated_at: new.updated_at,
                counted: new.counted,
                version: new.version,
                ..old.clone()
            }
        });
        if parcels_only {
            return Ok(());
        }
        // The record's new image is the order as written (a later write has its own record), so
        // only the customer is read, once for the messages and the points.
        let Some(customer_id) = &new.customer_id else {
            return Ok(());
        };
        let Some(customer) = self.store.get_customer(customer_id).await? else {
            return Ok(());
        };
        let order = new;
        crate::loyalty::service::order_changed(self.store, self.settings, order, &customer, now)
            .await?;
        // Reviews left before the reviewer was a customer take effect now.
        if old.is_none_or(|o| o.customer_id != new.customer_id) {
            crate::reviews::link_customer(self.store, self.settings, &customer, now).await?;
        }
        for reached in order_milestones(old, new) {
            let subject = Subject {
                occasion: reached.occasion,
                customer: &customer,
                order: Some(order),
                shipment: None,
                parcels_remaining: 0,
                points: None,
                subscription: None,
                alert: None,
                on_own_change: true,
            };
            self.notify_occasion(&subject, now, summary).await?;
        }
        // Parcels linked while the order was only a placeholder had nobody to tell yet.
        let was_placeholder = old.is_some_and(|o| o.customer_id.is_none());
        if !was_placeholder {
            return Ok(());
        }
        let zone = policy::zone(&customer, self.settings);
        for shipment in self.order_shipments(order).await? {
            // Nor were its checks filed: a later scan that changes nothing the notifier acts on
            // never reaches it, so they are filed now.
            crate::reminders::index(self.store, self.settings, None, &shipment, zone, now).await?;
            let parcels_remaining = self.parcels_remaining(order, &shipment).await?;
            for reached in shipment_milestones(None, &shipment, zone) {
                // The parcel's own changes may be deciding these too.
                let subject = Subject {
                    occasion: reached.occasion,
                    customer: &customer,
                    order: Some(order),
                    shipment: Some(&shipment),
                    parcels_remaining,
                    points: None,
                    subscription: None,
                    alert: None,
                    on_own_change: false,
                };
                self.notify_occasion(&subject, now, summary).await?;
            }
        }
        Ok(())
    }

    /// Sends what was held back and is now due, unless a later milestone overtook it. A due send
    /// that fails for a reason of its own is retried later and, after [`MAX_DUE_ATTEMPTS`], set
    /// aside as a dead letter: it never holds up the others. A passing failure (storage or a
    /// channel down) stops the run; everything left stays due for the next one.
    #[tracing::instrument(name = "deferred_sends", skip_all)]
    pub async fn process_due(&self, now: DateTime<Utc>) -> Result<Summary, NotifyError> {
        let mut summary = Summary::default();
        for deferred in self.notify.due(now, 100).await? {
            match self.one_due(&deferred, now, &mut summary).await {
                Ok(()) => self.notify.remove_deferred(&deferred).await?,
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => self.due_failed(&deferred, &e, now).await?,
            }
        }
        Ok(summary)
    }

    async fn due_failed(
        &self,
        deferred: &Deferred,
        error: &NotifyError,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let attempts = deferred.attempts.saturating_add(1);
        let key = deferred.key.redacted();
        self.notify.remove_deferred(deferred).await?;
        if attempts >= MAX_DUE_ATTEMPTS {
            tracing::error!(%key, attempts, error = %error, "deferred send failed for good; set aside");
            let letter = DeadLetter {
                source: "deferred_send".into(),
                reference: deferred.key.to_string(),
                error: error.to_string(),
                attempts,
                payload: serde_json::to_value(deferred).unwrap_or_default(),
                at: now,
            };
            return Ok(self.dead_letters.set_aside(&letter).await?);
        }
        tracing::warn!(%key, attempts, error = %error, "deferred send failed; will retry");
        let retry = Deferred {
            due: crate::bounds::later(now, Duration::seconds(backoff_secs(attempts))),
            attempts,
            ..deferred.clone()
        };
        Ok(self.notify.defer(&retry).await?)
    }

    /// Decides a deferred message again from fresh records.
    async fn one_due(
        &self,
        deferred: &Deferred,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let occasion = &deferred.key.occasion;
        if let About::Customer(customer_id) = &occasion.about {
            return self
                .one_due_for_customer(deferred, customer_id, now, summary)
                .await;
        }
        let shipment = match &occasion.about {
            About::Shipment(key) => {
                self.store
                    .get_shipment(&key.carrier, &key.tracking_number)
                    .await?
            }
            About::Order(_) | About::Customer(_) => None,
        };
        let order_id = match (&occasion.about, &shipment) {
            (About::Order(id), _) => Some(id.clone()),
            (About::Shipment(_), Some(shipment)) => shipment.order_id().cloned(),
            (About::Shipment(_) | About::Customer(_), _) => None,
        };
        let Some(order_id) = order_id else {
            return Ok(());
        };
        let Some((order, customer)) = self.order_and_customer(&order_id).await? else {
            return Ok(());
        };
        let parcels_remaining = match &shipment {
            Some(s) => self.parcels_remaining(&order, s).await?,
            None => 0,
        };
        let alert = match (occasion.message, &shipment) {
            (Message::MerchantAlert, Some(shipment)) => Some(crate::reviews::vip_alert(
                self.settings,
                &customer,
                &order,
                shipment,
            )),
            _ => None,
        };
        let subject = Subject {
            occasion: occasion.clone(),
            customer: &customer,
            order: Some(&order),
            shipment: shipment.as_ref(),
            parcels_remaining,
            points: None,
            subscription: None,
            alert,
            on_own_change: false,
        };
        let channel = deferred.key.channel;
        if occasion.message.spec().audience == Audience::Merchant {
            return self.send(&subject, channel, &[], now, summary).await;
        }
        let overtaken = match (occasion.message.milestone(), &shipment) {
            (Some(milestone), Some(shipment)) => superseded(milestone, shipment),
            _ => false,
        };
        if overtaken {
            let reason = "superseded by a later milestone";
            return self.suppress(&subject, channel, reason, now, summary).await;
        }
        let suppressions = self.suppressions(&customer).await?;
        let decision = policy::decide(
            self.settings.occasion_kind(occasion),
            channel,
            &customer,
            suppressions,
            self.settings,
            now,
        );
        self.carry_out(&subject, channel, decision, now, summary)
            .await
    }

    /// A deferred message about a customer's own account, decided again from fresh records:
    /// the points it announces are counted again (a reminder for points since spent is not sent).
    async fn one_due_for_customer(
        &self,
        deferred: &Deferred,
        customer_id: &crate::ids::CustomerId,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let Some(customer) = self.store.get_customer(customer_id).await? else {
            return Ok(());
        };
        let occasion = deferred.key.occasion.clone();
        let channel = deferred.key.channel;
        let points = match occasion.message.kind() {
            Kind::Rewards => {
                crate::loyalty::service::points_line(self, &occasion, &customer, now).await?
            }
            _ => None,
        };
        let mut subject = Subject {
            occasion,
            customer: &customer,
            order: None,
            shipment: None,
            parcels_remaining: 0,
            points,
            subscription: None,
            alert: None,
            on_own_change: false,
        };
        if let Some(reason) = crate::loyalty::service::nothing_to_say(&subject) {
            return self.suppress(&subject, channel, reason, now, summary).await;
        }
        // Subscription and review messages are rebuilt from their records, or dropped with why.
        let order;
        match occasion_facts(self, &subject.occasion, &customer, now).await? {
            Ok(facts) => {
                subject.subscription = facts.subscription;
                subject.alert = facts.alert;
                order = facts.order;
                subject.order = order.as_ref();
            }
            Err(reason) => return self.suppress(&subject, channel, reason, now, summary).await,
        }
        if subject.message().spec().audience == Audience::Merchant {
            return self.send(&subject, channel, &[], now, summary).await;
        }
        let suppressions = self.suppressions(&customer).await?;
        let decision = policy::decide(
            subject.message().kind(),
            channel,
            &customer,
            suppressions,
            self.settings,
            now,
        );
        self.carry_out(&subject, channel, decision, now, summary)
            .await
    }

    /// An order and its customer (`None` while either is missing, or the order is a placeholder).
    pub(crate) async fn order_and_customer(
        &self,
        order_id: &OrderId,
    ) -> Result<Option<(Order, Customer)>, NotifyError> {
        self.order_and_customer_read(order_id, Freshness::Latest)
            .await
    }

    /// [`Self::order_and_customer`] for a parcel's change or a scheduled job, read as a replica
    /// has them (half the read units on DynamoDB). Deciding a message from the order and
    /// customer of a second ago is what handling the change, or running the job, a second
    /// earlier would have done. Only an answer that would tell nobody (no order, a placeholder,
    /// no customer) is checked against the latest, so a lagging replica never loses a message.
    pub(crate) async fn order_and_customer_recent(
        &self,
        order_id: &OrderId,
    ) -> Result<Option<(Order, Customer)>, NotifyError> {
        match self
            .order_and_customer_read(order_id, Freshness::Recent)
            .await?
        {
            Some(found) => Ok(Some(found)),
            None => self.order_and_customer(order_id).await,
        }
    }

    async fn order_and_customer_read(
        &self,
        order_id: &OrderId,
        freshness: Freshness,
    ) -> Result<Option<(Order, Customer)>, NotifyError> {
        let Some(order) = self.store.read_order(order_id, freshness).await? else {
            return Ok(None);
        };
        let Some(customer_id) = &order.customer_id else {
            return Ok(None);
        };
        let Some(customer) = self.store.read_customer(customer_id, freshness).await? else {
            return Ok(None);
        };
        Ok(Some((order, customer)))
    }

    async fn order_shipments(&self, order: &Order) -> Result<Vec<Shipment>, NotifyError> {
        let mut shipments = Vec::new();
        for parcel in &order.shipments {
            let Some(carrier) = &parcel.carrier else {
                continue;
            };
            if let Some(shipment) = self
                .store
                .get_shipment(carrier, &parcel.tracking_number)
                .await?
            {
                shipments.push(shipment);
            }
        }
        Ok(shipments)
    }

    /// The order's other parcels that are not delivered (parked ones, with no carrier yet, count).
    async fn parcels_remaining(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<usize, NotifyError> {
        let mut remaining = 0;
        for parcel in order
            .shipments
            .iter()
            .filter(|p| p.tracking_number != shipment.tracking_number)
        {
            let delivered = match &parcel.carrier {
                Some(carrier) => self
                    .store
                    .get_shipment(carrier, &parcel.tracking_number)
                    .await?
                    .is_some_and(|s| s.status == ShipmentStatus::Delivered),
                None => false,
            };
            remaining += usize::from(!delivered);
        }
        Ok(remaining)
    }

    async fn suppressions(&self, customer: &Customer) -> Result<policy::Suppressions, NotifyError> {
        let email = customer
            .email
            .as_ref()
            .and_then(|e| e.usable())
            .map(|e| e.as_str());
        let phone = customer
            .phone
            .as_ref()
            .and_then(|p| p.usable())
            .map(|p| p.as_str());
        Ok(self.notify.suppressions(email, phone).await?)
    }

    /// Every channel's decision for one occasion, carried out (the jobs call it too).
    pub async fn notify_occasion(
        &self,
        subject: &Subject<'_>,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let suppressions = self.suppressions(subject.customer).await?;
        let plan = match subject.message().spec().audience {
            Audience::Merchant => policy::plan(
                subject.message(),
                subject.customer,
                suppressions,
                self.settings,
                now,
            ),
            Audience::Customer => policy::plan_with(
                self.settings.occasion_kind(&subject.occasion),
                &self.settings.occasion_channels(&subject.occasion),
                subject.customer,
                suppressions,
                self.settings,
                now,
            ),
        };
        let mut decided = Vec::with_capacity(plan.len());
        for (channel, decision) in plan {
            let decision = match self.follow_up_without_templates(subject, channel) {
                Some(reason) if !matches!(decision, Decision::Suppress { .. }) => {
                    Decision::Suppress { reason }
                }
                _ => decision,
            };
            decided.push((channel, self.capped(subject, decision, now).await?));
        }
        // The suppressed channels of an occasion that sends on another are recorded with the
        // first one sent, in the write that completes it (see `NotifyStore::finish_beside`).
        let lead = decided
            .iter()
            .position(|(_, decision)| matches!(decision, Decision::Send));
        let beside: Vec<(Channel, String)> = match lead {
            Some(_) => decided
                .iter()
                .filter_map(|(channel, decision)| match decision {
                    Decision::Suppress { reason } => Some((*channel, reason.clone())),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        for (at, (channel, decision)) in decided.into_iter().enumerate() {
            match decision {
                Decision::Send if Some(at) == lead => {
                    self.send(subject, channel, &beside, now, summary).await?
                }
                Decision::Suppress { .. } if lead.is_some() => {}
                decision => {
                    self.carry_out_capped(subject, channel, decision, now, summary)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Why a merchant's follow-up cannot go out on `channel`: it has no templates for it (one
    /// written for email alone, reaching a customer by SMS through `fallback`). Every built-in
    /// message has templates for both channels.
    fn follow_up_without_templates(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
    ) -> Option<String> {
        let name = match (subject.message(), subject.occasion.detail.as_deref()) {
            (Message::FollowUp, Some(name)) => name,
            _ => return None,
        };
        (!self.renderer.has_follow_up_for(name, channel))
            .then(|| format!("the follow-up {name:?} has no {channel} template"))
    }

    /// A marketing message over `marketing_cap` is suppressed, saying so. Transactional ones
    /// are never capped. The count is of distinct occasions, so one message on two channels
    /// counts once and both its channels go out.
    async fn capped(
        &self,
        subject: &Subject<'_>,
        decision: Decision,
        now: DateTime<Utc>,
    ) -> Result<Decision, NotifyError> {
        let marketing = self.settings.occasion_kind(&subject.occasion) == Kind::Marketing;
        if !marketing || matches!(decision, Decision::Suppress { .. }) {
            return Ok(decision);
        }
        let since = crate::bounds::earlier(now, Duration::days(policy::MARKETING_CAP_DAYS));
        let this = subject.occasion.to_string();
        let mut recent = self
            .notify
            .marketing_sent_since(&subject.customer.id, since)
            .await?;
        recent.retain(|occasion| *occasion != this);
        recent.sort();
        recent.dedup();
        Ok(
            match policy::over_marketing_cap(recent.len(), self.settings) {
                Some(reason) => Decision::Suppress { reason },
                None => decision,
            },
        )
    }

    async fn carry_out(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        decision: Decision,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let decision = self.capped(subject, decision, now).await?;
        self.carry_out_capped(subject, channel, decision, now, summary)
            .await
    }

    /// Carries out a decision the marketing cap has already had its say on.
    async fn carry_out_capped(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        decision: Decision,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        match decision {
            Decision::Send => self.send(subject, channel, &[], now, summary).await,
            Decision::Suppress { reason } => {
                self.suppress(subject, channel, &reason, now, summary).await
            }
            Decision::Defer { until } => {
                let reason = "quiet hours in the customer's timezone";
                self.defer(subject, channel, until, reason, now, summary)
                    .await
            }
        }
    }

    /// Holds a message back until `until`, when it is decided again from fresh records.
    async fn defer(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        until: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let deferred = Deferred {
            key: subject.key(channel),
            due: until,
            attempts: 0,
        };
        self.notify.defer(&deferred).await?;
        let mut entry = self.entry(subject, channel, State::Deferred, now);
        entry.send_after = Some(until);
        entry.reason = Some(reason.to_string());
        self.notify.log(&entry).await?;
        summary.deferred += 1;
        Ok(())
    }

    /// Another worker holds this message's claim, perhaps one that died mid-send: decide again
    /// once its lease has ended (the message is sent then, unless that worker finished it).
    async fn wait_for_holder(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let retry_at = crate::bounds::later(until, Duration::seconds(1));
        let reason = "another worker was sending it; retried when its claim expires";
        self.defer(subject, channel, retry_at, reason, now, summary)
            .await
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        crate::bounds::later(
            now,
            Duration::seconds(i64::from(self.settings.claim_lease_s)),
        )
    }

    async fn suppress(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        reason: &str,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let key = subject.key(channel);
        let entry = self.suppressed_entry(subject, channel, reason, now);
        match self
            .notify
            .settle(&key, &entry, self.lease_until(now), now)
            .await?
        {
            // Settled: the record is written either way.
            Claim::Claimed | Claim::Open => {
                summary.suppressed += 1;
                Ok(())
            }
            Claim::AlreadySent => {
                summary.skipped += 1;
                Ok(())
            }
            Claim::InProgress { until } => {
                self.wait_for_holder(subject, channel, until, now, summary)
                    .await
            }
        }
    }

    /// Sends on `channel`, and records `beside` (other channels' suppressions, with their
    /// reasons) in the write that completes it.
    async fn send(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        beside: &[(Channel, String)],
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let key = subject.key(channel);
        let claim = match decided_alone(subject, channel) {
            true => self.notify.check(&key, self.lease_until(now), now).await?,
            false => self.notify.claim(&key, self.lease_until(now), now).await?,
        };
        match claim {
            // Decided before (a redelivered change, an occasion reached twice): the channels
            // suppressed then were recorded with this message, as a channel sent or deferred
            // then has its own record, so none is logged twice.
            Claim::AlreadySent => {
                summary.skipped += 1 + beside.len();
                return Ok(());
            }
            // Its holder may never complete it: these are settled on their own.
            Claim::InProgress { until } => {
                for (other, reason) in beside {
                    self.suppress(subject, *other, reason, now, summary).await?;
                }
                return self
                    .wait_for_holder(subject, channel, until, now, summary)
                    .await;
            }
            Claim::Claimed | Claim::Open => {}
        }
        let beside: Vec<LogEntry> = beside
            .iter()
            .map(|(other, reason)| self.suppressed_entry(subject, *other, reason, now))
            .collect();
        let mut entry = self.entry(subject, channel, State::Sent, now);
        let outgoing = match self.outgoing(subject, channel, &mut entry) {
            Ok(outgoing) => outgoing,
            Err(e) => {
                if claim == Claim::Claimed {
                    self.notify.release(&key).await?;
                }
                return Err(e);
            }
        };
        match self.channels.send(&outgoing).await {
            Ok(id) => {
                entry.provider_message_id = Some(id);
                summary.suppressed += self
                    .notify
                    .finish_beside(&key, &entry, &beside, now)
                    .await?;
                summary.sent += 1;
                Ok(())
            }
            Err(SendError::Rejected(reason)) => {
                // Refused for good (a bad number, a suppressed address): retrying cannot help.
                entry.state = State::Failed;
                entry.reason = Some(reason);
                summary.suppressed += self
                    .notify
                    .finish_beside(&key, &entry, &beside, now)
                    .await?;
                Ok(())
            }
            Err(e @ SendError::Retryable(_)) => {
                tracing::warn!(key = %key.redacted(), error = %e, "send failed; will retry");
                entry.state = State::Failed;
                entry.reason = Some(format!("{e}; will retry"));
                self.notify.log(&entry).await?;
                if claim == Claim::Claimed {
                    self.notify.release(&key).await?;
                }
                Err(NotifyError::Send(e))
            }
        }
    }

    /// The log entry of a message suppressed on `channel`, with why.
    fn suppressed_entry(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        reason: &str,
        now: DateTime<Utc>,
    ) -> LogEntry {
        LogEntry {
            reason: Some(reason.to_string()),
            ..self.entry(subject, channel, State::Suppressed, now)
        }
    }

    fn entry(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        state: State,
        now: DateTime<Utc>,
    ) -> LogEntry {
        let customer = subject.customer;
        let message = subject.message();
        let to = match message.spec().audience {
            Audience::Customer => address(customer, channel),
            Audience::Merchant => {
                policy::merchant_address(channel, self.settings).map(str::to_string)
            }
        };
        LogEntry {
            key: subject.key(channel),
            customer_id: customer.id.clone(),
            channel,
            to,
            subject: None,
            body: None,
            html: None,
            kind: self.settings.occasion_kind(&subject.occasion),
            message,
            milestone: message.milestone(),
            order_id: subject.order.map(|o| o.id.clone()),
            tracking_number: subject.shipment.map(|s| s.tracking_number.clone()),
            locale: customer.locale.clone(),
            state,
            send_after: None,
            reason: None,
            provider_message_id: None,
            at: now,
        }
    }

    fn outgoing(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        entry: &mut LogEntry,
    ) -> Result<Outgoing, NotifyError> {
        let to = entry.to.clone().unwrap_or_default();
        let kind = self.settings.occasion_kind(&subject.occasion);
        if channel == Channel::Webhook {
            let body = webhook_payload(self.settings, subject, &entry.key).to_string();
            entry.body = Some(body.clone());
            return Ok(Outgoing {
                channel,
                to,
                subject: None,
                body,
                html: None,
                kind,
                unsubscribe_url: None,
            });
        }
        // The shop reads its messages in the shop's language.
        let locale = match subject.message().spec().audience {
            Audience::Customer => subject.customer.locale.as_str(),
            Audience::Merchant => self.settings.default_locale.as_str(),
        };
        let context = message_context(
            self.settings,
            &MessageSubject {
                message: subject.message(),
                customer: subject.customer,
                order: subject.order,
                shipment: subject.shipment,
                parcels_remaining: subject.parcels_remaining,
                points: subject.points.clone(),
                subscription: subject.subscription.clone(),
                alert: subject.alert.clone(),
                detail: subject.occasion.detail.as_deref(),
            },
        );
        let rendered = self.renderer.render_template(
            subject.message(),
            &super::render::template_name(&subject.occasion),
            channel,
            locale,
            &self.settings.default_locale,
            &context,
        )?;
        let unsubscribe_url = (kind == Kind::Marketing).then(|| {
            format!(
                "{}/p/{}/unsubscribe",
                self.settings.base_url(),
                subject.customer.preferences_token
            )
        });
        let (subject_line, body, html) = match rendered {
            Rendered::Sms { body, .. } => (None, body, None),
            Rendered::Email {
                subject,
                html,
                text,
            } => (Some(subject), text, Some(html)),
        };
        entry.subject = subject_line.clone();
        entry.body = Some(body.clone());
        entry.html = html.clone();
        Ok(Outgoing {
            channel,
            to,
            subject: subject_line,
            body,
            html,
            kind,
            unsubscribe_url,
        })
    }
}

/// The customer's usable address on a channel.
fn address(customer: &Customer, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => customer
            .email
            .as_ref()
            .and_then(|e| e.usable())
            .map(|e| e.as_str().to_string()),
        Channel::Sms => customer
            .phone
            .as_ref()
            .and_then(|p| p.usable())
            .map(|p| p.as_str().to_string()),
        Channel::Webhook => None,
    }
}

/// Whether a send may skip its claim: a read of the message's record before it and the write
/// that completes it after take the place of a claim and its completion (on DynamoDB one
/// read unit instead of one write unit, a fifth of the price). Only when no other worker
/// can be deciding the message at the same time, which a claim is there to settle:
/// - decided on its own record's change (`Subject::on_own_change`): the stream hands one
///   item's changes to one invocation at a time, and a retried change comes after the
///   failed attempt ended;
/// - not a message a scheduled job decides too (`MessageSpec::scheduled`);
/// - not on a channel quiet hours may defer: the deferred send is decided by the schedule,
///   perhaps while a retried change decides it again.
///
/// A record someone else holds is taken over as a claim would be (`NotifyStore::check`), and
/// a crash between the provider's acceptance and the completing write sends the message
/// again when the change is retried, as a claim whose lease ran out would.
pub(crate) fn decided_alone(subject: &Subject<'_>, channel: Channel) -> bool {
    subject.on_own_change && !subject.message().spec().scheduled && !policy::may_defer(channel)
}

/// A new delivery choice on a parcel (a changed one for the same attempt counts too: the shop
/// is told again).
fn choice_made(old: Option<&Shipment>, new: &Shipment) -> Option<Occasion> {
    let choice = new.delivery_choice.as_ref()?;
    if old.and_then(|o| o.delivery_choice.as_ref()) == Some(choice) {
        return None;
    }
    Some(Occasion::new(
        About::Shipment(new.key()),
        Message::DeliveryChoice,
        Some(format!(
            "{}-{}",
            choice.attempt,
            choice.chosen_at.timestamp_millis()
        )),
    ))
}

/// The JSON a merchant webhook carries: what happened, to which parcel, order and customer.
/// The envelope (`event`, `event_id`, `occurred_at`) is the same for every event.
pub fn webhook_payload(
    settings: &Settings,
    subject: &Subject<'_>,
    key: &MessageKey,
) -> serde_json::Value {
    let shipment = subject.shipment.map(|s| {
        serde_json::json!({
            "carrier": s.carrier,
            "tracking_number": s.tracking_number,
            "status": s.status,
            "tracking_url": format!("{}/t/{}", settings.base_url(), s.tracking_token),
        })
    });
    let choice = subject.shipment.and_then(|s| s.delivery_choice.as_ref());
    serde_json::json!({
        "event": subject.message(),
        "event_id": key.to_string(),
        "occurred_at": choice.map(|c| c.chosen_at),
        "shipment": shipment,
        "order": subject.order.map(|o| serde_json::json!({"id": o.id, "name": o.name})),
        "customer": {"id": subject.customer.id, "first_name": subject.customer.first_name, "tier": subject.customer.tier},
        "delivery_choice": choice,
        "alert": subject.alert,
    })
}

/// What a message is about, as rendering needs it.
pub struct MessageSubject<'s> {
    pub message: Message,
    pub customer: &'s Customer,
    pub order: Option<&'s Order>,
    pub shipment: Option<&'s Shipment>,
    /// The order's other parcels not delivered yet (split orders).
    pub parcels_remaining: usize,
    pub points: Option<PointsLine>,
    pub subscription: Option<SubscriptionLine>,
    pub alert: Option<AlertLine>,
    /// The occasion's detail (`stalled-…` for a parcel the schedule found silent).
    pub detail: Option<&'s str>,
}

/// The items a message lists: the parcel's own (when the store said which), else the order's.
fn items(order: &Order, shipment: Option<&Shipment>) -> Vec<ItemLine> {
    let shipped = shipment
        .and_then(|s| s.order.as_ref())
        .filter(|link| !link.items.is_empty());
    match shipped {
        Some(link) => link
            .items
            .iter()
            .filter_map(|item| {
                let line = order
                    .line_items
                    .iter()
                    .find(|l| l.id == item.line_item_id)?;
                Some(ItemLine {
                    title: line.title.clone(),
                    quantity: item.quantity,
                })
            })
            .collect(),
        None => order
            .line_items
            .iter()
            .map(|l| ItemLine {
                title: l.title.clone(),
                quantity: l.quantity,
            })
            .collect(),
    }
}

/// Everything a message may say about its subject. Pure (the fuzz target drives it with
/// arbitrary shipments).
pub fn message_context(settings: &Settings, subject: &MessageSubject<'_>) -> MessageContext {
    let order = subject.order;
    let shipment = subject.shipment;
    let base = settings.base_url();
    let parcels_remaining = subject.parcels_remaining;
    let delivered = shipment.is_some_and(|s| s.status == ShipmentStatus::Delivered);
    let delayed = subject.message.milestone() == Some(Milestone::Delayed);
    MessageContext {
        brand: settings.brand.clone(),
        first_name: subject.customer.first_name.clone(),
        tier: subject.customer.tier.clone(),
        order_name: order.map(|o| o.name.clone()).unwrap_or_default(),
        carrier: shipment
            .map(|s| carrier_name(s.carrier.as_str()))
            .unwrap_or_default(),
        tracking_number: shipment
            .map(|s| s.tracking_number.to_string())
            .unwrap_or_default(),
        tracking_url: shipment
            .map(|s| format!("{base}/t/{}", s.tracking_token))
            .unwrap_or_default(),
        preferences_url: format!("{base}/p/{}", subject.customer.preferences_token),
        // An estimate is not repeated once the parcel is in trouble (it is no longer believable).
        estimated_delivery: shipment
            .filter(|s| s.status != ShipmentStatus::Exception || delayed)
            .and_then(|s| s.estimated_delivery.as_ref().map(|e| e.latest)),
        items: order.map(|o| items(o, shipment)).unwrap_or_default(),
        parcels_remaining,
        order_complete: delivered && parcels_remaining == 0,
        attempt: shipment.map_or(0, Shipment::failed_attempts),
        choice: shipment
            .and_then(|s| s.delivery_choice.as_ref())
            .map(|c| ChoiceLine {
                choice: c.choice.as_str().to_string(),
                date: c.date,
                note: c.note.clone(),
            }),
        points: subject.points.clone(),
        subscription: subject.subscription.clone(),
        alert: subject.alert.clone(),
        vip: crate::reviews::is_vip(settings, subject.customer),
        referral_url: settings.referral_url.clone(),
        loyalty_program: settings.loyalty.is_some(),
        store_url: settings.store_url.clone(),
        // A parcel the schedule found silent (not a carrier's word) says how long it has been.
        stalled_days: subject
            .detail
            .filter(|d| d.starts_with(crate::reminders::STALLED_PREFIX))
            .map(|_| settings.reminders.stalled_days),
    }
}

/// How a carrier slug reads in a message: acronyms upper-case, names capitalized.
pub fn carrier_name(slug: &str) -> String {
    match slug {
        "ups" | "usps" | "dhl" | "tnt" | "ems" => slug.to_ascii_uppercase(),
        "fedex" => "FedEx".into(),
        other => other
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What a deferred message about a customer needs beyond the customer, read again.
#[derive(Default)]
struct OccasionFacts {
    subscription: Option<SubscriptionLine>,
    alert: Option<AlertLine>,
    order: Option<Order>,
}

/// Rebuilds a deferred customer message's facts from fresh records, or says why it no longer
/// applies (a subscription that changed since its reminder was planned).
async fn occasion_facts(
    notifier: &Notifier<'_>,
    occasion: &super::keys::Occasion,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Result<Result<OccasionFacts, &'static str>, NotifyError> {
    let detail = occasion.detail.as_deref().unwrap_or_default();
    match occasion.message {
        Message::RenewalReminder | Message::ManageLink => {
            let found = crate::subscriptions::deferred_line(notifier, occasion, now).await?;
            Ok(found.map(|subscription| OccasionFacts {
                subscription: Some(subscription),
                ..OccasionFacts::default()
            }))
        }
        Message::MerchantAlert => {
            let found = match detail.split_once('-') {
                Some(("review", _)) => {
                    crate::reviews::deferred_alert(notifier, detail, customer).await?
                }
                Some(("sub", _)) => {
                    crate::subscriptions::deferred_alert(notifier, detail, customer).await?
                }
                _ => None,
            };
            Ok(found
                .map(|(alert, order)| OccasionFacts {
                    alert: Some(alert),
                    order,
                    ..OccasionFacts::default()
                })
                .ok_or("what the alert was about is gone"))
        }
        _ => Ok(Ok(OccasionFacts::default())),
    }
}
