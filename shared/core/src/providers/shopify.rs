//! Shopify `orders/create|updated|cancelled`, `fulfillments/create|update`,
//! `products/create|update` and `refunds/create`.
//! Auth: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app secret, raw body)); topic from
//! `X-Shopify-Topic`; deliveries deduped on `X-Shopify-Webhook-Id`.

use super::registry::{Credentials, Parser, ProviderSpec, StoreDelivery};
use super::{id_string, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::{CarrierSlug, TrackingNumber};
use crate::model::{LineItem, Provider, ShippedItem};
use crate::signature::{hmac_base64, verify_hmac_base64, AuthError};
use crate::status::{lookup, ExceptionReason, ShipmentStatus, StatusRow};
use crate::store_events::{
    CustomerSnapshot, FulfillmentSnapshot, OrderSnapshot, ProductSnapshot, RefundSnapshot,
    StoreEvent, StoreReportedStatus,
};
use serde::Deserialize;
use serde_json::Value;

pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
pub const TOPIC_HEADER: &str = "x-shopify-topic";
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";

/// Fulfilment `shipment_status` values.
pub const SHIPMENT_STATUSES: &[StatusRow] = &[
    ("label_printed", ShipmentStatus::InfoReceived, None),
    ("label_purchased", ShipmentStatus::InfoReceived, None),
    ("confirmed", ShipmentStatus::InfoReceived, None),
    ("carrier_picked_up", ShipmentStatus::InTransit, None),
    ("in_transit", ShipmentStatus::InTransit, None),
    ("out_for_delivery", ShipmentStatus::OutForDelivery, None),
    ("attempted_delivery", ShipmentStatus::FailedAttempt, None),
    ("ready_for_pickup", ShipmentStatus::AvailableForPickup, None),
    ("picked_up", ShipmentStatus::Delivered, None),
    ("delivered", ShipmentStatus::Delivered, None),
    (
        "delayed",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Delay),
    ),
    (
        "failure",
        ShipmentStatus::Exception,
        Some(ExceptionReason::Other),
    ),
];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "shopify",
    secret: "SHOPIFY",
    verify,
    parser: Parser::Store(delivery),
};

fn delivery(req: &InboundRequest<'_>) -> Result<StoreDelivery, ParseError> {
    StoreDelivery::from_headers(req, TOPIC_HEADER, WEBHOOK_ID_HEADER, parse)
}

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let secret = key.secret;
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("X-Shopify-Hmac-Sha256"))?;
    verify_hmac_base64(secret, req.body, given)
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    hmac_base64(secret, body)
}

#[derive(Deserialize)]
struct Order {
    id: Value,
    name: Option<String>,
    order_number: Option<Value>,
    email: Option<String>,
    contact_email: Option<String>,
    phone: Option<String>,
    currency: Option<String>,
    customer_locale: Option<String>,
    buyer_accepts_marketing: Option<bool>,
    cancelled_at: Option<String>,
    financial_status: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    customer: Option<ShopifyCustomer>,
    shipping_address: Option<Address>,
    billing_address: Option<Address>,
    #[serde(default)]
    line_items: Vec<ShopifyLineItem>,
    #[serde(default)]
    fulfillments: Vec<Fulfillment>,
}

#[derive(Deserialize)]
struct ShopifyCustomer {
    id: Option<Value>,
    first_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    email_marketing_consent: Option<Consent>,
    sms_marketing_consent: Option<Consent>,
}

#[derive(Deserialize)]
struct Consent {
    state: Option<String>,
}

#[derive(Deserialize)]
struct Address {
    first_name: Option<String>,
    city: Option<String>,
    phone: Option<String>,
    country_code: Option<String>,
    province_code: Option<String>,
}

#[derive(Deserialize)]
struct ShopifyLineItem {
    id: Value,
    product_id: Option<Value>,
    variant_id: Option<Value>,
    sku: Option<String>,
    title: Option<String>,
    name: Option<String>,
    variant_title: Option<String>,
    price: Option<Value>,
    quantity: Option<u32>,
}

#[derive(Deserialize)]
struct Fulfillment {
    id: Option<Value>,
    order_id: Option<Value>,
    status: Option<String>,
    tracking_company: Option<String>,
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_numbers: Vec<String>,
    shipment_status: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    line_items: Vec<FulfilledLine>,
}

#[derive(Deserialize)]
struct FulfilledLine {
    id: Value,
    quantity: Option<u32>,
}

fn subscribed(consent: &Option<Consent>) -> Option<bool> {
    consent
        .as_ref()
        .and_then(|c| c.state.as_deref())
        .map(|s| s == "subscribed")
}

fn fulfillment(
    f: Fulfillment,
    order_external_id: Option<&str>,
) -> Result<FulfillmentSnapshot, ParseError> {
    let order_external_id = f
        .order_id
        .as_ref()
        .and_then(id_string)
        .or_else(|| order_external_id.map(str::to_string))
        .ok_or(ParseError::Missing("order_id"))?;
    let mut tracking_numbers: Vec<TrackingNumber> = Vec::new();
    for raw in f.tracking_numbers.iter().chain(f.tracking_number.iter()) {
        if let Some(tn) = TrackingNumber::parse(raw) {
            if !tracking_numbers.contains(&tn) {
                tracking_numbers.push(tn);
            }
        }
    }
    let status = match (f.shipment_status.as_deref(), f.updated_at.as_deref()) {
        (Some(raw), Some(at)) => {
            let (status, reason) = lookup(SHIPMENT_STATUSES, raw)
                .ok_or_else(|| ParseError::UnknownStatus(super::truncate(raw)))?;
            Some(StoreReportedStatus {
                status,
                reason,
                raw_code: raw.to_string(),
                at: parse_time("updated_at", at)?,
            })
        }
        _ => None,
    };
    // A cancelled fulfilment no longer says anything about a parcel's progress.
    let status = status.filter(|_| f.status.as_deref() != Some("cancelled"));
    Ok(FulfillmentSnapshot {
        platform: Provider::Shopify,
        order_external_id,
        fulfillment_id: f.id.as_ref().and_then(id_string),
        carrier: f.tracking_company.as_deref().and_then(CarrierSlug::parse),
        tracking_numbers,
        items: f
            .line_items
            .iter()
            .filter_map(|l| {
                Some(ShippedItem {
                    line_item_id: id_string(&l.id)?,
                    quantity: l.quantity.unwrap_or(1),
                })
            })
            .collect(),
        status,
    })
}

/// The customer: the profile where it says, else the order's own contact fields, else the address.
fn customer(order: &Order) -> CustomerSnapshot {
    let customer = order.customer.as_ref();
    let address = order
        .shipping_address
        .as_ref()
        .or(order.billing_address.as_ref());
    CustomerSnapshot {
        external_id: customer.and_then(|c| c.id.as_ref()).and_then(id_string),
        first_name: customer
            .and_then(|c| c.first_name.clone())
            .or_else(|| address.and_then(|a| a.first_name.clone())),
        email: order
            .email
            .clone()
            .or(order.contact_email.clone())
            .or_else(|| customer.and_then(|c| c.email.clone())),
        phone: order
            .phone
            .clone()
            .or_else(|| customer.and_then(|c| c.phone.clone()))
            .or_else(|| address.and_then(|a| a.phone.clone())),
        locale: order.customer_locale.clone(),
        timezone: None,
        country_code: address.and_then(|a| a.country_code.clone()),
        province_code: address.and_then(|a| a.province_code.clone()),
        accepts_email_marketing: customer
            .and_then(|c| subscribed(&c.email_marketing_consent))
            .or(order.buyer_accepts_marketing),
        accepts_sms_marketing: customer.and_then(|c| subscribed(&c.sms_marketing_consent)),
        accepts_transactional_sms: None,
    }
}

fn line_item(line: &ShopifyLineItem) -> Result<LineItem, ParseError> {
    let mut title = line.title.clone().or(line.name.clone()).unwrap_or_default();
    if let Some(variant) = line.variant_title.as_deref() {
        if !variant.is_empty() && !title.contains(variant) {
            title = format!("{title} - {variant}");
        }
    }
    Ok(LineItem {
        id: id_string(&line.id).ok_or(ParseError::Missing("line_items.id"))?,
        product_id: line.product_id.as_ref().and_then(id_string),
        variant_id: line.variant_id.as_ref().and_then(id_string),
        sku: line.sku.clone().filter(|s| !s.is_empty()),
        title,
        price: line
            .price
            .as_ref()
            .and_then(id_string)
            .unwrap_or_else(|| "0".into()),
        quantity: line.quantity.unwrap_or(1),
    })
}

fn order(order: Order, cancelled_topic: bool) -> Result<OrderSnapshot, ParseError> {
    let external_id = id_string(&order.id).ok_or(ParseError::Missing("id"))?;
    let customer = customer(&order);
    let line_items = order
        .line_items
        .iter()
        .map(line_item)
        .collect::<Result<_, _>>()?;
    let name = order
        .name
        .clone()
        .or_else(|| {
            order
                .order_number
                .as_ref()
                .and_then(id_string)
                .map(|n| format!("#{n}"))
        })
        .unwrap_or_else(|| external_id.clone());
    let time =
        |field, raw: &Option<String>| raw.as_deref().map(|t| parse_time(field, t)).transpose();
    let created_at = time("created_at", &order.created_at)?;
    let updated_at = time("updated_at", &order.updated_at)?;
    let cancelled = cancelled_topic || order.cancelled_at.is_some();
    let ship_to_city = order
        .shipping_address
        .as_ref()
        .and_then(|a| a.city.clone())
        .filter(|c| !c.trim().is_empty());
    let refunded = order.financial_status.as_deref() == Some("refunded");
    let fulfillments = order
        .fulfillments
        .into_iter()
        .map(|f| fulfillment(f, Some(&external_id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderSnapshot {
        platform: Provider::Shopify,
        name,
        external_id,
        currency: order.currency,
        customer,
        line_items,
        cancelled,
        created_at,
        updated_at,
        fulfillments,
        ship_to_city,
        refunded,
    })
}

#[derive(Deserialize)]
struct ShopifyProduct {
    id: Value,
    title: Option<String>,
    handle: Option<String>,
    product_type: Option<String>,
    /// Comma-separated.
    tags: Option<String>,
    /// `active`, `draft` or `archived`; older API versions send none (then `published_at` says).
    status: Option<String>,
    published_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    variants: Vec<Variant>,
    image: Option<Image>,
    #[serde(default)]
    images: Vec<Image>,
}

#[derive(Deserialize)]
struct Variant {
    price: Option<Value>,
    inventory_quantity: Option<i64>,
    inventory_management: Option<String>,
    inventory_policy: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    src: Option<String>,
}

impl Variant {
    /// Sellable now: stock on hand, stock not tracked, or sold when out of stock.
    fn available(&self) -> bool {
        self.inventory_quantity.is_some_and(|q| q > 0)
            || self.inventory_management.is_none()
            || self.inventory_policy.as_deref() == Some("continue")
    }
}

fn product(product: ShopifyProduct) -> Result<ProductSnapshot, ParseError> {
    let external_id = id_string(&product.id).ok_or(ParseError::Missing("id"))?;
    let active = match product.status.as_deref() {
        Some(status) => status == "active",
        None => product.published_at.is_some(),
    };
    let price = product
        .variants
        .iter()
        .filter_map(|v| v.price.as_ref().and_then(id_string))
        .min_by(|a, b| {
            let value = |p: &str| p.parse::<f64>().unwrap_or(f64::MAX);
            value(a).total_cmp(&value(b))
        });
    let image_url = product
        .image
        .as_ref()
        .or(product.images.first())
        .and_then(|i| i.src.clone());
    Ok(ProductSnapshot {
        platform: Provider::Shopify,
        external_id,
        title: product.title.unwrap_or_default(),
        url: None,
        handle: product.handle.filter(|h| !h.trim().is_empty()),
        image_url,
        price,
        currency: None,
        active,
        in_stock: product.variants.iter().any(Variant::available),
        product_type: product.product_type.filter(|t| !t.trim().is_empty()),
        tags: super::tag_list(product.tags.as_deref().unwrap_or_default().split(',')),
        updated_at: product
            .updated_at
            .as_deref()
            .map(|t| parse_time("updated_at", t))
            .transpose()?,
    })
}

#[derive(Deserialize)]
struct Refund {
    id: Value,
    order_id: Value,
    #[serde(default)]
    refund_line_items: Vec<RefundLine>,
}

#[derive(Deserialize)]
struct RefundLine {
    line_item_id: Option<Value>,
    line_item: Option<RefundedItem>,
}

#[derive(Deserialize)]
struct RefundedItem {
    product_id: Option<Value>,
}

fn refund(refund: Refund) -> Result<RefundSnapshot, ParseError> {
    let lines = &refund.refund_line_items;
    Ok(RefundSnapshot {
        platform: Provider::Shopify,
        order_external_id: id_string(&refund.order_id).ok_or(ParseError::Missing("order_id"))?,
        refund_id: id_string(&refund.id).ok_or(ParseError::Missing("id"))?,
        line_item_ids: lines
            .iter()
            .filter_map(|l| l.line_item_id.as_ref().and_then(id_string))
            .collect(),
        product_ids: lines
            .iter()
            .filter_map(|l| {
                l.line_item
                    .as_ref()?
                    .product_id
                    .as_ref()
                    .and_then(id_string)
            })
            .collect(),
    })
}

pub fn parse(topic: Option<&str>, body: &[u8]) -> Result<StoreEvent, ParseError> {
    match topic.ok_or(ParseError::Missing("X-Shopify-Topic header"))? {
        "orders/create" | "orders/updated" => Ok(StoreEvent::Order(Box::new(order(
            parse_json(body)?,
            false,
        )?))),
        "orders/cancelled" => Ok(StoreEvent::Order(Box::new(order(parse_json(body)?, true)?))),
        "fulfillments/create" | "fulfillments/update" => Ok(StoreEvent::Fulfillment(fulfillment(
            parse_json(body)?,
            None,
        )?)),
        "products/create" | "products/update" => {
            Ok(StoreEvent::Product(Box::new(product(parse_json(body)?)?)))
        }
        "refunds/create" => Ok(StoreEvent::Refund(refund(parse_json(body)?)?)),
        other => Err(ParseError::Unsupported(super::truncate(other))),
    }
}
