//! IANA time zones, kept small: each zone as the UTC offsets it has used since 1990, no earlier
//! instant being one Doorstep handles (`bounds` accepts years 2000 to 2099).
//!
//! chrono-tz keeps every zone's whole history with its abbreviations, about 2 MB of static data
//! in every function that needs local time, for the few hundred bytes of it those years use.
//! The table in `zones_data.rs` is generated from chrono-tz's own tzdata and checked against it
//! by the tests below, which fail when a chrono-tz update brings new rules (regenerate with
//! `DOORSTEP_WRITE_ZONES=1 cargo test --release -p doorstep-core zones::`).

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use std::fmt;
use std::str::FromStr;

#[rustfmt::skip]
#[path = "zones_data.rs"]
mod data;

/// Seconds in a minute: transitions are kept as minutes since the Unix epoch.
const MINUTE: i64 = 60;

/// A zone, by its IANA name (links such as `US/Eastern` included).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tz(u16);

impl Tz {
    pub const UTC: Tz = Tz(data::UTC);

    /// The zone's IANA name, as it was asked for.
    pub fn name(self) -> &'static str {
        data::NAMES
            .get(usize::from(self.0))
            .map_or("UTC", |(name, _)| name)
    }

    /// Every zone, by name.
    pub fn all() -> impl Iterator<Item = Tz> {
        (0..data::NAMES.len()).filter_map(|i| u16::try_from(i).ok().map(Tz))
    }

    /// `(offset before the first change, [(minute of change, offset from then)])`.
    fn rules(self) -> (i32, &'static [(i32, i32)]) {
        data::NAMES
            .get(usize::from(self.0))
            .and_then(|(_, rules)| data::RULES.get(usize::from(*rules)))
            .copied()
            .unwrap_or((0, &[]))
    }

    /// The offset (seconds east of UTC) in force at a Unix time.
    fn offset_at(self, unix: i64) -> i32 {
        let (initial, changes) = self.rules();
        let minute = unix.div_euclid(MINUTE);
        let after = changes.partition_point(|(at, _)| i64::from(*at) <= minute);
        match after.checked_sub(1).and_then(|i| changes.get(i)) {
            Some((_, offset)) => *offset,
            None => initial,
        }
    }

    fn offset(self, seconds: i32) -> ZoneOffset {
        ZoneOffset {
            zone: self,
            fixed: FixedOffset::east_opt(seconds).unwrap_or(Utc.fix()),
        }
    }
}

/// A zone the tests name.
#[cfg(test)]
pub(crate) fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an IANA time zone")]
pub struct UnknownZone;

impl FromStr for Tz {
    type Err = UnknownZone;

    /// An exact IANA name (case matters, as in the tz database).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        data::NAMES
            .binary_search_by(|(known, _)| (*known).cmp(name))
            .ok()
            .and_then(|i| u16::try_from(i).ok())
            .map(Tz)
            .ok_or(UnknownZone)
    }
}

/// A zone's offset at some instant, remembering the zone (chrono's `TimeZone` contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneOffset {
    zone: Tz,
    fixed: FixedOffset,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fixed, f)
    }
}

impl TimeZone for Tz {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Self {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    /// The offsets that read `local` on this zone's clocks: none in a gap, two in an overlap
    /// (earlier instant first). No zone's offset exceeds a day, so only the changes within two
    /// days of the wall time can matter.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let wall = local.and_utc().timestamp();
        let (_, changes) = self.rules();
        let window = |at: i64| (wall - 2 * 86_400..=wall + 2 * 86_400).contains(&(at * MINUTE));
        let first = changes.partition_point(|(at, _)| i64::from(*at) * MINUTE < wall - 2 * 86_400);
        let mut candidates = vec![self.offset_at(wall - 2 * 86_400)];
        candidates.extend(
            changes
                .iter()
                .skip(first)
                .take_while(|(at, _)| window(i64::from(*at)))
                .map(|(_, offset)| *offset),
        );
        let mut instants: Vec<(i64, i32)> = candidates
            .into_iter()
            .filter_map(|offset| {
                let instant = wall - i64::from(offset);
                (self.offset_at(instant) == offset).then_some((instant, offset))
            })
            .collect();
        instants.sort_unstable();
        instants.dedup();
        match instants.as_slice() {
            [] => MappedLocalTime::None,
            [(_, only)] => MappedLocalTime::Single(self.offset(*only)),
            [(_, earlier), .., (_, later)] => {
                MappedLocalTime::Ambiguous(self.offset(*earlier), self.offset(*later))
            }
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        self.offset(self.offset_at(utc.and_utc().timestamp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use proptest::prelude::*;

    /// From 1990: the table's first instant.
    const FROM: i64 = 631_152_000;
    /// To 2100: the last year `bounds` accepts, and then some.
    const TO: i64 = 4_102_444_800;

    fn theirs(zone: Tz) -> chrono_tz::Tz {
        zone.name().parse().unwrap()
    }

    fn their_offset(zone: chrono_tz::Tz, unix: i64) -> i32 {
        let utc = DateTime::from_timestamp(unix, 0).unwrap().naive_utc();
        zone.offset_from_utc_datetime(&utc).fix().local_minus_utc()
    }

    /// Each zone's changes of offset from 1990 to 2100, found in six-hour steps and then to the
    /// second (no zone has changed twice within six hours since 1990).
    fn changes_of(zone: chrono_tz::Tz) -> (i32, Vec<(i32, i32)>) {
        let step = 6 * 3600;
        let initial = their_offset(zone, FROM);
        let mut changes = Vec::new();
        let (mut at, mut current) = (FROM, initial);
        while at < TO {
            let next = at + step;
            let offset = their_offset(zone, next);
            if offset != current {
                let (mut before, mut after) = (at, next);
                while after - before > 1 {
                    let middle = before + (after - before) / 2;
                    match their_offset(zone, middle) == current {
                        true => before = middle,
                        false => after = middle,
                    }
                }
                assert_eq!(after % MINUTE, 0, "{zone:?} changes off the minute");
                changes.push((i32::try_from(after / MINUTE).unwrap(), offset));
                current = offset;
            }
            at = next;
        }
        (initial, changes)
    }

    fn generate() -> String {
        let mut names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        names.sort_unstable();
        let mut rules: Vec<(i32, Vec<(i32, i32)>)> = Vec::new();
        let mut out = String::from(
            "// Generated from chrono-tz by `zones::tests` (see zones.rs): do not edit.\n\n",
        );
        let mut name_lines = Vec::new();
        for name in &names {
            let found = changes_of(name.parse().unwrap());
            let index = match rules.iter().position(|r| *r == found) {
                Some(i) => i,
                None => {
                    rules.push(found);
                    rules.len() - 1
                }
            };
            name_lines.push(format!("    ({name:?}, {index}),\n"));
        }
        let utc = names.iter().position(|n| *n == "UTC").unwrap();
        out.push_str(&format!("pub(super) const UTC: u16 = {utc};\n\n"));
        out.push_str("/// Every zone name, sorted, with the index of its rules.\n");
        out.push_str("pub(super) static NAMES: &[(&str, u16)] = &[\n");
        out.extend(name_lines);
        out.push_str("];\n\n");
        out.push_str(
            "/// `(offset from 1990, [(minute since the epoch of a change, offset from then)])`,\n\
             /// offsets in seconds east of UTC.\n",
        );
        out.push_str("pub(super) static RULES: &[(i32, &[(i32, i32)])] = &[\n");
        for (initial, changes) in &rules {
            out.push_str(&format!("    ({initial}, &["));
            for (i, (at, offset)) in changes.iter().enumerate() {
                if i % 6 == 0 {
                    out.push_str("\n        ");
                }
                out.push_str(&format!("({at}, {offset}), "));
            }
            out.push_str("\n    ]),\n");
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn the_table_is_chrono_tz_from_1990_on() {
        if std::env::var_os("DOORSTEP_WRITE_ZONES").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/zones_data.rs");
            std::fs::write(path, generate()).unwrap();
        }
        // Every zone chrono-tz knows, under the same name, and nothing else.
        let ours: Vec<&str> = Tz::all().map(Tz::name).collect();
        let mut theirs_: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        theirs_.sort_unstable();
        assert_eq!(ours, theirs_);
        // Each zone agrees either side of each of its changes and at every new year's day.
        for zone in Tz::all() {
            let (_, changes) = zone.rules();
            let probes = changes
                .iter()
                .flat_map(|(at, _)| {
                    let at = i64::from(*at) * MINUTE;
                    [at - 1, at, at + 1]
                })
                .chain((FROM..TO).step_by(365 * 86_400));
            for unix in probes {
                assert_eq!(
                    zone.offset_at(unix),
                    their_offset(theirs(zone), unix),
                    "{zone} at {unix}"
                );
            }
        }
    }

    #[test]
    fn names_parse_exactly() {
        assert_eq!("Asia/Bangkok".parse::<Tz>().unwrap().name(), "Asia/Bangkok");
        assert_eq!("UTC".parse::<Tz>(), Ok(Tz::UTC));
        assert_eq!(Tz::UTC.name(), "UTC");
        assert!("asia/bangkok".parse::<Tz>().is_err());
        assert!("Mars/Olympus".parse::<Tz>().is_err());
        assert!("".parse::<Tz>().is_err());
    }

    #[test]
    fn gaps_and_overlaps_resolve_as_chrono_tz_does() {
        let new_york: Tz = "America/New_York".parse().unwrap();
        let local = |raw: &str| raw.parse::<NaiveDateTime>().unwrap();
        // Spring forward: 02:30 never happens.
        assert_eq!(
            new_york.from_local_datetime(&local("2024-03-10T02:30:00")),
            MappedLocalTime::None
        );
        // Fall back: 01:30 happens twice, EDT first.
        match new_york.from_local_datetime(&local("2024-11-03T01:30:00")) {
            MappedLocalTime::Ambiguous(earlier, later) => {
                assert_eq!(earlier.offset().fix().local_minus_utc(), -4 * 3600);
                assert_eq!(later.offset().fix().local_minus_utc(), -5 * 3600);
                assert_eq!(later - earlier, Duration::hours(1));
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any zone, any instant or wall time from 1990 to 2100: the same answers as chrono-tz.
        #[test]
        fn any_instant_and_any_wall_time_agree_with_chrono_tz(
            index in 0..chrono_tz::TZ_VARIANTS.len(),
            unix in FROM..TO,
        ) {
            let zone = Tz::all().nth(index).unwrap();
            let utc = DateTime::from_timestamp(unix, 0).unwrap().naive_utc();
            let ours = zone.offset_from_utc_datetime(&utc).fix();
            prop_assert_eq!(ours, theirs(zone).offset_from_utc_datetime(&utc).fix());
            let wall = utc;
            let mine = zone.from_local_datetime(&wall).map(|t| t.with_timezone(&Utc));
            let other = theirs(zone).from_local_datetime(&wall).map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(mine, other, "{} at wall {}", zone, wall);
        }

        /// Wall times near a change of offset (the gaps and overlaps) agree too.
        #[test]
        fn wall_times_around_every_change_agree_with_chrono_tz(
            which in any::<prop::sample::Index>(),
            pick in any::<prop::sample::Index>(),
            seconds in -3 * 3600i64..3 * 3600,
        ) {
            let changing: Vec<Tz> = Tz::all().filter(|z| !z.rules().1.is_empty()).collect();
            let zone = changing[which.index(changing.len())];
            let (_, changes) = zone.rules();
            let (at, _) = changes[pick.index(changes.len())];
            let wall = DateTime::from_timestamp(i64::from(at) * MINUTE + seconds, 0)
                .unwrap()
                .naive_utc();
            let mine = zone.from_local_datetime(&wall).map(|t| t.with_timezone(&Utc));
            let other = theirs(zone).from_local_datetime(&wall).map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(mine, other, "{} at wall {}", zone, wall);
        }
    }
}
