//! Identifiers: carrier slugs, tracking numbers, orders, customers, parcels, and the tokens a
//! customer's links carry. Each is built and read only through its own type.

use crate::model::Provider;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A carrier's normalized slug (`ups`, `fedex`, `thailand-post`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CarrierSlug(String);

/// Names stores and aggregators use for the same carrier, mapped onto one slug.
const CARRIER_ALIASES: &[(&str, &str)] = &[
    ("united-parcel-service", "ups"),
    ("ups-ground", "ups"),
    ("federal-express", "fedex"),
    ("fedex-ground", "fedex"),
    ("united-states-postal-service", "usps"),
    ("us-postal-service", "usps"),
    ("dhl-express", "dhl"),
    ("dhl-ecommerce", "dhl-global-mail"),
    ("canada-post", "canada-post"),
    ("royal-mail", "royal-mail"),
    ("thai-post", "thailand-post"),
    ("thailandpost", "thailand-post"),
    ("kerry", "kerry-logistics"),
    ("kerry-express", "kerry-logistics"),
    ("flash", "flash-express"),
    ("j&t-express", "jtexpress"),
    ("j-t-express", "jtexpress"),
    ("jt-express", "jtexpress"),
];

/// Values stores send when they do not know the carrier.
const UNKNOWN_CARRIERS: &[&str] = &[
    "",
    "null",
    "none",
    "other",
    "unknown",
    "null-company",
    "custom",
];

impl CarrierSlug {
    pub const MAX_LEN: usize = 64;

    /// Normalizes a carrier name; `None` when it says nothing about the carrier or is too long
    /// to be a carrier's name.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.chars().nth(Self::MAX_LEN).is_some() {
            return None;
        }
        let mut slug = String::with_capacity(raw.len());
        let mut last_dash = true;
        for c in raw.trim().chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() || c == '&' {
                slug.push(c);
                last_dash = false;
            } else if !last_dash {
                slug.push('-');
                last_dash = true;
            }
        }
        while slug.ends_with('-') {
            slug.pop();
        }
        if UNKNOWN_CARRIERS.contains(&slug.as_str()) {
            return None;
        }
        let slug = CARRIER_ALIASES
            .iter()
            .find(|(alias, _)| *alias == slug)
            .map(|(_, canonical)| canonical.to_string())
            .unwrap_or(slug);
        Some(Self(slug))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CarrierSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tracking number with case, spaces and dashes normalized away.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Option<Self> {
        let normalized: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect();
        let plausible = !normalized.is_empty()
            && normalized.len() <= Self::MAX_LEN
            && normalized.chars().all(|c| c.is_ascii_alphanumeric());
        plausible.then_some(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An unguessable, URL-safe token that names one record to whoever holds the link (the tracking
/// page, the preferences page): 192 random bits as 32 base64url characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    pub const LEN: usize = 32;

    pub fn random() -> Self {
        let mut bytes = [0u8; 24];
        #[allow(
            clippy::expect_used,
            reason = "not outside data: without the OS random source no token can be unguessable, so stopping is the only safe answer"
        )]
        getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as it appears in a URL; `None` for anything that cannot be one.
    pub fn parse(raw: &str) -> Option<Self> {
        let plausible = raw.len() == Self::LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        plausible.then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        crate::signature::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// Tokens are credentials: logs show that one is there, never which.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Unguessable, URL-safe random token text (see [`Token`]).
pub fn random_token() -> String {
    Token::random().0
}

/// An order: `{platform}:{the store's id}`, unique across stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(String);

impl OrderId {
    pub fn new(platform: Provider, external_id: &str) -> Self {
        Self(format!("{}:{}", platform.as_str(), external_id.trim()))
    }

    /// An id as stored or as an admin typed it (`shopify:820982911946154508`).
    pub fn parse(raw: &str) -> Option<Self> {
        let (platform, external) = raw.split_once(':')?;
        let platform: Provider = platform.parse().ok()?;
        (!external.trim().is_empty()).then(|| Self::new(platform, external))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer: `{platform}:{the store's customer id}`, or `{platform}:order:{order id}` for a
/// guest checkout (one order, one customer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn of_store_customer(platform: Provider, external_id: &str) -> Self {
        Self(format!("{}:{}", platform.as_str(), external_id.trim()))
    }

    pub fn of_guest(platform: Provider, order_external_id: &str) -> Self {
        Self(format!(
            "{}:order:{}",
            platform.as_str(),
            order_external_id.trim()
        ))
    }

    /// An id as stored or as an admin typed it.
    pub fn parse(raw: &str) -> Option<Self> {
        let (platform, external) = raw.split_once(':')?;
        let platform: Provider = platform.parse().ok()?;
        (!external.trim().is_empty()).then(|| Self::of_store_customer(platform, external))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ids of the form `{platform}:{the platform's id}` that only name a record.
macro_rules! platform_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(platform: Provider, external_id: &str) -> Self {
                Self(format!("{}:{}", platform.as_str(), external_id.trim()))
            }

            pub fn parse(raw: &str) -> Option<Self> {
                let (platform, external) = raw.split_once(':')?;
                let platform: Provider = platform.parse().ok()?;
                let ok = !external.trim().is_empty() && !external.contains('#');
                ok.then(|| Self::new(platform, external))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

platform_id!(
    /// A subscription: `{platform}:{its id}` (`recharge:1111111`).
    SubscriptionId
);
platform_id!(
    /// A review: `{platform}:{its id}` (`judgeme:73510`).
    ReviewId
);

/// A product: `{platform}:{the store's product id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(String);

impl ProductId {
    pub fn new(platform: Provider, external_id: &str) -> Self {
        Self(format!("{}:{}", platform.as_str(), external_id.trim()))
    }

    /// An id as stored or as it appears in a URL (`shopify:632910392`).
    pub fn parse(raw: &str) -> Option<Self> {
        let (platform, external) = raw.split_once(':')?;
        let platform: Provider = platform.parse().ok()?;
        let plausible = !external.trim().is_empty()
            && external.len() <= crate::bounds::MAX_ID_CHARS
            && !external.contains(char::is_control);
        plausible.then(|| Self::new(platform, external))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One parcel: its carrier and tracking number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShipmentKey {
    pub carrier: CarrierSlug,
    pub tracking_number: TrackingNumber,
}

impl ShipmentKey {
    /// A short digest of the tracking number, for logs (tracking numbers stay out of them).
    pub fn redacted(&self) -> String {
        let digest = crate::signature::sha256(&[self.tracking_number.as_str().as_bytes()]);
        format!("{}#{}", self.carrier, hex::encode(&digest[..6]))
    }
}

impl fmt::Display for ShipmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.carrier, self.tracking_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_names_normalize_to_one_slug() {
        assert_eq!(CarrierSlug::parse("UPS").unwrap().as_str(), "ups");
        assert_eq!(CarrierSlug::parse(" FedEx ").unwrap().as_str(), "fedex");
        assert_eq!(CarrierSlug::parse("DHL Express").unwrap().as_str(), "dhl");
        assert_eq!(
            CarrierSlug::parse("Thailand Post").unwrap().as_str(),
            "thailand-post"
        );
        assert_eq!(
            CarrierSlug::parse("United States Postal Service")
                .unwrap()
                .as_str(),
            "usps"
        );
        assert_eq!(
            CarrierSlug::parse("kerry_express").unwrap().as_str(),
            "kerry-logistics"
        );
    }

    #[test]
    fn placeholder_carriers_are_unknown() {
        for raw in ["", "  ", "null-company", "Other", "null"] {
            assert!(CarrierSlug::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn tracking_numbers_ignore_case_spaces_and_dashes() {
        assert_eq!(
            TrackingNumber::parse("1z827wk74630").unwrap().as_str(),
            "1Z827WK74630"
        );
        assert_eq!(
            TrackingNumber::parse(" 1Z 827-wk7 4630 ").unwrap().as_str(),
            "1Z827WK74630"
        );
        assert!(TrackingNumber::parse("").is_none());
        assert!(TrackingNumber::parse("abc/../def").is_none());
        assert!(TrackingNumber::parse(&"9".repeat(65)).is_none());
    }

    #[test]
    fn ids_are_built_by_their_types() {
        assert_eq!(
            OrderId::new(Provider::GenericStore, " 5001 ").as_str(),
            "generic-store:5001"
        );
        assert_eq!(
            OrderId::parse("shopify:820982911946154508"),
            Some(OrderId::new(Provider::Shopify, "820982911946154508"))
        );
        assert_eq!(OrderId::parse("nowhere:1"), None);
        assert_eq!(
            CustomerId::of_guest(Provider::Shopify, "7").as_str(),
            "shopify:order:7"
        );
        let token = Token::random();
        assert_eq!(Token::parse(token.as_str()), Some(token.clone()));
        assert!(token.matches(token.as_str()));
        assert!(!token.matches("x"));
        assert_eq!(Token::parse("../../etc/passwd"), None);
        assert_eq!(format!("{token:?}"), "Token(…)");
    }

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
