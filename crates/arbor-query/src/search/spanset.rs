//! Search pipelines over the spans of one trace part: spanset filters (by the masks the
//! evaluator computed for the whole batch), `&&`/`||`, the structural operators, scalar
//! filters, `by()`, `select()` and `coalesce()`, with Tempo's semantics:
//!
//! - a trace starts as one spanset of all its spans; a filter keeps the spans that match and
//!   drops a spanset left empty;
//! - `A && B` keeps the spans of both sides when both found some, `A || B` when either did;
//! - `A > B` keeps the spans of B that are children of a span of A (`<` parents, `>>`
//!   descendants, `<<` ancestors, `~` siblings: another span with the same parent); the
//!   `!` forms keep the spans of B that are in no such relation with any span of A; the `&`
//!   forms keep the spans of both sides that are in the relation;
//! - a trace matches when its last stage leaves a spanset.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::batch::{FieldKey, Needs, SpanBatch};
use super::eval::{CompileError, Expr, compile, eval, eval_owned, field_ref_key, mask};
use super::value::{Owned, V, arith, compare};
use crate::traceql::{
    AggregateOp, ArithOp, CmpOp, Intrinsic, Pipeline, ScalarExpr, SpansetExpr, SpansetOp, Stage,
    Static,
};

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<CStage>,
    /// Every spanset filter's expression; stages refer to them by index.
    pub filters: Vec<Expr>,
    pub needs: Needs,
    /// Whether a structural operator is used (the span tree is needed).
    pub structural: bool,
    /// The pipeline is one spanset filter (and `select()`s): a trace matches exactly when
    /// one of its spans passes filter 0, and the spans that pass are the result, so no
    /// per-trace work (and no trace grouping) is needed to find matches.
    pub simple: bool,
    /// Fields named by `select()`, and `by()` labels, to return with the spans.
    pub selected: Vec<FieldKey>,
    /// The candidate form of each filter ([`super::relax`]) when a filter reads a field
    /// computed per trace; `None` when the filters themselves are their candidate forms.
    pub candidates: Option<Vec<Expr>>,
}

#[derive(Debug, Clone)]
pub enum CStage {
    Spanset(CSet),
    Scalar {
        op: CmpOp,
        lhs: CScalar,
        rhs: CScalar,
    },
    GroupBy {
        expr: Expr,
        label: String,
    },
    Select,
    Coalesce,
}

#[derive(Debug, Clone)]
pub enum CSet {
    Filter(usize),
    Pipeline(Vec<CStage>),
    Op {
        op: SpansetOp,
        lhs: Box<CSet>,
        rhs: Box<CSet>,
    },
}

#[derive(Debug, Clone)]
pub enum CScalar {
    Agg(AggregateOp, Option<Expr>),
    Lit(f64),
    Arith {
        op: ArithOp,
        lhs: Box<CScalar>,
        rhs: Box<CScalar>,
    },
}

/// A set of spans (rows of the batch, ascending) and the group labels that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanset {
    pub rows: Vec<u32>,
    pub labels: Vec<(String, Owned)>,
}

struct Compiler {
    filters: Vec<Expr>,
    needs: Needs,
    structural: bool,
    selected: Vec<FieldKey>,
}

pub fn compile_pipeline(p: &Pipeline) -> Result<Plan, CompileError> {
    let mut c = Compiler {
        filters: Vec::new(),
        needs: Needs::default(),
        structural: false,
        selected: Vec::new(),
    };
    let stages = c.stages(&p.stages)?;
    if c.structural {
        c.needs.ids = true;
    }
    let simple = matches!(stages.first(), Some(CStage::Spanset(CSet::Filter(0))))
        && stages[1..].iter().all(|s| matches!(s, CStage::Select))
        // Fields computed per trace part (trace-level intrinsics, the span tree) need the
        // rows grouped by trace.
        && !c.needs.derived.iter().any(|k| {
            k.parent_of().is_some() || k.intrinsic().is_some_and(|i| {
                !matches!(
                    i,
                    Intrinsic::Duration | Intrinsic::SpanId | Intrinsic::ParentId
                )
            })
        });
    let candidates = c
        .filters
        .iter()
        .any(super::relax::reads_trace_fields)
        .then(|| c.filters.iter().map(super::relax::candidate).collect());
    Ok(Plan {
        simple,
        stages,
        candidates,
        filters: c.filters,
        needs: c.needs,
        structural: c.structural,
        selected: c.selected,
    })
}

impl Compiler {
    fn stages(&mut self, stages: &[Stage]) -> Result<Vec<CStage>, CompileError> {
        stages.iter().map(|s| self.stage(s)).collect()
    }

    fn stage(&mut self, s: &Stage) -> Result<CStage, CompileError> {
        Ok(match s {
            Stage::Spanset(e) => CStage::Spanset(self.set(e)?),
            Stage::ScalarFilter(f) => CStage::Scalar {
                op: f.op,
                lhs: self.scalar(&f.lhs)?,
                rhs: self.scalar(&f.rhs)?,
            },
            Stage::GroupBy(g) => CStage::GroupBy {
                expr: compile(&g.expr, &mut self.needs)?,
                label: format!("by({})", g.expr),
            },
            Stage::Select(sel) => {
                for f in &sel.fields {
                    let k = field_ref_key(f);
                    self.needs.add(k.clone());
                    if !self.selected.contains(&k) {
                        self.selected.push(k);
                    }
                }
                CStage::Select
            }
            Stage::Coalesce => CStage::Coalesce,
        })
    }

    fn set(&mut self, e: &SpansetExpr) -> Result<CSet, CompileError> {
        Ok(match e {
            SpansetExpr::Filter(f) => {
                let expr = match &f.expr {
                    Some(x) => compile(x, &mut self.needs)?,
                    None => Expr::Const(Owned::Bool(true)),
                };
                self.filters.push(expr);
                CSet::Filter(self.filters.len() - 1)
            }
            SpansetExpr::Pipeline(p) => CSet::Pipeline(self.stages(&p.stages)?),
            SpansetExpr::Op { op, lhs, rhs, .. } => {
                if !matches!(op, SpansetOp::And | SpansetOp::Or) {
                    self.structural = true;
                }
                CSet::Op {
                    op: *op,
                    lhs: Box::new(self.set(lhs)?),
                    rhs: Box::new(self.set(rhs)?),
                }
            }
        })
    }

    fn scalar(&mut self, e: &ScalarExpr) -> Result<CScalar, CompileError> {
        Ok(match e {
            ScalarExpr::Aggregate(a) => CScalar::Agg(
                a.op,
                a.expr
                    .as_ref()
                    .map(|x| compile(x, &mut self.needs))
                    .transpose()?,
            ),
            ScalarExpr::Literal(s, _) => CScalar::Lit(match s {
                Static::Int(i) => *i as f64,
                Static::Float(f) => *f,
                Static::Duration(d) => *d as f64,
                _ => return Err(CompileError(format!("{s:?} is not a number"))),
            }),
            ScalarExpr::Binary { op, lhs, rhs, .. } => CScalar::Arith {
                op: *op,
                lhs: Box::new(self.scalar(lhs)?),
                rhs: Box::new(self.scalar(rhs)?),
            },
        })
    }
}

/// What the pipeline reads of a batch: its filters' masks.
pub struct Ctx<'a> {
    pub batch: &'a SpanBatch,
    pub masks: Vec<Vec<bool>>,
}

impl<'a> Ctx<'a> {
    pub fn new(plan: &Plan, batch: &'a SpanBatch) -> Ctx<'a> {
        Ctx {
            batch,
            masks: plan.filters.iter().map(|f| mask(f, batch)).collect(),
        }
    }

    /// Whether any row passes any filter: a cheap "nothing here" test before the
    /// per-trace work.
    pub fn any_match(&self) -> bool {
        self.masks.iter().any(|m| m.iter().any(|x| *x))
    }

    /// Per row, whether it passes a candidate filter ([`super::relax`]): a trace part
    /// none of whose rows does cannot contribute to a match of its whole trace.
    pub fn candidate_rows(&self, plan: &Plan) -> Vec<bool> {
        let mut out = vec![false; self.batch.len];
        let mut union = |m: &[bool]| out.iter_mut().zip(m).for_each(|(a, b)| *a |= *b);
        match &plan.candidates {
            None => self.masks.iter().for_each(|m| union(m)),
            Some(exprs) => exprs.iter().for_each(|e| union(&mask(e, self.batch))),
        }
        out
    }
}

/// Runs the pipeline over one trace part (rows `rows` of the batch).
pub fn run(plan: &Plan, ctx: &Ctx, rows: std::ops::Range<u32>) -> Vec<Spanset> {
    let tc = TraceCtx {
        rows: rows.clone(),
        parents: OnceCell::new(),
    };
    let input = vec![Spanset {
        rows: rows.collect(),
        labels: Vec::new(),
    }];
    stages(&plan.stages, ctx, &tc, input)
}

/// The trace part being evaluated, and its parent links, made on first use (only a
/// structural operator whose right side found spans needs them).
struct TraceCtx {
    rows: std::ops::Range<u32>,
    parents: OnceCell<Parents>,
}

/// Each span's parent row within one trace part (a span whose parent is not in the part
/// is a root).
pub struct Parents {
    base: u32,
    parent: Vec<u32>,
}

impl Parents {
    pub fn build(batch: &SpanBatch, rows: std::ops::Range<u32>) -> Parents {
        let by_id: HashMap<u64, u32> = rows
            .clone()
            .map(|r| (batch.span_ids[r as usize], r))
            .collect();
        let parent = rows
            .clone()
            .map(|r| {
                let p = batch.parents[r as usize];
                match by_id.get(&p) {
                    Some(&pr) if p != 0 && pr != r => pr,
                    _ => u32::MAX,
                }
            })
            .collect();
        Parents {
            base: rows.start,
            parent,
        }
    }

    /// The parent's row, `u32::MAX` for a root.
    fn of(&self, r: u32) -> u32 {
        self.parent[(r - self.base) as usize]
    }

    fn len(&self) -> usize {
        self.parent.len()
    }
}

fn stages(stages: &[CStage], ctx: &Ctx, tc: &TraceCtx, mut sets: Vec<Spanset>) -> Vec<Spanset> {
    for s in stages {
        if sets.is_empty() {
            break;
        }
        sets = stage(s, ctx, tc, sets);
    }
    sets
}

fn stage(s: &CStage, ctx: &Ctx, tc: &TraceCtx, input: Vec<Spanset>) -> Vec<Spanset> {
    match s {
        CStage::Spanset(e) => input.iter().flat_map(|ss| set(e, ctx, tc, ss)).collect(),
        CStage::Scalar { op, lhs, rhs } => input
            .into_iter()
            .filter(|ss| {
                let l = scalar(lhs, ctx, ss);
                let r = scalar(rhs, ctx, ss);
                match (l, r) {
                    (Some(l), Some(r)) => compare(V::Float(l), *op, V::Float(r)),
                    _ => false,
                }
            })
            .collect(),
        CStage::GroupBy { expr, label } => {
            let mut out = Vec::new();
            for ss in input {
                let mut groups: BTreeMap<(u8, String), (Owned, Vec<u32>)> = BTreeMap::new();
                for &r in &ss.rows {
                    let v = eval_owned(expr, ctx.batch, r as usize);
                    groups
                        .entry(v.group_key())
                        .or_insert_with(|| (v, Vec::new()))
                        .1
                        .push(r);
                }
                for (_, (v, rows)) in groups {
                    let mut labels = ss.labels.clone();
                    labels.push((label.clone(), v));
                    out.push(Spanset { rows, labels });
                }
            }
            out
        }
        CStage::Select => input,
        CStage::Coalesce => {
            let mut rows: Vec<u32> = input.iter().flat_map(|s| s.rows.iter().copied()).collect();
            rows.sort_unstable();
            rows.dedup();
            vec![Spanset {
                rows,
                labels: Vec::new(),
            }]
        }
    }
}

fn set(e: &CSet, ctx: &Ctx, tc: &TraceCtx, input: &Spanset) -> Vec<Spanset> {
    match e {
        CSet::Filter(i) => {
            let m = &ctx.masks[*i];
            let rows: Vec<u32> = input
                .rows
                .iter()
                .copied()
                .filter(|&r| m[r as usize])
                .collect();
            if rows.is_empty() {
                Vec::new()
            } else {
                vec![Spanset {
                    rows,
                    labels: input.labels.clone(),
                }]
            }
        }
        CSet::Pipeline(st) => stages(st, ctx, tc, vec![input.clone()]),
        CSet::Op { op, lhs, rhs } => {
            let l = set(lhs, ctx, tc, input);
            let r = set(rhs, ctx, tc, input);
            let rows = match op {
                SpansetOp::And if !l.is_empty() && !r.is_empty() => union(&l, &r),
                SpansetOp::Or if !l.is_empty() || !r.is_empty() => union(&l, &r),
                SpansetOp::And | SpansetOp::Or => Vec::new(),
                _ => {
                    let (l, r) = (flatten(&l), flatten(&r));
                    if r.is_empty() {
                        Vec::new()
                    } else {
                        let parents = tc
                            .parents
                            .get_or_init(|| Parents::build(ctx.batch, tc.rows.clone()));
                        structural(*op, parents, &l, &r)
                    }
                }
            };
            if rows.is_empty() {
                Vec::new()
            } else {
                vec![Spanset {
                    rows,
                    labels: input.labels.clone(),
                }]
            }
        }
    }
}

fn flatten(sets: &[Spanset]) -> Vec<u32> {
    let mut rows: Vec<u32> = sets.iter().flat_map(|s| s.rows.iter().copied()).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

fn union(a: &[Spanset], b: &[Spanset]) -> Vec<u32> {
    let mut rows = flatten(a);
    rows.extend(flatten(b));
    rows.sort_unstable();
    rows.dedup();
    rows
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// r is a child of l.
    Child,
    /// r is the parent of l.
    Parent,
    Descendant,
    Ancestor,
    Sibling,
}

impl Rel {
    fn inverse(self) -> Rel {
        match self {
            Rel::Child => Rel::Parent,
            Rel::Parent => Rel::Child,
            Rel::Descendant => Rel::Ancestor,
            Rel::Ancestor => Rel::Descendant,
            Rel::Sibling => Rel::Sibling,
        }
    }
}

fn structural(op: SpansetOp, tree: &Parents, l: &[u32], r: &[u32]) -> Vec<u32> {
    use SpansetOp as O;
    let (rel, negated, both) = match op {
        O::Child => (Rel::Child, false, false),
        O::Parent => (Rel::Parent, false, false),
        O::Descendant => (Rel::Descendant, false, false),
        O::Ancestor => (Rel::Ancestor, false, false),
        O::Sibling => (Rel::Sibling, false, false),
        O::NotChild => (Rel::Child, true, false),
        O::NotParent => (Rel::Parent, true, false),
        O::NotDescendant => (Rel::Descendant, true, false),
        O::NotAncestor => (Rel::Ancestor, true, false),
        O::NotSibling => (Rel::Sibling, true, false),
        O::UnionChild => (Rel::Child, false, true),
        O::UnionParent => (Rel::Parent, false, true),
        O::UnionDescendant => (Rel::Descendant, false, true),
        O::UnionAncestor => (Rel::Ancestor, false, true),
        O::UnionSibling => (Rel::Sibling, false, true),
        O::And | O::Or => unreachable!("logical operators are handled by the caller"),
    };
    if l.is_empty() && !negated {
        return Vec::new();
    }
    let forward = Related::new(rel, tree, l);
    let mut out: Vec<u32> = r
        .iter()
        .copied()
        .filter(|&x| forward.holds(tree, x) != negated)
        .collect();
    if both && !out.is_empty() {
        let back = Related::new(rel.inverse(), tree, r);
        out.extend(l.iter().copied().filter(|&x| back.holds(tree, x)));
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// "Is span r in relation `rel` with some span of `ls`?", prepared once for all r: linear
/// in the trace's size whatever the sizes of the two sides.
struct Related {
    rel: Rel,
    /// Child, Descendant: `ls` itself. Parent: the parents of `ls`. Ancestor: every
    /// ancestor of `ls`.
    set: HashSet<u32>,
    /// Sibling: how many spans of `ls` each parent has.
    per_parent: HashMap<u32, u32>,
}

impl Related {
    fn new(rel: Rel, tree: &Parents, ls: &[u32]) -> Related {
        let mut set = HashSet::new();
        let mut per_parent = HashMap::new();
        match rel {
            Rel::Child | Rel::Descendant => set.extend(ls.iter().copied()),
            Rel::Parent => set.extend(ls.iter().map(|&l| tree.of(l)).filter(|&p| p != u32::MAX)),
            Rel::Ancestor => {
                for &l in ls {
                    let mut p = tree.of(l);
                    // Stops at a span already marked (its ancestors are too), which also
                    // ends any cycle of parents.
                    while p != u32::MAX && set.insert(p) {
                        p = tree.of(p);
                    }
                }
            }
            Rel::Sibling => {
                for &l in ls {
                    let p = tree.of(l);
                    if p != u32::MAX {
                        *per_parent.entry(p).or_insert(0u32) += 1;
                    }
                }
                set.extend(ls.iter().copied());
            }
        }
        Related {
            rel,
            set,
            per_parent,
        }
    }

    fn holds(&self, tree: &Parents, r: u32) -> bool {
        let p = tree.of(r);
        match self.rel {
            Rel::Child => p != u32::MAX && self.set.contains(&p),
            Rel::Parent | Rel::Ancestor => self.set.contains(&r),
            Rel::Descendant => {
                let mut p = p;
                let mut steps = 0usize;
                while p != u32::MAX && steps < tree.len() {
                    if self.set.contains(&p) {
                        return true;
                    }
                    p = tree.of(p);
                    steps += 1;
                }
                false
            }
            Rel::Sibling => {
                p != u32::MAX && {
                    let n = self.per_parent.get(&p).copied().unwrap_or(0);
                    let own = u32::from(self.set.contains(&r));
                    n > own
                }
            }
        }
    }
}

fn scalar(e: &CScalar, ctx: &Ctx, ss: &Spanset) -> Option<f64> {
    match e {
        CScalar::Lit(x) => Some(*x),
        CScalar::Arith { op, lhs, rhs } => {
            let l = scalar(lhs, ctx, ss)?;
            let r = scalar(rhs, ctx, ss)?;
            arith(V::Float(l), *op, V::Float(r)).as_f64()
        }
        CScalar::Agg(AggregateOp::Count, _) => Some(ss.rows.len() as f64),
        CScalar::Agg(op, Some(expr)) => {
            let vals: Vec<f64> = ss
                .rows
                .iter()
                .filter_map(|&r| eval(expr, ctx.batch, r as usize).as_f64())
                .collect();
            if vals.is_empty() {
                return None;
            }
            Some(match op {
                AggregateOp::Sum => vals.iter().sum(),
                AggregateOp::Avg => vals.iter().sum::<f64>() / vals.len() as f64,
                AggregateOp::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                AggregateOp::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                AggregateOp::Count => vals.len() as f64,
            })
        }
        CScalar::Agg(_, None) => None,
    }
}
