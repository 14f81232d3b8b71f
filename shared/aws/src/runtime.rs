//! Cold-start wiring shared by the Lambdas: logs, settings (through the one loader every function
//! and the local runner use), clients, secrets. Everything here runs once per cold start.

use crate::on_first_use::OnFirstUse;
use crate::parameter_store::{ParameterStore, ParameterStoreError};
use crate::{secrets, DynamoStore};
use aws_sdk_dynamodb::config::{ConfigBag, HttpClient, RuntimeComponents, SharedHttpClient};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use doorstep_core::secrets::Secrets;
use doorstep_core::settings::{Settings, SettingsError};
use doorstep_core::webhook::WebhookConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    #[error(transparent)]
    ParameterStore(#[from] ParameterStoreError),
}

/// JSON logs, level from `RUST_LOG` (default `info`); no ANSI colours in CloudWatch. Every line
/// carries the fields of the spans it is in, the runtime's `requestId` among them. `RUST_LOG`
/// takes levels and `target=level` pairs (`info,doorstep_core=debug`); a value it cannot read
/// is reported and `info` used. (`EnvFilter`'s span and field filters would link a regex engine
/// into every function.)
pub fn init_tracing() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let requested = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let parsed = requested.as_deref().map(str::parse::<Targets>);
    let filter = match &parsed {
        Some(Ok(targets)) => targets.clone(),
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_target(false)
                .without_time()
                .with_filter(filter),
        )
        .init();
    if let Some(Err(e)) = parsed {
        tracing::warn!(error = %e, "RUST_LOG could not be read; logging at info");
    }
}

/// An environment variable, `None` when unset or empty.
fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env(name: &'static str) -> Result<String, ConfigError> {
    optional_env(name).ok_or(ConfigError::Missing(name))
}

/// The merchant's settings from the environment (see `doorstep_core::settings::ENVIRONMENT`).
pub fn settings() -> Result<Settings, ConfigError> {
    Ok(Settings::from_env(|name| std::env::var(name).ok())?)
}

/// The SDK's one HTTPS client: hyper and rustls on ring (the SDK's default is aws-lc, the largest
/// single part of a binary), shared by every client a function builds. It trusts only the roots
/// AWS's endpoints chain to ([`AWS_ROOTS_PEM`]): the platform's store would be read and parsed from
/// disk in every cold start (on Amazon Linux 2023 a bundle and a directory), the largest part of
/// init, and a client that only ever talks to AWS has no reason to trust any other authority.
pub fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let builder =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    let client = match aws_roots() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(e) => {
            tracing::warn!(error = %e, "compiled-in roots refused; using the platform's");
            builder.build_https()
        }
    };
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

/// The SDK's hyper client without its eager check. As each SDK client is constructed,
/// `validate_base_client_config` builds a whole TLS connector (decoding the roots' PEM, a rustls
/// configuration) and drops it, so that a platform's roots are read at construction rather than at
/// the first request. Ours are compiled in, so that was a sixth of a webhook's init instructions
/// spent on connectors nobody used, one per SDK client. The connector the first request builds is
/// cached by the inner client and shared by every SDK client on it, as before.
#[derive(Debug)]
struct ConnectorOnFirstRequest<C>(C);

impl<C: HttpClient> HttpClient for ConnectorOnFirstRequest<C> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// A TLS context trusting AWS's roots and nothing else.
fn aws_roots() -> Result<aws_smithy_http_client::tls::TlsContext, impl std::fmt::Display> {
    use aws_smithy_http_client::tls::{TlsContext, TrustStore};
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS_PEM);
    TlsContext::builder().with_trust_store(trust).build()
}

/// The roots AWS documents for every AWS endpoint's certificate (Amazon Root CA 1–4 and the
/// Starfield root they are cross-signed by), as one PEM bundle, the form the SDK's trust store
/// takes. Checked in rather than picked out of Mozilla's list at start-up: finding and encoding
/// them was a fifth of a webhook's init instructions, and the list itself 130 KB of each binary.
/// A test checks the file against `webpki-root-certs`; `DOORSTEP_WRITE_AWS_ROOTS=1` rewrites it.
const AWS_ROOTS_PEM: &[u8] = include_bytes!("aws-roots.pem");

/// The same roots as rustls takes them, for the Parameter Store client. The PEM is decoded with
/// the SDK's plain base64 rather than rustls-pki-types' constant-time one, which took 0.2 M
/// instructions of every cold start for five certificates that are public.
pub(crate) fn aws_root_store() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(
        pem_certificates(AWS_ROOTS_PEM)
            .into_iter()
            .map(rustls::pki_types::CertificateDer::from),
    );
    roots
}

/// The DER of every `CERTIFICATE` block of a PEM bundle; text around the blocks is ignored, a
/// block that does not decode is left out.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    text.split(BEGIN)
        .skip(1)
        .filter_map(|block| block.split_once(END))
        .filter_map(|(body, _)| {
            // Bytes, not chars: the body is ASCII, and a char-by-char pass cost as much as the
            // decoding it avoided.
            let body: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            aws_smithy_types::base64::decode(std::str::from_utf8(&body).ok()?).ok()
        })
        .collect()
}

/// The SDK configuration a Lambda is given: region, credentials and (for tests) an endpoint from
/// the environment the runtime sets, on [`https_client`]. Lambda's credentials are the
/// execution role's, in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` for the
/// environment's life, so aws-config's provider chain (profiles, SSO, STS, IMDS) would only add
/// size and init work; retries, timeouts, sleep and clock are the SDK's defaults.
pub fn sdk_config() -> Result<aws_types::SdkConfig, ConfigError> {
    use aws_credential_types::provider::SharedCredentialsProvider;
    let (region, credentials) = region_and_credentials()?;
    let mut config = aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(lambda_http_client());
    config.set_endpoint_url(optional_env("AWS_ENDPOINT_URL"));
    Ok(config.build())
}

/// The region and the execution role's credentials, from the environment Lambda sets.
fn region_and_credentials() -> Result<(String, aws_credential_types::Credentials), ConfigError> {
    let region = optional_env("AWS_REGION")
        .or_else(|| optional_env("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let credentials = aws_credential_types::Credentials::new(
        env("AWS_ACCESS_KEY_ID")?,
        env("AWS_SECRET_ACCESS_KEY")?,
        optional_env("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    Ok((region, credentials))
}

/// One HTTPS client (TLS context and connection pool) for every SDK client of a Lambda, however
/// many times its wiring asks for an `SdkConfig` (the admin API builds the notifier's clients
/// beside its own). Only here: a Lambda has one Tokio runtime for its life, while tests start one
/// per test and a pooled connection dies with the runtime that opened it.
fn lambda_http_client() -> SharedHttpClient {
    static CLIENT: std::sync::OnceLock<SharedHttpClient> = std::sync::OnceLock::new();
    CLIENT.get_or_init(https_client).clone()
}

fn aws_and_table() -> Result<(aws_types::SdkConfig, String), ConfigError> {
    let table = env("TABLE_NAME")?;
    let aws = sdk_config()?;
    Ok((aws, table))
}

/// Every secret under `SECRETS_PATH` (Parameter Store, one read of a page or a few). The time the
/// read spent on the wire is logged (debug, target `doorstep::init`), so the cold-start probe can
/// tell init's own work from its network round trips.
async fn load_secrets() -> Result<Secrets, ConfigError> {
    let secrets_path = env("SECRETS_PATH")?;
    let (region, credentials) = region_and_credentials()?;
    let endpoint = optional_env("AWS_ENDPOINT_URL");
    let store = ParameterStore::new(&region, credentials, endpoint.as_deref())?;
    let secrets = secrets::load(&store, &secrets_path).await?;
    let round_trips_ms = store.time_on_the_wire().as_secs_f64() * 1000.0;
    tracing::debug!(target: "doorstep::init", round_trips_ms, "secrets read");
    Ok(secrets)
}

/// The webhooks: the store and the secrets (one SSM read).
pub async fn webhook_wiring() -> Result<(DynamoStore, WebhookConfig), ConfigError> {
    let settings = settings()?;
    let (aws, table) = aws_and_table()?;
    let secrets = load_secrets().await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let config = WebhookConfig {
        secrets,
        defaults: settings.merchant_defaults(),
        settings,
    };
    Ok((store, config))
}

/// The notifier and the scheduler: the store, SNS and SES, the dead-letter queue, the settings.
pub async fn notifier_wiring() -> Result<
    (
        DynamoStore,
        crate::channels::SnsSesChannels,
        crate::dead_letters::SqsDeadLetters,
        Settings,
    ),
    ConfigError,
> {
    let settings = settings()?;
    let (aws, table) = aws_and_table()?;
    // Only the table is needed by every invocation; the channels' and the queues' clients are
    // built when a message or a dead letter first needs them (`OnFirstUse`).
    let dead_letters = crate::dead_letters::SqsDeadLetters {
        client: OnFirstUse::new(&aws, aws_sdk_sqs::Client::new),
        queue_url: env("DEAD_LETTER_QUEUE_URL")?,
    };
    let channels = crate::channels::SnsSesChannels {
        sns: OnFirstUse::new(&aws, aws_sdk_sns::Client::new),
        ses: OnFirstUse::new(&aws, aws_sdk_sesv2::Client::new),
        sender_email: settings.sender_email.clone(),
        configuration_set: settings.ses_configuration_set.clone(),
        sms_sender_id: settings.sms_sender_id.clone(),
        sms_origination_number: settings.sms_origination_number.clone(),
        webhooks: optional_env("MERCHANT_WEBHOOK_QUEUE_URL").map(|queue_url| {
            crate::channels::WebhookQueue {
                sqs: OnFirstUse::new(&aws, aws_sdk_sqs::Client::new),
                queue_url,
            }
        }),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    Ok((store, channels, dead_letters, settings))
}

/// The admin API: the table and the admin token (`{SECRETS_PATH}/admin-token` in SSM). Without
/// a token the function refuses to start rather than serve an open admin API.
pub async fn admin_wiring() -> Result<(DynamoStore, doorstep_core::secrets::Secret), ConfigError> {
    let (aws, table) = aws_and_table()?;
    let secrets = load_secrets().await?;
    let token = secrets
        .get(ADMIN_TOKEN)
        .cloned()
        .ok_or(ConfigError::Missing(
            "the admin-token parameter under SECRETS_PATH",
        ))?;
    Ok((
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table),
        token,
    ))
}

/// The SSM parameter (under `SECRETS_PATH`) holding the admin API's bearer token.
pub const ADMIN_TOKEN: &str = "admin-token";
/// The SSM parameter (under `SECRETS_PATH`) holding the merchant webhook's signing key.
pub const MERCHANT_WEBHOOK_SECRET: &str = "merchant-webhook";

/// The merchant-webhook function: the HTTP client, the signing key (SSM; `None` when it is not
/// set, so deliveries fail and are kept), and SQS for backoff.
pub async fn merchant_webhook_wiring() -> Result<
    (
        Option<doorstep_core::secrets::Secret>,
        aws_sdk_sqs::Client,
        String,
    ),
    ConfigError,
> {
    let aws = sdk_config()?;
    let secrets = load_secrets().await?;
    let secret = secrets.get(MERCHANT_WEBHOOK_SECRET).cloned();
    if secret.is_none() {
        tracing::error!(
            "no {MERCHANT_WEBHOOK_SECRET} parameter under SECRETS_PATH: webhooks cannot be signed and will wait in the queue"
        );
    }
    Ok((
        secret,
        aws_sdk_sqs::Client::new(&aws),
        env("MERCHANT_WEBHOOK_QUEUE_URL")?,
    ))
}

/// The table and the settings (preferences).
pub async fn store_and_settings() -> Result<(DynamoStore, Settings), ConfigError> {
    let settings = settings()?;
    let (aws, table) = aws_and_table()?;
    Ok((
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table),
        settings,
    ))
}

/// Only the table (the email-feedback function needs nothing else).
pub async fn store_wiring() -> Result<DynamoStore, ConfigError> {
    let (aws, table) = aws_and_table()?;
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table))
}

#[cfg(test)]
mod tests {
    /// The subject names of the roots AWS documents for its endpoints.
    const AWS_ROOT_NAMES: [&[u8]; 2] = [
        b"Amazon Root CA ",
        b"Starfield Services Root Certificate Authority - G2",
    ];

    /// AWS's roots picked out of Mozilla's list, as a PEM bundle.
    fn aws_roots_from_mozilla() -> String {
        use base64::Engine as _;
        let mut pem = String::new();
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let der = cert.as_ref();
            let is_aws = AWS_ROOT_NAMES
                .iter()
                .any(|name| memchr::memmem::find(der, name).is_some());
            if !is_aws {
                continue;
            }
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    }

    #[test]
    fn the_checked_in_roots_are_aws_roots_from_mozillas_list() {
        let expected = aws_roots_from_mozilla();
        if std::env::var_os("DOORSTEP_WRITE_AWS_ROOTS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/aws-roots.pem");
            std::fs::write(path, &expected).unwrap();
        }
        assert!(
            super::AWS_ROOTS_PEM == expected.as_bytes(),
            "src/aws-roots.pem differs from Mozilla's list; rewrite it with DOORSTEP_WRITE_AWS_ROOTS=1"
        );
    }

    /// Counts the eager checks the SDK asks of an HTTP client as it constructs a service client.
    #[derive(Debug)]
    struct CountingChecks {
        inner: super::SharedHttpClient,
        checks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl super::HttpClient for CountingChecks {
        fn http_connector(
            &self,
            settings: &super::HttpConnectorSettings,
            components: &super::RuntimeComponents,
        ) -> super::SharedHttpConnector {
            self.inner.http_connector(settings, components)
        }

        fn validate_base_client_config(
            &self,
            components: &aws_sdk_dynamodb::config::RuntimeComponentsBuilder,
            cfg: &super::ConfigBag,
        ) -> Result<(), super::BoxError> {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.validate_base_client_config(components, cfg)
        }
    }

    /// Constructs a DynamoDB and an SSM client on `http` and says how many eager checks (each a
    /// TLS connector built and dropped) the inner client was asked for.
    fn checks_while_constructing(wrap: bool) -> usize {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
        let checks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counting = CountingChecks {
            inner: super::https_client(),
            checks: checks.clone(),
        };
        let http = if wrap {
            super::SharedHttpClient::new(super::ConnectorOnFirstRequest(counting))
        } else {
            super::SharedHttpClient::new(counting)
        };
        let dynamodb = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .http_client(http.clone())
            .build();
        let _ = aws_sdk_dynamodb::Client::from_conf(dynamodb);
        let ssm = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .http_client(http)
            .build();
        let _ = aws_sdk_ssm::Client::from_conf(ssm);
        checks.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn constructing_sdk_clients_builds_no_tls_connector() {
        // Bare, the SDK asks once per service client; wrapped, never. (Requests through the
        // wrapped client are what every moto test in the workspace makes.)
        assert_eq!(checks_while_constructing(false), 2);
        assert_eq!(checks_while_constructing(true), 0);
    }

    #[test]
    fn the_sdk_trusts_the_five_aws_roots_and_nothing_else() {
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(super::AWS_ROOTS_PEM)
            .collect::<Result<_, _>>()
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
        let mut names: Vec<String> = roots
            .roots
            .iter()
            .map(|anchor| String::from_utf8_lossy(anchor.subject.as_ref()).into_owned())
            .collect();
        names.sort();
        let expected = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        for (name, expected) in names.iter().zip(expected) {
            assert!(name.ends_with(expected), "{name}");
        }
        assert!(super::aws_roots().is_ok());
        // The Parameter Store client's store holds the same five, decoded our way.
        let ours = super::pem_certificates(super::AWS_ROOTS_PEM);
        let theirs: Vec<Vec<u8>> =
            rustls_pki_types::CertificateDer::pem_slice_iter(super::AWS_ROOTS_PEM)
                .map(|der| der.unwrap().as_ref().to_vec())
                .collect();
        assert_eq!(ours, theirs);
        assert_eq!(super::aws_root_store().len(), 5);
    }

    #[test]
    fn pem_blocks_are_decoded_and_anything_else_left_out() {
        let pem = b"comment\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
            -----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n\
            -----BEGIN CERTIFICATE-----\nBAU=\n";
        assert_eq!(super::pem_certificates(pem), vec![vec![0, 1, 2, 3]]);
        assert!(super::pem_certificates(b"").is_empty());
    }
}
