//! The points-expiry job reads only what is due: 1,000,000 lots (200,000 accounts of 5 lots)
//! on SQLite, 10,000 of the accounts with points inside the warning window, and the rows the
//! job reads counted. Prints the figures; times nothing against a threshold.
//!
//! `cargo bench -p doorstep-embedded --bench due_index` (`DUE_ACCOUNTS` / `DUE_DUE` scale it).

use doorstep_core::chrono::{Duration, Utc};
use doorstep_core::contact::Contact;
use doorstep_core::ids::{CustomerId, Token};
use doorstep_core::jobs::{self, Job};
use doorstep_core::loyalty::{schedule, Account, Lot, LotState, Source};
use doorstep_core::model::{Consents, Customer};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::Notifier;
use doorstep_core::ports::{DueEntry, DueKind, Store};
use doorstep_core::settings::{LoyaltySettings, Settings};
use doorstep_core::timezone::TimezoneSource;
use doorstep_embedded::{FileOutbox, SqliteStore};
use std::time::Instant;

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; test runners listing or smoke-running targets get nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let accounts = number("DUE_ACCOUNTS", 200_000);
    let due = number("DUE_DUE", 10_000).min(accounts);
    let lots_each = 5;
    let dir = std::env::temp_dir().join(format!("doorstep-due-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("bench.sqlite3")).unwrap();
    let settings = Settings {
        quiet_hours: None,
        loyalty: Some(LoyaltySettings::default()),
        ..Default::default()
    };
    let policy = settings.loyalty.clone().unwrap();
    let zone = doorstep_core::timezone::parse_zone("Asia/Bangkok").unwrap();
    let now = Utc::now();
    let every = accounts / due.max(1);
    let started = Instant::now();
    for n in 0..accounts {
        let id = CustomerId::parse(&format!("shopify:{n}")).unwrap();
        let customer = Customer {
            id: id.clone(),
            first_name: None,
            email: Some(Contact::email(&format!("c{n}@example.com"))),
            phone: None,
            locale: "en".into(),
            timezone: "Asia/Bangkok".into(),
            timezone_source: TimezoneSource::Profile,
            consents: Consents::default(),
            tier: None,
            marketing_suppressed_until: None,
            purchased: vec![],
            refunded: vec![],
            disliked: vec![],
            preferences_token: Token::random(),
            updated_at: now,
            version: 0,
        };
        store.save_customer(&customer, None).await.unwrap();
        let mut account = Account::new(id);
        for l in 0..lots_each {
            // One account in `every` has a lot expiring in 25 days (inside the warning window).
            let days = if n % every == 0 && l == 0 {
                25
            } else {
                200 + l as i64 * 30
            };
            account.lots.push(Lot {
                id: format!("lot-{n}-{l}"),
                source: Source::External,
                points: 100,
                remaining: 100,
                earned_at: now - Duration::days(30),
                available_at: None,
                expires_at: now + Duration::days(days),
                state: LotState::Available,
                order_id: None,
            });
        }
        // Filed the way every update files an account: under the day it next needs a look.
        let next = schedule::next_due(&account, &policy, zone, now).unwrap();
        account.next_due = Some(next.date_naive());
        account.next_due_at = Some(next);
        store
            .add_due(
                &DueEntry::at(DueKind::Loyalty, next, account.customer_id.as_str()),
                now,
            )
            .await
            .unwrap();
        store.save_account(&account, None).await.unwrap();
    }
    let loaded = started.elapsed();
    let outbox = FileOutbox::new(dir.join("outbox.jsonl"));
    let renderer = Renderer::new(None, 2);
    let notifier = Notifier {
        store: &store,
        notify: &store,
        channels: &outbox,
        dead_letters: &store,
        renderer: &renderer,
        settings: &settings,
    };
    let run = Instant::now();
    let report = jobs::run(Job::PointsExpiry, &notifier, now).await.unwrap();
    let took = run.elapsed();
    println!(
        "SQLite: {} lots in {accounts} accounts ({due} with points in the warning window), loaded in {:.1} s",
        accounts * lots_each,
        loaded.as_secs_f64()
    );
    println!(
        "points-expiry job: read {} index entries and {} accounts (of {accounts}), sent {} messages, in {:.2} s",
        report.detail["due_read"], report.detail["accounts_read"], report.messages.sent, took.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
