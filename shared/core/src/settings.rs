//! The merchant's settings, loaded one way for every function and the local runner.
//!
//! There is one set of types ([`Settings`]) and one validation. On AWS every setting comes from an
//! environment variable the template sets from a parameter ([`ENVIRONMENT`] lists them); locally
//! from the TOML file named by `DOORSTEP_CONFIG`, where `DOORSTEP_{VARIABLE}` overrides a key. A
//! bad value stops the start with an error naming the setting and its variable.

use crate::notify::keys::Occasion;
use crate::notify::messages::{Kind, Message};
use crate::notify::settings::{quiet_hours_setting, Channel, QuietHours};
use crate::secrets::Secret;
use crate::store_events::MerchantDefaults;
use chrono::NaiveTime;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Every setting has a default, so an empty file (or no variable at all) is valid.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The shop's name, shown in every message.
    pub brand: String,
    /// `From:` of email.
    pub sender_email: String,
    /// Base of tracking and preference links (`{public_base_url}/t/{token}`).
    pub public_base_url: String,
    /// For customers whose profile and address give no zone.
    pub default_timezone: String,
    /// For customers whose store sends no locale.
    pub default_locale: String,
    /// SMS quiet hours in each customer's zone; `off` for none.
    #[serde(deserialize_with = "quiet_hours_setting::deserialize")]
    pub quiet_hours: Option<QuietHours>,
    /// Channels per message; messages not listed use their defaults.
    pub channels: BTreeMap<Message, Vec<Channel>>,
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
    /// The shop's storefront (`https://shop.example.com`): product pages, "spend your points".
    pub store_url: Option<String>,
    /// The tracking page's logo.
    pub logo_url: Option<String>,
    /// The tracking page's accent colour, `#rgb` or `#rrggbb`.
    pub accent_color: String,
    /// Where the tracking page sends a shopper who needs help.
    pub support_url: Option<String>,
    /// Where the shop hears about delivery choices (and later alerts).
    pub merchant_email: Option<String>,
    /// Where the shop's systems hear about them, as signed POSTs.
    pub merchant_webhook_url: Option<String>,
    /// The key those POSTs are signed with (`Doorstep-Signature`). On AWS it comes from SSM.
    pub merchant_webhook_secret: Option<Secret>,
    pub recommendations: Recommendations,
    /// Points, tiers and expiry reminders; `None` (no `[loyalty]` table, no `LOYALTY_*`
    /// variable) turns loyalty off.
    pub loyalty: Option<LoyaltySettings>,
    pub reminders: Reminders,
    /// Days before a subscription's charge its renewal reminder goes out.
    pub renewal_reminder_days: u32,
    /// How long a subscription's manage link works.
    pub manage_link_days: u32,
    /// No marketing to a customer for this long after a review of 2 stars or less.
    pub after_bad_review_days: u32,
    /// Days after delivery an order's review request goes out.
    pub review_request_days: u32,
    /// Customers at or above this tier: a delay, failed attempt, exception or return also
    /// alerts the shop's support. `None`: no VIP alerts.
    pub vip_alert_tier: Option<String>,
    /// Messages after delivery, chosen by product type or tag.
    pub follow_ups: Vec<FollowUp>,
    /// Marketing messages per customer per rolling 7 days, at most.
    pub marketing_cap: u32,
    /// The merchant's referral page, offered to 5-star reviewers.
    pub referral_url: Option<String>,
}

/// A message after delivery for orders with a product of one of `product_types` or `tags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Names its templates: `{locale}/follow_up_{name}.{subject,email,sms}.j2` (merchant
    /// templates first, then the built-in `care` and `rewards_update`).
    pub name: String,
    #[serde(default)]
    pub product_types: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub days_after_delivery: u32,
    /// Follow-ups are not promotions: transactional unless set to marketing.
    #[serde(default)]
    pub marketing: bool,
    /// Channels; default email.
    #[serde(default)]
    pub channels: Vec<Channel>,
}

/// How points expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryPolicy {
    /// Each lot `expiry_months` after it was earned.
    Fixed,
    /// Every lot `expiry_months` after the customer's last earn or spend.
    Rolling,
}

/// A VIP tier: reached with `min_points` earned over the trailing 12 months.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierThreshold {
    pub name: String,
    pub min_points: u64,
}

/// The `[loyalty]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoyaltySettings {
    /// Points per unit of the order's currency (of its subtotal).
    pub points_per_unit: f64,
    /// Days after an order's last parcel is delivered before its points can be spent.
    pub pending_days: u32,
    pub expiry: ExpiryPolicy,
    pub expiry_months: u32,
    pub warning_days: u32,
    pub last_chance_days: u32,
    /// Money per point in the store's currency; `None` shows points only.
    pub point_value: Option<f64>,
    /// Lowest first.
    pub tiers: Vec<TierThreshold>,
}

impl Default for LoyaltySettings {
    fn default() -> Self {
        let tier = |name: &str, min_points| TierThreshold {
            name: name.into(),
            min_points,
        };
        Self {
            points_per_unit: 1.0,
            pending_days: 14,
            expiry: ExpiryPolicy::Fixed,
            expiry_months: 12,
            warning_days: 30,
            last_chance_days: 7,
            point_value: None,
            tiers: vec![tier("Member", 0), tier("Silver", 500), tier("Gold", 2000)],
        }
    }
}

/// The `[reminders]` table: shipping reminders the schedule sends without a carrier event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reminders {
    /// A parcel in transit with no scan for this long is reported delayed.
    pub stalled_days: u32,
    /// A parcel waiting at a pickup point this long gets a reminder.
    pub pickup_reminder_days: u32,
}

impl Default for Reminders {
    fn default() -> Self {
        Self {
            stalled_days: 4,
            pickup_reminder_days: 3,
        }
    }
}

/// Product recommendations on the tracking page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recommendations {
    pub enabled: bool,
    /// How many at most (1 to 12).
    pub count: usize,
}

impl Default for Recommendations {
    fn default() -> Self {
        Self {
            enabled: true,
            count: 4,
        }
    }
}

impl Default for Settings {
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
            store_url: None,
            logo_url: None,
            accent_color: "#1a1a1a".into(),
            support_url: None,
            merchant_email: None,
            merchant_webhook_url: None,
            merchant_webhook_secret: None,
            recommendations: Recommendations::default(),
            loyalty: None,
            reminders: Reminders::default(),
            renewal_reminder_days: 3,
            manage_link_days: 14,
            after_bad_review_days: 30,
            review_request_days: 7,
            vip_alert_tier: None,
            follow_ups: Vec::new(),
            marketing_cap: 2,
            referral_url: None,
        }
    }
}

/// How a variable's text becomes a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Taken as it is.
    Text,
    /// Read as JSON (numbers, true/false, lists, tables).
    Json,
}

/// Every setting that can come from the environment: the variable (on AWS; `DOORSTEP_` +
/// variable locally), the key in the TOML file (dotted for a section), and its form.
pub const ENVIRONMENT: &[(&str, &str, Form)] = &[
    ("BRAND", "brand", Form::Text),
    ("SENDER_EMAIL", "sender_email", Form::Text),
    ("PUBLIC_BASE_URL", "public_base_url", Form::Text),
    ("DEFAULT_TIMEZONE", "default_timezone", Form::Text),
    ("DEFAULT_LOCALE", "default_locale", Form::Text),
    ("QUIET_HOURS", "quiet_hours", Form::Text),
    ("MILESTONE_CHANNELS", "channels", Form::Json),
    ("CHANNEL_FALLBACK", "fallback", Form::Json),
    ("SMS_MAX_SEGMENTS", "sms_max_segments", Form::Json),
    ("SMS_SENDER_ID", "sms_sender_id", Form::Text),
    (
        "SMS_ORIGINATION_NUMBER",
        "sms_origination_number",
        Form::Text,
    ),
    ("SES_CONFIGURATION_SET", "ses_configuration_set", Form::Text),
    ("TEMPLATE_DIR", "template_dir", Form::Text),
    ("CLAIM_LEASE_S", "claim_lease_s", Form::Json),
    ("RETENTION_DAYS", "retention_days", Form::Json),
    ("STORE_URL", "store_url", Form::Text),
    ("LOGO_URL", "logo_url", Form::Text),
    ("ACCENT_COLOR", "accent_color", Form::Text),
    ("SUPPORT_URL", "support_url", Form::Text),
    ("MERCHANT_EMAIL", "merchant_email", Form::Text),
    ("MERCHANT_WEBHOOK_URL", "merchant_webhook_url", Form::Text),
    ("RECOMMENDATIONS", "recommendations.enabled", Form::Json),
    ("RECOMMENDATIONS_COUNT", "recommendations.count", Form::Json),
    (
        "LOYALTY_POINTS_PER_UNIT",
        "loyalty.points_per_unit",
        Form::Json,
    ),
    ("LOYALTY_PENDING_DAYS", "loyalty.pending_days", Form::Json),
    ("LOYALTY_EXPIRY", "loyalty.expiry", Form::Text),
    ("LOYALTY_EXPIRY_MONTHS", "loyalty.expiry_months", Form::Json),
    ("LOYALTY_WARNING_DAYS", "loyalty.warning_days", Form::Json),
    (
        "LOYALTY_LAST_CHANCE_DAYS",
        "loyalty.last_chance_days",
        Form::Json,
    ),
    ("LOYALTY_POINT_VALUE", "loyalty.point_value", Form::Json),
    ("LOYALTY_TIERS", "loyalty.tiers", Form::Json),
    ("STALLED_DAYS", "reminders.stalled_days", Form::Json),
    (
        "PICKUP_REMINDER_DAYS",
        "reminders.pickup_reminder_days",
        Form::Json,
    ),
    ("RENEWAL_REMINDER_DAYS", "renewal_reminder_days", Form::Json),
    ("MANAGE_LINK_DAYS", "manage_link_days", Form::Json),
    ("AFTER_BAD_REVIEW_DAYS", "after_bad_review_days", Form::Json),
    ("REVIEW_REQUEST_DAYS", "review_request_days", Form::Json),
    ("VIP_ALERT_TIER", "vip_alert_tier", Form::Text),
    ("FOLLOW_UPS", "follow_ups", Form::Json),
    ("MARKETING_CAP", "marketing_cap", Form::Json),
    ("REFERRAL_URL", "referral_url", Form::Text),
];

/// A setting that cannot be used, named as the merchant wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError {
    /// The key in the TOML file (dotted for a section).
    pub key: String,
    /// The environment variable it came from, if it came from one.
    pub variable: Option<String>,
    pub reason: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variable {
            Some(variable) => write!(f, "setting {} ({variable}): {}", self.key, self.reason),
            None => write!(f, "setting {}: {}", self.key, self.reason),
        }
    }
}

impl Settings {
    /// The settings from the environment alone (the Lambdas).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Self::load(Value::Object(Default::default()), "", var)
    }

    /// The settings from a TOML file's text, with `DOORSTEP_{VARIABLE}` overriding its keys (the
    /// local runner).
    pub fn from_toml(
        text: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let file: Value = toml::from_str(text).map_err(|e| SettingsError {
            key: "(file)".into(),
            variable: None,
            reason: e.to_string(),
        })?;
        Self::load(file, "DOORSTEP_", var)
    }

    fn load(
        mut base: Value,
        prefix: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let mut came_from: BTreeMap<&str, String> = BTreeMap::new();
        for (name, key, form) in ENVIRONMENT {
            let variable = format!("{prefix}{name}");
            let Some(text) = var(&variable).map(|v| v.trim().to_string()) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let value = match form {
                Form::Text => Value::String(text),
                Form::Json => serde_json::from_str(&text).map_err(|e| SettingsError {
                    key: (*key).into(),
                    variable: Some(variable.clone()),
                    reason: format!("'{text}' is not a valid value: {e}"),
                })?,
            };
            set_path(&mut base, key, value);
            came_from.insert(key, variable);
        }
        let named = |key: String, reason: String| SettingsError {
            variable: came_from.get(key.as_str()).cloned(),
            key,
            reason,
        };
        let settings: Settings = serde_path_to_error::deserialize(base).map_err(|e| {
            let key = e.path().to_string();
            named(key, e.into_inner().to_string())
        })?;
        settings
            .validate()
            .map_err(|(key, reason)| named(key.into(), reason))?;
        Ok(settings)
    }

    /// Checks what types alone cannot: zones exist, addresses and URLs are well formed,
    /// numbers are in range. Returns the key at fault and why.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if crate::timezone::parse_zone(&self.default_timezone).is_none() {
            let reason = format!("'{}' is not an IANA zone", self.default_timezone);
            return Err(("default_timezone", reason));
        }
        if crate::model::normalize_locale(Some(&self.default_locale), "") != self.default_locale {
            let reason = format!(
                "'{}' is not a lower-case language tag such as en or th",
                self.default_locale
            );
            return Err(("default_locale", reason));
        }
        if crate::contact::EmailAddress::parse(&self.sender_email).is_err() {
            let reason = format!("'{}' is not an email address", self.sender_email);
            return Err(("sender_email", reason));
        }
        let urls = [
            ("public_base_url", Some(&self.public_base_url)),
            ("store_url", self.store_url.as_ref()),
            ("logo_url", self.logo_url.as_ref()),
            ("support_url", self.support_url.as_ref()),
            ("referral_url", self.referral_url.as_ref()),
            ("merchant_webhook_url", self.merchant_webhook_url.as_ref()),
        ];
        for (key, url) in urls {
            if let Some(url) = url.filter(|url| !is_web_url(url)) {
                return Err((key, format!("'{url}' is not an http(s) URL")));
            }
        }
        if let Some(email) = &self.merchant_email {
            if crate::contact::EmailAddress::parse(email).is_err() {
                return Err((
                    "merchant_email",
                    format!("'{email}' is not an email address"),
                ));
            }
        }
        if !is_colour(&self.accent_color) {
            let reason = format!("'{}' is not a colour like #1a1a1a", self.accent_color);
            return Err(("accent_color", reason));
        }
        for (key, value, range) in [
            ("sms_max_segments", self.sms_max_segments, 1..=10),
            ("claim_lease_s", self.claim_lease_s as usize, 1..=86_400),
            ("retention_days", self.retention_days as usize, 1..=3_650),
            ("recommendations.count", self.recommendations.count, 1..=12),
            (
                "reminders.stalled_days",
                self.reminders.stalled_days as usize,
                1..=60,
            ),
            (
                "reminders.pickup_reminder_days",
                self.reminders.pickup_reminder_days as usize,
                1..=30,
            ),
            (
                "renewal_reminder_days",
                self.renewal_reminder_days as usize,
                1..=30,
            ),
            ("manage_link_days", self.manage_link_days as usize, 1..=90),
            (
                "after_bad_review_days",
                self.after_bad_review_days as usize,
                1..=365,
            ),
            (
                "review_request_days",
                self.review_request_days as usize,
                1..=90,
            ),
            ("marketing_cap", self.marketing_cap as usize, 0..=50),
        ] {
            if !range.contains(&value) {
                let reason = format!(
                    "{value} is out of range ({} to {})",
                    range.start(),
                    range.end()
                );
                return Err((key, reason));
            }
        }
        self.validate_loyalty()?;
        self.validate_follow_ups()
    }

    fn validate_follow_ups(&self) -> Result<(), (&'static str, String)> {
        for (i, rule) in self.follow_ups.iter().enumerate() {
            let valid_name = !rule.name.is_empty()
                && rule.name.len() <= 40
                && rule
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_name {
                let reason = format!(
                    "follow-up {}: name '{}' must be lower-case letters, digits and _",
                    i + 1,
                    rule.name
                );
                return Err(("follow_ups", reason));
            }
            if rule.product_types.is_empty()
                && rule.tags.is_empty()
                && rule.name != "rewards_update"
            {
                let reason = format!("follow-up {}: give product_types or tags", rule.name);
                return Err(("follow_ups", reason));
            }
            if !(1..=90).contains(&rule.days_after_delivery) {
                let reason = format!(
                    "follow-up {}: days_after_delivery must be 1 to 90",
                    rule.name
                );
                return Err(("follow_ups", reason));
            }
        }
        if let (Some(tier), Some(loyalty)) = (&self.vip_alert_tier, &self.loyalty) {
            if !loyalty
                .tiers
                .iter()
                .any(|t| t.name.eq_ignore_ascii_case(tier))
            {
                let reason = format!("'{tier}' is not one of the loyalty tiers");
                return Err(("vip_alert_tier", reason));
            }
        }
        Ok(())
    }

    /// `[loyalty]`'s rules: numbers in range, a warning before the last chance, tiers in order.
    fn validate_loyalty(&self) -> Result<(), (&'static str, String)> {
        let Some(loyalty) = &self.loyalty else {
            return Ok(());
        };
        if !(loyalty.points_per_unit.is_finite()
            && (0.0..=1_000_000.0).contains(&loyalty.points_per_unit))
        {
            return Err((
                "loyalty.points_per_unit",
                format!("{} is not between 0 and 1000000", loyalty.points_per_unit),
            ));
        }
        if let Some(value) = loyalty.point_value {
            if !(value.is_finite() && (0.0..=1_000_000.0).contains(&value)) {
                return Err((
                    "loyalty.point_value",
                    format!("{value} is not between 0 and 1000000"),
                ));
            }
        }
        for (key, value, range) in [
            ("loyalty.pending_days", loyalty.pending_days, 0..=365),
            ("loyalty.expiry_months", loyalty.expiry_months, 1..=120),
            ("loyalty.warning_days", loyalty.warning_days, 1..=365),
            (
                "loyalty.last_chance_days",
                loyalty.last_chance_days,
                1..=365,
            ),
        ] {
            if !range.contains(&value) {
                let reason = format!(
                    "{value} is out of range ({} to {})",
                    range.start(),
                    range.end()
                );
                return Err((key, reason));
            }
        }
        if loyalty.last_chance_days >= loyalty.warning_days {
            return Err((
                "loyalty.last_chance_days",
                format!(
                    "{} must be fewer than warning_days ({})",
                    loyalty.last_chance_days, loyalty.warning_days
                ),
            ));
        }
        let mut previous: Option<&TierThreshold> = None;
        for tier in &loyalty.tiers {
            let name = tier.name.trim();
            if name.is_empty() || name.chars().count() > 40 {
                return Err((
                    "loyalty.tiers",
                    "a tier needs a name of 1 to 40 characters".into(),
                ));
            }
            if let Some(previous) = previous {
                if tier.min_points <= previous.min_points {
                    let reason = format!(
                        "tiers must be listed from the lowest min_points up ({} comes after {})",
                        tier.name, previous.name
                    );
                    return Err(("loyalty.tiers", reason));
                }
            }
            previous = Some(tier);
        }
        Ok(())
    }

    /// The channels for a message: the merchant's choice, else the message's defaults.
    pub fn channels_for(&self, message: Message) -> Vec<Channel> {
        self.channels
            .get(&message)
            .cloned()
            .unwrap_or_else(|| message.spec().channels.to_vec())
    }

    /// The follow-up of this name.
    pub fn follow_up(&self, name: &str) -> Option<&FollowUp> {
        self.follow_ups.iter().find(|f| f.name == name)
    }

    /// The channels an occasion goes out on: a follow-up's own (email unless it says), else
    /// the message's.
    pub fn occasion_channels(&self, occasion: &Occasion) -> Vec<Channel> {
        match self.occasion_follow_up(occasion) {
            Some(rule) if !rule.channels.is_empty() => rule.channels.clone(),
            Some(_) => vec![Channel::Email],
            None => self.channels_for(occasion.message),
        }
    }

    /// What consent an occasion needs: a follow-up says whether it is marketing.
    pub fn occasion_kind(&self, occasion: &Occasion) -> Kind {
        match self.occasion_follow_up(occasion) {
            Some(rule) if rule.marketing => Kind::Marketing,
            Some(_) => Kind::Transactional,
            None => occasion.message.kind(),
        }
    }

    fn occasion_follow_up(&self, occasion: &Occasion) -> Option<&FollowUp> {
        match occasion.message {
            Message::FollowUp => self.follow_up(occasion.detail.as_deref()?),
            _ => None,
        }
    }

    /// What ingestion applies where a store says nothing.
    pub fn merchant_defaults(&self) -> MerchantDefaults {
        MerchantDefaults {
            timezone: self.default_timezone.clone(),
            locale: self.default_locale.clone(),
            starting_tier: self
                .loyalty
                .as_ref()
                .and_then(|program| program.tiers.iter().find(|t| t.min_points == 0))
                .map(|t| t.name.clone()),
        }
    }

    /// Links in messages start with this (no trailing slash).
    pub fn base_url(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }
}

/// An absolute http(s) URL with nothing a page could be tricked by (no spaces, quotes or brackets).
fn is_web_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !url.contains(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
    })
}

/// `#rgb` or `#rrggbb`.
pub(crate) fn is_colour(raw: &str) -> bool {
    raw.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Sets `key` (dotted for sections) in a JSON object, making sections as needed.
fn set_path(base: &mut Value, key: &str, value: Value) {
    let mut node = base;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_customer_starts_in_the_tier_from_zero_points() {
        let mut settings = Settings::default();
        assert_eq!(
            settings.merchant_defaults().starting_tier,
            None,
            "no program"
        );
        settings.loyalty = Some(LoyaltySettings::default());
        assert_eq!(
            settings.merchant_defaults().starting_tier.as_deref(),
            Some("Member")
        );
        if let Some(program) = settings.loyalty.as_mut() {
            program.tiers.retain(|t| t.min_points > 0);
        }
        assert_eq!(
            settings.merchant_defaults().starting_tier,
            None,
            "every tier must be earned"
        );
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_and_a_file_give_the_same_settings() {
        let from_env = Settings::from_env(env(&[
            ("BRAND", "Baan Shop"),
            ("DEFAULT_TIMEZONE", "Asia/Bangkok"),
            ("QUIET_HOURS", "22:00-07:30"),
            ("MILESTONE_CHANNELS", r#"{"shipped":["email","sms"]}"#),
            ("SMS_MAX_SEGMENTS", "3"),
            ("CHANNEL_FALLBACK", "false"),
        ]))
        .unwrap();
        let from_file = Settings::from_toml(
            r#"
brand = "Baan Shop"
default_timezone = "Asia/Bangkok"
quiet_hours = { start = "22:00", end = "07:30" }
sms_max_segments = 3
fallback = false
[channels]
shipped = ["email", "sms"]
"#,
            |_| None,
        )
        .unwrap();
        assert_eq!(from_env, from_file);
        assert_eq!(
            from_env.channels_for(Message::Shipped),
            [Channel::Email, Channel::Sms]
        );
        assert_eq!(from_env.channels_for(Message::Delayed), [Channel::Email]);
        let off = Settings::from_env(env(&[("QUIET_HOURS", "off")])).unwrap();
        assert_eq!(off.quiet_hours, None);
    }

    #[test]
    fn a_bad_value_names_the_setting_and_its_variable_everywhere() {
        let error = Settings::from_env(env(&[("DEFAULT_TIMEZONE", "Mars/Olympus")])).unwrap_err();
        assert_eq!(error.key, "default_timezone");
        assert_eq!(error.variable.as_deref(), Some("DEFAULT_TIMEZONE"));
        assert!(error.to_string().contains("Mars/Olympus"));
        let error =
            Settings::from_toml("default_timezone = \"Mars/Olympus\"", |_| None).unwrap_err();
        assert_eq!(
            (error.key.as_str(), error.variable),
            ("default_timezone", None)
        );
        let error = Settings::from_toml("", env(&[("DOORSTEP_CLAIM_LEASE_S", "0")])).unwrap_err();
        assert_eq!(error.variable.as_deref(), Some("DOORSTEP_CLAIM_LEASE_S"));
        let error = Settings::from_env(env(&[("SMS_MAX_SEGMENTS", "two")])).unwrap_err();
        assert_eq!(error.variable.as_deref(), Some("SMS_MAX_SEGMENTS"));
        let error = Settings::from_env(env(&[("QUIET_HOURS", "late")])).unwrap_err();
        assert_eq!(error.key, "quiet_hours");
        let error = Settings::from_toml("brnad = \"x\"", |_| None).unwrap_err();
        assert!(error.to_string().contains("brnad"), "{error}");
        let error =
            Settings::from_toml("[channels]\nteleported = [\"sms\"]", |_| None).unwrap_err();
        assert!(error.to_string().contains("teleported"), "{error}");
        assert!(Settings::from_env(env(&[("PUBLIC_BASE_URL", "track.example.com")])).is_err());
    }
}
