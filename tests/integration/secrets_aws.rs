//! The webhooks' secrets, read from SSM Parameter Store on moto at a cold start: every parameter
//! under the path, SecureStrings decrypted, every page followed, Shippo's and UPS's extras mapped,
//! and a failure reported with the path and without a value.

use aws_sdk_ssm::types::ParameterType;
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

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&aws_config().await)
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
    let read = secrets::load(&client, &format!("{path}/"))
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
    let read = secrets::load(&ssm().await, &fresh_path())
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
    // The same credentials and region, on a port nothing listens on.
    let config = aws_sdk_ssm::config::Builder::from(&aws_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let error = secrets::load(&aws_sdk_ssm::Client::from_conf(config), &path)
        .await
        .expect_err("no parameter store");
    let shown = error.to_string();
    assert!(shown.contains(&path), "{shown}");
    assert!(!shown.contains("easypost-key"), "{shown}");
}
