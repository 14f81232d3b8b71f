//! SMS length in segments: GSM-7 (160 per message, 153 per part) unless a character needs UCS-2
//! (70, 67 per part; Thai always does). Counted in the units carriers bill.

/// The GSM 03.38 basic character set.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs two septets (escape + character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{0c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

pub fn measure(text: &str) -> Length {
    let mut septets = 0;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENDED.contains(c) {
            septets += 2;
        } else {
            let units = text.encode_utf16().count();
            return Length {
                encoding: Encoding::Ucs2,
                units,
                segments: segments(units, 70, 67),
            };
        }
    }
    Length {
        encoding: Encoding::Gsm7,
        units: septets,
        segments: segments(septets, 160, 153),
    }
}

fn segments(units: usize, single: usize, per_part: usize) -> usize {
    match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(per_part),
    }
}

/// Shortens `text` to at most `max_segments`, keeping a trailing link whole: the words before it
/// are cut and end in "…".
pub fn fit(text: &str, max_segments: usize) -> String {
    if max_segments == 0 || measure(text).segments <= max_segments {
        return text.to_string();
    }
    let (prose, link) = match text.rsplit_once(char::is_whitespace) {
        Some((prose, link)) if link.starts_with("http") => (prose, Some(link)),
        _ => (text, None),
    };
    let compose = |prose: &str| match link {
        Some(link) => format!("{prose}… {link}"),
        None => format!("{prose}…"),
    };
    let chars: Vec<char> = prose.chars().collect();
    // The longest prefix that fits (length is monotonic in the prefix, so bisect).
    let (mut low, mut high) = (0, chars.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        let candidate: String = chars[..mid].iter().collect();
        if measure(&compose(candidate.trim_end())).segments <= max_segments {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let prefix: String = chars[..low].iter().collect();
    compose(prefix.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_english_is_gsm7_with_160_then_153_per_part() {
        assert_eq!(
            measure(&"a".repeat(160)),
            Length {
                encoding: Encoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(measure(&"a".repeat(161)).segments, 2);
        assert_eq!(measure(&"a".repeat(306)).segments, 2);
        assert_eq!(measure(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extended_characters_cost_two_septets() {
        assert_eq!(measure("€").units, 2);
        assert_eq!(measure(&"{".repeat(80)).segments, 1);
        assert_eq!(measure(&"{".repeat(81)).segments, 2);
    }

    #[test]
    fn thai_is_ucs2_with_70_then_67_per_part() {
        let thai = "พัสดุของคุณกำลังจัดส่ง"; // "your parcel is out for delivery"
        let length = measure(thai);
        assert_eq!(length.encoding, Encoding::Ucs2);
        assert_eq!(length.units, thai.chars().count());
        assert_eq!(measure(&"ก".repeat(70)).segments, 1);
        assert_eq!(measure(&"ก".repeat(71)).segments, 2);
        assert_eq!(measure(&"ก".repeat(134)).segments, 2);
        assert_eq!(measure(&"ก".repeat(135)).segments, 3);
        // One Thai character makes an otherwise-GSM message UCS-2.
        assert_eq!(measure(&format!("{}ก", "a".repeat(69))).segments, 1);
        assert_eq!(measure(&format!("{}ก", "a".repeat(70))).segments, 2);
    }

    #[test]
    fn fitting_keeps_the_link_and_respects_the_cap() {
        let link = "https://track.example.com/t/abcdefghijklmnopqrstuvwxyz012345";
        let text = format!("{} {link}", "ข้อความยาวมาก ".repeat(20));
        let fitted = fit(&text, 2);
        assert!(measure(&fitted).segments <= 2, "{fitted}");
        assert!(fitted.ends_with(link));
        assert!(fitted.contains('…'));
        assert_eq!(fit("short", 2), "short");
    }
}
