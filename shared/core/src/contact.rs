//! Customer contacts, validated once at ingestion. Bad contacts are kept as unusable, never fatal.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A phone number in E.164 form, validated by libphonenumber's rules and metadata (`crate::phone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number as a person typed it; `region` (ISO 3166 alpha-2) resolves national formats.
    pub fn parse(raw: &str, region: Option<&str>) -> Result<Self, ContactError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 40 {
            return Err(ContactError::Phone);
        }
        crate::phone::to_e164(raw, region)
            .map(Self)
            .ok_or(ContactError::Phone)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: syntactically checked, domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let raw = raw.trim();
        let (local, domain) = raw.rsplit_once('@').ok_or(ContactError::Email)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) || raw.len() > 254 {
            return Err(ContactError::Email);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a valid phone number")]
    Phone,
    #[error("not a valid email address")]
    Email,
}

/// A contact as the store sent it: usable, or kept (for the merchant to fix) but never messaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Contact<T> {
    Usable { value: T },
    Unusable { raw: String, reason: String },
}

impl<T> Contact<T> {
    pub fn usable(&self) -> Option<&T> {
        match self {
            Self::Usable { value } => Some(value),
            Self::Unusable { .. } => None,
        }
    }
}

impl Contact<PhoneNumber> {
    pub fn phone(raw: &str, region: Option<&str>) -> Self {
        match PhoneNumber::parse(raw, region) {
            Ok(value) => Self::Usable { value },
            Err(e) => Self::Unusable {
                raw: raw.to_string(),
                reason: e.to_string(),
            },
        }
    }
}

impl Contact<EmailAddress> {
    pub fn email(raw: &str) -> Self {
        match EmailAddress::parse(raw) {
            Ok(value) => Self::Usable { value },
            Err(e) => Self::Unusable {
                raw: raw.to_string(),
                reason: e.to_string(),
            },
        }
    }
}

/// Hides contacts in logs: shows the shape, never the person.
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted:{} chars>", self.0.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164_with_the_address_region() {
        assert_eq!(
            PhoneNumber::parse("081 234 5678", Some("TH"))
                .unwrap()
                .as_str(),
            "+66812345678"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671", None)
                .unwrap()
                .as_str(),
            "+14155552671"
        );
        assert_eq!(
            PhoneNumber::parse("(415) 555-2671", Some("us"))
                .unwrap()
                .as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn invalid_phones_are_kept_as_unusable() {
        // Shopify's own sample payload carries this deliberately invalid number.
        let contact = Contact::phone("555-555-SHIP", Some("US"));
        assert!(contact.usable().is_none());
        assert!(matches!(contact, Contact::Unusable { ref raw, .. } if raw == "555-555-SHIP"));
        for raw in ["", "123", "not a phone", "+999 1234"] {
            assert!(PhoneNumber::parse(raw, Some("US")).is_err(), "{raw}");
        }
    }

    #[test]
    fn emails_are_checked_and_domains_lowercased() {
        assert_eq!(
            EmailAddress::parse(" Jon@Example.COM ").unwrap().as_str(),
            "Jon@example.com"
        );
        for raw in [
            "",
            "jon",
            "jon@",
            "@example.com",
            "jon@localhost",
            "jo n@example.com",
            "a..b@example.com",
            "jon@-x.com",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn redaction_never_shows_the_value() {
        assert_eq!(Redacted("+66812345678").to_string(), "<redacted:12 chars>");
    }
}
