//! Doorstep's loyalty format, for merchants who already run a points program elsewhere:
//! `POST /webhooks/loyalty/generic`, signed like the generic carrier format
//! (`Doorstep-Signature`). Documented in docs/loyalty.md.

use super::registry::{Parser, ProviderSpec};
use super::{parse_json, parse_time, ParseError};
use crate::loyalty::service::{CustomerRef, ExternalEvent, ExternalKind};
use serde::Deserialize;
use serde_json::Value;

pub use super::generic::verify;

pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "generic",
    secret: "GENERIC",
    verify,
    parser: Parser::Loyalty(parse),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    event_id: Option<String>,
    customer: Option<Customer>,
    #[serde(rename = "type")]
    kind: Option<String>,
    points: Option<Value>,
    reason: Option<String>,
    occurred_at: Option<String>,
    expires_at: Option<String>,
}

/// Who the points belong to: Doorstep's customer id, else the email address. Phone, locale and
/// timezone are accepted (other programs send them) and do not change the customer record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    id: Option<Value>,
    email: Option<String>,
    #[allow(
        dead_code,
        reason = "accepted, not used: the store's records own contacts"
    )]
    phone: Option<String>,
    #[allow(
        dead_code,
        reason = "accepted, not used: the store's records own the locale"
    )]
    locale: Option<String>,
    #[allow(
        dead_code,
        reason = "accepted, not used: the store's records own the zone"
    )]
    timezone: Option<String>,
}

/// Points are a whole number above zero (a spend or an expiry says so by its type).
fn points(raw: Option<&Value>) -> Result<u64, ParseError> {
    let invalid = |reason: &str| ParseError::Invalid {
        field: "points",
        reason: reason.to_string(),
    };
    match raw {
        None => Err(ParseError::Missing("points")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Err(invalid("must be above 0")),
            Some(p) if p <= crate::bounds::MAX_POINTS => Ok(p),
            Some(_) => Err(invalid("is too large")),
            None if n.as_i64().is_some_and(|i| i < 0) => Err(invalid(
                "must not be negative (send a spend or an expire instead)",
            )),
            None => Err(invalid("must be a whole number")),
        },
        Some(_) => Err(invalid("must be a number")),
    }
}

pub fn parse(body: &[u8]) -> Result<ExternalEvent, ParseError> {
    let body: Body = parse_json(body)?;
    let event_id = body
        .event_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or(ParseError::Missing("event_id"))?;
    let customer = body.customer.ok_or(ParseError::Missing("customer"))?;
    let id = customer.id.as_ref().and_then(super::id_string);
    let email = customer
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if id.is_none() && email.is_none() {
        return Err(ParseError::Missing("customer.id or customer.email"));
    }
    let kind_raw = body.kind.ok_or(ParseError::Missing("type"))?;
    let kind: ExternalKind = kind_raw.parse().map_err(|_| ParseError::Invalid {
        field: "type",
        reason: format!(
            "'{}' is not earn, spend, adjust or expire",
            super::truncate(&kind_raw)
        ),
    })?;
    let occurred_at = parse_time(
        "occurred_at",
        body.occurred_at
            .as_deref()
            .ok_or(ParseError::Missing("occurred_at"))?,
    )?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| parse_time("expires_at", t))
        .transpose()?;
    Ok(ExternalEvent {
        event_id,
        customer: CustomerRef { id, email },
        kind,
        points: points(body.points.as_ref())?,
        reason: body.reason,
        occurred_at,
        expires_at,
    })
}
