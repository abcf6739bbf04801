//! Values as TraceQL sees them, and the rules for comparing and combining them.
//!
//! - A missing attribute is `nil`. Every comparison with `nil` is false (`!=` too), as a
//!   search for `span.a != "x"` finds spans that have `a`, not spans that lack it.
//! - Integers, floats and durations compare and combine with each other as numbers
//!   (a duration is its nanoseconds).
//! - Values of other, different types never compare equal or unequal: the comparison is
//!   false (the integer `200` is not the string `"200"`).
//! - Strings order bytewise.

use std::cmp::Ordering;

use crate::traceql::{ArithOp, BinaryOp, CmpOp, Kind, Static, Status};

/// One value, borrowing its string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum V<'a> {
    Nil,
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Dur(i64),
    Status(Status),
    Kind(Kind),
}

impl<'a> V<'a> {
    pub fn from_static(s: &'a Static) -> V<'a> {
        match s {
            Static::Bool(b) => V::Bool(*b),
            Static::Int(i) => V::Int(*i),
            Static::Float(f) => V::Float(*f),
            Static::Duration(d) => V::Dur(*d),
            Static::String(s) => V::Str(s),
            Static::Status(s) => V::Status(*s),
            Static::Kind(k) => V::Kind(*k),
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, V::Nil)
    }

    /// The value as a number, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            V::Int(i) => Some(i as f64),
            V::Float(f) => Some(f),
            V::Dur(d) => Some(d as f64),
            _ => None,
        }
    }

    pub fn to_owned_value(self) -> Owned {
        match self {
            V::Nil => Owned::Nil,
            V::Str(s) => Owned::Str(s.to_string()),
            V::Int(i) => Owned::Int(i),
            V::Float(f) => Owned::Float(f),
            V::Bool(b) => Owned::Bool(b),
            V::Dur(d) => Owned::Dur(d),
            V::Status(s) => Owned::Status(s),
            V::Kind(k) => Owned::Kind(k),
        }
    }
}

/// A value that owns its string: group labels, selected attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Nil,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Dur(i64),
    Status(Status),
    Kind(Kind),
}

impl Owned {
    pub fn as_v(&self) -> V<'_> {
        match self {
            Owned::Nil => V::Nil,
            Owned::Str(s) => V::Str(s),
            Owned::Int(i) => V::Int(*i),
            Owned::Float(f) => V::Float(*f),
            Owned::Bool(b) => V::Bool(*b),
            Owned::Dur(d) => V::Dur(*d),
            Owned::Status(s) => V::Status(*s),
            Owned::Kind(k) => V::Kind(*k),
        }
    }

    /// A key that orders and groups values deterministically (floats by their bits).
    pub fn group_key(&self) -> (u8, String) {
        match self {
            Owned::Nil => (0, String::new()),
            Owned::Str(s) => (1, s.clone()),
            Owned::Int(i) => (2, format!("{:020}", (*i as i128) - (i64::MIN as i128))),
            Owned::Float(f) => (3, format!("{:016x}", f.to_bits())),
            Owned::Bool(b) => (4, b.to_string()),
            Owned::Dur(d) => (5, format!("{:020}", (*d as i128) - (i64::MIN as i128))),
            Owned::Status(s) => (6, status_name(*s).to_string()),
            Owned::Kind(k) => (7, kind_name(*k).to_string()),
        }
    }
}

impl std::fmt::Display for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owned::Nil => write!(f, "nil"),
            Owned::Str(s) => write!(f, "{s}"),
            Owned::Int(i) => write!(f, "{i}"),
            Owned::Float(x) => write!(f, "{x}"),
            Owned::Bool(b) => write!(f, "{b}"),
            Owned::Dur(d) => write!(f, "{}", format_duration(*d)),
            Owned::Status(s) => write!(f, "{}", status_name(*s)),
            Owned::Kind(k) => write!(f, "{}", kind_name(*k)),
        }
    }
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Unset => "unset",
        Status::Ok => "ok",
        Status::Error => "error",
    }
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Unspecified => "unspecified",
        Kind::Internal => "internal",
        Kind::Server => "server",
        Kind::Client => "client",
        Kind::Producer => "producer",
        Kind::Consumer => "consumer",
    }
}

/// OTLP's status code as TraceQL's status (an unknown code reads as unset).
pub fn status_of(code: i32) -> Status {
    match code {
        1 => Status::Ok,
        2 => Status::Error,
        _ => Status::Unset,
    }
}

/// OTLP's span kind as TraceQL's kind (an unknown kind reads as unspecified).
pub fn kind_of(kind: i32) -> Kind {
    match kind {
        1 => Kind::Internal,
        2 => Kind::Server,
        3 => Kind::Client,
        4 => Kind::Producer,
        5 => Kind::Consumer,
        _ => Kind::Unspecified,
    }
}

/// `1.5s`, `300ms`, `12µs`, `40ns`.
pub fn format_duration(ns: i64) -> String {
    let a = ns.unsigned_abs();
    let (v, unit) = if a >= 1_000_000_000 {
        (ns as f64 / 1e9, "s")
    } else if a >= 1_000_000 {
        (ns as f64 / 1e6, "ms")
    } else if a >= 1_000 {
        (ns as f64 / 1e3, "µs")
    } else {
        return format!("{ns}ns");
    };
    format!("{}{unit}", (v * 1000.0).round() / 1000.0)
}

/// How two values order, when they are comparable at all.
fn order(a: V, b: V) -> Option<Ordering> {
    match (a, b) {
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Int(x), V::Int(y))
        | (V::Dur(x), V::Dur(y))
        | (V::Int(x), V::Dur(y))
        | (V::Dur(x), V::Int(y)) => Some(x.cmp(&y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
}

/// `a op b` for the comparison operators (not the regex ones).
pub fn compare(a: V, op: CmpOp, b: V) -> bool {
    if a.is_nil() || b.is_nil() {
        return false;
    }
    match (a, b) {
        (V::Bool(x), V::Bool(y)) => match op {
            CmpOp::Eq => x == y,
            CmpOp::Neq => x != y,
            _ => false,
        },
        (V::Status(x), V::Status(y)) => match op {
            CmpOp::Eq => x == y,
            CmpOp::Neq => x != y,
            _ => false,
        },
        (V::Kind(x), V::Kind(y)) => match op {
            CmpOp::Eq => x == y,
            CmpOp::Neq => x != y,
            _ => false,
        },
        _ => match order(a, b) {
            None => false,
            Some(o) => match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Neq => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Lte => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Gte => o != Ordering::Less,
            },
        },
    }
}

/// The comparison operator of a field-expression operator, if it is one.
pub fn cmp_op(op: BinaryOp) -> Option<CmpOp> {
    Some(match op {
        BinaryOp::Eq => CmpOp::Eq,
        BinaryOp::Neq => CmpOp::Neq,
        BinaryOp::Lt => CmpOp::Lt,
        BinaryOp::Lte => CmpOp::Lte,
        BinaryOp::Gt => CmpOp::Gt,
        BinaryOp::Gte => CmpOp::Gte,
        _ => return None,
    })
}

/// The arithmetic operator of a field-expression operator, if it is one.
pub fn arith_op(op: BinaryOp) -> Option<ArithOp> {
    Some(match op {
        BinaryOp::Add => ArithOp::Add,
        BinaryOp::Sub => ArithOp::Sub,
        BinaryOp::Mul => ArithOp::Mul,
        BinaryOp::Div => ArithOp::Div,
        BinaryOp::Mod => ArithOp::Mod,
        BinaryOp::Pow => ArithOp::Pow,
        _ => return None,
    })
}

/// The comparison with its sides swapped: `3 < x` is `x > 3`.
pub fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Lte => CmpOp::Gte,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Gte => CmpOp::Lte,
        o => o,
    }
}

/// `a op b` on numbers: integers stay integers (overflow and division by zero give nil),
/// a float makes a float, a duration makes a duration.
pub fn arith<'a>(a: V<'a>, op: ArithOp, b: V<'a>) -> V<'a> {
    let dur = matches!(a, V::Dur(_)) || matches!(b, V::Dur(_));
    let int_of = |v: V| match v {
        V::Int(i) | V::Dur(i) => Some(i),
        _ => None,
    };
    if op != ArithOp::Pow
        && let (Some(x), Some(y)) = (int_of(a), int_of(b))
    {
        let r = match op {
            ArithOp::Add => x.checked_add(y),
            ArithOp::Sub => x.checked_sub(y),
            ArithOp::Mul => x.checked_mul(y),
            ArithOp::Div => x.checked_div(y),
            ArithOp::Mod => x.checked_rem(y),
            ArithOp::Pow => None,
        };
        return match r {
            Some(r) if dur => V::Dur(r),
            Some(r) => V::Int(r),
            None => V::Nil,
        };
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return V::Nil;
    };
    let r = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Mod => x % y,
        ArithOp::Pow => x.powf(y),
    };
    V::Float(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nil_compares_false_both_ways() {
        for op in [CmpOp::Eq, CmpOp::Neq, CmpOp::Lt, CmpOp::Gt] {
            assert!(!compare(V::Nil, op, V::Str("x")));
            assert!(!compare(V::Int(1), op, V::Nil));
        }
    }

    #[test]
    fn numbers_mix_and_types_do_not() {
        assert!(compare(V::Int(2), CmpOp::Gt, V::Float(1.5)));
        assert!(compare(V::Dur(2_000), CmpOp::Eq, V::Int(2_000)));
        assert!(!compare(V::Int(200), CmpOp::Eq, V::Str("200")));
        assert!(!compare(V::Int(200), CmpOp::Neq, V::Str("200")));
        assert!(compare(V::Str("b"), CmpOp::Gt, V::Str("a")));
        assert!(!compare(V::Bool(true), CmpOp::Gt, V::Bool(false)));
        assert!(compare(
            V::Status(Status::Error),
            CmpOp::Neq,
            V::Status(Status::Ok)
        ));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(arith(V::Int(7), ArithOp::Div, V::Int(2)), V::Int(3));
        assert_eq!(arith(V::Int(7), ArithOp::Div, V::Int(0)), V::Nil);
        assert_eq!(arith(V::Int(i64::MAX), ArithOp::Add, V::Int(1)), V::Nil);
        assert_eq!(arith(V::Dur(10), ArithOp::Mul, V::Int(3)), V::Dur(30));
        assert_eq!(arith(V::Int(2), ArithOp::Pow, V::Int(10)), V::Float(1024.0));
        assert_eq!(arith(V::Str("a"), ArithOp::Add, V::Int(1)), V::Nil);
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(300_000_000), "300ms");
        assert_eq!(format_duration(999), "999ns");
    }
}
