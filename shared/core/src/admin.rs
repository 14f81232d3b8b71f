//! The admin API (bearer `DOORSTEP_ADMIN_TOKEN`; on AWS the `admin-token` SSM parameter): read
//! what Doorstep knows, transport-free. The local runner and the admin-api Lambda both answer
//! through [`handle`].

use crate::ids::{CarrierSlug, TrackingNumber};
use crate::ports::{Store, StoreError};
use crate::secrets::Secret;
use crate::signature::constant_time_eq;
use serde_json::{json, Value};

pub const SHIPMENT_ROUTE: &str = "GET /api/shipments/{carrier}/{tracking_number}";
pub const CLICKS_ROUTE: &str = "GET /api/clicks";

/// Every route the admin API serves, as `"{METHOD} {path pattern}"`.
pub const ROUTES: &[&str] = &[SHIPMENT_ROUTE, CLICKS_ROUTE];

/// A request as the admin API reads it.
#[derive(Debug, Clone, Copy)]
pub struct AdminRequest<'a> {
    pub route_key: &'a str,
    pub path_params: &'a std::collections::HashMap<String, String>,
    pub query: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
}

/// A status and a JSON body.
pub type AdminResponse = (u16, Value);

/// Whether `Authorization: Bearer <token>` carries the admin token (the scheme's name is
/// case-insensitive, RFC 9110 §11.1).
pub fn authorized(authorization: Option<&str>, token: &Secret) -> bool {
    authorization
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, presented)| {
            constant_time_eq(presented.trim().as_bytes(), token.expose().as_bytes())
        })
}

fn failed(e: StoreError) -> AdminResponse {
    tracing::error!(error = %e, "admin API: storage failed");
    (503, json!({"error": "storage unavailable, retry"}))
}

fn query_number(query: Option<&str>, name: &str, default: usize, max: usize) -> usize {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .map_or(default, |n| n.clamp(1, max))
}

pub async fn handle(store: &dyn Store, token: &Secret, request: AdminRequest<'_>) -> AdminResponse {
    if !authorized(request.authorization, token) {
        return (401, json!({"error": "missing or wrong bearer token"}));
    }
    match request.route_key {
        SHIPMENT_ROUTE => {
            let param = |name: &str| request.path_params.get(name).map(String::as_str);
            let (Some(carrier), Some(tracking)) = (
                param("carrier").and_then(CarrierSlug::parse),
                param("tracking_number").and_then(TrackingNumber::parse),
            ) else {
                return (404, json!({"error": "no such shipment"}));
            };
            match store.get_shipment(&carrier, &tracking).await {
                Ok(Some(shipment)) => (200, crate::api::shipment_json(&shipment)),
                Ok(None) => (404, json!({"error": "no such shipment"})),
                Err(e) => failed(e),
            }
        }
        CLICKS_ROUTE => {
            let limit = query_number(request.query, "limit", 100, 1_000);
            match store.clicks(limit).await {
                Ok(clicks) => (
                    200,
                    json!({
                        "clicks": clicks
                            .iter()
                            .map(|(product, clicks)| json!({"product_id": product, "clicks": clicks}))
                            .collect::<Vec<_>>()
                    }),
                ),
                Err(e) => failed(e),
            }
        }
        other => (
            404,
            json!({"error": format!("no route {}", crate::bounds::Untrusted(other))}),
        ),
    }
}
