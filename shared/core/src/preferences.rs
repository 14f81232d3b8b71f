//! The preferences page a customer reaches from every message: `GET /p/{token}` shows their
//! consents, `POST /p/{token}` saves them, and `POST /p/{token}/unsubscribe` is the RFC 8058
//! one-click unsubscribe mail clients call. The token is unguessable and names one customer.

use crate::ids::Token;
use crate::model::{Consents, Customer};
use crate::optimistic::{self, UpdateError};
use crate::pages::{self, PageResponse};
use crate::ports::Store;
use chrono::{DateTime, Utc};
use serde_json::json;

const FIELDS: [(&str, &str, &str); 6] = [
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
    (
        "rewards_email",
        "Points and rewards by email",
        "คะแนนสะสมและสิทธิพิเศษทางอีเมล",
    ),
    (
        "rewards_sms",
        "Points and rewards by SMS",
        "คะแนนสะสมและสิทธิพิเศษทาง SMS",
    ),
];

fn consent(consents: &Consents, field: &str) -> bool {
    match field {
        "transactional_email" => consents.transactional_email,
        "transactional_sms" => consents.transactional_sms,
        "marketing_email" => consents.marketing_email,
        "marketing_sms" => consents.marketing_sms,
        "rewards_email" => consents.rewards_email,
        _ => consents.rewards_sms,
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
        rewards_email: on("rewards_email"),
        rewards_sms: on("rewards_sms"),
    }
}

fn page(customer: &Customer, brand: &str, notice: Option<&str>) -> PageResponse {
    let thai = customer.locale.starts_with("th");
    let fields: Vec<_> = FIELDS
        .iter()
        .map(|(name, english, thai_label)| {
            json!({
                "name": name,
                "label": if thai { thai_label } else { english },
                "on": consent(&customer.consents, name),
            })
        })
        .collect();
    let t = match thai {
        true => json!({"title": "ตั้งค่าการแจ้งเตือน", "save": "บันทึก"}),
        false => json!({"title": "Notification preferences", "save": "Save"}),
    };
    pages::page(
        200,
        "preferences",
        json!({
            "lang": if thai { "th" } else { "en" },
            "brand": brand,
            "token": customer.preferences_token.as_str(),
            "notice": notice,
            "fields": fields,
            "t": t,
        }),
    )
}

fn not_found(brand: &str) -> PageResponse {
    pages::page(
        404,
        "not_found",
        json!({"lang": "en", "brand": brand, "message": "This link is not valid any more."}),
    )
}

fn unavailable(e: UpdateError) -> PageResponse {
    tracing::error!(error = %e, "preferences: storage failed");
    PageResponse::text(503, "Please try again in a moment.")
}

/// Applies a change to the customer's consents, retrying on a concurrent write.
async fn update(
    store: &dyn Store,
    token: &Token,
    change: impl Fn(&mut Consents),
    now: DateTime<Utc>,
) -> Result<Option<Customer>, UpdateError> {
    let change = &change;
    optimistic::with_retries(move || async move {
        let Some(mut customer) = store.get_customer_by_preferences_token(token).await? else {
            return Ok(None);
        };
        let version = customer.version;
        change(&mut customer.consents);
        customer.updated_at = now;
        store.save_customer(&customer, Some(version)).await?;
        Ok(Some(customer))
    })
    .await
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
    // Anything that is not a token's shape cannot name a customer.
    let Some(token) = Token::parse(token) else {
        return not_found(brand);
    };
    match (method, unsubscribe) {
        ("GET", false) => match store.get_customer_by_preferences_token(&token).await {
            Ok(Some(customer)) => page(&customer, brand, None),
            Ok(None) => not_found(brand),
            Err(e) => unavailable(e.into()),
        },
        ("POST", false) => {
            let wanted = consents_from_form(body);
            match update(store, &token, |c| *c = wanted, now).await {
                Ok(Some(customer)) => {
                    let notice = match customer.locale.starts_with("th") {
                        true => "บันทึกแล้ว",
                        false => "Saved.",
                    };
                    page(&customer, brand, Some(notice))
                }
                Ok(None) => not_found(brand),
                Err(e) => unavailable(e),
            }
        }
        // RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click`; no page, no confirmation
        // step. Anything else is not a one-click request (a link scanner, a stray form).
        ("POST", true) if !is_one_click(body) => PageResponse::text(
            400,
            "expected the form body List-Unsubscribe=One-Click (RFC 8058)",
        ),
        ("POST", true) => match update(store, &token, |c| c.marketing_email = false, now).await {
            Ok(Some(_)) => PageResponse::text(200, "unsubscribed"),
            Ok(None) => not_found(brand),
            Err(e) => unavailable(e),
        },
        _ => PageResponse::text(405, "method not allowed"),
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
                marketing_sms: true,
                rewards_email: false,
                rewards_sms: false,
            }
        );
        assert_eq!(
            consents_from_form(b""),
            Consents {
                transactional_email: false,
                transactional_sms: false,
                marketing_email: false,
                marketing_sms: false,
                rewards_email: false,
                rewards_sms: false,
            }
        );
    }
}
