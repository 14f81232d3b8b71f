//! Optimistic updates: read a record, apply a pure change, save it on the condition that nobody
//! wrote it since the read. On a conflict the whole attempt runs again (re-read, re-apply), a
//! bounded number of times with a short random pause, so concurrent writers spread out instead of
//! colliding in lockstep. Every read-modify-write in Doorstep goes through [`with_retries`].

use crate::ports::{Freshness, StoreError, WriteError};
use std::time::Duration;

/// Attempts before giving up with [`Contended`] (the caller answers "retry later").
pub const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many concurrent writers to one record")]
    Contended,
}

/// Runs `attempt` until it returns anything but a conflict. `attempt` reads, applies and saves;
/// `Err(WriteError::Conflict)` (a version guard failed) runs it again. (A closure returning a
/// future rather than an async closure, so the caller's future stays `Send`.)
pub async fn with_retries<R, F, Fut>(mut attempt: F) -> Result<R, UpdateError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, WriteError>>,
{
    with_retries_reading(move |_| attempt()).await
}

/// [`with_retries`] for an attempt that reads at the [`Freshness`] it is given: the first reads
/// [`Freshness::Recent`] (a stale read only ends in the conflict its version guard raises), and
/// every retry after a conflict reads [`Freshness::Latest`], so a lagging replica cannot make
/// the update fail.
pub async fn with_retries_reading<R, F, Fut>(mut attempt: F) -> Result<R, UpdateError>
where
    F: FnMut(Freshness) -> Fut,
    Fut: std::future::Future<Output = Result<R, WriteError>>,
{
    for tried in 0..MAX_ATTEMPTS {
        let freshness = match tried {
            0 => Freshness::Recent,
            _ => Freshness::Latest,
        };
        match attempt(freshness).await {
            Ok(result) => return Ok(result),
            // A dedupe record another writer just made also means "look again".
            Err(WriteError::Conflict | WriteError::Duplicate) => pause(tried).await,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(UpdateError::Contended)
}

/// Up to 1, 2, 4 … 32 ms, chosen at random so that colliding writers spread out.
async fn pause(tried: u32) {
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte).map_or(0, |()| u64::from(byte[0]));
    let ceiling_us = 1_000u64 << tried.min(5);
    tokio::time::sleep(Duration::from_micros(jitter * ceiling_us / 255)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conflicts_retry_and_other_errors_end_the_update() {
        let mut calls = 0;
        let result = with_retries(|| {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(WriteError::Conflict)
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
        let mut calls = 0;
        let result: Result<(), _> = with_retries(|| {
            calls += 1;
            async { Err(WriteError::Store(StoreError::Unavailable("down".into()))) }
        })
        .await;
        assert!(matches!(result, Err(UpdateError::Store(_))));
        assert_eq!(calls, 1);
        let result: Result<(), _> = with_retries(|| async { Err(WriteError::Conflict) }).await;
        assert!(matches!(result, Err(UpdateError::Contended)));
    }

    #[tokio::test]
    async fn only_the_first_attempt_may_read_a_lagging_replica() {
        let mut seen = Vec::new();
        let result = with_retries_reading(|freshness| {
            seen.push(freshness);
            let n = seen.len();
            async move {
                match n {
                    1 | 2 => Err(WriteError::Conflict),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
        assert_eq!(
            seen,
            [Freshness::Recent, Freshness::Latest, Freshness::Latest]
        );
    }
}
