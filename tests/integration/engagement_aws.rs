//! A renewal reminder end to end on moto: the subscription webhook through the store-webhook
//! Lambda into DynamoDB, the scheduler's job sending email (SES) and SMS (SNS) with a manage
//! link, a skip on the manage-page Lambda, and the change reaching the shop through the stream:
//! an email, and a signed webhook retried until the shop's endpoint takes it. Then the
//! marketing cap read back from DynamoDB.

use crate::tracking::merchant_endpoint;
use doorstep_core::chrono::{Duration, Utc};
use doorstep_core::merchant_webhook::Poster;
use doorstep_core::notify::keys::{About, Occasion};
use doorstep_core::notify::messages::Message;
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{Subject, Summary};
use doorstep_core::ports::Store;
use doorstep_core::settings::Settings;
use doorstep_tests::*;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn a_renewal_reminder_a_skip_and_the_shops_signed_webhook_on_moto() {
    let dynamo = Arc::new(dynamo_store().await);
    let store: Arc<dyn Store> = dynamo.clone();
    let now = Utc::now();
    let unique: String = doorstep_core::ids::random_token()
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    // Ends in 1: moto reports numbers ending in 99 as opted out of SMS.
    let unique = format!("{unique:0<6}1");
    let email = format!("sub-{unique}@example.com");
    let phone = format!("+6682{unique}");
    let charge = (now + Duration::days(5)).date_naive();
    let body = serde_json::to_vec(&json!({"event_id": format!("e-{unique}"), "subscription": {
        "id": format!("s-{unique}"), "status": "active", "interval_days": 30,
        "next_charge_at": charge.to_string(), "currency": "THB",
        "items": [{"product_id": "tea", "title": "Jasmine tea", "quantity": 1, "price": "250.00"}],
        "customer": {"id": format!("c-{unique}"), "email": email, "phone": phone, "locale": "en",
                     "timezone": "Asia/Bangkok", "first_name": "Nok"}}}))
    .unwrap();
    let mut config = config();
    config.settings = Settings {
        public_base_url: "https://shop.example.com".into(),
        ..Default::default()
    };
    let webhooks = store_webhook::App {
        store: store.clone(),
        config,
    };
    let (status, json) = status_and_json(
        store_webhook::handle(&webhooks, subscription_event("generic", None, &body)).await,
    );
    assert_eq!(status, 200, "{json}");

    let (hook_url, received) = merchant_endpoint(vec![500, 200]).await;
    let merchant_email = format!("support-{unique}@shop.example.com");
    let settings = Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://shop.example.com".into(),
        sender_email: "orders@shop.example.com".into(),
        merchant_email: Some(merchant_email.clone()),
        merchant_webhook_url: Some(hook_url),
        quiet_hours: None,
        marketing_cap: 1,
        ..Default::default()
    };
    let aws = aws_config().await;
    let ses = aws_sdk_sesv2::Client::new(&aws);
    ses.create_email_identity()
        .email_identity("shop.example.com")
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("doorstep-merchant-webhooks-sub-{unique}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let app = notifier::App {
        store: store.clone(),
        notify: dynamo.clone(),
        failures: dynamo.clone(),
        channels: Arc::new(doorstep_aws::channels::SnsSesChannels {
            sns: aws_sdk_sns::Client::new(&aws).into(),
            ses: ses.into(),
            sender_email: settings.sender_email.clone(),
            configuration_set: None,
            sms_sender_id: None,
            sms_origination_number: None,
            webhooks: Some(doorstep_aws::channels::WebhookQueue {
                sqs: sqs.clone().into(),
                queue_url: queue_url.clone(),
            }),
        }),
        dead_letters: Arc::new(sqs_dead_letters().await),
        renderer: Renderer::new(None, 2),
        settings: settings.clone(),
    };
    // The scheduler's job three days before the charge: one email, one SMS, even run twice.
    let due = now + Duration::days(2) + Duration::hours(1);
    for _ in 0..2 {
        scheduler::handle(&app, &json!({"job": "renewal-reminders"}), due)
            .await
            .unwrap();
    }
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let of = |service: &str, kind: &str, needle: &str| -> Vec<String> {
        data[service][kind]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m.to_string())
            .filter(|m| m.contains(needle))
            .collect()
    };
    let sms = of("sns", "SMS", &phone);
    let mails = of("ses", "Message", &email);
    assert_eq!(
        (sms.len(), mails.len()),
        (1, 1),
        "sms {sms:?} mails {mails:?}"
    );
    assert!(
        mails[0].contains("Jasmine tea") && mails[0].contains("250.00"),
        "{}",
        mails[0]
    );
    let html = mails[0].replace("&#x2f;", "/");
    let at = html.find("https://shop.example.com/s/").unwrap() + 27;
    let token: String = html[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();

    // Skip, on the manage-page Lambda.
    let pages = manage_page::App {
        store: store.clone(),
        settings: settings.clone(),
    };
    let get_page = apigw_event(
        "GET",
        "/s/{token}",
        &format!("/s/{token}"),
        &[("token", &token)],
        &[],
        None,
        b"",
    );
    let response = manage_page::handle(&pages, get_page).await;
    assert_eq!(response.status_code, 200);
    let skip = apigw_event(
        "POST",
        "/s/{token}/{action}",
        &format!("/s/{token}/skip"),
        &[("token", &token), ("action", "skip")],
        &[
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("sec-fetch-site".into(), "same-origin".into()),
        ],
        None,
        b"lang=en",
    );
    let response = manage_page::handle(&pages, skip).await;
    assert_eq!(response.status_code, 303);

    // The stream carries the request to the notifier: the shop's email and its webhook.
    let described = dynamo
        .client()
        .describe_table()
        .table_name(dynamo.table())
        .send()
        .await
        .unwrap();
    let records = stream_records(
        described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .unwrap(),
    );
    let event: aws_lambda_events::dynamodb::Event =
        serde_json::from_value(json!({"Records": records})).unwrap();
    let response = notifier::handle(&app, event).await;
    assert!(response.batch_item_failures.is_empty());
    let data = moto_http("GET", "/moto-api/data.json", None, "");
    let shop_mails: Vec<String> = data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m.to_string())
        .filter(|m| m.contains(&merchant_email))
        .collect();
    assert_eq!(shop_mails.len(), 1, "{shop_mails:?}");
    assert!(shop_mails[0].contains("Skip"), "{}", shop_mails[0]);
    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = messages.messages();
    assert_eq!(messages.len(), 1);
    let sqs_event = |receives: &str| -> aws_lambda_events::sqs::SqsEvent {
        serde_json::from_value(json!({"Records": [{
            "messageId": messages[0].message_id(),
            "receiptHandle": messages[0].receipt_handle(),
            "body": messages[0].body(),
            "attributes": {"ApproximateReceiveCount": receives},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }]}))
        .unwrap()
    };
    let poster: Arc<dyn Poster> = Arc::new(doorstep_outbound::HttpPoster::new().unwrap());
    let hooks = merchant_webhook::App {
        poster,
        secret: Some(doorstep_core::secrets::Secret::new("merchant-key")),
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
    };
    let first = merchant_webhook::handle(&hooks, sqs_event("1")).await;
    assert_eq!(first.batch_item_failures.len(), 1, "a 500 is a failed try");
    let second = merchant_webhook::handle(&hooks, sqs_event("2")).await;
    assert!(second.batch_item_failures.is_empty());
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "the same delivery, twice");
    assert_eq!(got[0].1, got[1].1);
    let (headers, body) = &got[1];
    let signature = headers
        .iter()
        .find(|(n, _)| n == "doorstep-signature")
        .map(|(_, v)| v.as_str());
    doorstep_core::signature::verify_timestamped(
        signature,
        "Doorstep-Signature",
        b"merchant-key",
        body.as_bytes(),
        Utc::now().timestamp(),
        300,
    )
    .expect("signed with the merchant's key");
    let payload: Value = serde_json::from_str(body).unwrap();
    assert_eq!(payload["event"], "merchant_alert");
    assert_eq!(payload["alert"]["kind"], "subscription_change");

    // The marketing cap, counted from DynamoDB: with a cap of one, the second thank-you in a
    // week is held back.
    let customer = store
        .get_customer(&customer_id(&format!("generic-store:c-{unique}")))
        .await
        .unwrap()
        .unwrap();
    let notifier = app.notifier();
    let mut summary = Summary::default();
    for n in 0..2 {
        let occasion = Occasion::new(
            About::Customer(customer.id.clone()),
            Message::ReviewThanks,
            Some(format!("review-judgeme:{unique}{n}")),
        );
        let mut marketing = customer.clone();
        marketing.consents.marketing_email = true;
        notifier
            .notify_occasion(
                &Subject::about_customer(occasion, &marketing),
                now + Duration::minutes(n),
                &mut summary,
            )
            .await
            .unwrap();
    }
    assert_eq!((summary.sent, summary.suppressed), (1, 1), "{summary:?}");
}

#[tokio::test]
async fn a_days_sales_are_one_item_per_order_and_older_counts_still_add_up() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use doorstep_core::ids::{OrderId, ProductId};
    let store = dynamo_store().await;
    let day = Utc::now().date_naive();
    let tee = ProductId::parse("shopify:tee").unwrap();
    let mug = ProductId::parse("shopify:mug").unwrap();
    let order = OrderId::parse("shopify:5001").unwrap();
    store
        .add_sales(day, &order, &[tee.clone(), mug.clone()])
        .await
        .unwrap();
    // Written again (a crash before the order was marked counted): still one order.
    store
        .add_sales(day, &order, &[tee.clone(), mug.clone()])
        .await
        .unwrap();
    // A product's count as versions before one item per order kept it.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(format!("SALES#{day}")))
        .item("sk", AttributeValue::S(tee.as_str().into()))
        .item("count", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    let items = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("SALES#{day}")))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "the order's item and the older count");
    let mut sales = store.sales_since(day - Duration::days(30)).await.unwrap();
    sales.sort();
    assert_eq!(sales, [(mug, 1), (tee, 4)]);
}
