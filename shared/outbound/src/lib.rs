//! The one outbound HTTP client Doorstep has: POSTs to the merchant's webhook endpoint. HTTP/1.1
//! over rustls (plain `http://` too, for a merchant's internal endpoint or a test server), a
//! connection pool, and a hard timeout per request.
//!
//! It trusts Mozilla's root certificates, compiled in, so a cold start reads and parses no
//! certificate files (the system's bundle cost the merchant-webhook function about 2 ms of CPU at
//! every cold start). For an endpoint behind a private CA, `MERCHANT_WEBHOOK_CA_BUNDLE` names a
//! PEM bundle to trust instead.

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

/// A PEM bundle to trust instead of Mozilla's roots, for an endpoint behind a private CA.
pub const CA_BUNDLE_VAR: &str = "MERCHANT_WEBHOOK_CA_BUNDLE";

impl HttpPoster {
    pub fn new() -> Result<Self, NoRoots> {
        let bundle = std::env::var(CA_BUNDLE_VAR).ok().filter(|p| !p.is_empty());
        let roots = match bundle {
            Some(path) => roots_from(&path)?,
            // Compiled in and already parsed: nothing to read at a cold start.
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| NoRoots(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

/// The certificates of a PEM bundle, as roots; a bundle with none is refused.
fn roots_from(path: &str) -> Result<rustls::RootCertStore, NoRoots> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| NoRoots(format!("{CA_BUNDLE_VAR}={path}: {e}")))?
        .filter_map(Result::ok);
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(NoRoots(format!("{CA_BUNDLE_VAR}={path}: no certificates")));
    }
    Ok(roots)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozillas_roots_by_default_and_a_bundle_when_asked() {
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
        let dir = std::env::temp_dir().join(format!("doorstep-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(roots_from(empty.to_str().unwrap()).is_err());
        assert!(roots_from(dir.join("missing.pem").to_str().unwrap()).is_err());
        // A bundle of two real roots (and some text between them) gives exactly those two.
        use base64::Engine as _;
        let pem: String = webpki_root_certs::TLS_SERVER_ROOT_CERTS[..2]
            .iter()
            .map(|der| {
                let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
                format!(
                    "a comment\n-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
                )
            })
            .collect();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, pem).unwrap();
        assert_eq!(roots_from(bundle.to_str().unwrap()).unwrap().len(), 2);
        std::env::set_var(CA_BUNDLE_VAR, &bundle);
        assert!(HttpPoster::new().is_ok());
        std::env::remove_var(CA_BUNDLE_VAR);
        assert!(HttpPoster::new().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
