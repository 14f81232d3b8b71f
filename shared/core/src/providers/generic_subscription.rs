//! Doorstep's subscription format, for subscription apps with no scheme Doorstep knows:
//! `POST /webhooks/subscriptions/generic`, signed like the generic carrier format
//! (`Doorstep-Signature`). Each delivery is the subscription as it is now; customers and
//! products are the generic store's (`generic-store:{id}`), so a subscriber who also orders
//! through the generic store API is one customer. Documented in
//! docs/subscriptions-and-reviews.md.

use super::registry::{Parser, ProviderSpec};
use super::{id_string, parse_date, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::ProductId;
use crate::model::Provider;
use crate::subscriptions::{
    ContactSnapshot, SubscriptionDelivery, SubscriptionEvent, SubscriptionItem,
    SubscriptionSnapshot, SubscriptionStatus,
};
use serde::Deserialize;
use serde_json::Value;

pub use super::generic::verify;

pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "generic",
    secret: "GENERIC",
    verify,
    parser: Parser::Subscription(parse),
};

/// Items one subscription may carry.
pub const MAX_ITEMS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    event_id: Option<String>,
    subscription: Option<Subscription>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscription {
    id: Option<Value>,
    status: Option<String>,
    interval_days: Option<Value>,
    next_charge_at: Option<String>,
    currency: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
    customer: Option<Customer>,
    /// Optional: orders snapshots that arrive out of order.
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    product_id: Option<Value>,
    title: Option<String>,
    quantity: Option<Value>,
    price: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    id: Option<Value>,
    email: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    first_name: Option<String>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn small_number(
    value: Option<&Value>,
    field: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u32>, ParseError> {
    let number = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match number {
        Some(n) if range.contains(&n) => Ok(u32::try_from(n).ok()),
        _ => Err(invalid(
            field,
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

pub fn parse(req: &InboundRequest<'_>) -> Result<SubscriptionDelivery, ParseError> {
    let body: Body = parse_json(req.body)?;
    let event_id = body
        .event_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or(ParseError::Missing("event_id"))?;
    let s = body
        .subscription
        .ok_or(ParseError::Missing("subscription"))?;
    let customer = s
        .customer
        .ok_or(ParseError::Missing("subscription.customer"))?;
    let status_raw = s.status.ok_or(ParseError::Missing("subscription.status"))?;
    let status: SubscriptionStatus = status_raw.trim().parse().map_err(|_| {
        invalid(
            "subscription.status",
            format!(
                "'{}' is not active, paused or cancelled",
                super::truncate(&status_raw)
            ),
        )
    })?;
    if s.items.is_empty() {
        return Err(ParseError::Missing("subscription.items"));
    }
    if s.items.len() > MAX_ITEMS {
        return Err(invalid(
            "subscription.items",
            format!("more than {MAX_ITEMS}"),
        ));
    }
    let mut items = Vec::with_capacity(s.items.len());
    for item in s.items {
        items.push(SubscriptionItem {
            product_id: item
                .product_id
                .as_ref()
                .and_then(id_string)
                .map(|id| ProductId::new(Provider::GenericStore, &id)),
            title: crate::reviews::text(item.title, 200, "subscription.items.title")?
                .ok_or(ParseError::Missing("subscription.items.title"))?,
            quantity: small_number(
                item.quantity.as_ref(),
                "subscription.items.quantity",
                1..=10_000,
            )?
            .unwrap_or(1),
            price: super::recharge::price(item.price.as_ref(), "subscription.items.price")?,
        });
    }
    let next_charge_on = match s.next_charge_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_date(raw).ok_or_else(|| {
            invalid(
                "subscription.next_charge_at",
                format!("'{}' is not a date in 2000-2099", super::truncate(raw)),
            )
        })?),
    };
    let currency = match s.currency.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(invalid(
                "subscription.currency",
                format!("'{}' is not a three-letter code", super::truncate(c)),
            ))
        }
    };
    let snapshot = SubscriptionSnapshot {
        platform: Provider::GenericSubscription,
        external_id: s
            .id
            .as_ref()
            .and_then(id_string)
            .ok_or(ParseError::Missing("subscription.id"))?,
        customer: ContactSnapshot {
            platform: Provider::GenericSubscription,
            external_id: customer
                .id
                .as_ref()
                .and_then(id_string)
                .ok_or(ParseError::Missing("subscription.customer.id"))?,
            email: customer.email,
            phone: customer.phone,
            first_name: customer.first_name.filter(|n| !n.trim().is_empty()),
            locale: customer.locale,
            timezone: customer.timezone,
        },
        status,
        interval_days: small_number(
            s.interval_days.as_ref(),
            "subscription.interval_days",
            1..=730,
        )?,
        next_charge_on,
        currency,
        items,
        updated_at: s
            .updated_at
            .as_deref()
            .map(|t| parse_time("subscription.updated_at", t))
            .transpose()?,
    };
    Ok(SubscriptionDelivery {
        event: SubscriptionEvent::Subscription(Box::new(snapshot)),
        delivery_id: Some(event_id),
    })
}
