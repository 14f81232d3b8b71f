//! `POST /webhooks/stores/{platform}`.
//! The handler only translates: API Gateway event in, domain call, API Gateway response out.

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

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    if request.route_key != STORE_ROUTE {
        return no_route(&request.route_key);
    }
    let platform = request.path_param("platform");
    let response = webhook::webhook(
        Route::Stores,
        &platform,
        request.inbound(),
        &app.config,
        app.store.as_ref(),
        Utc::now(),
    )
    .await;
    json_response(&response)
}
