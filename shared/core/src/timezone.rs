//! Where a customer is in time: their profile's zone, else the shipping address's, else the merchant's.

use crate::zones::Tz;
use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use serde::{Deserialize, Serialize};

/// Which source a customer's timezone came from, so a later, better source can replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimezoneSource {
    Profile,
    Address,
    MerchantDefault,
}

/// Countries that span one zone (or where one zone serves nearly everyone).
const COUNTRY_ZONES: &[(&str, &str)] = &[
    ("TH", "Asia/Bangkok"),
    ("SG", "Asia/Singapore"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("PH", "Asia/Manila"),
    ("KH", "Asia/Phnom_Penh"),
    ("LA", "Asia/Vientiane"),
    ("MM", "Asia/Yangon"),
    ("JP", "Asia/Tokyo"),
    ("KR", "Asia/Seoul"),
    ("CN", "Asia/Shanghai"),
    ("HK", "Asia/Hong_Kong"),
    ("TW", "Asia/Taipei"),
    ("IN", "Asia/Kolkata"),
    ("AE", "Asia/Dubai"),
    ("GB", "Europe/London"),
    ("IE", "Europe/Dublin"),
    ("DE", "Europe/Berlin"),
    ("FR", "Europe/Paris"),
    ("NL", "Europe/Amsterdam"),
    ("BE", "Europe/Brussels"),
    ("IT", "Europe/Rome"),
    ("ES", "Europe/Madrid"),
    ("PT", "Europe/Lisbon"),
    ("CH", "Europe/Zurich"),
    ("AT", "Europe/Vienna"),
    ("SE", "Europe/Stockholm"),
    ("NO", "Europe/Oslo"),
    ("DK", "Europe/Copenhagen"),
    ("FI", "Europe/Helsinki"),
    ("PL", "Europe/Warsaw"),
    ("NZ", "Pacific/Auckland"),
    ("ZA", "Africa/Johannesburg"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("CL", "America/Santiago"),
    ("CO", "America/Bogota"),
    ("PE", "America/Lima"),
    // Several zones, but the capital's serves most addresses when no province is given.
    ("ID", "Asia/Jakarta"),
    ("BR", "America/Sao_Paulo"),
    ("MX", "America/Mexico_City"),
];

/// Countries with several zones, resolved by province or state code.
const PROVINCE_ZONES: &[(&str, &[(&str, &str)])] = &[
    (
        "US",
        &[
            ("AL", "America/Chicago"),
            ("AK", "America/Anchorage"),
            ("AZ", "America/Phoenix"),
            ("AR", "America/Chicago"),
            ("CA", "America/Los_Angeles"),
            ("CO", "America/Denver"),
            ("CT", "America/New_York"),
            ("DE", "America/New_York"),
            ("DC", "America/New_York"),
            ("FL", "America/New_York"),
            ("GA", "America/New_York"),
            ("HI", "Pacific/Honolulu"),
            ("ID", "America/Boise"),
            ("IL", "America/Chicago"),
            ("IN", "America/Indiana/Indianapolis"),
            ("IA", "America/Chicago"),
            ("KS", "America/Chicago"),
            ("KY", "America/New_York"),
            ("LA", "America/Chicago"),
            ("ME", "America/New_York"),
            ("MD", "America/New_York"),
            ("MA", "America/New_York"),
            ("MI", "America/Detroit"),
            ("MN", "America/Chicago"),
            ("MS", "America/Chicago"),
            ("MO", "America/Chicago"),
            ("MT", "America/Denver"),
            ("NE", "America/Chicago"),
            ("NV", "America/Los_Angeles"),
            ("NH", "America/New_York"),
            ("NJ", "America/New_York"),
            ("NM", "America/Denver"),
            ("NY", "America/New_York"),
            ("NC", "America/New_York"),
            ("ND", "America/Chicago"),
            ("OH", "America/New_York"),
            ("OK", "America/Chicago"),
            ("OR", "America/Los_Angeles"),
            ("PA", "America/New_York"),
            ("RI", "America/New_York"),
            ("SC", "America/New_York"),
            ("SD", "America/Chicago"),
            ("TN", "America/Chicago"),
            ("TX", "America/Chicago"),
            ("UT", "America/Denver"),
            ("VT", "America/New_York"),
            ("VA", "America/New_York"),
            ("WA", "America/Los_Angeles"),
            ("WV", "America/New_York"),
            ("WI", "America/Chicago"),
            ("WY", "America/Denver"),
            ("PR", "America/Puerto_Rico"),
            ("GU", "Pacific/Guam"),
        ],
    ),
    (
        "CA",
        &[
            ("ON", "America/Toronto"),
            ("QC", "America/Toronto"),
            ("BC", "America/Vancouver"),
            ("AB", "America/Edmonton"),
            ("MB", "America/Winnipeg"),
            ("SK", "America/Regina"),
            ("NS", "America/Halifax"),
            ("NB", "America/Moncton"),
            ("NL", "America/St_Johns"),
            ("PE", "America/Halifax"),
            ("YT", "America/Whitehorse"),
            ("NT", "America/Yellowknife"),
            ("NU", "America/Iqaluit"),
        ],
    ),
    (
        "AU",
        &[
            ("NSW", "Australia/Sydney"),
            ("ACT", "Australia/Sydney"),
            ("VIC", "Australia/Melbourne"),
            ("QLD", "Australia/Brisbane"),
            ("SA", "Australia/Adelaide"),
            ("WA", "Australia/Perth"),
            ("TAS", "Australia/Hobart"),
            ("NT", "Australia/Darwin"),
        ],
    ),
];

/// Validates an IANA zone name.
/// The country a zone is the only zone of (`Asia/Bangkok` -> `TH`), for reading national phone
/// numbers of customers who gave a zone but no address.
pub fn country_of_zone(zone: &str) -> Option<&'static str> {
    let mut countries = COUNTRY_ZONES.iter().filter(|(_, z)| *z == zone);
    let (country, _) = countries.next()?;
    countries.next().is_none().then_some(*country)
}

pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// An instant as wall-clock time in a zone. Total: `None` only at the ends of chrono's range
/// (chrono's own `with_timezone(..).date_naive()` panics there).
pub fn local_datetime(t: DateTime<Utc>, zone: Tz) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc().checked_add_offset(offset)
}

/// The calendar day an instant falls on in a zone (see [`local_datetime`]).
pub fn local_date(t: DateTime<Utc>, zone: Tz) -> Option<NaiveDate> {
    local_datetime(t, zone).map(|t| t.date())
}

/// A wall-clock time on a date in a zone, as an instant. In a DST gap the clock jumps past the
/// time, so the first instant after the gap is used; in an overlap, the earlier one. `None` only
/// at the ends of chrono's range.
pub fn instant_at(zone: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let mut probe = date.and_time(time);
    // No zone has a gap longer than a day; 15-minute steps find its end.
    for _ in 0..=(24 * 4) {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _) => return Some(earlier.with_timezone(&Utc)),
            LocalResult::None => probe = probe.checked_add_signed(Duration::minutes(15))?,
        }
    }
    None
}

/// The zone of a shipping address: by province where the country has several zones, else by country.
pub fn zone_for_address(country_code: &str, province_code: Option<&str>) -> Option<&'static str> {
    let country = country_code.trim().to_ascii_uppercase();
    if let Some((_, provinces)) = PROVINCE_ZONES.iter().find(|(c, _)| *c == country) {
        let province = province_code?.trim().to_ascii_uppercase();
        return provinces
            .iter()
            .find(|(p, _)| *p == province)
            .map(|(_, zone)| *zone);
    }
    COUNTRY_ZONES
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, zone)| *zone)
}

/// Picks a customer's zone from the best source available.
pub fn resolve(
    profile_zone: Option<&str>,
    country_code: Option<&str>,
    province_code: Option<&str>,
    merchant_default: &str,
) -> (String, TimezoneSource) {
    if let Some(zone) = profile_zone.and_then(parse_zone) {
        return (zone.name().to_string(), TimezoneSource::Profile);
    }
    if let Some(zone) = country_code.and_then(|c| zone_for_address(c, province_code)) {
        return (zone.to_string(), TimezoneSource::Address);
    }
    (
        merchant_default.to_string(),
        TimezoneSource::MerchantDefault,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_in_the_tables_is_a_real_iana_zone() {
        let zones = COUNTRY_ZONES.iter().map(|(_, z)| *z).chain(
            PROVINCE_ZONES
                .iter()
                .flat_map(|(_, p)| p.iter().map(|(_, z)| *z)),
        );
        for zone in zones {
            assert!(parse_zone(zone).is_some(), "{zone}");
        }
    }

    #[test]
    fn profile_beats_address_beats_merchant_default() {
        assert_eq!(
            resolve(Some("Asia/Tokyo"), Some("TH"), None, "UTC"),
            ("Asia/Tokyo".into(), TimezoneSource::Profile)
        );
        assert_eq!(
            resolve(Some("Mars/Olympus"), Some("TH"), None, "UTC"),
            ("Asia/Bangkok".into(), TimezoneSource::Address)
        );
        assert_eq!(
            resolve(None, Some("US"), Some("KY"), "UTC"),
            ("America/New_York".into(), TimezoneSource::Address)
        );
        assert_eq!(
            resolve(None, Some("US"), Some("CA"), "UTC"),
            ("America/Los_Angeles".into(), TimezoneSource::Address)
        );
        assert_eq!(
            resolve(None, Some("CA"), Some("on"), "UTC"),
            ("America/Toronto".into(), TimezoneSource::Address)
        );
        // A multi-zone country with no province falls back rather than guessing.
        assert_eq!(
            resolve(None, Some("US"), None, "Asia/Bangkok"),
            ("Asia/Bangkok".into(), TimezoneSource::MerchantDefault)
        );
        assert_eq!(
            resolve(None, Some("ZZ"), None, "UTC"),
            ("UTC".into(), TimezoneSource::MerchantDefault)
        );
    }
}
