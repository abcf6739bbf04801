//! Field expressions, compiled once per query and evaluated column-wise over a
//! [`SpanBatch`].
//!
//! A comparison of a field with a constant runs as a kernel over the field's column: for
//! strings the comparison (or regex) is decided once per distinct string of the column, then
//! each row looks its answer up. Everything else is evaluated row by row.

use arrow::array::{Array, Scalar, StringArray};
use arrow::compute::kernels::cmp;
use regex::Regex;

use super::batch::{ArrowSource, Col, FieldKey, Needs, SpanBatch, Val};
use super::value::{Owned, V, arith, arith_op, cmp_op, compare, flip};
use crate::traceql::{
    ArithOp, BinaryOp, CmpOp, Field, FieldExpr, FieldKind, FieldRef, Static, UnaryOp,
};

/// A compiled field expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Const(Owned),
    Field(FieldKey),
    Cmp {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `lhs =~ re` (or `!~` when `negated`); the regex is anchored at both ends.
    Regex {
        negated: bool,
        lhs: Box<Expr>,
        re: Box<Regex>,
    },
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Exists(Box<Expr>),
}

/// Why a query cannot run (validation lets through nothing that ends here, but the engine
/// does not rely on it).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

pub fn field_key(f: &Field) -> FieldKey {
    match f {
        Field::Intrinsic(i) => FieldKey::intr(*i),
        Field::Attribute(a) if a.parent => FieldKey::parent_attr(a.scope, &a.name),
        Field::Attribute(a) => FieldKey::attr(a.scope, &a.name),
    }
}

pub fn field_ref_key(f: &FieldRef) -> FieldKey {
    field_key(&f.field)
}

fn static_owned(s: &Static) -> Owned {
    V::from_static(s).to_owned_value()
}

/// Compiles a field expression, noting the fields it reads in `needs`.
pub fn compile(e: &FieldExpr, needs: &mut Needs) -> Result<Expr, CompileError> {
    Ok(match &e.kind {
        FieldKind::Static(s) => Expr::Const(static_owned(s)),
        FieldKind::Intrinsic(i) => {
            let k = FieldKey::intr(*i);
            needs.add(k.clone());
            Expr::Field(k)
        }
        FieldKind::Attribute(a) => {
            let k = if a.parent {
                FieldKey::parent_attr(a.scope, &a.name)
            } else {
                FieldKey::attr(a.scope, &a.name)
            };
            needs.add(k.clone());
            Expr::Field(k)
        }
        FieldKind::Unary { op, expr } => {
            let inner = Box::new(compile(expr, needs)?);
            match op {
                UnaryOp::Neg => Expr::Neg(inner),
                UnaryOp::Not => Expr::Not(inner),
                UnaryOp::Exists => Expr::Exists(inner),
            }
        }
        FieldKind::Binary { op, lhs, rhs } => {
            if matches!(op, BinaryOp::Regex | BinaryOp::NotRegex) {
                let FieldKind::Static(Static::String(pat)) = &rhs.kind else {
                    return Err(CompileError(
                        "a regular expression must be a string literal".into(),
                    ));
                };
                let re = Regex::new(&format!("^(?:{pat})$"))
                    .map_err(|e| CompileError(format!("bad regular expression {pat:?}: {e}")))?;
                return Ok(Expr::Regex {
                    negated: *op == BinaryOp::NotRegex,
                    lhs: Box::new(compile(lhs, needs)?),
                    re: Box::new(re),
                });
            }
            let l = Box::new(compile(lhs, needs)?);
            let r = Box::new(compile(rhs, needs)?);
            match op {
                BinaryOp::And => Expr::And(l, r),
                BinaryOp::Or => Expr::Or(l, r),
                _ => {
                    if let Some(c) = cmp_op(*op) {
                        Expr::Cmp {
                            op: c,
                            lhs: l,
                            rhs: r,
                        }
                    } else if let Some(a) = arith_op(*op) {
                        Expr::Arith {
                            op: a,
                            lhs: l,
                            rhs: r,
                        }
                    } else {
                        unreachable!("regex handled above")
                    }
                }
            }
        }
    })
}

/// Whether an expression is always a definite true or false (never nil), so `!` of it is a
/// plain negation of its mask.
fn is_condition(e: &Expr) -> bool {
    match e {
        Expr::Cmp { .. } | Expr::Regex { .. } | Expr::Exists(_) => true,
        Expr::Const(Owned::Bool(_)) => true,
        Expr::And(a, b) | Expr::Or(a, b) => is_condition(a) && is_condition(b),
        Expr::Not(a) => is_condition(a),
        _ => false,
    }
}

/// Which rows of the batch satisfy `e`.
pub fn mask(e: &Expr, b: &SpanBatch) -> Vec<bool> {
    let n = b.len;
    match e {
        Expr::Const(Owned::Bool(x)) => vec![*x; n],
        Expr::And(l, r) => {
            let mut m = mask(l, b);
            if m.iter().any(|x| *x) {
                let rm = mask(r, b);
                m.iter_mut().zip(rm).for_each(|(a, b)| *a &= b);
            }
            m
        }
        Expr::Or(l, r) => {
            let mut m = mask(l, b);
            if !m.iter().all(|x| *x) {
                let rm = mask(r, b);
                m.iter_mut().zip(rm).for_each(|(a, b)| *a |= b);
            }
            m
        }
        Expr::Not(inner) if is_condition(inner) => {
            let mut m = mask(inner, b);
            m.iter_mut().for_each(|x| *x = !*x);
            m
        }
        Expr::Cmp { op, lhs, rhs } => match (&**lhs, &**rhs) {
            (Expr::Field(f), Expr::Const(c)) => cmp_kernel(b.col(f), n, *op, c.as_v()),
            (Expr::Const(c), Expr::Field(f)) => cmp_kernel(b.col(f), n, flip(*op), c.as_v()),
            _ => rowwise(e, b),
        },
        Expr::Regex { negated, lhs, re } => match &**lhs {
            Expr::Field(f) => regex_kernel(b.col(f), n, re, *negated),
            _ => rowwise(e, b),
        },
        Expr::Exists(inner) => match &**inner {
            Expr::Field(f) => match b.col(f) {
                None => vec![false; n],
                Some(c) => (0..n)
                    .map(|r| c.row(r).iter().any(|x| *x != Val::Nil))
                    .collect(),
            },
            _ => rowwise(e, b),
        },
        _ => rowwise(e, b),
    }
}

fn rowwise(e: &Expr, b: &SpanBatch) -> Vec<bool> {
    (0..b.len)
        .map(|r| matches!(eval(e, b, r), V::Bool(true)))
        .collect()
}

/// Decides `x op c` once per distinct string of the column.
fn per_string(col: &Col, f: impl Fn(&str) -> bool) -> Vec<bool> {
    (0..col.strs.len()).map(|i| f(col.strs.value(i))).collect()
}

/// `x op c` over an Arrow column: Arrow's comparison kernels for strings (a dictionary
/// column is compared once per dictionary value), a plain loop for durations. `None` when
/// the kernel does not apply (the caller falls back to values).
fn arrow_kernel(src: &ArrowSource, op: CmpOp, c: V) -> Option<Vec<bool>> {
    match (src, c) {
        (ArrowSource::Str(a), V::Str(lit)) => {
            let scalar = Scalar::new(StringArray::from(vec![lit]));
            let r = match op {
                CmpOp::Eq => cmp::eq(a, &scalar),
                CmpOp::Neq => cmp::neq(a, &scalar),
                CmpOp::Lt => cmp::lt(a, &scalar),
                CmpOp::Lte => cmp::lt_eq(a, &scalar),
                CmpOp::Gt => cmp::gt(a, &scalar),
                CmpOp::Gte => cmp::gt_eq(a, &scalar),
            }
            .ok()?;
            // Null (nil) compares false.
            Some(match r.nulls() {
                None => r.values().iter().collect(),
                Some(nulls) => r
                    .values()
                    .iter()
                    .zip(nulls.iter())
                    .map(|(v, valid)| v && valid)
                    .collect(),
            })
        }
        (ArrowSource::Str(a), _) => Some(vec![false; a.len()]),
        (ArrowSource::DurNs(a), V::Int(x) | V::Dur(x)) => {
            // Durations read as signed nanoseconds (an end before its start is negative).
            let v = a.values();
            Some(match op {
                CmpOp::Eq => v.iter().map(|d| *d as i64 == x).collect(),
                CmpOp::Neq => v.iter().map(|d| *d as i64 != x).collect(),
                CmpOp::Lt => v.iter().map(|d| (*d as i64) < x).collect(),
                CmpOp::Lte => v.iter().map(|d| *d as i64 <= x).collect(),
                CmpOp::Gt => v.iter().map(|d| *d as i64 > x).collect(),
                CmpOp::Gte => v.iter().map(|d| *d as i64 >= x).collect(),
            })
        }
        (ArrowSource::DurNs(_), _) => None,
    }
}

fn cmp_kernel(col: Option<&Col>, n: usize, op: CmpOp, c: V) -> Vec<bool> {
    let Some(col) = col else {
        return vec![false; n];
    };
    if let Some(src) = &col.arrow
        && let Some(m) = arrow_kernel(src, op, c)
    {
        return m;
    }
    let strs = match c {
        V::Str(_) => per_string(col, |s| compare(V::Str(s), op, c)),
        _ => Vec::new(),
    };
    let one = |x: &Val| match x {
        Val::Str(i) => strs.get(*i as usize).copied().unwrap_or(false),
        Val::Nil => false,
        _ => compare(col.v(*x), op, c),
    };
    match &col.offsets {
        None => col.vals().iter().map(one).collect(),
        Some(_) => (0..n).map(|r| col.row(r).iter().any(one)).collect(),
    }
}

fn regex_kernel(col: Option<&Col>, n: usize, re: &Regex, negated: bool) -> Vec<bool> {
    let Some(col) = col else {
        return vec![false; n];
    };
    let strs = per_string(col, |s| re.is_match(s) != negated);
    let one = |x: &Val| match x {
        Val::Str(i) => strs[*i as usize],
        _ => false,
    };
    match &col.offsets {
        None => col.vals().iter().map(one).collect(),
        Some(_) => (0..n).map(|r| col.row(r).iter().any(one)).collect(),
    }
}

/// Every value of `e` at a row: a field's values (several for event and link attributes),
/// else the one value.
fn values<'a>(e: &Expr, b: &'a SpanBatch, row: usize) -> Vec<V<'a>> {
    match e {
        Expr::Field(f) => match b.col(f) {
            None => vec![V::Nil],
            Some(c) => {
                let vs: Vec<V> = c.row(row).iter().map(|x| c.v(*x)).collect();
                if vs.is_empty() { vec![V::Nil] } else { vs }
            }
        },
        _ => vec![eval(e, b, row)],
    }
}

/// The value of `e` at one row. Conditions give `Bool`; a field gives its first value.
pub fn eval<'a>(e: &Expr, b: &'a SpanBatch, row: usize) -> V<'a> {
    match e {
        Expr::Const(c) => match c {
            // Constants live in the expression, not the batch; strings are compared through
            // `values`, so only non-string constants are returned from here.
            Owned::Str(_) => V::Nil,
            other => other.as_v_static(),
        },
        Expr::Field(f) => b.col(f).map_or(V::Nil, |c| c.first(row)),
        Expr::Cmp { op, lhs, rhs } => {
            let ls = const_or_values(lhs, b, row);
            let rs = const_or_values(rhs, b, row);
            V::Bool(
                ls.iter()
                    .any(|l| rs.iter().any(|r| compare(l.as_v_ref(), *op, r.as_v_ref()))),
            )
        }
        Expr::Regex { negated, lhs, re } => {
            let ls = const_or_values(lhs, b, row);
            V::Bool(ls.iter().any(|l| match l.as_v_ref() {
                V::Str(s) => re.is_match(s) != *negated,
                _ => false,
            }))
        }
        Expr::Arith { op, lhs, rhs } => {
            let l = eval(lhs, b, row);
            let r = eval(rhs, b, row);
            arith(l, *op, r)
        }
        Expr::And(l, r) => V::Bool(truthy(eval(l, b, row)) && truthy(eval(r, b, row))),
        Expr::Or(l, r) => V::Bool(truthy(eval(l, b, row)) || truthy(eval(r, b, row))),
        Expr::Not(inner) => match eval(inner, b, row) {
            V::Bool(x) => V::Bool(!x),
            _ => V::Nil,
        },
        Expr::Neg(inner) => match eval(inner, b, row) {
            V::Int(i) => i.checked_neg().map_or(V::Nil, V::Int),
            V::Float(f) => V::Float(-f),
            V::Dur(d) => d.checked_neg().map_or(V::Nil, V::Dur),
            _ => V::Nil,
        },
        Expr::Exists(inner) => V::Bool(values(inner, b, row).iter().any(|v| !v.is_nil())),
    }
}

fn truthy(v: V) -> bool {
    matches!(v, V::Bool(true))
}

/// A value that is either borrowed from the batch or a constant of the expression.
enum Either<'a, 'e> {
    Batch(V<'a>),
    Const(&'e Owned),
}

impl Either<'_, '_> {
    fn as_v_ref(&self) -> V<'_> {
        match self {
            Either::Batch(v) => *v,
            Either::Const(c) => c.as_v(),
        }
    }
}

fn const_or_values<'a, 'e>(e: &'e Expr, b: &'a SpanBatch, row: usize) -> Vec<Either<'a, 'e>> {
    match e {
        Expr::Const(c) => vec![Either::Const(c)],
        _ => values(e, b, row).into_iter().map(Either::Batch).collect(),
    }
}

impl Owned {
    /// A non-string constant as a value (strings are handled by the caller).
    fn as_v_static(&self) -> V<'static> {
        match self {
            Owned::Nil | Owned::Str(_) => V::Nil,
            Owned::Int(i) => V::Int(*i),
            Owned::Float(f) => V::Float(*f),
            Owned::Bool(b) => V::Bool(*b),
            Owned::Dur(d) => V::Dur(*d),
            Owned::Status(s) => V::Status(*s),
            Owned::Kind(k) => V::Kind(*k),
        }
    }
}

/// The value of `e` at a row, owned (group labels, aggregates, selected fields).
pub fn eval_owned(e: &Expr, b: &SpanBatch, row: usize) -> Owned {
    match e {
        Expr::Const(c) => c.clone(),
        _ => eval(e, b, row).to_owned_value(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, DictionaryArray, UInt64Array};
    use arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn arrow_kernels_cover_dictionary_and_plain_strings_and_durations() {
        let dict: DictionaryArray<Int32Type> = vec![Some("a"), None, Some("b"), Some("a")]
            .into_iter()
            .collect();
        let dict: ArrayRef = Arc::new(dict);
        let m = arrow_kernel(&ArrowSource::Str(dict), CmpOp::Eq, V::Str("a"));
        assert_eq!(
            m,
            Some(vec![true, false, false, true]),
            "dictionary kernel runs"
        );
        let plain: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let m = arrow_kernel(&ArrowSource::Str(plain.clone()), CmpOp::Neq, V::Str("a"));
        assert_eq!(
            m,
            Some(vec![false, false, true]),
            "nil is never unequal either"
        );
        let m = arrow_kernel(&ArrowSource::Str(plain), CmpOp::Eq, V::Int(1));
        assert_eq!(m, Some(vec![false; 3]));
        let d = UInt64Array::from(vec![5, 10, u64::MAX]);
        let m = arrow_kernel(&ArrowSource::DurNs(d), CmpOp::Gt, V::Dur(5));
        assert_eq!(
            m,
            Some(vec![false, true, false]),
            "a wrapped duration is negative"
        );
    }
}
