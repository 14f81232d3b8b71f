//! API Gateway HTTP API (payload format 2.0) events, translated to and from the transport-free
//! request and response the domain's webhook entry points take. The Lambdas use it one way; the
//! local runner uses it both ways so that it runs the Lambdas' handlers unchanged.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use doorstep_core::pages::PageResponse;
use doorstep_core::providers::InboundRequest;
use doorstep_core::webhook::WebhookResponse;
use serde_json::json;
use std::collections::HashMap;

/// A request as the handlers read it: lower-case header names, the raw body bytes.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The route the API matched, `"{METHOD} {path pattern}"` (`POST /webhooks/stores/{platform}`).
    pub route_key: String,
    pub method: String,
    pub path: String,
    pub path_parameters: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub struct BadEncoding;

/// The route key of every request a Lambda function URL sends (see [`Request::routed`]).
pub const FUNCTION_URL_ROUTE: &str = "$default";

impl Request {
    pub fn from_event(event: ApiGatewayV2httpRequest) -> Result<Self, BadEncoding> {
        let body = match event.body {
            None => Vec::new(),
            Some(body) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| BadEncoding)?,
            Some(body) => body.into_bytes(),
        };
        let headers = event
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    name.as_str().to_ascii_lowercase(),
                    value.to_str().ok()?.to_string(),
                ))
            })
            .collect();
        Ok(Self {
            route_key: event.route_key.unwrap_or_default(),
            method: event.request_context.http.method.to_string(),
            path: event.raw_path.unwrap_or_default(),
            path_parameters: event.path_parameters,
            headers,
            query: event.raw_query_string.filter(|q| !q.is_empty()),
            body,
        })
    }

    /// The request with its route found among `routes` (`"{METHOD} {path pattern}"`) when it
    /// came through a Lambda function URL, which sends every request as `$default` and names no
    /// path parameters: the pattern with the most literal segments that the method and path
    /// match, as API Gateway picks. Unmatched, it stays `$default` (then `no_route` answers).
    /// A request API Gateway routed is returned as it is.
    pub fn routed(mut self, routes: &[&str]) -> Self {
        if self.route_key != FUNCTION_URL_ROUTE {
            return self;
        }
        let segments: Vec<&str> = self.path.split('/').collect();
        let best = routes
            .iter()
            .filter_map(|route| {
                let (method, pattern) = route.split_once(' ')?;
                if !method.eq_ignore_ascii_case(&self.method) {
                    return None;
                }
                let parts: Vec<&str> = pattern.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut params = HashMap::new();
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(name) if !segment.is_empty() => {
                            params.insert(name.to_string(), segment.to_string());
                        }
                        Some(_) => return None,
                        None if part == segment => literal += 1,
                        None => return None,
                    }
                }
                Some((literal, *route, params))
            })
            .max_by_key(|(literal, _, _)| *literal);
        if let Some((_, route, params)) = best {
            self.route_key = route.to_string();
            self.path_parameters = params;
        }
        self
    }

    pub fn inbound(&self) -> InboundRequest<'_> {
        InboundRequest {
            headers: &self.headers,
            query: self.query.as_deref(),
            body: &self.body,
        }
    }

    /// A path parameter, or the path's last segment when the route did not name it.
    pub fn path_param(&self, name: &str) -> String {
        self.path_parameters
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.path.rsplit('/').next().unwrap_or_default().to_string())
    }
}

/// The response to an event whose body could not be decoded.
pub fn bad_encoding() -> ApiGatewayV2httpResponse {
    json_response(&WebhookResponse {
        status: 400,
        body: json!({"error": "body is not valid base64"}).to_string(),
    })
}

pub fn json_response(response: &WebhookResponse) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(response.status);
    out.headers = headers;
    out.body = Some(Body::Text(response.body.clone()));
    out
}

/// A page as a response: its type, never cached, no referrer, and a CSP that allows no script,
/// unless the page sets those headers itself.
pub fn page_response(page: PageResponse) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(page.content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    for (name, value) in &page.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(page.status);
    out.headers = headers;
    out.body = Some(Body::Text(page.body));
    out
}

/// The answer to a route this function does not serve (API Gateway only sends routes it maps,
/// so this means a misconfigured stack).
pub fn no_route(route_key: &str) -> ApiGatewayV2httpResponse {
    json_response(&WebhookResponse {
        status: 404,
        body:
            json!({ "error": format!("no route {}", doorstep_core::bounds::Untrusted(route_key)) })
                .to_string(),
    })
}

/// Builds the event API Gateway would send for a request (the local runner and tests use it).
pub fn event_json(
    method: &str,
    route_key: &str,
    path: &str,
    path_parameters: &[(&str, &str)],
    headers: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> serde_json::Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        // API Gateway joins repeated headers with commas.
        let joined = match header_map.get(&name).and_then(|v| v.as_str()) {
            Some(existing) => format!("{existing},{value}"),
            None => value.clone(),
        };
        header_map.insert(name, json!(joined));
    }
    let (body, is_base64_encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let params: serde_json::Map<String, serde_json::Value> = path_parameters
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route_key}"),
        "rawPath": path,
        "rawQueryString": query.unwrap_or(""),
        "headers": header_map,
        "pathParameters": params,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("user-agent")).map(|(_, v)| v.as_str()).unwrap_or("")
            },
            "requestId": "local",
            "routeKey": format!("{method} {route_key}"),
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded
    })
}

/// A Lambda response's status, headers and body bytes.
pub fn response_parts(response: ApiGatewayV2httpResponse) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = u16::try_from(response.status_code).unwrap_or(500);
    let headers = response
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = match response.body {
        Some(Body::Text(text)) => text.into_bytes(),
        Some(Body::Binary(bytes)) => bytes,
        _ => Vec::new(),
    };
    (status, headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event a Lambda function URL sends: every request is `$default`, with no path
    /// parameters (the rest is API Gateway's payload format 2.0).
    fn function_url_request(method: &str, path: &str) -> Request {
        let mut event = event_json(method, "", path, &[], &[], None, b"{}");
        event["routeKey"] = json!(FUNCTION_URL_ROUTE);
        event["requestContext"]["routeKey"] = json!(FUNCTION_URL_ROUTE);
        event["pathParameters"] = serde_json::Value::Null;
        Request::from_event(serde_json::from_value(event).unwrap()).unwrap()
    }

    const ROUTES: &[&str] = &[
        "POST /webhooks/carriers/{provider}",
        "POST /webhooks/carriers/ups/token",
    ];

    #[test]
    fn a_function_url_request_is_routed_as_api_gateway_would() {
        let carrier = function_url_request("POST", "/webhooks/carriers/easypost").routed(ROUTES);
        assert_eq!(carrier.route_key, ROUTES[0]);
        assert_eq!(carrier.path_param("provider"), "easypost");
        // Of two routes that match, the one with more literal segments wins.
        let token = function_url_request("POST", "/webhooks/carriers/ups/token").routed(ROUTES);
        assert_eq!(token.route_key, ROUTES[1]);
        assert!(token.path_parameters.is_empty());
        let overlapping = ["POST /a/{x}", "POST /a/b"];
        assert_eq!(
            function_url_request("POST", "/a/b")
                .routed(&overlapping)
                .route_key,
            "POST /a/b"
        );
    }

    #[test]
    fn a_function_url_request_off_every_route_stays_unrouted() {
        for (method, path) in [
            ("GET", "/webhooks/carriers/easypost"),
            ("POST", "/webhooks/carriers/"),
            ("POST", "/webhooks/carriers"),
            ("POST", "/webhooks/carriers/easypost/extra"),
            ("POST", "/webhooks/stores/shopify"),
            ("POST", ""),
            ("POST", "//"),
        ] {
            let request = function_url_request(method, path).routed(ROUTES);
            assert_eq!(request.route_key, FUNCTION_URL_ROUTE, "{method} {path}");
        }
    }

    #[test]
    fn a_request_api_gateway_routed_is_left_as_it_came() {
        let event = event_json(
            "POST",
            "/webhooks/carriers/{provider}",
            "/webhooks/carriers/shippo",
            &[("provider", "shippo")],
            &[],
            None,
            b"{}",
        );
        let request = Request::from_event(serde_json::from_value(event).unwrap())
            .unwrap()
            .routed(&["POST /webhooks/carriers/ups/token"]);
        assert_eq!(request.route_key, "POST /webhooks/carriers/{provider}");
        assert_eq!(request.path_param("provider"), "shippo");
    }
}
