//! AfterShip Tracking webhooks: `tracking_update` and `edd_revise`.
//! Auth: `aftership-hmac-sha256` = base64(HMAC-SHA256(secret, raw body)). Deduped on `event_id`.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{
    carrier, join_location, parse_date, parse_json, parse_time, tracking_number, InboundRequest,
    ParseError,
};
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::signature::{hmac_base64, verify_hmac_base64, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use serde::Deserialize;

pub const SIGNATURE_HEADER: &str = "aftership-hmac-sha256";

/// Tags, then the subtags that say more than their tag.
pub const TAGS: &[StatusRow] = &[
    ("Pending", ShipmentStatus::Pending, None),
    ("InfoReceived", ShipmentStatus::InfoReceived, None),
    ("InTransit", ShipmentStatus::InTransit, None),
    ("OutForDelivery", ShipmentStatus::OutForDelivery, None),
    ("AttemptFail", ShipmentStatus::FailedAttempt, None),
    ("Delivered", ShipmentStatus::Delivered, None),
    (
        "AvailableForPickup",
        ShipmentStatus::AvailableForPickup,
        None,
    ),
    (
        "Exception",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
    ("Expired", ShipmentStatus::Expired, None),
];

pub const SUBTAGS: &[StatusRow] = &[
    (
        "Exception_002",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Address),
    ),
    (
        "Exception_003",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Recipient),
    ),
    (
        "Exception_004",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Customs),
    ),
    (
        "Exception_005",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Delay),
    ),
    (
        "Exception_007",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Address),
    ),
    ("Exception_010", ShipmentStatus::ReturnToSender, None),
    ("Exception_011", ShipmentStatus::ReturnToSender, None),
    (
        "Exception_012",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Damaged),
    ),
    (
        "Exception_013",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Lost),
    ),
    (
        "AttemptFail_002",
        ShipmentStatus::FailedAttempt,
        Some(ExceptionReason::Recipient),
    ),
    (
        "AttemptFail_003",
        ShipmentStatus::FailedAttempt,
        Some(ExceptionReason::Address),
    ),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "aftership",
    secret: "AFTERSHIP",
    verify,
    parser: Parser::Carrier(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let secret = key.secret;
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("aftership-hmac-sha256"))?;
    verify_hmac_base64(secret, req.body, given)
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    hmac_base64(secret, body)
}

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    event_id: Option<String>,
    msg: Option<Tracking>,
    ts: Option<i64>,
}

#[derive(Deserialize)]
struct Tracking {
    tracking_number: Option<String>,
    slug: Option<String>,
    tag: Option<String>,
    subtag: Option<String>,
    updated_at: Option<String>,
    expected_delivery: Option<String>,
    courier_estimated_delivery_date: Option<EstimateBlock>,
    aftership_estimated_delivery_date: Option<EstimateBlock>,
    custom_estimated_delivery_date: Option<EstimateBlock>,
    #[serde(default)]
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct EstimateBlock {
    estimated_delivery_date: Option<String>,
    estimated_delivery_date_max: Option<String>,
}

#[derive(Deserialize)]
struct Checkpoint {
    checkpoint_time: Option<String>,
    tag: Option<String>,
    subtag: Option<String>,
    message: Option<String>,
    location: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country_name: Option<String>,
    country_iso3: Option<String>,
}

fn map(
    tag: Option<&str>,
    subtag: Option<&str>,
) -> Result<(ShipmentStatus, Option<ExceptionReason>), ParseError> {
    if let Some(found) = subtag.and_then(|s| lookup(SUBTAGS, s)) {
        return Ok(found);
    }
    let tag = tag
        .or_else(|| subtag.and_then(|s| s.split('_').next()))
        .ok_or(ParseError::Missing("tag"))?;
    lookup(TAGS, tag).ok_or_else(|| ParseError::UnknownStatus(super::truncate(tag)))
}

fn estimate(tracking: &Tracking) -> Option<chrono::NaiveDate> {
    let block = |b: &Option<EstimateBlock>| {
        b.as_ref().and_then(|b| {
            b.estimated_delivery_date
                .as_deref()
                .or(b.estimated_delivery_date_max.as_deref())
                .and_then(parse_date)
        })
    };
    // The merchant's own promise first, then the carrier's, then AfterShip's prediction.
    block(&tracking.custom_estimated_delivery_date)
        .or_else(|| tracking.expected_delivery.as_deref().and_then(parse_date))
        .or_else(|| block(&tracking.courier_estimated_delivery_date))
        .or_else(|| block(&tracking.aftership_estimated_delivery_date))
}

fn checkpoint_event(checkpoint: &Checkpoint) -> Result<TrackingEvent, ParseError> {
    let (status, reason) = map(checkpoint.tag.as_deref(), checkpoint.subtag.as_deref())?;
    let time = super::required(
        checkpoint.checkpoint_time.as_deref(),
        "checkpoints.checkpoint_time",
    )?;
    let location = checkpoint
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .or_else(|| {
            join_location(&[
                checkpoint.city.as_deref(),
                checkpoint.state.as_deref(),
                checkpoint
                    .country_name
                    .as_deref()
                    .or(checkpoint.country_iso3.as_deref()),
            ])
        });
    Ok(TrackingEvent {
        status,
        reason,
        occurred_at: parse_time("checkpoints.checkpoint_time", time)?,
        description: checkpoint.message.clone().unwrap_or_default(),
        location,
        raw_code: checkpoint
            .subtag
            .clone()
            .or_else(|| checkpoint.tag.clone())
            .unwrap_or_default(),
    })
}

/// A tracking with no checkpoints yet still tells its tag (Pending, InfoReceived, Expired).
fn tag_event(tracking: &Tracking, ts: Option<i64>) -> Result<TrackingEvent, ParseError> {
    let (status, reason) = map(tracking.tag.as_deref(), tracking.subtag.as_deref())?;
    let at = match (tracking.updated_at.as_deref(), ts) {
        (Some(t), _) => parse_time("msg.updated_at", t)?,
        (None, Some(ts)) => chrono::DateTime::from_timestamp(ts, 0)
            .filter(crate::bounds::plausible_year)
            .ok_or(ParseError::Invalid {
                field: "ts",
                reason: "out of range".into(),
            })?,
        (None, None) => return Err(ParseError::Missing("msg.updated_at")),
    };
    Ok(TrackingEvent {
        status,
        reason,
        occurred_at: at,
        description: String::new(),
        location: None,
        raw_code: tracking
            .subtag
            .clone()
            .or_else(|| tracking.tag.clone())
            .unwrap_or_default(),
    })
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    let envelope: Envelope = parse_json(body)?;
    let kind = envelope
        .event
        .as_deref()
        .ok_or(ParseError::Missing("event"))?;
    let revision_only = match kind {
        "tracking_update" => false,
        "edd_revise" => true,
        other => return Err(ParseError::Unsupported(super::truncate(other))),
    };
    let tracking = envelope.msg.ok_or(ParseError::Missing("msg"))?;
    let mut events = Vec::new();
    if !revision_only {
        events = tracking
            .checkpoints
            .iter()
            .map(checkpoint_event)
            .collect::<Result<_, _>>()?;
        if events.is_empty() {
            events.push(tag_event(&tracking, envelope.ts)?);
        }
    }
    let estimated_delivery = estimate(&tracking);
    if revision_only && estimated_delivery.is_none() {
        return Err(ParseError::Missing(
            "an estimated delivery date in edd_revise",
        ));
    }
    Ok(vec![TrackingUpdate {
        provider: Provider::AfterShip,
        carrier: carrier(tracking.slug.as_deref(), "msg.slug")?,
        tracking_number: tracking_number(
            tracking.tracking_number.as_deref(),
            "msg.tracking_number",
        )?,
        delivery_id: envelope.event_id.filter(|id| !id.trim().is_empty()),
        events,
        estimated_delivery,
    }])
}
