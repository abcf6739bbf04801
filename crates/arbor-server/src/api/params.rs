//! Query-string parameters that several APIs share.

use std::collections::HashMap;

use arbor_model::time::parse_rfc3339;

/// The latest time a parameter may name: 2200-01-01T00:00:00Z, in seconds.
const MAX_SECS: f64 = 7_258_118_400.0;

/// Below this, a plain number is Unix seconds; from it on, Unix nanoseconds (1e15 seconds is
/// 31 million years away, 1e15 nanoseconds twelve days after 1970).
const NANOS_FROM: f64 = 1e15;

/// A parameter's value, trimmed; `None` when absent or empty.
pub fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A positive integer parameter, or the default.
pub fn uint_param(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
) -> Result<u64, String> {
    match param(params, name) {
        None => Ok(default),
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| format!("invalid {name} {s:?}: expected a non-negative integer")),
    }
}

/// A duration parameter (`100ms`, `1.5s`, `2m`; a bare number is seconds).
pub fn duration_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<std::time::Duration>, String> {
    match param(params, name) {
        None => Ok(None),
        Some(s) => {
            if let Ok(secs) = s.parse::<f64>() {
                return crate::units::bounded_secs(secs, s)
                    .map(Some)
                    .map_err(|e| format!("invalid {name}: {e}"));
            }
            s.parse::<crate::units::HumanDuration>()
                .map(|d| Some(d.0))
                .map_err(|e| format!("invalid {name}: {e}"))
        }
    }
}

/// A time parameter (`start`, `end`) as Unix nanoseconds; `None` when absent.
///
/// Takes what Tempo's HTTP API takes: Unix seconds (Tempo's convention; a fraction is kept),
/// Unix nanoseconds (a number of 1e15 or more), or an RFC 3339 time. Times before 1970 or
/// after 2200 are refused.
pub fn unix_time_ns(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, String> {
    let Some(s) = param(params, name) else {
        return Ok(None);
    };
    let expected = "expected Unix seconds, Unix nanoseconds or an RFC 3339 time";
    let out_of_range = || format!("invalid {name} {s:?}: out of range (1970-01-01 to 2200-01-01)");
    if let Some(ns) = decimal_ns(s) {
        return ns.ok_or_else(out_of_range).map(Some);
    }
    if let Ok(x) = s.parse::<f64>() {
        // Other number forms (`1.7e9`), through a float.
        if !x.is_finite() {
            return Err(format!("invalid {name} {s:?}: {expected}"));
        }
        let secs = if x >= NANOS_FROM { x / 1e9 } else { x };
        if !(0.0..=MAX_SECS).contains(&secs) {
            return Err(out_of_range());
        }
        return Ok(Some((secs * 1e9).round() as u64));
    }
    let t = parse_rfc3339(s).ok_or_else(|| format!("invalid {name} {s:?}: {expected}"))?;
    match t.as_nanos() {
        Some(ns) if ns >= 0 && t.secs as f64 <= MAX_SECS => Ok(Some(ns as u64)),
        _ => Err(out_of_range()),
    }
}

/// A plain decimal (`1700000000`, `1700000000.25`, `1700000000123456789`) read exactly:
/// `None` if `s` is not one, `Some(None)` if it is but out of range.
fn decimal_ns(s: &str) -> Option<Option<u64>> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let Ok(whole) = int.parse::<u64>() else {
        return Some(None);
    };
    let max_secs = MAX_SECS as u64;
    if whole as f64 >= NANOS_FROM {
        // Nanoseconds; a fraction of a nanosecond is dropped.
        return Some((whole <= max_secs * 1_000_000_000).then_some(whole));
    }
    if whole > max_secs {
        return Some(None);
    }
    let frac_ns: u64 = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
    let ns = whole * 1_000_000_000 + frac_ns;
    Some((ns <= max_secs * 1_000_000_000).then_some(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(v: &str) -> Result<Option<u64>, String> {
        let params = HashMap::from([("start".to_string(), v.to_string())]);
        unix_time_ns(&params, "start")
    }

    #[test]
    fn reads_seconds_nanoseconds_and_rfc3339() {
        assert_eq!(time(""), Ok(None));
        assert_eq!(time("  "), Ok(None));
        assert_eq!(time("1700000000"), Ok(Some(1_700_000_000_000_000_000)));
        assert_eq!(time(" 1700000000.25 "), Ok(Some(1_700_000_000_250_000_000)));
        assert_eq!(
            time("1700000000123456789"),
            Ok(Some(1_700_000_000_123_456_789))
        );
        assert_eq!(time("0"), Ok(Some(0)));
        assert_eq!(time("1.7e9"), Ok(Some(1_700_000_000_000_000_000)));
        assert_eq!(time("7258118400"), Ok(Some(7_258_118_400_000_000_000)));
        assert_eq!(
            time("2023-11-14T22:13:20.5Z"),
            Ok(Some(1_700_000_000_500_000_000))
        );
        assert_eq!(
            time("2023-11-15T00:13:20+02:00"),
            Ok(Some(1_700_000_000_000_000_000))
        );
    }

    #[test]
    fn refuses_what_is_not_a_time_and_says_what_was_expected() {
        for bad in [
            "yesterday",
            "NaN",
            "inf",
            "1.2.3",
            "0x10",
            "2023-02-30T00:00:00Z",
            "12:00",
        ] {
            let e = time(bad).unwrap_err();
            assert!(e.contains("expected Unix seconds"), "{bad}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        for far in [
            "-1",
            "99999999999",
            "1969-12-31T23:59:59Z",
            "2200-01-02T00:00:00Z",
        ] {
            let e = time(far).unwrap_err();
            assert!(e.contains("out of range"), "{far}: {e}");
        }
    }
}
