//! The notifier: for each change, the milestones it reached, then per channel the policy's
//! decision, carried out exactly once through an idempotency record:
//! claim (in progress, with a lease) -> render -> send -> complete. A failed send releases the
//! claim and returns an error, so the change is retried; a crashed send's lease expires.

use super::milestones::{order_milestones, shipment_milestones, superseded, Milestone, Reached};
use super::policy::{self, kind_of, Decision, Kind};
use super::ports::{Channels, Claim, Deferred, LogEntry, NotifyStore, Outgoing, SendError, State};
use super::render::{ItemLine, MessageContext, RenderError, Rendered, Renderer};
use super::settings::{Channel, NotifySettings};
use crate::model::{Customer, Order, Shipment};
use crate::ports::{Store, StoreError};
use crate::status::ShipmentStatus;
use chrono::{DateTime, Duration, Utc};

/// How long a claim protects a send in progress before another worker may take it over.
pub const CLAIM_LEASE_SECS: i64 = 300;

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
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(SendError),
    #[error("another worker is sending {0}")]
    Busy(String),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// What processing did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub sent: usize,
    pub deferred: usize,
    pub suppressed: usize,
    pub skipped: usize,
}

pub struct Notifier<'a> {
    pub store: &'a dyn Store,
    pub notify: &'a dyn NotifyStore,
    pub channels: &'a dyn Channels,
    pub renderer: &'a Renderer,
    pub settings: &'a NotifySettings,
}

/// Everything one milestone's messages are about.
struct Subject<'s> {
    reached: Reached,
    customer: &'s Customer,
    order: &'s Order,
    shipment: Option<&'s Shipment>,
    /// The order's other parcels not delivered yet (split orders).
    parcels_remaining: usize,
}

impl Notifier<'_> {
    pub async fn process(
        &self,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Summary, NotifyError> {
        let mut summary = Summary::default();
        match change {
            Change::Shipment { old, new } => {
                let Some(order_id) = new.order_id() else {
                    return Ok(summary);
                };
                let Some((order, customer)) = self.order_and_customer(order_id).await? else {
                    return Ok(summary);
                };
                let zone = policy::zone(&customer, self.settings);
                let reached = shipment_milestones(old.as_deref(), new, zone);
                if reached.is_empty() {
                    return Ok(summary);
                }
                let parcels_remaining = self.parcels_remaining(&order, new).await?;
                for reached in reached {
                    let subject = Subject {
                        reached,
                        customer: &customer,
                        order: &order,
                        shipment: Some(new),
                        parcels_remaining,
                    };
                    self.milestone(&subject, now, &mut summary).await?;
                }
            }
            Change::Order { old, new } => {
                let Some((order, customer)) = self.order_and_customer(&new.id).await? else {
                    return Ok(summary);
                };
                for reached in order_milestones(old.as_deref(), new) {
                    let subject = Subject {
                        reached,
                        customer: &customer,
                        order: &order,
                        shipment: None,
                        parcels_remaining: 0,
                    };
                    self.milestone(&subject, now, &mut summary).await?;
                }
                // Parcels linked while the order was only a placeholder had nobody to tell yet.
                let was_placeholder = old.as_ref().is_some_and(|o| o.customer_id.is_none());
                if was_placeholder {
                    let zone = policy::zone(&customer, self.settings);
                    for shipment in self.order_shipments(&order).await? {
                        let parcels_remaining = self.parcels_remaining(&order, &shipment).await?;
                        for reached in shipment_milestones(None, &shipment, zone) {
                            let subject = Subject {
                                reached,
                                customer: &customer,
                                order: &order,
                                shipment: Some(&shipment),
                                parcels_remaining,
                            };
                            self.milestone(&subject, now, &mut summary).await?;
                        }
                    }
                }
            }
        }
        Ok(summary)
    }

    /// Sends what quiet hours held back and is now due, unless a later milestone overtook it.
    pub async fn process_due(&self, now: DateTime<Utc>) -> Result<Summary, NotifyError> {
        let mut summary = Summary::default();
        for deferred in self.notify.due(now, 100).await? {
            self.one_due(&deferred, now, &mut summary).await?;
            self.notify.remove_deferred(&deferred).await?;
        }
        Ok(summary)
    }

    async fn one_due(
        &self,
        deferred: &Deferred,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let shipment = match (&deferred.carrier, &deferred.tracking_number) {
            (Some(carrier), Some(tracking)) => {
                let (Some(carrier), Some(tracking)) = (
                    crate::ids::CarrierSlug::parse(carrier),
                    crate::ids::TrackingNumber::parse(tracking),
                ) else {
                    return Ok(());
                };
                self.store.get_shipment(&carrier, &tracking).await?
            }
            _ => None,
        };
        let order_id = shipment
            .as_ref()
            .and_then(|s| s.order_id().map(str::to_string))
            .or(deferred.order_id.clone());
        let Some(order_id) = order_id else {
            return Ok(());
        };
        let Some((order, customer)) = self.order_and_customer(&order_id).await? else {
            return Ok(());
        };
        let reached_key = deferred
            .key
            .rsplit_once('#')
            .map(|(k, _)| k.to_string())
            .unwrap_or_default();
        let parcels_remaining = match &shipment {
            Some(s) => self.parcels_remaining(&order, s).await?,
            None => 0,
        };
        let subject = Subject {
            reached: Reached {
                milestone: deferred.milestone,
                key: reached_key,
            },
            customer: &customer,
            order: &order,
            shipment: shipment.as_ref(),
            parcels_remaining,
        };
        if shipment
            .as_ref()
            .is_some_and(|s| superseded(deferred.milestone, s))
        {
            return self
                .suppress(
                    &subject,
                    deferred.channel,
                    "superseded by a later milestone",
                    now,
                    summary,
                )
                .await;
        }
        let suppressions = self.suppressions(&customer).await?;
        let decision = policy::decide(
            kind_of(deferred.milestone),
            deferred.channel,
            &customer,
            suppressions,
            self.settings,
            now,
        );
        self.carry_out(&subject, deferred.channel, decision, now, summary)
            .await
    }

    async fn order_and_customer(
        &self,
        order_id: &str,
    ) -> Result<Option<(Order, Customer)>, NotifyError> {
        let Some(order) = self.store.get_order(order_id).await? else {
            return Ok(None);
        };
        let Some(customer_id) = order.customer_id.as_deref() else {
            return Ok(None);
        };
        let Some(customer) = self.store.get_customer(customer_id).await? else {
            return Ok(None);
        };
        Ok(Some((order, customer)))
    }

    async fn order_shipments(&self, order: &Order) -> Result<Vec<Shipment>, NotifyError> {
        let mut shipments = Vec::new();
        for parcel in &order.shipments {
            if let Some(carrier) = &parcel.carrier {
                if let Some(shipment) = self
                    .store
                    .get_shipment(carrier, &parcel.tracking_number)
                    .await?
                {
                    shipments.push(shipment);
                }
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

    async fn milestone(
        &self,
        subject: &Subject<'_>,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let suppressions = self.suppressions(subject.customer).await?;
        for (channel, decision) in policy::plan(
            subject.reached.milestone,
            subject.customer,
            suppressions,
            self.settings,
            now,
        ) {
            self.carry_out(subject, channel, decision, now, summary)
                .await?;
        }
        Ok(())
    }

    async fn carry_out(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        decision: Decision,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        match decision {
            Decision::Send => self.send(subject, channel, now, summary).await,
            Decision::Suppress { reason } => {
                self.suppress(subject, channel, &reason, now, summary).await
            }
            Decision::Defer { until } => {
                let key = message_key(subject, channel);
                let deferred = Deferred {
                    key: key.clone(),
                    due: until,
                    channel,
                    milestone: subject.reached.milestone,
                    carrier: subject.shipment.map(|s| s.carrier.to_string()),
                    tracking_number: subject.shipment.map(|s| s.tracking_number.to_string()),
                    order_id: Some(subject.order.id.clone()),
                };
                self.notify.defer(&deferred).await?;
                let mut entry = self.entry(subject, channel, State::Deferred, now);
                entry.send_after = Some(until);
                entry.reason = Some("quiet hours in the customer's timezone".into());
                self.notify.log(&entry).await?;
                summary.deferred += 1;
                Ok(())
            }
        }
    }

    async fn suppress(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        reason: &str,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let key = message_key(subject, channel);
        match self
            .notify
            .claim(&key, now + Duration::seconds(CLAIM_LEASE_SECS), now)
            .await?
        {
            Claim::Claimed => {
                let mut entry = self.entry(subject, channel, State::Suppressed, now);
                entry.reason = Some(reason.to_string());
                self.notify.log(&entry).await?;
                self.notify.complete(&key, now).await?;
                summary.suppressed += 1;
            }
            Claim::AlreadySent | Claim::InProgress => summary.skipped += 1,
        }
        Ok(())
    }

    async fn send(
        &self,
        subject: &Subject<'_>,
        channel: Channel,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<(), NotifyError> {
        let key = message_key(subject, channel);
        match self
            .notify
            .claim(&key, now + Duration::seconds(CLAIM_LEASE_SECS), now)
            .await?
        {
            Claim::AlreadySent => {
                summary.skipped += 1;
                return Ok(());
            }
            Claim::InProgress => return Err(NotifyError::Busy(key)),
            Claim::Claimed => {}
        }
        let mut entry = self.entry(subject, channel, State::Sent, now);
        let outgoing = match self.outgoing(subject, channel, &mut entry) {
            Ok(outgoing) => outgoing,
            Err(e) => {
                self.notify.release(&key).await?;
                return Err(e);
            }
        };
        match self.channels.send(&outgoing).await {
            Ok(id) => {
                entry.provider_message_id = Some(id);
                self.notify.log(&entry).await?;
                self.notify.complete(&key, now).await?;
                summary.sent += 1;
                Ok(())
            }
            Err(SendError::Rejected(reason)) => {
                // Refused for good (a bad number, a suppressed address): retrying cannot help.
                entry.state = State::Failed;
                entry.reason = Some(reason);
                self.notify.log(&entry).await?;
                self.notify.complete(&key, now).await?;
                Ok(())
            }
            Err(e @ SendError::Retryable(_)) => {
                entry.state = State::Failed;
                entry.reason = Some(format!("{e}; will retry"));
                self.notify.log(&entry).await?;
                self.notify.release(&key).await?;
                Err(NotifyError::Send(e))
            }
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
        let to = match channel {
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
        };
        LogEntry {
            key: message_key(subject, channel),
            customer_id: customer.id.clone(),
            channel,
            to,
            subject: None,
            body: None,
            html: None,
            kind: kind_of(subject.reached.milestone),
            milestone: subject.reached.milestone,
            order_id: Some(subject.order.id.clone()),
            tracking_number: subject.shipment.map(|s| s.tracking_number.to_string()),
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
        let context = self.context(subject);
        let rendered = self.renderer.render(
            subject.reached.milestone,
            channel,
            &subject.customer.locale,
            &self.settings.default_locale,
            &context,
        )?;
        let kind = kind_of(subject.reached.milestone);
        let unsubscribe_url = (kind == Kind::Marketing).then(|| {
            format!(
                "{}/p/{}/unsubscribe",
                self.base(),
                subject.customer.preferences_token
            )
        });
        Ok(match rendered {
            Rendered::Sms { body, .. } => {
                entry.body = Some(body.clone());
                Outgoing {
                    channel,
                    to,
                    subject: None,
                    body,
                    html: None,
                    kind,
                    unsubscribe_url,
                }
            }
            Rendered::Email {
                subject: title,
                html,
                text,
            } => {
                entry.subject = Some(title.clone());
                entry.body = Some(text.clone());
                entry.html = Some(html.clone());
                Outgoing {
                    channel,
                    to,
                    subject: Some(title),
                    body: text,
                    html: Some(html),
                    kind,
                    unsubscribe_url,
                }
            }
        })
    }

    fn base(&self) -> &str {
        self.settings.public_base_url.trim_end_matches('/')
    }

    fn context(&self, subject: &Subject<'_>) -> MessageContext {
        let order = subject.order;
        let shipment = subject.shipment;
        let shipped: Vec<ItemLine> = match shipment
            .and_then(|s| s.order.as_ref())
            .filter(|link| !link.items.is_empty())
        {
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
        };
        let parcels_remaining = subject.parcels_remaining;
        let delivered = shipment.is_some_and(|s| s.status == ShipmentStatus::Delivered);
        MessageContext {
            brand: self.settings.brand.clone(),
            first_name: subject.customer.first_name.clone(),
            tier: subject.customer.tier.clone(),
            order_name: order.name.clone(),
            carrier: shipment
                .map(|s| carrier_name(s.carrier.as_str()))
                .unwrap_or_default(),
            tracking_number: shipment
                .map(|s| s.tracking_number.to_string())
                .unwrap_or_default(),
            tracking_url: shipment
                .map(|s| format!("{}/t/{}", self.base(), s.tracking_token))
                .unwrap_or_default(),
            preferences_url: format!("{}/p/{}", self.base(), subject.customer.preferences_token),
            // An estimate is not repeated once the parcel is in trouble (it is no longer believable).
            estimated_delivery: shipment
                .filter(|s| {
                    s.status != ShipmentStatus::Exception
                        || subject.reached.milestone == Milestone::Delayed
                })
                .and_then(|s| s.estimated_delivery.as_ref().map(|e| e.latest)),
            items: shipped,
            parcels_remaining,
            order_complete: delivered && parcels_remaining == 0,
            attempt: shipment.map_or(0, |s| {
                s.events
                    .iter()
                    .filter(|e| e.status == ShipmentStatus::FailedAttempt)
                    .count()
            }),
        }
    }
}

fn message_key(subject: &Subject<'_>, channel: Channel) -> String {
    format!("{}#{}", subject.reached.key, channel.as_str())
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
