//! Every provider Doorstep takes webhooks from, declared once.
//!
//! Adding a provider is one module (its payload types, mapping table, signature check, and a
//! `SPEC`) plus one variant here with its line in [`Provider::spec`]: routes, secret names, the
//! secrets the runner generates, and the checks over the template, the docs, the test signers and
//! the fuzz targets all follow from the registry. The compiler refuses a variant without a spec,
//! and a spec cannot be written without a parser (its type also decides the route).

use super::{InboundRequest, ParseError};
use crate::model::TrackingUpdate;
use crate::names::named_enum;
use crate::secrets::Secrets;
use crate::signature::AuthError;
use crate::store_events::StoreEvent;
use chrono::{DateTime, Utc};

named_enum! {
    "lowercase";
    pub enum Provider {
        EasyPost,
        AfterShip,
        Shippo,
        #[serde(rename = "17track")]
        #[strum(serialize = "17track")]
        SeventeenTrack,
        Ups,
        Generic,
        Shopify,
        WooCommerce,
        /// Stored records from before the names were unified say `generic_store`.
        #[serde(rename = "generic-store", alias = "generic_store")]
        #[strum(serialize = "generic-store")]
        GenericStore,
        /// Points from another loyalty program.
        #[serde(rename = "generic-loyalty")]
        #[strum(serialize = "generic-loyalty")]
        GenericLoyalty,
        /// Subscriptions.
        Recharge,
        #[serde(rename = "generic-subscription")]
        #[strum(serialize = "generic-subscription")]
        GenericSubscription,
        /// Reviews.
        JudgeMe,
        #[serde(rename = "generic-review")]
        #[strum(serialize = "generic-review")]
        GenericReview,
    }
}

impl Provider {
    /// The provider's declaration. Exhaustive: a new variant needs its spec to compile.
    pub fn spec(self) -> &'static ProviderSpec {
        use super::*;
        match self {
            Self::EasyPost => &easypost::SPEC,
            Self::AfterShip => &aftership::SPEC,
            Self::Shippo => &shippo::SPEC,
            Self::SeventeenTrack => &seventeen_track::SPEC,
            Self::Ups => &ups::SPEC,
            Self::Generic => &generic::SPEC,
            Self::Shopify => &shopify::SPEC,
            Self::WooCommerce => &woocommerce::SPEC,
            Self::GenericStore => &generic_store::SPEC,
            Self::GenericLoyalty => &generic_loyalty::SPEC,
            Self::Recharge => &recharge::SPEC,
            Self::GenericSubscription => &generic_subscription::SPEC,
            Self::JudgeMe => &judgeme::SPEC,
            Self::GenericReview => &generic_review::SPEC,
        }
    }

    /// The spec of a carrier, `None` for any other provider. It names only the carriers' specs
    /// so that a function serving `/webhooks/carriers/…` alone (through [`carrier`]) links no
    /// store, loyalty or review parser, nor what those need (the phone parser and its metadata). `carrier_specs_match_the_registry` checks it agrees with [`Provider::spec`].
    pub fn carrier_spec(self) -> Option<&'static ProviderSpec> {
        use super::*;
        match self {
            Self::EasyPost => Some(&easypost::SPEC),
            Self::AfterShip => Some(&aftership::SPEC),
            Self::Shippo => Some(&shippo::SPEC),
            Self::SeventeenTrack => Some(&seventeen_track::SPEC),
            Self::Ups => Some(&ups::SPEC),
            Self::Generic => Some(&generic::SPEC),
            _ => None,
        }
    }

    /// The carrier a `/webhooks/carriers/{slug}` URL names, with its signature check, its secret
    /// and its parser.
    pub fn carrier(slug: &str) -> Option<(Provider, &'static ProviderSpec, CarrierParser)> {
        Self::all().iter().find_map(|&provider| {
            let spec = provider.carrier_spec()?;
            match spec.parser {
                Parser::Carrier(parse) if spec.slug == slug => Some((provider, spec, parse)),
                _ => None,
            }
        })
    }

    /// The provider a webhook URL names: `POST /webhooks/{route}/{slug}`.
    pub fn for_route(route: Route, slug: &str) -> Option<Provider> {
        Self::all()
            .iter()
            .copied()
            .find(|p| p.spec().route() == route && p.spec().slug == slug)
    }
}

/// The webhook URL families: `/webhooks/carriers/{slug}`, `/webhooks/stores/{slug}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Route {
    Carriers,
    Stores,
    Loyalty,
    Subscriptions,
    Reviews,
}

/// A store delivery, parsed: the event and the id the store gave this delivery (for dedupe).
pub struct StoreDelivery {
    pub event: StoreEvent,
    pub delivery_id: Option<String>,
}

impl StoreDelivery {
    /// A delivery that names its topic and its id in headers (Shopify, WooCommerce).
    pub fn from_headers(
        req: &InboundRequest<'_>,
        topic_header: &str,
        id_header: &str,
        parse: fn(Option<&str>, &[u8]) -> Result<StoreEvent, ParseError>,
    ) -> Result<Self, ParseError> {
        Ok(Self {
            event: parse(req.header(topic_header), req.body)?,
            delivery_id: req.header(id_header).map(str::to_string),
        })
    }
}

/// A carrier's parser: the body in, tracking updates out.
pub type CarrierParser = fn(&[u8]) -> Result<Vec<TrackingUpdate>, ParseError>;

/// How a provider's verified body becomes domain facts. The variant decides the route. Carriers
/// need only the body; stores read their topic and delivery id from headers too.
#[derive(Clone, Copy)]
pub enum Parser {
    Carrier(CarrierParser),
    Store(fn(&InboundRequest<'_>) -> Result<StoreDelivery, ParseError>),
    Loyalty(fn(&[u8]) -> Result<crate::loyalty::service::ExternalEvent, ParseError>),
    Subscription(
        fn(&InboundRequest<'_>) -> Result<crate::subscriptions::SubscriptionDelivery, ParseError>,
    ),
    Review(fn(&InboundRequest<'_>) -> Result<crate::reviews::ReviewDelivery, ParseError>),
}

/// What a provider's signature check may use: its own secret, the extras some schemes take
/// (Shippo's HMAC key, UPS's client id), and the clock (for replay windows).
pub struct Credentials<'a> {
    pub secret: &'a str,
    pub secrets: &'a Secrets,
    pub now: DateTime<Utc>,
}

/// Checks a request's authenticity with the provider's own scheme, in constant time.
pub type Verifier = fn(&InboundRequest<'_>, &Credentials<'_>) -> Result<(), AuthError>;

pub struct ProviderSpec {
    /// The URL segment after the route (`/webhooks/carriers/{slug}`).
    pub slug: &'static str,
    /// The secret it is verified with: `DOORSTEP_SECRET_{secret}` locally, the SSM parameter
    /// `{SecretsPath}/{secret in lower case}` on AWS. Two providers may share one.
    pub secret: &'static str,
    pub verify: Verifier,
    pub parser: Parser,
}

impl ProviderSpec {
    pub fn route(&self) -> Route {
        match self.parser {
            Parser::Carrier(_) => Route::Carriers,
            Parser::Store(_) => Route::Stores,
            Parser::Loyalty(_) => Route::Loyalty,
            Parser::Subscription(_) => Route::Subscriptions,
            Parser::Review(_) => Route::Reviews,
        }
    }
}

/// Every secret name the providers use, once each, in registry order.
pub fn secret_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for provider in Provider::all() {
        let name = provider.spec().secret;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_names_come_from_the_registry() {
        for &provider in Provider::all() {
            let spec = provider.spec();
            assert_eq!(Provider::for_route(spec.route(), spec.slug), Some(provider));
            assert_eq!(provider.as_str().parse::<Provider>().ok(), Some(provider));
            let json = serde_json::to_string(&provider).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
        }
        assert_eq!(
            Provider::for_route(Route::Stores, "generic"),
            Some(Provider::GenericStore)
        );
        assert_eq!(Provider::for_route(Route::Carriers, "shopify"), None);
        assert!(Provider::carrier("shopify").is_none());
        let old: Provider = serde_json::from_str("\"generic_store\"").unwrap_or(Provider::Ups);
        assert_eq!(old, Provider::GenericStore);
        assert_eq!(
            secret_names(),
            [
                "EASYPOST",
                "AFTERSHIP",
                "SHIPPO",
                "17TRACK",
                "UPS",
                "GENERIC",
                "SHOPIFY",
                "WOOCOMMERCE",
                "RECHARGE",
                "JUDGEME"
            ]
        );
    }

    #[test]
    fn carrier_specs_match_the_registry() {
        for &provider in Provider::all() {
            let spec = provider.spec();
            let carrier = provider.carrier_spec();
            assert_eq!(
                carrier.is_some(),
                spec.route() == Route::Carriers,
                "{provider}"
            );
            if let Some(carrier) = carrier {
                assert!(std::ptr::eq(carrier, spec), "{provider}");
                let found = Provider::carrier(spec.slug).map(|(p, _, _)| p);
                assert_eq!(found, Some(provider));
            }
        }
    }
}
