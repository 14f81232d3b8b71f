//! The notifier's channels on AWS: SMS through SNS `Publish`, email through SES v2 `SendEmail`,
//! merchant webhooks onto their own SQS queue (the merchant-webhook function delivers them,
//! signed, with retries and a dead-letter queue of their own).

use crate::on_first_use::OnFirstUse;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_types_convert_error::classify;
use doorstep_core::notify::policy::Kind;
use doorstep_core::notify::ports::{Channels, Outgoing, SendError};
use doorstep_core::notify::settings::Channel;

pub struct SnsSesChannels {
    pub sns: OnFirstUse<aws_sdk_sns::Client>,
    pub ses: OnFirstUse<aws_sdk_sesv2::Client>,
    pub sender_email: String,
    pub configuration_set: Option<String>,
    pub sms_sender_id: Option<String>,
    pub sms_origination_number: Option<String>,
    /// Merchant webhooks wait here for delivery; `None` when the stack has no queue.
    pub webhooks: Option<WebhookQueue>,
}

pub struct WebhookQueue {
    pub sqs: OnFirstUse<aws_sdk_sqs::Client>,
    pub queue_url: String,
}

/// What the merchant-webhook function gets for each webhook: where to POST, and the body.
pub use doorstep_core::merchant_webhook::Delivery as QueuedWebhook;

mod aws_smithy_types_convert_error {
    use doorstep_core::notify::ports::SendError;

    /// Error codes that mean "this message will never be accepted": not worth a retry.
    const PERMANENT: &[&str] = &[
        "InvalidParameter",
        "InvalidParameterValue",
        "InvalidParameterException",
        "MessageRejected",
        "BadRequestException",
        "NotFoundException",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "SendingPausedException",
        "EndpointDisabled",
        "OptedOut",
    ];

    /// Maps an AWS error code (when the service answered) to retryable or permanent. Anything
    /// that is not known to be permanent, throttling and timeouts included, is retried.
    pub fn classify(code: Option<&str>, detail: String) -> SendError {
        match code {
            Some(code) if PERMANENT.contains(&code) => {
                SendError::Rejected(format!("{code}: {detail}"))
            }
            Some(code) => SendError::Retryable(format!("{code}: {detail}")),
            None => SendError::Retryable(detail),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SendError::Rejected(e.to_string()))
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Rejected(e.to_string()))
}

fn header(name: &str, value: &str) -> Result<MessageHeader, SendError> {
    MessageHeader::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| SendError::Rejected(e.to_string()))
}

impl SnsSesChannels {
    async fn sms(&self, message: &Outgoing) -> Result<String, SendError> {
        // SNS keeps the list of numbers that replied STOP: honour it before publishing.
        let opted_out = self
            .sns
            .get()
            .check_if_phone_number_is_opted_out()
            .phone_number(&message.to)
            .send()
            .await
            .map_err(|e| {
                classify(
                    e.code(),
                    aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
                )
            })?;
        if opted_out.is_opted_out() {
            return Err(SendError::Rejected(
                "OptedOut: the number opted out of SMS".into(),
            ));
        }
        let sms_type = match message.kind {
            // Points about to expire are an account notice, not a promotion.
            Kind::Transactional | Kind::Rewards => "Transactional",
            Kind::Marketing => "Promotional",
        };
        let mut publish = self
            .sns
            .get()
            .publish()
            .phone_number(&message.to)
            .message(&message.body)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute(sms_type)?);
        if let Some(sender) = &self.sms_sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender)?);
        }
        if let Some(number) = &self.sms_origination_number {
            publish =
                publish.message_attributes("AWS.MM.SMS.OriginationNumber", attribute(number)?);
        }
        let output = publish.send().await.map_err(|e| {
            classify(
                e.code(),
                aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
            )
        })?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }

    async fn email(&self, message: &Outgoing) -> Result<String, SendError> {
        let mut body = Body::builder().text(content(&message.body)?);
        if let Some(html) = &message.html {
            body = body.html(content(html)?);
        }
        let mut simple = Message::builder()
            .subject(content(message.subject.as_deref().unwrap_or_default())?)
            .body(body.build());
        // RFC 8058 one-click unsubscribe on marketing mail.
        if let Some(url) = &message.unsubscribe_url {
            simple = simple
                .headers(header("List-Unsubscribe", &format!("<{url}>"))?)
                .headers(header(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click",
                )?);
        }
        let output = self
            .ses
            .get()
            .send_email()
            .from_email_address(&self.sender_email)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().simple(simple.build()).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| {
                classify(
                    e.code(),
                    aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string(),
                )
            })?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}

#[async_trait]
impl Channels for SnsSesChannels {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        match message.channel {
            Channel::Sms => self.sms(message).await,
            Channel::Email => self.email(message).await,
            Channel::Webhook => self.enqueue_webhook(message).await,
        }
    }
}

impl SnsSesChannels {
    /// Hands the webhook to its queue: durable from here on, delivered and retried by the
    /// merchant-webhook function.
    async fn enqueue_webhook(&self, message: &Outgoing) -> Result<String, SendError> {
        let queue = self
            .webhooks
            .as_ref()
            .ok_or_else(|| SendError::Rejected("no merchant webhook queue is configured".into()))?;
        let body = serde_json::to_string(&QueuedWebhook {
            url: message.to.clone(),
            body: message.body.clone(),
        })
        .map_err(|e| SendError::Rejected(e.to_string()))?;
        let output = queue
            .sqs
            .get()
            .send_message()
            .queue_url(&queue.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                classify(
                    e.code(),
                    aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
                )
            })?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}
