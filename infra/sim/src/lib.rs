//! `doorstep-sim`: a store's month on a virtual clock, through the real code.
//!
//! The world (customers, orders, parcels, what carriers and shoppers do) is generated from a
//! seed ([`world`]); its events become the providers' own signed payloads ([`payloads`]) and go
//! through Doorstep's webhook, page, notifier and job code ([`stack`]) minute by minute; what
//! the notifier decided is then checked for shopper trust, and storage and invocations are
//! counted and priced ([`measure`]); [`report`] writes `report.json` and `report.html`.

pub mod measure;
pub mod meter;
pub mod payloads;
pub mod report;
pub mod stack;
pub mod streams;
pub mod world;

use doorstep_core::chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use stack::{Page, Stack};
use std::path::PathBuf;
use std::time::Instant;
use world::{Platform, Scan, World, MARKETS};

#[derive(Debug, Clone)]
pub struct Config {
    pub orders: usize,
    pub days: i64,
    pub seed: u64,
    pub out: PathBuf,
    /// An AWS-protocol endpoint (moto): run on DynamoDB, SNS and SES there, metered.
    pub aws: Option<String>,
    /// The UTC day the month ends at the start of; `None`: today (the last UTC midnight).
    pub end: Option<NaiveDate>,
}

/// Something that happens at a moment of the month.
#[derive(Debug, Clone)]
enum Action {
    Product(Platform, usize),
    Order(usize),
    Fulfil(usize, usize),
    Scan {
        order: usize,
        parcel: usize,
        event: usize,
    },
    View(usize, usize),
    Choice(usize, usize),
    Review(usize),
    Subscribe(usize),
    Skip(usize),
}

/// What the drive saw, for the report.
#[derive(Debug, Default)]
pub struct Drive {
    pub webhooks: u64,
    pub pages: u64,
    /// Requests answered with anything but 2xx/3xx: `(what, status)`.
    pub refused: Vec<(String, u16)>,
    pub ticks: u64,
    pub wall_seconds: f64,
    /// (customer, rating, when) of every review sent.
    pub reviews: Vec<(usize, u8, DateTime<Utc>)>,
}

fn schedule(world: &World) -> Vec<(DateTime<Utc>, Action)> {
    let mut actions = Vec::new();
    for platform in [Platform::Shopify, Platform::Generic] {
        for p in 0..world.products.len() {
            actions.push((world.start, Action::Product(platform, p)));
        }
    }
    for (o, order) in world.orders.iter().enumerate() {
        actions.push((order.at, Action::Order(o)));
        let mut delivered = None;
        for (p, parcel) in order.parcels.iter().enumerate() {
            actions.push((parcel.fulfilled_at, Action::Fulfil(o, p)));
            for (e, event) in parcel.events.iter().enumerate() {
                actions.push((
                    event.delivered_at,
                    Action::Scan {
                        order: o,
                        parcel: p,
                        event: e,
                    },
                ));
                if let Some(after) = event.duplicate_after {
                    actions.push((
                        event.delivered_at + after,
                        Action::Scan {
                            order: o,
                            parcel: p,
                            event: e,
                        },
                    ));
                }
                if event.scan == Scan::Delivered {
                    delivered = Some(event.at);
                }
                if event.scan == Scan::FailedAttempt {
                    if let Some(after) = parcel.choice_after {
                        actions.push((event.at + after, Action::Choice(o, p)));
                    }
                }
            }
            // Shoppers look at the page while the parcel travels.
            if let (Some(first), Some(last)) = (parcel.events.first(), parcel.events.last()) {
                let views = (o + p) % 3;
                for v in 0..views {
                    let span = (last.at - first.at).num_minutes().max(60);
                    let at =
                        first.at + Duration::minutes(span * (v as i64 + 1) / (views as i64 + 1));
                    actions.push((at + Duration::minutes(17), Action::View(o, p)));
                }
            }
        }
        if let (Some((_, after)), Some(delivered)) = (order.review, delivered) {
            actions.push((delivered + after, Action::Review(o)));
        }
    }
    for (s, subscription) in world.subscriptions.iter().enumerate() {
        actions.push((subscription.created_at, Action::Subscribe(s)));
        if subscription.skips {
            if let Some(day) = subscription
                .next_charge
                .pred_opt()
                .and_then(|d| d.pred_opt())
            {
                let at = day
                    .and_hms_opt(3, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(world.end);
                actions.push((at, Action::Skip(s)));
            }
        }
    }
    actions.retain(|(at, _)| *at >= world.start && *at < world.end);
    actions.sort_by_key(|(at, _)| *at);
    actions
}

fn tracking_parts(world: &World, o: usize, p: usize) -> Option<(CarrierSlug, TrackingNumber)> {
    let order = &world.orders[o];
    let market = &MARKETS[world.customers[order.customer].market];
    Some((
        CarrierSlug::parse(market.carrier_name)?,
        TrackingNumber::parse(&order.parcels[p].tracking)?,
    ))
}

/// The manage link the last renewal reminder gave a subscriber.
async fn manage_token(stack: &dyn Stack, customer: &str) -> Option<String> {
    let log = stack.log().await;
    let body = log
        .iter()
        .rev()
        .filter(|e| e.message.as_str() == "renewal_reminder" && e.customer_id.as_str() == customer)
        .find_map(|e| e.body.clone())?;
    let at = body.find("/s/")? + 3;
    Some(
        body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

async fn act(
    stack: &dyn Stack,
    world: &World,
    action: &Action,
    at: DateTime<Utc>,
    drive: &mut Drive,
) {
    let products = &world.products;
    let (request, what) = match action {
        Action::Product(platform, p) => (
            payloads::product(*platform, &products[*p], at),
            format!("product {p}"),
        ),
        Action::Order(o) => {
            let order = &world.orders[*o];
            let customer = &world.customers[order.customer];
            (
                payloads::order(order, customer, products, at),
                format!("order {}", order.id),
            )
        }
        Action::Fulfil(o, p) => {
            let order = &world.orders[*o];
            let customer = &world.customers[order.customer];
            (
                payloads::fulfillment(order, &order.parcels[*p], *p, customer, at),
                format!("fulfilment {}", order.id),
            )
        }
        Action::Scan {
            order,
            parcel,
            event,
        } => {
            let order = &world.orders[*order];
            let market = &MARKETS[world.customers[order.customer].market];
            let parcel = &order.parcels[*parcel];
            (
                payloads::carrier(market, parcel, *event, at),
                format!("scan {} {:?}", parcel.tracking, parcel.events[*event].scan),
            )
        }
        Action::Review(o) => {
            let order = &world.orders[*o];
            let customer = &world.customers[order.customer];
            let Some((rating, _)) = order.review else {
                return;
            };
            let product = &products[order.lines[0].0];
            drive.reviews.push((order.customer, rating, at));
            (
                payloads::review(order, customer, rating, product, at, at),
                format!("review {}", order.id),
            )
        }
        Action::Subscribe(s) => {
            let subscription = &world.subscriptions[*s];
            let customer = &world.customers[subscription.customer];
            let product = &products[subscription.product];
            (
                payloads::subscription(subscription, customer, product, at),
                format!("subscription {}", subscription.id),
            )
        }
        Action::View(o, p) | Action::Choice(o, p) => {
            let Some((carrier, tracking)) = tracking_parts(world, *o, *p) else {
                return;
            };
            let Some(token) = stack.token(&carrier, &tracking).await else {
                return;
            };
            let token = token.to_string();
            let page = match action {
                Action::View(..) => Page::Tracking(&token),
                _ => Page::Choice(&token, "choice=pickup_point&note="),
            };
            let status = stack.page(page, at).await;
            drive.pages += 1;
            // A choice after the parcel moved on is refused with 409: the shopper's page says so.
            if status >= 400 && status != 409 {
                drive.refused.push((format!("page {tracking}"), status));
            }
            return;
        }
        Action::Skip(s) => {
            let subscription = &world.subscriptions[*s];
            let customer = format!(
                "generic-store:{}",
                world.customers[subscription.customer].id
            );
            let Some(token) = manage_token(stack, &customer).await else {
                return;
            };
            for page in [Page::Manage(&token), Page::Skip(&token)] {
                let status = stack.page(page, at).await;
                drive.pages += 1;
                if status >= 400 && status != 409 {
                    drive
                        .refused
                        .push((format!("manage page {}", subscription.id), status));
                }
            }
            return;
        }
    };
    let status = stack.webhook(&request, at).await;
    drive.webhooks += 1;
    if !(200..300).contains(&status) {
        drive.refused.push((what, status));
    }
}

/// Runs the month and writes the reports. Returns the report.
pub async fn run(config: &Config) -> Result<report::Report, String> {
    std::fs::create_dir_all(&config.out).map_err(|e| format!("{}: {e}", config.out.display()))?;
    // The month ends at a UTC midnight, by default the last one, so every event lies in the
    // past as a real provider's would, and a seed gives the same month all day: a before/after
    // pair run hours apart compares the same shoppers (ending "an hour ago", the world moved
    // with the clock). `--end` names the day, to run a month again on another day.
    let today = Utc::now()
        .duration_trunc(Duration::days(1))
        .unwrap_or_else(|_| Utc::now());
    let end = config
        .end
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(today, |midnight| midnight.and_utc());
    let world = world::generate(
        &world::Shape {
            orders: config.orders,
            days: config.days,
            seed: config.seed,
        },
        end,
    );
    let settings = stack::settings();
    let stack: Box<dyn Stack> = match &config.aws {
        Some(endpoint) => Box::new(stack::Aws::new(settings.clone(), endpoint).await?),
        None => Box::new(stack::Sqlite::new(
            settings.clone(),
            config.out.join("outbox.jsonl"),
        )?),
    };
    let actions = schedule(&world);
    let mut drive = Drive::default();
    let started = Instant::now();
    let mut next_action = 0;
    let mut minute = world.start;
    while minute < world.end {
        let next = minute + Duration::minutes(1);
        while let Some((at, action)) = actions.get(next_action).filter(|(at, _)| *at < next) {
            act(stack.as_ref(), &world, action, *at, &mut drive).await;
            next_action += 1;
        }
        stack.tick(next).await;
        drive.ticks += 1;
        minute = next;
    }
    drive.wall_seconds = started.elapsed().as_secs_f64();
    let log = stack.log().await;
    let measured = measure::measure(
        &world,
        &settings,
        &log,
        &drive,
        stack.as_ref(),
        config.aws.is_some(),
    );
    let report = report::Report::new(config, &world, measured);
    report::write(&config.out, &report)?;
    Ok(report)
}
