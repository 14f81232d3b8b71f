//! The preferences page a customer reaches from every message: `GET /p/{token}` shows their
//! consents, `POST /p/{token}` saves them, and `POST /p/{token}/unsubscribe` is the RFC 8058
//! one-click unsubscribe mail clients call. The token is unguessable and names one customer.

use crate::model::{Consents, Customer};
use crate::ports::{Store, StoreError, WriteError};
use chrono::{DateTime, Utc};

/// A page or a plain answer, ready for any transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl PageResponse {
    fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const FIELDS: [(&str, &str, &str); 4] = [
    (
        "transactional_email",
        "Order and delivery updates by email",
        "อัปเดตคำสั่งซื้อและการจัดส่งทางอีเมล",
    ),
    (
        "transactional_sms",
        "Delivery updates by SMS",
        "อัปเดตการจัดส่งทาง SMS",
    ),
    (
        "marketing_email",
        "Offers and news by email",
        "ข้อเสนอและข่าวสารทางอีเมล",
    ),
    (
        "marketing_sms",
        "Offers and news by SMS",
        "ข้อเสนอและข่าวสารทาง SMS",
    ),
];

fn consent(consents: &Consents, field: &str) -> bool {
    match field {
        "transactional_email" => consents.transactional_email,
        "transactional_sms" => consents.transactional_sms,
        "marketing_email" => consents.marketing_email,
        _ => consents.marketing_sms,
    }
}

/// The consents a submitted form asks for: a checkbox left unticked is not sent, so it means no.
pub fn consents_from_form(form: &[u8]) -> Consents {
    let ticked: Vec<String> = form_urlencoded::parse(form)
        .filter(|(_, v)| v == "on" || v == "true" || v == "1")
        .map(|(k, _)| k.into_owned())
        .collect();
    let on = |field: &str| ticked.iter().any(|t| t == field);
    Consents {
        transactional_email: on("transactional_email"),
        transactional_sms: on("transactional_sms"),
        marketing_email: on("marketing_email"),
        marketing_sms: on("marketing_sms"),
    }
}

pub fn page(customer: &Customer, brand: &str, token: &str, notice: Option<&str>) -> String {
    let thai = customer.locale.starts_with("th");
    let (title, save) = if thai {
        ("ตั้งค่าการแจ้งเตือน", "บันทึก")
    } else {
        ("Notification preferences", "Save")
    };
    let mut rows = String::new();
    for (field, english, thai_label) in FIELDS {
        let checked = if consent(&customer.consents, field) {
            " checked"
        } else {
            ""
        };
        let label = if thai { thai_label } else { english };
        rows.push_str(&format!(
            "<p><label><input type=\"checkbox\" name=\"{field}\"{checked}> {}</label></p>",
            escape(label)
        ));
    }
    let notice = notice
        .map(|n| format!("<p role=\"status\"><b>{}</b></p>", escape(n)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:520px;margin:2em auto;padding:0 1em\">\
         <p>{brand}</p><h1>{title}</h1>{notice}<form method=\"post\" action=\"/p/{token}\">{rows}<button type=\"submit\">{save}</button></form></body></html>",
        lang = if thai { "th" } else { "en" },
        brand = escape(brand),
        token = escape(token),
    )
}

fn not_found() -> PageResponse {
    PageResponse::html(
        404,
        "<!doctype html><p>This link is not valid any more.</p>".into(),
    )
}

fn unavailable(e: StoreError) -> PageResponse {
    tracing::error!(error = %e, "preferences: storage failed");
    PageResponse::html(
        503,
        "<!doctype html><p>Please try again in a moment.</p>".into(),
    )
}

/// Applies a change to the customer's consents, retrying on a concurrent write.
async fn update(
    store: &dyn Store,
    token: &str,
    change: impl Fn(&mut Consents),
    now: DateTime<Utc>,
) -> Result<Option<Customer>, StoreError> {
    for _ in 0..5 {
        let Some(mut customer) = store.get_customer_by_preferences_token(token).await? else {
            return Ok(None);
        };
        let version = customer.version;
        change(&mut customer.consents);
        customer.updated_at = now;
        match store.save_customer(&customer, Some(version)).await {
            Ok(()) => return Ok(Some(customer)),
            Err(WriteError::Conflict | WriteError::Duplicate) => continue,
            Err(WriteError::Store(e)) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(
        "the customer record kept changing".into(),
    ))
}

/// Whether a body is RFC 8058's one-click form.
fn is_one_click(body: &[u8]) -> bool {
    form_urlencoded::parse(body).any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
}

/// Serves `GET|POST /p/{token}` and `POST /p/{token}/unsubscribe`.
pub async fn handle(
    store: &dyn Store,
    brand: &str,
    method: &str,
    token: &str,
    unsubscribe: bool,
    body: &[u8],
    now: DateTime<Utc>,
) -> PageResponse {
    // Tokens are URL-safe base64 of 192 bits; anything else cannot name a customer.
    if token.len() != 32
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return not_found();
    }
    match (method, unsubscribe) {
        ("GET", false) => match store.get_customer_by_preferences_token(token).await {
            Ok(Some(customer)) => PageResponse::html(200, page(&customer, brand, token, None)),
            Ok(None) => not_found(),
            Err(e) => unavailable(e),
        },
        ("POST", false) => {
            let wanted = consents_from_form(body);
            match update(store, token, |c| *c = wanted, now).await {
                Ok(Some(customer)) => {
                    let notice = if customer.locale.starts_with("th") {
                        "บันทึกแล้ว"
                    } else {
                        "Saved."
                    };
                    PageResponse::html(200, page(&customer, brand, token, Some(notice)))
                }
                Ok(None) => not_found(),
                Err(e) => unavailable(e),
            }
        }
        // RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`; no page, no confirmation
        // step. Anything else is not a one-click request (a link scanner, a stray form).
        ("POST", true) if !is_one_click(body) => PageResponse {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: "expected the form body List-Unsubscribe=One-Click (RFC 8058)".into(),
        },
        ("POST", true) => match update(store, token, |c| c.marketing_email = false, now).await {
            Ok(Some(_)) => PageResponse {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: "unsubscribed".into(),
            },
            Ok(None) => not_found(),
            Err(e) => unavailable(e),
        },
        _ => PageResponse {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: "method not allowed".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unticked_boxes_mean_no() {
        let consents = consents_from_form(b"transactional_email=on&marketing_sms=on");
        assert_eq!(
            consents,
            Consents {
                transactional_email: true,
                transactional_sms: false,
                marketing_email: false,
                marketing_sms: true
            }
        );
        assert_eq!(
            consents_from_form(b""),
            Consents {
                transactional_email: false,
                transactional_sms: false,
                marketing_email: false,
                marketing_sms: false
            }
        );
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
