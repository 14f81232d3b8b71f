//! Notifications end to end on AWS protocols, all on moto: signed webhooks -> the webhook Lambdas
//! -> the table -> its DynamoDB Stream (GetRecords) -> the notifier Lambda handler as a
//! `DynamoDbEvent` -> SNS and SES -> asserted from moto's `/moto-api/data.json`.

use async_trait::async_trait;
use doorstep_aws::channels::SnsSesChannels;
use doorstep_aws::schema::notifier_filter_passes;
use doorstep_aws::DynamoStore;
use doorstep_core::notify::ports::{Channels, Outgoing, SendError};
use doorstep_core::notify::render::Renderer;
use doorstep_core::settings::Settings as NotifySettings;
use doorstep_tests::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SENDER: &str = "orders@shop.example.com";

async fn channels() -> SnsSesChannels {
    let config = aws_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity()
        .email_identity("shop.example.com")
        .send()
        .await
        .expect("sender identity on moto");
    SnsSesChannels {
        sns: aws_sdk_sns::Client::new(&config).into(),
        ses: ses.into(),
        sender_email: SENDER.into(),
        configuration_set: None,
        sms_sender_id: Some("BaanShop".into()),
        sms_origination_number: None,
        webhooks: None,
    }
}

fn settings() -> NotifySettings {
    // Quiet hours are the policy tests' business; here the real clock drives the handler.
    NotifySettings {
        brand: "Baan Shop".into(),
        sender_email: SENDER.into(),
        public_base_url: "https://shop.example.com".into(),
        quiet_hours: None,
        ..Default::default()
    }
}

/// Fails every `every`-th send with a retryable error (SNS/SES throttling), passing the rest on.
struct Flaky<C> {
    inner: C,
    every: usize,
    calls: AtomicUsize,
    failed: AtomicUsize,
}

#[async_trait]
impl<C: Channels> Channels for Flaky<C> {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        if self
            .calls
            .fetch_add(1, Ordering::SeqCst)
            .is_multiple_of(self.every)
        {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(SendError::Retryable(
                "ThrottlingException: rate exceeded (injected)".into(),
            ));
        }
        self.inner.send(message).await
    }
}

/// moto's SNS and SES, failing every `every`th send (the first included).
async fn flaky(every: usize) -> Arc<Flaky<SnsSesChannels>> {
    Arc::new(Flaky {
        inner: channels().await,
        every,
        calls: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    })
}

async fn stream_arn(store: &DynamoStore) -> String {
    let described = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream")
        .to_string()
}

fn order(id: u32, phone: &str, email: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "order", "event_id": format!("o-{id}"), "order": {
        "id": id, "name": format!("#{id}"), "updated_at": "2024-05-01T08:00:00+07:00",
        "customer": {"id": format!("c-{id}"), "first_name": "Nok", "email": email, "phone": phone, "locale": "en"},
        "shipping_address": {"country_code": "TH"},
        "line_items": [{"id": "l1", "title": "Cotton tee", "price": "390.00", "quantity": 1}],
        "fulfillments": [{"id": "f1", "carrier": "DHL", "tracking_number": format!("JD{id:08}")}]}}))
    .unwrap()
}

fn scan(id: u32, event_id: &str, status: &str, at: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"carrier": "dhl", "tracking_number": format!("JD{id:08}"), "event_id": event_id,
        "events": [{"status": status, "occurred_at": at, "description": status}]}),
    )
    .unwrap()
}

/// Posts order `id` (one parcel, `JD{id}`) through the store webhook.
async fn place_order(store: &Arc<DynamoStore>, id: u32, phone: &str, email: &str) {
    let stores = store_webhook::App {
        store: store.clone(),
        config: config(),
    };
    let (status, json) = status_and_json(
        store_webhook::handle(
            &stores,
            store_event("generic", None, None, &order(id, phone, email)),
        )
        .await,
    );
    assert_eq!(status, 200, "{json}");
}

/// Posts each body through the carrier webhook (generic); each is accepted.
async fn post_scans(store: &Arc<DynamoStore>, bodies: impl IntoIterator<Item = Vec<u8>>) {
    let carriers = carrier_webhook::App {
        store: store.clone(),
        config: config(),
    };
    for body in bodies {
        let (status, json) = status_and_json(
            carrier_webhook::handle(&carriers, carrier_event("generic", &body)).await,
        );
        assert_eq!(status, 200, "{json}");
    }
}

/// Posts the order, then the carrier's events with duplicates, a late older event, and shuffled.
async fn post_journey(store: Arc<DynamoStore>, id: u32, phone: &str, email: &str) {
    place_order(&store, id, phone, email).await;
    let events = [
        scan(id, "e2", "out_for_delivery", "2024-05-03T09:00:00Z"),
        scan(id, "e1", "in_transit", "2024-05-02T09:00:00Z"),
        scan(id, "e2", "out_for_delivery", "2024-05-03T09:00:00Z"),
        scan(id, "e3", "delivered", "2024-05-03T15:00:00Z"),
        scan(id, "e0", "info_received", "2024-05-01T09:00:00Z"),
        scan(id, "e3", "delivered", "2024-05-03T15:00:00Z"),
    ];
    post_scans(&store, events).await;
}

/// Feeds the stream to the notifier in batches, each batch twice (Lambda may redeliver), and
/// retries from the first reported failure the way Lambda's stream mapping does.
async fn run_notifier(app: &notifier::App, records: &[Value]) -> usize {
    let mut retries = 0;
    for batch in records.chunks(5) {
        for _delivery in 0..2 {
            let mut remaining: Vec<Value> = batch.to_vec();
            loop {
                let event: aws_lambda_events::dynamodb::Event =
                    serde_json::from_value(json!({ "Records": remaining }))
                        .expect("a DynamoDbEvent");
                let response = notifier::handle(app, event).await;
                let Some(failed) = response
                    .batch_item_failures
                    .first()
                    .and_then(|f| f.item_identifier.clone())
                else {
                    break;
                };
                retries += 1;
                assert!(retries < 50, "the notifier keeps failing");
                let at = remaining
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"] == failed.as_str())
                    .expect("failure names a record of the batch");
                remaining = remaining[at..].to_vec();
            }
        }
    }
    retries
}

/// The notifier as the stack wires it, on moto.
async fn notifier_app(store: Arc<DynamoStore>) -> notifier::App {
    notifier::App {
        store: store.clone(),
        notify: store.clone(),
        failures: store,
        channels: Arc::new(channels().await),
        dead_letters: Arc::new(sqs_dead_letters().await),
        renderer: Renderer::new(None, 2),
        settings: settings(),
    }
}

/// The records Lambda hands the notifier: those template.yaml's stream filter passes.
fn passed_by_filter(written: &[Value]) -> Vec<Value> {
    written
        .iter()
        .filter(|r| notifier_filter_passes(r))
        .cloned()
        .collect()
}

/// How many of `records` are changes of an `entity` (`shipment`, `order`).
fn changes_of(entity: &str, records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["dynamodb"]["NewImage"]["entity"]["S"] == entity)
        .count()
}

/// The stream's records the notifier's filter passes, with how many of them (and of all the
/// records written) are the parcel's.
async fn parcel_records(store: &DynamoStore) -> (Vec<Value>, (usize, usize)) {
    let written = stream_records(&stream_arn(store).await);
    let passed = passed_by_filter(&written);
    let counts = (
        changes_of("shipment", &written),
        changes_of("shipment", &passed),
    );
    (passed, counts)
}

/// A Thai mobile number and an address no other test or earlier run on this moto has used.
fn recipient() -> (String, String, String) {
    let token = doorstep_core::ids::random_token();
    let digits: String = token
        .bytes()
        .map(|b| char::from(b'0' + b % 10))
        .take(6)
        .collect();
    // moto reports numbers ending in 99 as opted out of SMS: end in 1.
    let digits = format!("{digits}1");
    (
        format!("081{digits}"),
        format!("+6681{digits}"),
        format!("e2e-{digits}@example.com"),
    )
}

fn sent_to(data: &Value, phone: &str, email: &str) -> (Vec<String>, Vec<String>) {
    let sms = data["sns"]["SMS"].as_array().cloned().unwrap_or_default();
    let mails = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sms: Vec<String> = sms
        .iter()
        .filter(|m| m["phone_number"] == phone)
        .map(|m| m["message"].as_str().unwrap_or_default().to_string())
        .collect();
    let mails: Vec<String> = mails
        .iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == email))
        })
        .map(|m| m["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    (sms, mails)
}

fn assert_one_per_milestone(sms: &[String], mails: &[String]) {
    assert_eq!(
        mails.len(),
        4,
        "order confirmed, shipped, out for delivery, delivered: {mails:#?}"
    );
    assert_eq!(
        mails.iter().filter(|s| s.contains("confirmed")).count(),
        1,
        "{mails:#?}"
    );
    assert_eq!(
        mails.iter().filter(|s| s.contains("on its way")).count(),
        1,
        "{mails:#?}"
    );
    assert_eq!(
        mails
            .iter()
            .filter(|s| s.contains("arriving today"))
            .count(),
        1,
        "{mails:#?}"
    );
    assert_eq!(
        mails.iter().filter(|s| s.contains("delivered")).count(),
        1,
        "{mails:#?}"
    );
    assert_eq!(sms.len(), 2, "out for delivery and delivered: {sms:#?}");
    assert_eq!(
        sms.iter()
            .filter(|s| s.contains("out for delivery"))
            .count(),
        1,
        "{sms:#?}"
    );
    assert_eq!(
        sms.iter()
            .filter(|s| s.contains("has been delivered"))
            .count(),
        1,
        "{sms:#?}"
    );
}

#[tokio::test]
async fn one_sms_and_one_email_per_milestone_through_the_stream_under_duplicates() {
    let store = Arc::new(dynamo_store().await);
    let (local, phone, email) = recipient();
    post_journey(store.clone(), 8001, &local, &email).await;
    let written = stream_records(&stream_arn(&store).await);
    assert!(
        written.len() >= 6,
        "the stream carries the writes: {}",
        written.len()
    );
    // What Lambda passes the notifier (template.yaml's filter): the parcel made for the
    // fulfilment has no scan yet, and the late scans, older than the parcel's status, changed
    // nothing it acts on; all three are left out.
    let records = passed_by_filter(&written);
    assert_eq!(
        (
            changes_of("shipment", &written),
            changes_of("shipment", &records)
        ),
        (5, 2),
        "the parcel's writes: linked, out for delivery, in transit (late), delivered, info (late)"
    );
    let app = notifier_app(store.clone()).await;
    assert_eq!(run_notifier(&app, &records).await, 0);
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let (sms, mails) = sent_to(&data, &phone, &email);
    assert_one_per_milestone(&sms, &mails);
    // Delivering the whole stream again changes nothing.
    run_notifier(&app, &records).await;
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let (again_sms, again_mails) = sent_to(&data, &phone, &email);
    assert_eq!(
        (again_sms.len(), again_mails.len()),
        (sms.len(), mails.len())
    );
}

#[tokio::test]
async fn when_sns_and_ses_fail_part_of_the_time_nothing_is_lost_or_doubled() {
    let store = Arc::new(dynamo_store().await);
    let (local, phone, email) = recipient();
    post_journey(store.clone(), 8002, &local, &email).await;
    let records = stream_records(&stream_arn(&store).await);
    let flaky = flaky(2).await;
    let app = notifier::App {
        channels: flaky.clone(),
        ..notifier_app(store.clone()).await
    };
    let retries = run_notifier(&app, &records).await;
    assert!(
        flaky.failed.load(Ordering::SeqCst) >= 3,
        "failures were injected"
    );
    assert!(
        retries >= 3,
        "each failure came back as a batch item failure and was retried"
    );
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let (sms, mails) = sent_to(&data, &phone, &email);
    assert_one_per_milestone(&sms, &mails);
}

/// An SNS record as Lambda delivers it, carrying an SES notification.
fn sns_record(message: &str) -> Value {
    json!({"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:000000000000:ses-feedback:1",
           "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:000000000000:ses-feedback",
                   "Subject": null, "Message": message, "Timestamp": "2024-05-03T00:00:00.000Z",
                   "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": {}}})
}

#[tokio::test]
async fn a_hard_bounce_suppresses_the_address_for_good() {
    let store = Arc::new(dynamo_store().await);
    let notification = json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "Gone@Example.com"}]},
        "mail": {"destination": ["gone@example.com"]}
    });
    let soft = json!({"notificationType": "Bounce", "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "busy@example.com"}]}});
    let complaint = json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "angry@example.com"}]}});
    let records: Vec<Value> = [notification, soft, complaint]
        .iter()
        .map(|m| sns_record(&m.to_string()))
        .collect();
    let event = serde_json::from_value(json!({ "Records": records })).expect("an SnsEvent");
    use doorstep_core::notify::ports::NotifyStore;
    assert_eq!(
        email_feedback::handle(store.as_ref(), event).await.unwrap(),
        2
    );
    assert!(
        store
            .suppressions(Some("gone@example.com"), None)
            .await
            .unwrap()
            .email_suppressed
    );
    assert!(
        store
            .suppressions(Some("angry@example.com"), None)
            .await
            .unwrap()
            .email_suppressed
    );
    assert!(
        !store
            .suppressions(Some("busy@example.com"), None)
            .await
            .unwrap()
            .email_suppressed,
        "soft bounces are retried, not suppressed"
    );
    let bad = serde_json::from_value(json!({ "Records": [sns_record("not json")] })).unwrap();
    assert!(
        email_feedback::handle(store.as_ref(), bad).await.is_err(),
        "an unreadable notification fails loudly"
    );
}

#[tokio::test]
async fn a_poison_stream_record_is_set_aside_in_the_dlq_with_its_reason_and_the_rest_still_notify()
{
    let store = Arc::new(dynamo_store().await);
    let (local, phone, email) = recipient();
    post_journey(store.clone(), 8003, &local, &email).await;
    let mut records = stream_records(&stream_arn(&store).await);
    // The first shipment change can never be read: its document is not JSON.
    let poison = records
        .iter()
        .position(|r| r["dynamodb"]["NewImage"]["entity"]["S"] == "shipment")
        .expect("a shipment change");
    records[poison]["dynamodb"]["NewImage"]["doc"]["S"] = json!("{\"status\": not json");
    let poison_sequence = records[poison]["dynamodb"]["SequenceNumber"].clone();
    let poison_id = records[poison]["eventID"].as_str().unwrap().to_string();
    let dead_letters = Arc::new(sqs_dead_letters().await);
    let app = notifier::App {
        store: store.clone(),
        notify: store.clone(),
        failures: store.clone(),
        channels: Arc::new(channels().await),
        dead_letters: dead_letters.clone(),
        renderer: Renderer::new(None, 2),
        settings: settings(),
    };
    let event = || -> aws_lambda_events::dynamodb::Event {
        serde_json::from_value(json!({ "Records": records })).expect("a DynamoDbEvent")
    };
    // Lambda redelivers the batch from the failed record; the first two times it is reported.
    for attempt in 1..notifier::POISON_ATTEMPTS {
        let response = notifier::handle(&app, event()).await;
        assert_eq!(response.batch_item_failures.len(), 1, "attempt {attempt}");
        assert_eq!(
            json!(response.batch_item_failures[0].item_identifier),
            poison_sequence
        );
        assert!(queue_messages(&dead_letters).await.is_empty());
    }
    // The third time it is set aside and the batch completes: the shard moves on.
    let response = notifier::handle(&app, event()).await;
    assert!(response.batch_item_failures.is_empty());
    let letters = queue_messages(&dead_letters).await;
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["source"], "stream_record");
    assert_eq!(letters[0]["reference"], poison_id.as_str());
    assert_eq!(letters[0]["attempts"], 3);
    assert!(letters[0]["error"]
        .as_str()
        .unwrap()
        .contains("unreadable record"));
    // The letter replays as a notifier event once its cause is fixed.
    let replay: aws_lambda_events::dynamodb::Event =
        serde_json::from_value(json!({ "Records": [letters[0]["payload"]] })).unwrap();
    assert_eq!(replay.records[0].event_id, poison_id);
    // Every later change was notified: the parcel's delivery reached the customer.
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let (sms, _) = sent_to(&data, &phone, &email);
    assert!(
        sms.iter().any(|s| s.contains("has been delivered")),
        "{sms:#?}"
    );
}

/// A table written by a version that kept a `minute` cursor: its deferred sends are still found,
/// the cursor is walked once and removed, and from then on the pending set alone says what is due.
#[tokio::test]
async fn deferred_sends_left_under_an_older_cursor_are_still_sent() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use doorstep_core::notify::ports::{Deferred, NotifyStore};
    let store = dynamo_store().await;
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let waiting = Deferred {
        key: message_key("ups#1ZOLD#out_for_delivery#sms"),
        due: at("2024-05-04T01:05:00Z"),
        attempts: 0,
    };
    let put = |pk: &str, sk: &str| {
        store
            .client()
            .put_item()
            .table_name(store.table())
            .item("pk", AttributeValue::S(pk.into()))
            .item("sk", AttributeValue::S(sk.into()))
    };
    put("DEFER#2024-05-04T01:05", &waiting.key.to_string())
        .item("entity", AttributeValue::S("deferred_send".into()))
        .item(
            "doc",
            AttributeValue::S(serde_json::to_string(&waiting).unwrap()),
        )
        .send()
        .await
        .unwrap();
    let cursor = at("2024-05-04T01:00:00Z").timestamp().to_string();
    put("SCHED#deferred", "CURSOR")
        .item("minute", AttributeValue::N(cursor))
        .send()
        .await
        .unwrap();

    let due = store.due(at("2024-05-04T01:30:00Z"), 100).await.unwrap();
    assert_eq!(due, vec![waiting.clone()]);
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("SCHED#deferred".into()))
        .key("sk", AttributeValue::S("CURSOR".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        !item.contains_key("minute"),
        "the old cursor is walked once: {item:?}"
    );
    assert_eq!(
        item["pending"].as_ns().unwrap(),
        &vec![at("2024-05-04T01:05:00Z").timestamp().to_string()]
    );

    // Sent and removed: the next run empties the set and then finds nothing.
    store.remove_deferred(&waiting).await.unwrap();
    assert!(store
        .due(at("2024-05-04T01:31:00Z"), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .due(at("2024-05-04T01:32:00Z"), 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn another_parcel_listed_on_a_known_order_does_not_reach_the_notifier() {
    let store = Arc::new(dynamo_store().await);
    let stores = store_webhook::App {
        store: store.clone(),
        config: config(),
    };
    let (_, _, email) = recipient();
    let id = 8003;
    let second = json!({"type": "fulfillment", "event_id": "f2-8003", "fulfillment": {
        "id": "f2", "order_id": id, "carrier": "DHL", "tracking_number": "JD00008103"}});
    for body in [order(id, "", &email), serde_json::to_vec(&second).unwrap()] {
        let (status, json) = status_and_json(
            store_webhook::handle(&stores, store_event("generic", None, None, &body)).await,
        );
        assert_eq!(status, 200, "{json}");
    }
    let written = stream_records(&stream_arn(&store).await);
    let passed = passed_by_filter(&written);
    // The order as placed reaches the notifier; the order again with a second parcel listed
    // does not. Nor do the parcels' own records yet: made for the fulfilments, linked and with
    // no scan, they have nothing to tell until the carrier's first scan.
    assert_eq!(
        (changes_of("order", &written), changes_of("order", &passed)),
        (2, 1)
    );
    assert_eq!(
        (
            changes_of("shipment", &written),
            changes_of("shipment", &passed)
        ),
        (2, 0)
    );
}

#[tokio::test]
async fn a_scan_after_the_estimated_day_left_out_by_the_filter_is_still_told_by_the_schedule() {
    let store = Arc::new(dynamo_store().await);
    let (local, _, email) = recipient();
    let id = 8005;
    place_order(&store, id, &local, &email).await;
    // Promised for 3 May; the carrier scans it in transit again on 4 May (Bangkok): late.
    let promised = json!({"carrier": "dhl", "tracking_number": format!("JD{id:08}"), "event_id": "e1",
        "estimated_delivery": "2024-05-03",
        "events": [{"status": "in_transit", "occurred_at": "2024-05-02T09:00:00Z", "description": "in transit"}]});
    let scans = [
        serde_json::to_vec(&promised).unwrap(),
        scan(id, "e2", "in_transit", "2024-05-04T03:00:00Z"),
    ];
    post_scans(&store, scans).await;
    let (records, parcel) = parcel_records(&store).await;
    assert_eq!(
        parcel,
        (3, 1),
        "the parcel made for the order has no scan yet, and the late scan moved neither the \
         status nor the estimate: both are left out"
    );
    let app = notifier_app(store.clone()).await;
    assert_eq!(run_notifier(&app, &records).await, 0);
    let delayed = |data: &Value| {
        sent_to(data, "", &email)
            .1
            .iter()
            .filter(|s| s.contains("delayed"))
            .count()
    };
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    assert_eq!(
        delayed(&data),
        0,
        "no record that reached the notifier tells it"
    );
    // The check filed for the end of the promised day tells it at the schedule's next run.
    let now: doorstep_core::chrono::DateTime<doorstep_core::chrono::Utc> =
        "2024-05-04T04:00:00Z".parse().unwrap();
    let job = doorstep_core::jobs::Job::StalledShipments;
    doorstep_core::jobs::run(job, &app.notifier(), now)
        .await
        .unwrap();
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    assert_eq!(delayed(&data), 1, "{:#?}", sent_to(&data, "", &email).1);
}

#[tokio::test]
async fn a_repeated_estimate_is_left_out_and_a_second_failed_attempt_in_a_row_is_told() {
    let store = Arc::new(dynamo_store().await);
    let (_, _, email) = recipient();
    let id = 8007;
    place_order(&store, id, "", &email).await;
    let with_estimate = |event_id: &str, status: &str, at: &str, estimate: &str| {
        serde_json::to_vec(
            &json!({"carrier": "dhl", "tracking_number": format!("JD{id:08}"),
            "event_id": event_id, "estimated_delivery": estimate,
            "events": [{"status": status, "occurred_at": at, "description": status}]}),
        )
        .unwrap()
    };
    let scans = [
        with_estimate("e1", "in_transit", "2024-05-02T09:00:00Z", "2024-05-06"),
        // The same promise with a later scan: only when it was made moves.
        with_estimate("e2", "in_transit", "2024-05-03T09:00:00Z", "2024-05-06"),
        // The promise moves a day: "delayed".
        with_estimate("e3", "in_transit", "2024-05-04T09:00:00Z", "2024-05-07"),
        // Two attempts on the promised day, with no out-for-delivery scan between: the status
        // stays.
        scan(id, "e4", "failed_attempt", "2024-05-07T03:00:00Z"),
        scan(id, "e5", "failed_attempt", "2024-05-07T10:00:00Z"),
    ];
    post_scans(&store, scans).await;
    let (records, parcel) = parcel_records(&store).await;
    assert_eq!(
        parcel,
        (6, 4),
        "the parcel made for the order and the repeated promise are left out"
    );
    let app = notifier_app(store.clone()).await;
    assert_eq!(run_notifier(&app, &records).await, 0);
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let mails = sent_to(&data, "", &email).1;
    let count = |text: &str| mails.iter().filter(|s| s.contains(text)).count();
    assert_eq!(
        (
            count("on its way"),
            count("delayed"),
            count("we missed you")
        ),
        (1, 1, 2),
        "{mails:#?}"
    );
}

/// The message records in the table (`MSG#{key}` / `CLAIM`), by key.
async fn message_records(
    store: &DynamoStore,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let page = store
        .client()
        .scan()
        .table_name(store.table())
        .filter_expression("entity = :claim")
        .expression_attribute_values(
            ":claim",
            aws_sdk_dynamodb::types::AttributeValue::S("message_claim".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(page.last_evaluated_key.is_none(), "one page in a test");
    page.items.unwrap_or_default()
}

/// A parcel's and an order's emails are decided on their own record's change alone: a read
/// before the send and the completing write after it, no claim (one read unit instead of a write
/// unit). A text, which quiet hours may hand to the schedule, is still claimed. Delivered twice
/// with flaky providers, nothing is lost or doubled either way.
#[tokio::test]
async fn a_message_only_its_own_change_decides_is_checked_not_claimed() {
    let store = Arc::new(dynamo_store().await);
    let (local, phone, email) = recipient();
    post_journey(store.clone(), 8011, &local, &email).await;
    let records = passed_by_filter(&stream_records(&stream_arn(&store).await));
    let flaky = flaky(3).await;
    let app = notifier::App {
        channels: flaky.clone(),
        ..notifier_app(store.clone()).await
    };
    assert!(run_notifier(&app, &records).await > 0, "some sends failed");
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let (sms, mails) = sent_to(&data, &phone, &email);
    assert_one_per_milestone(&sms, &mails);
    let claims = message_records(&store).await;
    let mut checked = Vec::new();
    let mut claimed = Vec::new();
    for item in &claims {
        let key = item["pk"].as_s().unwrap().clone();
        assert_eq!(item["state"].as_s().unwrap(), "completed", "{key}");
        match item.contains_key("lease_until") {
            true => claimed.push(key),
            false => checked.push(key),
        }
    }
    checked.sort();
    claimed.sort();
    assert_eq!(checked.len(), 4, "{checked:?}");
    assert!(checked.iter().all(|k| k.ends_with("#email")), "{checked:?}");
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    assert!(claimed.iter().all(|k| k.ends_with("#sms")), "{claimed:?}");
}

#[tokio::test]
async fn an_sms_that_cannot_go_out_is_logged_on_the_emails_record_at_no_write_of_its_own() {
    let store = Arc::new(dynamo_store().await);
    let (_, _, email) = recipient();
    // No phone: every milestone's SMS is suppressed beside its email.
    post_journey(store.clone(), 8006, "", &email).await;
    let records = passed_by_filter(&stream_records(&stream_arn(&store).await));
    let app = notifier_app(store.clone()).await;
    // Delivered twice, as Lambda may: the second time finds every message sent and writes
    // nothing for the SMS either.
    for _delivery in 0..2 {
        let event: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(json!({ "Records": records })).unwrap();
        assert!(notifier::handle(&app, event)
            .await
            .batch_item_failures
            .is_empty());
    }
    let claims = message_records(&store).await;
    let key_of = |item: &std::collections::HashMap<_, aws_sdk_dynamodb::types::AttributeValue>| {
        item["pk"].as_s().unwrap().clone()
    };
    assert!(
        claims.iter().all(|item| key_of(item).ends_with("#email")),
        "no record of its own for an SMS not sent: {:?}",
        claims.iter().map(key_of).collect::<Vec<_>>()
    );
    let mut logged = Vec::new();
    for item in &claims {
        let doc: doorstep_core::notify::ports::LogEntry =
            serde_json::from_str(item["doc"].as_s().unwrap()).unwrap();
        assert_eq!(doc.state, doorstep_core::notify::ports::State::Sent);
        if let Some(beside) = item.get("beside") {
            let beside = beside.as_s().unwrap();
            logged.extend(doorstep_aws::notify_store::beside_entries(&doc, beside).unwrap());
        }
    }
    // Out for delivery and delivered go by SMS too: each one's SMS decision, with its reason.
    let milestones: Vec<String> = logged.iter().map(|e| e.key.occasion.to_string()).collect();
    assert!(
        milestones.iter().any(|m| m.contains("out_for_delivery"))
            && milestones.iter().any(|m| m.contains("delivered")),
        "{milestones:?} of {:?}",
        claims.iter().map(key_of).collect::<Vec<_>>()
    );
    let mut keys: Vec<String> = logged.iter().map(|e| e.key.to_string()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), logged.len(), "each decision logged once");
    for entry in &logged {
        assert_eq!(entry.channel, doorstep_core::notify::settings::Channel::Sms);
        assert_eq!(entry.state, doorstep_core::notify::ports::State::Suppressed);
        assert!(entry.reason.is_some());
        assert!(entry.key.to_string().ends_with("#sms"));
    }
}

/// The schedule's items in the table whose `pk` starts with `prefix`.
async fn items_under(
    store: &DynamoStore,
    prefix: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let page = store
        .client()
        .scan()
        .table_name(store.table())
        .filter_expression("begins_with(pk, :prefix)")
        .expression_attribute_values(
            ":prefix",
            aws_sdk_dynamodb::types::AttributeValue::S(prefix.into()),
        )
        .send()
        .await
        .unwrap();
    page.items.unwrap_or_default()
}

#[tokio::test]
async fn a_served_entry_of_the_schedule_is_passed_by_its_cursor_not_deleted() {
    use doorstep_core::chrono::{DateTime, Duration, Utc};
    use doorstep_core::ports::{DueEntry, DueKind, Store};
    let store = Arc::new(dynamo_store().await);
    let app = notifier_app(store.clone()).await;
    let kind = DueKind::Stalled;
    let due_at: DateTime<Utc> = "2024-05-04T01:00:00Z".parse().unwrap();
    let now = due_at + Duration::hours(1);
    // Three parcels' checks filed days ahead, as the notifier files them; none has a record,
    // so each check has nothing to tell.
    let subjects: Vec<String> = (1..=3).map(|n| format!("dhl#GONE{n}")).collect();
    for subject in &subjects {
        let entry = DueEntry::at(kind, due_at, subject);
        store
            .add_due(&entry, due_at - Duration::days(3))
            .await
            .unwrap();
    }
    // A run that dies before it finishes loses nothing: the next is given the same entries.
    let taken = store.due_subjects(kind, now, 100).await.unwrap();
    assert_eq!(taken.len(), 3);
    assert_eq!(store.due_subjects(kind, now, 100).await.unwrap(), taken);
    // A run that finishes writes the cursor once and deletes nothing.
    let job = doorstep_core::jobs::Job::StalledShipments;
    doorstep_core::jobs::run(job, &app.notifier(), now)
        .await
        .unwrap();
    assert!(store.due_subjects(kind, now, 100).await.unwrap().is_empty());
    let filed = items_under(&store, "DUE#stalled#2024-05-04").await;
    assert_eq!(filed.len(), 3, "served entries stay until their TTL");
    let ttl: i64 = filed[0]["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        DateTime::from_timestamp(ttl, 0).unwrap().date_naive(),
        "2024-07-03".parse().unwrap(),
        "60 days after their day"
    );
    let cursor = items_under(&store, "DUECURSOR#stalled").await;
    assert_eq!(cursor.len(), 1);
    assert_eq!(cursor[0]["subject"].as_s().unwrap(), &subjects[2]);
    // One filed when already due (an estimate already past) waits apart, and goes once served.
    let late = DueEntry::at(kind, due_at - Duration::days(1), "dhl#GONE4");
    store.add_due(&late, now).await.unwrap();
    assert_eq!(items_under(&store, "DUE#stalled#late").await.len(), 1);
    let later = now + Duration::hours(1);
    assert_eq!(
        store.due_subjects(kind, later, 100).await.unwrap(),
        std::slice::from_ref(&late)
    );
    doorstep_core::jobs::run(job, &app.notifier(), later)
        .await
        .unwrap();
    assert!(items_under(&store, "DUE#stalled#late").await.is_empty());
    assert!(store
        .due_subjects(kind, later, 100)
        .await
        .unwrap()
        .is_empty());
}
