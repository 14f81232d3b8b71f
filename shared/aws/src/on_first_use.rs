//! SDK clients built the first time a call needs them.

use aws_types::SdkConfig;
use std::sync::OnceLock;

/// An SDK client built on first use, or given ready. Building one costs about 0.7 M instructions,
/// most of it the SDK parsing its partition table once per service crate. That is more than the
/// hello-world Lambda's whole init. A notifier may live its whole life without sending an email,
/// an SMS or a dead letter, so it should not build those clients at its cold start.
pub struct OnFirstUse<C>(State<C>);

enum State<C> {
    Ready(C),
    Deferred {
        aws: Box<SdkConfig>,
        build: fn(&SdkConfig) -> C,
        client: OnceLock<C>,
    },
}

impl<C> OnFirstUse<C> {
    /// `build(aws)` runs on the first [`get`](Self::get), once.
    pub fn new(aws: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self(State::Deferred {
            aws: Box::new(aws.clone()),
            build,
            client: OnceLock::new(),
        })
    }

    pub fn get(&self) -> &C {
        match &self.0 {
            State::Ready(client) => client,
            State::Deferred { aws, build, client } => client.get_or_init(|| build(aws)),
        }
    }

    /// Whether the client has been built (always, for one given ready).
    pub fn is_built(&self) -> bool {
        match &self.0 {
            State::Ready(_) => true,
            State::Deferred { client, .. } => client.get().is_some(),
        }
    }
}

impl<C> From<C> for OnFirstUse<C> {
    fn from(client: C) -> Self {
        Self(State::Ready(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SdkConfig {
        SdkConfig::builder()
            .region(aws_types::region::Region::new("us-east-1"))
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn a_deferred_client_is_built_once_on_first_use_with_the_given_configuration() {
        let sqs = OnFirstUse::new(&config(), aws_sdk_sqs::Client::new);
        assert!(!sqs.is_built());
        let first: *const aws_sdk_sqs::Client = sqs.get();
        assert!(sqs.is_built());
        assert!(std::ptr::eq(first, sqs.get()));
        let region = sqs.get().config().region().map(|r| r.as_ref().to_owned());
        assert_eq!(region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn a_ready_client_is_the_one_given() {
        let client = aws_sdk_sqs::Client::new(&config());
        let sqs = OnFirstUse::from(client);
        assert!(sqs.is_built());
        assert!(sqs.get().config().region().is_some());
    }
}
