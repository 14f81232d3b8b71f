//! `GET /outbox`: the message log as a page a person can read, emails rendered (sandboxed).

use crate::LocalApp;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use doorstep_core::signature::constant_time_eq;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The page shows customers' contacts: never cached, never framed, no scripts anywhere.
const HEADERS: [(header::HeaderName, &str); 3] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    ),
];

pub async fn outbox_page(
    State(app): State<Arc<LocalApp>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // A browser cannot send a bearer header from the address bar, so `?token=` works too.
    let by_query = query
        .get("token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), app.admin_token.expose().as_bytes()));
    if !(by_query || crate::authorized(&app, &headers)) {
        return (
            StatusCode::UNAUTHORIZED,
            HEADERS,
            Html("<p>Open /outbox?token=&lt;DOORSTEP_ADMIN_TOKEN&gt;</p>"),
        )
            .into_response();
    }
    let mut entries = match app.store.message_log(500) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "outbox read failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                HEADERS,
                Html("<p>storage failed</p>"),
            )
                .into_response();
        }
    };
    entries.reverse();
    let page = doorstep_core::pages::page(
        200,
        "outbox",
        json!({
            "entries": entries,
            "file": app.notifier.outbox_path().display().to_string(),
        }),
    );
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, HEADERS, Html(page.body)).into_response()
}
