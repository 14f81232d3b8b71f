//! UPS Track Alert push events.
//! UPS signs no body. v1 subscriptions echo an opaque `credential` header; v2 subscriptions fetch an
//! OAuth client-credentials token from a URL Doorstep serves and send it as `Authorization: Bearer`.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::InboundRequest;
use super::{parse_json, ParseError};
use crate::ids::CarrierSlug;
use crate::model::{Provider, TrackingEvent, TrackingUpdate};
use crate::signature::{constant_time_eq, hmac_sha256, verify_hex, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

pub const CREDENTIAL_HEADER: &str = "credential";
/// Lifetime of the bearer tokens Doorstep issues to UPS.
pub const TOKEN_TTL_SECS: i64 = 3600;

/// Activity types, refined by activity code below.
pub const ACTIVITY_TYPES: &[StatusRow] = &[
    ("M", ShipmentStatus::InfoReceived, None),
    ("MV", ShipmentStatus::Cancelled, None),
    ("I", ShipmentStatus::InTransit, None),
    ("X", ShipmentStatus::Exception, Some(ExceptionReason::Other)),
    ("D", ShipmentStatus::Delivered, None),
];

/// `I` activity codes that are milestones of their own.
pub const IN_PROGRESS_CODES: &[StatusRow] = &[
    ("OT", ShipmentStatus::OutForDelivery, None),
    ("OF", ShipmentStatus::OutForDelivery, None),
    ("RS", ShipmentStatus::ReturnToSender, None),
    ("ZP", ShipmentStatus::AvailableForPickup, None),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "ups",
    secret: "UPS",
    verify,
    parser: Parser::Carrier(parse),
};

/// Track Alert v1's `credential` header, or v2's bearer token from the token endpoint.
pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    verify_headers(
        req.header(CREDENTIAL_HEADER),
        req.header("authorization"),
        key.secret,
        key.now.timestamp(),
    )
}

/// Checks a v1 `credential` header or a v2 bearer token issued by [`issue_token`].
pub fn verify_headers(
    headers_credential: Option<&str>,
    authorization: Option<&str>,
    secret: &str,
    now_unix: i64,
) -> Result<(), AuthError> {
    if let Some(credential) = headers_credential {
        return constant_time_eq(credential.trim().as_bytes(), secret.as_bytes())
            .then_some(())
            .ok_or(AuthError::Mismatch);
    }
    let bearer = authorization
        .and_then(|a| {
            a.trim()
                .strip_prefix("Bearer ")
                .or_else(|| a.trim().strip_prefix("bearer "))
        })
        .ok_or(AuthError::Missing("credential header or bearer token"))?;
    verify_token(bearer.trim(), secret, now_unix)
}

fn token_key(secret: &str) -> [u8; 32] {
    // Tokens are signed with a key derived from the secret, never with the secret itself.
    hmac_sha256(secret.as_bytes(), &[b"doorstep ups bearer token v1"])
}

/// Issues a stateless bearer token: `<expiry>.<hex HMAC>` (nothing to store, nothing to look up).
pub fn issue_token(secret: &str, now_unix: i64) -> (String, i64) {
    let expires = now_unix + TOKEN_TTL_SECS;
    let mac = hmac_sha256(&token_key(secret), &[expires.to_string().as_bytes()]);
    (format!("{expires}.{}", hex::encode(mac)), TOKEN_TTL_SECS)
}

fn verify_token(token: &str, secret: &str, now_unix: i64) -> Result<(), AuthError> {
    let (expires, mac) = token
        .split_once('.')
        .ok_or(AuthError::Malformed("bearer token"))?;
    let expires_at: i64 = expires
        .parse()
        .map_err(|_| AuthError::Malformed("bearer token"))?;
    verify_hex(&hmac_sha256(&token_key(secret), &[expires.as_bytes()]), mac)?;
    if now_unix > expires_at {
        return Err(AuthError::Stale);
    }
    Ok(())
}

/// Checks the client credentials of a token request (HTTP Basic, or `client_id`/`client_secret` in the form).
pub fn check_client(
    authorization: Option<&str>,
    form: &[u8],
    client_id: &str,
    secret: &str,
) -> Result<(), AuthError> {
    let mut grant_type = None;
    let mut form_id = None;
    let mut form_secret = None;
    for (key, value) in form_urlencoded::parse(form) {
        match key.as_ref() {
            "grant_type" => grant_type = Some(value.into_owned()),
            "client_id" => form_id = Some(value.into_owned()),
            "client_secret" => form_secret = Some(value.into_owned()),
            _ => {}
        }
    }
    if grant_type.as_deref() != Some("client_credentials") {
        return Err(AuthError::Malformed(
            "grant_type (expected client_credentials)",
        ));
    }
    let (id, given_secret) = match authorization.and_then(|a| a.trim().strip_prefix("Basic ")) {
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| AuthError::Malformed("Authorization"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| AuthError::Malformed("Authorization"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or(AuthError::Malformed("Authorization"))?;
            (id.to_string(), secret.to_string())
        }
        None => (
            form_id.ok_or(AuthError::Missing("client credentials"))?,
            form_secret.ok_or(AuthError::Missing("client credentials"))?,
        ),
    };
    let id_ok = constant_time_eq(id.as_bytes(), client_id.as_bytes());
    let secret_ok = constant_time_eq(given_secret.as_bytes(), secret.as_bytes());
    (id_ok & secret_ok).then_some(()).ok_or(AuthError::Mismatch)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    Many(Vec<Activity>),
    One(Box<Activity>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    tracking_number: Option<String>,
    local_activity_date: Option<String>,
    local_activity_time: Option<String>,
    gmt_activity_date: Option<String>,
    gmt_activity_time: Option<String>,
    activity_location: Option<Location>,
    activity_status: Option<ActivityStatus>,
    scheduled_delivery_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    city: Option<String>,
    state_province: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityStatus {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    description: Option<String>,
}

fn ups_time(date: Option<&str>, time: Option<&str>) -> Option<NaiveDateTime> {
    let stamp = format!("{}{}", date?.trim(), time.unwrap_or("000000").trim());
    NaiveDateTime::parse_from_str(&stamp, "%Y%m%d%H%M%S")
        .ok()
        .filter(|t| crate::bounds::plausible_year(&t.and_utc()))
}

fn to_update(activity: Activity) -> Result<TrackingUpdate, ParseError> {
    let status = activity
        .activity_status
        .ok_or(ParseError::Missing("activityStatus"))?;
    let kind = super::required(status.kind.as_deref(), "activityStatus.type")?.to_ascii_uppercase();
    let code = status.code.clone().unwrap_or_default();
    let estimated_delivery = activity
        .scheduled_delivery_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y%m%d").ok())
        .filter(crate::bounds::plausible_date);
    // GMT is the instant; the local time is what the customer saw, kept in the description.
    let gmt = ups_time(
        activity.gmt_activity_date.as_deref(),
        activity.gmt_activity_time.as_deref(),
    );
    let local = ups_time(
        activity.local_activity_date.as_deref(),
        activity.local_activity_time.as_deref(),
    );
    let occurred_at = gmt
        .or(local)
        .ok_or(ParseError::Invalid {
            field: "gmtActivityDate/gmtActivityTime",
            reason: "missing, not a date and time, or out of range".into(),
        })?
        .and_utc();
    let mut events = Vec::new();
    // `U` (updated delivery date/time) moves the estimate, not the parcel.
    if kind != "U" {
        let (mapped, reason) = (kind == "I")
            .then(|| lookup(IN_PROGRESS_CODES, &code))
            .flatten()
            .or_else(|| lookup(ACTIVITY_TYPES, &kind))
            .ok_or_else(|| ParseError::UnknownStatus(super::truncate(&kind)))?;
        let mut description = status.description.clone().unwrap_or_default();
        if let Some(local) = local {
            description = format!(
                "{description} (local time {})",
                local.format("%Y-%m-%d %H:%M")
            );
        }
        events.push(TrackingEvent {
            status: mapped,
            reason,
            occurred_at,
            description: description.trim().to_string(),
            location: activity.activity_location.as_ref().and_then(|l| {
                super::join_location(&[
                    l.city.as_deref(),
                    l.state_province.as_deref(),
                    l.country.as_deref(),
                ])
            }),
            raw_code: format!("{kind}/{code}"),
        });
    } else if estimated_delivery.is_none() {
        return Err(ParseError::Missing("scheduledDeliveryDate in a U activity"));
    }
    Ok(TrackingUpdate {
        provider: Provider::Ups,
        carrier: CarrierSlug::parse("ups").ok_or(ParseError::Missing("carrier"))?,
        tracking_number: super::tracking_number(
            activity.tracking_number.as_deref(),
            "trackingNumber",
        )?,
        delivery_id: None,
        events,
        estimated_delivery,
    })
}

pub fn parse(body: &[u8]) -> Result<Vec<TrackingUpdate>, ParseError> {
    match parse_json::<Body>(body)? {
        Body::One(activity) => Ok(vec![to_update(*activity)?]),
        Body::Many(activities) if activities.is_empty() => Err(ParseError::Missing("an activity")),
        Body::Many(activities) => activities.into_iter().map(to_update).collect(),
    }
}
