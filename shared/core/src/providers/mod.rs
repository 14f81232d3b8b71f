//! Provider adapters: each checks its own signature scheme over the raw body and maps its payload
//! onto the normalized model with a table of codes (data, not branching code).

pub mod aftership;
pub mod easypost;
pub mod generic;
pub mod generic_loyalty;
pub mod generic_review;
pub mod generic_store;
pub mod generic_subscription;
pub mod judgeme;
pub mod recharge;
pub mod registry;
pub mod seventeen_track;
pub mod shippo;
pub mod shopify;
pub mod ups;
pub mod woocommerce;

use crate::signature::AuthError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;

/// The request as a provider sent it: header names lower-cased, the raw body untouched.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub headers: &'a [(String, String)],
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> InboundRequest<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Why a payload could not be used. Every variant becomes a 400 with this text as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not the expected JSON: {0}")]
    Json(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unsupported event type '{0}'")]
    Unsupported(String),
    #[error("unknown status code '{0}'")]
    UnknownStatus(String),
}

/// A provider's signature check failed (401) or its payload was unusable (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))
}

/// RFC 3339, or a date-time with no offset (read as UTC, as AfterShip's and WooCommerce's GMT fields
/// are). Years outside 2000–2099 are refused here, so no later computation meets an extreme one.
pub(crate) fn parse_time(field: &'static str, raw: &str) -> Result<DateTime<Utc>, ParseError> {
    let raw = raw.trim();
    let parsed = DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
                .map(|t| t.and_utc())
        });
    match parsed {
        Some(t) if crate::bounds::plausible_year(&t) => Ok(t),
        Some(_) => Err(ParseError::Invalid {
            field,
            reason: format!("'{}' is out of range (years 2000 to 2099)", truncate(raw)),
        }),
        None => Err(ParseError::Invalid {
            field,
            reason: format!("'{}' is not a date-time", truncate(raw)),
        }),
    }
}

/// A calendar date from `2024-08-05` or the date part of a date-time; `None` when it is not one
/// or lies outside 2000–2099.
pub(crate) fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    raw.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter(crate::bounds::plausible_date)
}

/// "City, State, Country" from whichever parts are present.
pub(crate) fn join_location(parts: &[Option<&str>]) -> Option<String> {
    let joined = parts
        .iter()
        .flatten()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    (!joined.is_empty()).then_some(joined)
}

/// Keeps provider text quoted in errors short.
/// Tags as Doorstep keeps them: trimmed, lower case, each once, at most 50.
pub(crate) fn tag_list<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if !tag.is_empty() && tag.chars().count() <= 64 && !tags.contains(&tag) && tags.len() < 50 {
            tags.push(tag);
        }
    }
    tags
}

pub(crate) fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

pub(crate) fn required<'a>(
    value: Option<&'a str>,
    field: &'static str,
) -> Result<&'a str, ParseError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ParseError::Missing(field))
}

pub(crate) fn tracking_number(
    raw: Option<&str>,
    field: &'static str,
) -> Result<crate::ids::TrackingNumber, ParseError> {
    let raw = required(raw, field)?;
    crate::ids::TrackingNumber::parse(raw).ok_or_else(|| ParseError::Invalid {
        field,
        reason: format!("'{}' is not a tracking number", truncate(raw)),
    })
}

pub(crate) fn carrier(
    raw: Option<&str>,
    field: &'static str,
) -> Result<crate::ids::CarrierSlug, ParseError> {
    let raw = required(raw, field)?;
    if raw.chars().nth(crate::ids::CarrierSlug::MAX_LEN).is_some() {
        return Err(ParseError::Invalid {
            field,
            reason: format!(
                "longer than {} characters",
                crate::ids::CarrierSlug::MAX_LEN
            ),
        });
    }
    crate::ids::CarrierSlug::parse(raw).ok_or_else(|| ParseError::Invalid {
        field,
        reason: format!("'{}' names no carrier", truncate(raw)),
    })
}

/// Accepts ids sent as JSON numbers or strings.
pub(crate) fn id_string(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
