//! The notifier, in process: tails the SQLite change feed (the local stand-in for DynamoDB
//! Streams), releases deferred messages when due, and writes the outbox file.
//!
//! One change never holds up the others: a change whose notification fails is scheduled for
//! another try with backoff and the feed moves on; after a few failures it is set aside in the
//! dead-letter table, with its reason, until an operator puts it back.

use doorstep_core::chrono::{DateTime, Duration, Utc};
use doorstep_core::jobs::{self, Job};
use doorstep_core::notify::ports::{DeadLetter, DeadLetters, Deferred, NotifyStore};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{backoff_secs, Notifier, Summary};
use doorstep_core::ports::StoreError;
use doorstep_core::settings::Settings;
use doorstep_embedded::notify::RawChange;
use doorstep_embedded::{FileOutbox, SqliteStore};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub const CURSOR: &str = "notifier";
/// A change failing for a reason of its own (an unreadable record) is set aside after this many
/// tries; one failing for a passing reason (storage busy) gets more.
const MAX_ATTEMPTS_PERMANENT: u32 = 3;
const MAX_ATTEMPTS_TRANSIENT: u32 = 8;

pub struct LocalNotifier {
    store: Arc<SqliteStore>,
    outbox: FileOutbox,
    renderer: Renderer,
    settings: Settings,
    /// When each scheduled job last ran (the runner's clock stands in for EventBridge).
    last_runs: Mutex<HashMap<Job, DateTime<Utc>>>,
    /// How often each job failed, by job and error (a job retries at its next cadence; the
    /// simulator counts these, since a log line is easy to miss).
    job_failures: Mutex<BTreeMap<String, u64>>,
}

/// Why a change could not be notified.
struct Failure {
    error: String,
    transient: bool,
}

impl doorstep_core::notify::service::NotifierSource for LocalNotifier {
    fn notifier(&self) -> Notifier<'_> {
        Notifier {
            store: self.store.as_ref(),
            notify: self.store.as_ref(),
            channels: &self.outbox,
            dead_letters: self.store.as_ref(),
            renderer: &self.renderer,
            settings: &self.settings,
        }
    }
}

impl LocalNotifier {
    pub fn new(store: Arc<SqliteStore>, outbox: FileOutbox, settings: Settings) -> Self {
        let renderer = Renderer::new(settings.template_dir.clone(), settings.sms_max_segments);
        Self {
            store,
            outbox,
            renderer,
            settings,
            last_runs: Mutex::new(HashMap::new()),
            job_failures: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every scheduled job's failure so far, `job {name}: {error}`, with how often it happened.
    pub fn job_failures(&self) -> BTreeMap<String, u64> {
        self.job_failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    fn notifier(&self) -> Notifier<'_> {
        doorstep_core::notify::service::NotifierSource::notifier(self)
    }

    /// Retries what is due, processes every change written since the last tick, runs the
    /// scheduled jobs whose time has come, and brings the outbox file up to date.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Summary, StoreError> {
        let notifier = self.notifier();
        let mut total = Summary::default();
        for retry in self.store.due_retries(now, 50)? {
            let seq = retry.change.seq;
            match run(&notifier, &retry.change, true, now).await {
                Ok(summary) => {
                    total.add(summary);
                    self.store.clear_retry(seq)?;
                }
                Err(failure) => {
                    self.failed(&retry.change, retry.attempts + 1, failure, now)
                        .await?
                }
            }
        }
        let cursor = self.store.cursor(CURSOR)?;
        for change in self.store.changes_after(cursor, 200)? {
            match run(&notifier, &change, false, now).await {
                Ok(summary) => total.add(summary),
                Err(failure) => self.failed(&change, 1, failure, now).await?,
            }
            self.store.set_cursor(CURSOR, change.seq)?;
        }
        for job in self.jobs_due(now) {
            match jobs::run(job, &notifier, now).await {
                Ok(report) => total.add(report.messages),
                Err(e) => {
                    tracing::warn!(job = job.as_str(), error = %e, "job failed; will retry");
                    if let Ok(mut failures) = self.job_failures.lock() {
                        *failures.entry(format!("job {job}: {e}")).or_default() += 1;
                    }
                }
            }
        }
        self.outbox.export(&self.store)?;
        Ok(total)
    }

    /// The jobs whose cadence has come round since they last ran (all of them at start).
    fn jobs_due(&self, now: DateTime<Utc>) -> Vec<Job> {
        let Ok(mut last_runs) = self.last_runs.lock() else {
            return Vec::new();
        };
        Job::all()
            .iter()
            .copied()
            .filter(|job| {
                let every = Duration::from_std(job.spec().every).unwrap_or(Duration::MAX);
                let due = last_runs
                    .get(job)
                    .is_none_or(|last| now.signed_duration_since(*last) >= every);
                if due {
                    last_runs.insert(*job, now);
                }
                due
            })
            .collect()
    }

    /// Runs one job now, whatever its cadence (`POST /api/jobs/{job}/run`).
    pub async fn run_job(
        &self,
        job: Job,
        now: DateTime<Utc>,
    ) -> Result<jobs::JobReport, doorstep_core::notify::service::NotifyError> {
        let report = jobs::run(job, &self.notifier(), now).await?;
        self.outbox
            .export(&self.store)
            .map_err(doorstep_core::notify::service::NotifyError::Store)?;
        Ok(report)
    }

    /// Schedules the change's next try, or sets it aside once it has failed too often.
    async fn failed(
        &self,
        change: &RawChange,
        attempts: u32,
        failure: Failure,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let limit = if failure.transient {
            MAX_ATTEMPTS_TRANSIENT
        } else {
            MAX_ATTEMPTS_PERMANENT
        };
        let seq = change.seq;
        if attempts < limit {
            let retry_at = now
                .checked_add_signed(Duration::seconds(backoff_secs(attempts)))
                .unwrap_or(now);
            tracing::warn!(seq, attempts, error = %failure.error, "notification failed; will retry");
            return self
                .store
                .schedule_retry(seq, attempts, retry_at, &failure.error);
        }
        tracing::error!(seq, attempts, error = %failure.error, "notification failed for good; set aside as a dead letter");
        let letter = DeadLetter {
            source: "change".into(),
            reference: seq.to_string(),
            error: failure.error,
            attempts,
            payload: serde_json::json!({
                "entity": change.entity, "old_doc": change.old_doc, "new_doc": change.new_doc,
            }),
            at: now,
        };
        self.store.set_aside(&letter).await?;
        self.store.clear_retry(seq)
    }

    pub fn outbox_path(&self) -> &std::path::Path {
        self.outbox.path()
    }
}

async fn run(
    notifier: &Notifier<'_>,
    raw: &RawChange,
    late: bool,
    now: DateTime<Utc>,
) -> Result<Summary, Failure> {
    let change = raw.change().map_err(|e| Failure {
        error: format!("unreadable {} record: {e}", raw.entity),
        transient: false,
    })?;
    let Some(change) = change else {
        return Ok(Summary::default());
    };
    let result = if late {
        notifier.process_late(&change, now).await
    } else {
        notifier.process(&change, now).await
    };
    result.map_err(|e| Failure {
        error: e.to_string(),
        transient: e.is_transient(),
    })
}

/// Puts a dead letter back to work: a change rejoins the feed (as a new change), a deferred send
/// is due at once with its attempts reset, a filed entry is filed again under its day.
pub async fn put_back(
    store: &SqliteStore,
    letter: &DeadLetter,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("dead letter without {what}"));
    match letter.source.as_str() {
        "change" => {
            let payload = &letter.payload;
            let entity = payload["entity"].as_str().ok_or_else(|| bad("entity"))?;
            let new_doc = payload["new_doc"].as_str().ok_or_else(|| bad("new_doc"))?;
            store.append_change(entity, payload["old_doc"].as_str(), new_doc, now)?;
            Ok(())
        }
        "deferred_send" => {
            let mut deferred: Deferred = serde_json::from_value(letter.payload.clone())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            deferred.due = now;
            deferred.attempts = 0;
            store.defer(&deferred).await
        }
        doorstep_core::jobs::DUE_ENTRY_SOURCE => {
            let entry = doorstep_core::jobs::due_entry_of(&letter.payload)
                .ok_or_else(|| bad("a filed entry"))?;
            // Under its own day (a renewal reminder checks it); the job reads every day up to today.
            doorstep_core::ports::Store::add_due(store, &entry, now).await
        }
        crate::webhooks::DEAD_LETTER_SOURCE => {
            let delivery: doorstep_core::merchant_webhook::Delivery =
                serde_json::from_value(letter.payload.clone())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            store.queue_webhook(&letter.reference, &delivery, now)
        }
        other => Err(StoreError::Corrupt(format!(
            "dead letter of unknown source {other:?}"
        ))),
    }
}
