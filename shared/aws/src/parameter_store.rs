//! The one Parameter Store call a function makes, `GetParametersByPath` at its cold start, as a
//! SigV4-signed request of our own instead of through `aws-sdk-ssm`.
//!
//! Why: for that one call the SDK's SSM client cost a webhook about 1.3 M of its 2.5 M init
//! instructions. It parses its own copy of the partition table, compiling a regular expression per
//! partition, and builds an orchestrator and a TLS connector. Here the request is signed by
//! `aws-sigv4` (the SDK's own signer), sent on a small hyper client that trusts only AWS's roots,
//! retried as the SDK's standard mode would (three attempts, backing off), and answered in the
//! JSON the SDK reads. Tests hold it to the SDK: the endpoint against the SDK's resolver for every
//! region the SDK knows, and the signature on a moto that checks signatures.

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// As the SDK's standard retry mode: the first try and two more.
const ATTEMPTS: u32 = 3;
/// Each attempt's limit: a cold start that cannot reach SSM fails and Lambda starts it again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// A page holds ten parameters of at most 8 KB each (advanced tier) plus their metadata.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ParameterStoreError {
    #[error("Parameter Store refused the request (HTTP {status}): {kind}: {message}")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("Parameter Store did not answer: {0}")]
    Unreachable(String),
    #[error("Parameter Store's answer could not be read: {0}")]
    Unreadable(String),
    #[error("the request could not be built or signed: {0}")]
    Request(String),
}

impl ParameterStoreError {
    /// What the SDK's standard mode retries: throttling, the service's own errors, no answer.
    fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, kind, .. } => {
                *status >= 500
                    || *status == 429
                    || ["Throttling", "RequestLimitExceeded", "TooManyRequests"]
                        .iter()
                        .any(|throttled| kind.contains(throttled))
            }
            Self::Unreachable(_) => true,
            Self::Unreadable(_) | Self::Request(_) => false,
        }
    }
}

/// A parameter as read: its full name and its (decrypted) value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

pub struct ParameterStore {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Where requests go: `https://ssm.{region}.{the partition's domain}/`, or the endpoint
    /// given (moto in tests), with a slash at the end.
    url: String,
    /// The endpoint's `Host`, which the signature covers.
    host: String,
    region: String,
    credentials: Credentials,
    /// Microseconds spent waiting on the network, summed over requests.
    on_the_wire_us: AtomicU64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PageRequest<'a> {
    path: &'a str,
    with_decryption: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page {
    #[serde(default)]
    parameters: Vec<Parameter>,
    next_token: Option<String>,
}

/// An error answer in the JSON 1.1 protocol: `__type` is the error's shape id.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(alias = "Message", default)]
    message: String,
}

impl ParameterStore {
    /// A client for `region`, at `endpoint` when one is given, else at the region's own.
    pub fn new(
        region: &str,
        credentials: Credentials,
        endpoint: Option<&str>,
    ) -> Result<Self, ParameterStoreError> {
        let endpoint = match endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_string(),
            None => regional_endpoint(region),
        };
        // Both derived once: every request (and its signature) uses them as they are.
        let (url, host) = endpoint
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| {
                let host = uri.authority()?.as_str().to_string();
                Some((format!("{}/", uri.to_string().trim_end_matches('/')), host))
            })
            .ok_or_else(|| ParameterStoreError::Request(format!("bad endpoint {endpoint}")))?;
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ParameterStoreError::Request(e.to_string()))?
        .with_root_certificates(crate::runtime::aws_root_store())
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            // Plain HTTP only for an endpoint given as such (moto); AWS's are HTTPS.
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
            url,
            host,
            region: region.to_string(),
            credentials,
            on_the_wire_us: AtomicU64::new(0),
        })
    }

    /// How long this client's requests have waited on the network, answers included.
    pub fn time_on_the_wire(&self) -> Duration {
        Duration::from_micros(self.on_the_wire_us.load(Ordering::Relaxed))
    }

    /// Every parameter directly under `path` (not deeper), SecureStrings decrypted, every page.
    pub async fn parameters_by_path(
        &self,
        path: &str,
    ) -> Result<Vec<Parameter>, ParameterStoreError> {
        let mut parameters = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let body = serde_json::to_vec(&PageRequest {
                path,
                with_decryption: true,
                next_token: next_token.as_deref(),
            })
            .map_err(|e| ParameterStoreError::Request(e.to_string()))?;
            let page = self.page_with_retries(body).await?;
            parameters.extend(page.parameters);
            match page.next_token.filter(|token| !token.is_empty()) {
                Some(token) => next_token = Some(token),
                None => return Ok(parameters),
            }
        }
    }

    async fn page_with_retries(&self, body: Vec<u8>) -> Result<Page, ParameterStoreError> {
        let mut attempt = 1;
        loop {
            match self.page(&body).await {
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "Parameter Store read failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    async fn page(&self, body: &[u8]) -> Result<Page, ParameterStoreError> {
        let request = self.signed_request(body, SystemTime::now())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| ParameterStoreError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| ParameterStoreError::Unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, ParameterStoreError>((status, answer))
        };
        let sent_at = std::time::Instant::now();
        let answered = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await;
        let waited = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.on_the_wire_us.fetch_add(waited, Ordering::Relaxed);
        let (status, answer) = answered.map_err(|_| {
            ParameterStoreError::Unreachable(format!(
                "no answer within {} s",
                ATTEMPT_TIMEOUT.as_secs()
            ))
        })??;
        read_answer(status, &answer)
    }

    /// The POST the SDK would send, signed for `ssm` in the client's region at `now`.
    fn signed_request(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<http::Request<Full<Bytes>>, ParameterStoreError> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let signing_error = |e: &dyn std::fmt::Display| ParameterStoreError::Request(e.to_string());
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParametersByPath"),
            ("host", self.host.as_str()),
        ];
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ssm")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing_error(&e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| signing_error(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| signing_error(&e))?
            .into_parts();
        let mut request = http::Request::post(self.url.as_str());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| signing_error(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// A page from a 200, the service's error from anything else.
fn read_answer(status: u16, answer: &[u8]) -> Result<Page, ParameterStoreError> {
    if status == 200 {
        return serde_json::from_slice(answer)
            .map_err(|e| ParameterStoreError::Unreadable(e.to_string()));
    }
    let error: ErrorAnswer = serde_json::from_slice(answer).unwrap_or(ErrorAnswer {
        kind: String::new(),
        message: String::from_utf8_lossy(answer.get(..200).unwrap_or(answer)).into_owned(),
    });
    // `__type` may carry the namespace: `com.amazonaws.ssm#ParameterNotFound`.
    let kind = error
        .kind
        .rsplit('#')
        .next()
        .unwrap_or_default()
        .to_string();
    Err(ParameterStoreError::Refused {
        status,
        kind,
        message: error.message,
    })
}

/// SSM's endpoint in `region`, as the SDK's rules resolve it without FIPS or dual-stack: the
/// service's name, the region, and the domain of the partition the region belongs to.
pub fn regional_endpoint(region: &str) -> String {
    /// Partitions by their regions' prefix (the partition table's `regionRegex`), the commercial
    /// one (and GovCloud, on the same domain) otherwise.
    const DOMAINS: [(&str, &str); 6] = [
        ("cn-", "amazonaws.com.cn"),
        ("us-iso-", "c2s.ic.gov"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    let domain = DOMAINS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, domain)| domain);
    format!("https://ssm.{region}.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region in the partition table the SDK was generated with (aws-sdk-ssm 1.133), and
    /// some it does not list yet but whose names its partitions' patterns accept.
    const REGIONS: &[&str] = &[
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "cn-north-1",
        "cn-northwest-1",
        "eusc-de-east-1",
        "us-iso-east-1",
        "us-iso-west-1",
        "us-isob-east-1",
        "us-isob-west-1",
        "eu-isoe-west-1",
        "us-isof-east-1",
        "us-isof-south-1",
        "us-gov-east-1",
        "us-gov-west-1",
        // Not listed, matched by pattern.
        "us-east-7",
        "eu-west-9",
        "ap-southeast-9",
        "cn-south-2",
        "us-gov-central-1",
        "us-iso-south-3",
        "us-isob-north-2",
        "eusc-de-west-2",
    ];

    #[tokio::test]
    async fn the_endpoint_is_the_sdks_for_every_region_it_knows() {
        use aws_sdk_ssm::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let sdk = DefaultResolver::new();
        for region in REGIONS {
            let params = Params::builder()
                .region(*region)
                .use_fips(false)
                .use_dual_stack(false)
                .build()
                .unwrap();
            let expected = ResolveEndpoint::resolve_endpoint(&sdk, &params)
                .await
                .unwrap();
            assert_eq!(regional_endpoint(region), expected.url(), "{region}");
        }
    }

    fn store(endpoint: Option<&str>, token: Option<&str>) -> ParameterStore {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        );
        ParameterStore::new("us-east-1", credentials, endpoint).unwrap()
    }

    fn header<'a>(request: &'a http::Request<Full<Bytes>>, name: &str) -> &'a str {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_request_is_the_sdks_json_call_signed_for_ssm() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_288_000); // 2025-11-28
        let request = store(None, Some("session-token"))
            .signed_request(br#"{"Path":"/shop"}"#, at)
            .unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "https://ssm.us-east-1.amazonaws.com/");
        assert_eq!(
            header(&request, "x-amz-target"),
            "AmazonSSM.GetParametersByPath"
        );
        assert_eq!(
            header(&request, "content-type"),
            "application/x-amz-json-1.1"
        );
        assert_eq!(header(&request, "host"), "ssm.us-east-1.amazonaws.com");
        assert_eq!(header(&request, "x-amz-date"), "20251128T000000Z");
        assert_eq!(header(&request, "x-amz-security-token"), "session-token");
        let authorization = header(&request, "authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251128/us-east-1/ssm/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
                 Signature="
            ),
            "{authorization}"
        );
        // Signed: another body, another signature.
        let other = store(None, Some("session-token"))
            .signed_request(br#"{"Path":"/other"}"#, at)
            .unwrap();
        assert_ne!(header(&other, "authorization"), authorization);
    }

    #[test]
    fn an_endpoint_given_is_used_as_it_is() {
        let request = store(Some("http://127.0.0.1:5599/"), None)
            .signed_request(b"{}", SystemTime::now())
            .unwrap();
        assert_eq!(request.uri(), "http://127.0.0.1:5599/");
        assert_eq!(header(&request, "host"), "127.0.0.1:5599");
        assert!(request.headers().get("x-amz-security-token").is_none());
        let credentials = Credentials::new("a", "b", None, None, "test");
        assert!(ParameterStore::new("us-east-1", credentials, Some("not a url")).is_err());
    }

    proptest::proptest! {
        /// Whatever comes back, with whatever status, is a page or an error, never a panic.
        #[test]
        fn any_answer_is_read_without_panicking(status in 0u16..1000, answer in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = read_answer(status, &answer);
        }

        #[test]
        fn any_json_shaped_answer_is_read_without_panicking(status in 0u16..1000, kind in ".{0,40}", message in ".{0,80}", token in proptest::option::of(".{0,20}")) {
            let error = serde_json::json!({"__type": kind, "message": message}).to_string();
            let _ = read_answer(status, error.as_bytes());
            let page = serde_json::json!({"Parameters": [{"Name": kind, "Value": message}], "NextToken": token}).to_string();
            proptest::prop_assert!(read_answer(200, page.as_bytes()).is_ok());
        }
    }

    #[test]
    fn answers_are_read_as_the_protocol_writes_them() {
        let page = read_answer(
            200,
            br#"{"Parameters":[{"Name":"/shop/easypost","Value":"k","Type":"SecureString","Version":1}],"NextToken":"t"}"#,
        )
        .unwrap();
        assert_eq!(page.parameters.len(), 1);
        assert_eq!(page.next_token.as_deref(), Some("t"));
        assert!(read_answer(200, b"{}").unwrap().parameters.is_empty());
        assert!(matches!(
            read_answer(200, b"<html>"),
            Err(ParameterStoreError::Unreadable(_))
        ));

        let throttled = read_answer(
            400,
            br#"{"__type":"com.amazonaws.ssm#ThrottlingException","message":"Rate exceeded"}"#,
        )
        .unwrap_err();
        assert!(throttled.is_transient());
        assert!(throttled
            .to_string()
            .contains("ThrottlingException: Rate exceeded"));
        let denied = read_answer(
            400,
            br#"{"__type":"AccessDeniedException","Message":"not allowed"}"#,
        )
        .unwrap_err();
        assert!(!denied.is_transient());
        assert!(denied
            .to_string()
            .contains("AccessDeniedException: not allowed"));
        assert!(read_answer(503, b"Service Unavailable")
            .unwrap_err()
            .is_transient());
        assert!(ParameterStoreError::Unreachable("reset".into()).is_transient());
    }
}
