//! Webhooks to the merchant's own systems (a delivery choice today): signed like the generic
//! inbound webhooks (`Doorstep-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`), retried
//! with backoff, set aside as a dead letter after [`MAX_ATTEMPTS`], never dropped.
//!
//! The notifier queues a [`Delivery`] when it "sends" a webhook message (SQS on AWS, a table
//! locally); a worker delivers the queue through a [`Poster`].

use crate::secrets::Secret;
use crate::signature::sign_timestamped;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Tries before a webhook is set aside (about a day and a half of backoff).
pub const MAX_ATTEMPTS: u32 = 12;
/// A merchant endpoint that has not answered in this long has failed this try.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One webhook waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub url: String,
    /// The JSON body, exactly as signed.
    pub body: String,
}

impl Delivery {
    /// The envelope's `event_id`, for logs and the merchant's deduplication.
    pub fn event_id(&self) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()?
            .get("event_id")?
            .as_str()
            .map(str::to_string)
    }
}

/// Sends one HTTP POST; the answer's status, or why there was none.
#[async_trait]
pub trait Poster: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String>;
}

/// Why a try failed (the worker schedules the next one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("no merchant_webhook_secret is set, so the webhook cannot be signed")]
    NoSecret,
    #[error("the merchant's endpoint answered {0}")]
    Status(u16),
    #[error("the merchant's endpoint could not be reached: {0}")]
    Unreachable(String),
}

/// The headers a webhook carries.
pub fn headers(
    secret: &Secret,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "Doorstep-Webhooks/1".to_string()),
        (
            "doorstep-signature",
            sign_timestamped(
                secret.expose().as_bytes(),
                delivery.body.as_bytes(),
                now.timestamp(),
            ),
        ),
    ];
    if let Some(id) = delivery.event_id() {
        headers.push(("doorstep-event-id", id));
    }
    headers
}

/// One try: a 2xx answer delivers it; anything else is tried again later (a merchant's 4xx is
/// usually a misconfiguration they will fix, and a dead letter is kept after the last try).
pub async fn deliver(
    poster: &dyn Poster,
    secret: Option<&Secret>,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let secret = secret.ok_or(DeliveryError::NoSecret)?;
    let headers = headers(secret, delivery, now);
    match poster.post(&delivery.url, &headers, &delivery.body).await {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => Err(DeliveryError::Status(status)),
        Err(reason) => Err(DeliveryError::Unreachable(reason)),
    }
}

/// The wait before try `attempt + 1` after `attempt` failed: 30 s doubling, at most 4 hours.
pub fn backoff(attempt: u32) -> Duration {
    let seconds = 30i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(16));
    Duration::seconds(seconds.min(4 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// One POST as the recorder saw it: URL, headers, body.
    type Seen = (String, Vec<(&'static str, String)>, String);

    struct Recorder {
        answer: Result<u16, String>,
        seen: Mutex<Vec<Seen>>,
    }

    #[async_trait]
    impl Poster for Recorder {
        async fn post(
            &self,
            url: &str,
            headers: &[(&'static str, String)],
            body: &str,
        ) -> Result<u16, String> {
            self.seen
                .lock()
                .unwrap()
                .push((url.into(), headers.to_vec(), body.into()));
            self.answer.clone()
        }
    }

    fn delivery() -> Delivery {
        Delivery {
            url: "https://erp.example.com/doorstep".into(),
            body: r#"{"event":"delivery_choice","event_id":"e-1"}"#.into(),
        }
    }

    #[tokio::test]
    async fn a_webhook_is_signed_so_the_generic_verifier_accepts_it() {
        let now: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let poster = Recorder {
            answer: Ok(204),
            seen: Mutex::new(vec![]),
        };
        let secret = Secret::new("whsec-merchant");
        deliver(&poster, Some(&secret), &delivery(), now)
            .await
            .unwrap();
        let seen = poster.seen.lock().unwrap();
        let (_, headers, body) = &seen[0];
        let signature = &headers
            .iter()
            .find(|(n, _)| *n == "doorstep-signature")
            .unwrap()
            .1;
        crate::signature::verify_timestamped(
            Some(signature),
            "Doorstep-Signature",
            b"whsec-merchant",
            body.as_bytes(),
            now.timestamp(),
            300,
        )
        .unwrap();
        assert!(headers.contains(&("doorstep-event-id", "e-1".to_string())));
    }

    #[tokio::test]
    async fn anything_but_2xx_or_no_secret_is_a_failed_try() {
        let now = Utc::now();
        let secret = Secret::new("k");
        for (answer, expected) in [
            (Ok(500), DeliveryError::Status(500)),
            (Ok(401), DeliveryError::Status(401)),
            (
                Err("refused".to_string()),
                DeliveryError::Unreachable("refused".into()),
            ),
        ] {
            let poster = Recorder {
                answer,
                seen: Mutex::new(vec![]),
            };
            assert_eq!(
                deliver(&poster, Some(&secret), &delivery(), now).await,
                Err(expected)
            );
        }
        let poster = Recorder {
            answer: Ok(200),
            seen: Mutex::new(vec![]),
        };
        assert_eq!(
            deliver(&poster, None, &delivery(), now).await,
            Err(DeliveryError::NoSecret)
        );
        assert!(poster.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn backoff_doubles_and_stays_bounded() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(5), Duration::seconds(480));
        assert_eq!(backoff(40), Duration::hours(4));
        assert_eq!(backoff(0), Duration::seconds(30));
    }
}
