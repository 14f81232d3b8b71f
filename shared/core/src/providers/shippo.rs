//! Shippo `track_updated`.
//! Auth: the `token` query parameter Shippo documents (always), plus, when a Shippo HMAC secret is
//! configured, a `Shippo-Auth-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` header with a
//! replay window. Shippo says its tracking webhooks are not idempotent: deliveries dedupe by content.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{
    carrier, join_location, parse_date, parse_json, parse_time, tracking_number, InboundRequest,
    ParseError,
};
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::secrets::Secret;
use crate::signature::{constant_time_eq, verify_timestamped, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use serde::Deserialize;

pub const SIGNATURE_HEADER: &str = "shippo-auth-signature";
pub const REPLAY_WINDOW_SECS: i64 = 300;

pub const STATUSES: &[StatusRow] = &[
    ("UNKNOWN", ShipmentStatus::Pending, None),
    ("PRE_TRANSIT", ShipmentStatus::InfoReceived, None),
    ("TRANSIT", ShipmentStatus::InTransit, None),
    ("DELIVERED", ShipmentStatus::Delivered, None),
    ("RETURNED", ShipmentStatus::ReturnToSender, None),
    (
        "FAILURE",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
];

/// Substatus codes that say more than the status.
pub const SUBSTATUSES: &[StatusRow] = &[
    ("out_for_delivery", ShipmentStatus::OutForDelivery, None),
    ("delivery_attempted", ShipmentStatus::FailedAttempt, None),
    ("delivery_rescheduled", ShipmentStatus::FailedAttempt, None),
    ("pickup_available", ShipmentStatus::AvailableForPickup, None),
    (
        "address_issue",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Address),
    ),
    (
        "contact_carrier",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
    (
        "delayed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Delay),
    ),
    (
        "delivery_attempt_failed",
        ShipmentStatus::FailedAttempt,
        None,
    ),
    (
        "package_damaged",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Damaged),
    ),
    (
        "package_lost",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
    (
        "package_held",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Customs),
    ),
    ("return_to_sender", ShipmentStatus::ReturnToSender, None),
    (
        "package_undeliverable",
        ShipmentStatus::ReturnToSender,
        None,
    ),
    (
        "package_disposed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "shippo",
    secret: "SHIPPO",
    verify,
    parser: Parser::Carrier(parse),
};

/// The `token` Shippo puts in the URL; and, when a Shippo HMAC secret is configured, its
/// `Shippo-Auth-Signature` too.
pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let token = key.secret;
    let hmac_secret = key.secrets.shippo_hmac.as_ref().map(Secret::expose);
    let now_unix = key.now.timestamp();
    let given = req
        .query_param("token")
        .ok_or(AuthError::Missing("token query parameter"))?;
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Err(AuthError::Mismatch);
    }
    match hmac_secret {
        Some(secret) => verify_timestamped(
            req.header(SIGNATURE_HEADER),
            "Shippo-Auth-Signature",
            secret.as_bytes(),
            req.body,
            now_unix,
            REPLAY_WINDOW_SECS,
        ),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    data: Option<Track>,
}

#[derive(Deserialize)]
struct Track {
    carrier: Option<String>,
    tracking_number: Option<String>,
    eta: Option<String>,
    tracking_status: Option<Status>,
    #[serde(default)]
    tracking_history: Vec<Status>,
}

#[derive(Deserialize)]
struct Status {
    status: Option<String>,
    status_details: Option<String>,
    status_date: Option<String>,
    substatus: Option<Substatus>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Substatus {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
}

fn to_event(status: &Status) -> Result<TrackingEvent, ParseError> {
    let code = status.substatus.as_ref().and_then(|s| s.code.as_deref());
    let raw = status.status.as_deref().unwrap_or("UNKNOWN");
    let (mapped, reason) = code
        .and_then(|c| lookup(SUBSTATUSES, c))
        .or_else(|| lookup(STATUSES, raw))
        .ok_or_else(|| ParseError::UnknownStatus(super::truncate(raw)))?;
    let date = super::required(status.status_date.as_deref(), "tracking_status.status_date")?;
    Ok(TrackingEvent {
        status: mapped,
        reason,
        occurred_at: parse_time("tracking_status.status_date", date)?,
        description: status.status_details.clone().unwrap_or_default(),
        location: status.location.as_ref().and_then(|l| {
            join_location(&[l.city.as_deref(), l.state.as_deref(), l.country.as_deref()])
        }),
        raw_code: format!("{raw}/{}", code.unwrap_or("")),
    })
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    let envelope: Envelope = parse_json(body)?;
    match envelope.event.as_deref() {
        Some("track_updated") => {}
        Some(other) => return Err(ParseError::Unsupported(super::truncate(other))),
        None => return Err(ParseError::Missing("event")),
    }
    let track = envelope.data.ok_or(ParseError::Missing("data"))?;
    let mut events = track
        .tracking_history
        .iter()
        .map(to_event)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(current) = &track.tracking_status {
        events.push(to_event(current)?);
    }
    if events.is_empty() {
        return Err(ParseError::Missing("data.tracking_status"));
    }
    Ok(vec![TrackingUpdate {
        provider: Provider::Shippo,
        carrier: carrier(track.carrier.as_deref(), "data.carrier")?,
        tracking_number: tracking_number(track.tracking_number.as_deref(), "data.tracking_number")?,
        delivery_id: None,
        events,
        estimated_delivery: track.eta.as_deref().and_then(parse_date),
    }])
}
