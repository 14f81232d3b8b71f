//! Notification setting types: channels and quiet hours. The settings themselves, and how they
//! are loaded, are in `crate::settings`.

use crate::names::named_enum;
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

named_enum! {
    "snake_case";
    pub enum Channel {
        Sms,
        Email,
        /// A signed POST to the merchant's own system.
        Webhook,
    }
}

impl Channel {
    /// The channel that stands in when this one cannot reach a customer.
    pub fn other(self) -> Option<Self> {
        match self {
            Self::Sms => Some(Self::Email),
            Self::Email => Some(Self::Sms),
            Self::Webhook => None,
        }
    }
}

/// Quiet hours in the customer's zone. Written `{ start = "21:00", end = "08:00" }` or
/// `"21:00-08:00"`; equal start and end mean none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl QuietHours {
    /// `21:00-08:00`.
    pub fn parse(range: &str) -> Option<Self> {
        let (start, end) = range.split_once('-')?;
        let parse = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").ok();
        Some(Self {
            start: parse(start)?,
            end: parse(end)?,
        })
    }
}

/// The `quiet_hours` setting: a table, a `HH:MM-HH:MM` range, or `off`.
pub(crate) mod quiet_hours_setting {
    use super::QuietHours;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Range(String),
        Table(QuietHours),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<QuietHours>, D::Error> {
        match Written::deserialize(d)? {
            Written::Table(hours) => Ok(Some(hours)),
            Written::Range(raw) if matches!(raw.trim(), "off" | "none") => Ok(None),
            Written::Range(raw) => QuietHours::parse(&raw).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("'{raw}' is not HH:MM-HH:MM or off"))
            }),
        }
    }
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
