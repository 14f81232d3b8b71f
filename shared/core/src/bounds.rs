//! The edge: every value Doorstep accepts from outside is range-checked and size-capped here,
//! once per delivery and for every provider, before anything is stored. Past this point times
//! are sane (so every later computation on them, in any timezone, is total), free text is short,
//! and a parcel's history cannot grow without bound.

use crate::model::{TrackingEvent, TrackingUpdate};
use crate::providers::ParseError;
use crate::store_events::{
    CustomerSnapshot, FulfillmentSnapshot, OrderSnapshot, ProductSnapshot, RefundSnapshot,
    StoreEvent,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// No instant or date before this is believed (no parcel Doorstep tracks is that old).
pub const EARLIEST_YEAR: i32 = 2000;
/// Parsers refuse years from this one on, whatever the clock says.
pub const LATEST_YEAR: i32 = 2100;
/// How far in the future a scan or a store's timestamp may be (clock skew, local times read as UTC).
pub const MAX_CLOCK_SKEW_HOURS: i64 = 26;
/// How far ahead an estimated delivery date may be.
pub const MAX_ESTIMATE_DAYS_AHEAD: i64 = 400;

/// A shipment keeps its newest events only; older ones beyond this are dropped.
pub const MAX_EVENTS_PER_SHIPMENT: usize = 250;
/// Free text and codes as carriers and stores send them, cut to these many characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_LOCATION_CHARS: usize = 200;
pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_TITLE_CHARS: usize = 300;
/// Identifiers longer than this are refused (they name records; cutting them would merge two).
pub const MAX_ID_CHARS: usize = 128;
pub const MAX_LINE_ITEMS: usize = 1000;
pub const MAX_PARCELS_PER_FULFILLMENT: usize = 100;

/// A value from a request, safe to log: control characters (CR, LF, ESC, NUL, …) are escaped,
/// so nobody can forge log lines, and the text is cut short.
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, c) in self.0.chars().enumerate() {
            if index == 64 {
                return f.write_str("…");
            }
            if c.is_control() || c == '\\' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The earliest instant accepted anywhere.
pub fn earliest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(EARLIEST_YEAR, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether a parsed instant lies in the years parsers accept.
pub fn plausible_year(t: &DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (EARLIEST_YEAR..LATEST_YEAR).contains(&t.year())
}

pub fn plausible_date(d: &NaiveDate) -> bool {
    use chrono::Datelike;
    (EARLIEST_YEAR..LATEST_YEAR).contains(&d.year())
}

/// `now` plus a span, saturating instead of overflowing (the clock is ours, but stay total).
pub fn later(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    now.checked_add_signed(span)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now` minus a span, saturating.
pub fn earlier(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    now.checked_sub_signed(span)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn out_of_range(field: &'static str, value: impl std::fmt::Display, why: &str) -> ParseError {
    ParseError::Invalid {
        field,
        reason: format!("'{value}' {why}"),
    }
}

/// An instant a sender reports as past (a scan, an order's update time).
pub fn check_instant(
    field: &'static str,
    t: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    if t < earliest() {
        return Err(out_of_range(
            field,
            t.to_rfc3339(),
            "is before the year 2000",
        ));
    }
    if t > later(now, Duration::hours(MAX_CLOCK_SKEW_HOURS)) {
        return Err(out_of_range(field, t.to_rfc3339(), "is in the future"));
    }
    Ok(())
}

/// A date a sender promises (an estimated delivery).
pub fn check_future_date(
    field: &'static str,
    d: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    if !plausible_date(&d) {
        return Err(out_of_range(field, d, "is out of range"));
    }
    let horizon = later(now, Duration::days(MAX_ESTIMATE_DAYS_AHEAD)).date_naive();
    if d > horizon {
        return Err(out_of_range(field, d, "is more than 400 days ahead"));
    }
    Ok(())
}

/// Cuts text to `max` characters on a character boundary, marking the cut.
pub fn cap(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => {
            let keep = text[..cut]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(cut, |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

fn cap_in_place(text: &mut String, max: usize) {
    if text.chars().nth(max).is_some() || text.trim().len() != text.len() {
        *text = cap(text, max);
    }
}

fn cap_option(text: &mut Option<String>, max: usize) {
    if let Some(t) = text {
        cap_in_place(t, max);
    }
}

/// The most points one loyalty entry may move (far above any real program; keeps sums total).
pub const MAX_POINTS: u64 = 1_000_000_000;

/// Checks another program's loyalty event: times in range, an earn's expiry ahead, ids and text
/// capped.
pub fn bound_loyalty_event(
    event: &mut crate::loyalty::service::ExternalEvent,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    use crate::loyalty::service::ExternalKind;
    check_id("event_id", &event.event_id)?;
    if let Some(id) = &event.customer.id {
        check_id("customer.id", id)?;
    }
    if let Some(email) = &event.customer.email {
        check_id("customer.email", email)?;
    }
    check_instant("occurred_at", event.occurred_at, now)?;
    if let Some(expires) = event.expires_at {
        if expires <= now && matches!(event.kind, ExternalKind::Earn | ExternalKind::Adjust) {
            return Err(out_of_range(
                "expires_at",
                expires.to_rfc3339(),
                "is in the past",
            ));
        }
        if expires > later(now, Duration::days(366 * 10)) {
            return Err(out_of_range(
                "expires_at",
                expires.to_rfc3339(),
                "is more than 10 years ahead",
            ));
        }
    }
    cap_option(&mut event.reason, MAX_DESCRIPTION_CHARS);
    Ok(())
}

/// Refuses an identifier that is too long to be one.
pub fn check_id(field: &'static str, id: &str) -> Result<(), ParseError> {
    if id.chars().nth(MAX_ID_CHARS).is_some() {
        return Err(ParseError::Invalid {
            field,
            reason: format!("longer than {MAX_ID_CHARS} characters"),
        });
    }
    Ok(())
}

/// A provider's delivery id, kept as is when short, else replaced by a digest of itself (it only
/// has to stay the same on a retry).
pub fn bound_delivery_id(id: &mut Option<String>) {
    if let Some(raw) = id {
        if raw.len() > MAX_ID_CHARS {
            let digest = crate::signature::sha256(&[raw.as_bytes()]);
            *raw = format!("h:{}", hex::encode(&digest[..16]));
        }
    }
}

fn bound_event(event: &mut TrackingEvent, now: DateTime<Utc>) -> Result<(), ParseError> {
    check_instant("events.occurred_at", event.occurred_at, now)?;
    cap_in_place(&mut event.description, MAX_DESCRIPTION_CHARS);
    cap_option(&mut event.location, MAX_LOCATION_CHARS);
    cap_in_place(&mut event.raw_code, MAX_CODE_CHARS);
    Ok(())
}

/// Checks and caps one carrier update: times in range, text short, at most the newest
/// [`MAX_EVENTS_PER_SHIPMENT`] events.
pub fn bound_update(update: &mut TrackingUpdate, now: DateTime<Utc>) -> Result<(), ParseError> {
    for event in &mut update.events {
        bound_event(event, now)?;
    }
    if let Some(date) = update.estimated_delivery {
        check_future_date("estimated_delivery", date, now)?;
    }
    if update.events.len() > MAX_EVENTS_PER_SHIPMENT {
        update.events.sort_by_key(TrackingEvent::order_key);
        let excess = update.events.len() - MAX_EVENTS_PER_SHIPMENT;
        update.events.drain(..excess);
    }
    bound_delivery_id(&mut update.delivery_id);
    Ok(())
}

fn bound_customer(customer: &mut CustomerSnapshot) -> Result<(), ParseError> {
    if let Some(id) = &customer.external_id {
        check_id("customer.id", id)?;
    }
    cap_option(&mut customer.first_name, MAX_NAME_CHARS);
    // Longer than any valid address or number: kept short, and unusable all the same.
    cap_option(&mut customer.email, 254);
    cap_option(&mut customer.phone, 40);
    cap_option(&mut customer.locale, 35);
    cap_option(&mut customer.timezone, 64);
    cap_option(&mut customer.country_code, 8);
    cap_option(&mut customer.province_code, 16);
    Ok(())
}

fn bound_fulfillment(
    fulfillment: &mut FulfillmentSnapshot,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    check_id("fulfillment.order_id", &fulfillment.order_external_id)?;
    if let Some(id) = &fulfillment.fulfillment_id {
        check_id("fulfillment.id", id)?;
    }
    if fulfillment.tracking_numbers.len() > MAX_PARCELS_PER_FULFILLMENT {
        return Err(ParseError::Invalid {
            field: "fulfillment.tracking_numbers",
            reason: format!("more than {MAX_PARCELS_PER_FULFILLMENT} parcels"),
        });
    }
    for item in &fulfillment.items {
        check_id("fulfillment.line_items.id", &item.line_item_id)?;
    }
    if let Some(status) = &mut fulfillment.status {
        check_instant("fulfillment.updated_at", status.at, now)?;
        cap_in_place(&mut status.raw_code, MAX_CODE_CHARS);
    }
    Ok(())
}

fn bound_order(order: &mut OrderSnapshot, now: DateTime<Utc>) -> Result<(), ParseError> {
    check_id("order.id", &order.external_id)?;
    cap_in_place(&mut order.name, MAX_CODE_CHARS);
    cap_option(&mut order.currency, 8);
    cap_option(&mut order.ship_to_city, MAX_NAME_CHARS);
    for (field, time) in [
        ("order.created_at", order.created_at),
        ("order.updated_at", order.updated_at),
    ] {
        if let Some(t) = time {
            check_instant(field, t, now)?;
        }
    }
    if order.line_items.len() > MAX_LINE_ITEMS {
        return Err(ParseError::Invalid {
            field: "line_items",
            reason: format!("more than {MAX_LINE_ITEMS} lines"),
        });
    }
    for line in &mut order.line_items {
        check_id("line_items.id", &line.id)?;
        for id in [&line.product_id, &line.variant_id].into_iter().flatten() {
            check_id("line_items.product_id", id)?;
        }
        cap_option(&mut line.sku, MAX_CODE_CHARS);
        cap_in_place(&mut line.title, MAX_TITLE_CHARS);
        cap_in_place(&mut line.price, 32);
    }
    bound_customer(&mut order.customer)?;
    for fulfillment in &mut order.fulfillments {
        bound_fulfillment(fulfillment, now)?;
    }
    Ok(())
}

/// URLs (product pages, images) longer than this are dropped rather than kept.
pub const MAX_URL_CHARS: usize = 2048;

/// A URL a page may link to: http(s), short, no characters that could break out of an attribute
/// (templates escape anyway). Anything else is dropped.
fn bound_url(url: &mut Option<String>) {
    let keep = url.as_deref().is_some_and(|u| {
        let u = u.trim();
        (u.starts_with("https://") || u.starts_with("http://"))
            && u.chars().count() <= MAX_URL_CHARS
            && !u.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>`".contains(c))
    });
    if !keep {
        *url = None;
    }
}

fn bound_product(product: &mut ProductSnapshot, now: DateTime<Utc>) -> Result<(), ParseError> {
    check_id("product.id", &product.external_id)?;
    cap_in_place(&mut product.title, MAX_TITLE_CHARS);
    cap_option(&mut product.handle, MAX_CODE_CHARS * 4);
    cap_option(&mut product.price, 32);
    cap_option(&mut product.currency, 8);
    bound_url(&mut product.url);
    bound_url(&mut product.image_url);
    if let Some(t) = product.updated_at {
        check_instant("product.updated_at", t, now)?;
    }
    Ok(())
}

fn bound_refund(refund: &mut RefundSnapshot) -> Result<(), ParseError> {
    check_id("refund.order_id", &refund.order_external_id)?;
    check_id("refund.id", &refund.refund_id)?;
    if refund.line_item_ids.len() + refund.product_ids.len() > MAX_LINE_ITEMS {
        return Err(ParseError::Invalid {
            field: "refund.line_items",
            reason: format!("more than {MAX_LINE_ITEMS} lines"),
        });
    }
    for id in refund.line_item_ids.iter().chain(&refund.product_ids) {
        check_id("refund.line_items", id)?;
    }
    Ok(())
}

/// Checks and caps a store event.
pub fn bound_store_event(event: &mut StoreEvent, now: DateTime<Utc>) -> Result<(), ParseError> {
    match event {
        StoreEvent::Order(order) => bound_order(order, now),
        StoreEvent::Fulfillment(fulfillment) => bound_fulfillment(fulfillment, now),
        StoreEvent::Product(product) => bound_product(product, now),
        StoreEvent::Refund(refund) => bound_refund(refund),
        StoreEvent::Ping => Ok(()),
    }
}

/// An id that becomes part of a record's key: at most [`MAX_ID_CHARS`], and none of the
/// characters keys are built with (`#`, `|`) or control characters.
pub fn check_key_id(field: &'static str, id: &str) -> Result<(), ParseError> {
    check_id(field, id)?;
    if id.chars().any(|c| c == '#' || c == '|' || c.is_control()) {
        return Err(ParseError::Invalid {
            field,
            reason: "must not contain '#', '|' or control characters".into(),
        });
    }
    Ok(())
}

/// Checks a subscription webhook: ids usable as keys, the update time in range, contacts short.
pub fn bound_subscription_event(
    event: &mut crate::subscriptions::SubscriptionEvent,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    use crate::subscriptions::SubscriptionEvent;
    let contact = match event {
        SubscriptionEvent::Customer(contact) => contact,
        SubscriptionEvent::Subscription(snapshot) => {
            check_key_id("subscription.id", &snapshot.external_id)?;
            if let Some(updated) = snapshot.updated_at {
                check_instant("subscription.updated_at", updated, now)?;
            }
            for item in &mut snapshot.items {
                cap_in_place(&mut item.title, 200);
                if let Some(product) = &item.product_id {
                    check_key_id("product_id", product.as_str())?;
                }
            }
            &mut snapshot.customer
        }
    };
    check_key_id("customer.id", &contact.external_id)?;
    for text in [
        &mut contact.email,
        &mut contact.phone,
        &mut contact.first_name,
        &mut contact.locale,
        &mut contact.timezone,
    ] {
        cap_option(text, MAX_ID_CHARS);
    }
    Ok(())
}

/// Checks a review: ids usable as keys, its time in range (not ahead of now).
pub fn bound_review(
    review: &mut crate::reviews::ReviewSnapshot,
    now: DateTime<Utc>,
) -> Result<(), ParseError> {
    check_key_id("review.id", &review.external_id)?;
    check_instant("review.created_at", review.created_at, now)?;
    if let Some(product) = &review.product_id {
        check_key_id("review.product_id", product.as_str())?;
    }
    if let Some(order) = &review.order_id {
        check_key_id("review.order_id", order.as_str())?;
    }
    if let Some(customer) = &review.reviewer.customer_id {
        check_key_id("review.customer.id", customer.as_str())?;
    }
    cap_option(&mut review.reviewer.email, MAX_ID_CHARS);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_short_text_and_marks_a_cut_on_a_character_boundary() {
        assert_eq!(cap("  Bangkok ", 10), "Bangkok");
        assert_eq!(cap("กรุงเทพมหานคร", 5), "กรุง…");
        assert_eq!(cap("กรุงเทพมหานคร", 5).chars().count(), 5);
        assert_eq!(cap("abcdef", 6), "abcdef");
        assert_eq!(cap("abcdefg", 6), "abcde…");
    }

    #[test]
    fn instants_outside_2000_to_tomorrow_are_refused_with_the_field() {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        assert!(check_instant("f", now, now).is_ok());
        assert!(check_instant("f", "2000-01-01T00:00:00Z".parse().unwrap(), now).is_ok());
        let old = check_instant("f", "1999-12-31T23:59:59Z".parse().unwrap(), now);
        assert!(old.unwrap_err().to_string().contains("invalid f"));
        assert!(check_instant("f", DateTime::<Utc>::MIN_UTC, now).is_err());
        assert!(check_instant("f", DateTime::<Utc>::MAX_UTC, now).is_err());
        assert!(check_instant("f", "2026-11-28T13:00:00Z".parse().unwrap(), now).is_ok());
        assert!(check_instant("f", "2026-11-29T12:00:00Z".parse().unwrap(), now).is_err());
        // A clock at the end of time still answers rather than overflowing.
        assert!(check_instant("f", now, DateTime::<Utc>::MAX_UTC).is_ok());
    }

    #[test]
    fn untrusted_text_cannot_forge_log_lines() {
        let forged = "x\n2026-01-01T00:00:00Z INFO FORGED\r\u{1b}[31m\0";
        let shown = Untrusted(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(shown.starts_with("x\\n2026"));
        assert!(Untrusted(&"a".repeat(500)).to_string().chars().count() <= 65);
    }

    #[test]
    fn long_delivery_ids_become_stable_digests() {
        let mut id = Some("x".repeat(500));
        bound_delivery_id(&mut id);
        let first = id.clone().unwrap();
        assert!(first.starts_with("h:") && first.len() < MAX_ID_CHARS);
        let mut again = Some("x".repeat(500));
        bound_delivery_id(&mut again);
        assert_eq!(again.unwrap(), first);
    }
}
