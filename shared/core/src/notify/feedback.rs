//! SES feedback notifications (bounces and complaints), as SNS delivers them.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The addresses a notification says never to mail again, with why.
pub fn addresses_to_suppress(
    message: &str,
) -> Result<Vec<(String, &'static str)>, serde_json::Error> {
    let notification: Notification = serde_json::from_str(message)?;
    let kind = notification
        .notification_type
        .or(notification.event_type)
        .unwrap_or_default();
    Ok(match kind.as_str() {
        "Bounce" => notification
            .bounce
            .filter(|b| b.bounce_type.as_deref() == Some("Permanent"))
            .map(|b| {
                b.bounced_recipients
                    .into_iter()
                    .map(|r| (r.email_address, "hard bounce"))
                    .collect()
            })
            .unwrap_or_default(),
        "Complaint" => notification
            .complaint
            .map(|c| {
                c.complained_recipients
                    .into_iter()
                    .map(|r| (r.email_address, "complaint"))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_bounces_and_complaints_suppress_soft_bounces_do_not() {
        let hard = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"a@example.com"},{"emailAddress":"b@example.com"}]}}"#;
        assert_eq!(
            addresses_to_suppress(hard).unwrap(),
            vec![
                ("a@example.com".into(), "hard bounce"),
                ("b@example.com".into(), "hard bounce")
            ]
        );
        let soft = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bouncedRecipients":[{"emailAddress":"a@example.com"}]}}"#;
        assert!(addresses_to_suppress(soft).unwrap().is_empty());
        // Event publishing (configuration sets) says eventType instead of notificationType.
        let complaint = r#"{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"c@example.com"}]}}"#;
        assert_eq!(
            addresses_to_suppress(complaint).unwrap(),
            vec![("c@example.com".into(), "complaint")]
        );
        assert!(addresses_to_suppress(r#"{"notificationType":"Delivery"}"#)
            .unwrap()
            .is_empty());
        assert!(addresses_to_suppress("not json").is_err());
    }
}
