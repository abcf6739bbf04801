//! Which row groups of a block can hold a match, from the block's attribute index.
//!
//! A query's first stage must find spans for a trace to match. From it comes a formula of
//! index lookups: a string equality on a span or resource attribute or on the span name is
//! a lookup; `&&` within a filter intersects (one span must have both), `||` unites;
//! anything else (`!=`, ranges, regexes, other fields, fields computed per trace) admits
//! every row group.
//!
//! Between spansets, the formula unites: a trace's spans can be in several parts (blocks,
//! row groups), so `{ A } && { B }` or `{ A } >> { B }` may find its `A` in one block and
//! its `B` in another, and a part holding either must be read. A trace matches only if
//! one of its parts holds a span the first stage's filters select, so a part that holds
//! none of them is safely skipped. The negated structural operators return spans of their
//! right side only, so only it is looked up.

use std::collections::{BTreeSet, HashMap};

use arbor_storage::block::{AttributeIndex, IndexAnswer, IndexScope};
use arbor_storage::tags::{TagRegistry, TagScope, TagType, TagValue, ValueAnswer};

use crate::traceql::{
    BinaryOp, CmpOp, FieldExpr, FieldKind, Intrinsic, Pipeline, Scope, SpansetExpr, SpansetOp,
    Stage, Static,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Prune {
    All,
    Lookup(IndexScope, String, String),
    /// A comparison of the span duration (ns) with a constant, answered by each row
    /// group's least and greatest duration (the span file's statistics).
    Duration(CmpOp, u64),
    AllOf(Vec<Prune>),
    AnyOf(Vec<Prune>),
}

/// What a block tells the formula: its attribute index (when a lookup needs it) and its
/// row groups' duration ranges (when a duration comparison does).
pub struct BlockFacts<'a> {
    pub index: Option<&'a AttributeIndex>,
    pub durations: Option<&'a [Option<(u64, u64)>]>,
    /// For span-attribute lookups the index does not answer (too many values), the row
    /// groups whose bloom filter may hold the value, by (key, value).
    pub blooms: Option<&'a HashMap<(String, String), BTreeSet<usize>>>,
}

/// Row groups that may match: all, or these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowGroups {
    All,
    Some(BTreeSet<usize>),
}

impl RowGroups {
    pub fn is_empty(&self) -> bool {
        matches!(self, RowGroups::Some(s) if s.is_empty())
    }

    fn and(self, other: RowGroups) -> RowGroups {
        match (self, other) {
            (RowGroups::All, x) | (x, RowGroups::All) => x,
            (RowGroups::Some(a), RowGroups::Some(b)) => {
                RowGroups::Some(a.intersection(&b).copied().collect())
            }
        }
    }

    fn or(self, other: RowGroups) -> RowGroups {
        match (self, other) {
            (RowGroups::All, _) | (_, RowGroups::All) => RowGroups::All,
            (RowGroups::Some(mut a), RowGroups::Some(b)) => {
                a.extend(b);
                RowGroups::Some(a)
            }
        }
    }
}

impl Prune {
    /// Whether the formula can prune at all (else no block facts need be read).
    pub fn is_all(&self) -> bool {
        match self {
            Prune::All => true,
            Prune::Lookup(..) | Prune::Duration(..) => false,
            Prune::AllOf(v) => v.iter().all(Prune::is_all),
            Prune::AnyOf(v) => v.iter().any(Prune::is_all),
        }
    }

    /// Whether a lookup in the attribute index can matter.
    pub fn reads_index(&self) -> bool {
        self.any_leaf(&|p| matches!(p, Prune::Lookup(..)))
    }

    /// Whether a duration comparison can matter.
    pub fn reads_durations(&self) -> bool {
        self.any_leaf(&|p| matches!(p, Prune::Duration(..)))
    }

    /// The span-attribute lookups (key, value) the index does not answer.
    pub fn unindexed_span_lookups(&self, index: &AttributeIndex) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.collect_unindexed(index, &mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_unindexed(&self, index: &AttributeIndex, out: &mut Vec<(String, String)>) {
        match self {
            Prune::Lookup(IndexScope::Span, key, value)
                if index.lookup(IndexScope::Span, key, value) == IndexAnswer::NotIndexed =>
            {
                out.push((key.clone(), value.clone()));
            }
            Prune::AllOf(v) | Prune::AnyOf(v) => {
                v.iter().for_each(|p| p.collect_unindexed(index, out))
            }
            _ => {}
        }
    }

    fn any_leaf(&self, f: &dyn Fn(&Prune) -> bool) -> bool {
        !self.is_all()
            && match self {
                Prune::AllOf(v) | Prune::AnyOf(v) => v.iter().any(|p| p.any_leaf(f)),
                leaf => f(leaf),
            }
    }

    pub fn eval(&self, facts: &BlockFacts) -> RowGroups {
        match self {
            Prune::All => RowGroups::All,
            Prune::Lookup(scope, key, value) => match facts.index {
                None => RowGroups::All,
                Some(index) => match index.lookup(*scope, key, value) {
                    IndexAnswer::Absent => RowGroups::Some(BTreeSet::new()),
                    IndexAnswer::InRowGroups(rgs) => RowGroups::Some(rgs.into_iter().collect()),
                    IndexAnswer::NotIndexed => match facts
                        .blooms
                        .and_then(|b| b.get(&(key.clone(), value.clone())))
                    {
                        Some(rgs) if *scope == IndexScope::Span => RowGroups::Some(rgs.clone()),
                        _ => RowGroups::All,
                    },
                },
            },
            Prune::Duration(op, x) => match facts.durations {
                None => RowGroups::All,
                Some(ranges) => RowGroups::Some(
                    ranges
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.is_none_or(|(lo, hi)| range_may_hold(lo, hi, *op, *x)))
                        .map(|(i, _)| i)
                        .collect(),
                ),
            },
            Prune::AllOf(v) => v
                .iter()
                .fold(RowGroups::All, |acc, p| acc.and(p.eval(facts))),
            Prune::AnyOf(v) => v.iter().fold(RowGroups::Some(BTreeSet::new()), |acc, p| {
                acc.or(p.eval(facts))
            }),
        }
    }
}

impl Prune {
    /// Whether a head can hold a match, from its tag registry: `false` only when some
    /// needed value is known to be absent from the head.
    pub fn head_may_match(&self, reg: &TagRegistry) -> bool {
        match self {
            Prune::All | Prune::Duration(..) => true,
            Prune::Lookup(scope, key, value) => {
                let scope = match scope {
                    IndexScope::Span => TagScope::Span,
                    IndexScope::Resource => TagScope::Resource,
                    IndexScope::Intrinsic => TagScope::Intrinsic,
                };
                let v = TagValue::new(TagType::String, value.as_str());
                !matches!(reg.lookup(scope, key, &v), ValueAnswer::Absent)
            }
            Prune::AllOf(v) => v.iter().all(|p| p.head_may_match(reg)),
            Prune::AnyOf(v) => v.iter().any(|p| p.head_may_match(reg)),
        }
    }
}

/// The formula for a pipeline (its first stage).
pub fn pipeline(p: &Pipeline) -> Prune {
    match p.stages.first() {
        Some(Stage::Spanset(e)) => spanset(e),
        _ => Prune::All,
    }
}

fn spanset(e: &SpansetExpr) -> Prune {
    match e {
        SpansetExpr::Filter(f) => f.expr.as_ref().map_or(Prune::All, field),
        SpansetExpr::Pipeline(p) => pipeline(p),
        SpansetExpr::Op { op, lhs, rhs, .. } => match op {
            SpansetOp::Or => Prune::AnyOf(vec![spanset(lhs), spanset(rhs)]),
            SpansetOp::NotChild
            | SpansetOp::NotParent
            | SpansetOp::NotDescendant
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling => spanset(rhs),
            _ => Prune::AnyOf(vec![spanset(lhs), spanset(rhs)]),
        },
    }
}

fn field(e: &FieldExpr) -> Prune {
    match &e.kind {
        FieldKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And => Prune::AllOf(vec![field(lhs), field(rhs)]),
            BinaryOp::Or => Prune::AnyOf(vec![field(lhs), field(rhs)]),
            BinaryOp::Eq => match (&lhs.kind, &rhs.kind) {
                (f, FieldKind::Static(Static::String(v)))
                | (FieldKind::Static(Static::String(v)), f) => equality(f, v),
                _ => duration(*op, lhs, rhs),
            },
            _ => duration(*op, lhs, rhs),
        },
        _ => Prune::All,
    }
}

/// `duration <op> <constant>` (either way round).
fn duration(op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Prune {
    let Some(op) = super::value::cmp_op(op) else {
        return Prune::All;
    };
    let constant = |k: &FieldKind| match k {
        FieldKind::Static(Static::Duration(d)) => u64::try_from(*d).ok(),
        _ => None,
    };
    let is_duration = |k: &FieldKind| matches!(k, FieldKind::Intrinsic(Intrinsic::Duration));
    match (&lhs.kind, &rhs.kind) {
        (l, r) if is_duration(l) => constant(r).map_or(Prune::All, |x| Prune::Duration(op, x)),
        (l, r) if is_duration(r) => {
            constant(l).map_or(Prune::All, |x| Prune::Duration(super::value::flip(op), x))
        }
        _ => Prune::All,
    }
}

/// Whether some value in `[lo, hi]` can satisfy `v <op> x`.
fn range_may_hold(lo: u64, hi: u64, op: CmpOp, x: u64) -> bool {
    match op {
        CmpOp::Gt => hi > x,
        CmpOp::Gte => hi >= x,
        CmpOp::Lt => lo < x,
        CmpOp::Lte => lo <= x,
        CmpOp::Eq => lo <= x && x <= hi,
        CmpOp::Neq => !(lo == x && hi == x),
    }
}

fn equality(f: &FieldKind, value: &str) -> Prune {
    let lookup = |scope, key: &str| Prune::Lookup(scope, key.to_string(), value.to_string());
    match f {
        FieldKind::Attribute(a) if !a.parent => match a.scope {
            Scope::Span => lookup(IndexScope::Span, &a.name),
            Scope::Resource => lookup(IndexScope::Resource, &a.name),
            Scope::None => Prune::AnyOf(vec![
                lookup(IndexScope::Span, &a.name),
                lookup(IndexScope::Resource, &a.name),
            ]),
            _ => Prune::All,
        },
        FieldKind::Intrinsic(Intrinsic::Name) => lookup(IndexScope::Intrinsic, "name"),
        // Fields computed per trace (`trace:rootService`, …) may come from a span in
        // another part than the spans the rest of the filter selects.
        _ => Prune::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::{QueryKind, parse_and_validate};

    fn prune(q: &str) -> Prune {
        match parse_and_validate(q).unwrap().kind {
            QueryKind::Search(p) => pipeline(&p),
            QueryKind::Metrics(_) => panic!("search expected"),
        }
    }

    #[test]
    fn formulas() {
        assert_eq!(
            prune(r#"{ span.a = "x" }"#),
            Prune::Lookup(IndexScope::Span, "a".into(), "x".into())
        );
        assert!(prune(r#"{ span.a != "x" }"#).is_all());
        assert!(prune(r#"{ span.a = "x" || status = error }"#).is_all());
        assert_eq!(
            prune(r#"{ 1s < duration }"#),
            Prune::Duration(CmpOp::Gt, 1_000_000_000)
        );
        assert!(prune(r#"{ span.a = "x" || duration > 1s }"#).reads_durations());
        assert!(prune(r#"{ span.a = "x" || duration > 1s }"#).reads_index());
        assert!(!prune(r#"{ span.a = "x" }"#).reads_durations());
        assert!(!prune(r#"{ span.a = "x" && duration > 1s }"#).is_all());
        // Spansets in other parts of a trace may hold the other side.
        assert!(prune(r#"{ name = "x" } >> { }"#).is_all());
        assert!(!prune(r#"{ name = "x" } >> { span.a = "y" }"#).is_all());
        assert!(prune(r#"{ name = "x" } !>> { }"#).is_all());
        assert!(prune(r#"{ trace:rootService = "x" && span.a != "y" }"#).is_all());
        assert!(!prune(r#"{ } !>> { resource.service.name = "x" }"#).is_all());
        assert!(prune(r#"{ span.a = 3 }"#).is_all());
    }
}
