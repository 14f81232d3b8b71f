//! The runner's HTTP server, bounded: a connection limit, a deadline for a request's headers,
//! its body and the whole request, a limit on requests in flight, and a body cap that refuses by
//! `Content-Length` before reading and stops reading at the cap. A client that stalls or floods
//! costs a bounded amount of memory and time, and is cut off.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The server's limits. The defaults suit a laptop and a small shop's webhook traffic.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; past it a new connection is closed at once.
    pub max_connections: usize,
    /// Requests being handled at once; past it a request gets 503 before its body is read.
    pub max_in_flight: usize,
    /// Time to send a request's headers (also how long an idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// Time for the whole request, handling included.
    pub request_timeout: Duration,
    /// Largest body accepted (webhooks answer 413 above it).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_in_flight: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: doorstep_core::webhook::MAX_BODY_BYTES,
        }
    }
}

/// Wraps the routes with the per-request limits.
pub fn bounded(router: Router, limits: Limits) -> Router {
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    router
        .layer(axum::middleware::from_fn_with_state(
            (in_flight, limits.max_body_bytes),
            admit,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
}

fn too_large(max: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({ "error": format!("body exceeds {max} bytes") })),
    )
        .into_response()
}

/// Refuses a body announced too large before reading a byte of it, and sheds load when too
/// many requests are in flight (the sender retries later).
async fn admit(
    State((in_flight, max_body)): State<(Arc<Semaphore>, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|len| len > max_body as u64) {
        return too_large(max_body);
    }
    let Ok(_permit) = in_flight.try_acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Json(json!({ "error": "too many requests in flight; retry shortly" })),
        )
            .into_response();
    };
    next.run(request).await
}

/// Reads a request body up to `max` bytes; `None` (answer 413) past it. Stops reading there.
pub async fn read_body(body: Body, max: usize) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_big {
            too_large(max)
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "the request body could not be read in time" })),
            )
                .into_response()
        }
    })
}

/// Accepts connections until `shutdown` resolves, each served with the header deadline, within
/// the connection limit.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let router = bounded(router, limits);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
}
