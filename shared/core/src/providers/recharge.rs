//! Recharge subscriptions: `POST /webhooks/subscriptions/recharge`.
//!
//! Auth (Recharge's webhook validation): `X-Recharge-Hmac-Sha256` is the hex SHA-256 of the API
//! client secret immediately followed by the raw body. The topic is in `X-Recharge-Topic`; a
//! webhook's payload is the REST object of the same name (`{"subscription": {...}}`,
//! `{"customer": {...}}`, API version 2021-11).
//!
//! Topics: `subscription/created|updated|activated|cancelled|paused|skipped|unskipped|swapped|
//! deleted` (a snapshot each; `deleted` counts as cancelled) and `customer/created|updated|
//! activated|deactivated` (contacts for reminders). Others are refused with 400.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{id_string, parse_date, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::ProductId;
use crate::model::Provider;
use crate::signature::{sha256, verify_hex, AuthError};
use crate::subscriptions::{
    ContactSnapshot, SubscriptionDelivery, SubscriptionEvent, SubscriptionItem,
    SubscriptionSnapshot, SubscriptionStatus,
};
use serde::Deserialize;
use serde_json::Value;

pub const SIGNATURE_HEADER: &str = "x-recharge-hmac-sha256";
pub const TOPIC_HEADER: &str = "x-recharge-topic";
/// Recharge sends no delivery id; the webhook id and the object's `updated_at` order snapshots.
pub const WEBHOOK_ID_HEADER: &str = "x-recharge-webhook-id";

pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "recharge",
    secret: "RECHARGE",
    verify,
    parser: Parser::Subscription(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("X-Recharge-Hmac-Sha256"))?;
    let expected = sha256(&[key.secret.as_bytes(), req.body]);
    verify_hex(&expected, given)
}

/// The signature Recharge would send (tests and the local demo).
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(sha256(&[secret.as_bytes(), body]))
}

#[derive(Deserialize)]
struct SubscriptionBody {
    subscription: Option<RechargeSubscription>,
}

#[derive(Deserialize)]
struct CustomerBody {
    customer: Option<RechargeCustomer>,
}

#[derive(Deserialize)]
struct RechargeSubscription {
    id: Option<Value>,
    customer_id: Option<Value>,
    status: Option<String>,
    charge_interval_frequency: Option<Value>,
    order_interval_unit: Option<String>,
    next_charge_scheduled_at: Option<String>,
    presentment_currency: Option<String>,
    price: Option<Value>,
    quantity: Option<Value>,
    product_title: Option<String>,
    variant_title: Option<String>,
    external_product_id: Option<ExternalId>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct ExternalId {
    ecommerce: Option<Value>,
}

#[derive(Deserialize)]
struct RechargeCustomer {
    id: Option<Value>,
    email: Option<String>,
    first_name: Option<String>,
    phone: Option<String>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A whole number from a JSON number or a numeric string.
fn whole(value: Option<&Value>, field: &'static str) -> Result<Option<u64>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, "must be a whole number")),
        Some(_) => Err(invalid(field, "must be a number")),
    }
}

/// A price as a decimal string (Recharge sends `"49.00"`, sometimes a number).
pub(crate) fn price(
    value: Option<&Value>,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    let raw = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(invalid(field, "must be a price")),
    };
    match raw.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=1_000_000.0).contains(&p) => Ok(Some(raw)),
        _ => Err(invalid(
            field,
            format!("'{}' is not a price", super::truncate(&raw)),
        )),
    }
}

fn status(raw: Option<&str>, topic: &str) -> Result<SubscriptionStatus, ParseError> {
    if topic == "subscription/deleted" {
        return Ok(SubscriptionStatus::Cancelled);
    }
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("active") => Ok(SubscriptionStatus::Active),
        Some("paused") => Ok(SubscriptionStatus::Paused),
        Some("cancelled" | "canceled" | "expired") => Ok(SubscriptionStatus::Cancelled),
        Some(other) => Err(ParseError::UnknownStatus(super::truncate(other))),
        None => Err(ParseError::Missing("subscription.status")),
    }
}

/// Days between charges: Recharge counts in days, weeks or months (a month read as 30 days).
fn interval_days(frequency: Option<u64>, unit: Option<&str>) -> Result<Option<u32>, ParseError> {
    let Some(frequency) = frequency else {
        return Ok(None);
    };
    let per = match unit.map(|u| u.trim().to_ascii_lowercase()).as_deref() {
        Some("day" | "days") | None => 1,
        Some("week" | "weeks") => 7,
        Some("month" | "months") => 30,
        Some(other) => {
            return Err(invalid(
                "subscription.order_interval_unit",
                format!("'{}' is not day, week or month", super::truncate(other)),
            ))
        }
    };
    match frequency.checked_mul(per) {
        Some(days @ 1..=730) => Ok(u32::try_from(days).ok()),
        _ => Err(invalid(
            "subscription.charge_interval_frequency",
            "must be 1 day to 2 years",
        )),
    }
}

fn subscription(topic: &str, body: &[u8]) -> Result<SubscriptionEvent, ParseError> {
    let body: SubscriptionBody = parse_json(body)?;
    let s = body
        .subscription
        .ok_or(ParseError::Missing("subscription"))?;
    let external_id =
        s.id.as_ref()
            .and_then(id_string)
            .ok_or(ParseError::Missing("subscription.id"))?;
    let customer_id = s
        .customer_id
        .as_ref()
        .and_then(id_string)
        .ok_or(ParseError::Missing("subscription.customer_id"))?;
    let quantity = whole(s.quantity.as_ref(), "subscription.quantity")?.unwrap_or(1);
    let quantity = u32::try_from(quantity)
        .ok()
        .filter(|q| (1..=10_000).contains(q))
        .ok_or_else(|| invalid("subscription.quantity", "must be 1 to 10000"))?;
    let title = match (s.product_title.as_deref(), s.variant_title.as_deref()) {
        (Some(p), Some(v)) if !v.trim().is_empty() => format!("{} ({})", p.trim(), v.trim()),
        (Some(p), _) => p.trim().to_string(),
        (None, _) => "Subscription".to_string(),
    };
    let product_id = s
        .external_product_id
        .as_ref()
        .and_then(|e| e.ecommerce.as_ref())
        .and_then(id_string)
        .map(|id| ProductId::new(Provider::Shopify, &id));
    let next_charge_on = match s.next_charge_scheduled_at.as_deref() {
        None => None,
        Some(raw) if raw.trim().is_empty() => None,
        Some(raw) => Some(parse_date(raw).ok_or_else(|| {
            invalid(
                "subscription.next_charge_scheduled_at",
                format!("'{}' is not a date in 2000-2099", super::truncate(raw)),
            )
        })?),
    };
    let snapshot = SubscriptionSnapshot {
        platform: Provider::Recharge,
        external_id,
        customer: ContactSnapshot {
            platform: Provider::Recharge,
            external_id: customer_id,
            email: None,
            phone: None,
            first_name: None,
            locale: None,
            timezone: None,
        },
        status: status(s.status.as_deref(), topic)?,
        interval_days: interval_days(
            whole(
                s.charge_interval_frequency.as_ref(),
                "subscription.charge_interval_frequency",
            )?,
            s.order_interval_unit.as_deref(),
        )?,
        next_charge_on,
        currency: s.presentment_currency.filter(|c| !c.trim().is_empty()),
        items: vec![SubscriptionItem {
            product_id,
            title,
            quantity,
            price: price(s.price.as_ref(), "subscription.price")?,
        }],
        updated_at: s
            .updated_at
            .as_deref()
            .map(|t| parse_time("subscription.updated_at", t))
            .transpose()?,
    };
    Ok(SubscriptionEvent::Subscription(Box::new(snapshot)))
}

fn customer(body: &[u8]) -> Result<SubscriptionEvent, ParseError> {
    let body: CustomerBody = parse_json(body)?;
    let c = body.customer.ok_or(ParseError::Missing("customer"))?;
    Ok(SubscriptionEvent::Customer(ContactSnapshot {
        platform: Provider::Recharge,
        external_id: c
            .id
            .as_ref()
            .and_then(id_string)
            .ok_or(ParseError::Missing("customer.id"))?,
        email: c.email,
        phone: c.phone,
        first_name: c.first_name.filter(|n| !n.trim().is_empty()),
        locale: None,
        timezone: None,
    }))
}

/// Reads one delivery by its topic.
pub fn parse_topic(topic: Option<&str>, body: &[u8]) -> Result<SubscriptionEvent, ParseError> {
    let topic = topic
        .map(str::trim)
        .ok_or(ParseError::Missing("X-Recharge-Topic header"))?;
    match topic {
        "subscription/created"
        | "subscription/updated"
        | "subscription/activated"
        | "subscription/cancelled"
        | "subscription/paused"
        | "subscription/skipped"
        | "subscription/unskipped"
        | "subscription/swapped"
        | "subscription/deleted" => subscription(topic, body),
        "customer/created" | "customer/updated" | "customer/activated" | "customer/deactivated" => {
            customer(body)
        }
        other => Err(ParseError::Unsupported(super::truncate(other))),
    }
}

pub fn parse(req: &InboundRequest<'_>) -> Result<SubscriptionDelivery, ParseError> {
    Ok(SubscriptionDelivery {
        event: parse_topic(req.header(TOPIC_HEADER), req.body)?,
        delivery_id: req.header(WEBHOOK_ID_HEADER).map(str::to_string),
    })
}
