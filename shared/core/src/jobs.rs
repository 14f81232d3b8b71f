//! Scheduled jobs, declared once.
//!
//! Adding a job is one variant here with its line in [`Job::spec`] and its arm in [`run`]. The
//! scheduler Lambda runs whichever job its schedule names (`{"job": "<name>"}`), the local runner
//! runs each at its cadence, and a test checks that `template.yaml` schedules every job.

use crate::names::named_enum;
use crate::notify::ports::DeadLetter;
use crate::notify::service::{Notifier, NotifyError, Summary};
use crate::ports::{DueEntry, DueKind};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// The dead letters' `source` for a filed entry whose work failed for good.
pub const DUE_ENTRY_SOURCE: &str = "due_entry";

/// After one filed entry's work failed. A passing failure (storage or a channel down) ends the
/// run with the entry still filed, for the next run (`done_before`, the entries the run
/// finished before it, are marked served first). Any other is no better when tried again, and
/// left filed it would end this run and hold up every entry filed after it, so the entry is set
/// aside as a dead letter (it is the letter's payload: [`due_entry_of`] reads it back) and the
/// run goes on; it is served with the rest when the run ends ([`finish_due`]). A preview writes
/// nothing, so its failure is its caller's.
pub(crate) async fn entry_failed(
    notifier: &Notifier<'_>,
    entry: &DueEntry,
    error: NotifyError,
    done_before: &[DueEntry],
    preview: bool,
    now: DateTime<Utc>,
) -> Result<(), NotifyError> {
    if preview {
        return Err(error);
    }
    if error.is_transient() {
        finish_due(notifier, entry.kind, done_before, preview).await?;
        return Err(error);
    }
    tracing::error!(kind = entry.kind.as_str(), day = %entry.day, error = %error,
        "a filed entry failed for good; set aside");
    let letter = DeadLetter {
        source: DUE_ENTRY_SOURCE.into(),
        reference: format!("{}#{}#{}", entry.kind.as_str(), entry.day, entry.subject),
        error: error.to_string(),
        attempts: 1,
        payload: serde_json::to_value(entry).unwrap_or_default(),
        at: now,
    };
    notifier.dead_letters.set_aside(&letter).await?;
    Ok(())
}

/// Ends a run of `kind`'s filed entries: `served` (what it finished, in the order it was
/// given) is not given again. A preview writes nothing.
pub(crate) async fn finish_due(
    notifier: &Notifier<'_>,
    kind: DueKind,
    served: &[DueEntry],
    preview: bool,
) -> Result<(), NotifyError> {
    if preview || served.is_empty() {
        return Ok(());
    }
    notifier.store.due_served(kind, served).await?;
    Ok(())
}

/// The filed entry a `due_entry` dead letter carries, to file again once its cause is fixed.
pub fn due_entry_of(payload: &serde_json::Value) -> Option<DueEntry> {
    DueEntry::deserialize(payload).ok()
}

named_enum! {
    "kebab-case";
    pub enum Job {
        /// Messages quiet hours (or a busy claim) held back, now due.
        DeferredSends,
        /// The store's best sellers of the last 30 days, for recommendations' fallback.
        BestSellers,
        /// Points expire, pending points become available, tiers follow, expiry reminders go out.
        PointsExpiry,
        /// Parcels silent in transit for `stalled_days`, or past their estimated day, reach
        /// the `delayed` milestone.
        StalledShipments,
        /// Parcels waiting at a pickup point `pickup_reminder_days` get a reminder.
        PickupReminders,
        /// Subscriptions charging in `renewal_reminder_days` get a reminder with a manage link.
        RenewalReminders,
        /// Orders delivered `review_request_days` ago are asked for a review.
        ReviewRequests,
        /// Merchant-defined messages after delivery (`follow_ups`).
        FollowUps,
    }
}

pub struct JobSpec {
    /// How often it runs (the template's schedule says the same; a test compares them).
    pub every: Duration,
    pub description: &'static str,
}

impl Job {
    pub fn spec(self) -> JobSpec {
        match self {
            // Every five minutes: what quiet hours held goes out by five past the hour they
            // end, and an idle store pays for 8,640 runs a month rather than 43,200.
            Self::DeferredSends => JobSpec {
                every: Duration::from_secs(300),
                description: "sends what quiet hours deferred and is now due",
            },
            Self::BestSellers => JobSpec {
                every: Duration::from_secs(24 * 3600),
                description: "ranks the last 30 days' sales for the recommendations' fallback",
            },
            Self::PointsExpiry => JobSpec {
                every: Duration::from_secs(3600),
                description: "expires points, releases pending ones, sends expiry reminders",
            },
            Self::StalledShipments => JobSpec {
                every: Duration::from_secs(3600),
                description:
                    "reports parcels silent in transit, or past their estimate, as delayed",
            },
            Self::PickupReminders => JobSpec {
                every: Duration::from_secs(3600),
                description: "reminds customers of parcels waiting at a pickup point",
            },
            Self::RenewalReminders => JobSpec {
                every: Duration::from_secs(3600),
                description: "reminds subscribers of their next charge, with a manage link",
            },
            Self::ReviewRequests => JobSpec {
                every: Duration::from_secs(3600),
                description: "asks for a review of orders delivered review_request_days ago",
            },
            Self::FollowUps => JobSpec {
                every: Duration::from_secs(3600),
                description: "sends the merchant's follow-ups after delivery",
            },
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub job: Job,
    pub messages: Summary,
    /// What else it did, for the operator (`{"products": 12}`).
    pub detail: serde_json::Value,
}

/// Runs one job now.
#[tracing::instrument(name = "job", skip_all, fields(job = job.as_str()))]
pub async fn run(
    job: Job,
    notifier: &Notifier<'_>,
    now: DateTime<Utc>,
) -> Result<JobReport, NotifyError> {
    let (messages, detail) = match job {
        Job::DeferredSends => (notifier.process_due(now).await?, serde_json::Value::Null),
        Job::BestSellers => {
            let best = crate::catalog::refresh_best_sellers(notifier.store, now).await?;
            let detail = serde_json::json!({"products": best.products.len()});
            (Summary::default(), detail)
        }
        Job::PointsExpiry => {
            let outcome = crate::loyalty::service::run_job(notifier, now, false).await?;
            (
                outcome.messages,
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
        Job::StalledShipments | Job::PickupReminders => {
            let kind = due_kind(job).unwrap_or(DueKind::Stalled);
            let outcome = crate::reminders::run_job(notifier, kind, now, false).await?;
            (
                outcome.messages,
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
        Job::RenewalReminders => {
            let outcome = crate::subscriptions::run_job(notifier, now, false).await?;
            (
                outcome.messages,
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
        Job::ReviewRequests => {
            let outcome = crate::reviews::run_review_requests(notifier, now, false).await?;
            (
                outcome.messages,
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
        Job::FollowUps => {
            let outcome = crate::follow_ups::run_job(notifier, now, false).await?;
            (
                outcome.messages,
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
    };
    tracing::info!(
        sent = messages.sent,
        deferred = messages.deferred,
        suppressed = messages.suppressed,
        "job done"
    );
    Ok(JobReport {
        job,
        messages,
        detail,
    })
}

fn due_kind(job: Job) -> Option<DueKind> {
    match job {
        Job::StalledShipments => Some(DueKind::Stalled),
        Job::PickupReminders => Some(DueKind::Pickup),
        Job::PointsExpiry => Some(DueKind::Loyalty),
        Job::RenewalReminders => Some(DueKind::Renewal),
        Job::ReviewRequests => Some(DueKind::ReviewRequest),
        Job::FollowUps => Some(DueKind::FollowUp),
        Job::DeferredSends | Job::BestSellers => None,
    }
}

/// What a run at `at` would send, without sending or writing anything (`GET
/// /api/jobs/{job}/preview?at=`).
pub async fn preview(
    job: Job,
    notifier: &Notifier<'_>,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, NotifyError> {
    Ok(match job {
        Job::DeferredSends => {
            let due = notifier.notify.due(at, 1_000).await?;
            serde_json::json!({"job": job, "at": at, "would_send": due.iter().map(|d| serde_json::json!({
                "key": d.key.redacted(), "message": d.key.occasion.message, "channel": d.key.channel, "due": d.due,
            })).collect::<Vec<_>>()})
        }
        Job::BestSellers => serde_json::json!({"job": job, "at": at, "would_send": []}),
        Job::PointsExpiry => {
            let outcome = crate::loyalty::service::run_job(notifier, at, true).await?;
            serde_json::json!({"job": job, "at": at, "due_read": outcome.due_read, "would_send": outcome.reminders})
        }
        Job::StalledShipments | Job::PickupReminders => {
            let kind = due_kind(job).unwrap_or(DueKind::Stalled);
            let outcome = crate::reminders::run_job(notifier, kind, at, true).await?;
            serde_json::json!({"job": job, "at": at, "due_read": outcome.due_read, "would_send": outcome.reminders})
        }
        Job::RenewalReminders => {
            let outcome = crate::subscriptions::run_job(notifier, at, true).await?;
            serde_json::json!({"job": job, "at": at, "due_read": outcome.due_read, "would_send": outcome.reminders})
        }
        Job::ReviewRequests => {
            let outcome = crate::reviews::run_review_requests(notifier, at, true).await?;
            serde_json::json!({"job": job, "at": at, "due_read": outcome.due_read, "would_send": outcome.requested, "skipped": outcome.skipped})
        }
        Job::FollowUps => {
            let outcome = crate::follow_ups::run_job(notifier, at, true).await?;
            serde_json::json!({"job": job, "at": at, "due_read": outcome.due_read, "would_send": outcome.sent, "skipped": outcome.skipped})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_named_in_kebab_case_both_ways() {
        for &job in Job::all() {
            assert_eq!(job.as_str().parse::<Job>().ok(), Some(job));
            assert!(job.spec().every >= Duration::from_secs(60));
        }
        assert_eq!(Job::DeferredSends.as_str(), "deferred-sends");
    }
}
