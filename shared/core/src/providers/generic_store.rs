//! Doorstep's generic store API: orders and fulfilments as JSON, signed like the generic carrier
//! format (`Doorstep-Signature`). Documented in docs/webhooks.md.

use super::{id_string, parse_json, parse_time, ParseError};
use crate::ids::{CarrierSlug, TrackingNumber};
use crate::model::{LineItem, Provider, ShippedItem};
use crate::store_events::{
    CustomerSnapshot, FulfillmentSnapshot, OrderSnapshot, ProductSnapshot, RefundSnapshot,
    StoreEvent,
};
use serde::Deserialize;
use serde_json::Value;

pub use super::generic::verify;

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "generic",
    secret: "GENERIC",
    verify,
    parser: Parser::Store(delivery),
};

fn delivery(req: &InboundRequest<'_>) -> Result<StoreDelivery, ParseError> {
    let (event, delivery_id) = parse(req.body)?;
    Ok(StoreDelivery { event, delivery_id })
}

use super::registry::{Parser, ProviderSpec, StoreDelivery};
use super::InboundRequest;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Body {
    Order {
        event_id: Option<String>,
        order: Box<Order>,
    },
    Fulfillment {
        event_id: Option<String>,
        fulfillment: Fulfillment,
    },
    Product {
        event_id: Option<String>,
        product: Product,
    },
    Refund {
        event_id: Option<String>,
        refund: Refund,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    id: Value,
    title: String,
    url: Option<String>,
    image_url: Option<String>,
    price: Option<Value>,
    currency: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default = "yes")]
    in_stock: bool,
    product_type: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    updated_at: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refund {
    id: Value,
    order_id: Value,
    /// Empty for the whole order.
    #[serde(default)]
    line_item_ids: Vec<Value>,
    #[serde(default)]
    product_ids: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    id: Value,
    name: Option<String>,
    currency: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    cancelled: bool,
    customer: Option<Customer>,
    shipping_address: Option<Address>,
    #[serde(default)]
    line_items: Vec<Line>,
    #[serde(default)]
    fulfillments: Vec<Fulfillment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    id: Option<Value>,
    first_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    accepts_email_marketing: Option<bool>,
    accepts_sms_marketing: Option<bool>,
    accepts_transactional_sms: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Address {
    country_code: Option<String>,
    province_code: Option<String>,
    city: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Value,
    product_id: Option<Value>,
    variant_id: Option<Value>,
    sku: Option<String>,
    title: String,
    price: Value,
    quantity: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fulfillment {
    id: Option<Value>,
    order_id: Option<Value>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_numbers: Vec<String>,
    #[serde(default)]
    line_items: Vec<FulfilledLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FulfilledLine {
    line_item_id: Value,
    quantity: u32,
}

fn fulfillment(f: Fulfillment, order_id: Option<&str>) -> Result<FulfillmentSnapshot, ParseError> {
    let mut tracking_numbers = Vec::new();
    for raw in f.tracking_numbers.iter().chain(f.tracking_number.iter()) {
        let tn = TrackingNumber::parse(raw).ok_or_else(|| ParseError::Invalid {
            field: "tracking_number",
            reason: format!("'{}' is not a tracking number", super::truncate(raw)),
        })?;
        if !tracking_numbers.contains(&tn) {
            tracking_numbers.push(tn);
        }
    }
    if tracking_numbers.is_empty() {
        return Err(ParseError::Missing("tracking_number"));
    }
    Ok(FulfillmentSnapshot {
        platform: Provider::GenericStore,
        order_external_id: f
            .order_id
            .as_ref()
            .and_then(id_string)
            .or_else(|| order_id.map(str::to_string))
            .ok_or(ParseError::Missing("fulfillment.order_id"))?,
        fulfillment_id: f.id.as_ref().and_then(id_string),
        carrier: f.carrier.as_deref().and_then(CarrierSlug::parse),
        tracking_numbers,
        items: f
            .line_items
            .iter()
            .map(|l| {
                Ok(ShippedItem {
                    line_item_id: id_string(&l.line_item_id)
                        .ok_or(ParseError::Missing("line_items.line_item_id"))?,
                    quantity: l.quantity,
                })
            })
            .collect::<Result<_, ParseError>>()?,
        status: None,
    })
}

/// Parses a body; also returns its `event_id`, which dedupes deliveries.
pub fn parse(body: &[u8]) -> Result<(StoreEvent, Option<String>), ParseError> {
    match parse_json::<Body>(body)? {
        Body::Fulfillment {
            event_id,
            fulfillment: f,
        } => Ok((StoreEvent::Fulfillment(fulfillment(f, None)?), event_id)),
        Body::Product { event_id, product } => Ok((
            StoreEvent::Product(Box::new(ProductSnapshot {
                platform: Provider::GenericStore,
                external_id: id_string(&product.id).ok_or(ParseError::Missing("product.id"))?,
                title: product.title,
                url: product.url,
                handle: None,
                image_url: product.image_url,
                price: product.price.as_ref().and_then(id_string),
                currency: product.currency,
                active: product.active,
                in_stock: product.in_stock,
                product_type: product.product_type.filter(|t| !t.trim().is_empty()),
                tags: super::tag_list(product.tags.iter().map(String::as_str)),
                updated_at: product
                    .updated_at
                    .as_deref()
                    .map(|t| parse_time("product.updated_at", t))
                    .transpose()?,
            })),
            event_id,
        )),
        Body::Refund { event_id, refund } => Ok((
            StoreEvent::Refund(RefundSnapshot {
                platform: Provider::GenericStore,
                order_external_id: id_string(&refund.order_id)
                    .ok_or(ParseError::Missing("refund.order_id"))?,
                refund_id: id_string(&refund.id).ok_or(ParseError::Missing("refund.id"))?,
                line_item_ids: refund.line_item_ids.iter().filter_map(id_string).collect(),
                product_ids: refund.product_ids.iter().filter_map(id_string).collect(),
            }),
            event_id,
        )),
        Body::Order { event_id, order } => {
            let order = *order;
            let external_id = id_string(&order.id).ok_or(ParseError::Missing("order.id"))?;
            let customer = order.customer.as_ref();
            let snapshot = CustomerSnapshot {
                external_id: customer.and_then(|c| c.id.as_ref()).and_then(id_string),
                first_name: customer.and_then(|c| c.first_name.clone()),
                email: customer.and_then(|c| c.email.clone()),
                phone: customer.and_then(|c| c.phone.clone()),
                locale: customer.and_then(|c| c.locale.clone()),
                timezone: customer.and_then(|c| c.timezone.clone()),
                country_code: order
                    .shipping_address
                    .as_ref()
                    .and_then(|a| a.country_code.clone()),
                province_code: order
                    .shipping_address
                    .as_ref()
                    .and_then(|a| a.province_code.clone()),
                accepts_email_marketing: customer.and_then(|c| c.accepts_email_marketing),
                accepts_sms_marketing: customer.and_then(|c| c.accepts_sms_marketing),
                accepts_transactional_sms: customer.and_then(|c| c.accepts_transactional_sms),
            };
            let line_items = order
                .line_items
                .iter()
                .map(|l| {
                    Ok(LineItem {
                        id: id_string(&l.id).ok_or(ParseError::Missing("line_items.id"))?,
                        product_id: l.product_id.as_ref().and_then(id_string),
                        variant_id: l.variant_id.as_ref().and_then(id_string),
                        sku: l.sku.clone(),
                        title: l.title.clone(),
                        price: id_string(&l.price)
                            .ok_or(ParseError::Missing("line_items.price"))?,
                        quantity: l.quantity,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()?;
            let fulfillments = order
                .fulfillments
                .into_iter()
                .map(|f| fulfillment(f, Some(&external_id)))
                .collect::<Result<Vec<_>, _>>()?;
            let snapshot = OrderSnapshot {
                platform: Provider::GenericStore,
                name: order.name.unwrap_or_else(|| format!("#{external_id}")),
                external_id,
                currency: order.currency,
                customer: snapshot,
                line_items,
                cancelled: order.cancelled,
                created_at: order
                    .created_at
                    .as_deref()
                    .map(|t| parse_time("order.created_at", t))
                    .transpose()?,
                updated_at: order
                    .updated_at
                    .as_deref()
                    .map(|t| parse_time("order.updated_at", t))
                    .transpose()?,
                fulfillments,
                ship_to_city: order.shipping_address.as_ref().and_then(|a| a.city.clone()),
                refunded: false,
            };
            Ok((StoreEvent::Order(Box::new(snapshot)), event_id))
        }
    }
}
