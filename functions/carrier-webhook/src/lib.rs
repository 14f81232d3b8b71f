//! `POST /webhooks/carriers/{provider}` and `POST /webhooks/carriers/ups/token`.
//! The handler only translates: an HTTP event in (API Gateway's, or the function URL's in the
//! same format), domain call, response out.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, json_response, no_route, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::webhook::{self, WebhookConfig};
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub config: WebhookConfig,
}

pub const CARRIER_ROUTE: &str = "POST /webhooks/carriers/{provider}";
pub const UPS_TOKEN_ROUTE: &str = "POST /webhooks/carriers/ups/token";

/// Every route this function serves (a function URL's requests are matched against them).
pub const ROUTES: &[&str] = &[CARRIER_ROUTE, UPS_TOKEN_ROUTE];

/// One request, through API Gateway or through the function's URL (same event format).
pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let request = request.routed(ROUTES);
    let now = Utc::now();
    let response = match request.route_key.as_str() {
        UPS_TOKEN_ROUTE => webhook::ups_token(request.inbound(), &app.config.secrets, now),
        CARRIER_ROUTE => {
            let provider = request.path_param("provider");
            webhook::carrier_webhook(
                &provider,
                request.inbound(),
                &app.config.secrets,
                app.store.as_ref(),
                now,
            )
            .await
        }
        other => return no_route(other),
    };
    json_response(&response)
}
