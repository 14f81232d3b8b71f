//! Identifiers: carrier slugs, tracking numbers and the customer-facing tracking token.

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

/// Unguessable, URL-safe random token (the tracking page and preference links carry these).
pub fn random_token() -> String {
    let mut bytes = [0u8; 24]; // 192 bits
    #[allow(
        clippy::expect_used,
        reason = "not outside data: without the OS random source no token can be unguessable, so stopping is the only safe answer"
    )]
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
