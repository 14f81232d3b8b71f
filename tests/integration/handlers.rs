//! The carrier webhook Lambda, driven by API Gateway v2 event JSON carrying each provider's payload.

use carrier_webhook::{handle, App};
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::ports::Store;
use doorstep_core::signature::sign_timestamped;
use doorstep_tests::*;
use serde_json::Value;
use std::sync::Arc;

fn app() -> (App, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    (
        App {
            store: store.clone(),
            config: config(),
        },
        store,
    )
}

async fn shipment(store: &dyn Store, carrier: &str, tracking: &str) -> Option<Value> {
    let s = store
        .get_shipment(
            &CarrierSlug::parse(carrier).unwrap(),
            &TrackingNumber::parse(tracking).unwrap(),
        )
        .await
        .unwrap()?;
    Some(doorstep_core::api::shipment_json(&s))
}

/// Strips the final newline some published fixtures end with (signatures cover the exact bytes).
fn body(name: &str) -> Vec<u8> {
    let mut bytes = fixture(name);
    while bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

/// Changes a signature's last character to a different digit (never just its case).
fn tamper(value: &str) -> String {
    let last = if value.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &value[..value.len() - 1])
}

async fn post(app: &App, provider: &str, name: &str) -> (u16, Value) {
    status_and_json(handle(app, carrier_event(provider, &body(name))).await)
}

#[tokio::test]
async fn easypost_sdk_test_vector_verifies_and_its_history_is_applied() {
    let (app, store) = app();
    let body = body("easypost_tracker_updated_in_transit.json");
    assert_eq!(body.len(), 3550);
    let expected =
        "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db";
    assert_eq!(
        doorstep_core::providers::easypost::sign(EASYPOST_SECRET, &body),
        expected
    );
    let headers = vec![("X-Hmac-Signature".to_string(), expected.to_string())];
    let event = apigw_event(
        "POST",
        "/webhooks/carriers/{provider}",
        "/webhooks/carriers/easypost",
        &[("provider", "easypost")],
        &headers,
        None,
        &body,
    );
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(status, 200, "{json}");
    let s = shipment(store.as_ref(), "fedex", "1").await.unwrap();
    assert_eq!(s["status"], "in_transit");
    assert_eq!(s["estimated_delivery"], "2024-08-05");
    assert_eq!(s["events"].as_array().unwrap().len(), 7);
    assert_eq!(s["events"][0]["status"], "info_received");
    assert_eq!(s["events"][6]["location"], "EDISON, NJ, US");
    assert_eq!(s["order_id"], Value::Null);
    assert!(
        s["tracking_token"].as_str().unwrap().len() >= 22,
        "at least 128 bits"
    );
}

#[tokio::test]
async fn through_the_function_url_every_carrier_lands_as_through_the_api() {
    let (app, store) = app();
    for (provider, name, carrier, tracking) in [
        (
            "easypost",
            "easypost_tracker_updated_in_transit.json",
            "fedex",
            "1",
        ),
        (
            "generic",
            "generic_carrier_update.json",
            "kerry-logistics",
            "KEX12345678TH",
        ),
    ] {
        let body = body(name);
        let (headers, query) = carrier_auth(provider, &body);
        let path = format!("/webhooks/carriers/{provider}");
        let event = function_url_event(&path, &headers, query.as_deref(), &body);
        let (status, json) = status_and_json(handle(&app, event).await);
        assert_eq!(status, 200, "{provider}: {json}");
        assert!(
            shipment(store.as_ref(), carrier, tracking).await.is_some(),
            "{provider}"
        );
    }
    // Wrongly signed: refused, nothing written.
    let body = body("easypost_tracker_updated_in_transit.json");
    let (app, store) = self::app();
    let headers = vec![(
        "X-Hmac-Signature".to_string(),
        tamper(&doorstep_core::providers::easypost::sign(
            EASYPOST_SECRET,
            &body,
        )),
    )];
    let event = function_url_event("/webhooks/carriers/easypost", &headers, None, &body);
    assert_eq!(status_and_json(handle(&app, event).await).0, 401);
    assert!(shipment(store.as_ref(), "fedex", "1").await.is_none());
    // A path the function does not serve is a 404 that names it.
    let event = function_url_event("/webhooks/stores/shopify", &[], None, b"{}");
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(
        (status, json["error"].as_str()),
        (404, Some("no route $default"))
    );
}

#[tokio::test]
async fn easypost_rejects_a_secret_keyed_in_nfc_form_and_a_missing_header() {
    let (app, store) = app();
    let body = body("easypost_tracker_updated_in_transit.json");
    // "sécret" precomposed (NFC) keys a different HMAC than EasyPost's NFKD form.
    let nfc = format!(
        "hmac-sha256-hex={}",
        hex::encode(doorstep_core::signature::hmac_sha256(
            "s\u{e9}cret".as_bytes(),
            &[&body]
        ))
    );
    for headers in [vec![("X-Hmac-Signature".to_string(), nfc)], vec![]] {
        let event = apigw_event(
            "POST",
            "/webhooks/carriers/{provider}",
            "/webhooks/carriers/easypost",
            &[("provider", "easypost")],
            &headers,
            None,
            &body,
        );
        let (status, json) = status_and_json(handle(&app, event).await);
        assert_eq!(status, 401, "{json}");
        assert!(json["error"].as_str().unwrap().starts_with("unauthorized"));
    }
    assert!(
        shipment(store.as_ref(), "fedex", "1").await.is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn every_carrier_fixture_lands_on_the_right_status() {
    let (app, store) = app();
    let cases = [
        (
            "easypost",
            "easypost_tracker_updated_delivered.json",
            "ups",
            "EZ4000000004",
            "delivered",
        ),
        (
            "aftership",
            "aftership_tracking_update.json",
            "ups",
            "1Z0X118A0324011023",
            "out_for_delivery",
        ),
        (
            "shippo",
            "shippo_track_updated.json",
            "usps",
            "9205590164917312751089",
            "delivered",
        ),
        (
            "17track",
            "17track_tracking_updated.json",
            "china-post",
            "RR123456789CN",
            "delivered",
        ),
        (
            "ups",
            "ups_trackalert_out_for_delivery.json",
            "ups",
            "1Z204W4R0308071865",
            "out_for_delivery",
        ),
        (
            "generic",
            "generic_carrier_update.json",
            "kerry-logistics",
            "KEX12345678TH",
            "failed_attempt",
        ),
    ];
    for (provider, file, carrier, tracking, expected) in cases {
        let (status, json) = post(&app, provider, file).await;
        assert_eq!(status, 200, "{provider}: {json}");
        assert_eq!(json["updates"][0]["result"], "applied", "{provider}");
        let s = shipment(store.as_ref(), carrier, tracking)
            .await
            .unwrap_or_else(|| panic!("{provider}: no shipment"));
        assert_eq!(s["status"], expected, "{provider}");
        for event in s["events"].as_array().unwrap() {
            let at = event["occurred_at"].as_str().unwrap();
            assert!(
                doorstep_core::chrono::DateTime::parse_from_rfc3339(at).is_ok(),
                "{provider}: {at}"
            );
        }
    }
    let generic = shipment(store.as_ref(), "kerry-logistics", "KEX12345678TH")
        .await
        .unwrap();
    assert_eq!(generic["reason"], "recipient");
    let seventeen = shipment(store.as_ref(), "china-post", "RR123456789CN")
        .await
        .unwrap();
    assert_eq!(seventeen["estimated_delivery"], "2024-05-04");
    assert_eq!(seventeen["events"].as_array().unwrap().len(), 3);
    // UPS: the delivery follows the out-for-delivery scan, with GMT as the instant.
    let (status, _) = post(&app, "ups", "ups_trackalert_delivered.json").await;
    assert_eq!(status, 200);
    let ups = shipment(store.as_ref(), "ups", "1Z204W4R0308071865")
        .await
        .unwrap();
    assert_eq!(ups["status"], "delivered");
    assert_eq!(ups["events"][1]["occurred_at"], "2024-04-23T13:50:04+00:00");
    assert!(ups["events"][1]["description"]
        .as_str()
        .unwrap()
        .contains("local time 2024-04-23 09:50"));
}

#[tokio::test]
async fn aftership_dedupes_on_event_id_and_revises_the_estimate() {
    let (app, store) = app();
    assert_eq!(
        post(&app, "aftership", "aftership_tracking_update.json")
            .await
            .0,
        200
    );
    let (status, json) = post(&app, "aftership", "aftership_tracking_update.json").await;
    assert_eq!(status, 200);
    assert_ne!(
        json["updates"][0]["result"], "applied",
        "a redelivery changes nothing"
    );
    let (status, json) = post(&app, "aftership", "aftership_edd_revise.json").await;
    assert_eq!(
        (status, &json["updates"][0]["result"]),
        (200, &Value::from("applied")),
        "{json}"
    );
    let s = shipment(store.as_ref(), "ups", "1Z0X118A0324011023")
        .await
        .unwrap();
    assert_eq!(s["estimated_delivery"], "2024-05-06");
    assert_eq!(s["original_estimated_delivery"], "2024-05-03");
    assert_eq!(s["events"].as_array().unwrap().len(), 3);
    assert_eq!(s["status"], "out_for_delivery");
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_401_and_writes_nothing() {
    let (app, store) = app();
    let cases = [
        (
            "easypost",
            "easypost_tracker_updated_delivered.json",
            "x-hmac-signature",
        ),
        (
            "aftership",
            "aftership_tracking_update.json",
            "aftership-hmac-sha256",
        ),
        ("17track", "17track_tracking_updated.json", "sign"),
        ("ups", "ups_trackalert_delivered.json", "credential"),
        (
            "generic",
            "generic_carrier_update.json",
            "doorstep-signature",
        ),
    ];
    for (provider, file, header) in cases {
        let body = body(file);
        let (headers, query) = carrier_auth(provider, &body);
        let tampered: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k.eq_ignore_ascii_case(header) {
                        tamper(v)
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        for headers in [tampered, vec![]] {
            let path = format!("/webhooks/carriers/{provider}");
            let event = apigw_event(
                "POST",
                "/webhooks/carriers/{provider}",
                &path,
                &[("provider", provider)],
                &headers,
                query.as_deref(),
                &body,
            );
            let (status, json) = status_and_json(handle(&app, event).await);
            assert_eq!(status, 401, "{provider}: {json}");
            assert!(json["error"].is_string());
        }
    }
    // Shippo: a wrong token.
    let body = body("shippo_track_updated.json");
    let event = apigw_event(
        "POST",
        "/webhooks/carriers/{provider}",
        "/webhooks/carriers/shippo",
        &[("provider", "shippo")],
        &[],
        Some("token=wrong"),
        &body,
    );
    assert_eq!(status_and_json(handle(&app, event).await).0, 401);
    for (carrier, tracking) in [
        ("ups", "EZ4000000004"),
        ("ups", "1Z0X118A0324011023"),
        ("usps", "9205590164917312751089"),
        ("ups", "1Z204W4R0308071865"),
    ] {
        assert!(
            shipment(store.as_ref(), carrier, tracking).await.is_none(),
            "{carrier} {tracking} written"
        );
    }
    assert!(store
        .find_shipments(&TrackingNumber::parse("RR123456789CN").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_replayed_generic_delivery_outside_the_window_is_refused() {
    let (app, _) = app();
    let body = body("generic_carrier_update.json");
    let old = sign_timestamped(SECRET.as_bytes(), &body, now_unix() - 3600);
    let headers = vec![("Doorstep-Signature".to_string(), old)];
    let event = apigw_event(
        "POST",
        "/webhooks/carriers/{provider}",
        "/webhooks/carriers/generic",
        &[("provider", "generic")],
        &headers,
        None,
        &body,
    );
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(status, 401);
    assert!(json["error"].as_str().unwrap().contains("window"), "{json}");
}

#[tokio::test]
async fn shippo_requires_its_hmac_header_when_one_is_configured() {
    let store: Arc<dyn Store> = Arc::new(sqlite_store());
    let mut config = config();
    config.secrets.shippo_hmac = Some(doorstep_core::secrets::Secret::new("shippo-hmac-secret"));
    let app = App { store, config };
    let body = body("shippo_track_updated.json");
    let query = Some(format!("token={SECRET}"));
    let send = |headers: Vec<(String, String)>| {
        apigw_event(
            "POST",
            "/webhooks/carriers/{provider}",
            "/webhooks/carriers/shippo",
            &[("provider", "shippo")],
            &headers,
            query.as_deref(),
            &body,
        )
    };
    assert_eq!(
        status_and_json(handle(&app, send(vec![])).await).0,
        401,
        "token alone is not enough"
    );
    let stale = sign_timestamped(b"shippo-hmac-secret", &body, now_unix() - 3600);
    assert_eq!(
        status_and_json(handle(&app, send(vec![("Shippo-Auth-Signature".into(), stale)])).await).0,
        401
    );
    let fresh = sign_timestamped(b"shippo-hmac-secret", &body, now_unix());
    assert_eq!(
        status_and_json(handle(&app, send(vec![("Shippo-Auth-Signature".into(), fresh)])).await).0,
        200
    );
}

#[tokio::test]
async fn malformed_unknown_and_oversized_payloads_get_clear_errors() {
    let (app, _) = app();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("easypost", body("easypost_event_tracker_updated_no_result.json"), 400, "result"),
        ("aftership", b"{not json".to_vec(), 400, "JSON"),
        ("aftership", br#"{"event":"tracking_pending_time","msg":{}}"#.to_vec(), 400, "unsupported event type"),
        ("generic", br#"{"carrier":"ups","tracking_number":"1Z1","events":[{"status":"teleported","occurred_at":"2024-01-01T00:00:00Z"}]}"#.to_vec(), 400, "unknown status"),
        ("generic", br#"{"carrier":"ups","tracking_number":"1Z1","events":[],"extra":1}"#.to_vec(), 400, "unknown field"),
        ("17track", br#"{"event":"TRACKING_STOPPED","data":{}}"#.to_vec(), 400, "unsupported"),
        ("ups", br#"{"trackingNumber":"1Z9","activityStatus":{"type":"Q"},"gmtActivityDate":"20240101","gmtActivityTime":"000000"}"#.to_vec(), 400, "unknown status"),
        ("generic", vec![b' '; doorstep_core::webhook::MAX_BODY_BYTES + 1], 413, "exceeds"),
    ];
    for (provider, body, expected, reason) in cases {
        let (status, json) = status_and_json(handle(&app, carrier_event(provider, &body)).await);
        assert_eq!(status, expected, "{provider}: {json}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{provider}: '{error}' should mention '{reason}'"
        );
    }
    let event = apigw_event(
        "POST",
        "/webhooks/carriers/{provider}",
        "/webhooks/carriers/fedex",
        &[("provider", "fedex")],
        &[],
        None,
        b"{}",
    );
    let (status, json) = status_and_json(handle(&app, event).await);
    assert_eq!(status, 404, "{json}");
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded_before_verification() {
    let (app, store) = app();
    let body = body("ups_trackalert_delivered.json");
    let mut json = doorstep_apigw::event_json(
        "POST",
        "/webhooks/carriers/{provider}",
        "/webhooks/carriers/ups",
        &[("provider", "ups")],
        &[("credential".into(), SECRET.into())],
        None,
        &body,
    );
    use base64::Engine;
    json["body"] = base64::engine::general_purpose::STANDARD
        .encode(&body)
        .into();
    json["isBase64Encoded"] = true.into();
    let (status, _) = status_and_json(handle(&app, serde_json::from_value(json).unwrap()).await);
    assert_eq!(status, 200);
    assert!(shipment(store.as_ref(), "ups", "1Z204W4R0308071865")
        .await
        .is_some());
}

fn token_request(
    authorization: Option<String>,
    form: &str,
) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    let mut headers = vec![(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    if let Some(a) = authorization {
        headers.push(("authorization".into(), a));
    }
    apigw_event(
        "POST",
        "/webhooks/carriers/ups/token",
        "/webhooks/carriers/ups/token",
        &[],
        &headers,
        None,
        form.as_bytes(),
    )
}

#[tokio::test]
async fn ups_v2_gets_a_bearer_token_by_client_credentials_and_uses_it() {
    let (app, store) = app();
    use base64::Engine;
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let (status, json) = status_and_json(
        handle(
            &app,
            token_request(
                Some(basic(UPS_CLIENT_ID, SECRET)),
                "grant_type=client_credentials",
            ),
        )
        .await,
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    let token = json["access_token"].as_str().unwrap().to_string();

    let form =
        format!("grant_type=client_credentials&client_id={UPS_CLIENT_ID}&client_secret={SECRET}");
    assert_eq!(
        status_and_json(handle(&app, token_request(None, &form)).await).0,
        200,
        "credentials in the form work too"
    );
    assert_eq!(
        status_and_json(
            handle(
                &app,
                token_request(
                    Some(basic(UPS_CLIENT_ID, "nope")),
                    "grant_type=client_credentials"
                )
            )
            .await
        )
        .0,
        401
    );
    assert_eq!(
        status_and_json(
            handle(
                &app,
                token_request(
                    Some(basic("someone", SECRET)),
                    "grant_type=client_credentials"
                )
            )
            .await
        )
        .0,
        401
    );
    assert_eq!(
        status_and_json(
            handle(
                &app,
                token_request(Some(basic(UPS_CLIENT_ID, SECRET)), "grant_type=password")
            )
            .await
        )
        .0,
        400
    );

    let body = body("ups_trackalert_out_for_delivery.json");
    let send = |auth: String| {
        let headers = vec![
            ("authorization".to_string(), auth),
            ("x-api-key".to_string(), UPS_CLIENT_ID.to_string()),
        ];
        apigw_event(
            "POST",
            "/webhooks/carriers/{provider}",
            "/webhooks/carriers/ups",
            &[("provider", "ups")],
            &headers,
            None,
            &body,
        )
    };
    assert_eq!(
        status_and_json(handle(&app, send(format!("Bearer {token}x"))).await).0,
        401
    );
    let (expired, _) = doorstep_core::providers::ups::issue_token(SECRET, now_unix() - 7200);
    assert_eq!(
        status_and_json(handle(&app, send(format!("Bearer {expired}"))).await).0,
        401
    );
    assert!(shipment(store.as_ref(), "ups", "1Z204W4R0308071865")
        .await
        .is_none());
    assert_eq!(
        status_and_json(handle(&app, send(format!("Bearer {token}"))).await).0,
        200
    );
    assert_eq!(
        shipment(store.as_ref(), "ups", "1Z204W4R0308071865")
            .await
            .unwrap()["status"],
        "out_for_delivery"
    );
}

#[tokio::test]
async fn a_storage_failure_is_a_503_so_the_sender_retries() {
    // A real DynamoDB error: the table does not exist on the moto server.
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let store: Arc<dyn Store> = Arc::new(doorstep_aws::DynamoStore::new(client, "no-such-table"));
    let app = App {
        store,
        config: config(),
    };
    let (status, json) = status_and_json(
        handle(
            &app,
            carrier_event("ups", &body("ups_trackalert_delivered.json")),
        )
        .await,
    );
    assert_eq!(status, 503, "{json}");
    assert!(json["error"].as_str().unwrap().contains("retry"));
}
