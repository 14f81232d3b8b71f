//! The tracking page as a shopper meets it: the real `doorstep-local`, filled by
//! `scripts/demo.py` through the signed webhooks, driven in Debian's headless Chromium at a
//! 375×812 viewport in Thai and English (`tests/browser/tracking.mjs`, screenshots under
//! `target/browser/`). Then the merchant side: the choice is on the shipment, the shop's email
//! went out, and the signed webhook reached the shop's endpoint.
//!
//! Needs `chromium` and `tests/browser/node_modules` (scripts/test.sh installs both).

use doorstep_core::signature::verify_timestamped;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{http, Runner};

mod support;

const SECRET: &str = "browser-test-generic";
const ADMIN: &str = "browser-test-admin";
const MERCHANT_SECRET: &str = "browser-test-merchant";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One received webhook: its headers (lower-case names) and body.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// The shop's webhook endpoint: answers 204 to every POST and keeps what it got.
fn merchant_endpoint() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/doorstep", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                }
                line.clear();
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            keep.lock()
                .unwrap()
                .push((headers, String::from_utf8_lossy(&body).into_owned()));
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, received)
}

fn admin_get(runner: &Runner, path: &str) -> Value {
    let auth = [("Authorization".to_string(), format!("Bearer {ADMIN}"))];
    let (status, json) = http(runner.port, "GET", path, &auth, b"").unwrap();
    assert_eq!(status, 200, "{path}: {json}");
    json
}

#[test]
fn a_shopper_reads_the_page_on_a_phone_and_answers_a_failed_delivery() {
    let node_modules = repo().join("tests/browser/node_modules/playwright-core");
    assert!(
        node_modules.exists() && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and tests/browser/node_modules: run scripts/test.sh"
    );
    let (webhook_url, received) = merchant_endpoint();
    let settings = format!(
        "brand = \"Baan Shop\"\naccent_color = \"#0b6e4f\"\n\
         support_url = \"https://shop.example.com/help\"\n\
         merchant_email = \"ops@shop.example.com\"\nmerchant_webhook_url = \"{webhook_url}\"\n\
         quiet_hours = {{ start = \"00:00\", end = \"00:00\" }}\n"
    );
    let mut runner = Runner::new("browser", &settings);
    runner.start_with(&[
        ("DOORSTEP_SECRET_GENERIC", SECRET),
        ("DOORSTEP_ADMIN_TOKEN", ADMIN),
        ("DOORSTEP_SECRET_MERCHANT_WEBHOOK", MERCHANT_SECRET),
    ]);
    let base = format!("http://127.0.0.1:{}", runner.port);

    let demo = Command::new("python3")
        .arg(repo().join("scripts/demo.py"))
        .args([
            "--url",
            &base,
            "--secret",
            SECRET,
            "--admin-token",
            ADMIN,
            "--json",
        ])
        .output()
        .expect("python3 runs scripts/demo.py");
    assert!(
        demo.status.success(),
        "demo.py: {}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let links: Value = serde_json::from_slice(&demo.stdout).expect("demo.py prints JSON");
    let failed = links["failed_attempt"]["token"].as_str().unwrap();
    let transit = links["in_transit"]["token"].as_str().unwrap();

    let shots = repo().join("target/browser");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/tracking.mjs"))
        .current_dir(repo())
        .env("BASE_URL", &base)
        .env("FAILED_TOKEN", failed)
        .env("TRANSIT_TOKEN", transit)
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .expect("node runs tests/browser/tracking.mjs");
    assert!(
        browser.status.success(),
        "in the browser:\n{}\n{}",
        String::from_utf8_lossy(&browser.stderr),
        String::from_utf8_lossy(&browser.stdout)
    );
    for name in [
        "transit-th",
        "transit-en",
        "failed-th",
        "failed-en",
        "choice-th-saved",
    ] {
        assert!(
            shots.join(format!("tracking-{name}.png")).exists(),
            "no screenshot {name}"
        );
    }

    // The last choice (Thai, a safe place) is on the shipment.
    let number = links["failed_attempt"]["tracking_number"].as_str().unwrap();
    let shipment = admin_get(&runner, &format!("/api/shipments/thailand-post/{number}"));
    let choice = &shipment["delivery_choice"];
    assert_eq!(choice["choice"], "safe_place", "{shipment}");
    assert_eq!(choice["note"], "วางไว้หลังประตูรั้ว <b>ขอบคุณครับ</b>");

    // The shop heard of both choices: by email, and by signed webhook.
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 2, "webhooks received: {hooks:?}");
    let now = doorstep_core::chrono::Utc::now().timestamp();
    for (headers, body) in &hooks {
        let signature = headers
            .iter()
            .find(|(n, _)| n == "doorstep-signature")
            .map(|(_, v)| v.as_str());
        verify_timestamped(
            signature,
            "Doorstep-Signature",
            MERCHANT_SECRET.as_bytes(),
            body.as_bytes(),
            now,
            300,
        )
        .expect("signed with the merchant's key");
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["event"], "delivery_choice", "{payload}");
    }
    let last: Value = serde_json::from_str(&hooks[1].1).unwrap();
    assert!(last.to_string().contains("safe_place"), "{last}");
    let outbox = admin_get(&runner, "/api/outbox");
    let emails: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"] == "delivery_choice" && e["channel"] == "email")
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    for email in emails {
        assert_eq!(
            (&email["state"], &email["to"]),
            (&Value::from("sent"), &Value::from("ops@shop.example.com"))
        );
    }

    // Somchai's subscription, from his phone: skip, move, cancel, and a forged link.
    let token = links["subscription"]["token"]
        .as_str()
        .expect("demo.py printed the manage link");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/manage.mjs"))
        .current_dir(repo())
        .env("BASE_URL", &base)
        .env("MANAGE_TOKEN", token)
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .expect("node runs tests/browser/manage.mjs");
    assert!(
        browser.status.success(),
        "in the browser:\n{}\n{}",
        String::from_utf8_lossy(&browser.stderr),
        String::from_utf8_lossy(&browser.stdout)
    );
    for name in ["th", "en", "skipped", "cancelled", "expired", "link-sent"] {
        assert!(
            shots.join(format!("manage-{name}.png")).exists(),
            "no screenshot manage-{name}"
        );
    }
    // The shop heard of each request by signed webhook; the fresh link was mailed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hooks = received.lock().unwrap().clone();
    let asked: Vec<String> = hooks[2..]
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap())
        .inspect(|p| assert_eq!(p["alert"]["kind"], "subscription_change", "{p}"))
        .map(|p| {
            p["alert"]["details"][0]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked[0].contains("Skip") && asked[1].contains("Move") && asked[2].contains("Cancel"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mailed = loop {
        let outbox = admin_get(&runner, "/api/outbox");
        let sent = outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"] == "manage_link" && e["state"] == "sent");
        if sent || Instant::now() > deadline {
            break sent;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(mailed, "the fresh link was not mailed");
}
