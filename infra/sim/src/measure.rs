//! What the month shows: the shopper-trust properties checked on every message the notifier
//! decided, messages per shipment, how soon milestones went out, and storage calls, invocations
//! and their price.

use crate::meter::Usage;
use crate::stack::{Invocations, Stack};
use crate::world::{Platform, World, MARKETS};
use crate::Drive;
use doorstep_core::chrono::{DateTime, Duration, Timelike, Utc};
use doorstep_core::notify::messages::{Audience, Kind};
use doorstep_core::notify::ports::{LogEntry, State};
use doorstep_core::notify::settings::Channel;
use doorstep_core::settings::Settings;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// On-demand prices (us-east-1, November 2026), per unit.
pub mod prices {
    /// DynamoDB on-demand, per write request unit ($0.625 per million).
    pub const WRITE_UNIT: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit ($0.125 per million).
    pub const READ_UNIT: f64 = 0.125 / 1e6;
    /// Lambda requests ($0.20 per million).
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda on arm64, per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// API Gateway HTTP API ($1.00 per million requests).
    pub const API_REQUEST: f64 = 1.00 / 1e6;
    /// SES outbound email ($0.10 per thousand).
    pub const EMAIL: f64 = 0.10 / 1e3;
    /// Memory every function is given (template.yaml).
    pub const LAMBDA_GB: f64 = 0.125;
    /// AfterShip Tracking Pro: $519 a month for 10,000 shipments (aftership.com/pricing).
    pub const AFTERSHIP_PER_1000: f64 = 51.90;
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Trust {
    pub sms_in_quiet_hours: usize,
    pub marketing_without_consent: usize,
    pub promotions_after_bad_review: usize,
    pub failed_attempts_without_choice_link: usize,
    /// Messages sent twice for one occasion and channel.
    pub duplicate_messages: usize,
    /// Held back by quiet hours, then dropped because a later milestone overtook them.
    pub deferred_superseded: usize,
    /// Examples of each violation, for a human to look at.
    pub examples: Vec<String>,
}

impl Trust {
    pub fn violations(&self) -> usize {
        self.sms_in_quiet_hours
            + self.marketing_without_consent
            + self.promotions_after_bad_review
            + self.failed_attempts_without_choice_link
            + self.duplicate_messages
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Distribution {
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

fn distribution(mut values: Vec<f64>) -> Distribution {
    if values.is_empty() {
        return Distribution::default();
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Distribution {
        median: at(0.5),
        p95: at(0.95),
        max: values[values.len() - 1],
        mean: values.iter().sum::<f64>() / values.len() as f64,
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Messages {
    /// Sent to shoppers per shipment (its milestones).
    pub per_shipment: Distribution,
    /// Everything sent, per shipment, by channel and by kind.
    pub by_channel: BTreeMap<String, f64>,
    pub by_kind: BTreeMap<String, f64>,
    pub by_message: BTreeMap<String, usize>,
    pub sent: usize,
    pub suppressed: usize,
    pub deferred: usize,
    /// Minutes from the carrier's event to the message, for milestones not held by quiet hours.
    pub minutes_after_event: Distribution,
    /// Sent messages by the customer's local hour, SMS and email.
    pub sms_by_local_hour: Vec<usize>,
    pub email_by_local_hour: Vec<usize>,
    /// Shipments by how many messages they got (index = count).
    pub shipments_by_count: Vec<usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    /// Traffic plus the schedule's fixed cost spread over this store's month.
    pub per_1000_shipments_usd: f64,
    /// The same for a store shipping 10,000 parcels a month.
    pub per_1000_shipments_at_10000_a_month_usd: f64,
    /// What the schedule costs a month when nothing is due.
    pub schedule_monthly_usd: f64,
    pub dynamodb_wru_per_shipment: f64,
    pub dynamodb_index_wru_per_shipment: f64,
    pub dynamodb_rru_per_shipment: f64,
    pub lambda_invocations_per_shipment: f64,
    pub lambda_gb_seconds_per_shipment: f64,
    /// API Gateway requests: the pages shoppers open.
    pub api_requests_per_shipment: f64,
    /// Webhooks, through the functions' own URLs (free of request charges).
    pub function_url_requests_per_shipment: f64,
    /// Stream records the notifier's filter passed: the simulation invokes the notifier once per
    /// minute that has some, AWS (1 s batching window) about once per record.
    pub notifier_records_per_shipment: f64,
    pub emails_per_shipment: f64,
    pub sms_per_shipment: f64,
    /// Each part per 1,000 shipments, and how it was reached.
    pub lines: Vec<CostLine>,
    pub aftership_per_1000_usd: f64,
    pub write_units_by: BTreeMap<String, f64>,
    pub read_units_by: BTreeMap<String, f64>,
    /// DynamoDB requests per shipment by the function that made them, operation and item kind
    /// (`notifier: GetItem CUST`).
    pub calls_by: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CostLine {
    pub item: String,
    pub per_shipment: f64,
    pub unit_price_usd: f64,
    pub per_1000_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    pub shipments: usize,
    pub trust: Trust,
    pub messages: Messages,
    pub storage_calls_per_shipment: f64,
    pub storage_calls: BTreeMap<String, u64>,
    pub invocations: Invocations,
    pub cost: Option<Cost>,
    pub events: u64,
    pub events_per_second: f64,
    pub wall_seconds: f64,
    pub refused: Vec<(String, u16)>,
    pub failures: BTreeMap<String, u64>,
}

/// The world's customer behind each of Doorstep's customer ids.
fn customers(world: &World) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for (i, c) in world.customers.iter().enumerate() {
        let digits: u64 =
            c.id.bytes()
                .filter(u8::is_ascii_digit)
                .fold(0, |n, d| n * 10 + u64::from(d - b'0'));
        if c.platform == Platform::Shopify {
            ids.insert(format!("shopify:{}", 9_000_000 + digits), i);
        }
        ids.insert(format!("generic-store:{}", c.id), i);
    }
    ids
}

fn zone_of(world: &World, customer: Option<usize>) -> doorstep_core::zones::Tz {
    customer
        .map(|c| crate::world::zone(&MARKETS[world.customers[c].market]))
        .unwrap_or_else(crate::world::shop_zone)
}

pub fn measure(
    world: &World,
    settings: &Settings,
    log: &[LogEntry],
    drive: &Drive,
    stack: &dyn Stack,
    aws: bool,
) -> Measured {
    let ids = customers(world);
    let shipments: usize = world.orders.iter().map(|o| o.parcels.len()).sum();
    let mut trust = Trust::default();
    let mut messages = Messages {
        sms_by_local_hour: vec![0; 24],
        email_by_local_hour: vec![0; 24],
        ..Default::default()
    };
    // Carrier events by parcel: when each milestone happened (the first time, or the n-th
    // failed attempt).
    let mut events: HashMap<&str, Vec<(&'static str, DateTime<Utc>)>> = HashMap::new();
    for order in &world.orders {
        for parcel in &order.parcels {
            let list = events.entry(parcel.tracking.as_str()).or_default();
            for event in &parcel.events {
                if let Some(milestone) = event.scan.milestone() {
                    list.push((milestone, event.at));
                }
            }
        }
    }
    let deferred_keys: HashSet<String> = log
        .iter()
        .filter(|e| e.state == State::Deferred)
        .map(|e| e.key.to_string())
        .collect();
    let mut per_shipment: HashMap<String, usize> = HashMap::new();
    let mut sent_keys: HashMap<String, usize> = HashMap::new();
    let mut latencies = Vec::new();
    let quiet = settings.quiet_hours;
    let example = |trust: &mut Trust, text: String| {
        if trust.examples.len() < 20 {
            trust.examples.push(text);
        }
    };
    for entry in log {
        match entry.state {
            State::Suppressed => {
                messages.suppressed += 1;
                if entry.reason.as_deref() == Some("superseded by a later milestone") {
                    trust.deferred_superseded += 1;
                }
                continue;
            }
            State::Deferred => {
                messages.deferred += 1;
                continue;
            }
            State::Failed => continue,
            State::Sent => {}
        }
        messages.sent += 1;
        let key = entry.key.to_string();
        *sent_keys.entry(key.clone()).or_default() += 1;
        if sent_keys[&key] == 2 {
            trust.duplicate_messages += 1;
            example(&mut trust, format!("sent twice: {}", entry.key.redacted()));
        }
        *messages
            .by_message
            .entry(entry.message.as_str().to_string())
            .or_default() += 1;
        *messages
            .by_channel
            .entry(entry.channel.as_str().to_string())
            .or_default() += 1.0;
        let kind = serde_json::to_value(entry.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *messages.by_kind.entry(kind).or_default() += 1.0;
        let for_shop = entry.message.spec().audience == Audience::Merchant;
        if for_shop {
            continue;
        }
        let customer = ids.get(entry.customer_id.as_str()).copied();
        let zone = zone_of(world, customer);
        let local = entry.at.with_timezone(&zone);
        match entry.channel {
            Channel::Sms => {
                messages.sms_by_local_hour[local.hour() as usize] += 1;
                let inside = quiet
                    .and_then(|q| doorstep_core::notify::policy::quiet_until(q, zone, entry.at))
                    .is_some();
                if inside {
                    trust.sms_in_quiet_hours += 1;
                    example(
                        &mut trust,
                        format!("SMS {} at {} local", entry.message, local.format("%H:%M")),
                    );
                }
            }
            Channel::Email => messages.email_by_local_hour[local.hour() as usize] += 1,
            Channel::Webhook => {}
        }
        if entry.kind == Kind::Marketing {
            if let Some(c) = customer {
                let shopper = &world.customers[c];
                let consented = match entry.channel {
                    Channel::Email => shopper.marketing_email,
                    Channel::Sms => shopper.marketing_sms,
                    Channel::Webhook => false,
                };
                if !consented {
                    trust.marketing_without_consent += 1;
                    example(
                        &mut trust,
                        format!("{} by {} without consent", entry.message, entry.channel),
                    );
                }
                let after_bad = drive.reviews.iter().any(|(who, rating, at)| {
                    *who == c
                        && *rating <= 2
                        && *at <= entry.at
                        && entry.at - *at <= Duration::days(30)
                });
                if after_bad {
                    trust.promotions_after_bad_review += 1;
                    example(
                        &mut trust,
                        format!("{} within 30 days of a poor review", entry.message),
                    );
                }
            }
        }
        let Some(tracking) = entry.tracking_number.as_ref() else {
            continue;
        };
        *per_shipment.entry(tracking.to_string()).or_default() += 1;
        if entry.message.as_str() == "failed_attempt" {
            let linked = entry.body.as_deref().is_some_and(|b| b.contains("/t/"));
            if !linked {
                trust.failed_attempts_without_choice_link += 1;
                example(
                    &mut trust,
                    format!(
                        "failed attempt by {} without the page's link",
                        entry.channel
                    ),
                );
            }
        }
        // How soon after the carrier's event, unless quiet hours held it.
        if let (Some(milestone), false) = (entry.milestone, deferred_keys.contains(&key)) {
            let attempt = entry
                .key
                .occasion
                .detail
                .as_deref()
                .and_then(|d| d.parse::<usize>().ok())
                .unwrap_or(1);
            let happened = events.get(tracking.as_str()).and_then(|list| {
                list.iter()
                    .filter(|(m, _)| *m == milestone.as_str())
                    .nth(match milestone.as_str() {
                        "failed_attempt" => attempt.saturating_sub(1),
                        _ => 0,
                    })
                    .map(|(_, at)| *at)
            });
            if let Some(happened) = happened {
                latencies.push((entry.at - happened).num_seconds() as f64 / 60.0);
            }
        }
    }
    let counts: Vec<f64> = world
        .orders
        .iter()
        .flat_map(|o| o.parcels.iter())
        .map(|p| per_shipment.get(&p.tracking).copied().unwrap_or(0) as f64)
        .collect();
    let most = counts.iter().fold(0.0f64, |a, b| a.max(*b)) as usize;
    messages.shipments_by_count = vec![0; most + 1];
    for c in &counts {
        messages.shipments_by_count[*c as usize] += 1;
    }
    messages.per_shipment = distribution(counts);
    messages.minutes_after_event = distribution(latencies);
    let per = |n: f64| n / shipments.max(1) as f64;
    for v in messages.by_channel.values_mut() {
        *v = per(*v);
    }
    for v in messages.by_kind.values_mut() {
        *v = per(*v);
    }
    let storage_calls = stack.storage_calls();
    let total_calls: u64 = storage_calls.values().sum();
    let invocations = stack.invocations();
    let sms = messages.sms_by_local_hour.iter().sum::<usize>() as f64;
    let emails = log
        .iter()
        .filter(|e| e.state == State::Sent && e.channel == Channel::Email)
        .count() as f64;
    let days = (world.end - world.start).num_minutes() as f64 / (24.0 * 60.0);
    let cost = match (aws, stack.usage()) {
        (true, Some((traffic, idle))) => Some(price(
            &traffic,
            &idle,
            &invocations,
            shipments,
            days,
            emails,
            sms,
        )),
        _ => None,
    };
    let events = drive.webhooks + drive.pages;
    Measured {
        shipments,
        trust,
        messages,
        storage_calls_per_shipment: per(total_calls as f64),
        storage_calls,
        invocations,
        cost,
        events,
        events_per_second: events as f64 / drive.wall_seconds.max(1e-9),
        wall_seconds: drive.wall_seconds,
        refused: drive.refused.clone(),
        failures: stack.failures(),
    }
}

/// What the schedule costs a month when it finds nothing to do (every 5 minutes'
/// deferred-sends, every hour's jobs), priced.
fn idle_monthly(idle: &Usage, invocations: &Invocations, days: f64) -> (f64, f64) {
    let month = 30.0 / days.max(1e-9);
    let runs = invocations
        .lambda
        .get("scheduler (nothing due)")
        .copied()
        .unwrap_or(0) as f64;
    let ms = invocations
        .lambda_ms
        .get("scheduler (nothing due)")
        .copied()
        .unwrap_or(0.0);
    let usd = month
        * ((idle.write_units_table + idle.write_units_index) * prices::WRITE_UNIT
            + idle.read_units * prices::READ_UNIT
            + runs * prices::LAMBDA_REQUEST
            + ms / 1000.0 * prices::LAMBDA_GB * prices::LAMBDA_GB_SECOND);
    (usd, runs * month)
}

fn price(
    usage: &Usage,
    idle: &Usage,
    invocations: &Invocations,
    shipments: usize,
    days: f64,
    emails: f64,
    sms: f64,
) -> Cost {
    let per = |n: f64| n / shipments.max(1) as f64;
    let busy = |name: &String| name != "scheduler (nothing due)";
    let lambda: f64 = invocations
        .lambda
        .iter()
        .filter(|(k, _)| busy(k))
        .map(|(_, v)| *v)
        .sum::<u64>() as f64;
    let gb_seconds: f64 = invocations
        .lambda_ms
        .iter()
        .filter(|(k, _)| busy(k))
        .map(|(_, v)| *v)
        .sum::<f64>()
        / 1000.0
        * prices::LAMBDA_GB;
    let wru = usage.write_units_table + usage.write_units_index;
    let mut lines = vec![
        line(
            "DynamoDB write units (table)",
            per(usage.write_units_table),
            prices::WRITE_UNIT,
        ),
        line(
            "DynamoDB write units (indexes)",
            per(usage.write_units_index),
            prices::WRITE_UNIT,
        ),
        line(
            "DynamoDB read units",
            per(usage.read_units),
            prices::READ_UNIT,
        ),
        line("Lambda invocations", per(lambda), prices::LAMBDA_REQUEST),
        line(
            "Lambda GB-seconds (128 MB, arm64)",
            per(gb_seconds),
            prices::LAMBDA_GB_SECOND,
        ),
        line(
            "API Gateway requests (pages)",
            per(invocations.api_requests as f64),
            prices::API_REQUEST,
        ),
        line(
            "Lambda function URL requests (webhooks; no request charge)",
            per(invocations.function_url_requests as f64),
            0.0,
        ),
    ];
    let traffic: f64 = lines.iter().map(|l| l.per_1000_usd).sum();
    // The schedule's fixed cost, spread over this store's month of shipments.
    let (monthly, runs) = idle_monthly(idle, invocations, days);
    let shipments_a_month = shipments as f64 * 30.0 / days.max(1e-9);
    let fixed_share = monthly / shipments_a_month.max(1.0) * 1000.0;
    lines.push(CostLine {
        item: format!("the schedule when nothing is due (${monthly:.4} a month, {runs:.0} runs), over {shipments_a_month:.0} shipments a month"),
        per_shipment: 0.0,
        unit_price_usd: 0.0,
        per_1000_usd: fixed_share,
    });
    let total = traffic + fixed_share;
    lines.push(line(
        "SES email (not in the goal)",
        per(emails),
        prices::EMAIL,
    ));
    Cost {
        per_1000_shipments_usd: total,
        per_1000_shipments_at_10000_a_month_usd: traffic + monthly / 10.0,
        schedule_monthly_usd: monthly,
        dynamodb_wru_per_shipment: per(wru),
        dynamodb_index_wru_per_shipment: per(usage.write_units_index),
        dynamodb_rru_per_shipment: per(usage.read_units),
        lambda_invocations_per_shipment: per(lambda),
        lambda_gb_seconds_per_shipment: per(gb_seconds),
        api_requests_per_shipment: per(invocations.api_requests as f64),
        function_url_requests_per_shipment: per(invocations.function_url_requests as f64),
        notifier_records_per_shipment: per(invocations.stream_records as f64),
        emails_per_shipment: per(emails),
        sms_per_shipment: per(sms),
        lines,
        aftership_per_1000_usd: prices::AFTERSHIP_PER_1000,
        write_units_by: usage
            .write_units_by
            .iter()
            .map(|(k, v)| (k.clone(), per(*v)))
            .collect(),
        read_units_by: usage
            .read_units_by
            .iter()
            .map(|(k, v)| (k.clone(), per(*v)))
            .collect(),
        calls_by: usage
            .calls_by
            .iter()
            .map(|(k, v)| (k.clone(), per(*v as f64)))
            .collect(),
    }
}

fn line(item: &str, per_shipment: f64, unit_price_usd: f64) -> CostLine {
    CostLine {
        item: item.to_string(),
        per_shipment,
        unit_price_usd,
        per_1000_usd: per_shipment * unit_price_usd * 1000.0,
    }
}
