//! The merchant's notification settings (the local runner reads them from TOML; the Lambdas from
//! their environment).

use super::milestones::Milestone;
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Sms => Self::Email,
            Self::Email => Self::Sms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let raw = String::deserialize(d)?;
        NaiveTime::parse_from_str(&raw, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("'{raw}' is not HH:MM")))
    }
}

/// Merchant settings. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Shown in every message.
    pub brand: String,
    /// `From:` of email.
    pub sender_email: String,
    /// Base of tracking and preference links (`{public_base_url}/t/{token}`).
    pub public_base_url: String,
    pub default_timezone: String,
    pub default_locale: String,
    /// `None` (`quiet_hours = false` is not supported; set equal start and end) disables them.
    pub quiet_hours: Option<QuietHours>,
    /// Channels per milestone; milestones not listed use the defaults.
    pub channels: BTreeMap<Milestone, Vec<Channel>>,
    /// Use the other channel when a chosen one cannot reach the customer.
    pub fallback: bool,
    pub sms_max_segments: usize,
    pub sms_sender_id: Option<String>,
    pub sms_origination_number: Option<String>,
    pub ses_configuration_set: Option<String>,
    /// Merchant templates override the built-in ones file by file.
    pub template_dir: Option<PathBuf>,
    /// How long a worker's claim on a message protects its send before another may take over.
    pub claim_lease_s: u32,
    /// The local runner prunes changes it has processed after this many days.
    pub retention_days: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            brand: "Doorstep".into(),
            sender_email: "orders@example.com".into(),
            public_base_url: "http://127.0.0.1:3000".into(),
            default_timezone: "UTC".into(),
            default_locale: "en".into(),
            quiet_hours: Some(QuietHours {
                start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
                end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            }),
            channels: BTreeMap::new(),
            fallback: true,
            sms_max_segments: 2,
            sms_sender_id: None,
            sms_origination_number: None,
            ses_configuration_set: None,
            template_dir: None,
            claim_lease_s: 300,
            retention_days: 7,
        }
    }
}

impl NotifySettings {
    /// Default: email at every milestone; SMS too when the customer can act or should be home.
    pub fn channels_for(&self, milestone: Milestone) -> Vec<Channel> {
        if let Some(channels) = self.channels.get(&milestone) {
            return channels.clone();
        }
        match milestone {
            Milestone::OutForDelivery
            | Milestone::FailedAttempt
            | Milestone::AvailableForPickup
            | Milestone::Delivered => {
                vec![Channel::Email, Channel::Sms]
            }
            _ => vec![Channel::Email],
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub reason: String,
}

impl NotifySettings {
    /// Reads the settings the Lambdas get from the template's parameters: `BRAND`, `SENDER_EMAIL`,
    /// `PUBLIC_BASE_URL`, `DEFAULT_TIMEZONE`, `DEFAULT_LOCALE`, `QUIET_HOURS` (`21:00-08:00`, or
    /// `off`), `MILESTONE_CHANNELS` (JSON, e.g. `{"shipped":["email","sms"]}`), `CHANNEL_FALLBACK`,
    /// `SMS_MAX_SEGMENTS`, `SMS_SENDER_ID`, `SMS_ORIGINATION_NUMBER`, `SES_CONFIGURATION_SET`.
    /// Unset or empty means the default.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut settings = Self::default();
        if let Some(v) = var("BRAND") {
            settings.brand = v;
        }
        if let Some(v) = var("SENDER_EMAIL") {
            settings.sender_email = v;
        }
        if let Some(v) = var("PUBLIC_BASE_URL") {
            settings.public_base_url = v;
        }
        if let Some(v) = var("DEFAULT_TIMEZONE") {
            crate::timezone::parse_zone(&v).ok_or(SettingsError {
                name: "DEFAULT_TIMEZONE",
                reason: format!("'{v}' is not an IANA zone"),
            })?;
            settings.default_timezone = v;
        }
        if let Some(v) = var("DEFAULT_LOCALE") {
            settings.default_locale = v;
        }
        if let Some(v) = var("QUIET_HOURS") {
            settings.quiet_hours = match v.as_str() {
                "off" | "none" => None,
                range => {
                    let bad = || SettingsError {
                        name: "QUIET_HOURS",
                        reason: format!("'{range}' is not HH:MM-HH:MM"),
                    };
                    let (start, end) = range.split_once('-').ok_or_else(bad)?;
                    let parse =
                        |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
                    Some(QuietHours {
                        start: parse(start)?,
                        end: parse(end)?,
                    })
                }
            };
        }
        if let Some(v) = var("MILESTONE_CHANNELS") {
            settings.channels = serde_json::from_str(&v).map_err(|e| SettingsError {
                name: "MILESTONE_CHANNELS",
                reason: e.to_string(),
            })?;
        }
        if let Some(v) = var("CHANNEL_FALLBACK") {
            settings.fallback = v.parse().map_err(|_| SettingsError {
                name: "CHANNEL_FALLBACK",
                reason: "expected true or false".into(),
            })?;
        }
        if let Some(v) = var("SMS_MAX_SEGMENTS") {
            settings.sms_max_segments = v.parse().map_err(|_| SettingsError {
                name: "SMS_MAX_SEGMENTS",
                reason: "expected a number".into(),
            })?;
        }
        if let Some(v) = var("CLAIM_LEASE_S") {
            settings.claim_lease_s =
                v.parse()
                    .ok()
                    .filter(|s| (1..=86_400).contains(s))
                    .ok_or(SettingsError {
                        name: "CLAIM_LEASE_S",
                        reason: "expected seconds between 1 and 86400".into(),
                    })?;
        }
        settings.sms_sender_id = var("SMS_SENDER_ID");
        settings.sms_origination_number = var("SMS_ORIGINATION_NUMBER");
        settings.ses_configuration_set = var("SES_CONFIGURATION_SET");
        Ok(settings)
    }
}
