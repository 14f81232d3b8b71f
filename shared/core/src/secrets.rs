//! Secrets: webhook keys and the like, held in a type that never prints its value.

use std::collections::BTreeMap;
use std::fmt;

/// A secret value. `Debug` and `Display` show only that it is set, so a secret cannot reach a
/// log line or an error message by accident; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Read from settings files as the plain string it is.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Secret)
    }
}

pub const DEFAULT_UPS_CLIENT_ID: &str = "doorstep";

/// Webhook secrets by name (the registry's `secret` names), plus the optional extras some schemes take.
#[derive(Clone, Default)]
pub struct Secrets {
    by_name: BTreeMap<String, Secret>,
    /// Shippo's HMAC secret; when set, `Shippo-Auth-Signature` is required as well as the token.
    pub shippo_hmac: Option<Secret>,
    /// The OAuth client id UPS presents to the token endpoint (an identifier, not a secret).
    pub ups_client_id: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("configured", &self.by_name.keys().collect::<Vec<_>>())
            .field("shippo_hmac", &self.shippo_hmac.is_some())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    pub fn new() -> Self {
        Self {
            ups_client_id: DEFAULT_UPS_CLIENT_ID.into(),
            ..Self::default()
        }
    }

    pub fn with(mut self, name: &str, secret: impl Into<String>) -> Self {
        self.set(name, secret);
        self
    }

    /// Sets a secret by name (case-insensitive); an empty value leaves it unset.
    pub fn set(&mut self, name: &str, secret: impl Into<String>) {
        let secret = secret.into();
        if !secret.is_empty() {
            self.by_name
                .insert(name.to_ascii_uppercase(), Secret::new(secret));
        }
    }

    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.by_name.get(&name.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_values() {
        let secrets = Secrets::new().with("shopify", "hunter2");
        assert_eq!(secrets.get("SHOPIFY").map(Secret::expose), Some("hunter2"));
        let shown = format!(
            "{secrets:?} {:?} {}",
            secrets.get("shopify"),
            Secret::new("x")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("SHOPIFY"));
    }
}
