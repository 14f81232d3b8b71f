//! The webhooks' secrets, read from SSM Parameter Store on moto at a cold start by our own signed
//! request (`doorstep_aws::parameter_store`): every parameter under the path, SecureStrings
//! decrypted, every page followed, Shippo's and UPS's extras mapped, a failure reported with the
//! path and without a value, and the signature accepted by a moto that verifies signatures.

use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_ssm::types::ParameterType;
use doorstep_aws::parameter_store::{ParameterStore, ParameterStoreError};
use doorstep_aws::secrets;
use doorstep_core::secrets::{Secret, DEFAULT_UPS_CLIENT_ID};
use doorstep_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static PATHS: AtomicUsize = AtomicUsize::new(0);

/// A path no other test writes under.
fn fresh_path() -> String {
    format!(
        "/doorstep-test-{}-{}/secrets",
        std::process::id(),
        PATHS.fetch_add(1, Ordering::SeqCst)
    )
}

/// The SDK's client, to write parameters with.
async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&aws_config().await)
}

/// The functions' reader, on the shared moto.
fn parameter_store() -> ParameterStore {
    let credentials = Credentials::new("testing", "testing", None, None, "tests");
    ParameterStore::new("us-east-1", credentials, Some(&moto_url())).expect("a reader")
}

async fn put(client: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .expect("put a parameter on moto");
}

#[tokio::test]
async fn every_parameter_under_the_path_is_read_across_pages() {
    let client = ssm().await;
    let path = fresh_path();
    // GetParametersByPath answers ten at most a page: 23 take three.
    for i in 0..20 {
        let kind = if i % 2 == 0 {
            ParameterType::SecureString
        } else {
            ParameterType::String
        };
        put(
            &client,
            &format!("{path}/carrier-{i}"),
            &format!("value-{i}"),
            kind,
        )
        .await;
    }
    put(
        &client,
        &format!("{path}/shippo-hmac"),
        "shippo-hmac-key",
        ParameterType::SecureString,
    )
    .await;
    put(
        &client,
        &format!("{path}/ups-client-id"),
        "merchant-ups-client",
        ParameterType::String,
    )
    .await;
    put(
        &client,
        &format!("{path}/easypost"),
        "easypost-key",
        ParameterType::SecureString,
    )
    .await;
    // A sibling path and a deeper one are not this function's secrets.
    put(
        &client,
        &format!("{path}-staging/easypost"),
        "not-these",
        ParameterType::SecureString,
    )
    .await;
    put(
        &client,
        &format!("{path}/old/easypost"),
        "not-these",
        ParameterType::SecureString,
    )
    .await;

    // The template's SecretsPath may end in a slash.
    let read = secrets::load(&parameter_store(), &format!("{path}/"))
        .await
        .expect("secrets read");

    for i in 0..20 {
        assert_eq!(
            read.get(&format!("carrier-{i}")).map(Secret::expose),
            Some(format!("value-{i}").as_str()),
            "carrier-{i}"
        );
    }
    assert_eq!(
        read.get("EASYPOST").map(Secret::expose),
        Some("easypost-key")
    );
    assert_eq!(
        read.shippo_hmac.as_ref().map(Secret::expose),
        Some("shippo-hmac-key")
    );
    assert_eq!(read.ups_client_id, "merchant-ups-client");
    assert!(
        read.get("shippo-hmac").is_none(),
        "the extras are not webhook secrets"
    );
}

#[tokio::test]
async fn a_path_with_nothing_under_it_reads_no_secrets() {
    let read = secrets::load(&parameter_store(), &fresh_path())
        .await
        .expect("an empty read");
    assert!(read.get("easypost").is_none());
    assert!(read.shippo_hmac.is_none());
    assert_eq!(read.ups_client_id, DEFAULT_UPS_CLIENT_ID);
}

#[tokio::test]
async fn an_unreachable_parameter_store_is_an_error_that_names_the_path() {
    let client = ssm().await;
    let path = fresh_path();
    put(
        &client,
        &format!("{path}/easypost"),
        "easypost-key",
        ParameterType::SecureString,
    )
    .await;
    // The same credentials and region, on a port nothing listens on: tried three times.
    let credentials = Credentials::new("testing", "testing", None, None, "tests");
    let unreachable =
        ParameterStore::new("us-east-1", credentials, Some("http://127.0.0.1:9")).unwrap();
    let error = secrets::load(&unreachable, &path)
        .await
        .expect_err("no parameter store");
    let shown = error.to_string();
    assert!(shown.contains(&path), "{shown}");
    assert!(shown.contains("did not answer"), "{shown}");
    assert!(!shown.contains("easypost-key"), "{shown}");
}

/// The moto that verifies signatures, and the key `scripts/moto_auth.py` made on it.
fn moto_checking_signatures() -> (String, String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the suite with scripts/test.sh, which starts that moto")
        })
    };
    (
        var("DOORSTEP_MOTO_AUTH_URL"),
        var("DOORSTEP_MOTO_AUTH_KEY_ID"),
        var("DOORSTEP_MOTO_AUTH_SECRET"),
    )
}

#[tokio::test]
async fn a_service_that_verifies_signatures_accepts_ours_and_refuses_a_wrong_key() {
    let (url, key_id, secret) = moto_checking_signatures();
    let store = |secret: &str| {
        let credentials = Credentials::new(key_id.clone(), secret, None, None, "tests");
        ParameterStore::new("us-east-1", credentials, Some(&url)).unwrap()
    };
    let read = secrets::load(&store(&secret), "/doorstep-auth/secrets")
        .await
        .expect("a signed read");
    assert_eq!(
        read.get("easypost").map(Secret::expose),
        Some("easypost-key")
    );

    let refused = store(&format!("{secret}x"))
        .parameters_by_path("/doorstep-auth/secrets")
        .await
        .expect_err("a wrong secret key");
    assert!(
        matches!(refused, ParameterStoreError::Refused { status: 403, .. }),
        "{refused}"
    );
}
