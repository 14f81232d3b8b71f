//! The branded tracking page every message links to, and what hangs off it:
//!
//! - `GET /t/{token}`: the page (server-rendered, no script, `?lang=en|th` overrides);
//! - `GET /api/t/{token}`: the same facts as JSON for headless storefronts;
//! - `POST /t/{token}/delivery-choice`: the shopper's answer to a failed delivery;
//! - `GET /r/{token}/{product_id}`: a recommendation's link, counted, then `302` to the shop.
//!
//! Anyone holding the link sees the page, so it shows a first name and a city and nothing else
//! about the customer. The token is unguessable ([`crate::ids::Token`]).

pub mod carriers;
pub mod phrases;
pub mod view;

use crate::catalog::{self, Product};
use crate::ids::{ProductId, ShipmentKey, Token};
use crate::model::{ChoiceKind, Customer, DeliveryChoice, Order, Shipment};
use crate::optimistic::{self, UpdateError};
use crate::pages::{self, PageResponse};
use crate::ports::{read_recent, Store, StoreError};
use crate::settings::Settings;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use view::{Facts, View};

/// How long a browser may reuse a page without asking (a reload within it costs nothing; after
/// it, the `ETag` makes it cost a `304`).
const CACHE: &str = "private, max-age=60";
/// A delivery-choice form is a few hundred bytes; anything far larger is not one.
const MAX_FORM_BYTES: usize = 8 * 1024;
/// Candidates read per recommendation slot: some will be out of stock.
const CANDIDATES_PER_SLOT: usize = 3;

/// A request to one of the routes, as any transport hands it over.
#[derive(Debug, Clone, Copy)]
pub struct TrackingRequest<'a> {
    /// The `{token}` path segment, as sent.
    pub token: &'a str,
    pub query: Option<&'a str>,
    /// Lower-case names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl TrackingRequest<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query_value(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// `?lang=` when it names a language the page speaks.
    fn lang(&self) -> Option<String> {
        self.query_value("lang")
            .filter(|l| phrases::LANGUAGES.contains(&l.to_ascii_lowercase().as_str()))
    }
}

/// The page's records, and how many storage calls reading them took.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub facts: Facts,
    pub reads: u32,
}

/// Reads what a page shows: the parcel by its token, its order, the customer, the order's other
/// parcels, and recommendations from the neighbour lists of the order's products. O(items): no
/// scan anywhere. Parts that only decorate the page (other parcels, recommendations) are left
/// out, with a warning, when their reads fail; the parcel, order and customer are not.
pub async fn load(
    store: &dyn Store,
    settings: &Settings,
    token: &Token,
) -> Result<Option<Loaded>, StoreError> {
    let mut reads = 1;
    let Some(shipment) = store.get_shipment_by_token(token).await? else {
        return Ok(None);
    };
    // The order and customer as a replica has them (half the read units on DynamoDB): a page
    // a second behind either shows what it showed a second ago. The parcel itself, which a
    // delivery choice just posted changes, is read at the latest.
    let order = match shipment.order_id() {
        Some(id) => {
            reads += 1;
            read_recent(|freshness| store.read_order(id, freshness)).await?
        }
        None => None,
    };
    let Some(order) = order else {
        let facts = Facts {
            shipment,
            order: None,
            customer: None,
            siblings: Vec::new(),
            recommendations: Vec::new(),
        };
        return Ok(Some(Loaded { facts, reads }));
    };
    let sibling_keys: Vec<ShipmentKey> = order
        .shipments
        .iter()
        .filter(|r| r.tracking_number != shipment.tracking_number)
        .filter_map(|r| {
            Some(ShipmentKey {
                carrier: r.carrier.clone()?,
                tracking_number: r.tracking_number.clone(),
            })
        })
        .collect();
    let products = order.product_ids();
    let recommending = settings.recommendations.enabled && !products.is_empty();
    // The three reads that depend only on the order go out together.
    let (customer, siblings, neighbours) = tokio::join!(
        async {
            match &order.customer_id {
                Some(id) => read_recent(|freshness| store.read_customer(id, freshness)).await,
                None => Ok(None),
            }
        },
        async {
            match sibling_keys.is_empty() {
                true => Ok(Vec::new()),
                false => store.get_shipments(&sibling_keys).await,
            }
        },
        async {
            match recommending {
                true => store.get_neighbours(&products).await,
                false => Ok(Vec::new()),
            }
        },
    );
    reads += u32::from(order.customer_id.is_some())
        + u32::from(!sibling_keys.is_empty())
        + u32::from(recommending);
    let customer = customer?;
    let siblings = siblings.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "tracking page: other parcels unavailable");
        Vec::new()
    });
    let recommendations = match (recommending, neighbours) {
        (false, _) => Vec::new(),
        (true, Ok(neighbours)) => recommend(
            store,
            settings,
            &order,
            customer.as_ref(),
            &neighbours,
            &mut reads,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "tracking page: recommendations unavailable");
            Vec::new()
        }),
        (true, Err(e)) => {
            tracing::warn!(error = %e, "tracking page: recommendations unavailable");
            Vec::new()
        }
    };
    let facts = Facts {
        shipment,
        order: Some(order),
        customer,
        siblings,
        recommendations,
    };
    Ok(Some(Loaded { facts, reads }))
}

/// The products most bought with the order's, then the shop's best sellers, under the
/// customer's exclusions; only products that can be bought now.
async fn recommend(
    store: &dyn Store,
    settings: &Settings,
    order: &Order,
    customer: Option<&Customer>,
    neighbours: &[catalog::Neighbours],
    reads: &mut u32,
) -> Result<Vec<Product>, StoreError> {
    let count = settings.recommendations.count;
    let own = order.product_ids();
    let mut wanted = catalog::candidates(&own, neighbours, customer);
    wanted.truncate(count * CANDIDATES_PER_SLOT);
    let mut picked = Vec::new();
    if !wanted.is_empty() {
        *reads += 1;
        let found = store.get_products(&wanted).await?;
        picked = catalog::pick(&wanted, &found, count);
    }
    if picked.len() < count {
        *reads += 1;
        let best = store.get_best_sellers().await?;
        let mut more: Vec<ProductId> = catalog::fallback(&own, best.as_ref(), customer)
            .into_iter()
            .filter(|p| !wanted.contains(p))
            .collect();
        more.truncate((count - picked.len()) * CANDIDATES_PER_SLOT);
        if !more.is_empty() {
            *reads += 1;
            let found = store.get_products(&more).await?;
            for product in catalog::pick(&more, &found, count - picked.len()) {
                picked.push(product);
            }
        }
    }
    Ok(picked)
}

/// The `Content-Security-Policy` of every tracking page: no script at all, only our own
/// stylesheet (by hash), images from anywhere secure (the logo, product photos), forms only to
/// ourselves, never framed.
fn csp(style_hash: &str) -> String {
    format!(
        "default-src 'none'; style-src '{style_hash}'; img-src https: data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

#[derive(Serialize)]
struct Css<'a> {
    accent: &'a str,
    accent_text: &'a str,
}

/// The page's stylesheet with the shop's accent colour, and its CSP hash.
/// A stylesheet and its CSP hash.
type Sheet = std::sync::Arc<(String, String)>;

fn stylesheet(settings: &Settings) -> Sheet {
    // One process serves one shop (one accent); the few entries kept cover tests and reloads.
    static CACHE: std::sync::Mutex<Vec<(String, Sheet)>> = std::sync::Mutex::new(Vec::new());
    let cached = |cache: &Vec<(String, Sheet)>| {
        cache
            .iter()
            .find(|(accent, _)| *accent == settings.accent_color)
            .map(|(_, sheet)| sheet.clone())
    };
    if let Some(sheet) = CACHE.lock().ok().as_deref().and_then(cached) {
        return sheet;
    }
    let sheet = std::sync::Arc::new(build_stylesheet(settings));
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((settings.accent_color.clone(), sheet.clone()));
    }
    sheet
}

fn build_stylesheet(settings: &Settings) -> (String, String) {
    let accent = match crate::settings::is_colour(&settings.accent_color) {
        true => settings.accent_color.as_str(),
        false => "#1a1a1a",
    };
    let accent_text = match light(accent) {
        true => "#111111",
        false => "#ffffff",
    };
    let css = pages::render_text(
        "tracking.css",
        Css {
            accent,
            accent_text,
        },
    )
    .unwrap_or_default();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
    (css, format!("sha256-{hash}"))
}

/// Whether dark text reads better than white on a colour (WCAG relative luminance).
fn light(hex: &str) -> bool {
    let hex = hex.trim_start_matches('#');
    let digits: Vec<u32> = hex.chars().filter_map(|c| c.to_digit(16)).collect();
    let (r, g, b) = match digits.as_slice() {
        [r, g, b] => (r * 17, g * 17, b * 17),
        [r1, r2, g1, g2, b1, b2] => (r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2),
        _ => return false,
    };
    let channel = |c: u32| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    luminance > 0.179
}

/// A page with the tracking pages' headers.
/// What every tracking template is rendered with.
#[derive(Serialize)]
struct Context<'a, T: Serialize> {
    page: T,
    css: &'a str,
}

pub(crate) fn html(
    status: u16,
    template: &str,
    page: impl Serialize,
    settings: &Settings,
) -> PageResponse {
    let sheet = stylesheet(settings);
    let (css, hash) = sheet.as_ref();
    pages::page(status, template, Context { page, css })
        .header("content-security-policy", csp(hash))
        .header("x-robots-tag", "noindex, nofollow")
        .header("referrer-policy", "no-referrer")
        .header("x-content-type-options", "nosniff")
}

/// A plain branded page that says what happened and nothing more.
fn notice(
    status: u16,
    settings: &Settings,
    lang: &str,
    title: &str,
    detail: &str,
    back: Option<String>,
) -> PageResponse {
    let t = phrases::phrases(lang);
    html(
        status,
        "tracking_notice",
        json!({
            "lang": t.lang,
            "t": t,
            "brand": settings.brand,
            "logo_url": settings.logo_url,
            "support_url": settings.support_url,
            "title": title,
            "detail": detail,
            "back": back,
        }),
        settings,
    )
    .header("cache-control", "no-store")
}

fn not_found(settings: &Settings, lang: Option<&str>) -> PageResponse {
    let lang = view::language(lang, None, settings);
    let t = phrases::phrases(lang);
    notice(404, settings, lang, t.not_found, t.not_found_detail, None)
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> PageResponse {
    tracing::error!(error = %e, "tracking page: storage failed");
    PageResponse::text(503, "Please try again in a moment.")
        .header("retry-after", "5")
        .header("cache-control", "no-store")
}

/// A strong validator over the body: the same page twice is a `304` the second time.
fn with_etag(page: PageResponse, request: &TrackingRequest<'_>) -> PageResponse {
    let digest = Sha256::digest(page.body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let matches = request.header("if-none-match").is_some_and(|presented| {
        presented
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    });
    let page = page.header("etag", etag).header("cache-control", CACHE);
    match matches {
        true => PageResponse {
            status: 304,
            body: String::new(),
            ..page
        },
        false => page,
    }
}

async fn facts_for(
    store: &dyn Store,
    settings: &Settings,
    request: &TrackingRequest<'_>,
) -> Result<Option<Facts>, StoreError> {
    let Some(token) = Token::parse(request.token) else {
        return Ok(None);
    };
    Ok(load(store, settings, &token).await?.map(|l| l.facts))
}

/// `GET /t/{token}`.
pub async fn page(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    now: DateTime<Utc>,
) -> PageResponse {
    let lang = request.lang();
    let facts = match facts_for(store, settings, &request).await {
        Ok(Some(facts)) => facts,
        Ok(None) => return not_found(settings, lang.as_deref()),
        Err(e) => return unavailable(e),
    };
    let mut view = view::view(&facts, settings, lang.as_deref(), now);
    if request.query_value("choice").as_deref() == Some("saved") {
        view.notice = Some(view.t.choice_saved.replace("{brand}", &view.brand));
    }
    with_etag(render(&view, settings, 200, None), &request)
}

/// What the shopper typed into the form, put back when it has to be sent again.
#[derive(Debug, Clone, Default, Serialize)]
struct Entered {
    choice: Option<String>,
    date: Option<String>,
    note: Option<String>,
}

/// The page for a view, with its headers (no `ETag`: that is added over the final body).
pub fn render_view(view: &View, settings: &Settings) -> PageResponse {
    render(view, settings, 200, None)
}

fn render(
    view: &View,
    settings: &Settings,
    status: u16,
    entered: Option<&Entered>,
) -> PageResponse {
    /// The view, and what the shopper typed when the form comes back to them.
    #[derive(Serialize)]
    struct Page<'a> {
        #[serde(flatten)]
        view: &'a View,
        entered: Option<&'a Entered>,
    }
    html(status, "tracking", Page { view, entered }, settings)
}

/// `GET /api/t/{token}`.
pub async fn api(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    now: DateTime<Utc>,
) -> PageResponse {
    let facts = match facts_for(store, settings, &request).await {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            return PageResponse::json(404, &json!({"error": "no such tracking page"}))
                .header("cache-control", "no-store")
        }
        Err(e) => {
            tracing::error!(error = %e, "tracking API: storage failed");
            return PageResponse::json(503, &json!({"error": "storage unavailable, retry"}))
                .header("cache-control", "no-store");
        }
    };
    let view = view::view(&facts, settings, request.lang().as_deref(), now);
    // Headless storefronts call this from their own origin; it carries no cookies.
    let response = PageResponse::json(200, &view::json(&view))
        .header("access-control-allow-origin", "*")
        .header("x-robots-tag", "noindex, nofollow");
    with_etag(response, &request)
}

/// Whether a form post came from a page of ours, not another site (a cross-site form can make
/// a shopper's browser post, and the token in the URL is all the post needs).
///
/// `Sec-Fetch-Site` decides when the browser sends it (every current browser does, on HTTPS and
/// loopback). Otherwise `Origin` must be ours; the page's `Referrer-Policy: no-referrer` makes
/// browsers send `Origin: null` on its own forms, so a `null` origin without `Sec-Fetch-Site`
/// cannot be told apart from a sandboxed attacker and is refused. A client that sends neither
/// header is not a browser another site could drive.
/// Whether a form post comes from a page of ours (a cross-site post is refused).
pub(crate) fn same_origin(request: &TrackingRequest<'_>, settings: &Settings) -> bool {
    if let Some(site) = request.header("sec-fetch-site") {
        return matches!(site.trim(), "same-origin" | "none");
    }
    let Some(origin) = request.header("origin").map(str::trim) else {
        return true;
    };
    let host_of = |url: &str| {
        url.split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_ascii_lowercase())
    };
    let Some(origin_host) = host_of(origin) else {
        return false;
    };
    let ours = host_of(settings.base_url());
    let served_as = request
        .header("x-forwarded-host")
        .or_else(|| request.header("host"))
        .map(|h| h.trim().to_ascii_lowercase());
    ours.as_deref() == Some(origin_host.as_str())
        || served_as.as_deref() == Some(origin_host.as_str())
}

/// Why a submitted choice cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceError {
    NoChoice,
    BadDate,
    NoteMissing,
    NoteTooLong,
}

impl ChoiceError {
    fn phrase(self, t: &phrases::Phrases) -> &'static str {
        match self {
            Self::NoChoice => t.error_choice,
            Self::BadDate => t.error_date,
            Self::NoteMissing => t.error_note_missing,
            Self::NoteTooLong => t.error_note_long,
        }
    }
}

/// Reads a submitted form into a choice: a known option, a date among `bookable` when it is a
/// redelivery, a note (trimmed, control characters dropped, at most [`view::MAX_NOTE_CHARS`])
/// where the option needs one.
pub fn parse_choice(
    form: &[u8],
    bookable: &[NaiveDate],
    now: DateTime<Utc>,
    attempt: usize,
) -> Result<DeliveryChoice, ChoiceError> {
    let field = |name: &str| {
        form_urlencoded::parse(form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let choice: ChoiceKind = field("choice")
        .and_then(|c| c.parse().ok())
        .ok_or(ChoiceError::NoChoice)?;
    let note: String = field("note")
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    if note.chars().count() > view::MAX_NOTE_CHARS {
        return Err(ChoiceError::NoteTooLong);
    }
    let note = (!note.is_empty()).then_some(note);
    let date = match choice {
        ChoiceKind::Redeliver => {
            let date = field("date")
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .filter(|d| bookable.contains(d))
                .ok_or(ChoiceError::BadDate)?;
            Some(date)
        }
        _ => None,
    };
    let needs_note = matches!(
        choice,
        ChoiceKind::SafePlace | ChoiceKind::Neighbour | ChoiceKind::CorrectAddress
    );
    if needs_note && note.is_none() {
        return Err(ChoiceError::NoteMissing);
    }
    Ok(DeliveryChoice {
        choice,
        date,
        note,
        chosen_at: now,
        attempt,
    })
}

/// What happened to a submitted choice.
enum Outcome {
    Kept(Shipment),
    /// The journey is over (or never needed a choice).
    Closed(Shipment, Option<Box<Customer>>),
    Invalid(Box<Facts>, ChoiceError),
    Unknown,
}

/// `POST /t/{token}/delivery-choice`.
pub async fn choose(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    now: DateTime<Utc>,
) -> PageResponse {
    let lang = request.lang();
    let requested = view::language(lang.as_deref(), None, settings);
    if !same_origin(&request, settings) {
        let t = phrases::phrases(requested);
        return notice(403, settings, requested, t.refused, "", None);
    }
    if request.body.len() > MAX_FORM_BYTES {
        return PageResponse::text(413, "form too large").header("cache-control", "no-store");
    }
    let Some(token) = Token::parse(request.token) else {
        return not_found(settings, lang.as_deref());
    };
    let outcome = optimistic::with_retries(|| {
        let token = &token;
        async move {
            let Some(mut shipment) = store.get_shipment_by_token(token).await? else {
                return Ok(Outcome::Unknown);
            };
            let customer = match shipment.order_id() {
                Some(id) => match store.get_order(id).await?.and_then(|o| o.customer_id) {
                    Some(customer) => store.get_customer(&customer).await?,
                    None => None,
                },
                None => None,
            };
            if !shipment.awaits_delivery_choice() {
                return Ok(Outcome::Closed(shipment, customer.map(Box::new)));
            }
            let zone = view::zone(customer.as_ref(), settings);
            let bookable = view::redelivery_days(now, zone);
            let attempt = view::current_attempt(&shipment);
            let choice = match parse_choice(request.body, &bookable, now, attempt) {
                Ok(choice) => choice,
                Err(e) => {
                    // Re-read for the page; a failed form is rare enough to afford it.
                    let facts = load(store, settings, token).await?.map(|l| l.facts);
                    return Ok(match facts {
                        Some(facts) => Outcome::Invalid(Box::new(facts), e),
                        None => Outcome::Unknown,
                    });
                }
            };
            let version = shipment.version;
            shipment.delivery_choice = Some(choice);
            shipment.updated_at = now;
            store
                .save_shipment(
                    &shipment,
                    crate::ports::ShipmentWrite {
                        expected_version: Some(version),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(Outcome::Kept(shipment))
        }
    })
    .await;
    let query = lang.as_deref().map(|l| format!("lang={l}"));
    match outcome {
        Ok(Outcome::Kept(shipment)) => {
            tracing::info!(
                attempt = shipment.delivery_choice.as_ref().map(|c| c.attempt),
                "delivery choice saved"
            );
            // The version makes the address new each time, so no cache shows an older answer.
            let mut location = format!(
                "/t/{}?choice=saved&v={}",
                shipment.tracking_token,
                shipment.version + 1
            );
            if let Some(query) = query {
                location.push('&');
                location.push_str(&query);
            }
            PageResponse::see_other(location).header("cache-control", "no-store")
        }
        Ok(Outcome::Closed(shipment, customer)) => {
            let requested = view::language(lang.as_deref(), customer.as_deref(), settings);
            let t = phrases::phrases(requested);
            let back = format!(
                "/t/{}{}",
                shipment.tracking_token,
                query.map(|q| format!("?{q}")).unwrap_or_default()
            );
            notice(
                409,
                settings,
                requested,
                t.choice_closed,
                t.choice_closed_detail,
                Some(back),
            )
        }
        Ok(Outcome::Invalid(facts, e)) => {
            let mut view = view::view(&facts, settings, lang.as_deref(), now);
            view.error = Some(e.phrase(view.t));
            let entered = entered(request.body);
            render(&view, settings, 422, Some(&entered)).header("cache-control", "no-store")
        }
        Ok(Outcome::Unknown) => not_found(settings, lang.as_deref()),
        Err(e @ UpdateError::Contended) => unavailable(e),
        Err(UpdateError::Store(e)) => unavailable(e),
    }
}

fn entered(form: &[u8]) -> Entered {
    let field = |name: &str| {
        form_urlencoded::parse(form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| crate::bounds::cap(&v, view::MAX_NOTE_CHARS * 2))
    };
    Entered {
        choice: field("choice"),
        date: field("date"),
        note: field("note"),
    }
}

/// Decodes `%XX` escapes in a path segment; `None` when they are malformed or not UTF-8.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Adds the tracking page's UTM tags to a product URL, before any `#fragment`.
fn with_utm(url: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut tagged = format!("{base}{separator}utm_source=doorstep&utm_medium=tracking_page");
    if let Some(fragment) = fragment {
        tagged.push('#');
        tagged.push_str(fragment);
    }
    tagged
}

/// `GET /r/{token}/{product_id}`: counts the click, then sends the shopper to the product.
pub async fn click(
    store: &dyn Store,
    settings: &Settings,
    request: TrackingRequest<'_>,
    product: &str,
) -> PageResponse {
    let lang = request.lang();
    let (Some(token), Some(product)) = (
        Token::parse(request.token),
        percent_decode(product).and_then(|p| ProductId::parse(&p)),
    ) else {
        return not_found(settings, lang.as_deref());
    };
    let found = async {
        if store.get_shipment_by_token(&token).await?.is_none() {
            return Ok(None);
        }
        Ok::<_, StoreError>(
            store
                .get_products(std::slice::from_ref(&product))
                .await?
                .pop(),
        )
    };
    let product = match found.await {
        Ok(Some(product)) => product,
        Ok(None) => return not_found(settings, lang.as_deref()),
        Err(e) => return unavailable(e),
    };
    let Some(url) = product.page_url(settings) else {
        return not_found(settings, lang.as_deref());
    };
    // The shopper gets to the product even when the count cannot be kept.
    if let Err(e) = store.record_click(&product.id).await {
        tracing::warn!(error = %e, "recommendation click not counted");
    }
    PageResponse::text(302, "")
        .header("location", with_utm(&url))
        .header("cache-control", "no-store")
}

#[cfg(test)]
mod tests;
