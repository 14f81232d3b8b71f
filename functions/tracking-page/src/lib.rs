//! The tracking page's four routes: the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, no_route, page_response, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use doorstep_core::tracking::{self, TrackingRequest};
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
}

pub const PAGE_ROUTE: &str = "GET /t/{token}";
pub const API_ROUTE: &str = "GET /api/t/{token}";
pub const CHOICE_ROUTE: &str = "POST /t/{token}/delivery-choice";
pub const CLICK_ROUTE: &str = "GET /r/{token}/{product_id}";

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let token = request
        .path_parameters
        .get("token")
        .cloned()
        .unwrap_or_default();
    let tracking_request = TrackingRequest {
        token: &token,
        query: request.query.as_deref(),
        headers: &request.headers,
        body: &request.body,
    };
    let store = app.store.as_ref();
    let settings = &app.settings;
    let now = Utc::now();
    let page = match request.route_key.as_str() {
        PAGE_ROUTE => tracking::page(store, settings, tracking_request, now).await,
        API_ROUTE => tracking::api(store, settings, tracking_request, now).await,
        CHOICE_ROUTE => tracking::choose(store, settings, tracking_request, now).await,
        CLICK_ROUTE => {
            let product = request.path_param("product_id");
            tracking::click(store, settings, tracking_request, &product).await
        }
        other => return no_route(other),
    };
    page_response(page)
}
