//! `doorstep-local`: every Doorstep route in one process, on the embedded SQLite store, through
//! the same handler code the Lambdas run (requests become API Gateway v2 events and back).

pub mod config;
pub mod import;
pub mod notifier;
pub mod pages;
pub mod serve;
pub mod webhooks;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use axum::body::Body;
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use doorstep_core::ports::Store;
use doorstep_core::secrets::Secret;
use doorstep_core::settings::Settings;
use doorstep_core::webhook::WebhookConfig;
use doorstep_embedded::{FileOutbox, SqliteStore};
use notifier::LocalNotifier;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;

pub struct LocalApp {
    pub store: Arc<SqliteStore>,
    pub carriers: carrier_webhook::App,
    pub stores: store_webhook::App,
    pub notifier: Arc<LocalNotifier>,
    pub preferences: preferences::App,
    pub tracking: tracking_page::App,
    pub manage: manage_page::App,
    pub admin: admin_api::App,
    pub admin_token: Secret,
}

impl LocalApp {
    pub fn new(
        store: Arc<SqliteStore>,
        config: WebhookConfig,
        settings: Settings,
        outbox: FileOutbox,
        admin_token: impl Into<String>,
    ) -> Self {
        let admin_token: String = admin_token.into();
        let notifier = Arc::new(LocalNotifier::new(store.clone(), outbox, settings.clone()));
        let shared: Arc<dyn Store> = store.clone();
        Self {
            carriers: carrier_webhook::App {
                store: shared.clone(),
                config: config.clone(),
            },
            stores: store_webhook::App {
                store: shared.clone(),
                config,
            },
            preferences: preferences::App {
                store: shared.clone(),
                settings: settings.clone(),
            },
            tracking: tracking_page::App {
                store: shared.clone(),
                settings: settings.clone(),
            },
            manage: manage_page::App {
                store: shared.clone(),
                settings: settings.clone(),
            },
            admin: admin_api::App {
                store: shared.clone(),
                admin_token: Secret::new(admin_token.clone()),
                settings: settings.clone(),
                jobs: notifier.clone(),
            },
            notifier,
            store,
            admin_token: Secret::new(admin_token),
        }
    }
}

pub fn router(app: Arc<LocalApp>) -> Router {
    Router::new()
        .route("/webhooks/carriers/ups/token", post(ups_token))
        .route("/webhooks/carriers/{provider}", post(carrier))
        .route("/webhooks/stores/{platform}", post(store))
        .route("/webhooks/loyalty/{program}", post(loyalty))
        .route("/webhooks/subscriptions/{platform}", post(subscriptions))
        .route("/webhooks/reviews/{platform}", post(reviews))
        .route(
            "/api/shipments/{carrier}/{tracking_number}",
            get(admin_shipment),
        )
        .route("/api/clicks", get(admin_clicks))
        .route("/api/customers/{customer_id}", get(admin_customer))
        .route("/api/customers/{customer_id}/loyalty", get(admin_loyalty))
        .route("/api/loyalty", get(admin_loyalty_by_email))
        .route("/api/jobs/{job}/run", post(admin_job_run))
        .route("/api/jobs/{job}/preview", get(admin_job_preview))
        .route("/t/{token}", get(tracking_page))
        .route("/t/{token}/delivery-choice", post(delivery_choice))
        .route("/api/t/{token}", get(tracking_api))
        .route("/r/{token}/{product_id}", get(recommendation_click))
        .route("/s/new-link", post(manage_new_link))
        .route("/s/{token}", get(manage_page))
        .route("/s/{token}/{action}", post(manage_action))
        .route("/p/{token}", get(preferences_page).post(preferences_page))
        .route("/p/{token}/unsubscribe", post(unsubscribe))
        .route("/api/outbox", get(outbox_json))
        .route("/outbox", get(pages::outbox_page))
        .route("/api/dead-letters", get(dead_letters))
        .route("/api/dead-letters/{id}/retry", post(retry_dead_letter))
        .route("/healthz", get(|| async { "ok" }))
        .layer(trace_layer())
        .with_state(app)
}

/// One span per request, named by the route it matched (never the full path: paths carry
/// customers' tokens), with an id to tie every log line of the request together.
fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&axum::http::Request<Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<Body>| {
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("(no route)", |p| p.as_str());
            tracing::info_span!(
                "request",
                method = %request.method(),
                route,
                request_id = %&doorstep_core::ids::random_token()[..12],
            )
        },
    )
}

fn event(
    method: &Method,
    route: &str,
    uri: &Uri,
    params: &[(&str, &str)],
    headers: &HeaderMap,
    body: &[u8],
) -> Option<ApiGatewayV2httpRequest> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let json = doorstep_apigw::event_json(
        method.as_str(),
        route,
        uri.path(),
        params,
        &headers,
        uri.query(),
        body,
    );
    serde_json::from_value(json).ok()
}

fn into_response(response: ApiGatewayV2httpResponse) -> Response {
    let (status, headers, body) = doorstep_apigw::response_parts(response);
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Runs one of the Lambdas' handlers on the API Gateway v2 event this request would be.
async fn via_lambda<F, Fut>(
    request: Request,
    route: &str,
    params: &[(&str, &str)],
    handler: F,
) -> Response
where
    F: FnOnce(ApiGatewayV2httpRequest) -> Fut,
    Fut: Future<Output = ApiGatewayV2httpResponse>,
{
    let (parts, body) = request.into_parts();
    let body = match serve::read_body(body, doorstep_core::webhook::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match event(
        &parts.method,
        route,
        &parts.uri,
        params,
        &parts.headers,
        &body,
    ) {
        Some(event) => into_response(handler(event).await),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "request could not be read"})),
        )
            .into_response(),
    }
}

async fn carrier(
    State(app): State<Arc<LocalApp>>,
    Path(provider): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/webhooks/carriers/{provider}",
        &[("provider", &provider)],
        |e| carrier_webhook::handle(&app.carriers, e),
    )
    .await
}

async fn ups_token(State(app): State<Arc<LocalApp>>, request: Request) -> Response {
    via_lambda(request, "/webhooks/carriers/ups/token", &[], |e| {
        carrier_webhook::handle(&app.carriers, e)
    })
    .await
}

async fn store(
    State(app): State<Arc<LocalApp>>,
    Path(platform): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/webhooks/stores/{platform}",
        &[("platform", &platform)],
        |e| store_webhook::handle(&app.stores, e),
    )
    .await
}

async fn loyalty(
    State(app): State<Arc<LocalApp>>,
    Path(program): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/webhooks/loyalty/{program}",
        &[("program", &program)],
        |e| store_webhook::handle(&app.stores, e),
    )
    .await
}

async fn subscriptions(
    State(app): State<Arc<LocalApp>>,
    Path(platform): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/webhooks/subscriptions/{platform}",
        &[("platform", &platform)],
        |e| store_webhook::handle(&app.stores, e),
    )
    .await
}

async fn reviews(
    State(app): State<Arc<LocalApp>>,
    Path(platform): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/webhooks/reviews/{platform}",
        &[("platform", &platform)],
        |e| store_webhook::handle(&app.stores, e),
    )
    .await
}

async fn manage_page(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(request, "/s/{token}", &[("token", &token)], |e| {
        manage_page::handle(&app.manage, e)
    })
    .await
}

async fn manage_action(
    State(app): State<Arc<LocalApp>>,
    Path((token, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/s/{token}/{action}",
        &[("token", &token), ("action", &action)],
        |e| manage_page::handle(&app.manage, e),
    )
    .await
}

async fn manage_new_link(State(app): State<Arc<LocalApp>>, request: Request) -> Response {
    via_lambda(request, "/s/new-link", &[], |e| {
        manage_page::handle(&app.manage, e)
    })
    .await
}

async fn preferences_page(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(request, "/p/{token}", &[("token", &token)], |e| {
        preferences::handle(&app.preferences, e)
    })
    .await
}

async fn unsubscribe(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/p/{token}/unsubscribe",
        &[("token", &token)],
        |e| preferences::handle(&app.preferences, e),
    )
    .await
}

async fn tracking_page(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(request, "/t/{token}", &[("token", &token)], |e| {
        tracking_page::handle(&app.tracking, e)
    })
    .await
}

async fn delivery_choice(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/t/{token}/delivery-choice",
        &[("token", &token)],
        |e| tracking_page::handle(&app.tracking, e),
    )
    .await
}

async fn tracking_api(
    State(app): State<Arc<LocalApp>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    via_lambda(request, "/api/t/{token}", &[("token", &token)], |e| {
        tracking_page::handle(&app.tracking, e)
    })
    .await
}

async fn recommendation_click(
    State(app): State<Arc<LocalApp>>,
    Path((token, product_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/r/{token}/{product_id}",
        &[("token", &token), ("product_id", &product_id)],
        |e| tracking_page::handle(&app.tracking, e),
    )
    .await
}

async fn admin_shipment(
    State(app): State<Arc<LocalApp>>,
    Path((carrier, tracking_number)): Path<(String, String)>,
    request: Request,
) -> Response {
    via_lambda(
        request,
        "/api/shipments/{carrier}/{tracking_number}",
        &[("carrier", &carrier), ("tracking_number", &tracking_number)],
        |e| admin_api::handle(&app.admin, e),
    )
    .await
}

async fn admin_clicks(State(app): State<Arc<LocalApp>>, request: Request) -> Response {
    via_lambda(request, "/api/clicks", &[], |e| {
        admin_api::handle(&app.admin, e)
    })
    .await
}

/// An admin route with one path parameter, through the admin-api handler.
async fn admin_with(
    app: &LocalApp,
    request: Request,
    route: &str,
    name: &str,
    value: &str,
) -> Response {
    via_lambda(request, route, &[(name, value)], |e| {
        admin_api::handle(&app.admin, e)
    })
    .await
}

async fn admin_customer(
    State(app): State<Arc<LocalApp>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    admin_with(
        &app,
        request,
        "/api/customers/{customer_id}",
        "customer_id",
        &id,
    )
    .await
}

async fn admin_loyalty(
    State(app): State<Arc<LocalApp>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let route = "/api/customers/{customer_id}/loyalty";
    admin_with(&app, request, route, "customer_id", &id).await
}

async fn admin_loyalty_by_email(State(app): State<Arc<LocalApp>>, request: Request) -> Response {
    via_lambda(request, "/api/loyalty", &[], |e| {
        admin_api::handle(&app.admin, e)
    })
    .await
}

async fn admin_job_run(
    State(app): State<Arc<LocalApp>>,
    Path(job): Path<String>,
    request: Request,
) -> Response {
    admin_with(&app, request, "/api/jobs/{job}/run", "job", &job).await
}

async fn admin_job_preview(
    State(app): State<Arc<LocalApp>>,
    Path(job): Path<String>,
    request: Request,
) -> Response {
    admin_with(&app, request, "/api/jobs/{job}/preview", "job", &job).await
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "missing or wrong bearer token"})),
    )
        .into_response()
}

fn storage_failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin API: storage failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "storage failed"})),
    )
        .into_response()
}

/// `GET /api/outbox`: the message log, newest last.
async fn outbox_json(State(app): State<Arc<LocalApp>>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.store.message_log(10_000) {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => storage_failed(e),
    }
}

/// `GET /api/dead-letters`: work set aside after failing too often, oldest first.
async fn dead_letters(State(app): State<Arc<LocalApp>>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.store.dead_letters(1_000) {
        Ok(letters) => Json(letters).into_response(),
        Err(e) => storage_failed(e),
    }
}

/// `POST /api/dead-letters/{id}/retry`: puts a dead letter back to work (a change rejoins the
/// feed; a deferred send is due at once) and removes it from the list.
async fn retry_dead_letter(
    State(app): State<Arc<LocalApp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such dead letter"})),
        )
            .into_response()
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let letter = match app.store.take_dead_letter(id) {
        Ok(Some(letter)) => letter,
        Ok(None) => return not_found(),
        Err(e) => return storage_failed(e),
    };
    match notifier::put_back(&app.store, &letter, doorstep_core::chrono::Utc::now()).await {
        Ok(()) => Json(json!({"status": "retrying", "source": letter.source})).into_response(),
        Err(e) => {
            // Keep it listed rather than lose it.
            let _ =
                doorstep_core::notify::ports::DeadLetters::set_aside(&*app.store, &letter).await;
            storage_failed(e)
        }
    }
}

/// Whether the request carries the admin token as a bearer token.
pub(crate) fn authorized(app: &LocalApp, headers: &HeaderMap) -> bool {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    doorstep_core::admin::authorized(authorization, &app.admin_token)
}
