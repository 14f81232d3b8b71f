//! Message rendering: minijinja templates per message, channel and locale (English and Thai
//! built in, embedded from `shared/core/templates` at build time), overridable file by file from
//! the merchant's template directory.

use super::messages::Message;
use super::settings::Channel;
use super::sms;
use chrono::{Datelike, NaiveDate};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::path::PathBuf;

/// Locales with built-in templates; others fall back to their language, then the merchant default.
pub const LOCALES: &[&str] = &["en", "th"];

#[derive(Debug, thiserror::Error)]
#[error("template {template} failed: {detail}")]
pub struct RenderError {
    pub template: String,
    /// There is no such template (in that environment).
    pub missing: bool,
    pub detail: String,
}

/// Words the layouts use, per locale.
#[derive(Debug, Clone, Serialize)]
struct Phrases {
    estimated_delivery: &'static str,
    items: &'static str,
    track: &'static str,
    preferences: &'static str,
    member: &'static str,
    subscription_items: &'static str,
    next_charge: &'static str,
    manage: &'static str,
}

fn phrases(locale: &str) -> Phrases {
    match locale {
        "th" => Phrases {
            estimated_delivery: "กำหนดส่งโดยประมาณ",
            items: "สินค้าในพัสดุนี้",
            track: "ติดตามพัสดุ",
            preferences: "ตั้งค่าการแจ้งเตือน",
            member: "สมาชิก",
            subscription_items: "สินค้าในการจัดส่งครั้งถัดไป",
            next_charge: "ตัดเงินครั้งถัดไป",
            manage: "จัดการการสมัครสมาชิก",
        },
        _ => Phrases {
            estimated_delivery: "Estimated delivery",
            items: "In this parcel",
            track: "Track your parcel",
            preferences: "Notification preferences",
            member: "Member",
            subscription_items: "In your next delivery",
            next_charge: "Next charge",
            manage: "Manage your subscription",
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemLine {
    pub title: String,
    pub quantity: u32,
}

/// Everything a message may say. Dates are formatted here, in the customer's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageContext {
    pub brand: String,
    pub first_name: Option<String>,
    pub tier: Option<String>,
    pub order_name: String,
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: String,
    pub preferences_url: String,
    pub estimated_delivery: Option<NaiveDate>,
    pub items: Vec<ItemLine>,
    /// Parcels of the order not yet delivered, after this one.
    pub parcels_remaining: usize,
    pub order_complete: bool,
    /// Failed attempts so far.
    pub attempt: usize,
    /// The customer's answer to a failed delivery (messages to the shop).
    pub choice: Option<ChoiceLine>,
    /// Points and tier (rewards messages).
    pub points: Option<PointsLine>,
    /// Days without a scan, when the schedule (not the carrier) found the parcel late.
    pub stalled_days: Option<u32>,
    pub subscription: Option<SubscriptionLine>,
    pub alert: Option<AlertLine>,
    /// The customer is at or above the VIP tier (their messages acknowledge it).
    pub vip: bool,
    /// The shop's referral page (5-star thank-yous).
    pub referral_url: Option<String>,
    /// The shop runs a loyalty program (a thank-you invites to it).
    pub loyalty_program: bool,
    pub store_url: Option<String>,
}

/// A subscription as a renewal reminder shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionLine {
    pub items: Vec<ItemLine>,
    /// One charge, priced (`฿1,290.00`).
    pub total: Option<String>,
    pub next_charge_on: Option<NaiveDate>,
    pub manage_url: Option<String>,
}

/// What a message to the shop's support is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    /// `bad_review`, `vip_problem`, `subscription_change`.
    pub kind: String,
    /// One line for the subject.
    pub summary: String,
    /// The rest, line by line (the review's text, the parcel's status, the change asked for).
    pub details: Vec<String>,
    pub tier: Option<String>,
    pub order_name: Option<String>,
    /// The parcel's page, when there is one.
    pub tracking_url: Option<String>,
}

/// What a rewards message says about the customer's points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointsLine {
    /// The points the message is about (those expiring, or the balance).
    pub points: u64,
    /// Their worth in the store's currency (`฿12.50`), when the merchant set a point value.
    pub value: Option<String>,
    /// The day they expire, in the customer's calendar.
    pub expires_on: Option<NaiveDate>,
    /// Everything spendable now.
    pub balance: u64,
    /// The tier reached (tier upgrades).
    pub tier: Option<String>,
    /// Where to spend them (`store_url`).
    pub spend_url: Option<String>,
}

/// A delivery choice as a message to the shop shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceLine {
    /// `redeliver`, `safe_place`, `neighbour`, `pickup_point`, `correct_address`.
    pub choice: String,
    pub date: Option<NaiveDate>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Rendered {
    Sms {
        body: String,
        segments: usize,
    },
    Email {
        subject: String,
        html: String,
        text: String,
    },
}

pub struct Renderer {
    /// The built-in templates only: what every message falls back to.
    builtin: Environment<'static>,
    /// The merchant's templates over the built-in ones, when a template directory is set.
    merchant: Option<Environment<'static>>,
    max_segments: usize,
}

/// A locale with templates: the tag itself, its language, or the fallback.
pub fn template_locale(locale: &str, fallback: &str) -> &'static str {
    let language = locale.split('-').next().unwrap_or(locale);
    [locale, language, fallback]
        .iter()
        .find_map(|wanted| LOCALES.iter().find(|l| *l == wanted))
        .copied()
        .unwrap_or("en")
}

impl Renderer {
    /// `override_dir` holds merchant templates with the same relative names as the built-in ones.
    pub fn new(override_dir: Option<PathBuf>, max_segments: usize) -> Self {
        let mut builtin = Environment::new();
        set_escaping(&mut builtin);
        load_builtin_templates(&mut builtin);
        let merchant = override_dir.map(|dir| {
            let mut env = Environment::new();
            env.set_loader(move |name| {
                // Names are ours (locale/message/part), never user input; still refuse escapes.
                if name.contains("..") {
                    return Ok(None);
                }
                Ok(std::fs::read_to_string(dir.join(name)).ok())
            });
            set_escaping(&mut env);
            env
        });
        Self {
            builtin,
            merchant,
            max_segments,
        }
    }

    /// Renders with the merchant's template; if that fails (a typo in an override), says so in
    /// the log and uses the built-in one: a broken override must not stop shipping updates.
    fn render_one(&self, name: &str, context: &minijinja::Value) -> Result<String, RenderError> {
        if let Some(merchant) = &self.merchant {
            match render_with(merchant, name, context) {
                Ok(text) => return Ok(text),
                // No override for this one: the built-in template is the merchant's choice.
                Err(RenderError { missing: true, .. }) => {}
                Err(e) => tracing::error!(
                    template = name,
                    error = %e.detail,
                    "merchant template failed; using the built-in one"
                ),
            }
        }
        render_with(&self.builtin, name, context)
    }

    pub fn render(
        &self,
        message: Message,
        channel: Channel,
        locale: &str,
        fallback_locale: &str,
        facts: &MessageContext,
    ) -> Result<Rendered, RenderError> {
        self.render_template(
            message,
            message.as_str(),
            channel,
            locale,
            fallback_locale,
            facts,
        )
    }

    /// Whether a follow-up has its templates (the merchant's or built in) in every locale the
    /// built-in messages have, for email.
    pub fn has_follow_up(&self, name: &str) -> bool {
        self.has_follow_up_for(name, Channel::Email)
    }

    /// Whether a follow-up has its templates for `channel` in every locale the built-in messages
    /// have. A merchant's follow-up may come with email templates alone.
    pub fn has_follow_up_for(&self, name: &str, channel: Channel) -> bool {
        let parts: &[&str] = match channel {
            Channel::Email => &["subject", "email"],
            Channel::Sms => &["sms"],
            Channel::Webhook => return false,
        };
        let exists = |env: &Environment<'static>, lang: &str| {
            parts.iter().all(|part| {
                env.get_template(&format!("{lang}/follow_up_{name}.{part}.j2"))
                    .is_ok()
            })
        };
        LOCALES.iter().all(|lang| {
            exists(&self.builtin, lang) || self.merchant.as_ref().is_some_and(|m| exists(m, lang))
        })
    }

    /// Renders `template` (a message's name, or `follow_up_{name}`) for `message`.
    pub fn render_template(
        &self,
        message: Message,
        template: &str,
        channel: Channel,
        locale: &str,
        fallback_locale: &str,
        facts: &MessageContext,
    ) -> Result<Rendered, RenderError> {
        let lang = template_locale(locale, fallback_locale);
        let mut values = serde_json::to_value(facts).map_err(|e| RenderError {
            template: "context".into(),
            missing: false,
            detail: e.to_string(),
        })?;
        values["estimated_delivery"] = facts
            .estimated_delivery
            .map(|d| format_date(d, lang))
            .into();
        values["estimated_delivery_short"] = facts
            .estimated_delivery
            .map(|d| format_date_short(d, lang))
            .into();
        if let Some(date) = facts.choice.as_ref().and_then(|c| c.date) {
            values["choice"]["date"] = format_date(date, lang).into();
        }
        if let Some(date) = facts.subscription.as_ref().and_then(|s| s.next_charge_on) {
            values["subscription"]["next_charge_on"] = format_date(date, lang).into();
            values["subscription"]["next_charge_short"] = format_date_short(date, lang).into();
        }
        if let Some(date) = facts.points.as_ref().and_then(|p| p.expires_on) {
            values["points"]["expires_on"] = format_date(date, lang).into();
            values["points"]["expires_on_short"] = format_date_short(date, lang).into();
        }
        values["lang"] = lang.into();
        // Messages to the shop carry no customer links (preferences, unsubscribe).
        values["for_shop"] =
            (message.spec().audience == super::messages::Audience::Merchant).into();
        values["t"] = serde_json::to_value(phrases(lang)).unwrap_or_default();
        let context = minijinja::Value::from(minijinja::value::Serde(&values));
        let path = |part: &str| format!("{lang}/{template}.{part}.j2");
        match channel {
            Channel::Sms => {
                let body = sms::fit(
                    &collapse(&self.render_one(&path("sms"), &context)?),
                    self.max_segments,
                );
                let segments = sms::measure(&body).segments;
                Ok(Rendered::Sms { body, segments })
            }
            Channel::Webhook => Err(RenderError {
                template: "webhook".into(),
                missing: true,
                detail: "a webhook's body is built from the records, not rendered".into(),
            }),
            Channel::Email => {
                let subject = collapse(&self.render_one(&path("subject"), &context)?);
                values["message"] = collapse(&self.render_one(&path("email"), &context)?).into();
                values["subject"] = subject.clone().into();
                let layout = minijinja::Value::from(minijinja::value::Serde(&values));
                Ok(Rendered::Email {
                    subject,
                    html: self.render_one("email.html.j2", &layout)?,
                    text: self.render_one("email.txt.j2", &layout)?,
                })
            }
        }
    }
}

/// The templates an occasion renders with: a follow-up's own (`follow_up_{name}`), else its
/// message's.
pub fn template_name(occasion: &super::keys::Occasion) -> String {
    match (occasion.message, occasion.detail.as_deref()) {
        (Message::FollowUp, Some(name)) => format!("follow_up_{name}"),
        (message, _) => message.as_str().to_string(),
    }
}

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The source of a template embedded from `shared/core/templates` at build time.
pub(crate) fn builtin_template(name: &str) -> Option<&'static str> {
    BUILTIN_TEMPLATES
        .binary_search_by(|(candidate, _)| (*candidate).cmp(name))
        .ok()
        .and_then(|at| BUILTIN_TEMPLATES.get(at))
        .map(|(_, source)| *source)
}

/// Serves the embedded templates, each compiled the first time it is rendered (every one is
/// rendered by the tests, so a syntax error cannot ship).
pub(crate) fn load_builtin_templates(env: &mut Environment<'static>) {
    env.set_loader(|name| Ok(builtin_template(name).map(str::to_string)));
}

fn set_escaping(env: &mut Environment<'static>) {
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
}

fn render_with(
    env: &Environment<'static>,
    name: &str,
    context: &minijinja::Value,
) -> Result<String, RenderError> {
    let error = |e: minijinja::Error| RenderError {
        template: name.to_string(),
        missing: e.kind() == minijinja::ErrorKind::TemplateNotFound,
        detail: e.to_string(),
    };
    let template = env.get_template(name).map_err(error)?;
    Ok(template.render(context).map_err(error)?.trim().to_string())
}

/// One line, single spaces (templates wrap for readability; messages should not).
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const TH_DAYS: [&str; 7] = ["จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์"];
const TH_MONTHS: [&str; 12] = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
];

const EN_SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const TH_SHORT_MONTHS: [&str; 12] = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
];

/// The short form SMS use (every character counts): "Mon 5 Aug", "5 ส.ค.".
pub fn format_date_short(date: NaiveDate, lang: &str) -> String {
    let month = date.month0() as usize;
    match lang {
        "th" => format!("{} {}", date.day(), TH_SHORT_MONTHS[month]),
        _ => format!(
            "{} {} {}",
            &EN_DAYS[date.weekday().num_days_from_monday() as usize][..3],
            date.day(),
            EN_SHORT_MONTHS[month]
        ),
    }
}

/// A day close enough that the year goes without saying: "Monday 5 August", "วันจันทร์ที่ 5 สิงหาคม".
pub fn format_day(date: NaiveDate, lang: &str) -> String {
    let day = date.weekday().num_days_from_monday() as usize;
    let month = date.month0() as usize;
    match lang {
        "th" => format!("วัน{}ที่ {} {}", TH_DAYS[day], date.day(), TH_MONTHS[month]),
        _ => format!("{} {} {}", EN_DAYS[day], date.day(), EN_MONTHS[month]),
    }
}

/// A date as the customer reads it: English "Monday 5 August"; Thai with the Buddhist Era year.
pub fn format_date(date: NaiveDate, lang: &str) -> String {
    let day = date.weekday().num_days_from_monday() as usize;
    let month = date.month0() as usize;
    match lang {
        "th" => format!(
            "วัน{}ที่ {} {} {}",
            TH_DAYS[day],
            date.day(),
            TH_MONTHS[month],
            date.year() + 543
        ),
        _ => format!(
            "{} {} {} {}",
            EN_DAYS[day],
            date.day(),
            EN_MONTHS[month],
            date.year()
        ),
    }
}
