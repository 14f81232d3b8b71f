//! Phone numbers as shoppers type them, turned into E.164 by libphonenumber's rules and metadata.
//!
//! This follows libphonenumber's reference (Java) parser step for step: the number is cut out
//! of what surrounds it (and out of a `tel:` URI), checked to look like a phone number, its
//! extension set aside, its international prefix (`+`, or the region's own such as `00`) and
//! country calling code taken off, its national prefix stripped (or rewritten, as Argentina's
//! and the Caribbean's rules do), and the national number that is left is valid when its
//! country's metadata has a number type it matches.
//!
//! The metadata is a table generated from libphonenumber's (`data.rs`, from the `phonenumber`
//! crate's copy), with only what parsing and validating need; its regular expressions are matched
//! by `pattern`. The tests check every pattern against the `regex` crate, and the parser against
//! libphonenumber's own answers (its Python port, `scripts/phone_cases.py`) on numbers written
//! every way the metadata's examples can be. Linking the `phonenumber` crate (its formatting
//! metadata and a full regex engine) cost the store webhook 2.3 MB.

mod pattern;

#[rustfmt::skip]
#[path = "data.rs"]
mod data;

#[cfg(test)]
mod tests;

use pattern::Pattern;
use std::sync::OnceLock;

/// Longest input looked at; longer text is not a phone number someone typed.
const MAX_INPUT: usize = 100;
/// Shortest and longest national significant numbers (libphonenumber's bounds).
const MIN_NATIONAL: usize = 2;
const MAX_NATIONAL: usize = 17;
/// Longest country calling code.
const MAX_CODE_DIGITS: usize = 3;

/// A pattern of the table, by its index in `data::PATTERNS`.
type PatternId = u16;
/// No pattern: the region has no such rule.
const NO_PATTERN: PatternId = PatternId::MAX;

/// Each pattern of the table, parsed the first time it is used and kept for the process.
static PARSED: [OnceLock<Pattern>; data::PATTERN_COUNT] =
    [const { OnceLock::new() }; data::PATTERN_COUNT];

fn pattern(id: PatternId) -> Option<&'static Pattern> {
    let source = data::PATTERNS.get(usize::from(id))?;
    let slot = PARSED.get(usize::from(id))?;
    // The tests parse every pattern; one that did not parse would match nothing.
    Some(slot.get_or_init(|| Pattern::parse(source).unwrap_or_else(|_| Pattern::never())))
}

fn full_match(id: PatternId, digits: &str) -> bool {
    pattern(id).is_some_and(|p| p.matches(digits))
}

fn looking_at(id: PatternId, digits: &str) -> Option<(usize, pattern::Captures)> {
    pattern(id)?.looking_at(digits)
}

/// One number pattern, with the national lengths it allows (none listed: any).
pub(crate) struct Desc {
    pattern: PatternId,
    lengths: &'static [u8],
}

/// A region's (or a non-geographic calling code's) metadata: only what parsing and validating use.
pub(crate) struct Region {
    /// ISO 3166 alpha-2, or `001` for a non-geographic calling code.
    id: &'static str,
    code: u16,
    /// The international dialling prefix, as a pattern (`00`, `011`, `0(?:0|1[0-9])`…).
    idd: PatternId,
    /// What a national number may start with that is not part of it (its national prefix).
    national_prefix_for_parsing: PatternId,
    /// How a matched national prefix is rewritten (`9$1`), when it is.
    transform: &'static str,
    /// Which national numbers belong to this region among those sharing its calling code.
    leading_digits: PatternId,
    general: Desc,
    /// Lengths of numbers only diallable locally (without an area code).
    local_lengths: &'static [u8],
    /// Every number type (fixed line, mobile, toll free…): a match with any makes a number valid.
    kinds: &'static [Desc],
}

/// Parses a phone number as someone typed it; `region` (ISO 3166 alpha-2, any case) is where it
/// would be dialled from, which resolves national formats. Gives the number in E.164 form when
/// it is valid.
pub fn to_e164(raw: &str, region: Option<&str>) -> Option<String> {
    let (code, national) = parse(raw, region)?;
    let owner = region_of(code, &national)?;
    is_valid_for(owner, &national).then(|| format!("+{code}{national}"))
}

/// The region metadata for an ISO 3166 alpha-2 code.
fn region_by_id(id: &str) -> Option<&'static Region> {
    let id = id.trim();
    if id.len() != 2 || !id.is_ascii() {
        return None;
    }
    let id = id.to_ascii_uppercase();
    data::REGIONS
        .binary_search_by(|region| region.id.cmp(id.as_str()))
        .ok()
        .and_then(|at| data::REGIONS.get(at))
}

/// The regions that share a calling code, the main one first.
fn regions_for_code(code: u16) -> &'static [u16] {
    data::CODES
        .binary_search_by_key(&code, |(c, _)| *c)
        .ok()
        .and_then(|at| data::CODES.get(at))
        .map_or(&[], |(_, regions)| regions)
}

fn region_at(index: u16) -> Option<&'static Region> {
    data::REGIONS.get(usize::from(index))
}

fn matches_desc(desc: &Desc, national: &str) -> bool {
    let length_ok = desc.lengths.is_empty()
        || u8::try_from(national.len()).is_ok_and(|len| desc.lengths.contains(&len));
    length_ok && full_match(desc.pattern, national)
}

/// Whether the national number is one of the region's number types.
fn is_valid_for(region: &Region, national: &str) -> bool {
    matches_desc(&region.general, national)
        && region.kinds.iter().any(|kind| matches_desc(kind, national))
}

/// Which region a number belongs to, among those sharing its calling code.
fn region_of(code: u16, national: &str) -> Option<&'static Region> {
    let regions = regions_for_code(code);
    if let [only] = regions {
        return region_at(*only);
    }
    regions.iter().filter_map(|i| region_at(*i)).find(|region| {
        if region.leading_digits == NO_PATTERN {
            is_valid_for(region, national)
        } else {
            looking_at(region.leading_digits, national).is_some()
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

/// How a national number's length compares with the region's (libphonenumber's `testNumberLength`).
fn test_length(region: &Region, national: &str) -> Length {
    let lengths = region.general.lengths;
    let (Some(&shortest), Some(&longest)) = (lengths.first(), lengths.last()) else {
        return Length::Invalid;
    };
    let Ok(length) = u8::try_from(national.len()) else {
        return Length::TooLong;
    };
    if region.local_lengths.contains(&length) {
        Length::LocalOnly
    } else if length < shortest {
        Length::TooShort
    } else if length > longest {
        Length::TooLong
    } else if lengths.contains(&length) {
        Length::Possible
    } else {
        Length::Invalid
    }
}

/// The calling code and national significant number, before validation.
fn parse(raw: &str, region: Option<&str>) -> Option<(u16, String)> {
    if raw.len() > MAX_INPUT {
        return None;
    }
    let default = region.and_then(region_by_id);
    let number = number_for_parsing(raw)?;
    let extension = extension_start(&number);
    if !is_viable_with(&number, extension) {
        return None;
    }
    // Without a region, only a number in international form can be read.
    if default.is_none() && !starts_with_plus(&number) {
        return None;
    }
    let number = match extension {
        Some(at) if is_viable(&number[..at]) => &number[..at],
        _ => number.as_str(),
    };

    let (code, national) = match extract_country_code(number, default) {
        Ok(found) => found,
        Err(Extract::InvalidCode) if starts_with_plus(number) => {
            let after_plus = number.trim_start_matches(is_plus);
            match extract_country_code(after_plus, default) {
                Ok((0, _)) | Err(_) => return None,
                Ok(found) => found,
            }
        }
        Err(_) => return None,
    };
    let (code, mut national, metadata) = if code == 0 {
        // Read in the default region: `national` is the whole number, normalized.
        let default = default?;
        (default.code, national, default)
    } else {
        let main = regions_for_code(code).first().and_then(|i| region_at(*i))?;
        (code, national, main)
    };
    if national.len() < MIN_NATIONAL {
        return None;
    }
    let mut stripped = national.clone();
    if strip_national_prefix(&mut stripped, metadata)
        && matches!(
            test_length(metadata, &stripped),
            Length::Possible | Length::TooLong
        )
    {
        national = stripped;
    }
    (MIN_NATIONAL..=MAX_NATIONAL)
        .contains(&national.len())
        .then_some((code, national))
}

enum Extract {
    InvalidCode,
    TooShort,
}

/// Takes the international prefix and calling code off; `(0, its digits)` when the number
/// carries none and is read in the default region (libphonenumber's `maybeExtractCountryCode`).
fn extract_country_code(number: &str, default: Option<&Region>) -> Result<(u16, String), Extract> {
    let idd = default.map_or(NO_PATTERN, |region| region.idd);
    let (international, digits) = strip_international_prefix(number, idd);
    if international {
        if digits.len() <= MIN_NATIONAL {
            return Err(Extract::TooShort);
        }
        return calling_code(&digits).ok_or(Extract::InvalidCode);
    }
    if let Some(region) = default {
        let code = region.code.to_string();
        if let Some(rest) = digits.strip_prefix(code.as_str()) {
            let mut potential = rest.to_string();
            strip_national_prefix(&mut potential, region);
            let general = region.general.pattern;
            if (!full_match(general, &digits) && full_match(general, &potential))
                || test_length(region, &digits) == Length::TooLong
            {
                return Ok((region.code, potential));
            }
        }
    }
    Ok((0, digits))
}

/// The calling code a string of digits starts with, and what follows it.
fn calling_code(digits: &str) -> Option<(u16, String)> {
    if digits.starts_with('0') {
        return None;
    }
    (1..=MAX_CODE_DIGITS.min(digits.len())).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        (!regions_for_code(code).is_empty()).then(|| (code, digits[len..].to_string()))
    })
}

/// Normalizes the number and takes off a leading `+` or the region's international prefix;
/// tells whether either was there.
fn strip_international_prefix(number: &str, idd: PatternId) -> (bool, String) {
    if starts_with_plus(number) {
        return (true, normalize(number.trim_start_matches(is_plus)));
    }
    let digits = normalize(number);
    let Some((end, _)) = looking_at(idd, &digits) else {
        return (false, digits);
    };
    // Calling codes never start with 0, so a 0 after the prefix means it was not one.
    if digits[end..].starts_with('0') {
        return (false, digits);
    }
    (true, digits[end..].to_string())
}

/// Strips the national prefix (and a carrier code), or rewrites it by the region's rule, unless
/// what is left would no longer be a national number (libphonenumber's
/// `maybeStripNationalPrefixAndCarrierCode`). Tells whether it did.
fn strip_national_prefix(number: &mut String, region: &Region) -> bool {
    if number.is_empty() {
        return false;
    }
    let Some(prefix) = pattern(region.national_prefix_for_parsing) else {
        return false;
    };
    let Some((end, captures)) = prefix.looking_at(number) else {
        return false;
    };
    let general = region.general.pattern;
    let viable_before = full_match(general, number);
    let last_group = match prefix.groups() {
        0 => Some((0, end)),
        n => captures.get(n).copied().flatten(),
    };
    if region.transform.is_empty() || last_group.is_none() {
        if viable_before && !full_match(general, &number[end..]) {
            return false;
        }
        number.drain(..end);
        return true;
    }
    let mut transformed = substitute(region.transform, number, &captures);
    transformed.push_str(&number[end..]);
    if viable_before && !full_match(general, &transformed) {
        return false;
    }
    *number = transformed;
    true
}

/// Fills `$n` in a transform rule with what group `n` matched.
fn substitute(rule: &str, number: &str, captures: &pattern::Captures) -> String {
    let mut out = String::with_capacity(rule.len() + number.len());
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let group = chars.next().and_then(|d| d.to_digit(10));
        if let Some((start, end)) =
            group.and_then(|g| captures.get(usize::try_from(g).ok()?).copied().flatten())
        {
            out.push_str(number.get(start..end).unwrap_or_default());
        }
    }
    out
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

fn starts_with_plus(number: &str) -> bool {
    number.starts_with(is_plus)
}

/// The decimal value of a Unicode decimal digit (any script's, as Java's `Character.digit`).
fn decimal_digit(c: char) -> Option<u32> {
    // The first code point of each run of ten decimal digits (Unicode's Nd category).
    const ZEROS: &[u32] = &[
        0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
        0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
        0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
        0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
        0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
        0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
        0x1E950, 0x1FBF0,
    ];
    let code = u32::from(c);
    let zero = match ZEROS.binary_search(&code) {
        Ok(at) => ZEROS.get(at)?,
        Err(0) => return None,
        Err(after) => ZEROS.get(after - 1)?,
    };
    let value = code - zero;
    (value < 10).then_some(value)
}

fn is_decimal_digit(c: char) -> bool {
    decimal_digit(c).is_some()
}

/// Keeps the digits, as ASCII. A number written with at least three letters (`1-800-FLOWERS`)
/// has its letters read as a phone keypad's, and then only ASCII digits are kept beside them.
fn normalize(number: &str) -> String {
    if number.chars().filter(char::is_ascii_alphabetic).count() >= 3 {
        number
            .chars()
            .filter_map(|c| match c.to_ascii_uppercase() {
                d @ '0'..='9' => Some(d),
                letter @ 'A'..='Z' => Some(keypad(letter)),
                _ => None,
            })
            .collect()
    } else {
        number
            .chars()
            .filter_map(decimal_digit)
            .filter_map(|d| char::from_digit(d, 10))
            .collect()
    }
}

fn keypad(letter: char) -> char {
    match letter {
        'A'..='C' => '2',
        'D'..='F' => '3',
        'G'..='I' => '4',
        'J'..='L' => '5',
        'M'..='O' => '6',
        'P'..='S' => '7',
        'T'..='V' => '8',
        _ => '9',
    }
}

const PHONE_CONTEXT: &str = ";phone-context=";

/// The part of the input that is the number: from a `tel:` URI (with its `phone-context`), or
/// from the first digit or `+` to the last letter, digit or `#`, before any second number.
fn number_for_parsing(raw: &str) -> Option<String> {
    let mut number = if let Some(at) = raw.find(PHONE_CONTEXT) {
        let after = &raw[at + PHONE_CONTEXT.len()..];
        let context = after.split(';').next().unwrap_or_default();
        if !is_valid_phone_context(context) {
            return None;
        }
        let mut number = String::new();
        if context.starts_with('+') {
            number.push_str(context);
        }
        let start = raw.find("tel:").map_or(0, |tel| tel + 4);
        number.push_str(raw.get(start..at)?);
        number
    } else {
        possible_number(raw).to_string()
    };
    if let Some(at) = number.find(";isub=").filter(|at| *at > 0) {
        number.truncate(at);
    }
    Some(number)
}

/// A `phone-context` is a global number (`+64`) or a domain name.
fn is_valid_phone_context(context: &str) -> bool {
    if let Some(digits) = context.strip_prefix('+') {
        return digits.chars().any(is_decimal_digit)
            && digits
                .chars()
                .all(|c| is_decimal_digit(c) || matches!(c, '-' | '.' | '(' | ')'));
    }
    let name = context.strip_suffix('.').unwrap_or(context);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphabetic() || is_decimal_digit(c) || c == '-')
    };
    labels.iter().all(|label| label_ok(label))
        && labels
            .last()
            .is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()))
}

fn possible_number(raw: &str) -> &str {
    let Some(start) = raw.find(|c: char| is_plus(c) || is_decimal_digit(c)) else {
        return "";
    };
    let number = &raw[start..];
    let number = number.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '#'));
    match second_number_start(number) {
        Some(at) => &number[..at],
        None => number,
    }
}

/// Where `/ x` or `\x` starts a second number (`(530) 583-6985 x302/x2303`).
fn second_number_start(number: &str) -> Option<usize> {
    number.char_indices().find_map(|(at, c)| {
        let rest = number.get(at + c.len_utf8()..)?;
        ((c == '/' || c == '\\') && rest.trim_start_matches(' ').starts_with('x')).then_some(at)
    })
}

fn is_punctuation(c: char) -> bool {
    matches!(c,
        '-' | 'x' | 'X' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}'..='\u{FF0F}'
        | ' ' | '\u{00A0}' | '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{3000}' | '(' | ')'
        | '\u{FF08}' | '\u{FF09}' | '\u{FF3B}' | '\u{FF3D}' | '.' | '[' | ']' | '/' | '~'
        | '\u{2053}' | '\u{223C}' | '\u{FF5E}' | '*')
}

/// Whether the text looks like a phone number at all: two digits, or at least three digits
/// among punctuation after any `+`, then perhaps letters; an extension may follow.
fn is_viable(number: &str) -> bool {
    is_viable_with(number, extension_start(number))
}

/// [`is_viable`], given where the text's extension starts (found once by the caller).
fn is_viable_with(number: &str, extension: Option<usize>) -> bool {
    if number.chars().count() < MIN_NATIONAL {
        return false;
    }
    let looks_like_number = |text: &str| {
        if text.chars().count() == 2 && text.chars().all(is_decimal_digit) {
            return true;
        }
        let rest = text.trim_start_matches(is_plus);
        let mut digits = 0;
        for c in rest.chars() {
            if is_decimal_digit(c) {
                digits += 1;
            } else if c.is_ascii_alphabetic() && !matches!(c, 'x' | 'X') {
                if digits < 3 {
                    return false;
                }
            } else if !is_punctuation(c) {
                return false;
            }
        }
        digits >= 3
    };
    looks_like_number(number) || extension.is_some_and(|at| looks_like_number(&number[..at]))
}

/// Where an extension (`ext. 1234`, `x12`, `#3456`, `;ext=12`, `,,12`) at the end of the text
/// begins: the leftmost place from which the rest is one.
fn extension_start(number: &str) -> Option<usize> {
    number
        .char_indices()
        .map(|(at, _)| at)
        .find(|at| is_extension(&number[*at..]))
}

/// libphonenumber's extension forms, each with its own longest extension.
fn is_extension(text: &str) -> bool {
    // `e?xt(?:ensi(?:o\u0301?|ó))?n?`, spelled out, then the full-width, Russian and Spanish labels.
    const EXPLICIT: &[&str] = &[
        "xt",
        "xtn",
        "xtensio",
        "xtension",
        "xtensio\u{301}",
        "xtensio\u{301}n",
        "xtensi\u{f3}",
        "xtensi\u{f3}n",
        "ext",
        "extn",
        "extensio",
        "extension",
        "extensio\u{301}",
        "extensio\u{301}n",
        "extensi\u{f3}",
        "extensi\u{f3}n",
        "\u{ff58}\u{ff54}",
        "\u{ff58}\u{ff54}\u{ff4e}",
        "\u{ff45}\u{ff58}\u{ff54}",
        "\u{ff45}\u{ff58}\u{ff54}\u{ff4e}",
        "\u{434}\u{43e}\u{431}",
        "anexo",
    ];
    const AMBIGUOUS: &[&str] = &[
        "x",
        "\u{ff58}",
        "#",
        "\u{ff03}",
        "~",
        "\u{ff5e}",
        "int",
        "\u{ff49}\u{ff4e}\u{ff54}",
    ];
    let label_then = |text: &str, labels: &[&str], longest: usize| {
        labels.iter().any(|label| {
            strip_prefix_ignoring_ascii_case(text, label)
                .is_some_and(|rest| digits_to_end(after_label(rest), longest, false))
        })
    };
    if let Some(rest) = text.strip_prefix(";ext=") {
        if digits_to_end(rest, 20, false) {
            return true;
        }
    }
    let spaced = text.trim_start_matches([' ', '\u{00A0}', '\t', ',']);
    if label_then(spaced, EXPLICIT, 20) || label_then(spaced, AMBIGUOUS, 9) {
        return true;
    }
    let dashed = text.trim_start_matches(['-', ' ']);
    if dashed.len() < text.len() && digits_to_end(dashed, 6, true) {
        return true;
    }
    let unspaced = text.trim_start_matches([' ', '\u{00A0}', '\t']);
    if let Some(rest) = unspaced
        .strip_prefix(",,")
        .or_else(|| unspaced.strip_prefix(';'))
    {
        if digits_to_end(after_label(rest), 15, false) {
            return true;
        }
    }
    let commas = unspaced.trim_start_matches(',');
    commas.len() < unspaced.len() && digits_to_end(after_label(commas), 9, false)
}

fn strip_prefix_ignoring_ascii_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// What may come between an extension's label and its digits: `:` or `.`, then spaces or dashes.
fn after_label(text: &str) -> &str {
    let text = text.strip_prefix([':', '.', '\u{FF0E}']).unwrap_or(text);
    text.trim_start_matches([' ', '\u{00A0}', '\t', ',', '-'])
}

/// One to `longest` digits, then a `#` (which `hash_required` insists on), then the end.
fn digits_to_end(text: &str, longest: usize, hash_required: bool) -> bool {
    let digits = text.chars().take_while(|c| is_decimal_digit(*c)).count();
    let rest: &str = text
        .char_indices()
        .nth(digits)
        .map_or("", |(at, _)| &text[at..]);
    (1..=longest).contains(&digits) && (rest == "#" || (!hash_required && rest.is_empty()))
}
