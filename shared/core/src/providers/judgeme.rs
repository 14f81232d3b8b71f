//! Judge.me reviews: `POST /webhooks/reviews/judgeme` (`review/created`, `review/updated`).
//!
//! Auth: `JUDGEME-HMAC-SHA256` is the hex HMAC-SHA256 of the raw body, keyed with the shop's
//! Judge.me private API token (or the app's secret). Judge.me reviews a Shopify store's
//! products: `product_external_id` is the Shopify product and `reviewer.external_id` the
//! Shopify customer, so a review joins the store's records without further mapping.

use super::registry::{Credentials, Parser, ProviderSpec};
use super::{id_string, parse_json, parse_time, InboundRequest, ParseError};
use crate::ids::{CustomerId, ProductId};
use crate::model::Provider;
use crate::reviews::{ReviewDelivery, ReviewSnapshot, Reviewer};
use crate::signature::{hmac_sha256, verify_hex, AuthError};
use serde::Deserialize;
use serde_json::Value;

pub const SIGNATURE_HEADER: &str = "judgeme-hmac-sha256";

pub const SPEC: ProviderSpec = ProviderSpec {
    slug: "judgeme",
    secret: "JUDGEME",
    verify,
    parser: Parser::Review(parse),
};

pub fn verify(req: &InboundRequest<'_>, key: &Credentials<'_>) -> Result<(), AuthError> {
    let given = req
        .header(SIGNATURE_HEADER)
        .ok_or(AuthError::Missing("JUDGEME-HMAC-SHA256"))?;
    verify_hex(&hmac_sha256(key.secret.as_bytes(), &[req.body]), given)
}

/// The signature Judge.me would send (tests and the local demo).
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
}

#[derive(Deserialize)]
struct Body {
    review: Option<JudgeMeReview>,
}

#[derive(Deserialize)]
struct JudgeMeReview {
    id: Option<Value>,
    title: Option<String>,
    body: Option<String>,
    rating: Option<Value>,
    product_external_id: Option<Value>,
    reviewer: Option<JudgeMeReviewer>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct JudgeMeReviewer {
    external_id: Option<Value>,
    email: Option<String>,
}

pub fn parse(req: &InboundRequest<'_>) -> Result<ReviewDelivery, ParseError> {
    let body: Body = parse_json(req.body)?;
    let review = body.review.ok_or(ParseError::Missing("review"))?;
    let reviewer = review
        .reviewer
        .ok_or(ParseError::Missing("review.reviewer"))?;
    let snapshot = ReviewSnapshot {
        platform: Provider::JudgeMe,
        external_id: review
            .id
            .as_ref()
            .and_then(id_string)
            .ok_or(ParseError::Missing("review.id"))?,
        rating: crate::reviews::rating(review.rating.as_ref(), "review.rating")?,
        product_id: review
            .product_external_id
            .as_ref()
            .and_then(id_string)
            .map(|id| ProductId::new(Provider::Shopify, &id)),
        order_id: None,
        reviewer: Reviewer {
            customer_id: reviewer
                .external_id
                .as_ref()
                .and_then(id_string)
                .map(|id| CustomerId::of_store_customer(Provider::Shopify, &id)),
            email: reviewer.email.filter(|e| !e.trim().is_empty()),
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
        delivery_id: None,
    })
}
