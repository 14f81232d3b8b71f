//! `GET /outbox`: the message log as a page a person can read, emails rendered.

use crate::LocalApp;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use doorstep_core::notify::ports::LogEntry;
use doorstep_core::preferences::escape;
use doorstep_core::signature::constant_time_eq;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn row(entry: &LogEntry) -> String {
    let mut html = String::new();
    let state = json_text(&entry.state);
    let _ = write!(
        html,
        "<article class=\"{state}\"><header><b>{}</b> · {} · {} · <span class=\"state\">{state}</span> · {}</header>",
        escape(entry.milestone.as_str()),
        escape(entry.channel.as_str()),
        escape(entry.to.as_deref().unwrap_or("(no address)")),
        escape(&entry.at.to_rfc3339()),
    );
    let _ = write!(
        html,
        "<p class=\"meta\">order {} · parcel {} · {} · {}</p>",
        escape(entry.order_id.as_deref().unwrap_or("-")),
        escape(entry.tracking_number.as_deref().unwrap_or("-")),
        escape(&entry.locale),
        escape(&json_text(&entry.kind)),
    );
    if let Some(until) = entry.send_after {
        let _ = write!(html, "<p>send after {}</p>", escape(&until.to_rfc3339()));
    }
    if let Some(reason) = &entry.reason {
        let _ = write!(html, "<p>reason: {}</p>", escape(reason));
    }
    if let Some(subject) = &entry.subject {
        let _ = write!(html, "<p>subject: <b>{}</b></p>", escape(subject));
    }
    match (&entry.html, &entry.body) {
        // The email as the customer sees it, sandboxed: no scripts, no navigation.
        (Some(email), _) => {
            let _ = write!(
                html,
                "<iframe sandbox srcdoc=\"{}\"></iframe>",
                escape(email)
            );
        }
        (None, Some(body)) => {
            let _ = write!(html, "<pre>{}</pre>", escape(body));
        }
        _ => {}
    }
    html.push_str("</article>");
    html
}

pub async fn outbox_page(
    State(app): State<Arc<LocalApp>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // A browser cannot send a bearer header from the address bar, so `?token=` works too.
    let by_query = query
        .get("token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), app.admin_token.as_bytes()));
    if !(by_query || crate::authorized(&app, &headers)) {
        return (
            StatusCode::UNAUTHORIZED,
            Html("<p>Open /outbox?token=&lt;DOORSTEP_ADMIN_TOKEN&gt;</p>"),
        )
            .into_response();
    }
    let entries = match app.store.message_log(500) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "outbox read failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<p>storage failed</p>"),
            )
                .into_response();
        }
    };
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Doorstep outbox</title><style>\
         body{font-family:system-ui,sans-serif;max-width:880px;margin:2em auto;color:#222}\
         article{border:1px solid #ddd;border-radius:8px;padding:12px;margin:12px 0}\
         .meta{color:#666;font-size:13px}.state{font-weight:bold}.deferred .state{color:#b36b00}\
         .suppressed .state{color:#888}.failed .state{color:#c00}.sent .state{color:#070}\
         iframe{width:100%;height:420px;border:1px solid #eee}pre{white-space:pre-wrap}</style></head><body>",
    );
    let _ = write!(page, "<h1>Outbox</h1><p>{} messages, newest first. Sent messages are also in <code>{}</code>.</p>", entries.len(), escape(&app.notifier.outbox_path().display().to_string()));
    for entry in entries.iter().rev() {
        page.push_str(&row(entry));
    }
    page.push_str("</body></html>");
    // The page shows customers' contacts: never cached, never framed, no scripts anywhere.
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        Html(page),
    )
        .into_response()
}
