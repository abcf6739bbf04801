//! A reference evaluator for tests: the search and metrics semantics of the engine
//! (`arbor_query::search`), written as plainly as possible, straight from the AST and the
//! OTLP spans of one whole trace.
//!
//! Nothing here is fast: every field is looked up span by span, structural relations walk
//! parent IDs with nested loops. It shares no code with the engine's batches, kernels or
//! pipelines, so a test that compares the two finds the engine's mistakes (or this file's).
//! The rules it implements are the ones documented in `arbor_query::search` and its
//! modules `value`, `spanset` and `metrics`:
//!
//! - a missing field is nil and every comparison with nil is false (`!=` too); integers,
//!   floats and durations compare as numbers; other mismatched types compare false;
//! - a field with several values (event and link attributes and intrinsics, an unscoped
//!   `.a`: the span's value and the resource's) satisfies a comparison when any value does;
//!   where one value is needed (arithmetic, `by()`, aggregates, a bare boolean) it is the
//!   first: the span's before the resource's;
//! - the root of a trace is its earliest-starting span (then lowest span ID) whose parent
//!   is not in the trace;
//! - `parent.x` is attribute `x` of the span whose ID is the span's parent ID, nil when that
//!   span is not in the trace.

use std::collections::{BTreeMap, BTreeSet};

use arbor_model::otlp::{AnyValue, KeyValue, any_value};
use arbor_storage::head::HeadSpan;
use regex::Regex;

use arbor_query::search::value::Owned;
use arbor_query::traceql::{
    AggregateOp, ArithOp, Attribute, BinaryOp, CmpOp, Field, FieldExpr, FieldKind, Intrinsic,
    MetricsFunctionKind, MetricsPipeline, Pipeline, ScalarExpr, Scope, SpansetExpr, SpansetOp,
    Stage, Static, Status, UnaryOp,
};
use arbor_query::traceql::{Kind, SpansetFilter};

/// One spanset found in a trace: span IDs (hex, sorted) and `by()` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSpanset {
    pub span_ids: BTreeSet<String>,
    pub labels: Vec<(String, Owned)>,
}

/// Runs a search pipeline over the spans of one trace.
pub fn search(pipeline: &Pipeline, spans: &[HeadSpan]) -> Vec<RefSpanset> {
    let t = Trace::new(spans);
    let all = Set {
        spans: (0..spans.len()).collect(),
        labels: Vec::new(),
    };
    let sets = if spans.is_empty() {
        Vec::new()
    } else {
        t.stages(&pipeline.stages, vec![all])
    };
    sets.into_iter()
        .map(|s| RefSpanset {
            span_ids: s
                .spans
                .iter()
                .map(|&i| hex::encode(&spans[i].span.span_id))
                .collect(),
            labels: s.labels,
        })
        .collect()
}

/// The root span of a trace (see the module doc), by index.
pub fn root(spans: &[HeadSpan]) -> Option<usize> {
    Trace::new(spans).root()
}

/// One metrics series: labels and a value per step (NaN where nothing was counted).
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    pub labels: Vec<(String, Owned)>,
    pub values: Vec<f64>,
}

/// Runs one metrics pipeline (`rate`, `count_over_time`, `min/max/avg/sum_over_time`,
/// with `by()`) over whole traces, for steps of `step_ns` over `[start_ns, end_ns)`.
/// `None` for the functions this reference does not implement.
pub fn metrics(
    mp: &MetricsPipeline,
    traces: &[Vec<HeadSpan>],
    start_ns: u64,
    end_ns: u64,
    step_ns: u64,
) -> Option<Vec<RefSeries>> {
    let field = match &mp.function.kind {
        MetricsFunctionKind::Rate | MetricsFunctionKind::CountOverTime => None,
        MetricsFunctionKind::MinOverTime(f)
        | MetricsFunctionKind::MaxOverTime(f)
        | MetricsFunctionKind::AvgOverTime(f)
        | MetricsFunctionKind::SumOverTime(f) => Some(&f.field),
        _ => return None,
    };
    let steps = (end_ns - start_ns).div_ceil(step_ns) as usize;
    // Labels (by their group keys) → the labels and the values counted in each step.
    type Key = Vec<(String, (u8, String))>;
    type Cells = (Vec<(String, Owned)>, Vec<Vec<f64>>);
    let mut cells: BTreeMap<Key, Cells> = BTreeMap::new();
    for spans in traces {
        let t = Trace::new(spans);
        let mut kept = BTreeSet::new();
        for set in search_sets(&t, &mp.pipeline) {
            kept.extend(set.spans);
        }
        for i in kept {
            let ts = spans[i].span.start_time_unix_nano;
            if ts < start_ns || ts >= end_ns {
                continue;
            }
            let step = ((ts - start_ns) / step_ns) as usize;
            let value = match field {
                None => 1.0,
                Some(f) => match t.field_first(i, f) {
                    Owned::Dur(d) => d as f64 / 1e9,
                    Owned::Int(x) => x as f64,
                    Owned::Float(x) => x,
                    _ => continue,
                },
            };
            let labels: Vec<(String, Owned)> = mp
                .function
                .by
                .iter()
                .map(|f| (f.to_string(), t.field_first(i, &f.field)))
                .collect();
            let key = labels
                .iter()
                .map(|(k, v)| (k.clone(), v.group_key()))
                .collect();
            let cell = cells
                .entry(key)
                .or_insert_with(|| (labels, vec![Vec::new(); steps]));
            cell.1[step].push(value);
        }
    }
    let step_s = step_ns as f64 / 1e9;
    Some(
        cells
            .into_values()
            .map(|(labels, per_step)| RefSeries {
                labels,
                values: per_step
                    .iter()
                    .map(|vs| {
                        if vs.is_empty() {
                            return f64::NAN;
                        }
                        let n = vs.len() as f64;
                        match &mp.function.kind {
                            MetricsFunctionKind::Rate => n / step_s,
                            MetricsFunctionKind::CountOverTime => n,
                            MetricsFunctionKind::MinOverTime(_) => {
                                vs.iter().copied().fold(f64::INFINITY, f64::min)
                            }
                            MetricsFunctionKind::MaxOverTime(_) => {
                                vs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                            }
                            MetricsFunctionKind::SumOverTime(_) => vs.iter().sum(),
                            _ => vs.iter().sum::<f64>() / n,
                        }
                    })
                    .collect(),
            })
            .collect(),
    )
}

fn search_sets(t: &Trace, p: &Pipeline) -> Vec<Set> {
    if t.spans.is_empty() {
        return Vec::new();
    }
    let all = Set {
        spans: (0..t.spans.len()).collect(),
        labels: Vec::new(),
    };
    t.stages(&p.stages, vec![all])
}

/// Spans by index into the trace, and labels.
#[derive(Debug, Clone)]
struct Set {
    spans: BTreeSet<usize>,
    labels: Vec<(String, Owned)>,
}

struct Trace<'a> {
    spans: &'a [HeadSpan],
    /// Each span's parent in the trace: the span whose ID is its parent ID.
    parents: Vec<Option<usize>>,
}

fn is_no_id(id: &[u8]) -> bool {
    id.iter().all(|b| *b == 0)
}

impl<'a> Trace<'a> {
    fn new(spans: &'a [HeadSpan]) -> Trace<'a> {
        let parents = (0..spans.len())
            .map(|i| {
                let p = &spans[i].span.parent_span_id;
                if is_no_id(p) {
                    return None;
                }
                (0..spans.len()).find(|&j| j != i && spans[j].span.span_id == *p)
            })
            .collect();
        Trace { spans, parents }
    }

    fn root(&self) -> Option<usize> {
        let spans = self.spans;
        (0..spans.len())
            .filter(|&i| self.parent(i).is_none())
            .min_by(|&a, &b| {
                (spans[a].span.start_time_unix_nano, &spans[a].span.span_id)
                    .cmp(&(spans[b].span.start_time_unix_nano, &spans[b].span.span_id))
            })
    }

    /// The span whose ID is span `i`'s parent ID, if it is in the trace.
    fn parent(&self, i: usize) -> Option<usize> {
        self.parents[i]
    }

    fn is_ancestor(&self, a: usize, of: usize) -> bool {
        let mut cur = self.parent(of);
        let mut steps = 0;
        while let Some(p) = cur {
            if p == a {
                return true;
            }
            steps += 1;
            if steps > self.spans.len() {
                return false;
            }
            cur = self.parent(p);
        }
        false
    }

    /// Whether `r` is in relation `op` with `l` (`{l} op {r}` keeps `r`).
    fn related(&self, op: SpansetOp, l: usize, r: usize) -> bool {
        use SpansetOp as O;
        match op {
            O::Child | O::NotChild | O::UnionChild => self.parent(r) == Some(l),
            O::Parent | O::NotParent | O::UnionParent => self.parent(l) == Some(r),
            O::Descendant | O::NotDescendant | O::UnionDescendant => self.is_ancestor(l, r),
            O::Ancestor | O::NotAncestor | O::UnionAncestor => self.is_ancestor(r, l),
            O::Sibling | O::NotSibling | O::UnionSibling => {
                l != r && self.parent(l).is_some() && self.parent(l) == self.parent(r)
            }
            O::And | O::Or => unreachable!("not structural"),
        }
    }

    fn stages(&self, stages: &[Stage], mut sets: Vec<Set>) -> Vec<Set> {
        for s in stages {
            if sets.is_empty() {
                return sets;
            }
            sets = self.stage(s, sets);
        }
        sets
    }

    fn stage(&self, s: &Stage, input: Vec<Set>) -> Vec<Set> {
        match s {
            Stage::Spanset(e) => input.iter().flat_map(|ss| self.set(e, ss)).collect(),
            Stage::ScalarFilter(f) => input
                .into_iter()
                .filter(
                    |ss| match (self.scalar(&f.lhs, ss), self.scalar(&f.rhs, ss)) {
                        (Some(l), Some(r)) => match l.partial_cmp(&r) {
                            None => false,
                            Some(o) => cmp_holds(f.op, o),
                        },
                        _ => false,
                    },
                )
                .collect(),
            Stage::GroupBy(g) => {
                let mut out = Vec::new();
                for ss in input {
                    let mut groups: BTreeMap<(u8, String), (Owned, BTreeSet<usize>)> =
                        BTreeMap::new();
                    for &i in &ss.spans {
                        let v = self.eval(&g.expr, i);
                        groups
                            .entry(v.group_key())
                            .or_insert_with(|| (v, BTreeSet::new()))
                            .1
                            .insert(i);
                    }
                    for (_, (v, spans)) in groups {
                        let mut labels = ss.labels.clone();
                        labels.push((format!("by({})", g.expr), v));
                        out.push(Set { spans, labels });
                    }
                }
                out
            }
            Stage::Select(_) => input,
            Stage::Coalesce => {
                let spans = input.into_iter().flat_map(|s| s.spans).collect();
                vec![Set {
                    spans,
                    labels: Vec::new(),
                }]
            }
        }
    }

    fn set(&self, e: &SpansetExpr, input: &Set) -> Vec<Set> {
        let out: BTreeSet<usize> = match e {
            SpansetExpr::Filter(SpansetFilter { expr, .. }) => input
                .spans
                .iter()
                .copied()
                .filter(|&i| {
                    expr.as_ref()
                        .is_none_or(|x| self.eval(x, i) == Owned::Bool(true))
                })
                .collect(),
            SpansetExpr::Pipeline(p) => return self.stages(&p.stages, vec![input.clone()]),
            SpansetExpr::Op { op, lhs, rhs, .. } => {
                let l: BTreeSet<usize> = self
                    .set(lhs, input)
                    .into_iter()
                    .flat_map(|s| s.spans)
                    .collect();
                let r: BTreeSet<usize> = self
                    .set(rhs, input)
                    .into_iter()
                    .flat_map(|s| s.spans)
                    .collect();
                self.combine(*op, &l, &r)
            }
        };
        if out.is_empty() {
            Vec::new()
        } else {
            vec![Set {
                spans: out,
                labels: input.labels.clone(),
            }]
        }
    }

    fn combine(&self, op: SpansetOp, l: &BTreeSet<usize>, r: &BTreeSet<usize>) -> BTreeSet<usize> {
        use SpansetOp as O;
        let both = || l.union(r).copied().collect();
        match op {
            O::And if !l.is_empty() && !r.is_empty() => both(),
            O::Or => both(),
            O::And => BTreeSet::new(),
            O::Child | O::Parent | O::Descendant | O::Ancestor | O::Sibling => r
                .iter()
                .copied()
                .filter(|&b| l.iter().any(|&a| self.related(op, a, b)))
                .collect(),
            O::NotChild | O::NotParent | O::NotDescendant | O::NotAncestor | O::NotSibling => r
                .iter()
                .copied()
                .filter(|&b| !l.iter().any(|&a| self.related(op, a, b)))
                .collect(),
            O::UnionChild
            | O::UnionParent
            | O::UnionDescendant
            | O::UnionAncestor
            | O::UnionSibling => {
                let mut out = BTreeSet::new();
                for &a in l {
                    for &b in r {
                        if self.related(op, a, b) {
                            out.insert(a);
                            out.insert(b);
                        }
                    }
                }
                out
            }
        }
    }

    fn scalar(&self, e: &ScalarExpr, ss: &Set) -> Option<f64> {
        match e {
            ScalarExpr::Literal(s, _) => match s {
                Static::Int(i) | Static::Duration(i) => Some(*i as f64),
                Static::Float(f) => Some(*f),
                _ => None,
            },
            ScalarExpr::Binary { op, lhs, rhs, .. } => {
                let (a, b) = (self.scalar(lhs, ss)?, self.scalar(rhs, ss)?);
                Some(match op {
                    ArithOp::Add => a + b,
                    ArithOp::Sub => a - b,
                    ArithOp::Mul => a * b,
                    ArithOp::Div => a / b,
                    ArithOp::Mod => a % b,
                    ArithOp::Pow => a.powf(b),
                })
            }
            ScalarExpr::Aggregate(agg) => {
                if agg.op == AggregateOp::Count {
                    return Some(ss.spans.len() as f64);
                }
                let expr = agg.expr.as_ref()?;
                let vals: Vec<f64> = ss
                    .spans
                    .iter()
                    .filter_map(|&i| number(&self.eval(expr, i)))
                    .collect();
                if vals.is_empty() {
                    return None;
                }
                let n = vals.len() as f64;
                Some(match agg.op {
                    AggregateOp::Sum => vals.iter().sum(),
                    AggregateOp::Avg => vals.iter().sum::<f64>() / n,
                    AggregateOp::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                    AggregateOp::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    AggregateOp::Count => n,
                })
            }
        }
    }

    /// The value of a field expression at span `i` (a field gives its first value).
    fn eval(&self, e: &FieldExpr, i: usize) -> Owned {
        match &e.kind {
            FieldKind::Static(s) => static_value(s),
            FieldKind::Intrinsic(x) => first(self.intrinsic(i, *x)),
            FieldKind::Attribute(a) => first(self.attr(i, a)),
            FieldKind::Unary { op, expr } => match op {
                UnaryOp::Not => match self.eval(expr, i) {
                    Owned::Bool(b) => Owned::Bool(!b),
                    _ => Owned::Nil,
                },
                UnaryOp::Neg => match self.eval(expr, i) {
                    Owned::Int(x) => x.checked_neg().map_or(Owned::Nil, Owned::Int),
                    Owned::Dur(x) => x.checked_neg().map_or(Owned::Nil, Owned::Dur),
                    Owned::Float(x) => Owned::Float(-x),
                    _ => Owned::Nil,
                },
                UnaryOp::Exists => {
                    Owned::Bool(self.all_values(expr, i).iter().any(|v| *v != Owned::Nil))
                }
            },
            FieldKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And => Owned::Bool(
                    self.eval(lhs, i) == Owned::Bool(true)
                        && self.eval(rhs, i) == Owned::Bool(true),
                ),
                BinaryOp::Or => Owned::Bool(
                    self.eval(lhs, i) == Owned::Bool(true)
                        || self.eval(rhs, i) == Owned::Bool(true),
                ),
                BinaryOp::Regex | BinaryOp::NotRegex => {
                    let FieldKind::Static(Static::String(pat)) = &rhs.kind else {
                        panic!("a regex is a string literal");
                    };
                    let re = Regex::new(&format!("^(?:{pat})$")).expect("validated regex");
                    let want = *op == BinaryOp::Regex;
                    Owned::Bool(self.all_values(lhs, i).iter().any(|v| match v {
                        Owned::Str(s) => re.is_match(s) == want,
                        _ => false,
                    }))
                }
                BinaryOp::Eq
                | BinaryOp::Neq
                | BinaryOp::Lt
                | BinaryOp::Lte
                | BinaryOp::Gt
                | BinaryOp::Gte => {
                    let ls = self.all_values(lhs, i);
                    let rs = self.all_values(rhs, i);
                    let c = cmp_of(*op);
                    Owned::Bool(ls.iter().any(|l| rs.iter().any(|r| compare(l, c, r))))
                }
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Mod
                | BinaryOp::Pow => arith(&self.eval(lhs, i), *op, &self.eval(rhs, i)),
            },
        }
    }

    /// Every value of an expression: a field's values (nil when it has none), else its one
    /// value.
    fn all_values(&self, e: &FieldExpr, i: usize) -> Vec<Owned> {
        let vs = match &e.kind {
            FieldKind::Intrinsic(x) => self.intrinsic(i, *x),
            FieldKind::Attribute(a) => self.attr(i, a),
            _ => return vec![self.eval(e, i)],
        };
        if vs.is_empty() { vec![Owned::Nil] } else { vs }
    }

    fn field_first(&self, i: usize, f: &Field) -> Owned {
        match f {
            Field::Intrinsic(x) => first(self.intrinsic(i, *x)),
            Field::Attribute(a) => first(self.attr(i, a)),
        }
    }

    /// An attribute of span `i`, or with `parent.` of its parent (none for a root).
    fn attr(&self, i: usize, a: &Attribute) -> Vec<Owned> {
        if a.parent {
            return self
                .parent(i)
                .map_or_else(Vec::new, |p| self.attribute(p, a.scope, &a.name));
        }
        self.attribute(i, a.scope, &a.name)
    }

    fn attribute(&self, i: usize, scope: Scope, name: &str) -> Vec<Owned> {
        let hs = &self.spans[i];
        let one = |attrs: Option<&Vec<KeyValue>>| -> Vec<Owned> {
            attrs
                .and_then(|a| a.iter().find(|kv| kv.key == name))
                .map(|kv| vec![any(kv.value.as_ref())])
                .unwrap_or_default()
        };
        let resource = || one(hs.resource.resource.as_ref().map(|r| &r.attributes));
        match scope {
            Scope::Span => one(Some(&hs.span.attributes)),
            Scope::Resource => resource(),
            Scope::Instrumentation => one(hs.scope.scope.as_ref().map(|s| &s.attributes)),
            Scope::None => {
                let mut v = one(Some(&hs.span.attributes));
                v.extend(resource());
                v.retain(|x| *x != Owned::Nil);
                v
            }
            Scope::Event => hs
                .span
                .events
                .iter()
                .flat_map(|e| one(Some(&e.attributes)))
                .collect(),
            Scope::Link => hs
                .span
                .links
                .iter()
                .flat_map(|l| one(Some(&l.attributes)))
                .collect(),
        }
    }

    fn intrinsic(&self, i: usize, x: Intrinsic) -> Vec<Owned> {
        let hs = &self.spans[i];
        let sp = &hs.span;
        let dur = |s: u64, e: u64| Owned::Dur(e.wrapping_sub(s) as i64);
        let str_of = |s: &str| Owned::Str(s.to_string());
        vec![match x {
            Intrinsic::Duration => dur(sp.start_time_unix_nano, sp.end_time_unix_nano),
            Intrinsic::Name => str_of(&sp.name),
            Intrinsic::Status => Owned::Status(match sp.status.as_ref().map(|s| s.code) {
                Some(1) => Status::Ok,
                Some(2) => Status::Error,
                _ => Status::Unset,
            }),
            Intrinsic::StatusMessage => {
                str_of(sp.status.as_ref().map_or("", |s| s.message.as_str()))
            }
            Intrinsic::Kind => Owned::Kind(match sp.kind {
                1 => Kind::Internal,
                2 => Kind::Server,
                3 => Kind::Client,
                4 => Kind::Producer,
                5 => Kind::Consumer,
                _ => Kind::Unspecified,
            }),
            Intrinsic::ChildCount => Owned::Int(
                (0..self.spans.len())
                    .filter(|&j| self.parent(j) == Some(i))
                    .count() as i64,
            ),
            Intrinsic::SpanId => str_of(&hex::encode(&sp.span_id)),
            Intrinsic::ParentId => {
                if is_no_id(&sp.parent_span_id) {
                    Owned::Nil
                } else {
                    str_of(&hex::encode(&sp.parent_span_id))
                }
            }
            Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent => {
                let (left, right) = self.nested_sets();
                match x {
                    Intrinsic::NestedSetLeft => Owned::Int(left[i]),
                    Intrinsic::NestedSetRight => Owned::Int(right[i]),
                    _ => Owned::Int(self.parent(i).map_or(-1, |p| left[p])),
                }
            }
            Intrinsic::TraceId => str_of(&hex::encode(&sp.trace_id)),
            Intrinsic::TraceDuration => {
                let start = self.spans.iter().map(|s| s.span.start_time_unix_nano).min();
                let end = self.spans.iter().map(|s| s.span.end_time_unix_nano).max();
                dur(start.unwrap_or(0), end.unwrap_or(0).max(start.unwrap_or(0)))
            }
            Intrinsic::TraceRootName => match self.root() {
                Some(r) => str_of(&self.spans[r].span.name),
                None => Owned::Nil,
            },
            Intrinsic::TraceRootService => match self.root() {
                Some(r) => match self.attribute(r, Scope::Resource, "service.name").first() {
                    Some(Owned::Str(s)) => Owned::Str(s.clone()),
                    _ => Owned::Nil,
                },
                None => Owned::Nil,
            },
            Intrinsic::EventName => return sp.events.iter().map(|e| str_of(&e.name)).collect(),
            Intrinsic::EventTimeSinceStart => {
                return sp
                    .events
                    .iter()
                    .map(|e| dur(sp.start_time_unix_nano, e.time_unix_nano))
                    .collect();
            }
            Intrinsic::LinkTraceId => {
                return sp
                    .links
                    .iter()
                    .map(|l| str_of(&hex::encode(&l.trace_id)))
                    .collect();
            }
            Intrinsic::LinkSpanId => {
                return sp
                    .links
                    .iter()
                    .map(|l| str_of(&hex::encode(&l.span_id)))
                    .collect();
            }
            Intrinsic::InstrumentationName => match &hs.scope.scope {
                Some(s) => str_of(&s.name),
                None => Owned::Nil,
            },
            Intrinsic::InstrumentationVersion => match &hs.scope.scope {
                Some(s) => str_of(&s.version),
                None => Owned::Nil,
            },
            Intrinsic::Parent => panic!("the parent intrinsic is not supported"),
        }]
    }

    /// Nested-set numbers: a depth-first walk from the roots, roots and children each in
    /// start order (then span ID), counting on entry and on exit.
    fn nested_sets(&self) -> (Vec<i64>, Vec<i64>) {
        let n = self.spans.len();
        let order = |v: &mut Vec<usize>| {
            v.sort_by(|&a, &b| {
                let (x, y) = (&self.spans[a].span, &self.spans[b].span);
                (x.start_time_unix_nano, &x.span_id).cmp(&(y.start_time_unix_nano, &y.span_id))
            })
        };
        let mut roots: Vec<usize> = (0..n).filter(|&i| self.parent(i).is_none()).collect();
        order(&mut roots);
        let (mut left, mut right) = (vec![0i64; n], vec![0i64; n]);
        let mut counter = 0;
        fn walk(
            t: &Trace,
            i: usize,
            counter: &mut i64,
            left: &mut [i64],
            right: &mut [i64],
            order: &dyn Fn(&mut Vec<usize>),
        ) {
            *counter += 1;
            left[i] = *counter;
            let mut kids: Vec<usize> = (0..t.spans.len())
                .filter(|&j| t.parent(j) == Some(i))
                .collect();
            order(&mut kids);
            for k in kids {
                walk(t, k, counter, left, right, order);
            }
            *counter += 1;
            right[i] = *counter;
        }
        for r in roots {
            walk(self, r, &mut counter, &mut left, &mut right, &order);
        }
        (left, right)
    }
}

fn first(vs: Vec<Owned>) -> Owned {
    vs.into_iter().next().unwrap_or(Owned::Nil)
}

fn any(v: Option<&AnyValue>) -> Owned {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Owned::Str(s.clone()),
        Some(any_value::Value::IntValue(i)) => Owned::Int(*i),
        Some(any_value::Value::DoubleValue(f)) => Owned::Float(*f),
        Some(any_value::Value::BoolValue(b)) => Owned::Bool(*b),
        _ => Owned::Nil,
    }
}

fn static_value(s: &Static) -> Owned {
    match s {
        Static::Bool(b) => Owned::Bool(*b),
        Static::Int(i) => Owned::Int(*i),
        Static::Float(f) => Owned::Float(*f),
        Static::Duration(d) => Owned::Dur(*d),
        Static::String(s) => Owned::Str(s.clone()),
        Static::Status(s) => Owned::Status(*s),
        Static::Kind(k) => Owned::Kind(*k),
    }
}

fn number(v: &Owned) -> Option<f64> {
    match v {
        Owned::Int(i) | Owned::Dur(i) => Some(*i as f64),
        Owned::Float(f) => Some(*f),
        _ => None,
    }
}

fn cmp_of(op: BinaryOp) -> CmpOp {
    match op {
        BinaryOp::Eq => CmpOp::Eq,
        BinaryOp::Neq => CmpOp::Neq,
        BinaryOp::Lt => CmpOp::Lt,
        BinaryOp::Lte => CmpOp::Lte,
        BinaryOp::Gt => CmpOp::Gt,
        _ => CmpOp::Gte,
    }
}

fn cmp_holds(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Neq => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Lte => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Gte => o != Less,
    }
}

/// `a op b`: false with nil or values of unrelated types.
fn compare(a: &Owned, op: CmpOp, b: &Owned) -> bool {
    let eq_only = |equal: bool| match op {
        CmpOp::Eq => equal,
        CmpOp::Neq => !equal,
        _ => false,
    };
    match (a, b) {
        (Owned::Bool(x), Owned::Bool(y)) => eq_only(x == y),
        (Owned::Status(x), Owned::Status(y)) => eq_only(x == y),
        (Owned::Kind(x), Owned::Kind(y)) => eq_only(x == y),
        (Owned::Str(x), Owned::Str(y)) => cmp_holds(op, x.as_bytes().cmp(y.as_bytes())),
        (Owned::Int(x) | Owned::Dur(x), Owned::Int(y) | Owned::Dur(y)) => cmp_holds(op, x.cmp(y)),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).is_some_and(|o| cmp_holds(op, o)),
            _ => false,
        },
    }
}

/// Arithmetic: integers (and durations) stay integers unless `^`; overflow and division by
/// zero give nil; a float operand makes a float; anything not a number gives nil.
fn arith(a: &Owned, op: BinaryOp, b: &Owned) -> Owned {
    let int = |v: &Owned| match v {
        Owned::Int(i) | Owned::Dur(i) => Some(*i),
        _ => None,
    };
    let dur = matches!(a, Owned::Dur(_)) || matches!(b, Owned::Dur(_));
    if op != BinaryOp::Pow
        && let (Some(x), Some(y)) = (int(a), int(b))
    {
        let r = match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            BinaryOp::Div => x.checked_div(y),
            _ => x.checked_rem(y),
        };
        return match r {
            None => Owned::Nil,
            Some(r) if dur => Owned::Dur(r),
            Some(r) => Owned::Int(r),
        };
    }
    let (Some(x), Some(y)) = (number(a), number(b)) else {
        return Owned::Nil;
    };
    Owned::Float(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Mod => x % y,
        _ => x.powf(y),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arbor_model::otlp::{InstrumentationScope, Resource, Span, any_value::Value};
    use arbor_storage::head::{ResourceEntry, ScopeEntry};

    use super::*;
    use arbor_query::traceql::{QueryKind, parse_and_validate};

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    /// root(1) → a(2) → b(3), root → c(4); all of service "svc" with resource `a = 7`.
    fn trace() -> Vec<HeadSpan> {
        let resource = Arc::new(ResourceEntry {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue("svc".into())),
                    kv("a", Value::IntValue(7)),
                ],
                ..Default::default()
            }),
            schema_url: String::new(),
        });
        let scope = Arc::new(ScopeEntry {
            scope: Some(InstrumentationScope::default()),
            schema_url: String::new(),
        });
        let span = |id: u8, parent: u8, name: &str, a: Option<i64>| HeadSpan {
            resource: resource.clone(),
            scope: scope.clone(),
            span: Span {
                trace_id: vec![9; 16],
                span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
                parent_span_id: if parent == 0 {
                    Vec::new()
                } else {
                    vec![0, 0, 0, 0, 0, 0, 0, parent]
                },
                name: name.into(),
                start_time_unix_nano: 100 + u64::from(id),
                end_time_unix_nano: 200,
                attributes: a.map(|a| kv("a", Value::IntValue(a))).into_iter().collect(),
                ..Default::default()
            },
        };
        vec![
            span(1, 0, "root", None),
            span(2, 1, "a", Some(1)),
            span(3, 2, "b", Some(2)),
            span(4, 1, "c", None),
        ]
    }

    fn names(q: &str) -> Vec<Vec<String>> {
        let spans = trace();
        let QueryKind::Search(p) = parse_and_validate(q).unwrap().kind else {
            panic!("a search")
        };
        search(&p, &spans)
            .into_iter()
            .map(|s| {
                let mut names: Vec<String> = s
                    .span_ids
                    .iter()
                    .map(|id| {
                        let s = spans
                            .iter()
                            .find(|s| hex::encode(&s.span.span_id) == *id)
                            .unwrap();
                        s.span.name.clone()
                    })
                    .collect();
                names.sort();
                names
            })
            .collect()
    }

    #[test]
    fn unscoped_matches_span_or_resource() {
        // Spans without `a` fall back to the resource's 7; `a` and `b` match through it too.
        assert_eq!(names("{ .a = 7 }"), vec![vec!["a", "b", "c", "root"]]);
        assert_eq!(names("{ span.a = 7 }"), Vec::<Vec<String>>::new());
        assert_eq!(names("{ span.a != 1 }"), vec![vec!["b"]]);
    }

    #[test]
    fn structure() {
        assert_eq!(names(r#"{ name = "root" } > { }"#), vec![vec!["a", "c"]]);
        assert_eq!(
            names(r#"{ name = "root" } >> { }"#),
            vec![vec!["a", "b", "c"]]
        );
        assert_eq!(names(r#"{ name = "b" } << { }"#), vec![vec!["a", "root"]]);
        assert_eq!(names(r#"{ name = "a" } ~ { }"#), vec![vec!["c"]]);
        assert_eq!(
            names(r#"{ name = "a" } !> { }"#),
            vec![vec!["a", "c", "root"]]
        );
        assert_eq!(
            names(r#"{ name = "x" } !> { }"#),
            vec![vec!["a", "b", "c", "root"]]
        );
        assert_eq!(names(r#"{ name = "a" } &> { }"#), vec![vec!["a", "b"]]);
        assert_eq!(names(r#"{ childCount = 2 }"#), vec![vec!["root"]]);
    }

    #[test]
    fn groups_and_aggregates() {
        assert_eq!(
            names("{ } | by(span.a) | count() > 1"),
            vec![vec!["c", "root"]],
            "the nil group holds root and c"
        );
        assert_eq!(
            names("{ } | sum(span.a) = 3"),
            vec![vec!["a", "b", "c", "root"]]
        );
    }
}
