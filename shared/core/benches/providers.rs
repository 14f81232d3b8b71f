//! verify + parse + normalize for each provider, on the providers' own example payloads.
//! Baseline in the same run: `serde_json::from_slice::<Value>` of the same body (the cheapest
//! thing any webhook handler must do), so results read as a ratio to plain JSON parsing.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use doorstep_core::chrono::Utc;
use doorstep_core::model::Provider;
use doorstep_core::providers::{
    aftership, easypost, seventeen_track, shopify, woocommerce, InboundRequest,
};
use doorstep_core::secrets::Secrets;
use doorstep_core::signature::sign_timestamped;
use doorstep_core::webhook::{verify_and_parse, Inbound};
use std::hint::black_box;

const SECRET: &str = "bench-secret";

type Headers = Vec<(String, String)>;
/// name, provider, body, headers, query string
type CarrierCase = (
    &'static str,
    Provider,
    &'static [u8],
    Headers,
    Option<String>,
);
type StoreCase = (&'static str, Provider, &'static [u8], Headers);

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/providers/",
            $name
        ))
        .as_slice()
    };
}

fn secrets() -> Secrets {
    let mut secrets = Secrets::new();
    for name in doorstep_core::providers::registry::secret_names() {
        secrets.set(name, SECRET);
    }
    secrets
}

fn headers(pairs: &[(&str, String)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn carriers(c: &mut Criterion) {
    let secrets = secrets();
    let now = Utc::now();
    let cases: Vec<CarrierCase> = {
        let ep = fixture!("easypost_tracker_updated_in_transit.json");
        let af = fixture!("aftership_tracking_update.json");
        let sh = fixture!("shippo_track_updated.json");
        let st = fixture!("17track_tracking_updated.json");
        let ups = fixture!("ups_trackalert_out_for_delivery.json");
        let gen = fixture!("generic_carrier_update.json");
        vec![
            (
                "easypost",
                Provider::EasyPost,
                ep,
                headers(&[("x-hmac-signature", easypost::sign(SECRET, ep))]),
                None,
            ),
            (
                "aftership",
                Provider::AfterShip,
                af,
                headers(&[("aftership-hmac-sha256", aftership::sign(SECRET, af))]),
                None,
            ),
            (
                "shippo",
                Provider::Shippo,
                sh,
                vec![],
                Some(format!("token={SECRET}")),
            ),
            (
                "17track",
                Provider::SeventeenTrack,
                st,
                headers(&[("sign", seventeen_track::sign(SECRET, st))]),
                None,
            ),
            (
                "ups",
                Provider::Ups,
                ups,
                headers(&[("credential", SECRET.to_string())]),
                None,
            ),
            (
                "generic",
                Provider::Generic,
                gen,
                headers(&[(
                    "doorstep-signature",
                    sign_timestamped(SECRET.as_bytes(), gen, now.timestamp()),
                )]),
                None,
            ),
        ]
    };
    for (name, provider, body, headers, query) in &cases {
        let mut group = c.benchmark_group(format!("carrier/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("baseline_json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
        });
        group.bench_function("verify_parse_normalize", |b| {
            let req = InboundRequest {
                headers,
                query: query.as_deref(),
                body,
            };
            b.iter(|| verify_and_parse(*provider, black_box(&req), &secrets, now).unwrap())
        });
        group.finish();
    }
}

fn stores(c: &mut Criterion) {
    let secrets = secrets();
    let now = Utc::now();
    let order = fixture!("shopify_orders_create_sample.json");
    let woo = fixture!("woocommerce_order_created_rest_v3_example.json");
    let generic = fixture!("generic_store_order.json");
    let cases: Vec<StoreCase> = vec![
        (
            "shopify_orders_create",
            Provider::Shopify,
            order,
            headers(&[
                ("x-shopify-hmac-sha256", shopify::sign(SECRET, order)),
                ("x-shopify-topic", "orders/create".into()),
            ]),
        ),
        (
            "woocommerce_order_created",
            Provider::WooCommerce,
            woo,
            headers(&[
                ("x-wc-webhook-signature", woocommerce::sign(SECRET, woo)),
                ("x-wc-webhook-topic", "order.created".into()),
            ]),
        ),
        (
            "generic_order",
            Provider::GenericStore,
            generic,
            headers(&[(
                "doorstep-signature",
                sign_timestamped(SECRET.as_bytes(), generic, now.timestamp()),
            )]),
        ),
    ];
    for (name, provider, body, headers) in &cases {
        let mut group = c.benchmark_group(format!("store/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("baseline_json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
        });
        group.bench_function("verify_parse_normalize", |b| {
            let req = InboundRequest {
                headers,
                query: None,
                body,
            };
            b.iter(|| verify_and_parse(*provider, black_box(&req), &secrets, now).unwrap())
        });
        // Turning the snapshot into a customer validates the phone (`doorstep_core::phone`).
        group.bench_function("customer_from_snapshot", |b| {
            let req = InboundRequest {
                headers,
                query: None,
                body,
            };
            let Inbound::Store {
                event: doorstep_core::store_events::StoreEvent::Order(snapshot),
                ..
            } = verify_and_parse(*provider, &req, &secrets, now).unwrap()
            else {
                unreachable!()
            };
            let defaults = doorstep_core::store_events::MerchantDefaults::default();
            b.iter_batched(
                || snapshot.customer.clone(),
                |customer| {
                    customer.into_customer(snapshot.platform, &snapshot.external_id, &defaults, now)
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, carriers, stores);
criterion_main!(benches);
