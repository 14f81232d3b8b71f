//! `GET|POST /p/{token}` and `POST /p/{token}/unsubscribe`: the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use doorstep_apigw::{bad_encoding, Request};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::preferences::PageResponse;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub brand: String,
}

pub fn response(page: PageResponse) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(page.content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(page.status);
    out.headers = headers;
    out.body = Some(Body::Text(page.body));
    out
}

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let token = request
        .path_parameters
        .get("token")
        .cloned()
        .unwrap_or_default();
    let unsubscribe = request.path.ends_with("/unsubscribe");
    response(
        doorstep_core::preferences::handle(
            app.store.as_ref(),
            &app.brand,
            &request.method,
            &token,
            unsubscribe,
            &request.body,
            Utc::now(),
        )
        .await,
    )
}
