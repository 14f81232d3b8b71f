//! Signature checks shared by the providers. Every comparison is constant-time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the accepted window")]
    Stale,
    #[error("no secret is configured for this provider")]
    NotConfigured,
}

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares a digest with a hex string as sent by the provider (case-insensitive).
pub fn verify_hex(expected: &[u8], given: &str) -> Result<(), AuthError> {
    let given = hex::decode(given.trim().to_ascii_lowercase())
        .map_err(|_| AuthError::Malformed("signature"))?;
    constant_time_eq(expected, &given)
        .then_some(())
        .ok_or(AuthError::Mismatch)
}

/// Compares a digest with a base64 string as sent by the provider.
pub fn verify_base64(expected: &[u8], given: &str) -> Result<(), AuthError> {
    let given = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| AuthError::Malformed("signature"))?;
    constant_time_eq(expected, &given)
        .then_some(())
        .ok_or(AuthError::Mismatch)
}

/// Base64 HMAC-SHA256 of a body: the scheme AfterShip, Shopify and WooCommerce share.
pub fn hmac_base64(secret: &str, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret.as_bytes(), &[body]))
}

/// Checks a base64 HMAC-SHA256 header (see [`hmac_base64`]).
pub fn verify_hmac_base64(secret: &str, body: &[u8], given: &str) -> Result<(), AuthError> {
    verify_base64(&hmac_sha256(secret.as_bytes(), &[body]), given)
}

/// The `t=<unix>,v1=<hex>` scheme over `"{t}.{body}"` (Doorstep's generic format; Shippo's HMAC).
pub fn verify_timestamped(
    header: Option<&str>,
    header_name: &'static str,
    secret: &[u8],
    body: &[u8],
    now_unix: i64,
    window_secs: i64,
) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing(header_name))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(AuthError::Malformed(header_name))?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| AuthError::Malformed(header_name))?;
    if signatures.is_empty() {
        return Err(AuthError::Malformed(header_name));
    }
    let expected = hmac_sha256(secret, &[timestamp.as_bytes(), b".", body]);
    // Any listed signature may match (secret rotation); check them all so timing does not tell which.
    let matched = signatures.iter().fold(false, |found, sig| {
        verify_hex(&expected, sig).is_ok() | found
    });
    if !matched {
        return Err(AuthError::Mismatch);
    }
    if (now_unix - seconds).abs() > window_secs {
        return Err(AuthError::Stale);
    }
    Ok(())
}

/// Signs a body the way `verify_timestamped` expects (used by senders, tests and the docs' examples).
pub fn sign_timestamped(secret: &[u8], body: &[u8], now_unix: i64) -> String {
    let t = now_unix.to_string();
    format!(
        "t={t},v1={}",
        hex::encode(hmac_sha256(secret, &[t.as_bytes(), b".", body]))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn timestamped_signatures_check_signature_then_window() {
        let body = br#"{"a":1}"#;
        let header = sign_timestamped(b"secret", body, 1_700_000_000);
        assert_eq!(
            verify_timestamped(Some(&header), "h", b"secret", body, 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_timestamped(Some(&header), "h", b"secret", body, 1_700_000_400, 300),
            Err(AuthError::Stale)
        );
        assert_eq!(
            verify_timestamped(Some(&header), "h", b"other", body, 1_700_000_000, 300),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(Some(&header), "h", b"secret", b"{}", 1_700_000_000, 300),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(None, "h", b"secret", body, 0, 300),
            Err(AuthError::Missing("h"))
        );
        assert_eq!(
            verify_timestamped(Some("v1=abc"), "h", b"secret", body, 0, 300),
            Err(AuthError::Malformed("h"))
        );
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(
            verify_timestamped(Some(&rotated), "h", b"secret", body, 1_700_000_000, 300),
            Ok(())
        );
    }

    #[test]
    fn encodings_are_checked_strictly() {
        let digest = sha256(&[b"x"]);
        assert!(verify_hex(&digest, &hex::encode(digest).to_uppercase()).is_ok());
        assert_eq!(
            verify_hex(&digest, "zz"),
            Err(AuthError::Malformed("signature"))
        );
        assert_eq!(verify_base64(&digest, "AAAA"), Err(AuthError::Mismatch));
    }
}
