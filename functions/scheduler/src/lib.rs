//! Scheduled jobs (EventBridge Scheduler): each schedule invokes this function with the job it
//! runs, `{"job": "deferred-sends"}`. A failure is returned as an error so the invocation is
//! retried; nothing due is lost.

use doorstep_core::chrono::{DateTime, Utc};
use doorstep_core::jobs::{self, Job, JobReport};
use doorstep_core::notify::service::NotifyError;

pub use notifier::App;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown job '{0}'")]
    UnknownJob(String),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The job a schedule's input names; an input without one (a plain EventBridge event) means
/// the deferred sends, the first job there was.
pub fn job_of(input: &serde_json::Value) -> Result<Job, ScheduleError> {
    match input.get("job").and_then(|j| j.as_str()) {
        None => Ok(Job::DeferredSends),
        Some(name) => name.parse().map_err(|_| {
            ScheduleError::UnknownJob(doorstep_core::bounds::Untrusted(name).to_string())
        }),
    }
}

pub async fn handle(
    app: &App,
    input: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<JobReport, ScheduleError> {
    let job = job_of(input)?;
    Ok(jobs::run(job, &app.notifier(), now).await?)
}
