//! Scheduled jobs, declared once.
//!
//! Adding a job is one variant here with its line in [`Job::spec`] and its arm in [`run`]. The
//! scheduler Lambda runs whichever job its schedule names (`{"job": "<name>"}`), the local runner
//! runs each at its cadence, and a test checks that `template.yaml` schedules every job.

use crate::names::named_enum;
use crate::notify::service::{Notifier, NotifyError, Summary};
use chrono::{DateTime, Utc};
use std::time::Duration;

named_enum! {
    "kebab-case";
    pub enum Job {
        /// Messages quiet hours (or a busy claim) held back, now due.
        DeferredSends,
        /// The store's best sellers of the last 30 days, for recommendations' fallback.
        BestSellers,
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
            Self::DeferredSends => JobSpec {
                every: Duration::from_secs(60),
                description: "sends what quiet hours deferred and is now due",
            },
            Self::BestSellers => JobSpec {
                every: Duration::from_secs(24 * 3600),
                description: "ranks the last 30 days' sales for the recommendations' fallback",
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
