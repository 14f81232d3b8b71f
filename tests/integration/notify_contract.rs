//! The `NotifyStore` contract, on SQLite and on DynamoDB (moto).

use aws_sdk_dynamodb::types::AttributeValue;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::notify::keys::MessageKey;
use doorstep_core::notify::messages::Message;
use doorstep_core::notify::milestones::Milestone;
use doorstep_core::notify::policy::Kind;
use doorstep_core::notify::ports::{Claim, Deferred, LogEntry, NotifyStore, State};
use doorstep_core::notify::settings::Channel;

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

pub async fn a_claim_is_exclusive_until_completed_or_its_lease_ends(store: &dyn NotifyStore) {
    let now = at("2024-05-03T10:00:00Z");
    let lease = now + Duration::minutes(5);
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#shipped#email"), lease, now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#shipped#email"), lease, now)
            .await
            .unwrap(),
        Claim::InProgress { until: lease },
        "held by the first worker, who says until when"
    );
    // A crashed worker's lease runs out: the send is retried, never lost.
    let later = now + Duration::minutes(6);
    assert_eq!(
        store
            .claim(
                &key("ups#1ZCLAIM#shipped#email"),
                later + Duration::minutes(5),
                later
            )
            .await
            .unwrap(),
        Claim::Claimed
    );
    let mut sent = entry("ups#1ZCLAIM#shipped#email", State::Sent);
    sent.customer_id = doorstep_tests::customer_id("shopify:c-claims");
    store
        .finish(&key("ups#1ZCLAIM#shipped#email"), &sent, later)
        .await
        .unwrap();
    let much_later = later + Duration::days(3);
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#shipped#email"), much_later, much_later)
            .await
            .unwrap(),
        Claim::AlreadySent,
        "never twice"
    );
    store
        .release(&key("ups#1ZCLAIM#shipped#email"))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#shipped#email"), much_later, much_later)
            .await
            .unwrap(),
        Claim::AlreadySent,
        "release leaves completed records alone"
    );
    // A released claim can be taken again at once.
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#delivered#sms"), lease, now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    store
        .release(&key("ups#1ZCLAIM#delivered#sms"))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&key("ups#1ZCLAIM#delivered#sms"), lease, now)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

/// `check` sees what was sent or is held, never writes a record of its own for a message nobody
/// holds (a store may claim it instead), and takes over a claim whose lease ran out.
pub async fn a_check_sees_what_was_sent_or_held(store: &dyn NotifyStore) {
    let now = at("2024-05-03T10:00:00Z");
    let lease = now + Duration::minutes(5);
    let fresh = key("ups#1ZCHECK#shipped#email");
    let first = store.check(&fresh, lease, now).await.unwrap();
    assert!(
        matches!(first, Claim::Open | Claim::Claimed),
        "nobody sent or holds it: {first:?}"
    );
    let mut sent = entry("ups#1ZCHECK#shipped#email", State::Sent);
    sent.customer_id = doorstep_tests::customer_id("shopify:c-check");
    store.finish(&fresh, &sent, now).await.unwrap();
    let later = now + Duration::days(1);
    assert_eq!(
        store.check(&fresh, later, later).await.unwrap(),
        Claim::AlreadySent,
        "the completing write records it"
    );
    assert_eq!(
        store.claim(&fresh, later, later).await.unwrap(),
        Claim::AlreadySent,
        "and a claim sees it too"
    );
    // Held by a worker that claims it (a job, a deferred send): the check waits for it.
    let held = key("ups#1ZCHECK#delivered#email");
    assert_eq!(
        store.claim(&held, lease, now).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.check(&held, lease, now).await.unwrap(),
        Claim::InProgress { until: lease }
    );
    // That worker died: the check takes its record over as a claim would.
    let after = lease + Duration::minutes(1);
    assert_eq!(
        store
            .check(&held, after + Duration::minutes(5), after)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

pub fn key(raw: &str) -> MessageKey {
    doorstep_tests::message_key(raw)
}

fn deferred(raw: &str, due: &str) -> Deferred {
    Deferred {
        key: key(raw),
        due: at(due),
        attempts: 0,
    }
}

pub async fn deferred_sends_come_back_when_due_and_not_before(store: &dyn NotifyStore) {
    let first = deferred("ups#1ZA#out_for_delivery#sms", "2024-05-04T01:00:00Z");
    let second = deferred("ups#1ZB#out_for_delivery#sms", "2024-05-04T01:30:00Z");
    store.defer(&first).await.unwrap();
    store.defer(&second).await.unwrap();
    assert!(store
        .due(at("2024-05-04T00:59:00Z"), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due(at("2024-05-04T01:00:00Z"), 100).await.unwrap(),
        vec![first.clone()]
    );
    // Not removed (say the send failed): it is still due on the next run.
    assert_eq!(
        store.due(at("2024-05-04T01:01:00Z"), 100).await.unwrap(),
        vec![first.clone()]
    );
    store.remove_deferred(&first).await.unwrap();
    assert!(store
        .due(at("2024-05-04T01:02:00Z"), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due(at("2024-05-04T01:45:00Z"), 100).await.unwrap(),
        vec![second.clone()]
    );
    // A send deferred into a minute the schedule already passed is still found.
    let late = deferred("ups#1ZC#out_for_delivery#sms", "2024-05-04T01:10:00Z");
    store.defer(&late).await.unwrap();
    let due = store.due(at("2024-05-04T01:46:00Z"), 100).await.unwrap();
    assert!(due.contains(&late) && due.contains(&second), "{due:?}");
}

pub async fn suppressions_and_the_log_are_kept(store: &dyn NotifyStore) {
    let now = at("2024-05-03T10:00:00Z");
    assert!(
        !store
            .suppressions(Some("a@example.com"), Some("+66812345678"))
            .await
            .unwrap()
            .email_suppressed
    );
    store
        .suppress_email("A@Example.com", "hard bounce", now)
        .await
        .unwrap();
    store.opt_out_sms("+66812345678", now).await.unwrap();
    let found = store
        .suppressions(Some("a@example.com"), Some("+66812345678"))
        .await
        .unwrap();
    assert!(found.email_suppressed && found.sms_opted_out);
    assert!(
        !store
            .suppressions(Some("b@example.com"), None)
            .await
            .unwrap()
            .email_suppressed
    );
    let entry = entry("ups#1ZLOG#shipped#email", State::Sent);
    store.log(&entry).await.unwrap();
    store.log(&entry).await.unwrap();
}

pub fn entry(raw: &str, state: State) -> LogEntry {
    LogEntry {
        key: key(raw),
        customer_id: doorstep_tests::customer_id("shopify:c"),
        channel: Channel::Email,
        to: Some("a@example.com".into()),
        subject: Some("s".into()),
        body: Some("b".into()),
        html: None,
        kind: Kind::Transactional,
        message: Message::Shipped,
        milestone: Some(Milestone::Shipped),
        order_id: Some(doorstep_tests::order_id("shopify:o")),
        tracking_number: None,
        locale: "en".into(),
        state,
        send_after: None,
        reason: None,
        provider_message_id: Some("m".into()),
        at: at("2024-05-03T10:00:00Z"),
    }
}

pub async fn a_suppression_is_settled_like_a_claim_completed_at_once(store: &dyn NotifyStore) {
    let now = at("2024-05-03T10:00:00Z");
    let lease = now + Duration::minutes(5);
    let suppressed = entry("ups#1ZSETTLE#shipped#sms", State::Suppressed);
    let settle = |name: &'static str, lease, now| {
        let entry = LogEntry {
            key: key(name),
            ..suppressed.clone()
        };
        async move { store.settle(&key(name), &entry, lease, now).await.unwrap() }
    };
    // New: recorded, and completed for good.
    assert_eq!(
        settle("ups#1ZSETTLE#shipped#sms", lease, now).await,
        Claim::Claimed
    );
    let later = now + Duration::days(1);
    assert_eq!(
        store
            .claim(&key("ups#1ZSETTLE#shipped#sms"), later, later)
            .await
            .unwrap(),
        Claim::AlreadySent,
        "a settled message is never sent afterwards"
    );
    assert_eq!(
        settle("ups#1ZSETTLE#shipped#sms", later, later).await,
        Claim::AlreadySent
    );
    // Held by a live worker: left alone, with the holder's lease; after it, taken over.
    assert_eq!(
        store
            .claim(&key("ups#1ZSETTLE#delivered#sms"), lease, now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        settle("ups#1ZSETTLE#delivered#sms", lease, now).await,
        Claim::InProgress { until: lease }
    );
    let after_lease = now + Duration::minutes(6);
    assert_eq!(
        settle(
            "ups#1ZSETTLE#delivered#sms",
            after_lease + Duration::minutes(5),
            after_lease
        )
        .await,
        Claim::Claimed
    );
    assert_eq!(
        store
            .claim(&key("ups#1ZSETTLE#delivered#sms"), later, later)
            .await
            .unwrap(),
        Claim::AlreadySent
    );
}

/// The SMS suppressed beside an email sent for the same occasion, as the notifier records it.
pub fn suppressed_beside(sent: &LogEntry) -> LogEntry {
    LogEntry {
        key: MessageKey {
            channel: Channel::Sms,
            ..sent.key.clone()
        },
        channel: Channel::Sms,
        to: Some("+66812345678".into()),
        subject: None,
        body: None,
        html: None,
        state: State::Suppressed,
        reason: Some("opted out of SMS updates".into()),
        provider_message_id: None,
        ..sent.clone()
    }
}

pub async fn a_sent_message_records_its_occasions_suppressed_channels(store: &dyn NotifyStore) {
    let now = at("2024-05-03T10:00:00Z");
    let sent_key = key("ups#1ZBESIDE#shipped#email");
    assert_eq!(
        store
            .claim(&sent_key, now + Duration::minutes(5), now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    let sent = entry("ups#1ZBESIDE#shipped#email", State::Sent);
    let beside = suppressed_beside(&sent);
    assert_eq!(
        store
            .finish_beside(&sent_key, &sent, &[beside], now)
            .await
            .unwrap(),
        1,
        "the suppressed channel is recorded"
    );
    let later = now + Duration::days(1);
    assert_eq!(
        store.claim(&sent_key, later, later).await.unwrap(),
        Claim::AlreadySent,
        "completed as `finish` completes"
    );
}

macro_rules! notify_contract {
    ($adapter:ident => $make:expr) => {
        mod $adapter {
            #[tokio::test]
            async fn a_claim_is_exclusive_until_completed_or_its_lease_ends() {
                super::a_claim_is_exclusive_until_completed_or_its_lease_ends(&$make).await
            }
            #[tokio::test]
            async fn a_check_sees_what_was_sent_or_held() {
                super::a_check_sees_what_was_sent_or_held(&$make).await
            }
            #[tokio::test]
            async fn a_suppression_is_settled_like_a_claim_completed_at_once() {
                super::a_suppression_is_settled_like_a_claim_completed_at_once(&$make).await
            }
            #[tokio::test]
            async fn a_sent_message_records_its_occasions_suppressed_channels() {
                super::a_sent_message_records_its_occasions_suppressed_channels(&$make).await
            }
            #[tokio::test]
            async fn deferred_sends_come_back_when_due_and_not_before() {
                super::deferred_sends_come_back_when_due_and_not_before(&$make).await
            }
            #[tokio::test]
            async fn suppressions_and_the_log_are_kept() {
                super::suppressions_and_the_log_are_kept(&$make).await
            }
        }
    };
}

notify_contract!(sqlite => doorstep_tests::sqlite_store());
notify_contract!(dynamodb => doorstep_tests::dynamo_store().await);

/// DynamoDB's size of an item by its rules for write units: each attribute's name and value.
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::N(number) => number.len().div_ceil(2) + 1,
                    AttributeValue::B(bytes) => bytes.as_ref().len(),
                    _ => 1,
                }
        })
        .sum()
}

/// On DynamoDB the suppressed channel costs no write of its own: it rides on the completing
/// write of the message sent, which stays one write unit even for long addresses and numbers,
/// and reads back as the entry it stands for.
#[tokio::test]
async fn on_dynamodb_a_suppressed_channel_rides_on_the_sent_messages_record_within_one_write_unit()
{
    let store = doorstep_tests::dynamo_store().await;
    let now = at("2024-05-03T10:00:00Z");
    let raw = "fedex#74890123456789012345678901#out_for_delivery#email";
    let sent_key = key(raw);
    // The longest fields real records carry: a 30-digit tracking number, a long address, SES's
    // message id, Shopify's ids, a regional locale.
    let sent = LogEntry {
        customer_id: doorstep_tests::customer_id("shopify:7390213457972"),
        to: Some("somchai.jaidee.longname@example-shop-domain.co.th".into()),
        message: Message::OutForDelivery,
        milestone: Some(Milestone::OutForDelivery),
        order_id: Some(doorstep_tests::order_id("shopify:5551234567890")),
        tracking_number: doorstep_core::ids::TrackingNumber::parse("74890123456789012345678901"),
        locale: "th-TH".into(),
        provider_message_id: Some(
            "0100018f2c3e4a5b-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000".into(),
        ),
        ..entry(raw, State::Sent)
    };
    let beside = suppressed_beside(&sent);
    store
        .claim(&sent_key, now + Duration::minutes(5), now)
        .await
        .unwrap();
    store
        .finish_beside(&sent_key, &sent, std::slice::from_ref(&beside), now)
        .await
        .unwrap();
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("MSG#{raw}")))
        .key("sk", AttributeValue::S("CLAIM".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the completed claim");
    let size = item_size(&item);
    assert!(size <= 1024, "one write unit, but {size} bytes");
    let doc: LogEntry = serde_json::from_str(item["doc"].as_s().unwrap()).unwrap();
    let recorded =
        doorstep_aws::notify_store::beside_entries(&doc, item["beside"].as_s().unwrap()).unwrap();
    assert_eq!(recorded.len(), 1);
    let sms = &recorded[0];
    assert_eq!(
        (&sms.key, sms.channel, &sms.to, sms.state, &sms.reason),
        (
            &beside.key,
            Channel::Sms,
            &beside.to,
            State::Suppressed,
            &beside.reason
        )
    );
    assert_eq!(
        (&sms.customer_id, sms.message, &sms.tracking_number, sms.at),
        (
            &sent.customer_id,
            sent.message,
            &sent.tracking_number,
            sent.at
        )
    );
    assert_eq!(sms.provider_message_id, None);
    // Its own key was never claimed: the record beside is the log, not an idempotency record.
    assert!(store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("MSG#{}", beside.key)))
        .key("sk", AttributeValue::S("CLAIM".into()))
        .send()
        .await
        .unwrap()
        .item
        .is_none());
}
