//! The admin API's routes (`doorstep_core::admin::ROUTES`): the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, json_response, Request};
use doorstep_core::admin::{self, Admin, AdminRequest};
use doorstep_core::chrono::Utc;
use doorstep_core::notify::service::NotifierSource;
use doorstep_core::ports::Store;
use doorstep_core::secrets::Secret;
use doorstep_core::webhook::WebhookResponse;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub admin_token: Secret,
    /// Runs jobs by hand (`POST /api/jobs/{job}/run`) with the notifier's own wiring.
    pub jobs: Arc<dyn NotifierSource>,
}

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let authorization = request
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.as_str());
    let notifier = app.jobs.notifier();
    let admin = Admin {
        store: app.store.as_ref(),
        token: &app.admin_token,
        settings: notifier.settings,
        notifier,
    };
    let (status, body) = admin::handle(
        &admin,
        AdminRequest {
            route_key: &request.route_key,
            path_params: &request.path_parameters,
            query: request.query.as_deref(),
            authorization,
        },
        Utc::now(),
    )
    .await;
    json_response(&WebhookResponse {
        status,
        body: body.to_string(),
    })
}
