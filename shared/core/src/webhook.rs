//! The webhook entry points, free of any transport: the Lambda handlers and the local runner both
//! translate their requests into `InboundRequest` and send back the `WebhookResponse` unchanged.

use crate::bounds::Untrusted;
use crate::ingest::{self, IngestError, UpdateOutcome};
use crate::model::Provider;
use crate::ports::Store;
use crate::providers::{self, InboundRequest, ParseError, ProviderError};
use crate::signature::AuthError;
use crate::store_events::{MerchantDefaults, StoreEvent};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;

/// Bodies over this are refused with 413 before any work is done.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Carrier routes: `POST /webhooks/carriers/{name}`.
pub const CARRIER_ROUTES: &[(&str, Provider)] = &[
    ("easypost", Provider::EasyPost),
    ("aftership", Provider::AfterShip),
    ("shippo", Provider::Shippo),
    ("17track", Provider::SeventeenTrack),
    ("ups", Provider::Ups),
    ("generic", Provider::Generic),
];

/// Store routes: `POST /webhooks/stores/{name}`.
pub const STORE_ROUTES: &[(&str, Provider)] = &[
    ("shopify", Provider::Shopify),
    ("woocommerce", Provider::WooCommerce),
    ("generic", Provider::GenericStore),
];

/// The secret names (`DOORSTEP_SECRET_<NAME>` locally, SSM parameters on AWS).
pub const SECRET_NAMES: &[&str] = &[
    "EASYPOST",
    "AFTERSHIP",
    "SHIPPO",
    "17TRACK",
    "UPS",
    "GENERIC",
    "SHOPIFY",
    "WOOCOMMERCE",
];

/// Webhook secrets by name (see [`SECRET_NAMES`]), plus the optional extras some schemes take.
#[derive(Clone, Default)]
pub struct Secrets {
    by_name: HashMap<String, String>,
    /// Shippo's HMAC secret; when set, `Shippo-Auth-Signature` is required as well as the token.
    pub shippo_hmac: Option<String>,
    /// The OAuth client id UPS presents to the token endpoint.
    pub ups_client_id: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("Secrets")
            .field("configured", &names)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_UPS_CLIENT_ID: &str = "doorstep";

impl Secrets {
    pub fn new() -> Self {
        Self {
            ups_client_id: DEFAULT_UPS_CLIENT_ID.into(),
            ..Self::default()
        }
    }

    pub fn with(mut self, name: &str, secret: impl Into<String>) -> Self {
        self.set(name, secret);
        self
    }

    pub fn set(&mut self, name: &str, secret: impl Into<String>) {
        let secret = secret.into();
        if !secret.is_empty() {
            self.by_name.insert(name.to_ascii_uppercase(), secret);
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.by_name
            .get(&name.to_ascii_uppercase())
            .map(String::as_str)
    }

    fn for_provider(&self, provider: Provider) -> Result<&str, AuthError> {
        let name = match provider {
            Provider::SeventeenTrack => "17TRACK",
            Provider::GenericStore => "GENERIC",
            other => other.as_str(),
        };
        self.get(name).ok_or(AuthError::NotConfigured)
    }
}

/// What the webhooks need besides storage.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets: Secrets,
    pub defaults: MerchantDefaults,
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

fn route(routes: &[(&str, Provider)], name: &str) -> Result<Provider, WebhookError> {
    routes
        .iter()
        .find(|(route, _)| *route == name)
        .map(|(_, provider)| *provider)
        .ok_or_else(|| WebhookError::UnknownProvider(providers::truncate(name)))
}

/// Verifies a carrier request's signature and parses it. Nothing is read from or written to storage.
pub fn verify_and_parse_carrier(
    provider: Provider,
    req: &InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<Vec<crate::model::TrackingUpdate>, ProviderError> {
    let secret = secrets.for_provider(provider)?;
    let now_unix = now.timestamp();
    match provider {
        Provider::EasyPost => providers::easypost::verify(req, secret)?,
        Provider::AfterShip => providers::aftership::verify(req, secret)?,
        Provider::Shippo => {
            providers::shippo::verify(req, secret, secrets.shippo_hmac.as_deref(), now_unix)?
        }
        Provider::SeventeenTrack => providers::seventeen_track::verify(req, secret)?,
        Provider::Ups => providers::ups::verify(
            req.header(providers::ups::CREDENTIAL_HEADER),
            req.header("authorization"),
            secret,
            now_unix,
        )?,
        Provider::Generic => providers::generic::verify(req, secret, now_unix)?,
        Provider::Shopify | Provider::WooCommerce | Provider::GenericStore => {
            return Err(ParseError::Unsupported(provider.as_str().into()).into())
        }
    }
    let mut updates = match provider {
        Provider::EasyPost => providers::easypost::parse(req.body),
        Provider::AfterShip => providers::aftership::parse(req.body),
        Provider::Shippo => providers::shippo::parse(req.body),
        Provider::SeventeenTrack => providers::seventeen_track::parse(req.body),
        Provider::Ups => providers::ups::parse(req.body),
        _ => providers::generic::parse(req.body),
    }?;
    for update in &mut updates {
        crate::bounds::bound_update(update, now)?;
    }
    Ok(updates)
}

/// Verifies a store request's signature and parses it; also returns the delivery's dedupe key.
pub fn verify_and_parse_store(
    provider: Provider,
    req: &InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<(StoreEvent, Option<String>), ProviderError> {
    let (mut event, mut key) = verify_and_parse_store_unbounded(provider, req, secrets, now)?;
    crate::bounds::bound_store_event(&mut event, now)?;
    crate::bounds::bound_delivery_id(&mut key);
    Ok((event, key))
}

fn verify_and_parse_store_unbounded(
    provider: Provider,
    req: &InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<(StoreEvent, Option<String>), ProviderError> {
    let secret = secrets.for_provider(provider)?;
    let key = |id: Option<&str>| {
        id.map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| format!("{}:{id}", provider.as_str()))
    };
    match provider {
        Provider::Shopify => {
            providers::shopify::verify(req, secret)?;
            let event =
                providers::shopify::parse(req.header(providers::shopify::TOPIC_HEADER), req.body)?;
            Ok((
                event,
                key(req.header(providers::shopify::WEBHOOK_ID_HEADER)),
            ))
        }
        Provider::WooCommerce => {
            providers::woocommerce::verify(req, secret)?;
            let event = providers::woocommerce::parse(
                req.header(providers::woocommerce::TOPIC_HEADER),
                req.body,
            )?;
            Ok((
                event,
                key(req.header(providers::woocommerce::DELIVERY_ID_HEADER)),
            ))
        }
        Provider::GenericStore => {
            providers::generic_store::verify(req, secret, now.timestamp())?;
            let (event, event_id) = providers::generic_store::parse(req.body)?;
            Ok((event, key(event_id.as_deref())))
        }
        other => Err(ParseError::Unsupported(other.as_str().into()).into()),
    }
}

/// `POST /webhooks/carriers/{provider}`.
pub async fn carrier_webhook(
    provider: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> WebhookResponse {
    match carrier_inner(provider, req, config, store, now).await {
        Ok(response) => response,
        Err(e) => e.into_response(provider),
    }
}

async fn carrier_inner(
    name: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<WebhookResponse, WebhookError> {
    let provider = route(CARRIER_ROUTES, name)?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    let updates = verify_and_parse_carrier(provider, &req, &config.secrets, now)?;
    let mut results = Vec::with_capacity(updates.len());
    for update in &updates {
        let outcome = ingest::apply_tracking_update(store, update, now).await?;
        results.push(json!({
            "carrier": update.carrier,
            "tracking_number": update.tracking_number,
            "result": outcome,
        }));
    }
    let applied = results
        .iter()
        .filter(|r| r["result"] == json!(UpdateOutcome::Applied))
        .count();
    tracing::info!(
        provider = name,
        updates = updates.len(),
        applied,
        "carrier webhook accepted"
    );
    Ok(WebhookResponse::json(
        200,
        json!({ "status": "ok", "updates": results }),
    ))
}

/// `POST /webhooks/stores/{platform}`.
pub async fn store_webhook(
    platform: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> WebhookResponse {
    match store_inner(platform, req, config, store, now).await {
        Ok(response) => response,
        Err(e) => e.into_response(platform),
    }
}

async fn store_inner(
    name: &str,
    req: InboundRequest<'_>,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<WebhookResponse, WebhookError> {
    let provider = route(STORE_ROUTES, name)?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    let (event, delivery_key) = verify_and_parse_store(provider, &req, &config.secrets, now)?;
    let outcome =
        ingest::apply_store_event(store, event, delivery_key.as_deref(), &config.defaults, now)
            .await?;
    tracing::info!(platform = name, outcome = ?outcome, "store webhook accepted");
    Ok(WebhookResponse::json(
        200,
        json!({ "status": "ok", "result": outcome }),
    ))
}

/// `POST /webhooks/carriers/ups/token`: the OAuth client-credentials endpoint UPS Track Alert v2 calls.
pub fn ups_token(
    req: InboundRequest<'_>,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> WebhookResponse {
    let result = secrets.for_provider(Provider::Ups).and_then(|secret| {
        providers::ups::check_client(
            req.header("authorization"),
            req.body,
            &secrets.ups_client_id,
            secret,
        )?;
        Ok(providers::ups::issue_token(secret, now.timestamp()))
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
