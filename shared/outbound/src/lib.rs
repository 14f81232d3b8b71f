//! The one outbound HTTP client Doorstep has: POSTs to the merchant's webhook endpoint. HTTP/1.1
//! over rustls with the system's root certificates (plain `http://` too, for a merchant's
//! internal endpoint or a test server), a connection pool, and a hard timeout per request.

use async_trait::async_trait;
use bytes::Bytes;
use doorstep_core::merchant_webhook::{Poster, TIMEOUT};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Built once (per cold start, or per local runner) and shared.
#[derive(Clone)]
pub struct HttpPoster {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

#[derive(Debug, thiserror::Error)]
#[error("no usable root certificates: {0}")]
pub struct NoRoots(String);

impl HttpPoster {
    pub fn new() -> Result<Self, NoRoots> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .map_err(|e| NoRoots(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

#[async_trait]
impl Poster for HttpPoster {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        let mut request = Request::post(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("bad request: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            // Read (and drop) the answer so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok(status)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())))
    }
}
