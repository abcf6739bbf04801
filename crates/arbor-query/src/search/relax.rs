//! Candidate filters: what a trace part can say about a whole trace.
//!
//! A search evaluates one part of a trace at a time (a head, a block, a row group), but a
//! query's answer is about the whole trace. Two facts make a part useful anyway:
//!
//! - Every span of a pipeline's answer passed one of its spanset filters (structural
//!   operators, `&&`/`||` between spansets, `by()`, `select()` and aggregate filters only
//!   keep or group spans the filters selected). So a trace none of whose spans passes any
//!   filter cannot match, and a trace can only match if one of its parts holds such a span.
//! - Most fields are the span's own, so whether a span passes a filter is the same in any
//!   part. A few are computed over the trace — its duration, its root's name and service,
//!   the span tree (`childCount`, the nested-set numbers, the `parent.` scope) — and a part
//!   computes them over itself, which can differ from the whole.
//!
//! The *candidate* form of a filter replaces each condition on a trace-computed field with
//! `true` (a condition under `!` whole: only positive positions are relaxed). It passes at
//! least the spans the filter passes over the whole trace, whatever the trace-computed
//! fields turn out to be, so "some span passes a candidate filter" never misses a trace
//! that matches whole.

use super::batch::FieldKey;
use super::eval::Expr;
use super::value::Owned;
use crate::traceql::Intrinsic;

/// Whether a field's value in a trace part can differ from its value in the whole trace.
pub fn computed_per_trace(k: &FieldKey) -> bool {
    // A parent may be in another part.
    k.parent_of().is_some()
        || matches!(
            k.intrinsic(),
            Some(
                Intrinsic::TraceDuration
                    | Intrinsic::TraceRootName
                    | Intrinsic::TraceRootService
                    | Intrinsic::ChildCount
                    | Intrinsic::NestedSetLeft
                    | Intrinsic::NestedSetRight
                    | Intrinsic::NestedSetParent
            )
        )
}

/// Whether `e` reads a field computed per trace.
pub fn reads_trace_fields(e: &Expr) -> bool {
    match e {
        Expr::Const(_) => false,
        Expr::Field(k) => computed_per_trace(k),
        Expr::Cmp { lhs, rhs, .. } | Expr::Arith { lhs, rhs, .. } => {
            reads_trace_fields(lhs) || reads_trace_fields(rhs)
        }
        Expr::Regex { lhs, .. } => reads_trace_fields(lhs),
        Expr::And(a, b) | Expr::Or(a, b) => reads_trace_fields(a) || reads_trace_fields(b),
        Expr::Not(a) | Expr::Neg(a) | Expr::Exists(a) => reads_trace_fields(a),
    }
}

/// The candidate form of filter `e` (see the module doc).
pub fn candidate(e: &Expr) -> Expr {
    match e {
        Expr::And(a, b) => Expr::And(Box::new(candidate(a)), Box::new(candidate(b))),
        Expr::Or(a, b) => Expr::Or(Box::new(candidate(a)), Box::new(candidate(b))),
        other if reads_trace_fields(other) => Expr::Const(Owned::Bool(true)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::batch::Needs;
    use crate::search::eval::compile;
    use crate::traceql::{QueryKind, SpansetExpr, Stage, parse_and_validate};

    fn filter(text: &str) -> Expr {
        let q = parse_and_validate(text).unwrap();
        let QueryKind::Search(p) = q.kind else {
            panic!()
        };
        let Stage::Spanset(SpansetExpr::Filter(f)) = &p.stages[0] else {
            panic!()
        };
        compile(f.expr.as_ref().unwrap(), &mut Needs::default()).unwrap()
    }

    fn show(e: &Expr) -> String {
        match e {
            Expr::Const(Owned::Bool(true)) => "T".into(),
            Expr::And(a, b) => format!("({} && {})", show(a), show(b)),
            Expr::Or(a, b) => format!("({} || {})", show(a), show(b)),
            Expr::Not(a) => format!("!{}", show(a)),
            _ => "c".into(),
        }
    }

    #[test]
    fn conditions_on_trace_fields_become_true() {
        let f = filter(r#"{ span.a = 1 && trace:duration > 1s }"#);
        assert_eq!(show(&candidate(&f)), "(c && T)");
        let f = filter(r#"{ span.a = 1 || !(trace:rootName = "x") }"#);
        assert_eq!(show(&candidate(&f)), "(c || T)");
        let f = filter(r#"{ nestedSetParent < 0 }"#);
        assert_eq!(show(&candidate(&f)), "T");
        let f = filter(r#"{ parent.http.route = "/checkout" && span.db.system = "redis" }"#);
        assert_eq!(show(&candidate(&f)), "(T && c)");
    }

    #[test]
    fn span_fields_stay() {
        let f = filter(r#"{ span.a = 1 && !(status = error) && duration > 1s }"#);
        assert!(!reads_trace_fields(&f));
        assert_eq!(show(&candidate(&f)), show(&f));
    }
}
