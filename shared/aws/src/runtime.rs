//! Cold-start wiring shared by the Lambdas: logs, configuration from the environment, clients.

use crate::{secrets, DynamoStore};
use doorstep_core::store_events::MerchantDefaults;
use doorstep_core::webhook::WebhookConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Settings(#[from] doorstep_core::notify::settings::SettingsError),
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
}

/// JSON logs, level from `RUST_LOG` (default `info`); no ANSI colours in CloudWatch.
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .init();
}

fn env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// `DEFAULT_TIMEZONE` and `DEFAULT_LOCALE`, from the template's parameters.
pub fn merchant_defaults() -> MerchantDefaults {
    let fallback = MerchantDefaults::default();
    MerchantDefaults {
        timezone: std::env::var("DEFAULT_TIMEZONE")
            .ok()
            .filter(|z| doorstep_core::timezone::parse_zone(z).is_some())
            .unwrap_or(fallback.timezone),
        locale: std::env::var("DEFAULT_LOCALE")
            .ok()
            .filter(|l| !l.is_empty())
            .unwrap_or(fallback.locale),
    }
}

/// Builds the store and reads the secrets: once per cold start.
pub async fn webhook_wiring() -> Result<(DynamoStore, WebhookConfig), ConfigError> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = env("TABLE_NAME")?;
    let secrets_path = env("SECRETS_PATH")?;
    let secrets = secrets::load(&aws_sdk_ssm::Client::new(&aws), &secrets_path).await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    Ok((
        store,
        WebhookConfig {
            secrets,
            defaults: merchant_defaults(),
        },
    ))
}

/// The notifier's clients and settings: once per cold start.
pub async fn notifier_wiring() -> Result<
    (
        DynamoStore,
        crate::channels::SnsSesChannels,
        crate::dead_letters::SqsDeadLetters,
        doorstep_core::notify::settings::NotifySettings,
    ),
    ConfigError,
> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = env("TABLE_NAME")?;
    let dead_letters = crate::dead_letters::SqsDeadLetters {
        client: aws_sdk_sqs::Client::new(&aws),
        queue_url: env("DEAD_LETTER_QUEUE_URL")?,
    };
    let settings = doorstep_core::notify::settings::NotifySettings::from_lookup(|name| {
        std::env::var(name).ok()
    })?;
    let channels = crate::channels::SnsSesChannels {
        sns: aws_sdk_sns::Client::new(&aws),
        ses: aws_sdk_sesv2::Client::new(&aws),
        sender_email: settings.sender_email.clone(),
        configuration_set: settings.ses_configuration_set.clone(),
        sms_sender_id: settings.sms_sender_id.clone(),
        sms_origination_number: settings.sms_origination_number.clone(),
    };
    Ok((
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table),
        channels,
        dead_letters,
        settings,
    ))
}

/// Only the table (the email-feedback function needs nothing else).
pub async fn store_wiring() -> Result<DynamoStore, ConfigError> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        env("TABLE_NAME")?,
    ))
}
