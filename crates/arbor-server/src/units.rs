//! Human-friendly sizes (`16MiB`, `512kb`, `1048576`) and durations (`5ms`, `2s`, `1m`) for
//! configuration, accepted from TOML (as a string or an integer), environment and flags.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const KIB: u64 = 1024;
    pub const MIB: u64 = 1024 * 1024;
    pub const GIB: u64 = 1024 * 1024 * 1024;

    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!("invalid size {s:?}: expected a number with an optional unit, e.g. 16MiB")
        })?;
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => Self::KIB,
            "m" | "mb" | "mib" => Self::MIB,
            "g" | "gb" | "gib" => Self::GIB,
            other => {
                return Err(format!(
                    "invalid size unit {other:?} in {s:?}: use B, KiB, MiB or GiB"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= Self::GIB && n.is_multiple_of(Self::GIB) {
            write!(f, "{}GiB", n / Self::GIB)
        } else if n >= Self::MIB && n.is_multiple_of(Self::MIB) {
            write!(f, "{}MiB", n / Self::MIB)
        } else if n >= Self::KIB && n.is_multiple_of(Self::KIB) {
            write!(f, "{}KiB", n / Self::KIB)
        } else {
            write!(f, "{n}B")
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The longest duration accepted anywhere: 100 years (36500d). Longer ones are refused
    /// when read, so no setting, parameter or rule can overflow the time arithmetic done
    /// with it (an instant plus it, nanoseconds since 1970 plus it).
    pub const MAX: Duration = Duration::from_secs(100 * 365 * 86400);
}

/// Seconds as a duration, refused past [`HumanDuration::MAX`] (and when negative, NaN or
/// infinite) with a message that names the value and the limit.
pub fn bounded_secs(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= HumanDuration::MAX => Ok(d),
        _ => Err(format!(
            "duration {text:?} is too long: the limit is 36500d (100 years)"
        )),
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: expected e.g. 5ms, 2s, 1m"))?;
        let secs = match unit {
            "ns" => n / 1e9,
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            _ => {
                return Err(format!(
                    "invalid duration unit in {s:?}: use ns, us, ms, s, m, h or d"
                ));
            }
        };
        bounded_secs(secs, s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if d.subsec_nanos() == 0 && secs > 0 && secs.is_multiple_of(86400) {
            write!(f, "{}d", secs / 86400)
        } else if d.subsec_nanos() == 0 && secs > 0 && secs.is_multiple_of(3600) {
            write!(f, "{}h", secs / 3600)
        } else if d.subsec_nanos() == 0 && secs > 0 && secs.is_multiple_of(60) {
            write!(f, "{}m", secs / 60)
        } else if d.subsec_nanos() == 0 && secs > 0 {
            write!(f, "{secs}s")
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else if d.as_nanos().is_multiple_of(1_000) {
            write!(f, "{}us", d.as_micros())
        } else {
            write!(f, "{}ns", d.as_nanos())
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("16MiB".parse::<ByteSize>().unwrap().0, 16 << 20);
        assert_eq!("512kb".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert_eq!("42".parse::<ByteSize>().unwrap().0, 42);
        assert!("12 parsecs".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
    }

    #[test]
    fn durations() {
        assert_eq!(
            "5ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(5)
        );
        assert_eq!(
            "1.5s".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert!("5 fortnights".parse::<HumanDuration>().is_err());
        for text in ["14d", "2h", "5m", "30s", "250ms", "7us"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text, "round trip");
        }
        assert_eq!(HumanDuration(Duration::from_millis(5)).to_string(), "5ms");
    }

    #[test]
    fn a_huge_duration_is_refused_not_a_panic() {
        for text in [
            "99999999999999999999s",
            "99999999999999999999h",
            "1e400s",
            "36501d",
            "184467440737095516160ns",
        ] {
            let err = text.parse::<HumanDuration>().unwrap_err();
            assert!(
                err.contains("too long") || err.contains("invalid duration"),
                "{text}: {err}"
            );
        }
        assert_eq!(
            "36500d".parse::<HumanDuration>().unwrap().0,
            HumanDuration::MAX
        );
    }
}
