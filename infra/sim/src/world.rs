//! A store's month, generated from a seed: customers across markets, orders on a daily and
//! hourly curve, parcels and what their carriers will say, and what shoppers do. Pure: the same
//! seed gives the same month.

use doorstep_core::chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use doorstep_core::zones::Tz;

/// SplitMix64: small, seedable, good enough for a simulation (not for secrets).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `low..high` (`low` when the range is empty).
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        low + (self.next_u64() % (high - low) as u64) as i64
    }

    /// An index drawn by weight.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    pub fn minutes(&mut self, low: i64, high: i64) -> Duration {
        Duration::minutes(self.range(low, high))
    }
}

/// Which provider reports a market's parcels, and how the carrier is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// EasyPost trackers (the carrier's name as EasyPost gives it).
    EasyPost,
    /// AfterShip, with its courier slug.
    AfterShip,
    /// Doorstep's generic carrier format.
    Generic,
}

pub struct Market {
    pub country: &'static str,
    pub province: Option<&'static str>,
    pub city: &'static str,
    pub zone: &'static str,
    pub locale: &'static str,
    /// Share of orders.
    pub weight: f64,
    /// The carrier's name as the store's fulfilment gives it.
    pub carrier_name: &'static str,
    /// The carrier as the feed names it (AfterShip's slug, EasyPost's carrier, the generic slug).
    pub feed_carrier: &'static str,
    pub feed: Feed,
    /// A valid mobile number's prefix in E.164, completed by 7 random digits.
    pub mobile: &'static str,
    pub currency: &'static str,
    /// Prices are in baht; this many of the market's currency per baht.
    pub per_baht: f64,
    /// Days from fulfilment to the first delivery attempt.
    pub transit_days: (i64, i64),
}

pub const MARKETS: &[Market] = &[
    Market {
        country: "TH",
        province: Some("BKK"),
        city: "Bangkok",
        zone: "Asia/Bangkok",
        locale: "th",
        weight: 0.30,
        carrier_name: "Thailand Post",
        feed_carrier: "thailand-post",
        feed: Feed::AfterShip,
        mobile: "+668",
        currency: "THB",
        per_baht: 1.0,
        transit_days: (1, 3),
    },
    Market {
        country: "TH",
        province: Some("CM"),
        city: "Chiang Mai",
        zone: "Asia/Bangkok",
        locale: "th",
        weight: 0.08,
        carrier_name: "Kerry Express",
        feed_carrier: "kerry-logistics",
        feed: Feed::Generic,
        mobile: "+669",
        currency: "THB",
        per_baht: 1.0,
        transit_days: (2, 4),
    },
    Market {
        country: "US",
        province: Some("NY"),
        city: "New York",
        zone: "America/New_York",
        locale: "en",
        weight: 0.12,
        carrier_name: "UPS",
        feed_carrier: "UPS",
        feed: Feed::EasyPost,
        mobile: "+1212",
        currency: "USD",
        per_baht: 0.0286,
        transit_days: (3, 6),
    },
    Market {
        country: "US",
        province: Some("IL"),
        city: "Chicago",
        zone: "America/Chicago",
        locale: "en",
        weight: 0.06,
        carrier_name: "USPS",
        feed_carrier: "USPS",
        feed: Feed::EasyPost,
        mobile: "+1312",
        currency: "USD",
        per_baht: 0.0286,
        transit_days: (3, 6),
    },
    Market {
        country: "US",
        province: Some("CO"),
        city: "Denver",
        zone: "America/Denver",
        locale: "en",
        weight: 0.03,
        carrier_name: "UPS",
        feed_carrier: "UPS",
        feed: Feed::EasyPost,
        mobile: "+1303",
        currency: "USD",
        per_baht: 0.0286,
        transit_days: (3, 7),
    },
    Market {
        country: "US",
        province: Some("CA"),
        city: "Los Angeles",
        zone: "America/Los_Angeles",
        locale: "en",
        weight: 0.09,
        carrier_name: "USPS",
        feed_carrier: "USPS",
        feed: Feed::EasyPost,
        mobile: "+1213",
        currency: "USD",
        per_baht: 0.0286,
        transit_days: (4, 7),
    },
    Market {
        country: "GB",
        province: None,
        city: "London",
        zone: "Europe/London",
        locale: "en",
        weight: 0.12,
        carrier_name: "Royal Mail",
        feed_carrier: "royal-mail",
        feed: Feed::AfterShip,
        mobile: "+447700",
        currency: "GBP",
        per_baht: 0.0222,
        transit_days: (4, 8),
    },
    Market {
        country: "JP",
        province: None,
        city: "Tokyo",
        zone: "Asia/Tokyo",
        locale: "ja",
        weight: 0.10,
        carrier_name: "Japan Post",
        feed_carrier: "japan-post",
        feed: Feed::AfterShip,
        mobile: "+8190",
        currency: "JPY",
        per_baht: 4.2,
        transit_days: (3, 6),
    },
    Market {
        country: "AU",
        province: Some("NSW"),
        city: "Sydney",
        zone: "Australia/Sydney",
        locale: "en",
        weight: 0.10,
        carrier_name: "Australia Post",
        feed_carrier: "australia-post",
        feed: Feed::Generic,
        mobile: "+614",
        currency: "AUD",
        per_baht: 0.0435,
        transit_days: (4, 8),
    },
];

pub struct Product {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub price: u32,
}

const KINDS: &[(&str, &[&str])] = &[
    (
        "Skincare",
        &[
            "Rice serum",
            "Sunscreen SPF50",
            "Night cream",
            "Cleansing balm",
        ],
    ),
    (
        "Apparel",
        &["Cotton tee", "Linen shirt", "Rain jacket", "Bamboo socks"],
    ),
    (
        "Kitchen",
        &["Ceramic mug", "Rice cooker", "Chef knife", "Bamboo board"],
    ),
    ("Coffee", &["Doi Chang beans", "Drip bags", "Cold brew kit"]),
    ("Home", &["Scented candle", "Linen throw", "Desk lamp"]),
];

pub fn catalog() -> Vec<Product> {
    let mut products = Vec::new();
    for (k, (kind, titles)) in KINDS.iter().enumerate() {
        for (t, title) in titles.iter().enumerate() {
            products.push(Product {
                id: format!("p{k}{t}"),
                title: (*title).to_string(),
                kind,
                price: 190 + 100 * (k as u32 + t as u32),
            });
        }
    }
    products
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Shopify,
    Generic,
}

pub struct Customer {
    pub id: String,
    pub market: usize,
    pub first_name: &'static str,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub marketing_email: bool,
    pub marketing_sms: bool,
    pub transactional_sms: bool,
    pub platform: Platform,
}

/// What a carrier says about a parcel, in Doorstep's words (each feed renders it its own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    InfoReceived,
    InTransit,
    OutForDelivery,
    FailedAttempt,
    AvailableForPickup,
    Delivered,
    Delay,
    ReturnToSender,
}

impl Scan {
    /// The milestone a message announces for it, if any.
    pub fn milestone(self) -> Option<&'static str> {
        Some(match self {
            Scan::InTransit => "shipped",
            Scan::OutForDelivery => "out_for_delivery",
            Scan::FailedAttempt => "failed_attempt",
            Scan::AvailableForPickup => "available_for_pickup",
            Scan::Delivered => "delivered",
            Scan::Delay => "delayed",
            Scan::ReturnToSender => "return_to_sender",
            Scan::InfoReceived => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub scan: Scan,
    /// When it happened at the carrier.
    pub at: DateTime<Utc>,
    /// When the webhook reaches Doorstep (later; out of order now and then).
    pub delivered_at: DateTime<Utc>,
    /// The same delivery again (a retry), this much later.
    pub duplicate_after: Option<Duration>,
    pub estimate: Option<NaiveDate>,
}

pub struct Parcel {
    pub tracking: String,
    /// Indexes into the order's lines.
    pub lines: Vec<usize>,
    pub fulfilled_at: DateTime<Utc>,
    pub events: Vec<Event>,
    /// The shopper answers the failed attempt on the tracking page this long after it.
    pub choice_after: Option<Duration>,
    pub silent: bool,
}

pub struct Order {
    pub id: String,
    pub customer: usize,
    pub at: DateTime<Utc>,
    /// (product index, quantity).
    pub lines: Vec<(usize, u32)>,
    pub parcels: Vec<Parcel>,
    /// A review this long after delivery: (rating, delay).
    pub review: Option<(u8, Duration)>,
}

pub struct Subscription {
    pub id: String,
    pub customer: usize,
    pub created_at: DateTime<Utc>,
    pub next_charge: NaiveDate,
    pub product: usize,
    /// The share of reminded subscribers who skip from the manage page.
    pub skips: bool,
}

pub struct World {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub products: Vec<Product>,
    pub customers: Vec<Customer>,
    pub orders: Vec<Order>,
    pub subscriptions: Vec<Subscription>,
}

const NAMES: &[&str] = &[
    "Somchai", "Nok", "Pim", "Malee", "James", "Emily", "Hiro", "Yuki", "Olivia", "Jack", "Ploy",
    "Aroon",
];

/// The shop's own zone: its warehouse is in Bangkok.
pub fn shop_zone() -> Tz {
    "Asia/Bangkok".parse().unwrap_or(Tz::UTC)
}

pub fn zone(market: &Market) -> Tz {
    market.zone.parse().unwrap_or(Tz::UTC)
}

/// The instant of a local time on a local day (the later one in a DST overlap, an hour on in a
/// gap).
fn local(zone: Tz, day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or(NaiveTime::MIN);
    doorstep_core::timezone::instant_at(zone, day, time)
        .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_time(time)))
}

fn local_day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// The next working day's morning at or after `at`, in the zone.
fn next_working(mut day: NaiveDate) -> NaiveDate {
    while matches!(day.weekday(), Weekday::Sun) {
        day = day.succ_opt().unwrap_or(day);
    }
    day
}

/// Orders by local hour: quiet overnight, a lunchtime bump, an evening peak.
const HOURLY: [f64; 24] = [
    1.5, 0.8, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.5, 5.0, 4.5, 4.5, 5.0, 5.5, 6.5,
    7.5, 8.5, 8.0, 6.0, 3.0,
];

pub struct Shape {
    pub orders: usize,
    pub days: i64,
    pub seed: u64,
}

pub fn generate(shape: &Shape, end: DateTime<Utc>) -> World {
    let mut rng = Rng::new(shape.seed);
    let start = end - Duration::days(shape.days);
    let products = catalog();
    let market_weights: Vec<f64> = MARKETS.iter().map(|m| m.weight).collect();
    // Repeat buyers: about 0.75 customers per order.
    let customer_count = (shape.orders * 3 / 4).max(1);
    let mut customers = Vec::with_capacity(customer_count);
    for n in 0..customer_count {
        let market = rng.weighted(&market_weights);
        let m = &MARKETS[market];
        let digits = format!("{:07}", rng.range(0, 10_000_000));
        let phone = rng.chance(0.88).then(|| format!("{}{}", m.mobile, digits));
        let email = match rng.chance(0.98) {
            true => Some(format!("shopper{n}@example.com")),
            false => None,
        };
        customers.push(Customer {
            id: format!("c{n}"),
            market,
            first_name: NAMES[n % NAMES.len()],
            email,
            phone,
            marketing_email: rng.chance(0.4),
            marketing_sms: rng.chance(0.15),
            transactional_sms: rng.chance(0.9),
            platform: match rng.chance(0.7) {
                true => Platform::Shopify,
                false => Platform::Generic,
            },
        });
    }
    // Days weighted by weekday (Sunday evenings sell, Saturdays less) and a slow growth.
    let day_weights: Vec<f64> = (0..shape.days)
        .map(|d| {
            let day = (start + Duration::days(d)).weekday();
            let weekday = match day {
                Weekday::Sat => 0.85,
                Weekday::Sun => 1.15,
                Weekday::Fri => 0.95,
                _ => 1.0,
            };
            weekday * (1.0 + 0.2 * d as f64 / shape.days.max(1) as f64)
        })
        .collect();
    let mut orders = Vec::with_capacity(shape.orders);
    let mut parcel_number = 0u64;
    for n in 0..shape.orders {
        let customer = rng.range(0, customers.len() as i64) as usize;
        let m = &MARKETS[customers[customer].market];
        let tz = zone(m);
        // Draw again when the local day falls outside the month (zones at its edges), so the
        // month has exactly the orders asked for.
        let window = end - Duration::hours(1);
        let mut at = start + Duration::minutes(rng.range(0, (window - start).num_minutes().max(1)));
        for _ in 0..32 {
            let day = local_day(tz, start) + Duration::days(rng.weighted(&day_weights) as i64);
            let hour = rng.weighted(&HOURLY) as u32;
            let drawn = local(tz, day, hour, rng.range(0, 60) as u32);
            if drawn >= start && drawn < window {
                at = drawn;
                break;
            }
        }
        let line_count = 1 + rng.weighted(&[0.6, 0.3, 0.1]);
        let mut lines = Vec::new();
        for _ in 0..line_count {
            let product = rng.range(0, products.len() as i64) as usize;
            if lines.iter().all(|(p, _)| *p != product) {
                lines.push((product, 1 + rng.weighted(&[0.85, 0.12, 0.03]) as u32));
            }
        }
        // A split order ships in two parcels.
        let split = lines.len() > 1 && rng.chance(0.25);
        let groups: Vec<Vec<usize>> = match split {
            true => vec![vec![0], (1..lines.len()).collect()],
            false => vec![(0..lines.len()).collect()],
        };
        let mut parcels = Vec::new();
        for group in groups {
            parcel_number += 1;
            let prefix = m.country;
            let tracking = format!("{prefix}{}{:08}SIM", shape.seed % 1000, parcel_number);
            parcels.push(parcel(&mut rng, m, at, tracking, group, end));
        }
        let review = rng.chance(0.12).then(|| {
            let rating = [5u8, 4, 3, 2, 1][rng.weighted(&[0.6, 0.2, 0.08, 0.05, 0.07])];
            (rating, Duration::hours(rng.range(24, 10 * 24)))
        });
        orders.push(Order {
            id: format!("{}{n:06}", shape.seed % 1000),
            customer,
            at,
            lines,
            parcels,
            review,
        });
    }
    let mut subscriptions = Vec::new();
    for (c, _) in customers.iter().enumerate() {
        if !rng.chance(0.04) {
            continue;
        }
        let created_at = start + Duration::hours(rng.range(0, 24 * 5));
        let next_charge =
            (created_at + Duration::days(rng.range(5, shape.days.max(6)))).date_naive();
        subscriptions.push(Subscription {
            id: format!("s{c}"),
            customer: c,
            created_at,
            next_charge,
            product: rng.range(0, products.len() as i64) as usize,
            skips: rng.chance(0.3),
        });
    }
    World {
        start,
        end,
        products,
        customers,
        orders,
        subscriptions,
    }
}

/// A parcel's life at the carrier: scans at warehouse hours, out for delivery in the morning,
/// delivery by day; now and then a failed attempt, a delay, a return, a pickup, silence.
fn parcel(
    rng: &mut Rng,
    market: &Market,
    ordered: DateTime<Utc>,
    tracking: String,
    lines: Vec<usize>,
    end: DateTime<Utc>,
) -> Parcel {
    let tz = zone(market);
    let shop: Tz = shop_zone();
    // Packed at the shop's warehouse (Bangkok) the next working hours.
    let packed_day = next_working(local_day(shop, ordered + Duration::hours(rng.range(4, 30))));
    let fulfilled_at = local(
        shop,
        packed_day,
        rng.range(9, 18) as u32,
        rng.range(0, 60) as u32,
    )
    .max(ordered + Duration::hours(1));
    let transit = rng.range(market.transit_days.0, market.transit_days.1 + 1);
    let planned = next_working(local_day(tz, fulfilled_at) + Duration::days(transit));
    let mut events = Vec::new();
    let mut push = |rng: &mut Rng, scan: Scan, at: DateTime<Utc>, estimate: Option<NaiveDate>| {
        let lag = rng.minutes(1, 12);
        let duplicate_after = rng.chance(0.05).then(|| rng.minutes(1, 90));
        events.push(Event {
            scan,
            at,
            delivered_at: at + lag,
            duplicate_after,
            estimate,
        });
    };
    let label = fulfilled_at + rng.minutes(5, 40);
    push(rng, Scan::InfoReceived, label, Some(planned));
    let silent = rng.chance(0.01);
    // A scan a day at warehouse hours (05:00-23:00 local) until the delivery day.
    let last_sort = local(tz, planned, 5, 0) - Duration::hours(1);
    let mut day = local_day(tz, fulfilled_at + Duration::hours(rng.range(3, 12)));
    loop {
        let at = local(tz, day, rng.range(5, 23) as u32, rng.range(0, 60) as u32)
            .max(fulfilled_at + Duration::hours(2));
        if at >= last_sort {
            break;
        }
        push(rng, Scan::InTransit, at, None);
        // A carrier that goes silent stops scanning after the first day.
        if silent {
            break;
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    let mut day = planned;
    let exception = !silent && rng.chance(0.03);
    if exception {
        let delay_at = local(tz, day, 6, 0) - Duration::hours(2);
        let late = next_working(day + Duration::days(rng.range(1, 4)));
        push(rng, Scan::Delay, delay_at, Some(late));
        day = late;
    }
    let mut choice_after = None;
    if !silent {
        let returned = rng.chance(0.02);
        let failed = returned || rng.chance(0.05);
        let pickup = !failed && rng.chance(0.03);
        let out = local(tz, day, rng.range(7, 10) as u32, rng.range(0, 60) as u32);
        push(rng, Scan::OutForDelivery, out, None);
        let attempt = out + Duration::hours(rng.range(1, 8));
        if failed {
            push(rng, Scan::FailedAttempt, attempt, None);
            if rng.chance(0.5) {
                choice_after = Some(rng.minutes(20, 8 * 60));
            }
            let next = next_working(day + Duration::days(1));
            if returned {
                push(
                    rng,
                    Scan::ReturnToSender,
                    local(tz, next + Duration::days(2), 10, 0),
                    None,
                );
            } else {
                let out = local(tz, next, rng.range(7, 10) as u32, rng.range(0, 60) as u32);
                push(rng, Scan::OutForDelivery, out, None);
                let delivered = out + Duration::hours(rng.range(1, 7));
                push(rng, Scan::Delivered, delivered, None);
            }
        } else if pickup {
            push(rng, Scan::AvailableForPickup, attempt, None);
            let collected = attempt + Duration::hours(rng.range(20, 96));
            push(rng, Scan::Delivered, collected, None);
        } else {
            push(rng, Scan::Delivered, attempt, None);
        }
    }
    // The carrier's history is in time order whatever the plan above did.
    events.sort_by_key(|e| e.at);
    for e in &mut events {
        e.delivered_at = e.delivered_at.max(e.at + Duration::minutes(1));
    }
    // Now and then a webhook arrives after the next one (a carrier's retry queue).
    for i in 1..events.len() {
        if rng.chance(0.03) {
            let later = events[i].delivered_at + rng.minutes(1, 30);
            events[i - 1].delivered_at = later;
        }
    }
    events.retain(|e| e.at < end);
    Parcel {
        tracking,
        lines,
        fulfilled_at,
        events,
        choice_after,
        silent,
    }
}
