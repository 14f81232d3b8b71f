//! A record as the table keeps it in `doc`: its JSON, deflated once it is large enough for that
//! to save write units. Write units are per started kilobyte of the whole item, and a parcel's
//! record (events, estimates, deliveries applied) passes 2 KB, so deflating it (JSON shrinks to a
//! quarter or so) makes each write to it cost one unit instead of three.
//!
//! Stored as a string (`S`, plain JSON) below `DEFLATE_FROM` bytes and as binary (`B`, raw
//! deflate) from there; both read back, so records written before this read as they are.

use aws_sdk_dynamodb::types::AttributeValue;

/// Below this, deflating saves no write unit worth the CPU.
pub const DEFLATE_FROM: usize = 700;
/// No record of ours inflates beyond this; a larger result means a corrupt item.
const MAX_INFLATED: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("doc does not inflate: {0}")]
    Inflate(String),
    #[error("doc is not UTF-8")]
    NotText,
    #[error("item has no doc")]
    Missing,
}

/// The `doc` attribute for a record's JSON.
pub fn encode(json: String) -> AttributeValue {
    match json.len() < DEFLATE_FROM {
        true => AttributeValue::S(json),
        false => {
            AttributeValue::B(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6).into())
        }
    }
}

/// A deflated `doc` back to its JSON.
pub fn inflate(bytes: &[u8]) -> Result<String, DocumentError> {
    let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, MAX_INFLATED)
        .map_err(|e| DocumentError::Inflate(format!("{:?}", e.status)))?;
    String::from_utf8(raw).map_err(|_| DocumentError::NotText)
}

/// The JSON of an item's `doc`, whichever way it was stored.
pub fn decode(value: Option<&AttributeValue>) -> Result<std::borrow::Cow<'_, str>, DocumentError> {
    match value {
        Some(AttributeValue::S(text)) => Ok(std::borrow::Cow::Borrowed(text)),
        Some(AttributeValue::B(bytes)) => inflate(bytes.as_ref()).map(std::borrow::Cow::Owned),
        _ => Err(DocumentError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_records_stay_text_and_large_ones_deflate_and_both_read_back() {
        let small = r#"{"id":"1"}"#.to_string();
        let stored = encode(small.clone());
        assert!(matches!(stored, AttributeValue::S(_)));
        assert_eq!(decode(Some(&stored)).unwrap(), small);

        let events: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"status":"in_transit","at":"2026-11-{:02}T10:00:00Z","description":"Arrived at hub"}}"#, i % 28 + 1))
            .collect();
        let large = format!(r#"{{"events":[{}]}}"#, events.join(","));
        let stored = encode(large.clone());
        let AttributeValue::B(bytes) = &stored else {
            panic!("a large record is deflated")
        };
        assert!(
            bytes.as_ref().len() * 3 < large.len(),
            "{} of {}",
            bytes.as_ref().len(),
            large.len()
        );
        assert_eq!(decode(Some(&stored)).unwrap(), large);
    }

    #[test]
    fn corrupt_or_missing_docs_are_errors_not_panics() {
        assert!(decode(None).is_err());
        assert!(decode(Some(&AttributeValue::B(vec![0xff, 0x00, 0x13].into()))).is_err());
        assert!(decode(Some(&AttributeValue::N("1".into()))).is_err());
        // A deflated stream that is not UTF-8.
        let bytes = miniz_oxide::deflate::compress_to_vec(&[0xff, 0xfe, 0xfd], 6);
        assert!(inflate(&bytes).is_err());
    }
}
