//! Crash recovery of the real `doorstep-local` binary: SIGKILL between a message's claim and its
//! send, and SIGKILL again and again in the middle of a burst of deliveries (30% duplicates, in
//! shuffled order). After each restart on the same data dir: every acknowledged delivery is there,
//! final statuses are right, every message that is due went out, and none went out twice.
//!
//! (Which early milestones a shuffled parcel reaches depends on whether the notifier sees its
//! scans before or after its order arrives, a race of timing rather than of crashes; the
//! confirmation and the delivery are due in every ordering.)

use doorstep_core::signature::sign_timestamped;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{http, Runner};

mod support;

/// Quiet hours off: every message is due at once, whatever the wall clock says.
const SETTINGS: &str = "quiet_hours = { start = \"00:00\", end = \"00:00\" }\n";

/// Starts the runner with the crash tests' secrets; `send_delay_ms` holds every send that long.
fn start(runner: &mut Runner, send_delay_ms: u64) {
    let delay = send_delay_ms.to_string();
    runner.start_with(&[
        ("DOORSTEP_SECRET_GENERIC", SECRET),
        ("DOORSTEP_ADMIN_TOKEN", ADMIN),
        ("DOORSTEP_CLAIM_LEASE_S", "2"),
        ("DOORSTEP_TEST_SEND_DELAY_MS", &delay),
    ]);
}

const SECRET: &str = "crash-test-secret";
const ADMIN: &str = "crash-test-admin";

/// A small, seeded random source (xorshift), so a failure can be replayed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A signed delivery to one of the generic routes.
#[derive(Clone)]
struct Delivery {
    path: &'static str,
    body: Vec<u8>,
}

impl Delivery {
    fn post(&self, port: u16) -> std::io::Result<(u16, Value)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = sign_timestamped(SECRET.as_bytes(), &self.body, now);
        let headers = [
            ("Doorstep-Signature".to_string(), signature),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        http(port, "POST", self.path, &headers, &self.body)
    }
}

fn tracking(order: usize) -> String {
    format!("KEX{order:06}TH")
}

/// Each order's deliveries: the order, its fulfilment, and four carrier scans.
fn deliveries(orders: usize) -> Vec<Delivery> {
    let mut all = Vec::new();
    for order in 0..orders {
        let tn = tracking(order);
        all.push(Delivery {
            path: "/webhooks/stores/generic",
            body: serde_json::to_vec(
                &json!({"type": "order", "event_id": format!("o{order}"), "order": {
                "id": order, "name": format!("#{order}"), "currency": "THB",
                "updated_at": "2024-05-01T08:00:00+07:00",
                "customer": {"id": format!("c{order}"), "first_name": "Nok",
                             "email": format!("nok{order}@example.co.th"), "phone": "+66812345678",
                             "locale": "th", "accepts_transactional_sms": true},
                "shipping_address": {"country_code": "TH"},
                "line_items": [{"id": "li-1", "title": "Tee", "price": "390.00", "quantity": 1}]}}),
            )
            .unwrap(),
        });
        all.push(Delivery {
            path: "/webhooks/stores/generic",
            body: serde_json::to_vec(&json!({"type": "fulfillment", "event_id": format!("f{order}"),
                "fulfillment": {"id": format!("f{order}"), "order_id": order, "carrier": "Kerry Express",
                                "tracking_number": tn}}))
            .unwrap(),
        });
        for (i, status) in [
            "info_received",
            "in_transit",
            "out_for_delivery",
            "delivered",
        ]
        .iter()
        .enumerate()
        {
            all.push(Delivery {
                path: "/webhooks/carriers/generic",
                body: serde_json::to_vec(&json!({"carrier": "kerry-logistics", "tracking_number": tn,
                    "event_id": format!("e{order}-{i}"),
                    "events": [{"status": status, "occurred_at": format!("2024-05-0{}T10:00:00+07:00", 2 + i)}]}))
                .unwrap(),
            });
        }
    }
    all
}

/// The deliveries as a carrier fleet would send them: 30% sent twice, all shuffled.
fn burst(orders: usize, seed: u64) -> Vec<Delivery> {
    let mut rng = Seeded(seed);
    let mut all = deliveries(orders);
    let duplicates: Vec<Delivery> = all.iter().filter(|_| rng.below(10) < 3).cloned().collect();
    all.extend(duplicates);
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i + 1));
    }
    all
}

/// Waits until the notifier has nothing left to send (the outbox stops growing).
fn drain(runner: &Runner) -> Vec<Value> {
    let auth = [("Authorization".to_string(), format!("Bearer {ADMIN}"))];
    let mut last = usize::MAX;
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, log) = http(runner.port, "GET", "/api/outbox", &auth, b"").unwrap();
        assert_eq!(status, 200);
        let count = log.as_array().map_or(0, Vec::len);
        if count != last {
            last = count;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_millis(1500)
            && runner.outbox_lines().len() == sent_keys(&log).len()
        {
            return log.as_array().cloned().unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "the notifier never settled");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Drains until `done` holds of the log, or a minute has passed. On a loaded machine the
/// restarted notifier can work through its backlog with pauses longer than `drain`'s quiet
/// window; the assertions that follow still decide.
fn drain_until(runner: &Runner, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = drain(runner);
        if done(&log) || Instant::now() > deadline {
            return log;
        }
    }
}

fn sent_keys(log: &Value) -> Vec<String> {
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["state"] == "sent")
                .map(|e| e["key"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Each message key sent, with how many times (the log and the outbox file must agree).
fn sent_once_each(runner: &Runner, log: &[Value]) -> BTreeSet<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for key in sent_keys(&Value::Array(log.to_vec())) {
        *counts.entry(key).or_default() += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "sent twice: {doubled:?}");
    let lines = runner.outbox_lines();
    assert_eq!(
        lines.len(),
        counts.len(),
        "one outbox line per sent message"
    );
    let ids: BTreeSet<i64> = lines.iter().filter_map(|l| l["log_id"].as_i64()).collect();
    assert_eq!(ids.len(), lines.len(), "no line written twice");
    counts.into_keys().collect()
}

fn final_statuses(runner: &Runner, orders: usize) -> Vec<String> {
    let auth = [("Authorization".to_string(), format!("Bearer {ADMIN}"))];
    (0..orders)
        .map(|order| {
            let path = format!("/api/shipments/kerry-logistics/{}", tracking(order));
            let (status, shipment) = http(runner.port, "GET", &path, &auth, b"").unwrap();
            assert_eq!(status, 200, "{path}");
            assert_eq!(shipment["order_id"], format!("generic-store:{order}"));
            shipment["status"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// Sends every delivery until acknowledged, killing the runner after the given positions.
/// A delivery cut off by a kill is sent again, as a carrier would. Returns the seconds spent.
fn send_all(runner: &mut Runner, burst: &[Delivery], kill_after: &[usize]) -> f64 {
    let started = Instant::now();
    for (index, delivery) in burst.iter().enumerate() {
        loop {
            match delivery.post(runner.port) {
                Ok((200, _)) => break,
                Ok((status, body)) => panic!("delivery {index} refused: {status} {body}"),
                Err(_) => start(runner, 0),
            }
        }
        if kill_after.contains(&index) {
            runner.kill();
            start(runner, 0);
        }
    }
    started.elapsed().as_secs_f64()
}

#[test]
fn sigkill_between_claim_and_send_sends_the_message_exactly_once_after_restart() {
    let mut runner = Runner::new("claim", SETTINGS);
    // Every send takes 3 s: long enough to kill the runner while a claim is in progress.
    start(&mut runner, 3_000);
    for delivery in deliveries(1) {
        assert_eq!(delivery.post(runner.port).unwrap().0, 200);
    }
    let claimed = Instant::now();
    loop {
        let held: i64 = runner
            .database()
            .query_row(
                "SELECT COUNT(*) FROM message_claims WHERE state = 'in_progress'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if held > 0 {
            break;
        }
        assert!(
            claimed.elapsed() < Duration::from_secs(20),
            "nothing was claimed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    runner.kill();
    assert!(
        runner.outbox_lines().is_empty(),
        "killed before the first send"
    );
    start(&mut runner, 0);
    let log = drain(&runner);
    let keys = sent_once_each(&runner, &log);
    assert!(
        keys.contains("generic-store:0#order_confirmed#email"),
        "{keys:?}"
    );
    assert!(keys.contains("kerry-logistics#KEX000000TH#delivered#sms"));
    assert_eq!(final_statuses(&runner, 1), ["delivered"]);
}

#[test]
fn sigkill_mid_burst_loses_no_acknowledged_delivery_and_sends_every_message_once() {
    const ORDERS: usize = 30;
    let burst = burst(ORDERS, 0x5eed_d00d);
    let mut runner = Runner::new("killed", SETTINGS);
    start(&mut runner, 0);
    let step = burst.len() / 6;
    let kills: Vec<usize> = (1..6).map(|k| k * step + k).collect();
    let seconds = send_all(&mut runner, &burst, &kills);
    let due: Vec<String> = (0..ORDERS)
        .flat_map(|order| {
            let tn = tracking(order);
            [
                format!("generic-store:{order}#order_confirmed#email"),
                format!("kerry-logistics#{tn}#delivered#email"),
                format!("kerry-logistics#{tn}#delivered#sms"),
            ]
        })
        .collect();
    let log = drain_until(&runner, |log| {
        let sent = sent_keys(&Value::Array(log.to_vec()));
        due.iter().all(|key| sent.contains(key))
    });
    let sent = sent_once_each(&runner, &log);
    for key in &due {
        assert!(sent.contains(key), "{key} was never sent: {sent:?}");
    }
    assert!(final_statuses(&runner, ORDERS)
        .iter()
        .all(|s| s == "delivered"));
    // Figures for the notes; nothing here is timed against a threshold.
    let figures = json!({
        "deliveries": burst.len(),
        "kills": kills.len(),
        "seconds": seconds,
        "deliveries_per_second": burst.len() as f64 / seconds,
        "messages_sent": sent.len(),
    });
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let _ = std::fs::write(target.join("crash-test.json"), figures.to_string());
    eprintln!("crash test: {figures}");
}
