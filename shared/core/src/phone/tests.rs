//! The table is generated from the `phonenumber` crate's copy of libphonenumber's metadata, its
//! patterns are checked against the `regex` crate, and the parser against libphonenumber's own
//! answers (`scripts/phone_cases.py`). Regenerate the table with
//! `DOORSTEP_WRITE_PHONES=1 cargo test -p doorstep-core phone::tests::table`.

use super::pattern::Pattern;
use super::*;
use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;

fn squeeze(pattern: &str) -> String {
    pattern.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The number types a number can be valid as, in libphonenumber's order.
fn kinds(meta: &Metadata) -> Vec<&Descriptor> {
    let d = meta.descriptors();
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn sorted_metadata() -> Vec<&'static Metadata> {
    // The crate keeps one non-geographic entry by id, so those come by calling code.
    let mut all: Vec<&Metadata> = DATABASE.iter().filter(|m| m.id() != "001").collect();
    for code in 1..1000u16 {
        if DATABASE.region(&code).is_some_and(|ids| ids == ["001"]) {
            all.extend(DATABASE.by_code(&code).unwrap_or_default());
        }
    }
    all.sort_by_key(|m| (m.id().to_string(), m.country_code()));
    all
}

fn lengths(list: &BTreeSet<u16>) -> String {
    let items: Vec<String> = list.iter().map(u16::to_string).collect();
    format!("&[{}]", items.join(", "))
}

/// Patterns are kept once each, in the order they first appear; regions refer to them by index.
#[derive(Default)]
struct Patterns(Vec<String>);

impl Patterns {
    fn id(&mut self, source: Option<String>) -> String {
        let Some(source) = source.filter(|s| !s.is_empty()) else {
            return "NO_PATTERN".to_string();
        };
        let at = match self.0.iter().position(|p| *p == source) {
            Some(at) => at,
            None => {
                self.0.push(source);
                self.0.len() - 1
            }
        };
        at.to_string()
    }
}

fn generate() -> String {
    let all = sorted_metadata();
    let mut patterns = Patterns::default();
    let mut regions = String::new();
    for meta in &all {
        let kinds = kinds(meta);
        // libphonenumber's general lengths are the union of its types' lengths.
        let national: BTreeSet<u16> = kinds
            .iter()
            .flat_map(|k| k.possible_length().iter().copied())
            .collect();
        let local: BTreeSet<u16> = kinds
            .iter()
            .flat_map(|k| k.possible_local_length().iter().copied())
            .filter(|l| !national.contains(l))
            .collect();
        let mut seen = BTreeSet::new();
        let mut kind_text = String::new();
        for kind in kinds {
            let source = squeeze(kind.national_number().as_str());
            let own: BTreeSet<u16> = kind.possible_length().iter().copied().collect();
            if seen.insert((source.clone(), own.clone())) {
                write!(
                    kind_text,
                    "Desc {{ pattern: {}, lengths: {} }}, ",
                    patterns.id(Some(source)),
                    lengths(&own)
                )
                .unwrap();
            }
        }
        let for_parsing = meta
            .national_prefix_for_parsing()
            .map(|p| squeeze(p.as_str()))
            .or_else(|| meta.national_prefix().map(str::to_string));
        let idd = patterns.id(meta.international_prefix().map(|p| squeeze(p.as_str())));
        let for_parsing = patterns.id(for_parsing);
        let leading = patterns.id(meta.leading_digits().map(|p| squeeze(p.as_str())));
        let general = patterns.id(Some(squeeze(
            meta.descriptors().general().national_number().as_str(),
        )));
        writeln!(
            regions,
            "    Region {{ id: {:?}, code: {}, idd: {idd}, national_prefix_for_parsing: {for_parsing}, transform: {:?}, leading_digits: {leading}, general: Desc {{ pattern: {general}, lengths: {} }}, local_lengths: {}, kinds: &[{}] }},",
            meta.id(),
            meta.country_code(),
            meta.national_prefix_transform_rule().unwrap_or_default(),
            lengths(&national),
            lengths(&local),
            kind_text.trim_end(),
        )
        .unwrap();
    }
    let mut out = String::from(
        "// Generated from libphonenumber's metadata (the phonenumber crate's copy) by `phone::tests`: do not edit.\n\n\
         use super::{Desc, Region, NO_PATTERN};\n\n",
    );
    writeln!(
        out,
        "pub(super) const PATTERN_COUNT: usize = {};\n",
        patterns.0.len()
    )
    .unwrap();
    out.push_str(
        "/// Every pattern, once.\npub(super) static PATTERNS: [&str; PATTERN_COUNT] = [\n",
    );
    for source in &patterns.0 {
        writeln!(out, "    {source:?},").unwrap();
    }
    out.push_str("];\n\n/// Every region, sorted by id (non-geographic calling codes, `001`, first).\npub(super) static REGIONS: &[Region] = &[\n");
    out.push_str(&regions);
    out.push_str("];\n\n/// Each calling code with its regions (indexes into `REGIONS`), the main one first.\npub(super) static CODES: &[(u16, &[u16])] = &[\n");
    let codes: BTreeSet<u16> = all.iter().map(|m| m.country_code()).collect();
    for code in codes {
        let regions = DATABASE.region(&code).unwrap();
        let indexes: Vec<String> = regions
            .iter()
            .map(|id| {
                all.iter()
                    .position(|m| m.id() == *id && m.country_code() == code)
                    .unwrap()
                    .to_string()
            })
            .collect();
        writeln!(out, "    ({code}, &[{}]),", indexes.join(", ")).unwrap();
    }
    out.push_str("];\n");
    out
}

#[test]
fn table_is_libphonenumbers_metadata() {
    let generated = generate();
    if std::env::var_os("DOORSTEP_WRITE_PHONES").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/phone/data.rs");
        std::fs::write(path, &generated).unwrap();
    }
    let current = include_str!("data.rs");
    assert!(
        current == generated,
        "src/phone/data.rs is not what the phonenumber crate's metadata gives: regenerate it"
    );
}

/// Every pattern in the table.
fn every_pattern() -> Vec<&'static str> {
    data::PATTERNS.to_vec()
}

/// The sources of a region's patterns.
fn region_patterns(r: &Region) -> Vec<&'static str> {
    [
        r.idd,
        r.national_prefix_for_parsing,
        r.leading_digits,
        r.general.pattern,
    ]
    .into_iter()
    .chain(r.kinds.iter().map(|k| k.pattern))
    .filter_map(|id| data::PATTERNS.get(usize::from(id)).copied())
    .collect()
}

#[test]
fn every_pattern_in_the_table_parses() {
    let patterns = every_pattern();
    assert!(patterns.len() > 1000, "{}", patterns.len());
    for source in patterns {
        assert!(Pattern::parse(source).is_ok(), "{source}");
    }
}

/// What the `regex` crate says, the way libphonenumber asks: a whole match, and the preferred
/// match from the start with its groups.
type Outcome = (bool, Option<(usize, Vec<Option<(usize, usize)>>)>);

fn compile(source: &str) -> (regex::Regex, regex::Regex) {
    (
        regex::Regex::new(&format!("^(?:{source})$")).unwrap(),
        regex::Regex::new(&format!("^(?:{source})")).unwrap(),
    )
}

fn reference(source: &str, digits: &str) -> Outcome {
    reference_with(&compile(source), digits)
}

fn reference_with((whole, prefix): &(regex::Regex, regex::Regex), digits: &str) -> Outcome {
    let looking_at = prefix.captures(digits).map(|c| {
        let end = c.get(0).unwrap().end();
        let groups = (1..c.len())
            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
            .collect();
        (end, groups)
    });
    (whole.is_match(digits), looking_at)
}

fn ours(source: &str, digits: &str) -> Outcome {
    let pattern = Pattern::parse(source).unwrap();
    let looking_at = pattern.looking_at(digits).map(|(end, caps)| {
        let groups = caps[1..=pattern.groups()].to_vec();
        (end, groups)
    });
    (pattern.matches(digits), looking_at)
}

/// Digit strings a pattern is likely to be tried on: its region's examples, changed a little.
fn probes_for(region: &Region, seed: u64) -> Vec<String> {
    let mut probes = Vec::new();
    let examples: Vec<String> = DATABASE
        .iter()
        .filter(|m| m.id() == region.id && m.country_code() == region.code)
        .flat_map(|m| {
            kinds(m)
                .into_iter()
                .filter_map(|k| k.example().map(str::to_string))
        })
        .collect();
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for example in &examples {
        probes.push(example.clone());
        for prefix in ["0", "1", "00", "011", "9", "15"] {
            probes.push(format!("{prefix}{example}"));
        }
        for _ in 0..6 {
            let mut digits: Vec<u8> = example.bytes().collect();
            let at = (next() as usize) % digits.len().max(1);
            match next() % 3 {
                0 if !digits.is_empty() => {
                    digits.remove(at);
                }
                1 => digits.insert(at, b'0' + (next() % 10) as u8),
                _ => {
                    if let Some(d) = digits.get_mut(at) {
                        *d = b'0' + (next() % 10) as u8;
                    }
                }
            }
            probes.push(String::from_utf8(digits).unwrap());
        }
    }
    probes
}

#[test]
fn every_pattern_matches_as_the_regex_crate_does_on_its_regions_numbers() {
    let mut compiled = std::collections::HashMap::new();
    for (i, region) in data::REGIONS.iter().enumerate() {
        let probes = probes_for(region, i as u64 + 7);
        for source in region_patterns(region) {
            let regexes = compiled.entry(source).or_insert_with(|| compile(source));
            for digits in &probes {
                assert_eq!(
                    ours(source, digits),
                    reference_with(regexes, digits),
                    "{} {source} on {digits}",
                    region.id
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_pattern_matches_any_digits_as_the_regex_crate_does(
        which in 0usize..100_000,
        digits in "[0-9]{0,20}",
    ) {
        let patterns = every_pattern();
        let source = patterns[which % patterns.len()];
        prop_assert_eq!(ours(source, &digits), reference(source, &digits), "{}", source);
    }
}

/// The cases `scripts/phone_cases.py` wrote, with libphonenumber's own answers
/// (`scripts/test.sh` writes them to `target/phone_cases.jsonl` before the tests run).
#[test]
fn parses_every_case_as_libphonenumber_does() {
    let path = std::env::var("DOORSTEP_PHONE_CASES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/phone_cases.jsonl"
        )
        .to_string()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}; write it with `.venv/bin/python scripts/phone_cases.py {path}`")
    });
    let mut differences = Vec::new();
    let mut total = 0;
    for line in text.lines() {
        let (raw, region, expected): (String, String, String) = serde_json::from_str(line).unwrap();
        let region = (!region.is_empty()).then_some(region.as_str());
        let expected = (!expected.is_empty()).then_some(expected);
        let ours = to_e164(&raw, region);
        total += 1;
        // A number's E.164 form reads back as itself.
        if let Some(e164) = &ours {
            assert_eq!(
                to_e164(e164, None).as_ref(),
                Some(e164),
                "{raw:?} in {region:?}"
            );
        }
        if ours != expected {
            differences.push(format!(
                "{raw:?} in {region:?}: ours {ours:?}, libphonenumber {expected:?}"
            ));
        }
    }
    assert!(total > 40_000, "{total}");
    assert!(
        differences.is_empty(),
        "{} of {total} differ:\n{}",
        differences.len(),
        differences[..differences.len().min(80)].join("\n")
    );
}

#[test]
fn shoppers_numbers_as_they_type_them() {
    for (raw, region, e164) in [
        ("081 234 5678", Some("TH"), Some("+66812345678")),
        ("๐๘๑ ๒๓๔ ๕๖๗๘", Some("th"), Some("+66812345678")),
        // The calling code typed without its `+`.
        ("66812345678", Some("TH"), Some("+66812345678")),
        ("+66 81 234 5678", None, Some("+66812345678")),
        ("+44 (0) 20 7946 0958", None, Some("+442079460958")),
        // Argentina's mobile prefix 15 becomes the 9 of its international form.
        ("011 15-2345-6789", Some("AR"), Some("+5491123456789")),
        ("+1 650 253 0000 ext. 1234", None, Some("+16502530000")),
        ("1-800-FLOWERS", Some("US"), Some("+18003569377")),
        (
            "tel:03-331-6005;phone-context=+64",
            None,
            Some("+6433316005"),
        ),
        ("0064 3 331 6005", Some("NZ"), Some("+6433316005")),
        ("090-1234-5678", Some("JP"), Some("+819012345678")),
        ("0412 345 678", Some("AU"), Some("+61412345678")),
        // Shopify's sample order carries this one; area code 555 does not exist.
        ("555-555-SHIP", Some("US"), None),
        // A national number needs a region to be read in.
        ("0812345678", None, None),
        ("0812345678", Some("XX"), None),
    ] {
        assert_eq!(to_e164(raw, region).as_deref(), e164, "{raw} in {region:?}");
    }
}

#[test]
fn long_or_strange_input_is_refused_quickly() {
    assert_eq!(to_e164(&"9".repeat(MAX_INPUT + 1), Some("US")), None);
    assert_eq!(to_e164(&"+1".repeat(50), None), None);
    assert_eq!(to_e164(&"x#,;".repeat(25), Some("TH")), None);
}

#[test]
fn patterns_outside_the_subset_are_refused() {
    for source in [
        "a", "\\w", "(?=1)", "1*", "1+", "[a-z]", "(1", "1)", "[]", "1{2", "1{3,2}", "[9-1]",
    ] {
        assert!(Pattern::parse(source).is_err(), "{source}");
    }
}
