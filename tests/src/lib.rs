//! Helpers for the cross-function tests: fixtures, per-provider signing, API Gateway events,
//! and stores (SQLite in memory; DynamoDB on the moto server the test script starts).

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use doorstep_aws::DynamoStore;
use doorstep_core::providers::{aftership, easypost, seventeen_track, shopify, woocommerce};
use doorstep_core::secrets::Secrets;
use doorstep_core::signature::sign_timestamped;
use doorstep_core::store_events::MerchantDefaults;
use doorstep_core::webhook::WebhookConfig;
use doorstep_embedded::SqliteStore;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const EASYPOST_SECRET: &str = "sécret";
pub const SECRET: &str = "test-secret-0123456789";
pub const UPS_CLIENT_ID: &str = "ups-test-client";

/// An order id as the tests write it (`shopify:1001`).
pub fn order_id(raw: &str) -> doorstep_core::ids::OrderId {
    doorstep_core::ids::OrderId::parse(raw).unwrap_or_else(|| panic!("order id {raw}"))
}

/// A customer id as the tests write it (`shopify:115310627314723954`).
pub fn customer_id(raw: &str) -> doorstep_core::ids::CustomerId {
    doorstep_core::ids::CustomerId::parse(raw).unwrap_or_else(|| panic!("customer id {raw}"))
}

/// A message key as the tests write it (`ups#1Z1#delivered#sms`).
pub fn message_key(raw: &str) -> doorstep_core::notify::keys::MessageKey {
    doorstep_core::notify::keys::MessageKey::parse(raw).unwrap_or_else(|| panic!("key {raw}"))
}

/// Reads a provider fixture as published (including any final newline).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/providers/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn secrets() -> Secrets {
    let mut secrets = Secrets::new();
    for name in [
        "AFTERSHIP",
        "SHIPPO",
        "17TRACK",
        "UPS",
        "GENERIC",
        "SHOPIFY",
        "WOOCOMMERCE",
        "RECHARGE",
        "JUDGEME",
    ] {
        secrets.set(name, SECRET);
    }
    secrets.set("EASYPOST", EASYPOST_SECRET);
    secrets.ups_client_id = UPS_CLIENT_ID.into();
    secrets
}

pub fn config() -> WebhookConfig {
    WebhookConfig {
        secrets: secrets(),
        defaults: MerchantDefaults {
            timezone: "Asia/Bangkok".into(),
            locale: "en".into(),
            starting_tier: None,
        },
        settings: doorstep_core::settings::Settings {
            default_timezone: "Asia/Bangkok".into(),
            loyalty: Some(Default::default()),
            ..Default::default()
        },
    }
}

pub fn now_unix() -> i64 {
    doorstep_core::chrono::Utc::now().timestamp()
}

/// An API Gateway HTTP API (2.0) event, parsed from the JSON API Gateway would send.
pub fn apigw_event(
    method: &str,
    route: &str,
    path: &str,
    params: &[(&str, &str)],
    headers: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let json = doorstep_apigw::event_json(method, route, path, params, headers, query, body);
    serde_json::from_value(json).expect("a valid API Gateway v2 event")
}

/// The event a Lambda function URL sends (payload format 2.0 as AWS documents it for function
/// URLs): every request is the route `$default`, with no path parameters and the URL's domain.
pub fn function_url_event(
    path: &str,
    headers: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::json!(v)))
        .collect();
    let json = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query.unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz",
            "domainName": "abcdefghijklmnopqrstuvwxyz.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "carrier"
            },
            "requestId": "9f6d8bf1-2f3c-4d5e-8a6b-7c8d9e0f1a2b",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1_795_856_400_000_i64
        },
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false
    });
    serde_json::from_value(json).expect("a valid function URL event")
}

/// The headers (and query) each carrier would send with `body`.
pub fn carrier_auth(provider: &str, body: &[u8]) -> (Vec<(String, String)>, Option<String>) {
    let h = |k: &str, v: String| vec![(k.to_string(), v)];
    match provider {
        "easypost" => (
            h("X-Hmac-Signature", easypost::sign(EASYPOST_SECRET, body)),
            None,
        ),
        "aftership" => (
            h("aftership-hmac-sha256", aftership::sign(SECRET, body)),
            None,
        ),
        "shippo" => (Vec::new(), Some(format!("token={SECRET}"))),
        "17track" => (h("sign", seventeen_track::sign(SECRET, body)), None),
        "ups" => (h("credential", SECRET.to_string()), None),
        "generic" => (
            h(
                "Doorstep-Signature",
                sign_timestamped(SECRET.as_bytes(), body, now_unix()),
            ),
            None,
        ),
        other => panic!("no signer for {other}"),
    }
}

pub fn carrier_event(provider: &str, body: &[u8]) -> ApiGatewayV2httpRequest {
    let (mut headers, query) = carrier_auth(provider, body);
    headers.push(("content-type".into(), "application/json".into()));
    apigw_event(
        "POST",
        "/webhooks/carriers/{provider}",
        &format!("/webhooks/carriers/{provider}"),
        &[("provider", provider)],
        &headers,
        query.as_deref(),
        body,
    )
}

/// The headers each store would send with `body`; `topic` and `delivery` where the store has them.
pub fn store_headers(
    platform: &str,
    topic: Option<&str>,
    delivery: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut push = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            headers.push((k.to_string(), v.to_string()));
        }
    };
    match platform {
        "shopify" => {
            push("X-Shopify-Hmac-Sha256", Some(&shopify::sign(SECRET, body)));
            push("X-Shopify-Topic", topic);
            push("X-Shopify-Webhook-Id", delivery);
            push("X-Shopify-Shop-Domain", Some("doorstep-test.myshopify.com"));
        }
        "woocommerce" => {
            push(
                "X-WC-Webhook-Signature",
                Some(&woocommerce::sign(SECRET, body)),
            );
            push("X-WC-Webhook-Topic", topic);
            push("X-WC-Webhook-Delivery-ID", delivery);
        }
        "generic" => push(
            "Doorstep-Signature",
            Some(&sign_timestamped(SECRET.as_bytes(), body, now_unix())),
        ),
        other => panic!("no signer for {other}"),
    }
    headers
}

/// The headers a loyalty program sends with `body` (Doorstep's generic signature).
pub fn loyalty_headers(program: &str, body: &[u8]) -> Vec<(String, String)> {
    match program {
        "generic" => vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "Doorstep-Signature".to_string(),
                sign_timestamped(SECRET.as_bytes(), body, now_unix()),
            ),
        ],
        other => panic!("no signer for {other}"),
    }
}

/// The headers a subscription platform sends with `body`; `topic` for Recharge.
pub fn subscription_headers(
    platform: &str,
    topic: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match platform {
        "recharge" => {
            headers.push((
                "X-Recharge-Hmac-Sha256".into(),
                doorstep_core::providers::recharge::sign(SECRET, body),
            ));
            if let Some(topic) = topic {
                headers.push(("X-Recharge-Topic".into(), topic.into()));
            }
        }
        "generic" => headers.push((
            "Doorstep-Signature".into(),
            sign_timestamped(SECRET.as_bytes(), body, now_unix()),
        )),
        other => panic!("no signer for {other}"),
    }
    headers
}

/// The headers a review platform sends with `body`.
pub fn review_headers(platform: &str, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match platform {
        "judgeme" => headers.push((
            "JUDGEME-HMAC-SHA256".into(),
            doorstep_core::providers::judgeme::sign(SECRET, body),
        )),
        "generic" => headers.push((
            "Doorstep-Signature".into(),
            sign_timestamped(SECRET.as_bytes(), body, now_unix()),
        )),
        other => panic!("no signer for {other}"),
    }
    headers
}

/// `POST /webhooks/subscriptions/{platform}` as API Gateway sends it.
pub fn subscription_event(
    platform: &str,
    topic: Option<&str>,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    apigw_event(
        "POST",
        "/webhooks/subscriptions/{platform}",
        &format!("/webhooks/subscriptions/{platform}"),
        &[("platform", platform)],
        &subscription_headers(platform, topic, body),
        None,
        body,
    )
}

/// `POST /webhooks/reviews/{platform}` as API Gateway sends it.
pub fn review_event(platform: &str, body: &[u8]) -> ApiGatewayV2httpRequest {
    apigw_event(
        "POST",
        "/webhooks/reviews/{platform}",
        &format!("/webhooks/reviews/{platform}"),
        &[("platform", platform)],
        &review_headers(platform, body),
        None,
        body,
    )
}

/// `POST /webhooks/loyalty/{program}` as API Gateway sends it.
pub fn loyalty_event(program: &str, body: &[u8]) -> ApiGatewayV2httpRequest {
    apigw_event(
        "POST",
        "/webhooks/loyalty/{program}",
        &format!("/webhooks/loyalty/{program}"),
        &[("program", program)],
        &loyalty_headers(program, body),
        None,
        body,
    )
}

pub fn store_event(
    platform: &str,
    topic: Option<&str>,
    delivery: Option<&str>,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let headers = store_headers(platform, topic, delivery, body);
    apigw_event(
        "POST",
        "/webhooks/stores/{platform}",
        &format!("/webhooks/stores/{platform}"),
        &[("platform", platform)],
        &headers,
        None,
        body,
    )
}

pub fn sqlite_store() -> SqliteStore {
    SqliteStore::in_memory().expect("in-memory SQLite")
}

/// The moto server's URL: the test script (scripts/test.sh) starts moto and exports it.
pub fn moto_url() -> String {
    std::env::var("DOORSTEP_MOTO_URL").unwrap_or_else(|_| {
        panic!("DOORSTEP_MOTO_URL is not set: run the suite with scripts/test.sh, which installs and starts moto")
    })
}

pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(doorstep_aws::runtime::https_client())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A fresh SQS queue on moto, as the stack's notification dead-letter queue.
pub async fn sqs_dead_letters() -> doorstep_aws::dead_letters::SqsDeadLetters {
    let client = aws_sdk_sqs::Client::new(&aws_config().await);
    let name = format!(
        "doorstep-dlq-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    );
    let queue_url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create a queue on moto")
        .queue_url
        .expect("a queue URL");
    doorstep_aws::dead_letters::SqsDeadLetters {
        client: client.into(),
        queue_url,
    }
}

/// Every message waiting on a queue (moto), without removing them for good.
pub async fn queue_messages(
    dead_letters: &doorstep_aws::dead_letters::SqsDeadLetters,
) -> Vec<serde_json::Value> {
    let received = dead_letters
        .client
        .get()
        .receive_message()
        .queue_url(&dead_letters.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive from moto");
    received
        .messages()
        .iter()
        .filter_map(|m| serde_json::from_str(m.body()?).ok())
        .collect()
}

/// A fresh table on moto, defined as template.yaml defines it (keys, GSIs, stream).
pub async fn dynamo_store() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let name = format!(
        "doorstep-test-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    );
    create_table(&client, &name).await;
    DynamoStore::new(client, name)
}

pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    doorstep_aws::schema::create_table(client, name)
        .await
        .unwrap_or_else(|e| panic!("create table {name} on moto: {e}"));
}

/// Response status and JSON body of a Lambda response.
pub fn status_and_json(
    response: aws_lambda_events::apigw::ApiGatewayV2httpResponse,
) -> (u16, serde_json::Value) {
    let (status, _, body) = doorstep_apigw::response_parts(response);
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// A minimal HTTP/1.1 exchange with the moto server (loopback only): the stream API and
/// `/moto-api/data.json` are read as the raw JSON they are.
pub fn moto_http(method: &str, path: &str, target: Option<&str>, body: &str) -> serde_json::Value {
    // moto serializes its whole state for `data.json` while other tests write to it, and now and
    // then answers 500 ("changed size during iteration"): a read, so asking again is safe.
    for attempt in 0..5 {
        match moto_http_once(method, path, target, body) {
            Ok(json) => return json,
            Err(e) if attempt < 4 => {
                eprintln!("moto: {e}; asking again");
                std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
            }
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!("the last attempt panics")
}

fn moto_http_once(
    method: &str,
    path: &str,
    target: Option<&str>,
    body: &str,
) -> Result<serde_json::Value, String> {
    use std::io::{Read, Write};
    let url = moto_url();
    let host = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("moto reachable");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n",
        body.len()
    );
    if let Some(target) = target {
        request.push_str(&format!("X-Amz-Target: {target}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP response");
    if !(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")) {
        let status = head.lines().next().unwrap_or_default();
        return Err(format!("moto answered {status}"));
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("moto JSON: {e}: {body}")))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// Every record on the table's stream so far, as the `Records` of a Lambda `DynamoDbEvent`.
pub fn stream_records(stream_arn: &str) -> Vec<serde_json::Value> {
    let target = |op: &str| format!("DynamoDBStreams_20120810.{op}");
    let described = moto_http(
        "POST",
        "/",
        Some(&target("DescribeStream")),
        &serde_json::json!({"StreamArn": stream_arn}).to_string(),
    );
    let mut records = Vec::new();
    for shard in described["StreamDescription"]["Shards"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let iterator = moto_http(
            "POST",
            "/",
            Some(&target("GetShardIterator")),
            &serde_json::json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}).to_string(),
        );
        let mut next = iterator["ShardIterator"].clone();
        while next.is_string() {
            let page = moto_http(
                "POST",
                "/",
                Some(&target("GetRecords")),
                &serde_json::json!({"ShardIterator": next, "Limit": 100}).to_string(),
            );
            let batch = page["Records"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for record in batch {
                // The Lambda event carries the stream record as is, plus where it came from.
                let mut event = record.clone();
                event["eventSourceARN"] = stream_arn.into();
                records.push(event);
            }
            next = page["NextShardIterator"].clone();
        }
    }
    records
}
