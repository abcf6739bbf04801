//! `compare({ selection }, topN, start, end)`: every attribute of the spans a pipeline
//! keeps, counted per value, for the spans the selection picks and for the rest, in
//! Tempo's shape.
//!
//! The fields compared are the span and resource attributes the data in range holds (their
//! names from the tag registry of the heads and the attribute indexes of the blocks, at
//! most [`MAX_ATTRIBUTES`] per scope) and the intrinsics `name`, `status`,
//! `statusMessage`, `kind`, `rootName` and `rootServiceName` (Tempo's, less durations and
//! IDs, whose values are never alike). A span is in the *selection* when it passes the
//! selection filter and, with a time range, starts in `(start, end]`; otherwise in the
//! *baseline*. The series, per step, counts of spans:
//!
//! - `{__meta_type="baseline"|"selection", <field>=<value>}`: the `topN` values counted
//!   most on that side;
//! - `{__meta_type="baseline_total"|"selection_total", <field>=nil}`: spans with any value;
//! - `{__meta_error="__too_many_values__", <field>=nil}`, no values: the field has more
//!   than `topN` values on a side.
//!
//! Memory is bounded: at most [`MAX_VALUES`] distinct values are counted per field and side
//! (later ones are not, and the field is marked as having too many).

use std::collections::HashMap;

use arbor_storage::SearchView;
use arbor_storage::tags::TagScope;

use super::SearchError;
use super::batch::{Col, FieldKey, Needs, SpanBatch, Val};
use super::eval::{CompileError, Expr, compile, mask};
use super::metrics::{Series, raw_key};
use super::value::Owned;
use crate::tags::{Cond, TagOptions, tag_names};
use crate::traceql::{Intrinsic, Scope, SpansetFilter};

/// Most attribute names compared per scope (span, resource).
pub const MAX_ATTRIBUTES: usize = 256;
/// Most distinct values counted per field and side.
pub const MAX_VALUES: usize = 10_000;

const INTRINSICS: [(Intrinsic, &str); 6] = [
    (Intrinsic::Name, "name"),
    (Intrinsic::Status, "status"),
    (Intrinsic::StatusMessage, "statusMessage"),
    (Intrinsic::Kind, "kind"),
    (Intrinsic::TraceRootName, "rootName"),
    (Intrinsic::TraceRootService, "rootServiceName"),
];

const SIDES: [&str; 2] = ["baseline", "selection"];

/// The span and resource attribute names of the data in `[from, to]`.
pub(super) async fn attribute_names(
    view: &SearchView,
    (from, to): (u64, u64),
) -> Result<Vec<(Scope, String)>, SearchError> {
    let opts = TagOptions {
        start_unix_nano: Some(from),
        end_unix_nano: Some(to),
        limit: MAX_ATTRIBUTES,
        ..TagOptions::default()
    };
    let listing = tag_names(
        view,
        &[TagScope::Span, TagScope::Resource],
        &Cond::All,
        &opts,
    )
    .await
    .map_err(|e| SearchError::Storage(e.to_string()))?;
    Ok(listing
        .items
        .into_iter()
        .flat_map(|s| {
            let scope = match s.scope {
                Some(TagScope::Resource) => Scope::Resource,
                _ => Scope::Span,
            };
            s.names.into_iter().map(move |n| (scope, n))
        })
        .collect())
}

/// A compiled `compare()`.
#[derive(Debug, Clone)]
pub(super) struct Compare {
    selection: Expr,
    /// Each field compared, with its label as Tempo writes it.
    fields: Vec<(FieldKey, String)>,
    /// Unix ns: the selection holds spans starting in `(start, end]`.
    window: Option<(u64, u64)>,
    pub top_n: usize,
}

impl Compare {
    pub fn compile(
        selection: &SpansetFilter,
        top_n: u64,
        range: Option<(i64, i64)>,
        names: &[(Scope, String)],
        needs: &mut Needs,
    ) -> Result<Compare, CompileError> {
        let selection = match &selection.expr {
            Some(e) => compile(e, needs)?,
            None => Expr::Const(Owned::Bool(true)),
        };
        let mut fields: Vec<(FieldKey, String)> = INTRINSICS
            .iter()
            .map(|(i, label)| (FieldKey::intr(*i), (*label).to_string()))
            .collect();
        for (scope, name) in names {
            let k = FieldKey::attr(*scope, name);
            let label = k.label();
            fields.push((k, label));
        }
        for (k, _) in &fields {
            needs.add(k.clone());
        }
        needs.starts = true;
        Ok(Compare {
            selection,
            fields,
            window: range.map(|(s, e)| (s.max(0) as u64, e.max(0) as u64)),
            top_n: top_n as usize,
        })
    }

    pub fn acc(&self, steps: usize) -> CompareAcc {
        let n = self.fields.len();
        CompareAcc {
            sides: [
                (0..n).map(|_| Values::default()).collect(),
                (0..n).map(|_| Values::default()).collect(),
            ],
            totals: [vec![vec![0.0; steps]; n], vec![vec![0.0; steps]; n]],
            overflow: vec![false; n],
            steps,
        }
    }

    /// What counting one batch needs: the selection's answer per row and the columns.
    pub fn batch<'a>(&'a self, batch: &'a SpanBatch) -> BatchCompare<'a> {
        BatchCompare {
            cmp: self,
            selected: mask(&self.selection, batch),
            cols: self.fields.iter().map(|(k, _)| batch.col(k)).collect(),
            local: HashMap::new(),
        }
    }
}

/// Counts of one field's values on one side.
#[derive(Debug, Default)]
struct Values {
    index: HashMap<(u8, String), usize>,
    list: Vec<(Owned, Vec<f64>)>,
}

/// What `compare()` counted so far.
#[derive(Debug)]
pub(super) struct CompareAcc {
    steps: usize,
    /// Baseline, selection; per field.
    sides: [Vec<Values>; 2],
    totals: [Vec<Vec<f64>>; 2],
    /// A field had more than [`MAX_VALUES`] values on a side.
    overflow: Vec<bool>,
}

/// `compare()` over one batch: the series of each raw value, found once per batch.
pub(super) struct BatchCompare<'a> {
    cmp: &'a Compare,
    selected: Vec<bool>,
    cols: Vec<Option<&'a Col>>,
    /// (side, field, raw value) → index in the side's values; `None` past the bound.
    local: HashMap<(usize, usize, super::metrics::RawKey), Option<usize>>,
}

impl BatchCompare<'_> {
    /// Counts row `r`, which starts at `ts`, in `step` (unscaled: [`finish`] scales).
    pub fn observe(&mut self, acc: &mut CompareAcc, r: usize, ts: u64, step: usize) {
        let in_window = self
            .cmp
            .window
            .is_none_or(|(start, end)| ts > start && ts <= end);
        let side = usize::from(self.selected[r] && in_window);
        for (f, col) in self.cols.iter().enumerate() {
            let Some(c) = col else { continue };
            let Some(x) = c.row(r).iter().copied().find(|x| *x != Val::Nil) else {
                continue;
            };
            if matches!(x, Val::Dur(_)) {
                continue;
            }
            let slot = *self.local.entry((side, f, raw_key(x))).or_insert_with(|| {
                let values = &mut acc.sides[side][f];
                let v = c.v(x).to_owned_value();
                let key = v.group_key();
                if let Some(&i) = values.index.get(&key) {
                    return Some(i);
                }
                if values.list.len() >= MAX_VALUES {
                    acc.overflow[f] = true;
                    return None;
                }
                values.list.push((v, vec![0.0; acc.steps]));
                values.index.insert(key, values.list.len() - 1);
                Some(values.list.len() - 1)
            });
            if let Some(i) = slot {
                acc.sides[side][f].list[i].1[step] += 1.0;
            }
            acc.totals[side][f][step] += 1.0;
        }
    }
}

/// The series of a finished `compare()`, counts multiplied by `scale` (sampling).
pub(super) fn finish(cmp: &Compare, acc: CompareAcc, scale: f64) -> Vec<Series> {
    let scaled = |v: &[f64]| v.iter().map(|x| x * scale).collect::<Vec<f64>>();
    let mut out = Vec::new();
    let mut erred = acc.overflow.clone();
    for (side, values) in acc.sides.iter().enumerate() {
        for (f, vals) in values.iter().enumerate() {
            let label = &cmp.fields[f].1;
            let mut order: Vec<(f64, &(u8, String), usize)> = vals
                .index
                .iter()
                .map(|(k, &i)| (vals.list[i].1.iter().sum::<f64>(), k, i))
                .collect();
            order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            if order.len() > cmp.top_n {
                erred[f] = true;
            }
            for (_, _, i) in order.into_iter().take(cmp.top_n) {
                let (v, counts) = &vals.list[i];
                out.push(Series {
                    labels: vec![
                        ("__meta_type".into(), Owned::Str(SIDES[side].into())),
                        (label.clone(), v.clone()),
                    ],
                    values: scaled(counts),
                    exemplars: Vec::new(),
                });
            }
        }
    }
    for (f, e) in erred.iter().enumerate() {
        if *e {
            out.push(Series {
                labels: vec![
                    (
                        "__meta_error".into(),
                        Owned::Str("__too_many_values__".into()),
                    ),
                    (cmp.fields[f].1.clone(), Owned::Nil),
                ],
                values: vec![f64::NAN; acc.steps],
                exemplars: Vec::new(),
            });
        }
    }
    for (side, totals) in acc.totals.iter().enumerate() {
        for (f, counts) in totals.iter().enumerate() {
            if counts.iter().all(|c| *c == 0.0) {
                continue;
            }
            out.push(Series {
                labels: vec![
                    (
                        "__meta_type".into(),
                        Owned::Str(format!("{}_total", SIDES[side])),
                    ),
                    (cmp.fields[f].1.clone(), Owned::Nil),
                ],
                values: scaled(counts),
                exemplars: Vec::new(),
            });
        }
    }
    out
}
