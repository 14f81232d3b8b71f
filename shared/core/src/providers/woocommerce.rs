//! WooCommerce `order.created` / `order.updated` and `product.created` / `product.updated`.
//! Auth: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)); topic from
//! `X-WC-Webhook-Topic`; deliveries deduped on `X-WC-Webhook-Delivery-ID`. Tracking numbers come from
//! the Shipment Tracking extension's `_wc_shipment_tracking_items` order meta.

use super::registry::{Credentials, Parser, ProviderSpec, StoreDelivery};
use super::{id_string, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::{CarrierSlug, TrackingNumber};
use crate::model::{LineItem, Provider};
use crate::signature::{hmac_base64, verify_hmac_base64, AuthError};
use crate::store_events::{
    CustomerSnapshot, FulfillmentSnapshot, OrderSnapshot, ProductSnapshot, StoreEvent,
};
use serde::Deserialize;
use serde_json::Value;

pub const SIGNATURE_HEADER: &str = "x-wc-webhook-signature";
pub const TOPIC_HEADER: &str = "x-wc-webhook-topic";
pub const DELIVERY_ID_HEADER: &str = "x-wc-webhook-delivery-id";
pub const TRACKING_META_KEY: &str = "_wc_shipment_tracking_items";

/// Order statuses after which nothing ships.
pub const CANCELLED_STATUSES: &[&str] = &["cancelled", "refunded", "failed", "trash"];

/// This provider's line in the registry.
pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "woocommerce",
    secret: "WOOCOMMERCE",
    verify,
    parser: Parser::Store(delivery),
};

fn delivery(req: &InboundRequest<'_>) -> Result<StoreDelivery, ParseError> {
    StoreDelivery::from_headers(req, TOPIC_HEADER, DELIVERY_ID_HEADER, parse)
}

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let secret = key.secret;
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("X-WC-Webhook-Signature"))?;
    verify_hmac_base64(secret, req.body, given)
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    hmac_base64(secret, body)
}

#[derive(Deserialize)]
struct Order {
    id: Value,
    number: Option<Value>,
    status: Option<String>,
    currency: Option<String>,
    customer_id: Option<Value>,
    date_created_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    billing: Option<Address>,
    shipping: Option<Address>,
    #[serde(default)]
    line_items: Vec<WooLineItem>,
    #[serde(default)]
    meta_data: Vec<Meta>,
}

#[derive(Deserialize)]
struct Address {
    first_name: Option<String>,
    city: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    country: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
struct WooLineItem {
    id: Value,
    name: Option<String>,
    product_id: Option<Value>,
    variation_id: Option<Value>,
    sku: Option<String>,
    price: Option<Value>,
    quantity: Option<u32>,
}

#[derive(Deserialize)]
struct Meta {
    key: Option<String>,
    value: Value,
}

#[derive(Deserialize)]
struct TrackingItem {
    tracking_provider: Option<String>,
    custom_tracking_provider: Option<String>,
    tracking_number: Option<String>,
    tracking_id: Option<Value>,
}

fn non_zero(value: &Option<Value>) -> Option<String> {
    value.as_ref().and_then(id_string).filter(|v| v != "0")
}

fn blank_to_none(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// What the order's meta data carries: the Shipment Tracking extension's parcels, a locale.
struct OrderMeta {
    tracking_items: Vec<TrackingItem>,
    locale: Option<String>,
}

fn order_meta(meta_data: &[Meta]) -> Result<OrderMeta, ParseError> {
    let mut found = OrderMeta {
        tracking_items: Vec::new(),
        locale: None,
    };
    for meta in meta_data {
        match meta.key.as_deref() {
            Some(TRACKING_META_KEY) => {
                found.tracking_items = serde_json::from_value(meta.value.clone()).map_err(|e| {
                    ParseError::Invalid {
                        field: "meta_data._wc_shipment_tracking_items",
                        reason: e.to_string(),
                    }
                })?;
            }
            Some("wpml_language" | "_wpml_language" | "locale") => {
                found.locale = meta.value.as_str().map(str::to_string)
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The customer, from the shipping address where it says, else the billing one.
fn customer(order: &Order, locale: Option<String>) -> CustomerSnapshot {
    let billing = order.billing.as_ref();
    let shipping = order.shipping.as_ref();
    let either = |field: fn(&Address) -> &Option<String>| {
        shipping
            .and_then(|a| blank_to_none(field(a)))
            .or_else(|| billing.and_then(|a| blank_to_none(field(a))))
    };
    // The province goes with the country it came with.
    let ships_abroad = shipping.and_then(|a| blank_to_none(&a.country)).is_some();
    let province = match ships_abroad {
        true => shipping.and_then(|a| blank_to_none(&a.state)),
        false => billing.and_then(|a| blank_to_none(&a.state)),
    };
    CustomerSnapshot {
        external_id: non_zero(&order.customer_id),
        first_name: either(|a| &a.first_name),
        email: billing.and_then(|a| blank_to_none(&a.email)),
        phone: either(|a| &a.phone),
        locale,
        timezone: None,
        country_code: either(|a| &a.country),
        province_code: province,
        accepts_email_marketing: None,
        accepts_sms_marketing: None,
        accepts_transactional_sms: None,
    }
}

fn line_item(line: &WooLineItem) -> Result<LineItem, ParseError> {
    Ok(LineItem {
        id: id_string(&line.id).ok_or(ParseError::Missing("line_items.id"))?,
        product_id: non_zero(&line.product_id),
        variant_id: non_zero(&line.variation_id),
        sku: blank_to_none(&line.sku),
        // WooCommerce sends product names HTML-encoded ("Hoodie &ndash; Blue"); messages and
        // pages want the text itself (they escape it again where HTML needs it).
        title: line
            .name
            .as_deref()
            .map(|name| html_escape::decode_html_entities(name).into_owned())
            .unwrap_or_default(),
        price: line
            .price
            .as_ref()
            .and_then(id_string)
            .unwrap_or_else(|| "0".into()),
        quantity: line.quantity.unwrap_or(1),
    })
}

fn parcel(item: TrackingItem, order_external_id: &str) -> Result<FulfillmentSnapshot, ParseError> {
    let Some(tracking_number) = item
        .tracking_number
        .as_deref()
        .and_then(TrackingNumber::parse)
    else {
        return Err(ParseError::Invalid {
            field: "meta_data._wc_shipment_tracking_items.tracking_number",
            reason: "missing or not a tracking number".into(),
        });
    };
    let carrier = item
        .tracking_provider
        .as_deref()
        .and_then(CarrierSlug::parse)
        .or_else(|| {
            item.custom_tracking_provider
                .as_deref()
                .and_then(CarrierSlug::parse)
        });
    Ok(FulfillmentSnapshot {
        platform: Provider::WooCommerce,
        order_external_id: order_external_id.to_string(),
        fulfillment_id: item.tracking_id.as_ref().and_then(id_string),
        carrier,
        tracking_numbers: vec![tracking_number],
        items: Vec::new(),
        status: None,
    })
}

pub fn parse(topic: Option<&str>, body: &[u8]) -> Result<StoreEvent, ParseError> {
    // WooCommerce pings a new webhook with a form body `webhook_id=<id>` and no topic.
    if topic.is_none() && body.starts_with(b"webhook_id=") {
        return Ok(StoreEvent::Ping);
    }
    match topic.ok_or(ParseError::Missing("X-WC-Webhook-Topic header"))? {
        "order.created" | "order.updated" => order(parse_json(body)?),
        "product.created" | "product.updated" => {
            Ok(StoreEvent::Product(Box::new(product(parse_json(body)?)?)))
        }
        other => Err(ParseError::Unsupported(super::truncate(other))),
    }
}

#[derive(Deserialize)]
struct WooProduct {
    id: Value,
    name: Option<String>,
    permalink: Option<String>,
    /// `publish`, `draft`, `pending`, `private`.
    status: Option<String>,
    price: Option<Value>,
    /// `instock`, `outofstock`, `onbackorder`.
    stock_status: Option<String>,
    date_modified_gmt: Option<String>,
    #[serde(default)]
    images: Vec<WooImage>,
    #[serde(default)]
    categories: Vec<WooTerm>,
    #[serde(default)]
    tags: Vec<WooTerm>,
}

#[derive(Deserialize)]
struct WooTerm {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WooImage {
    src: Option<String>,
}

fn product(product: WooProduct) -> Result<ProductSnapshot, ParseError> {
    Ok(ProductSnapshot {
        platform: Provider::WooCommerce,
        external_id: id_string(&product.id).ok_or(ParseError::Missing("id"))?,
        title: product
            .name
            .as_deref()
            .map(|name| html_escape::decode_html_entities(name).into_owned())
            .unwrap_or_default(),
        url: blank_to_none(&product.permalink),
        handle: None,
        image_url: product.images.first().and_then(|i| blank_to_none(&i.src)),
        price: product.price.as_ref().and_then(id_string),
        currency: None,
        product_type: product
            .categories
            .iter()
            .find_map(|c| c.name.clone())
            .filter(|n| !n.trim().is_empty()),
        tags: super::tag_list(product.tags.iter().filter_map(|t| t.name.as_deref())),
        active: product.status.as_deref() == Some("publish"),
        in_stock: product.stock_status.as_deref() != Some("outofstock"),
        updated_at: product
            .date_modified_gmt
            .as_deref()
            .map(|t| parse_time("date_modified_gmt", t))
            .transpose()?,
    })
}

fn order(order: Order) -> Result<StoreEvent, ParseError> {
    let external_id = id_string(&order.id).ok_or(ParseError::Missing("id"))?;
    let meta = order_meta(&order.meta_data)?;
    let line_items = order
        .line_items
        .iter()
        .map(line_item)
        .collect::<Result<_, _>>()?;
    let fulfillments = meta
        .tracking_items
        .into_iter()
        .map(|item| parcel(item, &external_id))
        .collect::<Result<_, _>>()?;
    let time =
        |field, raw: &Option<String>| raw.as_deref().map(|t| parse_time(field, t)).transpose();
    Ok(StoreEvent::Order(Box::new(OrderSnapshot {
        platform: Provider::WooCommerce,
        name: format!(
            "#{}",
            order
                .number
                .as_ref()
                .and_then(id_string)
                .unwrap_or_else(|| external_id.clone())
        ),
        customer: customer(&order, meta.locale),
        external_id,
        currency: order.currency,
        line_items,
        cancelled: order
            .status
            .as_deref()
            .is_some_and(|s| CANCELLED_STATUSES.contains(&s)),
        created_at: time("date_created_gmt", &order.date_created_gmt)?,
        updated_at: time("date_modified_gmt", &order.date_modified_gmt)?,
        fulfillments,
        ship_to_city: order
            .shipping
            .as_ref()
            .and_then(|a| blank_to_none(&a.city))
            .or_else(|| order.billing.as_ref().and_then(|a| blank_to_none(&a.city))),
        refunded: order.status.as_deref() == Some("refunded"),
    })))
}
