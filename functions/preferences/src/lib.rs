//! `GET|POST /p/{token}` and `POST /p/{token}/unsubscribe`: the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, no_route, page_response, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
}

pub const SHOW_ROUTE: &str = "GET /p/{token}";
pub const SAVE_ROUTE: &str = "POST /p/{token}";
pub const UNSUBSCRIBE_ROUTE: &str = "POST /p/{token}/unsubscribe";

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let unsubscribe = match request.route_key.as_str() {
        SHOW_ROUTE | SAVE_ROUTE => false,
        UNSUBSCRIBE_ROUTE => true,
        other => return no_route(other),
    };
    let token = request.path_param("token");
    page_response(
        doorstep_core::preferences::handle(
            app.store.as_ref(),
            &app.settings.brand,
            &request.method,
            &token,
            unsubscribe,
            &request.body,
            Utc::now(),
        )
        .await,
    )
}
