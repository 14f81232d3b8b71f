//! The webhook entry points, free of any transport: the Lambda handlers and the local runner both
//! translate their requests into `InboundRequest` and send back the `WebhookResponse` unchanged.

use crate::bounds::{self, Untrusted};
use crate::ingest::{self, IngestError, UpdateOutcome};
use crate::model::{Provider, TrackingUpdate};
use crate::ports::Store;
use crate::providers::registry::{
    CarrierParser, Credentials, Parser, ProviderSpec, Route, StoreDelivery,
};
use crate::providers::{self, InboundRequest, ParseError, ProviderError};
use crate::secrets::Secrets;
use crate::signature::AuthError;
use crate::store_events::{MerchantDefaults, StoreEvent};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Bodies over this are refused with 413 before any work is done.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the webhooks need besides storage.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets: Secrets,
    pub defaults: MerchantDefaults,
    /// The merchant's settings (the loyalty route applies `[loyalty]`).
    pub settings: crate::settings::Settings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: String,
}

impl WebhookResponse {
    fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }

    fn error(status: u16, reason: impl std::fmt::Display) -> Self {
        Self::json(status, json!({ "error": reason.to_string() }))
    }
}

#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("unknown provider '{0}'")]
    UnknownProvider(String),
    #[error("body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("unauthorized: {0}")]
    Unauthorized(AuthError),
    #[error("{0}")]
    BadPayload(ParseError),
    #[error("storage failed; retry later")]
    Storage(#[from] IngestError),
    /// Well-formed and signed, but the rules refuse it (an unknown customer, a spend over the
    /// balance): 422 with the reason; nothing was written.
    #[error("{0}")]
    Refused(String),
}

impl From<ProviderError> for WebhookError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Auth(a) => Self::Unauthorized(a),
            ProviderError::Parse(p) => Self::BadPayload(p),
        }
    }
}

impl From<AuthError> for WebhookError {
    fn from(e: AuthError) -> Self {
        Self::Unauthorized(e)
    }
}

impl From<ParseError> for WebhookError {
    fn from(e: ParseError) -> Self {
        Self::BadPayload(e)
    }
}

impl WebhookError {
    fn into_response(self, provider: &str) -> WebhookResponse {
        let status = match &self {
            Self::UnknownProvider(_) => 404,
            Self::TooLarge => 413,
            Self::Unauthorized(_) => 401,
            Self::BadPayload(_) => 400,
            Self::Storage(_) => 503,
            Self::Refused(_) => 422,
        };
        // The provider name comes from the URL and the reason may quote the payload: both are
        // logged escaped.
        let provider = Untrusted(provider);
        match &self {
            Self::Storage(e) => {
                tracing::error!(%provider, error = %e, "webhook not applied: storage failed")
            }
            other => {
                let reason = other.to_string();
                tracing::warn!(%provider, status, reason = %Untrusted(&reason), "webhook refused")
            }
        }
        WebhookResponse::error(status, self)
    }
}

/// What a verified, parsed and bounded delivery says.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Tracking(Vec<TrackingUpdate>),
    Store {
        event: StoreEvent,
        /// `{provider}:{the store's delivery id}`, logged with the outcome (a redelivery is
        /// recognised by what it says, see [`ingest::apply_store_event`]).
        delivery_key: Option<String>,
    },
    Loyalty(Box<crate::loyalty::service::ExternalEvent>),
    Subscription {
        event: crate::subscriptions::SubscriptionEvent,
        delivery_key: Option<String>,
    },
    Review {
        review: Box<crate::reviews::ReviewSnapshot>,
        delivery_key: Option<String>,
    },
}

/// `{provider}:{delivery id}`, bounded, for dedupe.
fn delivery_key(provider: Provider, delivery_id: Option<&str>) -> Option<String> {
    let mut key = delivery_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| format!("{}:{id}", provider.as_str()));
    bounds::bound_delivery_id(&mut key);
    key
}

/// Verifies a request with its provider's scheme, parses it, and checks it at the edge. Nothing is
/// read from or written to storage.
pub fn verify_and_parse(
    provider: Provider,
    req: &InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<Inbound, ProviderError> {
    let spec = provider.spec();
    verify_with(spec, req, secrets, now)?;
    match spec.parser {
        Parser::Carrier(parse) => parse_tracking(parse, req.body, now).map(Inbound::Tracking),
        Parser::Store(parse) => {
            let StoreDelivery {
                mut event,
                delivery_id,
            } = parse(req)?;
            bounds::bound_store_event(&mut event, now)?;
            Ok(Inbound::Store {
                event,
                delivery_key: delivery_key(provider, delivery_id.as_deref()),
            })
        }
        Parser::Subscription(parse) => {
            let mut delivery = parse(req)?;
            bounds::bound_subscription_event(&mut delivery.event, now)?;
            Ok(Inbound::Subscription {
                event: delivery.event,
                delivery_key: delivery_key(provider, delivery.delivery_id.as_deref()),
            })
        }
        Parser::Review(parse) => {
            let mut delivery = parse(req)?;
            bounds::bound_review(&mut delivery.review, now)?;
            Ok(Inbound::Review {
                review: Box::new(delivery.review),
                delivery_key: delivery_key(provider, delivery.delivery_id.as_deref()),
            })
        }
        Parser::Loyalty(parse) => {
            let mut event = parse(req.body)?;
            bounds::bound_loyalty_event(&mut event, now)?;
            Ok(Inbound::Loyalty(Box::new(event)))
        }
    }
}

/// `POST /webhooks/carriers/{slug}` alone: the same as [`webhook`] with `Route::Carriers`, for a
/// function that serves only carriers. It reaches no other route's parser or rules, so those
/// (and the phone parser, which the stores' contacts need) are not linked into it.
#[tracing::instrument(name = "webhook", skip_all, fields(route = %Route::Carriers, provider = %Untrusted(slug)))]
pub async fn carrier_webhook(
    slug: &str,
    req: InboundRequest<'_>,
    secrets: &Secrets,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> WebhookResponse {
    match handle_carrier_webhook(slug, req, secrets, store, now).await {
        Ok(body) => WebhookResponse::json(200, body),
        Err(e) => e.into_response(slug),
    }
}

async fn handle_carrier_webhook(
    slug: &str,
    req: InboundRequest<'_>,
    secrets: &Secrets,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, WebhookError> {
    let (_, spec, parse) = Provider::carrier(slug)
        .ok_or_else(|| WebhookError::UnknownProvider(providers::truncate(slug)))?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    verify_with(spec, &req, secrets, now)?;
    let updates = parse_tracking(parse, req.body, now)?;
    Ok(apply_tracking(store, &updates, now).await?)
}

/// Checks a request with its provider's own scheme and secret.
fn verify_with(
    spec: &ProviderSpec,
    req: &InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let secret = secrets.get(spec.secret).ok_or(AuthError::NotConfigured)?;
    let credentials = Credentials {
        secret: secret.expose(),
        secrets,
        now,
    };
    (spec.verify)(req, &credentials)
}

/// A verified carrier body's updates, checked at the edge.
fn parse_tracking(
    parse: CarrierParser,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<TrackingUpdate>, ProviderError> {
    let mut updates = parse(body)?;
    for update in &mut updates {
        bounds::bound_update(update, now)?;
    }
    Ok(updates)
}

/// `POST /webhooks/{route}/{slug}`: verify, parse, bound, apply.
#[tracing::instrument(name = "webhook", skip_all, fields(%route, provider = %Untrusted(slug)))]
pub async fn webhook(
    route: Route,
    slug: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> WebhookResponse {
    match handle_webhook(route, slug, req, config, store, now).await {
        Ok(response) => response,
        Err(e) => e.into_response(slug),
    }
}

async fn handle_webhook(
    route: Route,
    slug: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<WebhookResponse, WebhookError> {
    let provider = Provider::for_route(route, slug)
        .ok_or_else(|| WebhookError::UnknownProvider(providers::truncate(slug)))?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    let body = match verify_and_parse(provider, &req, &config.secrets, now)? {
        Inbound::Tracking(updates) => apply_tracking(store, &updates, now).await?,
        Inbound::Store {
            event,
            delivery_key,
        } => {
            let outcome = ingest::apply_store_event(store, event, &config.defaults, now).await?;
            tracing::info!(outcome = ?outcome, delivery = delivery_key.as_deref(), "store webhook accepted");
            json!({ "status": "ok", "result": outcome })
        }
        Inbound::Loyalty(event) => apply_loyalty(store, &config.settings, &event, now).await?,
        Inbound::Subscription {
            event,
            delivery_key,
        } => {
            once(store, delivery_key.as_deref(), now, || async {
                let result = crate::subscriptions::apply(store, &config.settings, &event, now)
                    .await
                    .map_err(|crate::subscriptions::SubscriptionError::Update(e)| {
                        IngestError::from(e)
                    })?;
                tracing::info!(result, "subscription webhook accepted");
                Ok(result)
            })
            .await?
        }
        Inbound::Review {
            review,
            delivery_key,
        } => {
            once(store, delivery_key.as_deref(), now, || async {
                let result = crate::reviews::apply(store, &config.settings, &review, now)
                    .await
                    .map_err(IngestError::from)?;
                tracing::info!(result, rating = review.rating, "review webhook accepted");
                Ok(result)
            })
            .await?
        }
    };
    Ok(WebhookResponse::json(200, body))
}

/// Applies a delivery once: a redelivery of a delivery id already applied is answered without
/// work; the id is recorded only after everything was written.
async fn once<F, Fut>(
    store: &dyn Store,
    delivery_key: Option<&str>,
    now: DateTime<Utc>,
    apply: F,
) -> Result<serde_json::Value, IngestError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, IngestError>>,
{
    if let Some(key) = delivery_key {
        if store.delivery_seen(key).await? {
            return Ok(json!({ "status": "ok", "result": "duplicate" }));
        }
    }
    let result = apply().await?;
    if let Some(key) = delivery_key {
        let expires = bounds::later(
            now,
            chrono::Duration::days(crate::ports::DEDUPE_RETENTION_DAYS),
        );
        store.mark_delivery(key, expires).await?;
    }
    Ok(json!({ "status": "ok", "result": result }))
}

async fn apply_loyalty(
    store: &dyn Store,
    settings: &crate::settings::Settings,
    event: &crate::loyalty::service::ExternalEvent,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, WebhookError> {
    use crate::loyalty::service::{apply_external, LoyaltyError};
    use crate::loyalty::LedgerError;
    match apply_external(store, settings, event, now).await {
        Ok(updated) => {
            tracing::info!(kind = event.kind.as_str(), result = ?updated.applied, "loyalty webhook accepted");
            Ok(json!({
                "status": "ok",
                "result": updated.applied,
                "balance": updated.account.balance(now),
                "pending": updated.account.pending(),
                "tier": updated.account.tier,
            }))
        }
        Err(LoyaltyError::Ledger(e @ (LedgerError::NoPoints | LedgerError::ExpiryPast))) => {
            Err(WebhookError::BadPayload(ParseError::Invalid {
                field: match e {
                    LedgerError::ExpiryPast => "expires_at",
                    _ => "points",
                },
                reason: e.to_string(),
            }))
        }
        Err(
            e @ (LoyaltyError::Off | LoyaltyError::UnknownCustomer(_) | LoyaltyError::Ledger(_)),
        ) => Err(WebhookError::Refused(e.to_string())),
        Err(LoyaltyError::Update(e)) => Err(WebhookError::Storage(IngestError::from(e))),
    }
}

async fn apply_tracking(
    store: &dyn Store,
    updates: &[TrackingUpdate],
    now: DateTime<Utc>,
) -> Result<serde_json::Value, IngestError> {
    let mut results = Vec::with_capacity(updates.len());
    let mut applied = 0;
    for update in updates {
        let outcome = ingest::apply_tracking_update(store, update, now).await?;
        applied += usize::from(outcome == UpdateOutcome::Applied);
        results.push(json!({
            "carrier": update.carrier,
            "tracking_number": update.tracking_number,
            "result": outcome,
        }));
    }
    tracing::info!(updates = updates.len(), applied, "carrier webhook accepted");
    Ok(json!({ "status": "ok", "updates": results }))
}

/// `POST /webhooks/carriers/ups/token`: the OAuth client-credentials endpoint UPS Track Alert v2 calls.
pub fn ups_token(
    req: InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> WebhookResponse {
    let result = secrets
        .get(Provider::Ups.spec().secret)
        .ok_or(AuthError::NotConfigured)
        .and_then(|secret| {
            providers::ups::check_client(
                req.header("authorization"),
                req.body,
                &secrets.ups_client_id,
                secret.expose(),
            )?;
            Ok(providers::ups::issue_token(
                secret.expose(),
                now.timestamp(),
            ))
        });
    match result {
        Ok((token, expires_in)) => WebhookResponse::json(
            200,
            json!({ "access_token": token, "token_type": "Bearer", "expires_in": expires_in }),
        ),
        Err(AuthError::Malformed(what)) if what.starts_with("grant_type") => {
            WebhookResponse::json(400, json!({ "error": "unsupported_grant_type" }))
        }
        Err(e) => {
            tracing::warn!(reason = %e, "UPS token request refused");
            WebhookResponse::json(401, json!({ "error": "invalid_client" }))
        }
    }
}
