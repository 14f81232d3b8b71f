//! 17TRACK API v2 `TRACKING_UPDATED` pushes.
//! Auth: header `sign` = hex SHA-256 of `raw body + "/" + security key` (a plain hash, not an HMAC).

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{
    join_location, parse_date, parse_json, parse_time, tracking_number, InboundRequest, ParseError,
};
use crate::ids::CarrierSlug;
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::signature::{sha256, verify_hex, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use serde::Deserialize;

pub const SIGNATURE_HEADER: &str = "sign";

pub const STATUSES: &[StatusRow] = &[
    ("NotFound", ShipmentStatus::Pending, None),
    ("InfoReceived", ShipmentStatus::InfoReceived, None),
    ("InTransit", ShipmentStatus::InTransit, None),
    ("Expired", ShipmentStatus::Expired, None),
    (
        "AvailableForPickup",
        ShipmentStatus::AvailableForPickup,
        None,
    ),
    ("OutForDelivery", ShipmentStatus::OutForDelivery, None),
    ("DeliveryFailure", ShipmentStatus::FailedAttempt, None),
    ("Delivered", ShipmentStatus::Delivered, None),
    (
        "Exception",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
];

pub const SUB_STATUSES: &[StatusRow] = &[
    (
        "InTransit_CustomsRequiringInformation",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Customs),
    ),
    (
        "DeliveryFailure_InvalidAddress",
        ShipmentStatus::FailedAttempt,
        Some(ExceptionReason::Address),
    ),
    (
        "DeliveryFailure_NoBody",
        ShipmentStatus::FailedAttempt,
        Some(ExceptionReason::Recipient),
    ),
    (
        "DeliveryFailure_Rejected",
        ShipmentStatus::FailedAttempt,
        Some(ExceptionReason::Recipient),
    ),
    ("Exception_Returning", ShipmentStatus::ReturnToSender, None),
    ("Exception_Returned", ShipmentStatus::ReturnToSender, None),
    (
        "Exception_Delayed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Delay),
    ),
    (
        "Exception_Damage",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Damaged),
    ),
    (
        "Exception_Lost",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
    (
        "Exception_Destroyed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
    (
        "Exception_Rejected",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Recipient),
    ),
    (
        "Exception_NoBody",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Recipient),
    ),
    ("Exception_Cancel", ShipmentStatus::Cancelled, None),
];

/// 17TRACK's numeric carrier keys for carriers whose name alone would be ambiguous.
pub const CARRIERS: &[(i64, &str)] = &[
    (100001, "dhl"),
    (100002, "ups"),
    (100003, "fedex"),
    (21051, "usps"),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "17track",
    secret: "17TRACK",
    verify,
    parser: Parser::Carrier(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let key = key.secret;
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("sign"))?;
    verify_hex(&sha256(&[req.body, b"/", key.as_bytes()]), given)
}

pub fn sign(key: &str, body: &[u8]) -> String {
    hex::encode(sha256(&[body, b"/", key.as_bytes()]))
}

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    number: Option<String>,
    carrier: Option<i64>,
    track_info: Option<TrackInfo>,
}

#[derive(Deserialize)]
struct TrackInfo {
    latest_status: Option<LatestStatus>,
    latest_event: Option<Event>,
    time_metrics: Option<TimeMetrics>,
    tracking: Option<Tracking>,
}

#[derive(Deserialize)]
struct LatestStatus {
    status: Option<String>,
    sub_status: Option<String>,
}

#[derive(Deserialize)]
struct TimeMetrics {
    estimated_delivery_date: Option<Window>,
}

#[derive(Deserialize)]
struct Window {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Deserialize)]
struct Tracking {
    #[serde(default)]
    providers: Vec<ProviderEvents>,
}

#[derive(Deserialize)]
struct ProviderEvents {
    provider: Option<ProviderInfo>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct ProviderInfo {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    time_utc: Option<String>,
    time_iso: Option<String>,
    description: Option<String>,
    location: Option<String>,
    stage: Option<String>,
    sub_status: Option<String>,
}

fn map(code: &str) -> Result<(ShipmentStatus, Option<ExceptionReason>), ParseError> {
    lookup(SUB_STATUSES, code)
        .or_else(|| lookup(STATUSES, code.split('_').next().unwrap_or(code)))
        .ok_or_else(|| ParseError::UnknownStatus(super::truncate(code)))
}

fn to_event(event: &Event, fallback_status: Option<&str>) -> Result<TrackingEvent, ParseError> {
    let code = event
        .sub_status
        .as_deref()
        .or(event.stage.as_deref())
        .or(fallback_status)
        .ok_or(ParseError::Missing("events.sub_status"))?;
    let (status, reason) = map(code)?;
    let time = event.time_utc.as_deref().or(event.time_iso.as_deref());
    Ok(TrackingEvent {
        status,
        reason,
        occurred_at: parse_time("events.time_utc", super::required(time, "events.time_utc")?)?,
        description: event.description.clone().unwrap_or_default(),
        location: join_location(&[event.location.as_deref()]),
        raw_code: code.to_string(),
    })
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    let envelope: Envelope = parse_json(body)?;
    match envelope.event.as_deref() {
        Some("TRACKING_UPDATED") => {}
        Some(other) => return Err(ParseError::Unsupported(super::truncate(other))),
        None => return Err(ParseError::Missing("event")),
    }
    let data = envelope.data.ok_or(ParseError::Missing("data"))?;
    let info = data
        .track_info
        .ok_or(ParseError::Missing("data.track_info"))?;
    let providers = info.tracking.map(|t| t.providers).unwrap_or_default();
    let latest_code = info
        .latest_status
        .as_ref()
        .and_then(|s| s.sub_status.as_deref().or(s.status.as_deref()));
    let mut events = Vec::new();
    for provider in &providers {
        for event in &provider.events {
            events.push(to_event(event, None)?);
        }
    }
    if events.is_empty() {
        if let Some(latest) = &info.latest_event {
            events.push(to_event(latest, latest_code)?);
        }
    }
    if events.is_empty() {
        return Err(ParseError::Missing("data.track_info events"));
    }
    let carrier = data
        .carrier
        .and_then(|code| {
            CARRIERS
                .iter()
                .find(|(key, _)| *key == code)
                .map(|(_, slug)| *slug)
        })
        .and_then(CarrierSlug::parse)
        .or_else(|| {
            providers.iter().find_map(|p| {
                p.provider
                    .as_ref()
                    .and_then(|p| p.name.as_deref())
                    .and_then(CarrierSlug::parse)
            })
        })
        .or_else(|| {
            data.carrier
                .and_then(|code| CarrierSlug::parse(&format!("17track-{code}")))
        })
        .ok_or(ParseError::Missing("data.carrier"))?;
    let estimated_delivery = info
        .time_metrics
        .and_then(|m| m.estimated_delivery_date)
        .and_then(|w| w.to.or(w.from))
        .as_deref()
        .and_then(parse_date);
    Ok(vec![TrackingUpdate {
        provider: Provider::SeventeenTrack,
        carrier,
        tracking_number: tracking_number(data.number.as_deref(), "data.number")?,
        delivery_id: None,
        events,
        estimated_delivery,
    }])
}
