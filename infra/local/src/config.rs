//! The local runner's configuration: environment variables, with secrets generated on first start.

use doorstep_core::ids::random_token;
use doorstep_core::providers::registry::secret_names;
use doorstep_core::secrets::{Secret, Secrets};
use doorstep_core::settings::Settings;
use doorstep_core::store_events::MerchantDefaults;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PORT: u16 = 3000;
pub const DEFAULT_DATA_DIR: &str = "./.doorstep";
const SECRETS_FILE: &str = "secrets.json";
const ADMIN_TOKEN_NAME: &str = "ADMIN_TOKEN";
const MERCHANT_WEBHOOK_NAME: &str = "MERCHANT_WEBHOOK";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("DOORSTEP_PORT must be a port number, got '{0}'")]
    Port(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("settings from {path}: {detail}")]
    Settings { path: PathBuf, detail: String },
    #[error(
        "another doorstep-local is already running on {0} (stop it, or set DOORSTEP_DATA_DIR)"
    )]
    Locked(PathBuf),
    #[error("{name} must be {expected}, got '{value}'")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

#[derive(Debug)]
pub struct LocalConfig {
    pub port: u16,
    pub data_dir: PathBuf,
    pub secrets: Secrets,
    pub admin_token: Secret,
    pub defaults: MerchantDefaults,
    /// The merchant's settings: `DOORSTEP_CONFIG` (a TOML file), `DOORSTEP_{VARIABLE}` overriding.
    pub settings: Settings,
    /// Secrets made at this start (name, value), to be shown once to whoever started the runner.
    pub generated: Vec<(String, String)>,
    /// `DOORSTEP_TEST_SEND_DELAY_MS`: makes every local send take this long, so crash tests can
    /// kill the runner between a message's claim and its send. 0 (the default) in real use.
    pub test_send_delay_ms: u64,
}

impl LocalConfig {
    /// Reads the environment through `var`; secrets not set there come from (or are generated
    /// into) `secrets.json` in the data dir, so they survive restarts.
    pub fn load(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let port = match var("DOORSTEP_PORT") {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Port(raw))?,
            None => DEFAULT_PORT,
        };
        let data_dir =
            PathBuf::from(var("DOORSTEP_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
        std::fs::create_dir_all(&data_dir).map_err(|source| ConfigError::Io {
            path: data_dir.clone(),
            source,
        })?;
        let mut settings = read_settings(var("DOORSTEP_CONFIG").as_deref(), &var)?;
        let path = data_dir.join(SECRETS_FILE);
        let mut stored = read_stored(&path)?;
        let mut generated = Vec::new();
        let mut secrets = Secrets::new();
        let mut resolve = |name: &str, env_name: String| {
            if let Some(value) = var(&env_name) {
                return value;
            }
            stored
                .entry(name.to_string())
                .or_insert_with(|| {
                    let value = random_token();
                    generated.push((env_name, value.clone()));
                    value
                })
                .clone()
        };
        for name in secret_names() {
            let value = resolve(name, format!("DOORSTEP_SECRET_{name}"));
            secrets.set(name, value);
        }
        let admin_token = Secret::new(resolve(ADMIN_TOKEN_NAME, "DOORSTEP_ADMIN_TOKEN".into()));
        // The merchant webhook's key: the variable, else the TOML file, else (when a webhook URL
        // is set) one generated here, so the merchant has a key to check signatures with.
        let merchant_env = format!("DOORSTEP_SECRET_{MERCHANT_WEBHOOK_NAME}");
        if let Some(value) = var(&merchant_env) {
            settings.merchant_webhook_secret = Some(Secret::new(value));
        } else if settings.merchant_webhook_secret.is_none()
            && settings.merchant_webhook_url.is_some()
        {
            let value = resolve(MERCHANT_WEBHOOK_NAME, merchant_env);
            settings.merchant_webhook_secret = Some(Secret::new(value));
        }
        if !generated.is_empty() {
            write_stored(&path, &stored)?;
        }
        secrets.shippo_hmac = var("DOORSTEP_SECRET_SHIPPO_HMAC").map(Secret::new);
        if let Some(id) = var("DOORSTEP_UPS_CLIENT_ID") {
            secrets.ups_client_id = id;
        }
        if settings.public_base_url == Settings::default().public_base_url {
            settings.public_base_url = format!("http://127.0.0.1:{port}");
        }
        let test_send_delay_ms = match var("DOORSTEP_TEST_SEND_DELAY_MS") {
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "DOORSTEP_TEST_SEND_DELAY_MS",
                expected: "milliseconds",
                value: raw,
            })?,
            None => 0,
        };
        let defaults = settings.merchant_defaults();
        Ok(Self {
            port,
            data_dir,
            secrets,
            admin_token,
            defaults,
            settings,
            generated,
            test_send_delay_ms,
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("doorstep.sqlite3")
    }

    /// Takes the data dir's lock for as long as the returned file is kept open; refuses when
    /// another runner holds it.
    pub fn lock_data_dir(&self) -> Result<std::fs::File, ConfigError> {
        let path = self.data_dir.join("lock");
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(ConfigError::Locked(self.data_dir.clone()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// The settings: the file (when one is named) under the `DOORSTEP_{VARIABLE}` overrides, through
/// the loader and validation every function uses.
fn read_settings(
    file: Option<&str>,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let (path, text) = match file {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Settings {
                path: file.into(),
                detail: e.to_string(),
            })?;
            (PathBuf::from(file), text)
        }
        None => (PathBuf::from("(environment)"), String::new()),
    };
    Settings::from_toml(&text, var).map_err(|e| ConfigError::Settings {
        path,
        detail: e.to_string(),
    })
}

fn read_stored(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ConfigError::Json {
            path: path.into(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(ConfigError::Io {
            path: path.into(),
            source,
        }),
    }
}

fn write_stored(path: &Path, stored: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.into(),
        source,
    };
    let text = serde_json::to_string_pretty(stored).map_err(|source| ConfigError::Json {
        path: path.into(),
        source,
    })?;
    std::fs::write(path, text).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}
