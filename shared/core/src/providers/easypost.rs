//! EasyPost `tracker.created` / `tracker.updated` Events.
//! Auth: `X-Hmac-Signature: hmac-sha256-hex=<hex>`, HMAC-SHA256 keyed by the NFKD-normalized secret.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{
    carrier, join_location, parse_date, parse_json, parse_time, tracking_number, InboundRequest,
    ParseError,
};
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::signature::{hmac_sha256, verify_hex, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

pub const SIGNATURE_HEADER: &str = "x-hmac-signature";

/// EasyPost tracker `status` values.
pub const STATUSES: &[StatusRow] = &[
    ("unknown", ShipmentStatus::Pending, None),
    ("pre_transit", ShipmentStatus::InfoReceived, None),
    ("in_transit", ShipmentStatus::InTransit, None),
    ("out_for_delivery", ShipmentStatus::OutForDelivery, None),
    (
        "available_for_pickup",
        ShipmentStatus::AvailableForPickup,
        None,
    ),
    ("delivered", ShipmentStatus::Delivered, None),
    ("return_to_sender", ShipmentStatus::ReturnToSender, None),
    (
        "failure",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
    ("cancelled", ShipmentStatus::Cancelled, None),
    (
        "error",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
];

/// `status_detail` values that say more than `status` does.
pub const DETAILS: &[StatusRow] = &[
    ("attempted_delivery", ShipmentStatus::FailedAttempt, None),
    (
        "address_correction",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Address),
    ),
    (
        "bad_address",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Address),
    ),
    (
        "customs_hold",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Customs),
    ),
    (
        "weather_delay",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Weather),
    ),
    (
        "delayed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Delay),
    ),
    (
        "damaged",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Damaged),
    ),
    (
        "lost",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
    ("return", ShipmentStatus::ReturnToSender, None),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "easypost",
    secret: "EASYPOST",
    verify,
    parser: Parser::Carrier(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let secret = key.secret;
    let header = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("X-Hmac-Signature"))?;
    let hex_digest = header
        .trim()
        .strip_prefix("hmac-sha256-hex=")
        .ok_or(AuthError::Malformed("X-Hmac-Signature"))?;
    let key: String = secret.nfkd().collect();
    verify_hex(&hmac_sha256(key.as_bytes(), &[req.body]), hex_digest)
}

/// Signs a body as EasyPost does (for tests and for replaying captured events).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key: String = secret.nfkd().collect();
    format!(
        "hmac-sha256-hex={}",
        hex::encode(hmac_sha256(key.as_bytes(), &[body]))
    )
}

#[derive(Deserialize)]
struct Event {
    id: Option<String>,
    description: Option<String>,
    result: Option<Tracker>,
}

#[derive(Deserialize)]
struct Tracker {
    tracking_code: Option<String>,
    carrier: Option<String>,
    status: Option<String>,
    status_detail: Option<String>,
    est_delivery_date: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    tracking_details: Vec<Detail>,
    carrier_detail: Option<CarrierDetail>,
}

#[derive(Deserialize)]
struct Detail {
    status: Option<String>,
    status_detail: Option<String>,
    message: Option<String>,
    description: Option<String>,
    datetime: Option<String>,
    tracking_location: Option<Location>,
}

#[derive(Deserialize)]
struct Location {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
struct CarrierDetail {
    est_delivery_date_local: Option<String>,
}

fn map(
    status: Option<&str>,
    detail: Option<&str>,
) -> Result<(ShipmentStatus, Option<ExceptionReason>), ParseError> {
    if let Some(found) = detail.and_then(|d| lookup(DETAILS, d)) {
        return Ok(found);
    }
    let status = status.unwrap_or("unknown");
    lookup(STATUSES, status).ok_or_else(|| ParseError::UnknownStatus(super::truncate(status)))
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    let event: Event = parse_json(body)?;
    let kind = event
        .description
        .as_deref()
        .ok_or(ParseError::Missing("description"))?;
    if kind != "tracker.created" && kind != "tracker.updated" {
        return Err(ParseError::Unsupported(super::truncate(kind)));
    }
    let tracker = event
        .result
        .ok_or(ParseError::Missing("result (the tracker)"))?;
    let mut events = Vec::with_capacity(tracker.tracking_details.len().max(1));
    for detail in &tracker.tracking_details {
        let (status, reason) = map(detail.status.as_deref(), detail.status_detail.as_deref())?;
        let occurred_at = parse_time(
            "tracking_details.datetime",
            super::required(detail.datetime.as_deref(), "tracking_details.datetime")?,
        )?;
        let location = detail.tracking_location.as_ref().and_then(|l| {
            join_location(&[l.city.as_deref(), l.state.as_deref(), l.country.as_deref()])
        });
        events.push(TrackingEvent {
            status,
            reason,
            occurred_at,
            description: detail
                .message
                .clone()
                .or_else(|| detail.description.clone())
                .unwrap_or_default(),
            location,
            raw_code: format!(
                "{}/{}",
                detail.status.as_deref().unwrap_or(""),
                detail.status_detail.as_deref().unwrap_or("")
            ),
        });
    }
    // The tracker's own status can be newer than its details (or come with none at all).
    let (status, reason) = map(tracker.status.as_deref(), tracker.status_detail.as_deref())?;
    if events.last().is_none_or(|last| last.status != status) {
        if let Some(updated_at) = tracker.updated_at.as_deref() {
            events.push(TrackingEvent {
                status,
                reason,
                occurred_at: parse_time("result.updated_at", updated_at)?,
                description: String::new(),
                location: None,
                raw_code: format!(
                    "{}/{}",
                    tracker.status.as_deref().unwrap_or(""),
                    tracker.status_detail.as_deref().unwrap_or("")
                ),
            });
        }
    }
    let estimated_delivery = tracker
        .carrier_detail
        .as_ref()
        .and_then(|d| d.est_delivery_date_local.as_deref())
        .or(tracker.est_delivery_date.as_deref())
        .and_then(parse_date);
    Ok(vec![TrackingUpdate {
        provider: Provider::EasyPost,
        carrier: carrier(tracker.carrier.as_deref(), "result.carrier")?,
        tracking_number: tracking_number(tracker.tracking_code.as_deref(), "result.tracking_code")?,
        delivery_id: event.id.filter(|id| !id.is_empty()),
        events,
        estimated_delivery,
    }])
}
