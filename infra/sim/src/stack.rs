//! The whole stack in process, on the simulation's clock: webhooks through Doorstep's webhook
//! code (verify, parse, bound, ingest, exactly as the Lambdas run it), pages through the page
//! code, the notifier on the change feed (SQLite) or on the table's stream (DynamoDB on moto,
//! through the notifier Lambda's handler), and every scheduled job at its cadence.

use crate::meter::{Meter, Usage};
use crate::payloads::{Request, SECRET};
use async_trait::async_trait;
use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::ids::{CarrierSlug, Token, TrackingNumber};
use doorstep_core::jobs::Job;
use doorstep_core::notify::ports::{Channels, LogEntry, Outgoing, SendError};
use doorstep_core::pages::PageResponse;
use doorstep_core::ports::Store;
use doorstep_core::providers::InboundRequest;
use doorstep_core::secrets::Secrets;
use doorstep_core::settings::Settings;
use doorstep_core::tracking::TrackingRequest;
use doorstep_core::webhook::WebhookConfig;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the stack was asked to do, as AWS would bill it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Invocations {
    /// Lambda invocations by function.
    pub lambda: BTreeMap<String, u64>,
    /// Milliseconds spent in each function's handler (billed per started millisecond).
    pub lambda_ms: BTreeMap<String, f64>,
    /// Requests through API Gateway (the pages, on the merchant's domain).
    pub api_requests: u64,
    /// Requests through the webhook functions' own URLs (no request charge).
    pub function_url_requests: u64,
    /// Stream records the notifier's filter passed (DynamoDB): with the template's 1 s
    /// batching window, about how often AWS would invoke it.
    pub stream_records: u64,
}

/// The notifier's stream batch size: template.yaml's `BatchSize` for it (a test compares them).
/// The simulation hands the notifier what the stream holds at each minute's tick, in batches of
/// this size, as a batching window of up to a minute would.
pub const NOTIFIER_BATCH_SIZE: usize = 25;

/// How a request reached its function (template.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// The HTTP API: pages a shopper opens.
    Api,
    /// A Lambda function URL: carriers' and stores' webhooks.
    FunctionUrl,
    /// An event source: the table's stream, the schedule.
    Event,
}

impl Invocations {
    fn record(&mut self, function: &str, started: Instant, ingress: Ingress) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        *self.lambda.entry(function.to_string()).or_default() += 1;
        *self.lambda_ms.entry(function.to_string()).or_default() += ms.ceil().max(1.0);
        match ingress {
            Ingress::Api => self.api_requests += 1,
            Ingress::FunctionUrl => self.function_url_requests += 1,
            Ingress::Event => {}
        }
    }
}

/// What went wrong inside the stack (a job, the notifier, the stream, a dead letter), by what
/// and why, with how often. Each is a defect the run reports and fails on, not a line on stderr.
#[derive(Default)]
pub struct Failures(Mutex<BTreeMap<String, u64>>);

impl Failures {
    pub fn record(&self, what: String) {
        eprintln!("{what}");
        if let Ok(mut failures) = self.0.lock() {
            *failures.entry(what).or_default() += 1;
        }
    }

    pub fn all(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

#[async_trait]
pub trait Stack: Send + Sync {
    /// A webhook at `now`; the HTTP status the sender sees.
    async fn webhook(&self, request: &Request, now: DateTime<Utc>) -> u16;
    /// The tracking page's token of a parcel, once Doorstep knows it.
    async fn token(&self, carrier: &CarrierSlug, tracking: &TrackingNumber) -> Option<Token>;
    /// A page a shopper opens or posts: `GET /t/{token}`, `POST /t/{token}/delivery-choice`,
    /// `GET /s/{token}`, `POST /s/{token}/skip`.
    async fn page(&self, page: Page<'_>, now: DateTime<Utc>) -> u16;
    /// The change feed and the schedule up to `now`.
    async fn tick(&self, now: DateTime<Utc>);
    /// Every decision the notifier logged.
    async fn log(&self) -> Vec<LogEntry>;
    fn storage_calls(&self) -> BTreeMap<String, u64>;
    /// DynamoDB's units, from traffic; and what the schedule costs when it finds nothing to do.
    fn usage(&self) -> Option<(Usage, Usage)>;
    fn invocations(&self) -> Invocations;
    /// Everything that failed inside the stack.
    fn failures(&self) -> BTreeMap<String, u64>;
}

pub enum Page<'a> {
    Tracking(&'a str),
    Choice(&'a str, &'a str),
    Manage(&'a str),
    Skip(&'a str),
}

pub fn settings() -> Settings {
    Settings {
        brand: "Baan Shop".into(),
        public_base_url: "https://shop.example.com".into(),
        store_url: Some("https://shop.example.com".into()),
        sender_email: "orders@shop.example.com".into(),
        default_timezone: "Asia/Bangkok".into(),
        merchant_email: Some("support@shop.example.com".into()),
        loyalty: Some(Default::default()),
        vip_alert_tier: Some("Gold".into()),
        follow_ups: vec![doorstep_core::settings::FollowUp {
            name: "care".into(),
            product_types: vec!["Skincare".into()],
            tags: Vec::new(),
            days_after_delivery: 2,
            marketing: false,
            channels: Vec::new(),
        }],
        ..Default::default()
    }
}

pub fn webhook_config(settings: &Settings) -> WebhookConfig {
    let mut secrets = Secrets::new();
    for name in doorstep_core::providers::registry::secret_names() {
        secrets.set(name, SECRET);
    }
    WebhookConfig {
        secrets,
        defaults: settings.merchant_defaults(),
        settings: settings.clone(),
    }
}

fn inbound(request: &Request) -> InboundRequest<'_> {
    InboundRequest {
        headers: &request.headers,
        query: None,
        body: &request.body,
    }
}

const SAME_ORIGIN: &[(&str, &str)] = &[
    ("sec-fetch-site", "same-origin"),
    ("content-type", "application/x-www-form-urlencoded"),
];

async fn open_page(
    store: &dyn Store,
    settings: &Settings,
    page: Page<'_>,
    now: DateTime<Utc>,
) -> (PageResponse, &'static str) {
    let headers: Vec<(String, String)> = SAME_ORIGIN
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = |token, body| TrackingRequest {
        token,
        query: None,
        headers: &headers,
        body,
    };
    match page {
        Page::Tracking(token) => (
            doorstep_core::tracking::page(store, settings, request(token, b""), now).await,
            "tracking-page",
        ),
        Page::Choice(token, form) => (
            doorstep_core::tracking::choose(store, settings, request(token, form.as_bytes()), now)
                .await,
            "tracking-page",
        ),
        Page::Manage(token) => (
            doorstep_core::subscriptions::page::page(store, settings, request(token, b""), now)
                .await,
            "manage-page",
        ),
        Page::Skip(token) => (
            doorstep_core::subscriptions::page::act(
                store,
                settings,
                request(token, b""),
                "skip",
                now,
            )
            .await,
            "manage-page",
        ),
    }
}

/// The local runner's wiring on an in-memory SQLite database.
pub struct Sqlite {
    app: Arc<doorstep_local::LocalApp>,
    config: WebhookConfig,
    settings: Settings,
    statements: Arc<Mutex<BTreeMap<String, u64>>>,
    invocations: Mutex<Invocations>,
    failures: Failures,
}

impl Sqlite {
    pub fn new(settings: Settings, outbox: std::path::PathBuf) -> Result<Self, String> {
        let store =
            Arc::new(doorstep_embedded::SqliteStore::in_memory().map_err(|e| e.to_string())?);
        let statements = Arc::new(Mutex::new(BTreeMap::new()));
        store
            .count_statements(statements.clone())
            .map_err(|e| e.to_string())?;
        let config = webhook_config(&settings);
        let app = Arc::new(doorstep_local::LocalApp::new(
            store,
            config.clone(),
            settings.clone(),
            doorstep_embedded::FileOutbox::new(outbox),
            "simulation-admin-token",
        ));
        Ok(Self {
            app,
            config,
            settings,
            statements,
            invocations: Mutex::default(),
            failures: Failures::default(),
        })
    }

    fn count(&self, function: &str, started: Instant, ingress: Ingress) {
        if let Ok(mut i) = self.invocations.lock() {
            i.record(function, started, ingress);
        }
    }
}

/// A webhook through Doorstep's webhook code, as the Lambda that serves its route would run it:
/// its status, and which function that is.
async fn post_webhook(
    request: &Request,
    config: &WebhookConfig,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> (u16, &'static str) {
    let response = doorstep_core::webhook::webhook(
        request.route,
        request.slug,
        inbound(request),
        config,
        store,
        now,
    )
    .await;
    if response.status >= 400 {
        eprintln!(
            "{} {}: {} {}",
            request.route, request.slug, response.status, response.body
        );
    }
    let function = match request.route {
        doorstep_core::providers::registry::Route::Carriers => "carrier-webhook",
        _ => "store-webhook",
    };
    (response.status, function)
}

#[async_trait]
impl Stack for Sqlite {
    async fn webhook(&self, request: &Request, now: DateTime<Utc>) -> u16 {
        let started = Instant::now();
        let (status, function) =
            post_webhook(request, &self.config, self.app.store.as_ref(), now).await;
        self.count(function, started, Ingress::FunctionUrl);
        status
    }

    async fn token(&self, carrier: &CarrierSlug, tracking: &TrackingNumber) -> Option<Token> {
        let store: &dyn Store = self.app.store.as_ref();
        store
            .get_shipment(carrier, tracking)
            .await
            .ok()
            .flatten()
            .map(|s| s.tracking_token)
    }

    async fn page(&self, page: Page<'_>, now: DateTime<Utc>) -> u16 {
        let started = Instant::now();
        let (response, function) =
            open_page(self.app.store.as_ref(), &self.settings, page, now).await;
        self.count(function, started, Ingress::Api);
        response.status
    }

    async fn tick(&self, now: DateTime<Utc>) {
        let started = Instant::now();
        if let Err(e) = self.app.notifier.tick(now).await {
            self.failures.record(format!("notifier tick failed: {e}"));
        }
        self.count("local-notifier", started, Ingress::Event);
    }

    async fn log(&self) -> Vec<LogEntry> {
        self.app
            .store
            .message_log_after(0, usize::MAX >> 1, false)
            .map(|entries| entries.into_iter().map(|(_, e)| e).collect())
            .unwrap_or_default()
    }

    fn storage_calls(&self) -> BTreeMap<String, u64> {
        self.statements
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn usage(&self) -> Option<(Usage, Usage)> {
        None
    }

    fn failures(&self) -> BTreeMap<String, u64> {
        let mut all = self.failures.all();
        for (what, n) in self.app.notifier.job_failures() {
            *all.entry(what).or_default() += n;
        }
        match self.app.store.dead_letters(usize::MAX >> 1) {
            Ok(letters) => {
                for stored in letters {
                    let letter = stored.letter;
                    *all.entry(format!("dead letter: {} {}", letter.source, letter.error))
                        .or_default() += 1;
                }
            }
            Err(e) => {
                *all.entry(format!("dead letters unreadable: {e}"))
                    .or_default() += 1
            }
        }
        all
    }

    fn invocations(&self) -> Invocations {
        self.invocations
            .lock()
            .map(|i| i.clone())
            .unwrap_or_default()
    }
}

/// The Lambdas' wiring on DynamoDB, SNS and SES on an AWS-protocol endpoint (moto): every
/// DynamoDB request metered; the notifier fed from the table's stream through its handler.
pub struct Aws {
    dynamo: Arc<doorstep_aws::DynamoStore>,
    notifier: notifier::App,
    /// What the channels were given, by provider message id (DynamoDB keeps no bodies).
    sent: Arc<Recording>,
    config: WebhookConfig,
    meter: Meter,
    stream: crate::streams::Reader,
    last_runs: Mutex<HashMap<Job, DateTime<Utc>>>,
    invocations: Mutex<Invocations>,
    /// Writes seen when the stream was last read (no writes since: nothing to read).
    writes_at_last_read: Mutex<u64>,
    /// Schedule runs that found nothing to do: the stack's fixed cost, kept apart.
    idle: Mutex<Usage>,
    failures: Arc<Failures>,
}

impl Aws {
    pub async fn new(settings: Settings, endpoint: &str) -> Result<Self, String> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(doorstep_aws::runtime::https_client())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "simulation",
            ))
            .load()
            .await;
        let meter = Meter::new();
        let dynamo_config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(meter.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(dynamo_config);
        let table = format!(
            "doorstep-sim-{}",
            doorstep_core::ids::random_token()[..8]
                .to_ascii_lowercase()
                .replace(['-', '_'], "x")
        );
        meter.set_counting(false);
        doorstep_aws::schema::create_table(&client, &table).await?;
        let ses = aws_sdk_sesv2::Client::new(&sdk);
        ses.create_email_identity()
            .email_identity("shop.example.com")
            .send()
            .await
            .map_err(|e| aws_sdk_sesv2::error::DisplayErrorContext(e).to_string())?;
        let stream = crate::streams::Reader::new(endpoint, &client, &table).await?;
        meter.set_counting(true);
        let dynamo = Arc::new(doorstep_aws::DynamoStore::new(client, table));
        let channels = doorstep_aws::channels::SnsSesChannels {
            sns: aws_sdk_sns::Client::new(&sdk).into(),
            ses: ses.into(),
            sender_email: settings.sender_email.clone(),
            configuration_set: None,
            sms_sender_id: None,
            sms_origination_number: None,
            webhooks: None,
        };
        let failures = Arc::new(Failures::default());
        let dead_letters = Arc::new(crate::streams::NoDeadLetters(failures.clone()));
        let sent = Arc::new(Recording {
            inner: channels,
            bodies: Mutex::default(),
        });
        let notifier = notifier::App {
            store: dynamo.clone(),
            notify: dynamo.clone(),
            failures: dynamo.clone(),
            channels: sent.clone(),
            dead_letters,
            renderer: doorstep_core::notify::render::Renderer::new(None, settings.sms_max_segments),
            settings: settings.clone(),
        };
        Ok(Self {
            dynamo,
            notifier,
            sent,
            config: webhook_config(&settings),
            meter,
            stream,
            last_runs: Mutex::default(),
            invocations: Mutex::default(),
            writes_at_last_read: Mutex::new(0),
            idle: Mutex::default(),
            failures,
        })
    }

    fn count(&self, function: &str, started: Instant, ingress: Ingress) {
        if let Ok(mut i) = self.invocations.lock() {
            i.record(function, started, ingress);
        }
        self.meter.attribute(function);
    }

    fn jobs_due(&self, now: DateTime<Utc>) -> Vec<Job> {
        let Ok(mut last_runs) = self.last_runs.lock() else {
            return Vec::new();
        };
        Job::all()
            .iter()
            .copied()
            .filter(|job| {
                let every = Duration::from_std(job.spec().every).unwrap_or(Duration::MAX);
                let due = last_runs.get(job).is_none_or(|last| now - *last >= every);
                if due {
                    last_runs.insert(*job, now);
                }
                due
            })
            .collect()
    }
}

#[async_trait]
impl Stack for Aws {
    async fn webhook(&self, request: &Request, now: DateTime<Utc>) -> u16 {
        let started = Instant::now();
        let (status, function) =
            post_webhook(request, &self.config, self.dynamo.as_ref(), now).await;
        self.count(function, started, Ingress::FunctionUrl);
        status
    }

    async fn token(&self, carrier: &CarrierSlug, tracking: &TrackingNumber) -> Option<Token> {
        self.meter.set_counting(false);
        let found = self.dynamo.get_shipment(carrier, tracking).await;
        self.meter.set_counting(true);
        found.ok().flatten().map(|s| s.tracking_token)
    }

    async fn page(&self, page: Page<'_>, now: DateTime<Utc>) -> u16 {
        let started = Instant::now();
        let (response, function) =
            open_page(self.dynamo.as_ref(), &self.notifier.settings, page, now).await;
        self.count(function, started, Ingress::Api);
        response.status
    }

    async fn tick(&self, now: DateTime<Utc>) {
        // The stream as Lambda's event source mapping hands it over: filtered to what the
        // template's filter passes, in batches. (Reading it is free on AWS; here it is skipped
        // when nothing was written since the last read.)
        let writes = self.meter.usage().writes();
        let fresh = self
            .writes_at_last_read
            .lock()
            .map(|mut last| std::mem::replace(&mut *last, writes) != writes)
            .unwrap_or(true);
        let records = match fresh {
            false => Vec::new(),
            true => match self.stream.read().await {
                Ok(records) => records,
                Err(e) => {
                    self.failures.record(format!("stream read failed: {e}"));
                    Vec::new()
                }
            },
        };
        if let Ok(mut i) = self.invocations.lock() {
            i.stream_records += records.len() as u64;
        }
        for batch in records.chunks(NOTIFIER_BATCH_SIZE) {
            let event: aws_lambda_events::dynamodb::Event =
                match serde_json::from_value(serde_json::json!({ "Records": batch })) {
                    Ok(event) => event,
                    Err(e) => {
                        self.failures
                            .record(format!("stream batch unreadable: {e}"));
                        continue;
                    }
                };
            let started = Instant::now();
            let response = notifier::handle_at(&self.notifier, event, now).await;
            self.count("notifier", started, Ingress::Event);
            if !response.batch_item_failures.is_empty() {
                self.failures.record(format!(
                    "notifier reported {} batch item failures",
                    response.batch_item_failures.len()
                ));
            }
        }
        for job in self.jobs_due(now) {
            let started = Instant::now();
            let before = self.meter.usage();
            let input = serde_json::json!({ "job": job.as_str() });
            let idle = match scheduler::handle(&self.notifier, &input, now).await {
                Ok(report) => {
                    let m = report.messages;
                    let found = report
                        .detail
                        .get("due_read")
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0);
                    m.sent + m.deferred + m.suppressed + m.skipped == 0 && found == 0
                }
                Err(e) => {
                    self.failures.record(format!("job {job}: {e}"));
                    false
                }
            };
            match idle {
                true => {
                    let spent = self.meter.usage().since(&before);
                    if let Ok(mut total) = self.idle.lock() {
                        total.add(&spent);
                    }
                    self.count("scheduler (nothing due)", started, Ingress::Event);
                }
                false => self.count("scheduler", started, Ingress::Event),
            }
        }
    }

    async fn log(&self) -> Vec<LogEntry> {
        self.meter.set_counting(false);
        let mut entries = crate::streams::message_log(&self.dynamo).await;
        self.meter.set_counting(true);
        // The table keeps no bodies; the report checks what the channel was given.
        if let Ok(bodies) = self.sent.bodies.lock() {
            for entry in &mut entries {
                if let Some(body) = entry
                    .provider_message_id
                    .as_ref()
                    .and_then(|id| bodies.get(id))
                {
                    entry.body = Some(body.clone());
                }
            }
        }
        entries
    }

    fn storage_calls(&self) -> BTreeMap<String, u64> {
        self.meter.usage().calls
    }

    fn usage(&self) -> Option<(Usage, Usage)> {
        let idle = self.idle.lock().map(|i| i.clone()).unwrap_or_default();
        Some((self.meter.usage().since(&idle), idle))
    }

    fn invocations(&self) -> Invocations {
        self.invocations
            .lock()
            .map(|i| i.clone())
            .unwrap_or_default()
    }

    fn failures(&self) -> BTreeMap<String, u64> {
        self.failures.all()
    }
}

/// SNS and SES as the Lambdas use them, remembering each message's text for the report.
struct Recording {
    inner: doorstep_aws::channels::SnsSesChannels,
    bodies: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Channels for Recording {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        let id = self.inner.send(message).await?;
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.insert(id.clone(), message.body.clone());
        }
        Ok(id)
    }
}
