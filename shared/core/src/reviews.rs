//! Reviews (Judge.me, or Doorstep's generic form) and what they change: a review of 2 stars or
//! less pauses marketing to that customer for `after_bad_review_days`, keeps that product out of
//! their recommendations and alerts the shop at once; 5 stars earns a thank-you (marketing).
//! Also here: review requests after delivery, and who counts as a VIP for support alerts.
//!
//! A review whose customer Doorstep does not know yet is kept and linked when an order brings
//! that customer (by email), as parcels are linked to orders.

use crate::ids::{CustomerId, OrderId, ProductId, ReviewId};
use crate::model::{Customer, Order, Provider, Shipment};
use crate::notify::keys::{About, Occasion};
use crate::notify::messages::Message;
use crate::notify::render::AlertLine;
use crate::notify::service::{Notifier, NotifyError, Subject, Summary};
use crate::optimistic::{self, UpdateError};
use crate::ports::{DueEntry, DueKind, Store, StoreError};
use crate::settings::Settings;
use crate::status::ShipmentStatus;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The longest title and text kept (a review is not an essay archive).
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 5_000;

/// Ratings at or under this are poor.
pub const POOR_RATING: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    /// 1 to 5.
    pub rating: u8,
    pub product_id: Option<ProductId>,
    pub order_id: Option<OrderId>,
    /// `None` until Doorstep knows the reviewer.
    pub customer_id: Option<CustomerId>,
    /// Lower case, for linking a reviewer who is not a customer yet.
    pub email: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// The reviewer as the platform names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// Doorstep's customer id when the platform knows the store's id (Judge.me's
    /// `external_id` is the Shopify customer).
    pub customer_id: Option<CustomerId>,
    pub email: Option<String>,
}

/// A review as the platform sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSnapshot {
    pub platform: Provider,
    pub external_id: String,
    pub rating: u8,
    pub product_id: Option<ProductId>,
    pub order_id: Option<OrderId>,
    pub reviewer: Reviewer,
    pub title: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A review webhook's delivery: the review and the platform's delivery id.
pub struct ReviewDelivery {
    pub review: ReviewSnapshot,
    pub delivery_id: Option<String>,
}

/// Applies a review: kept (a later rating replaces an earlier one), and when the reviewer is a
/// known customer, its effects on them. The shop's alert and the thank-you follow from the
/// stored review's change (the notifier).
pub async fn apply(
    store: &dyn Store,
    settings: &Settings,
    snapshot: &ReviewSnapshot,
    now: DateTime<Utc>,
) -> Result<&'static str, UpdateError> {
    let customer = match &snapshot.reviewer.customer_id {
        Some(id) => store.get_customer(id).await?,
        None => None,
    };
    let customer = match (customer, snapshot.reviewer.email.as_deref()) {
        (Some(c), _) => Some(c),
        (None, Some(email)) => match crate::model::email_key(email) {
            Some(key) => store.find_customer_by_email(&key).await?,
            None => None,
        },
        (None, None) => None,
    };
    let id = ReviewId::new(snapshot.platform, &snapshot.external_id);
    let (id_ref, customer_ref) = (&id, &customer);
    let saved = optimistic::with_retries(move || async move {
        let stored = store.get_review(id_ref).await?;
        let expected = stored.as_ref().map(|r| r.version);
        let review = Review {
            id: id_ref.clone(),
            rating: snapshot.rating,
            product_id: snapshot.product_id.clone(),
            order_id: snapshot.order_id.clone(),
            customer_id: customer_ref
                .as_ref()
                .map(|c| c.id.clone())
                .or(stored.as_ref().and_then(|r| r.customer_id.clone())),
            email: snapshot
                .reviewer
                .email
                .as_deref()
                .and_then(crate::model::email_key),
            title: snapshot.title.clone(),
            body: snapshot.body.clone(),
            created_at: snapshot.created_at,
            updated_at: now,
            version: 0,
        };
        let unchanged = stored.as_ref().is_some_and(|s| {
            Review {
                updated_at: s.updated_at,
                version: s.version,
                ..review.clone()
            } == *s
        });
        if unchanged {
            return Ok(None);
        }
        store.save_review(&review, expected).await?;
        Ok(Some(review))
    })
    .await?;
    let Some(review) = saved else {
        return Ok("already");
    };
    if let Some(customer) = customer {
        affect_customer(store, settings, &customer.id, &review, now).await?;
        return Ok("applied");
    }
    Ok("kept until the reviewer is a customer")
}

/// What a poor review does to the customer: no marketing for `after_bad_review_days` from the
/// review, and never that product again.
async fn affect_customer(
    store: &dyn Store,
    settings: &Settings,
    customer_id: &CustomerId,
    review: &Review,
    now: DateTime<Utc>,
) -> Result<(), UpdateError> {
    if review.rating > POOR_RATING {
        return Ok(());
    }
    let until = crate::bounds::later(
        review.created_at,
        Duration::days(i64::from(settings.after_bad_review_days)),
    );
    optimistic::with_retries(move || async move {
        let Some(mut customer) = store.get_customer(customer_id).await? else {
            return Ok(());
        };
        let version = customer.version;
        let before = (customer.marketing_suppressed_until, customer.disliked.len());
        customer.marketing_suppressed_until = Some(
            customer
                .marketing_suppressed_until
                .map_or(until, |current| current.max(until)),
        );
        if let Some(product) = &review.product_id {
            Customer::remember(&mut customer.disliked, std::slice::from_ref(product));
        }
        if (customer.marketing_suppressed_until, customer.disliked.len()) == before {
            return Ok(());
        }
        customer.updated_at = now;
        store.save_customer(&customer, Some(version)).await
    })
    .await
}

/// Links reviews left before their author was a customer: called when an order brings a
/// customer with an email address. One read when there is nothing to link.
pub async fn link_customer(
    store: &dyn Store,
    settings: &Settings,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Result<(), UpdateError> {
    let Some(email) = customer.email_key() else {
        return Ok(());
    };
    for found in store.unlinked_reviews(&email).await? {
        let id = &found.id;
        let linked = optimistic::with_retries(move || async move {
            let Some(mut review) = store.get_review(id).await? else {
                return Ok(None);
            };
            // Linked meanwhile by another delivery.
            if review.customer_id.is_some() {
                return Ok(None);
            }
            let version = review.version;
            review.customer_id = Some(customer.id.clone());
            review.updated_at = now;
            store.save_review(&review, Some(version)).await?;
            Ok(Some(review))
        })
        .await?;
        if let Some(review) = linked {
            affect_customer(store, settings, &customer.id, &review, now).await?;
        }
    }
    Ok(())
}

/// Whether a customer is at or above `vip_alert_tier` (by the loyalty tiers' order).
pub fn is_vip(settings: &Settings, customer: &Customer) -> bool {
    let (Some(threshold), Some(tier)) = (&settings.vip_alert_tier, &customer.tier) else {
        return false;
    };
    let Some(tiers) = settings.loyalty.as_ref().map(|l| &l.tiers) else {
        return threshold.eq_ignore_ascii_case(tier);
    };
    let rank = |name: &str| tiers.iter().position(|t| t.name.eq_ignore_ascii_case(name));
    match (rank(threshold), rank(tier)) {
        (Some(threshold), Some(tier)) => tier >= threshold,
        _ => false,
    }
}

/// The shop hears of what a review changed, or a customer is thanked: the occasions a stored
/// review's change reaches. A poor review alerts once per review; a 5-star one is thanked
/// once per review. Nothing happens until the reviewer is a known customer.
pub fn review_occasions(old: Option<&Review>, new: &Review) -> Vec<Occasion> {
    let Some(customer) = &new.customer_id else {
        return Vec::new();
    };
    let newly_known = old.is_none_or(|o| o.customer_id.is_none());
    let rating_moved = old.is_some_and(|o| o.rating != new.rating);
    if !(newly_known || rating_moved) {
        return Vec::new();
    }
    let about = About::Customer(customer.clone());
    let detail = Some(format!("review-{}", new.id));
    match new.rating {
        r if r <= POOR_RATING => vec![Occasion::new(about, Message::MerchantAlert, detail)],
        5 => vec![Occasion::new(about, Message::ReviewThanks, detail)],
        _ => Vec::new(),
    }
}

/// The alert a poor review raises.
pub fn review_alert(review: &Review, customer: &Customer, order: Option<&Order>) -> AlertLine {
    let stars =
        "★".repeat(usize::from(review.rating)) + &"☆".repeat(5 - usize::from(review.rating.min(5)));
    let mut details = vec![format!("Rating: {stars} ({}/5)", review.rating)];
    if let Some(title) = &review.title {
        details.push(format!("Title: {title}"));
    }
    if let Some(body) = &review.body {
        details.push(body.clone());
    }
    if let Some(product) = &review.product_id {
        details.push(format!("Product: {product}"));
    }
    AlertLine {
        kind: "bad_review".into(),
        summary: format!(
            "{} left a {}-star review",
            customer.first_name.as_deref().unwrap_or("A customer"),
            review.rating
        ),
        details,
        tier: customer.tier.clone(),
        order_name: order.map(|o| o.name.clone()),
        tracking_url: None,
    }
}

/// The occasion of a VIP's parcel in trouble, for the shop's support: once per milestone the
/// customer is told of (delay, failed attempt, return) or exception.
pub fn vip_occasion(
    settings: &Settings,
    customer: &Customer,
    shipment: &Shipment,
    customer_occasion: &Occasion,
) -> Option<Occasion> {
    if !is_vip(settings, customer) {
        return None;
    }
    let trouble = matches!(
        customer_occasion.message,
        Message::Delayed | Message::FailedAttempt | Message::ReturnToSender
    );
    trouble.then(|| {
        let detail = format!(
            "vip-{}{}",
            customer_occasion.message,
            customer_occasion
                .detail
                .as_deref()
                .map(|d| format!("-{d}"))
                .unwrap_or_default()
        );
        Occasion::new(
            About::Shipment(shipment.key()),
            Message::MerchantAlert,
            Some(detail),
        )
    })
}

/// The alert for a VIP's parcel in trouble.
pub fn vip_alert(
    settings: &Settings,
    customer: &Customer,
    order: &Order,
    shipment: &Shipment,
) -> AlertLine {
    let status = shipment.status.as_str().replace('_', " ");
    AlertLine {
        kind: "vip_problem".into(),
        summary: format!(
            "{} member {}: order {} is {status}",
            customer.tier.as_deref().unwrap_or("VIP"),
            customer.first_name.as_deref().unwrap_or(""),
            order.name
        ),
        details: vec![
            format!("Carrier: {} {}", shipment.carrier, shipment.tracking_number),
            format!("Status: {status}"),
        ],
        tier: customer.tier.clone(),
        order_name: Some(order.name.clone()),
        tracking_url: Some(format!(
            "{}/t/{}",
            settings.base_url(),
            shipment.tracking_token
        )),
    }
}

/// What a review-request job did or would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobOutcome {
    pub due_read: usize,
    pub requested: Vec<OrderId>,
    /// Orders filed but not asked, with why.
    pub skipped: Vec<(OrderId, &'static str)>,
    pub messages: Summary,
}

/// Files an order for its review request once its last parcel is delivered.
pub async fn file_review_request(
    store: &dyn Store,
    settings: &Settings,
    order: &OrderId,
    delivered_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let day = crate::bounds::later(
        delivered_at,
        Duration::days(i64::from(settings.review_request_days)),
    )
    .date_naive();
    store
        .add_due(
            &DueEntry::on(DueKind::ReviewRequest, day, order.as_str()),
            now,
        )
        .await
}

/// Why an order gets no review request, if so: cancelled, refunded (returned), already
/// reviewed, or a parcel that never made it.
async fn unaskable(store: &dyn Store, order: &Order) -> Result<Option<&'static str>, StoreError> {
    if order.cancelled {
        return Ok(Some("cancelled"));
    }
    if !order.refunded_line_items.is_empty() {
        return Ok(Some("returned or refunded"));
    }
    if !store.reviews_for_order(&order.id).await?.is_empty() {
        return Ok(Some("already reviewed"));
    }
    for parcel in &order.shipments {
        let Some(carrier) = &parcel.carrier else {
            return Ok(Some("a parcel was never tracked"));
        };
        let delivered = store
            .get_shipment(carrier, &parcel.tracking_number)
            .await?
            .is_some_and(|s| s.status == ShipmentStatus::Delivered);
        if !delivered {
            return Ok(Some("a parcel had an unresolved problem"));
        }
    }
    Ok(None)
}

/// The `review-requests` job: each order filed under a day up to today is asked once, unless
/// it is cancelled, refunded, reviewed already, or a parcel never arrived.
pub async fn run_review_requests(
    notifier: &Notifier<'_>,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<JobOutcome, NotifyError> {
    let store = notifier.store;
    let mut outcome = JobOutcome::default();
    let entries = store
        .due_subjects(DueKind::ReviewRequest, now, crate::ports::DUE_PER_RUN)
        .await?;
    outcome.due_read = entries.len();
    for (done, entry) in entries.iter().enumerate() {
        if let Err(e) = request_review(notifier, entry, now, preview, &mut outcome).await {
            crate::jobs::entry_failed(notifier, entry, e, &entries[..done], preview, now).await?;
        }
    }
    crate::jobs::finish_due(notifier, DueKind::ReviewRequest, &entries, preview).await?;
    Ok(outcome)
}

/// One filed order: asked, or skipped with the reason.
async fn request_review(
    notifier: &Notifier<'_>,
    entry: &crate::ports::DueEntry,
    now: DateTime<Utc>,
    preview: bool,
    outcome: &mut JobOutcome,
) -> Result<(), NotifyError> {
    let Some(order_id) = OrderId::parse(&entry.subject) else {
        return Ok(());
    };
    let Some((order, customer)) = notifier.order_and_customer_recent(&order_id).await? else {
        return Ok(());
    };
    if let Some(why) = unaskable(notifier.store, &order).await? {
        outcome.skipped.push((order_id, why));
        return Ok(());
    }
    outcome.requested.push(order_id.clone());
    if !preview {
        let occasion = Occasion::new(About::Order(order_id), Message::ReviewRequest, None);
        let mut subject = Subject::about_customer(occasion, &customer);
        subject.order = Some(&order);
        let mut summary = Summary::default();
        notifier
            .notify_occasion(&subject, now, &mut summary)
            .await?;
        outcome.messages.add(summary);
    }
    Ok(())
}

/// A stored review changed: the shop hears of a poor one at once, a 5-star one is thanked.
pub async fn changed(
    notifier: &Notifier<'_>,
    old: Option<&Review>,
    new: &Review,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), NotifyError> {
    let occasions = review_occasions(old, new);
    let Some(customer_id) = new.customer_id.as_ref().filter(|_| !occasions.is_empty()) else {
        return Ok(());
    };
    let Some(customer) = notifier.store.get_customer(customer_id).await? else {
        return Ok(());
    };
    let order = match &new.order_id {
        Some(id) => notifier.store.get_order(id).await?,
        None => None,
    };
    for occasion in occasions {
        let mut subject = Subject::about_customer(occasion, &customer);
        subject.order = order.as_ref();
        if subject.occasion.message == Message::MerchantAlert {
            subject.alert = Some(review_alert(new, &customer, order.as_ref()));
        }
        notifier.notify_occasion(&subject, now, summary).await?;
    }
    Ok(())
}

/// A poor review's alert held back, made again from the review.
pub async fn deferred_alert(
    notifier: &Notifier<'_>,
    detail: &str,
    customer: &Customer,
) -> Result<Option<(AlertLine, Option<Order>)>, NotifyError> {
    let Some(id) = detail.strip_prefix("review-").and_then(ReviewId::parse) else {
        return Ok(None);
    };
    let Some(review) = notifier.store.get_review(&id).await? else {
        return Ok(None);
    };
    let order = match &review.order_id {
        Some(id) => notifier.store.get_order(id).await?,
        None => None,
    };
    Ok(Some((
        review_alert(&review, customer, order.as_ref()),
        order,
    )))
}

/// A rating from 1 to 5, sent as a number or a numeric string.
pub fn rating(
    value: Option<&serde_json::Value>,
    field: &'static str,
) -> Result<u8, crate::providers::ParseError> {
    use crate::providers::ParseError;
    let number = match value {
        None | Some(serde_json::Value::Null) => return Err(ParseError::Missing(field)),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match number {
        Some(r) if r.fract() == 0.0 && (1.0..=5.0).contains(&r) => Ok(r as u8),
        _ => Err(ParseError::Invalid {
            field,
            reason: "must be a whole number from 1 to 5".into(),
        }),
    }
}

/// Free text as kept: control characters out, trimmed, `None` when empty; over `max`
/// characters it is refused (nothing is cut silently).
pub fn text(
    raw: Option<String>,
    max: usize,
    field: &'static str,
) -> Result<Option<String>, crate::providers::ParseError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() > max {
        return Err(crate::providers::ParseError::Invalid {
            field,
            reason: format!("longer than {max} characters"),
        });
    }
    Ok((!cleaned.is_empty()).then(|| cleaned.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LoyaltySettings;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn review(rating: u8, customer: Option<&str>) -> Review {
        Review {
            id: ReviewId::new(Provider::JudgeMe, "1"),
            rating,
            product_id: Some(ProductId::new(Provider::Shopify, "9")),
            order_id: None,
            customer_id: customer.map(|c| CustomerId::parse(c).unwrap()),
            email: Some("a@example.com".into()),
            title: None,
            body: None,
            created_at: at("2026-11-20T09:00:00Z"),
            updated_at: at("2026-11-20T09:00:00Z"),
            version: 1,
        }
    }

    #[test]
    fn a_poor_review_alerts_once_and_five_stars_thank_once_when_the_reviewer_is_known() {
        let known = Some("shopify:7");
        let messages = |old: Option<&Review>, new: &Review| -> Vec<Message> {
            review_occasions(old, new)
                .into_iter()
                .map(|o| o.message)
                .collect()
        };
        for rating in 1..=2 {
            assert_eq!(
                messages(None, &review(rating, known)),
                [Message::MerchantAlert]
            );
        }
        assert!(messages(None, &review(3, known)).is_empty());
        assert!(messages(None, &review(4, known)).is_empty());
        assert_eq!(messages(None, &review(5, known)), [Message::ReviewThanks]);
        // Unknown reviewer: nothing yet; once linked, the alert.
        assert!(messages(None, &review(1, None)).is_empty());
        assert_eq!(
            messages(Some(&review(1, None)), &review(1, known)),
            [Message::MerchantAlert]
        );
        // A redelivery changes nothing; a rating edited down alerts.
        assert!(messages(Some(&review(1, known)), &review(1, known)).is_empty());
        assert_eq!(
            messages(Some(&review(5, known)), &review(2, known)),
            [Message::MerchantAlert]
        );
        // The key is the review's: a second alert for the same review is the same message.
        let a = review_occasions(None, &review(1, known));
        let b = review_occasions(Some(&review(4, known)), &review(1, known));
        assert_eq!(a, b);
    }

    #[test]
    fn the_cap_counts_other_marketing_in_the_window_and_zero_stops_all() {
        let settings = Settings {
            marketing_cap: 2,
            ..Default::default()
        };
        use crate::notify::policy::over_marketing_cap;
        assert!(over_marketing_cap(0, &settings).is_none());
        assert!(over_marketing_cap(1, &settings).is_none());
        let reason = over_marketing_cap(2, &settings).unwrap();
        assert!(reason.starts_with("marketing cap reached"), "{reason}");
        let none = Settings {
            marketing_cap: 0,
            ..settings
        };
        assert!(over_marketing_cap(0, &none).is_some());
    }

    #[test]
    fn vips_are_at_or_above_the_alert_tier_by_the_tiers_order() {
        let mut settings = Settings {
            vip_alert_tier: Some("Silver".into()),
            loyalty: Some(LoyaltySettings::default()),
            ..Default::default()
        };
        let mut customer = crate::model::Customer {
            id: CustomerId::parse("shopify:7").unwrap(),
            first_name: None,
            email: None,
            phone: None,
            locale: "en".into(),
            timezone: "UTC".into(),
            timezone_source: crate::timezone::TimezoneSource::MerchantDefault,
            consents: Default::default(),
            tier: Some("Gold".into()),
            marketing_suppressed_until: None,
            purchased: vec![],
            refunded: vec![],
            disliked: vec![],
            preferences_token: crate::ids::Token::random(),
            updated_at: at("2026-11-20T09:00:00Z"),
            version: 1,
        };
        assert!(is_vip(&settings, &customer));
        customer.tier = Some("silver".into());
        assert!(is_vip(&settings, &customer));
        customer.tier = Some("Member".into());
        assert!(!is_vip(&settings, &customer));
        customer.tier = None;
        assert!(!is_vip(&settings, &customer));
        settings.vip_alert_tier = None;
        customer.tier = Some("Gold".into());
        assert!(!is_vip(&settings, &customer));
    }

    #[test]
    fn ratings_and_text_are_checked_at_the_edge() {
        use serde_json::json;
        assert_eq!(rating(Some(&json!(1)), "r").unwrap(), 1);
        assert_eq!(rating(Some(&json!("5")), "r").unwrap(), 5);
        assert_eq!(rating(Some(&json!(5.0)), "r").unwrap(), 5);
        for bad in [
            json!(0),
            json!(6),
            json!(4.5),
            json!(-1),
            json!("x"),
            json!(null),
            json!(1e300),
        ] {
            assert!(rating(Some(&bad), "r").is_err(), "{bad}");
        }
        assert_eq!(text(Some("  ".into()), 10, "t").unwrap(), None);
        assert_eq!(
            text(Some("a\u{0}b".into()), 10, "t").unwrap().as_deref(),
            Some("a b")
        );
        assert!(text(Some("x".repeat(11)), 10, "t").is_err());
    }
}
