//! What stores tell Doorstep: order snapshots and fulfilments, before they are merged into records.

use crate::contact::Contact;
use crate::ids::{CarrierSlug, CustomerId, OrderId, Token, TrackingNumber};
use crate::model::{normalize_locale, Consents, Customer, LineItem, Provider, ShippedItem};
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone;
use chrono::{DateTime, Utc};

/// Merchant-wide defaults applied where a store says nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantDefaults {
    pub timezone: String,
    pub locale: String,
    /// The loyalty tier a customer with no points holds (the tier from 0 points, when the
    /// program has one): a new customer starts in it, so the first points do not rewrite the
    /// customer only to say so.
    pub starting_tier: Option<String>,
}

impl Default for MerchantDefaults {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            locale: "en".into(),
            starting_tier: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    Order(Box<OrderSnapshot>),
    Fulfillment(FulfillmentSnapshot),
    Product(Box<ProductSnapshot>),
    Refund(RefundSnapshot),
    /// A store's connectivity check (WooCommerce pings a new webhook): acknowledged, nothing stored.
    Ping,
}

/// A product as the store describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSnapshot {
    pub platform: Provider,
    pub external_id: String,
    pub title: String,
    /// The product page, when the store sends it (WooCommerce's permalink).
    pub url: Option<String>,
    /// Shopify's handle: the page is `{store_url}/products/{handle}`.
    pub handle: Option<String>,
    pub image_url: Option<String>,
    /// Decimal string in the store's currency.
    pub price: Option<String>,
    pub currency: Option<String>,
    /// Published and for sale (not a draft, not archived).
    pub active: bool,
    pub in_stock: bool,
    /// The store's product type (Shopify's `product_type`, WooCommerce's first category).
    pub product_type: Option<String>,
    /// Lower-case tags (follow-ups are chosen by type or tag).
    pub tags: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Money given back on an order: which lines (none listed means the whole order).
#[derive(Debug, Clone, PartialEq)]
pub struct RefundSnapshot {
    pub platform: Provider,
    pub order_external_id: String,
    pub refund_id: String,
    pub line_item_ids: Vec<String>,
    /// The refunded lines' products, when the store names them.
    pub product_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderSnapshot {
    pub platform: Provider,
    pub external_id: String,
    pub name: String,
    pub currency: Option<String>,
    pub customer: CustomerSnapshot,
    pub line_items: Vec<LineItem>,
    pub cancelled: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub fulfillments: Vec<FulfillmentSnapshot>,
    /// The shipping address's city.
    pub ship_to_city: Option<String>,
    /// The store says the whole order was refunded.
    pub refunded: bool,
}

impl OrderSnapshot {
    pub fn order_id(&self) -> OrderId {
        OrderId::new(self.platform, &self.external_id)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerSnapshot {
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub country_code: Option<String>,
    pub province_code: Option<String>,
    pub accepts_email_marketing: Option<bool>,
    pub accepts_sms_marketing: Option<bool>,
    pub accepts_transactional_sms: Option<bool>,
}

impl CustomerSnapshot {
    /// Validates contacts (an invalid one is kept as unusable) and resolves locale and timezone.
    pub fn into_customer(
        self,
        platform: Provider,
        order_external_id: &str,
        defaults: &MerchantDefaults,
        now: DateTime<Utc>,
    ) -> Customer {
        let id = match self
            .external_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty() && *id != "0")
        {
            Some(id) => CustomerId::of_store_customer(platform, id),
            None => CustomerId::of_guest(platform, order_external_id),
        };
        let region = self.country_code.as_deref();
        let (zone, source) = timezone::resolve(
            self.timezone.as_deref(),
            self.country_code.as_deref(),
            self.province_code.as_deref(),
            &defaults.timezone,
        );
        let defaults_consents = Consents::default();
        Customer {
            id,
            first_name: self
                .first_name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            email: self
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(Contact::email),
            phone: self
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Contact::phone(p, region)),
            locale: normalize_locale(self.locale.as_deref(), &defaults.locale),
            timezone: zone,
            timezone_source: source,
            consents: Consents {
                transactional_email: defaults_consents.transactional_email,
                transactional_sms: self
                    .accepts_transactional_sms
                    .unwrap_or(defaults_consents.transactional_sms),
                marketing_email: self.accepts_email_marketing.unwrap_or(false),
                marketing_sms: self.accepts_sms_marketing.unwrap_or(false),
                ..defaults_consents
            },
            tier: defaults.starting_tier.clone(),
            marketing_suppressed_until: None,
            purchased: Vec::new(),
            refunded: Vec::new(),
            disliked: Vec::new(),
            preferences_token: Token::random(),
            updated_at: now,
            version: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FulfillmentSnapshot {
    pub platform: Provider,
    pub order_external_id: String,
    pub fulfillment_id: Option<String>,
    /// `None` when the store did not name a (known) carrier: joined on tracking number alone.
    pub carrier: Option<CarrierSlug>,
    pub tracking_numbers: Vec<TrackingNumber>,
    pub items: Vec<ShippedItem>,
    /// A status the store itself reports for the parcel (Shopify's `shipment_status`).
    pub status: Option<StoreReportedStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreReportedStatus {
    pub status: ShipmentStatus,
    pub reason: Option<ExceptionReason>,
    pub raw_code: String,
    pub at: DateTime<Utc>,
}
