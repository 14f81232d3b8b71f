//! What the tracking page shows, worked out from the records without any I/O: the page and the
//! JSON API are both drawn from one [`View`], so they never disagree.

use super::carriers;
use super::phrases::{self, Phrases};
use crate::catalog::Product;
use crate::model::{ChoiceKind, Customer, DeliveryChoice, Order, Shipment};
use crate::notify::render::{format_date, format_day};
use crate::settings::Settings;
use crate::status::{ExceptionReason, ShipmentStatus};
use crate::timezone;
use crate::zones::Tz;
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::Serialize;

/// Working days a redelivery can be booked on.
pub const REDELIVERY_DAYS: usize = 5;
/// The longest note a shopper may leave with a choice, in characters.
pub const MAX_NOTE_CHARS: usize = 300;

/// The records a page is drawn from.
#[derive(Debug, Clone)]
pub struct Facts {
    pub shipment: Shipment,
    pub order: Option<Order>,
    pub customer: Option<Customer>,
    /// The order's other parcels Doorstep has heard of.
    pub siblings: Vec<Shipment>,
    pub recommendations: Vec<Product>,
}

/// The journey's five steps, as the progress bar shows them.
const STEP_NAMES: [&str; 5] = [
    "ordered",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Step {
    pub step: &'static str,
    pub label: &'static str,
    /// `done`, `current`, `problem` (the journey stopped here) or `todo`.
    pub state: &'static str,
}

/// The estimate as the page may honestly show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimate {
    /// No estimate, or one an exception has made meaningless.
    Hidden,
    Expected {
        date: NaiveDate,
        label: String,
    },
    /// Later than first promised.
    Delayed {
        date: NaiveDate,
        label: String,
        original: NaiveDate,
        original_label: String,
    },
    Delivered {
        date: NaiveDate,
        label: String,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventView {
    pub status: ShipmentStatus,
    pub status_label: &'static str,
    pub occurred_at: DateTime<Utc>,
    /// Wall-clock time in the customer's zone (`14:05`).
    pub time: String,
    pub description: String,
    pub location: Option<String>,
}

/// The events of one local day, newest first.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub label: String,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CarrierView {
    pub slug: String,
    pub name: String,
    pub tracking_number: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemView {
    pub title: String,
    pub quantity: u32,
}

/// One parcel of the order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParcelView {
    pub carrier: Option<String>,
    pub tracking_number: String,
    pub status: Option<ShipmentStatus>,
    pub status_label: &'static str,
    /// Its own tracking page (relative), when Doorstep tracks it.
    pub page_url: Option<String>,
    pub carrier_url: Option<String>,
    /// The parcel this page is about.
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DateOption {
    pub value: NaiveDate,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KindOption {
    pub value: ChoiceKind,
    pub label: &'static str,
}

/// A choice as the shopper made it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChoiceView {
    pub choice: ChoiceKind,
    pub label: &'static str,
    pub date: Option<NaiveDate>,
    pub date_label: Option<String>,
    pub note: Option<String>,
    pub chosen_at: DateTime<Utc>,
}

/// The delivery-choice form, while the parcel awaits an answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChoiceForm {
    pub attempt: usize,
    pub kinds: Vec<KindOption>,
    pub dates: Vec<DateOption>,
    /// What the shopper already chose for this attempt.
    pub current: Option<ChoiceView>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recommendation {
    pub id: String,
    pub title: String,
    pub image_url: Option<String>,
    pub price: Option<String>,
    /// Through the click counter: `/r/{token}/{product_id}`.
    pub url: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub lang: &'static str,
    pub t: &'static Phrases,
    pub brand: String,
    pub logo_url: Option<String>,
    pub support_url: Option<String>,
    pub token: String,
    /// `?lang=xx` when the shopper chose the language, so links and the form keep it.
    pub query: String,
    pub first_name: Option<String>,
    pub city: Option<String>,
    pub order_name: Option<String>,
    pub status: ShipmentStatus,
    pub reason: Option<ExceptionReason>,
    pub status_label: &'static str,
    pub alert: Option<&'static str>,
    pub steps: Vec<Step>,
    pub estimate: Estimate,
    pub days: Vec<Day>,
    pub carrier: CarrierView,
    pub items: Vec<ItemView>,
    pub parcels: Vec<ParcelView>,
    pub choice: Option<ChoiceForm>,
    /// The latest choice on this parcel, whether or not the form is open.
    pub delivery_choice: Option<ChoiceView>,
    pub recommendations: Vec<Recommendation>,
    /// Shown above everything (a saved choice).
    pub notice: Option<String>,
    /// Shown on the form (a choice that could not be saved).
    pub error: Option<&'static str>,
}

/// The language of a page: the shopper's pick, else the customer's, else the shop's.
pub fn language(
    requested: Option<&str>,
    customer: Option<&Customer>,
    settings: &Settings,
) -> &'static str {
    let pick = |tag: &str| {
        let language = tag
            .split(['-', '_'])
            .next()
            .unwrap_or(tag)
            .to_ascii_lowercase();
        phrases::LANGUAGES.into_iter().find(|l| *l == language)
    };
    requested
        .and_then(pick)
        .or_else(|| customer.and_then(|c| pick(&c.locale)))
        .or_else(|| pick(&settings.default_locale))
        .unwrap_or("en")
}

/// The customer's zone, else the shop's, else UTC.
pub fn zone(customer: Option<&Customer>, settings: &Settings) -> Tz {
    customer
        .and_then(|c| timezone::parse_zone(&c.timezone))
        .or_else(|| timezone::parse_zone(&settings.default_timezone))
        .unwrap_or(Tz::UTC)
}

fn today(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    timezone::local_date(now, zone).unwrap_or_else(|| now.date_naive())
}

/// Where on the five steps a status puts the parcel; `None` for statuses off the happy path.
fn step_of(status: ShipmentStatus) -> Option<usize> {
    use ShipmentStatus::*;
    match status {
        Pending => Some(0),
        InfoReceived => Some(1),
        InTransit => Some(2),
        OutForDelivery | FailedAttempt | AvailableForPickup => Some(3),
        Delivered => Some(4),
        Exception | ReturnToSender | Cancelled | Expired => None,
    }
}

/// Statuses that stop the journey where it is, shown as a problem on the bar.
fn stopped(status: ShipmentStatus) -> bool {
    use ShipmentStatus::*;
    matches!(
        status,
        FailedAttempt | Exception | ReturnToSender | Cancelled | Expired
    )
}

pub fn steps(shipment: &Shipment, t: &'static Phrases) -> Vec<Step> {
    let reached = shipment
        .events
        .iter()
        .filter_map(|e| step_of(e.status))
        .chain(step_of(shipment.status))
        .max()
        .unwrap_or(0);
    let reached = match shipment.status {
        // A delivered parcel is delivered, whatever the scans said before.
        ShipmentStatus::Delivered => 4,
        // An exception or a return took it off the road; it is not delivered.
        _ => reached.min(3),
    };
    let problem = stopped(shipment.status);
    (0..STEP_NAMES.len())
        .map(|i| {
            let state =
                if i < reached || (i == reached && shipment.status == ShipmentStatus::Delivered) {
                    "done"
                } else if i == reached && problem {
                    "problem"
                } else if i == reached {
                    "current"
                } else {
                    "todo"
                };
            Step {
                step: STEP_NAMES[i],
                label: t.steps[i],
                state,
            }
        })
        .collect()
}

/// The estimate, if it can still be believed.
pub fn estimate(shipment: &Shipment, zone: Tz, lang: &str, now: DateTime<Utc>) -> Estimate {
    use ShipmentStatus::*;
    if shipment.status == Delivered {
        let at = shipment
            .events
            .iter()
            .rev()
            .find(|e| e.status == Delivered)
            .map(|e| e.occurred_at)
            .or(shipment.status_at);
        return match at.and_then(|t| timezone::local_date(t, zone)) {
            Some(date) => Estimate::Delivered {
                date,
                label: format_date(date, lang),
            },
            None => Estimate::Hidden,
        };
    }
    let Some(estimate) = &shipment.estimated_delivery else {
        return Estimate::Hidden;
    };
    let meaningless = match shipment.status {
        FailedAttempt | ReturnToSender | Cancelled | Expired => true,
        // A delay, the weather or customs move the date; the carrier's new one still holds.
        Exception => !matches!(
            shipment.reason,
            Some(ExceptionReason::Delay | ExceptionReason::Weather | ExceptionReason::Customs)
        ),
        _ => false,
    };
    // A date already gone by is wrong, not late: better nothing than a promise already broken.
    if meaningless || estimate.latest < today(now, zone) {
        return Estimate::Hidden;
    }
    let label = format_date(estimate.latest, lang);
    if estimate.latest > estimate.original {
        Estimate::Delayed {
            date: estimate.latest,
            label,
            original: estimate.original,
            original_label: format_date(estimate.original, lang),
        }
    } else {
        Estimate::Expected {
            date: estimate.latest,
            label,
        }
    }
}

/// The history, newest first, grouped by the customer's local day.
pub fn timeline(shipment: &Shipment, zone: Tz, lang: &str, t: &Phrases) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    for event in shipment.events.iter().rev() {
        let local = timezone::local_datetime(event.occurred_at, zone)
            .unwrap_or_else(|| event.occurred_at.naive_utc());
        let view = EventView {
            status: event.status,
            status_label: phrases::status_label(event.status, lang),
            occurred_at: event.occurred_at,
            time: format!("{}{}", local.format("%H:%M"), t.time_suffix),
            description: event.description.clone(),
            location: event.location.clone().filter(|l| !l.trim().is_empty()),
        };
        match days.last_mut() {
            Some(day) if day.date == local.date() => day.events.push(view),
            _ => days.push(Day {
                date: local.date(),
                label: format_date(local.date(), lang),
                events: vec![view],
            }),
        }
    }
    days
}

/// The next working days after today, when a redelivery can be booked.
pub fn redelivery_days(now: DateTime<Utc>, zone: Tz) -> Vec<NaiveDate> {
    let mut days = Vec::with_capacity(REDELIVERY_DAYS);
    let mut day = today(now, zone);
    while days.len() < REDELIVERY_DAYS {
        let Some(next) = day.succ_opt() else { break };
        day = next;
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
    }
    days
}

/// The attempt a choice made now answers.
pub fn current_attempt(shipment: &Shipment) -> usize {
    shipment.failed_attempts().max(1)
}

fn choice_view(choice: &DeliveryChoice, lang: &str) -> ChoiceView {
    ChoiceView {
        choice: choice.choice,
        label: phrases::choice_label(choice.choice, lang),
        date: choice.date,
        date_label: choice.date.map(|d| format_date(d, lang)),
        note: choice.note.clone(),
        chosen_at: choice.chosen_at,
    }
}

fn choice_form(
    shipment: &Shipment,
    zone: Tz,
    lang: &str,
    now: DateTime<Utc>,
) -> Option<ChoiceForm> {
    if !shipment.awaits_delivery_choice() {
        return None;
    }
    let attempt = current_attempt(shipment);
    Some(ChoiceForm {
        attempt,
        kinds: ChoiceKind::all()
            .iter()
            .map(|&value| KindOption {
                value,
                label: phrases::choice_label(value, lang),
            })
            .collect(),
        dates: redelivery_days(now, zone)
            .into_iter()
            .map(|value| DateOption {
                value,
                label: format_day(value, lang),
            })
            .collect(),
        current: shipment
            .delivery_choice
            .as_ref()
            .filter(|c| c.attempt == attempt)
            .map(|c| choice_view(c, lang)),
    })
}

fn items(shipment: &Shipment, order: &Order) -> Vec<ItemView> {
    let shipped = shipment
        .order
        .as_ref()
        .map(|o| o.items.as_slice())
        .unwrap_or_default();
    if shipped.is_empty() {
        // The store did not say which items: the parcel carries the order.
        return order
            .line_items
            .iter()
            .map(|l| ItemView {
                title: l.title.clone(),
                quantity: l.quantity,
            })
            .collect();
    }
    shipped
        .iter()
        .filter_map(|item| {
            let line = order
                .line_items
                .iter()
                .find(|l| l.id == item.line_item_id)?;
            Some(ItemView {
                title: line.title.clone(),
                quantity: item.quantity,
            })
        })
        .collect()
}

fn parcels(facts: &Facts, lang: &str, query: &str) -> Vec<ParcelView> {
    let Some(order) = &facts.order else {
        return Vec::new();
    };
    let this = &facts.shipment;
    let mut parcels: Vec<ParcelView> = Vec::new();
    for reference in &order.shipments {
        let known = if reference.tracking_number == this.tracking_number {
            Some(this)
        } else {
            facts.siblings.iter().find(|s| {
                s.tracking_number == reference.tracking_number
                    && reference.carrier.as_ref().is_none_or(|c| *c == s.carrier)
            })
        };
        if parcels
            .iter()
            .any(|p| p.tracking_number == reference.tracking_number.as_str())
        {
            continue;
        }
        let carrier = known.map(|s| &s.carrier).or(reference.carrier.as_ref());
        parcels.push(ParcelView {
            carrier: carrier.map(|c| carriers::name(c, lang)),
            tracking_number: reference.tracking_number.to_string(),
            status: known.map(|s| s.status),
            status_label: match known {
                Some(s) => phrases::status_label(s.status, lang),
                None => phrases::phrases(lang).not_shipped_yet,
            },
            page_url: known.map(|s| format!("/t/{}{query}", s.tracking_token)),
            carrier_url: carrier.map(|c| carriers::tracking_url(c, &reference.tracking_number)),
            current: reference.tracking_number == this.tracking_number,
        });
    }
    parcels
}

/// A price as shoppers read it: a symbol for the common currencies, else the code.
pub fn price_label(price: &str, currency: Option<&str>) -> String {
    let symbol = match currency.map(str::to_ascii_uppercase).as_deref() {
        Some("USD") => "$",
        Some("THB") => "฿",
        Some("EUR") => "€",
        Some("GBP") => "£",
        Some("JPY") => "¥",
        Some(other) => return format!("{other} {price}"),
        None => "",
    };
    format!("{symbol}{price}")
}

/// `currency` is the order's, for stores whose products carry none (Shopify's).
fn recommendation(
    product: &Product,
    token: &str,
    query: &str,
    currency: Option<&str>,
) -> Recommendation {
    let id: String = form_urlencoded::byte_serialize(product.id.as_str().as_bytes()).collect();
    Recommendation {
        id: product.id.as_str().to_string(),
        title: product.title.clone(),
        image_url: product
            .image_url
            .clone()
            .filter(|u| u.starts_with("https://")),
        price: product
            .price
            .as_deref()
            .map(|p| price_label(p, product.currency.as_deref().or(currency))),
        url: format!("/r/{token}/{id}{query}"),
    }
}

/// Draws the page from the records.
pub fn view(
    facts: &Facts,
    settings: &Settings,
    requested_lang: Option<&str>,
    now: DateTime<Utc>,
) -> View {
    let customer = facts.customer.as_ref();
    let lang = language(requested_lang, customer, settings);
    let t = phrases::phrases(lang);
    let zone = zone(customer, settings);
    let shipment = &facts.shipment;
    let query = match requested_lang {
        Some(_) => format!("?lang={lang}"),
        None => String::new(),
    };
    let token = shipment.tracking_token.as_str().to_string();
    View {
        lang,
        t,
        brand: settings.brand.clone(),
        logo_url: settings.logo_url.clone(),
        support_url: settings.support_url.clone(),
        query: query.clone(),
        first_name: customer
            .and_then(|c| c.first_name.clone())
            .filter(|n| !n.trim().is_empty()),
        city: facts.order.as_ref().and_then(|o| o.ship_to_city.clone()),
        order_name: facts.order.as_ref().map(|o| o.name.clone()),
        status: shipment.status,
        reason: shipment.reason,
        status_label: phrases::status_label(shipment.status, lang),
        alert: phrases::alert(shipment.status, shipment.reason, lang),
        steps: steps(shipment, t),
        estimate: estimate(shipment, zone, lang, now),
        days: timeline(shipment, zone, lang, t),
        carrier: CarrierView {
            slug: shipment.carrier.as_str().to_string(),
            name: carriers::name(&shipment.carrier, lang),
            tracking_number: shipment.tracking_number.to_string(),
            url: carriers::tracking_url(&shipment.carrier, &shipment.tracking_number),
        },
        items: facts
            .order
            .as_ref()
            .map(|o| items(shipment, o))
            .unwrap_or_default(),
        parcels: parcels(facts, lang, &query),
        choice: choice_form(shipment, zone, lang, now),
        delivery_choice: shipment
            .delivery_choice
            .as_ref()
            .map(|c| choice_view(c, lang)),
        recommendations: facts
            .recommendations
            .iter()
            .map(|p| {
                let currency = facts.order.as_ref().and_then(|o| o.currency.as_deref());
                recommendation(p, &token, &query, currency)
            })
            .collect(),
        token,
        notice: None,
        error: None,
    }
}

/// The JSON API's answer: the page's facts, machine-readable.
pub fn json(view: &View) -> serde_json::Value {
    let (estimated, delayed, original) = match &view.estimate {
        Estimate::Expected { date, .. } => (Some(*date), false, None),
        Estimate::Delayed { date, original, .. } => (Some(*date), true, Some(*original)),
        Estimate::Hidden | Estimate::Delivered { .. } => (None, false, None),
    };
    let delivered_on = match &view.estimate {
        Estimate::Delivered { date, .. } => Some(*date),
        _ => None,
    };
    serde_json::json!({
        "lang": view.lang,
        "status": view.status,
        "reason": view.reason,
        "status_label": view.status_label,
        "alert": view.alert,
        "estimated_delivery": estimated,
        "original_estimated_delivery": original,
        "delayed": delayed,
        "delivered_on": delivered_on,
        "progress": view.steps,
        "carrier": view.carrier,
        "order": view.order_name,
        "first_name": view.first_name,
        "city": view.city,
        "items": view.items,
        "events": view.days.iter().flat_map(|d| d.events.iter().map(move |e| serde_json::json!({
            "status": e.status,
            "status_label": e.status_label,
            "occurred_at": e.occurred_at.to_rfc3339(),
            "local_date": d.date,
            "local_time": e.time,
            "description": e.description,
            "location": e.location,
        }))).collect::<Vec<_>>(),
        "parcels": view.parcels,
        "delivery_choice": view.delivery_choice,
        "delivery_choice_form": view.choice.as_ref().map(|form| serde_json::json!({
            "attempt": form.attempt,
            "choices": form.kinds,
            "dates": form.dates,
            "action": format!("/t/{}/delivery-choice", view.token),
        })),
        "recommendations": view.recommendations,
    })
}
