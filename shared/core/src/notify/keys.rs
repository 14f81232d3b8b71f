//! Message keys: exactly one message per (what it is about, which message, which occasion,
//! channel). Stored and shown as `{about}#{message}[-{occasion}]#{channel}`, e.g.
//! `ups#1Z999#failed_attempt-2#sms` or `shopify:1001#order_confirmed#email`; only this type builds
//! and reads that form.

use super::messages::Message;
use super::settings::Channel;
use crate::ids::{CarrierSlug, CustomerId, OrderId, ShipmentKey, TrackingNumber};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum About {
    Shipment(ShipmentKey),
    Order(OrderId),
    /// Messages about the customer's own account (points, tiers): `customer:{id}`.
    Customer(CustomerId),
}

const CUSTOMER_PREFIX: &str = "customer:";

impl fmt::Display for About {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shipment(shipment) => shipment.fmt(f),
            Self::Order(order) => order.fmt(f),
            Self::Customer(customer) => write!(f, "{CUSTOMER_PREFIX}{customer}"),
        }
    }
}

impl About {
    fn redacted(&self) -> String {
        match self {
            Self::Shipment(shipment) => shipment.redacted(),
            Self::Order(order) => order.to_string(),
            Self::Customer(customer) => format!("{CUSTOMER_PREFIX}{customer}"),
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        if let Some(customer) = raw.strip_prefix(CUSTOMER_PREFIX) {
            return CustomerId::parse(customer).map(Self::Customer);
        }
        match raw.split_once('#') {
            Some((carrier, tracking)) => Some(Self::Shipment(ShipmentKey {
                carrier: CarrierSlug::parse(carrier)?,
                tracking_number: TrackingNumber::parse(tracking)?,
            })),
            None => OrderId::parse(raw).map(Self::Order),
        }
    }
}

/// Something that happened to what the message is about, without its channel yet: a milestone
/// reached, the third failed attempt, the delay to a new date.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Occasion {
    pub about: About,
    pub message: Message,
    /// Tells apart repeated occasions of the same message (`2` for a second failed attempt).
    pub detail: Option<String>,
}

impl Occasion {
    pub fn new(about: About, message: Message, detail: Option<String>) -> Self {
        Self {
            about,
            message,
            detail,
        }
    }

    pub fn on(&self, channel: Channel) -> MessageKey {
        MessageKey {
            occasion: self.clone(),
            channel,
        }
    }
}

impl fmt::Display for Occasion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.about, self.message)?;
        match &self.detail {
            Some(detail) => write!(f, "-{detail}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub occasion: Occasion,
    pub channel: Channel,
}

impl MessageKey {
    /// The key with the tracking number replaced by a digest, for logs.
    pub fn redacted(&self) -> String {
        let occasion = &self.occasion;
        let detail = occasion
            .detail
            .as_deref()
            .map(|d| format!("-{d}"))
            .unwrap_or_default();
        format!(
            "{}#{}{detail}#{}",
            occasion.about.redacted(),
            occasion.message,
            self.channel
        )
    }

    /// Reads a key in its stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        let (rest, channel) = raw.rsplit_once('#')?;
        let (about, message) = rest.rsplit_once('#')?;
        let (message, detail) = match message.split_once('-') {
            Some((message, detail)) => (message, Some(detail.to_string())),
            None => (message, None),
        };
        Some(Self {
            occasion: Occasion {
                about: About::parse(about)?,
                message: message.parse().ok()?,
                detail,
            },
            channel: channel.parse().ok()?,
        })
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.occasion, self.channel)
    }
}

impl Serialize for MessageKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("'{raw}' is not a message key")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Provider;

    #[test]
    fn keys_keep_their_stored_form_both_ways() {
        for raw in [
            "ups#1Z999#failed_attempt-2#sms",
            "kerry-logistics#KEX1TH#delayed-2024-05-06#email",
            "kerry-logistics#KEX1TH#delayed-missed-2024-05-04#email",
            "shopify:1001#order_confirmed#email",
            "generic-store:5001#order_confirmed#email",
        ] {
            let key = MessageKey::parse(raw).unwrap();
            assert_eq!(key.to_string(), raw);
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(serde_json::from_str::<MessageKey>(&json).unwrap(), key);
        }
        let key = Occasion::new(
            About::Order(OrderId::new(Provider::Shopify, "1001")),
            Message::OrderConfirmed,
            None,
        )
        .on(Channel::Email);
        assert_eq!(key.to_string(), "shopify:1001#order_confirmed#email");
        assert!(MessageKey::parse("nonsense").is_none());
        assert!(MessageKey::parse("ups#1Z9#teleported#sms").is_none());
    }

    #[test]
    fn logs_see_a_digest_instead_of_the_tracking_number() {
        let key = MessageKey::parse("ups#1Z999AA10123456784#delivered#sms").unwrap();
        let shown = key.redacted();
        assert!(!shown.contains("1Z999AA10123456784"), "{shown}");
        assert!(shown.starts_with("ups#") && shown.ends_with("#delivered#sms"));
    }
}
