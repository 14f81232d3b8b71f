//! The points-expiry job on DynamoDB (moto): the shape of the SQLite benchmark at a smaller
//! scale (1,000 accounts of 5 lots, 50 due), counting the items the job reads and their read
//! units by DynamoDB's sizing rules (`ReadMeter`).
//!
//! `DOORSTEP_MOTO_URL=http://127.0.0.1:PORT cargo bench -p doorstep-aws --bench due_index`

use doorstep_aws::channels::SnsSesChannels;
use doorstep_aws::dynamo::ReadMeter;
use doorstep_aws::DynamoStore;
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
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

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
    let moto = std::env::var("DOORSTEP_MOTO_URL")
        .expect("DOORSTEP_MOTO_URL (scripts/bench.sh starts moto)");
    let accounts = number("DUE_ACCOUNTS", 1_000);
    let due = number("DUE_DUE", 50).min(accounts);
    let lots_each = 5;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(doorstep_aws::runtime::https_client())
        .endpoint_url(moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("doorstep-due-bench-{}", std::process::id());
    doorstep_aws::schema::create_table(&client, &table)
        .await
        .expect("table on moto");
    let meter = Arc::new(ReadMeter::default());
    let store = DynamoStore::new(client, table).metered(meter.clone());
    let settings = Settings {
        quiet_hours: None,
        sender_email: "orders@shop.example.com".into(),
        loyalty: Some(LoyaltySettings::default()),
        ..Default::default()
    };
    let policy = settings.loyalty.clone().unwrap();
    let zone = doorstep_core::timezone::parse_zone("Asia/Bangkok").unwrap();
    let now = Utc::now();
    let every = accounts / due.max(1);
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
    let ses = aws_sdk_sesv2::Client::new(&aws);
    let _ = ses
        .create_email_identity()
        .email_identity("shop.example.com")
        .send()
        .await;
    let channels = SnsSesChannels {
        sns: aws_sdk_sns::Client::new(&aws).into(),
        ses: ses.into(),
        sender_email: settings.sender_email.clone(),
        configuration_set: None,
        sms_sender_id: None,
        sms_origination_number: None,
        webhooks: None,
    };
    let dead_letters = NoDeadLetters;
    let renderer = Renderer::new(None, 2);
    let notifier = Notifier {
        store: &store,
        notify: &store,
        channels: &channels,
        dead_letters: &dead_letters,
        renderer: &renderer,
        settings: &settings,
    };
    let (requests, items, units) = (
        meter.requests.load(Relaxed),
        meter.items.load(Relaxed),
        meter.read_units.load(Relaxed),
    );
    let report = jobs::run(Job::PointsExpiry, &notifier, now).await.unwrap();
    println!(
        "DynamoDB (moto): {} lots in {accounts} accounts ({due} with points in the warning window)",
        accounts * lots_each
    );
    println!(
        "points-expiry job: {} index entries, {} accounts, {} read requests returning {} items, {} read units (strongly consistent, 4 KB each), {} messages sent",
        report.detail["due_read"],
        report.detail["accounts_read"],
        meter.requests.load(Relaxed) - requests,
        meter.items.load(Relaxed) - items,
        meter.read_units.load(Relaxed) - units,
        report.messages.sent,
    );
}

/// The job sets nothing aside in this run; a dead letter would be a bug worth seeing.
struct NoDeadLetters;

#[async_trait::async_trait]
impl doorstep_core::notify::ports::DeadLetters for NoDeadLetters {
    async fn set_aside(
        &self,
        letter: &doorstep_core::notify::ports::DeadLetter,
    ) -> Result<(), doorstep_core::ports::StoreError> {
        panic!("unexpected dead letter: {letter:?}");
    }
}
