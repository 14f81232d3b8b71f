//! Every message Doorstep sends, declared once.
//!
//! Adding a message is one variant here with its line in [`Message::spec`] (what kind it is, who
//! gets it, on which channels by default) and its templates, `{locale}/{message}.{sms,subject,
//! email}.j2` for `en` and `th`. The policy decides by kind, the outbox names it, and merchants
//! choose its channels under `[channels]` by the same name.

use super::milestones::Milestone;
use super::settings::Channel;
use crate::names::named_enum;
use serde::{Deserialize, Serialize};

/// What consent a message needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Shipping milestones, delivery choices, account notices: sent unless the customer opted out.
    Transactional,
    /// Recommendations, review requests, offers: only with consent for that channel.
    Marketing,
    /// Points and rewards: expiry reminders, tier changes. On unless the customer opted out of
    /// them (their own category on the preferences page).
    Rewards,
}

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Customer,
    /// The shop: `merchant_email`, `merchant_webhook_url` (no consent, no quiet hours).
    Merchant,
}

pub struct MessageSpec {
    pub kind: Kind,
    pub audience: Audience,
    /// Channels used unless the merchant's settings say otherwise.
    pub channels: &'static [Channel],
    /// The shipping milestone it announces, if it is one.
    pub milestone: Option<Milestone>,
    /// A scheduled job decides it too, not only a change of the record it is about (the
    /// schedule's delay and pickup checks, reminders, review requests, follow-ups, a VIP's
    /// stalled parcel): two workers may then decide it at once, so its sends always take a claim.
    pub scheduled: bool,
}

named_enum! {
    "snake_case";
    pub enum Message {
        OrderConfirmed,
        Shipped,
        Delayed,
        OutForDelivery,
        FailedAttempt,
        AvailableForPickup,
        Delivered,
        ReturnToSender,
        /// To the shop: a customer answered a failed delivery on the tracking page.
        DeliveryChoice,
        /// Points expire in `warning_days`.
        PointsExpiryWarning,
        /// Points expire in `last_chance_days`.
        PointsExpiryLastChance,
        /// The customer reached a higher tier.
        TierUpgrade,
        /// A parcel has waited at a pickup point `pickup_reminder_days`.
        PickupReminder,
        /// A subscription charges in `renewal_reminder_days`.
        RenewalReminder,
        /// A fresh manage link the customer asked for.
        ManageLink,
        /// After delivery: how was it?
        ReviewRequest,
        /// After a 5-star review.
        ReviewThanks,
        /// To the shop's support: a poor review, a VIP's parcel in trouble, a subscription change.
        MerchantAlert,
        /// A merchant-defined message after delivery (`follow_ups`).
        FollowUp,
    }
}

const EMAIL: &[Channel] = &[Channel::Email];
const EMAIL_AND_SMS: &[Channel] = &[Channel::Email, Channel::Sms];
const EMAIL_AND_WEBHOOK: &[Channel] = &[Channel::Email, Channel::Webhook];

impl Message {
    /// The message's declaration. Exhaustive: a new variant needs its line to compile.
    pub fn spec(self) -> MessageSpec {
        let shipping = |milestone, channels| MessageSpec {
            kind: Kind::Transactional,
            audience: Audience::Customer,
            channels,
            milestone: Some(milestone),
            // A missed promise is told by the schedule's check or by a late scan, whichever
            // comes first.
            scheduled: milestone == Milestone::Delayed,
        };
        match self {
            // Email at every milestone; SMS too when the customer can act or should be home.
            Self::OrderConfirmed => shipping(Milestone::OrderConfirmed, EMAIL),
            Self::Shipped => shipping(Milestone::Shipped, EMAIL),
            Self::Delayed => shipping(Milestone::Delayed, EMAIL),
            Self::OutForDelivery => shipping(Milestone::OutForDelivery, EMAIL_AND_SMS),
            Self::FailedAttempt => shipping(Milestone::FailedAttempt, EMAIL_AND_SMS),
            Self::AvailableForPickup => shipping(Milestone::AvailableForPickup, EMAIL_AND_SMS),
            Self::Delivered => shipping(Milestone::Delivered, EMAIL_AND_SMS),
            Self::ReturnToSender => shipping(Milestone::ReturnToSender, EMAIL),
            Self::DeliveryChoice => MessageSpec {
                kind: Kind::Transactional,
                audience: Audience::Merchant,
                channels: EMAIL_AND_WEBHOOK,
                milestone: None,
                scheduled: false,
            },
            Self::PointsExpiryWarning | Self::PointsExpiryLastChance => MessageSpec {
                kind: Kind::Rewards,
                audience: Audience::Customer,
                channels: EMAIL_AND_SMS,
                milestone: None,
                scheduled: true,
            },
            Self::TierUpgrade => MessageSpec {
                kind: Kind::Rewards,
                audience: Audience::Customer,
                channels: EMAIL,
                milestone: None,
                scheduled: false,
            },
            Self::PickupReminder | Self::RenewalReminder => MessageSpec {
                kind: Kind::Transactional,
                audience: Audience::Customer,
                channels: EMAIL_AND_SMS,
                milestone: None,
                scheduled: true,
            },
            Self::ManageLink => MessageSpec {
                kind: Kind::Transactional,
                audience: Audience::Customer,
                channels: EMAIL,
                milestone: None,
                scheduled: false,
            },
            Self::ReviewRequest | Self::ReviewThanks => MessageSpec {
                kind: Kind::Marketing,
                audience: Audience::Customer,
                channels: EMAIL,
                milestone: None,
                scheduled: true,
            },
            Self::MerchantAlert => MessageSpec {
                kind: Kind::Transactional,
                audience: Audience::Merchant,
                channels: EMAIL_AND_WEBHOOK,
                milestone: None,
                scheduled: true,
            },
            // Follow-ups say their own kind and channels (settings `follow_ups`).
            Self::FollowUp => MessageSpec {
                kind: Kind::Transactional,
                audience: Audience::Customer,
                channels: EMAIL,
                milestone: None,
                scheduled: true,
            },
        }
    }

    pub fn kind(self) -> Kind {
        self.spec().kind
    }

    pub fn milestone(self) -> Option<Milestone> {
        self.spec().milestone
    }
}

impl From<Milestone> for Message {
    fn from(milestone: Milestone) -> Self {
        match milestone {
            Milestone::OrderConfirmed => Self::OrderConfirmed,
            Milestone::Shipped => Self::Shipped,
            Milestone::Delayed => Self::Delayed,
            Milestone::OutForDelivery => Self::OutForDelivery,
            Milestone::FailedAttempt => Self::FailedAttempt,
            Milestone::AvailableForPickup => Self::AvailableForPickup,
            Milestone::Delivered => Self::Delivered,
            Milestone::ReturnToSender => Self::ReturnToSender,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_milestone_is_a_message_of_the_same_name() {
        for &milestone in Milestone::all() {
            let message = Message::from(milestone);
            assert_eq!(message.as_str(), milestone.as_str());
            assert_eq!(message.milestone(), Some(milestone));
        }
    }
}
