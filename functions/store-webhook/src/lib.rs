//! `POST /webhooks/stores/{platform}`, `POST /webhooks/loyalty/{program}`,
//! `POST /webhooks/subscriptions/{platform}` and `POST /webhooks/reviews/{platform}`.
//! The handler only translates: an HTTP event in (API Gateway's, or the function URL's in the
//! same format), domain call, response out.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, json_response, no_route, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::providers::registry::Route;
use doorstep_core::webhook::{self, WebhookConfig};
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub config: WebhookConfig,
}

pub const STORE_ROUTE: &str = "POST /webhooks/stores/{platform}";
pub const LOYALTY_ROUTE: &str = "POST /webhooks/loyalty/{program}";
pub const SUBSCRIPTIONS_ROUTE: &str = "POST /webhooks/subscriptions/{platform}";
pub const REVIEWS_ROUTE: &str = "POST /webhooks/reviews/{platform}";

/// Every route this function serves (a function URL's requests are matched against them).
pub const ROUTES: &[&str] = &[
    STORE_ROUTE,
    LOYALTY_ROUTE,
    SUBSCRIPTIONS_ROUTE,
    REVIEWS_ROUTE,
];

/// One request, through API Gateway or through the function's URL (same event format).
pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let request = request.routed(ROUTES);
    let (route, slug) = match request.route_key.as_str() {
        STORE_ROUTE => (Route::Stores, request.path_param("platform")),
        LOYALTY_ROUTE => (Route::Loyalty, request.path_param("program")),
        SUBSCRIPTIONS_ROUTE => (Route::Subscriptions, request.path_param("platform")),
        REVIEWS_ROUTE => (Route::Reviews, request.path_param("platform")),
        other => return no_route(other),
    };
    let response = webhook::webhook(
        route,
        &slug,
        request.inbound(),
        &app.config,
        app.store.as_ref(),
        Utc::now(),
    )
    .await;
    json_response(&response)
}
