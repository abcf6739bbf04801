//! Civil dates and RFC 3339 times in UTC, without a date library.
//!
//! Dates are proleptic Gregorian. Days since 1970-01-01 convert to and from a civil date with
//! Howard Hinnant's algorithms: years are counted from March, so the leap day is the last day
//! of its year and every 400-year era has the same 146,097 days.
//!
//! [`parse_rfc3339`] is strict RFC 3339: the `arbor query` CLI's `--start`/`--end`, the
//! Jaeger API's `query.start_time_min`/`max` and the alert silence API's `until` read it.

/// A time as seconds since 1970-01-01T00:00:00Z and the nanoseconds into that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixTime {
    /// Whole seconds, negative before 1970.
    pub secs: i64,
    /// 0–999,999,999.
    pub nanos: u32,
}

impl UnixTime {
    /// Nanoseconds since 1970, or `None` outside `i64` (before 1677-09-21 or after 2262-04-11).
    pub fn as_nanos(self) -> Option<i64> {
        i64::try_from(i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)).ok()
    }
}

/// Now, in nanoseconds since 1970 (0 if the clock is before 1970).
pub fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Whether `year` has a February 29th.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The days in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (`month` 1–12). A `day` past the month's end counts on
/// into the next month.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) `days` after 1970-01-01: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds as `2026-11-21<sep>10:04:05` (no zone), `sep` usually `T` or a space.
fn date_time(secs: i64, sep: char) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}{sep}{:02}:{:02}:{:02}",
        tod / 3_600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Unix seconds as UTC `2026-11-21<sep>10:04:05Z`; with `sep` `T`, RFC 3339.
pub fn format_secs(secs: i64, sep: char) -> String {
    format!("{}Z", date_time(secs, sep))
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-11-21T14:00:00.123Z`.
pub fn format_millis(ms: i64) -> String {
    format!(
        "{}.{:03}Z",
        date_time(ms.div_euclid(1_000), 'T'),
        ms.rem_euclid(1_000)
    )
}

/// Strict RFC 3339: `2023-11-14T22:13:20Z`, `2023-11-14t22:13:20.123456789+01:00`.
///
/// Exactly `YYYY-MM-DD`, then `T`, `t` or a space, then `hh:mm:ss`, an optional fraction of
/// one or more digits (the first nine are kept, the rest dropped), then `Z`, `z` or
/// `±hh:mm` (offsets to ±23:59; `−`, U+2212, is taken for the minus sign). The date must
/// exist; second 60 (a leap second) is taken as the next minute's first second. No
/// surrounding white space. The union of what `chrono::DateTime::parse_from_rfc3339` and
/// the CLI's own parser accepted.
pub fn parse_rfc3339(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let num = |part: &[u8]| -> Option<i64> {
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let digits = |from: usize, to: usize| num(b.get(from..to)?);
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0;
    if b[i] == b'.' {
        let from = i + 1;
        i = from;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return None;
        }
        let kept = &b[from..i.min(from + 9)];
        nanos = num(kept)? * 10i64.pow(9 - kept.len() as u32);
    }
    // Bytes 0..i are ASCII, so `i` is a character boundary.
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        zone => {
            let (sign, hh_mm) = if let Some(r) = zone.strip_prefix('+') {
                (1, r)
            } else if let Some(r) = zone.strip_prefix(['-', '\u{2212}']) {
                (-1, r)
            } else {
                return None;
            };
            let hm = hh_mm.as_bytes();
            if hm.len() != 5 || hm[2] != b':' {
                return None;
            }
            let (h, m) = (num(&hm[..2])?, num(&hm[3..])?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3_600 + m * 60)
        }
    };
    Some(UnixTime {
        secs: days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
            - offset,
        nanos: nanos as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> Option<UnixTime> {
        Some(UnixTime { secs, nanos })
    }

    #[test]
    fn leap_years() {
        for (year, leap) in [
            (1900, false),
            (1970, false),
            (1972, true),
            (2000, true),
            (2023, false),
            (2024, true),
            (2100, false),
            (2400, true),
        ] {
            assert_eq!(is_leap_year(year), leap, "{year}");
            assert_eq!(days_in_month(year, 2), if leap { 29 } else { 28 }, "{year}");
        }
        assert_eq!(days_in_month(2023, 1), 31);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        );
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        // A day past the month's end runs on into the next month.
        assert_eq!(days_from_civil(2023, 2, 29), days_from_civil(2023, 3, 1));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        // Every day from 1600 to 2400 and back, each the day after the one before.
        let mut prev = civil_from_days(days_from_civil(1600, 1, 1) - 1);
        for days in days_from_civil(1600, 1, 1)..days_from_civil(2400, 12, 31) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month = d == 1 && (y, m) == (prev.0, prev.1 + 1);
            let next_year = (m, d) == (1, 1) && y == prev.0 + 1;
            assert!(
                next_day || next_month || next_year,
                "{prev:?} then {y}-{m}-{d}"
            );
            prev = (y, m, d);
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_secs(0, 'T'), "1970-01-01T00:00:00Z");
        assert_eq!(format_secs(1_700_000_000, 'T'), "2023-11-14T22:13:20Z");
        assert_eq!(format_secs(1_795_773_845, ' '), "2026-11-27 10:04:05Z");
        assert_eq!(format_secs(951_782_400, 'T'), "2000-02-29T00:00:00Z");
        assert_eq!(format_secs(951_868_799, 'T'), "2000-02-29T23:59:59Z");
        assert_eq!(format_secs(1_709_164_800, 'T'), "2024-02-29T00:00:00Z");
        assert_eq!(format_secs(4_107_542_400, 'T'), "2100-03-01T00:00:00Z");
        assert_eq!(format_secs(-1, 'T'), "1969-12-31T23:59:59Z");
        assert_eq!(format_secs(-2_208_988_800, 'T'), "1900-01-01T00:00:00Z");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_millis(1_795_219_200_000), "2026-11-21T00:00:00.000Z");
        assert_eq!(format_millis(1_795_351_234_567), "2026-11-22T12:40:34.567Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn strict_parses() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), at(0, 0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), at(1_700_000_000, 0));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), at(1_700_000_000, 0));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20Z"), at(1_700_000_000, 0));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), at(1_709_164_800, 0));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), at(951_782_400, 0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), at(-1, 0));
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59.25Z"),
            at(-1, 250_000_000)
        );
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            at(-62_167_219_200, 0)
        );
        // Offsets: local time minus the offset.
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            at(1_700_000_000, 0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            at(1_700_000_000, 0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T20:43:20-01:30"),
            at(1_700_000_000, 0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T20:43:20\u{2212}01:30"),
            at(1_700_000_000, 0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20-00:00"),
            at(1_700_000_000, 0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T22:12:20+23:59"),
            at(1_700_000_000, 0)
        );
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+02:00"), at(-3_600, 0));
        // A leap second is the next minute's first.
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), at(1_483_228_800, 0));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60.5Z"),
            at(1_483_228_800, 500_000_000)
        );
    }

    #[test]
    fn strict_fractions_of_1_to_9_digits_and_more() {
        let base = 1_700_000_000;
        for (frac, nanos) in [
            ("5", 500_000_000),
            ("12", 120_000_000),
            ("123", 123_000_000),
            ("1234", 123_400_000),
            ("12345", 123_450_000),
            ("123456", 123_456_000),
            ("1234567", 123_456_700),
            ("12345678", 123_456_780),
            ("123456789", 123_456_789),
            ("1234567899", 123_456_789),
            ("999999999999", 999_999_999),
            ("000000001", 1),
        ] {
            let s = format!("2023-11-14T22:13:20.{frac}Z");
            assert_eq!(parse_rfc3339(&s), at(base, nanos), "{s}");
            let s = format!("2023-11-14T23:13:20.{frac}+01:00");
            assert_eq!(parse_rfc3339(&s), at(base, nanos), "{s}");
        }
    }

    #[test]
    fn strict_refuses_malformed() {
        for bad in [
            "",
            "yesterday",
            "1700000000",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.5",
            "2023-11-14T22:13:20,5Z",
            "2023-11-14T22:13:20ZZ",
            "2023-11-14T22:13:20Z ",
            " 2023-11-14T22:13:20Z",
            "2023-11-14_22:13:20Z",
            "2023-1-14T22:13:20Z",
            "23-11-14T22:13:20Z",
            "+2023-11-14T22:13:20Z",
            "12023-11-14T22:13:20Z",
            "2023-11-14T2:13:20Z",
            "2023-11-14T22:13:2Z",
            "2023-00-14T00:00:00Z",
            "2023-13-14T00:00:00Z",
            "2023-11-00T00:00:00Z",
            "2023-11-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z",
            "2023-11-14T22:13:61Z",
            "2023-11-14T22:13:20+24:00",
            "2023-11-14T22:13:20+01:60",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20+1:00",
            "2023-11-14T22:13:20+01",
            "2023-11-14T22:13:20+01:00:00",
            "2023-11-14T22:13:20 +01:00",
            "2023-11-14T22:13:20UTC",
            "2023-11-14T22:13:20\u{2013}01:00",
            "2023-11-14T22:1\u{e9}:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nanos_in_i64() {
        assert_eq!(at(0, 0).unwrap().as_nanos(), Some(0));
        assert_eq!(at(-1, 1).unwrap().as_nanos(), Some(-999_999_999));
        assert_eq!(
            at(1_700_000_000, 123).unwrap().as_nanos(),
            Some(1_700_000_000_000_000_123)
        );
        let last = parse_rfc3339("2262-04-11T23:47:16.854775807Z").unwrap();
        assert_eq!(last.as_nanos(), Some(i64::MAX));
        let past = parse_rfc3339("2262-04-11T23:47:16.854775808Z").unwrap();
        assert_eq!(past.as_nanos(), None);
        let first = parse_rfc3339("1677-09-21T00:12:43.145224192Z").unwrap();
        assert_eq!(first.as_nanos(), Some(i64::MIN));
        let before = parse_rfc3339("1677-09-21T00:12:43.145224191Z").unwrap();
        assert_eq!(before.as_nanos(), None);
    }

    #[test]
    fn strict_round_trips_with_format() {
        for secs in (-2_208_988_800..4_102_444_800i64).step_by(86_399 * 37) {
            assert_eq!(parse_rfc3339(&format_secs(secs, 'T')), at(secs, 0));
            assert_eq!(parse_rfc3339(&format_secs(secs, ' ')), at(secs, 0));
            let ms = secs * 1_000 + 789;
            assert_eq!(parse_rfc3339(&format_millis(ms)), at(secs, 789_000_000));
        }
    }
}
