//! The notifier, in process: tails the SQLite change feed (the local stand-in for DynamoDB
//! Streams), sends through the file outbox, and releases deferred messages when due.

use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{Notifier, Summary};
use doorstep_core::notify::settings::NotifySettings;
use doorstep_core::ports::StoreError;
use doorstep_embedded::{FileOutbox, SqliteStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CURSOR: &str = "notifier";
/// A change that keeps failing is skipped after this many tries (on AWS it would go to the DLQ).
const MAX_ATTEMPTS: u32 = 5;

pub struct LocalNotifier {
    store: Arc<SqliteStore>,
    outbox: FileOutbox,
    renderer: Renderer,
    settings: NotifySettings,
    attempts: Mutex<HashMap<i64, u32>>,
}

impl LocalNotifier {
    pub fn new(store: Arc<SqliteStore>, outbox: FileOutbox, settings: NotifySettings) -> Self {
        let renderer = Renderer::new(settings.template_dir.clone(), settings.sms_max_segments);
        Self {
            store,
            outbox,
            renderer,
            settings,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Processes every change written since the last tick, then whatever deferred send is due.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Summary, StoreError> {
        let notifier = Notifier {
            store: self.store.as_ref(),
            notify: self.store.as_ref(),
            channels: &self.outbox,
            renderer: &self.renderer,
            settings: &self.settings,
        };
        let mut total = Summary::default();
        let cursor = self.store.cursor(CURSOR)?;
        for (seq, change) in self.store.changes_after(cursor, 200)? {
            match notifier.process(&change, now).await {
                Ok(summary) => add(&mut total, summary),
                Err(e) => {
                    let tries = {
                        let mut attempts = self
                            .attempts
                            .lock()
                            .map_err(|_| StoreError::Unavailable("lock poisoned".into()))?;
                        let tries = attempts.entry(seq).or_insert(0);
                        *tries += 1;
                        *tries
                    };
                    if tries < MAX_ATTEMPTS {
                        tracing::warn!(seq, tries, error = %e, "notification failed; will retry");
                        return Ok(total);
                    }
                    tracing::error!(seq, error = %e, "notification failed {MAX_ATTEMPTS} times; skipped");
                }
            }
            self.store.set_cursor(CURSOR, seq)?;
        }
        match notifier.process_due(now).await {
            Ok(summary) => add(&mut total, summary),
            Err(e) => tracing::warn!(error = %e, "deferred sends failed; will retry"),
        }
        Ok(total)
    }

    pub fn outbox_path(&self) -> &std::path::Path {
        self.outbox.path()
    }
}

fn add(total: &mut Summary, more: Summary) {
    total.sent += more.sent;
    total.deferred += more.deferred;
    total.suppressed += more.suppressed;
    total.skipped += more.skipped;
}
