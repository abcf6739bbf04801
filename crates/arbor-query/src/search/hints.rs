//! Query hints (`with(…)`): the ones Tempo calls safe, read and checked once per query.
//!
//! | hint | value | what Arbor does |
//! |------|-------|-----------------|
//! | `sample` | `true`, or a fraction in (0, 1] | a fraction: as `trace_sample`; `true`: the server chooses, and Arbor chooses every span (the exact answer) |
//! | `trace_sample` | fraction in (0, 1] | metrics count the traces whose ID hashes below the fraction, counts scaled up by 1 / fraction |
//! | `span_sample` | fraction in (0, 1] | the same per span (by span ID) |
//! | `exemplars` | `true`/`false` or a count | metrics return that many exemplars per series (`false`: none) |
//! | `most_recent` | `true`/`false` | searches always return the most recent matches first, so both are honoured as they are |
//! | `extrapolate` | `true`/`false` | accepted: spans carry no sampling probability in Arbor, so it scales by 1 |
//!
//! Any other hint (Tempo's unsafe ones: `job_size`, `debug`, …, or a misspelling) is
//! refused with its name, rather than ignored: a query that asked for something Arbor does
//! not do should not answer as if it had.

use arbor_model::TraceId;

use crate::traceql::{Hint, Query, Static};

/// Which spans a metrics query counts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sample {
    /// Every span.
    #[default]
    All,
    /// Traces whose ID hashes below the fraction.
    Traces(f64),
    /// Spans whose ID hashes below the fraction.
    Spans(f64),
}

impl Sample {
    /// What a count is multiplied by to estimate the whole.
    pub fn scale(self) -> f64 {
        match self {
            Sample::All => 1.0,
            Sample::Traces(f) | Sample::Spans(f) => 1.0 / f,
        }
    }

    /// Whether a trace's spans are counted (`Spans` decides per span).
    pub fn keeps_trace(self, id: &TraceId) -> bool {
        match self {
            Sample::Traces(f) => below(
                u64::from_be_bytes(id.0[8..16].try_into().expect("8 bytes")),
                f,
            ),
            _ => true,
        }
    }

    /// Whether a span (its ID as a big-endian number) is counted.
    pub fn keeps_span(self, span_id: u64) -> bool {
        match self {
            // IDs need not be random (a test's 1, 2, 3…): mix the bits first.
            Sample::Spans(f) => below(span_id.wrapping_mul(0x9E37_79B9_7F4A_7C15), f),
            _ => true,
        }
    }
}

fn below(h: u64, fraction: f64) -> bool {
    fraction >= 1.0 || (h as f64) < fraction * (u64::MAX as f64)
}

/// The hints of a query, checked.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hints {
    pub sample: Sample,
    /// `exemplars=…`: a count, when given.
    pub exemplars: Option<usize>,
    pub most_recent: bool,
}

/// A hint Arbor does not take, or a value it cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HintError {
    #[error(
        "hint `{0}` is not supported; Arbor takes sample, trace_sample, span_sample, exemplars, most_recent and extrapolate"
    )]
    Unknown(String),
    #[error("hint `{name}` takes {expected}, not {found}")]
    BadValue {
        name: String,
        expected: &'static str,
        found: String,
    },
}

/// Most exemplars a hint can ask for per series.
pub const MAX_EXEMPLARS: usize = 100;

impl Hints {
    pub fn of(query: &Query) -> Result<Hints, HintError> {
        let mut h = Hints::default();
        for hint in &query.hints {
            match hint.name.as_str() {
                "sample" => {
                    h.sample = match &hint.value {
                        Static::Bool(_) => Sample::All,
                        _ => Sample::Traces(fraction(hint, "true, false or a fraction in (0, 1]")?),
                    }
                }
                "trace_sample" => h.sample = Sample::Traces(fraction(hint, FRACTION)?),
                "span_sample" => h.sample = Sample::Spans(fraction(hint, FRACTION)?),
                "exemplars" => {
                    h.exemplars = Some(match &hint.value {
                        Static::Bool(false) => 0,
                        Static::Bool(true) => MAX_EXEMPLARS,
                        Static::Int(n) if *n >= 0 => (*n as usize).min(MAX_EXEMPLARS),
                        _ => return Err(bad(hint, "true, false or a count")),
                    })
                }
                "most_recent" => h.most_recent = boolean(hint)?,
                "extrapolate" => {
                    boolean(hint)?;
                }
                other => return Err(HintError::Unknown(other.to_string())),
            }
        }
        Ok(h)
    }
}

const FRACTION: &str = "a fraction in (0, 1]";

fn bad(hint: &Hint, expected: &'static str) -> HintError {
    HintError::BadValue {
        name: hint.name.clone(),
        expected,
        found: hint.value.to_string(),
    }
}

fn boolean(hint: &Hint) -> Result<bool, HintError> {
    match hint.value {
        Static::Bool(b) => Ok(b),
        _ => Err(bad(hint, "true or false")),
    }
}

fn fraction(hint: &Hint, expected: &'static str) -> Result<f64, HintError> {
    let f = match hint.value {
        Static::Float(f) => f,
        Static::Int(i) => i as f64,
        _ => return Err(bad(hint, expected)),
    };
    if f > 0.0 && f <= 1.0 {
        Ok(f)
    } else {
        Err(bad(hint, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::parse;

    fn hints(q: &str) -> Result<Hints, HintError> {
        Hints::of(&parse(q).unwrap())
    }

    #[test]
    fn safe_hints_are_read() {
        let h = hints("{} | rate() with(sample=true, exemplars=7)").unwrap();
        assert_eq!(h.sample, Sample::All);
        assert_eq!(h.exemplars, Some(7));
        let h = hints("{} | rate() with(sample=0.25)").unwrap();
        assert_eq!(h.sample, Sample::Traces(0.25));
        assert_eq!(h.sample.scale(), 4.0);
        let h = hints("{} | rate() with(span_sample=0.5, exemplars=false)").unwrap();
        assert_eq!(h.sample, Sample::Spans(0.5));
        assert_eq!(h.exemplars, Some(0));
        assert!(hints("{ .a } with(most_recent=true)").unwrap().most_recent);
    }

    #[test]
    fn unknown_and_bad_hints_are_refused_by_name() {
        let e = hints("{} | rate() with(job_size=10)").unwrap_err();
        assert!(e.to_string().contains("`job_size`"), "{e}");
        let e = hints("{} | rate() with(sample=1.5)").unwrap_err();
        assert!(e.to_string().contains("`sample`"), "{e}");
        let e = hints("{} with(most_recent=3)").unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
    }

    #[test]
    fn sampling_keeps_about_the_fraction() {
        let s = Sample::Spans(0.25);
        let kept = (1..=10_000u64).filter(|id| s.keeps_span(*id)).count();
        assert!((2_000..3_000).contains(&kept), "{kept}");
        assert!((1..=100u64).all(|id| Sample::All.keeps_span(id)));
    }
}
