//! Per milestone and channel: send now, defer until a time, or suppress with a reason. Pure.

pub use super::messages::Kind;
use super::messages::{Audience, Message};
use super::settings::{Channel, QuietHours};
use crate::model::Customer;
use crate::settings::Settings;
use crate::zones::Tz;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Send,
    Defer { until: DateTime<Utc> },
    Suppress { reason: String },
}

/// What Doorstep knows about an address beyond the customer record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suppressions {
    /// A hard bounce or complaint: never mailed again.
    pub email_suppressed: bool,
    /// On SNS's opted-out list (the customer replied STOP).
    pub sms_opted_out: bool,
}

/// Why a channel cannot reach this customer at all (which makes the other channel a fallback).
fn unreachable_reason(
    channel: Channel,
    customer: &Customer,
    suppressions: Suppressions,
) -> Option<&'static str> {
    match channel {
        Channel::Email => match &customer.email {
            None => Some("no email address"),
            Some(contact) if contact.usable().is_none() => Some("email address is not valid"),
            _ if suppressions.email_suppressed => Some("email address bounced or complained"),
            _ => None,
        },
        Channel::Sms => match &customer.phone {
            None => Some("no phone number"),
            Some(contact) if contact.usable().is_none() => Some("phone number is not valid"),
            _ if suppressions.sms_opted_out => Some("phone number opted out of SMS"),
            _ => None,
        },
        Channel::Webhook => Some("customers are not sent webhooks"),
    }
}

fn consent_reason(
    kind: Kind,
    channel: Channel,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    let consents = &customer.consents;
    match (kind, channel) {
        (Kind::Transactional, Channel::Email) if !consents.transactional_email => {
            Some("opted out of email updates")
        }
        (Kind::Transactional, Channel::Sms) if !consents.transactional_sms => {
            Some("opted out of SMS updates")
        }
        (Kind::Marketing, Channel::Email) if !consents.marketing_email => {
            Some("no consent to marketing email")
        }
        (Kind::Marketing, Channel::Sms) if !consents.marketing_sms => {
            Some("no consent to marketing SMS")
        }
        (Kind::Rewards, Channel::Email) if !consents.rewards_email => {
            Some("opted out of points and rewards by email")
        }
        (Kind::Rewards, Channel::Sms) if !consents.rewards_sms => {
            Some("opted out of points and rewards by SMS")
        }
        (Kind::Marketing, _)
            if customer
                .marketing_suppressed_until
                .is_some_and(|until| until > now) =>
        {
            Some("marketing paused for this customer")
        }
        _ => None,
    }
}

/// The customer's zone, or the merchant's when the stored one is not a zone.
pub fn zone(customer: &Customer, settings: &Settings) -> Tz {
    crate::timezone::parse_zone(&customer.timezone)
        .or_else(|| crate::timezone::parse_zone(&settings.default_timezone))
        .unwrap_or(Tz::UTC)
}

/// Whether a message on `channel` may be held back: quiet hours hold back texts (a buzzing
/// phone), not email or the shop's webhook.
pub fn may_defer(channel: Channel) -> bool {
    channel == Channel::Sms
}

/// Decides one channel, assuming the channel was chosen for this milestone.
pub fn decide(
    kind: Kind,
    channel: Channel,
    customer: &Customer,
    suppressions: Suppressions,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(reason) = unreachable_reason(channel, customer, suppressions)
        .or(consent_reason(kind, channel, customer, now))
    {
        return Decision::Suppress {
            reason: reason.to_string(),
        };
    }
    if may_defer(channel) {
        if let Some(until) = settings
            .quiet_hours
            .and_then(|q| quiet_until(q, zone(customer, settings), now))
        {
            return Decision::Defer { until };
        }
    }
    Decision::Send
}

/// Every channel's decision for a message: the merchant's channels for it, plus the other channel
/// as a fallback when a chosen one cannot reach the customer at all. The message's kind decides
/// what consent it needs.
pub fn plan(
    message: Message,
    customer: &Customer,
    suppressions: Suppressions,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<(Channel, Decision)> {
    if message.spec().audience == Audience::Merchant {
        return merchant_plan(message, settings);
    }
    let chosen = settings.channels_for(message);
    plan_with(
        message.kind(),
        &chosen,
        customer,
        suppressions,
        settings,
        now,
    )
}

/// [`plan`] for a message whose kind and channels are given (follow-ups say their own).
pub fn plan_with(
    kind: Kind,
    chosen: &[Channel],
    customer: &Customer,
    suppressions: Suppressions,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<(Channel, Decision)> {
    let mut plan: Vec<(Channel, Decision)> = chosen
        .iter()
        .map(|&c| (c, decide(kind, c, customer, suppressions, settings, now)))
        .collect();
    if settings.fallback {
        for &channel in chosen {
            let Some(other) = channel.other() else {
                continue;
            };
            if chosen.contains(&other) || plan.iter().any(|(c, _)| *c == other) {
                continue;
            }
            if unreachable_reason(channel, customer, suppressions).is_some() {
                plan.push((
                    other,
                    decide(kind, other, customer, suppressions, settings, now),
                ));
            }
        }
    }
    plan
}

/// Whether another marketing message would go over `marketing_cap`: `recent` are the distinct
/// marketing occasions sent to the customer in the last 7 days, other than this one. Pure.
pub fn over_marketing_cap(recent: usize, settings: &Settings) -> Option<String> {
    let cap = settings.marketing_cap as usize;
    (recent >= cap).then(|| {
        format!(
            "marketing cap reached: {recent} marketing message(s) in the last 7 days (marketing_cap {cap})"
        )
    })
}

/// The window the marketing cap counts over.
pub const MARKETING_CAP_DAYS: i64 = 7;

/// Messages for the shop itself: sent to the addresses its settings give, at any hour; a
/// channel with no address configured is skipped with that reason.
fn merchant_plan(message: Message, settings: &Settings) -> Vec<(Channel, Decision)> {
    settings
        .channels_for(message)
        .into_iter()
        .map(|channel| {
            let decision = match merchant_address(channel, settings) {
                Some(_) => Decision::Send,
                None => Decision::Suppress {
                    reason: format!("the settings give the shop no {channel} address"),
                },
            };
            (channel, decision)
        })
        .collect()
}

/// Where the shop hears on a channel: `merchant_email`, `merchant_webhook_url`.
pub fn merchant_address(channel: Channel, settings: &Settings) -> Option<&str> {
    match channel {
        Channel::Email => settings.merchant_email.as_deref(),
        Channel::Webhook => settings.merchant_webhook_url.as_deref(),
        Channel::Sms => None,
    }
}

/// The end of the quiet window `now` falls in (in the customer's zone), or `None` outside it.
pub fn quiet_until(quiet: QuietHours, zone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if quiet.start == quiet.end {
        return None;
    }
    let local = crate::timezone::local_datetime(now, zone)?;
    let time = local.time();
    let date = local.date();
    let wraps = quiet.start > quiet.end; // 21:00-08:00 spans midnight
    let inside = if wraps {
        time >= quiet.start || time < quiet.end
    } else {
        time >= quiet.start && time < quiet.end
    };
    if !inside {
        return None;
    }
    let end_date = if wraps && time >= quiet.start {
        date.succ_opt()?
    } else {
        date
    };
    crate::timezone::instant_at(zone, end_date, quiet.end)
}
