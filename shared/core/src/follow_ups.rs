//! What happens once an order's last parcel is delivered: its review request is filed for
//! `review_request_days` later, and each merchant-defined follow-up (`follow_ups`) whose product
//! types or tags match the order is filed for its own day. The `follow-ups` job sends them: care
//! instructions, how to use it, a rewards update with the points the order earned. Follow-ups are
//! transactional unless the merchant marks one as marketing.

use crate::catalog::Product;
use crate::ids::OrderId;
use crate::loyalty::Source;
use crate::model::Order;
use crate::notify::keys::{About, Occasion};
use crate::notify::messages::Message;
use crate::notify::service::{Notifier, NotifyError, PointsLine, Subject, Summary};
use crate::ports::{DueEntry, DueKind, Store, StoreError};
use crate::settings::{FollowUp, Settings};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// The built-in follow-up that reports the points an order earned; it needs no product match.
pub const REWARDS_UPDATE: &str = "rewards_update";

/// Between the order and the follow-up's name in the schedule's index (`{order}|{name}`).
const SEPARATOR: char = '|';

/// Whether a follow-up is for an order with these products: any product whose type or one of
/// whose tags the rule names (case-insensitive). The rewards update is for every order.
pub fn matches(rule: &FollowUp, products: &[Product]) -> bool {
    if rule.name == REWARDS_UPDATE && rule.product_types.is_empty() && rule.tags.is_empty() {
        return true;
    }
    products.iter().any(|product| {
        let typed = product.product_type.as_deref().is_some_and(|t| {
            rule.product_types
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(t.trim()))
        });
        let tagged = product.tags.iter().any(|tag| {
            rule.tags
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(tag.trim()))
        });
        typed || tagged
    })
}

/// Files an order's review request and matching follow-ups: called when its last parcel is
/// delivered. Filing twice is harmless (the index holds each once; messages are keyed once).
pub async fn after_delivery(
    store: &dyn Store,
    settings: &Settings,
    order: &Order,
    delivered_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::reviews::file_review_request(store, settings, &order.id, delivered_at, now).await?;
    if settings.follow_ups.is_empty() {
        return Ok(());
    }
    let ids = order.product_ids();
    let products = match ids.is_empty() {
        true => Vec::new(),
        false => store.get_products(&ids).await?,
    };
    for rule in settings.follow_ups.iter().filter(|r| matches(r, &products)) {
        let day = crate::bounds::later(
            delivered_at,
            Duration::days(i64::from(rule.days_after_delivery)),
        )
        .date_naive();
        let subject = format!("{}{SEPARATOR}{}", order.id, rule.name);
        store
            .add_due(&DueEntry::on(DueKind::FollowUp, day, &subject), now)
            .await?;
    }
    Ok(())
}

/// The occasion of a follow-up: once per order and follow-up.
pub fn occasion(order: &OrderId, rule: &FollowUp) -> Occasion {
    Occasion::new(
        About::Order(order.clone()),
        Message::FollowUp,
        Some(rule.name.clone()),
    )
}

/// What the `follow-ups` job did or would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobOutcome {
    pub due_read: usize,
    pub sent: Vec<PlannedFollowUp>,
    /// Filed but not sent, with why.
    pub skipped: Vec<SkippedFollowUp>,
    pub messages: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFollowUp {
    pub order_id: OrderId,
    pub follow_up: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFollowUp {
    pub subject: String,
    pub reason: &'static str,
}

/// The `follow-ups` job: each order and follow-up filed under a day up to today, once.
pub async fn run_job(
    notifier: &Notifier<'_>,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<JobOutcome, NotifyError> {
    let store = notifier.store;
    let mut outcome = JobOutcome::default();
    let entries = store
        .due_subjects(DueKind::FollowUp, now, crate::ports::DUE_PER_RUN)
        .await?;
    outcome.due_read = entries.len();
    for (done, entry) in entries.iter().enumerate() {
        match follow_up(notifier, &entry.subject, now, preview).await {
            Ok(Ok((planned, summary))) => {
                outcome.sent.push(planned);
                outcome.messages.add(summary);
            }
            Ok(Err(reason)) => outcome.skipped.push(SkippedFollowUp {
                subject: entry.subject.clone(),
                reason,
            }),
            Err(e) => {
                let finished = &entries[..done];
                crate::jobs::entry_failed(notifier, entry, e, finished, preview, now).await?;
            }
        }
    }
    crate::jobs::finish_due(notifier, DueKind::FollowUp, &entries, preview).await?;
    Ok(outcome)
}

type Sent = Result<(PlannedFollowUp, Summary), &'static str>;

async fn follow_up(
    notifier: &Notifier<'_>,
    subject: &str,
    now: DateTime<Utc>,
    preview: bool,
) -> Result<Sent, NotifyError> {
    let Some((order_id, name)) = subject.rsplit_once(SEPARATOR) else {
        return Ok(Err("not an order and follow-up"));
    };
    let Some(order_id) = OrderId::parse(order_id) else {
        return Ok(Err("not an order and follow-up"));
    };
    let Some(rule) = notifier.settings.follow_up(name) else {
        return Ok(Err("no such follow-up in the settings any more"));
    };
    let Some((order, customer)) = notifier.order_and_customer_recent(&order_id).await? else {
        return Ok(Err("the order or its customer is gone"));
    };
    if order.cancelled {
        return Ok(Err("the order was cancelled"));
    }
    if !notifier.renderer.has_follow_up(&rule.name) {
        tracing::error!(follow_up = %rule.name, "follow-up has no templates; not sent");
        return Ok(Err("no templates for this follow-up"));
    }
    let points = match rule.name == REWARDS_UPDATE {
        true => match rewards_line(notifier, &order, now).await? {
            Some(points) => Some(points),
            None => return Ok(Err("the order earned no points")),
        },
        false => None,
    };
    let planned = PlannedFollowUp {
        order_id: order_id.clone(),
        follow_up: rule.name.clone(),
    };
    let mut summary = Summary::default();
    if !preview {
        let mut subject = Subject::about_customer(occasion(&order_id, rule), &customer);
        subject.order = Some(&order);
        subject.points = points;
        notifier
            .notify_occasion(&subject, now, &mut summary)
            .await?;
    }
    Ok(Ok((planned, summary)))
}

/// A rewards update's facts: the points the order earned, the balance and the tier.
async fn rewards_line(
    notifier: &Notifier<'_>,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<Option<PointsLine>, NotifyError> {
    let Some(customer_id) = &order.customer_id else {
        return Ok(None);
    };
    if notifier.settings.loyalty.is_none() {
        return Ok(None);
    }
    let Some(account) = notifier.store.get_account(customer_id).await? else {
        return Ok(None);
    };
    let earned: u64 = account
        .lots
        .iter()
        .filter(|l| l.source == Source::Order && l.order_id.as_ref() == Some(&order.id))
        .map(|l| l.points)
        .sum();
    if earned == 0 {
        return Ok(None);
    }
    Ok(Some(PointsLine {
        points: earned,
        value: None,
        expires_on: None,
        balance: account.balance(now),
        tier: account.tier.clone(),
        spend_url: notifier.settings.store_url.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProductId;
    use crate::model::Provider;

    fn product(kind: Option<&str>, tags: &[&str]) -> Product {
        Product {
            id: ProductId::new(Provider::Shopify, "1"),
            title: "Serum".into(),
            url: None,
            handle: None,
            image_url: None,
            price: None,
            currency: None,
            active: true,
            in_stock: true,
            product_type: kind.map(str::to_string),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            source_updated_at: None,
            updated_at: Utc::now(),
            version: 1,
        }
    }

    fn rule(name: &str, types: &[&str], tags: &[&str]) -> FollowUp {
        FollowUp {
            name: name.into(),
            product_types: types.iter().map(|t| t.to_string()).collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            days_after_delivery: 2,
            marketing: false,
            channels: Vec::new(),
        }
    }

    #[test]
    fn a_follow_up_matches_by_product_type_or_tag_ignoring_case() {
        let care = rule("care", &["Skincare"], &["fragile"]);
        assert!(matches(&care, &[product(Some("skincare"), &[])]));
        assert!(matches(&care, &[product(None, &["Fragile"])]));
        assert!(!matches(&care, &[product(Some("Shoes"), &["sale"])]));
        assert!(!matches(&care, &[]));
        let rewards = rule(REWARDS_UPDATE, &[], &[]);
        assert!(matches(&rewards, &[]));
    }
}
