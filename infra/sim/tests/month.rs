//! The simulator as CI runs it: a small seeded month must keep every shopper-trust property.
//! Nothing here is timed; speed and cost are reported, not asserted.

use doorstep_sim::{run, Config};
use serde_json::Value;

fn config(
    orders: usize,
    days: i64,
    seed: u64,
    aws: Option<String>,
) -> (Config, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!(
        "doorstep-sim-test-{}-{seed}-{}",
        std::process::id(),
        aws.is_some()
    ));
    let config = Config {
        orders,
        days,
        seed,
        out: out.clone(),
        aws,
        end: None,
    };
    (config, out)
}

fn written_report(out: &std::path::Path) -> Value {
    let json = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html written");
    assert!(html.contains("<svg"), "the HTML report draws its charts");
    serde_json::from_str(&json).expect("report.json is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_month_of_1000_orders_on_sqlite_keeps_every_trust_property() {
    // Seed 1's month has a review request that falls back to SMS (the customer's email cannot
    // be used): before that template existed it failed the review-request job, which the report
    // counts among its failures.
    let (config, out) = config(1_000, 30, 1, None);
    let report = run(&config).await.expect("the month runs");

    assert_eq!(report.trust_violations, 0, "{:#?}", report.trust);
    assert!(
        report.failures.is_empty(),
        "nothing fails inside the stack: {:#?}",
        report.failures
    );
    assert!(
        report.requests_refused.is_empty(),
        "every generated request is valid: {:?}",
        report.requests_refused
    );
    assert_eq!(report.orders, 1_000);
    assert!(
        report.shipments >= report.orders,
        "split orders add parcels"
    );
    assert!(
        report.messages_sent > report.shipments,
        "milestones were announced"
    );
    assert!(report.messages_per_shipment.median >= 1.0);
    assert!(report.events > 0 && report.events_per_second > 0.0);

    let json = written_report(&out);
    for field in [
        "orders",
        "shipments",
        "events_per_second",
        "trust",
        "messages_per_shipment",
        "storage_calls_per_shipment",
        "failures",
    ] {
        assert!(json.get(field).is_some(), "report.json lacks {field}");
    }
    for field in [
        "sms_in_quiet_hours",
        "marketing_without_consent",
        "promotions_after_bad_review",
        "failed_attempts_without_choice_link",
    ] {
        assert_eq!(json["trust"][field], 0, "{field}");
    }
    assert!(
        json["messages_per_shipment"]["p95"].as_f64()
            >= json["messages_per_shipment"]["median"].as_f64()
    );
    assert!(json.get("cost").is_none(), "cost is measured on --aws only");
    let _ = std::fs::remove_dir_all(out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_month_on_dynamodb_is_metered_and_priced() {
    let moto = std::env::var("DOORSTEP_MOTO_URL").unwrap_or_else(|_| {
        panic!("DOORSTEP_MOTO_URL is not set: run the suite with scripts/test.sh, which installs and starts moto")
    });
    let (config, out) = config(25, 3, 5, Some(moto));
    let report = run(&config).await.expect("the month runs on moto");

    assert_eq!(report.trust_violations, 0, "{:#?}", report.trust);
    assert!(
        report.failures.is_empty(),
        "nothing fails inside the stack: {:#?}",
        report.failures
    );
    assert!(
        report.requests_refused.is_empty(),
        "{:?}",
        report.requests_refused
    );
    let json = written_report(&out);
    let cost = &json["cost"];
    for field in [
        "per_1000_shipments_usd",
        "dynamodb_wru_per_shipment",
        "dynamodb_rru_per_shipment",
        "lambda_invocations_per_shipment",
    ] {
        let value = cost[field].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0, "{field} is measured: {value}");
    }
    // GB-seconds come from each function's handler time, reported by function.
    let invoked = json["lambda_invocations"].as_object().expect("invocations");
    let millis = json["lambda_ms"]
        .as_object()
        .expect("handler time by function");
    for (function, count) in invoked {
        let ms = millis.get(function).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let count = count.as_f64().unwrap_or(0.0);
        assert!(
            ms >= count,
            "{function}: {ms} ms for {count} invocations (each bills 1 ms at least)"
        );
    }
    // The arithmetic is shown: the lines in the goal add up to the price.
    let lines: f64 = cost["lines"]
        .as_array()
        .expect("cost lines")
        .iter()
        .filter(|l| {
            !l["item"]
                .as_str()
                .unwrap_or_default()
                .contains("not in the goal")
        })
        .filter_map(|l| l["per_1000_usd"].as_f64())
        .sum();
    let total = cost["per_1000_shipments_usd"].as_f64().unwrap_or_default();
    assert!(
        (lines - total).abs() < 1e-9 + total * 1e-6,
        "{lines} vs {total}"
    );
    let _ = std::fs::remove_dir_all(out);
}

/// What the simulation assumes of the stack is what template.yaml deploys: the notifier's
/// stream batch size, and the entities its stream filter passes.
#[test]
fn the_simulated_stream_is_the_templates() {
    let template = std::fs::read_to_string(format!(
        "{}/../../template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mapping = &template[template.find("Stream: !GetAtt Table.StreamArn").unwrap()..];
    let mapping = &mapping[..mapping.find("Policies:").unwrap()];
    assert!(
        mapping.contains(&format!(
            "BatchSize: {}\n",
            doorstep_sim::stack::NOTIFIER_BATCH_SIZE
        )),
        "{mapping}"
    );
    for entity in doorstep_aws::schema::NOTIFIER_ENTITIES {
        assert!(
            mapping.contains(&format!("\"{entity}\"")),
            "{entity}: {mapping}"
        );
    }
    let marked = doorstep_aws::schema::NOTIFIER_ENTITIES_WHEN_MARKED
        .iter()
        .map(|entity| format!("\"{entity}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let marked = format!(
        "{{\"entity\": {{\"S\": [{marked}]}}, \"{}\": {{\"BOOL\": [true]}}}}",
        doorstep_aws::dynamo::NOTIFY_ATTRIBUTE
    );
    assert!(mapping.contains(&marked), "{marked}: {mapping}");
    let record = |entity: &str, notify: Option<bool>| {
        let mut image = serde_json::json!({"entity": {"S": entity}});
        if let Some(notify) = notify {
            image["notify"] = serde_json::json!({"BOOL": notify});
        }
        serde_json::json!({"eventName": "MODIFY", "dynamodb": {"NewImage": image}})
    };
    use doorstep_aws::schema::notifier_filter_passes as passes_filter;
    assert!(passes_filter(&record("shipment", Some(true))));
    assert!(!passes_filter(&record("shipment", None)));
    assert!(!passes_filter(&record("shipment", Some(false))));
    assert!(!passes_filter(&record("order", None)));
    assert!(passes_filter(&record("loyalty", Some(true))));
    assert!(passes_filter(&record("review", None)));
    assert!(!passes_filter(&record("message_claim", None)));
}

/// `--end` names the month, so a figure can be run again on another day: the same seed and end
/// give the same shoppers and the same decisions. March 2026 holds the US and UK clock changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_named_by_its_end_day_is_the_same_month_whenever_it_runs() {
    let end = doorstep_core::chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let mut seen = Vec::new();
    for run_number in 0..2u64 {
        let (mut config, out) = config(150, 30, 7, None);
        config.out = out.with_extension(format!("end-{run_number}"));
        config.end = Some(end);
        let report = run(&config).await.expect("the month runs");
        assert_eq!(report.end, end);
        assert_eq!(report.trust_violations, 0, "{:#?}", report.trust);
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        seen.push((
            report.shipments,
            report.events,
            report.messages_sent,
            report.messages_suppressed,
            report.messages,
        ));
    }
    assert_eq!(seen[0], seen[1]);
}
