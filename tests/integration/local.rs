//! The local runner: real HTTP routing on the embedded store, the Lambdas' handlers inside.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use doorstep_embedded::FileOutbox;
use doorstep_local::config::LocalConfig;
use doorstep_local::{router, LocalApp};
use doorstep_tests::*;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-tests";

fn local_router() -> axum::Router {
    router(local_app())
}

pub fn local_app() -> Arc<LocalApp> {
    local_app_with(doorstep_core::settings::Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://shop.example.com".into(),
        default_timezone: "Asia/Bangkok".into(),
        ..Default::default()
    })
}

/// The runner on a fresh in-memory database with these settings.
pub fn local_app_with(settings: doorstep_core::settings::Settings) -> Arc<LocalApp> {
    // Under the build's own scratch directory, which scripts/test.sh empties, not the system's /tmp,
    // where a file per test per run would pile up.
    let outboxes = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("outboxes");
    std::fs::create_dir_all(&outboxes).unwrap();
    let outbox = outboxes.join(format!("{}.jsonl", doorstep_core::ids::random_token()));
    let mut config = config();
    config.settings = settings.clone();
    Arc::new(LocalApp::new(
        Arc::new(sqlite_store()),
        config,
        settings,
        FileOutbox::new(outbox),
        ADMIN,
    ))
}

pub async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub fn post(path: &str, headers: &[(String, String)], body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(path);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(body)).unwrap()
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_signed_shopify_order_and_carrier_events_are_read_back_through_the_api() {
    let router = local_router();
    let order = fixture("shopify_orders_create_sample.json");
    let headers = store_headers("shopify", Some("orders/create"), Some("l-1"), &order);
    assert_eq!(
        send(&router, post("/webhooks/stores/shopify", &headers, order))
            .await
            .0,
        StatusCode::OK
    );
    let fulfilment = fixture("shopify_fulfillments_update_sample.json");
    let headers = store_headers(
        "shopify",
        Some("fulfillments/create"),
        Some("l-2"),
        &fulfilment,
    );
    assert_eq!(
        send(
            &router,
            post("/webhooks/stores/shopify", &headers, fulfilment)
        )
        .await
        .0,
        StatusCode::OK
    );
    let ups = br#"{"trackingNumber":"1Z827WK74630","gmtActivityDate":"20240423","gmtActivityTime":"131519","localActivityDate":"20240423","localActivityTime":"091519","activityStatus":{"type":"I","code":"OT","description":"Out for Delivery"},"scheduledDeliveryDate":"20240423"}"#.to_vec();
    let (auth, _) = carrier_auth("ups", &ups);
    assert_eq!(
        send(&router, post("/webhooks/carriers/ups", &auth, ups))
            .await
            .0,
        StatusCode::OK
    );

    let (status, json) = send(&router, get("/api/shipments/ups/1z827wk74630", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["carrier"], "ups");
    assert_eq!(json["tracking_number"], "1Z827WK74630");
    assert_eq!(json["status"], "out_for_delivery");
    assert_eq!(json["order_id"], "shopify:820982911946154508");
    assert_eq!(json["estimated_delivery"], "2024-04-23");
    assert!(json["tracking_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 22));
    let event = &json["events"][0];
    assert_eq!(event["status"], "out_for_delivery");
    assert_eq!(event["occurred_at"], "2024-04-23T13:15:19+00:00");
    assert!(event["description"]
        .as_str()
        .unwrap()
        .starts_with("Out for Delivery"));
    assert_eq!(event["location"], Value::Null);
}

#[tokio::test]
async fn the_read_api_wants_the_admin_token_and_says_404_for_unknown_parcels() {
    let router = local_router();
    assert_eq!(
        send(&router, get("/api/shipments/ups/1Z1", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&router, get("/api/shipments/ups/1Z1", Some("wrong")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, json) = send(&router, get("/api/shipments/ups/1Z1", Some(ADMIN))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json["error"].is_string());
}

#[tokio::test]
async fn unsigned_requests_are_refused_by_the_runner_too() {
    let router = local_router();
    let body = fixture("ups_trackalert_delivered.json");
    let (status, _) = send(&router, post("/webhooks/carriers/ups", &[], body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&router, post("/webhooks/stores/nope", &[], b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn secrets_are_generated_once_then_kept_in_the_data_dir() {
    let dir = std::env::temp_dir().join(format!("doorstep-local-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let env = |overrides: Vec<(&'static str, String)>| {
        let dir = dir.clone();
        move |name: &str| -> Option<String> {
            if name == "DOORSTEP_DATA_DIR" {
                return Some(dir.display().to_string());
            }
            overrides
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    };
    let first =
        LocalConfig::load(env(vec![("DOORSTEP_SECRET_SHOPIFY", "from-env".into())])).unwrap();
    assert_eq!(first.port, 3000);
    assert_eq!(
        first.secrets.get("SHOPIFY").map(|s| s.expose()),
        Some("from-env")
    );
    let generated: Vec<_> = first
        .generated
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(generated.contains(&"DOORSTEP_SECRET_EASYPOST"));
    assert!(generated.contains(&"DOORSTEP_ADMIN_TOKEN"));
    assert!(
        !generated.contains(&"DOORSTEP_SECRET_SHOPIFY"),
        "a secret from the environment is not generated"
    );
    let second = LocalConfig::load(env(vec![("DOORSTEP_PORT", "4010".into())])).unwrap();
    assert!(
        second
            .generated
            .iter()
            .all(|(name, _)| name == "DOORSTEP_SECRET_SHOPIFY"),
        "only the one never stored"
    );
    assert_eq!(second.port, 4010);
    assert_eq!(
        second.secrets.get("EASYPOST"),
        first.secrets.get("EASYPOST")
    );
    assert_eq!(second.admin_token, first.admin_token);
    assert!(LocalConfig::load(env(vec![("DOORSTEP_PORT", "http".into())])).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merchant_settings_come_from_the_toml_file_named_by_doorstep_config() {
    let dir = std::env::temp_dir().join(format!("doorstep-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doorstep.toml");
    std::fs::write(
        &file,
        r#"
brand = "Baan Shop"
sender_email = "orders@baan.example"
public_base_url = "https://track.baan.example"
default_timezone = "Asia/Bangkok"
default_locale = "th"
quiet_hours = { start = "22:00", end = "07:30" }
sms_max_segments = 3
template_dir = "/srv/templates"

[channels]
shipped = ["email", "sms"]
"#,
    )
    .unwrap();
    let env = |extra: Vec<(&'static str, String)>| {
        let (dir, file) = (dir.clone(), file.clone());
        move |name: &str| -> Option<String> {
            match name {
                "DOORSTEP_DATA_DIR" => Some(dir.display().to_string()),
                "DOORSTEP_CONFIG" => Some(file.display().to_string()),
                other => extra
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map(|(_, v)| v.clone()),
            }
        }
    };
    let config = LocalConfig::load(env(vec![])).unwrap();
    let s = &config.settings;
    assert_eq!(
        (s.brand.as_str(), s.sender_email.as_str()),
        ("Baan Shop", "orders@baan.example")
    );
    assert_eq!(s.public_base_url, "https://track.baan.example");
    assert_eq!(
        (
            config.defaults.timezone.as_str(),
            config.defaults.locale.as_str()
        ),
        ("Asia/Bangkok", "th")
    );
    let quiet = s.quiet_hours.unwrap();
    assert_eq!(
        (quiet.start.to_string(), quiet.end.to_string()),
        ("22:00:00".into(), "07:30:00".into())
    );
    assert_eq!(s.sms_max_segments, 3);
    assert_eq!(
        s.template_dir.as_deref(),
        Some(std::path::Path::new("/srv/templates"))
    );
    use doorstep_core::notify::milestones::Milestone;
    use doorstep_core::notify::settings::Channel;
    assert_eq!(
        s.channels_for(Milestone::Shipped.into()),
        vec![Channel::Email, Channel::Sms]
    );
    assert_eq!(
        s.channels_for(Milestone::Delayed.into()),
        vec![Channel::Email],
        "unlisted milestones keep the defaults"
    );
    // The environment wins for the defaults the webhooks share.
    let overridden = LocalConfig::load(env(vec![(
        "DOORSTEP_DEFAULT_TIMEZONE",
        "Europe/London".into(),
    )]))
    .unwrap();
    assert_eq!(overridden.defaults.timezone, "Europe/London");
    // A typo is an error with the file's name, not a silent default.
    std::fs::write(&file, "brnad = \"x\"\n").unwrap();
    let error = LocalConfig::load(env(vec![])).unwrap_err().to_string();
    assert!(
        error.contains("doorstep.toml") && error.contains("brnad"),
        "{error}"
    );
    std::fs::write(&file, "default_timezone = \"Mars/Olympus\"\n").unwrap();
    assert!(LocalConfig::load(env(vec![])).is_err());
    // Without a file: defaults, links on the runner's own port.
    let plain = LocalConfig::load(|name: &str| {
        (name == "DOORSTEP_DATA_DIR").then(|| dir.display().to_string())
    })
    .unwrap();
    assert_eq!(plain.settings.public_base_url, "http://127.0.0.1:3000");
    std::fs::remove_dir_all(&dir).unwrap();
}
