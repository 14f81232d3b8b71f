//! The passwordless manage page a renewal reminder links to:
//!
//! - `GET /s/{token}`: the subscription, with skip, reschedule, quantity, pause and cancel;
//! - `POST /s/{token}/{skip|reschedule|quantity|pause|cancel}`: a form post, answered `303`
//!   back to the page (`409` for a cancelled subscription, `422` for a value out of range);
//! - `POST /s/new-link` (`email`): a fresh link by email, the same answer whether or not the
//!   address is known, at most [`LINKS_PER_HOUR`] requests per address an hour.
//!
//! The token is unguessable and expires after `manage_link_days`. An unknown, forged or
//! expired link gets one page that reveals nothing, with the form for a fresh link. Doorstep does
//! not bill: a change is recorded as requested, sent to the shop, and shown as requested until
//! the platform's next webhook confirms it.

use super::{ChangeKind, ChangeRequest, ChangeState, ManageLink, Subscription, SubscriptionStatus};
use crate::ids::Token;
use crate::model::Customer;
use crate::notify::render::format_date;
use crate::optimistic::{self, UpdateError};
use crate::pages::PageResponse;
use crate::ports::{Store, StoreError};
use crate::settings::Settings;
use crate::tracking::{self, TrackingRequest};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

/// Fresh-link requests one address may make in an hour.
pub const LINKS_PER_HOUR: u32 = 3;
/// How far ahead a delivery may be moved.
pub const RESCHEDULE_MAX_DAYS: i64 = 90;
pub const MAX_QUANTITY: u32 = 99;
pub const MAX_REASON_CHARS: usize = 500;
/// Requests kept on a subscription (older ones are history the platform already has).
const KEPT_REQUESTS: usize = 20;
const MAX_FORM_BYTES: usize = 8 * 1024;

#[derive(Debug, Serialize)]
pub struct Phrases {
    pub lang: &'static str,
    pub title: &'static str,
    pub active: &'static str,
    pub paused: &'static str,
    pub cancelled: &'static str,
    pub next_delivery: &'static str,
    pub every: &'static str,
    pub price: &'static str,
    pub items: &'static str,
    pub requests: &'static str,
    pub requested: &'static str,
    pub confirmed: &'static str,
    pub how_requests_work: &'static str,
    pub skip: &'static str,
    pub skip_button: &'static str,
    pub reschedule: &'static str,
    pub reschedule_button: &'static str,
    pub quantity: &'static str,
    pub quantity_button: &'static str,
    pub pause: &'static str,
    pub pause_button: &'static str,
    pub cancel: &'static str,
    pub cancel_reason: &'static str,
    pub cancel_button: &'static str,
    pub done: &'static str,
    pub expired_title: &'static str,
    pub expired_detail: &'static str,
    pub email: &'static str,
    pub send_link: &'static str,
    pub link_sent_title: &'static str,
    pub link_sent_detail: &'static str,
    pub too_many: &'static str,
    pub error_email: &'static str,
    pub error_date: &'static str,
    pub error_quantity: &'static str,
    pub error_reason: &'static str,
    pub closed_cancelled: &'static str,
    pub closed_cancel_requested: &'static str,
    pub closed_no_charge: &'static str,
    pub refused: &'static str,
    pub help: &'static str,
    pub contact: &'static str,
    pub kinds: Kinds,
}

#[derive(Debug, Serialize)]
pub struct Kinds {
    pub skip: &'static str,
    pub reschedule: &'static str,
    pub quantity: &'static str,
    pub pause: &'static str,
    pub cancel: &'static str,
}

const EN: Phrases = Phrases {
    lang: "en",
    title: "Your subscription",
    active: "Active",
    paused: "Paused",
    cancelled: "Cancelled",
    next_delivery: "Next delivery",
    every: "Every {days} days",
    price: "Price per delivery",
    items: "Items",
    requests: "Your requests",
    requested: "requested",
    confirmed: "done",
    how_requests_work: "Changes are sent to {brand} and show as requested until {brand} confirms them.",
    skip: "Skip the next delivery",
    skip_button: "Skip it",
    reschedule: "Move the next delivery",
    reschedule_button: "Move it",
    quantity: "Change the quantity",
    quantity_button: "Change quantity",
    pause: "Pause the subscription",
    pause_button: "Pause",
    cancel: "Cancel the subscription",
    cancel_reason: "Why are you cancelling? (optional)",
    cancel_button: "Cancel subscription",
    done: "Your request was sent to {brand}. It shows here as requested until it is done.",
    expired_title: "This link has expired",
    expired_detail: "Links to manage a subscription work for a limited time. Enter your email address and we'll send you a new one.",
    email: "Email address",
    send_link: "Send me a new link",
    link_sent_title: "Check your email",
    link_sent_detail: "If that address has a subscription with {brand}, a new link is on its way. It works for {days} days.",
    too_many: "Too many requests for this address. Please try again in an hour.",
    error_email: "Enter a valid email address.",
    error_date: "Choose a date from tomorrow up to 90 days ahead.",
    error_quantity: "Choose a quantity from 1 to 99.",
    error_reason: "Please keep the reason under 500 characters.",
    closed_cancelled: "This subscription is cancelled, so it can't be changed here. Contact {brand} to start it again.",
    closed_cancel_requested: "You've asked to cancel this subscription; {brand} is taking care of it.",
    closed_no_charge: "There is no upcoming delivery to change.",
    refused: "This form has to be sent from the subscription page.",
    help: "Need help?",
    contact: "Contact {brand}",
    kinds: Kinds {
        skip: "Skip delivery",
        reschedule: "Move delivery",
        quantity: "Change quantity",
        pause: "Pause",
        cancel: "Cancel",
    },
};

const TH: Phrases = Phrases {
    lang: "th",
    title: "การสมัครสมาชิกของคุณ",
    active: "ใช้งานอยู่",
    paused: "หยุดชั่วคราว",
    cancelled: "ยกเลิกแล้ว",
    next_delivery: "จัดส่งครั้งถัดไป",
    every: "ทุก {days} วัน",
    price: "ราคาต่อการจัดส่ง",
    items: "สินค้า",
    requests: "คำขอของคุณ",
    requested: "ส่งคำขอแล้ว",
    confirmed: "เรียบร้อย",
    how_requests_work: "คำขอจะถูกส่งไปยัง {brand} และแสดงว่า \"ส่งคำขอแล้ว\" จนกว่า {brand} จะยืนยัน",
    skip: "ข้ามการจัดส่งครั้งถัดไป",
    skip_button: "ข้าม",
    reschedule: "เลื่อนวันจัดส่งครั้งถัดไป",
    reschedule_button: "เลื่อนวัน",
    quantity: "เปลี่ยนจำนวน",
    quantity_button: "เปลี่ยนจำนวน",
    pause: "หยุดการสมัครสมาชิกชั่วคราว",
    pause_button: "หยุดชั่วคราว",
    cancel: "ยกเลิกการสมัครสมาชิก",
    cancel_reason: "เหตุผลที่ยกเลิก (ไม่บังคับ)",
    cancel_button: "ยกเลิกการสมัครสมาชิก",
    done: "ส่งคำขอของคุณไปยัง {brand} แล้ว จะแสดงว่า \"ส่งคำขอแล้ว\" จนกว่าจะดำเนินการเสร็จ",
    expired_title: "ลิงก์นี้หมดอายุแล้ว",
    expired_detail: "ลิงก์สำหรับจัดการการสมัครสมาชิกใช้ได้ในเวลาจำกัด กรอกอีเมลของคุณ แล้วเราจะส่งลิงก์ใหม่ให้",
    email: "อีเมล",
    send_link: "ส่งลิงก์ใหม่ให้ฉัน",
    link_sent_title: "ตรวจสอบอีเมลของคุณ",
    link_sent_detail: "หากอีเมลนี้มีการสมัครสมาชิกกับ {brand} เราได้ส่งลิงก์ใหม่ไปแล้ว ลิงก์ใช้ได้ {days} วัน",
    too_many: "มีคำขอสำหรับอีเมลนี้มากเกินไป โปรดลองใหม่ในอีกหนึ่งชั่วโมง",
    error_email: "กรุณากรอกอีเมลที่ถูกต้อง",
    error_date: "เลือกวันตั้งแต่พรุ่งนี้ถึง 90 วันข้างหน้า",
    error_quantity: "เลือกจำนวนตั้งแต่ 1 ถึง 99",
    error_reason: "กรุณาเขียนเหตุผลไม่เกิน 500 ตัวอักษร",
    closed_cancelled: "การสมัครสมาชิกนี้ถูกยกเลิกแล้ว จึงเปลี่ยนแปลงที่นี่ไม่ได้ ติดต่อ {brand} เพื่อเริ่มใหม่",
    closed_cancel_requested: "คุณได้ขอยกเลิกการสมัครสมาชิกนี้แล้ว {brand} กำลังดำเนินการ",
    closed_no_charge: "ไม่มีการจัดส่งครั้งถัดไปที่จะเปลี่ยนแปลงได้",
    refused: "ต้องส่งแบบฟอร์มนี้จากหน้าการสมัครสมาชิก",
    help: "ต้องการความช่วยเหลือ?",
    contact: "ติดต่อ {brand}",
    kinds: Kinds {
        skip: "ข้ามการจัดส่ง",
        reschedule: "เลื่อนวันจัดส่ง",
        quantity: "เปลี่ยนจำนวน",
        pause: "หยุดชั่วคราว",
        cancel: "ยกเลิก",
    },
};

pub fn phrases(lang: &str) -> &'static Phrases {
    match lang {
        "th" => &TH,
        _ => &EN,
    }
}

/// Why a change cannot be asked for (the page says it; the answer is `409`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Cancelled,
    CancelRequested,
    NoUpcomingCharge,
}

/// A value on the form out of range (the answer is `422`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Date,
    Quantity,
    Reason,
}

impl Closed {
    fn phrase(self, t: &Phrases) -> &'static str {
        match self {
            Self::Cancelled => t.closed_cancelled,
            Self::CancelRequested => t.closed_cancel_requested,
            Self::NoUpcomingCharge => t.closed_no_charge,
        }
    }
}

impl Invalid {
    fn phrase(self, t: &Phrases) -> &'static str {
        match self {
            Self::Date => t.error_date,
            Self::Quantity => t.error_quantity,
            Self::Reason => t.error_reason,
        }
    }
}

/// The days a delivery may be moved to: tomorrow through [`RESCHEDULE_MAX_DAYS`] ahead, in the
/// customer's calendar.
pub fn reschedule_range(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = today.succ_opt().unwrap_or(today);
    let last = today
        .checked_add_signed(Duration::days(RESCHEDULE_MAX_DAYS))
        .unwrap_or(first);
    (first, last)
}

/// Reads a change from a form, checked against the subscription as it is. Pure.
pub fn parse_change(
    kind: ChangeKind,
    form: &[u8],
    subscription: &Subscription,
    today: NaiveDate,
) -> Result<Result<ChangeRequest, Invalid>, Closed> {
    if subscription.status == SubscriptionStatus::Cancelled {
        return Err(Closed::Cancelled);
    }
    let cancel_pending = subscription
        .requests
        .iter()
        .any(|r| r.kind == ChangeKind::Cancel && r.state == ChangeState::Requested);
    if cancel_pending {
        return Err(Closed::CancelRequested);
    }
    let field = |name: &str| {
        form_urlencoded::parse(form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let mut request = ChangeRequest {
        id: String::new(),
        kind,
        date: None,
        quantity: None,
        reason: None,
        at: DateTime::<Utc>::MIN_UTC,
        state: ChangeState::Requested,
    };
    match kind {
        ChangeKind::Skip | ChangeKind::Reschedule if subscription.next_charge_on.is_none() => {
            return Err(Closed::NoUpcomingCharge)
        }
        ChangeKind::Skip => request.date = subscription.next_charge_on,
        ChangeKind::Reschedule => {
            let (first, last) = reschedule_range(today);
            match field("date").and_then(|d| d.parse::<NaiveDate>().ok()) {
                Some(date) if (first..=last).contains(&date) => request.date = Some(date),
                _ => return Ok(Err(Invalid::Date)),
            }
        }
        ChangeKind::Quantity => match field("quantity").and_then(|q| q.parse::<u32>().ok()) {
            Some(q) if (1..=MAX_QUANTITY).contains(&q) => request.quantity = Some(q),
            _ => return Ok(Err(Invalid::Quantity)),
        },
        ChangeKind::Pause => {}
        ChangeKind::Cancel => {
            let reason: String = field("reason")
                .unwrap_or_default()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if reason.chars().count() > MAX_REASON_CHARS {
                return Ok(Err(Invalid::Reason));
            }
            let reason = reason.trim();
            request.reason = (!reason.is_empty()).then(|| reason.to_string());
        }
    }
    Ok(Ok(request))
}

/// Adds a request unless the same one is already waiting (a double tap posts twice).
fn record(subscription: &mut Subscription, mut request: ChangeRequest, now: DateTime<Utc>) {
    let waiting = subscription.requests.iter().any(|r| {
        r.state == ChangeState::Requested
            && r.kind == request.kind
            && r.date == request.date
            && r.quantity == request.quantity
    });
    if waiting {
        return;
    }
    let mut id = format!("r{}", now.timestamp_millis());
    while subscription.requests.iter().any(|r| r.id == id) {
        id.push('x');
    }
    request.id = id;
    request.at = now;
    subscription.requests.push(request);
    let excess = subscription.requests.len().saturating_sub(KEPT_REQUESTS);
    subscription.requests.drain(..excess);
}

#[derive(Serialize)]
struct ItemView {
    title: String,
    quantity: u32,
    price: Option<String>,
}

#[derive(Serialize)]
struct RequestView {
    kind: &'static str,
    detail: Option<String>,
    state: &'static str,
    done: bool,
}

#[derive(Serialize)]
struct ManageView<'a> {
    lang: &'static str,
    t: &'static Phrases,
    brand: &'a str,
    logo_url: Option<&'a str>,
    support_url: Option<&'a str>,
    token: &'a str,
    status: &'static str,
    status_class: &'static str,
    next_delivery: Option<String>,
    interval: Option<String>,
    price: Option<String>,
    items: Vec<ItemView>,
    quantity: u32,
    requests: Vec<RequestView>,
    notice: Option<String>,
    error: Option<&'static str>,
    /// Why nothing can be changed, when so.
    closed: Option<String>,
    can_skip: bool,
    date_min: String,
    date_max: String,
    entered_date: Option<String>,
}

fn brand_in(text: &str, settings: &Settings) -> String {
    text.replace("{brand}", &settings.brand)
}

fn manage_view<'a>(
    settings: &'a Settings,
    link: &'a ManageLink,
    subscription: &Subscription,
    lang: &'static str,
    today: NaiveDate,
) -> ManageView<'a> {
    let t = phrases(lang);
    let (status, status_class) = match subscription.status {
        SubscriptionStatus::Active => (t.active, "active"),
        SubscriptionStatus::Paused => (t.paused, "paused"),
        SubscriptionStatus::Cancelled => (t.cancelled, "cancelled"),
    };
    let cancel_pending = subscription
        .requests
        .iter()
        .any(|r| r.kind == ChangeKind::Cancel && r.state == ChangeState::Requested);
    let closed = match (subscription.status, cancel_pending) {
        (SubscriptionStatus::Cancelled, _) => Some(brand_in(t.closed_cancelled, settings)),
        (_, true) => Some(brand_in(t.closed_cancel_requested, settings)),
        _ => None,
    };
    let requests = subscription
        .requests
        .iter()
        .rev()
        .map(|r| {
            let kind = match r.kind {
                ChangeKind::Skip => t.kinds.skip,
                ChangeKind::Reschedule => t.kinds.reschedule,
                ChangeKind::Quantity => t.kinds.quantity,
                ChangeKind::Pause => t.kinds.pause,
                ChangeKind::Cancel => t.kinds.cancel,
            };
            let detail = match r.kind {
                ChangeKind::Skip | ChangeKind::Reschedule => r.date.map(|d| format_date(d, lang)),
                ChangeKind::Quantity => r.quantity.map(|q| q.to_string()),
                ChangeKind::Pause | ChangeKind::Cancel => None,
            };
            let done = r.state == ChangeState::Confirmed;
            RequestView {
                kind,
                detail,
                state: if done { t.confirmed } else { t.requested },
                done,
            }
        })
        .collect();
    let (first, last) = reschedule_range(today);
    ManageView {
        lang,
        t,
        brand: &settings.brand,
        logo_url: settings.logo_url.as_deref(),
        support_url: settings.support_url.as_deref(),
        token: link.token.as_str(),
        status,
        status_class,
        next_delivery: subscription
            .next_charge_on
            .filter(|_| subscription.status == SubscriptionStatus::Active)
            .map(|d| format_date(d, lang)),
        interval: subscription
            .interval_days
            .map(|d| t.every.replace("{days}", &d.to_string())),
        price: subscription.charge_total().map(|total| {
            crate::tracking::view::price_label(&total, subscription.currency.as_deref())
        }),
        items: subscription
            .items
            .iter()
            .map(|i| ItemView {
                title: i.title.clone(),
                quantity: i.quantity,
                price: i.price.as_deref().map(|p| {
                    crate::tracking::view::price_label(p, subscription.currency.as_deref())
                }),
            })
            .collect(),
        quantity: subscription.items.first().map_or(1, |i| i.quantity),
        requests,
        notice: None,
        error: None,
        closed,
        can_skip: subscription.next_charge_on.is_some()
            && subscription.status == SubscriptionStatus::Active,
        date_min: first.to_string(),
        date_max: last.to_string(),
        entered_date: None,
    }
}

fn render(status: u16, view: &ManageView<'_>, settings: &Settings) -> PageResponse {
    tracking::html(status, "manage", view, settings).header("cache-control", "no-store")
}

#[derive(Serialize)]
struct LinkFormView<'a> {
    lang: &'static str,
    t: &'static Phrases,
    brand: &'a str,
    logo_url: Option<&'a str>,
    support_url: Option<&'a str>,
    title: &'static str,
    detail: String,
    error: Option<&'static str>,
    /// Whether to show the email form.
    form: bool,
}

/// The page for an unknown, forged or expired link (the same for all three), or after asking
/// for a fresh one.
fn link_page(
    status: u16,
    settings: &Settings,
    lang: &'static str,
    sent: bool,
    error: Option<&'static str>,
) -> PageResponse {
    let t = phrases(lang);
    let view = LinkFormView {
        lang,
        t,
        brand: &settings.brand,
        logo_url: settings.logo_url.as_deref(),
        support_url: settings.support_url.as_deref(),
        title: if sent {
            t.link_sent_title
        } else {
            t.expired_title
        },
        detail: match sent {
            true => brand_in(t.link_sent_detail, settings)
                .replace("{days}", &settings.manage_link_days.to_string()),
            false => t.expired_detail.to_string(),
        },
        error,
        form: !sent,
    };
    tracking::html(status, "manage_link", view, settings).header("cache-control", "no-store")
}

fn requested_lang(request: &TrackingRequest<'_>) -> Option<String> {
    request
        .query_value("lang")
        .or_else(|| {
            form_urlencoded::parse(request.body)
                .find(|(k, _)| k == "lang")
                .map(|(_, v)| v.into_owned())
        })
        .map(|l| l.to_ascii_lowercase())
}

/// The link a token names, while it works.
async fn live_link(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<ManageLink>, StoreError> {
    let Some(token) = Token::parse(token) else {
        return Ok(None);
    };
    Ok(store
        .get_manage_link(&token)
        .await?
        .filter(|link| link.expires_at > now))
}

async fn customer_of(
    store: &dyn Store,
    subscription: &Subscription,
) -> Result<Option<Customer>, StoreError> {
    store.get_customer(&subscription.customer_id).await
}

/// `GET /s/{token}`.
pub async fn page(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    now: DateTime<Utc>,
) -> PageResponse {
    let asked = requested_lang(&request);
    let found = async {
        let Some(link) = live_link(store, request.token, now).await? else {
            return Ok(None);
        };
        let Some(subscription) = store.get_subscription(&link.subscription_id).await? else {
            return Ok(None);
        };
        let customer = customer_of(store, &subscription).await?;
        Ok::<_, StoreError>(Some((link, subscription, customer)))
    };
    let (link, subscription, customer) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let lang = tracking::view::language(asked.as_deref(), None, settings);
            return link_page(404, settings, lang, false, None);
        }
        Err(e) => return tracking::unavailable(e),
    };
    let lang = tracking::view::language(asked.as_deref(), customer.as_ref(), settings);
    let today = local_today(customer.as_ref(), settings, now);
    let mut view = manage_view(settings, &link, &subscription, lang, today);
    if request.query_value("done").is_some() {
        view.notice = Some(brand_in(view.t.done, settings));
    }
    render(200, &view, settings)
}

fn local_today(customer: Option<&Customer>, settings: &Settings, now: DateTime<Utc>) -> NaiveDate {
    let zone = tracking::view::zone(customer, settings);
    crate::timezone::local_datetime(now, zone)
        .map(|l| l.date())
        .unwrap_or(now.date_naive())
}

enum Acted {
    Saved,
    Closed(Closed),
    Invalid(Invalid, Option<String>),
    Gone,
}

/// `POST /s/{token}/{action}`.
pub async fn act(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    action: &str,
    now: DateTime<Utc>,
) -> PageResponse {
    let asked = requested_lang(&request);
    let lang = tracking::view::language(asked.as_deref(), None, settings);
    if !tracking::same_origin(&request, settings) {
        let t = phrases(lang);
        return PageResponse::text(403, t.refused).header("cache-control", "no-store");
    }
    if request.body.len() > MAX_FORM_BYTES {
        return PageResponse::text(413, "form too large").header("cache-control", "no-store");
    }
    let Ok(kind) = action.parse::<ChangeKind>() else {
        return PageResponse::text(404, "no such action").header("cache-control", "no-store");
    };
    let link = match live_link(store, request.token, now).await {
        Ok(Some(link)) => link,
        Ok(None) => return link_page(404, settings, lang, false, None),
        Err(e) => return tracking::unavailable(e),
    };
    let id = &link.subscription_id;
    let body = request.body;
    let outcome = optimistic::with_retries(move || async move {
        let Some(mut subscription) = store.get_subscription(id).await? else {
            return Ok(Acted::Gone);
        };
        let customer = customer_of(store, &subscription).await?;
        let today = local_today(customer.as_ref(), settings, now);
        let change = match parse_change(kind, body, &subscription, today) {
            Err(closed) => return Ok(Acted::Closed(closed)),
            Ok(Err(invalid)) => {
                let entered = form_urlencoded::parse(body)
                    .find(|(k, _)| k == "date")
                    .map(|(_, v)| v.chars().take(10).collect());
                return Ok(Acted::Invalid(invalid, entered));
            }
            Ok(Ok(change)) => change,
        };
        let version = subscription.version;
        record(&mut subscription, change, now);
        subscription.updated_at = now;
        store
            .save_subscription(&subscription, Some(version))
            .await?;
        Ok(Acted::Saved)
    })
    .await;
    let back = format!("/s/{}", link.token);
    match outcome {
        Ok(Acted::Saved) => {
            tracing::info!(action = kind.as_str(), "subscription change requested");
            // The language the customer picked comes along.
            let lang = asked
                .as_deref()
                .filter(|l| crate::tracking::phrases::LANGUAGES.contains(l))
                .map(|l| format!("&lang={l}"))
                .unwrap_or_default();
            PageResponse::see_other(format!("{back}?done={}{lang}", kind.as_str()))
        }
        Ok(Acted::Gone) => link_page(404, settings, lang, false, None),
        Ok(Acted::Closed(closed)) => {
            shown_again(store, settings, &link, asked.as_deref(), now, 409, |view| {
                view.closed = Some(brand_in(closed.phrase(view.t), settings));
            })
            .await
        }
        Ok(Acted::Invalid(invalid, entered)) => {
            shown_again(store, settings, &link, asked.as_deref(), now, 422, |view| {
                view.error = Some(invalid.phrase(view.t));
                view.entered_date = entered;
            })
            .await
        }
        Err(UpdateError::Store(e)) => tracking::unavailable(e),
        Err(e @ UpdateError::Contended) => tracking::unavailable(e),
    }
}

/// The page again with what went wrong on it.
async fn shown_again(
    store: &dyn Store,
    settings: &Settings,
    link: &ManageLink,
    asked: Option<&str>,
    now: DateTime<Utc>,
    status: u16,
    adjust: impl FnOnce(&mut ManageView<'_>),
) -> PageResponse {
    let subscription = match store.get_subscription(&link.subscription_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let lang = tracking::view::language(asked, None, settings);
            return link_page(404, settings, lang, false, None);
        }
        Err(e) => return tracking::unavailable(e),
    };
    let customer = customer_of(store, &subscription).await.ok().flatten();
    let lang = tracking::view::language(asked, customer.as_ref(), settings);
    let today = local_today(customer.as_ref(), settings, now);
    let mut view = manage_view(settings, link, &subscription, lang, today);
    adjust(&mut view);
    render(status, &view, settings)
}

/// `POST /s/new-link`: the same answer whether or not the address has a subscription.
pub async fn request_link(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    now: DateTime<Utc>,
) -> PageResponse {
    let asked = requested_lang(&request);
    let lang = tracking::view::language(asked.as_deref(), None, settings);
    let t = phrases(lang);
    if !tracking::same_origin(&request, settings) {
        return PageResponse::text(403, t.refused).header("cache-control", "no-store");
    }
    if request.body.len() > MAX_FORM_BYTES {
        return PageResponse::text(413, "form too large").header("cache-control", "no-store");
    }
    let email = form_urlencoded::parse(request.body)
        .find(|(k, _)| k == "email")
        .and_then(|(_, v)| crate::model::email_key(&v));
    let Some(email) = email else {
        return link_page(422, settings, lang, false, Some(t.error_email));
    };
    // Counted before looking the address up, so the limit says nothing about who is known.
    let window = format!("new-link#{email}#{}", now.format("%Y-%m-%dT%H"));
    let attempts = match store
        .count_attempt(&window, crate::bounds::later(now, Duration::hours(2)))
        .await
    {
        Ok(n) => n,
        Err(e) => return tracking::unavailable(e),
    };
    if attempts > LINKS_PER_HOUR {
        return link_page(429, settings, lang, false, Some(t.too_many))
            .header("retry-after", "3600");
    }
    if let Err(e) = ask_for_links(store, &email, now).await {
        return tracking::unavailable(e);
    }
    link_page(200, settings, lang, true, None)
}

/// Marks each of the address's live subscriptions as asking for a link (the notifier mails it).
async fn ask_for_links(
    store: &dyn Store,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), UpdateError> {
    let Some(customer) = store.find_customer_by_email(email).await? else {
        return Ok(());
    };
    for subscription in store.subscriptions_for_customer(&customer.id).await? {
        if subscription.status == SubscriptionStatus::Cancelled {
            continue;
        }
        let id = &subscription.id;
        optimistic::with_retries(move || async move {
            let Some(mut subscription) = store.get_subscription(id).await? else {
                return Ok(());
            };
            let version = subscription.version;
            subscription.link_requested_at = Some(now);
            subscription.updated_at = now;
            store.save_subscription(&subscription, Some(version)).await
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CustomerId, SubscriptionId};
    use crate::model::Provider;
    use crate::subscriptions::SubscriptionItem;

    fn subscription(status: SubscriptionStatus) -> Subscription {
        Subscription {
            id: SubscriptionId::new(Provider::Recharge, "1"),
            customer_id: CustomerId::of_store_customer(Provider::Recharge, "9"),
            status,
            interval_days: Some(30),
            next_charge_on: NaiveDate::from_ymd_opt(2026, 12, 10),
            currency: Some("THB".into()),
            items: vec![SubscriptionItem {
                product_id: None,
                title: "Coffee".into(),
                quantity: 1,
                price: Some("390.00".into()),
            }],
            requests: Vec::new(),
            link_requested_at: None,
            source_updated_at: None,
            updated_at: Utc::now(),
            version: 1,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    #[test]
    fn a_cancelled_subscription_takes_no_changes() {
        let s = subscription(SubscriptionStatus::Cancelled);
        for kind in ChangeKind::all() {
            assert_eq!(
                parse_change(*kind, b"", &s, today()).unwrap_err(),
                Closed::Cancelled
            );
        }
    }

    #[test]
    fn reschedule_dates_stay_within_tomorrow_and_ninety_days() {
        let s = subscription(SubscriptionStatus::Active);
        let at = |d: &str| parse_change(ChangeKind::Reschedule, d.as_bytes(), &s, today());
        assert_eq!(
            at("date=2026-12-08").unwrap().unwrap().date,
            NaiveDate::from_ymd_opt(2026, 12, 8)
        );
        assert_eq!(at("date=2026-12-07").unwrap(), Err(Invalid::Date));
        assert_eq!(at("date=2027-03-08").unwrap(), Err(Invalid::Date));
        assert_eq!(at("date=garbage").unwrap(), Err(Invalid::Date));
        assert_eq!(at("date=+262143-01-01").unwrap(), Err(Invalid::Date));
    }

    #[test]
    fn quantities_and_reasons_are_range_checked() {
        let s = subscription(SubscriptionStatus::Active);
        let q = |f: &str| parse_change(ChangeKind::Quantity, f.as_bytes(), &s, today()).unwrap();
        assert_eq!(q("quantity=3").unwrap().quantity, Some(3));
        for bad in [
            "quantity=0",
            "quantity=100",
            "quantity=-1",
            "quantity=99999999999",
            "",
        ] {
            assert_eq!(q(bad), Err(Invalid::Quantity), "{bad}");
        }
        let long = format!("reason={}", "a".repeat(501));
        let c = parse_change(ChangeKind::Cancel, long.as_bytes(), &s, today()).unwrap();
        assert_eq!(c, Err(Invalid::Reason));
        let c = parse_change(ChangeKind::Cancel, b"reason=too+pricey", &s, today()).unwrap();
        assert_eq!(c.unwrap().reason.as_deref(), Some("too pricey"));
    }

    #[test]
    fn a_double_tap_records_one_request_and_a_pending_cancel_closes_the_page() {
        let mut s = subscription(SubscriptionStatus::Active);
        let now = Utc::now();
        for _ in 0..2 {
            let skip = parse_change(ChangeKind::Skip, b"", &s, today())
                .unwrap()
                .unwrap();
            record(&mut s, skip, now);
        }
        assert_eq!(s.requests.len(), 1);
        let cancel = parse_change(ChangeKind::Cancel, b"", &s, today())
            .unwrap()
            .unwrap();
        record(&mut s, cancel, now);
        assert_eq!(s.requests.len(), 2);
        assert_ne!(s.requests[0].id, s.requests[1].id);
        assert_eq!(
            parse_change(ChangeKind::Pause, b"", &s, today()).unwrap_err(),
            Closed::CancelRequested
        );
    }
}
