//! Doorstep's own carrier format, for carriers and 3PLs with no scheme of their own.
//! Auth: `Doorstep-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, five-minute replay window.
//! The format is documented in docs/webhooks.md.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{
    carrier, parse_date, parse_json, parse_time, tracking_number, InboundRequest, ParseError,
};
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::signature::{verify_timestamped, AuthError};
use crate::status::{ExceptionReason, ShipmentStatus};
use serde::Deserialize;

pub const SIGNATURE_HEADER: &str = "doorstep-signature";
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "generic",
    secret: "GENERIC",
    verify,
    parser: Parser::Carrier(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let (secret, now_unix) = (key.secret, key.now.timestamp());
    verify_timestamped(
        req.header(SIGNATURE_HEADER),
        "Doorstep-Signature",
        secret.as_bytes(),
        req.body,
        now_unix,
        REPLAY_WINDOW_SECS,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    carrier: Option<String>,
    tracking_number: Option<String>,
    event_id: Option<String>,
    estimated_delivery: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    status: Option<String>,
    reason: Option<String>,
    occurred_at: Option<String>,
    description: Option<String>,
    location: Option<String>,
    code: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    let body: Body = parse_json(body)?;
    let mut events = Vec::with_capacity(body.events.len());
    for event in &body.events {
        let raw_status = super::required(event.status.as_deref(), "events.status")?;
        let status: ShipmentStatus = raw_status
            .parse()
            .map_err(|_| ParseError::UnknownStatus(super::truncate(raw_status)))?;
        let reason = match event.reason.as_deref() {
            Some(r) => Some(
                r.parse::<ExceptionReason>()
                    .map_err(|_| ParseError::Invalid {
                        field: "events.reason",
                        reason: format!("'{}' is not a known reason", super::truncate(r)),
                    })?,
            ),
            None if status == ShipmentStatus::Exception => Some(ExceptionReason::Other),
            None => None,
        };
        events.push(TrackingEvent {
            status,
            reason,
            occurred_at: parse_time(
                "events.occurred_at",
                super::required(event.occurred_at.as_deref(), "events.occurred_at")?,
            )?,
            description: event.description.clone().unwrap_or_default(),
            location: event.location.clone().filter(|l| !l.trim().is_empty()),
            raw_code: event.code.clone().unwrap_or_else(|| raw_status.to_string()),
        });
    }
    let estimated_delivery = match body.estimated_delivery.as_deref() {
        Some(raw) => Some(parse_date(raw).ok_or(ParseError::Invalid {
            field: "estimated_delivery",
            reason: "expected YYYY-MM-DD".into(),
        })?),
        None => None,
    };
    if events.is_empty() && estimated_delivery.is_none() {
        return Err(ParseError::Missing("events or estimated_delivery"));
    }
    Ok(vec![TrackingUpdate {
        provider: Provider::Generic,
        carrier: carrier(body.carrier.as_deref(), "carrier")?,
        tracking_number: tracking_number(body.tracking_number.as_deref(), "tracking_number")?,
        delivery_id: body.event_id.filter(|id| !id.trim().is_empty()),
        events,
        estimated_delivery,
    }])
}
