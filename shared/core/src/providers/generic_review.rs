//! Doorstep's review format, for review apps with no scheme Doorstep knows:
//! `POST /webhooks/reviews/generic`, signed like the generic carrier format
//! (`Doorstep-Signature`). Products, orders and customers are the generic store's
//! (`generic-store:{id}`). Documented in docs/subscriptions-and-reviews.md.

use super::registry::{Parser, ProviderSpec};
use super::{id_string, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::{CustomerId, OrderId, ProductId};
use crate::model::Provider;
use crate::reviews::{ReviewDelivery, ReviewSnapshot, Reviewer};
use serde::Deserialize;
use serde_json::Value;

pub use super::generic::verify;

pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "generic",
    secret: "GENERIC",
    verify,
    parser: Parser::Review(parse),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    event_id: Option<String>,
    review: Option<Review>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    id: Option<Value>,
    rating: Option<Value>,
    product_id: Option<Value>,
    order_id: Option<Value>,
    title: Option<String>,
    body: Option<String>,
    created_at: Option<String>,
    customer: Option<Customer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    id: Option<Value>,
    email: Option<String>,
    #[allow(dead_code, reason = "accepted; the store's records own contacts")]
    phone: Option<String>,
    #[allow(dead_code, reason = "accepted; the store's records own the locale")]
    locale: Option<String>,
}

pub fn parse(req: &InboundRequest<'_>) -> Result<ReviewDelivery, ParseError> {
    let body: Body = parse_json(req.body)?;
    let event_id = body
        .event_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or(ParseError::Missing("event_id"))?;
    let review = body.review.ok_or(ParseError::Missing("review"))?;
    let customer = review
        .customer
        .ok_or(ParseError::Missing("review.customer"))?;
    let customer_id = customer.id.as_ref().and_then(id_string);
    let email = customer.email.filter(|e| !e.trim().is_empty());
    if customer_id.is_none() && email.is_none() {
        return Err(ParseError::Missing(
            "review.customer.id or review.customer.email",
        ));
    }
    let snapshot = ReviewSnapshot {
        platform: Provider::GenericReview,
        external_id: review
            .id
            .as_ref()
            .and_then(id_string)
            .ok_or(ParseError::Missing("review.id"))?,
        rating: crate::reviews::rating(review.rating.as_ref(), "review.rating")?,
        product_id: Some(ProductId::new(
            Provider::GenericStore,
            &review
                .product_id
                .as_ref()
                .and_then(id_string)
                .ok_or(ParseError::Missing("review.product_id"))?,
        )),
        order_id: review
            .order_id
            .as_ref()
            .and_then(id_string)
            .map(|id| OrderId::new(Provider::GenericStore, &id)),
        reviewer: Reviewer {
            customer_id: customer_id
                .map(|id| CustomerId::of_store_customer(Provider::GenericStore, &id)),
            email,
        },
        title: crate::reviews::text(
            review.title,
            crate::reviews::MAX_TITLE_CHARS,
            "review.title",
        )?,
        body: crate::reviews::text(review.body, crate::reviews::MAX_BODY_CHARS, "review.body")?,
        created_at: parse_time(
            "review.created_at",
            review
                .created_at
                .as_deref()
                .ok_or(ParseError::Missing("review.created_at"))?,
        )?,
    };
    Ok(ReviewDelivery {
        review: snapshot,
        delivery_id: Some(event_id),
    })
}
