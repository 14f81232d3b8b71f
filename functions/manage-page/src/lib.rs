//! The subscription manage page's routes: the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, no_route, page_response, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use doorstep_core::subscriptions::page;
use doorstep_core::tracking::TrackingRequest;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
}

pub const PAGE_ROUTE: &str = "GET /s/{token}";
pub const ACTION_ROUTE: &str = "POST /s/{token}/{action}";
pub const NEW_LINK_ROUTE: &str = "POST /s/new-link";

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let token = request.path_param("token");
    let page_request = TrackingRequest {
        token: &token,
        query: request.query.as_deref(),
        headers: &request.headers,
        body: &request.body,
    };
    let (store, settings, now) = (app.store.as_ref(), &app.settings, Utc::now());
    let page = match request.route_key.as_str() {
        PAGE_ROUTE => page::page(store, settings, page_request, now).await,
        ACTION_ROUTE => {
            let action = request.path_param("action");
            page::act(store, settings, page_request, &action, now).await
        }
        NEW_LINK_ROUTE => page::request_link(store, settings, page_request, now).await,
        other => return no_route(other),
    };
    page_response(page)
}
