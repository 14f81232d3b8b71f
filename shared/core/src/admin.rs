//! The admin API (bearer `DOORSTEP_ADMIN_TOKEN`; on AWS the `admin-token` SSM parameter): read
//! what Doorstep knows, transport-free. The local runner and the admin-api Lambda both answer
//! through [`handle`].

use crate::ids::{CarrierSlug, CustomerId, TrackingNumber};
use crate::jobs::{self, Job};
use crate::loyalty::Account;
use crate::model::Customer;
use crate::notify::service::{Notifier, NotifierSource};
use crate::ports::{Store, StoreError};
use crate::secrets::Secret;
use crate::settings::Settings;
use crate::signature::constant_time_eq;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub const SHIPMENT_ROUTE: &str = "GET /api/shipments/{carrier}/{tracking_number}";
pub const CLICKS_ROUTE: &str = "GET /api/clicks";
pub const CUSTOMER_ROUTE: &str = "GET /api/customers/{customer_id}";
pub const LOYALTY_ROUTE: &str = "GET /api/customers/{customer_id}/loyalty";
pub const LOYALTY_BY_EMAIL_ROUTE: &str = "GET /api/loyalty";
pub const JOB_RUN_ROUTE: &str = "POST /api/jobs/{job}/run";
pub const JOB_PREVIEW_ROUTE: &str = "GET /api/jobs/{job}/preview";

/// Every route the admin API serves, as `"{METHOD} {path pattern}"`.
pub const ROUTES: &[&str] = &[
    SHIPMENT_ROUTE,
    CLICKS_ROUTE,
    CUSTOMER_ROUTE,
    LOYALTY_ROUTE,
    LOYALTY_BY_EMAIL_ROUTE,
    JOB_RUN_ROUTE,
    JOB_PREVIEW_ROUTE,
];

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

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A customer's points as the admin API shows them.
pub fn loyalty_json(
    customer: &Customer,
    account: &Account,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Value {
    let zone = crate::notify::policy::zone(customer, settings);
    let next = account.next_expiry(now).map(|(points, at)| {
        json!({
            "points": points,
            "date": crate::timezone::local_date(at, zone).unwrap_or_else(|| at.date_naive()),
            "at": at.to_rfc3339(),
        })
    });
    json!({
        "customer_id": customer.id,
        "balance": account.balance(now),
        "pending": account.pending(),
        "tier": account.tier.clone().or(customer.tier.clone()),
        "earned_last_12_months": account.earned_in_window(now),
        "next_expiry": next,
        "lots": account.lots.iter().map(|l| json!({
            "id": l.id,
            "source": l.source,
            "points": l.points,
            "remaining": l.remaining,
            "earned_at": l.earned_at.to_rfc3339(),
            "available_at": l.available_at.map(|t| t.to_rfc3339()),
            "expires_at": l.expires_at.to_rfc3339(),
            "state": l.state,
            "order_id": l.order_id,
        })).collect::<Vec<_>>(),
        "ledger": account.ledger.iter().map(|e| json!({
            "id": e.id,
            "kind": e.kind,
            "points": e.points,
            "at": e.at.to_rfc3339(),
            "lot": e.lot,
            "reason": e.reason,
            "balance": e.balance,
        })).collect::<Vec<_>>(),
    })
}

async fn loyalty(
    store: &dyn Store,
    settings: &Settings,
    customer: Option<Customer>,
    now: DateTime<Utc>,
) -> AdminResponse {
    let Some(customer) = customer else {
        return (404, json!({"error": "no such customer"}));
    };
    match store.get_account(&customer.id).await {
        Ok(account) => {
            let account = account.unwrap_or_else(|| Account::new(customer.id.clone()));
            (200, loyalty_json(&customer, &account, settings, now))
        }
        Err(e) => failed(e),
    }
}

/// Where the job routes get the notifier they run with. A Lambda builds it on the first job route
/// (its SNS, SES and SQS clients are needless work at a cold start that only reads records); a
/// notifier that cannot be built answers those routes 503 with the reason.
#[async_trait::async_trait]
pub trait Jobs: Send + Sync {
    async fn notifier(&self) -> Result<Notifier<'_>, String>;
}

/// A notifier already built (the local runner's).
#[async_trait::async_trait]
impl<T: NotifierSource + ?Sized> Jobs for T {
    async fn notifier(&self) -> Result<Notifier<'_>, String> {
        Ok(NotifierSource::notifier(self))
    }
}

/// What the admin API needs: storage, the token, the settings, and the notifier for running jobs.
pub struct Admin<'a> {
    pub store: &'a dyn Store,
    pub token: &'a Secret,
    pub settings: &'a Settings,
    pub jobs: &'a dyn Jobs,
}

pub async fn handle(
    admin: &Admin<'_>,
    request: AdminRequest<'_>,
    now: DateTime<Utc>,
) -> AdminResponse {
    let store = admin.store;
    if !authorized(request.authorization, admin.token) {
        return (401, json!({"error": "missing or wrong bearer token"}));
    }
    let param = |name: &str| request.path_params.get(name).map(String::as_str);
    match request.route_key {
        CUSTOMER_ROUTE | LOYALTY_ROUTE => {
            let Some(id) = param("customer_id").and_then(CustomerId::parse) else {
                return (404, json!({"error": "no such customer"}));
            };
            let customer = match store.get_customer(&id).await {
                Ok(customer) => customer,
                Err(e) => return failed(e),
            };
            match (request.route_key, customer) {
                (LOYALTY_ROUTE, customer) => loyalty(store, admin.settings, customer, now).await,
                (_, Some(customer)) => (200, customer_json(&customer)),
                (_, None) => (404, json!({"error": "no such customer"})),
            }
        }
        LOYALTY_BY_EMAIL_ROUTE => {
            let Some(email) = query_value(request.query, "email")
                .as_deref()
                .and_then(crate::model::email_key)
            else {
                return (400, json!({"error": "give ?email= with an email address"}));
            };
            match store.find_customer_by_email(&email).await {
                Ok(customer) => loyalty(store, admin.settings, customer, now).await,
                Err(e) => failed(e),
            }
        }
        JOB_RUN_ROUTE | JOB_PREVIEW_ROUTE => {
            let Some(job) = param("job").and_then(|j| j.parse::<Job>().ok()) else {
                let known: Vec<&str> = Job::all().iter().map(|j| j.as_str()).collect();
                return (404, json!({"error": "no such job", "jobs": known}));
            };
            let notifier = match admin.jobs.notifier().await {
                Ok(notifier) => notifier,
                Err(e) => {
                    tracing::error!(job = job.as_str(), error = %e, "admin API: no notifier for jobs");
                    return (503, json!({"error": format!("jobs cannot run: {e}")}));
                }
            };
            if request.route_key == JOB_RUN_ROUTE {
                return match jobs::run(job, &notifier, now).await {
                    Ok(report) => (
                        200,
                        json!({"job": job, "messages": report.messages, "detail": report.detail}),
                    ),
                    Err(e) => {
                        tracing::error!(job = job.as_str(), error = %e, "admin API: job failed");
                        (503, json!({"error": format!("the job failed: {e}")}))
                    }
                };
            }
            let at = match query_value(request.query, "at") {
                None => now,
                Some(raw) => match DateTime::parse_from_rfc3339(raw.trim()) {
                    Ok(at) if crate::bounds::plausible_year(&at.with_timezone(&Utc)) => {
                        at.with_timezone(&Utc)
                    }
                    _ => {
                        return (
                            400,
                            json!({"error": "at must be an RFC 3339 time, e.g. 2026-12-01T09:00:00+07:00"}),
                        )
                    }
                },
            };
            match jobs::preview(job, &notifier, at).await {
                Ok(preview) => (200, preview),
                Err(e) => (503, json!({"error": format!("the preview failed: {e}")})),
            }
        }
        _ => handle_records(store, request).await,
    }
}

fn customer_json(customer: &Customer) -> Value {
    json!({
        "id": customer.id,
        "first_name": customer.first_name,
        "email": customer.email,
        "phone": customer.phone,
        "locale": customer.locale,
        "timezone": customer.timezone,
        "consents": customer.consents,
        "tier": customer.tier,
        "marketing_suppressed_until": customer.marketing_suppressed_until.map(|t| t.to_rfc3339()),
        "updated_at": customer.updated_at.to_rfc3339(),
    })
}

async fn handle_records(store: &dyn Store, request: AdminRequest<'_>) -> AdminResponse {
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
