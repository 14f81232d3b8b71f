//! The records Doorstep keeps: shipments with their history, orders, customers.

use crate::contact::{Contact, EmailAddress, PhoneNumber};
use crate::ids::{CarrierSlug, CustomerId, OrderId, ProductId, ShipmentKey, Token, TrackingNumber};
use crate::names::named_enum;
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone::TimezoneSource;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where an update came from (the webhook route's provider); declared in the registry.
pub use crate::providers::registry::Provider;

/// One scan or status change in a shipment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub status: ShipmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExceptionReason>,
    pub occurred_at: DateTime<Utc>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The provider's own code, kept for support and for remapping later.
    pub raw_code: String,
}

impl TrackingEvent {
    /// Same scan reported twice (even by two providers) has the same key. The reason is part of
    /// it: two reports that disagree on why are two facts, and keeping whichever came first would
    /// make the history depend on arrival order.
    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.status.as_str());
        hasher.update([0]);
        if let Some(reason) = self.reason {
            hasher.update(reason.as_str());
        }
        hasher.update([0]);
        hasher.update(self.occurred_at.timestamp().to_be_bytes());
        hasher.update(self.description.trim().to_lowercase());
        hasher.update([0]);
        hasher.update(self.location.as_deref().unwrap_or("").trim().to_lowercase());
        hex::encode(&hasher.finalize()[..12])
    }

    /// Events order by time, then by how far along the journey they are.
    pub fn order_key(&self) -> (DateTime<Utc>, u8) {
        (self.occurred_at, self.status.milestone_rank())
    }
}

/// What one webhook delivery says about one parcel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingUpdate {
    pub provider: Provider,
    pub carrier: CarrierSlug,
    pub tracking_number: TrackingNumber,
    /// The provider's id for this delivery, when it has one.
    pub delivery_id: Option<String>,
    pub events: Vec<TrackingEvent>,
    pub estimated_delivery: Option<NaiveDate>,
}

impl TrackingUpdate {
    /// The key under which this update is applied once: the provider's id, else a hash of its content.
    pub fn dedupe_key(&self) -> String {
        match &self.delivery_id {
            Some(id) => format!("{}:{}:{}", self.provider.as_str(), self.tracking_number, id),
            None => {
                let mut hasher = Sha256::new();
                hasher.update(self.carrier.as_str());
                hasher.update([0]);
                hasher.update(self.tracking_number.as_str());
                for event in &self.events {
                    hasher.update(event.key());
                    hasher.update(event.raw_code.as_bytes());
                }
                if let Some(date) = self.estimated_delivery {
                    hasher.update(date.to_string());
                }
                format!(
                    "{}:h:{}",
                    self.provider.as_str(),
                    hex::encode(&hasher.finalize()[..16])
                )
            }
        }
    }

    pub fn key(&self) -> ShipmentKey {
        ShipmentKey {
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
        }
    }

    /// The newest event time in the update, used to order estimated-delivery revisions.
    pub fn as_of(&self) -> Option<DateTime<Utc>> {
        self.events.iter().map(|e| e.occurred_at).max()
    }
}

/// The first estimated delivery date a carrier gave and the latest one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimatedDelivery {
    pub original: NaiveDate,
    /// When `original` was promised; `None` on records kept before this was stored (then the
    /// stored original stands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_as_of: Option<DateTime<Utc>>,
    pub latest: NaiveDate,
    /// Time of the newest event that came with `latest`, so a late webhook cannot revert it.
    pub as_of: Option<DateTime<Utc>>,
}

/// Which order (and which of its items) a parcel carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLink {
    pub order_id: OrderId,
    pub fulfillment_id: Option<String>,
    #[serde(default)]
    pub items: Vec<ShippedItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedItem {
    pub line_item_id: String,
    pub quantity: u32,
}

/// One parcel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: CarrierSlug,
    pub tracking_number: TrackingNumber,
    /// Unguessable public id for the tracking page.
    pub tracking_token: Token,
    pub status: ShipmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExceptionReason>,
    pub status_at: Option<DateTime<Utc>>,
    /// Sorted by time, then milestone rank; no two with the same key.
    pub events: Vec<TrackingEvent>,
    pub estimated_delivery: Option<EstimatedDelivery>,
    /// `None` while no store has announced this parcel (carrier updates are parked on it until then).
    pub order: Option<OrderLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the customer chose after a failed attempt (the tracking page's delivery choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_choice: Option<DeliveryChoice>,
    /// Digests of the carrier deliveries applied to it, newest last, at most
    /// [`Shipment::REMEMBERED_DELIVERIES`]: a redelivery is recognized from the record itself,
    /// with no separate dedupe record to write (and a redelivery older than that is harmless: the
    /// rules ignore what they have seen).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<String>,
    /// Optimistic-concurrency version: every write requires the version it read.
    #[serde(default)]
    pub version: u64,
}

named_enum! {
    "snake_case";
    /// What a customer can ask for after a failed delivery.
    pub enum ChoiceKind {
        Redeliver,
        SafePlace,
        Neighbour,
        PickupPoint,
        CorrectAddress,
    }
}

/// A customer's answer to a failed delivery, one per attempt (a new answer for the same attempt
/// replaces the last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryChoice {
    pub choice: ChoiceKind,
    /// The day to deliver again (`redeliver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Where to leave it, which neighbour, the corrected address, or which pickup point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub chosen_at: DateTime<Utc>,
    /// The failed attempt it answers (1 for the first).
    pub attempt: usize,
}

impl Shipment {
    pub fn new(carrier: CarrierSlug, tracking_number: TrackingNumber, now: DateTime<Utc>) -> Self {
        Self {
            carrier,
            tracking_number,
            tracking_token: Token::random(),
            status: ShipmentStatus::Pending,
            reason: None,
            status_at: None,
            events: Vec::new(),
            estimated_delivery: None,
            order: None,
            created_at: now,
            updated_at: now,
            delivery_choice: None,
            deliveries: Vec::new(),
            version: 0,
        }
    }

    pub const REMEMBERED_DELIVERIES: usize = 64;

    /// A delivery's dedupe key as the record remembers it: 72 bits of its SHA-256, URL-safe.
    pub fn delivery_digest(dedupe_key: &str) -> String {
        use base64::Engine;
        use sha2::Digest;
        let hash = sha2::Sha256::digest(dedupe_key.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash[..9])
    }

    /// Whether a delivery with this digest was applied (and is still remembered).
    pub fn has_applied(&self, digest: &str) -> bool {
        self.deliveries.iter().any(|d| d == digest)
    }

    /// Remembers a delivery, forgetting the oldest beyond the bound.
    pub fn remember_delivery(&mut self, digest: String) {
        if self.has_applied(&digest) {
            return;
        }
        self.deliveries.push(digest);
        let excess = self
            .deliveries
            .len()
            .saturating_sub(Self::REMEMBERED_DELIVERIES);
        self.deliveries.drain(..excess);
    }

    /// Failed delivery attempts so far.
    pub fn failed_attempts(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.status == ShipmentStatus::FailedAttempt)
            .count()
    }

    /// Whether the customer can say what should happen next: a delivery failed, or an exception
    /// about the address or the recipient, and the journey is not over.
    pub fn awaits_delivery_choice(&self) -> bool {
        let failed = self.status == ShipmentStatus::FailedAttempt;
        let fixable = self.status == ShipmentStatus::Exception
            && matches!(
                self.reason,
                Some(ExceptionReason::Address | ExceptionReason::Recipient)
            );
        (failed || fixable) && !self.status.is_terminal()
    }

    pub fn order_id(&self) -> Option<&OrderId> {
        self.order.as_ref().map(|o| &o.order_id)
    }

    pub fn key(&self) -> ShipmentKey {
        ShipmentKey {
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
        }
    }
}

/// A line on an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    /// Decimal string in the order's currency, as the store sent it (no float rounding).
    pub price: String,
    pub quantity: u32,
}

/// A parcel of an order, as the store announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRef {
    pub carrier: Option<CarrierSlug>,
    pub tracking_number: TrackingNumber,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub platform: Provider,
    /// The number the customer sees (`#1001`).
    pub name: String,
    /// `None` only on a placeholder made for a fulfilment that arrived before its order.
    pub customer_id: Option<CustomerId>,
    pub currency: Option<String>,
    pub line_items: Vec<LineItem>,
    /// One order may ship as several parcels (split orders).
    pub shipments: Vec<ShipmentRef>,
    pub cancelled: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// The store's own update time: an older snapshot never overwrites a newer one.
    pub source_updated_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The shipping address's city: all of the address the tracking page may show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_city: Option<String>,
    /// Line items refunded (ids), from refunds or a fully refunded order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunded_line_items: Vec<String>,
    /// Its products were counted into co-purchases and sales (once per order).
    #[serde(default)]
    pub counted: bool,
    /// Made as a placeholder (its fulfilment came first) before the order itself arrived. The
    /// change that fills it in tells its parcels' milestones so far, so it may be deciding a
    /// parcel's message at the same time as that parcel's own change: those always take a claim
    /// (`Subject::on_own_change`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub was_placeholder: bool,
    #[serde(default)]
    pub version: u64,
}

impl Order {
    /// The products on the order, each once, in order.
    pub fn product_ids(&self) -> Vec<ProductId> {
        let mut ids: Vec<ProductId> = Vec::new();
        for line in &self.line_items {
            if let Some(external) = line.product_id.as_deref() {
                let id = ProductId::new(self.platform, external);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }
}

/// Consents per kind and channel. Transactional is on unless the customer opted out;
/// marketing is off unless they opted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consents {
    pub transactional_email: bool,
    pub transactional_sms: bool,
    pub marketing_email: bool,
    pub marketing_sms: bool,
    /// Points and rewards (expiry reminders, tier changes): on unless the customer opted out.
    /// Records from before these existed read as on.
    #[serde(default = "yes")]
    pub rewards_email: bool,
    #[serde(default = "yes")]
    pub rewards_sms: bool,
}

fn yes() -> bool {
    true
}

impl Default for Consents {
    fn default() -> Self {
        Self {
            transactional_email: true,
            transactional_sms: true,
            marketing_email: false,
            marketing_sms: false,
            rewards_email: true,
            rewards_sms: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub first_name: Option<String>,
    pub email: Option<Contact<EmailAddress>>,
    pub phone: Option<Contact<PhoneNumber>>,
    /// BCP 47 language tag, lower-case language (`en`, `th`, `en-us`).
    pub locale: String,
    /// IANA zone name.
    pub timezone: String,
    pub timezone_source: TimezoneSource,
    pub consents: Consents,
    /// VIP tier name, set by the loyalty features.
    #[serde(default)]
    pub tier: Option<String>,
    /// No marketing until then (set after a poor review).
    #[serde(default)]
    pub marketing_suppressed_until: Option<DateTime<Utc>>,
    /// Products bought (newest last, the last [`Customer::HISTORY`]): never recommended again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purchased: Vec<ProductId>,
    /// Products refunded: never recommended again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunded: Vec<ProductId>,
    /// Products the customer reviewed poorly: never recommended again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disliked: Vec<ProductId>,
    /// Unguessable id for the preferences page.
    pub preferences_token: Token,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Customer {
    /// How many products each history keeps (the oldest go first).
    pub const HISTORY: usize = 200;

    /// Adds products to one of the customer's histories, each once, keeping the newest.
    pub fn remember(history: &mut Vec<ProductId>, products: &[ProductId]) -> bool {
        let before = history.len();
        for product in products {
            if !history.contains(product) {
                history.push(product.clone());
            }
        }
        if history.len() > Self::HISTORY {
            let excess = history.len() - Self::HISTORY;
            history.drain(..excess);
        }
        history.len() != before
    }

    /// The email address lookups use (`GET /api/loyalty?email=`, loyalty webhooks): the usable
    /// address, lower case.
    pub fn email_key(&self) -> Option<String> {
        self.email
            .as_ref()
            .and_then(|e| e.usable())
            .map(|e| e.as_str().to_lowercase())
    }

    /// Whether a product must never be recommended to this customer.
    pub fn excludes(&self, product: &ProductId) -> bool {
        self.purchased.contains(product)
            || self.refunded.contains(product)
            || self.disliked.contains(product)
    }

    /// Takes what a new order says about the customer, keeping what only Doorstep knows (tier,
    /// suppressions, token) and a profile timezone over an address-derived one.
    pub fn merge_from(&mut self, newer: Customer) {
        self.first_name = newer.first_name.or(self.first_name.take());
        self.email = newer.email.or(self.email.take());
        self.phone = newer.phone.or(self.phone.take());
        self.locale = newer.locale;
        let better_or_equal_source = !(self.timezone_source == TimezoneSource::Profile
            && newer.timezone_source != TimezoneSource::Profile);
        if better_or_equal_source {
            self.timezone = newer.timezone;
            self.timezone_source = newer.timezone_source;
        }
        // Stores know nothing of rewards messages: those choices are Doorstep's to keep.
        self.consents = Consents {
            rewards_email: self.consents.rewards_email,
            rewards_sms: self.consents.rewards_sms,
            ..newer.consents
        };
        self.updated_at = newer.updated_at;
    }
}

/// A fulfilment whose carrier the store did not name, parked until a carrier reports that number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLink {
    pub tracking_number: TrackingNumber,
    pub link: OrderLink,
    pub created_at: DateTime<Utc>,
}

/// An email address as lookups key it (see [`Customer::email_key`]); `None` when it is not one.
pub fn email_key(raw: &str) -> Option<String> {
    crate::contact::EmailAddress::parse(raw)
        .ok()
        .map(|e| e.as_str().to_lowercase())
}

/// A normalized locale tag: lower-case, `-` separated.
pub fn normalize_locale(raw: Option<&str>, default: &str) -> String {
    let tag = raw
        .map(|r| r.trim().replace('_', "-").to_ascii_lowercase())
        .unwrap_or_default();
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if valid {
        tag
    } else {
        default.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: ShipmentStatus, at: &str, description: &str) -> TrackingEvent {
        TrackingEvent {
            status,
            reason: None,
            occurred_at: at.parse().unwrap(),
            description: description.into(),
            location: Some("Bangkok".into()),
            raw_code: "x".into(),
        }
    }

    #[test]
    fn event_keys_ignore_case_and_padding_but_not_content() {
        let a = event(ShipmentStatus::InTransit, "2024-01-01T00:00:00Z", "Arrived");
        let b = event(
            ShipmentStatus::InTransit,
            "2024-01-01T00:00:00Z",
            " arrived ",
        );
        let c = event(ShipmentStatus::InTransit, "2024-01-01T00:00:01Z", "Arrived");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
    }

    #[test]
    fn a_shipment_remembers_its_last_deliveries_and_no_more() {
        let mut s = Shipment::new(
            CarrierSlug::parse("ups").unwrap(),
            TrackingNumber::parse("1Z1").unwrap(),
            Utc::now(),
        );
        let digest = Shipment::delivery_digest("aftership:1Z1:evt-1");
        assert_eq!(digest.len(), 12);
        assert_ne!(digest, Shipment::delivery_digest("aftership:1Z1:evt-2"));
        s.remember_delivery(digest.clone());
        s.remember_delivery(digest.clone());
        assert_eq!(s.deliveries.len(), 1);
        for n in 0..Shipment::REMEMBERED_DELIVERIES {
            s.remember_delivery(Shipment::delivery_digest(&format!("k{n}")));
        }
        assert_eq!(s.deliveries.len(), Shipment::REMEMBERED_DELIVERIES);
        assert!(!s.has_applied(&digest), "the oldest is forgotten");
        assert!(s.has_applied(&Shipment::delivery_digest("k63")));
    }

    #[test]
    fn dedupe_key_prefers_the_provider_id() {
        let update = TrackingUpdate {
            provider: Provider::AfterShip,
            carrier: CarrierSlug::parse("ups").unwrap(),
            tracking_number: TrackingNumber::parse("1Z1").unwrap(),
            delivery_id: Some("evt-1".into()),
            events: vec![event(
                ShipmentStatus::InTransit,
                "2024-01-01T00:00:00Z",
                "x",
            )],
            estimated_delivery: None,
        };
        assert_eq!(update.dedupe_key(), "aftership:1Z1:evt-1");
        let mut hashed = update.clone();
        hashed.delivery_id = None;
        let key = hashed.dedupe_key();
        assert!(key.starts_with("aftership:h:"));
        assert_eq!(key, hashed.clone().dedupe_key());
        hashed.events[0].description = "y".into();
        assert_ne!(key, hashed.dedupe_key());
    }

    #[test]
    fn locales_normalize_or_fall_back() {
        assert_eq!(normalize_locale(Some("en_US"), "en"), "en-us");
        assert_eq!(normalize_locale(Some("th"), "en"), "th");
        assert_eq!(normalize_locale(Some("<script>"), "en"), "en");
        assert_eq!(normalize_locale(None, "th"), "th");
    }
}
